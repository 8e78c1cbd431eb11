//! Whether a shared cache may store a response, and for how long it is fresh.

use crate::message::{Method, Response};
use crate::profile::Profile;
use std::time::Duration;

/// The storage decision for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storability {
    /// Store it, fresh for this long (counted from generation, so Age is subtracted).
    Store(Duration),
    /// Do not store it, and why.
    DoNotStore(&'static str),
}

/// Decides storage following RFC 9111 §3 and §4.2.1 for a shared cache:
/// non-GET/HEAD, `no-store` and `private` are never stored; `s-maxage` beats `max-age`;
/// without explicit freshness the profile's default TTL for the status applies (Cloudflare:
/// 200/206/301 120 min, 302/303 20 min, 404/410 3 min, 5xx never).
///
/// ```
/// use cdn_core::{cache::{freshness_lifetime, Storability}, CacheControl, Method, Profile, Response, Tier};
/// use std::time::Duration;
/// let mut r = Response::generated(Tier::Origin, 200, "ok");
/// r.cache_control = CacheControl::parse("max-age=60");
/// assert_eq!(freshness_lifetime(Profile::Cloudflare, Method::Get, &r), Storability::Store(Duration::from_secs(60)));
/// r.cache_control = CacheControl::parse("private, max-age=60");
/// assert!(matches!(freshness_lifetime(Profile::Cloudflare, Method::Get, &r), Storability::DoNotStore(_)));
/// ```
pub fn freshness_lifetime(profile: Profile, method: Method, response: &Response) -> Storability {
    let cc = &response.cache_control;
    if method == Method::Other {
        return Storability::DoNotStore("method is not cacheable");
    }
    if cc.no_store {
        return Storability::DoNotStore("no-store");
    }
    if cc.private {
        return Storability::DoNotStore("private");
    }
    let lifetime = match cc.shared_max_age() {
        Some(explicit) => explicit,
        None => match profile.default_ttl(response.status) {
            Some(ttl) => ttl,
            None => return Storability::DoNotStore("no explicit freshness and no default TTL"),
        },
    };
    if lifetime.is_zero() && !cc.no_cache {
        return Storability::DoNotStore("freshness lifetime is zero");
    }
    Storability::Store(lifetime)
}

impl Profile {
    /// How long a response of `status` without `Cache-Control` freshness is cached, per
    /// vendor defaults; `None` means not cached.
    pub fn default_ttl(self, status: u16) -> Option<Duration> {
        let secs = match self {
            Profile::Cloudflare => match status {
                200 | 206 | 301 => 7200,
                302 | 303 => 1200,
                404 | 410 => 180,
                _ => return None,
            },
            // CloudFront: default TTL 24 h; errors are cached for 10 s.
            Profile::Cloudfront => match status {
                200..=299 | 301 | 308 => 86_400,
                400 | 403 | 404 | 405 | 414 | 416 | 500..=504 => 10,
                _ => return None,
            },
            // Fastly: 3600 s for its default cacheable statuses.
            Profile::Fastly => match status {
                200 | 203 | 300 | 301 | 302 | 404 | 410 => 3600,
                _ => return None,
            },
            // Varnish builtin VCL: default_ttl 120 s for its cacheable statuses.
            Profile::Varnish => match status {
                200 | 203 | 300 | 301 | 302 | 304 | 307 | 404 | 410 | 414 => 120,
                _ => return None,
            },
            // nginx caches only what proxy_cache_valid names; Alibaba's defaults are not
            // documented in our sources, so neither caches without explicit freshness.
            Profile::Nginx | Profile::Alibaba => return None,
        };
        Some(Duration::from_secs(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheControl;
    use crate::message::Tier;

    fn resp(status: u16, cc: &str) -> Response {
        let mut r = Response::generated(Tier::Origin, status, "");
        r.cache_control = CacheControl::parse(cc);
        r
    }

    #[test]
    fn cloudflare_default_ttls_apply_without_cache_control() {
        let ttl = |s| freshness_lifetime(Profile::Cloudflare, Method::Get, &resp(s, ""));
        assert_eq!(ttl(200), Storability::Store(Duration::from_secs(7200)));
        assert_eq!(ttl(404), Storability::Store(Duration::from_secs(180)));
        assert!(matches!(ttl(503), Storability::DoNotStore(_)));
    }

    #[test]
    fn nginx_needs_explicit_freshness() {
        let r = resp(200, "");
        assert!(matches!(
            freshness_lifetime(Profile::Nginx, Method::Get, &r),
            Storability::DoNotStore(_)
        ));
    }

    #[test]
    fn non_get_methods_bypass() {
        let r = resp(200, "max-age=60");
        assert!(matches!(
            freshness_lifetime(Profile::Cloudflare, Method::Other, &r),
            Storability::DoNotStore(_)
        ));
    }
}
