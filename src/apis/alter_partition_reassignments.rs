//! AlterPartitionReassignments (key 45): moves partitions to other replicas. We serve
//! versions 0-1, flexible from v0.
//! - v1: the request's allow_replication_factor_change (default true), echoed in the
//!   response.
//!
//! One broker holds every partition's only replica, so the one possible assignment is the
//! current one, `[node.id]`: asking for it succeeds and changes nothing. Per partition, in
//! the order Kafka's controller checks: UNKNOWN_TOPIC_OR_PARTITION for an unknown topic or
//! partition; replicas null (cancel) NO_REASSIGNMENT_IN_PROGRESS, as none ever is; with
//! allow_replication_factor_change false, a replica count other than 1
//! INVALID_REPLICATION_FACTOR; then INVALID_REPLICA_ASSIGNMENT for an empty list, a broker
//! that is not registered (any id but ours) or a broker named twice. Messages are Kafka's.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;

message! {
    pub struct Request<'a> {
        timeout_ms: i32 = "0+" default 60_000,
        allow_replication_factor_change: bool = "1+" default true,
        topics: Vec<ReassignableTopic<'a>> = "0+",
    }

    pub struct ReassignableTopic<'a> {
        name: &'a str = "0+",
        partitions: Vec<ReassignablePartition> = "0+",
    }

    pub struct ReassignablePartition {
        partition_index: i32 = "0+",
        replicas: Option<Vec<i32>> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        allow_replication_factor_change: bool = "1+" default true,
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        responses: Vec<ReassignableTopicResponse> = "0+",
    }

    pub struct ReassignableTopicResponse {
        name: String = "0+",
        partitions: Vec<ReassignablePartitionResponse> = "0+",
    }

    pub struct ReassignablePartitionResponse {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
    }
}

pub struct AlterPartitionReassignments;

impl Api for AlterPartitionReassignments {
    const SPEC: ApiSpec = ApiSpec::new(45, "AlterPartitionReassignments", "0-1", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::ALTER) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                ..Response::default()
            });
        }
        let allow = request.allow_replication_factor_change;
        let responses = request
            .topics
            .iter()
            .map(|topic| ReassignableTopicResponse {
                name: topic.name.to_string(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let (error_code, error_message) = match reassign(ctx, topic.name, p, allow)
                        {
                            Ok(()) => (error::NONE, None),
                            Err((code, message)) => (code, message),
                        };
                        ReassignablePartitionResponse {
                            partition_index: p.partition_index,
                            error_code,
                            error_message,
                        }
                    })
                    .collect(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            allow_replication_factor_change: allow,
            error_code: error::NONE,
            error_message: None,
            responses,
        })
    }
}

type Refusal = (i16, Option<String>);

/// Checks one partition's target as Kafka's controller does; `Ok` means nothing to change.
fn reassign(
    ctx: &Context,
    topic: &str,
    target: &ReassignablePartition,
    allow_replication_factor_change: bool,
) -> Result<(), Refusal> {
    let unknown = |message: String| (error::UNKNOWN_TOPIC_OR_PARTITION, Some(message));
    let invalid = |message: String| (error::INVALID_REPLICA_ASSIGNMENT, Some(message));
    let stored = ctx
        .storage
        .topic(topic)
        .ok_or_else(|| unknown(format!("Unable to find a topic named {topic}.")))?;
    let index = target.partition_index;
    if stored.partition(index).is_none() {
        return Err(unknown(format!(
            "Unable to find partition {topic}:{index}."
        )));
    }
    // Kafka leaves out the message when it is the error's generic one.
    let replicas = target
        .replicas
        .as_ref()
        .ok_or((error::NO_REASSIGNMENT_IN_PROGRESS, None))?;
    let current_replicas = 1;
    if !allow_replication_factor_change && replicas.len() != current_replicas {
        let message = format!(
            "The replication factor is changed from {current_replicas} to {}",
            replicas.len()
        );
        return Err((error::INVALID_REPLICATION_FACTOR, Some(message)));
    }
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = replicas.clone();
    sorted.sort_unstable();
    for (i, &broker) in sorted.iter().enumerate() {
        if broker != ctx.config.node_id {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            )));
        }
        if i > 0 {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn alter_partition_reassignments_v0_bytes() {
        assert_wire::<AlterPartitionReassignments, _>(
            0,
            &[
                0, 0, 0x27, 0x10, // timeout_ms 10000
                2, 2, b't', // topics: ["t"
                3, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, // partitions: [(0, [1]),
                0, 0, 0, 1, 0, 0, // (1, null)]]
                0, 0,
            ],
            &Request {
                timeout_ms: 10_000,
                allow_replication_factor_change: true,
                topics: vec![ReassignableTopic {
                    name: "t",
                    partitions: vec![
                        ReassignablePartition {
                            partition_index: 0,
                            replicas: Some(vec![1]),
                        },
                        ReassignablePartition {
                            partition_index: 1,
                            replicas: None,
                        },
                    ],
                }],
            },
        );
        assert_wire::<AlterPartitionReassignments, _>(
            0,
            &[
                0, 0, 0, 0, 0, 0, 0, // throttle_time_ms, error_code, error_message null
                2, 2, b't', // responses: ["t"
                2, 0, 0, 0, 1, 0, 85, 0, 0, // [(1, NO_REASSIGNMENT_IN_PROGRESS, null)]]
                0, 0,
            ],
            &Response {
                throttle_time_ms: 0,
                allow_replication_factor_change: true,
                error_code: error::NONE,
                error_message: None,
                responses: vec![ReassignableTopicResponse {
                    name: "t".into(),
                    partitions: vec![ReassignablePartitionResponse {
                        partition_index: 1,
                        error_code: error::NO_REASSIGNMENT_IN_PROGRESS,
                        error_message: None,
                    }],
                }],
            },
        );
    }

    #[test]
    fn alter_partition_reassignments_v1_bytes() {
        assert_wire::<AlterPartitionReassignments, _>(
            1,
            &[
                0, 0, 0xea, 0x60, // timeout_ms 60000
                0,    // allow_replication_factor_change false
                1,    // topics: []
                0,
            ],
            &Request {
                timeout_ms: 60_000,
                allow_replication_factor_change: false,
                topics: vec![],
            },
        );
        assert_wire::<AlterPartitionReassignments, _>(
            1,
            &[
                0, 0, 0, 0, // throttle_time_ms
                0, // allow_replication_factor_change false
                0, 0, 0, // error_code, error_message null
                2, 2, b't', // responses: ["t"
                2, 0, 0, 0, 0, 0, 38, 2, b'm', 0, // [(0, INVALID_REPLICATION_FACTOR, "m")]]
                0, 0,
            ],
            &Response {
                throttle_time_ms: 0,
                allow_replication_factor_change: false,
                error_code: error::NONE,
                error_message: None,
                responses: vec![ReassignableTopicResponse {
                    name: "t".into(),
                    partitions: vec![ReassignablePartitionResponse {
                        partition_index: 0,
                        error_code: error::INVALID_REPLICATION_FACTOR,
                        error_message: Some("m".into()),
                    }],
                }],
            },
        );
    }
}
