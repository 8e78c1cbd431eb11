//! `[[workload]]`: who asks for what, how often.

use super::error::Invalid;
use super::locate::KeyPath;
use crate::replay::{self, CsvColumns, TimeUnit, TraceFormat, TraceSpec};
use cdn_core::message::Encoding;
use cdn_core::units::{serde_units, Rate};
use cdn_core::Scheme;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `[[workload]]` table: a stream of requests, generated or replayed from a trace.
/// Several workloads may overlap.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "WorkloadFile")]
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
    /// Replay this request log instead of generating requests (`trace = "FILE"` and the
    /// keys that say how to read it; default: none). `urls`, `popularity` and `arrival` do
    /// not apply; `rate` paces a csv trace that has no time column.
    pub trace: Option<TraceSpec>,
}

/// A `[[workload]]` table as written: every key, flat (the trace keys sit beside the
/// generator's, as in libCacheSim's parameter strings).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default, with = "serde_units::duration")]
    start: Duration,
    #[serde(default = "default_rate", with = "serde_units::from_str")]
    rate: Rate,
    #[serde(default)]
    arrival: Arrival,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    urls: Urls,
    #[serde(default)]
    popularity: Popularity,
    #[serde(default = "default_clients")]
    clients: u32,
    #[serde(default)]
    scheme: Scheme,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default)]
    method: WorkloadMethod,
    #[serde(default = "default_encodings")]
    accept_encoding: Vec<Encoding>,
    #[serde(default)]
    trace: Option<PathBuf>,
    #[serde(default)]
    format: Option<TraceFormat>,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    time_unit: Option<TimeUnit>,
    #[serde(default)]
    time_col: Option<u32>,
    #[serde(default)]
    obj_id_col: Option<u32>,
    #[serde(default)]
    obj_size_col: Option<u32>,
    #[serde(default)]
    client_col: Option<u32>,
    #[serde(default)]
    delimiter: Option<char>,
    #[serde(default)]
    has_header: Option<bool>,
    #[serde(default)]
    obj_id_is_num: Option<bool>,
    #[serde(default)]
    ignore_size_zero_req: Option<bool>,
}

impl TryFrom<WorkloadFile> for Workload {
    type Error = String;

    fn try_from(f: WorkloadFile) -> Result<Workload, String> {
        let trace = match f.trace {
            Some(file) => Some(TraceSpec {
                file,
                format: f.format.unwrap_or_default(),
                speed: f.speed.unwrap_or(1.0),
                time_unit: f.time_unit.unwrap_or_default(),
                columns: CsvColumns {
                    time_col: f.time_col,
                    obj_id_col: f.obj_id_col,
                    obj_size_col: f.obj_size_col,
                    client_col: f.client_col,
                },
                delimiter: f.delimiter,
                has_header: f.has_header,
                obj_id_is_num: f.obj_id_is_num,
                ignore_size_zero_req: f.ignore_size_zero_req,
            }),
            None => {
                let given = [
                    ("format", f.format.is_some()),
                    ("speed", f.speed.is_some()),
                    ("time_unit", f.time_unit.is_some()),
                    ("time_col", f.time_col.is_some()),
                    ("obj_id_col", f.obj_id_col.is_some()),
                    ("obj_size_col", f.obj_size_col.is_some()),
                    ("client_col", f.client_col.is_some()),
                    ("delimiter", f.delimiter.is_some()),
                    ("has_header", f.has_header.is_some()),
                    ("obj_id_is_num", f.obj_id_is_num.is_some()),
                    ("ignore_size_zero_req", f.ignore_size_zero_req.is_some()),
                ];
                if let Some((key, _)) = given.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "`{key}` only applies to a trace workload: add trace = \"FILE\" \
                         (see docs/traces.md), or remove `{key}`"
                    ));
                }
                None
            }
        };
        Ok(Workload {
            start: f.start,
            rate: f.rate,
            arrival: f.arrival,
            count: f.count,
            urls: f.urls,
            popularity: f.popularity,
            clients: f.clients,
            scheme: f.scheme,
            path: f.path,
            method: f.method,
            accept_encoding: f.accept_encoding,
            trace,
        })
    }
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

/// The most requests a `burst` may send: all of them are in flight at the same instant, and
/// the engine keeps about 1.3 KiB per request in flight (measured: a burst of 1M peaks at
/// 1.3 GB), so this bounds a burst's memory near 1.3 GB.
pub const MAX_BURST: u64 = 1_000_000;

/// The highest `rate` of one workload. Requests that miss stay in flight for at least the
/// round trips to the origin (70 ms at the default RTTs and 20 ms service time), so 10M/s
/// of misses keeps ~700,000 requests (~0.9 GB) in flight.
pub const MAX_RATE_PER_S: f64 = 10_000_000.0;

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
            trace: None,
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
        if self.arrival == Arrival::Burst && self.count.is_some_and(|c| c > MAX_BURST) {
            return Err(Invalid::new(
                key("count"),
                format!(
                    "a burst of {} requests puts them all in flight at once; the simulator \
                     holds at most {MAX_BURST} requests in flight (about 1.3 KiB each); use a \
                     smaller count, or arrival = \"constant\" with a rate",
                    self.count.unwrap_or(0)
                ),
            )
            .near(key("arrival")));
        }
        if self.arrival != Arrival::Burst && per_second > MAX_RATE_PER_S {
            return Err(Invalid::new(
                key("rate"),
                format!(
                    "{per_second}/s is above the simulator's limit of {MAX_RATE_PER_S}/s per \
                     workload: at the default round-trip times, misses at 10M/s already keep \
                     ~700,000 requests in flight; split the load over workloads or lower it"
                ),
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
        if let Some(t) = &self.trace {
            self.check_trace(t)?;
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

impl Workload {
    /// The trace keys: what each format takes, and keys of the generator that a trace
    /// replaces.
    fn check_trace(&self, t: &TraceSpec) -> Result<(), Invalid> {
        let key = |k: &str| KeyPath::root().key(k);
        if !(t.speed > 0.0 && t.speed.is_finite()) {
            return Err(Invalid::new(
                key("speed"),
                format!(
                    "must be a number above 0, found {}; e.g. speed = 2.0 replays twice as \
                     fast as recorded",
                    t.speed
                ),
            ));
        }
        let replaced = [
            ("arrival", self.arrival != Arrival::Constant),
            ("urls", self.urls != Urls::Distinct),
            ("popularity", self.popularity != Popularity::Uniform),
        ];
        if let Some((k, _)) = replaced.iter().find(|(_, set)| *set) {
            return Err(Invalid::new(
                key(k),
                format!(
                    "does not apply to a trace workload: the trace says which objects are \
                     asked for and when; remove `{k}` or `trace`"
                ),
            )
            .near(key("trace")));
        }
        let c = t.columns;
        let csv_only = [
            ("time_col", c.time_col.is_some()),
            ("obj_id_col", c.obj_id_col.is_some()),
            ("obj_size_col", c.obj_size_col.is_some()),
            ("client_col", c.client_col.is_some()),
            ("delimiter", t.delimiter.is_some()),
            ("has_header", t.has_header.is_some()),
        ];
        let format = t.format.as_str();
        if t.format != TraceFormat::Csv {
            if let Some((k, _)) = csv_only.iter().find(|(_, set)| *set) {
                return Err(Invalid::new(
                    key(k),
                    format!(
                        "only applies with format = \"csv\" (this trace's format is \
                         \"{format}\"{})",
                        if t.format == TraceFormat::Native {
                            ": a native trace names its columns in its header line"
                        } else {
                            ""
                        }
                    ),
                )
                .near(key("format")));
            }
        }
        if t.format == TraceFormat::OracleGeneral && t.obj_id_is_num.is_some() {
            return Err(Invalid::new(
                key("obj_id_is_num"),
                "only applies to text traces (format = \"csv\" or \"native\"); \
                 oracleGeneral object ids are always numbers",
            )
            .near(key("format")));
        }
        if t.format == TraceFormat::Csv {
            if c.obj_id_col.is_none() {
                return Err(Invalid::new(
                    key("obj_id_col"),
                    "required with format = \"csv\": the column (from 1) that holds the \
                     object id; e.g. obj_id_col = 2",
                )
                .near(key("format")));
            }
            let cols = [
                ("time_col", c.time_col),
                ("obj_id_col", c.obj_id_col),
                ("obj_size_col", c.obj_size_col),
                ("client_col", c.client_col),
            ];
            for (i, (k, col)) in cols.iter().enumerate() {
                let Some(col) = col else { continue };
                if *col == 0 {
                    return Err(Invalid::new(
                        key(k),
                        "columns are numbered from 1, as in libCacheSim; e.g. obj_id_col = 2",
                    ));
                }
                if let Some((other, _)) = cols[..i].iter().find(|(_, o)| *o == Some(*col)) {
                    return Err(Invalid::new(
                        key(k),
                        format!(
                            "column {col} is already `{other}`; each field needs its own column"
                        ),
                    ));
                }
            }
            if let Some(d) = t.delimiter {
                if !d.is_ascii() || matches!(d, '"' | '\n' | '\r') {
                    return Err(Invalid::new(
                        key("delimiter"),
                        format!(
                            "{d:?} cannot separate fields; allowed: one ASCII character other \
                             than a quote or a line break, e.g. \",\", \"\\t\", \"|\""
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Resolves each trace's path (a relative one against `base`, the scenario file's
/// directory) and reads the whole trace once, so that a bad record stops the scenario
/// before it runs, with the file, record and field in the message.
pub(crate) fn open_traces(workloads: &mut [Workload], base: Option<&Path>) -> Result<(), Invalid> {
    for (i, w) in workloads.iter_mut().enumerate() {
        let Some(t) = w.trace.as_mut() else { continue };
        if let Some(base) = base {
            if t.file.is_relative() {
                t.file = base.join(&t.file);
            }
        }
        replay::scan(t).map_err(|e| {
            Invalid::new(
                KeyPath::root().key("workload").index(i).key("trace"),
                e.to_string(),
            )
        })?;
    }
    Ok(())
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
