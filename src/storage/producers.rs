//! Idempotent producers: per partition and producer id, the epoch and the last five batches'
//! sequence ranges, as Kafka keeps them. A retried batch is recognised and answered with its
//! original offset; a gap or a stale epoch is refused. Rebuilt from batch headers on start.
//! DescribeProducers reads each producer's epoch, last sequence and last timestamp here.

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

#[derive(Debug, Default, Clone)]
pub struct ProducerState {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The max timestamp of the producer's last batch (Kafka's `lastTimestamp`).
    last_timestamp: i64,
}

impl ProducerState {
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
        return if h.base_sequence == 0 {
            SequenceCheck::Append
        } else {
            SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
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
    if state.batches.is_empty() || h.base_sequence == expected {
        SequenceCheck::Append
    } else {
        SequenceCheck::Reject(error::OUT_OF_ORDER_SEQUENCE_NUMBER)
    }
}

/// Remembers an appended batch (header with its assigned base offset).
pub fn record(producers: &mut Producers, h: &BatchHeader) {
    if h.producer_id < 0 || h.base_sequence < 0 {
        return;
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
