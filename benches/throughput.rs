//! Throughput and latency of the broker against a minimal mio baseline server.
//!
//! `cargo bench` starts the release broker as a child process and a baseline server (a
//! plain single-threaded mio loop answering every frame with a canned response of the
//! broker's size) on a thread of this process. One single-threaded mio client drives each
//! target with N connections, each keeping D requests in flight. Both targets' connections
//! stay open while a row runs, and the row alternates between them in rounds, so that
//! background load falls on both alike. Printed per row: requests/s, latency percentiles,
//! and the CPU use of server and client (a client at 100% means the row measures the
//! client); then the broker/baseline ratio, the broker's resident memory and, last, one
//! JSON object with every figure.
//!
//! Workloads: ApiVersions; Produce (acks=1, 1 KiB records in 16 KiB and 1 MiB batches,
//! one partition's batch per request, each connection on its own partition); idempotent
//! and transactional producers (acks=-1, 16 KiB batches with producer ids and sequences;
//! transactions of 100 batches, committed); Fetch
//! (reading back what Produce wrote, from offset 0 to the end and again); Produce of keyed
//! records to a compacted topic while the log cleaner works on it (`*_cleaner`). Produce and
//! Fetch rows also report payload: MB/s (10^6 bytes of whole record batches moved) and
//! records/s. Their baselines move the same bytes through the same client: for Produce the
//! baseline reads each batch and answers with the broker's acknowledgement, for Fetch it
//! replays one real broker fetch response. The broker runs with its durable default (every
//! acknowledged produce is fsynced first); the rows marked "relaxed" run a second broker
//! with `log.flush.interval.messages=1000000`. Also: a synchronous producer (one 100 B
//! record per request, acks=-1, durable and relaxed: its p50/p99 are the round trip), 100
//! connections producing to one partition (against produce_16KiB's 100 partitions), a
//! consumer of 100 B records (fetch_100B, on a topic it fills first), and two rows with no
//! baseline: CRC-32C throughput (`crc32c`) and start-up time to the first ApiVersions
//! answer (`startup`).
//!
//! Before and after the durable synchronous producer's rows, the bench times fdatasync after
//! 100 B appends in the broker's directory (the log's filesystem) and prints the median, and
//! the durable p50 against the relaxed p50 plus that median. Before produce_16KiB_1_partition
//! it measures the disk floor there, without the broker: a 16 KiB append into the page
//! cache, 100 files with a 16 KiB append each made durable by one `syncfs` (the least any
//! sync of produce_16KiB's 100 partitions costs), and one file's `fdatasync` after 100
//! such appends (produce_16KiB_1_partition's 100 requests).
//!
//! Each produce workload writes its own topic (produce_16KiB and produce_1MiB share the one
//! fetch_1MiB reads); the topic is deleted when its last workload ends, and deleted and
//! created again empty when a round would take the log past [`LOG_BUDGET_BYTES`].
//!
//! Without `--bench` (as in `cargo test --all-targets`) it runs a short smoke version.
//! Other arguments (`cargo bench -- produce`) keep only the workloads whose name contains
//! one of them.
//!
//! `BENCH_BROKER_PROPERTIES="key=value;key=value"` adds lines to the benched brokers'
//! `server.properties` (to compare settings, e.g. `log.flush.poll.us=0`).
//!
//! Produce and fetch rows also run against the broker's SSL listener (target `brokerTLS`,
//! TLS 1.3 via rustls on both ends; certificates made with `openssl` at start, the rows
//! left out without it), beside the same rows in plaintext.
//!
//! Adding a workload means implementing [`Workload`] and listing it in [`workloads`]; the
//! client driver, the baseline and the report do not change.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_broker::apis::create_topics::{self, CreateTopics};
use kafka_broker::apis::{Api, fetch, produce};
use kafka_broker::protocol::codec::{self, Reader, Writer};
use kafka_broker::protocol::wire::{Records, Ver, Wire};
use kafka_broker::storage::batch::{self, BatchHeader};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

/// Connections opened before waiting for them all to answer: below the listen backlog (the
/// bench's broker runs with `socket.listen.backlog.size=1024`, Kafka's default being 50; the
/// baseline's is mio's 128), so no SYN or handshake ACK is dropped.
const CONNECT_BATCH: usize = 100;
/// With requests in flight and no response for this long, the target is declared stalled.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Longest single wait for readiness, so phase deadlines and stalls are noticed.
const POLL_TICK: Duration = Duration::from_millis(20);
/// Descriptors a process needs besides its connections (stdio, poll, listener, files).
const FD_SLACK: usize = 64;
const READ_CHUNK: usize = 64 * 1024;
/// Disk a broker's log directory may use. Before each produce round the bench predicts
/// what the round will write (from the fastest round so far, with a margin); if the log
/// would pass this, the workload's topic is deleted and created again empty (and the round
/// skipped only if that is not enough), so the log stays under 2 GB. Each workload's topic
/// is deleted when it ends unless a later workload uses it (fetch_1MiB reads what
/// produce_16KiB and produce_1MiB wrote).
const LOG_BUDGET_BYTES: u64 = 1_800_000_000;

fn main() {
    let started = Instant::now();
    let full = std::env::args().any(|a| a == "--bench");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut report = Report::default();
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if wanted("crc32c") {
        report.crc = crc_throughput(full);
    }
    if wanted("startup") {
        report.startup = startup_times(full);
    }
    let mut durable = match BrokerProcess::start(Durability::Durable) {
        Ok(broker) => Some(broker),
        Err(e) => {
            eprintln!("cannot start the broker: {e}");
            std::process::exit(1);
        }
    };
    report.rss_idle_mib = durable.as_ref().and_then(|b| rss_mib(b.pid()));
    let specs: Vec<Spec> = workloads(full)
        .into_iter()
        .filter(|spec| wanted(spec.workload.name()))
        .collect();
    // The topic of each workload, so that one is kept while a later workload uses it.
    let topics: Vec<Option<&str>> = specs.iter().map(|s| s.workload.topic()).collect();
    for (i, mut spec) in specs.into_iter().enumerate() {
        let name = spec.workload.name();
        // Just before and after the durable synchronous producer, on the broker's
        // filesystem (whose fsync latency drifts with other load on the disk).
        let sync_dir = (name == "produce_sync_100B")
            .then(|| durable.as_ref().map(|b| b.dir.clone()))
            .flatten();
        let fsyncs_before = sync_dir.as_ref().map(|dir| fdatasync_times(dir, full));
        if name == "produce_16KiB_1_partition"
            && let Some(broker) = durable.as_ref()
        {
            report.disk_floor = Some(disk_floor(&broker.dir, full));
        }
        let keep = topics[i].is_some_and(|t| topics[i + 1..].contains(&Some(t)));
        let result = match spec.durability {
            Durability::Durable => match durable.as_mut() {
                Some(broker) => bench_workload(broker, &mut spec, keep, &mut report),
                None => Err("the durable broker is already stopped".into()),
            },
            Durability::Relaxed => {
                // Relaxed rows come last: the durable broker's log goes first, so that
                // the two logs never hold the bench's disk budget twice.
                if let Some(broker) = durable.take() {
                    report.record_log(&broker);
                }
                BrokerProcess::start(Durability::Relaxed).and_then(|mut broker| {
                    let result = bench_workload(&mut broker, &mut spec, keep, &mut report);
                    report.record_log(&broker);
                    result
                })
            }
        };
        if let Err(e) = result {
            report.errors.push(format!("{name}: {e}"));
        }
        if let (Some(dir), Some(before)) = (sync_dir, fsyncs_before) {
            let all = before.and_then(|mut times| {
                times.extend(fdatasync_times(&dir, full)?);
                Ok(times)
            });
            report.fdatasync = Some(all.map(|times| (median(&times), times.len())));
        }
    }
    if let Some(broker) = durable.take() {
        report.record_log(&broker);
    }
    report.runtime = started.elapsed();
    report.print();
}

/// CRC-32C throughput of the broker's function (hardware where the CPU has it) and of its
/// table fallback, over a record batch's typical sizes: (implementation, bytes, GB/s).
fn crc_throughput(full: bool) -> Vec<(&'static str, usize, f64)> {
    use kafka_broker::storage::crc32c;
    let per_size = Duration::from_millis(if full { 200 } else { 10 });
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    type Crc = fn(&[u8]) -> u32;
    let implementations: [(&'static str, Crc); 2] = [
        (crc32c::implementation(), crc32c::crc32c),
        ("table", crc32c::table),
    ];
    let mut out = Vec::new();
    for (name, f) in implementations {
        for size in [1 << 10, 16 << 10, 1 << 20] {
            let buf = &data[..size];
            let (started, mut bytes) = (Instant::now(), 0u64);
            while started.elapsed() < per_size {
                for _ in 0..(1 << 22) / size {
                    std::hint::black_box(f(std::hint::black_box(buf)));
                    bytes += size as u64;
                }
            }
            out.push((
                name,
                size,
                bytes as f64 / started.elapsed().as_secs_f64() / 1e9,
            ));
        }
    }
    out
}

/// Time from spawning the broker to its first ApiVersions answer on a fresh log dir, for
/// the binary itself and for `./your_program.sh` with the binary current (as cargo bench
/// leaves it): ms per start.
fn startup_times(full: bool) -> Vec<(&'static str, Result<Vec<f64>, String>)> {
    let starts = if full { 10 } else { 2 };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("your_program.sh");
    let commands: [(&'static str, PathBuf); 2] = [
        (
            "the binary",
            PathBuf::from(env!("CARGO_BIN_EXE_kafka-broker")),
        ),
        ("./your_program.sh", script),
    ];
    commands
        .into_iter()
        .map(|(name, program)| {
            let times = (0..starts).map(|_| startup_once(&program)).collect();
            (name, times)
        })
        .collect()
}

/// One start: a free port, a fresh log dir, then connect attempts every 100 µs until the
/// broker answers ApiVersions.
fn startup_once(program: &Path) -> Result<f64, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let dir =
        std::env::temp_dir().join(format!("kafka-broker-bench-{}-startup", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let properties = dir.join("server.properties");
    let text = format!(
        "listeners=PLAINTEXT://127.0.0.1:{port}\nlog.dirs={}\n",
        logs.display()
    );
    fs::write(&properties, text).map_err(|e| format!("{}: {e}", properties.display()))?;
    let request = ApiVersions::new().template;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    let mut child = Command::new(program)
        .arg(&properties)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", program.display()))?;
    let answered = loop {
        if started.elapsed() > Duration::from_secs(10) {
            break Err("no ApiVersions answer within 10 s".to_string());
        }
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            thread::sleep(Duration::from_micros(100));
            continue;
        };
        let mut size = [0u8; 4];
        let answer = stream
            .write_all(&request)
            .and_then(|()| stream.read_exact(&mut size))
            .and_then(|()| {
                let mut body = vec![0u8; i32::from_be_bytes(size).clamp(0, 1 << 20) as usize];
                stream.read_exact(&mut body)
            });
        match answer {
            Ok(()) => break Ok(started.elapsed().as_secs_f64() * 1e3),
            Err(e) => break Err(format!("ApiVersions: {e}")),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(&dir);
    answered
}

/// How long each row of a workload runs.
#[derive(Clone, Copy)]
struct Timing {
    /// Rounds per row when two targets alternate; a lone target runs one long round.
    rounds: u32,
    /// Warm-up before each round's measurement.
    warmup: Duration,
    /// Measured time per row and target, split evenly over the rounds.
    measure: Duration,
}

/// The broker's flush policy for a workload's rows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Durability {
    /// The broker's default: every acknowledged produce is fsynced first.
    Durable,
    /// `log.flush.interval.messages=1000000`: no fsync in the time of a row.
    Relaxed,
}

impl Durability {
    fn label(self) -> &'static str {
        match self {
            Durability::Durable => "fsync per produce",
            Durability::Relaxed => "relaxed: log.flush.interval.messages=1000000",
        }
    }
}

/// One workload and the rows it runs: every (connections, depth) pair.
struct Spec {
    workload: Box<dyn Workload>,
    /// Connection counts, each with its rows' timing.
    rows: Vec<(usize, Timing)>,
    depths: Vec<usize>,
    durability: Durability,
}

// ---------------------------------------------------------------------------------------
// Workloads

/// What the client sends and expects. The driver owns sockets, framing, timing and
/// correlation ids; a workload only builds request frames and checks response frames.
///
/// The baseline answers with a replay of the broker's response to one probe request, with
/// the correlation id patched, so `check_response` must accept such a replay.
trait Workload {
    /// Names the workload in the report.
    fn name(&self) -> &'static str;

    /// Prepares the broker (creates topics) before the probe; nothing by default.
    fn setup(&mut self, _broker: SocketAddr) -> Result<(), String> {
        Ok(())
    }

    /// Whether the rows report payload moved (MB/s, records/s).
    fn moves_records(&self) -> bool {
        false
    }

    /// Whether the workload writes to the broker's log (held to [`LOG_BUDGET_BYTES`]).
    fn writes_log(&self) -> bool {
        false
    }

    /// The topic the workload writes or reads, if any. One it writes is made again empty
    /// (deleted, then `setup` again) when a round would take the log over
    /// [`LOG_BUDGET_BYTES`]; any is deleted when the workload ends unless a later one uses
    /// it.
    fn topic(&self) -> Option<&'static str> {
        None
    }

    /// Appends one request frame, size prefix included, for connection `conn`.
    fn encode_request(&mut self, conn: ConnId, correlation_id: i32, out: &mut Vec<u8>);

    /// Checks one response frame for connection `conn`: the bytes after the size prefix,
    /// whose leading correlation id the driver has already matched. Returns the payload
    /// the exchange moved.
    fn check_response(&mut self, conn: ConnId, frame: &[u8]) -> Result<Moved, String>;
}

/// Which server a connection talks to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    /// The broker, for the one probe request whose response the baseline replays.
    Probe,
    Broker,
    /// The baseline: its responses are replays of the probe's.
    Baseline,
}

/// A connection as a workload sees it: the target's side and the connection's index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ConnId {
    side: Side,
    index: usize,
}

/// Payload one request and response moved: whole record batches and their records.
#[derive(Clone, Copy, Default, Debug)]
struct Moved {
    bytes: u64,
    records: u64,
}

/// Partitions of the bench topic: one per connection, up to this many.
const MAX_PARTITIONS: usize = 100;
const TOPIC: &str = "bench";
/// The synchronous producer's topic and the 100 B consumer's.
const SYNC_TOPIC: &str = "bench_sync";
const SMALL_TOPIC: &str = "bench_100B";
/// The topic of the `*_cleaner` rows (cleanup.policy=compact).
const COMPACTED_TOPIC: &str = "bench-compacted";
const RECORD_BYTES: usize = 1024;

/// The workloads benchmarked, in order: the full plan under `cargo bench` (which passes
/// `--bench`), else a smoke test.
fn workloads(full: bool) -> Vec<Spec> {
    let ms = Duration::from_millis;
    let timing = |rounds, warmup, measure| Timing {
        rounds,
        warmup: ms(warmup),
        measure: ms(measure),
    };
    let with = |timing: Timing, connections: &[usize]| -> Vec<(usize, Timing)> {
        connections.iter().map(|&n| (n, timing)).collect()
    };
    let api_rows = if full {
        with(timing(4, 200, 2400), &[1, 100, 1000, 10_000])
    } else {
        with(timing(2, 50, 200), &[1, 100])
    };
    // Produce and fetch: one connection, and many. With many, the broker's turns can take
    // hundreds of milliseconds (an fsync per partition), so those rows measure longer.
    // Produce rows are kept short (1 MiB batches can be written at 600 MB/s) so that the
    // log stays within LOG_BUDGET_BYTES.
    let (one, many, one_short, many_short, many_shorter) = if full {
        (
            (1, timing(2, 100, 800)),
            (100, timing(2, 300, 2400)),
            (1, timing(2, 50, 300)),
            (100, timing(2, 150, 1200)),
            (100, timing(2, 100, 800)),
        )
    } else {
        let quick = timing(2, 20, 100);
        ((1, quick), (4, quick), (1, quick), (4, quick), (4, quick))
    };
    // One partition per connection, up to MAX_PARTITIONS.
    let partitions = many.0.clamp(1, MAX_PARTITIONS);
    let data = |workload: Box<dyn Workload>, rows: Vec<(usize, Timing)>, durability| Spec {
        workload,
        rows,
        // One request in flight per connection: a producer waiting for each
        // acknowledgement, a consumer fetching from where the last fetch ended.
        depths: vec![1],
        durability,
    };
    use Durability::{Durable, Relaxed};
    vec![
        Spec {
            workload: Box::new(ApiVersions::new()),
            rows: api_rows,
            depths: vec![1, 16],
            durability: Durable,
        },
        data(
            Box::new(Produce::new("produce_16KiB", TOPIC, 16 << 10, partitions)),
            vec![one, many_short],
            Durable,
        ),
        // Idempotent and transactional producers (16 KiB batches with a producer id and
        // sequence): the transactional one commits every 100 batches (AddPartitionsToTxn,
        // 100 Produce, EndTxn, each waiting for the last).
        data(
            Box::new(SequencedProduce::new(
                "produce_16KiB_idempotent",
                partitions,
                None,
            )),
            vec![one, many_short],
            Durable,
        ),
        data(
            Box::new(SequencedProduce::new(
                "produce_16KiB_transactional",
                partitions,
                Some(TXN_BATCHES),
            )),
            vec![one, many_short],
            Durable,
        ),
        data(
            Box::new(Produce::new("produce_1MiB", TOPIC, 1 << 20, partitions)),
            vec![one_short, many_shorter],
            Durable,
        ),
        data(
            Box::new(Produce::compacted(
                "produce_16KiB_cleaner",
                16 << 10,
                partitions,
            )),
            vec![one, many_short],
            Durable,
        ),
        data(
            Box::new(Fetch::new("fetch_1MiB", partitions, 1 << 20)),
            vec![one, many],
            Durable,
        ),
        // 100 connections on one partition, against produce_16KiB's 100 partitions.
        data(
            Box::new(Produce::new(
                "produce_16KiB_1_partition",
                "bench_1_partition",
                16 << 10,
                1,
            )),
            vec![many_short],
            Durable,
        ),
        // A synchronous producer: one 100 B record per request, acks=all, one at a time.
        data(
            Box::new(sync_produce("produce_sync_100B")),
            vec![one_short],
            Durable,
        ),
        // 100 B records in 16 KiB batches (as a batching producer sends them), consumed.
        data(
            Box::new(Fetch::of_own(
                "fetch_100B",
                Produce::with("fill", SMALL_TOPIC, 16 << 10, 100, 1, 1, false),
                if full { 2000 } else { 50 },
            )),
            vec![one],
            Durable,
        ),
        data(
            Box::new(Produce::new("produce_16KiB_relaxed", TOPIC, 16 << 10, 1)),
            vec![one_short],
            Relaxed,
        ),
        data(
            Box::new(sync_produce("produce_sync_100B_relaxed")),
            vec![one_short],
            Relaxed,
        ),
    ]
}

/// One 100 B record per request with acks=-1, on its own topic of one partition.
fn sync_produce(name: &'static str) -> Produce {
    Produce::with(name, SYNC_TOPIC, 100, 100, -1, 1, false)
}

/// ApiVersions v4 (request header v2, client id "bench", software "bench" "1.0").
struct ApiVersions {
    template: Vec<u8>,
}

/// Where the correlation id sits in a request frame: after size, api key and version.
const REQUEST_CORRELATION_AT: usize = 8;

impl ApiVersions {
    fn new() -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&18i16.to_be_bytes());
        body.extend_from_slice(&4i16.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&5i16.to_be_bytes());
        body.extend_from_slice(b"bench");
        body.push(0); // header tagged fields
        for s in ["bench", "1.0"] {
            body.push(s.len() as u8 + 1); // compact string length, as a one-byte varint
            body.extend_from_slice(s.as_bytes());
        }
        body.push(0); // body tagged fields
        let mut template = (body.len() as i32).to_be_bytes().to_vec();
        template.extend_from_slice(&body);
        ApiVersions { template }
    }
}

impl Workload for ApiVersions {
    fn name(&self) -> &'static str {
        "api_versions"
    }

    fn encode_request(&mut self, _conn: ConnId, correlation_id: i32, out: &mut Vec<u8>) {
        let at = out.len() + REQUEST_CORRELATION_AT;
        out.extend_from_slice(&self.template);
        out[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
    }

    fn check_response(&mut self, _conn: ConnId, frame: &[u8]) -> Result<Moved, String> {
        // Response header v0 (correlation id only), then error_code and a compact array.
        let (Some(error), Some(&keys)) = (frame.get(4..6), frame.get(6)) else {
            return Err(format!("ApiVersions response of {} bytes", frame.len()));
        };
        let error = i16::from_be_bytes([error[0], error[1]]);
        if error != 0 || keys < 2 {
            return Err(format!("ApiVersions error {error}, {keys} api keys + 1"));
        }
        Ok(Moved::default())
    }
}

/// A request frame with header v2 (client id "bench", no tagged fields) and correlation id
/// 0, its body written by `body`.
fn request_frame(api_key: i16, version: i16, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut frame = Vec::new();
    let mut w = Writer::new(&mut frame);
    w.i32(0).i16(api_key).i16(version).i32(0);
    w.nullable_string(Some("bench"), false).tags(true);
    body(&mut w);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// The body of a response frame with header v1 (flexible): after the correlation id and
/// the header's tagged fields.
fn flexible_body(frame: &[u8]) -> codec::Result<Reader<'_>> {
    let mut r = Reader::new(frame);
    r.i32()?;
    r.skip_tags(true)?;
    Ok(r)
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as i64)
}

/// Produce v11 (flexible), acks=1: one pre-built batch of 1 KiB records per request, to
/// partition `connection % partitions` of the bench topic. The frame is built once; only
/// the correlation id and the partition index change between requests (the broker assigns
/// the base offset, which lies outside the CRC).
struct Produce {
    name: &'static str,
    partitions: usize,
    /// The topic, and whether it is compacted (its records then carry keys, 16 of them
    /// reused by every batch, so each batch makes the last one's records obsolete and the
    /// log cleaner always has work).
    topic: &'static str,
    compacted: bool,
    /// The frame up to the partition index, and after it.
    head: Vec<u8>,
    tail: Vec<u8>,
    /// The batch: its bytes and records.
    batch: Moved,
}

const PRODUCE_VERSION: i16 = 11;
const CREATE_TOPICS_VERSION: i16 = 7;
const DELETE_TOPICS_VERSION: i16 = 6;

impl Produce {
    fn new(
        name: &'static str,
        topic: &'static str,
        batch_bytes: usize,
        partitions: usize,
    ) -> Produce {
        Produce::with(name, topic, batch_bytes, RECORD_BYTES, 1, partitions, false)
    }

    /// To the compacted topic, while the log cleaner works on it.
    fn compacted(name: &'static str, batch_bytes: usize, partitions: usize) -> Produce {
        let topic = COMPACTED_TOPIC;
        Produce::with(name, topic, batch_bytes, RECORD_BYTES, 1, partitions, true)
    }

    /// Batches of `batch_bytes / record_bytes` records (at least one) of `record_bytes`
    /// each, sent with `acks`; keyed when `compacted`.
    fn with(
        name: &'static str,
        topic: &'static str,
        batch_bytes: usize,
        record_bytes: usize,
        acks: i16,
        partitions: usize,
        compacted: bool,
    ) -> Produce {
        let values: Vec<Vec<u8>> = (0..(batch_bytes / record_bytes).max(1))
            .map(|i| {
                let fill = b'a' + (i % 26) as u8;
                let mut value = vec![fill; record_bytes.max(8)];
                value[..8].copy_from_slice(&(i as u64).to_be_bytes());
                value
            })
            .collect();
        let batch = if compacted {
            let records: Vec<batch::KeyValue> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(format!("key-{i}").into_bytes()), Some(v.clone())))
                .collect();
            batch::build_keyed(0, -1, now_ms(), &records)
        } else {
            batch::build(0, -1, now_ms(), &values)
        };
        let frame_for = |index: i32| {
            let request = produce::Request {
                transactional_id: None,
                acks,
                timeout_ms: 30_000,
                topic_data: vec![produce::TopicProduceData {
                    name: topic,
                    partition_data: vec![produce::PartitionProduceData {
                        index,
                        records: Some(Records::Bytes(&batch)),
                    }],
                }],
            };
            let v = Ver {
                version: PRODUCE_VERSION,
                flexible: true,
            };
            request_frame(0, PRODUCE_VERSION, |w| request.write(w, v).unwrap())
        };
        // The two frames differ in exactly the four bytes of the partition index.
        let (zero, minus_one) = (frame_for(0), frame_for(-1));
        let at = zero
            .iter()
            .zip(&minus_one)
            .position(|(a, b)| a != b)
            .expect("the partition index is in the frame");
        Produce {
            name,
            partitions,
            topic,
            compacted,
            head: zero[..at].to_vec(),
            tail: zero[at + 4..].to_vec(),
            batch: Moved {
                bytes: batch.len() as u64,
                records: values.len() as u64,
            },
        }
    }
}

impl Workload for Produce {
    fn name(&self) -> &'static str {
        self.name
    }

    fn moves_records(&self) -> bool {
        true
    }

    fn writes_log(&self) -> bool {
        true
    }

    fn topic(&self) -> Option<&'static str> {
        Some(self.topic)
    }

    /// Creates the topic with one partition per connection (it may exist already).
    fn setup(&mut self, broker: SocketAddr) -> Result<(), String> {
        // The compacted topic: 1 MiB segments (Kafka's least) and any dirt worth a pass.
        let compaction = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1048576"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ];
        let configs = if self.compacted { &compaction[..] } else { &[] };
        create_topic(broker, self.topic, self.partitions, configs)
    }

    fn encode_request(&mut self, conn: ConnId, correlation_id: i32, out: &mut Vec<u8>) {
        let at = out.len() + REQUEST_CORRELATION_AT;
        out.extend_from_slice(&self.head);
        out[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
        let partition = (conn.index % self.partitions) as i32;
        out.extend_from_slice(&partition.to_be_bytes());
        out.extend_from_slice(&self.tail);
    }

    fn check_response(&mut self, _conn: ConnId, frame: &[u8]) -> Result<Moved, String> {
        let (error, base_offset) = produce_outcome(frame)
            .map_err(|e| format!("Produce response of {} bytes: {e:?}", frame.len()))?;
        if error != 0 || base_offset < 0 {
            return Err(format!("Produce error {error}, base offset {base_offset}"));
        }
        Ok(self.batch)
    }
}

impl Produce {
    /// Writes `requests` of this workload's batches to its partition 0, pipelined on one
    /// connection, and checks every acknowledgement.
    fn fill(&mut self, broker: SocketAddr, requests: usize) -> Result<(), String> {
        self.setup(broker)?;
        let fail = |e: io::Error| format!("{broker}: {e}");
        let mut stream = std::net::TcpStream::connect(broker).map_err(fail)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(fail)?;
        let conn = ConnId {
            side: Side::Probe,
            index: 0,
        };
        let mut frames = Vec::new();
        for i in 0..requests {
            self.encode_request(conn, i as i32, &mut frames);
        }
        stream.write_all(&frames).map_err(fail)?;
        for _ in 0..requests {
            let mut response = vec![0; 4];
            stream.read_exact(&mut response).map_err(fail)?;
            let size = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
            response.resize(4 + size.max(0) as usize, 0);
            stream.read_exact(&mut response[4..]).map_err(fail)?;
            self.check_response(conn, &response[4..])?;
        }
        Ok(())
    }
}

/// Creates `topic` with `partitions` partitions (it may exist already).
fn create_topic(
    broker: SocketAddr,
    topic: &str,
    partitions: usize,
    configs: &[(&str, &str)],
) -> Result<(), String> {
    let request = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: topic,
            num_partitions: partitions as i32,
            replication_factor: 1,
            assignments: Vec::new(),
            configs: configs
                .iter()
                .map(|&(name, value)| create_topics::Config {
                    name,
                    value: Some(value),
                })
                .collect(),
        }],
        timeout_ms: 30_000,
        validate_only: false,
    };
    let v = CreateTopics::SPEC.ver(CREATE_TOPICS_VERSION);
    let frame = request_frame(19, v.version, |w| request.write(w, v).expect("encodes"));
    let response = round_trip(broker, &frame, 1)?;
    let decoded = flexible_body(&response[4..])
        .and_then(|mut r| create_topics::Response::read(&mut r, v))
        .map_err(|e| format!("CreateTopics response: {e:?}"))?;
    let codes: Vec<i16> = decoded.topics.iter().map(|t| t.error_code).collect();
    const TOPIC_ALREADY_EXISTS: i16 = 36;
    match codes[..] {
        [0] | [TOPIC_ALREADY_EXISTS] => Ok(()),
        _ => Err(format!("CreateTopics {topic}: error codes {codes:?}")),
    }
}

/// The error code and base offset of a Produce v9+ response to one partition.
fn produce_outcome(frame: &[u8]) -> codec::Result<(i16, i64)> {
    let mut r = flexible_body(frame)?;
    if r.array_len(true, 1)? != 1 {
        return Err(codec::DecodeError::Invalid("topic count"));
    }
    r.string(true)?;
    if r.array_len(true, 1)? != 1 {
        return Err(codec::DecodeError::Invalid("partition count"));
    }
    let _index = r.i32()?;
    let error = r.i16()?;
    let base_offset = r.i64()?;
    Ok((error, base_offset))
}

/// Batches per transaction of the transactional producer row.
const TXN_BATCHES: usize = 100;

/// An idempotent or transactional producer per connection, acks=-1, 16 records of 1 KiB
/// per batch to partition `connection % partitions`: InitProducerId first (with the
/// transactional id `bench-<side>-<connection>` when transactional), then batches with the
/// connection's producer id, epoch and next sequence (the CRC resealed each time). The
/// transactional one wraps every `batches` batches in AddPartitionsToTxn ... EndTxn
/// (commit). One request in flight per connection (each step needs the last one's answer).
/// A connection's producer lives on in a later row's connection of the same index.
struct SequencedProduce {
    name: &'static str,
    /// `bench_idempotent` or `bench_transactional`.
    topic: &'static str,
    partitions: usize,
    /// Batches per transaction; `None`: idempotent.
    batches: Option<usize>,
    /// The batch (producer fields and CRC patched per request) and what it moves.
    batch: Vec<u8>,
    moved: Moved,
    producers: HashMap<ConnId, Producer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Init,
    Add,
    /// Producing the n-th batch of the transaction (of all, when idempotent).
    Produce(usize),
    End,
}

struct Producer {
    producer_id: i64,
    epoch: i16,
    sequence: i32,
    step: Step,
}

impl SequencedProduce {
    fn new(name: &'static str, partitions: usize, batches: Option<usize>) -> SequencedProduce {
        let values: Vec<Vec<u8>> = (0..16u64)
            .map(|i| {
                let mut value = vec![b'a' + i as u8; RECORD_BYTES];
                value[..8].copy_from_slice(&i.to_be_bytes());
                value
            })
            .collect();
        let mut batch = batch::build(0, -1, now_ms(), &values);
        if batches.is_some() {
            batch[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
        }
        SequencedProduce {
            name,
            topic: if batches.is_some() {
                "bench_transactional"
            } else {
                "bench_idempotent"
            },
            partitions,
            batches,
            moved: Moved {
                bytes: batch.len() as u64,
                records: values.len() as u64,
            },
            batch,
            producers: HashMap::new(),
        }
    }

    fn transactional_id(conn: ConnId) -> String {
        format!("bench-{:?}-{}", conn.side, conn.index)
    }

    fn producer(&mut self, conn: ConnId) -> &mut Producer {
        self.producers.entry(conn).or_insert(Producer {
            producer_id: -1,
            epoch: -1,
            sequence: 0,
            step: Step::Init,
        })
    }
}

impl Workload for SequencedProduce {
    fn name(&self) -> &'static str {
        self.name
    }

    fn moves_records(&self) -> bool {
        true
    }

    fn writes_log(&self) -> bool {
        true
    }

    fn topic(&self) -> Option<&'static str> {
        Some(self.topic)
    }

    fn setup(&mut self, broker: SocketAddr) -> Result<(), String> {
        create_topic(broker, self.topic, self.partitions, &[])
    }

    fn encode_request(&mut self, conn: ConnId, correlation_id: i32, out: &mut Vec<u8>) {
        use kafka_broker::apis::{add_partitions_to_txn, end_txn, init_producer_id};
        let transactional = self.batches.is_some();
        let id = Self::transactional_id(conn);
        let partition = (conn.index % self.partitions) as i32;
        let p = self.producer(conn);
        let (pid, epoch, sequence, step) = (p.producer_id, p.epoch, p.sequence, p.step);
        let flexible = |version| Ver {
            version,
            flexible: true,
        };
        let start = out.len();
        let frame = match step {
            Step::Init => {
                let request = init_producer_id::Request {
                    transactional_id: transactional.then_some(id.as_str()),
                    transaction_timeout_ms: 60_000,
                    ..Default::default()
                };
                request_frame(22, 4, |w| request.write(w, flexible(4)).unwrap())
            }
            Step::Add => {
                let request = add_partitions_to_txn::Request {
                    v3_and_below_transactional_id: &id,
                    v3_and_below_producer_id: pid,
                    v3_and_below_producer_epoch: epoch,
                    v3_and_below_topics: vec![add_partitions_to_txn::Topic {
                        name: self.topic,
                        partitions: vec![partition],
                    }],
                    ..Default::default()
                };
                request_frame(24, 3, |w| request.write(w, flexible(3)).unwrap())
            }
            Step::End => {
                let request = end_txn::Request {
                    transactional_id: &id,
                    producer_id: pid,
                    producer_epoch: epoch,
                    committed: true,
                };
                request_frame(26, 3, |w| request.write(w, flexible(3)).unwrap())
            }
            Step::Produce(_) => {
                let batch = &mut self.batch;
                batch[43..51].copy_from_slice(&pid.to_be_bytes());
                batch[51..53].copy_from_slice(&epoch.to_be_bytes());
                batch[53..57].copy_from_slice(&sequence.to_be_bytes());
                let crc = kafka_broker::storage::crc32c::crc32c(&batch[21..]);
                batch[17..21].copy_from_slice(&crc.to_be_bytes());
                let request = produce::Request {
                    transactional_id: transactional.then_some(id.as_str()),
                    acks: -1,
                    timeout_ms: 30_000,
                    topic_data: vec![produce::TopicProduceData {
                        name: self.topic,
                        partition_data: vec![produce::PartitionProduceData {
                            index: partition,
                            records: Some(Records::Bytes(batch)),
                        }],
                    }],
                };
                let v = flexible(PRODUCE_VERSION);
                request_frame(0, PRODUCE_VERSION, |w| request.write(w, v).unwrap())
            }
        };
        out.extend_from_slice(&frame);
        let at = start + REQUEST_CORRELATION_AT;
        out[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
    }

    fn check_response(&mut self, conn: ConnId, frame: &[u8]) -> Result<Moved, String> {
        let batches = self.batches;
        let moved = self.moved;
        let p = self.producer(conn);
        // The baseline replays the probe's answer (an InitProducerId): it is taken as a
        // success of whatever was asked.
        let real = conn.side != Side::Baseline;
        let bad = |what: &str, e: codec::DecodeError| format!("{what} response: {e:?}");
        let next = match p.step {
            Step::Init => {
                if real {
                    let mut r = flexible_body(frame).map_err(|e| bad("InitProducerId", e))?;
                    let parsed =
                        (|| Ok::<_, codec::DecodeError>((r.i32()?, r.i16()?, r.i64()?, r.i16()?)))(
                        );
                    let (_, error, pid, epoch) = parsed.map_err(|e| bad("InitProducerId", e))?;
                    if error != 0 {
                        return Err(format!("InitProducerId error {error}"));
                    }
                    (p.producer_id, p.epoch) = (pid, epoch);
                }
                if batches.is_some() {
                    Step::Add
                } else {
                    Step::Produce(0)
                }
            }
            Step::Add => {
                if real {
                    let mut r = flexible_body(frame).map_err(|e| bad("AddPartitionsToTxn", e))?;
                    let parsed = (|| {
                        r.i32()?;
                        r.array_len(true, 1)?;
                        r.string(true)?;
                        r.array_len(true, 1)?;
                        r.i32()?;
                        r.i16()
                    })();
                    let error = parsed.map_err(|e| bad("AddPartitionsToTxn", e))?;
                    if error != 0 {
                        return Err(format!("AddPartitionsToTxn error {error}"));
                    }
                }
                Step::Produce(0)
            }
            Step::Produce(n) => {
                if real {
                    let (error, base_offset) =
                        produce_outcome(frame).map_err(|e| bad("Produce", e))?;
                    if error != 0 || base_offset < 0 {
                        return Err(format!("Produce error {error}, base offset {base_offset}"));
                    }
                }
                p.sequence = p.sequence.wrapping_add(moved.records as i32) & i32::MAX;
                let step = match batches {
                    Some(count) if n + 1 == count => Step::End,
                    _ => Step::Produce(n + 1),
                };
                p.step = step;
                return Ok(moved);
            }
            Step::End => {
                if real {
                    let mut r = flexible_body(frame).map_err(|e| bad("EndTxn", e))?;
                    let error = (|| {
                        r.i32()?;
                        r.i16()
                    })()
                    .map_err(|e| bad("EndTxn", e))?;
                    if error != 0 {
                        return Err(format!("EndTxn error {error}"));
                    }
                }
                Step::Add
            }
        };
        p.step = next;
        Ok(Moved::default())
    }
}

/// Fetch v12 (flexible, topic by name) of one partition per request, `connection %
/// partitions`, with max_wait_ms 0 (never parked), max_bytes 50 MiB and the given
/// partition_max_bytes. Each connection reads from offset 0 to the high watermark, then
/// starts again at 0. Counted: whole batches (a partial trailing batch is not).
struct Fetch {
    name: &'static str,
    topic: &'static str,
    partitions: usize,
    /// Written to partition 0 before the rows (else the produce rows' data is read).
    fill: Option<(Produce, usize)>,
    partition_max_bytes: i32,
    /// The offset each connection asked for last (one request in flight per connection).
    offsets: HashMap<ConnId, i64>,
    /// Broker responses checked, for sampled CRC checks.
    responses: u64,
}

const FETCH_VERSION: i16 = 12;
/// Every this many broker responses, the first batch's CRC is checked too.
const CRC_SAMPLE: u64 = 64;

impl Fetch {
    fn new(name: &'static str, partitions: usize, partition_max_bytes: i32) -> Fetch {
        Fetch {
            name,
            topic: TOPIC,
            partitions,
            fill: None,
            partition_max_bytes,
            offsets: HashMap::new(),
            responses: 0,
        }
    }
}

/// What a Fetch response holds for its one partition.
struct Fetched<'a> {
    top_error: i16,
    error: i16,
    high_watermark: i64,
    records: &'a [u8],
}

fn fetch_outcome(frame: &[u8]) -> codec::Result<Fetched<'_>> {
    let mut r = flexible_body(frame)?;
    let _throttle = r.i32()?;
    let top_error = r.i16()?;
    let _session = r.i32()?;
    if r.array_len(true, 1)? != 1 {
        return Err(codec::DecodeError::Invalid("topic count"));
    }
    r.string(true)?;
    if r.array_len(true, 1)? != 1 {
        return Err(codec::DecodeError::Invalid("partition count"));
    }
    let _index = r.i32()?;
    let error = r.i16()?;
    let high_watermark = r.i64()?;
    let _last_stable = r.i64()?;
    let _log_start = r.i64()?;
    for _ in 0..r.array_len(true, 16)? {
        r.i64()?;
        r.i64()?;
        r.skip_tags(true)?;
    }
    let _preferred_read_replica = r.i32()?;
    let records = r.nullable_bytes(true)?.unwrap_or(&[]);
    Ok(Fetched {
        top_error,
        error,
        high_watermark,
        records,
    })
}

impl Fetch {
    /// A fetch of its own topic of one partition, filled first with `requests` of
    /// `produce`'s batches.
    fn of_own(name: &'static str, produce: Produce, requests: usize) -> Fetch {
        Fetch {
            topic: produce.topic,
            fill: Some((produce, requests)),
            ..Fetch::new(name, 1, 1 << 20)
        }
    }
}

impl Workload for Fetch {
    fn name(&self) -> &'static str {
        self.name
    }

    fn setup(&mut self, broker: SocketAddr) -> Result<(), String> {
        match self.fill.take() {
            Some((mut produce, requests)) => produce.fill(broker, requests),
            None => Ok(()),
        }
    }

    fn moves_records(&self) -> bool {
        true
    }

    fn topic(&self) -> Option<&'static str> {
        Some(self.topic)
    }

    fn encode_request(&mut self, conn: ConnId, correlation_id: i32, out: &mut Vec<u8>) {
        let offset = *self.offsets.entry(conn).or_insert(0);
        let request = fetch::Request {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 50 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: vec![fetch::FetchTopic {
                topic: self.topic,
                topic_id: [0; 16],
                partitions: vec![fetch::FetchPartition {
                    partition: (conn.index % self.partitions) as i32,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: self.partition_max_bytes,
                    ..fetch::FetchPartition::default()
                }],
            }],
            forgotten_topics_data: Vec::new(),
            rack_id: "",
            ..fetch::Request::default()
        };
        let v = Ver {
            version: FETCH_VERSION,
            flexible: true,
        };
        let start = out.len();
        out.extend_from_slice(&request_frame(1, FETCH_VERSION, |w| {
            request.write(w, v).unwrap()
        }));
        let at = start + REQUEST_CORRELATION_AT;
        out[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
    }

    fn check_response(&mut self, conn: ConnId, frame: &[u8]) -> Result<Moved, String> {
        let fetched = fetch_outcome(frame)
            .map_err(|e| format!("Fetch response of {} bytes: {e:?}", frame.len()))?;
        if fetched.top_error != 0 || fetched.error != 0 {
            let (top, error) = (fetched.top_error, fetched.error);
            return Err(format!("Fetch error {top}, partition error {error}"));
        }
        let requested = self.offsets.get(&conn).copied().unwrap_or(0);
        // Replays start where the probe did, not where this connection asked.
        let mut expected = (conn.side != Side::Baseline).then_some(requested);
        let crc_all = conn.side == Side::Probe;
        let mut crc_first = false;
        if conn.side == Side::Broker {
            self.responses += 1;
            crc_first = self.responses.is_multiple_of(CRC_SAMPLE);
        }
        let records = fetched.records;
        let mut moved = Moved::default();
        let mut at = 0;
        let mut next = None;
        while let Some(header) = records.get(at..).and_then(BatchHeader::parse) {
            let size = header.size();
            let Some(bytes) = records.get(at..at + size) else {
                break; // a partial trailing batch
            };
            let counts_agree = i64::from(header.last_offset_delta) + 1
                == i64::from(header.records_count)
                && header.records_count > 0;
            if header.magic != 2 || !counts_agree {
                return Err(format!(
                    "batch at offset {}: bad header",
                    header.base_offset
                ));
            }
            if let Some(expected) = expected
                && header.base_offset != expected
            {
                return Err(format!(
                    "fetch from {requested}: batch at offset {}, expected {expected}",
                    header.base_offset
                ));
            }
            if (crc_all || (crc_first && at == 0)) && batch::validate(bytes).is_err() {
                let offset = header.base_offset;
                return Err(format!(
                    "fetch from {requested}: batch at {offset} fails CRC"
                ));
            }
            moved.bytes += size as u64;
            moved.records += header.records_count as u64;
            expected = Some(header.last_offset() + 1);
            next = Some(header.last_offset() + 1);
            at += size;
        }
        let next = match next {
            Some(next) if next < fetched.high_watermark => next,
            Some(_) => 0,
            None if !records.is_empty() => {
                let len = records.len();
                return Err(format!(
                    "fetch from {requested}: {len} bytes, no whole batch"
                ));
            }
            // Nothing (more) to read: start again.
            None => 0,
        };
        self.offsets.insert(conn, next);
        Ok(moved)
    }
}

// ---------------------------------------------------------------------------------------
// Running the rows

/// A server the client drives.
struct Target {
    name: &'static str,
    side: Side,
    addr: SocketAddr,
    /// The server process, when it is not this one (whose fd limit must then also fit).
    pid: Option<u32>,
    /// The /proc stat file of the server's process or thread, for its CPU time.
    stat: String,
    /// The server's log directory, held to [`LOG_BUDGET_BYTES`].
    log_dir: Option<PathBuf>,
    /// TLS to the target (the broker's SSL listener), or plain TCP.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Connections open to one target.
struct Session<'a> {
    target: &'a Target,
    client: Client,
    /// A round failed (reported); the session is not measured again.
    failed: bool,
    /// The log budget was reached (reported): no more rounds, but those run count.
    capped: bool,
}

/// Prepares the broker, probes it, starts a baseline replaying its response, and runs
/// every (N, D) row against both; then deletes the workload's topic unless `keep`.
fn bench_workload(
    broker: &mut BrokerProcess,
    spec: &mut Spec,
    keep: bool,
    report: &mut Report,
) -> Result<(), String> {
    let workload = spec.workload.as_mut();
    workload.setup(broker.addr)?;
    let response = probe(broker.addr, workload)?;
    report
        .response_bytes
        .push((workload.name(), response.len()));
    let baseline = Baseline::spawn(response).map_err(|e| format!("baseline: {e}"))?;
    let mut targets = vec![broker.target(), baseline.target()];
    if workload.moves_records()
        && let Some(tls) = broker.tls_target()
    {
        targets.push(tls);
    }
    let mut write_rate = 0.0;
    for &(n, timing) in &spec.rows {
        let mut sessions = open_sessions(&targets, n, workload, report);
        for &depth in &spec.depths {
            let row = RowSpec {
                timing,
                durability: spec.durability,
                depth,
                broker: broker.addr,
            };
            measure_depth(&row, &mut sessions, workload, &mut write_rate, report);
        }
        drop(sessions);
        if let Some(status) = broker.exit_status() {
            return Err(format!("the broker exited ({status})"));
        }
    }
    match workload.topic() {
        Some(topic) if !keep => delete_topic(broker.addr, topic, &broker.dir),
        _ => Ok(()),
    }
}

/// Deletes `topic` (DeleteTopics) and waits until the broker has removed its partition
/// directories under `dir` (it does so a bounded step per timer turn).
fn delete_topic(broker: SocketAddr, topic: &str, dir: &Path) -> Result<(), String> {
    use kafka_broker::apis::delete_topics::{self, DeleteTopics};
    let request = delete_topics::Request {
        topics: vec![delete_topics::TopicState {
            name: Some(topic),
            topic_id: [0; 16],
        }],
        topic_names: vec![topic],
        timeout_ms: 30_000,
    };
    let v = DeleteTopics::SPEC.ver(DELETE_TOPICS_VERSION);
    let frame = request_frame(20, v.version, |w| request.write(w, v).expect("encodes"));
    let response = round_trip(broker, &frame, 1)?;
    let decoded = flexible_body(&response[4..])
        .and_then(|mut r| delete_topics::Response::read(&mut r, v))
        .map_err(|e| format!("DeleteTopics response: {e:?}"))?;
    let codes: Vec<i16> = decoded.responses.iter().map(|t| t.error_code).collect();
    if codes != [0] {
        return Err(format!("DeleteTopics {topic}: error codes {codes:?}"));
    }
    let logs = dir.join("logs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while holds_topic(&logs, topic) {
        if Instant::now() > deadline {
            return Err(format!(
                "{topic}: partition directories still there after 30 s"
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Whether `logs` holds a partition directory of `topic`, live (`<topic>-<n>`) or
/// deleted and not yet removed (`<topic>-<n>.<uuid>-delete`).
fn holds_topic(logs: &Path, topic: &str) -> bool {
    let Ok(entries) = fs::read_dir(logs) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let rest = name
            .to_str()
            .and_then(|n| n.strip_prefix(topic)?.strip_prefix('-'));
        let partition = rest.map(|r| r.split('.').next().unwrap_or(r));
        partition.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Empties the workload's topic: deletes it and creates it again.
fn recreate_topic(
    broker: SocketAddr,
    dir: &Path,
    workload: &mut dyn Workload,
) -> Result<(), String> {
    let topic = workload.topic().ok_or("the workload has no topic")?;
    delete_topic(broker, topic, dir)?;
    workload.setup(broker)
}

/// Opens `n` connections to every target whose descriptor limits allow it, reporting the
/// others, and records the broker's resident memory with its connections idle.
fn open_sessions<'a>(
    targets: &'a [Target],
    n: usize,
    workload: &mut dyn Workload,
    report: &mut Report,
) -> Vec<Session<'a>> {
    let mut sessions = Vec::new();
    for target in targets {
        if let Err(reason) = fd_check(target, n) {
            report.skipped.push((target.name, n, reason));
            continue;
        }
        eprintln!("{}: opening {n} connections", target.name);
        match Client::connect(target, n, workload) {
            Ok(client) => {
                if let Some(pid) = target.pid {
                    report.record_rss(n, rss_mib(pid));
                }
                sessions.push(Session {
                    target,
                    client,
                    failed: false,
                    capped: false,
                });
            }
            Err(e) => report
                .errors
                .push(format!("{} N={n}: connecting: {e}", target.name)),
        }
    }
    sessions
}

/// One row's settings besides the connections.
struct RowSpec {
    timing: Timing,
    durability: Durability,
    depth: usize,
    /// The broker's plaintext address, for deleting and creating topics.
    broker: SocketAddr,
}

/// Measures one depth on every session, alternating between them round by round, and adds
/// a row per session. `write_rate` is the fastest the broker's log grew in a round of this
/// workload so far, in bytes per second.
fn measure_depth(
    row: &RowSpec,
    sessions: &mut [Session],
    workload: &mut dyn Workload,
    write_rate: &mut f64,
    report: &mut Report,
) {
    let timing = &row.timing;
    let depth = row.depth;
    let rounds = if sessions.len() > 1 { timing.rounds } else { 1 };
    let warmup = timing.warmup * timing.rounds / rounds;
    let measure = timing.measure / rounds;
    let mut tallies: Vec<Tally> = sessions.iter().map(|_| Tally::new()).collect();
    for _ in 0..rounds {
        for (session, tally) in sessions.iter_mut().zip(&mut tallies) {
            if session.failed || session.capped {
                continue;
            }
            let n = session.client.conns.len();
            let name = session.target.name;
            let log_dir = session.target.log_dir.as_ref();
            let log_dir = log_dir.filter(|_| workload.writes_log());
            let mut used = log_dir.map(|dir| disk_usage(dir));
            if let (Some(dir), Some(before)) = (log_dir, used) {
                // The round's time plus its drain, at the fastest rate seen, with a margin.
                let seconds = (warmup + measure).as_secs_f64() * 1.2 + 0.1;
                let expected = (*write_rate * seconds) as u64;
                if before + expected > LOG_BUDGET_BYTES {
                    // Start the topic again empty (no request is in flight between rounds).
                    if let Err(e) = recreate_topic(row.broker, dir, workload) {
                        report
                            .errors
                            .push(format!("{name} {}: {e}", workload.name()));
                    }
                    used = Some(disk_usage(dir));
                }
                let used = used.unwrap_or(before);
                if used + expected > LOG_BUDGET_BYTES {
                    report.errors.push(format!(
                        "{name} {} N={n} D={depth}: the log holds {} MB and a round may add \
                         {} MB, over the bench's {} MB budget: remaining rounds skipped",
                        workload.name(),
                        used / 1_000_000,
                        expected / 1_000_000,
                        LOG_BUDGET_BYTES / 1_000_000
                    ));
                    session.capped = true;
                    continue;
                }
            }
            eprintln!("{name} {} N={n} D={depth}", workload.name());
            let start = Instant::now();
            if let Err(e) = session.round(workload, depth, warmup, measure, tally) {
                report.errors.push(format!("{name} N={n} D={depth}: {e}"));
                session.failed = true;
            }
            if let (Some(dir), Some(before)) = (log_dir, used) {
                let grew = disk_usage(dir).saturating_sub(before) as f64;
                *write_rate = write_rate.max(grew / start.elapsed().as_secs_f64());
            }
        }
    }
    for (session, tally) in sessions.iter().zip(tallies) {
        if !session.failed && tally.measured > Duration::ZERO {
            report.rows.push(Row {
                target: session.target.name,
                workload: workload.name(),
                connections: session.client.conns.len(),
                depth,
                durability: row.durability,
                sample: tally.sample(workload.moves_records()),
            });
        }
    }
}

impl Session<'_> {
    /// One warm-up and measurement, with the CPU time both ends spent on it.
    fn round(
        &mut self,
        wl: &mut dyn Workload,
        depth: usize,
        warmup: Duration,
        measure: Duration,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let server = cpu_ticks(&self.target.stat);
        let client = cpu_ticks(CLIENT_STAT);
        let start = Instant::now();
        self.client.run(wl, depth, warmup, measure, tally)?;
        tally.wall += start.elapsed();
        tally.server_ticks = add_ticks(tally.server_ticks, server, cpu_ticks(&self.target.stat));
        tally.client_ticks = add_ticks(tally.client_ticks, client, cpu_ticks(CLIENT_STAT));
        Ok(())
    }
}

/// Sends one request frame over a blocking socket and returns the whole response frame,
/// size prefix included, after checking its correlation id.
fn round_trip(addr: SocketAddr, request: &[u8], correlation_id: i32) -> Result<Vec<u8>, String> {
    let fail = |e: io::Error| format!("{addr}: {e}");
    let mut stream = std::net::TcpStream::connect(addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    let mut request = request.to_vec();
    let at = REQUEST_CORRELATION_AT;
    request[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
    stream.write_all(&request).map_err(fail)?;
    let mut response = vec![0; 4];
    stream.read_exact(&mut response).map_err(fail)?;
    let size = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
    response.resize(4 + size.max(0) as usize, 0);
    stream.read_exact(&mut response[4..]).map_err(fail)?;
    if response.get(4..8) != Some(&correlation_id.to_be_bytes()[..]) {
        return Err("wrong correlation id".into());
    }
    Ok(response)
}

/// Sends the workload's first request to the broker and returns its whole response frame,
/// size prefix included: what the baseline replays.
fn probe(addr: SocketAddr, workload: &mut dyn Workload) -> Result<Vec<u8>, String> {
    let conn = ConnId {
        side: Side::Probe,
        index: 0,
    };
    let mut request = Vec::new();
    workload.encode_request(conn, 1, &mut request);
    let response = round_trip(addr, &request, 1).map_err(|e| format!("probe: {e}"))?;
    workload.check_response(conn, &response[4..])?;
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// The client driver

/// One client connection: unsent output, unparsed input, and the correlation ids and send
/// times of the requests in flight, oldest first (responses come back in request order).
struct Conn {
    stream: TcpStream,
    /// The TLS session of a connection to the SSL listener.
    tls: Option<Box<rustls::ClientConnection>>,
    output: Vec<u8>,
    output_start: usize,
    input: Input,
    in_flight: VecDeque<(i32, Instant)>,
}

/// A connection's bytes read and not yet consumed. Reads go straight into the free space
/// at its end: the client copies each byte once (the kernel's copy), not once more through
/// a scratch buffer, so that at 1 MiB responses it measures its targets rather than
/// itself.
#[derive(Default)]
struct Input {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// At least `min` free bytes at the end (moving what is unread to the front, or
    /// growing, when there are fewer).
    fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.bytes.len() - self.end < min && self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.bytes.len() - self.end < min {
            self.bytes.resize(self.end + min, 0);
        }
        &mut self.bytes[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }
}

/// The single-threaded client: one `Poll` over every connection to one target. It knows
/// nothing of Kafka beyond size-prefixed frames that start with a correlation id.
struct Client {
    side: Side,
    tls: Option<Arc<rustls::ClientConfig>>,
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    driver: Driver,
}

/// The client's state shared by all connections.
struct Driver {
    next_correlation: i32,
    /// Requests in flight over all connections.
    in_flight: usize,
    last_progress: Instant,
}

/// One run: how deep to keep each connection, when to stop sending, and the latencies of
/// the responses completed inside the measured window.
struct Phase {
    depth: usize,
    record_from: Instant,
    until: Instant,
    latencies_ns: Vec<u64>,
    /// Payload of the responses completed inside the measured window.
    moved: Moved,
    /// Every response, warm-up and drain included.
    answered: u64,
}

impl Phase {
    fn new(depth: usize, record_from: Instant, until: Instant) -> Phase {
        Phase {
            depth,
            record_from,
            until,
            latencies_ns: Vec::new(),
            moved: Moved::default(),
            answered: 0,
        }
    }

    fn record(&mut self, sent: Instant, done: Instant, moved: Moved) {
        self.answered += 1;
        if done >= self.record_from && done < self.until {
            let ns = done.duration_since(sent).as_nanos();
            self.latencies_ns.push(ns.min(u64::MAX as u128) as u64);
            self.moved.bytes += moved.bytes;
            self.moved.records += moved.records;
        }
    }
}

impl Client {
    /// Opens `n` connections in batches below the listen backlog, each answering one
    /// request before the next batch starts, so all are accepted when this returns.
    fn connect(target: &Target, n: usize, wl: &mut dyn Workload) -> Result<Client, String> {
        let addr = target.addr;
        let mut client = Client {
            side: target.side,
            tls: target.tls.clone(),
            poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
            events: Events::with_capacity(1024),
            conns: Vec::with_capacity(n),
            driver: Driver {
                next_correlation: 0,
                in_flight: 0,
                last_progress: Instant::now(),
            },
        };
        let mut phase = Phase::new(0, Instant::now(), Instant::now());
        while client.conns.len() < n {
            for _ in 0..CONNECT_BATCH.min(n - client.conns.len()) {
                client.open(addr, wl)?;
            }
            client.drain(wl, &mut phase)?;
        }
        Ok(client)
    }

    /// Starts one connection with one request queued.
    fn open(&mut self, addr: SocketAddr, wl: &mut dyn Workload) -> Result<(), String> {
        let id = self.conns.len();
        let fail = |e: io::Error| format!("connection {id}: {e}");
        let mut stream = TcpStream::connect(addr).map_err(fail)?;
        stream.set_nodelay(true).map_err(fail)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut stream, Token(id), interest)
            .map_err(fail)?;
        let tls = match &self.tls {
            None => None,
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| e.to_string())?;
                let mut tls = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| format!("connection {id}: {e}"))?;
                tls.set_buffer_limit(None);
                Some(Box::new(tls))
            }
        };
        let mut conn = Conn {
            stream,
            tls,
            output: Vec::new(),
            output_start: 0,
            input: Input::default(),
            in_flight: VecDeque::new(),
        };
        let now = Instant::now();
        let conn_id = ConnId {
            side: self.side,
            index: id,
        };
        self.driver.top_up(&mut conn, conn_id, 1, now, wl);
        self.driver.last_progress = now;
        self.conns.push(conn);
        Ok(())
    }

    /// Runs one round: every connection keeps `depth` requests in flight for `warmup` and
    /// then `measure`; latencies count for responses completed during `measure`. Returns
    /// once every outstanding response has arrived.
    fn run(
        &mut self,
        wl: &mut dyn Workload,
        depth: usize,
        warmup: Duration,
        measure: Duration,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let start = Instant::now();
        let mut phase = Phase::new(depth, start + warmup, start + warmup + measure);
        self.driver.last_progress = start;
        for (id, conn) in self.conns.iter_mut().enumerate() {
            let conn_id = ConnId {
                side: self.side,
                index: id,
            };
            self.driver.top_up(conn, conn_id, depth, start, wl);
            flush(conn).map_err(|e| format!("connection {id}: {e}"))?;
        }
        while Instant::now() < phase.until {
            self.pump(wl, &mut phase)?;
        }
        self.drain(wl, &mut phase)?;
        tally.latencies_ns.append(&mut phase.latencies_ns);
        tally.bytes += phase.moved.bytes;
        tally.records += phase.moved.records;
        tally.measured += measure;
        tally.answered += phase.answered;
        Ok(())
    }

    /// Waits for every request in flight to be answered, without sending more.
    fn drain(&mut self, wl: &mut dyn Workload, phase: &mut Phase) -> Result<(), String> {
        while self.driver.in_flight > 0 {
            self.pump(wl, phase)?;
        }
        Ok(())
    }

    /// Waits for readiness once and serves every ready connection.
    fn pump(&mut self, wl: &mut dyn Workload, phase: &mut Phase) -> Result<(), String> {
        match self.poll.poll(&mut self.events, Some(POLL_TICK)) {
            Err(e) if e.kind() != ErrorKind::Interrupted => return Err(format!("poll: {e}")),
            _ => {}
        }
        for event in self.events.iter() {
            let id = event.token().0;
            let conn = &mut self.conns[id];
            let now = Instant::now();
            let conn_id = ConnId {
                side: self.side,
                index: id,
            };
            self.driver
                .serve(conn, conn_id, now, wl, phase)
                .map_err(|e| format!("connection {id}: {e}"))?;
        }
        self.check_stall()
    }

    /// Fails if requests are in flight but nothing was answered for [`STALL_LIMIT`].
    fn check_stall(&self) -> Result<(), String> {
        let quiet = self.driver.last_progress.elapsed();
        if self.driver.in_flight == 0 || quiet < STALL_LIMIT {
            return Ok(());
        }
        let waiting = self.conns.iter().filter(|c| !c.in_flight.is_empty());
        let unsent: usize = self
            .conns
            .iter()
            .map(|c| c.output.len() - c.output_start)
            .sum();
        Err(format!(
            "stalled: no response for {:.1} s with {} requests in flight on {} connections \
             ({unsent} request bytes not yet accepted by the socket)",
            quiet.as_secs_f64(),
            self.driver.in_flight,
            waiting.count(),
        ))
    }
}

impl Driver {
    /// Serves one ready connection: reads, takes complete responses, tops it up to the
    /// phase's depth while the phase lasts, and writes.
    fn serve(
        &mut self,
        conn: &mut Conn,
        id: ConnId,
        now: Instant,
        wl: &mut dyn Workload,
        phase: &mut Phase,
    ) -> Result<(), String> {
        let closed = read_available(conn)?;
        let answered = take_responses(conn, id, now, wl, phase)?;
        if answered > 0 {
            self.in_flight -= answered;
            self.last_progress = now;
        }
        if closed {
            let n = conn.in_flight.len();
            return Err(format!("closed by the target with {n} requests in flight"));
        }
        if now < phase.until {
            self.top_up(conn, id, phase.depth, now, wl);
        }
        flush(conn)
    }

    /// Queues requests until `depth` are in flight on the connection.
    fn top_up(
        &mut self,
        conn: &mut Conn,
        id: ConnId,
        depth: usize,
        now: Instant,
        wl: &mut dyn Workload,
    ) {
        while conn.in_flight.len() < depth {
            let correlation_id = self.next_correlation;
            self.next_correlation = self.next_correlation.wrapping_add(1);
            wl.encode_request(id, correlation_id, &mut conn.output);
            conn.in_flight.push_back((correlation_id, now));
            self.in_flight += 1;
        }
    }
}

/// Reads everything the socket holds into `conn.input`. Returns true if the peer closed.
fn read_available(conn: &mut Conn) -> Result<bool, String> {
    if let Some(tls) = conn.tls.as_mut() {
        return read_tls(tls, &mut conn.stream, &mut conn.input);
    }
    loop {
        match conn.stream.read(conn.input.spare(READ_CHUNK)) {
            Ok(0) => return Ok(true),
            Ok(n) => conn.input.filled(n),
            Err(e) if is_not_ready(&e) => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// TLS: reads records until the socket is empty, decrypting them into `input`.
fn read_tls(
    tls: &mut rustls::ClientConnection,
    stream: &mut TcpStream,
    input: &mut Input,
) -> Result<bool, String> {
    loop {
        let closed = match tls.read_tls(stream) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if is_not_ready(&e) => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        };
        tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
        loop {
            match tls.reader().read(input.spare(READ_CHUNK)) {
                Ok(0) => return Ok(true),
                Ok(n) => input.filled(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("TLS read: {e}")),
            }
        }
        if closed {
            return Ok(true);
        }
    }
}

/// Consumes the complete response frames in `conn.input`, matching each to the oldest
/// request in flight. Returns how many were answered.
fn take_responses(
    conn: &mut Conn,
    id: ConnId,
    now: Instant,
    wl: &mut dyn Workload,
    phase: &mut Phase,
) -> Result<usize, String> {
    let mut used = 0;
    let mut answered = 0;
    while let Some(frame) = next_frame(&conn.input.unread()[used..]) {
        used += 4 + frame.len();
        let Some((expected, sent)) = conn.in_flight.pop_front() else {
            return Err("a response with no request in flight".into());
        };
        let Some(&[a, b, c, d]) = frame.get(..4) else {
            return Err(format!("a response frame of {} bytes", frame.len()));
        };
        let got = i32::from_be_bytes([a, b, c, d]);
        if got != expected {
            return Err(format!("correlation id {got}, expected {expected}"));
        }
        let moved = wl.check_response(id, frame)?;
        phase.record(sent, now, moved);
        answered += 1;
    }
    conn.input.consume(used);
    Ok(answered)
}

/// The first complete size-prefixed frame in `bytes`, without its prefix.
fn next_frame(bytes: &[u8]) -> Option<&[u8]> {
    let size = i32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    bytes.get(4..4 + size.max(0) as usize)
}

/// Writes queued output until the socket is full.
fn flush(conn: &mut Conn) -> Result<(), String> {
    if let Some(tls) = conn.tls.as_mut() {
        // Plaintext into rustls (unbounded here), its records out until the socket is full.
        if conn.output_start < conn.output.len() {
            let n = tls
                .writer()
                .write(&conn.output[conn.output_start..])
                .map_err(|e| format!("TLS write: {e}"))?;
            conn.output_start += n;
        }
        while tls.wants_write() {
            match tls.write_tls(&mut conn.stream) {
                Ok(_) => {}
                Err(e) if is_not_ready(&e) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
    }
    while conn.output_start < conn.output.len() {
        match conn.stream.write(&conn.output[conn.output_start..]) {
            Ok(0) => return Err("write returned zero".into()),
            Ok(n) => conn.output_start += n,
            Err(e) if is_not_ready(&e) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    if conn.output_start == conn.output.len() {
        conn.output.clear();
        conn.output_start = 0;
    }
    Ok(())
}

/// The socket cannot move bytes yet (full, empty, or still connecting).
fn is_not_ready(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected)
}

// ---------------------------------------------------------------------------------------
// The baseline server

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);

/// The reference point: about the least a single-threaded mio server must do for the same
/// traffic. It answers every size-prefixed frame with `canned` (the broker's own response
/// to the probe) with the request's correlation id patched in.
struct Baseline {
    addr: SocketAddr,
    /// The /proc stat file of the server thread.
    stat: String,
    stop: std::sync::Arc<AtomicBool>,
    waker: Waker,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// One baseline connection.
struct Peer {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    output_start: usize,
}

impl Baseline {
    fn spawn(canned: Vec<u8>) -> io::Result<Baseline> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(([127, 0, 0, 1], 0).into())?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let addr = listener.local_addr()?;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let _ = tx.send(thread_stat());
            serve_baseline(poll, listener, &canned, &flag)
        });
        Ok(Baseline {
            addr,
            stat: rx.recv().unwrap_or_default(),
            stop,
            waker,
            thread: Some(thread),
        })
    }

    fn target(&self) -> Target {
        Target {
            name: "baseline",
            side: Side::Baseline,
            addr: self.addr,
            pid: None,
            stat: self.stat.clone(),
            log_dir: None,
            tls: None,
        }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => eprintln!("baseline server failed: {e}"),
            Some(Err(_)) => eprintln!("baseline server panicked"),
            _ => {}
        }
    }
}

/// The baseline's event loop, until `stop` is set and the waker fires.
fn serve_baseline(
    mut poll: Poll,
    listener: TcpListener,
    canned: &[u8],
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut events = Events::with_capacity(1024);
    let mut peers: Slab<Peer> = Slab::new();
    let mut scratch = vec![0; READ_CHUNK];
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() != ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_peers(&poll, &listener, &mut peers),
                WAKER if stop.load(Ordering::Acquire) => return Ok(()),
                WAKER => {}
                Token(id) => {
                    let open = peers
                        .get_mut(id)
                        .is_some_and(|p| p.serve(canned, &mut scratch));
                    if open {
                        continue;
                    }
                    if let Some(mut peer) = peers.try_remove(id) {
                        let _ = poll.registry().deregister(&mut peer.stream);
                    }
                }
            }
        }
    }
}

fn accept_peers(poll: &Poll, listener: &TcpListener, peers: &mut Slab<Peer>) {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => return eprintln!("baseline: accept: {e}"),
        };
        let _ = stream.set_nodelay(true);
        let entry = peers.vacant_entry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut stream, Token(entry.key()), interest)
            .is_ok()
        {
            entry.insert(Peer {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                output_start: 0,
            });
        }
    }
}

impl Peer {
    /// Reads, answers every complete frame, writes. Returns false once the peer is gone.
    fn serve(&mut self, canned: &[u8], scratch: &mut [u8]) -> bool {
        let open = self.read(scratch);
        let mut used = 0;
        while let Some(frame) = next_frame(&self.input[used..]) {
            used += 4 + frame.len();
            let at = self.output.len() + 4;
            self.output.extend_from_slice(canned);
            let correlation_id = frame.get(4..8).unwrap_or(&[0; 4]);
            self.output[at..at + 4].copy_from_slice(correlation_id);
        }
        self.input.drain(..used);
        open && self.flush()
    }

    fn read(&mut self, scratch: &mut [u8]) -> bool {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return false,
                Ok(n) => self.input.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    fn flush(&mut self) -> bool {
        while self.output_start < self.output.len() {
            match self.stream.write(&self.output[self.output_start..]) {
                Ok(0) => return false,
                Ok(n) => self.output_start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.output_start == self.output.len() {
            self.output.clear();
            self.output_start = 0;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------
// The broker process

/// The broker under test: a child process with its own temporary directory, killed (and
/// the directory removed) on drop.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    /// The SSL listener and a client configuration trusting its certificate, if openssl
    /// could make one.
    tls: Option<(SocketAddr, Arc<rustls::ClientConfig>)>,
    dir: PathBuf,
    durability: Durability,
}

impl BrokerProcess {
    /// Starts the broker on an ephemeral port and waits for it to log its address. Batches
    /// of up to 2 MiB are accepted (a 1 MiB batch of 1 KiB records is over Kafka's default
    /// `message.max.bytes`); `Relaxed` leaves fsync to the page cache.
    fn start(durability: Durability) -> Result<BrokerProcess, String> {
        let dir = std::env::temp_dir().join(format!(
            "kafka-broker-bench-{}-{durability:?}",
            std::process::id()
        ));
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let properties = dir.join("server.properties");
        let mut text = format!(
            "listeners=PLAINTEXT://127.0.0.1:0\nlog.dirs={}\nmax.connections=20000\n\
             message.max.bytes=2097152\nsocket.listen.backlog.size=1024\n\
             log.cleaner.backoff.ms=100\n",
            logs.display()
        );
        if durability == Durability::Relaxed {
            text.push_str("log.flush.interval.messages=1000000\n");
        }
        if let Ok(extra) = std::env::var("BENCH_BROKER_PROPERTIES") {
            text.push_str(&extra.replace(';', "\n"));
            text.push('\n');
        }
        let tls_client = match make_certificates(&dir) {
            Ok(client) => {
                text = text.replace(
                    "listeners=PLAINTEXT://127.0.0.1:0",
                    "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                );
                let _ = writeln!(
                    text,
                    "ssl.keystore.type=PEM\nssl.keystore.location={}",
                    dir.join("keystore.pem").display()
                );
                Some(client)
            }
            Err(e) => {
                eprintln!("no TLS rows: {e}");
                None
            }
        };
        fs::write(&properties, text).map_err(|e| format!("{}: {e}", properties.display()))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-broker"))
            .arg(&properties)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let (tls_tx, tls_rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            thread::spawn(move || drain_stderr(stderr, tx, tls_tx));
        }
        let mut broker = BrokerProcess {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            tls: None,
            dir,
            durability,
        };
        broker.addr = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the broker did not log 'listening on <addr>' within 10 s")?;
        if let Some(client) = tls_client {
            let addr = tls_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| "the broker did not log its SSL listener within 10 s")?;
            broker.tls = Some((addr, client));
        }
        Ok(broker)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn target(&self) -> Target {
        Target {
            name: "broker",
            side: Side::Broker,
            addr: self.addr,
            pid: Some(self.pid()),
            stat: format!("/proc/{}/stat", self.pid()),
            log_dir: Some(self.dir.clone()),
            tls: None,
        }
    }

    /// The same broker through its SSL listener.
    fn tls_target(&self) -> Option<Target> {
        let (addr, client) = self.tls.as_ref()?;
        Some(Target {
            name: "brokerTLS",
            addr: *addr,
            tls: Some(client.clone()),
            ..self.target()
        })
    }

    /// How the broker exited, if it did.
    fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Echoes the broker's log to our stderr, sending the listening address when it appears
/// (and the SSL listener's on `tls_tx`).
fn drain_stderr(
    stderr: ChildStderr,
    tx: mpsc::Sender<SocketAddr>,
    tls_tx: mpsc::Sender<SocketAddr>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(addr) = line
            .split("listener SSL (SSL) on ")
            .nth(1)
            .and_then(|a| a.trim().parse().ok())
        {
            let _ = tls_tx.send(addr);
        }
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok());
        if let Some(addr) = addr {
            let _ = tx.send(addr);
        }
        eprintln!("[broker] {line}");
    }
}

/// A CA and a localhost certificate (`dir/keystore.pem`: key and chain) made with
/// `openssl`, and a TLS 1.3 client trusting the CA.
fn make_certificates(dir: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").map_err(|e| e.to_string())?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=bench-ca",
    ])?;
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ])?;
    let read = |name: &str| fs::read_to_string(dir.join(name)).map_err(|e| e.to_string());
    fs::write(
        dir.join("keystore.pem"),
        read("server.key")? + &read("server.pem")?,
    )
    .map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for (label, der) in kafka_broker::security::tls::pem_blocks(&read("ca.pem")?)? {
        if label == "CERTIFICATE" {
            roots
                .add(rustls::pki_types::CertificateDer::from(der))
                .map_err(|e| e.to_string())?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------------------
// Operating-system figures

/// Bytes of disk the files under `path` occupy (allocated blocks, so sparse or
/// preallocated files count for what they hold).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_usage(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Resident memory of a process in MiB, from /proc/<pid>/status.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Clock ticks per second of /proc CPU times (USER_HZ, 100 on Linux; std cannot ask).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
/// The stat file of the client: the main thread, which drives every connection.
const CLIENT_STAT: &str = "/proc/thread-self/stat";

/// User plus system CPU time, in clock ticks, from a /proc stat file.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let text = fs::read_to_string(stat).ok()?;
    // Fields after the parenthesised command name start at field 3 (state); utime and
    // stime are fields 14 and 15.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn add_ticks(total: Option<u64>, before: Option<u64>, after: Option<u64>) -> Option<u64> {
    Some(total? + after?.checked_sub(before?)?)
}

/// The stat file of the calling thread, by a path that stays valid from other threads.
fn thread_stat() -> String {
    fs::read_link("/proc/thread-self")
        .map(|task| format!("/proc/{}/stat", task.display()))
        .unwrap_or_default()
}

/// The soft "Max open files" limit of a process ("self" or a pid).
fn fd_limit(process: &str) -> Option<usize> {
    let limits = fs::read_to_string(format!("/proc/{process}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    match line.split_whitespace().nth(3)? {
        "unlimited" => Some(usize::MAX),
        soft => soft.parse().ok(),
    }
}

/// Whether `n` more connections fit the descriptor limits of both ends: the client's (and
/// the server's too when it runs in this process) and the server process's.
fn fd_check(target: &Target, n: usize) -> Result<(), String> {
    let open = fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let per_connection = if target.pid.is_some() { 1 } else { 2 };
    let need = open + per_connection * n + FD_SLACK;
    let limit = fd_limit("self").unwrap_or(usize::MAX);
    if need > limit {
        let whose = match target.pid {
            Some(_) => "",
            None => " and its baseline server",
        };
        return Err(format!(
            "needs ~{need} fds in the bench process ({open} open + {per_connection} x {n} \
             for the client{whose} + {FD_SLACK} spare), soft limit is {limit}"
        ));
    }
    let Some(pid) = target.pid else { return Ok(()) };
    let limit = fd_limit(&pid.to_string()).unwrap_or(usize::MAX);
    if n + FD_SLACK > limit {
        let need = n + FD_SLACK;
        return Err(format!(
            "needs ~{need} fds in the server process, its limit is {limit}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Results

/// The figures of one row; latencies in microseconds, `None` when unknown.
struct Sample {
    rps: f64,
    /// Payload workloads only: 10^6 bytes of whole record batches, and records, per second.
    mb_s: Option<f64>,
    records_s: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    /// CPU time over wall time of the rounds, in percent of one core.
    server_cpu_pct: Option<f64>,
    client_cpu_pct: Option<f64>,
    /// Server CPU time per request answered.
    server_us_per_req: Option<f64>,
}

/// One row's measurements, summed over its rounds.
struct Tally {
    latencies_ns: Vec<u64>,
    /// Payload of the responses inside measured windows.
    bytes: u64,
    records: u64,
    /// Time inside measured windows.
    measured: Duration,
    /// Every response and the wall time of the rounds, warm-up and drain included.
    answered: u64,
    wall: Duration,
    server_ticks: Option<u64>,
    client_ticks: Option<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latencies_ns: Vec::new(),
            bytes: 0,
            records: 0,
            measured: Duration::ZERO,
            answered: 0,
            wall: Duration::ZERO,
            server_ticks: Some(0),
            client_ticks: Some(0),
        }
    }

    fn sample(mut self, payload: bool) -> Sample {
        let latencies = &mut self.latencies_ns;
        latencies.sort_unstable();
        let quantile = |q: f64| {
            let rank = (q * latencies.len() as f64).ceil() as usize;
            let ns = *latencies.get(rank.saturating_sub(1))?;
            Some(ns as f64 / 1000.0)
        };
        let cpu_us = |ticks: Option<u64>| Some(ticks? as f64 * 1e6 / CLOCK_TICKS_PER_SEC);
        let wall_us = self.wall.as_secs_f64() * 1e6;
        let answered = self.answered as f64;
        let seconds = self.measured.as_secs_f64();
        Sample {
            rps: latencies.len() as f64 / seconds,
            mb_s: payload.then(|| self.bytes as f64 / 1e6 / seconds),
            records_s: payload.then(|| self.records as f64 / seconds),
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            server_cpu_pct: cpu_us(self.server_ticks).map(|us| 100.0 * us / wall_us),
            client_cpu_pct: cpu_us(self.client_ticks).map(|us| 100.0 * us / wall_us),
            server_us_per_req: cpu_us(self.server_ticks).map(|us| us / answered),
        }
    }
}

struct Row {
    target: &'static str,
    workload: &'static str,
    connections: usize,
    depth: usize,
    durability: Durability,
    sample: Sample,
}

impl Row {
    /// Produce and fetch rows, which report payload.
    fn moves_records(&self) -> bool {
        self.sample.mb_s.is_some()
    }
}

/// Everything measured, printed at the end.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// (target, connections, reason)
    skipped: Vec<(&'static str, usize, String)>,
    errors: Vec<String>,
    /// (workload, response frame bytes)
    response_bytes: Vec<(&'static str, usize)>,
    rss_idle_mib: Option<f64>,
    /// Broker RSS with N idle connections open, first measurement per N.
    rss_conns_mib: Vec<(usize, Option<f64>)>,
    /// Disk each broker's log used when it stopped (then deleted), in bytes.
    log_bytes: Vec<(Durability, u64)>,
    /// Start-up to the first ApiVersions answer: (command, ms per start, or why not).
    startup: Vec<(&'static str, Result<Vec<f64>, String>)>,
    /// CRC-32C throughput: (implementation, buffer bytes, GB/s).
    crc: Vec<(&'static str, usize, f64)>,
    /// The whole run, broker start to report.
    runtime: Duration,
    /// Median fdatasync of a 100 B append in the broker's directory: (µs, count) or why not.
    fdatasync: Option<Result<(f64, usize), String>>,
    /// What the log's filesystem costs at the least for the produce rows, or why not known.
    disk_floor: Option<Result<DiskFloor, String>>,
}

/// The cost of the disk work the produce rows ask for, measured on the broker log's
/// filesystem without the broker: what no broker's sync strategy can go below.
struct DiskFloor {
    /// Median time of one 16 KiB `write` appended to a file (into the page cache).
    append_16kib_us: f64,
    /// Median time to make 100 files durable after a 16 KiB append to each, with one
    /// `syncfs` (one writeback and one cache flush for all: the least any sync of 100
    /// partitions' files costs): produce_16KiB's 100 partitions, one request each.
    syncfs_100_files_ms: f64,
    /// Median `fdatasync` of one file after 100 appends of 16 KiB: produce_16KiB_1_partition's
    /// 100 requests.
    fdatasync_1_file_ms: f64,
}

/// A broker row's throughput over the matching baseline row's.
struct Ratio<'a> {
    workload: &'a str,
    connections: usize,
    depth: usize,
    ratio: f64,
    /// Payload rows: MB/s over MB/s.
    mb_ratio: Option<f64>,
}

impl Report {
    fn record_rss(&mut self, n: usize, mib: Option<f64>) {
        if !self.rss_conns_mib.iter().any(|&(m, _)| m == n) {
            self.rss_conns_mib.push((n, mib));
        }
    }

    fn record_log(&mut self, broker: &BrokerProcess) {
        self.log_bytes
            .push((broker.durability, disk_usage(&broker.dir)));
    }

    fn ratios(&self) -> Vec<Ratio<'_>> {
        let broker = self.rows.iter().filter(|r| r.target == "broker");
        broker
            .filter_map(|b| {
                let base = self.rows.iter().find(|r| {
                    r.target == "baseline"
                        && (r.workload, r.connections, r.depth)
                            == (b.workload, b.connections, b.depth)
                })?;
                let mb_ratio = match (b.sample.mb_s, base.sample.mb_s) {
                    (Some(b), Some(base)) => Some(b / base),
                    _ => None,
                };
                Some(Ratio {
                    workload: b.workload,
                    connections: b.connections,
                    depth: b.depth,
                    ratio: b.sample.rps / base.sample.rps,
                    mb_ratio,
                })
            })
            .collect()
    }

    /// The most connections the broker's RSS was measured with, and that RSS.
    fn rss_most_connections(&self) -> Option<(usize, Option<f64>)> {
        self.rss_conns_mib.iter().copied().max_by_key(|&(n, _)| n)
    }

    fn print(&self) {
        self.print_rows();
        self.print_payload_rows();
        self.print_ratios();
        self.print_notes();
        println!("{}", self.json());
    }

    fn print_rows(&self) {
        println!();
        println!(
            "{:<9} {:<13} {:>6} {:>5} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10}",
            "target",
            "workload",
            "conns",
            "depth",
            "req/s",
            "p50_us",
            "p99_us",
            "p999_us",
            "srv_cpu%",
            "cli_cpu%",
            "srv_us/req"
        );
        for r in self.rows.iter().filter(|r| !r.moves_records()) {
            let s = &r.sample;
            println!(
                "{:<9} {:<13} {:>6} {:>5} {:>10.0} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10}",
                r.target,
                r.workload,
                r.connections,
                r.depth,
                s.rps,
                fmt_num(s.p50_us, 1),
                fmt_num(s.p99_us, 1),
                fmt_num(s.p999_us, 1),
                fmt_num(s.server_cpu_pct, 0),
                fmt_num(s.client_cpu_pct, 0),
                fmt_num(s.server_us_per_req, 2)
            );
        }
        for (target, n, reason) in &self.skipped {
            println!("{target:<9} {:<13} {n:>6}   skipped: {reason}", "");
        }
    }

    /// Produce and fetch: payload rates first, then the request figures.
    fn print_payload_rows(&self) {
        if !self.rows.iter().any(Row::moves_records) {
            return;
        }
        println!();
        println!(
            "{:<9} {:<21} {:>5} {:>5} {:>8} {:>9} {:>7} {:>9} {:>9} {:>8} {:>8}",
            "target",
            "workload",
            "conns",
            "depth",
            "MB/s",
            "records/s",
            "req/s",
            "p50_us",
            "p99_us",
            "srv_cpu%",
            "cli_cpu%"
        );
        for r in self.rows.iter().filter(|r| r.moves_records()) {
            let s = &r.sample;
            println!(
                "{:<9} {:<21} {:>5} {:>5} {:>8} {:>9} {:>7.0} {:>9} {:>9} {:>8} {:>8}",
                r.target,
                r.workload,
                r.connections,
                r.depth,
                fmt_num(s.mb_s, 1),
                fmt_num(s.records_s, 0),
                s.rps,
                fmt_num(s.p50_us, 1),
                fmt_num(s.p99_us, 1),
                fmt_num(s.server_cpu_pct, 0),
                fmt_num(s.client_cpu_pct, 0),
            );
        }
    }

    fn print_ratios(&self) {
        println!();
        println!(
            "{:<21} {:>6} {:>5} {:>16} {:>11}",
            "workload", "conns", "depth", "broker/baseline", "MB/s ratio"
        );
        for r in self.ratios() {
            println!(
                "{:<21} {:>6} {:>5} {:>16.3} {:>11}",
                r.workload,
                r.connections,
                r.depth,
                r.ratio,
                fmt_num(r.mb_ratio, 3)
            );
        }
    }

    fn print_notes(&self) {
        println!();
        for (workload, bytes) in &self.response_bytes {
            println!("{workload} response frame: {bytes} bytes (baseline replays it)");
        }
        if self.rows.iter().any(Row::moves_records) {
            println!(
                "produce: v{PRODUCE_VERSION}, acks=1, one batch of 1 KiB records per request \
                 (16 KiB: 16 records, 1 MiB: 1024), connection i -> partition i of topic \
                 {TOPIC} (one partition per connection); the broker fsyncs every \
                 acknowledged produce (its durable default; one fsync per partition per \
                 turn) except in *_relaxed rows (log.flush.interval.messages=1000000); \
                 produce_16KiB_1_partition: 100 connections on partition 0 of its own \
                 topic, as the idempotent and transactional rows have; \
                 produce_sync_100B*: one 100 B record per request, acks=-1, topic \
                 {SYNC_TOPIC}; baseline: reads the batch, answers the broker's \
                 acknowledgement"
            );
            println!(
                "fetch: v{FETCH_VERSION} by name, max_wait_ms 0, partition_max_bytes 1 MiB, \
                 offset 0 to the high watermark and again; MB/s counts whole batches only; \
                 baseline: replays one broker response (probe at offset 0 of partition 0); \
                 fetch_100B: topic {SMALL_TOPIC}, filled first with 16 KiB batches of 100 B \
                 records"
            );
        }
        self.print_fdatasync();
        self.print_disk_floor();
        for (durability, bytes) in &self.log_bytes {
            println!(
                "broker log ({}): {:.0} MB on disk at the end, deleted",
                durability.label(),
                *bytes as f64 / 1e6
            );
        }
        let mut rss = format!("broker RSS: {} MiB idle", fmt_mib(self.rss_idle_mib));
        for (n, mib) in &self.rss_conns_mib {
            let _ = write!(rss, ", {} MiB with {n} connections", fmt_mib(*mib));
        }
        println!("{rss}");
        for (command, times) in &self.startup {
            match times {
                Ok(ms) => println!(
                    "start-up to the first ApiVersions answer, {command}: median {:.1} ms, \
                     max {:.1} ms over {} starts",
                    median(ms),
                    ms.iter().copied().fold(0.0, f64::max),
                    ms.len()
                ),
                Err(e) => println!("start-up, {command}: {e}"),
            }
        }
        for (implementation, bytes, gb_s) in &self.crc {
            println!("crc32c ({implementation}) over {bytes} B buffers: {gb_s:.2} GB/s");
        }
        println!("bench run time: {:.1} s", self.runtime.as_secs_f64());
        for e in &self.errors {
            println!("ERROR: {e}");
        }
    }

    /// One JSON object with every figure, written by hand. `rows` and `ratios` hold the
    /// request-only workloads; produce and fetch rows have their own arrays.
    fn json(&self) -> String {
        let plain = |r: &&Row| !r.moves_records();
        let rows: Vec<String> = self.rows.iter().filter(plain).map(row_json).collect();
        let of = |prefix: &str| -> Vec<String> {
            let rows = self.rows.iter().filter(|r| r.moves_records());
            rows.filter(|r| r.workload.starts_with(prefix))
                .map(payload_row_json)
                .collect()
        };
        let (produce_rows, fetch_rows) = (of("produce"), of("fetch"));
        let all_ratios = self.ratios();
        let ratios: Vec<String> = all_ratios
            .iter()
            .filter(|r| r.mb_ratio.is_none())
            .map(ratio_json)
            .collect();
        let payload_ratios: Vec<String> = all_ratios
            .iter()
            .filter(|r| r.mb_ratio.is_some())
            .map(ratio_json)
            .collect();
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|(target, n, reason)| {
                format!(
                    "{{\"target\":{},\"connections\":{n},\"reason\":{}}}",
                    json_str(target),
                    json_str(reason)
                )
            })
            .collect();
        let errors: Vec<String> = self.errors.iter().map(|e| json_str(e)).collect();
        let logs: Vec<String> = self
            .log_bytes
            .iter()
            .map(|(d, bytes)| {
                format!(
                    "{{\"durability\":{},\"bytes\":{bytes}}}",
                    json_str(d.label())
                )
            })
            .collect();
        let crc: Vec<String> = self
            .crc
            .iter()
            .map(|(implementation, bytes, gb_s)| {
                format!(
                    "{{\"implementation\":{},\"buffer_bytes\":{bytes},\"gb_per_s\":{gb_s:.2}}}",
                    json_str(implementation)
                )
            })
            .collect();
        let startup: Vec<String> = self
            .startup
            .iter()
            .filter_map(|(command, times)| {
                let ms = times.as_ref().ok()?;
                let list: Vec<String> = ms.iter().map(|t| format!("{t:.2}")).collect();
                Some(format!(
                    "{{\"command\":{},\"median_ms\":{:.2},\"ms\":[{}]}}",
                    json_str(command),
                    median(ms),
                    list.join(",")
                ))
            })
            .collect();
        let (most, rss_most) = self.rss_most_connections().unwrap_or((0, None));
        format!(
            "{{\"rows\":[{}],\"ratios\":[{}],\"skipped\":[{}],\"errors\":[{}],\
             \"rss_idle_mib\":{},\"rss_10k_conn_mib\":{},\"rss_conn_count\":{most},\
             \"produce_rows\":[{}],\"fetch_rows\":[{}],\"produce_fetch_ratios\":[{}],\
             \"broker_log_disk\":[{}],\"crc32c\":[{}],\"startup\":[{}],\"fdatasync_median_us\":{},\
             \"disk_floor\":{},\"bench_seconds\":{:.1}}}",
            rows.join(","),
            ratios.join(","),
            skipped.join(","),
            errors.join(","),
            json_num(self.rss_idle_mib, 2),
            json_num(rss_most, 2),
            produce_rows.join(","),
            fetch_rows.join(","),
            payload_ratios.join(","),
            logs.join(","),
            crc.join(","),
            startup.join(","),
            json_num(
                self.fdatasync
                    .as_ref()
                    .and_then(|f| f.as_ref().ok())
                    .map(|f| f.0),
                1
            ),
            match &self.disk_floor {
                Some(Ok(floor)) => format!(
                    "{{\"append_16KiB_us\":{:.2},\"syncfs_100_files_ms\":{:.3},\
                     \"fdatasync_1_file_1600KiB_ms\":{:.3}}}",
                    floor.append_16kib_us, floor.syncfs_100_files_ms, floor.fdatasync_1_file_ms
                ),
                _ => "null".into(),
            },
            self.runtime.as_secs_f64(),
        )
    }
}

impl Report {
    /// The p50 of a broker row of one connection.
    fn broker_p50(&self, workload: &str) -> Option<f64> {
        let row = self
            .rows
            .iter()
            .find(|r| r.target == "broker" && r.workload == workload && r.connections == 1)?;
        row.sample.p50_us
    }

    /// The median fdatasync, and the durable synchronous produce's p50 against the relaxed
    /// one's plus that median (issue 13's target: within it).
    fn print_fdatasync(&self) {
        match &self.fdatasync {
            None => {}
            Some(Err(e)) => println!("fdatasync of a 100 B append: not measured: {e}"),
            Some(Ok((us, n))) => {
                println!(
                    "fdatasync of a 100 B append on the broker log's filesystem: median \
                     {us:.1} us over {n}"
                );
                let durable = self.broker_p50("produce_sync_100B");
                let relaxed = self.broker_p50("produce_sync_100B_relaxed");
                if let (Some(durable), Some(relaxed)) = (durable, relaxed) {
                    let bound = relaxed + us;
                    let verdict = if durable <= bound { "within" } else { "over" };
                    println!(
                        "produce_sync_100B p50 {durable:.1} us, relaxed p50 {relaxed:.1} us + \
                         median fdatasync {us:.1} us = {bound:.1} us: {verdict}"
                    );
                }
            }
        }
    }
}

impl Report {
    /// The disk floor, and produce_16KiB's time per 100 requests at 100 partitions and at
    /// one partition (issue 13's target: more throughput at 100).
    fn print_disk_floor(&self) {
        match &self.disk_floor {
            None => {}
            Some(Err(e)) => println!("disk floor: not measured: {e}"),
            Some(Ok(floor)) => {
                println!(
                    "disk floor on the broker log's filesystem: a 16 KiB append into the page \
                     cache {:.2} us (median); 100 files with a 16 KiB append each made durable \
                     by one syncfs {:.2} ms; one file with 100 x 16 KiB appended, fdatasync \
                     {:.2} ms",
                    floor.append_16kib_us, floor.syncfs_100_files_ms, floor.fdatasync_1_file_ms
                );
                let per_100 = |workload: &str| {
                    let row = self.rows.iter().find(|r| {
                        r.target == "broker" && r.workload == workload && r.connections == 100
                    })?;
                    (row.sample.rps > 0.0).then(|| 100.0 / row.sample.rps * 1e3)
                };
                // One connection keeps one request in flight: its rate is one over the round
                // trip, and the broker's round trip holds at least the baseline's plus the
                // append (the baseline only reads the batch).
                let baseline = self.rows.iter().find(|r| {
                    r.target == "baseline"
                        && r.workload == "produce_16KiB_relaxed"
                        && r.connections == 1
                });
                if let Some(p50) = baseline.and_then(|r| r.sample.p50_us) {
                    let bound = p50 / (p50 + floor.append_16kib_us);
                    println!(
                        "produce_16KiB_relaxed: baseline p50 {p50:.1} us; with the 16 KiB append \
                         alone added, the broker/baseline ratio is at most {bound:.3}"
                    );
                }
                let many = per_100("produce_16KiB");
                let one = per_100("produce_16KiB_1_partition");
                if let (Some(many), Some(one)) = (many, one) {
                    println!(
                        "produce_16KiB, 100 connections: {many:.2} ms per 100 requests over 100 \
                         partitions, {one:.2} ms on one partition; the 100 partitions' disk \
                         floor alone is {:.2} ms",
                        floor.syncfs_100_files_ms
                    );
                }
            }
        }
    }
}

/// Measures [`DiskFloor`] in `dir` (files made and removed there).
fn disk_floor(dir: &Path, full: bool) -> Result<DiskFloor, String> {
    let probe = dir.join("disk-floor-probe");
    let fail = |e: io::Error| format!("{}: {e}", probe.display());
    fs::create_dir_all(&probe).map_err(fail)?;
    let batch = vec![b'x'; 16 << 10];
    let open = |i: usize| {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(probe.join(format!("{i}.log")))
    };
    let rounds = if full { 20 } else { 2 };
    let result = (|| {
        let mut appends = Vec::new();
        let mut syncfs = Vec::new();
        let mut one_file = Vec::new();
        let mut files: Vec<fs::File> = (0..100).map(open).collect::<io::Result<_>>()?;
        for _ in 0..rounds {
            for file in &mut files {
                let start = Instant::now();
                file.write_all(&batch)?;
                appends.push(start.elapsed().as_secs_f64() * 1e6);
            }
            let start = Instant::now();
            rustix::fs::syncfs(&files[0])?;
            syncfs.push(start.elapsed().as_secs_f64() * 1e3);
            let file = &mut files[0];
            for _ in 0..100 {
                file.write_all(&batch)?;
            }
            let start = Instant::now();
            file.sync_data()?;
            one_file.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(DiskFloor {
            append_16kib_us: median(&appends),
            syncfs_100_files_ms: median(&syncfs),
            fdatasync_1_file_ms: median(&one_file),
        })
    })()
    .map_err(fail);
    let _ = fs::remove_dir_all(&probe);
    result
}

/// Times `fdatasync` after each of a series of 100 B appends to a file in `dir` (the broker
/// log's filesystem), as the durable synchronous producer's sync does, in µs.
fn fdatasync_times(dir: &Path, full: bool) -> Result<Vec<f64>, String> {
    let path = dir.join("fdatasync-probe");
    let fail = |e: io::Error| format!("{}: {e}", path.display());
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(fail)?;
    let n = if full { 250 } else { 10 };
    let record = [b'x'; 100];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        file.write_all(&record).map_err(fail)?;
        let start = Instant::now();
        file.sync_data().map_err(fail)?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    drop(file);
    let _ = fs::remove_file(&path);
    Ok(times)
}

fn row_json(r: &Row) -> String {
    let s = &r.sample;
    format!(
        "{{\"target\":{},\"workload\":{},\"connections\":{},\"depth\":{},\"rps\":{:.0},\
         \"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"server_cpu_pct\":{},\
         \"client_cpu_pct\":{},\"server_cpu_us_per_req\":{}}}",
        json_str(r.target),
        json_str(r.workload),
        r.connections,
        r.depth,
        s.rps,
        json_num(s.p50_us, 1),
        json_num(s.p99_us, 1),
        json_num(s.p999_us, 1),
        json_num(s.server_cpu_pct, 1),
        json_num(s.client_cpu_pct, 1),
        json_num(s.server_us_per_req, 3)
    )
}

/// A produce or fetch row: `row_json`'s fields with the payload rates and the broker's
/// flush policy.
fn payload_row_json(r: &Row) -> String {
    let s = &r.sample;
    let mut json = row_json(r);
    json.pop();
    let _ = write!(
        json,
        ",\"mb_per_s\":{},\"records_per_s\":{},\"durability\":{}}}",
        json_num(s.mb_s, 2),
        json_num(s.records_s, 0),
        json_str(r.durability.label())
    );
    json
}

fn ratio_json(r: &Ratio) -> String {
    let mb = match r.mb_ratio {
        Some(ratio) => format!(",\"mb_per_s_ratio\":{}", json_num(Some(ratio), 3)),
        None => String::new(),
    };
    format!(
        "{{\"workload\":{},\"connections\":{},\"depth\":{},\"rps_ratio\":{}{mb}}}",
        json_str(r.workload),
        r.connections,
        r.depth,
        json_num(Some(r.ratio), 3)
    )
}

fn fmt_num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

fn fmt_mib(mib: Option<f64>) -> String {
    mib.map_or("?".into(), |mib| format!("{mib:.1}"))
}

/// A JSON number with `decimals` digits, or null when absent or not finite.
fn json_num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "null".into(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}
