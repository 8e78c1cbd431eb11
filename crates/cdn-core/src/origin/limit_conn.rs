//! A model of nginx's `limit_conn`: a cap on requests in flight per client key.
//!
//! nginx (`src/http/modules/ngx_http_limit_conn_module.c`) counts, per key,
//! the requests that have passed its preaccess-phase handler, i.e. whose
//! header has been read, and that have not yet been finalized (the count is
//! decremented by a pool cleanup handler). A request that finds the count
//! already at `limit_conn ... N` is answered at once with `limit_conn_status`
//! (503 by default); there is no queueing and no delay. Despite the name it
//! counts requests, not TCP connections: an idle keep-alive connection does not
//! count, and each HTTP/2 stream does.
//!
//! In the simulator a request's finish time is known when it is admitted, so
//! [`LimitConn::try_admit`] takes it and the slot frees itself when virtual time
//! passes it: a request whose finish time is `<= now` no longer counts. A
//! driver that only learns the finish later (a real network) uses
//! [`LimitConn::acquire`] and [`LimitConn::release`] instead.
//!
//! Timed calls ([`LimitConn::try_admit`], [`LimitConn::in_flight`]) are
//! expected with non-decreasing `now`: finished requests are forgotten once
//! seen finished. Keys with nothing in flight are removed, and every time the
//! number of keys has doubled all keys are pruned at the current `now`, so
//! memory stays proportional to the keys that are actually busy (amortized
//! O(1) per call).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;

use crate::time::Instant;

/// nginx's default status for refused requests (`limit_conn_status`).
pub const DEFAULT_REJECT_STATUS: u16 = 503;

/// Below this many keys, no global sweep is done.
const MIN_SWEEP_KEYS: usize = 1024;

/// The configuration of one `limit_conn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitConnConfig {
    /// The most requests one key may have in flight (`limit_conn zone N`).
    /// nginx refuses 0 in its configuration; here 0 refuses every request.
    pub max: u32,
    /// The status sent for refused requests (`limit_conn_status`, 503 by default).
    pub reject_status: u16,
}

impl LimitConnConfig {
    /// At most `max` requests in flight per key, refused ones get 503.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            reject_status: DEFAULT_REJECT_STATUS,
        }
    }
}

/// What one key has in flight.
#[derive(Clone, Debug, Default)]
struct KeyState {
    /// Finish times of timed requests, earliest on top.
    finishes: BinaryHeap<Reverse<Instant>>,
    /// Requests admitted by `acquire` and not yet released.
    open: u32,
}

impl KeyState {
    fn prune(&mut self, now: Instant) {
        while self.finishes.peek().is_some_and(|&Reverse(t)| t <= now) {
            self.finishes.pop();
        }
    }

    fn count(&self) -> u32 {
        u32::try_from(self.finishes.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.open)
    }

    fn is_empty(&self) -> bool {
        self.finishes.is_empty() && self.open == 0
    }
}

/// A `limit_conn` keyed by client IPv4 address. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct LimitConn {
    config: LimitConnConfig,
    keys: HashMap<Ipv4Addr, KeyState>,
    /// Sweep all keys when there are this many.
    sweep_at: usize,
}

impl LimitConn {
    /// An empty limiter (nothing in flight).
    pub fn new(config: LimitConnConfig) -> Self {
        Self {
            config,
            keys: HashMap::new(),
            sweep_at: MIN_SWEEP_KEYS,
        }
    }

    /// The configuration this limiter was made with.
    pub fn config(&self) -> &LimitConnConfig {
        &self.config
    }

    /// Admit a request from `key` at `now` that will finish at `done` (done >= now), or refuse it.
    /// Requests whose `done` <= now no longer count.
    ///
    /// A refused request changes nothing. An admitted request with
    /// `done <= now` needed a free slot but holds none afterwards.
    pub fn try_admit(&mut self, now: Instant, key: Ipv4Addr, done: Instant) -> bool {
        self.maybe_sweep(now);
        let max = self.config.max;
        match self.keys.get_mut(&key) {
            Some(state) => {
                state.prune(now);
                let admitted = state.count() < max;
                if admitted && done > now {
                    state.finishes.push(Reverse(done));
                }
                if state.is_empty() {
                    self.keys.remove(&key);
                }
                admitted
            }
            None => {
                let admitted = max > 0;
                if admitted && done > now {
                    let mut state = KeyState::default();
                    state.finishes.push(Reverse(done));
                    self.keys.insert(key, state);
                }
                admitted
            }
        }
    }

    /// Requests from `key` in flight at `now`.
    pub fn in_flight(&mut self, now: Instant, key: Ipv4Addr) -> u32 {
        self.maybe_sweep(now);
        let Some(state) = self.keys.get_mut(&key) else {
            return 0;
        };
        state.prune(now);
        let count = state.count();
        if state.is_empty() {
            self.keys.remove(&key);
        }
        count
    }

    /// Admit a request whose finish time is not yet known (real-network driver); pair with `release`.
    ///
    /// Without a `now`, timed requests of `key` that have finished since the
    /// last timed call still count; a driver should use one style or the
    /// other.
    pub fn acquire(&mut self, key: Ipv4Addr) -> bool {
        let state = self.keys.entry(key).or_default();
        if state.count() >= self.config.max {
            if state.is_empty() {
                self.keys.remove(&key);
            }
            return false;
        }
        state.open += 1;
        true
    }

    /// Ends a request admitted by [`acquire`](Self::acquire). Releasing more
    /// than was acquired is ignored.
    pub fn release(&mut self, key: Ipv4Addr) {
        if let Some(state) = self.keys.get_mut(&key) {
            state.open = state.open.saturating_sub(1);
            if state.is_empty() {
                self.keys.remove(&key);
            }
        }
    }

    /// How many keys have requests in flight (or finished ones not yet pruned).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    fn maybe_sweep(&mut self, now: Instant) {
        if self.keys.len() < self.sweep_at {
            return;
        }
        self.keys.retain(|_, state| {
            state.prune(now);
            !state.is_empty()
        });
        self.sweep_at = MIN_SWEEP_KEYS.max(self.keys.len().saturating_mul(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn ms(n: u64) -> Instant {
        Instant(n * 1_000_000)
    }

    #[test]
    fn defaults() {
        let config = LimitConnConfig::new(3);
        assert_eq!(config.max, 3);
        assert_eq!(config.reject_status, 503);
        assert_eq!(LimitConn::new(config).config(), &config);
    }

    #[test]
    fn caps_in_flight_per_key() {
        let mut lc = LimitConn::new(LimitConnConfig::new(2));
        assert!(lc.try_admit(ms(0), IP, ms(100)));
        assert!(lc.try_admit(ms(10), IP, ms(50)));
        assert!(!lc.try_admit(ms(20), IP, ms(30)));
        assert!(lc.try_admit(ms(20), OTHER, ms(30)));
        assert_eq!(lc.in_flight(ms(20), IP), 2);
        // The request ending at 50 no longer counts at 50.
        assert_eq!(lc.in_flight(ms(50), IP), 1);
        assert!(lc.try_admit(ms(50), IP, ms(200)));
        assert!(!lc.try_admit(ms(99), IP, ms(200)));
        assert!(lc.try_admit(ms(100), IP, ms(100)));
        assert_eq!(lc.in_flight(ms(100), IP), 1);
        assert_eq!(lc.in_flight(ms(200), IP), 0);
        assert_eq!(lc.in_flight(ms(200), OTHER), 0);
        assert_eq!(lc.tracked_keys(), 0);
    }

    #[test]
    fn instant_requests_need_a_slot_but_hold_none() {
        let mut lc = LimitConn::new(LimitConnConfig::new(1));
        assert!(lc.try_admit(ms(0), IP, ms(0)));
        assert_eq!(lc.tracked_keys(), 0);
        assert!(lc.try_admit(ms(0), IP, ms(10)));
        assert!(!lc.try_admit(ms(5), IP, ms(5)));
        assert_eq!(lc.tracked_keys(), 1);
    }

    #[test]
    fn zero_max_refuses_everything() {
        let mut lc = LimitConn::new(LimitConnConfig::new(0));
        assert!(!lc.try_admit(ms(0), IP, ms(10)));
        assert!(!lc.acquire(IP));
        assert_eq!(lc.tracked_keys(), 0);
    }

    #[test]
    fn acquire_and_release() {
        let mut lc = LimitConn::new(LimitConnConfig::new(2));
        assert!(lc.acquire(IP));
        assert!(lc.acquire(IP));
        assert!(!lc.acquire(IP));
        assert!(lc.acquire(OTHER));
        assert_eq!(lc.in_flight(ms(1_000_000), IP), 2);
        lc.release(IP);
        assert!(lc.try_admit(ms(0), IP, ms(10)));
        assert!(!lc.acquire(IP));
        assert_eq!(lc.in_flight(ms(10), IP), 1);
        lc.release(IP);
        lc.release(IP); // extra release ignored
        lc.release(OTHER);
        assert_eq!(lc.tracked_keys(), 0);
        assert!(lc.acquire(IP));
        assert!(lc.acquire(IP));
    }

    #[test]
    fn mixed_timed_and_untimed() {
        let mut lc = LimitConn::new(LimitConnConfig::new(2));
        assert!(lc.try_admit(ms(0), IP, ms(100)));
        assert!(lc.acquire(IP));
        assert!(!lc.try_admit(ms(50), IP, ms(60)));
        assert!(lc.try_admit(ms(100), IP, ms(160)));
        assert_eq!(lc.in_flight(ms(100), IP), 2);
    }

    #[test]
    fn idle_keys_are_swept() {
        let mut lc = LimitConn::new(LimitConnConfig::new(1));
        // Many one-off clients, each never seen again.
        for i in 0..100_000u32 {
            let key = Ipv4Addr::from(0x0a00_0000 + i);
            let now = ms(u64::from(i));
            assert!(lc.try_admit(now, key, ms(u64::from(i) + 5)));
        }
        // Only ~5 are really in flight; the rest is bounded by the sweep.
        assert!(
            lc.tracked_keys() <= 2 * MIN_SWEEP_KEYS,
            "{}",
            lc.tracked_keys()
        );
    }
}
