//! DescribeCluster (key 60): the cluster id, the controller and the brokers (here: this one).
//! We serve versions 0-2; every version is flexible.
//! - v0: the request may ask for the cluster's authorized operations.
//! - v1: endpoint_type in request and response (1 brokers, 2 controllers; KIP-919).
//! - v2: the request's include_fenced_brokers and each broker's is_fenced (KIP-1073).

use super::authorized_operations;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;

/// `endpoint_type`: describe the brokers (the default) or the controllers.
pub const ENDPOINT_TYPE_BROKERS: i8 = 1;
pub const ENDPOINT_TYPE_CONTROLLERS: i8 = 2;

message! {
    pub struct Request {
        include_cluster_authorized_operations: bool = "0+",
        endpoint_type: i8 = "1+" default ENDPOINT_TYPE_BROKERS,
        include_fenced_brokers: bool = "2+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        endpoint_type: i8 = "1+" default ENDPOINT_TYPE_BROKERS,
        cluster_id: String = "0+",
        controller_id: i32 = "0+" default -1,
        brokers: Vec<Broker> = "0+",
        cluster_authorized_operations: i32 = "0+" default authorized_operations::OMITTED,
    }

    pub struct Broker {
        broker_id: i32 = "0+",
        host: String = "0+",
        port: i32 = "0+",
        rack: Option<String> = "0+" null "0+",
        is_fenced: bool = "2+",
    }
}

pub struct DescribeCluster;

impl Api for DescribeCluster {
    const SPEC: ApiSpec = ApiSpec::new(60, "DescribeCluster", "0-2", "0+");
    type Request<'a> = Request;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let me = super::metadata::advertised_broker(ctx);
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            error_message: None,
            endpoint_type: request.endpoint_type,
            cluster_id: ctx.storage.cluster_id.clone(),
            controller_id: ctx.config.node_id,
            brokers: vec![Broker {
                broker_id: me.node_id,
                host: me.host,
                port: me.port,
                rack: None,
                is_fenced: false,
            }],
            cluster_authorized_operations: ctx.authorized_operations(
                request.include_cluster_authorized_operations,
                crate::security::authorizer::resource::CLUSTER,
                crate::security::authorizer::CLUSTER_NAME,
                authorized_operations::CLUSTER,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    #[test]
    fn describe_cluster_v0_and_v2_request_bytes() {
        let v0 = [
            0x01, // include_cluster_authorized_operations true
            0x00, // tags
        ];
        let request: Request = decode(&v0, DescribeCluster::SPEC.ver(0)).unwrap();
        assert_eq!(
            request,
            Request {
                include_cluster_authorized_operations: true,
                endpoint_type: ENDPOINT_TYPE_BROKERS,
                include_fenced_brokers: false,
            }
        );
        let v2 = [
            0x00, // include_cluster_authorized_operations false
            0x01, // endpoint_type 1 (brokers)
            0x01, // include_fenced_brokers true
            0x01, 0x03, 0x01, 0xaa, // tags: one unknown field (tag 3, 1 byte), skipped
        ];
        let request: Request = decode(&v2, DescribeCluster::SPEC.ver(2)).unwrap();
        assert_eq!(
            request,
            Request {
                include_cluster_authorized_operations: false,
                endpoint_type: ENDPOINT_TYPE_BROKERS,
                include_fenced_brokers: true,
            }
        );
    }

    fn one_broker(version: i16, rack: Option<&str>, is_fenced: bool) -> Vec<u8> {
        let response = Response {
            cluster_id: "c".into(),
            controller_id: 1,
            brokers: vec![Broker {
                broker_id: 1,
                host: "h".into(),
                port: 9092,
                rack: rack.map(String::from),
                is_fenced,
            }],
            ..Response::default()
        };
        let mut out = Vec::new();
        encode(&response, DescribeCluster::SPEC.ver(version), &mut out).unwrap();
        out
    }

    #[test]
    fn describe_cluster_v0_response_bytes() {
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0,    // error_code 0
            0x00, // error_message null
            0x02, b'c', // cluster_id "c"
            0, 0, 0, 1,    // controller_id 1
            0x02, // brokers: compact count 1
            0, 0, 0, 1, // broker_id 1
            0x02, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0x00, // rack null
            0x00, // broker tags
            0x80, 0, 0, 0,    // cluster_authorized_operations i32::MIN
            0x00, // tags
        ];
        assert_eq!(one_broker(0, None, false), expected);
    }

    #[test]
    fn describe_cluster_v2_response_bytes() {
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0,    // error_code 0
            0x00, // error_message null
            0x01, // endpoint_type 1 (brokers)
            0x02, b'c', // cluster_id "c"
            0, 0, 0, 1,    // controller_id 1
            0x02, // brokers: compact count 1
            0, 0, 0, 1, // broker_id 1
            0x02, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0x02, b'r', // rack "r"
            0x01, // is_fenced true
            0x00, // broker tags
            0x80, 0, 0, 0,    // cluster_authorized_operations i32::MIN
            0x00, // tags
        ];
        assert_eq!(one_broker(2, Some("r"), true), expected);
    }
}
