//! Client quotas over a real socket: AlterClientQuotas and DescribeClientQuotas (every error
//! path, the describe filters, validate_only, persistence across a restart, bytes of a v0 and
//! a v1 response) and their enforcement: a produce or fetch over its byte rate is answered
//! with Kafka's throttle time, and the connection is muted for it (a later request on it is
//! answered after requests that other connections send later). Requests are built with the
//! declared codecs; responses are decoded and re-encoded to the bytes received.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;

use common::{TestBroker, assert_bytes, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::alter_client_quotas::{self as alter, AlterClientQuotas};
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::describe_client_quotas::{self as describe, DescribeClientQuotas};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::{Records, Ver, Wire, decode, encode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_REQUEST: i16 = 42;

struct Conn {
    stream: TcpStream,
    client_id: String,
    next_correlation_id: i32,
}

impl Conn {
    fn open(broker: &TestBroker, client_id: &str) -> Conn {
        Conn {
            stream: broker.connect(),
            client_id: client_id.to_string(),
            next_correlation_id: 1,
        }
    }

    /// Sends a declared request without reading the answer; returns its correlation id.
    fn send<A: Api>(&mut self, version: i16, request: &A::Request<'_>) -> i32 {
        let v = A::SPEC.ver(version);
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        send_frame(
            &mut self.stream,
            A::SPEC.key,
            version,
            correlation_id,
            Some(&self.client_id),
            &body_of(request, v),
            v.flexible,
        );
        correlation_id
    }

    /// Reads the answer to `correlation_id` and returns its body.
    fn receive<A: Api>(&mut self, version: i16, correlation_id: i32) -> Vec<u8> {
        let payload = read_frame(&mut self.stream);
        let flexible = A::SPEC.ver(version).flexible;
        response_body(&payload, correlation_id, flexible).to_vec()
    }

    fn call<A: Api>(&mut self, version: i16, request: &A::Request<'_>) -> Vec<u8> {
        let correlation_id = self.send::<A>(version, request);
        self.receive::<A>(version, correlation_id)
    }

    /// Whether a response has arrived (without waiting for one).
    fn has_answer(&mut self) -> bool {
        self.stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let arrived = match self.stream.peek(&mut byte) {
            Ok(n) => n > 0,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("peek: {e}"),
        };
        self.stream.set_nonblocking(false).unwrap();
        arrived
    }
}

fn body_of<'a, T: Wire<'a>>(message: &T, v: Ver) -> Vec<u8> {
    let mut out = Vec::new();
    encode(message, v, &mut out).expect("encodes");
    out
}

/// Decodes a whole response body of `A`: re-encoded, it gives back the same bytes.
fn decoded<'a, A: Api>(body: &'a [u8], version: i16) -> A::Response<'a>
where
    A::Response<'a>: std::fmt::Debug,
{
    let v = A::SPEC.ver(version);
    let response = decode(body, v).expect("the response decodes");
    assert_eq!(body_of(&response, v), body, "{response:?} re-encoded");
    response
}

// ---- requests ----

type Entity<'a> = &'a [(&'a str, Option<&'a str>)];

fn entry<'a>(entity: Entity<'a>, ops: &[(&'a str, f64, bool)]) -> alter::EntryData<'a> {
    alter::EntryData {
        entity: entity
            .iter()
            .map(|&(entity_type, entity_name)| alter::EntityData {
                entity_type,
                entity_name,
            })
            .collect(),
        ops: ops
            .iter()
            .map(|&(key, value, remove)| alter::OpData { key, value, remove })
            .collect(),
    }
}

/// (error code, message, entity) per result.
type Results = Vec<(i16, Option<String>, Vec<(String, Option<String>)>)>;

fn alter_quotas(
    conn: &mut Conn,
    version: i16,
    entries: Vec<alter::EntryData>,
    validate_only: bool,
) -> Results {
    let request = alter::Request {
        entries,
        validate_only,
    };
    let body = conn.call::<AlterClientQuotas>(version, &request);
    decoded::<AlterClientQuotas>(&body, version)
        .entries
        .into_iter()
        .map(|e| {
            let entity = e
                .entity
                .into_iter()
                .map(|c| (c.entity_type, c.entity_name))
                .collect();
            (e.error_code, e.error_message, entity)
        })
        .collect()
}

fn set(conn: &mut Conn, entity: Entity, key: &str, value: f64) {
    let results = alter_quotas(conn, 1, vec![entry(entity, &[(key, value, false)])], false);
    assert_eq!(results[0].0, NONE, "{results:?}");
}

fn component<'a>(
    entity_type: &'a str,
    match_type: i8,
    m: Option<&'a str>,
) -> describe::ComponentData<'a> {
    describe::ComponentData {
        entity_type,
        match_type,
        r#match: m,
    }
}

/// Entities (as (type, name) lists) with their (key, value)s, or the error.
type Described = Result<Vec<(Vec<(String, Option<String>)>, Vec<(String, f64)>)>, (i16, String)>;

fn describe_quotas(
    conn: &mut Conn,
    version: i16,
    components: Vec<describe::ComponentData>,
    strict: bool,
) -> Described {
    let request = describe::Request { components, strict };
    let body = conn.call::<DescribeClientQuotas>(version, &request);
    let response = decoded::<DescribeClientQuotas>(&body, version);
    if response.error_code != NONE {
        assert!(response.entries.is_none(), "an error has null entries");
        return Err((
            response.error_code,
            response.error_message.unwrap_or_default(),
        ));
    }
    Ok(response
        .entries
        .expect("entries")
        .into_iter()
        .map(|e| {
            (
                e.entity
                    .into_iter()
                    .map(|c| (c.entity_type, c.entity_name))
                    .collect(),
                e.values.into_iter().map(|v| (v.key, v.value)).collect(),
            )
        })
        .collect())
}

fn owned(entity: Entity) -> Vec<(String, Option<String>)> {
    entity
        .iter()
        .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
        .collect()
}

fn create_topic(conn: &mut Conn, name: &str) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: 1,
            replication_factor: 1,
            ..create_topics::Topic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = conn.call::<CreateTopics>(7, &request);
    assert_eq!(decoded::<CreateTopics>(&body, 7).topics[0].error_code, NONE);
}

/// A produce request (v9) of one batch holding one record of `value_bytes` bytes.
fn produce_request<'a>(topic: &'a str, batch: &'a [u8], acks: i16) -> produce::Request<'a> {
    produce::Request {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topic_data: vec![produce::TopicProduceData {
            name: topic,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(batch)),
            }],
        }],
    }
}

/// The frame size (header and body) of a request: what producer_byte_rate counts.
fn request_bytes(conn: &Conn, body_bytes: usize, flexible: bool) -> usize {
    // api key, version, correlation id, client id (int16 length), tags when flexible.
    2 + 2 + 4 + 2 + conn.client_id.len() + usize::from(flexible) + body_bytes
}

/// Kafka's throttle for a first burst of `bytes` under `quota` B/s on a fresh meter: the
/// rate is taken over all samples but one (10 s), X = (O - T) / T * W.
fn first_burst_throttle_ms(bytes: usize, quota: f64) -> i32 {
    let window_ms = 10_000.0;
    let rate = bytes as f64 / (window_ms / 1000.0);
    ((rate - quota) / quota * window_ms + 0.5).floor() as i32
}

/// `muted`'s request sent now is held back: a request another connection sends after it is
/// answered first. Then `muted`'s answer arrives; its body is returned.
fn assert_muted<A: Api>(
    broker: &TestBroker,
    muted: &mut Conn,
    version: i16,
    request: &A::Request<'_>,
) -> Vec<u8> {
    let held = muted.send::<A>(version, request);
    let mut other = Conn::open(broker, "someone-else");
    let body = other.call::<DescribeClientQuotas>(1, &describe::Request::default());
    decoded::<DescribeClientQuotas>(&body, 1);
    assert!(
        !muted.has_answer(),
        "the throttled connection answered before a later request on another connection"
    );
    muted.receive::<A>(version, held)
}

// ---- AlterClientQuotas and DescribeClientQuotas ----

#[test]
fn alter_then_describe_v0_and_v1_bytes() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker, "admin");
    let results = alter_quotas(
        &mut conn,
        0,
        vec![entry(
            &[("user", Some("alice")), ("client-id", None)],
            &[("producer_byte_rate", 1024.0, false)],
        )],
        false,
    );
    assert_eq!(
        results,
        [(
            NONE,
            None,
            owned(&[("client-id", None), ("user", Some("alice"))])
        )]
    );
    // v0 response: throttle 0, entries: 1 (error 0, message null, entity: 2).
    let request = alter::Request {
        entries: vec![entry(
            &[("user", Some("alice"))],
            &[("consumer_byte_rate", 2048.0, false)],
        )],
        validate_only: false,
    };
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 1];
    expected.extend_from_slice(b"\x00\x04user\x00\x05alice");
    assert_bytes(&conn.call::<AlterClientQuotas>(0, &request), &expected);
    // v1 describe of every user entity: both, the user alone first (entity order).
    let body = conn.call::<DescribeClientQuotas>(
        1,
        &describe::Request {
            components: vec![component("user", 2, None)],
            strict: false,
        },
    );
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 3]; // throttle, error, message null, entries: 2
    expected.extend_from_slice(b"\x02\x05user\x06alice\x00"); // entity: 1
    expected.extend_from_slice(b"\x02\x13consumer_byte_rate");
    expected.extend_from_slice(&2048f64.to_be_bytes());
    expected.extend_from_slice(&[0, 0]); // value tags, entry tags
    expected.extend_from_slice(b"\x03\x0aclient-id\x00\x00\x05user\x06alice\x00"); // entity: 2
    expected.extend_from_slice(b"\x02\x13producer_byte_rate");
    expected.extend_from_slice(&1024f64.to_be_bytes());
    expected.extend_from_slice(&[0, 0, 0]); // value, entry and body tags
    assert_bytes(&body, &expected);
    decoded::<DescribeClientQuotas>(&body, 1);
}

#[test]
fn alter_errors_are_per_entity_with_kafkas_messages() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker, "admin");
    let rate = [("producer_byte_rate", 100.0, false)];
    let cases: Vec<(alter::EntryData, &str)> = vec![
        (entry(&[], &rate), "Invalid empty client quota entity"),
        (
            entry(&[("group", Some("g"))], &rate),
            "Unhandled client quota entity type: group",
        ),
        (
            entry(&[("user", Some(""))], &rate),
            "Empty user not supported",
        ),
        (
            entry(&[("ip", Some("10.0.0.1")), ("user", Some("u"))], &rate),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or \
             ClientId",
        ),
        (
            entry(&[("ip", Some("not an address"))], &[]),
            "not an address is not a valid IP or resolvable host.",
        ),
        (
            entry(&[("ip", Some("10.0.0.2"))], &rate),
            "Invalid configuration key producer_byte_rate",
        ),
        (
            entry(
                &[("client-id", Some("c1"))],
                &[("connection_creation_rate", 5.0, false)],
            ),
            "Invalid configuration key connection_creation_rate",
        ),
        (
            entry(&[("client-id", Some("c2"))], &[("bogus", 5.0, false)]),
            "Invalid configuration key bogus",
        ),
        (
            entry(
                &[("client-id", Some("c3"))],
                &[("consumer_byte_rate", -1.0, false)],
            ),
            "Quota consumer_byte_rate must be greater than 0",
        ),
        (
            entry(
                &[("client-id", Some("c4"))],
                &[("request_percentage", 0.0, false)],
            ),
            "Quota request_percentage must be greater than 0",
        ),
        (
            entry(
                &[("client-id", Some("c5"))],
                &[("producer_byte_rate", 10.5, false)],
            ),
            "producer_byte_rate cannot be a fractional value.",
        ),
        (
            entry(
                &[("client-id", Some("c6"))],
                &[("producer_byte_rate", 1e19, false)],
            ),
            "Proposed value for producer_byte_rate is too large for a LONG.",
        ),
        (
            entry(&[("ip", None)], &[("connection_creation_rate", 3e9, false)]),
            "Proposed value for connection_creation_rate is too large for an INT.",
        ),
        (
            entry(
                &[("client-id", Some("c7"))],
                &[
                    ("producer_byte_rate", 1.0, false),
                    ("producer_byte_rate", 2.0, true),
                ],
            ),
            // Kafka overwrites its "Duplicate quota key" result with this one.
            "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=c7})",
        ),
    ];
    let (entries, messages): (Vec<_>, Vec<_>) = cases.into_iter().unzip();
    let good = entry(
        &[("client-id", Some("ok"))],
        &[("request_percentage", 12.5, false)],
    );
    let mut all = entries;
    all.push(good);
    let results = alter_quotas(&mut conn, 1, all, false);
    assert_eq!(results.len(), messages.len() + 1, "{results:?}");
    for (result, message) in results.iter().zip(&messages) {
        assert_eq!(
            (result.0, result.1.as_deref()),
            (INVALID_REQUEST, Some(*message)),
            "{result:?}"
        );
    }
    assert_eq!(results.last().map(|r| r.0), Some(NONE));
    // Only the good entity was stored.
    let stored = describe_quotas(&mut conn, 0, vec![], false).unwrap();
    assert_eq!(
        stored,
        [(
            owned(&[("client-id", Some("ok"))]),
            vec![("request_percentage".to_string(), 12.5)]
        )]
    );
    // The same entity twice in one request: one result, the entity "ignored"; the first
    // entry's change still applies, as on Kafka's controller.
    let results = alter_quotas(
        &mut conn,
        1,
        vec![
            entry(
                &[("user", Some("u"))],
                &[("producer_byte_rate", 5.0, false)],
            ),
            entry(
                &[("user", Some("u"))],
                &[("producer_byte_rate", 6.0, false)],
            ),
        ],
        false,
    );
    assert_eq!(
        results,
        [(
            INVALID_REQUEST,
            Some("Ignoring duplicate entity ClientQuotaEntity(entries={user=u})".to_string()),
            owned(&[("user", Some("u"))])
        )]
    );
    let users = describe_quotas(&mut conn, 1, vec![component("user", 0, Some("u"))], false);
    assert_eq!(
        users.unwrap(),
        [(
            owned(&[("user", Some("u"))]),
            vec![("producer_byte_rate".to_string(), 5.0)]
        )]
    );
}

#[test]
fn describe_filters_and_their_errors() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker, "admin");
    let rate = "producer_byte_rate";
    set(&mut conn, &[("user", Some("u"))], rate, 1.0);
    set(&mut conn, &[("user", None)], rate, 2.0);
    set(
        &mut conn,
        &[("user", Some("u")), ("client-id", Some("c"))],
        rate,
        3.0,
    );
    set(&mut conn, &[("client-id", None)], rate, 4.0);
    set(
        &mut conn,
        &[("ip", Some("10.1.1.1"))],
        "connection_creation_rate",
        5.0,
    );
    let values = |conn: &mut Conn, components, strict| -> Vec<f64> {
        describe_quotas(conn, 1, components, strict)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v[0].1)
            .collect()
    };
    // Entity order: by user (none, the default, then names), then client-id, then ip.
    assert_eq!(values(&mut conn, vec![], false), [5.0, 4.0, 2.0, 1.0, 3.0]);
    assert_eq!(
        values(&mut conn, vec![component("user", 0, Some("u"))], false),
        [1.0, 3.0]
    );
    assert_eq!(
        values(&mut conn, vec![component("user", 0, Some("u"))], true),
        [1.0]
    );
    assert_eq!(
        values(&mut conn, vec![component("user", 1, None)], false),
        [2.0]
    );
    assert_eq!(
        values(&mut conn, vec![component("user", 2, None)], true),
        [2.0, 1.0]
    );
    assert_eq!(
        values(&mut conn, vec![component("client-id", 1, None)], false),
        [4.0]
    );
    let both = vec![component("user", 2, None), component("client-id", 2, None)];
    assert_eq!(values(&mut conn, both, true), [3.0]);
    assert_eq!(
        values(&mut conn, vec![component("ip", 2, None)], false),
        [5.0]
    );
    assert_eq!(values(&mut conn, vec![], true), Vec::<f64>::new());
    let errors: Vec<(Vec<describe::ComponentData>, i16, &str)> = vec![
        (
            vec![component("", 2, None)],
            INVALID_REQUEST,
            "Invalid empty entity type.",
        ),
        (
            vec![component("user", 2, None), component("user", 1, None)],
            INVALID_REQUEST,
            "Entity type user cannot appear more than once in the filter.",
        ),
        (
            vec![component("topic", 2, None)],
            UNSUPPORTED_VERSION,
            "Unsupported entity type topic",
        ),
        (
            vec![component("user", 0, None)],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_EXACT, but set match string to null.",
        ),
        (
            vec![component("user", 1, Some("u"))],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
        ),
        (
            vec![component("user", 2, Some("u"))],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
        ),
        (
            vec![component("user", 7, None)],
            INVALID_REQUEST,
            "Unknown match type 7",
        ),
        (
            vec![component("ip", 2, None), component("user", 2, None)],
            INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component.",
        ),
    ];
    for (components, code, message) in errors {
        for version in [0, 1] {
            let got = describe_quotas(&mut conn, version, components.clone(), false);
            assert_eq!(got, Err((code, message.to_string())), "v{version}");
        }
    }
}

#[test]
fn validate_only_stores_nothing_and_changes_survive_a_restart() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker, "admin");
    let user = [("user", Some("bob"))];
    let results = alter_quotas(
        &mut conn,
        1,
        vec![entry(&user, &[("producer_byte_rate", 10.0, false)])],
        true,
    );
    assert_eq!(results[0].0, NONE);
    assert_eq!(describe_quotas(&mut conn, 1, vec![], false), Ok(vec![]));
    set(&mut conn, &user, "producer_byte_rate", 10.0);
    set(&mut conn, &user, "consumer_byte_rate", 20.0);
    set(
        &mut conn,
        &[("client-id", Some("gone"))],
        "producer_byte_rate",
        30.0,
    );
    let results = alter_quotas(
        &mut conn,
        0,
        vec![
            entry(
                &user,
                &[
                    ("producer_byte_rate", 0.0, true),
                    ("consumer_byte_rate", 25.0, false),
                ],
            ),
            entry(
                &[("client-id", Some("gone"))],
                &[("producer_byte_rate", 0.0, true)],
            ),
        ],
        false,
    );
    assert!(results.iter().all(|r| r.0 == NONE), "{results:?}");
    let broker = broker.restart();
    let mut conn = Conn::open(&broker, "admin");
    assert_eq!(
        describe_quotas(&mut conn, 1, vec![], false),
        Ok(vec![(
            owned(&user),
            vec![("consumer_byte_rate".to_string(), 25.0)]
        )])
    );
}

// ---- enforcement ----

#[test]
fn produce_over_its_byte_rate_is_throttled_and_its_connection_muted_even_after_a_restart() {
    let broker = TestBroker::start();
    let mut admin = Conn::open(&broker, "admin");
    create_topic(&mut admin, "slow");
    let quota = 1000.0;
    set(
        &mut admin,
        &[("client-id", Some("producer"))],
        "producer_byte_rate",
        quota,
    );
    let batch = batch::build(0, -1, 1_700_000_000_000, &[vec![7u8; 12_500]]);
    let request = produce_request("slow", &batch, -1);
    let mut producer = Conn::open(&broker, "producer");
    let body_bytes = body_of(&request, Produce::SPEC.ver(9)).len();
    let expected = first_burst_throttle_ms(request_bytes(&producer, body_bytes, true), quota);
    assert!((2000..4000).contains(&expected), "{expected}");

    let body = producer.call::<Produce>(9, &request);
    let response = decoded::<Produce>(&body, 9);
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (NONE, 0));
    assert_eq!(response.throttle_time_ms, expected);
    // The next request on that connection waits out the throttle; others do not.
    let body = assert_muted::<DescribeClientQuotas>(
        &broker,
        &mut producer,
        1,
        &describe::Request::default(),
    );
    assert_eq!(
        decoded::<DescribeClientQuotas>(&body, 1)
            .entries
            .map(|e| e.len()),
        Some(1)
    );
    // A client without a quota is not throttled.
    let body = Conn::open(&broker, "free").call::<Produce>(9, &request);
    assert_eq!(decoded::<Produce>(&body, 9).throttle_time_ms, 0);

    // After a restart the quota holds again, on a fresh meter: the same throttle, even
    // for acks=0 (no response, but the connection is muted).
    let broker = broker.restart();
    let mut producer = Conn::open(&broker, "producer");
    let body = producer.call::<Produce>(9, &request);
    assert_eq!(decoded::<Produce>(&body, 9).throttle_time_ms, expected);
    let mut silent = Conn::open(&broker, "producer-acks0");
    let mut admin = Conn::open(&broker, "admin");
    set(
        &mut admin,
        &[("client-id", Some("producer-acks0"))],
        "producer_byte_rate",
        quota,
    );
    silent.send::<Produce>(9, &produce_request("slow", &batch, 0));
    let body = assert_muted::<DescribeClientQuotas>(
        &broker,
        &mut silent,
        1,
        &describe::Request::default(),
    );
    assert_eq!(
        decoded::<DescribeClientQuotas>(&body, 1)
            .entries
            .map(|e| e.len()),
        Some(2)
    );
}

/// A fetch of partition 0 of `topic` (v12, by name) from offset 0 with `max_bytes` limits.
fn fetch_request(topic: &str, max_bytes: i32) -> fetch::Request<'_> {
    fetch::Request {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes,
        topics: vec![fetch::FetchTopic {
            topic,
            partitions: vec![fetch::FetchPartition {
                fetch_offset: 0,
                partition_max_bytes: max_bytes,
                ..fetch::FetchPartition::default()
            }],
            ..fetch::FetchTopic::default()
        }],
        ..fetch::Request::default()
    }
}

#[test]
fn fetch_over_its_byte_rate_gets_an_empty_throttled_response() {
    let broker = TestBroker::start();
    let mut admin = Conn::open(&broker, "admin");
    create_topic(&mut admin, "big");
    // One 12 KB batch: larger than the 10 s window of a 1,000 B/s quota, and served anyway
    // (the first batch always is), so the first fetch is over the quota.
    let batch = batch::build(0, -1, 1_700_000_000_000, &[vec![1u8; 12_000]]);
    let body = admin.call::<Produce>(9, &produce_request("big", &batch, -1));
    assert_eq!(decoded::<Produce>(&body, 9).throttle_time_ms, 0);
    let quota = 1000.0;
    set(
        &mut admin,
        &[("client-id", Some("consumer"))],
        "consumer_byte_rate",
        quota,
    );
    let request = fetch_request("big", 10_000);
    // What an unthrottled client gets for the same request: the batch, and the size Kafka
    // counts (the body and four bytes).
    let body = Conn::open(&broker, "free").call::<Fetch>(12, &request);
    let response = decoded::<Fetch>(&body, 12);
    assert_eq!(response.throttle_time_ms, 0);
    let Some(Records::Bytes(records)) = &response.responses[0].partitions[0].records else {
        panic!("records");
    };
    assert_eq!(records.len(), batch.len());
    let expected = first_burst_throttle_ms(body.len() + 4, quota);
    assert!(expected > 0);

    let mut consumer = Conn::open(&broker, "consumer");
    let body = consumer.call::<Fetch>(12, &request);
    let response = decoded::<Fetch>(&body, 12);
    assert_eq!(response.throttle_time_ms, expected);
    assert!(response.responses.is_empty(), "{response:?}");
    assert_eq!((response.error_code, response.session_id), (NONE, 0));
    // Muted; then, its bytes having been taken back, the same fetch is throttled the same.
    let body = assert_muted::<Fetch>(&broker, &mut consumer, 12, &request);
    let again = decoded::<Fetch>(&body, 12);
    assert!(
        again.responses.is_empty() && again.throttle_time_ms > 0,
        "{again:?}"
    );
}

#[test]
fn no_quota_no_throttle() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker, "plain");
    create_topic(&mut conn, "t");
    let batch = batch::build(0, -1, 1_700_000_000_000, &[vec![0u8; 50_000]]);
    for _ in 0..3 {
        let body = conn.call::<Produce>(9, &produce_request("t", &batch, -1));
        assert_eq!(decoded::<Produce>(&body, 9).throttle_time_ms, 0);
    }
    let body = conn.call::<Fetch>(12, &fetch_request("t", 1 << 20));
    let response = decoded::<Fetch>(&body, 12);
    assert_eq!(response.throttle_time_ms, 0);
    assert_eq!(response.responses[0].partitions[0].high_watermark, 3);
}
