//! The caching choices vendors differ on, gathered in one place. Every field is a scenario
//! key (under `[cdn]`) whose default comes from the profile.

use super::heuristics::{DefaultFreshness, ErrorCaching};
use crate::profile::Profile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What waiters do when the request they collapsed behind got a response that cannot be
/// stored (so there is nothing in cache to serve them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncacheablePolicy {
    /// One waiter goes upstream; the rest keep waiting behind it (nginx `proxy_cache_lock`).
    #[default]
    OneAtATime,
    /// All waiters go upstream at once (Varnish's hit-for-miss / hit-for-pass).
    All,
}

/// What a cache does with a stored stale copy when its upstream fails and the copy carries no
/// `stale-if-error` directive. (With a directive, the directive's window decides wherever
/// `stale_if_error` is honoured.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleOnError {
    /// Nothing: only a `stale-if-error` window allows it (RFC 5861).
    #[default]
    Directive,
    /// Serve it, however stale, when the origin could not be contacted (a 52x: refused,
    /// timed out, reset, ...), unless its directives forbid stale (`must-revalidate`,
    /// `proxy-revalidate`, `s-maxage`, `no-cache`) or `stale-if-error=0` (Cloudflare: a
    /// `STALE` response).
    Unreachable,
    /// Serve it, however stale, when the origin answers 5xx or does not answer at all
    /// (CloudFront), and keep serving it for the error caching minimum TTL.
    #[serde(rename = "5xx")]
    ServerError,
}

/// Which requests are eligible for caching at all; ineligible ones are `DYNAMIC`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eligibility {
    /// Every GET/HEAD (nginx, Varnish, CloudFront, ...).
    #[default]
    Everything,
    /// Only paths with a static-file extension (Cloudflare's default without a "Cache
    /// Everything" rule: `.css`, `.js`, `.png`, ... but not `.html` or `/api/x`).
    StaticExtensions,
}

/// File extensions Cloudflare caches by default (its documented list).
pub const STATIC_EXTENSIONS: &[&str] = &[
    "7z", "avi", "avif", "apk", "bin", "bmp", "bz2", "class", "css", "csv", "doc", "docx", "dmg",
    "ejs", "eot", "eps", "exe", "flac", "gif", "gz", "ico", "iso", "jar", "jpg", "jpeg", "js",
    "mid", "midi", "mkv", "mp3", "mp4", "ogg", "otf", "pdf", "pict", "pls", "png", "ppt", "pptx",
    "ps", "rar", "svg", "svgz", "swf", "tar", "tif", "tiff", "ttf", "webm", "webp", "woff",
    "woff2", "xls", "xlsx", "zip", "zst",
];

impl Eligibility {
    /// Whether a request for `path` may be cached.
    ///
    /// ```
    /// use cdn_core::cache::Eligibility;
    /// assert!(Eligibility::StaticExtensions.allows("/assets/app.JS"));
    /// assert!(!Eligibility::StaticExtensions.allows("/index.html"));
    /// assert!(!Eligibility::StaticExtensions.allows("/api/users?id=1.png"));
    /// assert!(Eligibility::Everything.allows("/api/users"));
    /// ```
    pub fn allows(self, path: &str) -> bool {
        match self {
            Eligibility::Everything => true,
            Eligibility::StaticExtensions => {
                let path = path.split(['?', '#']).next().unwrap_or("");
                let file = path.rsplit('/').next().unwrap_or("");
                file.rsplit_once('.').is_some_and(|(_, ext)| {
                    STATIC_EXTENSIONS
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(ext))
                })
            }
        }
    }
}

/// The caching behaviour in force for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// The vendor.
    pub profile: Profile,
    /// TTL per status for responses without explicit freshness, overriding the profile's
    /// defaults (nginx `proxy_cache_valid`, Cloudflare "cache TTL by status code"); applies
    /// to errors a tier generates itself too (negative caching).
    pub status_ttl: BTreeMap<u16, Duration>,
    /// Honour `stale-if-error`.
    pub stale_if_error: bool,
    /// What a stale copy without a `stale-if-error` directive does when upstream fails.
    pub stale_on_error: StaleOnError,
    /// Honour `stale-while-revalidate`.
    pub stale_while_revalidate: bool,
    /// Revalidate in the background while serving the stale copy (`true`), or make the
    /// request that finds the copy stale wait for the revalidation while the others are
    /// served stale (`false`: nginx without `proxy_cache_background_update`).
    pub background_update: bool,
    /// The request that starts a background revalidation is `UPDATING` (Cloudflare: "That
    /// request immediately receives stale content with an UPDATING status", cache/concepts/
    /// revalidation); otherwise it is `STALE` and the requests after it `UPDATING`.
    pub updating_starts_revalidation: bool,
    /// How long after expiry a copy without `stale-while-revalidate` is still served while
    /// one request refreshes it (Varnish `default_grace`); zero for none.
    pub grace: Duration,
    /// Whether `no-cache` responses are stored and revalidated (RFC 9111) or not stored at all
    /// (Alibaba Cloud CDN).
    pub no_cache_stored: bool,
    /// Lifetimes of responses without explicit freshness.
    pub default_freshness: DefaultFreshness,
    /// Rules for caching the origin's errors, where the vendor has them (CloudFront).
    pub error_caching: Option<ErrorCaching>,
    /// The only statuses ever stored, whatever the headers say (Varnish, Fastly); `None`:
    /// any status with explicit freshness.
    pub storable_statuses: Option<&'static [u16]>,
    /// Cloudflare Always Online: on a 502, 504 or 52x serve any stored copy, however stale,
    /// ignoring `stale-if-error`; never for 404, 500 or 503.
    pub always_online: bool,
    /// Which requests are eligible for caching.
    pub eligibility: Eligibility,
    /// Collapsing: how long a waiter waits for the request ahead of it before going
    /// upstream itself, uncached (nginx `proxy_cache_lock_timeout`, 5 s).
    pub collapse_timeout: Duration,
    /// Collapsing: after this long without an answer, one more request may go upstream
    /// (nginx `proxy_cache_lock_age`, 5 s).
    pub collapse_age: Duration,
    /// Collapsing: what waiters do after an uncacheable answer.
    pub collapse_uncacheable: UncacheablePolicy,
}

impl CachePolicy {
    /// The profile's defaults (each cited in `docs/profiles.md`).
    ///
    /// ```
    /// use cdn_core::{cache::{CachePolicy, StaleOnError}, Profile};
    /// assert_eq!(CachePolicy::for_profile(Profile::Cloudflare).stale_on_error, StaleOnError::Unreachable);
    /// assert!(!CachePolicy::for_profile(Profile::Varnish).stale_if_error);
    /// assert!(!CachePolicy::for_profile(Profile::Nginx).background_update);
    /// ```
    pub fn for_profile(profile: Profile) -> CachePolicy {
        let d = profile.defaults();
        CachePolicy {
            profile,
            status_ttl: BTreeMap::new(),
            stale_if_error: d.stale_if_error.value,
            stale_on_error: d.stale_on_error.value,
            stale_while_revalidate: d.stale_while_revalidate.value,
            background_update: d.background_update.value,
            updating_starts_revalidation: profile == Profile::Cloudflare,
            grace: d.grace.value,
            no_cache_stored: d.no_cache_stored.value,
            default_freshness: d.default_freshness.value,
            error_caching: d.error_caching.value,
            storable_statuses: d.storable_statuses.value,
            always_online: false,
            eligibility: d.eligibility.value,
            collapse_timeout: d.collapse_timeout.value,
            collapse_age: d.collapse_age.value,
            collapse_uncacheable: d.collapse_uncacheable.value,
        }
    }

    /// TTL for `response` when it carries no explicit freshness: the scenario's `status_ttl`
    /// for its status, else the profile's default freshness.
    pub fn default_lifetime(&self, response: &crate::message::Response) -> Option<Duration> {
        self.status_ttl
            .get(&response.status)
            .copied()
            .or_else(|| self.default_freshness.lifetime(response))
    }

    /// TTL for a response of `status` without explicit freshness (and without
    /// `Last-Modified`).
    pub fn status_ttl(&self, status: u16) -> Option<Duration> {
        self.default_lifetime(&crate::message::Response::generated(
            crate::message::Tier::Origin,
            status,
            "",
        ))
    }
}
