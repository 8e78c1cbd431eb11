//! HTTP on both sides of the core: a hyper request becomes a [`cdn_core::Request`] and
//! validators; a core [`Response`](cdn_core::Response) becomes real headers and a body of
//! exactly `body_len` bytes.

use crate::clock::VirtualClock;
use bytes::Bytes;
use cdn_core::message::{Encoding, Etag, Vary};
use cdn_core::node::Validators;
use cdn_core::origin::Defence;
use cdn_core::{CacheKey, Instant, Method, Origin, Scheme, Tier};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Size of the shared body chunk that bodies are cut from.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Header naming the defence that produced a rejection (`limit_req`, `limit_conn`,
/// `overload`). Not something nginx sends; it lets a proxy's trace say why.
pub const DEFENCE_HEADER: &str = "x-origin-defence";

/// The bytes every content body is cut from.
pub(crate) fn body_chunk() -> Bytes {
    let line = b"cdn-net origin content: the same bytes for every request of a version.\n";
    Bytes::from(
        line.iter()
            .copied()
            .cycle()
            .take(CHUNK)
            .collect::<Vec<u8>>(),
    )
}

/// The core's view of a request.
pub(crate) fn core_request(
    req: &hyper::Request<hyper::body::Incoming>,
    peer: Ipv4Addr,
    tls: bool,
) -> cdn_core::Request {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    let encoding = match req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|h| h.to_str().ok())
    {
        Some(a) if a.contains("br") => Encoding::Br,
        Some(a) if a.contains("gzip") => Encoding::Gzip,
        _ => Encoding::Identity,
    };
    cdn_core::Request {
        method: Method::from(req.method()),
        scheme: if tls { Scheme::Https } else { Scheme::Http },
        key: CacheKey::for_url(host, req.uri().path()),
        client: peer,
        encoding,
        eligible: true,
        object: cdn_core::message::ObjectHint::default(),
    }
}

/// `"v3"` for content version 3.
pub fn etag_value(etag: Etag) -> String {
    format!("\"v{}\"", etag.0)
}

/// The content version named by an entity tag (`"v3"`, `W/"v3"`).
pub fn parse_etag(value: &str) -> Option<Etag> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v.strip_prefix('"')?.strip_suffix('"')?;
    v.strip_prefix('v')?.parse().ok().map(Etag)
}

/// The validators of a conditional request, as the core compares them. `If-None-Match` wins
/// over `If-Modified-Since` (RFC 9110 §13.2.2). HTTP dates have whole seconds, so an
/// `If-Modified-Since` at or after the current `Last-Modified` (truncated) names it exactly.
pub(crate) fn validators(
    headers: &HeaderMap,
    origin: &Origin,
    now: Instant,
    clock: &VirtualClock,
) -> Option<Validators> {
    let current = origin.content(now);
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
    {
        let etag = if inm.trim() == "*" {
            current.etag
        } else {
            let tags: Vec<Etag> = inm.split(',').filter_map(parse_etag).collect();
            tags.iter()
                .copied()
                .find(|t| Some(*t) == current.etag)
                .or_else(|| tags.first().copied())
        };
        return etag.map(|e| Validators {
            etag: Some(e),
            last_modified: None,
        });
    }
    let ims = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
        .and_then(|v| clock.parse_http_date(v))?;
    let lm = current.last_modified?;
    let lm_seconds = Instant(lm.as_nanos() / 1_000_000_000 * 1_000_000_000);
    Some(Validators {
        etag: None,
        last_modified: Some(if lm_seconds <= ims { lm } else { ims }),
    })
}

/// The configuration values a response needs that the core's `Response` does not carry.
pub(crate) struct Snapshot {
    pub(crate) cache_control: String,
}

/// The name of a defence, as in [`DEFENCE_HEADER`].
pub fn defence_name(d: Defence) -> &'static str {
    match d {
        Defence::LimitReq => "limit_req",
        Defence::LimitConn => "limit_conn",
        Defence::Overload => "overload",
    }
}

/// A real response for the core's `response`.
pub(crate) fn build(
    clock: &VirtualClock,
    chunk: &Bytes,
    response: cdn_core::Response,
    rejected_by: Option<Defence>,
    snapshot: &Snapshot,
) -> hyper::Response<OriginBody> {
    let mut headers = HeaderMap::new();
    let mut put = |name: HeaderName, value: String| match HeaderValue::try_from(value) {
        Ok(v) => {
            headers.append(name, v);
        }
        Err(e) => tracing::warn!(%name, "header value skipped: {e}"),
    };
    put(header::DATE, clock.http_date(response.date));
    put(header::SERVER, "cdn-net-origin".into());
    let content = response.generated_by == Tier::Origin && rejected_by.is_none();
    if content && !snapshot.cache_control.trim().is_empty() {
        put(header::CACHE_CONTROL, snapshot.cache_control.clone());
    }
    if let Some(e) = response.etag {
        put(header::ETAG, etag_value(e));
    }
    if let Some(lm) = response.last_modified {
        put(header::LAST_MODIFIED, clock.http_date(lm));
    }
    if let Some(x) = response.expires {
        put(header::EXPIRES, clock.http_date(x));
    }
    match response.vary {
        Vary::None => {}
        Vary::AcceptEncoding => put(header::VARY, "Accept-Encoding".into()),
        Vary::Any => put(header::VARY, "*".into()),
    }
    if response.set_cookie {
        put(header::SET_COOKIE, "cdn_net_session=1; Path=/".into());
    }
    if let Some(d) = rejected_by {
        put(
            HeaderName::from_static(DEFENCE_HEADER),
            defence_name(d).into(),
        );
    }
    let body = if matches!(response.status, 100..=199 | 204 | 304) {
        OriginBody::empty()
    } else if let Some(reason) = response.reason {
        put(header::CONTENT_TYPE, "text/plain".into());
        OriginBody::text(response.status, reason, response.body_len)
    } else {
        OriginBody::Repeat {
            chunk: chunk.clone(),
            remaining: response.body_len,
        }
    };
    let status = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    pad_head(&mut headers, status, body.len(), response.header_bytes);
    let mut out = hyper::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Header that fills a response head up to the model's `header_size`.
const PAD_HEADER: &str = "x-pad";

/// Pads `headers` with an [`PAD_HEADER`] so the head hyper writes (these headers plus the
/// `content-length` it adds) is `target` bytes long, as the model's origin sends
/// `header_size` bytes of headers; a head already at least that long is left alone (the
/// default `header_size` is below every proxy's limit, so only the size matters, not the
/// padding of small heads).
/// The most padding sent: a head above hyper's read buffer (about 400 KiB) is refused as too
/// large whatever its size, so a larger `header_size` (up to 4 GiB in a file) would allocate
/// and send memory for nothing.
const MAX_PAD: u64 = 1 << 20;

fn pad_head(headers: &mut HeaderMap, status: http::StatusCode, body_len: u64, target: u32) {
    let mut with_length = headers.clone();
    if !matches!(status.as_u16(), 100..=199 | 204 | 304) {
        with_length.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    let have = crate::wire::head_bytes(status, &with_length);
    let overhead = (PAD_HEADER.len() + 4) as u64; // "x-pad: " + value + "\r\n"
    let Some(fill) = u64::from(target).checked_sub(have + overhead) else {
        return;
    };
    if fill == 0 {
        return;
    }
    let value =
        HeaderValue::try_from("p".repeat(fill.min(MAX_PAD) as usize)).expect("ASCII letters");
    headers.insert(HeaderName::from_static(PAD_HEADER), value);
}

/// A response body of a known length.
#[derive(Debug)]
pub enum OriginBody {
    /// One buffer (or nothing once sent).
    Bytes(Option<Bytes>),
    /// `remaining` bytes cut from a shared chunk, one chunk per frame.
    Repeat {
        /// The bytes to repeat.
        chunk: Bytes,
        /// Bytes still to send.
        remaining: u64,
    },
}

impl OriginBody {
    fn empty() -> OriginBody {
        OriginBody::Bytes(None)
    }

    /// `"<status> <reason>\n"`, padded with spaces (or cut) to exactly `len` bytes.
    fn text(status: u16, reason: &str, len: u64) -> OriginBody {
        let mut text = format!("{status} {reason}\n").into_bytes();
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(1 << 20);
        if text.len() > len {
            text.truncate(len);
        } else if len > text.len() {
            let last = text.pop();
            text.resize(len - 1, b' ');
            text.extend(last);
        }
        OriginBody::Bytes(Some(Bytes::from(text)))
    }

    fn len(&self) -> u64 {
        match self {
            OriginBody::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            OriginBody::Repeat { remaining, .. } => *remaining,
        }
    }
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(match self.get_mut() {
            OriginBody::Bytes(b) => b
                .take()
                .filter(|b| !b.is_empty())
                .map(|b| Ok(Frame::data(b))),
            OriginBody::Repeat { chunk, remaining } => {
                if *remaining == 0 || chunk.is_empty() {
                    None
                } else {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len());
                    *remaining -= n as u64;
                    Some(Ok(Frame::data(chunk.slice(..n))))
                }
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(parse_etag(&etag_value(Etag(7))), Some(Etag(7)));
        assert_eq!(parse_etag(" W/\"v3\""), Some(Etag(3)));
        assert_eq!(parse_etag("\"abc\""), None);
    }

    #[test]
    fn text_bodies_have_exactly_the_core_length() {
        for len in [0u64, 5, 197, 1000] {
            assert_eq!(OriginBody::text(503, "limit_req", len).len(), len);
        }
    }
}
