//! Bounds on what clients can grow (issue 12, item 7), over a real socket: closed segments'
//! open files (`log.closed.segment.files.open.max`), the index keys
//! (`segment.index.bytes`, `index.interval.bytes`), the budget for buffered input across
//! connections (`queued.max.request.bytes`), pending member ids counted toward
//! `group.max.size` and expiring, and OffsetCommit for partitions that do not exist.
//!
//! Sizes are small by default; `LIMITS_FULL=1` runs them at full size.

mod common;

use std::fs;

use common::{Conn, Served, TestBroker, create_topic};
use kafka_broker::apis::Api;
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::decode;
use kafka_broker::storage::batch::{self};

const NONE: i16 = 0;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// `small` normally, `full` with `LIMITS_FULL` set.
fn size(small: usize, full: usize) -> usize {
    if std::env::var_os("LIMITS_FULL").is_some() {
        full
    } else {
        small
    }
}

/// The broker process's open file descriptors.
fn open_fds(broker: &TestBroker) -> usize {
    fs::read_dir(format!("/proc/{}/fd", broker.child.id()))
        .expect("the broker's /proc/<pid>/fd")
        .count()
}

const TIMESTAMP: i64 = 1_700_000_000_000;

/// Produces one batch of `values` to partition 0 of `topic`: the error code and base offset.
fn produce(conn: &mut Conn, topic: &str, values: &[Vec<u8>]) -> (i16, i64) {
    produce_at(conn, topic, values, TIMESTAMP)
}

/// [`produce`] with the batch's records stamped `timestamp_ms`.
fn produce_at(conn: &mut Conn, topic: &str, values: &[Vec<u8>], timestamp_ms: i64) -> (i16, i64) {
    let batch = batch::build(0, 0, timestamp_ms, values);
    let request = common::produce_request(topic, 0, &batch);
    let body = conn.send::<Produce>(11, &request);
    let response: produce::Response = decode(&body, Produce::SPEC.ver(11)).unwrap();
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch v4 of partition 0 of `topic` from `offset`.
fn fetch_request(topic: &str, offset: i64) -> fetch::Request<'_> {
    common::fetch_request(topic, 0, offset, 0)
}

/// Fetches partition 0 of `topic` from `offset`: the error code and every whole batch
/// served, each checked valid.
fn fetch(conn: &mut Conn, topic: &str, offset: i64) -> (i16, Vec<Served>) {
    let body = conn.send::<Fetch>(4, &fetch_request(topic, offset));
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(4)).unwrap();
    let p = &response.responses[0].partitions[0];
    (p.error_code, common::served_batches(&p.records))
}

fn values_of(batch: usize) -> Vec<Vec<u8>> {
    (0..3)
        .map(|i| format!("value-{batch}-{i}").into_bytes())
        .collect()
}

/// Reads the whole partition fetch after fetch (a fetch serves one segment at most),
/// checking after each that the broker holds at most `fds_max` descriptors: the values of
/// every batch, in order.
fn read_all_within(
    broker: &TestBroker,
    conn: &mut Conn,
    topic: &str,
    fds_max: usize,
) -> Vec<Vec<Vec<u8>>> {
    let mut batches = Vec::new();
    let mut next = 0;
    loop {
        let (code, served) = fetch(conn, topic, next);
        assert_eq!(code, NONE, "fetch at {next}");
        let fds = open_fds(broker);
        assert!(fds <= fds_max, "{fds} descriptors open, bound {fds_max}");
        if served.is_empty() {
            return batches;
        }
        for (base, values) in served {
            assert_eq!(base, next);
            next = base + values.len() as i64;
            batches.push(values);
        }
    }
}

/// ListOffsets v7 of partition 0 of `topic` by `timestamp`: (error code, offset).
fn offset_at(conn: &mut Conn, topic: &str, timestamp: i64) -> (i16, i64) {
    use kafka_broker::apis::list_offsets::{self, ListOffsets};
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name: topic,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp,
            }],
        }],
        timeout_ms: 0,
    };
    let body = conn.send::<ListOffsets>(7, &request);
    let response: list_offsets::Response = decode(&body, ListOffsets::SPEC.ver(7)).unwrap();
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.offset)
}

/// One batch per segment (200-byte segments): the broker's descriptors stay within the
/// open-file bound over producing every segment, reading them all back in order (every
/// record exact), finding each by timestamp (ListOffsets), and again after a restart,
/// which loads every closed segment.
#[test]
fn reading_many_segments_keeps_open_files_within_the_bound() {
    const OPEN_MAX: usize = 4;
    let segments = size(60, 2000);
    let mut broker =
        TestBroker::start_with(&format!("log.closed.segment.files.open.max={OPEN_MAX}"));
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "many", 1, &[("segment.bytes", "200")]);
    // The active segment's three files are open from here on.
    let fds_max = open_fds(&broker) + OPEN_MAX;
    for i in 0..segments {
        let at = TIMESTAMP + i as i64;
        let produced = produce_at(&mut conn, "many", &values_of(i), at);
        assert_eq!(produced, (NONE, 3 * i as i64));
    }
    let log_files = fs::read_dir(broker.log_dir.join("many-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert_eq!(log_files, segments, "one batch per segment");
    let fds = open_fds(&broker);
    assert!(fds <= fds_max, "{fds} descriptors open after producing");
    let expected: Vec<_> = (0..segments).map(values_of).collect();
    assert_eq!(
        read_all_within(&broker, &mut conn, "many", fds_max),
        expected
    );
    // Twice: segments evicted on the first pass are reopened on the second.
    assert_eq!(
        read_all_within(&broker, &mut conn, "many", fds_max),
        expected
    );
    for i in (0..segments).rev() {
        let at = TIMESTAMP + i as i64;
        assert_eq!(offset_at(&mut conn, "many", at), (NONE, 3 * i as i64));
        let fds = open_fds(&broker);
        assert!(fds <= fds_max, "{fds} descriptors open, bound {fds_max}");
    }

    broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        read_all_within(&broker, &mut conn, "many", fds_max),
        expected
    );
}

/// A closed segment's file that vanished while it was not open is an I/O error when a
/// fetch reopens it: KAFKA_STORAGE_ERROR for that fetch, the broker serving the rest.
#[test]
fn a_segment_file_gone_at_reopen_is_a_storage_error() {
    let broker = TestBroker::start_with("log.closed.segment.files.open.max=1");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "gone", 1, &[("segment.bytes", "200")]);
    for i in 0..4 {
        assert_eq!(
            produce(&mut conn, "gone", &values_of(i)),
            (NONE, 3 * i as i64)
        );
    }
    // Segment 0 is read (opened), then segment 1 (which closes segment 0's file).
    assert_eq!(fetch(&mut conn, "gone", 0).1, [(0, values_of(0))]);
    assert_eq!(fetch(&mut conn, "gone", 3).1, [(3, values_of(1))]);
    fs::remove_file(broker.log_dir.join("gone-0/00000000000000000000.log")).unwrap();
    assert_eq!(fetch(&mut conn, "gone", 0), (KAFKA_STORAGE_ERROR, vec![]));
    broker.wait_for_log("fetch from gone-0", 1);
    assert_eq!(fetch(&mut conn, "gone", 6), (NONE, vec![(6, values_of(2))]));
    assert_eq!(fetch(&mut conn, "gone", 9), (NONE, vec![(9, values_of(3))]));
}

const BUDGET: usize = 1 << 20;
const BUDGET_LOG: &str = "buffered input high water: ";

/// A Produce v11 frame of one batch holding one record of `value` to partition 0 of
/// `topic`, with correlation id `id`.
fn produce_frame(topic: &str, value: &[u8], id: i32) -> Vec<u8> {
    let batch = batch::build(0, 0, 1_700_000_000_000, &[value.to_vec()]);
    let request = produce::Request {
        timeout_ms: 30_000,
        ..common::produce_request(topic, 0, &batch)
    };
    let v = Produce::SPEC.ver(11);
    common::request_frame(
        Produce::SPEC.key,
        11,
        id,
        Some(common::CLIENT_ID),
        &common::body_of(&request, v),
        v.flexible,
    )
}

/// The error code and base offset of a Produce v11 response frame's one partition.
fn produce_answer(payload: &[u8], id: i32) -> (i16, i64) {
    let body = common::response_body(payload, id, Produce::SPEC.response_header_flexible(11));
    let response: produce::Response = decode(body, Produce::SPEC.ver(11)).unwrap();
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// The value of client `i`'s record: sizes from 50 KiB to 900 KiB (one frame of the largest
/// leaves room for no other in the 1 MiB budget), its bytes naming the client.
fn budget_value(i: usize) -> Vec<u8> {
    let kib = [600, 200, 50, 900, 300][i % 5];
    let mut value = format!("client-{i}-").into_bytes();
    value.resize(kib << 10, b'a' + (i % 26) as u8);
    value
}

/// With `queued.max.request.bytes` at 1 MiB (socket.request.max.bytes too), many
/// connections each send one large Produce at once; a few send half of theirs first and the
/// rest only after every other client has sent its whole request (a partly buffered frame
/// must complete while the others wait for budget), and a few send half a frame and close.
/// Every request is answered, every record is stored exactly, and the broker's buffered
/// input never went past the budget by more than one size prefix.
#[test]
fn queued_max_request_bytes_bounds_buffered_input_and_every_request_completes() {
    use std::io::Write;
    use std::sync::{Arc, Barrier};
    let clients = size(16, 64);
    let broker = TestBroker::start_logging(
        common::TempDir::new("budget"),
        &format!("queued.max.request.bytes={BUDGET}\nsocket.request.max.bytes={BUDGET}"),
        "info,kafka_broker::server=debug",
    );
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "budget", 1, &[]);
    let sent = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let mut stream = broker.connect();
            let sent = Arc::clone(&sent);
            std::thread::spawn(move || {
                let frame = produce_frame("budget", &budget_value(i), i as i32);
                if i % 4 == 0 {
                    let half = frame.len() / 2;
                    stream.write_all(&frame[..half]).unwrap();
                    sent.wait();
                    stream.write_all(&frame[half..]).unwrap();
                } else {
                    // Written by a helper thread: the broker may not read it all before
                    // the half-senders finish theirs.
                    let mut writer = stream.try_clone().unwrap();
                    let write = std::thread::spawn(move || writer.write_all(&frame).unwrap());
                    sent.wait();
                    write.join().unwrap();
                }
                produce_answer(&common::read_frame(&mut stream), i as i32)
            })
        })
        .collect();
    // Others send part of a large frame and close: their reservation or place in the
    // queue goes with them.
    let quitters: Vec<_> = (0..4)
        .map(|i| {
            let mut stream = broker.connect();
            std::thread::spawn(move || {
                let frame = produce_frame("budget", &budget_value(3), 100 + i);
                let _ = stream.write_all(&frame[..frame.len() / 2 + 4 * i as usize]);
            })
        })
        .collect();
    let answers: Vec<(i16, i64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for quitter in quitters {
        quitter.join().unwrap();
    }
    let mut offsets: Vec<i64> = answers.iter().map(|&(_, offset)| offset).collect();
    assert!(answers.iter().all(|&(code, _)| code == NONE), "{answers:?}");
    offsets.sort_unstable();
    assert_eq!(offsets, (0..clients as i64).collect::<Vec<_>>());
    for (i, &(_, offset)) in answers.iter().enumerate() {
        let (code, served) = fetch(&mut conn, "budget", offset);
        assert_eq!(code, NONE);
        assert_eq!(served[0], (offset, vec![budget_value(i)]), "client {i}");
    }
    // Every line the reads logged is in: the clients' connections closed after them.
    drop(conn);
    let log = broker.wait_for_log("closing connection", clients + 5);
    let high = log
        .lines()
        .filter_map(|line| line.split_once(BUDGET_LOG))
        .map(|(_, rest)| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
        .max()
        .expect("the budget's high water is logged");
    assert!(high <= BUDGET + 4, "{high} bytes buffered, budget {BUDGET}");
    assert!(
        high >= 900 << 10,
        "the largest frame was buffered whole: {high}"
    );
}

/// As Kafka's KafkaConfig requires, a budget must hold the largest frame: a smaller one
/// stops start-up (status 2) with Kafka's message; -1 (the default) and 0 are no bound.
#[test]
fn queued_max_request_bytes_below_the_frame_limit_is_refused() {
    let dir = common::TempDir::new("budget-config");
    let path = common::write_file(
        dir.path(),
        "small.properties",
        "socket.request.max.bytes=1048576\nqueued.max.request.bytes=1048575\n",
    );
    let out = std::process::Command::new(common::broker_bin())
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "queued.max.request.bytes must be larger or equal to socket.request.max.bytes"
        ),
        "{stderr}"
    );
    for unbounded in ["-1", "0"] {
        let broker = TestBroker::start_with(&format!("queued.max.request.bytes={unbounded}"));
        let mut conn = Conn::open(&broker);
        create_topic(&mut conn, "t", 1, &[]);
        assert_eq!(produce(&mut conn, "t", &values_of(0)), (NONE, 0));
    }
}

const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_MAX_SIZE_REACHED: i16 = 81;
const UNKNOWN_MEMBER_ID: i16 = 25;

/// Waits (up to 30 s, longer than [`TestBroker::wait_for_log`]: a session timeout is at
/// least 6 s) for `needle` in the broker's log.
fn wait_for_log_line(broker: &TestBroker, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !broker.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle:?} not logged"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A JoinGroup v5 request (v4+ requires a known member id) for `group` as `member`.
fn join_request<'a>(
    group: &'a str,
    member: &'a str,
) -> kafka_broker::apis::join_group::Request<'a> {
    kafka_broker::apis::join_group::Request {
        group_id: group,
        session_timeout_ms: 6_000,
        rebalance_timeout_ms: 30_000,
        member_id: member,
        group_instance_id: None,
        protocol_type: "consumer",
        protocols: vec![kafka_broker::apis::join_group::Protocol {
            name: "range",
            metadata: b"m",
        }],
        reason: None,
    }
}

/// A JoinGroup v5 answered at once: its error code and member id.
fn join(conn: &mut Conn, group: &str, member: &str) -> (i16, String) {
    use kafka_broker::apis::join_group::{self, JoinGroup};
    let body = conn.send::<JoinGroup>(5, &join_request(group, member));
    let response: join_group::Response = decode(&body, JoinGroup::SPEC.ver(5)).unwrap();
    (response.error_code, response.member_id)
}

/// `group`'s state and member count (DescribeGroups v0).
fn described(conn: &mut Conn, group: &str) -> (String, usize) {
    use kafka_broker::apis::describe_groups::{self, DescribeGroups};
    let request = describe_groups::Request {
        groups: vec![group],
        include_authorized_operations: false,
    };
    let body = conn.send::<DescribeGroups>(0, &request);
    let response: describe_groups::Response = decode(&body, DescribeGroups::SPEC.ver(0)).unwrap();
    let g = &response.groups[0];
    (g.group_state.clone(), g.members.len())
}

/// Pending member ids (MEMBER_ID_REQUIRED) as Kafka's classic coordinator keeps them: they
/// are not members, so an empty group hands out any number, but their rejoin is checked
/// against `group.max.size` like any join (GROUP_MAX_SIZE_REACHED past it, with an empty
/// member id), as is a new member's JoinGroup; and each expires after the session timeout
/// its JoinGroup gave (a rejoin after that is UNKNOWN_MEMBER_ID).
#[test]
fn pending_member_ids_count_at_rejoin_and_expire_after_their_session_timeout() {
    use kafka_broker::apis::join_group::JoinGroup;
    let pending_count = size(10, 1000);
    let broker = TestBroker::start_logging(
        common::TempDir::new("pending"),
        "group.max.size=2\ngroup.initial.rebalance.delay.ms=3000",
        "info,kafka_broker::coordinator=debug",
    );
    let mut conn = Conn::open(&broker);
    let ids: Vec<String> = (0..pending_count + 2)
        .map(|_| {
            let (code, id) = join(&mut conn, "g", "");
            assert_eq!(code, MEMBER_ID_REQUIRED);
            id
        })
        .collect();
    // Two of them rejoin (their JoinGroups wait out the initial rebalance delay).
    let mut waiting = Vec::new();
    for id in &ids[..2] {
        let mut stream = broker.connect();
        let v = JoinGroup::SPEC.ver(5);
        let body = common::body_of(&join_request("g", id), v);
        common::send_frame(
            &mut stream,
            JoinGroup::SPEC.key,
            5,
            1,
            Some(common::CLIENT_ID),
            &body,
            v.flexible,
        );
        waiting.push(stream);
    }
    while described(&mut conn, "g") != ("PreparingRebalance".to_string(), 2) {
        std::thread::yield_now();
    }
    // The group is full: every other pending id, and a new member, is refused.
    for id in &ids[2..] {
        assert_eq!(
            join(&mut conn, "g", id),
            (GROUP_MAX_SIZE_REACHED, String::new())
        );
    }
    assert_eq!(
        join(&mut conn, "g", ""),
        (GROUP_MAX_SIZE_REACHED, String::new())
    );
    // The two are answered when the rebalance completes.
    for mut stream in waiting {
        let payload = common::read_frame(&mut stream);
        let body = common::response_body(&payload, 1, JoinGroup::SPEC.response_header_flexible(5));
        let response: kafka_broker::apis::join_group::Response =
            decode(body, JoinGroup::SPEC.ver(5)).unwrap();
        assert_eq!(response.error_code, NONE);
    }

    // Another group: a pending id lives for its session timeout (6 s), then it is gone.
    let (code, kept) = join(&mut conn, "h", "");
    assert_eq!(code, MEMBER_ID_REQUIRED);
    for (group, id) in [("g", &ids[2]), ("h", &kept)] {
        wait_for_log_line(
            &broker,
            &format!("group {group}: pending member {id} expired"),
        );
    }
    assert_eq!(
        join(&mut conn, "h", &kept),
        (UNKNOWN_MEMBER_ID, kept.clone())
    );
    assert_eq!(described(&mut conn, "h"), ("Empty".to_string(), 0));
}

/// Groups nothing is left of go as Kafka's offsets-retention pass removes them (the group
/// turns Dead): at the next check once a group has no members, no pending member ids and
/// no committed offsets; a group with offsets stays Empty until they expire, then goes.
#[test]
fn groups_with_no_members_and_no_offsets_are_removed_at_the_retention_check() {
    use kafka_broker::apis::leave_group::{self, LeaveGroup};
    use kafka_broker::apis::offset_commit::{self, OffsetCommit};
    let broker = TestBroker::start_logging(
        common::TempDir::new("dead-groups"),
        "offsets.retention.ms=6000\noffsets.retention.check.interval.ms=100\n\
         group.initial.rebalance.delay.ms=0",
        "info",
    );
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", 1, &[]);
    for group in ["gone", "kept"] {
        let (code, id) = join(&mut conn, group, "");
        assert_eq!(code, MEMBER_ID_REQUIRED);
        assert_eq!(join(&mut conn, group, &id), (NONE, id.clone()));
        let request = leave_group::Request {
            group_id: group,
            member_id: &id,
            members: vec![],
        };
        let body = conn.send::<LeaveGroup>(0, &request);
        let left: leave_group::Response = decode(&body, LeaveGroup::SPEC.ver(0)).unwrap();
        assert_eq!(left.error_code, NONE);
        assert_eq!(described(&mut conn, group), ("Empty".to_string(), 0));
    }
    // "kept" gets an offset committed from outside the group (as a standalone consumer).
    let commit = common::simple_commit("kept", "t", 0, 7, -1, None);
    let body = conn.send::<OffsetCommit>(2, &commit);
    let committed: offset_commit::Response = decode(&body, OffsetCommit::SPEC.ver(2)).unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, NONE);

    let removed = "removed 1 groups with no members and no offsets";
    wait_for_log_line(&broker, removed);
    assert_eq!(described(&mut conn, "gone"), ("Dead".to_string(), 0));
    assert_eq!(described(&mut conn, "kept"), ("Empty".to_string(), 0));
    // Once its offset expires (6 s after its commit), "kept" goes too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while broker.log().matches(removed).count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{removed:?} not logged twice"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(broker.log().contains("removed 1 expired offsets"));
    assert_eq!(described(&mut conn, "kept"), ("Dead".to_string(), 0));
}

const INVALID_CONFIG: i16 = 40;

/// One IncrementalAlterConfigs v1 SET of `key` on topic `topic`: (code, message).
fn set_topic_config(conn: &mut Conn, topic: &str, key: &str, value: &str) -> (i16, Option<String>) {
    use kafka_broker::apis::incremental_alter_configs::{
        self as incremental, IncrementalAlterConfigs,
    };
    let request = incremental::Request {
        resources: vec![incremental::Resource {
            resource_type: 2,
            resource_name: topic,
            configs: vec![incremental::Config {
                name: key,
                config_operation: 0,
                value: Some(value),
            }],
        }],
        validate_only: false,
    };
    let body = conn.send::<IncrementalAlterConfigs>(1, &request);
    let mut response = common::decoded::<IncrementalAlterConfigs>(&body, 1);
    let r = response.responses.remove(0);
    (r.error_code, r.error_message)
}

/// `key` of topic `topic` as DescribeConfigs v4 gives it: (value, source, synonyms as
/// (name, source)).
fn topic_config(
    conn: &mut Conn,
    topic: &str,
    key: &str,
) -> (Option<String>, i8, Vec<(String, i8)>) {
    use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
    let request = describe_configs::Request {
        resources: vec![describe_configs::Resource {
            resource_type: 2,
            resource_name: topic,
            configuration_keys: Some(vec![key]),
        }],
        include_synonyms: true,
        include_documentation: false,
    };
    let body = conn.send::<DescribeConfigs>(4, &request);
    let mut result = common::decoded::<DescribeConfigs>(&body, 4)
        .results
        .remove(0);
    let c = result.configs.remove(0);
    let synonyms = c.synonyms.into_iter().map(|s| (s.name, s.source)).collect();
    (c.value, c.config_source, synonyms)
}

/// `index.interval.bytes` and `segment.index.bytes` are checked with Kafka's ranges at
/// CreateTopics and IncrementalAlterConfigs, described with their broker synonyms, and
/// applied: the active segment's index files are `segment.index.bytes` long and hold an
/// entry per `index.interval.bytes` of log (every batch after the first with 0).
#[test]
fn index_keys_are_checked_described_and_applied() {
    let broker = TestBroker::start_with("log.index.size.max.bytes=4096");
    let mut conn = Conn::open(&broker);
    for (key, value, why) in [
        ("index.interval.bytes", "-1", "Value must be at least 0"),
        ("segment.index.bytes", "3", "Value must be at least 4"),
        ("segment.index.bytes", "4096x", "Not a number of type INT"),
    ] {
        let answer = common::create_topic_answer(&mut conn, "bad", 1, &[(key, value)]);
        assert_eq!(
            (answer.error_code, answer.error_message),
            (
                INVALID_CONFIG,
                Some(format!(
                    "Invalid value {value} for configuration {key}: {why}"
                ))
            )
        );
    }
    create_topic(&mut conn, "dense", 1, &[("index.interval.bytes", "0")]);
    create_topic(&mut conn, "sparse", 1, &[("segment.index.bytes", "80")]);
    for i in 0..6 {
        assert_eq!(produce(&mut conn, "dense", &values_of(i)).0, NONE);
        assert_eq!(produce(&mut conn, "sparse", &values_of(i)).0, NONE);
    }
    let index_len = |topic: &str, suffix: &str| {
        fs::metadata(
            broker
                .log_dir
                .join(format!("{topic}-0/00000000000000000000{suffix}")),
        )
        .unwrap()
        .len()
    };
    // The broker's log.index.size.max.bytes, and the topic's own segment.index.bytes.
    assert_eq!(index_len("dense", ".index"), 4096);
    assert_eq!(index_len("sparse", ".index"), 80);
    assert_eq!(index_len("sparse", ".timeindex"), 72);
    // Five entries in the dense index (batches 1-5), none in the sparse one (4096 bytes
    // apart): the first 40 bytes of each file.
    let entries = |topic: &str| {
        let bytes = fs::read(
            broker
                .log_dir
                .join(format!("{topic}-0/00000000000000000000.index")),
        )
        .unwrap();
        bytes[..40]
            .chunks(8)
            .filter(|e| e != &[0u8; 8])
            .map(|e| u32::from_be_bytes(e[..4].try_into().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries("dense"),
        [5, 8, 11, 14, 17],
        "each batch's last offset"
    );
    assert_eq!(entries("sparse"), Vec::<u32>::new());
    // Every record reads back through the dense index.
    for i in 0..6 {
        let (code, served) = fetch(&mut conn, "dense", 3 * i as i64);
        assert_eq!((code, &served[0]), (NONE, &(3 * i as i64, values_of(i))));
    }

    assert_eq!(
        set_topic_config(&mut conn, "dense", "index.interval.bytes", "-5"),
        (
            INVALID_CONFIG,
            Some(
                "Invalid value -5 for configuration index.interval.bytes: Value must be at least 0"
                    .into()
            )
        )
    );
    assert_eq!(
        set_topic_config(&mut conn, "dense", "segment.index.bytes", "1024"),
        (NONE, None)
    );
    assert_eq!(
        topic_config(&mut conn, "dense", "index.interval.bytes"),
        (
            Some("0".into()),
            1,
            vec![
                ("index.interval.bytes".into(), 1),
                ("log.index.interval.bytes".into(), 5)
            ]
        )
    );
    assert_eq!(
        topic_config(&mut conn, "dense", "segment.index.bytes"),
        (
            Some("1024".into()),
            1,
            vec![
                ("segment.index.bytes".into(), 1),
                ("log.index.size.max.bytes".into(), 4),
                ("log.index.size.max.bytes".into(), 5)
            ]
        )
    );
}

const LEADER_NOT_AVAILABLE: i16 = 5;
const POLICY_VIOLATION: i16 = 44;
const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// CreateTopics of `topics` as (name, partitions): each topic's (name, code, message).
fn create_many(
    conn: &mut Conn,
    topics: &[(&str, i32)],
    validate_only: bool,
) -> Vec<(String, i16, Option<String>)> {
    use kafka_broker::apis::create_topics::{self, CreateTopics};
    let request = create_topics::Request {
        topics: topics
            .iter()
            .map(|&(name, num_partitions)| create_topics::Topic {
                name,
                num_partitions,
                replication_factor: 1,
                assignments: vec![],
                configs: vec![],
            })
            .collect(),
        timeout_ms: 10_000,
        validate_only,
    };
    let body = conn.send::<CreateTopics>(7, &request);
    let response = common::decoded::<CreateTopics>(&body, 7);
    let results = response.topics.into_iter();
    results
        .map(|t| (t.name, t.error_code, t.error_message))
        .collect()
}

/// The names Metadata v9 answers for `names` (none: every topic), with their error codes.
fn metadata_of(conn: &mut Conn, names: Option<&[&str]>, auto_create: bool) -> Vec<(String, i16)> {
    use kafka_broker::apis::metadata::{self, Metadata};
    let request = metadata::Request {
        topics: names.map(|names| {
            names
                .iter()
                .map(|&name| metadata::RequestTopic {
                    topic_id: [0; 16],
                    name: Some(name),
                })
                .collect()
        }),
        allow_auto_topic_creation: auto_create,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let body = conn.send::<Metadata>(9, &request);
    let response: metadata::Response = decode(&body, Metadata::SPEC.ver(9)).unwrap();
    let topics = response.topics.into_iter();
    topics
        .map(|t| (t.name.unwrap_or_default().into_owned(), t.error_code))
        .collect()
}

/// Kafka bounds topic creation per request, not in total: its controller refuses a
/// CreateTopics whole (POLICY_VIOLATION for every topic, duplicates too) when its topics
/// ask for more than 10,000 partitions (MAX_PARTITIONS_PER_BATCH), counting -1 as
/// `num.partitions`; the topics Metadata auto-creates go to it in one such request, so
/// past 10,000 partitions none is created (LEADER_NOT_AVAILABLE, as while a creation is
/// pending).
#[test]
fn topic_creation_is_bounded_per_request_as_kafkas_controller_bounds_it() {
    let broker = TestBroker::start_with("num.partitions=3334");
    let mut conn = Conn::open(&broker);
    let refused = |name: &str| {
        (
            name.to_string(),
            POLICY_VIOLATION,
            Some(TOO_MANY_PARTITIONS.to_string()),
        )
    };
    // 5,000 + 5,001 (and a duplicate, which Kafka leaves out of the count but answers too).
    assert_eq!(
        create_many(
            &mut conn,
            &[("a", 5000), ("b", 5001), ("d", 1), ("d", 1)],
            true
        ),
        [refused("a"), refused("b"), refused("d"), refused("d")]
    );
    // Three of num.partitions (-1) are 10,002.
    assert_eq!(
        create_many(&mut conn, &[("a", -1), ("b", -1), ("c", -1)], false),
        [refused("a"), refused("b"), refused("c")]
    );
    // 10,000 exactly pass (validated only: that many partitions would be made).
    let passed = create_many(
        &mut conn,
        &[("a", 5000), ("b", 5000), ("d", 1), ("d", 1)],
        true,
    );
    let codes: Vec<i16> = passed.iter().map(|(_, code, _)| *code).collect();
    assert_eq!(codes, [NONE, NONE, 42, 42]);
    // Many small topics: 20,001 of one partition.
    let names: Vec<String> = (0..size(10_001, 20_001)).map(|i| format!("t{i}")).collect();
    let many: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let answered = create_many(&mut conn, &many, false);
    assert_eq!(answered.len(), many.len());
    assert!(
        answered
            .iter()
            .all(|(_, code, _)| *code == POLICY_VIOLATION)
    );

    // Metadata: three unknown names of 3,334 partitions each are not created.
    assert_eq!(
        metadata_of(&mut conn, Some(&["x", "y", "z", "x"]), true),
        [
            ("x".to_string(), LEADER_NOT_AVAILABLE),
            ("y".to_string(), LEADER_NOT_AVAILABLE),
            ("z".to_string(), LEADER_NOT_AVAILABLE),
            ("x".to_string(), LEADER_NOT_AVAILABLE),
        ]
    );
    assert_eq!(metadata_of(&mut conn, None, false), []);
    assert!(fs::read_dir(&broker.log_dir).unwrap().all(|e| {
        let name = e.unwrap().file_name();
        !["a-0", "x-0", "t0-0"].contains(&name.to_str().unwrap())
    }));
}
