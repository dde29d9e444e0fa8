//! The transaction coordinator's log, as Kafka keeps it: the internal topic
//! `__transaction_state` (compacted, `transaction.state.log.num.partitions` partitions, 50 by
//! default; an id's partition is abs(Java hashCode(id)) % partitions, as for groups), key
//! TransactionLogKey (version 0: the transactional id), value TransactionLogValue (version 1,
//! flexible: producer id and epoch, timeout, state, partitions, timestamps; tagged the
//! previous and next producer ids and the client's transaction version), a null value when an
//! id expires. Replayed on start: the last value of each id.
//!
//! Also the transactional offset commits (TxnOffsetCommit): a transactional batch of the
//! producer in the group's `__consumer_offsets` partition, held as pending until that
//! producer's COMMIT marker reaches the partition (then they are the group's offsets) or its
//! ABORT marker (then they are dropped). Replay applies the same rule.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use super::batch::{self, BatchHeader};
use super::crc32c::crc32c;
use super::{AppendError, Storage, now_ms, offsets};
use crate::message;
use crate::protocol::codec::{Reader, Writer};
use crate::protocol::wire::{Ver, Wire};
use crate::transactions::{TOPIC, TxnMetadata, TxnState};

const KEY: Ver = Ver {
    version: 0,
    flexible: false,
};
const VALUE_VERSION: i16 = 1;

message! {
    pub struct TransactionLogKey<'a> {
        transactional_id: &'a str = "0",
    }

    pub struct TransactionLogValue {
        producer_id: i64 = "0+",
        previous_producer_id: i64 = "1+" tag 0 default -1,
        next_producer_id: i64 = "1+" tag 1 default -1,
        producer_epoch: i16 = "0+",
        transaction_timeout_ms: i32 = "0+",
        transaction_status: i8 = "0+",
        transaction_partitions: Option<Vec<PartitionsSchema>> = "0+" null "0+",
        transaction_last_update_timestamp_ms: i64 = "0+",
        transaction_start_timestamp_ms: i64 = "0+",
        client_transaction_version: i16 = "1+" tag 2,
    }

    pub struct PartitionsSchema {
        topic: String = "0+",
        partition_ids: Vec<i32> = "0+",
    }
}

/// Transactional offset commits not yet decided, by `__consumer_offsets` partition and
/// producer id: (group, topic, partition, offset).
pub type PendingOffsets = BTreeMap<(i32, i64), BTreeMap<OffsetKey, offsets::Committed>>;
/// A committed offset's (group, topic, partition).
type OffsetKey = (String, String, i32);

/// The `__transaction_state` partition that holds a transactional id.
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    offsets::partition_for(transactional_id, partitions)
}

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    let mut w = Writer::new(&mut out);
    w.i16(0);
    let written = TransactionLogKey { transactional_id }.write(&mut w, KEY);
    debug_assert!(written.is_ok(), "a transactional id too long for its key");
    out
}

pub fn decode_key(bytes: &[u8]) -> Option<String> {
    let mut r = Reader::new(bytes);
    (r.i16().ok()? == 0).then_some(())?;
    TransactionLogKey::read(&mut r, KEY)
        .ok()
        .map(|k| k.transactional_id.to_string())
}

pub fn encode_value(meta: &TxnMetadata) -> Vec<u8> {
    // Kafka writes no partition list for Empty (null), an empty one once complete.
    let transaction_partitions = (meta.state != TxnState::Empty).then(|| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &meta.partitions {
            by_topic.entry(topic).or_default().push(*partition);
        }
        by_topic
            .into_iter()
            .map(|(topic, partition_ids)| PartitionsSchema {
                topic: topic.to_string(),
                partition_ids,
            })
            .collect()
    });
    let value = TransactionLogValue {
        producer_id: meta.producer_id,
        previous_producer_id: meta.previous_producer_id,
        next_producer_id: meta.next_producer_id,
        producer_epoch: meta.producer_epoch,
        transaction_timeout_ms: meta.timeout_ms,
        transaction_status: meta.state.code(),
        transaction_partitions,
        transaction_last_update_timestamp_ms: meta.last_update_ms,
        transaction_start_timestamp_ms: meta.start_ms,
        client_transaction_version: meta.client_version,
    };
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i16(VALUE_VERSION);
    let written = value.write(
        &mut w,
        Ver {
            version: VALUE_VERSION,
            flexible: true,
        },
    );
    debug_assert!(
        written.is_ok(),
        "a transaction state its wire types cannot hold"
    );
    out
}

/// A TransactionLogValue of version 0 or 1.
pub fn decode_value(bytes: &[u8]) -> Option<TxnMetadata> {
    let mut r = Reader::new(bytes);
    let version = r.i16().ok()?;
    if !(0..=1).contains(&version) {
        return None;
    }
    let v = Ver {
        version,
        flexible: version >= 1,
    };
    let value = TransactionLogValue::read(&mut r, v).ok()?;
    let partitions: BTreeSet<(String, i32)> = value
        .transaction_partitions
        .unwrap_or_default()
        .into_iter()
        .flat_map(|p| {
            let topic = p.topic;
            p.partition_ids
                .into_iter()
                .map(move |id| (topic.clone(), id))
        })
        .collect();
    Some(TxnMetadata {
        producer_id: value.producer_id,
        previous_producer_id: value.previous_producer_id,
        next_producer_id: value.next_producer_id,
        producer_epoch: value.producer_epoch,
        last_producer_epoch: crate::transactions::NO_PRODUCER_EPOCH,
        timeout_ms: value.transaction_timeout_ms,
        state: TxnState::from_code(value.transaction_status)?,
        partitions,
        start_ms: value.transaction_start_timestamp_ms,
        last_update_ms: value.transaction_last_update_timestamp_ms,
        client_version: value.client_transaction_version,
    })
}

/// Marks a batch built by `batch::build_keyed` as the producer's transactional batch at
/// `base_sequence`.
fn make_transactional(bytes: &mut [u8], producer_id: i64, producer_epoch: i16, base_sequence: i32) {
    let attributes = batch::ATTR_TRANSACTIONAL.to_be_bytes();
    bytes[21..23].copy_from_slice(&attributes);
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    bytes[51..53].copy_from_slice(&producer_epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A control batch's marker: Some(true) for COMMIT, Some(false) for ABORT.
pub fn control_marker(batch_bytes: &[u8]) -> Option<bool> {
    let records = batch::records(batch_bytes).ok()?;
    let key = records.first()?.key?;
    let mut r = Reader::new(key);
    let _version = r.i16().ok()?;
    match r.i16().ok()? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

impl Storage {
    fn transaction_log_partitions(&self) -> i32 {
        self.broker_properties
            .get("transaction.state.log.num.partitions")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(50)
    }

    /// Appends a transactional id's new state (`None`: its tombstone) to its
    /// `__transaction_state` partition, creating the topic on first use. Durable after the
    /// turn's [`Storage::flush`], like any append.
    pub fn write_txn_state(
        &mut self,
        transactional_id: &str,
        meta: Option<&TxnMetadata>,
    ) -> Result<(), AppendError> {
        let partitions = self.transaction_log_partitions();
        if !self.topics.contains_key(TOPIC) {
            let configs = [
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("compression.type".to_string(), "uncompressed".to_string()),
                ("segment.bytes".to_string(), "104857600".to_string()),
            ];
            self.create_topic(TOPIC, partitions, &configs)
                .map_err(|e| AppendError::Io(io::Error::other(format!("{e:?}"))))?;
        }
        let count = self
            .topic(TOPIC)
            .map_or(partitions, |t| t.partitions.len() as i32);
        let record = (Some(encode_key(transactional_id)), meta.map(encode_value));
        let bytes = batch::build_keyed(0, 0, now_ms(), &[record]);
        self.append(TOPIC, partition_for(transactional_id, count), &bytes)?;
        Ok(())
    }

    /// Every record of `__transaction_state` in log order: transactional id and value (`None`
    /// for a tombstone). Read once, on start.
    pub fn read_txn_log(&self) -> io::Result<Vec<(String, Option<TxnMetadata>)>> {
        let mut out = Vec::new();
        let Some(topic) = self.topics.get(TOPIC) else {
            return Ok(out);
        };
        for partition in &topic.partitions {
            let bytes = partition.log.read_all()?;
            let mut position = 0;
            while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
                let end = position + header.size();
                let Some(batch_bytes) = bytes.get(position..end) else {
                    break;
                };
                position = end;
                let Ok(records) = batch::records(batch_bytes) else {
                    continue;
                };
                for record in records {
                    let Some(id) = record.key.and_then(decode_key) else {
                        continue;
                    };
                    match record.value {
                        None => out.push((id, None)),
                        Some(value) => match decode_value(value) {
                            Some(meta) => out.push((id, Some(meta))),
                            None => log::warn!("{TOPIC}: skipping an unreadable state of {id}"),
                        },
                    }
                }
            }
        }
        Ok(out)
    }

    /// TxnOffsetCommit: the offsets as a transactional batch of the producer in the group's
    /// `__consumer_offsets` partition; they take effect when that producer's COMMIT marker
    /// is written there ([`Storage::end_txn_offsets`]). Returns the partition.
    pub fn write_txn_offsets(
        &mut self,
        group: &str,
        producer_id: i64,
        producer_epoch: i16,
        commits: Vec<(String, i32, offsets::Committed)>,
    ) -> Result<(), AppendError> {
        if commits.is_empty() {
            return Ok(());
        }
        self.ensure_offsets_topic()?;
        let records: Vec<batch::KeyValue> = commits
            .iter()
            .map(|(topic, partition, c)| {
                (
                    Some(offsets::encode_key(group, topic, *partition)),
                    Some(offsets::encode_value(c)),
                )
            })
            .collect();
        let mut bytes = batch::build_keyed(0, 0, now_ms(), &records);
        let partition = self.offsets_partition_for(group);
        // The producer's next sequence in that partition, so the batch is one of its
        // transaction there as any transactional batch is (the partition's producer state,
        // last stable offset and the cleaner see it), as Kafka's coordinator writes it.
        let sequence = self
            .topics
            .get(offsets::TOPIC)
            .and_then(|t| t.partitions.get(partition as usize))
            .and_then(|p| p.producers.get(&producer_id))
            .filter(|state| state.epoch() == producer_epoch)
            .map_or(0, |state| {
                (i64::from(state.last_sequence()) + 1).rem_euclid(i64::from(i32::MAX) + 1) as i32
            });
        make_transactional(&mut bytes, producer_id, producer_epoch, sequence);
        self.append(offsets::TOPIC, partition, &bytes)?;
        let pending = self
            .txn_offsets
            .entry((partition, producer_id))
            .or_default();
        // A partition committed again in the transaction replaces its earlier offset.
        for (topic, p, committed) in commits {
            pending.insert((group.to_string(), topic, p), committed);
        }
        Ok(())
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn offsets_partition_for(&self, group: &str) -> i32 {
        offsets::partition_for(group, self.offsets_partitions)
    }

    /// A marker of `producer_id` reached `__consumer_offsets` partition `partition`: its
    /// pending offsets there become the groups' offsets (commit) or are dropped (abort).
    pub fn end_txn_offsets(&mut self, partition: i32, producer_id: i64, commit: bool) {
        end_offsets(
            &mut self.txn_offsets,
            &mut self.offsets,
            partition,
            producer_id,
            commit,
        );
    }

    /// Whether a group has transactional offsets not yet decided for this partition
    /// (OffsetFetch's require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_txn_offsets(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (group.to_string(), topic.to_string(), partition);
        self.txn_offsets
            .values()
            .any(|offsets| offsets.contains_key(&key))
    }
}

fn end_offsets(
    pending: &mut PendingOffsets,
    committed: &mut offsets::OffsetMap,
    partition: i32,
    producer_id: i64,
    commit: bool,
) {
    let Some(decided) = pending.remove(&(partition, producer_id)) else {
        return;
    };
    if !commit {
        return;
    }
    for ((group, topic, p), offset) in decided {
        committed
            .entry(group)
            .or_default()
            .insert((topic, p), offset);
    }
}

/// Replay of one `__consumer_offsets` batch if it is transactional: its offsets wait for the
/// producer's marker, and a marker applies (COMMIT) or drops (ABORT) them. `false` if the
/// batch is not transactional (the caller replays it as usual).
pub(super) fn replay_batch(
    pending: &mut PendingOffsets,
    committed: &mut offsets::OffsetMap,
    partition: i32,
    header: &BatchHeader,
    batch_bytes: &[u8],
) -> bool {
    if !header.is_transactional() {
        return false;
    }
    if header.is_control() {
        if let Some(commit) = control_marker(batch_bytes) {
            end_offsets(pending, committed, partition, header.producer_id, commit);
        }
        return true;
    }
    let Ok(records) = batch::records(batch_bytes) else {
        return true;
    };
    for record in records {
        let Some(Ok(Some((group, topic, p)))) = record.key.map(offsets::decode_key) else {
            continue;
        };
        let Some(Ok(offset)) = record.value.map(offsets::decode_value) else {
            continue;
        };
        pending
            .entry((partition, header.producer_id))
            .or_default()
            .insert((group, topic, p), offset);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(state: TxnState, partitions: &[(&str, i32)]) -> TxnMetadata {
        TxnMetadata {
            producer_id: 7,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 2,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state,
            partitions: partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
            start_ms: 1_000,
            last_update_ms: 2_000,
            client_version: 0,
        }
    }

    #[test]
    fn key_is_version_0_and_not_flexible() {
        assert_eq!(encode_key("tx"), [0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&[0, 0, 0, 2, b't', b'x']).as_deref(), Some("tx"));
        assert_eq!(decode_key(&[0, 1, 0, 2, b't', b'x']), None);
    }

    #[test]
    fn value_bytes_are_kafkas_version_1() {
        let ongoing = meta(TxnState::Ongoing, &[("t", 0), ("t", 2)]);
        let bytes = encode_value(&ongoing);
        let expected = [
            0, 1, // version 1
            0, 0, 0, 0, 0, 0, 0, 7, // producer_id
            0, 2, // producer_epoch
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            1,    // transaction_status Ongoing
            2,    // transaction_partitions: 1 (compact)
            2, b't', // topic "t"
            3, 0, 0, 0, 0, 0, 0, 0, 2, // partition_ids [0, 2]
            0, // tags
            0, 0, 0, 0, 0, 0, 0x07, 0xd0, // last update 2000
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // start 1000
            0,    // tags: previous/next producer id -1, client version 0 left out
        ];
        assert_eq!(bytes, expected);
        assert_eq!(decode_value(&bytes), Some(ongoing));
        // Empty has a null partition list.
        let empty = meta(TxnState::Empty, &[]);
        let bytes = encode_value(&empty);
        assert_eq!(bytes[17], 0, "null compact array");
        assert_eq!(decode_value(&bytes), Some(empty));
    }

    #[test]
    fn version_0_values_decode() {
        let mut bytes = vec![0, 0];
        let mut w = Writer::new(&mut bytes);
        w.i64(9).i16(1).i32(1000).i8(4);
        w.i32(0); // no partitions
        w.i64(5).i64(3);
        let decoded = decode_value(&bytes).unwrap();
        assert_eq!(
            (decoded.producer_id, decoded.state, decoded.start_ms),
            (9, TxnState::CompleteCommit, 3)
        );
    }

    #[test]
    fn transactional_batches_validate_and_carry_the_producer() {
        let record = (Some(b"k".to_vec()), Some(b"v".to_vec()));
        let mut bytes = batch::build_keyed(0, 0, 1, &[record]);
        make_transactional(&mut bytes, 42, 3, 7);
        let header = batch::validate(&bytes).unwrap();
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (42, 3, 7)
        );
    }
}
