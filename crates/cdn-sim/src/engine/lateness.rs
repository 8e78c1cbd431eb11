//! Random lateness ([`Jitter`]): every scheduled event, and every arrival, happens up to
//! `max` later than the model says — what real timers do. Each workload's next arrival has
//! its lateness drawn once, so peeking at it and taking it agree.

use super::Jitter;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub(super) struct Lateness {
    max_ns: u64,
    constant: bool,
    rng: ChaCha8Rng,
    /// The lateness of each workload's next arrival.
    arrivals: Vec<Duration>,
}

impl Lateness {
    pub(super) fn new(j: Jitter, workloads: usize) -> Lateness {
        let mut l = Lateness {
            max_ns: u64::try_from(j.max.as_nanos()).unwrap_or(u64::MAX),
            constant: j.constant,
            rng: ChaCha8Rng::seed_from_u64(j.seed),
            arrivals: Vec::new(),
        };
        l.arrivals = (0..workloads).map(|_| l.draw()).collect();
        l
    }

    /// A fresh lateness, uniform in `[0, max]` (or `max` itself when constant).
    pub(super) fn draw(&mut self) -> Duration {
        if self.max_ns == 0 {
            return Duration::ZERO;
        }
        if self.constant {
            return Duration::from_nanos(self.max_ns);
        }
        Duration::from_nanos(self.rng.next_u64() % (self.max_ns + 1))
    }

    /// The lateness of workload `w`'s next arrival.
    pub(super) fn arrival(&self, w: usize) -> Duration {
        self.arrivals[w]
    }

    /// Workload `w`'s arrival happened: draw the next one's.
    pub(super) fn next_arrival(&mut self, w: usize) {
        self.arrivals[w] = self.draw();
    }
}
