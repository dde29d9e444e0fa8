//! Produce to a compacted topic (`cleanup.policy` holding `compact`) refuses records without a
//! key, as Kafka's `LogValidator.validateKey` does: the batch gets INVALID_RECORD, each keyless
//! record's batch index is in `record_errors` with Kafka's message, and `error_message` is
//! Kafka's summary of them (both from Produce v8; older versions see the code alone). Only
//! uncompressed batches are read record by record here; a compressed batch is appended
//! unchecked until the codecs are wired in (the cleaner keeps such batches whole).

use super::Context;
use super::produce::{BatchIndexAndErrorMessage, PartitionProduceResponse};
use crate::protocol::error;
use crate::storage::batch::{self, BatchHeader};

/// Kafka shows at most this many record errors in `error_message`.
const SHOWN_ERRORS: usize = 3;

/// The refusal of a batch with keyless records bound for a compacted topic, or `None` when
/// it may be appended. `bytes` has passed `batch::validate`.
pub fn refusal(
    ctx: &Context,
    topic: &str,
    partition: i32,
    bytes: &[u8],
    log_start_offset: i64,
) -> Option<PartitionProduceResponse> {
    let stored = ctx.storage.topic(topic)?;
    let policy = ctx.storage.topic_setting(&stored.configs, "cleanup.policy");
    if !crate::configs::list_items(&policy).contains(&"compact") {
        return None;
    }
    let header = BatchHeader::parse(bytes)?;
    if header.compression() != 0 || header.is_control() {
        return None;
    }
    let fail = |error_code| PartitionProduceResponse {
        index: partition,
        error_code,
        base_offset: -1,
        log_start_offset,
        ..PartitionProduceResponse::default()
    };
    let Ok(records) = batch::records(bytes) else {
        return Some(fail(error::CORRUPT_MESSAGE));
    };
    let message = format!(
        "Compacted topic cannot accept message without key in topic partition {topic}-{partition}"
    );
    let keyless: Vec<i32> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.key.is_none())
        .map(|(i, _)| i as i32)
        .collect();
    if keyless.is_empty() {
        return None;
    }
    log::debug!(
        "produce to {topic}-{partition}: {} keyless records",
        keyless.len()
    );
    let shown: Vec<String> = keyless
        .iter()
        .take(SHOWN_ERRORS)
        .map(|i| format!("RecordError(batchIndex={i}, message='{message}')"))
        .collect();
    let error_message = format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        keyless.len(),
        shown.join(", ")
    );
    Some(PartitionProduceResponse {
        record_errors: keyless
            .iter()
            .map(|&batch_index| BatchIndexAndErrorMessage {
                batch_index,
                batch_index_error_message: Some(message.clone()),
            })
            .collect(),
        error_message: Some(error_message),
        ..fail(error::INVALID_RECORD)
    })
}
