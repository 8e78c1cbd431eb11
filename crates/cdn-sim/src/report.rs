//! Run reports: data first (serde), then text.
//!
//! The JSON form is the user-facing contract: keys sorted, the same run prints the same bytes.
//! In Rust the maps are typed — keyed by [`StatusCode`], [`Tier`] and [`CacheStatus`] — and
//! serialize to the same strings (`"521"`, `"l1"`, `"HIT"`).

use crate::latency::LatencyCounts;
use crate::scenario::Scenario;
use cdn_core::cache::CacheStatus;
use cdn_core::trace::TraceEvent;
use cdn_core::{Response, Tier, Trace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// An HTTP status code as a report key: ordered by number, written as its decimal string
/// (`"521"`) in JSON, where object keys are strings.
///
/// ```
/// use cdn_sim::report::StatusCode;
/// assert_eq!(serde_json::to_string(&StatusCode(521)).unwrap(), "\"521\"");
/// assert_eq!(StatusCode::from(502).to_string(), "502");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl From<u16> for StatusCode {
    fn from(code: u16) -> StatusCode {
        StatusCode(code)
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A string, not a number: it is a JSON object key (`"status": {"521": 40}`).
        s.collect_str(self)
    }
}

/// Per-tier cache accounting: `hit` (served from this tier's cache, fresh or stale) and `miss`
/// (asked the next tier), plus a breakdown by cache status; the same in bytes of body, and
/// both as ratios.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TierCounts {
    /// Served from this tier's cache.
    pub hit: u64,
    /// Forwarded to the next tier.
    pub miss: u64,
    /// By cache status (`HIT`, `MISS`, `EXPIRED`, `STALE`, ...).
    pub statuses: BTreeMap<CacheStatus, u64>,
    /// `hit / (hit + miss)`: the object hit ratio (`null` when the tier saw no request).
    pub hit_ratio: Option<f64>,
    /// Body bytes of the responses this tier served from its cache (`null` when the run
    /// does not measure bytes: net mode).
    pub byte_hit: Option<u64>,
    /// Body bytes of the responses this tier got from the next tier (or generated).
    pub byte_miss: Option<u64>,
    /// `byte_hit / (byte_hit + byte_miss)`: the byte hit ratio (`null` without bytes).
    pub byte_hit_ratio: Option<f64>,
}

/// Per-status counters for one tier, as the engine keeps them (arrays: counting is on the
/// hot path). Each response a tier sends downstream is counted once, by the cache status it
/// had at this tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    requests: [u64; 8],
    bytes: [u64; 8],
    /// Body bytes by the tier that generated the response: l1, l2, origin.
    bytes_by_generator: [u64; 3],
    /// Whether bytes were counted (by [`StatusCounts::count_response`]).
    sized: bool,
}

impl StatusCounts {
    /// Counts one request's cache status (no bytes: for drivers that do not see bodies).
    pub fn count(&mut self, status: CacheStatus) {
        self.requests[status.index()] += 1;
    }

    /// Counts one response this tier sent downstream: its cache status here, and its body
    /// bytes (by status and by the tier that generated it).
    pub fn count_response(&mut self, status: CacheStatus, response: &Response) {
        let i = status.index();
        self.requests[i] += 1;
        self.bytes[i] += response.body_len;
        self.bytes_by_generator[tier_slot(response.generated_by)] += response.body_len;
        self.sized = true;
    }

    /// Body bytes counted, if any were (`None` when only statuses were counted).
    pub fn bytes(&self) -> Option<u64> {
        self.sized.then(|| self.bytes.iter().sum())
    }

    /// Body bytes of the counted responses that `tier` generated, if bytes were counted.
    pub fn bytes_generated_by(&self, tier: Tier) -> Option<u64> {
        self.sized.then(|| self.bytes_by_generator[tier_slot(tier)])
    }
}

fn tier_slot(tier: Tier) -> usize {
    match tier {
        Tier::L1 => 0,
        Tier::L2 => 1,
        Tier::Origin => 2,
    }
}

/// `part / whole`, rounded to 6 decimals (reports print what a person reads), or `None` when
/// `whole` is 0.
fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| ((part / whole) * 1e6).round() / 1e6)
}

impl From<StatusCounts> for TierCounts {
    fn from(c: StatusCounts) -> TierCounts {
        let mut t = TierCounts::default();
        let (mut byte_hit, mut byte_miss) = (0, 0);
        for status in CacheStatus::ALL {
            let (n, bytes) = (c.requests[status.index()], c.bytes[status.index()]);
            if n == 0 {
                continue;
            }
            if status.served_from_cache() {
                t.hit += n;
                byte_hit += bytes;
            } else {
                t.miss += n;
                byte_miss += bytes;
            }
            t.statuses.insert(status, n);
        }
        t.hit_ratio = ratio(t.hit as f64, (t.hit + t.miss) as f64);
        if c.sized {
            t.byte_hit = Some(byte_hit);
            t.byte_miss = Some(byte_miss);
            t.byte_hit_ratio = ratio(byte_hit as f64, (byte_hit + byte_miss) as f64);
        }
        t
    }
}

/// Body bytes served to clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByteCounts {
    /// All of them.
    pub served: u64,
    /// Those the origin generated (the rest came from a cache or was generated by the CDN).
    pub from_origin: u64,
}

/// How much of the traffic the CDN kept away from the origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OriginOffload {
    /// `1 - origin_requests / requests` (`null` without requests). Background revalidations
    /// and requests the origin rejected count as origin requests, so it can be negative.
    pub requests: Option<f64>,
    /// `1 - bytes.from_origin / bytes.served` (`null` without bytes).
    pub bytes: Option<f64>,
}

/// What a run counted, handed from the engine to [`Report::build`].
#[derive(Clone, Debug, Default)]
pub struct RunCounts {
    /// Client requests sent.
    pub requests: u64,
    /// Per status code: responses generated by l1, l2, origin.
    pub status: BTreeMap<u16, [u64; 3]>,
    /// HTTP requests that reached the origin.
    pub origin_requests: u64,
    /// L1 cache accounting.
    pub l1: StatusCounts,
    /// L2 cache accounting.
    pub l2: StatusCounts,
    /// Client-observed latencies.
    pub latency: LatencyCounts,
    /// Each L2's egress pool as CIDR blocks.
    pub egress_pools: BTreeMap<String, Vec<String>>,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// The result of one run, as printed by `--json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// `"sim"` (virtual time) or `"net"` (real sockets).
    pub mode: String,
    /// The seed used.
    pub seed: u64,
    /// The profile used.
    pub profile: String,
    /// Client requests sent.
    pub requests: u64,
    /// What clients saw, by status code.
    pub status: BTreeMap<StatusCode, u64>,
    /// Which tier produced each status: `generated_by[&code][&tier]`.
    pub generated_by: BTreeMap<StatusCode, BTreeMap<Tier, u64>>,
    /// HTTP requests that reached the origin server (including those its defences rejected).
    pub origin_requests: u64,
    /// Cache accounting per tier (`l1` and `l2`).
    pub cache: BTreeMap<Tier, TierCounts>,
    /// Body bytes served to clients (`null` when the run does not measure bytes: net mode).
    pub bytes: Option<ByteCounts>,
    /// The share of requests and bytes that did not reach the origin.
    pub origin_offload: OriginOffload,
    /// Client-observed latency.
    pub latency_ms: LatencySummary,
    /// Each L2's back-to-origin pool at the end of the run, as the fewest CIDR blocks (what
    /// an API such as Alibaba's `DescribeL2VipsByDomain` returns): what an origin must
    /// whitelist.
    pub egress_pools: BTreeMap<String, Vec<String>>,
    /// Net mode only: the time scale and how late the real timers fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<NetTiming>,
}

/// How a net-mode run kept time: the scale it ran at, what the scenario tolerates, and how
/// late the real timers fired (all in virtual milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetTiming {
    /// Real seconds per virtual second.
    pub time_scale: f64,
    /// How the scale was chosen: `"auto"` or `"given"` (`--time-scale`).
    pub chosen: String,
    /// The lateness the scenario's counts tolerate (from perturbed simulations).
    pub tolerated_ms: f64,
    /// Timers measured.
    pub timers: u64,
    /// 99th percentile of their lateness.
    pub lag_p99_ms: f64,
    /// The latest any fired.
    pub lag_max_ms: f64,
    /// Whether every timer stayed within what the scenario tolerates: if not, the counts
    /// may differ from the simulator's — or, where some were later, replaying the measured
    /// lateness in the simulator still gives the same counts (`replayed`).
    pub faithful: bool,
    /// Some timers were later than the scenario tolerates at every extreme, and the
    /// simulator replayed this run's measured lateness (its histogram, up to its maximum):
    /// the counts stayed the model's.
    pub replayed: bool,
    /// Earlier runs at a faster, automatically chosen scale that were later than the
    /// scenario tolerates, so were made again slower (their counts are not reported).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<NetAttempt>,
}

/// A net-mode run that was too late to report and was made again slower.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetAttempt {
    /// Its scale.
    pub time_scale: f64,
    /// The latest any of its timers fired (virtual ms).
    pub lag_max_ms: f64,
}

impl Report {
    /// Assembles a report from a run's counters.
    pub fn build(scenario: &Scenario, counts: RunCounts) -> Report {
        let RunCounts {
            requests,
            status,
            origin_requests,
            l1,
            l2,
            latency,
            egress_pools,
        } = counts;
        let tiers = [Tier::L1, Tier::L2, Tier::Origin];
        let mut by_status = BTreeMap::new();
        let mut generated_by = BTreeMap::new();
        for (&code, counts) in &status {
            by_status.insert(StatusCode(code), counts.iter().sum());
            let per_tier: BTreeMap<Tier, u64> = tiers
                .iter()
                .zip(counts)
                .filter(|(_, &n)| n > 0)
                .map(|(&t, &n)| (t, n))
                .collect();
            generated_by.insert(StatusCode(code), per_tier);
        }
        let bytes = l1.bytes().map(|served| ByteCounts {
            served,
            from_origin: l1.bytes_generated_by(Tier::Origin).unwrap_or(0),
        });
        let origin_offload = OriginOffload {
            requests: ratio(origin_requests as f64, requests as f64).map(offload),
            bytes: bytes
                .as_ref()
                .and_then(|b| ratio(b.from_origin as f64, b.served as f64))
                .map(offload),
        };
        Report {
            scenario: scenario.name.clone(),
            mode: "sim".into(),
            seed: scenario.seed,
            profile: scenario.profile.as_str().into(),
            requests,
            status: by_status,
            generated_by,
            origin_requests,
            cache: BTreeMap::from([(Tier::L1, l1.into()), (Tier::L2, l2.into())]),
            bytes,
            origin_offload,
            latency_ms: LatencySummary {
                p50: latency.percentile_ms(50.0),
                p90: latency.percentile_ms(90.0),
                p99: latency.percentile_ms(99.0),
                max: latency.max_ms(),
                mean: latency.mean_ms(),
            },
            egress_pools,
            timing: None,
        }
    }

    /// Requests that got `status`, whoever generated them.
    pub fn count(&self, status: u16) -> u64 {
        self.status.get(&StatusCode(status)).copied().unwrap_or(0)
    }

    /// Requests that got `status` generated by `tier`.
    pub fn generated(&self, status: u16, tier: Tier) -> u64 {
        self.generated_by
            .get(&StatusCode(status))
            .and_then(|m| m.get(&tier))
            .copied()
            .unwrap_or(0)
    }

    /// `tier`'s cache accounting (`None` for [`Tier::Origin`], which has no cache).
    pub fn cache_at(&self, tier: Tier) -> Option<&TierCounts> {
        self.cache.get(&tier)
    }

    /// Requests `tier` answered with cache status `status`.
    pub fn cache_count(&self, tier: Tier, status: CacheStatus) -> u64 {
        self.cache_at(tier)
            .and_then(|c| c.statuses.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// One JSON object with keys sorted at every level.
    pub fn to_json(&self) -> String {
        // serde_json's Value map is ordered by key, so a round trip sorts everything.
        let value = serde_json::to_value(self).expect("reports are plain data");
        serde_json::to_string_pretty(&value).expect("reports are plain data")
    }

    /// The terminal summary.
    pub fn to_text(&self, description: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scenario {} · profile {} · seed {} · {} requests · {} origin requests",
            self.scenario, self.profile, self.seed, self.requests, self.origin_requests
        );
        if !description.is_empty() {
            let _ = writeln!(s, "\n{}", wrap(description, 92, "  "));
        }
        let _ = writeln!(s, "\n  status  requests  share   generated by");
        for (code, n) in &self.status {
            let share = 100.0 * *n as f64 / self.requests.max(1) as f64;
            let by: Vec<String> = self.generated_by[code]
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  {:>6}  {n:>8}  {share:>5.1}%  {}  {}",
                code.to_string(),
                by.join(", "),
                meaning(code.0)
            );
        }
        let _ = writeln!(
            s,
            "\n  cache   hit      miss     hit ratio  byte hit ratio  statuses"
        );
        for (tier, c) in &self.cache {
            let statuses: Vec<String> =
                c.statuses.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                s,
                "  {:<6}  {:<7}  {:<7}  {:<9}  {:<14}  {}",
                tier.as_str(),
                c.hit,
                c.miss,
                percent(c.hit_ratio),
                percent(c.byte_hit_ratio),
                statuses.join(", ")
            );
        }
        let o = &self.origin_offload;
        let bytes = match (&self.bytes, o.bytes) {
            (Some(b), Some(_)) => format!(
                ", {} of bytes ({} of {} came from the origin)",
                percent(o.bytes),
                size(b.from_origin),
                size(b.served)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "\n  origin offload  {} of requests{bytes}",
            percent(o.requests)
        );
        let _ = writeln!(
            s,
            "\n  back-to-origin pools (whitelist these CIDR blocks at the origin):"
        );
        for (node, blocks) in &self.egress_pools {
            let _ = writeln!(s, "  {node:<14}  {}", blocks.join(", "));
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "\n  latency ms  p50 {}  p90 {}  p99 {}  max {}  mean {}",
            l.p50, l.p90, l.p99, l.max, l.mean
        );
        if let Some(t) = &self.timing {
            let verdict = match (t.faithful, t.replayed) {
                (true, false) => "within",
                (true, true) => "beyond",
                (false, _) => "BEYOND",
            };
            let _ = writeln!(
                s,
                "\n  real time   scale {} ({})  timers {}  late p99 {:.1} ms, max {:.1} ms: {verdict} the {:.1} ms this scenario tolerates",
                t.time_scale, t.chosen, t.timers, t.lag_p99_ms, t.lag_max_ms, t.tolerated_ms
            );
            if t.replayed {
                let _ = writeln!(
                    s,
                    "              at every timer; replayed in the simulator, this run's lateness keeps every count"
                );
            }
            for e in &t.earlier {
                let _ = writeln!(
                    s,
                    "              made again: at scale {} timers were up to {:.1} ms late",
                    e.time_scale, e.lag_max_ms
                );
            }
        }
        s
    }
}

/// `1 - share`, kept at 6 decimals.
fn offload(share: f64) -> f64 {
    ((1.0 - share) * 1e6).round() / 1e6
}

/// A ratio as a percentage for the table, `-` when undefined.
fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", 100.0 * r))
}

/// A code's reason phrase as the status line carries it (the vendor's for 52x), else the
/// explanation's title (nginx's status 9 has no status line).
fn meaning(code: u16) -> &'static str {
    cdn_core::profile::reason_phrase(code)
        .or_else(|| crate::explain::lookup(code).map(|e| e.title))
        .unwrap_or("")
}

pub(crate) fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n") {
        let mut line = String::from(indent);
        for word in para.split_whitespace() {
            if line.len() + word.len() + 1 > width && !line.trim().is_empty() {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(indent);
            }
            line.push_str(word);
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push_str("\n\n");
    }
    out.trim_end().to_string()
}

/// Renders traces as hop-by-hop stories.
pub fn traces_to_text(traces: &[Trace]) -> String {
    let mut s = String::new();
    for t in traces {
        let age = t.age_s.map(|a| format!(", Age {a}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "request #{} GET {} from {} → {}{} (generated by {}, {}{age}) in {}",
            t.request,
            t.path,
            t.client,
            t.status,
            // The status line's words; nginx's status 9 has no status line.
            cdn_core::profile::reason_phrase(t.status)
                .map(|p| format!(" {p}"))
                .unwrap_or_default(),
            t.generated_by,
            t.cache_status,
            ms(t.latency)
        );
        for step in &t.steps {
            let _ = writeln!(
                s,
                "  {:>11}  {:<16} {}",
                ms(step.at),
                step.node,
                describe(&step.event)
            );
        }
        s.push('\n');
    }
    s
}

/// Bytes in binary units, as a person reads them: `512 B`, `4.0 KiB`, `1.5 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn ms(d: std::time::Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v >= 10_000.0 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{v:.1}ms")
    }
}

fn describe(e: &TraceEvent) -> String {
    use cdn_core::origin::ConnectVerdict as V;
    match e {
        TraceEvent::Received => "received the request".into(),
        TraceEvent::Cache { status, age_s } => match age_s {
            Some(a) => format!("cache {status} (Age {a}s)"),
            None => format!("cache {status}"),
        },
        TraceEvent::Connect {
            to,
            peer,
            port,
            egress,
            reused,
            verdict,
            attempt,
        } => {
            let from = egress.map(|e| format!(" from {e}")).unwrap_or_default();
            let att = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            let what = match (reused, verdict) {
                (true, _) => "reused an idle connection".to_string(),
                (false, Some(V::Accept)) => "handshake completed".into(),
                (false, Some(V::Refuse)) => {
                    "refused: RST (nothing listening or firewall reject)".into()
                }
                (false, Some(V::Drop)) => {
                    "SYN dropped: no answer, waiting for the connect timeout".into()
                }
                (false, Some(V::Unreachable)) => "ICMP: no route to host".into(),
                (false, None) => "connecting".into(),
            };
            format!("connect to {to} {peer}:{port}{from}{att}: {what}")
        }
        TraceEvent::SynSent { transmission: 1 } => "SYN sent: no answer".into(),
        TraceEvent::SynSent { transmission } => {
            format!("SYN retransmitted (#{transmission}): no answer")
        }
        TraceEvent::TlsEstablished { verified } => {
            if *verified {
                "TLS established, certificate verified".into()
            } else {
                "TLS established, certificate not checked".into()
            }
        }
        TraceEvent::RequestSent => "request sent, waiting for the response header".into(),
        TraceEvent::Defended { by } => format!("rejected by {by:?} → error response"),
        TraceEvent::Failed { failure, waited } => {
            format!("failed: {failure} after {}", ms(*waited))
        }
        TraceEvent::Generated { status, reason } => format!("generates {status}: {reason}"),
        TraceEvent::ServedStale { instead_of } => {
            format!("serves a stale copy instead of {instead_of} (stale-if-error)")
        }
        TraceEvent::Retry { policy } => format!("parent failed; on_parent_error = {policy}"),
        TraceEvent::Stored { ttl_s } => format!("stored, fresh for {ttl_s}s"),
        TraceEvent::NotStored { reason } => format!("not stored: {reason}"),
        TraceEvent::Collapsed => {
            "waits: a request for the same key is already upstream (collapsing)".into()
        }
        TraceEvent::CollapseTimeout => {
            "waited the collapse timeout: goes upstream itself, response not cached".into()
        }
        TraceEvent::Conditional { etag } => match etag {
            Some(v) => format!("revalidates its stale copy: If-None-Match: \"v{v}\""),
            None => "revalidates its stale copy: If-Modified-Since".into(),
        },
        TraceEvent::Revalidated => "304 Not Modified: stored copy refreshed and served".into(),
        TraceEvent::Responded {
            status,
            generated_by,
        } => format!("← {status} (generated by {generated_by})"),
        _ => format!("{e:?}"),
    }
}
