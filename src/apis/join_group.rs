//! JoinGroup (key 11): a member joins (or rejoins) a classic group, naming the protocols it
//! supports with their metadata; the coordinator answers with the generation, the chosen
//! protocol, the leader and, to the leader only, every member's metadata. A join that must
//! wait for the rest of the group parks, noting the member's id for its retries.
//! - v1: the request adds rebalance_timeout_ms. v2: the response adds throttle_time_ms.
//!   v3: no change on the wire.
//! - v4: no change on the wire, but a member with an empty member_id gets
//!   MEMBER_ID_REQUIRED with an assigned id and must join again.
//! - v5: group_instance_id in the request and in each response member (KIP-345).
//! - v6: first flexible version.
//! - v7: the response adds protocol_type, and its protocol_name may be null (KIP-559).
//! - v8: the request adds reason (KIP-800).
//! - v9: the response adds skip_assignment.

use super::{Answer, Api, Context, Wait};
use crate::coordinator::{JoinOutcome, JoinRequest};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        session_timeout_ms: i32 = "0+",
        /// -1 before v1, where session_timeout_ms stands in for it.
        rebalance_timeout_ms: i32 = "1+" default -1,
        /// Empty on a member's first join.
        member_id: &'a str = "0+",
        group_instance_id: Option<&'a str> = "5+" null "5+",
        protocol_type: &'a str = "0+",
        protocols: Vec<Protocol<'a>> = "0+",
        reason: Option<&'a str> = "8+" null "8+",
    }

    /// One protocol (assignor) a member supports; the metadata is opaque to the broker.
    pub struct Protocol<'a> {
        name: &'a str = "0+",
        metadata: &'a [u8] = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "2+",
        error_code: i16 = "0+",
        generation_id: i32 = "0+" default -1,
        protocol_type: Option<String> = "7+" null "7+",
        /// Null only from v7; "" before.
        protocol_name: Option<String> = "0+" null "7+",
        leader: String = "0+",
        skip_assignment: bool = "9+",
        member_id: String = "0+",
        /// Every member with its metadata for the leader; empty for the others.
        members: Vec<Member> = "0+",
    }

    pub struct Member {
        member_id: String = "0+",
        group_instance_id: Option<String> = "5+" null "5+",
        metadata: Vec<u8> = "0+",
    }
}

pub struct JoinGroup;

impl Api for JoinGroup {
    const SPEC: ApiSpec = ApiSpec::new(11, "JoinGroup", "0-9", "6+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    /// Joins a member; waits (parked) until the group's rebalance completes.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let outcome = match ctx.wait {
            Wait::Allowed if !ctx.authorize(op::READ, resource::GROUP, request.group_id) => {
                JoinOutcome::Error(error::GROUP_AUTHORIZATION_FAILED, String::new())
            }
            Wait::Allowed => join(ctx, &request),
            // A retry asks for the member its first attempt named (assigned, if the request
            // carried no id).
            Wait::Until(_) | Wait::Expired => {
                let member_id = ctx.memo.unwrap_or(request.member_id);
                ctx.coordinator
                    .join_result(request.group_id, member_id)
                    .unwrap_or_else(|| {
                        JoinOutcome::Error(error::UNKNOWN_MEMBER_ID, request.member_id.into())
                    })
            }
        };
        let mut response = match outcome {
            JoinOutcome::Wait(member_id, deadline) => {
                return Answer::Park {
                    deadline,
                    memo: Some(member_id),
                };
            }
            JoinOutcome::Joined(result) => Response {
                generation_id: result.generation,
                protocol_type: result.protocol_type,
                protocol_name: result.protocol_name,
                leader: result.leader,
                member_id: result.member_id,
                members: result
                    .members
                    .into_iter()
                    .map(|(member_id, group_instance_id, metadata)| Member {
                        member_id,
                        group_instance_id,
                        metadata,
                    })
                    .collect(),
                ..Response::default()
            },
            JoinOutcome::MemberIdRequired(id) => failed(error::MEMBER_ID_REQUIRED, id),
            JoinOutcome::Error(code, member_id) => failed(code, member_id),
        };
        // Before v7 protocol_name is not nullable: "" stands for none.
        if ctx.version < 7 && response.protocol_name.is_none() {
            response.protocol_name = Some(String::new());
        }
        Answer::Respond(response)
    }

    /// A parked JoinGroup's connection closed: the member no longer waits in the rebalance
    /// and its session runs again ([`crate::coordinator::Coordinator::abandon_join`]).
    fn abandon(ctx: &mut Context, request: Self::Request<'_>) {
        let member_id = ctx.memo.unwrap_or(request.member_id);
        ctx.coordinator
            .abandon_join(request.group_id, member_id, ctx.now);
    }
}

fn join(ctx: &mut Context, request: &Request) -> JoinOutcome {
    let client_host = format!("/{}", ctx.client_addr.ip());
    let join = JoinRequest {
        group_id: request.group_id,
        member_id: request.member_id,
        instance_id: request.group_instance_id,
        client_id: ctx.client_id.unwrap_or(""),
        client_host: &client_host,
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if request.rebalance_timeout_ms < 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type,
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name, p.metadata))
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    ctx.coordinator.join(&join, ctx.now)
}

fn failed(error_code: i16, member_id: String) -> Response {
    Response {
        error_code,
        member_id,
        ..Response::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode};
    use std::fmt::Debug;

    /// `value` is `body` at `version`, both ways.
    fn bytes<'a, T: Wire<'a> + PartialEq + Debug>(version: i16, body: &'a [u8], value: T) {
        crate::apis::assert_wire::<JoinGroup, T>(version, body, &value);
    }

    #[test]
    fn join_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0x27, 0x10, // session_timeout_ms 10000 (no rebalance_timeout_ms in v0)
            0, 0, // member_id ""
            0, 1, b'c', // protocol_type "c"
            0, 0, 0, 1, // protocols: 1
            0, 1, b'r', // name "r"
            0, 0, 0, 2, 7, 8, // metadata [7, 8]
        ];
        let expected = Request {
            group_id: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: -1,
            member_id: "",
            group_instance_id: None,
            protocol_type: "c",
            protocols: vec![Protocol {
                name: "r",
                metadata: &[7, 8],
            }],
            reason: None,
        };
        bytes(0, &body, expected);
    }

    #[test]
    fn join_group_v8_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0x27, 0x10, // session_timeout_ms 10000
            0, 0, 0x75, 0x30, // rebalance_timeout_ms 30000
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            2, b'c', // protocol_type "c"
            2,    // protocols: 1 (compact)
            2, b'r', // name "r"
            3, 7, 8, // metadata [7, 8] (compact)
            0, // protocol tags
            2, b'x', // reason "x"
            0,    // tags
        ];
        let expected = Request {
            group_id: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            member_id: "m",
            group_instance_id: None,
            protocol_type: "c",
            protocols: vec![Protocol {
                name: "r",
                metadata: &[7, 8],
            }],
            reason: Some("x"),
        };
        bytes(8, &body, expected.clone());
        let v8 = JoinGroup::SPEC.ver(8);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode::<Request>(&tagged, v8), Ok(expected));
    }

    #[test]
    fn join_group_v0_response_bytes() {
        let response = Response {
            generation_id: 1,
            protocol_name: Some("r".into()),
            leader: "m".into(),
            member_id: "m".into(),
            members: vec![Member {
                member_id: "m".into(),
                group_instance_id: None,
                metadata: vec![9],
            }],
            ..Response::default()
        };
        let body = [
            0, 0, // error_code 0 (no throttle_time_ms before v2)
            0, 0, 0, 1, // generation_id 1
            0, 1, b'r', // protocol_name "r"
            0, 1, b'm', // leader "m"
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, 9, // metadata [9]
        ];
        bytes(0, &body, response);
    }

    #[test]
    fn join_group_v9_response_bytes() {
        let response = Response {
            error_code: 79,
            member_id: "m".into(),
            members: vec![Member {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                metadata: vec![],
            }],
            ..Response::default()
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 79, // error_code MEMBER_ID_REQUIRED
            0xff, 0xff, 0xff, 0xff, // generation_id -1
            0,    // protocol_type null
            0,    // protocol_name null
            1,    // leader ""
            0,    // skip_assignment false
            2, b'm', // member_id "m"
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            1,    // metadata empty (compact)
            0,    // member tags
            0,    // tags
        ];
        bytes(9, &body, response);
    }
}
