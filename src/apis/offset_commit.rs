//! OffsetCommit (key 8), versions 2-9; flexible (compact encodings, tagged fields) from v8.
//! Versions 0-1 were removed in Kafka 4.0, so v2 is the baseline: it already has the
//! generation id and member id (v1) and retention_time_ms (v2, which dropped v1's
//! per-partition commit timestamp).
//! - v3: the response's throttle_time_ms. v4: no change on the wire.
//! - v5: retention_time_ms is gone (a broker setting now).
//! - v6: committed_leader_epoch per partition, for fencing.
//! - v7: group_instance_id (static membership).
//! - v8: first flexible version.
//! - v9: no change on the wire; usable with the KIP-848 consumer protocol, where the
//!   generation id field carries the member epoch.
//! - v10 (topic ids instead of names) is out of our range.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 9;
pub const FIRST_FLEXIBLE_VERSION: i16 = 8;

/// `retention_time_ms` that defers to the broker's `offsets.retention.minutes`.
pub const DEFAULT_RETENTION_TIME_MS: i64 = -1;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("offset_commit version"))
    }
}

/// A topic (name, partition array) takes at least 6 bytes classic, 3 compact with its tags.
fn topic_min_bytes(flexible: bool) -> usize {
    if flexible { 3 } else { 6 }
}

/// A request partition: index, offset, leader epoch (v6+), metadata length (+ tags).
fn partition_min_bytes(version: i16) -> usize {
    let epoch = if version >= 6 { 4 } else { 0 };
    // An int16 metadata length, or (flexible) a uvarint length and a tag count: 2 either way.
    let metadata_and_tags = 2;
    4 + 8 + epoch + metadata_and_tags
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub group_id: &'a str,
    /// The generation (classic protocol) or member epoch (consumer protocol); -1 for a
    /// commit from outside the group.
    pub generation_id_or_member_epoch: i32,
    /// Empty for a commit from outside the group.
    pub member_id: &'a str,
    /// v7+.
    pub group_instance_id: Option<&'a str>,
    /// v2-4; `DEFAULT_RETENTION_TIME_MS` otherwise.
    pub retention_time_ms: i64,
    pub topics: Vec<RequestTopic<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<RequestPartition<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPartition<'a> {
    pub partition_index: i32,
    pub committed_offset: i64,
    /// v6+; -1 before or when unknown.
    pub committed_leader_epoch: i32,
    pub committed_metadata: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let group_id = r.string(flexible)?;
        let generation_id_or_member_epoch = r.i32()?;
        let member_id = r.string(flexible)?;
        let group_instance_id = if version >= 7 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        let retention_time_ms = if version <= 4 {
            r.i64()?
        } else {
            DEFAULT_RETENTION_TIME_MS
        };
        let n = r.array_len(flexible, topic_min_bytes(flexible))?;
        let topics = decode_array(r, n, |r| RequestTopic::decode(r, version))?;
        r.skip_tags(flexible)?;
        Ok(Request {
            group_id,
            generation_id_or_member_epoch,
            member_id,
            group_instance_id,
            retention_time_ms,
            topics,
        })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        w.string(self.group_id, flexible)
            .i32(self.generation_id_or_member_epoch)
            .string(self.member_id, flexible);
        if version >= 7 {
            w.nullable_string(self.group_instance_id, flexible);
        }
        if version <= 4 {
            w.i64(self.retention_time_ms);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            topic.encode(w, version);
        }
        w.tags(flexible);
    }
}

impl<'a> RequestTopic<'a> {
    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let name = r.string(flexible)?;
        let n = r.array_len(flexible, partition_min_bytes(version))?;
        let partitions = decode_array(r, n, |r| {
            let partition_index = r.i32()?;
            let committed_offset = r.i64()?;
            let committed_leader_epoch = if version >= 6 { r.i32()? } else { -1 };
            let committed_metadata = r.nullable_string(flexible)?;
            r.skip_tags(flexible)?;
            Ok(RequestPartition {
                partition_index,
                committed_offset,
                committed_leader_epoch,
                committed_metadata,
            })
        })?;
        r.skip_tags(flexible)?;
        Ok(RequestTopic { name, partitions })
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.string(self.name, flexible);
        w.array_len(self.partitions.len(), flexible);
        for p in &self.partitions {
            w.i32(p.partition_index).i64(p.committed_offset);
            if version >= 6 {
                w.i32(p.committed_leader_epoch);
            }
            w.nullable_string(p.committed_metadata, flexible)
                .tags(flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// v3+.
    pub throttle_time_ms: i32,
    pub topics: Vec<ResponseTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTopic {
    pub name: String,
    pub partitions: Vec<ResponsePartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePartition {
    pub partition_index: i32,
    pub error_code: i16,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        if version >= 3 {
            w.i32(self.throttle_time_ms);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            w.string(&topic.name, flexible);
            w.array_len(topic.partitions.len(), flexible);
            for p in &topic.partitions {
                w.i32(p.partition_index).i16(p.error_code).tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let n = r.array_len(flexible, topic_min_bytes(flexible))?;
        let topics = decode_array(r, n, |r| {
            let name = r.string(flexible)?.to_owned();
            // partition_index, error_code (+ tags).
            let n = r.array_len(flexible, 4 + 2 + usize::from(flexible))?;
            let partitions = decode_array(r, n, |r| {
                let p = ResponsePartition {
                    partition_index: r.i32()?,
                    error_code: r.i16()?,
                };
                r.skip_tags(flexible)?;
                Ok(p)
            })?;
            r.skip_tags(flexible)?;
            Ok(ResponseTopic { name, partitions })
        })?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            topics,
        })
    }
}

// ---- Handling ----

/// Largest committed metadata string (Kafka's `offset.metadata.max.bytes`).
const METADATA_BYTES_MAX: usize = 4096;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;

/// Stores commits in `__consumer_offsets`; acknowledged after the turn's fsync.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    use crate::storage::offsets::Committed;
    let request = Request::decode(body, ctx.version)?;
    let group_error = if request.group_id.is_empty() {
        error::INVALID_GROUP_ID
    } else {
        broker.coordinator.check_commit(
            request.group_id,
            request.member_id,
            request.group_instance_id,
            request.generation_id_or_member_epoch,
        )
    };
    let now = crate::storage::now_ms();
    let mut commits = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let stored = broker.storage.topic(topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let metadata = p.committed_metadata.unwrap_or("");
            let error_code = if group_error != error::NONE {
                group_error
            } else if stored
                .and_then(|t| t.partition(p.partition_index))
                .is_none()
            {
                error::UNKNOWN_TOPIC_OR_PARTITION
            } else if metadata.len() > METADATA_BYTES_MAX {
                OFFSET_METADATA_TOO_LARGE
            } else {
                commits.push((
                    topic.name.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: metadata.to_string(),
                        commit_timestamp: now,
                    },
                ));
                error::NONE
            };
            partitions.push(ResponsePartition {
                partition_index: p.partition_index,
                error_code,
            });
        }
        topics.push(ResponseTopic {
            name: topic.name.to_string(),
            partitions,
        });
    }
    if let Err(e) = broker.storage.commit_offsets(request.group_id, commits) {
        log::error!("committing offsets of group {}: {e:?}", request.group_id);
        for partition in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if partition.error_code == error::NONE {
                partition.error_code = error::UNKNOWN_SERVER_ERROR;
            }
        }
    }
    Response {
        throttle_time_ms: 0,
        topics,
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
        let partition = |partition_index, committed_offset, committed_metadata| RequestPartition {
            partition_index,
            committed_offset,
            committed_leader_epoch: if version >= 6 { 2 } else { -1 },
            committed_metadata,
        };
        Request {
            group_id: "group-a",
            generation_id_or_member_epoch: 3,
            member_id: "consumer-1-0f9c",
            group_instance_id: if version >= 7 { Some("static-1") } else { None },
            retention_time_ms: if version <= 4 {
                86_400_000
            } else {
                DEFAULT_RETENTION_TIME_MS
            },
            topics: vec![
                RequestTopic {
                    name: "orders",
                    partitions: vec![partition(0, 42, Some("")), partition(1, 7, None)],
                },
                RequestTopic {
                    name: "e",
                    partitions: vec![],
                },
            ],
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 3 { 9 } else { 0 },
            topics: vec![ResponseTopic {
                name: "orders".into(),
                partitions: vec![
                    ResponsePartition {
                        partition_index: 0,
                        error_code: 0,
                    },
                    ResponsePartition {
                        partition_index: 1,
                        error_code: 22,
                    },
                ],
            }],
        }
    }

    #[test]
    fn offset_commit_v2_request_bytes() {
        let body = [
            0, 1, b'g', // group_id "g"
            0xff, 0xff, 0xff, 0xff, // generation_id_or_member_epoch -1
            0, 0, // member_id ""
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // retention_time_ms -1
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 0, 0, 0, 0, 5, // committed_offset 5
            0xff, 0xff, // committed_metadata null
        ];
        let expected = Request {
            group_id: "g",
            generation_id_or_member_epoch: -1,
            member_id: "",
            group_instance_id: None,
            retention_time_ms: DEFAULT_RETENTION_TIME_MS,
            topics: vec![RequestTopic {
                name: "t",
                partitions: vec![RequestPartition {
                    partition_index: 0,
                    committed_offset: 5,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 2)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 2)), body);
    }

    #[test]
    fn offset_commit_v9_request_bytes() {
        let body = [
            0x02, b'g', // group_id "g" (compact)
            0, 0, 0, 4, // generation_id_or_member_epoch 4
            0x02, b'm', // member_id "m"
            0x00, // group_instance_id null (no retention_time_ms after v4)
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 1, // partition_index 1
            0, 0, 0, 0, 0, 0, 0x01, 0x00, // committed_offset 256
            0, 0, 0, 3,    // committed_leader_epoch 3
            0x01, // committed_metadata ""
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        let expected = Request {
            group_id: "g",
            generation_id_or_member_epoch: 4,
            member_id: "m",
            group_instance_id: None,
            retention_time_ms: DEFAULT_RETENTION_TIME_MS,
            topics: vec![RequestTopic {
                name: "t",
                partitions: vec![RequestPartition {
                    partition_index: 1,
                    committed_offset: 256,
                    committed_leader_epoch: 3,
                    committed_metadata: Some(""),
                }],
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 9)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 9)), body);
    }

    fn one_partition_response() -> Response {
        Response {
            throttle_time_ms: 0,
            topics: vec![ResponseTopic {
                name: "t".into(),
                partitions: vec![ResponsePartition {
                    partition_index: 0,
                    error_code: 25,
                }],
            }],
        }
    }

    #[test]
    fn offset_commit_v2_response_bytes() {
        let expected = [
            0, 0, 0, 1, // topics: 1 (no throttle_time_ms before v3)
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 25, // error_code 25 (UNKNOWN_MEMBER_ID)
        ];
        assert_eq!(encoded(|w| one_partition_response().encode(w, 2)), expected);
    }

    #[test]
    fn offset_commit_v8_response_bytes() {
        let expected = [
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // topics: compact count 1
            0x02, b't', // name "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition_index 0
            0, 25,   // error_code 25 (UNKNOWN_MEMBER_ID)
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        assert_eq!(encoded(|w| one_partition_response().encode(w, 8)), expected);
    }

    #[test]
    fn offset_commit_round_trips_every_version() {
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
    fn offset_commit_every_truncation_is_an_error() {
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
    fn offset_commit_huge_counts_and_bad_versions_are_rejected() {
        // v5: topics claims 2^31-1 entries in a short body.
        let body = [0, 1, b'g', 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 5),
            Err(DecodeError::Truncated)
        );
        for version in [1, 10] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("offset_commit version"))
            );
        }
    }

    #[test]
    fn offset_commit_partition_min_bytes_is_exact() {
        for version in MIN_VERSION..=MAX_VERSION {
            let with = |partitions| Request {
                topics: vec![RequestTopic {
                    name: "",
                    partitions,
                }],
                ..sample_request(version)
            };
            let one = with(vec![RequestPartition {
                partition_index: 0,
                committed_offset: 0,
                committed_leader_epoch: -1,
                committed_metadata: Some(""),
            }]);
            let one = encoded(|w| one.encode(w, version)).len();
            let none = encoded(|w| with(vec![]).encode(w, version)).len();
            assert_eq!(one - none, partition_min_bytes(version), "v{version}");
        }
    }
}
