//! Real timers in virtual time, and how late they fire.
//!
//! Every wait of a net-mode run — a client's arrival, an emulated link delay, a deadline the
//! core asked for, the origin's service time — is a real timer set for a virtual instant.
//! Real timers fire late (tokio's wheel ticks every millisecond; a busy machine schedules the
//! task later still), and at a time scale of `s` a real millisecond late is `1/s` virtual
//! milliseconds late. [`LagMeter`] records, for every timer, how late it fired *in virtual
//! time*, so a run can say whether its timing stayed within what its scenario tolerates.

use crate::clock::VirtualClock;
use cdn_core::Instant;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Request header: the virtual instant (ns) the request is due at its receiver — when it
/// would arrive over the emulated link. The receiver records how late it really came.
pub const DUE_HEADER: &str = "x-cdn-sim-due";

/// Response header: the virtual instant (ns) the response left its sender. The receiver
/// waits until it would arrive over the emulated link, and records how late that was.
pub const SENT_HEADER: &str = "x-cdn-sim-sent";

/// The virtual instant in a [`DUE_HEADER`] or [`SENT_HEADER`].
pub fn stamp(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> Option<Instant> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Instant)
}

/// Buckets of the lateness histogram ([`LagSummary::histogram`]): bucket 0 holds lateness
/// below 1 µs, bucket `i > 0` lateness in `[2^(i-1), 2^i)` µs (virtual); the last also holds
/// everything later (2^31 µs is 36 virtual minutes).
pub const LAG_BUCKETS: usize = 32;
const BUCKETS: usize = LAG_BUCKETS;

/// Lateness of every timer of a run, in virtual time. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct LagMeter {
    inner: Arc<Meter>,
}

#[derive(Debug)]
struct Meter {
    count: AtomicU64,
    max_ns: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Meter {
    fn default() -> Meter {
        Meter {
            count: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// What a [`LagMeter`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LagSummary {
    /// Timers measured.
    pub timers: u64,
    /// 99th percentile of lateness (virtual), an upper bound from the histogram.
    pub p99: Duration,
    /// The latest any timer fired (virtual).
    pub max: Duration,
    /// How many timers fired how late: bucket `i` as [`LAG_BUCKETS`] says. What the
    /// simulator replays to ask whether this much lateness could have changed a count.
    pub histogram: [u64; LAG_BUCKETS],
}

impl LagMeter {
    /// Records one timer that fired `late` (virtual) after its instant.
    pub fn record(&self, late: Duration) {
        let m = &self.inner;
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        m.count.fetch_add(1, Ordering::Relaxed);
        m.max_ns.fetch_max(ns, Ordering::Relaxed);
        let us = ns / 1_000;
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        m.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records one timer, due at virtual `due`, set at `site`; a new maximum is logged (target
    /// `cdn_net::lag`, level debug: `--log cdn_net::lag=debug`) with the site and the due
    /// time, so a run that fell behind can tell which wait was the latest and when.
    pub fn record_at(&self, late: Duration, due: Instant, site: &'static std::panic::Location) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        let before = self.inner.max_ns.load(Ordering::Relaxed);
        self.record(late);
        if ns > before {
            tracing::debug!(
                target: "cdn_net::lag",
                late_ms = ns as f64 / 1e6,
                due_s = due.as_nanos() as f64 / 1e9,
                site = %site,
                "the latest timer so far"
            );
        }
    }

    /// Count, 99th percentile and maximum so far.
    pub fn summary(&self) -> LagSummary {
        let m = &self.inner;
        let timers = m.count.load(Ordering::Relaxed);
        let max = Duration::from_nanos(m.max_ns.load(Ordering::Relaxed));
        let rank = timers - timers / 100; // the 99th percentile's rank, from 1
        let histogram: [u64; BUCKETS] =
            std::array::from_fn(|i| m.buckets[i].load(Ordering::Relaxed));
        let mut seen = 0;
        let mut p99 = Duration::ZERO;
        for (i, b) in histogram.iter().enumerate() {
            seen += b;
            if timers > 0 && seen >= rank {
                // Bucket i holds lateness below 2^i µs.
                p99 = Duration::from_micros(1u64 << i).min(max);
                break;
            }
        }
        LagSummary {
            timers,
            p99,
            max,
            histogram,
        }
    }
}

/// Timers for virtual instants on a shared clock, measured by a shared meter.
#[derive(Clone, Debug)]
pub struct Timers {
    clock: VirtualClock,
    lag: LagMeter,
}

impl Timers {
    /// Timers on `clock`, measured by `lag`.
    pub fn new(clock: VirtualClock, lag: LagMeter) -> Timers {
        Timers { clock, lag }
    }

    /// The clock.
    pub fn clock(&self) -> VirtualClock {
        self.clock
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The meter.
    pub fn lag(&self) -> &LagMeter {
        &self.lag
    }

    /// Sleeps until virtual `at`; records how late it woke (and where it was set). Returns
    /// the virtual time then (never before `at`).
    #[track_caller]
    pub fn sleep_until(&self, at: Instant) -> impl Future<Output = Instant> + '_ {
        let site = std::panic::Location::caller();
        async move {
            let deadline = self.clock.deadline(at);
            // An instant already past (a zero link delay, a stamp from before) needs no
            // timer: registering one only to have it fire at once takes the timer driver's
            // lock twice per wait, on every request's hops.
            if deadline > tokio::time::Instant::now() {
                tokio::time::sleep_until(deadline).await;
            }
            self.woke(at, site)
        }
    }

    /// Waits until virtual `at` for the rest of an emulated link delay that followed real
    /// I/O: if the I/O itself took longer (a peer's own time, a kernel's retransmission),
    /// there is nothing left to wait and nothing was late.
    #[track_caller]
    pub fn wait_until(&self, at: Instant) -> impl Future<Output = Instant> + '_ {
        let now = self.now();
        let sleep = (now < at).then(|| self.sleep_until(at));
        async move {
            match sleep {
                Some(sleep) => sleep.await,
                None => now,
            }
        }
    }

    /// Sleeps for `d` of virtual time (an emulated link delay); returns the virtual time then.
    #[track_caller]
    pub fn sleep(&self, d: Duration) -> impl Future<Output = Instant> + '_ {
        let now = self.now();
        let sleep = (!d.is_zero()).then(|| self.sleep_until(now + d));
        async move {
            match sleep {
                Some(sleep) => sleep.await,
                None => now,
            }
        }
    }

    /// Runs `fut` until virtual `at`: `Ok` with its output if it finished first, `Err` with
    /// the virtual time (never before `at`) if the deadline came first.
    #[track_caller]
    pub fn deadline<'a, F: Future + 'a>(
        &'a self,
        at: Instant,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, Instant>> + 'a {
        let site = std::panic::Location::caller();
        async move {
            match tokio::time::timeout_at(self.clock.deadline(at), fut).await {
                Ok(v) => Ok(v),
                Err(_) => Err(self.woke(at, site)),
            }
        }
    }

    /// Something due at `at` happened now: records how late (a message that crossed an
    /// emulated link, a handshake that took CPU). Returns the virtual time now.
    #[track_caller]
    pub fn arrived(&self, at: Instant) -> Instant {
        let now = self.clock.now();
        let site = std::panic::Location::caller();
        self.lag.record_at(now.saturating_since(at), at, site);
        now
    }

    /// A timer for `at` has fired: record its lateness, return the virtual time (≥ `at`).
    fn woke(&self, at: Instant, site: &'static std::panic::Location) -> Instant {
        let now = self.clock.now();
        self.lag.record_at(now.saturating_since(at), at, site);
        if now < at {
            at
        } else {
            now
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_bounds_the_99th_percentile_and_keeps_the_max() {
        let m = LagMeter::default();
        for _ in 0..99 {
            m.record(Duration::from_micros(300));
        }
        m.record(Duration::from_millis(50));
        let s = m.summary();
        assert_eq!(s.timers, 100);
        assert_eq!(s.max, Duration::from_millis(50));
        // 300 µs falls in the bucket below 512 µs.
        assert_eq!(s.p99, Duration::from_micros(512));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sleep_until_an_instant_already_past_is_ready_at_once() {
        let clock = VirtualClock::start(1.0).unwrap();
        let t = Timers::new(clock, LagMeter::default());
        let past = t.now();
        std::thread::sleep(Duration::from_millis(2));
        // No timer: ready on the first poll (a timer would wait for the wheel's next tick).
        let sleep = std::pin::pin!(t.sleep_until(past));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match sleep.poll(&mut cx) {
            std::task::Poll::Ready(now) => assert!(now >= past + Duration::from_millis(2)),
            std::task::Poll::Pending => panic!("a past instant waited"),
        }
        // Still measured: it was 2 ms late.
        let lag = t.lag().summary();
        assert_eq!(lag.timers, 1);
        assert!(lag.max >= Duration::from_millis(2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_deadline_reports_the_virtual_time_it_fired_at() {
        // 2 virtual seconds are 2 real milliseconds.
        let clock = VirtualClock::start(0.001).unwrap();
        let t = Timers::new(clock, LagMeter::default());
        let at = Instant::ZERO + Duration::from_secs(2);
        let r = t.deadline(at, std::future::pending::<()>()).await;
        assert!(r.unwrap_err() >= at);
        assert_eq!(t.lag().summary().timers, 1);
    }
}
