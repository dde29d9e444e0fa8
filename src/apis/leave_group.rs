//! LeaveGroup (key 13): one member (v0-2) or a batch of members (v3+) leaves a group, which
//! then rebalances.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire.
//! - v3: batching (KIP-345): the request's member_id gives way to a members array of
//!   (member_id, group_instance_id), and the response adds a result per member.
//! - v4: first flexible version.
//! - v5: each leaving member may give a reason (KIP-800).

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        /// v0-2: the one member leaving.
        member_id: &'a str = "0-2",
        /// v3+: the members leaving.
        members: Vec<MemberIdentity<'a>> = "3+",
    }

    pub struct MemberIdentity<'a> {
        member_id: &'a str = "3+",
        /// Null for a dynamic member.
        group_instance_id: Option<&'a str> = "3+" null "3+",
        reason: Option<&'a str> = "5+" null "5+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "0+",
        /// v3+: one result per leaving member.
        members: Vec<MemberResponse> = "3+",
    }

    pub struct MemberResponse {
        member_id: String = "3+",
        group_instance_id: Option<String> = "3+" null "3+",
        error_code: i16 = "3+",
    }
}

pub struct LeaveGroup;

impl Api for LeaveGroup {
    const SPEC: ApiSpec = ApiSpec::new(13, "LeaveGroup", "0-5", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut response = Response::default();
        if !ctx.authorize(op::READ, resource::GROUP, request.group_id) {
            response.error_code = error::GROUP_AUTHORIZATION_FAILED;
            return Answer::Respond(response);
        }
        // v0-2 name one member; from v3 the members array does (and is empty before).
        if ctx.version < 3 {
            response.error_code =
                ctx.coordinator
                    .leave(request.group_id, request.member_id, None, ctx.now);
        }
        for member in &request.members {
            let error_code = ctx.coordinator.leave(
                request.group_id,
                member.member_id,
                member.group_instance_id,
                ctx.now,
            );
            response.members.push(MemberResponse {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.map(str::to_string),
                error_code,
            });
        }
        Answer::Respond(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode};
    use std::fmt::Debug;

    /// `value` is `body` at `version`, both ways.
    fn bytes<'a, T: Wire<'a> + PartialEq + Debug>(version: i16, body: &'a [u8], value: T) {
        crate::apis::assert_wire::<LeaveGroup, T>(version, body, &value);
    }

    #[test]
    fn leave_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 1, b'm', // member_id "m"
        ];
        let expected = Request {
            group_id: "g",
            member_id: "m",
            members: vec![],
        };
        bytes(0, &body, expected);
    }

    #[test]
    fn leave_group_v3_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0xff, 0xff, // group_instance_id null
        ];
        let expected = Request {
            group_id: "g",
            member_id: "",
            members: vec![MemberIdentity {
                member_id: "m",
                group_instance_id: None,
                reason: None,
            }],
        };
        bytes(3, &body, expected);
    }

    #[test]
    fn leave_group_v5_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            2, b'r', // reason "r"
            0,    // member tags
            0,    // tags
        ];
        let expected = Request {
            group_id: "g",
            member_id: "",
            members: vec![MemberIdentity {
                member_id: "m",
                group_instance_id: Some("i"),
                reason: Some("r"),
            }],
        };
        bytes(5, &body, expected.clone());
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        let v5 = LeaveGroup::SPEC.ver(5);
        assert_eq!(decode::<Request>(&tagged, v5), Ok(expected));
    }

    #[test]
    fn leave_group_v0_response_bytes() {
        let response = Response {
            error_code: 25,
            ..Response::default()
        };
        // error_code UNKNOWN_MEMBER_ID (no throttle_time_ms in v0)
        bytes(0, &[0, 25], response);
    }

    #[test]
    fn leave_group_v4_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            members: vec![MemberResponse {
                member_id: "m".into(),
                group_instance_id: None,
                error_code: 25,
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            2, // members: 1 (compact)
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            0, 25, // error_code UNKNOWN_MEMBER_ID
            0,  // member tags
            0,  // tags
        ];
        bytes(4, &body, response);
    }
}
