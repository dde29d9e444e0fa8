//! Large fetch slices go to a plain TCP client by `sendfile` (issue 13, item 2): the bytes
//! a client reads are still exactly the segment's, in request order, whether a slice ends
//! a response (Fetch v4: the records are its last field) or is followed by more of it
//! (v12), whether it ends in a partial batch, and whether the socket takes a response in
//! one go or the client reads slowly and the rest follows writability.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{
    CLIENT_ID, Conn, TestBroker, body_of, create_topic, decoded, read_frame, request_frame,
    response_body,
};
use kafka_broker::apis::Api;
use kafka_broker::apis::api_versions::ApiVersions;
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::produce::Produce;
use kafka_broker::protocol::wire::{Records, decode};
use kafka_broker::storage::batch::{self, BatchHeader};

const NONE: i16 = 0;
const TOPIC: &str = "big";

fn frame<A: Api>(version: i16, correlation_id: i32, request: &A::Request<'_>) -> Vec<u8> {
    request_frame(
        A::SPEC.key,
        version,
        correlation_id,
        Some(CLIENT_ID),
        &body_of(request, A::SPEC.ver(version)),
        A::SPEC.request_header_flexible(version),
    )
}

/// Produces `batches` batches of three `record_bytes`-byte records to `partition`.
fn fill(conn: &mut Conn, partition: i32, batches: usize, record_bytes: usize) {
    for b in 0..batches {
        let values: Vec<Vec<u8>> = (0..3)
            .map(|i| vec![b'a' + ((b * 3 + i) % 26) as u8; record_bytes])
            .collect();
        let batch = batch::build(0, 0, 1_700_000_000_000, &values);
        let request = common::produce_request(TOPIC, partition, &batch);
        let body = conn.send::<Produce>(11, &request);
        let response = decoded::<Produce>(&body, 11);
        let p = &response.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (NONE, 3 * b as i64));
    }
}

/// The partition's segment file as the broker wrote it.
fn segment(broker: &TestBroker, partition: i32) -> Vec<u8> {
    let path = broker
        .log_dir
        .join(format!("{TOPIC}-{partition}"))
        .join("00000000000000000000.log");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the batch holding `offset` starts in a segment's bytes.
fn position_of(segment: &[u8], offset: i64) -> usize {
    let mut at = 0;
    while let Some(h) = segment.get(at..).and_then(BatchHeader::parse) {
        if h.last_offset() >= offset {
            return at;
        }
        at += h.size();
    }
    panic!("offset {offset} is not in the segment");
}

/// A fetch of `(partition, fetch_offset, partition_max_bytes)` from TOPIC.
fn fetch_request(partitions: &[(i32, i64, i32)]) -> fetch::Request<'static> {
    fetch::Request {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 64 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic: TOPIC,
            topic_id: [0; 16],
            partitions: partitions
                .iter()
                .map(
                    |&(partition, fetch_offset, partition_max_bytes)| fetch::FetchPartition {
                        partition,
                        current_leader_epoch: -1,
                        fetch_offset,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes,
                        ..fetch::FetchPartition::default()
                    },
                )
                .collect(),
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..fetch::Request::default()
    }
}

/// Each partition's (index, error code, records bytes) in a Fetch response body.
fn served(body: &[u8], version: i16) -> Vec<(i32, i16, Vec<u8>)> {
    let response: fetch::Response = decode(body, Fetch::SPEC.ver(version)).unwrap();
    assert_eq!(response.error_code, NONE);
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let records = match &p.records {
                Some(Records::Bytes(bytes)) => bytes.to_vec(),
                other => panic!("records {other:?}"),
            };
            (p.partition_index, p.error_code, records)
        })
        .collect()
}

#[test]
fn large_slices_are_served_byte_for_byte_and_in_order_between_other_responses() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 2, &[]);
    // Batches of about 30 KiB: 240 KiB on partition 0, 90 KiB on partition 1.
    fill(&mut conn, 0, 8, 10_000);
    fill(&mut conn, 1, 3, 10_000);
    let mut stream = conn.stream;
    let (p0, p1) = (segment(&broker, 0), segment(&broker, 1));
    let third = position_of(&p0, 6);
    // Three requests in one write: v4 (the records end the response), ApiVersions, and v12
    // (tagged fields follow each partition's records) cut at 100,000 bytes, mid-batch.
    let whole = fetch_request(&[(0, 0, 1 << 20), (1, 0, 1 << 20)]);
    let cut = fetch_request(&[(0, 6, 100_000), (1, 0, 1 << 20)]);
    let mut frames = frame::<Fetch>(4, 1, &whole);
    frames.extend(frame::<ApiVersions>(
        3,
        2,
        &kafka_broker::apis::api_versions::Request {
            client_software_name: "test",
            client_software_version: "1",
        },
    ));
    frames.extend(frame::<Fetch>(12, 3, &cut));
    stream.write_all(&frames).unwrap();

    let first = read_frame(&mut stream);
    let body = response_body(&first, 1, false);
    assert_eq!(
        served(body, 4),
        vec![(0, NONE, p0.clone()), (1, NONE, p1.clone())],
        "v4: both partitions' whole segments"
    );
    let second = read_frame(&mut stream);
    let versions: kafka_broker::apis::api_versions::Response =
        decode(response_body(&second, 2, false), ApiVersions::SPEC.ver(3)).unwrap();
    assert_eq!(versions.error_code, NONE);
    let third_frame = read_frame(&mut stream);
    let body = response_body(&third_frame, 3, true);
    assert_eq!(
        served(body, 12),
        vec![
            (0, NONE, p0[third..third + 100_000].to_vec()),
            (1, NONE, p1.clone())
        ],
        "v12: partition 0 from offset 6, 100,000 bytes ending in part of a batch"
    );
}

#[test]
fn a_slow_reader_gets_every_byte_of_responses_larger_than_the_socket_takes() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1, &[]);
    // About 6 MiB in batches of 300 KB: four pipelined fetches of all of it are far more
    // than the socket buffers hold, so sends stop part-way and resume when writable.
    fill(&mut conn, 0, 20, 100_000);
    let mut stream = conn.stream;
    let p0 = segment(&broker, 0);
    let request = fetch_request(&[(0, 0, 64 << 20)]);
    let mut frames = Vec::new();
    for correlation_id in 1..=4 {
        frames.extend(frame::<Fetch>(12, correlation_id, &request));
    }
    stream.write_all(&frames).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for correlation_id in 1..=4 {
        let payload = read_frame(&mut stream);
        let body = response_body(&payload, correlation_id, true);
        let answer = served(body, 12);
        assert_eq!(answer.len(), 1);
        let (partition, code, records) = &answer[0];
        assert_eq!((*partition, *code, records.len()), (0, NONE, p0.len()));
        assert!(
            *records == p0,
            "response {correlation_id}: the segment's bytes"
        );
    }
}
