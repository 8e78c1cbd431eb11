//! The node behind its mutex, shared by every task of a proxy: tickets, mailboxes, and the
//! delivery of the node's actions to the tasks that carry them out.

use super::upstream::Pool;
use super::{ProxySpec, Upstream};
use crate::certs::Certificates;
use crate::link::Links;
use crate::resolver::Resolver;
use crate::timing::Timers;
use crate::trace_sink::TraceSink;
use cdn_core::node::{Action, Ticket};
use cdn_core::{CacheNode, NodeSettings, NodeState, Request, Tier, TraceEvent};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The node and who waits for its actions.
pub(super) struct NodeSlot {
    pub(super) node: CacheNode,
    mailboxes: HashMap<Ticket, UnboundedSender<Action>>,
    /// Traced requests: ticket → request number.
    traced: HashMap<Ticket, u64>,
    next_ticket: Ticket,
}

/// Everything a proxy's tasks share.
pub(super) struct Shared {
    pub(super) tier: Tier,
    pub(super) name: String,
    /// The vendor (fixed for a run).
    pub(super) profile: cdn_core::Profile,
    listen: Ipv4Addr,
    pub(super) timers: Timers,
    slot: Mutex<NodeSlot>,
    pub(super) upstream: Upstream,
    pub(super) origin_host: String,
    pub(super) resolver: Resolver,
    pub(super) certs: Arc<Certificates>,
    pub(super) traces: TraceSink,
    links: std::sync::RwLock<Links>,
    /// Idle upstream connections.
    pub(super) pool: Pool,
    /// Stop accepting; connections finish their in-flight request, then close.
    pub(super) shutdown: CancellationToken,
    /// The grace period is over: abort whatever still waits.
    pub(super) abort: CancellationToken,
    /// `abort` is cancelled (set just before it), for hot paths: reading it is one atomic
    /// load, where the token's own check takes its mutex.
    aborted: AtomicBool,
    pub(super) tasks: TaskTracker,
    /// Answers sent downstream, by cache status (`CacheStatus::index`).
    answered: Mutex<[u64; 8]>,
    /// Limits on client connections and idle upstream ones.
    limits: std::sync::RwLock<super::ServeLimits>,
    /// Client connections open now.
    pub(super) connections: AtomicUsize,
    /// Downstream requests being served now (head read, answer not yet produced).
    pub(super) in_flight: AtomicUsize,
    /// Requests answered `503` because the grace period ended (exact: counted as answered).
    pub(super) cut: AtomicUsize,
    /// Request tasks not yet counted: the node may have finished the exchange while the task
    /// has still to count its answer, and a run must not read the counts in between.
    pub(super) uncounted: AtomicUsize,
    /// Requests sent to the origin (a real upstream reached directly counts here, having
    /// no fault layer to count them).
    pub(super) sent_to_origin: AtomicU64,
    /// Fronting a real upstream: its settings.
    real: Option<super::RealSpec>,
    /// Full copies of what the node stores (real upstream only).
    stored: super::stored::Stored,
    /// `X-Cache: <STATUS> from <name>` for each status (`CacheStatus::index`), made once:
    /// every pass-through answer carries one.
    x_cache: [Option<http::HeaderValue>; 8],
    /// The event loops client connections are served on; `None`: the runtime that accepts.
    pub(super) loops: Option<Arc<crate::EventLoops>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request registered with the node: its ticket and mailbox.
/// What became of a request handed to the node ([`Shared::submit`]).
pub(super) enum Submitted {
    /// The node answered at once.
    Answered(cdn_core::Response, cdn_core::CacheStatus),
    /// The node needs more; its task reads the rest from this mailbox.
    Pending(Registered),
    /// The node is `hung`: it took the request and will never answer it (the core gave no
    /// action at all). Nothing waits on it, so a settling run does not either.
    Held,
}

pub(super) struct Registered {
    pub(super) ticket: Ticket,
    pub(super) rx: UnboundedReceiver<Action>,
    /// The request number, if it is traced.
    pub(super) trace: Option<u64>,
}

impl Shared {
    pub(super) fn new(spec: ProxySpec) -> Shared {
        let x_cache = cdn_core::CacheStatus::ALL.map(|st| {
            http::HeaderValue::from_str(&format!("{} from {}", st.as_str(), spec.node.name())).ok()
        });
        Shared {
            tier: spec.node.tier(),
            name: spec.node.name().to_string(),
            profile: spec.node.settings().profile,
            listen: spec.listen,
            timers: spec.timers,
            slot: Mutex::new(NodeSlot {
                node: spec.node,
                mailboxes: HashMap::new(),
                traced: HashMap::new(),
                next_ticket: 0,
            }),
            upstream: spec.upstream,
            origin_host: spec.origin_host,
            resolver: spec.resolver,
            certs: spec.certs,
            traces: spec.traces,
            links: std::sync::RwLock::new(spec.links),
            pool: Pool::default(),
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            aborted: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            answered: Mutex::new([0; 8]),
            limits: std::sync::RwLock::new(super::ServeLimits::model()),
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            uncounted: AtomicUsize::new(0),
            sent_to_origin: AtomicU64::new(0),
            stored: super::stored::Stored::new(spec.real.as_ref().map_or(0, |r| r.store_bytes)),
            x_cache,
            loops: spec.loops,
            real: spec.real,
        }
    }

    /// The settings for a real upstream, if the proxy fronts one.
    pub(super) fn real_spec(&self) -> Option<&super::RealSpec> {
        self.real.as_ref()
    }

    /// Full copies of stored responses (real upstream).
    pub(super) fn stored(&self) -> &super::stored::Stored {
        &self.stored
    }

    /// The `X-Cache` value for `status` at this node (`None` if the name cannot be one).
    pub(super) fn x_cache(&self, status: cdn_core::CacheStatus) -> Option<&http::HeaderValue> {
        self.x_cache[status.index()].as_ref()
    }

    /// Whether the grace period is over (`abort` cancelled).
    pub(super) fn aborting(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    /// The limits in force.
    pub(super) fn limits(&self) -> super::ServeLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// New limits (for connections accepted from now on).
    pub(super) fn set_limits(&self, limits: super::ServeLimits) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub(super) fn listen_ip(&self) -> Ipv4Addr {
        self.listen
    }

    /// The node, locked (never held across an await).
    pub(super) fn node(&self) -> MutexGuard<'_, NodeSlot> {
        lock(&self.slot)
    }

    /// Whether the node keeps origin connections alive.
    pub(super) fn keepalive(&self) -> bool {
        self.node().node.settings().keepalive
    }

    pub(super) fn answered(&self) -> [u64; 8] {
        *lock(&self.answered)
    }

    /// A request task is starting: until [`Shared::answered_with`], a run waits for it.
    pub(super) fn start_answering(&self) {
        self.uncounted.fetch_add(1, Ordering::SeqCst);
    }

    /// A request task has its answer: counts it, traces it at an L2 (the L1's is the
    /// client's), and lets a settling run read the counts.
    pub(super) fn answered_with(
        &self,
        trace: Option<u64>,
        response: &cdn_core::Response,
        status: cdn_core::CacheStatus,
    ) {
        self.count_answer(status);
        if self.tier != cdn_core::Tier::L1 {
            let event = TraceEvent::Responded {
                status: response.status,
                generated_by: response.generated_by,
            };
            self.trace(trace, event);
        }
        self.uncounted.fetch_sub(1, Ordering::SeqCst);
    }

    pub(super) fn count_answer(&self, status: cdn_core::CacheStatus) {
        lock(&self.answered)[status.index()] += 1;
    }

    /// The emulated link latencies in force.
    pub(super) fn links(&self) -> Links {
        *self.links.read().unwrap_or_else(|e| e.into_inner())
    }

    /// New settings, state and links; returns whether the node listens.
    pub(super) fn update(&self, settings: NodeSettings, state: NodeState, links: Links) -> bool {
        *self.links.write().unwrap_or_else(|e| e.into_inner()) = links;
        let mut slot = self.node();
        slot.node.configure(settings);
        slot.node.set_state(state);
        slot.node.listening()
    }

    pub(super) fn drop_connections(&self) {
        self.node().node.drop_connections();
        self.pool.clear();
    }

    /// A new ticket with a mailbox.
    pub(super) fn register(&self, slot: &mut NodeSlot, trace: Option<u64>) -> Registered {
        let ticket = Self::next_ticket(slot);
        Self::register_ticket(slot, ticket, trace)
    }

    fn next_ticket(slot: &mut NodeSlot) -> Ticket {
        let ticket = slot.next_ticket;
        slot.next_ticket += 1;
        ticket
    }

    fn register_ticket(slot: &mut NodeSlot, ticket: Ticket, trace: Option<u64>) -> Registered {
        let (tx, rx) = unbounded_channel();
        slot.mailboxes.insert(ticket, tx);
        if let Some(n) = trace {
            slot.traced.insert(ticket, n);
        }
        Registered { ticket, rx, trace }
    }

    /// Hands a client's request to the node. An untraced request the node answers at once
    /// (a fresh hit: the node's only action is its answer) is [`Submitted::Answered`] with
    /// no mailbox and no task, as the simulator's edge fast path; otherwise the request is
    /// registered, its first actions delivered, and the task that carries out the rest reads
    /// them from the returned mailbox.
    pub(super) fn submit(
        self: &Arc<Self>,
        slot: &mut NodeSlot,
        req: &Request,
        downstream: Option<cdn_core::node::Validators>,
        trace: Option<u64>,
        path: &Arc<str>,
    ) -> Submitted {
        let ticket = Self::next_ticket(slot);
        let mut out = Vec::new();
        let now = self.timers.now();
        slot.node
            .receive(now, ticket, req, downstream, trace.is_some(), &mut out);
        if out.is_empty() && slot.node.state() == cdn_core::NodeState::Hung {
            return Submitted::Held;
        }
        if let (
            None,
            [Action::Answer {
                ticket: t,
                response,
                status,
            }],
        ) = (trace, out.as_slice())
        {
            if *t == ticket {
                return Submitted::Answered(*response, *status);
            }
        }
        let reg = Self::register_ticket(slot, ticket, trace);
        self.dispatch(slot, &mut out, path);
        Submitted::Pending(reg)
    }

    /// Forgets a ticket (answered, or its task is gone).
    pub(super) fn unregister(&self, ticket: Ticket) {
        let mut slot = self.node();
        slot.mailboxes.remove(&ticket);
        slot.traced.remove(&ticket);
    }

    /// Records a step of a traced request at this node.
    pub(super) fn trace(&self, trace: Option<u64>, event: TraceEvent) {
        if let Some(n) = trace {
            let at = self.timers.now();
            self.traces.record(n, at, &self.name, event);
        }
    }

    /// Delivers actions to the requests they name; notes go to the trace sink; a
    /// revalidation starts a background request (which always concerns `path`: the URL
    /// whose lookup asked for it).
    pub(super) fn dispatch(
        self: &Arc<Self>,
        slot: &mut NodeSlot,
        out: &mut Vec<Action>,
        path: &Arc<str>,
    ) {
        for action in out.drain(..) {
            match action {
                Action::Note { ticket, event } => {
                    let n = slot.traced.get(&ticket).copied();
                    self.trace(n, event);
                }
                Action::Revalidate { req, conditional } => {
                    self.start_background(slot, req, conditional, path);
                }
                action => {
                    let ticket = action.ticket().expect("every other action names a request");
                    if let Some(tx) = slot.mailboxes.get(&ticket) {
                        let _ = tx.send(action);
                    }
                }
            }
        }
    }

    fn start_background(
        self: &Arc<Self>,
        slot: &mut NodeSlot,
        req: Request,
        conditional: Option<cdn_core::node::Validators>,
        path: &Arc<str>,
    ) {
        let reg = self.register(slot, None);
        let mut more = Vec::new();
        let now = self.timers.now();
        slot.node
            .receive_background(now, reg.ticket, &req, conditional, &mut more);
        let s = self.clone();
        let p = path.clone();
        let mut real = self
            .real
            .is_some()
            .then(|| self.background_ctx(req.key, path));
        self.tasks.spawn(async move {
            let _ = s.carry_out(reg, req, p, &mut real).await;
        });
        self.dispatch(slot, &mut more, path);
    }

    /// Stops accepting, lets in-flight requests finish until `deadline`, then answers
    /// those still running `503` (connection closed after it) and drops idle connections.
    /// Returns how many requests were answered so: exactly the requests cut off.
    pub(super) async fn shutdown_until(&self, deadline: tokio::time::Instant) -> usize {
        self.shutdown.cancel();
        self.tasks.close();
        // Idle upstream connections would keep their driver tasks alive: close them now
        // (requests in flight keep theirs, and their connections are closed when they end).
        self.pool.clear();
        if tokio::time::timeout_at(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            self.aborted.store(true, Ordering::SeqCst);
            self.abort.cancel();
            // Each cut-off request gets its 503 at once; wait (bounded) until every client
            // connection has written it and closed. Upstream work still running for them
            // ends with the runtime.
            let until = tokio::time::Instant::now() + super::CLOSE_BOUND;
            while self.connections.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < until
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        self.pool.clear();
        let cut = self.cut.load(Ordering::SeqCst);
        if cut > 0 {
            tracing::warn!(proxy = %self.name, cut, "requests cut off at shutdown");
        }
        cut
    }
}
