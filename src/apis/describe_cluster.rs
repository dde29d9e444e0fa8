//! DescribeCluster (key 60), versions 0-2; every version is flexible (compact encodings,
//! tagged fields). What each version adds, per Kafka's DescribeClusterRequest/Response schemas:
//! - v0: include_cluster_authorized_operations; the response carries throttle_time_ms, a
//!   top-level error, cluster_id, controller_id, the brokers and the cluster's operations.
//! - v1: endpoint_type in request and response (1 brokers, 2 controllers; KIP-919).
//! - v2: the request's include_fenced_brokers and each broker's is_fenced (KIP-1073).
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;
pub const FIRST_FLEXIBLE_VERSION: i16 = 0;

/// `endpoint_type`: describe the brokers (the default) or the controllers.
pub const ENDPOINT_TYPE_BROKERS: i8 = 1;
pub const ENDPOINT_TYPE_CONTROLLERS: i8 = 2;

/// The value of an authorized-operations bitfield that was not asked for.
pub const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("describe_cluster version"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub include_cluster_authorized_operations: bool,
    /// v1+; `ENDPOINT_TYPE_BROKERS` before.
    pub endpoint_type: i8,
    /// v2+.
    pub include_fenced_brokers: bool,
}

impl Request {
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let include_cluster_authorized_operations = r.bool()?;
        let endpoint_type = if version >= 1 {
            r.i8()?
        } else {
            ENDPOINT_TYPE_BROKERS
        };
        let include_fenced_brokers = if version >= 2 { r.bool()? } else { false };
        r.skip_tags(true)?;
        Ok(Request {
            include_cluster_authorized_operations,
            endpoint_type,
            include_fenced_brokers,
        })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        w.bool(self.include_cluster_authorized_operations);
        if version >= 1 {
            w.i8(self.endpoint_type);
        }
        if version >= 2 {
            w.bool(self.include_fenced_brokers);
        }
        w.tags(true);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
    /// v1+; `ENDPOINT_TYPE_BROKERS` before.
    pub endpoint_type: i8,
    pub cluster_id: String,
    /// -1 when unknown.
    pub controller_id: i32,
    pub brokers: Vec<Broker>,
    /// `AUTHORIZED_OPERATIONS_UNSET` unless asked for.
    pub cluster_authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub broker_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// v2+.
    pub is_fenced: bool,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        w.i32(self.throttle_time_ms)
            .i16(self.error_code)
            .nullable_string(self.error_message.as_deref(), true);
        if version >= 1 {
            w.i8(self.endpoint_type);
        }
        w.string(&self.cluster_id, true).i32(self.controller_id);
        w.array_len(self.brokers.len(), true);
        for broker in &self.brokers {
            w.i32(broker.broker_id)
                .string(&broker.host, true)
                .i32(broker.port)
                .nullable_string(broker.rack.as_deref(), true);
            if version >= 2 {
                w.bool(broker.is_fenced);
            }
            w.tags(true);
        }
        w.i32(self.cluster_authorized_operations).tags(true);
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?;
        let error_message = r.nullable_string(true)?.map(str::to_owned);
        let endpoint_type = if version >= 1 {
            r.i8()?
        } else {
            ENDPOINT_TYPE_BROKERS
        };
        let cluster_id = r.string(true)?.to_owned();
        let controller_id = r.i32()?;
        // broker_id, host, port, rack, tags: at least 4 + 1 + 4 + 1 + 1 bytes.
        let n = r.array_len(true, 11)?;
        let mut brokers = Vec::with_capacity(n);
        for _ in 0..n {
            let broker_id = r.i32()?;
            let host = r.string(true)?.to_owned();
            let port = r.i32()?;
            let rack = r.nullable_string(true)?.map(str::to_owned);
            let is_fenced = if version >= 2 { r.bool()? } else { false };
            r.skip_tags(true)?;
            brokers.push(Broker {
                broker_id,
                host,
                port,
                rack,
                is_fenced,
            });
        }
        let cluster_authorized_operations = r.i32()?;
        r.skip_tags(true)?;
        Ok(Response {
            throttle_time_ms,
            error_code,
            error_message,
            endpoint_type,
            cluster_id,
            controller_id,
            brokers,
            cluster_authorized_operations,
        })
    }
}

// ---- Handling ----

/// Cluster operations a client may do with no authorizer (as Kafka's bit set): ALTER,
/// DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE.
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let me = super::metadata::advertised_broker(broker, ctx.local_addr);
    let response = Response {
        throttle_time_ms: 0,
        error_code: crate::protocol::error::NONE,
        error_message: None,
        endpoint_type: request.endpoint_type,
        cluster_id: broker.storage.cluster_id.clone(),
        controller_id: broker.config.node_id,
        brokers: vec![Broker {
            broker_id: me.node_id,
            host: me.host,
            port: me.port,
            rack: None,
            is_fenced: false,
        }],
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            AUTHORIZED_OPERATIONS_UNSET
        },
    };
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut buf = Vec::new();
        f(&mut Writer::new(&mut buf));
        buf
    }

    fn decode_all<'a, T>(
        bytes: &'a [u8],
        decode: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<T> {
        let mut r = Reader::new(bytes);
        let out = decode(&mut r)?;
        assert_eq!(r.remaining(), 0, "bytes left over");
        Ok(out)
    }

    fn sample_request(version: i16) -> Request {
        Request {
            include_cluster_authorized_operations: true,
            endpoint_type: if version >= 1 {
                ENDPOINT_TYPE_CONTROLLERS
            } else {
                ENDPOINT_TYPE_BROKERS
            },
            include_fenced_brokers: version >= 2,
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: 1,
            error_code: 0,
            error_message: Some("ok".into()),
            endpoint_type: if version >= 1 {
                ENDPOINT_TYPE_CONTROLLERS
            } else {
                ENDPOINT_TYPE_BROKERS
            },
            cluster_id: "cluster-1".into(),
            controller_id: 1,
            brokers: vec![
                Broker {
                    broker_id: 1,
                    host: "localhost".into(),
                    port: 9092,
                    rack: Some("r1".into()),
                    is_fenced: version >= 2,
                },
                Broker {
                    broker_id: 2,
                    host: "b2".into(),
                    port: 9093,
                    rack: None,
                    is_fenced: false,
                },
            ],
            cluster_authorized_operations: 0x0ff8,
        }
    }

    #[test]
    fn describe_cluster_v0_request_bytes() {
        let body = [
            0x01, // include_cluster_authorized_operations true
            0x00, // tags
        ];
        let expected = Request {
            include_cluster_authorized_operations: true,
            endpoint_type: ENDPOINT_TYPE_BROKERS,
            include_fenced_brokers: false,
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 0)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn describe_cluster_v2_request_bytes() {
        let body = [
            0x00, // include_cluster_authorized_operations false
            0x01, // endpoint_type 1 (brokers)
            0x01, // include_fenced_brokers true
            0x01, 0x03, 0x01, 0xaa, // tags: one unknown field (tag 3, 1 byte), skipped
        ];
        let expected = Request {
            include_cluster_authorized_operations: false,
            endpoint_type: ENDPOINT_TYPE_BROKERS,
            include_fenced_brokers: true,
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 2)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 2)), [0x00, 0x01, 0x01, 0x00]);
    }

    #[test]
    fn describe_cluster_v0_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            error_message: None,
            endpoint_type: ENDPOINT_TYPE_BROKERS,
            cluster_id: "c".into(),
            controller_id: 1,
            brokers: vec![Broker {
                broker_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
                is_fenced: false,
            }],
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        };
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
        assert_eq!(encoded(|w| response.encode(w, 0)), expected);
        assert_eq!(
            decode_all(&expected, |r| Response::decode(r, 0)),
            Ok(response)
        );
    }

    #[test]
    fn describe_cluster_v2_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            error_message: None,
            endpoint_type: ENDPOINT_TYPE_BROKERS,
            cluster_id: "c".into(),
            controller_id: 1,
            brokers: vec![Broker {
                broker_id: 1,
                host: "h".into(),
                port: 9092,
                rack: Some("r".into()),
                is_fenced: true,
            }],
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        };
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
        assert_eq!(encoded(|w| response.encode(w, 2)), expected);
        assert_eq!(
            decode_all(&expected, |r| Response::decode(r, 2)),
            Ok(response)
        );
    }

    #[test]
    fn describe_cluster_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let bytes = encoded(|w| request.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(request),
                "v{version}"
            );
            let response = sample_response(version);
            let bytes = encoded(|w| response.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Response::decode(r, version)),
                Ok(response),
                "v{version}"
            );
        }
    }

    #[test]
    fn describe_cluster_every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let bytes = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
            let bytes = encoded(|w| sample_response(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Response::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} response prefix {len}"
                );
            }
        }
    }

    #[test]
    fn describe_cluster_huge_counts_and_bad_versions_are_rejected() {
        // brokers claims 2^32-2 entries in a short body.
        let body = [
            0, 0, 0, 0, 0, 0, 0x00, 0x02, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ];
        assert_eq!(
            Response::decode(&mut Reader::new(&body), 0),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 3] {
            assert_eq!(
                Request::decode(&mut Reader::new(&[0, 0]), version),
                Err(DecodeError::Invalid("describe_cluster version"))
            );
        }
    }
}
