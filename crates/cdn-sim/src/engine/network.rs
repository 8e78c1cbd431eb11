//! The simulated network: what the kernel and the wire would do with a node's connections.
//! This is the simulator's stand-in for sockets — it observes (refused, dropped, reset, TLS
//! failed, answered) and reports to the node, which decides what it means.
//!
//! Timing, from `[network]`: a TCP handshake is one RTT (the SYN's verdict is taken when it
//! reaches the origin, half an RTT in), TLS 1.3 one more, and a request/response one more
//! plus the origin's own time. A refused or unroutable SYN is known after one RTT; a dropped
//! one only at the connect deadline. Between tiers, connections are warm: an L2 that is up
//! (or hung) is connected at once, one that is down refuses after one RTT.

use super::slots::{Outcome, SlotId};
use super::{Engine, Ev};
use cdn_core::node::{Action, Hop, Peer};
use cdn_core::origin::{ConnectVerdict, OriginReply};
use cdn_core::{tls, FailureKind, NodeState, Tier, TraceEvent};

/// What `at_origin` reads of the slot's leg: the request as it went out on its connection.
struct SentOn {
    hop: Hop,
    source: std::net::Ipv4Addr,
    conditional: Option<cdn_core::node::Validators>,
    until: cdn_core::Instant,
    ack_timeout: Option<std::time::Duration>,
    sent: cdn_core::Instant,
}

impl Engine<'_> {
    /// An L1 connects to its parent `i`.
    pub(super) fn connect_parent(&mut self, s: SlotId, hop: Hop, i: usize) {
        let parent = &self.l2[i];
        let listening = parent.listening();
        // The trace line names the parent: built only for a traced request (the name is a
        // `String`, and this runs for every edge miss).
        if self.slot_traced(s) {
            let event = TraceEvent::Connect {
                to: Tier::L2,
                peer: parent.name().to_string(),
                port: 443,
                egress: None,
                reused: parent.state() == NodeState::Up,
                verdict: (!listening).then_some(ConnectVerdict::Refuse),
                attempt: self.slots.get(s).leg.attempt,
            };
            self.trace_at_node(s, event);
        }
        if listening {
            self.node_connected(s, hop);
        } else {
            self.slots.get_mut(s).leg.outcome = Outcome::Failed(FailureKind::Refused);
            let at = self.now + self.net.l1_l2_rtt;
            self.schedule(at, Ev::Outcome(s, hop));
        }
    }

    /// A node connects to the origin (an L2, or an L1 going direct).
    pub(super) fn connect_origin(&mut self, s: SlotId, hop: Hop) {
        if !self.origin.resolves() {
            let mut out = self.buffer();
            let now = self.now;
            self.node_mut(s)
                .hop_failed(now, s as u64, hop, FailureKind::Dns, &mut out);
            let node = self.slots.get(s).node;
            self.run_actions(node, out);
            return;
        }
        if self.slots.get(s).leg.reused {
            if self.slot_traced(s) {
                let event = self.origin_connect_event(s, None);
                self.trace_at_node(s, event);
            }
            self.node_connected(s, hop);
            return;
        }
        let at = self.now + self.one_way.l2_origin;
        let until = self.slots.get(s).leg.until;
        if at > until {
            // The SYN is still on its way to the origin when the connect deadline comes:
            // whatever the origin's verdict, it cannot be back in time. The node times out at
            // its deadline (522), as a real connect under a shorter timeout than half the
            // round trip does.
            if self.slot_traced(s) {
                let event = self.origin_connect_event(s, None);
                self.trace_at_node(s, event);
            }
            self.slots.get_mut(s).leg.outcome = Outcome::Deadline;
            self.schedule(until, Ev::Outcome(s, hop));
            return;
        }
        self.schedule(at, Ev::Syn(s, hop));
    }

    /// Tells the slot's node its connection is up; the node sends the request.
    fn node_connected(&mut self, s: SlotId, hop: Hop) {
        let mut out = self.buffer();
        let now = self.now;
        self.node_mut(s).connected(now, s as u64, hop, &mut out);
        if let [Action::Send {
            ticket,
            hop,
            conditional,
            until,
            ack_timeout,
        }] = *out.as_slice()
        {
            // The usual answer, one `Send` (every miss at every node): carried out as
            // `run_actions` carries it out, without the pass over the buffer.
            out.clear();
            self.spare.push(out);
            self.send_on(ticket as SlotId, hop, conditional, until, ack_timeout);
            return;
        }
        let node = self.slots.get(s).node;
        self.run_actions(node, out);
    }

    fn origin_connect_event(&self, s: SlotId, verdict: Option<ConnectVerdict>) -> TraceEvent {
        let leg = &self.slots.get(s).leg;
        TraceEvent::Connect {
            to: Tier::Origin,
            peer: self.hostname.clone(),
            port: leg.port,
            egress: Some(leg.source),
            reused: leg.reused,
            verdict,
            attempt: leg.attempt,
        }
    }

    /// The SYN reaches the origin: the firewall, the listeners and the accept queue decide.
    pub(super) fn syn(&mut self, s: SlotId, hop: Hop) {
        let leg = self.slots.get(s).leg;
        if leg.hop != hop {
            return;
        }
        let verdict = self.origin.connect(leg.source, leg.port);
        if self.slot_traced(s) {
            // Logged at the connecting node, at the moment it started the connection.
            let event = self.origin_connect_event(s, Some(verdict));
            self.trace_at_node_at(s, leg.started, event);
            if verdict == ConnectVerdict::Drop {
                // Each SYN the node sends before its connect deadline, on its schedule.
                let syns = self.node_mut(s).settings().timeouts.syn_transmissions();
                for (i, offset) in syns.into_iter().enumerate() {
                    let event = TraceEvent::SynSent {
                        transmission: i as u32 + 1,
                    };
                    self.trace_at_node_at(s, leg.started + offset, event);
                }
            }
        }
        let now = self.now;
        let one_way = self.one_way.l2_origin;
        // A verdict that would reach the node after its connect deadline is never seen: the
        // deadline fires first (a RST that takes longer than `connect_timeout` to come back
        // is a timeout, 522, not a refusal) — as `timers.deadline` around the real connect
        // in net mode decides it.
        let (outcome, at) = match verdict {
            ConnectVerdict::Refuse | ConnectVerdict::Unreachable if now + one_way > leg.until => {
                (Outcome::Deadline, leg.until.max(now))
            }
            ConnectVerdict::Refuse => (Outcome::Failed(FailureKind::Refused), now + one_way),
            ConnectVerdict::Unreachable => {
                (Outcome::Failed(FailureKind::Unreachable), now + one_way)
            }
            ConnectVerdict::Drop => (Outcome::Deadline, leg.until),
            ConnectVerdict::Accept => {
                // Connected at the node after one RTT; TLS adds one more (TLS 1.3).
                let tcp = now + one_way;
                if tcp > leg.until {
                    (Outcome::Deadline, leg.until.max(now))
                } else if leg.tls.is_some() && !self.origin.acknowledges() {
                    // A black hole passes the TCP handshake and eats everything after it, the
                    // TLS ClientHello first: the ACK timeout, else the handshake deadline.
                    self.schedule(tcp, Ev::TcpUp(s, hop));
                    match leg.ack_timeout {
                        Some(ack) if ack < leg.handshake_timeout => {
                            (Outcome::Failed(FailureKind::AckTimeout), tcp + ack)
                        }
                        _ => (Outcome::Deadline, tcp + leg.handshake_timeout),
                    }
                } else if let Some(policy) = leg.tls {
                    self.schedule(tcp, Ev::TcpUp(s, hop));
                    let cfg = self.origin.config();
                    let handshake = tls::handshake(
                        tls::OriginLeg {
                            port: leg.port,
                            tls: true,
                            verify: policy.verify,
                        },
                        cfg.https,
                        cfg.cert,
                        policy.trust_origin_ca,
                    );
                    let done = tcp + self.net.l2_origin_rtt;
                    match handshake {
                        Err(kind) => (Outcome::Failed(kind), done),
                        Ok(()) => {
                            let event = TraceEvent::TlsEstablished {
                                verified: policy.verify,
                            };
                            self.trace_at_node_at(s, done, event);
                            self.schedule(done, Ev::Connected(s, hop));
                            return;
                        }
                    }
                } else {
                    self.schedule(tcp, Ev::Connected(s, hop));
                    return;
                }
            }
        };
        self.slots.get_mut(s).leg.outcome = outcome;
        self.schedule(at, Ev::Outcome(s, hop));
    }

    /// TCP is up for hop `hop`: the node's deadline becomes the handshake's.
    pub(super) fn tcp_up(&mut self, s: SlotId, hop: Hop) {
        if self.slots.get(s).leg.hop == hop {
            let now = self.now;
            self.node_mut(s).tcp_connected(now, s as u64, hop);
            // The leg keeps the node's deadline: from now the handshake's, as the node's.
            let leg = &mut self.slots.get_mut(s).leg;
            leg.until = now + leg.handshake_timeout;
        }
    }

    /// The origin connection of hop `hop` is established.
    pub(super) fn origin_connected(&mut self, s: SlotId, hop: Hop) {
        if self.slots.get(s).leg.hop == hop {
            self.node_connected(s, hop);
        }
    }

    /// The request reaches the origin: its defences and workers decide, and the reply (or
    /// the read deadline, whichever comes first) is on its way back.
    pub(super) fn at_origin(&mut self, s: SlotId, hop: Hop) {
        // The leg's fields this needs, not the whole leg: its `outcome` has room for a
        // response, and copying it was a `memcpy` per origin request.
        let (leg, req) = {
            let slot = self.slots.get(s);
            let leg = &slot.leg;
            let sent = SentOn {
                hop: leg.hop,
                source: leg.source,
                conditional: leg.conditional,
                until: leg.until,
                ack_timeout: leg.ack_timeout,
                sent: leg.sent,
            };
            (sent, slot.req)
        };
        if leg.hop != hop {
            return;
        }
        let now = self.now;
        let one_way = self.one_way.l2_origin;
        let reply = self
            .origin
            .handle_request(now, leg.source, &req, leg.conditional);
        let broken = |kind| (Outcome::Failed(kind), now + one_way);
        let (outcome, at) = match reply {
            OriginReply::Respond {
                done,
                mut response,
                rejected_by,
            } => {
                if let Some(by) = rejected_by {
                    self.trace_at_origin(s, TraceEvent::Defended { by });
                }
                // The head as it arrives, for the node's header limit.
                let head = self.origin.header_bytes(rejected_by);
                response.header_bytes = u32::try_from(head).unwrap_or(u32::MAX);
                let arrives = done + one_way;
                if arrives > leg.until {
                    (Outcome::Deadline, leg.until)
                } else {
                    (Outcome::Response(response), arrives)
                }
            }
            // A black hole never acknowledges the request: the node's ACK timeout (if it has
            // one before its read deadline) ends the wait. A hung server acknowledged it.
            OriginReply::Hang => match leg.ack_timeout {
                Some(ack) if !self.origin.acknowledges() && leg.sent + ack < leg.until => (
                    Outcome::Failed(FailureKind::AckTimeout),
                    (leg.sent + ack).max(now),
                ),
                _ => (Outcome::Deadline, leg.until.max(now)),
            },
            OriginReply::Reset => broken(FailureKind::Reset),
            OriginReply::Close => broken(FailureKind::ClosedEarly),
            OriginReply::Garbage => broken(FailureKind::InvalidResponse),
        };
        self.slots.get_mut(s).leg.outcome = outcome;
        self.schedule(at, Ev::Outcome(s, hop));
    }

    /// The node learns how hop `hop` went.
    pub(super) fn outcome(&mut self, s: SlotId, hop: Hop) {
        let now = self.now;
        let jittered = self.lateness.is_some();
        let leg = &mut self.slots.get_mut(s).leg;
        if leg.hop != hop {
            return;
        }
        // An origin leg's outcome was computed against its deadline when it was scheduled
        // (nothing else watches that deadline), so in the exact model it is never past it.
        // Made late past the deadline by `SimOptions::jitter`, it is what real timers make of
        // it: the deadline fired first and the verdict or answer was never read. Without this,
        // lateness could never turn a refusal into a timeout, while on real sockets it does
        // (net mode's connect runs under `timers.deadline`), and the lateness a scenario
        // tolerates (`net_mode::pace`) came out too large.
        if jittered
            && leg.peer == Peer::Origin
            && now > leg.until
            && !matches!(leg.outcome, Outcome::Deadline | Outcome::Pending)
        {
            leg.outcome = Outcome::Deadline;
        }
        if matches!(leg.outcome, Outcome::Response(_)) {
            self.answered_from_leg(s, hop);
            return;
        }
        let outcome = std::mem::replace(&mut leg.outcome, Outcome::Pending);
        let mut out = self.buffer();
        let ticket = s as u64;
        match outcome {
            Outcome::Response(_) => {} // handed over above
            Outcome::Failed(kind) => self
                .node_mut(s)
                .hop_failed(now, ticket, hop, kind, &mut out),
            Outcome::Deadline => self.node_mut(s).timer(now, ticket, &mut out),
            Outcome::Pending => {}
        }
        let node = self.slots.get(s).node;
        self.run_actions(node, out);
    }
}
