//! Produce (key 0): appends one record batch per partition. Versions 0-11, flexible from v9.
//! - v1 and v2 requests are v0's; the response adds throttle_time_ms (v1) and
//!   log_append_time_ms (v2). v3 adds transactional_id and record format v2.
//! - v4 may answer KAFKA_STORAGE_ERROR; v5 adds log_start_offset to the response; v6 is v5;
//!   v7 allows zstd; v8 adds record_errors and error_message (KIP-467); v9 is flexible.
//! - v10 adds the tagged CurrentLeader and NodeEndpoints (KIP-951), which go with
//!   NOT_LEADER_OR_FOLLOWER: we are the only leader, so they stay at their defaults and are
//!   left out. v11 may answer TRANSACTION_ABORTABLE (KIP-890).
//! - Kafka 4 rejects v0-2 but librdkafka needs them advertised (KAFKA-18659); we serve them.
//!   v12 (transactions v2) and v13 (topic ids) are not served: v12 belongs to the
//!   transactions work and v13 cannot be announced without it.
//!
//! Every batch is checked as Kafka's LogValidator checks it before anything is stored: its
//! header and CRC (`batch::validate`), then each record (`storage::records`, which
//! decompresses gzip, snappy, lz4 and zstd batches up to a bound). Kafka's answers:
//! - a malformed record or batch: INVALID_RECORD, no message (Kafka's InvalidRecordException);
//!   records refused one by one (a keyless record on a compacted topic): INVALID_RECORD with
//!   `record_errors` and `error_message` (v8+), as Kafka's RecordValidationException;
//! - a CRC mismatch or a payload that does not decompress: CORRUPT_MESSAGE (for the latter
//!   Kafka answers UNKNOWN_SERVER_ERROR, an unhandled "Failed to decompress record stream";
//!   we name the fault);
//! - a control batch: INVALID_RECORD ("Clients are not allowed to write control records");
//! - a transactional batch with no transactional_id: the whole request gets
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as Kafka's KafkaApis answers it). With one, the
//!   batch passes `transaction_check` (the coordinator's verification that the partition is
//!   in the producer's transaction, KIP-890) and is stored: it begins or continues the
//!   producer's transaction on the partition (`storage::producers`).
//! - zstd before v7: UNSUPPORTED_COMPRESSION_TYPE.
//! - with the authorizer on: WRITE on the transactional id for a transactional batch (else
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED everywhere), WRITE on each topic (else
//!   TOPIC_AUTHORIZATION_FAILED for its partitions), as KafkaApis checks them.
//!
//! Invariant: records are borrowed from the frame and stored verbatim once they pass.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::protocol::wire::Records;
use crate::security::authorizer::{op, resource};
use crate::storage::AppendError;
use crate::storage::batch::{self, BatchError, BatchHeader};
use crate::storage::records::{self, Invalid};

message! {
    pub struct Request<'a> {
        transactional_id: Option<&'a str> = "3+" null "3+",
        acks: i16 = "0+",
        timeout_ms: i32 = "0+",
        topic_data: Vec<TopicProduceData<'a>> = "0+",
    }

    pub struct TopicProduceData<'a> {
        name: &'a str = "0-12",
        partition_data: Vec<PartitionProduceData<'a>> = "0+",
    }

    pub struct PartitionProduceData<'a> {
        index: i32 = "0+",
        records: Option<Records<'a>> = "0+" null "0+",
    }

    pub struct Response<'a> {
        responses: Vec<TopicProduceResponse<'a>> = "0+",
        throttle_time_ms: i32 = "1+",
        node_endpoints: Vec<NodeEndpoint> = "10+" tag 0,
    }

    pub struct TopicProduceResponse<'a> {
        name: &'a str = "0-12",
        partition_responses: Vec<PartitionProduceResponse> = "0+",
    }

    pub struct PartitionProduceResponse {
        index: i32 = "0+",
        error_code: i16 = "0+",
        base_offset: i64 = "0+",
        log_append_time_ms: i64 = "2+" default -1,
        log_start_offset: i64 = "5+" default -1,
        record_errors: Vec<BatchIndexAndErrorMessage> = "8+",
        error_message: Option<String> = "8+" null "8+",
        current_leader: LeaderIdAndEpoch = "10+" tag 0,
    }

    pub struct BatchIndexAndErrorMessage {
        batch_index: i32 = "8+",
        batch_index_error_message: Option<String> = "8+" null "8+",
    }

    pub struct LeaderIdAndEpoch {
        leader_id: i32 = "10+" default -1,
        leader_epoch: i32 = "10+" default -1,
    }

    pub struct NodeEndpoint {
        node_id: i32 = "10+",
        host: String = "10+",
        port: i32 = "10+",
        rack: Option<String> = "10+" null "10+",
    }
}

pub struct Produce;

impl Api for Produce {
    const SPEC: ApiSpec = ApiSpec::new(0, "Produce", "0-11", "9+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    /// Appends each partition's batch after validating it; the answer goes out after the
    /// turn's fsync (the loop writes nothing before `end_of_turn`). acks=0 gets none.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut responses = Vec::with_capacity(request.topic_data.len());
        // A transactional batch needs a transactional id the principal may WRITE before
        // anything else is looked at.
        let unauthorized = has_transactional_batch(&request)
            && !request
                .transactional_id
                .is_some_and(|id| ctx.authorize(op::WRITE, resource::TRANSACTIONAL_ID, id));
        for topic in &request.topic_data {
            let mut partition_responses = Vec::with_capacity(topic.partition_data.len());
            let may_write = ctx.authorize(op::WRITE, resource::TOPIC, topic.name);
            for data in &topic.partition_data {
                partition_responses.push(if unauthorized {
                    failed(data.index, error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                } else if !may_write {
                    failed(data.index, error::TOPIC_AUTHORIZATION_FAILED)
                } else {
                    produce_partition(ctx, &request, topic.name, data)
                });
            }
            responses.push(TopicProduceResponse {
                name: topic.name,
                partition_responses,
            });
        }
        // Kafka counts the whole request (header and body) against producer_byte_rate, acks=0
        // included; over it the connection is muted, and the response says for how long.
        ctx.throttle_ms =
            ctx.quotas
                .record_produce(ctx.client_id.unwrap_or(""), ctx.request_bytes, ctx.now);
        if request.acks == 0 {
            return Answer::Nothing;
        }
        Answer::Respond(Response {
            responses,
            throttle_time_ms: ctx.throttle_ms,
            ..Response::default()
        })
    }
}

/// A partition's batch bytes (a decoded request always holds bytes; null is empty).
fn batch_bytes<'a>(data: &PartitionProduceData<'a>) -> &'a [u8] {
    match &data.records {
        Some(Records::Bytes(bytes)) => bytes,
        _ => &[][..],
    }
}

fn has_transactional_batch(request: &Request) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|data| BatchHeader::parse(batch_bytes(data)))
        .any(|header| header.is_transactional())
}

fn failed(index: i32, error_code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code,
        base_offset: -1,
        ..PartitionProduceResponse::default()
    }
}

/// Kafka's answer to a batch whose header passed but that may not be stored: control and
/// control batches, an idempotent batch without a sequence, zstd before v7.
fn refuse_batch(
    ctx: &Context,
    header: &BatchHeader,
    topic_partition: &records::TopicPartition,
) -> Option<(i16, Option<String>)> {
    if header.compression() == records::CODEC_ZSTD && ctx.version < 7 {
        return Some((error::UNSUPPORTED_COMPRESSION_TYPE, None));
    }
    if header.is_control() {
        log::debug!(
            "Clients are not allowed to write control records in topic partition {topic_partition}"
        );
        return Some((error::INVALID_RECORD, None));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        log::debug!(
            "Invalid sequence number {} in record batch with producerId {} in topic partition \
             {topic_partition}",
            header.base_sequence,
            header.producer_id
        );
        return Some((error::INVALID_RECORD, None));
    }
    None
}

/// Kafka's RecordValidationException message: the count and the first three record errors.
fn record_errors_message(errors: &[(i32, String)]) -> String {
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|(index, message)| format!("RecordError(batchIndex={index}, message='{message}')"))
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        errors.len(),
        shown.join(", ")
    )
}

/// The transaction coordinator's check of a transactional batch before it is stored (Kafka's
/// transaction verification, KIP-890 part 1): `Some` refuses it with that error and
/// message. A batch with no producer id is never in a transaction; a producer's batch must
/// be of the transaction its transactional id has open, with this partition added
/// (`txn_common::check_produce`).
fn transaction_check(
    ctx: &Context,
    transactional_id: &str,
    topic_partition: &records::TopicPartition,
    header: &BatchHeader,
) -> Option<(i16, Option<String>)> {
    if header.producer_id < 0 {
        let message = "Partition was not added to the transaction";
        return Some((error::INVALID_TXN_STATE, Some(message.into())));
    }
    super::txn_common::check_produce(
        &ctx.coordinator.transactions,
        Some(transactional_id),
        header.producer_id,
        header.producer_epoch,
        topic_partition.topic,
        topic_partition.partition,
    )
    .err()
}

fn produce_partition(
    ctx: &mut Context,
    request: &Request,
    topic: &str,
    data: &PartitionProduceData,
) -> PartitionProduceResponse {
    let acks = request.acks;
    let fail = |error_code| failed(data.index, error_code);
    if !matches!(acks, -1..=1) {
        return fail(error::INVALID_REQUIRED_ACKS);
    }
    let Some(partition) = ctx
        .storage
        .topic(topic)
        .and_then(|t| t.partition(data.index))
    else {
        return fail(error::UNKNOWN_TOPIC_OR_PARTITION);
    };
    let log_start_offset = partition.log.log_start_offset();
    let bytes = batch_bytes(data);
    let configs = ctx.storage.topic_configs(topic);
    let max_bytes = configs
        .and_then(|c| c.get("max.message.bytes"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(ctx.config.message_max_bytes);
    let compacted = configs
        .and_then(|c| c.get("cleanup.policy"))
        .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "compact"));
    if bytes.len() > max_bytes {
        return fail(error::MESSAGE_TOO_LARGE);
    }
    // Kafka answers the partition's log start offset with the errors its LogValidator raises
    // (InvalidRecordException, RecordValidationException), and -1 with those the request's
    // own checks raise (magic, one batch, zstd before v7) and with a CorruptRecordException
    // or RecordTooLargeException.
    let with_start = |response: PartitionProduceResponse| match response.error_code {
        error::INVALID_RECORD => PartitionProduceResponse {
            log_start_offset,
            ..response
        },
        _ => response,
    };
    let header = match batch::validate(bytes) {
        Ok(header) => header,
        Err(e) => {
            let code = match e {
                BatchError::Truncated
                | BatchError::CrcMismatch
                | BatchError::UnknownCompression => error::CORRUPT_MESSAGE,
                BatchError::UnsupportedMagic(_)
                | BatchError::InvalidRecordCount
                | BatchError::TrailingBytes => error::INVALID_RECORD,
            };
            log::debug!("produce to {topic}-{}: {e:?} (error {code})", data.index);
            return match e {
                BatchError::InvalidRecordCount => with_start(fail(code)),
                _ => fail(code),
            };
        }
    };
    let topic_partition = records::TopicPartition {
        topic,
        partition: data.index,
    };
    let refused =
        refuse_batch(ctx, &header, &topic_partition).or_else(|| match request.transactional_id {
            Some(id) if header.is_transactional() => {
                transaction_check(ctx, id, &topic_partition, &header)
            }
            _ => None,
        });
    if let Some((code, message)) = refused {
        log::debug!("produce to {topic_partition}: refused (error {code})");
        return with_start(PartitionProduceResponse {
            error_message: message,
            ..fail(code)
        });
    }
    let decompressed_bytes_max = records::decompressed_bytes_max(max_bytes);
    let checked = ctx.storage.validator.check(
        bytes,
        &header,
        compacted,
        decompressed_bytes_max,
        &topic_partition,
    );
    if let Err(invalid) = checked {
        log::debug!("produce to {topic_partition}: {invalid:?}");
        return with_start(match invalid {
            Invalid::Corrupt(_) => fail(error::CORRUPT_MESSAGE),
            Invalid::Record(_) => fail(error::INVALID_RECORD),
            Invalid::Records(errors) => PartitionProduceResponse {
                error_message: Some(record_errors_message(&errors)),
                record_errors: errors
                    .into_iter()
                    .map(|(batch_index, message)| BatchIndexAndErrorMessage {
                        batch_index,
                        batch_index_error_message: Some(message),
                    })
                    .collect(),
                ..fail(error::INVALID_RECORD)
            },
        });
    }
    match ctx.storage.append(topic, data.index, bytes) {
        Ok(appended) => PartitionProduceResponse {
            index: data.index,
            base_offset: appended.base_offset,
            log_start_offset,
            ..PartitionProduceResponse::default()
        },
        Err(AppendError::Sequence(code)) => fail(code),
        Err(AppendError::UnknownTopicOrPartition) => fail(error::UNKNOWN_TOPIC_OR_PARTITION),
        // As Kafka, whose log dir goes offline on an IOException: KAFKA_STORAGE_ERROR, which
        // clients retry. Storage logs the condition once as it starts and once as it ends.
        Err(AppendError::Io(_)) => fail(error::KAFKA_STORAGE_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn request_bytes(version: i16, body: &[u8]) -> Request<'_> {
        decode(body, Produce::SPEC.ver(version)).unwrap()
    }

    fn response_bytes(response: &Response, version: i16) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, Produce::SPEC.ver(version), &mut out).unwrap();
        out
    }

    fn records<'a>(request: &Request<'a>) -> Option<&'a [u8]> {
        match &request.topic_data[0].partition_data[0].records {
            Some(Records::Bytes(bytes)) => Some(bytes),
            Some(Records::Source(_)) => unreachable!("decoded records are bytes"),
            None => None,
        }
    }

    #[test]
    fn produce_v2_and_v3_request_bytes() {
        let head = [0xff, 0xff, 0, 0, 0x03, 0xe8]; // acks -1, timeout_ms 1000
        let topic = [
            0, 0, 0, 1, 0, 1, b't', // topic_data: 1, name "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partition_data: 1, index 0
        ];
        // v2: no transactional_id; records of 3 bytes.
        let v2 = [&head[..], &topic, &[0, 0, 0, 3, 1, 2, 3]].concat();
        let request = request_bytes(2, &v2);
        assert_eq!((request.acks, request.timeout_ms), (-1, 1000));
        assert_eq!(request.topic_data[0].name, "t");
        assert_eq!(records(&request), Some(&[1, 2, 3][..]));
        // v3: transactional_id null first; null records.
        let v3 = [&[0xff, 0xff][..], &head, &topic, &[0xff; 4]].concat();
        let request = request_bytes(3, &v3);
        assert_eq!((request.transactional_id, records(&request)), (None, None));
    }

    #[test]
    fn produce_v9_request_bytes_with_unknown_tag() {
        let body = [
            3, b't', b'x', // transactional_id "tx" (compact: len+1)
            0, 1, 0, 0, 0x75, 0x30, // acks 1, timeout_ms 30000
            2, 2, b't', // topic_data: 1 (compact: count+1), name "t"
            2, 0, 0, 0, 2, // partition_data: 1, index 2
            3, 0xaa, 0xbb, // records: 2 bytes (compact)
            0, 0, // partition and topic tags
            1, 5, 1, 0xff, // body tags: one unknown tag 5 of 1 byte, skipped
        ];
        let request = request_bytes(9, &body);
        assert_eq!(
            (request.transactional_id, request.timeout_ms),
            (Some("tx"), 30_000)
        );
        assert_eq!(request.topic_data[0].partition_data[0].index, 2);
        assert_eq!(records(&request), Some(&[0xaa, 0xbb][..]));
    }

    #[test]
    fn produce_v0_v2_v8_response_bytes() {
        let partition = PartitionProduceResponse {
            base_offset: 5,
            log_start_offset: 0,
            ..PartitionProduceResponse::default()
        };
        let response = Response {
            responses: vec![TopicProduceResponse {
                name: "t",
                partition_responses: vec![partition],
            }],
            ..Response::default()
        };
        let head = [
            0, 0, 0, 1, 0, 1, b't', // responses: 1, name "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partition_responses: 1, index 0, error_code 0
            0, 0, 0, 0, 0, 0, 0, 5, // base_offset 5
        ];
        // v0: nothing more. v2: log_append_time_ms -1, then throttle_time_ms.
        assert_eq!(response_bytes(&response, 0), head);
        let v2 = [&head[..], &[0xff; 8], &[0; 4]].concat();
        assert_eq!(response_bytes(&response, 2), v2);
        // v8: log_append_time_ms -1, log_start_offset 0, record_errors [], error_message
        // null, throttle_time_ms 0.
        let v8 = [&head[..], &[0xff; 8], &[0; 8], &[0; 4], &[0xff; 2], &[0; 4]].concat();
        assert_eq!(response_bytes(&response, 8), v8);
    }

    #[test]
    fn produce_v9_to_v11_response_bytes() {
        let partition = PartitionProduceResponse {
            index: 3,
            error_code: error::INVALID_RECORD,
            base_offset: -1,
            record_errors: vec![BatchIndexAndErrorMessage {
                batch_index: 1,
                batch_index_error_message: Some("x".into()),
            }],
            error_message: Some("e".into()),
            ..PartitionProduceResponse::default()
        };
        let response = Response {
            responses: vec![TopicProduceResponse {
                name: "t",
                partition_responses: vec![partition],
            }],
            throttle_time_ms: 10,
            ..Response::default()
        };
        let mut expected = vec![
            2, 2, b't', // responses: 1 (compact), name "t"
            2, 0, 0, 0, 3, 0, 87, // partition_responses: 1, index 3, error_code 87
        ];
        // base_offset, log_append_time_ms and log_start_offset: -1.
        expected.extend_from_slice(&[0xff; 24]);
        expected.extend_from_slice(&[
            2, 0, 0, 0, 1, // record_errors: 1, batch_index 1
            2, b'x', 0, // batch_index_error_message "x", tags
            2, b'e', // error_message "e"
            0, 0, // partition tags (CurrentLeader at its default: left out), topic tags
            0, 0, 0, 10, // throttle_time_ms 10
            0,  // body tags (NodeEndpoints empty: left out)
        ]);
        for version in 9..=11 {
            assert_eq!(response_bytes(&response, version), expected, "v{version}");
        }
    }
}
