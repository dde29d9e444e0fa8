//! AlterConfigs (key 33): replaces the dynamic configuration of topics, brokers and groups
//! (keys not given lose their dynamic value, as in Kafka), or with validate_only checks
//! that it could. We serve versions 0-2, flexible from v2.
//! - v1: no change on the wire (responses go out before throttling).
//! - v2: first flexible version.
//!
//! Per resource: INVALID_REQUEST for a resource named twice, duplicate keys, a null value,
//! BROKER_LOGGER (never served by this API in Kafka) or an unknown type; INVALID_CONFIG
//! naming the key for a bad topic or group value; INVALID_REQUEST for a broker key Kafka
//! does not change at run time; UNKNOWN_TOPIC_OR_PARTITION for a missing topic.

use super::config_change::{self, Change, OP_SET};
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::versions::ApiSpec;

message! {
    pub struct Request<'a> {
        resources: Vec<Resource<'a>> = "0+",
        validate_only: bool = "0+",
    }

    pub struct Resource<'a> {
        resource_type: i8 = "0+",
        resource_name: &'a str = "0+",
        configs: Vec<Config<'a>> = "0+",
    }

    pub struct Config<'a> {
        name: &'a str = "0+",
        value: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        responses: Vec<ResourceResponse> = "0+",
    }

    pub struct ResourceResponse {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        resource_type: i8 = "0+",
        resource_name: String = "0+",
    }
}

pub struct AlterConfigs;

impl Api for AlterConfigs {
    const SPEC: ApiSpec = ApiSpec::new(33, "AlterConfigs", "0-2", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let changes: Vec<Change> = request
            .resources
            .iter()
            .map(|resource| Change {
                resource_type: resource.resource_type,
                name: resource.resource_name,
                ops: resource
                    .configs
                    .iter()
                    .map(|c| (c.name, OP_SET, c.value))
                    .collect(),
                replace: true,
            })
            .collect();
        let outcomes = config_change::apply_all(ctx, &changes, request.validate_only);
        let responses = request
            .resources
            .iter()
            .zip(outcomes)
            .map(|(resource, (error_code, error_message))| ResourceResponse {
                error_code,
                error_message,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.to_string(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            responses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn alter_configs_v0_bytes() {
        let request = Request {
            resources: vec![Resource {
                resource_type: 2,
                resource_name: "t",
                configs: vec![Config {
                    name: "k",
                    value: Some("v"),
                }],
            }],
            validate_only: true,
        };
        let body = [
            0, 0, 0, 1, // resources: 1
            2, // resource_type 2 (topic)
            0, 1, b't', // resource_name "t"
            0, 0, 0, 1, // configs: 1
            0, 1, b'k', // name "k"
            0, 1, b'v', // value "v"
            1,    // validate_only
        ];
        assert_wire::<AlterConfigs, _>(0, &body, &request);
        let response = Response {
            throttle_time_ms: 0,
            responses: vec![ResourceResponse {
                error_code: 40,
                error_message: Some("m".into()),
                resource_type: 2,
                resource_name: "t".into(),
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 40, // error_code INVALID_CONFIG
            0, 1, b'm', // error_message "m"
            2,    // resource_type
            0, 1, b't', // resource_name
        ];
        assert_wire::<AlterConfigs, _>(1, &body, &response);
    }

    #[test]
    fn alter_configs_v2_bytes() {
        let request = Request {
            resources: vec![Resource {
                resource_type: 4,
                resource_name: "",
                configs: vec![Config {
                    name: "k",
                    value: None,
                }],
            }],
            validate_only: false,
        };
        let body = [
            2, // resources: compact 1
            4, // resource_type 4 (broker)
            1, // resource_name "" (compact)
            2, // configs: compact 1
            2, b'k', // name "k"
            0,    // value null
            0,    // config tags
            0,    // resource tags
            0,    // validate_only
            0,    // tags
        ];
        assert_wire::<AlterConfigs, _>(2, &body, &request);
        let response = Response {
            throttle_time_ms: 0,
            responses: vec![ResourceResponse {
                error_code: 0,
                error_message: None,
                resource_type: 4,
                resource_name: "".into(),
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            2, // responses: compact 1
            0, 0, // error_code
            0, // error_message null
            4, // resource_type
            1, // resource_name ""
            0, // response tags
            0, // tags
        ];
        assert_wire::<AlterConfigs, _>(2, &body, &response);
    }
}
