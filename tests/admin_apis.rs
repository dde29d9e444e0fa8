//! OffsetForLeaderEpoch, DescribeConfigs and DescribeCluster over a real socket. Requests
//! are built with the declared codecs (`wire::encode`) and responses read with `wire::decode`
//! (re-encoded, a response gives back the bytes received); for each API an old
//! (non-flexible) and a flexible response are also checked byte for byte.

mod common;

use std::net::TcpStream;

use common::{CLIENT_ID, TestBroker, assert_bytes, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::describe_cluster::{self, DescribeCluster};
use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
use kafka_broker::apis::offset_for_leader_epoch::{self, OffsetForLeaderEpoch};
use kafka_broker::protocol::Reader;
use kafka_broker::protocol::wire::{Records, Ver, Wire, decode, encode};
use kafka_broker::storage::crc32c::crc32c;

const PRODUCE: i16 = 0;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
const SOURCE_DEFAULT_CONFIG: i8 = 5;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;

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

    /// Sends a request body and returns the response body; `flexible` picks the headers.
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

    /// Sends a declared request at `version` and returns the response body.
    fn send<A: Api>(&mut self, version: i16, request: &A::Request<'_>) -> Vec<u8> {
        let v = A::SPEC.ver(version);
        self.call(A::SPEC.key, version, v.flexible, &body_of(request, v))
    }
}

/// A declared message's body at `v`.
fn body_of<'a, T: Wire<'a>>(message: &T, v: Ver) -> Vec<u8> {
    let mut out = Vec::new();
    encode(message, v, &mut out).expect("encodes");
    out
}

/// Decodes a whole response body of `A` at `version`: re-encoded, it gives the same bytes.
fn decoded<'a, A: Api>(body: &'a [u8], version: i16) -> A::Response<'a>
where
    A::Response<'a>: std::fmt::Debug,
{
    let v = A::SPEC.ver(version);
    let response = decode(body, v).expect("the response decodes");
    assert_eq!(body_of(&response, v), body, "{response:?} re-encoded");
    response
}

/// Hand-built expected bytes.
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
    fn uv(&mut self, v: usize) -> &mut Self {
        assert!(v < 0x80);
        self.0.push(v as u8);
        self
    }
    fn varint(&mut self, v: i64) -> &mut Self {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            self.0.push((z as u8 & 0x7f) | 0x80);
            z >>= 7;
        }
        self.0.push(z as u8);
        self
    }
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.i16(s.len() as i16).raw(s.as_bytes())
    }
    fn cs(&mut self, s: &str) -> &mut Self {
        self.uv(s.len() + 1).raw(s.as_bytes())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
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
    let body = conn.send::<CreateTopics>(7, &request);
    let response = decoded::<CreateTopics>(&body, 7);
    assert_eq!(
        (
            response.topics[0].error_code,
            response.topics[0].num_partitions
        ),
        (NONE, partitions),
        "creating {name}"
    );
}

/// Produces `count` null-key records in one plain batch to `topic`-`partition` (v11).
fn produce_records(conn: &mut Conn, topic: &str, partition: i32, count: i32) {
    let mut b = B::default();
    b.i64(0).i32(0).i32(0).i8(2).i32(0).i16(0);
    b.i32(count - 1)
        .i64(1_700_000_000_000)
        .i64(1_700_000_000_000);
    b.i64(-1).i16(-1).i32(-1).i32(count);
    for delta in 0..count {
        let record = B::default()
            .i8(0)
            .varint(0)
            .varint(i64::from(delta))
            .varint(-1)
            .varint(1)
            .raw(b"v")
            .varint(0)
            .take();
        b.varint(record.len() as i64).raw(&record);
    }
    let mut batch = b.take();
    let length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let request = kafka_broker::apis::produce::Request {
        transactional_id: None,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![kafka_broker::apis::produce::TopicProduceData {
            name: topic,
            partition_data: vec![kafka_broker::apis::produce::PartitionProduceData {
                index: partition,
                records: Some(Records::Bytes(&batch)),
            }],
        }],
    };
    let mut body = Vec::new();
    let v11 = Ver {
        version: 11,
        flexible: true,
    };
    encode(&request, v11, &mut body).unwrap();
    let body = conn.call(PRODUCE, 11, true, &body);
    // responses[1]: name, partitions[1]: index, error_code.
    let mut r = Reader::new(&body);
    r.array_len(true, 1).unwrap();
    r.string(true).unwrap();
    r.array_len(true, 1).unwrap();
    assert_eq!(r.i32().unwrap(), partition);
    assert_eq!(r.i16().unwrap(), NONE, "produce error");
}

// ---- OffsetForLeaderEpoch ----

/// A topic's expected (error_code, partition, leader_epoch, end_offset) rows.
type TopicRows<'a> = (&'a str, &'a [(i16, i32, i32, i64)]);

#[test]
fn offset_for_leader_epoch_v2_to_v4() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "epochs", 2, &[]);
    produce_records(&mut conn, "epochs", 0, 3);
    produce_records(&mut conn, "epochs", 0, 2);
    let partition = |partition, leader_epoch| offset_for_leader_epoch::RequestPartition {
        partition,
        current_leader_epoch: 0,
        leader_epoch,
    };
    let request = offset_for_leader_epoch::Request {
        replica_id: -1,
        topics: vec![
            offset_for_leader_epoch::RequestTopic {
                topic: "epochs",
                partitions: vec![
                    partition(0, 0),
                    partition(1, 0),
                    partition(0, 7),
                    partition(9, 0),
                ],
            },
            offset_for_leader_epoch::RequestTopic {
                topic: "missing",
                partitions: vec![partition(0, 0)],
            },
        ],
    };
    let result =
        |error_code, partition, leader_epoch, end_offset| offset_for_leader_epoch::EpochEndOffset {
            error_code,
            partition,
            leader_epoch,
            end_offset,
        };
    let expected = offset_for_leader_epoch::Response {
        throttle_time_ms: 0,
        topics: vec![
            offset_for_leader_epoch::ResponseTopic {
                topic: "epochs",
                partitions: vec![
                    result(NONE, 0, 0, 5),
                    result(NONE, 1, 0, 0),
                    // An epoch newer than the leader's: undefined epoch and offset.
                    result(NONE, 0, -1, -1),
                    result(UNKNOWN_TOPIC_OR_PARTITION, 9, -1, -1),
                ],
            },
            offset_for_leader_epoch::ResponseTopic {
                topic: "missing",
                partitions: vec![result(UNKNOWN_TOPIC_OR_PARTITION, 0, -1, -1)],
            },
        ],
    };
    for version in 2..=4 {
        let flexible = version >= 4;
        let body = conn.send::<OffsetForLeaderEpoch>(version, &request);
        let response = decoded::<OffsetForLeaderEpoch>(&body, version);
        assert_eq!(response, expected, "OffsetForLeaderEpoch v{version}");
        let rows: [TopicRows; 2] = [
            (
                "epochs",
                &[(0, 0, 0, 5), (0, 1, 0, 0), (0, 0, -1, -1), (3, 9, -1, -1)],
            ),
            ("missing", &[(3, 0, -1, -1)]),
        ];
        let mut bytes = B::default();
        bytes.i32(0);
        if flexible {
            bytes.uv(rows.len() + 1);
        } else {
            bytes.i32(rows.len() as i32);
        }
        for (topic, partitions) in rows {
            if flexible {
                bytes.cs(topic).uv(partitions.len() + 1);
            } else {
                bytes.s(topic).i32(partitions.len() as i32);
            }
            for &(error, partition, epoch, end) in partitions {
                bytes.i16(error).i32(partition).i32(epoch).i64(end);
                if flexible {
                    bytes.uv(0);
                }
            }
            if flexible {
                bytes.uv(0);
            }
        }
        if flexible {
            bytes.uv(0);
        }
        assert_bytes(&body, &bytes.take());
    }
}

// ---- DescribeConfigs ----

fn describe_configs_call(
    conn: &mut Conn,
    version: i16,
    resources: Vec<describe_configs::Resource>,
) -> (Vec<u8>, describe_configs::Response) {
    let request = describe_configs::Request {
        resources,
        include_synonyms: false,
        include_documentation: false,
    };
    let body = conn.send::<DescribeConfigs>(version, &request);
    let response = decoded::<DescribeConfigs>(&body, version);
    (body, response)
}

fn config(
    version: i16,
    name: &str,
    value: &str,
    read_only: bool,
    source: i8,
    kind: i8,
) -> describe_configs::ConfigResult {
    describe_configs::ConfigResult {
        name: name.into(),
        value: Some(value.into()),
        read_only,
        config_source: source,
        is_sensitive: false,
        synonyms: vec![],
        config_type: if version >= 3 { kind } else { 0 },
        documentation: None,
    }
}

#[test]
fn describe_configs_v1_to_v4_of_a_topic_with_an_override_and_of_the_broker() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "configured", 1, &[("retention.ms", "1000")]);
    for version in 1..=4 {
        let (_, response) = describe_configs_call(
            &mut conn,
            version,
            vec![
                describe_configs::Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "configured",
                    configuration_keys: None,
                },
                describe_configs::Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "unknown",
                    configuration_keys: None,
                },
                describe_configs::Resource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configuration_keys: Some(vec!["node.id", "log.retention.ms"]),
                },
            ],
        );
        assert_eq!(response.throttle_time_ms, 0);
        assert_eq!(response.results.len(), 3, "v{version}");
        let topic = &response.results[0];
        assert_eq!(
            (
                topic.error_code,
                &topic.error_message,
                topic.resource_type,
                topic.resource_name.as_str()
            ),
            (NONE, &None, RESOURCE_TOPIC, "configured"),
            "v{version}"
        );
        // Every Kafka 4.2 topic key is described; these are the ones this broker acts on.
        assert_eq!(topic.configs.len(), 33, "v{version}");
        let acted_on = [
            "cleanup.policy",
            "compression.type",
            "max.message.bytes",
            "message.timestamp.type",
            "min.insync.replicas",
            "retention.bytes",
            "retention.ms",
            "segment.bytes",
            "segment.ms",
        ];
        let values: Vec<(&str, Option<&str>)> = topic
            .configs
            .iter()
            .filter(|c| acted_on.contains(&c.name.as_str()))
            .map(|c| (c.name.as_str(), c.value.as_deref()))
            .collect();
        assert_eq!(
            values,
            [
                ("cleanup.policy", Some("delete")),
                ("compression.type", Some("producer")),
                ("max.message.bytes", Some("1048588")),
                ("message.timestamp.type", Some("CreateTime")),
                ("min.insync.replicas", Some("1")),
                ("retention.bytes", Some("-1")),
                ("retention.ms", Some("1000")),
                ("segment.bytes", Some("1073741824")),
                ("segment.ms", Some("604800000")),
            ],
            "v{version} topic configs"
        );
        let retention = topic
            .configs
            .iter()
            .find(|c| c.name == "retention.ms")
            .unwrap();
        assert_eq!(
            retention,
            &config(
                version,
                "retention.ms",
                "1000",
                false,
                SOURCE_DYNAMIC_TOPIC_CONFIG,
                TYPE_LONG
            ),
            "v{version}"
        );
        for c in &topic.configs {
            assert!(!c.read_only && !c.is_sensitive, "v{version} {c:?}");
            assert!(c.synonyms.is_empty() && c.documentation.is_none(), "{c:?}");
            if c.name != "retention.ms" {
                assert_ne!(c.config_source, SOURCE_DYNAMIC_TOPIC_CONFIG, "{c:?}");
            }
        }

        let unknown = &response.results[1];
        assert_eq!(
            (
                unknown.error_code,
                unknown.resource_name.as_str(),
                unknown.configs.len()
            ),
            (UNKNOWN_TOPIC_OR_PARTITION, "unknown", 0),
            "v{version}"
        );
        assert!(unknown.error_message.is_some(), "v{version}");

        let node = &response.results[2];
        assert_eq!(
            (
                node.error_code,
                node.resource_type,
                node.resource_name.as_str()
            ),
            (NONE, RESOURCE_BROKER, "1")
        );
        // As Kafka: log.retention.ms has no default (log.retention.hours gives 168) and may
        // change at run time; node.id may not.
        let unset_retention = describe_configs::ConfigResult {
            value: None,
            ..config(
                version,
                "log.retention.ms",
                "",
                false,
                SOURCE_DEFAULT_CONFIG,
                TYPE_LONG,
            )
        };
        assert_eq!(
            node.configs,
            [
                unset_retention,
                config(
                    version,
                    "node.id",
                    "1",
                    true,
                    SOURCE_DEFAULT_CONFIG,
                    TYPE_INT
                ),
            ],
            "v{version} broker configs"
        );
    }

    // Exact bytes: v1 (no config_type/documentation) and v4 (flexible).
    let only_retention = || {
        vec![describe_configs::Resource {
            resource_type: RESOURCE_TOPIC,
            resource_name: "configured",
            configuration_keys: Some(vec!["retention.ms"]),
        }]
    };
    let (body, _) = describe_configs_call(&mut conn, 1, only_retention());
    let v1 = B::default()
        .i32(0)
        .i32(1)
        .i16(0)
        .i16(-1) // error_message null
        .i8(RESOURCE_TOPIC)
        .s("configured")
        .i32(1)
        .s("retention.ms")
        .s("1000")
        .i8(0) // read_only
        .i8(SOURCE_DYNAMIC_TOPIC_CONFIG)
        .i8(0) // is_sensitive
        .i32(0) // synonyms
        .take();
    assert_bytes(&body, &v1);
    let (body, _) = describe_configs_call(&mut conn, 3, only_retention());
    let v3 = B::default()
        .i32(0)
        .i32(1)
        .i16(0)
        .i16(-1)
        .i8(RESOURCE_TOPIC)
        .s("configured")
        .i32(1)
        .s("retention.ms")
        .s("1000")
        .i8(0)
        .i8(SOURCE_DYNAMIC_TOPIC_CONFIG)
        .i8(0)
        .i32(0)
        .i8(TYPE_LONG)
        .i16(-1) // documentation null
        .take();
    assert_bytes(&body, &v3);
    let (body, _) = describe_configs_call(&mut conn, 4, only_retention());
    let v4 = B::default()
        .i32(0)
        .uv(2)
        .i16(0)
        .uv(0) // error_message null
        .i8(RESOURCE_TOPIC)
        .cs("configured")
        .uv(2)
        .cs("retention.ms")
        .cs("1000")
        .i8(0)
        .i8(SOURCE_DYNAMIC_TOPIC_CONFIG)
        .i8(0)
        .uv(1) // synonyms: empty
        .i8(TYPE_LONG)
        .uv(0) // documentation null
        .uv(0) // config tags
        .uv(0) // result tags
        .uv(0)
        .take();
    assert_bytes(&body, &v4);
}

/// A topic key that is not overridden takes its source from the broker setting behind it,
/// as Kafka's DescribeConfigs does: STATIC_BROKER_CONFIG when server.properties sets it
/// (log.segment.bytes here), DEFAULT_CONFIG when it does not (message.max.bytes,
/// log.retention.bytes, log.retention.ms).
#[test]
fn describe_configs_topic_defaults_name_their_source() {
    let broker = TestBroker::start_with("log.segment.bytes=536870912");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "plain", 1, &[]);
    for version in [1, 4] {
        let (_, response) = describe_configs_call(
            &mut conn,
            version,
            vec![describe_configs::Resource {
                resource_type: RESOURCE_TOPIC,
                resource_name: "plain",
                configuration_keys: Some(vec![
                    "max.message.bytes",
                    "retention.bytes",
                    "retention.ms",
                    "segment.bytes",
                ]),
            }],
        );
        let sources: Vec<(&str, Option<&str>, i8)> = response.results[0]
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_deref(), c.config_source))
            .collect();
        assert_eq!(
            sources,
            [
                ("max.message.bytes", Some("1048588"), SOURCE_DEFAULT_CONFIG),
                ("retention.bytes", Some("-1"), SOURCE_DEFAULT_CONFIG),
                ("retention.ms", Some("604800000"), SOURCE_DEFAULT_CONFIG),
                (
                    "segment.bytes",
                    Some("536870912"),
                    SOURCE_STATIC_BROKER_CONFIG
                ),
            ],
            "DescribeConfigs v{version}: (name, value, source)"
        );
    }
}

// ---- DescribeCluster ----

/// The cluster id the broker wrote to meta.properties.
fn cluster_id(broker: &TestBroker) -> String {
    let text =
        std::fs::read_to_string(broker.log_dir.join("meta.properties")).expect("meta.properties");
    text.lines()
        .find_map(|line| line.strip_prefix("cluster.id="))
        .expect("a cluster.id line")
        .trim()
        .to_string()
}

#[test]
fn describe_cluster_v0_to_v2_lists_this_broker() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let cluster = cluster_id(&broker);
    assert_eq!(cluster.len(), 22, "a base64url Uuid: {cluster:?}");
    let host = "127.0.0.1";
    let port = i32::from(broker.addr.port());
    for version in 0..=2 {
        for include_operations in [false, true] {
            let request = describe_cluster::Request {
                include_cluster_authorized_operations: include_operations,
                endpoint_type: 1,
                include_fenced_brokers: version >= 2,
            };
            let body = conn.send::<DescribeCluster>(version, &request);
            let response = decoded::<DescribeCluster>(&body, version);
            let operations = if include_operations {
                // CREATE (5), ALTER (7), DESCRIBE (8), CLUSTER_ACTION (9), DESCRIBE_CONFIGS
                // (10), ALTER_CONFIGS (11), IDEMPOTENT_WRITE (12).
                (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
            } else {
                i32::MIN
            };
            assert_eq!(
                response,
                describe_cluster::Response {
                    throttle_time_ms: 0,
                    error_code: NONE,
                    error_message: None,
                    endpoint_type: 1,
                    cluster_id: cluster.clone(),
                    controller_id: 1,
                    brokers: vec![describe_cluster::Broker {
                        broker_id: 1,
                        host: host.into(),
                        port,
                        rack: None,
                        is_fenced: false,
                    }],
                    cluster_authorized_operations: operations,
                },
                "DescribeCluster v{version}"
            );
            if include_operations {
                continue;
            }
            let mut expected = B::default();
            expected.i32(0).i16(0).uv(0); // throttle, error, error_message null
            if version >= 1 {
                expected.i8(1);
            }
            expected
                .cs(&cluster)
                .i32(1)
                .uv(2)
                .i32(1)
                .cs(host)
                .i32(port)
                .uv(0);
            if version >= 2 {
                expected.i8(0); // is_fenced
            }
            expected.uv(0).i32(i32::MIN).uv(0);
            assert_bytes(&body, &expected.take());
        }
    }
}
