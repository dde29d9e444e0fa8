//! Metadata (key 3), versions 0-12; flexible (compact encodings, tagged fields) from v9.
//! What each version adds, per Kafka's MetadataRequest/MetadataResponse schemas:
//! - v0: an empty topic array means "all topics".
//! - v1: a null topic array means "all topics" and an empty one "no topics"; the response
//!   adds each broker's rack, the controller id and whether a topic is internal.
//! - v2: cluster_id. v3: throttle_time_ms (the response's first field). v4: the request's
//!   allow_auto_topic_creation. v5: offline_replicas per partition. v6: no change on the
//!   wire (responses go out before throttling). v7: leader_epoch per partition.
//! - v8: authorized operations: the request asks for them, the response carries a bitfield
//!   per topic and one for the cluster.
//! - v9: first flexible version. v10: topic ids (request and response); a request topic's
//!   name may be null. v11: drops the cluster authorized operations (now DescribeCluster).
//! - v12: lookup by topic id; a response topic's name may be null (unknown id).
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 12;
pub const FIRST_FLEXIBLE_VERSION: i16 = 9;

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("metadata version"))
    }
}

/// The value of an authorized-operations bitfield that was not asked for.
pub const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// `None` asks for every topic: a null array in v1+, an empty one in v0. `Some(empty)`
    /// asks for none (v1+ only; v0 cannot say it).
    pub topics: Option<Vec<RequestTopic<'a>>>,
    /// v4+; true in older versions.
    pub allow_auto_topic_creation: bool,
    /// v8-10.
    pub include_cluster_authorized_operations: bool,
    /// v8+.
    pub include_topic_authorized_operations: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTopic<'a> {
    /// v10+; all zeros when the topic is asked for by name.
    pub topic_id: [u8; 16],
    /// Null only in v10+, when the topic is asked for by id.
    pub name: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        // A null array in v0 breaks the schema; it reads as empty, which means all topics.
        let topics = match r.nullable_array_len(flexible, RequestTopic::min_bytes(version))? {
            None => None,
            Some(0) if version == 0 => None,
            Some(n) => Some(decode_array(r, n, |r| RequestTopic::decode(r, version))?),
        };
        let allow_auto_topic_creation = if version >= 4 { r.bool()? } else { true };
        let include_cluster_authorized_operations = if (8..=10).contains(&version) {
            r.bool()?
        } else {
            false
        };
        let include_topic_authorized_operations = if version >= 8 { r.bool()? } else { false };
        r.skip_tags(flexible)?;
        Ok(Request {
            topics,
            allow_auto_topic_creation,
            include_cluster_authorized_operations,
            include_topic_authorized_operations,
        })
    }

    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        match &self.topics {
            None if version == 0 => {
                w.array_len(0, flexible);
            }
            None => {
                w.null_array(flexible);
            }
            Some(topics) => {
                w.array_len(topics.len(), flexible);
                for topic in topics {
                    topic.encode(w, version);
                }
            }
        }
        if version >= 4 {
            w.bool(self.allow_auto_topic_creation);
        }
        if (8..=10).contains(&version) {
            w.bool(self.include_cluster_authorized_operations);
        }
        if version >= 8 {
            w.bool(self.include_topic_authorized_operations);
        }
        w.tags(flexible);
    }
}

impl<'a> RequestTopic<'a> {
    /// name (int16 length, or compact length + tag section), plus the id from v10.
    fn min_bytes(version: i16) -> usize {
        let id_bytes = if version >= 10 { 16 } else { 0 };
        id_bytes + 2
    }

    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let topic_id = if version >= 10 { r.uuid()? } else { [0; 16] };
        let name = if version >= 10 {
            r.nullable_string(flexible)?
        } else {
            Some(r.string(flexible)?)
        };
        r.skip_tags(flexible)?;
        Ok(RequestTopic { topic_id, name })
    }

    /// A null name before v10 cannot be written; it goes out as "".
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        if version >= 10 {
            w.uuid(&self.topic_id);
            w.nullable_string(self.name, flexible);
        } else {
            w.string(self.name.unwrap_or(""), flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// v3+.
    pub throttle_time_ms: i32,
    pub brokers: Vec<Broker>,
    /// v2+.
    pub cluster_id: Option<String>,
    /// v1+; -1 when unknown.
    pub controller_id: i32,
    pub topics: Vec<Topic>,
    /// v8-10.
    pub cluster_authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    /// v1+.
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub error_code: i16,
    /// Null only in v12+ (a topic id nobody knows); written as "" before v12.
    pub name: Option<String>,
    /// v10+.
    pub topic_id: [u8; 16],
    /// v1+.
    pub is_internal: bool,
    pub partitions: Vec<Partition>,
    /// v8+.
    pub topic_authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub error_code: i16,
    pub partition_index: i32,
    pub leader_id: i32,
    /// v7+.
    pub leader_epoch: i32,
    pub replica_nodes: Vec<i32>,
    pub isr_nodes: Vec<i32>,
    /// v5+.
    pub offline_replicas: Vec<i32>,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            throttle_time_ms: 0,
            brokers: Vec::new(),
            cluster_id: None,
            controller_id: -1,
            topics: Vec::new(),
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        }
    }
}

impl Default for Topic {
    fn default() -> Self {
        Topic {
            error_code: 0,
            name: None,
            topic_id: [0; 16],
            is_internal: false,
            partitions: Vec::new(),
            topic_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        }
    }
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            error_code: 0,
            partition_index: 0,
            leader_id: -1,
            leader_epoch: -1,
            replica_nodes: Vec::new(),
            isr_nodes: Vec::new(),
            offline_replicas: Vec::new(),
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        if version >= 3 {
            w.i32(self.throttle_time_ms);
        }
        w.array_len(self.brokers.len(), flexible);
        for broker in &self.brokers {
            broker.encode(w, version);
        }
        if version >= 2 {
            w.nullable_string(self.cluster_id.as_deref(), flexible);
        }
        if version >= 1 {
            w.i32(self.controller_id);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            topic.encode(w, version);
        }
        if (8..=10).contains(&version) {
            w.i32(self.cluster_authorized_operations);
        }
        w.tags(flexible);
    }

    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let mut out = Response::default();
        if version >= 3 {
            out.throttle_time_ms = r.i32()?;
        }
        // node_id, host, port: at least 4 + 1 + 4 bytes.
        let n = r.array_len(flexible, 9)?;
        out.brokers = decode_array(r, n, |r| Broker::decode(r, version))?;
        if version >= 2 {
            out.cluster_id = r.nullable_string(flexible)?.map(str::to_owned);
        }
        if version >= 1 {
            out.controller_id = r.i32()?;
        }
        // error_code, name, partitions: at least 2 + 1 + 1 bytes.
        let n = r.array_len(flexible, 4)?;
        out.topics = decode_array(r, n, |r| Topic::decode(r, version))?;
        if (8..=10).contains(&version) {
            out.cluster_authorized_operations = r.i32()?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl Broker {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i32(self.node_id);
        w.string(&self.host, flexible);
        w.i32(self.port);
        if version >= 1 {
            w.nullable_string(self.rack.as_deref(), flexible);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let node_id = r.i32()?;
        let host = r.string(flexible)?.to_owned();
        let port = r.i32()?;
        let rack = if version >= 1 {
            r.nullable_string(flexible)?.map(str::to_owned)
        } else {
            None
        };
        r.skip_tags(flexible)?;
        Ok(Broker {
            node_id,
            host,
            port,
            rack,
        })
    }
}

impl Topic {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i16(self.error_code);
        if version >= 12 {
            w.nullable_string(self.name.as_deref(), flexible);
        } else {
            w.string(self.name.as_deref().unwrap_or(""), flexible);
        }
        if version >= 10 {
            w.uuid(&self.topic_id);
        }
        if version >= 1 {
            w.bool(self.is_internal);
        }
        w.array_len(self.partitions.len(), flexible);
        for partition in &self.partitions {
            partition.encode(w, version);
        }
        if version >= 8 {
            w.i32(self.topic_authorized_operations);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let mut out = Topic {
            error_code: r.i16()?,
            ..Topic::default()
        };
        out.name = if version >= 12 {
            r.nullable_string(flexible)?.map(str::to_owned)
        } else {
            Some(r.string(flexible)?.to_owned())
        };
        if version >= 10 {
            out.topic_id = r.uuid()?;
        }
        if version >= 1 {
            out.is_internal = r.bool()?;
        }
        // error_code, partition_index, leader_id, two arrays: at least 2 + 4 + 4 + 1 + 1.
        let n = r.array_len(flexible, 12)?;
        out.partitions = decode_array(r, n, |r| Partition::decode(r, version))?;
        if version >= 8 {
            out.topic_authorized_operations = r.i32()?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl Partition {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i16(self.error_code);
        w.i32(self.partition_index);
        w.i32(self.leader_id);
        if version >= 7 {
            w.i32(self.leader_epoch);
        }
        encode_i32s(w, &self.replica_nodes, flexible);
        encode_i32s(w, &self.isr_nodes, flexible);
        if version >= 5 {
            encode_i32s(w, &self.offline_replicas, flexible);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let mut out = Partition {
            error_code: r.i16()?,
            partition_index: r.i32()?,
            leader_id: r.i32()?,
            ..Partition::default()
        };
        if version >= 7 {
            out.leader_epoch = r.i32()?;
        }
        out.replica_nodes = decode_i32s(r, flexible)?;
        out.isr_nodes = decode_i32s(r, flexible)?;
        if version >= 5 {
            out.offline_replicas = decode_i32s(r, flexible)?;
        }
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

/// Operations a client may do on a topic, as Kafka's bit set (READ, WRITE, CREATE, DELETE,
/// ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS): everything, with no authorizer.
pub const TOPIC_OPERATIONS_ALL: i32 = 0x0df8;
/// "Not requested", as Kafka writes it.
pub const OPERATIONS_OMITTED: i32 = i32::MIN;

/// The one broker clients see: the advertised listener, or else the address they reached.
pub fn advertised_broker(broker: &crate::context::Context, local: std::net::SocketAddr) -> Broker {
    let (host, port) = match &broker.config.advertised {
        Some((host, port)) => (host.clone(), i32::from(*port)),
        None => (local.ip().to_string(), i32::from(local.port())),
    };
    Broker {
        node_id: broker.config.node_id,
        host,
        port,
        rack: None,
    }
}

/// The metadata of one stored topic.
pub fn describe_topic(
    node_id: i32,
    topic: &crate::storage::Topic,
    include_operations: bool,
) -> Topic {
    Topic {
        error_code: crate::protocol::error::NONE,
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: false,
        partitions: topic
            .partitions
            .iter()
            .enumerate()
            .map(|(index, p)| Partition {
                error_code: crate::protocol::error::NONE,
                partition_index: index as i32,
                leader_id: node_id,
                leader_epoch: p.leader_epoch,
                replica_nodes: vec![node_id],
                isr_nodes: vec![node_id],
                offline_replicas: Vec::new(),
            })
            .collect(),
        topic_authorized_operations: if include_operations {
            TOPIC_OPERATIONS_ALL
        } else {
            OPERATIONS_OMITTED
        },
    }
}

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let node_id = broker.config.node_id;
    let include_ops = request.include_topic_authorized_operations;
    let mut topics = Vec::new();
    match &request.topics {
        None => {
            topics.extend(
                broker
                    .storage
                    .topics()
                    .map(|t| describe_topic(node_id, t, include_ops)),
            );
        }
        Some(requested) => {
            for wanted in requested {
                let found = match wanted.name {
                    Some(name) => broker.storage.topic(name),
                    None => broker.storage.topic_by_id(&wanted.topic_id),
                };
                if let Some(topic) = found {
                    topics.push(describe_topic(node_id, topic, include_ops));
                    continue;
                }
                let Some(name) = wanted.name else {
                    topics.push(missing(None, wanted.topic_id, error::UNKNOWN_TOPIC_ID));
                    continue;
                };
                if crate::storage::validate_topic_name(name).is_err() {
                    topics.push(missing(Some(name), [0; 16], error::INVALID_TOPIC_EXCEPTION));
                    continue;
                }
                let auto_create =
                    broker.config.auto_create_topics && request.allow_auto_topic_creation;
                if !auto_create {
                    topics.push(missing(
                        Some(name),
                        [0; 16],
                        error::UNKNOWN_TOPIC_OR_PARTITION,
                    ));
                    continue;
                }
                let partitions = broker.config.num_partitions;
                match broker.storage.create_topic(name, partitions, &[]) {
                    Ok(topic) => topics.push(describe_topic(node_id, topic, include_ops)),
                    Err(e) => {
                        log::error!("auto-creating topic {name}: {e:?}");
                        topics.push(missing(Some(name), [0; 16], error::UNKNOWN_SERVER_ERROR));
                    }
                }
            }
        }
    }
    let response = Response {
        throttle_time_ms: 0,
        brokers: vec![advertised_broker(broker, ctx.local_addr)],
        cluster_id: Some(broker.storage.cluster_id.clone()),
        controller_id: node_id,
        topics,
        cluster_authorized_operations: OPERATIONS_OMITTED,
    };
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

fn missing(name: Option<&str>, topic_id: [u8; 16], error_code: i16) -> Topic {
    Topic {
        error_code,
        name: name.map(str::to_string),
        topic_id,
        is_internal: false,
        partitions: Vec::new(),
        topic_authorized_operations: OPERATIONS_OMITTED,
    }
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

    fn named(name: &str) -> RequestTopic<'_> {
        RequestTopic {
            topic_id: [0; 16],
            name: Some(name),
        }
    }

    #[test]
    fn metadata_v0_request_bytes_and_empty_means_all() {
        let body = [
            0, 0, 0, 1, // topics: 1
            0, 3, b'f', b'o', b'o', // name "foo"
        ];
        let req = decode_all(&body, |r| Request::decode(r, 0)).unwrap();
        assert_eq!(req.topics, Some(vec![named("foo")]));
        assert!(req.allow_auto_topic_creation);
        assert_eq!(encoded(|w| req.encode(w, 0)), body);

        // v0: an empty array asks for all topics.
        let all = decode_all(&[0, 0, 0, 0], |r| Request::decode(r, 0)).unwrap();
        assert_eq!(all.topics, None);
        assert_eq!(encoded(|w| all.encode(w, 0)), [0, 0, 0, 0]);
    }

    #[test]
    fn metadata_v1_request_null_is_all_and_empty_is_none() {
        let all = decode_all(&[0xff, 0xff, 0xff, 0xff], |r| Request::decode(r, 1)).unwrap();
        assert_eq!(all.topics, None);
        let none = decode_all(&[0, 0, 0, 0], |r| Request::decode(r, 1)).unwrap();
        assert_eq!(none.topics, Some(vec![]));
        assert_eq!(encoded(|w| all.encode(w, 1)), [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(encoded(|w| none.encode(w, 1)), [0, 0, 0, 0]);
    }

    #[test]
    fn metadata_v9_request_bytes() {
        let body = [
            0x02, // topics: compact count 1
            0x04, b'f', b'o', b'o', // name "foo"
            0x00, // topic tags
            0x00, // allow_auto_topic_creation false
            0x01, // include_cluster_authorized_operations true
            0x00, // include_topic_authorized_operations false
            0x00, // tags
        ];
        let req = decode_all(&body, |r| Request::decode(r, 9)).unwrap();
        assert_eq!(
            req,
            Request {
                topics: Some(vec![named("foo")]),
                allow_auto_topic_creation: false,
                include_cluster_authorized_operations: true,
                include_topic_authorized_operations: false,
            }
        );
        assert_eq!(encoded(|w| req.encode(w, 9)), body);
    }

    #[test]
    fn metadata_v12_request_by_id_and_null_topics() {
        let mut body = vec![
            0x02, // topics: compact count 1
        ];
        body.extend([0xab; 16]); // topic_id
        body.extend([
            0x00, // name null
            0x00, // topic tags
            0x01, // allow_auto_topic_creation true
            0x01, // include_topic_authorized_operations true
            0x00, // tags
        ]);
        let req = decode_all(&body, |r| Request::decode(r, 12)).unwrap();
        assert_eq!(
            req.topics,
            Some(vec![RequestTopic {
                topic_id: [0xab; 16],
                name: None
            }])
        );
        assert!(req.allow_auto_topic_creation && req.include_topic_authorized_operations);
        assert_eq!(encoded(|w| req.encode(w, 12)), body);

        // Null topics (compact 0) with an unknown top-level tag, which is skipped.
        let all = [
            0x00, // topics null
            0x01, // allow_auto_topic_creation true
            0x00, // include_topic_authorized_operations false
            0x01, 0x05, 0x02, 0xee, 0xee, // tags: 1 field, tag 5, 2 bytes
        ];
        let req = decode_all(&all, |r| Request::decode(r, 12)).unwrap();
        assert_eq!(req.topics, None);
    }

    fn sample_request(version: i16) -> Request<'static> {
        let mut topics = vec![named("a"), named("orders")];
        if version >= 12 {
            topics.push(RequestTopic {
                topic_id: [3; 16],
                name: None,
            });
        }
        Request {
            topics: Some(topics),
            allow_auto_topic_creation: version < 4,
            include_cluster_authorized_operations: (8..=10).contains(&version),
            include_topic_authorized_operations: version >= 8,
        }
    }

    #[test]
    fn metadata_request_round_trips_every_version() {
        for version in 0..=12 {
            let req = sample_request(version);
            let bytes = encoded(|w| req.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(req),
                "v{version}"
            );
            if version >= 1 {
                let all = Request {
                    topics: None,
                    ..sample_request(version)
                };
                let bytes = encoded(|w| all.encode(w, version));
                assert_eq!(decode_all(&bytes, |r| Request::decode(r, version)), Ok(all));
            }
        }
    }

    #[test]
    fn metadata_request_truncated_is_an_error() {
        for version in 0..=12 {
            let bytes = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
        }
    }

    #[test]
    fn metadata_huge_counts_and_bad_versions_are_rejected() {
        // v1: topics claims 2^31-1 entries in a 7-byte body.
        let body = [0x7f, 0xff, 0xff, 0xff, 0, 1, b'a'];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 1),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 13] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("metadata version"))
            );
        }
    }

    fn one_topic_response() -> Response {
        Response {
            throttle_time_ms: 0,
            brokers: vec![Broker {
                node_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![Topic {
                error_code: 0,
                name: Some("t".into()),
                topic_id: [7; 16],
                is_internal: false,
                partitions: vec![Partition {
                    error_code: 0,
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 5,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    offline_replicas: vec![],
                }],
                topic_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
            }],
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        }
    }

    #[test]
    fn metadata_v0_response_bytes() {
        let expected = [
            0, 0, 0, 1, // brokers: 1
            0, 0, 0, 1, // node_id 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0, 0, 0, 1, // topics: 1
            0, 0, // error_code
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, // error_code
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 1, // leader_id 1
            0, 0, 0, 1, 0, 0, 0, 1, // replica_nodes [1]
            0, 0, 0, 1, 0, 0, 0, 1, // isr_nodes [1]
        ];
        assert_eq!(encoded(|w| one_topic_response().encode(w, 0)), expected);
    }

    #[test]
    fn metadata_v12_response_bytes() {
        let mut expected = vec![
            0, 0, 0, 0,    // throttle_time_ms
            0x02, // brokers: compact count 1
            0, 0, 0, 1, // node_id 1
            0x02, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0x00, // rack null
            0x00, // broker tags
            0x02, b'c', // cluster_id "c"
            0, 0, 0, 1,    // controller_id 1
            0x02, // topics: compact count 1
            0, 0, // error_code
            0x02, b't', // name "t"
        ];
        expected.extend([7; 16]); // topic_id
        expected.extend([
            0x00, // is_internal false
            0x02, // partitions: compact count 1
            0, 0, // error_code
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 1, // leader_id 1
            0, 0, 0, 5, // leader_epoch 5
            0x02, 0, 0, 0, 1, // replica_nodes [1]
            0x02, 0, 0, 0, 1,    // isr_nodes [1]
            0x01, // offline_replicas []
            0x00, // partition tags
            0x80, 0, 0, 0,    // topic_authorized_operations i32::MIN
            0x00, // topic tags
            0x00, // tags (no cluster_authorized_operations after v10)
        ]);
        assert_eq!(encoded(|w| one_topic_response().encode(w, 12)), expected);
    }

    fn sample_response(version: i16) -> Response {
        let mut topics = vec![Topic {
            error_code: 0,
            name: Some("orders".into()),
            topic_id: if version >= 10 { [9; 16] } else { [0; 16] },
            is_internal: version >= 1,
            partitions: vec![
                Partition {
                    error_code: 0,
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: if version >= 7 { 3 } else { -1 },
                    replica_nodes: vec![1, 2],
                    isr_nodes: vec![1],
                    offline_replicas: if version >= 5 { vec![2] } else { vec![] },
                },
                Partition {
                    error_code: 6,
                    partition_index: 1,
                    ..Partition::default()
                },
            ],
            topic_authorized_operations: if version >= 8 {
                0x0ff8
            } else {
                AUTHORIZED_OPERATIONS_UNSET
            },
        }];
        if version >= 12 {
            topics.push(Topic {
                error_code: 100,
                name: None,
                topic_id: [4; 16],
                ..Topic::default()
            });
        }
        Response {
            throttle_time_ms: if version >= 3 { 25 } else { 0 },
            brokers: vec![Broker {
                node_id: 1,
                host: "localhost".into(),
                port: 9092,
                rack: if version >= 1 {
                    Some("r1".into())
                } else {
                    None
                },
            }],
            cluster_id: if version >= 2 {
                Some("c-1".into())
            } else {
                None
            },
            controller_id: if version >= 1 { 1 } else { -1 },
            topics,
            cluster_authorized_operations: if (8..=10).contains(&version) {
                0x0ff0
            } else {
                AUTHORIZED_OPERATIONS_UNSET
            },
        }
    }

    #[test]
    fn metadata_response_round_trips_every_version() {
        for version in 0..=12 {
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
}
