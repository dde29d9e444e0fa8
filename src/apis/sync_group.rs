//! SyncGroup (key 14), versions 0-5; flexible (compact encodings, tagged fields) from v4.
//! After a join round the leader sends every member's assignment; each member (the leader
//! included) gets its own assignment back.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire (responses go out
//!   before throttling).
//! - v3: the request adds group_instance_id (static membership, KIP-345).
//! - v4: first flexible version.
//! - v5: protocol_type and protocol_name in request and response (KIP-559); the broker
//!   rejects a request whose type or name differs from the group's.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;
pub const FIRST_FLEXIBLE_VERSION: i16 = 4;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("sync_group version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub group_id: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
    /// v3+; null for a dynamic member and before v3.
    pub group_instance_id: Option<&'a str>,
    /// v5+; null when not given.
    pub protocol_type: Option<&'a str>,
    /// v5+; null when not given.
    pub protocol_name: Option<&'a str>,
    /// Sent by the leader only; empty from the other members.
    pub assignments: Vec<Assignment<'a>>,
}

/// The leader's assignment for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'a> {
    pub member_id: &'a str,
    /// Opaque to the broker.
    pub assignment: &'a [u8],
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
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string(flexible)?, r.nullable_string(flexible)?)
        } else {
            (None, None)
        };
        let n = r.array_len(flexible, Assignment::min_bytes(flexible))?;
        let assignments = decode_array(r, n, |r| Assignment::decode(r, flexible))?;
        r.skip_tags(flexible)?;
        Ok(Request {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            protocol_type,
            protocol_name,
            assignments,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "sync_group v{version}");
        let flexible = is_flexible(version);
        w.string(self.group_id, flexible)
            .i32(self.generation_id)
            .string(self.member_id, flexible);
        if version >= 3 {
            w.nullable_string(self.group_instance_id, flexible);
        }
        if version >= 5 {
            w.nullable_string(self.protocol_type, flexible)
                .nullable_string(self.protocol_name, flexible);
        }
        w.array_len(self.assignments.len(), flexible);
        for assignment in &self.assignments {
            assignment.encode(w, flexible);
        }
        w.tags(flexible);
    }
}

impl<'a> Assignment<'a> {
    /// member_id, assignment and (flexible) a tag count.
    fn min_bytes(flexible: bool) -> usize {
        if flexible { 1 + 1 + 1 } else { 2 + 4 }
    }

    fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let member_id = r.string(flexible)?;
        let assignment = r.bytes(flexible)?;
        r.skip_tags(flexible)?;
        Ok(Assignment {
            member_id,
            assignment,
        })
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(self.member_id, flexible)
            .bytes(self.assignment, flexible)
            .tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// v5+; null when unknown.
    pub protocol_type: Option<String>,
    /// v5+; null when unknown.
    pub protocol_name: Option<String>,
    /// This member's assignment; empty on error.
    pub assignment: Vec<u8>,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "sync_group v{version}");
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.i16(self.error_code);
        if version >= 5 {
            w.nullable_string(self.protocol_type.as_deref(), flexible)
                .nullable_string(self.protocol_name.as_deref(), flexible);
        }
        w.bytes(&self.assignment, flexible).tags(flexible);
    }

    /// The client's side; the broker uses it only in tests.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let mut out = Response::default();
        if version >= 1 {
            out.throttle_time_ms = r.i32()?;
        }
        out.error_code = r.i16()?;
        if version >= 5 {
            out.protocol_type = r.nullable_string(flexible)?.map(str::to_owned);
            out.protocol_name = r.nullable_string(flexible)?.map(str::to_owned);
        }
        out.assignment = r.bytes(flexible)?.to_vec();
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

// ---- Handling ----

/// The leader's assignments are stored; every member waits (parked) for its own.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use super::Wait;
    use crate::coordinator::SyncOutcome;
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let assignments: Vec<(&str, &[u8])> = request
        .assignments
        .iter()
        .map(|a| (a.member_id, a.assignment))
        .collect();
    // Only a first attempt carries assignments; a resumed follower just asks for its own.
    let given = (ctx.wait == Wait::Allowed).then_some(assignments.as_slice());
    let outcome = broker.coordinator.sync(
        request.group_id,
        request.member_id,
        request.generation_id,
        given,
        ctx.now,
    );
    let response = match outcome {
        SyncOutcome::Wait(deadline) if ctx.wait != Wait::Expired => {
            let deadline = match ctx.wait {
                Wait::Until(original) => original,
                _ => deadline,
            };
            return Ok(super::Reply::Park(deadline));
        }
        SyncOutcome::Wait(_) => failed(error::REBALANCE_IN_PROGRESS),
        SyncOutcome::Error(code) => failed(code),
        SyncOutcome::Assigned {
            protocol_type,
            protocol_name,
            assignment,
        } => Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            protocol_type,
            protocol_name,
            assignment,
        },
    };
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

fn failed(error_code: i16) -> Response {
    Response {
        throttle_time_ms: 0,
        error_code,
        protocol_type: None,
        protocol_name: None,
        assignment: Vec::new(),
    }
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
            group_id: "group",
            generation_id: 4,
            member_id: "member-1",
            group_instance_id: (version >= 3).then_some("instance-1"),
            protocol_type: (version >= 5).then_some("consumer"),
            protocol_name: (version >= 5).then_some("range"),
            assignments: vec![
                Assignment {
                    member_id: "member-1",
                    assignment: &[0, 3, 0, 0, 0, 0],
                },
                Assignment {
                    member_id: "member-2",
                    assignment: &[],
                },
            ],
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 1 { 6 } else { 0 },
            error_code: 0,
            protocol_type: (version >= 5).then(|| "consumer".to_owned()),
            protocol_name: (version >= 5).then(|| "range".to_owned()),
            assignment: vec![0, 3, 0, 0, 0, 1],
        }
    }

    #[test]
    fn sync_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 2, // generation_id 2
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, // assignments: 1
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, 5, // assignment [5]
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![Assignment {
                member_id: "m",
                assignment: &[5],
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 0)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn sync_group_v5_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0, 2, // generation_id 2
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            2, b'c', // protocol_type "c"
            2, b'r', // protocol_name "r"
            2,    // assignments: 1 (compact)
            2, b'm', // member_id "m"
            2, 5, // assignment [5] (compact)
            0, // assignment tags
            0, // tags
        ];
        let expected = Request {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: None,
            protocol_type: Some("c"),
            protocol_name: Some("r"),
            assignments: vec![Assignment {
                member_id: "m",
                assignment: &[5],
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 5)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 5)), body);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode_all(&tagged, |r| Request::decode(r, 5)), Ok(expected));
    }

    #[test]
    fn sync_group_v0_response_bytes() {
        let response = Response {
            assignment: vec![5, 6],
            ..Response::default()
        };
        let body = [
            0, 0, // error_code 0 (no throttle_time_ms in v0)
            0, 0, 0, 2, 5, 6, // assignment [5, 6]
        ];
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn sync_group_v5_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 27,
            protocol_type: Some("c".into()),
            protocol_name: None,
            assignment: vec![],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 27, // error_code REBALANCE_IN_PROGRESS
            2, b'c', // protocol_type "c"
            0,    // protocol_name null
            1,    // assignment empty (compact)
            0,    // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 5)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 5)), Ok(response));
    }

    #[test]
    fn sync_group_round_trips_every_version() {
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
    fn sync_group_every_truncation_is_an_error() {
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
    fn sync_group_huge_counts_and_bad_versions_are_rejected() {
        // v0: assignments claims 2^31-1 entries with no bytes behind the count.
        let body = [0, 1, b'g', 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 0),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 6] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("sync_group version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("sync_group version"))
            );
        }
    }

    #[test]
    fn assignment_min_bytes_is_the_smallest_encoding() {
        for flexible in [false, true] {
            let empty = Assignment {
                member_id: "",
                assignment: &[],
            };
            let size = encoded(|w| empty.encode(w, flexible)).len();
            assert_eq!(size, Assignment::min_bytes(flexible), "flexible {flexible}");
        }
    }
}
