//! A cache node (L1 edge or L2 parent): its store, its hit/miss accounting, its egress pool and
//! its idle connections to the next tier.

use crate::cache::{freshness_lifetime, CacheStatus, Storability, Store};
use crate::config::NodeState;
use crate::egress::EgressPool;
use crate::message::{Method, Request, Response, Tier};
use crate::profile::Profile;
use crate::time::Instant;
use serde::Serialize;
use std::net::Ipv4Addr;

/// What a node's cache says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Serve this stored response (its `age` is set, `generated_by` is this node's tier).
    Hit(Response),
    /// Ask the next tier; the status says why (`MISS`, `EXPIRED`, `BYPASS`).
    Forward(CacheStatus),
}

/// Hit and miss counters of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Requests served from this node's cache.
    pub hit: u64,
    /// Requests this node forwarded to the next tier.
    pub miss: u64,
}

/// A cache node.
///
/// ```
/// use cdn_core::{node::{CacheNode, Lookup}, CacheKey, CacheStatus, EgressPool, EgressSelection,
///     Instant, Method, Profile, Request, Response, Scheme, Tier, CacheControl};
/// let pool = EgressPool::new(&["127.0.1.1".parse().unwrap()], EgressSelection::RoundRobin, 0).unwrap();
/// let mut node = CacheNode::new("edge-1", Tier::L1, 1 << 20, pool);
/// let req = Request { method: Method::Get, scheme: Scheme::Https, key: CacheKey(7), client: "192.0.2.1".parse().unwrap() };
/// assert_eq!(node.lookup(Instant::ZERO, &req), Lookup::Forward(CacheStatus::Miss));
/// let mut resp = Response::generated(Tier::Origin, 200, "");
/// resp.cache_control = CacheControl::parse("max-age=60");
/// resp.body_len = 1000;
/// assert!(node.store(Instant::ZERO, Profile::Cloudflare, &req, &resp));
/// assert!(matches!(node.lookup(Instant::ZERO, &req), Lookup::Hit(_)));
/// ```
pub struct CacheNode {
    name: String,
    tier: Tier,
    store: Store,
    state: NodeState,
    egress: EgressPool,
    idle: Vec<(Ipv4Addr, u16)>,
    stats: CacheStats,
}

impl CacheNode {
    /// A node with an empty cache of `capacity` bytes.
    pub fn new(
        name: impl Into<String>,
        tier: Tier,
        capacity: u64,
        egress: EgressPool,
    ) -> CacheNode {
        CacheNode {
            name: name.into(),
            tier,
            store: Store::new(capacity),
            state: NodeState::Up,
            egress,
            idle: Vec::new(),
            stats: CacheStats::default(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which tier it is in.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Up, down or hung.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// Changes the node's state; a node that goes down loses its idle connections.
    pub fn set_state(&mut self, state: NodeState) {
        if state != NodeState::Up {
            self.idle.clear();
        }
        self.state = state;
    }

    /// Looks a request up and counts the hit or miss.
    pub fn lookup(&mut self, now: Instant, req: &Request) -> Lookup {
        if req.method == Method::Other {
            self.stats.miss += 1;
            return Lookup::Forward(CacheStatus::Bypass);
        }
        match self.store.get(req.key) {
            Some(e) if e.is_fresh(now) && !e.cache_control().no_cache => {
                let mut r = e.response;
                r.age = e.age(now);
                r.generated_by = self.tier;
                self.stats.hit += 1;
                Lookup::Hit(r)
            }
            Some(_) => {
                self.stats.miss += 1;
                Lookup::Forward(CacheStatus::Expired)
            }
            None => {
                self.stats.miss += 1;
                Lookup::Forward(CacheStatus::Miss)
            }
        }
    }

    /// Stores a response from the next tier if the profile and its directives allow.
    pub fn store(
        &mut self,
        now: Instant,
        profile: Profile,
        req: &Request,
        resp: &Response,
    ) -> bool {
        match freshness_lifetime(profile, req.method, resp) {
            Storability::Store(lifetime) => self.store.insert(now, req.key, *resp, lifetime),
            Storability::DoNotStore(_) => false,
        }
    }

    /// A stored copy that `stale-if-error` allows serving at `now`, if any (RFC 5861 §4):
    /// the response carried `stale-if-error=N`, it is at most N seconds stale, and nothing
    /// forbids serving it stale.
    pub fn stale_if_error(&mut self, now: Instant, req: &Request) -> Option<Response> {
        let e = self.store.get(req.key)?;
        let cc = *e.cache_control();
        let window = std::time::Duration::from_secs(cc.stale_if_error?.into());
        if cc.forbids_stale() || e.staleness(now) > window {
            return None;
        }
        let mut r = e.response;
        r.age = e.age(now);
        r.generated_by = self.tier;
        Some(r)
    }

    /// A connection to the next tier: an idle one if `keepalive` allows (most recently used
    /// first, as nginx's upstream keepalive cache does), else a new one from the egress pool.
    /// Returns the source address and whether the connection was reused.
    pub fn take_connection(
        &mut self,
        req: &Request,
        port: u16,
        keepalive: bool,
    ) -> (Ipv4Addr, bool) {
        if keepalive {
            if let Some(i) = self.idle.iter().rposition(|&(_, p)| p == port) {
                return (self.idle.remove(i).0, true);
            }
        }
        (self.egress.pick(req.key), false)
    }

    /// Returns a healthy connection from `source` to `port` to the idle set.
    pub fn return_connection(&mut self, source: Ipv4Addr, port: u16) {
        self.idle.push((source, port));
    }

    /// Forgets idle connections (the peer restarted or changed).
    pub fn drop_connections(&mut self) {
        self.idle.clear();
    }

    /// Hit/miss counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// The cache store (for inspection and invariants).
    pub fn cache(&self) -> &Store {
        &self.store
    }

    /// The egress pool.
    pub fn egress(&self) -> &EgressPool {
        &self.egress
    }
}
