//! OffsetDelete (key 47), version 0 only (not flexible): deletes a group's committed offsets
//! for some partitions (tombstones in `__consumer_offsets`), as kafka-consumer-groups
//! `--delete-offsets` does.
//!
//! Top-level errors: INVALID_GROUP_ID for an empty id, GROUP_ID_NOT_FOUND for a group that
//! is neither live nor known by committed offsets, NON_EMPTY_GROUP for a live group whose
//! members do not use the consumer protocol (their subscriptions cannot be read). Per
//! partition: UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist, and
//! GROUP_SUBSCRIBED_TO_TOPIC while a member of the group subscribes to the topic.

use std::collections::BTreeSet;

use super::{Answer, Api, Context};
use crate::coordinator::Group;
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::protocol::wire::{self, Ver};
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0+",
        partitions: Vec<RequestPartition> = "0+",
    }

    pub struct RequestPartition {
        partition_index: i32 = "0+",
    }

    pub struct Response {
        error_code: i16 = "0+",
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
    }

    /// The start of a consumer's subscription (ConsumerProtocolSubscription, after its
    /// int16 version): the topics it wants. The fields after it are not needed here.
    pub struct Subscription<'a> {
        topics: Vec<&'a str> = "0+",
    }
}

pub struct OffsetDelete;

impl Api for OffsetDelete {
    const SPEC: ApiSpec = ApiSpec::new(47, "OffsetDelete", "0", "none");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let refuse = |error_code| {
            Answer::Respond(Response {
                error_code,
                ..Response::default()
            })
        };
        let group_id = request.group_id;
        if !ctx.authorize(op::DELETE, resource::GROUP, group_id) {
            return refuse(error::GROUP_AUTHORIZATION_FAILED);
        }
        if group_id.is_empty() {
            return refuse(error::INVALID_GROUP_ID);
        }
        let live = ctx.coordinator.group(group_id);
        // A consumer group (KIP-848): the topics its members subscribe to.
        let consumer = ctx
            .coordinator
            .consumer
            .group(group_id)
            .map(|g| g.subscribed_topic_names());
        if live.is_none() && consumer.is_none() && ctx.storage.committed(group_id).is_none() {
            return refuse(error::GROUP_ID_NOT_FOUND);
        }
        let subscribed = match consumer {
            Some(topics) => Some(topics),
            None => live.map_or(Some(BTreeSet::new()), subscribed_topics),
        };
        let Some(subscribed) = subscribed else {
            return refuse(error::NON_EMPTY_GROUP);
        };
        let mut deleted = Vec::new();
        let topics = request
            .topics
            .iter()
            .map(|topic| {
                let stored = ctx.storage.topic(topic.name);
                let may_read = ctx.authorize(op::READ, resource::TOPIC, topic.name);
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let index = p.partition_index;
                        let error_code = if !may_read {
                            error::TOPIC_AUTHORIZATION_FAILED
                        } else if stored.and_then(|t| t.partition(index)).is_none() {
                            error::UNKNOWN_TOPIC_OR_PARTITION
                        } else if subscribed.contains(topic.name) {
                            error::GROUP_SUBSCRIBED_TO_TOPIC
                        } else {
                            deleted.push((topic.name.to_string(), index));
                            error::NONE
                        };
                        ResponsePartition {
                            partition_index: index,
                            error_code,
                        }
                    })
                    .collect();
                ResponseTopic {
                    name: topic.name.to_string(),
                    partitions,
                }
            })
            .collect();
        if let Err(e) = ctx.storage.delete_offsets(group_id, &deleted) {
            log::error!("deleting offsets of group {group_id}: {e:?}");
            return refuse(error::UNKNOWN_SERVER_ERROR);
        }
        Answer::Respond(Response {
            topics,
            ..Response::default()
        })
    }
}

/// The topics a live group's members subscribe to, from their consumer-protocol metadata
/// for the group's protocol; `None` if the group has members of another protocol type,
/// whose subscriptions cannot be read (Kafka answers NON_EMPTY_GROUP then).
fn subscribed_topics(group: &Group) -> Option<BTreeSet<String>> {
    let mut topics = BTreeSet::new();
    if group.members.is_empty() {
        return Some(topics);
    }
    if group.protocol_type.as_deref() != Some("consumer") {
        return None;
    }
    for member in group.members.values() {
        let chosen = group.protocol_name.as_deref();
        let metadata = member
            .protocols
            .iter()
            .find(|(name, _)| Some(name.as_str()) == chosen)
            .or(member.protocols.first());
        let Some((_, metadata)) = metadata else {
            continue;
        };
        let Some((version, rest)) = metadata.split_first_chunk::<2>() else {
            continue;
        };
        let v = Ver {
            version: i16::from_be_bytes(*version),
            flexible: false,
        };
        if let Ok(subscription) = wire::decode::<Subscription>(rest, v) {
            topics.extend(subscription.topics.iter().map(|t| t.to_string()));
        }
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_delete_v0_bytes() {
        crate::apis::assert_wire::<OffsetDelete, _>(
            0,
            &[
                0, 1, b'g', // group_id "g"
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 1, 0, 0, 0, 2, // partitions: [2]]
            ],
            &Request {
                group_id: "g",
                topics: vec![RequestTopic {
                    name: "t",
                    partitions: vec![RequestPartition { partition_index: 2 }],
                }],
            },
        );
        crate::apis::assert_wire::<OffsetDelete, _>(
            0,
            &[
                0, 0, // error_code
                0, 0, 0, 0, // throttle_time_ms
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 1, 0, 0, 0, 2, 0,
                86, // partitions: [(2, GROUP_SUBSCRIBED_TO_TOPIC)]]
            ],
            &Response {
                topics: vec![ResponseTopic {
                    name: "t".into(),
                    partitions: vec![ResponsePartition {
                        partition_index: 2,
                        error_code: error::GROUP_SUBSCRIBED_TO_TOPIC,
                    }],
                }],
                ..Response::default()
            },
        );
    }
}
