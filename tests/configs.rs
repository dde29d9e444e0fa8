//! The config APIs over a real socket: AlterConfigs (33), IncrementalAlterConfigs (44),
//! DescribeConfigs (32) and ListConfigResources (74), for TOPIC, BROKER, GROUP and
//! BROKER_LOGGER resources. Every error path with Kafka's code and message, validate_only,
//! the changes surviving a restart, and their effects: a lowered `max.message.bytes` or
//! broker `message.max.bytes` refuses a larger batch, a lowered `retention.ms` or broker
//! `log.retention.ms` deletes old segments. Requests are built and responses read with the
//! declared codecs (a response re-encodes to the bytes received).

mod common;

use std::time::{Duration, Instant};

use common::{Conn, TestBroker, decoded};
use kafka_broker::apis::Api;
use kafka_broker::apis::alter_configs::{self, AlterConfigs};
use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
use kafka_broker::apis::incremental_alter_configs::{self as incremental, IncrementalAlterConfigs};
use kafka_broker::apis::list_config_resources::{self, ListConfigResources};
use kafka_broker::apis::list_offsets::{self, ListOffsets};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::decode;
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const CLIENT_METRICS: i8 = 16;
const GROUP: i8 = 32;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
const GROUP_CONFIG: i8 = 8;

fn create_topic(conn: &mut Conn, name: &str, configs: &[(&str, &str)]) {
    common::create_topic(conn, name, 1, configs);
}

/// An IncrementalAlterConfigs resource: (type, name, [(key, op, value)]).
type Inc<'a> = (i8, &'a str, Vec<(&'a str, i8, Option<&'a str>)>);

/// IncrementalAlterConfigs at `version`: each resource's (code, message).
fn incremental_at(
    conn: &mut Conn,
    version: i16,
    resources: Vec<Inc>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let request = incremental::Request {
        resources: resources
            .into_iter()
            .map(
                |(resource_type, resource_name, configs)| incremental::Resource {
                    resource_type,
                    resource_name,
                    configs: configs
                        .into_iter()
                        .map(|(name, config_operation, value)| incremental::Config {
                            name,
                            config_operation,
                            value,
                        })
                        .collect(),
                },
            )
            .collect(),
        validate_only,
    };
    let body = conn.send::<IncrementalAlterConfigs>(version, &request);
    let response = decoded::<IncrementalAlterConfigs>(&body, version);
    response
        .responses
        .into_iter()
        .map(|r| (r.error_code, r.error_message))
        .collect()
}

/// One resource altered incrementally (v1): its (code, message).
fn alter(conn: &mut Conn, resource: Inc) -> (i16, Option<String>) {
    incremental_at(conn, 1, vec![resource], false).remove(0)
}

fn ok() -> (i16, Option<String>) {
    (NONE, None)
}

fn err(code: i16, message: &str) -> (i16, Option<String>) {
    (code, Some(message.to_string()))
}

/// AlterConfigs at `version` of one resource: its (code, message).
fn legacy_alter(
    conn: &mut Conn,
    version: i16,
    resource_type: i8,
    name: &str,
    configs: &[(&str, Option<&str>)],
) -> (i16, Option<String>) {
    let request = alter_configs::Request {
        resources: vec![alter_configs::Resource {
            resource_type,
            resource_name: name,
            configs: configs
                .iter()
                .map(|&(name, value)| alter_configs::Config { name, value })
                .collect(),
        }],
        validate_only: false,
    };
    let body = conn.send::<AlterConfigs>(version, &request);
    let mut response = decoded::<AlterConfigs>(&body, version);
    let r = response.responses.remove(0);
    assert_eq!(
        (r.resource_type, r.resource_name.as_str()),
        (resource_type, name)
    );
    (r.error_code, r.error_message)
}

/// DescribeConfigs v4 of one resource with synonyms: the result.
fn describe(
    conn: &mut Conn,
    resource_type: i8,
    name: &str,
    keys: Option<Vec<&str>>,
) -> describe_configs::ResourceResult {
    let request = describe_configs::Request {
        resources: vec![describe_configs::Resource {
            resource_type,
            resource_name: name,
            configuration_keys: keys,
        }],
        include_synonyms: true,
        include_documentation: false,
    };
    let body = conn.send::<DescribeConfigs>(4, &request);
    decoded::<DescribeConfigs>(&body, 4).results.remove(0)
}

/// One described key: (value, source, read_only, synonyms as (name, value, source)).
type Described = (Option<String>, i8, bool, Vec<(String, Option<String>, i8)>);

fn described(conn: &mut Conn, resource_type: i8, name: &str, key: &str) -> Described {
    let result = describe(conn, resource_type, name, Some(vec![key]));
    assert_eq!(result.error_code, NONE, "{result:?}");
    let c = result
        .configs
        .into_iter()
        .find(|c| c.name == key)
        .unwrap_or_else(|| panic!("{key} is described"));
    let synonyms = c
        .synonyms
        .into_iter()
        .map(|s| (s.name, s.value, s.source))
        .collect();
    (c.value, c.config_source, c.read_only, synonyms)
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

fn value_of(conn: &mut Conn, resource_type: i8, name: &str, key: &str) -> Option<String> {
    described(conn, resource_type, name, key).0
}

/// Produces one batch with `count` records of `value_bytes` each, stamped `timestamp_ms`
/// (v11): the partition's error code.
fn produce(
    conn: &mut Conn,
    topic: &str,
    value_bytes: usize,
    count: usize,
    timestamp_ms: i64,
) -> i16 {
    let values = vec![vec![b'x'; value_bytes]; count];
    let batch = batch::build(0, 0, timestamp_ms, &values);
    let request = common::produce_request(topic, 0, &batch);
    let body = conn.send::<Produce>(11, &request);
    let response: produce::Response = decode(&body, Produce::SPEC.ver(11)).expect("decodes");
    response.responses[0].partition_responses[0].error_code
}

/// The partition's log start offset (ListOffsets v7, timestamp -2).
fn log_start(conn: &mut Conn, topic: &str) -> i64 {
    let request = list_offsets::Request {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![list_offsets::ListOffsetsTopic {
            name: topic,
            partitions: vec![list_offsets::ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: -2,
            }],
        }],
        timeout_ms: 0,
    };
    let body = conn.send::<ListOffsets>(7, &request);
    let response = decoded::<ListOffsets>(&body, 7);
    response.topics[0].partitions[0].offset
}

/// Waits (up to 20 s) for the broker's retention pass to move a log start past 0.
fn await_log_start(conn: &mut Conn, topic: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let start = log_start(conn, topic);
        if start > 0 || Instant::now() > deadline {
            return start;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- TOPIC ----

#[test]
fn topic_set_delete_append_subtract_with_sources_and_synonyms() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", &[]);
    let name = "t";
    assert_eq!(
        described(&mut conn, TOPIC, name, "retention.ms"),
        (Some("604800000".into()), DEFAULT_CONFIG, false, vec![]),
        "retention.ms: no topic value; Kafka drops log.retention.hours from its synonyms"
    );
    assert_eq!(
        described(&mut conn, TOPIC, name, "segment.bytes"),
        (
            Some("1073741824".into()),
            DEFAULT_CONFIG,
            false,
            vec![syn("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]
        )
    );
    assert_eq!(
        alter(
            &mut conn,
            (TOPIC, name, vec![("retention.ms", SET, Some("1000"))])
        ),
        ok()
    );
    assert_eq!(
        described(&mut conn, TOPIC, name, "retention.ms"),
        (
            Some("1000".into()),
            DYNAMIC_TOPIC_CONFIG,
            false,
            vec![syn("retention.ms", "1000", DYNAMIC_TOPIC_CONFIG)]
        )
    );
    // APPEND starts from the default ("delete"); SUBTRACT removes.
    let ops = vec![("cleanup.policy", APPEND, Some("compact"))];
    assert_eq!(alter(&mut conn, (TOPIC, name, ops)), ok());
    assert_eq!(
        value_of(&mut conn, TOPIC, name, "cleanup.policy").as_deref(),
        Some("delete,compact")
    );
    let ops = vec![("cleanup.policy", APPEND, Some("compact,delete"))];
    assert_eq!(alter(&mut conn, (TOPIC, name, ops)), ok());
    assert_eq!(
        value_of(&mut conn, TOPIC, name, "cleanup.policy").as_deref(),
        Some("delete,compact")
    );
    let ops = vec![("cleanup.policy", SUBTRACT, Some("delete"))];
    assert_eq!(alter(&mut conn, (TOPIC, name, ops)), ok());
    assert_eq!(
        value_of(&mut conn, TOPIC, name, "cleanup.policy").as_deref(),
        Some("compact")
    );
    // DELETE: back to the broker's value, and several keys at once.
    let ops = vec![
        ("retention.ms", DELETE, None),
        ("segment.ms", SET, Some("3600000")),
    ];
    assert_eq!(alter(&mut conn, (TOPIC, name, ops)), ok());
    assert_eq!(
        described(&mut conn, TOPIC, name, "retention.ms").1,
        DEFAULT_CONFIG
    );
    assert_eq!(
        value_of(&mut conn, TOPIC, name, "segment.ms").as_deref(),
        Some("3600000")
    );
    // A broker default under the topic value: the synonyms in Kafka's order.
    let ops = vec![("log.retention.ms", SET, Some("7200000"))];
    assert_eq!(alter(&mut conn, (BROKER, "", ops)), ok());
    assert_eq!(
        alter(
            &mut conn,
            (TOPIC, name, vec![("retention.ms", SET, Some("5000"))])
        ),
        ok()
    );
    assert_eq!(
        described(&mut conn, TOPIC, name, "retention.ms"),
        (
            Some("5000".into()),
            DYNAMIC_TOPIC_CONFIG,
            false,
            vec![
                syn("retention.ms", "5000", DYNAMIC_TOPIC_CONFIG),
                syn("log.retention.ms", "7200000", DYNAMIC_DEFAULT_BROKER_CONFIG),
                syn("log.retention.hours", "168", DEFAULT_CONFIG),
            ]
        )
    );
    // v0, the non-flexible version, and validate_only (nothing changes).
    let got = incremental_at(
        &mut conn,
        0,
        vec![(TOPIC, name, vec![("retention.ms", SET, Some("9"))])],
        true,
    );
    assert_eq!(got, [ok()]);
    assert_eq!(
        value_of(&mut conn, TOPIC, name, "retention.ms").as_deref(),
        Some("5000")
    );
}

#[test]
fn topic_errors_are_kafkas() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", &[]);
    let cases: Vec<(Inc, (i16, Option<String>))> = vec![
        (
            (TOPIC, "t", vec![("retention.ms", SET, Some("abc"))]),
            err(
                INVALID_CONFIG,
                "Invalid value abc for configuration retention.ms: Not a number of type LONG",
            ),
        ),
        (
            (TOPIC, "t", vec![("segment.bytes", SET, Some("1000"))]),
            err(
                INVALID_CONFIG,
                "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576",
            ),
        ),
        (
            (TOPIC, "t", vec![("cleanup.policy", SET, Some("shred"))]),
            err(
                INVALID_CONFIG,
                "Invalid value shred for configuration cleanup.policy: String must be one of: \
                 compact, delete",
            ),
        ),
        (
            (TOPIC, "t", vec![("no.such.key", SET, Some("1"))]),
            err(INVALID_CONFIG, "Unknown topic config name: no.such.key"),
        ),
        (
            (TOPIC, "t", vec![("retention.ms", APPEND, Some("1"))]),
            err(
                INVALID_CONFIG,
                "Can't APPEND to key retention.ms because its type is not LIST.",
            ),
        ),
        (
            (TOPIC, "t", vec![("retention.ms", SUBTRACT, Some("1"))]),
            err(
                INVALID_CONFIG,
                "Can't SUBTRACT to key retention.ms because its type is not LIST.",
            ),
        ),
        (
            (TOPIC, "missing", vec![("retention.ms", SET, Some("1"))]),
            err(
                UNKNOWN_TOPIC_OR_PARTITION,
                "The topic 'missing' does not exist.",
            ),
        ),
        (
            (TOPIC, "", vec![("retention.ms", SET, Some("1"))]),
            err(INVALID_REQUEST, "Default topic resources are not allowed."),
        ),
        (
            (TOPIC, "t", vec![("retention.ms", SET, None)]),
            err(
                INVALID_REQUEST,
                "Null value not supported for : retention.ms",
            ),
        ),
        (
            (
                TOPIC,
                "t",
                vec![
                    ("retention.ms", SET, Some("1")),
                    ("retention.ms", DELETE, None),
                ],
            ),
            err(INVALID_REQUEST, "Error due to duplicate config keys"),
        ),
        (
            (TOPIC, "t", vec![("retention.ms", 9, Some("1"))]),
            err(INVALID_REQUEST, "Unknown operations type 9"),
        ),
        (
            (99, "t", vec![("retention.ms", SET, Some("1"))]),
            err(INVALID_REQUEST, "Unknown resource type 99"),
        ),
        (
            (
                CLIENT_METRICS,
                "m",
                vec![("interval.ms", SET, Some("1000"))],
            ),
            err(
                INVALID_REQUEST,
                "Client metrics subscriptions are not supported by this broker",
            ),
        ),
    ];
    for (resource, expected) in cases {
        let what = format!("{resource:?}");
        assert_eq!(alter(&mut conn, resource), expected, "{what}");
    }
    let got = alter(
        &mut conn,
        (TOPIC, "a/b", vec![("retention.ms", SET, Some("1"))]),
    );
    assert_eq!(got.0, INVALID_TOPIC_EXCEPTION, "{got:?}");
    // A resource named twice: both copies refused, the others done.
    let dup = || (TOPIC, "t", vec![("retention.ms", SET, Some("1"))]);
    let other = (
        GROUP,
        "g",
        vec![("consumer.session.timeout.ms", SET, Some("50000"))],
    );
    let got = incremental_at(&mut conn, 1, vec![dup(), other, dup()], false);
    let twice = err(INVALID_REQUEST, "Each resource must appear at most once.");
    assert_eq!(got, [twice.clone(), ok(), twice]);
    // Nothing was changed by the refusals.
    assert_eq!(
        described(&mut conn, TOPIC, "t", "retention.ms").1,
        DEFAULT_CONFIG
    );
    // DescribeConfigs: a missing topic (Kafka's empty message) and a bad name.
    let missing = describe(&mut conn, TOPIC, "missing", None);
    assert_eq!(
        (
            missing.error_code,
            missing.error_message.as_deref(),
            missing.configs.len()
        ),
        (UNKNOWN_TOPIC_OR_PARTITION, Some(""), 0)
    );
    let bad = describe(&mut conn, TOPIC, "a/b", None);
    assert_eq!(bad.error_code, INVALID_TOPIC_EXCEPTION);
}

#[test]
fn legacy_alter_configs_replaces_the_whole_resource() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(
        &mut conn,
        "t",
        &[("retention.ms", "1000"), ("segment.ms", "7200000")],
    );
    for version in 0..=2 {
        let value = format!("{}", 100_000 + i32::from(version));
        let got = legacy_alter(
            &mut conn,
            version,
            TOPIC,
            "t",
            &[("max.message.bytes", Some(&value))],
        );
        assert_eq!(got, ok(), "v{version}");
        assert_eq!(
            value_of(&mut conn, TOPIC, "t", "max.message.bytes"),
            Some(value)
        );
        // Keys not given lost their topic value.
        assert_eq!(
            described(&mut conn, TOPIC, "t", "retention.ms").1,
            DEFAULT_CONFIG
        );
        assert_eq!(
            described(&mut conn, TOPIC, "t", "segment.ms").1,
            DEFAULT_CONFIG
        );
    }
    assert_eq!(
        legacy_alter(&mut conn, 0, TOPIC, "t", &[("retention.ms", None)]),
        err(
            INVALID_REQUEST,
            "Null value not supported for : retention.ms"
        )
    );
    assert_eq!(
        legacy_alter(&mut conn, 1, TOPIC, "t", &[("retention.ms", Some("x"))]),
        err(
            INVALID_CONFIG,
            "Invalid value x for configuration retention.ms: Not a number of type LONG"
        )
    );
    // Kafka's AlterConfigs never served BROKER_LOGGER.
    assert_eq!(
        legacy_alter(&mut conn, 2, BROKER_LOGGER, "1", &[("root", Some("DEBUG"))]),
        err(INVALID_REQUEST, "Unknown resource type 8")
    );
    // Broker: the request's keys replace the per-broker dynamic ones.
    let set = [
        ("message.max.bytes", Some("2000000")),
        ("log.cleaner.threads", Some("2")),
    ];
    assert_eq!(legacy_alter(&mut conn, 2, BROKER, "1", &set), ok());
    assert_eq!(
        legacy_alter(
            &mut conn,
            2,
            BROKER,
            "1",
            &[("log.cleaner.threads", Some("3"))]
        ),
        ok()
    );
    assert_eq!(
        described(&mut conn, BROKER, "1", "message.max.bytes").1,
        DEFAULT_CONFIG
    );
    assert_eq!(
        described(&mut conn, BROKER, "1", "log.cleaner.threads")
            .0
            .as_deref(),
        Some("3")
    );
    // Group: the same.
    let set = [("consumer.session.timeout.ms", Some("50000"))];
    assert_eq!(legacy_alter(&mut conn, 0, GROUP, "g", &set), ok());
    assert_eq!(
        described(&mut conn, GROUP, "g", "consumer.session.timeout.ms").1,
        GROUP_CONFIG
    );
}

// ---- BROKER ----

#[test]
fn broker_configs_at_both_levels_and_their_errors() {
    let broker = TestBroker::start_with("log.segment.bytes=536870912");
    let mut conn = Conn::open(&broker);
    assert_eq!(
        described(&mut conn, BROKER, "1", "log.segment.bytes"),
        (
            Some("536870912".into()),
            STATIC_BROKER_CONFIG,
            false,
            vec![
                syn("log.segment.bytes", "536870912", STATIC_BROKER_CONFIG),
                syn("log.segment.bytes", "1073741824", DEFAULT_CONFIG),
            ]
        )
    );
    let ops = vec![("message.max.bytes", SET, Some("2000000"))];
    assert_eq!(alter(&mut conn, (BROKER, "", ops)), ok());
    let ops = vec![("message.max.bytes", SET, Some("3000000"))];
    assert_eq!(alter(&mut conn, (BROKER, "1", ops)), ok());
    assert_eq!(
        described(&mut conn, BROKER, "1", "message.max.bytes"),
        (
            Some("3000000".into()),
            DYNAMIC_BROKER_CONFIG,
            false,
            vec![
                syn("message.max.bytes", "3000000", DYNAMIC_BROKER_CONFIG),
                syn(
                    "message.max.bytes",
                    "2000000",
                    DYNAMIC_DEFAULT_BROKER_CONFIG
                ),
                syn("message.max.bytes", "1048588", DEFAULT_CONFIG),
            ]
        )
    );
    // The cluster default lists only what is set there.
    let default = describe(&mut conn, BROKER, "", None);
    let names: Vec<(&str, Option<&str>, i8)> = default
        .configs
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_deref(), c.config_source))
        .collect();
    assert_eq!(
        names,
        [(
            "message.max.bytes",
            Some("2000000"),
            DYNAMIC_DEFAULT_BROKER_CONFIG
        )]
    );
    // The topic key behind it follows the per-broker value.
    create_topic(&mut conn, "t", &[]);
    assert_eq!(
        described(&mut conn, TOPIC, "t", "max.message.bytes")
            .0
            .as_deref(),
        Some("3000000")
    );
    assert!(
        described(&mut conn, BROKER, "1", "node.id").2,
        "node.id is read-only"
    );
    // APPEND to a broker list key.
    let ops = vec![("log.cleanup.policy", APPEND, Some("compact"))];
    assert_eq!(alter(&mut conn, (BROKER, "", ops)), ok());
    assert_eq!(
        value_of(&mut conn, BROKER, "1", "log.cleanup.policy").as_deref(),
        Some("delete,compact")
    );
    let cases: Vec<(Inc, (i16, Option<String>))> = vec![
        (
            (BROKER, "2", vec![("message.max.bytes", SET, Some("1"))]),
            err(
                INVALID_REQUEST,
                "Unexpected broker id, expected 1, but received 2",
            ),
        ),
        (
            (BROKER, "x", vec![("message.max.bytes", SET, Some("1"))]),
            err(INVALID_REQUEST, "Node id must be an integer, but it is: x"),
        ),
        (
            (BROKER, "", vec![("num.partitions", SET, Some("3"))]),
            err(
                INVALID_REQUEST,
                "Cannot update these configs dynamically: Set(num.partitions)",
            ),
        ),
        (
            (BROKER, "1", vec![("message.max.bytes", SET, Some("abc"))]),
            err(
                INVALID_REQUEST,
                "Invalid value abc for configuration message.max.bytes: Not a number of type INT",
            ),
        ),
        (
            (BROKER, "", vec![("message.max.bytes", APPEND, Some("1"))]),
            err(
                INVALID_CONFIG,
                "Config value append is not allowed for config key: message.max.bytes",
            ),
        ),
        (
            (BROKER, "", vec![("no.such.key", SUBTRACT, Some("1"))]),
            err(
                UNKNOWN_SERVER_ERROR,
                "The server experienced an unexpected error when processing the request.",
            ),
        ),
    ];
    for (resource, expected) in cases {
        let what = format!("{resource:?}");
        assert_eq!(alter(&mut conn, resource), expected, "{what}");
    }
    // DescribeConfigs of another broker.
    let other = describe(&mut conn, BROKER, "2", None);
    assert_eq!(
        (other.error_code, other.error_message.as_deref()),
        (
            INVALID_REQUEST,
            Some("Unexpected broker id, expected 1 or empty string, but received 2")
        )
    );
}

// ---- GROUP ----

#[test]
fn group_configs_within_the_brokers_bounds() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let key = "consumer.session.timeout.ms";
    assert_eq!(
        described(&mut conn, GROUP, "g", key),
        (
            Some("45000".into()),
            DEFAULT_CONFIG,
            false,
            vec![syn(key, "45000", DEFAULT_CONFIG)]
        )
    );
    assert_eq!(
        alter(&mut conn, (GROUP, "g", vec![(key, SET, Some("50000"))])),
        ok()
    );
    assert_eq!(
        described(&mut conn, GROUP, "g", key),
        (
            Some("50000".into()),
            GROUP_CONFIG,
            false,
            vec![syn(key, "50000", GROUP_CONFIG)]
        )
    );
    let all = describe(&mut conn, GROUP, "g", None);
    assert_eq!(all.configs.len(), 11, "Kafka 4.2's group keys");
    let cases: Vec<(Inc, (i16, Option<String>))> = vec![
        (
            (GROUP, "g", vec![(key, SET, Some("1000"))]),
            err(
                INVALID_CONFIG,
                "consumer.session.timeout.ms must be greater than or equal to \
                 group.consumer.min.session.timeout.ms",
            ),
        ),
        (
            (
                GROUP,
                "g",
                vec![("consumer.heartbeat.interval.ms", SET, Some("20000"))],
            ),
            err(
                INVALID_CONFIG,
                "consumer.heartbeat.interval.ms must be less than or equal to \
                 group.consumer.max.heartbeat.interval.ms",
            ),
        ),
        (
            (GROUP, "g", vec![(key, SET, Some("x"))]),
            err(
                INVALID_CONFIG,
                "Invalid value x for configuration consumer.session.timeout.ms: Not a number \
                 of type INT",
            ),
        ),
        (
            (GROUP, "g", vec![("session.timeout.ms", SET, Some("1"))]),
            err(
                INVALID_CONFIG,
                "Unknown group config name: session.timeout.ms",
            ),
        ),
        (
            (GROUP, "g", vec![(key, APPEND, Some("1"))]),
            err(
                INVALID_CONFIG,
                "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST.",
            ),
        ),
        (
            (GROUP, "", vec![(key, SET, Some("50000"))]),
            err(INVALID_REQUEST, "Default group resources are not allowed."),
        ),
    ];
    for (resource, expected) in cases {
        let what = format!("{resource:?}");
        assert_eq!(alter(&mut conn, resource), expected, "{what}");
    }
    let unnamed = describe(&mut conn, GROUP, "", None);
    assert_eq!(
        (unnamed.error_code, unnamed.error_message.as_deref()),
        (INVALID_REQUEST, Some("Group name must not be empty"))
    );
    assert_eq!(
        alter(&mut conn, (GROUP, "g", vec![(key, DELETE, None)])),
        ok()
    );
    assert_eq!(described(&mut conn, GROUP, "g", key).1, DEFAULT_CONFIG);
}

// ---- BROKER_LOGGER ----

#[test]
fn broker_logger_levels_change_at_run_time() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    let target = "kafka_broker::storage";
    let level = |conn: &mut Conn, name: &str| {
        let (value, source, read_only, _) = described(conn, BROKER_LOGGER, "1", name);
        assert_eq!((source, read_only), (DYNAMIC_BROKER_LOGGER_CONFIG, false));
        value
    };
    assert_eq!(level(&mut conn, "root").as_deref(), Some("INFO"));
    assert_eq!(level(&mut conn, target).as_deref(), Some("INFO"));
    assert_eq!(
        alter(
            &mut conn,
            (BROKER_LOGGER, "1", vec![(target, SET, Some("DEBUG"))])
        ),
        ok()
    );
    assert_eq!(level(&mut conn, target).as_deref(), Some("DEBUG"));
    assert_eq!(
        level(&mut conn, "kafka_broker::storage::log").as_deref(),
        Some("DEBUG")
    );
    assert_eq!(
        level(&mut conn, "kafka_broker::server").as_deref(),
        Some("INFO")
    );
    // The level is live: creating a topic now logs at debug from storage... and the
    // broker's own log shows the change.
    broker.wait_for_log("Updated the log level of kafka_broker::storage to DEBUG", 1);
    let cases: Vec<(Inc, (i16, Option<String>))> = vec![
        (
            (BROKER_LOGGER, "1", vec![(target, SET, Some("LOUD"))]),
            err(
                INVALID_CONFIG,
                "Cannot set the log level of kafka_broker::storage to LOUD as it is not a \
                 supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
            ),
        ),
        (
            (BROKER_LOGGER, "1", vec![("no::such", SET, Some("INFO"))]),
            err(INVALID_CONFIG, "Logger no::such does not exist!"),
        ),
        (
            (BROKER_LOGGER, "1", vec![("root", DELETE, None)]),
            err(
                INVALID_REQUEST,
                "Removing the log level of the root logger is not allowed",
            ),
        ),
        (
            (BROKER_LOGGER, "1", vec![(target, APPEND, Some("INFO"))]),
            err(
                INVALID_REQUEST,
                "APPEND operation is not allowed for the BROKER_LOGGER resource",
            ),
        ),
        (
            (BROKER_LOGGER, "2", vec![(target, SET, Some("INFO"))]),
            err(
                INVALID_REQUEST,
                "Unexpected node id. Expected 1, but received 2",
            ),
        ),
    ];
    for (resource, expected) in cases {
        let what = format!("{resource:?}");
        assert_eq!(alter(&mut conn, resource), expected, "{what}");
    }
    // validate_only changes nothing; DELETE goes back to RUST_LOG's level.
    let got = incremental_at(
        &mut conn,
        1,
        vec![(BROKER_LOGGER, "1", vec![(target, SET, Some("TRACE"))])],
        true,
    );
    assert_eq!(got, [ok()]);
    assert_eq!(level(&mut conn, target).as_deref(), Some("DEBUG"));
    assert_eq!(
        alter(
            &mut conn,
            (BROKER_LOGGER, "1", vec![(target, DELETE, None)])
        ),
        ok()
    );
    assert_eq!(level(&mut conn, target).as_deref(), Some("INFO"));
    let unnamed = describe(&mut conn, BROKER_LOGGER, "", None);
    assert_eq!(
        (unnamed.error_code, unnamed.error_message.as_deref()),
        (INVALID_REQUEST, Some("Broker id must not be empty"))
    );
}

// ---- Effects and restarts ----

#[test]
fn lowered_max_message_bytes_refuses_a_larger_batch_and_survives_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "small", &[]);
    create_topic(&mut conn, "plain", &[]);
    assert_eq!(
        produce(&mut conn, "small", 5000, 1, 1_700_000_000_000),
        NONE
    );
    let ops = vec![("max.message.bytes", SET, Some("1000"))];
    assert_eq!(alter(&mut conn, (TOPIC, "small", ops)), ok());
    assert_eq!(
        produce(&mut conn, "small", 5000, 1, 1_700_000_000_000),
        MESSAGE_TOO_LARGE
    );
    assert_eq!(produce(&mut conn, "small", 100, 1, 1_700_000_000_000), NONE);
    // The broker's message.max.bytes for topics without their own.
    assert_eq!(
        produce(&mut conn, "plain", 5000, 1, 1_700_000_000_000),
        NONE
    );
    let ops = vec![("message.max.bytes", SET, Some("2000"))];
    assert_eq!(alter(&mut conn, (BROKER, "", ops)), ok());
    assert_eq!(
        produce(&mut conn, "plain", 5000, 1, 1_700_000_000_000),
        MESSAGE_TOO_LARGE
    );
    let ops = vec![("max.message.bytes", SET, Some("10000"))];
    assert_eq!(alter(&mut conn, (TOPIC, "small", ops)), ok());
    assert_eq!(
        produce(&mut conn, "small", 5000, 1, 1_700_000_000_000),
        NONE
    );

    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        produce(&mut conn, "plain", 5000, 1, 1_700_000_000_000),
        MESSAGE_TOO_LARGE
    );
    assert_eq!(
        produce(&mut conn, "small", 5000, 1, 1_700_000_000_000),
        NONE
    );
    assert_eq!(
        produce(&mut conn, "small", 20_000, 1, 1_700_000_000_000),
        MESSAGE_TOO_LARGE
    );
    assert_eq!(
        described(&mut conn, BROKER, "1", "message.max.bytes").1,
        DYNAMIC_DEFAULT_BROKER_CONFIG
    );
}

#[test]
fn lowered_retention_deletes_old_segments_topic_and_broker_wide() {
    let broker = TestBroker::start_with("log.retention.check.interval.ms=100");
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "old", &[]);
    create_topic(&mut conn, "plain", &[]);
    let day_ago = kafka_broker::storage::now_ms() - 24 * 3600 * 1000;
    for topic in ["old", "plain"] {
        assert_eq!(produce(&mut conn, topic, 100, 3, day_ago), NONE);
    }
    assert_eq!(log_start(&mut conn, "old"), 0);
    let ops = vec![("retention.ms", SET, Some("3600000"))];
    assert_eq!(alter(&mut conn, (TOPIC, "old", ops)), ok());
    assert_eq!(
        await_log_start(&mut conn, "old"),
        3,
        "retention.ms deleted the day-old segment"
    );
    assert_eq!(
        log_start(&mut conn, "plain"),
        0,
        "no override: the 7-day default keeps it"
    );
    let ops = vec![("log.retention.ms", SET, Some("3600000"))];
    assert_eq!(alter(&mut conn, (BROKER, "1", ops)), ok());
    assert_eq!(
        await_log_start(&mut conn, "plain"),
        3,
        "log.retention.ms took effect"
    );

    // After a restart the settings hold: a day-old batch produced now goes too (its
    // segment, the active one, rolls first, as in Kafka).
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        value_of(&mut conn, TOPIC, "plain", "retention.ms").as_deref(),
        Some("3600000")
    );
    assert_eq!(
        described(&mut conn, TOPIC, "old", "retention.ms").1,
        DYNAMIC_TOPIC_CONFIG
    );
    assert_eq!(produce(&mut conn, "plain", 100, 1, day_ago), NONE);
    let deadline = Instant::now() + Duration::from_secs(20);
    while log_start(&mut conn, "plain") < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(log_start(&mut conn, "plain"), 4, "the day-old batch went");
}

#[test]
fn every_kind_of_change_survives_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "t", &[]);
    assert_eq!(
        alter(
            &mut conn,
            (TOPIC, "t", vec![("cleanup.policy", SET, Some("compact"))])
        ),
        ok()
    );
    assert_eq!(
        alter(
            &mut conn,
            (BROKER, "", vec![("log.cleaner.threads", SET, Some("2"))])
        ),
        ok()
    );
    assert_eq!(
        alter(
            &mut conn,
            (
                BROKER,
                "1",
                vec![("log.retention.bytes", SET, Some("100000"))]
            )
        ),
        ok()
    );
    let ops = vec![("consumer.heartbeat.interval.ms", SET, Some("6000"))];
    assert_eq!(alter(&mut conn, (GROUP, "g", ops)), ok());
    let broker = broker.restart();
    let mut conn = Conn::open(&broker);
    assert_eq!(
        described(&mut conn, TOPIC, "t", "cleanup.policy")
            .0
            .as_deref(),
        Some("compact")
    );
    assert_eq!(
        described(&mut conn, BROKER, "1", "log.cleaner.threads"),
        (
            Some("2".into()),
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            false,
            vec![
                syn("log.cleaner.threads", "2", DYNAMIC_DEFAULT_BROKER_CONFIG),
                syn("log.cleaner.threads", "1", DEFAULT_CONFIG),
            ]
        )
    );
    assert_eq!(
        described(&mut conn, TOPIC, "t", "retention.bytes"),
        (
            Some("100000".into()),
            DYNAMIC_BROKER_CONFIG,
            false,
            vec![
                syn("log.retention.bytes", "100000", DYNAMIC_BROKER_CONFIG),
                syn("log.retention.bytes", "-1", DEFAULT_CONFIG),
            ]
        )
    );
    assert_eq!(
        described(&mut conn, GROUP, "g", "consumer.heartbeat.interval.ms").1,
        GROUP_CONFIG
    );
}

// ---- ListConfigResources ----

#[test]
fn list_config_resources_v0_and_v1() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    create_topic(&mut conn, "b", &[]);
    create_topic(&mut conn, "a", &[]);
    let ops = vec![("consumer.session.timeout.ms", SET, Some("50000"))];
    assert_eq!(alter(&mut conn, (GROUP, "g", ops)), ok());
    let list = |conn: &mut Conn, version: i16, types: Vec<i8>| {
        let request = list_config_resources::Request {
            resource_types: types,
        };
        let body = conn.send::<ListConfigResources>(version, &request);
        let response = decoded::<ListConfigResources>(&body, version);
        let resources: Vec<(i8, String)> = response
            .config_resources
            .into_iter()
            .map(|r| (r.resource_type, r.resource_name))
            .collect();
        (response.error_code, resources)
    };
    // v0 is ListClientMetricsResources: no subscriptions are kept.
    assert_eq!(list(&mut conn, 0, vec![]), (NONE, vec![]));
    let all = vec![
        (GROUP, "g".to_string()),
        (BROKER_LOGGER, "1".into()),
        (BROKER, "1".into()),
        (TOPIC, "a".into()),
        (TOPIC, "b".into()),
    ];
    assert_eq!(list(&mut conn, 1, vec![]), (NONE, all));
    assert_eq!(
        list(&mut conn, 1, vec![TOPIC, BROKER, TOPIC]),
        (
            NONE,
            vec![
                (BROKER, "1".into()),
                (TOPIC, "a".into()),
                (TOPIC, "b".into())
            ]
        )
    );
    assert_eq!(
        list(&mut conn, 1, vec![TOPIC, 64]),
        (UNSUPPORTED_VERSION, vec![])
    );
}
