//! Scenario files: the TOML a user writes, loaded into checked, fully resolved configuration.
//!
//! ```text
//!  source ──toml_edit──► line index        (every key → its line)
//!     │
//!     └──serde──► RawScenario ──validate──► Scenario { cdn, network, origin, workloads,
//!                     │                                events: [world after each patch] }
//!                     └── any failure ──► ScenarioError "file:line: key: what; allowed: ..."
//! ```
//!
//! The sections reuse the core's configuration types ([`CdnConfig`], [`NetworkConfig`],
//! [`OriginConfig`]) and their `validate()`; this module adds the top-level keys,
//! `[[workload]]`, `[[event]]`, and errors that name the file, line, key and what is allowed.
//! `docs/scenarios.md` is the reference for every key.
//!
//! ```
//! use cdn_sim::scenario::{Scenario, Urls};
//! let s = Scenario::from_toml(r#"
//! name = "origin-down"
//! profile = "nginx"
//! [[workload]]
//! urls = "one"
//! count = 5
//! [[event]]
//! at = "3s"
//! origin = { state = "down" }
//! "#, "origin-down.toml").unwrap();
//! assert_eq!(s.workloads[0].urls, Urls::One);
//! assert_eq!(s.events[0].changes, r#"origin.state = "down""#);
//! assert_eq!(s.events[0].origin.state, cdn_core::OriginState::Down);
//! ```

mod builder;
mod error;
mod event;
mod locate;
mod workload;

pub use builder::{ScenarioBuilder, World};
pub use error::ScenarioError;
pub use workload::{
    Arrival, Popularity, Urls, Workload, WorkloadMethod, DEFAULT_PATH, MAX_BURST, MAX_RATE_PER_S,
};

use cdn_core::egress::PoolError;
use cdn_core::units::serde_units;
use cdn_core::{CdnConfig, ConfigError, EgressPool, NetworkConfig, OriginConfig, Profile};
use error::{probe, translate, Invalid};
use event::RawEvent;
use locate::{line_of_offset, KeyPath, LineIndex, Seg};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// A loaded, validated scenario: everything a run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Short identifier, shown in reports (required).
    pub name: String,
    /// One line for `cdn-sim list` (default `""`).
    pub description: String,
    /// Seed of every random choice (default 0): same seed, same report.
    pub seed: u64,
    /// Whose error codes and default timeouts (default `cloudflare`).
    pub profile: Profile,
    /// How long workloads generate arrivals (default 10 s).
    pub duration: Duration,
    /// `[cdn]`, `[[cdn.l1]]`, `[[cdn.l2]]` at the start of the run.
    pub cdn: CdnConfig,
    /// `[network]` at the start of the run.
    pub network: NetworkConfig,
    /// `[origin]` at the start of the run.
    pub origin: OriginConfig,
    /// `[[workload]]` tables, in file order (at least one).
    pub workloads: Vec<Workload>,
    /// `[[event]]` tables, sorted by `at` (file order for equal `at`).
    pub events: Vec<Event>,
}

/// The world after an event: full, resolved configurations (the base document with every
/// patch up to and including this one merged in, then deserialized and validated).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it takes effect, from the start of the run.
    pub at: Duration,
    /// The line of the event's `[[event]]` header.
    pub line: usize,
    /// `[cdn]` from now on.
    pub cdn: CdnConfig,
    /// `[network]` from now on.
    pub network: NetworkConfig,
    /// `[origin]` from now on.
    pub origin: OriginConfig,
    /// What this event changed, e.g. `origin.state = "down"` (several joined by `; `).
    pub changes: String,
}

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    profile: Profile,
    #[serde(default = "default_duration", with = "serde_units::duration")]
    duration: Duration,
    #[serde(default)]
    cdn: CdnConfig,
    #[serde(default)]
    network: NetworkConfig,
    #[serde(default)]
    origin: OriginConfig,
    #[serde(default)]
    workload: Vec<Workload>,
    #[serde(default)]
    event: Vec<RawEvent>,
}

fn default_duration() -> Duration {
    Duration::from_secs(10)
}

fn key(k: &str) -> KeyPath {
    KeyPath::root().key(k)
}

impl Scenario {
    /// Parses and validates a scenario. `file` is used only in error messages; a relative
    /// `trace` path is resolved against the current directory.
    ///
    /// Every invalid input gives one [`ScenarioError`] (the first problem, in file order
    /// where serde finds it); no input panics.
    pub fn from_toml(source: &str, file: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_in(source, file, None)
    }

    /// [`Scenario::from_toml`], resolving relative `trace` paths against `dir` (the
    /// scenario file's directory) when given.
    pub fn from_toml_in(
        source: &str,
        file: &str,
        dir: Option<&Path>,
    ) -> Result<Scenario, ScenarioError> {
        let syntax = |span: Option<std::ops::Range<usize>>, message: &str| {
            let line = span.map(|s| line_of_offset(source, s.start));
            ScenarioError::at(
                file,
                line,
                None,
                format!("TOML syntax error: {}", error::one_line(message)),
            )
        };
        let doc =
            toml_edit::ImDocument::parse(source).map_err(|e| syntax(e.span(), e.message()))?;
        let lines = LineIndex::new(&doc, source);
        let root = toml::Value::Table(
            source
                .parse::<toml::Table>()
                .map_err(|e| syntax(e.span(), e.message()))?,
        );
        let raw: RawScenario = serde_path_to_error::deserialize(toml::Deserializer::new(source))
            .map_err(|e| {
                let path = KeyPath::from_serde(e.path());
                let inner = e.into_inner();
                translate(path, inner.message(), &root, &probe::<RawScenario>).locate(file, &lines)
            })?;
        Scenario::from_raw(raw, &root, &lines, dir).map_err(|e| e.locate(file, &lines))
    }

    /// Reads and parses a scenario file; errors (including read errors) name `path`. A
    /// relative `trace` path is resolved against the file's directory.
    pub fn from_path(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let source = read_source(path)?;
        Scenario::from_toml_in(&source, &file, path.parent())
    }

    fn from_raw(
        raw: RawScenario,
        root: &toml::Value,
        lines: &LineIndex,
        dir: Option<&Path>,
    ) -> Result<Scenario, Invalid> {
        // Keys the file leaves unset take the profile's value (docs/profiles.md).
        let written = |key: &str| {
            root.get("cdn")
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(key))
        };
        let mut scenario = Scenario {
            name: raw.name,
            description: raw.description,
            seed: raw.seed,
            profile: raw.profile,
            duration: raw.duration,
            cdn: raw.cdn.with_profile_defaults(raw.profile, written),
            network: raw.network,
            origin: raw.origin,
            workloads: raw.workload,
            events: Vec::new(),
        };
        scenario.check_base()?;
        workload::open_traces(&mut scenario.workloads, dir)?;
        if let (Some(base), Some(ca)) = (dir, scenario.origin.upstream_ca.as_mut()) {
            if Path::new(ca.as_str()).is_relative() {
                *ca = base.join(ca.as_str()).display().to_string();
            }
        }
        // Each event's world is checked as it is resolved, and blamed on its patch.
        scenario.events = event::resolve(&raw.event, root, &scenario.cdn, scenario.profile, lines)?;
        Ok(scenario)
    }

    /// Checks what types alone cannot, for a scenario built or changed in code (files are
    /// checked by [`Scenario::from_toml`]). Errors carry the key but no line; event keys use
    /// the index in [`Scenario::events`].
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let file = format!("scenario {:?}", self.name);
        self.check_base().map_err(|e| e.unlocated(&file))?;
        for (i, ev) in self.events.iter().enumerate() {
            let here = key("event").index(i);
            check_cdn(&ev.cdn, self.profile)
                .and_then(|()| check_origin(&ev.origin))
                .map_err(|e| e.under(&here).unlocated(&file))?;
        }
        Ok(())
    }

    /// Everything but the events, in file order.
    fn check_base(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::new(
                key("name"),
                "must not be empty; e.g. name = \"origin-down\"",
            ));
        }
        if self.duration.is_zero() {
            return Err(Invalid::new(
                key("duration"),
                "must be more than 0s; e.g. duration = \"10s\"",
            ));
        }
        check_cdn(&self.cdn, self.profile)?;
        check_origin(&self.origin)?;
        if self.workloads.is_empty() {
            return Err(Invalid::new(
                key("workload"),
                "missing section: at least one [[workload]] table is required \
                 (e.g. [[workload]] with rate = \"100/s\")",
            ));
        }
        for (i, w) in self.workloads.iter().enumerate() {
            w.check().map_err(|e| e.under(&key("workload").index(i)))?;
        }
        Ok(())
    }
}

/// The most egress addresses all nodes' pools may hold together: 16 pools of a /16 (each
/// pool is at most [`EgressPool::MAX_ADDRESSES`]). Every address is stored by its node
/// (4 bytes, and a set entry while the pool is built), so this keeps pools to a few MiB
/// however many nodes a file lists.
pub const MAX_EGRESS_ADDRESSES: u64 = 16 * EgressPool::MAX_ADDRESSES;

/// The most `[[event]]` tables a scenario may have. Each event holds the whole world after
/// it (every `[cdn]`, `[network]` and `[origin]` value, about 2 KiB without nodes), and
/// teaching scenarios use a handful.
pub const MAX_EVENTS: usize = 10_000;

/// The most node copies the events may hold together: `[[event]]` tables × nodes
/// (`[[cdn.l1]]` + `[[cdn.l2]]`). Each event keeps its own copy of the node list, resolved
/// and checked when the file is loaded, so this bounds loading time and memory (~200 bytes
/// a node copy: 200 MB at the limit) whatever the file's shape.
pub const MAX_EVENT_NODE_COPIES: usize = 1_000_000;

/// The largest scenario file read: 4 MiB. Real scenarios are a few KiB; 20,000 `[[cdn.l1]]`
/// tables are 0.5 MiB. Reading stops here, so `/dev/zero` or a log given by mistake is
/// refused at once instead of filling memory. The densest file accepted (153,758
/// `[[cdn.l1]]` tables) loads and runs in ~8 s with ~640 MB (release build, busy machine).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a scenario file's text: at most [`MAX_FILE_BYTES`] (reading stops there), in UTF-8.
/// Errors name `path`; a byte that is not UTF-8 is reported with its line and column.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("cdn-sim-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("latin1.toml");
/// std::fs::write(&path, b"name = \"caf\xe9\"\n").unwrap();
/// let err = cdn_sim::scenario::read_source(&path).unwrap_err();
/// assert_eq!(err.line, Some(1));
/// assert!(err.message.contains("not UTF-8"), "{err}");
/// ```
pub fn read_source(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let file = path.display().to_string();
    let cannot =
        |e: std::io::Error| ScenarioError::new(&file, format!("cannot read the scenario: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScenarioError::new(
            &file,
            format!(
                "the file is larger than {} MiB, the most a scenario may be (scenarios are \
                 a few KiB; request logs go in a workload's trace = \"FILE\")",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..bad];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // The column in characters, as an editor counts them (the prefix is valid UTF-8).
        let column = 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count();
        ScenarioError::at(
            &file,
            Some(line),
            None,
            format!(
                "not UTF-8: byte 0x{:02x} at column {column}; TOML files are UTF-8 (save the \
                 file as UTF-8)",
                e.as_bytes()[bad]
            ),
        )
    })
}

/// `CdnConfig::validate`, with the node index found, plus what a run needs beyond it: egress
/// pools of a size `EgressPool::new` accepts, and timeouts that can be added up.
pub(crate) fn check_cdn(cdn: &CdnConfig, profile: Profile) -> Result<(), Invalid> {
    cdn.validate().map_err(|e| config_error(cdn, e))?;
    // The pool-size rule of `EgressPool::new`, checked without building the pool, and the
    // same bound on all pools together (each address is kept by its node).
    let mut all = 0u64;
    for (tier, nodes) in [("l1", &cdn.l1), ("l2", &cdn.l2)] {
        for (i, node) in nodes.iter().enumerate() {
            let total = node
                .egress
                .iter()
                .fold(0u64, |sum, spec| sum.saturating_add(spec.len()));
            all = all.saturating_add(total);
            if total <= EgressPool::MAX_ADDRESSES && all > MAX_EGRESS_ADDRESSES {
                return Err(Invalid::new(
                    key("cdn").key(tier).index(i).key("egress"),
                    format!(
                        "the egress pools up to this node hold {all} addresses; at most \
                         {MAX_EGRESS_ADDRESSES} are allowed in all (16 pools of a /16)"
                    ),
                ));
            }
            if total > EgressPool::MAX_ADDRESSES {
                return Err(Invalid::new(
                    key("cdn").key(tier).index(i).key("egress"),
                    format!(
                        "{}; e.g. egress = [\"127.0.1.1-127.0.1.10\"]",
                        PoolError::TooLarge(total)
                    ),
                ));
            }
        }
    }
    let d = profile.defaults();
    let connect = cdn.connect_timeout.unwrap_or(d.connect_timeout.value);
    let read = cdn.read_timeout.unwrap_or(d.read_timeout.value);
    let attempts = cdn.connect_attempts.unwrap_or(d.connect_attempts.value);
    // The longest wait the timeouts add up to: every attempt's connect and read.
    let total = connect
        .checked_add(read)
        .and_then(|c| c.checked_mul(attempts))
        .and_then(|c| c.checked_add(Duration::from_secs(1)));
    if total.is_none() {
        return Err(Invalid::new(
            key("cdn").key("connect_attempts"),
            "connect_attempts × (connect_timeout + read_timeout) is too long to represent; \
             use smaller values",
        )
        .near(key("cdn").key("connect_timeout")));
    }
    Ok(())
}

/// `OriginConfig::validate`, as an [`Invalid`].
pub(crate) fn check_origin(origin: &OriginConfig) -> Result<(), Invalid> {
    origin
        .validate()
        .map_err(|e| Invalid::new(KeyPath::dotted(&e.key), e.message))
}

/// Turns a core `ConfigError` into an [`Invalid`]. Node errors carry `cdn.l2.name` without
/// an index; the index is the shortest prefix of that tier that reproduces the error.
fn config_error(cdn: &CdnConfig, err: ConfigError) -> Invalid {
    let mut path = KeyPath::dotted(&err.key);
    let tier = match path.0.as_slice() {
        [Seg::Key(c), Seg::Key(t), Seg::Key(_), ..] if c == "cdn" => t.clone(),
        _ => String::new(),
    };
    let count = match tier.as_str() {
        "l1" => cdn.l1.len(),
        "l2" => cdn.l2.len(),
        _ => 0,
    };
    // `validate` reports the first problem, so a prefix reproduces it exactly when it holds
    // the offending node: the shortest such prefix is found by bisection (a scan of every
    // prefix was quadratic in the number of nodes).
    let reproduces = |n: usize| {
        let mut truncated = cdn.clone();
        match tier.as_str() {
            "l1" => truncated.l1.truncate(n),
            _ => truncated.l2.truncate(n),
        }
        truncated.validate().as_ref() == Err(&err)
    };
    if count > 0 && reproduces(count) {
        let (mut lo, mut hi) = (1, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if reproduces(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        path.0.insert(2, Seg::Index(lo - 1));
    }
    Invalid::new(path, err.message)
}
