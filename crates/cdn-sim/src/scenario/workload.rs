//! `[[workload]]`: who asks for what, how often.

use super::error::Invalid;
use super::locate::KeyPath;
use cdn_core::message::Encoding;
use cdn_core::units::{serde_units, Rate};
use cdn_core::Scheme;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// One `[[workload]]` table: a stream of requests. Several workloads may overlap.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// When the workload begins, from the start of the run (default `"0s"`).
    #[serde(default, with = "serde_units::duration")]
    pub start: Duration,
    /// Aggregate arrival rate over all clients (default `"10/s"`); unused by `burst`.
    #[serde(default = "default_rate", with = "serde_units::from_str")]
    pub rate: Rate,
    /// How arrivals are spaced (default [`Arrival::Constant`]).
    #[serde(default)]
    pub arrival: Arrival,
    /// At most this many requests (default: no cap); required for [`Arrival::Burst`].
    #[serde(default)]
    pub count: Option<u64>,
    /// Which URLs are asked for (default [`Urls::Distinct`]).
    #[serde(default)]
    pub urls: Urls,
    /// How keys are chosen when `urls` is a number (default [`Popularity::Uniform`]).
    #[serde(default)]
    pub popularity: Popularity,
    /// Distinct client addresses, spread over the L1 nodes (default 10).
    #[serde(default = "default_clients")]
    pub clients: u32,
    /// The scheme visitors use (default `https`).
    #[serde(default)]
    pub scheme: Scheme,
    /// URL path template; `{key}` is replaced by the key number
    /// (default `"/assets/{key}.png"`).
    #[serde(default = "default_path")]
    pub path: String,
    /// The request method (default `GET`).
    #[serde(default)]
    pub method: WorkloadMethod,
    /// The `Accept-Encoding` clients send, normalised: `gzip`, `br` or `identity`. With
    /// several, client *i* uses entry *i* mod the list's length (default `["gzip"]`). Matters
    /// when the origin sends `Vary: Accept-Encoding`.
    #[serde(default = "default_encodings")]
    pub accept_encoding: Vec<Encoding>,
}

fn default_encodings() -> Vec<Encoding> {
    vec![Encoding::Gzip]
}

fn default_rate() -> Rate {
    Rate::per_second_f64(10.0)
}

fn default_clients() -> u32 {
    10
}

/// The default URL path template.
pub const DEFAULT_PATH: &str = "/assets/{key}.png";

fn default_path() -> String {
    DEFAULT_PATH.to_string()
}

impl Default for Workload {
    /// Every documented default: 10/s constant from 0s, distinct URLs, 10 clients, HTTPS GET.
    fn default() -> Workload {
        Workload {
            start: Duration::ZERO,
            rate: default_rate(),
            arrival: Arrival::Constant,
            count: None,
            urls: Urls::Distinct,
            popularity: Popularity::Uniform,
            clients: default_clients(),
            scheme: Scheme::Https,
            path: default_path(),
            method: WorkloadMethod::Get,
            accept_encoding: default_encodings(),
        }
    }
}

/// How arrivals are spaced in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Evenly, one every `1 / rate`.
    #[default]
    Constant,
    /// A Poisson process of intensity `rate` (exponential gaps, drawn from the seed).
    Poisson,
    /// All `count` requests at `start`.
    Burst,
}

/// Which URLs (cache keys) a workload asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Urls {
    /// Every request asks for a new key (`"distinct"`): nothing is ever a cache hit.
    #[default]
    Distinct,
    /// Every request asks for the same key (`"one"`).
    One,
    /// Keys `0..N` (an integer `N >= 1`), chosen by [`Popularity`].
    Keys(u64),
}

/// How a key is chosen among `N` (with [`Urls::Keys`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Popularity {
    /// Every key equally likely (`"uniform"`).
    #[default]
    Uniform,
    /// Zipf with exponent `S > 0` (`"zipf:1.0"`): key `k` (from 1) has weight `1 / k^S`.
    Zipf(f64),
}

/// The request method of a workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum WorkloadMethod {
    /// `GET`: cacheable.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// `HEAD`: cacheable, answered from a GET's cache entry.
    #[serde(rename = "HEAD")]
    Head,
    /// `POST`: never served from cache.
    #[serde(rename = "POST")]
    Post,
}

impl WorkloadMethod {
    /// `"GET"`, `"HEAD"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadMethod::Get => "GET",
            WorkloadMethod::Head => "HEAD",
            WorkloadMethod::Post => "POST",
        }
    }
}

impl From<WorkloadMethod> for cdn_core::Method {
    fn from(m: WorkloadMethod) -> cdn_core::Method {
        match m {
            WorkloadMethod::Get => cdn_core::Method::Get,
            WorkloadMethod::Head => cdn_core::Method::Head,
            WorkloadMethod::Post => cdn_core::Method::Other,
        }
    }
}

const URLS_ALLOWED: &str = "allowed: \"distinct\", \"one\", or a number of keys N >= 1 (e.g. 100)";
const POPULARITY_ALLOWED: &str =
    "allowed: \"uniform\", or \"zipf:S\" with S > 0 (e.g. \"zipf:1.0\")";

impl<'de> Deserialize<'de> for Urls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Urls, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Urls;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"distinct\", \"one\", or a number of keys N >= 1")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Urls, E> {
                match s {
                    "distinct" => Ok(Urls::Distinct),
                    "one" => Ok(Urls::One),
                    _ => match s.trim().parse::<u64>() {
                        Ok(n) => Ok(Urls::Keys(n)),
                        Err(_) => Err(E::custom(format!("unknown value {s:?}; {URLS_ALLOWED}"))),
                    },
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Urls, E> {
                Ok(Urls::Keys(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Urls, E> {
                u64::try_from(n)
                    .map(Urls::Keys)
                    .map_err(|_| E::custom(format!("{n} is not a number of keys; {URLS_ALLOWED}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Popularity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Popularity, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || de::Error::custom(format!("unknown value {s:?}; {POPULARITY_ALLOWED}"));
        match s.trim() {
            "uniform" => Ok(Popularity::Uniform),
            other => {
                let exponent = other.strip_prefix("zipf:").ok_or_else(bad)?;
                exponent
                    .trim()
                    .parse::<f64>()
                    .map(Popularity::Zipf)
                    .map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for Urls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Urls::Distinct => f.write_str("distinct"),
            Urls::One => f.write_str("one"),
            Urls::Keys(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Popularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Popularity::Uniform => f.write_str("uniform"),
            Popularity::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

impl Workload {
    /// Checks what types alone cannot. Keys in the error are relative to the workload table.
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        let key = |k: &str| KeyPath::root().key(k);
        if self.arrival == Arrival::Burst && self.count.is_none() {
            return Err(Invalid::new(
                key("count"),
                "required when arrival = \"burst\" (all `count` requests arrive at `start`); \
                 e.g. count = 20",
            )
            .near(key("arrival")));
        }
        if self.count == Some(0) {
            return Err(Invalid::new(
                key("count"),
                "must be at least 1 (leave it out for no cap)",
            ));
        }
        if self.accept_encoding.is_empty() {
            return Err(Invalid::new(
                key("accept_encoding"),
                "must list at least one encoding; allowed: gzip, br, identity",
            ));
        }
        let per_second = self.rate.per_second();
        if self.arrival != Arrival::Burst && !(per_second > 0.0 && per_second.is_finite()) {
            return Err(Invalid::new(
                key("rate"),
                format!("must be more than zero, found {per_second}/s; e.g. \"100/s\", \"600/m\""),
            ));
        }
        if self.urls == Urls::Keys(0) {
            return Err(Invalid::new(
                key("urls"),
                format!("0 keys cannot be asked for; {URLS_ALLOWED}"),
            ));
        }
        if let Popularity::Zipf(s) = self.popularity {
            if !(s > 0.0 && s.is_finite()) {
                return Err(Invalid::new(
                    key("popularity"),
                    format!(
                        "the zipf exponent must be more than 0, found {s}; {POPULARITY_ALLOWED}"
                    ),
                ));
            }
        }
        if self.clients == 0 {
            return Err(Invalid::new(key("clients"), "must be at least 1"));
        }
        if !self.path.starts_with('/') {
            return Err(Invalid::new(
                key("path"),
                format!(
                    "must start with \"/\", found {:?}; e.g. {DEFAULT_PATH:?}",
                    self.path
                ),
            ));
        }
        if self.urls != Urls::One && !self.path.contains("{key}") {
            return Err(Invalid::new(
                key("path"),
                format!(
                    "must contain \"{{key}}\" (replaced by the key number) unless urls = \"one\"; \
                     e.g. {DEFAULT_PATH:?}"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Workload, toml::de::Error> {
        toml::from_str(src)
    }

    #[test]
    fn defaults_are_documented_ones() {
        assert_eq!(parse("").unwrap(), Workload::default());
        assert_eq!(Workload::default().rate.per_second(), 10.0);
    }

    #[test]
    fn urls_take_names_or_a_number() {
        assert_eq!(parse("urls = 'one'").unwrap().urls, Urls::One);
        assert_eq!(parse("urls = 100").unwrap().urls, Urls::Keys(100));
        let e = parse("urls = 'many'").unwrap_err().to_string();
        assert!(e.contains("\"distinct\", \"one\""), "{e}");
        assert!(parse("urls = -3").is_err());
    }

    #[test]
    fn popularity_parses_zipf_exponents() {
        assert_eq!(
            parse("popularity = 'zipf:1.2'").unwrap().popularity,
            Popularity::Zipf(1.2)
        );
        assert!(parse("popularity = 'zipf'").is_err());
        let w = parse("urls = 5\npopularity = 'zipf:-1'").unwrap();
        assert_eq!(w.check().unwrap_err().key.to_string(), "popularity");
    }

    #[test]
    fn methods_are_upper_case() {
        assert_eq!(
            parse("method = 'HEAD'").unwrap().method,
            WorkloadMethod::Head
        );
        assert!(parse("method = 'get'").is_err());
    }

    #[test]
    fn burst_needs_a_count() {
        let w = parse("arrival = 'burst'").unwrap();
        let e = w.check().unwrap_err();
        assert_eq!(e.key.to_string(), "count");
        assert_eq!(e.near.unwrap().to_string(), "arrival");
        assert!(parse("arrival = 'burst'\ncount = 20")
            .unwrap()
            .check()
            .is_ok());
    }
}
