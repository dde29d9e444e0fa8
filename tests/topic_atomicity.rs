//! CreateTopics and DeleteTopics are atomic over a real broker: a CreateTopics that fails
//! on a full file system (no inodes left, no bytes left), out of file descriptors or at a
//! path that cannot be made answers an error and leaves nothing a restart loads; a
//! DeleteTopics followed by kill -9 leaves the topic gone and no `-delete` directory
//! behind, and a topic created again under the name starts empty with a new id. The full file systems are small tmpfs mounts (the
//! tests run as root in CI); where mounting fails, those tests say so and pass as skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Conn, TempDir, TestBroker};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::delete_topics::{self, DeleteTopics};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::produce::Produce;
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

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

/// CreateTopics v7 of one topic: its error code and message.
fn create(conn: &mut Conn, name: &str, partitions: i32) -> (i16, Option<String>) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: partitions,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![create_topics::Config {
                name: "retention.ms",
                value: Some("86400000"),
            }],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let mut body = Vec::new();
    let response = conn.call::<CreateTopics>(7, &request, &mut body);
    let topic = &response.topics[0];
    (topic.error_code, topic.error_message.clone())
}

fn delete(conn: &mut Conn, name: &str) -> i16 {
    let request = delete_topics::Request {
        topics: vec![],
        topic_names: vec![name],
        timeout_ms: 10_000,
    };
    let mut body = Vec::new();
    let response = conn.call::<DeleteTopics>(4, &request, &mut body);
    response.responses[0].error_code
}

/// Metadata v12 of `name` without auto-creation: error code, topic id, partition count.
fn describe(conn: &mut Conn, name: &str) -> (i16, [u8; 16], usize) {
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            topic_id: [0; 16],
            name: Some(name),
        }]),
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let mut body = Vec::new();
    let response = conn.call::<Metadata>(12, &request, &mut body);
    let topic = &response.topics[0];
    (topic.error_code, topic.topic_id, topic.partitions.len())
}

fn produce_one(conn: &mut Conn, name: &str, partition: i32) {
    let batch = batch::build(0, 0, 1_700_000_000_000, &[b"v".to_vec()]);
    let request = common::produce_request(name, partition, &batch);
    let mut body = Vec::new();
    let response = conn.call::<Produce>(11, &request, &mut body);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        NONE
    );
}

fn log_end(conn: &mut Conn, name: &str, partition: i32) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: -1,
                timestamp: -1,
            }],
        }],
        timeout_ms: 0,
    };
    let mut body = Vec::new();
    let response = conn.call::<ListOffsets>(7, &request, &mut body);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    p.offset
}

/// The log dir's entries whose names start with `prefix`.
fn entries(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// A small tmpfs mounted at a temp dir's log dir, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts one with `options` (`size=`, `nr_inodes=`), or `None` where this process may
    /// not mount (not root, no mount(8)).
    fn mount(dir: &TempDir, options: &str) -> Option<Tmpfs> {
        let path = dir.path().join("kraft-combined-logs");
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "skipped: cannot mount a tmpfs at {} (not root?)",
                path.display()
            );
            return None;
        }
        Some(Tmpfs { path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system holding `dir` to its last byte; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    path
}

#[test]
fn create_topics_out_of_inodes_leaves_nothing_a_restart_loads() {
    let dir = TempDir::new("atomic-inodes");
    // Room for the broker's own files and a few partitions, not for 50.
    let Some(_tmpfs) = Tmpfs::mount(&dir, "size=16m,nr_inodes=48") else {
        return;
    };
    let broker = TestBroker::start_in(dir, "");
    let mut conn = Conn::open(&broker);
    let (code, message) = create(&mut conn, "big", 50);
    assert_eq!(code, UNKNOWN_SERVER_ERROR, "{message:?}");
    assert!(message.is_some_and(|m| m.contains("No space left")));
    assert_eq!(describe(&mut conn, "big").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(entries(&broker.log_dir, "big").is_empty());
    // What the failure made is gone, so a smaller topic fits.
    assert_eq!(create(&mut conn, "small", 2).0, NONE);
    produce_one(&mut conn, "small", 1);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "big").0, UNKNOWN_TOPIC_OR_PARTITION);
    let (code, _, partitions) = describe(&mut conn, "small");
    assert_eq!((code, partitions), (NONE, 2));
    assert_eq!(log_end(&mut conn, "small", 1), 1);
}

#[test]
fn create_topics_on_a_full_disk_leaves_nothing_a_restart_loads() {
    let dir = TempDir::new("atomic-full");
    let Some(tmpfs) = Tmpfs::mount(&dir, "size=1m") else {
        return;
    };
    let broker = TestBroker::start_in(dir, "");
    let mut conn = Conn::open(&broker);
    let filler = fill(&tmpfs.path);
    let (code, message) = create(&mut conn, "full", 3);
    assert_eq!(code, UNKNOWN_SERVER_ERROR, "{message:?}");
    assert_eq!(describe(&mut conn, "full").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(entries(&broker.log_dir, "full").is_empty());
    std::fs::remove_file(filler).unwrap();
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "full").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(create(&mut conn, "full", 3).0, NONE);
    assert_eq!(describe(&mut conn, "full").2, 3);
}

#[test]
fn create_topics_where_a_directory_cannot_be_made_leaves_nothing() {
    let broker = TestBroker::start();
    // A file where partition 1's directory must go.
    std::fs::write(broker.log_dir.join("odd-1"), b"someone else's").unwrap();
    let mut conn = Conn::open(&broker);
    let (code, message) = create(&mut conn, "odd", 3);
    assert_eq!(code, UNKNOWN_SERVER_ERROR, "{message:?}");
    assert_eq!(entries(&broker.log_dir, "odd"), ["odd-1"]);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "odd").0, UNKNOWN_TOPIC_OR_PARTITION);
    std::fs::remove_file(broker.log_dir.join("odd-1")).unwrap();
    assert_eq!(create(&mut conn, "odd", 3).0, NONE);
}

#[test]
fn delete_topics_then_kill_leaves_it_gone_and_a_new_one_empty() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    assert_eq!(create(&mut conn, "t", 3).0, NONE);
    for partition in 0..3 {
        produce_one(&mut conn, "t", partition);
    }
    let (_, old_id, _) = describe(&mut conn, "t");
    assert_eq!(delete(&mut conn, "t"), NONE);
    assert!(
        !entries(&broker.log_dir, "t-")
            .iter()
            .any(|name| !name.ends_with("-delete"))
    );
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "t").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(create(&mut conn, "t", 3).0, NONE);
    let (_, new_id, _) = describe(&mut conn, "t");
    assert_ne!(new_id, old_id);
    for partition in 0..3 {
        assert_eq!(log_end(&mut conn, "t", partition), 0);
    }
    // The deleted partitions' directories are removed by the timer, a bounded step a turn;
    // any round trip after that finds them gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while entries(&broker.log_dir, "t-").len() > 3 && std::time::Instant::now() < deadline {
        describe(&mut conn, "t");
    }
    assert_eq!(entries(&broker.log_dir, "t-"), ["t-0", "t-1", "t-2"]);
}

#[test]
fn a_deletion_cut_before_its_record_is_undone_at_start() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    assert_eq!(create(&mut conn, "kept", 2).0, NONE);
    produce_one(&mut conn, "kept", 0);
    produce_one(&mut conn, "kept", 1);
    let (_, id, _) = describe(&mut conn, "kept");
    drop(conn);
    let log_dir = broker.log_dir.clone();
    let mut broker = broker;
    broker.child.kill().unwrap();
    broker.child.wait().unwrap();
    // What a kill -9 after DeleteTopics' first rename leaves.
    let renamed = "kept-0.0123456789abcdef0123456789abcdef-delete";
    std::fs::rename(log_dir.join("kept-0"), log_dir.join(renamed)).unwrap();
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "kept"), (NONE, id, 2));
    assert_eq!(log_end(&mut conn, "kept", 0), 1);
    assert_eq!(log_end(&mut conn, "kept", 1), 1);
    assert_eq!(entries(&broker.log_dir, "kept"), ["kept-0", "kept-1"]);
}

#[test]
fn create_topics_out_of_file_descriptors_leaves_nothing_a_restart_loads() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    assert_eq!(create(&mut conn, "before", 1).0, NONE);
    // Each partition holds its segment file open: 64 descriptors cannot hold 200 of them.
    let pid = broker.child.id().to_string();
    let limited = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=64:64"])
        .status();
    if !limited.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no prlimit(1)");
        return;
    }
    let (code, message) = create(&mut conn, "many", 200);
    assert_eq!(code, UNKNOWN_SERVER_ERROR, "{message:?}");
    assert!(message.is_some_and(|m| m.contains("Too many open files")));
    assert_eq!(describe(&mut conn, "many").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(entries(&broker.log_dir, "many").is_empty());
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(describe(&mut conn, "many").0, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(describe(&mut conn, "before").2, 1);
    assert_eq!(create(&mut conn, "many", 200).0, NONE);
}
