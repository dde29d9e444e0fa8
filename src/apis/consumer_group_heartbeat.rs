//! ConsumerGroupHeartbeat (key 68): a member of a consumer group of Kafka's consumer
//! protocol (KIP-848) joins (member epoch 0), stays (its epoch, with what it owns), or
//! leaves (-1; -2 for a static member that will return), and is answered at once with its
//! epoch and, when it changed, the partitions it may use. The state machine is
//! `consumer_groups`.
//! - v0: first version, flexible; the coordinator makes up a joining member's id.
//! - v1: adds subscribed_topic_regex (KIP-848's server-side regex); the member makes up its
//!   own id (KIP-1082), so an empty member id is INVALID_REQUEST.

use super::{Answer, Api, Context};
use crate::configs::GroupConfig;
use crate::consumer_groups::{
    Assignment, Heartbeat, JOIN_EPOCH, LEAVE_EPOCH, STATIC_LEAVE_EPOCH, Settings, TopicImage,
    TopicMeta,
};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};
use crate::storage::dynamic::RESOURCE_GROUP;

pub const INVALID_REGULAR_EXPRESSION: i16 = 128;

message! {
    pub struct Request<'a> {
        group_id: &'a str = "0+",
        member_id: &'a str = "0+",
        member_epoch: i32 = "0+",
        instance_id: Option<&'a str> = "0+" null "0+",
        rack_id: Option<&'a str> = "0+" null "0+",
        rebalance_timeout_ms: i32 = "0+" default -1,
        subscribed_topic_names: Option<Vec<&'a str>> = "0+" null "0+",
        subscribed_topic_regex: Option<&'a str> = "1+" null "1+",
        server_assignor: Option<&'a str> = "0+" null "0+",
        topic_partitions: Option<Vec<TopicPartitions>> = "0+" null "0+",
    }

    pub struct TopicPartitions {
        topic_id: [u8; 16] = "0+",
        partitions: Vec<i32> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        member_id: Option<String> = "0+" null "0+",
        member_epoch: i32 = "0+",
        heartbeat_interval_ms: i32 = "0+",
        assignment: Option<ResponseAssignment> = "0+" null "0+",
    }

    pub struct ResponseAssignment {
        topic_partitions: Vec<TopicPartitions> = "0+",
    }
}

pub struct ConsumerGroupHeartbeat;

impl Api for ConsumerGroupHeartbeat {
    const SPEC: ApiSpec = ApiSpec::new(68, "ConsumerGroupHeartbeat", "0-1", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        Answer::Respond(match heartbeat(ctx, &request) {
            Ok(response) => response,
            Err((error_code, message)) => Response {
                error_code,
                error_message: Some(message),
                ..Response::default()
            },
        })
    }
}

fn heartbeat(ctx: &mut Context, request: &Request) -> Result<Response, (i16, String)> {
    validate(request, ctx.version)?;
    let group_id = request.group_id;
    if !ctx.authorize(op::READ, resource::GROUP, group_id) {
        let message = "Not authorized to access group.".to_string();
        return Err((error::GROUP_AUTHORIZATION_FAILED, message));
    }
    if let Some(classic) = ctx.coordinator.group(group_id) {
        // An empty classic group becomes a consumer group when a member joins it, as
        // Kafka 4 converts it; a live one keeps its type (no online migration here).
        if !classic.members.is_empty() || request.member_epoch != JOIN_EPOCH {
            return Err((
                error::GROUP_ID_NOT_FOUND,
                format!("Group {group_id} is not a consumer group."),
            ));
        }
        ctx.coordinator.delete(group_id);
    }
    let generated;
    let member_id = if request.member_id.is_empty() {
        // v0 only (v1 refuses an empty id): the coordinator names the member.
        let uuid = crate::storage::random_uuid()
            .map_err(|e| (error::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        generated = crate::storage::base64url(&uuid);
        generated.as_str()
    } else {
        request.member_id
    };
    let topics = topic_image(ctx, request);
    let overrides = ctx.storage.resource_configs(RESOURCE_GROUP, group_id);
    let settings = Settings::new(
        &GroupConfig::resolve(overrides, &ctx.config.properties),
        &ctx.config.properties,
    );
    let client_host = format!("/{}", ctx.client_addr.ip());
    let owned = request.topic_partitions.as_ref().map(|tps| {
        let mut owned = Assignment::new();
        for tp in tps {
            owned
                .entry(tp.topic_id)
                .or_default()
                .extend(tp.partitions.iter().copied());
        }
        owned.retain(|_, ps| !ps.is_empty());
        owned
    });
    let hb = Heartbeat {
        group_id,
        member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id,
        rack_id: request.rack_id,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names.clone(),
        subscribed_topic_regex: request.subscribed_topic_regex,
        server_assignor: request.server_assignor,
        owned,
        client_id: ctx.client_id.unwrap_or(""),
        client_host: &client_host,
    };
    let beat = ctx
        .coordinator
        .consumer
        .heartbeat(&hb, &topics, &settings, ctx.now)?;
    let assignment = beat.assignment.map(|a| ResponseAssignment {
        topic_partitions: a
            .into_iter()
            .map(|(topic_id, ps)| TopicPartitions {
                topic_id,
                partitions: ps.into_iter().collect(),
            })
            .collect(),
    });
    Ok(Response {
        throttle_time_ms: 0,
        error_code: error::NONE,
        error_message: None,
        member_id: Some(beat.member_id),
        member_epoch: beat.member_epoch,
        heartbeat_interval_ms: beat.heartbeat_interval_ms,
        assignment,
    })
}

/// The topics the group's subscriptions can name: every topic when a member (or this
/// request) subscribes by regex, else only those named (the group's and this request's).
fn topic_image(ctx: &Context, request: &Request) -> TopicImage {
    let meta = |t: &crate::storage::Topic| TopicMeta {
        id: t.id,
        partitions: t.partitions.len() as i32,
    };
    let group = ctx.coordinator.consumer.group(request.group_id);
    let by_regex = request
        .subscribed_topic_regex
        .is_some_and(|r| !r.is_empty())
        || group.is_some_and(|g| {
            g.members
                .values()
                .any(|m| m.subscribed_topic_regex.is_some())
        });
    if by_regex {
        return ctx
            .storage
            .topics()
            .map(|t| (t.name.clone(), meta(t)))
            .collect();
    }
    let named = group
        .into_iter()
        .flat_map(|g| g.members.values())
        .flat_map(|m| m.subscribed_topic_names.iter().map(String::as_str))
        .chain(request.subscribed_topic_names.iter().flatten().copied());
    named
        .filter_map(|name| ctx.storage.topic(name).map(|t| (t.name.clone(), meta(t))))
        .collect()
}

/// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`, with its messages.
fn validate(request: &Request, version: i16) -> Result<(), (i16, String)> {
    let invalid = |m: &str| Err((error::INVALID_REQUEST, m.to_string()));
    if request.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if request.instance_id == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if request.rack_id == Some("") {
        return invalid("RackId can't be empty.");
    }
    if version >= 1 && request.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    match request.member_epoch {
        JOIN_EPOCH => {
            if request.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if request
                .topic_partitions
                .as_ref()
                .is_none_or(|t| !t.is_empty())
            {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            let names = request
                .subscribed_topic_names
                .as_ref()
                .is_some_and(|n| !n.is_empty());
            let regex = request
                .subscribed_topic_regex
                .is_some_and(|r| !r.is_empty());
            if !names && !regex {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        STATIC_LEAVE_EPOCH => {
            if request.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
            if request.instance_id.is_none() {
                return invalid("InstanceId can't be null.");
            }
        }
        epoch if epoch > 0 || epoch == LEAVE_EPOCH => {
            if request.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        _ => return invalid("MemberEpoch is invalid."),
    }
    if let Some(regex) = request.subscribed_topic_regex
        && crate::topic_regex::compile(regex).is_err()
    {
        return Err((
            INVALID_REGULAR_EXPRESSION,
            format!("SubscribedTopicRegex `{regex}` is not a valid regular expression."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    /// A v1 join: group "g", member "m", epoch 0, no instance or rack, rebalance timeout
    /// 300000, subscribed to "t", regex null, assignor "range", owning nothing.
    #[test]
    fn consumer_group_heartbeat_v1_join_request() {
        let body = [
            2, b'g', // group_id
            2, b'm', // member_id
            0, 0, 0, 0, // member_epoch 0
            0, // instance_id null
            0, // rack_id null
            0, 4, 0x93, 0xe0, // rebalance_timeout_ms 300000
            2, 2, b't', // subscribed_topic_names ["t"]
            0,    // subscribed_topic_regex null
            6, b'r', b'a', b'n', b'g', b'e', // server_assignor "range"
            1,    // topic_partitions []
            0,    // no tagged fields
        ];
        let request = Request {
            group_id: "g",
            member_id: "m",
            member_epoch: 0,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 300_000,
            subscribed_topic_names: Some(vec!["t"]),
            subscribed_topic_regex: None,
            server_assignor: Some("range"),
            topic_partitions: Some(vec![]),
        };
        assert_wire::<ConsumerGroupHeartbeat, _>(1, &body, &request);
        assert_eq!(validate(&request, 1), Ok(()));
        // v0 has no regex field: the same request is one byte shorter.
        let mut v0 = body.to_vec();
        v0.remove(17);
        assert_wire::<ConsumerGroupHeartbeat, _>(0, &v0, &request);
    }

    #[test]
    fn consumer_group_heartbeat_v0_response_with_assignment() {
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, // error_code
            0, // error_message null
            2, b'm', // member_id "m"
            0, 0, 0, 3, // member_epoch 3
            0, 0, 0x13, 0x88, // heartbeat_interval_ms 5000
            1,    // assignment present
            2,    // one topic
            7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // topic_id
            3, 0, 0, 0, 0, 0, 0, 0, 2, // partitions [0, 2]
            0, // topic's tagged fields
            0, // assignment's tagged fields
            0, // response's tagged fields
        ];
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            error_message: None,
            member_id: Some("m".into()),
            member_epoch: 3,
            heartbeat_interval_ms: 5000,
            assignment: Some(ResponseAssignment {
                topic_partitions: vec![TopicPartitions {
                    topic_id: [7; 16],
                    partitions: vec![0, 2],
                }],
            }),
        };
        assert_wire::<ConsumerGroupHeartbeat, _>(0, &body, &response);
    }

    #[test]
    fn consumer_group_heartbeat_v1_error_response() {
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 110, // FENCED_MEMBER_EPOCH
            2, b'x', // error_message "x"
            0,    // member_id null
            0, 0, 0, 0, // member_epoch
            0, 0, 0, 0,    // heartbeat_interval_ms
            0xff, // assignment null
            0,    // tagged fields
        ];
        let response = Response {
            error_code: 110,
            error_message: Some("x".into()),
            ..Response::default()
        };
        assert_wire::<ConsumerGroupHeartbeat, _>(1, &body, &response);
    }

    #[test]
    fn invalid_requests_have_kafkas_messages() {
        let join = Request {
            group_id: "g",
            member_id: "m",
            rebalance_timeout_ms: 1000,
            subscribed_topic_names: Some(vec!["t"]),
            topic_partitions: Some(vec![]),
            ..Request::default()
        };
        let message = |r: &Request, v| validate(r, v).unwrap_err().1;
        assert_eq!(
            message(
                &Request {
                    member_id: "",
                    ..join.clone()
                },
                1
            ),
            "MemberId can't be empty."
        );
        assert_eq!(
            validate(
                &Request {
                    member_id: "",
                    ..join.clone()
                },
                0
            ),
            Ok(())
        );
        assert_eq!(
            message(
                &Request {
                    rebalance_timeout_ms: -1,
                    ..join.clone()
                },
                1
            ),
            "RebalanceTimeoutMs must be provided in first request."
        );
        assert_eq!(
            message(
                &Request {
                    topic_partitions: None,
                    ..join.clone()
                },
                1
            ),
            "TopicPartitions must be empty when (re-)joining."
        );
        assert_eq!(
            message(
                &Request {
                    member_epoch: -3,
                    ..join.clone()
                },
                1
            ),
            "MemberEpoch is invalid."
        );
        assert_eq!(
            validate(
                &Request {
                    subscribed_topic_regex: Some("(x"),
                    ..join.clone()
                },
                1
            )
            .unwrap_err()
            .0,
            INVALID_REGULAR_EXPRESSION
        );
    }
}
