//! A cache node (L1 edge or L2 parent) as a sans-IO state machine: its store and the
//! RFC 9111 / RFC 5861 decisions made with it, its collapse locks, and every decision about
//! going upstream — which parent, which egress address, how many connect attempts, when to
//! reroute, and which status to generate when the next tier fails.
//!
//! ## The driver contract
//! A driver (the simulator's event loop, or a real proxy) owns the I/O and the clock:
//! 1. It calls [`CacheNode::receive`] with a [`Ticket`] of its choosing for each request
//!    (or [`CacheNode::receive_hit`], the same decision with a fresh hit returned to it
//!    instead of pushed as an [`Action::Answer`]).
//! 2. It carries out every [`Action`] the node returns, in order: [`Action::Answer`] (send it
//!    downstream), [`Action::Connect`] (open or reuse a connection: TCP, then TLS per
//!    [`TlsPolicy`]), [`Action::Send`] (send the request on it), [`Action::Wait`] (nothing to
//!    do but arm the timer), [`Action::Revalidate`] (start a background request with
//!    [`CacheNode::receive_background`]), [`Action::Note`] (append to the trace).
//! 3. It reports what happened, with the [`Hop`] the action carried:
//!    [`CacheNode::connected`], [`CacheNode::answered`], [`CacheNode::hop_failed`] with the
//!    [`FailureKind`](crate::FailureKind) it observed (the only classification a driver
//!    makes: what the kernel or the peer did).
//! 4. It calls [`CacheNode::timer`] when an action's `until` comes, unless the outcome came
//!    first. Stale and early inputs are ignored, so a driver may arm timers lazily and never
//!    cancels one.
//!
//! A failed hop needs nothing more from the driver than its [`FailureKind`](crate::FailureKind):
//! the node retries, reroutes, serves a stale copy, or generates its profile's error
//! ([`CacheNode::generated_error`]) by itself — a driver never builds an error response.
//!
//! ## How a request flows through a node
//! ```text
//!  receive(ticket, request) ─► Answer (HIT / STALE / UPDATING)               ─► send downstream
//!                           ├─► Connect → Send → … (MISS / EXPIRED, maybe conditional; see upstream)
//!                           │      answered(ticket, hop, response) ─► Answer (+ waiters' actions)
//!                           │      hop_failed / timer              ─► retry, reroute, or Answer
//!                           ├─► Wait until T (collapsed behind another request)
//!                           │      timer(ticket) at T ─► Connect (fetched uncached)
//!                           └─► Revalidate (start a background request: receive_background)
//! ```
//!
//! The node never reads a clock, never blocks, never allocates per request on the hit path.

use crate::cache::KeyBuildHasher;
use crate::cache::{
    freshness_lifetime, CacheStatus, Entry, Found, StaleOnError, Storability, Store,
};
use crate::config::NodeState;
use crate::egress::EgressPool;
use crate::message::{CacheKey, Encoding, Etag, Method, Request, Response, Tier, Vary};
use crate::time::Instant;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

mod action;
mod exchange;
mod exchanges;
mod flow;
mod settings;
mod upstream;
pub use action::{Action, Connect, Hop, Peer, Ticket, TlsPolicy};
use flow::Lock;
pub use flow::MUST_REVALIDATE_504;
pub use settings::NodeSettings;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The validators of a stored copy, sent upstream as `If-None-Match` / `If-Modified-Since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Validators {
    /// `If-None-Match`.
    pub etag: Option<Etag>,
    /// `If-Modified-Since`.
    pub last_modified: Option<Instant>,
}

impl Validators {
    /// Whether `resp` is the representation these validators name (RFC 9110 §13.1).
    pub fn match_response(&self, resp: &Response) -> bool {
        match (self.etag, resp.etag) {
            (Some(Etag::ANY), _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
            // If-Modified-Since: not modified if it changed no later than that (RFC 9110
            // §13.1.3); without Last-Modified, a cache goes by Date (RFC 9111 §4.3.2).
            (None, _) => match self.last_modified {
                Some(since) => resp.last_modified.unwrap_or(resp.date) <= since,
                None => false,
            },
        }
    }
}

/// What a node's cache says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Fresh: serve this copy (`HIT`). Its `age` is the Age header to send.
    Hit(Response),
    /// Stale, but `stale-while-revalidate` allows serving it now. `revalidate` is true for
    /// the one request that starts the background revalidation (`STALE`), false while one is
    /// already running (`UPDATING`).
    ServeStale {
        /// The stale copy, with its Age.
        response: Response,
        /// Whether this request starts the revalidation.
        revalidate: bool,
    },
    /// Ask the next tier. `status` says why (`MISS`, `EXPIRED`, `BYPASS`, `DYNAMIC`);
    /// `conditional` carries the stored copy's validators when it can be revalidated.
    Forward {
        /// The cache status so far.
        status: CacheStatus,
        /// Validators for a conditional request.
        conditional: Option<Validators>,
    },
}

/// The outcome of offering a response to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored, fresh for `ttl` from its generation.
    Stored {
        /// The freshness lifetime.
        ttl: Duration,
    },
    /// Not stored; `bypass` when the response told caches to keep out.
    NotStored {
        /// Whether the status to report is `BYPASS`.
        bypass: bool,
        /// Why it was not stored.
        reason: &'static str,
    },
}

impl StoreOutcome {
    /// Whether the response was stored.
    pub fn stored(self) -> bool {
        matches!(self, StoreOutcome::Stored { .. })
    }
}

/// What a node does with a stored copy when the next tier failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Serve this stored copy instead (`STALE`).
    ServeStale(Response),
    /// A stale copy exists but its directives forbid serving it without validation, and the
    /// cache could not reach the next tier: generate 504 (RFC 9111 §5.2.2.2).
    GatewayTimeout,
    /// Nothing to do: pass the error on.
    PassError,
}

/// Hit and miss counters of one node (lookups answered from cache vs forwarded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Lookups served from this node's cache.
    pub hit: u64,
    /// Lookups forwarded to the next tier.
    pub miss: u64,
}

/// A cache node.
///
/// One request driven by hand: a miss goes to the origin, its answer is stored, and the next
/// request is a hit.
///
/// ```
/// use cdn_core::node::{Action, CacheNode, NodeSettings};
/// use cdn_core::{CacheControl, CacheKey, CacheStatus, CdnConfig, EgressPool, EgressSelection,
///     Instant, Profile, Request, Response, Tier};
/// let pool = EgressPool::new(&["127.0.1.1".parse().unwrap()], EgressSelection::RoundRobin, 0).unwrap();
/// let mut shield = CacheNode::new("shield-1", Tier::L2, 1 << 20, pool)
///     .with_settings(NodeSettings::new(&CdnConfig::default(), Profile::Cloudflare));
/// let req = Request::get(CacheKey(7));
/// let mut out = Vec::new();
/// shield.receive(Instant::ZERO, 1, &req, None, false, &mut out);
/// let Some(Action::Connect(c)) = out.pop() else { panic!("a miss goes upstream") };
/// shield.connected(Instant::ZERO, 1, c.hop, &mut out);
/// let Some(Action::Send { hop, .. }) = out.pop() else { panic!("then sends the request") };
/// let mut resp = Response::generated(Tier::Origin, 200, "");
/// resp.reason = None;
/// resp.cache_control = CacheControl::parse("max-age=60");
/// shield.answered(Instant::ZERO, 1, hop, &resp, &mut out);
/// assert!(matches!(out.pop(), Some(Action::Answer { status: CacheStatus::Miss, .. })));
/// shield.receive(Instant::ZERO, 2, &req, None, false, &mut out);
/// assert!(matches!(out.pop(), Some(Action::Answer { status: CacheStatus::Hit, .. })));
/// ```
pub struct CacheNode {
    name: String,
    tier: Tier,
    store: Store,
    state: NodeState,
    settings: NodeSettings,
    egress: EgressPool,
    idle: Vec<(Ipv4Addr, u16)>,
    revalidating: HashSet<CacheKey, KeyBuildHasher>,
    stats: CacheStats,
    /// Requests this node is handling (see the `flow` module).
    exchanges: exchanges::Exchanges,
    /// Collapse locks: keys with a request upstream, and who waits for it.
    locks: HashMap<CacheKey, Lock, KeyBuildHasher>,
    next_lock: u64,
}

/// Statuses that count as errors for stale-if-error (RFC 5861 §4: 500, 502, 503, 504; a
/// CDN's 52x are connection failures it would otherwise report as 502/504).
pub fn is_error_for_stale(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504 | 520..=527 | 530)
}

/// Statuses on which Cloudflare Always Online serves a stored copy: "an HTTP response status
/// code in the range 520–527" (developers.cloudflare.com/cache/how-to/always-online/) —
/// never 404, 500 or 503.
pub fn is_error_for_always_online(status: u16) -> bool {
    matches!(status, 520..=527)
}

/// Statuses that mean a Cloudflare tier could not get a usable answer from the origin (its
/// 52x codes, generated here or relayed from the upper tier): where its default serves a
/// stale copy (`STALE`: "Cloudflare could not contact the origin web server").
fn is_origin_unreachable(status: u16) -> bool {
    matches!(status, 520..=527 | 530)
}

/// The validators of a stored copy, for a conditional request, if it has any.
/// A stored copy as `tier` serves it at `now`: Age in whole seconds, produced there.
fn serve_found(tier: Tier, e: &Found<'_>, now: Instant) -> Response {
    let mut r = e.response();
    r.age = Duration::from_secs(e.age(now).as_secs());
    r.generated_by = tier;
    r
}

fn validators(e: &Entry) -> Option<Validators> {
    e.response.has_validator().then_some(Validators {
        etag: e.response.etag,
        last_modified: e.response.last_modified,
    })
}

impl CacheNode {
    /// A node with an empty cache and [`NodeSettings::default`] (Cloudflare's); see
    /// [`CacheNode::with_settings`]. `cache` is a byte capacity (an LRU store) or a [`Store`]
    /// built with another eviction policy ([`Store::with_eviction`]).
    pub fn new(
        name: impl Into<String>,
        tier: Tier,
        cache: impl Into<Store>,
        egress: EgressPool,
    ) -> CacheNode {
        CacheNode {
            name: name.into(),
            tier,
            store: cache.into(),
            state: NodeState::Up,
            settings: NodeSettings::default(),
            egress,
            idle: Vec::new(),
            revalidating: HashSet::default(),
            stats: CacheStats::default(),
            exchanges: exchanges::Exchanges::default(),
            locks: HashMap::default(),
            next_lock: 0,
        }
    }

    /// The same node with `settings`.
    pub fn with_settings(mut self, settings: NodeSettings) -> CacheNode {
        self.settings = settings;
        self
    }

    /// Replaces the node's settings (an `[[event]]` changed `[cdn]`). Requests in progress
    /// keep the deadlines they were given.
    pub fn configure(&mut self, settings: NodeSettings) {
        self.settings = settings;
    }

    /// The settings in force.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// Whether the node accepts connections (`down` refuses them: nothing listens).
    pub fn listening(&self) -> bool {
        self.state != NodeState::Down
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

    /// The stored entry serving `req` (following `Vary: Accept-Encoding` to the variant).
    fn entry(&mut self, req: &Request) -> Option<(CacheKey, Entry)> {
        let e = self.store.get(req.key)?;
        if e.response.vary == Vary::AcceptEncoding {
            let key = req.key.variant(req.encoding);
            return self.store.get(key).map(|v| (key, v));
        }
        Some((req.key, e))
    }

    /// Tells the CPU that a request for `key` will reach this node soon (a driver that
    /// knows it early overlaps the store's first cache miss with other work). Changes
    /// nothing else.
    #[inline]
    pub fn prefetch(&self, key: CacheKey) {
        self.store.prefetch(key);
    }

    /// The second step of [`CacheNode::prefetch`], some time after it: the stored entry
    /// itself (see [`Store::prefetch_entry`](crate::cache::Store::prefetch_entry)).
    #[inline]
    pub fn prefetch_entry(&self, key: CacheKey) {
        self.store.prefetch_entry(key);
    }

    /// The `ETag` of the stored copy that would serve `req`, if any: a driver holding an
    /// `If-None-Match` list picks the tag the comparison is about (RFC 9110 §13.1.2: the
    /// condition is false if any listed tag matches).
    pub fn stored_etag(&mut self, req: &Request) -> Option<Etag> {
        self.entry(req).and_then(|(_, e)| e.response.etag)
    }

    /// The `Last-Modified` of the stored copy that would serve `req`, if any (a driver
    /// applying a vendor's exact `If-Modified-Since` match).
    pub fn stored_last_modified(&mut self, req: &Request) -> Option<Instant> {
        self.entry(req).and_then(|(_, e)| e.response.last_modified)
    }

    /// Forgets the stored copies of `key` (and its `Accept-Encoding` variants): an unsafe
    /// method succeeded on the URL (RFC 9111 §4.4).
    pub fn invalidate(&mut self, key: CacheKey) {
        for k in [
            key,
            key.variant(Encoding::Identity),
            key.variant(Encoding::Gzip),
            key.variant(Encoding::Br),
        ] {
            self.store.remove(k);
        }
    }

    /// Moves the stored copy of `from` to `to` (a driver learned from the response that
    /// the URL's responses vary, so their key has a part for the request's headers).
    pub fn rekey(&mut self, from: CacheKey, to: CacheKey) {
        if let Some(e) = self.store.remove(from) {
            self.store.insert(e.stored_at, to, e.response, e.lifetime);
        }
    }

    /// A stored copy as it would be served at `now`: Age in whole seconds, produced here.
    fn served(&self, e: &Entry, now: Instant) -> Response {
        let mut r = e.response;
        r.age = Duration::from_secs(e.age(now).as_secs());
        r.generated_by = self.tier;
        r
    }

    /// Looks a request up and counts the hit or miss.
    pub(crate) fn lookup(&mut self, now: Instant, req: &Request) -> Lookup {
        let p = &self.settings.policy;
        let (stale_while_revalidate, grace, background_update) =
            (p.stale_while_revalidate, p.grace, p.background_update);
        let forward = |status| Lookup::Forward {
            status,
            conditional: None,
        };
        if !req.eligible {
            self.stats.miss += 1;
            return forward(CacheStatus::Dynamic);
        }
        if req.method == Method::Other {
            self.stats.miss += 1;
            return forward(CacheStatus::Bypass);
        }
        // As `entry`, but the entry is read packed where it lies (`Store::find`), and its
        // response built only to be served.
        let tier = self.tier;
        let Some(first) = self.store.find(req.key) else {
            self.stats.miss += 1;
            return forward(CacheStatus::Miss);
        };
        let mut key = req.key;
        let e = if first.vary() == Vary::AcceptEncoding {
            key = req.key.variant(req.encoding);
            let Some(v) = self.store.find(key) else {
                self.stats.miss += 1;
                return forward(CacheStatus::Miss);
            };
            v
        } else {
            first
        };
        let cc = *e.cache_control();
        if e.is_fresh(now) && !cc.no_cache {
            self.stats.hit += 1;
            return Lookup::Hit(serve_found(tier, &e, now));
        }
        // The stale window: the response's stale-while-revalidate, else the vendor's grace.
        let window = match cc.stale_while_revalidate {
            Some(w) if stale_while_revalidate => Some(Duration::from_secs(w.into())),
            _ => (!grace.is_zero()).then_some(grace),
        };
        let stale_ok = !cc.forbids_stale() && !cc.no_cache;
        if window.is_some_and(|w| stale_ok && e.staleness(now) <= w) {
            let revalidate = self.revalidating.insert(key);
            if revalidate && !background_update {
                // nginx without proxy_cache_background_update: the request that finds the
                // copy stale refreshes it itself and waits; the others are served stale
                // (UPDATING) until it is done (`store`, `revalidated` or `on_error`).
                self.stats.miss += 1;
                return Lookup::Forward {
                    status: CacheStatus::Expired,
                    conditional: validators(&e.entry()),
                };
            }
            self.stats.hit += 1;
            return Lookup::ServeStale {
                response: serve_found(tier, &e, now),
                revalidate,
            };
        }
        self.stats.miss += 1;
        Lookup::Forward {
            status: CacheStatus::Expired,
            conditional: validators(&e.entry()),
        }
    }

    /// Marks the background revalidation of `req`'s URL as finished.
    pub(crate) fn revalidation_done(&mut self, req: &Request) {
        // Called for every stored answer; almost always nothing is being revalidated.
        if self.revalidating.is_empty() {
            return;
        }
        self.revalidating.remove(&req.key);
        self.revalidating.remove(&req.key.variant(req.encoding));
    }

    /// Offers a response from the next tier to the cache. `request_time` is when this node
    /// sent its request upstream and `now` when the response arrived: the stored age is
    /// RFC 9111 §4.2.3's corrected initial age, `max(now − Date, Age + (now − request_time))`.
    pub(crate) fn store(
        &mut self,
        now: Instant,
        request_time: Instant,
        req: &Request,
        resp: &Response,
    ) -> StoreOutcome {
        // An answer for the URL ends a foreground revalidation of it (see `lookup`).
        self.revalidation_done(req);
        if !req.eligible {
            return StoreOutcome::NotStored {
                bypass: false,
                reason: "not eligible for caching",
            };
        }
        let ttl = match freshness_lifetime(&self.settings.policy, req.method, resp) {
            Storability::Store(ttl) => ttl,
            Storability::DoNotStore { reason, bypass } => {
                return StoreOutcome::NotStored { bypass, reason }
            }
        };
        let apparent_age = now.saturating_since(resp.date);
        let corrected_age = resp.age + now.saturating_since(request_time);
        let age = apparent_age.max(corrected_age);
        let key = if resp.vary == Vary::AcceptEncoding {
            // The URL's entry only says "look at the variant"; it holds no body.
            self.store.insert_aged(now, req.key, resp, age, 0, ttl);
            req.key.variant(req.encoding)
        } else {
            req.key
        };
        if self
            .store
            .insert_aged(now, key, resp, age, resp.body_len, ttl)
        {
            StoreOutcome::Stored { ttl }
        } else {
            StoreOutcome::NotStored {
                bypass: false,
                reason: "larger than the whole cache",
            }
        }
    }

    /// The next tier answered `304 Not Modified` to a conditional request: refresh the stored
    /// copy with the 304's metadata and return it for serving (`REVALIDATED`). `None` if the
    /// copy has been evicted meanwhile (the caller must fetch it in full).
    pub(crate) fn revalidated(
        &mut self,
        now: Instant,
        request_time: Instant,
        req: &Request,
        not_modified: &Response,
    ) -> Option<Response> {
        self.revalidation_done(req);
        let (_, e) = self.entry(req)?;
        let mut fresh = e.response;
        fresh.date = not_modified.date;
        fresh.age = not_modified.age;
        fresh.expires = not_modified.expires;
        if !not_modified.cache_control.is_empty() {
            fresh.cache_control = not_modified.cache_control;
        }
        fresh.status = e.response.status;
        if !self.store(now, request_time, req, &fresh).stored() {
            return None;
        }
        let (_, e) = self.entry(req)?;
        Some(self.served(&e, now))
    }

    /// What to do with a stored copy when the next tier failed with `status` (the code this
    /// node would otherwise send). `disconnected` is true when the hop itself failed rather
    /// than the next tier answering an error.
    ///
    /// In order: Always Online (520–527, any copy); the copy's `stale-if-error` window where
    /// the vendor honours it; else the vendor's default ([`StaleOnError`]: Cloudflare serves
    /// any stale copy when the origin could not be contacted, CloudFront on any 5xx and holds
    /// it for the error caching minimum TTL); a copy whose directives forbid stale gets a 504
    /// when the hop failed (RFC 9111 §5.2.2.2).
    pub(crate) fn on_error(
        &mut self,
        now: Instant,
        req: &Request,
        status: u16,
        disconnected: bool,
    ) -> OnError {
        self.revalidation_done(req);
        let p = &self.settings.policy;
        let (always_online, stale_if_error, stale_on_error, error_caching) = (
            p.always_online,
            p.stale_if_error,
            p.stale_on_error,
            p.error_caching,
        );
        if !req.eligible || req.method == Method::Other {
            return OnError::PassError;
        }
        let Some((key, e)) = self.entry(req) else {
            return OnError::PassError;
        };
        if always_online {
            return if is_error_for_always_online(status) {
                OnError::ServeStale(self.served(&e, now))
            } else {
                OnError::PassError
            };
        }
        let cc = *e.cache_control();
        let stale_ok = !cc.forbids_stale() && !cc.no_cache;
        if stale_ok && is_error_for_stale(status) {
            let serve = match cc.stale_if_error {
                // The directive's window decides (stale-if-error=0: never).
                Some(window) if stale_if_error => {
                    e.staleness(now) <= Duration::from_secs(window.into())
                }
                _ => match stale_on_error {
                    StaleOnError::Directive => false,
                    StaleOnError::Unreachable => is_origin_unreachable(status),
                    StaleOnError::ServerError => {
                        // "For the duration of the error caching minimum TTL, CloudFront
                        // continues to respond to viewer requests by serving the object from
                        // the edge cache": fresh again for that long.
                        if let Some(rules) = error_caching {
                            let age = e.age(now);
                            let mut held = e.response;
                            held.age = age;
                            self.store.insert(now, key, held, age + rules.min_ttl);
                        }
                        true
                    }
                },
            };
            if serve {
                return OnError::ServeStale(self.served(&e, now));
            }
        }
        if !stale_ok && disconnected {
            return OnError::GatewayTimeout;
        }
        OnError::PassError
    }

    /// If `req` carries validators matching the stored fresh copy, the 304 to send instead of
    /// the full response.
    pub fn not_modified_for(resp: &Response, conditional: Option<Validators>) -> Option<Response> {
        let v = conditional?;
        if resp.status != 200 || !v.match_response(resp) {
            return None;
        }
        let mut r = *resp;
        r.status = 304;
        r.body_len = 0;
        Some(r)
    }

    /// A connection to the next tier: an idle one if `keepalive` allows (most recently used
    /// first, as nginx's upstream keepalive cache does), else a new one from the egress pool.
    /// Returns the source address and whether the connection was reused.
    pub(crate) fn take_connection(
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
    pub(crate) fn return_connection(&mut self, source: Ipv4Addr, port: u16) {
        self.idle.push((source, port));
    }

    /// Forgets idle connections (the peer restarted or changed).
    pub fn drop_connections(&mut self) {
        self.idle.clear();
    }

    /// Lookup counters.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheControl;
    use crate::cache::CachePolicy;
    use crate::egress::EgressSelection;
    use crate::message::Encoding;
    use crate::profile::Profile;

    fn node() -> CacheNode {
        let pool = EgressPool::new(
            &["127.0.1.1".parse().unwrap()],
            EgressSelection::RoundRobin,
            0,
        )
        .unwrap();
        CacheNode::new("n", Tier::L2, 1 << 20, pool)
    }

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    fn origin(cc: &str, date: Instant) -> Response {
        let mut r = Response::generated(Tier::Origin, 200, "");
        r.reason = None;
        r.body_len = 100;
        r.cache_control = CacheControl::parse(cc);
        r.date = date;
        r.etag = Some(Etag(1));
        r
    }

    #[test]
    fn age_is_the_corrected_initial_age_plus_residency() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        // Sent at t=0, arrived at t=2 with Age: 5 (it sat upstream for 5 s).
        let mut r = origin("max-age=60", at(0));
        r.age = Duration::from_secs(5);
        n.store(at(2), at(0), &req, &r);
        match n.lookup(at(12), &req) {
            Lookup::Hit(h) => assert_eq!(h.age, Duration::from_secs(5 + 2 + 10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_while_revalidate_serves_stale_and_revalidates_once() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-while-revalidate=30", at(0)),
        );
        let first = n.lookup(at(15), &req);
        assert!(
            matches!(
                first,
                Lookup::ServeStale {
                    revalidate: true,
                    ..
                }
            ),
            "{first:?}"
        );
        let second = n.lookup(at(16), &req);
        assert!(
            matches!(
                second,
                Lookup::ServeStale {
                    revalidate: false,
                    ..
                }
            ),
            "{second:?}"
        );
        n.revalidation_done(&req);
        assert!(matches!(
            n.lookup(at(17), &req),
            Lookup::ServeStale {
                revalidate: true,
                ..
            }
        ));
        // Past the window: a conditional fetch.
        assert!(matches!(
            n.lookup(at(41), &req),
            Lookup::Forward {
                status: CacheStatus::Expired,
                conditional: Some(_)
            }
        ));
    }

    #[test]
    fn must_revalidate_forbids_stale_and_demands_504_when_disconnected() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, must-revalidate, stale-if-error=60", at(0)),
        );
        assert_eq!(n.on_error(at(20), &req, 521, true), OnError::GatewayTimeout);
        assert_eq!(n.on_error(at(20), &req, 503, false), OnError::PassError);
    }

    #[test]
    fn stale_if_error_window() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-if-error=60", at(0)),
        );
        assert!(matches!(
            n.on_error(at(50), &req, 521, true),
            OnError::ServeStale(_)
        ));
        assert!(matches!(
            n.on_error(at(50), &req, 500, false),
            OnError::ServeStale(_)
        ));
        assert_eq!(n.on_error(at(71), &req, 521, true), OnError::PassError);
    }

    #[test]
    fn always_online_ignores_stale_if_error_and_skips_404_500_503() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        n.settings.policy.always_online = true;
        n.store(at(0), at(0), &req, &origin("max-age=10", at(0)));
        assert!(matches!(
            n.on_error(at(5000), &req, 522, true),
            OnError::ServeStale(_)
        ));
        for s in [404, 500, 503] {
            assert_eq!(n.on_error(at(5000), &req, s, false), OnError::PassError);
        }
    }

    #[test]
    fn no_cache_is_stored_but_always_revalidated() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        assert!(n
            .store(at(0), at(0), &req, &origin("no-cache, max-age=60", at(0)))
            .stored());
        let l = n.lookup(at(1), &req);
        assert!(
            matches!(
                l,
                Lookup::Forward {
                    status: CacheStatus::Expired,
                    conditional: Some(_)
                }
            ),
            "{l:?}"
        );
        let mut nm = origin("", at(1));
        nm.status = 304;
        let served = n.revalidated(at(1), at(1), &req, &nm).unwrap();
        assert_eq!(served.status, 200);
        assert_eq!(served.body_len, 100);
    }

    #[test]
    fn vary_accept_encoding_keeps_one_variant_per_encoding() {
        let mut n = node();
        let gz = Request::get(CacheKey(1));
        let br = Request {
            encoding: Encoding::Br,
            ..gz
        };
        let mut r = origin("max-age=60", at(0));
        r.vary = Vary::AcceptEncoding;
        n.store(at(0), at(0), &gz, &r);
        assert!(matches!(n.lookup(at(1), &gz), Lookup::Hit(_)));
        assert!(matches!(
            n.lookup(at(1), &br),
            Lookup::Forward {
                status: CacheStatus::Miss,
                ..
            }
        ));
        n.store(at(1), at(1), &br, &r);
        assert!(matches!(n.lookup(at(2), &br), Lookup::Hit(_)));
        assert!(matches!(n.lookup(at(2), &gz), Lookup::Hit(_)));
    }

    #[test]
    fn ineligible_requests_are_dynamic_and_never_stored() {
        let mut n = node();
        let req = Request {
            eligible: false,
            ..Request::get(CacheKey(1))
        };
        assert!(matches!(
            n.lookup(at(0), &req),
            Lookup::Forward {
                status: CacheStatus::Dynamic,
                ..
            }
        ));
        assert!(!n
            .store(at(0), at(0), &req, &origin("max-age=60", at(0)))
            .stored());
    }

    #[test]
    fn conditional_requests_get_304_only_for_the_same_representation() {
        let r = origin("max-age=60", at(0));
        let same = Some(Validators {
            etag: Some(Etag(1)),
            last_modified: None,
        });
        let other = Some(Validators {
            etag: Some(Etag(2)),
            last_modified: None,
        });
        assert_eq!(
            CacheNode::not_modified_for(&r, same).map(|r| r.status),
            Some(304)
        );
        assert_eq!(CacheNode::not_modified_for(&r, other), None);
        assert_eq!(CacheNode::not_modified_for(&r, None), None);
    }

    fn node_for(p: Profile) -> CacheNode {
        let mut n = node();
        n.settings.policy = CachePolicy::for_profile(p);
        n
    }

    #[test]
    fn nginx_makes_the_request_that_finds_the_copy_stale_wait() {
        // proxy_cache_background_update off: the first request past expiry refreshes the copy
        // itself (EXPIRED, conditional); the others are served stale (UPDATING) meanwhile.
        let p = Profile::Nginx;
        let mut n = node_for(p);
        let req = Request::get(CacheKey(1));
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-while-revalidate=30", at(0)),
        );
        assert!(matches!(
            n.lookup(at(15), &req),
            Lookup::Forward {
                status: CacheStatus::Expired,
                conditional: Some(_)
            }
        ));
        assert!(matches!(
            n.lookup(at(16), &req),
            Lookup::ServeStale {
                revalidate: false,
                ..
            }
        ));
        // Its answer ends the revalidation: the next stale lookup refreshes again.
        n.store(
            at(17),
            at(15),
            &req,
            &origin("max-age=10, stale-while-revalidate=30", at(17)),
        );
        assert!(matches!(n.lookup(at(18), &req), Lookup::Hit(_)));
    }

    #[test]
    fn varnish_graces_a_copy_without_any_directive_for_10_s() {
        let p = Profile::Varnish;
        let mut n = node_for(p);
        let req = Request::get(CacheKey(1));
        n.store(at(0), at(0), &req, &origin("max-age=10", at(0)));
        assert!(matches!(
            n.lookup(at(19), &req),
            Lookup::ServeStale {
                revalidate: true,
                ..
            }
        ));
        n.revalidation_done(&req);
        // 11 s past expiry: outside default_grace, a synchronous fetch.
        assert!(matches!(
            n.lookup(at(21), &req),
            Lookup::Forward {
                status: CacheStatus::Expired,
                ..
            }
        ));
        // And stale-if-error means nothing to it.
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-if-error=600", at(0)),
        );
        assert_eq!(n.on_error(at(100), &req, 503, true), OnError::PassError);
    }

    #[test]
    fn cloudflare_serves_stale_when_it_cannot_reach_the_origin_unless_told_not_to() {
        let p = Profile::Cloudflare;
        let req = Request::get(CacheKey(1));
        let mut n = node_for(p);
        n.store(at(0), at(0), &req, &origin("max-age=10", at(0)));
        // An hour past expiry, the origin refuses: STALE (cf-cache-status).
        assert!(matches!(
            n.on_error(at(3600), &req, 521, true),
            OnError::ServeStale(_)
        ));
        // The origin answering 503 is not "could not contact".
        assert_eq!(n.on_error(at(3600), &req, 503, false), OnError::PassError);
        // stale-if-error=0 opts out; must-revalidate forbids it (504 when disconnected).
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-if-error=0", at(0)),
        );
        assert_eq!(n.on_error(at(60), &req, 521, true), OnError::PassError);
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, must-revalidate", at(0)),
        );
        assert_eq!(n.on_error(at(60), &req, 521, true), OnError::GatewayTimeout);
    }

    #[test]
    fn cloudfront_serves_an_expired_copy_on_5xx_and_holds_it_for_the_error_ttl() {
        let p = Profile::Cloudfront;
        let req = Request::get(CacheKey(1));
        let mut n = node_for(p);
        n.store(at(0), at(0), &req, &origin("max-age=10", at(0)));
        assert!(matches!(
            n.on_error(at(100), &req, 503, false),
            OnError::ServeStale(_)
        ));
        // Fresh again for the error caching minimum TTL (10 s), then stale.
        assert!(matches!(n.lookup(at(109), &req), Lookup::Hit(_)));
        assert!(matches!(n.lookup(at(111), &req), Lookup::Forward { .. }));
    }

    #[test]
    fn always_online_is_520_to_527_only() {
        let req = Request::get(CacheKey(1));
        let mut n = node_for(Profile::Cloudflare);
        n.settings.policy.always_online = true;
        n.store(
            at(0),
            at(0),
            &req,
            &origin("max-age=10, stale-if-error=0", at(0)),
        );
        for s in 520..=527 {
            assert!(
                matches!(n.on_error(at(99), &req, s, true), OnError::ServeStale(_)),
                "{s}"
            );
        }
        for s in [502, 504, 530] {
            assert_eq!(n.on_error(at(99), &req, s, true), OnError::PassError, "{s}");
        }
    }
}
