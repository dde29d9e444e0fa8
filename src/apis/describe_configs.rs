//! DescribeConfigs (key 32), versions 1-4; flexible (compact encodings, tagged fields) from v4.
//! Version 0 was removed in Kafka 4.0, so v1 is the baseline: the request's include_synonyms,
//! and each config's config_source and synonyms instead of v0's is_default.
//! - v2: no change on the wire (responses go out before throttling).
//! - v3: the request's include_documentation, and each config's config_type and
//!   documentation (the schema's version history omits v3; its fields say "3+").
//! - v4: first flexible version.
//!
//! `configuration_keys` null asks for every key; an empty array asks for none.
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 4;
pub const FIRST_FLEXIBLE_VERSION: i16 = 4;

/// `resource_type` values (Kafka's `ConfigResource.Type`).
pub const RESOURCE_UNKNOWN: i8 = 0;
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// `config_source` and synonym `source` values (Kafka's `ConfigSource`).
pub const SOURCE_UNKNOWN: i8 = 0;
pub const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER_CONFIG: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
pub const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// `config_type` values (Kafka's `ConfigDef.Type`, 0 unknown).
pub const TYPE_UNKNOWN: i8 = 0;
pub const TYPE_BOOLEAN: i8 = 1;
pub const TYPE_STRING: i8 = 2;
pub const TYPE_INT: i8 = 3;
pub const TYPE_SHORT: i8 = 4;
pub const TYPE_LONG: i8 = 5;
pub const TYPE_DOUBLE: i8 = 6;
pub const TYPE_LIST: i8 = 7;
pub const TYPE_CLASS: i8 = 8;
pub const TYPE_PASSWORD: i8 = 9;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("describe_configs version"))
    }
}

/// The least bytes an element can take: `classic` before v4, `compact` from v4.
fn min_bytes(flexible: bool, classic: usize, compact: usize) -> usize {
    if flexible { compact } else { classic }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub resources: Vec<Resource<'a>>,
    pub include_synonyms: bool,
    /// v3+.
    pub include_documentation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource<'a> {
    pub resource_type: i8,
    pub resource_name: &'a str,
    /// `None` asks for every key.
    pub configuration_keys: Option<Vec<&'a str>>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        // resource_type, resource_name, configuration_keys (+ tags).
        let n = r.array_len(flexible, min_bytes(flexible, 1 + 2 + 4, 1 + 1 + 1 + 1))?;
        let resources = decode_array(r, n, |r| Resource::decode(r, flexible))?;
        let include_synonyms = r.bool()?;
        let include_documentation = if version >= 3 { r.bool()? } else { false };
        r.skip_tags(flexible)?;
        Ok(Request {
            resources,
            include_synonyms,
            include_documentation,
        })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        w.array_len(self.resources.len(), flexible);
        for resource in &self.resources {
            resource.encode(w, flexible);
        }
        w.bool(self.include_synonyms);
        if version >= 3 {
            w.bool(self.include_documentation);
        }
        w.tags(flexible);
    }
}

impl<'a> Resource<'a> {
    fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let resource_type = r.i8()?;
        let resource_name = r.string(flexible)?;
        let configuration_keys = match r.nullable_array_len(flexible, min_bytes(flexible, 2, 1))? {
            None => None,
            Some(n) => Some(decode_array(r, n, |r| r.string(flexible))?),
        };
        r.skip_tags(flexible)?;
        Ok(Resource {
            resource_type,
            resource_name,
            configuration_keys,
        })
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.i8(self.resource_type)
            .string(self.resource_name, flexible);
        match &self.configuration_keys {
            None => {
                w.null_array(flexible);
            }
            Some(keys) => {
                w.array_len(keys.len(), flexible);
                for key in keys {
                    w.string(key, flexible);
                }
            }
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub results: Vec<ResourceResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub resource_type: i8,
    pub resource_name: String,
    pub configs: Vec<ConfigResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigResult {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// One of the `SOURCE_*` values.
    pub config_source: i8,
    pub is_sensitive: bool,
    /// Empty unless the request asked for synonyms.
    pub synonyms: Vec<Synonym>,
    /// v3+; one of the `TYPE_*` values.
    pub config_type: i8,
    /// v3+; `None` unless the request asked for documentation.
    pub documentation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    /// One of the `SOURCE_*` values.
    pub source: i8,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        w.i32(self.throttle_time_ms);
        w.array_len(self.results.len(), flexible);
        for result in &self.results {
            w.i16(result.error_code)
                .nullable_string(result.error_message.as_deref(), flexible)
                .i8(result.resource_type)
                .string(&result.resource_name, flexible);
            w.array_len(result.configs.len(), flexible);
            for config in &result.configs {
                config.encode(w, version);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = r.i32()?;
        // error_code, error_message, resource_type, resource_name, configs (+ tags).
        let n = r.array_len(
            flexible,
            min_bytes(flexible, 2 + 2 + 1 + 2 + 4, 2 + 1 + 1 + 1 + 1 + 1),
        )?;
        let results = decode_array(r, n, |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string(flexible)?.map(str::to_owned);
            let resource_type = r.i8()?;
            let resource_name = r.string(flexible)?.to_owned();
            // name, value, read_only, config_source, is_sensitive, synonyms (+ tags).
            let n = r.array_len(
                flexible,
                min_bytes(flexible, 2 + 2 + 1 + 1 + 1 + 4, 1 + 1 + 1 + 1 + 1 + 1 + 1),
            )?;
            let configs = decode_array(r, n, |r| ConfigResult::decode(r, version))?;
            r.skip_tags(flexible)?;
            Ok(ResourceResult {
                error_code,
                error_message,
                resource_type,
                resource_name,
                configs,
            })
        })?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            results,
        })
    }
}

impl ConfigResult {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(&self.name, flexible)
            .nullable_string(self.value.as_deref(), flexible)
            .bool(self.read_only)
            .i8(self.config_source)
            .bool(self.is_sensitive);
        w.array_len(self.synonyms.len(), flexible);
        for synonym in &self.synonyms {
            w.string(&synonym.name, flexible)
                .nullable_string(synonym.value.as_deref(), flexible)
                .i8(synonym.source)
                .tags(flexible);
        }
        if version >= 3 {
            w.i8(self.config_type)
                .nullable_string(self.documentation.as_deref(), flexible);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let name = r.string(flexible)?.to_owned();
        let value = r.nullable_string(flexible)?.map(str::to_owned);
        let read_only = r.bool()?;
        let config_source = r.i8()?;
        let is_sensitive = r.bool()?;
        // name, value, source (+ tags).
        let n = r.array_len(flexible, min_bytes(flexible, 2 + 2 + 1, 1 + 1 + 1 + 1))?;
        let synonyms = decode_array(r, n, |r| {
            let synonym = Synonym {
                name: r.string(flexible)?.to_owned(),
                value: r.nullable_string(flexible)?.map(str::to_owned),
                source: r.i8()?,
            };
            r.skip_tags(flexible)?;
            Ok(synonym)
        })?;
        let (config_type, documentation) = if version >= 3 {
            (r.i8()?, r.nullable_string(flexible)?.map(str::to_owned))
        } else {
            (TYPE_UNKNOWN, None)
        };
        r.skip_tags(flexible)?;
        Ok(ConfigResult {
            name,
            value,
            read_only,
            config_source,
            is_sensitive,
            synonyms,
            config_type,
            documentation,
        })
    }
}

// ---- Handling ----

/// A configuration entry before filtering: name, value, source, type.
type Entry = (&'static str, String, i8, i8);

/// Topic configurations: overrides from the metadata log, else the broker's defaults.
fn topic_entries(
    broker: &crate::context::Context,
    configs: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String, i8, i8)> {
    let c = &broker.config;
    let d = crate::config::Config::default();
    // A broker setting left at its default is reported as Kafka's default, else as set.
    let from_broker = |value: String, default: String| {
        let source = if value == default {
            SOURCE_DEFAULT_CONFIG
        } else {
            SOURCE_STATIC_BROKER_CONFIG
        };
        (value, source)
    };
    let (max_message, max_message_source) = from_broker(
        c.message_max_bytes.to_string(),
        d.message_max_bytes.to_string(),
    );
    let (retention_bytes, retention_bytes_source) = from_broker(
        c.log_retention_bytes.to_string(),
        d.log_retention_bytes.to_string(),
    );
    let (retention_ms, retention_ms_source) = from_broker(
        c.log_retention_ms.to_string(),
        d.log_retention_ms.to_string(),
    );
    let (segment_bytes, segment_bytes_source) = from_broker(
        c.log_segment_bytes.to_string(),
        d.log_segment_bytes.to_string(),
    );
    let defaults: [Entry; 9] = [
        (
            "cleanup.policy",
            "delete".into(),
            SOURCE_DEFAULT_CONFIG,
            TYPE_LIST,
        ),
        (
            "compression.type",
            "producer".into(),
            SOURCE_DEFAULT_CONFIG,
            TYPE_STRING,
        ),
        (
            "max.message.bytes",
            max_message,
            max_message_source,
            TYPE_INT,
        ),
        (
            "message.timestamp.type",
            "CreateTime".into(),
            SOURCE_DEFAULT_CONFIG,
            TYPE_STRING,
        ),
        (
            "min.insync.replicas",
            "1".into(),
            SOURCE_DEFAULT_CONFIG,
            TYPE_INT,
        ),
        (
            "retention.bytes",
            retention_bytes,
            retention_bytes_source,
            TYPE_LONG,
        ),
        ("retention.ms", retention_ms, retention_ms_source, TYPE_LONG),
        (
            "segment.bytes",
            segment_bytes,
            segment_bytes_source,
            TYPE_INT,
        ),
        (
            "segment.ms",
            "604800000".into(),
            SOURCE_DEFAULT_CONFIG,
            TYPE_LONG,
        ),
    ];

    let mut out: Vec<(String, String, i8, i8)> = defaults
        .into_iter()
        .map(|(name, value, source, kind)| match configs.get(name) {
            Some(set) => (
                name.to_string(),
                set.clone(),
                SOURCE_DYNAMIC_TOPIC_CONFIG,
                kind,
            ),
            None => (name.to_string(), value, source, kind),
        })
        .collect();
    for (name, value) in configs {
        if !out.iter().any(|(n, ..)| n == name) {
            out.push((
                name.clone(),
                value.clone(),
                SOURCE_DYNAMIC_TOPIC_CONFIG,
                TYPE_STRING,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The broker's own settings; a value equal to the built-in default is reported as such.
fn broker_entries(broker: &crate::context::Context) -> Vec<(String, String, i8, i8)> {
    let c = &broker.config;
    let d = crate::config::Config::default();
    let rows: [(&str, String, String, i8); 12] = [
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            d.auto_create_topics.to_string(),
            TYPE_BOOLEAN,
        ),
        (
            "default.replication.factor",
            c.default_replication_factor.to_string(),
            d.default_replication_factor.to_string(),
            TYPE_INT,
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms.to_string(),
            d.group_initial_rebalance_delay_ms.to_string(),
            TYPE_INT,
        ),
        (
            "log.dirs",
            c.log_dir.display().to_string(),
            d.log_dir.display().to_string(),
            TYPE_STRING,
        ),
        (
            "log.retention.bytes",
            c.log_retention_bytes.to_string(),
            d.log_retention_bytes.to_string(),
            TYPE_LONG,
        ),
        (
            "log.retention.ms",
            c.log_retention_ms.to_string(),
            d.log_retention_ms.to_string(),
            TYPE_LONG,
        ),
        (
            "log.segment.bytes",
            c.log_segment_bytes.to_string(),
            d.log_segment_bytes.to_string(),
            TYPE_INT,
        ),
        (
            "max.connections",
            c.max_connections.to_string(),
            d.max_connections.to_string(),
            TYPE_INT,
        ),
        (
            "message.max.bytes",
            c.message_max_bytes.to_string(),
            d.message_max_bytes.to_string(),
            TYPE_INT,
        ),
        (
            "node.id",
            c.node_id.to_string(),
            d.node_id.to_string(),
            TYPE_INT,
        ),
        (
            "num.partitions",
            c.num_partitions.to_string(),
            d.num_partitions.to_string(),
            TYPE_INT,
        ),
        (
            "socket.request.max.bytes",
            c.socket_request_max_bytes.to_string(),
            d.socket_request_max_bytes.to_string(),
            TYPE_INT,
        ),
    ];
    rows.into_iter()
        .map(|(name, value, default, kind)| {
            let source = if value == default {
                SOURCE_DEFAULT_CONFIG
            } else {
                SOURCE_STATIC_BROKER_CONFIG
            };
            (name.to_string(), value, source, kind)
        })
        .collect()
}

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let mut result = ResourceResult {
            error_code: error::NONE,
            error_message: None,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.to_string(),
            configs: Vec::new(),
        };
        let entries = match resource.resource_type {
            RESOURCE_TOPIC => match broker.storage.topic_configs(resource.resource_name) {
                Some(configs) => Some(topic_entries(broker, configs)),
                None => {
                    result.error_code = error::UNKNOWN_TOPIC_OR_PARTITION;
                    result.error_message =
                        Some(format!("Topic {} does not exist.", resource.resource_name));
                    None
                }
            },
            RESOURCE_BROKER
                if resource.resource_name.is_empty()
                    || resource.resource_name == broker.config.node_id.to_string() =>
            {
                Some(broker_entries(broker))
            }
            _ => {
                result.error_code = error::INVALID_REQUEST;
                result.error_message = Some(format!(
                    "resource type {} named '{}' is not described here",
                    resource.resource_type, resource.resource_name
                ));
                None
            }
        };
        for (name, value, source, kind) in entries.unwrap_or_default() {
            if resource
                .configuration_keys
                .as_ref()
                .is_some_and(|keys| !keys.contains(&name.as_str()))
            {
                continue;
            }
            let synonyms = if request.include_synonyms {
                vec![Synonym {
                    name: name.clone(),
                    value: Some(value.clone()),
                    source,
                }]
            } else {
                Vec::new()
            };
            result.configs.push(ConfigResult {
                name,
                value: Some(value),
                read_only: resource.resource_type == RESOURCE_BROKER,
                config_source: source,
                is_sensitive: false,
                synonyms,
                config_type: kind,
                documentation: None,
            });
        }
        results.push(result);
    }
    Response {
        throttle_time_ms: 0,
        results,
    }
    .encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

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

    fn sample_request(version: i16) -> Request<'static> {
        Request {
            resources: vec![
                Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders",
                    configuration_keys: Some(vec!["retention.ms", "cleanup.policy"]),
                },
                Resource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configuration_keys: None,
                },
                Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "e",
                    configuration_keys: Some(vec![]),
                },
            ],
            include_synonyms: true,
            include_documentation: version >= 3,
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: 5,
            results: vec![
                ResourceResult {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders".into(),
                    configs: vec![
                        ConfigResult {
                            name: "retention.ms".into(),
                            value: Some("604800000".into()),
                            read_only: false,
                            config_source: SOURCE_DYNAMIC_TOPIC_CONFIG,
                            is_sensitive: false,
                            synonyms: vec![
                                Synonym {
                                    name: "retention.ms".into(),
                                    value: Some("604800000".into()),
                                    source: SOURCE_DYNAMIC_TOPIC_CONFIG,
                                },
                                Synonym {
                                    name: "log.retention.ms".into(),
                                    value: None,
                                    source: SOURCE_DEFAULT_CONFIG,
                                },
                            ],
                            config_type: if version >= 3 {
                                TYPE_LONG
                            } else {
                                TYPE_UNKNOWN
                            },
                            documentation: if version >= 3 {
                                Some("How long to keep a log.".into())
                            } else {
                                None
                            },
                        },
                        ConfigResult {
                            name: "sasl.jaas.config".into(),
                            value: None,
                            read_only: true,
                            config_source: SOURCE_STATIC_BROKER_CONFIG,
                            is_sensitive: true,
                            synonyms: vec![],
                            config_type: if version >= 3 {
                                TYPE_PASSWORD
                            } else {
                                TYPE_UNKNOWN
                            },
                            documentation: None,
                        },
                    ],
                },
                ResourceResult {
                    error_code: 3,
                    error_message: Some("unknown topic".into()),
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "gone".into(),
                    configs: vec![],
                },
            ],
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
        let expected = Request {
            resources: vec![
                Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "t",
                    configuration_keys: Some(vec!["k1"]),
                },
                Resource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configuration_keys: None,
                },
            ],
            include_synonyms: true,
            include_documentation: false,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 1)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 1)), body);
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
        let expected = Request {
            resources: vec![
                Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "t",
                    configuration_keys: None,
                },
                Resource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "u",
                    configuration_keys: Some(vec![]),
                },
            ],
            include_synonyms: false,
            include_documentation: true,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 4)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 4)), body);
    }

    fn one_config_response() -> Response {
        Response {
            throttle_time_ms: 0,
            results: vec![ResourceResult {
                error_code: 0,
                error_message: None,
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                configs: vec![ConfigResult {
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
                }],
            }],
        }
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
        let response = one_config_response();
        assert_eq!(encoded(|w| response.encode(w, 1)), expected);
        let decoded = decode_all(&expected, |r| Response::decode(r, 1)).unwrap();
        assert_eq!(decoded.results[0].configs[0].config_type, TYPE_UNKNOWN);
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
        let response = one_config_response();
        assert_eq!(encoded(|w| response.encode(w, 4)), expected);
        assert_eq!(
            decode_all(&expected, |r| Response::decode(r, 4)),
            Ok(response)
        );
    }

    #[test]
    fn describe_configs_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let bytes = encoded(|w| request.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(request),
                "v{version}"
            );
            let response = sample_response(version);
            let bytes = encoded(|w| response.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Response::decode(r, version)),
                Ok(response),
                "v{version}"
            );
        }
    }

    #[test]
    fn describe_configs_every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let bytes = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
            let bytes = encoded(|w| sample_response(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Response::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} response prefix {len}"
                );
            }
        }
    }

    #[test]
    fn describe_configs_huge_counts_and_bad_versions_are_rejected() {
        // v1: configuration_keys claims 2^31-1 keys in a short body.
        let body = [0, 0, 0, 1, 2, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff, 0, 1];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 1),
            Err(DecodeError::Truncated)
        );
        for version in [0, 5] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("describe_configs version"))
            );
        }
    }
}
