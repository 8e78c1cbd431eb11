//! One request in progress at one node: what it asked for, what the cache said, and where
//! it stands upstream.

use super::action::{Hop, Peer};
use super::Validators;
use crate::cache::CacheStatus;
use crate::message::Request;
use crate::time::Instant;
use std::net::Ipv4Addr;

/// Where a request stands while the node handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Being decided: no deadline yet.
    Deciding,
    /// Collapsed behind another request for the same key until the collapse timeout.
    Waiting { until: Instant },
    /// Opening a connection upstream until the connect deadline.
    Connecting { since: Instant, until: Instant },
    /// TCP is up; the TLS handshake runs until its deadline.
    Handshaking { since: Instant, until: Instant },
    /// The request is upstream; the response head is due by the read deadline.
    Awaiting { since: Instant, until: Instant },
}

/// The upstream trip: which peer, which attempt, what has been tried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    /// The current trip's number (0 before the first).
    pub(crate) hop: Hop,
    pub(crate) peer: Peer,
    /// Connect attempt at this peer, from 1.
    pub(crate) attempt: u32,
    /// When the first connect attempt at this peer started.
    pub(crate) first_attempt: Instant,
    /// The L1 already rerouted once after a parent failure.
    pub(crate) rerouted: bool,
    /// The egress address and port of an origin connection (returned to the idle set when
    /// the exchange succeeds).
    pub(crate) source: Option<Ipv4Addr>,
    pub(crate) port: u16,
}

/// A request the node has forwarded or is holding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    pub(crate) req: Request,
    /// Validators the downstream sent: answer 304 when they match a validated copy.
    pub(crate) downstream: Option<Validators>,
    pub(crate) status: CacheStatus,
    /// This node's validators, sent upstream.
    pub(crate) conditional: Option<Validators>,
    /// When the request went upstream (RFC 9111 §4.2.3 request_time).
    pub(crate) sent_at: Instant,
    /// The collapse lock this request leads or shares.
    pub(crate) lock: Option<u64>,
    pub(crate) phase: Phase,
    pub(crate) route: Route,
    /// May take or join a collapse lock.
    pub(crate) collapse: bool,
    /// A collapse timeout sent it upstream: its answer is not stored (nginx).
    pub(crate) no_store: bool,
    /// A background revalidation: nobody downstream waits for it.
    pub(crate) background: bool,
    /// The driver wants trace notes for it.
    pub(crate) notes: bool,
}

impl Exchange {
    /// A request just received (or started in the background) at `now`.
    pub(crate) fn new(req: Request, now: Instant, initial_peer: Peer) -> Exchange {
        Exchange {
            req,
            downstream: None,
            status: CacheStatus::Miss,
            conditional: None,
            sent_at: now,
            lock: None,
            phase: Phase::Deciding,
            route: Route {
                hop: 0,
                peer: initial_peer,
                attempt: 0,
                first_attempt: now,
                rerouted: false,
                source: None,
                port: 0,
            },
            collapse: true,
            no_store: false,
            background: false,
            notes: false,
        }
    }
}
