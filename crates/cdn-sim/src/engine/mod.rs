//! The discrete-event engine: a virtual clock, an event queue with sequence-number tie breaks,
//! seeded randomness, and link latencies, driving the `cdn-core` state machines.
//!
//! A request's life, with the events that carry it (RTTs from `[network]`):
//!
//! ```text
//! arrival ─(½ client RTT)─► at L1 ─hit / stale────────────────────────────────► client
//!                            │miss, expired (conditional), or collapsed behind one
//!                            └─(½ L1-L2 RTT)─► AtL2 ─hit──(½ RTT)─► ParentAnswer ─► client
//!                                               │miss / expired
//!                                               ├ reuse an idle connection ─────┐
//!                                               └ new: Syn ─► (accept/refuse/drop)  │
//!                                                      └ TLS (1 RTT) ─► AtOrigin ◄┘
//!                                                        └► FetchDone ─► ParentAnswer ─► client
//! ```
//!
//! Both cache tiers run the same handlers ([`Engine::at_node`], [`Engine::upstream_answered`],
//! [`Engine::upstream_failed`]); they differ only in what "upstream" and "downstream" are.
//! Every wait has a deadline (connect timeout per attempt, read timeout at the fetching tier,
//! parent read timeout at L1, collapse timeout for waiters); whichever of answer and deadline
//! comes first wins.

mod queue;

use crate::latency::LatencyCounts;
use crate::report::{Report, RunCounts, StatusCounts};
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use cdn_core::cache::{CachePolicy, CacheStatus};
use cdn_core::config::{build_nodes, NodeState};
use cdn_core::message::UrlHasher;
use cdn_core::node::{Action, Ticket, Validators};
use cdn_core::origin::{ConnectVerdict, OriginReply};
use cdn_core::topology::{l1_for_client, nth_parent};
use cdn_core::trace::TraceEvent;
use cdn_core::{
    tls, CacheKey, CacheNode, CdnConfig, FailureKind, Instant, NetworkConfig, Origin,
    ParentErrorPolicy, Profile, Request, Response, Tier, Timeouts, Trace,
};
use queue::EventQueue;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Options for one simulated run.
#[derive(Default)]
pub struct SimOptions {
    /// Record hop-by-hop traces of the first N requests.
    pub trace: usize,
    /// Also record traces of exactly these request numbers (counted from 0, in arrival
    /// order): a first run finds the requests worth tracing, a second run traces them.
    pub trace_requests: BTreeSet<u64>,
    /// Called for every client response: (request number, status, generating tier).
    pub on_response: Option<Box<dyn FnMut(u64, u16, Tier)>>,
    /// Override the scenario's seed.
    pub seed: Option<u64>,
    /// Called every `progress_every` finished requests with (finished, virtual time).
    pub progress: Option<Box<dyn FnMut(u64, Instant)>>,
    /// How often to call `progress` (default 1,000,000 when 0).
    pub progress_every: u64,
}

/// What a run produced.
pub struct SimOutput {
    /// Counts by status, tier and cache status; latency percentiles.
    pub report: Report,
    /// The traced requests, in request order.
    pub traces: Vec<Trace>,
}

/// Runs `scenario` in virtual time.
///
/// ```
/// # use cdn_sim::{engine::{simulate, SimOptions}, builtin};
/// let scenario = builtin::load("origin-down").unwrap();
/// let out = simulate(&scenario, SimOptions::default());
/// assert_eq!(out.report.status.get("521"), Some(&out.report.requests));
/// ```
pub fn simulate(scenario: &Scenario, options: SimOptions) -> SimOutput {
    let mut engine = Engine::new(scenario, options);
    engine.run();
    engine.into_output()
}

type Fid = u32;

/// Index of a cache tier in per-tier arrays.
const L1: usize = 0;
/// Index of a cache tier in per-tier arrays.
const L2: usize = 1;

fn tier_of(t: usize) -> Tier {
    if t == L1 {
        Tier::L1
    } else {
        Tier::L2
    }
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    AtL2(Fid),
    ParentAnswer(Fid, u32),
    ParentDeadline(Fid, u32),
    Syn(Fid),
    AtOrigin(Fid),
    FetchDone(Fid),
    CollapseTimeout(Fid, u8),
    World(usize),
}

impl Ev {
    /// How many kinds of event there are (one FIFO lane each in the queue).
    const KINDS: usize = 8;

    /// This event's kind, used as its queue lane: events of one kind are mostly scheduled a
    /// fixed delay after the current time, so they arrive in time order.
    fn kind(self) -> usize {
        match self {
            Ev::AtL2(_) => 0,
            Ev::ParentAnswer(..) => 1,
            Ev::ParentDeadline(..) => 2,
            Ev::Syn(_) => 3,
            Ev::AtOrigin(_) => 4,
            Ev::FetchDone(_) => 5,
            Ev::CollapseTimeout(..) => 6,
            Ev::World(_) => 7,
        }
    }

    fn flight(self) -> Option<Fid> {
        match self {
            Ev::AtL2(f)
            | Ev::ParentAnswer(f, _)
            | Ev::ParentDeadline(f, _)
            | Ev::Syn(f)
            | Ev::AtOrigin(f)
            | Ev::FetchDone(f)
            | Ev::CollapseTimeout(f, _) => Some(f),
            Ev::World(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Pending,
    Response(Response),
    Failed(FailureKind, Duration),
}

/// One request in flight: a client's, or a background revalidation a cache started.
struct Flight {
    /// Request number in arrival order (background revalidations: `u64::MAX`).
    number: u64,
    req: Request,
    sent: Instant,
    /// L1 and L2 node indices.
    node: [u16; 2],
    /// Cache status at each tier.
    status: [CacheStatus; 2],
    /// Validators each tier sent upstream (it revalidates its stale copy).
    conditional: [Option<Validators>; 2],
    /// Waiting behind another request's collapse lock at this tier (the lock holds a ref).
    waiting: [bool; 2],
    /// For background revalidations: the tier that started it (no client waits).
    background: Option<usize>,
    parent_rank: u8,
    parent_gen: u32,
    awaiting_parent: bool,
    parent_deadline: Instant,
    /// Whether the deadline event is in the queue. It is armed lazily, only when an event of
    /// the exchange would land after it (or nothing else will wake the flight), so the
    /// common fast answer never leaves a dead timer behind.
    deadline_armed: bool,
    parent_refused: bool,
    rerouted: bool,
    /// The tier fetching from the origin right now (L2, or L1 going direct).
    fetcher: Option<usize>,
    src: Ipv4Addr,
    port: u16,
    tls: bool,
    verify: bool,
    reused: bool,
    attempt: u32,
    connect_started: Instant,
    req_sent: Instant,
    outcome: Outcome,
    /// L2's answer on its way to L1.
    answer: Response,
    done: bool,
    refs: u32,
    trace: Option<Box<Trace>>,
}

impl Flight {
    fn new(number: u64, req: Request, sent: Instant, l1: u16) -> Flight {
        Flight {
            number,
            req,
            sent,
            node: [l1, 0],
            status: [CacheStatus::Miss; 2],
            conditional: [None; 2],
            waiting: [false; 2],
            background: None,
            parent_rank: 0,
            parent_gen: 0,
            awaiting_parent: false,
            parent_deadline: Instant::ZERO,
            deadline_armed: false,
            parent_refused: false,
            rerouted: false,
            fetcher: None,
            src: Ipv4Addr::UNSPECIFIED,
            port: 0,
            tls: false,
            verify: false,
            reused: false,
            attempt: 0,
            connect_started: Instant::ZERO,
            req_sent: Instant::ZERO,
            outcome: Outcome::Pending,
            answer: Response::generated(Tier::L1, 0, ""),
            done: false,
            refs: 0,
            trace: None,
        }
    }
}

struct Engine<'s> {
    scenario: &'s Scenario,
    profile: Profile,
    cdn: CdnConfig,
    policy: CachePolicy,
    timeouts: Timeouts,
    net: NetworkConfig,
    hostname: String,
    now: Instant,
    queue: EventQueue<Ev>,
    workloads: Vec<WorkloadGen>,
    nodes: [Vec<CacheNode>; 2],
    origin: Origin,
    /// Reusable action buffers (nested node calls each take one).
    spare: Vec<Vec<Action>>,
    flights: Vec<Option<Flight>>,
    free: Vec<Fid>,
    /// Per workload: its URL template's cache-key prefix and eligibility.
    url_shapes: Vec<UrlShape>,
    // Results.
    requests: u64,
    finished: u64,
    status: BTreeMap<u16, [u64; 3]>,
    cache: [StatusCounts; 2],
    latency: LatencyCounts,
    trace_limit: usize,
    trace_requests: BTreeSet<u64>,
    on_response: Option<Box<dyn FnMut(u64, u16, Tier)>>,
    traces: Vec<Trace>,
    progress: Option<Box<dyn FnMut(u64, Instant)>>,
    progress_every: u64,
}

fn tier_index(t: Tier) -> usize {
    match t {
        Tier::L1 => 0,
        Tier::L2 => 1,
        Tier::Origin => 2,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRef {
    Cache(usize, u16),
    Origin,
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
        let l1 = build_nodes(&scenario.cdn.l1, Tier::L1, seed);
        let l2 = build_nodes(&scenario.cdn.l2, Tier::L2, seed);
        let mut queue = EventQueue::new(Ev::KINDS);
        for (i, e) in scenario.events.iter().enumerate() {
            queue.push(Instant::ZERO + e.at, Ev::World(i));
        }
        Engine {
            scenario,
            profile: scenario.profile,
            cdn: scenario.cdn.clone(),
            policy: scenario.cdn.cache_policy(scenario.profile),
            timeouts: scenario.cdn.timeouts(scenario.profile),
            net: scenario.network,
            hostname: scenario.origin.hostname.clone(),
            now: Instant::ZERO,
            queue,
            workloads,
            nodes: [l1, l2],
            origin: Origin::new(scenario.origin.clone()),
            spare: Vec::new(),
            flights: Vec::new(),
            free: Vec::new(),
            url_shapes: Vec::new(),
            requests: 0,
            finished: 0,
            status: BTreeMap::new(),
            cache: [StatusCounts::default(); 2],
            latency: LatencyCounts::default(),
            trace_limit: options.trace,
            trace_requests: options.trace_requests,
            on_response: options.on_response,
            traces: Vec::new(),
            progress: options.progress,
            progress_every: if options.progress_every == 0 {
                1_000_000
            } else {
                options.progress_every
            },
        }
    }

    // ----- the loop -------------------------------------------------------------------------

    fn run(&mut self) {
        self.url_shapes = self.shapes();
        loop {
            let next_arrival = self.next_arrival_source();
            let next_event = self.queue.peek_time();
            match (next_arrival, next_event) {
                (None, None) => break,
                // Queued events at the same instant run before new arrivals.
                (Some((t, w)), e) if e.is_none_or(|e| t < e) => {
                    self.now = t;
                    self.arrive(w);
                }
                _ => {
                    let (t, ev) = self.queue.pop().expect("peeked");
                    self.now = t;
                    self.dispatch(ev);
                }
            }
        }
    }

    /// The next request to reach an L1, and from which workload. Arrivals are not queued:
    /// each generator is already in time order, so the next one is merged with the queue
    /// here, and the queue stays as small as the requests in flight.
    fn next_arrival_source(&self) -> Option<(Instant, usize)> {
        let mut best: Option<(Instant, usize)> = None;
        let to_l1 = Self::half(self.net.client_rtt);
        for (i, w) in self.workloads.iter().enumerate() {
            if let Some(t) = w.peek().map(|t| t + to_l1) {
                if best.is_none_or(|(bt, _)| t < bt) {
                    best = Some((t, i));
                }
            }
        }
        best
    }

    fn dispatch(&mut self, ev: Ev) {
        if let Some(f) = ev.flight() {
            self.fl(f).refs -= 1;
        }
        match ev {
            Ev::AtL2(f) => self.at_node(f, L2),
            Ev::ParentAnswer(f, gen) => self.parent_answer(f, gen),
            Ev::ParentDeadline(f, gen) => self.parent_deadline(f, gen),
            Ev::Syn(f) => self.syn(f),
            Ev::AtOrigin(f) => self.at_origin(f),
            Ev::FetchDone(f) => self.fetch_done(f),
            Ev::CollapseTimeout(f, t) => self.collapse_timeout(f, t as usize),
            Ev::World(i) => self.apply_world(i),
        }
        if let Some(f) = ev.flight() {
            self.maybe_free(f);
        }
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        if let Some(f) = ev.flight() {
            let fl = self.fl(f);
            fl.refs += 1;
            let crosses_deadline = fl.awaiting_parent && at > fl.parent_deadline;
            if crosses_deadline && !matches!(ev, Ev::ParentDeadline(..)) {
                self.arm_parent_deadline(f);
            }
        }
        self.queue.push_in_lane(ev.kind(), at, ev);
    }

    /// Puts L1's parent-read deadline in the queue (once per exchange).
    fn arm_parent_deadline(&mut self, f: Fid) {
        let fl = self.fl(f);
        if fl.deadline_armed || !fl.awaiting_parent {
            return;
        }
        fl.deadline_armed = true;
        fl.refs += 1;
        let (at, gen) = (fl.parent_deadline, fl.parent_gen);
        let ev = Ev::ParentDeadline(f, gen);
        self.queue.push_in_lane(ev.kind(), at, ev);
    }

    fn fl(&mut self, f: Fid) -> &mut Flight {
        self.flights[f as usize].as_mut().expect("live flight")
    }

    fn alloc(&mut self, flight: Flight) -> Fid {
        match self.free.pop() {
            Some(f) => {
                self.flights[f as usize] = Some(flight);
                f
            }
            None => {
                self.flights.push(Some(flight));
                (self.flights.len() - 1) as Fid
            }
        }
    }

    /// Frees `f` once nothing refers to it; idempotent (an action may already have freed it).
    fn maybe_free(&mut self, f: Fid) {
        let Some(fl) = self.flights[f as usize].as_ref() else {
            return;
        };
        if fl.done && fl.refs == 0 && fl.fetcher.is_none() && !fl.waiting.iter().any(|&w| w) {
            self.flights[f as usize] = None;
            self.free.push(f);
        }
    }

    fn half(rtt: Duration) -> Duration {
        rtt / 2
    }

    fn node(&mut self, f: Fid, tier: usize) -> &mut CacheNode {
        let i = self.fl(f).node[tier] as usize;
        &mut self.nodes[tier][i]
    }

    // ----- tracing --------------------------------------------------------------------------

    fn traced(&self, f: Fid) -> bool {
        self.flights[f as usize]
            .as_ref()
            .is_some_and(|fl| fl.trace.is_some())
    }

    fn trace(&mut self, f: Fid, node: NodeRef, event: TraceEvent) {
        let at = self.now;
        self.trace_at(f, node, at, event);
    }

    fn trace_at(&mut self, f: Fid, node: NodeRef, at: Instant, event: TraceEvent) {
        if !self.traced(f) {
            return;
        }
        let name = match node {
            NodeRef::Cache(t, i) => self.nodes[t][i as usize].name().to_string(),
            NodeRef::Origin => self.hostname.clone(),
        };
        if let Some(t) = self.fl(f).trace.as_mut() {
            t.push(at, &name, event);
        }
    }

    fn at(&mut self, f: Fid, tier: usize) -> NodeRef {
        NodeRef::Cache(tier, self.fl(f).node[tier])
    }

    fn trace_tier(&mut self, f: Fid, tier: usize, event: TraceEvent) {
        if self.traced(f) {
            let node = self.at(f, tier);
            self.trace(f, node, event);
        }
    }

    // ----- arrival --------------------------------------------------------------------------

    fn arrive(&mut self, w: usize) {
        let a = self.workloads[w].next_arrival().expect("peeked");
        let gen = &self.workloads[w];
        let shape = &self.url_shapes[w];
        let req = Request {
            method: gen.method,
            scheme: gen.scheme,
            key: shape.key(a.key),
            client: a.client,
            encoding: a.encoding,
            eligible: shape.eligible,
        };
        let number = self.requests;
        self.requests += 1;
        let l1 = l1_for_client(a.client, self.nodes[L1].len()) as u16;
        let traced = number < self.trace_limit as u64 || self.trace_requests.contains(&number);
        // The ticket is the slot the flight will take; a plain hit never needs the flight.
        let f = self
            .free
            .last()
            .copied()
            .unwrap_or(self.flights.len() as Fid);
        let mut out = self.buffer();
        let collapse = self.cdn.collapse;
        self.nodes[L1][l1 as usize].receive(
            self.now,
            &self.policy,
            collapse,
            f as Ticket,
            &req,
            None,
            traced,
            &mut out,
        );
        if let (
            false,
            [Action::Answer {
                response, status, ..
            }],
        ) = (traced, out.as_slice())
        {
            // Fast path: served by the edge at once.
            let (response, status) = (*response, *status);
            self.record_client_response(number, a.at, status, response);
            out.clear();
            self.spare.push(out);
            return;
        }
        let mut flight = Flight::new(number, req, a.at, l1);
        if traced {
            let path = self.workloads[w].path.render(a.key);
            flight.trace = Some(Box::new(Trace::new(number, path, a.client, a.at)));
        }
        let allocated = self.alloc(flight);
        debug_assert_eq!(allocated, f);
        self.trace_tier(f, L1, TraceEvent::Received);
        self.run_actions(L1, l1 as usize, out);
        self.maybe_free(f);
    }

    // ----- a cache tier: the node decides, the engine carries its actions out --------------

    /// A request reaches tier `t`'s node.
    fn at_node(&mut self, f: Fid, t: usize) {
        self.trace_tier(f, t, TraceEvent::Received);
        let (req, i, downstream, traced) = {
            let traced = self.traced(f);
            let fl = self.fl(f);
            let downstream = if t == L2 { fl.conditional[L1] } else { None };
            (fl.req, fl.node[t] as usize, downstream, traced)
        };
        let mut out = self.buffer();
        let collapse = self.cdn.collapse;
        self.nodes[t][i].receive(
            self.now,
            &self.policy,
            collapse,
            f as Ticket,
            &req,
            downstream,
            traced,
            &mut out,
        );
        self.run_actions(t, i, out);
    }

    fn buffer(&mut self) -> Vec<Action> {
        self.spare.pop().unwrap_or_default()
    }

    /// Carries out what node `i` of tier `t` decided.
    fn run_actions(&mut self, t: usize, i: usize, mut out: Vec<Action>) {
        for action in out.drain(..) {
            self.act(t, i, action);
        }
        self.spare.push(out);
    }

    fn act(&mut self, t: usize, i: usize, action: Action) {
        match action {
            Action::Note { ticket, event } => self.trace_tier(ticket as Fid, t, event),
            Action::Wait { ticket, until } => {
                let f = ticket as Fid;
                let fl = self.fl(f);
                fl.waiting[t] = true;
                fl.refs += 1; // held by the lock until the node acts on it again
                self.schedule(until, Ev::CollapseTimeout(f, t as u8));
                if t == L2 {
                    // Only the leader's answer would wake a waiter; L1 must not wait past
                    // its deadline for it.
                    self.arm_parent_deadline(f);
                }
            }
            Action::Forward {
                ticket,
                conditional,
                status,
            } => {
                let f = ticket as Fid;
                self.unwait(f, t);
                {
                    let fl = self.fl(f);
                    fl.status[t] = status;
                    fl.conditional[t] = conditional;
                }
                self.trace_tier(f, t, cache_event(status, None));
                if t == L1 {
                    self.send_to_parent(f);
                } else {
                    self.start_fetch(f, L2);
                }
                self.maybe_free(f);
            }
            Action::Answer {
                ticket,
                response,
                status,
            } => {
                let f = ticket as Fid;
                self.unwait(f, t);
                self.fl(f).status[t] = status;
                if status.served_from_cache() {
                    self.trace_tier(f, t, cache_event(status, Some(response.age.as_secs())));
                }
                if self.fl(f).background != Some(t) {
                    self.answer(f, t, response);
                }
                self.maybe_free(f);
            }
            Action::Revalidate { req, conditional } => {
                // stale-while-revalidate: a request no client waits for.
                let mut bg = Flight::new(u64::MAX, req, self.now, 0);
                bg.node[t] = i as u16; // at L1 its parent is picked when it is forwarded
                bg.background = Some(t);
                bg.done = true; // finished as soon as nothing refers to it
                let b = self.alloc(bg);
                let mut out = self.buffer();
                self.nodes[t][i].receive_background(
                    self.now,
                    b as Ticket,
                    &req,
                    conditional,
                    &mut out,
                );
                self.run_actions(t, i, out);
                self.maybe_free(b);
            }
        }
    }

    fn unwait(&mut self, f: Fid, t: usize) {
        let fl = self.fl(f);
        if std::mem::take(&mut fl.waiting[t]) {
            fl.refs -= 1;
        }
    }

    /// A waiter's collapse deadline.
    fn collapse_timeout(&mut self, f: Fid, t: usize) {
        if !self.fl(f).waiting[t] {
            return;
        }
        let i = self.fl(f).node[t] as usize;
        let mut out = self.buffer();
        self.nodes[t][i].collapse_timeout(self.now, f as Ticket, &mut out);
        self.run_actions(t, i, out);
    }

    // ----- L1 → L2 ---------------------------------------------------------------------------

    fn send_to_parent(&mut self, f: Fid) {
        let l2_count = self.nodes[L2].len();
        let (key, rank) = {
            let fl = self.fl(f);
            (fl.req.key, fl.parent_rank)
        };
        let l2 = nth_parent(key, l2_count, rank as usize) as u16;
        let now = self.now;
        let parent_read = self.timeouts.parent_read;
        let gen = {
            let fl = self.fl(f);
            fl.node[L2] = l2;
            fl.parent_gen += 1;
            fl.awaiting_parent = true;
            fl.parent_deadline = now + parent_read;
            fl.deadline_armed = false;
            fl.parent_gen
        };
        let rtt = self.net.l1_l2_rtt;
        let state = self.nodes[L2][l2 as usize].state();
        if self.traced(f) {
            let peer = self.nodes[L2][l2 as usize].name().to_string();
            let verdict = (state == NodeState::Down).then_some(ConnectVerdict::Refuse);
            let ev = TraceEvent::Connect {
                to: Tier::L2,
                peer,
                port: 443,
                egress: None,
                reused: state == NodeState::Up,
                verdict,
                attempt: 1,
            };
            self.trace_tier(f, L1, ev);
            if let Some(v) = self.fl(f).conditional[L1] {
                self.trace_tier(
                    f,
                    L1,
                    TraceEvent::Conditional {
                        etag: v.etag.map(|e| e.0),
                    },
                );
            }
        }
        match state {
            NodeState::Up => {
                self.schedule(now + Self::half(rtt), Ev::AtL2(f));
            }
            NodeState::Down => {
                self.fl(f).parent_refused = true;
                self.fl(f).deadline_armed = true;
                self.schedule(now + rtt, Ev::ParentDeadline(f, gen));
            }
            NodeState::Hung => {
                // Nothing will ever answer: only the deadline wakes this flight.
                self.arm_parent_deadline(f);
            }
        }
    }

    /// L1's wait for its parent ended without an answer: a refused connection or the parent
    /// read timeout.
    fn parent_deadline(&mut self, f: Fid, gen: u32) {
        let fl = self.fl(f);
        if !fl.awaiting_parent || fl.parent_gen != gen {
            return;
        }
        fl.awaiting_parent = false;
        let (kind, waited) = if std::mem::take(&mut fl.parent_refused) {
            (FailureKind::Refused, self.net.l1_l2_rtt)
        } else {
            (FailureKind::ReadTimeout, self.timeouts.parent_read)
        };
        self.trace_tier(
            f,
            L1,
            TraceEvent::Failed {
                failure: kind,
                waited,
            },
        );
        if self.reroute(f) {
            return;
        }
        self.upstream_failed(f, L1, kind);
    }

    /// Applies `on_parent_error`; true if the request was sent elsewhere.
    fn reroute(&mut self, f: Fid) -> bool {
        let policy = self.cdn.on_parent_error;
        let l2_count = self.nodes[L2].len();
        let fl = self.fl(f);
        // One reroute per request. And while the first parent is still fetching for this
        // request (L1 timed out first), a second fetch would share its fetch state: relay.
        if fl.rerouted || fl.fetcher.is_some() {
            return false;
        }
        match policy {
            ParentErrorPolicy::Relay => false,
            ParentErrorPolicy::NextParent if l2_count < 2 => false,
            ParentErrorPolicy::NextParent => {
                fl.rerouted = true;
                fl.parent_rank += 1;
                self.trace_tier(
                    f,
                    L1,
                    TraceEvent::Retry {
                        policy: "next_parent",
                    },
                );
                self.send_to_parent(f);
                true
            }
            ParentErrorPolicy::GoDirect => {
                fl.rerouted = true;
                self.trace_tier(
                    f,
                    L1,
                    TraceEvent::Retry {
                        policy: "go_direct",
                    },
                );
                self.start_fetch(f, L1);
                true
            }
        }
    }

    fn parent_answer(&mut self, f: Fid, gen: u32) {
        let fl = self.fl(f);
        if !fl.awaiting_parent || fl.parent_gen != gen {
            return; // L1 already gave up on this exchange
        }
        fl.awaiting_parent = false;
        let answer = fl.answer;
        // A parent that generated a server error of its own counts as a failed parent.
        if answer.generated_by == Tier::L2 && answer.is_server_error() && self.reroute(f) {
            return;
        }
        self.upstream_answered(f, L1, answer);
    }

    // ----- a cache tier hears back from upstream ----------------------------------------------

    /// Tier `t` received `resp` from upstream (its parent, or the origin).
    fn upstream_answered(&mut self, f: Fid, t: usize, resp: Response) {
        let i = self.fl(f).node[t] as usize;
        let mut out = self.buffer();
        self.nodes[t][i].answered(self.now, &self.policy, f as Ticket, &resp, &mut out);
        self.run_actions(t, i, out);
    }

    /// Tier `t` could not get an answer from upstream.
    fn upstream_failed(&mut self, f: Fid, t: usize, kind: FailureKind) {
        let generated = self.generated_error(tier_of(t), kind);
        let i = self.fl(f).node[t] as usize;
        let mut out = self.buffer();
        self.nodes[t][i].failed(self.now, &self.policy, f as Ticket, &generated, &mut out);
        self.run_actions(t, i, out);
    }

    /// Tier `t` answers downstream: L1 to the client, L2 to L1.
    fn answer(&mut self, f: Fid, t: usize, resp: Response) {
        if t == L1 {
            self.respond_to_client(f, resp);
            return;
        }
        let (gen, status) = {
            let fl = self.fl(f);
            fl.answer = resp;
            (fl.parent_gen, fl.status[L2])
        };
        self.cache[L2].count_response(status, &resp);
        self.trace_tier(
            f,
            L2,
            TraceEvent::Responded {
                status: resp.status,
                generated_by: resp.generated_by,
            },
        );
        let at = self.now + Self::half(self.net.l1_l2_rtt);
        self.schedule(at, Ev::ParentAnswer(f, gen));
    }

    fn respond_to_client(&mut self, f: Fid, resp: Response) {
        let (number, sent, status) = {
            let fl = self.fl(f);
            fl.done = true;
            (fl.number, fl.sent, fl.status[L1])
        };
        let latency = self.record_client_response(number, sent, status, resp);
        if let Some(mut t) = self.fl(f).trace.take() {
            t.status = resp.status;
            t.generated_by = resp.generated_by;
            t.latency = latency;
            let at = sent + latency;
            t.push(
                at,
                "client",
                TraceEvent::Responded {
                    status: resp.status,
                    generated_by: resp.generated_by,
                },
            );
            t.age_s = self.profile.age_header(status, &resp);
            t.cache_status = status;
            self.traces.push(*t);
        }
    }

    fn record_client_response(
        &mut self,
        number: u64,
        sent: Instant,
        l1: CacheStatus,
        resp: Response,
    ) -> Duration {
        let latency = (self.now + Self::half(self.net.client_rtt)) - sent;
        self.latency.record(latency);
        self.status.entry(resp.status).or_insert([0; 3])[tier_index(resp.generated_by)] += 1;
        self.cache[L1].count_response(l1, &resp);
        if let Some(observe) = self.on_response.as_mut() {
            observe(number, resp.status, resp.generated_by);
        }
        self.finished += 1;
        if self.finished % self.progress_every == 0 {
            if let Some(p) = self.progress.as_mut() {
                p(self.finished, self.now);
            }
        }
        latency
    }

    // ----- the origin fetch (by L2, or by L1 going direct) -----------------------------------

    fn fetcher_ref(&mut self, f: Fid) -> NodeRef {
        let t = self.fl(f).fetcher.expect("fetching");
        self.at(f, t)
    }

    fn start_fetch(&mut self, f: Fid, t: usize) {
        let leg = self.cdn.ssl_mode.origin_leg(self.fl(f).req.scheme);
        {
            let fl = self.fl(f);
            fl.fetcher = Some(t);
            fl.attempt = 0;
            fl.port = leg.port;
            fl.tls = leg.tls;
            fl.verify = leg.verify;
            fl.outcome = Outcome::Pending;
        }
        if !self.origin.resolves() {
            self.fetch_failed(f, FailureKind::Dns, Duration::ZERO);
            return;
        }
        self.connect(f);
    }

    fn connect(&mut self, f: Fid) {
        let keepalive = self.cdn.keepalive;
        let (req, port, t) = {
            let fl = self.fl(f);
            fl.attempt += 1;
            (fl.req, fl.port, fl.fetcher.expect("fetching"))
        };
        let (src, reused) = self.node(f, t).take_connection(&req, port, keepalive);
        let now = self.now;
        let one_way = Self::half(self.net.l2_origin_rtt);
        {
            let fl = self.fl(f);
            fl.src = src;
            fl.reused = reused;
            fl.connect_started = now;
        }
        if reused {
            if self.traced(f) {
                let node = self.fetcher_ref(f);
                let ev = self.connect_event(f, None);
                self.trace(f, node, ev);
                self.trace_request_sent(f, now);
            }
            self.fl(f).req_sent = now;
            self.schedule(now + one_way, Ev::AtOrigin(f));
        } else {
            self.schedule(now + one_way, Ev::Syn(f));
        }
    }

    fn trace_request_sent(&mut self, f: Fid, at: Instant) {
        let node = self.fetcher_ref(f);
        let t = self.fl(f).fetcher.expect("fetching");
        if let Some(v) = self.fl(f).conditional[t] {
            self.trace_at(
                f,
                node,
                at,
                TraceEvent::Conditional {
                    etag: v.etag.map(|e| e.0),
                },
            );
        }
        self.trace_at(f, node, at, TraceEvent::RequestSent);
    }

    fn connect_event(&mut self, f: Fid, verdict: Option<ConnectVerdict>) -> TraceEvent {
        let peer = self.hostname.clone();
        let fl = self.fl(f);
        TraceEvent::Connect {
            to: Tier::Origin,
            peer,
            port: fl.port,
            egress: Some(fl.src),
            reused: fl.reused,
            verdict,
            attempt: fl.attempt,
        }
    }

    /// The SYN reaches the origin.
    fn syn(&mut self, f: Fid) {
        let (src, port, tls_on, verify, started) = {
            let fl = self.fl(f);
            (fl.src, fl.port, fl.tls, fl.verify, fl.connect_started)
        };
        let verdict = self.origin.connect(src, port);
        let now = self.now;
        let one_way = Self::half(self.net.l2_origin_rtt);
        let rtt = self.net.l2_origin_rtt;
        if self.traced(f) {
            let node = self.fetcher_ref(f);
            let ev = self.connect_event(f, Some(verdict));
            // Logged at the fetcher, at the moment it started the connection.
            self.trace_at(f, node, started, ev);
        }
        let failure = match verdict {
            ConnectVerdict::Accept => None,
            ConnectVerdict::Refuse => Some((FailureKind::Refused, now + one_way)),
            ConnectVerdict::Unreachable => Some((FailureKind::Unreachable, now + one_way)),
            ConnectVerdict::Drop => {
                Some((FailureKind::ConnectTimeout, started + self.timeouts.connect))
            }
        };
        if let Some((kind, at)) = failure {
            self.fl(f).outcome = Outcome::Failed(kind, at - started);
            self.schedule(at, Ev::FetchDone(f));
            return;
        }
        // Connected at the fetcher after one RTT; TLS adds one more (TLS 1.3).
        let connected = now + one_way;
        if tls_on {
            let cfg = self.origin.config();
            let leg = cdn_core::tls::OriginLeg {
                port,
                tls: true,
                verify,
            };
            let result = tls::handshake(leg, cfg.https, cfg.cert, self.profile.trusts_origin_ca());
            if let Err(kind) = result {
                self.fl(f).outcome = Outcome::Failed(kind, connected + rtt - started);
                self.schedule(connected + rtt, Ev::FetchDone(f));
                return;
            }
            let node = self.fetcher_ref(f);
            self.trace_at(
                f,
                node,
                connected + rtt,
                TraceEvent::TlsEstablished { verified: verify },
            );
        }
        let sent = if tls_on { connected + rtt } else { connected };
        self.fl(f).req_sent = sent;
        if self.traced(f) {
            self.trace_request_sent(f, sent);
        }
        self.schedule(sent + one_way, Ev::AtOrigin(f));
    }

    /// The request reaches the origin.
    fn at_origin(&mut self, f: Fid) {
        let (src, req, sent, conditional) = {
            let fl = self.fl(f);
            let t = fl.fetcher.expect("fetching");
            (fl.src, fl.req, fl.req_sent, fl.conditional[t])
        };
        let now = self.now;
        let one_way = Self::half(self.net.l2_origin_rtt);
        let deadline = sent + self.timeouts.read;
        let reply = self.origin.handle_request(now, src, &req, conditional);
        let read_timeout = Outcome::Failed(FailureKind::ReadTimeout, self.timeouts.read);
        let broken = |kind| (Outcome::Failed(kind, now + one_way - sent), now + one_way);
        let (outcome, at) = match reply {
            OriginReply::Respond {
                done,
                response,
                rejected_by,
            } => {
                if let Some(by) = rejected_by {
                    self.trace(f, NodeRef::Origin, TraceEvent::Defended { by });
                }
                let arrives = done + one_way;
                if arrives > deadline {
                    (read_timeout, deadline)
                } else {
                    (Outcome::Response(response), arrives)
                }
            }
            OriginReply::Hang => (read_timeout, deadline.max(now)),
            OriginReply::Reset => broken(FailureKind::Reset),
            OriginReply::Close => broken(FailureKind::ClosedEarly),
            OriginReply::Garbage => broken(FailureKind::InvalidResponse),
        };
        self.fl(f).outcome = outcome;
        self.schedule(at, Ev::FetchDone(f));
    }

    /// The fetcher learns how its origin fetch went.
    fn fetch_done(&mut self, f: Fid) {
        let outcome = std::mem::replace(&mut self.fl(f).outcome, Outcome::Pending);
        match outcome {
            Outcome::Response(resp) => {
                if self.cdn.keepalive {
                    let (src, port, t) = {
                        let fl = self.fl(f);
                        (fl.src, fl.port, fl.fetcher.expect("fetching"))
                    };
                    self.node(f, t).return_connection(src, port);
                }
                let t = self.fl(f).fetcher.take().expect("fetching");
                self.upstream_answered(f, t, resp);
            }
            Outcome::Failed(kind, waited) => {
                let (attempt, is_connect) = (self.fl(f).attempt, kind.is_connect_failure());
                if is_connect && attempt < self.timeouts.connect_attempts {
                    self.trace_fetcher(
                        f,
                        TraceEvent::Failed {
                            failure: kind,
                            waited,
                        },
                    );
                    self.connect(f);
                    return;
                }
                let total = if is_connect { waited * attempt } else { waited };
                self.fetch_failed(f, kind, total);
            }
            Outcome::Pending => unreachable!("FetchDone is scheduled with an outcome"),
        }
    }

    /// Traces `event` at the node fetching from the origin.
    fn trace_fetcher(&mut self, f: Fid, event: TraceEvent) {
        if self.traced(f) {
            let node = self.fetcher_ref(f);
            self.trace(f, node, event);
        }
    }

    fn fetch_failed(&mut self, f: Fid, kind: FailureKind, waited: Duration) {
        self.trace_fetcher(
            f,
            TraceEvent::Failed {
                failure: kind,
                waited,
            },
        );
        let t = self.fl(f).fetcher.take().expect("fetching");
        self.upstream_failed(f, t, kind);
    }

    // ----- shared helpers -------------------------------------------------------------------

    fn generated_error(&self, tier: Tier, kind: FailureKind) -> Response {
        let mut e = self.profile.error_for(kind);
        if let (FailureKind::Certificate(_), Some(s)) = (kind, self.cdn.cert_error_status) {
            e.status = s;
        }
        Response::generated(tier, e.status, e.reason).dated(self.now)
    }

    /// What every request of each workload shares: the cache key's prefix (host and the
    /// template up to `{key}`) and whether the URL is eligible for caching — the key is
    /// digits, so it never changes a path's extension.
    fn shapes(&self) -> Vec<UrlShape> {
        self.workloads
            .iter()
            .map(|w| {
                let (prefix, suffix) = w.path.parts();
                let mut hasher = UrlHasher::new(&self.hostname);
                hasher.write(prefix.as_bytes());
                UrlShape {
                    prefix: hasher,
                    suffix: suffix.map(|s| s.as_bytes().to_vec()),
                    eligible: self.policy.eligibility.allows(&w.path.render(0)),
                }
            })
            .collect()
    }

    fn apply_world(&mut self, i: usize) {
        let e = &self.scenario.events[i];
        if e.origin != *self.origin.config() {
            self.origin.reconfigure(self.now, e.origin.clone());
            self.hostname = e.origin.hostname.clone();
            // The origin restarted or changed: pooled connections to it are gone.
            for n in self.nodes.iter_mut().flatten() {
                n.drop_connections();
            }
        }
        for (node, cfg) in self.nodes[L2].iter_mut().zip(&e.cdn.l2) {
            node.set_state(cfg.state);
        }
        self.cdn = e.cdn.clone();
        self.policy = self.cdn.cache_policy(self.profile);
        self.url_shapes = self.shapes();
        self.timeouts = self.cdn.timeouts(self.profile);
        self.net = e.network;
    }

    fn into_output(self) -> SimOutput {
        let egress_pools = self.nodes[L2]
            .iter()
            .map(|n| {
                let blocks = n
                    .egress()
                    .as_cidrs()
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                (n.name().to_string(), blocks)
            })
            .collect();
        let [l1, l2] = self.cache;
        let report = Report::build(
            self.scenario,
            RunCounts {
                requests: self.requests,
                status: self.status,
                origin_requests: self.origin.requests_received(),
                l1,
                l2,
                latency: self.latency,
                egress_pools,
            },
        );
        let mut traces = self.traces;
        traces.sort_by_key(|t| t.request);
        SimOutput { report, traces }
    }
}

/// A workload's URL template, pre-hashed.
struct UrlShape {
    prefix: UrlHasher,
    suffix: Option<Vec<u8>>,
    eligible: bool,
}

impl UrlShape {
    /// The cache key of the URL for key number `n` — equal to
    /// `CacheKey::for_url(host, &template.render(n))`, without rendering it.
    fn key(&self, n: u64) -> CacheKey {
        let mut h = self.prefix;
        if let Some(suffix) = &self.suffix {
            h.write_decimal(n);
            h.write(suffix);
        }
        h.finish()
    }
}

fn cache_event(status: CacheStatus, age_s: Option<u64>) -> TraceEvent {
    TraceEvent::Cache { status, age_s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::PathTemplate;

    #[test]
    fn pre_hashed_keys_equal_hashing_the_rendered_url() {
        for template in [
            "/assets/{key}.png",
            "/{key}",
            "/a/b?x={key}&y=1",
            "/logo.png",
        ] {
            let t = PathTemplate::new(template);
            let (prefix, suffix) = t.parts();
            let mut h = UrlHasher::new("www.example.com");
            h.write(prefix.as_bytes());
            let shape = UrlShape {
                prefix: h,
                suffix: suffix.map(|s| s.as_bytes().to_vec()),
                eligible: true,
            };
            for n in [0, 7, 42, 999_999, u64::MAX] {
                let expected = CacheKey::for_url("www.example.com", &t.render(n));
                assert_eq!(shape.key(n), expected, "{template} {n}");
            }
        }
    }
}
