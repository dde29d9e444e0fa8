//! JoinGroup (key 11), versions 0-9; flexible (compact encodings, tagged fields) from v6.
//! A member joins (or rejoins) a classic group, naming the protocols it supports with their
//! metadata; the coordinator answers with the generation, the chosen protocol, the leader
//! and, to the leader only, every member's metadata.
//! - v1: the request adds rebalance_timeout_ms. v2: the response adds throttle_time_ms.
//!   v3: no change on the wire (responses go out before throttling).
//! - v4: no change on the wire, but a member with an empty member_id gets
//!   MEMBER_ID_REQUIRED with an assigned id and must join again.
//! - v5: group_instance_id in the request and in each response member (KIP-345).
//! - v6: first flexible version.
//! - v7: the response adds protocol_type, and its protocol_name may be null (KIP-559).
//! - v8: the request adds reason (KIP-800).
//! - v9: the response adds skip_assignment.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{
    DecodeError, Reader, Result, Writer, bytes_min_bytes, decode_array, string_min_bytes,
};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 9;
pub const FIRST_FLEXIBLE_VERSION: i16 = 6;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("join_group version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub group_id: &'a str,
    pub session_timeout_ms: i32,
    /// v1+; -1 before, when session_timeout_ms stands in for it.
    pub rebalance_timeout_ms: i32,
    /// Empty on a member's first join.
    pub member_id: &'a str,
    /// v5+; null for a dynamic member and before v5.
    pub group_instance_id: Option<&'a str>,
    /// "consumer" for the Java consumer's protocols.
    pub protocol_type: &'a str,
    pub protocols: Vec<Protocol<'a>>,
    /// v8+; null when not given.
    pub reason: Option<&'a str>,
}

/// One protocol (assignor) a member supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol<'a> {
    pub name: &'a str,
    /// Opaque to the broker: the subscription, for the consumer protocol.
    pub metadata: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let group_id = r.string(flexible)?;
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let member_id = r.string(flexible)?;
        let group_instance_id = if version >= 5 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        let protocol_type = r.string(flexible)?;
        let n = r.array_len(flexible, Protocol::min_bytes(flexible))?;
        let protocols = decode_array(r, n, |r| Protocol::decode(r, flexible))?;
        let reason = if version >= 8 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        r.skip_tags(flexible)?;
        Ok(Request {
            group_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id,
            group_instance_id,
            protocol_type,
            protocols,
            reason,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "join_group v{version}");
        let flexible = is_flexible(version);
        w.string(self.group_id, flexible)
            .i32(self.session_timeout_ms);
        if version >= 1 {
            w.i32(self.rebalance_timeout_ms);
        }
        w.string(self.member_id, flexible);
        if version >= 5 {
            w.nullable_string(self.group_instance_id, flexible);
        }
        w.string(self.protocol_type, flexible);
        w.array_len(self.protocols.len(), flexible);
        for protocol in &self.protocols {
            protocol.encode(w, flexible);
        }
        if version >= 8 {
            w.nullable_string(self.reason, flexible);
        }
        w.tags(flexible);
    }
}

impl<'a> Protocol<'a> {
    /// name, metadata and (flexible) a tag count.
    fn min_bytes(flexible: bool) -> usize {
        string_min_bytes(flexible) + bytes_min_bytes(flexible) + usize::from(flexible)
    }

    fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let name = r.string(flexible)?;
        let metadata = r.bytes(flexible)?;
        r.skip_tags(flexible)?;
        Ok(Protocol { name, metadata })
    }

    fn encode(&self, w: &mut Writer, flexible: bool) {
        w.string(self.name, flexible)
            .bytes(self.metadata, flexible)
            .tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// v2+.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// -1 on error.
    pub generation_id: i32,
    /// v7+; null when unknown.
    pub protocol_type: Option<String>,
    /// Null only from v7; written as "" before.
    pub protocol_name: Option<String>,
    pub leader: String,
    /// v9+: the leader must not run the assignment (the group is static and stable).
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member with its metadata for the leader; empty for the others.
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    /// v5+.
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            throttle_time_ms: 0,
            error_code: 0,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: String::new(),
            members: Vec::new(),
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "join_group v{version}");
        let flexible = is_flexible(version);
        if version >= 2 {
            w.i32(self.throttle_time_ms);
        }
        w.i16(self.error_code).i32(self.generation_id);
        if version >= 7 {
            w.nullable_string(self.protocol_type.as_deref(), flexible);
            w.nullable_string(self.protocol_name.as_deref(), flexible);
        } else {
            w.string(self.protocol_name.as_deref().unwrap_or(""), flexible);
        }
        w.string(&self.leader, flexible);
        if version >= 9 {
            w.bool(self.skip_assignment);
        }
        w.string(&self.member_id, flexible);
        w.array_len(self.members.len(), flexible);
        for member in &self.members {
            member.encode(w, version);
        }
        w.tags(flexible);
    }

    /// The client's side; the broker uses it only in tests.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let mut out = Response::default();
        if version >= 2 {
            out.throttle_time_ms = r.i32()?;
        }
        out.error_code = r.i16()?;
        out.generation_id = r.i32()?;
        if version >= 7 {
            out.protocol_type = r.nullable_string(flexible)?.map(str::to_owned);
            out.protocol_name = r.nullable_string(flexible)?.map(str::to_owned);
        } else {
            out.protocol_name = Some(r.string(flexible)?.to_owned());
        }
        out.leader = r.string(flexible)?.to_owned();
        if version >= 9 {
            out.skip_assignment = r.bool()?;
        }
        out.member_id = r.string(flexible)?.to_owned();
        let n = r.array_len(flexible, Member::min_bytes(version))?;
        out.members = decode_array(r, n, |r| Member::decode(r, version))?;
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl Member {
    /// member_id, group_instance_id (v5+), metadata and (flexible) a tag count.
    fn min_bytes(version: i16) -> usize {
        let flexible = is_flexible(version);
        let strings = if version >= 5 { 2 } else { 1 };
        strings * string_min_bytes(flexible) + bytes_min_bytes(flexible) + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(&self.member_id, flexible);
        if version >= 5 {
            w.nullable_string(self.group_instance_id.as_deref(), flexible);
        }
        w.bytes(&self.metadata, flexible).tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let member_id = r.string(flexible)?.to_owned();
        let group_instance_id = if version >= 5 {
            r.nullable_string(flexible)?.map(str::to_owned)
        } else {
            None
        };
        let metadata = r.bytes(flexible)?.to_vec();
        r.skip_tags(flexible)?;
        Ok(Member {
            member_id,
            group_instance_id,
            metadata,
        })
    }
}

// ---- Handling ----

/// Joins a member; waits (parked) until the group's rebalance completes.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use super::Wait;
    use crate::coordinator::{JoinOutcome, JoinRequest};
    let request = Request::decode(body, ctx.version)?;
    let outcome = match ctx.wait {
        Wait::Allowed => {
            let client_host = format!("/{}", ctx.client_addr.ip());
            let join = JoinRequest {
                group_id: request.group_id,
                member_id: request.member_id,
                instance_id: request.group_instance_id,
                client_id: ctx.client_id.unwrap_or(""),
                client_host: &client_host,
                session_timeout_ms: request.session_timeout_ms,
                rebalance_timeout_ms: if request.rebalance_timeout_ms < 0 {
                    request.session_timeout_ms
                } else {
                    request.rebalance_timeout_ms
                },
                protocol_type: request.protocol_type,
                protocols: request
                    .protocols
                    .iter()
                    .map(|p| (p.name, p.metadata))
                    .collect(),
                require_known_member_id: ctx.version >= 4,
                connection: 0 /* FIXME: connection ids leave the coordinator */,
            };
            broker.coordinator.join(&join, ctx.now)
        }
        Wait::Until(_) | Wait::Expired => broker
            .coordinator
            .join_result(request.group_id, request.member_id, 0 /* FIXME: connection ids leave the coordinator */)
            .unwrap_or(JoinOutcome::Error(
                crate::protocol::error::UNKNOWN_MEMBER_ID,
                request.member_id.to_string(),
            )),
    };
    let response = match outcome {
        JoinOutcome::Wait(_, deadline) => return Ok(super::Reply::Park(deadline)),
        JoinOutcome::Joined(result) => Response {
            throttle_time_ms: 0,
            error_code: crate::protocol::error::NONE,
            generation_id: result.generation,
            protocol_type: result.protocol_type,
            protocol_name: result.protocol_name,
            leader: result.leader,
            skip_assignment: false,
            member_id: result.member_id,
            members: result
                .members
                .into_iter()
                .map(|(member_id, group_instance_id, metadata)| Member {
                    member_id,
                    group_instance_id,
                    metadata,
                })
                .collect(),
        },
        JoinOutcome::MemberIdRequired(member_id) => {
            failed(crate::protocol::error::MEMBER_ID_REQUIRED, member_id)
        }
        JoinOutcome::Error(code, member_id) => failed(code, member_id),
    };
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

fn failed(error_code: i16, member_id: String) -> Response {
    Response {
        throttle_time_ms: 0,
        error_code,
        generation_id: -1,
        protocol_type: None,
        protocol_name: None,
        leader: String::new(),
        skip_assignment: false,
        member_id,
        members: Vec::new(),
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
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: if version >= 1 { 300_000 } else { -1 },
            member_id: "member-1",
            group_instance_id: (version >= 5).then_some("instance-1"),
            protocol_type: "consumer",
            protocols: vec![
                Protocol {
                    name: "range",
                    metadata: &[0, 3, 0, 0, 0, 1, 0, 1, b't'],
                },
                Protocol {
                    name: "cooperative-sticky",
                    metadata: &[],
                },
            ],
            reason: (version >= 8).then_some("rebalance"),
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 2 { 4 } else { 0 },
            error_code: 0,
            generation_id: 2,
            protocol_type: (version >= 7).then(|| "consumer".to_owned()),
            protocol_name: Some("range".into()),
            leader: "member-1".into(),
            skip_assignment: version >= 9,
            member_id: "member-1".into(),
            members: vec![
                Member {
                    member_id: "member-1".into(),
                    group_instance_id: (version >= 5).then(|| "instance-1".to_owned()),
                    metadata: vec![0, 3, 1, 2],
                },
                Member {
                    member_id: "member-2".into(),
                    group_instance_id: None,
                    metadata: vec![],
                },
            ],
        }
    }

    #[test]
    fn join_group_v0_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0x27, 0x10, // session_timeout_ms 10000 (no rebalance_timeout_ms in v0)
            0, 0, // member_id ""
            0, 1, b'c', // protocol_type "c"
            0, 0, 0, 1, // protocols: 1
            0, 1, b'r', // name "r"
            0, 0, 0, 2, 7, 8, // metadata [7, 8]
        ];
        let expected = Request {
            group_id: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: -1,
            member_id: "",
            group_instance_id: None,
            protocol_type: "c",
            protocols: vec![Protocol {
                name: "r",
                metadata: &[7, 8],
            }],
            reason: None,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 0)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn join_group_v8_request_bytes() {
        let body = [
            2, b'g', // group_id "g" (compact)
            0, 0, 0x27, 0x10, // session_timeout_ms 10000
            0, 0, 0x75, 0x30, // rebalance_timeout_ms 30000
            2, b'm', // member_id "m"
            0,    // group_instance_id null
            2, b'c', // protocol_type "c"
            2,    // protocols: 1 (compact)
            2, b'r', // name "r"
            3, 7, 8, // metadata [7, 8] (compact)
            0, // protocol tags
            2, b'x', // reason "x"
            0,    // tags
        ];
        let expected = Request {
            group_id: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            member_id: "m",
            group_instance_id: None,
            protocol_type: "c",
            protocols: vec![Protocol {
                name: "r",
                metadata: &[7, 8],
            }],
            reason: Some("x"),
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 8)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 8)), body);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let mut tagged = body[..body.len() - 1].to_vec();
        tagged.extend([1, 9, 2, 0xab, 0xcd]);
        assert_eq!(decode_all(&tagged, |r| Request::decode(r, 8)), Ok(expected));
    }

    #[test]
    fn join_group_v0_response_bytes() {
        let response = Response {
            generation_id: 1,
            protocol_name: Some("r".into()),
            leader: "m".into(),
            member_id: "m".into(),
            members: vec![Member {
                member_id: "m".into(),
                group_instance_id: None,
                metadata: vec![9],
            }],
            ..Response::default()
        };
        let body = [
            0, 0, // error_code 0 (no throttle_time_ms before v2)
            0, 0, 0, 1, // generation_id 1
            0, 1, b'r', // protocol_name "r"
            0, 1, b'm', // leader "m"
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0, 0, 0, 1, 9, // metadata [9]
        ];
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn join_group_v9_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 79,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: "".into(),
            skip_assignment: false,
            member_id: "m".into(),
            members: vec![Member {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                metadata: vec![],
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 79, // error_code MEMBER_ID_REQUIRED
            0xff, 0xff, 0xff, 0xff, // generation_id -1
            0,    // protocol_type null
            0,    // protocol_name null
            1,    // leader ""
            0,    // skip_assignment false
            2, b'm', // member_id "m"
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            1,    // metadata empty (compact)
            0,    // member tags
            0,    // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 9)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 9)), Ok(response));
    }

    #[test]
    fn join_group_round_trips_every_version() {
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
    fn join_group_every_truncation_is_an_error() {
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
    fn join_group_huge_counts_and_bad_versions_are_rejected() {
        // v0: protocols claims 2^31-1 entries with no bytes behind the count.
        let body = [
            0, 1, b'g', 0, 0, 0, 1, 0, 0, 0, 1, b'c', 0x7f, 0xff, 0xff, 0xff,
        ];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 0),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 10] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("join_group version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("join_group version"))
            );
        }
    }

    #[test]
    fn min_bytes_are_the_smallest_encodings() {
        for flexible in [false, true] {
            let empty = Protocol {
                name: "",
                metadata: &[],
            };
            let size = encoded(|w| empty.encode(w, flexible)).len();
            assert_eq!(size, Protocol::min_bytes(flexible), "flexible {flexible}");
        }
        for version in MIN_VERSION..=MAX_VERSION {
            let empty = Member {
                member_id: String::new(),
                group_instance_id: None,
                metadata: Vec::new(),
            };
            let size = encoded(|w| empty.encode(w, version)).len();
            assert_eq!(size, Member::min_bytes(version), "v{version}");
        }
    }
}
