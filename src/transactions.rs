//! The transaction coordinator: Kafka's state machine for every transactional id (KIP-98,
//! KIP-447, KIP-890), pure state like the group coordinator (no I/O, no clock of its own, no
//! connection ids). Every change is computed here as a new [`TxnMetadata`] (Kafka's
//! "transit metadata"), written by the caller to `__transaction_state`, and only then
//! [`Transactions::commit`]ted, so memory never runs ahead of the log.
//!
//! States: Empty -> Ongoing (partitions added) -> PrepareCommit/PrepareAbort (EndTxn, or an
//! abort on timeout or re-initialisation) -> CompleteCommit/CompleteAbort (after the markers)
//! -> Ongoing again, or Empty (InitProducerId bumps the epoch). PrepareEpochFence is Kafka's
//! transient "fence then abort" state: here the fence and the PrepareAbort are one step, so
//! it is never held or written (its code is decoded for completeness). Dead is an expired id
//! (its record is a tombstone).
//!
//! Invariant: a transactional id is in `completing` exactly while its state is
//! PrepareCommit or PrepareAbort (its markers are still to be written).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::protocol::error::{self, ErrorCode};

/// The coordinator's internal topic.
pub const TOPIC: &str = "__transaction_state";

pub const INVALID_PRODUCER_ID_MAPPING: ErrorCode = 49;
pub const INVALID_TRANSACTION_TIMEOUT: ErrorCode = 50;
pub const CONCURRENT_TRANSACTIONS: ErrorCode = 51;
pub const NOT_ENOUGH_REPLICAS: ErrorCode = 19;
pub const OPERATION_NOT_ATTEMPTED: ErrorCode = 55;
pub const PRODUCER_FENCED: ErrorCode = 90;
pub const TRANSACTIONAL_ID_NOT_FOUND: ErrorCode = 105;

/// No producer id or epoch (Kafka's RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Kafka's TransactionState, with its on-disk codes and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

impl TxnState {
    pub fn code(self) -> i8 {
        self as i8
    }

    pub fn from_code(code: i8) -> Option<TxnState> {
        STATES.get(usize::try_from(code).ok()?).copied()
    }

    /// The name ListTransactions and DescribeTransactions answer (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        STATES.into_iter().find(|s| s.name() == name)
    }

    fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    fn is_complete_or_empty(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// One transactional id's state, as TransactionLogValue records it (plus the last epoch,
/// which Kafka keeps in memory only, to recognise a retried InitProducerId).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (Kafka's lastProducerId).
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// Wall-clock milliseconds; -1 when no transaction has started.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The transaction version the client speaks (2: KIP-890 part 2, an epoch per
    /// transaction; chosen by EndTxn v5).
    pub client_version: i16,
}

impl TxnMetadata {
    fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= i16::MAX - 1
    }
}

/// What InitProducerId does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Write this (Empty, epoch bumped) and answer its producer id and epoch.
    Write(TxnMetadata),
    /// An ongoing transaction is aborted first (its epoch bumped, so its producer is
    /// fenced): write this PrepareAbort, complete it, and answer CONCURRENT_TRANSACTIONS so
    /// the client retries.
    Fence(TxnMetadata),
}

/// What EndTxn does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndStep {
    /// Write this PrepareCommit/PrepareAbort; the markers follow.
    Write(TxnMetadata),
    /// Nothing to write: a retry of an end already done. Answers the current id and epoch.
    Done(i64, i16),
}

/// The coordinator's configuration (Kafka's TransactionConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnConfig {
    pub max_timeout_ms: i32,
    pub id_expiration_ms: i64,
    pub log_partitions: i32,
    pub abort_check_interval_ms: i64,
    pub expiry_check_interval_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            log_partitions: 50,
            abort_check_interval_ms: 10_000,
            expiry_check_interval_ms: 3_600_000,
        }
    }
}

impl TxnConfig {
    /// From the broker's properties (Kafka's key names and defaults).
    pub fn from_properties(properties: &BTreeMap<String, String>) -> TxnConfig {
        let d = TxnConfig::default();
        let get = |key: &str, default: i64| {
            properties
                .get(key)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v >= 1)
                .unwrap_or(default)
        };
        TxnConfig {
            max_timeout_ms: get("transaction.max.timeout.ms", d.max_timeout_ms.into())
                .min(i32::MAX.into()) as i32,
            id_expiration_ms: get("transactional.id.expiration.ms", d.id_expiration_ms),
            log_partitions: get(
                "transaction.state.log.num.partitions",
                d.log_partitions.into(),
            )
            .min(i32::MAX.into()) as i32,
            abort_check_interval_ms: get(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                d.abort_check_interval_ms,
            ),
            expiry_check_interval_ms: get(
                "transaction.remove.expired.transaction.cleanup.interval.ms",
                d.expiry_check_interval_ms,
            ),
        }
    }
}

/// Kafka's PRODUCER_FENCED for clients that know it, INVALID_PRODUCER_EPOCH for older ones
/// (KafkaApis maps it so below the version given).
pub fn fenced_for(code: ErrorCode, version: i16, first_version_knowing_fenced: i16) -> ErrorCode {
    if code == PRODUCER_FENCED && version < first_version_knowing_fenced {
        error::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

#[derive(Debug, Default)]
pub struct Transactions {
    pub config: TxnConfig,
    txns: BTreeMap<String, TxnMetadata>,
    /// Ids in PrepareCommit/PrepareAbort whose markers are still to be written.
    completing: BTreeSet<String>,
    /// When timed-out transactions and expired ids are next looked for, and when markers
    /// that failed to be written are tried again (set by the caller's timer turn).
    pub next_abort_check: Option<Instant>,
    pub next_expiry_check: Option<Instant>,
    pub completion_retry: Option<Instant>,
}

impl Transactions {
    /// The coordinator as the log left it: the last value of every id (`None`: a
    /// tombstone). Prepared transactions are completed again (their markers rewritten).
    pub fn restore(records: impl IntoIterator<Item = (String, Option<TxnMetadata>)>) -> Self {
        let mut t = Transactions::default();
        for (id, value) in records {
            match value {
                Some(meta) if meta.state != TxnState::Dead => t.commit(&id, meta),
                _ => t.remove(&id),
            }
        }
        t
    }

    /// When the loop's timer should next run for transactions: at `now` (the latest turn's
    /// end) while markers are waiting, unless their retry is backing off; else the next
    /// periodic check.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let completion = match (self.has_completing(), self.completion_retry) {
            (false, _) => None,
            (true, Some(at)) => Some(at),
            (true, None) => Some(now),
        };
        [completion, self.next_abort_check, self.next_expiry_check]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn get(&self, id: &str) -> Option<&TxnMetadata> {
        self.txns.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &TxnMetadata)> {
        self.txns.iter().map(|(id, m)| (id.as_str(), m))
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Takes a state that is now in the log.
    pub fn commit(&mut self, id: &str, meta: TxnMetadata) {
        if meta.state.is_prepare() {
            self.completing.insert(id.to_string());
        } else {
            self.completing.remove(id);
        }
        self.txns.insert(id.to_string(), meta);
    }

    /// Forgets an id whose tombstone is in the log.
    pub fn remove(&mut self, id: &str) {
        self.txns.remove(id);
        self.completing.remove(id);
    }

    /// Ids whose markers are to be written.
    pub fn completing(&self) -> impl Iterator<Item = &str> {
        self.completing.iter().map(String::as_str)
    }

    pub fn has_completing(&self) -> bool {
        !self.completing.is_empty()
    }

    /// InitProducerId for a transactional id (Kafka's handleInitProducerId and
    /// prepareInitProducerIdTransit). `expected` is the request's producer id and epoch
    /// (v3+, when given). `new_producer_id` is asked only when a new id is needed.
    pub fn prepare_init(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        new_producer_id: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<InitStep, ErrorCode> {
        let Some(current) = self.txns.get(id) else {
            let producer_id = new_producer_id().ok_or(error::UNKNOWN_SERVER_ERROR)?;
            let created = TxnMetadata {
                producer_id,
                previous_producer_id: NO_PRODUCER_ID,
                next_producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                client_version: 0,
            };
            return bump_for_init(&created, timeout_ms, expected, now_ms, new_producer_id);
        };
        // A producer id given must be the current one (or the previous one, when a bump that
        // rotated the id is retried); a fresh id (epoch -1) takes anything.
        let valid = |(pid, epoch): (i64, i16)| {
            current.producer_epoch == NO_PRODUCER_EPOCH
                || pid == current.producer_id
                || (pid == current.previous_producer_id && epoch >= i16::MAX - 1)
        };
        if !expected.is_none_or(valid) {
            return Err(PRODUCER_FENCED);
        }
        match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(CONCURRENT_TRANSACTIONS),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                bump_for_init(current, timeout_ms, expected, now_ms, new_producer_id)
            }
            TxnState::Ongoing => Ok(InitStep::Fence(fence_and_abort(current, now_ms))),
            // Never held (see the module note); treat as the abort it stands for.
            TxnState::Dead | TxnState::PrepareEpochFence => Err(CONCURRENT_TRANSACTIONS),
        }
    }

    /// The checks AddPartitionsToTxn, AddOffsetsToTxn and EndTxn share: the id's state if
    /// the producer id and epoch are its own.
    fn owned(&self, id: &str, producer_id: i64, epoch: i16) -> Result<&TxnMetadata, ErrorCode> {
        let meta = self.txns.get(id).ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if meta.producer_id != producer_id {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if meta.producer_epoch != epoch {
            return Err(PRODUCER_FENCED);
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn's one partition): `Ok(None)` when every
    /// partition is already in the ongoing transaction (nothing to write).
    pub fn prepare_add(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &BTreeSet<(String, i32)>,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ErrorCode> {
        let meta = self.owned(id, producer_id, epoch)?;
        if meta.state.is_prepare() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        if meta.state == TxnState::Ongoing && partitions.is_subset(&meta.partitions) {
            return Ok(None);
        }
        let mut next = meta.clone();
        if meta.state != TxnState::Ongoing {
            next.start_ms = now_ms;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// AddPartitionsToTxn with verify_only (v4+, what a partition leader asks under KIP-890
    /// part 1): each partition's error, or one error for them all.
    pub fn verify(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let meta = self.owned(id, producer_id, epoch)?;
        if meta.state.is_prepare() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        let ongoing = meta.state == TxnState::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| {
                if ongoing && meta.partitions.contains(p) {
                    error::NONE
                } else {
                    error::INVALID_TXN_STATE
                }
            })
            .collect())
    }

    /// EndTxn (Kafka's endTransaction from a client). `bump_epoch` is transaction version 2
    /// (EndTxn v5): the epoch moves on at every end, and the markers carry the new one.
    pub fn prepare_end(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        bump_epoch: bool,
        now_ms: i64,
    ) -> Result<EndStep, ErrorCode> {
        let meta = self.txns.get(id).ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if meta.producer_id != producer_id {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        let same_result = match meta.state {
            TxnState::CompleteCommit | TxnState::PrepareCommit => commit,
            TxnState::CompleteAbort | TxnState::PrepareAbort => !commit,
            _ => false,
        };
        // Transaction version 2: a retry of an end that bumped the epoch comes with the
        // epoch before the bump.
        let retry_after_bump = bump_epoch
            && meta.client_version >= 2
            && i32::from(epoch) == i32::from(meta.producer_epoch) - 1
            && matches!(
                meta.state,
                TxnState::CompleteCommit | TxnState::CompleteAbort
            );
        if retry_after_bump {
            return if same_result {
                Ok(EndStep::Done(meta.producer_id, meta.producer_epoch))
            } else {
                Err(error::INVALID_TXN_STATE)
            };
        }
        if epoch != meta.producer_epoch {
            return Err(PRODUCER_FENCED);
        }
        match meta.state {
            TxnState::Ongoing => Ok(EndStep::Write(prepare(meta, commit, bump_epoch, now_ms))),
            TxnState::CompleteCommit | TxnState::CompleteAbort if same_result => {
                Ok(EndStep::Done(meta.producer_id, meta.producer_epoch))
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort if same_result => {
                Err(CONCURRENT_TRANSACTIONS)
            }
            _ => Err(error::INVALID_TXN_STATE),
        }
    }

    /// The state after an id's markers are all written (Kafka's prepareComplete).
    pub fn prepare_complete(&self, id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let meta = self.txns.get(id)?;
        let state = match meta.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        Some(TxnMetadata {
            state,
            partitions: BTreeSet::new(),
            last_update_ms: now_ms,
            ..meta.clone()
        })
    }

    /// Ongoing transactions open longer than their timeout, each with the PrepareAbort that
    /// fences its producer (Kafka's abortTimedOutTransactions).
    pub fn timed_out(&self, now_ms: i64) -> Vec<(String, TxnMetadata)> {
        self.txns
            .iter()
            .filter(|(_, m)| {
                m.state == TxnState::Ongoing
                    && m.start_ms.saturating_add(i64::from(m.timeout_ms)) < now_ms
            })
            .map(|(id, m)| (id.clone(), fence_and_abort(m, now_ms)))
            .collect()
    }

    /// Ids idle in Empty, CompleteCommit or CompleteAbort for `expiration_ms`
    /// (`transactional.id.expiration.ms`): their records are tombstoned.
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> Vec<String> {
        self.txns
            .iter()
            .filter(|(_, m)| {
                m.state.is_complete_or_empty()
                    && m.last_update_ms.saturating_add(expiration_ms) <= now_ms
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Produce's check of a transactional batch (what Kafka's partition leader asks the
    /// coordinator under KIP-890 part 1): the producer's current transaction must hold the
    /// partition. The error and, for INVALID_TXN_STATE and the retriable case, the message
    /// Kafka's ReplicaManager gives.
    pub fn verify_produce(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), (ErrorCode, Option<String>)> {
        let key = (topic.to_string(), partition);
        match self.verify(id, producer_id, epoch, std::slice::from_ref(&key)) {
            Ok(codes) if codes.first() == Some(&error::NONE) => Ok(()),
            Ok(_) => Err((
                error::INVALID_TXN_STATE,
                Some("Partition was not added to the transaction".into()),
            )),
            // Older clients do not retry CONCURRENT_TRANSACTIONS on Produce: Kafka answers
            // NOT_ENOUGH_REPLICAS, which they do.
            Err(CONCURRENT_TRANSACTIONS) => Err((
                NOT_ENOUGH_REPLICAS,
                Some(
                    "Unable to verify the partition has been added to the transaction. \
                     Underlying error: CONCURRENT_TRANSACTIONS"
                        .into(),
                ),
            )),
            Err(code) => Err((code, None)),
        }
    }
}

/// Kafka's prepareIncrementProducerEpoch, or prepareProducerIdRotation when the epoch is
/// exhausted: the Empty state InitProducerId writes.
fn bump_for_init(
    current: &TxnMetadata,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
    new_producer_id: &mut dyn FnMut() -> Option<i64>,
) -> Result<InitStep, ErrorCode> {
    let empty = |producer_id, previous, epoch, last_epoch| TxnMetadata {
        producer_id,
        previous_producer_id: previous,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: epoch,
        last_producer_epoch: last_epoch,
        timeout_ms,
        state: TxnState::Empty,
        partitions: BTreeSet::new(),
        start_ms: -1,
        last_update_ms: now_ms,
        client_version: current.client_version,
    };
    if current.epoch_exhausted() && expected.is_none_or(|(_, e)| e == current.producer_epoch) {
        let producer_id = new_producer_id().ok_or(error::UNKNOWN_SERVER_ERROR)?;
        let last_epoch = if expected.is_some() {
            current.producer_epoch
        } else {
            NO_PRODUCER_EPOCH
        };
        return Ok(InitStep::Write(empty(
            producer_id,
            current.producer_id,
            0,
            last_epoch,
        )));
    }
    let bumped = current.producer_epoch.wrapping_add(1).max(0);
    let (epoch, last_epoch) = match expected {
        None => (bumped, NO_PRODUCER_EPOCH),
        Some((_, e))
            if current.producer_epoch == NO_PRODUCER_EPOCH || e == current.producer_epoch =>
        {
            (bumped, current.producer_epoch)
        }
        // A retry of a bump whose answer was lost: the same epoch again.
        Some((_, e)) if e == current.last_producer_epoch => {
            (current.producer_epoch, current.last_producer_epoch)
        }
        Some(_) => return Err(PRODUCER_FENCED),
    };
    Ok(InitStep::Write(empty(
        current.producer_id,
        current.previous_producer_id,
        epoch,
        last_epoch,
    )))
}

/// Kafka's prepareFenceProducerEpoch followed by the abort: the epoch moves on (unless it
/// is exhausted), so the producer that owned the transaction is fenced.
fn fence_and_abort(current: &TxnMetadata, now_ms: i64) -> TxnMetadata {
    let mut fenced = current.clone();
    if !current.epoch_exhausted() {
        fenced.producer_epoch = current.producer_epoch + 1;
    }
    fenced.last_producer_epoch = NO_PRODUCER_EPOCH;
    fenced.state = TxnState::PrepareAbort;
    fenced.last_update_ms = now_ms;
    fenced
}

/// Kafka's prepareAbortOrCommit: PrepareCommit or PrepareAbort, with transaction version 2's
/// epoch bump.
fn prepare(current: &TxnMetadata, commit: bool, bump_epoch: bool, now_ms: i64) -> TxnMetadata {
    let mut next = current.clone();
    next.state = if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    };
    if bump_epoch {
        next.client_version = 2;
        if !current.epoch_exhausted() {
            next.last_producer_epoch = current.producer_epoch;
            next.producer_epoch = current.producer_epoch + 1;
        }
    }
    next.last_update_ms = now_ms;
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions(list: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        list.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn init(t: &mut Transactions, id: &str, expected: Option<(i64, i16)>) -> TxnMetadata {
        let mut next = 100;
        let mut ids = || {
            next += 1;
            Some(next)
        };
        match t
            .prepare_init(id, 60_000, expected, 1_000, &mut ids)
            .unwrap()
        {
            InitStep::Write(meta) => {
                t.commit(id, meta.clone());
                meta
            }
            InitStep::Fence(meta) => panic!("unexpected fence {meta:?}"),
        }
    }

    #[test]
    fn init_add_commit_complete_and_fencing() {
        let mut t = Transactions::default();
        let first = init(&mut t, "tx", None);
        assert_eq!((first.producer_id, first.producer_epoch), (101, 0));
        let second = init(&mut t, "tx", None);
        assert_eq!((second.producer_id, second.producer_epoch), (101, 1));
        // The first instance is fenced everywhere.
        let p = partitions(&[("t", 0), ("t", 1)]);
        assert_eq!(t.prepare_add("tx", 101, 0, &p, 2_000), Err(PRODUCER_FENCED));
        assert_eq!(
            t.prepare_add("tx", 7, 1, &p, 2_000),
            Err(INVALID_PRODUCER_ID_MAPPING)
        );
        let ongoing = t.prepare_add("tx", 101, 1, &p, 2_000).unwrap().unwrap();
        assert_eq!(
            (ongoing.state, ongoing.start_ms),
            (TxnState::Ongoing, 2_000)
        );
        t.commit("tx", ongoing);
        assert_eq!(
            t.prepare_add("tx", 101, 1, &partitions(&[("t", 1)]), 3_000),
            Ok(None)
        );
        assert_eq!(t.verify_produce("tx", 101, 1, "t", 1), Ok(()));
        assert_eq!(
            t.verify_produce("tx", 101, 1, "t", 2).unwrap_err().0,
            error::INVALID_TXN_STATE
        );
        assert_eq!(
            t.verify_produce("tx", 101, 0, "t", 1).unwrap_err().0,
            PRODUCER_FENCED
        );
        let EndStep::Write(prepared) = t.prepare_end("tx", 101, 1, true, false, 4_000).unwrap()
        else {
            panic!("nothing to write");
        };
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        t.commit("tx", prepared);
        assert_eq!(t.completing().collect::<Vec<_>>(), ["tx"]);
        assert_eq!(
            t.prepare_end("tx", 101, 1, true, false, 4_000),
            Err(CONCURRENT_TRANSACTIONS)
        );
        assert_eq!(
            t.prepare_end("tx", 101, 1, false, false, 4_000),
            Err(error::INVALID_TXN_STATE)
        );
        let mut none = || None;
        assert_eq!(
            t.prepare_init("tx", 60_000, None, 4_000, &mut none),
            Err(CONCURRENT_TRANSACTIONS)
        );
        let complete = t.prepare_complete("tx", 5_000).unwrap();
        assert_eq!(
            (complete.state, complete.partitions.len()),
            (TxnState::CompleteCommit, 0)
        );
        t.commit("tx", complete);
        assert!(!t.has_completing());
        // A retried commit is answered without a write.
        assert_eq!(
            t.prepare_end("tx", 101, 1, true, false, 6_000),
            Ok(EndStep::Done(101, 1))
        );
    }

    #[test]
    fn init_of_an_ongoing_transaction_fences_and_aborts_it() {
        let mut t = Transactions::default();
        init(&mut t, "tx", None);
        let ongoing = t
            .prepare_add("tx", 101, 0, &partitions(&[("t", 0)]), 2_000)
            .unwrap()
            .unwrap();
        t.commit("tx", ongoing);
        let mut none = || None;
        let Ok(InitStep::Fence(fenced)) = t.prepare_init("tx", 60_000, None, 3_000, &mut none)
        else {
            panic!("no fence");
        };
        assert_eq!(
            (fenced.state, fenced.producer_epoch),
            (TxnState::PrepareAbort, 1)
        );
        assert_eq!(fenced.partitions, partitions(&[("t", 0)]));
    }

    #[test]
    fn expected_epochs_and_timeouts() {
        let mut t = Transactions::default();
        init(&mut t, "tx", None);
        // v3+: the current id and epoch bump; a retry of that bump gets the same epoch.
        let bumped = init(&mut t, "tx", Some((101, 0)));
        assert_eq!(bumped.producer_epoch, 1);
        assert_eq!(init(&mut t, "tx", Some((101, 0))).producer_epoch, 1);
        let mut none = || None;
        assert_eq!(
            t.prepare_init("tx", 60_000, Some((55, 1)), 0, &mut none),
            Err(PRODUCER_FENCED)
        );
        let ongoing = t
            .prepare_add("tx", 101, 1, &partitions(&[("t", 0)]), 10_000)
            .unwrap()
            .unwrap();
        t.commit("tx", ongoing);
        assert!(t.timed_out(70_000).is_empty());
        let out = t.timed_out(70_001);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].1.state, out[0].1.producer_epoch),
            (TxnState::PrepareAbort, 2)
        );
        assert!(
            t.expired(i64::MAX, 1).is_empty(),
            "ongoing ids do not expire"
        );
    }

    #[test]
    fn epoch_bump_per_transaction_under_version_2() {
        let mut t = Transactions::default();
        init(&mut t, "tx", None);
        let ongoing = t
            .prepare_add("tx", 101, 0, &partitions(&[("t", 0)]), 1)
            .unwrap()
            .unwrap();
        t.commit("tx", ongoing);
        let EndStep::Write(prepared) = t.prepare_end("tx", 101, 0, false, true, 2).unwrap() else {
            panic!()
        };
        assert_eq!((prepared.producer_epoch, prepared.client_version), (1, 2));
        t.commit("tx", prepared);
        let complete = t.prepare_complete("tx", 3).unwrap();
        t.commit("tx", complete);
        // The retry with the old epoch is recognised.
        assert_eq!(
            t.prepare_end("tx", 101, 0, false, true, 4),
            Ok(EndStep::Done(101, 1))
        );
    }

    #[test]
    fn state_codes_and_names_are_kafkas() {
        for (code, state) in STATES.iter().enumerate() {
            assert_eq!(TxnState::from_code(code as i8), Some(*state));
            assert_eq!(TxnState::from_name(state.name()), Some(*state));
        }
        assert_eq!(TxnState::PrepareEpochFence.code(), 7);
        assert_eq!(TxnState::from_code(8), None);
    }
}
