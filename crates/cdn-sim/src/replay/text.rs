//! Text traces: libCacheSim's csv (columns by number) and cdn-sim's native csv (columns by
//! header name), read with the `csv` crate into one reused record.

use super::{hash_text, Record, TraceError, TraceFormat, TraceSpec};
use std::io::BufRead;

/// Where each field is, counted from 0.
#[derive(Clone, Copy, Debug, Default)]
struct Layout {
    time: Option<usize>,
    key: usize,
    size: Option<usize>,
    client: Option<usize>,
    status: Option<usize>,
}

/// The column names a native trace's header may use.
pub(super) const NATIVE_COLUMNS: [&str; 5] = ["time", "key", "size", "status", "client"];

pub(super) struct TextReader {
    csv: csv::Reader<Box<dyn BufRead>>,
    row: csv::ByteRecord,
    layout: Layout,
    key_is_num: bool,
    unit_ns: u64,
    file: String,
    /// Records read so far (the current one's number once read).
    record: u64,
    /// How the fields are named in messages: `key` (native) or `obj_id (column 2)` (csv).
    names: Names,
}

#[derive(Clone, Debug, Default)]
struct Names {
    time: String,
    key: String,
    size: String,
    client: String,
    status: String,
}

impl TextReader {
    pub(super) fn new(input: Box<dyn BufRead>, spec: &TraceSpec) -> Result<TextReader, TraceError> {
        let native = spec.format == TraceFormat::Native;
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(spec.delimiter() as u8)
            .has_headers(native || spec.has_header.unwrap_or(false))
            .flexible(true)
            .from_reader(input);
        let file = spec.display();
        let (layout, names) = if native {
            let header = csv.byte_headers().map_err(|e| {
                TraceError::file(&file, format!("cannot read the header line: {e}"))
            })?;
            native_layout(header).map_err(|m| TraceError::file(&file, m))?
        } else {
            csv_layout(spec)
        };
        Ok(TextReader {
            csv,
            row: csv::ByteRecord::new(),
            layout,
            key_is_num: spec.obj_id_is_num(),
            unit_ns: spec.time_unit.nanos(),
            file,
            record: 0,
            names,
        })
    }

    pub(super) fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        let more = self.csv.read_byte_record(&mut self.row).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            TraceError::at(
                &self.file,
                self.record + 1,
                "record",
                one_line(&e.to_string()),
            )
            .line(line)
        })?;
        if !more {
            return Ok(None);
        }
        self.record += 1;
        let l = self.layout;
        let key_bytes = self.field(l.key, &self.names.key)?;
        let key = if self.key_is_num {
            parse_u64(key_bytes).ok_or_else(|| {
                self.error(
                    &self.names.key,
                    format!(
                        "{} is not a whole number; for text object ids (URLs, hashes) set \
                         obj_id_is_num = false",
                        quoted(key_bytes)
                    ),
                )
            })?
        } else {
            hash_text(key_bytes)
        };
        let time_ns =
            match l.time {
                None => None,
                Some(i) => {
                    let b = self.field(i, &self.names.time)?;
                    Some(parse_time(b, self.unit_ns).map_err(|why| {
                        self.error(&self.names.time, format!("{} {why}", quoted(b)))
                    })?)
                }
            };
        let size = match l.size {
            None => None,
            Some(i) => {
                let b = self.field(i, &self.names.size)?;
                Some(parse_u64(b).ok_or_else(|| {
                    self.error(
                        &self.names.size,
                        format!("{} is not a whole number of bytes", quoted(b)),
                    )
                })?)
            }
        };
        let client = match l.client {
            None => None,
            Some(i) => {
                let b = self.field(i, &self.names.client)?;
                Some(parse_u64(b).unwrap_or_else(|| hash_text(b)))
            }
        };
        let status = match l.status {
            None => None,
            Some(i) => {
                let b = self.field(i, &self.names.status)?;
                let s = parse_u64(b).filter(|s| (100..=599).contains(s));
                Some(s.ok_or_else(|| {
                    self.error(
                        &self.names.status,
                        format!("{} is not an HTTP status; allowed: 100 to 599", quoted(b)),
                    )
                })? as u16)
            }
        };
        Ok(Some(Record {
            time_ns,
            key,
            size,
            client,
            status,
        }))
    }

    /// Field `i` without surrounding blanks (trimmed here: the csv crate's own trimming
    /// rebuilds the record, an allocation per line).
    fn field(&self, i: usize, name: &str) -> Result<&[u8], TraceError> {
        self.row.get(i).map(<[u8]>::trim_ascii).ok_or_else(|| {
            self.error(
                name,
                format!(
                    "missing: the line has {} field{}, this is field {}",
                    self.row.len(),
                    if self.row.len() == 1 { "" } else { "s" },
                    i + 1
                ),
            )
        })
    }

    fn error(&self, field: &str, message: String) -> TraceError {
        let line = self.row.position().map_or(0, |p| p.line());
        TraceError::at(&self.file, self.record, field, message).line(line)
    }
}

fn csv_layout(spec: &TraceSpec) -> (Layout, Names) {
    let c = spec.columns;
    let idx = |col: Option<u32>| col.map(|c| c.saturating_sub(1) as usize);
    let name = |what: &str, col: Option<u32>| format!("{what} (column {})", col.unwrap_or(0));
    (
        Layout {
            time: idx(c.time_col),
            key: idx(c.obj_id_col).unwrap_or(0),
            size: idx(c.obj_size_col),
            client: idx(c.client_col),
            status: None,
        },
        Names {
            time: name("time", c.time_col),
            key: name("obj_id", c.obj_id_col),
            size: name("obj_size", c.obj_size_col),
            client: name("client", c.client_col),
            status: String::new(),
        },
    )
}

fn native_layout(header: &csv::ByteRecord) -> Result<(Layout, Names), String> {
    let allowed = NATIVE_COLUMNS.join(", ");
    let mut found: [Option<usize>; 5] = [None; 5];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim_ascii();
        let Some(slot) = NATIVE_COLUMNS.iter().position(|c| c.as_bytes() == name) else {
            return Err(format!(
                "line 1: unknown column {} in the header; allowed: {allowed} (a native trace \
                 starts with a header such as time,key,size; for libCacheSim csv set \
                 format = \"csv\")",
                quoted(name)
            ));
        };
        if found[slot].replace(i).is_some() {
            return Err(format!(
                "line 1: column {} appears twice in the header",
                NATIVE_COLUMNS[slot]
            ));
        }
    }
    for required in 0..3 {
        if found[required].is_none() {
            return Err(format!(
                "line 1: the header has no column {}; a native trace needs time, key and size \
                 (and may add status, client)",
                NATIVE_COLUMNS[required]
            ));
        }
    }
    Ok((
        Layout {
            time: found[0],
            key: found[1].expect("checked"),
            size: found[2],
            status: found[3],
            client: found[4],
        },
        Names {
            time: "time".into(),
            key: "key".into(),
            size: "size".into(),
            status: "status".into(),
            client: "client".into(),
        },
    ))
}

/// A whole non-negative decimal number that fits in 64 bits.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    b.iter().try_fold(0u64, |n, &c| {
        if c.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// A non-negative decimal number of `unit_ns`-nanosecond units (`12`, `12.5`), in whole
/// nanoseconds (digits beyond a nanosecond are dropped).
fn parse_time(b: &[u8], unit_ns: u64) -> Result<u64, &'static str> {
    const FORM: &str =
        "is not a time; allowed: a non-negative decimal number, e.g. 1700000000 or 12.345";
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[..0]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(FORM);
    }
    let whole = if int.is_empty() {
        Some(0)
    } else {
        parse_u64(int)
    };
    let whole = whole.ok_or(FORM)?;
    let mut ns = whole
        .checked_mul(unit_ns)
        .ok_or("is too large: times must stay below 2^64 nanoseconds (584 years)")?;
    let mut scale = unit_ns;
    for &c in frac {
        if !c.is_ascii_digit() {
            return Err(FORM);
        }
        scale /= 10;
        ns = ns
            .checked_add(u64::from(c - b'0') * scale)
            .ok_or("is too large: times must stay below 2^64 nanoseconds (584 years)")?;
    }
    Ok(ns)
}

/// A field as shown in messages: quoted, lossy UTF-8, at most 40 characters.
fn quoted(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut t: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        t.push('…');
    }
    format!("{t:?}")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_digits() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        for bad in [&b""[..], b"-1", b"1.5", b"12a", b"+3"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_are_decimal_numbers_of_the_unit() {
        let s = 1_000_000_000;
        assert_eq!(parse_time(b"12", s), Ok(12 * s));
        assert_eq!(parse_time(b"12.5", s), Ok(12_500_000_000));
        assert_eq!(parse_time(b".25", s), Ok(250_000_000));
        assert_eq!(parse_time(b"1.0000000019", s), Ok(1_000_000_001));
        assert_eq!(parse_time(b"3.5", 1_000_000), Ok(3_500_000));
        assert_eq!(parse_time(b"7", 1), Ok(7));
        for bad in [&b""[..], b".", b"1e9", b"-3", b"1.2.3", b"x"] {
            assert!(parse_time(bad, s).is_err(), "{bad:?}");
        }
        assert!(parse_time(b"18446744074", s)
            .unwrap_err()
            .contains("too large"));
    }
}
