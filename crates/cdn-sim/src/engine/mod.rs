//! The discrete-event engine: a virtual clock, an event queue with sequence-number tie breaks,
//! seeded randomness, and link latencies, driving the `cdn-core` state machines.
//!
//! A request's life, with the events that carry it (RTTs from `[network]`):
//!
//! ```text
//! arrival ─(½ client RTT)─► at L1 ─hit──────────────────────────────────────────► client
//!                            │miss (or collapsed behind an in-flight miss)
//!                            └─(½ L1-L2 RTT)─► AtL2 ─hit──(½ RTT)─► ParentAnswer ─► client
//!                                               │miss
//!                                               ├ reuse an idle connection ─────┐
//!                                               └ new: Syn ─► (accept/refuse/drop)  │
//!                                                      └ TLS (1 RTT) ─► AtOrigin ◄┘
//!                                                        └► FetchDone ─► ParentAnswer ─► client
//! ```
//!
//! Every wait has a deadline (connect timeout per attempt, read timeout at L2, parent read
//! timeout at L1); whichever of answer and deadline comes first wins.

mod queue;

use crate::latency::LatencyCounts;
use crate::report::{Report, RunCounts, TierCounts};
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use cdn_core::cache::{CacheStatus, KeyBuildHasher};
use cdn_core::config::NodeState;
use cdn_core::message::mix64;
use cdn_core::node::Lookup;
use cdn_core::origin::{ConnectVerdict, OriginReply};
use cdn_core::topology::{l1_for_client, nth_parent};
use cdn_core::trace::TraceEvent;
use cdn_core::{
    tls, AddrSpec, CacheKey, CacheNode, CdnConfig, EgressPool, FailureKind, Instant, NetworkConfig,
    NodeConfig, Origin, ParentErrorPolicy, Profile, Request, Response, Tier, Timeouts, Trace,
};
use queue::EventQueue;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Options for one simulated run.
#[derive(Default)]
pub struct SimOptions {
    /// Record hop-by-hop traces of the first N requests.
    pub trace: usize,
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

/// Keys with a fetch in flight at one node, and the flights collapsed behind each.
type Locks = HashMap<CacheKey, Vec<Fid>, KeyBuildHasher>;

#[derive(Clone, Copy, Debug)]
enum Ev {
    AtL2(Fid),
    ParentAnswer(Fid, u32),
    ParentDeadline(Fid, u32),
    Syn(Fid),
    AtOrigin(Fid),
    FetchDone(Fid),
    World(usize),
}

impl Ev {
    fn flight(self) -> Option<Fid> {
        match self {
            Ev::AtL2(f)
            | Ev::ParentAnswer(f, _)
            | Ev::ParentDeadline(f, _)
            | Ev::Syn(f)
            | Ev::AtOrigin(f)
            | Ev::FetchDone(f) => Some(f),
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

/// One client request in flight.
struct Flight {
    req: Request,
    sent: Instant,
    l1: u16,
    l2: u16,
    parent_rank: u8,
    parent_gen: u32,
    awaiting_parent: bool,
    /// When L1 stops waiting for its parent.
    parent_deadline: Instant,
    /// Whether the deadline event is in the queue. It is armed lazily, only when an event of
    /// the exchange would land after it (or nothing else will wake the flight), so the
    /// common fast answer never leaves a dead timer behind.
    deadline_armed: bool,
    rerouted: bool,
    /// Skip collapsing: released from a lock whose leader got an uncacheable answer.
    no_collapse_l1: bool,
    no_collapse_l2: bool,
    l1_status: CacheStatus,
    l2_status: CacheStatus,
    fetcher: Tier,
    src: Ipv4Addr,
    port: u16,
    tls: bool,
    verify: bool,
    reused: bool,
    attempt: u32,
    connect_started: Instant,
    req_sent: Instant,
    /// The fetcher's (L2's, or L1's going direct) result from the origin.
    outcome: Outcome,
    /// Set when L1's connection to its parent was refused.
    parent_refused: bool,
    answer: Response,
    done: bool,
    refs: u32,
    trace: Option<Box<Trace>>,
}

struct Engine<'s> {
    scenario: &'s Scenario,
    profile: Profile,
    cdn: CdnConfig,
    timeouts: Timeouts,
    net: NetworkConfig,
    hostname: String,
    now: Instant,
    queue: EventQueue<Ev>,
    workloads: Vec<WorkloadGen>,
    l1: Vec<CacheNode>,
    l2: Vec<CacheNode>,
    origin: Origin,
    /// Per node: keys with a fetch in flight, and the flights waiting for it.
    locks_l1: Vec<Locks>,
    locks_l2: Vec<Locks>,
    flights: Vec<Option<Flight>>,
    free: Vec<Fid>,
    path_buf: String,
    // Results.
    requests: u64,
    finished: u64,
    status: BTreeMap<u16, [u64; 3]>,
    cache_l1: TierCounts,
    cache_l2: TierCounts,
    latency: LatencyCounts,
    trace_limit: usize,
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

fn build_nodes(nodes: &[NodeConfig], tier: Tier, seed: u64) -> Vec<CacheNode> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let is_l1 = tier == Tier::L1;
            let specs: Vec<AddrSpec> = if n.egress.is_empty() {
                vec![NodeConfig::default_egress(is_l1, i)]
            } else {
                n.egress.clone()
            };
            let node_seed = seed ^ mix64((i as u64) << 8 | tier_index(tier) as u64);
            let pool = EgressPool::new(&specs, n.egress_selection, node_seed)
                .expect("validated: egress pools are non-empty and bounded");
            let default_cache = if is_l1 { 64 << 20 } else { 1 << 30 };
            let mut node = CacheNode::new(&n.name, tier, n.cache.unwrap_or(default_cache), pool);
            node.set_state(n.state);
            node
        })
        .collect()
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
        let mut queue = EventQueue::new();
        for (i, e) in scenario.events.iter().enumerate() {
            queue.push(Instant::ZERO + e.at, Ev::World(i));
        }
        Engine {
            scenario,
            profile: scenario.profile,
            cdn: scenario.cdn.clone(),
            timeouts: scenario.cdn.timeouts(scenario.profile),
            net: scenario.network,
            hostname: scenario.origin.hostname.clone(),
            now: Instant::ZERO,
            queue,
            workloads,
            locks_l1: (0..l1.len()).map(|_| Locks::default()).collect(),
            locks_l2: (0..l2.len()).map(|_| Locks::default()).collect(),
            l1,
            l2,
            origin: Origin::new(scenario.origin.clone()),
            flights: Vec::new(),
            free: Vec::new(),
            path_buf: String::new(),
            requests: 0,
            finished: 0,
            status: BTreeMap::new(),
            cache_l1: TierCounts::default(),
            cache_l2: TierCounts::default(),
            latency: LatencyCounts::default(),
            trace_limit: options.trace,
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
        loop {
            let next_arrival = self.next_arrival_source();
            let next_event = self.queue.peek_time();
            match (next_arrival, next_event) {
                (None, None) => break,
                // Queued events at the same instant run before new arrivals.
                (Some((t, w)), e) if e.is_none_or(|e| t < e) => {
                    self.now = t;
                    let f = self.arrive(w);
                    self.at_l1(f);
                    self.maybe_free(f);
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
            Ev::AtL2(f) => self.at_l2(f),
            Ev::ParentAnswer(f, gen) => self.parent_answer(f, gen),
            Ev::ParentDeadline(f, gen) => self.parent_deadline(f, gen),
            Ev::Syn(f) => self.syn(f),
            Ev::AtOrigin(f) => self.at_origin(f),
            Ev::FetchDone(f) => self.fetch_done(f),
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
        self.queue.push(at, ev);
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
        self.queue.push(at, Ev::ParentDeadline(f, gen));
    }

    fn fl(&mut self, f: Fid) -> &mut Flight {
        self.flights[f as usize].as_mut().expect("live flight")
    }

    fn maybe_free(&mut self, f: Fid) {
        let fl = self.flights[f as usize].as_ref().expect("live flight");
        if fl.done && fl.refs == 0 && fl.fetcher_idle() {
            self.flights[f as usize] = None;
            self.free.push(f);
        }
    }

    fn half(rtt: Duration) -> Duration {
        rtt / 2
    }

    // ----- arrival and L1 -------------------------------------------------------------------

    fn arrive(&mut self, w: usize) -> Fid {
        let a = self.workloads[w].next_arrival().expect("peeked");
        let gen = &self.workloads[w];
        gen.path.write(a.key, &mut self.path_buf);
        let key = CacheKey::for_url(&self.hostname, &self.path_buf);
        let req = Request {
            method: gen.method,
            scheme: gen.scheme,
            key,
            client: a.client,
        };
        let number = self.requests;
        self.requests += 1;
        let trace = (number < self.trace_limit as u64)
            .then(|| Box::new(Trace::new(number, self.path_buf.clone(), a.client, a.at)));
        let flight = Flight {
            req,
            sent: a.at,
            l1: l1_for_client(a.client, self.l1.len()) as u16,
            l2: 0,
            parent_rank: 0,
            parent_gen: 0,
            awaiting_parent: false,
            parent_deadline: Instant::ZERO,
            deadline_armed: false,
            rerouted: false,
            no_collapse_l1: false,
            no_collapse_l2: false,
            l1_status: CacheStatus::Miss,
            l2_status: CacheStatus::Miss,
            fetcher: Tier::Origin,
            src: Ipv4Addr::UNSPECIFIED,
            port: 0,
            tls: false,
            verify: false,
            reused: false,
            attempt: 0,
            connect_started: Instant::ZERO,
            req_sent: Instant::ZERO,
            outcome: Outcome::Pending,
            parent_refused: false,
            answer: Response::generated(Tier::L1, 0, ""),
            done: false,
            refs: 0,
            trace,
        };
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

    fn trace(&mut self, f: Fid, node: NodeRef, event: TraceEvent) {
        let now = self.now;
        let name: &str = match node {
            NodeRef::L1(i) => self.l1[i as usize].name(),
            NodeRef::L2(i) => self.l2[i as usize].name(),
            NodeRef::Origin => &self.hostname,
            NodeRef::Client => "client",
        };
        let name = name.to_string();
        if let Some(t) = self.flights[f as usize]
            .as_mut()
            .and_then(|fl| fl.trace.as_mut())
        {
            t.push(now, &name, event);
        }
    }

    fn traced(&self, f: Fid) -> bool {
        self.flights[f as usize]
            .as_ref()
            .is_some_and(|fl| fl.trace.is_some())
    }

    fn at_l1(&mut self, f: Fid) {
        let (l1, req, no_collapse) = {
            let fl = self.fl(f);
            (fl.l1, fl.req, fl.no_collapse_l1)
        };
        if self.traced(f) {
            self.trace(f, NodeRef::L1(l1), TraceEvent::Received);
        }
        let now = self.now;
        match self.l1[l1 as usize].lookup(now, &req) {
            Lookup::Hit(resp) => {
                self.fl(f).l1_status = CacheStatus::Hit;
                if self.traced(f) {
                    let age_s = Some(resp.age.as_secs());
                    self.trace(f, NodeRef::L1(l1), cache_event(CacheStatus::Hit, age_s));
                }
                self.respond_to_client(f, resp);
            }
            Lookup::Forward(status) => {
                self.fl(f).l1_status = status;
                if self.traced(f) {
                    self.trace(f, NodeRef::L1(l1), cache_event(status, None));
                }
                if self.cdn.collapse && !no_collapse && status != CacheStatus::Bypass {
                    let locks = &mut self.locks_l1[l1 as usize];
                    if let Some(waiters) = locks.get_mut(&req.key) {
                        waiters.push(f);
                        self.fl(f).refs += 1; // held by the lock
                        return;
                    }
                    locks.insert(req.key, Vec::new());
                }
                self.send_to_parent(f);
            }
        }
    }

    fn send_to_parent(&mut self, f: Fid) {
        let l2_count = self.l2.len();
        let (key, rank, l1) = {
            let fl = self.fl(f);
            (fl.req.key, fl.parent_rank, fl.l1)
        };
        let l2 = nth_parent(key, l2_count, rank as usize) as u16;
        let now = self.now;
        let parent_read = self.timeouts.parent_read;
        let gen = {
            let fl = self.fl(f);
            fl.l2 = l2;
            fl.parent_gen += 1;
            fl.awaiting_parent = true;
            fl.parent_deadline = now + parent_read;
            fl.deadline_armed = false;
            fl.parent_gen
        };
        let rtt = self.net.l1_l2_rtt;
        let state = self.l2[l2 as usize].state();
        if self.traced(f) {
            let peer = self.l2[l2 as usize].name().to_string();
            let verdict = match state {
                NodeState::Down => Some(ConnectVerdict::Refuse),
                _ => None,
            };
            self.trace(
                f,
                NodeRef::L1(l1),
                TraceEvent::Connect {
                    to: Tier::L2,
                    peer,
                    port: 443,
                    egress: None,
                    reused: state == NodeState::Up,
                    verdict,
                    attempt: 1,
                },
            );
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

    /// L1's wait for its parent ended without an answer: a refused connection (outcome set)
    /// or the parent read timeout.
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
        let l1 = self.fl(f).l1;
        if self.traced(f) {
            self.trace(
                f,
                NodeRef::L1(l1),
                TraceEvent::Failed {
                    failure: kind,
                    waited,
                },
            );
        }
        if self.reroute(f) {
            return;
        }
        self.l1_error(f, kind);
    }

    /// Applies `on_parent_error`; true if the request was sent elsewhere.
    fn reroute(&mut self, f: Fid) -> bool {
        let policy = self.cdn.on_parent_error;
        let l2_count = self.l2.len();
        let fl = self.fl(f);
        // One reroute per request. And while the first parent is still fetching for this
        // request (L1 timed out first), a second fetch would share its fetch state: relay.
        if fl.rerouted || !fl.fetcher_idle() {
            return false;
        }
        let l1 = fl.l1;
        match policy {
            ParentErrorPolicy::Relay => false,
            ParentErrorPolicy::NextParent if l2_count < 2 => false,
            ParentErrorPolicy::NextParent => {
                fl.rerouted = true;
                fl.parent_rank += 1;
                if self.traced(f) {
                    let ev = TraceEvent::Retry {
                        policy: "next_parent",
                    };
                    self.trace(f, NodeRef::L1(l1), ev);
                }
                self.send_to_parent(f);
                true
            }
            ParentErrorPolicy::GoDirect => {
                fl.rerouted = true;
                if self.traced(f) {
                    let ev = TraceEvent::Retry {
                        policy: "go_direct",
                    };
                    self.trace(f, NodeRef::L1(l1), ev);
                }
                self.start_fetch(f, Tier::L1);
                true
            }
        }
    }

    /// L1 could not get an answer from its parent: serve stale if allowed, else generate.
    fn l1_error(&mut self, f: Fid, kind: FailureKind) {
        let (l1, req) = {
            let fl = self.fl(f);
            (fl.l1, fl.req)
        };
        let generated = self.generated_error(Tier::L1, kind);
        if let Some(stale) = self.try_stale(NodeRef::L1(l1), &req, generated.status) {
            self.fl(f).l1_status = CacheStatus::Stale;
            if self.traced(f) {
                let ev = TraceEvent::ServedStale {
                    instead_of: generated.status,
                };
                self.trace(f, NodeRef::L1(l1), ev);
            }
            self.finish_l1(f, stale, false);
            return;
        }
        if self.traced(f) {
            let ev = TraceEvent::Generated {
                status: generated.status,
                reason: generated.reason.unwrap_or(""),
            };
            self.trace(f, NodeRef::L1(l1), ev);
        }
        self.finish_l1(f, generated, false);
    }

    fn parent_answer(&mut self, f: Fid, gen: u32) {
        let fl = self.fl(f);
        if !fl.awaiting_parent || fl.parent_gen != gen {
            return; // L1 already gave up on this exchange
        }
        fl.awaiting_parent = false;
        let answer = fl.answer;
        let l1 = fl.l1;
        // A parent that generated a server error of its own counts as a failed parent.
        if answer.generated_by == Tier::L2 && answer.is_server_error() && self.reroute(f) {
            return;
        }
        self.l1_received(f, l1, answer);
    }

    /// L1 has a response from upstream (its parent, or the origin when going direct).
    fn l1_received(&mut self, f: Fid, l1: u16, answer: Response) {
        let req = self.fl(f).req;
        if is_error_for_stale(answer.status) {
            if let Some(stale) = self.try_stale(NodeRef::L1(l1), &req, answer.status) {
                self.fl(f).l1_status = CacheStatus::Stale;
                if self.traced(f) {
                    let ev = TraceEvent::ServedStale {
                        instead_of: answer.status,
                    };
                    self.trace(f, NodeRef::L1(l1), ev);
                }
                self.finish_l1(f, stale, false);
                return;
            }
        }
        let now = self.now;
        let stored = self.l1[l1 as usize].store(now, self.profile, &req, &answer);
        if stored && self.traced(f) {
            let ttl_s = self.stored_ttl(NodeRef::L1(l1), &req);
            self.trace(f, NodeRef::L1(l1), TraceEvent::Stored { ttl_s });
        }
        self.finish_l1(f, answer, stored);
    }

    /// Sends the final answer to the client and releases flights collapsed behind this one.
    fn finish_l1(&mut self, f: Fid, resp: Response, stored: bool) {
        let (l1, key) = {
            let fl = self.fl(f);
            (fl.l1, fl.req.key)
        };
        self.respond_to_client(f, resp);
        let waiters = self.locks_l1[l1 as usize].remove(&key);
        if let Some(waiters) = waiters {
            for w in waiters {
                self.fl(w).refs -= 1;
                self.release_waiter_l1(w, l1, stored);
                self.maybe_free(w);
            }
        }
    }

    fn release_waiter_l1(&mut self, w: Fid, l1: u16, stored: bool) {
        let now = self.now;
        let req = self.fl(w).req;
        if stored {
            if let Lookup::Hit(resp) = self.l1[l1 as usize].lookup(now, &req) {
                self.fl(w).l1_status = CacheStatus::Hit;
                if self.traced(w) {
                    let ev = cache_event(CacheStatus::Hit, Some(resp.age.as_secs()));
                    self.trace(w, NodeRef::L1(l1), ev);
                }
                self.respond_to_client(w, resp);
                return;
            }
        }
        // The leader's answer was not cacheable: go upstream on our own.
        self.fl(w).no_collapse_l1 = true;
        self.send_to_parent(w);
    }

    fn respond_to_client(&mut self, f: Fid, resp: Response) {
        let at = self.now + Self::half(self.net.client_rtt);
        let (sent, l1_status, tier) = {
            let fl = self.fl(f);
            fl.done = true;
            (fl.sent, fl.l1_status, resp.generated_by)
        };
        let latency = at - sent;
        self.latency.record(latency);
        self.status.entry(resp.status).or_insert([0; 3])[tier_index(tier)] += 1;
        self.cache_l1.count(l1_status);
        self.finished += 1;
        if self.finished % self.progress_every == 0 {
            if let Some(p) = self.progress.as_mut() {
                p(self.finished, self.now);
            }
        }
        if let Some(mut t) = self.fl(f).trace.take() {
            t.status = resp.status;
            t.generated_by = tier;
            t.latency = latency;
            t.push(
                at,
                "client",
                TraceEvent::Responded {
                    status: resp.status,
                    generated_by: tier,
                },
            );
            self.traces.push(*t);
        }
    }

    // ----- L2 -------------------------------------------------------------------------------

    fn at_l2(&mut self, f: Fid) {
        let (l2, req, no_collapse) = {
            let fl = self.fl(f);
            (fl.l2, fl.req, fl.no_collapse_l2)
        };
        if self.traced(f) {
            self.trace(f, NodeRef::L2(l2), TraceEvent::Received);
        }
        let now = self.now;
        match self.l2[l2 as usize].lookup(now, &req) {
            Lookup::Hit(resp) => {
                self.fl(f).l2_status = CacheStatus::Hit;
                if self.traced(f) {
                    let ev = cache_event(CacheStatus::Hit, Some(resp.age.as_secs()));
                    self.trace(f, NodeRef::L2(l2), ev);
                }
                self.l2_answer(f, resp);
            }
            Lookup::Forward(status) => {
                self.fl(f).l2_status = status;
                if self.traced(f) {
                    self.trace(f, NodeRef::L2(l2), cache_event(status, None));
                }
                if self.cdn.collapse && !no_collapse && status != CacheStatus::Bypass {
                    let locks = &mut self.locks_l2[l2 as usize];
                    if let Some(waiters) = locks.get_mut(&req.key) {
                        waiters.push(f);
                        self.fl(f).refs += 1;
                        // Only the leader's answer would wake a waiter; L1 must not wait
                        // past its deadline for it.
                        self.arm_parent_deadline(f);
                        return;
                    }
                    locks.insert(req.key, Vec::new());
                }
                self.start_fetch(f, Tier::L2);
            }
        }
    }

    /// L2 sends `resp` back to L1.
    fn l2_answer(&mut self, f: Fid, resp: Response) {
        let (l2, gen, status) = {
            let fl = self.fl(f);
            fl.answer = resp;
            (fl.l2, fl.parent_gen, fl.l2_status)
        };
        self.cache_l2.count(status);
        if self.traced(f) {
            let ev = TraceEvent::Responded {
                status: resp.status,
                generated_by: resp.generated_by,
            };
            self.trace(f, NodeRef::L2(l2), ev);
        }
        let at = self.now + Self::half(self.net.l1_l2_rtt);
        self.schedule(at, Ev::ParentAnswer(f, gen));
    }

    // ----- the origin fetch (by L2, or by L1 going direct) -----------------------------------

    fn fetcher_ref(&mut self, f: Fid) -> NodeRef {
        let fl = self.fl(f);
        match fl.fetcher {
            Tier::L1 => NodeRef::L1(fl.l1),
            _ => NodeRef::L2(fl.l2),
        }
    }

    fn fetcher_node(&mut self, f: Fid) -> &mut CacheNode {
        let fl = self.flights[f as usize].as_ref().expect("live flight");
        match fl.fetcher {
            Tier::L1 => &mut self.l1[fl.l1 as usize],
            _ => &mut self.l2[fl.l2 as usize],
        }
    }

    fn start_fetch(&mut self, f: Fid, fetcher: Tier) {
        let leg = self.cdn.ssl_mode.origin_leg(self.fl(f).req.scheme);
        {
            let fl = self.fl(f);
            fl.fetcher = fetcher;
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
        let (req, port) = {
            let fl = self.fl(f);
            fl.attempt += 1;
            (fl.req, fl.port)
        };
        let (src, reused) = self.fetcher_node(f).take_connection(&req, port, keepalive);
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
                self.trace(f, node, TraceEvent::RequestSent);
            }
            self.fl(f).req_sent = now;
            self.schedule(now + one_way, Ev::AtOrigin(f));
        } else {
            self.schedule(now + one_way, Ev::Syn(f));
        }
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
            // Logged at the fetcher, at the moment it learns the verdict (or starts waiting).
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
            if self.fl(f).attempt < self.timeouts.connect_attempts {
                // Try again with a fresh connection once this attempt has failed.
                self.fl(f).outcome = Outcome::Failed(kind, at - started);
                self.schedule(at, Ev::FetchDone(f));
                return;
            }
            self.fl(f).outcome = Outcome::Failed(kind, at - started);
            self.schedule(at, Ev::FetchDone(f));
            return;
        }
        // Connected at the fetcher after one RTT; TLS adds one more (TLS 1.3).
        let connected = now + one_way;
        if tls_on {
            let cfg = self.origin.config();
            let result = tls::handshake(
                cdn_core::tls::OriginLeg {
                    port,
                    tls: true,
                    verify,
                },
                cfg.https,
                cfg.cert,
                self.profile.trusts_origin_ca(),
            );
            if let Err(kind) = result {
                self.fl(f).outcome = Outcome::Failed(kind, connected + rtt - started);
                self.schedule(connected + rtt, Ev::FetchDone(f));
                return;
            }
            if self.traced(f) {
                let node = self.fetcher_ref(f);
                self.trace_at(
                    f,
                    node,
                    connected + rtt,
                    TraceEvent::TlsEstablished { verified: verify },
                );
            }
        }
        let sent = if tls_on { connected + rtt } else { connected };
        self.fl(f).req_sent = sent;
        if self.traced(f) {
            let node = self.fetcher_ref(f);
            self.trace_at(f, node, sent, TraceEvent::RequestSent);
        }
        self.schedule(sent + one_way, Ev::AtOrigin(f));
    }

    fn trace_at(&mut self, f: Fid, node: NodeRef, at: Instant, event: TraceEvent) {
        let saved = self.now;
        self.now = at;
        self.trace(f, node, event);
        self.now = saved;
    }

    /// The request reaches the origin.
    fn at_origin(&mut self, f: Fid) {
        let (src, req, sent) = {
            let fl = self.fl(f);
            (fl.src, fl.req, fl.req_sent)
        };
        let now = self.now;
        let one_way = Self::half(self.net.l2_origin_rtt);
        let deadline = sent + self.timeouts.read;
        let reply = self.origin.handle_request(now, src, &req);
        let (outcome, at) = match reply {
            OriginReply::Respond {
                done,
                response,
                rejected_by,
            } => {
                if let (Some(by), true) = (rejected_by, self.traced(f)) {
                    self.trace(f, NodeRef::Origin, TraceEvent::Defended { by });
                }
                let arrives = done + one_way;
                if arrives > deadline {
                    (
                        Outcome::Failed(FailureKind::ReadTimeout, self.timeouts.read),
                        deadline,
                    )
                } else {
                    (Outcome::Response(response), arrives)
                }
            }
            OriginReply::Hang => (
                Outcome::Failed(FailureKind::ReadTimeout, self.timeouts.read),
                deadline.max(now),
            ),
            OriginReply::Reset => (
                Outcome::Failed(FailureKind::Reset, now + one_way - sent),
                now + one_way,
            ),
            OriginReply::Close => (
                Outcome::Failed(FailureKind::ClosedEarly, now + one_way - sent),
                now + one_way,
            ),
            OriginReply::Garbage => (
                Outcome::Failed(FailureKind::InvalidResponse, now + one_way - sent),
                now + one_way,
            ),
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
                    let (src, port) = {
                        let fl = self.fl(f);
                        (fl.src, fl.port)
                    };
                    self.fetcher_node(f).return_connection(src, port);
                }
                self.fetch_succeeded(f, resp);
            }
            Outcome::Failed(kind, waited) => {
                let (attempt, is_connect) = (self.fl(f).attempt, kind.is_connect_failure());
                if is_connect && attempt < self.timeouts.connect_attempts {
                    if self.traced(f) {
                        let node = self.fetcher_ref(f);
                        self.trace(
                            f,
                            node,
                            TraceEvent::Failed {
                                failure: kind,
                                waited,
                            },
                        );
                    }
                    self.connect(f);
                    return;
                }
                let total = if is_connect { waited * attempt } else { waited };
                self.fetch_failed(f, kind, total);
            }
            Outcome::Pending => unreachable!("FetchDone is scheduled with an outcome"),
        }
    }

    fn fetch_succeeded(&mut self, f: Fid, resp: Response) {
        let node = self.fetcher_ref(f);
        let req = self.fl(f).req;
        if is_error_for_stale(resp.status) {
            if let Some(stale) = self.try_stale(node, &req, resp.status) {
                if self.traced(f) {
                    let ev = TraceEvent::ServedStale {
                        instead_of: resp.status,
                    };
                    self.trace(f, node, ev);
                }
                self.fetch_answer(f, stale, false, CacheStatus::Stale);
                return;
            }
        }
        let now = self.now;
        let profile = self.profile;
        let stored = self.fetcher_node(f).store(now, profile, &req, &resp);
        if stored && self.traced(f) {
            let ttl_s = self.stored_ttl(node, &req);
            self.trace(f, node, TraceEvent::Stored { ttl_s });
        }
        let status = match node {
            NodeRef::L1(_) => self.fl(f).l1_status,
            _ => self.fl(f).l2_status,
        };
        self.fetch_answer(f, resp, stored, status);
    }

    fn fetch_failed(&mut self, f: Fid, kind: FailureKind, waited: Duration) {
        let node = self.fetcher_ref(f);
        let tier = match node {
            NodeRef::L1(_) => Tier::L1,
            _ => Tier::L2,
        };
        if self.traced(f) {
            self.trace(
                f,
                node,
                TraceEvent::Failed {
                    failure: kind,
                    waited,
                },
            );
        }
        let generated = self.generated_error(tier, kind);
        let req = self.fl(f).req;
        if let Some(stale) = self.try_stale(node, &req, generated.status) {
            if self.traced(f) {
                let ev = TraceEvent::ServedStale {
                    instead_of: generated.status,
                };
                self.trace(f, node, ev);
            }
            self.fetch_answer(f, stale, false, CacheStatus::Stale);
            return;
        }
        if self.traced(f) {
            let ev = TraceEvent::Generated {
                status: generated.status,
                reason: generated.reason.unwrap_or(""),
            };
            self.trace(f, node, ev);
        }
        let status = match node {
            NodeRef::L1(_) => self.fl(f).l1_status,
            _ => self.fl(f).l2_status,
        };
        self.fetch_answer(f, generated, false, status);
    }

    /// The fetcher has its answer: L2 passes it to L1; L1 (going direct) to the client.
    fn fetch_answer(&mut self, f: Fid, resp: Response, stored: bool, status: CacheStatus) {
        let fetcher = self.fl(f).fetcher;
        self.fl(f).fetcher = Tier::Origin; // idle again
        match fetcher {
            Tier::L1 => {
                let l1 = self.fl(f).l1;
                self.fl(f).l1_status = status;
                self.finish_l1(f, resp, stored);
                let _ = l1;
            }
            _ => {
                let (l2, key) = {
                    let fl = self.fl(f);
                    fl.l2_status = status;
                    (fl.l2, fl.req.key)
                };
                self.l2_answer(f, resp);
                let waiters = self.locks_l2[l2 as usize].remove(&key);
                if let Some(waiters) = waiters {
                    for w in waiters {
                        self.fl(w).refs -= 1;
                        self.release_waiter_l2(w, l2, stored);
                        self.maybe_free(w);
                    }
                }
            }
        }
    }

    fn release_waiter_l2(&mut self, w: Fid, l2: u16, stored: bool) {
        let now = self.now;
        let req = self.fl(w).req;
        if stored {
            if let Lookup::Hit(resp) = self.l2[l2 as usize].lookup(now, &req) {
                self.fl(w).l2_status = CacheStatus::Hit;
                if self.traced(w) {
                    let ev = cache_event(CacheStatus::Hit, Some(resp.age.as_secs()));
                    self.trace(w, NodeRef::L2(l2), ev);
                }
                self.l2_answer(w, resp);
                return;
            }
        }
        self.fl(w).no_collapse_l2 = true;
        self.start_fetch(w, Tier::L2);
    }

    // ----- shared helpers -------------------------------------------------------------------

    fn generated_error(&self, tier: Tier, kind: FailureKind) -> Response {
        let mut e = self.profile.error_for(kind);
        if let (FailureKind::Certificate(_), Some(s)) = (kind, self.cdn.cert_error_status) {
            e.status = s;
        }
        Response::generated(tier, e.status, e.reason)
    }

    fn try_stale(&mut self, node: NodeRef, req: &Request, instead_of: u16) -> Option<Response> {
        if !self.cdn.stale_if_error || !is_error_for_stale(instead_of) {
            return None;
        }
        let now = self.now;
        match node {
            NodeRef::L1(i) => self.l1[i as usize].stale_if_error(now, req),
            NodeRef::L2(i) => self.l2[i as usize].stale_if_error(now, req),
            _ => None,
        }
    }

    fn stored_ttl(&self, node: NodeRef, req: &Request) -> u64 {
        let store = match node {
            NodeRef::L1(i) => self.l1[i as usize].cache(),
            NodeRef::L2(i) => self.l2[i as usize].cache(),
            _ => return 0,
        };
        store.peek(req.key).map_or(0, |e| e.lifetime.as_secs())
    }

    fn apply_world(&mut self, i: usize) {
        let e = &self.scenario.events[i];
        if e.origin != *self.origin.config() {
            self.origin.reconfigure(e.origin.clone());
            self.hostname = e.origin.hostname.clone();
            // The origin restarted or changed: pooled connections to it are gone.
            for n in self.l1.iter_mut().chain(self.l2.iter_mut()) {
                n.drop_connections();
            }
        }
        for (node, cfg) in self.l2.iter_mut().zip(&e.cdn.l2) {
            node.set_state(cfg.state);
        }
        self.cdn = e.cdn.clone();
        self.timeouts = self.cdn.timeouts(self.profile);
        self.net = e.network;
    }

    fn into_output(self) -> SimOutput {
        let egress_pools = self
            .l2
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
        let report = Report::build(
            self.scenario,
            RunCounts {
                requests: self.requests,
                status: self.status,
                origin_requests: self.origin.requests_received(),
                l1: self.cache_l1,
                l2: self.cache_l2,
                latency: self.latency,
                egress_pools,
            },
        );
        let mut traces = self.traces;
        traces.sort_by_key(|t| t.request);
        SimOutput { report, traces }
    }
}

impl Flight {
    /// Whether no fetch is in progress for this flight (L2 may still be working for a request
    /// whose client L1 already answered).
    fn fetcher_idle(&self) -> bool {
        self.fetcher == Tier::Origin
    }
}

#[derive(Clone, Copy, Debug)]
enum NodeRef {
    L1(u16),
    L2(u16),
    Origin,
    #[allow(dead_code)]
    Client,
}

fn cache_event(status: CacheStatus, age_s: Option<u64>) -> TraceEvent {
    TraceEvent::Cache { status, age_s }
}

/// RFC 5861: stale-if-error applies when the response "would be" 500, 502, 503 or 504; the
/// 52x codes of CDNs are connection failures that proxies map to these.
fn is_error_for_stale(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504 | 520..=527 | 530)
}
