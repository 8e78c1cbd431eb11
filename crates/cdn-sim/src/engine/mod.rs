//! The discrete-event engine: a virtual clock and an event queue with sequence-number tie
//! breaks, driving the `cdn-core` nodes and origin. The engine is a *driver*: every decision
//! (cache, collapsing, which parent, which egress address, how many attempts, which status)
//! is the core's; the engine only simulates the network between them and keeps the time.
//!
//! A request's life, with the events that carry it (RTTs from `[network]`):
//!
//! ```text
//! arrival ─(½ client RTT)─► L1.receive ─Answer (hit)──────────────────────────────► client
//!                             │Connect(parent) → connected → Send
//!                             └─(½ L1–L2 RTT)─► AtNode: L2.receive ─Answer─(½ RTT)─► Deliver ─► L1.answered ─► client
//!                                                 │Connect(origin)
//!                                                 ├ reused connection ─► connected → Send ─┐
//!                                                 └ Syn ─► verdict ─► Connected (+TLS) ─► Send
//!                                                                  └► AtOrigin ─► Outcome ─► L2.answered / hop_failed / timer
//! ```
//!
//! ## Layout
//! | module | one job |
//! |---|---|
//! | `mod.rs` | options, the event loop and dispatch |
//! | [`queue`] | the event queue (time, sequence), with FIFO lanes per event kind |
//! | `slots` | exchanges in progress at nodes, their links and lazy deadlines |
//! | `arrivals` | merging the workloads; URL keys without rendering URLs |
//! | `actions` | carrying out the actions a node returns |
//! | `network` | the simulated wire: L1→L2 links, TCP/TLS to the origin, the origin's replies |
//! | `tracing` | per-request stories |
//! | `counts` | what the report counts, and the report |
//! | `world` | `[[event]]`s: the world changing mid-run |
//! | `lateness` | optional random lateness of every event ([`Jitter`]) |

mod actions;
mod arrivals;
mod counts;
mod lateness;
mod network;
pub mod queue;
mod slots;
mod tracing;
mod world;

use crate::report::Report;
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use arrivals::UrlShape;
use cdn_core::config::build_nodes;
use cdn_core::node::{Action, Hop};
use cdn_core::{CacheNode, Instant, NetworkConfig, Origin, Profile, Tier, Trace};
use counts::Counts;
use queue::EventQueue;
use slots::{SlotId, Slots};
use std::collections::BTreeSet;

/// Called for every client response: (request number, status, generating tier).
pub type ResponseObserver = Box<dyn FnMut(u64, u16, Tier)>;

/// Called every `progress_every` finished requests: (finished, virtual time).
pub type ProgressObserver = Box<dyn FnMut(u64, Instant)>;

/// Options for one simulated run.
#[derive(Default)]
pub struct SimOptions {
    /// Record hop-by-hop traces of the first N requests.
    pub trace: usize,
    /// Also record traces of exactly these request numbers (counted from 0, in arrival
    /// order): a first run finds the requests worth tracing, a second run traces them.
    pub trace_requests: BTreeSet<u64>,
    /// Called for every client response: (request number, status, generating tier).
    pub on_response: Option<ResponseObserver>,
    /// Override the scenario's seed.
    pub seed: Option<u64>,
    /// Called every `progress_every` finished requests with (finished, virtual time).
    pub progress: Option<ProgressObserver>,
    /// How often to call `progress` (default 1,000,000 when 0).
    pub progress_every: u64,
    /// The most exchanges in flight at once (default [`MAX_IN_FLIGHT`] when 0).
    pub max_in_flight: usize,
    /// Make every event and arrival late by a random amount, as real timers are (see
    /// [`Jitter`]); `None` (the default) for the exact model.
    pub jitter: Option<Jitter>,
}

/// Random lateness for every event and arrival of a run: how the same scenario behaves when
/// its timers fire up to `max` late, as real timers on a real machine do. Deterministic for
/// a given `seed`. Net mode uses it to find how much lateness a scenario tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jitter {
    /// The most any event is delayed.
    pub max: std::time::Duration,
    /// How the delays fall within `[0, max]`.
    pub shape: JitterShape,
    /// Seed of the lateness sequence (independent of the scenario's seed).
    pub seed: u64,
}

/// How a [`Jitter`]'s delays are drawn. Real lateness comes in all three forms; a scenario
/// that tolerates one may not tolerate another.
// `Measured` carries its 256-byte histogram inline so that a `Jitter` stays `Copy`: one is
// made per simulation and read once by `Lateness::new`, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitterShape {
    /// Each event independently late by a uniform amount in `[0, max]`: timer-wheel ticks
    /// and scheduling noise.
    Uniform,
    /// Every event exactly `max` late: the extreme of the uniform case, where lateness adds
    /// up along a chain of events (a request crossing four hops, each a little late, as real
    /// proxies on a busy machine are) — uniform draws almost never reach that sum.
    Constant,
    /// The process stalls: time is cut into windows of `max` (at a phase drawn from the
    /// seed) and every event due inside a window happens at its end, together. A busy
    /// machine that deschedules the whole process does this: what was spread out arrives
    /// as one burst, which independent delays never produce.
    Stalls,
    /// Every other request (by its workload's order, odd or even as the seed's lowest bit
    /// says) is exactly `max` late at each of its events, the others on time: the most two
    /// neighbouring requests can move relative to each other. Two requests racing for one
    /// cache entry (which one stores it first) or one rate-limit token swap places this
    /// way; uniform draws reach it only by the luck of many draws.
    Alternate,
    /// Requests whose number (in arrival order, all workloads together) has bit `n` equal
    /// to the seed's lowest bit are exactly `max` late at each of their events, the others
    /// on time. Over bits `0..⌈log2 N⌉` and both parities, every ordered pair of a run's `N`
    /// requests is once "the later one late, the earlier one on time": the race between two
    /// requests for one cache entry that are not neighbours (a parity run under stress found
    /// request 4 arriving at a shield 4.5 ms before request 2's answer was stored there, and
    /// real timers ~9 ms late made it a HIT).
    IndexBit(u8),
    /// Each event independently late by an amount drawn from a measured distribution (never
    /// more than `max`): bucket 0 counts lateness below 1 µs, bucket `i > 0` lateness in
    /// `[2^(i-1), 2^i)` µs, drawn uniformly within its bucket. Net mode replays a real run's
    /// measured lateness this way.
    Measured([u64; MEASURED_BUCKETS]),
}

/// Buckets of a [`JitterShape::Measured`] distribution.
pub const MEASURED_BUCKETS: usize = 32;

/// What a run produced.
pub struct SimOutput {
    /// Counts by status, tier and cache status; latency percentiles.
    pub report: Report,
    /// The traced requests, in request order.
    pub traces: Vec<Trace>,
}

/// The most exchanges a run may have in flight at once: a request waiting at a node is one
/// (a miss waiting at L1 and at L2 is two). About 1.2 KiB each with its events and the
/// nodes' state (measured: 500,000 misses behind a hung origin, 1,000,000 exchanges, peak
/// RSS 1.25 GB), so a twentieth of a 24 GiB machine at the limit. A hung origin holds every
/// miss for its read timeout: 4,000 requests/s for 120 s stays below the limit.
pub const MAX_IN_FLIGHT: usize = 1_000_000;

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Too many requests in flight at once.
    #[error(
        "more than {limit} exchanges in flight at {at_ms} ms of virtual time (requests \
         waiting at the nodes for their answers, e.g. behind a hung origin's read timeout); \
         lower the rate, the count or the timeouts"
    )]
    TooManyInFlight {
        /// The limit.
        limit: usize,
        /// When, in virtual milliseconds.
        at_ms: u64,
    },
    /// A trace workload's file could not be read to its end.
    #[error("{0}")]
    Trace(String),
}

/// Runs `scenario` in virtual time.
///
/// ```
/// # use cdn_sim::{engine::{simulate, SimOptions}, builtin};
/// let scenario = builtin::load("origin-down").unwrap();
/// let out = simulate(&scenario, SimOptions::default()).unwrap();
/// assert_eq!(out.report.count(521), out.report.requests);
/// ```
pub fn simulate(scenario: &Scenario, options: SimOptions) -> Result<SimOutput, SimError> {
    let mut engine = Engine::new(scenario, options);
    engine.run();
    if let Some(e) = engine.failed.take() {
        return Err(e);
    }
    if let Some(e) = engine.workloads.iter().find_map(|w| w.error()) {
        return Err(SimError::Trace(e.to_string()));
    }
    Ok(engine.into_output())
}

/// Something that happens at a virtual instant.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A request reaches the node of its slot (L1 → L2).
    AtNode(SlotId),
    /// The parent's answer for the hop (held in the slot's leg) reaches its node (L2 → L1).
    Deliver(SlotId, Hop),
    /// A SYN of the slot's hop reaches the origin.
    Syn(SlotId, Hop),
    /// The hop's TCP connection to the origin is up; its TLS handshake starts.
    TcpUp(SlotId, Hop),
    /// The hop's origin connection is established (TCP, and TLS if any).
    Connected(SlotId, Hop),
    /// The hop's request reaches the origin.
    AtOrigin(SlotId, Hop),
    /// The outcome of the hop (answer, failure, or its deadline) is known.
    Outcome(SlotId, Hop),
    /// A deadline the slot's node asked for (collapse wait, or a lazily armed parent wait).
    Timer(SlotId),
    /// The `i`-th `[[event]]` takes effect.
    World(usize),
}

impl Ev {
    /// How many kinds of event there are (one FIFO lane each in the queue).
    const KINDS: usize = 9;

    /// This event's kind, used as its queue lane: events of one kind are mostly scheduled a
    /// fixed delay after the current time, so they arrive in time order.
    fn kind(self) -> usize {
        match self {
            Ev::AtNode(_) => 0,
            Ev::Deliver(..) => 1,
            Ev::Syn(..) => 2,
            Ev::Connected(..) => 3,
            Ev::AtOrigin(..) => 4,
            Ev::Outcome(..) => 5,
            Ev::Timer(_) => 6,
            Ev::World(_) => 7,
            Ev::TcpUp(..) => 8,
        }
    }

    fn slot(self) -> Option<SlotId> {
        match self {
            Ev::AtNode(s)
            | Ev::Deliver(s, _)
            | Ev::Syn(s, _)
            | Ev::TcpUp(s, _)
            | Ev::Connected(s, _)
            | Ev::AtOrigin(s, _)
            | Ev::Outcome(s, _)
            | Ev::Timer(s) => Some(s),
            Ev::World(_) => None,
        }
    }
}

/// One-way delays: half of each round trip of a [`NetworkConfig`].
#[derive(Clone, Copy)]
struct OneWay {
    client: std::time::Duration,
    l1_l2: std::time::Duration,
    l2_origin: std::time::Duration,
}

impl OneWay {
    fn new(net: &NetworkConfig) -> OneWay {
        OneWay {
            client: net.client_rtt / 2,
            l1_l2: net.l1_l2_rtt / 2,
            l2_origin: net.l2_origin_rtt / 2,
        }
    }
}

/// The simulator: the core's nodes and origin, the clock, the queue and the exchanges.
struct Engine<'s> {
    scenario: &'s Scenario,
    profile: Profile,
    net: NetworkConfig,
    /// Half of each of `net`'s round trips, worked out once per network (a `Duration`
    /// division on every hop and arrival was ~1 % of the standard workload).
    one_way: OneWay,
    hostname: String,
    now: Instant,
    queue: EventQueue<Ev>,
    workloads: Vec<WorkloadGen>,
    /// Per workload: its next request and the one after, drawn ahead (`arrivals::Ahead`).
    ahead: Vec<Option<arrivals::Ahead>>,
    after: Vec<Option<arrivals::Ahead>>,
    /// Per workload: its URL template's cache-key prefix and eligibility.
    url_shapes: Vec<UrlShape>,
    l1: Vec<CacheNode>,
    l2: Vec<CacheNode>,
    origin: Origin,
    slots: Slots,
    /// Reusable action buffers (nested node calls each take one).
    spare: Vec<Vec<Action>>,
    counts: Counts,
    tracing: tracing::Tracing,
    on_response: Option<ResponseObserver>,
    progress: Option<ProgressObserver>,
    progress_every: u64,
    /// The next number of finished requests to report to `progress`.
    next_progress: u64,
    lateness: Option<lateness::Lateness>,
    /// Why the run stopped early, if it did.
    failed: Option<SimError>,
    max_in_flight: usize,
}

impl<'s> Engine<'s> {
    fn new(scenario: &'s Scenario, options: SimOptions) -> Engine<'s> {
        let seed = options.seed.unwrap_or(scenario.seed);
        let workloads = scenario
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| WorkloadGen::new(w, i, scenario.duration, seed))
            .collect();
        let (cdn, profile) = (&scenario.cdn, scenario.profile);
        let mut queue = EventQueue::new(Ev::KINDS);
        for (i, e) in scenario.events.iter().enumerate() {
            queue.push(Instant::ZERO + e.at, Ev::World(i));
        }
        let progress_every = match options.progress_every {
            0 => 1_000_000,
            n => n,
        };
        let mut engine = Engine {
            scenario,
            profile,
            net: scenario.network,
            one_way: OneWay::new(&scenario.network),
            hostname: scenario.origin.hostname.clone(),
            now: Instant::ZERO,
            queue,
            workloads,
            ahead: Vec::new(),
            after: Vec::new(),
            url_shapes: Vec::new(),
            l1: build_nodes(cdn, profile, Tier::L1, seed),
            l2: build_nodes(cdn, profile, Tier::L2, seed),
            origin: Origin::new(scenario.origin.clone()),
            slots: Slots::default(),
            spare: Vec::new(),
            counts: Counts::default(),
            tracing: tracing::Tracing::new(options.trace, options.trace_requests),
            on_response: options.on_response,
            progress: options.progress,
            progress_every,
            next_progress: progress_every,
            lateness: options
                .jitter
                .map(|j| lateness::Lateness::new(j, scenario.workloads.len())),
            failed: None,
            max_in_flight: match options.max_in_flight {
                0 => MAX_IN_FLIGHT,
                n => n,
            },
        };
        engine.url_shapes = engine.shapes();
        for w in 0..engine.workloads.len() {
            let next = engine.draw_ahead(w);
            engine.ahead.push(next);
            let after = engine.draw_ahead(w);
            engine.after.push(after);
        }
        engine
    }

    fn run(&mut self) {
        // The next arrival changes only when a request arrives: found once per arrival, not
        // once per event.
        let mut next_arrival = self.next_arrival_source();
        while self.failed.is_none() {
            // Queued events at the same instant run before new arrivals.
            if let Some((t, ev)) = self.queue.pop_unless_after(next_arrival.map(|(t, _)| t)) {
                self.prepare_lane(ev.kind());
                self.now = t;
                self.dispatch(ev);
                continue;
            }
            let Some((t, w)) = next_arrival else { break };
            self.now = t;
            self.arrive(w);
            next_arrival = self.next_arrival_source();
        }
    }

    /// Readies the CPU's caches for the next events of lane `lane` (events of one kind are
    /// due one after another, soon): the second one's slot, which has been out of the
    /// caches since it was scheduled, and for the first one (whose slot the previous call
    /// fetched) the node's store bucket for its key. Hints only: nothing changes.
    fn prepare_lane(&self, lane: usize) {
        if let Some(s) = self.queue.nth_of_lane(lane, 1).and_then(|e| e.slot()) {
            self.slots.prefetch(s);
        }
        if let Some(Ev::AtNode(s) | Ev::Deliver(s, _) | Ev::Outcome(s, _)) =
            self.queue.nth_of_lane(lane, 0).copied()
        {
            let slot = self.slots.get(s);
            self.node(slot.node).prefetch(slot.req.key);
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        if let Some(s) = ev.slot() {
            self.slots.get_mut(s).refs -= 1;
        }
        match ev {
            Ev::AtNode(s) => self.at_node(s),
            Ev::Deliver(s, hop) => self.deliver(s, hop),
            Ev::Syn(s, hop) => self.syn(s, hop),
            Ev::TcpUp(s, hop) => self.tcp_up(s, hop),
            Ev::Connected(s, hop) => self.origin_connected(s, hop),
            Ev::AtOrigin(s, hop) => self.at_origin(s, hop),
            Ev::Outcome(s, hop) => self.outcome(s, hop),
            Ev::Timer(s) => self.timer(s),
            Ev::World(i) => self.apply_world(i),
        }
        if let Some(s) = ev.slot() {
            self.slots.free_if_finished(s);
        }
    }

    /// Queues `ev` at `at`. An event that lands after a deadline its slot (or the exchange
    /// downstream waiting on it) has not armed yet arms that deadline first, so deadlines
    /// cost a queue entry only when they can matter.
    fn schedule(&mut self, at: Instant, ev: Ev) {
        let at = match self.lateness.as_mut() {
            Some(l) => {
                let group = ev.slot().is_some_and(|s| self.slots.get(s).late_group);
                at + l.draw(at, group)
            }
            None => at,
        };
        if let Some(s) = ev.slot() {
            // One look at the slot for its count, its deadline and its parent (arming
            // never changes who the parent is, so reading it first is the same).
            let slot = self.slots.get_mut(s);
            slot.refs += 1;
            let crossed = slot.unarmed_deadline().is_some_and(|until| at > until);
            let parent = slot.parent();
            if crossed {
                self.arm(s);
            }
            if let Some((parent, gen)) = parent {
                if self.slots.holds(parent, gen) {
                    self.arm_if_crossed(parent, at);
                }
            }
        }
        self.queue.push_in_lane(ev.kind(), at, ev);
    }

    /// Arms `s`'s pending deadline if something will happen to it (or its child) after it.
    fn arm_if_crossed(&mut self, s: SlotId, at: Instant) {
        if let Some(until) = self.slots.get(s).unarmed_deadline() {
            if at > until {
                self.arm(s);
            }
        }
    }

    /// Puts `s`'s pending deadline in the queue (once).
    fn arm(&mut self, s: SlotId) {
        let Some(until) = self.slots.get_mut(s).take_unarmed_deadline() else {
            return;
        };
        self.slots.get_mut(s).refs += 1;
        let ev = Ev::Timer(s);
        self.queue.push_in_lane(ev.kind(), until, ev);
    }

    fn buffer(&mut self) -> Vec<Action> {
        self.spare.pop().unwrap_or_default()
    }

    fn node_mut(&mut self, s: SlotId) -> &mut CacheNode {
        let n = self.slots.get(s).node;
        self.node_at(n)
    }

    fn node(&self, n: slots::NodeId) -> &CacheNode {
        match n.tier {
            Tier::L1 => &self.l1[n.index as usize],
            _ => &self.l2[n.index as usize],
        }
    }

    fn node_at(&mut self, n: slots::NodeId) -> &mut CacheNode {
        match n.tier {
            Tier::L1 => &mut self.l1[n.index as usize],
            _ => &mut self.l2[n.index as usize],
        }
    }

    /// A deadline came for `s`: the node decides what it means.
    fn timer(&mut self, s: SlotId) {
        let mut out = self.buffer();
        let now = self.now;
        self.node_mut(s).timer(now, s as u64, &mut out);
        let node = self.slots.get(s).node;
        self.run_actions(node, out);
    }
}
