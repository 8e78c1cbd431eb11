//! Simulator throughput on the standard workload (see `cdn_sim::benchmark`), next to a bare
//! `lru` replay of the same key sequence — the floor no cache simulator can beat.
//!
//! Run: `cargo bench -p cdn-sim --bench simulator` (10M requests per iteration; set
//! `CDN_SIM_BENCH_REQUESTS` to change). Figures are recorded in docs/performance.md.

#[path = "bare_lru.rs"]
mod bare_lru;

use bare_lru::bare_lru_replay;
use cdn_sim::benchmark::{key_sequence, standard_scenario, KEYS};
use cdn_sim::engine::{simulate, SimOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

// mimalloc, not the system allocator: the `lru` stores allocate a node per insert and free one
// per eviction, and mimalloc measured ~10% faster on the standard workload
// (examples/throughput.rs, interleaved best-of-4).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn requests() -> u64 {
    std::env::var("CDN_SIM_BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000)
}

fn bench(c: &mut Criterion) {
    let n = requests();
    let mut g = c.benchmark_group("standard-workload");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(n));

    let scenario = standard_scenario(n);
    g.bench_function("simulate_two_tiers", |b| {
        b.iter(|| {
            simulate(&scenario, SimOptions::default())
                .unwrap()
                .report
                .requests
        })
    });

    let keys = key_sequence(&scenario);
    g.bench_function("bare_lru_replay", |b| {
        b.iter(|| bare_lru_replay(&keys, (KEYS / 100) as usize))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
