//! AddOffsetsToTxn (key 25): a transactional producer about to commit a group's offsets in
//! its transaction (TxnOffsetCommit) adds the group's `__consumer_offsets` partition to the
//! transaction, so that the commit or abort marker reaches it. Versions 0-4, flexible from
//! v3.
//! - v0: transactional id, producer id and epoch, group id; one error code. v1 is v0.
//! - v2 may answer PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before). v3: flexible.
//! - v4 may answer TRANSACTION_ABORTABLE (KIP-890).
//!
//! Errors are AddPartitionsToTxn's for that one partition; an empty group id is
//! INVALID_GROUP_ID, an empty transactional id INVALID_REQUEST.

use std::collections::BTreeSet;

use super::{Answer, Api, Context, txn_common};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::storage::offsets;
use crate::transactions as txn;

message! {
    pub struct Request<'a> {
        transactional_id: &'a str = "0+",
        producer_id: i64 = "0+",
        producer_epoch: i16 = "0+",
        group_id: &'a str = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
    }
}

pub struct AddOffsetsToTxn;

impl Api for AddOffsetsToTxn {
    const SPEC: ApiSpec = ApiSpec::new(25, "AddOffsetsToTxn", "0-4", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let refused =
            txn_common::authorize_txn_group(ctx, request.transactional_id, request.group_id);
        let error_code = if let Some(code) = refused {
            code
        } else if request.transactional_id.is_empty() {
            error::INVALID_REQUEST
        } else if request.group_id.is_empty() {
            error::INVALID_GROUP_ID
        } else {
            match add(ctx, &request) {
                Ok(()) => error::NONE,
                Err(code) => txn::fenced_for(code, ctx.version, 2),
            }
        };
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code,
        })
    }
}

fn add(ctx: &mut Context, request: &Request) -> Result<(), error::ErrorCode> {
    let partition = ctx.storage.offsets_partition_for(request.group_id);
    let partitions = BTreeSet::from([(offsets::TOPIC.to_string(), partition)]);
    let id = request.transactional_id;
    let txns = &mut ctx.coordinator.transactions;
    let now_ms = crate::storage::now_ms();
    match txns.prepare_add(
        id,
        request.producer_id,
        request.producer_epoch,
        &partitions,
        now_ms,
    )? {
        None => Ok(()),
        Some(meta) => txn_common::write_state(ctx.storage, txns, id, meta),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn add_offsets_to_txn_v0_and_v3_bytes() {
        let request = Request {
            transactional_id: "tx",
            producer_id: 7,
            producer_epoch: 1,
            group_id: "g",
        };
        let v0 = [
            0, 2, b't', b'x', // transactional_id
            0, 0, 0, 0, 0, 0, 0, 7, // producer_id
            0, 1, // producer_epoch
            0, 1, b'g', // group_id
        ];
        assert_wire::<AddOffsetsToTxn, _>(0, &v0, &request);
        let v3 = [
            3, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 2, b'g', 0, // compact strings, tags
        ];
        assert_wire::<AddOffsetsToTxn, _>(3, &v3, &request);
        let response = Response {
            throttle_time_ms: 0,
            error_code: 90,
        };
        assert_wire::<AddOffsetsToTxn, _>(2, &[0, 0, 0, 0, 0, 90], &response);
        assert_wire::<AddOffsetsToTxn, _>(4, &[0, 0, 0, 0, 0, 90, 0], &response);
    }
}
