//! DescribeGroups (key 15): groups by id, with state, protocol and members (their metadata
//! and assignment only when the group is Stable). A group known only from committed offsets
//! is Empty; an unknown one is Dead.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire.
//! - v3: the request asks for authorized operations, and each group carries a bitfield.
//! - v4: each member carries its group_instance_id.
//! - v5: first flexible version.
//! - v6: each group carries an error_message, and an unknown group gets GROUP_ID_NOT_FOUND
//!   (KIP-1043) instead of a Dead group without error.

use super::authorized_operations::{self, OMITTED};
use super::{Answer, Api, Context};
use crate::coordinator::GroupState;
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        groups: Vec<&'a str> = "0+",
        include_authorized_operations: bool = "3+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        groups: Vec<DescribedGroup> = "0+",
    }

    pub struct DescribedGroup {
        error_code: i16 = "0+",
        error_message: Option<String> = "6+" null "6+",
        group_id: String = "0+",
        group_state: String = "0+",
        protocol_type: String = "0+",
        protocol_data: String = "0+",
        members: Vec<DescribedGroupMember> = "0+",
        authorized_operations: i32 = "3+" default OMITTED,
    }

    pub struct DescribedGroupMember {
        member_id: String = "0+",
        group_instance_id: Option<String> = "4+" null "4+",
        client_id: String = "0+",
        client_host: String = "0+",
        member_metadata: Vec<u8> = "0+",
        member_assignment: Vec<u8> = "0+",
    }
}

pub struct DescribeGroups;

impl Api for DescribeGroups {
    const SPEC: ApiSpec = ApiSpec::new(15, "DescribeGroups", "0-6", "5+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let groups = request
            .groups
            .iter()
            .map(|&group_id| {
                if !ctx.authorize(op::DESCRIBE, resource::GROUP, group_id) {
                    return DescribedGroup {
                        group_id: group_id.to_string(),
                        error_code: error::GROUP_AUTHORIZATION_FAILED,
                        authorized_operations: OMITTED,
                        ..DescribedGroup::default()
                    };
                }
                let group = describe(ctx, group_id);
                // Kafka fills the bitfield only for a group described without error (so not
                // for v6's GROUP_ID_NOT_FOUND).
                let asked = request.include_authorized_operations && group.error_code == 0;
                DescribedGroup {
                    authorized_operations: ctx.authorized_operations(
                        asked,
                        resource::GROUP,
                        group_id,
                        authorized_operations::GROUP,
                    ),
                    ..group
                }
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            groups,
        })
    }
}

fn describe(ctx: &Context, group_id: &str) -> DescribedGroup {
    // A consumer group (KIP-848) is not described here, as Kafka's `classicGroup` lookup.
    if ctx.coordinator.consumer.group(group_id).is_some() {
        let v6 = ctx.version >= 6;
        return DescribedGroup {
            error_code: if v6 {
                error::GROUP_ID_NOT_FOUND
            } else {
                error::NONE
            },
            error_message: v6.then(|| format!("Group {group_id} is not a classic group.")),
            group_id: group_id.to_string(),
            group_state: "Dead".to_string(),
            ..DescribedGroup::default()
        };
    }
    let Some(group) = ctx.coordinator.group(group_id) else {
        let known = ctx.storage.committed(group_id).is_some();
        let (error_code, state) = match (known, ctx.version >= 6) {
            (true, _) => (error::NONE, "Empty"),
            (false, true) => (error::GROUP_ID_NOT_FOUND, "Dead"),
            (false, false) => (error::NONE, "Dead"),
        };
        return DescribedGroup {
            error_code,
            group_id: group_id.to_string(),
            group_state: state.to_string(),
            ..DescribedGroup::default()
        };
    };
    let stable = group.state == GroupState::Stable;
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = group
        .members
        .values()
        .map(|m| DescribedGroupMember {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            member_metadata: match m.protocols.iter().find(|(n, _)| *n == protocol) {
                Some((_, metadata)) if stable => metadata.clone(),
                _ => Vec::new(),
            },
            member_assignment: if stable {
                m.assignment.clone()
            } else {
                Vec::new()
            },
        })
        .collect();
    DescribedGroup {
        error_code: error::NONE,
        error_message: None,
        group_id: group_id.to_string(),
        group_state: group.state.name().to_string(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: if stable { protocol } else { String::new() },
        members,
        authorized_operations: OMITTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode};

    /// `bytes` decode to `value` at `version`, and `value` encodes to `bytes`.
    fn both_ways<'a, T: Wire<'a> + PartialEq + std::fmt::Debug>(
        version: i16,
        bytes: &'a [u8],
        value: &T,
    ) {
        crate::apis::assert_wire::<DescribeGroups, T>(version, bytes, value);
    }

    #[test]
    fn describe_groups_v0_and_v5_request_bytes() {
        let request = |groups, include_authorized_operations| Request {
            groups,
            include_authorized_operations,
        };
        both_ways(0, &[0, 0, 0, 1, 0, 1, b'g'], &request(vec!["g"], false));
        // groups ["a", "b"] (compact), include_authorized_operations, tags.
        let v5 = [3, 2, b'a', 2, b'b', 1, 0];
        both_ways(5, &v5, &request(vec!["a", "b"], true));
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let tagged = [3, 2, b'a', 2, b'b', 1, 1, 9, 2, 0xab, 0xcd];
        let decoded = decode::<Request>(&tagged, DescribeGroups::SPEC.ver(5)).unwrap();
        assert_eq!(decoded, request(vec!["a", "b"], true));
    }

    #[test]
    fn describe_groups_v0_and_v6_response_bytes() {
        let response = |group_instance_id, member_assignment| Response {
            throttle_time_ms: 0,
            groups: vec![DescribedGroup {
                group_id: "g".into(),
                group_state: "S".into(),
                protocol_type: "c".into(),
                protocol_data: "r".into(),
                members: vec![DescribedGroupMember {
                    member_id: "m".into(),
                    group_instance_id,
                    client_id: "c".into(),
                    client_host: "h".into(),
                    member_metadata: vec![1],
                    member_assignment,
                }],
                ..DescribedGroup::default()
            }],
        };
        let v0 = [
            0, 0, 0, 1, // groups: 1 (no throttle_time_ms in v0)
            0, 0, // error_code 0
            0, 1, b'g', // group_id "g"
            0, 1, b'S', // group_state "S"
            0, 1, b'c', // protocol_type "c"
            0, 1, b'r', // protocol_data "r"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0, 1, b'c', // client_id "c"
            0, 1, b'h', // client_host "h"
            0, 0, 0, 1, 1, // member_metadata [1]
            0, 0, 0, 2, 2, 3, // member_assignment [2, 3]
        ];
        both_ways(0, &v0, &response(None, vec![2, 3]));
        let v6 = [
            0, 0, 0, 0, // throttle_time_ms 0
            2, // groups: 1 (compact)
            0, 0, // error_code 0
            0, // error_message null
            2, b'g', 2, b'S', 2, b'c', 2, b'r', // group_id, state, protocol type and data
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            2, b'c', 2, b'h', // client_id "c", client_host "h"
            2, 1, // member_metadata [1]
            1, // member_assignment empty
            0, // member tags
            0x80, 0, 0, 0, // authorized_operations i32::MIN (unset)
            0, // group tags
            0, // tags
        ];
        both_ways(6, &v6, &response(Some("i".into()), vec![]));
    }
}
