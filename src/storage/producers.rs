//! Idempotent and transactional producers: per partition and producer id, the epoch and the
//! last five batches' sequence ranges, as Kafka's ProducerStateManager keeps them, plus the
//! coordinator epoch of the last transaction marker and the first offset of the producer's
//! ongoing transaction (Kafka's `currentTxnFirstOffset`). A retried batch is recognised and
//! answered with its original offset; a gap or a stale epoch is refused; a non-transactional
//! batch from a producer with an ongoing transaction is INVALID_TXN_STATE. A marker (control
//! batch) from a stale producer epoch is INVALID_PRODUCER_EPOCH, from a stale coordinator
//! epoch TRANSACTION_COORDINATOR_FENCED, and completes the producer's transaction.
//! Rebuilt on start from a snapshot and the batches after it (`storage::txn`).
//! DescribeProducers reads each producer's state here.

use std::collections::{HashMap, VecDeque};

use super::batch::BatchHeader;
use crate::protocol::error::{self, ErrorCode};

/// Batches remembered per producer (Kafka's `max.in.flight.requests.per.connection` bound).
const BATCHES_REMEMBERED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Clone)]
pub struct ProducerState {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The max timestamp of the producer's last batch or marker (Kafka's `lastTimestamp`).
    last_timestamp: i64,
    /// The coordinator epoch of the last marker written for this producer (-1: none).
    coordinator_epoch: i32,
    /// The first offset of the producer's ongoing transaction on this partition.
    current_txn_first_offset: Option<i64>,
}

impl Default for ProducerState {
    /// Kafka's empty entry: no epoch, no batch, no marker, no transaction.
    fn default() -> Self {
        ProducerState {
            epoch: -1,
            batches: VecDeque::new(),
            last_timestamp: -1,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }
}

impl ProducerState {
    /// A producer as a snapshot records it: its last batch only (`last_offset` -1: none).
    pub fn restored(
        epoch: i16,
        last_sequence: i32,
        last_offset: i64,
        offset_delta: i32,
        last_timestamp: i64,
        coordinator_epoch: i32,
        current_txn_first_offset: Option<i64>,
    ) -> ProducerState {
        let mut batches = VecDeque::new();
        if last_offset >= 0 && last_sequence >= 0 {
            let delta = offset_delta.clamp(0, last_sequence);
            batches.push_back(BatchMeta {
                first_sequence: last_sequence - delta,
                last_sequence,
                base_offset: last_offset - i64::from(delta),
            });
        }
        ProducerState {
            epoch,
            batches,
            last_timestamp,
            coordinator_epoch,
            current_txn_first_offset,
        }
    }

    /// The coordinator epoch of the producer's last marker, -1 if none.
    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// The first offset of the producer's ongoing transaction on this partition.
    pub fn current_txn_first_offset(&self) -> Option<i64> {
        self.current_txn_first_offset
    }

    /// The last offset of the producer's last batch, and that batch's offset count less
    /// one (what a snapshot keeps: Kafka's `lastDataOffset` and `lastOffsetDelta`).
    pub fn last_batch(&self) -> Option<(i64, i32)> {
        self.batches.back().map(|b| {
            let delta = if b.last_sequence >= b.first_sequence {
                b.last_sequence - b.first_sequence
            } else {
                // The sequence wrapped inside the batch.
                (i64::from(b.last_sequence) + i64::from(i32::MAX) + 1 - i64::from(b.first_sequence))
                    as i32
            };
            (b.base_offset + i64::from(delta), delta)
        })
    }

    pub fn epoch(&self) -> i16 {
        self.epoch
    }

    /// The last sequence of the producer's last batch, -1 if none is remembered.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_sequence)
    }

    pub fn last_timestamp(&self) -> i64 {
        self.last_timestamp
    }

    /// The base offset of the producer's last batch (the cleaner keeps that batch).
    pub fn last_batch_offset(&self) -> Option<i64> {
        self.batches.back().map(|b| b.base_offset)
    }
}

pub type Producers = HashMap<i64, ProducerState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// A retry of a batch already in the log at this base offset.
    Duplicate(i64),
    Reject(ErrorCode),
}

fn last_sequence(h: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX back to 0.
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

/// Decides what to do with a batch (header as produced; its base offset is not yet set).
pub fn check(producers: &Producers, h: &BatchHeader) -> SequenceCheck {
    if h.producer_id < 0 || h.base_sequence < 0 {
        return SequenceCheck::Append;
    }
    let Some(state) = producers.get(&h.producer_id) else {
        return SequenceCheck::Append;
    };
    if h.producer_epoch < state.epoch {
        return SequenceCheck::Reject(error::INVALID_PRODUCER_EPOCH);
    }
    if h.producer_epoch > state.epoch {
        return if h.base_sequence != 0 {
            SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
        } else if state.current_txn_first_offset.is_some() && !h.is_transactional() {
            SequenceCheck::Reject(error::INVALID_TXN_STATE)
        } else {
            SequenceCheck::Append
        };
    }
    let last = last_sequence(h);
    if let Some(seen) = state
        .batches
        .iter()
        .find(|b| b.first_sequence == h.base_sequence && b.last_sequence == last)
    {
        return SequenceCheck::Duplicate(seen.base_offset);
    }
    let expected = state.batches.back().map_or(0, |b| {
        if b.last_sequence == i32::MAX {
            0
        } else {
            b.last_sequence + 1
        }
    });
    if !state.batches.is_empty() && h.base_sequence != expected {
        return SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }
    if state.current_txn_first_offset.is_some() && !h.is_transactional() {
        // Kafka's "Expected transactional write from producer": a plain batch inside a
        // transaction.
        return SequenceCheck::Reject(error::INVALID_TXN_STATE);
    }
    SequenceCheck::Append
}

/// Remembers an appended data batch (header with its assigned base offset). Returns the
/// producer id and first offset of a transaction this batch begins.
pub fn record(producers: &mut Producers, h: &BatchHeader) -> Option<(i64, i64)> {
    if h.producer_id < 0 || h.base_sequence < 0 || h.is_control() {
        return None;
    }
    let state = producers.entry(h.producer_id).or_default();
    if h.producer_epoch != state.epoch {
        state.epoch = h.producer_epoch;
        state.batches.clear();
    }
    if state.batches.len() == BATCHES_REMEMBERED {
        state.batches.pop_front();
    }
    state.batches.push_back(BatchMeta {
        first_sequence: h.base_sequence,
        last_sequence: last_sequence(h),
        base_offset: h.base_offset,
    });
    state.last_timestamp = h.max_timestamp;
    if h.is_transactional() && state.current_txn_first_offset.is_none() {
        state.current_txn_first_offset = Some(h.base_offset);
        return Some((h.producer_id, h.base_offset));
    }
    None
}

/// A transaction marker's control record: COMMIT or ABORT, and the coordinator epoch that
/// wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// A transaction a marker ended on this partition (Kafka's `CompletedTxn`): only a producer
/// whose transaction wrote data here completes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// Whether a marker for `producer_id` at `epoch` may be written, as Kafka's
/// ProducerAppendInfo checks an end-transaction marker: an epoch below the producer's is
/// stale (from transactions v2 on, one not above it: its markers carry a bumped epoch); a
/// coordinator epoch below the last marker's is a zombie coordinator's.
pub fn check_marker(
    producers: &Producers,
    producer_id: i64,
    epoch: i16,
    marker: Marker,
    transaction_version: i8,
) -> Result<(), ErrorCode> {
    let Some(state) = producers.get(&producer_id) else {
        return Ok(());
    };
    let stale = if transaction_version >= 2 {
        epoch <= state.epoch
    } else {
        epoch < state.epoch
    };
    if stale {
        return Err(error::INVALID_PRODUCER_EPOCH);
    }
    if state.coordinator_epoch > marker.coordinator_epoch {
        return Err(error::TRANSACTION_COORDINATOR_FENCED);
    }
    Ok(())
}

/// Remembers an appended marker (its control batch's header, base offset assigned).
pub fn record_marker(
    producers: &mut Producers,
    h: &BatchHeader,
    marker: Marker,
) -> Option<CompletedTxn> {
    let state = producers.entry(h.producer_id).or_default();
    let completed = state
        .current_txn_first_offset
        .take()
        .map(|first_offset| CompletedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.base_offset,
            aborted: !marker.commit,
        });
    if h.producer_epoch != state.epoch {
        state.epoch = h.producer_epoch;
        state.batches.clear();
    }
    state.coordinator_epoch = marker.coordinator_epoch;
    state.last_timestamp = h.max_timestamp;
    completed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        let max_timestamp = 1_000 + base_offset;
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut p = Producers::new();
        let first = header(7, 0, 0, 3, 10);
        assert_eq!(check(&p, &first), SequenceCheck::Append);
        record(&mut p, &first);
        assert_eq!(
            check(&p, &header(7, 0, 0, 3, -1)),
            SequenceCheck::Duplicate(10)
        );
        assert_eq!(check(&p, &header(7, 0, 3, 2, -1)), SequenceCheck::Append);
        assert_eq!(
            check(&p, &header(7, 0, 5, 2, -1)),
            SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        let state = &p[&7];
        assert_eq!((state.epoch(), state.last_sequence()), (0, 2));
        record(&mut p, &header(7, 1, 0, 1, 20));
        let state = &p[&7];
        assert_eq!((state.epoch(), state.last_sequence()), (1, 0));
        assert_eq!(
            check(&p, &header(7, 0, 3, 1, -1)),
            SequenceCheck::Reject(error::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            check(&p, &header(7, 2, 4, 1, -1)),
            SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(check(&p, &header(-1, -1, -1, 1, -1)), SequenceCheck::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut p = Producers::new();
        for i in 0..6 {
            record(&mut p, &header(1, 0, i, 1, i64::from(i)));
        }
        assert_eq!(
            check(&p, &header(1, 0, 5, 1, -1)),
            SequenceCheck::Duplicate(5)
        );
        assert_eq!(
            check(&p, &header(1, 0, 1, 1, -1)),
            SequenceCheck::Duplicate(1)
        );
        assert_eq!(
            check(&p, &header(1, 0, 0, 1, -1)),
            SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(p[&1].last_timestamp(), 1_005);
        let mut q = Producers::new();
        record(&mut q, &header(2, 0, i32::MAX, 1, 0));
        assert_eq!(check(&q, &header(2, 0, 0, 1, -1)), SequenceCheck::Append);
    }
}
