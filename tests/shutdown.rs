//! Controlled shutdown of the broker process: SIGTERM or SIGINT under produce load ends the
//! process with exit status 0, a parked long-poll Fetch is answered first, Kafka's
//! `.kafka_cleanshutdown` marker is in the log dir afterwards (and not after a kill -9),
//! the next start removes it, and every acknowledged batch is there after the restart.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::apis::{Api, fetch};
use kafka_broker::protocol::codec::Writer;
use kafka_broker::protocol::wire::{Records, Ver, Wire, decode};
use kafka_broker::storage::records::build::batch;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const CREATE_TOPICS: i16 = 19;
const TOPIC: &str = "load";
const PARTITIONS: i32 = 4;
const MARKER: &str = ".kafka_cleanshutdown";
/// How long the test waits for the process to end (a liveness bound, not a timing claim).
const EXIT_WAIT: Duration = Duration::from_secs(10);

fn body_of<'a, T: Wire<'a>>(message: &T, v: Ver) -> Vec<u8> {
    let mut out = Vec::new();
    message.write(&mut Writer::new(&mut out), v).unwrap();
    out
}

/// One request and its response body, or `None` once the broker has gone.
fn call(stream: &mut TcpStream, api_key: i16, version: i16, body: &[u8]) -> Option<Vec<u8>> {
    let flexible = match api_key {
        PRODUCE => Produce::SPEC.ver(version).flexible,
        FETCH => fetch::Fetch::SPEC.ver(version).flexible,
        _ => CreateTopics::SPEC.ver(version).flexible,
    };
    let frame = request_frame(api_key, version, 7, Some(CLIENT_ID), body, flexible);
    stream.write_all(&frame).ok()?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let mut payload = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut payload).ok()?;
    Some(response_body(&payload, 7, flexible).to_vec())
}

fn create_topic(broker: &TestBroker) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: TOPIC,
            num_partitions: PARTITIONS,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let v = CreateTopics::SPEC.ver(7);
    let body = call(
        &mut broker.connect(),
        CREATE_TOPICS,
        7,
        &body_of(&request, v),
    )
    .unwrap();
    let response: create_topics::Response = decode(&body, v).unwrap();
    assert_eq!(response.topics[0].error_code, 0);
}

/// Produces batches to one partition until the broker goes away; returns every
/// acknowledged batch as (base offset, bytes).
fn produce_until_gone(
    mut stream: TcpStream,
    partition: i32,
    acked: &AtomicUsize,
) -> Vec<(i64, Vec<u8>)> {
    let v = Produce::SPEC.ver(11);
    let mut stored = Vec::new();
    for i in 0.. {
        let values: Vec<Vec<u8>> = (0..5)
            .map(|j| format!("p{partition} batch {i} record {j}").into_bytes())
            .collect();
        let bytes = batch(if i % 2 == 0 { 0 } else { 3 }, &values);
        let request = produce::Request {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![produce::TopicProduceData {
                name: TOPIC,
                partition_data: vec![produce::PartitionProduceData {
                    index: partition,
                    records: Some(Records::Bytes(&bytes)),
                }],
            }],
        };
        let request_body = body_of(&request, v);
        drop(request);
        let Some(body) = call(&mut stream, PRODUCE, 11, &request_body) else {
            break;
        };
        let response: produce::Response = decode(&body, v).unwrap();
        let answer = &response.responses[0].partition_responses[0];
        assert_eq!(answer.error_code, 0, "produce to partition {partition}");
        stored.push((answer.base_offset, bytes));
        acked.fetch_add(1, Ordering::Relaxed);
    }
    stored
}

/// Fetch v4 of one partition from offset 0: (high watermark, record bytes).
fn fetch_all(stream: &mut TcpStream, partition: i32, max_wait_ms: i32) -> (i64, Vec<u8>) {
    fetch_from(stream, partition, 0, max_wait_ms).expect("fetch answered")
}

fn fetch_from(
    stream: &mut TcpStream,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> Option<(i64, Vec<u8>)> {
    let request = common::fetch_request(TOPIC, partition, offset, max_wait_ms);
    let v = fetch::Fetch::SPEC.ver(4);
    let body = call(stream, FETCH, 4, &body_of(&request, v))?;
    let response: fetch::Response = decode(&body, v).unwrap();
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let bytes = match &p.records {
        Some(Records::Bytes(bytes)) => bytes.to_vec(),
        _ => Vec::new(),
    };
    Some((p.high_watermark, bytes))
}

fn send_signal(broker: &TestBroker, signal: &str) {
    let status = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg(broker.child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {signal}");
}

fn wait_exit(broker: &mut TestBroker) -> (ExitStatus, Duration) {
    let start = Instant::now();
    while start.elapsed() < EXIT_WAIT {
        if let Some(status) = broker.child.try_wait().expect("wait") {
            return (status, start.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("broker still running {EXIT_WAIT:?} after the signal");
}

/// The batch as stored at `base_offset` (partitionLeaderEpoch 0).
fn stored(bytes: &[u8], base_offset: i64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&0i32.to_be_bytes());
    out
}

fn shutdown_under_load(signal: &str) {
    let mut broker = TestBroker::start();
    create_topic(&broker);
    let acked = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PARTITIONS)
        .map(|partition| {
            let stream = broker.connect();
            let acked = Arc::clone(&acked);
            thread::spawn(move || produce_until_gone(stream, partition, &acked))
        })
        .collect();
    while acked.load(Ordering::Relaxed) < 200 {
        broker.assert_running();
        thread::sleep(Duration::from_millis(2));
    }
    send_signal(&broker, signal);
    let (status, took) = wait_exit(&mut broker);
    eprintln!("{signal}: exit {status} after {took:?}");
    assert_eq!(
        status.code(),
        Some(0),
        "{signal} exit status; log:\n{}",
        broker.log()
    );
    let acknowledged: Vec<Vec<(i64, Vec<u8>)>> =
        producers.into_iter().map(|p| p.join().unwrap()).collect();
    let marker = broker.log_dir.join(MARKER);
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the clean-shutdown marker"),
        r#"{"version":0,"brokerEpoch":-1}"#
    );
    broker.wait_for_log("clean shutdown", 1);
    // The next start takes the marker away, and finds every acknowledged batch.
    let broker = broker.restart();
    assert!(!marker.exists(), "the marker is removed on start");
    let mut stream = broker.connect();
    for (partition, batches) in acknowledged.iter().enumerate() {
        let (high_watermark, bytes) = fetch_all(&mut stream, partition as i32, 0);
        let expected: Vec<u8> = batches
            .iter()
            .flat_map(|(offset, bytes)| stored(bytes, *offset))
            .collect();
        assert!(
            bytes.starts_with(&expected),
            "partition {partition}: acknowledged batches lost"
        );
        assert!(high_watermark >= 5 * batches.len() as i64);
    }
}

#[test]
fn sigterm_under_produce_load_is_a_clean_shutdown() {
    shutdown_under_load("TERM");
}

#[test]
fn sigint_under_produce_load_is_a_clean_shutdown() {
    shutdown_under_load("INT");
}

#[test]
fn a_parked_fetch_is_answered_and_a_kill_leaves_no_marker() {
    let mut broker = TestBroker::start();
    create_topic(&broker);
    let marker = broker.log_dir.join(MARKER);
    // Parked: min_bytes 1 at the end of an empty partition, for up to 30 s. A round trip
    // on another connection after it was sent lets the loop read it before the signal.
    let mut stream = broker.connect();
    let parked = thread::spawn(move || fetch_from(&mut stream, 0, 0, 30_000));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(fetch_all(&mut broker.connect(), 1, 0), (0, vec![]));
    send_signal(&broker, "TERM");
    let (status, _) = wait_exit(&mut broker);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        parked.join().unwrap(),
        Some((0, vec![])),
        "the parked fetch is answered"
    );
    assert!(marker.exists());
    // kill -9 after a clean start: no marker is left behind.
    let broker = broker.restart();
    assert!(!marker.exists());
    let broker = broker.restart();
    assert!(!marker.exists(), "a killed broker leaves no marker");
    drop(broker);
}
