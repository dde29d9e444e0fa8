//! ConsumerGroupDescribe (key 69): consumer groups of Kafka's consumer protocol (KIP-848)
//! by id: state, group and assignment epochs, the assignor, and each member's subscription,
//! current assignment and target assignment (topics by id and name).
//! - v0: first version, flexible.
//! - v1: each member carries its member_type (KIP-1099: 0 classic, 1 consumer, -1 unknown);
//!   the request is unchanged.
//!
//! Per group: INVALID_GROUP_ID for an empty id, GROUP_ID_NOT_FOUND "Group <id> not found."
//! for an unknown id and "Group <id> is not a consumer group." for a classic one, as Kafka's
//! coordinator answers (clients then describe the group with DescribeGroups).

use super::authorized_operations::{self, OMITTED};
use super::{Answer, Api, Context};
use crate::consumer_groups::{Assignment, ConsumerGroup};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::Storage;

/// KIP-1099's member type of a member of the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;

message! {
    pub struct Request<'a> {
        group_ids: Vec<&'a str> = "0+",
        include_authorized_operations: bool = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        groups: Vec<DescribedGroup> = "0+",
    }

    pub struct DescribedGroup {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        group_id: String = "0+",
        group_state: String = "0+",
        group_epoch: i32 = "0+",
        assignment_epoch: i32 = "0+",
        assignor_name: String = "0+",
        members: Vec<Member> = "0+",
        authorized_operations: i32 = "0+" default OMITTED,
    }

    pub struct Member {
        member_id: String = "0+",
        instance_id: Option<String> = "0+" null "0+",
        rack_id: Option<String> = "0+" null "0+",
        member_epoch: i32 = "0+",
        client_id: String = "0+",
        client_host: String = "0+",
        subscribed_topic_names: Vec<String> = "0+",
        subscribed_topic_regex: Option<String> = "0+" null "0+",
        assignment: MemberAssignment = "0+",
        target_assignment: MemberAssignment = "0+",
        member_type: i8 = "1+" default -1,
    }

    pub struct MemberAssignment {
        topic_partitions: Vec<TopicPartitions> = "0+",
    }

    pub struct TopicPartitions {
        topic_id: [u8; 16] = "0+",
        topic_name: String = "0+",
        partitions: Vec<i32> = "0+",
    }
}

pub struct ConsumerGroupDescribe;

impl Api for ConsumerGroupDescribe {
    const SPEC: ApiSpec = ApiSpec::new(69, "ConsumerGroupDescribe", "0-1", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let groups = request
            .group_ids
            .iter()
            .map(|&group_id| {
                let refused = |error_code, message: Option<String>| DescribedGroup {
                    error_code,
                    error_message: message,
                    group_id: group_id.to_string(),
                    ..DescribedGroup::default()
                };
                if group_id.is_empty() {
                    return refused(error::INVALID_GROUP_ID, None);
                }
                if !ctx.authorize(op::DESCRIBE, resource::GROUP, group_id) {
                    return refused(error::GROUP_AUTHORIZATION_FAILED, None);
                }
                match ctx.coordinator.consumer.group(group_id) {
                    Some(group) => {
                        let mut described = describe(group, ctx.storage);
                        described.authorized_operations = ctx.authorized_operations(
                            request.include_authorized_operations,
                            resource::GROUP,
                            group_id,
                            authorized_operations::GROUP,
                        );
                        described
                    }
                    None if ctx.coordinator.group(group_id).is_some() => refused(
                        error::GROUP_ID_NOT_FOUND,
                        Some(format!("Group {group_id} is not a consumer group.")),
                    ),
                    None => refused(
                        error::GROUP_ID_NOT_FOUND,
                        Some(format!("Group {group_id} not found.")),
                    ),
                }
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            groups,
        })
    }
}

fn describe(group: &ConsumerGroup, storage: &Storage) -> DescribedGroup {
    let members = group
        .members
        .values()
        .map(|m| Member {
            member_id: m.id.clone(),
            instance_id: m.instance_id.clone(),
            rack_id: m.rack_id.clone(),
            member_epoch: m.member_epoch,
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            subscribed_topic_names: m.subscribed_topic_names.clone(),
            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
            assignment: named(&m.assigned, storage),
            target_assignment: named(
                group.target.get(&m.id).unwrap_or(&Assignment::new()),
                storage,
            ),
            member_type: MEMBER_TYPE_CONSUMER,
        })
        .collect();
    DescribedGroup {
        error_code: error::NONE,
        error_message: None,
        group_id: group.id.clone(),
        group_state: group.state().name().to_string(),
        group_epoch: group.group_epoch,
        assignment_epoch: group.assignment_epoch,
        assignor_name: group.assignor.clone(),
        members,
        authorized_operations: OMITTED,
    }
}

/// An assignment with its topics' names (a deleted topic's partitions are left out).
fn named(assignment: &Assignment, storage: &Storage) -> MemberAssignment {
    let topic_partitions = assignment
        .iter()
        .filter_map(|(id, partitions)| {
            let topic = storage.topic_by_id(id)?;
            Some(TopicPartitions {
                topic_id: *id,
                topic_name: topic.name.clone(),
                partitions: partitions.iter().copied().collect(),
            })
        })
        .collect();
    MemberAssignment { topic_partitions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn consumer_group_describe_v0_request() {
        let body = [
            3, 2, b'a', 2, b'b', // group_ids ["a", "b"]
            1,    // include_authorized_operations
            0,    // tagged fields
        ];
        let request = Request {
            group_ids: vec!["a", "b"],
            include_authorized_operations: true,
        };
        assert_wire::<ConsumerGroupDescribe, _>(0, &body, &request);
        assert_wire::<ConsumerGroupDescribe, _>(1, &body, &request);
    }

    fn one_member_group() -> Response {
        let assignment = MemberAssignment {
            topic_partitions: vec![TopicPartitions {
                topic_id: [5; 16],
                topic_name: "t".into(),
                partitions: vec![1],
            }],
        };
        Response {
            throttle_time_ms: 0,
            groups: vec![DescribedGroup {
                error_code: 0,
                error_message: None,
                group_id: "g".into(),
                group_state: "Stable".into(),
                group_epoch: 2,
                assignment_epoch: 2,
                assignor_name: "uniform".into(),
                members: vec![Member {
                    member_id: "m".into(),
                    instance_id: None,
                    rack_id: None,
                    member_epoch: 2,
                    client_id: "c".into(),
                    client_host: "/h".into(),
                    subscribed_topic_names: vec!["t".into()],
                    subscribed_topic_regex: None,
                    assignment: assignment.clone(),
                    target_assignment: assignment,
                    member_type: 1,
                }],
                authorized_operations: OMITTED,
            }],
        }
    }

    #[test]
    fn consumer_group_describe_v1_response_with_member_type() {
        #[rustfmt::skip]
        let v1: Vec<u8> = [
            &[0, 0, 0, 0][..], // throttle_time_ms
            &[2], // one group
            &[0, 0], // error_code
            &[0], // error_message null
            &[2, b'g'], // group_id
            &[7, b'S', b't', b'a', b'b', b'l', b'e'], // group_state
            &[0, 0, 0, 2], // group_epoch
            &[0, 0, 0, 2], // assignment_epoch
            &[8, b'u', b'n', b'i', b'f', b'o', b'r', b'm'], // assignor_name
            &[2], // one member
            &[2, b'm'], // member_id
            &[0, 0], // instance_id, rack_id null
            &[0, 0, 0, 2], // member_epoch
            &[2, b'c'], // client_id
            &[3, b'/', b'h'], // client_host
            &[2, 2, b't'], // subscribed_topic_names ["t"]
            &[0], // subscribed_topic_regex null
            &[2], &[5; 16], &[2, b't'], &[2, 0, 0, 0, 1], &[0], &[0], // assignment
            &[2], &[5; 16], &[2, b't'], &[2, 0, 0, 0, 1], &[0], &[0], // target_assignment
            &[1], // member_type: consumer
            &[0], // member tags
            &[0x80, 0, 0, 0], // authorized_operations omitted
            &[0], // group tags
            &[0], // response tags
        ]
        .concat();
        assert_wire::<ConsumerGroupDescribe, _>(1, &v1, &one_member_group());
        // v0 has no member_type: one byte fewer, and it decodes as -1 (unknown).
        let mut v0 = v1.clone();
        let at = v1.len() - 8;
        assert_eq!(v0.remove(at), 1);
        let mut expected = one_member_group();
        expected.groups[0].members[0].member_type = -1;
        assert_wire::<ConsumerGroupDescribe, _>(0, &v0, &expected);
    }
}
