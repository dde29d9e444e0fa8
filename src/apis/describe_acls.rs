//! DescribeAcls (key 29), versions 1-3 (flexible from 2; Kafka 4 removed v0): the ACLs
//! matching a filter.
//!
//! - v1 adds the pattern type filter (KIP-290: LITERAL, PREFIXED, ANY, MATCH).
//! - v2 is the first flexible version; v3 adds USER_GROUP resources (KIP-1196's reserve).
//!
//! Without an authorizer every request is answered as Kafka answers then:
//! SECURITY_DISABLED, "No Authorizer is configured.". With one: DESCRIBE on the cluster
//! (else CLUSTER_AUTHORIZATION_FAILED), an unknown filter code INVALID_REQUEST, and the
//! matching bindings grouped by resource pattern.

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::SECURITY_DISABLED;
use crate::security::authorizer::{Filter, op};

/// Kafka's message for the ACL APIs without an authorizer.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

message! {
    pub struct Request<'a> {
        resource_type_filter: i8 = "0+",
        resource_name_filter: Option<&'a str> = "0+" null "0+",
        pattern_type_filter: i8 = "1+" default 3,
        principal_filter: Option<&'a str> = "0+" null "0+",
        host_filter: Option<&'a str> = "0+" null "0+",
        operation: i8 = "0+",
        permission_type: i8 = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        resources: Vec<Resource> = "0+",
    }

    pub struct Resource {
        resource_type: i8 = "0+",
        resource_name: String = "0+",
        pattern_type: i8 = "1+" default 3,
        acls: Vec<AclDescription> = "0+",
    }

    pub struct AclDescription {
        principal: String = "0+",
        host: String = "0+",
        operation: i8 = "0+",
        permission_type: i8 = "0+",
    }
}

pub struct DescribeAcls;

impl Api for DescribeAcls {
    const SPEC: ApiSpec = ApiSpec::new(29, "DescribeAcls", "1-3", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let failed = |code: i16, message: Option<&str>| {
            Answer::Respond(Response {
                error_code: code,
                error_message: message.map(str::to_string),
                ..Response::default()
            })
        };
        if ctx.security.authorizer.is_none() {
            return failed(SECURITY_DISABLED, Some(NO_AUTHORIZER));
        }
        if !ctx.authorize_cluster(op::DESCRIBE) {
            return failed(error::CLUSTER_AUTHORIZATION_FAILED, None);
        }
        let filter = Filter {
            resource_type: request.resource_type_filter,
            resource_name: request.resource_name_filter,
            pattern_type: request.pattern_type_filter,
            principal: request.principal_filter,
            host: request.host_filter,
            operation: request.operation,
            permission_type: request.permission_type,
        };
        if let Err(message) = filter.validate() {
            return failed(error::INVALID_REQUEST, Some(message));
        }
        let mut by_pattern: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
        for b in ctx.storage.acls().bindings().filter(|b| filter.matches(b)) {
            let key = (b.resource_type, b.resource_name.as_str(), b.pattern_type);
            by_pattern.entry(key).or_default().push(AclDescription {
                principal: b.principal.clone(),
                host: b.host.clone(),
                operation: b.operation,
                permission_type: b.permission_type,
            });
        }
        let resources = by_pattern
            .into_iter()
            .map(|((resource_type, name, pattern_type), acls)| Resource {
                resource_type,
                resource_name: name.to_string(),
                pattern_type,
                acls,
            })
            .collect();
        Answer::Respond(Response {
            resources,
            ..Response::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_acls_v1_and_v3_bytes() {
        crate::apis::assert_wire::<DescribeAcls, _>(
            1,
            &[2, 0, 1, b't', 3, 0xff, 0xff, 0xff, 0xff, 1, 1],
            &Request {
                resource_type_filter: 2,
                resource_name_filter: Some("t"),
                pattern_type_filter: 3,
                principal_filter: None,
                host_filter: None,
                operation: 1,
                permission_type: 1,
            },
        );
        let mut body = vec![0, 0, 0, 0, 0, 54, 29];
        body.extend_from_slice(NO_AUTHORIZER.as_bytes());
        body.extend_from_slice(&[1, 0]); // no resources, tags
        crate::apis::assert_wire::<DescribeAcls, _>(
            3,
            &body,
            &Response {
                error_code: SECURITY_DISABLED,
                error_message: Some(NO_AUTHORIZER.into()),
                ..Response::default()
            },
        );
    }
}
