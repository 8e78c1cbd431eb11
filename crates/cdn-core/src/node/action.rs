//! What a node asks its driver to do: the outputs of the request flow.

use super::Validators;
use crate::cache::CacheStatus;
use crate::message::{Request, Response};
use crate::time::Instant;
use crate::trace::TraceEvent;
use std::net::Ipv4Addr;

/// A driver's handle for one request at one node. Unique among the node's requests in
/// progress; the driver may reuse it once the node has answered it.
pub type Ticket = u64;

/// One trip upstream of one request at one node, numbered from 1: every connect attempt and
/// every reroute starts a new hop. Inputs that name an older hop are stale and ignored, so a
/// driver never has to cancel anything it already started.
pub type Hop = u32;

/// Where a node sends a request it cannot answer from cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// An L2 parent, by index in the configuration (an L1's upstream).
    Parent(u16),
    /// The origin (an L2's upstream, or an L1's when it goes direct).
    Origin,
}

/// TLS on an origin connection: whether to verify the certificate, and against what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    /// Verify the chain, expiry and name (`strict` modes); otherwise accept anything.
    pub verify: bool,
    /// Also trust the CDN's own origin CA (Cloudflare Origin CA certificates).
    pub trust_origin_ca: bool,
}

/// Open a connection to the next tier (or take an idle one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect {
    /// The request.
    pub ticket: Ticket,
    /// This trip's number: pass it back with the outcome.
    pub hop: Hop,
    /// Where to.
    pub peer: Peer,
    /// Destination port (80 or 443 at the origin).
    pub port: u16,
    /// TLS to speak after the TCP handshake, if any.
    pub tls: Option<TlsPolicy>,
    /// Source address to bind (the egress address the origin will see); `None` between
    /// tiers.
    pub source: Option<Ipv4Addr>,
    /// An idle connection from `source` to this peer may be reused.
    pub reuse: bool,
    /// Connect attempt at this peer, from 1.
    pub attempt: u32,
    /// The TCP connect deadline: call [`CacheNode::timer`](super::CacheNode::timer) then
    /// unless the outcome was reported first. With [`Connect::tls`], report
    /// [`CacheNode::tcp_connected`](super::CacheNode::tcp_connected) when TCP is up: the
    /// handshake then has [`Connect::handshake_timeout`] from that moment.
    pub until: Instant,
    /// How long a TLS handshake may take once TCP is connected (the node's deadline moves
    /// to it when told [`CacheNode::tcp_connected`](super::CacheNode::tcp_connected)).
    pub handshake_timeout: std::time::Duration,
    /// If the peer's TCP stops acknowledging what is sent for this long, give up with
    /// [`FailureKind::AckTimeout`](crate::FailureKind::AckTimeout) (what Linux's
    /// `TCP_USER_TIMEOUT` does; a driver with a scaled clock arms it as its own timer);
    /// `None`: no such limit.
    pub ack_timeout: Option<std::time::Duration>,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send `response` downstream for `ticket`; the node is done with it. `status` is this
    /// node's cache status for the request.
    Answer {
        /// The request.
        ticket: Ticket,
        /// What to send (a 304 when the downstream's validators match a validated copy).
        response: Response,
        /// The cache status at this node.
        status: CacheStatus,
    },
    /// Open a connection upstream; report [`CacheNode::connected`](super::CacheNode::connected)
    /// or [`CacheNode::hop_failed`](super::CacheNode::hop_failed), or call
    /// [`CacheNode::timer`](super::CacheNode::timer) at `until`.
    Connect(Connect),
    /// Send the request on the connection just opened (conditional when `conditional` is
    /// set); report [`CacheNode::answered`](super::CacheNode::answered) or
    /// [`CacheNode::hop_failed`](super::CacheNode::hop_failed), or call
    /// [`CacheNode::timer`](super::CacheNode::timer) at `until` (the read deadline).
    Send {
        /// The request.
        ticket: Ticket,
        /// The trip it belongs to.
        hop: Hop,
        /// Validators for `If-None-Match` / `If-Modified-Since`.
        conditional: Option<Validators>,
        /// The read deadline: the response head must arrive by then.
        until: Instant,
        /// If the peer's TCP does not acknowledge what is sent for this long, give up with
        /// [`FailureKind::AckTimeout`](crate::FailureKind::AckTimeout) (what Linux's
        /// `TCP_USER_TIMEOUT` does); `None`: only the read deadline applies.
        ack_timeout: Option<std::time::Duration>,
    },
    /// The request waits behind another request for the same key. Call
    /// [`CacheNode::timer`](super::CacheNode::timer) at `until` unless an action for it came
    /// first.
    Wait {
        /// The request.
        ticket: Ticket,
        /// The collapse deadline.
        until: Instant,
    },
    /// Start a background revalidation (`stale-while-revalidate`): create a request no
    /// client waits for and pass it to
    /// [`CacheNode::receive_background`](super::CacheNode::receive_background).
    Revalidate {
        /// What to revalidate.
        req: Request,
        /// The stale copy's validators.
        conditional: Option<Validators>,
    },
    /// Something worth a line in the request's trace (only for requests received with
    /// `notes = true`).
    Note {
        /// The request.
        ticket: Ticket,
        /// What happened.
        event: TraceEvent,
    },
}

impl Action {
    /// The request this action is for (`None` for [`Action::Revalidate`], which creates one).
    pub fn ticket(&self) -> Option<Ticket> {
        match self {
            Action::Answer { ticket, .. }
            | Action::Send { ticket, .. }
            | Action::Wait { ticket, .. }
            | Action::Note { ticket, .. } => Some(*ticket),
            Action::Connect(c) => Some(c.ticket),
            Action::Revalidate { .. } => None,
        }
    }
}
