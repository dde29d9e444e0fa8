//! Corruption at rest, told from a torn tail (issue 12, item 2): a byte flipped in the last
//! segment, in a closed segment, in the metadata log and in `__consumer_offsets`, then a
//! restart. Nothing acknowledged is deleted; the partition goes offline (Produce, Fetch and
//! ListOffsets answer KAFKA_STORAGE_ERROR, Metadata shows it without a leader) with one
//! ERROR line naming the file, byte position and offset, while other partitions serve;
//! corruption in the metadata log or `__consumer_offsets` stops start-up with such a
//! message; `kafka-broker --repair` moves exactly the corrupt region aside and service
//! returns with every other batch at its offset. A torn tail is still truncated.

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{CLIENT_ID, Served, TestBroker, broker_bin, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::offset_commit::{self, OffsetCommit};
use kafka_broker::apis::offset_fetch::{self, OffsetFetch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::{decode, encode};
use kafka_broker::storage::batch::{self, BatchHeader};

const NONE: i16 = 0;
const KAFKA_STORAGE_ERROR: i16 = 56;
const CORRUPT_LINE: &str = "corrupt record batch at byte position";

fn send<A: Api>(stream: &mut TcpStream, version: i16, request: &A::Request<'_>) -> Vec<u8> {
    let v = A::SPEC.ver(version);
    let mut body = Vec::new();
    encode(request, v, &mut body).expect("encodes");
    send_frame(
        stream,
        A::SPEC.key,
        version,
        5,
        Some(CLIENT_ID),
        &body,
        v.flexible,
    );
    let payload = read_frame(stream);
    response_body(&payload, 5, A::SPEC.response_header_flexible(version)).to_vec()
}

fn create(stream: &mut TcpStream, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: partitions,
            replication_factor: 1,
            assignments: vec![],
            configs: configs
                .iter()
                .map(|&(name, value)| create_topics::Config {
                    name,
                    value: Some(value),
                })
                .collect(),
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = send::<CreateTopics>(stream, 7, &request);
    let response: create_topics::Response = decode(&body, CreateTopics::SPEC.ver(7)).unwrap();
    assert_eq!(response.topics[0].error_code, NONE, "{response:?}");
}

/// Produces one batch of `values` to `topic`-`partition`: the error code and base offset.
fn produce(stream: &mut TcpStream, topic: &str, partition: i32, values: &[Vec<u8>]) -> (i16, i64) {
    let batch = batch::build(0, 0, 1_700_000_000_000, values);
    let request = common::produce_request(topic, partition, &batch);
    let body = send::<Produce>(stream, 11, &request);
    let response: produce::Response = decode(&body, Produce::SPEC.ver(11)).unwrap();
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetches `topic`-`partition` from `offset` (up to 64 MiB): the error code and every
/// whole batch served as (base offset, values).
fn fetch(stream: &mut TcpStream, topic: &str, partition: i32, offset: i64) -> (i16, Vec<Served>) {
    let request = common::fetch_request(topic, partition, offset, 0);
    let body = send::<Fetch>(stream, 4, &request);
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(4)).unwrap();
    let p = &response.responses[0].partitions[0];
    (p.error_code, common::served_batches(&p.records))
}

/// Every batch from `offset` on, fetch after fetch (a fetch serves one segment at most).
fn fetch_all(stream: &mut TcpStream, topic: &str, partition: i32) -> (i16, Vec<i64>) {
    let mut offsets = Vec::new();
    let mut next = 0;
    loop {
        let (code, batches) = fetch(stream, topic, partition, next);
        if code != NONE || batches.is_empty() {
            return (code, offsets);
        }
        for (base, values) in batches {
            offsets.push(base);
            next = base + values.len() as i64;
        }
    }
}

/// Metadata of `topic`: each partition's (error code, leader, offline replicas).
fn partition_states(stream: &mut TcpStream, topic: &str) -> Vec<(i16, i32, Vec<i32>)> {
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            topic_id: [0; 16],
            name: Some(topic),
        }]),
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let body = send::<Metadata>(stream, 9, &request);
    let response: metadata::Response = decode(&body, Metadata::SPEC.ver(9)).unwrap();
    let mut states: Vec<_> = response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                (p.error_code, p.leader_id, p.offline_replicas.clone()),
            )
        })
        .collect();
    states.sort_by_key(|(index, _)| *index);
    states.into_iter().map(|(_, s)| s).collect()
}

fn values(prefix: &str, batch: usize) -> Vec<Vec<u8>> {
    (0..3)
        .map(|i| format!("{prefix}-{batch}-{i}").into_bytes())
        .collect()
}

/// The start of every batch in a segment file.
fn batch_positions(path: &Path) -> Vec<usize> {
    let bytes = fs::read(path).unwrap();
    let mut positions = Vec::new();
    let mut at = 0;
    while let Some(h) = bytes.get(at..).and_then(BatchHeader::parse) {
        positions.push(at);
        at += h.size();
    }
    positions
}

fn flip(path: &Path, position: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[position] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn segment(log_dir: &Path, dir: &str, base: i64) -> PathBuf {
    log_dir.join(dir).join(format!("{base:020}.log"))
}

/// SIGTERM, and the wait for a clean exit.
fn stop_cleanly(broker: &mut TestBroker) {
    let status = Command::new("kill")
        .args(["-TERM", &broker.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = broker.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// `kafka-broker --repair` on the broker's properties: its stdout.
fn repair(broker: &TestBroker) -> String {
    let out = Command::new(broker_bin())
        .arg("--repair")
        .arg(&broker.properties)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A start that must fail: its exit status and stderr.
fn failed_start(properties: &Path) -> String {
    let out = Command::new(broker_bin())
        .arg(properties)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the broker started on a corrupt log");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A byte flipped in the middle of the last segment (a whole batch failing its CRC, valid
/// batches after it) is corruption: after a crash the partition is offline, nothing is cut,
/// the other partition serves; the repair moves only that batch aside.
#[test]
fn a_flipped_byte_in_the_last_segment_takes_the_partition_offline_until_repaired() {
    let broker = TestBroker::start();
    let mut s = broker.connect();
    create(&mut s, "t", 2, &[]);
    for i in 0..10 {
        for partition in 0..2 {
            assert_eq!(
                produce(&mut s, "t", partition, &values("v", i)),
                (NONE, 3 * i as i64)
            );
        }
    }
    let path = segment(&broker.log_dir, "t-0", 0);
    let positions = batch_positions(&path);
    let size = fs::metadata(&path).unwrap().len();
    flip(&path, positions[4] + 70); // a record of the batch at offset 12
    let broker = broker.restart(); // kill -9: an unclean stop
    let log = broker.wait_for_log(CORRUPT_LINE, 1);
    let line = log.lines().find(|l| l.contains(CORRUPT_LINE)).unwrap();
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(
        line.contains(&format!("position {} (offset 12)", positions[4])),
        "{line}"
    );
    assert_eq!(log.matches(CORRUPT_LINE).count(), 1);
    assert_eq!(fs::metadata(&path).unwrap().len(), size, "nothing deleted");
    let mut s = broker.connect();
    assert_eq!(
        produce(&mut s, "t", 0, &values("w", 0)).0,
        KAFKA_STORAGE_ERROR
    );
    assert_eq!(fetch(&mut s, "t", 0, 0), (KAFKA_STORAGE_ERROR, vec![]));
    let states = partition_states(&mut s, "t");
    assert_eq!(states[0], (KAFKA_STORAGE_ERROR, -1, vec![1]));
    assert_eq!(states[1], (NONE, 1, vec![]));
    let (code, batches) = fetch(&mut s, "t", 1, 0);
    assert_eq!((code, batches.len()), (NONE, 10));
    assert_eq!(produce(&mut s, "t", 1, &values("w", 0)), (NONE, 30));
    assert_eq!(fs::metadata(&path).unwrap().len(), size, "nothing deleted");

    let mut broker = broker;
    stop_cleanly(&mut broker);
    let report = repair(&broker);
    assert!(
        report.contains(&format!(
            "moved {} corrupt bytes at position {}",
            positions[5] - positions[4],
            positions[4]
        )),
        "{report}"
    );
    let broker = broker.restart();
    let mut s = broker.connect();
    let (code, batches) = fetch(&mut s, "t", 0, 0);
    assert_eq!(code, NONE);
    let offsets: Vec<i64> = batches.iter().map(|b| b.0).collect();
    assert_eq!(
        offsets,
        [0, 3, 6, 9, 15, 18, 21, 24, 27],
        "only offsets 12-14 gone"
    );
    for (i, (_, got)) in batches.iter().enumerate() {
        let n = if i < 4 { i } else { i + 1 };
        assert_eq!(got, &values("v", n));
    }
    assert_eq!(produce(&mut s, "t", 0, &values("w", 1)), (NONE, 30));
    assert_eq!(partition_states(&mut s, "t")[0], (NONE, 1, vec![]));
    let saved = fs::read(format!("{}.corrupt-{}", path.display(), positions[4])).unwrap();
    assert_eq!(saved.len(), positions[5] - positions[4]);
}

/// A byte flipped in a closed segment that a clean start trusts (it reads no log) is caught
/// when a Fetch would serve it: KAFKA_STORAGE_ERROR instead of the batch, one ERROR line,
/// the partition offline from then on; the next start finds it again; repair restores it.
#[test]
fn a_flipped_byte_in_a_closed_segment_is_never_served() {
    let mut broker = TestBroker::start();
    let mut s = broker.connect();
    create(&mut s, "c", 1, &[("segment.bytes", "1000")]);
    let big = |i: usize| vec![vec![i as u8; 300]];
    for i in 0..12 {
        assert_eq!(produce(&mut s, "c", 0, &big(i)), (NONE, i as i64));
    }
    // 300-byte records in ~370-byte batches: two per 1000-byte segment.
    let first = segment(&broker.log_dir, "c-0", 0);
    assert!(segment(&broker.log_dir, "c-0", 2).exists());
    stop_cleanly(&mut broker);
    let positions = batch_positions(&first);
    flip(&first, positions[1] + 100); // offset 1
    let broker = broker.restart();
    let mut s = broker.connect();
    let (code, batches) = fetch(&mut s, "c", 0, 4);
    let offsets: Vec<i64> = batches.iter().map(|b| b.0).collect();
    assert_eq!((code, offsets), (NONE, vec![4, 5]), "later segments serve");
    // The batch before it is served, then the fetch at it fails.
    let (code, batches) = fetch(&mut s, "c", 0, 0);
    assert_eq!((code, batches.len(), batches[0].0), (NONE, 1, 0));
    assert_eq!(fetch(&mut s, "c", 0, 1), (KAFKA_STORAGE_ERROR, vec![]));
    let log = broker.wait_for_log(CORRUPT_LINE, 1);
    assert!(log.contains(&format!(
        "{}: {CORRUPT_LINE} {} (offset 1)",
        first.display(),
        positions[1]
    )));
    assert_eq!(fetch(&mut s, "c", 0, 4).0, KAFKA_STORAGE_ERROR, "offline");
    assert_eq!(partition_states(&mut s, "c")[0].0, KAFKA_STORAGE_ERROR);
    // The next start (even a clean one) finds it at once.
    let mut broker = broker;
    stop_cleanly(&mut broker);
    let broker = broker.restart();
    broker.wait_for_log(CORRUPT_LINE, 1);
    let mut s = broker.connect();
    assert_eq!(produce(&mut s, "c", 0, &big(99)).0, KAFKA_STORAGE_ERROR);
    let mut broker = broker;
    stop_cleanly(&mut broker);
    repair(&broker);
    let broker = broker.restart();
    let mut s = broker.connect();
    let (code, offsets) = fetch_all(&mut s, "c", 0);
    assert_eq!(code, NONE);
    assert_eq!(
        offsets,
        [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "only offset 1 gone"
    );
    assert_eq!(produce(&mut s, "c", 0, &big(12)), (NONE, 12));
}

/// A crash in the middle of a write leaves a torn tail: it is still truncated, silently
/// for the partition (a WARN), and everything acknowledged stays.
#[test]
fn a_torn_tail_is_still_truncated() {
    let broker = TestBroker::start();
    let mut s = broker.connect();
    create(&mut s, "t", 1, &[]);
    for i in 0..5 {
        assert_eq!(
            produce(&mut s, "t", 0, &values("v", i)),
            (NONE, 3 * i as i64)
        );
    }
    let path = segment(&broker.log_dir, "t-0", 0);
    let size = fs::metadata(&path).unwrap().len();
    let torn = batch::build(15, 0, 1_700_000_000_000, &values("torn", 0));
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() - 7]);
    fs::write(&path, bytes).unwrap();
    let broker = broker.restart();
    broker.wait_for_log("truncating", 1);
    assert_eq!(fs::metadata(&path).unwrap().len(), size);
    let mut s = broker.connect();
    let (code, batches) = fetch(&mut s, "t", 0, 0);
    assert_eq!((code, batches.len()), (NONE, 5));
    assert_eq!(produce(&mut s, "t", 0, &values("v", 5)), (NONE, 15));
    assert!(!broker.log().contains(CORRUPT_LINE));
}

/// A corrupt batch in the metadata log stops start-up with the ERROR line and a message
/// naming the repair, rather than dropping the topics after it; the repair keeps every
/// other batch (topics created after it are still there).
#[test]
fn a_corrupt_metadata_log_stops_start_up_until_repaired() {
    let broker = TestBroker::start();
    let mut s = broker.connect();
    for name in ["a", "b", "c"] {
        create(&mut s, name, 1, &[]);
    }
    assert_eq!(produce(&mut s, "c", 0, &values("v", 0)), (NONE, 0));
    let path = segment(&broker.log_dir, "__cluster_metadata-0", 0);
    let positions = batch_positions(&path);
    let properties = broker.properties.clone();
    let mut broker = broker;
    stop_cleanly(&mut broker);
    // Batches: the bootstrap records (if any), then one per topic; "b" is the second last.
    let b = positions[positions.len() - 2];
    flip(&path, b + 80);
    let size = fs::metadata(&path).unwrap().len();
    let stderr = failed_start(&properties);
    assert!(stderr.contains(CORRUPT_LINE), "{stderr}");
    assert!(stderr.contains("--repair"), "{stderr}");
    assert!(stderr.contains(&format!("position {b}")), "{stderr}");
    assert_eq!(fs::metadata(&path).unwrap().len(), size, "nothing deleted");
    let report = repair(&broker);
    assert!(report.contains("__cluster_metadata-0"), "{report}");
    let broker = broker.restart();
    let mut s = broker.connect();
    assert_eq!(partition_states(&mut s, "a")[0].0, NONE);
    assert_eq!(partition_states(&mut s, "c")[0].0, NONE);
    let (code, batches) = fetch(&mut s, "c", 0, 0);
    assert_eq!(
        (code, batches.len()),
        (NONE, 1),
        "topic c and its data kept"
    );
}

fn commit(stream: &mut TcpStream, group: &str, partition: i32, offset: i64) {
    let request = common::simple_commit(group, "t", partition, offset, -1, Some(""));
    let body = send::<OffsetCommit>(stream, 2, &request);
    let response: offset_commit::Response = decode(&body, OffsetCommit::SPEC.ver(2)).unwrap();
    assert_eq!(response.topics[0].partitions[0].error_code, NONE);
}

fn committed(stream: &mut TcpStream, group: &str) -> Vec<i64> {
    let request = offset_fetch::Request {
        group_id: group,
        topics: Some(vec![offset_fetch::RequestTopic {
            name: "t",
            topic_id: [0; 16],
            partition_indexes: vec![0, 1, 2],
        }]),
        ..offset_fetch::Request::default()
    };
    let body = send::<OffsetFetch>(stream, 1, &request);
    let response: offset_fetch::Response = decode(&body, OffsetFetch::SPEC.ver(1)).unwrap();
    let partitions = &response.topics[0].partitions;
    partitions.iter().map(|p| p.committed_offset).collect()
}

/// A corrupt commit in `__consumer_offsets` stops start-up (committed offsets are never
/// silently lost); the repair removes that batch alone, and the other commits remain.
#[test]
fn a_corrupt_consumer_offsets_partition_stops_start_up_until_repaired() {
    let broker = TestBroker::start_with("offsets.topic.num.partitions=1");
    let mut s = broker.connect();
    create(&mut s, "t", 3, &[]);
    for partition in 0..3 {
        commit(&mut s, "g", partition, 10 + i64::from(partition));
    }
    assert_eq!(committed(&mut s, "g"), [10, 11, 12]);
    let path = segment(&broker.log_dir, "__consumer_offsets-0", 0);
    let positions = batch_positions(&path);
    assert_eq!(positions.len(), 3);
    let properties = broker.properties.clone();
    let mut broker = broker;
    stop_cleanly(&mut broker);
    flip(&path, positions[1] + 75);
    let stderr = failed_start(&properties);
    assert!(stderr.contains(CORRUPT_LINE), "{stderr}");
    assert!(stderr.contains("__consumer_offsets-0"), "{stderr}");
    repair(&broker);
    let broker = broker.restart();
    let mut s = broker.connect();
    assert_eq!(
        committed(&mut s, "g"),
        [10, -1, 12],
        "only the corrupt commit is gone"
    );
}
