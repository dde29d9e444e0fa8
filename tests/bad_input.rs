//! Bad input over a real socket: every refused Produce, Fetch and CreateTopics gets its
//! Kafka error code, leaves the log files byte for byte as they were, and the connection
//! (and any other) keeps working; a request body cut short closes only its connection; a
//! torn batch left by a crash is cut off on restart. The log dir is prepared as the
//! challenge's tester prepares it, with the KRaft metadata log written byte by byte here;
//! requests are built by hand; only the broker's CRC-32C is borrowed to seal batches.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Bytes, CLIENT_ID, LOG_DIR_NAME, TempDir, TestBroker, assert_bytes, assert_closed, read_frame,
    request_frame, send_frame,
};
use kafka_broker::storage::crc32c::crc32c;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const API_VERSIONS: i16 = 18;
const CREATE_TOPICS: i16 = 19;

const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUIRED_ACKS: i16 = 21;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// A timestamp for hand-built batches (2023-11-14).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;
/// The topic every test writes to, with one batch already on disk.
const TOPIC: &str = "victim";
const TOPIC_ID: [u8; 16] = [
    0x3d, 0x1a, 0x77, 0x02, 0x5e, 0x40, 0x4c, 0x0b, 0x91, 0x6e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
];
const DIRECTORY_ID: [u8; 16] = [
    0x8f, 0x3c, 0x5a, 0x11, 0x2b, 0x4d, 0x4e, 0x6f, 0x9a, 0x10, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
];

// ---- Bytes built by hand ----

/// A record batch v2 (magic 2, uncompressed) of null-key records with `values`, each with
/// no headers, sealed with a valid CRC-32C.
fn record_batch(base_offset: i64, values: &[&[u8]]) -> Vec<u8> {
    let count = i32::try_from(values.len()).expect("record count");
    let mut b = Bytes::new();
    b.i64(base_offset).i32(0).i32(0).i8(2).i32(0).i16(0);
    b.i32(count - 1).i64(TIMESTAMP_MS).i64(TIMESTAMP_MS);
    b.i64(-1).i16(-1).i32(-1).i32(count);
    for (delta, value) in values.iter().enumerate() {
        let mut r = Bytes::new();
        r.i8(0).varint(0).varint(delta as i64).varint(-1);
        r.varint(value.len() as i64).raw(value).varint(0);
        let body = r.take();
        b.varint(body.len() as i64).raw(&body);
    }
    let mut bytes = b.take();
    seal_batch(&mut bytes);
    bytes
}

/// Rewrites batchLength and the CRC after a change.
fn seal_batch(bytes: &mut [u8]) {
    let length = i32::try_from(bytes.len() - 12).expect("batch length");
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn at_offset(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut out = batch.to_vec();
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    out
}

/// URL-safe base64 without padding, as Kafka prints a Uuid.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ---- The log dir, as the tester writes it ----

/// meta.properties; a metadata log holding a FeatureLevelRecord, then `TOPIC` (one
/// partition, PartitionRecord v1); `TOPIC-0` holding `on_disk`.
fn prepare_log_dir(log_dir: &Path, on_disk: &[Vec<u8>]) {
    std::fs::create_dir_all(log_dir).unwrap();
    let meta = format!(
        "#\n#Written by the test\ncluster.id=WnTQbfNfRHK0Zv-0gUjLFQ\ndirectory.id={}\nnode.id=1\nversion=1\n",
        base64url(&DIRECTORY_ID)
    );
    std::fs::write(log_dir.join("meta.properties"), meta).unwrap();
    let mut feature = Bytes::new();
    feature.uvarint(1).uvarint(12).uvarint(0); // frame 1, FeatureLevelRecord v0
    feature.compact_str("metadata.version").i16(20).tags();
    let mut topic = Bytes::new();
    topic.uvarint(1).uvarint(2).uvarint(0); // frame 1, TopicRecord v0
    topic.compact_str(TOPIC).raw(&TOPIC_ID).tags();
    let mut partition = Bytes::new();
    partition.uvarint(1).uvarint(3).uvarint(1); // frame 1, PartitionRecord v1
    partition.i32(0).raw(&TOPIC_ID);
    partition.compact_len(1).i32(1).compact_len(1).i32(1); // replicas [1], isr [1]
    partition.compact_len(0).compact_len(0); // removing [], adding []
    partition.i32(1).i32(0).i32(0); // leader 1, leader_epoch 0, partition_epoch 0
    partition.compact_len(1).raw(&DIRECTORY_ID).tags(); // directories
    let metadata = [
        record_batch(0, &[&feature.take()]),
        record_batch(1, &[&topic.take(), &partition.take()]),
    ]
    .concat();
    let metadata_dir = log_dir.join("__cluster_metadata-0");
    std::fs::create_dir_all(&metadata_dir).unwrap();
    std::fs::write(metadata_dir.join("00000000000000000000.log"), metadata).unwrap();
    let dir = log_dir.join(format!("{TOPIC}-0"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("00000000000000000000.log"), on_disk.concat()).unwrap();
    let text = format!("version: 0\ntopic_id: {}\n", base64url(&TOPIC_ID));
    std::fs::write(dir.join("partition.metadata"), text).unwrap();
}

/// The batch already on disk at offset 0 in every test.
fn first_batch() -> Vec<u8> {
    record_batch(0, &[b"already here"])
}

fn broker_with(extra: &str) -> TestBroker {
    let dir = TempDir::new("bad-input");
    prepare_log_dir(&dir.path().join(LOG_DIR_NAME), &[first_batch()]);
    TestBroker::start_in(dir, extra)
}

fn segment_path(broker: &TestBroker) -> std::path::PathBuf {
    broker
        .log_dir
        .join(format!("{TOPIC}-0"))
        .join("00000000000000000000.log")
}

fn segment(broker: &TestBroker) -> Vec<u8> {
    std::fs::read(segment_path(broker)).expect("read the segment")
}

fn metadata_log(broker: &TestBroker) -> Vec<u8> {
    let path = broker
        .log_dir
        .join("__cluster_metadata-0")
        .join("00000000000000000000.log");
    std::fs::read(path).expect("read the metadata log")
}

// ---- Requests and responses ----

fn round_trip(
    stream: &mut TcpStream,
    api_key: i16,
    version: i16,
    correlation_id: i32,
    body: &[u8],
) -> Vec<u8> {
    send_frame(
        stream,
        api_key,
        version,
        correlation_id,
        Some(CLIENT_ID),
        body,
        true,
    );
    read_frame(stream)
}

/// A cursor over a response.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.0.len() >= n, "response ends early");
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }

    fn uvarint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("uvarint too long");
    }

    /// A COMPACT_ARRAY / COMPACT_BYTES length; `None` for null.
    fn compact_len(&mut self) -> Option<usize> {
        self.uvarint().checked_sub(1).map(|n| n as usize)
    }

    fn compact_str(&mut self) -> Option<String> {
        let n = self.compact_len()?;
        Some(String::from_utf8(self.take(n).to_vec()).expect("utf-8"))
    }

    /// Skips a tagged-field section.
    fn skip_tags(&mut self) {
        for _ in 0..self.uvarint() {
            let _tag = self.uvarint();
            let size = self.uvarint() as usize;
            self.take(size);
        }
    }

    /// Response header v1.
    fn header_v1(&mut self, correlation_id: i32) {
        assert_eq!(self.i32(), correlation_id, "correlation id");
        assert_eq!(self.uvarint(), 0, "response header tags");
    }

    #[track_caller]
    fn end(&self) {
        assert!(self.0.is_empty(), "{} bytes after the body", self.0.len());
    }
}

/// ApiVersions v4 on `stream` is answered, with error 0.
#[track_caller]
fn assert_answers(stream: &mut TcpStream, correlation_id: i32) {
    let mut body = Bytes::new();
    body.compact_str("kafka-tester").compact_str("0.1").tags();
    let payload = round_trip(stream, API_VERSIONS, 4, correlation_id, &body.take());
    let mut c = Cursor(&payload);
    assert_eq!(c.i32(), correlation_id, "ApiVersions correlation id");
    assert_eq!(c.i16(), 0, "ApiVersions error_code");
}

/// The broker still runs, `stream` still answers, and so does a new connection.
#[track_caller]
fn assert_still_serving(broker: &mut TestBroker, stream: &mut TcpStream) {
    broker.assert_running();
    assert_answers(stream, 0x0a11_7e00);
    assert_answers(&mut broker.connect(), 0x0a11_7e01);
}

/// A Produce v11 body: transactional_id null, `acks`, timeout 30000, one partition.
fn produce_body(acks: i16, partition: i32, batch: &[u8]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.uvarint(0).i16(acks).i32(30_000);
    b.compact_len(1).compact_str(TOPIC).compact_len(1);
    b.i32(partition).compact_len(batch.len()).raw(batch).tags();
    b.tags().tags();
    b.take()
}

/// Reads a Produce v11 response to a one-partition request: returns (error, base_offset,
/// log_append_time, log_start_offset) after checking the rest of the layout.
fn produce_result(payload: &[u8], correlation_id: i32, partition: i32) -> (i16, i64, i64, i64) {
    let mut c = Cursor(payload);
    c.header_v1(correlation_id);
    assert_eq!(c.compact_len(), Some(1), "responses");
    assert_eq!(c.compact_str().as_deref(), Some(TOPIC));
    assert_eq!(c.compact_len(), Some(1), "partition_responses");
    assert_eq!(c.i32(), partition, "index");
    let result = (c.i16(), c.i64(), c.i64(), c.i64());
    for _ in 0..c.compact_len().expect("record_errors is not null") {
        c.i32();
        c.compact_str();
        c.skip_tags();
    }
    let _error_message = c.compact_str();
    c.skip_tags();
    c.skip_tags();
    assert_eq!(c.i32(), 0, "throttle_time_ms");
    c.skip_tags();
    c.end();
    result
}

/// Sends a Produce v11 that must be refused with `code`; checks the log is untouched and
/// both this connection and a new one keep working, then that a valid produce still
/// appends at offset 1.
#[track_caller]
fn assert_produce_refused(extra: &str, acks: i16, partition: i32, batch: &[u8], code: i16) {
    assert_produce_refused_with_start(extra, acks, partition, batch, code, -1);
}

/// As [`assert_produce_refused`], answered with this log start offset: Kafka gives the
/// partition's with the errors its LogValidator raises, -1 with the request's own checks.
fn assert_produce_refused_with_start(
    extra: &str,
    acks: i16,
    partition: i32,
    batch: &[u8],
    code: i16,
    log_start_offset: i64,
) {
    let mut broker = broker_with(extra);
    let before = segment(&broker);
    assert_bytes(&before, &first_batch());
    let mut stream = broker.connect();
    let payload = round_trip(
        &mut stream,
        PRODUCE,
        11,
        0x0bad,
        &produce_body(acks, partition, batch),
    );
    assert_eq!(
        produce_result(&payload, 0x0bad, partition),
        (code, -1, -1, log_start_offset),
        "(error, base_offset, log_append_time, log_start_offset)"
    );
    assert_bytes(&segment(&broker), &before);
    assert_still_serving(&mut broker, &mut stream);
    let good = record_batch(0, &[b"still fine"]);
    let payload = round_trip(
        &mut stream,
        PRODUCE,
        11,
        0x600d,
        &produce_body(-1, 0, &good),
    );
    assert_eq!(produce_result(&payload, 0x600d, 0), (0, 1, -1, 0));
    assert_bytes(&segment(&broker), &[before, at_offset(&good, 1)].concat());
}

#[test]
fn produce_corrupt_crc_is_corrupt_message() {
    let mut batch = record_batch(0, &[b"flipped"]);
    let last = batch.len() - 1;
    batch[last] ^= 0x40; // a value byte, inside the CRC's range
    assert_produce_refused("", -1, 0, &batch, CORRUPT_MESSAGE);
    let mut batch = record_batch(0, &[b"flipped"]);
    batch[20] ^= 0x01; // the CRC itself
    assert_produce_refused("", -1, 0, &batch, CORRUPT_MESSAGE);
}

#[test]
fn produce_truncated_batch_is_corrupt_message() {
    let batch = record_batch(0, &[b"cut short", b"and shorter"]);
    // Shorter than its batchLength says, then shorter than a batch header.
    assert_produce_refused("", -1, 0, &batch[..batch.len() - 7], CORRUPT_MESSAGE);
    assert_produce_refused("", -1, 0, &batch[..40], CORRUPT_MESSAGE);
}

#[test]
fn produce_magic_1_is_invalid_record() {
    let mut batch = record_batch(0, &[b"old format"]);
    batch[16] = 1; // magic lies outside the CRC
    assert_produce_refused("", -1, 0, &batch, INVALID_RECORD);
}

#[test]
fn produce_record_count_mismatch_is_invalid_record() {
    let mut batch = record_batch(0, &[b"one", b"two"]);
    batch[23..27].copy_from_slice(&4i32.to_be_bytes()); // lastOffsetDelta 4, 2 records
    seal_batch(&mut batch);
    // LogValidator's "Inconsistent batch offset range": the partition's log start offset.
    assert_produce_refused_with_start("", -1, 0, &batch, INVALID_RECORD, 0);
}

#[test]
fn produce_over_message_max_bytes_is_message_too_large() {
    let big = vec![b'x'; 1100];
    let batch = record_batch(0, &[&big]);
    assert!(batch.len() > 1000);
    assert_produce_refused("message.max.bytes=1000", -1, 0, &batch, MESSAGE_TOO_LARGE);
}

#[test]
fn produce_acks_5_is_invalid_required_acks() {
    let batch = record_batch(0, &[b"acks?"]);
    assert_produce_refused("", 5, 0, &batch, INVALID_REQUIRED_ACKS);
}

#[test]
fn produce_to_partition_999_is_unknown_topic_or_partition() {
    let batch = record_batch(0, &[b"nowhere"]);
    assert_produce_refused("", -1, 999, &batch, UNKNOWN_TOPIC_OR_PARTITION);
    assert_produce_refused("", -1, -1, &batch, UNKNOWN_TOPIC_OR_PARTITION);
}

/// A Fetch v16 body (max_wait 500 ms, min_bytes 1) for one partition of `topic_id`.
fn fetch_body(topic_id: &[u8; 16], fetch_offset: i64) -> Vec<u8> {
    let mut b = Bytes::new();
    b.i32(500).i32(1).i32(52_428_800).i8(0).i32(0).i32(-1);
    b.compact_len(1).raw(topic_id).compact_len(1);
    b.i32(0)
        .i32(-1)
        .i64(fetch_offset)
        .i32(-1)
        .i64(-1)
        .i32(1_048_576)
        .tags();
    b.tags();
    b.compact_len(0).compact_str("").tags();
    b.take()
}

/// Reads a Fetch v16 response to a one-partition request: returns (error, high_watermark,
/// last_stable_offset, log_start_offset, records) after checking the rest of the layout.
fn fetch_result(
    payload: &[u8],
    correlation_id: i32,
    topic_id: &[u8; 16],
) -> (i16, i64, i64, i64, Vec<u8>) {
    let mut c = Cursor(payload);
    c.header_v1(correlation_id);
    assert_eq!(
        (c.i32(), c.i16(), c.i32()),
        (0, 0, 0),
        "throttle, error, session"
    );
    assert_eq!(c.compact_len(), Some(1), "responses");
    assert_eq!(c.take(16), topic_id, "topic_id");
    assert_eq!(c.compact_len(), Some(1), "partitions");
    assert_eq!(c.i32(), 0, "partition_index");
    let (error, hw, lso, log_start) = (c.i16(), c.i64(), c.i64(), c.i64());
    if let Some(n) = c.compact_len() {
        for _ in 0..n {
            c.i64();
            c.i64();
            c.skip_tags();
        }
    }
    assert_eq!(c.i32(), -1, "preferred_read_replica");
    let n = c.compact_len().expect("records are never null");
    let records = c.take(n).to_vec();
    c.skip_tags();
    c.skip_tags();
    c.skip_tags();
    c.end();
    (error, hw, lso, log_start, records)
}

#[test]
fn fetch_unknown_topic_id_is_unknown_topic_id() {
    let mut broker = broker_with("");
    let before = segment(&broker);
    let mut stream = broker.connect();
    let mut unknown = TOPIC_ID;
    unknown[15] ^= 0xff;
    let payload = round_trip(&mut stream, FETCH, 16, 71, &fetch_body(&unknown, 0));
    assert_eq!(
        fetch_result(&payload, 71, &unknown),
        (UNKNOWN_TOPIC_ID, -1, -1, -1, Vec::new())
    );
    assert_bytes(&segment(&broker), &before);
    assert_still_serving(&mut broker, &mut stream);
}

#[test]
fn fetch_offset_beyond_the_end_is_offset_out_of_range() {
    let mut broker = broker_with("");
    let before = segment(&broker);
    let mut stream = broker.connect();
    for (correlation_id, offset) in [(72, 2), (73, 1_000_000), (74, -5)] {
        let started = Instant::now();
        let payload = round_trip(
            &mut stream,
            FETCH,
            16,
            correlation_id,
            &fetch_body(&TOPIC_ID, offset),
        );
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
        let (error, _hw, _lso, _log_start, records) =
            fetch_result(&payload, correlation_id, &TOPIC_ID);
        assert_eq!(error, OFFSET_OUT_OF_RANGE, "fetch at {offset}");
        assert!(records.is_empty(), "records at {offset}");
    }
    // The log end itself is in range: nothing yet, after the long poll.
    let payload = round_trip(&mut stream, FETCH, 16, 75, &fetch_body(&TOPIC_ID, 1));
    assert_eq!(
        fetch_result(&payload, 75, &TOPIC_ID),
        (0, 1, 1, 0, Vec::new())
    );
    assert_bytes(&segment(&broker), &before);
    assert_still_serving(&mut broker, &mut stream);
}

/// A CreateTopics v7 topic: name, partitions, replication factor, no assignments or configs.
fn creatable_topic(b: &mut Bytes, name: &str, partitions: i32, replication: i16) {
    b.compact_str(name).i32(partitions).i16(replication);
    b.compact_len(0).compact_len(0).tags();
}

#[test]
fn create_topics_v7_refusals() {
    let mut broker = broker_with("");
    let long_name = "x".repeat(250);
    let cases: [(&str, i32, i16, i16); 7] = [
        ("bad/name", 1, 1, INVALID_TOPIC_EXCEPTION),
        ("..", 1, 1, INVALID_TOPIC_EXCEPTION),
        (&long_name, 1, 1, INVALID_TOPIC_EXCEPTION),
        (TOPIC, 1, 1, TOPIC_ALREADY_EXISTS),
        ("three-replicas", 1, 3, INVALID_REPLICATION_FACTOR),
        ("no-partitions", 0, 1, INVALID_PARTITIONS),
        ("negative-partitions", -7, 1, INVALID_PARTITIONS),
    ];
    let metadata_before = metadata_log(&broker);
    let segment_before = segment(&broker);
    let entries_before = dir_entries(&broker.log_dir);
    let mut stream = broker.connect();
    let mut body = Bytes::new();
    body.compact_len(cases.len());
    for (name, partitions, replication, _) in &cases {
        creatable_topic(&mut body, name, *partitions, *replication);
    }
    body.i32(30_000).i8(0).tags(); // timeout_ms, validate_only false
    let payload = round_trip(&mut stream, CREATE_TOPICS, 7, 90, &body.take());
    let mut c = Cursor(&payload);
    c.header_v1(90);
    assert_eq!(c.i32(), 0, "throttle_time_ms");
    assert_eq!(c.compact_len(), Some(cases.len()), "topics");
    for (name, _, _, code) in &cases {
        assert_eq!(c.compact_str().as_deref(), Some(*name), "name");
        assert_eq!(c.take(16), [0; 16], "{name}: topic_id");
        assert_eq!(c.i16(), *code, "{name}: error_code");
        let _error_message = c.compact_str();
        assert_eq!(
            (c.i32(), c.i16()),
            (-1, -1),
            "{name}: partitions, replication"
        );
        let configs = c.compact_len();
        assert!(
            matches!(configs, None | Some(0)),
            "{name}: configs {configs:?}"
        );
        c.skip_tags();
    }
    c.skip_tags();
    c.end();
    assert_bytes(&metadata_log(&broker), &metadata_before);
    assert_bytes(&segment(&broker), &segment_before);
    assert_eq!(
        dir_entries(&broker.log_dir),
        entries_before,
        "log dir entries"
    );
    assert_still_serving(&mut broker, &mut stream);
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn truncated_produce_body_closes_only_its_connection() {
    let mut broker = broker_with("");
    let before = segment(&broker);
    let mut bystander = broker.connect();
    assert_answers(&mut bystander, 1);
    // Two topics announced; the frame ends inside the first one's partition data.
    let batch = record_batch(0, &[b"never stored"]);
    let mut body = Bytes::new();
    body.uvarint(0).i16(-1).i32(30_000);
    body.compact_len(2).compact_str(TOPIC).compact_len(1);
    body.i32(0).compact_len(batch.len()).raw(&batch[..30]);
    let frame = request_frame(PRODUCE, 11, 0x7777, Some(CLIENT_ID), &body.take(), true);
    let mut victim = broker.connect();
    victim
        .write_all(&frame)
        .expect("write the truncated request");
    assert_closed(&mut victim);
    assert_bytes(&segment(&broker), &before);
    broker.assert_running();
    assert_answers(&mut bystander, 2);
    assert_answers(&mut broker.connect(), 3);
}

#[test]
fn restart_cuts_a_torn_batch_and_serves_the_complete_ones() {
    let mut broker = broker_with("");
    let mut stream = broker.connect();
    let produced = [
        record_batch(0, &[b"a", b"b"]),
        record_batch(0, &[b"c"]),
        record_batch(0, &[b"d", b"e", b"f"]),
    ];
    let mut expected = first_batch();
    let mut next_offset = 1;
    for (i, batch) in produced.iter().enumerate() {
        let correlation_id = 200 + i as i32;
        let payload = round_trip(
            &mut stream,
            PRODUCE,
            11,
            correlation_id,
            &produce_body(-1, 0, batch),
        );
        assert_eq!(
            produce_result(&payload, correlation_id, 0),
            (0, next_offset, -1, 0)
        );
        expected.extend(at_offset(batch, next_offset));
        next_offset += i64::from(i32::from_be_bytes(batch[57..61].try_into().unwrap()));
    }
    assert_eq!(next_offset, 7);
    assert_bytes(&segment(&broker), &expected);
    drop(stream);
    broker.child.kill().expect("kill the broker");
    broker.child.wait().expect("reap the broker");
    // The first half of another batch, as a crash in the middle of a write leaves it.
    let torn = at_offset(&record_batch(0, &[b"torn in half", b"by the crash"]), 7);
    let mut file = OpenOptions::new()
        .append(true)
        .open(segment_path(&broker))
        .expect("open the segment");
    file.write_all(&torn[..torn.len() / 2])
        .expect("append the torn batch");
    drop(file);
    let mut broker = broker.restart();
    assert_bytes(&segment(&broker), &expected);
    let mut stream = broker.connect();
    let payload = round_trip(&mut stream, FETCH, 16, 300, &fetch_body(&TOPIC_ID, 0));
    assert_eq!(
        fetch_result(&payload, 300, &TOPIC_ID),
        (0, 7, 7, 0, expected.clone())
    );
    // The next produce continues right after the complete batches.
    let after = record_batch(0, &[b"after the crash"]);
    let payload = round_trip(&mut stream, PRODUCE, 11, 301, &produce_body(-1, 0, &after));
    assert_eq!(produce_result(&payload, 301, 0), (0, 7, -1, 0));
    expected.extend(at_offset(&after, 7));
    assert_bytes(&segment(&broker), &expected);
    assert_still_serving(&mut broker, &mut stream);
}
