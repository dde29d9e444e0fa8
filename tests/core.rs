//! The broker core over real sockets: the challenge's Base and Concurrent-clients stages,
//! ApiVersions in every version, framing limits, protocol violations, the command line, and
//! fairness towards a client that never reads. Every response is compared byte for byte.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    CLIENT_ID, LOG_DIR_NAME, TempDir, TestBroker, assert_bytes, assert_closed, assert_quiet,
    broker_bin, hex, read_frame, request_frame, send_frame, write_file,
};
use kafka_broker::apis::specs;

const API_VERSIONS: i16 = 18;
/// The challenge's ApiVersions v4 request, correlation id 0x6f7fc661, client `kafka-cli`.
const CHALLENGE_V4: &str =
    "00000023 0012 0004 6f7fc661 0009 6b61666b612d636c69 00 0a 6b61666b612d636c69 04 302e31 00";
/// The same at version 26442 (0x674a), correlation id 0x4f74d28b.
const CHALLENGE_UNSUPPORTED: &str =
    "00000023 0012 674a 4f74d28b 0009 6b61666b612d636c69 00 0a 6b61666b612d636c69 04 302e31 00";
/// The body of an ApiVersions v3+ request: client software `kafka-cli` version `0.1`.
const SOFTWARE_BODY: &str = "0a 6b61666b612d636c69 04 302e31 00";
/// The v0-shaped answer to an unsupported ApiVersions version: UNSUPPORTED_VERSION and one
/// entry {18, 0, 4}, int32 count, no throttle.
const UNSUPPORTED_BODY: &str = "0023 00000001 0012 0000 0004";
/// How long the tester waits for more bytes before it takes a response as complete.
const TESTER_IDLE: Duration = Duration::from_millis(150);

/// A deterministic xorshift64 generator for "random" ids and versions.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn i32(&mut self) -> i32 {
        self.next() as i32
    }
}

fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The ApiVersions response body for a supported `version`, encoded by hand from the table.
fn expected_body(version: i16) -> Vec<u8> {
    let flexible = version >= 3;
    let mut out = vec![0, 0];
    if flexible {
        uvarint(&mut out, specs().len() as u32 + 1);
    } else {
        out.extend_from_slice(&(specs().len() as i32).to_be_bytes());
    }
    for api in specs() {
        out.extend_from_slice(&api.key.to_be_bytes());
        out.extend_from_slice(&api.min.to_be_bytes());
        out.extend_from_slice(&api.max.to_be_bytes());
        if flexible {
            out.push(0);
        }
    }
    if version >= 1 {
        out.extend_from_slice(&0i32.to_be_bytes());
    }
    if flexible {
        feature_tags(&mut out);
    }
    out
}

/// v3+'s tagged feature fields on a fresh log dir: supported metadata.version 7-29,
/// finalized-features epoch 0 (an empty metadata log), finalized metadata.version 29.
fn feature_tags(out: &mut Vec<u8>) {
    let feature = |out: &mut Vec<u8>, tag: u8, low: u8, high: u8| {
        out.extend([tag, 23, 0x02, 17]);
        out.extend(b"metadata.version");
        out.extend([0, low, 0, high, 0x00]);
    };
    out.push(3);
    feature(out, 0, 7, 29);
    out.extend([1, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    feature(out, 2, 29, 29);
}

/// The whole response payload: header v0 (correlation id only) and the body.
fn expected_response(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut out = correlation_id.to_be_bytes().to_vec();
    if (0..=4).contains(&version) {
        out.extend_from_slice(&expected_body(version));
    } else {
        out.extend_from_slice(&hex(UNSUPPORTED_BODY));
    }
    out
}

/// An ApiVersions request as the tester sends it: header v2 and the software body from v3 on.
fn request(version: i16, correlation_id: i32) -> Vec<u8> {
    let flexible = version >= 3;
    let body = if flexible {
        hex(SOFTWARE_BODY)
    } else {
        Vec::new()
    };
    request_frame(
        API_VERSIONS,
        version,
        correlation_id,
        Some(CLIENT_ID),
        &body,
        flexible,
    )
}

/// Sends one ApiVersions request and checks the response byte for byte.
#[track_caller]
fn exchange(stream: &mut TcpStream, version: i16, correlation_id: i32) {
    stream
        .write_all(&request(version, correlation_id))
        .expect("write");
    assert_bytes(
        &read_frame(stream),
        &expected_response(version, correlation_id),
    );
}

#[test]
fn supported_table_lists_api_versions_v0_to_v4() {
    let entry = specs().into_iter().find(|api| api.key == API_VERSIONS);
    let entry = entry.expect("ApiVersions is in the table");
    assert_eq!((entry.min, entry.max), (0, 4));
}

#[test]
fn bind_to_a_port() {
    let broker = TestBroker::start();
    TcpStream::connect(broker.addr).expect("connect");
}

#[test]
fn api_versions_v4_challenge_bytes() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    stream.write_all(&hex(CHALLENGE_V4)).unwrap();
    assert_bytes(&read_frame(&mut stream), &expected_response(4, 0x6f7fc661));
    assert_quiet(&mut stream, TESTER_IDLE);
}

#[test]
fn api_versions_v4_random_correlation_ids() {
    let broker = TestBroker::start();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut ids = vec![0, 1, -1, i32::MIN, i32::MAX];
    ids.extend((0..5).map(|_| rng.i32()));
    for id in ids {
        let mut stream = broker.connect();
        exchange(&mut stream, 4, id);
        assert_quiet(&mut stream, TESTER_IDLE);
    }
}

#[test]
fn api_versions_unsupported_version_challenge_bytes() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    stream.write_all(&hex(CHALLENGE_UNSUPPORTED)).unwrap();
    let payload = read_frame(&mut stream);
    assert_bytes(&payload, &hex("4f74d28b 0023 00000001 0012 0000 0004"));
    assert_quiet(&mut stream, TESTER_IDLE);
}

#[test]
fn api_versions_v1000_to_v1999_unsupported_version() {
    let broker = TestBroker::start();
    let mut rng = XorShift(42);
    let mut versions = vec![1000, 1999];
    versions.extend((0..6).map(|_| 1000 + (rng.next() % 1000) as i16));
    // The connection stays usable after each answer.
    let mut stream = broker.connect();
    for version in versions {
        exchange(&mut stream, version, rng.i32());
    }
    exchange(&mut stream, 4, 7);
}

#[test]
fn api_versions_other_unsupported_versions() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    for (i, version) in [5, -1, i16::MIN, i16::MAX].into_iter().enumerate() {
        exchange(&mut stream, version, i as i32);
    }
}

#[test]
fn api_versions_v0_full_body() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 0, 100);
}

#[test]
fn api_versions_v1_full_body() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 1, 101);
}

#[test]
fn api_versions_v2_full_body() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 2, 102);
}

#[test]
fn api_versions_v3_full_body() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 3, 103);
}

#[test]
fn api_versions_v4_full_body() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 4, 104);
}

#[test]
fn api_versions_null_client_id() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    send_frame(&mut stream, API_VERSIONS, 0, 9, None, &[], false);
    assert_bytes(&read_frame(&mut stream), &expected_response(0, 9));
}

#[test]
fn api_versions_serial_requests_one_connection() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    for id in [11, 12, 13, 14] {
        exchange(&mut stream, 4, id);
    }
    assert_quiet(&mut stream, TESTER_IDLE);
}

#[test]
fn api_versions_concurrent_connections_read_in_reverse() {
    let broker = TestBroker::start();
    let mut streams: Vec<TcpStream> = (0..3).map(|_| broker.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.write_all(&request(4, 1000 + i as i32)).unwrap();
    }
    for (i, stream) in streams.iter_mut().enumerate().rev() {
        assert_bytes(&read_frame(stream), &expected_response(4, 1000 + i as i32));
    }
}

#[test]
fn api_versions_pipelined_in_one_write() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    let sent = [(0, 21), (4, 22), (1500, 23), (3, 24)];
    let bytes: Vec<u8> = sent.iter().flat_map(|&(v, id)| request(v, id)).collect();
    stream.write_all(&bytes).unwrap();
    for (version, id) in sent {
        assert_bytes(&read_frame(&mut stream), &expected_response(version, id));
    }
    assert_quiet(&mut stream, TESTER_IDLE);
}

#[test]
fn api_versions_one_byte_at_a_time() {
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    // Two frames, so the second also starts inside a partially filled buffer.
    let bytes = [request(4, 31), request(0, 32)].concat();
    for byte in bytes {
        stream.write_all(&[byte]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_bytes(&read_frame(&mut stream), &expected_response(4, 31));
    assert_bytes(&read_frame(&mut stream), &expected_response(0, 32));
}

#[test]
fn api_versions_answered_after_client_shuts_down_writes() {
    // `echo ... | nc` sends, then closes its side: the answer must still come.
    let broker = TestBroker::start();
    let mut stream = broker.connect();
    stream.write_all(&request(4, 41)).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_bytes(&read_frame(&mut stream), &expected_response(4, 41));
    assert_closed(&mut stream);
}

#[test]
fn api_versions_200_concurrent_connections() {
    let broker = TestBroker::start();
    let mut streams: Vec<TcpStream> = (0..200).map(|_| broker.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.write_all(&request(4, 5000 + i as i32)).unwrap();
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        assert_bytes(&read_frame(stream), &expected_response(4, 5000 + i as i32));
    }
}

/// Sends `bytes` on a new connection and asserts the broker closes it, then that another
/// connection (opened before) is still served.
#[track_caller]
fn assert_closes_only_that_connection(broker: &mut TestBroker, bytes: &[u8]) {
    let mut other = broker.connect();
    let mut bad = broker.connect();
    // The broker may close before everything is written.
    let _ = bad.write_all(bytes);
    assert_closed(&mut bad);
    exchange(&mut other, 4, 77);
    exchange(&mut broker.connect(), 0, 78);
    broker.assert_running();
}

#[test]
fn frame_size_i32_max_closes_connection() {
    let mut broker = TestBroker::start();
    assert_closes_only_that_connection(&mut broker, &hex("7fffffff"));
    assert_closes_only_that_connection(&mut broker, &hex("7fffffff 0012 0004 00000001"));
}

#[test]
fn frame_size_negative_closes_connection() {
    let mut broker = TestBroker::start();
    assert_closes_only_that_connection(&mut broker, &hex("ffffffff"));
    assert_closes_only_that_connection(&mut broker, &hex("80000000 0012 0004 00000001"));
}

#[test]
fn frame_size_over_socket_request_max_bytes_closes_connection() {
    let mut broker = TestBroker::start_with("socket.request.max.bytes=1000");
    let mut bytes = hex("000007d0 0012 0000 00000001 ffff");
    bytes.resize(4 + 2000, 0);
    assert_closes_only_that_connection(&mut broker, &bytes);
    assert_closes_only_that_connection(&mut broker, &hex("000003e9"));
}

#[test]
fn unknown_api_key_closes_connection() {
    let mut broker = TestBroker::start();
    let frame = request_frame(9999, 0, 1, Some(CLIENT_ID), &[], false);
    assert_closes_only_that_connection(&mut broker, &frame);
    let frame = request_frame(-1, 0, 1, Some(CLIENT_ID), &[], true);
    assert_closes_only_that_connection(&mut broker, &frame);
}

#[test]
fn frame_too_short_for_header_closes_connection() {
    let mut broker = TestBroker::start();
    assert_closes_only_that_connection(&mut broker, &hex("00000002 0012"));
    assert_closes_only_that_connection(&mut broker, &hex("00000000"));
    assert_closes_only_that_connection(&mut broker, &hex("00000007 0012 0004 000000"));
}

#[test]
fn truncated_request_header_closes_connection() {
    let mut broker = TestBroker::start();
    // Client id length 9, no bytes.
    assert_closes_only_that_connection(&mut broker, &hex("0000000a 0012 0004 00000001 0009"));
    // v4 header without its tagged-field section.
    assert_closes_only_that_connection(&mut broker, &hex("0000000a 0012 0004 00000001 ffff"));
}

#[test]
fn config_bad_value_exits_2_naming_file_key_and_value() {
    let dir = TempDir::new("config");
    let path = write_file(dir.path(), "bad.properties", "node.id=abc\n");
    let out = Command::new(broker_bin()).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    for needle in [path.to_str().unwrap(), "node.id", "abc"] {
        assert!(lines[0].contains(needle), "{needle:?} not in {stderr:?}");
    }
}

#[test]
fn config_missing_file_exits_2_naming_it() {
    let dir = TempDir::new("config");
    let path = dir.path().join("missing.properties");
    let out = Command::new(broker_bin()).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
}

#[test]
fn cli_help_exits_0_with_usage() {
    let out = Command::new(broker_bin()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("usage: kafka-broker"), "{stdout}");
}

#[test]
fn cli_version_prints_name_and_version() {
    let out = Command::new(broker_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kafka-broker 0.1.0\n");
}

#[test]
fn cli_two_arguments_exit_2_with_usage() {
    let out = Command::new(broker_bin())
        .args(["a", "b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage: kafka-broker"));
}

/// Times one ApiVersions exchange on a new connection.
fn timed_exchange(broker: &TestBroker, correlation_id: i32) -> Duration {
    let started = Instant::now();
    exchange(&mut broker.connect(), 4, correlation_id);
    started.elapsed()
}

/// Requests the hog offers at most: far more than the broker may buffer for it.
const HOG_BYTES_MAX: usize = 64 << 20;

/// Starts a client that pipelines ApiVersions v0 requests (null client id) and never reads
/// a response, until a write stalls for a second or [`HOG_BYTES_MAX`] is sent. Returns
/// once it has sent 4 MB, with the bytes-sent counter and the thread (which returns the
/// still open stream).
fn start_hog(broker: &TestBroker) -> (Arc<AtomicUsize>, JoinHandle<TcpStream>) {
    let mut hog = broker.connect();
    hog.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let one = request_frame(API_VERSIONS, 0, 1, None, &[], false);
    let chunk = one.repeat(64 * 1024 / one.len());
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let sent = Arc::clone(&sent);
        std::thread::spawn(move || {
            // Frames must stay whole across short writes, so continue where a write stopped.
            let mut offset = 0;
            while sent.load(Ordering::Relaxed) < HOG_BYTES_MAX {
                match hog.write(&chunk[offset..]) {
                    Ok(n) => {
                        offset = (offset + n) % chunk.len();
                        sent.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            hog
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent.load(Ordering::Relaxed) < 4 << 20 && !writer.is_finished() {
        assert!(Instant::now() < deadline, "the hog could not send 4 MB");
        std::thread::sleep(Duration::from_millis(10));
    }
    (sent, writer)
}

#[test]
fn client_that_never_reads_does_not_block_others() {
    let broker = TestBroker::start();
    let (sent, hog) = start_hog(&broker);
    // Answered within the harness's read timeout (5 s), while the hog is still sending.
    let during = timed_exchange(&broker, 1);
    let hog = hog.join().unwrap();
    let total = sent.load(Ordering::Relaxed);
    let after = timed_exchange(&broker, 2);
    eprintln!("hog sent {total} bytes; answered in {during:?} during, {after:?} after");
    assert!(
        total < HOG_BYTES_MAX,
        "the broker read {total} bytes of requests whose responses nobody read"
    );
    assert!(after < Duration::from_secs(1), "answered after {after:?}");
    drop(hog);
    exchange(&mut broker.connect(), 4, 3);
}

/// The parts of the tester's KRaft combined-mode `server.properties` the broker may read,
/// with the listeners moved to ephemeral ports.
const TESTER_PROPERTIES: &str = "\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
";

#[test]
fn starts_without_cluster_metadata_directory() {
    let dir = TempDir::new("no-metadata");
    let log_dir = dir.path().join(LOG_DIR_NAME);
    std::fs::create_dir_all(&log_dir).unwrap();
    write_file(
        &log_dir,
        "meta.properties",
        "cluster.id=Mk3OEYBSD34fcwNTJENDM2Qk\nnode.id=1\nversion=1\n",
    );
    assert!(!log_dir.join("__cluster_metadata-0").exists());
    // The broker may create the directory; it must not need it.
    let mut broker = TestBroker::start_in(dir, TESTER_PROPERTIES);
    exchange(&mut broker.connect(), 4, 1);
    broker.assert_running();
}

#[test]
fn starts_with_an_empty_log_dir() {
    let broker = TestBroker::start();
    exchange(&mut broker.connect(), 4, 1);
}
