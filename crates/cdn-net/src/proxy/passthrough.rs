//! Serving requests for a real upstream: every method with its body, headers passed on
//! unchanged but for hop-by-hop ones and the CDN's own, any status, bodies byte-exact and
//! streamed. The node decides everything as for the modelled origin — from a model
//! [`Response`] made of the upstream's real headers ([`crate::real::model_response`]); this
//! module keeps the real messages beside it: the fetched response for the request that
//! fetched it, and full copies ([`Stored`](super::stored::Stored)) of what the node stores.

use super::shared::Shared;
use super::stored::{Fingerprint, Full as StoredFull};
use super::upstream::{Conn, HopError};
use crate::real;
use crate::timing::stamp;
use crate::wire;
use bytes::{Bytes, BytesMut};
use cdn_core::message::mix64;
use cdn_core::node::Validators;
use cdn_core::{CacheKey, CacheStatus, Instant, Method, Request, Response, Scheme, TraceEvent};
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The body type of every response a proxy sends, and of every request it sends upstream.
pub(super) type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// A body of `bytes`.
pub(super) fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A model exchange's request body as a [`Body`].
pub(super) fn full_of(b: Full<Bytes>) -> Body {
    b.map_err(|never| match never {}).boxed_unsync()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Settings of a proxy that fronts a real upstream.
#[derive(Clone, Debug)]
pub struct RealSpec {
    /// At an L2: the real server. `None` at an L1 (it forwards to its parents).
    pub upstream: Option<cdn_core::origin::UpstreamUrl>,
    /// The largest body the cache stores; larger ones stream through uncached, so a
    /// 100 MiB download never sits in memory.
    pub max_stored: u64,
    /// Bytes of full responses (headers and bodies) past which the proxy drops the copies
    /// its node no longer holds (least recently used first). Copies the node holds are
    /// kept whatever this says: the node's capacity bounds them. The topology sets it
    /// to the node's capacity.
    pub store_bytes: u64,
    /// At an L2: the real server is reached through the origin's fault layer, found by the
    /// origin's hostname as the modelled origin is (so `dns_failure` is a failed lookup),
    /// rather than at `upstream`'s address directly.
    pub through_fault_layer: bool,
    /// At an L2 in front of an `https://` upstream: how to shake hands with it.
    pub upstream_tls: Option<UpstreamTls>,
}

/// TLS to a real `https://` upstream.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    /// Whether the certificate is verified ([`UpstreamUrl::tls`](cdn_core::origin::UpstreamUrl::tls)).
    pub policy: cdn_core::node::TlsPolicy,
    /// The rustls configuration: trust anchors from `upstream_ca` when verifying.
    pub config: std::sync::Arc<rustls::ClientConfig>,
    /// The name checked against the certificate and sent as SNI: the URL's host.
    pub name: rustls::pki_types::ServerName<'static>,
}

impl Default for RealSpec {
    fn default() -> RealSpec {
        RealSpec {
            upstream: None,
            max_stored: 8 << 20,
            store_bytes: 256 << 20,
            through_fault_layer: false,
            upstream_tls: None,
        }
    }
}

/// One request's real messages.
pub(super) struct RealCtx {
    /// The request head to forward (hop-by-hop headers and downstream validators removed).
    head: Arc<http::request::Parts>,
    /// Its body, sent with the first attempt.
    body: Option<Incoming>,
    /// The model's cache key (URL, and the `Vary` part when responses vary).
    key: CacheKey,
    /// The URL's key without a `Vary` part.
    base: CacheKey,
    /// The request carried `Authorization`.
    authorization: bool,
    /// The last response fetched for it.
    fetched: Option<Fetched>,
    /// The node's copy moves from one key to another (`Vary` learned from this response).
    pub(super) rekey: Option<(CacheKey, CacheKey)>,
    /// The fetched response may be stored: under this key, as this model response. Its
    /// full copy is kept only once the node has decided to store it (see
    /// [`Shared::keep_if_stored`]).
    offered: Option<(CacheKey, Fingerprint)>,
    /// The client's own `If-None-Match` / `If-Modified-Since`, forwarded when the cache has
    /// no copy to answer them from.
    client_validators: Vec<(header::HeaderName, HeaderValue)>,
    /// The last request sent carried the client's validators: a 304 to it is the client's,
    /// never a response to store.
    forwarded_validators: bool,
}

/// Which model response a full copy is: what the store matches it by.
fn fingerprint_of(r: &Response) -> Fingerprint {
    (r.status, r.etag, r.last_modified)
}

/// A response fetched from the next tier.
pub(super) struct Fetched {
    status: StatusCode,
    /// The status line's phrase when it is not the code's standard one (a 52x's
    /// "Origin Is Unreachable", an application's own): passed on as received.
    reason: Option<hyper::ext::ReasonPhrase>,
    headers: HeaderMap,
    body: FetchedBody,
}

enum FetchedBody {
    /// The whole body (no larger than `max_stored`).
    Whole(Bytes),
    /// What was read (`max_stored` bytes and more), the rest, still on the wire, and what
    /// keeps its connection open until the rest is read.
    Streaming(Bytes, Incoming, Option<super::upstream::ConnectionGuard>),
}

/// A body read in part, then streamed: the prefix, then the rest as it arrives.
struct Chained {
    prefix: Option<Bytes>,
    rest: Incoming,
    /// The upstream connection lives as long as this body.
    _connection: Option<super::upstream::ConnectionGuard>,
}

impl hyper::body::Body for Chained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(p) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let p = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let mut h = SizeHint::new();
        if let Some(u) = rest.upper() {
            h.set_upper(u + p);
        }
        h.set_lower(rest.lower() + p);
        h
    }
}

/// Methods that change state on the origin (RFC 9110 §9.2.1): a success invalidates the
/// stored copies of the URL (RFC 9111 §4.4).
fn is_unsafe(m: &http::Method) -> bool {
    !matches!(
        *m,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    )
}

/// The host a request is for: the absolute URI's authority, else `Host` (lower case).
pub(super) fn request_host(parts: &http::request::Parts) -> Option<String> {
    if let Some(a) = parts.uri.authority() {
        return Some(a.as_str().to_ascii_lowercase());
    }
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase())
}

impl Shared {
    /// Serves one downstream request for a real upstream.
    pub(super) async fn handle_real(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Body> {
        let (mut parts, body) = req.into_parts();
        let json = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(crate::error_page::wants_json);
        let host = request_host(&parts).unwrap_or_default();
        let scheme = match parts
            .headers
            .get(wire::names::FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
        {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let path: Arc<str> = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .into();
        let client = match peer.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let trace = parts
            .headers
            .get(wire::names::TRACE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(due) = stamp(&parts.headers, wire::names::DUE) {
            self.timers.arrived(due);
        }
        self.trace(trace, TraceEvent::Received);
        let base = CacheKey::for_url(&format!("{}://{host}", scheme.as_str()), &path);
        let stored = self.stored();
        let key = match stored.vary_of(base) {
            Some(names) => CacheKey(mix64(base.0 ^ real::vary_hash(&parts.headers, &names))),
            None => base,
        };
        // What the client already has: the node answers 304 when it matches.
        let tags = real::if_none_match(&parts.headers);
        let clock = self.timers.clock();
        let since = parts
            .headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| clock.parse_http_date(v));
        let method = Method::from(&parts.method);
        let ranged = parts.headers.contains_key(header::RANGE);
        real::strip_hop_by_hop(&mut parts.headers);
        for h in [
            wire::names::DUE,
            wire::names::TRACE,
            wire::names::SENT,
            wire::names::FORWARDED_PROTO,
        ] {
            parts.headers.remove(h);
        }
        let mut client_validators = Vec::new();
        if method == Method::Get {
            // The node revalidates with its own validators; the client's are answered here
            // (or forwarded when there is no copy).
            for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
                for v in parts.headers.get_all(&name) {
                    client_validators.push((name.clone(), v.clone()));
                }
                parts.headers.remove(&name);
            }
        }
        if let Some(a) = parts.uri.authority().cloned() {
            // An absolute-form request: its authority is the host (RFC 9112 §3.2.2).
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                parts.headers.insert(header::HOST, v);
            }
        }
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            // Forwarded in origin form (the path); one already in it stays as it is.
            if let Ok(p) = path.parse() {
                parts.uri = p;
            }
        }
        let authorization = parts.headers.contains_key(header::AUTHORIZATION);
        let mut ctx = RealCtx {
            head: Arc::new(parts),
            body: Some(body),
            key,
            base,
            authorization,
            fetched: None,
            rekey: None,
            offered: None,
            client_validators,
            forwarded_validators: false,
        };
        let unsafe_method = is_unsafe(&ctx.head.method);
        for attempt in 0..2 {
            let (reg, model) = {
                let mut slot = self.node();
                // A second attempt (the full copy was lost) goes upstream uncached.
                let eligible = slot.node.settings().policy.eligibility.allows(&path)
                    && method == Method::Get
                    && !ranged
                    && attempt == 0;
                let model = Request {
                    method,
                    scheme,
                    key,
                    client,
                    encoding: wire::encoding(&ctx.head.headers),
                    eligible,
                    object: cdn_core::message::ObjectHint::default(),
                };
                let etag = match tags.as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    many => {
                        let stored = slot.node.stored_etag(&model);
                        Some(stored.filter(|s| many.contains(s)).unwrap_or(many[0]))
                    }
                };
                let mut downstream = (etag.is_some() || since.is_some()).then_some(Validators {
                    etag,
                    last_modified: if etag.is_some() { None } else { since },
                });
                if !self.profile.real_rules().rfc_preconditions && since.is_some() {
                    // nginx: If-Modified-Since must name the copy's Last-Modified exactly,
                    // and holds even beside a matching If-None-Match.
                    if slot.node.stored_last_modified(&model) != since {
                        downstream = None;
                    } else if etag.is_none() {
                        downstream = Some(Validators {
                            etag: None,
                            last_modified: since,
                        });
                    }
                }
                let reg = self.submit(&mut slot, &model, downstream, trace, &path);
                (reg, model)
            };
            let answered = self.answer(reg, model, path.clone(), Some(ctx)).await;
            let Some((response, status, back)) = answered else {
                let r = Response::generated(self.tier, 503, "proxy shutting down");
                return self.to_http(&r, CacheStatus::Miss, json).map(full_of);
            };
            let Some(back) = back else {
                return self.to_http(&response, status, json).map(full_of);
            };
            ctx = back;
            let invalidates = self.profile.real_rules().invalidate_on_unsafe;
            if invalidates && unsafe_method && (200..400).contains(&response.status) {
                // RFC 9111 §4.4: the target URI, and the Location and Content-Location
                // URIs on the same host.
                let site = format!("{}://{host}", scheme.as_str());
                let mut keys = vec![ctx.key, ctx.base];
                if let Some(f) = &ctx.fetched {
                    for name in [header::LOCATION, header::CONTENT_LOCATION] {
                        let Some(v) = f.headers.get(&name).and_then(|v| v.to_str().ok()) else {
                            continue;
                        };
                        let same_host = v
                            .parse::<http::Uri>()
                            .ok()
                            .filter(|u| {
                                u.authority()
                                    .is_none_or(|a| a.as_str().eq_ignore_ascii_case(&host))
                            })
                            .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()));
                        if let Some(p) = same_host {
                            keys.push(CacheKey::for_url(&site, &p));
                        }
                    }
                }
                let mut slot = self.node();
                for k in &keys {
                    slot.node.invalidate(*k);
                }
                drop(slot);
                for k in keys {
                    stored.remove(k);
                }
            }
            if let Some(r) = self.real_answer(&response, status, &mut ctx, json) {
                return r;
            }
            // The node holds a copy whose full response is gone (evicted from the store
            // first): forget it and fetch the URL again.
            self.node().node.invalidate(ctx.key);
        }
        let r = Response::generated(self.tier, 503, "proxy shutting down");
        self.to_http(&r, CacheStatus::Miss, json).map(full_of)
    }

    /// The response sent downstream for the node's answer.
    fn real_answer(
        &self,
        resp: &Response,
        status: CacheStatus,
        ctx: &mut RealCtx,
        json: bool,
    ) -> Option<hyper::Response<Body>> {
        let generated_here = resp.generated_by == self.tier && resp.reason.is_some();
        let from_cache = matches!(
            status,
            CacheStatus::Hit
                | CacheStatus::Stale
                | CacheStatus::Updating
                | CacheStatus::Revalidated
        );
        let (code, headers, body, reason) = if generated_here {
            return Some(self.to_http(resp, status, json).map(full_of));
        } else if from_cache {
            // A 304 the node makes for the client's validators is about a stored 200.
            let stored_status = if resp.status == 304 { 200 } else { resp.status };
            let f = self
                .stored()
                .get(ctx.key, (stored_status, resp.etag, resp.last_modified))?;
            (f.status, f.headers, FetchedBody::Whole(f.body), None)
        } else {
            match ctx.fetched.take() {
                Some(f) if f.status.as_u16() == resp.status || resp.status == 304 => {
                    (f.status, f.headers, f.body, f.reason)
                }
                _ => return Some(self.to_http(resp, status, json).map(full_of)),
            }
        };
        let age = match self.tier {
            cdn_core::Tier::L1 => self.profile.age_header(status, resp),
            _ => resp.age_header(),
        };
        let mut r = hyper::Response::new(empty());
        *r.headers_mut() = headers;
        let h = r.headers_mut();
        // A tier that sends no Age of its own passes the stored or received one on, as nginx
        // does.
        if let Some(age) = age {
            h.insert(header::AGE, HeaderValue::from(age));
        }
        if let Some(v) = self.x_cache(status) {
            h.insert(wire::names::X_CACHE, v.clone());
        }
        if self.tier != cdn_core::Tier::L1 {
            h.insert(
                wire::names::SENT,
                HeaderValue::from(self.timers.now().as_nanos()),
            );
        }
        if resp.status == 304 {
            // The client's validators matched (or a 304 passed on).
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r.headers_mut().remove(header::CONTENT_LENGTH);
            return Some(r);
        }
        *r.status_mut() = code;
        if let Some(reason) = reason {
            r.extensions_mut().insert(reason);
        }
        *r.body_mut() = match body {
            FetchedBody::Whole(b) => full(b),
            FetchedBody::Streaming(prefix, rest, connection) => Chained {
                prefix: Some(prefix),
                rest,
                _connection: connection,
            }
            .boxed_unsync(),
        };
        Some(r)
    }

    /// The request sent upstream for `ctx` (conditional with the stored copy's validators
    /// when the node asks for a revalidation).
    pub(super) fn real_request(
        &self,
        ctx: &mut RealCtx,
        scheme: Scheme,
        conditional: Option<Validators>,
        trace: Option<u64>,
        to_origin: bool,
    ) -> hyper::Request<Body> {
        let mut r = hyper::Request::new(empty());
        *r.method_mut() = ctx.head.method.clone();
        *r.uri_mut() = ctx.head.uri.clone();
        *r.headers_mut() = ctx.head.headers.clone();
        let h = r.headers_mut();
        let copy = self.stored().any(ctx.key);
        let forward = copy.is_none() && self.profile.real_rules().forward_client_validators;
        ctx.forwarded_validators = forward && !ctx.client_validators.is_empty();
        if forward {
            for (n, v) in &ctx.client_validators {
                h.append(n.clone(), v.clone());
            }
        }
        if conditional.is_some() {
            if let Some(f) = copy {
                if let Some(e) = f.headers.get(header::ETAG) {
                    h.insert(header::IF_NONE_MATCH, e.clone());
                }
                if let Some(lm) = f.headers.get(header::LAST_MODIFIED) {
                    h.insert(header::IF_MODIFIED_SINCE, lm.clone());
                }
            }
        }
        if !to_origin {
            h.insert(
                wire::names::FORWARDED_PROTO,
                HeaderValue::from_static(scheme.as_str()),
            );
            if let Some(n) = trace {
                h.insert(wire::names::TRACE, HeaderValue::from(n));
            }
        }
        match ctx.body.take() {
            Some(b) => *r.body_mut() = b.boxed_unsync(),
            None => {
                // Sent already with an attempt that failed: the retry goes without it.
                h.remove(header::CONTENT_LENGTH);
            }
        }
        r
    }

    /// Sends `req` on `conn` and reads the response head and up to `max_stored` bytes of
    /// its body until virtual `until`; then keeps the real response in `ctx` (and a full
    /// copy of a whole one the node may store) and returns the model response for the node
    /// and whether the connection is free again.
    pub(super) async fn real_exchange(
        &self,
        conn: &mut Conn,
        req: hyper::Request<Body>,
        ctx: &mut RealCtx,
        model_req: &Request,
        until: Instant,
    ) -> Result<(Response, bool), HopError> {
        let max = self.real_spec().map_or(0, |r| r.max_stored);
        let clock = self.timers.clock();
        let one_way = conn.one_way(self);
        let exchange = async {
            let due = self.timers.now() + one_way;
            self.timers.sleep_until(due).await;
            let mut req = req;
            if !conn.to_origin() {
                req.headers_mut()
                    .insert(wire::names::DUE, HeaderValue::from(due.as_nanos()));
            } else {
                self.sent_to_origin.fetch_add(1, Ordering::Relaxed);
            }
            let resp = conn
                .sender
                .send_request(req)
                .await
                .map_err(|e| wire::exchange_failure(&e))?;
            let (parts, mut body) = resp.into_parts();
            let mut read = BytesMut::new();
            let mut complete = true;
            loop {
                if read.len() as u64 > max {
                    complete = false;
                    break;
                }
                match body.frame().await {
                    None => break,
                    Some(Err(e)) => return Err(wire::exchange_failure(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            read.extend_from_slice(&data);
                        }
                    }
                }
            }
            let left = stamp(&parts.headers, wire::names::SENT);
            match left {
                Some(left) => self.timers.sleep_until(left + one_way).await,
                None => self.timers.wait_until(self.timers.now() + one_way).await,
            };
            let body = if complete {
                FetchedBody::Whole(read.freeze())
            } else {
                FetchedBody::Streaming(read.freeze(), body, conn.sender.hand_over())
            };
            Ok((parts, body))
        };
        let (mut parts, body) = match self.timers.deadline(until, exchange).await {
            Err(at) => return Err(HopError::Deadline(at)),
            Ok(Err(kind)) => return Err(HopError::Failed(kind)),
            Ok(Ok(r)) => r,
        };
        let whole = matches!(body, FetchedBody::Whole(_));
        let len = match &body {
            FetchedBody::Whole(b) => b.len() as u64,
            FetchedBody::Streaming(p, _, _) => parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(p.len() as u64),
        };
        let status = parts.status.as_u16();
        let mut model = real::model_response(
            status,
            &parts.headers,
            len,
            &clock,
            whole,
            ctx.authorization,
            self.profile.real_rules(),
        );
        if status == 304 && ctx.forwarded_validators {
            model.cache_control.no_store = true;
        }
        real::strip_hop_by_hop_as(
            &mut parts.headers,
            self.profile.real_rules().connection_names_hop_by_hop,
        );
        for h in [wire::names::SENT, wire::names::X_CACHE] {
            parts.headers.remove(h);
        }
        let stored = self.stored();
        let star_in_list = self.profile.real_rules().vary_star_in_list;
        if model_req.eligible {
            match real::vary_names_as(&parts.headers, star_in_list) {
                Some(names) if status != 304 => stored.set_vary(ctx.base, names),
                _ => {}
            }
        }
        // Responses for this URL vary and the request was keyed without knowing it: its
        // copy moves to the key with the request's part (see `carry_out`).
        ctx.rekey = None;
        if model_req.eligible && status != 304 && ctx.key == ctx.base {
            if let Some(names) =
                real::vary_names_as(&parts.headers, star_in_list).filter(|n| !n.is_empty())
            {
                let to = CacheKey(mix64(
                    ctx.base.0 ^ real::vary_hash(&ctx.head.headers, &names),
                ));
                ctx.rekey = Some((ctx.base, to));
            }
        }
        if status == 304 && self.profile.real_rules().update_headers_from_304 {
            stored.freshen(ctx.key, &parts.headers);
        }
        ctx.offered =
            (status != 304 && whole && model_req.eligible && !model.cache_control.no_store).then(
                || {
                    let key = ctx.rekey.map_or(ctx.key, |(_, to)| to);
                    (key, fingerprint_of(&model))
                },
            );
        ctx.fetched = Some(Fetched {
            status: parts.status,
            reason: parts.extensions.get::<hyper::ext::ReasonPhrase>().cloned(),
            headers: parts.headers,
            body,
        });
        Ok((model, whole))
    }

    /// Keeps the full copy of the response just fetched for `ctx` if `node` — given its
    /// model response at `now` — stored it. Called with the node locked, so no request
    /// can find the node's copy before its full response is here; and only for what the
    /// node stored just now, so a response it does not store (`private`, no freshness for
    /// this vendor, a status it does not cache) never takes room from, or the place of,
    /// a copy it holds — even one it cannot tell apart by status and validators.
    pub(super) fn keep_if_stored(
        &self,
        node: &cdn_core::CacheNode,
        now: cdn_core::Instant,
        ctx: &mut RealCtx,
    ) {
        let Some((key, fingerprint)) = ctx.offered.take() else {
            return;
        };
        let cache = node.cache();
        let held = cache
            .peek(key)
            .is_some_and(|e| e.stored_at == now && fingerprint_of(&e.response) == fingerprint);
        let Some(f) = ctx.fetched.as_ref().filter(|_| held) else {
            return;
        };
        let FetchedBody::Whole(body) = &f.body else {
            return;
        };
        self.stored().put(
            key,
            StoredFull {
                status: f.status,
                headers: f.headers.clone(),
                body: body.clone(),
                fingerprint,
                request: ctx.head.clone(),
                sealed: false,
            },
            |k, f| {
                cache
                    .peek(CacheKey(k))
                    .is_some_and(|e| fingerprint_of(&e.response) == *f)
            },
        );
    }

    /// The real messages for a background revalidation of `key`: the request head that
    /// fetched the stored copy (a plain `GET path` if the copy is gone).
    pub(super) fn background_ctx(&self, key: CacheKey, path: &str) -> RealCtx {
        let head = match self.stored().any(key) {
            Some(f) => f.request.clone(),
            None => {
                let mut r = http::Request::new(());
                if let Ok(uri) = path.parse() {
                    *r.uri_mut() = uri;
                }
                Arc::new(r.into_parts().0)
            }
        };
        RealCtx {
            authorization: head.headers.contains_key(header::AUTHORIZATION),
            head,
            body: None,
            key,
            base: key,
            fetched: None,
            rekey: None,
            offered: None,
            client_validators: Vec::new(),
            forwarded_validators: false,
        }
    }
}
