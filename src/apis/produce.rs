//! Produce (key 0), versions 0-11; flexible (compact encodings, tagged fields) from v9.
//! v1 and v2 requests are the same as v0; responses gain throttle_time_ms in v1 and
//! log_append_time_ms in v2. v3 adds transactional_id and record format v2. v4 lets the
//! broker answer KAFKA_STORAGE_ERROR; v5 adds log_start_offset to the response; v6 is v5;
//! v7 allows zstd; v8 adds record_errors and error_message to the response; v9 is
//! flexible; v10 adds the CurrentLeader/NodeEndpoints tagged fields (left out: we are the
//! only leader); v11 allows TRANSACTION_ABORTABLE. Kafka 4 dropped v0-2 but librdkafka needs
//! them advertised (KAFKA-18659). v13 switches to topic ids; we stop at v11.
//!
//! Invariant: records are borrowed from the frame and never parsed here.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 11;
pub const FIRST_FLEXIBLE_VERSION: i16 = 9;

fn is_flexible(version: i16) -> bool {
    version >= FIRST_FLEXIBLE_VERSION
}

fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("produce version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// v3+; `None` when the producer is not transactional (and always before v3).
    pub transactional_id: Option<&'a str>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub topic_data: Vec<TopicProduceData<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceData<'a> {
    pub name: &'a str,
    pub partition_data: Vec<PartitionProduceData<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceData<'a> {
    pub index: i32,
    /// The record batches exactly as sent; `None` for a null RECORDS field.
    pub records: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = is_flexible(version);
        let transactional_id = if version >= 3 {
            r.nullable_string(flexible)?
        } else {
            None
        };
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        // A topic is at least a name length, a partition count and (flexible) a tag count.
        let topic_min_bytes = if flexible { 3 } else { 6 };
        let topic_count = r.array_len(flexible, topic_min_bytes)?;
        let mut topic_data = Vec::with_capacity(topic_count);
        for _ in 0..topic_count {
            topic_data.push(TopicProduceData::decode(r, flexible)?);
        }
        r.skip_tags(flexible)?;
        Ok(Request {
            transactional_id,
            acks,
            timeout_ms,
            topic_data,
        })
    }

    /// Writes the request body; the broker never sends one, tests and benchmarks do.
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "produce v{version}");
        let flexible = is_flexible(version);
        if version >= 3 {
            w.nullable_string(self.transactional_id, flexible);
        }
        w.i16(self.acks).i32(self.timeout_ms);
        w.array_len(self.topic_data.len(), flexible);
        for topic in &self.topic_data {
            w.string(topic.name, flexible);
            w.array_len(topic.partition_data.len(), flexible);
            for partition in &topic.partition_data {
                w.i32(partition.index);
                w.nullable_bytes(partition.records, flexible);
                w.tags(flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }
}

impl<'a> TopicProduceData<'a> {
    fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let name = r.string(flexible)?;
        // index (4) + records length (4, or 1 compact) + tag count when flexible.
        let partition_min_bytes = if flexible { 6 } else { 8 };
        let count = r.array_len(flexible, partition_min_bytes)?;
        let mut partition_data = Vec::with_capacity(count);
        for _ in 0..count {
            let index = r.i32()?;
            let records = r.nullable_bytes(flexible)?;
            r.skip_tags(flexible)?;
            partition_data.push(PartitionProduceData { index, records });
        }
        r.skip_tags(flexible)?;
        Ok(TopicProduceData {
            name,
            partition_data,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub responses: Vec<TopicProduceResponse>,
    /// v1+.
    pub throttle_time_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceResponse {
    pub name: String,
    pub partition_responses: Vec<PartitionProduceResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    pub index: i32,
    pub error_code: i16,
    pub base_offset: i64,
    /// v2+; -1 under CreateTime.
    pub log_append_time_ms: i64,
    /// v5+.
    pub log_start_offset: i64,
    /// v8+.
    pub record_errors: Vec<BatchIndexAndErrorMessage>,
    /// v8+.
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchIndexAndErrorMessage {
    pub batch_index: i32,
    pub batch_index_error_message: Option<String>,
}

impl PartitionProduceResponse {
    /// A partition answer with the schema's defaults for everything but the outcome.
    pub fn new(index: i32, error_code: i16, base_offset: i64) -> Self {
        PartitionProduceResponse {
            index,
            error_code,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
            error_message: None,
        }
    }
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "produce v{version}");
        let flexible = is_flexible(version);
        w.array_len(self.responses.len(), flexible);
        for topic in &self.responses {
            w.string(&topic.name, flexible);
            w.array_len(topic.partition_responses.len(), flexible);
            for partition in &topic.partition_responses {
                partition.encode(w, version);
            }
            w.tags(flexible);
        }
        if version >= 1 {
            w.i32(self.throttle_time_ms);
        }
        // NodeEndpoints (v10+, tag 0) is only for NOT_LEADER_OR_FOLLOWER: left out.
        w.tags(flexible);
    }
}

impl PartitionProduceResponse {
    fn encode(&self, w: &mut Writer, version: i16) {
        let flexible = is_flexible(version);
        w.i32(self.index).i16(self.error_code).i64(self.base_offset);
        if version >= 2 {
            w.i64(self.log_append_time_ms);
        }
        if version >= 5 {
            w.i64(self.log_start_offset);
        }
        if version >= 8 {
            w.array_len(self.record_errors.len(), flexible);
            for record_error in &self.record_errors {
                w.i32(record_error.batch_index);
                w.nullable_string(record_error.batch_index_error_message.as_deref(), flexible);
                w.tags(flexible);
            }
            w.nullable_string(self.error_message.as_deref(), flexible);
        }
        // CurrentLeader (v10+, tag 0) is only for NOT_LEADER_OR_FOLLOWER: left out.
        w.tags(flexible);
    }
}

// ---- Handling ----

/// Appends each partition's batch after validating it; answers after the turn's fsync (the
/// loop writes nothing before `end_of_turn`). acks=0 gets no response at all.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    let request = Request::decode(body, ctx.version)?;
    let mut response = Response {
        responses: Vec::with_capacity(request.topic_data.len()),
        throttle_time_ms: 0,
    };
    for topic in &request.topic_data {
        let partition_responses = topic
            .partition_data
            .iter()
            .map(|p| produce_partition(broker, request.acks, topic.name, p))
            .collect();
        response.responses.push(TopicProduceResponse {
            name: topic.name.to_string(),
            partition_responses,
        });
    }
    if request.acks == 0 {
        return Ok(super::Reply::Nothing);
    }
    response.encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

fn produce_partition(
    broker: &mut crate::context::Context,
    acks: i16,
    topic: &str,
    data: &PartitionProduceData,
) -> PartitionProduceResponse {
    use crate::protocol::error;
    use crate::storage::batch::{self, BatchError};
    let fail = |code| PartitionProduceResponse::new(data.index, code, -1);
    if !matches!(acks, -1..=1) {
        return fail(error::INVALID_REQUIRED_ACKS);
    }
    let Some(partition) = broker
        .storage
        .topic(topic)
        .and_then(|t| t.partition(data.index))
    else {
        return fail(error::UNKNOWN_TOPIC_OR_PARTITION);
    };
    let log_start_offset = partition.log.log_start_offset();
    let bytes = data.records.unwrap_or(&[]);
    let max_bytes = broker
        .storage
        .topic_configs(topic)
        .and_then(|c| c.get("max.message.bytes"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(broker.config.message_max_bytes);
    if bytes.len() > max_bytes {
        return fail(error::MESSAGE_TOO_LARGE);
    }
    let code = match batch::validate(bytes) {
        Ok(_) => error::NONE,
        Err(BatchError::Truncated | BatchError::CrcMismatch | BatchError::UnknownCompression) => {
            error::CORRUPT_MESSAGE
        }
        Err(
            BatchError::UnsupportedMagic(_)
            | BatchError::InvalidRecordCount
            | BatchError::TrailingBytes,
        ) => error::INVALID_RECORD,
    };
    if code != error::NONE {
        log::debug!(
            "produce to {topic}-{}: invalid batch (error {code})",
            data.index
        );
        return fail(code);
    }
    match broker.storage.append(topic, data.index, bytes) {
        Ok(appended) => PartitionProduceResponse {
            log_start_offset,
            ..PartitionProduceResponse::new(data.index, error::NONE, appended.base_offset)
        },
        Err(crate::storage::AppendError::Sequence(code)) => fail(code),
        Err(crate::storage::AppendError::UnknownTopicOrPartition) => {
            fail(error::UNKNOWN_TOPIC_OR_PARTITION)
        }
        Err(crate::storage::AppendError::Io(e)) => {
            log::error!("append to {topic}-{} failed: {e}", data.index);
            fail(error::UNKNOWN_SERVER_ERROR)
        }
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

    fn decode_all(body: &[u8], version: i16) -> Result<Request<'_>> {
        let mut r = Reader::new(body);
        let request = Request::decode(&mut r, version)?;
        assert_eq!(r.remaining(), 0, "v{version} left bytes unread");
        Ok(request)
    }

    /// The response decoder a client would use: only the tests need it.
    fn decode_response(r: &mut Reader, version: i16) -> Result<Response> {
        let flexible = is_flexible(version);
        let mut responses = Vec::new();
        for _ in 0..r.array_len(flexible, 1)? {
            let name = r.string(flexible)?.to_owned();
            let mut partition_responses = Vec::new();
            for _ in 0..r.array_len(flexible, 1)? {
                let mut p = PartitionProduceResponse::new(r.i32()?, r.i16()?, r.i64()?);
                if version >= 2 {
                    p.log_append_time_ms = r.i64()?;
                }
                if version >= 5 {
                    p.log_start_offset = r.i64()?;
                }
                if version >= 8 {
                    for _ in 0..r.array_len(flexible, 1)? {
                        let batch_index = r.i32()?;
                        let message = r.nullable_string(flexible)?.map(str::to_owned);
                        r.skip_tags(flexible)?;
                        p.record_errors.push(BatchIndexAndErrorMessage {
                            batch_index,
                            batch_index_error_message: message,
                        });
                    }
                    p.error_message = r.nullable_string(flexible)?.map(str::to_owned);
                }
                r.skip_tags(flexible)?;
                partition_responses.push(p);
            }
            r.skip_tags(flexible)?;
            responses.push(TopicProduceResponse {
                name,
                partition_responses,
            });
        }
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        r.skip_tags(flexible)?;
        Ok(Response {
            responses,
            throttle_time_ms,
        })
    }

    const RECORDS: &[u8] = &[1, 2, 3];

    /// A request using every field the version has, the others at their defaults.
    fn sample_request(version: i16) -> Request<'static> {
        Request {
            transactional_id: (version >= 3).then_some("txn-1"),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![
                TopicProduceData {
                    name: "orders",
                    partition_data: vec![
                        PartitionProduceData {
                            index: 0,
                            records: Some(RECORDS),
                        },
                        PartitionProduceData {
                            index: 7,
                            records: None,
                        },
                    ],
                },
                TopicProduceData {
                    name: "empty",
                    partition_data: vec![],
                },
            ],
        }
    }

    fn sample_response(version: i16) -> Response {
        let mut failed = PartitionProduceResponse::new(1, 87, -1);
        let mut ok = PartitionProduceResponse::new(0, 0, 42);
        if version >= 2 {
            ok.log_append_time_ms = 1_700_000_000_000;
        }
        if version >= 5 {
            ok.log_start_offset = 3;
        }
        if version >= 8 {
            failed.record_errors = vec![
                BatchIndexAndErrorMessage {
                    batch_index: 2,
                    batch_index_error_message: Some("bad".into()),
                },
                BatchIndexAndErrorMessage {
                    batch_index: 5,
                    batch_index_error_message: None,
                },
            ];
            failed.error_message = Some("invalid record".into());
        }
        Response {
            responses: vec![TopicProduceResponse {
                name: "orders".into(),
                partition_responses: vec![ok, failed],
            }],
            throttle_time_ms: if version >= 1 { 25 } else { 0 },
        }
    }

    #[test]
    fn produce_v2_request_bytes() {
        let body = [
            0xff, 0xff, // acks -1 (no transactional_id before v3)
            0, 0, 0x03, 0xe8, // timeout_ms 1000
            0, 0, 0, 1, // topic_data: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partition_data: 1
            0, 0, 0, 0, // index 0
            0, 0, 0, 3, 1, 2, 3, // records: 3 bytes
        ];
        let expected = Request {
            transactional_id: None,
            acks: -1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "t",
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(&[1, 2, 3]),
                }],
            }],
        };
        assert_eq!(decode_all(&body, 2), Ok(expected.clone()));
        assert_eq!(encoded(|w| expected.encode(w, 2)), body);
    }

    #[test]
    fn produce_v3_request_bytes() {
        let body = [
            0xff, 0xff, // transactional_id null
            0, 1, // acks 1
            0, 0, 0x03, 0xe8, // timeout_ms 1000
            0, 0, 0, 1, // topic_data: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partition_data: 1
            0, 0, 0, 2, // index 2
            0xff, 0xff, 0xff, 0xff, // records: null
        ];
        let req = decode_all(&body, 3).unwrap();
        assert_eq!(req.transactional_id, None);
        assert_eq!(req.acks, 1);
        assert_eq!(req.topic_data[0].partition_data[0].index, 2);
        assert_eq!(req.topic_data[0].partition_data[0].records, None);
        assert_eq!(encoded(|w| req.encode(w, 3)), body);
    }

    #[test]
    fn produce_v9_request_bytes_with_unknown_tag() {
        let body = [
            3, b't', b'x', // transactional_id "tx" (compact: len+1)
            0, 1, // acks 1
            0, 0, 0x75, 0x30, // timeout_ms 30000
            2,    // topic_data: 1 (compact: count+1)
            2, b't', // name "t"
            2,    // partition_data: 1
            0, 0, 0, 2, // index 2
            3, 0xaa, 0xbb, // records: 2 bytes (compact)
            0,    // partition tags
            0,    // topic tags
            1, 5, 1, 0xff, // body tags: one unknown tag 5 of 1 byte, skipped
        ];
        let req = decode_all(&body, 9).unwrap();
        assert_eq!(req.transactional_id, Some("tx"));
        assert_eq!(req.timeout_ms, 30_000);
        assert_eq!(req.topic_data[0].name, "t");
        assert_eq!(
            req.topic_data[0].partition_data[0],
            PartitionProduceData {
                index: 2,
                records: Some(&[0xaa, 0xbb]),
            }
        );
        // Re-encoded without the unknown tag.
        let mut without_tag = body[..body.len() - 4].to_vec();
        without_tag.push(0);
        assert_eq!(encoded(|w| req.encode(w, 9)), without_tag);
    }

    #[test]
    fn produce_v0_v2_v8_response_bytes() {
        let response = Response {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                    ..PartitionProduceResponse::new(0, 0, 5)
                }],
            }],
            throttle_time_ms: 0,
        };
        let head = [
            0, 0, 0, 1, // responses: 1
            0, 1, b't', // name "t"
            0, 0, 0, 1, // partition_responses: 1
            0, 0, 0, 0, // index 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0, 5, // base_offset 5
        ];
        // v0: nothing more.
        assert_eq!(encoded(|w| response.encode(w, 0)), head);
        // v2: log_append_time_ms -1 then throttle_time_ms.
        let mut v2 = head.to_vec();
        v2.extend_from_slice(&[0xff; 8]);
        v2.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(encoded(|w| response.encode(w, 2)), v2);
        // v8: + log_start_offset 0, record_errors [], error_message null, throttle.
        let mut v8 = head.to_vec();
        v8.extend_from_slice(&[0xff; 8]); // log_append_time_ms -1
        v8.extend_from_slice(&[0; 8]); // log_start_offset 0
        v8.extend_from_slice(&[0, 0, 0, 0]); // record_errors: 0
        v8.extend_from_slice(&[0xff, 0xff]); // error_message null
        v8.extend_from_slice(&[0, 0, 0, 0]); // throttle_time_ms 0
        assert_eq!(encoded(|w| response.encode(w, 8)), v8);
    }

    #[test]
    fn produce_v9_response_bytes() {
        let response = Response {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    record_errors: vec![BatchIndexAndErrorMessage {
                        batch_index: 1,
                        batch_index_error_message: Some("x".into()),
                    }],
                    error_message: Some("e".into()),
                    ..PartitionProduceResponse::new(3, 87, -1)
                }],
            }],
            throttle_time_ms: 10,
        };
        let expected = [
            2, // responses: 1 (compact)
            2, b't', // name "t"
            2,    // partition_responses: 1
            0, 0, 0, 3, // index 3
            0, 87, // error_code INVALID_RECORD
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base_offset -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time_ms -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            2,    // record_errors: 1
            0, 0, 0, 1, // batch_index 1
            2, b'x', // batch_index_error_message "x"
            0,    // record error tags
            2, b'e', // error_message "e"
            0,    // partition tags (CurrentLeader left out)
            0,    // topic tags
            0, 0, 0, 10, // throttle_time_ms 10
            0,  // body tags (NodeEndpoints left out)
        ];
        assert_eq!(encoded(|w| response.encode(w, 9)), expected);
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
        // topic_data claims 2^31-1 topics in a 12-byte body.
        let body = [0xff, 0xff, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(decode_all(&body, 3), Err(DecodeError::Truncated));
        assert_eq!(
            decode_all(&body, 12),
            Err(DecodeError::Invalid("produce version"))
        );
        assert_eq!(
            decode_all(&body, -1),
            Err(DecodeError::Invalid("produce version"))
        );
    }
}
