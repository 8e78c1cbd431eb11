//! Virtual time.
//!
//! The core never reads a clock: every time-dependent call takes `now: Instant`. The simulator
//! advances a virtual clock; the real-network driver maps elapsed wall time onto it.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in virtual time, in nanoseconds since the start of the run.
///
/// ```
/// use cdn_core::Instant;
/// use std::time::Duration;
/// let t = Instant::ZERO + Duration::from_millis(1500);
/// assert_eq!(t.as_millis(), 1500);
/// assert_eq!(t - Instant::ZERO, Duration::from_millis(1500));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Instant(pub u64);

impl Instant {
    /// The start of a run.
    pub const ZERO: Instant = Instant(0);

    /// Milliseconds since the start of the run (truncated); nginx's clock has 1 ms resolution.
    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Nanoseconds since the start of the run.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// This instant as an HTTP date carries it: whole seconds (RFC 9110 §5.6.7), the
    /// fraction dropped. A run's virtual zero is a whole second of the calendar.
    ///
    /// ```
    /// use cdn_core::Instant;
    /// assert_eq!(Instant(2_999_999_999).http_date(), Instant(2_000_000_000));
    /// ```
    pub fn http_date(self) -> Instant {
        Instant(self.0 - self.0 % 1_000_000_000)
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Seconds since the start of the run, to the millisecond (truncated): `45.000s`, `0.021s`.
///
/// ```
/// use cdn_core::Instant;
/// use std::time::Duration;
/// assert_eq!((Instant::ZERO + Duration::from_millis(45_000)).to_string(), "45.000s");
/// assert_eq!(Instant(21_500_000).to_string(), "0.021s");
/// ```
impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.as_millis();
        write!(f, "{}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// Saturating at the end of time. The duration is converted in 64-bit arithmetic (the
/// 128-bit `as_nanos` ran a dozen times per simulated request, on every deadline and
/// event time); a duration of more than `u64::MAX` nanoseconds saturates as before.
impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        let nanos = d
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
            .unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }
}

impl Sub for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_saturates_as_the_128_bit_conversion_did() {
        for (t, d) in [
            (0, Duration::ZERO),
            (5, Duration::new(1, 7)),
            (u64::MAX - 10, Duration::from_nanos(3)),
            (u64::MAX - 10, Duration::from_nanos(30)),
            (0, Duration::new(18_446_744_073, 709_551_615)),
            (1, Duration::new(18_446_744_073, 709_551_615)),
            (0, Duration::new(18_446_744_073, 709_551_616)),
            (0, Duration::MAX),
        ] {
            let expected = t.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            assert_eq!(Instant(t) + d, Instant(expected), "{t} + {d:?}");
        }
    }
}
