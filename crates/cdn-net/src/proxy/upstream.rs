//! Connections to the next tier: the idle pool, binding the egress address, TCP connect,
//! TLS per the node's policy, and one request/response exchange — each bounded by the
//! deadline the node gave, each delayed by the emulated link, each outcome classified into a
//! [`FailureKind`] (what the kernel or the peer did; the node decides what it means).

use super::shared::Shared;
use crate::ack_watch::AckWatch;
use crate::certs::cert_problem_io;
use crate::timing::{stamp, DUE_HEADER, SENT_HEADER};
use crate::wire;
use bytes::Bytes;
use cdn_core::node::{Connect, Peer};
use cdn_core::origin::ConnectVerdict;
use cdn_core::{FailureKind, Instant, Response, Tier, TraceEvent};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// One HTTP/1.1 connection to the next tier: its request sender, and the handle that keeps
/// its driver task alive. Dropping it (a failed or timed-out exchange, an expired or
/// cleared pool entry) closes the connection at once, even with a response still awaited
/// from a peer that never sends it: otherwise the driver and its socket would live as long
/// as a hung peer holds the connection.
pub(super) struct Sender {
    http: SendRequest<super::passthrough::Body>,
    alive: Option<ConnectionGuard>,
}

/// Keeps a connection's driver running while held; dropping it closes the connection.
pub(super) type ConnectionGuard = tokio::sync::oneshot::Sender<()>;

impl Sender {
    pub(super) fn is_closed(&self) -> bool {
        self.http.is_closed() || self.alive.is_none()
    }

    /// Hands the connection's life to a response body still streaming from it: the
    /// connection then lives until that body is dropped, not until this sender is (and the
    /// sender, closed, never goes back to the pool).
    pub(super) fn hand_over(&mut self) -> Option<ConnectionGuard> {
        self.alive.take()
    }

    pub(super) fn send_request(
        &mut self,
        req: hyper::Request<super::passthrough::Body>,
    ) -> impl std::future::Future<Output = hyper::Result<hyper::Response<hyper::body::Incoming>>>
    {
        self.http.send_request(req)
    }
}

/// What an idle connection leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PoolKey {
    /// The `i`-th parent.
    Parent(u16),
    /// The origin's port, from an egress address.
    Origin { source: Ipv4Addr, port: u16 },
}

/// Idle connections to one peer, from one event loop: a connection's driver runs on the
/// loop that opened it, so a request takes one its own loop drives
/// ([`event_loops::lane`](crate::event_loops::lane); 0 off the loops).
type PoolSlot = (PoolKey, u16);

/// Idle upstream connections, most recently used last (as nginx's keepalive cache), each
/// with the time it became idle: [`Pool::expire`] closes those idle too long.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<HashMap<PoolSlot, Vec<(Sender, std::time::Instant)>>>,
}

impl Pool {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PoolSlot, Vec<(Sender, std::time::Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, key: PoolKey) -> Option<Sender> {
        let mut idle = self.lock();
        let list = idle.get_mut(&(key, crate::event_loops::lane()))?;
        while let Some((s, _)) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, key: PoolKey, sender: Sender) {
        let now = std::time::Instant::now();
        let slot = (key, crate::event_loops::lane());
        self.lock().entry(slot).or_default().push((sender, now));
    }

    /// Closes the connections idle for longer than `max_idle` (and those the peer closed);
    /// returns how many stay.
    pub(super) fn expire(&self, max_idle: Duration) -> usize {
        let now = std::time::Instant::now();
        let mut idle = self.lock();
        idle.retain(|_, list| {
            list.retain(|(s, since)| !s.is_closed() && now.duration_since(*since) < max_idle);
            !list.is_empty()
        });
        idle.values().map(Vec::len).sum()
    }

    /// Closes every idle connection.
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// Closes the idle connections to parents.
    pub(super) fn clear_parents(&self) {
        self.lock()
            .retain(|(k, _), _| !matches!(k, PoolKey::Parent(_)));
    }
}

/// An open connection for one hop.
pub(super) struct Conn {
    key: PoolKey,
    pub(super) sender: Sender,
}

impl Conn {
    /// The emulated one-way latency of this connection's link.
    pub(super) fn one_way(&self, shared: &Shared) -> Duration {
        match self.key {
            PoolKey::Parent(_) => shared.links().to_parent,
            PoolKey::Origin { .. } => shared.links().to_origin,
        }
    }

    /// Whether this connection leads to the origin (else to a parent).
    pub(super) fn to_origin(&self) -> bool {
        matches!(self.key, PoolKey::Origin { .. })
    }
}

/// How a hop ended without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HopError {
    /// The kernel or the peer did this.
    Failed(FailureKind),
    /// The node's deadline came first; the virtual time then.
    Deadline(Instant),
}

impl Shared {
    /// Opens (or reuses) the connection a [`Connect`] asks for, recording the connect step
    /// of a traced request.
    pub(super) async fn open(
        self: &Arc<Self>,
        c: &Connect,
        trace: Option<u64>,
    ) -> Result<Conn, HopError> {
        if c.reuse && trace.is_none() {
            if let Some(sender) = self.pool.take(Self::pool_key(c)) {
                return Ok(Conn {
                    key: Self::pool_key(c),
                    sender,
                });
            }
        }
        // A new connection (TCP, maybe TLS) is a large future and a rare one with pooled
        // connections: boxed, so that every request's task does not carry (and copy) its
        // size.
        Box::pin(self.open_traced(c, trace)).await
    }

    /// The pool key of the connection `c` asks for.
    fn pool_key(c: &Connect) -> PoolKey {
        match c.peer {
            Peer::Parent(i) => PoolKey::Parent(i),
            Peer::Origin => PoolKey::Origin {
                source: c.source.unwrap_or(Ipv4Addr::LOCALHOST),
                port: c.port,
            },
        }
    }

    /// [`Shared::open`] for a traced request or a new connection.
    async fn open_traced(
        self: &Arc<Self>,
        c: &Connect,
        trace: Option<u64>,
    ) -> Result<Conn, HopError> {
        let started = self.timers.now();
        let (to, peer_name, key) = match c.peer {
            Peer::Parent(i) => {
                let name = match &self.upstream {
                    super::Upstream::Parents(p) => p.get(i as usize).map(|p| p.0.clone()),
                    super::Upstream::Origin => None,
                };
                (Tier::L2, name.unwrap_or_default(), PoolKey::Parent(i))
            }
            Peer::Origin => (Tier::Origin, self.origin_host.clone(), Self::pool_key(c)),
        };
        let record = |verdict: Option<ConnectVerdict>, reused: bool| {
            if let Some(n) = trace {
                let event = TraceEvent::Connect {
                    to,
                    peer: peer_name.clone(),
                    port: c.port,
                    egress: c.source,
                    reused,
                    verdict,
                    attempt: c.attempt,
                };
                self.traces.record(n, started, &self.name, event);
            }
        };
        if c.reuse {
            if let Some(sender) = self.pool.take(key) {
                record(None, true);
                return Ok(Conn { key, sender });
            }
        }
        let (addr, one_way) = match key {
            PoolKey::Parent(i) => match &self.upstream {
                super::Upstream::Parents(p) if (i as usize) < p.len() => {
                    (p[i as usize].1, Duration::ZERO)
                }
                _ => return Err(HopError::Failed(FailureKind::Refused)),
            },
            PoolKey::Origin { port, .. } => {
                let real = self.real_spec().filter(|r| r.upstream.is_some());
                // A real upstream is where its URL says (or its fault layer's port 80 is),
                // whatever port the node's TLS policy would pick: it speaks what its URL
                // says.
                let (port, direct) = match real {
                    Some(r) if r.through_fault_layer => (80, None),
                    Some(r) => (80, r.upstream.as_ref().map(|u| SocketAddr::V4(u.addr))),
                    None => (port, None),
                };
                match direct {
                    Some(a) => (a, self.links().to_origin),
                    None => match self.resolver.resolve(&self.origin_host, port) {
                        Ok(a) => (a, self.links().to_origin),
                        Err(_) => return Err(HopError::Failed(FailureKind::Dns)),
                    },
                }
            }
        };
        // The SYN travels half a round trip; the kernel's verdict travels back. (Between
        // tiers connections count as warm: only a refusal costs a round trip, below.) Every
        // step is timed from `started`, so time spent connecting counts as lateness.
        let source = c.source;
        let connected = self
            .timers
            .deadline(c.until, async {
                self.timers.sleep_until(started + one_way).await;
                let r = match (key, &self.loops) {
                    // A parent is a listener of this process: its side of the connection is
                    // served on this loop.
                    (PoolKey::Parent(_), Some(loops)) if source.is_none() => {
                        wire::connect_claimed(addr, loops).await
                    }
                    _ => wire::connect_from(source, addr).await,
                };
                self.timers.wait_until(started + one_way * 2).await;
                r
            })
            .await;
        let stream = match connected {
            Err(at) => {
                record(Some(ConnectVerdict::Drop), false);
                return Err(HopError::Deadline(at));
            }
            Ok(Err(kind)) => {
                let verdict = match kind {
                    FailureKind::Unreachable => ConnectVerdict::Unreachable,
                    _ => ConnectVerdict::Refuse,
                };
                record(Some(verdict), false);
                if let PoolKey::Parent(_) = key {
                    // The RST from a parent that is down arrives after a round trip.
                    let rtt = self.links().to_parent * 2;
                    if self
                        .timers
                        .deadline(c.until, self.timers.sleep(rtt))
                        .await
                        .is_err()
                    {
                        return Err(HopError::Deadline(self.timers.now()));
                    }
                }
                return Err(HopError::Failed(kind));
            }
            Ok(Ok(s)) => s,
        };
        record(Some(ConnectVerdict::Accept), false);
        // The ACK timeout is a timer of the run, like every other (see `ack_watch`).
        let stream = AckWatch::new(stream, c.ack_timeout.map(|t| (self.timers.clone(), t)));
        // A real upstream speaks what its URL says: TLS for https:// only, verified as
        // the core's `UpstreamUrl::tls` says, against the URL's host.
        let real = self
            .real_spec()
            .filter(|r| r.upstream.is_some() && matches!(key, PoolKey::Origin { .. }));
        let tls = match real {
            Some(r) => r
                .upstream_tls
                .as_ref()
                .map(|t| (t.policy, t.config.clone(), t.name.clone())),
            None => match c.tls {
                Some(policy) => {
                    let config = self
                        .certs
                        .client_config(policy.verify, policy.trust_origin_ca);
                    let name = rustls::pki_types::ServerName::try_from(self.origin_host.clone())
                        .map_err(|_| HopError::Failed(FailureKind::TlsHandshake))?;
                    Some((policy, config, name))
                }
                None => None,
            },
        };
        let sender = match tls {
            None => self.http1(stream).await?,
            Some((policy, config, name)) => {
                // TCP is up: from now the node gives the handshake its own deadline.
                let now = self.timers.now();
                self.node().node.tcp_connected(now, c.ticket, c.hop);
                // The TLS 1.3 handshake costs one more round trip.
                let tcp = started + one_way * 2;
                let until = tcp + c.handshake_timeout;
                let handshake = self
                    .timers
                    .deadline(until, async {
                        self.timers.sleep_until(tcp + one_way).await;
                        let r = TlsConnector::from(config).connect(name, stream).await;
                        let timed_out =
                            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::TimedOut);
                        if !timed_out {
                            // The server's flight (its certificate, or an alert) reaches the
                            // CDN a whole round trip after the ClientHello left, whether it
                            // is accepted or rejected: on loopback it took only CPU, so what
                            // it took past that due time is lateness.
                            self.timers.sleep_until(tcp + one_way * 2).await;
                        }
                        r
                    })
                    .await;
                let tls = match handshake {
                    Err(_) => return Err(HopError::Failed(FailureKind::ReadTimeout)),
                    Ok(Err(e)) => {
                        return Err(HopError::Failed(match cert_problem_io(&e) {
                            Some(p) => FailureKind::Certificate(p),
                            // The ClientHello was never acknowledged (`AckWatch`).
                            None if e.kind() == std::io::ErrorKind::TimedOut => {
                                FailureKind::AckTimeout
                            }
                            None => FailureKind::TlsHandshake,
                        }));
                    }
                    Ok(Ok(s)) => s,
                };
                self.trace(
                    trace,
                    TraceEvent::TlsEstablished {
                        verified: policy.verify,
                    },
                );
                self.http1(tls).await?
            }
        };
        Ok(Conn { key, sender })
    }

    /// Sends `req` on `conn` and waits for the response (head and body) until virtual
    /// `until`. The request and the response each travel half a round trip.
    pub(super) async fn exchange(
        &self,
        conn: &mut Conn,
        req: hyper::Request<Full<Bytes>>,
        until: Instant,
    ) -> Result<Response, HopError> {
        let one_way = match conn.key {
            PoolKey::Parent(_) => self.links().to_parent,
            PoolKey::Origin { .. } => self.links().to_origin,
        };
        let clock = self.timers.clock();
        let mut req = req.map(super::passthrough::full_of);
        let exchange = async {
            // The request travels half a round trip: it is sent when it would arrive, and
            // says when that was, so the receiver can tell how late it really came.
            let due = self.timers.now() + one_way;
            self.timers.sleep_until(due).await;
            req.headers_mut()
                .insert(DUE_HEADER, http::HeaderValue::from(due.as_nanos()));
            let result = match conn.sender.send_request(req).await {
                Err(e) => Err(wire::exchange_failure(&e)),
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    match body.collect().await {
                        Err(e) => Err(wire::exchange_failure(&e)),
                        Ok(body) => Ok((parts, body.to_bytes().len() as u64)),
                    }
                }
            };
            // The answer travels back half a round trip from when it left (an RST or FIN,
            // from when it was seen).
            let left = match &result {
                Ok((parts, _)) => stamp(&parts.headers, SENT_HEADER),
                Err(_) => None,
            };
            match left {
                Some(left) => self.timers.sleep_until(left + one_way).await,
                None => self.timers.wait_until(self.timers.now() + one_way).await,
            };
            result
        };
        match self.timers.deadline(until, exchange).await {
            Err(at) => Err(HopError::Deadline(at)),
            Ok(Err(kind)) => Err(HopError::Failed(kind)),
            Ok(Ok((parts, len))) => Ok(wire::response_from_http(
                parts.status.as_u16(),
                &parts.headers,
                len,
                &clock,
            )),
        }
    }

    /// Keeps `conn` for the next request to the same peer, if it is still open.
    pub(super) fn give_back(&self, conn: Conn) {
        if !conn.sender.is_closed() && !self.shutdown.is_cancelled() {
            self.pool.put(conn.key, conn.sender);
        }
    }

    /// An HTTP/1.1 client connection over `io`; its driver task ends when the [`Sender`] is
    /// dropped (or the peer closes).
    async fn http1<T>(&self, io: T) -> Result<Sender, HopError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (http, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| HopError::Failed(wire::exchange_failure(&e)))?;
        let (alive, dropped) = tokio::sync::oneshot::channel::<()>();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = conn => {}
                _ = dropped => {}
            }
        });
        Ok(Sender {
            http,
            alive: Some(alive),
        })
    }
}
