//! Heartbeat (key 12): a group member tells its coordinator it is alive; the answer says
//! whether a rebalance is under way (REBALANCE_IN_PROGRESS) or the member is unknown or out
//! of date.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire.
//! - v3: the request adds group_instance_id (static membership, KIP-345).
//! - v4: first flexible version.

use super::{Answer, Api, Context};
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
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "0+",
    }
}

pub struct Heartbeat;

impl Api for Heartbeat {
    const SPEC: ApiSpec = ApiSpec::new(12, "Heartbeat", "0-4", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let error_code = if !ctx.authorize(op::READ, resource::GROUP, request.group_id) {
            error::GROUP_AUTHORIZATION_FAILED
        } else {
            ctx.coordinator.heartbeat(
                request.group_id,
                request.member_id,
                request.generation_id,
                ctx.now,
            )
        };
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Ver, decode, encode};

    const V4: Ver = Ver {
        version: 4,
        flexible: true,
    };

    #[test]
    fn heartbeat_v4_request_bytes_and_unknown_tag() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0, 7, // generation_id 7
            2, b'm', // member_id "m"
            3, b'i', b'1', // group_instance_id "i1"
            1, 9, 2, 0xab, 0xcd, // one unknown tagged field (tag 9, 2 bytes): skipped
        ];
        let request: Request = decode(&body, V4).unwrap();
        assert_eq!(
            request,
            Request {
                group_id: "g",
                generation_id: 7,
                member_id: "m",
                group_instance_id: Some("i1"),
            }
        );
    }

    #[test]
    fn heartbeat_v0_response_has_no_throttle_time() {
        let mut out = Vec::new();
        let v0 = Ver {
            version: 0,
            flexible: false,
        };
        let response = Response {
            throttle_time_ms: 5,
            error_code: 27,
        };
        encode(&response, v0, &mut out).unwrap();
        assert_eq!(out, [0, 27]);
    }
}
