//! Per-sample cost of the Zipf samplers, and the memory of the alias table.
//!
//! ```text
//! cargo run --release -p cdn-sim --example zipf_samplers -- 10000000
//! ```
//! For 1M keys and exponents 0.8, 1.0 and 1.2, draws N samples (default 10M) with
//! `rand_distr::Zipf` (what workloads used before), rejection-inversion
//! (`cdn_sim::zipf::RejectionInversion`) and Walker's alias table (`cdn_sim::zipf::AliasTable`),
//! three interleaved rounds, and prints the median nanoseconds per sample of each, the ratio
//! to `rand_distr` measured in the same round, the alias table's size and build time.

use cdn_sim::zipf::{AliasTable, RejectionInversion};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;
use std::hint::black_box;
use std::time::Instant;

const KEYS: u64 = 1_000_000;

fn time_ns(samples: u64, mut draw: impl FnMut(&mut ChaCha8Rng) -> u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = Instant::now();
    let mut sum = 0u64;
    for _ in 0..samples {
        sum = sum.wrapping_add(draw(&mut rng));
    }
    black_box(sum);
    t.elapsed().as_nanos() as f64 / samples as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let samples: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("usage: zipf_samplers [SAMPLES]"))
        .unwrap_or(10_000_000);
    println!("{samples} samples over {KEYS} keys, median of 3 interleaved rounds (ns/sample)");
    println!("exponent  rand_distr  rejection-inversion  alias table  (ratio to rand_distr)");
    for s in [0.8, 1.0, 1.2] {
        let old = rand_distr::Zipf::new(KEYS, s).expect("valid");
        let ri = RejectionInversion::new(KEYS, s);
        let t = Instant::now();
        let alias = AliasTable::new(KEYS, s);
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            a.push(time_ns(samples, |r| old.sample(r) as u64));
            b.push(time_ns(samples, |r| ri.sample(r)));
            c.push(time_ns(samples, |r| alias.sample(r)));
        }
        let (a, b, c) = (median(a), median(b), median(c));
        println!(
            "{s:<8}  {a:>9.1}   {b:>9.1} ({:.2})        {c:>9.1} ({:.2})   table {:.1} MiB, built in {build_ms:.0} ms",
            b / a,
            c / a,
            alias.table_bytes() as f64 / (1024.0 * 1024.0)
        );
    }
}
