//! One downstream connection: served by hyper, watched for the header and keep-alive
//! timeouts, counted while a request is in flight, and answered cleanly when the proxy's
//! grace period ends (`503` with `Connection: close`, never an empty reply).

use super::shared::Shared;
use crate::error_page::wants_json;
use cdn_core::profile::SHUTTING_DOWN;
use cdn_core::{CacheStatus, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where a connection stands, for its timeouts.
struct WatchState {
    /// Requests being served on it (hyper serves one at a time; pipelined ones wait).
    busy: usize,
    /// When it last became idle (accepted, or a response was produced).
    idle_since: Instant,
    /// Whether no request has been served yet.
    first: bool,
    /// When the first byte of the next request head arrived, if one did.
    head_started: Option<Instant>,
}

/// Shared between the connection's I/O, its service and its watchdog.
struct Watch {
    state: Mutex<WatchState>,
    changed: Notify,
}

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed if nothing changes; `None` while a request is in
    /// flight (the upstream's own timeouts bound it).
    fn deadline(&self, limits: &super::ServeLimits) -> Option<Instant> {
        let s = self.lock();
        if s.busy > 0 {
            None
        } else if let Some(t) = s.head_started {
            limits.header_timeout.map(|d| t + d)
        } else if s.first {
            limits.header_timeout.map(|d| s.idle_since + d)
        } else {
            limits.keepalive_timeout.map(|d| s.idle_since + d)
        }
    }

    fn is_busy(&self) -> bool {
        self.lock().busy > 0
    }
}

/// Marks a request in flight on a connection (and in the proxy) until dropped — when its
/// answer is produced, or when hyper drops it because the client went away.
struct Busy {
    watch: Arc<Watch>,
    shared: Arc<Shared>,
}

impl Busy {
    fn new(watch: Arc<Watch>, shared: Arc<Shared>) -> Busy {
        watch.lock().busy += 1;
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        watch.changed.notify_one();
        Busy { watch, shared }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut s = self.watch.lock();
            s.busy -= 1;
            s.first = false;
            s.head_started = None;
            s.idle_since = Instant::now();
        }
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.watch.changed.notify_one();
    }
}

/// The client's socket, noting when a new request head starts arriving.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let mut s = self.watch.lock();
            if s.busy == 0 && s.head_started.is_none() {
                s.head_started = Some(Instant::now());
                drop(s);
                self.watch.changed.notify_one();
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // A stored body large enough to be sealed goes out by `sendfile`, without a copy.
        if let Some(sent) = crate::sealed::poll_write_sealed(&self.inner, cx, bufs) {
            return sent;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Shared {
    /// The answer to a request still in flight when the grace period ends: a `503` (the
    /// vendor's page) and the connection closed after it.
    fn cut_off(&self, json: bool) -> hyper::Response<super::passthrough::Body> {
        self.cut.fetch_add(1, Ordering::SeqCst);
        let r = Response::generated(self.tier, 503, SHUTTING_DOWN);
        let mut resp = self.to_http(&r, CacheStatus::Miss, json);
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        resp.map(super::passthrough::full_of)
    }
}

/// Serves one accepted connection until the client closes it, a timeout closes it, the node
/// goes down (after the request in flight) or the proxy stops.
pub(super) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    node_down: CancellationToken,
) {
    let limits = shared.limits();
    let watch = Arc::new(Watch {
        state: Mutex::new(WatchState {
            busy: 0,
            idle_since: Instant::now(),
            first: true,
            head_started: None,
        }),
        changed: Notify::new(),
    });
    let io = Watched {
        inner: stream,
        watch: watch.clone(),
    };
    // This connection's own view of the proxy's abort: its requests wait on a token no other
    // connection polls, so their waits do not contend for the proxy-wide token's lock.
    let abort = shared.abort.child_token();
    let (s, w, a) = (shared.clone(), watch.clone(), abort.clone());
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (s, w, a) = (s.clone(), w.clone(), a.clone());
        async move {
            let _busy = Busy::new(w, s.clone());
            let json = req
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(wants_json);
            // The request's own work may be blocked on an upstream that ignores the abort:
            // the client gets its answer at the end of the grace period regardless.
            let resp = tokio::select! {
                r = s.clone().handle(req, peer) => r,
                _ = a.cancelled() => s.cut_off(json),
            };
            Ok::<_, hyper::Error>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    // The stop signals, each polled only when it woke (see `Gated`): this loop runs on every
    // wake of the connection (each read, write and answer), and polling a token takes its
    // lock each time.
    let mut stop = Gated::new(async {
        tokio::select! {
            _ = shared.shutdown.cancelled() => {}
            _ = node_down.cancelled() => {}
        }
    });
    let mut aborted = Gated::new(abort.cancelled());
    let mut closing = false;
    loop {
        let deadline = if closing {
            None
        } else {
            watch.deadline(&limits)
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = &mut stop, if !closing => {
                // The proxy stops or the node went down: finish the request in flight on
                // this connection, then close it.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = &mut aborted => {
                // The grace period is over: a connection with no request in flight (idle, or
                // a head half sent) is dropped; one in flight writes its 503 first.
                if !watch.is_busy() {
                    return;
                }
                let _ = tokio::time::timeout(super::CLOSE_BOUND, conn.as_mut()).await;
                return;
            }
            _ = watch.changed.notified() => {}
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                let now = Instant::now();
                let due = watch.deadline(&limits);
                if due.is_some_and(|d| d <= now) {
                    // Header or keep-alive timeout: close, as nginx does, without a reply.
                    return;
                }
            }
        }
    }
}

/// A future polled only after its own waker fired (and once at first), however often the
/// task around it is woken: for signals that almost never fire, waited on beside busy I/O.
struct Gated<'a> {
    inner: Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    gate: Arc<Gate>,
    done: bool,
}

/// Whether a [`Gated`] future woke, and the task to wake then.
struct Gate {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl std::task::Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        let outer = self.outer.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = outer {
            w.wake();
        }
    }
}

impl<'a> Gated<'a> {
    fn new(inner: impl Future<Output = ()> + Send + 'a) -> Gated<'a> {
        Gated {
            inner: Box::pin(inner),
            gate: Arc::new(Gate {
                woken: AtomicBool::new(true),
                outer: Mutex::new(None),
            }),
            done: false,
        }
    }
}

impl Future for Gated<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        {
            // Registered before the flag is read, so a wake in between is not lost.
            let mut outer = self.gate.outer.lock().unwrap_or_else(|e| e.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        if !self.gate.woken.swap(false, Ordering::SeqCst) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.gate.clone());
        let mut inner_cx = Context::from_waker(&waker);
        let ready = self.inner.as_mut().poll(&mut inner_cx).is_ready();
        self.done = ready;
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `fire` is set (and wakes whoever polled it then).
    struct Signal {
        polls: Arc<AtomicUsize>,
        fired: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Signal {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.fired.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn a_gated_future_is_polled_only_when_it_woke_and_still_completes() {
        let polls = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Mutex::new(None::<Waker>));
        let mut gated = Gated::new(Signal {
            polls: polls.clone(),
            fired: fired.clone(),
            waker: waker.clone(),
        });
        let mut cx = Context::from_waker(Waker::noop());
        // The task around it wakes often (I/O): the signal is polled once, at first.
        for _ in 0..10 {
            assert!(Pin::new(&mut gated).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        // It fires and wakes its own waker: the next poll polls it, and it is ready.
        fired.store(true, Ordering::SeqCst);
        let w = waker
            .lock()
            .unwrap()
            .take()
            .expect("the signal registered a waker");
        w.wake();
        assert!(Pin::new(&mut gated).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
        // And stays ready.
        assert!(Pin::new(&mut gated).poll(&mut cx).is_ready());
    }
}
