//! OffsetForLeaderEpoch (key 23), versions 2-4; flexible (compact encodings, tagged fields)
//! from v4. Versions 0-1 were removed in Kafka 4.0, so v2 is the baseline: it already has the
//! response's leader_epoch (v1) and throttle_time_ms (v2) and the request's
//! current_leader_epoch (v2, for fencing).
//! - v3: the request's replica_id (-1 for consumers; -2, the default, a debug consumer).
//! - v4: first flexible version.
//!
//! Consumers send it to validate their position after a leader change.
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 2;
pub const MAX_VERSION: i16 = 4;
pub const FIRST_FLEXIBLE_VERSION: i16 = 4;

/// `replica_id` of a consumer.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// `replica_id` before v3, and its default: a debug consumer, allowed past the high watermark.
pub const DEBUG_REPLICA_ID: i32 = -2;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("offset_for_leader_epoch version"))
    }
}

/// A topic (name, partition array) takes at least 6 bytes classic, 3 compact with its tags.
fn topic_min_bytes(flexible: bool) -> usize {
    if flexible { 3 } else { 6 }
}

/// A request partition: partition, current_leader_epoch, leader_epoch (+ tags).
fn partition_min_bytes(flexible: bool) -> usize {
    12 + usize::from(flexible)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// v3+; `DEBUG_REPLICA_ID` before.
    pub replica_id: i32,
    pub topics: Vec<RequestTopic<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTopic<'a> {
    pub topic: &'a str,
    pub partitions: Vec<RequestPartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPartition {
    pub partition: i32,
    /// The epoch the client believes current, for fencing; -1 to skip the check.
    pub current_leader_epoch: i32,
    /// The epoch whose end offset is asked for.
    pub leader_epoch: i32,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let replica_id = if version >= 3 {
            r.i32()?
        } else {
            DEBUG_REPLICA_ID
        };
        let n = r.array_len(flexible, topic_min_bytes(flexible))?;
        let topics = decode_array(r, n, |r| {
            let topic = r.string(flexible)?;
            let n = r.array_len(flexible, partition_min_bytes(flexible))?;
            let partitions = decode_array(r, n, |r| {
                let partition = RequestPartition {
                    partition: r.i32()?,
                    current_leader_epoch: r.i32()?,
                    leader_epoch: r.i32()?,
                };
                r.skip_tags(flexible)?;
                Ok(partition)
            })?;
            r.skip_tags(flexible)?;
            Ok(RequestTopic { topic, partitions })
        })?;
        r.skip_tags(flexible)?;
        Ok(Request { replica_id, topics })
    }

    /// Writes the request body; the broker never sends one, tests do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        if version >= 3 {
            w.i32(self.replica_id);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            w.string(topic.topic, flexible);
            w.array_len(topic.partitions.len(), flexible);
            for p in &topic.partitions {
                w.i32(p.partition)
                    .i32(p.current_leader_epoch)
                    .i32(p.leader_epoch)
                    .tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub topics: Vec<ResponseTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTopic {
    pub topic: String,
    pub partitions: Vec<EpochEndOffset>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub error_code: i16,
    pub partition: i32,
    /// The largest epoch at or below the requested one; -1 when unknown.
    pub leader_epoch: i32,
    /// The first offset after that epoch; -1 when unknown.
    pub end_offset: i64,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = is_flexible(version);
        w.i32(self.throttle_time_ms);
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            w.string(&topic.topic, flexible);
            w.array_len(topic.partitions.len(), flexible);
            for p in &topic.partitions {
                w.i16(p.error_code)
                    .i32(p.partition)
                    .i32(p.leader_epoch)
                    .i64(p.end_offset)
                    .tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }

    /// The decoder a client would use: tests read our responses back with it.
    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let n = r.array_len(flexible, topic_min_bytes(flexible))?;
        let topics = decode_array(r, n, |r| {
            let topic = r.string(flexible)?.to_owned();
            // error_code, partition, leader_epoch, end_offset (+ tags).
            let n = r.array_len(flexible, 2 + 4 + 4 + 8 + usize::from(flexible))?;
            let partitions = decode_array(r, n, |r| {
                let p = EpochEndOffset {
                    error_code: r.i16()?,
                    partition: r.i32()?,
                    leader_epoch: r.i32()?,
                    end_offset: r.i64()?,
                };
                r.skip_tags(flexible)?;
                Ok(p)
            })?;
            r.skip_tags(flexible)?;
            Ok(ResponseTopic { topic, partitions })
        })?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            topics,
        })
    }
}

// ---- Handling ----

/// Every partition here has had one leader epoch, so the end offset of the current epoch
/// is the log end; a later epoch than ours is unknown.
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
        let stored = broker.storage.topic(topic.topic);
        let partitions = topic
            .partitions
            .iter()
            .map(|p| match stored.and_then(|t| t.partition(p.partition)) {
                None => EpochEndOffset {
                    error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                    partition: p.partition,
                    leader_epoch: -1,
                    end_offset: -1,
                },
                Some(part) if p.leader_epoch > part.leader_epoch => EpochEndOffset {
                    error_code: error::NONE,
                    partition: p.partition,
                    leader_epoch: -1,
                    end_offset: -1,
                },
                Some(part) => EpochEndOffset {
                    error_code: error::NONE,
                    partition: p.partition,
                    leader_epoch: part.leader_epoch,
                    end_offset: part.log.next_offset(),
                },
            })
            .collect();
        topics.push(ResponseTopic {
            topic: topic.topic.to_string(),
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
        let partition = |partition, leader_epoch| RequestPartition {
            partition,
            current_leader_epoch: 4,
            leader_epoch,
        };
        Request {
            replica_id: if version >= 3 {
                CONSUMER_REPLICA_ID
            } else {
                DEBUG_REPLICA_ID
            },
            topics: vec![
                RequestTopic {
                    topic: "orders",
                    partitions: vec![partition(0, 3), partition(1, 0)],
                },
                RequestTopic {
                    topic: "e",
                    partitions: vec![],
                },
            ],
        }
    }

    fn sample_response() -> Response {
        Response {
            throttle_time_ms: 2,
            topics: vec![
                ResponseTopic {
                    topic: "orders".into(),
                    partitions: vec![
                        EpochEndOffset {
                            error_code: 0,
                            partition: 0,
                            leader_epoch: 3,
                            end_offset: 120,
                        },
                        EpochEndOffset {
                            error_code: 3,
                            partition: 7,
                            leader_epoch: -1,
                            end_offset: -1,
                        },
                    ],
                },
                ResponseTopic {
                    topic: "e".into(),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn offset_for_leader_epoch_v2_request_bytes() {
        let body = [
            0, 0, 0, 1, // topics: 1 (no replica_id in v2)
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 2, // partition 2
            0xff, 0xff, 0xff, 0xff, // current_leader_epoch -1
            0, 0, 0, 5, // leader_epoch 5
        ];
        let expected = Request {
            replica_id: DEBUG_REPLICA_ID,
            topics: vec![RequestTopic {
                topic: "t",
                partitions: vec![RequestPartition {
                    partition: 2,
                    current_leader_epoch: -1,
                    leader_epoch: 5,
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
    fn offset_for_leader_epoch_v4_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1 (consumer)
            0x02, // topics: compact count 1
            0x02, b't', // topic "t"
            0x02, // partitions: compact count 1
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // current_leader_epoch 6
            0, 0, 0, 6,    // leader_epoch 6
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        let expected = Request {
            replica_id: CONSUMER_REPLICA_ID,
            topics: vec![RequestTopic {
                topic: "t",
                partitions: vec![RequestPartition {
                    partition: 0,
                    current_leader_epoch: 6,
                    leader_epoch: 6,
                }],
            }],
        };
        assert_eq!(
            decode_all(&body, |r| Request::decode(r, 4)),
            Ok(expected.clone())
        );
        assert_eq!(encoded(|w| expected.encode(w, 4)), body);
    }

    fn one_partition_response() -> Response {
        Response {
            throttle_time_ms: 0,
            topics: vec![ResponseTopic {
                topic: "t".into(),
                partitions: vec![EpochEndOffset {
                    error_code: 0,
                    partition: 0,
                    leader_epoch: 6,
                    end_offset: 42,
                }],
            }],
        }
    }

    #[test]
    fn offset_for_leader_epoch_v2_response_bytes() {
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, // error_code 0
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // leader_epoch 6
            0, 0, 0, 0, 0, 0, 0, 42, // end_offset 42
        ];
        assert_eq!(encoded(|w| one_partition_response().encode(w, 2)), expected);
    }

    #[test]
    fn offset_for_leader_epoch_v4_response_bytes() {
        let expected = [
            0, 0, 0, 0,    // throttle_time_ms 0
            0x02, // topics: compact count 1
            0x02, b't', // topic "t"
            0x02, // partitions: compact count 1
            0, 0, // error_code 0
            0, 0, 0, 0, // partition 0
            0, 0, 0, 6, // leader_epoch 6
            0, 0, 0, 0, 0, 0, 0, 42,   // end_offset 42
            0x00, // partition tags
            0x00, // topic tags
            0x00, // tags
        ];
        assert_eq!(encoded(|w| one_partition_response().encode(w, 4)), expected);
    }

    #[test]
    fn offset_for_leader_epoch_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let bytes = encoded(|w| request.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(request),
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
    fn offset_for_leader_epoch_every_truncation_is_an_error() {
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
    fn offset_for_leader_epoch_huge_counts_and_bad_versions_are_rejected() {
        // v3: topics claims 2^31-1 entries in a 9-byte body.
        let body = [0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 3),
            Err(DecodeError::Truncated)
        );
        for version in [1, 5] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("offset_for_leader_epoch version"))
            );
        }
    }

    #[test]
    fn offset_for_leader_epoch_partition_min_bytes_is_exact() {
        for version in MIN_VERSION..=MAX_VERSION {
            let flexible = is_flexible(version);
            let with = |partitions| Request {
                replica_id: -1,
                topics: vec![RequestTopic {
                    topic: "",
                    partitions,
                }],
            };
            let one = with(vec![RequestPartition {
                partition: 0,
                current_leader_epoch: 0,
                leader_epoch: 0,
            }]);
            let one = encoded(|w| one.encode(w, version)).len();
            let none = encoded(|w| with(vec![]).encode(w, version)).len();
            assert_eq!(one - none, partition_min_bytes(flexible), "v{version}");
        }
    }
}
