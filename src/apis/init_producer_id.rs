//! InitProducerId (key 22): an idempotent producer gets a producer id and epoch. We serve
//! versions 0-5, flexible from v2.
//! - v0: transactional_id (null for an idempotent producer) and transaction_timeout_ms; the
//!   response gives the producer id and epoch. v1: no change on the wire.
//! - v2: first flexible version.
//! - v3: the request's producer_id and producer_epoch, so that a producer can resume after
//!   INVALID_PRODUCER_EPOCH by bumping its epoch (KIP-360).
//! - v4: may return PRODUCER_FENCED. v5: may return TRANSACTION_ABORTABLE (KIP-890).
//! - v6 (two-phase commit, KIP-939; unstable in Kafka 4.2) is left to the transactions work.
//!
//! Transactions are not served: a transactional id is refused.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

/// A producer id or epoch that is not known (yet).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The (fatal) code a transactional id is refused with.
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

message! {
    pub struct Request<'a> {
        transactional_id: Option<&'a str> = "0+" null "0+",
        transaction_timeout_ms: i32 = "0+",
        producer_id: i64 = "3+" default NO_PRODUCER_ID,
        producer_epoch: i16 = "3+" default NO_PRODUCER_EPOCH,
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        producer_id: i64 = "0+" default NO_PRODUCER_ID,
        producer_epoch: i16 = "0+",
    }
}

pub struct InitProducerId;

impl Api for InitProducerId {
    const SPEC: ApiSpec = ApiSpec::new(22, "InitProducerId", "0-5", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    /// A new producer id, or the next epoch of a known one (v3+ re-initialisation).
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut response = Response {
            producer_epoch: NO_PRODUCER_EPOCH,
            ..Response::default()
        };
        if request.transactional_id.is_some_and(|t| !t.is_empty()) {
            response.error_code = TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        } else if !ctx.authorize_cluster(op::IDEMPOTENT_WRITE)
            && !ctx.authorize_any(op::WRITE, resource::TOPIC)
        {
            // An idempotent producer: IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
            response.error_code = error::CLUSTER_AUTHORIZATION_FAILED;
        } else if request.producer_id >= 0
            && request.producer_epoch >= 0
            && request.producer_epoch < i16::MAX - 1
        {
            response.producer_id = request.producer_id;
            response.producer_epoch = request.producer_epoch + 1;
        } else {
            match ctx.storage.allocate_producer_id() {
                Ok(id) => {
                    response.producer_id = id;
                    response.producer_epoch = 0;
                }
                Err(e) => {
                    log::error!("allocating a producer id: {e}");
                    response.error_code = error::UNKNOWN_SERVER_ERROR;
                }
            }
        }
        Answer::Respond(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn ver(version: i16) -> crate::protocol::wire::Ver {
        InitProducerId::SPEC.ver(version)
    }

    #[test]
    fn init_producer_id_v0_request_bytes() {
        let body = [
            0xff, 0xff, // transactional_id null (idempotent producer)
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms i32::MAX
        ];
        let request: Request = decode(&body, ver(0)).unwrap();
        assert_eq!(
            request,
            Request {
                transactional_id: None,
                transaction_timeout_ms: i32::MAX,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
            }
        );
    }

    #[test]
    fn init_producer_id_v4_request_bytes() {
        let body = [
            0x02, b't', // transactional_id "t" (compact)
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // producer_id 1000
            0, 5,    // producer_epoch 5
            0x00, // tags
        ];
        let request: Request = decode(&body, ver(4)).unwrap();
        assert_eq!(
            request,
            Request {
                transactional_id: Some("t"),
                transaction_timeout_ms: 60_000,
                producer_id: 1000,
                producer_epoch: 5,
            }
        );
    }

    #[test]
    fn init_producer_id_v0_and_v2_response_bytes() {
        let v0 = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0, 9, // producer_id 9
            0, 0, // producer_epoch 0
        ];
        let response = Response {
            producer_id: 9,
            ..Response::default()
        };
        let mut out = Vec::new();
        encode(&response, ver(0), &mut out).unwrap();
        assert_eq!(out, v0);
        let mut v2 = v0.to_vec();
        v2.push(0x00); // tags
        out.clear();
        encode(&response, ver(2), &mut out).unwrap();
        assert_eq!(out, v2);
    }
}
