//! DeleteAcls (key 31), versions 1-3 (flexible from 2; Kafka 4 removed v0): removes the
//! ACLs matching each filter.
//!
//! - v1 adds the pattern type filter (KIP-290). v2 is the first flexible version.
//!
//! Without an authorizer each filter is answered as Kafka answers then: SECURITY_DISABLED,
//! "No Authorizer is configured.", no matching ACLs. With one: ALTER on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED for each filter), an unknown filter code INVALID_REQUEST,
//! and every binding a valid filter matches removed (RemoveAccessControlEntryRecords, one
//! synced batch for the request) and returned under each filter that matched it.

use std::collections::BTreeSet;

use super::describe_acls::NO_AUTHORIZER;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::SECURITY_DISABLED;
use crate::security::authorizer::{Filter as AclFilter, op};
use crate::storage::metadata::MetadataRecord;

message! {
    pub struct Request<'a> {
        filters: Vec<Filter<'a>> = "0+",
    }

    pub struct Filter<'a> {
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
        filter_results: Vec<FilterResult> = "0+",
    }

    pub struct FilterResult {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        matching_acls: Vec<MatchingAcl> = "0+",
    }

    pub struct MatchingAcl {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        resource_type: i8 = "0+",
        resource_name: String = "0+",
        pattern_type: i8 = "1+" default 3,
        principal: String = "0+",
        host: String = "0+",
        operation: i8 = "0+",
        permission_type: i8 = "0+",
    }
}

pub struct DeleteAcls;

impl Api for DeleteAcls {
    const SPEC: ApiSpec = ApiSpec::new(31, "DeleteAcls", "1-3", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let all_failed = |code: i16, message: Option<&str>| {
            let filter_results = request
                .filters
                .iter()
                .map(|_| FilterResult {
                    error_code: code,
                    error_message: message.map(str::to_string),
                    matching_acls: Vec::new(),
                })
                .collect();
            Answer::Respond(Response {
                filter_results,
                ..Response::default()
            })
        };
        if ctx.security.authorizer.is_none() {
            return all_failed(SECURITY_DISABLED, Some(NO_AUTHORIZER));
        }
        if !ctx.authorize_cluster(op::ALTER) {
            return all_failed(error::CLUSTER_AUTHORIZATION_FAILED, None);
        }
        // A set: filters may overlap, and each id is removed once.
        let mut removed = BTreeSet::new();
        let mut filter_results = Vec::with_capacity(request.filters.len());
        for f in &request.filters {
            let filter = AclFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter,
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter,
                host: f.host_filter,
                operation: f.operation,
                permission_type: f.permission_type,
            };
            if let Err(message) = filter.validate() {
                filter_results.push(FilterResult {
                    error_code: error::INVALID_REQUEST,
                    error_message: Some(message.into()),
                    matching_acls: Vec::new(),
                });
                continue;
            }
            let mut matching_acls = Vec::new();
            for (id, b) in ctx.storage.acls().iter().filter(|(_, b)| filter.matches(b)) {
                removed.insert(*id);
                matching_acls.push(MatchingAcl {
                    error_code: 0,
                    error_message: None,
                    resource_type: b.resource_type,
                    resource_name: b.resource_name.clone(),
                    pattern_type: b.pattern_type,
                    principal: b.principal.clone(),
                    host: b.host.clone(),
                    operation: b.operation,
                    permission_type: b.permission_type,
                });
            }
            filter_results.push(FilterResult {
                matching_acls,
                ..FilterResult::default()
            });
        }
        let records = removed
            .into_iter()
            .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
            .collect();
        if let Err(e) = ctx.storage.alter_acls(records) {
            let message = format!("removing the ACLs failed: {e}");
            return all_failed(error::UNKNOWN_SERVER_ERROR, Some(&message));
        }
        Answer::Respond(Response {
            filter_results,
            ..Response::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_acls_v1_and_v2_bytes() {
        crate::apis::assert_wire::<DeleteAcls, _>(
            1,
            &[0, 0, 0, 1, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, 1, 1],
            &Request {
                filters: vec![Filter {
                    resource_type_filter: 1,
                    resource_name_filter: None,
                    pattern_type_filter: 1,
                    principal_filter: None,
                    host_filter: None,
                    operation: 1,
                    permission_type: 1,
                }],
            },
        );
        let mut body = vec![0, 0, 0, 0, 2, 0, 54, 29];
        body.extend_from_slice(NO_AUTHORIZER.as_bytes());
        body.extend_from_slice(&[1, 0, 0]); // no matching acls, result tags, tags
        crate::apis::assert_wire::<DeleteAcls, _>(
            2,
            &body,
            &Response {
                filter_results: vec![FilterResult {
                    error_code: SECURITY_DISABLED,
                    error_message: Some(NO_AUTHORIZER.into()),
                    matching_acls: Vec::new(),
                }],
                ..Response::default()
            },
        );
    }
}
