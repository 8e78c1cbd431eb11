//! Where a default comes from: every value a profile carries is a [`Sourced`] — the value and
//! the vendor's own words for it, or the honest statement that the vendor does not say.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// The citation for one default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The vendor documents it (documentation or, for open-source software, its source).
    Documented {
        /// Where: a page of the vendor's documentation or a file of its source.
        url: &'static str,
        /// The sentence that says it, quoted.
        quote: &'static str,
    },
    /// Measured against the real software (the test that measured it is named in `how`).
    Measured {
        /// The source file that explains it, or the vendor's page.
        url: &'static str,
        /// What was measured, and where the test lives.
        how: &'static str,
    },
    /// The vendor does not document it: the value is the model's parameter, with the reason
    /// for the value chosen.
    Undocumented {
        /// Why this value (an inference, a standard's default, a neutral choice).
        why: &'static str,
    },
}

impl Source {
    /// A documented default.
    pub const fn doc(url: &'static str, quote: &'static str) -> Source {
        Source::Documented { url, quote }
    }

    /// A default the vendor does not document.
    pub const fn undocumented(why: &'static str) -> Source {
        Source::Undocumented { why }
    }

    /// Whether the vendor documents it.
    pub fn is_documented(self) -> bool {
        !matches!(self, Source::Undocumented { .. })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Documented { url, quote } => write!(f, "{url} — “{quote}”"),
            Source::Measured { url, how } => write!(f, "measured: {how} ({url})"),
            Source::Undocumented { why } => write!(f, "not documented by the vendor: {why}"),
        }
    }
}

/// A default value and its citation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    /// The value the model uses.
    pub value: T,
    /// Where it comes from.
    pub source: Source,
}

/// `value`, documented at `url` by `quote`.
pub const fn doc<T>(value: T, url: &'static str, quote: &'static str) -> Sourced<T> {
    Sourced {
        value,
        source: Source::doc(url, quote),
    }
}

/// `value`, a parameter the vendor does not document (`why` says why this value).
pub const fn undocumented<T>(value: T, why: &'static str) -> Sourced<T> {
    Sourced {
        value,
        source: Source::undocumented(why),
    }
}

/// How a default's value is written in the generated table (`docs/profiles.md`).
pub trait Describe {
    /// A short, human-readable rendering (`"19 s"`, `"off"`, `"200 206 301: 7200 s"`).
    fn describe(&self) -> String;
}

impl Describe for Duration {
    fn describe(&self) -> String {
        let ms = self.as_millis();
        if ms % 1000 == 0 {
            format!("{} s", ms / 1000)
        } else {
            format!("{} s", self.as_secs_f64())
        }
    }
}

impl Describe for bool {
    fn describe(&self) -> String {
        if *self { "on" } else { "off" }.into()
    }
}

impl Describe for u32 {
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Describe for Option<Duration> {
    fn describe(&self) -> String {
        self.map_or_else(|| "none".into(), |v| v.describe())
    }
}

impl Describe for Option<Bytes> {
    fn describe(&self) -> String {
        self.map_or_else(|| "none".into(), |v| v.describe())
    }
}

/// A size in bytes, rendered the way scenario files write sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bytes(pub u64);

impl Describe for Bytes {
    fn describe(&self) -> String {
        let b = self.0;
        if b >= 1024 && b % 1024 == 0 {
            format!("{}KiB", b / 1024)
        } else {
            format!("{b}B")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds() {
        assert_eq!(Duration::from_millis(3500).describe(), "3.5 s");
        assert_eq!(Duration::from_secs(120).describe(), "120 s");
        assert_eq!(Some(Bytes(128 * 1024)).describe(), "128KiB");
        assert_eq!(None::<Bytes>.describe(), "none");
    }

    #[test]
    fn an_undocumented_value_says_so() {
        let s = undocumented(3u32, "the kernel's default");
        assert!(!s.source.is_documented());
        assert_eq!(
            s.source.to_string(),
            "not documented by the vendor: the kernel's default"
        );
    }
}
