//! ListPartitionReassignments (key 46), version 0 only (flexible): the partition
//! reassignments in progress. On one broker there never is one (AlterPartitionReassignments
//! can only keep a partition where it is), so the answer is always an empty list. As
//! Kafka's controller does, `topics` null lists every reassignment, and named topics or
//! partitions that are not being reassigned, unknown ones included, are simply not listed.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;

message! {
    pub struct Request<'a> {
        timeout_ms: i32 = "0+" default 60_000,
        topics: Option<Vec<RequestTopic<'a>>> = "0+" null "0+",
    }

    pub struct RequestTopic<'a> {
        name: &'a str = "0+",
        partition_indexes: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        topics: Vec<OngoingTopicReassignment> = "0+",
    }

    pub struct OngoingTopicReassignment {
        name: String = "0+",
        partitions: Vec<OngoingPartitionReassignment> = "0+",
    }

    pub struct OngoingPartitionReassignment {
        partition_index: i32 = "0+",
        replicas: Vec<i32> = "0+",
        adding_replicas: Vec<i32> = "0+",
        removing_replicas: Vec<i32> = "0+",
    }
}

pub struct ListPartitionReassignments;

impl Api for ListPartitionReassignments {
    const SPEC: ApiSpec = ApiSpec::new(46, "ListPartitionReassignments", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, _request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::DESCRIBE) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                ..Response::default()
            });
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            error_message: None,
            topics: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn list_partition_reassignments_v0_bytes() {
        assert_wire::<ListPartitionReassignments, _>(
            0,
            &[
                0, 0, 0x27, 0x10, // timeout_ms 10000
                2, 2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, // topics: [("t", [0, 1])]
                0,
            ],
            &Request {
                timeout_ms: 10_000,
                topics: Some(vec![RequestTopic {
                    name: "t",
                    partition_indexes: vec![0, 1],
                }]),
            },
        );
        assert_wire::<ListPartitionReassignments, _>(
            0,
            &[0, 0, 0xea, 0x60, 0, 0],
            &Request {
                timeout_ms: 60_000,
                topics: None,
            },
        );
        assert_wire::<ListPartitionReassignments, _>(
            0,
            &[
                0, 0, 0, 0, 0, 0, // throttle_time_ms, error_code
                0, // error_message null
                1, // topics: []
                0,
            ],
            &Response::default(),
        );
    }
}
