//! Every client answer of a run, gathered as the run goes: when it completed, its status,
//! the tier that generated it and its latency — binned over time for the HTML report's
//! charts, with the first request numbers of each status kept for tracing.
//!
//! The engine reports each answer through two [`SimOptions`] hooks: `on_response` (request
//! number, status, generating tier) and, called right after it when `progress_every` is 1,
//! `progress` (the virtual time now, which is when the answer left the edge). The time the
//! request was *sent* is not reported, so [`Answers`] replays the scenario's workload
//! generators — the same seeded generators the engine merges in the same order — to know
//! each request number's send time. A test compares the latencies found this way with the
//! engine's own percentiles for every built-in scenario, so the two cannot drift apart
//! silently. (NOTES-FOR-LEAD.md asks for the send and completion times in `on_response`,
//! which would make the replay unnecessary.)
//!
//! Memory is bounded: time bins are merged pairwise when the run outlasts them (at most
//! [`MAX_BINS`]), latencies are counted in buckets of a fixed 1-2-5 grid ([`Histogram`]; the
//! exact percentiles are the engine's report), and send times are kept only for requests
//! still in flight.
//!
//! ```
//! use cdn_sim::{answers::Answers, builtin};
//! let scenario = builtin::load("origin-down-mid-run").unwrap();
//! let (answers, report) = Answers::collect(&scenario, None, 1).unwrap();
//! assert_eq!(answers.total(), report.requests);
//! // The first 521 comes after the origin went down at 3 s.
//! assert!(answers.firsts[&521][0] > 0);
//! ```

use crate::engine::{simulate, SimError, SimOptions};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::workload::WorkloadGen;
use cdn_core::{Instant, Tier};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// The most time bins a timeline keeps; past that, neighbouring bins merge.
pub const MAX_BINS: usize = 120;

/// Counts per status code and generating tier (`[l1, l2, origin]`).
pub type ByCode = BTreeMap<u16, [u64; 3]>;

/// Answers counted in consecutive, equal time bins from the start of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The width of every bin.
    pub bin: Duration,
    /// Per bin: answers completed in it, by status and generating tier.
    pub bins: Vec<ByCode>,
}

impl Timeline {
    fn new(bin: Duration) -> Timeline {
        Timeline {
            bin,
            bins: Vec::new(),
        }
    }

    fn add(&mut self, at: Instant, status: u16, tier: Tier) {
        let mut i = (at.as_nanos() / self.bin.as_nanos() as u64) as usize;
        while i >= MAX_BINS {
            self.coarsen();
            i = (at.as_nanos() / self.bin.as_nanos() as u64) as usize;
        }
        if self.bins.len() <= i {
            self.bins.resize_with(i + 1, BTreeMap::new);
        }
        self.bins[i].entry(status).or_insert([0; 3])[tier_index(tier)] += 1;
    }

    /// Doubles the bin width, merging bins pairwise.
    fn coarsen(&mut self) {
        self.bin *= 2;
        let old = std::mem::take(&mut self.bins);
        for (k, b) in old.into_iter().enumerate() {
            if k % 2 == 0 {
                self.bins.push(b);
            } else {
                let into = self.bins.last_mut().expect("pushed at k - 1");
                for (code, n) in b {
                    let e = into.entry(code).or_insert([0; 3]);
                    for t in 0..3 {
                        e[t] += n[t];
                    }
                }
            }
        }
    }
}

fn tier_index(t: Tier) -> usize {
    match t {
        Tier::L1 => 0,
        Tier::L2 => 1,
        Tier::Origin => 2,
    }
}

/// The initial bin width: about 60 bins over the workload's duration, on a 1-2-5 grid.
fn initial_bin(duration: Duration) -> Duration {
    let target = duration.as_nanos() as f64 / 60.0;
    let mut unit = 1_000_000f64; // 1 ms
    loop {
        for m in [1.0, 2.0, 5.0] {
            if unit * m >= target {
                return Duration::from_nanos((unit * m) as u64);
            }
        }
        unit *= 10.0;
    }
}

/// Bucket edges in microseconds: 0, then 1, 2, 5, 10, 20, 50, … up to 5·10¹¹ µs (six days).
pub fn grid() -> Vec<u64> {
    let mut edges = vec![0];
    let mut unit = 1u64;
    while unit <= 100_000_000_000 {
        edges.extend([unit, 2 * unit, 5 * unit]);
        unit *= 10;
    }
    edges
}

/// Latencies counted in the buckets of [`grid`], with their exact sum and maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Count per bucket: `counts[i]` holds latencies in `grid()[i] .. grid()[i + 1]` µs
    /// (the last bucket is open-ended).
    pub counts: Vec<u64>,
    /// Latencies counted.
    pub total: u64,
    /// Their sum, in microseconds.
    pub sum_us: u128,
    /// The longest, in microseconds.
    pub max_us: u64,
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, d: Duration, grid: &[u64]) {
        let us = d.as_micros() as u64;
        if self.counts.is_empty() {
            self.counts = vec![0; grid.len()];
        }
        let i = grid.partition_point(|&e| e <= us).saturating_sub(1);
        self.counts[i] += 1;
        self.total += 1;
        self.sum_us += us as u128;
        self.max_us = self.max_us.max(us);
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.is_empty() {
            self.counts = vec![0; other.counts.len()];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The mean in milliseconds, rounded as the run report rounds it.
    pub fn mean_ms(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (self.sum_us as f64 / self.total as f64 / 1000.0 * 1000.0).round() / 1000.0
    }
}

/// Send times of the requests still in flight, from a replay of the workload generators.
struct SendTimes {
    gens: Vec<WorkloadGen>,
    /// The number the next generated request gets.
    next: u64,
    /// Send time by request number, for requests generated and not yet answered: as many
    /// as the engine has in flight (a map, not a window, so that one slow request does not
    /// hold on to every answered one after it).
    pending: BTreeMap<u64, Instant>,
}

impl SendTimes {
    fn new(scenario: &Scenario, seed: u64) -> SendTimes {
        SendTimes {
            gens: scenario
                .workloads
                .iter()
                .enumerate()
                .map(|(i, w)| WorkloadGen::new(w, i, scenario.duration, seed))
                .collect(),
            next: 0,
            pending: BTreeMap::new(),
        }
    }

    /// The send time of request `number`, marking it answered.
    fn take(&mut self, number: u64) -> Instant {
        while self.next <= number {
            // The engine numbers requests in arrival order, merging the generators by next
            // arrival time, the lowest index first on ties.
            let mut best: Option<(Instant, usize)> = None;
            for (i, g) in self.gens.iter().enumerate() {
                if let Some(t) = g.peek() {
                    if best.is_none_or(|(bt, _)| t < bt) {
                        best = Some((t, i));
                    }
                }
            }
            let (_, i) = best.expect("the engine answered a request its workloads never sent");
            let a = self.gens[i].next_arrival().expect("peeked");
            self.pending.insert(self.next, a.at);
            self.next += 1;
        }
        self.pending
            .remove(&number)
            .expect("the engine answers each request once")
    }
}

/// What a run's client answers were.
pub struct Answers {
    /// Answers over time.
    pub timeline: Timeline,
    /// Latencies per status code.
    pub latency: BTreeMap<u16, Histogram>,
    /// The first request numbers (up to the `keep` given) that ended with each status.
    pub firsts: BTreeMap<u16, Vec<u64>>,
    keep: usize,
    grid: Vec<u64>,
    sends: SendTimes,
    /// `(at, half the client RTT from then on)`, from the scenario's events.
    half_rtt: Vec<(Instant, Duration)>,
    pending: Option<(u64, u16, Tier)>,
}

impl Answers {
    /// An empty collection for a run of `scenario` with `seed`, keeping the first `keep`
    /// request numbers of each status.
    pub fn new(scenario: &Scenario, seed: u64, keep: usize) -> Answers {
        let mut half_rtt = vec![(Instant::ZERO, scenario.network.client_rtt / 2)];
        for e in &scenario.events {
            half_rtt.push((Instant::ZERO + e.at, e.network.client_rtt / 2));
        }
        Answers {
            timeline: Timeline::new(initial_bin(scenario.duration)),
            latency: BTreeMap::new(),
            firsts: BTreeMap::new(),
            keep,
            grid: grid(),
            sends: SendTimes::new(scenario, seed),
            half_rtt,
            pending: None,
        }
    }

    /// Runs `scenario` once, collecting every answer; also returns the run's report.
    /// `progress` is called with (answers so far, virtual time) after every answer.
    pub fn collect(
        scenario: &Scenario,
        progress: Option<Box<dyn FnMut(u64, Instant)>>,
        keep: usize,
    ) -> Result<(Answers, Report), SimError> {
        let answers = Rc::new(RefCell::new(Answers::new(scenario, scenario.seed, keep)));
        let mut options = SimOptions::default();
        Answers::install(&answers, &mut options, progress);
        let report = simulate(scenario, options)?.report;
        let answers = Rc::try_unwrap(answers)
            .ok()
            .expect("the engine dropped its hooks")
            .into_inner();
        Ok((answers, report))
    }

    /// Sets `options`' hooks to feed `this` (`progress`, if any, is chained).
    pub fn install(
        this: &Rc<RefCell<Answers>>,
        options: &mut SimOptions,
        mut progress: Option<Box<dyn FnMut(u64, Instant)>>,
    ) {
        let on_response = Rc::clone(this);
        options.on_response = Some(Box::new(move |n, status, tier| {
            on_response.borrow_mut().pending = Some((n, status, tier));
        }));
        let on_done = Rc::clone(this);
        options.progress = Some(Box::new(move |finished, now| {
            on_done.borrow_mut().complete(now);
            if let Some(p) = progress.as_mut() {
                p(finished, now);
            }
        }));
        options.progress_every = 1;
    }

    fn complete(&mut self, now: Instant) {
        let Some((number, status, tier)) = self.pending.take() else {
            return;
        };
        let sent = self.sends.take(number);
        let half = self
            .half_rtt
            .iter()
            .rev()
            .find(|(at, _)| *at <= now)
            .map_or(Duration::ZERO, |(_, h)| *h);
        let done = now + half;
        self.latency
            .entry(status)
            .or_default()
            .record(done.saturating_since(sent), &self.grid);
        self.timeline.add(done, status, tier);
        let firsts = self.firsts.entry(status).or_default();
        if firsts.len() < self.keep {
            firsts.push(number);
        }
    }

    /// Answers counted.
    pub fn total(&self) -> u64 {
        self.latency.values().map(|h| h.total).sum()
    }

    /// Every latency, whatever the status.
    pub fn all_latencies(&self) -> Histogram {
        let mut all = Histogram::default();
        for l in self.latency.values() {
            all.merge(l);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_merge_pairwise_and_keep_every_answer() {
        let mut t = Timeline::new(Duration::from_millis(100));
        for ms in (0..30_000).step_by(50) {
            t.add(Instant::ZERO + Duration::from_millis(ms), 200, Tier::Origin);
        }
        assert!(t.bins.len() <= MAX_BINS);
        // 30 s in bins of 100 ms × 2^k: 400 ms gives 75 bins.
        assert_eq!(t.bin, Duration::from_millis(400));
        let total: u64 = t.bins.iter().map(|b| b[&200][2]).sum();
        assert_eq!(total, 600);
    }

    #[test]
    fn initial_bins_are_on_a_1_2_5_grid() {
        assert_eq!(
            initial_bin(Duration::from_secs(10)),
            Duration::from_millis(200)
        );
        assert_eq!(
            initial_bin(Duration::from_secs(3)),
            Duration::from_millis(50)
        );
    }
}
