//! Between `cdn-core` values and real HTTP messages: headers in both directions, synthetic
//! bodies, and the classification of real I/O errors into [`FailureKind`]s.

use crate::clock::VirtualClock;
use bytes::Bytes;
use cdn_core::message::{Encoding, Etag, Vary};
use cdn_core::node::Validators;
use cdn_core::{CacheControl, CacheStatus, FailureKind, Response, Tier};
use http::header::{self, HeaderMap, HeaderValue};
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

/// Reasons generated outside the profiles' tables (by the cache's RFC rules and the proxies).
const EXTRA_REASONS: &[&str] = &[cdn_core::node::MUST_REVALIDATE_504, "proxy shutting down"];

/// Header naming the tier that generated a response (`l1`, `l2`, `origin`).
pub const GENERATED_BY: &str = "x-generated-by";

/// Header carrying a model status that has no HTTP status line: nginx relaying an upstream's
/// non-HTTP bytes as HTTP/0.9 is status 9 in its log ([`cdn_core::profile::HTTP_09_RELAY`]).
/// hyper cannot write a response without a status line, so between tiers (and to clients)
/// such an answer travels as `502` with this header, which a receiving tier reads back.
pub const MODEL_STATUS: &str = "x-cdn-sim-status";

/// The HTTP status line for a model status, and whether [`MODEL_STATUS`] must carry the
/// model's own (a status outside 100–999).
pub fn status_line(status: u16) -> (http::StatusCode, bool) {
    match http::StatusCode::from_u16(status) {
        Ok(s) => (s, false),
        Err(_) => (http::StatusCode::BAD_GATEWAY, true),
    }
}

/// The model status of a received response: [`MODEL_STATUS`] where present, else the status
/// line's.
pub fn model_status(status: u16, headers: &HeaderMap) -> u16 {
    headers
        .get(names::MODEL_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(status)
}
/// Header with how the hop failed, on a generated error
/// ([`FailureKind::wire_name`]): the next tier's error page names the cause.
pub const FAILURE: &str = "x-cdn-sim-failure";

/// Header with the cache status and the node (`HIT from edge-fra`).
pub const X_CACHE: &str = "x-cache";

/// The names above (and this CDN's other own headers) as [`HeaderName`]s, for the hot
/// paths: a lookup or removal by `&str` parses the name each time, by `HeaderName` only
/// hashes it.
pub(crate) mod names {
    use http::header::HeaderName;
    /// [`super::GENERATED_BY`].
    pub const GENERATED_BY: HeaderName = HeaderName::from_static(super::GENERATED_BY);
    /// [`super::MODEL_STATUS`].
    pub const MODEL_STATUS: HeaderName = HeaderName::from_static(super::MODEL_STATUS);
    /// [`super::FAILURE`].
    pub const FAILURE: HeaderName = HeaderName::from_static(super::FAILURE);
    /// [`super::X_CACHE`].
    pub const X_CACHE: HeaderName = HeaderName::from_static(super::X_CACHE);
    /// The reason a tier generated an error (`x-error-reason`).
    pub const ERROR_REASON: HeaderName = HeaderName::from_static("x-error-reason");
    /// [`crate::timing::DUE_HEADER`].
    pub const DUE: HeaderName = HeaderName::from_static(crate::timing::DUE_HEADER);
    /// [`crate::timing::SENT_HEADER`].
    pub const SENT: HeaderName = HeaderName::from_static(crate::timing::SENT_HEADER);
    /// [`crate::trace_sink::TRACE_HEADER`].
    pub const TRACE: HeaderName = HeaderName::from_static(crate::trace_sink::TRACE_HEADER);
    /// `x-forwarded-proto`, which tells the next tier the client's scheme.
    pub const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
}

/// Bodies are synthetic (the model stores lengths, not bytes): every body is a prefix of one
/// shared buffer, so serving 100 KiB from cache copies nothing.
pub fn body(len: u64) -> Bytes {
    const MAX: usize = 16 << 20;
    let all = BODY.get_or_init(|| Bytes::from(vec![b'x'; MAX]));
    all.slice(0..(len as usize).min(MAX))
}

static BODY: OnceLock<Bytes> = OnceLock::new();

/// Makes the buffer [`body`] cuts from now, before a run's clock starts: writing its 16 MiB
/// takes 10–20 ms of page faults, which done lazily fell on the run's first response and
/// made it that late (measured with `perf record`: `clear_page_erms` under `wire::body`).
pub(crate) fn prepare_body() {
    let _ = body(0);
}

/// The normalised encoding of an `Accept-Encoding` header (br > gzip > identity).
pub fn encoding(headers: &HeaderMap) -> Encoding {
    let v = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if v.contains("br") {
        Encoding::Br
    } else if v.contains("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// The `Accept-Encoding` header value for an encoding.
pub fn accept_encoding(e: Encoding) -> &'static str {
    match e {
        Encoding::Br => "br",
        Encoding::Gzip => "gzip",
        Encoding::Identity => "identity",
    }
}

fn etag_value(e: Etag) -> String {
    format!("\"v{}\"", e.0)
}

fn parse_etag(v: &str) -> Option<Etag> {
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .strip_prefix('v')?
        .parse()
        .ok()
        .map(Etag)
}

/// The model entity tags an `If-None-Match` lists (`[Etag::ANY]` for `*`; tags the model
/// never makes are left out).
pub fn etag_list(headers: &HeaderMap) -> Vec<Etag> {
    let mut tags = Vec::new();
    for v in headers.get_all(header::IF_NONE_MATCH) {
        for t in v.to_str().unwrap_or("").split(',') {
            let t = t.trim();
            if t == "*" {
                return vec![Etag::ANY];
            }
            tags.extend(parse_etag(t));
        }
    }
    tags
}

/// Validators a request carries (`If-None-Match`, its first model tag or `*`;
/// `If-Modified-Since`).
pub fn validators(headers: &HeaderMap, clock: &VirtualClock) -> Option<Validators> {
    let etag = etag_list(headers).first().copied();
    let last_modified = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| clock.parse_http_date(v));
    (etag.is_some() || last_modified.is_some()).then_some(Validators {
        etag,
        last_modified,
    })
}

/// Adds conditional headers for `v` to an upstream request.
pub fn add_validators(headers: &mut HeaderMap, v: &Validators, clock: &VirtualClock) {
    if let Some(e) = v.etag {
        insert(headers, header::IF_NONE_MATCH, &etag_value(e));
    }
    if let Some(lm) = v.last_modified {
        insert(headers, header::IF_MODIFIED_SINCE, &clock.http_date(lm));
    }
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The bytes of an HTTP/1.1 response head as it travels: the status line, each header as
/// `name: value\r\n`, and the blank line. The origin pads its head to the model's
/// `header_size` with this count, and a proxy measures what it received with it, so both
/// sides count the same bytes (hyper hands over the parsed head, not its raw bytes).
///
/// ```
/// use http::header::{HeaderMap, HeaderValue, DATE};
/// let mut h = HeaderMap::new();
/// h.insert(DATE, HeaderValue::from_static("Sun, 01 Jan 2026 00:00:00 GMT"));
/// // "HTTP/1.1 200 OK\r\n" (17) + "date: …\r\n" (37) + "\r\n" (2)
/// assert_eq!(cdn_net::wire::head_bytes(http::StatusCode::OK, &h), 56);
/// ```
pub fn head_bytes(status: http::StatusCode, headers: &HeaderMap) -> u64 {
    let reason = status.canonical_reason().unwrap_or("");
    let line = "HTTP/1.1 ".len() + 3 + 1 + reason.len() + 2;
    let fields: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    (line + fields + 2) as u64
}

/// A real upstream response's head and body length as a model [`Response`].
pub fn response_from_http(
    status: u16,
    headers: &HeaderMap,
    body_len: u64,
    clock: &VirtualClock,
) -> Response {
    let get = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    let mut r = response_from_http_undated(status, headers, body_len, clock);
    if let Some(d) = get(header::DATE).and_then(|v| clock.parse_http_date(v)) {
        r.date = d;
    }
    r.expires = get(header::EXPIRES).and_then(|v| clock.parse_http_date(v));
    r.last_modified = get(header::LAST_MODIFIED).and_then(|v| clock.parse_http_date(v));
    r.etag = get(header::ETAG).and_then(parse_etag);
    r.header_bytes = http::StatusCode::from_u16(status)
        .map(|s| u32::try_from(head_bytes(s, headers)).unwrap_or(u32::MAX))
        .unwrap_or(0);
    r
}

/// [`response_from_http`] without reading `Date`, `Expires`, `Last-Modified` and `ETag`
/// nor measuring the head (`date` is now, the others `None`, `header_bytes` 0): for
/// [`crate::real::model_response`], which reads them its own (more lenient) way, so each
/// date is parsed once per message, not twice.
pub(crate) fn response_from_http_undated(
    status: u16,
    headers: &HeaderMap,
    body_len: u64,
    clock: &VirtualClock,
) -> Response {
    let get = |n: header::HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    let generated_by = match headers
        .get(names::GENERATED_BY)
        .and_then(|v| v.to_str().ok())
    {
        Some("l1") => Tier::L1,
        Some("l2") => Tier::L2,
        _ => Tier::Origin,
    };
    Response {
        status: model_status(status, headers),
        body_len,
        cache_control: get(header::CACHE_CONTROL)
            .map(CacheControl::parse)
            .unwrap_or_default(),
        generated_by,
        reason: headers
            .get(names::ERROR_REASON)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| cdn_core::profile::known_reason(v, EXTRA_REASONS)),
        failure: headers
            .get(names::FAILURE)
            .and_then(|v| v.to_str().ok())
            .and_then(FailureKind::from_wire),
        age: Duration::from_secs(
            get(header::AGE)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
        ),
        date: clock.now(),
        expires: None,
        last_modified: None,
        etag: None,
        vary: match get(header::VARY).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "*" => Vary::Any,
            Some(v) if v.contains("accept-encoding") => Vary::AcceptEncoding,
            _ => Vary::None,
        },
        set_cookie: headers.contains_key(header::SET_COOKIE),
        header_bytes: 0,
    }
}

/// How a tier describes a response it sends.
pub struct Stamp<'a> {
    /// The sending node's name.
    pub node: &'a str,
    /// Its cache status for the request.
    pub status: Option<CacheStatus>,
    /// The `Age` header to send, if any.
    pub age: Option<u64>,
}

/// Headers for a model [`Response`] sent as real HTTP.
pub fn headers_for(resp: &Response, stamp: &Stamp<'_>, clock: &VirtualClock) -> HeaderMap {
    let mut h = HeaderMap::new();
    insert(&mut h, header::DATE, &clock.http_date(resp.date));
    if !resp.cache_control.is_empty() {
        insert(
            &mut h,
            header::CACHE_CONTROL,
            &resp.cache_control.to_string(),
        );
    }
    if let Some(e) = resp.etag {
        insert(&mut h, header::ETAG, &etag_value(e));
    }
    if let Some(lm) = resp.last_modified {
        insert(&mut h, header::LAST_MODIFIED, &clock.http_date(lm));
    }
    if let Some(exp) = resp.expires {
        insert(&mut h, header::EXPIRES, &clock.http_date(exp));
    }
    match resp.vary {
        Vary::None => {}
        Vary::AcceptEncoding => insert(&mut h, header::VARY, "Accept-Encoding"),
        Vary::Any => insert(&mut h, header::VARY, "*"),
    }
    if resp.set_cookie {
        insert(&mut h, header::SET_COOKIE, "session=1; Path=/");
    }
    if let Some(age) = stamp.age {
        insert(&mut h, header::AGE, &age.to_string());
    }
    insert(
        &mut h,
        header::HeaderName::from_static(GENERATED_BY),
        resp.generated_by.as_str(),
    );
    if let Some(s) = stamp.status {
        insert(
            &mut h,
            header::HeaderName::from_static(X_CACHE),
            &format!("{} from {}", s.as_str(), stamp.node),
        );
    }
    if let Some(reason) = resp.reason {
        insert(
            &mut h,
            header::HeaderName::from_static("x-error-reason"),
            reason,
        );
    }
    if let Some(f) = resp.failure {
        insert(
            &mut h,
            header::HeaderName::from_static(FAILURE),
            &f.wire_name(),
        );
    }
    h
}

/// A TCP connection to `addr`, from `source` when given (an egress address).
pub(crate) async fn connect_from(
    source: Option<std::net::Ipv4Addr>,
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpStream, FailureKind> {
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| connect_failure(&e))?;
    if let Some(src) = source {
        socket
            .bind(std::net::SocketAddr::from((src, 0)))
            .map_err(|e| connect_failure(&e))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| connect_failure(&e))?;
    // As nginx's `tcp_nodelay on`: a request written in pieces (a TLS Finished, then the
    // request) must not wait for the peer's delayed ACK — measured 20-40 ms on loopback.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A TCP connection to `addr`, a listener of this process (an L1's parent), opened from a
/// port bound first so that `loops` can hand its accepted side to the calling loop
/// ([`EventLoops::claim`](crate::EventLoops::claim)).
pub(crate) async fn connect_claimed(
    addr: std::net::SocketAddr,
    loops: &crate::EventLoops,
) -> Result<tokio::net::TcpStream, FailureKind> {
    let (socket, any) = match addr {
        std::net::SocketAddr::V4(_) => (
            tokio::net::TcpSocket::new_v4(),
            std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)),
        ),
        std::net::SocketAddr::V6(_) => (
            tokio::net::TcpSocket::new_v6(),
            std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
        ),
    };
    let socket = socket.map_err(|e| connect_failure(&e))?;
    socket.bind(any).map_err(|e| connect_failure(&e))?;
    let port = socket.local_addr().map_err(|e| connect_failure(&e))?.port();
    loops.claim(port);
    let stream = match socket.connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            loops.unclaim(port);
            return Err(connect_failure(&e));
        }
    };
    // As `connect_from`: `tcp_nodelay on`.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Classifies a connect error.
pub fn connect_failure(e: &io::Error) -> FailureKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::Refused,
        io::ErrorKind::TimedOut => FailureKind::ConnectTimeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            FailureKind::Unreachable
        }
        _ => match e.raw_os_error() {
            Some(113) | Some(101) => FailureKind::Unreachable, // EHOSTUNREACH, ENETUNREACH
            _ => FailureKind::Refused,
        },
    }
}

/// Classifies an HTTP exchange error after the connection was established.
pub fn exchange_failure(e: &hyper::Error) -> FailureKind {
    // A head longer than hyper's read buffer (about 400 KiB) is refused as too large, as a
    // CDN's own header limit would; the model checks `header_size` against the profile's
    // limit, so the two differ only for a profile without a limit and heads over 400 KiB
    // (docs/scenarios.md).
    if e.is_parse_too_large() {
        return FailureKind::HeaderTooLarge;
    }
    if e.is_parse() || e.is_parse_status() {
        return FailureKind::InvalidResponse;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionReset => return FailureKind::Reset,
                // What was sent was never acknowledged (`ack_watch::AckWatch`).
                io::ErrorKind::TimedOut => return FailureKind::AckTimeout,
                _ => {}
            }
        }
        source = s.source();
    }
    // Closed (FIN) before a complete response head.
    FailureKind::ClosedEarly
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(parse_etag(&etag_value(Etag(7))), Some(Etag(7)));
        assert_eq!(parse_etag("W/\"v3\""), Some(Etag(3)));
        assert_eq!(parse_etag("\"abc\""), None);
    }

    #[test]
    fn bodies_are_shared_prefixes() {
        assert_eq!(body(5).as_ref(), b"xxxxx");
        assert_eq!(body(0).len(), 0);
    }

    #[test]
    fn response_headers_round_trip_through_the_model() {
        let clock = VirtualClock::start(1.0).unwrap();
        let mut r = Response::generated(Tier::L2, 200, "x");
        r.reason = None;
        r.cache_control = CacheControl::parse("max-age=60");
        r.etag = Some(Etag(2));
        r.vary = Vary::AcceptEncoding;
        r.date = clock.now();
        let h = headers_for(
            &r,
            &Stamp {
                node: "s",
                status: Some(CacheStatus::Hit),
                age: Some(3),
            },
            &clock,
        );
        let back = response_from_http(200, &h, 10, &clock);
        // To the second: the Date header has no more.
        assert_eq!(
            back.date.as_nanos() / 1_000_000_000,
            r.date.as_nanos() / 1_000_000_000
        );
        let head = head_bytes(http::StatusCode::OK, &h);
        assert_eq!(back.header_bytes, u32::try_from(head).unwrap());
        assert_eq!(back.cache_control, r.cache_control);
        assert_eq!(back.etag, r.etag);
        assert_eq!(back.vary, r.vary);
        assert_eq!(back.generated_by, Tier::L2);
        assert_eq!(back.age, Duration::from_secs(3));
        assert_eq!(h.get(X_CACHE).unwrap(), "HIT from s");
    }
}
