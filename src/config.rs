//! The broker's configuration, read from a Kafka `server.properties` file with Kafka's key
//! names and defaults. Invariant: a bad value is an error naming the file, key and value;
//! nothing here panics.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use log::debug;

/// The default listener when none is configured: loopback only, since an unauthenticated
/// broker should not listen on every interface unless told to.
pub const DEFAULT_LISTENER: &str = "127.0.0.1:9092";

/// How a listener's connections are secured (`listener.security.protocol.map`'s values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn parse(name: &str) -> Option<SecurityProtocol> {
        match name {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One broker listener of `listeners`, with its protocol and advertised address.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub addr: SocketAddr,
    /// The host and port given to clients that came in on this listener, if configured
    /// with a host (`advertised.listeners`).
    pub advertised: Option<(String, u16)>,
}

/// Kafka's default `listener.security.protocol.map`: each protocol's own name.
const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Every broker listener (controller listeners left out), in `listeners`' order.
    pub listeners: Vec<Listener>,
    /// Where the first listener binds.
    pub listen: SocketAddr,
    /// The first listener's name (`PLAINTEXT` unless `listeners` names it otherwise).
    pub listener_name: String,
    /// The first listener's advertised host and port, if configured with a host.
    pub advertised: Option<(String, u16)>,
    pub log_dir: PathBuf,
    pub node_id: i32,
    pub socket_request_max_bytes: usize,
    /// Connections served at once (`max.connections`; Kafka's default, unlimited).
    pub max_connections: usize,
    /// Connections served at once from one IP address (`max.connections.per.ip`).
    pub max_connections_per_ip: usize,
    /// The listener's accept queue (`socket.listen.backlog.size`), in connections.
    pub socket_listen_backlog_size: i32,
    /// Members of one classic group (`group.max.size`).
    pub group_max_size: usize,
    /// Bytes of requests buffered across every connection (`queued.max.request.bytes`;
    /// `None`, Kafka's -1, is no bound).
    pub queued_max_request_bytes: Option<usize>,
    /// Closed segments' files open at once (`log.closed.segment.files.open.max`, this
    /// broker's own).
    pub log_closed_segment_files_open_max: usize,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub message_max_bytes: usize,
    pub log_segment_bytes: u64,
    /// -1 keeps data forever.
    pub log_retention_ms: i64,
    /// -1 keeps any size.
    pub log_retention_bytes: i64,
    /// Records appended before an fsync is forced; `None` (Kafka's default, `Long.MAX_VALUE`)
    /// with `flush_interval_ms` also `None` means this broker's durable default: every
    /// acknowledged produce is fsynced first.
    pub log_flush_interval_messages: Option<u64>,
    pub log_flush_interval_ms: Option<u64>,
    /// How long the loop polls without sleeping for a small batch of data syncs to
    /// complete (`log.flush.poll.us`, this broker's own; 0: it sleeps at once).
    pub log_flush_poll_us: u64,
    pub group_initial_rebalance_delay_ms: u64,
    /// Partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// How often retention runs (`log.retention.check.interval.ms`).
    pub log_retention_check_interval_ms: u64,
    /// The keys and values of `server.properties`, as read.
    pub static_properties: BTreeMap<String, String>,
    /// What this configuration was built from: `static_properties` with the dynamic broker
    /// configs over them (see [`Config::with_dynamic`]).
    pub properties: BTreeMap<String, String>,
    /// Samples a client quota's rate is measured over, and each sample's length.
    pub quota_window_num: usize,
    pub quota_window_size_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        let listen: SocketAddr = DEFAULT_LISTENER
            .parse()
            .expect("default listener is a valid address");
        Config {
            listeners: vec![Listener {
                name: "PLAINTEXT".to_string(),
                protocol: SecurityProtocol::Plaintext,
                addr: listen,
                advertised: None,
            }],
            listen,
            listener_name: "PLAINTEXT".to_string(),
            advertised: None,
            log_dir: PathBuf::from("/tmp/kraft-combined-logs"),
            node_id: 1,
            socket_request_max_bytes: 104_857_600,
            max_connections: i32::MAX as usize,
            max_connections_per_ip: i32::MAX as usize,
            socket_listen_backlog_size: 50,
            group_max_size: i32::MAX as usize,
            queued_max_request_bytes: None,
            log_closed_segment_files_open_max:
                crate::storage::open_files::CLOSED_SEGMENT_FILES_OPEN_MAX,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            message_max_bytes: 1_048_588,
            log_segment_bytes: 1 << 30,
            log_retention_ms: 7 * 24 * 3600 * 1000,
            log_retention_bytes: -1,
            log_flush_poll_us: 250,
            log_flush_interval_messages: None,
            log_flush_interval_ms: None,
            group_initial_rebalance_delay_ms: 3000,
            offsets_topic_num_partitions: 50,
            log_retention_check_interval_ms: 300_000,
            static_properties: BTreeMap::new(),
            properties: BTreeMap::new(),
            quota_window_num: 11,
            quota_window_size_seconds: 1,
        }
    }
}

/// A configuration problem, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `key=value` / `key: value` lines; `#` and `!` start comments.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']);
        let (key, value) = match split {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    out
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Config::from_properties(&parse_properties(&text))
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut c = Config {
            static_properties: props.clone(),
            properties: props.clone(),
            ..Config::default()
        };
        let get = |key: &str| props.get(key).map(String::as_str);
        let controller_names: Vec<&str> = get("controller.listener.names")
            .unwrap_or("CONTROLLER")
            .split(',')
            .map(str::trim)
            .collect();
        let protocol_map = get("listener.security.protocol.map").unwrap_or(DEFAULT_PROTOCOL_MAP);
        if let Some(value) = get("listeners") {
            let chosen = broker_listeners(value, &controller_names, protocol_map)
                .map_err(|e| bad("listeners", value, &e))?;
            c.listeners = Vec::with_capacity(chosen.len());
            for ((name, host, port), protocol) in chosen {
                let host = if host.is_empty() { "0.0.0.0" } else { host };
                c.listeners.push(Listener {
                    name: name.to_string(),
                    protocol,
                    addr: resolve(host, port).map_err(|e| bad("listeners", value, &e))?,
                    advertised: None,
                });
            }
        }
        if let Some(value) = get("advertised.listeners") {
            let entries =
                split_listeners(value).map_err(|e| bad("advertised.listeners", value, &e))?;
            let single = c.listeners.len() == 1;
            for listener in &mut c.listeners {
                // By name; a lone listener also takes the first broker entry (as before
                // several listeners were served).
                let chosen = entries
                    .iter()
                    .find(|(name, _, _)| *name == listener.name)
                    .or_else(|| {
                        entries
                            .iter()
                            .find(|(name, _, _)| single && !controller_names.contains(name))
                    });
                if let Some((_, host, port)) = chosen
                    && !host.is_empty()
                    && *host != "0.0.0.0"
                {
                    listener.advertised = Some((host.to_string(), *port));
                }
            }
        }
        if let Some(first) = c.listeners.first() {
            c.listen = first.addr;
            c.listener_name = first.name.clone();
            c.advertised = first.advertised.clone();
        }
        if let Some(value) = get("log.dirs").or(get("log.dir")) {
            let first = value.split(',').next().unwrap_or("").trim();
            if first.is_empty() {
                return Err(bad("log.dirs", value, "empty path"));
            }
            c.log_dir = PathBuf::from(first);
        }
        number(props, "node.id", &mut c.node_id)?;
        number(
            props,
            "socket.request.max.bytes",
            &mut c.socket_request_max_bytes,
        )?;
        number(props, "max.connections", &mut c.max_connections)?;
        number(
            props,
            "max.connections.per.ip",
            &mut c.max_connections_per_ip,
        )?;
        number(
            props,
            "socket.listen.backlog.size",
            &mut c.socket_listen_backlog_size,
        )?;
        number(props, "group.max.size", &mut c.group_max_size)?;
        let mut queued: i64 = -1;
        number(props, "queued.max.request.bytes", &mut queued)?;
        // Kafka's memory pool is unbounded at -1 (any value below 1, as `SocketServer`
        // builds it: `if (maxQueuedBytes > 0) SimpleMemoryPool else NONE`).
        c.queued_max_request_bytes = usize::try_from(queued).ok().filter(|&b| b > 0);
        number(
            props,
            "log.closed.segment.files.open.max",
            &mut c.log_closed_segment_files_open_max,
        )?;
        number(props, "log.flush.poll.us", &mut c.log_flush_poll_us)?;
        number(props, "num.partitions", &mut c.num_partitions)?;
        number(
            props,
            "default.replication.factor",
            &mut c.default_replication_factor,
        )?;
        number(
            props,
            "auto.create.topics.enable",
            &mut c.auto_create_topics,
        )?;
        number(props, "message.max.bytes", &mut c.message_max_bytes)?;
        number(props, "log.segment.bytes", &mut c.log_segment_bytes)?;
        number(props, "log.retention.bytes", &mut c.log_retention_bytes)?;
        let mut hours: Option<i64> = None;
        number(props, "log.retention.hours", &mut hours)?;
        if let Some(h) = hours {
            c.log_retention_ms = if h < 0 {
                -1
            } else {
                h.saturating_mul(3_600_000)
            };
        }
        let mut minutes: Option<i64> = None;
        number(props, "log.retention.minutes", &mut minutes)?;
        if let Some(m) = minutes {
            c.log_retention_ms = if m < 0 { -1 } else { m.saturating_mul(60_000) };
        }
        number(props, "log.retention.ms", &mut c.log_retention_ms)?;
        number(
            props,
            "log.flush.interval.messages",
            &mut c.log_flush_interval_messages,
        )?;
        number(props, "log.flush.interval.ms", &mut c.log_flush_interval_ms)?;
        number(
            props,
            "group.initial.rebalance.delay.ms",
            &mut c.group_initial_rebalance_delay_ms,
        )?;
        number(
            props,
            "offsets.topic.num.partitions",
            &mut c.offsets_topic_num_partitions,
        )?;
        number(
            props,
            "log.retention.check.interval.ms",
            &mut c.log_retention_check_interval_ms,
        )?;
        if c.log_retention_check_interval_ms == 0 {
            return Err(bad_num("log.retention.check.interval.ms", 0));
        }
        number(props, "quota.window.num", &mut c.quota_window_num)?;
        number(
            props,
            "quota.window.size.seconds",
            &mut c.quota_window_size_seconds,
        )?;
        // Kafka: both at least 1 (ints).
        if c.quota_window_num < 1 || c.quota_window_num > i32::MAX as usize {
            return Err(bad_num("quota.window.num", c.quota_window_num));
        }
        if c.quota_window_size_seconds < 1 || c.quota_window_size_seconds > i32::MAX as u64 {
            return Err(bad_num(
                "quota.window.size.seconds",
                c.quota_window_size_seconds,
            ));
        }
        if c.offsets_topic_num_partitions < 1 {
            return Err(bad_num(
                "offsets.topic.num.partitions",
                c.offsets_topic_num_partitions,
            ));
        }
        if c.socket_request_max_bytes < 64 || c.socket_request_max_bytes > i32::MAX as usize {
            return Err(bad_num(
                "socket.request.max.bytes",
                c.socket_request_max_bytes,
            ));
        }
        if c.max_connections == 0 {
            return Err(bad_num("max.connections", c.max_connections));
        }
        if c.socket_listen_backlog_size < 1 {
            return Err(bad_num(
                "socket.listen.backlog.size",
                c.socket_listen_backlog_size,
            ));
        }
        if let Some(bytes) = c.queued_max_request_bytes
            && bytes < c.socket_request_max_bytes
        {
            // Kafka's KafkaConfig requires it: a frame must fit an empty budget.
            return Err(bad(
                "queued.max.request.bytes",
                &bytes.to_string(),
                "queued.max.request.bytes must be larger or equal to socket.request.max.bytes",
            ));
        }
        if c.log_closed_segment_files_open_max < 1 {
            return Err(bad_num(
                "log.closed.segment.files.open.max",
                c.log_closed_segment_files_open_max,
            ));
        }
        if c.group_max_size < 1 {
            return Err(bad_num("group.max.size", c.group_max_size));
        }
        if c.num_partitions < 1 {
            return Err(bad_num("num.partitions", c.num_partitions));
        }
        if c.log_segment_bytes < 14 {
            return Err(bad_num("log.segment.bytes", c.log_segment_bytes));
        }
        for key in props.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                debug!("ignoring configuration key {key}");
            }
        }
        Ok(c)
    }
}

impl Config {
    /// The configuration in effect: `server.properties` with the dynamic broker configs over
    /// it, the cluster-wide default (`default`, resource name "") under this broker's own
    /// (`per_broker`), as Kafka layers them. A dynamic value this configuration cannot take
    /// (it was validated when set, so only a hand-edited log holds one) is left out, logged.
    pub fn with_dynamic(
        &self,
        default: Option<&BTreeMap<String, String>>,
        per_broker: Option<&BTreeMap<String, String>>,
    ) -> Config {
        let mut props = self.static_properties.clone();
        for layer in [default, per_broker].into_iter().flatten() {
            for (key, value) in layer {
                let mut trial = props.clone();
                trial.insert(key.clone(), value.clone());
                match Config::from_properties(&trial) {
                    Ok(_) => props = trial,
                    Err(e) => log::warn!("dynamic broker config {key}={value} ignored: {e}"),
                }
            }
        }
        match Config::from_properties(&props) {
            Ok(mut config) => {
                config.static_properties = self.static_properties.clone();
                config
            }
            Err(_) => self.clone(),
        }
    }
}

/// Keys this broker reads; every other key is accepted and ignored.
pub const KNOWN_KEYS: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "listener.security.protocol.map",
    "log.dirs",
    "log.dir",
    "node.id",
    "socket.request.max.bytes",
    "max.connections",
    "max.connections.per.ip",
    "socket.listen.backlog.size",
    "group.max.size",
    "queued.max.request.bytes",
    "log.closed.segment.files.open.max",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "message.max.bytes",
    "log.segment.bytes",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.flush.io.uring",
    "log.flush.poll.us",
    "log.flush.hold.file",
    "group.initial.rebalance.delay.ms",
    "offsets.topic.num.partitions",
    "log.retention.check.interval.ms",
    "quota.window.num",
    "quota.window.size.seconds",
    "connection.failed.authentication.delay.ms",
    "authorizer.class.name",
    "allow.everyone.if.no.acl.found",
    "super.users",
    "connections.max.reauth.ms",
    "sasl.enabled.mechanisms",
    "sasl.server.max.receive.size",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.truststore.certificates",
    "ssl.truststore.location",
    "ssl.truststore.type",
];

fn bad(key: &str, value: &str, why: &str) -> ConfigError {
    ConfigError(format!("bad value for {key}: '{value}': {why}"))
}

fn bad_num(key: &str, value: impl fmt::Display) -> ConfigError {
    bad(key, &value.to_string(), "out of range")
}

/// A value parsed from text, so `number` serves every numeric and boolean key.
trait Setting: Sized {
    fn parse_setting(text: &str) -> Option<Self>;
}

macro_rules! from_str_setting {
    ($($t:ty),*) => {$(
        impl Setting for $t {
            fn parse_setting(text: &str) -> Option<Self> {
                <$t>::from_str(text).ok()
            }
        }
    )*};
}
from_str_setting!(i16, i32, i64, u64, usize, bool);

impl<T: Setting> Setting for Option<T> {
    fn parse_setting(text: &str) -> Option<Self> {
        T::parse_setting(text).map(Some)
    }
}

fn number<T: Setting>(
    props: &BTreeMap<String, String>,
    key: &str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = props.get(key) {
        *slot = T::parse_setting(value).ok_or_else(|| bad(key, value, "not a valid value"))?;
    }
    Ok(())
}

type ListenerEntry<'a> = (&'a str, &'a str, u16);

/// `NAME://host:port,...` into (name, host, port) triples; `[v6]` hosts lose their brackets.
fn split_listeners(value: &str) -> Result<Vec<ListenerEntry<'_>>, String> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, address) = entry
            .split_once("://")
            .ok_or_else(|| format!("'{entry}' is not NAME://host:port"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| format!("'{entry}' has no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{entry}' has a bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        out.push((name, host, port));
    }
    if out.is_empty() {
        return Err("no listener".into());
    }
    Ok(out)
}

/// The listeners this broker serves (every one that is not a controller listener), each
/// with its security protocol from the map.
fn broker_listeners<'a>(
    value: &'a str,
    controller_names: &[&str],
    protocol_map: &str,
) -> Result<Vec<(ListenerEntry<'a>, SecurityProtocol)>, String> {
    let mut out: Vec<(ListenerEntry<'a>, SecurityProtocol)> = Vec::new();
    for entry in split_listeners(value)? {
        if controller_names.contains(&entry.0) {
            continue;
        }
        if out.iter().any(|(e, _)| e.0 == entry.0) {
            return Err("Each listener must have a different name".into());
        }
        let protocol = protocol_map
            .split(',')
            .filter_map(|pair| pair.trim().split_once(':'))
            .find(|(name, _)| name.trim() == entry.0)
            .map(|(_, protocol)| protocol.trim())
            .ok_or_else(|| format!("No security protocol defined for listener {}", entry.0))?;
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            format!(
                "listener {} uses {protocol}; the protocols are PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL",
                entry.0
            )
        })?;
        out.push((entry, protocol));
    }
    if out.is_empty() {
        return Err("no broker listener (all are controller listeners)".into());
    }
    Ok(out)
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<Config, ConfigError> {
        Config::from_properties(&parse_properties(text))
    }

    #[test]
    fn properties_syntax() {
        let props = parse_properties("# c\n! c\n\n a = 1 \nb: two\nc=x=y\nflag\n");
        assert_eq!(props.get("a").map(String::as_str), Some("1"));
        assert_eq!(props.get("b").map(String::as_str), Some("two"));
        assert_eq!(props.get("c").map(String::as_str), Some("x=y"));
        assert_eq!(props.get("flag").map(String::as_str), Some(""));
        assert_eq!(props.len(), 4);
    }

    #[test]
    fn defaults_without_keys() {
        let c = config("").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:9092");
        assert_eq!(c.log_dir, PathBuf::from("/tmp/kraft-combined-logs"));
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
    }

    #[test]
    fn kraft_combined_listeners() {
        let c = config(
            "process.roles=broker,controller\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
             controller.listener.names=CONTROLLER\nlog.dirs=/tmp/x,/tmp/y\nnode.id=3\n",
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9092");
        assert_eq!(c.log_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.node_id, 3);
        assert_eq!(c.advertised, None);
    }

    #[test]
    fn controller_listener_first_is_skipped_and_mapped_names_work() {
        let c = config(
            "listeners=CONTROLLER://:9093,INTERNAL://127.0.0.1:19092\n\
             listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             advertised.listeners=INTERNAL://kafka.local:29092\n",
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:19092");
        assert_eq!(c.advertised, Some(("kafka.local".to_string(), 29092)));
    }

    #[test]
    fn several_listeners_with_protocols_and_advertised_addresses() {
        let c = config(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,EXT://:9094\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,EXT:SASL_SSL\n\
             advertised.listeners=PLAINTEXT://localhost:9092,EXT://kafka.example:443\n",
        )
        .unwrap();
        let summary: Vec<_> = c
            .listeners
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.protocol,
                    l.addr.to_string(),
                    l.advertised.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "PLAINTEXT",
                    SecurityProtocol::Plaintext,
                    "127.0.0.1:9092".to_string(),
                    Some(("localhost".to_string(), 9092))
                ),
                (
                    "SASL_PLAINTEXT",
                    SecurityProtocol::SaslPlaintext,
                    "127.0.0.1:9093".to_string(),
                    None
                ),
                (
                    "EXT",
                    SecurityProtocol::SaslSsl,
                    "0.0.0.0:9094".to_string(),
                    Some(("kafka.example".to_string(), 443))
                ),
            ]
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:9092");
    }

    #[test]
    fn listener_protocol_errors_as_kafka_words_them() {
        let e = config("listeners=EXT://:9093").unwrap_err();
        assert!(
            e.0.ends_with("No security protocol defined for listener EXT"),
            "{e}"
        );
        let e =
            config("listeners=A://:1,A://:2\nlistener.security.protocol.map=A:SSL").unwrap_err();
        assert!(
            e.0.ends_with("Each listener must have a different name"),
            "{e}"
        );
        let e = config("listeners=A://:1\nlistener.security.protocol.map=A:GSS").unwrap_err();
        assert!(e.0.contains("listener A uses GSS"), "{e}");
        let c = config("listeners=SSL://:9093").unwrap();
        assert_eq!(c.listeners[0].protocol, SecurityProtocol::Ssl);
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let e = config("node.id=abc").unwrap_err();
        assert_eq!(e.0, "bad value for node.id: 'abc': not a valid value");
        let e = config("listeners=PLAINTEXT://:99999").unwrap_err();
        assert!(
            e.0.starts_with("bad value for listeners: 'PLAINTEXT://:99999'"),
            "{e}"
        );
        assert!(config("socket.request.max.bytes=-5").is_err());
        assert!(config("max.connections=0").is_err());
        assert!(config("quota.window.num=0").is_err());
        assert!(config("quota.window.size.seconds=0").is_err());
        let c = config("quota.window.num=5\nquota.window.size.seconds=2").unwrap();
        assert_eq!((c.quota_window_num, c.quota_window_size_seconds), (5, 2));
    }

    #[test]
    fn retention_units() {
        assert_eq!(
            config("log.retention.hours=1").unwrap().log_retention_ms,
            3_600_000
        );
        assert_eq!(
            config("log.retention.hours=1\nlog.retention.ms=5")
                .unwrap()
                .log_retention_ms,
            5
        );
        assert_eq!(
            config("log.flush.interval.messages=1")
                .unwrap()
                .log_flush_interval_messages,
            Some(1)
        );
    }
}
