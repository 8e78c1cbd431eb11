//! Carrying out what a node decided. The node says *what* (answer, connect, send, wait,
//! revalidate); this module does it in virtual time, through the simulated network.

use super::slots::{Downstream, NodeId, Outcome, SlotId};
use super::{Engine, Ev};
use cdn_core::node::{Action, Connect, Hop, Peer, Validators};
use cdn_core::{CacheStatus, Instant, Response, Tier, TraceEvent};

impl Engine<'_> {
    /// Carries out the actions of node `node`, in order. They are read in place, not
    /// drained: moving each ~160-byte `Action` out of the buffer cost more than acting
    /// on it (only a trace note, for traced requests, is cloned).
    pub(super) fn run_actions(&mut self, node: NodeId, mut out: Vec<Action>) {
        for action in &out {
            self.act(node, action);
        }
        out.clear();
        self.spare.push(out);
    }

    fn act(&mut self, node: NodeId, action: &Action) {
        match *action {
            Action::Note { ticket, ref event } => {
                self.trace_at_node(ticket as SlotId, event.clone())
            }
            Action::Wait { ticket, until } => {
                // The slot stays (it is not done) until the node acts on it again; the timer
                // is always needed, since only the request ahead can wake it otherwise.
                self.schedule(until, Ev::Timer(ticket as SlotId));
            }
            Action::Connect(c) => self.connect(c),
            Action::Send {
                ticket,
                hop,
                conditional,
                until,
                ack_timeout,
            } => self.send_on(ticket as SlotId, hop, conditional, until, ack_timeout),
            Action::Answer {
                ticket,
                ref response,
                status,
            } => self.answer_action(ticket as SlotId, response, status),
            Action::Revalidate { req, conditional } => {
                // stale-while-revalidate: a request no client waits for.
                let b = self.slots.alloc(node, req, Downstream::Nobody);
                let mut out = self.buffer();
                let now = self.now;
                self.node_at(node)
                    .receive_background(now, b as u64, &req, conditional, &mut out);
                self.run_actions(node, out);
                self.slots.free_if_finished(b);
            }
        }
    }

    /// Carries out the actions a node returned for a request it received: the usual one, a
    /// single `Connect` (every miss), directly; anything else through
    /// [`Engine::run_actions`]. The same as `run_actions` for every buffer, without its
    /// pass for the usual one.
    pub(super) fn run_received(&mut self, node: NodeId, mut out: Vec<Action>) {
        if let [Action::Connect(c)] = *out.as_slice() {
            out.clear();
            self.spare.push(out);
            self.connect(c);
            return;
        }
        self.run_actions(node, out);
    }

    /// The node opens (or reuses) a connection for the slot's next hop.
    fn connect(&mut self, c: Connect) {
        let s = c.ticket as SlotId;
        let now = self.now;
        {
            let leg = &mut self.slots.get_mut(s).leg;
            leg.hop = c.hop;
            leg.peer = c.peer;
            leg.port = c.port;
            leg.tls = c.tls;
            leg.handshake_timeout = c.handshake_timeout;
            leg.ack_timeout = c.ack_timeout;
            leg.source = c.source.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
            leg.reused = c.reuse;
            leg.attempt = c.attempt;
            leg.started = now;
            leg.until = c.until;
            leg.armed = false;
            leg.conditional = None;
            leg.outcome = super::slots::Outcome::Pending;
        }
        match c.peer {
            Peer::Parent(i) => self.connect_parent(s, c.hop, i as usize),
            Peer::Origin => {
                // The origin's replies are computed against the node's deadlines: no timer.
                self.slots.get_mut(s).leg.armed = true;
                self.connect_origin(s, c.hop)
            }
        }
    }

    /// Carries out an `Action::Send` for slot `s`.
    #[inline]
    pub(super) fn send_on(
        &mut self,
        s: SlotId,
        hop: Hop,
        conditional: Option<Validators>,
        until: Instant,
        ack_timeout: Option<std::time::Duration>,
    ) {
        self.slots.get_mut(s).leg.ack_timeout = ack_timeout;
        self.send(s, hop, conditional, until)
    }

    /// The request goes out on the hop's connection.
    fn send(&mut self, s: SlotId, hop: Hop, conditional: Option<Validators>, until: Instant) {
        let now = self.now;
        let peer = {
            let leg = &mut self.slots.get_mut(s).leg;
            leg.sent = now;
            leg.until = until;
            leg.conditional = conditional;
            leg.peer
        };
        if let Some(v) = conditional {
            let etag = v.etag.map(|e| e.0);
            self.trace_at_node(s, TraceEvent::Conditional { etag });
        }
        match peer {
            Peer::Parent(i) => {
                // Only the parent's answer wakes this slot: its deadline is armed lazily.
                self.slots.get_mut(s).leg.armed = false;
                let (req, gen, trace) = {
                    let slot = self.slots.get(s);
                    (slot.req, slot.gen, slot.trace)
                };
                let node = NodeId {
                    tier: Tier::L2,
                    index: i,
                };
                // Half an RTT of virtual time (hundreds of requests) before it is looked up.
                self.l2[usize::from(i)].prefetch(req.key);
                let late_group = self.slots.get(s).late_group;
                let c = self
                    .slots
                    .alloc(node, req, Downstream::Slot { slot: s, gen, hop });
                let child = self.slots.get_mut(c);
                child.downstream_validators = conditional;
                child.trace = trace;
                child.late_group = late_group;
                let at = now + self.one_way.l1_l2;
                self.schedule(at, Ev::AtNode(c));
            }
            Peer::Origin => {
                self.trace_at_node(s, TraceEvent::RequestSent);
                // The origin's reply is computed against `until`: nothing to arm.
                self.slots.get_mut(s).leg.armed = true;
                let at = now + self.one_way.l2_origin;
                self.schedule(at, Ev::AtOrigin(s, hop));
            }
        }
    }

    /// Carries out an `Action::Answer` for slot `s`: the node is done with it.
    #[inline]
    fn answer_action(&mut self, s: SlotId, response: &Response, status: CacheStatus) {
        self.slots.get_mut(s).done = true;
        self.answer(s, response, status);
        self.slots.free_if_finished(s);
    }

    /// The slot's node answers downstream.
    fn answer(&mut self, s: SlotId, response: &Response, status: CacheStatus) {
        match self.slots.get(s).downstream {
            Downstream::Client { number, sent } => {
                self.respond_to_client(s, number, sent, status, response)
            }
            Downstream::Slot { slot, gen, hop } => {
                self.counts.count_l2(status, response);
                let event = TraceEvent::Responded {
                    status: response.status,
                    generated_by: response.generated_by,
                };
                self.trace_at_node(s, event);
                let at = self.now + self.one_way.l1_l2;
                // Dropped if the L1 exchange gave up on this hop meanwhile.
                let waiting = self
                    .slots
                    .get_gen_mut(slot, gen)
                    .filter(|p| !p.done && p.leg.hop == hop);
                if let Some(parent) = waiting {
                    parent.leg.outcome = Outcome::Response(*response);
                    self.schedule(at, Ev::Deliver(slot, hop));
                }
            }
            Downstream::Nobody => {}
        }
    }

    /// A request reaches an L2.
    pub(super) fn at_node(&mut self, s: SlotId) {
        self.trace_at_node(s, TraceEvent::Received);
        let (req, validators, traced) = {
            let slot = self.slots.get(s);
            (slot.req, slot.downstream_validators, slot.trace.is_some())
        };
        let mut out = self.buffer();
        let now = self.now;
        let hit = self
            .node_mut(s)
            .receive_hit(now, s as u64, &req, validators, traced, &mut out);
        if let Some(response) = &hit {
            // A fresh hit (most requests that reach an L2): answered as `act` answers an
            // `Action::Answer`, without the action (and read where it was returned).
            self.spare.push(out);
            self.answer_action(s, response, CacheStatus::Hit);
            return;
        }
        if out.is_empty() {
            // A hung node: nothing will ever happen here, so the L1 waiting on it must not
            // sleep past its deadline.
            self.slots.get_mut(s).done = true;
            if let Some((parent, gen)) = self.slots.get(s).parent() {
                if self.slots.holds(parent, gen) {
                    self.arm(parent);
                }
            }
        }
        let node = self.slots.get(s).node;
        self.run_received(node, out);
    }

    /// A parent's answer for hop `hop` reaches the L1 (ignored if the L1 moved on to another
    /// hop meanwhile: the answer of the hop it moved to is on its own way).
    pub(super) fn deliver(&mut self, s: SlotId, hop: Hop) {
        let leg = &self.slots.get(s).leg;
        if !matches!(leg.outcome, Outcome::Response(_)) || leg.hop != hop {
            return;
        }
        self.answered_from_leg(s, hop);
    }

    /// Hands the response waiting in `s`'s leg to its node for hop `hop`, read where it
    /// lies (copying the ~150-byte response out first cost a `memcpy` per hop), then
    /// clears it. The node never reads the slots, so clearing after the call is the same
    /// as before it.
    pub(super) fn answered_from_leg(&mut self, s: SlotId, hop: Hop) {
        let mut out = self.buffer();
        let now = self.now;
        let slot = self.slots.get(s);
        let node = slot.node;
        if let Outcome::Response(response) = &slot.leg.outcome {
            let at = match node.tier {
                Tier::L1 => &mut self.l1[node.index as usize],
                _ => &mut self.l2[node.index as usize],
            };
            at.answered(now, s as u64, hop, response, &mut out);
        }
        self.slots.get_mut(s).leg.outcome = Outcome::Pending;
        if let [Action::Answer {
            ticket,
            ref response,
            status,
        }] = *out.as_slice()
        {
            // The usual answer, one `Answer` (nothing collapsed behind the request, no
            // trace): carried out as `run_actions` carries it out, without the pass.
            self.answer_action(ticket as SlotId, response, status);
            out.clear();
            self.spare.push(out);
            return;
        }
        self.run_actions(node, out);
    }
}
