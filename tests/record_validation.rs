//! Record-level validation on Produce over a real socket: every malformed-record family
//! (a record length of 2^31-1 or a few bytes short, key/value/header lengths and counts that
//! lie, offset deltas off, trailing bytes, a record count that lies), uncompressed and with
//! each codec, is refused with Kafka's code and leaves the log untouched; a codec flag on
//! plain bytes and a batch decompressing past the bound are CORRUPT_MESSAGE; control and
//! transactional batches are refused as Kafka refuses them; a compacted topic refuses keyless
//! records one by one (record_errors, error_message). Valid batches of every codec are then
//! stored verbatim and read back, also after a restart.

mod common;

use common::*;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::apis::{Api, fetch};
use kafka_broker::protocol::codec::Writer;
use kafka_broker::protocol::wire::{Records, decode};
use kafka_broker::storage::records::build::{batch, compress, records, seal};

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const CREATE_TOPICS: i16 = 19;

const NONE: i16 = 0;
const CORRUPT_MESSAGE: i16 = 2;
const INVALID_TXN_STATE: i16 = 48;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
const INVALID_RECORD: i16 = 87;

const TOPIC: &str = "checked";
const COMPACTED: &str = "compacted";
/// gzip, snappy, lz4, zstd, as the batch attributes' codec field numbers them.
const CODECS: [(i16, &str); 5] = [
    (0, "none"),
    (1, "gzip"),
    (2, "snappy"),
    (3, "lz4"),
    (4, "zstd"),
];

impl Conn {
    fn call(&mut self, api_key: i16, version: i16, flexible: bool, body: &[u8]) -> Vec<u8> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        send_frame(
            &mut self.stream,
            api_key,
            version,
            correlation_id,
            Some(CLIENT_ID),
            body,
            flexible,
        );
        let payload = read_frame(&mut self.stream);
        response_body(&payload, correlation_id, flexible).to_vec()
    }
}

fn create_topic(conn: &mut Conn, name: &str, partitions: i32, configs: &[(&str, &str)]) {
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
    let v = CreateTopics::SPEC.ver(7);
    let body = conn.call(CREATE_TOPICS, 7, v.flexible, &body_of(&request, v));
    let response: create_topics::Response = decode(&body, v).unwrap();
    assert_eq!(response.topics[0].error_code, NONE, "creating {name}");
}

/// One partition's answer: (error, base_offset, record_errors, error_message).
type Answer = (i16, i64, Vec<(i32, Option<String>)>, Option<String>);

/// A Produce of one batch per partition to `topic` (acks -1); returns each partition's answer.
fn produce_to(
    conn: &mut Conn,
    version: i16,
    transactional_id: Option<&str>,
    topic: &str,
    batches: &[&[u8]],
) -> Vec<Answer> {
    let request = produce::Request {
        transactional_id,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce::TopicProduceData {
            name: topic,
            partition_data: batches
                .iter()
                .enumerate()
                .map(|(index, bytes)| produce::PartitionProduceData {
                    index: index as i32,
                    records: Some(Records::Bytes(bytes)),
                })
                .collect(),
        }],
    };
    let v = Produce::SPEC.ver(version);
    let body = conn.call(PRODUCE, version, v.flexible, &body_of(&request, v));
    let response: produce::Response = decode(&body, v).unwrap();
    assert_eq!(response.responses.len(), 1);
    response.responses[0]
        .partition_responses
        .iter()
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p.index, i as i32);
            let errors = p
                .record_errors
                .iter()
                .map(|e| (e.batch_index, e.batch_index_error_message.clone()))
                .collect();
            (p.error_code, p.base_offset, errors, p.error_message.clone())
        })
        .collect()
}

fn produce(conn: &mut Conn, bytes: &[u8]) -> Answer {
    produce_to(conn, 11, None, TOPIC, &[bytes]).remove(0)
}

fn refused(code: i16) -> Answer {
    (code, -1, vec![], None)
}

/// Fetch v4 of `topic`-0 from offset 0: (high watermark, record bytes).
fn fetch_all(conn: &mut Conn, topic: &str) -> (i64, Vec<u8>) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 16 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic,
            topic_id: [0; 16],
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: 0,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 16 << 20,
                ..fetch::FetchPartition::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..fetch::Request::default()
    };
    let v = fetch::Fetch::SPEC.ver(4);
    let body = conn.call(FETCH, 4, false, &body_of(&request, v));
    let response: fetch::Response = decode(&body, v).unwrap();
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, NONE);
    let bytes = match &partition.records {
        Some(Records::Bytes(bytes)) => bytes.to_vec(),
        _ => Vec::new(),
    };
    (partition.high_watermark, bytes)
}

/// The batch as stored at `base_offset` (baseOffset and partitionLeaderEpoch 0 lie outside
/// the CRC).
fn stored(bytes: &[u8], base_offset: i64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&0i32.to_be_bytes());
    out
}

/// One record: its varint length, then `body`.
fn record(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Writer::new(&mut out).varint(body.len() as i32).raw(body);
    out
}

/// A well-formed record body: attributes 0, timestamp delta 0, offset delta `delta`, key
/// "k", value "v", no headers.
fn good_body(delta: u8) -> Vec<u8> {
    vec![0, 0, delta << 1, 0x02, b'k', 0x02, b'v', 0]
}

/// (name, records region, declared record count): each malformed in its own way.
fn malformed_families() -> Vec<(&'static str, Vec<u8>, i32)> {
    let good = good_body(0);
    let mut short = record(&good);
    short[0] = ((good.len() + 3) as u8) << 1; // claims three bytes more than it has
    let mut long = record(&good);
    long[0] = ((good.len() - 2) as u8) << 1; // ends inside the value
    vec![
        (
            "record length 2^31-1",
            [&[0xfe, 0xff, 0xff, 0xff, 0x0f][..], &good].concat(),
            1,
        ),
        ("record a few bytes short", short, 1),
        ("record length cuts a field", long, 1),
        (
            "key length lies",
            record(&[0, 0, 0, 0x20, b'k', 0x02, b'v', 0]),
            1,
        ),
        (
            "value length lies",
            record(&[0, 0, 0, 0x02, b'k', 0x20, b'v', 0]),
            1,
        ),
        (
            "header count lies",
            record(&[
                0, 0, 0, 0x02, b'k', 0x02, b'v', 0x06, 0x02, b'h', 0x02, b'x',
            ]),
            1,
        ),
        (
            "header count -2",
            record(&[0, 0, 0, 0x02, b'k', 0x02, b'v', 0x03]),
            1,
        ),
        (
            "header key length lies",
            record(&[
                0, 0, 0, 0x02, b'k', 0x02, b'v', 0x02, 0x20, b'h', 0x02, b'x',
            ]),
            1,
        ),
        (
            "negative header key length",
            record(&[0, 0, 0, 0x02, b'k', 0x02, b'v', 0x02, 0x03, 0x02, b'x']),
            1,
        ),
        (
            "record longer than its fields",
            record(&[&good[..], &[0xaa, 0xbb]].concat()),
            1,
        ),
        ("first offset delta 1", record(&good_body(1)), 1),
        (
            "offset deltas repeat",
            [record(&good_body(0)), record(&good_body(0))].concat(),
            2,
        ),
        (
            "offset deltas out of order",
            [record(&good_body(1)), record(&good_body(0))].concat(),
            2,
        ),
        (
            "trailing garbage after the last record",
            [record(&good), vec![0xde, 0xad, 0xbe, 0xef]].concat(),
            1,
        ),
        ("record count says two, one record", record(&good), 2),
        (
            "record count says one, two records",
            [record(&good_body(0)), record(&good_body(1))].concat(),
            1,
        ),
        (
            "malformed varint",
            [record(&good), vec![0xff; 6]].concat(),
            2,
        ),
    ]
}

fn values(codec: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{codec} value {i} {}", "x".repeat(i * 7)).into_bytes())
        .collect()
}

#[test]
fn malformed_records_are_refused_with_every_codec_and_valid_batches_still_stored() {
    let broker = TestBroker::start_with("");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1, &[]);
    for (codec, name) in CODECS {
        for (family, payload, count) in malformed_families() {
            let bytes = seal(codec, count, &compress(codec, &payload));
            assert_eq!(
                produce(&mut conn, &bytes),
                refused(INVALID_RECORD),
                "{family}, compression {name}"
            );
        }
        if codec != 0 {
            // The codec flag on plain, uncompressed records.
            let plain = seal(codec, 2, &records(&values(name, 2)));
            assert_eq!(
                produce(&mut conn, &plain),
                refused(CORRUPT_MESSAGE),
                "{name} flag on plain bytes"
            );
            // Compressed garbage: valid framing start, then noise.
            let mut noisy = compress(codec, &records(&values(name, 20)));
            let half = noisy.len() / 2;
            noisy[half..].fill(0x5a);
            let noisy = seal(codec, 20, &noisy);
            let answer = produce(&mut conn, &noisy);
            assert!(
                answer == refused(CORRUPT_MESSAGE) || answer == refused(INVALID_RECORD),
                "{name} with noise: {answer:?}"
            );
        }
    }
    let (high_watermark, bytes) = fetch_all(&mut conn, TOPIC);
    assert_eq!(
        (high_watermark, bytes.len()),
        (0, 0),
        "nothing refused is stored"
    );
    // A valid batch of each codec after all that: stored verbatim and read back.
    let mut expected = Vec::new();
    let mut next_offset = 0;
    for (codec, name) in CODECS {
        let good = batch(codec, &values(name, 25));
        assert_eq!(produce(&mut conn, &good), (NONE, next_offset, vec![], None));
        expected.extend(stored(&good, next_offset));
        next_offset += 25;
    }
    assert_eq!(fetch_all(&mut conn, TOPIC), (next_offset, expected.clone()));
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(fetch_all(&mut conn, TOPIC), (next_offset, expected));
}

#[test]
fn decompressing_past_the_bound_is_corrupt() {
    // max.message.bytes 16384: batches may decompress to 64 x 16384 = 1 MiB.
    let broker = TestBroker::start_with("");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1, &[("max.message.bytes", "16384")]);
    // Snappy cannot reach a ratio of 64 (its best is about 21), but a raw block declares
    // its length first: one that claims more than the bound is refused before anything
    // is allocated.
    let mut claim = Vec::new();
    Writer::new(&mut claim).uvarint((1 << 20) + 1).raw(&[0; 8]);
    let claim = seal(2, 1, &claim);
    assert_eq!(
        produce(&mut conn, &claim),
        refused(CORRUPT_MESSAGE),
        "snappy claim"
    );
    for (codec, name) in [(1, "gzip"), (3, "lz4"), (4, "zstd")] {
        let bomb = batch(codec, &[vec![0u8; (1 << 20) + 1]]);
        assert!(bomb.len() < 16384, "{name} bomb of {} bytes", bomb.len());
        assert_eq!(
            produce(&mut conn, &bomb),
            refused(CORRUPT_MESSAGE),
            "{name}"
        );
        let fits = batch(codec, &[vec![0u8; 1 << 19]]);
        assert_eq!(produce(&mut conn, &fits).0, NONE, "{name} within the bound");
    }
}

#[test]
fn control_and_transactional_batches_are_refused_as_kafka_refuses_them() {
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    let broker = TestBroker::start_with("");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 2, &[]);
    let plain = records(&values("none", 3));
    let good = seal(0, 3, &plain);
    for (codec, name) in CODECS {
        let payload = compress(codec, &plain);
        let control = seal(codec | CONTROL, 3, &payload);
        assert_eq!(
            produce(&mut conn, &control),
            refused(INVALID_RECORD),
            "{name}"
        );
        // Transactional, and no transactional id: the whole request is refused.
        let transactional = seal(codec | TRANSACTIONAL, 3, &payload);
        assert_eq!(
            produce_to(&mut conn, 11, None, TOPIC, &[&good, &transactional]),
            vec![
                refused(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
                refused(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            ],
            "{name}"
        );
        // With a transactional id: that partition was never added to a transaction.
        let answers = produce_to(&mut conn, 11, Some("tx"), TOPIC, &[&transactional]);
        let message = "Partition was not added to the transaction".to_string();
        assert_eq!(
            answers,
            vec![(INVALID_TXN_STATE, -1, vec![], Some(message))],
            "{name}"
        );
    }
    assert_eq!(fetch_all(&mut conn, TOPIC), (0, vec![]));
    assert_eq!(produce(&mut conn, &good), (NONE, 0, vec![], None));
}

#[test]
fn zstd_needs_produce_v7() {
    let broker = TestBroker::start_with("");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC, 1, &[]);
    let zstd = batch(4, &values("zstd", 3));
    let answers = produce_to(&mut conn, 6, None, TOPIC, &[&zstd]);
    assert_eq!(answers, vec![refused(UNSUPPORTED_COMPRESSION_TYPE)]);
    let answers = produce_to(&mut conn, 7, None, TOPIC, &[&zstd]);
    assert_eq!(answers, vec![(NONE, 0, vec![], None)]);
}

#[test]
fn compacted_topics_refuse_keyless_records_with_record_errors() {
    let broker = TestBroker::start_with("");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, COMPACTED, 1, &[("cleanup.policy", "compact")]);
    // Records 1 and 3 of four have no key (key length -1).
    let keyed = |delta: u8| vec![0, 0, delta << 1, 0x02, b'k', 0x02, b'v', 0];
    let keyless = |delta: u8| vec![0, 0, delta << 1, 0x01, 0x02, b'v', 0];
    let payload: Vec<u8> = [keyed(0), keyless(1), keyed(2), keyless(3)]
        .iter()
        .flat_map(|body| record(body))
        .collect();
    let message =
        "Compacted topic cannot accept message without key in topic partition compacted-0.";
    let summary = format!(
        "One or more records have been rejected due to 2 record errors in total, and only \
         showing the first three errors at most: [RecordError(batchIndex=1, message='{message}'), \
         RecordError(batchIndex=3, message='{message}')]"
    );
    for (codec, name) in CODECS {
        let bytes = seal(codec, 4, &compress(codec, &payload));
        for version in [8, 11] {
            assert_eq!(
                produce_to(&mut conn, version, None, COMPACTED, &[&bytes]),
                vec![(
                    INVALID_RECORD,
                    -1,
                    vec![(1, Some(message.into())), (3, Some(message.into()))],
                    Some(summary.clone())
                )],
                "{name}, v{version}"
            );
        }
        // v7 has neither field: the code alone.
        assert_eq!(
            produce_to(&mut conn, 7, None, COMPACTED, &[&bytes]),
            vec![refused(INVALID_RECORD)],
            "{name}, v7"
        );
    }
    let good = batch(3, &values("lz4", 4));
    let answers = produce_to(&mut conn, 11, None, COMPACTED, &[&good]);
    assert_eq!(answers, vec![(NONE, 0, vec![], None)]);
    assert_eq!(fetch_all(&mut conn, COMPACTED), (4, stored(&good, 0)));
}
