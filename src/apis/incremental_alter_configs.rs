//! IncrementalAlterConfigs (key 44): changes single keys of topics, brokers, groups and
//! broker loggers: SET, DELETE, APPEND and SUBTRACT (the last two for list-typed keys such
//! as `cleanup.policy`), or with validate_only checks that it could. We serve versions 0-1,
//! flexible from v1 (its only change).
//!
//! Per resource: INVALID_REQUEST for a resource named twice, duplicate keys, a null value
//! for an operation other than DELETE or an unknown operation or resource type;
//! INVALID_CONFIG naming the key for a bad topic or group value, or for APPEND/SUBTRACT on
//! a key that is not a list; INVALID_REQUEST for a broker key Kafka does not change at run
//! time; UNKNOWN_TOPIC_OR_PARTITION for a missing topic. BROKER_LOGGER sets or removes a
//! log target's level at once (not persisted, as in Kafka).

use super::config_change::{self, Change};
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::versions::ApiSpec;

pub use super::alter_configs::ResourceResponse;

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
        /// SET 0, DELETE 1, APPEND 2, SUBTRACT 3.
        config_operation: i8 = "0+",
        value: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        responses: Vec<ResourceResponse> = "0+",
    }
}

pub struct IncrementalAlterConfigs;

impl Api for IncrementalAlterConfigs {
    const SPEC: ApiSpec = ApiSpec::new(44, "IncrementalAlterConfigs", "0-1", "1+");
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
                    .map(|c| (c.name, c.config_operation, c.value))
                    .collect(),
                replace: false,
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

    fn request(value: Option<&'static str>) -> Request<'static> {
        Request {
            resources: vec![Resource {
                resource_type: 2,
                resource_name: "t",
                configs: vec![Config {
                    name: "k",
                    config_operation: 2,
                    value,
                }],
            }],
            validate_only: false,
        }
    }

    #[test]
    fn incremental_alter_configs_v0_bytes() {
        let body = [
            0, 0, 0, 1, // resources: 1
            2, // resource_type 2 (topic)
            0, 1, b't', // resource_name "t"
            0, 0, 0, 1, // configs: 1
            0, 1, b'k', // name "k"
            2,    // config_operation APPEND
            0, 1, b'v', // value "v"
            0,    // validate_only
        ];
        assert_wire::<IncrementalAlterConfigs, _>(0, &body, &request(Some("v")));
        let response = Response {
            throttle_time_ms: 0,
            responses: vec![ResourceResponse {
                error_code: 0,
                error_message: None,
                resource_type: 2,
                resource_name: "t".into(),
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 0, // error_code
            0xff, 0xff, // error_message null
            2,    // resource_type
            0, 1, b't', // resource_name
        ];
        assert_wire::<IncrementalAlterConfigs, _>(0, &body, &response);
    }

    #[test]
    fn incremental_alter_configs_v1_bytes() {
        let body = [
            2, // resources: compact 1
            2, // resource_type
            2, b't', // resource_name "t"
            2,    // configs: compact 1
            2, b'k', // name "k"
            2,    // config_operation APPEND
            0,    // value null
            0,    // config tags
            0,    // resource tags
            0,    // validate_only
            0,    // tags
        ];
        assert_wire::<IncrementalAlterConfigs, _>(1, &body, &request(None));
        let response = Response {
            throttle_time_ms: 5,
            responses: vec![ResourceResponse {
                error_code: 42,
                error_message: Some("x".into()),
                resource_type: 8,
                resource_name: "1".into(),
            }],
        };
        let body = [
            0, 0, 0, 5, // throttle_time_ms
            2, // responses: compact 1
            0, 42, // error_code INVALID_REQUEST
            2, b'x', // error_message "x"
            8,    // resource_type BROKER_LOGGER
            2, b'1', // resource_name "1"
            0,    // response tags
            0,    // tags
        ];
        assert_wire::<IncrementalAlterConfigs, _>(1, &body, &response);
    }
}
