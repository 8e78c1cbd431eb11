//! The request flow at one cache node, as a sans-IO state machine.
//!
//! A driver (the simulator, or a real proxy) hands the node a request with a [`Ticket`] of its
//! choosing, then tells it what happened upstream; the node answers with [`Action`]s for the
//! driver to carry out. The node owns its configuration ([`NodeSettings`](super::NodeSettings)),
//! so an input is only `now`, a ticket and what happened (the diagram is in the
//! [`node`](super) module's documentation).
//!
//! Everything a cache decides — freshness, stale serving, 304s, negative caching, collapsing
//! with its timeout, age and uncacheable policy — happens here, so both drivers behave the
//! same by construction. Actions go into a caller-provided `Vec` so the hot path does not
//! allocate.

use super::action::{Action, Ticket};
use super::exchange::{Exchange, Phase};
use super::{is_error_for_stale, CacheNode, Lookup, OnError, StoreOutcome, Validators};
use crate::cache::{CacheStatus, UncacheablePolicy};
use crate::config::NodeState;
use crate::message::{CacheKey, Request, Response};
use crate::time::Instant;
use crate::trace::TraceEvent;
use std::collections::hash_map::Entry;

/// Why a cache generates 504 instead of serving its stale copy (RFC 9111 §5.2.2.2).
pub const MUST_REVALIDATE_504: &str = "stale copy may not be served without revalidation \
     (must-revalidate / s-maxage / no-cache) and upstream is unreachable";

/// Emits a trace note (out of line: rarely taken; see [`CacheNode::note`]).
#[cold]
#[inline(never)]
fn push_note(out: &mut Vec<Action>, ticket: Ticket, event: TraceEvent) {
    out.push(Action::Note { ticket, event });
}

/// A collapse lock: one request for a key is upstream; others wait behind it.
#[derive(Debug)]
pub(crate) struct Lock {
    id: u64,
    started: Instant,
    waiters: Vec<Ticket>,
}

impl CacheNode {
    /// Emits `event` for the trace of `ticket` if its driver asked for notes. Inlined down
    /// to the check, so that an untraced request (almost all of them) neither builds the
    /// event nor makes a call (~30 instructions at each of the few notes per request).
    #[inline]
    pub(crate) fn note(
        &self,
        out: &mut Vec<Action>,
        ex: &Exchange,
        ticket: Ticket,
        event: TraceEvent,
    ) {
        if ex.notes {
            push_note(out, ticket, event);
        }
    }

    /// Answers `ticket` downstream; a copy served from this cache gets its trace line first.
    /// Inlined: out of line, the response was copied once more into its argument.
    #[inline]
    fn answer(
        &self,
        out: &mut Vec<Action>,
        notes: bool,
        ticket: Ticket,
        response: Response,
        status: CacheStatus,
    ) {
        if notes && status.served_from_cache() {
            let age_s = Some(response.age.as_secs());
            out.push(Action::Note {
                ticket,
                event: TraceEvent::Cache { status, age_s },
            });
        }
        out.push(Action::Answer {
            ticket,
            response,
            status,
        });
    }

    /// [`CacheNode::answer`] of `resp` turned into the 304 of
    /// [`CacheNode::not_modified_for`] where `downstream`'s validators match it, with the
    /// response copied once, into the action (passed by value, built as an `Option`,
    /// unwrapped and moved into the action, it cost ~23 instructions more per upstream
    /// answer).
    #[inline]
    fn answer_validated(
        &self,
        out: &mut Vec<Action>,
        notes: bool,
        ticket: Ticket,
        resp: &Response,
        downstream: Option<Validators>,
        status: CacheStatus,
    ) {
        // A 304 has the Age of the response it stands for: the note is `resp`'s.
        self.answer(out, notes, ticket, *resp, status);
        if let (Some(v), Some(Action::Answer { response, .. })) = (downstream, out.last_mut()) {
            if response.status == 200 && v.match_response(response) {
                response.status = 304;
                response.body_len = 0;
            }
        }
    }

    /// A request reaches this node. `downstream` carries the validators the downstream tier
    /// sent (it revalidates its own copy); `notes` asks for [`Action::Note`]s. A node whose
    /// state is `hung` accepts the request and never answers it: no action at all.
    pub fn receive(
        &mut self,
        now: Instant,
        ticket: Ticket,
        req: &Request,
        downstream: Option<Validators>,
        notes: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(response) = self.receive_hit(now, ticket, req, downstream, notes, out) {
            self.answer(out, notes, ticket, response, CacheStatus::Hit);
        }
    }

    /// [`CacheNode::receive`], except that a fresh hit (`HIT`) is returned — the response
    /// to send downstream, a 304 where `downstream`'s validators match — instead of being
    /// pushed as an [`Action::Answer`]; `None` when the actions in `out` are the whole
    /// answer. With `notes`, a hit is pushed as `receive` pushes it (after its trace note).
    ///
    /// Most requests end here, and a driver that answers them on the spot skips writing a
    /// ~170-byte action and reading it back; the decision is the same one `receive` makes.
    ///
    /// ```
    /// use cdn_core::node::{Action, CacheNode, NodeSettings};
    /// use cdn_core::{CacheControl, CacheKey, CdnConfig, EgressPool, EgressSelection,
    ///     Instant, Profile, Request, Response, Tier};
    /// let pool = EgressPool::new(&["127.0.1.1".parse().unwrap()], EgressSelection::RoundRobin, 0).unwrap();
    /// let mut shield = CacheNode::new("shield-1", Tier::L2, 1 << 20, pool)
    ///     .with_settings(NodeSettings::new(&CdnConfig::default(), Profile::Cloudflare));
    /// let req = Request::get(CacheKey(7));
    /// let mut out = Vec::new();
    /// // A miss: nothing returned, the actions say what to do.
    /// assert_eq!(shield.receive_hit(Instant::ZERO, 1, &req, None, false, &mut out), None);
    /// let Some(Action::Connect(c)) = out.pop() else { panic!("a miss goes upstream") };
    /// shield.connected(Instant::ZERO, 1, c.hop, &mut out);
    /// let Some(Action::Send { hop, .. }) = out.pop() else { panic!("then sends the request") };
    /// let mut resp = Response::generated(Tier::Origin, 200, "");
    /// resp.reason = None;
    /// resp.cache_control = CacheControl::parse("max-age=60");
    /// shield.answered(Instant::ZERO, 1, hop, &resp, &mut out);
    /// out.clear();
    /// // A fresh hit: returned, no action.
    /// let hit = shield.receive_hit(Instant::ZERO, 2, &req, None, false, &mut out);
    /// assert_eq!(hit.map(|r| (r.status, r.generated_by)), Some((200, Tier::L2)));
    /// assert!(out.is_empty());
    /// ```
    pub fn receive_hit(
        &mut self,
        now: Instant,
        ticket: Ticket,
        req: &Request,
        downstream: Option<Validators>,
        notes: bool,
        out: &mut Vec<Action>,
    ) -> Option<Response> {
        if self.state == NodeState::Hung {
            return None;
        }
        let lookup = self.lookup(now, req);
        if let Lookup::Hit(resp) = lookup {
            // Answered without an exchange (nothing to route, lock or remember), so none
            // is built.
            let response = CacheNode::not_modified_for(&resp, downstream).unwrap_or(resp);
            if notes {
                self.answer(out, notes, ticket, response, CacheStatus::Hit);
                return None;
            }
            return Some(response);
        }
        let mut ex = Exchange::new(*req, now, super::action::Peer::Origin);
        // Where a miss goes first (a rendezvous hash at an L1).
        ex.route.peer = self.first_peer(&ex);
        ex.downstream = downstream;
        ex.collapse = self.settings.collapse;
        ex.notes = notes;
        self.handle(now, ticket, &mut ex, lookup, out);
        None
    }

    /// Starts a background revalidation asked for by [`Action::Revalidate`], under a new
    /// ticket. It goes upstream at once; its answer refreshes the cache and is not for anyone.
    pub fn receive_background(
        &mut self,
        now: Instant,
        ticket: Ticket,
        req: &Request,
        conditional: Option<Validators>,
        out: &mut Vec<Action>,
    ) {
        let mut ex = Exchange::new(*req, now, super::action::Peer::Origin);
        ex.route.peer = self.first_peer(&ex);
        ex.status = CacheStatus::Expired;
        ex.conditional = conditional;
        ex.collapse = false;
        ex.background = true;
        self.go_upstream(now, ticket, &mut ex, out);
    }

    /// Acts on `lookup` for `ex` (a local of the caller's, passed by reference: copying
    /// the ~170-byte exchange at each step of receive → handle → forward → go_upstream
    /// cost a `memcpy` each; only the exchange table keeps a copy).
    fn handle(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        lookup: Lookup,
        out: &mut Vec<Action>,
    ) {
        match lookup {
            Lookup::Hit(resp) => {
                let response = CacheNode::not_modified_for(&resp, ex.downstream).unwrap_or(resp);
                self.answer(out, ex.notes, ticket, response, CacheStatus::Hit);
            }
            Lookup::ServeStale {
                response,
                revalidate,
            } => {
                if revalidate {
                    out.push(Action::Revalidate {
                        req: ex.req,
                        conditional: response.has_validator().then_some(Validators {
                            etag: response.etag,
                            last_modified: response.last_modified,
                        }),
                    });
                }
                // A stale copy has not been validated: never turned into a 304.
                let first = revalidate && !self.settings.policy.updating_starts_revalidation;
                let status = if first {
                    CacheStatus::Stale
                } else {
                    CacheStatus::Updating
                };
                self.answer(out, ex.notes, ticket, response, status);
            }
            Lookup::Forward {
                status,
                conditional,
            } => {
                ex.status = status;
                ex.conditional = conditional;
                let collapsible = matches!(status, CacheStatus::Miss | CacheStatus::Expired);
                if collapsible && ex.collapse && self.join_or_take_lock(now, ticket, ex, out) {
                    self.exchanges.insert(ticket, ex);
                    return;
                }
                self.forward(now, ticket, ex, out);
            }
        }
    }

    /// The cache could not answer: note its status and send the request upstream.
    fn forward(&mut self, now: Instant, ticket: Ticket, ex: &mut Exchange, out: &mut Vec<Action>) {
        let status = ex.status;
        self.note(
            out,
            ex,
            ticket,
            TraceEvent::Cache {
                status,
                age_s: None,
            },
        );
        self.go_upstream(now, ticket, ex, out);
    }

    /// Collapsing: true if the request now waits behind another for the same key.
    fn join_or_take_lock(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        out: &mut Vec<Action>,
    ) -> bool {
        let key = ex.req.key;
        let policy = &self.settings.policy;
        let (collapse_age, collapse_timeout) = (policy.collapse_age, policy.collapse_timeout);
        // One probe of the lock table per miss, found or not (`entry`, not `get` then
        // `insert`): every miss at every node takes or joins a lock.
        match self.locks.entry(key) {
            Entry::Occupied(lock) if now.saturating_since(lock.get().started) < collapse_age => {
                lock.into_mut().waiters.push(ticket);
                let until = now + collapse_timeout;
                ex.phase = Phase::Waiting { until };
                self.note(out, ex, ticket, TraceEvent::Collapsed);
                out.push(Action::Wait { ticket, until });
                true
            }
            Entry::Occupied(lock) => {
                // The request ahead has been upstream longer than collapse_age: one more may
                // go (nginx proxy_cache_lock_age), sharing the lock.
                let lock = lock.into_mut();
                lock.started = now;
                ex.lock = Some(lock.id);
                false
            }
            Entry::Vacant(vacant) => {
                self.next_lock += 1;
                let id = self.next_lock;
                vacant.insert(Lock {
                    id,
                    started: now,
                    waiters: Vec::new(),
                });
                ex.lock = Some(id);
                false
            }
        }
    }

    /// Upstream's answer to `ex`: revalidation, stale-if-error, or storing and serving it.
    pub(crate) fn received_answer(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        if resp.status == 304 && ex.conditional.is_some() {
            match self.revalidated(now, ex.sent_at, &ex.req, resp) {
                Some(refreshed) => {
                    ex.status = CacheStatus::Revalidated;
                    self.note(out, ex, ticket, TraceEvent::Revalidated);
                    self.settle(now, ticket, ex, &refreshed, true, out);
                }
                None => {
                    // The copy was evicted meanwhile: fetch it in full.
                    ex.conditional = None;
                    self.go_upstream(now, ticket, ex, out);
                }
            }
            return;
        }
        if is_error_for_stale(resp.status) {
            if let OnError::ServeStale(stale) = self.on_error(now, &ex.req, resp.status, false) {
                ex.status = CacheStatus::Stale;
                let instead_of = resp.status;
                self.note(out, ex, ticket, TraceEvent::ServedStale { instead_of });
                self.settle(now, ticket, ex, &stale, false, out);
                return;
            }
        }
        let outcome = if ex.no_store {
            StoreOutcome::NotStored {
                bypass: false,
                reason: "collapse timeout: fetched uncached",
            }
        } else {
            self.store(now, ex.sent_at, &ex.req, resp)
        };
        self.note_store(ticket, ex, outcome, out);
        self.settle(now, ticket, ex, resp, outcome.stored(), out);
    }

    /// Upstream could not answer `ex`; `generated` is the error this node's vendor generates
    /// for the failure. The node serves a stale copy if it may, generates 504 for a stale
    /// copy that must be revalidated (RFC 9111 §5.2.2.2), or answers `generated` (and caches
    /// it where a TTL applies: negative caching).
    pub(crate) fn gave_up(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        generated: Response,
        out: &mut Vec<Action>,
    ) {
        match self.on_error(now, &ex.req, generated.status, true) {
            OnError::ServeStale(stale) => {
                ex.status = CacheStatus::Stale;
                let instead_of = generated.status;
                self.note(out, ex, ticket, TraceEvent::ServedStale { instead_of });
                self.settle(now, ticket, ex, &stale, false, out);
            }
            OnError::GatewayTimeout => {
                let reason = MUST_REVALIDATE_504;
                let resp = Response::generated(self.tier(), 504, reason).dated(now);
                let event = TraceEvent::Generated {
                    status: 504,
                    reason,
                };
                self.note(out, ex, ticket, event);
                self.settle(now, ticket, ex, &resp, false, out);
            }
            OnError::PassError => {
                let reason = generated.reason.unwrap_or("");
                let event = TraceEvent::Generated {
                    status: generated.status,
                    reason,
                };
                self.note(out, ex, ticket, event);
                let outcome = self.store(now, now, &ex.req, &generated);
                self.note_store(ticket, ex, outcome, out);
                self.settle(now, ticket, ex, &generated, outcome.stored(), out);
            }
        }
    }

    /// A request waited `collapse_timeout`: it goes upstream itself and its answer is not
    /// stored (nginx `proxy_cache_lock_timeout`).
    pub(crate) fn collapse_timeout(&mut self, now: Instant, ticket: Ticket, out: &mut Vec<Action>) {
        let Some(mut ex) = self.exchanges.remove(&ticket) else {
            return;
        };
        if let Some(lock) = self.locks.get_mut(&ex.req.key) {
            lock.waiters.retain(|&w| w != ticket);
        }
        ex.collapse = false;
        ex.no_store = true;
        ex.phase = Phase::Deciding;
        self.note(out, &ex, ticket, TraceEvent::CollapseTimeout);
        self.forward(now, ticket, &mut ex, out);
    }

    fn note_store(
        &mut self,
        ticket: Ticket,
        ex: &mut Exchange,
        outcome: StoreOutcome,
        out: &mut Vec<Action>,
    ) {
        match outcome {
            StoreOutcome::Stored { ttl } => {
                let event = TraceEvent::Stored {
                    ttl_s: ttl.as_secs(),
                };
                self.note(out, ex, ticket, event);
            }
            StoreOutcome::NotStored { bypass, reason } => {
                if bypass && matches!(ex.status, CacheStatus::Miss | CacheStatus::Expired) {
                    ex.status = CacheStatus::Bypass;
                }
                self.note(out, ex, ticket, TraceEvent::NotStored { reason });
            }
        }
    }

    /// The node has its answer for `ticket`: answer downstream, then release the requests
    /// collapsed behind it.
    fn settle(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &Exchange,
        resp: &Response,
        stored: bool,
        out: &mut Vec<Action>,
    ) {
        if ex.background {
            self.revalidation_done(&ex.req);
        }
        let validated = !matches!(ex.status, CacheStatus::Stale | CacheStatus::Updating);
        let downstream = if validated { ex.downstream } else { None };
        self.answer_validated(out, ex.notes, ticket, resp, downstream, ex.status);
        if let Some(id) = ex.lock {
            self.release(now, ex.req.key, id, stored, out);
        }
    }

    fn release(
        &mut self,
        now: Instant,
        key: CacheKey,
        id: u64,
        stored: bool,
        out: &mut Vec<Action>,
    ) {
        // One probe: the lock is taken out only if it is still this request's.
        let lock = match self.locks.entry(key) {
            Entry::Occupied(lock) if lock.get().id == id => lock.remove(),
            _ => return, // another request sharing the lock answered first
        };
        let mut waiters = lock.waiters.into_iter();
        if stored {
            for w in waiters {
                let Some(mut ex) = self.exchanges.remove(&w) else {
                    continue;
                };
                // Served from the stored answer if it is servable as is; otherwise (e.g.
                // `no-cache`) it goes on without collapsing.
                ex.phase = Phase::Deciding;
                ex.collapse = false;
                let lookup = self.lookup(now, &ex.req);
                self.handle(now, w, &mut ex, lookup, out);
            }
            return;
        }
        match self.settings.policy.collapse_uncacheable {
            UncacheablePolicy::All => {
                for w in waiters {
                    if let Some(mut ex) = self.exchanges.remove(&w) {
                        ex.phase = Phase::Deciding;
                        ex.collapse = false;
                        self.forward(now, w, &mut ex, out);
                    }
                }
            }
            UncacheablePolicy::OneAtATime => {
                // nginx: the next waiter goes upstream; the rest keep waiting behind it.
                let next = waiters.by_ref().find(|w| self.exchanges.contains_key(w));
                let Some(next) = next else { return };
                let rest: Vec<Ticket> = waiters.collect();
                self.next_lock += 1;
                let new_id = self.next_lock;
                self.locks.insert(
                    key,
                    Lock {
                        id: new_id,
                        started: now,
                        waiters: rest,
                    },
                );
                let mut ex = self.exchanges.remove(&next).expect("found");
                ex.lock = Some(new_id);
                ex.phase = Phase::Deciding;
                self.forward(now, next, &mut ex, out);
            }
        }
    }

    /// Requests this node is handling right now (upstream or waiting).
    pub fn requests_in_progress(&self) -> usize {
        self.exchanges.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cache::CacheControl;
    use crate::config::CdnConfig;
    use crate::egress::{EgressPool, EgressSelection};
    use crate::message::{CacheKey, Tier};
    use crate::node::{Hop, NodeSettings};
    use crate::profile::Profile;
    use std::time::Duration;

    pub(crate) fn node_with(tier: Tier, cdn: &CdnConfig, profile: Profile) -> CacheNode {
        let pool = EgressPool::new(
            &["127.0.1.1-127.0.1.4".parse().unwrap()],
            EgressSelection::RoundRobin,
            0,
        )
        .unwrap();
        CacheNode::new("n", tier, 1 << 20, pool).with_settings(NodeSettings::new(cdn, profile))
    }

    fn node() -> CacheNode {
        node_with(Tier::L2, &CdnConfig::default(), Profile::Nginx)
    }

    pub(crate) fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    pub(crate) fn ok(cc: &str, date: Instant) -> Response {
        let mut r = Response::generated(Tier::Origin, 200, "");
        r.reason = None;
        r.body_len = 10;
        r.date = date;
        r.cache_control = CacheControl::parse(cc);
        r
    }

    /// The hop of the `Connect` for `ticket` among `out`, if any.
    pub(crate) fn connect_hop(out: &[Action], ticket: Ticket) -> Option<Hop> {
        out.iter().find_map(|a| match a {
            Action::Connect(c) if c.ticket == ticket => Some(c.hop),
            _ => None,
        })
    }

    /// Connects `ticket`'s pending hop at `now` and returns the hop its request went out on.
    pub(crate) fn connect(n: &mut CacheNode, now: Instant, ticket: Ticket, hop: Hop) -> Hop {
        let mut out = Vec::new();
        n.connected(now, ticket, hop, &mut out);
        match out.as_slice() {
            [Action::Send { hop, .. }] => *hop,
            other => panic!("expected a Send, got {other:?}"),
        }
    }

    fn answered(out: &[Action]) -> Vec<(Ticket, CacheStatus)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Answer { ticket, status, .. } => Some((*ticket, *status)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn concurrent_misses_wait_and_are_served_from_the_stored_answer() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        for t in 0..3 {
            n.receive(at(0), t, &req, None, false, &mut out);
        }
        assert!(matches!(
            out[0],
            Action::Connect(crate::node::Connect { ticket: 0, .. })
        ));
        assert!(matches!(out[1], Action::Wait { ticket: 1, .. }));
        assert!(matches!(out[2], Action::Wait { ticket: 2, .. }));
        let hop = connect(&mut n, at(0), 0, connect_hop(&out, 0).unwrap());
        out.clear();
        n.answered(at(100), 0, hop, &ok("max-age=60", at(100)), &mut out);
        assert_eq!(
            answered(&out),
            [
                (0, CacheStatus::Miss),
                (1, CacheStatus::Hit),
                (2, CacheStatus::Hit)
            ]
        );
        assert_eq!(n.requests_in_progress(), 0);
    }

    #[test]
    fn uncacheable_answers_release_waiters_one_at_a_time() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        for t in 0..3 {
            n.receive(at(0), t, &req, None, false, &mut out);
        }
        let hop = connect(&mut n, at(0), 0, connect_hop(&out, 0).unwrap());
        out.clear();
        let err = Response::generated(Tier::Origin, 502, "bad").dated(at(100));
        n.answered(at(100), 0, hop, &err, &mut out);
        let forwards: Vec<_> = out
            .iter()
            .filter(|a| matches!(a, Action::Connect(_)))
            .collect();
        assert_eq!(forwards.len(), 1, "{out:?}");
        let hop1 = connect(&mut n, at(100), 1, connect_hop(&out, 1).unwrap());
        out.clear();
        n.answered(at(200), 1, hop1, &err, &mut out);
        assert!(connect_hop(&out, 2).is_some(), "{out:?}");
    }

    #[test]
    fn a_timed_out_waiter_goes_upstream_and_its_answer_is_not_stored() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        n.receive(at(0), 0, &req, None, false, &mut out);
        n.receive(at(0), 1, &req, None, false, &mut out);
        let hop0 = connect(&mut n, at(0), 0, connect_hop(&out, 0).unwrap());
        out.clear();
        // An early timer is ignored.
        n.timer(at(4999), 1, &mut out);
        assert!(out.is_empty(), "{out:?}");
        n.timer(at(5000), 1, &mut out);
        let hop1 = connect(&mut n, at(5000), 1, connect_hop(&out, 1).unwrap());
        out.clear();
        n.answered(at(5100), 1, hop1, &ok("max-age=60", at(5100)), &mut out);
        assert_eq!(n.cache().len(), 0);
        // The leader's answer is still stored.
        n.answered(at(6000), 0, hop0, &ok("max-age=60", at(6000)), &mut out);
        assert_eq!(n.cache().len(), 1);
    }

    #[test]
    fn answer_validated_makes_the_answer_not_modified_for_would() {
        // Every combination of status, validators and notes: the same actions as
        // `answer` of `not_modified_for(..).unwrap_or(resp)`, which it replaces in `settle`.
        let n = node();
        let mut base = ok("max-age=60", at(0));
        base.etag = Some(crate::message::Etag(7));
        base.age = Duration::from_secs(3);
        let mut error = base;
        error.status = 503;
        let tags = [None, Some(7), Some(8)];
        for resp in [base, error] {
            for tag in tags {
                let downstream = tag.map(|t| Validators {
                    etag: Some(crate::message::Etag(t)),
                    last_modified: None,
                });
                for (notes, status) in [
                    (false, CacheStatus::Miss),
                    (true, CacheStatus::Miss),
                    (true, CacheStatus::Revalidated),
                    (true, CacheStatus::Hit),
                ] {
                    let mut got = Vec::new();
                    n.answer_validated(&mut got, notes, 1, &resp, downstream, status);
                    let mut want = Vec::new();
                    let response = CacheNode::not_modified_for(&resp, downstream).unwrap_or(resp);
                    n.answer(&mut want, notes, 1, response, status);
                    assert_eq!(got, want, "{} {tag:?} {notes} {status:?}", resp.status);
                }
            }
        }
    }

    #[test]
    fn a_downstream_revalidation_of_a_fresh_copy_gets_a_304() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        n.receive(at(0), 0, &req, None, false, &mut out);
        let hop = connect(&mut n, at(0), 0, connect_hop(&out, 0).unwrap());
        let mut r = ok("max-age=60", at(0));
        r.etag = Some(crate::message::Etag(7));
        n.answered(at(0), 0, hop, &r, &mut out);
        out.clear();
        let v = Validators {
            etag: Some(crate::message::Etag(7)),
            last_modified: None,
        };
        n.receive(at(10), 1, &req, Some(v), false, &mut out);
        assert!(
            matches!(
                out[0],
                Action::Answer {
                    response: Response { status: 304, .. },
                    ..
                }
            ),
            "{out:?}"
        );
    }
}
