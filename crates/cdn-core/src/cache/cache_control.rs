//! `Cache-Control` response directives (RFC 9111 §5.2.2, RFC 5861).

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The response directives a shared cache acts on. Parsed once per origin configuration, then
/// copied with every response (it is `Copy`, so cache hits never allocate).
///
/// ```
/// use cdn_core::CacheControl;
/// let cc = CacheControl::parse("public, max-age=60, stale-if-error=300");
/// assert_eq!(cc.max_age, Some(60));
/// assert_eq!(cc.stale_if_error, Some(300));
/// assert!(!cc.no_store);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct CacheControl {
    /// `max-age=N` seconds.
    pub max_age: Option<u32>,
    /// `s-maxage=N` seconds: overrides `max-age` in shared caches and forbids serving stale.
    pub s_maxage: Option<u32>,
    /// `no-store`: never stored.
    pub no_store: bool,
    /// `private`: never stored by a shared cache.
    pub private: bool,
    /// `no-cache`: stored, but validated before every use.
    pub no_cache: bool,
    /// `must-revalidate`: never served stale.
    pub must_revalidate: bool,
    /// `proxy-revalidate`: as `must-revalidate`, for shared caches only.
    pub proxy_revalidate: bool,
    /// `public`.
    pub public: bool,
    /// `stale-while-revalidate=N` seconds (RFC 5861).
    pub stale_while_revalidate: Option<u32>,
    /// `stale-if-error=N` seconds (RFC 5861).
    pub stale_if_error: Option<u32>,
}

impl CacheControl {
    /// Parses a `Cache-Control` header value. Unknown directives are ignored, as RFC 9111
    /// requires; a malformed number makes the directive absent.
    pub fn parse(value: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        for part in value.split(',') {
            let part = part.trim();
            let (name, arg) = match part.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (part, None),
            };
            let secs = || arg.and_then(|a| a.parse::<u32>().ok());
            match name.to_ascii_lowercase().as_str() {
                "max-age" => cc.max_age = secs(),
                "s-maxage" => cc.s_maxage = secs(),
                "no-store" => cc.no_store = true,
                "private" => cc.private = true,
                "no-cache" => cc.no_cache = true,
                "must-revalidate" => cc.must_revalidate = true,
                "proxy-revalidate" => cc.proxy_revalidate = true,
                "public" => cc.public = true,
                "stale-while-revalidate" => cc.stale_while_revalidate = secs(),
                "stale-if-error" => cc.stale_if_error = secs(),
                _ => {}
            }
        }
        cc
    }

    /// Whether a shared cache may store a response with these directives at all.
    pub fn storable_by_shared_cache(&self) -> bool {
        !(self.no_store || self.private)
    }

    /// The explicit freshness lifetime for a shared cache: `s-maxage`, else `max-age`.
    pub fn shared_max_age(&self) -> Option<Duration> {
        self.s_maxage
            .or(self.max_age)
            .map(|s| Duration::from_secs(s.into()))
    }

    /// Whether a stale copy may never be served without revalidation (`must-revalidate`,
    /// `proxy-revalidate`, or `s-maxage`, which implies `proxy-revalidate` for shared caches).
    pub fn forbids_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some()
    }

    /// Whether there are no directives at all.
    pub fn is_empty(&self) -> bool {
        *self == CacheControl::default()
    }
}

impl fmt::Display for CacheControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let flags = [
            (self.public, "public"),
            (self.private, "private"),
            (self.no_store, "no-store"),
            (self.no_cache, "no-cache"),
            (self.must_revalidate, "must-revalidate"),
            (self.proxy_revalidate, "proxy-revalidate"),
        ];
        parts.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| n.to_string()),
        );
        let nums = [
            (self.max_age, "max-age"),
            (self.s_maxage, "s-maxage"),
            (self.stale_while_revalidate, "stale-while-revalidate"),
            (self.stale_if_error, "stale-if-error"),
        ];
        parts.extend(
            nums.iter()
                .filter_map(|(v, n)| v.map(|v| format!("{n}={v}"))),
        );
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_maxage_wins_over_max_age_and_forbids_stale() {
        let cc = CacheControl::parse("max-age=10, s-maxage=100");
        assert_eq!(cc.shared_max_age(), Some(Duration::from_secs(100)));
        assert!(cc.forbids_stale());
    }

    #[test]
    fn private_and_no_store_are_not_storable() {
        assert!(!CacheControl::parse("private, max-age=60").storable_by_shared_cache());
        assert!(!CacheControl::parse("no-store").storable_by_shared_cache());
        assert!(CacheControl::parse("no-cache").storable_by_shared_cache());
    }

    #[test]
    fn display_round_trips() {
        let cc = CacheControl::parse("public, max-age=60, stale-if-error=30");
        assert_eq!(CacheControl::parse(&cc.to_string()), cc);
    }

    #[test]
    fn malformed_numbers_are_ignored() {
        assert_eq!(CacheControl::parse("max-age=soon").max_age, None);
        assert_eq!(CacheControl::parse("MAX-AGE=\"5\"").max_age, Some(5));
    }
}
