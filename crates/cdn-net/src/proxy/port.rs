//! A proxy's listening port, which follows the node's state: **accepting** while the node
//! listens; while it is `down`, nothing listens on the port, so the kernel answers SYNs with
//! RST — a real `ECONNREFUSED`, as the model's `down` says. The port number is kept, and
//! bound again when the node comes back. Connections accepted before the node went down
//! finish their request in flight, then close.
//!
//! The accept loop keeps the proxy bounded: at most `max_connections` client connections
//! (one more gets a `503` "too many connections" and is closed), and a pause — doubling up
//! to a second — when the process is out of descriptors, instead of a busy loop over the
//! connection the kernel keeps queued.

use super::shared::Shared;
use crate::error::NetError;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Backlog of an accepting listener.
const BACKLOG: i32 = 1024;

enum State {
    /// Bound, not listening (before the first `listen`).
    Reserved(#[allow(dead_code)] Socket),
    Accepting {
        stop: CancellationToken,
    },
    /// Nothing bound: the accept task drops its listener when it stops.
    Down,
}

/// The port and what the kernel does with it.
pub(super) struct Port {
    addr: SocketAddrV4,
    state: State,
}

fn bound(addr: SocketAddrV4) -> Result<Socket, NetError> {
    let io = |what: &str, e| NetError::io(format!("{what} {addr}"), e);
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| io("socket for", e))?;
    s.set_reuse_address(true)
        .map_err(|e| io("SO_REUSEADDR on", e))?;
    s.set_nonblocking(true)
        .map_err(|e| io("O_NONBLOCK on", e))?;
    s.bind(&SocketAddr::V4(addr).into())
        .map_err(|e| io("bind", e))?;
    Ok(s)
}

impl Port {
    /// Reserves an ephemeral port on `ip` (refusing until [`Port::listen`]).
    pub(super) fn reserve(ip: Ipv4Addr) -> Result<Port, NetError> {
        Port::reserve_at(SocketAddrV4::new(ip, 0))
    }

    /// Reserves `addr` (port 0: an ephemeral one).
    pub(super) fn reserve_at(addr: SocketAddrV4) -> Result<Port, NetError> {
        let ip = *addr.ip();
        let s = bound(addr)?;
        let addr = s
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket_ipv4())
            .ok_or_else(|| {
                NetError::io(
                    format!("local address of {ip}:0"),
                    std::io::Error::other("not IPv4"),
                )
            })?;
        Ok(Port {
            addr,
            state: State::Reserved(s),
        })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        SocketAddr::V4(self.addr)
    }

    pub(super) fn is_listening(&self) -> bool {
        matches!(self.state, State::Accepting { .. })
    }

    /// Starts accepting connections for `shared`.
    pub(super) fn listen(&mut self, shared: &Arc<Shared>) -> Result<(), NetError> {
        let io = |what: &str, e| NetError::io(format!("{what} {}", self.addr), e);
        let socket = match std::mem::replace(&mut self.state, State::Down) {
            State::Reserved(s) => s,
            _ => bound(self.addr)?,
        };
        socket.listen(BACKLOG).map_err(|e| io("listen on", e))?;
        let listener = TcpListener::from_std(socket.into()).map_err(|e| io("register", e))?;
        let stop = CancellationToken::new();
        shared
            .tasks
            .spawn(accept_loop(shared.clone(), listener, stop.clone()));
        self.state = State::Accepting { stop };
        Ok(())
    }

    /// Stops accepting: the kernel refuses new connections from now on; accepted ones
    /// finish their request in flight, then close.
    pub(super) fn refuse(&mut self) {
        if let State::Accepting { stop } = &self.state {
            stop.cancel();
            self.state = State::Down;
        }
    }
}

/// Over-cap connections being answered "too many connections" at once; beyond this, new
/// ones are closed at once (each answer needs a descriptor too).
const REFUSING_MAX: usize = 64;
/// How long an over-cap connection has to send its request head.
const REFUSING_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause after the process ran out of descriptors; doubled up to
/// [`BACKOFF_MAX`] while it lasts.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Whether an `accept()` error means the process or the system is out of descriptors or
/// memory: retrying at once would spin (the connection stays queued), so back off.
fn exhausted(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The errno values [`exhausted`] looks for (Linux).
mod libc_errno {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}

/// Counts a client connection while it lives.
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, stop: CancellationToken) {
    let mut backoff = BACKOFF_MIN;
    let refusing = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = BACKOFF_MIN;
                // nginx's `tcp_nodelay on`: an answer written in pieces is not held back
                // by Nagle waiting for the client's delayed ACK.
                let _ = a.0.set_nodelay(true);
                a
            }
            Err(e) if exhausted(&e) => {
                tracing::warn!(proxy = %shared.name, error = %e, pause = ?backoff, "accept: out of descriptors; pausing");
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            // A connection reset while queued, and the like: the next one is fine.
            Err(_) => continue,
        };
        let cap = shared.limits().max_connections;
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= cap {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            if refusing.fetch_add(1, Ordering::SeqCst) >= REFUSING_MAX {
                refusing.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
                continue;
            }
            let r = refusing.clone();
            shared.tasks.spawn(async move {
                let _ = tokio::time::timeout(REFUSING_TIMEOUT, too_many(stream)).await;
                r.fetch_sub(1, Ordering::SeqCst);
            });
            continue;
        }
        let counted = Counted(shared.clone());
        let s = shared.clone();
        let node_down = stop.clone();
        match &shared.loops {
            None => {
                shared.tasks.spawn(async move {
                    let _counted = counted;
                    super::client::serve(s, stream, peer, node_down).await;
                });
            }
            Some(loops) => {
                // A tokio socket belongs to the reactor of the runtime that registered it:
                // handed over as a std socket, registered again on the loop that serves it.
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                shared.tasks.spawn_on(
                    async move {
                        let _counted = counted;
                        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                            super::client::serve(s, stream, peer, node_down).await;
                        }
                    },
                    // The loop that opened it, for a connection from an L1 of this process.
                    loops.for_peer(peer),
                );
            }
        }
    }
}

/// The answer at the connection cap: `503 Service Unavailable`, "too many connections",
/// and the connection closed.
async fn too_many(stream: tokio::net::TcpStream) {
    let svc = hyper::service::service_fn(|_req| async {
        let mut r = hyper::Response::new(Full::new(Bytes::from_static(
            b"503 Service Unavailable: too many connections\n",
        )));
        *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        let h = r.headers_mut();
        h.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
        Ok::<_, hyper::Error>(r)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}
