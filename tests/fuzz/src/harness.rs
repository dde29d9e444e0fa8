//! Drives one [`Broker`] the way `server::Server` does, without sockets: frames go to
//! `Service::call`, parked requests come back through `Service::resume` when the epoch
//! changes or their deadline passes, and every step ends with `end_of_turn` and, when due,
//! `on_timer`. The clock is virtual (it only moves forward, and never behind the real one),
//! so session timeouts, rebalance delays and long polls are reached in microseconds.
//!
//! An input is a sequence of records, each `ctl:u8 len:u16be frame[len]` (a last frame
//! shorter than its `len` takes what is left). `frame` is a whole request frame without its
//! 4-byte size prefix. The bits of `ctl`:
//!
//! | bits | meaning |
//! |---|---|
//! | 0-2 | advance the clock before the frame: 0, 1 ms, 10 ms, 100 ms, 1 s, 4 s, 30 s, 6 min |
//! | 3-4 | which of 4 connections (peers) sends the frame |
//! | 5   | after the frame, advance the clock to the broker's next timer and run it |
//! | 6   | the connection closed and reopened first: its parked request, if any, is abandoned |
//! | 7   | restart the broker on the same log directory first (replay and recovery) |
//!
//! Two placeholders are replaced in each frame before it is sent, since the broker makes
//! ids up at random: 15 bytes 0xF5 and an index byte become the id of the index-th topic
//! (mod the count); the string `@MEMBERk` (k a digit; int16 or compact length) becomes the
//! k-th most recent member id the broker handed out in a JoinGroup response of this input.
//!
//! Beyond the broker's own panics, the harness checks the `Service` contract: a `Done`
//! leaves nothing or exactly one size-prefixed frame echoing the correlation id; `Park`
//! and `Close` leave nothing; a resume with `expired` parks again only until a later
//! deadline (else the loop would resume it at once, every turn).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_broker::apis::Api;
use kafka_broker::apis::join_group::{self, JoinGroup};
use kafka_broker::broker::{Broker, Parked};
use kafka_broker::config::Config;
use kafka_broker::protocol::wire;
use kafka_broker::security::Session;
use kafka_broker::server::{Outcome, Peer, Service};

/// A plaintext connection's state, as the broker opens it.
fn fresh_session() -> Session {
    Session::new(0, kafka_broker::config::SecurityProtocol::Plaintext, None)
}

pub const PEERS: usize = 4;

/// Clock advance selected by `ctl & 7`.
pub const ADVANCE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(30),
    Duration::from_secs(360),
];
pub const CTL_TIMER: u8 = 0x20;
pub const CTL_RECONNECT: u8 = 0x40;
pub const CTL_RESTART: u8 = 0x80;

/// A fresh log directory after this many inputs by default (`KAFKA_FUZZ_REOPEN_EVERY`)...
pub const REOPEN_INPUTS: u32 = 1000;
/// ...or after this many input bytes (also bounding the crash history kept by `main`)...
const REOPEN_BYTES: usize = 16 << 20;
/// ...or once this many partitions exist, so a long run stays within memory, disk and fds
/// (and a restart, which reopens every partition, stays fast)...
const REOPEN_PARTITIONS: usize = 256;
/// ...or once the metadata log holds this much: a restart replays all of it, and inputs
/// that create and delete topics would otherwise make every later restart slower.
const REOPEN_METADATA_BYTES: u64 = 32 << 10;
/// The broker's metadata log directory (Kafka's name).
const METADATA_DIR: &str = "__cluster_metadata-0";
/// Member ids remembered for `@MEMBERk`.
const MEMBERS_KEPT: usize = 8;

pub const TOPIC_SLOT: [u8; 15] = [0xF5; 15];
pub const MEMBER_SLOT: &[u8] = b"@MEMBER";

/// The broker configuration fuzzed: Kafka's defaults except small segments, a retention
/// size that old segments do exceed, few offsets partitions and a short rebalance delay.
pub fn fuzz_config(log_dir: &Path) -> Config {
    Config {
        log_dir: log_dir.to_path_buf(),
        log_segment_bytes: 16 << 10,
        log_retention_bytes: 256 << 10,
        offsets_topic_num_partitions: 3,
        group_initial_rebalance_delay_ms: 100,
        ..Config::default()
    }
}

/// One record of an input.
pub struct Record<'a> {
    pub ctl: u8,
    pub frame: &'a [u8],
}

pub fn records(mut data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        if data.len() < 3 {
            return None;
        }
        let ctl = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let (frame, after) = rest.split_at(len.min(rest.len()));
        data = after;
        Some(Record { ctl, frame })
    })
}

/// Encodes one record (for the seeds).
pub fn record(out: &mut Vec<u8>, ctl: u8, frame: &[u8]) {
    let len = u16::try_from(frame.len()).expect("a seed frame under 64 KiB");
    out.push(ctl);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
}

/// A parked request, its deadline, and its frame's first 8 bytes (api key, version,
/// correlation id: the broker keeps the frame itself private).
struct Waiting {
    parked: Parked,
    deadline: Instant,
    head: Vec<u8>,
}

pub struct Harness {
    /// This process's directory; each broker generation gets a subdirectory.
    dir: PathBuf,
    generation: u64,
    log_dir: PathBuf,
    broker: Option<Broker>,
    inputs_since_open: u32,
    bytes_since_open: usize,
    reopen_inputs: u32,
    clock: Instant,
    peers: [Peer; PEERS],
    /// Each peer's connection state, as the loop keeps it (fresh on reconnect).
    sessions: [Session; PEERS],
    parked: [Option<Waiting>; PEERS],
    epoch_seen: u64,
    members: Vec<String>,
    out: Vec<u8>,
    frame: Vec<u8>,
    /// Prints each step (replay mode).
    pub verbose: bool,
}

impl Harness {
    /// A harness whose brokers live under `root/<pid>`; directories of processes that no
    /// longer exist (a crashed fuzz child) are removed.
    pub fn new(root: &Path) -> Harness {
        remove_stale(root);
        let dir = root.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let local = "127.0.0.1:9092".parse().expect("address");
        let peers = std::array::from_fn(|id| Peer {
            id,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 40_000 + id as u16)),
            local,
            listener: 0,
        });
        Harness {
            log_dir: dir.join("0"),
            dir,
            generation: 0,
            broker: None,
            inputs_since_open: 0,
            bytes_since_open: 0,
            reopen_inputs: REOPEN_INPUTS,
            clock: Instant::now(),
            peers,
            sessions: std::array::from_fn(|_| fresh_session()),
            parked: std::array::from_fn(|_| None),
            epoch_seen: 0,
            members: Vec::new(),
            out: Vec::new(),
            frame: Vec::new(),
            verbose: false,
        }
    }

    /// Opens a fresh broker every `n` inputs (1: every input starts from an empty log).
    pub fn reopen_every(&mut self, n: u32) {
        self.reopen_inputs = n.max(1);
    }

    /// Before each input: opens a fresh broker on a new, empty log directory when none is
    /// open or a bound was reached, and says whether it did (the inputs since the last
    /// fresh broker are what reproduces its state).
    pub fn prepare(&mut self, input_len: usize) -> bool {
        let reopened = self.maybe_reopen();
        self.inputs_since_open += 1;
        self.bytes_since_open += input_len;
        reopened
    }

    /// Runs one input (after [`Harness::prepare`]).
    pub fn run(&mut self, data: &[u8]) {
        if self.broker.is_none() {
            self.prepare(data.len());
        }
        self.members.clear();
        for Record { ctl, frame } in records(data) {
            if ctl & CTL_RESTART != 0 {
                self.restart();
            }
            self.advance(ADVANCE[usize::from(ctl & 7)]);
            self.turn();
            let p = usize::from((ctl >> 3) & 3);
            if ctl & CTL_RECONNECT != 0 {
                if self.abandon(p) {
                    self.log(format_args!("peer {p}: closed with a parked request"));
                }
                self.sessions[p] = fresh_session();
            } else {
                // The loop handles a connection's next frame only after its parked one.
                self.finish_parked(p);
            }
            self.substitute(frame);
            let frame = std::mem::take(&mut self.frame);
            self.out.clear();
            let (peer, now) = (self.peers[p], self.clock);
            let broker = self.broker.as_mut().expect("broker is open");
            let outcome = broker.call(&peer, &mut self.sessions[p], &frame, &mut self.out, None, now);
            self.settle(p, &frame, outcome, false);
            self.frame = frame;
            if ctl & CTL_TIMER != 0 {
                if let Some(at) = self.broker().next_timer() {
                    self.clock = self.clock.max(at);
                }
                let now = self.clock;
                self.broker().on_timer(now);
            }
            self.turn();
        }
        for p in 0..PEERS {
            self.finish_parked(p);
        }
        self.turn();
    }

    fn broker(&mut self) -> &mut Broker {
        self.broker.as_mut().expect("broker is open")
    }

    fn log(&self, args: std::fmt::Arguments) {
        if self.verbose {
            eprintln!("{args}");
        }
    }

    fn open(&mut self) {
        let config = fuzz_config(&self.log_dir);
        match Broker::open(config) {
            Ok(broker) => {
                self.epoch_seen = broker.epoch();
                self.broker = Some(broker);
            }
            Err(e) => panic!("Broker::open({}): {e}", self.log_dir.display()),
        }
    }

    /// A fresh broker on an empty log directory when none is open or the bounds are hit.
    fn maybe_reopen(&mut self) -> bool {
        let partitions = self.broker.as_ref().map_or(0, |b| {
            b.storage
                .topics()
                .map(|t| t.partitions.len())
                .sum::<usize>()
        });
        if self.broker.is_some()
            && self.inputs_since_open < self.reopen_inputs
            && self.bytes_since_open < REOPEN_BYTES
            && partitions < REOPEN_PARTITIONS
            && dir_bytes(&self.log_dir.join(METADATA_DIR)) < REOPEN_METADATA_BYTES
        {
            return false;
        }
        self.broker = None;
        let _ = std::fs::remove_dir_all(&self.log_dir);
        self.generation += 1;
        self.log_dir = self.dir.join(self.generation.to_string());
        self.inputs_since_open = 0;
        self.bytes_since_open = 0;
        self.open();
        true
    }

    /// The broker stops (no clean shutdown beyond dropping it) and starts again on the same
    /// log directory; connections, and so parked requests, are gone.
    fn restart(&mut self) {
        self.log(format_args!("restart"));
        self.parked = std::array::from_fn(|_| None);
        self.broker = None;
        self.open();
    }

    fn advance(&mut self, by: Duration) {
        self.clock = (self.clock + by).max(Instant::now());
    }

    /// The end of a loop turn: the group fsync, due timers, then parked requests whose
    /// deadline passed or that may have become ready.
    fn turn(&mut self) {
        let now = self.clock;
        let broker = self.broker();
        broker.end_of_turn(now);
        if broker.next_timer().is_some_and(|at| at <= now) {
            broker.on_timer(now);
        }
        if self.parked.iter().all(Option::is_none) {
            return;
        }
        let epoch = self.broker().epoch();
        let changed = epoch != self.epoch_seen;
        self.epoch_seen = epoch;
        for p in 0..PEERS {
            let Some(waiting) = &self.parked[p] else {
                continue;
            };
            let expired = waiting.deadline <= now;
            if expired || changed {
                let waiting = self.parked[p].take().expect("checked above");
                self.resume(p, waiting, expired);
            }
        }
    }

    /// Answers peer `p`'s parked request before its next frame, as the loop does: time
    /// passes to its deadline and a turn runs (timers first, then the resume), again if it
    /// parks with a later deadline; after a few rounds the client gives up (closes).
    fn finish_parked(&mut self, p: usize) {
        for _ in 0..4 {
            let Some(waiting) = &self.parked[p] else {
                return;
            };
            self.clock = self.clock.max(waiting.deadline);
            self.turn();
        }
        if self.abandon(p) {
            self.log(format_args!("peer {p}: gave up waiting"));
        }
    }

    /// Peer `p`'s connection closed: its parked request, if any, is handed back to the
    /// broker, as `Server::close` does. Says whether there was one.
    fn abandon(&mut self, p: usize) -> bool {
        let Some(Waiting { parked, .. }) = self.parked[p].take() else {
            return false;
        };
        let (peer, now) = (self.peers[p], self.clock);
        let broker = self.broker.as_mut().expect("broker is open");
        broker.abandon(&peer, &mut self.sessions[p], parked, now);
        true
    }

    fn resume(&mut self, p: usize, waiting: Waiting, expired: bool) {
        let Waiting { parked, head, .. } = waiting;
        self.out.clear();
        let now = self.clock;
        let peer = self.peers[p];
        let outcome = self.broker.as_mut().expect("broker is open").resume(
            &peer,
            &mut self.sessions[p],
            parked,
            &mut self.out,
            None,
            now,
            expired,
        );
        self.settle(p, &head, outcome, expired);
    }

    /// Checks what a call or resume left in `out`, learns member ids, keeps a parked request.
    fn settle(&mut self, p: usize, frame: &[u8], outcome: Outcome<Parked>, expired: bool) {
        let api = frame.get(..4).map(|h| {
            (
                i16::from_be_bytes([h[0], h[1]]),
                i16::from_be_bytes([h[2], h[3]]),
            )
        });
        match outcome {
            // A throttled client's mute is the loop's business; the answer is checked the same.
            Outcome::Done | Outcome::Mute(_) | Outcome::CloseAfter(..) => {
                if self.verbose {
                    let shown = self.out.len().min(48);
                    let hex: Vec<String> = self.out[..shown]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    eprintln!(
                        "peer {p}: {api:?} done{}, {} response bytes: {}{}",
                        if expired { " (expired)" } else { "" },
                        self.out.len(),
                        hex.join(" "),
                        if shown < self.out.len() { " ..." } else { "" }
                    );
                }
                check_response(frame, &self.out);
                if let Some((11, version)) = api {
                    self.learn_members(version);
                }
            }
            Outcome::Park(parked, deadline) => {
                // The loop would resume it again at once, every turn: a busy loop.
                assert!(
                    !expired || deadline > self.clock,
                    "api {api:?}: a resume with expired=true parked again until {:?} ago",
                    self.clock.saturating_duration_since(deadline)
                );
                assert!(
                    self.out.is_empty(),
                    "api {api:?}: Park left {} bytes in out",
                    self.out.len()
                );
                self.log(format_args!(
                    "peer {p}: {api:?} parked for {:?}",
                    deadline.saturating_duration_since(self.clock)
                ));
                self.parked[p] = Some(Waiting {
                    parked,
                    deadline,
                    head: frame[..frame.len().min(8)].to_vec(),
                });
            }
            Outcome::Close(reason) => {
                self.log(format_args!("peer {p}: {api:?} close: {reason}"));
                assert!(
                    self.out.is_empty(),
                    "api {api:?}: Close ({reason}) left {} bytes in out",
                    self.out.len()
                );
            }
        }
    }

    /// Remembers the member ids of a JoinGroup response in `out`.
    fn learn_members(&mut self, version: i16) {
        if self.out.len() < 8 || !(0..=9).contains(&version) {
            return;
        }
        let header = if version >= 6 { 9 } else { 8 };
        let Some(body) = self.out.get(header..) else {
            return;
        };
        let Ok(response) = wire::decode::<join_group::Response>(body, JoinGroup::SPEC.ver(version))
        else {
            return;
        };
        let mut learned: Vec<String> = Vec::new();
        learned.push(response.member_id);
        learned.push(response.leader);
        learned.extend(response.members.into_iter().map(|m| m.member_id));
        for id in learned.into_iter().rev() {
            if id.is_empty() {
                continue;
            }
            self.members.retain(|m| *m != id);
            self.members.insert(0, id);
        }
        self.members.truncate(MEMBERS_KEPT);
    }

    /// Copies `frame` into `self.frame` with the topic-id and member-id slots filled in.
    fn substitute(&mut self, frame: &[u8]) {
        self.frame.clear();
        let broker = self.broker.as_ref().expect("broker is open");
        let topics = broker.storage.topics().count();
        let mut i = 0;
        while i < frame.len() {
            let rest = &frame[i..];
            if topics > 0 && rest.len() >= 16 && rest[..15] == TOPIC_SLOT {
                let k = usize::from(rest[15]) % topics;
                let topic = broker.storage.topics().nth(k).expect("k < count");
                self.frame.extend_from_slice(&topic.id);
                i += 16;
                continue;
            }
            if !self.members.is_empty() {
                let member = |at: usize| {
                    let slot = rest.get(at..at + MEMBER_SLOT.len() + 1)?;
                    (slot.starts_with(MEMBER_SLOT) && slot[7].is_ascii_digit()).then(|| {
                        self.members[usize::from(slot[7] - b'0') % self.members.len()].as_str()
                    })
                };
                // int16 length 8, then "@MEMBERk".
                if rest.starts_with(&[0, 8])
                    && let Some(id) = member(2)
                {
                    let len = i16::try_from(id.len()).unwrap_or(i16::MAX);
                    self.frame.extend_from_slice(&len.to_be_bytes());
                    self.frame.extend_from_slice(id.as_bytes());
                    i += 10;
                    continue;
                }
                // Compact length (8 + 1), then "@MEMBERk".
                if rest[0] == 9
                    && let Some(id) = member(1)
                {
                    let mut n = id.len() as u64 + 1;
                    while n >= 0x80 {
                        self.frame.push((n as u8 & 0x7f) | 0x80);
                        n >>= 7;
                    }
                    self.frame.push(n as u8);
                    self.frame.extend_from_slice(id.as_bytes());
                    i += 9;
                    continue;
                }
            }
            self.frame.push(rest[0]);
            i += 1;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.parked = std::array::from_fn(|_| None);
        self.broker = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `Done`'s output: nothing, or one frame whose size prefix is its length and whose
/// correlation id is the request's.
fn check_response(frame: &[u8], out: &[u8]) {
    if out.is_empty() {
        return;
    }
    assert!(out.len() >= 8, "a {}-byte response", out.len());
    let size = i32::from_be_bytes([out[0], out[1], out[2], out[3]]);
    assert_eq!(
        usize::try_from(size).ok(),
        Some(out.len() - 4),
        "response size prefix {size} for {} bytes after it",
        out.len() - 4
    );
    if frame.len() >= 8 {
        assert_eq!(
            out[4..8],
            frame[4..8],
            "response correlation id differs from the request's"
        );
    }
}

/// The bytes of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Removes `root/<pid>` directories whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
