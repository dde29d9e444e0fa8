//! CreateTopics (key 19): creates topics, or with validate_only checks that they could be
//! created. We serve versions 2-7, flexible from v5. Versions 0-1 went in Kafka 4.0; v2
//! already has the request's validate_only and the response's error_message and
//! throttle_time_ms.
//! - v3: no change on the wire.
//! - v4: num_partitions and replication_factor may be -1 (broker defaults) even without
//!   manual assignments (KIP-464).
//! - v5: first flexible version; the response returns each topic's partition count,
//!   replication factor and configs, or a tagged topic_config_error_code (KIP-525).
//! - v6: no change on the wire (may return THROTTLING_QUOTA_EXCEEDED).
//! - v7: the response carries the new topic's id.

use std::collections::HashMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        topics: Vec<Topic<'a>> = "0+",
        timeout_ms: i32 = "0+" default 60000,
        validate_only: bool = "1+",
    }

    pub struct Topic<'a> {
        name: &'a str = "0+",
        /// -1 with manual assignments or for the broker's default.
        num_partitions: i32 = "0+",
        /// -1 with manual assignments or for the broker's default.
        replication_factor: i16 = "0+",
        /// Empty for automatic assignment.
        assignments: Vec<Assignment> = "0+",
        configs: Vec<Config<'a>> = "0+",
    }

    pub struct Assignment {
        partition_index: i32 = "0+",
        broker_ids: Vec<i32> = "0+",
    }

    pub struct Config<'a> {
        name: &'a str = "0+",
        value: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "2+",
        topics: Vec<TopicResult> = "0+",
    }

    pub struct TopicResult {
        name: String = "0+",
        topic_id: [u8; 16] = "7+",
        error_code: i16 = "0+",
        error_message: Option<String> = "1+" null "0+",
        /// Left out (tagged) when 0.
        topic_config_error_code: i16 = "5+" tag 0,
        num_partitions: i32 = "5+" default -1,
        replication_factor: i16 = "5+" default -1,
        /// `None` when the configs are not returned.
        configs: Option<Vec<TopicConfig>> = "5+" null "5+",
    }

    pub struct TopicConfig {
        name: String = "5+",
        value: Option<String> = "5+" null "5+",
        read_only: bool = "5+",
        config_source: i8 = "5+" default -1,
        is_sensitive: bool = "5+",
    }
}

pub struct CreateTopics;

impl Api for CreateTopics {
    const SPEC: ApiSpec = ApiSpec::new(19, "CreateTopics", "2-7", "5+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        // How often each name occurs: one pass, so a request of many names costs linear time.
        let mut occurrences: HashMap<&str, usize> = HashMap::with_capacity(request.topics.len());
        for topic in &request.topics {
            *occurrences.entry(topic.name).or_default() += 1;
        }
        // Kafka's controller refuses the whole request past MAX_PARTITIONS_PER_BATCH
        // partitions (counted over the topics it is sent: not duplicated, authorized),
        // before it looks at names or existence.
        let total: i64 = request
            .topics
            .iter()
            .filter(|t| occurrences.get(t.name).is_none_or(|&n| n == 1))
            .filter(|t| {
                ctx.authorize_cluster(op::CREATE)
                    || ctx.authorize(op::CREATE, resource::TOPIC, t.name)
            })
            .map(|t| requested_partitions(t, ctx.config.num_partitions))
            .sum();
        if total > PARTITIONS_PER_REQUEST_MAX {
            let refused = request.topics.iter().map(|t| TopicResult {
                name: t.name.to_string(),
                error_code: error::POLICY_VIOLATION,
                error_message: Some("Excessively large number of partitions per request.".into()),
                ..TopicResult::default()
            });
            return Answer::Respond(Response {
                throttle_time_ms: 0,
                topics: refused.collect(),
            });
        }
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let duplicate = occurrences.get(topic.name).is_some_and(|&n| n > 1);
            topics.push(create_one(ctx, topic, duplicate, request.validate_only));
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            topics,
        })
    }
}

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

/// Keys whose value is checked against Kafka's type and range at creation.
const RANGE_CHECKED_KEYS: &[&str] = &["index.interval.bytes", "segment.index.bytes"];

/// Config source DYNAMIC_TOPIC_CONFIG, as DescribeConfigs numbers it.
const SOURCE_TOPIC: i8 = 1;

fn create_one(
    ctx: &mut Context,
    topic: &Topic,
    duplicate: bool,
    validate_only: bool,
) -> TopicResult {
    let fail = |code: i16, message: String| TopicResult {
        name: topic.name.to_string(),
        error_code: code,
        error_message: Some(message),
        ..TopicResult::default()
    };
    if duplicate {
        return fail(
            error::INVALID_REQUEST,
            format!("topic {} is named more than once", topic.name),
        );
    }
    if !ctx.authorize_cluster(op::CREATE) && !ctx.authorize(op::CREATE, resource::TOPIC, topic.name)
    {
        return fail(
            error::TOPIC_AUTHORIZATION_FAILED,
            "Authorization failed.".into(),
        );
    }
    if let Err(why) = crate::storage::validate_topic_name(topic.name) {
        return fail(error::INVALID_TOPIC_EXCEPTION, why.to_string());
    }
    if ctx.storage.topic(topic.name).is_some() {
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
        let node = ctx.config.node_id;
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
            -1 => ctx.config.num_partitions,
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
        -1 => ctx.config.default_replication_factor,
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
        // The index keys are checked against Kafka's ranges (LogConfig's validators), as
        // AlterConfigs checks every key.
        if RANGE_CHECKED_KEYS.contains(&config.name)
            && let Some(key) = crate::configs::topic_key(config.name)
            && let Err(why) = crate::configs::check(key, value)
        {
            return fail(error::INVALID_CONFIG, why);
        }
        configs.push((config.name.to_string(), value.to_string()));
    }
    let described = configs.iter().map(|(name, value)| TopicConfig {
        name: name.clone(),
        value: Some(value.clone()),
        config_source: SOURCE_TOPIC,
        ..TopicConfig::default()
    });
    let topic_id = if validate_only {
        [0; 16]
    } else {
        match ctx.storage.create_topic(topic.name, partitions, &configs) {
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
        num_partitions: partitions,
        replication_factor: replication,
        configs: Some(described.collect()),
        ..TopicResult::default()
    }
}

/// Partitions one CreateTopics may create, over all its topics: Kafka's
/// `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH` (past it the whole request is
/// POLICY_VIOLATION). Auto-creation by Metadata is bounded the same way.
pub const PARTITIONS_PER_REQUEST_MAX: i64 = 10_000;

/// The partitions a topic asks for, as Kafka's `validateTotalNumberOfPartitions` counts
/// them: its assignments, else its count (-1: `num.partitions`; not positive: none).
fn requested_partitions(topic: &Topic, default_partitions: i32) -> i64 {
    if !topic.assignments.is_empty() {
        return topic.assignments.len() as i64;
    }
    match topic.num_partitions {
        -1 => i64::from(default_partitions),
        n => i64::from(n.max(0)),
    }
}

const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// Partitions per topic: each holds an open segment file, so this bounds what one request
/// can make the broker open.
pub const PARTITIONS_MAX: i32 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

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
        let request: Request = decode(&body, CreateTopics::SPEC.ver(2)).unwrap();
        assert_eq!(request, one_topic_request());
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
        let request: Request = decode(&body, CreateTopics::SPEC.ver(5)).unwrap();
        assert_eq!(request, one_topic_request());
    }

    fn encoded(version: i16, topics: Vec<TopicResult>) -> Vec<u8> {
        let response = Response {
            throttle_time_ms: 0,
            topics,
        };
        let mut out = Vec::new();
        encode(&response, CreateTopics::SPEC.ver(version), &mut out).unwrap();
        out
    }

    #[test]
    fn create_topics_v2_response_bytes() {
        let topics = vec![TopicResult {
            name: "t".into(),
            ..TopicResult::default()
        }];
        let expected = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, // error_code
            0xff, 0xff, // error_message null
        ];
        assert_eq!(encoded(2, topics), expected);
    }

    #[test]
    fn create_topics_v7_response_bytes() {
        let created = TopicResult {
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
        };
        let refused = TopicResult {
            name: "u".into(),
            error_code: 40,
            topic_config_error_code: 40,
            ..TopicResult::default()
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
        assert_eq!(encoded(7, vec![created, refused]), expected);
    }
}
