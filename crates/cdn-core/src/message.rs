//! Requests and responses as they travel between tiers.
//!
//! Both are small and `Copy`-friendly: the simulator moves millions of them per second, so a
//! response carries a body *length* and parsed directives, never bytes or header maps.

use crate::cache::CacheControl;
use crate::failure::FailureKind;
use crate::time::Instant;
use crate::tls::Scheme;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The tiers of the CDN, plus the origin; used to say who generated a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Edge cache nearest the client.
    L1,
    /// Parent (shield) cache in front of the origin.
    L2,
    /// The origin server.
    Origin,
}

impl Tier {
    /// `"l1"`, `"l2"` or `"origin"`, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::L2 => "l2",
            Tier::Origin => "origin",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cache key: a stable 64-bit hash of host and path.
///
/// Stable across runs, platforms and Rust versions (FNV-1a), because parent selection by
/// consistent hashing must not change between two runs of the same scenario.
///
/// ```
/// use cdn_core::CacheKey;
/// assert_eq!(CacheKey::for_url("www.example.com", "/a.png"), CacheKey::for_url("www.example.com", "/a.png"));
/// assert_ne!(CacheKey::for_url("www.example.com", "/a.png"), CacheKey::for_url("www.example.com", "/b.png"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CacheKey(pub u64);

impl CacheKey {
    /// The key of `host` + `path`.
    pub fn for_url(host: &str, path: &str) -> CacheKey {
        let mut h = UrlHasher::new(host);
        h.write(path.as_bytes());
        h.finish()
    }

    /// The key of one variant of this URL under `Vary: Accept-Encoding`.
    pub fn variant(self, encoding: Encoding) -> CacheKey {
        CacheKey(mix64(
            self.0 ^ (encoding as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ))
    }
}

/// Computes a [`CacheKey`] incrementally (FNV-1a, 64 bit: tiny, stable, good enough to
/// spread URL keys). `Copy`, so a driver can hash a URL template's fixed prefix once and
/// continue from a copy for each request.
///
/// ```
/// use cdn_core::{message::UrlHasher, CacheKey};
/// let mut prefix = UrlHasher::new("www.example.com");
/// prefix.write(b"/assets/");
/// let mut h = prefix;
/// h.write(b"42.png");
/// assert_eq!(h.finish(), CacheKey::for_url("www.example.com", "/assets/42.png"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlHasher(u64);

impl UrlHasher {
    /// A hasher for paths on `host`.
    pub fn new(host: &str) -> UrlHasher {
        let mut h = UrlHasher(0xcbf2_9ce4_8422_2325);
        h.write(host.as_bytes());
        h.write(b"\0");
        h
    }

    /// Feeds more of the path.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feeds the decimal digits of `n` (as `{key}` is rendered in a path).
    pub fn write_decimal(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.write(&digits[i..]);
    }

    /// The key.
    pub fn finish(self) -> CacheKey {
        CacheKey(self.0)
    }
}

/// Mixes a 64-bit value (splitmix64 finaliser); used for hashing decisions such as
/// rendezvous parent selection and hash egress selection.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The HTTP method, reduced to what caching cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum Method {
    /// GET: cacheable.
    #[default]
    Get,
    /// HEAD: cacheable, answered from a GET's entry.
    Head,
    /// Any other method: never served from cache.
    Other,
}

impl From<&http::Method> for Method {
    fn from(m: &http::Method) -> Method {
        if m == http::Method::GET {
            Method::Get
        } else if m == http::Method::HEAD {
            Method::Head
        } else {
            Method::Other
        }
    }
}

/// A content-coding the client accepts, normalised the way CDNs normalise `Accept-Encoding`
/// before using it as a cache variant (Cloudflare keeps `br`, `gzip` or neither).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// No compression.
    Identity,
    /// `gzip`.
    #[default]
    Gzip,
    /// `br` (Brotli).
    Br,
}

/// What a response's `Vary` header says. Written in scenario files as the header value:
/// `""`, `"Accept-Encoding"` or `"*"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vary {
    /// No `Vary`: one stored response serves every request.
    #[default]
    #[serde(rename = "")]
    None,
    /// `Vary: Accept-Encoding`: one stored response per normalised encoding.
    #[serde(rename = "Accept-Encoding")]
    AcceptEncoding,
    /// `Vary: *`: never matches a later request, so it is never served from cache.
    #[serde(rename = "*")]
    Any,
}

/// An entity tag: the origin's content version (`ETag: "v3"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Etag(pub u32);

impl Etag {
    /// `If-None-Match: *`: matches any current representation (RFC 9110 §13.1.2).
    pub const ANY: Etag = Etag(u32::MAX);
}

/// A client request as the CDN sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The scheme the visitor used.
    pub scheme: Scheme,
    /// The cache key of the URL.
    pub key: CacheKey,
    /// The visitor's address.
    pub client: Ipv4Addr,
    /// The normalised `Accept-Encoding` (selects a variant under `Vary: Accept-Encoding`).
    pub encoding: Encoding,
    /// Whether the CDN's configuration makes this URL eligible for caching at all (for
    /// Cloudflare by default: a static file extension). Ineligible requests are `DYNAMIC`.
    pub eligible: bool,
    /// What a replayed trace says about the object (its size, the status the origin gave);
    /// the origin's configuration fills in the rest.
    pub object: ObjectHint,
}

/// What a request log says about the object a request asks for: the origin answers with
/// these where given, and with its configured `object_size` and `status` otherwise.
///
/// ```
/// let hint = cdn_core::message::ObjectHint { size: Some(512), status: None };
/// assert_eq!(hint.size.unwrap_or(10_240), 512);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectHint {
    /// The body size in bytes.
    pub size: Option<u64>,
    /// The status code the origin answers.
    pub status: Option<u16>,
}

impl Request {
    /// A cacheable GET for `key`, with defaults for everything else (handy in tests and
    /// examples).
    ///
    /// ```
    /// let r = cdn_core::Request::get(cdn_core::CacheKey(1));
    /// assert!(r.eligible);
    /// ```
    pub fn get(key: CacheKey) -> Request {
        Request {
            method: Method::Get,
            scheme: Scheme::Https,
            key,
            client: Ipv4Addr::new(127, 1, 0, 1),
            encoding: Encoding::Gzip,
            eligible: true,
            object: ObjectHint::default(),
        }
    }
}

/// A response travelling back toward the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Body length in bytes.
    pub body_len: u64,
    /// The origin's `Cache-Control` (empty for generated errors).
    pub cache_control: CacheControl,
    /// The tier that produced this response (a cache hit is produced by the tier that
    /// served it; a relayed response keeps the tier that generated it).
    pub generated_by: Tier,
    /// For generated errors: the vendor's wording.
    pub reason: Option<&'static str>,
    /// For errors generated because a hop failed: how it failed (the hop is the one leaving
    /// [`generated_by`](Self::generated_by)). Drivers draw error pages from it; reports and
    /// traces already carry it as trace events, so it is not serialised.
    #[serde(skip)]
    pub failure: Option<FailureKind>,
    /// The `Age` header value (whole seconds, as HTTP carries it): time spent in caches
    /// upstream of the receiver. Zero when absent.
    pub age: Duration,
    /// The `Date` header: when the origin (or the generating tier) produced it.
    pub date: Instant,
    /// The `Expires` header.
    pub expires: Option<Instant>,
    /// The `Last-Modified` header.
    pub last_modified: Option<Instant>,
    /// The `ETag` header.
    pub etag: Option<Etag>,
    /// The `Vary` header.
    pub vary: Vary,
    /// Whether a `Set-Cookie` header is present (shared caches do not store those).
    pub set_cookie: bool,
    /// Bytes of the response head as it arrived (status line and headers; 0 when not
    /// measured): a tier refuses one over its vendor's limit.
    pub header_bytes: u32,
}

impl Response {
    /// A response generated by `tier` itself (an error page) with status `status` and
    /// `reason` (its `x-error-reason`), no body and no caching directives, dated
    /// [`Instant::ZERO`]: chain [`Response::dated`] to date it. A driver that needs the
    /// response a node generates for a failed hop wants [`CacheNode::generated_error`], which
    /// asks the profile for the code; [`CacheNode::hop_failed`] does that itself.
    ///
    /// ```
    /// use cdn_core::{Instant, Response, Tier};
    /// use std::time::Duration;
    /// let r = Response::generated(Tier::L2, 503, "overloaded").dated(Instant::ZERO + Duration::from_secs(3));
    /// assert_eq!((r.status, r.generated_by, r.reason, r.date.to_string()),
    ///            (503, Tier::L2, Some("overloaded"), "3.000s".to_string()));
    /// ```
    ///
    /// [`CacheNode::generated_error`]: crate::CacheNode::generated_error
    /// [`CacheNode::hop_failed`]: crate::CacheNode::hop_failed
    pub fn generated(tier: Tier, status: u16, reason: &'static str) -> Response {
        Response {
            status,
            body_len: 0,
            cache_control: CacheControl::default(),
            generated_by: tier,
            reason: Some(reason),
            failure: None,
            age: Duration::ZERO,
            date: Instant::ZERO,
            expires: None,
            last_modified: None,
            etag: None,
            vary: Vary::None,
            set_cookie: false,
            header_bytes: 0,
        }
    }

    /// The same response, dated `date` — to the second, as its `Date` header says it.
    pub fn dated(mut self, date: Instant) -> Response {
        self.date = date.http_date();
        self
    }

    /// Whether the status is a server error (5xx).
    pub fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// The `Age` header in whole seconds, if the response carries one.
    pub fn age_header(&self) -> Option<u64> {
        (!self.age.is_zero()).then_some(self.age.as_secs())
    }

    /// Whether a validator in this response matches what a stored response carries
    /// (strong `ETag` comparison; else `Last-Modified` equality).
    pub fn same_representation(&self, other: &Response) -> bool {
        match (self.etag, other.etag) {
            (Some(a), Some(b)) => a == b,
            _ => self.last_modified.is_some() && self.last_modified == other.last_modified,
        }
    }

    /// Whether the response carries a validator a cache can revalidate with.
    pub fn has_validator(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}
