//! ListTransactions (key 66, KIP-664): the transactional ids this coordinator knows, with
//! their producer id and state. Versions 0-2, flexible.
//! - v0: filters by state names and producer ids (empty: all); state names the coordinator
//!   does not know come back in unknown_state_filters.
//! - v1 (KIP-994): duration_filter: only transactions running longer than that many ms.
//! - v2 (KIP-1152): transactional_id_pattern, a regular expression (RE2 syntax, whole ids)
//!   the id must match; an invalid one is INVALID_REGULAR_EXPRESSION.
//!
//! Expired ids (Dead) are never listed.

use std::collections::BTreeSet;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::transactions::{Transactions, TxnState};

const INVALID_REGULAR_EXPRESSION: i16 = 128;

message! {
    pub struct Request<'a> {
        state_filters: Vec<&'a str> = "0+",
        producer_id_filters: Vec<i64> = "0+",
        duration_filter: i64 = "1+" default -1,
        transactional_id_pattern: Option<&'a str> = "2+" null "2+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        unknown_state_filters: Vec<String> = "0+",
        transaction_states: Vec<TransactionState> = "0+",
    }

    pub struct TransactionState {
        transactional_id: String = "0+",
        producer_id: i64 = "0+",
        transaction_state: String = "0+",
    }
}

pub struct ListTransactions;

impl Api for ListTransactions {
    const SPEC: ApiSpec = ApiSpec::new(66, "ListTransactions", "0-2", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let pattern = match request.transactional_id_pattern.filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match crate::topic_regex::compile(p) {
                Ok(regex) => Some(regex),
                Err(_) => {
                    return Answer::Respond(Response {
                        error_code: INVALID_REGULAR_EXPRESSION,
                        ..Response::default()
                    });
                }
            },
        };
        let mut response = Response::default();
        let mut states = BTreeSet::new();
        for name in &request.state_filters {
            match TxnState::from_name(name) {
                Some(state) => {
                    states.insert(state);
                }
                None => response.unknown_state_filters.push(name.to_string()),
            }
        }
        let filter = Filter {
            states,
            producer_ids: request.producer_id_filters.iter().copied().collect(),
            duration_ms: request.duration_filter,
            pattern,
        };
        response.error_code = error::NONE;
        response.transaction_states = list(
            &ctx.coordinator.transactions,
            &filter,
            crate::storage::now_ms(),
        );
        // Only the transactional ids the principal may describe.
        response.transaction_states.retain(|t| {
            ctx.authorize(
                op::DESCRIBE,
                resource::TRANSACTIONAL_ID,
                &t.transactional_id,
            )
        });
        Answer::Respond(response)
    }
}

struct Filter {
    states: BTreeSet<TxnState>,
    producer_ids: BTreeSet<i64>,
    duration_ms: i64,
    pattern: Option<regex::Regex>,
}

fn list(txns: &Transactions, filter: &Filter, now_ms: i64) -> Vec<TransactionState> {
    txns.iter()
        .filter(|(_, m)| m.state != TxnState::Dead)
        .filter(|(_, m)| filter.states.is_empty() || filter.states.contains(&m.state))
        .filter(|(_, m)| {
            filter.producer_ids.is_empty() || filter.producer_ids.contains(&m.producer_id)
        })
        .filter(|(_, m)| {
            filter.duration_ms < 0 || now_ms.saturating_sub(m.start_ms) > filter.duration_ms
        })
        .filter(|(id, _)| filter.pattern.as_ref().is_none_or(|p| p.is_match(id)))
        .map(|(id, m)| TransactionState {
            transactional_id: id.to_string(),
            producer_id: m.producer_id,
            transaction_state: m.state.name().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn list_transactions_v0_and_v2_bytes() {
        let request = Request {
            state_filters: vec!["Ongoing"],
            producer_id_filters: vec![7],
            ..Request::default()
        };
        let mut v0 = vec![2, 8];
        v0.extend_from_slice(b"Ongoing");
        v0.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 7, 0]);
        assert_wire::<ListTransactions, _>(0, &v0, &request);
        let request = Request {
            duration_filter: 1000,
            transactional_id_pattern: Some("t.*"),
            ..Request::default()
        };
        let v2 = [1, 1, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 4, b't', b'.', b'*', 0];
        assert_wire::<ListTransactions, _>(2, &v2, &request);
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            unknown_state_filters: vec!["x".into()],
            transaction_states: vec![TransactionState {
                transactional_id: "tx".into(),
                producer_id: 7,
                transaction_state: "Empty".into(),
            }],
        };
        let mut body = vec![0, 0, 0, 0, 0, 0, 2, 2, b'x', 2, 3, b't', b'x'];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 6]);
        body.extend_from_slice(b"Empty");
        body.extend_from_slice(&[0, 0]);
        assert_wire::<ListTransactions, _>(1, &body, &response);
    }
}
