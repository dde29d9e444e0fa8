//! Acknowledgements wait for their data sync, and nothing not yet durable is read, over a
//! real socket, with io_uring and with the blocking fdatasync fallback. The window between
//! an append and its sync's completion is made observable with the test hook
//! `log.flush.hold.file`: while that file exists the broker does not apply completed syncs,
//! so the produce's answer stays held and the partition's high watermark stays put; no
//! assertion depends on timing (a held answer is checked by the connection staying quiet,
//! which a broker that answered early would fail).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    CLIENT_ID, Conn, TempDir, TestBroker, assert_quiet, read_frame, response_body, send_frame,
};
use kafka_broker::apis::Api;
use kafka_broker::apis::delete_topics::{self, DeleteTopics};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::offset_for_leader_epoch::{self, OffsetForLeaderEpoch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::{Records, decode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const TOPIC: &str = "durable";
const PRODUCE_V: i16 = 9;
const FETCH_V: i16 = 12;

/// Both ways of syncing: the hook behaves the same on each.
const BACKENDS: [(&str, &str); 2] = [
    ("io_uring", "log.flush.io.uring=true"),
    ("blocking", "log.flush.io.uring=false"),
];

struct Held {
    broker: TestBroker,
    hold: PathBuf,
    _dir: TempDir,
}

/// A broker whose completed syncs are held while `hold` exists, with TOPIC created (before
/// the hold starts).
fn start(backend: &str) -> Held {
    let dir = TempDir::new("durable-acks");
    let hold = dir.path().join("hold-syncs");
    let broker = TestBroker::start_with(&format!(
        "{backend}\nlog.flush.hold.file={}",
        hold.display()
    ));
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC);
    Held {
        broker,
        hold,
        _dir: dir,
    }
}

fn set_hold(path: &Path, on: bool) {
    if on {
        std::fs::write(path, b"").expect("create the hold file");
    } else {
        std::fs::remove_file(path).expect("remove the hold file");
    }
}

fn create_topic(conn: &mut Conn, name: &str) {
    common::create_topic(conn, name, 1, &[]);
}

fn produce_body(batch: &[u8], acks: i16) -> Vec<u8> {
    let request = produce::Request {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topic_data: vec![produce::TopicProduceData {
            name: TOPIC,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(batch)),
            }],
        }],
    };
    common::body_of(&request, Produce::SPEC.ver(PRODUCE_V))
}

/// Sends a Produce without waiting for its answer.
fn send_produce(conn: &mut Conn, correlation_id: i32, batch: &[u8], acks: i16) {
    let body = produce_body(batch, acks);
    send_frame(
        &mut conn.stream,
        Produce::SPEC.key,
        PRODUCE_V,
        correlation_id,
        Some(CLIENT_ID),
        &body,
        true,
    );
}

/// Reads the answer to the Produce sent as `correlation_id`: (error code, base offset).
fn produced(conn: &mut Conn, correlation_id: i32) -> (i16, i64) {
    let payload = read_frame(&mut conn.stream);
    let body = response_body(&payload, correlation_id, true);
    let response: produce::Response = decode(body, Produce::SPEC.ver(PRODUCE_V)).expect("decodes");
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch from offset 0 (max_wait_ms 0): (error code, high watermark, record bytes).
fn fetch(conn: &mut Conn) -> (i16, i64, usize) {
    let request = fetch::Request {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
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
        ..fetch::Request::default()
    };
    let body = conn.send::<Fetch>(FETCH_V, &request);
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(FETCH_V)).expect("decodes");
    let p = &response.responses[0].partitions[0];
    let records = match &p.records {
        Some(Records::Bytes(bytes)) => bytes.len(),
        Some(Records::Source(_)) => panic!("a decoded fetch holds bytes"),
        None => 0,
    };
    (p.error_code, p.high_watermark, records)
}

/// ListOffsets LATEST for partition 0.
fn latest(conn: &mut Conn) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name: TOPIC,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: list_offsets::LATEST_TIMESTAMP,
            }],
        }],
        timeout_ms: 0,
    };
    let body = conn.send::<ListOffsets>(7, &request);
    let response: list_offsets::Response =
        decode(&body, ListOffsets::SPEC.ver(7)).expect("decodes");
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// The log end offset (OffsetForLeaderEpoch answers it, appended whether durable or not).
fn log_end(conn: &mut Conn) -> i64 {
    let request = offset_for_leader_epoch::Request {
        replica_id: -1,
        topics: vec![offset_for_leader_epoch::RequestTopic {
            topic: TOPIC,
            partitions: vec![offset_for_leader_epoch::RequestPartition {
                partition: 0,
                current_leader_epoch: -1,
                leader_epoch: 0,
            }],
        }],
    };
    let body = conn.send::<OffsetForLeaderEpoch>(4, &request);
    let response: offset_for_leader_epoch::Response =
        decode(&body, OffsetForLeaderEpoch::SPEC.ver(4)).expect("decodes");
    response.topics[0].partitions[0].end_offset
}

/// Waits (bounded) until the broker has appended up to `end`: the produce was handled.
fn await_log_end(conn: &mut Conn, end: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while log_end(conn) < end {
        assert!(
            Instant::now() < deadline,
            "the append to offset {end} never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn three_records() -> Vec<u8> {
    batch::build(0, -1, 1_700_000_000_000, &[vec![1], vec![2], vec![3]])
}

#[test]
fn a_produce_is_acknowledged_only_once_synced_and_fetched_only_then() {
    for (name, backend) in BACKENDS {
        let held = start(backend);
        held.broker.wait_for_log(&format!("data syncs: {name}"), 1);
        let mut producer = Conn::open(&held.broker);
        let mut reader = Conn::open(&held.broker);
        set_hold(&held.hold, true);
        send_produce(&mut producer, 1, &three_records(), -1);
        await_log_end(&mut reader, 3);
        // Appended, not yet durable: others are served, nothing of it is visible.
        assert_eq!(fetch(&mut reader), (NONE, 0, 0), "{name}");
        assert_eq!(latest(&mut reader), 0, "{name}");
        assert_quiet(&mut producer.stream, Duration::from_millis(200));
        set_hold(&held.hold, false);
        assert_eq!(produced(&mut producer, 1), (NONE, 0), "{name}");
        let (code, high_watermark, bytes) = fetch(&mut reader);
        assert_eq!((code, high_watermark), (NONE, 3), "{name}");
        assert_eq!(bytes, three_records().len(), "{name}");
        assert_eq!(latest(&mut reader), 3, "{name}");
    }
}

#[test]
fn a_later_request_on_the_connection_waits_behind_a_held_acknowledgement() {
    for (name, backend) in BACKENDS {
        let held = start(backend);
        let mut producer = Conn::open(&held.broker);
        let mut reader = Conn::open(&held.broker);
        set_hold(&held.hold, true);
        send_produce(&mut producer, 1, &three_records(), -1);
        // An acks=0 produce has no answer; a third produce's answer follows the first.
        send_produce(&mut producer, 2, &three_records(), 0);
        send_produce(&mut producer, 3, &three_records(), 1);
        await_log_end(&mut reader, 9);
        assert_quiet(&mut producer.stream, Duration::from_millis(200));
        assert_eq!(fetch(&mut reader).1, 0, "{name}");
        set_hold(&held.hold, false);
        assert_eq!(produced(&mut producer, 1), (NONE, 0), "{name}");
        assert_eq!(produced(&mut producer, 3), (NONE, 6), "{name}");
        assert_eq!(fetch(&mut reader).1, 9, "{name}");
    }
}

#[test]
fn a_waiting_fetch_is_answered_when_the_sync_completes() {
    let held = start(BACKENDS[0].1);
    let mut producer = Conn::open(&held.broker);
    let mut reader = Conn::open(&held.broker);
    let mut waiting = Conn::open(&held.broker);
    set_hold(&held.hold, true);
    // A long poll from offset 0 parks: nothing is durable yet.
    let request = fetch::Request {
        max_wait_ms: 30_000,
        min_bytes: 1,
        max_bytes: 1 << 20,
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
        ..fetch::Request::default()
    };
    let v = Fetch::SPEC.ver(FETCH_V);
    let body = common::body_of(&request, v);
    send_frame(
        &mut waiting.stream,
        Fetch::SPEC.key,
        FETCH_V,
        7,
        Some(CLIENT_ID),
        &body,
        true,
    );
    send_produce(&mut producer, 1, &three_records(), -1);
    await_log_end(&mut reader, 3);
    assert_quiet(&mut waiting.stream, Duration::from_millis(200));
    set_hold(&held.hold, false);
    assert_eq!(produced(&mut producer, 1), (NONE, 0));
    let payload = read_frame(&mut waiting.stream);
    let response: fetch::Response = decode(response_body(&payload, 7, true), v).expect("decodes");
    let p = &response.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (NONE, 3));
    assert!(matches!(&p.records, Some(Records::Bytes(b)) if b.len() == three_records().len()));
}

#[test]
fn a_topic_deleted_while_its_sync_is_held_leaves_the_broker_serving() {
    let held = start(BACKENDS[0].1);
    let mut producer = Conn::open(&held.broker);
    let mut admin = Conn::open(&held.broker);
    set_hold(&held.hold, true);
    send_produce(&mut producer, 1, &three_records(), -1);
    await_log_end(&mut admin, 3);
    let request = delete_topics::Request {
        topics: vec![],
        topic_names: vec![TOPIC],
        timeout_ms: 10_000,
    };
    let body = admin.send::<DeleteTopics>(4, &request);
    let response: delete_topics::Response =
        decode(&body, DeleteTopics::SPEC.ver(4)).expect("decodes");
    assert_eq!(response.responses[0].error_code, NONE);
    set_hold(&held.hold, false);
    // The append was made durable before the topic went; the answer says so.
    assert_eq!(produced(&mut producer, 1), (NONE, 0));
    create_topic(&mut admin, TOPIC);
    assert_eq!(fetch(&mut admin), (NONE, 0, 0));
}
