//! The origin as a fault layer in front of a real server.
//!
//! With [`OriginOptions::upstream`](super::OriginOptions::upstream) set, the origin keeps
//! every fault of its own — what the kernel does (refused ports, BPF or nftables drops,
//! full accept queues, unreachable routes), what the core decides (`limit_req`,
//! `limit_conn`, `hung`, `reset`, `close`, `garbage`) — and where it would have answered
//! with modelled content, it forwards the request to the real server instead and streams
//! its answer back, as a toxiproxy-style relay does.
//!
//! Each connection the CDN opens to the fault layer gets one connection to the real server,
//! opened at its first request **from the same source address** (any 127.0.0.0/8 address
//! can be bound on loopback): the real server sees the CDN's egress addresses, so its own
//! per-IP limits and allow-lists act on them, and its keep-alive follows the CDN's.
//!
//! When the real server cannot be reached or breaks an exchange, the CDN's connection is
//! reset: what a relay that lost its upstream can do, and what the CDN would have seen from
//! the server itself, one round trip later.

use super::http::OriginBody;
use super::Shared;
use bytes::Bytes;
use http_body_util::Either;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Mutex;

/// A response of the fault layer: the origin's own (a defence's 503) or the real server's.
pub(crate) type RelayedBody = Either<OriginBody, Tracked>;

/// A request the core let through to the real server: until this is dropped — with the
/// response body sent, or the exchange abandoned — it counts for `limit_conn` as one the
/// server is working on (as nginx counts a connection while its request is processed).
pub(crate) struct Admitted {
    shared: Arc<Shared>,
    source: Ipv4Addr,
}

impl Admitted {
    /// A request from `source` that [`cdn_core::Origin::handle_forwarded`] admitted.
    pub(crate) fn new(shared: Arc<Shared>, source: Ipv4Addr) -> Admitted {
        Admitted { shared, source }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.shared.lock_origin().forwarded_done(self.source);
    }
}

/// The real server's response body, keeping its request admitted until it is all sent.
pub(crate) struct Tracked {
    body: Incoming,
    _admitted: Admitted,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What one downstream connection holds of the real server: its own upstream connection,
/// opened on first use. Requests on one HTTP/1.1 connection come one at a time, so the lock
/// is never contended; it only lets the request futures share the handle.
#[derive(Clone, Default)]
pub(crate) struct Leg(Arc<Mutex<Option<SendRequest<Incoming>>>>);

/// Why the real server gave no answer.
#[derive(Debug)]
pub(crate) struct Unanswered(pub(crate) String);

impl Leg {
    /// Sends `req` to the real server at `upstream` from `source`, opening the connection
    /// first if this downstream connection has none (or the server closed it).
    pub(crate) async fn forward(
        &self,
        upstream: SocketAddrV4,
        source: Ipv4Addr,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Incoming>, Unanswered> {
        let mut held = self.0.lock().await;
        if held.as_ref().is_none_or(|s| s.is_closed()) {
            *held = Some(connect(upstream, source).await?);
        }
        let sender = held.as_mut().expect("opened above");
        sender
            .ready()
            .await
            .map_err(|e| Unanswered(format!("connection to {upstream} closed: {e}")))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| Unanswered(format!("exchange with {upstream} failed: {e}")))
    }
}

/// An HTTP/1.1 connection to `upstream` from `source`.
async fn connect(
    upstream: SocketAddrV4,
    source: Ipv4Addr,
) -> Result<SendRequest<Incoming>, Unanswered> {
    // The source the CDN connected from, so the real server sees the egress address.
    // Outside loopback it could not be bound, and the origin only accepts loopback peers.
    let tcp = crate::wire::connect_from(
        Some(source).filter(Ipv4Addr::is_loopback),
        SocketAddr::V4(upstream),
    )
    .await
    .map_err(|kind| Unanswered(format!("connect to {upstream} failed: {kind:?}")))?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| Unanswered(format!("HTTP/1.1 with {upstream}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%upstream, "upstream connection ended: {e}");
        }
    });
    Ok(sender)
}

/// The real server's response as the fault layer sends it on at virtual `now`: stamped
/// with when it leaves, as the modelled origin's are, for the receiver's emulated link (a
/// stamp the server sent itself is not on this run's clock and goes).
pub(crate) fn relayed(
    mut resp: hyper::Response<Incoming>,
    now: cdn_core::Instant,
    admitted: Admitted,
) -> hyper::Response<RelayedBody> {
    resp.headers_mut().insert(
        crate::timing::SENT_HEADER,
        http::HeaderValue::from(now.as_nanos()),
    );
    resp.map(|body| {
        Either::Right(Tracked {
            body,
            _admitted: admitted,
        })
    })
}

/// The origin's own response as the fault layer sends it.
pub(crate) fn own(resp: hyper::Response<OriginBody>) -> hyper::Response<RelayedBody> {
    resp.map(Either::Left)
}
