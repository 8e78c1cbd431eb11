//! Per-request stories: which requests are traced, and the steps they collect at every node
//! they pass. A trace is shared by every slot of its request (L1, L2, a background fetch
//! started for it does not inherit it).

use super::slots::SlotId;
use super::Engine;
use cdn_core::{Instant, Trace, TraceEvent};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The traces being written and those finished.
pub(super) struct Tracing {
    first: u64,
    chosen: BTreeSet<u64>,
    live: Vec<Option<Trace>>,
    finished: Vec<Trace>,
}

impl Tracing {
    /// Traces the first `first` requests and every request number in `chosen`.
    pub(super) fn new(first: usize, chosen: BTreeSet<u64>) -> Tracing {
        Tracing {
            first: first as u64,
            chosen,
            live: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// Whether request `number` is to be traced.
    pub(super) fn wants(&self, number: u64) -> bool {
        number < self.first || self.chosen.contains(&number)
    }

    /// Starts the trace of a request; returns its id.
    pub(super) fn start(
        &mut self,
        number: u64,
        path: String,
        client: Ipv4Addr,
        sent: Instant,
    ) -> u32 {
        self.live.push(Some(Trace::new(number, path, client, sent)));
        (self.live.len() - 1) as u32
    }

    /// Whether the trace `id` is still being written.
    pub(super) fn is_traced(&self, id: Option<u32>) -> bool {
        id.is_some_and(|i| self.live[i as usize].is_some())
    }

    fn push(&mut self, id: Option<u32>, at: Instant, node: &str, event: TraceEvent) {
        if let Some(t) = id.and_then(|i| self.live[i as usize].as_mut()) {
            t.push(at, node, event);
        }
    }

    /// The trace `id`, to finish; later steps of its request are not recorded.
    pub(super) fn take(&mut self, id: Option<u32>) -> Option<Trace> {
        id.and_then(|i| self.live[i as usize].take())
    }

    /// Files a finished trace.
    pub(super) fn finish(&mut self, trace: Trace) {
        self.finished.push(trace);
    }

    /// The finished traces, in request order.
    pub(super) fn into_traces(self) -> Vec<Trace> {
        let mut traces = self.finished;
        traces.sort_by_key(|t| t.request);
        traces
    }
}

impl Engine<'_> {
    /// Whether slot `s`'s request is being traced: check it before building an event whose
    /// fields cost something (a `String`) on the untraced hot path.
    pub(super) fn slot_traced(&self, s: SlotId) -> bool {
        self.tracing.is_traced(self.slots.get(s).trace)
    }

    /// Records `event` at the slot's node, now.
    #[inline]
    pub(super) fn trace_at_node(&mut self, s: SlotId, event: TraceEvent) {
        let at = self.now;
        self.trace_at_node_at(s, at, event);
    }

    /// Records `event` at the slot's node, at `at`. Inlined down to the check of the slot's
    /// trace id (called ~1.5 times per request, almost always for an untraced one: the call
    /// and the event built for it were ~40 instructions each time); the recording itself is
    /// out of line.
    #[inline]
    pub(super) fn trace_at_node_at(&mut self, s: SlotId, at: Instant, event: TraceEvent) {
        if self.slots.get(s).trace.is_some() {
            self.record_at_node(s, at, event);
        }
    }

    #[inline(never)]
    fn record_at_node(&mut self, s: SlotId, at: Instant, event: TraceEvent) {
        let slot = self.slots.get(s);
        let (id, node) = (slot.trace, slot.node);
        if !self.tracing.is_traced(id) {
            return;
        }
        let name = self.node_at(node).name().to_string();
        self.tracing.push(id, at, &name, event);
    }

    /// Records `event` at the origin, now.
    pub(super) fn trace_at_origin(&mut self, s: SlotId, event: TraceEvent) {
        let id = self.slots.get(s).trace;
        if self.tracing.is_traced(id) {
            let (at, host) = (self.now, self.hostname.clone());
            self.tracing.push(id, at, &host, event);
        }
    }
}
