//! Fetch (key 1): stored batches from given offsets, long-polled until `min_bytes` arrive
//! or `max_wait_ms` passes. Versions 4-18, flexible from v12.
//! - v4 (Kafka 4's baseline) has isolation_level and, in the response, last_stable_offset
//!   and aborted_transactions; v5 adds log_start_offset; v6 is v5; v7 adds fetch sessions
//!   (session_id, session_epoch, forgotten topics, a top-level error_code); v8 is v7; v9
//!   adds current_leader_epoch; v10 allows zstd; v11 adds rack_id and
//!   preferred_read_replica.
//! - v12 is flexible and adds last_fetched_epoch, plus the tagged ClusterId,
//!   DivergingEpoch, CurrentLeader and SnapshotId, which we never need to send.
//! - v13 names topics by id (UNKNOWN_TOPIC_ID); v14 may answer
//!   OFFSET_MOVED_TO_TIERED_STORAGE (we have no tiered storage); v15 moves replica_id into
//!   the tagged ReplicaState (KIP-903); v16 adds the tagged NodeEndpoints (KIP-951).
//! - v17 adds the fetching follower's tagged ReplicaDirectoryId (KIP-853). Only followers
//!   send it and we have none: a consumer's v17 request is its v16 request.
//! - v18 adds each partition's tagged HighWatermark (KIP-1166): the high watermark the
//!   requester knows (i64::MAX when it does not say, -1 when it does not know). A fetch
//!   whose requester is behind ours is answered at once instead of long-polling, so it
//!   learns the new high watermark without waiting.
//!
//! Invariant: the response never holds a copy of record bytes: each partition's records are
//! a `storage::log::FileSlice`, read from the segment straight into the output while the
//! response is encoded.

use std::time::Duration;

use super::{Answer, Api, Context, Wait};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::protocol::wire::{Records, Wire};
use crate::security::authorizer::{op, resource};
use crate::storage::Topic;

message! {
    pub struct Request<'a> {
        replica_id: i32 = "0-14" default -1,
        max_wait_ms: i32 = "0+",
        min_bytes: i32 = "0+",
        max_bytes: i32 = "3+" default i32::MAX,
        isolation_level: i8 = "4+",
        session_id: i32 = "7+",
        session_epoch: i32 = "7+" default -1,
        topics: Vec<FetchTopic<'a>> = "0+",
        forgotten_topics_data: Vec<ForgottenTopic<'a>> = "7+",
        rack_id: &'a str = "11+",
        cluster_id: Option<&'a str> = "12+" null "12+" tag 0,
        replica_state: ReplicaState = "15+" tag 1,
    }

    pub struct ReplicaState {
        replica_id: i32 = "15+" default -1,
        replica_epoch: i64 = "15+" default -1,
    }

    pub struct FetchTopic<'a> {
        topic: &'a str = "0-12",
        topic_id: [u8; 16] = "13+",
        partitions: Vec<FetchPartition> = "0+",
    }

    pub struct FetchPartition {
        partition: i32 = "0+",
        current_leader_epoch: i32 = "9+" default -1,
        fetch_offset: i64 = "0+",
        last_fetched_epoch: i32 = "12+" default -1,
        log_start_offset: i64 = "5+" default -1,
        partition_max_bytes: i32 = "0+",
        replica_directory_id: [u8; 16] = "17+" tag 0,
        high_watermark: i64 = "18+" tag 1 default i64::MAX,
    }

    pub struct ForgottenTopic<'a> {
        topic: &'a str = "7-12",
        topic_id: [u8; 16] = "13+",
        partitions: Vec<i32> = "7+",
    }

    pub struct Response<'a> {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "7+",
        session_id: i32 = "7+",
        responses: Vec<FetchableTopicResponse<'a>> = "0+",
        node_endpoints: Vec<NodeEndpoint> = "16+" tag 0,
    }

    pub struct FetchableTopicResponse<'a> {
        topic: &'a str = "0-12",
        topic_id: [u8; 16] = "13+",
        partitions: Vec<PartitionData<'a>> = "0+",
    }

    pub struct PartitionData<'a> {
        partition_index: i32 = "0+",
        error_code: i16 = "0+",
        high_watermark: i64 = "0+",
        last_stable_offset: i64 = "4+" default -1,
        log_start_offset: i64 = "5+" default -1,
        aborted_transactions: Option<Vec<AbortedTransaction>> = "4+" null "4+",
        preferred_read_replica: i32 = "11+" default -1,
        records: Option<Records<'a>> = "0+" null "0+",
        diverging_epoch: EpochEndOffset = "12+" tag 0,
        current_leader: LeaderIdAndEpoch = "12+" tag 1,
        snapshot_id: SnapshotId = "12+" tag 2,
    }

    pub struct AbortedTransaction {
        producer_id: i64 = "4+",
        first_offset: i64 = "4+",
    }

    pub struct EpochEndOffset {
        epoch: i32 = "12+" default -1,
        end_offset: i64 = "12+" default -1,
    }

    pub struct LeaderIdAndEpoch {
        leader_id: i32 = "12+" default -1,
        leader_epoch: i32 = "12+" default -1,
    }

    pub struct SnapshotId {
        end_offset: i64 = "0+" default -1,
        epoch: i32 = "0+" default -1,
    }

    pub struct NodeEndpoint {
        node_id: i32 = "16+",
        host: String = "16+",
        port: i32 = "16+",
        rack: Option<String> = "16+" null "16+",
    }
}

/// `isolation_level` of a fetch that sees only committed data.
const READ_COMMITTED: i8 = 1;

/// The first version that names topics by id.
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The most record bytes one Fetch response carries (Kafka's `fetch.max.bytes` default).
pub const FETCH_BYTES_MAX: usize = 55 * 1024 * 1024;

pub struct Fetch;

impl Api for Fetch {
    const SPEC: ApiSpec = ApiSpec::new(1, "Fetch", "4-18", "12+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response<'a>;
    /// Each partition's records are read into the output's spare capacity in one pread.
    const RESERVE_RESPONSE: bool = true;

    /// Serves stored batches without parsing them. A fetch that is not `ready` waits
    /// (parked by the loop) until more arrive or `max_wait_ms` passes.
    fn handle<'a>(ctx: &mut Context, mut request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        // A consumer fetches no more than its quota lets through an idle window, or it
        // would be throttled whatever it did (Kafka caps max_bytes, then min_bytes by it).
        let quota_bytes_max = ctx.quotas.fetch_bytes_max(ctx.client_id.unwrap_or(""));
        if quota_bytes_max < request.max_bytes {
            request.max_bytes = quota_bytes_max;
            request.min_bytes = request.min_bytes.min(quota_bytes_max);
        }
        let has_partitions = request.topics.iter().any(|t| !t.partitions.is_empty());
        if ctx.wait != Wait::Expired
            && request.max_wait_ms > 0
            && has_partitions
            && !ready(ctx, &request)
        {
            let deadline = match ctx.wait {
                Wait::Until(deadline) => deadline,
                _ => ctx.now + Duration::from_millis(request.max_wait_ms as u64),
            };
            return Answer::Park {
                deadline,
                memo: None,
            };
        }
        let response = build_response(ctx, &request);
        Answer::Respond(throttle(ctx, response))
    }
}

/// Records the response's bytes against the client's consumer_byte_rate quota; over it, the
/// client gets an empty response that says how long it is throttled (as Kafka's
/// `getThrottledResponse`), and its bytes are not counted.
fn throttle<'a>(ctx: &mut Context, response: Response<'a>) -> Response<'a> {
    if !ctx.quotas.fetch.enabled() {
        return response;
    }
    // Kafka counts the body and four bytes more (FetchResponse.sizeOf).
    let bytes = 4 + response.size(Fetch::SPEC.ver(ctx.version));
    let throttle_ms = ctx
        .quotas
        .record_fetch(ctx.client_id.unwrap_or(""), bytes, ctx.now);
    if throttle_ms == 0 {
        return response;
    }
    ctx.throttle_ms = throttle_ms;
    Response {
        throttle_time_ms: throttle_ms,
        ..Response::default()
    }
}

/// Whether the principal may READ the topic (by its name; an unknown topic id has none and
/// is answered UNKNOWN_TOPIC_ID first, as Kafka does).
fn readable(ctx: &Context, topic: &FetchTopic) -> bool {
    let name = match resolve(ctx, topic) {
        Some(stored) => stored.name.as_str(),
        None if ctx.version >= FIRST_TOPIC_ID_VERSION => return true,
        None => topic.topic,
    };
    ctx.authorize(op::READ, resource::TOPIC, name)
}

fn resolve<'c>(ctx: &'c Context, topic: &FetchTopic) -> Option<&'c Topic> {
    if ctx.version >= FIRST_TOPIC_ID_VERSION {
        ctx.storage.topic_by_id(&topic.topic_id)
    } else {
        ctx.storage.topic(topic.topic)
    }
}

/// Whether to answer now: some partition has an error, or is behind the high watermark
/// its requester knows (v18), or `min_bytes` wait at the requested offsets.
fn ready(ctx: &Context, request: &Request) -> bool {
    let mut available = 0u64;
    for topic in &request.topics {
        let Some(stored) = resolve(ctx, topic) else {
            return true;
        };
        if !readable(ctx, topic) {
            return true;
        }
        for p in &topic.partitions {
            let Some(partition) = stored.partition(p.partition) else {
                return true;
            };
            let log = &partition.log;
            // Records past the high watermark (their sync pending) are not served yet.
            let high_watermark = partition.high_watermark();
            if log.is_offline()
                || p.fetch_offset < log.log_start_offset()
                || p.fetch_offset > log.next_offset()
                || p.high_watermark < high_watermark
            {
                return true;
            }
            // Only what lies below the high watermark, or for read_committed below the last
            // stable offset (never above it): at least a byte if any does (the index makes
            // `bytes_after` coarse).
            let end = if request.isolation_level == READ_COMMITTED {
                partition.last_stable_offset()
            } else {
                high_watermark
            };
            let bytes = if p.fetch_offset < end {
                log.bytes_after(p.fetch_offset)
                    .saturating_sub(log.bytes_after(end))
                    .max(1)
            } else {
                0
            };
            available = available.saturating_add(bytes.min(p.partition_max_bytes.max(0) as u64));
        }
    }
    available >= request.min_bytes.max(1) as u64
}

/// A partition's answer with Kafka's -1 sentinels, no aborted transactions and empty
/// records (never null, even with an error).
fn partition_answer<'a>(partition_index: i32, error_code: i16) -> PartitionData<'a> {
    PartitionData {
        partition_index,
        error_code,
        high_watermark: -1,
        aborted_transactions: Some(Vec::new()),
        records: Some(Records::default()),
        ..PartitionData::default()
    }
}

fn build_response<'a>(ctx: &Context, request: &Request<'a>) -> Response<'a> {
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
        let stored = resolve(ctx, topic);
        let may_read = readable(ctx, topic);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            if !may_read {
                let code = error::TOPIC_AUTHORIZATION_FAILED;
                partitions.push(partition_answer(p.partition, code));
                continue;
            }
            let Some(stored) = stored else {
                let code = if ctx.version >= FIRST_TOPIC_ID_VERSION {
                    error::UNKNOWN_TOPIC_ID
                } else {
                    error::UNKNOWN_TOPIC_OR_PARTITION
                };
                partitions.push(partition_answer(p.partition, code));
                continue;
            };
            let Some(partition) = stored.partition(p.partition) else {
                partitions.push(partition_answer(
                    p.partition,
                    error::UNKNOWN_TOPIC_OR_PARTITION,
                ));
                continue;
            };
            let log = &partition.log;
            if log.is_offline() {
                partitions.push(partition_answer(p.partition, error::KAFKA_STORAGE_ERROR));
                continue;
            }
            if p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.next_offset() {
                partitions.push(partition_answer(p.partition, error::OFFSET_OUT_OF_RANGE));
                continue;
            }
            let last_stable_offset = partition.last_stable_offset();
            let mut data = PartitionData {
                high_watermark: partition.high_watermark(),
                last_stable_offset,
                log_start_offset: log.log_start_offset(),
                ..partition_answer(p.partition, error::NONE)
            };
            let read_committed = request.isolation_level == READ_COMMITTED;
            if budget > 0 || first {
                let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                let read = if read_committed {
                    log.read_below(p.fetch_offset, limit, last_stable_offset)
                } else {
                    ctx.storage.read(partition, p.fetch_offset, limit)
                };
                match read {
                    Ok(Some(slice)) => {
                        if read_committed {
                            // Kafka's collectAbortedTransactions for the range served.
                            let (segment, upper_bound) =
                                log.fetch_upper_bound(p.fetch_offset, &slice);
                            let aborted = partition.txns.collect_aborted(
                                segment,
                                p.fetch_offset,
                                upper_bound,
                            );
                            data.aborted_transactions = Some(
                                aborted
                                    .iter()
                                    .map(|a| AbortedTransaction {
                                        producer_id: a.producer_id,
                                        first_offset: a.first_offset,
                                    })
                                    .collect(),
                            );
                        }
                        budget = budget.saturating_sub(slice.len);
                        data.records = Some(Records::Source(Box::new(slice)));
                        first = false;
                    }
                    Ok(None) => {}
                    // An offline partition (its log found corrupt, now or at start) answers
                    // as Kafka's offline log dir does; the corruption was logged once.
                    Err(_) if log.is_offline() => data.error_code = error::KAFKA_STORAGE_ERROR,
                    // Any other failed read (a segment file that vanished or cannot be
                    // reopened) is Kafka's KafkaStorageException too.
                    Err(e) => {
                        log::error!("fetch from {}-{}: {e}", stored.name, p.partition);
                        data.error_code = error::KAFKA_STORAGE_ERROR;
                    }
                }
            }
            partitions.push(data);
        }
        responses.push(FetchableTopicResponse {
            topic: topic.topic,
            topic_id: topic.topic_id,
            partitions,
        });
    }
    Response {
        responses,
        ..Response::default()
    }
}

/// A storage for handler tests, in a fresh directory named after the test: topic "t" with
/// one partition holding offsets 0-2 (time 1000, leader epoch 0).
#[cfg(test)]
pub(crate) struct Fixture(
    crate::config::Config,
    crate::storage::Storage,
    crate::coordinator::Coordinator,
    crate::quotas::Quotas,
    crate::security::Security,
    crate::security::Session,
);

#[cfg(test)]
impl Fixture {
    pub(crate) fn three_records(test: &str) -> Fixture {
        let log_dir = crate::storage::test_dir(test);
        let config = crate::config::Config {
            log_dir,
            ..Default::default()
        };
        let mut storage = crate::storage::Storage::open(&config).unwrap();
        storage.create_topic("t", 1, &[]).unwrap();
        let batch = crate::storage::batch::build(0, -1, 1_000, &[vec![1], vec![2], vec![3]]);
        storage.append("t", 0, &batch).unwrap();
        // The end of the turn: the records become durable, so readable.
        storage.submit_syncs(std::time::Instant::now()).unwrap();
        storage.wait_syncs().unwrap();
        let quotas =
            crate::quotas::Quotas::new(&config, storage.client_quotas(), std::time::Instant::now());
        let security = crate::security::Security::new(&config).unwrap();
        let session =
            crate::security::Session::new(0, crate::config::SecurityProtocol::Plaintext, None);
        Fixture(
            config,
            storage,
            crate::coordinator::Coordinator::new(Duration::ZERO),
            quotas,
            security,
            session,
        )
    }

    pub(crate) fn ctx(&mut self, version: i16) -> Context<'_> {
        let addr = "127.0.0.1:9092".parse().unwrap();
        Context {
            config: &self.0,
            storage: &mut self.1,
            coordinator: &mut self.2,
            quotas: &mut self.3,
            security: &self.4,
            session: &mut self.5,
            version,
            client_id: None,
            client_addr: addr,
            local_addr: addr,
            now: std::time::Instant::now(),
            wait: Wait::Allowed,
            memo: None,
            request_bytes: 0,
            throttle_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    const TOPIC_ID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

    fn request_bytes(version: i16, body: &[u8]) -> Request<'_> {
        decode(body, Fetch::SPEC.ver(version)).unwrap()
    }

    fn response_bytes(response: &Response, version: i16) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, Fetch::SPEC.ver(version), &mut out).unwrap();
        out
    }

    fn partition(fetch_offset: i64, partition_max_bytes: i32) -> FetchPartition {
        FetchPartition {
            fetch_offset,
            partition_max_bytes,
            ..FetchPartition::default()
        }
    }

    #[test]
    fn fetch_v18_parks_unless_bytes_wait_or_the_high_watermark_is_behind() {
        let mut fixture = Fixture::three_records("fetch-ready");
        let ctx = &mut fixture.ctx(18);
        let stored = ctx.storage.topic("t").unwrap();
        let (id, bytes) = (stored.id, stored.partitions[0].log.read_all().unwrap());
        let request = |fetch_offset, high_watermark| Request {
            max_wait_ms: 500,
            min_bytes: 1,
            topics: vec![FetchTopic {
                topic_id: id,
                partitions: vec![FetchPartition {
                    high_watermark,
                    ..partition(fetch_offset, 1 << 20)
                }],
                ..FetchTopic::default()
            }],
            ..Request::default()
        };
        // At the log end with no high watermark given (i64::MAX) or a current one: wait.
        assert!(!ready(ctx, &request(3, i64::MAX)) && !ready(ctx, &request(3, 3)));
        assert!(matches!(
            Fetch::handle(ctx, request(3, 3)),
            Answer::Park { .. }
        ));
        // A requester behind our high watermark (or not knowing it) is answered at once.
        assert!(ready(ctx, &request(3, 2)) && ready(ctx, &request(3, -1)));
        // Bytes waiting: answered with the stored batch, read from the segment.
        let Answer::Respond(response) = Fetch::handle(ctx, request(0, i64::MAX)) else {
            panic!("a fetch with bytes waiting is answered");
        };
        let data = &response.responses[0].partitions[0];
        assert_eq!((data.error_code, data.high_watermark), (error::NONE, 3));
        assert!(matches!(&data.records, Some(Records::Source(_))));
        // The body ends with the records, then partition, topic and body tags.
        let body = response_bytes(&response, 18);
        assert!(body.ends_with(&[&bytes[..], &[0, 0, 0]].concat()));
    }

    #[test]
    fn fetch_serves_nothing_whose_sync_is_pending() {
        let mut fixture = Fixture::three_records("fetch-durable");
        let ctx = &mut fixture.ctx(18);
        let stored = ctx.storage.topic("t").unwrap();
        let (id, durable) = (stored.id, stored.partitions[0].log.read_all().unwrap());
        let batch = crate::storage::batch::build(0, -1, 2_000, &[vec![4], vec![5]]);
        ctx.storage.append("t", 0, &batch).unwrap();
        let request = |fetch_offset| Request {
            topics: vec![FetchTopic {
                topic_id: id,
                partitions: vec![partition(fetch_offset, 1 << 20)],
                ..FetchTopic::default()
            }],
            ..Request::default()
        };
        let answer = |ctx: &mut Context, fetch_offset| {
            let Answer::Respond(response) = Fetch::handle(ctx, request(fetch_offset)) else {
                panic!("max_wait_ms 0 is answered at once");
            };
            let data = &response.responses[0].partitions[0];
            let body = response_bytes(&response, 18);
            (data.error_code, data.high_watermark, body)
        };
        // Appended, its sync not submitted: the high watermark stays at 3, a fetch from 0
        // gets the first batch only, one at 3 nothing (not OFFSET_OUT_OF_RANGE: 3 is
        // below the log end).
        let (code, high_watermark, body) = answer(ctx, 0);
        assert_eq!((code, high_watermark), (error::NONE, 3));
        assert!(body.ends_with(&[&durable[..], &[0, 0, 0]].concat()));
        let (code, high_watermark, body) = answer(ctx, 3);
        assert_eq!((code, high_watermark), (error::NONE, 3));
        assert!(!body.ends_with(&durable[durable.len() - 8..]));
        let latest = super::super::list_offsets::tests::latest(ctx, "t");
        assert_eq!(latest, 3);
        // Submitted but not complete is no different; completed, both batches are served.
        ctx.storage.submit_syncs(std::time::Instant::now()).unwrap();
        ctx.storage.wait_syncs().unwrap();
        let all = ctx.storage.topic("t").unwrap().partitions[0]
            .log
            .read_all()
            .unwrap();
        let (code, high_watermark, body) = answer(ctx, 0);
        assert_eq!((code, high_watermark), (error::NONE, 5));
        assert!(all.len() > durable.len());
        assert!(body.ends_with(&[&all[..], &[0, 0, 0]].concat()));
        assert_eq!(super::super::list_offsets::tests::latest(ctx, "t"), 5);
    }

    #[test]
    fn fetch_v4_request_bytes() {
        let body = [
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 100, // replica_id -1, max_wait_ms 100
            0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, // min_bytes 1, max_bytes i32::MAX
            1, 0, 0, 0, 1, 0, 1, b't', // isolation_level 1, topics: 1, topic "t"
            0, 0, 0, 1, 0, 0, 0, 0, // partitions: 1, partition 0
            0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 0, 0, // fetch_offset 7, partition_max_bytes 65536
        ];
        let request = request_bytes(4, &body);
        let limits = (request.max_wait_ms, request.min_bytes, request.max_bytes);
        assert_eq!((request.replica_id, limits), (-1, (100, 1, i32::MAX)));
        assert_eq!((request.isolation_level, request.topics[0].topic), (1, "t"));
        // Fields the version lacks hold the schema's defaults.
        assert_eq!((request.session_id, request.session_epoch), (0, -1));
        assert_eq!(request.topics[0].partitions, [partition(7, 65536)]);
        let p = &request.topics[0].partitions[0];
        assert_eq!((p.current_leader_epoch, p.log_start_offset), (-1, -1));
        assert_eq!(p.high_watermark, i64::MAX);
    }

    /// A v16 body up to its partition's tag section: one topic by id, one partition.
    fn v16_head() -> Vec<u8> {
        let mut body = vec![
            0, 0, 0x01, 0xf4, 0, 0, 0, 1, // max_wait_ms 500 (no replica_id), min_bytes 1
            0x03, 0x20, 0, 0, 0, // max_bytes 52428800, isolation_level 0
            0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // session_id 0, session_epoch -1
            2,    // topics: 1 (compact)
        ];
        body.extend_from_slice(&TOPIC_ID);
        body.extend_from_slice(&[
            2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, // partitions: 1, partition 0, epoch -1
            0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, // fetch_offset 5, last epoch -1
        ]);
        body.extend_from_slice(&[0xff; 8]); // log_start_offset -1
        body.extend_from_slice(&[0, 0x10, 0, 0]); // partition_max_bytes 1 MiB
        body
    }

    #[test]
    fn fetch_v16_request_by_topic_id_with_cluster_id_and_replica_state() {
        let mut body = v16_head();
        body.extend_from_slice(&[
            0, 0, 1, 1, // partition and topic tags, forgotten_topics_data: 0, rack_id ""
            2, 0, 4, 4, b'a', b'b', b'c', // body tags: 2; tag 0 ClusterId "abc"
            1, 13, 0, 0, 0, 2, // tag 1 ReplicaState (13 bytes): replica_id 2,
            0, 0, 0, 0, 0, 0, 0, 9, 0, // replica_epoch 9, tags
        ]);
        let request = request_bytes(16, &body);
        assert_eq!(request.topics[0].topic_id, TOPIC_ID);
        assert_eq!(request.topics[0].partitions[0].fetch_offset, 5);
        assert_eq!(
            (request.max_bytes, request.cluster_id),
            (50 << 20, Some("abc"))
        );
        let state = &request.replica_state;
        assert_eq!((state.replica_id, state.replica_epoch), (2, 9));
    }

    #[test]
    fn fetch_v18_request_partition_tags() {
        let mut body = v16_head();
        body.extend_from_slice(&[2, 0, 16]); // partition tags: 2; tag 0, 16 bytes
        body.extend_from_slice(&[0xdd; 16]); // replica_directory_id
        body.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0, 0, 0, 4]); // tag 1: high_watermark 4
        body.extend_from_slice(&[0, 1, 1, 0]); // topic tags, no forgotten, rack "", tags
        let p = &request_bytes(18, &body).topics[0].partitions[0];
        assert_eq!((p.replica_directory_id, p.high_watermark), ([0xdd; 16], 4));
        // At v17 the high watermark is not a field: its tag is skipped as unknown.
        let p = &request_bytes(17, &body).topics[0].partitions[0];
        assert_eq!(p.high_watermark, i64::MAX);
    }

    fn answered<'a>(high_watermark: i64, records: &'a [u8]) -> PartitionData<'a> {
        PartitionData {
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: 0,
            records: Some(Records::Bytes(records)),
            ..partition_answer(0, error::NONE)
        }
    }

    #[test]
    fn fetch_v4_response_bytes() {
        let response = Response {
            responses: vec![FetchableTopicResponse {
                topic: "t",
                partitions: vec![answered(2, &[0xaa, 0xbb])],
                ..FetchableTopicResponse::default()
            }],
            ..Response::default()
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms 0 (no error_code/session_id before v7)
            0, 0, 0, 1, 0, 1, b't', // responses: 1, topic "t"
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, // partitions: 1, partition_index 0, error_code 0
            0, 0, 0, 0, 0, 0, 0, 2, // high_watermark 2
            0, 0, 0, 0, 0, 0, 0, 2, // last_stable_offset 2 (no log_start_offset in v4)
            0, 0, 0, 0, // aborted_transactions: empty, not null
            0, 0, 0, 2, 0xaa, 0xbb, // records: 2 bytes
        ];
        assert_eq!(response_bytes(&response, 4), expected);
    }

    #[test]
    fn fetch_v16_to_v18_response_bytes_with_records_and_unknown_topic_id() {
        let topic = |topic_id, partition| FetchableTopicResponse {
            topic_id,
            partitions: vec![partition],
            ..FetchableTopicResponse::default()
        };
        let unknown = partition_answer(0, error::UNKNOWN_TOPIC_ID);
        let response = Response {
            responses: vec![
                topic(TOPIC_ID, answered(10, &[1, 2, 3, 4, 5])),
                topic([0xee; 16], unknown),
            ],
            ..Response::default()
        };
        // throttle_time_ms 0, error_code 0, session_id 0, responses: 2 (compact).
        let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        expected.extend_from_slice(&TOPIC_ID);
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0]); // partitions: 1, index 0, error 0
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 10]); // high_watermark 10
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 10]); // last_stable_offset 10
        expected.extend_from_slice(&[0; 8]); // log_start_offset 0
        expected.extend_from_slice(&[
            1, 0xff, 0xff, 0xff, 0xff, // aborted_transactions: empty, preferred replica -1
            6, 1, 2, 3, 4, 5, // records: 5 bytes (compact)
            0,
            0, // partition tags (DivergingEpoch, CurrentLeader, SnapshotId at defaults), topic tags
        ]);
        expected.extend_from_slice(&[0xee; 16]); // topic_id (unknown)
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 100]); // partitions: 1, UNKNOWN_TOPIC_ID
        expected.extend_from_slice(&[0xff; 24]); // high watermark, last stable, log start: -1
        expected.extend_from_slice(&[
            1, 0xff, 0xff, 0xff, 0xff, // aborted_transactions: empty, preferred replica -1
            1,    // records: empty (compact length 0 + 1), not null
            0, 0, 0, // partition, topic and body tags (NodeEndpoints left out)
        ]);
        for version in 16..=18 {
            assert_eq!(response_bytes(&response, version), expected, "v{version}");
        }
    }
}
