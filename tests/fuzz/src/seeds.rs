//! The seed corpus: short sessions of valid requests, each a file of harness records (see
//! `harness`), built with the broker's own request encoders. `frames --write-seeds DIR`
//! writes them; the committed copies live in `tests/fuzz/corpus/`.

use std::path::Path;

use kafka_broker::apis::Api;
use kafka_broker::apis::api_versions::{self, ApiVersions};
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::delete_topics::{self, DeleteTopics};
use kafka_broker::apis::describe_cluster::{self, DescribeCluster};
use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
use kafka_broker::apis::describe_groups::{self, DescribeGroups};
use kafka_broker::apis::describe_topic_partitions::{self, DescribeTopicPartitions};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::find_coordinator::{self, FindCoordinator};
use kafka_broker::apis::heartbeat::{self, Heartbeat};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::join_group::{self, JoinGroup};
use kafka_broker::apis::leave_group::{self, LeaveGroup};
use kafka_broker::apis::list_groups::{self, ListGroups};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::offset_commit::{self, OffsetCommit};
use kafka_broker::apis::offset_fetch::{self, OffsetFetch};
use kafka_broker::apis::offset_for_leader_epoch::{self, OffsetForLeaderEpoch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::apis::sync_group::{self, SyncGroup};
use kafka_broker::protocol::Writer;
use kafka_broker::protocol::wire::{self, Records};
use kafka_broker::storage::crc32c::crc32c;

use crate::harness::{CTL_RESTART, CTL_TIMER, MEMBER_SLOT, TOPIC_SLOT, record};

const CLIENT_ID: &str = "fuzz";
const TOPIC: &str = "t";

/// A topic-id placeholder for the `k`-th topic.
fn topic_slot(k: u8) -> [u8; 16] {
    let mut id = [0; 16];
    id[..15].copy_from_slice(&TOPIC_SLOT);
    id[15] = k;
    id
}

/// A member-id placeholder for the `k`-th most recent member id.
fn member_slot(k: u8) -> &'static str {
    const SLOTS: [&str; 4] = ["@MEMBER0", "@MEMBER1", "@MEMBER2", "@MEMBER3"];
    debug_assert!(SLOTS[0].as_bytes().starts_with(MEMBER_SLOT));
    SLOTS[usize::from(k)]
}

/// `ctl` for a frame from `peer` after a clock advance of index `advance`.
fn ctl(advance: u8, peer: u8) -> u8 {
    (advance & 7) | ((peer & 3) << 3)
}

/// A session being written: records with increasing correlation ids.
struct Session {
    bytes: Vec<u8>,
    correlation_id: i32,
}

impl Session {
    fn new() -> Session {
        Session {
            bytes: Vec::new(),
            correlation_id: 1,
        }
    }

    /// One request of API `A`: header v1 or v2 as the API's version needs, then `request`.
    fn send<'a, A: Api>(&mut self, ctl: u8, version: i16, request: &A::Request<'a>) {
        let spec = A::SPEC;
        assert!(spec.supports(version), "{} v{version}", spec.name);
        let mut frame = Vec::new();
        let mut w = Writer::new(&mut frame);
        w.i16(spec.key).i16(version).i32(self.correlation_id);
        w.nullable_string(Some(CLIENT_ID), false);
        w.tags(spec.request_header_flexible(version));
        wire::encode(request, spec.ver(version), &mut frame)
            .unwrap_or_else(|e| panic!("{} v{version}: {e}", spec.name));
        self.correlation_id += 1;
        record(&mut self.bytes, ctl, &frame);
    }

    /// A raw frame (for malformed requests).
    fn raw(&mut self, ctl: u8, frame: &[u8]) {
        record(&mut self.bytes, ctl, frame);
    }
}

/// A v2 record batch of `count` records (`value-N`, keyed every other one), optionally from
/// an idempotent producer.
fn record_batch(count: i32, producer: Option<(i64, i16, i32)>) -> Vec<u8> {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let timestamp = 1_700_000_000_000i64;
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i64(0).i32(0).i32(-1).i8(2).u32(0).i16(0);
    w.i32(count - 1)
        .i64(timestamp)
        .i64(timestamp + i64::from(count) - 1);
    w.i64(producer_id)
        .i16(producer_epoch)
        .i32(base_sequence)
        .i32(count);
    for delta in 0..count {
        let mut rec = Vec::new();
        let mut r = Writer::new(&mut rec);
        r.i8(0).varlong(i64::from(delta)).varint(delta);
        if delta % 2 == 1 {
            r.varint(1).raw(b"k");
        } else {
            r.varint(-1);
        }
        let value = format!("value-{delta}");
        r.varint(value.len() as i32).raw(value.as_bytes());
        // One header on the first record.
        if delta == 0 {
            r.varint(1).varint(1).raw(b"h").varint(1).raw(b"v");
        } else {
            r.varint(0);
        }
        w.varint(rec.len() as i32).raw(&rec);
    }
    let length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn create(s: &mut Session, c: u8, version: i16, name: &str, partitions: i32) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: partitions,
            replication_factor: if version >= 4 { -1 } else { 1 },
            assignments: vec![],
            configs: vec![create_topics::Config {
                name: "segment.bytes",
                value: Some("4096"),
            }],
        }],
        timeout_ms: 5000,
        validate_only: false,
    };
    s.send::<CreateTopics>(c, version, &request);
}

fn produce_to(s: &mut Session, c: u8, version: i16, acks: i16, batch: &[u8], partition: i32) {
    let request = produce::Request {
        transactional_id: None,
        acks,
        timeout_ms: 5000,
        topic_data: vec![produce::TopicProduceData {
            name: TOPIC,
            partition_data: vec![produce::PartitionProduceData {
                index: partition,
                records: Some(Records::Bytes(batch)),
            }],
        }],
    };
    s.send::<Produce>(c, version, &request);
}

fn fetch_from(s: &mut Session, c: u8, version: i16, offset: i64, max_wait_ms: i32) {
    let request = fetch::Request {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic: TOPIC,
            topic_id: topic_slot(1),
            partitions: vec![fetch::FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..Default::default()
    };
    s.send::<Fetch>(c, version, &request);
}

fn api_versions_seed() -> Vec<u8> {
    let mut s = Session::new();
    // v3+ carries the client's software name and version; v0-2 an empty body.
    for version in [4, 3, 0, 2] {
        let request = api_versions::Request {
            client_software_name: "fuzz",
            client_software_version: "1.0",
        };
        s.send::<ApiVersions>(ctl(0, 0), version, &request);
    }
    // An unsupported version: answered with UNSUPPORTED_VERSION.
    s.raw(
        ctl(0, 1),
        &[0, 18, 0, 9, 0, 0, 0, 7, 0, 4, b'f', b'u', b'z', b'z', 0, 0],
    );
    s.bytes
}

fn metadata_seed() -> Vec<u8> {
    let mut s = Session::new();
    for (version, topics) in [
        (0, Some(vec![])),
        (1, None),
        (4, Some(vec![TOPIC])),
        (9, Some(vec![TOPIC, "other"])),
        (12, None),
    ] {
        let request = metadata::Request {
            topics: topics.map(|names| {
                names
                    .into_iter()
                    .map(|name| metadata::RequestTopic {
                        topic_id: [0; 16],
                        name: Some(name),
                    })
                    .collect()
            }),
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: version >= 8,
        };
        s.send::<Metadata>(ctl(0, 0), version, &request);
    }
    let request = describe_topic_partitions::Request {
        topics: vec![
            describe_topic_partitions::TopicRequest { name: TOPIC },
            describe_topic_partitions::TopicRequest { name: "missing" },
        ],
        response_partition_limit: 100,
        cursor: None,
    };
    s.send::<DescribeTopicPartitions>(ctl(0, 1), 0, &request);
    for version in [0, 1, 2] {
        let request = describe_cluster::Request {
            include_cluster_authorized_operations: false,
            endpoint_type: 1,
            include_fenced_brokers: false,
        };
        s.send::<DescribeCluster>(ctl(0, 1), version, &request);
    }
    s.bytes
}

/// CreateTopics, Produce (several versions and acks), Fetch by name and by id, ListOffsets,
/// OffsetForLeaderEpoch, DescribeConfigs, a restart, then DeleteTopics.
fn produce_fetch_seed() -> Vec<u8> {
    let mut s = Session::new();
    create(&mut s, ctl(0, 0), 7, TOPIC, 2);
    let batch = record_batch(3, None);
    produce_to(&mut s, ctl(1, 0), 11, -1, &batch, 0);
    produce_to(&mut s, ctl(1, 0), 3, 1, &batch, 1);
    produce_to(&mut s, ctl(1, 0), 8, 0, &batch, 0);
    fetch_from(&mut s, ctl(1, 1), 12, 0, 0);
    fetch_from(&mut s, ctl(1, 1), 16, 3, 0);
    fetch_from(&mut s, ctl(1, 1), 4, 0, 0);
    for version in [1, 7] {
        let request = list_offsets::Request {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![list_offsets::ListOffsetsTopic {
                name: TOPIC,
                partitions: vec![
                    list_offsets::ListOffsetsPartition {
                        partition_index: 0,
                        current_leader_epoch: -1,
                        timestamp: -1,
                    },
                    list_offsets::ListOffsetsPartition {
                        partition_index: 1,
                        current_leader_epoch: -1,
                        timestamp: -2,
                    },
                ],
            }],
            ..Default::default()
        };
        s.send::<ListOffsets>(ctl(0, 2), version, &request);
    }
    let request = offset_for_leader_epoch::Request {
        replica_id: -1,
        topics: vec![offset_for_leader_epoch::RequestTopic {
            topic: TOPIC,
            partitions: vec![offset_for_leader_epoch::RequestPartition {
                partition: 0,
                current_leader_epoch: -1,
                leader_epoch: 0,
            }],
        }],
    };
    s.send::<OffsetForLeaderEpoch>(ctl(0, 2), 4, &request);
    for version in [1, 4] {
        let request = describe_configs::Request {
            resources: vec![
                describe_configs::Resource {
                    resource_type: 2,
                    resource_name: TOPIC,
                    configuration_keys: None,
                },
                describe_configs::Resource {
                    resource_type: 4,
                    resource_name: "1",
                    configuration_keys: Some(vec!["log.segment.bytes"]),
                },
            ],
            include_synonyms: true,
            include_documentation: version >= 3,
        };
        s.send::<DescribeConfigs>(ctl(0, 3), version, &request);
    }
    // Restart: the log is replayed and recovered, then read again.
    fetch_from(&mut s, CTL_RESTART | ctl(0, 0), 13, 0, 0);
    for version in [1, 6] {
        let request = delete_topics::Request {
            topics: vec![delete_topics::TopicState {
                name: Some(TOPIC),
                topic_id: [0; 16],
            }],
            topic_names: vec![TOPIC],
            timeout_ms: 5000,
        };
        s.send::<DeleteTopics>(ctl(0, 0), version, &request);
    }
    s.bytes
}

/// A long-poll Fetch parked on peer 0 and woken by a Produce from peer 1, a second one that
/// expires, and a Metadata auto-creation racing it.
fn long_poll_seed() -> Vec<u8> {
    let mut s = Session::new();
    create(&mut s, ctl(0, 0), 5, TOPIC, 1);
    fetch_from(&mut s, ctl(0, 0), 12, 0, 500);
    produce_to(&mut s, ctl(2, 1), 9, -1, &record_batch(2, None), 0);
    fetch_from(&mut s, ctl(0, 2), 15, 2, 200);
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            topic_id: [0; 16],
            name: Some("auto"),
        }]),
        allow_auto_topic_creation: true,
        include_cluster_authorized_operations: false,
        include_topic_authorized_operations: false,
    };
    s.send::<Metadata>(ctl(5, 3), 7, &request);
    s.bytes
}

/// An idempotent producer: InitProducerId, then sequenced batches, a retry and a gap.
fn idempotent_seed() -> Vec<u8> {
    let mut s = Session::new();
    create(&mut s, ctl(0, 0), 7, TOPIC, 1);
    for version in [0, 4] {
        let request = init_producer_id::Request {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        s.send::<InitProducerId>(ctl(0, 0), version, &request);
    }
    let first = record_batch(2, Some((1, 0, 0)));
    produce_to(&mut s, ctl(0, 0), 11, -1, &first, 0);
    produce_to(&mut s, ctl(0, 0), 11, -1, &first, 0);
    produce_to(
        &mut s,
        ctl(0, 0),
        7,
        -1,
        &record_batch(1, Some((1, 0, 2))),
        0,
    );
    produce_to(
        &mut s,
        ctl(0, 0),
        7,
        -1,
        &record_batch(1, Some((1, 0, 9))),
        0,
    );
    produce_to(&mut s, CTL_RESTART | ctl(0, 0), 11, -1, &first, 0);
    s.bytes
}

fn join(s: &mut Session, c: u8, version: i16, member_id: &str, instance: Option<&str>) {
    let request = join_group::Request {
        group_id: "g",
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 5_000,
        member_id,
        group_instance_id: instance,
        protocol_type: "consumer",
        protocols: vec![join_group::Protocol {
            name: "range",
            metadata: &[0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0],
        }],
        reason: Some("fuzz"),
    };
    s.send::<JoinGroup>(c, version, &request);
}

fn sync(s: &mut Session, c: u8, version: i16, member: &str, leader: bool) {
    let assignment: &[u8] = &[
        0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let request = sync_group::Request {
        group_id: "g",
        generation_id: 1,
        member_id: member,
        group_instance_id: None,
        protocol_type: Some("consumer"),
        protocol_name: Some("range"),
        assignments: if leader {
            vec![sync_group::Assignment {
                member_id: member,
                assignment,
            }]
        } else {
            vec![]
        },
    };
    s.send::<SyncGroup>(c, version, &request);
}

fn commit(s: &mut Session, c: u8, version: i16, member: &str, generation: i32) {
    let request = offset_commit::Request {
        group_id: "g",
        generation_id_or_member_epoch: generation,
        member_id: member,
        group_instance_id: None,
        retention_time_ms: -1,
        topics: vec![offset_commit::RequestTopic {
            name: TOPIC,
            partitions: vec![offset_commit::RequestPartition {
                partition_index: 0,
                committed_offset: 5,
                committed_leader_epoch: -1,
                committed_metadata: Some("m"),
            }],
            ..Default::default()
        }],
    };
    s.send::<OffsetCommit>(c, version, &request);
}

fn fetch_offsets(s: &mut Session, c: u8, version: i16, all: bool) {
    let topics = (!all).then(|| {
        vec![offset_fetch::RequestTopic {
            name: TOPIC,
            partition_indexes: vec![0, 1],
            ..Default::default()
        }]
    });
    // The group at the top level before v8, in `groups` from v8.
    let request = offset_fetch::Request {
        group_id: "g",
        topics: topics.clone(),
        groups: vec![offset_fetch::RequestGroup {
            group_id: "g",
            member_id: None,
            member_epoch: -1,
            topics,
        }],
        require_stable: false,
    };
    s.send::<OffsetFetch>(c, version, &request);
}

/// A whole consumer-group life on current versions: FindCoordinator, JoinGroup with
/// MEMBER_ID_REQUIRED and the initial delay, SyncGroup, Heartbeat, OffsetCommit and
/// OffsetFetch, Describe/ListGroups, a second member's rebalance, LeaveGroup, session expiry.
fn group_seed() -> Vec<u8> {
    let mut s = Session::new();
    let request = find_coordinator::Request {
        key: "g",
        key_type: 0,
        coordinator_keys: vec!["g"],
    };
    s.send::<FindCoordinator>(ctl(0, 0), 4, &request);
    s.send::<FindCoordinator>(ctl(0, 0), 1, &request);
    create(&mut s, ctl(0, 0), 7, TOPIC, 2);
    join(&mut s, ctl(0, 0), 9, "", None);
    join(&mut s, ctl(0, 0), 9, member_slot(0), None);
    sync(&mut s, ctl(4, 0), 5, member_slot(0), true);
    let hb = heartbeat::Request {
        group_id: "g",
        generation_id: 1,
        member_id: member_slot(0),
        group_instance_id: None,
    };
    s.send::<Heartbeat>(ctl(3, 0), 4, &hb);
    commit(&mut s, ctl(0, 0), 9, member_slot(0), 1);
    fetch_offsets(&mut s, ctl(0, 1), 9, false);
    fetch_offsets(&mut s, ctl(0, 1), 8, true);
    let request = describe_groups::Request {
        groups: vec!["g", "none"],
        include_authorized_operations: true,
    };
    s.send::<DescribeGroups>(ctl(0, 1), 5, &request);
    let request = list_groups::Request {
        states_filter: vec!["Stable"],
        types_filter: vec![],
    };
    s.send::<ListGroups>(ctl(0, 1), 5, &request);
    // A static second member joins: the group rebalances.
    join(&mut s, ctl(0, 2), 9, "", Some("instance-2"));
    s.send::<Heartbeat>(ctl(3, 0), 4, &hb);
    join(&mut s, ctl(0, 0), 9, member_slot(1), None);
    let request = leave_group::Request {
        group_id: "g",
        member_id: "",
        members: vec![leave_group::MemberIdentity {
            member_id: member_slot(0),
            group_instance_id: None,
            reason: Some("bye"),
        }],
    };
    s.send::<LeaveGroup>(ctl(0, 0), 5, &request);
    // Sessions expire.
    s.raw(ctl(7, 3) | CTL_TIMER, &[]);
    s.bytes
}

/// The same life on the oldest versions (no MEMBER_ID_REQUIRED, v0 commits as simple
/// consumer with generation -1), then a restart replaying committed offsets.
fn group_old_seed() -> Vec<u8> {
    let mut s = Session::new();
    let request = find_coordinator::Request {
        key: "g",
        key_type: 0,
        coordinator_keys: vec![],
    };
    s.send::<FindCoordinator>(ctl(0, 0), 0, &request);
    join(&mut s, ctl(0, 0), 1, "", None);
    sync(&mut s, ctl(4, 0), 0, member_slot(0), true);
    let hb = heartbeat::Request {
        group_id: "g",
        generation_id: 1,
        member_id: member_slot(0),
        group_instance_id: None,
    };
    s.send::<Heartbeat>(ctl(0, 0), 0, &hb);
    commit(&mut s, ctl(0, 0), 2, member_slot(0), 1);
    commit(&mut s, ctl(0, 1), 6, "", -1);
    fetch_offsets(&mut s, ctl(0, 1), 1, false);
    let request = leave_group::Request {
        group_id: "g",
        member_id: member_slot(0),
        members: vec![],
    };
    s.send::<LeaveGroup>(ctl(0, 0), 0, &request);
    let request = list_groups::Request {
        states_filter: vec![],
        types_filter: vec![],
    };
    s.send::<ListGroups>(ctl(0, 1), 0, &request);
    fetch_offsets(&mut s, CTL_RESTART | ctl(0, 1), 5, true);
    s.bytes
}

/// Requests the broker must refuse without falling over: an unknown api key, an
/// unsupported version, a truncated body, a short header.
fn bad_frames_seed() -> Vec<u8> {
    let mut s = Session::new();
    s.raw(ctl(0, 0), &[0, 99, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    s.raw(ctl(0, 1), &[0, 1, 0, 1, 0, 0, 0, 2, 0xff, 0xff]);
    s.raw(ctl(0, 2), &[0, 3]);
    let mut truncated = Session::new();
    create(&mut truncated, 0, 7, TOPIC, 3);
    let frame = &truncated.bytes[3..truncated.bytes.len() - 5];
    s.raw(ctl(0, 3), frame);
    s.bytes
}

pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("api_versions", api_versions_seed()),
        ("metadata", metadata_seed()),
        ("produce_fetch", produce_fetch_seed()),
        ("long_poll", long_poll_seed()),
        ("idempotent", idempotent_seed()),
        ("group", group_seed()),
        ("group_old", group_old_seed()),
        ("bad_frames", bad_frames_seed()),
    ]
}

pub fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in all() {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
