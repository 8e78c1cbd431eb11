//! Random lateness ([`Jitter`]): every scheduled event, and every arrival, happens up to
//! `max` later than the model says — what real timers do. Each workload's next arrival has
//! its lateness drawn once, so peeking at it and taking it agree.

use super::{Jitter, JitterShape};
use cdn_core::Instant;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub(super) struct Lateness {
    max_ns: u64,
    shape: JitterShape,
    /// Where the stall windows start (`Stalls` only), in `[0, max)`.
    phase_ns: u64,
    rng: ChaCha8Rng,
    /// The lateness drawn for each workload's next arrival (unused for `Stalls`, where it
    /// follows from the arrival's time).
    arrivals: Vec<Duration>,
    /// Arrivals so far per workload (`Alternate`: odd and even ones are in different groups).
    arrived: Vec<u64>,
    /// Which parity is late (`Alternate`, `IndexBit`).
    late_parity: u64,
    /// Arrivals so far, all workloads (`IndexBit`).
    total: u64,
}

impl Lateness {
    pub(super) fn new(j: Jitter, workloads: usize) -> Lateness {
        let mut rng = ChaCha8Rng::seed_from_u64(j.seed);
        let max_ns = u64::try_from(j.max.as_nanos()).unwrap_or(u64::MAX);
        let phase_ns = rng.next_u64().checked_rem(max_ns).unwrap_or(0);
        let mut l = Lateness {
            max_ns,
            shape: j.shape,
            phase_ns,
            rng,
            arrivals: Vec::new(),
            arrived: vec![0; workloads],
            late_parity: j.seed & 1,
            total: 0,
        };
        l.arrivals = (0..workloads).map(|_| l.independent()).collect();
        l
    }

    /// How late an event due `at` happens; `late_group`: its request is in the late group
    /// (`Alternate`).
    pub(super) fn draw(&mut self, at: Instant, late_group: bool) -> Duration {
        match self.shape {
            JitterShape::Stalls => self.stall(at),
            JitterShape::Alternate | JitterShape::IndexBit(_) if late_group => {
                Duration::from_nanos(self.max_ns)
            }
            JitterShape::Alternate | JitterShape::IndexBit(_) => Duration::ZERO,
            _ => self.independent(),
        }
    }

    /// Whether workload `w`'s next request is in the late group (`Alternate` only).
    pub(super) fn in_late_group(&self, w: usize) -> bool {
        match self.shape {
            JitterShape::Alternate => self.arrived[w] % 2 == self.late_parity,
            JitterShape::IndexBit(bit) => (self.total >> bit) & 1 == self.late_parity,
            _ => false,
        }
    }

    /// A lateness that does not depend on the event's time: uniform in `[0, max]`, or `max`
    /// itself when constant.
    fn independent(&mut self) -> Duration {
        match (self.max_ns, self.shape) {
            (0, _) => Duration::ZERO,
            (max, JitterShape::Constant) => Duration::from_nanos(max),
            (max, JitterShape::Measured(histogram)) => {
                self.measured(&histogram).min(Duration::from_nanos(max))
            }
            (max, _) => Duration::from_nanos(self.rng.next_u64() % (max.saturating_add(1))),
        }
    }

    /// A lateness drawn from a measured histogram (see [`JitterShape::Measured`]).
    fn measured(&mut self, histogram: &[u64]) -> Duration {
        let total: u64 = histogram.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let mut pick = self.rng.next_u64() % total;
        let bucket = histogram
            .iter()
            .position(|&n| {
                let here = pick < n;
                pick = pick.saturating_sub(n);
                here
            })
            .unwrap_or(0);
        let (lo, hi) = match bucket {
            0 => (0, 1_000),
            i => (1_000u64 << (i - 1), 1_000u64 << i),
        };
        Duration::from_nanos(lo + self.rng.next_u64() % (hi - lo))
    }

    /// Until the end of the stall window holding `at`: the windows are `[phase + k·max,
    /// phase + (k+1)·max)`, and what falls inside one happens at its end.
    fn stall(&self, at: Instant) -> Duration {
        if self.max_ns == 0 {
            return Duration::ZERO;
        }
        let into = (at.as_nanos() % self.max_ns + self.max_ns - self.phase_ns) % self.max_ns;
        Duration::from_nanos((self.max_ns - into) % self.max_ns)
    }

    /// The lateness of workload `w`'s next arrival, due `at`.
    pub(super) fn arrival(&self, w: usize, at: Instant) -> Duration {
        match self.shape {
            JitterShape::Stalls => self.stall(at),
            JitterShape::Alternate | JitterShape::IndexBit(_) if self.in_late_group(w) => {
                Duration::from_nanos(self.max_ns)
            }
            JitterShape::Alternate | JitterShape::IndexBit(_) => Duration::ZERO,
            _ => self.arrivals[w],
        }
    }

    /// Workload `w`'s arrival happened: draw the next one's.
    pub(super) fn next_arrival(&mut self, w: usize) {
        self.arrived[w] += 1;
        self.total += 1;
        self.arrivals[w] = self.independent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stalls(max_ms: u64, seed: u64) -> Lateness {
        Lateness::new(
            Jitter {
                max: Duration::from_millis(max_ms),
                shape: JitterShape::Stalls,
                seed,
            },
            1,
        )
    }

    #[test]
    fn a_stall_releases_everything_due_inside_it_at_once() {
        let l = stalls(10, 7);
        let ms = |n: u64| Instant(n * 1_000_000);
        // Every event of one window happens at the same instant, the window's end, within
        // `max` of when it was due.
        let ends: Vec<Instant> = (0..40).map(|t| ms(t) + l.stall(ms(t))).collect();
        for (t, end) in ends.iter().enumerate() {
            let late = *end - ms(t as u64);
            assert!(late < Duration::from_millis(10), "{t} ms: {late:?}");
            assert_eq!((end.as_nanos() + 10_000_000 - l.phase_ns) % 10_000_000, 0);
        }
        let mut distinct = ends.clone();
        distinct.dedup();
        assert!(
            distinct.len() <= 5,
            "40 ms of events in ≤ 5 bursts: {distinct:?}"
        );
    }

    #[test]
    fn measured_draws_follow_the_histogram_and_stay_within_max() {
        // 90 timers under 1 µs, 10 in [1, 2) ms (bucket 11: [2^10, 2^11) µs).
        let mut histogram = [0u64; crate::engine::MEASURED_BUCKETS];
        histogram[0] = 90;
        histogram[11] = 10;
        let mut m = Lateness::new(
            Jitter {
                max: Duration::from_micros(1_500),
                shape: JitterShape::Measured(histogram),
                seed: 3,
            },
            1,
        );
        let draws: Vec<Duration> = (0..10_000).map(|_| m.draw(Instant::ZERO, false)).collect();
        let small = draws
            .iter()
            .filter(|d| **d < Duration::from_micros(1))
            .count();
        let late = draws
            .iter()
            .filter(|d| **d >= Duration::from_micros(1_024))
            .count();
        assert_eq!(small + late, draws.len(), "only the two buckets");
        // 10 % of 10,000 draws are late: binomial, sd 30, so 1,000 ± 150 is five sd.
        assert!((850..=1_150).contains(&late), "{late}");
        assert!(
            draws.iter().all(|d| *d <= Duration::from_micros(1_500)),
            "capped at max"
        );
    }

    #[test]
    fn index_bits_put_every_later_request_late_against_every_earlier_one_once() {
        // Requests 0..n by arrival order; bits 0..⌈log2 n⌉ of the index, each with both
        // parities: for every ordered pair (a, b) some draw makes b late and a on time.
        let n = 11u64;
        let bits = u64::BITS - (n - 1).leading_zeros();
        let mut groups = Vec::new();
        for bit in 0..bits as u8 {
            for parity in 0..2 {
                let mut l = Lateness::new(
                    Jitter {
                        max: Duration::from_millis(5),
                        shape: JitterShape::IndexBit(bit),
                        seed: parity,
                    },
                    1,
                );
                let late: Vec<bool> = (0..n)
                    .map(|_| {
                        let late = l.in_late_group(0);
                        l.next_arrival(0);
                        late
                    })
                    .collect();
                groups.push(late);
            }
        }
        for a in 0..n as usize {
            for b in 0..n as usize {
                if a != b {
                    assert!(
                        groups.iter().any(|g| g[b] && !g[a]),
                        "{b} late while {a} is on time"
                    );
                }
            }
        }
    }

    #[test]
    fn uniform_draws_stay_within_max_and_constant_is_max() {
        let mut u = Lateness::new(
            Jitter {
                max: Duration::from_millis(3),
                shape: JitterShape::Uniform,
                seed: 1,
            },
            1,
        );
        assert!((0..1000).all(|_| u.draw(Instant::ZERO, false) <= Duration::from_millis(3)));
        let mut c = Lateness::new(
            Jitter {
                max: Duration::from_millis(3),
                shape: JitterShape::Constant,
                seed: 1,
            },
            1,
        );
        assert_eq!(c.draw(Instant(5), false), Duration::from_millis(3));
    }
}
