//! [`TraceError`]: what is wrong with a trace file, and where.

use std::fmt;

/// A trace file that cannot be read: names the file, the record (counted from 1, header
/// lines not counted), its line or byte offset, and the field.
///
/// ```
/// use cdn_sim::replay::TraceError;
/// let e = TraceError::at("day1.csv", 17, "size", "\"abc\" is not a whole number of bytes")
///     .line(18);
/// assert_eq!(
///     e.to_string(),
///     "day1.csv: record 17 (line 18): size: \"abc\" is not a whole number of bytes"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct TraceError {
    /// The trace file, as resolved.
    pub file: String,
    /// The record, from 1 (data records only: a csv header is not one).
    pub record: Option<u64>,
    /// Where the record starts: `line N` (text) or `byte N` (binary).
    pub place: Option<Place>,
    /// The field (`time`, `key`, `size`, `client`, `status`), if one is at fault.
    pub field: Option<String>,
    /// What is wrong and what is allowed; one line.
    pub message: String,
}

/// Where in the file a record starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A line of a text trace, from 1.
    Line(u64),
    /// A byte offset in the decompressed stream of a binary trace.
    Byte(u64),
}

impl TraceError {
    /// A problem with the file as a whole (cannot open it, wrong header, ...).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> TraceError {
        TraceError {
            file: file.into(),
            record: None,
            place: None,
            field: None,
            message: message.into(),
        }
    }

    /// A problem with `field` of record `record`.
    pub fn at(
        file: impl Into<String>,
        record: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> TraceError {
        TraceError {
            file: file.into(),
            record: Some(record),
            place: None,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The same error, at text line `line`.
    pub fn line(mut self, line: u64) -> TraceError {
        self.place = Some(Place::Line(line));
        self
    }

    /// The same error, at byte offset `offset`.
    pub fn byte(mut self, offset: u64) -> TraceError {
        self.place = Some(Place::Byte(offset));
        self
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(r) = self.record {
            write!(f, ": record {r}")?;
            match self.place {
                Some(Place::Line(l)) => write!(f, " (line {l})")?,
                Some(Place::Byte(b)) => write!(f, " (byte {b})")?,
                None => {}
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}
