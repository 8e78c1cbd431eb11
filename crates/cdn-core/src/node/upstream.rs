//! The trip upstream of a request the cache could not answer: which peer, which source
//! address, how many connect attempts, what a failure means, when to try another route, and
//! which status the node generates when it gives up.
//!
//! ```text
//!  forward ─► Connect{until} ──connected──► Send{until} ──answered──► cache flow (store, serve)
//!                 │ hop_failed / timer          │ hop_failed / timer
//!                 ▼                             ▼
//!        connect failure and attempts left? ── yes ─► Connect (next attempt, new source)
//!                 │ no
//!        an L1 whose parent failed, not yet rerouted? ── next_parent ─► Connect (2nd parent)
//!                 │ relay                          └── go_direct ─► Connect (origin, own egress)
//!                 ▼
//!        the profile's generated error ─► cache flow (stale-if-error, 504, negative caching)
//! ```
//!
//! A parent that answers with a 5xx it generated itself counts as a failed parent too.

use super::action::{Action, Connect, Peer, Ticket, TlsPolicy};
use super::exchange::{Exchange, Phase};
use super::CacheNode;
use crate::config::ParentErrorPolicy;
use crate::failure::FailureKind;
use crate::message::{Response, Tier};
use crate::time::Instant;
use crate::topology::nth_parent;
use crate::trace::TraceEvent;

/// Failures of the connection itself: the SYN was refused, unanswered or unroutable, or the
/// name did not resolve. Their wait is counted from the first attempt.
fn connect_failure(kind: FailureKind) -> bool {
    kind.is_connect_failure()
}

impl CacheNode {
    /// Where this node's misses go first: an L1's primary parent for the key, an L2's origin.
    pub(crate) fn first_peer(&self, ex: &Exchange) -> Peer {
        match self.tier {
            Tier::L1 => {
                Peer::Parent(nth_parent(ex.req.key, self.settings.parents.max(1), 0) as u16)
            }
            _ => Peer::Origin,
        }
    }

    /// Sends `ex` upstream: the first connect attempt at its route's peer.
    pub(crate) fn go_upstream(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        out: &mut Vec<Action>,
    ) {
        ex.sent_at = now;
        ex.route.attempt = 0;
        ex.route.first_attempt = now;
        self.connect(now, ticket, ex, false, out);
        self.exchanges.insert(ticket, ex);
    }

    /// The next connect attempt for `ex` (the caller stores `ex`); `fresh` asks for a new
    /// connection even where an idle one could be reused (a retry after a failed exchange).
    fn connect(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        fresh: bool,
        out: &mut Vec<Action>,
    ) {
        let r = &mut ex.route;
        r.hop += 1;
        r.attempt += 1;
        let t = self.settings.timeouts;
        let until = now + t.connect;
        let action = match r.peer {
            Peer::Parent(_) => {
                // Connections between tiers are kept warm: always reuse one if there is one.
                r.source = None;
                Connect {
                    ticket,
                    hop: r.hop,
                    peer: r.peer,
                    port: 443,
                    tls: None,
                    source: None,
                    reuse: true,
                    attempt: r.attempt,
                    until,
                    handshake_timeout: t.read,
                    ack_timeout: None,
                }
            }
            Peer::Origin => {
                let leg = self.settings.ssl_mode.origin_leg(ex.req.scheme);
                let keepalive = self.settings.keepalive && !fresh;
                let (source, reuse) = self.take_connection(&ex.req, leg.port, keepalive);
                let r = &mut ex.route;
                r.source = Some(source);
                r.port = leg.port;
                Connect {
                    ticket,
                    hop: r.hop,
                    peer: Peer::Origin,
                    port: leg.port,
                    tls: leg.tls.then_some(TlsPolicy {
                        verify: leg.verify,
                        trust_origin_ca: self.settings.profile.trusts_origin_ca(),
                    }),
                    source: Some(source),
                    reuse,
                    attempt: r.attempt,
                    until,
                    handshake_timeout: t.read,
                    // Cloudflare's TCP ACK timeout (90 s → 522), where it is shorter than the
                    // read timeout that would fire otherwise.
                    ack_timeout: t.ack.filter(|&a| a < t.read),
                }
            }
        };
        ex.phase = Phase::Connecting { since: now, until };
        out.push(Action::Connect(action));
    }

    /// TCP is up for `hop` and a TLS handshake starts: from now it has the handshake timeout
    /// (a slow or silent handshake is not a connect timeout). Stale inputs are ignored.
    pub fn tcp_connected(&mut self, now: Instant, ticket: Ticket, hop: u32) {
        let handshake = self.settings.timeouts.read;
        if let Some(ex) = self.exchanges.get_mut(&ticket) {
            if let (true, Phase::Connecting { since, .. }) = (ex.route.hop == hop, ex.phase) {
                ex.phase = Phase::Handshaking {
                    since,
                    until: now + handshake,
                };
            }
        }
    }

    /// The connection for `hop` is open (and its TLS handshake done): the request goes out.
    /// Stale or unexpected inputs are ignored.
    pub fn connected(&mut self, now: Instant, ticket: Ticket, hop: u32, out: &mut Vec<Action>) {
        let read = self.settings.timeouts;
        let Some(ex) = self.exchanges.get_mut(&ticket) else {
            return;
        };
        let connecting = matches!(
            ex.phase,
            Phase::Connecting { .. } | Phase::Handshaking { .. }
        );
        if ex.route.hop != hop || !connecting {
            return;
        }
        let (until, ack_timeout) = match ex.route.peer {
            Peer::Parent(_) => (now + read.parent_read, None),
            // A request the origin's TCP never acknowledges fails sooner where the vendor has
            // an ACK timeout shorter than its read timeout (Cloudflare: 90 s → 522).
            Peer::Origin => (now + read.read, read.ack.filter(|&a| a < read.read)),
        };
        ex.phase = Phase::Awaiting { since: now, until };
        out.push(Action::Send {
            ticket,
            hop,
            conditional: ex.conditional,
            until,
            ack_timeout,
        });
    }

    /// The hop `hop` of `ticket` failed with `kind` (refused, reset, TLS, DNS, ...). Stale
    /// inputs are ignored.
    ///
    /// This is the whole of a driver's part in a failed hop: report the
    /// [`FailureKind`] and carry out the actions. The node decides the rest — another
    /// attempt or another parent if the profile retries `kind`, a stale copy if one may be
    /// served, else the error its profile generates ([`CacheNode::generated_error`]:
    /// [`Profile::error_with`](crate::Profile::error_with) →
    /// [`Response::generated`](crate::Response::generated)), answered to every request
    /// waiting on this exchange. A driver never builds the error response itself.
    pub fn hop_failed(
        &mut self,
        now: Instant,
        ticket: Ticket,
        hop: u32,
        kind: FailureKind,
        out: &mut Vec<Action>,
    ) {
        let current = self.exchanges.get(&ticket).is_some_and(|ex| {
            ex.route.hop == hop
                && matches!(
                    ex.phase,
                    Phase::Connecting { .. } | Phase::Handshaking { .. } | Phase::Awaiting { .. }
                )
        });
        if current {
            let mut ex = self.exchanges.remove(&ticket).expect("checked");
            self.upstream_failed(now, ticket, &mut ex, kind, out);
        }
    }

    /// A deadline this node asked for has come (a [`Action::Wait`], [`Action::Connect`] or
    /// [`Action::Send`] `until`). Early or stale timers are ignored, so a driver may arm them
    /// lazily and never cancel one.
    pub fn timer(&mut self, now: Instant, ticket: Ticket, out: &mut Vec<Action>) {
        let Some(ex) = self.exchanges.get(&ticket) else {
            return;
        };
        let kind = match ex.phase {
            Phase::Waiting { until } if now >= until => {
                self.collapse_timeout(now, ticket, out);
                return;
            }
            Phase::Connecting { until, .. } if now >= until => FailureKind::ConnectTimeout,
            // A handshake that never finishes is a timeout reading the peer's answer.
            Phase::Handshaking { until, .. } if now >= until => FailureKind::ReadTimeout,
            Phase::Awaiting { until, .. } if now >= until => FailureKind::ReadTimeout,
            _ => return,
        };
        let mut ex = self.exchanges.remove(&ticket).expect("present");
        self.upstream_failed(now, ticket, &mut ex, kind, out);
    }

    /// Upstream answered hop `hop` of `ticket` with `resp`. Stale inputs are ignored.
    pub fn answered(
        &mut self,
        now: Instant,
        ticket: Ticket,
        hop: u32,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        // Copied out once, then dropped from the table (`remove` returned an `Option` the
        // caller copied again: two memcpys of the exchange per answer).
        let mut ex = match self.exchanges.get(&ticket) {
            Some(ex) if ex.route.hop == hop && matches!(ex.phase, Phase::Awaiting { .. }) => *ex,
            _ => return,
        };
        self.exchanges.discard(ticket);
        let r = ex.route;
        // A head over the vendor's limit is a failed hop (Cloudflare 520, nginx 502).
        let head = u64::from(resp.header_bytes);
        if let Some(kind) = self.settings.timeouts.header_failure(head) {
            self.upstream_failed(now, ticket, &mut ex, kind, out);
            return;
        }
        // A parent that generated a server error of its own counts as a failed parent
        // (where the vendor retries on such answers).
        let parent_failed = matches!(r.peer, Peer::Parent(_))
            && self.settings.reroute_on_parent_5xx
            && resp.generated_by == Tier::L2
            && resp.is_server_error();
        if parent_failed && self.reroute(now, ticket, &mut ex, out) {
            self.exchanges.insert(ticket, &ex);
            return;
        }
        // An origin's own 5xx, where the vendor retries on it (Alibaba).
        let upstream = FailureKind::UpstreamStatus(resp.status);
        let timeouts = self.settings.timeouts;
        let retry = timeouts.retries(upstream, r.attempt);
        if r.peer == Peer::Origin && resp.is_server_error() && retry {
            let since = match ex.phase {
                Phase::Awaiting { since, .. } => since,
                _ => now,
            };
            let waited = now.saturating_since(since);
            let event = TraceEvent::Failed {
                failure: upstream,
                waited,
            };
            self.note(out, &ex, ticket, event);
            self.connect(now, ticket, &mut ex, true, out);
            self.exchanges.insert(ticket, &ex);
            return;
        }
        if let (Peer::Origin, Some(source), true) = (r.peer, r.source, self.settings.keepalive) {
            self.return_connection(source, r.port);
        }
        ex.phase = Phase::Deciding;
        self.received_answer(now, ticket, &mut ex, resp, out);
    }

    /// The current hop failed: another attempt, another route, or the generated error.
    fn upstream_failed(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        kind: FailureKind,
        out: &mut Vec<Action>,
    ) {
        let since = match ex.phase {
            Phase::Connecting { since, .. }
            | Phase::Handshaking { since, .. }
            | Phase::Awaiting { since, .. } => since,
            Phase::Deciding | Phase::Waiting { .. } => now,
        };
        let timeouts = self.settings.timeouts;
        if ex.route.peer == Peer::Origin && timeouts.retries(kind, ex.route.attempt) {
            let waited = now.saturating_since(since);
            let event = TraceEvent::Failed {
                failure: kind,
                waited,
            };
            self.note(out, ex, ticket, event);
            // A connection that carried the request is dropped: the retry opens a new one.
            let fresh = !connect_failure(kind);
            self.connect(now, ticket, ex, fresh, out);
            self.exchanges.insert(ticket, ex);
            return;
        }
        let waited = if connect_failure(kind) {
            now.saturating_since(ex.route.first_attempt)
        } else {
            now.saturating_since(since)
        };
        self.note(
            out,
            ex,
            ticket,
            TraceEvent::Failed {
                failure: kind,
                waited,
            },
        );
        if matches!(ex.route.peer, Peer::Parent(_)) && self.reroute(now, ticket, ex, out) {
            self.exchanges.insert(ticket, ex);
            return;
        }
        ex.phase = Phase::Deciding;
        let generated = self.generated_error(now, kind);
        self.gave_up(now, ticket, ex, generated, out);
    }

    /// Applies `on_parent_error` once per request; true if the request now goes elsewhere
    /// (the caller stores `ex`).
    fn reroute(
        &mut self,
        now: Instant,
        ticket: Ticket,
        ex: &mut Exchange,
        out: &mut Vec<Action>,
    ) -> bool {
        if ex.route.rerouted {
            return false;
        }
        let parents = self.settings.parents;
        let (peer, policy) = match self.settings.on_parent_error {
            ParentErrorPolicy::Relay => return false,
            ParentErrorPolicy::NextParent if parents < 2 => return false,
            ParentErrorPolicy::NextParent => (
                Peer::Parent(nth_parent(ex.req.key, parents, 1) as u16),
                "next_parent",
            ),
            ParentErrorPolicy::GoDirect => (Peer::Origin, "go_direct"),
        };
        ex.route.rerouted = true;
        ex.route.peer = peer;
        ex.route.attempt = 0;
        ex.route.first_attempt = now;
        self.note(out, ex, ticket, TraceEvent::Retry { policy });
        self.connect(now, ticket, ex, false, out);
        true
    }

    /// The response this node generates for a failed hop: the profile's code and wording
    /// (with the scenario's `cert_error_status` for certificate failures), dated `now`.
    ///
    /// ```
    /// use cdn_core::{node::{CacheNode, NodeSettings}, EgressPool, EgressSelection, FailureKind, Instant, Profile, Tier, CdnConfig};
    /// let pool = EgressPool::new(&["127.0.1.1".parse().unwrap()], EgressSelection::RoundRobin, 0).unwrap();
    /// let node = CacheNode::new("shield", Tier::L2, 1 << 20, pool)
    ///     .with_settings(NodeSettings::new(&CdnConfig::default(), Profile::Nginx));
    /// let r = node.generated_error(Instant::ZERO, FailureKind::ConnectTimeout);
    /// assert_eq!((r.status, r.generated_by), (504, Tier::L2));
    /// ```
    pub fn generated_error(&self, now: Instant, kind: FailureKind) -> Response {
        let s = &self.settings;
        let e = s.profile.error_with(kind, s.cert_error_status);
        let mut r = Response::generated(self.tier, e.status, e.reason).dated(now);
        r.failure = Some(kind);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::tests::{at, connect, connect_hop, node_with, ok};
    use super::*;
    use crate::cache::CacheStatus;
    use crate::config::{CdnConfig, NodeConfig, NodeState};
    use crate::failure::CertProblem;
    use crate::message::{CacheKey, Request};
    use crate::node::Connect;
    use crate::profile::Profile;
    use std::time::Duration;

    fn cdn(on_parent_error: ParentErrorPolicy, parents: usize) -> CdnConfig {
        CdnConfig {
            on_parent_error,
            l2: (0..parents)
                .map(|i| NodeConfig::named(format!("s{i}")))
                .collect(),
            ..CdnConfig::default()
        }
    }

    fn connects(out: &[Action]) -> Vec<Connect> {
        out.iter()
            .filter_map(|a| match a {
                Action::Connect(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    fn answer(out: &[Action]) -> Option<(u16, Tier, CacheStatus)> {
        out.iter().find_map(|a| match a {
            Action::Answer {
                response, status, ..
            } => Some((response.status, response.generated_by, *status)),
            _ => None,
        })
    }

    #[test]
    fn connect_failures_retry_from_a_new_egress_address_up_to_the_attempts() {
        // CloudFront: three attempts of 10 s each, then 504 for the timeouts.
        let mut n = node_with(Tier::L2, &CdnConfig::default(), Profile::Cloudfront);
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, true, &mut out);
        let mut sources = Vec::new();
        for attempt in 1..=3u64 {
            let c = *connects(&out).last().expect("a connect attempt");
            assert_eq!((c.attempt as u64, c.until), (attempt, at(attempt * 10_000)));
            sources.push(c.source.unwrap());
            out.clear();
            n.timer(c.until, 1, &mut out);
        }
        assert_eq!(answer(&out), Some((504, Tier::L2, CacheStatus::Miss)));
        assert_eq!(sources.len(), 3);
        assert!(
            sources[0] != sources[1] && sources[1] != sources[2],
            "{sources:?}"
        );
        let waited = out.iter().find_map(|a| match a {
            Action::Note {
                event: TraceEvent::Failed { waited, .. },
                ..
            } => Some(*waited),
            _ => None,
        });
        assert_eq!(
            waited,
            Some(Duration::from_secs(30)),
            "the last note sums the attempts"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_not_retried() {
        let mut n = node_with(Tier::L2, &CdnConfig::default(), Profile::Cloudfront);
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, false, &mut out);
        let hop = connect_hop(&out, 1).unwrap();
        out.clear();
        n.hop_failed(at(0), 1, hop, FailureKind::Dns, &mut out);
        assert_eq!(answer(&out), Some((502, Tier::L2, CacheStatus::Miss)));
    }

    #[test]
    fn the_read_deadline_gives_the_profiles_timeout_code_and_stale_inputs_are_ignored() {
        let mut n = node_with(Tier::L2, &CdnConfig::default(), Profile::Cloudflare);
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, false, &mut out);
        let hop = connect(&mut n, at(20), 1, connect_hop(&out, 1).unwrap());
        out.clear();
        let read = n.settings().timeouts.read;
        n.timer(at(19) + read, 1, &mut out);
        assert!(out.is_empty(), "an early timer does nothing: {out:?}");
        n.answered(at(30), 1, hop + 1, &ok("max-age=60", at(30)), &mut out);
        assert!(
            out.is_empty(),
            "an answer for another hop does nothing: {out:?}"
        );
        n.timer(at(20) + read, 1, &mut out);
        assert_eq!(answer(&out), Some((524, Tier::L2, CacheStatus::Miss)));
        out.clear();
        n.answered(at(20) + read, 1, hop, &ok("max-age=60", at(30)), &mut out);
        assert!(
            out.is_empty(),
            "a late answer after the timeout does nothing"
        );
    }

    #[test]
    fn next_parent_tries_the_second_parent_once_then_generates_at_l1() {
        let mut n = node_with(
            Tier::L1,
            &cdn(ParentErrorPolicy::NextParent, 3),
            Profile::Nginx,
        );
        let req = Request::get(CacheKey(42));
        let mut out = Vec::new();
        n.receive(at(0), 1, &req, None, false, &mut out);
        let first = connects(&out)[0];
        let order = crate::topology::parents_for(req.key, 3);
        assert_eq!(first.peer, Peer::Parent(order[0] as u16));
        out.clear();
        n.hop_failed(at(10), 1, first.hop, FailureKind::Refused, &mut out);
        let second = connects(&out)[0];
        assert_eq!(second.peer, Peer::Parent(order[1] as u16));
        out.clear();
        n.hop_failed(at(20), 1, second.hop, FailureKind::Refused, &mut out);
        assert_eq!(answer(&out), Some((502, Tier::L1, CacheStatus::Miss)));
    }

    #[test]
    fn a_parents_own_5xx_counts_as_a_failed_parent_but_the_origins_does_not() {
        let mut n = node_with(
            Tier::L1,
            &cdn(ParentErrorPolicy::GoDirect, 1),
            Profile::Cloudflare,
        );
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, false, &mut out);
        let hop = connect(&mut n, at(0), 1, connect_hop(&out, 1).unwrap());
        out.clear();
        let origin_503 = Response::generated(Tier::Origin, 503, "").dated(at(5));
        n.answered(at(5), 1, hop, &origin_503, &mut out);
        assert_eq!(answer(&out), Some((503, Tier::Origin, CacheStatus::Miss)));

        out.clear();
        n.receive(at(10), 2, &Request::get(CacheKey(2)), None, false, &mut out);
        let hop = connect(&mut n, at(10), 2, connect_hop(&out, 2).unwrap());
        out.clear();
        let l2_522 = Response::generated(Tier::L2, 522, "").dated(at(15));
        n.answered(at(15), 2, hop, &l2_522, &mut out);
        let direct = connects(&out)[0];
        assert_eq!(direct.peer, Peer::Origin);
        assert_eq!(
            direct.source,
            Some("127.0.1.1".parse().unwrap()),
            "from L1's own egress"
        );
    }

    #[test]
    fn relay_passes_a_parents_error_on() {
        let mut n = node_with(
            Tier::L1,
            &cdn(ParentErrorPolicy::Relay, 2),
            Profile::Cloudflare,
        );
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, false, &mut out);
        let hop = connect(&mut n, at(0), 1, connect_hop(&out, 1).unwrap());
        out.clear();
        let l2_521 = Response::generated(Tier::L2, 521, "").dated(at(5));
        n.answered(at(5), 1, hop, &l2_521, &mut out);
        assert_eq!(answer(&out), Some((521, Tier::L2, CacheStatus::Miss)));
    }

    #[test]
    fn a_hung_node_accepts_and_never_answers() {
        let mut n = node_with(Tier::L2, &CdnConfig::default(), Profile::Cloudflare);
        n.set_state(NodeState::Hung);
        let mut out = Vec::new();
        n.receive(at(0), 1, &Request::get(CacheKey(1)), None, true, &mut out);
        assert!(out.is_empty());
        assert!(n.listening());
        n.set_state(NodeState::Down);
        assert!(!n.listening());
    }

    #[test]
    fn cert_error_status_overrides_only_certificate_failures() {
        let cdn = CdnConfig {
            cert_error_status: Some(503),
            ..CdnConfig::default()
        };
        let n = node_with(Tier::L2, &cdn, Profile::Alibaba);
        let cert = FailureKind::Certificate(CertProblem::Expired);
        assert_eq!(n.generated_error(at(0), cert).status, 503);
        assert_eq!(
            n.generated_error(at(0), FailureKind::TlsHandshake).status,
            502
        );
    }
}
