//! Human units used in scenario files: durations, byte sizes and request rates.
//!
//! Each parser accepts exactly the forms the scenario reference documents and its error says
//! what was expected, so a scenario loader can show it to the user unchanged.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Why a unit string was rejected; the message names the expected forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: expected {expected}")]
pub struct UnitError {
    /// What kind of value was being parsed ("duration", "size", ...).
    pub what: &'static str,
    /// The rejected input.
    pub input: String,
    /// The forms that are accepted.
    pub expected: &'static str,
}

/// The accepted duration forms, for error messages.
pub const DURATION_FORMS: &str =
    "a number with a unit: \"250ms\", \"19s\", \"2m\", \"1h\" (also \"us\")";
/// The accepted size forms, for error messages.
pub const SIZE_FORMS: &str =
    "a number with a unit: \"512B\", \"10KiB\", \"64MiB\", \"1GiB\" (also KB/MB/GB = 1000^n)";
/// The accepted request-rate forms, for error messages.
pub const RATE_FORMS: &str = "requests per unit: \"100/s\", \"600/m\", \"3600/h\"";

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n: f64 = s[..end].parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some((n, s[end..].trim()))
}

/// Parses `"250ms"`, `"19s"`, `"2m"`, `"1h"`, `"500us"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cdn_core::units::parse_duration("19s").unwrap(), Duration::from_secs(19));
/// assert_eq!(cdn_core::units::parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(cdn_core::units::parse_duration("19").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let err = || UnitError {
        what: "duration",
        input: s.to_string(),
        expected: DURATION_FORMS,
    };
    let (n, unit) = split_number(s).ok_or_else(err)?;
    let nanos_per = match unit {
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(err()),
    };
    let nanos = n * nanos_per;
    if nanos > u64::MAX as f64 {
        return Err(err());
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration the way scenario files write it (`"19s"`, `"250ms"`, `"1.5s"`).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cdn_core::units::format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(cdn_core::units::format_duration(Duration::from_millis(20)), "20ms");
/// ```
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0s".into()
    } else if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns >= 1_000_000_000 {
        format!("{}s", d.as_secs_f64())
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}ms", ns as f64 / 1e6)
    }
}

/// Parses `"512B"`, `"10KiB"`, `"64MiB"`, `"1GiB"` (and decimal `KB`/`MB`/`GB`) into bytes.
///
/// ```
/// assert_eq!(cdn_core::units::parse_size("10KiB").unwrap(), 10 * 1024);
/// assert_eq!(cdn_core::units::parse_size("0B").unwrap(), 0);
/// assert!(cdn_core::units::parse_size("10 apples").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let err = || UnitError {
        what: "size",
        input: s.to_string(),
        expected: SIZE_FORMS,
    };
    let (n, unit) = split_number(s).ok_or_else(err)?;
    let mult: f64 = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0f64.powi(4),
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return Err(err()),
    };
    let bytes = n * mult;
    if bytes > u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes.round() as u64)
}

/// A request rate such as `"100/s"`: how many requests per second, as a real number.
///
/// ```
/// let r: cdn_core::units::Rate = "600/m".parse().unwrap();
/// assert_eq!(r.per_second(), 10.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// A rate of `n` requests per second.
    pub fn per_second_f64(n: f64) -> Rate {
        Rate(n)
    }

    /// Requests per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// The gap between two arrivals at this rate (infinite for a zero rate).
    pub fn interval(self) -> Option<Duration> {
        (self.0 > 0.0).then(|| Duration::from_secs_f64(1.0 / self.0))
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Rate, UnitError> {
        let err = || UnitError {
            what: "rate",
            input: s.to_string(),
            expected: RATE_FORMS,
        };
        let (n, rest) = s.split_once('/').ok_or_else(err)?;
        let (n, leftover) = split_number(n).ok_or_else(err)?;
        if !leftover.is_empty() {
            return Err(err());
        }
        let per = match rest.trim() {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        Ok(Rate(n / per))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "19", "ms", "-1s", "19 seconds", "1e3s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("\"19s\""), "{e}");
        }
    }

    #[test]
    fn sizes_are_binary_by_default() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert!(parse_size("12").is_err());
    }

    #[test]
    fn rates_convert_to_per_second() {
        assert_eq!("100/s".parse::<Rate>().unwrap().per_second(), 100.0);
        assert_eq!("3600/h".parse::<Rate>().unwrap().per_second(), 1.0);
        assert!("10r/s".parse::<Rate>().is_err());
        assert!("100".parse::<Rate>().is_err());
    }

    #[test]
    fn durations_round_trip_through_format() {
        for s in ["19s", "250ms", "1.5s", "0s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}

/// Serde adapters so configuration structs can hold typed values while files hold strings.
pub mod serde_units {
    use serde::{de, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// `"19s"` ⇄ [`Duration`].
    pub mod duration {
        use super::*;
        /// Deserializes a duration string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            let s = String::deserialize(d)?;
            crate::units::parse_duration(&s).map_err(de::Error::custom)
        }
        /// Serializes as a duration string.
        pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&crate::units::format_duration(*v))
        }
    }

    /// Optional `"19s"` ⇄ `Option<Duration>`.
    pub mod opt_duration {
        use super::*;
        /// Deserializes a duration string (present means `Some`).
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::duration::deserialize(d).map(Some)
        }
        /// Serializes as a duration string, or nothing.
        pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::duration::serialize(v, s),
                None => s.serialize_none(),
            }
        }
    }

    /// `"10KiB"` ⇄ bytes.
    pub mod size {
        use super::*;
        /// Deserializes a size string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            let s = String::deserialize(d)?;
            crate::units::parse_size(&s).map_err(de::Error::custom)
        }
        /// Serializes as bytes with a `B` suffix.
        pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&format!("{v}B"))
        }
    }

    /// Any `FromStr + Display` type as a string.
    pub mod from_str {
        use super::*;
        use std::fmt::Display;
        use std::str::FromStr;
        /// Deserializes via `FromStr`.
        pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
        where
            D: Deserializer<'de>,
            T: FromStr,
            T::Err: Display,
        {
            let s = String::deserialize(d)?;
            s.parse().map_err(de::Error::custom)
        }
        /// Serializes via `Display`.
        pub fn serialize<S: Serializer, T: Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(v)
        }
    }
}
