//! The origin server and its defences.
//!
//! An [`Origin`] answers two questions, always with a `now`:
//! 1. [`Origin::connect`]: what happens to a SYN from this source to this port? (firewall
//!    rules, listening ports, accept queue, routing);
//! 2. [`Origin::handle_request`]: what happens to a request on an accepted connection?
//!    (the `state` faults, `limit_req`, `limit_conn`, workers and queue).
//!
//! Defences run in nginx's order: `limit_req`, then `limit_conn`, then the worker queue.

mod firewall;
pub mod limit_conn;
pub mod limit_req;
mod real;
mod workers;

pub use firewall::{firewall_verdict, FirewallAction, FirewallRule};
pub use limit_conn::{LimitConn, LimitConnConfig};
pub use limit_req::{Delay, LimitReq, LimitReqConfig, LimitReqVerdict, NginxRate};
pub use real::UpstreamUrl;
pub use workers::WorkerPool;

use crate::cache::CacheControl;
use crate::message::{Etag, ObjectHint, Request, Response, Tier, Vary};
use crate::node::Validators;
use crate::time::Instant;
use crate::tls::{CertState, HttpsListener};
use crate::units::serde_units;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The origin's health, as a kernel and a client would observe it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginState {
    /// Serving normally.
    #[default]
    Up,
    /// Nothing listens: SYNs are answered with RST (connection refused).
    Down,
    /// Accepts connections and reads requests, never answers.
    Hung,
    /// The handshake completes, then nothing the CDN sends is acknowledged (a middlebox or an
    /// MTU black hole swallows it): the request never reaches the server. Cloudflare gives up
    /// after its 90 s ACK timeout (522); a proxy without one waits its read timeout (nginx:
    /// 504 after 60 s).
    Blackhole,
    /// The accept queue is full: new SYNs are silently dropped.
    AcceptQueueFull,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Reads the request, then closes the connection (FIN) without answering.
    Close,
    /// Answers with bytes that are not HTTP.
    Garbage,
    /// No route to the origin's address (ICMP host unreachable).
    Unreachable,
    /// The origin hostname does not resolve.
    DnsFailure,
}

/// `[origin.limit_req]`: nginx `limit_req`, keyed by the connecting address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitReqSpec {
    /// `"10r/s"` or `"30r/m"`.
    #[serde(with = "serde_units::from_str")]
    pub rate: NginxRate,
    /// Requests allowed above the rate (default 0).
    #[serde(default)]
    pub burst: u64,
    /// Serve burst requests at once instead of pacing them (default false).
    #[serde(default)]
    pub nodelay: bool,
    /// `delay=N`: the first N excess requests are not delayed (default: all are).
    #[serde(default)]
    pub delay: Option<u64>,
    /// Status for rejected requests (`limit_req_status`, default 503).
    #[serde(default = "default_reject_status")]
    pub status: u16,
}

impl LimitReqSpec {
    /// The limiter this `[origin.limit_req]` table configures.
    ///
    /// ```
    /// use cdn_core::origin::{Delay, LimitReqSpec};
    /// let spec = LimitReqSpec {
    ///     rate: "10r/s".parse().unwrap(),
    ///     burst: 5,
    ///     nodelay: true,
    ///     delay: None,
    ///     status: 503,
    /// };
    /// assert_eq!(spec.config().delay, Delay::NoDelay);
    /// ```
    pub fn config(&self) -> LimitReqConfig {
        LimitReqConfig {
            rate: self.rate,
            burst: self.burst,
            delay: match (self.nodelay, self.delay) {
                (true, _) => Delay::NoDelay,
                (false, d) => Delay::After(d.unwrap_or(0)),
            },
            reject_status: self.status,
        }
    }
}

/// `[origin.limit_conn]`: nginx `limit_conn`, per connecting address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConnSpec {
    /// Requests in flight allowed per address.
    pub max: u32,
    /// Status for rejected requests (`limit_conn_status`, default 503).
    #[serde(default = "default_reject_status")]
    pub status: u16,
}

fn default_reject_status() -> u16 {
    503
}

/// `[origin]`: what the origin runs and how it is defended. Every field has the default
/// documented in the scenario reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginConfig {
    /// Hostname the CDN resolves and sends as Host (default `"www.example.com"`).
    pub hostname: String,
    /// Whether something listens on port 80 (default true).
    pub http: bool,
    /// What is on port 443 (default `tls`).
    pub https: HttpsListener,
    /// The certificate presented on 443 (default `valid`).
    pub cert: CertState,
    /// Health (default `up`).
    pub state: OriginState,
    /// Requests served at once (default 4).
    pub workers: u32,
    /// Requests waiting for a worker; beyond that → 503 (default 16).
    pub queue: u32,
    /// Time to produce a response (default 20 ms).
    #[serde(with = "serde_units::duration")]
    pub service_time: Duration,
    /// Status of a healthy response (default 200).
    pub status: u16,
    /// `Cache-Control` on its responses (default `"max-age=60"`; `""` for none).
    pub cache_control: String,
    /// Body size (default 10 KiB).
    #[serde(with = "serde_units::size")]
    pub object_size: u64,
    /// Bytes of response headers the application sends (default 512 B). Above the CDN's
    /// limit the response is refused: Cloudflare 128 KB → 520, nginx `proxy_buffer_size`
    /// (4 KiB) → 502 "upstream sent too big header".
    #[serde(with = "serde_units::size")]
    pub header_size: u64,
    /// Ordered firewall rules; first match wins; no match ⇒ allow.
    pub firewall: Vec<FirewallRule>,
    /// nginx `limit_req` (off by default).
    pub limit_req: Option<LimitReqSpec>,
    /// nginx `limit_conn` (off by default).
    pub limit_conn: Option<LimitConnSpec>,
    /// Send an `ETag` naming the content version (default true).
    pub etag: bool,
    /// Send `Last-Modified`: when the current content version appeared (default true).
    pub last_modified: bool,
    /// The content version; changing it (in an `[[event]]`) is a deploy: new ETag, new
    /// Last-Modified, so revalidations get 200 instead of 304 (default 1).
    pub content_version: u32,
    /// Send `Expires: Date + this` (default: no Expires header).
    #[serde(
        with = "serde_units::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires: Option<Duration>,
    /// The `Vary` header: `""` (default), `"Accept-Encoding"` or `"*"`.
    pub vary: Vary,
    /// Send a `Set-Cookie` header (default false); shared caches do not store such responses.
    pub set_cookie: bool,
    /// A real server to put behind the CDN instead of the modelled origin,
    /// `"http://127.0.0.1:8000"` (net mode and `cdn-sim proxy` only; loopback only). The
    /// keys above that describe the modelled origin's answers are then unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// A PEM file of CA certificates the CDN trusts for an `https://` upstream, when
    /// `ssl_mode` verifies (strict); a relative path is relative to the scenario file.
    /// Without it a strict CDN trusts nothing a loopback server can present, and
    /// answers the profile's certificate error (Cloudflare 526), as it would for a
    /// self-signed certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ca: Option<String>,
}

impl Default for OriginConfig {
    fn default() -> OriginConfig {
        OriginConfig {
            hostname: "www.example.com".into(),
            http: true,
            https: HttpsListener::Tls,
            cert: CertState::Valid,
            state: OriginState::Up,
            workers: 4,
            queue: 16,
            service_time: Duration::from_millis(20),
            status: 200,
            cache_control: "max-age=60".into(),
            object_size: 10 * 1024,
            header_size: DEFAULT_HEADER_SIZE,
            firewall: Vec::new(),
            limit_req: None,
            limit_conn: None,
            etag: true,
            last_modified: true,
            content_version: 1,
            expires: None,
            vary: Vary::None,
            set_cookie: false,
            upstream: None,
            upstream_ca: None,
        }
    }
}

/// `[origin] header_size` unless a scenario says otherwise: a typical response header block
/// (status line, Date, Server, Content-Type, Content-Length, Cache-Control, ETag,
/// Last-Modified) is a few hundred bytes.
pub const DEFAULT_HEADER_SIZE: u64 = 512;

/// Header bytes of a response a defence (limit_req, limit_conn, a full queue) produces: nginx's
/// own error page's headers.
const DEFENCE_HEADER_SIZE: u64 = 160;

/// A value in a configuration that is well-typed but not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// Dotted key path, e.g. `origin.workers`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl OriginConfig {
    /// The first key (`origin.state`, `origin.firewall`, `origin.limit_req`,
    /// `origin.limit_conn`) set to a fault or defence: in front of a real server these act
    /// in the fault layer, which reads the HTTP it relays, so an `https://` upstream
    /// (reached directly, encrypted end to end) cannot have them.
    ///
    /// ```
    /// let mut o = cdn_core::OriginConfig::default();
    /// assert_eq!(o.fault_key(), None);
    /// o.state = cdn_core::OriginState::Hung;
    /// assert_eq!(o.fault_key(), Some("origin.state"));
    /// ```
    pub fn fault_key(&self) -> Option<&'static str> {
        if self.state != OriginState::Up {
            Some("origin.state")
        } else if !self.firewall.is_empty() {
            Some("origin.firewall")
        } else if self.limit_req.is_some() {
            Some("origin.limit_req")
        } else if self.limit_conn.is_some() {
            Some("origin.limit_conn")
        } else {
            None
        }
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let upstream = self
            .upstream
            .as_deref()
            .map(UpstreamUrl::parse)
            .transpose()?;
        if self.upstream_ca.is_some() && !upstream.is_some_and(|u| u.https) {
            return Err(ConfigError::new(
                "origin.upstream_ca",
                "only for an https:// upstream (origin.upstream)",
            ));
        }
        if self.workers == 0 {
            return Err(ConfigError::new(
                "origin.workers",
                "must be at least 1 (use state = \"hung\" for an origin that never answers)",
            ));
        }
        if !(100..=599).contains(&self.status) {
            return Err(ConfigError::new(
                "origin.status",
                format!("{} is not an HTTP status; allowed: 100..=599", self.status),
            ));
        }
        if let Some(lr) = &self.limit_req {
            if lr.nodelay && lr.delay.is_some() {
                return Err(ConfigError::new(
                    "origin.limit_req.delay",
                    "nodelay and delay are exclusive; set one",
                ));
            }
            if lr.rate.milli_per_second() == 0 {
                return Err(ConfigError::new(
                    "origin.limit_req.rate",
                    "must be more than zero",
                ));
            }
            check_status("origin.limit_req.status", lr.status)?;
        }
        if let Some(lc) = &self.limit_conn {
            if lc.max == 0 {
                return Err(ConfigError::new(
                    "origin.limit_conn.max",
                    "must be at least 1",
                ));
            }
            check_status("origin.limit_conn.status", lc.status)?;
        }
        Ok(())
    }
}

fn check_status(key: &str, s: u16) -> Result<(), ConfigError> {
    if (400..=599).contains(&s) {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("{s} is not an error status; allowed: 400..=599"),
        ))
    }
}

/// What happens to a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectVerdict {
    /// The handshake completes.
    Accept,
    /// RST / ICMP port unreachable: `ECONNREFUSED`.
    Refuse,
    /// No answer at all: the client's connect times out.
    Drop,
    /// ICMP host unreachable.
    Unreachable,
}

/// Which defence turned a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Defence {
    /// nginx `limit_req`.
    LimitReq,
    /// nginx `limit_conn`.
    LimitConn,
    /// All workers busy and the queue full.
    Overload,
}

/// What the origin does with a request on an accepted connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginReply {
    /// The response is ready at `done`.
    Respond {
        /// When the response's first byte leaves the origin.
        done: Instant,
        /// The response.
        response: Response,
        /// Set when a defence produced this response.
        rejected_by: Option<Defence>,
    },
    /// Never answers: a hung application (the request was acknowledged) or a black hole
    /// (it was not; see [`Origin::acknowledges`]).
    Hang,
    /// Resets the connection.
    Reset,
    /// Closes the connection without answering.
    Close,
    /// Sends bytes that are not HTTP.
    Garbage,
}

/// The origin server state machine.
///
/// ```
/// use cdn_core::origin::{ConnectVerdict, Origin, OriginConfig, OriginState};
/// let mut origin = Origin::new(OriginConfig { state: OriginState::Down, ..Default::default() });
/// assert_eq!(origin.connect("127.0.1.1".parse().unwrap(), 443), ConnectVerdict::Refuse);
/// ```
#[derive(Debug)]
pub struct Origin {
    config: OriginConfig,
    cache_control: CacheControl,
    workers: WorkerPool,
    limit_req: Option<LimitReq>,
    limit_conn: Option<LimitConn>,
    requests: u64,
    /// When the current content version appeared (its Last-Modified).
    content_since: Instant,
}

impl Origin {
    /// An origin with `config` (call [`OriginConfig::validate`] first for user input).
    pub fn new(config: OriginConfig) -> Origin {
        let mut o = Origin {
            cache_control: CacheControl::default(),
            workers: WorkerPool::new(1, 0),
            limit_req: None,
            limit_conn: None,
            requests: 0,
            config: OriginConfig::default(),
            content_since: Instant::ZERO,
        };
        o.reconfigure(Instant::ZERO, config);
        o
    }

    /// Applies a new configuration at `now`. Limiter and worker state survive when their
    /// settings did not change, as they would across an nginx reload of an unrelated setting;
    /// a new `content_version` is a deploy at `now`.
    pub fn reconfigure(&mut self, now: Instant, config: OriginConfig) {
        if config.content_version != self.config.content_version {
            self.content_since = now;
        }
        let fresh = self.requests == 0 && self.config == OriginConfig::default();
        self.cache_control = CacheControl::parse(&config.cache_control);
        if fresh || config.workers != self.config.workers || config.queue != self.config.queue {
            self.workers = WorkerPool::new(config.workers, config.queue);
        }
        if fresh || config.limit_req != self.config.limit_req {
            self.limit_req = config.limit_req.as_ref().map(|s| LimitReq::new(s.config()));
        }
        if fresh || config.limit_conn != self.config.limit_conn {
            self.limit_conn = config.limit_conn.as_ref().map(|s| {
                LimitConn::new(LimitConnConfig {
                    max: s.max,
                    reject_status: s.status,
                })
            });
        }
        self.config = config;
    }

    /// The current configuration.
    pub fn config(&self) -> &OriginConfig {
        &self.config
    }

    /// Whether the origin's TCP acknowledges what the CDN sends on an accepted connection:
    /// false for [`OriginState::Blackhole`]. A driver whose request got
    /// [`OriginReply::Hang`] asks this, then [`Timeouts::silence`](crate::Timeouts::silence)
    /// for when and how it gives up.
    ///
    /// ```
    /// use cdn_core::origin::{Origin, OriginConfig, OriginState};
    /// assert!(Origin::new(OriginConfig { state: OriginState::Hung, ..Default::default() }).acknowledges());
    /// assert!(!Origin::new(OriginConfig { state: OriginState::Blackhole, ..Default::default() }).acknowledges());
    /// ```
    pub fn acknowledges(&self) -> bool {
        self.config.state != OriginState::Blackhole
    }

    /// Bytes of response headers the origin sends with a reply: `header_size` for what the
    /// application produces, a small error page's for a defence's rejection. A driver checks
    /// them with [`Timeouts::header_failure`](crate::Timeouts::header_failure).
    pub fn header_bytes(&self, rejected_by: Option<Defence>) -> u64 {
        match rejected_by {
            Some(_) => DEFENCE_HEADER_SIZE,
            None => self.config.header_size,
        }
    }

    /// Whether the hostname resolves.
    pub fn resolves(&self) -> bool {
        self.config.state != OriginState::DnsFailure
    }

    /// What happens to a SYN from `source` to `port` (80 or 443).
    pub fn connect(&self, source: Ipv4Addr, port: u16) -> ConnectVerdict {
        match self.config.state {
            OriginState::Unreachable => return ConnectVerdict::Unreachable,
            OriginState::DnsFailure => return ConnectVerdict::Unreachable,
            _ => {}
        }
        match firewall_verdict(&self.config.firewall, source) {
            FirewallAction::Drop => return ConnectVerdict::Drop,
            FirewallAction::Reject => return ConnectVerdict::Refuse,
            FirewallAction::Allow => {}
        }
        let listening = match port {
            80 => self.config.http,
            443 => self.config.https != HttpsListener::None,
            _ => false,
        };
        match self.config.state {
            OriginState::Down => ConnectVerdict::Refuse,
            _ if !listening => ConnectVerdict::Refuse,
            OriginState::AcceptQueueFull => ConnectVerdict::Drop,
            _ => ConnectVerdict::Accept,
        }
    }

    /// The response a healthy request gets, produced at `date`.
    pub fn content(&self, date: Instant) -> Response {
        self.content_of(date, ObjectHint::default())
    }

    /// The response a healthy request for an object described by `hint` gets: its size
    /// and status where the hint gives them, the configured ones otherwise.
    pub fn content_of(&self, date: Instant, hint: ObjectHint) -> Response {
        // HTTP dates have whole seconds: what a cache reads from `Date`, `Expires` and
        // `Last-Modified` is truncated so.
        let date = date.http_date();
        let c = &self.config;
        Response {
            status: hint.status.unwrap_or(c.status),
            body_len: hint.size.unwrap_or(c.object_size),
            cache_control: self.cache_control,
            generated_by: Tier::Origin,
            reason: None,
            failure: None,
            age: Duration::ZERO,
            date,
            expires: c.expires.map(|e| date + e),
            last_modified: c.last_modified.then_some(self.content_since.http_date()),
            etag: c.etag.then_some(Etag(c.content_version)),
            vary: c.vary,
            set_cookie: c.set_cookie,
            header_bytes: u32::try_from(c.header_size).unwrap_or(u32::MAX),
        }
    }

    /// Handles a request that arrives at `now` on a connection from `source`. `conditional`
    /// carries `If-None-Match` / `If-Modified-Since` from a cache revalidating its copy: if
    /// the content is unchanged the origin answers `304 Not Modified` with no body.
    ///
    /// Behind a black hole the request never reaches the server: it is not counted, and the
    /// reply is [`OriginReply::Hang`] (ask [`Origin::acknowledges`] which silence it is).
    pub fn handle_request(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        req: &Request,
        conditional: Option<Validators>,
    ) -> OriginReply {
        self.admit(now, source, req, conditional, Finish::Modelled)
    }

    /// [`Origin::handle_request`] for a request that, once admitted, is answered by a real
    /// server behind (the fault layer of a real upstream): the defences and `state` faults
    /// decide as ever, but the request ends when the driver says so —
    /// [`Origin::forwarded_done`] — not after a modelled service time, so `limit_conn`
    /// counts what the real server is actually working on. An admitted request comes back
    /// as `Respond` with no `rejected_by` (its response is a placeholder: the real server's
    /// is sent instead).
    ///
    /// ```
    /// use cdn_core::origin::{LimitConnSpec, OriginReply};
    /// use cdn_core::{CacheKey, Instant, Origin, OriginConfig, Request};
    /// let mut o = Origin::new(OriginConfig {
    ///     limit_conn: Some(LimitConnSpec { max: 1, status: 503 }),
    ///     ..Default::default()
    /// });
    /// let (cdn, req) = ("127.0.1.1".parse().unwrap(), Request::get(CacheKey(1)));
    /// let now = Instant::ZERO;
    /// let first = o.handle_forwarded(now, cdn, &req);
    /// assert!(matches!(first, OriginReply::Respond { rejected_by: None, .. }));
    /// // Still with the real server: a second one from the same address is refused.
    /// let second = o.handle_forwarded(now, cdn, &req);
    /// assert!(matches!(second, OriginReply::Respond { rejected_by: Some(_), .. }));
    /// o.forwarded_done(cdn);
    /// let third = o.handle_forwarded(now, cdn, &req);
    /// assert!(matches!(third, OriginReply::Respond { rejected_by: None, .. }));
    /// ```
    pub fn handle_forwarded(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        req: &Request,
    ) -> OriginReply {
        self.admit(now, source, req, None, Finish::Reported)
    }

    /// A request admitted by [`Origin::handle_forwarded`] from `source` has been answered
    /// (its response sent, or abandoned).
    pub fn forwarded_done(&mut self, source: Ipv4Addr) {
        if let Some(lc) = &mut self.limit_conn {
            lc.release(source);
        }
    }

    fn admit(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        req: &Request,
        conditional: Option<Validators>,
        finish: Finish,
    ) -> OriginReply {
        if self.config.state == OriginState::Blackhole {
            return OriginReply::Hang;
        }
        self.requests += 1;
        match self.config.state {
            OriginState::Hung | OriginState::AcceptQueueFull | OriginState::Blackhole => {
                return OriginReply::Hang
            }
            OriginState::Reset => return OriginReply::Reset,
            OriginState::Close => return OriginReply::Close,
            OriginState::Garbage => return OriginReply::Garbage,
            OriginState::Up
            | OriginState::Down
            | OriginState::Unreachable
            | OriginState::DnsFailure => {}
        }
        let mut ready = now;
        if let Some(lr) = &mut self.limit_req {
            match lr.check(now, source) {
                LimitReqVerdict::Reject => {
                    let status = lr.config().reject_status;
                    return Self::reject(now, Defence::LimitReq, status);
                }
                LimitReqVerdict::Accept { delay_ms } => {
                    ready = now + Duration::from_millis(delay_ms);
                }
            }
        }
        let Some(start) = self.workers.start_time(now, ready) else {
            return Self::reject(now, Defence::Overload, 503);
        };
        let done = start + self.config.service_time;
        if let Some(lc) = &mut self.limit_conn {
            let admitted = match finish {
                Finish::Modelled => lc.try_admit(now, source, done),
                Finish::Reported => lc.acquire(source),
            };
            if !admitted {
                let status = lc.config().reject_status;
                return Self::reject(now, Defence::LimitConn, status);
            }
        }
        self.workers.commit(now, start, self.config.service_time);
        let content = self.content_of(done, req.object);
        let response = match conditional {
            Some(v) if content.status == 200 && v.match_response(&content) => Response {
                status: 304,
                body_len: 0,
                ..content
            },
            _ => content,
        };
        OriginReply::Respond {
            done,
            response,
            rejected_by: None,
        }
    }

    fn reject(now: Instant, by: Defence, status: u16) -> OriginReply {
        let reason = match by {
            Defence::LimitReq => "limit_req: limiting requests by zone (per connecting address)",
            Defence::LimitConn => {
                "limit_conn: limiting connections by zone (per connecting address)"
            }
            Defence::Overload => "overloaded: all workers busy and the queue is full",
        };
        OriginReply::Respond {
            done: now,
            response: Response {
                body_len: 197,
                ..Response::generated(Tier::Origin, status, reason).dated(now)
            },
            rejected_by: Some(by),
        }
    }

    /// HTTP requests that reached the server, including those a defence turned away.
    pub fn requests_received(&self) -> u64 {
        self.requests
    }
}

/// When an admitted request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    /// After the modelled service time.
    Modelled,
    /// When the driver reports it ([`Origin::forwarded_done`]).
    Reported,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::CacheKey;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn req() -> Request {
        Request::get(CacheKey(1))
    }

    #[test]
    fn firewall_runs_before_the_listener() {
        let o = Origin::new(OriginConfig {
            firewall: vec![FirewallRule {
                source: "127.0.1.2".parse().unwrap(),
                action: FirewallAction::Drop,
            }],
            state: OriginState::Down,
            ..Default::default()
        });
        assert_eq!(o.connect(ip("127.0.1.2"), 80), ConnectVerdict::Drop);
        assert_eq!(o.connect(ip("127.0.1.1"), 80), ConnectVerdict::Refuse);
    }

    #[test]
    fn closed_ports_refuse() {
        let o = Origin::new(OriginConfig {
            http: false,
            https: HttpsListener::None,
            ..Default::default()
        });
        assert_eq!(o.connect(ip("127.0.1.1"), 80), ConnectVerdict::Refuse);
        assert_eq!(o.connect(ip("127.0.1.1"), 443), ConnectVerdict::Refuse);
    }

    #[test]
    fn full_queue_answers_503_at_once() {
        let mut o = Origin::new(OriginConfig {
            workers: 1,
            queue: 1,
            service_time: Duration::from_secs(1),
            ..Default::default()
        });
        let src = ip("127.0.1.1");
        let statuses: Vec<u16> = (0..3)
            .map(
                |_| match o.handle_request(Instant::ZERO, src, &req(), None) {
                    OriginReply::Respond { response, .. } => response.status,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(statuses, [200, 200, 503]);
        assert_eq!(o.requests_received(), 3);
    }

    #[test]
    fn limit_state_survives_unrelated_reconfiguration() {
        let cfg = OriginConfig {
            limit_req: Some(LimitReqSpec {
                rate: "1r/s".parse().unwrap(),
                burst: 0,
                nodelay: true,
                delay: None,
                status: 503,
            }),
            ..Default::default()
        };
        let mut o = Origin::new(cfg.clone());
        let src = ip("127.0.1.1");
        assert!(matches!(
            o.handle_request(Instant::ZERO, src, &req(), None),
            OriginReply::Respond {
                rejected_by: None,
                ..
            }
        ));
        o.reconfigure(Instant::ZERO, OriginConfig { status: 500, ..cfg });
        assert!(matches!(
            o.handle_request(Instant::ZERO, src, &req(), None),
            OriginReply::Respond {
                rejected_by: Some(Defence::LimitReq),
                ..
            }
        ));
    }
}

#[cfg(test)]
mod revalidation_tests {
    use super::*;
    use crate::message::CacheKey;

    #[test]
    fn unchanged_content_answers_304_and_a_deploy_answers_200() {
        let mut o = Origin::new(OriginConfig::default());
        let src: Ipv4Addr = "127.0.1.1".parse().unwrap();
        let req = Request::get(CacheKey(1));
        let first = o.content(Instant::ZERO);
        let v = Validators {
            etag: first.etag,
            last_modified: first.last_modified,
        };
        let status = |o: &mut Origin| match o.handle_request(Instant::ZERO, src, &req, Some(v)) {
            OriginReply::Respond { response, .. } => (response.status, response.body_len),
            other => panic!("{other:?}"),
        };
        assert_eq!(status(&mut o), (304, 0));
        let deploy = Instant::ZERO + std::time::Duration::from_millis(5_500);
        o.reconfigure(
            deploy,
            OriginConfig {
                content_version: 2,
                ..OriginConfig::default()
            },
        );
        assert_eq!(status(&mut o), (200, 10 * 1024));
        // Last-Modified is an HTTP date: the deploy's second.
        let lm = o.content(deploy).last_modified;
        assert_eq!(lm, Some(Instant::ZERO + std::time::Duration::from_secs(5)));
    }
}
