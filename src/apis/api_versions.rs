//! ApiVersions (key 18): which APIs and versions we serve. v1 adds throttle_time_ms; v3 is
//! flexible and the request carries the client's software name and version. The response
//! always goes out with response header v0 (`ApiSpec::response_header_flexible`), so a
//! client can read it before it knows our versions. The tagged feature fields stay at their
//! defaults and so are left out: librdkafka 2.0.2 cannot read them.

use std::borrow::Cow;
use std::sync::LazyLock;

use super::{APIS, Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::{API_VERSIONS, ApiSpec};
use crate::protocol::wire::{self, Ver};

message! {
    pub struct Request<'a> {
        client_software_name: &'a str = "3+",
        client_software_version: &'a str = "3+",
    }

    pub struct Response<'a> {
        error_code: i16 = "0+",
        api_keys: Cow<'a, [ApiVersion]> = "0+",
        throttle_time_ms: i32 = "1+",
        supported_features: Vec<SupportedFeature> = "3+" tag 0,
        finalized_features_epoch: i64 = "3+" tag 1 default -1,
        finalized_features: Vec<FinalizedFeature> = "3+" tag 2,
        zk_migration_ready: bool = "3+" tag 3,
    }

    pub struct ApiVersion {
        api_key: i16 = "0+",
        min_version: i16 = "0+",
        max_version: i16 = "0+",
    }

    pub struct SupportedFeature {
        name: String = "3+",
        min_version: i16 = "3+",
        max_version: i16 = "3+",
    }

    pub struct FinalizedFeature {
        name: String = "3+",
        max_version_level: i16 = "3+",
        min_version_level: i16 = "3+",
    }
}

pub struct ApiVersions;

impl Api for ApiVersions {
    const SPEC: ApiSpec = ApiSpec::new(API_VERSIONS, "ApiVersions", "0-4", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if ctx.version >= 3 {
            log::trace!(
                "{} runs {} {}",
                ctx.client_addr,
                request.client_software_name,
                request.client_software_version
            );
        }
        Answer::Respond(Response {
            error_code: error::NONE,
            api_keys: Cow::Borrowed(&TABLE),
            ..Response::default()
        })
    }
}

/// The answer's table, built once from `APIS` (it never changes while we run).
static TABLE: LazyLock<Vec<ApiVersion>> =
    LazyLock::new(|| APIS.iter().map(|entry| api_version(&entry.spec)).collect());

fn api_version(spec: &ApiSpec) -> ApiVersion {
    ApiVersion {
        api_key: spec.key,
        min_version: spec.min,
        max_version: spec.max,
    }
}

/// The answer to an ApiVersions request at a version we do not support: a v0 body with
/// UNSUPPORTED_VERSION and our own ApiVersions range, so the client can retry.
pub fn encode_unsupported(out: &mut Vec<u8>) {
    let response = Response {
        error_code: error::UNSUPPORTED_VERSION,
        api_keys: Cow::Owned(vec![api_version(&ApiVersions::SPEC)]),
        ..Response::default()
    };
    let v0 = Ver {
        version: 0,
        flexible: false,
    };
    wire::encode(&response, v0, out).expect("a one-entry ApiVersions response encodes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_answer_is_a_v0_body() {
        let mut out = Vec::new();
        encode_unsupported(&mut out);
        assert_eq!(out, [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
    }
}
