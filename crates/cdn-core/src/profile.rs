//! Error profiles: the only place where a [`FailureKind`] becomes a status code.
//!
//! Each profile carries one vendor's codes, reasons and default timeouts, as collected in the
//! project's sourced failure notes:
//!
//! | failure | cloudflare | nginx | alibaba | cloudfront | fastly | varnish |
//! |---|---|---|---|---|---|---|
//! | refused | 521 | 502 | 502 | 502 | 503 | 503 |
//! | connect timeout | 522 | 504 | 504 | 504 | 503 | 503 |
//! | unreachable | 523 | 502 | 502 | 502 | 503 | 503 |
//! | read timeout | 524 | 504 | 504 | 504 | 503 | 503 |
//! | reset / closed / garbage | 520 | 502 | 502 | 502 | 503 | 503 |
//! | TLS handshake | 525 | 502 | 502 | 502 | 503 | 503 |
//! | certificate (verifying) | 526 | 502 | 502¹ | 502 | 503 | 503 |
//! | DNS | 530 | 502 | 502 | 502 | 503 | 503 |
//! | upstream 5xx | passed through | passed through | passed through | passed through | passed through | passed through |
//!
//! ¹ not documented by the vendor: overridable with the scenario key `cdn.cert_error_status`.

use crate::failure::{CertProblem, FailureKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A vendor's behaviour toward failing upstreams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Cloudflare: branded 52x codes.
    #[default]
    Cloudflare,
    /// nginx as a reverse proxy: 502 for broken upstreams, 504 for timeouts.
    Nginx,
    /// Alibaba Cloud CDN: nginx-like codes, shorter timeouts.
    Alibaba,
    /// Amazon CloudFront: 502 / 504, three connection attempts.
    Cloudfront,
    /// Fastly: 503 for every error it generates.
    Fastly,
    /// Varnish: 503 "Backend fetch failed".
    Varnish,
}

/// All profiles, in documentation order.
pub const ALL_PROFILES: [Profile; 6] = [
    Profile::Cloudflare,
    Profile::Nginx,
    Profile::Alibaba,
    Profile::Cloudfront,
    Profile::Fastly,
    Profile::Varnish,
];

/// Timeouts and retry counts a profile uses unless a scenario overrides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProfileDefaults {
    /// Per TCP connect attempt.
    pub connect_timeout: Duration,
    /// Request sent → first response byte.
    pub read_timeout: Duration,
    /// Connection attempts before giving up (CloudFront: 3).
    pub connect_attempts: u32,
}

/// A response a proxy generates itself: the code and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GeneratedError {
    /// The HTTP status code.
    pub status: u16,
    /// The vendor's wording (error page title or error-log line).
    pub reason: &'static str,
}

impl Profile {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Cloudflare => "cloudflare",
            Profile::Nginx => "nginx",
            Profile::Alibaba => "alibaba",
            Profile::Cloudfront => "cloudfront",
            Profile::Fastly => "fastly",
            Profile::Varnish => "varnish",
        }
    }

    /// The vendor's default timeouts.
    ///
    /// ```
    /// use cdn_core::Profile;
    /// use std::time::Duration;
    /// assert_eq!(Profile::Cloudflare.defaults().connect_timeout, Duration::from_secs(19));
    /// assert_eq!(Profile::Nginx.defaults().read_timeout, Duration::from_secs(60));
    /// ```
    pub fn defaults(self) -> ProfileDefaults {
        let d = |connect_ms: u64, read_s: u64, connect_attempts| ProfileDefaults {
            connect_timeout: Duration::from_millis(connect_ms),
            read_timeout: Duration::from_secs(read_s),
            connect_attempts,
        };
        match self {
            // Cloudflare: 19 s connect (current docs; 15 s in older ones), 100 s read.
            Profile::Cloudflare => d(19_000, 100, 1),
            // nginx: proxy_connect_timeout 60s, proxy_read_timeout 60s.
            Profile::Nginx => d(60_000, 60, 1),
            // Alibaba back-to-origin: connect 10 s, read 30 s.
            Profile::Alibaba => d(10_000, 30, 1),
            // CloudFront: 3 connection attempts x 10 s, 30 s response timeout.
            Profile::Cloudfront => d(10_000, 30, 3),
            // Fastly: connect_timeout 1 s, first_byte_timeout 15 s.
            Profile::Fastly => d(1_000, 15, 1),
            // Varnish: connect_timeout 3.5 s, first_byte_timeout 60 s.
            Profile::Varnish => d(3_500, 60, 1),
        }
    }

    /// The `Age` header a client receives with `resp`, served with `status` by the edge:
    /// Cloudflare omits it on a MISS (and on a lower tier's first fill) and sends it on hits;
    /// nginx never adds one; Varnish and Fastly always send it (0 on a miss); CloudFront sends
    /// it on hits.
    ///
    /// ```
    /// use cdn_core::{CacheStatus, Profile, Response, Tier};
    /// use std::time::Duration;
    /// let mut r = Response::generated(Tier::L1, 200, "");
    /// r.age = Duration::from_secs(42);
    /// assert_eq!(Profile::Cloudflare.age_header(CacheStatus::Hit, &r), Some(42));
    /// assert_eq!(Profile::Cloudflare.age_header(CacheStatus::Miss, &r), None);
    /// assert_eq!(Profile::Nginx.age_header(CacheStatus::Hit, &r), None);
    /// ```
    pub fn age_header(self, status: crate::CacheStatus, resp: &crate::Response) -> Option<u64> {
        use crate::CacheStatus as S;
        let from_cache = matches!(status, S::Hit | S::Stale | S::Updating | S::Revalidated);
        match self {
            Profile::Nginx | Profile::Alibaba => None,
            Profile::Varnish | Profile::Fastly => Some(resp.age.as_secs()),
            Profile::Cloudflare | Profile::Cloudfront => from_cache.then_some(resp.age.as_secs()),
        }
    }

    /// Whether this CDN trusts certificates from its own origin CA (Cloudflare Origin CA).
    pub fn trusts_origin_ca(self) -> bool {
        self == Profile::Cloudflare
    }

    /// [`Profile::error_for`], with a scenario's `cert_error_status` (where the vendor does
    /// not document the code for a certificate that fails verification) applied: the one
    /// place a failure becomes the code a tier generates.
    ///
    /// ```
    /// use cdn_core::{CertProblem, FailureKind, Profile};
    /// let cert = FailureKind::Certificate(CertProblem::Expired);
    /// assert_eq!(Profile::Alibaba.error_with(cert, None).status, 502);
    /// assert_eq!(Profile::Alibaba.error_with(cert, Some(503)).status, 503);
    /// assert_eq!(Profile::Alibaba.error_with(FailureKind::Refused, Some(503)).status, 502);
    /// ```
    pub fn error_with(self, kind: FailureKind, cert_error_status: Option<u16>) -> GeneratedError {
        let mut e = self.error_for(kind);
        if let (FailureKind::Certificate(_), Some(status)) = (kind, cert_error_status) {
            e.status = status;
        }
        e
    }

    /// The response a tier of this vendor generates when its outbound hop fails with `kind`.
    /// An upstream's own 5xx is passed through unchanged.
    pub fn error_for(self, kind: FailureKind) -> GeneratedError {
        use FailureKind as F;
        let g = |status, reason| GeneratedError { status, reason };
        if let F::UpstreamStatus(s) = kind {
            return g(s, "passed through from upstream");
        }
        match self {
            Profile::Cloudflare => match kind {
                F::Refused => g(521, "Web server is down"),
                F::ConnectTimeout => g(522, "Connection timed out"),
                F::Unreachable => g(523, "Origin is unreachable"),
                F::ReadTimeout => g(524, "A timeout occurred"),
                F::Reset | F::ClosedEarly | F::InvalidResponse => {
                    g(520, "Web server is returning an unknown error")
                }
                F::TlsHandshake => g(525, "SSL handshake failed"),
                F::Certificate(_) => g(526, "Invalid SSL certificate"),
                F::Dns => g(530, "Origin DNS error (error 1016)"),
                F::UpstreamStatus(_) => unreachable!("handled above"),
            },
            Profile::Nginx | Profile::Alibaba | Profile::Cloudfront => match kind {
                F::Refused => g(
                    502,
                    "connect() failed (111: Connection refused) while connecting to upstream",
                ),
                F::ConnectTimeout => g(
                    504,
                    "upstream timed out (110: Connection timed out) while connecting to upstream",
                ),
                F::Unreachable => g(
                    502,
                    "connect() failed (113: No route to host) while connecting to upstream",
                ),
                F::ReadTimeout => g(
                    504,
                    "upstream timed out (110: Connection timed out) while reading response header from upstream",
                ),
                F::Reset => g(
                    502,
                    "recv() failed (104: Connection reset by peer) while reading response header from upstream",
                ),
                F::ClosedEarly => g(
                    502,
                    "upstream prematurely closed connection while reading response header from upstream",
                ),
                F::InvalidResponse => g(
                    502,
                    "upstream sent no valid HTTP/1.0 header while reading response header from upstream",
                ),
                F::TlsHandshake => g(
                    502,
                    "SSL_do_handshake() failed while SSL handshaking to upstream",
                ),
                F::Certificate(p) => g(502, cert_reason(p)),
                F::Dns => g(502, "upstream host could not be resolved (3: Host not found)"),
                F::UpstreamStatus(_) => unreachable!("handled above"),
            },
            Profile::Fastly => g(503, fastly_reason(kind)),
            Profile::Varnish => g(503, "Backend fetch failed"),
        }
    }
}

/// Every failure kind a profile maps (used to recognise reasons coming back over the wire).
const ALL_FAILURES: [FailureKind; 13] = [
    FailureKind::Refused,
    FailureKind::ConnectTimeout,
    FailureKind::Unreachable,
    FailureKind::ReadTimeout,
    FailureKind::Reset,
    FailureKind::ClosedEarly,
    FailureKind::InvalidResponse,
    FailureKind::TlsHandshake,
    FailureKind::Certificate(CertProblem::Expired),
    FailureKind::Certificate(CertProblem::SelfSigned),
    FailureKind::Certificate(CertProblem::WrongHost),
    FailureKind::Certificate(CertProblem::UntrustedIssuer),
    FailureKind::Dns,
];

/// The static reason text equal to `text`, if it is one a profile (or `extra`) generates:
/// a tier relaying another tier's error keeps its wording.
pub fn known_reason(text: &str, extra: &[&'static str]) -> Option<&'static str> {
    ALL_PROFILES
        .iter()
        .flat_map(|p| ALL_FAILURES.iter().map(move |k| p.error_for(*k).reason))
        .chain(extra.iter().copied())
        .find(|r| *r == text)
}

fn cert_reason(p: CertProblem) -> &'static str {
    match p {
        CertProblem::Expired => {
            "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream"
        }
        CertProblem::SelfSigned => {
            "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream"
        }
        CertProblem::WrongHost => {
            "upstream SSL certificate does not match the upstream host name while SSL handshaking to upstream"
        }
        CertProblem::UntrustedIssuer => {
            "upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream"
        }
    }
}

fn fastly_reason(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::ConnectTimeout => "connection timed out",
        FailureKind::ReadTimeout => "first byte timeout",
        FailureKind::Certificate(_) => "SSL certificate validation failed",
        FailureKind::TlsHandshake => "SSL handshake error",
        _ => "Backend unavailable, connection failed",
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_status_is_passed_through_by_every_profile() {
        for p in ALL_PROFILES {
            for s in [502, 503, 504] {
                assert_eq!(p.error_for(FailureKind::UpstreamStatus(s)).status, s);
            }
        }
    }

    #[test]
    fn only_cloudflare_trusts_its_origin_ca() {
        let trusting: Vec<_> = ALL_PROFILES
            .iter()
            .filter(|p| p.trusts_origin_ca())
            .collect();
        assert_eq!(trusting, [&Profile::Cloudflare]);
    }
}
