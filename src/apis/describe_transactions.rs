//! DescribeTransactions (key 65, KIP-664): the coordinator's state of transactional ids.
//! Version 0, flexible. An empty id is INVALID_REQUEST, an unknown (or expired) one
//! TRANSACTIONAL_ID_NOT_FOUND; otherwise the state's name, timeout, start time, producer id
//! and epoch, and the partitions of the transaction (those without a marker yet).

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::transactions as txn;

message! {
    pub struct Request<'a> {
        transactional_ids: Vec<&'a str> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        transaction_states: Vec<TransactionState> = "0+",
    }

    pub struct TransactionState {
        error_code: i16 = "0+",
        transactional_id: String = "0+",
        transaction_state: String = "0+",
        transaction_timeout_ms: i32 = "0+",
        transaction_start_time_ms: i64 = "0+",
        producer_id: i64 = "0+",
        producer_epoch: i16 = "0+",
        topics: Vec<TopicData> = "0+",
    }

    pub struct TopicData {
        topic: String = "0+",
        partitions: Vec<i32> = "0+",
    }
}

pub struct DescribeTransactions;

impl Api for DescribeTransactions {
    const SPEC: ApiSpec = ApiSpec::new(65, "DescribeTransactions", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let txns = &ctx.coordinator.transactions;
        let transaction_states = request
            .transactional_ids
            .iter()
            .map(|id| {
                if !ctx.authorize(op::DESCRIBE, resource::TRANSACTIONAL_ID, id) {
                    return TransactionState {
                        transactional_id: id.to_string(),
                        error_code: error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                        ..TransactionState::default()
                    };
                }
                let mut state = describe(txns, id);
                // Partitions of topics the principal may not describe are left out.
                state
                    .topics
                    .retain(|t| ctx.authorize(op::DESCRIBE, resource::TOPIC, &t.topic));
                state
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            transaction_states,
        })
    }
}

fn describe(txns: &txn::Transactions, id: &str) -> TransactionState {
    let mut state = TransactionState {
        transactional_id: id.to_string(),
        ..TransactionState::default()
    };
    let meta = match txns.get(id) {
        _ if id.is_empty() => {
            state.error_code = error::INVALID_REQUEST;
            return state;
        }
        None => {
            state.error_code = txn::TRANSACTIONAL_ID_NOT_FOUND;
            return state;
        }
        Some(meta) => meta,
    };
    for (topic, partition) in &meta.partitions {
        match state.topics.last_mut() {
            Some(last) if &last.topic == topic => last.partitions.push(*partition),
            _ => state.topics.push(TopicData {
                topic: topic.clone(),
                partitions: vec![*partition],
            }),
        }
    }
    TransactionState {
        transaction_state: meta.state.name().to_string(),
        transaction_timeout_ms: meta.timeout_ms,
        transaction_start_time_ms: meta.start_ms,
        producer_id: meta.producer_id,
        producer_epoch: meta.producer_epoch,
        ..state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn describe_transactions_v0_bytes() {
        let request = Request {
            transactional_ids: vec!["tx", ""],
        };
        assert_wire::<DescribeTransactions, _>(0, &[3, 3, b't', b'x', 1, 0], &request);
        let response = Response {
            throttle_time_ms: 0,
            transaction_states: vec![TransactionState {
                error_code: 0,
                transactional_id: "tx".into(),
                transaction_state: "Ongoing".into(),
                transaction_timeout_ms: 60_000,
                transaction_start_time_ms: 5,
                producer_id: 7,
                producer_epoch: 1,
                topics: vec![TopicData {
                    topic: "t".into(),
                    partitions: vec![0, 2],
                }],
            }],
        };
        let mut body = vec![0, 0, 0, 0, 2, 0, 0, 3, b't', b'x', 8];
        body.extend_from_slice(b"Ongoing");
        body.extend_from_slice(&[0, 0, 0xea, 0x60, 0, 0, 0, 0, 0, 0, 0, 5]);
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 0, 1]);
        body.extend_from_slice(&[2, 2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
        assert_wire::<DescribeTransactions, _>(0, &body, &response);
    }
}
