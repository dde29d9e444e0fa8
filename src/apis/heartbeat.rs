//! Heartbeat (key 12), versions 0-4; flexible (compact encodings, tagged fields) from v4.
//! A group member tells its coordinator it is alive; the answer says whether a rebalance
//! is under way (REBALANCE_IN_PROGRESS) or the member is unknown or out of date.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire (responses go out
//!   before throttling).
//! - v3: the request adds group_instance_id (static membership, KIP-345).
//! - v4: first flexible version.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 4;
pub const FIRST_FLEXIBLE_VERSION: i16 = 4;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("heartbeat version"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub group_id: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
    /// v3+; null for a dynamic member and before v3.
    pub group_instance_id: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let group_id = r.string(flexible)?;
        let generation_id = r.i32()?;
        let member_id = r.string(flexible)?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        r.skip_tags(flexible)?;
        Ok(Request {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "heartbeat v{version}");
        let flexible = is_flexible(version);
        w.string(self.group_id, flexible)
            .i32(self.generation_id)
            .string(self.member_id, flexible);
        if version >= 3 {
            w.nullable_string(self.group_instance_id, flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    pub error_code: i16,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "heartbeat v{version}");
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.i16(self.error_code).tags(flexible);
    }

    /// The client's side; the broker uses it only in tests.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            error_code,
        })
    }
}

// ---- Handling ----

pub fn handle(
    broker: &mut crate::broker::Broker,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let error_code = broker.coordinator.heartbeat(
        request.group_id,
        request.member_id,
        request.generation_id,
        ctx.now,
    );
    Response {
        throttle_time_ms: 0,
        error_code,
    }
    .encode(&mut Writer::new(out), ctx.version);
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
            group_id: "g",
            generation_id: 3,
            member_id: "m-1",
            group_instance_id: (version >= 3).then_some("i-1"),
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 1 { 5 } else { 0 },
            error_code: 27,
        }
    }

    #[test]
    fn heartbeat_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 7, // generation_id 7
            0, 1, b'm', // member_id "m"
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 7,
            member_id: "m",
            group_instance_id: None,
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 0)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn heartbeat_v4_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0, 7, // generation_id 7
            2, b'm', // member_id "m"
            3, b'i', b'1', // group_instance_id "i1"
            0,    // tags
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 7,
            member_id: "m",
            group_instance_id: Some("i1"),
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 4)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 4)), body);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode_all(&tagged, |r| Request::decode(r, 4)), Ok(expected));
    }

    #[test]
    fn heartbeat_v0_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 27,
        };
        let body = [0, 27]; // error_code REBALANCE_IN_PROGRESS (no throttle_time_ms in v0)
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn heartbeat_v4_response_bytes() {
        let response = Response {
            throttle_time_ms: 1,
            error_code: 0,
        };
        let body = [
            0, 0, 0, 1, // throttle_time_ms 1
            0, 0, // error_code 0
            0, // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 4)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 4)), Ok(response));
    }

    #[test]
    fn heartbeat_round_trips_every_version() {
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
    fn heartbeat_every_truncation_is_an_error() {
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
    fn heartbeat_bad_versions_are_rejected() {
        let body = encoded(|w| sample_request(0).encode(w, 0));
        for version in [-1, 5] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("heartbeat version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("heartbeat version"))
            );
        }
    }
}
