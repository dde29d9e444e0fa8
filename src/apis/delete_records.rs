//! DeleteRecords (key 21), versions 0-2, flexible from v2: moves partitions' log start
//! offsets forward (`Storage::delete_records`), deleting the segments wholly below, and
//! answers each partition's low watermark.
//! - v0: the first version.
//! - v1: as v0 (on a quota violation the response is sent before throttling).
//! - v2: first flexible version.
//!
//! As Kafka: per partition, UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist,
//! INVALID_TOPIC_EXCEPTION for an internal topic, POLICY_VIOLATION for a topic whose
//! `cleanup.policy` is `compact` alone, OFFSET_OUT_OF_RANGE for an offset below -1 or past
//! the high watermark (-1 means the high watermark); an error answers low watermark -1.
//! With one replica the deletion is complete when it is answered, so `timeout_ms` never
//! expires; the moved start is in `log-start-offset-checkpoint` before the answer.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::log_start::DeleteRecordsError;

message! {
    pub struct Request<'a> {
        topics: Vec<RequestTopic<'a>> = "0+",
        timeout_ms: i32 = "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0+",
        partitions: Vec<RequestPartition> = "0+",
    }

    pub struct RequestPartition {
        partition_index: i32 = "0+",
        offset: i64 = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        topics: Vec<ResponseTopic> = "0+",
    }

    pub struct ResponseTopic {
        name: String = "0+",
        partitions: Vec<ResponsePartition> = "0+",
    }

    pub struct ResponsePartition {
        partition_index: i32 = "0+",
        low_watermark: i64 = "0+",
        error_code: i16 = "0+",
    }
}

pub struct DeleteRecords;

impl Api for DeleteRecords {
    const SPEC: ApiSpec = ApiSpec::new(21, "DeleteRecords", "0-2", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let topics = request
            .topics
            .iter()
            .map(|topic| ResponseTopic {
                name: topic.name.to_string(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| delete(ctx, topic.name, p))
                    .collect(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

fn delete(ctx: &mut Context, topic: &str, p: &RequestPartition) -> ResponsePartition {
    if !ctx.authorize(op::DELETE, resource::TOPIC, topic) {
        return ResponsePartition {
            partition_index: p.partition_index,
            low_watermark: -1,
            error_code: error::TOPIC_AUTHORIZATION_FAILED,
        };
    }
    let result = ctx
        .storage
        .delete_records(topic, p.partition_index, p.offset);
    let (low_watermark, error_code) = match result {
        Ok(low_watermark) => (low_watermark, error::NONE),
        Err(e) => {
            let code = match e {
                DeleteRecordsError::UnknownTopicOrPartition => error::UNKNOWN_TOPIC_OR_PARTITION,
                DeleteRecordsError::InvalidTopic(message) => {
                    log::debug!("DeleteRecords: {message}");
                    error::INVALID_TOPIC_EXCEPTION
                }
                DeleteRecordsError::PolicyViolation(message) => {
                    log::debug!("DeleteRecords: {message}");
                    error::POLICY_VIOLATION
                }
                DeleteRecordsError::OffsetOutOfRange(message) => {
                    log::debug!("DeleteRecords: {message}");
                    error::OFFSET_OUT_OF_RANGE
                }
                DeleteRecordsError::Io(e) => {
                    log::error!("DeleteRecords of {topic}-{}: {e}", p.partition_index);
                    error::KAFKA_STORAGE_ERROR
                }
            };
            (-1, code)
        }
    };
    ResponsePartition {
        partition_index: p.partition_index,
        low_watermark,
        error_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_records_v1_bytes() {
        crate::apis::assert_wire::<DeleteRecords, _>(
            1,
            &[
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 1, 0, 0, 0, 2, // partitions: [2,
                0, 0, 0, 0, 0, 0, 0, 9, // offset 9]]
                0, 0, 0x75, 0x30, // timeout_ms 30000
            ],
            &Request {
                topics: vec![RequestTopic {
                    name: "t",
                    partitions: vec![RequestPartition {
                        partition_index: 2,
                        offset: 9,
                    }],
                }],
                timeout_ms: 30_000,
            },
        );
        crate::apis::assert_wire::<DeleteRecords, _>(
            1,
            &[
                0, 0, 0, 0, // throttle_time_ms
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 1, 0, 0, 0, 2, // partitions: [2,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // low_watermark -1
                0, 1, // OFFSET_OUT_OF_RANGE]]
            ],
            &Response {
                throttle_time_ms: 0,
                topics: vec![ResponseTopic {
                    name: "t".into(),
                    partitions: vec![ResponsePartition {
                        partition_index: 2,
                        low_watermark: -1,
                        error_code: error::OFFSET_OUT_OF_RANGE,
                    }],
                }],
            },
        );
    }

    #[test]
    fn delete_records_v2_bytes() {
        crate::apis::assert_wire::<DeleteRecords, _>(
            2,
            &[
                2, 2, b't', // topics: ["t" (compact)
                2, 0, 0, 0, 0, // partitions: [0,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // offset -1
                0, 0, // partition and topic tags]]
                0, 0, 0x03, 0xe8, // timeout_ms 1000
                0,    // tags
            ],
            &Request {
                topics: vec![RequestTopic {
                    name: "t",
                    partitions: vec![RequestPartition {
                        partition_index: 0,
                        offset: -1,
                    }],
                }],
                timeout_ms: 1000,
            },
        );
        crate::apis::assert_wire::<DeleteRecords, _>(
            2,
            &[
                0, 0, 0, 0, // throttle_time_ms
                2, 2, b't', // topics: ["t"
                2, 0, 0, 0, 0, // partitions: [0,
                0, 0, 0, 0, 0, 0, 0, 5, // low_watermark 5
                0, 0, // NONE
                0, 0, // partition and topic tags]]
                0, // tags
            ],
            &Response {
                throttle_time_ms: 0,
                topics: vec![ResponseTopic {
                    name: "t".into(),
                    partitions: vec![ResponsePartition {
                        partition_index: 0,
                        low_watermark: 5,
                        error_code: error::NONE,
                    }],
                }],
            },
        );
    }
}
