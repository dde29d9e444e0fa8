//! DescribeProducers (key 61), version 0 only (flexible): the active idempotent producers of
//! some partitions, each with its epoch, last sequence and last timestamp, from the producer
//! state the log keeps for deduplication (`storage::producers`).
//!
//! As Kafka: per partition, INVALID_TOPIC_EXCEPTION (with Kafka's message) for a topic name
//! that cannot exist, UNKNOWN_TOPIC_OR_PARTITION with its message for an unknown topic, and
//! without one for an unknown partition of a known topic. A producer's coordinator epoch is
//! that of its last transaction marker (-1 if none) and its current transaction start
//! offset the first offset of its ongoing transaction on the partition (-1 if none).

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

/// Kafka's message for UNKNOWN_TOPIC_OR_PARTITION.
pub const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";

message! {
    pub struct Request<'a> {
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0+",
        partition_indexes: Vec<i32> = "0+",
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
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        active_producers: Vec<ProducerState> = "0+",
    }

    pub struct ProducerState {
        producer_id: i64 = "0+",
        producer_epoch: i32 = "0+",
        last_sequence: i32 = "0+" default -1,
        last_timestamp: i64 = "0+" default -1,
        coordinator_epoch: i32 = "0+",
        current_txn_start_offset: i64 = "0+" default -1,
    }
}

pub struct DescribeProducers;

impl Api for DescribeProducers {
    const SPEC: ApiSpec = ApiSpec::new(61, "DescribeProducers", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let topics = request
            .topics
            .iter()
            .map(|topic| ResponseTopic {
                name: topic.name.to_string(),
                partitions: topic
                    .partition_indexes
                    .iter()
                    .map(|&index| describe(ctx, topic.name, index))
                    .collect(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

fn describe(ctx: &Context, topic: &str, partition_index: i32) -> ResponsePartition {
    let refuse = |error_code, error_message: Option<String>| ResponsePartition {
        partition_index,
        error_code,
        error_message,
        active_producers: Vec::new(),
    };
    if !ctx.authorize(op::READ, resource::TOPIC, topic) {
        return refuse(error::TOPIC_AUTHORIZATION_FAILED, None);
    }
    if let Err(reason) = invalid_topic_reason(topic) {
        let message = format!("Topic name is invalid: {reason}");
        return refuse(error::INVALID_TOPIC_EXCEPTION, Some(message));
    }
    let Some(stored) = ctx.storage.topic(topic) else {
        let message = UNKNOWN_TOPIC_MESSAGE.to_string();
        return refuse(error::UNKNOWN_TOPIC_OR_PARTITION, Some(message));
    };
    let Some(partition) = stored.partition(partition_index) else {
        return refuse(error::UNKNOWN_TOPIC_OR_PARTITION, None);
    };
    let mut active_producers: Vec<ProducerState> = partition
        .producers
        .iter()
        .map(|(&producer_id, state)| ProducerState {
            producer_id,
            producer_epoch: i32::from(state.epoch()),
            last_sequence: state.last_sequence(),
            last_timestamp: state.last_timestamp(),
            coordinator_epoch: state.coordinator_epoch(),
            current_txn_start_offset: state.current_txn_first_offset().unwrap_or(-1),
        })
        .collect();
    active_producers.sort_by_key(|p| p.producer_id);
    ResponsePartition {
        partition_index,
        error_code: error::NONE,
        error_message: None,
        active_producers,
    }
}

/// Why Kafka's `Topic.validate` refuses a name, in its words.
fn invalid_topic_reason(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the empty string is not allowed".into());
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not allowed"));
    }
    // Java counts UTF-16 units; a name of ASCII characters (the only legal ones) has as many.
    if name.encode_utf16().count() > 249 {
        return Err(format!(
            "the length of '{name}' is longer than the max allowed length 249"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn describe_producers_v0_bytes() {
        assert_wire::<DescribeProducers, _>(
            0,
            &[
                2, 2, b't', // topics: ["t"
                3, 0, 0, 0, 0, 0, 0, 0, 9, 0, // partition_indexes: [0, 9]]
                0,
            ],
            &Request {
                topics: vec![RequestTopic {
                    name: "t",
                    partition_indexes: vec![0, 9],
                }],
            },
        );
        assert_wire::<DescribeProducers, _>(
            0,
            &[
                0, 0, 0, 0, // throttle_time_ms
                2, 2, b't', // topics: ["t"
                3, 0, 0, 0, 0, 0, 0, // partitions: [index 0, no error,
                0, // error_message null
                2, 0, 0, 0, 0, 0, 0, 3, 0xe8, // active_producers: [id 1000,
                0, 0, 0, 2, 0, 0, 0, 4, // epoch 2, last sequence 4
                0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // last timestamp 1700000000000
                0xff, 0xff, 0xff, 0xff, // coordinator epoch -1
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, // no transaction]
                0, 0, 0, 9, 0, 3, // [index 9, UNKNOWN_TOPIC_OR_PARTITION,
                0, 1, 0, 0, 0, // message null, no producers]]
            ],
            &Response {
                throttle_time_ms: 0,
                topics: vec![ResponseTopic {
                    name: "t".into(),
                    partitions: vec![
                        ResponsePartition {
                            partition_index: 0,
                            error_code: error::NONE,
                            error_message: None,
                            active_producers: vec![ProducerState {
                                producer_id: 1000,
                                producer_epoch: 2,
                                last_sequence: 4,
                                last_timestamp: 1_700_000_000_000,
                                coordinator_epoch: -1,
                                current_txn_start_offset: -1,
                            }],
                        },
                        ResponsePartition {
                            partition_index: 9,
                            error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                            error_message: None,
                            active_producers: vec![],
                        },
                    ],
                }],
            },
        );
    }

    #[test]
    fn topic_names_are_judged_in_kafkas_words() {
        assert!(invalid_topic_reason("a.b_c-9").is_ok());
        assert_eq!(
            invalid_topic_reason("").unwrap_err(),
            "the empty string is not allowed"
        );
        assert_eq!(
            invalid_topic_reason("..").unwrap_err(),
            "'..' is not allowed"
        );
        assert_eq!(
            invalid_topic_reason("a b").unwrap_err(),
            "'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        );
        assert!(invalid_topic_reason(&"x".repeat(250)).is_err());
        assert!(invalid_topic_reason(&"x".repeat(249)).is_ok());
    }
}
