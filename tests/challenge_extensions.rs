//! The challenge's extension stages over a real socket: Listing partitions
//! (DescribeTopicPartitions v0), Consuming messages (Fetch v16) and Producing messages
//! (Produce v11). Each test prepares the log dir exactly as the challenge's tester does
//! (meta.properties, a KRaft metadata log written byte by byte here, partition logs), sends
//! requests built by hand with header v2 and client id `kafka-tester`, and compares the
//! whole response with bytes built by hand from the schemas. Nothing here uses the
//! broker's encoders; only its CRC-32C function is borrowed to seal hand-built batches.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Bytes, CLIENT_ID, LOG_DIR_NAME, TempDir, TestBroker, assert_bytes, assert_quiet, hex,
    hex_string, read_frame, send_frame,
};
use kafka_broker::storage::crc32c::crc32c;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const API_VERSIONS: i16 = 18;
const DESCRIBE_TOPIC_PARTITIONS: i16 = 75;

/// How long the tester waits for more bytes before it takes a response as complete.
const TESTER_IDLE: Duration = Duration::from_millis(150);
/// topic_authorized_operations as Kafka reports it without an authorizer: READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const TOPIC_OPERATIONS_ALL: &str = "00000df8";
/// The metadata.version level in the tester's FeatureLevelRecord (any value will do).
const METADATA_VERSION_LEVEL: i16 = 20;
/// A timestamp for hand-built batches (2023-11-14).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

// ---- Bytes built by hand ----

/// One record of a hand-built batch.
struct Record<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    /// `None` writes a header count of -1 (varint 0x01), as some of the tester's files do.
    headers: Option<&'a [(&'a str, &'a [u8])]>,
}

fn value_record(value: &[u8]) -> Record<'_> {
    Record {
        key: None,
        value: Some(value),
        headers: Some(&[]),
    }
}

/// A record batch v2 (magic 2, uncompressed, no producer id) with a valid CRC-32C.
fn record_batch(base_offset: i64, leader_epoch: i32, records: &[Record]) -> Vec<u8> {
    let count = i32::try_from(records.len()).expect("record count");
    let mut b = Bytes::new();
    b.i64(base_offset)
        .i32(0) // batchLength, patched below
        .i32(leader_epoch)
        .i8(2) // magic
        .i32(0) // crc, patched below
        .i16(0) // attributes
        .i32(count - 1) // lastOffsetDelta
        .i64(TIMESTAMP_MS) // baseTimestamp
        .i64(TIMESTAMP_MS + i64::from(count - 1)) // maxTimestamp
        .i64(-1) // producerId
        .i16(-1) // producerEpoch
        .i32(-1) // baseSequence
        .i32(count);
    for (delta, record) in records.iter().enumerate() {
        let mut r = Bytes::new();
        r.i8(0).varint(delta as i64).varint(delta as i64);
        match record.key {
            Some(key) => r.varint(key.len() as i64).raw(key),
            None => r.varint(-1),
        };
        match record.value {
            Some(value) => r.varint(value.len() as i64).raw(value),
            None => r.varint(-1),
        };
        match record.headers {
            None => {
                r.varint(-1);
            }
            Some(headers) => {
                r.varint(headers.len() as i64);
                for (key, value) in headers {
                    r.varint(key.len() as i64).raw(key.as_bytes());
                    r.varint(value.len() as i64).raw(value);
                }
            }
        }
        let body = r.take();
        b.varint(body.len() as i64).raw(&body);
    }
    let mut bytes = b.take();
    seal_batch(&mut bytes);
    bytes
}

/// Rewrites batchLength and the CRC of a whole batch after a change.
fn seal_batch(bytes: &mut [u8]) {
    let length = i32::try_from(bytes.len() - 12).expect("batch length");
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// The same batch as stored at `base_offset` (a field outside the CRC).
fn at_offset(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut out = batch.to_vec();
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    out
}

/// Splits back-to-back batches and checks each one's CRC-32C; returns their CRCs.
#[track_caller]
fn check_batch_crcs(mut bytes: &[u8]) -> Vec<u32> {
    let mut crcs = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 61, "a partial batch: {}", hex_string(bytes));
        let length = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
        let size = 12 + usize::try_from(length).expect("batch length");
        assert!(bytes.len() >= size, "a batch cut short");
        assert_eq!(bytes[16], 2, "magic");
        let stored = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(crc32c(&bytes[21..size]), stored, "CRC-32C of a batch");
        crcs.push(stored);
        bytes = &bytes[size..];
    }
    crcs
}

// ---- The log dir, as the tester writes it ----

/// A topic the tester writes into the KRaft metadata log.
struct TopicFixture {
    name: &'static str,
    id: [u8; 16],
    /// Per partition, the batches pre-written to `<topic>-<p>/00000000000000000000.log`.
    partitions: Vec<Vec<Vec<u8>>>,
    /// Whether the partition directories exist at all (the Produce stages know topics only
    /// from the metadata log).
    write_partition_dirs: bool,
}

const DIRECTORY_ID: [u8; 16] = [
    0x8f, 0x3c, 0x5a, 0x11, 0x2b, 0x4d, 0x4e, 0x6f, 0x9a, 0x10, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
];

/// A topic id: version 4, variant 1, ending in `n`.
fn topic_id(n: u8) -> [u8; 16] {
    [
        0x71, 0x5e, 0x0a, 0x2c, 0x9d, 0x13, 0x4b, 0x21, 0x8c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, n,
    ]
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

/// FeatureLevelRecord (api key 12) v0: name, level.
fn feature_level_record(name: &str, level: i16) -> Vec<u8> {
    let mut b = Bytes::new();
    b.uvarint(1)
        .uvarint(12)
        .uvarint(0)
        .compact_str(name)
        .i16(level)
        .tags();
    b.take()
}

/// TopicRecord (api key 2) v0: name, topic_id.
fn topic_record(name: &str, id: &[u8; 16]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.uvarint(1)
        .uvarint(2)
        .uvarint(0)
        .compact_str(name)
        .raw(id)
        .tags();
    b.take()
}

/// PartitionRecord (api key 3) v1 of a single-replica partition led by node 1.
fn partition_record(partition_id: i32, id: &[u8; 16]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.uvarint(1).uvarint(3).uvarint(1);
    b.i32(partition_id).raw(id);
    b.compact_len(1).i32(1); // replicas [1]
    b.compact_len(1).i32(1); // isr [1]
    b.compact_len(0); // removing_replicas []
    b.compact_len(0); // adding_replicas []
    b.i32(1); // leader
    b.i32(0); // leader_epoch
    b.i32(0); // partition_epoch
    b.compact_len(1).raw(&DIRECTORY_ID); // directories
    b.tags();
    b.take()
}

/// Writes `log_dir` as the tester does: meta.properties always; with `topics`, the metadata
/// log (a FeatureLevelRecord batch, then one batch per topic) and the partition logs.
fn prepare_log_dir(log_dir: &Path, topics: Option<&[TopicFixture]>) {
    std::fs::create_dir_all(log_dir).unwrap();
    let meta = format!(
        "#\n#Written by the test\ncluster.id=WnTQbfNfRHK0Zv-0gUjLFQ\ndirectory.id={}\nnode.id=1\nversion=1\n",
        base64url(&DIRECTORY_ID)
    );
    std::fs::write(log_dir.join("meta.properties"), meta).unwrap();
    let Some(topics) = topics else { return };
    let mut metadata = Vec::new();
    let feature = feature_level_record("metadata.version", METADATA_VERSION_LEVEL);
    metadata.extend(record_batch(0, 1, &[value_record(&feature)]));
    let mut next_offset = 1;
    for topic in topics {
        let mut values = vec![topic_record(topic.name, &topic.id)];
        for p in 0..topic.partitions.len() {
            values.push(partition_record(p as i32, &topic.id));
        }
        let records: Vec<Record> = values.iter().map(|v| value_record(v)).collect();
        metadata.extend(record_batch(next_offset, 1, &records));
        next_offset += values.len() as i64;
    }
    let metadata_dir = log_dir.join("__cluster_metadata-0");
    std::fs::create_dir_all(&metadata_dir).unwrap();
    std::fs::write(metadata_dir.join("00000000000000000000.log"), metadata).unwrap();
    for topic in topics.iter().filter(|t| t.write_partition_dirs) {
        for (p, batches) in topic.partitions.iter().enumerate() {
            let dir = log_dir.join(format!("{}-{p}", topic.name));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("00000000000000000000.log"), batches.concat()).unwrap();
            let text = format!("version: 0\ntopic_id: {}\n", base64url(&topic.id));
            std::fs::write(dir.join("partition.metadata"), text).unwrap();
        }
    }
}

/// A broker started on a log dir prepared as the tester prepares it.
fn broker_with(topics: Option<&[TopicFixture]>) -> TestBroker {
    let dir = TempDir::new("ext");
    prepare_log_dir(&dir.path().join(LOG_DIR_NAME), topics);
    TestBroker::start_in(dir, "")
}

fn segment(broker: &TestBroker, topic: &str, partition: i32) -> Vec<u8> {
    let path = broker
        .log_dir
        .join(format!("{topic}-{partition}"))
        .join("00000000000000000000.log");
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---- Requests and responses ----

/// Sends one request with header v2 and client id `kafka-tester`; returns the response
/// payload (correlation id onwards).
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

/// Like [`round_trip`], then checks nothing more arrives (the tester reads until the
/// connection is idle, so an extra byte would fail it) and compares the whole payload.
#[track_caller]
fn expect_exact(
    stream: &mut TcpStream,
    api_key: i16,
    version: i16,
    correlation_id: i32,
    body: &[u8],
    expected: &[u8],
) {
    let payload = round_trip(stream, api_key, version, correlation_id, body);
    assert_bytes(&payload, expected);
    assert_quiet(stream, TESTER_IDLE);
}

/// Response header v1: correlation id and an empty tagged-field section.
fn header_v1(correlation_id: i32) -> Bytes {
    let mut b = Bytes::new();
    b.i32(correlation_id).tags();
    b
}

/// A cursor over a response, for the ApiVersions checks that do not pin every entry.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
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
}

/// ApiVersions v4 on `stream`: checks the v0 response header, error 0, and the whole body's
/// layout; returns the entries as (key, min, max).
fn api_versions(stream: &mut TcpStream, correlation_id: i32) -> Vec<(i16, i16, i16)> {
    // client_software_name `kafka-tester`, client_software_version `0.1`, no tags.
    let mut body = Bytes::new();
    body.compact_str("kafka-tester").compact_str("0.1").tags();
    let payload = round_trip(stream, API_VERSIONS, 4, correlation_id, &body.take());
    assert_quiet(stream, TESTER_IDLE);
    let mut c = Cursor(&payload);
    assert_eq!(c.i32(), correlation_id, "correlation id (header v0)");
    assert_eq!(c.i16(), 0, "error_code");
    let n = c.uvarint().checked_sub(1).expect("api_keys is not null");
    let entries: Vec<(i16, i16, i16)> = (0..n)
        .map(|_| {
            let entry = (c.i16(), c.i16(), c.i16());
            assert_eq!(c.uvarint(), 0, "api_keys entry tags");
            entry
        })
        .collect();
    assert_eq!(c.i32(), 0, "throttle_time_ms");
    // The feature tags: supported (0), the finalized epoch (1), finalized (2).
    let tags: Vec<u64> = (0..c.uvarint())
        .map(|_| {
            let tag = c.uvarint();
            let size = c.uvarint() as usize;
            c.take(size);
            tag
        })
        .collect();
    assert_eq!(tags, [0, 1, 2], "body tags");
    assert!(c.0.is_empty(), "{} bytes after the body", c.0.len());
    entries
}

#[track_caller]
fn entry(entries: &[(i16, i16, i16)], key: i16) -> (i16, i16) {
    let found = entries.iter().find(|e| e.0 == key);
    let (_, min, max) = found.unwrap_or_else(|| panic!("api key {key} missing from {entries:?}"));
    (*min, *max)
}

// ---- DescribeTopicPartitions v0 ----

fn describe_body(names: &[&str]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.compact_len(names.len());
    for name in names {
        b.compact_str(name).tags();
    }
    b.i32(2000).i8(-1).tags(); // response_partition_limit, null cursor
    b.take()
}

/// A topic entry of a DescribeTopicPartitions v0 response.
fn described_topic(b: &mut Bytes, error: i16, name: &str, id: &[u8; 16], partitions: i32) {
    b.i16(error).compact_str(name).raw(id).i8(0); // is_internal false
    b.compact_len(partitions as usize);
    for p in 0..partitions {
        b.i16(0).i32(p).i32(1).i32(0); // error, index, leader 1, leader_epoch 0
        b.compact_len(1).i32(1); // replica_nodes [1]
        b.compact_len(1).i32(1); // isr_nodes [1]
        b.compact_len(0); // eligible_leader_replicas []
        b.compact_len(0); // last_known_elr []
        b.compact_len(0); // offline_replicas []
        b.tags();
    }
    b.raw(&hex(TOPIC_OPERATIONS_ALL)).tags();
}

#[test]
fn listing_partitions_api_versions_lists_describe_topic_partitions() {
    let broker = broker_with(None);
    let mut stream = broker.connect();
    let entries = api_versions(&mut stream, 0x1a2b_3c4d);
    let (min, max) = entry(&entries, API_VERSIONS);
    assert!(
        (0..=4).contains(&min) && max >= 4,
        "ApiVersions {min}..{max}"
    );
    assert_eq!(
        entry(&entries, DESCRIBE_TOPIC_PARTITIONS).0,
        0,
        "key 75 min"
    );
}

#[test]
fn listing_partitions_unknown_topic() {
    let broker = broker_with(Some(&[]));
    let mut stream = broker.connect();
    let name = "UNKNOWN_TOPIC_4821";
    let mut expected = header_v1(0x0bad_cafe);
    expected.i32(0).compact_len(1); // throttle, one topic
    described_topic(&mut expected, 3, name, &[0; 16], 0);
    expected.i8(-1).tags(); // next_cursor null
    expect_exact(
        &mut stream,
        DESCRIBE_TOPIC_PARTITIONS,
        0,
        0x0bad_cafe,
        &describe_body(&[name]),
        &expected.take(),
    );
}

#[test]
fn listing_partitions_single_partition() {
    let topics = [TopicFixture {
        name: "pax",
        id: topic_id(1),
        partitions: vec![vec![]],
        write_partition_dirs: true,
    }];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let mut expected = header_v1(7);
    expected.i32(0).compact_len(1);
    described_topic(&mut expected, 0, "pax", &topic_id(1), 1);
    expected.i8(-1).tags();
    let expected = expected.take();
    // The UUID bytes really are the ones in the metadata log.
    assert_eq!(&expected[16..32], &topic_id(1));
    expect_exact(
        &mut stream,
        DESCRIBE_TOPIC_PARTITIONS,
        0,
        7,
        &describe_body(&["pax"]),
        &expected,
    );
}

#[test]
fn listing_partitions_multiple_partitions() {
    let topics = [
        TopicFixture {
            name: "foo",
            id: topic_id(2),
            partitions: vec![vec![], vec![]],
            write_partition_dirs: true,
        },
        TopicFixture {
            name: "bar",
            id: topic_id(3),
            partitions: vec![vec![]],
            write_partition_dirs: true,
        },
    ];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let mut expected = header_v1(0x7fff_ffff);
    expected.i32(0).compact_len(1);
    described_topic(&mut expected, 0, "foo", &topic_id(2), 2);
    expected.i8(-1).tags();
    expect_exact(
        &mut stream,
        DESCRIBE_TOPIC_PARTITIONS,
        0,
        0x7fff_ffff,
        &describe_body(&["foo"]),
        &expected.take(),
    );
}

#[test]
fn listing_partitions_multiple_topics_sorted_by_name() {
    let topics = [
        TopicFixture {
            name: "qux",
            id: topic_id(4),
            partitions: vec![vec![]],
            write_partition_dirs: true,
        },
        TopicFixture {
            name: "baz",
            id: topic_id(5),
            partitions: vec![vec![], vec![]],
            write_partition_dirs: true,
        },
        TopicFixture {
            name: "paz",
            id: topic_id(6),
            partitions: vec![vec![]],
            write_partition_dirs: true,
        },
    ];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let mut expected = header_v1(99);
    expected.i32(0).compact_len(2);
    described_topic(&mut expected, 0, "baz", &topic_id(5), 2);
    described_topic(&mut expected, 0, "qux", &topic_id(4), 1);
    expected.i8(-1).tags();
    expect_exact(
        &mut stream,
        DESCRIBE_TOPIC_PARTITIONS,
        0,
        99,
        &describe_body(&["qux", "baz"]),
        &expected.take(),
    );
}

// ---- Fetch v16 ----

/// A Fetch v16 request as the tester sends it: max_wait 500 ms, min_bytes 1, each topic by
/// id with one partition at `fetch_offset`.
fn fetch_body(topics: &[([u8; 16], i32, i64)]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.i32(500).i32(1).i32(52_428_800).i8(0); // max_wait, min_bytes, max_bytes, isolation
    b.i32(0).i32(-1); // session_id, session_epoch
    b.compact_len(topics.len());
    for (id, partition, fetch_offset) in topics {
        b.raw(id).compact_len(1);
        b.i32(*partition).i32(-1).i64(*fetch_offset).i32(-1); // current/last epochs -1
        b.i64(-1).i32(1_048_576).tags(); // log_start_offset, partition_max_bytes
        b.tags();
    }
    b.compact_len(0).compact_str("").tags(); // forgotten topics, rack id
    b.take()
}

/// One partition of an expected Fetch v16 response.
struct FetchedPartition<'a> {
    index: i32,
    error: i16,
    high_watermark: i64,
    log_start_offset: i64,
    records: &'a [u8],
}

fn fetch_response(correlation_id: i32, topics: &[([u8; 16], FetchedPartition)]) -> Vec<u8> {
    let mut b = header_v1(correlation_id);
    b.i32(0).i16(0).i32(0); // throttle, error, session_id
    b.compact_len(topics.len());
    for (id, p) in topics {
        b.raw(id).compact_len(1);
        b.i32(p.index).i16(p.error);
        b.i64(p.high_watermark).i64(p.high_watermark); // last_stable_offset = high watermark
        b.i64(p.log_start_offset);
        b.compact_len(0); // aborted_transactions []
        b.i32(-1); // preferred_read_replica
        b.compact_len(p.records.len()).raw(p.records);
        b.tags();
        b.tags();
    }
    b.tags();
    b.take()
}

#[test]
fn consuming_api_versions_lists_fetch() {
    let broker = broker_with(None);
    let mut stream = broker.connect();
    let entries = api_versions(&mut stream, 1);
    let (min, max) = entry(&entries, FETCH);
    assert!((0..=16).contains(&min) && max >= 16, "Fetch {min}..{max}");
}

#[test]
fn fetch_v16_no_topics() {
    let broker = broker_with(None);
    let mut stream = broker.connect();
    let started = Instant::now();
    expect_exact(
        &mut stream,
        FETCH,
        16,
        0x3132_3334,
        &fetch_body(&[]),
        &fetch_response(0x3132_3334, &[]),
    );
    eprintln!("fetch with no topics answered in {:?}", started.elapsed());
}

#[test]
fn fetch_v16_unknown_topic_id() {
    let topics = [TopicFixture {
        name: "known",
        id: topic_id(7),
        partitions: vec![vec![]],
        write_partition_dirs: true,
    }];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    // Differs from the known id in its first and last bytes only.
    let mut unknown = topic_id(7);
    unknown[0] ^= 0x80;
    unknown[15] ^= 0x01;
    let missing = FetchedPartition {
        index: 0,
        error: 100,
        high_watermark: -1,
        log_start_offset: -1,
        records: &[],
    };
    let expected = fetch_response(5, &[(unknown, missing)]);
    expect_exact(
        &mut stream,
        FETCH,
        16,
        5,
        &fetch_body(&[(unknown, 0, 0)]),
        &expected,
    );
}

#[test]
fn fetch_v16_empty_topic_answers_after_the_long_poll() {
    let topics = [TopicFixture {
        name: "empty",
        id: topic_id(8),
        partitions: vec![vec![]],
        write_partition_dirs: true,
    }];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let nothing = FetchedPartition {
        index: 0,
        error: 0,
        high_watermark: 0,
        log_start_offset: 0,
        records: &[],
    };
    let started = Instant::now();
    let payload = round_trip(
        &mut stream,
        FETCH,
        16,
        6,
        &fetch_body(&[(topic_id(8), 0, 0)]),
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    assert_bytes(&payload, &fetch_response(6, &[(topic_id(8), nothing)]));
    assert_quiet(&mut stream, TESTER_IDLE);
}

#[test]
fn fetch_v16_one_message_on_disk() {
    let headers: &[(&str, &[u8])] = &[];
    let batch = record_batch(
        0,
        0,
        &[Record {
            key: None,
            value: Some(b"Hello World!"),
            headers: Some(headers),
        }],
    );
    let topics = [TopicFixture {
        name: "one",
        id: topic_id(9),
        partitions: vec![vec![batch.clone()]],
        write_partition_dirs: true,
    }];
    let broker = broker_with(Some(&topics));
    assert_bytes(&segment(&broker, "one", 0), &batch);
    let mut stream = broker.connect();
    let one = FetchedPartition {
        index: 0,
        error: 0,
        high_watermark: 1,
        log_start_offset: 0,
        records: &batch,
    };
    expect_exact(
        &mut stream,
        FETCH,
        16,
        8,
        &fetch_body(&[(topic_id(9), 0, 0)]),
        &fetch_response(8, &[(topic_id(9), one)]),
    );
}

#[test]
fn fetch_v16_several_messages_on_disk() {
    // Three single-record batches, two of them with a header count of -1.
    let batches = [
        record_batch(
            0,
            0,
            &[Record {
                key: None,
                value: Some(b"Hello Earth!"),
                headers: None,
            }],
        ),
        record_batch(1, 0, &[value_record(b"Hello Reverse World!")]),
        record_batch(
            2,
            0,
            &[Record {
                key: Some(b"k"),
                value: Some(b"Hello Universe!"),
                headers: None,
            }],
        ),
    ];
    let file = batches.concat();
    let topics = [TopicFixture {
        name: "several",
        id: topic_id(10),
        partitions: vec![batches.to_vec()],
        write_partition_dirs: true,
    }];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let payload = round_trip(
        &mut stream,
        FETCH,
        16,
        9,
        &fetch_body(&[(topic_id(10), 0, 0)]),
    );
    let all = FetchedPartition {
        index: 0,
        error: 0,
        high_watermark: 3,
        log_start_offset: 0,
        records: &file,
    };
    assert_bytes(&payload, &fetch_response(9, &[(topic_id(10), all)]));
    assert_quiet(&mut stream, TESTER_IDLE);
    // The records are the file's bytes, the last `file.len()` bytes before the two tag
    // sections closing the partition and the topic and the body's.
    let records = &payload[payload.len() - 3 - file.len()..payload.len() - 3];
    let expected_crcs: Vec<u32> = batches
        .iter()
        .map(|b| u32::from_be_bytes(b[17..21].try_into().unwrap()))
        .collect();
    assert_eq!(check_batch_crcs(records), expected_crcs);
    // The log is not touched by a read.
    assert_bytes(&segment(&broker, "several", 0), &file);
}

// ---- Produce v11 ----

/// One partition's data in a Produce request: its index and its record batch.
type PartitionBatch = (i32, Vec<u8>);

/// A Produce v11 request: transactional_id null, `acks`, timeout 30000 ms.
fn produce_body(acks: i16, topics: &[(&str, Vec<PartitionBatch>)]) -> Vec<u8> {
    let mut b = Bytes::new();
    b.uvarint(0).i16(acks).i32(30_000); // transactional_id null
    b.compact_len(topics.len());
    for (name, partitions) in topics {
        b.compact_str(name).compact_len(partitions.len());
        for (index, batch) in partitions {
            b.i32(*index).compact_len(batch.len()).raw(batch).tags();
        }
        b.tags();
    }
    b.tags();
    b.take()
}

/// One partition of an expected Produce v11 response: index, error, base_offset,
/// log_start_offset (log_append_time is always -1 under CreateTime).
type Produced = (i32, i16, i64, i64);

fn produce_response(correlation_id: i32, topics: &[(&str, Vec<Produced>)]) -> Vec<u8> {
    let mut b = header_v1(correlation_id);
    b.compact_len(topics.len());
    for (name, partitions) in topics {
        b.compact_str(name).compact_len(partitions.len());
        for &(index, error, base_offset, log_start_offset) in partitions {
            b.i32(index).i16(error).i64(base_offset);
            b.i64(-1).i64(log_start_offset); // log_append_time_ms, log_start_offset
            b.compact_len(0).uvarint(0); // record_errors [], error_message null
            b.tags();
        }
        b.tags();
    }
    b.i32(0).tags(); // throttle_time_ms
    b.take()
}

/// A topic known only from the metadata log, with `partitions` partitions.
fn produce_topic(name: &'static str, n: u8, partitions: usize, dirs: bool) -> TopicFixture {
    TopicFixture {
        name,
        id: topic_id(n),
        partitions: vec![vec![]; partitions],
        write_partition_dirs: dirs,
    }
}

#[test]
fn producing_api_versions_lists_produce() {
    let broker = broker_with(None);
    let mut stream = broker.connect();
    let entries = api_versions(&mut stream, 2);
    let (min, max) = entry(&entries, PRODUCE);
    assert!((0..=11).contains(&min) && max >= 11, "Produce {min}..{max}");
}

#[test]
fn produce_v11_invalid_topic_or_partition() {
    let topics = [produce_topic("exists", 11, 1, true)];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let batch = record_batch(0, 0, &[value_record(b"lost")]);
    for (correlation_id, name, partition) in [(20, "exists", 537), (21, "missing", 0)] {
        let body = produce_body(-1, &[(name, vec![(partition, batch.clone())])]);
        let expected = produce_response(correlation_id, &[(name, vec![(partition, 3, -1, -1)])]);
        expect_exact(&mut stream, PRODUCE, 11, correlation_id, &body, &expected);
    }
    assert!(segment(&broker, "exists", 0).is_empty());
    assert!(!broker.log_dir.join("missing-0").exists());
    assert!(!broker.log_dir.join("exists-537").exists());
}

#[test]
fn produce_v11_valid_topic_and_partition() {
    let topics = [produce_topic("valid", 12, 1, true)];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let batch = record_batch(0, 0, &[value_record(b"hello")]);
    let body = produce_body(-1, &[("valid", vec![(0, batch.clone())])]);
    let expected = produce_response(30, &[("valid", vec![(0, 0, 0, 0)])]);
    expect_exact(&mut stream, PRODUCE, 11, 30, &body, &expected);
}

/// Produces `topics` in one request (all successes at base offset 0), then checks each
/// partition's segment holds exactly its batch, with the CRC sent.
fn produce_and_check_disk(broker: &TestBroker, topics: &[(&str, Vec<PartitionBatch>)]) {
    let mut stream = broker.connect();
    let expected: Vec<(&str, Vec<Produced>)> = topics
        .iter()
        .map(|(name, partitions)| {
            let answers = partitions.iter().map(|(p, _)| (*p, 0, 0, 0)).collect();
            (*name, answers)
        })
        .collect();
    expect_exact(
        &mut stream,
        PRODUCE,
        11,
        40,
        &produce_body(-1, topics),
        &produce_response(40, &expected),
    );
    for (name, partitions) in topics {
        for (p, batch) in partitions {
            let stored = segment(broker, name, *p);
            assert_bytes(&stored, batch);
            let sent_crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
            assert_eq!(check_batch_crcs(&stored), [sent_crc], "{name}-{p}");
        }
    }
}

#[test]
fn produce_v11_single_record_on_disk() {
    let topics = [produce_topic("single", 13, 1, true)];
    let broker = broker_with(Some(&topics));
    let batch = record_batch(0, 0, &[value_record(b"Hello Kafka!")]);
    produce_and_check_disk(&broker, &[("single", vec![(0, batch)])]);
}

#[test]
fn produce_v11_several_records_on_disk() {
    let topics = [produce_topic("records", 14, 1, true)];
    let broker = broker_with(Some(&topics));
    let header: &[(&str, &[u8])] = &[("trace", b"abc")];
    let batch = record_batch(
        0,
        0,
        &[
            value_record(b"first"),
            Record {
                key: Some(b"key-2"),
                value: Some(b"second"),
                headers: Some(header),
            },
            Record {
                key: None,
                value: None,
                headers: None,
            },
        ],
    );
    produce_and_check_disk(&broker, &[("records", vec![(0, batch)])]);
}

#[test]
fn produce_v11_several_partitions_on_disk() {
    let topics = [produce_topic("parts", 15, 3, true)];
    let broker = broker_with(Some(&topics));
    let batches: Vec<PartitionBatch> = (0..3)
        .map(|p| {
            let value = format!("to partition {p}");
            (p, record_batch(0, 0, &[value_record(value.as_bytes())]))
        })
        .collect();
    produce_and_check_disk(&broker, &[("parts", batches)]);
}

#[test]
fn produce_v11_several_topics_on_disk() {
    // The second topic has no partition directories: it is known from the metadata only.
    let topics = [
        produce_topic("alpha", 16, 1, true),
        produce_topic("beta", 17, 2, false),
    ];
    let broker = broker_with(Some(&topics));
    let alpha = record_batch(0, 0, &[value_record(b"a0")]);
    let beta0 = record_batch(0, 0, &[value_record(b"b0"), value_record(b"b0-again")]);
    let beta1 = record_batch(0, 0, &[value_record(b"b1")]);
    produce_and_check_disk(
        &broker,
        &[
            ("alpha", vec![(0, alpha)]),
            ("beta", vec![(0, beta0), (1, beta1)]),
        ],
    );
}

#[test]
fn produce_v11_second_batch_appends_and_fetch_returns_both() {
    let topics = [produce_topic("twice", 18, 1, true)];
    let broker = broker_with(Some(&topics));
    let mut stream = broker.connect();
    let first = record_batch(0, 0, &[value_record(b"one"), value_record(b"two")]);
    let body = produce_body(-1, &[("twice", vec![(0, first.clone())])]);
    let expected = produce_response(50, &[("twice", vec![(0, 0, 0, 0)])]);
    expect_exact(&mut stream, PRODUCE, 11, 50, &body, &expected);
    // The second batch also claims baseOffset 0: the broker assigns 2.
    let second = record_batch(0, 0, &[value_record(b"three")]);
    let body = produce_body(-1, &[("twice", vec![(0, second.clone())])]);
    let expected = produce_response(51, &[("twice", vec![(0, 0, 2, 0)])]);
    expect_exact(&mut stream, PRODUCE, 11, 51, &body, &expected);
    let file = [first.clone(), at_offset(&second, 2)].concat();
    assert_bytes(&segment(&broker, "twice", 0), &file);
    assert_eq!(check_batch_crcs(&file).len(), 2);
    let both = FetchedPartition {
        index: 0,
        error: 0,
        high_watermark: 3,
        log_start_offset: 0,
        records: &file,
    };
    expect_exact(
        &mut stream,
        FETCH,
        16,
        52,
        &fetch_body(&[(topic_id(18), 0, 0)]),
        &fetch_response(52, &[(topic_id(18), both)]),
    );
    // From offset 2, only the second batch.
    let tail = FetchedPartition {
        index: 0,
        error: 0,
        high_watermark: 3,
        log_start_offset: 0,
        records: &file[first.len()..],
    };
    expect_exact(
        &mut stream,
        FETCH,
        16,
        53,
        &fetch_body(&[(topic_id(18), 0, 2)]),
        &fetch_response(53, &[(topic_id(18), tail)]),
    );
}
