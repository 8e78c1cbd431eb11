//! Single-node replay speed per eviction policy, against libCacheSim in the same run.
//!
//! ```text
//! bash scripts/setup-libcachesim.sh          # once: libcachesim into target/libcachesim-venv
//! cargo run --release -p cdn-sim --example policy_speed -- 5000000 3
//! ```
//! Writes a trace of REQUESTS (default 5M) requests — the standard workload's keys (Zipf 1.0
//! over 1M objects) and size (4 KiB) — as an `oracleGeneral` file, then replays it ROUNDS
//! times (default 3), interleaved so that load on a shared machine hits both sides alike:
//! - through one `cdn-core` cache node per policy, driven through its public request flow as
//!   the simulator drives it (`receive`; on a miss, `connected` and `answered` with the
//!   origin's response), reading and decoding the same file inside the timed region;
//! - through libCacheSim's LRU, FIFO, Sieve and S3FIFO (`process_trace`: its C core reads the
//!   file and simulates).
//!
//! Both caches hold 1 % of the objects (the standard L1). Prints the median req/s of each,
//! the ratio to libCacheSim's LRU and to libCacheSim's same policy, and both miss ratios,
//! which must be equal (the cross-check test asserts it on more traces).

use cdn_core::cache::{Eviction, Store};
use cdn_core::node::{Action, CacheNode};
use cdn_core::{
    CacheControl, CacheKey, EgressPool, EgressSelection, Instant, Request, Response, Tier,
};
use cdn_sim::benchmark::{KEYS, OBJECT_SIZE};
use cdn_sim::libcachesim::{
    oracle_general_requests, synthetic_trace, write_oracle_general, Job, LibCacheSim, Sizes,
    TraceSpec,
};
use cdn_sim::scenario::Popularity;
use std::path::Path;

// The simulator's binaries use mimalloc; the store allocates nothing per request anyway.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Replays the `oracleGeneral` file at `path` through one node evicting by `eviction`
/// (Cloudflare's default settings); returns (misses, requests, seconds).
fn replay_node(path: &Path, capacity: u64, eviction: Eviction) -> (u64, u64, f64) {
    let pool = EgressPool::new(
        &["127.0.1.1".parse().expect("an address")],
        EgressSelection::RoundRobin,
        0,
    )
    .expect("one address");
    let mut node = CacheNode::new(
        "edge-1",
        Tier::L2,
        Store::with_eviction(capacity, eviction),
        pool,
    );
    let mut response = Response::generated(Tier::Origin, 200, "");
    response.reason = None;
    response.cache_control = CacheControl::parse("max-age=86400");
    let now = Instant::ZERO;
    let (mut misses, mut requests) = (0, 0);
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    let bytes = std::fs::read(path).expect("read the trace");
    for r in oracle_general_requests(&bytes) {
        let req = Request::get(CacheKey(r.key));
        node.receive(now, requests, &req, None, false, &mut out);
        requests += 1;
        // A hit is answered at once; a miss goes to the origin (a new connection, or an idle
        // one reused: either way a Send) and is stored when the origin answers.
        while let Some(action) = out.pop() {
            match action {
                Action::Connect(c) => node.connected(now, c.ticket, c.hop, &mut out),
                Action::Send { ticket, hop, .. } => {
                    misses += 1;
                    response.body_len = u64::from(r.size);
                    node.answered(now, ticket, hop, &response, &mut out);
                }
                _ => {}
            }
        }
    }
    assert_eq!(node.requests_in_progress(), 0, "every request was answered");
    (misses, requests, start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: policy_speed [REQUESTS] [ROUNDS]";
    let requests: u64 = args.next().map_or(5_000_000, |s| s.parse().expect(usage));
    let rounds: usize = args.next().map_or(3, |s| s.parse().expect(usage));
    let lcs = LibCacheSim::find().unwrap_or_else(|why| {
        eprintln!("policy_speed: {why}\nrun scripts/setup-libcachesim.sh first");
        std::process::exit(2)
    });

    let path =
        std::env::temp_dir().join(format!("policy-speed-{}.oracleGeneral", std::process::id()));
    let trace = synthetic_trace(&TraceSpec {
        requests,
        keys: KEYS,
        popularity: Popularity::Zipf(1.0),
        sizes: Sizes::Fixed(OBJECT_SIZE as u32),
        seed: 1,
    });
    write_oracle_general(&path, &trace).expect("write the trace");
    drop(trace);
    let capacity = KEYS / 100 * OBJECT_SIZE;
    println!(
        "trace: {requests} requests, Zipf 1.0 over {KEYS} objects of {OBJECT_SIZE} B; \
         cache {capacity} B (1 % of the objects); {rounds} interleaved rounds, medians"
    );

    let n = Eviction::ALL.len();
    let mut ours = vec![Vec::new(); n];
    let mut theirs = vec![Vec::new(); n];
    let mut miss = vec![(0u64, 0u64); n];
    let jobs: Vec<Job> = Eviction::ALL
        .iter()
        .map(|&eviction| Job {
            trace: path.clone(),
            capacity,
            eviction,
        })
        .collect();
    let mut version = String::new();
    for round in 0..rounds {
        for (i, &eviction) in Eviction::ALL.iter().enumerate() {
            let (misses, count, seconds) = replay_node(&path, capacity, eviction);
            assert_eq!(count, requests);
            ours[i].push(count as f64 / seconds);
            miss[i].0 = misses;
        }
        let outcomes = lcs.replay(&jobs).expect("libcachesim replay");
        for (i, o) in outcomes.iter().enumerate() {
            theirs[i].push(o.requests as f64 / o.seconds);
            miss[i].1 = o.misses();
            version.clone_from(&o.version);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    std::fs::remove_file(&path).ok();

    let lcs_lru = median(theirs[0].clone());
    println!("libcachesim {version}");
    println!(
        "{:<8} {:>14} {:>16} {:>12} {:>14} {:>12} {:>12}",
        "policy",
        "node req/s",
        "libCacheSim req/s",
        "÷ lcs LRU",
        "÷ lcs same",
        "node miss",
        "lcs miss"
    );
    for (i, eviction) in Eviction::ALL.iter().enumerate() {
        let (o, t) = (median(ours[i].clone()), median(theirs[i].clone()));
        println!(
            "{:<8} {:>12.2} M {:>15.2} M {:>12.2} {:>14.2} {:>12.4} {:>12.4}{}",
            eviction.as_str(),
            o / 1e6,
            t / 1e6,
            o / lcs_lru,
            o / t,
            miss[i].0 as f64 / requests as f64,
            miss[i].1 as f64 / requests as f64,
            if miss[i].0 == miss[i].1 {
                ""
            } else {
                "  MISS RATIOS DIFFER"
            }
        );
    }
}
