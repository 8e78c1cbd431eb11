//! The request flow at one cache node, as a sans-IO state machine.
//!
//! A driver (the simulator, or a real proxy) hands the node a request with a [`Ticket`] of its
//! choosing and later the upstream outcome for that ticket; the node answers with
//! [`Action`]s for the driver to carry out:
//!
//! ```text
//!  receive(ticket, request) ──► Answer (HIT / STALE / UPDATING)        ─► send downstream
//!                           ├─► Forward (MISS / EXPIRED, maybe conditional) ─► ask upstream
//!                           │      answered(ticket, response) ─► Answer (+ waiters' actions)
//!                           │      failed(ticket, error)      ─► Answer (+ waiters' actions)
//!                           ├─► Wait until T (collapsed behind another request)
//!                           │      collapse_timeout(ticket) at T ─► Forward (uncached)
//!                           └─► Revalidate (start a background request: receive_background)
//! ```
//!
//! Everything a cache decides — freshness, stale serving, 304s, negative caching, collapsing
//! with its timeout, age and uncacheable policy — happens here, so both drivers behave the
//! same by construction. Actions go into a caller-provided `Vec` so the hot path does not
//! allocate.

use super::{is_error_for_stale, CacheNode, Lookup, OnError, StoreOutcome, Validators};
use crate::cache::{CachePolicy, CacheStatus, UncacheablePolicy};
use crate::message::{CacheKey, Request, Response};
use crate::time::Instant;
use crate::trace::TraceEvent;

/// Why a cache generates 504 instead of serving its stale copy (RFC 9111 §5.2.2.2).
pub const MUST_REVALIDATE_504: &str = "stale copy may not be served without revalidation \
     (must-revalidate / s-maxage / no-cache) and upstream is unreachable";

/// A driver's handle for one request at one node. Unique among the node's requests in
/// progress; the driver may reuse it once the node has answered it.
pub type Ticket = u64;

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send `response` downstream for `ticket`; the node is done with it. `status` is this
    /// node's cache status for the request.
    Answer {
        /// The request.
        ticket: Ticket,
        /// What to send (a 304 when the downstream's validators match a validated copy).
        response: Response,
        /// The cache status at this node.
        status: CacheStatus,
    },
    /// Send the request upstream now, conditional when `conditional` is set; report the
    /// outcome with [`CacheNode::answered`] or [`CacheNode::failed`].
    Forward {
        /// The request.
        ticket: Ticket,
        /// Validators for `If-None-Match` / `If-Modified-Since`.
        conditional: Option<Validators>,
        /// The cache status so far (`MISS`, `EXPIRED`, `BYPASS`, `DYNAMIC`).
        status: CacheStatus,
    },
    /// The request waits behind another request for the same key. Call
    /// [`CacheNode::collapse_timeout`] at `until` unless an action for it came first.
    Wait {
        /// The request.
        ticket: Ticket,
        /// The collapse deadline.
        until: Instant,
    },
    /// Start a background revalidation (`stale-while-revalidate`): create a request no
    /// client waits for and pass it to [`CacheNode::receive_background`].
    Revalidate {
        /// What to revalidate.
        req: Request,
        /// The stale copy's validators.
        conditional: Option<Validators>,
    },
    /// Something worth a line in the request's trace (only for requests received with
    /// `notes = true`).
    Note {
        /// The request.
        ticket: Ticket,
        /// What happened.
        event: TraceEvent,
    },
}

/// A request the node has forwarded or is holding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    req: Request,
    /// Validators the downstream sent: answer 304 when they match a validated copy.
    downstream: Option<Validators>,
    status: CacheStatus,
    /// This node's validators, sent upstream.
    conditional: Option<Validators>,
    /// When the request went upstream (RFC 9111 §4.2.3 request_time).
    sent_at: Instant,
    /// The collapse lock this request leads or shares.
    lock: Option<u64>,
    waiting: bool,
    no_collapse: bool,
    /// A collapse timeout sent it upstream: its answer is not stored (nginx).
    no_store: bool,
    background: bool,
    notes: bool,
}

/// A collapse lock: one request for a key is upstream; others wait behind it.
#[derive(Debug)]
pub(crate) struct Lock {
    id: u64,
    started: Instant,
    waiters: Vec<Ticket>,
}

fn note(out: &mut Vec<Action>, ex: &Exchange, ticket: Ticket, event: TraceEvent) {
    if ex.notes {
        out.push(Action::Note { ticket, event });
    }
}

impl CacheNode {
    /// A request reaches this node. `downstream` carries the validators the downstream tier
    /// sent (it revalidates its own copy); `collapse` enables the cache lock; `notes` asks for
    /// [`Action::Note`]s.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        collapse: bool,
        ticket: Ticket,
        req: &Request,
        downstream: Option<Validators>,
        notes: bool,
        out: &mut Vec<Action>,
    ) {
        let lookup = self.lookup(now, policy, req);
        let ex = Exchange {
            req: *req,
            downstream,
            status: CacheStatus::Miss,
            conditional: None,
            sent_at: now,
            lock: None,
            waiting: false,
            no_collapse: !collapse,
            no_store: false,
            background: false,
            notes,
        };
        self.handle(now, policy, ticket, ex, lookup, out);
    }

    /// Starts a background revalidation asked for by [`Action::Revalidate`], under a new
    /// ticket. It is forwarded at once; its answer refreshes the cache and is not for anyone.
    pub fn receive_background(
        &mut self,
        now: Instant,
        ticket: Ticket,
        req: &Request,
        conditional: Option<Validators>,
        out: &mut Vec<Action>,
    ) {
        let ex = Exchange {
            req: *req,
            downstream: None,
            status: CacheStatus::Expired,
            conditional,
            sent_at: now,
            lock: None,
            waiting: false,
            no_collapse: true,
            no_store: false,
            background: true,
            notes: false,
        };
        self.forward(now, ticket, ex, out);
    }

    fn handle(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        ticket: Ticket,
        mut ex: Exchange,
        lookup: Lookup,
        out: &mut Vec<Action>,
    ) {
        match lookup {
            Lookup::Hit(resp) => {
                let response = CacheNode::not_modified_for(&resp, ex.downstream).unwrap_or(resp);
                out.push(Action::Answer {
                    ticket,
                    response,
                    status: CacheStatus::Hit,
                });
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
                let status = if revalidate {
                    CacheStatus::Stale
                } else {
                    CacheStatus::Updating
                };
                out.push(Action::Answer {
                    ticket,
                    response,
                    status,
                });
            }
            Lookup::Forward {
                status,
                conditional,
            } => {
                ex.status = status;
                ex.conditional = conditional;
                let collapsible = matches!(status, CacheStatus::Miss | CacheStatus::Expired);
                if collapsible
                    && !ex.no_collapse
                    && self.join_or_take_lock(now, policy, ticket, &mut ex, out)
                {
                    self.exchanges.insert(ticket, ex);
                    return;
                }
                self.forward(now, ticket, ex, out);
            }
        }
    }

    fn forward(&mut self, now: Instant, ticket: Ticket, mut ex: Exchange, out: &mut Vec<Action>) {
        ex.sent_at = now;
        ex.waiting = false;
        out.push(Action::Forward {
            ticket,
            conditional: ex.conditional,
            status: ex.status,
        });
        self.exchanges.insert(ticket, ex);
    }

    /// Collapsing: true if the request now waits behind another for the same key.
    fn join_or_take_lock(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        ticket: Ticket,
        ex: &mut Exchange,
        out: &mut Vec<Action>,
    ) -> bool {
        let key = ex.req.key;
        match self.locks.get_mut(&key) {
            Some(lock) if now.saturating_since(lock.started) < policy.collapse_age => {
                lock.waiters.push(ticket);
                ex.waiting = true;
                note(out, ex, ticket, TraceEvent::Collapsed);
                out.push(Action::Wait {
                    ticket,
                    until: now + policy.collapse_timeout,
                });
                true
            }
            Some(lock) => {
                // The request ahead has been upstream longer than collapse_age: one more may
                // go (nginx proxy_cache_lock_age), sharing the lock.
                lock.started = now;
                ex.lock = Some(lock.id);
                false
            }
            None => {
                self.next_lock += 1;
                let id = self.next_lock;
                self.locks.insert(
                    key,
                    Lock {
                        id,
                        started: now,
                        waiters: Vec::new(),
                    },
                );
                ex.lock = Some(id);
                false
            }
        }
    }

    /// Upstream answered `ticket` with `resp`.
    pub fn answered(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        ticket: Ticket,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        let Some(mut ex) = self.exchanges.remove(&ticket) else {
            return;
        };
        if resp.status == 304 && ex.conditional.is_some() {
            match self.revalidated(now, ex.sent_at, policy, &ex.req, resp) {
                Some(refreshed) => {
                    ex.status = CacheStatus::Revalidated;
                    note(out, &ex, ticket, TraceEvent::Revalidated);
                    self.settle(now, policy, ticket, ex, refreshed, true, out);
                }
                None => {
                    // The copy was evicted meanwhile: fetch it in full.
                    ex.conditional = None;
                    self.forward(now, ticket, ex, out);
                }
            }
            return;
        }
        if is_error_for_stale(resp.status) {
            if let OnError::ServeStale(stale) =
                self.on_error(now, policy, &ex.req, resp.status, false)
            {
                ex.status = CacheStatus::Stale;
                note(
                    out,
                    &ex,
                    ticket,
                    TraceEvent::ServedStale {
                        instead_of: resp.status,
                    },
                );
                self.settle(now, policy, ticket, ex, stale, false, out);
                return;
            }
        }
        let outcome = if ex.no_store {
            StoreOutcome::NotStored {
                bypass: false,
                reason: "collapse timeout: fetched uncached",
            }
        } else {
            self.store(now, ex.sent_at, policy, &ex.req, resp)
        };
        self.note_store(ticket, &mut ex, outcome, out);
        self.settle(now, policy, ticket, ex, *resp, outcome.stored(), out);
    }

    /// Upstream could not answer `ticket`; `generated` is the error this node's vendor
    /// generates for the failure. The node serves a stale copy if it may, generates 504 for a
    /// stale copy that must be revalidated (RFC 9111 §5.2.2.2), or answers `generated` (and
    /// caches it where a TTL applies: negative caching).
    pub fn failed(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        ticket: Ticket,
        generated: &Response,
        out: &mut Vec<Action>,
    ) {
        let Some(mut ex) = self.exchanges.remove(&ticket) else {
            return;
        };
        match self.on_error(now, policy, &ex.req, generated.status, true) {
            OnError::ServeStale(stale) => {
                ex.status = CacheStatus::Stale;
                let instead_of = generated.status;
                note(out, &ex, ticket, TraceEvent::ServedStale { instead_of });
                self.settle(now, policy, ticket, ex, stale, false, out);
            }
            OnError::GatewayTimeout => {
                let reason = MUST_REVALIDATE_504;
                let resp = Response::generated(self.tier(), 504, reason).dated(now);
                note(
                    out,
                    &ex,
                    ticket,
                    TraceEvent::Generated {
                        status: 504,
                        reason,
                    },
                );
                self.settle(now, policy, ticket, ex, resp, false, out);
            }
            OnError::PassError => {
                let reason = generated.reason.unwrap_or("");
                note(
                    out,
                    &ex,
                    ticket,
                    TraceEvent::Generated {
                        status: generated.status,
                        reason,
                    },
                );
                let outcome = self.store(now, now, policy, &ex.req, generated);
                self.note_store(ticket, &mut ex, outcome, out);
                self.settle(now, policy, ticket, ex, *generated, outcome.stored(), out);
            }
        }
    }

    /// A request waited `collapse_timeout`: it goes upstream itself and its answer is not
    /// stored (nginx `proxy_cache_lock_timeout`). Does nothing if it is no longer waiting.
    pub fn collapse_timeout(&mut self, now: Instant, ticket: Ticket, out: &mut Vec<Action>) {
        let Some(ex) = self.exchanges.get(&ticket) else {
            return;
        };
        if !ex.waiting {
            return;
        }
        let mut ex = self.exchanges.remove(&ticket).expect("present");
        if let Some(lock) = self.locks.get_mut(&ex.req.key) {
            lock.waiters.retain(|&w| w != ticket);
        }
        ex.no_collapse = true;
        ex.no_store = true;
        note(out, &ex, ticket, TraceEvent::CollapseTimeout);
        self.forward(now, ticket, ex, out);
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
                note(
                    out,
                    ex,
                    ticket,
                    TraceEvent::Stored {
                        ttl_s: ttl.as_secs(),
                    },
                );
            }
            StoreOutcome::NotStored { bypass, reason } => {
                if bypass && matches!(ex.status, CacheStatus::Miss | CacheStatus::Expired) {
                    ex.status = CacheStatus::Bypass;
                }
                note(out, ex, ticket, TraceEvent::NotStored { reason });
            }
        }
    }

    /// The node has its answer for `ticket`: release the requests collapsed behind it, then
    /// answer downstream.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        ticket: Ticket,
        ex: Exchange,
        resp: Response,
        stored: bool,
        out: &mut Vec<Action>,
    ) {
        if ex.background {
            self.revalidation_done(&ex.req);
        }
        let validated = !matches!(ex.status, CacheStatus::Stale | CacheStatus::Updating);
        let response = match validated {
            true => CacheNode::not_modified_for(&resp, ex.downstream).unwrap_or(resp),
            false => resp,
        };
        out.push(Action::Answer {
            ticket,
            response,
            status: ex.status,
        });
        if let Some(id) = ex.lock {
            self.release(now, policy, ex.req.key, id, stored, out);
        }
    }

    fn release(
        &mut self,
        now: Instant,
        policy: &CachePolicy,
        key: CacheKey,
        id: u64,
        stored: bool,
        out: &mut Vec<Action>,
    ) {
        if self.locks.get(&key).is_none_or(|l| l.id != id) {
            return; // another request sharing the lock answered first
        }
        let lock = self.locks.remove(&key).expect("checked");
        let mut waiters = lock.waiters.into_iter();
        if stored {
            for w in waiters {
                let Some(mut ex) = self.exchanges.remove(&w) else {
                    continue;
                };
                ex.waiting = false;
                // Served from the stored answer if it is servable as is; otherwise (e.g.
                // `no-cache`) it goes on without collapsing.
                ex.no_collapse = true;
                let lookup = self.lookup(now, policy, &ex.req);
                self.handle(now, policy, w, ex, lookup, out);
            }
            return;
        }
        match policy.collapse_uncacheable {
            UncacheablePolicy::All => {
                for w in waiters {
                    if let Some(mut ex) = self.exchanges.remove(&w) {
                        ex.no_collapse = true;
                        self.forward(now, w, ex, out);
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
                self.forward(now, next, ex, out);
            }
        }
    }

    /// Requests this node is handling right now (forwarded or waiting).
    pub fn requests_in_progress(&self) -> usize {
        self.exchanges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheControl;
    use crate::egress::{EgressPool, EgressSelection};
    use crate::message::{CacheKey, Tier};
    use crate::profile::Profile;
    use std::time::Duration;

    fn node() -> CacheNode {
        let pool = EgressPool::new(
            &["127.0.1.1".parse().unwrap()],
            EgressSelection::RoundRobin,
            0,
        )
        .unwrap();
        CacheNode::new("n", Tier::L2, 1 << 20, pool)
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn ok(cc: &str, date: Instant) -> Response {
        let mut r = Response::generated(Tier::Origin, 200, "");
        r.reason = None;
        r.body_len = 10;
        r.date = date;
        r.cache_control = CacheControl::parse(cc);
        r
    }

    fn policy() -> CachePolicy {
        CachePolicy::for_profile(Profile::Nginx)
    }

    #[test]
    fn concurrent_misses_wait_and_are_served_from_the_stored_answer() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        for t in 0..3 {
            n.receive(at(0), &policy(), true, t, &req, None, false, &mut out);
        }
        assert!(matches!(out[0], Action::Forward { ticket: 0, .. }));
        assert!(matches!(out[1], Action::Wait { ticket: 1, .. }));
        assert!(matches!(out[2], Action::Wait { ticket: 2, .. }));
        out.clear();
        n.answered(at(100), &policy(), 0, &ok("max-age=60", at(100)), &mut out);
        let answered: Vec<_> = out
            .iter()
            .filter_map(|a| match a {
                Action::Answer { ticket, status, .. } => Some((*ticket, *status)),
                _ => None,
            })
            .collect();
        assert_eq!(
            answered,
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
            n.receive(at(0), &policy(), true, t, &req, None, false, &mut out);
        }
        out.clear();
        let err = Response::generated(Tier::Origin, 502, "bad").dated(at(100));
        n.answered(at(100), &policy(), 0, &err, &mut out);
        let forwards: Vec<_> = out
            .iter()
            .filter(|a| matches!(a, Action::Forward { .. }))
            .collect();
        assert_eq!(forwards.len(), 1, "{out:?}");
        out.clear();
        n.answered(at(200), &policy(), 1, &err, &mut out);
        assert!(
            out.iter()
                .any(|a| matches!(a, Action::Forward { ticket: 2, .. })),
            "{out:?}"
        );
    }

    #[test]
    fn a_timed_out_waiter_goes_upstream_and_its_answer_is_not_stored() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        n.receive(at(0), &policy(), true, 0, &req, None, false, &mut out);
        n.receive(at(0), &policy(), true, 1, &req, None, false, &mut out);
        out.clear();
        n.collapse_timeout(at(5000), 1, &mut out);
        assert!(matches!(out[0], Action::Forward { ticket: 1, .. }));
        out.clear();
        n.answered(
            at(5100),
            &policy(),
            1,
            &ok("max-age=60", at(5100)),
            &mut out,
        );
        assert_eq!(n.cache().len(), 0);
        // The leader's answer is still stored.
        n.answered(
            at(6000),
            &policy(),
            0,
            &ok("max-age=60", at(6000)),
            &mut out,
        );
        assert_eq!(n.cache().len(), 1);
    }

    #[test]
    fn a_downstream_revalidation_of_a_fresh_copy_gets_a_304() {
        let mut n = node();
        let req = Request::get(CacheKey(1));
        let mut out = Vec::new();
        n.receive(at(0), &policy(), true, 0, &req, None, false, &mut out);
        let mut r = ok("max-age=60", at(0));
        r.etag = Some(crate::message::Etag(7));
        n.answered(at(0), &policy(), 0, &r, &mut out);
        out.clear();
        let v = Validators {
            etag: Some(crate::message::Etag(7)),
            last_modified: None,
        };
        n.receive(at(10), &policy(), true, 1, &req, Some(v), false, &mut out);
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
