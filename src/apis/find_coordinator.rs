//! FindCoordinator (key 10), versions 0-6; flexible (compact encodings, tagged fields) from v3.
//! A client asks which broker coordinates a group (or a transaction, or a share group).
//! - v0: one key, and the response's error_code, node_id, host and port.
//! - v1: the request adds key_type; the response adds throttle_time_ms and error_message.
//!   v2: no change on the wire (responses go out before throttling).
//! - v3: first flexible version.
//! - v4: batching (KIP-699): the request's key gives way to coordinator_keys and the
//!   response's top-level fields to a coordinators array, one result per key.
//! - v5: no change on the wire (may return TRANSACTION_ABORTABLE, KIP-890).
//! - v6: no change on the wire (key type SHARE, KIP-932, whose key is
//!   "groupId:topicId:partition").
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array, string_min_bytes};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 6;
pub const FIRST_FLEXIBLE_VERSION: i16 = 3;

/// key_type: a consumer group id.
pub const KEY_TYPE_GROUP: i8 = 0;
/// key_type: a transactional id.
pub const KEY_TYPE_TRANSACTION: i8 = 1;
/// key_type (v6+): a share-group partition key.
pub const KEY_TYPE_SHARE: i8 = 2;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("find_coordinator version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// v0-3; "" from v4.
    pub key: &'a str,
    /// v1+; `KEY_TYPE_GROUP` before.
    pub key_type: i8,
    /// v4+; empty before.
    pub coordinator_keys: Vec<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let key = if version <= 3 {
            r.string(flexible)?
        } else {
            ""
        };
        let key_type = if version >= 1 {
            r.i8()?
        } else {
            KEY_TYPE_GROUP
        };
        let coordinator_keys = if version >= 4 {
            let n = r.array_len(flexible, string_min_bytes(flexible))?;
            decode_array(r, n, |r| r.string(flexible))?
        } else {
            Vec::new()
        };
        r.skip_tags(flexible)?;
        Ok(Request {
            key,
            key_type,
            coordinator_keys,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(
            check_version(version).is_ok(),
            "find_coordinator v{version}"
        );
        let flexible = is_flexible(version);
        if version <= 3 {
            w.string(self.key, flexible);
        }
        if version >= 1 {
            w.i8(self.key_type);
        }
        if version >= 4 {
            w.array_len(self.coordinator_keys.len(), flexible);
            for key in &self.coordinator_keys {
                w.string(key, flexible);
            }
        }
        w.tags(flexible);
    }

    /// The keys asked about: `coordinator_keys` from v4, the single `key` before.
    pub fn keys(&self, version: i16) -> &[&'a str] {
        if version >= 4 {
            &self.coordinator_keys
        } else {
            std::slice::from_ref(&self.key)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    /// v0-3.
    pub error_code: i16,
    /// v1-3; null when there is no error.
    pub error_message: Option<String>,
    /// v0-3.
    pub node_id: i32,
    /// v0-3.
    pub host: String,
    /// v0-3.
    pub port: i32,
    /// v4+: one per requested key.
    pub coordinators: Vec<Coordinator>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub key: String,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub error_code: i16,
    /// Null when there is no error.
    pub error_message: Option<String>,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            throttle_time_ms: 0,
            error_code: 0,
            error_message: None,
            node_id: -1,
            host: String::new(),
            port: -1,
            coordinators: Vec::new(),
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(
            check_version(version).is_ok(),
            "find_coordinator v{version}"
        );
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        if version <= 3 {
            w.i16(self.error_code);
            if version >= 1 {
                w.nullable_string(self.error_message.as_deref(), flexible);
            }
            w.i32(self.node_id)
                .string(&self.host, flexible)
                .i32(self.port);
        } else {
            w.array_len(self.coordinators.len(), flexible);
            for coordinator in &self.coordinators {
                coordinator.encode(w, flexible);
            }
        }
        w.tags(flexible);
    }

    /// The client's side; the broker uses it only in tests.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let mut out = Response::default();
        if version >= 1 {
            out.throttle_time_ms = r.i32()?;
        }
        if version <= 3 {
            out.error_code = r.i16()?;
            if version >= 1 {
                out.error_message = r.nullable_string(flexible)?.map(str::to_owned);
            }
            out.node_id = r.i32()?;
            out.host = r.string(flexible)?.to_owned();
            out.port = r.i32()?;
        } else {
            let n = r.array_len(flexible, Coordinator::min_bytes(flexible))?;
            out.coordinators = decode_array(r, n, |r| Coordinator::decode(r, flexible))?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl Coordinator {
    /// key, node_id, host, port, error_code, error_message and (flexible) a tag count.
    fn min_bytes(flexible: bool) -> usize {
        3 * string_min_bytes(flexible) + 4 + 4 + 2 + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(&self.key, flexible)
            .i32(self.node_id)
            .string(&self.host, flexible)
            .i32(self.port)
            .i16(self.error_code)
            .nullable_string(self.error_message.as_deref(), flexible)
            .tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, flexible: bool) -> Result<Self> {
        let out = Coordinator {
            key: r.string(flexible)?.to_owned(),
            node_id: r.i32()?,
            host: r.string(flexible)?.to_owned(),
            port: r.i32()?,
            error_code: r.i16()?,
            error_message: r.nullable_string(flexible)?.map(str::to_owned),
        };
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

// ---- Handling ----

/// This broker coordinates every group (and would every transactional id).
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let me = super::metadata::advertised_broker(broker, ctx.local_addr);
    let mut response = Response {
        throttle_time_ms: 0,
        error_code: crate::protocol::error::NONE,
        error_message: None,
        node_id: me.node_id,
        host: me.host.clone(),
        port: me.port,
        coordinators: Vec::new(),
    };
    if ctx.version >= 4 {
        response.coordinators = request
            .keys(ctx.version)
            .iter()
            .map(|key| Coordinator {
                key: key.to_string(),
                node_id: me.node_id,
                host: me.host.clone(),
                port: me.port,
                error_code: crate::protocol::error::NONE,
                error_message: None,
            })
            .collect();
    }
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

    fn sample_request(version: i16) -> Request<'static> {
        Request {
            key: if version <= 3 { "group-a" } else { "" },
            key_type: if version >= 1 {
                KEY_TYPE_TRANSACTION
            } else {
                0
            },
            coordinator_keys: if version >= 4 {
                vec!["group-a", "", "group-b"]
            } else {
                Vec::new()
            },
        }
    }

    fn sample_response(version: i16) -> Response {
        if version <= 3 {
            Response {
                throttle_time_ms: if version >= 1 { 3 } else { 0 },
                error_code: 15,
                error_message: (version >= 1).then(|| "not yet".to_owned()),
                node_id: 1,
                host: "localhost".into(),
                port: 9092,
                coordinators: Vec::new(),
            }
        } else {
            Response {
                throttle_time_ms: 3,
                coordinators: vec![
                    Coordinator {
                        key: "group-a".into(),
                        node_id: 1,
                        host: "localhost".into(),
                        port: 9092,
                        error_code: 0,
                        error_message: None,
                    },
                    Coordinator {
                        key: "".into(),
                        node_id: -1,
                        host: "".into(),
                        port: -1,
                        error_code: 24,
                        error_message: Some("bad".into()),
                    },
                ],
                ..Response::default()
            }
        }
    }

    #[test]
    fn find_coordinator_v0_request_bytes() {
        let body = [0, 1, b'g']; // key "g"
        let expected = Request {
            key: "g",
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: vec![],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 0)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
        assert_eq!(expected.keys(0), ["g"]);
    }

    #[test]
    fn find_coordinator_v3_request_bytes() {
        let body = [
            2, b'g', // key "g" (compact)
            1,    // key_type TRANSACTION
            0,    // tags
        ];
        let expected = Request {
            key: "g",
            key_type: KEY_TYPE_TRANSACTION,
            coordinator_keys: vec![],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 3)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 3)), body);
    }

    #[test]
    fn find_coordinator_v4_request_bytes() {
        let body = [
            0, // key_type GROUP (no key from v4)
            3, // coordinator_keys: 2 (compact)
            2, b'a', // "a"
            2, b'b', // "b"
            0,    // tags
        ];
        let expected = Request {
            key: "",
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: vec!["a", "b"],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 4)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 4)), body);
        assert_eq!(expected.keys(4), ["a", "b"]);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode_all(&tagged, |r| Request::decode(r, 4)), Ok(expected));
    }

    #[test]
    fn find_coordinator_v0_and_v1_response_bytes() {
        let response = Response {
            node_id: 1,
            host: "h".into(),
            port: 9092,
            ..Response::default()
        };
        let v0 = [
            0, 0, // error_code 0
            0, 0, 0, 1, // node_id 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
        ];
        assert_eq!(encoded(|w| response.encode(w, 0)), v0);
        assert_eq!(
            decode_all(&v0, |r| Response::decode(r, 0)),
            Ok(response.clone())
        );
        let v1 = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0xff, 0xff, // error_message null
            0, 0, 0, 1, // node_id 1
            0, 1, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
        ];
        assert_eq!(encoded(|w| response.encode(w, 1)), v1);
        assert_eq!(decode_all(&v1, |r| Response::decode(r, 1)), Ok(response));
    }

    #[test]
    fn find_coordinator_v4_response_bytes() {
        let response = Response {
            coordinators: vec![Coordinator {
                key: "g".into(),
                node_id: 1,
                host: "h".into(),
                port: 9092,
                error_code: 0,
                error_message: None,
            }],
            ..Response::default()
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            2, // coordinators: 1 (compact)
            2, b'g', // key "g"
            0, 0, 0, 1, // node_id 1
            2, b'h', // host "h"
            0, 0, 0x23, 0x84, // port 9092
            0, 0, // error_code 0
            0, // error_message null
            0, // coordinator tags
            0, // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 4)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 4)), Ok(response));
    }

    #[test]
    fn find_coordinator_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let body = encoded(|w| request.encode(w, version));
            let decoded = decode_all(&body, |r| Request::decode(r, version));
            assert_eq!(decoded, Ok(request), "v{version}");
            let response = sample_response(version);
            let body = encoded(|w| response.encode(w, version));
            let decoded = decode_all(&body, |r| Response::decode(r, version));
            assert_eq!(decoded, Ok(response), "v{version}");
        }
    }

    #[test]
    fn find_coordinator_every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let body = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..body.len() {
                let result = Request::decode(&mut Reader::new(&body[..len]), version);
                assert!(result.is_err(), "request v{version} prefix {len}");
            }
            let body = encoded(|w| sample_response(version).encode(w, version));
            for len in 0..body.len() {
                let result = Response::decode(&mut Reader::new(&body[..len]), version);
                assert!(result.is_err(), "response v{version} prefix {len}");
            }
        }
    }

    #[test]
    fn find_coordinator_huge_counts_and_bad_versions_are_rejected() {
        // v4: coordinator_keys claims 2^32-2 entries in a 7-byte body.
        let body = [0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 4),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 7] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("find_coordinator version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("find_coordinator version"))
            );
        }
    }

    #[test]
    fn coordinator_min_bytes_is_the_smallest_encoding() {
        for flexible in [false, true] {
            let empty = Coordinator {
                key: String::new(),
                node_id: 0,
                host: String::new(),
                port: 0,
                error_code: 0,
                error_message: None,
            };
            let size = encoded(|w| empty.encode(w, flexible)).len();
            assert_eq!(
                size,
                Coordinator::min_bytes(flexible),
                "flexible {flexible}"
            );
        }
    }
}
