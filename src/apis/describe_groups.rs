//! DescribeGroups (key 15), versions 0-6; flexible (compact encodings, tagged fields) from v5.
//! Describes groups by id: state, protocol and members with their metadata and assignment.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire (responses go out
//!   before throttling).
//! - v3: the request asks for authorized operations, and each group carries a bitfield.
//! - v4: each member carries its group_instance_id.
//! - v5: first flexible version.
//! - v6: each group carries an error_message, and an unknown group gets GROUP_ID_NOT_FOUND
//!   (KIP-1043) instead of a Dead group.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{
    DecodeError, Reader, Result, Writer, bytes_min_bytes, decode_array, string_min_bytes,
};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 6;
pub const FIRST_FLEXIBLE_VERSION: i16 = 5;

/// The value of an authorized-operations bitfield that was not asked for.
pub const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("describe_groups version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub groups: Vec<&'a str>,
    /// v3+.
    pub include_authorized_operations: bool,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let n = r.array_len(flexible, string_min_bytes(flexible))?;
        let groups = decode_array(r, n, |r| r.string(flexible))?;
        let include_authorized_operations = version >= 3 && r.bool()?;
        r.skip_tags(flexible)?;
        Ok(Request {
            groups,
            include_authorized_operations,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "describe_groups v{version}");
        let flexible = is_flexible(version);
        w.array_len(self.groups.len(), flexible);
        for group in &self.groups {
            w.string(group, flexible);
        }
        if version >= 3 {
            w.bool(self.include_authorized_operations);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    pub groups: Vec<DescribedGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error_code: i16,
    /// v6+; null when there is no error.
    pub error_message: Option<String>,
    pub group_id: String,
    /// "Stable", "Empty", "Dead", ... or "".
    pub group_state: String,
    /// "consumer", or "".
    pub protocol_type: String,
    /// The chosen protocol (assignor) when Stable, else "".
    pub protocol_data: String,
    pub members: Vec<DescribedGroupMember>,
    /// v3+; `AUTHORIZED_OPERATIONS_UNSET` when not asked for.
    pub authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribedGroupMember {
    pub member_id: String,
    /// v4+.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Empty unless the group is Stable.
    pub member_metadata: Vec<u8>,
    /// Empty unless the group is Stable.
    pub member_assignment: Vec<u8>,
}

impl Default for DescribedGroup {
    fn default() -> Self {
        DescribedGroup {
            error_code: 0,
            error_message: None,
            group_id: String::new(),
            group_state: String::new(),
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
            authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "describe_groups v{version}");
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.array_len(self.groups.len(), flexible);
        for group in &self.groups {
            group.encode(w, version);
        }
        w.tags(flexible);
    }

    /// The client's side; the broker uses it only in tests.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let n = r.array_len(flexible, DescribedGroup::min_bytes(version))?;
        let groups = decode_array(r, n, |r| DescribedGroup::decode(r, version))?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            groups,
        })
    }
}

impl DescribedGroup {
    /// error_code, error_message (v6+), four strings, the members count (one byte when
    /// compact, four when classic), authorized_operations (v3+) and (flexible) a tag count.
    fn min_bytes(version: i16) -> usize {
        let flexible = is_flexible(version);
        let strings = 4 + usize::from(version >= 6);
        let members = if flexible { 1 } else { 4 };
        let operations = if version >= 3 { 4 } else { 0 };
        2 + strings * string_min_bytes(flexible) + members + operations + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.i16(self.error_code);
        if version >= 6 {
            w.nullable_string(self.error_message.as_deref(), flexible);
        }
        w.string(&self.group_id, flexible)
            .string(&self.group_state, flexible)
            .string(&self.protocol_type, flexible)
            .string(&self.protocol_data, flexible);
        w.array_len(self.members.len(), flexible);
        for member in &self.members {
            member.encode(w, version);
        }
        if version >= 3 {
            w.i32(self.authorized_operations);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let mut out = DescribedGroup {
            error_code: r.i16()?,
            ..DescribedGroup::default()
        };
        if version >= 6 {
            out.error_message = r.nullable_string(flexible)?.map(str::to_owned);
        }
        out.group_id = r.string(flexible)?.to_owned();
        out.group_state = r.string(flexible)?.to_owned();
        out.protocol_type = r.string(flexible)?.to_owned();
        out.protocol_data = r.string(flexible)?.to_owned();
        let n = r.array_len(flexible, DescribedGroupMember::min_bytes(version))?;
        out.members = decode_array(r, n, |r| DescribedGroupMember::decode(r, version))?;
        if version >= 3 {
            out.authorized_operations = r.i32()?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

impl DescribedGroupMember {
    /// member_id, group_instance_id (v4+), client_id, client_host, two BYTES and
    /// (flexible) a tag count.
    fn min_bytes(version: i16) -> usize {
        let flexible = is_flexible(version);
        let strings = 3 + usize::from(version >= 4);
        strings * string_min_bytes(flexible) + 2 * bytes_min_bytes(flexible) + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(&self.member_id, flexible);
        if version >= 4 {
            w.nullable_string(self.group_instance_id.as_deref(), flexible);
        }
        w.string(&self.client_id, flexible)
            .string(&self.client_host, flexible)
            .bytes(&self.member_metadata, flexible)
            .bytes(&self.member_assignment, flexible)
            .tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let member_id = r.string(flexible)?.to_owned();
        let group_instance_id = if version >= 4 {
            r.nullable_string(flexible)?.map(str::to_owned)
        } else {
            None
        };
        let out = DescribedGroupMember {
            member_id,
            group_instance_id,
            client_id: r.string(flexible)?.to_owned(),
            client_host: r.string(flexible)?.to_owned(),
            member_metadata: r.bytes(flexible)?.to_vec(),
            member_assignment: r.bytes(flexible)?.to_vec(),
        };
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

// ---- Handling ----

/// READ, DELETE and DESCRIBE: what a client may do to a group with no authorizer.
const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::coordinator::GroupState;
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let operations = if request.include_authorized_operations {
        GROUP_OPERATIONS_ALL
    } else {
        AUTHORIZED_OPERATIONS_UNSET
    };
    let mut groups = Vec::with_capacity(request.groups.len());
    for &group_id in &request.groups {
        let described = match broker.coordinator.group(group_id) {
            Some(group) => {
                let stable = group.state == GroupState::Stable;
                let protocol = group.protocol_name.clone().unwrap_or_default();
                DescribedGroup {
                    error_code: error::NONE,
                    error_message: None,
                    group_id: group_id.to_string(),
                    group_state: group.state.name().to_string(),
                    protocol_type: group.protocol_type.clone().unwrap_or_default(),
                    protocol_data: if stable {
                        protocol.clone()
                    } else {
                        String::new()
                    },
                    members: group
                        .members
                        .values()
                        .map(|m| DescribedGroupMember {
                            member_id: m.id.clone(),
                            group_instance_id: m.instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            member_metadata: if stable {
                                m.protocols
                                    .iter()
                                    .find(|(n, _)| *n == protocol)
                                    .map(|(_, md)| md.clone())
                                    .unwrap_or_default()
                            } else {
                                Vec::new()
                            },
                            member_assignment: if stable {
                                m.assignment.clone()
                            } else {
                                Vec::new()
                            },
                        })
                        .collect(),
                    authorized_operations: operations,
                }
            }
            None => {
                let known = broker.storage.committed(group_id).is_some();
                let (error_code, state) = match (known, ctx.version >= 6) {
                    (true, _) => (error::NONE, "Empty"),
                    (false, true) => (error::GROUP_ID_NOT_FOUND, "Dead"),
                    (false, false) => (error::NONE, "Dead"),
                };
                DescribedGroup {
                    error_code,
                    error_message: None,
                    group_id: group_id.to_string(),
                    group_state: state.to_string(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: Vec::new(),
                    authorized_operations: operations,
                }
            }
        };
        groups.push(described);
    }
    Response {
        throttle_time_ms: 0,
        groups,
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
            groups: vec!["group-a", "", "group-b"],
            include_authorized_operations: version >= 3,
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 1 { 7 } else { 0 },
            groups: vec![
                DescribedGroup {
                    error_code: 0,
                    error_message: None,
                    group_id: "group-a".into(),
                    group_state: "Stable".into(),
                    protocol_type: "consumer".into(),
                    protocol_data: "range".into(),
                    members: vec![
                        DescribedGroupMember {
                            member_id: "member-1".into(),
                            group_instance_id: (version >= 4).then(|| "instance-1".to_owned()),
                            client_id: "client".into(),
                            client_host: "/127.0.0.1".into(),
                            member_metadata: vec![0, 3, 0, 0],
                            member_assignment: vec![0, 3, 0, 0, 0, 1],
                        },
                        DescribedGroupMember::default(),
                    ],
                    authorized_operations: if version >= 3 { 0x0f00 } else { i32::MIN },
                },
                DescribedGroup {
                    error_code: 69,
                    error_message: (version >= 6).then(|| "no such group".to_owned()),
                    group_id: "group-b".into(),
                    group_state: "Dead".into(),
                    ..DescribedGroup::default()
                },
            ],
        }
    }

    #[test]
    fn describe_groups_v0_request_bytes() {
        let body = [
            0, 0, 0, 1, // groups: 1
            0, 1, b'g', // "g"
        ];
        let expected = Request {
            groups: vec!["g"],
            include_authorized_operations: false,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 0)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 0)), body);
    }

    #[test]
    fn describe_groups_v5_request_bytes() {
        let body = [
            3, // groups: 2 (compact)
            2, b'a', // "a"
            2, b'b', // "b"
            1,    // include_authorized_operations true
            0,    // tags
        ];
        let expected = Request {
            groups: vec!["a", "b"],
            include_authorized_operations: true,
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
    fn describe_groups_v0_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            groups: vec![DescribedGroup {
                group_id: "g".into(),
                group_state: "S".into(),
                protocol_type: "c".into(),
                protocol_data: "r".into(),
                members: vec![DescribedGroupMember {
                    member_id: "m".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "h".into(),
                    member_metadata: vec![1],
                    member_assignment: vec![2, 3],
                }],
                ..DescribedGroup::default()
            }],
        };
        let body = [
            0, 0, 0, 1, // groups: 1 (no throttle_time_ms in v0)
            0, 0, // error_code 0
            0, 1, b'g', // group_id "g"
            0, 1, b'S', // group_state "S"
            0, 1, b'c', // protocol_type "c"
            0, 1, b'r', // protocol_data "r"
            0, 0, 0, 1, // members: 1
            0, 1, b'm', // member_id "m"
            0, 1, b'c', // client_id "c"
            0, 1, b'h', // client_host "h"
            0, 0, 0, 1, 1, // member_metadata [1]
            0, 0, 0, 2, 2, 3, // member_assignment [2, 3]
        ];
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn describe_groups_v6_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            groups: vec![DescribedGroup {
                error_code: 0,
                error_message: None,
                group_id: "g".into(),
                group_state: "S".into(),
                protocol_type: "c".into(),
                protocol_data: "r".into(),
                members: vec![DescribedGroupMember {
                    member_id: "m".into(),
                    group_instance_id: Some("i".into()),
                    client_id: "c".into(),
                    client_host: "h".into(),
                    member_metadata: vec![1],
                    member_assignment: vec![],
                }],
                authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            2, // groups: 1 (compact)
            0, 0, // error_code 0
            0, // error_message null
            2, b'g', // group_id "g"
            2, b'S', // group_state "S"
            2, b'c', // protocol_type "c"
            2, b'r', // protocol_data "r"
            2,    // members: 1 (compact)
            2, b'm', // member_id "m"
            2, b'i', // group_instance_id "i"
            2, b'c', // client_id "c"
            2, b'h', // client_host "h"
            2, 1, // member_metadata [1]
            1, // member_assignment empty
            0, // member tags
            0x80, 0, 0, 0, // authorized_operations i32::MIN (unset)
            0, // group tags
            0, // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 6)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 6)), Ok(response));
    }

    #[test]
    fn describe_groups_round_trips_every_version() {
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
    fn describe_groups_every_truncation_is_an_error() {
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
    fn describe_groups_huge_counts_and_bad_versions_are_rejected() {
        // v0: groups claims 2^31-1 entries in a 7-byte body.
        let body = [0x7f, 0xff, 0xff, 0xff, 0, 1, b'g'];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 0),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 7] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("describe_groups version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("describe_groups version"))
            );
        }
    }

    #[test]
    fn min_bytes_are_the_smallest_encodings() {
        for version in MIN_VERSION..=MAX_VERSION {
            let size = encoded(|w| DescribedGroup::default().encode(w, version)).len();
            assert_eq!(size, DescribedGroup::min_bytes(version), "v{version}");
            let size = encoded(|w| DescribedGroupMember::default().encode(w, version)).len();
            assert_eq!(size, DescribedGroupMember::min_bytes(version), "v{version}");
        }
    }
}
