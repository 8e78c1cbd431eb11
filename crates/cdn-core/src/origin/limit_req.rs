//! A faithful model of nginx's `limit_req` (leaky bucket per client key).
//!
//! This follows `ngx_http_limit_req_lookup` and `ngx_http_limit_req_account` in
//! nginx's `src/http/modules/ngx_http_limit_req_module.c` (checked against
//! nginx 1.22), including its integer arithmetic, rather than the textbook
//! description of a leaky bucket.
//!
//! # Units
//!
//! nginx counts in *milli-requests*:
//!
//! * the rate `R` is `rate * 1000` per second for `rate=Nr/s`, and
//!   `N * 1000 / 60` (integer division) for `rate=Nr/m`, so `1r/m` is really
//!   16 milli-requests per second, i.e. 0.96 requests per minute;
//! * the burst `B` is `burst * 1000`;
//! * the delay threshold `D` is `delay * 1000` for `delay=N`, 0 by default,
//!   and infinite for `nodelay`.
//!
//! # Algorithm
//!
//! For each key (here the client's IPv4 address) nginx keeps `excess` and
//! `last`, the latter in milliseconds of its cached 1 ms clock. For a request
//! at `now` (ms):
//!
//! 1. A key seen for the first time is accepted with `excess = 0` and
//!    `last = now`, without delay.
//! 2. Otherwise `ms = now - last` as a signed number, clamped: below
//!    `-60000` it becomes 1, otherwise below 0 it becomes 0.
//! 3. `excess' = max(0, excess - R * ms / 1000 + 1000)` with integer
//!    division; the clamp to 0 comes *after* adding the 1000 for this request.
//! 4. If `excess' > B` the request is rejected (with
//!    [`LimitReqConfig::reject_status`], 503 by default).
//! 5. Otherwise it is accepted: `excess = excess'`, and `last = now` **only if
//!    `ms != 0`**. Its delay is `(excess' - D) * 1000 / R` ms when
//!    `excess' > D`, and none otherwise.
//!
//! # Gotchas that a textbook bucket gets wrong
//!
//! * **A rejected request changes nothing**: neither `excess` nor `last`. So
//!   while a client is being rejected, `ms` keeps growing from the last
//!   accepted request, and the bucket drains as if the rejected requests had
//!   never come.
//! * **`last` moves only when `ms != 0`**: several requests in the same
//!   millisecond all drain against the same `last`.
//! * **There are no windows.** It is often said that `10r/s` means "one request
//!   per 100 ms window"; in fact the bucket drains continuously at 1 ms
//!   resolution. A key that has been idle long enough has `excess' = 0`, so it
//!   admits `1 + burst` requests at once.
//! * The first request of a new key is stored with `excess = 0`, not 1000: it
//!   is free.
//!
//! # Memory and eviction
//!
//! nginx keeps the nodes in a shared-memory zone with an LRU queue; when it
//! allocates a node it frees up to two least-recently-used nodes that have been
//! idle for at least 60 s and whose excess has drained to zero, and under
//! memory pressure the oldest node by force. This model keeps every key it has
//! seen instead (an entry is 16 bytes plus the hash-map overhead). The only
//! observable difference: a key that nginx evicted comes back as a new key
//! with `excess' = 0`, while here it gets `max(0, excess - R * ms / 1000 +
//! 1000)`, which is at most 1000 and is non-zero only for very low rates
//! (below about 1000 / 60 milli-requests per second per ms of idleness, e.g.
//! `1r/m`).
//!
//! # Not modelled
//!
//! Several `limit_req` directives at one location (the `NGX_AGAIN` path and
//! `count`), `limit_req_dry_run`, and nginx's clock being cached once per
//! event-loop iteration: here `now` is the exact virtual time truncated to
//! whole milliseconds ([`Instant::as_millis`]).

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::time::Instant;

/// nginx's default status for rejected requests (`limit_req_status`).
pub const DEFAULT_REJECT_STATUS: u16 = 503;

/// A `limit_req_zone` rate, as nginx stores it: milli-requests per second.
///
/// Always positive, as nginx refuses `rate=0r/s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NginxRate {
    per_second_milli: u64,
}

impl NginxRate {
    /// `rate=Nr/s`: `R = n * 1000`; `None` if `n` is 0 (nginx refuses it) or `n * 1000`
    /// overflows a `u64`.
    ///
    /// ```
    /// use cdn_core::origin::NginxRate;
    /// assert_eq!(NginxRate::per_second(10).unwrap().milli_per_second(), 10_000);
    /// assert_eq!(NginxRate::per_second(0), None);
    /// ```
    pub const fn per_second(n: u64) -> Option<Self> {
        Self::checked(n, 1)
    }

    /// `rate=Nr/m`: `R = n * 1000 / 60`, truncated as in nginx (so `1r/m` is
    /// 16 milli-requests per second); `None` if `n` is 0 or `n * 1000` overflows a `u64`.
    pub const fn per_minute(n: u64) -> Option<Self> {
        Self::checked(n, 60)
    }

    /// `R`: the rate in milli-requests per second (10 r/s is 10 000).
    pub const fn milli_per_second(self) -> u64 {
        self.per_second_milli
    }

    const fn checked(n: u64, scale: u64) -> Option<Self> {
        if n == 0 {
            return None;
        }
        match n.checked_mul(1000) {
            Some(milli) => Some(Self {
                per_second_milli: milli / scale,
            }),
            None => None,
        }
    }
}

/// The error for a string that is not an nginx rate such as `10r/s` or `30r/m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseRateError {
    input: String,
}

impl ParseRateError {
    /// The string that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseRateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid nginx rate {:?}: expected e.g. \"10r/s\" or \"30r/m\"",
            self.input
        )
    }
}

impl Error for ParseRateError {}

impl FromStr for NginxRate {
    type Err = ParseRateError;

    /// Parses `Nr/s` or `Nr/m` with `N` a positive decimal integer, exactly as
    /// written in `limit_req_zone ... rate=`; no sign, spaces or fractions.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (digits, scale) = if let Some(d) = s.strip_suffix("r/s") {
            (d, 1)
        } else if let Some(d) = s.strip_suffix("r/m") {
            (d, 60)
        } else {
            (s, 0)
        };
        let parsed =
            if scale != 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| Self::checked(n, scale))
            } else {
                None
            };
        parsed.ok_or_else(|| ParseRateError {
            input: s.to_owned(),
        })
    }
}

/// How accepted-but-excess requests are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delay {
    /// `nodelay`: accepted requests are never delayed (a threshold of infinity).
    NoDelay,
    /// `delay=N`: the first `N` excess requests are not delayed; later ones are
    /// delayed so that they proceed at the configured rate. `After(0)` is plain
    /// nginx behaviour, where every excess request is delayed.
    After(u64),
}

impl Default for Delay {
    /// `After(0)`: nginx's behaviour without `nodelay` or `delay=`.
    fn default() -> Self {
        Delay::After(0)
    }
}

impl Delay {
    /// `D` in milli-requests; `None` is infinity.
    fn threshold_milli(self) -> Option<u64> {
        match self {
            Delay::NoDelay => None,
            Delay::After(n) => Some(n.saturating_mul(1000)),
        }
    }
}

/// The configuration of one `limit_req` (its zone's rate plus the location's
/// `burst`, `delay`/`nodelay` and `limit_req_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitReqConfig {
    /// `rate=` of the `limit_req_zone`.
    pub rate: NginxRate,
    /// `burst=`: how many requests may be in excess of the rate (0 by default).
    pub burst: u64,
    /// `delay=N` or `nodelay`; [`Delay::After(0)`](Delay::After) by default.
    pub delay: Delay,
    /// The status sent for rejected requests (`limit_req_status`, 503 by default).
    pub reject_status: u16,
}

impl LimitReqConfig {
    /// nginx's defaults for `rate`: no burst, plain delaying, status 503.
    pub fn new(rate: NginxRate) -> Self {
        Self {
            rate,
            burst: 0,
            delay: Delay::default(),
            reject_status: DEFAULT_REJECT_STATUS,
        }
    }
}

/// The verdict for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitReqVerdict {
    /// The request goes on, after waiting `delay_ms` milliseconds (0 for none).
    Accept {
        /// How long nginx holds the request before processing it, in ms.
        delay_ms: u64,
    },
    /// The request is answered at once with [`LimitReqConfig::reject_status`].
    Reject,
}

impl LimitReqVerdict {
    /// Whether the request was accepted (delayed or not).
    pub fn is_accept(self) -> bool {
        matches!(self, LimitReqVerdict::Accept { .. })
    }
}

/// nginx's per-key node: `excess` in milli-requests and `last` in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    excess: u64,
    last_ms: u64,
}

/// A `limit_req` keyed by client IPv4 address. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct LimitReq {
    config: LimitReqConfig,
    /// `B` in milli-requests.
    burst_milli: u64,
    /// `D` in milli-requests; `None` for `nodelay`.
    delay_milli: Option<u64>,
    state: HashMap<Ipv4Addr, Entry>,
}

impl LimitReq {
    /// An empty limiter (no key seen yet).
    pub fn new(config: LimitReqConfig) -> Self {
        Self {
            config,
            burst_milli: config.burst.saturating_mul(1000),
            delay_milli: config.delay.threshold_milli(),
            state: HashMap::new(),
        }
    }

    /// The configuration this limiter was made with.
    pub fn config(&self) -> &LimitReqConfig {
        &self.config
    }

    /// Decides on a request from `key` arriving at `now`, updating the key's
    /// state if (and only if) the request is accepted or the key is new.
    pub fn check(&mut self, now: Instant, key: Ipv4Addr) -> LimitReqVerdict {
        let now_ms = now.as_millis();
        let entry = match self.state.entry(key) {
            MapEntry::Vacant(slot) => {
                slot.insert(Entry {
                    excess: 0,
                    last_ms: now_ms,
                });
                return LimitReqVerdict::Accept { delay_ms: 0 };
            }
            MapEntry::Occupied(slot) => slot.into_mut(),
        };

        // i128 cannot overflow for any u64 inputs; for realistic values it
        // gives exactly nginx's ngx_int_t results.
        let rate = i128::from(self.config.rate.milli_per_second());
        let mut ms = i128::from(now_ms) - i128::from(entry.last_ms);
        if ms < -60_000 {
            ms = 1;
        } else if ms < 0 {
            ms = 0;
        }
        let excess = (i128::from(entry.excess) - rate * ms / 1000 + 1000).max(0);
        if excess > i128::from(self.burst_milli) {
            return LimitReqVerdict::Reject;
        }
        // 0 <= excess <= burst_milli, a u64.
        let excess = u64::try_from(excess).unwrap_or(self.burst_milli);
        entry.excess = excess;
        if ms != 0 {
            entry.last_ms = now_ms;
        }

        let delay_ms = match self.delay_milli {
            Some(threshold) if excess > threshold => {
                let ms = u128::from(excess - threshold) * 1000
                    / u128::from(self.config.rate.milli_per_second());
                u64::try_from(ms).unwrap_or(u64::MAX)
            }
            _ => 0,
        };
        LimitReqVerdict::Accept { delay_ms }
    }

    /// How many keys have state. Keys are never evicted (see the module docs).
    pub fn tracked_keys(&self) -> usize {
        self.state.len()
    }
}

impl fmt::Display for NginxRate {
    /// Formats as nginx writes it: `"10r/s"`, or `"30r/m"` when the rate is not a whole
    /// number per second.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.milli_per_second();
        if r % 1000 == 0 {
            write!(f, "{}r/s", r / 1000)
        } else {
            write!(f, "{}r/m", r * 60 / 1000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn ms(n: u64) -> Instant {
        Instant(n * 1_000_000)
    }

    fn limiter(rate: NginxRate, burst: u64, delay: Delay) -> LimitReq {
        LimitReq::new(LimitReqConfig {
            burst,
            delay,
            ..LimitReqConfig::new(rate)
        })
    }

    fn accepted(delay_ms: u64) -> LimitReqVerdict {
        LimitReqVerdict::Accept { delay_ms }
    }

    #[test]
    fn rates_in_milli_requests() {
        assert_eq!(
            NginxRate::per_second(10).unwrap().milli_per_second(),
            10_000
        );
        assert_eq!(NginxRate::per_minute(30).unwrap().milli_per_second(), 500);
        assert_eq!(NginxRate::per_minute(1).unwrap().milli_per_second(), 16);
        assert_eq!(NginxRate::per_minute(7).unwrap().milli_per_second(), 116);
    }

    #[test]
    fn zero_and_overflowing_rates_are_none() {
        assert_eq!(NginxRate::per_second(0), None);
        assert_eq!(NginxRate::per_minute(0), None);
        assert_eq!(NginxRate::per_second(u64::MAX / 1000 + 1), None);
        assert!(NginxRate::per_second(u64::MAX / 1000).is_some());
    }

    #[test]
    fn parses_rates() {
        assert_eq!("10r/s".parse(), Ok(NginxRate::per_second(10).unwrap()));
        assert_eq!("30r/m".parse(), Ok(NginxRate::per_minute(30).unwrap()));
        assert_eq!("1r/m".parse::<NginxRate>().unwrap().milli_per_second(), 16);
        for bad in [
            "",
            "r/s",
            "10",
            "10/s",
            "10r/h",
            "0r/s",
            "-1r/s",
            "+1r/s",
            " 10r/s",
            "1.5r/s",
            "99999999999999999999r/s",
            "18446744073709552r/s",
        ] {
            let err = bad.parse::<NginxRate>().unwrap_err();
            assert_eq!(err.input(), bad);
        }
    }

    #[test]
    fn parse_error_message() {
        let err = "10/s".parse::<NginxRate>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid nginx rate "10/s": expected e.g. "10r/s" or "30r/m""#
        );
        let _: &dyn Error = &err;
    }

    #[test]
    fn defaults() {
        let config = LimitReqConfig::new(NginxRate::per_second(1).unwrap());
        assert_eq!(config.burst, 0);
        assert_eq!(config.delay, Delay::After(0));
        assert_eq!(config.reject_status, 503);
        assert_eq!(Delay::default(), Delay::After(0));
    }

    #[test]
    fn idle_key_admits_one_plus_burst_at_once() {
        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 3, Delay::NoDelay);
        let verdicts: Vec<_> = (0..6).map(|_| lr.check(ms(5), IP)).collect();
        assert_eq!(verdicts.iter().filter(|v| v.is_accept()).count(), 4);
        assert_eq!(verdicts[4], LimitReqVerdict::Reject);
        // Fully drained after 4 s: again 1 + 3.
        let again = (0..6)
            .filter(|_| lr.check(ms(4005), IP).is_accept())
            .count();
        assert_eq!(again, 4);
    }

    #[test]
    fn rejected_requests_change_nothing() {
        // 1 r/s, no burst: the second request must wait a full second after
        // the *accepted* one, however many rejected ones come in between.
        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 0, Delay::NoDelay);
        assert_eq!(lr.check(ms(0), IP), accepted(0));
        for t in (1..1000).step_by(7) {
            assert_eq!(lr.check(ms(t), IP), LimitReqVerdict::Reject, "t={t}");
        }
        assert_eq!(lr.check(ms(999), IP), LimitReqVerdict::Reject);
        assert_eq!(lr.check(ms(1000), IP), accepted(0));
    }

    #[test]
    fn no_windows() {
        // 10 r/s, no burst: one request every 100 ms passes, whatever the
        // phase; 99 ms is too early.
        let mut lr = limiter(NginxRate::per_second(10).unwrap(), 0, Delay::NoDelay);
        assert!(lr.check(ms(37), IP).is_accept());
        assert!(lr.check(ms(137), IP).is_accept());
        assert!(!lr.check(ms(236), IP).is_accept());
        assert!(lr.check(ms(237), IP).is_accept());
    }

    #[test]
    fn last_only_moves_when_ms_nonzero() {
        // 10 r/s, burst 1. t=0 new (e=0, last=0); t=50: e=0-500+1000=500,
        // last=50; t=50 again: ms=0, e=1500 > 1000 rejected. t=51: ms=1,
        // e=500-10+1000=1490 rejected.
        let mut lr = limiter(NginxRate::per_second(10).unwrap(), 1, Delay::NoDelay);
        assert!(lr.check(ms(0), IP).is_accept());
        assert!(lr.check(ms(50), IP).is_accept());
        assert!(!lr.check(ms(50), IP).is_accept());
        assert!(!lr.check(ms(51), IP).is_accept());
        // t=100: e = 500 - 500 + 1000 = 1000 <= 1000, accepted.
        assert!(lr.check(ms(100), IP).is_accept());

        // The rule matters when the clock steps back a little: the request
        // is accepted with ms = 0 and `last` stays where it was.
        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 5, Delay::default());
        assert_eq!(lr.check(ms(10_000), IP), accepted(0)); // new, last = 10 000
        assert_eq!(lr.check(ms(9_990), IP), accepted(1000)); // e = 1000
                                                             // last is still 10 000: e = 1000 - 1000 + 1000 (990 had it moved).
        assert_eq!(lr.check(ms(11_000), IP), accepted(1000));
    }

    #[test]
    fn sub_millisecond_time_is_truncated() {
        let mut lr = limiter(NginxRate::per_second(1000).unwrap(), 0, Delay::NoDelay);
        assert!(lr.check(Instant(1_000_000), IP).is_accept());
        assert!(!lr.check(Instant(1_999_999), IP).is_accept());
        assert!(lr.check(Instant(2_000_000), IP).is_accept());
    }

    #[test]
    fn backwards_clock_clamps() {
        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 0, Delay::NoDelay);
        assert!(lr.check(ms(100_000), IP).is_accept());
        // Slightly backwards: ms = 0, e = 1000 > 0.
        assert!(!lr.check(ms(99_990), IP).is_accept());
        // More than 60 s backwards: ms = 1, e = 0 - 1 + 1000 = 999 > 0.
        assert!(!lr.check(ms(39_999), IP).is_accept());

        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 1, Delay::NoDelay);
        assert!(lr.check(ms(100_000), IP).is_accept());
        // ms = 1: e = 999 accepted, and last = 39 999 since ms != 0.
        assert!(lr.check(ms(39_999), IP).is_accept());
        assert!(!lr.check(ms(40_000), IP).is_accept()); // 999 - 1 + 1000 > 1000
        assert!(lr.check(ms(40_998), IP).is_accept()); // 999 - 999 + 1000
    }

    #[test]
    fn delays() {
        let mut lr = limiter(NginxRate::per_second(10).unwrap(), 5, Delay::default());
        let delays: Vec<_> = (0..7).map(|_| lr.check(ms(0), IP)).collect();
        assert_eq!(
            delays,
            [0, 100, 200, 300, 400, 500]
                .map(accepted)
                .into_iter()
                .chain([LimitReqVerdict::Reject])
                .collect::<Vec<_>>()
        );

        let mut lr = limiter(NginxRate::per_second(10).unwrap(), 5, Delay::After(2));
        let delays: Vec<_> = (0..6).map(|_| lr.check(ms(0), IP)).collect();
        assert_eq!(delays, [0, 0, 0, 100, 200, 300].map(accepted));

        let mut lr = limiter(NginxRate::per_minute(30).unwrap(), 2, Delay::default());
        // R = 500: one excess request is 2 s.
        let delays: Vec<_> = (0..3).map(|_| lr.check(ms(0), IP)).collect();
        assert_eq!(delays, [0, 2000, 4000].map(accepted));
    }

    #[test]
    fn keys_are_independent() {
        let mut lr = limiter(NginxRate::per_second(1).unwrap(), 0, Delay::NoDelay);
        let other = Ipv4Addr::new(192, 0, 2, 2);
        assert!(lr.check(ms(0), IP).is_accept());
        assert!(lr.check(ms(0), other).is_accept());
        assert!(!lr.check(ms(0), IP).is_accept());
        assert_eq!(lr.tracked_keys(), 2);
        assert_eq!(lr.config().burst, 0);
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let mut lr = LimitReq::new(LimitReqConfig {
            rate: NginxRate::per_second(u64::MAX / 1000).unwrap(),
            burst: u64::MAX,
            delay: Delay::After(0),
            reject_status: 429,
        });
        assert!(lr.check(Instant(0), IP).is_accept());
        assert!(lr.check(Instant(u64::MAX), IP).is_accept());
        let mut lr = limiter(
            NginxRate::per_minute(1).unwrap(),
            u64::MAX,
            Delay::default(),
        );
        for _ in 0..3 {
            assert!(lr.check(Instant(u64::MAX), IP).is_accept());
        }
    }

    // ---- Property test against a literal reference implementation ----

    /// The brief's paragraph, transcribed naively.
    struct Reference {
        r: i128,
        b: i128,
        d: Option<i128>,
        keys: Vec<(u8, i128, i128)>, // (key, excess, last)
    }

    impl Reference {
        fn check(&mut self, now_ns: u64, key: u8) -> LimitReqVerdict {
            let now = i128::from(now_ns) / 1_000_000;
            let pos = self.keys.iter().position(|k| k.0 == key);
            let Some(pos) = pos else {
                self.keys.push((key, 0, now));
                return LimitReqVerdict::Accept { delay_ms: 0 };
            };
            let (_, e, last) = self.keys[pos];
            let mut delta = now - last;
            if delta < -60000 {
                delta = 1;
            } else if delta < 0 {
                delta = 0;
            }
            let mut e2 = e - self.r * delta / 1000 + 1000;
            if e2 < 0 {
                e2 = 0;
            }
            if e2 > self.b {
                return LimitReqVerdict::Reject;
            }
            self.keys[pos].1 = e2;
            if delta != 0 {
                self.keys[pos].2 = now;
            }
            // nodelay is D = infinity.
            let d = self.d.unwrap_or(i128::MAX);
            let delay_ms = if e2 > d {
                u64::try_from((e2 - d) * 1000 / self.r).unwrap()
            } else {
                0
            };
            LimitReqVerdict::Accept { delay_ms }
        }
    }

    #[derive(Clone, Debug)]
    enum Step {
        Same,
        Forward(u64),
        Back(u64),
        FarBack(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => Just(Step::Same),
            12 => (0u64..500_000_000).prop_map(Step::Forward),
            1 => (0u64..100_000_000).prop_map(Step::Back),
            1 => (60_000_000_000u64..61_000_000_000).prop_map(Step::FarBack),
        ]
    }

    fn rate() -> impl Strategy<Value = NginxRate> {
        prop_oneof![
            (1u64..=200).prop_map(|n| NginxRate::per_second(n).unwrap()),
            (1u64..=1200).prop_map(|n| NginxRate::per_minute(n).unwrap()),
        ]
    }

    fn delay() -> impl Strategy<Value = Delay> {
        prop_oneof![Just(Delay::NoDelay), (0u64..10).prop_map(Delay::After)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_reference(
            rate in rate(),
            burst in 0u64..20,
            delay in delay(),
            nkeys in 1u8..=4,
            steps in proptest::collection::vec((step(), any::<u8>()), 1..300),
        ) {
            let mut lr = limiter(rate, burst, delay);
            let mut reference = Reference {
                r: i128::from(rate.milli_per_second()),
                b: i128::from(burst) * 1000,
                d: match delay {
                    Delay::NoDelay => None,
                    Delay::After(n) => Some(i128::from(n) * 1000),
                },
                keys: Vec::new(),
            };
            let mut now: u64 = 120_000_000_000;
            for (i, (step, k)) in steps.into_iter().enumerate() {
                now = match step {
                    Step::Same => now,
                    Step::Forward(d) => now + d,
                    Step::Back(d) | Step::FarBack(d) => now.saturating_sub(d),
                };
                let key = k % nkeys;
                let got = lr.check(Instant(now), Ipv4Addr::new(10, 0, 0, key));
                let want = reference.check(now, key);
                prop_assert_eq!(got, want, "step {} at {} ns, key {}", i, now, key);
            }
            prop_assert_eq!(lr.tracked_keys(), reference.keys.len());
        }
    }
}
