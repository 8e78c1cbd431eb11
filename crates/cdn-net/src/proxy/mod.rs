//! Real L1 and L2 cache proxies: hyper servers on loopback that are *drivers* of a
//! `cdn-core` [`CacheNode`] — the same state machine the simulator drives. The node decides
//! everything (cache, collapsing, which parent, which egress address, connect attempts,
//! rerouting, the status to generate); a proxy does the I/O the node asks for and reports
//! what the kernel and the peer did.
//!
//! Each request gets a ticket and a mailbox. The node (behind a mutex) returns
//! [`Action`](cdn_core::node::Action)s; each is delivered to the mailbox of the request it
//! names, so a request that finishes can release requests collapsed behind it that other
//! tasks are holding. A request task carries out its own actions: connect (without holding
//! the lock), send, wait for a deadline, or answer.
//!
//! ## Layout
//! | module | one job |
//! |---|---|
//! | `mod.rs` | [`Proxy`]: start, settings, shutdown |
//! | `port` | the listening port: accepting (capped, backing off when out of descriptors; each connection served on the next event loop, if any), or refusing while the node is `down` |
//! | `client` | one client connection: header and keep-alive timeouts, requests in flight, the answer at shutdown |
//! | `limits` | [`ServeLimits`]: timeouts and caps |
//! | `shared` | the node behind its mutex, tickets, mailboxes, delivering actions |
//! | `request` | one request's task: carrying out the node's actions with real timers |
//! | `upstream` | connections to the next tier: pool, source binding, TCP, TLS, exchanges |
//! | `http` | model messages ⇄ hyper messages |
//! | `passthrough` | requests for a real upstream: real messages beside the model's |
//! | `stored` | full responses (headers and bytes) for what the node stores |

mod client;
mod http;
mod limits;
mod passthrough;
mod port;
mod request;
mod shared;
mod stored;
mod upstream;

pub use passthrough::{RealSpec, UpstreamTls};

use crate::certs::Certificates;
use crate::error::NetError;
use crate::link::Links;
use crate::resolver::Resolver;
use crate::timing::Timers;
use crate::trace_sink::TraceSink;
use cdn_core::{CacheNode, NodeSettings, NodeState, Tier};
use shared::Shared;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use limits::ServeLimits;

/// After the grace period, how long cut-off requests have to write their `503` and close.
const CLOSE_BOUND: Duration = Duration::from_millis(500);

/// What a proxy forwards to.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// An L1: its L2 parents, in configuration order (name, address); the node's
    /// [`Peer::Parent`](cdn_core::node::Peer::Parent) indexes this list.
    Parents(Vec<(String, SocketAddr)>),
    /// An L2: the origin, by hostname through the resolver.
    Origin,
}

/// Everything a proxy needs to start.
pub struct ProxySpec {
    /// The model node, configured ([`CacheNode::with_settings`]) and in its initial state.
    pub node: CacheNode,
    /// The loopback address to listen on.
    pub listen: Ipv4Addr,
    /// What it forwards to.
    pub upstream: Upstream,
    /// The origin's hostname (cache keys and TLS server name).
    pub origin_host: String,
    /// Where the origin lives.
    pub resolver: Resolver,
    /// Certificates and the trust the proxies have.
    pub certs: Arc<Certificates>,
    /// Virtual time, and the meter of how late its timers fire.
    pub timers: Timers,
    /// Where traced requests' steps go.
    pub traces: TraceSink,
    /// The emulated latency of the links this proxy uses.
    pub links: Links,
    /// `Some` when the CDN fronts a real upstream (`[origin] upstream`): requests and
    /// responses pass through as they are.
    pub real: Option<RealSpec>,
    /// Event loops to serve client connections on, in turn ([`EventLoops`](crate::EventLoops));
    /// `None`: on the runtime the proxy was started from.
    pub loops: Option<Arc<crate::EventLoops>>,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    port: std::sync::Mutex<port::Port>,
}

impl Proxy {
    /// Binds `spec.listen:0` and starts serving (or refusing, if the node is `down`).
    pub async fn start(spec: ProxySpec) -> Result<Proxy, NetError> {
        Proxy::start_at(spec, None).await
    }

    /// [`Proxy::start`] on `at` (a loopback address and port) instead of `spec.listen:0`.
    pub async fn start_at(spec: ProxySpec, at: Option<SocketAddr>) -> Result<Proxy, NetError> {
        let listening = spec.node.listening();
        let shared = Arc::new(Shared::new(spec));
        let mut port = match at {
            None => port::Port::reserve(shared.listen_ip())?,
            Some(SocketAddr::V4(a)) if a.ip().is_loopback() => port::Port::reserve_at(a)?,
            Some(SocketAddr::V4(a)) => return Err(NetError::NotLoopback(*a.ip())),
            Some(SocketAddr::V6(_)) => return Err(NetError::NotLoopback(Ipv4Addr::UNSPECIFIED)),
        };
        let addr = port.addr();
        if listening {
            port.listen(&shared)?;
        }
        shared.tasks.spawn(expire_idle_upstreams(shared.clone()));
        Ok(Proxy {
            addr,
            shared,
            port: std::sync::Mutex::new(port),
        })
    }

    /// The address clients (or the L1 tier) connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The node's tier.
    pub fn tier(&self) -> Tier {
        self.shared.tier
    }

    /// Requests the node is handling right now (upstream or waiting; an L2 may still be
    /// fetching for an L1 that gave up on it), or whose answer is not yet counted.
    pub fn requests_in_progress(&self) -> usize {
        let counting = self
            .shared
            .uncounted
            .load(std::sync::atomic::Ordering::SeqCst);
        self.shared.node().node.requests_in_progress().max(counting)
    }

    /// Requests this proxy sent to a real upstream it reaches directly (`https://`, or
    /// `cdn-sim proxy`); a modelled origin or a fault layer counts what it receives itself.
    pub fn sent_to_origin(&self) -> u64 {
        self.shared
            .sent_to_origin
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many requests this proxy answered with each cache status, indexed by
    /// [`CacheStatus::index`](cdn_core::CacheStatus::index).
    pub fn answered(&self) -> [u64; 8] {
        self.shared.answered()
    }

    /// Applies new settings, state and link latencies (an `[[event]]`). A node that goes `down` stops
    /// listening (new connections are refused by the kernel; requests in flight finish); one
    /// that comes back listens again on the same port.
    pub fn update(
        &self,
        settings: NodeSettings,
        state: NodeState,
        links: Links,
    ) -> Result<(), NetError> {
        let listening = self.shared.update(settings, state, links);
        let mut port = self.port.lock().unwrap_or_else(|e| e.into_inner());
        match (listening, port.is_listening()) {
            (true, false) => port.listen(&self.shared),
            (false, true) => {
                port.refuse();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Forgets pooled upstream connections (the origin restarted).
    pub fn drop_connections(&self) {
        self.shared.drop_connections();
    }

    /// Closes idle connections to the parents (one went down or came back: a pooled
    /// connection to it would skip the connect the kernel must refuse or accept).
    pub fn drop_parent_connections(&self) {
        self.shared.pool.clear_parents();
    }

    /// Applies new limits to connections accepted from now on.
    pub fn set_limits(&self, limits: ServeLimits) {
        self.shared.set_limits(limits);
    }

    /// Client connections open now.
    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops accepting new connections (the kernel refuses them); requests in flight go on.
    pub fn stop_accepting(&self) {
        self.port.lock().unwrap_or_else(|e| e.into_inner()).refuse();
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then answers
    /// those still running `503` with `Connection: close` and closes everything. Returns
    /// how many requests were cut off so.
    pub async fn shutdown(self, grace: Duration) -> usize {
        self.shutdown_until(tokio::time::Instant::now() + grace)
            .await
    }

    /// [`Proxy::shutdown`] with an absolute deadline (several proxies sharing one).
    pub async fn shutdown_until(self, deadline: tokio::time::Instant) -> usize {
        self.stop_accepting();
        self.shared.shutdown_until(deadline).await
    }
}

/// Closes idle upstream connections once they have been idle for the limit, checking four
/// times per limit (so one lives at most 1.25 × the limit) and at least every second (a
/// new limit takes effect within a second), until the proxy stops.
async fn expire_idle_upstreams(shared: Arc<Shared>) {
    loop {
        let idle = shared.limits().upstream_idle;
        let period = idle
            .map_or(Duration::from_secs(1), |d| d / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        if let Some(idle) = shared.limits().upstream_idle {
            shared.pool.expire(idle);
        }
    }
}
