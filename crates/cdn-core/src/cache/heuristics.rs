//! The lifetime a cache gives a response that carries no explicit freshness, per vendor:
//! default TTLs by status (Cloudflare, CloudFront, Fastly, Varnish), a fraction of the time
//! since `Last-Modified` (Alibaba), and CloudFront's rules for caching errors.

use crate::message::Response;
use crate::profile::Describe;
use serde::Serialize;
use std::time::Duration;

/// How long a response without `max-age`, `s-maxage` or `Expires` stays fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultFreshness {
    /// A TTL per status (seconds); statuses not listed are not cached. An empty table caches
    /// nothing (nginx: only what `proxy_cache_valid` names).
    ByStatus(&'static [(&'static [u16], u64)]),
    /// `percent`% of the time since `Last-Modified`, within `[min, max]`; `max` when the
    /// response has no `Last-Modified`. Applies to `statuses` only (Alibaba Cloud CDN).
    LastModified {
        /// The fraction of the response's age at generation, in percent.
        percent: u32,
        /// The lower bound.
        min: Duration,
        /// The upper bound, and the lifetime without `Last-Modified`.
        max: Duration,
        /// The statuses it applies to.
        statuses: &'static [u16],
    },
    /// RFC 9111 §4.2.2: `percent` of (Date − Last-Modified) for the heuristically
    /// cacheable `statuses`; nothing without `Last-Modified`.
    Heuristic {
        /// The fraction, in percent.
        percent: u32,
        /// The heuristically cacheable statuses.
        statuses: &'static [u16],
    },
}

impl DefaultFreshness {
    /// The lifetime of `response`, or `None` if it is not cached without explicit freshness.
    ///
    /// ```
    /// use cdn_core::cache::DefaultFreshness;
    /// use cdn_core::{Instant, Response, Tier};
    /// use std::time::Duration;
    /// let alibaba = DefaultFreshness::LastModified {
    ///     percent: 10, min: Duration::from_secs(10), max: Duration::from_secs(3600), statuses: &[200],
    /// };
    /// let mut r = Response::generated(Tier::Origin, 200, "");
    /// r.date = Instant::ZERO + Duration::from_secs(600);
    /// r.last_modified = Some(Instant::ZERO); // modified 10 minutes before Date
    /// assert_eq!(alibaba.lifetime(&r), Some(Duration::from_secs(60)));
    /// r.last_modified = None;
    /// assert_eq!(alibaba.lifetime(&r), Some(Duration::from_secs(3600)));
    /// ```
    pub fn lifetime(self, response: &Response) -> Option<Duration> {
        match self {
            DefaultFreshness::ByStatus(table) => table
                .iter()
                .find(|(statuses, _)| statuses.contains(&response.status))
                .map(|&(_, secs)| Duration::from_secs(secs)),
            DefaultFreshness::LastModified {
                percent,
                min,
                max,
                statuses,
            } => {
                if !statuses.contains(&response.status) {
                    return None;
                }
                let Some(modified) = response.last_modified else {
                    return Some(max);
                };
                let since = response.date.saturating_since(modified);
                Some((since * percent / 100).clamp(min, max))
            }
            DefaultFreshness::Heuristic { percent, statuses } => {
                if !statuses.contains(&response.status) {
                    return None;
                }
                let since = response.date.saturating_since(response.last_modified?);
                Some(since * percent / 100)
            }
        }
    }
}

impl Describe for DefaultFreshness {
    fn describe(&self) -> String {
        match self {
            DefaultFreshness::ByStatus([]) => "not cached".into(),
            DefaultFreshness::ByStatus(table) => table
                .iter()
                .map(|(statuses, secs)| {
                    let s: Vec<String> = statuses.iter().map(u16::to_string).collect();
                    format!("{}: {secs} s", s.join(" "))
                })
                .collect::<Vec<_>>()
                .join("; "),
            DefaultFreshness::Heuristic { percent, .. } => format!(
                "{percent}% of (Date − Last-Modified) for heuristically cacheable statuses; \
                 not cached without Last-Modified"
            ),
            DefaultFreshness::LastModified {
                percent, min, max, ..
            } => format!(
                "{percent}% of (Date − Last-Modified), within {}–{} s; {} s without Last-Modified",
                min.as_secs(),
                max.as_secs(),
                max.as_secs()
            ),
        }
    }
}

/// How a CDN caches the 4xx and 5xx responses of its origin (CloudFront's rules), taking
/// precedence over the default TTL table for the statuses it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorCaching {
    /// The error caching minimum TTL: errors are cached for the greater of this and their
    /// `max-age`/`s-maxage`.
    pub min_ttl: Duration,
    /// Always cached (whatever their `Cache-Control` says).
    pub always: &'static [u16],
    /// Cached only when they carry `max-age` or `s-maxage`.
    pub with_max_age: &'static [u16],
    /// Never cached.
    pub never: &'static [u16],
}

/// What [`ErrorCaching`] decides for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorVerdict {
    /// Not an error it has a rule for: the ordinary rules apply.
    NoRule,
    /// Store it for this long.
    Store(Duration),
    /// Do not store it.
    DoNotStore,
}

impl ErrorCaching {
    /// The verdict for `response`, whose explicit lifetime (`s-maxage`/`max-age`/`Expires`)
    /// is `explicit`.
    ///
    /// ```
    /// use cdn_core::cache::{ErrorCaching, ErrorVerdict};
    /// use cdn_core::{Response, Tier};
    /// use std::time::Duration;
    /// let rules = ErrorCaching { min_ttl: Duration::from_secs(10), always: &[503], with_max_age: &[403], never: &[416] };
    /// let r = |s| Response::generated(Tier::Origin, s, "");
    /// assert_eq!(rules.verdict(&r(503), None), ErrorVerdict::Store(Duration::from_secs(10)));
    /// assert_eq!(rules.verdict(&r(503), Some(Duration::from_secs(60))), ErrorVerdict::Store(Duration::from_secs(60)));
    /// assert_eq!(rules.verdict(&r(403), None), ErrorVerdict::DoNotStore);
    /// assert_eq!(rules.verdict(&r(416), Some(Duration::from_secs(60))), ErrorVerdict::DoNotStore);
    /// assert_eq!(rules.verdict(&r(200), None), ErrorVerdict::NoRule);
    /// ```
    pub fn verdict(&self, response: &Response, explicit: Option<Duration>) -> ErrorVerdict {
        let status = response.status;
        let cc = &response.cache_control;
        let header_max_age = cc.shared_max_age();
        if self.never.contains(&status) {
            ErrorVerdict::DoNotStore
        } else if self.always.contains(&status) {
            ErrorVerdict::Store(explicit.unwrap_or_default().max(self.min_ttl))
        } else if self.with_max_age.contains(&status) {
            match header_max_age {
                Some(age) => ErrorVerdict::Store(age.max(self.min_ttl)),
                None => ErrorVerdict::DoNotStore,
            }
        } else {
            ErrorVerdict::NoRule
        }
    }
}

impl Describe for ErrorCaching {
    fn describe(&self) -> String {
        let list = |s: &[u16]| s.iter().map(u16::to_string).collect::<Vec<_>>().join(" ");
        format!(
            "{} always, {} with max-age, {} never; for max(header, {} s)",
            list(self.always),
            list(self.with_max_age),
            list(self.never),
            self.min_ttl.as_secs()
        )
    }
}

impl Describe for Option<ErrorCaching> {
    fn describe(&self) -> String {
        self.map_or_else(|| "no special rule".into(), |v| v.describe())
    }
}
