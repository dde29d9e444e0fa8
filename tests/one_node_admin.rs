//! The admin calls that mean something on one node, over a real socket: DescribeLogDirs,
//! DescribeProducers, ElectLeaders, List/AlterPartitionReassignments and DescribeQuorum,
//! every version, every error path, and a restart where the answer must stay the same.
//! Requests are built with the declared codecs (`wire::encode`); responses are decoded with
//! `wire::decode` and must re-encode to the bytes received; one old and one flexible answer
//! per API are also compared byte for byte with hand-built bytes.

mod common;

use std::path::Path;

use common::{Conn, TestBroker, assert_bytes, decoded};
use kafka_broker::apis::alter_partition_reassignments::{
    self as alter, AlterPartitionReassignments,
};
use kafka_broker::apis::describe_log_dirs::{self as log_dirs, DescribeLogDirs};
use kafka_broker::apis::describe_producers::{self as producers, DescribeProducers};
use kafka_broker::apis::describe_quorum::{self as quorum, DescribeQuorum};
use kafka_broker::apis::elect_leaders::{self as elect, ElectLeaders};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::list_partition_reassignments::{self as list, ListPartitionReassignments};
use kafka_broker::apis::produce;
use kafka_broker::storage::crc32c::crc32c;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_REQUEST: i16 = 42;
const ELECTION_NOT_NEEDED: i16 = 84;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

const UNKNOWN_MESSAGE: &str = "This server does not host this topic-partition.";
const NOT_NEEDED_MESSAGE: &str = "Leader election not needed for topic partition.";
/// The broker's node.id (the default).
const NODE_ID: i32 = 1;
/// A timestamp for hand-built batches (2023-11-14).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

// ---- Requests ----

/// Hand-built expected bytes.
#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn i8(&mut self, v: i8) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn uv(&mut self, v: usize) -> &mut Self {
        assert!(v < 0x80);
        self.0.push(v as u8);
        self
    }
    fn varint(&mut self, v: i64) -> &mut Self {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            self.0.push((z as u8 & 0x7f) | 0x80);
            z >>= 7;
        }
        self.0.push(z as u8);
        self
    }
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.i16(s.len() as i16).raw(s.as_bytes())
    }
    fn cs(&mut self, s: &str) -> &mut Self {
        self.uv(s.len() + 1).raw(s.as_bytes())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    common::create_topic(conn, name, partitions, &[]);
}

/// A record batch v2 of `count` records (null keys, value "v"), with the producer id, epoch
/// and base sequence in its header (-1s for a plain batch), batchLength and CRC sealed.
fn batch(producer: (i64, i16, i32), count: i32, max_timestamp: i64) -> Vec<u8> {
    let (producer_id, epoch, base_sequence) = producer;
    let mut b = B::default();
    b.i64(0).i32(0).i32(0).i8(2).i32(0).i16(0);
    b.i32(count - 1).i64(TIMESTAMP_MS).i64(max_timestamp);
    b.i64(producer_id).i16(epoch).i32(base_sequence).i32(count);
    for delta in 0..count {
        let record = B::default()
            .i8(0)
            .varint(0)
            .varint(i64::from(delta))
            .varint(-1)
            .varint(1)
            .raw(b"v")
            .varint(0)
            .take();
        b.varint(record.len() as i64).raw(&record);
    }
    let mut bytes = b.take();
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// Produces `batch` to `topic`-`partition` (v11, acks -1) and checks it was accepted.
fn produce_batch(conn: &mut Conn, topic: &str, partition: i32, batch: &[u8]) {
    let request = common::produce_request(topic, partition, batch);
    let body = conn.send::<produce::Produce>(11, &request);
    let response = decoded::<produce::Produce>(&body, 11);
    let result = &response.responses[0].partition_responses[0];
    assert_eq!(
        (result.index, result.error_code),
        (partition, NONE),
        "produce"
    );
}

// ---- DescribeLogDirs ----

fn describe_log_dirs(
    conn: &mut Conn,
    version: i16,
    topics: Option<Vec<log_dirs::RequestTopic>>,
) -> (Vec<u8>, log_dirs::Response) {
    let body = conn.send::<DescribeLogDirs>(version, &log_dirs::Request { topics });
    let response = decoded::<DescribeLogDirs>(&body, version);
    (body, response)
}

fn asked<'a>(topic: &'a str, partitions: &[i32]) -> log_dirs::RequestTopic<'a> {
    log_dirs::RequestTopic {
        topic,
        partitions: partitions.to_vec(),
    }
}

/// Each listed partition's (topic, partition, size), checking lag 0 and no future log.
fn sizes(response: &log_dirs::Response) -> Vec<(String, i32, i64)> {
    let [result] = response.results.as_slice() else {
        panic!("one log dir expected: {response:?}");
    };
    let mut out = Vec::new();
    for topic in &result.topics {
        for p in &topic.partitions {
            assert_eq!((p.offset_lag, p.is_future_key), (0, false), "{p:?}");
            out.push((topic.name.clone(), p.partition_index, p.partition_size));
        }
    }
    out
}

/// The bytes of a partition's segment files.
fn bytes_on_disk(log_dir: &Path, topic: &str, partition: i32) -> i64 {
    let dir = log_dir.join(format!("{topic}-{partition}"));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .map(|path| std::fs::metadata(path).unwrap().len() as i64)
        .sum()
}

#[test]
fn describe_log_dirs_v1_to_v5_sizes_grow_with_produce_and_survive_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "sized", 2);
    create_topic(&mut conn, "other", 1);
    let log_dir = broker.log_dir.to_string_lossy().into_owned();
    for version in 1..=5 {
        let (_, response) = describe_log_dirs(&mut conn, version, None);
        assert_eq!(response.error_code, NONE);
        let result = &response.results[0];
        assert_eq!((result.error_code, &result.log_dir), (NONE, &log_dir));
        assert_eq!(
            sizes(&response),
            [
                ("other".into(), 0, 0),
                ("sized".into(), 0, 0),
                ("sized".into(), 1, 0)
            ],
            "v{version}: every partition, empty, and not the metadata log"
        );
        if version >= 4 {
            assert!(result.total_bytes > 0, "v{version}: {result:?}");
            assert!((0..=result.total_bytes).contains(&result.usable_bytes));
        } else {
            // Not on the wire before v4: the decoded default.
            assert_eq!((result.total_bytes, result.usable_bytes), (-1, -1));
        }
        assert!(!result.is_cordoned);
    }

    produce_batch(&mut conn, "sized", 0, &batch((-1, -1, -1), 3, TIMESTAMP_MS));
    let (_, after_one) = describe_log_dirs(&mut conn, 5, None);
    let one_batch = bytes_on_disk(&broker.log_dir, "sized", 0);
    assert!(one_batch > 61, "a batch is on disk: {one_batch}");
    assert_eq!(
        sizes(&after_one),
        [
            ("other".into(), 0, 0),
            ("sized".into(), 0, one_batch),
            ("sized".into(), 1, 0)
        ]
    );
    produce_batch(&mut conn, "sized", 0, &batch((-1, -1, -1), 5, TIMESTAMP_MS));
    let two_batches = bytes_on_disk(&broker.log_dir, "sized", 0);
    assert!(two_batches > one_batch);

    // Named partitions only: unknown topics, unknown partitions and topics with none of the
    // asked partitions are left out; duplicates are listed once.
    let filter = || {
        Some(vec![
            asked("sized", &[0, 7, 0]),
            asked("missing", &[0]),
            asked("other", &[5]),
        ])
    };
    let (v1_body, v1) = describe_log_dirs(&mut conn, 1, filter());
    assert_eq!(sizes(&v1), [("sized".into(), 0, two_batches)]);
    let mut expected = B::default();
    expected.i32(0).i32(1).i16(NONE).s(&log_dir);
    expected
        .i32(1)
        .s("sized")
        .i32(1)
        .i32(0)
        .i64(two_batches)
        .i64(0)
        .i8(0);
    assert_bytes(&v1_body, &expected.take());

    let (v5_body, v5) = describe_log_dirs(&mut conn, 5, filter());
    let r = &v5.results[0];
    let mut expected = B::default();
    expected.i32(0).i16(NONE).uv(2).i16(NONE).cs(&log_dir);
    expected
        .uv(2)
        .cs("sized")
        .uv(2)
        .i32(0)
        .i64(two_batches)
        .i64(0)
        .i8(0)
        .uv(0)
        .uv(0);
    expected
        .i64(r.total_bytes)
        .i64(r.usable_bytes)
        .i8(0)
        .uv(0)
        .uv(0);
    assert_bytes(&v5_body, &expected.take());

    // An empty list asks for no partitions: the log dir, with no topics.
    let (_, none) = describe_log_dirs(&mut conn, 3, Some(vec![]));
    assert_eq!((none.results.len(), none.results[0].topics.len()), (1, 0));

    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (_, restarted) = describe_log_dirs(&mut conn, 5, None);
    assert_eq!(
        sizes(&restarted),
        [
            ("other".into(), 0, 0),
            ("sized".into(), 0, two_batches),
            ("sized".into(), 1, 0)
        ],
        "sizes after a restart"
    );
}

// ---- DescribeProducers ----

fn init_producer(conn: &mut Conn) -> (i64, i16) {
    let request = init_producer_id::Request {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let body = conn.send::<InitProducerId>(4, &request);
    let response = decoded::<InitProducerId>(&body, 4);
    assert_eq!(response.error_code, NONE);
    (response.producer_id, response.producer_epoch)
}

fn describe_producers(conn: &mut Conn, topics: &[(&str, &[i32])]) -> producers::Response {
    let request = producers::Request {
        topics: topics
            .iter()
            .map(|&(name, partitions)| producers::RequestTopic {
                name,
                partition_indexes: partitions.to_vec(),
            })
            .collect(),
    };
    let body = conn.send::<DescribeProducers>(0, &request);
    decoded::<DescribeProducers>(&body, 0)
}

fn partition(
    partition_index: i32,
    error_code: i16,
    error_message: Option<&str>,
    active_producers: Vec<producers::ProducerState>,
) -> producers::ResponsePartition {
    producers::ResponsePartition {
        partition_index,
        error_code,
        error_message: error_message.map(str::to_string),
        active_producers,
    }
}

#[test]
fn describe_producers_v0_reports_idempotent_producers_and_every_error_across_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "idem", 2);
    let (first, first_epoch) = init_producer(&mut conn);
    let (second, second_epoch) = init_producer(&mut conn);
    produce_batch(
        &mut conn,
        "idem",
        0,
        &batch((first, first_epoch, 0), 3, TIMESTAMP_MS + 3),
    );
    produce_batch(
        &mut conn,
        "idem",
        0,
        &batch((first, first_epoch, 3), 2, TIMESTAMP_MS + 9),
    );
    produce_batch(
        &mut conn,
        "idem",
        0,
        &batch((second, second_epoch, 0), 1, TIMESTAMP_MS + 1),
    );
    // A plain batch has no producer to report.
    produce_batch(&mut conn, "idem", 1, &batch((-1, -1, -1), 2, TIMESTAMP_MS));
    let state = |producer_id, epoch: i16, last_sequence, last_timestamp| producers::ProducerState {
        producer_id,
        producer_epoch: i32::from(epoch),
        last_sequence,
        last_timestamp,
        coordinator_epoch: -1,
        current_txn_start_offset: -1,
    };
    let topic = |name: &str, partitions| producers::ResponseTopic {
        name: name.into(),
        partitions,
    };
    let too_long = "x".repeat(250);
    let expected = producers::Response {
        throttle_time_ms: 0,
        topics: vec![
            topic(
                "idem",
                vec![
                    partition(
                        0,
                        NONE,
                        None,
                        vec![
                            state(first, first_epoch, 4, TIMESTAMP_MS + 9),
                            state(second, second_epoch, 0, TIMESTAMP_MS + 1),
                        ],
                    ),
                    partition(1, NONE, None, vec![]),
                    partition(9, UNKNOWN_TOPIC_OR_PARTITION, None, vec![]),
                ],
            ),
            topic(
                "missing",
                vec![partition(
                    0,
                    UNKNOWN_TOPIC_OR_PARTITION,
                    Some(UNKNOWN_MESSAGE),
                    vec![],
                )],
            ),
            topic(
                "bad name",
                vec![partition(
                    0,
                    INVALID_TOPIC_EXCEPTION,
                    Some(
                        "Topic name is invalid: 'bad name' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'",
                    ),
                    vec![],
                )],
            ),
            topic(
                "",
                vec![partition(
                    3,
                    INVALID_TOPIC_EXCEPTION,
                    Some("Topic name is invalid: the empty string is not allowed"),
                    vec![],
                )],
            ),
            topic(
                &too_long,
                vec![partition(
                    0,
                    INVALID_TOPIC_EXCEPTION,
                    Some(&format!(
                        "Topic name is invalid: the length of '{too_long}' is longer than the max allowed length 249"
                    )),
                    vec![],
                )],
            ),
            topic("..", vec![]),
        ],
    };
    let asked: [(&str, &[i32]); 6] = [
        ("idem", &[0, 1, 9]),
        ("missing", &[0]),
        ("bad name", &[0]),
        ("", &[3]),
        (&too_long, &[0]),
        ("..", &[]),
    ];
    assert_eq!(describe_producers(&mut conn, &asked), expected);

    // Byte for byte: one partition, one producer.
    let body = conn.send::<DescribeProducers>(
        0,
        &producers::Request {
            topics: vec![producers::RequestTopic {
                name: "idem",
                partition_indexes: vec![0],
            }],
        },
    );
    let mut bytes = B::default();
    bytes
        .i32(0)
        .uv(2)
        .cs("idem")
        .uv(2)
        .i32(0)
        .i16(NONE)
        .uv(0)
        .uv(3);
    for (id, epoch, sequence, timestamp) in [
        (first, first_epoch, 4, TIMESTAMP_MS + 9),
        (second, second_epoch, 0, TIMESTAMP_MS + 1),
    ] {
        bytes
            .i64(id)
            .i32(i32::from(epoch))
            .i32(sequence)
            .i64(timestamp);
        bytes.i32(-1).i64(-1).uv(0);
    }
    bytes.uv(0).uv(0).uv(0);
    assert_bytes(&body, &bytes.take());

    // The state is rebuilt from the log on start.
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        describe_producers(&mut conn, &asked),
        expected,
        "after a restart"
    );
}

// ---- ElectLeaders ----

fn elect_leaders(
    conn: &mut Conn,
    version: i16,
    election_type: i8,
    topics: Option<&[(&str, &[i32])]>,
) -> (Vec<u8>, elect::Response) {
    let request = elect::Request {
        election_type,
        topic_partitions: topics.map(|topics| {
            topics
                .iter()
                .map(|&(topic, partitions)| elect::TopicPartitions {
                    topic,
                    partitions: partitions.to_vec(),
                })
                .collect()
        }),
        timeout_ms: 10_000,
    };
    let body = conn.send::<ElectLeaders>(version, &request);
    let response = decoded::<ElectLeaders>(&body, version);
    (body, response)
}

/// Each result as (topic, [(partition, error, message)]).
type Elected = Vec<(String, Vec<(i32, i16, Option<String>)>)>;

fn elected(response: &elect::Response) -> Elected {
    response
        .replica_election_results
        .iter()
        .map(|r| {
            let partitions = r
                .partition_result
                .iter()
                .map(|p| (p.partition_id, p.error_code, p.error_message.clone()))
                .collect();
            (r.topic.clone(), partitions)
        })
        .collect()
}

#[test]
fn elect_leaders_v0_to_v2_no_election_is_ever_needed() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "led", 2);
    create_topic(&mut conn, "also", 1);
    let some = |s: &str| Some(s.to_string());
    let asked: [(&str, &[i32]); 2] = [("led", &[0, 1, 5]), ("missing", &[0, 1])];
    let expected: Elected = vec![
        (
            "led".into(),
            vec![
                (0, ELECTION_NOT_NEEDED, some(NOT_NEEDED_MESSAGE)),
                (1, ELECTION_NOT_NEEDED, some(NOT_NEEDED_MESSAGE)),
                (
                    5,
                    UNKNOWN_TOPIC_OR_PARTITION,
                    some("No such partition as led-5"),
                ),
            ],
        ),
        (
            "missing".into(),
            vec![
                (
                    0,
                    UNKNOWN_TOPIC_OR_PARTITION,
                    some("No such topic as missing"),
                ),
                (
                    1,
                    UNKNOWN_TOPIC_OR_PARTITION,
                    some("No such topic as missing"),
                ),
            ],
        ),
    ];
    for version in 0..=2 {
        let types: &[i8] = if version == 0 { &[0] } else { &[0, 1] };
        for &election_type in types {
            let (_, response) = elect_leaders(&mut conn, version, election_type, Some(&asked));
            assert_eq!(response.error_code, NONE);
            assert_eq!(
                elected(&response),
                expected,
                "v{version} type {election_type}"
            );
            // Every partition: those with their wanted leader are left out.
            let (_, all) = elect_leaders(&mut conn, version, election_type, None);
            assert_eq!(
                elected(&all),
                [("also".into(), vec![]), ("led".into(), vec![])],
                "v{version} type {election_type}, all partitions"
            );
        }
    }
    // v0 (no election type, no top-level error) byte for byte.
    let (body, _) = elect_leaders(&mut conn, 0, 0, Some(&[("led", &[1])]));
    let mut bytes = B::default();
    bytes
        .i32(0)
        .i32(1)
        .s("led")
        .i32(1)
        .i32(1)
        .i16(ELECTION_NOT_NEEDED);
    bytes.s(NOT_NEEDED_MESSAGE);
    assert_bytes(&body, &bytes.take());

    // An unknown election type: INVALID_REQUEST at the top and on every named partition.
    for version in 1..=2 {
        let message = some("Unknown election type 2");
        let (body, response) = elect_leaders(&mut conn, version, 2, Some(&asked));
        assert_eq!(response.error_code, INVALID_REQUEST);
        assert_eq!(
            elected(&response),
            vec![
                (
                    "led".into(),
                    vec![
                        (0, INVALID_REQUEST, message.clone()),
                        (1, INVALID_REQUEST, message.clone()),
                        (5, INVALID_REQUEST, message.clone()),
                    ]
                ),
                (
                    "missing".into(),
                    vec![
                        (0, INVALID_REQUEST, message.clone()),
                        (1, INVALID_REQUEST, message.clone()),
                    ]
                ),
            ]
        );
        if version == 2 {
            assert_eq!(body[4..6], INVALID_REQUEST.to_be_bytes());
        }
        let (_, all) = elect_leaders(&mut conn, version, -1, None);
        assert_eq!((all.error_code, elected(&all)), (INVALID_REQUEST, vec![]));
    }
    // v2 byte for byte.
    let (body, _) = elect_leaders(&mut conn, 2, 1, Some(&[("led", &[0])]));
    let mut bytes = B::default();
    bytes
        .i32(0)
        .i16(NONE)
        .uv(2)
        .cs("led")
        .uv(2)
        .i32(0)
        .i16(ELECTION_NOT_NEEDED);
    bytes.cs(NOT_NEEDED_MESSAGE).uv(0).uv(0).uv(0);
    assert_bytes(&body, &bytes.take());

    // Leadership is the same after a restart.
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (_, response) = elect_leaders(&mut conn, 2, 0, Some(&asked));
    assert_eq!(elected(&response), expected, "after a restart");
}

// ---- Partition reassignments ----

/// A topic's (partition, target replicas) to reassign; `None` cancels.
type Targets<'a> = (&'a str, &'a [(i32, Option<&'a [i32]>)]);

fn alter_reassignments(
    conn: &mut Conn,
    version: i16,
    allow_replication_factor_change: bool,
    topics: &[Targets],
) -> (Vec<u8>, alter::Response) {
    let request = alter::Request {
        timeout_ms: 10_000,
        allow_replication_factor_change,
        topics: topics
            .iter()
            .map(|&(name, partitions)| alter::ReassignableTopic {
                name,
                partitions: partitions
                    .iter()
                    .map(
                        |&(partition_index, replicas)| alter::ReassignablePartition {
                            partition_index,
                            replicas: replicas.map(<[i32]>::to_vec),
                        },
                    )
                    .collect(),
            })
            .collect(),
    };
    let body = conn.send::<AlterPartitionReassignments>(version, &request);
    let response = decoded::<AlterPartitionReassignments>(&body, version);
    (body, response)
}

/// Each partition's (topic, partition, error, message).
fn altered(response: &alter::Response) -> Vec<(String, i32, i16, Option<String>)> {
    assert_eq!(
        (response.error_code, &response.error_message),
        (NONE, &None)
    );
    response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.clone(),
                    p.partition_index,
                    p.error_code,
                    p.error_message.clone(),
                )
            })
        })
        .collect()
}

fn list_reassignments(
    conn: &mut Conn,
    topics: Option<Vec<list::RequestTopic>>,
) -> (Vec<u8>, list::Response) {
    let request = list::Request {
        timeout_ms: 10_000,
        topics,
    };
    let body = conn.send::<ListPartitionReassignments>(0, &request);
    let response = decoded::<ListPartitionReassignments>(&body, 0);
    (body, response)
}

#[test]
fn partition_reassignments_keep_every_partition_on_this_broker() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "moved", 2);
    let s = |m: &str| Some(m.to_string());
    let registered = |b: i32| {
        s(&format!(
            "The manual partition assignment includes broker {b}, but no such broker is registered."
        ))
    };
    let targets: [Targets; 2] = [
        (
            "moved",
            &[
                (0, Some(&[NODE_ID])),
                (1, None),
                (0, Some(&[2])),
                (1, Some(&[])),
                (0, Some(&[NODE_ID, NODE_ID])),
                (1, Some(&[3, NODE_ID])),
                (0, Some(&[-1])),
                (7, Some(&[NODE_ID])),
            ],
        ),
        ("missing", &[(0, Some(&[NODE_ID]))]),
    ];
    let expected = vec![
        ("moved".to_string(), 0, NONE, None),
        ("moved".into(), 1, NO_REASSIGNMENT_IN_PROGRESS, None),
        ("moved".into(), 0, INVALID_REPLICA_ASSIGNMENT, registered(2)),
        (
            "moved".into(),
            1,
            INVALID_REPLICA_ASSIGNMENT,
            s("The manual partition assignment includes an empty replica list."),
        ),
        (
            "moved".into(),
            0,
            INVALID_REPLICA_ASSIGNMENT,
            s("The manual partition assignment includes the broker 1 more than once."),
        ),
        ("moved".into(), 1, INVALID_REPLICA_ASSIGNMENT, registered(3)),
        (
            "moved".into(),
            0,
            INVALID_REPLICA_ASSIGNMENT,
            registered(-1),
        ),
        (
            "moved".into(),
            7,
            UNKNOWN_TOPIC_OR_PARTITION,
            s("Unable to find partition moved:7."),
        ),
        (
            "missing".into(),
            0,
            UNKNOWN_TOPIC_OR_PARTITION,
            s("Unable to find a topic named missing."),
        ),
    ];
    for version in 0..=1 {
        let (_, response) = alter_reassignments(&mut conn, version, true, &targets);
        assert_eq!(altered(&response), expected, "v{version}");
        assert!(response.allow_replication_factor_change);
    }
    // v1 with the replication factor fixed: a count other than one is refused first.
    let (_, response) = alter_reassignments(
        &mut conn,
        1,
        false,
        &[(
            "moved",
            &[
                (0, Some(&[NODE_ID])),
                (0, Some(&[NODE_ID, 2])),
                (1, Some(&[])),
                (1, Some(&[2])),
                (1, None),
            ],
        )],
    );
    assert!(!response.allow_replication_factor_change, "echoed");
    assert_eq!(
        altered(&response),
        [
            ("moved".to_string(), 0, NONE, None),
            (
                "moved".into(),
                0,
                INVALID_REPLICATION_FACTOR,
                s("The replication factor is changed from 1 to 2")
            ),
            (
                "moved".into(),
                1,
                INVALID_REPLICATION_FACTOR,
                s("The replication factor is changed from 1 to 0")
            ),
            ("moved".into(), 1, INVALID_REPLICA_ASSIGNMENT, registered(2)),
            ("moved".into(), 1, NO_REASSIGNMENT_IN_PROGRESS, None),
        ]
    );
    // Byte for byte (v0 and v1 are both flexible).
    let (body, _) = alter_reassignments(&mut conn, 0, true, &[("moved", &[(1, None)])]);
    let mut bytes = B::default();
    bytes.i32(0).i16(NONE).uv(0).uv(2).cs("moved").uv(2);
    bytes
        .i32(1)
        .i16(NO_REASSIGNMENT_IN_PROGRESS)
        .uv(0)
        .uv(0)
        .uv(0)
        .uv(0);
    assert_bytes(&body, &bytes.take());
    let (body, _) =
        alter_reassignments(&mut conn, 1, false, &[("moved", &[(0, Some(&[NODE_ID]))])]);
    let mut bytes = B::default();
    bytes.i32(0).i8(0).i16(NONE).uv(0).uv(2).cs("moved").uv(2);
    bytes.i32(0).i16(NONE).uv(0).uv(0).uv(0).uv(0);
    assert_bytes(&body, &bytes.take());

    // Nothing is ever in progress: all, named, unknown.
    let empty = {
        let mut bytes = B::default();
        bytes.i32(0).i16(NONE).uv(0).uv(1).uv(0);
        bytes.take()
    };
    let (body, _) = list_reassignments(&mut conn, None);
    assert_bytes(&body, &empty);
    let named = || {
        Some(vec![
            list::RequestTopic {
                name: "moved",
                partition_indexes: vec![0, 1, 9],
            },
            list::RequestTopic {
                name: "missing",
                partition_indexes: vec![0],
            },
        ])
    };
    let (body, _) = list_reassignments(&mut conn, named());
    assert_bytes(&body, &empty);

    // Still nothing moving, and still here, after a restart.
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (body, _) = list_reassignments(&mut conn, named());
    assert_bytes(&body, &empty);
    let (_, response) = alter_reassignments(&mut conn, 1, true, &targets);
    assert_eq!(altered(&response), expected, "after a restart");
}

// ---- DescribeQuorum ----

fn describe_quorum(
    conn: &mut Conn,
    version: i16,
    topics: &[(&str, &[i32])],
) -> (Vec<u8>, quorum::Response) {
    let request = quorum::Request {
        topics: topics
            .iter()
            .map(|&(topic_name, partitions)| quorum::RequestTopic {
                topic_name,
                partitions: partitions
                    .iter()
                    .map(|&partition_index| quorum::RequestPartition { partition_index })
                    .collect(),
            })
            .collect(),
    };
    let body = conn.send::<DescribeQuorum>(version, &request);
    let response = decoded::<DescribeQuorum>(&body, version);
    (body, response)
}

const METADATA: [(&str, &[i32]); 1] = [("__cluster_metadata", &[0])];

/// meta.properties' directory.id, decoded from Kafka's base64url.
fn directory_id(log_dir: &Path) -> [u8; 16] {
    let text = std::fs::read_to_string(log_dir.join("meta.properties")).unwrap();
    let encoded = text
        .lines()
        .find_map(|l| l.strip_prefix("directory.id="))
        .expect("directory.id");
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in encoded.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {encoded}"),
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out.try_into().expect("16 bytes")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// (leader, epoch, high watermark, voter's log end offset) of a successful answer, after
/// checking its shape: one topic, one partition, this node as the one voter, no observers.
fn quorum_state(response: &quorum::Response, version: i16) -> (i32, i32, i64, i64) {
    assert_eq!(response.error_code, NONE);
    let [topic] = response.topics.as_slice() else {
        panic!("{response:?}")
    };
    let [p] = topic.partitions.as_slice() else {
        panic!("{response:?}")
    };
    assert_eq!(
        (topic.topic_name.as_str(), p.partition_index, p.error_code),
        ("__cluster_metadata", 0, NONE)
    );
    assert!(p.observers.is_empty());
    let [voter] = p.current_voters.as_slice() else {
        panic!("{response:?}")
    };
    assert_eq!(voter.replica_id, NODE_ID);
    if version >= 1 {
        assert_eq!(voter.last_fetch_timestamp, voter.last_caught_up_timestamp);
    } else {
        assert_eq!(
            (voter.last_fetch_timestamp, voter.last_caught_up_timestamp),
            (-1, -1)
        );
    }
    (
        p.leader_id,
        p.leader_epoch,
        p.high_watermark,
        voter.log_end_offset,
    )
}

#[test]
fn describe_quorum_v0_to_v2_this_node_is_the_only_voter_and_leader() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let (_, response) = describe_quorum(&mut conn, 2, &METADATA);
    let (_, _, _, start_offset) = quorum_state(&response, 2);
    create_topic(&mut conn, "grown", 3);
    let mut end_offset = 0;
    for version in 0..=2 {
        let before_ms = now_ms();
        let (_, response) = describe_quorum(&mut conn, version, &METADATA);
        let after_ms = now_ms();
        let (leader, epoch, high_watermark, leo) = quorum_state(&response, version);
        // A TopicRecord and three PartitionRecords.
        assert_eq!(
            (leader, epoch, high_watermark, leo),
            (NODE_ID, 1, start_offset + 4, start_offset + 4)
        );
        end_offset = leo;
        let p = &response.topics[0].partitions[0];
        let voter = &p.current_voters[0];
        if version >= 1 {
            // The leader reports the wall clock for itself.
            assert!((before_ms..=after_ms).contains(&voter.last_fetch_timestamp));
        }
        if version >= 2 {
            assert_eq!(voter.replica_directory_id, directory_id(&broker.log_dir));
            assert_eq!(
                (
                    response.error_message.as_deref(),
                    p.error_message.as_deref()
                ),
                (Some(""), Some(""))
            );
            let [node] = response.nodes.as_slice() else {
                panic!("{response:?}")
            };
            let listeners: Vec<(&str, &str, u16)> = node
                .listeners
                .iter()
                .map(|l| (l.name.as_str(), l.host.as_str(), l.port))
                .collect();
            assert_eq!(node.node_id, NODE_ID);
            assert_eq!(listeners, [("PLAINTEXT", "127.0.0.1", broker.addr.port())]);
        } else {
            assert_eq!(
                voter.replica_directory_id, [0; 16],
                "not on the wire before v2"
            );
            assert!(response.nodes.is_empty());
        }
    }

    // v0 byte for byte.
    let (body, _) = describe_quorum(&mut conn, 0, &METADATA);
    let mut bytes = B::default();
    bytes
        .i16(NONE)
        .uv(2)
        .cs("__cluster_metadata")
        .uv(2)
        .i32(0)
        .i16(NONE);
    bytes.i32(NODE_ID).i32(1).i64(end_offset);
    bytes
        .uv(2)
        .i32(NODE_ID)
        .i64(end_offset)
        .uv(0)
        .uv(1)
        .uv(0)
        .uv(0)
        .uv(0);
    assert_bytes(&body, &bytes.take());

    // Anything but exactly partition 0 of the metadata topic: UNKNOWN_TOPIC_OR_PARTITION on
    // every partition named, with Kafka's message from v2.
    let asks: [&[(&str, &[i32])]; 4] = [
        &[("__cluster_metadata", &[1])],
        &[("__cluster_metadata", &[0, 0])],
        &[("grown", &[0]), ("__cluster_metadata", &[0])],
        &[("grown", &[])],
    ];
    for version in 0..=2 {
        for ask in asks {
            let (_, response) = describe_quorum(&mut conn, version, ask);
            assert_eq!((response.error_code, response.nodes.len()), (NONE, 0));
            let got: Vec<(&str, i32, i16, Option<&str>, i32)> = response
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            t.topic_name.as_str(),
                            p.partition_index,
                            p.error_code,
                            p.error_message.as_deref(),
                            p.leader_id,
                        )
                    })
                })
                .collect();
            let message = if version >= 2 { UNKNOWN_MESSAGE } else { "" };
            let want: Vec<(&str, i32, i16, Option<&str>, i32)> = ask
                .iter()
                .flat_map(|&(t, ps)| {
                    ps.iter()
                        .map(move |&p| (t, p, UNKNOWN_TOPIC_OR_PARTITION, Some(message), 0))
                })
                .collect();
            assert_eq!(got, want, "v{version} {ask:?}");
            assert_eq!(response.topics.len(), ask.len());
        }
    }
    // v2 byte for byte.
    let (body, _) = describe_quorum(&mut conn, 2, &[("x", &[3])]);
    let mut bytes = B::default();
    bytes
        .i16(NONE)
        .uv(1)
        .uv(2)
        .cs("x")
        .uv(2)
        .i32(3)
        .i16(UNKNOWN_TOPIC_OR_PARTITION);
    bytes
        .cs(UNKNOWN_MESSAGE)
        .i32(0)
        .i32(0)
        .i64(0)
        .uv(1)
        .uv(1)
        .uv(0)
        .uv(0);
    bytes.uv(1).uv(0);
    assert_bytes(&body, &bytes.take());

    // The metadata log survives a restart.
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (_, response) = describe_quorum(&mut conn, 2, &METADATA);
    assert_eq!(
        quorum_state(&response, 2),
        (NODE_ID, 1, end_offset, end_offset),
        "after a restart"
    );
}
