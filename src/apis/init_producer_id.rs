//! InitProducerId (key 22): an idempotent producer gets a producer id and epoch, a
//! transactional one the stable producer id of its transactional id and the next epoch
//! (which fences older instances). We serve versions 0-6, flexible from v2.
//! - v0: transactional_id (null for an idempotent producer) and transaction_timeout_ms; the
//!   response gives the producer id and epoch. v1: no change on the wire.
//! - v2: first flexible version.
//! - v3: the request's producer_id and producer_epoch, so that a producer can resume after
//!   INVALID_PRODUCER_EPOCH by bumping its epoch (KIP-360).
//! - v4: may return PRODUCER_FENCED. v5: may return TRANSACTION_ABORTABLE (KIP-890).
//! - v6: enable_2pc and keep_prepared_txn (two-phase commit, KIP-939); the response adds the
//!   ongoing transaction's producer id and epoch. Two-phase commit is off here, as by default
//!   in Kafka (`transaction.two.phase.commit.enable=false`): enable_2pc is refused with
//!   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, and keep_prepared_txn (meaningful only with it)
//!   is ignored, so the ongoing fields stay -1.
//!
//! A transactional id (the coordinator, src/transactions.rs): empty is INVALID_REQUEST; a
//! timeout outside 1..=`transaction.max.timeout.ms` is INVALID_TRANSACTION_TIMEOUT; a
//! producer id and epoch given (v3+) that are not the id's are PRODUCER_FENCED
//! (INVALID_PRODUCER_EPOCH before v4, as Kafka's KafkaApis maps it); one of them -1 but
//! not both is INVALID_REQUEST; a transaction being completed is CONCURRENT_TRANSACTIONS; an
//! ongoing transaction is aborted (its epoch bumped, so its producer is fenced) and the
//! answer is CONCURRENT_TRANSACTIONS, so the client retries and gets the next epoch.

use super::{Answer, Api, Context, txn_common};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::transactions as txn;

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
        enable_2pc: bool = "6+",
        keep_prepared_txn: bool = "6+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        producer_id: i64 = "0+" default NO_PRODUCER_ID,
        producer_epoch: i16 = "0+",
        ongoing_txn_producer_id: i64 = "6+" default NO_PRODUCER_ID,
        ongoing_txn_producer_epoch: i16 = "6+" default NO_PRODUCER_EPOCH,
    }
}

pub struct InitProducerId;

impl Api for InitProducerId {
    const SPEC: ApiSpec = ApiSpec::new(22, "InitProducerId", "0-6", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    /// A new producer id, or the next epoch of a known one (v3+ re-initialisation).
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut response = Response {
            producer_epoch: NO_PRODUCER_EPOCH,
            ..Response::default()
        };
        if let Some(id) = request.transactional_id {
            if ctx.authorize(op::WRITE, resource::TRANSACTIONAL_ID, id) {
                init_transactional(ctx, id, &request, &mut response);
            } else {
                response.error_code = TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            }
            if response.error_code != error::NONE {
                response.producer_id = NO_PRODUCER_ID;
                response.producer_epoch = NO_PRODUCER_EPOCH;
            }
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

/// InitProducerId of a transactional id (Kafka's TransactionCoordinator.handleInitProducerId).
fn init_transactional(ctx: &mut Context, id: &str, request: &Request, response: &mut Response) {
    let config = ctx.coordinator.transactions.config;
    let expected = match (request.producer_id, request.producer_epoch) {
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
        (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => {
            response.error_code = error::INVALID_REQUEST;
            return;
        }
        given => Some(given),
    };
    response.error_code = if request.enable_2pc {
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    } else if id.is_empty() {
        error::INVALID_REQUEST
    } else if request.transaction_timeout_ms <= 0
        || request.transaction_timeout_ms > config.max_timeout_ms
    {
        txn::INVALID_TRANSACTION_TIMEOUT
    } else {
        match start(ctx, id, request.transaction_timeout_ms, expected) {
            Ok((producer_id, producer_epoch)) => {
                response.producer_id = producer_id;
                response.producer_epoch = producer_epoch;
                error::NONE
            }
            Err(code) => txn::fenced_for(code, ctx.version, 4),
        }
    };
}

/// The coordinator's step, written before it is answered.
fn start(
    ctx: &mut Context,
    id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> Result<(i64, i16), error::ErrorCode> {
    let storage = &mut *ctx.storage;
    let mut new_producer_id = || match storage.allocate_producer_id() {
        Ok(id) => Some(id),
        Err(e) => {
            log::error!("allocating a producer id: {e}");
            None
        }
    };
    let now_ms = crate::storage::now_ms();
    let txns = &mut ctx.coordinator.transactions;
    match txns.prepare_init(id, timeout_ms, expected, now_ms, &mut new_producer_id)? {
        txn::InitStep::Write(meta) => {
            let answer = (meta.producer_id, meta.producer_epoch);
            txn_common::write_state(ctx.storage, txns, id, meta)?;
            log::info!(
                "Initialized transactionalId {id} with producerId {} and producer epoch {}",
                answer.0,
                answer.1
            );
            Ok(answer)
        }
        txn::InitStep::Fence(meta) => {
            log::info!("transactional id {id} re-initialised: aborting its ongoing transaction");
            txn_common::write_state(ctx.storage, txns, id, meta)?;
            Err(txn::CONCURRENT_TRANSACTIONS)
        }
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
                ..Request::default()
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
                ..Request::default()
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

    #[test]
    fn init_producer_id_v6_bytes() {
        let body = [
            0x03, b't', b'x', // transactional_id "tx"
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1
            0xff, 0xff, // producer_epoch -1
            0x01, 0x00, // enable_2pc true, keep_prepared_txn false
            0x00, // tags
        ];
        let request: Request = decode(&body, ver(6)).unwrap();
        assert!(request.enable_2pc && !request.keep_prepared_txn);
        let response = Response {
            producer_id: 9,
            producer_epoch: 3,
            ..Response::default()
        };
        let mut out = Vec::new();
        encode(&response, ver(6), &mut out).unwrap();
        let expected = [
            0, 0, 0, 0, 0, 0, // throttle_time_ms, error_code
            0, 0, 0, 0, 0, 0, 0, 9, 0, 3, // producer_id 9, epoch 3
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // ongoing: -1, -1
            0x00, // tags
        ];
        assert_eq!(out, expected);
    }
}
