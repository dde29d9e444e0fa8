//! Bounds on what clients can grow, over a real socket: `max.connections` unlimited by
//! default (10,001 connections served), `max.connections.per.ip` refusing the next
//! connection from an address at its limit (closed at accept, one WARN), the listener's
//! `socket.listen.backlog.size`, a 20,000-name CreateTopics answered whole (its duplicate
//! check is one pass), `group.max.size` refusing a JoinGroup with GROUP_MAX_SIZE_REACHED,
//! and `__consumer_offsets` reported as internal by Metadata.

mod common;

use std::net::TcpStream;
use std::process::Command;

use common::{
    CLIENT_ID, TestBroker, assert_closed, read_frame, request_frame, response_body, send_frame,
};
use kafka_broker::apis::Api;
use kafka_broker::apis::api_versions::{self, ApiVersions};
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::join_group::{self, JoinGroup};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::offset_commit::{self, OffsetCommit};
use kafka_broker::protocol::wire::{decode, encode};

const NONE: i16 = 0;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REQUEST: i16 = 42;
const GROUP_MAX_SIZE_REACHED: i16 = 81;

/// One request of `A` at `version`; the response body.
fn send<A: Api>(stream: &mut TcpStream, version: i16, request: &A::Request<'_>) -> Vec<u8> {
    let v = A::SPEC.ver(version);
    let mut body = Vec::new();
    encode(request, v, &mut body).expect("encodes");
    send_frame(
        stream,
        A::SPEC.key,
        version,
        9,
        Some(CLIENT_ID),
        &body,
        v.flexible,
    );
    let payload = read_frame(stream);
    let flexible = v.flexible && A::SPEC.key != ApiVersions::SPEC.key;
    response_body(&payload, 9, flexible).to_vec()
}

/// ApiVersions v3 answers NONE on `stream`.
fn served(stream: &mut TcpStream) -> bool {
    let request = api_versions::Request {
        client_software_name: "bounds",
        client_software_version: "1",
    };
    let body = send::<ApiVersions>(stream, 3, &request);
    let response: api_versions::Response = decode(&body, ApiVersions::SPEC.ver(3)).unwrap();
    response.error_code == NONE
}

/// The soft limit on open files of this process (which the broker inherits).
fn open_files_max() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_thousand_and_one_connections_are_served_by_default() {
    const CONNECTIONS: usize = 10_001;
    if open_files_max() < CONNECTIONS as u64 + 200 {
        eprintln!("skipped: the open-files limit is below {CONNECTIONS} plus headroom");
        return;
    }
    // A queue as deep as the kernel allows, so this test's burst of connects is not paced
    // by SYN retries (Kafka's default of 50 holds a burst to what the loop accepts).
    let broker = TestBroker::start_with("socket.listen.backlog.size=65535");
    let mut streams: Vec<TcpStream> = (0..CONNECTIONS).map(|_| broker.connect()).collect();
    // The first and the last both get answers: none was refused.
    assert!(served(&mut streams[0]));
    assert!(served(streams.last_mut().unwrap()));
    assert!(!broker.log().contains("refusing"), "{}", broker.log());
}

#[test]
fn max_connections_per_ip_refuses_the_next_one_from_that_address() {
    let broker = TestBroker::start_with("max.connections.per.ip=2");
    let mut first = broker.connect();
    let mut second = broker.connect();
    assert!(served(&mut first) && served(&mut second));
    for _ in 0..3 {
        let mut refused = broker.connect();
        assert_closed(&mut refused);
    }
    assert!(served(&mut first));
    let log = broker.wait_for_log("max.connections.per.ip=2 reached", 1);
    assert_eq!(
        log.matches("max.connections.per.ip=2 reached").count(),
        1,
        "{log}"
    );
    // Room again once one closes.
    drop(second);
    let mut third = loop {
        let mut stream = broker.connect();
        // The close may reach the broker after this connect; then this one is refused.
        let request = api_versions::Request {
            client_software_name: "bounds",
            client_software_version: "1",
        };
        let mut body = Vec::new();
        encode(&request, ApiVersions::SPEC.ver(3), &mut body).unwrap();
        let frame = request_frame(ApiVersions::SPEC.key, 3, 9, Some(CLIENT_ID), &body, true);
        // A refused connection may already be reset: the write fails, and this one is retried.
        let mut size = [0u8; 4];
        if std::io::Write::write_all(&mut stream, &frame).is_ok()
            && std::io::Read::read_exact(&mut stream, &mut size).is_ok()
        {
            let mut rest = vec![0u8; i32::from_be_bytes(size) as usize];
            std::io::Read::read_exact(&mut stream, &mut rest).unwrap();
            break stream;
        }
    };
    assert!(served(&mut third));
}

#[test]
fn socket_listen_backlog_size_is_the_listeners_queue() {
    let broker = TestBroker::start_with("socket.listen.backlog.size=7");
    // ss shows a listening socket's backlog as its Send-Q.
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", broker.addr.port())])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped: no ss(8)");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let send_q: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .collect();
    assert_eq!(send_q, ["7"], "{text}");
}

#[test]
fn create_topics_of_twenty_thousand_names_is_answered_whole() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    let mut names: Vec<String> = (0..20_000).map(|i| format!("topic-{i}")).collect();
    names.push("topic-7".to_string());
    let request = create_topics::Request {
        topics: names
            .iter()
            .map(|name| create_topics::Topic {
                name,
                // No partitions: 20,001 of one would pass Kafka's 10,000 partitions per
                // request and refuse the request whole (tests/limits.rs).
                num_partitions: 0,
                replication_factor: 1,
                assignments: vec![],
                configs: vec![],
            })
            .collect(),
        timeout_ms: 10_000,
        validate_only: true,
    };
    let body = send::<CreateTopics>(&mut stream, 7, &request);
    let response: create_topics::Response = decode(&body, CreateTopics::SPEC.ver(7)).unwrap();
    assert_eq!(response.topics.len(), names.len());
    for (topic, name) in response.topics.iter().zip(&names) {
        assert_eq!(&topic.name, name);
        let expected = if name == "topic-7" {
            INVALID_REQUEST
        } else {
            INVALID_PARTITIONS
        };
        assert_eq!(
            topic.error_code, expected,
            "{name}: {:?}",
            topic.error_message
        );
    }
}

fn join(stream: &mut TcpStream, group: &str) -> join_group::Response {
    let request = join_group::Request {
        group_id: group,
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: "",
        group_instance_id: None,
        protocol_type: "consumer",
        protocols: vec![join_group::Protocol {
            name: "range",
            metadata: b"m",
        }],
        reason: None,
    };
    let body = send::<JoinGroup>(stream, 3, &request);
    decode(&body, JoinGroup::SPEC.ver(3)).unwrap()
}

#[test]
fn group_max_size_refuses_the_member_past_it() {
    let broker = TestBroker::start_with("group.max.size=1\ngroup.initial.rebalance.delay.ms=0");
    let mut first = broker.connect();
    let joined = join(&mut first, "g");
    assert_eq!(joined.error_code, NONE);
    assert_eq!(joined.leader, joined.member_id);
    let mut second = broker.connect();
    let refused = join(&mut second, "g");
    assert_eq!(
        (refused.error_code, refused.member_id.as_str()),
        (GROUP_MAX_SIZE_REACHED, "")
    );
    // Another group has its own room.
    assert_eq!(join(&mut second, "other").error_code, NONE);
}

#[test]
fn consumer_offsets_is_internal_in_metadata() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: "t",
            num_partitions: 1,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    send::<CreateTopics>(&mut stream, 7, &request);
    let commit = common::simple_commit("g", "t", 0, 0, -1, None);
    let body = send::<OffsetCommit>(&mut stream, 2, &commit);
    let committed: offset_commit::Response = decode(&body, OffsetCommit::SPEC.ver(2)).unwrap();
    assert_eq!(committed.topics[0].partitions[0].error_code, NONE);
    let request = metadata::Request {
        topics: None,
        allow_auto_topic_creation: false,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    let body = send::<Metadata>(&mut stream, 12, &request);
    let response: metadata::Response = decode(&body, Metadata::SPEC.ver(12)).unwrap();
    let mut internal: Vec<(String, bool)> = response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone().unwrap_or_default().into_owned(),
                t.is_internal,
            )
        })
        .collect();
    internal.sort();
    assert_eq!(
        internal,
        [
            ("__consumer_offsets".to_string(), true),
            ("t".to_string(), false)
        ]
    );
}
