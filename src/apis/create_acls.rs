//! CreateAcls (key 30), versions 1-3 (flexible from 2; Kafka 4 removed v0): adds ACL
//! bindings.
//!
//! - v1 adds the resource pattern type (KIP-290). v2 is the first flexible version.
//!
//! Without an authorizer each creation is answered as Kafka answers then: SECURITY_DISABLED,
//! "No Authorizer is configured.". With one: ALTER on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED for each), Kafka's validation (INVALID_REQUEST with
//! AclControlManager's messages), and the valid new bindings written as
//! AccessControlEntryRecords in one synced batch; a binding that exists already succeeds
//! and writes nothing.

use std::collections::BTreeSet;

use super::describe_acls::NO_AUTHORIZER;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::SECURITY_DISABLED;
use crate::security::authorizer::{self, op};
use crate::storage::acls::AclBinding;

message! {
    pub struct Request<'a> {
        creations: Vec<Creation<'a>> = "0+",
    }

    pub struct Creation<'a> {
        resource_type: i8 = "0+",
        resource_name: &'a str = "0+",
        resource_pattern_type: i8 = "1+" default 3,
        principal: &'a str = "0+",
        host: &'a str = "0+",
        operation: i8 = "0+",
        permission_type: i8 = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        results: Vec<CreationResult> = "0+",
    }

    pub struct CreationResult {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
    }
}

pub struct CreateAcls;

impl Api for CreateAcls {
    const SPEC: ApiSpec = ApiSpec::new(30, "CreateAcls", "1-3", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let fail = |code: i16, message: &str| CreationResult {
            error_code: code,
            error_message: Some(message.into()),
        };
        if ctx.security.authorizer.is_none() {
            let results = request
                .creations
                .iter()
                .map(|_| fail(SECURITY_DISABLED, NO_AUTHORIZER))
                .collect();
            return Answer::Respond(Response {
                results,
                ..Response::default()
            });
        }
        if !ctx.authorize_cluster(op::ALTER) {
            let results = request
                .creations
                .iter()
                .map(|_| CreationResult {
                    error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                    error_message: None,
                })
                .collect();
            return Answer::Respond(Response {
                results,
                ..Response::default()
            });
        }
        let mut results = Vec::with_capacity(request.creations.len());
        // A set: a request may repeat a binding any number of times; each is written once.
        let mut new: BTreeSet<AclBinding> = BTreeSet::new();
        for c in &request.creations {
            let binding = AclBinding {
                resource_type: c.resource_type,
                resource_name: c.resource_name.to_string(),
                pattern_type: c.resource_pattern_type,
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                operation: c.operation,
                permission_type: c.permission_type,
            };
            match authorizer::validate_new(&binding) {
                Err(message) => results.push(fail(error::INVALID_REQUEST, &message)),
                Ok(()) => {
                    if !ctx.storage.acls().contains(&binding) {
                        new.insert(binding);
                    }
                    results.push(CreationResult::default());
                }
            }
        }
        let mut records = Vec::with_capacity(new.len());
        for binding in &new {
            match crate::storage::random_uuid() {
                Ok(id) => records.push(binding.record(id)),
                Err(e) => return Answer::Respond(storage_failed(&request, &e)),
            }
        }
        if let Err(e) = ctx.storage.alter_acls(records) {
            return Answer::Respond(storage_failed(&request, &e));
        }
        Answer::Respond(Response {
            results,
            ..Response::default()
        })
    }
}

/// Every creation failed: the metadata log could not take them.
fn storage_failed(request: &Request, e: &std::io::Error) -> Response {
    let results = request
        .creations
        .iter()
        .map(|_| CreationResult {
            error_code: error::UNKNOWN_SERVER_ERROR,
            error_message: Some(format!("writing the ACLs failed: {e}")),
        })
        .collect();
    Response {
        results,
        ..Response::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_acls_v1_and_v2_bytes() {
        let creation = Creation {
            resource_type: 2,
            resource_name: "t",
            resource_pattern_type: 3,
            principal: "User:a",
            host: "*",
            operation: 3,
            permission_type: 3,
        };
        let mut v1 = vec![0, 0, 0, 1, 2, 0, 1, b't', 3, 0, 6];
        v1.extend_from_slice(b"User:a");
        v1.extend_from_slice(&[0, 1, b'*', 3, 3]);
        crate::apis::assert_wire::<CreateAcls, _>(
            1,
            &v1,
            &Request {
                creations: vec![creation.clone()],
            },
        );
        let mut body = vec![0, 0, 0, 0, 2, 0, 54, 29];
        body.extend_from_slice(NO_AUTHORIZER.as_bytes());
        body.extend_from_slice(&[0, 0]); // result tags, response tags
        crate::apis::assert_wire::<CreateAcls, _>(
            2,
            &body,
            &Response {
                results: vec![CreationResult {
                    error_code: SECURITY_DISABLED,
                    error_message: Some(NO_AUTHORIZER.into()),
                }],
                ..Response::default()
            },
        );
    }
}
