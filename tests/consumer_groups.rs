//! Consumer groups of Kafka's consumer protocol (KIP-848) over a real socket:
//! ConsumerGroupHeartbeat's reconciliation rule (a randomized run of joins, heartbeats and
//! leaves in which no partition is ever assigned to two members, checked after every
//! heartbeat), each error Kafka answers (INVALID_REQUEST, UNKNOWN_MEMBER_ID,
//! FENCED_MEMBER_EPOCH, UNSUPPORTED_ASSIGNOR, GROUP_MAX_SIZE_REACHED, GROUP_ID_NOT_FOUND for
//! a live classic group, INCONSISTENT_GROUP_PROTOCOL for a classic join of a live consumer
//! group, STALE_MEMBER_EPOCH on OffsetCommit), session expiry, ConsumerGroupDescribe,
//! ListGroups' types, and an exact response byte for byte.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::time::Duration;

use common::{CLIENT_ID, TestBroker, read_frame, response_body, send_frame};
use kafka_broker::apis::{
    consumer_group_describe as describe, consumer_group_heartbeat as hb, create_partitions,
    create_topics, delete_topics, describe_groups, join_group, list_groups, offset_commit,
    offset_fetch,
};
use kafka_broker::protocol::Reader;
use kafka_broker::protocol::Writer;
use kafka_broker::protocol::wire::{Ver, Wire};

const NONE: i16 = 0;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
const GROUP_ID_NOT_FOUND: i16 = 69;
const GROUP_MAX_SIZE_REACHED: i16 = 81;
const FENCED_MEMBER_EPOCH: i16 = 110;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const STALE_MEMBER_EPOCH: i16 = 113;
const MEMBER_ID_REQUIRED: i16 = 79;
const UNRELEASED_INSTANCE_ID: i16 = 111;

type TopicId = [u8; 16];
type Owned = BTreeMap<TopicId, BTreeSet<i32>>;

struct Conn {
    stream: TcpStream,
    next: i32,
}

impl Conn {
    fn open(broker: &TestBroker) -> Conn {
        Conn {
            stream: broker.connect(),
            next: 1,
        }
    }

    /// One request of `key` at `version` (flexible from `flexible`), its decoded response.
    fn call<'r, Q: Wire<'r>, R: for<'a> Wire<'a>>(
        &mut self,
        key: i16,
        version: i16,
        flexible: i16,
        request: &Q,
    ) -> R {
        self.call_raw::<Q, R>(key, version, flexible, request).1
    }

    fn call_raw<'r, Q: Wire<'r>, R: for<'a> Wire<'a>>(
        &mut self,
        key: i16,
        version: i16,
        flexible: i16,
        request: &Q,
    ) -> (Vec<u8>, R) {
        let v = Ver {
            version,
            flexible: version >= flexible,
        };
        let mut body = Vec::new();
        request.write(&mut Writer::new(&mut body), v).unwrap();
        let id = self.next;
        self.next += 1;
        send_frame(
            &mut self.stream,
            key,
            version,
            id,
            Some(CLIENT_ID),
            &body,
            v.flexible,
        );
        let payload = read_frame(&mut self.stream);
        let body = response_body(&payload, id, v.flexible).to_vec();
        let mut r = Reader::new(&body);
        let response = R::read(&mut r, v).expect("response decodes");
        assert_eq!(r.remaining(), 0, "bytes after the response");
        (body, response)
    }

    fn heartbeat(&mut self, request: &hb::Request) -> hb::Response {
        self.call(68, 1, 0, request)
    }
}

fn create_topic(conn: &mut Conn, name: &str, partitions: i32) -> TopicId {
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
    let response: create_topics::Response = conn.call(19, 7, 5, &request);
    assert_eq!(response.topics[0].error_code, NONE);
    response.topics[0].topic_id
}

fn join<'a>(group: &'a str, member: &'a str, topic: &'a str) -> hb::Request<'a> {
    hb::Request {
        group_id: group,
        member_id: member,
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec![topic]),
        topic_partitions: Some(vec![]),
        ..hb::Request::default()
    }
}

fn beat<'a>(group: &'a str, member: &'a str, epoch: i32, owned: &Owned) -> hb::Request<'a> {
    hb::Request {
        group_id: group,
        member_id: member,
        member_epoch: epoch,
        topic_partitions: Some(
            owned
                .iter()
                .map(|(t, ps)| hb::TopicPartitions {
                    topic_id: *t,
                    partitions: ps.iter().copied().collect(),
                })
                .collect(),
        ),
        ..hb::Request::default()
    }
}

fn owned_of(assignment: &hb::ResponseAssignment) -> Owned {
    assignment
        .topic_partitions
        .iter()
        .filter(|tp| !tp.partitions.is_empty())
        .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
        .collect()
}

/// A member as a client sees itself: its epoch and what it owns (it applies each assignment
/// it receives at once: what is missing is revoked, what is new is taken).
struct Client {
    id: String,
    epoch: i32,
    owned: Owned,
}

/// No partition is owned by two clients.
fn assert_disjoint(clients: &[Client], step: usize) {
    let mut seen: BTreeMap<(TopicId, i32), &str> = BTreeMap::new();
    for c in clients {
        for (t, ps) in &c.owned {
            for p in ps {
                if let Some(other) = seen.insert((*t, *p), &c.id) {
                    panic!("step {step}: partition {p} owned by {other} and {}", c.id);
                }
            }
        }
    }
}

/// xorshift64*: a fixed-seed generator, so a failing run repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn heartbeat_client(conn: &mut Conn, group: &str, c: &mut Client) -> hb::Response {
    let response = conn.heartbeat(&beat(group, &c.id, c.epoch, &c.owned));
    assert_eq!(
        response.error_code, NONE,
        "{}: {:?}",
        c.id, response.error_message
    );
    c.epoch = response.member_epoch;
    if let Some(a) = &response.assignment {
        c.owned = owned_of(a);
    }
    response
}

#[test]
fn randomized_joins_and_leaves_never_assign_a_partition_twice() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    const PARTITIONS: i32 = 12;
    create_topic(&mut conn, "rand", PARTITIONS);
    for (seed, assignor) in [
        (0x9e37_79b9_7f4a_7c15u64, "uniform"),
        (0xdead_beef, "range"),
    ] {
        let group = format!("rand-{assignor}");
        let mut rng = Rng(seed);
        let mut clients: Vec<Client> = Vec::new();
        let mut joined = 0;
        for step in 0..400 {
            let action = rng.below(10);
            if clients.is_empty() || (action == 0 && clients.len() < 6) {
                joined += 1;
                let id = format!("m{joined}");
                let mut request = join(&group, &id, "rand");
                request.server_assignor = Some(assignor);
                let response = conn.heartbeat(&request);
                assert_eq!(response.error_code, NONE, "{:?}", response.error_message);
                let owned = owned_of(response.assignment.as_ref().expect("a join's assignment"));
                clients.push(Client {
                    id,
                    epoch: response.member_epoch,
                    owned,
                });
            } else if action == 1 && clients.len() > 1 {
                let c = clients.remove(rng.below(clients.len()));
                let mut leave = beat(&group, &c.id, -1, &c.owned);
                leave.topic_partitions = None;
                let response = conn.heartbeat(&leave);
                assert_eq!((response.error_code, response.member_epoch), (NONE, -1));
            } else {
                let i = rng.below(clients.len());
                heartbeat_client(&mut conn, &group, &mut clients[i]);
            }
            assert_disjoint(&clients, step);
        }
        // Everyone heartbeats until nothing changes: every partition owned, evenly.
        for _ in 0..10 {
            for c in clients.iter_mut() {
                heartbeat_client(&mut conn, &group, c);
            }
            assert_disjoint(&clients, 400);
        }
        let counts: Vec<usize> = clients
            .iter()
            .map(|c| c.owned.values().map(BTreeSet::len).sum())
            .collect();
        assert_eq!(
            counts.iter().sum::<usize>(),
            PARTITIONS as usize,
            "{counts:?}"
        );
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{assignor}: {counts:?}");
        let described: describe::Response = conn.call(
            69,
            1,
            0,
            &describe::Request {
                group_ids: vec![&group],
                include_authorized_operations: false,
            },
        );
        let g = &described.groups[0];
        assert_eq!((g.error_code, g.group_state.as_str()), (NONE, "Stable"));
        assert_eq!(g.assignor_name, assignor);
        assert_eq!(g.members.len(), clients.len());
        for m in &g.members {
            assert_eq!(m.member_type, 1);
            assert_eq!(m.member_epoch, g.assignment_epoch);
            let parts: usize = m
                .assignment
                .topic_partitions
                .iter()
                .map(|tp| tp.partitions.len())
                .sum();
            let client = clients.iter().find(|c| c.id == m.member_id).unwrap();
            assert_eq!(
                parts,
                client.owned.values().map(BTreeSet::len).sum::<usize>()
            );
        }
    }
}

#[test]
fn a_partition_waits_for_its_revocation() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let topic = create_topic(&mut conn, "wait", 2);
    let a = conn.heartbeat(&join("w", "a", "wait"));
    assert_eq!(a.member_epoch, 1);
    let a_owned = owned_of(a.assignment.as_ref().unwrap());
    assert_eq!(a_owned[&topic].len(), 2);
    let b = conn.heartbeat(&join("w", "b", "wait"));
    assert_eq!(b.member_epoch, 2);
    assert_eq!(owned_of(b.assignment.as_ref().unwrap()), Owned::new());
    // a is told to give one partition up; it stays at epoch 1 until it has.
    let a2 = conn.heartbeat(&beat("w", "a", 1, &a_owned));
    assert_eq!(a2.member_epoch, 1);
    let kept = owned_of(a2.assignment.as_ref().unwrap());
    assert_eq!(kept[&topic].len(), 1);
    // b asks again before a acknowledged: still nothing.
    let b2 = conn.heartbeat(&beat("w", "b", 2, &Owned::new()));
    assert_eq!((b2.member_epoch, b2.assignment), (2, None));
    // a acknowledges (its heartbeat owns only what it kept) and moves to epoch 2.
    let a3 = conn.heartbeat(&beat("w", "a", 1, &kept));
    assert_eq!(a3.member_epoch, 2);
    let b3 = conn.heartbeat(&beat("w", "b", 2, &Owned::new()));
    let given = owned_of(b3.assignment.as_ref().unwrap());
    assert_eq!(given[&topic].len(), 1);
    assert!(given[&topic].is_disjoint(&kept[&topic]));
    // The full response, byte for byte.
    let (bytes, _): (Vec<u8>, hb::Response) = conn.call_raw(68, 1, 0, &beat("w", "b", 2, &given));
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0]; // throttle, error, null message
    expected.extend_from_slice(&[2, b'b']); // member_id
    expected.extend_from_slice(&[0, 0, 0, 2]); // member_epoch
    expected.extend_from_slice(&5000i32.to_be_bytes()); // heartbeat_interval_ms
    expected.extend_from_slice(&[0xff, 0]); // no assignment (unchanged), tags
    assert_eq!(bytes, expected);
}

#[test]
fn errors_are_kafkas() {
    let broker =
        TestBroker::start_with("group.consumer.max.size=2\ngroup.initial.rebalance.delay.ms=0");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "e", 2);
    let refused = |r: hb::Response| (r.error_code, r.error_message.unwrap_or_default());
    // v1: the member makes up its id.
    assert_eq!(
        refused(conn.heartbeat(&join("e", "", "e"))),
        (INVALID_REQUEST, "MemberId can't be empty.".into())
    );
    // v0: the coordinator does.
    let v0: hb::Response = conn.call(68, 0, 0, &join("e0", "", "e"));
    assert_eq!(v0.error_code, NONE);
    assert_eq!(v0.member_id.as_ref().map(String::len), Some(22));
    assert_eq!(
        refused(conn.heartbeat(&beat("nope", "m", 1, &Owned::new()))),
        (GROUP_ID_NOT_FOUND, "Group nope not found.".into())
    );
    let mut sticky = join("e", "a", "e");
    sticky.server_assignor = Some("sticky");
    assert_eq!(
        refused(conn.heartbeat(&sticky)),
        (
            UNSUPPORTED_ASSIGNOR,
            "ServerAssignor sticky is not supported. Supported assignors: uniform, range.".into()
        )
    );
    let a = conn.heartbeat(&join("e", "a", "e"));
    assert_eq!(a.member_epoch, 1);
    assert_eq!(
        refused(conn.heartbeat(&beat("e", "x", 1, &Owned::new()))),
        (
            UNKNOWN_MEMBER_ID,
            "Member x is not a member of group e.".into()
        )
    );
    let (code, message) = refused(conn.heartbeat(&beat("e", "a", 5, &Owned::new())));
    assert_eq!(code, FENCED_MEMBER_EPOCH);
    assert!(message.starts_with("The consumer group member has a greater member epoch (5)"));
    conn.heartbeat(&join("e", "b", "e"));
    assert_eq!(
        refused(conn.heartbeat(&join("e", "c", "e"))),
        (
            GROUP_MAX_SIZE_REACHED,
            "The consumer group has reached its maximum capacity of 2 members.".into()
        )
    );
    // OffsetCommit v9 from a member: its epoch must be the current one.
    let commit = |epoch| offset_commit::Request {
        group_id: "e",
        generation_id_or_member_epoch: epoch,
        member_id: "a",
        topics: vec![offset_commit::RequestTopic {
            name: "e",
            partitions: vec![offset_commit::RequestPartition {
                partition_index: 0,
                committed_offset: 0,
                ..offset_commit::RequestPartition::default()
            }],
            ..offset_commit::RequestTopic::default()
        }],
        ..offset_commit::Request::default()
    };
    let stale: offset_commit::Response = conn.call(8, 9, 8, &commit(0));
    assert_eq!(stale.topics[0].partitions[0].error_code, STALE_MEMBER_EPOCH);
    let ok: offset_commit::Response = conn.call(8, 9, 8, &commit(1));
    assert_eq!(ok.topics[0].partitions[0].error_code, NONE);
    let fetch = |epoch| offset_fetch::Request {
        groups: vec![offset_fetch::RequestGroup {
            group_id: "e",
            member_id: Some("a"),
            member_epoch: epoch,
            topics: None,
        }],
        ..offset_fetch::Request::default()
    };
    let stale: offset_fetch::Response = conn.call(9, 9, 6, &fetch(7));
    assert_eq!(stale.groups[0].error_code, STALE_MEMBER_EPOCH);
    let fetched: offset_fetch::Response = conn.call(9, 9, 6, &fetch(1));
    assert_eq!(fetched.groups[0].error_code, NONE);
    // A classic JoinGroup for the live consumer group.
    let classic_join = join_group::Request {
        group_id: "e",
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: "",
        protocol_type: "consumer",
        protocols: vec![join_group::Protocol {
            name: "range",
            metadata: b"",
        }],
        ..join_group::Request::default()
    };
    let refused_join: join_group::Response = conn.call(11, 9, 6, &classic_join);
    assert_eq!(refused_join.error_code, INCONSISTENT_GROUP_PROTOCOL);
    // A live classic group refuses the consumer protocol.
    let classic = join_group::Request {
        group_id: "classic",
        ..classic_join.clone()
    };
    let first: join_group::Response = conn.call(11, 9, 6, &classic);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    let member = first.member_id.clone();
    let rejoin = join_group::Request {
        member_id: &member,
        ..classic.clone()
    };
    let joined: join_group::Response = conn.call(11, 9, 6, &rejoin);
    assert_eq!(joined.error_code, NONE);
    assert_eq!(
        refused(conn.heartbeat(&join("classic", "z", "e"))),
        (
            GROUP_ID_NOT_FOUND,
            "Group classic is not a consumer group.".into()
        )
    );
    // DescribeGroups v6 of a consumer group, ListGroups v5 by type.
    let described: describe_groups::Response = conn.call(
        15,
        6,
        5,
        &describe_groups::Request {
            groups: vec!["e"],
            include_authorized_operations: false,
        },
    );
    assert_eq!(described.groups[0].error_code, GROUP_ID_NOT_FOUND);
    assert_eq!(described.groups[0].group_state, "Dead");
    let listed: list_groups::Response = conn.call(
        16,
        5,
        3,
        &list_groups::Request {
            states_filter: vec![],
            types_filter: vec!["consumer"],
        },
    );
    let ids: Vec<(&str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_type.as_str()))
        .collect();
    assert_eq!(ids, [("e", "consumer"), ("e0", "consumer")]);
    // Leaving, then leaving again.
    let leave = hb::Request {
        member_epoch: -1,
        topic_partitions: None,
        ..beat("e", "a", 1, &Owned::new())
    };
    assert_eq!(conn.heartbeat(&leave).member_epoch, -1);
    assert_eq!(refused(conn.heartbeat(&leave)).0, UNKNOWN_MEMBER_ID);
}

#[test]
fn a_silent_member_is_removed_after_its_session_timeout() {
    let broker = TestBroker::start_with(
        "group.consumer.session.timeout.ms=1000\ngroup.consumer.heartbeat.interval.ms=200\n\
         group.consumer.min.session.timeout.ms=1000\ngroup.consumer.min.heartbeat.interval.ms=100",
    );
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "s", 2);
    let a = conn.heartbeat(&join("s", "a", "s"));
    assert_eq!(a.heartbeat_interval_ms, 200);
    let b = conn.heartbeat(&join("s", "b", "s"));
    let mut b = Client {
        id: "b".into(),
        epoch: b.member_epoch,
        owned: owned_of(b.assignment.as_ref().unwrap()),
    };
    // b keeps heartbeating; a goes silent and is removed: b ends up with both partitions.
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        heartbeat_client(&mut conn, "s", &mut b);
        if b.owned.values().map(BTreeSet::len).sum::<usize>() == 2 {
            break;
        }
    }
    assert_eq!(b.owned.values().map(BTreeSet::len).sum::<usize>(), 2);
    let a_again = conn.heartbeat(&beat("s", "a", 1, &Owned::new()));
    assert_eq!(a_again.error_code, UNKNOWN_MEMBER_ID);
}

fn partitions_of(owned: &Owned) -> usize {
    owned.values().map(BTreeSet::len).sum()
}

#[test]
fn a_static_member_comes_back_to_its_partitions() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "st", 4);
    let mut a = join("st", "a", "st");
    a.instance_id = Some("inst");
    let a = conn.heartbeat(&a);
    let mut a = Client {
        id: "a".into(),
        epoch: a.member_epoch,
        owned: owned_of(a.assignment.as_ref().unwrap()),
    };
    let b = conn.heartbeat(&join("st", "b", "st"));
    let mut b = Client {
        id: "b".into(),
        epoch: b.member_epoch,
        owned: owned_of(b.assignment.as_ref().unwrap()),
    };
    for _ in 0..3 {
        heartbeat_client(&mut conn, "st", &mut a);
        heartbeat_client(&mut conn, "st", &mut b);
    }
    assert_eq!((partitions_of(&a.owned), partitions_of(&b.owned)), (2, 2));
    let mut twin = join("st", "a-next", "st");
    twin.instance_id = Some("inst");
    let refused = conn.heartbeat(&twin);
    assert_eq!(refused.error_code, UNRELEASED_INSTANCE_ID);
    assert_eq!(
        refused.error_message.as_deref(),
        Some(
            "Static member a-next with instance id inst cannot join the group because the \
             instance id is owned by a member."
        )
    );
    // a leaves for now (-2): its partitions stay with it, b is not given them.
    let away = hb::Request {
        member_epoch: -2,
        instance_id: Some("inst"),
        topic_partitions: None,
        ..beat("st", "a", a.epoch, &a.owned)
    };
    assert_eq!(conn.heartbeat(&away).member_epoch, -2);
    let b_epoch = b.epoch;
    heartbeat_client(&mut conn, "st", &mut b);
    assert_eq!((b.epoch, partitions_of(&b.owned)), (b_epoch, 2));
    // The restarted process (a new member id, the same instance id) gets a's partitions.
    let back = conn.heartbeat(&twin);
    assert_eq!(back.error_code, NONE);
    assert_eq!(back.member_epoch, a.epoch);
    assert_eq!(owned_of(back.assignment.as_ref().unwrap()), a.owned);
    heartbeat_client(&mut conn, "st", &mut b);
    assert_eq!(b.epoch, b_epoch);
}

#[test]
fn new_partitions_and_deleted_topics_give_a_new_target() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "grow", 2);
    create_topic(&mut conn, "gone", 2);
    let mut request = join("p", "a", "grow");
    request.subscribed_topic_names = Some(vec!["grow", "gone"]);
    let a = conn.heartbeat(&request);
    let mut a = Client {
        id: "a".into(),
        epoch: a.member_epoch,
        owned: owned_of(a.assignment.as_ref().unwrap()),
    };
    assert_eq!((a.epoch, partitions_of(&a.owned)), (1, 4));
    let grow = create_partitions::Request {
        topics: vec![create_partitions::Topic {
            name: "grow",
            count: 5,
            assignments: None,
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let grown: create_partitions::Response = conn.call(37, 3, 2, &grow);
    assert_eq!(grown.results[0].error_code, NONE);
    heartbeat_client(&mut conn, "p", &mut a);
    assert_eq!((a.epoch, partitions_of(&a.owned)), (2, 7));
    let delete = delete_topics::Request {
        topic_names: vec!["gone"],
        timeout_ms: 10_000,
        ..delete_topics::Request::default()
    };
    let deleted: delete_topics::Response = conn.call(20, 5, 4, &delete);
    assert_eq!(deleted.responses[0].error_code, NONE);
    // The deleted topic's partitions are revoked first, then the epoch moves on.
    heartbeat_client(&mut conn, "p", &mut a);
    heartbeat_client(&mut conn, "p", &mut a);
    assert_eq!((a.epoch, partitions_of(&a.owned)), (3, 5));
}

#[test]
fn members_keep_their_epochs_and_assignments_across_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "r", 4);
    let mut clients = Vec::new();
    for id in ["a", "b"] {
        let r = conn.heartbeat(&join("rs", id, "r"));
        clients.push(Client {
            id: id.into(),
            epoch: r.member_epoch,
            owned: owned_of(r.assignment.as_ref().unwrap()),
        });
    }
    for _ in 0..3 {
        for c in clients.iter_mut() {
            heartbeat_client(&mut conn, "rs", c);
        }
    }
    let described = |conn: &mut Conn| -> describe::DescribedGroup {
        let r: describe::Response = conn.call(
            69,
            1,
            0,
            &describe::Request {
                group_ids: vec!["rs"],
                include_authorized_operations: false,
            },
        );
        r.groups.into_iter().next().unwrap()
    };
    let before = described(&mut conn);
    assert_eq!(
        (before.group_state.as_str(), before.group_epoch),
        ("Stable", 2)
    );
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(described(&mut conn), before);
    for c in clients.iter_mut() {
        let (epoch, owned) = (c.epoch, c.owned.clone());
        let r = heartbeat_client(&mut conn, "rs", c);
        assert_eq!((r.member_epoch, &c.owned), (epoch, &owned));
    }
    // A third member after the restart: the group goes on from its stored epochs.
    let r = conn.heartbeat(&join("rs", "c", "r"));
    assert_eq!(r.member_epoch, 3);
}

#[test]
fn a_regex_subscription_follows_the_topics() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let one = create_topic(&mut conn, "re-one", 1);
    create_topic(&mut conn, "other", 1);
    let subscribe = |regex| hb::Request {
        subscribed_topic_names: None,
        subscribed_topic_regex: Some(regex),
        ..join("re", "a", "")
    };
    let bad = conn.heartbeat(&subscribe("re-("));
    assert_eq!(bad.error_code, 128);
    assert_eq!(
        bad.error_message.as_deref(),
        Some("SubscribedTopicRegex `re-(` is not a valid regular expression.")
    );
    let r = conn.heartbeat(&subscribe("re-.*"));
    let mut a = Client {
        id: "a".into(),
        epoch: r.member_epoch,
        owned: owned_of(r.assignment.as_ref().unwrap()),
    };
    assert_eq!(a.owned.keys().collect::<Vec<_>>(), [&one]);
    let two = create_topic(&mut conn, "re-two", 2);
    heartbeat_client(&mut conn, "re", &mut a);
    assert_eq!(a.epoch, 2);
    assert_eq!(a.owned[&two].len(), 2);
    assert_eq!(partitions_of(&a.owned), 3);
}

#[test]
fn offset_delete_and_delete_groups_of_a_consumer_group() {
    use kafka_broker::apis::{delete_groups, offset_delete};
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "od", 1);
    create_topic(&mut conn, "od-free", 1);
    let a = conn.heartbeat(&join("od-g", "a", "od"));
    let commit = offset_commit::Request {
        group_id: "od-g",
        generation_id_or_member_epoch: a.member_epoch,
        member_id: "a",
        topics: ["od", "od-free"]
            .iter()
            .map(|name| offset_commit::RequestTopic {
                name,
                partitions: vec![offset_commit::RequestPartition {
                    partition_index: 0,
                    committed_offset: 0,
                    ..offset_commit::RequestPartition::default()
                }],
                ..offset_commit::RequestTopic::default()
            })
            .collect(),
        ..offset_commit::Request::default()
    };
    let committed: offset_commit::Response = conn.call(8, 9, 8, &commit);
    assert!(
        committed
            .topics
            .iter()
            .all(|t| t.partitions[0].error_code == NONE)
    );
    let delete = |name| offset_delete::Request {
        group_id: "od-g",
        topics: vec![offset_delete::RequestTopic {
            name,
            partitions: vec![offset_delete::RequestPartition { partition_index: 0 }],
        }],
    };
    let subscribed: offset_delete::Response = conn.call(47, 0, 99, &delete("od"));
    assert_eq!(subscribed.topics[0].partitions[0].error_code, 86);
    let free: offset_delete::Response = conn.call(47, 0, 99, &delete("od-free"));
    assert_eq!(free.topics[0].partitions[0].error_code, NONE);
    let delete_group = delete_groups::Request {
        groups_names: vec!["od-g"],
    };
    let busy: delete_groups::Response = conn.call(42, 2, 2, &delete_group);
    assert_eq!(busy.results[0].error_code, 68);
    let leave = hb::Request {
        member_epoch: -1,
        topic_partitions: None,
        ..beat("od-g", "a", 1, &Owned::new())
    };
    assert_eq!(conn.heartbeat(&leave).error_code, NONE);
    let gone: delete_groups::Response = conn.call(42, 2, 2, &delete_group);
    assert_eq!(gone.results[0].error_code, NONE);
    // Deleted with its records: a restart does not bring it back.
    drop(conn);
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    let described: describe::Response = conn.call(
        69,
        1,
        0,
        &describe::Request {
            group_ids: vec!["od-g"],
            include_authorized_operations: false,
        },
    );
    assert_eq!(described.groups[0].error_code, GROUP_ID_NOT_FOUND);
}
