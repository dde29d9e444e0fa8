//! Metadata (key 3): the brokers (this one) and the topics asked for, auto-creating unknown
//! names when allowed. Versions 0-13, flexible from v9.
//! - v0: an empty topic array means "all topics". v1: null means all and empty means none;
//!   the response adds each broker's rack, the controller id and is_internal.
//! - v2: cluster_id. v3: throttle_time_ms. v4: the request's allow_auto_topic_creation.
//!   v5: offline_replicas. v6: no change on the wire. v7: leader_epoch per partition.
//! - v8: authorized operations, asked for by the request, a bitfield per topic and one for
//!   the cluster in the response. v9: first flexible version.
//! - v10: topic ids; a request topic's name may be null. v11: drops the cluster's
//!   authorized operations (KIP-700). v12: lookup by topic id; a response topic's name is
//!   null for an unknown id.
//! - With the authorizer on (KafkaApis' rules): an all-topics request leaves out the topics
//!   the principal may not DESCRIBE; a named one it may not describe is answered
//!   TOPIC_AUTHORIZATION_FAILED, as is an unknown name to auto-create without CREATE on the
//!   cluster or the topic. The authorized-operations fields come from the ACLs.
//! - v13: a top-level error_code (KIP-1102), for REBOOTSTRAP_REQUIRED when a client's view
//!   of the cluster is stale. A single node has no other brokers to point to: always 0.

use std::borrow::Cow;

use super::authorized_operations as operations;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{CLUSTER_NAME, op, resource};

message! {
    pub struct Request<'a> {
        topics: Option<Vec<RequestTopic<'a>>> = "0+" null "1+",
        allow_auto_topic_creation: bool = "4+" default true,
        include_cluster_authorized_operations: bool = "8-10",
        include_topic_authorized_operations: bool = "8+",
    }

    pub struct RequestTopic<'a> {
        topic_id: [u8; 16] = "10+",
        name: Option<&'a str> = "0+" null "10+",
    }

    pub struct Response<'a> {
        throttle_time_ms: i32 = "3+",
        brokers: Vec<Broker> = "0+",
        cluster_id: Option<String> = "2+" null "2+",
        controller_id: i32 = "1+" default -1,
        topics: Vec<Topic<'a>> = "0+",
        cluster_authorized_operations: i32 = "8-10" default i32::MIN,
        error_code: i16 = "13+",
    }

    pub struct Broker {
        node_id: i32 = "0+",
        host: String = "0+",
        port: i32 = "0+",
        rack: Option<String> = "1+" null "1+",
    }

    pub struct Topic<'a> {
        error_code: i16 = "0+",
        name: Option<Cow<'a, str>> = "0+" null "12+",
        topic_id: [u8; 16] = "10+",
        is_internal: bool = "1+",
        partitions: Vec<Partition> = "0+",
        topic_authorized_operations: i32 = "8+" default i32::MIN,
    }

    pub struct Partition {
        error_code: i16 = "0+",
        partition_index: i32 = "0+",
        leader_id: i32 = "0+",
        leader_epoch: i32 = "7+" default -1,
        replica_nodes: Vec<i32> = "0+",
        isr_nodes: Vec<i32> = "0+",
        offline_replicas: Vec<i32> = "5+",
    }
}

pub struct Metadata;

impl Api for Metadata {
    const SPEC: ApiSpec = ApiSpec::new(3, "Metadata", "0-13", "9+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let node_id = ctx.config.node_id;
        let ops = request.include_topic_authorized_operations;
        // v0 cannot send null: its empty array asks for every topic.
        let requested = match &request.topics {
            Some(topics) if !topics.is_empty() || ctx.version > 0 => Some(topics),
            _ => None,
        };
        let mut topics: Vec<Topic> = match requested {
            None => ctx
                .storage
                .topics()
                .filter(|t| ctx.authorize(op::DESCRIBE, resource::TOPIC, &t.name))
                .map(|t| describe_topic(node_id, t, t.name.clone().into(), ops))
                .collect(),
            Some(requested) => {
                let create = auto_creation_fits(ctx, &request, requested);
                requested
                    .iter()
                    .map(|wanted| lookup(ctx, &request, wanted, create))
                    .collect()
            }
        };
        for topic in &mut topics {
            if topic.topic_authorized_operations != operations::OMITTED
                && let Some(name) = &topic.name
            {
                topic.topic_authorized_operations =
                    ctx.authorized_operations(true, resource::TOPIC, name, operations::TOPIC);
            }
        }
        Answer::Respond(Response {
            brokers: vec![advertised_broker(ctx)],
            cluster_id: Some(ctx.storage.cluster_id.clone()),
            controller_id: node_id,
            topics,
            // Asked for only up to v10 (the field is gone from v11: KIP-700).
            cluster_authorized_operations: ctx.authorized_operations(
                request.include_cluster_authorized_operations,
                resource::CLUSTER,
                CLUSTER_NAME,
                operations::CLUSTER,
            ),
            ..Response::default()
        })
    }
}

/// Whether the topics this request would auto-create fit one CreateTopics: Kafka's broker
/// sends them to its controller in one, which refuses it whole past
/// `MAX_PARTITIONS_PER_BATCH` partitions (the topics are then not created, and Metadata
/// answers them LEADER_NOT_AVAILABLE, as while a creation is pending).
fn auto_creation_fits(ctx: &Context, request: &Request, requested: &[RequestTopic]) -> bool {
    if !(ctx.config.auto_create_topics && request.allow_auto_topic_creation) {
        return true;
    }
    let mut names = std::collections::HashSet::new();
    let created = requested
        .iter()
        .filter_map(|wanted| wanted.name)
        .filter(|name| {
            ctx.storage.topic(name).is_none()
                && crate::storage::validate_topic_name(name).is_ok()
                && ctx.authorize(op::DESCRIBE, resource::TOPIC, name)
                && (ctx.authorize_cluster(op::CREATE)
                    || ctx.authorize(op::CREATE, resource::TOPIC, name))
                && names.insert(*name)
        })
        .count() as i64;
    let partitions = created.saturating_mul(i64::from(ctx.config.num_partitions));
    let fits = partitions <= super::create_topics::PARTITIONS_PER_REQUEST_MAX;
    if !fits {
        log::debug!(
            "not auto-creating {created} topics of {} partitions: more than {} partitions in one request",
            ctx.config.num_partitions,
            super::create_topics::PARTITIONS_PER_REQUEST_MAX
        );
    }
    fits
}

/// One requested topic: by name (auto-created when allowed and `create`) or, when its name
/// is null, by id.
fn lookup<'a>(
    ctx: &mut Context,
    request: &Request,
    wanted: &RequestTopic<'a>,
    create: bool,
) -> Topic<'a> {
    let (node_id, ops) = (
        ctx.config.node_id,
        request.include_topic_authorized_operations,
    );
    let unauthorized = |name: &'a str| {
        missing(
            Some(name.into()),
            [0; 16],
            error::TOPIC_AUTHORIZATION_FAILED,
        )
    };
    let Some(name) = wanted.name else {
        if let Some(topic) = ctx.storage.topic_by_id(&wanted.topic_id) {
            if !ctx.authorize(op::DESCRIBE, resource::TOPIC, &topic.name) {
                let name = (ctx.version < 12).then_some(Cow::Borrowed(""));
                return missing(name, wanted.topic_id, error::TOPIC_AUTHORIZATION_FAILED);
            }
            return describe_topic(node_id, topic, topic.name.clone().into(), ops);
        }
        // Before v12 a response name cannot be null.
        let name = (ctx.version < 12).then_some(Cow::Borrowed(""));
        return missing(name, wanted.topic_id, error::UNKNOWN_TOPIC_ID);
    };
    if !ctx.authorize(op::DESCRIBE, resource::TOPIC, name) {
        return unauthorized(name);
    }
    if let Some(topic) = ctx.storage.topic(name) {
        return describe_topic(node_id, topic, name.into(), ops);
    }
    // A missing name is still a topic the client may describe: Kafka fills its operations
    // (an unknown id above is not, and gets none).
    let name_topic = |code| Topic {
        topic_authorized_operations: operations::if_asked(ops, operations::TOPIC),
        ..missing(Some(name.into()), [0; 16], code)
    };
    if crate::storage::validate_topic_name(name).is_err() {
        return name_topic(error::INVALID_TOPIC_EXCEPTION);
    }
    if !(ctx.config.auto_create_topics && request.allow_auto_topic_creation) {
        return name_topic(error::UNKNOWN_TOPIC_OR_PARTITION);
    }
    if !ctx.authorize_cluster(op::CREATE) && !ctx.authorize(op::CREATE, resource::TOPIC, name) {
        return unauthorized(name);
    }
    if !create {
        return name_topic(error::LEADER_NOT_AVAILABLE);
    }
    let partitions = ctx.config.num_partitions;
    match ctx.storage.create_topic(name, partitions, &[]) {
        Ok(topic) => describe_topic(node_id, topic, name.into(), ops),
        Err(e) => {
            log::error!("auto-creating topic {name}: {e:?}");
            name_topic(error::UNKNOWN_SERVER_ERROR)
        }
    }
}

/// The one broker clients see: the advertised address of the listener the client came in
/// on, or else the address it reached.
pub fn advertised_broker(ctx: &Context) -> Broker {
    let advertised = ctx
        .config
        .listeners
        .get(ctx.session.listener)
        .and_then(|l| l.advertised.as_ref());
    let (host, port) = match advertised {
        Some((host, port)) => (host.clone(), i32::from(*port)),
        None => (
            ctx.local_addr.ip().to_string(),
            i32::from(ctx.local_addr.port()),
        ),
    };
    Broker {
        node_id: ctx.config.node_id,
        host,
        port,
        rack: None,
    }
}

/// The metadata of one stored topic, under `name` (the request's, when it has one).
fn describe_topic<'a>(
    node_id: i32,
    topic: &crate::storage::Topic,
    name: Cow<'a, str>,
    include_operations: bool,
) -> Topic<'a> {
    let partitions = topic.partitions.iter().enumerate();
    Topic {
        is_internal: crate::storage::is_internal_topic(&name),
        name: Some(name),
        topic_id: topic.id,
        partitions: partitions
            .map(|(index, p)| offline_or_led(node_id, index as i32, p))
            .collect(),
        topic_authorized_operations: operations::if_asked(include_operations, operations::TOPIC),
        ..Topic::default()
    }
}

/// A partition as this node leads it; an offline one (its log found corrupt) has no leader,
/// no in-sync replica and this node among its offline replicas, with KAFKA_STORAGE_ERROR.
fn offline_or_led(node_id: i32, index: i32, p: &crate::storage::Partition) -> Partition {
    let offline = p.log.is_offline();
    Partition {
        error_code: if offline {
            error::KAFKA_STORAGE_ERROR
        } else {
            error::NONE
        },
        partition_index: index,
        leader_id: if offline { -1 } else { node_id },
        leader_epoch: p.leader_epoch,
        replica_nodes: vec![node_id],
        isr_nodes: if offline { Vec::new() } else { vec![node_id] },
        offline_replicas: if offline { vec![node_id] } else { Vec::new() },
    }
}

fn missing<'a>(name: Option<Cow<'a, str>>, topic_id: [u8; 16], error_code: i16) -> Topic<'a> {
    Topic {
        error_code,
        name,
        topic_id,
        ..Topic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn request(version: i16, body: &[u8]) -> Request<'_> {
        decode(body, Metadata::SPEC.ver(version)).unwrap()
    }

    fn response_bytes(response: &Response, version: i16) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, Metadata::SPEC.ver(version), &mut out).unwrap();
        out
    }

    fn named(name: &str) -> RequestTopic<'_> {
        RequestTopic {
            topic_id: [0; 16],
            name: Some(name),
        }
    }

    #[test]
    fn metadata_v0_and_v1_request_bytes() {
        let body = [0, 0, 0, 1, 0, 3, b'f', b'o', b'o']; // topics: 1, name "foo"
        let v0 = request(0, &body);
        assert_eq!(v0.topics, Some(vec![named("foo")]));
        assert!(v0.allow_auto_topic_creation, "true before v4");
        // v1: null means all topics, empty none (the handler reads v0's empty as all).
        assert_eq!(request(1, &[0xff, 0xff, 0xff, 0xff]).topics, None);
        assert_eq!(request(1, &[0, 0, 0, 0]).topics, Some(vec![]));
    }

    #[test]
    fn metadata_v9_request_bytes() {
        let body = [
            0x02, 0x04, b'f', b'o', b'o', 0x00, // topics: 1 (compact), name "foo", tags
            0x00, 0x01,
            0x00, // allow_auto_topic_creation false, cluster ops true, topic ops false
            0x00, // tags
        ];
        let expected = Request {
            topics: Some(vec![named("foo")]),
            allow_auto_topic_creation: false,
            include_cluster_authorized_operations: true,
            include_topic_authorized_operations: false,
        };
        assert_eq!(request(9, &body), expected);
    }

    #[test]
    fn metadata_v12_and_v13_request_by_id_and_null_topics() {
        let mut body = vec![0x02]; // topics: 1 (compact)
        body.extend([0xab; 16]); // topic_id
        // name null, topic tags, allow_auto_topic_creation, topic operations, tags.
        body.extend([0x00, 0x00, 0x01, 0x01, 0x00]);
        let by_id = RequestTopic {
            topic_id: [0xab; 16],
            name: None,
        };
        for version in [12, 13] {
            let request = request(version, &body);
            assert_eq!(request.topics, Some(vec![by_id.clone()]));
            assert!(
                request.allow_auto_topic_creation && request.include_topic_authorized_operations
            );
        }
        // Null topics (compact 0), two booleans, an unknown tag 5 of 2 bytes (skipped).
        let all = [0x00, 0x01, 0x00, 0x01, 0x05, 0x02, 0xee, 0xee];
        assert_eq!(request(12, &all).topics, None);
    }

    fn one_topic_response() -> Response<'static> {
        let partition = Partition {
            error_code: 0,
            partition_index: 0,
            leader_id: 1,
            leader_epoch: 5,
            replica_nodes: vec![1],
            isr_nodes: vec![1],
            offline_replicas: vec![],
        };
        let broker = Broker {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            rack: None,
        };
        Response {
            brokers: vec![broker],
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![Topic {
                name: Some("t".into()),
                topic_id: [7; 16],
                partitions: vec![partition],
                ..Topic::default()
            }],
            ..Response::default()
        }
    }

    #[test]
    fn metadata_v0_response_bytes() {
        let expected = [
            0, 0, 0, 1, 0, 0, 0, 1, // brokers: 1, node_id 1
            0, 1, b'h', 0, 0, 0x23, 0x84, // host "h", port 9092
            0, 0, 0, 1, 0, 0, 0, 1, b't', // topics: 1, error_code, name "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partitions: 1, error_code, partition_index 0
            0, 0, 0, 1, // leader_id 1
            0, 0, 0, 1, 0, 0, 0, 1, // replica_nodes [1]
            0, 0, 0, 1, 0, 0, 0, 1, // isr_nodes [1]
        ];
        assert_eq!(response_bytes(&one_topic_response(), 0), expected);
    }

    #[test]
    fn metadata_v12_and_v13_response_bytes() {
        let mut v12 = vec![
            0, 0, 0, 0, 0x02, 0, 0, 0, 1, // throttle_time_ms, brokers: 1 (compact), node_id 1
            0x02, b'h', 0, 0, 0x23, 0x84, // host "h", port 9092
            0x00, 0x00, 0x02, b'c', // rack null, broker tags, cluster_id "c"
            0, 0, 0, 1, 0x02, // controller_id 1, topics: 1
            0, 0, 0x02, b't', // error_code, name "t"
        ];
        v12.extend([7; 16]); // topic_id
        v12.extend([
            0x00, 0x02, 0, 0, // is_internal false, partitions: 1, error_code
            0, 0, 0, 0, 0, 0, 0, 1, // partition_index 0, leader_id 1
            0, 0, 0, 5, // leader_epoch 5
            0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1, // replica_nodes [1], isr_nodes [1]
            0x01, 0x00, // offline_replicas [], partition tags
            0x80, 0, 0, 0, 0x00, // topic_authorized_operations i32::MIN, topic tags
        ]);
        let mut v13 = v12.clone();
        v12.push(0x00); // tags (no cluster_authorized_operations after v10)
        assert_eq!(response_bytes(&one_topic_response(), 12), v12);
        v13.extend([0, 0, 0x00]); // v13: the top-level error_code 0, then tags
        assert_eq!(response_bytes(&one_topic_response(), 13), v13);
    }

    #[test]
    fn metadata_v10_response_carries_the_operations_asked_for() {
        let mut response = one_topic_response();
        response.topics[0].topic_authorized_operations = operations::TOPIC;
        response.cluster_authorized_operations = operations::CLUSTER;
        let bytes = response_bytes(&response, 10);
        // ... topic_authorized_operations 0x0df8, topic tags, then the cluster's 0x1fa0, tags.
        assert_eq!(
            &bytes[bytes.len() - 10..],
            [0, 0, 0x0d, 0xf8, 0x00, 0, 0, 0x1f, 0xa0, 0x00]
        );
        // v11 has no cluster field: the topic's bitfield and two tag sections end the body.
        let v11 = response_bytes(&response, 11);
        assert_eq!(&v11[v11.len() - 6..], [0, 0, 0x0d, 0xf8, 0x00, 0x00]);
    }
}
