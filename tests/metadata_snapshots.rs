//! The metadata log stays bounded: thousands of topics created and deleted over a real
//! broker with small `metadata.log.max.record.bytes.between.snapshots`, segments and
//! retention, then restarts by kill -9 and by SIGTERM. The topics that exist come back
//! exactly (ids, partition counts, configs), producer ids keep increasing, old segments and
//! snapshots are gone, and start-up reads the snapshot rather than the history: the bytes the
//! started broker read (`rchar` of `/proc/<pid>/io`) are compared with a broker given the
//! same history and no snapshots.
//!
//! Size: 1,000 topics created and deleted, 500 when `CI` is set (each creation and deletion
//! is fsynced: about 25 ms a topic here); `METADATA_SNAPSHOT_TOPICS=5000` for the full size. The figures are printed (`--nocapture`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Conn, TestBroker};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::delete_topics::{self, DeleteTopics};
use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
use kafka_broker::apis::describe_quorum::{self, DescribeQuorum};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::metadata::{self, Metadata};

const NONE: i16 = 0;
/// Every this many topics one stays; the rest are deleted.
const KEEP_EVERY: usize = 25;
const PER_REQUEST: usize = 50;

/// Small enough that the history makes many snapshots, segments and deletions.
const SNAPSHOTTING: &str = "metadata.log.max.record.bytes.between.snapshots=16384\n\
                            metadata.log.segment.bytes=16384\n\
                            metadata.max.retention.bytes=65536\n";
/// The same history with no snapshot (as before snapshots existed).
const NOT_SNAPSHOTTING: &str = "metadata.log.max.record.bytes.between.snapshots=1000000000000\n";

impl Conn {
    fn call<'a, A: Api>(
        &mut self,
        version: i16,
        request: &A::Request<'_>,
        out: &'a mut Vec<u8>,
    ) -> A::Response<'a> {
        *out = self.send::<A>(version, request);
        kafka_broker::protocol::wire::decode(out, A::SPEC.ver(version)).expect("decodes")
    }
}

fn topic_count() -> usize {
    if let Ok(n) = std::env::var("METADATA_SNAPSHOT_TOPICS") {
        return n.parse().expect("METADATA_SNAPSHOT_TOPICS is a number");
    }
    if std::env::var_os("CI").is_some() {
        500
    } else {
        1000
    }
}

/// A live topic as the test expects it: id, partition count, `retention.ms`.
type Expected = BTreeMap<String, ([u8; 16], usize, String)>;

fn name(i: usize) -> String {
    format!("topic-{i:05}")
}

/// Creates topics `from..to` (a kept one has 1 to 3 partitions and its own `retention.ms`)
/// and deletes all but every [`KEEP_EVERY`]th, recording the kept ones in `expected`.
fn churn(conn: &mut Conn, from: usize, to: usize, expected: &mut Expected) {
    let mut start = from;
    while start < to {
        let end = (start + PER_REQUEST).min(to);
        let names: Vec<String> = (start..end).map(name).collect();
        let retention: Vec<String> = (start..end).map(|i| (3_600_000 + i).to_string()).collect();
        let topics = (start..end)
            .map(|i| {
                let kept = i % KEEP_EVERY == 0;
                create_topics::Topic {
                    name: &names[i - start],
                    num_partitions: if kept {
                        1 + (i / KEEP_EVERY % 3) as i32
                    } else {
                        1
                    },
                    replication_factor: 1,
                    assignments: vec![],
                    configs: if kept {
                        vec![create_topics::Config {
                            name: "retention.ms",
                            value: Some(&retention[i - start]),
                        }]
                    } else {
                        vec![]
                    },
                }
            })
            .collect();
        let request = create_topics::Request {
            topics,
            timeout_ms: 30_000,
            validate_only: false,
        };
        let mut body = Vec::new();
        let response = conn.call::<CreateTopics>(7, &request, &mut body);
        let mut deleted = Vec::new();
        for (i, result) in (start..end).zip(&response.topics) {
            assert_eq!(result.error_code, NONE, "{result:?}");
            if i % KEEP_EVERY == 0 {
                let partitions = 1 + i / KEEP_EVERY % 3;
                let value = retention[i - start].clone();
                expected.insert(name(i), (result.topic_id, partitions, value));
            } else {
                deleted.push(names[i - start].as_str());
            }
        }
        let request = delete_topics::Request {
            topics: vec![],
            topic_names: deleted,
            timeout_ms: 30_000,
        };
        let mut body = Vec::new();
        let response = conn.call::<DeleteTopics>(4, &request, &mut body);
        assert!(response.responses.iter().all(|r| r.error_code == NONE));
        start = end;
    }
}

/// What the broker says exists: every topic's id and partition count (Metadata v12), and
/// its `retention.ms` (DescribeConfigs v4).
fn actual(conn: &mut Conn) -> Expected {
    let request = metadata::Request {
        topics: None,
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let mut body = Vec::new();
    let response = conn.call::<Metadata>(12, &request, &mut body);
    let topics: Vec<(String, [u8; 16], usize)> = response
        .topics
        .iter()
        .map(|t| {
            assert_eq!(t.error_code, NONE);
            let name = t.name.as_deref().expect("a name").to_string();
            (name, t.topic_id, t.partitions.len())
        })
        .collect();
    let resources = topics
        .iter()
        .map(|(name, ..)| describe_configs::Resource {
            resource_type: 2,
            resource_name: name,
            configuration_keys: Some(vec!["retention.ms"]),
        })
        .collect();
    let request = describe_configs::Request {
        resources,
        include_synonyms: false,
        include_documentation: false,
    };
    let mut body = Vec::new();
    let response = conn.call::<DescribeConfigs>(4, &request, &mut body);
    let mut out = Expected::new();
    for ((name, id, partitions), result) in topics.into_iter().zip(&response.results) {
        assert_eq!((result.error_code, &result.resource_name), (NONE, &name));
        let value = result.configs[0].value.clone().expect("retention.ms");
        out.insert(name, (id, partitions, value));
    }
    out
}

fn producer_id(conn: &mut Conn) -> i64 {
    let request = init_producer_id::Request {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    let mut body = Vec::new();
    let response = conn.call::<InitProducerId>(4, &request, &mut body);
    assert_eq!(response.error_code, NONE);
    response.producer_id
}

/// DescribeQuorum v2: the metadata log's end offset (its high watermark).
fn quorum_end_offset(conn: &mut Conn) -> i64 {
    let request = describe_quorum::Request {
        topics: vec![describe_quorum::RequestTopic {
            topic_name: "__cluster_metadata",
            partitions: vec![describe_quorum::RequestPartition { partition_index: 0 }],
        }],
    };
    let mut body = Vec::new();
    let response = conn.call::<DescribeQuorum>(2, &request, &mut body);
    response.topics[0].partitions[0].high_watermark
}

/// Bytes the process has read through read(2) and friends, files included.
fn rchar(broker: &TestBroker) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", broker.child.id())).expect("io");
    let line = io.lines().find(|l| l.starts_with("rchar:")).expect("rchar");
    line["rchar:".len()..].trim().parse().unwrap()
}

fn metadata_files(log_dir: &Path) -> (Vec<String>, Vec<String>, u64) {
    let mut segments = Vec::new();
    let mut snapshots = Vec::new();
    let mut bytes = 0;
    for entry in std::fs::read_dir(log_dir.join("__cluster_metadata-0")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Segments and snapshots: the records (index files are preallocated, sparse).
        if name.ends_with(".log") {
            bytes += entry.metadata().unwrap().len();
            segments.push(name);
        } else if name.ends_with(".checkpoint") {
            bytes += entry.metadata().unwrap().len();
            snapshots.push(name);
        }
    }
    segments.sort();
    snapshots.sort();
    (segments, snapshots, bytes)
}

/// A kill -9 restart: the new broker, how long its start took, and what it read.
fn restart_killed(broker: TestBroker) -> (TestBroker, Duration, u64) {
    let started = Instant::now();
    let broker = broker.restart();
    let took = started.elapsed();
    let read = rchar(&broker);
    (broker, took, read)
}

/// SIGTERM (a controlled shutdown), then a start on the same log dir.
fn restart_terminated(mut broker: TestBroker) -> (TestBroker, Duration, u64) {
    let pid = broker.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = broker.child.wait().unwrap();
    assert!(exit.success(), "{exit}");
    restart_killed(broker)
}

#[test]
fn thousands_of_topics_created_and_deleted_start_from_the_snapshot() {
    let n = topic_count();
    let broker = TestBroker::start_with(SNAPSHOTTING);
    let mut conn = Conn::open(&broker);
    let mut expected = Expected::new();
    let churn_started = Instant::now();
    churn(&mut conn, 0, n, &mut expected);
    let churn_took = churn_started.elapsed();
    assert_eq!(actual(&mut conn), expected);
    let first_id = producer_id(&mut conn);
    let end_offset = quorum_end_offset(&mut conn);
    broker.wait_for_log("wrote snapshot", 2);
    broker.wait_for_log("deleted snapshot", 1);
    let (segments, snapshots, dir_bytes) = metadata_files(&broker.log_dir);
    // Cleaning moved the log start: the first segments are gone, as are old snapshots.
    assert_ne!(segments[0], format!("{:020}.log", 0), "{segments:?}");
    assert!(snapshots.len() <= 8, "{snapshots:?}");

    // kill -9: the newest snapshot and the log after it.
    let (broker, killed_took, killed_read) = restart_killed(broker);
    let mut conn = Conn::open(&broker);
    assert_eq!(actual(&mut conn), expected);
    assert_eq!(quorum_end_offset(&mut conn), end_offset);
    let second_id = producer_id(&mut conn);
    assert!(second_id > first_id, "{second_id} after {first_id}");
    broker.wait_for_log("loaded snapshot", 1);

    // More history after the snapshot, then SIGTERM: shutdown writes a snapshot at the end.
    churn(&mut conn, n, n + 200, &mut expected);
    let end_offset = quorum_end_offset(&mut conn);
    let (broker, terminated_took, terminated_read) = restart_terminated(broker);
    let mut conn = Conn::open(&broker);
    assert_eq!(actual(&mut conn), expected);
    assert_eq!(quorum_end_offset(&mut conn), end_offset);
    let (_, snapshots, _) = metadata_files(&broker.log_dir);
    let newest = format!("{end_offset:020}-{:010}.checkpoint", 1);
    assert_eq!(snapshots.last(), Some(&newest), "{snapshots:?}");
    let third_id = producer_id(&mut conn);
    assert!(third_id > second_id, "{third_id} after {second_id}");
    drop(conn);
    drop(broker);

    // The same history with no snapshots: start-up replays all of it.
    let baseline = TestBroker::start_with(NOT_SNAPSHOTTING);
    let mut conn = Conn::open(&baseline);
    let mut baseline_expected = Expected::new();
    churn(&mut conn, 0, n, &mut baseline_expected);
    drop(conn);
    let (_, _, history_bytes) = metadata_files(&baseline.log_dir);
    let (baseline, full_took, full_read) = restart_killed(baseline);
    let mut conn = Conn::open(&baseline);
    assert_eq!(actual(&mut conn).len(), expected.len() - 200 / KEEP_EVERY);

    eprintln!(
        "metadata snapshots, {n} topics created and deleted ({} kept) in {churn_took:?}: \
         history {history_bytes} bytes of metadata log; with snapshots the metadata dir \
         holds {dir_bytes} bytes. Start-up after kill -9: read {killed_read} bytes in \
         {killed_took:?}; after SIGTERM: read {terminated_read} bytes in {terminated_took:?}; \
         without snapshots: read {full_read} bytes in {full_took:?}",
        expected.len()
    );
    // The whole history is read at least once without snapshots; with them, start-up
    // reads far less (the rest is fixed cost: the binary's files, partition directories).
    assert!(full_read > history_bytes, "{full_read} <= {history_bytes}");
    assert!(
        killed_read * 2 < full_read && terminated_read * 2 < full_read,
        "{killed_read} / {terminated_read} vs {full_read}"
    );
    assert!(
        killed_read < history_bytes / 2 + (1 << 20),
        "{killed_read} vs {history_bytes}"
    );
}
