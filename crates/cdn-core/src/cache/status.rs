//! The cache-status vocabulary shared by traces, reports and response headers.

use serde::Serialize;
use std::fmt;

/// What a cache did with a request (Cloudflare / Pingora vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CacheStatus {
    /// Served from a fresh stored copy.
    Hit,
    /// Nothing stored; fetched from the next tier.
    Miss,
    /// A stored copy had expired; fetched again.
    Expired,
    /// Served a stale stored copy (e.g. `stale-if-error`).
    Stale,
    /// Served stale while another request revalidates.
    Updating,
    /// A stale copy was confirmed by the next tier (304) and served.
    Revalidated,
    /// Caching was skipped for this request (method, `no-store`, ...).
    Bypass,
    /// Not eligible for caching by configuration.
    Dynamic,
}

impl CacheStatus {
    /// Every status, in vocabulary order.
    pub const ALL: [CacheStatus; 8] = [
        CacheStatus::Hit,
        CacheStatus::Miss,
        CacheStatus::Expired,
        CacheStatus::Stale,
        CacheStatus::Updating,
        CacheStatus::Revalidated,
        CacheStatus::Bypass,
        CacheStatus::Dynamic,
    ];

    /// This status's position in [`CacheStatus::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The upper-case name used in headers and traces (`"HIT"`, `"MISS"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Stale => "STALE",
            CacheStatus::Updating => "UPDATING",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Dynamic => "DYNAMIC",
        }
    }

    /// Whether the response came from this cache without asking the next tier.
    pub fn served_from_cache(self) -> bool {
        matches!(
            self,
            CacheStatus::Hit | CacheStatus::Stale | CacheStatus::Updating
        )
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
