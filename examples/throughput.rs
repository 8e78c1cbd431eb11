//! Simulated requests per second and peak memory on the standard workload.
//!
//! ```text
//! cargo run --release -p cdn-sim --example throughput -- 10000000
//! ```
//! prints the simulator's rate, a bare `lru` replay of the same keys measured in the same
//! process (the floor), their ratio, hit ratios per tier, and the process's peak RSS. Run it
//! with 1M and with 10M requests: peak memory must not grow with the number of requests.

#[path = "../benches/bare_lru.rs"]
mod bare_lru;

use bare_lru::bare_lru_replay;
use cdn_sim::benchmark::{key_sequence, standard_scenario, KEYS};
use cdn_sim::engine::{simulate, SimOptions};
use std::time::Instant;

// mimalloc, not the system allocator: the `lru` stores allocate a node per insert and free one
// per eviction, and mimalloc measured ~10% faster on the standard workload
// (examples/throughput.rs, interleaved best-of-4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("usage: throughput [REQUESTS]"))
        .unwrap_or(10_000_000);
    let scenario = standard_scenario(n);

    let t = Instant::now();
    let out = simulate(&scenario, SimOptions::default()).unwrap();
    let sim_s = t.elapsed().as_secs_f64();
    let rss_after_sim = peak_rss_mib();

    let keys = key_sequence(&scenario);
    let t = Instant::now();
    let hits = bare_lru_replay(&keys, (KEYS / 100) as usize);
    let lru_s = t.elapsed().as_secs_f64();

    let r = &out.report;
    let ratio = |tier: cdn_core::Tier| {
        let c = &r.cache[&tier];
        100.0 * c.hit as f64 / (c.hit + c.miss).max(1) as f64
    };
    println!("requests            {n}");
    println!(
        "simulated req/s     {:.2} M  ({sim_s:.2} s)",
        n as f64 / sim_s / 1e6
    );
    println!(
        "bare lru req/s      {:.2} M  ({lru_s:.2} s, hit ratio {:.1}%)",
        n as f64 / lru_s / 1e6,
        100.0 * hits as f64 / n as f64
    );
    println!("sim / bare lru      {:.3}", lru_s / sim_s);
    println!(
        "hit ratio           l1 {:.1}%  l2 {:.1}%  origin requests {}",
        ratio(cdn_core::Tier::L1),
        ratio(cdn_core::Tier::L2),
        r.origin_requests
    );
    println!("statuses            {:?}", r.status);
    println!(
        "peak RSS            {rss_after_sim:.1} MiB after the simulation (before the key replay)"
    );
}
