//! The eviction policies cross-checked with libCacheSim (issue 13): synthetic traces — Zipf
//! 0.6, 0.8, 1.0, 1.2 and uniform popularity, each with one object size and with varying
//! sizes — replayed through one store of each policy and through libCacheSim's same policy
//! at the same byte capacity (its C core processing the whole `oracleGeneral` file). The
//! miss counts must be equal: not close, equal, because both sides implement the same
//! algorithm and see the same requests. `docs/caching.md` says which details make that so.
//!
//! Needs `libcachesim` (PyPI) in `target/libcachesim-venv` (`scripts/setup-libcachesim.sh`,
//! which `.ci/run` calls) or in the interpreter `LIBCACHESIM_PYTHON` names. Without it the
//! test prints SKIPPED — except under CI (`CI` set), where a missing install is a failure.

use cdn_core::cache::{Eviction, Store};
use cdn_core::{CacheKey, Instant, Response, Tier};
use cdn_sim::libcachesim::{
    synthetic_trace, write_oracle_general, Job, LibCacheSim, Sizes, TraceRequest, TraceSpec,
};
use cdn_sim::scenario::Popularity;
use std::path::PathBuf;
use std::time::Duration;

const REQUESTS: u64 = 50_000;
const KEYS: u64 = 5_000;
const FIXED_SIZE: u32 = 4096;

/// Replays `trace` the way libCacheSim's `cache_get_base` does: a hit if the object is
/// cached (the policy counts the access), else a miss followed by an insert, which the
/// policy may refuse. Returns the misses.
fn replay(trace: &[TraceRequest], capacity: u64, eviction: Eviction) -> u64 {
    let mut store = Store::with_eviction(capacity, eviction);
    let mut response = Response::generated(Tier::Origin, 200, "");
    let ttl = Duration::from_secs(3600);
    let mut misses = 0;
    for r in trace {
        let key = CacheKey(r.key);
        if store.get(key).is_none() {
            misses += 1;
            response.body_len = u64::from(r.size);
            store.insert(Instant::ZERO, key, response, ttl);
        }
    }
    misses
}

struct Case {
    name: String,
    trace: Vec<TraceRequest>,
    path: PathBuf,
    capacities: [u64; 2],
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let popularities = [
        ("zipf0.6", Popularity::Zipf(0.6)),
        ("zipf0.8", Popularity::Zipf(0.8)),
        ("zipf1.0", Popularity::Zipf(1.0)),
        ("zipf1.2", Popularity::Zipf(1.2)),
        ("uniform", Popularity::Uniform),
    ];
    let mut cases = Vec::new();
    for (seed, (pname, popularity)) in popularities.into_iter().enumerate() {
        for (sname, sizes, capacities) in [
            // 1 % and 10 % of the objects.
            (
                "4KiB",
                Sizes::Fixed(FIXED_SIZE),
                [KEYS / 100 * 4096, KEYS / 10 * 4096],
            ),
            // About 4.5 % and 36 % of the regular objects' bytes (5k × ~9.4 KB). Objects of
            // 8–16 MiB fit only the larger cache, and S3-FIFO admits neither them (≥ 10 %)
            // nor anything ≥ 209,715 B at 2 MiB. Sizes are multiples of 8 and both small
            // queues (209,715 B, 1,677,721 B) are not, so no object is exactly as large as
            // S — the one size where libCacheSim evicts and then does not insert.
            ("varying", Sizes::Varying, [2 << 20, 16 << 20]),
        ] {
            let name = format!("{pname}-{sname}");
            let trace = synthetic_trace(&TraceSpec {
                requests: REQUESTS,
                keys: KEYS,
                popularity,
                sizes,
                seed: seed as u64 + 1,
            });
            let path = dir.join(format!("{name}.oracleGeneral"));
            write_oracle_general(&path, &trace).expect("write the trace");
            cases.push(Case {
                name,
                trace,
                path,
                capacities,
            });
        }
    }
    cases
}

#[test]
fn miss_ratios_equal_libcachesim_for_every_policy() {
    let lcs = match LibCacheSim::find() {
        Ok(lcs) => lcs,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("libcachesim missing under CI (scripts/setup-libcachesim.sh installs it): {why}")
        }
        Err(why) => {
            // Past the test harness's output capture, so a passing run shows it.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: libCacheSim cross-check: {why}\n         run scripts/setup-libcachesim.sh to install libcachesim"
            );
            return;
        }
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libcachesim-crosscheck");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = cases(&dir);

    let mut jobs = Vec::new();
    for case in &cases {
        for capacity in case.capacities {
            for eviction in Eviction::ALL {
                jobs.push((
                    case,
                    Job {
                        trace: case.path.clone(),
                        capacity,
                        eviction,
                    },
                ));
            }
        }
    }
    let outcomes = lcs
        .replay(&jobs.iter().map(|(_, j)| j.clone()).collect::<Vec<_>>())
        .expect("libcachesim replay");

    println!(
        "libcachesim {} — {REQUESTS} requests over {KEYS} objects per trace",
        outcomes[0].version
    );
    println!(
        "{:<16} {:>10} {:<7} {:>8} {:>8} {:>10}",
        "trace", "capacity", "policy", "ours", "lcs", "miss ratio"
    );
    let mut differences = Vec::new();
    for ((case, job), outcome) in jobs.iter().zip(&outcomes) {
        assert_eq!(
            outcome.requests, REQUESTS,
            "libCacheSim read the whole trace"
        );
        let ours = replay(&case.trace, job.capacity, job.eviction);
        let theirs = outcome.misses();
        println!(
            "{:<16} {:>10} {:<7} {:>8} {:>8} {:>10.4}{}",
            case.name,
            job.capacity,
            job.eviction.as_str(),
            ours,
            theirs,
            ours as f64 / REQUESTS as f64,
            if ours == theirs { "" } else { "  DIFFERENT" }
        );
        if ours != theirs {
            differences.push(format!(
                "{} at {} B, {}: {ours} misses here, {theirs} in libCacheSim ({})",
                case.name,
                job.capacity,
                job.eviction.as_str(),
                outcome.cache_name
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "miss counts differ from libCacheSim:\n{}",
        differences.join("\n")
    );
}
