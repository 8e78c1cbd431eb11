//! Per-request traces: every hop a request took, what each node's cache did, which egress
//! address connected, what the connection did, and which tier generated the final code.
//!
//! Traces are data (serde-serializable); the simulator renders them as text.

use crate::cache::CacheStatus;
use crate::failure::FailureKind;
use crate::message::Tier;
use crate::origin::{ConnectVerdict, Defence};
use crate::time::Instant;
use serde::Serialize;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One thing that happened to a request, at one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TraceEvent {
    /// The node received the request.
    Received,
    /// The node's cache decision.
    Cache {
        /// HIT, MISS, EXPIRED, ...
        status: CacheStatus,
        /// The Age of the copy served, for hits.
        #[serde(skip_serializing_if = "Option::is_none")]
        age_s: Option<u64>,
    },
    /// The node opened (or reused) a connection to the next tier.
    Connect {
        /// The tier connected to.
        to: Tier,
        /// Name of the node connected to (the origin's hostname for the origin).
        peer: String,
        /// Destination port.
        port: u16,
        /// Source address used.
        #[serde(skip_serializing_if = "Option::is_none")]
        egress: Option<Ipv4Addr>,
        /// Whether an idle keepalive connection was reused.
        reused: bool,
        /// What the peer did with the SYN (for new connections).
        #[serde(skip_serializing_if = "Option::is_none")]
        verdict: Option<ConnectVerdict>,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// One SYN of a connect attempt that got no answer: the first, or a retransmission on the
    /// profile's schedule ([`Timeouts::syn_transmissions`](crate::Timeouts::syn_transmissions)).
    SynSent {
        /// 1 for the first SYN, 2, 3, ... for the retransmissions.
        transmission: u32,
    },
    /// The TLS handshake succeeded.
    TlsEstablished {
        /// Whether the certificate was verified.
        verified: bool,
    },
    /// The request was sent on an established connection.
    RequestSent,
    /// An origin defence turned the request away.
    Defended {
        /// Which defence.
        by: Defence,
    },
    /// The hop failed.
    Failed {
        /// How.
        failure: FailureKind,
        /// How long the node waited before concluding it.
        waited: Duration,
    },
    /// The node generated an error response for a failure.
    Generated {
        /// The status code.
        status: u16,
        /// The vendor's wording.
        reason: &'static str,
    },
    /// A stale copy was served instead of an error (`stale-if-error`).
    ServedStale {
        /// The status that was avoided.
        instead_of: u16,
    },
    /// The node tries another route after a parent failure.
    Retry {
        /// What it does now (`next_parent` or `go_direct`).
        policy: &'static str,
    },
    /// The node stored the response.
    Stored {
        /// Freshness lifetime.
        ttl_s: u64,
    },
    /// The node did not store the response, and why.
    NotStored {
        /// Why.
        reason: &'static str,
    },
    /// The request waits behind another request for the same key (collapsing).
    Collapsed,
    /// It waited the collapse timeout and goes upstream itself, uncached.
    CollapseTimeout,
    /// The request upstream is conditional (`If-None-Match` / `If-Modified-Since`).
    Conditional {
        /// The ETag revalidated, if any.
        etag: Option<u32>,
    },
    /// Upstream answered 304: the stored copy was refreshed and served.
    Revalidated,
    /// The node sent a response back toward the client.
    Responded {
        /// The status code.
        status: u16,
        /// Which tier generated it.
        generated_by: Tier,
    },
}

/// One trace line: when, where, what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// Virtual time since the request was sent.
    pub at: Duration,
    /// Node name (`client`, an L1/L2 name, or the origin hostname).
    pub node: String,
    /// What happened.
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// The story of one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Request number within the run (from 0).
    pub request: u64,
    /// The URL path.
    pub path: String,
    /// The client address.
    pub client: Ipv4Addr,
    /// When the client sent it.
    #[serde(skip)]
    pub sent: Instant,
    /// What happened, in order.
    pub steps: Vec<TraceStep>,
    /// The status the client received.
    pub status: u16,
    /// The tier that generated it.
    pub generated_by: Tier,
    /// Total time until the client had the response.
    pub latency: Duration,
    /// The `Age` header the client received, if the profile sends one.
    pub age_s: Option<u64>,
    /// L1's cache status for this request.
    pub cache_status: CacheStatus,
}

impl Trace {
    /// A new, empty trace.
    pub fn new(request: u64, path: String, client: Ipv4Addr, sent: Instant) -> Trace {
        Trace {
            request,
            path,
            client,
            sent,
            steps: Vec::new(),
            status: 0,
            generated_by: Tier::L1,
            latency: Duration::ZERO,
            age_s: None,
            cache_status: CacheStatus::Miss,
        }
    }

    /// Appends a step at absolute time `now`.
    pub fn push(&mut self, now: Instant, node: &str, event: TraceEvent) {
        self.steps.push(TraceStep {
            at: now.saturating_since(self.sent),
            node: node.to_string(),
            event,
        });
    }
}
