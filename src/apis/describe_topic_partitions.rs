//! DescribeTopicPartitions (key 75): topics and their partitions with eligible leader
//! replicas (KIP-966), paged. Version 0 only, flexible. The request caps the partitions per
//! response and may carry a cursor (a nullable struct: an int8 marker, -1 for null); the
//! response returns where the next request should start, or null at the end.

use std::borrow::Cow;

use super::authorized_operations;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        topics: Vec<TopicRequest<'a>> = "0+",
        response_partition_limit: i32 = "0+" default 2000,
        cursor: Option<Cursor<'a>> = "0+" null "0+",
    }

    pub struct TopicRequest<'a> {
        name: &'a str = "0+",
    }

    pub struct Cursor<'a> {
        topic_name: Cow<'a, str> = "0+",
        partition_index: i32 = "0+",
    }

    pub struct Response<'a> {
        throttle_time_ms: i32 = "0+",
        topics: Vec<Topic<'a>> = "0+",
        next_cursor: Option<Cursor<'a>> = "0+" null "0+",
    }

    pub struct Topic<'a> {
        error_code: i16 = "0+",
        name: Option<Cow<'a, str>> = "0+" null "0+",
        topic_id: [u8; 16] = "0+",
        is_internal: bool = "0+",
        partitions: Vec<Partition> = "0+",
        topic_authorized_operations: i32 = "0+" default authorized_operations::OMITTED,
    }

    pub struct Partition {
        error_code: i16 = "0+",
        partition_index: i32 = "0+",
        leader_id: i32 = "0+",
        leader_epoch: i32 = "0+" default -1,
        replica_nodes: Vec<i32> = "0+",
        isr_nodes: Vec<i32> = "0+",
        eligible_leader_replicas: Option<Vec<i32>> = "0+" null "0+",
        last_known_elr: Option<Vec<i32>> = "0+" null "0+",
        offline_replicas: Vec<i32> = "0+",
    }
}

/// The schema's default for `response_partition_limit`, used for a limit below 1.
const PARTITION_LIMIT_DEFAULT: usize = 2000;

pub struct DescribeTopicPartitions;

impl Api for DescribeTopicPartitions {
    const SPEC: ApiSpec = ApiSpec::new(75, "DescribeTopicPartitions", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    /// Topics sorted by name (all of them when none are named), partitions in order, at
    /// most `response_partition_limit` partitions per response with a cursor to continue.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut names: Vec<Cow<'a, str>> = if request.topics.is_empty() {
            ctx.storage
                .topics()
                .filter(|t| ctx.authorize(op::DESCRIBE, resource::TOPIC, &t.name))
                .map(|t| t.name.clone().into())
                .collect()
        } else {
            request.topics.iter().map(|t| t.name.into()).collect()
        };
        names.sort_unstable();
        names.dedup();
        let node_id = ctx.config.node_id;
        let mut budget = usize::try_from(request.response_partition_limit)
            .ok()
            .filter(|&limit| limit > 0)
            .unwrap_or(PARTITION_LIMIT_DEFAULT);
        let mut topics = Vec::new();
        let mut next_cursor = None;
        for name in names {
            let mut first_partition = 0;
            if let Some(cursor) = &request.cursor {
                if name < cursor.topic_name {
                    continue;
                }
                if name == cursor.topic_name {
                    first_partition = cursor.partition_index.max(0) as usize;
                }
            }
            if !ctx.authorize(op::DESCRIBE, resource::TOPIC, &name) {
                topics.push(Topic {
                    error_code: error::TOPIC_AUTHORIZATION_FAILED,
                    name: Some(name),
                    topic_authorized_operations: authorized_operations::OMITTED,
                    ..Topic::default()
                });
                continue;
            }
            let operations = ctx.authorized_operations(
                true,
                resource::TOPIC,
                &name,
                authorized_operations::TOPIC,
            );
            let Some(stored) = ctx.storage.topic(&name) else {
                topics.push(Topic {
                    error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                    name: Some(name),
                    topic_authorized_operations: operations,
                    ..Topic::default()
                });
                continue;
            };
            let cursor_at = |index: usize| Cursor {
                topic_name: name.clone(),
                partition_index: index as i32,
            };
            if budget == 0 {
                next_cursor = Some(cursor_at(first_partition));
                break;
            }
            let mut partitions = Vec::new();
            for (index, partition) in stored.partitions.iter().enumerate().skip(first_partition) {
                if budget == 0 {
                    next_cursor = Some(cursor_at(index));
                    break;
                }
                budget -= 1;
                // An offline partition (its log found corrupt), as Metadata shows it.
                let offline = partition.log.is_offline();
                partitions.push(Partition {
                    error_code: if offline {
                        error::KAFKA_STORAGE_ERROR
                    } else {
                        error::NONE
                    },
                    partition_index: index as i32,
                    leader_id: if offline { -1 } else { node_id },
                    leader_epoch: partition.leader_epoch,
                    replica_nodes: vec![node_id],
                    isr_nodes: if offline { Vec::new() } else { vec![node_id] },
                    eligible_leader_replicas: Some(Vec::new()),
                    last_known_elr: Some(Vec::new()),
                    offline_replicas: if offline { vec![node_id] } else { Vec::new() },
                });
            }
            topics.push(Topic {
                error_code: error::NONE,
                is_internal: crate::storage::is_internal_topic(&name),
                name: Some(name),
                topic_id: stored.id,
                partitions,
                topic_authorized_operations: operations,
            });
            if next_cursor.is_some() {
                break;
            }
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Ver, decode, encode};

    const V0: Ver = Ver {
        version: 0,
        flexible: true,
    };

    fn response_bytes(response: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, V0, &mut out).unwrap();
        out
    }

    #[test]
    fn describe_topic_partitions_v0_request_bytes() {
        let body = [
            0x03, 0x02, b'a', 0x00, 0x02, b'b', 0x00, // topics: 2 (compact), "a" and "b"
            0, 0, 0x07, 0xd0, 0xff, 0x00, // response_partition_limit 2000, cursor null, tags
        ];
        let request: Request = decode(&body, V0).unwrap();
        let names: Vec<&str> = request.topics.iter().map(|t| t.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            (request.response_partition_limit, request.cursor),
            (2000, None)
        );
        let body = [
            0x02, 0x02, b'a', 0x00, 0, 0, 0, 10, // topics: "a"; response_partition_limit 10
            0x01, 0x02, b'a', 0, 0, 0, 3, 0x00, // cursor present: "a", partition 3, tags
            0x00, // tags
        ];
        let cursor = decode::<Request>(&body, V0).unwrap().cursor.unwrap();
        assert_eq!((&*cursor.topic_name, cursor.partition_index), ("a", 3));
    }

    #[test]
    fn describe_topic_partitions_v0_response_bytes() {
        let partition = Partition {
            error_code: 0,
            partition_index: 0,
            leader_id: 1,
            leader_epoch: 0,
            replica_nodes: vec![1],
            isr_nodes: vec![1],
            eligible_leader_replicas: None,
            last_known_elr: None,
            offline_replicas: vec![],
        };
        let mut response = Response {
            throttle_time_ms: 0,
            topics: vec![Topic {
                name: Some("t".into()),
                topic_id: [7; 16],
                partitions: vec![partition],
                topic_authorized_operations: authorized_operations::TOPIC,
                ..Topic::default()
            }],
            next_cursor: None,
        };
        // throttle_time_ms, topics: 1 (compact), error_code, name "t", topic_id.
        let mut topic = vec![0, 0, 0, 0, 0x02, 0, 0, 0x02, b't'];
        topic.extend([7; 16]);
        topic.extend([
            0x00, 0x02, 0, 0, // is_internal false, partitions: 1, error_code
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, // partition_index 0, leader_id 1, epoch 0
            0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1, // replica_nodes [1], isr_nodes [1]
            0x00, 0x00, 0x01, 0x00, // ELR null, last known ELR null, offline [], tags
            0, 0, 0x0d, 0xf8, 0x00, // topic_authorized_operations, topic tags
        ]);
        // next_cursor null (int8 -1), tags.
        assert_eq!(
            response_bytes(&response),
            [&topic[..], &[0xff, 0x00]].concat()
        );
        response.next_cursor = Some(Cursor {
            topic_name: "t".into(),
            partition_index: 1,
        });
        // next_cursor present: marker 1, "t", partition 1, cursor tags; tags.
        let with_cursor = [0x01, 0x02, b't', 0, 0, 0, 1, 0x00, 0x00];
        assert_eq!(
            response_bytes(&response),
            [&topic[..], &with_cursor].concat()
        );
    }
}
