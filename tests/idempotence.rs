//! Idempotent producers over a real socket: InitProducerId hands out producer ids (and bumps
//! an epoch from v3); Produce deduplicates a retried batch (the original base offset comes
//! back, nothing is written twice, also after a restart), refuses a sequence gap
//! (OUT_OF_ORDER_SEQUENCE_NUMBER) and a fenced epoch (INVALID_PRODUCER_EPOCH). Batches are
//! built by hand with the producer id, epoch and base sequence in the header and the CRC-32C
//! re-sealed. Requests and responses go through the declared codecs (`wire::encode`,
//! `wire::decode`).

mod common;

use std::net::TcpStream;
use std::path::PathBuf;

use common::{CLIENT_ID, TestBroker, assert_bytes, read_frame, response_body, send_frame};
use kafka_broker::apis::create_topics::CreateTopics;
use kafka_broker::apis::init_producer_id::InitProducerId;
use kafka_broker::apis::{Api, create_topics, fetch, init_producer_id, produce};
use kafka_broker::protocol::wire::{Records, Ver, Wire, decode, encode};
use kafka_broker::protocol::{Reader, Writer};
use kafka_broker::storage::crc32c::crc32c;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const CREATE_TOPICS: i16 = 19;
const INIT_PRODUCER_ID: i16 = 22;

const NONE: i16 = 0;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

const TOPIC: &str = "idempotent";
/// A timestamp for hand-built batches (2023-11-14).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

// ---- Requests ----

struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Conn {
    fn open(broker: &TestBroker) -> Conn {
        Conn {
            stream: broker.connect(),
            next_correlation_id: 1,
        }
    }

    /// Sends a request body and returns the response body; `flexible` picks header v2/v1.
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

fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut Writer::new(&mut out));
    out
}

/// A declared message's body at `v`.
fn body_of<'a, T: Wire<'a>>(message: &T, v: Ver) -> Vec<u8> {
    let mut out = Vec::new();
    encode(message, v, &mut out).expect("encodes");
    out
}

fn init_producer_id(
    conn: &mut Conn,
    version: i16,
    request: &init_producer_id::Request,
) -> (Vec<u8>, init_producer_id::Response) {
    let v = InitProducerId::SPEC.ver(version);
    let body = conn.call(INIT_PRODUCER_ID, version, v.flexible, &body_of(request, v));
    let decoded = decode(&body, v).expect("decodes");
    assert_eq!(
        body_of(&decoded, v),
        body,
        "the InitProducerId response, re-encoded"
    );
    (body, decoded)
}

fn idempotent(producer_id: i64, producer_epoch: i16) -> init_producer_id::Request<'static> {
    init_producer_id::Request {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id,
        producer_epoch,
        ..Default::default()
    }
}

fn create_topic(conn: &mut Conn, name: &str) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: 1,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let v = CreateTopics::SPEC.ver(7);
    let body = conn.call(CREATE_TOPICS, 7, v.flexible, &body_of(&request, v));
    let response: create_topics::Response = decode(&body, v).unwrap();
    assert_eq!(response.topics[0].error_code, NONE, "creating {name}");
}

// ---- Batches ----

#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn i8(&mut self, v: i8) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn uvarint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    /// A zigzag VARINT.
    fn varint(&mut self, v: i64) -> &mut Self {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64)
    }
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.i16(s.len() as i16).raw(s.as_bytes())
    }
    fn cs(&mut self, s: &str) -> &mut Self {
        self.uvarint(s.len() as u64 + 1).raw(s.as_bytes())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// An idempotent record batch v2 (uncompressed, null keys): producer id, epoch and base
/// sequence in the header, batchLength and CRC-32C sealed.
fn batch(producer_id: i64, epoch: i16, base_sequence: i32, values: &[&str]) -> Vec<u8> {
    let count = values.len() as i32;
    let mut b = B::default();
    b.i64(0).i32(0).i32(0).i8(2).i32(0).i16(0); // base offset, length, epoch, magic, crc, attrs
    b.i32(count - 1).i64(TIMESTAMP_MS).i64(TIMESTAMP_MS);
    b.i64(producer_id).i16(epoch).i32(base_sequence).i32(count);
    for (delta, value) in values.iter().enumerate() {
        let mut r = B::default();
        r.i8(0).varint(0).varint(delta as i64).varint(-1);
        r.varint(value.len() as i64).raw(value.as_bytes()).varint(0);
        let record = r.take();
        b.varint(record.len() as i64).raw(&record);
    }
    let mut bytes = b.take();
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// The batch as stored at `base_offset` (baseOffset and partitionLeaderEpoch 0 are outside
/// the CRC).
fn stored(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut out = batch.to_vec();
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    out[12..16].copy_from_slice(&0i32.to_be_bytes());
    out
}

/// (error_code, base_offset, log_append_time_ms, log_start_offset)
type Produced = (i16, i64, i64, i64);

/// A Produce of `batch` to partition 0 of TOPIC (acks -1); returns the one partition's
/// result after checking the whole response layout for `version` (3-11).
fn produce(conn: &mut Conn, version: i16, batch: &[u8]) -> Produced {
    let request = produce::Request {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![produce::TopicProduceData {
            name: TOPIC,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(batch)),
            }],
        }],
    };
    let flexible = version >= 9;
    let v = Ver { version, flexible };
    let body = conn.call(
        PRODUCE,
        version,
        flexible,
        &encoded(|w| request.write(w, v).unwrap()),
    );
    let mut r = Reader::new(&body);
    let topics = r.array_len(flexible, 1).unwrap();
    assert_eq!(topics, 1);
    assert_eq!(r.string(flexible).unwrap(), TOPIC);
    assert_eq!(r.array_len(flexible, 1).unwrap(), 1);
    assert_eq!(r.i32().unwrap(), 0, "partition index");
    let error_code = r.i16().unwrap();
    let base_offset = r.i64().unwrap();
    let log_append_time = r.i64().unwrap();
    let log_start_offset = if version >= 5 { r.i64().unwrap() } else { -1 };
    if version >= 8 {
        assert_eq!(r.array_len(flexible, 1).unwrap(), 0, "record_errors");
        assert_eq!(r.nullable_string(flexible).unwrap(), None, "error_message");
    }
    r.skip_tags(flexible).unwrap();
    r.skip_tags(flexible).unwrap();
    assert_eq!(r.i32().unwrap(), 0, "throttle_time_ms");
    r.skip_tags(flexible).unwrap();
    assert_eq!(
        r.remaining(),
        0,
        "bytes after the Produce v{version} response"
    );
    // The exact bytes of the old (v3) and flexible (v11) layouts.
    let expected = match version {
        3 => Some(
            B::default()
                .i32(1)
                .s(TOPIC)
                .i32(1)
                .i32(0)
                .i16(error_code)
                .i64(base_offset)
                .i64(log_append_time)
                .i32(0)
                .take(),
        ),
        11 => Some(
            B::default()
                .uvarint(2)
                .cs(TOPIC)
                .uvarint(2)
                .i32(0)
                .i16(error_code)
                .i64(base_offset)
                .i64(-1)
                .i64(log_start_offset)
                .uvarint(1) // record_errors: empty
                .uvarint(0) // error_message: null
                .uvarint(0)
                .uvarint(0)
                .i32(0)
                .uvarint(0)
                .take(),
        ),
        _ => None,
    };
    if let Some(expected) = expected {
        assert_bytes(&body, &expected);
    }
    (error_code, base_offset, log_append_time, log_start_offset)
}

fn segment_path(broker: &TestBroker) -> PathBuf {
    broker
        .log_dir
        .join(format!("{TOPIC}-0"))
        .join("00000000000000000000.log")
}

fn segment(broker: &TestBroker) -> Vec<u8> {
    std::fs::read(segment_path(broker)).expect("read the segment")
}

/// Fetch v4 of TOPIC-0 from offset 0: (high watermark, record bytes).
fn fetch_all(conn: &mut Conn) -> (i64, Vec<u8>) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic: TOPIC,
            topic_id: [0; 16],
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: 0,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..fetch::FetchPartition::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..fetch::Request::default()
    };
    let v4 = Ver {
        version: 4,
        flexible: false,
    };
    let body = conn.call(FETCH, 4, false, &encoded(|w| request.write(w, v4).unwrap()));
    let mut r = Reader::new(&body);
    assert_eq!(r.i32().unwrap(), 0, "throttle_time_ms");
    assert_eq!(r.array_len(false, 1).unwrap(), 1);
    assert_eq!(r.string(false).unwrap(), TOPIC);
    assert_eq!(r.array_len(false, 1).unwrap(), 1);
    assert_eq!(r.i32().unwrap(), 0, "partition");
    assert_eq!(r.i16().unwrap(), NONE, "fetch error");
    let high_watermark = r.i64().unwrap();
    assert_eq!(r.i64().unwrap(), high_watermark, "last_stable_offset");
    let aborted = r.nullable_array_len(false, 16).unwrap();
    assert!(matches!(aborted, None | Some(0)), "aborted_transactions");
    let records = r.nullable_bytes(false).unwrap().unwrap_or(&[]).to_vec();
    assert_eq!(r.remaining(), 0);
    (high_watermark, records)
}

// ---- InitProducerId ----

#[test]
fn init_producer_id_every_version() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let mut ids = Vec::new();
    for version in 0..=5 {
        let (body, response) = init_producer_id(&mut conn, version, &idempotent(-1, -1));
        assert_eq!(
            (
                response.throttle_time_ms,
                response.error_code,
                response.producer_epoch
            ),
            (0, NONE, 0),
            "InitProducerId v{version}"
        );
        assert!(response.producer_id >= 0, "v{version}: {response:?}");
        let mut expected = B::default();
        expected.i32(0).i16(0).i64(response.producer_id).i16(0);
        if version >= 2 {
            expected.uvarint(0);
        }
        assert_bytes(&body, &expected.take());
        ids.push(response.producer_id);
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, ids, "fresh, increasing producer ids");

    // v3+: the known id and epoch bump the epoch.
    let known = ids[0];
    for version in 3..=5 {
        for epoch in [0, 4] {
            let (_, response) = init_producer_id(&mut conn, version, &idempotent(known, epoch));
            assert_eq!(
                (
                    response.error_code,
                    response.producer_id,
                    response.producer_epoch
                ),
                (NONE, known, epoch + 1),
                "InitProducerId v{version} with ({known}, {epoch})"
            );
        }
    }

    // A transactional id gets its own stable producer id, one epoch more each time
    // (tests/transactions.rs covers the coordinator).
    let mut transactional = Vec::new();
    for version in 0..=5 {
        let request = init_producer_id::Request {
            transactional_id: Some("my-transactions"),
            ..idempotent(-1, -1)
        };
        let (_, response) = init_producer_id(&mut conn, version, &request);
        assert_eq!(response.error_code, NONE, "v{version}");
        transactional.push((response.producer_id, response.producer_epoch));
    }
    let first = transactional[0].0;
    assert!(!ids.contains(&first), "{first} was handed out before");
    let epochs: Vec<(i64, i16)> = (0..=5).map(|e| (first, e)).collect();
    assert_eq!(transactional, epochs);

    // Ids are never handed out twice, even after a restart.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let (_, after) = init_producer_id(&mut conn, 4, &idempotent(-1, -1));
    assert_eq!(after.error_code, NONE);
    assert!(
        after.producer_id > *ids.iter().max().unwrap(),
        "{} after a restart, {ids:?} before",
        after.producer_id
    );
}

// ---- Produce ----

#[test]
fn idempotent_produce_deduplicates_retries_and_refuses_gaps_and_fenced_epochs() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC);
    let (_, producer) = init_producer_id(&mut conn, 4, &idempotent(-1, -1));
    let pid = producer.producer_id;

    // Sequence 0-2 at offsets 0-2, then sequence 3 at offset 3.
    let first = batch(pid, 0, 0, &["a", "b", "c"]);
    assert_eq!(produce(&mut conn, 11, &first), (NONE, 0, -1, 0));
    let second = batch(pid, 0, 3, &["d"]);
    assert_eq!(produce(&mut conn, 3, &second), (NONE, 3, -1, -1));
    let on_disk = [stored(&first, 0), stored(&second, 3)].concat();
    assert_bytes(&segment(&broker), &on_disk);

    // Retries of either batch (any version) get their original offsets; nothing is written.
    assert_eq!(produce(&mut conn, 11, &first), (NONE, 0, -1, 0));
    assert_eq!(produce(&mut conn, 3, &first), (NONE, 0, -1, -1));
    assert_eq!(produce(&mut conn, 9, &second), (NONE, 3, -1, 0));
    assert_eq!(produce(&mut conn, 5, &second), (NONE, 3, -1, 0));
    assert_bytes(&segment(&broker), &on_disk);

    // A gap (sequence 5 where 4 is next) is refused.
    let gap = batch(pid, 0, 5, &["x"]);
    assert_eq!(
        produce(&mut conn, 11, &gap),
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1, -1)
    );
    assert_eq!(
        produce(&mut conn, 3, &gap),
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1, -1)
    );
    assert_bytes(&segment(&broker), &on_disk);

    // A bumped epoch starts again at sequence 0; the old epoch is then fenced.
    let (_, bumped) = init_producer_id(&mut conn, 4, &idempotent(pid, 0));
    assert_eq!((bumped.producer_id, bumped.producer_epoch), (pid, 1));
    let third = batch(pid, 1, 0, &["e", "f"]);
    assert_eq!(produce(&mut conn, 11, &third), (NONE, 4, -1, 0));
    let on_disk = [on_disk, stored(&third, 4)].concat();
    let stale = batch(pid, 0, 4, &["late"]);
    assert_eq!(
        produce(&mut conn, 11, &stale),
        (INVALID_PRODUCER_EPOCH, -1, -1, -1)
    );
    assert_eq!(
        produce(&mut conn, 11, &first),
        (INVALID_PRODUCER_EPOCH, -1, -1, -1),
        "a retry from the fenced epoch"
    );
    let skipped = batch(pid, 1, 7, &["skip"]);
    assert_eq!(
        produce(&mut conn, 11, &skipped),
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1, -1)
    );
    assert_bytes(&segment(&broker), &on_disk);

    // Fetch serves each batch once.
    let (high_watermark, records) = fetch_all(&mut conn);
    assert_eq!(high_watermark, 6);
    assert_bytes(&records, &on_disk);

    // After a restart (SIGKILL) the retry of the last batch is still a duplicate.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_bytes(&segment(&broker), &on_disk);
    assert_eq!(produce(&mut conn, 11, &third), (NONE, 4, -1, 0));
    assert_eq!(
        produce(&mut conn, 11, &stale),
        (INVALID_PRODUCER_EPOCH, -1, -1, -1)
    );
    assert_eq!(
        produce(&mut conn, 11, &skipped),
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1, -1)
    );
    assert_bytes(&segment(&broker), &on_disk);
    let fourth = batch(pid, 1, 2, &["g"]);
    assert_eq!(produce(&mut conn, 11, &fourth), (NONE, 6, -1, 0));
    let on_disk = [on_disk, stored(&fourth, 6)].concat();
    let (high_watermark, records) = fetch_all(&mut conn);
    assert_eq!(high_watermark, 7);
    assert_bytes(&records, &on_disk);
    assert_bytes(&segment(&broker), &on_disk);
}

#[test]
fn a_producer_remembers_its_last_five_batches() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, TOPIC);
    let (_, producer) = init_producer_id(&mut conn, 5, &idempotent(-1, -1));
    let pid = producer.producer_id;
    let batches: Vec<Vec<u8>> = (0..6)
        .map(|seq| batch(pid, 0, seq, &[&format!("m{seq}")]))
        .collect();
    for (offset, b) in batches.iter().enumerate() {
        assert_eq!(produce(&mut conn, 11, b), (NONE, offset as i64, -1, 0));
    }
    let size = segment(&broker).len();
    // The five most recent retries are recognised, newest first.
    for seq in (1..6).rev() {
        assert_eq!(
            produce(&mut conn, 11, &batches[seq]),
            (NONE, seq as i64, -1, 0),
            "retry of sequence {seq}"
        );
    }
    // The oldest is out of the window: refused as out of order, not written again.
    assert_eq!(
        produce(&mut conn, 11, &batches[0]),
        (OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1, -1)
    );
    assert_eq!(segment(&broker).len(), size);
    // A plain (non-idempotent) batch is appended as usual.
    let plain = batch(-1, -1, -1, &["plain"]);
    assert_eq!(produce(&mut conn, 11, &plain), (NONE, 6, -1, 0));
    assert_eq!(produce(&mut conn, 11, &plain), (NONE, 7, -1, 0));
}
