//! DescribeTopicPartitions (key 75), version 0 only, flexible (compact encodings, tagged
//! fields) from v0. Version 0 (KIP-966) describes topics and their partitions, with
//! eligible leader replicas, and pages through them: the request caps the partitions per
//! response and may carry a cursor; the response returns the next cursor, or null at the end.
//!
//! Both cursors are nullable structs: one int8 marker, -1 for null or 1 followed by the
//! struct (Kafka reads any negative marker as null).
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 0;
pub const FIRST_FLEXIBLE_VERSION: i16 = 0;

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("describe_topic_partitions version"))
    }
}

/// The value of an authorized-operations bitfield that was not asked for.
pub const AUTHORIZED_OPERATIONS_UNSET: i32 = i32::MIN;

/// The schema's default for `response_partition_limit`.
pub const DEFAULT_RESPONSE_PARTITION_LIMIT: i32 = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Topic names (each a `TopicRequest` struct on the wire, with its own tag section).
    pub topics: Vec<&'a str>,
    pub response_partition_limit: i32,
    /// Where to start; `None` from the beginning.
    pub cursor: Option<Cursor<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor<'a> {
    pub topic_name: &'a str,
    pub partition_index: i32,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        // name (compact length) and tag section.
        let n = r.array_len(flexible, 2)?;
        let topics = decode_array(r, n, |r| {
            let name = r.string(flexible)?;
            r.skip_tags(flexible)?;
            Ok(name)
        })?;
        let response_partition_limit = r.i32()?;
        let cursor = if r.i8()? < 0 {
            None
        } else {
            let topic_name = r.string(flexible)?;
            let partition_index = r.i32()?;
            r.skip_tags(flexible)?;
            Some(Cursor {
                topic_name,
                partition_index,
            })
        };
        r.skip_tags(flexible)?;
        Ok(Request {
            topics,
            response_partition_limit,
            cursor,
        })
    }

    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.array_len(self.topics.len(), flexible);
        for name in &self.topics {
            w.string(name, flexible).tags(flexible);
        }
        w.i32(self.response_partition_limit);
        match &self.cursor {
            None => {
                w.i8(-1);
            }
            Some(cursor) => {
                w.i8(1)
                    .string(cursor.topic_name, flexible)
                    .i32(cursor.partition_index)
                    .tags(flexible);
            }
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub topics: Vec<Topic>,
    /// Where the next request should start; `None` when everything was returned.
    pub next_cursor: Option<NextCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub error_code: i16,
    pub name: Option<String>,
    pub topic_id: [u8; 16],
    pub is_internal: bool,
    pub partitions: Vec<Partition>,
    pub topic_authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub error_code: i16,
    pub partition_index: i32,
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub replica_nodes: Vec<i32>,
    pub isr_nodes: Vec<i32>,
    /// Null by default.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// Null by default.
    pub last_known_elr: Option<Vec<i32>>,
    pub offline_replicas: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextCursor {
    pub topic_name: String,
    pub partition_index: i32,
}

impl Default for Topic {
    fn default() -> Self {
        Topic {
            error_code: 0,
            name: None,
            topic_id: [0; 16],
            is_internal: false,
            partitions: Vec::new(),
            topic_authorized_operations: AUTHORIZED_OPERATIONS_UNSET,
        }
    }
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            error_code: 0,
            partition_index: 0,
            leader_id: -1,
            leader_epoch: -1,
            replica_nodes: Vec::new(),
            isr_nodes: Vec::new(),
            eligible_leader_replicas: None,
            last_known_elr: None,
            offline_replicas: Vec::new(),
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i32(self.throttle_time_ms);
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            topic.encode(w, version);
        }
        match &self.next_cursor {
            None => {
                w.i8(-1);
            }
            Some(cursor) => {
                w.i8(1)
                    .string(&cursor.topic_name, flexible)
                    .i32(cursor.partition_index)
                    .tags(flexible);
            }
        }
        w.tags(flexible);
    }

    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let throttle_time_ms = r.i32()?;
        // error_code, name, topic_id, is_internal, partitions, operations, tags.
        let n = r.array_len(flexible, 2 + 1 + 16 + 1 + 1 + 4 + 1)?;
        let topics = decode_array(r, n, |r| Topic::decode(r, version))?;
        let next_cursor = if r.i8()? < 0 {
            None
        } else {
            let topic_name = r.string(flexible)?.to_owned();
            let partition_index = r.i32()?;
            r.skip_tags(flexible)?;
            Some(NextCursor {
                topic_name,
                partition_index,
            })
        };
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            topics,
            next_cursor,
        })
    }
}

impl Topic {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i16(self.error_code)
            .nullable_string(self.name.as_deref(), flexible)
            .uuid(&self.topic_id)
            .bool(self.is_internal);
        w.array_len(self.partitions.len(), flexible);
        for partition in &self.partitions {
            partition.encode(w, version);
        }
        w.i32(self.topic_authorized_operations).tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let error_code = r.i16()?;
        let name = r.nullable_string(flexible)?.map(str::to_owned);
        let topic_id = r.uuid()?;
        let is_internal = r.bool()?;
        // error_code, partition_index, leader_id, leader_epoch, five arrays, tags.
        let n = r.array_len(flexible, 2 + 4 + 4 + 4 + 5 + 1)?;
        let partitions = decode_array(r, n, |r| Partition::decode(r, version))?;
        let topic_authorized_operations = r.i32()?;
        r.skip_tags(flexible)?;
        Ok(Topic {
            error_code,
            name,
            topic_id,
            is_internal,
            partitions,
            topic_authorized_operations,
        })
    }
}

impl Partition {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i16(self.error_code)
            .i32(self.partition_index)
            .i32(self.leader_id)
            .i32(self.leader_epoch);
        encode_i32s(w, Some(&self.replica_nodes), flexible);
        encode_i32s(w, Some(&self.isr_nodes), flexible);
        encode_i32s(w, self.eligible_leader_replicas.as_deref(), flexible);
        encode_i32s(w, self.last_known_elr.as_deref(), flexible);
        encode_i32s(w, Some(&self.offline_replicas), flexible);
        w.tags(flexible);
    }

    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let out = Partition {
            error_code: r.i16()?,
            partition_index: r.i32()?,
            leader_id: r.i32()?,
            leader_epoch: r.i32()?,
            replica_nodes: decode_i32s(r, flexible)?.unwrap_or_default(),
            isr_nodes: decode_i32s(r, flexible)?.unwrap_or_default(),
            eligible_leader_replicas: decode_i32s(r, flexible)?,
            last_known_elr: decode_i32s(r, flexible)?,
            offline_replicas: decode_i32s(r, flexible)?.unwrap_or_default(),
        };
        r.skip_tags(flexible)?;
        Ok(out)
    }
}

/// A (nullable) int32 array; callers of non-nullable ones read null as empty.
fn decode_i32s(r: &mut Reader<'_>, flexible: bool) -> Result<Option<Vec<i32>>> {
    match r.nullable_array_len(flexible, 4)? {
        None => Ok(None),
        Some(n) => decode_array(r, n, |r| r.i32()).map(Some),
    }
}

fn encode_i32s(w: &mut Writer, values: Option<&[i32]>, flexible: bool) {
    match values {
        None => {
            w.null_array(flexible);
        }
        Some(values) => {
            w.array_len(values.len(), flexible);
            for &value in values {
                w.i32(value);
            }
        }
    }
}

// ---- Handling ----

/// Topics sorted by name (all of them when none are named), partitions in order, at most
/// `response_partition_limit` partitions per response with a cursor to continue.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use super::metadata::TOPIC_OPERATIONS_ALL;
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut names: Vec<&str> = if request.topics.is_empty() {
        broker.storage.topics().map(|t| t.name.as_str()).collect()
    } else {
        request.topics.clone()
    };
    names.sort_unstable();
    names.dedup();
    let node_id = broker.config.node_id;
    let mut budget = if request.response_partition_limit > 0 {
        request.response_partition_limit as usize
    } else {
        2000
    };
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        let mut first_partition = 0;
        if let Some(cursor) = &request.cursor {
            if name < cursor.topic_name {
                continue;
            }
            if name == cursor.topic_name {
                first_partition = cursor.partition_index.max(0) as usize;
            }
        }
        let Some(stored) = broker.storage.topic(name) else {
            topics.push(Topic {
                error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                name: Some(name.to_string()),
                topic_id: [0; 16],
                is_internal: false,
                partitions: Vec::new(),
                topic_authorized_operations: TOPIC_OPERATIONS_ALL,
            });
            continue;
        };
        if budget == 0 {
            next_cursor = Some(NextCursor {
                topic_name: name.to_string(),
                partition_index: first_partition as i32,
            });
            break;
        }
        let mut partitions = Vec::new();
        for (index, partition) in stored.partitions.iter().enumerate().skip(first_partition) {
            if budget == 0 {
                next_cursor = Some(NextCursor {
                    topic_name: name.to_string(),
                    partition_index: index as i32,
                });
                break;
            }
            budget -= 1;
            partitions.push(Partition {
                error_code: error::NONE,
                partition_index: index as i32,
                leader_id: node_id,
                leader_epoch: partition.leader_epoch,
                replica_nodes: vec![node_id],
                isr_nodes: vec![node_id],
                eligible_leader_replicas: Some(Vec::new()),
                last_known_elr: Some(Vec::new()),
                offline_replicas: Vec::new(),
            });
        }
        topics.push(Topic {
            error_code: error::NONE,
            name: Some(name.to_string()),
            topic_id: stored.id,
            is_internal: false,
            partitions,
            topic_authorized_operations: TOPIC_OPERATIONS_ALL,
        });
        if next_cursor.is_some() {
            break;
        }
    }
    Response {
        throttle_time_ms: 0,
        topics,
        next_cursor,
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

    #[test]
    fn describe_topic_partitions_v0_request_null_cursor() {
        let body = [
            0x03, // topics: compact count 2
            0x02, b'a', 0x00, // name "a", tags
            0x02, b'b', 0x00, // name "b", tags
            0, 0, 0x07, 0xd0, // response_partition_limit 2000
            0xff, // cursor null
            0x00, // tags
        ];
        let req = decode_all(&body, |r| Request::decode(r, 0)).unwrap();
        assert_eq!(
            req,
            Request {
                topics: vec!["a", "b"],
                response_partition_limit: DEFAULT_RESPONSE_PARTITION_LIMIT,
                cursor: None,
            }
        );
        assert_eq!(encoded(|w| req.encode(w, 0)), body);
    }

    #[test]
    fn describe_topic_partitions_v0_request_with_cursor() {
        let body = [
            0x02, // topics: compact count 1
            0x02, b'a', 0x00, // name "a", tags
            0, 0, 0, 10,   // response_partition_limit 10
            0x01, // cursor present
            0x02, b'a', // topic_name "a"
            0, 0, 0, 3,    // partition_index 3
            0x00, // cursor tags
            0x00, // tags
        ];
        let req = decode_all(&body, |r| Request::decode(r, 0)).unwrap();
        assert_eq!(
            req.cursor,
            Some(Cursor {
                topic_name: "a",
                partition_index: 3
            })
        );
        assert_eq!(encoded(|w| req.encode(w, 0)), body);
    }

    #[test]
    fn describe_topic_partitions_request_truncated_is_an_error() {
        let req = Request {
            topics: vec!["orders", "x"],
            response_partition_limit: 5,
            cursor: Some(Cursor {
                topic_name: "orders",
                partition_index: 2,
            }),
        };
        let bytes = encoded(|w| req.encode(w, 0));
        assert_eq!(decode_all(&bytes, |r| Request::decode(r, 0)), Ok(req));
        for len in 0..bytes.len() {
            assert!(
                Request::decode(&mut Reader::new(&bytes[..len]), 0).is_err(),
                "prefix {len}"
            );
        }
    }

    fn one_topic(next_cursor: Option<NextCursor>) -> Response {
        Response {
            throttle_time_ms: 0,
            topics: vec![Topic {
                error_code: 0,
                name: Some("t".into()),
                topic_id: [7; 16],
                is_internal: false,
                partitions: vec![Partition {
                    error_code: 0,
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 0,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    eligible_leader_replicas: None,
                    last_known_elr: None,
                    offline_replicas: vec![],
                }],
                topic_authorized_operations: 0x0df8,
            }],
            next_cursor,
        }
    }

    fn one_topic_bytes() -> Vec<u8> {
        let mut bytes = vec![
            0, 0, 0, 0,    // throttle_time_ms
            0x02, // topics: compact count 1
            0, 0, // error_code
            0x02, b't', // name "t"
        ];
        bytes.extend([7; 16]); // topic_id
        bytes.extend([
            0x00, // is_internal false
            0x02, // partitions: compact count 1
            0, 0, // error_code
            0, 0, 0, 0, // partition_index 0
            0, 0, 0, 1, // leader_id 1
            0, 0, 0, 0, // leader_epoch 0
            0x02, 0, 0, 0, 1, // replica_nodes [1]
            0x02, 0, 0, 0, 1,    // isr_nodes [1]
            0x00, // eligible_leader_replicas null
            0x00, // last_known_elr null
            0x01, // offline_replicas []
            0x00, // partition tags
            0, 0, 0x0d, 0xf8, // topic_authorized_operations
            0x00, // topic tags
        ]);
        bytes
    }

    #[test]
    fn describe_topic_partitions_v0_response_null_cursor() {
        let mut expected = one_topic_bytes();
        expected.extend([
            0xff, // next_cursor null (int8 -1)
            0x00, // tags
        ]);
        let resp = one_topic(None);
        assert_eq!(encoded(|w| resp.encode(w, 0)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 0)), Ok(resp));
    }

    #[test]
    fn describe_topic_partitions_v0_response_with_cursor() {
        let mut expected = one_topic_bytes();
        expected.extend([
            0x01, // next_cursor present
            0x02, b't', // topic_name "t"
            0, 0, 0, 1,    // partition_index 1
            0x00, // cursor tags
            0x00, // tags
        ]);
        let resp = one_topic(Some(NextCursor {
            topic_name: "t".into(),
            partition_index: 1,
        }));
        assert_eq!(encoded(|w| resp.encode(w, 0)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 0)), Ok(resp));
    }

    #[test]
    fn describe_topic_partitions_response_round_trip() {
        let resp = Response {
            throttle_time_ms: 3,
            topics: vec![
                Topic {
                    error_code: 0,
                    name: Some("orders".into()),
                    topic_id: [1; 16],
                    is_internal: true,
                    partitions: vec![Partition {
                        error_code: 0,
                        partition_index: 4,
                        leader_id: 1,
                        leader_epoch: 2,
                        replica_nodes: vec![1, 2, 3],
                        isr_nodes: vec![1, 2],
                        eligible_leader_replicas: Some(vec![3]),
                        last_known_elr: Some(vec![]),
                        offline_replicas: vec![3],
                    }],
                    topic_authorized_operations: 8,
                },
                Topic {
                    error_code: 3,
                    ..Topic::default()
                },
            ],
            next_cursor: Some(NextCursor {
                topic_name: "orders".into(),
                partition_index: 5,
            }),
        };
        let bytes = encoded(|w| resp.encode(w, 0));
        assert_eq!(decode_all(&bytes, |r| Response::decode(r, 0)), Ok(resp));
        for len in 0..bytes.len() {
            assert!(Response::decode(&mut Reader::new(&bytes[..len]), 0).is_err());
        }
    }

    #[test]
    fn describe_topic_partitions_huge_counts_and_bad_versions_are_rejected() {
        // topics claims 2^32-2 entries in a 5-byte body.
        let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 0),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 1),
            Err(DecodeError::Invalid("describe_topic_partitions version"))
        );
    }
}
