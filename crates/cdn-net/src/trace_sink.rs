//! Where the proxies of one run write the hop-by-hop stories of traced requests.
//!
//! A client marks a request as traced with the [`TRACE_HEADER`] (its request number); every
//! tier forwards the header, receives the request with trace notes on, and records each step
//! — the core's notes and its own I/O (connect verdicts, TLS, request sent, response) — with
//! the virtual time and the node's name. The runner assembles the steps into
//! [`cdn_core::Trace`]s.

use cdn_core::{Instant, TraceEvent};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The request header that carries a traced request's number between tiers.
pub const TRACE_HEADER: &str = "x-cdn-sim-trace";

/// One recorded step: when (virtual), where, what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedStep {
    /// Virtual time of the step.
    pub at: Instant,
    /// The node's name (or the origin's hostname).
    pub node: String,
    /// What happened.
    pub event: TraceEvent,
}

/// Shared by every server of a run. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct TraceSink {
    steps: Arc<Mutex<BTreeMap<u64, Vec<RecordedStep>>>>,
}

impl TraceSink {
    /// Records a step of request `number`.
    pub fn record(&self, number: u64, at: Instant, node: &str, event: TraceEvent) {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps.entry(number).or_default().push(RecordedStep {
            at,
            node: node.to_string(),
            event,
        });
    }

    /// The steps of request `number`, in the order they were recorded (which is time order
    /// within a node; steps of different nodes are sorted by time).
    pub fn take(&self, number: u64) -> Vec<RecordedStep> {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = steps.remove(&number).unwrap_or_default();
        v.sort_by_key(|s| s.at);
        v
    }
}
