//! DescribeLogDirs (key 35): the log directory with the size of every partition stored in it.
//! We serve versions 1-5, flexible from v2 (v0 went in Kafka 4.0; v1 only changed throttling).
//! - v2: first flexible version.
//! - v3: a top-level error_code in the response.
//! - v4: each directory's total_bytes and usable_bytes (its file system's).
//! - v5: each directory's is_cordoned.
//!
//! As Kafka: `topics` null describes every partition, otherwise the named partitions that
//! exist (unknown topics and partitions are left out, and so is a topic none of whose asked
//! partitions exist). A partition's size is the sum of its segments' sizes; its offset lag
//! is 0 (the log end is the high watermark with one replica); there are no future logs. The
//! metadata log is not a partition of the log manager and is not listed. If the file system
//! cannot be read the directory answers KAFKA_STORAGE_ERROR, as an offline one does.

use std::collections::BTreeSet;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::storage::volume;

message! {
    pub struct Request<'a> {
        topics: Option<Vec<RequestTopic<'a>>> = "0+" null "0+",
    }

    pub struct RequestTopic<'a> {
        topic: &'a str = "0+",
        partitions: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "3+",
        results: Vec<LogDirResult> = "0+",
    }

    pub struct LogDirResult {
        error_code: i16 = "0+",
        log_dir: String = "0+",
        topics: Vec<ResultTopic> = "0+",
        total_bytes: i64 = "4+" default -1,
        usable_bytes: i64 = "4+" default -1,
        is_cordoned: bool = "5+",
    }

    pub struct ResultTopic {
        name: String = "0+",
        partitions: Vec<ResultPartition> = "0+",
    }

    pub struct ResultPartition {
        partition_index: i32 = "0+",
        partition_size: i64 = "0+",
        offset_lag: i64 = "0+",
        is_future_key: bool = "0+",
    }
}

pub struct DescribeLogDirs;

impl Api for DescribeLogDirs {
    const SPEC: ApiSpec = ApiSpec::new(35, "DescribeLogDirs", "1-5", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::DESCRIBE) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Response::default()
            });
        }
        let asked: Option<BTreeSet<(&str, i32)>> = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic, p)))
                .collect()
        });
        let log_dir = volume::absolute(ctx.storage.root())
            .to_string_lossy()
            .into_owned();
        let result = match ctx.storage.volume_space() {
            Ok(space) => LogDirResult {
                error_code: error::NONE,
                log_dir,
                topics: describe_partitions(ctx, asked.as_ref()),
                total_bytes: space.total_bytes,
                usable_bytes: space.usable_bytes,
                is_cordoned: false,
            },
            Err(e) => {
                log::warn!("describing log dir {log_dir}: {e}");
                LogDirResult {
                    error_code: error::KAFKA_STORAGE_ERROR,
                    log_dir,
                    ..LogDirResult::default()
                }
            }
        };
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            results: vec![result],
        })
    }
}

/// Every stored partition (`asked` None) or those asked for, by topic.
fn describe_partitions(ctx: &Context, asked: Option<&BTreeSet<(&str, i32)>>) -> Vec<ResultTopic> {
    ctx.storage
        .topics()
        .filter_map(|topic| {
            let partitions: Vec<ResultPartition> = topic
                .partitions
                .iter()
                .zip(0..)
                .filter(|(_, index)| {
                    asked.is_none_or(|a| a.contains(&(topic.name.as_str(), *index)))
                })
                .map(|(partition, index)| ResultPartition {
                    partition_index: index,
                    partition_size: i64::try_from(partition.log.size_bytes()).unwrap_or(i64::MAX),
                    offset_lag: 0,
                    is_future_key: false,
                })
                .collect();
            (!partitions.is_empty()).then(|| ResultTopic {
                name: topic.name.clone(),
                partitions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    fn response() -> Response {
        Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            results: vec![LogDirResult {
                error_code: error::NONE,
                log_dir: "/d".into(),
                topics: vec![ResultTopic {
                    name: "t".into(),
                    partitions: vec![ResultPartition {
                        partition_index: 1,
                        partition_size: 300,
                        offset_lag: 0,
                        is_future_key: false,
                    }],
                }],
                total_bytes: 4096,
                usable_bytes: 1024,
                is_cordoned: false,
            }],
        }
    }

    #[test]
    fn describe_log_dirs_v1_bytes() {
        assert_wire::<DescribeLogDirs, _>(
            1,
            &[
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partitions: [0, 1]]
            ],
            &Request {
                topics: Some(vec![RequestTopic {
                    topic: "t",
                    partitions: vec![0, 1],
                }]),
            },
        );
        assert_wire::<DescribeLogDirs, _>(1, &[0xff, 0xff, 0xff, 0xff], &Request { topics: None });
        // v1 has no top-level error code and no sizes of the file system.
        let mut expected = response();
        expected.results[0].total_bytes = -1;
        expected.results[0].usable_bytes = -1;
        assert_wire::<DescribeLogDirs, _>(
            1,
            &[
                0, 0, 0, 0, // throttle_time_ms
                0, 0, 0, 1, 0, 0, 0, 2, b'/', b'd', // results: [error 0, "/d",
                0, 0, 0, 1, 0, 1, b't', // topics: ["t"
                0, 0, 0, 1, 0, 0, 0, 1, // partitions: [index 1,
                0, 0, 0, 0, 0, 0, 1, 44, // size 300
                0, 0, 0, 0, 0, 0, 0, 0, 0, // lag 0, not future]]]
            ],
            &expected,
        );
    }

    #[test]
    fn describe_log_dirs_v5_bytes() {
        assert_wire::<DescribeLogDirs, _>(
            5,
            &[
                2, 2, b't', // topics: ["t"
                2, 0, 0, 0, 1, 0, 0, // partitions: [1]]
            ],
            &Request {
                topics: Some(vec![RequestTopic {
                    topic: "t",
                    partitions: vec![1],
                }]),
            },
        );
        assert_wire::<DescribeLogDirs, _>(5, &[0, 0], &Request { topics: None });
        assert_wire::<DescribeLogDirs, _>(
            5,
            &[
                0, 0, 0, 0, 0, 0, // throttle_time_ms, error_code
                2, 0, 0, 3, b'/', b'd', // results: [error 0, "/d",
                2, 2, b't', // topics: ["t"
                2, 0, 0, 0, 1, // partitions: [index 1,
                0, 0, 0, 0, 0, 0, 1, 44, // size 300
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // lag 0, not future]
                0, 0, 0, 0, 0, 0, 0x10, 0, // total_bytes 4096
                0, 0, 0, 0, 0, 0, 4, 0, // usable_bytes 1024
                0, 0, 0, // not cordoned]]
            ],
            &response(),
        );
    }
}
