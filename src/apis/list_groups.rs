//! ListGroups (key 16), versions 0-5; flexible (compact encodings, tagged fields) from v3.
//! Lists the groups this broker coordinates, optionally filtered by state and type.
//! - v0: an empty request; each listed group has its id and protocol type.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire (responses go out
//!   before throttling).
//! - v3: first flexible version.
//! - v4: the request adds states_filter and each listed group its group_state (KIP-518).
//! - v5: the request adds types_filter and each listed group its group_type (KIP-848).
//!   An empty filter matches every group.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array, string_min_bytes};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 5;
pub const FIRST_FLEXIBLE_VERSION: i16 = 3;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("list_groups version"))
    }
}

/// A string array (no per-element tag section, even when flexible).
fn decode_strings<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<Vec<&'a str>> {
    let n = r.array_len(flexible, string_min_bytes(flexible))?;
    decode_array(r, n, |r| r.string(flexible))
}

fn encode_strings(w: &mut Writer, values: &[&str], flexible: bool) {
    w.array_len(values.len(), flexible);
    for value in values {
        w.string(value, flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request<'a> {
    /// v4+: the states to list ("Stable", "Empty", ...); empty lists every state.
    pub states_filter: Vec<&'a str>,
    /// v5+: the group types to list ("classic", "consumer", ...); empty lists every type.
    pub types_filter: Vec<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let mut out = Request::default();
        if version >= 4 {
            out.states_filter = decode_strings(r, flexible)?;
        }
        if version >= 5 {
            out.types_filter = decode_strings(r, flexible)?;
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "list_groups v{version}");
        let flexible = is_flexible(version);
        if version >= 4 {
            encode_strings(w, &self.states_filter, flexible);
        }
        if version >= 5 {
            encode_strings(w, &self.types_filter, flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// v1+.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub groups: Vec<ListedGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedGroup {
    pub group_id: String,
    /// "consumer" for consumer groups; may be empty.
    pub protocol_type: String,
    /// v4+.
    pub group_state: String,
    /// v5+.
    pub group_type: String,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "list_groups v{version}");
        let flexible = is_flexible(version);
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        w.i16(self.error_code);
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
        let error_code = r.i16()?;
        let n = r.array_len(flexible, ListedGroup::min_bytes(version))?;
        let groups = decode_array(r, n, |r| ListedGroup::decode(r, version))?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            error_code,
            groups,
        })
    }
}

impl ListedGroup {
    /// group_id, protocol_type, group_state (v4+), group_type (v5+) and (flexible) a tag
    /// count.
    fn min_bytes(version: i16) -> usize {
        let flexible = is_flexible(version);
        let strings = 2 + usize::from(version >= 4) + usize::from(version >= 5);
        strings * string_min_bytes(flexible) + usize::from(flexible)
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(&self.group_id, flexible)
            .string(&self.protocol_type, flexible);
        if version >= 4 {
            w.string(&self.group_state, flexible);
        }
        if version >= 5 {
            w.string(&self.group_type, flexible);
        }
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let mut out = ListedGroup {
            group_id: r.string(flexible)?.to_owned(),
            protocol_type: r.string(flexible)?.to_owned(),
            ..ListedGroup::default()
        };
        if version >= 4 {
            out.group_state = r.string(flexible)?.to_owned();
        }
        if version >= 5 {
            out.group_type = r.string(flexible)?.to_owned();
        }
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

// ---- Handling ----

/// Live groups and groups known only from committed offsets (which are Empty).
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let mut groups: std::collections::BTreeMap<String, (String, &'static str)> = broker
        .storage
        .groups_with_offsets()
        .map(|g| (g.to_string(), (String::new(), "Empty")))
        .collect();
    for group in broker.coordinator.groups.values() {
        let protocol_type = group.protocol_type.clone().unwrap_or_default();
        groups.insert(group.id.clone(), (protocol_type, group.state.name()));
    }
    let wanted_state = |state: &str| {
        request.states_filter.is_empty()
            || request
                .states_filter
                .iter()
                .any(|s| s.eq_ignore_ascii_case(state))
    };
    let wanted_type = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.eq_ignore_ascii_case("classic"));
    let groups = groups
        .into_iter()
        .filter(|(_, (_, state))| wanted_type && wanted_state(state))
        .map(|(group_id, (protocol_type, state))| ListedGroup {
            group_id,
            protocol_type,
            group_state: state.to_string(),
            group_type: "classic".to_string(),
        })
        .collect();
    Response {
        throttle_time_ms: 0,
        error_code: crate::protocol::error::NONE,
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
            states_filter: if version >= 4 {
                vec!["Stable", "Empty"]
            } else {
                Vec::new()
            },
            types_filter: if version >= 5 {
                vec!["classic"]
            } else {
                Vec::new()
            },
        }
    }

    fn sample_response(version: i16) -> Response {
        let state = |s: &str| {
            if version >= 4 {
                s.to_owned()
            } else {
                String::new()
            }
        };
        let kind = if version >= 5 { "classic" } else { "" };
        Response {
            throttle_time_ms: if version >= 1 { 9 } else { 0 },
            error_code: 0,
            groups: vec![
                ListedGroup {
                    group_id: "group-a".into(),
                    protocol_type: "consumer".into(),
                    group_state: state("Stable"),
                    group_type: kind.into(),
                },
                ListedGroup {
                    group_id: "group-b".into(),
                    protocol_type: "".into(),
                    group_state: state("Empty"),
                    group_type: kind.into(),
                },
            ],
        }
    }

    #[test]
    fn list_groups_v0_request_is_empty() {
        assert_eq!(
            decode_all(&[], |r| Request::decode(r, 0)),
            Ok(Request::default())
        );
        assert_eq!(encoded(|w| Request::default().encode(w, 0)), [0u8; 0]);
    }

    #[test]
    fn list_groups_v5_request_bytes() {
        let body = [
            2, // states_filter: 1 (compact)
            7, b'S', b't', b'a', b'b', b'l', b'e', // "Stable"
            1,    // types_filter: empty (compact)
            0,    // tags
        ];
        let expected = Request {
            states_filter: vec!["Stable"],
            types_filter: vec![],
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
    fn list_groups_v3_request_is_a_tag_section() {
        assert_eq!(
            decode_all(&[0], |r| Request::decode(r, 3)),
            Ok(Request::default())
        );
        assert_eq!(encoded(|w| Request::default().encode(w, 3)), [0]);
    }

    #[test]
    fn list_groups_v0_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            groups: vec![ListedGroup {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                ..ListedGroup::default()
            }],
        };
        let body = [
            0, 0, // error_code 0 (no throttle_time_ms in v0)
            0, 0, 0, 1, // groups: 1
            0, 1, b'g', // group_id "g"
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type "consumer"
        ];
        assert_eq!(encoded(|w| response.encode(w, 0)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 0)), Ok(response));
    }

    #[test]
    fn list_groups_v5_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            groups: vec![ListedGroup {
                group_id: "g".into(),
                protocol_type: "".into(),
                group_state: "Empty".into(),
                group_type: "classic".into(),
            }],
        };
        let body = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            2, // groups: 1 (compact)
            2, b'g', // group_id "g"
            1,    // protocol_type ""
            6, b'E', b'm', b'p', b't', b'y', // group_state "Empty"
            8, b'c', b'l', b'a', b's', b's', b'i', b'c', // group_type "classic"
            0,    // group tags
            0,    // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 5)), body);
        assert_eq!(decode_all(&body, |r| Response::decode(r, 5)), Ok(response));
    }

    #[test]
    fn list_groups_round_trips_every_version() {
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
    fn list_groups_every_truncation_is_an_error() {
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
    fn list_groups_huge_counts_and_bad_versions_are_rejected() {
        // v4: states_filter claims 2^32-2 entries with one byte behind the count.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 4),
            Err(DecodeError::Truncated)
        );
        for version in [-1, 6] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("list_groups version"))
            );
            assert_eq!(
                Response::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("list_groups version"))
            );
        }
    }

    #[test]
    fn listed_group_min_bytes_is_the_smallest_encoding() {
        for version in MIN_VERSION..=MAX_VERSION {
            let size = encoded(|w| ListedGroup::default().encode(w, version)).len();
            assert_eq!(size, ListedGroup::min_bytes(version), "v{version}");
        }
    }
}
