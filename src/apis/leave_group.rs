//! LeaveGroup (key 13), versions 0-5; flexible (compact encodings, tagged fields) from v4.
//! One member (v0-2) or a batch of members (v3+) leaves a group, which then rebalances.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire (responses go out
//!   before throttling).
//! - v3: batching (KIP-345): the request's member_id gives way to a members array of
//!   (member_id, group_instance_id), and the response adds a result per member.
//! - v4: first flexible version.
//! - v5: each leaving member may give a reason (KIP-800).
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array, string_min_bytes};

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
        Err(DecodeError::Invalid("leave_group version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub group_id: &'a str,
    /// v0-2: the one member leaving; "" from v3.
    pub member_id: &'a str,
    /// v3+: the members leaving; empty before.
    pub members: Vec<MemberIdentity<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberIdentity<'a> {
    pub member_id: &'a str,
    /// Null for a dynamic member.
    pub group_instance_id: Option<&'a str>,
    /// v5+; null when not given.
    pub reason: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let group_id = r.string(flexible)?;
        let mut out = Request {
            group_id,
            member_id: "",
            members: Vec::new(),
        };
        if version <= 2 {
            out.member_id = r.string(flexible)?;
        } else {
            let n = r.array_len(flexible, MemberIdentity::min_bytes(version))?;
            out.members = decode_array(r, n, |r| MemberIdentity::decode(r, version))?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "leave_group v{version}");
        let flexible = is_flexible(version);
        w.string(self.group_id, flexible);
        if version <= 2 {
            w.string(self.member_id, flexible);
        } else {
            w.array_len(self.members.len(), flexible);
            for member in &self.members {
                member.encode(w, version);
            }
        }
        w.tags(flexible);
    }
}

impl<'a> MemberIdentity<'a> {
    /// member_id, group_instance_id, reason (v5+) and (flexible) a tag count.
    fn min_bytes(version: i16) -> usize {
        let flexible = is_flexible(version);
        let strings = if version >= 5 { 3 } else { 2 };
        strings * string_min_bytes(flexible) + usize::from(flexible)
    }

    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let member_id = r.string(flexible)?;
        let group_instance_id = r.nullable_string(flexible)?;
        let reason = if version >= 5 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        r.skip_tags(flexible)?;
        Ok(MemberIdentity {
            member_id,
            group_instance_id,
            reason,
        })
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(self.member_id, flexible)
            .nullable_string(self.group_instance_id, flexible);
        if version >= 5 {
            w.nullable_string(self.reason, flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// v3+: one result per leaving member.
    pub members: Vec<MemberResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberResponse {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error_code: i16,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "leave_group v{version}");
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.i16(self.error_code);
        if version >= 3 {
            w.array_len(self.members.len(), flexible);
            for member in &self.members {
                member.encode(w, flexible);
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
        out.error_code = r.i16()?;
        if version >= 3 {
            let n = r.array_len(flexible, MemberResponse::min_bytes(flexible))?;
            out.members = decode_array(r, n, |r| MemberResponse::decode(r, flexible))?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl MemberResponse {
    /// member_id, group_instance_id, error_code and (flexible) a tag count.
    fn min_bytes(flexible: bool) -> usize {
        2 * string_min_bytes(flexible) + 2 + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(&self.member_id, flexible)
            .nullable_string(self.group_instance_id.as_deref(), flexible)
            .i16(self.error_code)
            .tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, flexible: bool) -> Result<Self> {
        let out = MemberResponse {
            member_id: r.string(flexible)?.to_owned(),
            group_instance_id: r.nullable_string(flexible)?.map(str::to_owned),
            error_code: r.i16()?,
        };
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

// ---- Handling ----

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let mut response = Response {
        throttle_time_ms: 0,
        error_code: crate::protocol::error::NONE,
        members: Vec::new(),
    };
    if ctx.version < 3 {
        response.error_code =
            broker
                .coordinator
                .leave(request.group_id, request.member_id, None, ctx.now);
    } else {
        for member in &request.members {
            let error_code = broker.coordinator.leave(
                request.group_id,
                member.member_id,
                member.group_instance_id,
                ctx.now,
            );
            response.members.push(MemberResponse {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.map(str::to_string),
                error_code,
            });
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
        if version <= 2 {
            return Request {
                group_id: "group",
                member_id: "member-1",
                members: Vec::new(),
            };
        }
        Request {
            group_id: "group",
            member_id: "",
            members: vec![
                MemberIdentity {
                    member_id: "member-1",
                    group_instance_id: None,
                    reason: (version >= 5).then_some("shutting down"),
                },
                MemberIdentity {
                    member_id: "",
                    group_instance_id: Some("instance-2"),
                    reason: None,
                },
            ],
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 1 { 2 } else { 0 },
            error_code: 0,
            members: if version >= 3 {
                vec![
                    MemberResponse {
                        member_id: "member-1".into(),
                        group_instance_id: None,
                        error_code: 0,
                    },
                    MemberResponse {
                        member_id: "".into(),
                        group_instance_id: Some("instance-2".into()),
                        error_code: 25,
                    },
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn leave_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 1, b'm', // member_id "m"
        ];
        let expected = Request {
            group_id: "g",
            member_id: "m",
            members: vec![],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 0)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn leave_group_v3_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0xff, 0xff, // group_instance_id null
        ];
        let expected = Request {
            group_id: "g",
            member_id: "",
            members: vec![MemberIdentity {
                member_id: "m",
                group_instance_id: None,
                reason: None,
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 3)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 3)), body);
    }

    #[test]
    fn leave_group_v5_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            2, b'r', // reason "r"
            0,    // member tags
            0,    // tags
        ];
        let expected = Request {
            group_id: "g",
            member_id: "",
            members: vec![MemberIdentity {
                member_id: "m",
                group_instance_id: Some("i"),
                reason: Some("r"),
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
    fn leave_group_v0_response_bytes() {
        let response = Response {
            error_code: 25,
            ..Response::default()
        };
        let body = [0, 25]; // error_code UNKNOWN_MEMBER_ID (no throttle_time_ms in v0)
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn leave_group_v4_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            members: vec![MemberResponse {
                member_id: "m".into(),
                group_instance_id: None,
                error_code: 25,
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            2, // members: 1 (compact)
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            0, 25, // error_code UNKNOWN_MEMBER_ID
            0,  // member tags
            0,  // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 4)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 4)), Ok(response));
    }

    #[test]
    fn leave_group_round_trips_every_version() {
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
    fn leave_group_every_truncation_is_an_error() {
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
    fn leave_group_huge_counts_and_bad_versions_are_rejected() {
        // v3: members claims 2^31-1 entries with no bytes behind the count.
        let body = [0, 1, b'g', 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 3),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 6] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("leave_group version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("leave_group version"))
            );
        }
    }

    #[test]
    fn min_bytes_are_the_smallest_encodings() {
        for version in 3..=MAX_VERSION {
            let empty = MemberIdentity {
                member_id: "",
                group_instance_id: None,
                reason: None,
            };
            let size = encoded(|w| empty.encode(w, version)).len();
            assert_eq!(size, MemberIdentity::min_bytes(version), "v{version}");
        }
        for flexible in [false, true] {
            let empty = MemberResponse {
                member_id: String::new(),
                group_instance_id: None,
                error_code: 0,
            };
            let size = encoded(|w| empty.encode(w, flexible)).len();
            assert_eq!(
                size,
                MemberResponse::min_bytes(flexible),
                "flexible {flexible}"
            );
        }
    }
}
