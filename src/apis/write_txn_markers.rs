//! WriteTxnMarkers (key 27), versions 1-2, flexible from v1 (Kafka 4 serves no v0): a
//! transaction coordinator writes COMMIT or ABORT markers to the partitions of a
//! transaction. v2 adds each marker's transaction_version (KIP-890: from transactions v2 a
//! marker carries the bumped epoch, so one not above the producer's epoch is stale).
//!
//! Each partition's marker is appended with `Storage::write_txn_marker_version`, as Kafka's
//! ReplicaManager appends coordinator markers. Per partition, Kafka's answers:
//! UNKNOWN_TOPIC_OR_PARTITION for a partition we do not have; INVALID_PRODUCER_EPOCH for a
//! marker from an epoch older than the producer's on that partition (Kafka's
//! InvalidProducerEpochException); TRANSACTION_COORDINATOR_FENCED for a coordinator epoch
//! older than the last marker's; KAFKA_STORAGE_ERROR when the append fails.
//! The response holds one result per marker in request order, its topics and partitions in
//! request order.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::storage::AppendError;

message! {
    pub struct Request<'a> {
        markers: Vec<WritableTxnMarker<'a>> = "0+",
    }

    pub struct WritableTxnMarker<'a> {
        producer_id: i64 = "0+",
        producer_epoch: i16 = "0+",
        transaction_result: bool = "0+",
        topics: Vec<WritableTxnMarkerTopic<'a>> = "0+",
        coordinator_epoch: i32 = "0+",
        transaction_version: i8 = "2+",
    }

    pub struct WritableTxnMarkerTopic<'a> {
        name: &'a str = "0+",
        partition_indexes: Vec<i32> = "0+",
    }

    pub struct Response<'a> {
        markers: Vec<WritableTxnMarkerResult<'a>> = "0+",
    }

    pub struct WritableTxnMarkerResult<'a> {
        producer_id: i64 = "0+",
        topics: Vec<WritableTxnMarkerTopicResult<'a>> = "0+",
    }

    pub struct WritableTxnMarkerTopicResult<'a> {
        name: &'a str = "0+",
        partitions: Vec<WritableTxnMarkerPartitionResult> = "0+",
    }

    pub struct WritableTxnMarkerPartitionResult {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
    }
}

pub struct WriteTxnMarkers;

impl Api for WriteTxnMarkers {
    const SPEC: ApiSpec = ApiSpec::new(27, "WriteTxnMarkers", "1-2", "1+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    /// Writes every marker; the answer goes out after the turn's fsync, so an acknowledged
    /// marker is durable.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let may_write_markers = ctx.authorize_cluster(op::CLUSTER_ACTION);
        let markers = request
            .markers
            .iter()
            .map(|marker| WritableTxnMarkerResult {
                producer_id: marker.producer_id,
                topics: marker
                    .topics
                    .iter()
                    .map(|topic| WritableTxnMarkerTopicResult {
                        name: topic.name,
                        partitions: topic
                            .partition_indexes
                            .iter()
                            .map(|&partition_index| WritableTxnMarkerPartitionResult {
                                partition_index,
                                error_code: if may_write_markers {
                                    write(ctx, marker, topic.name, partition_index)
                                } else {
                                    error::CLUSTER_AUTHORIZATION_FAILED
                                },
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Answer::Respond(Response { markers })
    }
}

fn write(ctx: &mut Context, marker: &WritableTxnMarker, topic: &str, partition: i32) -> i16 {
    let written = ctx.storage.write_txn_marker_version(
        topic,
        partition,
        marker.producer_id,
        marker.producer_epoch,
        marker.coordinator_epoch,
        marker.transaction_result,
        marker.transaction_version,
    );
    match written {
        Ok(offset) => {
            log::debug!(
                "{} marker for producer {} (epoch {}) at {topic}-{partition} offset {offset}",
                if marker.transaction_result {
                    "COMMIT"
                } else {
                    "ABORT"
                },
                marker.producer_id,
                marker.producer_epoch
            );
            error::NONE
        }
        Err(AppendError::UnknownTopicOrPartition) => error::UNKNOWN_TOPIC_OR_PARTITION,
        Err(AppendError::Sequence(code)) => {
            log::debug!(
                "marker for producer {} at {topic}-{partition} refused (error {code})",
                marker.producer_id
            );
            code
        }
        Err(AppendError::Io(e)) => {
            log::warn!("marker at {topic}-{partition}: {e}");
            error::KAFKA_STORAGE_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::fetch::Fixture;

    #[test]
    fn write_txn_markers_v1_and_v2_bytes() {
        let request = |transaction_version| Request {
            markers: vec![WritableTxnMarker {
                producer_id: 7,
                producer_epoch: 2,
                transaction_result: true,
                topics: vec![WritableTxnMarkerTopic {
                    name: "t",
                    partition_indexes: vec![0],
                }],
                coordinator_epoch: 3,
                transaction_version,
            }],
        };
        crate::apis::assert_wire::<WriteTxnMarkers, _>(
            1,
            &[
                2, // markers: [
                0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 1, // producer 7, epoch 2, COMMIT
                2, 2, b't', 2, 0, 0, 0, 0, 0, // topics: [("t", [0])]
                0, 0, 0, 3, 0, // coordinator epoch 3, tags ]
                0, // tags
            ],
            &request(0),
        );
        crate::apis::assert_wire::<WriteTxnMarkers, _>(
            2,
            &[
                2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 1, 2, 2, b't', 2, 0, 0, 0, 0, 0, 0, 0, 0, 3,
                2, // transaction_version 2
                0, 0,
            ],
            &request(2),
        );
        crate::apis::assert_wire::<WriteTxnMarkers, _>(
            1,
            &[
                2, 0, 0, 0, 0, 0, 0, 0, 7, // markers: [producer 7,
                2, 2, b't', 2, 0, 0, 0, 0, 0, 3, 0, // topics: [("t", [(0, 3)])]
                0, 0, // ] tags
                0,
            ],
            &Response {
                markers: vec![WritableTxnMarkerResult {
                    producer_id: 7,
                    topics: vec![WritableTxnMarkerTopicResult {
                        name: "t",
                        partitions: vec![WritableTxnMarkerPartitionResult {
                            partition_index: 0,
                            error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                        }],
                    }],
                }],
            },
        );
    }

    #[test]
    fn markers_are_written_or_refused_per_partition() {
        let mut fixture = Fixture::three_records("write-txn-markers");
        let ctx = &mut fixture.ctx(2);
        let marker = |epoch, coordinator_epoch, version| WritableTxnMarker {
            producer_id: 9,
            producer_epoch: epoch,
            transaction_result: false,
            topics: vec![WritableTxnMarkerTopic {
                name: "t",
                partition_indexes: vec![0, 1],
            }],
            coordinator_epoch,
            transaction_version: version,
        };
        let codes = |ctx: &mut Context, m| {
            let Answer::Respond(response) =
                WriteTxnMarkers::handle(ctx, Request { markers: vec![m] })
            else {
                panic!("no answer")
            };
            response.markers[0].topics[0]
                .partitions
                .iter()
                .map(|p| p.error_code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(ctx, marker(1, 5, 0)),
            [error::NONE, error::UNKNOWN_TOPIC_OR_PARTITION]
        );
        assert_eq!(
            ctx.storage.topic("t").unwrap().partitions[0]
                .log
                .next_offset(),
            4
        );
        assert_eq!(
            codes(ctx, marker(0, 5, 0))[0],
            error::INVALID_PRODUCER_EPOCH
        );
        assert_eq!(
            codes(ctx, marker(1, 4, 0))[0],
            error::TRANSACTION_COORDINATOR_FENCED
        );
        // Transactions v2: the marker's epoch must be above the producer's.
        assert_eq!(
            codes(ctx, marker(1, 5, 2))[0],
            error::INVALID_PRODUCER_EPOCH
        );
        assert_eq!(codes(ctx, marker(2, 5, 2))[0], error::NONE);
    }
}
