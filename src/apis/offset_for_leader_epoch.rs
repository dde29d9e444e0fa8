//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, which consumers ask for
//! to validate their position after a leader change. We serve versions 2-4, flexible from v4.
//! Versions 0-1 went in Kafka 4.0; v2 already has the response's leader_epoch and
//! throttle_time_ms and the request's current_leader_epoch (for fencing).
//! - v3: the request's replica_id (-1 for consumers; -2, the default, a debug consumer).
//! - v4: first flexible version.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

/// `replica_id` of a consumer.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// `replica_id` before v3, and its default: a debug consumer, allowed past the high watermark.
pub const DEBUG_REPLICA_ID: i32 = -2;

message! {
    pub struct Request<'a> {
        replica_id: i32 = "3+" default DEBUG_REPLICA_ID,
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        topic: &'a str = "0+",
        partitions: Vec<RequestPartition> = "0+",
    }

    pub struct RequestPartition {
        partition: i32 = "0+",
        /// The epoch the client believes current, for fencing; -1 to skip the check.
        current_leader_epoch: i32 = "2+" default -1,
        /// The epoch whose end offset is asked for.
        leader_epoch: i32 = "0+",
    }

    pub struct Response<'a> {
        throttle_time_ms: i32 = "2+",
        topics: Vec<ResponseTopic<'a>> = "0+",
    }

    pub struct ResponseTopic<'a> {
        topic: &'a str = "0+",
        partitions: Vec<EpochEndOffset> = "0+",
    }

    pub struct EpochEndOffset {
        error_code: i16 = "0+",
        partition: i32 = "0+",
        /// The largest epoch at or below the requested one; -1 when unknown.
        leader_epoch: i32 = "1+" default -1,
        /// The first offset after that epoch; -1 when unknown.
        end_offset: i64 = "0+" default -1,
    }
}

pub struct OffsetForLeaderEpoch;

impl Api for OffsetForLeaderEpoch {
    const SPEC: ApiSpec = ApiSpec::new(23, "OffsetForLeaderEpoch", "2-4", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    /// Every partition here has had one leader epoch, so the end offset of the current
    /// epoch is the log end; a later epoch than ours is unknown.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let topics = request.topics.iter().map(|topic| ResponseTopic {
            topic: topic.topic,
            partitions: topic
                .partitions
                .iter()
                .map(|p| end_offset(ctx, topic.topic, p))
                .collect(),
        });
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics: topics.collect(),
        })
    }
}

fn end_offset(ctx: &Context, topic: &str, p: &RequestPartition) -> EpochEndOffset {
    let mut out = EpochEndOffset {
        partition: p.partition,
        ..EpochEndOffset::default()
    };
    if !ctx.authorize(op::DESCRIBE, resource::TOPIC, topic) {
        out.error_code = error::TOPIC_AUTHORIZATION_FAILED;
        return out;
    }
    match ctx
        .storage
        .topic(topic)
        .and_then(|t| t.partition(p.partition))
    {
        None => out.error_code = error::UNKNOWN_TOPIC_OR_PARTITION,
        Some(part) if p.leader_epoch > part.leader_epoch => {}
        Some(part) => {
            out.leader_epoch = part.leader_epoch;
            out.end_offset = part.log.next_offset();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    /// A request for one partition of topic "t".
    fn one_partition(
        replica_id: i32,
        partition: i32,
        current: i32,
        epoch: i32,
    ) -> Request<'static> {
        let partitions = vec![RequestPartition {
            partition,
            current_leader_epoch: current,
            leader_epoch: epoch,
        }];
        let topics = vec![RequestTopic {
            topic: "t",
            partitions,
        }];
        Request { replica_id, topics }
    }

    #[test]
    fn offset_for_leader_epoch_v2_request_bytes() {
        let body = [
            0, 0, 0, 1, // topics: 1 (no replica_id in v2)
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 2, // partition 2
            0xff, 0xff, 0xff, 0xff, // current_leader_epoch -1
            0, 0, 0, 5, // leader_epoch 5
        ];
        let request: Request = decode(&body, OffsetForLeaderEpoch::SPEC.ver(2)).unwrap();
        assert_eq!(request, one_partition(DEBUG_REPLICA_ID, 2, -1, 5));
    }

    #[test]
    fn offset_for_leader_epoch_v4_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1 (consumer)
            0x02, // topics: compact count 1
            0x02, b't', // topic "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // current_leader_epoch 6
            0, 0, 0, 6,    // leader_epoch 6
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        let request: Request = decode(&body, OffsetForLeaderEpoch::SPEC.ver(4)).unwrap();
        assert_eq!(request, one_partition(CONSUMER_REPLICA_ID, 0, 6, 6));
    }

    fn one_partition_response(version: i16) -> Vec<u8> {
        let response = Response {
            throttle_time_ms: 0,
            topics: vec![ResponseTopic {
                topic: "t",
                partitions: vec![EpochEndOffset {
                    error_code: 0,
                    partition: 0,
                    leader_epoch: 6,
                    end_offset: 42,
                }],
            }],
        };
        let mut out = Vec::new();
        encode(&response, OffsetForLeaderEpoch::SPEC.ver(version), &mut out).unwrap();
        out
    }

    #[test]
    fn offset_for_leader_epoch_v2_response_bytes() {
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, // error_code 0
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // leader_epoch 6
            0, 0, 0, 0, 0, 0, 0, 42, // end_offset 42
        ];
        assert_eq!(one_partition_response(2), expected);
    }

    #[test]
    fn offset_for_leader_epoch_v4_response_bytes() {
        let expected = [
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // topics: compact count 1
            0x02, b't', // topic "t"
            0x02, // partitions: compact count 1
            0, 0, // error_code 0
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // leader_epoch 6
            0, 0, 0, 0, 0, 0, 0, 42,   // end_offset 42
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        assert_eq!(one_partition_response(4), expected);
    }
}
