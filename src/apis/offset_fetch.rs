//! OffsetFetch (key 9), versions 1-9; flexible (compact encodings, tagged fields) from v6.
//! Version 0 (offsets in ZooKeeper) was removed in Kafka 4.0, so v1 is the baseline.
//! What each version adds, per Kafka's OffsetFetchRequest/OffsetFetchResponse schemas:
//! - v2: a null topic array asks for every topic's offsets; the response gains a top-level
//!   error_code. v3: the response's throttle_time_ms. v4: no change on the wire.
//! - v5: the response's committed_leader_epoch per partition.
//! - v6: first flexible version.
//! - v7: the request's require_stable (UNSTABLE_OFFSET_COMMIT per partition).
//! - v8: batching: the request and the response carry an array of groups instead of one
//!   group id, each with its own topics (null = all) and error code.
//! - v9: each requested group's member_id and member_epoch (KIP-848 consumer protocol).
//! - v10 (topic ids instead of names) is out of our range.
//!
//! Both shapes are one struct here: `groups` holds exactly one group before v8. A v1-7
//! response has no group id on the wire, and a v1 response no group error (a handler
//! answering v1 must put a group-level error on each partition instead).
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 9;
pub const FIRST_FLEXIBLE_VERSION: i16 = 6;
/// The first version that batches groups.
pub const FIRST_GROUPS_VERSION: i16 = 8;

/// `committed_offset` of a partition with no committed offset.
pub const NO_OFFSET: i64 = -1;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("offset_fetch version"))
    }
}

/// The least bytes an element can take: `classic` before v6, `compact` from v6.
fn min_bytes(flexible: bool, classic: usize, compact: usize) -> usize {
    if flexible { compact } else { classic }
}

/// A request topic: name, partition_indexes (+ tags).
fn topic_min_bytes(flexible: bool) -> usize {
    min_bytes(flexible, 2 + 4, 1 + 1 + 1)
}

/// A request group (v8+): group_id, member_id and member_epoch (v9+), topics, tags.
fn group_min_bytes(version: i16) -> usize {
    let member = if version >= 9 { 1 + 4 } else { 0 };
    1 + member + 1 + 1
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Exactly one group before v8.
    pub groups: Vec<RequestGroup<'a>>,
    /// v7+.
    pub require_stable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestGroup<'a> {
    pub group_id: &'a str,
    /// v9+; null for a client outside the consumer protocol.
    pub member_id: Option<&'a str>,
    /// v9+; -1 outside the consumer protocol.
    pub member_epoch: i32,
    /// `None` asks for every topic with committed offsets (v2+; v1 cannot say it and
    /// writes it as an empty array).
    pub topics: Option<Vec<RequestTopic<'a>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTopic<'a> {
    pub name: &'a str,
    pub partition_indexes: Vec<i32>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let groups = if version >= FIRST_GROUPS_VERSION {
            let n = r.array_len(flexible, group_min_bytes(version))?;
            decode_array(r, n, |r| RequestGroup::decode(r, version))?
        } else {
            let group_id = r.string(flexible)?;
            let topics = decode_topics(r, version)?;
            vec![RequestGroup {
                group_id,
                member_id: None,
                member_epoch: -1,
                topics,
            }]
        };
        let require_stable = if version >= 7 { r.bool()? } else { false };
        r.skip_tags(flexible)?;
        Ok(Request {
            groups,
            require_stable,
        })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        if version >= FIRST_GROUPS_VERSION {
            w.array_len(self.groups.len(), flexible);
            for group in &self.groups {
                group.encode(w, version);
            }
        } else {
            debug_assert_eq!(self.groups.len(), 1, "one group before v8");
            if let Some(group) = self.groups.first() {
                w.string(group.group_id, flexible);
                encode_topics(w, group.topics.as_deref(), version);
            }
        }
        if version >= 7 {
            w.bool(self.require_stable);
        }
        w.tags(flexible);
    }
}

impl<'a> RequestGroup<'a> {
    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let group_id = r.string(true)?;
        let (member_id, member_epoch) = if version >= 9 {
            (r.nullable_string(true)?, r.i32()?)
        } else {
            (None, -1)
        };
        let topics = decode_topics(r, version)?;
        r.skip_tags(true)?;
        Ok(RequestGroup {
            group_id,
            member_id,
            member_epoch,
            topics,
        })
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        w.string(self.group_id, true);
        if version >= 9 {
            w.nullable_string(self.member_id, true)
                .i32(self.member_epoch);
        }
        encode_topics(w, self.topics.as_deref(), version);
        w.tags(true);
    }
}

/// The topic array, null (all topics) from v2; a null in v1 breaks the schema.
fn decode_topics<'a>(r: &mut Reader<'a>, version: i16) -> Result<Option<Vec<RequestTopic<'a>>>> {
    let flexible = is_flexible(version);
    let Some(n) = r.nullable_array_len(flexible, topic_min_bytes(flexible))? else {
        return match version {
            1 => Err(DecodeError::Invalid("null topics")),
            _ => Ok(None),
        };
    };
    let topics = decode_array(r, n, |r| {
        let name = r.string(flexible)?;
        let n = r.array_len(flexible, 4)?;
        let partition_indexes = decode_array(r, n, |r| r.i32())?;
        r.skip_tags(flexible)?;
        Ok(RequestTopic {
            name,
            partition_indexes,
        })
    })?;
    Ok(Some(topics))
}

fn encode_topics(w: &mut Writer, topics: Option<&[RequestTopic]>, version: i16) {
    let flexible = is_flexible(version);
    match topics {
        None if version == 1 => {
            w.array_len(0, flexible);
        }
        None => {
            w.null_array(flexible);
        }
        Some(topics) => {
            w.array_len(topics.len(), flexible);
            for topic in topics {
                w.string(topic.name, flexible);
                w.array_len(topic.partition_indexes.len(), flexible);
                for &index in &topic.partition_indexes {
                    w.i32(index);
                }
                w.tags(flexible);
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// v3+.
    pub throttle_time_ms: i32,
    /// Exactly one group before v8.
    pub groups: Vec<ResponseGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseGroup {
    /// v8+; not on the wire before (reads back as "").
    pub group_id: String,
    pub topics: Vec<ResponseTopic>,
    /// v2+.
    pub error_code: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTopic {
    pub name: String,
    pub partitions: Vec<ResponsePartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePartition {
    pub partition_index: i32,
    /// `NO_OFFSET` when nothing is committed.
    pub committed_offset: i64,
    /// v5+; -1 when unknown.
    pub committed_leader_epoch: i32,
    pub metadata: Option<String>,
    pub error_code: i16,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        if version >= 3 {
            w.i32(self.throttle_time_ms);
        }
        if version >= FIRST_GROUPS_VERSION {
            w.array_len(self.groups.len(), flexible);
            for group in &self.groups {
                w.string(&group.group_id, flexible);
                encode_response_topics(w, &group.topics, version);
                w.i16(group.error_code).tags(flexible);
            }
        } else {
            debug_assert_eq!(self.groups.len(), 1, "one group before v8");
            let group = self.groups.first();
            encode_response_topics(w, group.map_or(&[], |g| &g.topics), version);
            if version >= 2 {
                w.i16(group.map_or(0, |g| g.error_code));
            }
        }
        w.tags(flexible);
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let groups = if version >= FIRST_GROUPS_VERSION {
            // group_id, topics, error_code, tags.
            let n = r.array_len(flexible, 1 + 1 + 2 + 1)?;
            decode_array(r, n, |r| {
                let group_id = r.string(flexible)?.to_owned();
                let topics = decode_response_topics(r, version)?;
                let error_code = r.i16()?;
                r.skip_tags(flexible)?;
                Ok(ResponseGroup {
                    group_id,
                    topics,
                    error_code,
                })
            })?
        } else {
            let topics = decode_response_topics(r, version)?;
            let error_code = if version >= 2 { r.i16()? } else { 0 };
            vec![ResponseGroup {
                group_id: String::new(),
                topics,
                error_code,
            }]
        };
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            groups,
        })
    }
}

fn encode_response_topics(w: &mut Writer, topics: &[ResponseTopic], version: i16) {
    let flexible = is_flexible(version);
    w.array_len(topics.len(), flexible);
    for topic in topics {
        w.string(&topic.name, flexible);
        w.array_len(topic.partitions.len(), flexible);
        for p in &topic.partitions {
            w.i32(p.partition_index).i64(p.committed_offset);
            if version >= 5 {
                w.i32(p.committed_leader_epoch);
            }
            w.nullable_string(p.metadata.as_deref(), flexible)
                .i16(p.error_code)
                .tags(flexible);
        }
        w.tags(flexible);
    }
}

fn decode_response_topics(r: &mut Reader<'_>, version: i16) -> Result<Vec<ResponseTopic>> {
    let flexible = is_flexible(version);
    let n = r.array_len(flexible, topic_min_bytes(flexible))?;
    decode_array(r, n, |r| {
        let name = r.string(flexible)?.to_owned();
        // partition_index, committed_offset, metadata, error_code (+ tags).
        let n = r.array_len(flexible, 4 + 8 + min_bytes(flexible, 2, 1) + 2)?;
        let partitions = decode_array(r, n, |r| {
            let partition_index = r.i32()?;
            let committed_offset = r.i64()?;
            let committed_leader_epoch = if version >= 5 { r.i32()? } else { -1 };
            let metadata = r.nullable_string(flexible)?.map(str::to_owned);
            let error_code = r.i16()?;
            r.skip_tags(flexible)?;
            Ok(ResponsePartition {
                partition_index,
                committed_offset,
                committed_leader_epoch,
                metadata,
                error_code,
            })
        })?;
        r.skip_tags(flexible)?;
        Ok(ResponseTopic { name, partitions })
    })
}

// ---- Handling ----

pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut groups = Vec::with_capacity(request.groups.len());
    for group in &request.groups {
        let committed = broker.storage.committed(group.group_id);
        let lookup = |topic: &str, partition: i32| {
            let found = committed.and_then(|c| c.get(&(topic.to_string(), partition)));
            ResponsePartition {
                partition_index: partition,
                committed_offset: found.map_or(NO_OFFSET, |c| c.offset),
                committed_leader_epoch: found.map_or(-1, |c| c.leader_epoch),
                metadata: Some(found.map_or(String::new(), |c| c.metadata.clone())),
                error_code: error::NONE,
            }
        };
        let topics = match &group.topics {
            Some(wanted) => wanted
                .iter()
                .map(|t| ResponseTopic {
                    name: t.name.to_string(),
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|&p| lookup(t.name, p))
                        .collect(),
                })
                .collect(),
            None => {
                // Every committed partition of the group, grouped by topic.
                let mut by_topic: std::collections::BTreeMap<&str, Vec<ResponsePartition>> =
                    std::collections::BTreeMap::new();
                for (topic, partition) in committed.into_iter().flat_map(|c| c.keys()) {
                    by_topic
                        .entry(topic.as_str())
                        .or_default()
                        .push(lookup(topic, *partition));
                }
                by_topic
                    .into_iter()
                    .map(|(name, partitions)| ResponseTopic {
                        name: name.to_string(),
                        partitions,
                    })
                    .collect()
            }
        };
        groups.push(ResponseGroup {
            group_id: group.group_id.to_string(),
            topics,
            error_code: error::NONE,
        });
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

    fn group(
        group_id: &'static str,
        topics: Option<Vec<RequestTopic<'static>>>,
    ) -> RequestGroup<'static> {
        RequestGroup {
            group_id,
            member_id: None,
            member_epoch: -1,
            topics,
        }
    }

    fn sample_topics() -> Vec<RequestTopic<'static>> {
        vec![
            RequestTopic {
                name: "orders",
                partition_indexes: vec![0, 1, 2],
            },
            RequestTopic {
                name: "e",
                partition_indexes: vec![],
            },
        ]
    }

    fn sample_request(version: i16) -> Request<'static> {
        let mut groups = vec![group("group-a", Some(sample_topics()))];
        if version >= FIRST_GROUPS_VERSION {
            groups.push(group("group-b", None));
            groups.push(group("group-c", Some(vec![])));
        }
        if version >= 9 {
            groups[0].member_id = Some("member-1");
            groups[0].member_epoch = 12;
        }
        Request {
            groups,
            require_stable: version >= 7,
        }
    }

    fn sample_group(version: i16, group_id: &str) -> ResponseGroup {
        ResponseGroup {
            group_id: if version >= FIRST_GROUPS_VERSION {
                group_id.into()
            } else {
                String::new()
            },
            topics: vec![ResponseTopic {
                name: "orders".into(),
                partitions: vec![
                    ResponsePartition {
                        partition_index: 0,
                        committed_offset: 42,
                        committed_leader_epoch: if version >= 5 { 1 } else { -1 },
                        metadata: Some("m".into()),
                        error_code: 0,
                    },
                    ResponsePartition {
                        partition_index: 1,
                        committed_offset: NO_OFFSET,
                        committed_leader_epoch: -1,
                        metadata: None,
                        error_code: 0,
                    },
                ],
            }],
            error_code: 0,
        }
    }

    fn sample_response(version: i16) -> Response {
        let mut groups = vec![sample_group(version, "group-a")];
        if version >= 2 {
            groups[0].error_code = 15;
        }
        if version >= FIRST_GROUPS_VERSION {
            groups.push(ResponseGroup {
                group_id: "group-b".into(),
                topics: vec![],
                error_code: 69,
            });
        }
        Response {
            throttle_time_ms: if version >= 3 { 4 } else { 0 },
            groups,
        }
    }

    #[test]
    fn offset_fetch_v1_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 2, // partition_indexes: 2
            0, 0, 0, 0, // 0
            0, 0, 0, 1, // 1
        ];
        let expected = Request {
            groups: vec![group(
                "g",
                Some(vec![RequestTopic {
                    name: "t",
                    partition_indexes: vec![0, 1],
                }]),
            )],
            require_stable: false,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 1)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 1)), body);
    }

    #[test]
    fn offset_fetch_null_topics_means_all_from_v2_only() {
        let body = [
            0, 1, b'g', // group_id "g"
            0xff, 0xff, 0xff, 0xff, // topics null
        ];
        let all = decode_all(&body, |r| Request::decode(r, 2)).unwrap();
        assert_eq!(all.groups, vec![group("g", None)]);
        assert_eq!(encoded(|w| all.encode(w, 2)), body);
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 1)),
            Err(DecodeError::Invalid("null topics"))
        );
    }

    #[test]
    fn offset_fetch_v7_request_bytes() {
        let body = [
            0x02, b'g', // group_id "g" (compact)
            0x00, // topics null (all)
            0x01, // require_stable true
            0x00, // tags
        ];
        let expected = Request {
            groups: vec![group("g", None)],
            require_stable: true,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 7)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 7)), body);
    }

    #[test]
    fn offset_fetch_v9_request_bytes() {
        let body = [
            0x03, // groups: compact count 2
            0x02, b'g', // group_id "g"
            0x02, b'm', // member_id "m"
            0, 0, 0, 5,    // member_epoch 5
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partition_indexes: compact count 1
            0, 0, 0, 3,    // 3
            0x00, // topic tags
            0x00, // group tags
            0x02, b'h', // group_id "h"
            0x00, // member_id null
            0xff, 0xff, 0xff, 0xff, // member_epoch -1
            0x00, // topics null (all)
            0x00, // group tags
            0x00, // require_stable false
            0x00, // tags
        ];
        let expected = Request {
            groups: vec![
                RequestGroup {
                    group_id: "g",
                    member_id: Some("m"),
                    member_epoch: 5,
                    topics: Some(vec![RequestTopic {
                        name: "t",
                        partition_indexes: vec![3],
                    }]),
                },
                group("h", None),
            ],
            require_stable: false,
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 9)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 9)), body);
    }

    fn one_partition_group(group_id: &str) -> ResponseGroup {
        ResponseGroup {
            group_id: group_id.into(),
            topics: vec![ResponseTopic {
                name: "t".into(),
                partitions: vec![ResponsePartition {
                    partition_index: 0,
                    committed_offset: 7,
                    committed_leader_epoch: 2,
                    metadata: None,
                    error_code: 0,
                }],
            }],
            error_code: 0,
        }
    }

    #[test]
    fn offset_fetch_v3_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            groups: vec![one_partition_group("")],
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 7, // committed_offset 7 (no leader epoch before v5)
            0xff, 0xff, // metadata null
            0, 0, // error_code 0
            0, 0, // top-level error_code 0
        ];
        assert_eq!(encoded(|w| response.encode(w, 3)), expected);
        let decoded = decode_all(&expected, |r| Response::decode(r, 3)).unwrap();
        assert_eq!(
            decoded.groups[0].topics[0].partitions[0].committed_leader_epoch,
            -1
        );
    }

    #[test]
    fn offset_fetch_v8_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            groups: vec![one_partition_group("g")],
        };
        let expected = [
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // groups: compact count 1
            0x02, b'g', // group_id "g"
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 7, // committed_offset 7
            0, 0, 0, 2,    // committed_leader_epoch 2
            0x00, // metadata null
            0, 0,    // error_code 0
            0x00, // partition tags
            0x00, // topic tags
            0, 0,    // group error_code 0
            0x00, // group tags
            0x00, // tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 8)), expected);
        assert_eq!(
            decode_all(&expected, |r| Response::decode(r, 8)),
            Ok(response)
        );
    }

    #[test]
    fn offset_fetch_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let bytes = encoded(|w| request.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(request),
                "v{version}"
            );
            if version >= 2 {
                let all = Request {
                    groups: vec![group("g", None)],
                    require_stable: false,
                };
                let bytes = encoded(|w| all.encode(w, version));
                assert_eq!(
                    decode_all(&bytes, |r| Request::decode(r, version)),
                    Ok(all),
                    "v{version}"
                );
            }
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
    fn offset_fetch_every_truncation_is_an_error() {
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
    fn offset_fetch_huge_counts_and_bad_versions_are_rejected() {
        // v3: partition_indexes claims 2^31-1 entries in a short body.
        let body = [
            0, 1, b'g', 0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff, 0, 0,
        ];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 3),
            Err(DecodeError::Truncated)
        );
        // v8: groups claims 2^32-2 entries.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 8),
            Err(DecodeError::Truncated)
        );
        for version in [0, 10] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("offset_fetch version"))
            );
        }
    }

    #[test]
    fn offset_fetch_group_min_bytes_is_exact() {
        for version in FIRST_GROUPS_VERSION..=MAX_VERSION {
            let with = |groups| Request {
                groups,
                require_stable: false,
            };
            let one = with(vec![group("", None)]);
            let one = encoded(|w| one.encode(w, version)).len();
            let none = encoded(|w| with(vec![]).encode(w, version)).len();
            assert_eq!(one - none, group_min_bytes(version), "v{version}");
        }
    }
}
