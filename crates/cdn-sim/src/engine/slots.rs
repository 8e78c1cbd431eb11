//! Exchanges in progress at the nodes. Each request a node is handling has a slot: its node,
//! its request, who waits for its answer downstream, and the simulated connection of its
//! current hop upstream. A slot's index is the node's ticket for the request.
//!
//! A client request that misses at L1 and L2 holds two slots (one per node); an L1 that gives
//! up on its parent moves on while the L2's slot finishes on its own (it still fills the L2's
//! cache), and its late answer is dropped because the L1 slot's hop (or generation) moved on.

use cdn_core::failure::FailureKind;
use cdn_core::node::{Hop, Peer, TlsPolicy, Validators};
use cdn_core::{Instant, Request, Response, Tier};
use std::net::Ipv4Addr;

/// Index of a slot; also the node's ticket for the request.
pub(super) type SlotId = u32;

/// A cache node: tier and index within the tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NodeId {
    pub(super) tier: Tier,
    pub(super) index: u16,
}

/// Who waits for a slot's answer.
#[derive(Clone, Copy, Debug)]
pub(super) enum Downstream {
    /// The client of request `number`, sent at `sent`.
    Client { number: u64, sent: Instant },
    /// An L1 exchange, on its hop `hop` (ignored if that exchange moved on).
    Slot { slot: SlotId, gen: u32, hop: Hop },
    /// Nobody: a background revalidation.
    Nobody,
}

/// What the network has in store for the current hop, delivered by an `Outcome` event (or,
/// for a parent's answer, a `Deliver` event).
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome {
    /// Nothing yet.
    Pending,
    /// The response head arrived.
    Response(Response),
    /// The hop failed this way.
    Failed(FailureKind),
    /// Nothing arrived before the hop's deadline.
    Deadline,
}

/// The simulated connection of a slot's current hop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leg {
    pub(super) hop: Hop,
    pub(super) peer: Peer,
    pub(super) source: Ipv4Addr,
    pub(super) port: u16,
    pub(super) tls: Option<TlsPolicy>,
    /// How long a TLS handshake may take once TCP is up.
    pub(super) handshake_timeout: std::time::Duration,
    pub(super) reused: bool,
    pub(super) attempt: u32,
    /// When the connect attempt started.
    pub(super) started: Instant,
    /// The request went out at (origin legs).
    pub(super) sent: Instant,
    pub(super) conditional: Option<Validators>,
    /// Give up if the peer's TCP never acknowledges the request for this long.
    pub(super) ack_timeout: Option<std::time::Duration>,
    /// The node's current deadline for this hop.
    pub(super) until: Instant,
    /// Whether a `Timer` for `until` is queued, or nothing can outlast it unnoticed (origin
    /// legs compute their outcome against `until` themselves).
    pub(super) armed: bool,
    pub(super) outcome: Outcome,
}

impl Leg {
    fn idle() -> Leg {
        Leg {
            hop: 0,
            peer: Peer::Origin,
            source: Ipv4Addr::UNSPECIFIED,
            port: 0,
            tls: None,
            handshake_timeout: std::time::Duration::ZERO,
            reused: false,
            attempt: 0,
            started: Instant::ZERO,
            sent: Instant::ZERO,
            conditional: None,
            ack_timeout: None,
            until: Instant::ZERO,
            armed: true,
            outcome: Outcome::Pending,
        }
    }

    /// Makes this leg [`Leg::idle`] again, writing each field (a whole new `Leg` would also
    /// copy the unused room of `outcome`).
    fn reset(&mut self) {
        self.hop = 0;
        self.peer = Peer::Origin;
        self.source = Ipv4Addr::UNSPECIFIED;
        self.port = 0;
        self.tls = None;
        self.handshake_timeout = std::time::Duration::ZERO;
        self.reused = false;
        self.attempt = 0;
        self.started = Instant::ZERO;
        self.sent = Instant::ZERO;
        self.conditional = None;
        self.ack_timeout = None;
        self.until = Instant::ZERO;
        self.armed = true;
        self.outcome = Outcome::Pending;
    }
}

/// One request at one node.
#[derive(Clone, Debug)]
pub(super) struct Slot {
    /// Incremented each time the slot is reused, so stale links to it are recognised.
    pub(super) gen: u32,
    pub(super) node: NodeId,
    pub(super) req: Request,
    pub(super) downstream: Downstream,
    /// The validators the downstream tier sent with the request (L2 slots).
    pub(super) downstream_validators: Option<Validators>,
    pub(super) leg: Leg,
    /// The trace this request writes to, if traced.
    pub(super) trace: Option<u32>,
    /// Queued events (and collapse locks) that refer to the slot.
    pub(super) refs: u32,
    /// The node answered (or will never answer): the slot goes once nothing refers to it.
    pub(super) done: bool,
    /// The request is in the late group of a [`JitterShape::Alternate`](super::JitterShape)
    /// run (inherited by the exchanges it starts upstream).
    pub(super) late_group: bool,
}

impl Slot {
    fn new(node: NodeId, req: Request, downstream: Downstream) -> Slot {
        Slot {
            gen: 0,
            node,
            req,
            downstream,
            downstream_validators: None,
            leg: Leg::idle(),
            trace: None,
            refs: 0,
            done: false,
            late_group: false,
        }
    }

    /// The exchange downstream that waits on this one, if it is another slot (with the
    /// generation it had: it may have finished and been reused since).
    pub(super) fn parent(&self) -> Option<(SlotId, u32)> {
        match self.downstream {
            Downstream::Slot { slot, gen, .. } => Some((slot, gen)),
            _ => None,
        }
    }

    /// The current hop's deadline, if it is not in the queue yet.
    pub(super) fn unarmed_deadline(&self) -> Option<Instant> {
        (!self.leg.armed).then_some(self.leg.until)
    }

    /// The unarmed deadline, now counted as armed.
    pub(super) fn take_unarmed_deadline(&mut self) -> Option<Instant> {
        let d = self.unarmed_deadline();
        self.leg.armed = true;
        d
    }
}

/// Slot storage: a free list, so the steady state allocates nothing.
#[derive(Default)]
pub(super) struct Slots {
    slots: Vec<Slot>,
    live: Vec<bool>,
    free: Vec<SlotId>,
}

impl Slots {
    /// The id the next [`Slots::alloc`] will return (a node's ticket before the slot exists:
    /// a plain L1 hit never needs one).
    pub(super) fn next_id(&self) -> SlotId {
        self.free
            .last()
            .copied()
            .unwrap_or(self.slots.len() as SlotId)
    }

    /// Slots in use.
    pub(super) fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// A new slot for `req` at `node`, answering `downstream`: no validators, trace, events
    /// or deadline yet, an idle leg, not in the late group.
    pub(super) fn alloc(&mut self, node: NodeId, req: Request, downstream: Downstream) -> SlotId {
        let Some(s) = self.free.pop() else {
            self.slots.push(Slot::new(node, req, downstream));
            self.live.push(true);
            return (self.slots.len() - 1) as SlotId;
        };
        // Reset in place, field by field, rather than moving a whole new slot in: the slot
        // has usually left the CPU's caches since it was freed, and the leg's outcome holds
        // room for a response that need not be written (only its tag is).
        let i = s as usize;
        let slot = &mut self.slots[i];
        slot.gen = slot.gen.wrapping_add(1);
        slot.node = node;
        slot.req = req;
        slot.downstream = downstream;
        slot.downstream_validators = None;
        slot.leg.reset();
        slot.trace = None;
        slot.refs = 0;
        slot.done = false;
        slot.late_group = false;
        self.live[i] = true;
        s
    }

    pub(super) fn get(&self, s: SlotId) -> &Slot {
        debug_assert!(self.live[s as usize], "slot {s} is live");
        &self.slots[s as usize]
    }

    pub(super) fn get_mut(&mut self, s: SlotId) -> &mut Slot {
        debug_assert!(self.live[s as usize], "slot {s} is live");
        &mut self.slots[s as usize]
    }

    /// Asks the CPU for slot `s`'s first and last cache lines (where an event's handling
    /// starts reading: its node and request, and its reference count).
    pub(super) fn prefetch(&self, s: SlotId) {
        let slot = &self.slots[s as usize];
        cdn_core::hint::prefetch(slot);
        cdn_core::hint::prefetch(&slot.refs);
    }

    /// Whether slot `s` still holds generation `gen`.
    pub(super) fn holds(&self, s: SlotId, gen: u32) -> bool {
        let i = s as usize;
        self.live.get(i) == Some(&true) && self.slots[i].gen == gen
    }

    /// The slot `s` if it still holds generation `gen`.
    pub(super) fn get_gen_mut(&mut self, s: SlotId, gen: u32) -> Option<&mut Slot> {
        let i = s as usize;
        (self.live.get(i) == Some(&true) && self.slots[i].gen == gen).then(|| &mut self.slots[i])
    }

    /// Frees `s` once its node is done with it and nothing refers to it; idempotent.
    pub(super) fn free_if_finished(&mut self, s: SlotId) {
        let i = s as usize;
        if self.live[i] && self.slots[i].done && self.slots[i].refs == 0 {
            self.live[i] = false;
            self.free.push(s);
        }
    }
}
