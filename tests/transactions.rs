//! The transaction coordinator over a real socket: InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn, Produce's check of transactional batches, EndTxn,
//! TxnOffsetCommit, DescribeTransactions and ListTransactions, every error path with Kafka's
//! codes (and the older codes older versions get), markers in the partitions' logs, the
//! timeout abort that fences a producer, and kill -9 restarts: a transaction decided before
//! the crash (PrepareCommit durable, markers missing or half written) completes; an
//! undecided one times out and aborts; transactional offsets count only once committed.
//!
//! A crash between the durable PrepareCommit and the markers cannot be timed from outside
//! (the markers follow in the same loop turn), so those tests write the state the crash
//! leaves: Kafka-format batches appended to the stopped broker's log files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use common::{Conn, IO_TIMEOUT, TestBroker, body_of, decoded};
use kafka_broker::apis::Api;
use kafka_broker::apis::add_offsets_to_txn::{self, AddOffsetsToTxn};
use kafka_broker::apis::add_partitions_to_txn::{self, AddPartitionsToTxn};
use kafka_broker::apis::describe_transactions::{self, DescribeTransactions};
use kafka_broker::apis::end_txn::{self, EndTxn};
use kafka_broker::apis::find_coordinator::{self, FindCoordinator};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::list_transactions::{self, ListTransactions};
use kafka_broker::apis::offset_fetch::{self, OffsetFetch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::apis::txn_offset_commit::{self, TxnOffsetCommit};
use kafka_broker::protocol::wire::Records;
use kafka_broker::storage::batch::{self, BatchHeader};
use kafka_broker::storage::crc32c::crc32c;
use kafka_broker::storage::{offsets, txn_log};
use kafka_broker::transactions::{TxnMetadata, TxnState};

const NONE: i16 = 0;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_GROUP_ID: i16 = 24;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

const TOPIC: &str = "orders";
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

// ---- Requests ----

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    common::create_topic(conn, name, partitions, &[]);
}

fn init(
    conn: &mut Conn,
    version: i16,
    id: Option<&str>,
    timeout_ms: i32,
    given: (i64, i16),
) -> init_producer_id::Response {
    let request = init_producer_id::Request {
        transactional_id: id,
        transaction_timeout_ms: timeout_ms,
        producer_id: given.0,
        producer_epoch: given.1,
        ..Default::default()
    };
    let body = conn.send::<InitProducerId>(version, &request);
    decoded::<InitProducerId>(&body, version)
}

/// InitProducerId until it is not CONCURRENT_TRANSACTIONS (as a client retries).
/// Topic `TOPIC`, producer "tx" initialised, partition 0 added and one record "a" produced
/// in its transaction: the producer's id and epoch.
fn one_record_transaction(conn: &mut Conn) -> (i64, i16) {
    create_topic(conn, TOPIC, 1);
    let producer = init_ok(conn, "tx", 60_000);
    add_partitions(conn, 3, "tx", producer, &[(TOPIC, 0)]);
    let batch = txn_batch(producer, 0, &["a"]);
    assert_eq!(produce(conn, 11, Some("tx"), 0, &batch).0, NONE);
    producer
}

fn init_ok(conn: &mut Conn, id: &str, timeout_ms: i32) -> (i64, i16) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let response = init(conn, 4, Some(id), timeout_ms, (-1, -1));
        if response.error_code != CONCURRENT_TRANSACTIONS {
            assert_eq!(response.error_code, NONE, "InitProducerId of {id}");
            return (response.producer_id, response.producer_epoch);
        }
        assert!(
            Instant::now() < deadline,
            "{id} stays CONCURRENT_TRANSACTIONS"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// AddPartitionsToTxn v0-3 for one transaction; the codes by (topic, partition).
fn add_partitions(
    conn: &mut Conn,
    version: i16,
    id: &str,
    producer: (i64, i16),
    partitions: &[(&str, i32)],
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<add_partitions_to_txn::Topic> = Vec::new();
    for (topic, p) in partitions {
        match topics.iter_mut().find(|t| t.name == *topic) {
            Some(t) => t.partitions.push(*p),
            None => topics.push(add_partitions_to_txn::Topic {
                name: topic,
                partitions: vec![*p],
            }),
        }
    }
    let request = add_partitions_to_txn::Request {
        v3_and_below_transactional_id: id,
        v3_and_below_producer_id: producer.0,
        v3_and_below_producer_epoch: producer.1,
        v3_and_below_topics: topics,
        ..Default::default()
    };
    let body = conn.send::<AddPartitionsToTxn>(version, &request);
    let response = decoded::<AddPartitionsToTxn>(&body, version);
    codes(&response.results_by_topic_v3_and_below)
}

fn codes(topics: &[add_partitions_to_txn::TopicResult]) -> Vec<(String, i32, i16)> {
    topics
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.partition_error_code))
        })
        .collect()
}

fn end(
    conn: &mut Conn,
    version: i16,
    id: &str,
    producer: (i64, i16),
    commit: bool,
) -> end_txn::Response {
    let request = end_txn::Request {
        transactional_id: id,
        producer_id: producer.0,
        producer_epoch: producer.1,
        committed: commit,
    };
    let body = conn.send::<EndTxn>(version, &request);
    decoded::<EndTxn>(&body, version)
}

fn describe(conn: &mut Conn, id: &str) -> describe_transactions::TransactionState {
    let request = describe_transactions::Request {
        transactional_ids: vec![id],
    };
    let body = conn.send::<DescribeTransactions>(0, &request);
    let mut response = decoded::<DescribeTransactions>(&body, 0);
    response.transaction_states.remove(0)
}

/// DescribeTransactions until the id is in `state` (the timer's work is asynchronous).
fn wait_for_state(
    conn: &mut Conn,
    id: &str,
    state: &str,
) -> describe_transactions::TransactionState {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let described = describe(conn, id);
        if described.transaction_state == state {
            return described;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never {state}: {described:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A transactional batch of the producer: attributes 0x10, its id, epoch and sequence.
fn txn_batch(producer: (i64, i16), sequence: i32, values: &[&str]) -> Vec<u8> {
    let records: Vec<batch::KeyValue> = values
        .iter()
        .map(|v| (Some(b"k".to_vec()), Some(v.as_bytes().to_vec())))
        .collect();
    let mut bytes = batch::build_keyed(0, 0, TIMESTAMP_MS, &records);
    bytes[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
    bytes[43..51].copy_from_slice(&producer.0.to_be_bytes());
    bytes[51..53].copy_from_slice(&producer.1.to_be_bytes());
    bytes[53..57].copy_from_slice(&sequence.to_be_bytes());
    reseal(&mut bytes);
    bytes
}

fn reseal(bytes: &mut [u8]) {
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Produce (acks -1) of one batch to one partition: (error, base offset, error message).
fn produce(
    conn: &mut Conn,
    version: i16,
    id: Option<&str>,
    partition: i32,
    bytes: &[u8],
) -> (i16, i64, Option<String>) {
    let request = produce::Request {
        transactional_id: id,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce::TopicProduceData {
            name: TOPIC,
            partition_data: vec![produce::PartitionProduceData {
                index: partition,
                records: Some(Records::Bytes(bytes)),
            }],
        }],
    };
    let body = conn.send::<Produce>(version, &request);
    let response = decoded::<Produce>(&body, version);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset, p.error_message.clone())
}

fn txn_offset_commit(
    conn: &mut Conn,
    version: i16,
    id: &str,
    group: &str,
    producer: (i64, i16),
    offset: i64,
) -> i16 {
    let request = txn_offset_commit::Request {
        transactional_id: id,
        group_id: group,
        producer_id: producer.0,
        producer_epoch: producer.1,
        topics: vec![txn_offset_commit::RequestTopic {
            name: TOPIC,
            partitions: vec![txn_offset_commit::RequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some("m"),
            }],
        }],
        ..Default::default()
    };
    let body = conn.send::<TxnOffsetCommit>(version, &request);
    let response = decoded::<TxnOffsetCommit>(&body, version);
    response.topics[0].partitions[0].error_code
}

fn add_offsets(conn: &mut Conn, version: i16, id: &str, group: &str, producer: (i64, i16)) -> i16 {
    let request = add_offsets_to_txn::Request {
        transactional_id: id,
        producer_id: producer.0,
        producer_epoch: producer.1,
        group_id: group,
    };
    let body = conn.send::<AddOffsetsToTxn>(version, &request);
    decoded::<AddOffsetsToTxn>(&body, version).error_code
}

/// The group's committed offset of TOPIC-0, -1 if none (OffsetFetch v8).
fn committed(conn: &mut Conn, group: &str) -> i64 {
    let request = offset_fetch::Request {
        groups: vec![offset_fetch::RequestGroup {
            group_id: group,
            member_id: None,
            member_epoch: -1,
            topics: None,
        }],
        ..Default::default()
    };
    let body = conn.send::<OffsetFetch>(8, &request);
    let response = decoded::<OffsetFetch>(&body, 8);
    response.groups[0]
        .topics
        .iter()
        .filter(|t| t.name == TOPIC)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == 0)
        .map_or(-1, |p| p.committed_offset)
}

/// OffsetFetch v8 of TOPIC-0 with require_stable: (error code, offset).
fn fetch_stable(conn: &mut Conn, group: &str) -> (i16, i64) {
    let request = offset_fetch::Request {
        groups: vec![offset_fetch::RequestGroup {
            group_id: group,
            member_id: None,
            member_epoch: -1,
            topics: Some(vec![offset_fetch::RequestTopic {
                name: TOPIC,
                partition_indexes: vec![0],
                ..Default::default()
            }]),
        }],
        require_stable: true,
        ..Default::default()
    };
    let body = conn.send::<OffsetFetch>(8, &request);
    let response = decoded::<OffsetFetch>(&body, 8);
    let p = &response.groups[0].topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

// ---- Logs on disk ----

/// Every batch of a partition's log: its header and, for a control batch, its marker
/// (true: COMMIT).
fn batches(log_dir: &Path, topic: &str, partition: i32) -> Vec<(BatchHeader, Option<bool>)> {
    let dir = log_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    segments.retain(|p| p.extension().is_some_and(|e| e == "log"));
    segments.sort();
    let mut out = Vec::new();
    for segment in segments {
        let bytes = fs::read(&segment).unwrap();
        let mut position = 0;
        while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
            let whole = &bytes[position..position + header.size()];
            let marker = header
                .is_control()
                .then(|| txn_log::control_marker(whole).unwrap());
            out.push((header, marker));
            position += header.size();
        }
    }
    out
}

/// The markers of a partition: (producer id, epoch, commit).
fn markers(log_dir: &Path, topic: &str, partition: i32) -> Vec<(i64, i16, bool)> {
    batches(log_dir, topic, partition)
        .into_iter()
        .filter_map(|(h, m)| m.map(|commit| (h.producer_id, h.producer_epoch, commit)))
        .collect()
}

/// Appends `batch_bytes` (offset assigned) to the last segment of a partition of a stopped
/// broker, as the broker would have written it.
fn append_to_log(log_dir: &Path, topic: &str, partition: i32, batch_bytes: &[u8]) {
    let next = batches(log_dir, topic, partition)
        .last()
        .map_or(0, |(h, _)| h.last_offset() + 1);
    let dir = log_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let mut bytes = batch_bytes.to_vec();
    batch::assign(&mut bytes, next, 0);
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(segments.last().unwrap())
        .unwrap();
    file.write_all(&bytes).unwrap();
}

/// The state record a broker writes for `id` (TransactionLogKey/Value).
fn state_record(id: &str, meta: &TxnMetadata) -> Vec<u8> {
    let record = (
        Some(txn_log::encode_key(id)),
        Some(txn_log::encode_value(meta)),
    );
    batch::build_keyed(0, 0, TIMESTAMP_MS, &[record])
}

/// A COMMIT/ABORT control batch as a coordinator writes it.
fn marker_batch(producer: (i64, i16), commit: bool) -> Vec<u8> {
    let key = vec![0, 0, 0, u8::from(commit)];
    let value = vec![0, 0, 0, 0, 0, 0];
    let mut bytes = batch::build_keyed(0, 0, TIMESTAMP_MS, &[(Some(key), Some(value))]);
    let attributes = batch::ATTR_TRANSACTIONAL | batch::ATTR_CONTROL;
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    bytes[43..51].copy_from_slice(&producer.0.to_be_bytes());
    bytes[51..53].copy_from_slice(&producer.1.to_be_bytes());
    bytes[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    reseal(&mut bytes);
    bytes
}

// ---- Tests ----

#[test]
fn find_coordinator_of_a_transactional_id_is_this_broker_at_every_version() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    for version in 1..=6 {
        let request = find_coordinator::Request {
            key: "tx",
            key_type: 1,
            coordinator_keys: vec!["tx", "tx-2"],
        };
        let body = conn.send::<FindCoordinator>(version, &request);
        let response = decoded::<FindCoordinator>(&body, version);
        if version <= 3 {
            assert_eq!(
                (response.error_code, response.node_id, response.port),
                (NONE, 1, i32::from(broker.addr.port())),
                "v{version}"
            );
        } else {
            let answered: Vec<(&str, i32, i16)> = response
                .coordinators
                .iter()
                .map(|c| (c.key.as_str(), c.node_id, c.error_code))
                .collect();
            assert_eq!(answered, [("tx", 1, NONE), ("tx-2", 1, NONE)], "v{version}");
        }
    }
}

#[test]
fn init_producer_id_gives_a_stable_id_and_fences_older_epochs() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let first = init(&mut conn, 4, Some("tx"), 60_000, (-1, -1));
    assert_eq!(first.error_code, NONE);
    assert_eq!(first.producer_epoch, 0);
    let pid = first.producer_id;
    // Every version: the same id, the next epoch.
    for version in 0..=6 {
        let response = init(&mut conn, version, Some("tx"), 60_000, (-1, -1));
        assert_eq!(
            (
                response.error_code,
                response.producer_id,
                response.producer_epoch
            ),
            (NONE, pid, version + 1),
            "v{version}"
        );
    }
    // v3+: the current id and epoch bump; a stale epoch is fenced (47 before v4).
    let bumped = init(&mut conn, 4, Some("tx"), 60_000, (pid, 7));
    assert_eq!((bumped.error_code, bumped.producer_epoch), (NONE, 8));
    for (version, code) in [
        (3, INVALID_PRODUCER_EPOCH),
        (4, PRODUCER_FENCED),
        (6, PRODUCER_FENCED),
    ] {
        let stale = init(&mut conn, version, Some("tx"), 60_000, (pid, 2));
        assert_eq!(
            (stale.error_code, stale.producer_id, stale.producer_epoch),
            (code, -1, -1),
            "v{version}"
        );
        let other = init(&mut conn, version, Some("tx"), 60_000, (pid + 1000, 8));
        assert_eq!(other.error_code, code, "another producer id, v{version}");
    }
    // Half a producer id and epoch is an invalid request; so is an empty id.
    assert_eq!(
        init(&mut conn, 4, Some("tx"), 60_000, (pid, -1)).error_code,
        INVALID_REQUEST
    );
    assert_eq!(
        init(&mut conn, 4, Some(""), 60_000, (-1, -1)).error_code,
        INVALID_REQUEST
    );
    // Timeouts outside 1..=transaction.max.timeout.ms (900000).
    for timeout in [0, -5, 900_001] {
        let response = init(&mut conn, 2, Some("tx"), timeout, (-1, -1));
        assert_eq!(
            response.error_code, INVALID_TRANSACTION_TIMEOUT,
            "{timeout}"
        );
    }
    assert_eq!(
        init(&mut conn, 2, Some("tx"), 900_000, (-1, -1)).error_code,
        NONE
    );
    // v6: two-phase commit is not enabled (Kafka's default).
    let request = init_producer_id::Request {
        transactional_id: Some("tx"),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        enable_2pc: true,
        keep_prepared_txn: false,
    };
    let body = conn.send::<InitProducerId>(6, &request);
    let refused = decoded::<InitProducerId>(&body, 6);
    assert_eq!(refused.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    // The exact v6 bytes of a success: ongoing_txn_* are -1.
    let body = conn.send::<InitProducerId>(
        6,
        &init_producer_id::Request {
            enable_2pc: false,
            ..request
        },
    );
    let mut expected = vec![0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(&pid.to_be_bytes());
    expected.extend_from_slice(&10i16.to_be_bytes());
    expected.extend_from_slice(&[0xff; 10]);
    expected.push(0);
    common::assert_bytes(&body, &expected);
    // A restart keeps the id and its epoch.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let again = init(&mut conn, 4, Some("tx"), 60_000, (-1, -1));
    assert_eq!((again.producer_id, again.producer_epoch), (pid, 11));
    // Another transactional id gets another producer id.
    let other = init(&mut conn, 4, Some("tx-2"), 60_000, (-1, -1));
    assert!(other.producer_id != pid && other.error_code == NONE);
}

#[test]
fn add_partitions_errors_and_verify_only() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 3);
    let producer = init_ok(&mut conn, "tx", 60_000);
    let (pid, epoch) = producer;
    let parts = [(TOPIC, 0), (TOPIC, 1)];
    let all = |code| vec![(TOPIC.to_string(), 0, code), (TOPIC.to_string(), 1, code)];
    assert_eq!(
        add_partitions(&mut conn, 3, "nope", producer, &parts),
        all(INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        add_partitions(&mut conn, 3, "tx", (pid + 1, epoch), &parts),
        all(INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        add_partitions(&mut conn, 1, "tx", (pid, epoch + 1), &parts),
        all(INVALID_PRODUCER_EPOCH)
    );
    assert_eq!(
        add_partitions(&mut conn, 2, "tx", (pid, epoch + 1), &parts),
        all(PRODUCER_FENCED)
    );
    assert_eq!(
        add_partitions(&mut conn, 0, "", producer, &parts),
        all(INVALID_REQUEST)
    );
    // An unknown partition: it is UNKNOWN_TOPIC_OR_PARTITION, the others are not attempted.
    let with_unknown = add_partitions(
        &mut conn,
        3,
        "tx",
        producer,
        &[(TOPIC, 0), (TOPIC, 9), ("missing", 0)],
    );
    assert_eq!(
        with_unknown,
        vec![
            (TOPIC.to_string(), 0, OPERATION_NOT_ATTEMPTED),
            (TOPIC.to_string(), 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("missing".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    assert_eq!(describe(&mut conn, "tx").transaction_state, "Empty");
    assert_eq!(
        add_partitions(&mut conn, 0, "tx", producer, &parts),
        all(NONE)
    );
    // Added again: nothing changes.
    assert_eq!(
        add_partitions(&mut conn, 3, "tx", producer, &parts[..1]),
        all(NONE)[..1].to_vec()
    );
    // v4+ batched, verify_only: partition 0 is in the transaction, 2 is not; v5 bytes.
    let request = add_partitions_to_txn::Request {
        transactions: vec![
            add_partitions_to_txn::Transaction {
                transactional_id: "tx",
                producer_id: pid,
                producer_epoch: epoch,
                verify_only: true,
                topics: vec![add_partitions_to_txn::Topic {
                    name: TOPIC,
                    partitions: vec![0, 2],
                }],
            },
            add_partitions_to_txn::Transaction {
                transactional_id: "tx",
                producer_id: pid,
                producer_epoch: epoch - 1,
                verify_only: true,
                topics: vec![add_partitions_to_txn::Topic {
                    name: TOPIC,
                    partitions: vec![0],
                }],
            },
        ],
        ..Default::default()
    };
    let body = conn.send::<AddPartitionsToTxn>(5, &request);
    let response = decoded::<AddPartitionsToTxn>(&body, 5);
    assert_eq!(response.error_code, NONE);
    assert_eq!(
        codes(&response.results_by_transaction[0].topic_results),
        vec![
            (TOPIC.to_string(), 0, NONE),
            (TOPIC.to_string(), 2, INVALID_TXN_STATE)
        ]
    );
    assert_eq!(
        codes(&response.results_by_transaction[1].topic_results),
        vec![(TOPIC.to_string(), 0, PRODUCER_FENCED)]
    );
    // Verification changed nothing: partition 2 is still not in the transaction.
    let described = describe(&mut conn, "tx");
    assert_eq!(described.transaction_state, "Ongoing");
    assert_eq!(described.topics[0].partitions, vec![0, 1]);
    // The added partitions survive a restart.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let described = describe(&mut conn, "tx");
    assert_eq!(
        (
            described.transaction_state.as_str(),
            described.producer_id,
            described.producer_epoch
        ),
        ("Ongoing", pid, epoch)
    );
    assert_eq!(described.topics[0].partitions, vec![0, 1]);
    assert_eq!(
        describe(&mut conn, "unknown").error_code,
        TRANSACTIONAL_ID_NOT_FOUND
    );
    assert_eq!(describe(&mut conn, "").error_code, INVALID_REQUEST);
}

#[test]
fn produce_checks_the_transaction_and_end_txn_writes_markers() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 3);
    // A second instance: epoch 1, so epoch 0 is a fenced one.
    init_ok(&mut conn, "tx", 60_000);
    let producer = init_ok(&mut conn, "tx", 60_000);
    assert_eq!(producer.1, 1);
    let data = txn_batch(producer, 0, &["a", "b"]);
    // Not added yet: INVALID_TXN_STATE with Kafka's message.
    let (code, _, message) = produce(&mut conn, 11, Some("tx"), 0, &data);
    assert_eq!(code, INVALID_TXN_STATE);
    assert_eq!(
        message.as_deref(),
        Some("Partition was not added to the transaction")
    );
    // Another producer id for the transactional id, an unknown id, an old epoch.
    let foreign = txn_batch((producer.0 + 7, 0), 0, &["x"]);
    assert_eq!(
        produce(&mut conn, 11, Some("tx"), 0, &foreign).0,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        produce(&mut conn, 11, Some("other"), 0, &data).0,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add_partitions(&mut conn, 3, "tx", producer, &[(TOPIC, 0), (TOPIC, 1)]).len(),
        2
    );
    let stale = txn_batch((producer.0, producer.1 - 1), 0, &["x"]);
    assert_eq!(
        produce(&mut conn, 11, Some("tx"), 0, &stale).0,
        PRODUCER_FENCED
    );
    // Added: stored. Partition 2 was not added.
    assert_eq!(produce(&mut conn, 11, Some("tx"), 0, &data).0, NONE);
    assert_eq!(
        produce(&mut conn, 8, Some("tx"), 1, &txn_batch(producer, 0, &["c"])).0,
        NONE
    );
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("tx"),
            2,
            &txn_batch(producer, 0, &["d"])
        )
        .0,
        INVALID_TXN_STATE
    );
    // EndTxn: errors first.
    assert_eq!(
        end(&mut conn, 1, "tx", (producer.0, producer.1 + 1), true).error_code,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        end(&mut conn, 2, "tx", (producer.0, producer.1 + 1), true).error_code,
        PRODUCER_FENCED
    );
    assert_eq!(
        end(&mut conn, 3, "tx", (producer.0 + 1, producer.1), true).error_code,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        end(&mut conn, 3, "none", producer, true).error_code,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        end(&mut conn, 3, "", producer, true).error_code,
        INVALID_REQUEST
    );
    // The commit, pipelined with an AddPartitionsToTxn and a Produce in the same turn: they
    // see PrepareCommit (CONCURRENT_TRANSACTIONS, and NOT_ENOUGH_REPLICAS for the Produce,
    // which older clients retry).
    let end_request = end_txn::Request {
        transactional_id: "tx",
        producer_id: producer.0,
        producer_epoch: producer.1,
        committed: true,
    };
    let add_request = add_partitions_to_txn::Request {
        v3_and_below_transactional_id: "tx",
        v3_and_below_producer_id: producer.0,
        v3_and_below_producer_epoch: producer.1,
        v3_and_below_topics: vec![add_partitions_to_txn::Topic {
            name: TOPIC,
            partitions: vec![2],
        }],
        ..Default::default()
    };
    let late = txn_batch(producer, 2, &["late"]);
    let produce_request = produce::Request {
        transactional_id: Some("tx"),
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce::TopicProduceData {
            name: TOPIC,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(&late)),
            }],
        }],
    };
    let mut frames = Vec::new();
    frames.extend(frame::<EndTxn>(3, 100, &end_request));
    frames.extend(frame::<AddPartitionsToTxn>(3, 101, &add_request));
    frames.extend(frame::<Produce>(11, 102, &produce_request));
    conn.stream.write_all(&frames).unwrap();
    let ended = common::read_frame(&mut conn.stream);
    let ended = decoded::<EndTxn>(common::response_body(&ended, 100, true), 3);
    assert_eq!(ended.error_code, NONE);
    let added = common::read_frame(&mut conn.stream);
    let added = decoded::<AddPartitionsToTxn>(common::response_body(&added, 101, true), 3);
    assert_eq!(
        codes(&added.results_by_topic_v3_and_below),
        vec![(TOPIC.to_string(), 2, CONCURRENT_TRANSACTIONS)]
    );
    let produced = common::read_frame(&mut conn.stream);
    let produced = decoded::<Produce>(common::response_body(&produced, 102, true), 11);
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, NOT_ENOUGH_REPLICAS);
    assert_eq!(
        partition.error_message.as_deref(),
        Some(
            "Unable to verify the partition has been added to the transaction. Underlying error: CONCURRENT_TRANSACTIONS"
        )
    );
    let complete = wait_for_state(&mut conn, "tx", "CompleteCommit");
    assert!(complete.topics.is_empty());
    // One COMMIT marker after the data in each partition of the transaction, none in 2.
    for p in [0, 1] {
        assert_eq!(
            markers(&broker.log_dir, TOPIC, p),
            vec![(producer.0, producer.1, true)],
            "partition {p}"
        );
        let last = batches(&broker.log_dir, TOPIC, p);
        assert!(
            last.last().unwrap().1.is_some(),
            "the marker is last in partition {p}"
        );
    }
    assert!(markers(&broker.log_dir, TOPIC, 2).is_empty());
    // A retried commit is NONE; an abort now is INVALID_TXN_STATE; so is ending an Empty one.
    assert_eq!(end(&mut conn, 3, "tx", producer, true).error_code, NONE);
    assert_eq!(
        end(&mut conn, 3, "tx", producer, false).error_code,
        INVALID_TXN_STATE
    );
    let next = init_ok(&mut conn, "tx", 60_000);
    assert_eq!(
        end(&mut conn, 4, "tx", next, false).error_code,
        INVALID_TXN_STATE
    );
    // An abort: ABORT markers, the transaction's data stays in the log (for readers to skip).
    assert_eq!(
        add_partitions(&mut conn, 3, "tx", next, &[(TOPIC, 2)])[0].2,
        NONE
    );
    assert_eq!(
        produce(&mut conn, 11, Some("tx"), 2, &txn_batch(next, 0, &["gone"])).0,
        NONE
    );
    assert_eq!(end(&mut conn, 4, "tx", next, false).error_code, NONE);
    wait_for_state(&mut conn, "tx", "CompleteAbort");
    assert_eq!(
        markers(&broker.log_dir, TOPIC, 2),
        vec![(next.0, next.1, false)]
    );
}

/// A request frame for `A` (size, header, body), as `Conn::send` writes it.
fn frame<A: Api>(version: i16, correlation_id: i32, request: &A::Request<'_>) -> Vec<u8> {
    let v = A::SPEC.ver(version);
    common::request_frame(
        A::SPEC.key,
        version,
        correlation_id,
        Some(common::CLIENT_ID),
        &body_of(request, v),
        v.flexible,
    )
}

#[test]
fn end_txn_v5_bumps_the_epoch_per_transaction() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let producer = one_record_transaction(&mut conn);
    let ended = end(&mut conn, 5, "tx", producer, true);
    assert_eq!(
        (ended.error_code, ended.producer_id, ended.producer_epoch),
        (NONE, producer.0, producer.1 + 1)
    );
    wait_for_state(&mut conn, "tx", "CompleteCommit");
    // The marker carries the new epoch; a retry with the old epoch is recognised.
    assert_eq!(
        markers(&broker.log_dir, TOPIC, 0),
        vec![(producer.0, producer.1 + 1, true)]
    );
    let retried = end(&mut conn, 5, "tx", producer, true);
    assert_eq!(
        (retried.error_code, retried.producer_epoch),
        (NONE, producer.1 + 1)
    );
    assert_eq!(
        end(&mut conn, 5, "tx", producer, false).error_code,
        INVALID_TXN_STATE
    );
    // The old epoch is fenced for new work.
    assert_eq!(
        add_partitions(&mut conn, 3, "tx", producer, &[(TOPIC, 0)])[0].2,
        PRODUCER_FENCED
    );
}

#[test]
fn transactional_offsets_count_only_when_committed_and_survive_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1);
    let producer = init_ok(&mut conn, "tx", 60_000);
    // Errors: no AddOffsetsToTxn yet, bad ids and epochs.
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", producer, 5),
        INVALID_TXN_STATE
    );
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "", producer, 5),
        INVALID_GROUP_ID
    );
    assert_eq!(
        add_offsets(&mut conn, 3, "tx", "", producer),
        INVALID_GROUP_ID
    );
    assert_eq!(
        add_offsets(&mut conn, 3, "none", "g", producer),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add_offsets(&mut conn, 1, "tx", "g", (producer.0, producer.1 + 1)),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        add_offsets(&mut conn, 2, "tx", "g", (producer.0, producer.1 + 1)),
        PRODUCER_FENCED
    );
    assert_eq!(add_offsets(&mut conn, 3, "tx", "g", producer), NONE);
    let described = describe(&mut conn, "tx");
    let partition = offsets::partition_for("g", 50);
    assert_eq!(described.topics[0].topic, offsets::TOPIC);
    assert_eq!(described.topics[0].partitions, vec![partition]);
    assert_eq!(
        txn_offset_commit(&mut conn, 0, "tx", "g", (producer.0, producer.1 + 1), 5),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", (producer.0 + 1, producer.1), 5),
        INVALID_PRODUCER_ID_MAPPING
    );
    // A generation given for a group without members is ILLEGAL_GENERATION (22).
    let request = txn_offset_commit::Request {
        transactional_id: "tx",
        group_id: "g",
        producer_id: producer.0,
        producer_epoch: producer.1,
        generation_id: 3,
        member_id: "m",
        topics: vec![txn_offset_commit::RequestTopic {
            name: TOPIC,
            partitions: vec![txn_offset_commit::RequestPartition {
                partition_index: 0,
                committed_offset: 5,
                committed_leader_epoch: -1,
                committed_metadata: None,
            }],
        }],
        ..Default::default()
    };
    let body = conn.send::<TxnOffsetCommit>(3, &request);
    let refused = decoded::<TxnOffsetCommit>(&body, 3);
    assert_eq!(
        refused.topics[0].partitions[0].error_code, 22,
        "ILLEGAL_GENERATION"
    );
    // A partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION (3), as in Kafka.
    for (name, partition) in [(TOPIC, 1), ("no-such-topic", 0)] {
        let request = txn_offset_commit::Request {
            transactional_id: "tx",
            group_id: "g",
            producer_id: producer.0,
            producer_epoch: producer.1,
            topics: vec![txn_offset_commit::RequestTopic {
                name,
                partitions: vec![txn_offset_commit::RequestPartition {
                    partition_index: partition,
                    committed_offset: 5,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            }],
            ..Default::default()
        };
        let body = conn.send::<TxnOffsetCommit>(3, &request);
        let unknown = decoded::<TxnOffsetCommit>(&body, 3);
        assert_eq!(
            unknown.topics[0].partitions[0].error_code, 3,
            "{name}-{partition}"
        );
    }
    assert_eq!(
        txn_offset_commit(&mut conn, 2, "tx", "g", producer, 5),
        NONE
    );
    // Pending: not visible before the commit; UNSTABLE_OFFSET_COMMIT when stable ones are
    // asked for.
    assert_eq!(committed(&mut conn, "g"), -1);
    assert_eq!(fetch_stable(&mut conn, "g"), (88, -1));
    assert_eq!(end(&mut conn, 3, "tx", producer, true).error_code, NONE);
    wait_for_state(&mut conn, "tx", "CompleteCommit");
    assert_eq!(committed(&mut conn, "g"), 5);
    assert_eq!(fetch_stable(&mut conn, "g"), (NONE, 5));
    assert_eq!(
        markers(&broker.log_dir, offsets::TOPIC, partition),
        vec![(producer.0, producer.1, true)]
    );
    // The offsets were a transactional batch of the producer (its first sequence there),
    // as Kafka's coordinator writes them, so the partition tracked the transaction.
    let written: Vec<(bool, i64, i16, i32)> = batches(&broker.log_dir, offsets::TOPIC, partition)
        .iter()
        .map(|(h, _)| {
            (
                h.is_transactional(),
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
            )
        })
        .collect();
    assert_eq!(
        written,
        [
            (true, producer.0, producer.1, 0),
            (true, producer.0, producer.1, -1)
        ]
    );
    // An aborted transaction's offsets are dropped.
    let producer = init_ok(&mut conn, "tx", 60_000);
    assert_eq!(add_offsets(&mut conn, 3, "tx", "g", producer), NONE);
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", producer, 9),
        NONE
    );
    assert_eq!(end(&mut conn, 3, "tx", producer, false).error_code, NONE);
    wait_for_state(&mut conn, "tx", "CompleteAbort");
    assert_eq!(committed(&mut conn, "g"), 5);
    // v5 (transaction version 2) adds the group's partition itself; left open at the crash.
    let producer = init_ok(&mut conn, "tx", 60_000);
    assert_eq!(
        txn_offset_commit(&mut conn, 5, "tx", "g", producer, 11),
        NONE
    );
    assert_eq!(describe(&mut conn, "tx").transaction_state, "Ongoing");
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    // The committed offset came back from the log; neither the aborted nor the open one.
    assert_eq!(committed(&mut conn, "g"), 5);
    assert_eq!(describe(&mut conn, "tx").transaction_state, "Ongoing");
    // ListTransactions sees it (filters: state, producer id, pattern).
    let list = |conn: &mut Conn, version: i16, request: &list_transactions::Request| {
        let body = conn.send::<ListTransactions>(version, request);
        decoded::<ListTransactions>(&body, version)
    };
    let all = list(&mut conn, 0, &list_transactions::Request::default());
    assert_eq!(all.transaction_states.len(), 1);
    assert_eq!(all.transaction_states[0].transaction_state, "Ongoing");
    let filtered = list(
        &mut conn,
        1,
        &list_transactions::Request {
            state_filters: vec!["CompleteCommit", "Bogus"],
            ..Default::default()
        },
    );
    assert!(filtered.transaction_states.is_empty());
    assert_eq!(filtered.unknown_state_filters, vec!["Bogus".to_string()]);
    let by_pid = list(
        &mut conn,
        2,
        &list_transactions::Request {
            producer_id_filters: vec![producer.0],
            transactional_id_pattern: Some("t."),
            ..Default::default()
        },
    );
    assert_eq!(by_pid.transaction_states.len(), 1);
    let bad = list(
        &mut conn,
        2,
        &list_transactions::Request {
            transactional_id_pattern: Some("(unclosed"),
            ..Default::default()
        },
    );
    assert_eq!(bad.error_code, 128);
}

#[test]
fn an_open_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let broker =
        TestBroker::start_with("transaction.abort.timed.out.transaction.cleanup.interval.ms=50\n");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 2);
    let producer = init_ok(&mut conn, "slow", 200);
    add_partitions(&mut conn, 3, "slow", producer, &[(TOPIC, 0), (TOPIC, 1)]);
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("slow"),
            0,
            &txn_batch(producer, 0, &["a"])
        )
        .0,
        NONE
    );
    let aborted = wait_for_state(&mut conn, "slow", "CompleteAbort");
    assert_eq!(
        aborted.producer_epoch,
        producer.1 + 1,
        "the abort bumps the epoch"
    );
    broker.wait_for_log("open longer than its timeout of 200 ms", 1);
    // ABORT markers with the bumped epoch, in both partitions.
    for p in [0, 1] {
        assert_eq!(
            markers(&broker.log_dir, TOPIC, p),
            vec![(producer.0, producer.1 + 1, false)]
        );
    }
    // The old producer is fenced: its commit, its next batch, its next AddPartitionsToTxn.
    assert_eq!(
        end(&mut conn, 3, "slow", producer, true).error_code,
        PRODUCER_FENCED
    );
    assert_eq!(
        end(&mut conn, 0, "slow", producer, true).error_code,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("slow"),
            0,
            &txn_batch(producer, 1, &["b"])
        )
        .0,
        PRODUCER_FENCED
    );
    assert_eq!(
        add_partitions(&mut conn, 3, "slow", producer, &[(TOPIC, 0)])[0].2,
        PRODUCER_FENCED
    );
    // A new instance gets the epoch after.
    assert_eq!(
        init_ok(&mut conn, "slow", 60_000),
        (producer.0, producer.1 + 2)
    );
}

#[test]
fn reinit_aborts_the_ongoing_transaction_then_answers_the_next_epoch() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let producer = one_record_transaction(&mut conn);
    // The first answer is CONCURRENT_TRANSACTIONS (the abort is under way)...
    let first = init(&mut conn, 4, Some("tx"), 60_000, (-1, -1));
    assert_eq!(
        (first.error_code, first.producer_id, first.producer_epoch),
        (CONCURRENT_TRANSACTIONS, -1, -1)
    );
    // ...then the epoch after the fence.
    assert_eq!(
        init_ok(&mut conn, "tx", 60_000),
        (producer.0, producer.1 + 2)
    );
    assert_eq!(
        markers(&broker.log_dir, TOPIC, 0),
        vec![(producer.0, producer.1 + 1, false)]
    );
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("tx"),
            0,
            &txn_batch(producer, 1, &["b"])
        )
        .0,
        PRODUCER_FENCED
    );
}

/// The state a crash after the durable PrepareCommit leaves, written into a stopped broker's
/// log dir: `marked` partitions already have their marker.
fn crash_after_prepare(
    dir: &Path,
    id: &str,
    producer: (i64, i16),
    partitions: &[(&str, i32)],
    marked: &[(&str, i32)],
    commit: bool,
) {
    let set: BTreeSet<(String, i32)> = partitions
        .iter()
        .map(|(t, p)| (t.to_string(), *p))
        .collect();
    let prepared = TxnMetadata {
        producer_id: producer.0,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: producer.1,
        last_producer_epoch: -1,
        timeout_ms: 60_000,
        state: if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        },
        partitions: set,
        start_ms: TIMESTAMP_MS,
        last_update_ms: TIMESTAMP_MS,
        client_version: 0,
    };
    let partition = txn_log::partition_for(id, 50);
    append_to_log(
        dir,
        kafka_broker::transactions::TOPIC,
        partition,
        &state_record(id, &prepared),
    );
    for (topic, p) in marked {
        append_to_log(dir, topic, *p, &marker_batch(producer, commit));
    }
}

#[test]
fn a_commit_decided_before_kill_9_completes_after_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 3);
    let producer = init_ok(&mut conn, "tx", 60_000);
    let parts = [(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)];
    add_partitions(&mut conn, 3, "tx", producer, &parts);
    assert_eq!(add_offsets(&mut conn, 3, "tx", "g", producer), NONE);
    for (_, p) in parts {
        assert_eq!(
            produce(
                &mut conn,
                11,
                Some("tx"),
                p,
                &txn_batch(producer, 0, &["v"])
            )
            .0,
            NONE
        );
    }
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", producer, 42),
        NONE
    );
    drop(conn);
    // kill -9 after PrepareCommit was durable and the marker of partition 0 written (the
    // markers were being written).
    let log_dir = broker.log_dir.clone();
    let mut broker = broker;
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
    let offsets_partition = offsets::partition_for("g", 50);
    let mut all: Vec<(&str, i32)> = parts.to_vec();
    all.push((offsets::TOPIC, offsets_partition));
    crash_after_prepare(&log_dir, "tx", producer, &all, &[(TOPIC, 0)], true);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    wait_for_state(&mut conn, "tx", "CompleteCommit");
    // Every partition has its COMMIT (partition 0 twice: a rewritten marker is harmless).
    assert_eq!(
        markers(&broker.log_dir, TOPIC, 0),
        vec![(producer.0, producer.1, true); 2]
    );
    for p in [1, 2] {
        assert_eq!(
            markers(&broker.log_dir, TOPIC, p),
            vec![(producer.0, producer.1, true)]
        );
    }
    assert_eq!(
        committed(&mut conn, "g"),
        42,
        "the transaction's offsets are committed"
    );
    // And it stays so after another restart.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        describe(&mut conn, "tx").transaction_state,
        "CompleteCommit"
    );
    assert_eq!(committed(&mut conn, "g"), 42);
    assert_eq!(markers(&broker.log_dir, TOPIC, 1).len(), 1);
}

#[test]
fn an_undecided_transaction_at_kill_9_times_out_and_aborts() {
    let props = "transaction.abort.timed.out.transaction.cleanup.interval.ms=50\n";
    let broker = TestBroker::start_with(props);
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 2);
    let producer = init_ok(&mut conn, "tx", 1_000);
    add_partitions(&mut conn, 3, "tx", producer, &[(TOPIC, 0), (TOPIC, 1)]);
    assert_eq!(add_offsets(&mut conn, 3, "tx", "g", producer), NONE);
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("tx"),
            0,
            &txn_batch(producer, 0, &["v"])
        )
        .0,
        NONE
    );
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", producer, 7),
        NONE
    );
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let aborted = wait_for_state(&mut conn, "tx", "CompleteAbort");
    assert_eq!(aborted.producer_epoch, producer.1 + 1);
    for p in [0, 1] {
        assert_eq!(
            markers(&broker.log_dir, TOPIC, p),
            vec![(producer.0, producer.1 + 1, false)]
        );
    }
    assert_eq!(
        committed(&mut conn, "g"),
        -1,
        "the aborted offsets never count"
    );
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(committed(&mut conn, "g"), -1);
    assert_eq!(describe(&mut conn, "tx").transaction_state, "CompleteAbort");
}

#[test]
fn an_abort_decided_before_kill_9_completes_after_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1);
    let producer = init_ok(&mut conn, "tx", 60_000);
    add_partitions(&mut conn, 3, "tx", producer, &[(TOPIC, 0)]);
    assert_eq!(add_offsets(&mut conn, 3, "tx", "g", producer), NONE);
    assert_eq!(
        txn_offset_commit(&mut conn, 3, "tx", "g", producer, 3),
        NONE
    );
    drop(conn);
    let log_dir = broker.log_dir.clone();
    let mut broker = broker;
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
    let all = [
        (TOPIC, 0),
        (offsets::TOPIC, offsets::partition_for("g", 50)),
    ];
    crash_after_prepare(&log_dir, "tx", producer, &all, &[], false);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    wait_for_state(&mut conn, "tx", "CompleteAbort");
    assert_eq!(
        markers(&broker.log_dir, TOPIC, 0),
        vec![(producer.0, producer.1, false)]
    );
    assert_eq!(committed(&mut conn, "g"), -1);
}

#[test]
fn idle_transactional_ids_expire() {
    let props = "transactional.id.expiration.ms=1\ntransaction.remove.expired.transaction.cleanup.interval.ms=50\n";
    let broker = TestBroker::start_with(props);
    let mut conn = Conn::open(&broker);
    let producer = init_ok(&mut conn, "brief", 60_000);
    broker.wait_for_log("transactional id brief expired", 1);
    assert_eq!(
        describe(&mut conn, "brief").error_code,
        TRANSACTIONAL_ID_NOT_FOUND
    );
    assert_eq!(
        end(&mut conn, 3, "brief", producer, true).error_code,
        INVALID_PRODUCER_ID_MAPPING
    );
    // The tombstone holds after a restart.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        describe(&mut conn, "brief").error_code,
        TRANSACTIONAL_ID_NOT_FOUND
    );
}

#[test]
fn a_refused_marker_does_not_hold_the_transaction_forever() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 2);
    // The producer's batches on partition 0 are of epoch 1 (a second instance).
    init_ok(&mut conn, "tx", 60_000);
    let producer = init_ok(&mut conn, "tx", 60_000);
    add_partitions(&mut conn, 3, "tx", producer, &[(TOPIC, 0), (TOPIC, 1)]);
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("tx"),
            0,
            &txn_batch(producer, 0, &["v"])
        )
        .0,
        NONE
    );
    assert_eq!(
        produce(
            &mut conn,
            11,
            Some("tx"),
            1,
            &txn_batch(producer, 0, &["w"])
        )
        .0,
        NONE
    );
    drop(conn);
    let log_dir = broker.log_dir.clone();
    let mut broker = broker;
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
    // A PrepareCommit of the older epoch: partition 0 refuses its marker as stale
    // (INVALID_PRODUCER_EPOCH); the transaction still completes.
    let older = (producer.0, producer.1 - 1);
    crash_after_prepare(&log_dir, "tx", older, &[(TOPIC, 0)], &[], true);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    wait_for_state(&mut conn, "tx", "CompleteCommit");
    broker.wait_for_log("was refused (error 47): skipped", 1);
    assert!(markers(&broker.log_dir, TOPIC, 0).is_empty());
}
