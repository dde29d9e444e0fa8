//! ListConfigResources (key 74): the resources that have configurations. We serve versions
//! 0-1, flexible from v0. Version 0 was ListClientMetricsResources (KIP-714) and lists
//! client metrics subscriptions only; v1 (KIP-1142) takes a list of resource types (empty:
//! every supported type) and names each resource's type.
//!
//! As Kafka 4.2 does: v1 answers UNSUPPORTED_VERSION with no resources when a requested
//! type is not one it lists (TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP);
//! resources come grouped by type in Kafka's order (GROUP, CLIENT_METRICS, BROKER_LOGGER,
//! BROKER, TOPIC); GROUP names the groups that have dynamic configs. No client metrics
//! subscriptions are kept, so v0's answer is empty.

use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP,
    RESOURCE_TOPIC,
};
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;

message! {
    pub struct Request {
        /// Empty: every supported type.
        resource_types: Vec<i8> = "1+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        config_resources: Vec<ConfigResource> = "0+",
    }

    pub struct ConfigResource {
        resource_name: String = "0+",
        resource_type: i8 = "1+" default 16,
    }
}

/// The types v1 lists, in the order Kafka lists them.
const TYPES: [i8; 5] = [
    RESOURCE_GROUP,
    RESOURCE_CLIENT_METRICS,
    RESOURCE_BROKER_LOGGER,
    RESOURCE_BROKER,
    RESOURCE_TOPIC,
];

pub struct ListConfigResources;

impl Api for ListConfigResources {
    const SPEC: ApiSpec = ApiSpec::new(74, "ListConfigResources", "0-1", "0+");
    type Request<'a> = Request;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let wanted = &request.resource_types;
        if ctx.version >= 1 && wanted.iter().any(|t| !TYPES.contains(t)) {
            return Answer::Respond(Response {
                throttle_time_ms: 0,
                error_code: error::UNSUPPORTED_VERSION,
                config_resources: Vec::new(),
            });
        }
        let listed = |t: i8| match ctx.version {
            0 => t == RESOURCE_CLIENT_METRICS,
            _ => wanted.is_empty() || wanted.contains(&t),
        };
        let node = ctx.config.node_id.to_string();
        let mut config_resources = Vec::new();
        for resource_type in TYPES.into_iter().filter(|&t| listed(t)) {
            let names: Vec<String> = match resource_type {
                RESOURCE_GROUP => {
                    use crate::storage::dynamic::RESOURCE_GROUP as GROUP;
                    let groups = ctx.storage.resources_with_configs(GROUP);
                    groups.map(str::to_string).collect()
                }
                RESOURCE_BROKER_LOGGER | RESOURCE_BROKER => vec![node.clone()],
                RESOURCE_TOPIC => ctx.storage.topics().map(|t| t.name.clone()).collect(),
                _ => Vec::new(),
            };
            config_resources.extend(names.into_iter().map(|resource_name| ConfigResource {
                resource_name,
                resource_type,
            }));
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            config_resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn list_config_resources_v0_and_v1_bytes() {
        // v0 has no body but its tags.
        assert_wire::<ListConfigResources, _>(0, &[0], &Request::default());
        assert_wire::<ListConfigResources, _>(
            1,
            &[3, 2, 32, 0], // resource_types [TOPIC, GROUP] (compact), tags
            &Request {
                resource_types: vec![2, 32],
            },
        );
        let response = |resource_type| Response {
            throttle_time_ms: 0,
            error_code: 0,
            config_resources: vec![ConfigResource {
                resource_name: "t".into(),
                resource_type,
            }],
        };
        // v0: no resource_type.
        assert_wire::<ListConfigResources, _>(
            0,
            &[0, 0, 0, 0, 0, 0, 2, 2, b't', 0, 0],
            &response(16),
        );
        assert_wire::<ListConfigResources, _>(
            1,
            &[0, 0, 0, 0, 0, 0, 2, 2, b't', 2, 0, 0],
            &response(2),
        );
    }
}
