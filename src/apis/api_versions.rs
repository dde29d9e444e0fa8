//! ApiVersions (key 18), versions 0-4. v1 adds throttle_time_ms; v3 is flexible and the
//! request carries the client's software name and version. The response always uses
//! response header v0. Tagged fields with default values (SupportedFeatures,
//! FinalizedFeatures, ...) are left out: librdkafka 2.0.2 cannot read them.

use super::{Reply, RequestContext};
use crate::protocol::codec::{Reader, Result, Writer};
use crate::protocol::error;
use crate::protocol::versions::{self, ApiSpec};

#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub client_software_name: Option<&'a str>,
    pub client_software_version: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let mut req = Request {
            client_software_name: None,
            client_software_version: None,
        };
        if version >= 3 {
            req.client_software_name = Some(r.string(true)?);
            req.client_software_version = Some(r.string(true)?);
            r.skip_tags(true)?;
        }
        Ok(req)
    }
}

pub struct Response<'a> {
    pub error_code: i16,
    pub api_keys: &'a [ApiSpec],
    pub throttle_time_ms: i32,
}

impl Response<'_> {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= 3;
        w.i16(self.error_code);
        w.array_len(self.api_keys.len(), flexible);
        for api in self.api_keys {
            w.i16(api.key).i16(api.min).i16(api.max).tags(flexible);
        }
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.tags(flexible);
    }
}

pub fn handle(ctx: &RequestContext, body: &mut Reader, out: &mut Vec<u8>) -> Result<Reply> {
    let request = Request::decode(body, ctx.version)?;
    if let (Some(name), Some(version)) = (
        request.client_software_name,
        request.client_software_version,
    ) {
        log::trace!("{} runs {name} {version}", ctx.peer.addr);
    }
    let response = Response {
        error_code: error::NONE,
        api_keys: versions::SUPPORTED,
        throttle_time_ms: 0,
    };
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(Reply::Body)
}

/// The answer to an ApiVersions request at a version we do not support: a v0-shaped body
/// with UNSUPPORTED_VERSION and our own ApiVersions range, so the client can retry.
pub fn encode_unsupported(out: &mut Vec<u8>) {
    let spec = versions::lookup(versions::API_VERSIONS);
    let api_keys = spec.map(std::slice::from_ref).unwrap_or(&[]);
    let response = Response {
        error_code: error::UNSUPPORTED_VERSION,
        api_keys,
        throttle_time_ms: 0,
    };
    response.encode(&mut Writer::new(out), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_v3_reads_software_name_and_version() {
        let body = [
            0x0a, b'k', b'a', b'f', b'k', b'a', b'-', b'c', b'l', b'i', 0x04, b'0', b'.', b'1', 0,
        ];
        let req = Request::decode(&mut Reader::new(&body), 4).unwrap();
        assert_eq!(req.client_software_name, Some("kafka-cli"));
        assert_eq!(req.client_software_version, Some("0.1"));
    }

    #[test]
    fn response_v0_and_v3_bytes() {
        let api = [ApiSpec {
            key: 18,
            name: "ApiVersions",
            min: 0,
            max: 4,
            flexible_from: 3,
        }];
        let response = Response {
            error_code: 0,
            api_keys: &api,
            throttle_time_ms: 0,
        };
        let mut v0 = Vec::new();
        response.encode(&mut Writer::new(&mut v0), 0);
        assert_eq!(v0, [0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
        let mut v3 = Vec::new();
        response.encode(&mut Writer::new(&mut v3), 3);
        assert_eq!(v3, [0, 0, 2, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
    }
}
