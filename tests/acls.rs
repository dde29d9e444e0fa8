//! The ACL APIs without an authorizer answer as Kafka does then (SECURITY_DISABLED, "No
//! Authorizer is configured."), and an authorizer class other than StandardAuthorizer stops
//! the broker rather than leave it open. With StandardAuthorizer: principals (SASL PLAIN
//! users) get Kafka's authorization errors until ACLs created through the APIs grant what
//! they ask, LITERAL and PREFIXED; a DENY overrides an ALLOW; a super user passes; the
//! ACLs survive restarts, with and without metadata snapshots.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use common::{Conn, TempDir, TestBroker, decoded};
use kafka_broker::apis::create_acls::{self, CreateAcls};
use kafka_broker::apis::delete_acls::{self, DeleteAcls};
use kafka_broker::apis::describe_acls::{self, DescribeAcls};
use kafka_broker::apis::describe_configs::{self, DescribeConfigs};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::heartbeat::{self, Heartbeat};
use kafka_broker::apis::init_producer_id::{self, InitProducerId};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::produce::Produce;
use kafka_broker::apis::sasl_authenticate::{self, SaslAuthenticate};
use kafka_broker::apis::sasl_handshake::{self, SaslHandshake};
use kafka_broker::storage::batch;

const SECURITY_DISABLED: i16 = 54;
const MESSAGE: &str = "No Authorizer is configured.";

#[test]
fn acl_apis_answer_security_disabled_at_every_version() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    for version in 1..=3 {
        let creation = create_acls::Creation {
            resource_type: 2,
            resource_name: "t",
            resource_pattern_type: 3,
            principal: "User:alice",
            host: "*",
            operation: 3,
            permission_type: 3,
        };
        let request = create_acls::Request {
            creations: vec![creation.clone(), creation],
        };
        let body = conn.send::<CreateAcls>(version, &request);
        let created = decoded::<CreateAcls>(&body, version);
        let got: Vec<_> = created
            .results
            .iter()
            .map(|r| (r.error_code, r.error_message.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![(SECURITY_DISABLED, Some(MESSAGE)); 2],
            "v{version}"
        );

        let request = describe_acls::Request {
            resource_type_filter: 1,
            pattern_type_filter: 1,
            operation: 1,
            permission_type: 1,
            ..Default::default()
        };
        let body = conn.send::<DescribeAcls>(version, &request);
        let described = decoded::<DescribeAcls>(&body, version);
        assert_eq!(
            (
                described.error_code,
                described.error_message.as_deref(),
                described.resources.len()
            ),
            (SECURITY_DISABLED, Some(MESSAGE), 0),
            "v{version}"
        );

        let request = delete_acls::Request {
            filters: vec![delete_acls::Filter {
                resource_type_filter: 1,
                pattern_type_filter: 1,
                operation: 1,
                permission_type: 1,
                ..Default::default()
            }],
        };
        let body = conn.send::<DeleteAcls>(version, &request);
        let deleted = decoded::<DeleteAcls>(&body, version);
        let got: Vec<_> = deleted
            .filter_results
            .iter()
            .map(|r| {
                (
                    r.error_code,
                    r.error_message.as_deref(),
                    r.matching_acls.len(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(SECURITY_DISABLED, Some(MESSAGE), 0)],
            "v{version}"
        );
    }
}

#[test]
fn an_unsupported_authorizer_class_stops_the_broker() {
    let dir = TempDir::new("acls");
    let props = common::write_properties(
        dir.path(),
        &dir.path().join("logs"),
        "authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n",
    );
    let out = Command::new(common::broker_bin())
        .arg(&props)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad value for authorizer.class.name: 'kafka.security.authorizer.AclAuthorizer': only org.apache.kafka.metadata.authorizer.StandardAuthorizer is supported"),
        "{stderr}"
    );
}

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;

// Resource, pattern, operation and permission codes, as Kafka numbers them.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

const SECURE: &str = "listeners=SASL_PLAINTEXT://127.0.0.1:0\n\
     sasl.enabled.mechanisms=PLAIN\n\
     listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"admin-secret\" user_alice=\"alice-secret\";\n\
     authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
     super.users=User:admin\n";

fn listener_addr(broker: &TestBroker) -> SocketAddr {
    let needle = "listener SASL_PLAINTEXT (";
    let log = broker.wait_for_log(needle, 1);
    let line = log.lines().find(|l| l.contains(needle)).expect("line");
    line.rsplit(" on ").next().unwrap().trim().parse().unwrap()
}

/// A connection authenticated with SASL PLAIN as `user` (its password is `<user>-secret`).
fn login(broker: &TestBroker, user: &str) -> Conn {
    let stream = TcpStream::connect(listener_addr(broker)).unwrap();
    stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let mut conn = Conn {
        stream,
        next_correlation_id: 1,
    };
    let request = sasl_handshake::Request { mechanism: "PLAIN" };
    let body = conn.send::<SaslHandshake>(1, &request);
    assert_eq!(decoded::<SaslHandshake>(&body, 1).error_code, 0);
    let token = format!("\0{user}\0{user}-secret");
    let request = sasl_authenticate::Request {
        auth_bytes: token.as_bytes(),
    };
    let body = conn.send::<SaslAuthenticate>(2, &request);
    assert_eq!(decoded::<SaslAuthenticate>(&body, 2).error_code, 0);
    conn
}

fn create_topic(conn: &mut Conn, name: &str) -> i16 {
    common::create_topic_answer(conn, name, 1, &[]).error_code
}

fn produce(conn: &mut Conn, topic: &str) -> i16 {
    let batch = batch::build(0, -1, 1_700_000_000_000, &[b"v".to_vec()]);
    let request = common::produce_request(topic, 0, &batch);
    let body = conn.send::<Produce>(9, &request);
    decoded::<Produce>(&body, 9).responses[0].partition_responses[0].error_code
}

fn fetch(conn: &mut Conn, topic: &str) -> i16 {
    let request = fetch::Request {
        max_wait_ms: 0,
        topics: vec![fetch::FetchTopic {
            topic,
            partitions: vec![fetch::FetchPartition {
                partition_max_bytes: 1 << 20,
                ..fetch::FetchPartition::default()
            }],
            ..fetch::FetchTopic::default()
        }],
        ..fetch::Request::default()
    };
    let body = conn.send::<Fetch>(12, &request);
    decoded::<Fetch>(&body, 12).responses[0].partitions[0].error_code
}

/// The topics an all-topics Metadata request shows.
fn all_topics(conn: &mut Conn) -> Vec<String> {
    let body = conn.send::<Metadata>(12, &metadata::Request::default());
    let response = decoded::<Metadata>(&body, 12);
    let mut names: Vec<String> = response
        .topics
        .iter()
        .map(|t| t.name.as_deref().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// A named topic's Metadata error code and authorized operations.
fn named_topic(conn: &mut Conn, name: &str) -> (i16, i32) {
    let request = metadata::Request {
        topics: Some(vec![metadata::RequestTopic {
            name: Some(name),
            ..Default::default()
        }]),
        allow_auto_topic_creation: false,
        include_topic_authorized_operations: true,
        ..Default::default()
    };
    let body = conn.send::<Metadata>(12, &request);
    let topic = &decoded::<Metadata>(&body, 12).topics[0];
    (topic.error_code, topic.topic_authorized_operations)
}

fn heartbeat(conn: &mut Conn, group: &str) -> i16 {
    let request = heartbeat::Request {
        group_id: group,
        generation_id: 1,
        member_id: "m",
        group_instance_id: None,
    };
    let body = conn.send::<Heartbeat>(4, &request);
    decoded::<Heartbeat>(&body, 4).error_code
}

fn creation(
    rtype: i8,
    name: &str,
    pattern: i8,
    operation: i8,
    permission: i8,
) -> create_acls::Creation<'_> {
    create_acls::Creation {
        resource_type: rtype,
        resource_name: name,
        resource_pattern_type: pattern,
        principal: "User:alice",
        host: "*",
        operation,
        permission_type: permission,
    }
}

fn create(conn: &mut Conn, creations: Vec<create_acls::Creation>) -> Vec<(i16, Option<String>)> {
    let body = conn.send::<CreateAcls>(3, &create_acls::Request { creations });
    decoded::<CreateAcls>(&body, 3)
        .results
        .into_iter()
        .map(|r| (r.error_code, r.error_message))
        .collect()
}

/// An ACL as (resource type, name, pattern type, principal, operation, permission).
type Acl = (i8, String, i8, String, i8, i8);

/// Every ACL.
fn describe_all(conn: &mut Conn) -> (i16, Vec<Acl>) {
    let request = describe_acls::Request {
        resource_type_filter: ANY,
        pattern_type_filter: ANY,
        operation: ANY,
        permission_type: ANY,
        ..Default::default()
    };
    let body = conn.send::<DescribeAcls>(3, &request);
    let response = decoded::<DescribeAcls>(&body, 3);
    let mut acls = Vec::new();
    for r in &response.resources {
        for a in &r.acls {
            let row = (r.resource_type, r.resource_name.clone(), r.pattern_type);
            acls.push((
                row.0,
                row.1,
                row.2,
                a.principal.clone(),
                a.operation,
                a.permission_type,
            ));
        }
    }
    acls.sort();
    (response.error_code, acls)
}

#[test]
fn acls_allow_exactly_what_they_grant() {
    let broker = TestBroker::start_with(SECURE);
    let mut admin = login(&broker, "admin");
    for topic in ["orders", "app-1", "app-secret", "hidden"] {
        assert_eq!(create_topic(&mut admin, topic), 0, "{topic}");
    }
    // The super user passes every check, with every operation authorized.
    assert_eq!(produce(&mut admin, "orders"), 0);
    assert_eq!(named_topic(&mut admin, "orders"), (0, 0x0df8));

    // Without ACLs alice may do nothing.
    let mut alice = login(&broker, "alice");
    assert_eq!(produce(&mut alice, "orders"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(fetch(&mut alice, "orders"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(all_topics(&mut alice), Vec::<String>::new());
    assert_eq!(
        named_topic(&mut alice, "orders").0,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(heartbeat(&mut alice, "g"), GROUP_AUTHORIZATION_FAILED);
    assert_eq!(describe_all(&mut alice).0, CLUSTER_AUTHORIZATION_FAILED);
    let refused = create(
        &mut alice,
        vec![creation(TOPIC, "orders", LITERAL, ALLOW, ALLOW)],
    );
    assert_eq!(refused, [(CLUSTER_AUTHORIZATION_FAILED, None)]);
    assert_eq!(create_topic(&mut alice, "mine"), TOPIC_AUTHORIZATION_FAILED);

    // Kafka's validation.
    let invalid = create(
        &mut admin,
        vec![
            creation(TOPIC, "t", MATCH, READ, ALLOW),
            creation(TOPIC, "t", LITERAL, ANY, ALLOW),
            creation(CLUSTER, "c", LITERAL, READ, ALLOW),
            creation(TOPIC, "", LITERAL, READ, ALLOW),
            creation(TOPIC, "t", LITERAL, READ, ANY),
        ],
    );
    let messages: Vec<_> = invalid
        .iter()
        .map(|(code, m)| (*code, m.as_deref().unwrap()))
        .collect();
    assert_eq!(
        messages,
        [
            (INVALID_REQUEST, "Invalid patternType MATCH"),
            (INVALID_REQUEST, "Invalid operation ANY"),
            (
                INVALID_REQUEST,
                "The only valid name for the CLUSTER resource is kafka-cluster"
            ),
            (INVALID_REQUEST, "Invalid empty resource name specified."),
            (INVALID_REQUEST, "Invalid permissionType ANY"),
        ]
    );

    // WRITE on orders (LITERAL), READ on app-* (PREFIXED), DENY READ on app-secret, READ
    // on group g; the same binding twice is created once.
    let granted = create(
        &mut admin,
        vec![
            creation(TOPIC, "orders", LITERAL, WRITE, ALLOW),
            creation(TOPIC, "app-", PREFIXED, READ, ALLOW),
            creation(TOPIC, "app-secret", LITERAL, READ, DENY),
            creation(GROUP, "g", LITERAL, READ, ALLOW),
            creation(GROUP, "g", LITERAL, READ, ALLOW),
        ],
    );
    assert_eq!(granted, vec![(0, None); 5]);
    assert_eq!(describe_all(&mut admin).1.len(), 4);

    assert_eq!(produce(&mut alice, "orders"), 0);
    assert_eq!(fetch(&mut alice, "orders"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(fetch(&mut alice, "app-1"), 0);
    assert_eq!(produce(&mut alice, "app-1"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        fetch(&mut alice, "app-secret"),
        TOPIC_AUTHORIZATION_FAILED,
        "DENY wins"
    );
    // DESCRIBE is implied by READ and WRITE (a DENY of READ does not deny it).
    assert_eq!(all_topics(&mut alice), ["app-1", "app-secret", "orders"]);
    // orders: WRITE and DESCRIBE; app-1: READ and DESCRIBE.
    assert_eq!(
        named_topic(&mut alice, "orders"),
        (0, (1 << WRITE) | (1 << DESCRIBE))
    );
    assert_eq!(
        named_topic(&mut alice, "app-1"),
        (0, (1 << READ) | (1 << DESCRIBE))
    );
    assert_eq!(
        named_topic(&mut alice, "hidden").0,
        TOPIC_AUTHORIZATION_FAILED
    );
    // Past authorization, the group's own answer (it does not exist).
    assert_ne!(heartbeat(&mut alice, "g"), GROUP_AUTHORIZATION_FAILED);

    // DeleteAcls returns what it removed; the grant is gone.
    let request = delete_acls::Request {
        filters: vec![
            delete_acls::Filter {
                resource_type_filter: TOPIC,
                resource_name_filter: Some("app-1"),
                pattern_type_filter: MATCH,
                principal_filter: Some("User:alice"),
                host_filter: None,
                operation: READ,
                permission_type: ALLOW,
            },
            delete_acls::Filter {
                resource_type_filter: 99,
                operation: ANY,
                permission_type: ANY,
                ..Default::default()
            },
        ],
    };
    let body = admin.send::<DeleteAcls>(3, &request);
    let deleted = decoded::<DeleteAcls>(&body, 3);
    let matched: Vec<_> = deleted.filter_results[0]
        .matching_acls
        .iter()
        .map(|a| (a.resource_name.as_str(), a.pattern_type, a.operation))
        .collect();
    assert_eq!(matched, [("app-", PREFIXED, READ)]);
    let second = &deleted.filter_results[1];
    assert_eq!(
        (second.error_code, second.error_message.as_deref()),
        (INVALID_REQUEST, Some("Unknown patternFilter."))
    );
    assert_eq!(fetch(&mut alice, "app-1"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(describe_all(&mut admin).1.len(), 3);
}

#[test]
fn acls_survive_restarts_with_and_without_snapshots() {
    let snapshotting = format!(
        "{SECURE}metadata.log.max.record.bytes.between.snapshots=1024\n\
         metadata.log.segment.bytes=16384\n"
    );
    for extra in [SECURE.to_string(), snapshotting] {
        let broker = TestBroker::start_with(&extra);
        let mut admin = login(&broker, "admin");
        assert_eq!(create_topic(&mut admin, "kept"), 0);
        let mut creations = vec![creation(TOPIC, "kept", LITERAL, WRITE, ALLOW)];
        // Enough bindings to pass the snapshot threshold.
        let names: Vec<String> = (0..40).map(|i| format!("filler-{i:02}")).collect();
        creations.extend(
            names
                .iter()
                .map(|n| creation(TOPIC, n, PREFIXED, READ, DENY)),
        );
        assert!(
            create(&mut admin, creations)
                .iter()
                .all(|(code, _)| *code == 0)
        );
        let request = delete_acls::Request {
            filters: vec![delete_acls::Filter {
                resource_type_filter: TOPIC,
                resource_name_filter: Some("filler-00"),
                pattern_type_filter: PREFIXED,
                operation: ANY,
                permission_type: ANY,
                ..Default::default()
            }],
        };
        let body = admin.send::<DeleteAcls>(3, &request);
        assert_eq!(
            decoded::<DeleteAcls>(&body, 3).filter_results[0]
                .matching_acls
                .len(),
            1
        );
        let (_, before) = describe_all(&mut admin);
        assert_eq!(before.len(), 40);
        drop(admin);

        let broker = broker.restart();
        let mut admin = login(&broker, "admin");
        assert_eq!(describe_all(&mut admin), (0, before));
        let mut alice = login(&broker, "alice");
        assert_eq!(produce(&mut alice, "kept"), 0);
    }
}

fn describe_configs(conn: &mut Conn, resource_type: i8, name: &str) -> i16 {
    let request = describe_configs::Request {
        resources: vec![describe_configs::Resource {
            resource_type,
            resource_name: name,
            configuration_keys: None,
        }],
        include_synonyms: false,
        include_documentation: false,
    };
    let body = conn.send::<DescribeConfigs>(4, &request);
    decoded::<DescribeConfigs>(&body, 4).results[0].error_code
}

fn init_producer_id(conn: &mut Conn) -> i16 {
    let request = init_producer_id::Request {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        ..Default::default()
    };
    let body = conn.send::<InitProducerId>(4, &request);
    decoded::<InitProducerId>(&body, 4).error_code
}

#[test]
fn admin_apis_check_the_resource_kafka_checks() {
    let broker = TestBroker::start_with(SECURE);
    let mut admin = login(&broker, "admin");
    assert_eq!(create_topic(&mut admin, "configured"), 0);
    let mut alice = login(&broker, "alice");
    // Broker configs are the cluster's; topic configs the topic's.
    const CONFIG_TOPIC: i8 = 2;
    const CONFIG_BROKER: i8 = 4;
    assert_eq!(
        describe_configs(&mut alice, CONFIG_BROKER, "1"),
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(
        describe_configs(&mut alice, CONFIG_TOPIC, "configured"),
        TOPIC_AUTHORIZATION_FAILED
    );
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
    assert_eq!(init_producer_id(&mut alice), CLUSTER_AUTHORIZATION_FAILED);
    const ALTER_CONFIGS: i8 = 11;
    let granted = create(
        &mut admin,
        vec![
            creation(TOPIC, "configured", LITERAL, ALTER_CONFIGS, ALLOW),
            creation(TOPIC, "*", LITERAL, WRITE, ALLOW),
        ],
    );
    assert_eq!(granted, vec![(0, None); 2]);
    // ALTER_CONFIGS implies DESCRIBE_CONFIGS.
    assert_eq!(describe_configs(&mut alice, CONFIG_TOPIC, "configured"), 0);
    assert_eq!(
        describe_configs(&mut alice, CONFIG_BROKER, "1"),
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(init_producer_id(&mut alice), 0);
    assert_eq!(describe_configs(&mut admin, CONFIG_BROKER, "1"), 0);
}

/// The transaction APIs check what KafkaApis checks: WRITE on the transactional id first,
/// then READ on the group (AddOffsetsToTxn) and WRITE on the topics (AddPartitionsToTxn).
#[test]
fn transaction_apis_need_write_on_the_transactional_id() {
    use kafka_broker::apis::add_offsets_to_txn::{self, AddOffsetsToTxn};
    use kafka_broker::apis::add_partitions_to_txn::{self, AddPartitionsToTxn};
    use kafka_broker::apis::end_txn::{self, EndTxn};
    const TRANSACTIONAL_ID: i8 = 5;
    const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    let broker = TestBroker::start_with(SECURE);
    let mut admin = login(&broker, "admin");
    assert_eq!(create_topic(&mut admin, "out"), 0);
    let mut alice = login(&broker, "alice");
    let init = |conn: &mut Conn| {
        let request = init_producer_id::Request {
            transactional_id: Some("tx"),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        let body = conn.send::<InitProducerId>(4, &request);
        let r = decoded::<InitProducerId>(&body, 4);
        (r.error_code, r.producer_id, r.producer_epoch)
    };
    assert_eq!(
        init(&mut alice),
        (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, -1)
    );
    let end = |conn: &mut Conn, pid: i64, epoch: i16| {
        let request = end_txn::Request {
            transactional_id: "tx",
            producer_id: pid,
            producer_epoch: epoch,
            committed: true,
        };
        let body = conn.send::<EndTxn>(3, &request);
        decoded::<EndTxn>(&body, 3).error_code
    };
    assert_eq!(end(&mut alice, 1, 0), TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    let granted = create(
        &mut admin,
        vec![creation(TRANSACTIONAL_ID, "tx", LITERAL, WRITE, ALLOW)],
    );
    assert_eq!(granted, vec![(0, None)]);
    let (code, pid, epoch) = init(&mut alice);
    assert_eq!(code, 0);
    // The topic is not granted: its partition gets TOPIC_AUTHORIZATION_FAILED.
    let add = |conn: &mut Conn| {
        let request = add_partitions_to_txn::Request {
            v3_and_below_transactional_id: "tx",
            v3_and_below_producer_id: pid,
            v3_and_below_producer_epoch: epoch,
            v3_and_below_topics: vec![add_partitions_to_txn::Topic {
                name: "out",
                partitions: vec![0],
            }],
            ..Default::default()
        };
        let body = conn.send::<AddPartitionsToTxn>(3, &request);
        decoded::<AddPartitionsToTxn>(&body, 3).results_by_topic_v3_and_below[0]
            .results_by_partition[0]
            .partition_error_code
    };
    assert_eq!(add(&mut alice), TOPIC_AUTHORIZATION_FAILED);
    // AddOffsetsToTxn: READ on the group.
    let offsets = |conn: &mut Conn| {
        let request = add_offsets_to_txn::Request {
            transactional_id: "tx",
            producer_id: pid,
            producer_epoch: epoch,
            group_id: "g",
        };
        let body = conn.send::<AddOffsetsToTxn>(3, &request);
        decoded::<AddOffsetsToTxn>(&body, 3).error_code
    };
    assert_eq!(offsets(&mut alice), GROUP_AUTHORIZATION_FAILED);
    let granted = create(
        &mut admin,
        vec![
            creation(TOPIC, "out", LITERAL, WRITE, ALLOW),
            creation(GROUP, "g", LITERAL, READ, ALLOW),
        ],
    );
    assert_eq!(granted, vec![(0, None); 2]);
    assert_eq!(add(&mut alice), 0);
    assert_eq!(offsets(&mut alice), 0);
    assert_eq!(end(&mut alice, pid, epoch), 0);
}

/// A request may repeat bindings and filters may overlap at any size: each binding is
/// written once and each id removed once (sets, not scans of what was seen so far).
#[test]
fn repeated_bindings_and_overlapping_filters_count_once_at_scale() {
    let broker = TestBroker::start_with(SECURE);
    let mut admin = login(&broker, "admin");
    let distinct = if std::env::var_os("CI").is_some() {
        2_000
    } else {
        10_000
    };
    let names: Vec<String> = (0..distinct).map(|i| format!("t-{i}")).collect();
    // Every binding twice, the second copies after all the first.
    let creations: Vec<_> = names
        .iter()
        .chain(names.iter())
        .map(|n| creation(TOPIC, n, LITERAL, READ, ALLOW))
        .collect();
    let results = create(&mut admin, creations);
    assert_eq!(results.len(), 2 * distinct);
    assert!(results.iter().all(|(code, _)| *code == 0));
    // Creating them again writes nothing more.
    let again: Vec<_> = names
        .iter()
        .map(|n| creation(TOPIC, n, LITERAL, READ, ALLOW))
        .collect();
    assert!(create(&mut admin, again).iter().all(|(c, _)| *c == 0));
    let (code, acls) = describe_all(&mut admin);
    assert_eq!((code, acls.len()), (0, distinct));
    // Two filters matching every one of them, and one matching the first.
    let all = delete_acls::Filter {
        resource_type_filter: TOPIC,
        pattern_type_filter: ANY,
        operation: ANY,
        permission_type: ANY,
        ..Default::default()
    };
    let first = delete_acls::Filter {
        resource_name_filter: Some("t-0"),
        pattern_type_filter: LITERAL,
        ..all.clone()
    };
    let request = delete_acls::Request {
        filters: vec![all.clone(), first, all],
    };
    let body = admin.send::<DeleteAcls>(3, &request);
    let matched: Vec<usize> = decoded::<DeleteAcls>(&body, 3)
        .filter_results
        .iter()
        .map(|f| f.matching_acls.len())
        .collect();
    assert_eq!(matched, [distinct, 1, distinct]);
    assert_eq!(describe_all(&mut admin), (0, Vec::new()));
    drop(admin);
    // What was written replays to the same: nothing left.
    let broker = broker.restart();
    let mut admin = login(&broker, "admin");
    assert_eq!(describe_all(&mut admin), (0, Vec::new()));
}
