//! The caching choices vendors differ on, gathered in one place. Every field is a scenario
//! key (under `[cdn]`) whose default comes from the profile.

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
    /// Honour `stale-while-revalidate`.
    pub stale_while_revalidate: bool,
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
    /// The profile's defaults.
    pub fn for_profile(profile: Profile) -> CachePolicy {
        CachePolicy {
            profile,
            status_ttl: BTreeMap::new(),
            stale_if_error: true,
            stale_while_revalidate: true,
            always_online: false,
            eligibility: match profile {
                Profile::Cloudflare => Eligibility::StaticExtensions,
                _ => Eligibility::Everything,
            },
            collapse_timeout: Duration::from_secs(5),
            collapse_age: Duration::from_secs(5),
            collapse_uncacheable: match profile {
                Profile::Varnish | Profile::Fastly => UncacheablePolicy::All,
                _ => UncacheablePolicy::OneAtATime,
            },
        }
    }

    /// TTL for a response of `status` without explicit freshness.
    pub fn status_ttl(&self, status: u16) -> Option<Duration> {
        self.status_ttl
            .get(&status)
            .copied()
            .or_else(|| self.profile.default_ttl(status))
    }
}
