//! DeleteAcls (key 31), versions 1-3 (flexible from 2; Kafka 4 removed v0): removes the
//! ACLs matching each filter.
//!
//! - v1 adds the pattern type filter (KIP-290). v2 is the first flexible version.
//!
//! No authorizer is served, so each filter is answered as Kafka answers without one:
//! SECURITY_DISABLED, "No Authorizer is configured.", no matching ACLs.

use super::describe_acls::NO_AUTHORIZER;
use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::versions::ApiSpec;
use crate::security::SECURITY_DISABLED;

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

    fn handle<'a>(_ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let filter_results = request
            .filters
            .iter()
            .map(|_| FilterResult {
                error_code: SECURITY_DISABLED,
                error_message: Some(NO_AUTHORIZER.into()),
                matching_acls: Vec::new(),
            })
            .collect();
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
