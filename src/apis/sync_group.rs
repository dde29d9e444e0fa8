//! SyncGroup (key 14): after a join round the leader sends every member's assignment; each
//! member (the leader included) gets its own back, waiting (parked) for the leader's.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire.
//! - v3: the request adds group_instance_id (static membership, KIP-345).
//! - v4: first flexible version.
//! - v5: protocol_type and protocol_name in request and response (KIP-559); a member of the
//!   current generation naming another type or protocol than the group's gets
//!   INCONSISTENT_GROUP_PROTOCOL, as from Kafka.
//!
//! A member whose SyncGroup waits counts as alive; when the wait ends without an assignment
//! (deadline or closed connection) its session runs again, so it expires unless it returns.

use super::{Answer, Api, Context, Wait};
use crate::coordinator::SyncOutcome;
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        generation_id: i32 = "0+",
        member_id: &'a str = "0+",
        group_instance_id: Option<&'a str> = "3+" null "3+",
        protocol_type: Option<&'a str> = "5+" null "5+",
        protocol_name: Option<&'a str> = "5+" null "5+",
        /// Sent by the leader only; empty from the other members.
        assignments: Vec<Assignment<'a>> = "0+",
    }

    /// The leader's assignment for one member, opaque to the broker.
    pub struct Assignment<'a> {
        member_id: &'a str = "0+",
        assignment: &'a [u8] = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "0+",
        protocol_type: Option<String> = "5+" null "5+",
        protocol_name: Option<String> = "5+" null "5+",
        /// This member's assignment; empty on error.
        assignment: Vec<u8> = "0+",
    }
}

pub struct SyncGroup;

impl Api for SyncGroup {
    const SPEC: ApiSpec = ApiSpec::new(14, "SyncGroup", "0-5", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    /// The leader's assignments are stored; every member waits (parked) for its own.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let assignments: Vec<(&str, &[u8])> = request
            .assignments
            .iter()
            .map(|a| (a.member_id, a.assignment))
            .collect();
        if !ctx.authorize(op::READ, resource::GROUP, request.group_id) {
            return Answer::Respond(Response {
                error_code: error::GROUP_AUTHORIZATION_FAILED,
                ..Response::default()
            });
        }
        if !consistent_protocol(ctx, &request) {
            return Answer::Respond(Response {
                error_code: error::INCONSISTENT_GROUP_PROTOCOL,
                ..Response::default()
            });
        }
        // Only a first attempt carries assignments; a resumed follower just asks for its own.
        let given = (ctx.wait == Wait::Allowed).then_some(assignments.as_slice());
        let outcome = ctx.coordinator.sync(
            request.group_id,
            request.member_id,
            request.generation_id,
            given,
            ctx.now,
        );
        let error_code = match outcome {
            SyncOutcome::Wait(deadline) if ctx.wait != Wait::Expired => {
                let deadline = match ctx.wait {
                    Wait::Until(original) => original,
                    _ => deadline,
                };
                return Answer::Park {
                    deadline,
                    memo: None,
                };
            }
            SyncOutcome::Wait(_) => {
                ctx.coordinator
                    .end_sync_wait(request.group_id, request.member_id, ctx.now);
                error::REBALANCE_IN_PROGRESS
            }
            SyncOutcome::Error(code) => code,
            SyncOutcome::Assigned {
                protocol_type,
                protocol_name,
                assignment,
            } => {
                return Answer::Respond(Response {
                    protocol_type,
                    protocol_name,
                    assignment,
                    ..Response::default()
                });
            }
        };
        Answer::Respond(Response {
            error_code,
            ..Response::default()
        })
    }

    /// A follower whose waiting SyncGroup's connection closed no longer counts as alive:
    /// its session runs from now, and it expires unless it comes back.
    fn abandon(ctx: &mut Context, request: Self::Request<'_>) {
        ctx.coordinator
            .end_sync_wait(request.group_id, request.member_id, ctx.now);
    }
}

/// KIP-559: a v5 request's protocol type and name, when given, are the group's. Only a
/// member of the current generation is checked (the others get their own error from sync).
fn consistent_protocol(ctx: &Context, request: &Request) -> bool {
    let Some(group) = ctx.coordinator.group(request.group_id) else {
        return true;
    };
    if group.generation != request.generation_id || !group.members.contains_key(request.member_id) {
        return true;
    }
    let same = |given: Option<&str>, group: &Option<String>| {
        given.is_none_or(|given| group.as_deref() == Some(given))
    };
    same(request.protocol_type, &group.protocol_type)
        && same(request.protocol_name, &group.protocol_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode};
    use std::fmt::Debug;

    /// `value` is `body` at `version`, both ways.
    fn bytes<'a, T: Wire<'a> + PartialEq + Debug>(version: i16, body: &'a [u8], value: T) {
        crate::apis::assert_wire::<SyncGroup, T>(version, body, &value);
    }

    #[test]
    fn sync_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 2, // generation_id 2
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, // assignments: 1
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, 5, // assignment [5]
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![Assignment {
                member_id: "m",
                assignment: &[5],
            }],
        };
        bytes(0, &body, expected);
    }

    #[test]
    fn sync_group_v5_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0, 2, // generation_id 2
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            2, b'c', // protocol_type "c"
            2, b'r', // protocol_name "r"
            2,    // assignments: 1 (compact)
            2, b'm', // member_id "m"
            2, 5, // assignment [5] (compact)
            0, // assignment tags
            0, // tags
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: None,
            protocol_type: Some("c"),
            protocol_name: Some("r"),
            assignments: vec![Assignment {
                member_id: "m",
                assignment: &[5],
            }],
        };
        bytes(5, &body, expected.clone());
        let v5 = SyncGroup::SPEC.ver(5);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode::<Request>(&tagged, v5), Ok(expected));
    }

    #[test]
    fn sync_group_v0_response_bytes() {
        let response = Response {
            assignment: vec![5, 6],
            ..Response::default()
        };
        let body = [
            0, 0, // error_code 0 (no throttle_time_ms in v0)
            0, 0, 0, 2, 5, 6, // assignment [5, 6]
        ];
        bytes(0, &body, response);
    }

    #[test]
    fn sync_group_v5_response_bytes() {
        let response = Response {
            error_code: 27,
            protocol_type: Some("c".into()),
            ..Response::default()
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 27, // error_code REBALANCE_IN_PROGRESS
            2, b'c', // protocol_type "c"
            0,    // protocol_name null
            1,    // assignment empty (compact)
            0,    // tags
        ];
        bytes(5, &body, response);
    }
}
