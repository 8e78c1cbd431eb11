//! Exact latency percentiles in memory bounded by the number of *distinct* latencies.
//!
//! Simulated latencies are sums of a few configured delays, so a run of millions of requests
//! has few distinct values; counting them exactly keeps percentiles exact ("522 after
//! 19000.0 ms", not a histogram bucket's edge).

use cdn_core::cache::KeyBuildHasher;
use std::collections::HashMap;
use std::time::Duration;

/// Counts of latencies at microsecond resolution.
// A hash map, not a `BTreeMap`: `record` runs once per simulated request and a multiply-hash
// lookup costs a fraction of a B-tree descent; the readers (a handful of calls per report)
// sort the few distinct values instead.
#[derive(Clone, Debug, Default)]
pub struct LatencyCounts {
    counts: HashMap<u64, u64, KeyBuildHasher>,
    total: u64,
}

impl LatencyCounts {
    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        *self.counts.entry(d.as_micros() as u64).or_insert(0) += 1;
        self.total += 1;
    }

    /// Number of latencies recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 100), in milliseconds.
    ///
    /// ```
    /// use cdn_sim::latency::LatencyCounts;
    /// use std::time::Duration;
    /// let mut l = LatencyCounts::default();
    /// for ms in 1..=100 { l.record(Duration::from_millis(ms)); }
    /// assert_eq!(l.percentile_ms(50.0), 50.0);
    /// assert_eq!(l.percentile_ms(99.0), 99.0);
    /// ```
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (us, n) in self.sorted() {
            seen += n;
            if seen >= rank {
                return us as f64 / 1000.0;
            }
        }
        unreachable!("rank ≤ total")
    }

    /// The largest latency, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.counts
            .keys()
            .max()
            .map_or(0.0, |&us| us as f64 / 1000.0)
    }

    /// The mean latency, in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        // Integer sum, exact in u128: the map's iteration order cannot change the result.
        let sum: u128 = self
            .counts
            .iter()
            .map(|(&us, &n)| us as u128 * n as u128)
            .sum();
        (sum as f64 / self.total as f64 / 1000.0 * 1000.0).round() / 1000.0
    }

    /// The distinct latencies (µs) and their counts, in ascending order.
    fn sorted(&self) -> impl Iterator<Item = (u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.counts.iter().map(|(&us, &n)| (us, n)).collect();
        v.sort_unstable();
        v.into_iter()
    }
}
