//! How a tier waits for its upstream and when it tries again, vendor-neutral: the SYNs of one
//! connect attempt, which failures earn another attempt, how long an L1 waits for its L2, and
//! what a silent peer turns into.
//!
//! The values come from the [`Profile`](crate::Profile) (see `docs/profiles.md`); the resolved
//! set for a run is [`Timeouts`](crate::Timeouts), which the drivers ask.

use crate::failure::FailureKind;
use crate::profile::Describe;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// When the SYNs of one connect attempt go out.
///
/// ```
/// use cdn_core::upstream::SynSchedule;
/// use std::time::Duration;
/// let cloudflare = SynSchedule::Listed(&[1, 1, 1, 1, 1, 2, 4, 8]);
/// let at: Vec<u64> = cloudflare.transmissions(Duration::from_secs(19)).iter().map(|d| d.as_secs()).collect();
/// assert_eq!(at, [0, 1, 2, 3, 4, 5, 7, 11]); // eight SYNs, the 522 at 19 s
/// let linux = SynSchedule::LINUX;
/// assert_eq!(linux.transmissions(Duration::from_secs(10)).len(), 4); // 0, 1, 3, 7 s
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SynSchedule {
    /// The gaps, in seconds, after each transmission (the last gap ends at the timeout).
    Listed(&'static [u64]),
    /// Exponential backoff: the first retransmission `initial` after the SYN, each gap twice
    /// the one before, at most `retries` retransmissions.
    Exponential {
        /// The first gap (the initial retransmission timeout).
        initial: Duration,
        /// Retransmissions after the first SYN.
        retries: u32,
    },
}

impl SynSchedule {
    /// Linux's defaults: an initial RTO of 1 s (RFC 6298 §2.1) doubling per retransmission,
    /// `tcp_syn_retries = 6` (tcp(7): "approximately 127 seconds").
    pub const LINUX: SynSchedule = SynSchedule::Exponential {
        initial: Duration::from_secs(1),
        retries: 6,
    };

    /// Offsets from the start of an attempt at which SYNs are sent, before `timeout` ends it.
    pub fn transmissions(self, timeout: Duration) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut out = vec![at];
        let gaps: Vec<Duration> = match self {
            SynSchedule::Listed(gaps) => gaps.iter().map(|&s| Duration::from_secs(s)).collect(),
            SynSchedule::Exponential { initial, retries } => {
                (0..retries).map(|i| initial * 2u32.pow(i)).collect()
            }
        };
        for gap in gaps {
            at += gap;
            if at >= timeout {
                break;
            }
            out.push(at);
        }
        out
    }
}

impl Describe for SynSchedule {
    fn describe(&self) -> String {
        match self {
            SynSchedule::Listed(gaps) => {
                let gaps: Vec<String> = gaps.iter().map(u64::to_string).collect();
                format!("gaps {} s", gaps.join(", "))
            }
            SynSchedule::Exponential { initial, retries } => format!(
                "{} s, doubling, {retries} retransmissions",
                initial.as_secs_f64()
            ),
        }
    }
}

/// A kind of failure that may earn another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryCondition {
    /// The connection could not be made (refused, timed out, unreachable).
    ConnectFailure,
    /// Connected, but no response before the read (or ACK) timeout.
    ResponseTimeout,
    /// The origin answered 5xx.
    ServerError,
}

/// Which failures earn another attempt (up to `connect_attempts` in all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetryOn {
    /// Connect failures.
    pub connect_failure: bool,
    /// Response (read or ACK) timeouts.
    pub response_timeout: bool,
    /// Origin 5xx responses.
    pub server_error: bool,
}

impl RetryOn {
    /// Connect failures only (the common default).
    pub const CONNECT: RetryOn = RetryOn {
        connect_failure: true,
        response_timeout: false,
        server_error: false,
    };

    /// The set named by a scenario's `retry_on` list.
    pub fn from_conditions(conditions: &[RetryCondition]) -> RetryOn {
        let has = |c| conditions.contains(&c);
        RetryOn {
            connect_failure: has(RetryCondition::ConnectFailure),
            response_timeout: has(RetryCondition::ResponseTimeout),
            server_error: has(RetryCondition::ServerError),
        }
    }

    /// Whether `kind` is one of the failures retried.
    pub fn covers(self, kind: FailureKind) -> bool {
        match kind {
            FailureKind::UpstreamStatus(s) => self.server_error && (500..600).contains(&s),
            FailureKind::ReadTimeout | FailureKind::AckTimeout => self.response_timeout,
            // A name that does not resolve is not a connection attempt.
            FailureKind::Dns => false,
            k if k.is_connect_failure() => self.connect_failure,
            _ => false,
        }
    }
}

impl Describe for RetryOn {
    fn describe(&self) -> String {
        let mut on = Vec::new();
        if self.connect_failure {
            on.push("connect failure");
        }
        if self.response_timeout {
            on.push("response timeout");
        }
        if self.server_error {
            on.push("5xx");
        }
        if on.is_empty() {
            "nothing".into()
        } else {
            on.join(", ")
        }
    }
}

/// How long an L1 waits for its L2's first response byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentWait {
    /// The same read timeout as toward the origin: the L1 runs the same configuration as its
    /// L2, so its timer fires first (it started first).
    SameAsRead,
    /// Long enough for every attempt of the L2 to end first (`attempts × connect + read
    /// (× attempts when response timeouts are retried) + 1 s`).
    OutlastParent,
}

impl Describe for ParentWait {
    fn describe(&self) -> String {
        match self {
            ParentWait::SameAsRead => "= read timeout".into(),
            ParentWait::OutlastParent => "outlasts the L2".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_sends_six_syns_within_nginx_s_60_s() {
        let at: Vec<u64> = SynSchedule::LINUX
            .transmissions(Duration::from_secs(60))
            .iter()
            .map(Duration::as_secs)
            .collect();
        // 0, then 1, 2, 4, 8, 16 s gaps; the next (32 s) would land at 63 s, past the timeout.
        assert_eq!(at, [0, 1, 3, 7, 15, 31]);
    }

    #[test]
    fn a_listed_schedule_stops_at_the_timeout() {
        let s = SynSchedule::Listed(&[1, 1, 1, 1, 1, 2, 4, 8]);
        assert_eq!(s.transmissions(Duration::from_secs(3)).len(), 3);
        assert_eq!(s.transmissions(Duration::from_secs(1)).len(), 1);
    }

    #[test]
    fn retry_conditions_select_failures() {
        let cloudfront = RetryOn::from_conditions(&[
            RetryCondition::ConnectFailure,
            RetryCondition::ResponseTimeout,
        ]);
        assert!(cloudfront.covers(FailureKind::ConnectTimeout));
        assert!(cloudfront.covers(FailureKind::ReadTimeout));
        assert!(!cloudfront.covers(FailureKind::UpstreamStatus(503)));
        assert!(!cloudfront.covers(FailureKind::Reset));
        assert!(RetryOn::CONNECT.covers(FailureKind::Refused));
        assert!(!RetryOn::CONNECT.covers(FailureKind::ReadTimeout));
    }
}
