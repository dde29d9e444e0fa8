//! TxnOffsetCommit (key 28): a transactional producer commits a group's offsets inside its
//! transaction (consume-transform-produce, KIP-98 and KIP-447). Versions 0-5, flexible from
//! v3.
//! - v0: transactional id, group id, producer id and epoch, topics with offsets and
//!   metadata. v1 is v0. v2 adds each partition's committed leader epoch.
//! - v3: flexible; the consumer's generation id, member id and group instance id (KIP-447),
//!   so a zombie member's commit is refused (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID).
//! - v4 may answer TRANSACTION_ABORTABLE (KIP-890).
//! - v5 (transaction version 2): the group's `__consumer_offsets` partition joins the
//!   transaction implicitly (no AddOffsetsToTxn needed), as Kafka does for a v5 commit.
//!
//! The offsets are written to the group's `__consumer_offsets` partition as a transactional
//! batch of the producer; OffsetFetch sees them only once the COMMIT marker is written there
//! (an ABORT drops them), and a restart replays them the same way (storage/txn_log.rs).
//! Checks, as Kafka's group coordinator: an empty group id is INVALID_GROUP_ID; the
//! transaction must own the producer id (INVALID_PRODUCER_ID_MAPPING) and epoch
//! (INVALID_PRODUCER_EPOCH) and hold the group's partition (INVALID_TXN_STATE, before v5);
//! a generation of -1 skips the member check (older producers send none); metadata over
//! 4096 bytes is OFFSET_METADATA_TOO_LARGE for that partition.

use std::collections::BTreeSet;

use super::{Answer, Api, Context, txn_common};
use crate::message;
use crate::protocol::error::{self, ErrorCode};
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::offsets::{self, Committed};
use crate::transactions as txn;

const METADATA_BYTES_MAX: usize = 4096;
const OFFSET_METADATA_TOO_LARGE: ErrorCode = 12;
/// The version from which the group's partition is added implicitly (transaction version 2).
const IMPLICIT_ADD_VERSION: i16 = 5;

message! {
    pub struct Request<'a> {
        transactional_id: &'a str = "0+",
        group_id: &'a str = "0+",
        producer_id: i64 = "0+",
        producer_epoch: i16 = "0+",
        generation_id: i32 = "3+" default -1,
        member_id: &'a str = "3+",
        group_instance_id: Option<&'a str> = "3+" null "3+",
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0+",
        partitions: Vec<RequestPartition<'a>> = "0+",
    }

    pub struct RequestPartition<'a> {
        partition_index: i32 = "0+",
        committed_offset: i64 = "0+",
        committed_leader_epoch: i32 = "2+" default -1,
        committed_metadata: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        topics: Vec<ResponseTopic> = "0+",
    }

    pub struct ResponseTopic {
        name: String = "0+",
        partitions: Vec<ResponsePartition> = "0+",
    }

    pub struct ResponsePartition {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
    }
}

pub struct TxnOffsetCommit;

impl Api for TxnOffsetCommit {
    const SPEC: ApiSpec = ApiSpec::new(28, "TxnOffsetCommit", "0-5", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        // As KafkaApis: WRITE on the transactional id, READ on the group (every partition
        // gets the code), then READ on each topic.
        let refused =
            txn_common::authorize_txn_group(ctx, request.transactional_id, request.group_id);
        let group_error = if let Some(code) = refused {
            code
        } else if request.group_id.is_empty() {
            error::INVALID_GROUP_ID
        } else if let Err(code) = check_transaction(ctx, &request) {
            code
        } else {
            check_member(ctx, &request)
        };
        let now_ms = crate::storage::now_ms();
        let mut commits = Vec::new();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let metadata = p.committed_metadata.unwrap_or("");
                let error_code = if group_error != error::NONE {
                    group_error
                } else if !ctx.authorize(op::READ, resource::TOPIC, topic.name) {
                    error::TOPIC_AUTHORIZATION_FAILED
                } else if (ctx.storage.topic(topic.name))
                    .and_then(|t| t.partition(p.partition_index))
                    .is_none()
                {
                    // As Kafka's KafkaApis: a partition the metadata does not hold.
                    error::UNKNOWN_TOPIC_OR_PARTITION
                } else if metadata.len() > METADATA_BYTES_MAX {
                    OFFSET_METADATA_TOO_LARGE
                } else {
                    commits.push((
                        topic.name.to_string(),
                        p.partition_index,
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: metadata.to_string(),
                            commit_timestamp: now_ms,
                        },
                    ));
                    error::NONE
                };
                partitions.push(ResponsePartition {
                    partition_index: p.partition_index,
                    error_code,
                });
            }
            topics.push(ResponseTopic {
                name: topic.name.to_string(),
                partitions,
            });
        }
        let written = ctx.storage.write_txn_offsets(
            request.group_id,
            request.producer_id,
            request.producer_epoch,
            commits,
        );
        if let Err(e) = written {
            log::error!("transactional offsets of group {}: {e:?}", request.group_id);
            for partition in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if partition.error_code == error::NONE {
                    partition.error_code = error::UNKNOWN_SERVER_ERROR;
                }
            }
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

/// The producer's transaction must hold the group's partition (v5: it is added now).
fn check_transaction(ctx: &mut Context, request: &Request) -> Result<(), ErrorCode> {
    let id = request.transactional_id;
    if id.is_empty() {
        return Err(error::INVALID_REQUEST);
    }
    let partition = (
        offsets::TOPIC.to_string(),
        ctx.storage.offsets_partition_for(request.group_id),
    );
    let (pid, epoch) = (request.producer_id, request.producer_epoch);
    let txns = &mut ctx.coordinator.transactions;
    let fenced = |code| match code {
        txn::PRODUCER_FENCED => error::INVALID_PRODUCER_EPOCH,
        code => code,
    };
    if ctx.version >= IMPLICIT_ADD_VERSION {
        let partitions = BTreeSet::from([partition]);
        let now_ms = crate::storage::now_ms();
        return match txns
            .prepare_add(id, pid, epoch, &partitions, now_ms)
            .map_err(fenced)?
        {
            None => Ok(()),
            Some(meta) => txn_common::write_state(ctx.storage, txns, id, meta),
        };
    }
    match txns.verify(id, pid, epoch, std::slice::from_ref(&partition)) {
        Ok(codes) => match codes.first() {
            Some(&error::NONE) => Ok(()),
            _ => Err(error::INVALID_TXN_STATE),
        },
        Err(code) => Err(fenced(code)),
    }
}

/// The consumer's membership (KIP-447): a generation of -1 is not checked.
fn check_member(ctx: &mut Context, request: &Request) -> ErrorCode {
    if request.generation_id < 0 {
        return error::NONE;
    }
    if let Some(code) = ctx.coordinator.consumer.check_commit(
        request.group_id,
        request.member_id,
        request.generation_id,
        9,
        ctx.now,
    ) {
        return match code {
            crate::consumer_groups::STALE_MEMBER_EPOCH => error::ILLEGAL_GENERATION,
            code => code,
        };
    }
    let has_members = ctx
        .coordinator
        .group(request.group_id)
        .is_some_and(|g| !g.members.is_empty());
    if !has_members {
        return error::ILLEGAL_GENERATION;
    }
    match ctx.coordinator.check_commit(
        request.group_id,
        request.member_id,
        request.group_instance_id,
        request.generation_id,
        ctx.now,
    ) {
        // Transactional commits are taken while the group rebalances (as Kafka).
        error::REBALANCE_IN_PROGRESS => error::NONE,
        code => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn txn_offset_commit_v0_request_bytes() {
        let body = [
            0, 2, b't', b'x', // transactional_id
            0, 1, b'g', // group_id
            0, 0, 0, 0, 0, 0, 0, 7, // producer_id
            0, 1, // producer_epoch
            0, 0, 0, 1, 0, 1, b't', // topics: 1, "t"
            0, 0, 0, 1, 0, 0, 0, 2, // partitions: 1, index 2
            0, 0, 0, 0, 0, 0, 0, 9, // committed_offset 9
            0xff, 0xff, // committed_metadata null
        ];
        let request = Request {
            transactional_id: "tx",
            group_id: "g",
            producer_id: 7,
            producer_epoch: 1,
            topics: vec![RequestTopic {
                name: "t",
                partitions: vec![RequestPartition {
                    partition_index: 2,
                    committed_offset: 9,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            }],
            ..Request::default()
        };
        assert_wire::<TxnOffsetCommit, _>(0, &body, &request);
    }

    #[test]
    fn txn_offset_commit_v3_request_and_response_bytes() {
        let body = [
            3, b't', b'x', 2, b'g', // transactional_id, group_id
            0, 0, 0, 0, 0, 0, 0, 7, 0, 1, // producer_id, producer_epoch
            0, 0, 0, 4, // generation_id 4
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            2, 2, b't', // topics: 1, "t"
            2, 0, 0, 0, 2, // partitions: 1, index 2
            0, 0, 0, 0, 0, 0, 0, 9, // committed_offset
            0, 0, 0, 3, // committed_leader_epoch 3
            1, // committed_metadata ""
            0, 0, 0, // partition, topic, body tags
        ];
        let request = Request {
            transactional_id: "tx",
            group_id: "g",
            producer_id: 7,
            producer_epoch: 1,
            generation_id: 4,
            member_id: "m",
            group_instance_id: None,
            topics: vec![RequestTopic {
                name: "t",
                partitions: vec![RequestPartition {
                    partition_index: 2,
                    committed_offset: 9,
                    committed_leader_epoch: 3,
                    committed_metadata: Some(""),
                }],
            }],
        };
        assert_wire::<TxnOffsetCommit, _>(3, &body, &request);
        let response = Response {
            throttle_time_ms: 0,
            topics: vec![ResponseTopic {
                name: "t".into(),
                partitions: vec![ResponsePartition {
                    partition_index: 2,
                    error_code: 48,
                }],
            }],
        };
        let body = [
            0, 0, 0, 0, 2, 2, b't', 2, 0, 0, 0, 2, 0, 48, 0, 0, 0, // compact, tags
        ];
        assert_wire::<TxnOffsetCommit, _>(5, &body, &response);
    }
}
