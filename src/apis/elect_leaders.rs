//! ElectLeaders (key 43): asks the controller to elect partition leaders. We serve versions
//! 0-2, flexible from v2.
//! - v1: the request's election_type (0 preferred, 1 unclean; v0 always asks for the
//!   preferred leader) and a top-level error_code in the response.
//! - v2: first flexible version.
//!
//! This broker is every partition's only replica and always its leader, so no election is
//! ever needed. As Kafka's controller answers: each named partition that exists gets
//! ELECTION_NOT_NEEDED, an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION (with
//! Kafka's messages); `topic_partitions` null means every partition, and then partitions
//! whose leader is already the wanted one are left out, so every topic comes back with no
//! partitions. An election type other than 0 or 1 is INVALID_REQUEST, top-level and for
//! every named partition.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;

/// `election_type` values (Kafka's `ElectionType`).
pub const PREFERRED: i8 = 0;
pub const UNCLEAN: i8 = 1;

/// Kafka's message for ELECTION_NOT_NEEDED.
const ELECTION_NOT_NEEDED_MESSAGE: &str = "Leader election not needed for topic partition.";

message! {
    pub struct Request<'a> {
        election_type: i8 = "1+",
        topic_partitions: Option<Vec<TopicPartitions<'a>>> = "0+" null "0+",
        timeout_ms: i32 = "0+" default 60_000,
    }

    pub struct TopicPartitions<'a> {
        topic: &'a str = "0+",
        partitions: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "1+",
        replica_election_results: Vec<ReplicaElectionResult> = "0+",
    }

    pub struct ReplicaElectionResult {
        topic: String = "0+",
        partition_result: Vec<PartitionResult> = "0+",
    }

    pub struct PartitionResult {
        partition_id: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
    }
}

pub struct ElectLeaders;

impl Api for ElectLeaders {
    const SPEC: ApiSpec = ApiSpec::new(43, "ElectLeaders", "0-2", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::ALTER) {
            let code = error::CLUSTER_AUTHORIZATION_FAILED;
            let message = "Cluster authorization failed.";
            return Answer::Respond(refuse_all(&request, code, message));
        }
        if !matches!(request.election_type, PREFERRED | UNCLEAN) {
            let message = format!("Unknown election type {}", request.election_type);
            return Answer::Respond(refuse_all(&request, error::INVALID_REQUEST, &message));
        }
        let results = match &request.topic_partitions {
            // Every partition; none needs an election, so none is listed.
            None => ctx
                .storage
                .topics()
                .map(|topic| ReplicaElectionResult {
                    topic: topic.name.clone(),
                    partition_result: Vec::new(),
                })
                .collect(),
            Some(topics) => topics
                .iter()
                .map(|t| ReplicaElectionResult {
                    topic: t.topic.to_string(),
                    partition_result: t
                        .partitions
                        .iter()
                        .map(|&partition_id| elect(ctx, t.topic, partition_id))
                        .collect(),
                })
                .collect(),
        };
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            replica_election_results: results,
        })
    }
}

fn elect(ctx: &Context, topic: &str, partition_id: i32) -> PartitionResult {
    let (error_code, message) = match ctx.storage.topic(topic) {
        None => (
            error::UNKNOWN_TOPIC_OR_PARTITION,
            format!("No such topic as {topic}"),
        ),
        Some(stored) if stored.partition(partition_id).is_none() => (
            error::UNKNOWN_TOPIC_OR_PARTITION,
            format!("No such partition as {topic}-{partition_id}"),
        ),
        Some(_) => (
            error::ELECTION_NOT_NEEDED,
            ELECTION_NOT_NEEDED_MESSAGE.to_string(),
        ),
    };
    PartitionResult {
        partition_id,
        error_code,
        error_message: Some(message),
    }
}

/// Kafka's error response: the error at the top and on every partition named.
fn refuse_all(request: &Request, error_code: i16, message: &str) -> Response {
    let results = request
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| ReplicaElectionResult {
            topic: t.topic.to_string(),
            partition_result: t
                .partitions
                .iter()
                .map(|&partition_id| PartitionResult {
                    partition_id,
                    error_code,
                    error_message: Some(message.to_string()),
                })
                .collect(),
        })
        .collect();
    Response {
        throttle_time_ms: 0,
        error_code,
        replica_election_results: results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    fn result(partition_id: i32, error_code: i16, message: &str) -> Response {
        Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            replica_election_results: vec![ReplicaElectionResult {
                topic: "t".into(),
                partition_result: vec![PartitionResult {
                    partition_id,
                    error_code,
                    error_message: Some(message.into()),
                }],
            }],
        }
    }

    #[test]
    fn elect_leaders_v0_bytes() {
        assert_wire::<ElectLeaders, _>(
            0,
            &[
                0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0,
                2, // topic_partitions: [("t", [2])]
                0, 0, 0x75, 0x30, // timeout_ms 30000
            ],
            &Request {
                election_type: PREFERRED,
                topic_partitions: Some(vec![TopicPartitions {
                    topic: "t",
                    partitions: vec![2],
                }]),
                timeout_ms: 30_000,
            },
        );
        assert_wire::<ElectLeaders, _>(
            0,
            &[
                0, 0, 0, 0, // throttle_time_ms (no top-level error code before v1)
                0, 0, 0, 1, 0, 1, b't', // replica_election_results: ["t"
                0, 0, 0, 1, 0, 0, 0, 2, 0, 84, // [(2, ELECTION_NOT_NEEDED,
                0, 1, b'm', // "m")]]
            ],
            &result(2, error::ELECTION_NOT_NEEDED, "m"),
        );
    }

    #[test]
    fn elect_leaders_v2_bytes() {
        assert_wire::<ElectLeaders, _>(
            2,
            &[
                1, // election_type unclean
                0, // topic_partitions null: every partition
                0, 0, 0xea, 0x60, // timeout_ms 60000
                0,
            ],
            &Request {
                election_type: UNCLEAN,
                topic_partitions: None,
                timeout_ms: 60_000,
            },
        );
        assert_wire::<ElectLeaders, _>(
            2,
            &[
                0, 0, 0, 0, 0, 0, // throttle_time_ms, error_code
                2, 2, b't', // replica_election_results: ["t"
                2, 0, 0, 0, 9, 0, 3, // [(9, UNKNOWN_TOPIC_OR_PARTITION,
                2, b'm', 0, 0, // "m")]]
                0,
            ],
            &result(9, error::UNKNOWN_TOPIC_OR_PARTITION, "m"),
        );
    }
}
