//! InitProducerId (key 22), versions 0-5; flexible (compact encodings, tagged fields) from v2.
//! What each version adds, per Kafka's InitProducerIdRequest/InitProducerIdResponse schemas:
//! - v0: transactional_id (null for an idempotent producer) and transaction_timeout_ms; the
//!   response carries throttle_time_ms, error_code, producer_id and producer_epoch.
//! - v1: no change on the wire (responses go out before throttling).
//! - v2: first flexible version.
//! - v3: the request's producer_id and producer_epoch (-1 when absent), so that a producer
//!   can resume after INVALID_PRODUCER_EPOCH (KIP-360).
//! - v4: may return PRODUCER_FENCED. v5: may return TRANSACTION_ABORTABLE (KIP-890).
//! - v6 (2PC, KIP-939, still unstable in Kafka 4.2) is out of our range.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;
pub const FIRST_FLEXIBLE_VERSION: i16 = 2;

/// A producer id or epoch that is not known (yet).
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("init_producer_id version"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<&'a str>,
    /// Only meaningful with a transactional id.
    pub transaction_timeout_ms: i32,
    /// v3+; `NO_PRODUCER_ID` before or when the producer has none.
    pub producer_id: i64,
    /// v3+; `NO_PRODUCER_EPOCH` before or when the producer has none.
    pub producer_epoch: i16,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let transactional_id = r.nullable_string(flexible)?;
        let transaction_timeout_ms = r.i32()?;
        let (producer_id, producer_epoch) = if version >= 3 {
            (r.i64()?, r.i16()?)
        } else {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH)
        };
        r.skip_tags(flexible)?;
        Ok(Request {
            transactional_id,
            transaction_timeout_ms,
            producer_id,
            producer_epoch,
        })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        w.nullable_string(self.transactional_id, flexible)
            .i32(self.transaction_timeout_ms);
        if version >= 3 {
            w.i64(self.producer_id).i16(self.producer_epoch);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// `NO_PRODUCER_ID` on error.
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        w.i32(self.throttle_time_ms)
            .i16(self.error_code)
            .i64(self.producer_id)
            .i16(self.producer_epoch)
            .tags(is_flexible(version));
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let response = Response {
            throttle_time_ms: r.i32()?,
            error_code: r.i16()?,
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
        };
        r.skip_tags(is_flexible(version))?;
        Ok(response)
    }
}

// ---- Handling ----

/// Transactions are not served: a transactional id is refused with this (fatal) code.
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

/// A new producer id, or the next epoch of a known one (v3+ re-initialisation).
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut response = Response {
        throttle_time_ms: 0,
        error_code: error::NONE,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
    };
    if request.transactional_id.is_some_and(|t| !t.is_empty()) {
        response.error_code = TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if request.producer_id >= 0
        && request.producer_epoch >= 0
        && request.producer_epoch < i16::MAX - 1
    {
        response.producer_id = request.producer_id;
        response.producer_epoch = request.producer_epoch + 1;
    } else {
        match broker.storage.allocate_producer_id() {
            Ok(id) => {
                response.producer_id = id;
                response.producer_epoch = 0;
            }
            Err(e) => {
                log::error!("allocating a producer id: {e}");
                response.error_code = error::UNKNOWN_SERVER_ERROR;
            }
        }
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
            transactional_id: Some("txn-1"),
            transaction_timeout_ms: 60_000,
            producer_id: if version >= 3 { 4000 } else { NO_PRODUCER_ID },
            producer_epoch: if version >= 3 { 7 } else { NO_PRODUCER_EPOCH },
        }
    }

    fn sample_response() -> Response {
        Response {
            throttle_time_ms: 3,
            error_code: 0,
            producer_id: 1_000_000,
            producer_epoch: 2,
        }
    }

    #[test]
    fn init_producer_id_v0_request_bytes() {
        let body = [
            0xff, 0xff, // transactional_id null (idempotent producer)
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms i32::MAX
        ];
        let expected = Request {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 0)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn init_producer_id_v4_request_bytes() {
        let body = [
            0x02, b't', // transactional_id "t" (compact)
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // producer_id 1000
            0, 5,    // producer_epoch 5
            0x00, // tags
        ];
        let expected = Request {
            transactional_id: Some("t"),
            transaction_timeout_ms: 60_000,
            producer_id: 1000,
            producer_epoch: 5,
        };
        assert_eq!(decode_all(&body, |r| Request::decode(r, 4)), Ok(expected));
        assert_eq!(encoded(|w| expected.encode(w, 4)), body);
    }

    #[test]
    fn init_producer_id_v0_and_v2_response_bytes() {
        let v0 = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0, 9, // producer_id 9
            0, 0, // producer_epoch 0
        ];
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id: 9,
            producer_epoch: 0,
        };
        assert_eq!(encoded(|w| response.encode(w, 0)), v0);
        let mut v2 = v0.to_vec();
        v2.push(0x00); // tags
        assert_eq!(encoded(|w| response.encode(w, 2)), v2);
        assert_eq!(decode_all(&v2, |r| Response::decode(r, 2)), Ok(response));
    }

    #[test]
    fn init_producer_id_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let bytes = encoded(|w| request.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(request),
                "v{version}"
            );
            let idempotent = Request {
                transactional_id: None,
                ..request
            };
            let bytes = encoded(|w| idempotent.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(idempotent),
                "v{version}"
            );
            let response = sample_response();
            let bytes = encoded(|w| response.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Response::decode(r, version)),
                Ok(response),
                "v{version}"
            );
        }
    }

    #[test]
    fn init_producer_id_every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let bytes = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
            let bytes = encoded(|w| sample_response().encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Response::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} response prefix {len}"
                );
            }
        }
    }

    #[test]
    fn init_producer_id_bad_versions_are_rejected() {
        let body = [0xff, 0xff, 0, 0, 0, 0];
        for version in [-1, 6] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("init_producer_id version"))
            );
        }
    }
}
