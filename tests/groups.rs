//! The group coordinator and committed offsets over a real socket: FindCoordinator,
//! JoinGroup (MEMBER_ID_REQUIRED, parked joins, rebalances), SyncGroup (the follower waits
//! for the leader's assignment), Heartbeat, LeaveGroup, ListGroups, DescribeGroups, session
//! expiry, abandoned joins, OffsetCommit and OffsetFetch (across a restart). Requests are
//! the APIs' declared structs encoded with `Wire::write` and responses read with
//! `Wire::read`; for each API one old (non-flexible) and one flexible response is also
//! checked byte for byte.

mod common;

use std::marker::PhantomData;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    CLIENT_ID, TestBroker, assert_bytes, assert_quiet, read_frame, response_body, send_frame,
};
use kafka_broker::apis::{
    create_topics, delete_groups, describe_groups, find_coordinator, heartbeat, join_group,
    leave_group, list_groups, offset_commit, offset_delete, offset_fetch, sync_group,
};
use kafka_broker::protocol::wire::{Ver, Wire};
use kafka_broker::protocol::{DecodeError, Reader, Writer};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
const INVALID_GROUP_ID: i16 = 24;
const MEMBER_ID_REQUIRED: i16 = 79;

/// DescribeGroups' authorized_operations when not asked for.
const OPERATIONS_UNSET: i32 = i32::MIN;
/// READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what a group allows (Kafka 4.2).
const GROUP_OPERATIONS: i32 = 0x0d48;

const RANGE_METADATA: &[u8] = b"\x00\x03range-subscription";
const ROUND_ROBIN_METADATA: &[u8] = b"\x00\x03rr-subscription";

fn group_broker() -> TestBroker {
    TestBroker::start_with("group.initial.rebalance.delay.ms=0")
}

// ---- Requests through the codecs ----

/// A request codec: its api key, first flexible version and response type.
trait Api {
    const KEY: i16;
    const FIRST_FLEXIBLE: i16;
    type Response: Decode;
    fn encode_body(&self, w: &mut Writer, version: i16);
}

trait Decode: Sized {
    fn decode_body(r: &mut Reader<'_>, version: i16) -> Result<Self, DecodeError>;
}

macro_rules! api {
    ($($module:ident = $key:literal, flexible from $flex:literal;)*) => {$(
        impl Api for $module::Request<'_> {
            const KEY: i16 = $key;
            const FIRST_FLEXIBLE: i16 = $flex;
            type Response = $module::Response;
            fn encode_body(&self, w: &mut Writer, version: i16) {
                let v = Ver { version, flexible: version >= $flex };
                Wire::write(self, w, v).unwrap();
            }
        }
        impl Decode for $module::Response {
            fn decode_body(r: &mut Reader<'_>, version: i16) -> Result<Self, DecodeError> {
                Wire::read(r, Ver { version, flexible: version >= $flex })
            }
        }
    )*};
}

api! {
    offset_commit = 8, flexible from 8;
    offset_fetch = 9, flexible from 6;
    find_coordinator = 10, flexible from 3;
    join_group = 11, flexible from 6;
    heartbeat = 12, flexible from 4;
    leave_group = 13, flexible from 4;
    sync_group = 14, flexible from 4;
    describe_groups = 15, flexible from 5;
    list_groups = 16, flexible from 3;
    create_topics = 19, flexible from 5;
    delete_groups = 42, flexible from 2;
    offset_delete = 47, flexible from 99;
}

/// A request sent whose response has not been read yet.
struct Pending<T> {
    correlation_id: i32,
    version: i16,
    flexible: bool,
    response: PhantomData<T>,
}

struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Conn {
    fn open(broker: &TestBroker) -> Conn {
        Conn {
            stream: broker.connect(),
            next_correlation_id: 0x100,
        }
    }

    fn send<R: Api>(&mut self, version: i16, request: &R) -> Pending<R::Response> {
        let mut body = Vec::new();
        request.encode_body(&mut Writer::new(&mut body), version);
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let flexible = version >= R::FIRST_FLEXIBLE;
        send_frame(
            &mut self.stream,
            R::KEY,
            version,
            correlation_id,
            Some(CLIENT_ID),
            &body,
            flexible,
        );
        Pending {
            correlation_id,
            version,
            flexible,
            response: PhantomData,
        }
    }

    /// The response body (after the header) and its decoding, which must use every byte.
    fn recv_raw<T: Decode>(&mut self, pending: Pending<T>) -> (Vec<u8>, T) {
        let payload = read_frame(&mut self.stream);
        let body = response_body(&payload, pending.correlation_id, pending.flexible).to_vec();
        let mut r = Reader::new(&body);
        let decoded = T::decode_body(&mut r, pending.version)
            .unwrap_or_else(|e| panic!("v{} response does not decode: {e:?}", pending.version));
        assert_eq!(
            r.remaining(),
            0,
            "bytes after the v{} response",
            pending.version
        );
        (body, decoded)
    }

    fn recv<T: Decode>(&mut self, pending: Pending<T>) -> T {
        self.recv_raw(pending).1
    }

    fn call<R: Api>(&mut self, version: i16, request: &R) -> R::Response {
        let pending = self.send(version, request);
        self.recv(pending)
    }

    fn call_raw<R: Api>(&mut self, version: i16, request: &R) -> (Vec<u8>, R::Response) {
        let pending = self.send(version, request);
        self.recv_raw(pending)
    }

    /// Asserts the connection has nothing to read (a parked request stays unanswered).
    fn assert_waiting(&mut self) {
        assert_quiet(&mut self.stream, Duration::from_millis(300));
    }
}

// ---- Expected bytes, built by hand ----

#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn new() -> B {
        B::default()
    }
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
    /// An unsigned varint (lengths here stay below 128: one byte).
    fn uv(&mut self, v: usize) -> &mut Self {
        assert!(v < 0x80, "test lengths fit one varint byte");
        self.0.push(v as u8);
        self
    }
    /// STRING: int16 length.
    fn s(&mut self, s: &str) -> &mut Self {
        self.i16(s.len() as i16);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// A null STRING.
    fn s_null(&mut self) -> &mut Self {
        self.i16(-1)
    }
    /// BYTES: int32 length.
    fn by(&mut self, b: &[u8]) -> &mut Self {
        self.i32(b.len() as i32);
        self.0.extend_from_slice(b);
        self
    }
    /// ARRAY: int32 count.
    fn arr(&mut self, n: usize) -> &mut Self {
        self.i32(n as i32)
    }
    /// COMPACT_STRING.
    fn cs(&mut self, s: &str) -> &mut Self {
        self.uv(s.len() + 1);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// A null COMPACT_STRING / COMPACT_ARRAY.
    fn c_null(&mut self) -> &mut Self {
        self.uv(0)
    }
    /// COMPACT_BYTES.
    fn cby(&mut self, b: &[u8]) -> &mut Self {
        self.uv(b.len() + 1);
        self.0.extend_from_slice(b);
        self
    }
    /// COMPACT_ARRAY count.
    fn carr(&mut self, n: usize) -> &mut Self {
        self.uv(n + 1)
    }
    /// A UUID (a topic id).
    fn uuid(&mut self, id: &[u8; 16]) -> &mut Self {
        self.0.extend_from_slice(id);
        self
    }
    /// An empty tagged-field section.
    fn tags(&mut self) -> &mut Self {
        self.uv(0)
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

// ---- Request builders ----

const CONSUMER: &str = "consumer";

fn join_request<'a>(
    group: &'a str,
    member: &'a str,
    session_timeout_ms: i32,
    protocols: &[(&'a str, &'a [u8])],
) -> join_group::Request<'a> {
    join_group::Request {
        group_id: group,
        session_timeout_ms,
        rebalance_timeout_ms: 10_000,
        member_id: member,
        group_instance_id: None,
        protocol_type: CONSUMER,
        protocols: protocols
            .iter()
            .map(|&(name, metadata)| join_group::Protocol { name, metadata })
            .collect(),
        reason: None,
    }
}

fn consumer_protocols() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("range", RANGE_METADATA),
        ("roundrobin", ROUND_ROBIN_METADATA),
    ]
}

fn join<'a>(group: &'a str, member: &'a str) -> join_group::Request<'a> {
    join_request(group, member, 10_000, &consumer_protocols())
}

fn sync<'a>(
    group: &'a str,
    generation: i32,
    member: &'a str,
    assignments: &[(&'a str, &'a [u8])],
) -> sync_group::Request<'a> {
    sync_group::Request {
        group_id: group,
        generation_id: generation,
        member_id: member,
        group_instance_id: None,
        protocol_type: Some(CONSUMER),
        protocol_name: Some("range"),
        assignments: assignments
            .iter()
            .map(|&(member_id, assignment)| sync_group::Assignment {
                member_id,
                assignment,
            })
            .collect(),
    }
}

fn beat<'a>(group: &'a str, generation: i32, member: &'a str) -> heartbeat::Request<'a> {
    heartbeat::Request {
        group_id: group,
        generation_id: generation,
        member_id: member,
        group_instance_id: None,
    }
}

fn describe<'a>(groups: &[&'a str], include_operations: bool) -> describe_groups::Request<'a> {
    describe_groups::Request {
        groups: groups.to_vec(),
        include_authorized_operations: include_operations,
    }
}

/// Creates a topic; returns its id.
fn create_topic(conn: &mut Conn, name: &str, partitions: i32) -> [u8; 16] {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: partitions,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response = conn.call(7, &request);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(
        (
            response.topics[0].error_code,
            &response.topics[0].error_message
        ),
        (NONE, &None),
        "creating {name}"
    );
    response.topics[0].topic_id
}

/// What JoinGroup answers a member that joined as leader of a one-member generation.
fn expected_leader_join(version: i16, generation: i32, member: &str) -> join_group::Response {
    join_group::Response {
        throttle_time_ms: 0,
        error_code: NONE,
        generation_id: generation,
        protocol_type: (version >= 7).then(|| CONSUMER.to_string()),
        protocol_name: Some("range".into()),
        leader: member.into(),
        skip_assignment: false,
        member_id: member.into(),
        members: vec![join_group::Member {
            member_id: member.into(),
            group_instance_id: None,
            metadata: RANGE_METADATA.to_vec(),
        }],
    }
}

/// A JoinGroup error response as the broker shapes it.
fn join_error(version: i16, error_code: i16, member: &str) -> join_group::Response {
    join_group::Response {
        throttle_time_ms: 0,
        error_code,
        generation_id: -1,
        protocol_type: None,
        // Before v7 protocol_name is a non-nullable STRING: "" decodes as Some("").
        protocol_name: (version < 7).then(String::new),
        leader: String::new(),
        skip_assignment: false,
        member_id: member.into(),
        members: vec![],
    }
}

/// Joins `group` alone (asking for a member id first from v4), and syncs `assignment` as
/// leader: the group is Stable at generation 1. Returns the member id.
fn join_alone(conn: &mut Conn, version: i16, group: &str, assignment: &[u8]) -> String {
    let mut member = String::new();
    if version >= 4 {
        let required = conn.call(version, &join(group, ""));
        assert_eq!(
            required.error_code, MEMBER_ID_REQUIRED,
            "JoinGroup v{version}"
        );
        member = required.member_id;
    }
    let joined = conn.call(version, &join(group, &member));
    if member.is_empty() {
        member = joined.member_id.clone();
    }
    assert_eq!(
        joined,
        expected_leader_join(version, 1, &member),
        "JoinGroup v{version}"
    );
    let synced = conn.call(3, &sync(group, 1, &member, &[(&member, assignment)]));
    assert_eq!(
        (synced.error_code, synced.assignment.as_slice()),
        (NONE, assignment)
    );
    member
}

// ---- FindCoordinator ----

#[test]
fn find_coordinator_every_version_names_this_broker() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let host = "127.0.0.1";
    let port = i32::from(broker.addr.port());
    for version in 0..=3 {
        let request = find_coordinator::Request {
            key: "my-group",
            key_type: 0,
            coordinator_keys: vec![],
        };
        let (body, response) = conn.call_raw(version, &request);
        assert_eq!(
            response,
            find_coordinator::Response {
                throttle_time_ms: 0,
                error_code: NONE,
                error_message: None,
                node_id: 1,
                host: host.into(),
                port,
                coordinators: vec![],
            },
            "FindCoordinator v{version}"
        );
        let expected = match version {
            0 => B::new().i16(0).i32(1).s(host).i32(port).done(),
            1 | 2 => B::new()
                .i32(0)
                .i16(0)
                .s_null()
                .i32(1)
                .s(host)
                .i32(port)
                .done(),
            _ => B::new()
                .i32(0)
                .i16(0)
                .c_null()
                .i32(1)
                .cs(host)
                .i32(port)
                .tags()
                .done(),
        };
        assert_bytes(&body, &expected);
    }
    for version in [4, 5, 6] {
        let request = find_coordinator::Request {
            key: "",
            key_type: 0,
            coordinator_keys: vec!["group-a", "group-b"],
        };
        let (body, response) = conn.call_raw(version, &request);
        let coordinator = |key: &str| find_coordinator::Coordinator {
            key: key.into(),
            node_id: 1,
            host: host.into(),
            port,
            error_code: NONE,
            error_message: None,
        };
        assert_eq!(
            response.coordinators,
            vec![coordinator("group-a"), coordinator("group-b")],
            "FindCoordinator v{version}"
        );
        assert_eq!((response.throttle_time_ms, response.error_code), (0, NONE));
        let mut expected = B::new();
        expected.i32(0).carr(2);
        for key in ["group-a", "group-b"] {
            expected
                .cs(key)
                .i32(1)
                .cs(host)
                .i32(port)
                .i16(0)
                .c_null()
                .tags();
        }
        assert_bytes(&body, &expected.tags().done());
    }
}

// ---- JoinGroup, SyncGroup, Heartbeat: one member ----

#[test]
fn join_v4_plus_asks_for_a_member_id_then_the_member_leads_generation_1() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    for version in 4..=9 {
        let group = format!("join-v{version}");
        let (body, required) = conn.call_raw(version, &join(&group, ""));
        let member = required.member_id.clone();
        assert!(
            member.starts_with(&format!("{CLIENT_ID}-")),
            "member id {member:?} starts with the client id"
        );
        assert_eq!(
            required,
            join_error(version, MEMBER_ID_REQUIRED, &member),
            "v{version}"
        );
        if version == 9 {
            let expected = B::new()
                .i32(0)
                .i16(MEMBER_ID_REQUIRED)
                .i32(-1)
                .c_null() // protocol_type
                .c_null() // protocol_name
                .cs("") // leader
                .i8(0) // skip_assignment
                .cs(&member)
                .carr(0)
                .tags()
                .done();
            assert_bytes(&body, &expected);
        }
        // An unknown member id that was never handed out is refused.
        let stranger = conn.call(version, &join(&group, "stranger"));
        assert_eq!(stranger, join_error(version, UNKNOWN_MEMBER_ID, "stranger"));

        let (body, joined) = conn.call_raw(version, &join(&group, &member));
        assert_eq!(
            joined,
            expected_leader_join(version, 1, &member),
            "v{version}"
        );
        match version {
            4 => {
                let expected = B::new()
                    .i32(0)
                    .i16(0)
                    .i32(1)
                    .s("range")
                    .s(&member)
                    .s(&member)
                    .arr(1)
                    .s(&member)
                    .by(RANGE_METADATA)
                    .done();
                assert_bytes(&body, &expected);
            }
            9 => {
                let expected = B::new()
                    .i32(0)
                    .i16(0)
                    .i32(1)
                    .cs(CONSUMER)
                    .cs("range")
                    .cs(&member)
                    .i8(0)
                    .cs(&member)
                    .carr(1)
                    .cs(&member)
                    .c_null() // group_instance_id
                    .cby(RANGE_METADATA)
                    .tags()
                    .tags()
                    .done();
                assert_bytes(&body, &expected);
            }
            _ => {}
        }
        // The leader syncs (SyncGroup v4 and v5: flexible), then heartbeats (v4: flexible).
        let assignment = format!("assignment-{version}");
        let sync_version = if version % 2 == 0 { 4 } else { 5 };
        let (body, synced) = conn.call_raw(
            sync_version,
            &sync(&group, 1, &member, &[(&member, assignment.as_bytes())]),
        );
        assert_eq!(
            synced,
            sync_group::Response {
                throttle_time_ms: 0,
                error_code: NONE,
                protocol_type: (sync_version >= 5).then(|| CONSUMER.into()),
                protocol_name: (sync_version >= 5).then(|| "range".into()),
                assignment: assignment.as_bytes().to_vec(),
            }
        );
        let expected = if sync_version == 4 {
            B::new()
                .i32(0)
                .i16(0)
                .cby(assignment.as_bytes())
                .tags()
                .done()
        } else {
            B::new()
                .i32(0)
                .i16(0)
                .cs(CONSUMER)
                .cs("range")
                .cby(assignment.as_bytes())
                .tags()
                .done()
        };
        assert_bytes(&body, &expected);
        let (body, beat_response) = conn.call_raw(4, &beat(&group, 1, &member));
        assert_eq!(beat_response.error_code, NONE);
        assert_bytes(&body, &B::new().i32(0).i16(0).tags().done());
    }
}

#[test]
fn join_v0_to_v3_with_an_empty_member_id_joins_at_once() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    for version in 0..=3 {
        let group = format!("old-join-v{version}");
        let (body, joined) = conn.call_raw(version, &join(&group, ""));
        let member = joined.member_id.clone();
        assert!(member.starts_with(&format!("{CLIENT_ID}-")), "{member:?}");
        assert_eq!(
            joined,
            expected_leader_join(version, 1, &member),
            "v{version}"
        );
        let mut expected = B::new();
        if version >= 2 {
            expected.i32(0);
        }
        expected
            .i16(0)
            .i32(1)
            .s("range")
            .s(&member)
            .s(&member)
            .arr(1)
            .s(&member)
            .by(RANGE_METADATA);
        assert_bytes(&body, &expected.done());

        // SyncGroup and Heartbeat at the same old version.
        let assignment = format!("old-assignment-{version}");
        let (body, synced) = conn.call_raw(
            version,
            &sync(&group, 1, &member, &[(&member, assignment.as_bytes())]),
        );
        assert_eq!(
            synced,
            sync_group::Response {
                assignment: assignment.as_bytes().to_vec(),
                ..sync_group::Response::default()
            },
            "SyncGroup v{version}"
        );
        let mut expected = B::new();
        if version >= 1 {
            expected.i32(0);
        }
        expected.i16(0).by(assignment.as_bytes());
        assert_bytes(&body, &expected.done());
        // A second SyncGroup in Stable returns the same assignment.
        let again = conn.call(version, &sync(&group, 1, &member, &[]));
        assert_eq!(
            again.assignment,
            assignment.as_bytes(),
            "SyncGroup v{version} again"
        );

        let (body, beat_response) = conn.call_raw(version, &beat(&group, 1, &member));
        assert_eq!(beat_response.error_code, NONE, "Heartbeat v{version}");
        let mut expected = B::new();
        if version >= 1 {
            expected.i32(0);
        }
        assert_bytes(&body, &expected.i16(0).done());
    }
}

#[test]
fn heartbeat_and_sync_errors_of_a_one_member_group() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let member = join_alone(&mut conn, 5, "solo", b"mine");
    for version in 0..=4 {
        let unknown = conn.call(version, &beat("solo", 1, "nobody"));
        assert_eq!(
            unknown.error_code, UNKNOWN_MEMBER_ID,
            "Heartbeat v{version}"
        );
        let old = conn.call(version, &beat("solo", 0, &member));
        assert_eq!(old.error_code, ILLEGAL_GENERATION, "Heartbeat v{version}");
        let unknown_group = conn.call(version, &beat("no-such-group", 1, &member));
        assert_eq!(
            unknown_group.error_code, UNKNOWN_MEMBER_ID,
            "Heartbeat v{version}"
        );
    }
    for version in 0..=5 {
        let unknown = conn.call(version, &sync("solo", 1, "nobody", &[]));
        assert_eq!(
            unknown.error_code, UNKNOWN_MEMBER_ID,
            "SyncGroup v{version}"
        );
        assert!(unknown.assignment.is_empty());
        let old = conn.call(version, &sync("solo", 2, &member, &[]));
        assert_eq!(old.error_code, ILLEGAL_GENERATION, "SyncGroup v{version}");
    }
    // The known leader rejoining a Stable group starts a new generation.
    let rejoined = conn.call(5, &join("solo", &member));
    assert_eq!(rejoined, expected_leader_join(5, 2, &member));
    let stale = conn.call(3, &beat("solo", 1, &member));
    assert_eq!(stale.error_code, ILLEGAL_GENERATION);
}

#[test]
fn inconsistent_protocols_are_refused() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let member = join_alone(&mut conn, 5, "picky", b"a");
    let mut other = Conn::open(&broker);
    for version in [1, 5, 7, 9] {
        // Another protocol type.
        let mut request = join("picky", "");
        request.protocol_type = "connect";
        let refused = other.call(version, &request);
        assert_eq!(
            refused,
            join_error(version, INCONSISTENT_GROUP_PROTOCOL, ""),
            "v{version} protocol type"
        );
        // No protocol in common with the member.
        let protocols: Vec<(&str, &[u8])> = vec![("sticky", b"s")];
        let refused = other.call(version, &join_request("picky", "", 10_000, &protocols));
        assert_eq!(
            refused,
            join_error(version, INCONSISTENT_GROUP_PROTOCOL, ""),
            "v{version} no common protocol"
        );
    }
    // The group is untouched: still Stable at generation 1.
    assert_eq!(conn.call(4, &beat("picky", 1, &member)).error_code, NONE);
    let described = conn.call(5, &describe(&["picky"], false));
    assert_eq!(described.groups[0].group_state, "Stable");
    assert_eq!(described.groups[0].members.len(), 1);
}

// ---- Two members ----

struct TwoMembers {
    leader: Conn,
    follower: Conn,
    leader_id: String,
    follower_id: String,
}

/// `leader` forms generation 1 alone; a second member joins (JoinGroup `version`), which
/// parks until the leader rejoins; both get generation 2, the leader syncs assignments and
/// the follower, which waited in SyncGroup, gets exactly its own.
fn two_members(
    broker: &TestBroker,
    version: i16,
    group: &str,
    follower_session_ms: i32,
) -> TwoMembers {
    let mut leader = Conn::open(broker);
    let mut follower = Conn::open(broker);
    let leader_id = join_alone(&mut leader, version, group, b"everything");

    let mut follower_id = String::new();
    if version >= 4 {
        let required = follower.call(version, &join(group, ""));
        assert_eq!(required.error_code, MEMBER_ID_REQUIRED);
        follower_id = required.member_id;
    }
    let protocols = consumer_protocols();
    let follower_join = join_request(group, &follower_id, follower_session_ms, &protocols);
    let parked_join = follower.send(version, &follower_join);
    follower.assert_waiting();

    // The leader learns of the rebalance from its heartbeat and its SyncGroup.
    assert_eq!(
        leader.call(2, &beat(group, 1, &leader_id)).error_code,
        REBALANCE_IN_PROGRESS
    );
    let during = leader.call(2, &sync(group, 1, &leader_id, &[]));
    assert_eq!(
        (during.error_code, during.assignment.as_slice()),
        (REBALANCE_IN_PROGRESS, &b""[..])
    );
    let state = leader.call(0, &describe(&[group], false));
    assert_eq!(state.groups[0].group_state, "PreparingRebalance");

    let rejoined = leader.call(version, &join(group, &leader_id));
    let follower_joined = follower.recv(parked_join);
    if follower_id.is_empty() {
        follower_id = follower_joined.member_id.clone();
    }
    assert_ne!(follower_id, leader_id);
    let mut members = vec![
        join_group::Member {
            member_id: leader_id.clone(),
            group_instance_id: None,
            metadata: RANGE_METADATA.to_vec(),
        },
        join_group::Member {
            member_id: follower_id.clone(),
            group_instance_id: None,
            metadata: RANGE_METADATA.to_vec(),
        },
    ];
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    assert_eq!(
        rejoined,
        join_group::Response {
            members,
            ..expected_leader_join(version, 2, &leader_id)
        },
        "the leader's JoinGroup"
    );
    assert_eq!(
        follower_joined,
        join_group::Response {
            member_id: follower_id.clone(),
            members: vec![],
            ..expected_leader_join(version, 2, &leader_id)
        },
        "the follower's JoinGroup"
    );

    // The follower's SyncGroup waits for the leader's.
    let parked_sync = follower.send(3, &sync(group, 2, &follower_id, &[]));
    follower.assert_waiting();
    let follower_assignment: &[u8] = b"\x00\x01follower:p1,p3";
    let synced = leader.call(
        3,
        &sync(
            group,
            2,
            &leader_id,
            &[
                (&leader_id, b"\x00\x01leader:p0,p2"),
                (&follower_id, follower_assignment),
            ],
        ),
    );
    assert_eq!(
        (synced.error_code, synced.assignment.as_slice()),
        (NONE, &b"\x00\x01leader:p0,p2"[..])
    );
    let (body, follower_synced) = follower.recv_raw(parked_sync);
    assert_eq!(follower_synced.error_code, NONE);
    assert_eq!(follower_synced.assignment, follower_assignment);
    assert_bytes(
        &body,
        &B::new().i32(0).i16(0).by(follower_assignment).done(),
    );
    TwoMembers {
        leader,
        follower,
        leader_id,
        follower_id,
    }
}

#[test]
fn a_second_member_rebalances_the_group_and_gets_its_assignment() {
    let broker = group_broker();
    for (version, group) in [(3, "pair-v3"), (5, "pair-v5"), (9, "pair-v9")] {
        let mut pair = two_members(&broker, version, group, 10_000);
        for (conn, id) in [
            (&mut pair.leader, &pair.leader_id),
            (&mut pair.follower, &pair.follower_id),
        ] {
            assert_eq!(conn.call(4, &beat(group, 2, id)).error_code, NONE);
            assert_eq!(
                conn.call(4, &beat(group, 1, id)).error_code,
                ILLEGAL_GENERATION
            );
        }
        let described = pair.leader.call(5, &describe(&[group], false));
        assert_eq!(described.groups[0].group_state, "Stable");
        assert_eq!(described.groups[0].members.len(), 2);
    }
}

#[test]
fn offset_commit_from_members_checks_member_and_generation() {
    let broker = group_broker();
    let mut admin = Conn::open(&broker);
    create_topic(&mut admin, "events", 2);
    let mut pair = two_members(&broker, 5, "committers", 10_000);
    fn commit(generation: i32, member: &str) -> offset_commit::Request<'_> {
        offset_commit::Request {
            group_id: "committers",
            generation_id_or_member_epoch: generation,
            member_id: member,
            group_instance_id: None,
            retention_time_ms: -1,
            topics: vec![offset_commit::RequestTopic {
                name: "events",
                topic_id: [0; 16],
                partitions: vec![offset_commit::RequestPartition {
                    partition_index: 1,
                    committed_offset: 42,
                    committed_leader_epoch: 0,
                    committed_metadata: Some("by a member"),
                }],
            }],
        }
    }
    let errors = |response: offset_commit::Response| -> Vec<(String, i32, i16)> {
        response
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| (name.clone(), p.partition_index, p.error_code))
            })
            .collect()
    };
    let leader_id = pair.leader_id.clone();
    for version in [2, 7, 8, 9] {
        let unknown = pair.leader.call(version, &commit(2, "nobody"));
        assert_eq!(
            errors(unknown),
            [("events".to_string(), 1, UNKNOWN_MEMBER_ID)],
            "v{version}"
        );
        let old = pair.leader.call(version, &commit(1, &leader_id));
        assert_eq!(
            errors(old),
            [("events".to_string(), 1, ILLEGAL_GENERATION)],
            "v{version}"
        );
        // A "simple" commit (generation -1) is refused while the group has members.
        let simple = pair.leader.call(version, &commit(-1, ""));
        assert_eq!(
            errors(simple),
            [("events".to_string(), 1, UNKNOWN_MEMBER_ID)],
            "v{version}"
        );
        let ok = pair.leader.call(version, &commit(2, &leader_id));
        assert_eq!(errors(ok), [("events".to_string(), 1, NONE)], "v{version}");
    }
    let follower_id = pair.follower_id.clone();
    let ok = pair.follower.call(6, &commit(2, &follower_id));
    assert_eq!(errors(ok), [("events".to_string(), 1, NONE)]);
    let fetched = admin.call(5, &fetch_one("committers", None));
    assert_eq!(
        fetched.topics,
        vec![offset_fetch::ResponseTopic {
            name: "events".into(),
            topic_id: [0; 16],
            partitions: vec![offset_fetch::ResponsePartition {
                partition_index: 1,
                committed_offset: 42,
                committed_leader_epoch: 0,
                metadata: Some("by a member".into()),
                error_code: NONE,
            }],
        }]
    );
    // A member's commit to a group that does not exist: ILLEGAL_GENERATION before v9,
    // GROUP_ID_NOT_FOUND from v9, as Kafka answers.
    for (version, expected) in [(8, ILLEGAL_GENERATION), (9, GROUP_ID_NOT_FOUND)] {
        let mut request = commit(1, "someone");
        request.group_id = "no-such-group";
        let response = admin.call(version, &request);
        assert_eq!(
            errors(response),
            [("events".to_string(), 1, expected)],
            "v{version}"
        );
    }
}

#[test]
fn a_silent_member_is_evicted_and_the_other_rebalances_alone() {
    let broker = group_broker();
    let group = "expiry";
    let mut pair = two_members(&broker, 9, group, 1_500);
    // The follower goes silent; the leader keeps heartbeating until it hears of a rebalance.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let code = pair
            .leader
            .call(4, &beat(group, 2, &pair.leader_id))
            .error_code;
        if code == REBALANCE_IN_PROGRESS {
            break;
        }
        assert_eq!(code, NONE, "leader heartbeat before the eviction");
        assert!(
            Instant::now() < deadline,
            "the silent member was never evicted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        pair.follower
            .call(4, &beat(group, 2, &pair.follower_id))
            .error_code,
        UNKNOWN_MEMBER_ID
    );
    let rejoined = pair.leader.call(9, &join(group, &pair.leader_id));
    assert_eq!(rejoined, expected_leader_join(9, 3, &pair.leader_id));
    let synced = pair.leader.call(
        5,
        &sync(group, 3, &pair.leader_id, &[(&pair.leader_id, b"all")]),
    );
    assert_eq!(
        (synced.error_code, synced.assignment.as_slice()),
        (NONE, &b"all"[..])
    );
    let described = pair.leader.call(5, &describe(&[group], false));
    let members: Vec<&str> = described.groups[0]
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(members, [pair.leader_id.as_str()]);
    assert_eq!(described.groups[0].group_state, "Stable");
}

// ---- LeaveGroup, ListGroups ----

fn empty_group(group: &str) -> describe_groups::DescribedGroup {
    describe_groups::DescribedGroup {
        error_code: NONE,
        error_message: None,
        group_id: group.into(),
        group_state: "Empty".into(),
        protocol_type: CONSUMER.into(),
        protocol_data: String::new(),
        members: vec![],
        authorized_operations: OPERATIONS_UNSET,
    }
}

#[test]
fn leave_group_every_version_empties_the_group() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let mut groups = Vec::new();
    for version in 0..=2 {
        let group = format!("leave-v{version}");
        let group = group.as_str();
        let member = join_alone(&mut conn, 3, group, b"x");
        let unknown = conn.call(
            version,
            &leave_group::Request {
                group_id: group,
                member_id: "nobody",
                members: vec![],
            },
        );
        assert_eq!(unknown.error_code, UNKNOWN_MEMBER_ID, "v{version}");
        let (body, left) = conn.call_raw(
            version,
            &leave_group::Request {
                group_id: group,
                member_id: &member,
                members: vec![],
            },
        );
        assert_eq!(left, leave_group::Response::default(), "v{version}");
        let expected = if version == 0 {
            B::new().i16(0).done()
        } else {
            B::new().i32(0).i16(0).done()
        };
        assert_bytes(&body, &expected);
        let described = conn.call(1, &describe(&[group], false));
        assert_eq!(described.groups, [empty_group(group)], "v{version}");
        groups.push(group.to_string());
    }
    for version in 3..=5 {
        let group = format!("leave-v{version}");
        let group = group.as_str();
        let member = join_alone(&mut conn, 5, group, b"x");
        let (body, left) = conn.call_raw(
            version,
            &leave_group::Request {
                group_id: group,
                member_id: "",
                members: vec![
                    leave_group::MemberIdentity {
                        member_id: &member,
                        group_instance_id: None,
                        reason: (version >= 5).then_some("shutting down"),
                    },
                    leave_group::MemberIdentity {
                        member_id: "ghost",
                        group_instance_id: None,
                        reason: None,
                    },
                ],
            },
        );
        assert_eq!(
            left,
            leave_group::Response {
                throttle_time_ms: 0,
                error_code: NONE,
                members: vec![
                    leave_group::MemberResponse {
                        member_id: member.clone(),
                        group_instance_id: None,
                        error_code: NONE,
                    },
                    leave_group::MemberResponse {
                        member_id: "ghost".into(),
                        group_instance_id: None,
                        error_code: UNKNOWN_MEMBER_ID,
                    },
                ],
            },
            "v{version}"
        );
        let expected = if version == 3 {
            B::new()
                .i32(0)
                .i16(0)
                .arr(2)
                .s(&member)
                .s_null()
                .i16(0)
                .s("ghost")
                .s_null()
                .i16(UNKNOWN_MEMBER_ID)
                .done()
        } else {
            B::new()
                .i32(0)
                .i16(0)
                .carr(2)
                .cs(&member)
                .c_null()
                .i16(0)
                .tags()
                .cs("ghost")
                .c_null()
                .i16(UNKNOWN_MEMBER_ID)
                .tags()
                .tags()
                .done()
        };
        assert_bytes(&body, &expected);
        let described = conn.call(5, &describe(&[group], false));
        assert_eq!(described.groups, [empty_group(group)], "v{version}");
        groups.push(group.to_string());
    }

    // ListGroups lists every group, Empty; from v4 the states filter applies.
    let stable = "still-stable";
    join_alone(&mut conn, 5, stable, b"x");
    let mut all: Vec<(&str, &str)> = groups.iter().map(|g| (g.as_str(), "Empty")).collect();
    all.push((stable, "Stable"));
    all.sort();
    for version in 0..=5 {
        let request = list_groups::Request::default();
        let (body, listed) = conn.call_raw(version, &request);
        let expected_groups: Vec<list_groups::ListedGroup> = all
            .iter()
            .map(|(id, state)| list_groups::ListedGroup {
                group_id: id.to_string(),
                protocol_type: CONSUMER.into(),
                group_state: if version >= 4 {
                    state.to_string()
                } else {
                    String::new()
                },
                group_type: if version >= 5 {
                    "classic".into()
                } else {
                    String::new()
                },
            })
            .collect();
        assert_eq!(
            listed,
            list_groups::Response {
                throttle_time_ms: 0,
                error_code: NONE,
                groups: expected_groups,
            },
            "ListGroups v{version}"
        );
        let mut expected = B::new();
        match version {
            0 => {
                expected.i16(0).arr(all.len());
                for (id, _) in &all {
                    expected.s(id).s(CONSUMER);
                }
            }
            1 | 2 => {
                expected.i32(0).i16(0).arr(all.len());
                for (id, _) in &all {
                    expected.s(id).s(CONSUMER);
                }
            }
            _ => {
                expected.i32(0).i16(0).carr(all.len());
                for (id, state) in &all {
                    expected.cs(id).cs(CONSUMER);
                    if version >= 4 {
                        expected.cs(state);
                    }
                    if version >= 5 {
                        expected.cs("classic");
                    }
                    expected.tags();
                }
                expected.tags();
            }
        }
        assert_bytes(&body, &expected.done());
    }
    for version in [4, 5] {
        let only = |states: Vec<&'static str>| list_groups::Request {
            states_filter: states,
            types_filter: vec![],
        };
        let listed = conn.call(version, &only(vec!["Stable"]));
        let ids: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, [stable], "v{version} Stable");
        let listed = conn.call(version, &only(vec!["Empty"]));
        let ids: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, groups, "v{version} Empty");
        let listed = conn.call(version, &only(vec!["PreparingRebalance"]));
        assert!(listed.groups.is_empty(), "v{version} PreparingRebalance");
    }
    let consumers = conn.call(
        5,
        &list_groups::Request {
            states_filter: vec![],
            types_filter: vec!["consumer"],
        },
    );
    assert!(consumers.groups.is_empty(), "no group is of the new type");
}

// ---- DescribeGroups ----

#[test]
fn describe_groups_every_version_of_a_stable_group() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let assignment: &[u8] = b"\x00\x01\x00\x00\x00\x01\x00\x06topic1";
    let member = join_alone(&mut conn, 5, "described", assignment);
    for version in 0..=6 {
        for include_operations in [false, true] {
            if include_operations && version < 3 {
                continue;
            }
            let (body, described) =
                conn.call_raw(version, &describe(&["described"], include_operations));
            let operations = if include_operations {
                GROUP_OPERATIONS
            } else {
                OPERATIONS_UNSET
            };
            assert_eq!(
                described,
                describe_groups::Response {
                    throttle_time_ms: 0,
                    groups: vec![describe_groups::DescribedGroup {
                        error_code: NONE,
                        error_message: None,
                        group_id: "described".into(),
                        group_state: "Stable".into(),
                        protocol_type: CONSUMER.into(),
                        protocol_data: "range".into(),
                        members: vec![describe_groups::DescribedGroupMember {
                            member_id: member.clone(),
                            group_instance_id: None,
                            client_id: CLIENT_ID.into(),
                            client_host: "/127.0.0.1".into(),
                            member_metadata: RANGE_METADATA.to_vec(),
                            member_assignment: assignment.to_vec(),
                        }],
                        authorized_operations: if version >= 3 {
                            operations
                        } else {
                            OPERATIONS_UNSET
                        },
                    }],
                },
                "DescribeGroups v{version}"
            );
            if version == 0 {
                let expected = B::new()
                    .arr(1)
                    .i16(0)
                    .s("described")
                    .s("Stable")
                    .s(CONSUMER)
                    .s("range")
                    .arr(1)
                    .s(&member)
                    .s(CLIENT_ID)
                    .s("/127.0.0.1")
                    .by(RANGE_METADATA)
                    .by(assignment)
                    .done();
                assert_bytes(&body, &expected);
            }
            if version == 6 && include_operations {
                let expected = B::new()
                    .i32(0)
                    .carr(1)
                    .i16(0)
                    .c_null() // error_message
                    .cs("described")
                    .cs("Stable")
                    .cs(CONSUMER)
                    .cs("range")
                    .carr(1)
                    .cs(&member)
                    .c_null() // group_instance_id
                    .cs(CLIENT_ID)
                    .cs("/127.0.0.1")
                    .cby(RANGE_METADATA)
                    .cby(assignment)
                    .tags()
                    .i32(GROUP_OPERATIONS)
                    .tags()
                    .tags()
                    .done();
                assert_bytes(&body, &expected);
            }
        }
    }
    // An unknown group: Dead with no error before v6, GROUP_ID_NOT_FOUND from v6.
    for version in 0..=6 {
        let (body, described) = conn.call_raw(version, &describe(&["nobody-here"], false));
        let (error_code, state) = if version >= 6 {
            (GROUP_ID_NOT_FOUND, "Dead")
        } else {
            (NONE, "Dead")
        };
        assert_eq!(described.groups.len(), 1);
        let group = &described.groups[0];
        assert_eq!(
            (
                group.error_code,
                group.group_id.as_str(),
                group.group_state.as_str(),
                group.protocol_type.as_str(),
                group.protocol_data.as_str(),
                group.members.len(),
            ),
            (error_code, "nobody-here", state, "", "", 0),
            "DescribeGroups v{version} of an unknown group"
        );
        if version == 5 {
            let expected = B::new()
                .i32(0)
                .carr(1)
                .i16(0)
                .cs("nobody-here")
                .cs("Dead")
                .cs("")
                .cs("")
                .carr(0)
                .i32(OPERATIONS_UNSET)
                .tags()
                .tags()
                .done();
            assert_bytes(&body, &expected);
        }
    }
}

// ---- OffsetCommit, OffsetFetch ----

/// An OffsetFetch request for one group at any version: its fields at top level (v1-7)
/// and as the one group (v8+).
fn fetch_one<'a>(
    group: &'a str,
    topics: Option<Vec<(&'a str, Vec<i32>)>>,
) -> offset_fetch::Request<'a> {
    let topics: Option<Vec<_>> = topics.map(|ts| {
        ts.into_iter()
            .map(|(name, partition_indexes)| offset_fetch::RequestTopic {
                name,
                topic_id: [0; 16],
                partition_indexes,
            })
            .collect()
    });
    offset_fetch::Request {
        group_id: group,
        topics: topics.clone(),
        groups: vec![offset_fetch::RequestGroup {
            group_id: group,
            member_id: None,
            member_epoch: -1,
            topics,
        }],
        require_stable: false,
    }
}

/// The groups of an OffsetFetch response: before v8, its one group is at top level.
fn fetched_groups(
    version: i16,
    response: offset_fetch::Response,
) -> Vec<offset_fetch::ResponseGroup> {
    if version >= 8 {
        return response.groups;
    }
    vec![offset_fetch::ResponseGroup {
        group_id: String::new(),
        topics: response.topics,
        error_code: response.error_code,
    }]
}

fn fetched_partition(
    partition_index: i32,
    committed_offset: i64,
    committed_leader_epoch: i32,
    metadata: &str,
) -> offset_fetch::ResponsePartition {
    offset_fetch::ResponsePartition {
        partition_index,
        committed_offset,
        committed_leader_epoch,
        metadata: Some(metadata.into()),
        error_code: NONE,
    }
}

/// One commit per OffsetCommit version, each to its own group: (group, version, offset,
/// leader epoch as stored, metadata).
fn commits() -> Vec<(String, i16, i64, i32, String)> {
    (2..=9)
        .map(|v: i16| {
            let epoch = if v >= 6 { 3 + i32::from(v) } else { -1 };
            (
                format!("simple-v{v}"),
                v,
                100 * i64::from(v),
                epoch,
                format!("meta-{v}"),
            )
        })
        .collect()
}

/// Every commit is returned by OffsetFetch at every version; an uncommitted partition has
/// offset -1; null topics (v2+) return all of a group's commits.
fn assert_offsets_fetched(conn: &mut Conn) {
    for (group, _, offset, epoch, metadata) in commits() {
        for version in 1..=9 {
            let request = fetch_one(&group, Some(vec![("orders", vec![0, 1, 7])]));
            let response = conn.call(version, &request);
            let shown_epoch = if version >= 5 { epoch } else { -1 };
            let expected_group = offset_fetch::ResponseGroup {
                group_id: if version >= 8 {
                    group.clone()
                } else {
                    String::new()
                },
                topics: vec![offset_fetch::ResponseTopic {
                    name: "orders".into(),
                    topic_id: [0; 16],
                    partitions: vec![
                        fetched_partition(0, offset, shown_epoch, &metadata),
                        fetched_partition(1, -1, -1, ""),
                        fetched_partition(7, -1, -1, ""),
                    ],
                }],
                error_code: NONE,
            };
            assert_eq!(response.throttle_time_ms, 0);
            assert_eq!(
                fetched_groups(version, response),
                std::slice::from_ref(&expected_group),
                "OffsetFetch v{version} of {group}"
            );
            if version >= 2 {
                let all = conn.call(version, &fetch_one(&group, None));
                let mut only_committed = expected_group;
                only_committed.topics[0].partitions.truncate(1);
                assert_eq!(
                    fetched_groups(version, all),
                    [only_committed],
                    "OffsetFetch v{version} of all of {group}'s offsets"
                );
            }
        }
    }
}

#[test]
fn offset_commit_and_fetch_every_version_survive_a_restart() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "orders", 2);
    for (group, version, offset, epoch, metadata) in commits() {
        let request = common::simple_commit(&group, "orders", 0, offset, epoch, Some(&metadata));
        let (body, response) = conn.call_raw(version, &request);
        assert_eq!(
            response,
            offset_commit::Response {
                throttle_time_ms: 0,
                topics: vec![offset_commit::ResponseTopic {
                    name: "orders".into(),
                    topic_id: [0; 16],
                    partitions: vec![offset_commit::ResponsePartition {
                        partition_index: 0,
                        error_code: NONE,
                    }],
                }],
            },
            "OffsetCommit v{version}"
        );
        // Exact bytes of the old layout (v2: no throttle_time_ms), v3 and flexible v8.
        let expected = match version {
            2 => B::new().arr(1).s("orders").arr(1).i32(0).i16(0).done(),
            3 => B::new()
                .i32(0)
                .arr(1)
                .s("orders")
                .arr(1)
                .i32(0)
                .i16(0)
                .done(),
            8 => B::new()
                .i32(0)
                .carr(1)
                .cs("orders")
                .carr(1)
                .i32(0)
                .i16(0)
                .tags()
                .tags()
                .tags()
                .done(),
            _ => continue,
        };
        assert_bytes(&body, &expected);
    }

    // Exact bytes of OffsetFetch v1 (no error code), v3 (throttle), v5 (leader epoch) and
    // the flexible v6 and v8 (groups).
    let group = "simple-v7";
    let request = fetch_one(group, Some(vec![("orders", vec![0])]));
    let (body, _) = conn.call_raw(1, &request);
    let v1 = B::new()
        .arr(1)
        .s("orders")
        .arr(1)
        .i32(0)
        .i64(700)
        .s("meta-7")
        .i16(0)
        .done();
    assert_bytes(&body, &v1);
    let (body, _) = conn.call_raw(3, &request);
    let v3 = B::new()
        .i32(0)
        .arr(1)
        .s("orders")
        .arr(1)
        .i32(0)
        .i64(700)
        .s("meta-7")
        .i16(0)
        .i16(0)
        .done();
    assert_bytes(&body, &v3);
    let (body, _) = conn.call_raw(5, &request);
    let v5 = B::new()
        .i32(0)
        .arr(1)
        .s("orders")
        .arr(1)
        .i32(0)
        .i64(700)
        .i32(10)
        .s("meta-7")
        .i16(0)
        .i16(0)
        .done();
    assert_bytes(&body, &v5);
    let (body, _) = conn.call_raw(6, &request);
    let v6 = B::new()
        .i32(0)
        .carr(1)
        .cs("orders")
        .carr(1)
        .i32(0)
        .i64(700)
        .i32(10)
        .cs("meta-7")
        .i16(0)
        .tags()
        .tags()
        .i16(0)
        .tags()
        .done();
    assert_bytes(&body, &v6);
    let (body, _) = conn.call_raw(8, &request);
    let v8 = B::new()
        .i32(0)
        .carr(1)
        .cs(group)
        .carr(1)
        .cs("orders")
        .carr(1)
        .i32(0)
        .i64(700)
        .i32(10)
        .cs("meta-7")
        .i16(0)
        .tags()
        .tags()
        .i16(0)
        .tags()
        .tags()
        .done();
    assert_bytes(&body, &v8);

    // v8+: several groups in one request, one of them asking for all its offsets.
    for version in [8, 9] {
        let request = offset_fetch::Request {
            groups: vec![
                offset_fetch::RequestGroup {
                    group_id: "simple-v2",
                    member_id: None,
                    member_epoch: -1,
                    topics: Some(vec![offset_fetch::RequestTopic {
                        name: "orders",
                        topic_id: [0; 16],
                        partition_indexes: vec![1, 0],
                    }]),
                },
                offset_fetch::RequestGroup {
                    group_id: "simple-v9",
                    member_id: None,
                    member_epoch: -1,
                    topics: None,
                },
                offset_fetch::RequestGroup {
                    group_id: "never-committed",
                    member_id: None,
                    member_epoch: -1,
                    topics: None,
                },
            ],
            require_stable: version == 9,
            ..offset_fetch::Request::default()
        };
        let response = conn.call(version, &request);
        let orders = |partitions| offset_fetch::ResponseTopic {
            name: "orders".into(),
            topic_id: [0; 16],
            partitions,
        };
        assert_eq!(
            response.groups,
            vec![
                offset_fetch::ResponseGroup {
                    group_id: "simple-v2".into(),
                    topics: vec![orders(vec![
                        fetched_partition(1, -1, -1, ""),
                        fetched_partition(0, 200, -1, "meta-2"),
                    ])],
                    error_code: NONE,
                },
                offset_fetch::ResponseGroup {
                    group_id: "simple-v9".into(),
                    topics: vec![orders(vec![fetched_partition(0, 900, 12, "meta-9")])],
                    error_code: NONE,
                },
                offset_fetch::ResponseGroup {
                    group_id: "never-committed".into(),
                    topics: vec![],
                    error_code: NONE,
                },
            ],
            "OffsetFetch v{version} batched"
        );
    }

    // A later commit overwrites; a null metadata is stored as "".
    let again = conn.call(
        9,
        &common::simple_commit("simple-v9", "orders", 0, 900, 12, None),
    );
    assert_eq!(again.topics[0].partitions[0].error_code, NONE);
    let fetched = conn.call(9, &fetch_one("simple-v9", None));
    assert_eq!(
        fetched.groups[0].topics[0].partitions,
        [fetched_partition(0, 900, 12, "")]
    );
    let restore = conn.call(
        9,
        &common::simple_commit("simple-v9", "orders", 0, 900, 12, Some("meta-9")),
    );
    assert_eq!(restore.topics[0].partitions[0].error_code, NONE);

    assert_offsets_fetched(&mut conn);
    // A group with only committed offsets is described as Empty.
    let described = conn.call(6, &describe(&["simple-v4"], false));
    assert_eq!(
        (
            described.groups[0].error_code,
            described.groups[0].group_state.as_str()
        ),
        (NONE, "Empty")
    );

    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_offsets_fetched(&mut conn);
}

#[test]
fn offset_commit_to_an_unknown_topic_or_partition_is_refused() {
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "known", 1);
    for version in 2..=9 {
        let request = offset_commit::Request {
            group_id: "lost",
            generation_id_or_member_epoch: -1,
            member_id: "",
            group_instance_id: None,
            retention_time_ms: -1,
            topics: vec![
                offset_commit::RequestTopic {
                    name: "unknown",
                    topic_id: [0; 16],
                    partitions: vec![offset_commit::RequestPartition {
                        partition_index: 0,
                        committed_offset: 5,
                        committed_leader_epoch: -1,
                        committed_metadata: None,
                    }],
                },
                offset_commit::RequestTopic {
                    name: "known",
                    topic_id: [0; 16],
                    partitions: vec![
                        offset_commit::RequestPartition {
                            partition_index: 1,
                            committed_offset: 5,
                            committed_leader_epoch: -1,
                            committed_metadata: None,
                        },
                        offset_commit::RequestPartition {
                            partition_index: 0,
                            committed_offset: 5,
                            committed_leader_epoch: -1,
                            committed_metadata: None,
                        },
                    ],
                },
            ],
        };
        let response = conn.call(version, &request);
        let codes: Vec<(&str, i32, i16)> = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.as_str(), p.partition_index, p.error_code))
            })
            .collect();
        assert_eq!(
            codes,
            [
                ("unknown", 0, UNKNOWN_TOPIC_OR_PARTITION),
                ("known", 1, UNKNOWN_TOPIC_OR_PARTITION),
                ("known", 0, NONE),
            ],
            "OffsetCommit v{version}"
        );
    }
    let fetched = conn.call(7, &fetch_one("lost", None));
    assert_eq!(
        fetched.topics,
        [offset_fetch::ResponseTopic {
            name: "known".into(),
            topic_id: [0; 16],
            partitions: vec![fetched_partition(0, 5, -1, "")],
        }]
    );
}

/// OffsetCommit and OffsetFetch v10 name topics by id (KIP-848): an id we do not know gets
/// UNKNOWN_TOPIC_ID on each of its partitions, as a missing partition of a known topic gets
/// UNKNOWN_TOPIC_OR_PARTITION; the offsets are the same ones v9 reads by name.
#[test]
fn offset_commit_and_fetch_v10_by_topic_id() {
    const UNKNOWN_TOPIC_ID: i16 = 100;
    let broker = group_broker();
    let mut conn = Conn::open(&broker);
    let orders = create_topic(&mut conn, "orders", 2);
    let unknown = [0xee; 16];
    let partition = |partition_index, committed_offset| offset_commit::RequestPartition {
        partition_index,
        committed_offset,
        committed_leader_epoch: 4,
        committed_metadata: Some("by id"),
    };
    let commit = offset_commit::Request {
        group_id: "by-id",
        topics: vec![
            offset_commit::RequestTopic {
                topic_id: orders,
                partitions: vec![partition(0, 11), partition(1, 12), partition(2, 13)],
                ..offset_commit::RequestTopic::default()
            },
            offset_commit::RequestTopic {
                topic_id: unknown,
                partitions: vec![partition(0, 14)],
                ..offset_commit::RequestTopic::default()
            },
        ],
        // A simple commit: generation -1, no member.
        ..offset_commit::Request::default()
    };
    let (body, committed) = conn.call_raw(10, &commit);
    let result = |partition_index, error_code| offset_commit::ResponsePartition {
        partition_index,
        error_code,
    };
    assert_eq!(
        committed.topics,
        [
            offset_commit::ResponseTopic {
                name: String::new(),
                topic_id: orders,
                partitions: vec![
                    result(0, NONE),
                    result(1, NONE),
                    result(2, UNKNOWN_TOPIC_OR_PARTITION)
                ],
            },
            offset_commit::ResponseTopic {
                name: String::new(),
                topic_id: unknown,
                partitions: vec![result(0, UNKNOWN_TOPIC_ID)],
            },
        ]
    );
    let mut expected = B::new();
    expected.i32(0).carr(2).uuid(&orders).carr(3);
    for (partition, error_code) in [(0, NONE), (1, NONE), (2, UNKNOWN_TOPIC_OR_PARTITION)] {
        expected.i32(partition).i16(error_code).tags();
    }
    expected
        .tags()
        .uuid(&unknown)
        .carr(1)
        .i32(0)
        .i16(UNKNOWN_TOPIC_ID);
    assert_bytes(&body, &expected.tags().tags().tags().done());

    let wanted = |topic_id, partition_indexes| offset_fetch::RequestTopic {
        name: "",
        topic_id,
        partition_indexes,
    };
    let fetch = offset_fetch::Request {
        groups: vec![
            offset_fetch::RequestGroup {
                group_id: "by-id",
                topics: Some(vec![
                    wanted(orders, vec![1, 0, 5]),
                    wanted(unknown, vec![0]),
                ]),
                ..offset_fetch::RequestGroup::default()
            },
            offset_fetch::RequestGroup {
                group_id: "by-id",
                topics: None,
                ..offset_fetch::RequestGroup::default()
            },
        ],
        ..offset_fetch::Request::default()
    };
    let (body, fetched) = conn.call_raw(10, &fetch);
    let offset = |partition_index, committed_offset| offset_fetch::ResponsePartition {
        partition_index,
        committed_offset,
        committed_leader_epoch: 4,
        metadata: Some("by id".into()),
        error_code: NONE,
    };
    let nothing = |partition_index, error_code| offset_fetch::ResponsePartition {
        partition_index,
        committed_offset: -1,
        committed_leader_epoch: -1,
        metadata: Some(String::new()),
        error_code,
    };
    let topic = |topic_id, partitions| offset_fetch::ResponseTopic {
        name: String::new(),
        topic_id,
        partitions,
    };
    let group = |topics| offset_fetch::ResponseGroup {
        group_id: "by-id".into(),
        topics,
        error_code: NONE,
    };
    assert_eq!(
        fetched,
        offset_fetch::Response {
            groups: vec![
                group(vec![
                    topic(orders, vec![offset(1, 12), offset(0, 11), nothing(5, NONE)]),
                    topic(unknown, vec![nothing(0, UNKNOWN_TOPIC_ID)]),
                ]),
                group(vec![topic(orders, vec![offset(0, 11), offset(1, 12)])]),
            ],
            ..offset_fetch::Response::default()
        }
    );
    let mut expected = B::new();
    expected
        .i32(0)
        .carr(2)
        .cs("by-id")
        .carr(2)
        .uuid(&orders)
        .carr(3);
    for (partition, offset) in [(1, 12), (0, 11)] {
        expected
            .i32(partition)
            .i64(offset)
            .i32(4)
            .cs("by id")
            .i16(0)
            .tags();
    }
    expected.i32(5).i64(-1).i32(-1).cs("").i16(0).tags().tags();
    expected
        .uuid(&unknown)
        .carr(1)
        .i32(0)
        .i64(-1)
        .i32(-1)
        .cs("");
    expected.i16(UNKNOWN_TOPIC_ID).tags().tags().i16(0).tags();
    expected.cs("by-id").carr(1).uuid(&orders).carr(2);
    for (partition, offset) in [(0, 11), (1, 12)] {
        expected
            .i32(partition)
            .i64(offset)
            .i32(4)
            .cs("by id")
            .i16(0)
            .tags();
    }
    assert_bytes(&body, &expected.tags().i16(0).tags().tags().done());

    // v9 reads the same offsets by name.
    let by_name = conn.call(9, &fetch_one("by-id", Some(vec![("orders", vec![0, 1])])));
    assert_eq!(
        by_name.groups[0].topics[0].partitions,
        [offset(0, 11), offset(1, 12)]
    );

    // A deleted topic has no id: v10's "all topics" leaves its offsets out.
    let gone = create_topic(&mut conn, "gone", 1);
    let commit_gone = |conn: &mut Conn| {
        let request = offset_commit::Request {
            group_id: "by-id",
            topics: vec![offset_commit::RequestTopic {
                topic_id: gone,
                partitions: vec![partition(0, 5)],
                ..offset_commit::RequestTopic::default()
            }],
            ..offset_commit::Request::default()
        };
        conn.call(10, &request).topics[0].partitions[0].error_code
    };
    assert_eq!(commit_gone(&mut conn), NONE);
    // DeleteTopics v6: topics [{name "gone", no id}], timeout_ms.
    let delete = B::new()
        .carr(1)
        .cs("gone")
        .uuid(&[0; 16])
        .tags()
        .i32(10_000)
        .tags()
        .done();
    send_frame(&mut conn.stream, 20, 6, 7, Some(CLIENT_ID), &delete, true);
    read_frame(&mut conn.stream);
    assert_eq!(commit_gone(&mut conn), UNKNOWN_TOPIC_ID);
    let all = offset_fetch::Request {
        groups: vec![offset_fetch::RequestGroup {
            group_id: "by-id",
            ..offset_fetch::RequestGroup::default()
        }],
        ..offset_fetch::Request::default()
    };
    assert_eq!(
        conn.call(10, &all).groups,
        [group(vec![topic(
            orders,
            vec![offset(0, 11), offset(1, 12)]
        )])]
    );
}

// ---- Kafka's rules at the edges of a rebalance ----

/// A member's session restarts when its join completes (Kafka's `onCompleteJoin` schedules
/// every member's next heartbeat expiration): a member whose JoinGroup waited longer than
/// its session timeout for the others is not evicted the moment the rebalance completes.
#[test]
fn a_member_whose_join_outlasted_its_session_keeps_its_place() {
    let broker = group_broker();
    let group = "slow-rebalance";
    let mut leader = Conn::open(&broker);
    let leader_id = join_alone(&mut leader, 5, group, b"all");

    let mut follower = Conn::open(&broker);
    let protocols = consumer_protocols();
    // Session 1 s (the broker's minimum), rebalance timeout 10 s.
    let parked_join = follower.send(3, &join_request(group, "", 1_000, &protocols));
    follower.assert_waiting();
    // The leader takes 2 s to rejoin, heartbeating meanwhile.
    let rejoin_at = Instant::now() + Duration::from_millis(2_000);
    while Instant::now() < rejoin_at {
        assert_eq!(
            leader.call(4, &beat(group, 1, &leader_id)).error_code,
            REBALANCE_IN_PROGRESS
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let rejoined = leader.call(5, &join(group, &leader_id));
    assert_eq!(rejoined.generation_id, 2);
    assert_eq!(
        rejoined.members.len(),
        2,
        "both members are in generation 2"
    );
    let joined = follower.recv(parked_join);
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 2));
    let follower_id = joined.member_id;

    // Both sync at once: the follower, alive and well, gets its assignment.
    let parked_sync = follower.send(3, &sync(group, 2, &follower_id, &[]));
    let synced = leader.call(
        3,
        &sync(
            group,
            2,
            &leader_id,
            &[(&leader_id, b"p0"), (&follower_id, b"p1")],
        ),
    );
    let followed = follower.recv(parked_sync);
    assert_eq!(
        (
            synced.error_code,
            followed.error_code,
            followed.assignment.as_slice()
        ),
        (NONE, NONE, &b"p1"[..]),
        "(leader SyncGroup error, follower SyncGroup error, follower assignment)"
    );
    assert_eq!(
        follower.call(4, &beat(group, 2, &follower_id)).error_code,
        NONE
    );
}

/// Kafka takes a member's commit while the group prepares a rebalance (the member learns of
/// it from its heartbeat) and refuses it with REBALANCE_IN_PROGRESS while the group
/// completes one (the member has its JoinGroup response but not yet its assignment).
#[test]
fn member_commits_during_preparing_and_completing_rebalance() {
    let broker = group_broker();
    let group = "committing-while-rebalancing";
    let mut leader = Conn::open(&broker);
    create_topic(&mut leader, "events", 1);
    let leader_id = join_alone(&mut leader, 5, group, b"all");
    // Commits go over their own connection.
    let mut committer = Conn::open(&broker);
    let mut commit = |generation: i32, member: &str, offset: i64| {
        let mut request = common::simple_commit(group, "events", 0, offset, 0, None);
        request.generation_id_or_member_epoch = generation;
        request.member_id = member;
        committer.call(7, &request).topics[0].partitions[0].error_code
    };
    assert_eq!(commit(1, &leader_id, 1), NONE, "Stable");

    let mut follower = Conn::open(&broker);
    let protocols = consumer_protocols();
    let parked_join = follower.send(3, &join_request(group, "", 10_000, &protocols));
    follower.assert_waiting();
    let while_preparing = commit(1, &leader_id, 2);

    let rejoined = leader.call(5, &join(group, &leader_id));
    assert_eq!(rejoined.generation_id, 2);
    let follower_id = follower.recv(parked_join).member_id;
    let while_completing = commit(2, &leader_id, 3);
    assert_eq!(
        follower.call(4, &beat(group, 2, &follower_id)).error_code,
        NONE,
        "a heartbeat in CompletingRebalance is answered normally"
    );
    let synced = leader.call(
        3,
        &sync(
            group,
            2,
            &leader_id,
            &[(&leader_id, b"p0"), (&follower_id, b"")],
        ),
    );
    assert_eq!(synced.error_code, NONE);
    let when_stable = commit(2, &leader_id, 4);
    assert_eq!(
        (while_preparing, while_completing, when_stable),
        (NONE, REBALANCE_IN_PROGRESS, NONE),
        "commit errors (PreparingRebalance, CompletingRebalance, Stable)"
    );
}

/// A member whose connection is reset while its JoinGroup waits (behind responses it never
/// read) leaves the group within its session timeout: the broker hands the abandoned join
/// back to the coordinator, which stops counting the member as joined and lets its session
/// run out. The survivor's next generation is its alone and takes every partition.
#[test]
fn a_member_reset_while_its_join_waits_leaves_within_its_session_timeout() {
    member_gone_while_its_join_waits(true);
}

/// The same when the member simply closes its socket with nothing unread: the loop notices
/// the close of a connection whose request waits, without a failed write.
#[test]
fn a_member_closed_while_its_join_waits_leaves_within_its_session_timeout() {
    member_gone_while_its_join_waits(false);
}

fn member_gone_while_its_join_waits(unread_output: bool) {
    use std::io::Write;
    let broker = group_broker();
    let group = "gone-while-joining";
    let mut admin = Conn::open(&broker);
    create_topic(&mut admin, "reset-topic", 4);
    let pair = two_members(&broker, 5, group, 10_000);
    let (mut survivor, mut dead) = (pair.leader, pair.follower);

    // The member to die first fills its output with ~7 MiB of ApiVersions responses it never
    // reads: more than the kernel buffers hold, less than the broker's 8 MiB output limit
    // (past which it would stop reading this connection).
    send_frame(&mut admin.stream, 18, 0, 1, Some(CLIENT_ID), &[], false);
    let response_bytes = 4 + read_frame(&mut admin.stream).len();
    let api_versions = common::request_frame(18, 0, 1, Some(CLIENT_ID), &[], false);
    if unread_output {
        let flood = api_versions.repeat((7 << 20) / response_bytes);
        dead.stream.write_all(&flood).unwrap();
    }
    // It rejoins with a new subscription and a 2 s session: the group rebalances and its
    // JoinGroup waits for the survivor.
    let subscription: &[(&str, &[u8])] = &[("range", b"\x00\x03new-subscription")];
    let rejoin = join_request(group, &pair.follower_id, 2_000, subscription);
    let _parked = dead.send(5, &rejoin);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = || {
        admin.call(5, &describe(&[group], false)).groups[0]
            .group_state
            .clone()
    };
    while state() != "PreparingRebalance" {
        assert!(
            Instant::now() < deadline,
            "the rejoin never started a rebalance"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Dropping a socket with unread input resets it; without, it sends a FIN.
    drop(dead);
    let reset_at = Instant::now();
    while !broker.log().contains("abandoned its JoinGroup") {
        assert!(
            Instant::now() < deadline,
            "the parked JoinGroup was never abandoned"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The survivor hears of the rebalance and rejoins: the rebalance waits for the dead
    // member only until its session expires, then completes without it.
    let beat_code = survivor
        .call(4, &beat(group, 2, &pair.leader_id))
        .error_code;
    assert_eq!(beat_code, REBALANCE_IN_PROGRESS);
    let rejoined = survivor.call(5, &join(group, &pair.leader_id));
    // Without the abandonment the dead member would be in this generation at once.
    assert_eq!(rejoined, expected_leader_join(5, 3, &pair.leader_id));
    eprintln!(
        "the dead member left {:?} after its connection went (session timeout 2 s)",
        reset_at.elapsed()
    );
    let mut everything = B::new();
    everything.i16(0).arr(1).s("reset-topic").arr(4);
    for partition in 0..4 {
        everything.i32(partition);
    }
    let everything = everything.by(b"").done();
    let synced = survivor.call(
        3,
        &sync(group, 3, &pair.leader_id, &[(&pair.leader_id, &everything)]),
    );
    assert_eq!(
        (synced.error_code, synced.assignment),
        (NONE, everything.clone())
    );
    let described = admin.call(5, &describe(&[group], false));
    let group_described = &described.groups[0];
    let members: Vec<(&str, &[u8])> = group_described
        .members
        .iter()
        .map(|m| (m.member_id.as_str(), m.member_assignment.as_slice()))
        .collect();
    assert_eq!(group_described.group_state, "Stable");
    assert_eq!(members, [(pair.leader_id.as_str(), everything.as_slice())]);
    let dead_beat = admin.call(4, &beat(group, 3, &pair.follower_id));
    assert_eq!(dead_beat.error_code, UNKNOWN_MEMBER_ID);
}

/// DeleteGroups: a group with members is refused (NON_EMPTY_GROUP), an unknown group is
/// GROUP_ID_NOT_FOUND, and an empty group is deleted with its committed offsets, durably:
/// after a restart OffsetFetch finds nothing and ListGroups does not list it.
#[test]
fn delete_groups_deletes_offsets_durably_and_refuses_live_groups() {
    let broker = group_broker();
    let mut admin = Conn::open(&broker);
    create_topic(&mut admin, "deleted", 2);
    for partition in [0, 1] {
        let commit = common::simple_commit("to-delete", "deleted", partition, 7, 0, None);
        admin.call(7, &commit);
    }
    let pair = two_members(&broker, 5, "busy", 10_000);
    let request = delete_groups::Request {
        groups_names: vec!["busy", "to-delete", "never-was", ""],
    };
    for version in 0..=2 {
        let response = admin.call(version, &request);
        let results: Vec<(&str, i16)> = response
            .results
            .iter()
            .map(|r| (r.group_id.as_str(), r.error_code))
            .collect();
        let deleted = if version == 0 {
            NONE
        } else {
            GROUP_ID_NOT_FOUND
        };
        assert_eq!(
            results,
            [
                ("busy", NON_EMPTY_GROUP),
                ("to-delete", deleted),
                ("never-was", GROUP_ID_NOT_FOUND),
                ("", INVALID_GROUP_ID),
            ],
            "v{version}"
        );
    }
    drop(pair);
    let broker = broker.restart();
    let mut admin = Conn::open(&broker);
    let fetched = admin.call(
        5,
        &fetch_one("to-delete", Some(vec![("deleted", vec![0, 1])])),
    );
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, [-1, -1]);
    let listed = admin.call(3, &list_groups::Request::default());
    assert!(
        listed.groups.iter().all(|g| g.group_id != "to-delete"),
        "{:?}",
        listed.groups
    );
}

/// OffsetDelete: the offsets of a topic no member subscribes to are deleted (durably, as
/// tombstones); a subscribed topic's are kept with GROUP_SUBSCRIBED_TO_TOPIC; a partition
/// that does not exist is UNKNOWN_TOPIC_OR_PARTITION; an unknown group GROUP_ID_NOT_FOUND.
#[test]
fn offset_delete_spares_subscribed_topics() {
    let broker = group_broker();
    let mut admin = Conn::open(&broker);
    create_topic(&mut admin, "subscribed", 1);
    create_topic(&mut admin, "unsubscribed", 1);
    // A consumer's subscription (ConsumerProtocolSubscription v0): ["subscribed"], null data.
    let mut subscription = B::new();
    subscription.i16(0).arr(1).s("subscribed").i32(-1);
    let subscription = subscription.done();
    let mut member_conn = Conn::open(&broker);
    let required = member_conn.call(
        5,
        &join_request("od", "", 10_000, &[("range", &subscription)]),
    );
    let member = required.member_id;
    let joined = member_conn.call(
        5,
        &join_request("od", &member, 10_000, &[("range", &subscription)]),
    );
    assert_eq!(joined.error_code, NONE);
    let synced = member_conn.call(3, &sync("od", 1, &member, &[(&member, b"")]));
    assert_eq!(synced.error_code, NONE);
    for topic in ["subscribed", "unsubscribed"] {
        let mut commit = common::simple_commit("od", topic, 0, 5, 0, None);
        commit.generation_id_or_member_epoch = 1;
        commit.member_id = &member;
        let response = member_conn.call(7, &commit);
        assert_eq!(response.topics[0].partitions[0].error_code, NONE, "{topic}");
    }
    let request = offset_delete::Request {
        group_id: "od",
        topics: ["subscribed", "unsubscribed"]
            .into_iter()
            .map(|name| offset_delete::RequestTopic {
                name,
                partitions: vec![
                    offset_delete::RequestPartition { partition_index: 0 },
                    offset_delete::RequestPartition { partition_index: 9 },
                ],
            })
            .collect(),
    };
    let response = admin.call(0, &request);
    let codes: Vec<(&str, i32, i16)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.as_str(), p.partition_index, p.error_code))
        })
        .collect();
    assert_eq!(response.error_code, NONE);
    assert_eq!(
        codes,
        [
            ("subscribed", 0, GROUP_SUBSCRIBED_TO_TOPIC),
            ("subscribed", 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("unsubscribed", 0, NONE),
            ("unsubscribed", 9, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    let unknown = offset_delete::Request {
        group_id: "no-such-group",
        topics: vec![],
    };
    assert_eq!(admin.call(0, &unknown).error_code, GROUP_ID_NOT_FOUND);
    drop(member_conn);
    let broker = broker.restart();
    let mut admin = Conn::open(&broker);
    let fetched = admin.call(
        5,
        &fetch_one(
            "od",
            Some(vec![("subscribed", vec![0]), ("unsubscribed", vec![0])]),
        ),
    );
    let offsets: Vec<i64> = fetched
        .topics
        .iter()
        .map(|t| t.partitions[0].committed_offset)
        .collect();
    assert_eq!(offsets, [5, -1]);
}
