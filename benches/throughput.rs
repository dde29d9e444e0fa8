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
//! Without `--bench` (as in `cargo test --all-targets`) it runs a short smoke version.
//!
//! Adding a workload (produce, fetch) means implementing [`Workload`] and listing it in
//! [`workloads`]; the client driver, the baseline and the report do not change.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

/// Connections opened before waiting for them all to answer: below the listen backlog (128
/// in mio), so no SYN or handshake ACK is dropped.
const CONNECT_BATCH: usize = 100;
/// With requests in flight and no response for this long, the target is declared stalled.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Longest single wait for readiness, so phase deadlines and stalls are noticed.
const POLL_TICK: Duration = Duration::from_millis(20);
/// Descriptors a process needs besides its connections (stdio, poll, listener, files).
const FD_SLACK: usize = 64;
const READ_CHUNK: usize = 64 * 1024;

fn main() {
    let plan = Plan::from_args();
    let mut report = Report::default();
    let mut broker = match BrokerProcess::start() {
        Ok(broker) => broker,
        Err(e) => {
            eprintln!("cannot start the broker: {e}");
            std::process::exit(1);
        }
    };
    report.rss_idle_mib = rss_mib(broker.pid());
    for mut workload in workloads() {
        if let Err(e) = bench_workload(&plan, &mut broker, workload.as_mut(), &mut report) {
            report.errors.push(format!("{}: {e}", workload.name()));
        }
    }
    drop(broker);
    report.print();
}

/// What is measured and for how long.
struct Plan {
    connections: Vec<usize>,
    depths: Vec<usize>,
    /// Rounds per row when two targets alternate; a lone target runs one long round.
    rounds: u32,
    /// Warm-up before each round's measurement.
    warmup: Duration,
    /// Measured time per row and target, split evenly over the rounds.
    measure: Duration,
}

impl Plan {
    /// The full plan under `cargo bench` (which passes `--bench`), else a smoke test.
    fn from_args() -> Plan {
        if std::env::args().any(|a| a == "--bench") {
            Plan {
                connections: vec![1, 100, 1000, 10_000],
                depths: vec![1, 16],
                rounds: 4,
                warmup: Duration::from_millis(200),
                measure: Duration::from_millis(2400),
            }
        } else {
            Plan {
                connections: vec![1, 100],
                depths: vec![1, 16],
                rounds: 2,
                warmup: Duration::from_millis(50),
                measure: Duration::from_millis(200),
            }
        }
    }
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

    /// Appends one request frame, size prefix included, for connection `conn`.
    fn encode_request(&mut self, conn: usize, correlation_id: i32, out: &mut Vec<u8>);

    /// Checks one response frame for connection `conn`: the bytes after the size prefix,
    /// whose leading correlation id the driver has already matched.
    fn check_response(&mut self, conn: usize, frame: &[u8]) -> Result<(), String>;
}

/// The workloads benchmarked, in order.
fn workloads() -> Vec<Box<dyn Workload>> {
    vec![Box::new(ApiVersions::new())]
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

    fn encode_request(&mut self, _conn: usize, correlation_id: i32, out: &mut Vec<u8>) {
        let at = out.len() + REQUEST_CORRELATION_AT;
        out.extend_from_slice(&self.template);
        out[at..at + 4].copy_from_slice(&correlation_id.to_be_bytes());
    }

    fn check_response(&mut self, _conn: usize, frame: &[u8]) -> Result<(), String> {
        // Response header v0 (correlation id only), then error_code and a compact array.
        let (Some(error), Some(&keys)) = (frame.get(4..6), frame.get(6)) else {
            return Err(format!("ApiVersions response of {} bytes", frame.len()));
        };
        let error = i16::from_be_bytes([error[0], error[1]]);
        if error != 0 || keys < 2 {
            return Err(format!("ApiVersions error {error}, {keys} api keys + 1"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Running the rows

/// A server the client drives.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// The server process, when it is not this one (whose fd limit must then also fit).
    pid: Option<u32>,
    /// The /proc stat file of the server's process or thread, for its CPU time.
    stat: String,
}

/// Connections open to one target.
struct Session<'a> {
    target: &'a Target,
    client: Client,
    /// A round failed (reported); the session is not measured again.
    failed: bool,
}

/// Probes the broker, starts a baseline replaying its response, and runs every (N, D) row
/// against both.
fn bench_workload(
    plan: &Plan,
    broker: &mut BrokerProcess,
    workload: &mut dyn Workload,
    report: &mut Report,
) -> Result<(), String> {
    let response = probe(broker.addr, workload)?;
    report
        .response_bytes
        .push((workload.name(), response.len()));
    let baseline = Baseline::spawn(response).map_err(|e| format!("baseline: {e}"))?;
    let targets = [broker.target(), baseline.target()];
    for &n in &plan.connections {
        let mut sessions = open_sessions(&targets, n, workload, report);
        for &depth in &plan.depths {
            measure_depth(plan, &mut sessions, depth, workload, report);
        }
        drop(sessions);
        if let Some(status) = broker.exit_status() {
            return Err(format!("the broker exited ({status})"));
        }
    }
    Ok(())
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
        match Client::connect(target.addr, n, workload) {
            Ok(client) => {
                if let Some(pid) = target.pid {
                    report.record_rss(n, rss_mib(pid));
                }
                let failed = false;
                sessions.push(Session {
                    target,
                    client,
                    failed,
                });
            }
            Err(e) => report
                .errors
                .push(format!("{} N={n}: connecting: {e}", target.name)),
        }
    }
    sessions
}

/// Measures one depth on every session, alternating between them round by round, and adds
/// a row per session.
fn measure_depth(
    plan: &Plan,
    sessions: &mut [Session],
    depth: usize,
    workload: &mut dyn Workload,
    report: &mut Report,
) {
    let rounds = if sessions.len() > 1 { plan.rounds } else { 1 };
    let warmup = plan.warmup * plan.rounds / rounds;
    let measure = plan.measure / rounds;
    let mut tallies: Vec<Tally> = sessions.iter().map(|_| Tally::new()).collect();
    for _ in 0..rounds {
        for (session, tally) in sessions.iter_mut().zip(&mut tallies) {
            if session.failed {
                continue;
            }
            let n = session.client.conns.len();
            eprintln!(
                "{} {} N={n} D={depth}",
                session.target.name,
                workload.name()
            );
            if let Err(e) = session.round(workload, depth, warmup, measure, tally) {
                let name = session.target.name;
                report.errors.push(format!("{name} N={n} D={depth}: {e}"));
                session.failed = true;
            }
        }
    }
    for (session, tally) in sessions.iter().zip(tallies) {
        if !session.failed {
            report.rows.push(Row {
                target: session.target.name,
                workload: workload.name(),
                connections: session.client.conns.len(),
                depth,
                sample: tally.sample(),
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

/// Sends one request over a blocking socket and returns the whole response frame, size
/// prefix included.
fn probe(addr: SocketAddr, workload: &mut dyn Workload) -> Result<Vec<u8>, String> {
    let fail = |e: io::Error| format!("probe: {e}");
    let mut stream = std::net::TcpStream::connect(addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    let mut request = Vec::new();
    workload.encode_request(0, 1, &mut request);
    stream.write_all(&request).map_err(fail)?;
    let mut response = vec![0; 4];
    stream.read_exact(&mut response).map_err(fail)?;
    let size = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
    response.resize(4 + size.max(0) as usize, 0);
    stream.read_exact(&mut response[4..]).map_err(fail)?;
    if response.get(4..8) != Some(&1i32.to_be_bytes()[..]) {
        return Err("probe: wrong correlation id".into());
    }
    workload.check_response(0, &response[4..])?;
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// The client driver

/// One client connection: unsent output, unparsed input, and the correlation ids and send
/// times of the requests in flight, oldest first (responses come back in request order).
struct Conn {
    stream: TcpStream,
    output: Vec<u8>,
    output_start: usize,
    input: Vec<u8>,
    in_flight: VecDeque<(i32, Instant)>,
}

/// The single-threaded client: one `Poll` over every connection to one target. It knows
/// nothing of Kafka beyond size-prefixed frames that start with a correlation id.
struct Client {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    driver: Driver,
}

/// The client's state shared by all connections.
struct Driver {
    scratch: Vec<u8>,
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
            answered: 0,
        }
    }

    fn record(&mut self, sent: Instant, done: Instant) {
        self.answered += 1;
        if done >= self.record_from && done < self.until {
            let ns = done.duration_since(sent).as_nanos();
            self.latencies_ns.push(ns.min(u64::MAX as u128) as u64);
        }
    }
}

impl Client {
    /// Opens `n` connections in batches below the listen backlog, each answering one
    /// request before the next batch starts, so all are accepted when this returns.
    fn connect(addr: SocketAddr, n: usize, wl: &mut dyn Workload) -> Result<Client, String> {
        let mut client = Client {
            poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
            events: Events::with_capacity(1024),
            conns: Vec::with_capacity(n),
            driver: Driver {
                scratch: vec![0; READ_CHUNK],
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
        let mut conn = Conn {
            stream,
            output: Vec::new(),
            output_start: 0,
            input: Vec::new(),
            in_flight: VecDeque::new(),
        };
        let now = Instant::now();
        self.driver.top_up(&mut conn, id, 1, now, wl);
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
            self.driver.top_up(conn, id, depth, start, wl);
            flush(conn).map_err(|e| format!("connection {id}: {e}"))?;
        }
        while Instant::now() < phase.until {
            self.pump(wl, &mut phase)?;
        }
        self.drain(wl, &mut phase)?;
        tally.latencies_ns.append(&mut phase.latencies_ns);
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
            self.driver
                .serve(conn, id, now, wl, phase)
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
        id: usize,
        now: Instant,
        wl: &mut dyn Workload,
        phase: &mut Phase,
    ) -> Result<(), String> {
        let closed = read_available(conn, &mut self.scratch)?;
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
        id: usize,
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
fn read_available(conn: &mut Conn, scratch: &mut [u8]) -> Result<bool, String> {
    loop {
        match conn.stream.read(scratch) {
            Ok(0) => return Ok(true),
            Ok(n) => conn.input.extend_from_slice(&scratch[..n]),
            Err(e) if is_not_ready(&e) => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Consumes the complete response frames in `conn.input`, matching each to the oldest
/// request in flight. Returns how many were answered.
fn take_responses(
    conn: &mut Conn,
    id: usize,
    now: Instant,
    wl: &mut dyn Workload,
    phase: &mut Phase,
) -> Result<usize, String> {
    let mut used = 0;
    let mut answered = 0;
    while let Some(frame) = next_frame(&conn.input[used..]) {
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
        wl.check_response(id, frame)?;
        phase.record(sent, now);
        answered += 1;
    }
    conn.input.drain(..used);
    Ok(answered)
}

/// The first complete size-prefixed frame in `bytes`, without its prefix.
fn next_frame(bytes: &[u8]) -> Option<&[u8]> {
    let size = i32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    bytes.get(4..4 + size.max(0) as usize)
}

/// Writes queued output until the socket is full.
fn flush(conn: &mut Conn) -> Result<(), String> {
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
            addr: self.addr,
            pid: None,
            stat: self.stat.clone(),
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
    dir: PathBuf,
}

impl BrokerProcess {
    /// Starts the broker on an ephemeral port and waits for it to log its address.
    fn start() -> Result<BrokerProcess, String> {
        let dir = std::env::temp_dir().join(format!("kafka-broker-bench-{}", std::process::id()));
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let properties = dir.join("server.properties");
        let text = format!(
            "listeners=PLAINTEXT://127.0.0.1:0\nlog.dirs={}\nmax.connections=20000\n",
            logs.display()
        );
        fs::write(&properties, text).map_err(|e| format!("{}: {e}", properties.display()))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-broker"))
            .arg(&properties)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let (tx, rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            thread::spawn(move || drain_stderr(stderr, tx));
        }
        let mut broker = BrokerProcess {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            dir,
        };
        broker.addr = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the broker did not log 'listening on <addr>' within 10 s")?;
        Ok(broker)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn target(&self) -> Target {
        Target {
            name: "broker",
            addr: self.addr,
            pid: Some(self.pid()),
            stat: format!("/proc/{}/stat", self.pid()),
        }
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

/// Echoes the broker's log to our stderr, sending the listening address when it appears.
fn drain_stderr(stderr: ChildStderr, tx: mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
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

// ---------------------------------------------------------------------------------------
// Operating-system figures

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
            measured: Duration::ZERO,
            answered: 0,
            wall: Duration::ZERO,
            server_ticks: Some(0),
            client_ticks: Some(0),
        }
    }

    fn sample(mut self) -> Sample {
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
        Sample {
            rps: latencies.len() as f64 / self.measured.as_secs_f64(),
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
    sample: Sample,
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
}

/// A broker row's throughput over the matching baseline row's.
struct Ratio<'a> {
    workload: &'a str,
    connections: usize,
    depth: usize,
    ratio: f64,
}

impl Report {
    fn record_rss(&mut self, n: usize, mib: Option<f64>) {
        if !self.rss_conns_mib.iter().any(|&(m, _)| m == n) {
            self.rss_conns_mib.push((n, mib));
        }
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
                Some(Ratio {
                    workload: b.workload,
                    connections: b.connections,
                    depth: b.depth,
                    ratio: b.sample.rps / base.sample.rps,
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
        for r in &self.rows {
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

    fn print_ratios(&self) {
        println!();
        println!(
            "{:<13} {:>6} {:>5} {:>16}",
            "workload", "conns", "depth", "broker/baseline"
        );
        for r in self.ratios() {
            println!(
                "{:<13} {:>6} {:>5} {:>16.3}",
                r.workload, r.connections, r.depth, r.ratio
            );
        }
    }

    fn print_notes(&self) {
        println!();
        for (workload, bytes) in &self.response_bytes {
            println!("{workload} response frame: {bytes} bytes (baseline replays it)");
        }
        let mut rss = format!("broker RSS: {} MiB idle", fmt_mib(self.rss_idle_mib));
        for (n, mib) in &self.rss_conns_mib {
            let _ = write!(rss, ", {} MiB with {n} connections", fmt_mib(*mib));
        }
        println!("{rss}");
        for e in &self.errors {
            println!("ERROR: {e}");
        }
    }

    /// One JSON object with every figure, written by hand.
    fn json(&self) -> String {
        let rows: Vec<String> = self.rows.iter().map(row_json).collect();
        let ratios: Vec<String> = self.ratios().iter().map(ratio_json).collect();
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
        let (most, rss_most) = self.rss_most_connections().unwrap_or((0, None));
        format!(
            "{{\"rows\":[{}],\"ratios\":[{}],\"skipped\":[{}],\"errors\":[{}],\
             \"rss_idle_mib\":{},\"rss_10k_conn_mib\":{},\"rss_conn_count\":{most}}}",
            rows.join(","),
            ratios.join(","),
            skipped.join(","),
            errors.join(","),
            json_num(self.rss_idle_mib, 2),
            json_num(rss_most, 2),
        )
    }
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

fn ratio_json(r: &Ratio) -> String {
    format!(
        "{{\"workload\":{},\"connections\":{},\"depth\":{},\"rps_ratio\":{}}}",
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
