//! ApiVersions (key 18): which APIs and versions we serve. v1 adds throttle_time_ms; v3 is
//! flexible and the request carries the client's software name and version, and the
//! response its tagged feature fields (KIP-584). The response always goes out with response
//! header v0 (`ApiSpec::response_header_flexible`), so a client can read it before it knows
//! our versions.
//!
//! Features, v3+: the one feature true of us is `metadata.version`, supported from Kafka 4's
//! minimum (3.3-IV3, level 7) to Kafka 4.2's (4.2-IV1, level 29) and finalized at the level
//! the metadata log records (a log made by Kafka), else at 29, as a new Kafka 4.2 cluster
//! is. The others a 4.2 broker lists (kraft.version, group.version, transaction.version,
//! eligible.leader.replicas.version, share.version, streams.version) are left out: we have
//! a static one-voter quorum, no KIP-848 groups, no transactions, no ELR, share or streams
//! groups, so each would be finalized at 0, which Kafka does not list either. The epoch is
//! the metadata log's last offset, as a Kafka broker's is its metadata image's.
//!
//! librdkafka 2.0.2 (Debian's kcat) skips each tagged field one byte short. Kafka's layout
//! survives that: the supported list ends in a zero tag byte and the epoch's first byte is
//! zero, so the misread tags have length 0 and end within the body. So the three tags are
//! always sent together, with an epoch of 0 or more; a default-valued epoch (-1) would be
//! misread as a huge length ("Read underflow").

use std::borrow::Cow;
use std::sync::LazyLock;

use super::{APIS, Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::{API_VERSIONS, ApiSpec};
use crate::protocol::wire::{self, Ver};
use crate::storage::metadata::METADATA_VERSION;

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
        let finalized = ctx
            .storage
            .metadata_version
            .unwrap_or(METADATA_VERSION_LATEST);
        Answer::Respond(Response {
            error_code: error::NONE,
            api_keys: Cow::Borrowed(&TABLE),
            supported_features: vec![SupportedFeature {
                name: METADATA_VERSION.into(),
                min_version: METADATA_VERSION_MIN,
                max_version: METADATA_VERSION_LATEST,
            }],
            finalized_features_epoch: ctx.storage.metadata_offset(),
            finalized_features: vec![FinalizedFeature {
                name: METADATA_VERSION.into(),
                max_version_level: finalized,
                min_version_level: finalized,
            }],
            ..Response::default()
        })
    }
}

/// `metadata.version` levels: Kafka 4's minimum, 3.3-IV3, and Kafka 4.2's latest, 4.2-IV1.
const METADATA_VERSION_MIN: i16 = 7;
pub const METADATA_VERSION_LATEST: i16 = 29;

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

    #[test]
    fn api_versions_v3_response_feature_tags() {
        let response = Response {
            error_code: 0,
            api_keys: Cow::Owned(vec![api_version(&ApiVersions::SPEC)]),
            throttle_time_ms: 0,
            supported_features: vec![SupportedFeature {
                name: "m".into(),
                min_version: 7,
                max_version: 29,
            }],
            finalized_features_epoch: 5,
            finalized_features: vec![FinalizedFeature {
                name: "m".into(),
                max_version_level: 29,
                min_version_level: 29,
            }],
            zk_migration_ready: false,
        };
        let v3 = Ver {
            version: 3,
            flexible: true,
        };
        let mut out = Vec::new();
        wire::encode(&response, v3, &mut out).unwrap();
        let expected = [
            0, 0, // error_code
            0x02, 0, 18, 0, 0, 0, 4, 0x00, // api_keys: [18 0-4], tags
            0, 0, 0, 0,    // throttle_time_ms
            0x03, // tags: 3 (zk_migration_ready false is left out)
            0x00, 0x08, 0x02, 0x02, b'm', 0, 7, 0, 29, 0x00, // 0: supported [m 7-29]
            0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5, // 1: finalized_features_epoch 5
            0x02, 0x08, 0x02, 0x02, b'm', 0, 29, 0, 29, 0x00, // 2: finalized [m 29]
        ];
        assert_eq!(out, expected);
    }
}
