//! What the transaction APIs and the broker's timer share: a coordinator state written to
//! `__transaction_state` before the coordinator takes it, ending a transaction (its
//! PrepareCommit/PrepareAbort first; the markers and the Complete state follow from the
//! timer, which first waits for the syncs in flight, so the Prepare state is durable), timed-out transactions aborted with an epoch bump,
//! idle ids expired, and Produce's check of transactional batches.
//!
//! Order on disk, for every transaction: Prepare* (synced with its turn), then a marker in
//! every partition of the transaction (synced), then Complete*. A restart that finds a
//! Prepare* writes the markers again (a duplicate marker is harmless); one that finds
//! Ongoing lets the timeout abort it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::protocol::error::{self, ErrorCode};
use crate::storage::{AppendError, Storage, now_ms, offsets};
use crate::transactions::{Transactions, TxnMetadata, TxnState};

/// The coordinator epoch the markers carry: this broker leads `__transaction_state` for
/// good, so its epoch never moves.
const COORDINATOR_EPOCH: i32 = 0;

/// How long markers that could not be written wait before they are tried again.
const MARKER_RETRY: Duration = Duration::from_millis(100);

/// Kafka's mapping of a failed `__transaction_state` append (appendTransactionToLog).
fn log_error(e: &AppendError) -> ErrorCode {
    match e {
        AppendError::UnknownTopicOrPartition => error::COORDINATOR_NOT_AVAILABLE,
        AppendError::Sequence(_) | AppendError::Io(_) => error::NOT_COORDINATOR,
    }
}

/// Writes a transactional id's new state, then takes it into the coordinator.
pub fn write_state(
    storage: &mut Storage,
    txns: &mut Transactions,
    id: &str,
    meta: TxnMetadata,
) -> Result<(), ErrorCode> {
    match storage.write_txn_state(id, Some(&meta)) {
        Ok(()) => {
            debug!(
                "transactional id {id}: {} (producer {} epoch {})",
                meta.state.name(),
                meta.producer_id,
                meta.producer_epoch
            );
            txns.commit(id, meta);
            Ok(())
        }
        Err(e) => {
            warn!("writing the state of transactional id {id}: {e:?}");
            Err(log_error(&e))
        }
    }
}

/// The partitions a request names that do not exist (Kafka answers
/// UNKNOWN_TOPIC_OR_PARTITION for them and OPERATION_NOT_ATTEMPTED for the rest).
pub fn unknown_partitions(
    storage: &Storage,
    partitions: &BTreeSet<(String, i32)>,
) -> BTreeSet<(String, i32)> {
    partitions
        .iter()
        .filter(|(topic, p)| storage.topic(topic).and_then(|t| t.partition(*p)).is_none())
        .cloned()
        .collect()
}

/// What KafkaApis checks first for AddOffsetsToTxn and TxnOffsetCommit: WRITE on the
/// transactional id, then READ on the group; the code of the first refusal.
pub fn authorize_txn_group(
    ctx: &crate::context::Context,
    transactional_id: &str,
    group: &str,
) -> Option<ErrorCode> {
    use crate::security::authorizer::{op, resource};
    if !ctx.authorize(op::WRITE, resource::TRANSACTIONAL_ID, transactional_id) {
        Some(error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !ctx.authorize(op::READ, resource::GROUP, group) {
        Some(error::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    }
}

/// Writes the markers of every transaction whose Prepare* is durable, syncs them, then
/// writes its Complete* state. A failed marker leaves the transaction to a later turn.
pub fn complete_transactions(storage: &mut Storage, txns: &mut Transactions, now: Instant) {
    let ids: Vec<String> = txns.completing().map(str::to_string).collect();
    if ids.is_empty() {
        return;
    }
    // Data syncs run off the loop (io_uring): the turn that wrote a Prepare* state may still
    // be syncing it. Its markers go out only once it is durable.
    if let Err(e) = storage.flush(now) {
        log::error!("fsync before transaction markers failed: {e}; stopping");
        std::process::exit(1);
    }
    let mut marked = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(meta) = txns.get(&id) else {
            continue;
        };
        let commit = meta.state == TxnState::PrepareCommit;
        let (pid, epoch) = (meta.producer_id, meta.producer_epoch);
        let partitions: Vec<(String, i32)> = meta.partitions.iter().cloned().collect();
        let mut failed = false;
        for (topic, partition) in partitions {
            // A partition deleted since it joined the transaction gets no marker (as Kafka).
            if storage
                .topic(&topic)
                .and_then(|t| t.partition(partition))
                .is_none()
            {
                continue;
            }
            match storage.write_txn_marker(&topic, partition, pid, epoch, COORDINATOR_EPOCH, commit)
            {
                Ok(_) => {
                    if topic == offsets::TOPIC {
                        storage.end_txn_offsets(partition, pid, commit);
                    }
                }
                // The partition already has a newer epoch of the producer (or a newer
                // coordinator epoch): the marker has nothing left to end there.
                Err(AppendError::Sequence(code)) => {
                    warn!(
                        "the marker of transactional id {id} to {topic}-{partition} was refused \
                         (error {code}): skipped"
                    );
                }
                Err(AppendError::UnknownTopicOrPartition) => {}
                Err(AppendError::Io(e)) => {
                    warn!("writing a marker of transactional id {id} to {topic}-{partition}: {e}");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            txns.completion_retry = Some(now + MARKER_RETRY);
        } else {
            marked.push(id);
        }
    }
    if marked.is_empty() {
        return;
    }
    // The markers are on disk before any Complete state says so.
    if let Err(e) = storage.flush(now) {
        log::error!("fsync of transaction markers failed: {e}; stopping without completing");
        std::process::exit(1);
    }
    let now_ms = now_ms();
    for id in marked {
        if let Some(complete) = txns.prepare_complete(&id, now_ms) {
            let state = complete.state;
            if write_state(storage, txns, &id, complete).is_ok() {
                debug!("transactional id {id}: markers written, {}", state.name());
            } else {
                txns.completion_retry = Some(now + MARKER_RETRY);
            }
        }
    }
}

/// The loop's timer: markers to write, transactions past their timeout (aborted with an
/// epoch bump, so their producer is fenced), ids idle past `transactional.id.expiration.ms`.
pub fn on_timer(storage: &mut Storage, txns: &mut Transactions, now: Instant) {
    if txns.completion_retry.is_some_and(|at| at > now) {
        // Backing off from a failed marker.
    } else {
        txns.completion_retry = None;
        complete_transactions(storage, txns, now);
    }
    let config = txns.config;
    if txns.next_abort_check.is_none_or(|at| at <= now) {
        for (id, fenced) in txns.timed_out(now_ms()) {
            info!(
                "aborting transaction of transactional id {id} (producer {}): open longer than \
                 its timeout of {} ms",
                fenced.producer_id, fenced.timeout_ms
            );
            let _ = write_state(storage, txns, &id, fenced);
        }
        txns.next_abort_check =
            Some(now + Duration::from_millis(config.abort_check_interval_ms as u64));
    }
    if txns.next_expiry_check.is_none_or(|at| at <= now) {
        for id in txns.expired(now_ms(), config.id_expiration_ms) {
            match storage.write_txn_state(&id, None) {
                Ok(()) => {
                    info!("transactional id {id} expired");
                    txns.remove(&id);
                }
                Err(e) => warn!("expiring transactional id {id}: {e:?}"),
            }
        }
        txns.next_expiry_check =
            Some(now + Duration::from_millis(config.expiry_check_interval_ms as u64));
    }
}

/// Produce's check of a transactional batch before it is appended: the request's
/// transactional id must own the batch's producer id and epoch and have the partition in
/// its ongoing transaction. Kafka's error (and message) otherwise.
pub fn check_produce(
    txns: &Transactions,
    transactional_id: Option<&str>,
    producer_id: i64,
    producer_epoch: i16,
    topic: &str,
    partition: i32,
) -> Result<(), (ErrorCode, Option<String>)> {
    let Some(id) = transactional_id.filter(|id| !id.is_empty()) else {
        return Err((error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None));
    };
    txns.verify_produce(id, producer_id, producer_epoch, topic, partition)
}
