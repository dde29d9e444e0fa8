//! The partition side of transactions over a real socket: transactional batches produced
//! with a transactional id, COMMIT and ABORT markers written with WriteTxnMarkers (as a
//! coordinator writes them), and what readers then see: Fetch at read_committed (only data
//! below the last stable offset, the aborted transactions of the range served) and
//! read_uncommitted (everything), `last_stable_offset` in every answer, ListOffsets latest at
//! both isolation levels, DescribeProducers' current transaction start offset. The state
//! is checked again after a kill -9 and after a controlled shutdown (SIGTERM), including a
//! transaction begun before its segment rolled.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Conn, TestBroker, decoded};
use kafka_broker::apis::add_partitions_to_txn::{self, AddPartitionsToTxn};
use kafka_broker::apis::describe_producers::{self, DescribeProducers};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::apis::write_txn_markers::{self, WriteTxnMarkers};
use kafka_broker::protocol::wire::Records;
use kafka_broker::storage::batch::{self, BatchHeader};
use kafka_broker::storage::crc32c::crc32c;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const TRANSACTION_COORDINATOR_FENCED: i16 = 52;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;

fn create_topic(conn: &mut Conn, name: &str, configs: &[(&str, &str)]) {
    common::create_topic(conn, name, 1, configs);
}

/// The producer id and epoch of a transactional id (the coordinator's: its batches must be
/// of the transaction that transactional id has open).
fn init_producer_id(conn: &mut Conn, transactional_id: &str) -> (i64, i16) {
    let request = init_producer_id::Request {
        transactional_id: Some(transactional_id),
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

/// A batch of `values` (keys `k<value>`) from producer `pid` at `seq`, transactional or not,
/// its CRC sealed.
fn batch_of(pid: i64, epoch: i16, seq: i32, transactional: bool, values: &[&str]) -> Vec<u8> {
    let keys: Vec<String> = values.iter().map(|v| format!("k{v}")).collect();
    let records: Vec<(&str, &str)> = keys
        .iter()
        .map(String::as_str)
        .zip(values.iter().copied())
        .collect();
    keyed_batch(pid, epoch, seq, transactional, &records)
}

/// A batch of (key, value) records from producer `pid` at `seq`, its CRC sealed.
fn keyed_batch(
    pid: i64,
    epoch: i16,
    seq: i32,
    transactional: bool,
    records: &[(&str, &str)],
) -> Vec<u8> {
    let records: Vec<batch::KeyValue> = records
        .iter()
        .map(|(k, v)| (Some(k.as_bytes().to_vec()), Some(v.as_bytes().to_vec())))
        .collect();
    let mut bytes = batch::build_keyed(0, 0, kafka_broker::storage::now_ms(), &records);
    if transactional {
        bytes[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
    }
    bytes[43..51].copy_from_slice(&pid.to_be_bytes());
    bytes[51..53].copy_from_slice(&epoch.to_be_bytes());
    bytes[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// Produces one batch; (error code, base offset).
fn produce(
    conn: &mut Conn,
    transactional_id: Option<&str>,
    topic: &str,
    batch: &[u8],
) -> (i16, i64) {
    // A transactional batch joins its producer's transaction at the coordinator first (as
    // a client's AddPartitionsToTxn does).
    if let (Some(id), Some(header)) = (transactional_id, BatchHeader::parse(batch))
        && header.is_transactional()
        && header.producer_id >= 0
    {
        add_partition(conn, id, header.producer_id, header.producer_epoch, topic);
    }
    let request = produce::Request {
        transactional_id,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![produce::TopicProduceData {
            name: topic,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(batch)),
            }],
        }],
    };
    let body = conn.send::<Produce>(11, &request);
    let response = decoded::<Produce>(&body, 11);
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// AddPartitionsToTxn v3 of `topic`-0 to the transaction of `transactional_id`.
fn add_partition(conn: &mut Conn, transactional_id: &str, pid: i64, epoch: i16, topic: &str) {
    let request = add_partitions_to_txn::Request {
        v3_and_below_transactional_id: transactional_id,
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![add_partitions_to_txn::Topic {
            name: topic,
            partitions: vec![0],
        }],
        ..Default::default()
    };
    let body = conn.send::<AddPartitionsToTxn>(3, &request);
    let response = decoded::<AddPartitionsToTxn>(&body, 3);
    let code =
        response.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(
        code, NONE,
        "AddPartitionsToTxn of {topic}-0 for {transactional_id}"
    );
}

/// Writes one marker to `partitions` of `topic`; each partition's error code.
#[allow(clippy::too_many_arguments)]
fn marker(
    conn: &mut Conn,
    version: i16,
    topic: &str,
    partitions: &[i32],
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
) -> Vec<i16> {
    let request = write_txn_markers::Request {
        markers: vec![write_txn_markers::WritableTxnMarker {
            producer_id: pid,
            producer_epoch: epoch,
            transaction_result: commit,
            topics: vec![write_txn_markers::WritableTxnMarkerTopic {
                name: topic,
                partition_indexes: partitions.to_vec(),
            }],
            coordinator_epoch,
            transaction_version: 0,
        }],
    };
    let body = conn.send::<WriteTxnMarkers>(version, &request);
    let response = decoded::<WriteTxnMarkers>(&body, version);
    assert_eq!(response.markers.len(), 1);
    assert_eq!(response.markers[0].producer_id, pid);
    assert_eq!(response.markers[0].topics[0].name, topic);
    response.markers[0].topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert!(partitions.contains(&p.partition_index));
            p.error_code
        })
        .collect()
}

/// Aborted transactions as a fetch lists them: (producer id, first offset).
type Aborted = Vec<(i64, i64)>;

/// What a fetch answered for a partition.
#[derive(Debug, PartialEq, Eq)]
struct Fetched {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Option<Aborted>,
    /// (offset, value) of data records, and the offsets of control batches ("marker").
    records: Vec<(i64, String)>,
}

fn fetch(
    conn: &mut Conn,
    isolation_level: i8,
    topic: &str,
    offset: i64,
    max_wait_ms: i32,
) -> Fetched {
    fetch_with_next(conn, isolation_level, topic, offset, max_wait_ms).0
}

/// Every record (and marker) fetched from offset 0 fetch after fetch (a fetch reads within
/// one segment), with every aborted transaction listed on the way.
fn fetch_all(conn: &mut Conn, isolation_level: i8, topic: &str) -> (Vec<(i64, String)>, Aborted) {
    let (mut records, mut aborted, mut offset) = (Vec::new(), Vec::new(), 0);
    loop {
        let (fetched, next) = fetch_with_next(conn, isolation_level, topic, offset, 0);
        if next <= offset {
            return (records, aborted);
        }
        records.extend(fetched.records);
        for txn in fetched.aborted.unwrap_or_default() {
            if !aborted.contains(&txn) {
                aborted.push(txn);
            }
        }
        offset = next;
    }
}

/// A fetch, and the offset after its last whole batch (`offset` if it got none).
fn fetch_with_next(
    conn: &mut Conn,
    isolation_level: i8,
    topic: &str,
    offset: i64,
    max_wait_ms: i32,
) -> (Fetched, i64) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level,
        topics: vec![fetch::FetchTopic {
            topic,
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..fetch::FetchPartition::default()
            }],
            ..fetch::FetchTopic::default()
        }],
        rack_id: "",
        ..fetch::Request::default()
    };
    let body = conn.send::<Fetch>(12, &request);
    let response = decoded::<Fetch>(&body, 12);
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    let bytes: &[u8] = match &p.records {
        Some(Records::Bytes(bytes)) => bytes,
        _ => &[],
    };
    let mut records = Vec::new();
    let mut position = 0;
    let mut next = offset;
    while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
        let Some(whole) = bytes.get(position..position + header.size()) else {
            break;
        };
        position += header.size();
        next = header.last_offset() + 1;
        if header.is_control() {
            records.push((header.base_offset, "marker".to_string()));
            continue;
        }
        for r in batch::records(whole).unwrap() {
            let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            records.push((header.base_offset + i64::from(r.offset_delta), value));
        }
    }
    let fetched = Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p
            .aborted_transactions
            .as_ref()
            .map(|a| a.iter().map(|t| (t.producer_id, t.first_offset)).collect()),
        records,
    };
    (fetched, next)
}

fn latest(conn: &mut Conn, isolation_level: i8, topic: &str) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level,
        topics: vec![list_offsets::ListOffsetsTopic {
            name: topic,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: list_offsets::LATEST_TIMESTAMP,
            }],
        }],
        timeout_ms: 10_000,
    };
    let body = conn.send::<ListOffsets>(9, &request);
    let response = decoded::<ListOffsets>(&body, 9);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// (producer id, current transaction start offset) of every producer of partition 0.
fn producers(conn: &mut Conn, topic: &str) -> Vec<(i64, i64)> {
    let request = describe_producers::Request {
        topics: vec![describe_producers::RequestTopic {
            name: topic,
            partition_indexes: vec![0],
        }],
    };
    let body = conn.send::<DescribeProducers>(0, &request);
    let response = decoded::<DescribeProducers>(&body, 0);
    let p = &response.topics[0].partitions[0];
    p.active_producers
        .iter()
        .map(|a| (a.producer_id, a.current_txn_start_offset))
        .collect()
}

fn records(pairs: &[(i64, &str)]) -> Vec<(i64, String)> {
    pairs.iter().map(|&(o, v)| (o, v.to_string())).collect()
}

fn sigterm_restart(mut broker: TestBroker) -> TestBroker {
    let status = Command::new("kill")
        .arg("-s")
        .arg("TERM")
        .arg(broker.child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = broker.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.restart()
}

const TOPIC: &str = "txn";

#[test]
fn read_committed_serves_below_the_lso_with_the_aborted_transactions() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, &[]);
    let (a, epoch_a) = init_producer_id(&mut conn, "tx-a");
    let (b, epoch_b) = init_producer_id(&mut conn, "tx-b");
    assert_eq!(
        produce(
            &mut conn,
            None,
            TOPIC,
            &batch_of(-1, -1, -1, false, &["p0"])
        ),
        (NONE, 0)
    );
    // A transactional batch needs a transactional id.
    let a1 = batch_of(a, epoch_a, 0, true, &["a1", "a2"]);
    assert_eq!(
        produce(&mut conn, None, TOPIC, &a1),
        (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1)
    );
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &a1), (NONE, 1));
    // A retry is a duplicate, as for any idempotent batch.
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &a1), (NONE, 1));
    let b1 = batch_of(b, epoch_b, 0, true, &["b1"]);
    assert_eq!(produce(&mut conn, Some("tx-b"), TOPIC, &b1), (NONE, 3));
    // A plain batch from a producer inside a transaction.
    let plain_b = batch_of(b, epoch_b, 1, false, &["x"]);
    assert_eq!(
        produce(&mut conn, None, TOPIC, &plain_b),
        (INVALID_TXN_STATE, -1)
    );

    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0),
        Fetched {
            high_watermark: 4,
            last_stable_offset: 1,
            aborted: Some(vec![]),
            records: records(&[(0, "p0")]),
        }
    );
    let uncommitted = fetch(&mut conn, READ_UNCOMMITTED, TOPIC, 0, 0);
    assert_eq!(
        (uncommitted.last_stable_offset, uncommitted.records),
        (1, records(&[(0, "p0"), (1, "a1"), (2, "a2"), (3, "b1")]))
    );
    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 1, 0).records,
        vec![]
    );
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 1);
    assert_eq!(latest(&mut conn, READ_UNCOMMITTED, TOPIC), 4);
    assert_eq!(producers(&mut conn, TOPIC), [(a, 1), (b, 3)]);

    // Markers: unknown partitions and topics, a stale epoch, then A aborts at offset 4.
    assert_eq!(
        marker(&mut conn, 1, TOPIC, &[0, 3], a, epoch_a, 7, false),
        [NONE, UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        marker(&mut conn, 2, "no-such-topic", &[0], a, epoch_a, 7, false),
        [UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        marker(&mut conn, 1, TOPIC, &[0], b, epoch_b - 1, 7, true),
        [INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 3);
    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0),
        Fetched {
            high_watermark: 5,
            last_stable_offset: 3,
            aborted: Some(vec![(a, 1)]),
            records: records(&[(0, "p0"), (1, "a1"), (2, "a2")]),
        }
    );
    // B commits at offset 5; a zombie coordinator's marker is refused first.
    assert_eq!(
        marker(&mut conn, 2, TOPIC, &[0], b, epoch_b, 6, true),
        [NONE]
    );
    assert_eq!(
        marker(&mut conn, 2, TOPIC, &[0], b, epoch_b, 5, true),
        [TRANSACTION_COORDINATOR_FENCED]
    );
    let everything = Fetched {
        high_watermark: 6,
        last_stable_offset: 6,
        aborted: Some(vec![(a, 1)]),
        records: records(&[
            (0, "p0"),
            (1, "a1"),
            (2, "a2"),
            (3, "b1"),
            (4, "marker"),
            (5, "marker"),
        ]),
    };
    assert_eq!(fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0), everything);
    // From past A's marker, no aborted transaction is in range.
    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 5, 0).aborted,
        Some(vec![])
    );
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 6);
    assert_eq!(producers(&mut conn, TOPIC), [(a, -1), (b, -1)]);

    // A's next transaction, open across a kill -9 and a controlled shutdown.
    let a2 = batch_of(a, epoch_a, 2, true, &["a3"]);
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &a2), (NONE, 6));
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 6);
    assert_eq!(producers(&mut conn, TOPIC), [(a, 6), (b, -1)]);
    let mut committed = fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0);
    committed.high_watermark = 6;
    assert_eq!(committed, everything);
    drop(conn);
    let broker = sigterm_restart(broker);
    let mut conn = Conn::open(&broker);
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 6);
    assert_eq!(producers(&mut conn, TOPIC), [(a, 6), (b, -1)]);
    // The sequence carries on: the producer state is whole.
    let a3 = batch_of(a, epoch_a, 3, true, &["a4"]);
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &a3), (NONE, 7));
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &a3), (NONE, 7));
    assert_eq!(
        marker(&mut conn, 1, TOPIC, &[0], a, epoch_a, 7, false),
        [NONE]
    );
    let expected = Fetched {
        high_watermark: 9,
        last_stable_offset: 9,
        aborted: Some(vec![(a, 1), (a, 6)]),
        records: records(&[
            (0, "p0"),
            (1, "a1"),
            (2, "a2"),
            (3, "b1"),
            (4, "marker"),
            (5, "marker"),
            (6, "a3"),
            (7, "a4"),
            (8, "marker"),
        ]),
    };
    assert_eq!(fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0), expected);
    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 6, 0).aborted,
        Some(vec![(a, 6)])
    );
    drop(conn);
    // Just after a marker, killed: the aborted index and the LSO are as they were.
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0), expected);
    let index = broker.log_dir.join("txn-0/00000000000000000000.txnindex");
    assert_eq!(std::fs::metadata(index).unwrap().len(), 2 * 34);
}

#[test]
fn a_transaction_open_across_segment_rolls_survives_a_kill() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, &[("segment.bytes", "300")]);
    let (a, epoch) = init_producer_id(&mut conn, "tx-a");
    let (b, _) = init_producer_id(&mut conn, "tx-b");
    assert_eq!(
        produce(
            &mut conn,
            Some("tx-a"),
            TOPIC,
            &batch_of(a, epoch, 0, true, &["a0"])
        ),
        (NONE, 0)
    );
    // Plain data rolls several segments after the transaction began.
    let filler = "f".repeat(150);
    for offset in 1..8 {
        let bytes = batch_of(b, epoch, offset - 1, false, &[filler.as_str()]);
        assert_eq!(
            produce(&mut conn, None, TOPIC, &bytes),
            (NONE, i64::from(offset))
        );
    }
    let snapshots = std::fs::read_dir(broker.log_dir.join("txn-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".snapshot")
        })
        .count();
    // One per roll, the newest three kept.
    assert_eq!(snapshots, 3);
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 0);
    assert_eq!(producers(&mut conn, TOPIC), [(a, 0), (b, -1)]);
    // B's sequence carries on from its last batch, A's transaction ends.
    let bytes = batch_of(b, epoch, 7, false, &["f"]);
    assert_eq!(produce(&mut conn, None, TOPIC, &bytes), (NONE, 8));
    assert_eq!(marker(&mut conn, 1, TOPIC, &[0], a, epoch, 0, true), [NONE]);
    assert_eq!(latest(&mut conn, READ_COMMITTED, TOPIC), 10);
}

#[test]
fn a_waiting_read_committed_fetch_wakes_when_a_marker_moves_the_lso() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, &[]);
    let (a, epoch) = init_producer_id(&mut conn, "tx-a");
    let bytes = batch_of(a, epoch, 0, true, &["a0"]);
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &bytes), (NONE, 0));
    // Nothing is committed yet: a fetch that does not wait gets nothing.
    assert_eq!(
        fetch(&mut conn, READ_COMMITTED, TOPIC, 0, 0).records,
        vec![]
    );
    // One waiting far longer than the test's read timeout: only the marker can answer it.
    let mut waiting = Conn::open(&broker);
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms: 60_000,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: READ_COMMITTED,
        topics: vec![fetch::FetchTopic {
            topic: TOPIC,
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..fetch::FetchPartition::default()
            }],
            ..fetch::FetchTopic::default()
        }],
        rack_id: "",
        ..fetch::Request::default()
    };
    let v = <Fetch as kafka_broker::apis::Api>::SPEC.ver(12);
    common::send_frame(
        &mut waiting.stream,
        1,
        12,
        1,
        Some(common::CLIENT_ID),
        &common::body_of(&request, v),
        true,
    );
    assert_eq!(marker(&mut conn, 1, TOPIC, &[0], a, epoch, 0, true), [NONE]);
    let payload = common::read_frame(&mut waiting.stream);
    let body = common::response_body(&payload, 1, true);
    let response = decoded::<Fetch>(body, 12);
    let p = &response.responses[0].partitions[0];
    assert_eq!((p.high_watermark, p.last_stable_offset), (2, 2));
    let Some(Records::Bytes(bytes)) = &p.records else {
        panic!("no records: {p:?}")
    };
    let first = BatchHeader::parse(bytes).unwrap();
    assert_eq!((first.base_offset, first.producer_id), (0, a));
}

#[test]
fn the_cleaner_removes_an_aborted_transaction_and_keeps_what_it_superseded() {
    let broker = TestBroker::start_with("log.cleaner.backoff.ms=5");
    let mut conn = Conn::open(&broker);
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "300"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    create_topic(&mut conn, TOPIC, &configs);
    let (a, epoch_a) = init_producer_id(&mut conn, "tx-a");
    let (b, epoch_b) = init_producer_id(&mut conn, "tx-b");
    let keep = keyed_batch(-1, -1, -1, false, &[("k", "keep")]);
    assert_eq!(produce(&mut conn, None, TOPIC, &keep), (NONE, 0));
    // The same key in a transaction that aborts: it must not supersede offset 0.
    let aborted = keyed_batch(a, epoch_a, 0, true, &[("k", "aborted")]);
    assert_eq!(produce(&mut conn, Some("tx-a"), TOPIC, &aborted), (NONE, 1));
    assert_eq!(
        marker(&mut conn, 1, TOPIC, &[0], a, epoch_a, 0, false),
        [NONE]
    ); // 2
    let committed = batch_of(b, epoch_b, 0, true, &["committed"]);
    assert_eq!(
        produce(&mut conn, Some("tx-b"), TOPIC, &committed),
        (NONE, 3)
    );
    assert_eq!(
        marker(&mut conn, 1, TOPIC, &[0], b, epoch_b, 0, true),
        [NONE]
    ); // 4
    let later = batch_of(a, epoch_a, 1, false, &["later"]);
    assert_eq!(produce(&mut conn, None, TOPIC, &later), (NONE, 5));
    let filler = "f".repeat(150);
    for offset in 6..10 {
        let bytes = batch_of(-1, -1, -1, false, &[filler.as_str()]);
        assert_eq!(produce(&mut conn, None, TOPIC, &bytes), (NONE, offset));
    }
    broker.wait_for_log("cleaned up to offset", 1);
    let expected = records(&[
        (0, "keep"),
        (2, "marker"),
        (3, "committed"),
        (4, "marker"),
        (5, "later"),
    ]);
    let head = |records: Vec<(i64, String)>| -> Vec<(i64, String)> {
        records.into_iter().filter(|r| r.0 <= 5).collect()
    };
    // The aborted transaction is listed while a pass last met its data; a later pass drops
    // it from the index, as Kafka's cleaner does.
    let (got, aborted) = fetch_all(&mut conn, READ_COMMITTED, TOPIC);
    assert!(aborted == [(a, 1)] || aborted.is_empty(), "{aborted:?}");
    assert_eq!(head(got), expected);
    assert_eq!(
        head(fetch_all(&mut conn, READ_UNCOMMITTED, TOPIC).0),
        expected
    );
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (got, after) = fetch_all(&mut conn, READ_COMMITTED, TOPIC);
    assert!(after.len() <= aborted.len(), "{after:?}");
    assert_eq!(head(got), expected);
}
