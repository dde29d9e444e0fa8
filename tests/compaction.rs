//! Compacted topics over a real socket: Produce refuses keyless records as Kafka does
//! (INVALID_RECORD, `record_errors` with each keyless record's batch index and Kafka's
//! message, `error_message` from v8; the code alone before), for `compact` and
//! `compact,delete`, and appends nothing of a refused batch.

mod common;

use common::{Conn, TestBroker, body_of};
use kafka_broker::apis::Api;
use kafka_broker::apis::produce::{self, BatchIndexAndErrorMessage, Produce};
use kafka_broker::protocol::wire::{Records, decode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const INVALID_RECORD: i16 = 87;

fn create_topic(conn: &mut Conn, name: &str, configs: &[(&str, &str)]) {
    common::create_topic(conn, name, 1, configs);
}

/// Produces one uncompressed batch with these keys (values "v") at `version`; the partition's
/// answer.
fn produce(
    conn: &mut Conn,
    version: i16,
    name: &str,
    keys: &[Option<&[u8]>],
) -> produce::PartitionProduceResponse {
    let records: Vec<batch::KeyValue> = keys
        .iter()
        .map(|k| (k.map(<[u8]>::to_vec), Some(b"v".to_vec())))
        .collect();
    let batch = batch::build_keyed(0, 0, 1_700_000_000_000, &records);
    let request = common::produce_request(name, 0, &batch);
    let body = conn.send::<Produce>(version, &request);
    let v = Produce::SPEC.ver(version);
    let response: produce::Response = decode(&body, v).expect("decodes");
    assert_eq!(body_of(&response, v), body, "re-encodes to the same bytes");
    response.responses[0].partition_responses[0].clone()
}

fn kafkas_message(topic: &str) -> String {
    format!("Compacted topic cannot accept message without key in topic partition {topic}-0.")
}

#[test]
fn keyless_records_to_a_compacted_topic_are_refused_as_kafka_refuses_them() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    for (name, policy) in [("c", "compact"), ("cd", "compact,delete")] {
        create_topic(&mut conn, name, &[("cleanup.policy", policy)]);
        let k: &[u8] = b"k";
        let got = produce(&mut conn, 11, name, &[Some(k), None, Some(k), None]);
        let message = kafkas_message(name);
        let errors: Vec<BatchIndexAndErrorMessage> = [1, 3]
            .into_iter()
            .map(|batch_index| BatchIndexAndErrorMessage {
                batch_index,
                batch_index_error_message: Some(message.clone()),
            })
            .collect();
        let summary = format!(
            "One or more records have been rejected due to 2 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, \
             message='{message}'), RecordError(batchIndex=3, message='{message}')]"
        );
        assert_eq!(
            (
                got.error_code,
                got.base_offset,
                got.log_start_offset,
                got.record_errors,
                got.error_message
            ),
            (INVALID_RECORD, -1, 0, errors, Some(summary)),
            "{policy}"
        );
        // Before v8 the code alone.
        let old = produce(&mut conn, 7, name, &[None]);
        assert_eq!((old.error_code, old.base_offset), (INVALID_RECORD, -1));
        // Nothing of the refused batches was appended.
        let keyed = produce(&mut conn, 11, name, &[Some(k), Some(b"other")]);
        assert_eq!((keyed.error_code, keyed.base_offset), (NONE, 0), "{policy}");
    }
    // Five keyless records: all listed, three shown.
    let got = produce(&mut conn, 9, "c", &[None; 5]);
    let indexes: Vec<i32> = got.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    let summary = got.error_message.unwrap();
    assert!(summary.starts_with("One or more records have been rejected due to 5 record errors"));
    assert_eq!(summary.matches("RecordError(").count(), 3, "{summary}");
    // A delete-policy topic takes keyless records.
    create_topic(&mut conn, "d", &[]);
    assert_eq!(produce(&mut conn, 11, "d", &[None]).error_code, NONE);
}

/// Every record of `name`-0 from offset 0 up to the high watermark, as Fetch v11 serves them:
/// (offset, key, value), each batch's CRC checked and offsets strictly increasing.
fn fetch_all(conn: &mut Conn, name: &str) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
    use kafka_broker::apis::fetch::{self, Fetch};
    let mut out: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut offset = 0;
    loop {
        let request = fetch::Request {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            session_epoch: -1,
            topics: vec![fetch::FetchTopic {
                topic: name,
                partitions: vec![fetch::FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let body = conn.send::<Fetch>(11, &request);
        let response: fetch::Response = decode(&body, Fetch::SPEC.ver(11)).expect("decodes");
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE, "fetch at {offset}");
        if offset >= p.high_watermark {
            return out;
        }
        let Some(Records::Bytes(bytes)) = &p.records else {
            panic!("no records at {offset} below {}", p.high_watermark)
        };
        let mut position = 0;
        while let Some(header) = bytes.get(position..).and_then(batch::BatchHeader::parse) {
            let Some(whole) = bytes.get(position..position + header.size()) else {
                break; // cut short by max_bytes
            };
            let crc = kafka_broker::storage::crc32c::crc32c(&whole[21..]);
            assert_eq!(
                crc, header.crc,
                "CRC of the batch at {}",
                header.base_offset
            );
            for r in batch::records(whole).expect("records") {
                let at = header.base_offset + i64::from(r.offset_delta);
                assert!(
                    out.last().is_none_or(|last| last.0 < at),
                    "offsets increase"
                );
                if at >= offset {
                    out.push((
                        at,
                        r.key.expect("keyed").to_vec(),
                        r.value.map(<[u8]>::to_vec),
                    ));
                }
            }
            offset = offset.max(header.last_offset() + 1);
            position += header.size();
        }
    }
}

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The broker is killed (SIGKILL) at a random moment after each round of produces, while
/// the cleaner works through a pass in ~1 KiB slices; after each restart every key's latest
/// record is there, and in the end the log is compacted.
#[test]
fn kill_9_at_random_moments_of_cleaning_loses_no_record_that_should_be_kept() {
    use std::collections::BTreeMap;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("seed {seed}");
    let mut rng = Lcg(seed);
    // Slices of about 1 KiB, so a pass spans many turns and the kills land inside passes.
    let mut broker =
        TestBroker::start_with("log.cleaner.backoff.ms=5\nlog.cleaner.io.buffer.size=1024");
    let mut conn = Conn::open(&broker);
    create_topic(
        &mut conn,
        "c",
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let mut latest: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut produced = 0;
    for cycle in 0..6 {
        for i in 0..150 {
            let key = format!("key-{}", rng.next(40)).into_bytes();
            let value = (rng.next(10) != 0).then(|| format!("c{cycle}-{i}").into_bytes());
            let records = [(Some(key.clone()), value.clone())];
            let bytes = batch::build_keyed(0, 0, 1_700_000_000_000, &records);
            let request = common::produce_request("c", 0, &bytes);
            let body = conn.send::<Produce>(11, &request);
            let response: produce::Response =
                decode(&body, Produce::SPEC.ver(11)).expect("decodes");
            let p = &response.responses[0].partition_responses[0];
            assert_eq!((p.error_code, p.base_offset), (NONE, produced));
            produced += 1;
            latest.insert(key, value);
        }
        // Let the cleaner run a little (it is busy with slices between requests), then kill.
        std::thread::sleep(std::time::Duration::from_millis(rng.next(40)));
        broker = broker.restart();
        conn = Conn::open(&broker);
        let seen = fetch_all(&mut conn, "c");
        let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for (_, key, value) in seen {
            last.insert(key, value);
        }
        assert_eq!(
            last, latest,
            "cycle {cycle}: each key's latest record survives"
        );
    }
    // The cleaner did clean: fewer records than produced, and still every latest one.
    let mut seen = fetch_all(&mut conn, "c");
    for _ in 0..200 {
        if (seen.len() as i64) < produced / 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        seen = fetch_all(&mut conn, "c");
    }
    assert!(
        (seen.len() as i64) < produced / 2,
        "{} of {produced} records left",
        seen.len()
    );
}

/// Bytes of segment data (`.log` files) in a partition directory.
fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// `__consumer_offsets` is compacted: 10,000 commits of one group's one partition compact
/// down to a few segments' worth, and the last commit is what a restart reads back.
#[test]
fn ten_thousand_commits_of_one_group_compact_down() {
    use kafka_broker::apis::offset_commit::{self, OffsetCommit};
    use kafka_broker::apis::offset_fetch::{self, OffsetFetch};
    const COMMITS: i64 = 10_000;
    let broker = TestBroker::start_with(
        "offsets.topic.num.partitions=1\noffsets.topic.segment.bytes=4096\nlog.cleaner.backoff.ms=10",
    );
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", &[]);
    let metadata = format!("{:0>100}", "m");
    for offset in 0..COMMITS {
        let commit = common::simple_commit("g", "t", 0, offset, -1, Some(&metadata));
        let body = conn.send::<OffsetCommit>(8, &commit);
        let response: offset_commit::Response =
            decode(&body, OffsetCommit::SPEC.ver(8)).expect("decodes");
        assert_eq!(response.topics[0].partitions[0].error_code, NONE);
    }
    let dir = broker.log_dir.join("__consumer_offsets-0");
    // Each commit is a batch of about 200 bytes: 2 MB written in all.
    let bound = 64 * 1024;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while log_bytes(&dir) > bound {
        assert!(
            std::time::Instant::now() < deadline,
            "__consumer_offsets-0 still holds {} bytes",
            log_bytes(&dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let request = offset_fetch::Request {
        group_id: "g",
        topics: Some(vec![offset_fetch::RequestTopic {
            name: "t",
            topic_id: [0; 16],
            partition_indexes: vec![0],
        }]),
        groups: vec![],
        require_stable: false,
    };
    let body = conn.send::<OffsetFetch>(5, &request);
    let response: offset_fetch::Response =
        decode(&body, OffsetFetch::SPEC.ver(5)).expect("decodes");
    let partition = &response.topics[0].partitions[0];
    assert_eq!(
        (
            partition.error_code,
            partition.committed_offset,
            partition.metadata.as_deref()
        ),
        (NONE, COMMITS - 1, Some(metadata.as_str()))
    );
}
