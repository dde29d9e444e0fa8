//! FindCoordinator (key 10): which broker coordinates a group (or a transactional id, or a
//! share-group partition key). We coordinate everything, so the answer is always us.
//! - v0: one key; the response's error_code, node_id, host and port.
//! - v1: the request adds key_type; the response throttle_time_ms and error_message.
//!   v2: no change on the wire.
//! - v3: first flexible version.
//! - v4: batching (KIP-699): the request's key gives way to coordinator_keys and the
//!   response's top-level fields to a coordinators array, one result per key.
//! - v5 (TRANSACTION_ABORTABLE, KIP-890) and v6 (key type SHARE, KIP-932): no change on the
//!   wire.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

/// FindCoordinator's key type for transactional ids (0 is a group).
const TRANSACTION: i8 = 1;

message! {
    pub struct Request<'a> {
        key: &'a str = "0-3",
        key_type: i8 = "1+",
        coordinator_keys: Vec<&'a str> = "4+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "0-3",
        error_message: Option<String> = "1-3" null "1-3",
        node_id: i32 = "0-3",
        host: String = "0-3",
        port: i32 = "0-3",
        coordinators: Vec<Coordinator> = "4+",
    }

    pub struct Coordinator {
        key: String = "4+",
        node_id: i32 = "4+",
        host: String = "4+",
        port: i32 = "4+",
        error_code: i16 = "4+",
        error_message: Option<String> = "4+" null "4+",
    }
}

pub struct FindCoordinator;

impl Api for FindCoordinator {
    const SPEC: ApiSpec = ApiSpec::new(10, "FindCoordinator", "0-6", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let me = super::metadata::advertised_broker(ctx);
        // DESCRIBE on the group or transactional id the key names, as KafkaApis checks it.
        let denied = |key: &str| match request.key_type {
            TRANSACTION if !ctx.authorize(op::DESCRIBE, resource::TRANSACTIONAL_ID, key) => {
                Some(error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            }
            TRANSACTION => None,
            _ if !ctx.authorize(op::DESCRIBE, resource::GROUP, key) => {
                Some(error::GROUP_AUTHORIZATION_FAILED)
            }
            _ => None,
        };
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| match denied(key) {
                Some(code) => Coordinator {
                    key: key.to_string(),
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                    error_code: code,
                    error_message: None,
                },
                None => Coordinator {
                    key: key.to_string(),
                    node_id: me.node_id,
                    host: me.host.clone(),
                    port: me.port,
                    error_code: error::NONE,
                    error_message: None,
                },
            })
            .collect();
        if ctx.version < 4
            && let Some(code) = denied(request.key)
        {
            return Answer::Respond(Response {
                error_code: code,
                node_id: -1,
                port: -1,
                ..Response::default()
            });
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            error_message: None,
            node_id: me.node_id,
            host: me.host,
            port: me.port,
            coordinators,
        })
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
        crate::apis::assert_wire::<FindCoordinator, T>(version, bytes, value);
    }

    #[test]
    fn find_coordinator_v0_v3_and_v4_request_bytes() {
        let request = |key, key_type, coordinator_keys| Request {
            key,
            key_type,
            coordinator_keys,
        };
        both_ways(0, &[0, 1, b'g'], &request("g", 0, vec![]));
        // Compact key "g", key_type TRANSACTION, tags.
        both_ways(3, &[2, b'g', 1, 0], &request("g", 1, vec![]));
        // key_type GROUP, coordinator_keys ["a", "b"] (compact), tags.
        let v4 = [0, 3, 2, b'a', 2, b'b', 0];
        both_ways(4, &v4, &request("", 0, vec!["a", "b"]));
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let tagged = [0, 3, 2, b'a', 2, b'b', 1, 9, 2, 0xab, 0xcd];
        let v = FindCoordinator::SPEC.ver(4);
        assert_eq!(
            decode::<Request>(&tagged, v).unwrap(),
            request("", 0, vec!["a", "b"])
        );
    }

    #[test]
    fn find_coordinator_v0_v1_and_v4_response_bytes() {
        let response = Response {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            ..Response::default()
        };
        let v0 = [
            0, 0, // error_code 0
            0, 0, 0, 1, // node_id 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
        ];
        both_ways(0, &v0, &response);
        let v1 = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0xff, 0xff, // error_message null
            0, 0, 0, 1, // node_id 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
        ];
        both_ways(1, &v1, &response);
        let response = Response {
            coordinators: vec![Coordinator {
                key: "g".into(),
                node_id: 1,
                host: "h".into(),
                port: 9092,
                error_code: 0,
                error_message: None,
            }],
            ..Response::default()
        };
        let v4 = [
            0, 0, 0, 0, // throttle_time_ms 0
            2, // coordinators: 1 (compact)
            2, b'g', // key "g"
            0, 0, 0, 1, // node_id 1
            2, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0, 0, // error_code 0
            0, // error_message null
            0, // coordinator tags
            0, // tags
        ];
        both_ways(4, &v4, &response);
    }
}
