//! Vendor profiles: each vendor's defaults, every one with its source, and the only place
//! where a [`FailureKind`](crate::FailureKind) becomes a status code.
//!
//! | file | one job |
//! |---|---|
//! | [`source`] | a default's citation ([`Source`], [`Sourced`]) |
//! | [`defaults`] | every default of every profile, cited ([`ProfileDefaults`]) |
//! | [`codes`] | failure → status and wording ([`Profile::error_for`]) |
//! | [`page`] | what an error page states ([`ErrorFacts`]) and reason phrases ([`reason_phrase`]) |
//! | [`table`] | the generated reference, `docs/profiles.md` ([`render_markdown`]) |
//!
//! The failure → status matrix, generated from [`Profile::error_for`]:
//!
//! | failure | cloudflare | nginx | alibaba | cloudfront | fastly | varnish |
//! |---|---|---|---|---|---|---|
//! | refused | 521 | 502 | 502 | 502 | 503 | 503 |
//! | connect timeout | 522 | 504 | 504 | 504 | 503 | 503 |
//! | unreachable | 523 | 502 | 502 | 504 | 503 | 503 |
//! | read timeout | 524 | 504 | 504 | 504 | 503 | 503 |
//! | ACK timeout (request never acknowledged) | 522 | 504 | 504 | 504 | 503 | 503 |
//! | write timeout | 524 | 504 | 504 | 504 | 503 | 503 |
//! | reset / closed | 520 | 502 | 502 | 502 | 503 | 503 |
//! | garbage (not HTTP) | 520 | 9 (relayed as HTTP/0.9) | 502 | 502 | 503 | 503 |
//! | response headers too large | 520 | 502 | 502 | 502 | 503 | 503 |
//! | TLS handshake | 525 | 502 | 502 | 502 | 503 | 503 |
//! | certificate (verifying) | 526 | 502 | 502¹ | 502 | 503 | 503 |
//! | DNS | 530 | 502 | 502 | 502 | 503 | 503 |
//! | upstream 5xx | passed through | passed through | passed through | passed through | passed through | passed through |
//!
//! ¹ not documented by the vendor: overridable with the scenario key `cdn.cert_error_status`.

pub mod codes;
pub mod defaults;
pub mod page;
pub mod real_rules;
pub mod source;
pub mod table;

pub use codes::{known_reason, GeneratedError, ALL_FAILURES, HTTP_09_REASON, HTTP_09_RELAY};
pub use defaults::{AgeHeader, DefaultRow, ProfileDefaults};
pub use page::{reason_phrase, Advice, ErrorFacts, FailedHop, Place, SHUTTING_DOWN};
pub use real_rules::RealRules;
pub use source::{Bytes, Describe, Source, Sourced};
pub use table::render_markdown;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A vendor's behaviour toward failing upstreams, and its caching defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Cloudflare: branded 52x codes.
    #[default]
    Cloudflare,
    /// nginx as a caching reverse proxy: 502 for broken upstreams, 504 for timeouts.
    Nginx,
    /// Alibaba Cloud CDN: nginx-like codes, shorter timeouts.
    Alibaba,
    /// Amazon CloudFront: 502 / 504, three connection attempts.
    Cloudfront,
    /// Fastly: 503 for every error it generates.
    Fastly,
    /// Varnish: 503 "Backend fetch failed".
    Varnish,
    /// RFC 9111 as written, for a shared cache (and RFC 9110's 502/504 for what it
    /// generates): no vendor's defaults, only the standard's rules.
    Rfc9111,
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
            Profile::Rfc9111 => "rfc9111",
        }
    }

    /// The `Age` header a client receives with `resp`, served with `status` by the edge
    /// (per [`ProfileDefaults::age_header`]).
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
        match self.defaults().age_header.value {
            AgeHeader::Never => None,
            AgeHeader::Always => Some(resp.age.as_secs()),
            AgeHeader::FromCache => from_cache.then_some(resp.age.as_secs()),
        }
    }

    /// What this vendor answers a request for a host it does not serve: `None` where the
    /// request goes to the default site (nginx's and Varnish's default server; Alibaba's
    /// Tengine as nginx), else the status and the vendor's wording: Cloudflare 530 with
    /// error 1001, CloudFront 403 "The request could not be satisfied", Fastly 500
    /// "Domain Not Found".
    pub fn unknown_host(self) -> Option<(u16, &'static str)> {
        match self {
            Profile::Cloudflare => Some((530, "error 1001: DNS resolution error")),
            Profile::Cloudfront => Some((403, "The request could not be satisfied")),
            Profile::Fastly => Some((500, "Domain Not Found")),
            Profile::Nginx | Profile::Alibaba | Profile::Varnish | Profile::Rfc9111 => None,
        }
    }

    /// Whether this CDN trusts certificates from its own origin CA (Cloudflare Origin CA).
    pub fn trusts_origin_ca(self) -> bool {
        self == Profile::Cloudflare
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
    fn only_cloudflare_trusts_its_origin_ca() {
        let trusting: Vec<_> = ALL_PROFILES
            .iter()
            .filter(|p| p.trusts_origin_ca())
            .collect();
        assert_eq!(trusting, [&Profile::Cloudflare]);
    }
}
