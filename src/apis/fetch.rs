//! Fetch (key 1), versions 4-16; flexible (compact encodings, tagged fields) from v12.
//! v4 (Kafka 4's baseline) has isolation_level and, in the response, last_stable_offset
//! and aborted_transactions; v5 adds log_start_offset (request and response); v6 is v5;
//! v7 adds fetch sessions (session_id, session_epoch, forgotten_topics_data, top-level
//! error_code); v8 is v7; v9 adds current_leader_epoch; v10 allows zstd; v11 adds rack_id
//! and preferred_read_replica; v12 is flexible and adds last_fetched_epoch (plus tagged
//! DivergingEpoch/CurrentLeader/SnapshotId, which we never send); v13 names topics by
//! topic_id instead of name (UNKNOWN_TOPIC_ID); v14 is v13; v15 moves replica_id into the
//! tagged ReplicaState (skipped: we have no followers); v16 adds the tagged NodeEndpoints
//! (never sent).
//!
//! Invariant: the response never holds record bytes. Each partition carries an opaque
//! handle `R` and `records_len`; `Response::encode` writes the length prefix and lets the
//! caller append exactly that many bytes straight from the log into the output buffer.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 4;
pub const MAX_VERSION: i16 = 16;
pub const FIRST_FLEXIBLE_VERSION: i16 = 12;
/// The first version that names topics by id.
pub const FIRST_TOPIC_ID_VERSION: i16 = 13;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("fetch version"))
    }
}

/// The fewest bytes a topic entry (FetchTopic, ForgottenTopic) can take: its name or id,
/// its partition count and, when flexible, its tag count.
fn topic_min_bytes(version: i16) -> usize {
    if version >= FIRST_TOPIC_ID_VERSION {
        16 + 1 + 1
    } else if is_flexible(version) {
        1 + 1 + 1
    } else {
        2 + 4
    }
}

/// The fewest bytes a FetchPartition takes in `version`: its fixed-width fields plus,
/// when flexible, a tag count.
fn partition_min_bytes(version: i16) -> usize {
    let mut n = 4 + 8 + 4; // partition, fetch_offset, partition_max_bytes
    if version >= 5 {
        n += 8; // log_start_offset
    }
    if version >= 9 {
        n += 4; // current_leader_epoch
    }
    if version >= 12 {
        n += 4 + 1; // last_fetched_epoch, tags
    }
    n
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// v4-14; -1 for consumers, and always -1 from v15 (ReplicaState is skipped).
    pub replica_id: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    /// 0 READ_UNCOMMITTED, 1 READ_COMMITTED.
    pub isolation_level: i8,
    /// v7+; 0 before.
    pub session_id: i32,
    /// v7+; -1 before.
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic<'a>>,
    /// v7+.
    pub forgotten_topics_data: Vec<ForgottenTopic<'a>>,
    /// v11+; "" before.
    pub rack_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic<'a> {
    /// v4-12; "" from v13.
    pub topic: &'a str,
    /// v13+; all zeros before.
    pub topic_id: [u8; 16],
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition: i32,
    /// v9+; -1 before.
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    /// v12+; -1 before.
    pub last_fetched_epoch: i32,
    /// v5+; -1 before. Only followers set it.
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgottenTopic<'a> {
    /// v7-12; "" from v13.
    pub topic: &'a str,
    /// v13+; all zeros before.
    pub topic_id: [u8; 16],
    pub partitions: Vec<i32>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let replica_id = if version <= 14 { r.i32()? } else { -1 };
        let max_wait_ms = r.i32()?;
        let min_bytes = r.i32()?;
        let max_bytes = r.i32()?; // v3+
        let isolation_level = r.i8()?; // v4+
        let (session_id, session_epoch) = if version >= 7 {
            (r.i32()?, r.i32()?)
        } else {
            (0, -1)
        };
        let count = r.array_len(flexible, topic_min_bytes(version))?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(FetchTopic::decode(r, version)?);
        }
        let mut forgotten_topics_data = Vec::new();
        if version >= 7 {
            let count = r.array_len(flexible, topic_min_bytes(version))?;
            forgotten_topics_data.reserve_exact(count);
            for _ in 0..count {
                forgotten_topics_data.push(ForgottenTopic::decode(r, version)?);
            }
        }
        let rack_id = if version >= 11 {
            r.string(flexible)?
        } else {
            ""
        };
        // ClusterId (tag 0) and ReplicaState (tag 1, v15+) only matter between brokers.
        r.skip_tags(flexible)?;
        Ok(Request {
            replica_id,
            max_wait_ms,
            min_bytes,
            max_bytes,
            isolation_level,
            session_id,
            session_epoch,
            topics,
            forgotten_topics_data,
            rack_id,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "fetch v{version}");
        let flexible = is_flexible(version);
        if version <= 14 {
            w.i32(self.replica_id);
        }
        w.i32(self.max_wait_ms)
            .i32(self.min_bytes)
            .i32(self.max_bytes)
            .i8(self.isolation_level);
        if version >= 7 {
            w.i32(self.session_id).i32(self.session_epoch);
        }
        w.array_len(self.topics.len(), flexible);
        for topic in &self.topics {
            write_topic_key(w, topic.topic, &topic.topic_id, version);
            w.array_len(topic.partitions.len(), flexible);
            for partition in &topic.partitions {
                partition.encode(w, version);
            }
            w.tags(flexible);
        }
        if version >= 7 {
            w.array_len(self.forgotten_topics_data.len(), flexible);
            for topic in &self.forgotten_topics_data {
                write_topic_key(w, topic.topic, &topic.topic_id, version);
                w.array_len(topic.partitions.len(), flexible);
                for &partition in &topic.partitions {
                    w.i32(partition);
                }
                w.tags(flexible);
            }
        }
        if version >= 11 {
            w.string(self.rack_id, flexible);
        }
        w.tags(flexible);
    }
}

/// A topic is named (v4-12) or identified by its id (v13+), never both.
fn read_topic_key<'a>(r: &mut Reader<'a>, version: i16) -> Result<(&'a str, [u8; 16])> {
    if version >= FIRST_TOPIC_ID_VERSION {
        Ok(("", r.uuid()?))
    } else {
        Ok((r.string(is_flexible(version))?, [0; 16]))
    }
}

fn write_topic_key(w: &mut Writer, name: &str, id: &[u8; 16], version: i16) {
    if version >= FIRST_TOPIC_ID_VERSION {
        w.uuid(id);
    } else {
        w.string(name, is_flexible(version));
    }
}

impl<'a> FetchTopic<'a> {
    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let (topic, topic_id) = read_topic_key(r, version)?;
        let count = r.array_len(flexible, partition_min_bytes(version))?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(FetchPartition::decode(r, version)?);
        }
        r.skip_tags(flexible)?;
        Ok(FetchTopic {
            topic,
            topic_id,
            partitions,
        })
    }
}

impl FetchPartition {
    fn decode(r: &mut Reader, version: i16) -> Result<Self> {
        let partition = r.i32()?;
        let current_leader_epoch = if version >= 9 { r.i32()? } else { -1 };
        let fetch_offset = r.i64()?;
        let last_fetched_epoch = if version >= 12 { r.i32()? } else { -1 };
        let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
        let partition_max_bytes = r.i32()?;
        // ReplicaDirectoryId (v17+) and HighWatermark (v18+) are beyond our versions.
        r.skip_tags(is_flexible(version))?;
        Ok(FetchPartition {
            partition,
            current_leader_epoch,
            fetch_offset,
            last_fetched_epoch,
            log_start_offset,
            partition_max_bytes,
        })
    }

    fn encode(&self, w: &mut Writer, version: i16) {
        w.i32(self.partition);
        if version >= 9 {
            w.i32(self.current_leader_epoch);
        }
        w.i64(self.fetch_offset);
        if version >= 12 {
            w.i32(self.last_fetched_epoch);
        }
        if version >= 5 {
            w.i64(self.log_start_offset);
        }
        w.i32(self.partition_max_bytes);
        w.tags(is_flexible(version));
    }
}

impl<'a> ForgottenTopic<'a> {
    fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        let flexible = is_flexible(version);
        let (topic, topic_id) = read_topic_key(r, version)?;
        let count = r.array_len(flexible, 4)?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(r.i32()?);
        }
        r.skip_tags(flexible)?;
        Ok(ForgottenTopic {
            topic,
            topic_id,
            partitions,
        })
    }
}

/// A fetch response. `R` is whatever the caller uses to find a partition's record bytes
/// (a segment slice, a file range, a `Vec<u8>` in tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<R> {
    pub throttle_time_ms: i32,
    /// v7+.
    pub error_code: i16,
    /// v7+; 0 outside a fetch session.
    pub session_id: i32,
    pub responses: Vec<FetchableTopicResponse<R>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchableTopicResponse<R> {
    /// v4-12.
    pub topic: String,
    /// v13+.
    pub topic_id: [u8; 16],
    pub partitions: Vec<PartitionData<R>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionData<R> {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// v5+.
    pub log_start_offset: i64,
    /// Written as an array, never null (the schema allows null).
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// v11+; -1 for "fetch from the leader".
    pub preferred_read_replica: i32,
    /// The caller's handle on the record bytes; `encode` passes it to `write_records`.
    pub records: R,
    /// How many bytes `write_records` appends for this partition; 0 for none (records
    /// are empty, never null, even with an error).
    pub records_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

impl<R> PartitionData<R> {
    /// A partition that failed: Kafka's sentinels (-1) for every offset and no records.
    /// `records` is the caller's handle for "nothing".
    pub fn error(partition_index: i32, error_code: i16, records: R) -> Self {
        PartitionData {
            partition_index,
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: Vec::new(),
            preferred_read_replica: -1,
            records,
            records_len: 0,
        }
    }

    /// Everything before the records' bytes: the fields, then the records length prefix.
    fn encode_head(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        debug_assert!(
            i32::try_from(self.records_len).is_ok(),
            "records_len {} overflows RECORDS",
            self.records_len
        );
        w.i32(self.partition_index)
            .i16(self.error_code)
            .i64(self.high_watermark)
            .i64(self.last_stable_offset); // v4+
        if version >= 5 {
            w.i64(self.log_start_offset);
        }
        w.array_len(self.aborted_transactions.len(), flexible); // v4+
        for txn in &self.aborted_transactions {
            w.i64(txn.producer_id).i64(txn.first_offset).tags(flexible);
        }
        if version >= 11 {
            w.i32(self.preferred_read_replica);
        }
        w.bytes_len(self.records_len, flexible);
    }
}

impl<R> Response<R> {
    /// Writes the response body to `out`. For each partition, after the records length
    /// prefix, `write_records(&partition.records, out)` must append exactly
    /// `partition.records_len` bytes. Tagged fields (DivergingEpoch, CurrentLeader,
    /// SnapshotId, NodeEndpoints) are never written: ours are always their defaults.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        version: i16,
        mut write_records: impl FnMut(&R, &mut Vec<u8>),
    ) {
        debug_assert!(check_version(version).is_ok(), "fetch v{version}");
        let flexible = is_flexible(version);
        let mut w = Writer::new(out);
        w.i32(self.throttle_time_ms); // v1+
        if version >= 7 {
            w.i16(self.error_code).i32(self.session_id);
        }
        w.array_len(self.responses.len(), flexible);
        for topic in &self.responses {
            let mut w = Writer::new(out);
            write_topic_key(&mut w, &topic.topic, &topic.topic_id, version);
            w.array_len(topic.partitions.len(), flexible);
            for partition in &topic.partitions {
                partition.encode_head(&mut Writer::new(out), version);
                let start = out.len();
                write_records(&partition.records, out);
                debug_assert_eq!(
                    out.len() - start,
                    partition.records_len,
                    "write_records broke the records length prefix"
                );
                Writer::new(out).tags(flexible);
            }
            Writer::new(out).tags(flexible);
        }
        Writer::new(out).tags(flexible);
    }
}

// ---- Handling ----

use crate::storage::log::FileSlice;

/// The most record bytes one Fetch response carries (Kafka's `fetch.max.bytes` default).
pub const FETCH_BYTES_MAX: usize = 55 * 1024 * 1024;

/// Serves stored batches without parsing them. A fetch that finds fewer than `min_bytes`
/// waits (parked by the loop) until more arrive or `max_wait_ms` passes.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use super::Wait;
    let request = Request::decode(body, ctx.version)?;
    let has_partitions = request.topics.iter().any(|t| !t.partitions.is_empty());
    if ctx.wait != Wait::Expired && request.max_wait_ms > 0 && has_partitions {
        let (available, errors) = available_bytes(broker, &request, ctx.version);
        if !errors && available < i64::from(request.min_bytes.max(1)) {
            let deadline = match ctx.wait {
                Wait::Until(deadline) => deadline,
                _ => ctx.now + std::time::Duration::from_millis(request.max_wait_ms as u64),
            };
            return Ok(super::Reply::Park(deadline));
        }
    }
    let response = build_response(broker, &request, ctx.version);
    response.encode(out, ctx.version, |slice: &Option<FileSlice>, out| {
        if let Some(slice) = slice
            && let Err(e) = slice.write_to(out)
        {
            // The length is already written: fill it so the frame stays well formed;
            // the client sees a corrupt batch and retries.
            log::error!(
                "reading {} bytes of log at {}: {e}",
                slice.len,
                slice.position
            );
            out.resize(out.len() + slice.len, 0);
        }
    });
    Ok(super::Reply::Body)
}

fn resolve<'b>(
    broker: &'b crate::context::Context,
    topic: &FetchTopic,
    version: i16,
) -> Option<&'b crate::storage::Topic> {
    if version >= FIRST_TOPIC_ID_VERSION {
        broker.storage.topic_by_id(&topic.topic_id)
    } else {
        broker.storage.topic(topic.topic)
    }
}

/// Bytes waiting at the requested offsets, and whether any partition has an error (which
/// is answered at once).
fn available_bytes(
    broker: &crate::context::Context,
    request: &Request,
    version: i16,
) -> (i64, bool) {
    let mut total = 0i64;
    for topic in &request.topics {
        let Some(stored) = resolve(broker, topic, version) else {
            return (total, true);
        };
        for p in &topic.partitions {
            let Some(partition) = stored.partition(p.partition) else {
                return (total, true);
            };
            let log = &partition.log;
            if p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.next_offset() {
                return (total, true);
            }
            let bytes = log
                .bytes_after(p.fetch_offset)
                .min(p.partition_max_bytes.max(0) as u64);
            total = total.saturating_add(bytes as i64);
        }
    }
    (total, false)
}

fn build_response(
    broker: &crate::context::Context,
    request: &Request,
    version: i16,
) -> Response<Option<FileSlice>> {
    use crate::protocol::error;
    // Clients choose max_bytes, up to 2 GiB: never build more than Kafka's broker-side
    // `fetch.max.bytes` default (55 MiB) into one response.
    let requested = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut budget = if requested > 0 {
        requested.min(FETCH_BYTES_MAX)
    } else {
        FETCH_BYTES_MAX
    };
    let mut first = true;
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let stored = resolve(broker, topic, version);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let Some(stored) = stored else {
                let code = if version >= FIRST_TOPIC_ID_VERSION {
                    error::UNKNOWN_TOPIC_ID
                } else {
                    error::UNKNOWN_TOPIC_OR_PARTITION
                };
                partitions.push(PartitionData::error(p.partition, code, None));
                continue;
            };
            let Some(partition) = stored.partition(p.partition) else {
                partitions.push(PartitionData::error(
                    p.partition,
                    error::UNKNOWN_TOPIC_OR_PARTITION,
                    None,
                ));
                continue;
            };
            let log = &partition.log;
            if p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.next_offset() {
                partitions.push(PartitionData::error(
                    p.partition,
                    error::OFFSET_OUT_OF_RANGE,
                    None,
                ));
                continue;
            }
            let mut data = PartitionData {
                high_watermark: log.next_offset(),
                last_stable_offset: log.next_offset(),
                log_start_offset: log.log_start_offset(),
                ..PartitionData::error(p.partition, error::NONE, None)
            };
            if budget > 0 || first {
                let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                match broker.storage.read(partition, p.fetch_offset, limit) {
                    Ok(Some(slice)) => {
                        budget = budget.saturating_sub(slice.len);
                        data.records_len = slice.len;
                        data.records = Some(slice);
                        first = false;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log::error!("fetch from {}-{}: {e}", stored.name, p.partition);
                        data.error_code = error::UNKNOWN_SERVER_ERROR;
                    }
                }
            }
            partitions.push(data);
        }
        responses.push(FetchableTopicResponse {
            topic: topic.topic.to_string(),
            topic_id: if version >= FIRST_TOPIC_ID_VERSION {
                topic.topic_id
            } else {
                [0; 16]
            },
            partitions,
        });
    }
    Response {
        throttle_time_ms: 0,
        error_code: error::NONE,
        session_id: 0,
        responses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC_ID: [u8; 16] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ];

    fn encoded_request(request: &Request, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        request.encode(&mut Writer::new(&mut buf), version);
        buf
    }

    fn encoded_response(response: &Response<Vec<u8>>, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        response.encode(&mut buf, version, |records, out| {
            out.extend_from_slice(records)
        });
        buf
    }

    fn decode_all(body: &[u8], version: i16) -> Result<Request<'_>> {
        let mut r = Reader::new(body);
        let request = Request::decode(&mut r, version)?;
        assert_eq!(r.remaining(), 0, "v{version} left bytes unread");
        Ok(request)
    }

    /// The response decoder a client would use: only the tests need it.
    fn decode_response(r: &mut Reader, version: i16) -> Result<Response<Vec<u8>>> {
        let flexible = is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let (error_code, session_id) = if version >= 7 {
            (r.i16()?, r.i32()?)
        } else {
            (0, 0)
        };
        let mut responses = Vec::new();
        for _ in 0..r.array_len(flexible, 1)? {
            let (topic, topic_id) = read_topic_key(r, version)?;
            let mut partitions = Vec::new();
            for _ in 0..r.array_len(flexible, 1)? {
                let mut p = PartitionData::error(r.i32()?, r.i16()?, Vec::new());
                p.high_watermark = r.i64()?;
                p.last_stable_offset = r.i64()?;
                if version >= 5 {
                    p.log_start_offset = r.i64()?;
                }
                let count = r
                    .nullable_array_len(flexible, 16)?
                    .ok_or(DecodeError::Invalid("null aborted_transactions"))?;
                for _ in 0..count {
                    p.aborted_transactions.push(AbortedTransaction {
                        producer_id: r.i64()?,
                        first_offset: r.i64()?,
                    });
                    r.skip_tags(flexible)?;
                }
                if version >= 11 {
                    p.preferred_read_replica = r.i32()?;
                }
                p.records = r.bytes(flexible)?.to_vec();
                p.records_len = p.records.len();
                r.skip_tags(flexible)?;
                partitions.push(p);
            }
            r.skip_tags(flexible)?;
            responses.push(FetchableTopicResponse {
                topic: topic.to_owned(),
                topic_id,
                partitions,
            });
        }
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            error_code,
            session_id,
            responses,
        })
    }

    /// A request using every field the version has, the others at their defaults.
    fn sample_request(version: i16) -> Request<'static> {
        let by_id = version >= FIRST_TOPIC_ID_VERSION;
        let partition = |p: i32| FetchPartition {
            partition: p,
            current_leader_epoch: if version >= 9 { 4 } else { -1 },
            fetch_offset: 1_000 + i64::from(p),
            last_fetched_epoch: if version >= 12 { 3 } else { -1 },
            log_start_offset: if version >= 5 { 17 } else { -1 },
            partition_max_bytes: 1 << 20,
        };
        Request {
            replica_id: if version <= 14 { 2 } else { -1 },
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 50 << 20,
            isolation_level: 1,
            session_id: if version >= 7 { 9 } else { 0 },
            session_epoch: if version >= 7 { 2 } else { -1 },
            topics: vec![
                FetchTopic {
                    topic: if by_id { "" } else { "orders" },
                    topic_id: if by_id { TOPIC_ID } else { [0; 16] },
                    partitions: vec![partition(0), partition(3)],
                },
                FetchTopic {
                    topic: if by_id { "" } else { "e" },
                    topic_id: if by_id { [0xee; 16] } else { [0; 16] },
                    partitions: vec![],
                },
            ],
            forgotten_topics_data: if version >= 7 {
                vec![ForgottenTopic {
                    topic: if by_id { "" } else { "gone" },
                    topic_id: if by_id { [0x77; 16] } else { [0; 16] },
                    partitions: vec![1, 2],
                }]
            } else {
                vec![]
            },
            rack_id: if version >= 11 { "rack-a" } else { "" },
        }
    }

    fn sample_response(version: i16) -> Response<Vec<u8>> {
        let by_id = version >= FIRST_TOPIC_ID_VERSION;
        let ok = PartitionData {
            partition_index: 0,
            error_code: 0,
            high_watermark: 10,
            last_stable_offset: 9,
            log_start_offset: if version >= 5 { 2 } else { -1 },
            aborted_transactions: vec![AbortedTransaction {
                producer_id: 77,
                first_offset: 5,
            }],
            preferred_read_replica: -1,
            records: vec![1, 2, 3, 4, 5],
            records_len: 5,
        };
        Response {
            throttle_time_ms: 3,
            error_code: 0,
            session_id: if version >= 7 { 12 } else { 0 },
            responses: vec![FetchableTopicResponse {
                topic: if by_id {
                    String::new()
                } else {
                    "orders".into()
                },
                topic_id: if by_id { TOPIC_ID } else { [0; 16] },
                partitions: vec![ok, PartitionData::error(1, 6, Vec::new())],
            }],
        }
    }

    #[test]
    fn fetch_v4_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0, 100, // max_wait_ms 100
            0, 0, 0, 1, // min_bytes 1
            0x7f, 0xff, 0xff, 0xff, // max_bytes i32::MAX
            1,    // isolation_level READ_COMMITTED
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition 0
            0, 0, 0, 0, 0, 0, 0, 7, // fetch_offset 7
            0, 1, 0, 0, // partition_max_bytes 65536
        ];
        let expected = Request {
            replica_id: -1,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: i32::MAX,
            isolation_level: 1,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: "t",
                topic_id: [0; 16],
                partitions: vec![FetchPartition {
                    partition: 0,
                    current_leader_epoch: -1,
                    fetch_offset: 7,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: 65536,
                }],
            }],
            forgotten_topics_data: vec![],
            rack_id: "",
        };
        assert_eq!(decode_all(&body, 4), Ok(expected.clone()));
        assert_eq!(encoded_request(&expected, 4), body);
    }

    #[test]
    fn fetch_v16_request_by_topic_id_skips_cluster_id_and_replica_state() {
        let mut body = vec![
            0, 0, 0x01, 0xf4, // max_wait_ms 500 (no replica_id from v15)
            0, 0, 0, 1, // min_bytes 1
            0x03, 0x20, 0, 0, // max_bytes 52428800
            0, // isolation_level READ_UNCOMMITTED
            0, 0, 0, 0, // session_id 0
            0xff, 0xff, 0xff, 0xff, // session_epoch -1
            2,    // topics: 1 (compact)
        ];
        body.extend_from_slice(&TOPIC_ID); // topic_id
        body.extend_from_slice(&[
            2, // partitions: 1
            0, 0, 0, 0, // partition 0
            0xff, 0xff, 0xff, 0xff, // current_leader_epoch -1
            0, 0, 0, 0, 0, 0, 0, 5, // fetch_offset 5
            0xff, 0xff, 0xff, 0xff, // last_fetched_epoch -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            0, 0x10, 0, 0, // partition_max_bytes 1 MiB
            0, // partition tags
            0, // topic tags
            1, // forgotten_topics_data: 0
            1, // rack_id ""
            2, // body tags: 2
            0, 4, 4, b'a', b'b', b'c', // tag 0 ClusterId "abc"
            1, 13, // tag 1 ReplicaState, 13 bytes:
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // replica_epoch -1
            0,    // ReplicaState tags
        ]);
        let req = decode_all(&body, 16).unwrap();
        let expected = Request {
            replica_id: -1,
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 50 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: "",
                topic_id: TOPIC_ID,
                partitions: vec![FetchPartition {
                    partition: 0,
                    current_leader_epoch: -1,
                    fetch_offset: 5,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: 1 << 20,
                }],
            }],
            forgotten_topics_data: vec![],
            rack_id: "",
        };
        assert_eq!(req, expected);
        // Re-encoded without the tags we skipped.
        let tags_at = body.len() - 22;
        let mut untagged = body[..tags_at].to_vec();
        untagged.push(0);
        assert_eq!(encoded_request(&req, 16), untagged);
    }

    #[test]
    fn fetch_v4_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                topic_id: [0; 16],
                partitions: vec![PartitionData {
                    partition_index: 0,
                    error_code: 0,
                    high_watermark: 2,
                    last_stable_offset: 2,
                    log_start_offset: 0,
                    aborted_transactions: vec![],
                    preferred_read_replica: -1,
                    records: vec![0xaa, 0xbb],
                    records_len: 2,
                }],
            }],
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0 (no error_code/session_id before v7)
            0, 0, 0, 1, // responses: 1
            0, 1, b't', // topic "t"
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0, 2, // high_watermark 2
            0, 0, 0, 0, 0, 0, 0, 2, // last_stable_offset 2 (no log_start_offset in v4)
            0, 0, 0, 0, // aborted_transactions: empty, not null
            0, 0, 0, 2, 0xaa, 0xbb, // records: 2 bytes
        ];
        assert_eq!(encoded_response(&response, 4), expected);
    }

    #[test]
    fn fetch_v16_response_bytes_with_records_and_unknown_topic_id() {
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            responses: vec![
                FetchableTopicResponse {
                    topic: String::new(),
                    topic_id: TOPIC_ID,
                    partitions: vec![PartitionData {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 10,
                        last_stable_offset: 10,
                        log_start_offset: 0,
                        aborted_transactions: vec![],
                        preferred_read_replica: -1,
                        records: vec![1, 2, 3, 4, 5],
                        records_len: 5,
                    }],
                },
                FetchableTopicResponse {
                    topic: String::new(),
                    topic_id: [0xee; 16],
                    partitions: vec![PartitionData::error(0, 100, Vec::new())],
                },
            ],
        };
        let mut expected = vec![
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0, 0, 0, 0, // session_id 0
            3, // responses: 2 (compact)
        ];
        expected.extend_from_slice(&TOPIC_ID); // topic_id
        expected.extend_from_slice(&[
            2, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0, 10, // high_watermark 10
            0, 0, 0, 0, 0, 0, 0, 10, // last_stable_offset 10
            0, 0, 0, 0, 0, 0, 0, 0, // log_start_offset 0
            1, // aborted_transactions: empty (compact), not null
            0xff, 0xff, 0xff, 0xff, // preferred_read_replica -1
            6, 1, 2, 3, 4, 5, // records: 5 bytes (compact)
            0, // partition tags
            0, // topic tags
        ]);
        expected.extend_from_slice(&[0xee; 16]); // topic_id (unknown)
        expected.extend_from_slice(&[
            2, // partitions: 1
            0, 0, 0, 0, // partition_index 0
            0, 100, // error_code UNKNOWN_TOPIC_ID
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // high_watermark -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // last_stable_offset -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            1,    // aborted_transactions: empty
            0xff, 0xff, 0xff, 0xff, // preferred_read_replica -1
            1,    // records: empty (compact length 0 + 1), not null
            0,    // partition tags
            0,    // topic tags
            0,    // body tags (NodeEndpoints left out)
        ]);
        assert_eq!(encoded_response(&response, 16), expected);
    }

    #[test]
    fn records_come_from_the_callback_not_the_struct() {
        // R is a handle (here an offset into a "log"); the bytes never sit in the response.
        let log = [9u8, 8, 7, 6, 5, 4];
        let mut partition = PartitionData::error(0, 0, 2usize);
        partition.records_len = 3;
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                topic_id: [0; 16],
                partitions: vec![partition],
            }],
        };
        let mut out = Vec::new();
        response.encode(&mut out, 12, |&at, out| {
            out.extend_from_slice(&log[at..at + 3])
        });
        // ... preferred_read_replica -1, records (compact len 3+1) 7 6 5, tags x3.
        assert!(out.ends_with(&[0xff, 0xff, 0xff, 0xff, 4, 7, 6, 5, 0, 0, 0]));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "write_records broke the records length prefix")]
    fn short_write_records_is_caught_in_debug() {
        let mut partition = PartitionData::error(0, 0, vec![1u8]);
        partition.records_len = 2;
        let response = Response {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 0,
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                topic_id: [0; 16],
                partitions: vec![partition],
            }],
        };
        encoded_response(&response, 16);
    }

    #[test]
    fn request_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let request = sample_request(version);
            let body = encoded_request(&request, version);
            assert_eq!(decode_all(&body, version), Ok(request), "v{version}");
        }
    }

    #[test]
    fn response_round_trips_every_version() {
        for version in MIN_VERSION..=MAX_VERSION {
            let response = sample_response(version);
            let body = encoded_response(&response, version);
            let mut r = Reader::new(&body);
            assert_eq!(decode_response(&mut r, version), Ok(response), "v{version}");
            assert_eq!(r.remaining(), 0, "v{version}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for version in MIN_VERSION..=MAX_VERSION {
            let body = encoded_request(&sample_request(version), version);
            for len in 0..body.len() {
                let result = Request::decode(&mut Reader::new(&body[..len]), version);
                assert!(result.is_err(), "v{version} prefix {len} decoded");
            }
        }
    }

    #[test]
    fn huge_counts_and_bad_versions_are_rejected() {
        // v4: topics claims 2^31-1 entries in a 21-byte body.
        let mut body = vec![0xff; 4]; // replica_id
        body.extend_from_slice(&[0; 12]); // max_wait_ms, min_bytes, max_bytes
        body.push(0); // isolation_level
        body.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(decode_all(&body, 4), Err(DecodeError::Truncated));
        for version in [3, 17, -1] {
            assert_eq!(
                decode_all(&body, version),
                Err(DecodeError::Invalid("fetch version"))
            );
        }
    }

    #[test]
    fn partition_min_bytes_is_the_encoded_size_of_a_partition() {
        for version in MIN_VERSION..=MAX_VERSION {
            let mut buf = Vec::new();
            sample_request(version).topics[0].partitions[0]
                .encode(&mut Writer::new(&mut buf), version);
            assert_eq!(buf.len(), partition_min_bytes(version), "v{version}");
        }
    }
}
