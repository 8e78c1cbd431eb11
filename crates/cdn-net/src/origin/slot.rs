//! One port of the origin (playing 80 or 443) and the kernel state behind it.
//!
//! The port is chosen once (ephemeral, on the origin's loopback address) and kept for the
//! server's life, so a proxy's address stays right across reconfigurations:
//! - **reserved**: a socket bound to the port but not listening. The kernel finds no
//!   listener for a SYN and answers RST: `ECONNREFUSED`, and the port stays ours.
//! - **accepting**: a listener (backlog 1024) with a BPF filter for dropped sources, and an
//!   accept task.
//! - **queue full**: a listener with backlog 1 that is never `accept()`ed, filled by the
//!   server's own connections until a SYN goes unanswered; from then on the kernel drops
//!   every SYN (`tcp_abort_on_overflow = 0`, the default) and `connect()` times out.
//!
//! Every socket of a slot sets `SO_REUSEADDR`, so the port can be bound again while
//! connections accepted earlier (or their `TIME_WAIT`) still use it.

use super::plan::SlotMode;
use super::{conn, Role, Shared};
use crate::bpf;
use crate::error::NetError;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Backlog of an accepting listener.
const BACKLOG: i32 = 1024;
/// Most connections the server opens to fill its own accept queue (backlog 1 needs 2).
const MAX_FILLERS: usize = 8;
/// How long a filler's connect may take before its SYN counts as dropped.
const FILL_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

enum State {
    Reserved(#[allow(dead_code)] Socket),
    Accepting {
        listener: Arc<TcpListener>,
        stop: CancellationToken,
        task: JoinHandle<()>,
        drops: Vec<(Ipv4Addr, Ipv4Addr)>,
    },
    QueueFull {
        _listener: Socket,
        _fillers: Vec<TcpStream>,
    },
    Closed,
}

/// A port and what is behind it.
pub(crate) struct PortSlot {
    addr: SocketAddrV4,
    role: Role,
    state: State,
}

fn socket(addr: SocketAddrV4) -> Result<Socket, NetError> {
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

impl PortSlot {
    /// Reserves an ephemeral port on `ip`.
    pub(crate) fn reserve(ip: Ipv4Addr, role: Role) -> Result<PortSlot, NetError> {
        let s = socket(SocketAddrV4::new(ip, 0))?;
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
        Ok(PortSlot {
            addr,
            role,
            state: State::Reserved(s),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::V4(self.addr)
    }

    /// Puts the kernel in `mode` for this port. Staying in the same mode keeps the
    /// sockets (an accepting listener only gets its drop list replaced).
    pub(crate) async fn set(
        &mut self,
        mode: &SlotMode,
        shared: &Arc<Shared>,
    ) -> Result<(), NetError> {
        match (&mut self.state, mode) {
            (State::Reserved(_), SlotMode::Reserved)
            | (State::QueueFull { .. }, SlotMode::QueueFull) => return Ok(()),
            (
                State::Accepting {
                    listener, drops, ..
                },
                SlotMode::Accepting { drops: want },
            ) => {
                if drops != want {
                    bpf::attach(SockRef::from(listener.as_ref()), want).map_err(|e| {
                        NetError::io(format!("SO_ATTACH_FILTER on {}", self.addr), e)
                    })?;
                    *drops = want.clone();
                }
                return Ok(());
            }
            _ => {}
        }
        self.close().await;
        self.state = match mode {
            SlotMode::Reserved => State::Reserved(socket(self.addr)?),
            SlotMode::Accepting { drops } => self.accept(drops, shared)?,
            SlotMode::QueueFull => self.queue_full().await?,
        };
        Ok(())
    }

    fn accept(
        &self,
        drops: &[(Ipv4Addr, Ipv4Addr)],
        shared: &Arc<Shared>,
    ) -> Result<State, NetError> {
        let s = socket(self.addr)?;
        bpf::attach(SockRef::from(&s), drops)
            .map_err(|e| NetError::io(format!("SO_ATTACH_FILTER on {}", self.addr), e))?;
        s.listen(BACKLOG)
            .map_err(|e| NetError::io(format!("listen on {}", self.addr), e))?;
        let listener = Arc::new(
            TcpListener::from_std(std::net::TcpListener::from(s))
                .map_err(|e| NetError::io(format!("register {}", self.addr), e))?,
        );
        let stop = shared.soft.child_token();
        let task = shared.tracker.spawn(accept_loop(
            listener.clone(),
            stop.clone(),
            self.role,
            shared.clone(),
        ));
        Ok(State::Accepting {
            listener,
            stop,
            task,
            drops: drops.to_vec(),
        })
    }

    async fn queue_full(&self) -> Result<State, NetError> {
        let s = socket(self.addr)?;
        s.listen(1)
            .map_err(|e| NetError::io(format!("listen(1) on {}", self.addr), e))?;
        let mut fillers = Vec::new();
        let mut full = false;
        for _ in 0..MAX_FILLERS {
            let sock = TcpSocket::new_v4().map_err(|e| NetError::io("filler socket", e))?;
            sock.bind(SocketAddr::V4(SocketAddrV4::new(*self.addr.ip(), 0)))
                .map_err(|e| NetError::io(format!("bind filler to {}", self.addr.ip()), e))?;
            match tokio::time::timeout(FILL_CONNECT_TIMEOUT, sock.connect(self.addr.into())).await {
                Ok(Ok(stream)) => fillers.push(stream),
                Ok(Err(e)) => {
                    tracing::warn!(addr = %self.addr, "filling the accept queue: {e}");
                    break;
                }
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        if !full {
            tracing::warn!(
                addr = %self.addr,
                fillers = fillers.len(),
                "the accept queue did not overflow; SYNs may still be answered"
            );
        }
        Ok(State::QueueFull {
            _listener: s,
            _fillers: fillers,
        })
    }

    /// Releases every socket: afterwards nothing is bound to the port.
    pub(crate) async fn close(&mut self) {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Accepting {
                listener,
                stop,
                task,
                ..
            } => {
                stop.cancel();
                let _ = task.await;
                drop(listener);
            }
            State::Reserved(_) | State::QueueFull { .. } | State::Closed => {}
        }
    }
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    stop: CancellationToken,
    role: Role,
    shared: Arc<Shared>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, SocketAddr::V4(peer))) => {
                shared
                    .tracker
                    .spawn(conn::serve(shared.clone(), tcp, *peer.ip(), role));
            }
            Ok((_, peer)) => tracing::debug!(%peer, "IPv6 peer ignored"),
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        }
    }
}
