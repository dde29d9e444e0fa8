//! CreateTopics (key 19), versions 2-7; flexible (compact encodings, tagged fields) from v5.
//! Versions 0-1 were removed in Kafka 4.0, so v2 is the baseline: it already has the
//! request's validate_only (v1), the response's error_message (v1) and throttle_time_ms (v2).
//! - v3: no change on the wire (responses go out before throttling).
//! - v4: num_partitions and replication_factor may be -1 (broker defaults) even without
//!   manual assignments (KIP-464).
//! - v5: first flexible version; the response returns each topic's partitions, replication
//!   factor and configs, or a tagged topic_config_error_code (tag 0) instead (KIP-525).
//! - v6: no change on the wire (may return THROTTLING_QUOTA_EXCEEDED, KIP-599).
//! - v7: the response carries the new topic's id.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 7;
pub const FIRST_FLEXIBLE_VERSION: i16 = 5;

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("create_topics version"))
    }
}

/// The tag of `TopicResult::topic_config_error_code`.
const TAG_TOPIC_CONFIG_ERROR_CODE: u32 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub topics: Vec<Topic<'a>>,
    pub timeout_ms: i32,
    pub validate_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic<'a> {
    pub name: &'a str,
    /// -1 with manual assignments or for the broker's default.
    pub num_partitions: i32,
    /// -1 with manual assignments or for the broker's default.
    pub replication_factor: i16,
    /// Empty for automatic assignment.
    pub assignments: Vec<Assignment>,
    pub configs: Vec<Config<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub partition_index: i32,
    pub broker_ids: Vec<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// The least bytes an element can take: `classic` before v5, `compact` from v5.
fn min_bytes(flexible: bool, classic: usize, compact: usize) -> usize {
    match flexible {
        true => compact,
        false => classic,
    }
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        // name, num_partitions, replication_factor, assignments, configs (+ tags).
        let n = r.array_len(
            flexible,
            min_bytes(flexible, 2 + 4 + 2 + 4 + 4, 1 + 4 + 2 + 3),
        )?;
        let topics = decode_array(r, n, |r| Topic::decode(r, flexible))?;
        let timeout_ms = r.i32()?;
        let validate_only = r.bool()?;
        r.skip_tags(flexible)?;
        Ok(Request {
            topics,
            timeout_ms,
            validate_only,
        })
    }

    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            topic.encode(w, flexible);
        }
        w.i32(self.timeout_ms)
            .bool(self.validate_only)
            .tags(flexible);
    }
}

impl<'a> Topic<'a> {
    fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let name = r.string(flexible)?;
        let num_partitions = r.i32()?;
        let replication_factor = r.i16()?;
        // partition_index, broker_ids (+ tags).
        let n = r.array_len(flexible, min_bytes(flexible, 4 + 4, 4 + 1 + 1))?;
        let assignments = decode_array(r, n, |r| {
            let partition_index = r.i32()?;
            let broker_ids = decode_i32s(r, flexible)?;
            r.skip_tags(flexible)?;
            Ok(Assignment {
                partition_index,
                broker_ids,
            })
        })?;
        // name, value (+ tags).
        let n = r.array_len(flexible, min_bytes(flexible, 2 + 2, 1 + 1 + 1))?;
        let configs = decode_array(r, n, |r| {
            let name = r.string(flexible)?;
            let value = r.nullable_string(flexible)?;
            r.skip_tags(flexible)?;
            Ok(Config { name, value })
        })?;
        r.skip_tags(flexible)?;
        Ok(Topic {
            name,
            num_partitions,
            replication_factor,
            assignments,
            configs,
        })
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(self.name, flexible)
            .i32(self.num_partitions)
            .i16(self.replication_factor);
        w.array_len(self.assignments.len(), flexible);
        for assignment in &self.assignments {
            w.i32(assignment.partition_index);
            encode_i32s(w, &assignment.broker_ids, flexible);
            w.tags(flexible);
        }
        w.array_len(self.configs.len(), flexible);
        for config in &self.configs {
            w.string(config.name, flexible)
                .nullable_string(config.value, flexible)
                .tags(flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub topics: Vec<TopicResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicResult {
    pub name: String,
    /// v7+.
    pub topic_id: [u8; 16],
    pub error_code: i16,
    pub error_message: Option<String>,
    /// v5+, tagged (tag 0): written only when non-zero.
    pub topic_config_error_code: i16,
    /// v5+.
    pub num_partitions: i32,
    /// v5+.
    pub replication_factor: i16,
    /// v5+; `None` when the configs are not returned.
    pub configs: Option<Vec<TopicConfig>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    pub config_source: i8,
    pub is_sensitive: bool,
}

impl Default for TopicResult {
    fn default() -> Self {
        TopicResult {
            name: String::new(),
            topic_id: [0; 16],
            error_code: 0,
            error_message: None,
            topic_config_error_code: 0,
            num_partitions: -1,
            replication_factor: -1,
            configs: None,
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i32(self.throttle_time_ms);
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            topic.encode(w, version);
        }
        w.tags(flexible);
    }

    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let throttle_time_ms = r.i32()?;
        // name, error_code, error_message: at least 1 + 2 + 1 bytes.
        let n = r.array_len(flexible, 4)?;
        let topics = decode_array(r, n, |r| TopicResult::decode(r, version))?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            topics,
        })
    }
}

impl TopicResult {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.string(&self.name, flexible);
        if version >= 7 {
            w.uuid(&self.topic_id);
        }
        w.i16(self.error_code)
            .nullable_string(self.error_message.as_deref(), flexible);
        if version >= 5 {
            w.i32(self.num_partitions).i16(self.replication_factor);
            match &self.configs {
                None => {
                    w.null_array(flexible);
                }
                Some(configs) => {
                    w.array_len(configs.len(), flexible);
                    for config in configs {
                        config.encode(w, flexible);
                    }
                }
            }
        }
        if flexible && self.topic_config_error_code != 0 {
            // One tagged field: tag 0, 2 bytes, int16.
            w.uvarint(1)
                .uvarint(TAG_TOPIC_CONFIG_ERROR_CODE)
                .uvarint(2)
                .i16(self.topic_config_error_code);
        } else {
            w.tags(flexible);
        }
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let mut out = TopicResult {
            name: r.string(flexible)?.to_owned(),
            ..TopicResult::default()
        };
        if version >= 7 {
            out.topic_id = r.uuid()?;
        }
        out.error_code = r.i16()?;
        out.error_message = r.nullable_string(flexible)?.map(str::to_owned);
        if version >= 5 {
            out.num_partitions = r.i32()?;
            out.replication_factor = r.i16()?;
            // name, value, read_only, config_source, is_sensitive, tags.
            out.configs = match r.nullable_array_len(flexible, 1 + 1 + 1 + 1 + 1 + 1)? {
                None => None,
                Some(n) => Some(decode_array(r, n, |r| TopicConfig::decode(r, flexible))?),
            };
        }
        let mut topic_config_error_code = 0;
        r.tagged_fields(flexible, |tag, data| {
            if tag == TAG_TOPIC_CONFIG_ERROR_CODE {
                topic_config_error_code = Reader::new(data).i16()?;
            }
            Ok(())
        })?;
        out.topic_config_error_code = topic_config_error_code;
        Ok(out)
    }
}

impl TopicConfig {
    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(&self.name, flexible)
            .nullable_string(self.value.as_deref(), flexible)
            .bool(self.read_only)
            .i8(self.config_source)
            .bool(self.is_sensitive)
            .tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, flexible: bool) -> Result<Self> {
        let out = TopicConfig {
            name: r.string(flexible)?.to_owned(),
            value: r.nullable_string(flexible)?.map(str::to_owned),
            read_only: r.bool()?,
            config_source: r.i8()?,
            is_sensitive: r.bool()?,
        };
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

fn decode_i32s(r: &mut Reader<'_>, flexible: bool) -> Result<Vec<i32>> {
    let n = r.array_len(flexible, 4)?;
    decode_array(r, n, |r| r.i32())
}

fn encode_i32s(w: &mut Writer, values: &[i32], flexible: bool) {
    w.array_len(values.len(), flexible);
    for &value in values {
        w.i32(value);
    }
}

// ---- Handling ----

/// Topic-level configuration keys accepted at creation (Kafka's topic configs).
pub const TOPIC_CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// Keys whose value must be an integer.
const NUMERIC_KEYS: &[&str] = &[
    "max.message.bytes",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// Config source DYNAMIC_TOPIC_CONFIG, as DescribeConfigs numbers it.
const SOURCE_TOPIC: i8 = 1;

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let duplicate = request
            .topics
            .iter()
            .filter(|t| t.name == topic.name)
            .count()
            > 1;
        results.push(create_one(broker, topic, duplicate, request.validate_only));
    }
    Response {
        throttle_time_ms: 0,
        topics: results,
    }
    .encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

fn create_one(
    broker: &mut crate::context::Context,
    topic: &Topic,
    duplicate: bool,
    validate_only: bool,
) -> TopicResult {
    use crate::protocol::error;
    let fail = |code: i16, message: String| TopicResult {
        name: topic.name.to_string(),
        topic_id: [0; 16],
        error_code: code,
        error_message: Some(message),
        topic_config_error_code: 0,
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
    };
    if duplicate {
        return fail(
            error::INVALID_REQUEST,
            format!("topic {} is named more than once", topic.name),
        );
    }
    if let Err(why) = crate::storage::validate_topic_name(topic.name) {
        return fail(error::INVALID_TOPIC_EXCEPTION, why.to_string());
    }
    if broker.storage.topic(topic.name).is_some() {
        return fail(
            error::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", topic.name),
        );
    }
    let partitions = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return fail(
                error::INVALID_REQUEST,
                "assignments given with a partition count or replication factor".into(),
            );
        }
        let node = broker.config.node_id;
        if topic.assignments.iter().any(|a| a.broker_ids != [node]) {
            return fail(
                INVALID_REPLICA_ASSIGNMENT,
                format!("every partition must be on broker {node} alone"),
            );
        }
        if topic.assignments.len() > PARTITIONS_MAX as usize {
            return fail(
                error::INVALID_PARTITIONS,
                format!("more than {PARTITIONS_MAX} partitions"),
            );
        }
        topic.assignments.len() as i32
    } else {
        match topic.num_partitions {
            -1 => broker.config.num_partitions,
            n if n > PARTITIONS_MAX => {
                return fail(
                    error::INVALID_PARTITIONS,
                    format!(
                        "Number of partitions {n} is more than this broker allows ({PARTITIONS_MAX})."
                    ),
                );
            }
            n if n >= 1 => n,
            n => {
                return fail(
                    error::INVALID_PARTITIONS,
                    format!("Number of partitions was set to an invalid non-positive value: {n}."),
                );
            }
        }
    };
    let replication = match topic.replication_factor {
        -1 => broker.config.default_replication_factor,
        n => n,
    };
    if replication != 1 {
        return fail(
            error::INVALID_REPLICATION_FACTOR,
            format!("Replication factor {replication} is larger than the 1 available broker."),
        );
    }
    let mut configs = Vec::with_capacity(topic.configs.len());
    for config in &topic.configs {
        let Some(value) = config.value else { continue };
        if !TOPIC_CONFIG_KEYS.contains(&config.name) {
            return fail(
                error::INVALID_CONFIG,
                format!("Unknown topic config name: {}", config.name),
            );
        }
        if NUMERIC_KEYS.contains(&config.name) && value.parse::<i64>().is_err() {
            return fail(
                error::INVALID_CONFIG,
                format!("Invalid value {value} for configuration {}", config.name),
            );
        }
        configs.push((config.name.to_string(), value.to_string()));
    }
    let described = configs
        .iter()
        .map(|(name, value)| TopicConfig {
            name: name.clone(),
            value: Some(value.clone()),
            read_only: false,
            config_source: SOURCE_TOPIC,
            is_sensitive: false,
        })
        .collect();
    let topic_id = if validate_only {
        [0; 16]
    } else {
        match broker
            .storage
            .create_topic(topic.name, partitions, &configs)
        {
            Ok(created) => created.id,
            Err(e) => {
                log::error!("creating topic {}: {e:?}", topic.name);
                return fail(error::UNKNOWN_SERVER_ERROR, format!("{e:?}"));
            }
        }
    };
    TopicResult {
        name: topic.name.to_string(),
        topic_id,
        error_code: error::NONE,
        error_message: None,
        topic_config_error_code: 0,
        num_partitions: partitions,
        replication_factor: replication,
        configs: Some(described),
    }
}

const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// Partitions per topic: each holds an open segment file, so this bounds what one request
/// can make the broker open.
pub const PARTITIONS_MAX: i32 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut buf = Vec::new();
        f(&mut Writer::new(&mut buf));
        buf
    }

    fn decode_all<'a, T>(
        bytes: &'a [u8],
        decode: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<T> {
        let mut r = Reader::new(bytes);
        let out = decode(&mut r)?;
        assert_eq!(r.remaining(), 0, "bytes left over");
        Ok(out)
    }

    fn one_topic_request() -> Request<'static> {
        Request {
            topics: vec![Topic {
                name: "t",
                num_partitions: 3,
                replication_factor: 1,
                assignments: vec![Assignment {
                    partition_index: 0,
                    broker_ids: vec![1],
                }],
                configs: vec![Config {
                    name: "k",
                    value: None,
                }],
            }],
            timeout_ms: 30000,
            validate_only: false,
        }
    }

    #[test]
    fn create_topics_v2_request_bytes() {
        let body = [
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 3, // num_partitions 3
            0, 1, // replication_factor 1
            0, 0, 0, 1, // assignments: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 1, 0, 0, 0, 1, // broker_ids [1]
            0, 0, 0, 1, // configs: 1
            0, 1, b'k', // name "k"
            0xff, 0xff, // value null
            0, 0, 0x75, 0x30, // timeout_ms 30000
            0,    // validate_only false
        ];
        let req = decode_all(&body, |r| Request::decode(r, 2)).unwrap();
        assert_eq!(req, one_topic_request());
        assert_eq!(encoded(|w| req.encode(w, 2)), body);
    }

    #[test]
    fn create_topics_v5_request_bytes() {
        let body = [
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0, 0, 0, 3, // num_partitions 3
            0, 1,    // replication_factor 1
            0x02, // assignments: compact count 1
            0, 0, 0, 0, // partition_index 0
            0x02, 0, 0, 0, 1,    // broker_ids [1]
            0x00, // assignment tags
            0x02, // configs: compact count 1
            0x02, b'k', // name "k"
            0x00, // value null
            0x00, // config tags
            0x00, // topic tags
            0, 0, 0x75, 0x30, // timeout_ms 30000
            0x00, // validate_only false
            0x00, // tags
        ];
        let req = decode_all(&body, |r| Request::decode(r, 5)).unwrap();
        assert_eq!(req, one_topic_request());
        assert_eq!(encoded(|w| req.encode(w, 5)), body);
    }

    fn sample_request() -> Request<'static> {
        Request {
            topics: vec![
                Topic {
                    name: "orders",
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: vec![],
                    configs: vec![
                        Config {
                            name: "cleanup.policy",
                            value: Some("compact"),
                        },
                        Config {
                            name: "retention.ms",
                            value: None,
                        },
                    ],
                },
                one_topic_request().topics.remove(0),
            ],
            timeout_ms: 60000,
            validate_only: true,
        }
    }

    #[test]
    fn create_topics_request_round_trips_every_version() {
        for version in 2..=7 {
            let req = sample_request();
            let bytes = encoded(|w| req.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(req),
                "v{version}"
            );
        }
    }

    #[test]
    fn create_topics_request_truncated_is_an_error() {
        for version in 2..=7 {
            let bytes = encoded(|w| sample_request().encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
        }
    }

    #[test]
    fn create_topics_v2_response_bytes() {
        let resp = Response {
            throttle_time_ms: 0,
            topics: vec![TopicResult {
                name: "t".into(),
                ..TopicResult::default()
            }],
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, // error_code
            0xff, 0xff, // error_message null
        ];
        assert_eq!(encoded(|w| resp.encode(w, 2)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 2)), Ok(resp));
    }

    #[test]
    fn create_topics_v7_response_bytes() {
        let resp = Response {
            throttle_time_ms: 0,
            topics: vec![
                TopicResult {
                    name: "t".into(),
                    topic_id: [7; 16],
                    num_partitions: 3,
                    replication_factor: 1,
                    configs: Some(vec![TopicConfig {
                        name: "k".into(),
                        value: Some("v".into()),
                        read_only: false,
                        config_source: 5,
                        is_sensitive: false,
                    }]),
                    ..TopicResult::default()
                },
                TopicResult {
                    name: "u".into(),
                    error_code: 40,
                    topic_config_error_code: 40,
                    ..TopicResult::default()
                },
            ],
        };
        let mut expected = vec![
            0, 0, 0, 0,    // throttle_time_ms
            0x03, // topics: compact count 2
            0x02, b't', // name "t"
        ];
        expected.extend([7; 16]); // topic_id
        expected.extend([
            0, 0,    // error_code
            0x00, // error_message null
            0, 0, 0, 3, // num_partitions 3
            0, 1,    // replication_factor 1
            0x02, // configs: compact count 1
            0x02, b'k', // name "k"
            0x02, b'v', // value "v"
            0x00, // read_only false
            0x05, // config_source 5 (DEFAULT_CONFIG)
            0x00, // is_sensitive false
            0x00, // config tags
            0x00, // topic tags: topic_config_error_code 0 is left out
            0x02, b'u', // name "u"
        ]);
        expected.extend([0; 16]); // topic_id unset
        expected.extend([
            0, 40,   // error_code INVALID_CONFIG
            0x00, // error_message null
            0xff, 0xff, 0xff, 0xff, // num_partitions -1
            0xff, 0xff, // replication_factor -1
            0x00, // configs null
            0x01, 0x00, 0x02, 0, 40,   // tags: 1 field, tag 0, 2 bytes, int16 40
            0x00, // tags
        ]);
        assert_eq!(encoded(|w| resp.encode(w, 7)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 7)), Ok(resp));
    }

    fn sample_response(version: i16) -> Response {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        Response {
            throttle_time_ms: 12,
            topics: vec![
                TopicResult {
                    name: "orders".into(),
                    topic_id: if version >= 7 { [5; 16] } else { [0; 16] },
                    num_partitions: if flexible { 6 } else { -1 },
                    replication_factor: if flexible { 1 } else { -1 },
                    configs: flexible.then(|| {
                        vec![TopicConfig {
                            name: "retention.ms".into(),
                            value: None,
                            read_only: true,
                            config_source: -1,
                            is_sensitive: true,
                        }]
                    }),
                    ..TopicResult::default()
                },
                TopicResult {
                    name: "bad name".into(),
                    error_code: 17,
                    error_message: Some("invalid topic".into()),
                    topic_config_error_code: if flexible { 29 } else { 0 },
                    ..TopicResult::default()
                },
            ],
        }
    }

    #[test]
    fn create_topics_response_round_trips_every_version() {
        for version in 2..=7 {
            let resp = sample_response(version);
            let bytes = encoded(|w| resp.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Response::decode(r, version)),
                Ok(resp),
                "v{version}"
            );
            for len in 0..bytes.len() {
                assert!(Response::decode(&mut Reader::new(&bytes[..len]), version).is_err());
            }
        }
    }

    #[test]
    fn create_topics_huge_counts_and_bad_versions_are_rejected() {
        // v2: topics claims 2^31-1 entries in an 8-byte body.
        let body = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 2),
            Err(DecodeError::Truncated)
        );
        for version in [1, 8] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("create_topics version"))
            );
        }
    }
}
