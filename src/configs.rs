//! Kafka's configuration keys for the resources a client may describe and alter: topic keys
//! (Kafka 4.2's `LogConfig`), the broker keys this broker knows (which of them Kafka lets
//! change at run time, and their topic synonyms) and group keys (`GroupConfig`), each with
//! its type, default and valid values. Validation answers with Kafka's wording. Invariant:
//! pure tables and functions; nothing here touches state, files or the wire.

use std::collections::BTreeMap;

/// A key's type, numbered as DescribeConfigs' `config_type` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean = 1,
    Str = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

impl Kind {
    /// Kafka's `ConfigDef.Type` name, as its "Not a number of type" message spells it.
    fn name(self) -> &'static str {
        match self {
            Kind::Boolean => "BOOLEAN",
            Kind::Str => "STRING",
            Kind::Int => "INT",
            Kind::Long => "LONG",
            Kind::Double => "DOUBLE",
            Kind::List => "LIST",
        }
    }
}

/// A key's valid values beyond its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    /// A number in `[min, max]` or exactly `also` (compression levels).
    BetweenOr(i64, i64, i64),
    Ratio,
    OneOf(&'static [&'static str]),
    /// A list whose every element is one of these.
    EachOneOf(&'static [&'static str]),
    /// `*` or a list of `partition:broker` pairs.
    ThrottledReplicas,
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as Kafka prints it; `None` for keys without one.
    pub default: Option<&'static str>,
    pub check: Check,
}

const fn key(name: &'static str, kind: Kind, default: &'static str, check: Check) -> Key {
    Key {
        name,
        kind,
        default: Some(default),
        check,
    }
}

const fn no_default(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        default: None,
        check: Check::Any,
    }
}

const LONG_MAX: &str = "9223372036854775807";
const INT_MAX: &str = "2147483647";
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

use Check::*;
use Kind::*;

/// Kafka 4.2's topic configuration keys (`LogConfig`), sorted by name.
pub static TOPIC_KEYS: &[Key] = &[
    key(
        "cleanup.policy",
        List,
        "delete",
        EachOneOf(CLEANUP_POLICIES),
    ),
    key("compression.gzip.level", Int, "-1", BetweenOr(1, 9, -1)),
    key("compression.lz4.level", Int, "9", Between(1, 17)),
    key(
        "compression.type",
        Str,
        "producer",
        OneOf(COMPRESSION_TYPES),
    ),
    key("compression.zstd.level", Int, "3", Between(-131072, 22)),
    key("delete.retention.ms", Long, "86400000", AtLeast(0)),
    key("file.delete.delay.ms", Long, "60000", AtLeast(0)),
    key("flush.messages", Long, LONG_MAX, AtLeast(1)),
    key("flush.ms", Long, LONG_MAX, AtLeast(0)),
    key(
        "follower.replication.throttled.replicas",
        List,
        "",
        ThrottledReplicas,
    ),
    key("index.interval.bytes", Int, "4096", AtLeast(0)),
    key(
        "leader.replication.throttled.replicas",
        List,
        "",
        ThrottledReplicas,
    ),
    key("local.retention.bytes", Long, "-2", AtLeast(-2)),
    key("local.retention.ms", Long, "-2", AtLeast(-2)),
    key("max.compaction.lag.ms", Long, LONG_MAX, AtLeast(1)),
    key("max.message.bytes", Int, "1048588", AtLeast(0)),
    key(
        "message.timestamp.after.max.ms",
        Long,
        "3600000",
        AtLeast(0),
    ),
    key(
        "message.timestamp.before.max.ms",
        Long,
        LONG_MAX,
        AtLeast(0),
    ),
    key(
        "message.timestamp.type",
        Str,
        "CreateTime",
        OneOf(TIMESTAMP_TYPES),
    ),
    key("min.cleanable.dirty.ratio", Double, "0.5", Ratio),
    key("min.compaction.lag.ms", Long, "0", AtLeast(0)),
    key("min.insync.replicas", Int, "1", AtLeast(1)),
    key("preallocate", Boolean, "false", Any),
    key("remote.log.copy.disable", Boolean, "false", Any),
    key("remote.log.delete.on.disable", Boolean, "false", Any),
    key("remote.storage.enable", Boolean, "false", Any),
    key("retention.bytes", Long, "-1", Any),
    key("retention.ms", Long, "604800000", AtLeast(-1)),
    key("segment.bytes", Int, "1073741824", AtLeast(1024 * 1024)),
    key("segment.index.bytes", Int, "10485760", AtLeast(4)),
    key("segment.jitter.ms", Long, "0", AtLeast(0)),
    key("segment.ms", Long, "604800000", AtLeast(1)),
    key("unclean.leader.election.enable", Boolean, "false", Any),
];

/// The broker keys behind each topic key, in Kafka's order of precedence
/// (`ServerTopicConfigSynonyms`), with the factor that turns the broker unit into the
/// topic's. The first is the one a topic's value falls back to.
pub fn topic_synonyms(topic_key: &str) -> &'static [(&'static str, i64)] {
    match topic_key {
        "segment.bytes" => &[("log.segment.bytes", 1)],
        "segment.ms" => &[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)],
        "segment.jitter.ms" => &[
            ("log.roll.jitter.ms", 1),
            ("log.roll.jitter.hours", 3_600_000),
        ],
        "segment.index.bytes" => &[("log.index.size.max.bytes", 1)],
        "flush.messages" => &[("log.flush.interval.messages", 1)],
        "flush.ms" => &[
            ("log.flush.interval.ms", 1),
            ("log.flush.scheduler.interval.ms", 1),
        ],
        "retention.bytes" => &[("log.retention.bytes", 1)],
        "retention.ms" => &[
            ("log.retention.ms", 1),
            ("log.retention.minutes", 60_000),
            ("log.retention.hours", 3_600_000),
        ],
        "max.message.bytes" => &[("message.max.bytes", 1)],
        "index.interval.bytes" => &[("log.index.interval.bytes", 1)],
        "delete.retention.ms" => &[("log.cleaner.delete.retention.ms", 1)],
        "min.compaction.lag.ms" => &[("log.cleaner.min.compaction.lag.ms", 1)],
        "max.compaction.lag.ms" => &[("log.cleaner.max.compaction.lag.ms", 1)],
        "file.delete.delay.ms" => &[("log.segment.delete.delay.ms", 1)],
        "min.cleanable.dirty.ratio" => &[("log.cleaner.min.cleanable.ratio", 1)],
        "cleanup.policy" => &[("log.cleanup.policy", 1)],
        "unclean.leader.election.enable" => &[("unclean.leader.election.enable", 1)],
        "min.insync.replicas" => &[("min.insync.replicas", 1)],
        "compression.type" => &[("compression.type", 1)],
        "compression.gzip.level" => &[("compression.gzip.level", 1)],
        "compression.lz4.level" => &[("compression.lz4.level", 1)],
        "compression.zstd.level" => &[("compression.zstd.level", 1)],
        "preallocate" => &[("log.preallocate", 1)],
        "message.timestamp.type" => &[("log.message.timestamp.type", 1)],
        "message.timestamp.before.max.ms" => &[("log.message.timestamp.before.max.ms", 1)],
        "message.timestamp.after.max.ms" => &[("log.message.timestamp.after.max.ms", 1)],
        "local.retention.ms" => &[("log.local.retention.ms", 1)],
        "local.retention.bytes" => &[("log.local.retention.bytes", 1)],
        _ => &[],
    }
}

/// The broker keys Kafka treats as one setting (`DynamicBrokerConfig.brokerConfigSynonyms`),
/// in order of precedence.
pub fn broker_synonyms(name: &str) -> Vec<&str> {
    match name {
        "log.roll.ms" | "log.roll.hours" => vec!["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => {
            vec!["log.roll.jitter.ms", "log.roll.jitter.hours"]
        }
        "log.flush.interval.ms" => vec!["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => vec![
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        other => vec![other],
    }
}

/// A broker key: its definition, whether Kafka lets it change at run time
/// (`DynamicBrokerConfig.AllDynamicConfigs`), and whether this broker applies it at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrokerKey {
    pub key: Key,
    pub dynamic: bool,
}

const fn fixed(key: Key) -> BrokerKey {
    BrokerKey {
        key,
        dynamic: false,
    }
}

const fn dynamic(key: Key) -> BrokerKey {
    BrokerKey { key, dynamic: true }
}

/// The broker keys this broker describes, sorted by name. Defaults are this broker's where
/// it has the key (`Config::default()`), else Kafka's. Keys not listed that a client sets
/// on a broker resource are kept as custom keys, as Kafka keeps them.
pub static BROKER_KEYS: &[BrokerKey] = &[
    fixed(no_default("advertised.listeners", Str)),
    fixed(key("allow.everyone.if.no.acl.found", Boolean, "false", Any)),
    fixed(no_default("authorizer.class.name", Str)),
    fixed(key("auto.create.topics.enable", Boolean, "true", Any)),
    dynamic(key("background.threads", Int, "10", AtLeast(1))),
    dynamic(key(
        "compression.gzip.level",
        Int,
        "-1",
        BetweenOr(1, 9, -1),
    )),
    dynamic(key("compression.lz4.level", Int, "9", Between(1, 17))),
    dynamic(key(
        "compression.type",
        Str,
        "producer",
        OneOf(COMPRESSION_TYPES),
    )),
    dynamic(key(
        "compression.zstd.level",
        Int,
        "3",
        Between(-131072, 22),
    )),
    fixed(key(
        "connection.failed.authentication.delay.ms",
        Int,
        "100",
        AtLeast(0),
    )),
    fixed(key("connections.max.reauth.ms", Long, "0", Any)),
    fixed(key("controller.listener.names", Str, "CONTROLLER", Any)),
    fixed(key("default.replication.factor", Int, "1", Any)),
    fixed(key("group.consumer.assignors", List, "uniform,range", Any)),
    fixed(key(
        "group.consumer.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.consumer.max.heartbeat.interval.ms",
        Int,
        "15000",
        AtLeast(1),
    )),
    fixed(key(
        "group.consumer.max.session.timeout.ms",
        Int,
        "60000",
        AtLeast(1),
    )),
    fixed(key("group.consumer.max.size", Int, INT_MAX, AtLeast(1))),
    fixed(key(
        "group.consumer.min.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.consumer.min.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(key(
        "group.consumer.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(key(
        "group.initial.rebalance.delay.ms",
        Int,
        "3000",
        AtLeast(0),
    )),
    fixed(key("group.max.session.timeout.ms", Int, "1800000", Any)),
    fixed(key("group.max.size", Int, INT_MAX, AtLeast(1))),
    fixed(key("group.min.session.timeout.ms", Int, "6000", Any)),
    fixed(key(
        "group.share.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.share.max.heartbeat.interval.ms",
        Int,
        "15000",
        AtLeast(1),
    )),
    fixed(key(
        "group.share.max.record.lock.duration.ms",
        Int,
        "60000",
        AtLeast(30000),
    )),
    fixed(key(
        "group.share.max.session.timeout.ms",
        Int,
        "60000",
        AtLeast(1),
    )),
    fixed(key(
        "group.share.min.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.share.min.record.lock.duration.ms",
        Int,
        "15000",
        AtLeast(1000),
    )),
    fixed(key(
        "group.share.min.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(key(
        "group.share.record.lock.duration.ms",
        Int,
        "30000",
        AtLeast(1000),
    )),
    fixed(key(
        "group.share.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.initial.rebalance.delay.ms",
        Int,
        "3000",
        AtLeast(0),
    )),
    fixed(key(
        "group.streams.max.heartbeat.interval.ms",
        Int,
        "15000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.max.session.timeout.ms",
        Int,
        "60000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.max.standby.replicas",
        Int,
        "2",
        AtLeast(0),
    )),
    fixed(key(
        "group.streams.min.heartbeat.interval.ms",
        Int,
        "5000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.min.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(key(
        "group.streams.num.standby.replicas",
        Int,
        "0",
        AtLeast(0),
    )),
    fixed(key(
        "group.streams.session.timeout.ms",
        Int,
        "45000",
        AtLeast(1),
    )),
    fixed(no_default("listener.security.protocol.map", Str)),
    fixed(key("listeners", Str, "PLAINTEXT://127.0.0.1:9092", Any)),
    dynamic(key("log.cleaner.backoff.ms", Long, "15000", AtLeast(0))),
    dynamic(key(
        "log.cleaner.dedupe.buffer.size",
        Long,
        "134217728",
        Any,
    )),
    dynamic(key(
        "log.cleaner.delete.retention.ms",
        Long,
        "86400000",
        AtLeast(0),
    )),
    fixed(key("log.cleaner.enable", Boolean, "true", Any)),
    dynamic(key("log.cleaner.io.buffer.load.factor", Double, "0.9", Any)),
    dynamic(key("log.cleaner.io.buffer.size", Int, "524288", AtLeast(0))),
    dynamic(key(
        "log.cleaner.io.max.bytes.per.second",
        Double,
        "1.7976931348623157E308",
        Any,
    )),
    dynamic(key(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        LONG_MAX,
        AtLeast(1),
    )),
    dynamic(key("log.cleaner.min.cleanable.ratio", Double, "0.5", Ratio)),
    dynamic(key(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        "0",
        AtLeast(0),
    )),
    dynamic(key("log.cleaner.threads", Int, "1", AtLeast(0))),
    dynamic(key(
        "log.cleanup.policy",
        List,
        "delete",
        EachOneOf(CLEANUP_POLICIES),
    )),
    // This broker's own: closed segments' `.log` files open at once (Kafka keeps every
    // segment open; here the least recently read one closes past this).
    fixed(key(
        "log.closed.segment.files.open.max",
        Int,
        "256",
        AtLeast(1),
    )),
    fixed(no_default("log.dir", Str)),
    fixed(key("log.dirs", Str, "/tmp/kraft-combined-logs", Any)),
    // This broker's own: a test hook (while the named file exists, completed data syncs
    // are not applied, so acknowledgements and reads stay held).
    fixed(no_default("log.flush.hold.file", Str)),
    dynamic(key(
        "log.flush.interval.messages",
        Long,
        LONG_MAX,
        AtLeast(1),
    )),
    dynamic(no_default("log.flush.interval.ms", Long)),
    // This broker's own: `false` forces the blocking fdatasync fallback over io_uring.
    fixed(key("log.flush.io.uring", Boolean, "true", Any)),
    // This broker's own: how long the loop polls for a small batch of syncs before sleeping.
    fixed(key("log.flush.poll.us", Long, "250", AtLeast(0))),
    fixed(key("log.flush.scheduler.interval.ms", Long, LONG_MAX, Any)),
    dynamic(key("log.index.interval.bytes", Int, "4096", AtLeast(0))),
    dynamic(key("log.index.size.max.bytes", Int, "10485760", AtLeast(4))),
    dynamic(key("log.local.retention.bytes", Long, "-2", AtLeast(-2))),
    dynamic(key("log.local.retention.ms", Long, "-2", AtLeast(-2))),
    dynamic(key(
        "log.message.timestamp.after.max.ms",
        Long,
        "3600000",
        AtLeast(0),
    )),
    dynamic(key(
        "log.message.timestamp.before.max.ms",
        Long,
        LONG_MAX,
        AtLeast(0),
    )),
    dynamic(key(
        "log.message.timestamp.type",
        Str,
        "CreateTime",
        OneOf(TIMESTAMP_TYPES),
    )),
    dynamic(key("log.preallocate", Boolean, "false", Any)),
    dynamic(key("log.retention.bytes", Long, "-1", Any)),
    fixed(key(
        "log.retention.check.interval.ms",
        Long,
        "300000",
        AtLeast(1),
    )),
    fixed(key("log.retention.hours", Int, "168", Any)),
    fixed(no_default("log.retention.minutes", Int)),
    dynamic(no_default("log.retention.ms", Long)),
    fixed(key("log.roll.hours", Int, "168", AtLeast(1))),
    fixed(key("log.roll.jitter.hours", Int, "0", AtLeast(0))),
    dynamic(no_default("log.roll.jitter.ms", Long)),
    dynamic(no_default("log.roll.ms", Long)),
    dynamic(key(
        "log.segment.bytes",
        Int,
        "1073741824",
        AtLeast(1024 * 1024),
    )),
    dynamic(key(
        "log.segment.delete.delay.ms",
        Long,
        "60000",
        AtLeast(0),
    )),
    dynamic(key(
        "max.connection.creation.rate",
        Int,
        INT_MAX,
        AtLeast(0),
    )),
    dynamic(key("max.connections", Int, INT_MAX, AtLeast(0))),
    dynamic(key("max.connections.per.ip", Int, INT_MAX, AtLeast(0))),
    dynamic(key("max.connections.per.ip.overrides", Str, "", Any)),
    dynamic(key("message.max.bytes", Int, "1048588", AtLeast(0))),
    fixed(key(
        "metadata.log.max.record.bytes.between.snapshots",
        Long,
        "20971520",
        AtLeast(1),
    )),
    fixed(key(
        "metadata.log.segment.bytes",
        Int,
        "1073741824",
        AtLeast(12),
    )),
    fixed(key("metadata.max.retention.bytes", Long, "104857600", Any)),
    fixed(key("metadata.max.retention.ms", Long, "604800000", Any)),
    dynamic(key("metric.reporters", List, "", Any)),
    dynamic(key("min.insync.replicas", Int, "1", AtLeast(1))),
    fixed(key("node.id", Int, "1", Any)),
    dynamic(key("num.io.threads", Int, "8", AtLeast(1))),
    dynamic(key("num.network.threads", Int, "3", AtLeast(1))),
    fixed(key("num.partitions", Int, "1", AtLeast(1))),
    dynamic(key(
        "num.recovery.threads.per.data.dir",
        Int,
        "2",
        AtLeast(1),
    )),
    dynamic(key("num.replica.fetchers", Int, "1", Any)),
    fixed(key(
        "offsets.retention.check.interval.ms",
        Long,
        "600000",
        AtLeast(1),
    )),
    fixed(key("offsets.retention.ms", Int, "604800000", AtLeast(1))),
    fixed(key("offsets.topic.num.partitions", Int, "50", AtLeast(1))),
    fixed(key(
        "offsets.topic.segment.bytes",
        Int,
        "104857600",
        AtLeast(1),
    )),
    fixed(key("process.roles", List, "", Any)),
    dynamic(key(
        "producer.id.expiration.ms",
        Int,
        "86400000",
        AtLeast(1),
    )),
    fixed(key("queued.max.request.bytes", Long, "-1", Any)),
    fixed(key("quota.window.num", Int, "11", AtLeast(1))),
    fixed(key("quota.window.size.seconds", Int, "1", AtLeast(1))),
    fixed(key("sasl.enabled.mechanisms", List, "GSSAPI", Any)),
    fixed(key(
        "sasl.server.max.receive.size",
        Int,
        "524288",
        AtLeast(1),
    )),
    fixed(key("socket.listen.backlog.size", Int, "50", AtLeast(1))),
    fixed(key(
        "socket.request.max.bytes",
        Int,
        "104857600",
        AtLeast(1),
    )),
    fixed(key("ssl.client.auth", Str, "none", Any)),
    fixed(key("ssl.enabled.protocols", List, "TLSv1.2,TLSv1.3", Any)),
    fixed(no_default("ssl.key.password", Str)),
    fixed(no_default("ssl.keystore.certificate.chain", Str)),
    fixed(no_default("ssl.keystore.key", Str)),
    fixed(no_default("ssl.keystore.location", Str)),
    fixed(key("ssl.keystore.type", Str, "JKS", Any)),
    fixed(no_default("ssl.truststore.certificates", Str)),
    fixed(no_default("ssl.truststore.location", Str)),
    fixed(key("ssl.truststore.type", Str, "JKS", Any)),
    fixed(no_default("super.users", Str)),
    fixed(key(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Int,
        "10000",
        AtLeast(1),
    )),
    fixed(key("transaction.max.timeout.ms", Int, "900000", AtLeast(1))),
    dynamic(key(
        "transaction.partition.verification.enable",
        Boolean,
        "true",
        Any,
    )),
    fixed(key(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Int,
        "3600000",
        AtLeast(1),
    )),
    fixed(key(
        "transaction.state.log.num.partitions",
        Int,
        "50",
        AtLeast(1),
    )),
    fixed(key(
        "transactional.id.expiration.ms",
        Int,
        "604800000",
        AtLeast(1),
    )),
    dynamic(key("unclean.leader.election.enable", Boolean, "false", Any)),
];

/// Kafka 4.2's group configuration keys (`GroupConfig`), sorted by name, each with the
/// broker key its default comes from.
pub static GROUP_KEYS: &[(Key, &str)] = &[
    (
        key("consumer.heartbeat.interval.ms", Int, "5000", AtLeast(1)),
        "group.consumer.heartbeat.interval.ms",
    ),
    (
        key("consumer.session.timeout.ms", Int, "45000", AtLeast(1)),
        "group.consumer.session.timeout.ms",
    ),
    (
        key("share.auto.offset.reset", Str, "latest", Any),
        "group.share.auto.offset.reset",
    ),
    (
        key("share.heartbeat.interval.ms", Int, "5000", AtLeast(1)),
        "group.share.heartbeat.interval.ms",
    ),
    (
        key(
            "share.isolation.level",
            Str,
            "read_uncommitted",
            OneOf(&["read_committed", "read_uncommitted"]),
        ),
        "group.share.isolation.level",
    ),
    (
        key("share.record.lock.duration.ms", Int, "30000", AtLeast(1000)),
        "group.share.record.lock.duration.ms",
    ),
    (
        key("share.session.timeout.ms", Int, "45000", AtLeast(1)),
        "group.share.session.timeout.ms",
    ),
    (
        key("streams.heartbeat.interval.ms", Int, "5000", AtLeast(1)),
        "group.streams.heartbeat.interval.ms",
    ),
    (
        key(
            "streams.initial.rebalance.delay.ms",
            Int,
            "3000",
            AtLeast(0),
        ),
        "group.streams.initial.rebalance.delay.ms",
    ),
    (
        key("streams.num.standby.replicas", Int, "0", AtLeast(0)),
        "group.streams.num.standby.replicas",
    ),
    (
        key("streams.session.timeout.ms", Int, "45000", AtLeast(1)),
        "group.streams.session.timeout.ms",
    ),
];

pub fn topic_key(name: &str) -> Option<&'static Key> {
    TOPIC_KEYS.iter().find(|k| k.name == name)
}

pub fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    BROKER_KEYS.iter().find(|k| k.key.name == name)
}

pub fn group_key(name: &str) -> Option<&'static Key> {
    GROUP_KEYS.iter().map(|(k, _)| k).find(|k| k.name == name)
}

/// `value` parsed as `key`'s type and checked against its valid values: Kafka's
/// `ConfigException` message when it is not valid.
pub fn check(key: &Key, value: &str) -> Result<(), String> {
    let name = key.name;
    let invalid = |why: &str| format!("Invalid value {value} for configuration {name}: {why}");
    let trimmed = value.trim();
    let number = match key.kind {
        Kind::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false") {
                return Ok(());
            }
            return Err(invalid("Expected value to be either true or false"));
        }
        Kind::Int => trimmed.parse::<i32>().map(i64::from).ok(),
        Kind::Long => trimmed.parse::<i64>().ok(),
        Kind::Double => {
            let parsed = trimmed.parse::<f64>().ok().filter(|v| !v.is_nan());
            let Some(v) = parsed else {
                return Err(invalid("Not a number of type DOUBLE"));
            };
            if key.check == Ratio && !(0.0..=1.0).contains(&v) {
                let bound = if v < 0.0 {
                    "at least 0"
                } else {
                    "no more than 1"
                };
                return Err(invalid(&format!("Value must be {bound}")));
            }
            return Ok(());
        }
        Kind::Str => return check_string(key, trimmed).map_err(|why| invalid(&why)),
        Kind::List => return check_list(key, trimmed).map_err(|why| invalid(&why)),
    };
    let Some(n) = number else {
        return Err(invalid(&format!(
            "Not a number of type {}",
            key.kind.name()
        )));
    };
    let range = match key.check {
        AtLeast(min) if n < min => Some(format!("Value must be at least {min}")),
        Between(min, _) if n < min => Some(format!("Value must be at least {min}")),
        Between(_, max) if n > max => Some(format!("Value must be no more than {max}")),
        BetweenOr(min, max, also) if n != also && !(min..=max).contains(&n) => {
            Some(format!("Value must be between {min} and {max}, or {also}"))
        }
        _ => None,
    };
    range.map_or(Ok(()), |why| Err(invalid(&why)))
}

fn check_string(key: &Key, value: &str) -> Result<(), String> {
    match key.check {
        OneOf(valid) if !valid.contains(&value) => {
            Err(format!("String must be one of: {}", valid.join(", ")))
        }
        _ => Ok(()),
    }
}

fn check_list(key: &Key, value: &str) -> Result<(), String> {
    let items = list_items(value);
    match key.check {
        EachOneOf(valid) => match items.iter().find(|item| !valid.contains(item)) {
            Some(_) => Err(format!("String must be one of: {}", valid.join(", "))),
            None => Ok(()),
        },
        ThrottledReplicas => {
            let pair = |item: &&str| {
                item.split_once(':').is_some_and(|(p, b)| {
                    p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                })
            };
            if items == ["*"] || items.iter().all(pair) {
                Ok(())
            } else {
                Err(
                    "must be the literal '*' or a list of replicas in the following format: \
                     [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                        .into(),
                )
            }
        }
        _ => Ok(()),
    }
}

/// A list value's elements, as Kafka splits them (comma with surrounding whitespace; the
/// empty string is the empty list).
pub fn list_items(value: &str) -> Vec<&str> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::trim).collect()
}

/// Checks a topic's whole configuration as Kafka's `LogConfig.validate` does: every name is
/// a topic key, every value valid, the compaction lags in order, no tiered storage.
pub fn validate_topic(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in configs {
        let key = topic_key(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
        check(key, value)?;
    }
    let lag = |name: &str, default: i64| {
        configs
            .get(name)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(default)
    };
    let (min_lag, max_lag) = (
        lag("min.compaction.lag.ms", 0),
        lag("max.compaction.lag.ms", i64::MAX),
    );
    if min_lag > max_lag {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > \
             max.compaction.lag.ms ({max_lag})"
        ));
    }
    let remote = configs.get("remote.storage.enable");
    if remote.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Err(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be \
                    configured with remote log storage."
                .into(),
        );
    }
    Ok(())
}

/// A broker setting that bounds the group keys: its value in `broker` (the broker's
/// effective properties), else its default.
fn broker_int(broker: &BTreeMap<String, String>, name: &str) -> i64 {
    let from_props = broker.get(name).and_then(|v| v.trim().parse().ok());
    let default = broker_key(name)
        .and_then(|k| k.key.default)
        .and_then(|v| v.parse().ok());
    from_props.or(default).unwrap_or(0)
}

/// Checks a group's whole configuration as Kafka's `GroupConfig.validate` does: names,
/// types, and the broker's `group.*` bounds. `broker` is the broker's effective properties.
pub fn validate_group(
    configs: &BTreeMap<String, String>,
    broker: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (name, value) in configs {
        let key = group_key(name).ok_or_else(|| format!("Unknown group config name: {name}"))?;
        check(key, value)?;
        if name == "share.auto.offset.reset" && !valid_auto_offset_reset(value.trim()) {
            return Err(format!(
                "Invalid value {value} for configuration share.auto.offset.reset: Invalid \
                 value `{value}` for configuration share.auto.offset.reset. The value must \
                 be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS.>'."
            ));
        }
    }
    let value = |name: &str| {
        let set = configs.get(name).and_then(|v| v.trim().parse::<i64>().ok());
        let default = GROUP_KEYS
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, broker_name)| broker_int(broker, broker_name));
        set.or(default).unwrap_or(0)
    };
    for (kind, min_max) in [
        ("consumer", "group.consumer"),
        ("share", "group.share"),
        ("streams", "group.streams"),
    ] {
        for (what, bound) in [
            ("heartbeat.interval.ms", "heartbeat.interval.ms"),
            ("session.timeout.ms", "session.timeout.ms"),
        ] {
            let name = format!("{kind}.{what}");
            let v = value(&name);
            let min_name = format!("{min_max}.min.{bound}");
            let max_name = format!("{min_max}.max.{bound}");
            if v < broker_int(broker, &min_name) {
                return Err(format!(
                    "{name} must be greater than or equal to {min_name}"
                ));
            }
            if v > broker_int(broker, &max_name) {
                return Err(format!("{name} must be less than or equal to {max_name}"));
            }
        }
        if kind == "share" {
            let v = value("share.record.lock.duration.ms");
            let (min_name, max_name) = (
                "group.share.min.record.lock.duration.ms",
                "group.share.max.record.lock.duration.ms",
            );
            if v < broker_int(broker, min_name) {
                return Err(format!(
                    "share.record.lock.duration.ms must be greater than or equal to {min_name}"
                ));
            }
            if v > broker_int(broker, max_name) {
                return Err(format!(
                    "share.record.lock.duration.ms must be less than or equal to {max_name}"
                ));
            }
        }
        if kind == "streams" {
            let max_name = "group.streams.max.standby.replicas";
            if value("streams.num.standby.replicas") > broker_int(broker, max_name) {
                return Err(format!(
                    "streams.num.standby.replicas must be less than or equal to {max_name}"
                ));
            }
        }
    }
    for kind in ["consumer", "share", "streams"] {
        let (session, heartbeat) = (
            format!("{kind}.session.timeout.ms"),
            format!("{kind}.heartbeat.interval.ms"),
        );
        if value(&session) <= value(&heartbeat) {
            return Err(format!("{session} must be greater than {heartbeat}"));
        }
    }
    Ok(())
}

fn valid_auto_offset_reset(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower == "earliest"
        || lower == "latest"
        || lower
            .strip_prefix("by_duration:")
            .is_some_and(|d| d.starts_with('p') && !d.contains('-'))
}

/// Keys whose value is a thread count: Kafka lets one change by at most half or double.
const THREAD_POOLS: &[&str] = &[
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
];

/// Checks new dynamic settings of a broker resource as Kafka's
/// `DynamicBrokerConfig.validate` does (its `ConfigException` message; Kafka answers it as
/// INVALID_REQUEST). `per_broker` is false for the cluster-wide default (name ""); `current`
/// is the broker's effective properties before the change.
pub fn validate_broker(
    changes: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Result<(), String> {
    let fixed: Vec<&str> = changes
        .keys()
        .filter(|name| !is_dynamic_broker_key(name))
        .map(String::as_str)
        .collect();
    if !fixed.is_empty() {
        return Err(format!(
            "Cannot update these configs dynamically: Set({})",
            fixed.join(", ")
        ));
    }
    for (name, value) in changes {
        if let Some(broker) = broker_key(name) {
            check(&broker.key, value)?;
        }
        if THREAD_POOLS.contains(&name.as_str()) {
            let old = broker_int(current, name);
            let new = value.trim().parse::<i64>().unwrap_or(0);
            if new != old {
                let what =
                    format!("Dynamic thread count update validation failed for {name}={value}");
                if new < old / 2 {
                    return Err(format!(
                        "{what}, value should be at least half the current value {old}"
                    ));
                }
                if new > old * 2 {
                    return Err(format!(
                        "{what}, value should not be greater than double the current value {old}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether a client may set `name` on a broker resource: a key Kafka changes at run time,
/// or a custom key (one neither Kafka's table above nor this broker reads).
pub fn is_dynamic_broker_key(name: &str) -> bool {
    match broker_key(name) {
        Some(key) => key.dynamic,
        None => !crate::config::KNOWN_KEYS.contains(&name),
    }
}

/// The broker's effective value of a topic key for topics without an override: the first of
/// its broker synonyms set in `broker` (converted to the topic's unit), else the topic
/// key's default.
pub fn topic_default(broker: &BTreeMap<String, String>, topic: &Key) -> Option<String> {
    for (name, factor) in topic_synonyms(topic.name) {
        if let Some(value) = broker.get(*name) {
            return Some(convert(value, *factor));
        }
    }
    topic.default.map(str::to_string)
}

fn convert(value: &str, factor: i64) -> String {
    if factor == 1 {
        return value.trim().to_string();
    }
    match value.trim().parse::<i64>() {
        Ok(n) if n < 0 => "-1".into(),
        Ok(n) => n.saturating_mul(factor).to_string(),
        Err(_) => value.to_string(),
    }
}

/// A group's effective configuration, for the coordinator of Kafka's consumer protocol
/// (KIP-848): each key's override, else the broker's `group.*` default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    pub share_session_timeout_ms: i32,
    pub share_heartbeat_interval_ms: i32,
    pub share_record_lock_duration_ms: i32,
    pub share_auto_offset_reset: String,
    pub share_isolation_level: String,
    pub streams_session_timeout_ms: i32,
    pub streams_heartbeat_interval_ms: i32,
    pub streams_num_standby_replicas: i32,
    pub streams_initial_rebalance_delay_ms: i32,
}

impl GroupConfig {
    /// `overrides` are the group's dynamic configs; `broker` the broker's properties.
    pub fn resolve(
        overrides: Option<&BTreeMap<String, String>>,
        broker: &BTreeMap<String, String>,
    ) -> GroupConfig {
        let text = |name: &str| group_value(overrides, broker, name).unwrap_or_default();
        let int = |name: &str| text(name).trim().parse::<i32>().unwrap_or(0);
        GroupConfig {
            consumer_session_timeout_ms: int("consumer.session.timeout.ms"),
            consumer_heartbeat_interval_ms: int("consumer.heartbeat.interval.ms"),
            share_session_timeout_ms: int("share.session.timeout.ms"),
            share_heartbeat_interval_ms: int("share.heartbeat.interval.ms"),
            share_record_lock_duration_ms: int("share.record.lock.duration.ms"),
            share_auto_offset_reset: text("share.auto.offset.reset"),
            share_isolation_level: text("share.isolation.level"),
            streams_session_timeout_ms: int("streams.session.timeout.ms"),
            streams_heartbeat_interval_ms: int("streams.heartbeat.interval.ms"),
            streams_num_standby_replicas: int("streams.num.standby.replicas"),
            streams_initial_rebalance_delay_ms: int("streams.initial.rebalance.delay.ms"),
        }
    }
}

/// A group key's value: the group's override, else the broker setting behind it, else the
/// key's default.
pub fn group_value(
    overrides: Option<&BTreeMap<String, String>>,
    broker: &BTreeMap<String, String>,
    name: &str,
) -> Option<String> {
    if let Some(v) = overrides.and_then(|o| o.get(name)) {
        return Some(v.clone());
    }
    let (key, broker_name) = GROUP_KEYS.iter().find(|(k, _)| k.name == name)?;
    let from_broker = broker.get(*broker_name).cloned();
    from_broker.or_else(|| key.default.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_server_properties_key_is_a_described_broker_key() {
        for key in crate::config::KNOWN_KEYS {
            assert!(
                broker_key(key).is_some(),
                "{key} is read but not in BROKER_KEYS"
            );
        }
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for pair in TOPIC_KEYS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{:?}", pair[1]);
        }
        for pair in BROKER_KEYS.windows(2) {
            assert!(pair[0].key.name < pair[1].key.name, "{:?}", pair[1]);
        }
        for pair in GROUP_KEYS.windows(2) {
            assert!(pair[0].0.name < pair[1].0.name, "{:?}", pair[1]);
        }
        for key in TOPIC_KEYS.iter().chain(GROUP_KEYS.iter().map(|(k, _)| k)) {
            if let Some(default) = key.default {
                assert_eq!(check(key, default), Ok(()), "{}", key.name);
            }
        }
        for key in BROKER_KEYS {
            if let Some(default) = key.key.default {
                assert_eq!(check(&key.key, default), Ok(()), "{}", key.key.name);
            }
        }
    }

    #[test]
    fn values_are_checked_with_kafkas_wording() {
        let retention = topic_key("retention.ms").unwrap();
        assert_eq!(check(retention, "5"), Ok(()));
        assert_eq!(
            check(retention, "abc"),
            Err(
                "Invalid value abc for configuration retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert_eq!(
            check(retention, "-2"),
            Err(
                "Invalid value -2 for configuration retention.ms: Value must be at least -1".into()
            )
        );
        let max = topic_key("max.message.bytes").unwrap();
        assert_eq!(
            check(max, "3000000000"),
            Err(
                "Invalid value 3000000000 for configuration max.message.bytes: Not a number of \
                 type INT"
                    .into()
            )
        );
        let policy = topic_key("cleanup.policy").unwrap();
        assert_eq!(check(policy, "compact, delete"), Ok(()));
        assert_eq!(check(policy, ""), Ok(()));
        assert_eq!(
            check(policy, "delete,shred"),
            Err(
                "Invalid value delete,shred for configuration cleanup.policy: String must be \
                 one of: compact, delete"
                    .into()
            )
        );
        let pre = topic_key("preallocate").unwrap();
        assert!(check(pre, "TRUE").is_ok());
        assert!(
            check(pre, "yes")
                .unwrap_err()
                .ends_with("either true or false")
        );
        let ratio = topic_key("min.cleanable.dirty.ratio").unwrap();
        assert!(check(ratio, "0.25").is_ok());
        assert!(
            check(ratio, "1.5")
                .unwrap_err()
                .ends_with("Value must be no more than 1")
        );
        let gzip = topic_key("compression.gzip.level").unwrap();
        assert!(check(gzip, "-1").is_ok() && check(gzip, "9").is_ok());
        assert!(check(gzip, "0").is_err());
        let throttled = topic_key("leader.replication.throttled.replicas").unwrap();
        assert!(check(throttled, "*").is_ok() && check(throttled, "0:1,1:1").is_ok());
        assert!(check(throttled, "x").is_err());
    }

    #[test]
    fn whole_topic_and_group_configs_are_checked() {
        assert_eq!(
            validate_topic(&map(&[("retention.ms", "1"), ("foo", "1")])),
            Err("Unknown topic config name: foo".into())
        );
        let lags = map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]);
        assert!(
            validate_topic(&lags)
                .unwrap_err()
                .starts_with("conflict topic config")
        );
        assert!(validate_topic(&map(&[("remote.storage.enable", "true")])).is_err());
        let broker = BTreeMap::new();
        assert_eq!(
            validate_group(&map(&[("consumer.session.timeout.ms", "50000")]), &broker),
            Ok(())
        );
        assert_eq!(
            validate_group(&map(&[("consumer.session.timeout.ms", "1000")]), &broker),
            Err(
                "consumer.session.timeout.ms must be greater than or equal to \
                 group.consumer.min.session.timeout.ms"
                    .into()
            )
        );
        let wider = map(&[("group.consumer.min.session.timeout.ms", "1000")]);
        assert_eq!(
            validate_group(&map(&[("consumer.session.timeout.ms", "1000")]), &wider),
            Err(
                "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
                    .into()
            )
        );
        assert_eq!(
            validate_group(&map(&[("x", "1")]), &broker),
            Err("Unknown group config name: x".into())
        );
        let resolved = GroupConfig::resolve(
            Some(&map(&[("consumer.heartbeat.interval.ms", "6000")])),
            &map(&[("group.consumer.session.timeout.ms", "50000")]),
        );
        assert_eq!(resolved.consumer_heartbeat_interval_ms, 6000);
        assert_eq!(resolved.consumer_session_timeout_ms, 50000);
        assert_eq!(resolved.share_isolation_level, "read_uncommitted");
    }

    #[test]
    fn broker_changes_are_refused_as_kafka_refuses_them() {
        let none = BTreeMap::new();
        assert_eq!(
            validate_broker(&map(&[("num.partitions", "3")]), &none),
            Err("Cannot update these configs dynamically: Set(num.partitions)".into())
        );
        assert_eq!(
            validate_broker(&map(&[("log.retention.hours", "3")]), &none),
            Err("Cannot update these configs dynamically: Set(log.retention.hours)".into())
        );
        assert_eq!(
            validate_broker(&map(&[("log.retention.ms", "5")]), &none),
            Ok(())
        );
        assert_eq!(
            validate_broker(&map(&[("custom.plugin.key", "x")]), &none),
            Ok(())
        );
        assert!(
            validate_broker(&map(&[("message.max.bytes", "x")]), &none)
                .unwrap_err()
                .contains("Not a number of type INT")
        );
        assert!(
            validate_broker(&map(&[("num.io.threads", "100")]), &none)
                .unwrap_err()
                .ends_with("should not be greater than double the current value 8")
        );
        let hours = map(&[("log.retention.hours", "2")]);
        let default = topic_key("retention.ms").unwrap();
        assert_eq!(topic_default(&hours, default).as_deref(), Some("7200000"));
        assert_eq!(topic_default(&none, default).as_deref(), Some("604800000"));
    }
}
