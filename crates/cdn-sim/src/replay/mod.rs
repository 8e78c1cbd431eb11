//! Request logs ("traces") replayed as workloads: `[[workload]] trace = "FILE"`.
//!
//! Three layouts, each optionally gzip- or zstd-compressed (told apart by magic bytes):
//!
//! | `format` | layout | fields |
//! |---|---|---|
//! | `native` (default) | csv with a header naming the columns | `time`, `key`, `size`, optional `status`, `client` |
//! | `csv` | libCacheSim's csv reader: columns by number (from 1), optional header | `time_col`, `obj_id_col`, `obj_size_col`, ours: `client_col` |
//! | `oracle_general` | libCacheSim's `oracleGeneral` binary: 24-byte little-endian records | `u32` time, `u64` object id, `u32` size, `i64` next access (ignored) |
//!
//! Records are read one at a time through a buffer ([`TraceReader`]), so memory does not
//! depend on the trace's length; [`TraceArrivals`] turns them into arrival times: the
//! recorded times divided by `speed`, records that share a timestamp spread evenly over it.
//! `docs/traces.md` is the user's guide.
//!
//! ```
//! use cdn_sim::replay::{TraceFormat, TraceReader, TraceSpec};
//! let dir = std::env::temp_dir().join(format!("replay-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("log.csv");
//! std::fs::write(&file, "time,key,size\n0,7,512\n1,8,1024\n").unwrap();
//! let mut reader = TraceReader::open(&TraceSpec::new(&file, TraceFormat::Native)).unwrap();
//! let r = reader.next_record().unwrap().unwrap();
//! assert_eq!((r.time_ns, r.key, r.size), (Some(0), 7, Some(512)));
//! assert_eq!(reader.next_record().unwrap().unwrap().time_ns, Some(1_000_000_000));
//! assert!(reader.next_record().unwrap().is_none());
//! ```

mod arrivals;
mod error;
mod input;
pub mod oracle;
mod text;

pub use arrivals::TraceArrivals;
pub use error::{Place, TraceError};
pub use input::Compression;

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The layout of a trace file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// cdn-sim's own csv: a header line naming the columns `time`, `key`, `size` and
    /// optionally `status` and `client`, in any order.
    #[default]
    Native,
    /// libCacheSim's csv: columns chosen by number (`time_col`, `obj_id_col`,
    /// `obj_size_col`), a delimiter, and whether there is a header line.
    Csv,
    /// libCacheSim's `oracleGeneral` binary records.
    OracleGeneral,
}

impl TraceFormat {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Native => "native",
            TraceFormat::Csv => "csv",
            TraceFormat::OracleGeneral => "oracle_general",
        }
    }
}

/// The unit of a trace's time column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
pub enum TimeUnit {
    /// Seconds (libCacheSim's traces).
    #[default]
    #[serde(rename = "s")]
    Seconds,
    /// Milliseconds.
    #[serde(rename = "ms")]
    Millis,
    /// Microseconds.
    #[serde(rename = "us")]
    Micros,
    /// Nanoseconds.
    #[serde(rename = "ns")]
    Nanos,
}

impl TimeUnit {
    /// Nanoseconds in one unit.
    pub fn nanos(self) -> u64 {
        match self {
            TimeUnit::Seconds => 1_000_000_000,
            TimeUnit::Millis => 1_000_000,
            TimeUnit::Micros => 1_000,
            TimeUnit::Nanos => 1,
        }
    }
}

/// The columns of a libCacheSim csv trace, numbered from 1 as libCacheSim numbers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CsvColumns {
    /// The request time (none: requests are paced by the workload's `rate`).
    pub time_col: Option<u32>,
    /// The object id (required for `format = "csv"`).
    pub obj_id_col: Option<u32>,
    /// The object size in bytes (none: the origin's `object_size`).
    pub obj_size_col: Option<u32>,
    /// The client (a number or any text), mapped onto the workload's `clients` addresses.
    pub client_col: Option<u32>,
}

/// What to replay and how to read it: the trace keys of a `[[workload]]`.
///
/// Options that only some formats take are `Option`s so that a scenario naming one with
/// the wrong format can be refused; the accessors give their defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSpec {
    /// The trace file (a relative path in a scenario file is resolved against the scenario
    /// file's directory when it is loaded).
    pub file: PathBuf,
    /// Its layout (default [`TraceFormat::Native`]).
    pub format: TraceFormat,
    /// Replay speed: 2.0 replays twice as fast as recorded (default 1.0).
    pub speed: f64,
    /// The unit of the time column (default seconds).
    pub time_unit: TimeUnit,
    /// `format = "csv"` only: which column holds what.
    pub columns: CsvColumns,
    /// `format = "csv"` only: the field delimiter (default `,`).
    pub delimiter: Option<char>,
    /// `format = "csv"` only: whether the first line is a header to skip (default false).
    pub has_header: Option<bool>,
    /// Text formats: whether object ids are numbers (default true, as in libCacheSim). With
    /// false, ids are arbitrary text (URLs, hashes) and are hashed to 64-bit keys.
    pub obj_id_is_num: Option<bool>,
    /// Whether records of size 0 are skipped, as libCacheSim does by default (default true).
    pub ignore_size_zero_req: Option<bool>,
}

impl TraceSpec {
    /// A spec for `file` in `format` with every default.
    pub fn new(file: impl AsRef<Path>, format: TraceFormat) -> TraceSpec {
        TraceSpec {
            file: file.as_ref().to_path_buf(),
            format,
            speed: 1.0,
            time_unit: TimeUnit::Seconds,
            columns: CsvColumns::default(),
            delimiter: None,
            has_header: None,
            obj_id_is_num: None,
            ignore_size_zero_req: None,
        }
    }

    /// The csv delimiter (default `,`).
    pub fn delimiter(&self) -> char {
        self.delimiter.unwrap_or(',')
    }

    /// Whether object ids are numbers (default true).
    pub fn obj_id_is_num(&self) -> bool {
        self.obj_id_is_num.unwrap_or(true)
    }

    /// Whether zero-size records are skipped (default true).
    pub fn ignore_size_zero_req(&self) -> bool {
        self.ignore_size_zero_req.unwrap_or(true)
    }

    /// Whether records carry a time (false for a csv without `time_col`).
    pub fn has_time(&self) -> bool {
        self.format != TraceFormat::Csv || self.columns.time_col.is_some()
    }

    /// The file as shown in messages.
    pub fn display(&self) -> String {
        self.file.display().to_string()
    }
}

/// One request of a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Its time in nanoseconds since the trace's own epoch (none when the trace has no time
    /// column).
    pub time_ns: Option<u64>,
    /// The object: its id, or the 64-bit hash of a text id.
    pub key: u64,
    /// The object's size in bytes, if the trace has sizes.
    pub size: Option<u64>,
    /// The client, if the trace names one (a number, or the hash of its text).
    pub client: Option<u64>,
    /// The status the origin answered, if the trace records it (`native` only).
    pub status: Option<u16>,
}

/// Reads a trace's records one at a time, through a buffer: memory does not depend on the
/// trace's length, and no allocation happens per record.
pub struct TraceReader {
    kind: Kind,
    ignore_size_zero: bool,
}

enum Kind {
    Text(Box<text::TextReader>),
    Oracle(oracle::OracleReader),
}

impl TraceReader {
    /// Opens `spec.file` (decompressing gzip or zstd) and reads a header if it has one.
    pub fn open(spec: &TraceSpec) -> Result<TraceReader, TraceError> {
        let input = input::open(&spec.file)
            .map_err(|e| TraceError::file(spec.display(), format!("cannot read the trace: {e}")))?;
        let kind = match spec.format {
            TraceFormat::OracleGeneral => Kind::Oracle(oracle::OracleReader::new(input, spec)),
            TraceFormat::Native | TraceFormat::Csv => {
                Kind::Text(Box::new(text::TextReader::new(input, spec)?))
            }
        };
        Ok(TraceReader {
            kind,
            ignore_size_zero: spec.ignore_size_zero_req(),
        })
    }

    /// The next record, or `None` at the end of the trace.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        loop {
            let record = match &mut self.kind {
                Kind::Text(t) => t.next_record()?,
                Kind::Oracle(o) => o.next_record()?,
            };
            match record {
                Some(r) if self.ignore_size_zero && r.size == Some(0) => continue,
                other => return Ok(other),
            }
        }
    }
}

/// What a full read of a trace found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceSummary {
    /// Records that will be replayed (zero-size ones skipped if so configured).
    pub records: u64,
    /// The first record's time, in nanoseconds.
    pub first_ns: Option<u64>,
    /// The largest time of any record, in nanoseconds.
    pub last_ns: Option<u64>,
}

/// Reads the whole trace once, so that a bad record is reported before a run starts.
pub fn scan(spec: &TraceSpec) -> Result<TraceSummary, TraceError> {
    let mut reader = TraceReader::open(spec)?;
    let mut s = TraceSummary::default();
    while let Some(r) = reader.next_record()? {
        s.records += 1;
        if s.first_ns.is_none() {
            s.first_ns = r.time_ns;
        }
        s.last_ns = s.last_ns.max(r.time_ns);
    }
    if s.records == 0 {
        return Err(TraceError::file(
            spec.display(),
            "the trace has no records to replay",
        ));
    }
    Ok(s)
}

/// The 64-bit FNV-1a hash of a text field: how text object ids and clients become numbers.
pub fn hash_text(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference: FNV-1a 64 of "" and "a".
        assert_eq!(hash_text(b""), 0xcbf29ce484222325);
        assert_eq!(hash_text(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(hash_text(b"foobar"), 0x85944171f73967e8);
    }
}
