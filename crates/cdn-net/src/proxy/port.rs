//! A proxy's listening port, which follows the node's state: **accepting** while the node
//! listens; while it is `down`, nothing listens on the port, so the kernel answers SYNs with
//! RST — a real `ECONNREFUSED`, as the model's `down` says. The port number is kept, and
//! bound again when the node comes back. Connections accepted before the node went down
//! finish their request in flight, then close.

use super::shared::Shared;
use crate::error::NetError;
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
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

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let s = shared.clone();
        let (soft, node_down) = (shared.shutdown.clone(), stop.clone());
        shared.tasks.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let s = s.clone();
                async move { Ok::<_, hyper::Error>(s.handle(req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = soft.cancelled() => {
                    // Finish the request in flight on this connection, then close it.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                _ = node_down.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
