//! DescribeConfigs (key 32): the configuration of topics and of this broker, each entry with
//! its source. We serve versions 1-4, flexible from v4. Version 0 went in Kafka 4.0; v1 has
//! the request's include_synonyms and each entry's config_source and synonyms (instead of
//! v0's is_default).
//! - v2: no change on the wire.
//! - v3: the request's include_documentation, and each entry's config_type and
//!   documentation.
//! - v4: first flexible version.
//!
//! `configuration_keys` null asks for every key; an empty array asks for none.

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::config::Config;
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;

/// `resource_type` values (Kafka's `ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// `config_source` and synonym `source` values (Kafka's `ConfigSource`).
pub const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// `config_type` values (Kafka's `ConfigDef.Type`; 0, the default, unknown).
pub const TYPE_BOOLEAN: i8 = 1;
pub const TYPE_STRING: i8 = 2;
pub const TYPE_INT: i8 = 3;
pub const TYPE_LONG: i8 = 5;
pub const TYPE_LIST: i8 = 7;

message! {
    pub struct Request<'a> {
        resources: Vec<Resource<'a>> = "0+",
        include_synonyms: bool = "1+",
        include_documentation: bool = "3+",
    }

    pub struct Resource<'a> {
        resource_type: i8 = "0+",
        resource_name: &'a str = "0+",
        /// `None` asks for every key.
        configuration_keys: Option<Vec<&'a str>> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        results: Vec<ResourceResult> = "0+",
    }

    pub struct ResourceResult {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        resource_type: i8 = "0+",
        resource_name: String = "0+",
        configs: Vec<ConfigResult> = "0+",
    }

    pub struct ConfigResult {
        name: String = "0+",
        value: Option<String> = "0+" null "0+",
        read_only: bool = "0+",
        /// One of the `SOURCE_*` values.
        config_source: i8 = "1+" default -1,
        is_sensitive: bool = "0+",
        /// Empty unless the request asked for synonyms.
        synonyms: Vec<Synonym> = "1+",
        /// One of the `TYPE_*` values.
        config_type: i8 = "3+",
        /// `None` unless the request asked for documentation (which we never give).
        documentation: Option<String> = "3+" null "0+",
    }

    pub struct Synonym {
        name: String = "1+",
        value: Option<String> = "1+" null "0+",
        /// One of the `SOURCE_*` values.
        source: i8 = "1+",
    }
}

pub struct DescribeConfigs;

impl Api for DescribeConfigs {
    const SPEC: ApiSpec = ApiSpec::new(32, "DescribeConfigs", "1-4", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let results = request
            .resources
            .iter()
            .map(|resource| describe(ctx, resource, request.include_synonyms))
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            results,
        })
    }
}

fn describe(ctx: &Context, resource: &Resource, include_synonyms: bool) -> ResourceResult {
    let mut result = ResourceResult {
        resource_type: resource.resource_type,
        resource_name: resource.resource_name.to_string(),
        ..ResourceResult::default()
    };
    let name = resource.resource_name;
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => match ctx.storage.topic_configs(name) {
            Some(configs) => topic_entries(ctx.config, configs),
            None => {
                result.error_code = error::UNKNOWN_TOPIC_OR_PARTITION;
                result.error_message = Some(format!("Topic {name} does not exist."));
                Vec::new()
            }
        },
        RESOURCE_BROKER if name.is_empty() || name == ctx.config.node_id.to_string() => {
            with_sources(
                broker_settings(ctx.config),
                broker_settings(&Config::default()),
            )
        }
        _ => {
            result.error_code = error::INVALID_REQUEST;
            result.error_message = Some(format!(
                "resource type {} named '{name}' is not described here",
                resource.resource_type
            ));
            Vec::new()
        }
    };
    let asked = |key: &str| {
        let keys = resource.configuration_keys.as_ref();
        keys.is_none_or(|keys| keys.contains(&key))
    };
    for (name, value, source, kind) in entries.into_iter().filter(|e| asked(&e.0)) {
        let synonyms = include_synonyms.then(|| Synonym {
            name: name.clone(),
            value: Some(value.clone()),
            source,
        });
        result.configs.push(ConfigResult {
            name,
            value: Some(value),
            read_only: resource.resource_type == RESOURCE_BROKER,
            config_source: source,
            is_sensitive: false,
            synonyms: synonyms.into_iter().collect(),
            config_type: kind,
            documentation: None,
        });
    }
    result
}

/// A configuration entry: name, value, source, type.
type Entry = (String, String, i8, i8);

/// A setting: name, value, type.
type Setting = (&'static str, String, i8);

/// Entries of `settings`, each reported as Kafka's default where it equals the value it has
/// with a default configuration, else as set in the broker's configuration.
fn with_sources<const N: usize>(settings: [Setting; N], defaults: [Setting; N]) -> Vec<Entry> {
    let entry = |((name, value, kind), (_, default, _)): (Setting, Setting)| {
        let source = match value == default {
            true => SOURCE_DEFAULT_CONFIG,
            false => SOURCE_STATIC_BROKER_CONFIG,
        };
        (name.to_string(), value, source, kind)
    };
    settings.into_iter().zip(defaults).map(entry).collect()
}

/// The topic-level settings a topic without overrides has here: fixed values, or the broker
/// setting behind the key.
fn topic_settings(c: &Config) -> [Setting; 9] {
    [
        ("cleanup.policy", "delete".into(), TYPE_LIST),
        ("compression.type", "producer".into(), TYPE_STRING),
        (
            "max.message.bytes",
            c.message_max_bytes.to_string(),
            TYPE_INT,
        ),
        ("message.timestamp.type", "CreateTime".into(), TYPE_STRING),
        ("min.insync.replicas", "1".into(), TYPE_INT),
        (
            "retention.bytes",
            c.log_retention_bytes.to_string(),
            TYPE_LONG,
        ),
        ("retention.ms", c.log_retention_ms.to_string(), TYPE_LONG),
        ("segment.bytes", c.log_segment_bytes.to_string(), TYPE_INT),
        ("segment.ms", "604800000".into(), TYPE_LONG),
    ]
}

/// A topic's entries, by name: its overrides from the metadata log, else the defaults.
fn topic_entries(c: &Config, configs: &BTreeMap<String, String>) -> Vec<Entry> {
    let mut out = with_sources(topic_settings(c), topic_settings(&Config::default()));
    for entry in &mut out {
        if let Some(set) = configs.get(&entry.0) {
            (entry.1, entry.2) = (set.clone(), SOURCE_DYNAMIC_TOPIC_CONFIG);
        }
    }
    for (name, value) in configs {
        if !out.iter().any(|(n, ..)| n == name) {
            let (name, value) = (name.clone(), value.clone());
            out.push((name, value, SOURCE_DYNAMIC_TOPIC_CONFIG, TYPE_STRING));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The broker's own settings, by name.
fn broker_settings(c: &Config) -> [Setting; 12] {
    let delay_ms = c.group_initial_rebalance_delay_ms;
    [
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            TYPE_BOOLEAN,
        ),
        (
            "default.replication.factor",
            c.default_replication_factor.to_string(),
            TYPE_INT,
        ),
        (
            "group.initial.rebalance.delay.ms",
            delay_ms.to_string(),
            TYPE_INT,
        ),
        ("log.dirs", c.log_dir.display().to_string(), TYPE_STRING),
        (
            "log.retention.bytes",
            c.log_retention_bytes.to_string(),
            TYPE_LONG,
        ),
        (
            "log.retention.ms",
            c.log_retention_ms.to_string(),
            TYPE_LONG,
        ),
        (
            "log.segment.bytes",
            c.log_segment_bytes.to_string(),
            TYPE_INT,
        ),
        ("max.connections", c.max_connections.to_string(), TYPE_INT),
        (
            "message.max.bytes",
            c.message_max_bytes.to_string(),
            TYPE_INT,
        ),
        ("node.id", c.node_id.to_string(), TYPE_INT),
        ("num.partitions", c.num_partitions.to_string(), TYPE_INT),
        (
            "socket.request.max.bytes",
            c.socket_request_max_bytes.to_string(),
            TYPE_INT,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn resource(
        resource_type: i8,
        resource_name: &'static str,
        configuration_keys: Option<Vec<&'static str>>,
    ) -> Resource<'static> {
        Resource {
            resource_type,
            resource_name,
            configuration_keys,
        }
    }

    #[test]
    fn describe_configs_v1_request_bytes() {
        let body = [
            0, 0, 0, 2, // resources: 2
            2, // resource_type 2 (topic)
            0, 1, b't', // resource_name "t"
            0, 0, 0, 1, // configuration_keys: 1
            0, 2, b'k', b'1', // "k1"
            4,    // resource_type 4 (broker)
            0, 1, b'1', // resource_name "1"
            0xff, 0xff, 0xff, 0xff, // configuration_keys null (all)
            0x01, // include_synonyms true (no include_documentation in v1)
        ];
        let request: Request = decode(&body, DescribeConfigs::SPEC.ver(1)).unwrap();
        let resources = vec![
            resource(RESOURCE_TOPIC, "t", Some(vec!["k1"])),
            resource(RESOURCE_BROKER, "1", None),
        ];
        let expected = Request {
            resources,
            include_synonyms: true,
            include_documentation: false,
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn describe_configs_v4_request_bytes() {
        let body = [
            0x03, // resources: compact count 2
            2,    // resource_type 2 (topic)
            0x02, b't', // resource_name "t"
            0x00, // configuration_keys null (all)
            0x00, // resource tags
            2,    // resource_type 2 (topic)
            0x02, b'u', // resource_name "u"
            0x01, // configuration_keys: empty (none)
            0x00, // resource tags
            0x00, // include_synonyms false
            0x01, // include_documentation true
            0x00, // tags
        ];
        let request: Request = decode(&body, DescribeConfigs::SPEC.ver(4)).unwrap();
        let resources = vec![
            resource(RESOURCE_TOPIC, "t", None),
            resource(RESOURCE_TOPIC, "u", Some(vec![])),
        ];
        let expected = Request {
            resources,
            include_synonyms: false,
            include_documentation: true,
        };
        assert_eq!(request, expected);
    }

    fn one_config_response(version: i16) -> Vec<u8> {
        let config = ConfigResult {
            name: "k".into(),
            value: Some("v".into()),
            read_only: false,
            config_source: SOURCE_DEFAULT_CONFIG,
            is_sensitive: false,
            synonyms: vec![Synonym {
                name: "s".into(),
                value: None,
                source: SOURCE_STATIC_BROKER_CONFIG,
            }],
            config_type: TYPE_STRING,
            documentation: None,
        };
        let result = ResourceResult {
            resource_type: RESOURCE_TOPIC,
            resource_name: "t".into(),
            configs: vec![config],
            ..ResourceResult::default()
        };
        let response = Response {
            throttle_time_ms: 0,
            results: vec![result],
        };
        let mut out = Vec::new();
        encode(&response, DescribeConfigs::SPEC.ver(version), &mut out).unwrap();
        out
    }

    #[test]
    fn describe_configs_v1_response_bytes() {
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, 0, 1, // results: 1
            0, 0, // error_code 0
            0xff, 0xff, // error_message null
            2,    // resource_type 2 (topic)
            0, 1, b't', // resource_name "t"
            0, 0, 0, 1, // configs: 1
            0, 1, b'k', // name "k"
            0, 1, b'v', // value "v"
            0,    // read_only false
            5,    // config_source 5 (default)
            0,    // is_sensitive false
            0, 0, 0, 1, // synonyms: 1
            0, 1, b's', // name "s"
            0xff, 0xff, // value null
            4,    // source 4 (static broker config)
                  // no config_type or documentation before v3
        ];
        assert_eq!(one_config_response(1), expected);
    }

    #[test]
    fn describe_configs_v4_response_bytes() {
        let expected = [
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // results: compact count 1
            0, 0,    // error_code 0
            0x00, // error_message null
            2,    // resource_type 2 (topic)
            0x02, b't', // resource_name "t"
            0x02, // configs: compact count 1
            0x02, b'k', // name "k"
            0x02, b'v', // value "v"
            0,    // read_only false
            5,    // config_source 5 (default)
            0,    // is_sensitive false
            0x02, // synonyms: compact count 1
            0x02, b's', // name "s"
            0x00, // value null
            4,    // source 4 (static broker config)
            0x00, // synonym tags
            2,    // config_type 2 (string)
            0x00, // documentation null
            0x00, // config tags
            0x00, // result tags
            0x00, // tags
        ];
        assert_eq!(one_config_response(4), expected);
    }

    #[test]
    fn describe_configs_broker_settings_name_their_source() {
        let config = Config {
            num_partitions: 3,
            ..Config::default()
        };
        let entries = with_sources(
            broker_settings(&config),
            broker_settings(&Config::default()),
        );
        let source = |key: &str| {
            entries
                .iter()
                .find(|e| e.0 == key)
                .map(|e| (e.1.as_str(), e.2))
        };
        assert_eq!(
            source("num.partitions"),
            Some(("3", SOURCE_STATIC_BROKER_CONFIG))
        );
        assert_eq!(source("node.id"), Some(("1", SOURCE_DEFAULT_CONFIG)));
        let overrides = [("retention.ms", "5"), ("x", "y")];
        let overrides = overrides
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let topic = topic_entries(&config, &overrides);
        let names: Vec<_> = topic.iter().map(|e| (e.0.as_str(), e.2)).collect();
        assert_eq!(names.len(), 10);
        assert!(names.contains(&("retention.ms", SOURCE_DYNAMIC_TOPIC_CONFIG)));
        assert_eq!(names.last(), Some(&("x", SOURCE_DYNAMIC_TOPIC_CONFIG)));
    }
}
