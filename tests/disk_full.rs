//! A full disk, on a small tmpfs (the tests run as root in CI; where mounting fails they
//! say so and pass as skipped): Produce answers KAFKA_STORAGE_ERROR (56), reads go on, one
//! WARN marks the start and one the end, writes resume once space frees without a restart,
//! nothing acknowledged is lost, and a broker started on the full disk serves reads.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{CLIENT_ID, TempDir, TestBroker, read_frame, response_body, send_frame};
use kafka_broker::apis::Api;
use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::fetch::{self, Fetch};
use kafka_broker::apis::produce::{self, Produce};
use kafka_broker::protocol::wire::{Records, decode, encode};
use kafka_broker::storage::batch;

const NONE: i16 = 0;
const KAFKA_STORAGE_ERROR: i16 = 56;
const STARTS: &str = "appends failing";
const ENDS: &str = "appends succeed again";

fn send<A: Api>(stream: &mut TcpStream, version: i16, request: &A::Request<'_>) -> Vec<u8> {
    let v = A::SPEC.ver(version);
    let mut body = Vec::new();
    encode(request, v, &mut body).expect("encodes");
    send_frame(
        stream,
        A::SPEC.key,
        version,
        5,
        Some(CLIENT_ID),
        &body,
        v.flexible,
    );
    let payload = read_frame(stream);
    response_body(&payload, 5, v.flexible).to_vec()
}

fn create(stream: &mut TcpStream) {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: "t",
            num_partitions: 1,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = send::<CreateTopics>(stream, 7, &request);
    let response: create_topics::Response = decode(&body, CreateTopics::SPEC.ver(7)).unwrap();
    assert_eq!(response.topics[0].error_code, NONE);
}

/// Produces one record of `value`: the error code and base offset.
fn produce(stream: &mut TcpStream, value: &[u8]) -> (i16, i64) {
    let batch = batch::build(0, 0, 1_700_000_000_000, &[value.to_vec()]);
    let request = common::produce_request("t", 0, &batch);
    let body = send::<Produce>(stream, 11, &request);
    let response: produce::Response = decode(&body, Produce::SPEC.ver(11)).unwrap();
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Fetches from offset 0: the high watermark and the values of the records served.
fn fetch_values(stream: &mut TcpStream) -> (i64, Vec<Vec<u8>>) {
    let request = common::fetch_request("t", 0, 0, 0);
    let body = send::<Fetch>(stream, 4, &request);
    let response: fetch::Response = decode(&body, Fetch::SPEC.ver(4)).unwrap();
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, NONE);
    let mut values = Vec::new();
    if let Some(Records::Bytes(bytes)) = &p.records {
        let mut rest: &[u8] = bytes;
        while let Some(header) = batch::BatchHeader::parse(rest) {
            let (one, next) = rest.split_at(header.size());
            for record in batch::records(one).unwrap() {
                values.push(record.value.unwrap_or_default().to_vec());
            }
            rest = next;
        }
    }
    (p.high_watermark, values)
}

struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &TempDir, options: &str) -> Option<Tmpfs> {
        let path = dir.path().join("kraft-combined-logs");
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "skipped: cannot mount a tmpfs at {} (not root?)",
                path.display()
            );
            return None;
        }
        Some(Tmpfs { path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system holding `dir` to its last byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    while file.write_all(&[0]).is_ok() {}
    path
}

/// A value larger than a page, so its append needs space the full disk lacks.
fn big(tag: u8) -> Vec<u8> {
    vec![tag; 3 * 4096]
}

#[test]
fn a_full_disk_refuses_produce_with_56_serves_reads_and_recovers_without_restart() {
    let dir = TempDir::new("disk-full");
    let Some(tmpfs) = Tmpfs::mount(&dir, "size=4m") else {
        return;
    };
    let broker = TestBroker::start_in(dir, "");
    let mut stream = broker.connect();
    create(&mut stream);
    assert_eq!(produce(&mut stream, &big(b'a')), (NONE, 0));
    let filler = fill(&tmpfs.path);
    for _ in 0..3 {
        assert_eq!(produce(&mut stream, &big(b'x')).0, KAFKA_STORAGE_ERROR);
    }
    assert_eq!(fetch_values(&mut stream), (1, vec![big(b'a')]));
    let log = broker.wait_for_log(STARTS, 1);
    assert_eq!(log.matches(STARTS).count(), 1, "{log}");
    assert_eq!(log.matches(ENDS).count(), 0);
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(produce(&mut stream, &big(b'b')), (NONE, 1));
    let log = broker.wait_for_log(ENDS, 1);
    assert_eq!(log.matches(ENDS).count(), 1, "{log}");
    assert_eq!(fetch_values(&mut stream), (2, vec![big(b'a'), big(b'b')]));
    // Full again, then a kill -9 and a start on the full disk: reads served, writes
    // refused, nothing acknowledged lost.
    let _filler = fill(&tmpfs.path);
    let broker = broker.restart();
    let mut stream = broker.connect();
    assert_eq!(fetch_values(&mut stream), (2, vec![big(b'a'), big(b'b')]));
    assert_eq!(produce(&mut stream, &big(b'y')).0, KAFKA_STORAGE_ERROR);
    assert_eq!(fetch_values(&mut stream).0, 2);
}
