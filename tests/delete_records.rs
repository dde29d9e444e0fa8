//! DeleteRecords over a real socket: every error path with Kafka's code (unknown topic and
//! partition, an internal topic, a compact-only topic, offsets below -1 and past the high
//! watermark), -1 as the high watermark, a start that never moves backward, whole segments
//! below the new start removed from disk, Kafka's `log-start-offset-checkpoint`, Fetch below
//! the start refused with OFFSET_OUT_OF_RANGE, ListOffsets earliest, and restarts (kill -9)
//! keeping all of it. One old (v0) and one flexible (v2) response are checked byte for byte.

mod common;

use common::{
    CLIENT_ID, Conn, TestBroker, assert_bytes, decoded, read_frame, response_body, send_frame,
};
use kafka_broker::apis::Api;
use kafka_broker::apis::delete_records::{self, DeleteRecords};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::produce::Produce;
use kafka_broker::protocol::wire::{Records, decode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const POLICY_VIOLATION: i16 = 44;

fn create_topic(conn: &mut Conn, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    common::create_topic(conn, name, partitions, configs);
}

/// Produces one batch of one keyed 100-byte record; returns its offset.
fn produce_one(conn: &mut Conn, name: &str) -> i64 {
    let record = (Some(b"k".to_vec()), Some(vec![b'r'; 100]));
    let batch = batch::build_keyed(0, 0, 1_700_000_000_000, &[record]);
    let request = common::produce_request(name, 0, &batch);
    let body = conn.send::<Produce>(11, &request);
    let response = decoded::<Produce>(&body, 11);
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NONE, "produce to {name}");
    p.base_offset
}

/// DeleteRecords at `version`: each partition's (topic, index, error, low watermark).
fn delete(
    conn: &mut Conn,
    version: i16,
    asks: &[(&str, i32, i64)],
) -> Vec<(String, i32, i16, i64)> {
    let request = delete_records::Request {
        topics: asks
            .iter()
            .map(
                |&(name, partition_index, offset)| delete_records::RequestTopic {
                    name,
                    partitions: vec![delete_records::RequestPartition {
                        partition_index,
                        offset,
                    }],
                },
            )
            .collect(),
        timeout_ms: 30_000,
    };
    let body = conn.send::<DeleteRecords>(version, &request);
    let response = decoded::<DeleteRecords>(&body, version);
    assert_eq!(response.throttle_time_ms, 0);
    response
        .topics
        .into_iter()
        .flat_map(|t| {
            t.partitions.into_iter().map(move |p| {
                (
                    t.name.clone(),
                    p.partition_index,
                    p.error_code,
                    p.low_watermark,
                )
            })
        })
        .collect()
}

fn earliest(conn: &mut Conn, name: &str) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: list_offsets::EARLIEST_TIMESTAMP,
            }],
        }],
        timeout_ms: 1000,
    };
    let body = conn.send::<ListOffsets>(7, &request);
    let response = decoded::<ListOffsets>(&body, 7);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// Fetch v11 at `offset`: (error, log start offset, base offset of the first batch back).
fn fetch_at(conn: &mut Conn, name: &str, offset: i64) -> (i16, i64, Option<i64>) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic: name,
            topic_id: [0; 16],
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..Default::default()
    };
    let body = conn.send::<Fetch>(11, &request);
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(11)).expect("decodes");
    let p = &response.responses[0].partitions[0];
    let first = match &p.records {
        Some(Records::Bytes(bytes)) if !bytes.is_empty() => {
            Some(batch::validate(bytes).expect("a whole batch").base_offset)
        }
        _ => None,
    };
    (p.error_code, p.log_start_offset, first)
}

fn segments(broker: &TestBroker, name: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(broker.log_dir.join(format!("{name}-0")))
        .expect("partition dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

fn checkpoint(broker: &TestBroker) -> String {
    std::fs::read_to_string(broker.log_dir.join("log-start-offset-checkpoint"))
        .expect("log-start-offset-checkpoint")
}

fn ok(name: &str, low_watermark: i64) -> (String, i32, i16, i64) {
    (name.to_string(), 0, NONE, low_watermark)
}

fn refused(name: &str, partition: i32, code: i16) -> (String, i32, i16, i64) {
    (name.to_string(), partition, code, -1)
}

#[test]
fn every_refusal_has_kafkas_code_and_low_watermark_minus_one() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "plain", 1, &[]);
    create_topic(&mut conn, "compacted", 1, &[("cleanup.policy", "compact")]);
    create_topic(
        &mut conn,
        "both",
        1,
        &[("cleanup.policy", "compact,delete")],
    );
    // Committing an offset makes __consumer_offsets exist; without it, it is unknown.
    for _ in 0..3 {
        produce_one(&mut conn, "plain");
        produce_one(&mut conn, "both");
    }
    let got = delete(
        &mut conn,
        1,
        &[
            ("nothing", 0, 0),
            ("plain", 4, 0),
            ("plain", 0, 4),
            ("plain", 0, -2),
            ("compacted", 0, 0),
            ("__consumer_offsets", 0, 0),
            ("both", 0, 2),
        ],
    );
    assert_eq!(
        got,
        [
            refused("nothing", 0, UNKNOWN_TOPIC_OR_PARTITION),
            refused("plain", 4, UNKNOWN_TOPIC_OR_PARTITION),
            refused("plain", 0, OFFSET_OUT_OF_RANGE),
            refused("plain", 0, OFFSET_OUT_OF_RANGE),
            refused("compacted", 0, POLICY_VIOLATION),
            // __consumer_offsets does not exist yet: unknown, as Kafka's metadata says.
            refused("__consumer_offsets", 0, UNKNOWN_TOPIC_OR_PARTITION),
            ok("both", 2),
        ]
    );
    // Up to the high watermark exactly is allowed; nothing past the start moves it back.
    assert_eq!(delete(&mut conn, 0, &[("plain", 0, 3)]), [ok("plain", 3)]);
    assert_eq!(delete(&mut conn, 0, &[("plain", 0, 1)]), [ok("plain", 3)]);
}

#[test]
fn internal_topic_is_refused_once_it_exists() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    // OffsetCommit v2 for a group with no members (generation -1) creates __consumer_offsets.
    create_topic(&mut conn, "t", 1, &[]);
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 1, b'g']); // group_id "g"
    body.extend_from_slice(&(-1i32).to_be_bytes()); // generation
    body.extend_from_slice(&[0, 0]); // member_id ""
    body.extend_from_slice(&(-1i64).to_be_bytes()); // retention_time_ms
    body.extend_from_slice(&[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1]); // topics ["t" [
    body.extend_from_slice(&[0, 0, 0, 0]); // partition 0
    body.extend_from_slice(&0i64.to_be_bytes()); // offset 0
    body.extend_from_slice(&[0xff, 0xff]); // metadata null]]
    send_frame(&mut conn.stream, 8, 2, 99, Some(CLIENT_ID), &body, false);
    let payload = read_frame(&mut conn.stream);
    let reply = response_body(&payload, 99, false);
    assert_eq!(&reply[reply.len() - 2..], &[0, 0], "offset committed");
    assert_eq!(
        delete(&mut conn, 2, &[("__consumer_offsets", 0, 0)]),
        [refused("__consumer_offsets", 0, INVALID_TOPIC_EXCEPTION)]
    );
}

#[test]
fn start_moves_durably_segments_go_and_fetch_and_list_offsets_follow() {
    let mut broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    // One 100-byte record per batch and 200-byte segments: one batch per segment.
    create_topic(&mut conn, "t", 1, &[("segment.bytes", "200")]);
    for expected in 0..6 {
        assert_eq!(produce_one(&mut conn, "t"), expected);
    }
    assert_eq!(segments(&broker, "t").len(), 6);
    assert_eq!(delete(&mut conn, 2, &[("t", 0, 3)]), [ok("t", 3)]);
    assert_eq!(
        segments(&broker, "t"),
        [
            "00000000000000000003.log",
            "00000000000000000004.log",
            "00000000000000000005.log"
        ]
    );
    assert_eq!(checkpoint(&broker), "0\n1\nt 0 3\n");
    assert_eq!(earliest(&mut conn, "t"), 3);
    assert_eq!(fetch_at(&mut conn, "t", 2), (OFFSET_OUT_OF_RANGE, -1, None));
    assert_eq!(fetch_at(&mut conn, "t", 3), (NONE, 3, Some(3)));

    broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(earliest(&mut conn, "t"), 3);
    assert_eq!(fetch_at(&mut conn, "t", 2), (OFFSET_OUT_OF_RANGE, -1, None));
    // -1 is the high watermark: everything goes but the active segment's file, whose
    // record lies below the start and is never served.
    assert_eq!(delete(&mut conn, 2, &[("t", 0, -1)]), [ok("t", 6)]);
    assert_eq!(segments(&broker, "t"), ["00000000000000000005.log"]);
    assert_eq!(checkpoint(&broker), "0\n1\nt 0 6\n");
    assert_eq!(fetch_at(&mut conn, "t", 5), (OFFSET_OUT_OF_RANGE, -1, None));
    assert_eq!(fetch_at(&mut conn, "t", 6), (NONE, 6, None));

    broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(earliest(&mut conn, "t"), 6);
    assert_eq!(fetch_at(&mut conn, "t", 5), (OFFSET_OUT_OF_RANGE, -1, None));
    assert_eq!(produce_one(&mut conn, "t"), 6);
    assert_eq!(fetch_at(&mut conn, "t", 6), (NONE, 6, Some(6)));
}

#[test]
fn a_deleted_topic_leaves_the_checkpoint_and_its_namesake_starts_at_zero() {
    let mut broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", 1, &[]);
    for _ in 0..3 {
        produce_one(&mut conn, "t");
    }
    assert_eq!(delete(&mut conn, 2, &[("t", 0, 2)]), [ok("t", 2)]);
    assert_eq!(checkpoint(&broker), "0\n1\nt 0 2\n");
    // DeleteTopics v3: ["t"], timeout 10000.
    let mut body = vec![0, 0, 0, 1, 0, 1, b't'];
    body.extend_from_slice(&10_000i32.to_be_bytes());
    send_frame(&mut conn.stream, 20, 3, 7, Some(CLIENT_ID), &body, false);
    read_frame(&mut conn.stream);
    assert_eq!(checkpoint(&broker), "0\n0\n");
    create_topic(&mut conn, "t", 1, &[]);
    broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(earliest(&mut conn, "t"), 0);
    assert_eq!(produce_one(&mut conn, "t"), 0);
}

#[test]
fn responses_at_v0_and_v2_are_kafkas_bytes() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", 1, &[]);
    for _ in 0..2 {
        produce_one(&mut conn, "t");
    }
    let request = delete_records::Request {
        topics: vec![delete_records::RequestTopic {
            name: "t",
            partitions: vec![
                delete_records::RequestPartition {
                    partition_index: 0,
                    offset: 1,
                },
                delete_records::RequestPartition {
                    partition_index: 1,
                    offset: 1,
                },
            ],
        }],
        timeout_ms: 5000,
    };
    let body = conn.send::<DeleteRecords>(0, &request);
    assert_bytes(
        &body,
        &[
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, 0, 1, b't', // topics: ["t"
            0, 0, 0, 2, // partitions: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, // 0: low watermark 1, NONE
            0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
            3, // 1: -1, UNKNOWN_TOPIC_OR_PARTITION]]
        ],
    );
    let body = conn.send::<DeleteRecords>(2, &request);
    assert_bytes(
        &body,
        &[
            0, 0, 0, 0, // throttle_time_ms
            2, 2, b't', // topics: ["t"
            3,    // partitions: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, // 0: 1, NONE, tags
            0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 3,
            0, // 1: -1, UNKNOWN_TOPIC_OR_PARTITION, tags]
            0, // topic tags]
            0, // tags
        ],
    );
}
