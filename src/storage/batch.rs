//! Record batches (magic 2): reading and checking the 61-byte header, CRC-32C validation,
//! and the records of uncompressed batches (used for the metadata log). Invariant: a batch
//! that passes `validate` has magic 2, a matching CRC, a length that fits its bytes and
//! lastOffsetDelta + 1 == recordsCount.

use super::crc32c::crc32c;
use crate::protocol::codec::{DecodeError, Reader, Writer};

pub const HEADER_BYTES: usize = 61;
/// Bytes before the batchLength field ends: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;

pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
pub const ATTR_TIMESTAMP_LOG_APPEND: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;

/// The fixed header of a v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads a header from the first 61 bytes. Checks nothing but the length of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<BatchHeader> {
        let mut r = Reader::new(bytes.get(..HEADER_BYTES)?);
        let header = (|| -> Result<BatchHeader, DecodeError> {
            Ok(BatchHeader {
                base_offset: r.i64()?,
                batch_length: r.i32()?,
                partition_leader_epoch: r.i32()?,
                magic: r.i8()?,
                crc: r.u32()?,
                attributes: r.i16()?,
                last_offset_delta: r.i32()?,
                base_timestamp: r.i64()?,
                max_timestamp: r.i64()?,
                producer_id: r.i64()?,
                producer_epoch: r.i16()?,
                base_sequence: r.i32()?,
                records_count: r.i32()?,
            })
        })();
        header.ok()
    }

    /// The whole batch's size in bytes, offset and length fields included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
}

/// Why a batch is refused; each maps to a Kafka error code at the API boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// Shorter than its header or its declared length, or a length below the header's.
    Truncated,
    /// Not magic 2.
    UnsupportedMagic(i8),
    CrcMismatch,
    /// lastOffsetDelta + 1 != recordsCount, or a negative count.
    InvalidRecordCount,
    /// Bytes after the batch: Produce v3+ carries exactly one batch per partition.
    TrailingBytes,
    /// Compression codec 5..7.
    UnknownCompression,
}

/// Validates one complete batch occupying all of `bytes`.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(bytes).ok_or(BatchError::Truncated)?;
    if header.magic != 2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    if header.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32 {
        return Err(BatchError::Truncated);
    }
    let size = header.size();
    if bytes.len() < size {
        return Err(BatchError::Truncated);
    }
    if bytes.len() > size {
        return Err(BatchError::TrailingBytes);
    }
    if crc32c(&bytes[CRC_START..size]) != header.crc {
        return Err(BatchError::CrcMismatch);
    }
    if header.records_count < 0
        || header.last_offset_delta < 0
        || i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count)
    {
        return Err(BatchError::InvalidRecordCount);
    }
    if header.compression() > 4 {
        return Err(BatchError::UnknownCompression);
    }
    Ok(header)
}

/// Sets the broker-assigned fields, which lie outside the CRC.
pub fn assign(bytes: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// One record of an uncompressed batch, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
}

fn varint_bytes<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::Invalid("record field length")),
        n => Ok(Some(r.take(n as usize)?)),
    }
}

/// The records of an uncompressed batch (`bytes` is the whole batch).
pub fn records(bytes: &[u8]) -> Result<Vec<Record<'_>>, DecodeError> {
    let header = BatchHeader::parse(bytes).ok_or(DecodeError::Truncated)?;
    if header.compression() != 0 {
        return Err(DecodeError::Invalid("compressed batch"));
    }
    let body = bytes
        .get(HEADER_BYTES..header.size())
        .ok_or(DecodeError::Truncated)?;
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    for _ in 0..header.records_count.max(0) {
        let len = r.varint()?;
        let mut rec = Reader::new(
            r.take(usize::try_from(len).map_err(|_| DecodeError::Invalid("record length"))?)?,
        );
        let _attributes = rec.i8()?;
        let timestamp_delta = rec.varlong()?;
        let offset_delta = rec.varint()?;
        let key = varint_bytes(&mut rec)?;
        let value = varint_bytes(&mut rec)?;
        // Some writers put -1 here for "no headers".
        let count = rec.varint()?.max(0) as usize;
        if count > rec.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let key = varint_bytes(&mut rec)?.ok_or(DecodeError::Invalid("null header key"))?;
            let key = std::str::from_utf8(key).map_err(|_| DecodeError::Invalid("header key"))?;
            headers.push((key, varint_bytes(&mut rec)?));
        }
        out.push(Record {
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

/// A record's key and value, either of which may be null.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Builds an uncompressed batch of records with null keys and the given values (for the
/// metadata log, whose records we write ourselves).
pub fn build(
    base_offset: i64,
    leader_epoch: i32,
    timestamp_ms: i64,
    values: &[Vec<u8>],
) -> Vec<u8> {
    let records: Vec<KeyValue> = values.iter().map(|v| (None, Some(v.clone()))).collect();
    build_keyed(base_offset, leader_epoch, timestamp_ms, &records)
}

/// Builds an uncompressed batch of (key, value) records, either of which may be null.
pub fn build_keyed(
    base_offset: i64,
    leader_epoch: i32,
    timestamp_ms: i64,
    records: &[KeyValue],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i64(base_offset)
        .i32(0)
        .i32(leader_epoch)
        .i8(2)
        .u32(0)
        .i16(0);
    w.i32(records.len() as i32 - 1)
        .i64(timestamp_ms)
        .i64(timestamp_ms);
    w.i64(-1).i16(-1).i32(-1).i32(records.len() as i32);
    let mut record = Vec::new();
    for (delta, (key, value)) in records.iter().enumerate() {
        record.clear();
        let mut r = Writer::new(&mut record);
        r.i8(0).varlong(0).varint(delta as i32);
        for field in [key, value] {
            match field {
                Some(bytes) => r.varint(bytes.len() as i32).raw(bytes),
                None => r.varint(-1),
            };
        }
        r.varint(0);
        let len = record.len() as i32;
        Writer::new(&mut out).varint(len).raw(&record);
    }
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_validates_and_reads_back() {
        let values = vec![b"one".to_vec(), b"two".to_vec()];
        let mut bytes = build(5, 1, 1000, &values);
        let header = validate(&bytes).unwrap();
        assert_eq!(header.base_offset, 5);
        assert_eq!(header.records_count, 2);
        assert_eq!(header.last_offset(), 6);
        let recs = records(&bytes).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].value, Some(&b"two"[..]));
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].offset_delta, 1);
        // Broker-assigned fields are outside the CRC.
        assign(&mut bytes, 42, 7);
        assert_eq!(validate(&bytes).unwrap().base_offset, 42);
    }

    #[test]
    fn corruption_is_detected() {
        let bytes = build(0, 0, 0, &[b"v".to_vec()]);
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(validate(&flipped), Err(BatchError::CrcMismatch));
        assert_eq!(
            validate(&bytes[..bytes.len() - 1]),
            Err(BatchError::Truncated)
        );
        assert_eq!(validate(&bytes[..30]), Err(BatchError::Truncated));
        let mut magic = bytes.clone();
        magic[16] = 1;
        assert_eq!(validate(&magic), Err(BatchError::UnsupportedMagic(1)));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(validate(&longer), Err(BatchError::TrailingBytes));
    }

    #[test]
    fn header_count_of_minus_one_reads_as_no_headers() {
        // One record: attributes 0, ts delta 0, offset delta 0, key null, value "a",
        // header count -1 (varint 0x01).
        let record = [0x00, 0x00, 0x00, 0x01, 0x02, b'a', 0x01];
        let mut bytes = build(0, 0, 0, &[]);
        bytes.truncate(HEADER_BYTES);
        bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
        bytes[23..27].copy_from_slice(&0i32.to_be_bytes());
        bytes.push((record.len() as u8) << 1);
        bytes.extend_from_slice(&record);
        let len = (bytes.len() - LOG_OVERHEAD) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c(&bytes[CRC_START..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        validate(&bytes).unwrap();
        let recs = records(&bytes).unwrap();
        assert_eq!(recs[0].value, Some(&b"a"[..]));
        assert!(recs[0].headers.is_empty());
    }
}
