//! The integration-test harness: a broker process on an ephemeral loopback port with its own
//! temp dir, and the few helpers every API's tests need (frame a request, read a response
//! frame, write expected bytes as hex). Invariant: nothing here knows any API's body; tests
//! build bodies as bytes and compare responses as bytes.

// Each test crate uses a different subset of the harness.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single socket read may wait, and how long `assert_closed` waits for EOF.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the broker may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The log dir's name inside a broker's temp dir (the name the challenge uses).
pub const LOG_DIR_NAME: &str = "kraft-combined-logs";
/// The client id the challenge's tester sends.
pub const CLIENT_ID: &str = "kafka-tester";

/// The broker binary under test.
pub fn broker_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kafka-broker")
}

/// A unique directory under the system temp dir, removed with its contents on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "kafka-broker-test-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes `dir/name` with `text` and returns its path (a `server.properties`, a log file...).
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Writes `dir/server.properties` listening on an ephemeral loopback port with `log_dir`,
/// followed by `extra` lines (a repeated key overrides: the last one wins).
///
/// `KAFKA_BROKER_SYNC=blocking` in the environment adds `log.flush.io.uring=false`, so the
/// whole suite can run once against the blocking fdatasync fallback.
pub fn write_properties(dir: &Path, log_dir: &Path, extra: &str) -> PathBuf {
    let fallback = match std::env::var("KAFKA_BROKER_SYNC").as_deref() {
        Ok("blocking") => "log.flush.io.uring=false\n",
        _ => "",
    };
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:0\nlog.dirs={}\n{fallback}{extra}\n",
        log_dir.display()
    );
    write_file(dir, "server.properties", &text)
}

/// A running broker process. Killed on drop; if the test is panicking, its log is printed.
pub struct TestBroker {
    /// The address the broker bound.
    pub addr: SocketAddr,
    /// Its `log.dirs`: `<temp dir>/kraft-combined-logs`.
    pub log_dir: PathBuf,
    pub properties: PathBuf,
    pub child: Child,
    extra: String,
    log: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
    dir: Option<TempDir>,
}

impl TestBroker {
    /// A broker with default settings and an empty log dir.
    pub fn start() -> TestBroker {
        TestBroker::start_with("")
    }

    /// A broker whose `server.properties` also holds `extra` (`key=value` lines).
    pub fn start_with(extra: &str) -> TestBroker {
        TestBroker::start_in(TempDir::new("broker"), extra)
    }

    /// A broker whose log dir is `dir/kraft-combined-logs`, so a test can write metadata
    /// and partition logs there before it starts. The broker owns `dir` from now on.
    ///
    /// The broker's stderr is drained into [`TestBroker::log`]; `BROKER_RUST_LOG` (default
    /// `info`) sets its `RUST_LOG`.
    pub fn start_in(dir: TempDir, extra: &str) -> TestBroker {
        let level = std::env::var("BROKER_RUST_LOG").unwrap_or_else(|_| "info".into());
        TestBroker::start_logging(dir, extra, &level)
    }

    /// [`TestBroker::start_in`] with `RUST_LOG` set to `level` (a test that reads a debug
    /// line of the broker's).
    pub fn start_logging(dir: TempDir, extra: &str, level: &str) -> TestBroker {
        let log_dir = dir.path().join(LOG_DIR_NAME);
        std::fs::create_dir_all(&log_dir).expect("create log dir");
        let properties = write_properties(dir.path(), &log_dir, extra);
        let mut child = Command::new(broker_bin())
            .arg(&properties)
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kafka-broker");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let drain = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || drain_stderr(stderr, &log, addr_tx))
        };
        let mut broker = TestBroker {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_dir,
            properties,
            child,
            extra: extra.to_string(),
            log,
            drain: Some(drain),
            dir: Some(dir),
        };
        match addr_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => broker.addr = addr,
            Err(e) => {
                let status = broker.child.try_wait();
                panic!(
                    "broker did not report its address ({e}); exit status {status:?}; log:\n{}",
                    broker.log()
                );
            }
        }
        broker
    }

    /// Everything the broker wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The broker's log once `needle` occurs in it at least `count` times. The log reaches
    /// us through a pipe and a drain thread, so a line the broker wrote before answering
    /// a request may not be here yet when the answer is; this waits up to [`IO_TIMEOUT`]
    /// for it and panics with the log if it never comes.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not {count} times in the broker log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A new connection with [`IO_TIMEOUT`] read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("connect {}: {e}\nlog:\n{}", self.addr, self.log()));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Panics if the broker process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("broker exited with {status}; log:\n{}", self.log());
        }
    }

    /// Kills the broker (SIGKILL: no clean shutdown) and starts a new one on the same
    /// temp dir and properties. The port changes.
    pub fn restart(mut self) -> TestBroker {
        self.stop();
        let dir = self.dir.take().expect("temp dir");
        TestBroker::start_in(dir, &self.extra)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- broker log ---\n{}--- end of broker log ---",
                self.log()
            );
        }
    }
}

/// Copies the broker's stderr into `log` until EOF, sending the address of the first
/// `listening on ADDR` line on `addr_tx`.
fn drain_stderr(stderr: impl Read, log: &Mutex<String>, addr_tx: mpsc::Sender<SocketAddr>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut addr_tx = Some(addr_tx);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(addr) = listening_addr(&text)
            && let Some(tx) = addr_tx.take()
        {
            let _ = tx.send(addr);
        }
        if let Ok(mut log) = log.lock() {
            log.push_str(&text);
        }
    }
}

/// The `ADDR` in `... listening on ADDR ...`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A request frame: size prefix, request header v1 (or v2 when `flexible_header`: a tag
/// byte after the client id) and `body`. `client_id` `None` is sent as null (length -1).
pub fn request_frame(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
    flexible_header: bool,
) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&api_key.to_be_bytes());
    header.extend_from_slice(&api_version.to_be_bytes());
    header.extend_from_slice(&correlation_id.to_be_bytes());
    match client_id {
        Some(id) => {
            let len = i16::try_from(id.len()).expect("client id length");
            header.extend_from_slice(&len.to_be_bytes());
            header.extend_from_slice(id.as_bytes());
        }
        None => header.extend_from_slice(&(-1i16).to_be_bytes()),
    }
    if flexible_header {
        header.push(0);
    }
    let size = i32::try_from(header.len() + body.len()).expect("frame size");
    let mut frame = size.to_be_bytes().to_vec();
    frame.extend_from_slice(&header);
    frame.extend_from_slice(body);
    frame
}

/// Writes one request frame (see [`request_frame`]).
pub fn send_frame(
    stream: &mut TcpStream,
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
    flexible_header: bool,
) {
    let frame = request_frame(
        api_key,
        api_version,
        correlation_id,
        client_id,
        body,
        flexible_header,
    );
    stream.write_all(&frame).expect("write request");
}

/// Reads one response frame and returns its payload (the bytes after the size prefix,
/// starting with the correlation id). Panics after [`IO_TIMEOUT`] or on EOF.
pub fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .unwrap_or_else(|e| panic!("reading a response size: {e}"));
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size).unwrap_or_else(|_| panic!("negative response size {size}"));
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .unwrap_or_else(|e| panic!("reading a {len}-byte response: {e}"));
    payload
}

/// Checks a response payload's header (correlation id, then a tag byte 0 for header v1
/// when `flexible_header`) and returns the body after it.
pub fn response_body(payload: &[u8], correlation_id: i32, flexible_header: bool) -> &[u8] {
    let header_len = if flexible_header { 5 } else { 4 };
    assert!(
        payload.len() >= header_len,
        "response of {} bytes",
        payload.len()
    );
    assert_eq!(
        hex_string(&payload[..4]),
        hex_string(&correlation_id.to_be_bytes()),
        "correlation id"
    );
    if flexible_header {
        assert_eq!(payload[4], 0, "response header v1 tagged fields");
    }
    &payload[header_len..]
}

/// Bytes from hex digits; whitespace between them is ignored (`"00 23 ff"`).
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?} in {text:?}"))
        })
        .collect()
}

/// Bytes as spaced hex, for readable assertion failures.
pub fn hex_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Asserts two byte strings are equal, printing both as hex when they are not.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8]) {
    assert_eq!(
        hex_string(actual),
        hex_string(expected),
        "left: actual, right: expected"
    );
}

/// Asserts the peer closes the connection within [`IO_TIMEOUT`] without sending anything
/// (EOF or a reset both count as closed).
#[track_caller]
pub fn assert_closed(stream: &mut TcpStream) {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "connection still open after {IO_TIMEOUT:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("expected a close, got {n} bytes: {}", hex_string(&buf[..n])),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Asserts nothing more arrives on the connection for `quiet` (the tester reads until the
/// connection is idle for 100 ms, so any extra byte would fail it).
#[track_caller]
pub fn assert_quiet(stream: &mut TcpStream, quiet: Duration) {
    stream.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => panic!("connection closed"),
        Ok(n) => panic!("unexpected {n} bytes: {}", hex_string(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => panic!("read failed: {e}"),
    }
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
}

/// A byte string written field by field, big-endian, with Kafka's varints.
#[derive(Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn new() -> Bytes {
        Bytes::default()
    }

    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn uvarint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }

    /// A zigzag VARINT / VARLONG.
    pub fn varint(&mut self, v: i64) -> &mut Self {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64)
    }

    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// COMPACT_STRING: uvarint length + 1, then the bytes.
    pub fn compact_str(&mut self, s: &str) -> &mut Self {
        self.uvarint(s.len() as u64 + 1).raw(s.as_bytes())
    }

    /// COMPACT_ARRAY / COMPACT_BYTES length prefix: uvarint count + 1.
    pub fn compact_len(&mut self, n: usize) -> &mut Self {
        self.uvarint(n as u64 + 1)
    }

    /// An empty tagged-field section.
    pub fn tags(&mut self) -> &mut Self {
        self.0.push(0);
        self
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// A connection sending typed requests (encoded with the declared codecs) with consecutive
/// correlation ids, as a client does.
pub struct Conn {
    pub stream: TcpStream,
    pub next_correlation_id: i32,
}

impl Conn {
    pub fn open(broker: &TestBroker) -> Conn {
        Conn {
            stream: broker.connect(),
            next_correlation_id: 1,
        }
    }

    /// Sends a declared request at `version` and returns the response body.
    pub fn send<A: kafka_broker::apis::Api>(
        &mut self,
        version: i16,
        request: &A::Request<'_>,
    ) -> Vec<u8> {
        let v = A::SPEC.ver(version);
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        send_frame(
            &mut self.stream,
            A::SPEC.key,
            version,
            correlation_id,
            Some(CLIENT_ID),
            &body_of(request, v),
            v.flexible,
        );
        let payload = read_frame(&mut self.stream);
        let flexible = A::SPEC.response_header_flexible(version);
        response_body(&payload, correlation_id, flexible).to_vec()
    }
}

/// A declared message's body at `v`.
pub fn body_of<'a, T: kafka_broker::protocol::wire::Wire<'a>>(
    message: &T,
    v: kafka_broker::protocol::wire::Ver,
) -> Vec<u8> {
    let mut out = Vec::new();
    kafka_broker::protocol::wire::encode(message, v, &mut out).expect("encodes");
    out
}

/// Decodes a whole response body of `A` at `version`: re-encoded, it gives the same bytes.
pub fn decoded<'a, A: kafka_broker::apis::Api>(body: &'a [u8], version: i16) -> A::Response<'a>
where
    A::Response<'a>: std::fmt::Debug,
{
    let v = A::SPEC.ver(version);
    let response = kafka_broker::protocol::wire::decode(body, v).expect("the response decodes");
    assert_eq!(body_of(&response, v), body, "{response:?} re-encoded");
    response
}

/// CreateTopics v7 of one topic with `partitions` partitions and `configs`: its answer.
pub fn create_topic_answer(
    conn: &mut Conn,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> kafka_broker::apis::create_topics::TopicResult {
    use kafka_broker::apis::create_topics::{self, CreateTopics};
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name,
            num_partitions: partitions,
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
    let mut response = decoded::<CreateTopics>(&body, 7);
    assert_eq!(response.topics.len(), 1, "{response:?}");
    response.topics.remove(0)
}

/// Creates topic `name` (CreateTopics v7), asserting it was made; its topic id.
pub fn create_topic(
    conn: &mut Conn,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> [u8; 16] {
    let answer = create_topic_answer(conn, name, partitions, configs);
    assert_eq!(
        (answer.error_code, &answer.error_message),
        (0, &None),
        "creating {name}: {answer:?}"
    );
    answer.topic_id
}

/// A standalone consumer's OffsetCommit (generation -1, no member) of one partition.
pub fn simple_commit<'a>(
    group: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&'a str>,
) -> kafka_broker::apis::offset_commit::Request<'a> {
    use kafka_broker::apis::offset_commit;
    offset_commit::Request {
        group_id: group,
        generation_id_or_member_epoch: -1,
        member_id: "",
        group_instance_id: None,
        retention_time_ms: -1,
        topics: vec![offset_commit::RequestTopic {
            name: topic,
            topic_id: [0; 16],
            partitions: vec![offset_commit::RequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: leader_epoch,
                committed_metadata: metadata,
            }],
        }],
    }
}

/// A Produce request of one batch to `partition` of `topic`, acks=-1 with a 10 s timeout,
/// as the socket tests send it.
pub fn produce_request<'a>(
    topic: &'a str,
    partition: i32,
    batch: &'a [u8],
) -> kafka_broker::apis::produce::Request<'a> {
    use kafka_broker::apis::produce;
    produce::Request {
        transactional_id: None,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![produce::TopicProduceData {
            name: topic,
            partition_data: vec![produce::PartitionProduceData {
                index: partition,
                records: Some(kafka_broker::protocol::wire::Records::Bytes(batch)),
            }],
        }],
    }
}

/// A batch served: its base offset and its records' values.
pub type Served = (i64, Vec<Vec<u8>>);

/// The whole batches of a fetched partition's records, each checked valid (a partial
/// last batch, as Fetch may end with, is left out).
pub fn served_batches(records: &Option<kafka_broker::protocol::wire::Records>) -> Vec<Served> {
    use kafka_broker::protocol::wire::Records;
    use kafka_broker::storage::batch::{self, BatchHeader};
    let mut batches = Vec::new();
    if let Some(Records::Bytes(bytes)) = records {
        let mut rest: &[u8] = bytes;
        while let Some(header) = BatchHeader::parse(rest) {
            if header.size() > rest.len() {
                break;
            }
            let (one, next) = rest.split_at(header.size());
            batch::validate(one).expect("every served batch is valid");
            let values = batch::records(one).unwrap();
            let values = values.iter().map(|r| r.value.unwrap_or_default().to_vec());
            batches.push((header.base_offset, values.collect()));
            rest = next;
        }
    }
    batches
}

/// A Fetch request (v4 and later) of one partition from `offset`, up to 64 MiB, read
/// uncommitted.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> kafka_broker::apis::fetch::Request<'_> {
    use kafka_broker::apis::fetch;
    fetch::Request {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 64 << 20,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch::FetchTopic {
            topic,
            topic_id: [0; 16],
            partitions: vec![fetch::FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 64 << 20,
                ..fetch::FetchPartition::default()
            }],
        }],
        forgotten_topics_data: vec![],
        rack_id: "",
        ..fetch::Request::default()
    }
}
