//! ListOffsets (key 2): the offset for a time, or for a sentinel timestamp, per partition.
//! Versions 1-11, flexible from v6.
//! - v1 (Kafka 4's baseline) returns one offset and its timestamp instead of v0's array;
//!   v2 adds isolation_level and throttle_time_ms; v3 is v2; v4 adds current_leader_epoch
//!   and the response's leader_epoch; v5 may answer OFFSET_NOT_AVAILABLE; v6 is flexible.
//! - Sentinels: -1 latest, -2 earliest; v7 adds -3, the record with the largest timestamp
//!   (KIP-734); v8 adds -4, the start of the local log (KIP-405): without tiered storage,
//!   the log start offset, as -2.
//! - v9 adds -5, the last offset in tiered storage (KIP-1005), and v11 adds -6, the first
//!   offset not yet uploaded to it (KIP-1023). We have no tiered storage, so both are
//!   answered as Kafka answers them for a topic without it: no offset (-1), no error.
//! - v10 adds timeout_ms, how long a lookup may wait for remote storage (KIP-1075). Every
//!   lookup here is local and answered at once.
//!
//! A sentinel older than its version is an unknown negative timestamp (INVALID_REQUEST).
//!
//! With isolation_level 1 (read_committed) the last fetchable offset is the last stable
//! offset, as in Kafka's `Partition.fetchOffsetForTimestamp`: latest answers it, and a
//! timestamp lookup (the max-timestamp one included) finding an offset at or past it
//! answers no offset.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        replica_id: i32 = "0+",
        isolation_level: i8 = "2+",
        topics: Vec<ListOffsetsTopic<'a>> = "0+",
        timeout_ms: i32 = "10+",
    }

    pub struct ListOffsetsTopic<'a> {
        name: &'a str = "0+",
        partitions: Vec<ListOffsetsPartition> = "0+",
    }

    pub struct ListOffsetsPartition {
        partition_index: i32 = "0+",
        current_leader_epoch: i32 = "4+" default -1,
        timestamp: i64 = "0+",
    }

    pub struct Response<'a> {
        throttle_time_ms: i32 = "2+",
        topics: Vec<ListOffsetsTopicResponse<'a>> = "0+",
    }

    pub struct ListOffsetsTopicResponse<'a> {
        name: &'a str = "0+",
        partitions: Vec<ListOffsetsPartitionResponse> = "0+",
    }

    pub struct ListOffsetsPartitionResponse {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
        timestamp: i64 = "1+" default -1,
        offset: i64 = "1+" default -1,
        leader_epoch: i32 = "4+" default -1,
    }
}

/// Timestamp query: the offset after the last record.
pub const LATEST_TIMESTAMP: i64 = -1;
/// Timestamp query: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp query (v7+): the record with the largest timestamp.
pub const MAX_TIMESTAMP: i64 = -3;
/// Timestamp query (v8+): the first offset of the local log.
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// Timestamp query (v9+): the last offset in tiered storage.
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// Timestamp query (v11+): the first offset not yet in tiered storage.
pub const EARLIEST_PENDING_UPLOAD_TIMESTAMP: i64 = -6;

pub struct ListOffsets;

impl Api for ListOffsets {
    const SPEC: ApiSpec = ApiSpec::new(2, "ListOffsets", "1-11", "6+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let topics = request
            .topics
            .iter()
            .map(|topic| ListOffsetsTopicResponse {
                name: topic.name,
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| list_offset(ctx, topic.name, p, request.isolation_level))
                    .collect(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

/// One partition's answer: earliest, latest, max timestamp, local start, the tiered
/// sentinels, or the first offset at or after a time.
fn list_offset(
    ctx: &Context,
    topic: &str,
    p: &ListOffsetsPartition,
    isolation_level: i8,
) -> ListOffsetsPartitionResponse {
    let mut answer = ListOffsetsPartitionResponse {
        partition_index: p.partition_index,
        ..ListOffsetsPartitionResponse::default()
    };
    if !ctx.authorize(op::DESCRIBE, resource::TOPIC, topic) {
        answer.error_code = error::TOPIC_AUTHORIZATION_FAILED;
        return answer;
    }
    let Some(partition) = ctx
        .storage
        .topic(topic)
        .and_then(|t| t.partition(p.partition_index))
    else {
        answer.error_code = error::UNKNOWN_TOPIC_OR_PARTITION;
        return answer;
    };
    let log = &partition.log;
    if log.is_offline() {
        answer.error_code = error::KAFKA_STORAGE_ERROR;
        return answer;
    }
    let since = |version| ctx.version >= version;
    // The high watermark (records whose sync is pending are not yet offered), or for
    // read_committed the last stable offset, which never exceeds it.
    let last_fetchable = if isolation_level == 1 {
        partition.last_stable_offset()
    } else {
        partition.high_watermark()
    };
    let fetchable = |found: Option<(i64, i64)>| found.filter(|&(o, _)| o < last_fetchable);
    let found = match p.timestamp {
        EARLIEST_TIMESTAMP => Ok(Some((log.log_start_offset(), -1))),
        EARLIEST_LOCAL_TIMESTAMP if since(8) => Ok(Some((log.log_start_offset(), -1))),
        LATEST_TIMESTAMP => Ok(Some((last_fetchable, -1))),
        MAX_TIMESTAMP => log.max_timestamp().map(fetchable).map_err(|e| {
            log::error!("max timestamp in {}: {e}", log.dir().display());
            error::KAFKA_STORAGE_ERROR
        }),
        // A read that fails (a segment file vanished or cannot be reopened) is Kafka's
        // KafkaStorageException: KAFKA_STORAGE_ERROR above and below.
        // Nothing is tiered: no offset and no epoch.
        LATEST_TIERED_TIMESTAMP if since(9) => return answer,
        EARLIEST_PENDING_UPLOAD_TIMESTAMP if since(11) => return answer,
        t if t < 0 => Err(error::INVALID_REQUEST),
        t => log.offset_for_timestamp(t).map(fetchable).map_err(|e| {
            log::error!("offset lookup in {}: {e}", log.dir().display());
            error::KAFKA_STORAGE_ERROR
        }),
    };
    answer.leader_epoch = partition.leader_epoch;
    match found {
        Ok(Some((offset, timestamp))) => {
            answer.offset = offset;
            answer.timestamp = timestamp;
        }
        Ok(None) => {}
        Err(code) => answer.error_code = code,
    }
    answer
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn response_bytes(response: &Response, version: i16) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, ListOffsets::SPEC.ver(version), &mut out).unwrap();
        out
    }

    /// ListOffsets' LATEST for partition 0 of `topic`.
    pub(crate) fn latest(ctx: &Context, topic: &str) -> i64 {
        list_offset(ctx, topic, &partition(0, -1, LATEST_TIMESTAMP), 0).offset
    }

    fn one_partition(partition: ListOffsetsPartitionResponse) -> Response<'static> {
        Response {
            throttle_time_ms: 0,
            topics: vec![ListOffsetsTopicResponse {
                name: "t",
                partitions: vec![partition],
            }],
        }
    }

    /// (version, timestamp, expected (error_code, offset, leader_epoch)) on a partition
    /// holding offsets 0-2, written at leader epoch 0.
    #[test]
    fn list_offsets_sentinels_by_version() {
        let mut fixture = super::super::fetch::Fixture::three_records("list-offsets");
        let ctx = &mut fixture.ctx(1);
        let invalid = (error::INVALID_REQUEST, -1, 0);
        let cases = [
            (1, LATEST_TIMESTAMP, (0, 3, 0)),
            (1, EARLIEST_TIMESTAMP, (0, 0, 0)),
            (1, 1_000, (0, 0, 0)),
            (7, EARLIEST_LOCAL_TIMESTAMP, invalid),
            (8, EARLIEST_LOCAL_TIMESTAMP, (0, 0, 0)),
            (8, LATEST_TIERED_TIMESTAMP, invalid),
            (9, LATEST_TIERED_TIMESTAMP, (0, -1, -1)),
            (10, EARLIEST_PENDING_UPLOAD_TIMESTAMP, invalid),
            (11, EARLIEST_PENDING_UPLOAD_TIMESTAMP, (0, -1, -1)),
            (11, -7, invalid),
        ];
        for (version, timestamp, expected) in cases {
            ctx.version = version;
            let answer = list_offset(ctx, "t", &partition(0, -1, timestamp), 0);
            let got = (answer.error_code, answer.offset, answer.leader_epoch);
            assert_eq!(got, expected, "v{version} timestamp {timestamp}");
        }
        let p = ListOffsetsPartition::default();
        assert_eq!(
            list_offset(ctx, "u", &p, 0).error_code,
            error::UNKNOWN_TOPIC_OR_PARTITION
        );
    }

    fn partition(partition_index: i32, epoch: i32, timestamp: i64) -> ListOffsetsPartition {
        ListOffsetsPartition {
            partition_index,
            current_leader_epoch: epoch,
            timestamp,
        }
    }

    #[test]
    fn list_offsets_v1_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1 (no isolation_level in v1)
            0, 0, 0, 1, 0, 1, b't', // topics: 1, name "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partitions: 1, partition_index 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2 (earliest)
        ];
        let request: Request = decode(&body, ListOffsets::SPEC.ver(1)).unwrap();
        assert_eq!((request.replica_id, request.topics[0].name), (-1, "t"));
        let expected = partition(0, -1, EARLIEST_TIMESTAMP);
        assert_eq!(request.topics[0].partitions, [expected]);
    }

    #[test]
    fn list_offsets_v7_and_v10_request_bytes() {
        let v7 = [
            0xff, 0xff, 0xff, 0xff, 1, // replica_id -1, isolation_level READ_COMMITTED
            2, 2, b't', 2, // topics: 1 (compact), name "t", partitions: 1
            0, 0, 0, 3, 0, 0, 0, 7, // partition_index 3, current_leader_epoch 7
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, // timestamp -3 (max timestamp)
            0, 0, // partition and topic tags
        ];
        let body = [&v7[..], &[0]].concat(); // body tags
        let request: Request = decode(&body, ListOffsets::SPEC.ver(7)).unwrap();
        assert_eq!((request.isolation_level, request.timeout_ms), (1, 0));
        assert_eq!(
            request.topics[0].partitions,
            [partition(3, 7, MAX_TIMESTAMP)]
        );
        // v10: timeout_ms 30000 before the body's tags.
        let body = [&v7[..], &[0, 0, 0x75, 0x30, 0]].concat();
        let request: Request = decode(&body, ListOffsets::SPEC.ver(10)).unwrap();
        assert_eq!(request.timeout_ms, 30_000);
        assert_eq!(
            request.topics[0].partitions,
            [partition(3, 7, MAX_TIMESTAMP)]
        );
    }

    #[test]
    fn list_offsets_v1_and_v2_response_bytes() {
        let response = one_partition(ListOffsetsPartitionResponse {
            offset: 12,
            ..ListOffsetsPartitionResponse::default()
        });
        let v1 = [
            0, 0, 0, 1, 0, 1, b't', // topics: 1 (no throttle_time_ms in v1), name "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partitions: 1, partition_index 0, error_code 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp -1
            0, 0, 0, 0, 0, 0, 0, 12, // offset 12
        ];
        assert_eq!(response_bytes(&response, 1), v1);
        let v2 = [&[0, 0, 0, 0][..], &v1].concat(); // throttle_time_ms 0 first
        assert_eq!(response_bytes(&response, 2), v2);
    }

    #[test]
    fn list_offsets_v7_to_v11_response_bytes() {
        let response = one_partition(ListOffsetsPartitionResponse {
            partition_index: 1,
            error_code: 0,
            timestamp: 1_000,
            offset: 5,
            leader_epoch: 0,
        });
        let expected = [
            0, 0, 0, 0, 2, 2, b't', // throttle_time_ms 0, topics: 1 (compact), name "t"
            2, 0, 0, 0, 1, 0, 0, // partitions: 1, partition_index 1, error_code 0
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // timestamp 1000
            0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, // offset 5, leader_epoch 0
            0, 0, 0, // partition, topic and body tags
        ];
        for version in 7..=11 {
            assert_eq!(response_bytes(&response, version), expected, "v{version}");
        }
    }
}
