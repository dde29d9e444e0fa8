//! CreatePartitions over a real socket: every error path, validate_only, a failure halfway
//! through (nothing left that a restart resurrects), a stray directory at a new partition's
//! path (never reused), and restarts after each change. Also the authorized-operations
//! bitfields of Metadata and DescribeCluster, and ApiVersions' finalized features. Requests
//! are built with the declared codecs and responses decoded with them (and re-encoded to the
//! bytes received); one old and one flexible response are checked byte for byte.

mod common;

use common::{Conn, TestBroker, assert_bytes, decoded};
use kafka_broker::apis::api_versions::{self, ApiVersions};
use kafka_broker::apis::create_partitions::{self, CreatePartitions, TopicResult};
use kafka_broker::apis::describe_cluster::{self, DescribeCluster};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::produce::Produce;
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const REQUEST_TIMED_OUT: i16 = 7;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_REQUEST: i16 = 42;

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    common::create_topic(conn, name, partitions, &[]);
}

fn topic<'a>(
    name: &'a str,
    count: i32,
    assignments: Option<&[&[i32]]>,
) -> create_partitions::Topic<'a> {
    create_partitions::Topic {
        name,
        count,
        assignments: assignments.map(|lists| {
            lists
                .iter()
                .map(|ids| create_partitions::Assignment {
                    broker_ids: ids.to_vec(),
                })
                .collect()
        }),
    }
}

fn raise_request(
    topics: Vec<create_partitions::Topic<'_>>,
    validate_only: bool,
) -> create_partitions::Request<'_> {
    create_partitions::Request {
        topics,
        timeout_ms: 10_000,
        validate_only,
    }
}

/// CreatePartitions at `version`: the results as (name, error code, message).
fn raise(
    conn: &mut Conn,
    version: i16,
    request: &create_partitions::Request,
) -> Vec<(String, i16, Option<String>)> {
    let body = conn.send::<CreatePartitions>(version, request);
    let response = decoded::<CreatePartitions>(&body, version);
    assert_eq!(response.throttle_time_ms, 0);
    response
        .results
        .into_iter()
        .map(|r| (r.name, r.error_code, r.error_message))
        .collect()
}

fn ok(name: &str) -> (String, i16, Option<String>) {
    (name.to_string(), NONE, None)
}

fn refused(name: &str, code: i16, message: &str) -> (String, i16, Option<String>) {
    (name.to_string(), code, Some(message.to_string()))
}

/// The partition count Metadata v12 shows for `name`.
fn partition_count(conn: &mut Conn, name: &str) -> usize {
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            topic_id: [0; 16],
            name: Some(name),
        }]),
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let body = conn.send::<Metadata>(12, &request);
    let response = decoded::<Metadata>(&body, 12);
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, NONE, "metadata of {name}");
    let indexes: Vec<i32> = topic.partitions.iter().map(|p| p.partition_index).collect();
    assert_eq!(indexes, (0..indexes.len() as i32).collect::<Vec<_>>());
    indexes.len()
}

/// Produces one batch of `values` to `name`-`partition`; returns its base offset.
fn produce_to(conn: &mut Conn, name: &str, partition: i32, values: &[&[u8]]) -> i64 {
    let values: Vec<Vec<u8>> = values.iter().map(|v| v.to_vec()).collect();
    let batch = batch::build(0, 0, 1_700_000_000_000, &values);
    let request = common::produce_request(name, partition, &batch);
    let body = conn.send::<Produce>(11, &request);
    let response = decoded::<Produce>(&body, 11);
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(
        (p.index, p.error_code),
        (partition, NONE),
        "produce to {name}-{partition}"
    );
    p.base_offset
}

/// The latest offset (log end) of `name`-`partition`, by ListOffsets v7.
fn log_end(conn: &mut Conn, name: &str, partition: i32) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: -1,
                timestamp: -1,
            }],
        }],
        timeout_ms: 0,
    };
    let body = conn.send::<ListOffsets>(7, &request);
    let response = decoded::<ListOffsets>(&body, 7);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE, "list offsets of {name}-{partition}");
    p.offset
}

#[test]
fn create_partitions_v0_to_v3_raise_the_count_and_it_survives_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "grow", 1);
    for (version, count) in [(0, 2), (1, 3), (2, 4), (3, 5)] {
        let request = raise_request(vec![topic("grow", count, None)], false);
        assert_eq!(raise(&mut conn, version, &request), [ok("grow")]);
        assert_eq!(partition_count(&mut conn, "grow"), count as usize);
    }
    // Manual assignments naming this broker (node 1).
    let request = raise_request(vec![topic("grow", 7, Some(&[&[1], &[1]]))], false);
    let body = conn.send::<CreatePartitions>(0, &request);
    // v0: throttle_time_ms, results: 1, "grow", error 0, message null.
    assert_bytes(&body, b"\0\0\0\0\0\0\0\x01\0\x04grow\0\0\xff\xff");
    assert_eq!(partition_count(&mut conn, "grow"), 7);
    for partition in 0..7 {
        assert_eq!(produce_to(&mut conn, "grow", partition, &[b"a", b"b"]), 0);
    }
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(partition_count(&mut conn, "grow"), 7);
    for partition in 0..7 {
        assert_eq!(log_end(&mut conn, "grow", partition), 2);
        assert_eq!(produce_to(&mut conn, "grow", partition, &[b"c"]), 2);
    }
    for partition in 0..7 {
        let dir = broker.log_dir.join(format!("grow-{partition}"));
        let text = std::fs::read_to_string(dir.join("partition.metadata")).unwrap();
        assert!(text.starts_with("version: 0\ntopic_id: "), "{text}");
    }
}

#[test]
fn create_partitions_every_error_as_kafka_gives_it() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "two", 2);
    create_topic(&mut conn, "three", 3);
    let request = raise_request(
        vec![
            topic("missing", 4, None),
            topic("two", 2, None),
            topic("three", 2, None),
            topic("dup", 9, None),
            topic("absent-a", 1, None),
            topic("dup", 10, None),
            topic("absent-b", -1, None),
        ],
        false,
    );
    // A duplicated name gets one result, first; the others keep the request's order.
    let got = raise(&mut conn, 3, &request);
    assert_eq!(
        got,
        [
            refused("dup", INVALID_REQUEST, "Duplicate topic name."),
            ("missing".to_string(), UNKNOWN_TOPIC_OR_PARTITION, None),
            refused(
                "two",
                INVALID_PARTITIONS,
                "Topic already has 2 partition(s)."
            ),
            refused(
                "three",
                INVALID_PARTITIONS,
                "The topic three currently has 3 partition(s); 2 would not be an increase."
            ),
            ("absent-a".to_string(), UNKNOWN_TOPIC_OR_PARTITION, None),
            ("absent-b".to_string(), UNKNOWN_TOPIC_OR_PARTITION, None),
        ]
    );
    let assignments = raise_request(
        vec![
            topic("two", 4, Some(&[&[1]])),
            topic("three", 4, Some(&[&[2]])),
        ],
        false,
    );
    assert_eq!(
        raise(&mut conn, 1, &assignments),
        [
            refused(
                "two",
                INVALID_REPLICA_ASSIGNMENT,
                "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
            ),
            refused(
                "three",
                INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes broker 2, but no such broker is registered."
            ),
        ]
    );
    let assignments = raise_request(
        vec![
            topic("two", 3, Some(&[&[1, 1]])),
            topic("three", 4, Some(&[&[]])),
            topic("absent-c", -5, None),
        ],
        true,
    );
    assert_eq!(
        raise(&mut conn, 2, &assignments),
        [
            refused(
                "two",
                INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes the broker 1 more than once."
            ),
            refused(
                "three",
                INVALID_REPLICA_ASSIGNMENT,
                "The manual partition assignment includes an empty replica list."
            ),
            ("absent-c".to_string(), UNKNOWN_TOPIC_OR_PARTITION, None),
        ]
    );
    let decrease = raise_request(vec![topic("three", -1, None)], false);
    assert_eq!(
        raise(&mut conn, 0, &decrease),
        [refused(
            "three",
            INVALID_PARTITIONS,
            "The topic three currently has 3 partition(s); -1 would not be an increase."
        )]
    );
    // Beyond the limits: 10,000 partitions per topic, 10,000 new ones per request.
    let over = raise_request(vec![topic("two", 10_001, None)], true);
    assert_eq!(
        raise(&mut conn, 3, &over),
        [refused(
            "two",
            INVALID_PARTITIONS,
            "Number of partitions 10001 is more than this broker allows (10000)."
        )]
    );
    let request_over = raise_request(
        vec![topic("two", 6000, None), topic("three", 6000, None)],
        true,
    );
    assert_eq!(
        raise(&mut conn, 3, &request_over),
        [
            ok("two"),
            refused(
                "three",
                UNKNOWN_SERVER_ERROR,
                "Unable to create more than 10000 partitions in one request."
            ),
        ]
    );
    // A timeout that has passed: every topic, nothing changed.
    let mut expired = raise_request(vec![topic("two", 3, None), topic("two", 4, None)], false);
    expired.timeout_ms = 0;
    let timed_out = ("two".to_string(), REQUEST_TIMED_OUT, None);
    assert_eq!(
        raise(&mut conn, 3, &expired),
        [timed_out.clone(), timed_out]
    );
    // None of it changed anything, then or after a restart.
    assert_eq!(partition_count(&mut conn, "two"), 2);
    assert_eq!(partition_count(&mut conn, "three"), 3);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(partition_count(&mut conn, "two"), 2);
    assert_eq!(partition_count(&mut conn, "three"), 3);
    assert!(!broker.log_dir.join("two-2").exists());
}

#[test]
fn validate_only_answers_as_a_real_call_and_changes_nothing() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "v", 2);
    let request = raise_request(vec![topic("v", 6, None), topic("w", 6, None)], true);
    let expected = [ok("v"), ("w".to_string(), UNKNOWN_TOPIC_OR_PARTITION, None)];
    assert_eq!(raise(&mut conn, 3, &request), expected);
    assert_eq!(partition_count(&mut conn, "v"), 2);
    assert!(!broker.log_dir.join("v-2").exists());
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(partition_count(&mut conn, "v"), 2);
    // The same request for real does what validation said it would.
    let request = raise_request(vec![topic("v", 6, None)], false);
    assert_eq!(raise(&mut conn, 3, &request), [ok("v")]);
    assert_eq!(partition_count(&mut conn, "v"), 6);
}

#[test]
fn a_failure_halfway_leaves_nothing_a_restart_resurrects() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "half", 2);
    // Partition 4's directory cannot be made: a file holds its path.
    std::fs::write(broker.log_dir.join("half-4"), b"in the way").unwrap();
    let request = raise_request(vec![topic("half", 6, None)], false);
    let got = raise(&mut conn, 3, &request);
    assert_eq!(
        (got[0].0.as_str(), got[0].1),
        ("half", UNKNOWN_SERVER_ERROR)
    );
    assert_eq!(partition_count(&mut conn, "half"), 2);
    for partition in [2, 3, 5] {
        let dir = broker.log_dir.join(format!("half-{partition}"));
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(partition_count(&mut conn, "half"), 2);
    std::fs::remove_file(broker.log_dir.join("half-4")).unwrap();
    assert_eq!(raise(&mut conn, 3, &request), [ok("half")]);
    assert_eq!(partition_count(&mut conn, "half"), 6);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(partition_count(&mut conn, "half"), 6);
}

#[test]
fn a_stray_directory_never_hands_old_data_to_a_new_partition() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "stray", 1);
    produce_to(&mut conn, "stray", 0, &[b"x", b"y", b"z"]);
    // What a crash could leave at partition 1's path: a directory with records in it.
    let from = broker.log_dir.join("stray-0");
    let to = broker.log_dir.join("stray-1");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    let request = raise_request(vec![topic("stray", 2, None)], false);
    assert_eq!(raise(&mut conn, 3, &request), [ok("stray")]);
    assert_eq!(log_end(&mut conn, "stray", 1), 0);
    assert_eq!(log_end(&mut conn, "stray", 0), 3);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(log_end(&mut conn, "stray", 1), 0);
    assert_eq!(produce_to(&mut conn, "stray", 1, &[b"new"]), 0);
}

#[test]
fn create_partitions_v3_response_bytes() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "b", 1);
    let request = raise_request(vec![topic("b", 1, None), topic("b2", 2, None)], false);
    let body = conn.send::<CreatePartitions>(3, &request);
    let mut expected = vec![0, 0, 0, 0, 0x03, 0x02, b'b', 0, 37];
    let message = b"Topic already has 1 partition(s).";
    expected.push(message.len() as u8 + 1);
    expected.extend(message);
    expected.extend([0x00, 0x03, b'b', b'2', 0, 3, 0x00, 0x00, 0x00]);
    assert_bytes(&body, &expected);
    let _: Vec<TopicResult> = decoded::<CreatePartitions>(&body, 3).results;
}

#[test]
fn metadata_and_describe_cluster_answer_the_operations_asked_for() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "ops", 1);
    const TOPIC: i32 = 0x0df8;
    const CLUSTER: i32 = 0x1fa0;
    for version in 8..=13 {
        for asked in [false, true] {
            let request = metadata::Request {
                topics: Some(vec![
                    metadata::RequestTopic {
                        topic_id: [0; 16],
                        name: Some("ops"),
                    },
                    metadata::RequestTopic {
                        topic_id: [0; 16],
                        name: Some("no-such-topic"),
                    },
                ]),
                allow_auto_topic_creation: false,
                include_cluster_authorized_operations: asked,
                include_topic_authorized_operations: asked,
            };
            let body = conn.send::<Metadata>(version, &request);
            let response = decoded::<Metadata>(&body, version);
            let expected = if asked { TOPIC } else { i32::MIN };
            let topics: Vec<(i16, i32)> = response
                .topics
                .iter()
                .map(|t| (t.error_code, t.topic_authorized_operations))
                .collect();
            assert_eq!(
                topics,
                [(NONE, expected), (UNKNOWN_TOPIC_OR_PARTITION, expected)],
                "Metadata v{version}"
            );
            // The cluster's bitfield exists in v8-10 only.
            let cluster = if asked && version <= 10 {
                CLUSTER
            } else {
                i32::MIN
            };
            assert_eq!(
                response.cluster_authorized_operations, cluster,
                "v{version}"
            );
        }
    }
    for version in 0..=2 {
        for asked in [false, true] {
            let request = describe_cluster::Request {
                include_cluster_authorized_operations: asked,
                endpoint_type: 1,
                include_fenced_brokers: false,
            };
            let body = conn.send::<DescribeCluster>(version, &request);
            let response = decoded::<DescribeCluster>(&body, version);
            let expected = if asked { CLUSTER } else { i32::MIN };
            assert_eq!(response.cluster_authorized_operations, expected);
        }
    }
}

#[test]
fn api_versions_finalizes_metadata_version_29_with_the_metadata_log_offset_as_epoch() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "epoch", 3);
    let request = api_versions::Request {
        client_software_name: "test",
        client_software_version: "1",
    };
    let body = conn.send::<ApiVersions>(3, &request);
    let response = decoded::<ApiVersions>(&body, 3);
    let supported: Vec<(&str, i16, i16)> = response
        .supported_features
        .iter()
        .map(|f| (f.name.as_str(), f.min_version, f.max_version))
        .collect();
    assert_eq!(supported, [("metadata.version", 7, 29)]);
    let finalized: Vec<(&str, i16, i16)> = response
        .finalized_features
        .iter()
        .map(|f| (f.name.as_str(), f.min_version_level, f.max_version_level))
        .collect();
    assert_eq!(finalized, [("metadata.version", 29, 29)]);
    // TopicRecord and three PartitionRecords: offsets 0-3.
    assert_eq!(response.finalized_features_epoch, 3);
    let request = raise_request(vec![topic("epoch", 5, None)], false);
    assert_eq!(raise(&mut conn, 3, &request), [ok("epoch")]);
    let body = conn.send::<ApiVersions>(4, &request_v4());
    assert_eq!(decoded::<ApiVersions>(&body, 4).finalized_features_epoch, 5);
}

fn request_v4() -> api_versions::Request<'static> {
    api_versions::Request {
        client_software_name: "test",
        client_software_version: "1",
    }
}
