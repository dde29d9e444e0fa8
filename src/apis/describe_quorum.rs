//! DescribeQuorum (key 55): the state of the KRaft quorum of `__cluster_metadata-0`. We serve
//! versions 0-2, all flexible.
//! - v1: each replica's last_fetch_timestamp and last_caught_up_timestamp (KIP-836).
//! - v2: top-level and partition error messages, each replica's directory id, and the
//!   quorum's nodes with their listeners (KIP-853).
//!
//! This node is the quorum's only voter and its leader; there are no observers. As Kafka's
//! leader reports itself: its log end offset, both timestamps the current time, its
//! directory id (meta.properties' `directory.id`); the high watermark is the log end offset
//! (every metadata append is synced before it is acknowledged). The node's listener is the
//! one it serves (quorum requests reach it there). As Kafka, a request that is not exactly
//! `__cluster_metadata` partition 0 gets UNKNOWN_TOPIC_OR_PARTITION on every partition it
//! names. Messages left unset are empty strings, as Kafka's generated defaults are.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::storage::metadata::Uuid;

/// The metadata log's topic and partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const METADATA_PARTITION: i32 = 0;

message! {
    pub struct Request<'a> {
        topics: Vec<RequestTopic<'a>> = "0+",
    }

    pub struct RequestTopic<'a> {
        topic_name: &'a str = "0+",
        partitions: Vec<RequestPartition> = "0+",
    }

    pub struct RequestPartition {
        partition_index: i32 = "0+",
    }

    pub struct Response {
        error_code: i16 = "0+",
        error_message: Option<String> = "2+" null "2+" default Some(String::new()),
        topics: Vec<ResponseTopic> = "0+",
        nodes: Vec<Node> = "2+",
    }

    pub struct ResponseTopic {
        topic_name: String = "0+",
        partitions: Vec<PartitionData> = "0+",
    }

    pub struct PartitionData {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "2+" null "2+" default Some(String::new()),
        leader_id: i32 = "0+",
        leader_epoch: i32 = "0+",
        high_watermark: i64 = "0+",
        current_voters: Vec<ReplicaState> = "0+",
        observers: Vec<ReplicaState> = "0+",
    }

    pub struct ReplicaState {
        replica_id: i32 = "0+",
        replica_directory_id: Uuid = "2+",
        log_end_offset: i64 = "0+",
        last_fetch_timestamp: i64 = "1+" default -1,
        last_caught_up_timestamp: i64 = "1+" default -1,
    }

    pub struct Node {
        node_id: i32 = "2+",
        listeners: Vec<Listener> = "2+",
    }

    pub struct Listener {
        name: String = "2+",
        host: String = "2+",
        port: u16 = "2+",
    }
}

/// Kafka's message for UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_MESSAGE: &str = super::describe_producers::UNKNOWN_TOPIC_MESSAGE;

pub struct DescribeQuorum;

impl Api for DescribeQuorum {
    const SPEC: ApiSpec = ApiSpec::new(55, "DescribeQuorum", "0-2", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::DESCRIBE) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                ..Response::default()
            });
        }
        let is_metadata_partition = matches!(
            request.topics.as_slice(),
            [RequestTopic { topic_name: METADATA_TOPIC, partitions }]
                if matches!(partitions.as_slice(), [RequestPartition { partition_index: METADATA_PARTITION }])
        );
        Answer::Respond(if is_metadata_partition {
            describe(ctx)
        } else {
            unknown_partitions(&request)
        })
    }
}

fn describe(ctx: &Context) -> Response {
    let node_id = ctx.config.node_id;
    let end_offset = ctx.storage.metadata_end_offset();
    let now_ms = crate::storage::now_ms();
    let me = ReplicaState {
        replica_id: node_id,
        replica_directory_id: ctx.storage.directory_id(),
        log_end_offset: end_offset,
        last_fetch_timestamp: now_ms,
        last_caught_up_timestamp: now_ms,
    };
    let broker = super::metadata::advertised_broker(ctx);
    let listener = Listener {
        name: ctx.config.listener_name.clone(),
        host: broker.host,
        port: u16::try_from(broker.port).unwrap_or(0),
    };
    Response {
        topics: vec![ResponseTopic {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![PartitionData {
                partition_index: METADATA_PARTITION,
                leader_id: node_id,
                leader_epoch: ctx.storage.metadata_leader_epoch(),
                high_watermark: end_offset,
                current_voters: vec![me],
                ..PartitionData::default()
            }],
        }],
        nodes: vec![Node {
            node_id,
            listeners: vec![listener],
        }],
        ..Response::default()
    }
}

/// Kafka's answer to a request for any other partitions: an error on each one named.
fn unknown_partitions(request: &Request) -> Response {
    let topics = request
        .topics
        .iter()
        .map(|t| ResponseTopic {
            topic_name: t.topic_name.to_string(),
            partitions: t
                .partitions
                .iter()
                .map(|p| PartitionData {
                    partition_index: p.partition_index,
                    error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                    error_message: Some(UNKNOWN_TOPIC_MESSAGE.to_string()),
                    ..PartitionData::default()
                })
                .collect(),
        })
        .collect();
    Response {
        topics,
        ..Response::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    fn request() -> Request<'static> {
        Request {
            topics: vec![RequestTopic {
                topic_name: "m",
                partitions: vec![RequestPartition { partition_index: 0 }],
            }],
        }
    }

    fn response() -> Response {
        Response {
            topics: vec![ResponseTopic {
                topic_name: "m".into(),
                partitions: vec![PartitionData {
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 1,
                    high_watermark: 7,
                    current_voters: vec![ReplicaState {
                        replica_id: 1,
                        replica_directory_id: [0xab; 16],
                        log_end_offset: 7,
                        last_fetch_timestamp: 5,
                        last_caught_up_timestamp: 5,
                    }],
                    ..PartitionData::default()
                }],
            }],
            nodes: vec![Node {
                node_id: 1,
                listeners: vec![Listener {
                    name: "P".into(),
                    host: "h".into(),
                    port: 9092,
                }],
            }],
            ..Response::default()
        }
    }

    #[test]
    fn describe_quorum_v0_bytes() {
        let request_bytes = [2, 2, b'm', 2, 0, 0, 0, 0, 0, 0, 0];
        assert_wire::<DescribeQuorum, _>(0, &request_bytes, &request());
        // v0: no messages, no directory id, no timestamps, no nodes.
        let mut expected = response();
        expected.topics[0].partitions[0].current_voters[0] = ReplicaState {
            replica_id: 1,
            log_end_offset: 7,
            ..ReplicaState::default()
        };
        expected.nodes.clear();
        assert_wire::<DescribeQuorum, _>(
            0,
            &[
                0, 0, // error_code
                2, 2, b'm', // topics: ["m"
                2, 0, 0, 0, 0, 0, 0, // partitions: [index 0, no error,
                0, 0, 0, 1, 0, 0, 0, 1, // leader 1, epoch 1
                0, 0, 0, 0, 0, 0, 0, 7, // high watermark 7
                2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, // voters: [(1, end offset 7)]
                1, 0, 0, 0, // observers: []]]
            ],
            &expected,
        );
    }

    #[test]
    fn describe_quorum_v2_bytes() {
        let mut bytes = vec![
            0, 0, 1, // error_code, error_message ""
            2, 2, b'm', // topics: ["m"
            2, 0, 0, 0, 0, 0, 0, 1, // partitions: [index 0, no error, message "",
            0, 0, 0, 1, 0, 0, 0, 1, // leader 1, epoch 1
            0, 0, 0, 0, 0, 0, 0, 7, // high watermark 7
            2, 0, 0, 0, 1, // voters: [(1,
        ];
        bytes.extend([0xab; 16]); // directory id
        bytes.extend([
            0, 0, 0, 0, 0, 0, 0, 7, // end offset 7
            0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, // timestamps 5)]
            1, 0, 0, // observers: []]]
            2, 0, 0, 0, 1, // nodes: [(1,
            2, 2, b'P', 2, b'h', 0x23, 0x84, 0, 0, // [("P", "h", 9092)])]
            0,
        ]);
        assert_wire::<DescribeQuorum, _>(2, &bytes, &response());
    }
}
