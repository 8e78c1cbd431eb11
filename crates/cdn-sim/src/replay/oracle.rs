//! libCacheSim's `oracleGeneral` binary traces: packed little-endian records of
//! `u32` time, `u64` object id, `u32` size and `i64` next-access time (24 bytes; the last
//! field is an oracle's knowledge of the future, which replay does not use).

use super::input::read_full;
use super::{Record, TraceError, TraceSpec};
use std::io::BufRead;

/// Bytes per record.
pub const RECORD_BYTES: usize = 24;

pub(super) struct OracleReader {
    input: Box<dyn BufRead>,
    buf: [u8; RECORD_BYTES],
    unit_ns: u64,
    file: String,
    record: u64,
}

impl OracleReader {
    pub(super) fn new(input: Box<dyn BufRead>, spec: &TraceSpec) -> OracleReader {
        OracleReader {
            input,
            buf: [0; RECORD_BYTES],
            unit_ns: spec.time_unit.nanos(),
            file: spec.display(),
            record: 0,
        }
    }

    pub(super) fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        let offset = self.record * RECORD_BYTES as u64;
        let read_error = |e: std::io::Error, record| {
            TraceError::at(&self.file, record, "record", format!("cannot read: {e}")).byte(offset)
        };
        // Usually a whole record is in the reader's buffer: parse it there, no copy.
        let available = self
            .input
            .fill_buf()
            .map_err(|e| read_error(e, self.record + 1))?;
        let record = if available.len() >= RECORD_BYTES {
            let r = parse(&available[..RECORD_BYTES], self.unit_ns);
            self.input.consume(RECORD_BYTES);
            r
        } else {
            // The record straddles the buffer's end (or the file ends).
            let n = read_full(&mut self.input, &mut self.buf)
                .map_err(|e| read_error(e, self.record + 1))?;
            if n == 0 {
                return Ok(None);
            }
            if n < RECORD_BYTES {
                return Err(TraceError::at(
                    &self.file,
                    self.record + 1,
                    "record",
                    format!(
                        "truncated: {n} of {RECORD_BYTES} bytes (oracleGeneral records are u32 \
                         time, u64 object id, u32 size, i64 next access, little-endian)"
                    ),
                )
                .byte(offset));
            }
            parse(&self.buf, self.unit_ns)
        };
        self.record += 1;
        Ok(Some(record))
    }
}

/// Decodes one 24-byte record.
fn parse(b: &[u8], unit_ns: u64) -> Record {
    let time = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let key = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
    let size = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
    Record {
        // u32 × at most 1e9 fits in u64.
        time_ns: Some(u64::from(time) * unit_ns),
        key,
        size: Some(u64::from(size)),
        client: None,
        status: None,
    }
}

/// One record in the `oracleGeneral` layout (for writing test and example traces).
pub fn encode(time: u32, obj_id: u64, size: u32, next_access: i64) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[0..4].copy_from_slice(&time.to_le_bytes());
    r[4..12].copy_from_slice(&obj_id.to_le_bytes());
    r[12..16].copy_from_slice(&size.to_le_bytes());
    r[16..24].copy_from_slice(&next_access.to_le_bytes());
    r
}
