//! Virtual time for real servers: elapsed wall time mapped onto [`cdn_core::Instant`].
//!
//! `virtual = real / time_scale`. With `time_scale = 1.0` one virtual second is one real
//! second; with `0.01` a 20 ms service time takes 0.2 ms of real time (tokio's timers have
//! 1 ms resolution, so anything shorter is rounded up to the next millisecond).
//!
//! HTTP dates (`Date`, `Last-Modified`, `Expires`) carry *virtual* time: the wall-clock time
//! at which the clock started (truncated to a whole second) plus virtual elapsed time. At
//! `time_scale = 1.0` they are the real time; at other scales they run faster or slower than
//! the wall clock, so every party of a run must share one [`VirtualClock`].

use crate::error::NetError;
use cdn_core::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock shared by every server of one run. `Copy`: pass it around freely.
///
/// ```
/// let clock = cdn_net::VirtualClock::start(0.01).unwrap();
/// // 20 ms of virtual service time is 0.2 ms of real time.
/// assert_eq!(
///     clock.real_duration(std::time::Duration::from_millis(20)),
///     std::time::Duration::from_micros(200)
/// );
/// ```
#[derive(Clone, Copy, Debug)]
pub struct VirtualClock {
    real_start: std::time::Instant,
    wall_start: SystemTime,
    time_scale: f64,
    /// Virtual time at `real_start` (zero but for [`VirtualClock::start_back`]).
    offset: Duration,
}

impl VirtualClock {
    /// A clock whose virtual zero is now. `time_scale` must be finite and above zero.
    pub fn start(time_scale: f64) -> Result<VirtualClock, NetError> {
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(NetError::TimeScale(time_scale));
        }
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(VirtualClock {
            real_start: std::time::Instant::now(),
            wall_start: UNIX_EPOCH + Duration::from_secs(secs),
            time_scale,
            offset: Duration::ZERO,
        })
    }

    /// A real-time clock whose virtual time starts `back` before now: wall-clock dates up
    /// to `back` in the past map to distinct instants (a real server's `Date` and `Expires`
    /// headers may name the recent past).
    pub fn start_back(back: Duration) -> Result<VirtualClock, NetError> {
        let mut c = VirtualClock::start(1.0)?;
        c.offset = back;
        c.wall_start = c.wall_start.checked_sub(back).unwrap_or(c.wall_start);
        Ok(c)
    }

    /// Real seconds per virtual second.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        let real = self.real_start.elapsed().as_nanos() as f64;
        Instant((real / self.time_scale) as u64 + self.offset.as_nanos() as u64)
    }

    /// How long `virtual_time` lasts in real time.
    pub fn real_duration(&self, virtual_time: Duration) -> Duration {
        Duration::from_nanos((virtual_time.as_nanos() as f64 * self.time_scale) as u64)
    }

    /// The real moment at which virtual time reaches `at`.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let since = at.as_nanos().saturating_sub(self.offset.as_nanos() as u64);
        let real = self.real_duration(Duration::from_nanos(since));
        tokio::time::Instant::from_std(self.real_start + real)
    }

    /// The calendar time of virtual `at` (see the [module docs](self)).
    pub fn wall(&self, at: Instant) -> SystemTime {
        self.wall_start + Duration::from_nanos(at.as_nanos())
    }

    /// `at` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), truncated to the second.
    pub fn http_date(&self, at: Instant) -> String {
        httpdate::fmt_http_date(self.wall(at))
    }

    /// An HTTP date back to virtual time (earlier than the clock's start ⇒ zero); `None` if
    /// it does not parse.
    pub fn parse_http_date(&self, value: &str) -> Option<Instant> {
        let t = httpdate::parse_http_date(value.trim()).ok()?;
        let since = t.duration_since(self.wall_start).unwrap_or(Duration::ZERO);
        Some(Instant(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nonsense_scales() {
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(VirtualClock::start(s).is_err(), "{s}");
        }
    }

    #[test]
    fn http_dates_round_trip_to_the_second() {
        let c = VirtualClock::start(1.0).unwrap();
        let t = Instant(90_500_000_000); // 90.5 s
        let s = c.http_date(t);
        assert_eq!(c.parse_http_date(&s), Some(Instant(90_000_000_000)));
        assert_eq!(
            c.parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Instant::ZERO)
        );
        assert_eq!(c.parse_http_date("yesterday"), None);
    }

    #[test]
    fn scale_maps_virtual_to_real() {
        let c = VirtualClock::start(0.5).unwrap();
        assert_eq!(
            c.real_duration(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert!(c.deadline(Instant(2_000_000_000)) > tokio::time::Instant::now());
    }
}
