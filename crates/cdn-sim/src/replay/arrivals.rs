//! When each record of a trace is sent: recorded times divided by `speed`, records that
//! share a timestamp spread evenly over it.
//!
//! Traces record times at a coarse resolution (libCacheSim's are whole seconds), so
//! thousands of requests may share one timestamp. Sending them all at the same instant
//! would turn every second into a burst that collapses behind one cache lock; they are
//! spread instead: a group of `n` records at time `t` is sent at `t + i·w/n` for
//! `i = 0..n`, where `w` is the time to the next record's timestamp, at most one time unit.
//! To know `n` without holding the group in memory, a second reader runs ahead over the same
//! file and counts it: memory stays constant whatever the group's size, at the cost of
//! parsing the file twice.
//!
//! Times that go backwards are taken as equal to the time before them: the file's order is
//! the order of requests, as in libCacheSim.

use super::{Record, TraceError, TraceReader, TraceSpec};

/// A trace's records with their send times, in order.
pub struct TraceArrivals {
    main: TraceReader,
    /// Runs ahead to count each group (absent when the trace has no times).
    ahead: Option<TraceReader>,
    /// The (clamped) time of a record the counter has read that starts the next group.
    ahead_next: Option<u64>,
    ahead_last: u64,
    main_last: u64,
    group_len: u64,
    group_index: u64,
    group_width: u64,
    first_time: Option<u64>,
    unit_ns: u64,
    speed: f64,
    /// Nanoseconds between records when the trace has no times (at speed 1).
    pace_ns: f64,
    sent: u64,
    file: String,
}

impl TraceArrivals {
    /// Opens `spec`'s trace. Records without times are paced at `rate_per_s`.
    pub fn open(spec: &TraceSpec, rate_per_s: f64) -> Result<TraceArrivals, TraceError> {
        let main = TraceReader::open(spec)?;
        let ahead = if spec.has_time() {
            Some(TraceReader::open(spec)?)
        } else {
            None
        };
        Ok(TraceArrivals {
            main,
            ahead,
            ahead_next: None,
            ahead_last: 0,
            main_last: 0,
            group_len: 0,
            group_index: 0,
            group_width: 0,
            first_time: None,
            unit_ns: spec.time_unit.nanos(),
            speed: spec.speed,
            pace_ns: if rate_per_s > 0.0 {
                1e9 / rate_per_s
            } else {
                0.0
            },
            sent: 0,
            file: spec.display(),
        })
    }

    /// The next record and when to send it, in nanoseconds from the start of the replay.
    pub fn next_arrival(&mut self) -> Result<Option<(u64, Record)>, TraceError> {
        let Some(record) = self.main.next_record()? else {
            return Ok(None);
        };
        let i = self.sent;
        self.sent += 1;
        let Some(t) = record.time_ns else {
            return Ok(Some((self.scale_f64(i as f64 * self.pace_ns), record)));
        };
        let t = t.max(self.main_last);
        self.main_last = t;
        if self.group_index == self.group_len {
            self.count_group(t)?;
        }
        let within = (u128::from(self.group_index) * u128::from(self.group_width)
            / u128::from(self.group_len)) as u64;
        self.group_index += 1;
        let first = *self.first_time.get_or_insert(t);
        let offset = (t - first).saturating_add(within);
        Ok(Some((self.scale(offset), record)))
    }

    /// Counts the group of records at time `t` with the reader that runs ahead.
    fn count_group(&mut self, t: u64) -> Result<(), TraceError> {
        let changed = || {
            TraceError::file(
                &self.file,
                "the trace changed while it was being replayed (two reads disagree)",
            )
        };
        let ahead = self.ahead.as_mut().expect("a timed trace has a counter");
        let first = match self.ahead_next.take() {
            Some(first) => first,
            None => {
                let r = ahead.next_record()?.ok_or_else(changed)?;
                let first = r.time_ns.unwrap_or(0).max(self.ahead_last);
                self.ahead_last = first;
                first
            }
        };
        if first != t {
            return Err(changed());
        }
        let mut len = 1u64;
        let mut width = self.unit_ns;
        while let Some(r) = ahead.next_record()? {
            let next = r.time_ns.unwrap_or(0).max(self.ahead_last);
            self.ahead_last = next;
            if next == t {
                len += 1;
            } else {
                self.ahead_next = Some(next);
                width = width.min(next - t);
                break;
            }
        }
        self.group_len = len;
        self.group_index = 0;
        self.group_width = width;
        Ok(())
    }

    fn scale(&self, offset_ns: u64) -> u64 {
        if self.speed == 1.0 {
            offset_ns
        } else {
            self.scale_f64(offset_ns as f64)
        }
    }

    fn scale_f64(&self, offset_ns: f64) -> u64 {
        // Saturates at u64::MAX for absurd speeds; the run's duration ends long before.
        (offset_ns / self.speed).round() as u64
    }
}
