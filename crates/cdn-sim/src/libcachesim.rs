//! libCacheSim, the reference cache simulator, as a yardstick: synthetic request traces in
//! its `oracleGeneral` format, and replays of them through its C core (the `libcachesim`
//! Python binding's `process_trace`, which reads the file and simulates in C).
//!
//! Used by the cross-check test (`tests/libcachesim.rs`: every eviction policy's miss ratio
//! against libCacheSim's) and by `examples/policy_speed.rs` (replay speed against
//! libCacheSim's LRU). `scripts/setup-libcachesim.sh` installs the binding into a venv.
//!
//! ```no_run
//! use cdn_core::cache::Eviction;
//! use cdn_sim::libcachesim::{synthetic_trace, write_oracle_general, Job, LibCacheSim, Sizes, TraceSpec};
//! use cdn_sim::scenario::Popularity;
//! let trace = synthetic_trace(&TraceSpec {
//!     requests: 10_000,
//!     keys: 1_000,
//!     popularity: Popularity::Zipf(1.0),
//!     sizes: Sizes::Fixed(4096),
//!     seed: 1,
//! });
//! let path = std::env::temp_dir().join("zipf.oracleGeneral");
//! write_oracle_general(&path, &trace).unwrap();
//! let lcs = LibCacheSim::find().expect("run scripts/setup-libcachesim.sh");
//! let job = Job { trace: path, capacity: 100 * 4096, eviction: Eviction::Sieve };
//! let outcome = &lcs.replay(&[job]).unwrap()[0];
//! println!("SIEVE misses {} of {}", outcome.misses(), outcome.requests);
//! ```

use crate::benchmark::standard_scenario;
use crate::scenario::{Popularity, Urls};
use crate::workload::WorkloadGen;
use cdn_core::cache::Eviction;
use cdn_core::message::mix64;
use serde::Deserialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Python program that runs the jobs: JSON jobs on stdin, one JSON result per line.
/// `src/libcachesim_replay.py` is a symlink to `scripts/`: the published crate carries a copy.
const REPLAY_PY: &str = include_str!("libcachesim_replay.py");

/// One request of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRequest {
    /// The object (libCacheSim's `obj_id`; never 0).
    pub key: u64,
    /// The object's size in bytes (never 0: libCacheSim's reader skips size-0 requests).
    pub size: u32,
}

/// How big the objects of a synthetic trace are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// Every object this many bytes.
    Fixed(u32),
    /// Each object its own size, fixed per key: 99 % log-uniform in 64 B ..= 64 KiB, 1 % in
    /// 8 MiB ..= 16 MiB (larger than small caches, to exercise admission). Multiples of 8.
    Varying,
}

impl Sizes {
    /// The size of object `key` (its sizes never change within a trace).
    pub fn of(self, key: u64, seed: u64) -> u32 {
        match self {
            Sizes::Fixed(size) => size,
            Sizes::Varying => {
                let h = mix64(key ^ mix64(seed ^ 0x5123));
                // 53 bits of the hash as a uniform fraction in [0, 1).
                let u = (h >> 11) as f64 / (1u64 << 53) as f64;
                let (lo, hi): (f64, f64) = if h % 100 == 0 {
                    (8.0 * 1024.0 * 1024.0, 16.0 * 1024.0 * 1024.0)
                } else {
                    (64.0, 64.0 * 1024.0)
                };
                let bytes = (lo.ln() + u * (hi.ln() - lo.ln())).exp();
                (bytes as u32).div_ceil(8) * 8
            }
        }
    }
}

/// A synthetic trace: `requests` requests over `keys` objects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceSpec {
    /// Number of requests.
    pub requests: u64,
    /// Number of distinct objects that may be asked for.
    pub keys: u64,
    /// Which objects are popular.
    pub popularity: Popularity,
    /// Object sizes.
    pub sizes: Sizes,
    /// Seeds the key choices and the sizes.
    pub seed: u64,
}

/// The requests of `spec`, keys drawn by the simulator's own workload generator (so a trace
/// and a simulated workload with the same popularity and seed ask for the same keys).
/// Object ids are the workload's key numbers plus one (libCacheSim reserves 0).
pub fn synthetic_trace(spec: &TraceSpec) -> Vec<TraceRequest> {
    let mut scenario = standard_scenario(spec.requests);
    let workload = &mut scenario.workloads[0];
    workload.urls = Urls::Keys(spec.keys);
    workload.popularity = spec.popularity;
    let mut generator = WorkloadGen::new(workload, 0, scenario.duration, spec.seed);
    std::iter::from_fn(|| generator.next_arrival())
        .map(|a| TraceRequest {
            key: a.key + 1,
            size: spec.sizes.of(a.key + 1, spec.seed),
        })
        .collect()
}

/// Writes `trace` as libCacheSim's `oracleGeneral`: per request, little-endian
/// `u32 time, u64 obj_id, u32 obj_size, i64 next_access_vtime` (24 bytes). Time is the
/// request number in thousands (libCacheSim's TTLs, 300 days by default, never expire);
/// next access is -1 (unknown: none of the policies here looks at the future).
pub fn write_oracle_general(path: &Path, trace: &[TraceRequest]) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    for (i, r) in trace.iter().enumerate() {
        let time = u32::try_from(i / 1000).unwrap_or(u32::MAX);
        out.write_all(&time.to_le_bytes())?;
        out.write_all(&r.key.to_le_bytes())?;
        out.write_all(&r.size.to_le_bytes())?;
        out.write_all(&(-1i64).to_le_bytes())?;
    }
    out.flush()
}

/// Reads the `(obj_id, obj_size)` of each `oracleGeneral` record in `bytes` (a whole file).
pub fn oracle_general_requests(bytes: &[u8]) -> impl Iterator<Item = TraceRequest> + '_ {
    bytes.chunks_exact(24).map(|r| TraceRequest {
        key: u64::from_le_bytes(r[4..12].try_into().expect("8 bytes")),
        size: u32::from_le_bytes(r[12..16].try_into().expect("4 bytes")),
    })
}

/// One replay for libCacheSim: `trace` through one cache of `capacity` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// An `oracleGeneral` file.
    pub trace: PathBuf,
    /// The cache size in bytes (libCacheSim counts object sizes only, no metadata).
    pub capacity: u64,
    /// The policy: LRU, FIFO, Sieve or S3FIFO (with its defaults: small queue 10 %, ghost
    /// 90 %, move-to-main threshold 2).
    pub eviction: Eviction,
}

/// What libCacheSim reported for one [`Job`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Outcome {
    /// Requests in the trace.
    pub requests: u64,
    /// Fraction of requests that missed.
    pub miss_ratio: f64,
    /// Fraction of requested bytes that missed.
    pub byte_miss_ratio: f64,
    /// Wall-clock seconds of `process_trace` (reading the file and simulating), measured in
    /// the Python process around the call.
    pub seconds: f64,
    /// The cache's name as libCacheSim gives it (e.g. `S3FIFO-0.1000-2`).
    pub cache_name: String,
    /// The `libcachesim` package version.
    pub version: String,
}

impl Outcome {
    /// The number of misses: libCacheSim reports `1 - hits / requests` as a float, which
    /// holds the exact count for any trace shorter than 2⁵³ requests.
    pub fn misses(&self) -> u64 {
        (self.miss_ratio * self.requests as f64).round() as u64
    }
}

/// A Python interpreter with the `libcachesim` package.
#[derive(Clone, Debug)]
pub struct LibCacheSim {
    python: PathBuf,
}

impl LibCacheSim {
    /// The interpreter named by `LIBCACHESIM_PYTHON`, else the venv that
    /// `scripts/setup-libcachesim.sh` makes (`target/libcachesim-venv`), if it can import
    /// `libcachesim`; otherwise why not.
    pub fn find() -> Result<LibCacheSim, String> {
        let python = std::env::var_os("LIBCACHESIM_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/libcachesim-venv/bin/python3")
            });
        let probe = Command::new(&python)
            .args(["-c", "import libcachesim"])
            .stdin(Stdio::null())
            .output();
        match probe {
            Ok(out) if out.status.success() => Ok(LibCacheSim { python }),
            Ok(out) => Err(format!(
                "{} cannot import libcachesim: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("{}: {e}", python.display())),
        }
    }

    /// Runs `jobs` in one Python process, in order; one [`Outcome`] per job.
    pub fn replay(&self, jobs: &[Job]) -> io::Result<Vec<Outcome>> {
        let input: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "trace": j.trace,
                    "capacity": j.capacity,
                    "policy": j.eviction.as_str(),
                })
            })
            .collect();
        let mut child = Command::new(&self.python)
            .args(["-c", REPLAY_PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(serde_json::to_string(&input)?.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "libcachesim replay failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let outcomes: Vec<Outcome> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        if outcomes.len() != jobs.len() {
            return Err(io::Error::other(format!(
                "libcachesim replay answered {} of {} jobs",
                outcomes.len(),
                jobs.len()
            )));
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_general_round_trips() {
        let trace = synthetic_trace(&TraceSpec {
            requests: 2_000,
            keys: 100,
            popularity: Popularity::Zipf(0.8),
            sizes: Sizes::Varying,
            seed: 3,
        });
        assert_eq!(trace.len(), 2_000);
        assert!(trace.iter().all(|r| (1..=100).contains(&r.key)));
        assert!(trace.iter().all(|r| r.size > 0 && r.size % 8 == 0));
        let path = std::env::temp_dir().join(format!("oracle-rt-{}.bin", std::process::id()));
        write_oracle_general(&path, &trace).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.len(), 24 * 2_000);
        assert_eq!(oracle_general_requests(&bytes).collect::<Vec<_>>(), trace);
    }

    /// 1 % of objects are larger than 8 MiB, the rest within 64 B ..= 64 KiB, and each key
    /// keeps one size.
    #[test]
    fn varying_sizes_have_the_documented_shape() {
        let sizes: Vec<u32> = (1..=100_000).map(|k| Sizes::Varying.of(k, 9)).collect();
        let huge = sizes.iter().filter(|&&s| s >= 8 << 20).count();
        // Binomial(100000, 0.01): mean 1000, sd 31.5; ±5 sd.
        assert!((842..=1158).contains(&huge), "{huge}");
        assert!(sizes
            .iter()
            .all(|&s| (64..=64 << 10).contains(&s) || (8 << 20..=16 << 20).contains(&s)));
        assert_eq!(Sizes::Varying.of(77, 9), sizes[76]);
    }
}
