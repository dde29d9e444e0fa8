//! EndTxn (key 26): a transactional producer commits or aborts its transaction. Versions
//! 0-5, flexible from v3.
//! - v0: transactional id, producer id and epoch, committed; one error code. v1 is v0.
//! - v2 may answer PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before). v3: flexible.
//! - v4 may answer TRANSACTION_ABORTABLE (KIP-890).
//! - v5 (KIP-890 part 2, transaction version 2): the epoch is bumped at every end, and the
//!   response gives the producer id and the new epoch. A retry of an end already done is
//!   recognised by its epoch (the one before the bump).
//!
//! As Kafka: the answer follows the durable PrepareCommit/PrepareAbort (our turn's fsync);
//! the markers and the Complete state are written by the broker's timer right after
//! (txn_common). Meanwhile the id's requests get CONCURRENT_TRANSACTIONS. Errors: an
//! unknown id or another producer id INVALID_PRODUCER_ID_MAPPING, another epoch
//! PRODUCER_FENCED, an end that does not fit the state INVALID_TXN_STATE (a retried end
//! already complete is NONE), an empty id INVALID_REQUEST.

use super::{Answer, Api, Context, txn_common};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::transactions::{self as txn, EndStep, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

/// The first version of transaction version 2 (an epoch bump per transaction).
const EPOCH_BUMP_VERSION: i16 = 5;

message! {
    pub struct Request<'a> {
        transactional_id: &'a str = "0+",
        producer_id: i64 = "0+",
        producer_epoch: i16 = "0+",
        committed: bool = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        producer_id: i64 = "5+" default NO_PRODUCER_ID,
        producer_epoch: i16 = "5+" default NO_PRODUCER_EPOCH,
    }
}

pub struct EndTxn;

impl Api for EndTxn {
    const SPEC: ApiSpec = ApiSpec::new(26, "EndTxn", "0-5", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut response = Response::default();
        if !ctx.authorize(
            op::WRITE,
            resource::TRANSACTIONAL_ID,
            request.transactional_id,
        ) {
            response.error_code = error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            return Answer::Respond(response);
        }
        if request.transactional_id.is_empty() {
            response.error_code = error::INVALID_REQUEST;
            return Answer::Respond(response);
        }
        match end(ctx, &request) {
            Ok((producer_id, producer_epoch)) => {
                response.producer_id = producer_id;
                response.producer_epoch = producer_epoch;
            }
            Err(code) => response.error_code = txn::fenced_for(code, ctx.version, 2),
        }
        Answer::Respond(response)
    }
}

fn end(ctx: &mut Context, request: &Request) -> Result<(i64, i16), error::ErrorCode> {
    let id = request.transactional_id;
    let txns = &mut ctx.coordinator.transactions;
    let step = txns.prepare_end(
        id,
        request.producer_id,
        request.producer_epoch,
        request.committed,
        ctx.version >= EPOCH_BUMP_VERSION,
        crate::storage::now_ms(),
    )?;
    match step {
        EndStep::Done(producer_id, epoch) => Ok((producer_id, epoch)),
        EndStep::Write(meta) => {
            let answer = (meta.producer_id, meta.producer_epoch);
            txn_common::write_state(ctx.storage, txns, id, meta)?;
            Ok(answer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn end_txn_v0_and_v5_bytes() {
        let request = Request {
            transactional_id: "tx",
            producer_id: 7,
            producer_epoch: 1,
            committed: true,
        };
        let v0 = [0, 2, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 1];
        assert_wire::<EndTxn, _>(0, &v0, &request);
        let v5 = [3, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 1, 0];
        assert_wire::<EndTxn, _>(5, &v5, &request);
        let response = Response {
            producer_id: 7,
            producer_epoch: 2,
            ..Response::default()
        };
        // v1: throttle and error only; v5 adds the producer id and epoch, then tags.
        assert_wire::<EndTxn, _>(1, &[0, 0, 0, 0, 0, 0], &Response::default());
        let v5 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 0];
        assert_wire::<EndTxn, _>(5, &v5, &response);
    }
}
