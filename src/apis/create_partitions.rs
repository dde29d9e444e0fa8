//! CreatePartitions (key 37): raises topics' partition counts, or with validate_only answers
//! as if it had. Versions 0-3, flexible from v2.
//! - v0: topics (name, new total count, optional manual assignments), timeout_ms and
//!   validate_only; the response has throttle_time_ms and a result per topic.
//! - v1: no change on the wire (on a quota violation the response is sent before the
//!   throttle).
//! - v2: first flexible version.
//! - v3: no change on the wire (may return THROTTLING_QUOTA_EXCEEDED, KIP-599).
//!
//! Errors are the KRaft controller's (Kafka 4.2), with its messages: a name given twice gets
//! one INVALID_REQUEST result, listed first; then per topic UNKNOWN_TOPIC_OR_PARTITION,
//! INVALID_PARTITIONS when the count does not grow, INVALID_REPLICA_ASSIGNMENT for
//! assignments of the wrong number or naming another broker. Internal topics may grow, as in
//! Kafka. A timeout of 0 or less has expired before the work starts: REQUEST_TIMED_OUT for
//! every topic, nothing changed.

use std::collections::HashMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error::{self, ErrorCode};
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        topics: Vec<Topic<'a>> = "0+",
        timeout_ms: i32 = "0+",
        validate_only: bool = "0+",
    }

    pub struct Topic<'a> {
        name: &'a str = "0+",
        /// The new total partition count.
        count: i32 = "0+",
        /// Null for automatic assignment; else one broker list per new partition.
        assignments: Option<Vec<Assignment>> = "0+" null "0+",
    }

    pub struct Assignment {
        broker_ids: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        results: Vec<TopicResult> = "0+",
    }

    pub struct TopicResult {
        name: String = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
    }
}

/// New partitions one request may create: Kafka's controller writes at most this many
/// records for one user operation (`MAX_RECORDS_PER_USER_OP`).
pub const PARTITIONS_PER_REQUEST_MAX: i64 = 10_000;

const INVALID_REPLICA_ASSIGNMENT: ErrorCode = 39;
const REQUEST_TIMED_OUT: ErrorCode = 7;

pub struct CreatePartitions;

impl Api for CreatePartitions {
    const SPEC: ApiSpec = ApiSpec::new(37, "CreatePartitions", "0-3", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if request.timeout_ms <= 0 {
            let results = request.topics.iter().map(|t| TopicResult {
                name: t.name.to_string(),
                error_code: REQUEST_TIMED_OUT,
                error_message: None,
            });
            return Answer::Respond(Response {
                throttle_time_ms: 0,
                results: results.collect(),
            });
        }
        let mut named: HashMap<&str, usize> = HashMap::with_capacity(request.topics.len());
        for topic in &request.topics {
            *named.entry(topic.name).or_default() += 1;
        }
        let mut results = Vec::with_capacity(named.len());
        // Each name given more than once: one result, before the others (as Kafka lists them).
        for topic in &request.topics {
            if named.get(topic.name).is_some_and(|&n| n > 1) {
                named.insert(topic.name, 0);
                results.push(result(
                    topic.name,
                    error::INVALID_REQUEST,
                    "Duplicate topic name.",
                ));
            }
        }
        let mut budget = PARTITIONS_PER_REQUEST_MAX;
        for topic in &request.topics {
            if named.get(topic.name) != Some(&1) {
                continue;
            }
            let outcome = if ctx.authorize(op::ALTER, resource::TOPIC, topic.name) {
                raise(ctx, topic, &mut budget, request.validate_only)
            } else {
                Err((error::TOPIC_AUTHORIZATION_FAILED, None))
            };
            results.push(match outcome {
                Ok(()) => TopicResult {
                    name: topic.name.to_string(),
                    ..TopicResult::default()
                },
                Err((code, message)) => TopicResult {
                    name: topic.name.to_string(),
                    error_code: code,
                    error_message: message,
                },
            });
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            results,
        })
    }
}

fn result(name: &str, error_code: ErrorCode, message: &str) -> TopicResult {
    TopicResult {
        name: name.to_string(),
        error_code,
        error_message: Some(message.to_string()),
    }
}

type Refusal = (ErrorCode, Option<String>);

/// Checks one topic's request in the controller's order and, unless `validate_only`, raises
/// its partition count. `budget` is what the request may still create.
fn raise(
    ctx: &mut Context,
    topic: &Topic,
    budget: &mut i64,
    validate_only: bool,
) -> Result<(), Refusal> {
    let refuse = |code, message: String| Err((code, Some(message)));
    let Some(stored) = ctx.storage.topic(topic.name) else {
        return Err((error::UNKNOWN_TOPIC_OR_PARTITION, None));
    };
    let current = stored.partitions.len() as i32;
    if topic.count == current {
        return refuse(
            error::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        );
    }
    if topic.count < current {
        return refuse(
            error::INVALID_PARTITIONS,
            format!(
                "The topic {} currently has {current} partition(s); {} would not be an increase.",
                topic.name, topic.count
            ),
        );
    }
    let additional = i64::from(topic.count) - i64::from(current);
    if let Some(assignments) = &topic.assignments {
        if assignments.len() as i64 != additional {
            return refuse(
                INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} \
                     assignment(s) were specified.",
                    assignments.len()
                ),
            );
        }
        for assignment in assignments {
            check_assignment(ctx.config.node_id, &assignment.broker_ids)?;
        }
    }
    if topic.count > super::create_topics::PARTITIONS_MAX {
        return refuse(
            error::INVALID_PARTITIONS,
            format!(
                "Number of partitions {} is more than this broker allows ({}).",
                topic.count,
                super::create_topics::PARTITIONS_MAX
            ),
        );
    }
    if additional > *budget {
        return refuse(
            error::UNKNOWN_SERVER_ERROR,
            format!(
                "Unable to create more than {PARTITIONS_PER_REQUEST_MAX} partitions in one request."
            ),
        );
    }
    *budget -= additional;
    if validate_only {
        return Ok(());
    }
    ctx.storage
        .create_partitions(topic.name, topic.count)
        .map_err(|e| {
            log::error!(
                "raising {} to {} partitions: {e:?}",
                topic.name,
                topic.count
            );
            (error::UNKNOWN_SERVER_ERROR, Some(format!("{e:?}")))
        })
}

/// Kafka's checks of one manual assignment (`validateManualPartitionAssignment`), in its
/// order. On one broker a list that passes them is `[node_id]`, so its replica count always
/// matches the topic's (one), and Kafka's last check cannot fail here.
fn check_assignment(node_id: i32, broker_ids: &[i32]) -> Result<(), Refusal> {
    let refuse = |message: String| Err((INVALID_REPLICA_ASSIGNMENT, Some(message)));
    if broker_ids.is_empty() {
        return refuse("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = broker_ids.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for &broker in &sorted {
        if broker != node_id {
            return refuse(format!(
                "The manual partition assignment includes broker {broker}, but no such broker \
                 is registered."
            ));
        }
        if previous == Some(broker) {
            return refuse(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
        previous = Some(broker);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    fn request() -> Request<'static> {
        Request {
            topics: vec![
                Topic {
                    name: "t",
                    count: 3,
                    assignments: None,
                },
                Topic {
                    name: "u",
                    count: 2,
                    assignments: Some(vec![Assignment {
                        broker_ids: vec![1],
                    }]),
                },
            ],
            timeout_ms: 30000,
            validate_only: true,
        }
    }

    #[test]
    fn create_partitions_v0_request_bytes() {
        let body = [
            0, 0, 0, 2, // topics: 2
            0, 1, b't', 0, 0, 0, 3, // name "t", count 3
            0xff, 0xff, 0xff, 0xff, // assignments null
            0, 1, b'u', 0, 0, 0, 2, // name "u", count 2
            0, 0, 0, 1, // assignments: 1
            0, 0, 0, 1, 0, 0, 0, 1, // broker_ids [1]
            0, 0, 0x75, 0x30, // timeout_ms 30000
            1,    // validate_only true
        ];
        assert_wire::<CreatePartitions, _>(0, &body, &request());
    }

    #[test]
    fn create_partitions_v2_request_bytes() {
        let body = [
            0x03, // topics: compact 2
            0x02, b't', 0, 0, 0, 3,    // name "t", count 3
            0x00, // assignments null
            0x00, // topic tags
            0x02, b'u', 0, 0, 0, 2,    // name "u", count 2
            0x02, // assignments: compact 1
            0x02, 0, 0, 0, 1,    // broker_ids [1]
            0x00, // assignment tags
            0x00, // topic tags
            0, 0, 0x75, 0x30, // timeout_ms 30000
            1,    // validate_only true
            0x00, // tags
        ];
        assert_wire::<CreatePartitions, _>(2, &body, &request());
    }

    fn response() -> Response {
        Response {
            throttle_time_ms: 0,
            results: vec![
                TopicResult {
                    name: "t".into(),
                    ..TopicResult::default()
                },
                result("u", error::INVALID_PARTITIONS, "m"),
            ],
        }
    }

    #[test]
    fn create_partitions_v1_response_bytes() {
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 2, // results: 2
            0, 1, b't', 0, 0, 0xff, 0xff, // "t", error 0, message null
            0, 1, b'u', 0, 37, 0, 1, b'm', // "u", INVALID_PARTITIONS, "m"
        ];
        assert_wire::<CreatePartitions, _>(1, &body, &response());
    }

    #[test]
    fn create_partitions_v3_response_bytes() {
        let body = [
            0, 0, 0, 0,    // throttle_time_ms
            0x03, // results: compact 2
            0x02, b't', 0, 0, 0x00, 0x00, // "t", error 0, message null, tags
            0x02, b'u', 0, 37, 0x02, b'm', 0x00, // "u", INVALID_PARTITIONS, "m", tags
            0x00, // tags
        ];
        assert_wire::<CreatePartitions, _>(3, &body, &response());
    }

    #[test]
    fn assignments_are_checked_as_kafka_checks_them() {
        let message = |ids: &[i32]| check_assignment(1, ids).unwrap_err().1.unwrap();
        assert!(check_assignment(1, &[1]).is_ok());
        assert_eq!(
            message(&[]),
            "The manual partition assignment includes an empty replica list."
        );
        assert_eq!(
            message(&[1, 2]),
            "The manual partition assignment includes broker 2, but no such broker is registered."
        );
        assert_eq!(
            message(&[1, 1]),
            "The manual partition assignment includes the broker 1 more than once."
        );
    }
}
