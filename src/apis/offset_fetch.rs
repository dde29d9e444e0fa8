//! OffsetFetch (key 9): a group's committed offsets (-1 and "" where nothing is committed).
//! Version 0 (offsets in ZooKeeper) was removed in Kafka 4.0, so v1 is the baseline.
//! - v2: a null topic array asks for every committed topic; the response gains a
//!   top-level error_code. v3: the response's throttle_time_ms. v4: no change on the wire.
//! - v5: the response's committed_leader_epoch per partition.
//! - v6: first flexible version.
//! - v7: the request's require_stable: a partition with transactional offsets not yet
//!   committed or aborted answers UNSTABLE_OFFSET_COMMIT (88) and offset -1, as Kafka.
//! - v8: batching: the request and the response carry an array of groups, each with its
//!   own topics (null = all) and error code, instead of one group's fields at top level.
//! - v9: each group's member_id and member_epoch, checked only for KIP-848 consumer
//!   groups; ours are classic.
//! - v10 (KIP-848): topics are named by topic id instead of name. A requested id we do not
//!   know gets UNKNOWN_TOPIC_ID on each partition; asking for all topics leaves out
//!   committed topics that no longer exist (they have no id).
//!
//! A topic or partition is the same on the wire before and after v8, so one struct serves
//! both of Kafka's (the v8+ one has the v5+ leader epoch from the start).

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::offsets::Committed;

/// The first version that batches groups.
const FIRST_GROUPS_VERSION: i16 = 8;
/// The first version that names topics by id.
const FIRST_TOPIC_ID_VERSION: i16 = 10;
/// A transaction's offsets for the partition are neither committed nor aborted yet.
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0-7",
        topics: Option<Vec<RequestTopic<'a>>> = "0-7" null "2-7",
        groups: Vec<RequestGroup<'a>> = "8+",
        require_stable: bool = "7+",
    }

    pub struct RequestGroup<'a> {
        group_id: &'a str = "8+",
        member_id: Option<&'a str> = "9+" null "9+",
        member_epoch: i32 = "9+" default -1,
        topics: Option<Vec<RequestTopic<'a>>> = "8+" null "8+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0-9",
        topic_id: [u8; 16] = "10+",
        partition_indexes: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "3+",
        topics: Vec<ResponseTopic> = "0-7",
        error_code: i16 = "2-7",
        groups: Vec<ResponseGroup> = "8+",
    }

    pub struct ResponseGroup {
        group_id: String = "8+",
        topics: Vec<ResponseTopic> = "8+",
        error_code: i16 = "8+",
    }

    pub struct ResponseTopic {
        name: String = "0-9",
        topic_id: [u8; 16] = "10+",
        partitions: Vec<ResponsePartition> = "0+",
    }

    pub struct ResponsePartition {
        partition_index: i32 = "0+",
        committed_offset: i64 = "0+",
        committed_leader_epoch: i32 = "5+" default -1,
        metadata: Option<String> = "0+" null "0+",
        error_code: i16 = "0+",
    }
}

pub struct OffsetFetch;

impl Api for OffsetFetch {
    const SPEC: ApiSpec = ApiSpec::new(9, "OffsetFetch", "1-10", "6+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let by_id = ctx.version >= FIRST_TOPIC_ID_VERSION;
        if ctx.version < FIRST_GROUPS_VERSION {
            if !ctx.authorize(op::DESCRIBE, resource::GROUP, request.group_id) {
                // Kafka's error response: the code at the top and on each partition asked.
                let code = error::GROUP_AUTHORIZATION_FAILED;
                let topics = request.topics.iter().flatten().map(|t| ResponseTopic {
                    name: t.name.to_string(),
                    topic_id: t.topic_id,
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&p| answer(p, None, code))
                        .collect(),
                });
                return Answer::Respond(Response {
                    topics: topics.collect(),
                    error_code: code,
                    ..Response::default()
                });
            }
            let topics = fetch(
                ctx,
                request.group_id,
                request.topics.as_deref(),
                by_id,
                request.require_stable,
            );
            return Answer::Respond(Response {
                topics,
                ..Response::default()
            });
        }
        let groups = request
            .groups
            .iter()
            .map(|group| {
                // A consumer group (KIP-848) answers only its members at their epoch.
                let refused = if !ctx.authorize(op::DESCRIBE, resource::GROUP, group.group_id) {
                    Some(error::GROUP_AUTHORIZATION_FAILED)
                } else {
                    ctx.coordinator
                        .consumer
                        .check_fetch(group.group_id, group.member_id, group.member_epoch)
                        .filter(|code| *code != error::NONE)
                };
                match refused {
                    Some(error_code) => ResponseGroup {
                        group_id: group.group_id.to_string(),
                        topics: Vec::new(),
                        error_code,
                    },
                    None => ResponseGroup {
                        group_id: group.group_id.to_string(),
                        topics: fetch(
                            ctx,
                            group.group_id,
                            group.topics.as_deref(),
                            by_id,
                            request.require_stable,
                        ),
                        error_code: error::NONE,
                    },
                }
            })
            .collect();
        Answer::Respond(Response {
            groups,
            ..Response::default()
        })
    }
}

/// One group's offsets of `wanted` topics, or of every topic it committed to (`None`).
fn fetch(
    ctx: &Context,
    group_id: &str,
    wanted: Option<&[RequestTopic]>,
    by_id: bool,
    require_stable: bool,
) -> Vec<ResponseTopic> {
    let committed = ctx.storage.committed(group_id);
    let describable = |topic: &str| ctx.authorize(op::DESCRIBE, resource::TOPIC, topic);
    let lookup = |topic: &str, partition: i32| {
        if !describable(topic) {
            return answer(partition, None, error::TOPIC_AUTHORIZATION_FAILED);
        }
        if require_stable
            && ctx
                .storage
                .has_pending_txn_offsets(group_id, topic, partition)
        {
            return answer(partition, None, UNSTABLE_OFFSET_COMMIT);
        }
        let found = committed.and_then(|c| c.get(&(topic.to_string(), partition)));
        answer(partition, found, error::NONE)
    };
    let Some(wanted) = wanted else {
        // Every committed partition of the group, grouped by topic.
        let mut by_topic: BTreeMap<&str, Vec<ResponsePartition>> = BTreeMap::new();
        for (topic, partition) in committed.into_iter().flat_map(|c| c.keys()) {
            let found = lookup(topic, *partition);
            by_topic.entry(topic.as_str()).or_default().push(found);
        }
        let topic_id = |name: &str| ctx.storage.topic(name).map(|t| t.id);
        return by_topic
            .into_iter()
            .filter(|(name, _)| describable(name))
            .filter_map(|(name, partitions)| {
                let topic_id = if by_id { topic_id(name)? } else { [0; 16] };
                let name = name.to_string();
                Some(ResponseTopic {
                    name,
                    topic_id,
                    partitions,
                })
            })
            .collect();
    };
    let topic = |t: &RequestTopic, partitions| ResponseTopic {
        name: t.name.to_string(),
        topic_id: t.topic_id,
        partitions,
    };
    wanted
        .iter()
        .map(|t| {
            let indexes = t.partition_indexes.iter();
            if !by_id {
                return topic(t, indexes.map(|&p| lookup(t.name, p)).collect());
            }
            let partitions = match ctx.storage.topic_by_id(&t.topic_id) {
                Some(stored) => indexes.map(|&p| lookup(&stored.name, p)).collect(),
                None => indexes
                    .map(|&p| answer(p, None, error::UNKNOWN_TOPIC_ID))
                    .collect(),
            };
            topic(t, partitions)
        })
        .collect()
}

fn answer(partition_index: i32, found: Option<&Committed>, error_code: i16) -> ResponsePartition {
    ResponsePartition {
        partition_index,
        committed_offset: found.map_or(-1, |c| c.offset),
        committed_leader_epoch: found.map_or(-1, |c| c.leader_epoch),
        metadata: Some(found.map_or(String::new(), |c| c.metadata.clone())),
        error_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode, encode};

    /// `bytes` decode to `value` at `version`, and `value` encodes to `bytes`.
    fn both_ways<'a, T: Wire<'a> + PartialEq + std::fmt::Debug>(
        version: i16,
        bytes: &'a [u8],
        value: &T,
    ) {
        crate::apis::assert_wire::<OffsetFetch, T>(version, bytes, value);
    }

    fn topic(name: &str, topic_id: [u8; 16], partition_indexes: Vec<i32>) -> RequestTopic<'_> {
        RequestTopic {
            name,
            topic_id,
            partition_indexes,
        }
    }

    #[test]
    fn offset_fetch_v1_request_bytes_and_null_topics_from_v2_only() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partition_indexes [0, 1]
        ];
        let expected = Request {
            group_id: "g",
            topics: Some(vec![topic("t", [0; 16], vec![0, 1])]),
            ..Request::default()
        };
        both_ways(1, &body, &expected);
        let all = [0, 1, b'g', 0xff, 0xff, 0xff, 0xff]; // topics null
        let all_topics = Request {
            group_id: "g",
            ..Request::default()
        };
        both_ways(2, &all, &all_topics);
        assert!(decode::<Request>(&all, OffsetFetch::SPEC.ver(1)).is_err());
    }

    #[test]
    fn offset_fetch_v7_request_bytes() {
        // Compact group_id "g", topics null (all), require_stable, tags.
        let expected = Request {
            group_id: "g",
            require_stable: true,
            ..Request::default()
        };
        both_ways(7, &[0x02, b'g', 0x00, 0x01, 0x00], &expected);
    }

    #[test]
    fn offset_fetch_v9_and_v10_request_bytes() {
        let mut body = vec![
            0x03, // groups: compact count 2
            0x02, b'g', // group_id "g"
            0x02, b'm', // member_id "m"
            0, 0, 0, 5,    // member_epoch 5
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, 0, 0, 0, 3, // partition_indexes [3]
            0x00, 0x00, // topic and group tags
            0x02, b'h', // group_id "h"
            0x00, // member_id null
            0xff, 0xff, 0xff, 0xff, // member_epoch -1
            0x00, // topics null (all)
            0x00, // group tags
            0x00, // require_stable false
            0x00, // tags
        ];
        let request = |topic| Request {
            groups: vec![
                RequestGroup {
                    group_id: "g",
                    member_id: Some("m"),
                    member_epoch: 5,
                    topics: Some(vec![topic]),
                },
                RequestGroup {
                    group_id: "h",
                    ..RequestGroup::default()
                },
            ],
            ..Request::default()
        };
        both_ways(9, &body, &request(topic("t", [0; 16], vec![3])));
        // v10: the topic's 16-byte id replaces its name.
        body.splice(10..12, [0xab; 16]);
        both_ways(10, &body, &request(topic("", [0xab; 16], vec![3])));
    }

    fn one_partition(name: &str, topic_id: [u8; 16], error_code: i16) -> Vec<ResponseTopic> {
        vec![ResponseTopic {
            name: name.into(),
            topic_id,
            partitions: vec![ResponsePartition {
                partition_index: 0,
                committed_offset: 7,
                committed_leader_epoch: 2,
                metadata: None,
                error_code,
            }],
        }]
    }

    #[test]
    fn offset_fetch_v3_response_bytes() {
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 7, // committed_offset 7 (no leader epoch before v5)
            0xff, 0xff, // metadata null
            0, 0, // error_code 0
            0, 15, // top-level error_code 15
        ];
        let mut response = Response {
            topics: one_partition("t", [0; 16], 0),
            error_code: 15,
            ..Response::default()
        };
        let v = OffsetFetch::SPEC.ver(3);
        let mut out = Vec::new();
        encode(&response, v, &mut out).unwrap();
        assert_eq!(out, body);
        response.topics[0].partitions[0].committed_leader_epoch = -1;
        assert_eq!(decode::<Response>(&body, v).unwrap(), response);
    }

    #[test]
    fn offset_fetch_v8_and_v10_response_bytes() {
        let mut body = vec![
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // groups: compact count 1
            0x02, b'g', // group_id "g"
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 7, // committed_offset 7
            0, 0, 0, 2,    // committed_leader_epoch 2
            0x00, // metadata null
            0, 100, // error_code 100
            0x00, 0x00, // partition and topic tags
            0, 0, // group error_code 0
            0x00, 0x00, // group and response tags
        ];
        let response = |topics| Response {
            groups: vec![ResponseGroup {
                group_id: "g".into(),
                topics,
                error_code: 0,
            }],
            ..Response::default()
        };
        both_ways(8, &body, &response(one_partition("t", [0; 16], 100)));
        body.splice(8..10, [0xab; 16]);
        both_ways(10, &body, &response(one_partition("", [0xab; 16], 100)));
    }
}
