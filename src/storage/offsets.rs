//! Committed offsets, stored the way Kafka stores them: records in the internal topic
//! `__consumer_offsets` (partition = abs(Java hashCode(group)) % partitions), key
//! OffsetCommitKey v1 (group, topic, partition), value OffsetCommitValue v3 (offset, leader
//! epoch, metadata, commit timestamp), a null value deleting. Replayed into memory on start.

use std::collections::BTreeMap;

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const TOPIC: &str = "__consumer_offsets";
const KEY_VERSION: i16 = 1;
const VALUE_VERSION: i16 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// group -> (topic, partition) -> committed offset.
pub type OffsetMap = BTreeMap<String, BTreeMap<(String, i32), Committed>>;

/// Java's `String.hashCode`, over UTF-16 code units.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition that holds a group's commits.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    (java_hash(group) & 0x7fff_ffff) % partitions.max(1)
}

pub fn encode_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + group.len() + topic.len());
    Writer::new(&mut out)
        .i16(KEY_VERSION)
        .string(group, false)
        .string(topic, false)
        .i32(partition);
    out
}

pub fn encode_value(c: &Committed) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + c.metadata.len());
    let mut w = Writer::new(&mut out);
    w.i16(VALUE_VERSION).i64(c.offset).i32(c.leader_epoch);
    w.string(&c.metadata, false).i64(c.commit_timestamp);
    out
}

/// An offset-commit key, or `None` for the other record types (group metadata, v2).
pub fn decode_key(bytes: &[u8]) -> Result<Option<(String, String, i32)>> {
    let mut r = Reader::new(bytes);
    match r.i16()? {
        0 | 1 => {
            let group = r.string(false)?.to_string();
            let topic = r.string(false)?.to_string();
            Ok(Some((group, topic, r.i32()?)))
        }
        _ => Ok(None),
    }
}

pub fn decode_value(bytes: &[u8]) -> Result<Committed> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError::Invalid("offset commit value version"));
    }
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string(false)?.to_string();
    let commit_timestamp = r.i64()?;
    Ok(Committed {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_kafka_for_known_groups() {
        // "my-group".hashCode() is -1906497762 in Java; Utils.abs masks the sign bit.
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("ab"), 97 * 31 + 98);
        assert_eq!(java_hash("my-group"), -1_906_497_762);
        assert_eq!(partition_for("my-group", 50), 36);
        assert_eq!(partition_for("console-consumer-12345", 50), 6);
        assert_eq!(partition_for("g", 1), 0);
    }

    #[test]
    fn key_and_value_round_trip() {
        let key = encode_key("g", "t", 3);
        assert_eq!(key, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(decode_key(&key).unwrap(), Some(("g".into(), "t".into(), 3)));
        let c = Committed {
            offset: 42,
            leader_epoch: 0,
            metadata: "m".into(),
            commit_timestamp: 7,
        };
        assert_eq!(decode_value(&encode_value(&c)).unwrap(), c);
        assert_eq!(decode_key(&[0, 2, 0, 1, b'g']).unwrap(), None);
    }
}
