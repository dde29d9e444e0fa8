//! Compacted topics over a real socket: Produce refuses keyless records as Kafka does
//! (INVALID_RECORD, `record_errors` with each keyless record's batch index and Kafka's
//! message, `error_message` from v8; the code alone before), for `compact` and
//! `compact,delete`, and appends nothing of a refused batch.

mod common;

use std::net::TcpStream;

use common::{CLIENT_ID, TestBroker, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::produce::{self, BatchIndexAndErrorMessage, Produce};
use kafka_broker::protocol::wire::{Records, Ver, Wire, decode, encode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const INVALID_RECORD: i16 = 87;

struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Conn {
    fn open(broker: &TestBroker) -> Conn {
        Conn {
            stream: broker.connect(),
            next_correlation_id: 1,
        }
    }

    fn send<A: Api>(&mut self, version: i16, request: &A::Request<'_>) -> Vec<u8> {
        let v = A::SPEC.ver(version);
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let body = body_of(request, v);
        send_frame(
            &mut self.stream,
            A::SPEC.key,
            version,
            correlation_id,
            Some(CLIENT_ID),
            &body,
            v.flexible,
        );
        let payload = read_frame(&mut self.stream);
        response_body(&payload, correlation_id, v.flexible).to_vec()
    }
}

fn body_of<'a, T: Wire<'a>>(message: &T, v: Ver) -> Vec<u8> {
    let mut out = Vec::new();
    encode(message, v, &mut out).expect("encodes");
    out
}

fn create_topic(conn: &mut Conn, name: &str, configs: &[(&str, &str)]) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: 1,
            replication_factor: 1,
            assignments: vec![],
            configs: configs
                .iter()
                .map(|&(name, value)| create_topics::Config {
                    name,
                    value: Some(value),
                })
                .collect(),
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = conn.send::<CreateTopics>(7, &request);
    let response: create_topics::Response =
        decode(&body, CreateTopics::SPEC.ver(7)).expect("decodes");
    assert_eq!(response.topics[0].error_code, NONE, "creating {name}");
}

/// Produces one uncompressed batch with these keys (values "v") at `version`; the partition's
/// answer.
fn produce(
    conn: &mut Conn,
    version: i16,
    name: &str,
    keys: &[Option<&[u8]>],
) -> produce::PartitionProduceResponse {
    let records: Vec<batch::KeyValue> = keys
        .iter()
        .map(|k| (k.map(<[u8]>::to_vec), Some(b"v".to_vec())))
        .collect();
    let batch = batch::build_keyed(0, 0, 1_700_000_000_000, &records);
    let request = produce::Request {
        transactional_id: None,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![produce::TopicProduceData {
            name,
            partition_data: vec![produce::PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(&batch)),
            }],
        }],
    };
    let body = conn.send::<Produce>(version, &request);
    let v = Produce::SPEC.ver(version);
    let response: produce::Response = decode(&body, v).expect("decodes");
    assert_eq!(body_of(&response, v), body, "re-encodes to the same bytes");
    response.responses[0].partition_responses[0].clone()
}

fn kafkas_message(topic: &str) -> String {
    format!("Compacted topic cannot accept message without key in topic partition {topic}-0")
}

#[test]
fn keyless_records_to_a_compacted_topic_are_refused_as_kafka_refuses_them() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    for (name, policy) in [("c", "compact"), ("cd", "compact,delete")] {
        create_topic(&mut conn, name, &[("cleanup.policy", policy)]);
        let k: &[u8] = b"k";
        let got = produce(&mut conn, 11, name, &[Some(k), None, Some(k), None]);
        let message = kafkas_message(name);
        let errors: Vec<BatchIndexAndErrorMessage> = [1, 3]
            .into_iter()
            .map(|batch_index| BatchIndexAndErrorMessage {
                batch_index,
                batch_index_error_message: Some(message.clone()),
            })
            .collect();
        let summary = format!(
            "One or more records have been rejected due to 2 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, \
             message='{message}'), RecordError(batchIndex=3, message='{message}')]"
        );
        assert_eq!(
            (
                got.error_code,
                got.base_offset,
                got.log_start_offset,
                got.record_errors,
                got.error_message
            ),
            (INVALID_RECORD, -1, 0, errors, Some(summary)),
            "{policy}"
        );
        // Before v8 the code alone.
        let old = produce(&mut conn, 7, name, &[None]);
        assert_eq!((old.error_code, old.base_offset), (INVALID_RECORD, -1));
        // Nothing of the refused batches was appended.
        let keyed = produce(&mut conn, 11, name, &[Some(k), Some(b"other")]);
        assert_eq!((keyed.error_code, keyed.base_offset), (NONE, 0), "{policy}");
    }
    // Five keyless records: all listed, three shown.
    let got = produce(&mut conn, 9, "c", &[None; 5]);
    let indexes: Vec<i32> = got.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    let summary = got.error_message.unwrap();
    assert!(summary.starts_with("One or more records have been rejected due to 5 record errors"));
    assert_eq!(summary.matches("RecordError(").count(), 3, "{summary}");
    // A delete-policy topic takes keyless records.
    create_topic(&mut conn, "d", &[]);
    assert_eq!(produce(&mut conn, 11, "d", &[None]).error_code, NONE);
}
