//! ListOffsets (key 2), versions 1-7; flexible (compact encodings, tagged fields) from v6.
//! v1 (Kafka 4's baseline) returns one offset and its timestamp per partition instead of
//! v0's offsets array; v2 adds isolation_level and throttle_time_ms; v3 is v2; v4 adds
//! current_leader_epoch to the request and leader_epoch to the response; v5 adds the
//! OFFSET_NOT_AVAILABLE error; v6 is flexible; v7 allows timestamp -3 (max timestamp,
//! KIP-734). Timestamps -1 and -2 ask for the latest and earliest offsets.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 7;
pub const FIRST_FLEXIBLE_VERSION: i16 = 6;

/// Timestamp query: the offset after the last record.
pub const LATEST_TIMESTAMP: i64 = -1;
/// Timestamp query: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp query (v7+): the record with the largest timestamp.
pub const MAX_TIMESTAMP: i64 = -3;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("list_offsets version"))
    }
}

/// The fewest bytes a ListOffsetsPartition takes in `version`: its fixed-width fields
/// plus, when flexible, a tag count.
fn partition_min_bytes(version: i16) -> usize {
    let mut n = 4 + 8; // partition_index, timestamp
    if version >= 4 {
        n += 4; // current_leader_epoch
    }
    if is_flexible(version) {
        n += 1;
    }
    n
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// -1 for consumers.
    pub replica_id: i32,
    /// v2+; 0 (READ_UNCOMMITTED) before.
    pub isolation_level: i8,
    pub topics: Vec<ListOffsetsTopic<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<ListOffsetsPartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    pub partition_index: i32,
    /// v4+; -1 before.
    pub current_leader_epoch: i32,
    /// A time in ms, or one of `LATEST_TIMESTAMP`, `EARLIEST_TIMESTAMP`, `MAX_TIMESTAMP`.
    pub timestamp: i64,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let replica_id = r.i32()?;
        let isolation_level = if version >= 2 { r.i8()? } else { 0 };
        // A topic is at least a name length, a partition count and (flexible) a tag count.
        let topic_min_bytes = if flexible { 3 } else { 6 };
        let count = r.array_len(flexible, topic_min_bytes)?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(ListOffsetsTopic::decode(r, version)?);
        }
        r.skip_tags(flexible)?;
        Ok(Request {
            replica_id,
            isolation_level,
            topics,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "list_offsets v{version}");
        let flexible = is_flexible(version);
        w.i32(self.replica_id);
        if version >= 2 {
            w.i8(self.isolation_level);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            w.string(topic.name, flexible);
            w.array_len(topic.partitions.len(), flexible);
            for partition in &topic.partitions {
                w.i32(partition.partition_index);
                if version >= 4 {
                    w.i32(partition.current_leader_epoch);
                }
                w.i64(partition.timestamp).tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }
}

impl<'a> ListOffsetsTopic<'a> {
    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let name = r.string(flexible)?;
        let count = r.array_len(flexible, partition_min_bytes(version))?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            let partition_index = r.i32()?;
            let current_leader_epoch = if version >= 4 { r.i32()? } else { -1 };
            let timestamp = r.i64()?;
            r.skip_tags(flexible)?;
            partitions.push(ListOffsetsPartition {
                partition_index,
                current_leader_epoch,
                timestamp,
            });
        }
        r.skip_tags(flexible)?;
        Ok(ListOffsetsTopic { name, partitions })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// v2+.
    pub throttle_time_ms: i32,
    pub topics: Vec<ListOffsetsTopicResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopicResponse {
    pub name: String,
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    pub partition_index: i32,
    pub error_code: i16,
    /// The timestamp of the returned offset; -1 when there is none.
    pub timestamp: i64,
    /// -1 when there is none.
    pub offset: i64,
    /// v4+; -1 when unknown.
    pub leader_epoch: i32,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "list_offsets v{version}");
        let flexible = is_flexible(version);
        if version >= 2 {
            w.i32(self.throttle_time_ms);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            w.string(&topic.name, flexible);
            w.array_len(topic.partitions.len(), flexible);
            for partition in &topic.partitions {
                w.i32(partition.partition_index)
                    .i16(partition.error_code)
                    .i64(partition.timestamp)
                    .i64(partition.offset);
                if version >= 4 {
                    w.i32(partition.leader_epoch);
                }
                w.tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }
}

// ---- Handling ----

/// Earliest (-2), latest (-1), max timestamp (-3) or the first offset at or after a time.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let stored = broker.storage.topic(topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let mut answer = ListOffsetsPartitionResponse {
                partition_index: p.partition_index,
                error_code: error::NONE,
                timestamp: -1,
                offset: -1,
                leader_epoch: -1,
            };
            match stored.and_then(|t| t.partition(p.partition_index)) {
                None => answer.error_code = error::UNKNOWN_TOPIC_OR_PARTITION,
                Some(partition) => {
                    let log = &partition.log;
                    answer.leader_epoch = partition.leader_epoch;
                    let found = match p.timestamp {
                        EARLIEST_TIMESTAMP => Ok(Some((log.log_start_offset(), -1))),
                        LATEST_TIMESTAMP => Ok(Some((log.next_offset(), -1))),
                        MAX_TIMESTAMP => log.max_timestamp().map_err(|e| {
                            log::error!("max timestamp in {}: {e}", log.dir().display());
                            error::UNKNOWN_SERVER_ERROR
                        }),
                        t if t < 0 => Err(error::INVALID_REQUEST),
                        t => log.offset_for_timestamp(t).map_err(|e| {
                            log::error!("offset lookup in {}: {e}", log.dir().display());
                            error::UNKNOWN_SERVER_ERROR
                        }),
                    };
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            answer.offset = offset;
                            answer.timestamp = timestamp;
                        }
                        Ok(None) => {}
                        Err(code) => answer.error_code = code,
                    }
                }
            }
            partitions.push(answer);
        }
        topics.push(ListOffsetsTopicResponse {
            name: topic.name.to_string(),
            partitions,
        });
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

    fn decode_all(body: &[u8], version: i16) -> Result<Request<'_>> {
        let mut r = Reader::new(body);
        let request = Request::decode(&mut r, version)?;
        assert_eq!(r.remaining(), 0, "v{version} left bytes unread");
        Ok(request)
    }

    /// The response decoder a client would use: only the tests need it.
    fn decode_response(r: &mut Reader, version: i16) -> Result<Response> {
        let flexible = is_flexible(version);
        let throttle_time_ms = if version >= 2 { r.i32()? } else { 0 };
        let mut topics = Vec::new();
        for _ in 0..r.array_len(flexible, 1)? {
            let name = r.string(flexible)?.to_owned();
            let mut partitions = Vec::new();
            for _ in 0..r.array_len(flexible, 1)? {
                partitions.push(ListOffsetsPartitionResponse {
                    partition_index: r.i32()?,
                    error_code: r.i16()?,
                    timestamp: r.i64()?,
                    offset: r.i64()?,
                    leader_epoch: if version >= 4 { r.i32()? } else { -1 },
                });
                r.skip_tags(flexible)?;
            }
            r.skip_tags(flexible)?;
            topics.push(ListOffsetsTopicResponse { name, partitions });
        }
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            topics,
        })
    }

    /// A request using every field the version has, the others at their defaults.
    fn sample_request(version: i16) -> Request<'static> {
        let partition = |partition_index, timestamp| ListOffsetsPartition {
            partition_index,
            current_leader_epoch: if version >= 4 { 5 } else { -1 },
            timestamp,
        };
        Request {
            replica_id: -1,
            isolation_level: if version >= 2 { 1 } else { 0 },
            topics: vec![
                ListOffsetsTopic {
                    name: "orders",
                    partitions: vec![
                        partition(0, LATEST_TIMESTAMP),
                        partition(1, EARLIEST_TIMESTAMP),
                        partition(2, 1_700_000_000_000),
                    ],
                },
                ListOffsetsTopic {
                    name: "e",
                    partitions: vec![],
                },
            ],
        }
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: if version >= 2 { 8 } else { 0 },
            topics: vec![ListOffsetsTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    ListOffsetsPartitionResponse {
                        partition_index: 0,
                        error_code: 0,
                        timestamp: -1,
                        offset: 42,
                        leader_epoch: if version >= 4 { 0 } else { -1 },
                    },
                    ListOffsetsPartitionResponse {
                        partition_index: 9,
                        error_code: 3,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn list_offsets_v1_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1 (no isolation_level in v1)
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2 (earliest)
        ];
        let expected = Request {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![ListOffsetsTopic {
                name: "t",
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: -1,
                    timestamp: EARLIEST_TIMESTAMP,
                }],
            }],
        };
        assert_eq!(decode_all(&body, 1), Ok(expected.clone()));
        assert_eq!(encoded(|w| expected.encode(w, 1)), body);
    }

    #[test]
    fn list_offsets_v7_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            1,    // isolation_level READ_COMMITTED
            2,    // topics: 1 (compact)
            2, b't', // name "t"
            2,    // partitions: 1
            0, 0, 0, 3, // partition_index 3
            0, 0, 0, 7, // current_leader_epoch 7
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, // timestamp -3 (max timestamp)
            0,    // partition tags
            0,    // topic tags
            0,    // body tags
        ];
        let expected = Request {
            replica_id: -1,
            isolation_level: 1,
            topics: vec![ListOffsetsTopic {
                name: "t",
                partitions: vec![ListOffsetsPartition {
                    partition_index: 3,
                    current_leader_epoch: 7,
                    timestamp: MAX_TIMESTAMP,
                }],
            }],
        };
        assert_eq!(decode_all(&body, 7), Ok(expected.clone()));
        assert_eq!(encoded(|w| expected.encode(w, 7)), body);
    }

    #[test]
    fn list_offsets_v1_and_v2_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            topics: vec![ListOffsetsTopicResponse {
                name: "t".into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: 0,
                    error_code: 0,
                    timestamp: -1,
                    offset: 12,
                    leader_epoch: -1,
                }],
            }],
        };
        let v1 = [
            0, 0, 0, 1, // topics: 1 (no throttle_time_ms in v1)
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, // error_code 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp -1
            0, 0, 0, 0, 0, 0, 0, 12, // offset 12
        ];
        assert_eq!(encoded(|w| response.encode(w, 1)), v1);
        let mut v2 = vec![0, 0, 0, 0]; // throttle_time_ms 0
        v2.extend_from_slice(&v1);
        assert_eq!(encoded(|w| response.encode(w, 2)), v2);
    }

    #[test]
    fn list_offsets_v7_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            topics: vec![ListOffsetsTopicResponse {
                name: "t".into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: 1,
                    error_code: 0,
                    timestamp: 1_000,
                    offset: 5,
                    leader_epoch: 0,
                }],
            }],
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            2, // topics: 1 (compact)
            2, b't', // name "t"
            2,    // partitions: 1
            0, 0, 0, 1, // partition_index 1
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // timestamp 1000
            0, 0, 0, 0, 0, 0, 0, 5, // offset 5
            0, 0, 0, 0, // leader_epoch 0
            0, // partition tags
            0, // topic tags
            0, // body tags
        ];
        assert_eq!(encoded(|w| response.encode(w, 7)), expected);
    }

    #[test]
    fn request_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let body = encoded(|w| request.encode(w, version));
            assert_eq!(decode_all(&body, version), Ok(request), "v{version}");
        }
    }

    #[test]
    fn response_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let response = sample_response(version);
            let body = encoded(|w| response.encode(w, version));
            let mut r = Reader::new(&body);
            assert_eq!(decode_response(&mut r, version), Ok(response), "v{version}");
            assert_eq!(r.remaining(), 0, "v{version}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let body = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..body.len() {
                let result = Request::decode(&mut Reader::new(&body[..len]), version);
                assert!(result.is_err(), "v{version} prefix {len} decoded");
            }
        }
    }

    #[test]
    fn huge_counts_and_bad_versions_are_rejected() {
        // v1: topics claims 2^31-1 entries in an 8-byte body.
        let body = [0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(decode_all(&body, 1), Err(DecodeError::Truncated));
        for version in [0, 8] {
            assert_eq!(
                decode_all(&body, version),
                Err(DecodeError::Invalid("list_offsets version"))
            );
        }
    }

    #[test]
    fn partition_min_bytes_is_the_encoded_size_of_a_partition() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = Request {
                topics: vec![ListOffsetsTopic {
                    name: "",
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        current_leader_epoch: -1,
                        timestamp: -1,
                    }],
                }],
                ..sample_request(version)
            };
            let with_one = encoded(|w| request.encode(w, version)).len();
            let request = Request {
                topics: vec![ListOffsetsTopic {
                    name: "",
                    partitions: vec![],
                }],
                ..request
            };
            let with_none = encoded(|w| request.encode(w, version)).len();
            assert_eq!(
                with_one - with_none,
                partition_min_bytes(version),
                "v{version}"
            );
        }
    }
}
