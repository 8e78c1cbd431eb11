//! Whether a shared cache may store a response, and for how long it is fresh
//! (RFC 9111 §3 and §4.2.1, plus each vendor's defaults).

use super::heuristics::{ErrorCaching, ErrorVerdict};
use super::CachePolicy;
use crate::message::{Method, Response, Vary};
use std::time::Duration;

/// Statuses RFC 9110 §15.1 defines as heuristically cacheable: the only ones a cache may
/// store without explicit freshness (vendors' default TTL tables are subsets or extensions
/// of this list, e.g. Cloudflare also caches 302/303 for 20 minutes).
pub const HEURISTICALLY_CACHEABLE: [u16; 12] =
    [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// The storage decision for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storability {
    /// Store it, fresh for this long (counted from generation, so Age is subtracted).
    Store(Duration),
    /// Do not store it.
    DoNotStore {
        /// Why.
        reason: &'static str,
        /// Whether the response itself told caches to keep out (`no-store`, `private`,
        /// `max-age=0`, `Set-Cookie`, `Vary: *`): reported as `BYPASS` rather than `MISS`.
        bypass: bool,
    },
}

impl Storability {
    fn bypass(reason: &'static str) -> Storability {
        Storability::DoNotStore {
            reason,
            bypass: true,
        }
    }
    fn no(reason: &'static str) -> Storability {
        Storability::DoNotStore {
            reason,
            bypass: false,
        }
    }
}

/// Decides storage for a shared cache:
/// - never: non-GET/HEAD, `no-store`, `private`, `Set-Cookie`, `Vary: *`; `no-cache` where
///   the vendor does not store it (Alibaba); a status the vendor never caches (Varnish,
///   Fastly: only their listed statuses, whatever the headers say);
/// - the vendor's error rules first where it has them (CloudFront: some errors always, some
///   only with `max-age`, 416 never; for the greater of the header and the minimum TTL);
/// - lifetime: `s-maxage`, else `max-age`, else `Expires − Date`, else the scenario's
///   `status_ttl` for the status, else the profile's default freshness (Cloudflare:
///   200/206/301 120 min, 302/303 20 min, 404/410 3 min, 5xx never; Alibaba: 10 % of the time
///   since `Last-Modified`, 10 s to 1 h);
/// - `max-age=0` without `no-cache` is not stored; `no-cache` is stored and always revalidated.
///
/// ```
/// use cdn_core::{cache::{freshness_lifetime, CachePolicy, Storability}, CacheControl, Method, Profile, Response, Tier};
/// use std::time::Duration;
/// let policy = CachePolicy::for_profile(Profile::Cloudflare);
/// let mut r = Response::generated(Tier::Origin, 200, "ok");
/// r.cache_control = CacheControl::parse("max-age=60");
/// assert_eq!(freshness_lifetime(&policy, Method::Get, &r), Storability::Store(Duration::from_secs(60)));
/// r.cache_control = CacheControl::parse("private, max-age=60");
/// assert!(matches!(freshness_lifetime(&policy, Method::Get, &r), Storability::DoNotStore { bypass: true, .. }));
/// ```
pub fn freshness_lifetime(
    policy: &CachePolicy,
    method: Method,
    response: &Response,
) -> Storability {
    let cc = &response.cache_control;
    if method == Method::Other {
        return Storability::bypass("method is not cacheable");
    }
    let explicit = cc.shared_max_age().or_else(|| {
        response
            .expires
            .map(|exp| exp.saturating_since(response.date))
    });
    if let Some(rules) = policy.error_caching {
        // A scenario's status_ttl is the per-status error caching minimum TTL.
        let rules = match policy.status_ttl.get(&response.status) {
            Some(&min_ttl) => ErrorCaching { min_ttl, ..rules },
            None => rules,
        };
        // "Always cached" errors are cached whatever their directives say.
        if rules.always.contains(&response.status) {
            if let ErrorVerdict::Store(ttl) = rules.verdict(response, explicit) {
                return Storability::Store(ttl);
            }
        }
    }
    if cc.no_store {
        return Storability::bypass("no-store");
    }
    if cc.private {
        return Storability::bypass("private");
    }
    // RFC 9111 lets a shared cache store a response with Set-Cookie; vendors do not.
    if response.set_cookie && policy.profile != crate::profile::Profile::Rfc9111 {
        return Storability::bypass("Set-Cookie");
    }
    if response.vary == Vary::Any {
        return Storability::bypass("Vary: *");
    }
    if cc.no_cache && !policy.no_cache_stored {
        return Storability::bypass("no-cache (this CDN does not store no-cache responses)");
    }
    if let Some(rules) = policy.error_caching {
        match rules.verdict(response, explicit) {
            ErrorVerdict::Store(ttl) => return Storability::Store(ttl),
            ErrorVerdict::DoNotStore => {
                return Storability::no("this error is cached only with max-age, or never")
            }
            ErrorVerdict::NoRule => {}
        }
    }
    if let Some(statuses) = policy.storable_statuses {
        if !statuses.contains(&response.status) {
            return Storability::no("this CDN never caches this status");
        }
    }
    let lifetime = match explicit {
        Some(lifetime) => lifetime,
        None => match policy.default_lifetime(response) {
            Some(ttl) => ttl,
            None => return Storability::no("no explicit freshness and no TTL for this status"),
        },
    };
    if lifetime.is_zero() && !cc.no_cache {
        return Storability::bypass("freshness lifetime is zero (max-age=0 or Expires ≤ Date)");
    }
    Storability::Store(lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheControl;
    use crate::message::Tier;
    use crate::profile::Profile;
    use crate::time::Instant;

    fn resp(status: u16, cc: &str) -> Response {
        let mut r = Response::generated(Tier::Origin, status, "");
        r.cache_control = CacheControl::parse(cc);
        r
    }

    fn ttl(p: Profile, r: &Response) -> Storability {
        freshness_lifetime(&CachePolicy::for_profile(p), Method::Get, r)
    }

    #[test]
    fn cloudflare_default_ttls_apply_without_cache_control() {
        assert_eq!(
            ttl(Profile::Cloudflare, &resp(200, "")),
            Storability::Store(Duration::from_secs(7200))
        );
        assert_eq!(
            ttl(Profile::Cloudflare, &resp(404, "")),
            Storability::Store(Duration::from_secs(180))
        );
        assert!(matches!(
            ttl(Profile::Cloudflare, &resp(503, "")),
            Storability::DoNotStore { bypass: false, .. }
        ));
    }

    #[test]
    fn precedence_s_maxage_then_max_age_then_expires_then_defaults() {
        let mut r = resp(200, "max-age=10, s-maxage=20");
        r.date = Instant::ZERO;
        r.expires = Some(Instant::ZERO + Duration::from_secs(30));
        assert_eq!(
            ttl(Profile::Cloudflare, &r),
            Storability::Store(Duration::from_secs(20))
        );
        r.cache_control = CacheControl::parse("max-age=10");
        assert_eq!(
            ttl(Profile::Cloudflare, &r),
            Storability::Store(Duration::from_secs(10))
        );
        r.cache_control = CacheControl::default();
        assert_eq!(
            ttl(Profile::Cloudflare, &r),
            Storability::Store(Duration::from_secs(30))
        );
        r.expires = None;
        assert_eq!(
            ttl(Profile::Cloudflare, &r),
            Storability::Store(Duration::from_secs(7200))
        );
    }

    #[test]
    fn expires_in_the_past_is_not_stored() {
        let mut r = resp(200, "");
        r.date = Instant::ZERO + Duration::from_secs(100);
        r.expires = Some(Instant::ZERO + Duration::from_secs(50));
        assert!(matches!(
            ttl(Profile::Cloudflare, &r),
            Storability::DoNotStore { .. }
        ));
    }

    #[test]
    fn nginx_needs_explicit_freshness_or_a_status_ttl() {
        assert!(matches!(
            ttl(Profile::Nginx, &resp(200, "")),
            Storability::DoNotStore { .. }
        ));
        let mut policy = CachePolicy::for_profile(Profile::Nginx);
        policy.status_ttl.insert(502, Duration::from_secs(5));
        let own_502 = Response::generated(Tier::L2, 502, "bad gateway");
        assert_eq!(
            freshness_lifetime(&policy, Method::Get, &own_502),
            Storability::Store(Duration::from_secs(5))
        );
    }

    #[test]
    fn bypass_reasons() {
        for cc in ["private", "no-store", "max-age=0"] {
            assert!(
                matches!(
                    ttl(Profile::Cloudflare, &resp(200, cc)),
                    Storability::DoNotStore { bypass: true, .. }
                ),
                "{cc}"
            );
        }
        let mut r = resp(200, "max-age=60");
        r.set_cookie = true;
        assert!(matches!(
            ttl(Profile::Cloudflare, &r),
            Storability::DoNotStore { bypass: true, .. }
        ));
        let mut r = resp(200, "max-age=60");
        r.vary = Vary::Any;
        assert!(matches!(
            ttl(Profile::Cloudflare, &r),
            Storability::DoNotStore { bypass: true, .. }
        ));
        assert!(matches!(
            ttl(Profile::Cloudflare, &resp(200, "no-cache")),
            Storability::Store(_)
        ));
    }

    #[test]
    fn non_get_methods_bypass() {
        let r = resp(200, "max-age=60");
        assert!(matches!(
            freshness_lifetime(
                &CachePolicy::for_profile(Profile::Cloudflare),
                Method::Other,
                &r
            ),
            Storability::DoNotStore { bypass: true, .. }
        ));
    }

    #[test]
    fn alibaba_uses_a_tenth_of_the_time_since_last_modified() {
        let mut r = resp(200, "");
        r.date = Instant::ZERO + Duration::from_secs(100_000);
        r.last_modified = Some(Instant::ZERO + Duration::from_secs(99_000));
        // 10 % of 1000 s.
        assert_eq!(
            ttl(Profile::Alibaba, &r),
            Storability::Store(Duration::from_secs(100))
        );
        r.last_modified = Some(Instant::ZERO + Duration::from_secs(99_990));
        assert_eq!(
            ttl(Profile::Alibaba, &r),
            Storability::Store(Duration::from_secs(10))
        );
        r.last_modified = Some(Instant::ZERO);
        assert_eq!(
            ttl(Profile::Alibaba, &r),
            Storability::Store(Duration::from_secs(3600))
        );
        // no-cache is not stored at Alibaba (it is, and revalidated, at Cloudflare).
        assert!(matches!(
            ttl(Profile::Alibaba, &resp(200, "no-cache, max-age=60")),
            Storability::DoNotStore { bypass: true, .. }
        ));
    }

    #[test]
    fn cloudfront_error_caching_rules() {
        let secs = |s| Storability::Store(Duration::from_secs(s));
        assert_eq!(ttl(Profile::Cloudfront, &resp(503, "")), secs(10));
        // The greater of the header and the minimum TTL; "always" ignores no-store.
        assert_eq!(ttl(Profile::Cloudfront, &resp(404, "max-age=60")), secs(60));
        assert_eq!(ttl(Profile::Cloudfront, &resp(404, "max-age=3")), secs(10));
        assert_eq!(ttl(Profile::Cloudfront, &resp(502, "no-store")), secs(10));
        // 403 only with max-age; 416 never.
        assert!(matches!(
            ttl(Profile::Cloudfront, &resp(403, "")),
            Storability::DoNotStore { .. }
        ));
        assert_eq!(ttl(Profile::Cloudfront, &resp(403, "max-age=30")), secs(30));
        assert!(matches!(
            ttl(Profile::Cloudfront, &resp(416, "max-age=30")),
            Storability::DoNotStore { .. }
        ));
        // 307 without Cache-Control is not cached; 302 gets the default TTL (24 h).
        assert!(matches!(
            ttl(Profile::Cloudfront, &resp(307, "")),
            Storability::DoNotStore { .. }
        ));
        assert_eq!(ttl(Profile::Cloudfront, &resp(302, "")), secs(86_400));
    }

    #[test]
    fn varnish_and_fastly_cache_only_their_statuses() {
        let secs = |s| Storability::Store(Duration::from_secs(s));
        // Varnish: 204 gets default_ttl; 302/307 only with explicit freshness; 503 never.
        assert_eq!(ttl(Profile::Varnish, &resp(204, "")), secs(120));
        assert!(matches!(
            ttl(Profile::Varnish, &resp(302, "")),
            Storability::DoNotStore { .. }
        ));
        assert_eq!(ttl(Profile::Varnish, &resp(302, "max-age=30")), secs(30));
        assert!(matches!(
            ttl(Profile::Varnish, &resp(503, "max-age=30")),
            Storability::DoNotStore { .. }
        ));
        assert!(matches!(
            ttl(Profile::Varnish, &resp(200, "no-cache, max-age=30")),
            Storability::DoNotStore { .. }
        ));
        assert_eq!(ttl(Profile::Fastly, &resp(410, "")), secs(3600));
        assert!(matches!(
            ttl(Profile::Fastly, &resp(500, "max-age=30")),
            Storability::DoNotStore { .. }
        ));
    }
}
