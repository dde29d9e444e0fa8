//! AddPartitionsToTxn (key 24): a transactional producer adds partitions to its ongoing
//! transaction before it writes to them (and a partition leader verifies, KIP-890 part 1).
//! Versions 0-5, flexible from v3.
//! - v0: one transaction (transactional id, producer id and epoch, topics); per-partition
//!   errors. v1 is v0. v2 may answer PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before).
//! - v3: flexible.
//! - v4: batched, for brokers: a list of transactions, each with verify_only (check that the
//!   partitions are in the transaction rather than add them); a top-level error code and
//!   results by transaction.
//! - v5 may answer TRANSACTION_ABORTABLE (KIP-890).
//!
//! As Kafka's KafkaApis: a partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION and
//! the transaction's other partitions OPERATION_NOT_ATTEMPTED (nothing is added); otherwise
//! the coordinator's one answer goes to every partition (verify_only: its answer for each).

use std::collections::BTreeSet;

use super::{Answer, Api, Context, txn_common};
use crate::message;
use crate::protocol::error::{self, ErrorCode};
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::transactions as txn;

message! {
    pub struct Request<'a> {
        transactions: Vec<Transaction<'a>> = "4+",
        v3_and_below_transactional_id: &'a str = "0-3",
        v3_and_below_producer_id: i64 = "0-3",
        v3_and_below_producer_epoch: i16 = "0-3",
        v3_and_below_topics: Vec<Topic<'a>> = "0-3",
    }

    pub struct Transaction<'a> {
        transactional_id: &'a str = "4+",
        producer_id: i64 = "4+",
        producer_epoch: i16 = "4+",
        verify_only: bool = "4+",
        topics: Vec<Topic<'a>> = "4+",
    }

    pub struct Topic<'a> {
        name: &'a str = "0+",
        partitions: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "4+",
        results_by_transaction: Vec<TransactionResult> = "4+",
        results_by_topic_v3_and_below: Vec<TopicResult> = "0-3",
    }

    pub struct TransactionResult {
        transactional_id: String = "4+",
        topic_results: Vec<TopicResult> = "4+",
    }

    pub struct TopicResult {
        name: String = "0+",
        results_by_partition: Vec<PartitionResult> = "0+",
    }

    pub struct PartitionResult {
        partition_index: i32 = "0+",
        partition_error_code: i16 = "0+",
    }
}

pub struct AddPartitionsToTxn;

impl Api for AddPartitionsToTxn {
    const SPEC: ApiSpec = ApiSpec::new(24, "AddPartitionsToTxn", "0-5", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if ctx.version <= 3 {
            let one = Transaction {
                transactional_id: request.v3_and_below_transactional_id,
                producer_id: request.v3_and_below_producer_id,
                producer_epoch: request.v3_and_below_producer_epoch,
                verify_only: false,
                topics: request.v3_and_below_topics,
            };
            let result = add(ctx, &one);
            return Answer::Respond(Response {
                results_by_topic_v3_and_below: result.topic_results,
                ..Response::default()
            });
        }
        // v4+ is the brokers' batched form: a cluster action (KafkaApis).
        if !ctx.authorize_cluster(op::CLUSTER_ACTION) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Response::default()
            });
        }
        let results_by_transaction = request
            .transactions
            .iter()
            .map(|transaction| add(ctx, transaction))
            .collect();
        Answer::Respond(Response {
            results_by_transaction,
            ..Response::default()
        })
    }
}

/// The request's partitions, in its order, without repeats.
fn partitions_of(transaction: &Transaction) -> Vec<(String, i32)> {
    let mut seen = BTreeSet::new();
    transaction
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

fn add(ctx: &mut Context, transaction: &Transaction) -> TransactionResult {
    let partitions = partitions_of(transaction);
    let id = transaction.transactional_id;
    let set: BTreeSet<(String, i32)> = partitions.iter().cloned().collect();
    let unknown = txn_common::unknown_partitions(ctx.storage, &set);
    // As KafkaApis: WRITE on the transactional id, then on every topic.
    let unauthorized: BTreeSet<&str> = partitions
        .iter()
        .map(|(topic, _)| topic.as_str())
        .filter(|topic| !ctx.authorize(op::WRITE, resource::TOPIC, topic))
        .collect();
    let codes: Vec<ErrorCode> = if !ctx.authorize(op::WRITE, resource::TRANSACTIONAL_ID, id) {
        vec![error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED; partitions.len()]
    } else if !unknown.is_empty() || !unauthorized.is_empty() {
        partitions
            .iter()
            .map(|p| {
                if unauthorized.contains(p.0.as_str()) {
                    error::TOPIC_AUTHORIZATION_FAILED
                } else if unknown.contains(p) {
                    error::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    txn::OPERATION_NOT_ATTEMPTED
                }
            })
            .collect()
    } else if id.is_empty() {
        vec![error::INVALID_REQUEST; partitions.len()]
    } else if transaction.verify_only {
        let txns = &ctx.coordinator.transactions;
        match txns.verify(
            id,
            transaction.producer_id,
            transaction.producer_epoch,
            &partitions,
        ) {
            Ok(codes) => codes,
            Err(code) => vec![code; partitions.len()],
        }
    } else {
        let code = match add_to_transaction(ctx, id, transaction, &set) {
            Ok(()) => error::NONE,
            Err(code) => txn::fenced_for(code, ctx.version, 2),
        };
        vec![code; partitions.len()]
    };
    TransactionResult {
        transactional_id: id.to_string(),
        topic_results: group_by_topic(&partitions, &codes),
    }
}

fn add_to_transaction(
    ctx: &mut Context,
    id: &str,
    transaction: &Transaction,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<(), ErrorCode> {
    let txns = &mut ctx.coordinator.transactions;
    let now_ms = crate::storage::now_ms();
    let (pid, epoch) = (transaction.producer_id, transaction.producer_epoch);
    match txns.prepare_add(id, pid, epoch, partitions, now_ms)? {
        None => Ok(()),
        Some(meta) => txn_common::write_state(ctx.storage, txns, id, meta),
    }
}

/// Per-partition codes as the response's topics, in the request's order.
pub fn group_by_topic(partitions: &[(String, i32)], codes: &[ErrorCode]) -> Vec<TopicResult> {
    let mut topics: Vec<TopicResult> = Vec::new();
    // Each topic's place in `topics`: one lookup per partition, not a scan of the topics.
    let mut places: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for ((topic, partition), code) in partitions.iter().zip(codes) {
        let result = PartitionResult {
            partition_index: *partition,
            partition_error_code: *code,
        };
        match places.get(topic.as_str()) {
            Some(&at) => topics[at].results_by_partition.push(result),
            None => {
                places.insert(topic, topics.len());
                topics.push(TopicResult {
                    name: topic.clone(),
                    results_by_partition: vec![result],
                });
            }
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn add_partitions_to_txn_v0_request_and_response_bytes() {
        let body = [
            0, 2, b't', b'x', // v3_and_below_transactional_id "tx"
            0, 0, 0, 0, 0, 0, 0, 7, // producer_id 7
            0, 1, // producer_epoch 1
            0, 0, 0, 1, 0, 1, b't', // topics: 1, name "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, // partitions [0, 3]
        ];
        let request = Request {
            v3_and_below_transactional_id: "tx",
            v3_and_below_producer_id: 7,
            v3_and_below_producer_epoch: 1,
            v3_and_below_topics: vec![Topic {
                name: "t",
                partitions: vec![0, 3],
            }],
            ..Request::default()
        };
        assert_wire::<AddPartitionsToTxn, _>(0, &body, &request);
        let response = Response {
            results_by_topic_v3_and_below: group_by_topic(
                &[("t".into(), 0), ("t".into(), 3)],
                &[0, 51],
            ),
            ..Response::default()
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, 0, 1, b't', // results: 1, name "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, // partition 0: NONE
            0, 0, 0, 3, 0, 51, // partition 3: CONCURRENT_TRANSACTIONS
        ];
        assert_wire::<AddPartitionsToTxn, _>(0, &body, &response);
    }

    #[test]
    fn add_partitions_to_txn_v4_request_and_response_bytes() {
        let body = [
            2, // transactions: 1 (compact)
            3, b't', b'x', // transactional_id "tx"
            0, 0, 0, 0, 0, 0, 0, 7, // producer_id 7
            0, 1, // producer_epoch 1
            1, // verify_only true
            2, 2, b't', 2, 0, 0, 0, 5, 0, // topics: "t" [5], tags
            0, // transaction tags
            0, // body tags
        ];
        let request = Request {
            transactions: vec![Transaction {
                transactional_id: "tx",
                producer_id: 7,
                producer_epoch: 1,
                verify_only: true,
                topics: vec![Topic {
                    name: "t",
                    partitions: vec![5],
                }],
            }],
            ..Request::default()
        };
        assert_wire::<AddPartitionsToTxn, _>(4, &body, &request);
        let response = Response {
            results_by_transaction: vec![TransactionResult {
                transactional_id: "tx".into(),
                topic_results: group_by_topic(&[("t".into(), 5)], &[48]),
            }],
            ..Response::default()
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, // error_code
            2, 3, b't', b'x', // results_by_transaction: 1, "tx"
            2, 2, b't', // topic_results: 1, "t"
            2, 0, 0, 0, 5, 0, 48, 0, // partition 5: INVALID_TXN_STATE, tags
            0, 0, 0, // topic, transaction and body tags
        ];
        assert_wire::<AddPartitionsToTxn, _>(5, &body, &response);
    }
}
