//! Event loops of their own: N threads, each running a single-threaded tokio runtime, that
//! serve the proxies' client connections — the shape of nginx's `worker_processes`, where
//! each worker runs its connections start to finish without handing work to another.
//!
//! Why: on tokio's shared work-stealing runtime, a request that waits on the next tier
//! (a miss) parks its worker, and the wake-up goes through another worker — measured at
//! 0.95 context switches per full miss against 0.49 with loops of their own, and ~30 %
//! less CPU per miss (`docs/performance.md`, "Event loops of their own"). Everything a
//! connection starts — the request's task, the connections to the next tier and their
//! drivers — runs on the loop that serves it, and idle connections to the next tier are
//! pooled per loop ([`lane`]), so a request reuses a connection its own loop drives.
//!
//! Accepting stays on the caller's runtime: one accept loop per port hands each new
//! connection to the next event loop in turn ([`EventLoops::next`]), which spreads 64
//! keep-alive connections exactly 16/16/16/16 over four loops (a `SO_REUSEPORT` group
//! hashes them, and a loop with more connections than the others is the slow tail).
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! let loops = cdn_net::EventLoops::start(2)?;
//! // Which loop a task spawned on a handle runs on (a client runtime waits for it).
//! let waiter = tokio::runtime::Builder::new_current_thread().build()?;
//! let mut lane_of_next = || waiter.block_on(loops.next().spawn(async { cdn_net::event_loops::lane() }));
//! // Round-robin: the third connection goes to the first loop again.
//! assert_eq!((lane_of_next()?, lane_of_next()?, lane_of_next()?), (1, 2, 1));
//! assert_eq!(cdn_net::event_loops::lane(), 0); // this thread is not a loop
//! # Ok(())
//! # }
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    /// 1 + the index of the event loop this thread runs; 0 on any other thread.
    static LANE: Cell<u16> = const { Cell::new(0) };
}

/// The event loop the calling thread runs: 1 + its index, or 0 off the loops (the shared
/// runtime, a test's runtime). Pools key idle upstream connections by it.
pub fn lane() -> u16 {
    LANE.with(Cell::get)
}

/// The most loops [`EventLoops::start`] makes (a lane is a `u16`; a loop is a thread).
pub const MAX_LOOPS: usize = 256;

/// The most connections between this process's own tiers waiting to be accepted on the loop
/// that opened them ([`EventLoops::claim`]); past it, new ones go to the next loop in turn.
/// Pools hold tens of connections per loop, so this is never reached in use; it bounds what a
/// connect whose accept never comes can leave behind.
pub const MAX_CLAIMS: usize = 4096;

/// Running event loops. Dropping the last handle stops them: each loop's runtime is shut
/// down on its own thread, which cancels what still runs on it (shut proxies down first).
pub struct EventLoops {
    handles: Vec<Handle>,
    /// Each loop runs until its sender is dropped.
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
    /// Local port of a connection a loop is opening to a listener in this process → that
    /// loop's index.
    claims: Mutex<HashMap<u16, usize>>,
}

impl std::fmt::Debug for EventLoops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoops")
            .field("loops", &self.handles.len())
            .finish()
    }
}

impl EventLoops {
    /// Starts `n` loops (1 ..= [`MAX_LOOPS`]), each a thread named `event-loop-<i>` running a
    /// current-thread runtime with I/O and timers.
    pub fn start(n: usize) -> std::io::Result<Arc<EventLoops>> {
        if !(1..=MAX_LOOPS).contains(&n) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{n} event loops: allowed 1 to {MAX_LOOPS}"),
            ));
        }
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("event-loop-{i}"))
                .spawn(move || {
                    LANE.with(|l| l.set(i as u16 + 1));
                    // Runs the loop's tasks until the stop sender is dropped; the runtime
                    // is then dropped here, outside any async context.
                    let _ = runtime.block_on(stopped);
                })?;
        }
        Ok(Arc::new(EventLoops {
            handles,
            stops,
            next: AtomicUsize::new(0),
            claims: Mutex::new(HashMap::new()),
        }))
    }

    /// How many loops run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always `false`: [`EventLoops::start`] makes at least one.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The loop for the next connection, in turn.
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// The calling loop is about to open a connection from local `port` to a listener of this
    /// process (an L1 to its L2): [`EventLoops::for_peer`] will hand it to the same loop
    /// when it is accepted, so a miss runs both tiers' sides of that hop on one thread — the
    /// bytes one side writes are read by the same loop's next turn instead of waking another
    /// thread. Off the loops (or past [`MAX_CLAIMS`]) nothing is recorded.
    pub fn claim(&self, port: u16) {
        let Some(i) = (lane() as usize).checked_sub(1) else {
            return;
        };
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.len() < MAX_CLAIMS || claims.contains_key(&port) {
            claims.insert(port, i);
        }
    }

    /// The connection from `port` was never made (refused, timed out): forget its claim.
    pub fn unclaim(&self, port: u16) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.remove(&port);
    }

    /// The loop for a connection accepted from `peer`: the loop that opened it, if one of
    /// these loops claimed it ([`EventLoops::claim`]) and it comes from a loopback address;
    /// else the next in turn.
    pub fn for_peer(&self, peer: SocketAddr) -> &Handle {
        if peer.ip().is_loopback() {
            let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = claims.remove(&peer.port()) {
                return &self.handles[i % self.handles.len()];
            }
        }
        self.next()
    }
}

impl Drop for EventLoops {
    fn drop(&mut self) {
        // Dropping the senders ends each loop's `block_on`; the threads are not joined, so
        // that dropping the last handle inside an async context does not block it.
        self.stops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits, from outside any loop, for what a task spawned on `h` returns.
    fn run_on<T: Send + 'static>(
        h: &Handle,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let waiter = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        waiter.block_on(h.spawn(f))
    }

    #[test]
    fn connections_go_to_the_loops_in_turn_and_each_knows_its_lane() {
        let loops = EventLoops::start(3).unwrap();
        let lanes: Vec<u16> = (0..7)
            .map(|_| run_on(loops.next(), async { lane() }).unwrap())
            .collect();
        assert_eq!(lanes, vec![1, 2, 3, 1, 2, 3, 1]);
        assert_eq!(lane(), 0);
    }

    #[test]
    fn a_task_a_connection_spawns_runs_on_its_loop() {
        let loops = EventLoops::start(2).unwrap();
        let _ = loops.next();
        let h = loops.next();
        // What a connection's request task does: `tokio::spawn` from the loop.
        let got = run_on(h, async { tokio::spawn(async { lane() }).await.unwrap() });
        assert_eq!(got.unwrap(), 2);
    }

    /// An L1 on loop 2 opens a connection to a listener of this process (its L2): the
    /// accepted side is served on loop 2 too, while a connection nobody here opened goes to
    /// the next loop in turn.
    #[test]
    fn a_connection_between_tiers_is_served_on_the_loop_that_opened_it() {
        let loops = EventLoops::start(3).unwrap();
        let waiter = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = waiter
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and ask the loop `for_peer` picks which lane it is.
        let accept_lane = |loops: &Arc<EventLoops>| {
            let (_, peer) = waiter.block_on(listener.accept()).unwrap();
            run_on(loops.for_peer(peer), async { lane() }).unwrap()
        };
        let _ = loops.next();
        let opener = loops.next().clone(); // loop 2
        let l = loops.clone();
        let stream = run_on(&opener, async move {
            crate::wire::connect_claimed(addr, &l).await.map_err(|_| ())
        })
        .unwrap()
        .unwrap();
        assert_eq!(accept_lane(&loops), 2);
        drop(stream);
        // Opened off the loops, or not claimed: round robin (loop 3 is next).
        let _plain = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(accept_lane(&loops), 3);
        assert!(
            loops.claims.lock().unwrap().is_empty(),
            "claims are consumed"
        );
    }

    #[test]
    fn claims_are_bounded_and_forgotten_when_a_connect_fails() {
        let loops = EventLoops::start(1).unwrap();
        // Off the loops: nothing is recorded.
        loops.claim(1);
        assert!(loops.claims.lock().unwrap().is_empty());
        let l = loops.clone();
        let held = run_on(loops.next(), async move {
            for port in 0..(MAX_CLAIMS as u16 + 10) {
                l.claim(port);
            }
            l.claims.lock().unwrap().len()
        });
        assert_eq!(held.unwrap(), MAX_CLAIMS);
        loops.unclaim(0);
        assert_eq!(loops.claims.lock().unwrap().len(), MAX_CLAIMS - 1);
        // A refused connect leaves no claim behind (a port that was just listened on and
        // closed: nothing listens there now).
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let l = loops.clone();
        loops.claims.lock().unwrap().clear();
        let refused = run_on(loops.next(), async move {
            crate::wire::connect_claimed(closed, &l).await.is_err()
        });
        assert!(refused.unwrap());
        assert!(loops.claims.lock().unwrap().is_empty());
    }

    #[test]
    fn timers_run_on_a_loop() {
        let loops = EventLoops::start(1).unwrap();
        let slept = run_on(loops.next(), async {
            let t = tokio::time::Instant::now();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            t.elapsed()
        });
        assert!(slept.unwrap() >= std::time::Duration::from_millis(20));
    }

    #[test]
    fn a_count_outside_the_range_is_refused() {
        assert!(EventLoops::start(0).is_err());
        assert!(EventLoops::start(MAX_LOOPS + 1).is_err());
    }

    #[test]
    fn dropping_the_loops_stops_them() {
        let loops = EventLoops::start(2).unwrap();
        let h = loops.next().clone();
        assert!(run_on(&h, async {}).is_ok());
        drop(loops);
        // Once the loop's runtime is shut down, a task spawned on it is cancelled instead
        // of run. The loop's thread gets there by itself; this waits for it, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while run_on(&h, async {}).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the loop still runs tasks"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
