//! A clean restart reads no log (issue 12, item 6): after SIGTERM the next start loads every
//! segment from its `.index`/`.timeindex` files and the `recovery-point-offset-checkpoint`,
//! reading less than 1 MiB (the process's `rchar` in `/proc/<pid>/io`) on a log of many
//! partitions and segments, and serves every offset exactly; after a kill -9 it reads only
//! the segments from each partition's recovery point on.
//!
//! The log is written straight into the partition directories (valid batches, as the broker
//! stores them) after the broker created the topic; the first start then scans it and
//! builds the index files, as after an upgrade. CI's size is 64 MiB over 64 partitions;
//! `KAFKA_BROKER_RESTART_FULL=1` runs 2 GiB over 200 partitions and prints the figures
//! (warm and cold page cache, clean and unclean): time to the first answer and bytes read.
//! No timing is asserted.

mod common;

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{CLIENT_ID, TestBroker, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::protocol::wire::{Records, decode, encode};
use kafka_broker::storage::batch::{self, BatchHeader};

const TOPIC: &str = "big";
/// A clean restart may read this much in all (metadata log, checkpoints, index entries,
/// a few batch headers per segment).
const CLEAN_READ_BYTES_MAX: u64 = 1 << 20;

struct Size {
    partitions: i32,
    bytes_per_partition: usize,
    segment_bytes: usize,
    batch_bytes: usize,
}

fn send<A: Api>(stream: &mut TcpStream, version: i16, request: &A::Request<'_>) -> Vec<u8> {
    let v = A::SPEC.ver(version);
    let mut body = Vec::new();
    encode(request, v, &mut body).expect("encodes");
    send_frame(
        stream,
        A::SPEC.key,
        version,
        9,
        Some(CLIENT_ID),
        &body,
        v.flexible,
    );
    let payload = read_frame(stream);
    response_body(&payload, 9, A::SPEC.response_header_flexible(version)).to_vec()
}

fn create(broker: &TestBroker, size: &Size) {
    let segment_bytes = size.segment_bytes.to_string();
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: TOPIC,
            num_partitions: size.partitions,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![create_topics::Config {
                name: "segment.bytes",
                value: Some(&segment_bytes),
            }],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = send::<CreateTopics>(&mut broker.connect(), 7, &request);
    let response: create_topics::Response = decode(&body, CreateTopics::SPEC.ver(7)).unwrap();
    assert_eq!(response.topics[0].error_code, 0);
}

/// Writes each partition's segments as the broker would: batches of one record each,
/// rolled at `segment_bytes`. Returns each partition's log end offset.
fn write_log(broker: &TestBroker, size: &Size) -> Vec<i64> {
    let value = vec![b'x'; size.batch_bytes - 100];
    let one = batch::build(0, 0, 1_700_000_000_000, std::slice::from_ref(&value)).len();
    let mut ends = Vec::new();
    for partition in 0..size.partitions {
        let dir = broker.log_dir.join(format!("{TOPIC}-{partition}"));
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e != "metadata") {
                fs::remove_file(path).unwrap();
            }
        }
        let mut offset = 0i64;
        let mut written = 0;
        while written < size.bytes_per_partition {
            let base = offset;
            let mut segment = Vec::with_capacity(size.segment_bytes);
            while segment.len() + one <= size.segment_bytes.max(one)
                && written < size.bytes_per_partition
            {
                let ts = 1_700_000_000_000 + offset;
                let b = batch::build(offset, 0, ts, std::slice::from_ref(&value));
                segment.extend_from_slice(&b);
                written += b.len();
                offset += 1;
            }
            let mut file = fs::File::create(dir.join(format!("{base:020}.log"))).unwrap();
            file.write_all(&segment).unwrap();
        }
        ends.push(offset);
    }
    ends
}

/// Bytes the process has read so far (`rchar`: every read and pread, cached or not).
fn rchar(broker: &TestBroker) -> u64 {
    let io = fs::read_to_string(format!("/proc/{}/io", broker.child.id())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn partition_count(stream: &mut TcpStream) -> usize {
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            topic_id: [0; 16],
            name: Some(TOPIC),
        }]),
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let body = send::<Metadata>(stream, 9, &request);
    let response: metadata::Response = decode(&body, Metadata::SPEC.ver(9)).unwrap();
    response.topics[0].partitions.len()
}

/// The base offset of the first batch served from `offset`, and the high watermark.
fn first_batch(stream: &mut TcpStream, partition: i32, offset: i64) -> (i64, i64) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic: TOPIC,
            topic_id: [0; 16],
            partitions: vec![fetch::FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1,
                ..fetch::FetchPartition::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..fetch::Request::default()
    };
    let body = send::<Fetch>(stream, 4, &request);
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(4)).unwrap();
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let Some(Records::Bytes(bytes)) = &p.records else {
        panic!("no records at {partition}/{offset}");
    };
    let header = BatchHeader::parse(bytes).unwrap();
    batch::validate(&bytes[..header.size()]).unwrap();
    (header.base_offset, p.high_watermark)
}

fn sigterm(broker: &mut TestBroker) {
    let pid = broker.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(broker.child.wait().unwrap().success());
}

fn drop_page_cache() -> bool {
    Command::new("sh")
        .args(["-c", "sync && echo 3 > /proc/sys/vm/drop_caches"])
        .status()
        .is_ok_and(|s| s.success())
}

/// A restart (after `stop`): the new broker, its time to the first answer and its bytes
/// read by then.
fn timed_restart(broker: TestBroker, size: &Size) -> (TestBroker, Duration, u64) {
    let started = Instant::now();
    let broker = broker.restart();
    let count = partition_count(&mut broker.connect());
    let elapsed = started.elapsed();
    assert_eq!(count, size.partitions as usize);
    let read = rchar(&broker);
    (broker, elapsed, read)
}

fn check_every_partition(broker: &TestBroker, ends: &[i64]) {
    let mut s = broker.connect();
    for (partition, &end) in ends.iter().enumerate() {
        let partition = partition as i32;
        for offset in [0, end / 3, end / 2, end - 1] {
            assert_eq!(first_batch(&mut s, partition, offset), (offset, end));
        }
    }
}

fn kill9(broker: &mut TestBroker) {
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
}

fn run(size: Size) {
    let mut broker = TestBroker::start();
    create(&broker, &size);
    // Kafka's leader-epoch-checkpoint: epoch 0 from offset 0, written as the partition's
    // leadership began.
    let epochs = fs::read_to_string(
        broker
            .log_dir
            .join(format!("{TOPIC}-0/leader-epoch-checkpoint")),
    );
    assert_eq!(epochs.unwrap(), "0\n1\n0 0\n");
    sigterm(&mut broker);
    let ends = write_log(&broker, &size);
    let total: u64 = ends.len() as u64 * size.bytes_per_partition as u64;
    // The first start has no index files: it scans everything and writes them.
    let (mut broker, first, first_read) = timed_restart(broker, &size);
    assert!(
        first_read >= total,
        "the first start reads the log: {first_read}"
    );
    check_every_partition(&broker, &ends);
    sigterm(&mut broker);

    let (mut broker, warm, warm_read) = timed_restart(broker, &size);
    check_every_partition(&broker, &ends);
    sigterm(&mut broker);
    let mut cold = None;
    if drop_page_cache() {
        let (mut b, t, r) = timed_restart(broker, &size);
        sigterm(&mut b);
        cold = Some((t, r));
        broker = b;
    }

    // kill -9: only the segments from each partition's recovery point (the log end at the
    // last start: the active segments) are read and checked.
    let mut broker = broker.restart();
    partition_count(&mut broker.connect());
    kill9(&mut broker);
    let (mut broker, unclean, unclean_read) = timed_restart(broker, &size);
    check_every_partition(&broker, &ends);
    kill9(&mut broker);
    let mut unclean_cold = None;
    if drop_page_cache() {
        let (b, t, r) = timed_restart(broker, &size);
        unclean_cold = Some((t, r));
        drop(b);
    }
    eprintln!(
        "{} partitions, {total} bytes of log: first start (scan, index build) {first:?}, \
         {first_read} B read; clean restart: warm {warm:?}, {warm_read} B; cold {cold:?}; \
         unclean restart: warm {unclean:?}, {unclean_read} B; cold {unclean_cold:?}",
        ends.len()
    );
    assert!(
        warm_read < CLEAN_READ_BYTES_MAX,
        "a clean restart read {warm_read} bytes of a {total}-byte log"
    );
    let active_bytes_max = ends.len() as u64 * size.segment_bytes as u64;
    assert!(
        unclean_read < active_bytes_max + CLEAN_READ_BYTES_MAX,
        "an unclean restart read {unclean_read} bytes"
    );
}

#[test]
fn a_clean_restart_reads_no_log() {
    run(Size {
        partitions: 64,
        bytes_per_partition: 1 << 20,
        segment_bytes: 256 << 10,
        batch_bytes: 16 << 10,
    });
}

#[test]
fn a_clean_restart_reads_no_log_full_size() {
    if std::env::var_os("KAFKA_BROKER_RESTART_FULL").is_none() {
        eprintln!("skipped: set KAFKA_BROKER_RESTART_FULL=1 for 2 GiB over 200 partitions");
        return;
    }
    run(Size {
        partitions: 200,
        bytes_per_partition: 10 << 20,
        segment_bytes: 1 << 30,
        batch_bytes: 512 << 10,
    });
}
