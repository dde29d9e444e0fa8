//! OffsetCommit (key 8): a consumer stores its positions in `__consumer_offsets`; they are
//! acknowledged after the turn's fsync. Versions 0-1 were removed in Kafka 4.0, so v2 is
//! the baseline: it has the generation id, member id and retention_time_ms.
//! - v3: the response's throttle_time_ms. v4: no change on the wire.
//! - v5: retention_time_ms is gone (a broker setting now).
//! - v6: committed_leader_epoch per partition, for fencing.
//! - v7: group_instance_id (static membership).
//! - v8: first flexible version.
//! - v9: no change on the wire; usable with the KIP-848 consumer protocol, where the
//!   generation id field carries the member epoch. Our groups are classic: it is the
//!   generation id.
//! - v10 (KIP-848): topics are named by topic id instead of name, in the request and the
//!   response; an id we do not know gets UNKNOWN_TOPIC_ID on each of its partitions.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::offsets::Committed;

/// The first version that names topics by id.
const FIRST_TOPIC_ID_VERSION: i16 = 10;
/// Largest committed metadata string (Kafka's `offset.metadata.max.bytes`).
const METADATA_BYTES_MAX: usize = 4096;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        /// The generation (classic protocol) or member epoch (consumer protocol); -1 for a
        /// commit from outside the group.
        generation_id_or_member_epoch: i32 = "1+" default -1,
        member_id: &'a str = "1+",
        group_instance_id: Option<&'a str> = "7+" null "7+",
        retention_time_ms: i64 = "2-4" default -1,
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0-9",
        topic_id: [u8; 16] = "10+",
        partitions: Vec<RequestPartition<'a>> = "0+",
    }

    pub struct RequestPartition<'a> {
        partition_index: i32 = "0+",
        committed_offset: i64 = "0+",
        committed_leader_epoch: i32 = "6+" default -1,
        committed_metadata: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "3+",
        topics: Vec<ResponseTopic> = "0+",
    }

    pub struct ResponseTopic {
        name: String = "0-9",
        topic_id: [u8; 16] = "10+",
        partitions: Vec<ResponsePartition> = "0+",
    }

    pub struct ResponsePartition {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
    }
}

pub struct OffsetCommit;

impl Api for OffsetCommit {
    const SPEC: ApiSpec = ApiSpec::new(8, "OffsetCommit", "2-10", "8+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        // A consumer group (KIP-848) checks the member id and epoch its own way.
        let consumer = ctx.coordinator.consumer.check_commit(
            request.group_id,
            request.member_id,
            request.generation_id_or_member_epoch,
            ctx.version,
            ctx.now,
        );
        let unknown_group = ctx.coordinator.group(request.group_id).is_none()
            && ctx.storage.committed(request.group_id).is_none();
        let group_error = if !ctx.authorize(op::READ, resource::GROUP, request.group_id) {
            error::GROUP_AUTHORIZATION_FAILED
        } else if request.group_id.is_empty() {
            error::INVALID_GROUP_ID
        } else if let Some(code) = consumer {
            code
        } else if unknown_group && request.generation_id_or_member_epoch >= 0 {
            // A member's commit to a group that does not exist, as Kafka answers it.
            if ctx.version >= 9 {
                error::GROUP_ID_NOT_FOUND
            } else {
                error::ILLEGAL_GENERATION
            }
        } else {
            ctx.coordinator.check_commit(
                request.group_id,
                request.member_id,
                request.group_instance_id,
                request.generation_id_or_member_epoch,
                ctx.now,
            )
        };
        let by_id = ctx.version >= FIRST_TOPIC_ID_VERSION;
        let now = crate::storage::now_ms();
        let mut commits = Vec::new();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let stored = if by_id {
                ctx.storage.topic_by_id(&topic.topic_id)
            } else {
                ctx.storage.topic(topic.name)
            };
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let metadata = p.committed_metadata.unwrap_or("");
                let error_code = match stored {
                    _ if group_error != error::NONE => group_error,
                    None if by_id => error::UNKNOWN_TOPIC_ID,
                    _ if !may_read(ctx, stored.map_or(topic.name, |t| t.name.as_str())) => {
                        error::TOPIC_AUTHORIZATION_FAILED
                    }
                    Some(t) if t.partition(p.partition_index).is_some() => {
                        if metadata.len() > METADATA_BYTES_MAX {
                            OFFSET_METADATA_TOO_LARGE
                        } else {
                            let committed = Committed {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: metadata.to_string(),
                                commit_timestamp: now,
                            };
                            commits.push((t.name.clone(), p.partition_index, committed));
                            error::NONE
                        }
                    }
                    _ => error::UNKNOWN_TOPIC_OR_PARTITION,
                };
                partitions.push(ResponsePartition {
                    partition_index: p.partition_index,
                    error_code,
                });
            }
            topics.push(ResponseTopic {
                name: topic.name.to_string(),
                topic_id: topic.topic_id,
                partitions,
            });
        }
        if let Err(e) = ctx.storage.commit_offsets(request.group_id, commits) {
            log::error!("committing offsets of group {}: {e:?}", request.group_id);
            for partition in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if partition.error_code == error::NONE {
                    partition.error_code = error::UNKNOWN_SERVER_ERROR;
                }
            }
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

/// A commit needs READ on its topic.
fn may_read(ctx: &Context, topic: &str) -> bool {
    ctx.authorize(op::READ, resource::TOPIC, topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::Wire;

    /// `bytes` decode to `value` at `version`, and `value` encodes to `bytes`.
    fn both_ways<'a, T: Wire<'a> + PartialEq + std::fmt::Debug>(
        version: i16,
        bytes: &'a [u8],
        value: &T,
    ) {
        crate::apis::assert_wire::<OffsetCommit, T>(version, bytes, value);
    }

    fn request(topic: RequestTopic<'static>) -> Request<'static> {
        Request {
            group_id: "g",
            generation_id_or_member_epoch: 4,
            member_id: "m",
            topics: vec![topic],
            ..Request::default()
        }
    }

    const PARTITION: RequestPartition = RequestPartition {
        partition_index: 1,
        committed_offset: 256,
        committed_leader_epoch: 3,
        committed_metadata: Some(""),
    };

    #[test]
    fn offset_commit_v2_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0xff, 0xff, 0xff, 0xff, // generation_id_or_member_epoch -1
            0, 0, // member_id ""
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // retention_time_ms -1
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 5, // committed_offset 5 (no leader epoch before v6)
            0xff, 0xff, // committed_metadata null
        ];
        let partition = RequestPartition {
            partition_index: 0,
            committed_offset: 5,
            committed_leader_epoch: -1,
            committed_metadata: None,
        };
        let topic = RequestTopic {
            name: "t",
            partitions: vec![partition],
            ..RequestTopic::default()
        };
        let expected = Request {
            group_id: "g",
            topics: vec![topic],
            ..Request::default()
        };
        both_ways(2, &body, &expected);
    }

    #[test]
    fn offset_commit_v9_and_v10_request_bytes() {
        let mut body = vec![
            0x02, b'g', // group_id "g" (compact)
            0, 0, 0, 4, // generation_id_or_member_epoch 4
            0x02, b'm', // member_id "m"
            0x00, // group_instance_id null (no retention_time_ms after v4)
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 1, // partition_index 1
            0, 0, 0, 0, 0, 0, 0x01, 0x00, // committed_offset 256
            0, 0, 0, 3,    // committed_leader_epoch 3
            0x01, // committed_metadata ""
            0x00, 0x00, 0x00, // partition, topic and request tags
        ];
        let topic = RequestTopic {
            name: "t",
            partitions: vec![PARTITION],
            ..RequestTopic::default()
        };
        both_ways(9, &body, &request(topic));
        // v10: the topic's 16-byte id replaces its name.
        body.splice(10..12, [0xab; 16]);
        let topic = RequestTopic {
            topic_id: [0xab; 16],
            partitions: vec![PARTITION],
            ..RequestTopic::default()
        };
        both_ways(10, &body, &request(topic));
    }

    #[test]
    fn offset_commit_v2_v8_and_v10_response_bytes() {
        let response = |name: &str, topic_id| Response {
            throttle_time_ms: 0,
            topics: vec![ResponseTopic {
                name: name.into(),
                topic_id,
                partitions: vec![ResponsePartition {
                    partition_index: 0,
                    error_code: 100,
                }],
            }],
        };
        let v2 = [
            0, 0, 0, 1, // topics: 1 (no throttle_time_ms before v3)
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 100, // error_code 100
        ];
        both_ways(2, &v2, &response("t", [0; 16]));
        let mut v8 = vec![
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition_index 0
            0, 100, // error_code 100
            0x00, 0x00, 0x00, // partition, topic and response tags
        ];
        both_ways(8, &v8, &response("t", [0; 16]));
        v8.splice(5..7, [0xab; 16]);
        both_ways(10, &v8, &response("", [0xab; 16]));
    }
}
