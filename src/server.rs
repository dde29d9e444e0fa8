//! The single-threaded event loop: a mio `Poll` over its listeners and a `Slab` of
//! connections. It moves size-prefixed frames in and response bytes out, and knows nothing
//! about Kafka: a [`Service`] turns each frame into response bytes.
//!
//! A connection's transport is plain TCP or TLS (rustls, sans-IO: the loop feeds it the
//! socket's bytes on readiness and writes what it wants sent; no thread). Frames are found
//! in the plaintext either way. Each connection carries the service's opaque
//! [`Service::Session`] (created when the transport is ready: at accept, or once the TLS
//! handshake completed, with the client's certificate), handed to every call: the loop
//! never looks inside it.
//!
//! A plain TCP connection's output is its buffer's bytes with file bytes placed between
//! them ([`DeferredBytes`], left there by the service's encoder): the loop sends those with
//! `sendfile` when the output reaches them, so large record slices are never copied through
//! the loop. TLS connections get none (every byte must pass through rustls).
//!
//! SIGTERM and SIGINT arrive as events of the same poll (`signal-hook-mio`, once
//! [`Server::handle_signals`] ran): the loop stops accepting, answers its parked requests
//! as if their deadlines had passed, ends the turn, lets the service make everything
//! durable ([`Service::shutdown`]), gives pending responses up to [`SHUTDOWN_DRAIN`] to
//! leave, and returns.
//!
//! Invariants: responses leave a connection in request order; nothing produced during a turn
//! is written before [`Service::end_of_turn`] ran, and no response is written before the
//! ticket the service gave it ([`Service::ticket`]) is complete
//! ([`Service::completed_ticket`]), so an acknowledgement follows its data sync; one
//! connection's failure closes only that connection.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, trace, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rustls::{ServerConfig, ServerConnection};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::protocol::wire::DeferredBytes;

/// Who sent a frame: passed to the service so it can log and advertise, never to keep state.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Stable for the connection's lifetime; reused after it closes.
    pub id: usize,
    pub addr: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Which of the loop's listeners accepted the connection (its index in
    /// [`Server::bind`]'s list).
    pub listener: usize,
}

/// One socket the loop accepts connections on.
#[derive(Clone)]
pub struct ListenerSpec {
    pub addr: SocketAddr,
    /// TLS settings, if the listener's connections speak TLS.
    pub tls: Option<Arc<ServerConfig>>,
}

/// What the service did with a frame. Response bytes, if any, were appended to `out`.
pub enum Outcome<P> {
    /// The request is finished (its response, if it has one, is in `out`).
    Done,
    /// The request is finished, and the connection reads no further request until the
    /// instant (a client quota's throttle); its response is written as usual.
    Mute(Instant),
    /// The request waits: the loop holds `P`, stops handling this connection's later frames,
    /// and calls [`Service::resume`] when the service's readiness epoch changes or at
    /// `deadline`.
    Park(P, Instant),
    /// A protocol violation: the connection is closed (after nothing more is written).
    Close(String),
    /// A refusal that lingers (a failed authentication): the connection reads nothing more,
    /// its response is held until the instant, written, and then the connection closes.
    CloseAfter(Instant, String),
}

/// The request handler the loop drives. It keeps no per-connection state: a waiting request
/// is handed back to the loop as a `Parked` value.
pub trait Service {
    type Parked;
    /// What the service knows about one connection (who authenticated on it), kept by the
    /// loop for the connection's lifetime and handed to every call.
    type Session;

    /// A connection's transport is ready (accepted; TLS: handshake complete).
    /// `peer_certificate` is the DER certificate a TLS client presented, if any.
    fn open(&mut self, peer: &Peer, peer_certificate: Option<&[u8]>) -> Self::Session;

    /// Handles one frame (the bytes after the size prefix). `deferred` is given on a plain
    /// TCP connection: the response may leave file bytes there instead of in `out`, each
    /// sent (by `sendfile`) after `out`'s bytes before its position.
    fn call(
        &mut self,
        peer: &Peer,
        session: &mut Self::Session,
        frame: &[u8],
        out: &mut Vec<u8>,
        deferred: Option<&mut DeferredBytes>,
        now: Instant,
    ) -> Outcome<Self::Parked>;

    /// Tries a parked request again; `expired` says its deadline has passed.
    #[allow(clippy::too_many_arguments)]
    fn resume(
        &mut self,
        peer: &Peer,
        session: &mut Self::Session,
        parked: Self::Parked,
        out: &mut Vec<u8>,
        deferred: Option<&mut DeferredBytes>,
        now: Instant,
        expired: bool,
    ) -> Outcome<Self::Parked>;

    /// A parked request whose connection closed: the service may undo what waiting for it
    /// meant (a group member's pending join).
    fn abandon(
        &mut self,
        peer: &Peer,
        session: &mut Self::Session,
        parked: Self::Parked,
        now: Instant,
    );

    /// Runs after every turn's requests, before any response of the turn is written.
    fn end_of_turn(&mut self, now: Instant);

    /// What the response just appended by `call` or `resume` waits for: its bytes (and so
    /// every later byte of that connection) are written only once [`completed_ticket`]
    /// reaches it. 0: nothing. Tickets complete in increasing order.
    ///
    /// [`completed_ticket`]: Service::completed_ticket
    fn ticket(&self) -> u64 {
        0
    }

    /// Every ticket up to this one is complete.
    fn completed_ticket(&self) -> u64 {
        u64::MAX
    }

    /// The largest frame this session may send now, when less than
    /// `socket.request.max.bytes` (a SASL connection before it has authenticated).
    fn frame_bytes_max(&self, _session: &Self::Session) -> Option<usize> {
        None
    }

    /// A descriptor of the service's own (a completion queue's eventfd) that the loop polls
    /// for readability, calling [`Service::on_ready`] when it fires.
    fn ready_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    fn on_ready(&mut self, _now: Instant) {}

    /// How long the loop should poll without sleeping, when nothing else is ready, for
    /// [`Service::ready_fd`] to fire soon (a short data sync in flight); `None`: it sleeps.
    fn poll_budget(&self, _now: Instant) -> Option<Duration> {
        None
    }

    /// Changes whenever a parked request may have become ready.
    fn epoch(&self) -> u64;

    /// The next time the service wants `on_timer` called, if any.
    fn next_timer(&self) -> Option<Instant>;

    fn on_timer(&mut self, now: Instant);

    /// A controlled shutdown: the last call. The service makes everything it accepted
    /// durable before the loop writes the last responses.
    fn shutdown(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }
}

/// Large output buffers between uses, shared by all connections, at most OUTPUT_POOL_BYTES
/// of capacity. A connection without an output buffer of its own (it gave back its last
/// large one, or has none yet) borrows one before its requests are handled; it comes back
/// when the connection's output empties.
#[derive(Default)]
struct OutputPool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl OutputPool {
    fn lend(&mut self, output: &mut Vec<u8>) {
        if output.capacity() == 0
            && let Some(buffer) = self.buffers.pop()
        {
            self.bytes -= buffer.capacity();
            *output = buffer;
        }
    }

    /// Takes an empty output buffer over BUFFER_KEEP_BYTES (kept if the pool has room,
    /// else freed); smaller ones stay with their connection.
    fn give_back(&mut self, output: &mut Vec<u8>) {
        debug_assert!(output.is_empty());
        if output.capacity() <= BUFFER_KEEP_BYTES {
            return;
        }
        let buffer = std::mem::take(output);
        if self.bytes + buffer.capacity() <= OUTPUT_POOL_BYTES {
            self.bytes += buffer.capacity();
            self.buffers.push(buffer);
        }
    }
}

/// Every bound the loop enforces, with its unit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub frame_bytes_max: usize,
    /// Connections served at once (`max.connections`); more are accepted and closed.
    pub connections_max: usize,
    /// Connections served at once from one IP address (`max.connections.per.ip`); more
    /// from that address are accepted and closed, as Kafka's acceptor does.
    pub connections_per_ip_max: usize,
    /// Connections the kernel queues before they are accepted (`socket.listen.backlog.size`).
    pub listen_backlog: i32,
    /// Above this much unsent output, a connection's further requests wait.
    pub output_bytes_high: usize,
    /// Bytes written to one connection per turn, so one reader cannot starve the rest
    /// (checked between writes: the last write of a turn may pass it by what the socket
    /// takes).
    pub write_bytes_per_turn: usize,
    /// Bytes read from one connection per turn, so one pipelining client cannot hold up
    /// the rest; the connection is read again next turn.
    pub read_bytes_per_turn: usize,
    /// Bytes of requests buffered across every connection (`queued.max.request.bytes`;
    /// `None`: no bound, Kafka's -1). See [`InputBudget`].
    pub queued_bytes_max: Option<usize>,
}

/// The budget for buffered input across connections (`queued.max.request.bytes`), as
/// Kafka's memory pool bounds its network threads: once a connection has read a frame's
/// size prefix, the whole frame (prefix included) is reserved from the budget before any of
/// its body is read, and released when the frame has been handled. A connection whose frame
/// does not fit waits, muted (nothing more is read from its socket), in a queue; when a
/// frame is released the queue's front tries again, then the next, in order.
///
/// No deadlock: a frame holding a reservation is never muted for the budget, so it
/// completes and frees its share; every frame fits an empty budget (the budget is at least
/// `socket.request.max.bytes`). Only the queue's front (or, with an empty queue, any
/// connection) reads a size prefix: beyond the reservations, which never exceed the budget,
/// the bytes buffered are the 4-byte prefixes of connections waiting for it (normally one:
/// another holds one only if its prefix arrived split before it started waiting).
struct InputBudget {
    bytes_max: usize,
    reserved: usize,
    /// Connections waiting for budget, oldest first.
    waiting: VecDeque<usize>,
    /// Bytes actually buffered in connections' input buffers, and their highest mark
    /// (logged at debug when it rises).
    buffered: usize,
    buffered_high: usize,
}

impl InputBudget {
    /// Whether `id` may read a size prefix now: no connection waits before it. Otherwise
    /// it joins the queue (`queued`: whether it is in it).
    fn may_read_prefix(&mut self, id: usize, queued: &mut bool) -> bool {
        match self.waiting.front() {
            None => true,
            Some(&front) if front == id => true,
            Some(_) => {
                self.enqueue(id, queued);
                false
            }
        }
    }

    /// Reserves `bytes` for `id`'s frame if they fit and no connection waits before it;
    /// otherwise `id` waits in the queue.
    fn try_reserve(&mut self, id: usize, bytes: usize, queued: &mut bool) -> bool {
        let first = self.waiting.front().is_none_or(|&front| front == id);
        if first && self.reserved + bytes <= self.bytes_max {
            self.reserved += bytes;
            self.leave_front(id, queued);
            return true;
        }
        self.enqueue(id, queued);
        false
    }

    fn enqueue(&mut self, id: usize, queued: &mut bool) {
        if !*queued {
            self.waiting.push_back(id);
            *queued = true;
        }
    }

    /// `id` leaves the queue if it is its front.
    fn leave_front(&mut self, id: usize, queued: &mut bool) {
        if self.waiting.front() == Some(&id) {
            self.waiting.pop_front();
            *queued = false;
        }
    }

    /// Brings the tally of buffered bytes up to date with a connection's input (`counted`
    /// is what the tally holds of it).
    fn count(&mut self, counted: &mut usize, pending: usize) {
        self.buffered = self.buffered - *counted + pending;
        *counted = pending;
        if self.buffered > self.buffered_high {
            self.buffered_high = self.buffered;
            debug!(
                "buffered input high water: {} bytes (queued.max.request.bytes={}, {} reserved)",
                self.buffered, self.bytes_max, self.reserved
            );
        }
    }
}

const SIGNALS: Token = Token(usize::MAX);
const SERVICE_FD: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_TOKEN_TOP - i` (connection tokens are slab keys, small).
const LISTENER_TOKEN_TOP: usize = usize::MAX - 2;
/// Plaintext a TLS connection buffers for sending before its output waits in `output`.
const TLS_SEND_BUFFER_BYTES: usize = 256 * 1024;
/// How long a controlled shutdown waits for its last responses to leave.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_millis(500);
/// Bytes read from a socket per `read` call, into the loop's shared scratch buffer.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Per-connection buffers larger than this are released when they empty (output buffers
/// into the pool below).
const BUFFER_KEEP_BYTES: usize = 64 * 1024;
/// Emptied large output buffers kept for reuse, in bytes of capacity. Without it every
/// large response (a 1 MiB fetch) allocated fresh memory, and the page faults and zeroing
/// of that memory cost more than copying the records.
const OUTPUT_POOL_BYTES: usize = 32 << 20;
const EVENTS_CAPACITY: usize = 1024;

struct Connection<P, X> {
    stream: TcpStream,
    /// The TLS state of a TLS listener's connection; `None` for plain TCP.
    tls: Option<Box<ServerConnection>>,
    /// The service's state for this connection: `None` until the transport is ready.
    session: Option<X>,
    peer: Peer,
    /// Bytes of an incomplete frame (or frames held back), consumed from `input_start`.
    input: Vec<u8>,
    input_start: usize,
    output: Vec<u8>,
    output_start: usize,
    /// File bytes of the output stream (plain TCP only), in order: each goes out after
    /// `output`'s bytes before its position and before the byte at it.
    deferred: DeferredBytes,
    parked: Option<(P, Instant)>,
    /// Until when the connection is throttled: no request is read or handled before then.
    muted_until: Option<Instant>,
    /// The peer closed its side; answer what was received, then close.
    read_closed: bool,
    writable_registered: bool,
    /// Set when the connection must be read again without waiting for an event (it stopped
    /// reading to wait for output to drain or for a parked request).
    read_pending: bool,
    close_reason: Option<String>,
    /// A lingering refusal's response, written when `muted_until` passes, its reason and
    /// the ticket it waits for (0: none).
    closing: Option<(Vec<u8>, String, u64)>,
    /// The lingering refusal's response was queued: close once it is written.
    close_when_written: Option<String>,
    /// Responses waiting for their service ticket: (where the response starts in
    /// `output`, the ticket), oldest first. Output is written (to the socket, or into TLS
    /// to be encrypted) only up to the first one whose ticket is not complete.
    holds: VecDeque<(usize, u64)>,
    /// Bytes of the input budget held for the frame being read (0: none).
    reserved: usize,
    /// Bytes of `input` counted in the budget's tally of buffered input.
    counted: usize,
    /// In the budget's queue of connections waiting for it. (An entry whose connection
    /// closed stays in the queue until it reaches the front, where it is dropped.)
    queued: bool,
}

impl<P, X> Connection<P, X> {
    fn pending_input(&self) -> &[u8] {
        &self.input[self.input_start..]
    }

    fn pending_output(&self) -> usize {
        let deferred: usize = self.deferred.iter().map(|d| d.source.len() - d.sent).sum();
        self.output.len() - self.output_start + deferred
    }

    /// Whether output up to `writable_end` (a held response's start) is left to write.
    fn has_writable(&self, writable_end: usize) -> bool {
        self.output_start < writable_end
            || self.deferred.front().is_some_and(|d| d.at <= writable_end)
            || self.tls_wants_write()
    }

    /// Whether TLS has records of its own (handshake, alerts, encrypted output) to send.
    fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    fn is_busy(&self, limits: &Limits) -> bool {
        self.parked.is_some()
            || self.close_when_written.is_some()
            || self.muted_until.is_some()
            || self.close_reason.is_some()
            || self.pending_output() > limits.output_bytes_high
    }
}

/// The state of a running loop.
pub struct Server<S: Service> {
    poll: Poll,
    /// Empty once a shutdown began: nothing more is accepted.
    listeners: Vec<(TcpListener, Option<Arc<ServerConfig>>)>,
    signals: Option<Signals>,
    shutting_down: bool,
    connections: Slab<Connection<S::Parked, S::Session>>,
    limits: Limits,
    service: S,
    scratch: Vec<u8>,
    outputs: OutputPool,
    /// Connections whose output grew or that must be closed this turn.
    touched: Vec<usize>,
    /// Connections with a parked request or muted until a time.
    parked: Vec<usize>,
    /// Connections to read again this turn without an event.
    rereads: VecDeque<usize>,
    parked_epoch: u64,
    /// Connections served per IP address (entries only for addresses with one), and
    /// whether its refusal at the limit was already logged.
    per_ip: HashMap<IpAddr, (usize, bool)>,
    /// Whether refusals at `max.connections` were logged since the count last fell below.
    refusing_logged: bool,
    /// The service's completed ticket when held responses were last released.
    completed_ticket: u64,
    budget: Option<InputBudget>,
}

impl<S: Service> Server<S> {
    pub fn bind(specs: &[ListenerSpec], limits: Limits, service: S) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listeners = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let mut listener = TcpListener::bind(spec.addr)?;
            // mio listens with std's backlog (128); listening again sets Kafka's setting
            // (the kernel caps it at net.core.somaxconn).
            rustix::net::listen(&listener, limits.listen_backlog)?;
            poll.registry().register(
                &mut listener,
                Token(LISTENER_TOKEN_TOP - index),
                Interest::READABLE,
            )?;
            listeners.push((listener, spec.tls.clone()));
        }
        if let Some(fd) = service.ready_fd() {
            poll.registry().register(
                &mut mio::unix::SourceFd(&fd),
                SERVICE_FD,
                Interest::READABLE,
            )?;
        }
        Ok(Server {
            poll,
            listeners,
            signals: None,
            shutting_down: false,
            connections: Slab::new(),
            limits,
            service,
            scratch: vec![0; READ_CHUNK_BYTES],
            outputs: OutputPool::default(),
            touched: Vec::new(),
            parked: Vec::new(),
            rereads: VecDeque::new(),
            parked_epoch: 0,
            per_ip: HashMap::new(),
            refusing_logged: false,
            completed_ticket: 0,
            budget: limits.queued_bytes_max.map(|bytes_max| InputBudget {
                bytes_max,
                reserved: 0,
                waiting: VecDeque::new(),
                buffered: 0,
                buffered_high: 0,
            }),
        })
    }

    /// The first listener's bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.listeners.first() {
            Some((listener, _)) => listener.local_addr(),
            None => Err(io::Error::other("the listener is closed")),
        }
    }

    /// Every listener's bound address, in [`Server::bind`]'s order.
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.listeners.iter().map(|(l, _)| l.local_addr()).collect()
    }

    /// Makes SIGTERM and SIGINT start a controlled shutdown (events of this loop's poll;
    /// no thread).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until a controlled shutdown completes (`Ok`) or the poll itself fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll_events(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.handle_events(&events);
            self.finish_turn();
            if self.shutting_down {
                return self.shutdown();
            }
        }
    }

    /// Waits for events as `poll` does, but first polls without sleeping for up to the
    /// service's [`Service::poll_budget`] (bounded by `timeout`), so that a completion
    /// expected within microseconds is taken without the cost of waking a sleeping thread.
    fn poll_events(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let started = Instant::now();
        if let Some(budget) = self.service.poll_budget(started)
            && timeout.is_none_or(|t| t > budget)
        {
            while started.elapsed() < budget {
                self.poll.poll(events, Some(Duration::ZERO))?;
                if !events.is_empty() {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
            let timeout = timeout.map(|t| t.saturating_sub(started.elapsed()));
            return self.poll.poll(events, timeout);
        }
        self.poll.poll(events, timeout)
    }

    fn handle_events(&mut self, events: &Events) {
        for event in events.iter() {
            match event.token() {
                SIGNALS => self.take_signals(),
                SERVICE_FD => self.service.on_ready(Instant::now()),
                Token(t) if t > LISTENER_TOKEN_TOP - self.listeners.len() => {
                    self.accept_all(LISTENER_TOKEN_TOP - t)
                }
                Token(id) => {
                    let Some(conn) = self.connections.get_mut(id) else {
                        continue;
                    };
                    if event.is_read_closed() || event.is_error() {
                        conn.read_closed = true;
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read_and_handle(id);
                    }
                    if event.is_writable() {
                        self.touch(id);
                    }
                }
            }
        }
    }

    fn take_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        for signal in signals.pending() {
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            if !self.shutting_down {
                info!("{name}: shutting down");
            }
            self.shutting_down = true;
        }
    }

    /// The rest of a controlled shutdown, after the turn that saw the signal: parked
    /// requests answered, the service's last step, then the responses' last chance to leave
    /// before every connection is closed.
    fn shutdown(&mut self) -> io::Result<()> {
        for (mut listener, _) in std::mem::take(&mut self.listeners) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let now = Instant::now();
        for id in std::mem::take(&mut self.parked) {
            let Some((outcome, _)) = self.resume_one(id, now, true) else {
                continue;
            };
            let Some(conn) = self.connections.get_mut(id) else {
                continue;
            };
            match outcome {
                Outcome::Park(parked, _) => {
                    if let Some(session) = conn.session.as_mut() {
                        self.service.abandon(&conn.peer, session, parked, now)
                    }
                }
                Outcome::Close(reason) | Outcome::CloseAfter(_, reason) => {
                    conn.close_reason = Some(reason)
                }
                // Shutting down: the answer leaves, nothing follows it to mute.
                Outcome::Done | Outcome::Mute(_) => {}
            }
        }
        // Frames read but not handled are dropped with their connections: the client sees
        // the connection close, not a response, and retries elsewhere or later.
        self.service.end_of_turn(now);
        let durable = self.service.shutdown(now);
        if durable.is_ok() {
            self.drain_output(now + SHUTDOWN_DRAIN);
        }
        let ids: Vec<usize> = self.connections.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.close(id, "shutting down");
        }
        durable
    }

    /// Writes pending responses until none is left or `deadline` passes.
    fn drain_output(&mut self, deadline: Instant) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let ids: Vec<usize> = self
                .connections
                .iter()
                .filter(|(_, c)| c.pending_output() > 0)
                .map(|(id, _)| id)
                .collect();
            for &id in &ids {
                self.flush(id);
            }
            let pending = self.connections.iter().any(|(_, c)| c.pending_output() > 0);
            let now = Instant::now();
            if !pending || now >= deadline {
                return;
            }
            let wait = (deadline - now).min(Duration::from_millis(10));
            if let Err(e) = self.poll.poll(&mut events, Some(wait))
                && e.kind() != ErrorKind::Interrupted
            {
                return;
            }
        }
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.rereads.is_empty() || !self.touched.is_empty() {
            return Some(Duration::ZERO);
        }
        let parked = self.parked.iter().filter_map(|&id| {
            let conn = self.connections.get(id)?;
            conn.parked.as_ref().map(|p| p.1).or(conn.muted_until)
        });
        parked
            .chain(self.service.next_timer())
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    fn accept_all(&mut self, index: usize) {
        loop {
            let Some((listener, _)) = self.listeners.get(index) else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => self.admit(stream, addr, index),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and similar: keep serving the connections we have.
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream, addr: SocketAddr, listener: usize) {
        if self.connections.len() >= self.limits.connections_max {
            if !std::mem::replace(&mut self.refusing_logged, true) {
                warn!(
                    "refusing connections: max.connections={} reached",
                    self.limits.connections_max
                );
            }
            debug!("refusing connection from {addr}: max.connections reached");
            return;
        }
        let ip = addr.ip();
        let (count, logged) = self.per_ip.get(&ip).copied().unwrap_or((0, false));
        if count >= self.limits.connections_per_ip_max {
            if !logged && let Some(entry) = self.per_ip.get_mut(&ip) {
                entry.1 = true;
                warn!(
                    "refusing connections from {ip}: max.connections.per.ip={} reached",
                    self.limits.connections_per_ip_max
                );
            }
            debug!("refusing connection from {addr}: max.connections.per.ip reached");
            return;
        }
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(e) => {
                debug!("dropping connection from {addr}: {e}");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = match self
            .listeners
            .get(listener)
            .and_then(|(_, tls)| tls.clone())
        {
            None => None,
            Some(config) => match ServerConnection::new(config) {
                Ok(mut tls) => {
                    tls.set_buffer_limit(Some(TLS_SEND_BUFFER_BYTES));
                    Some(Box::new(tls))
                }
                Err(e) => {
                    warn!("cannot start TLS for a connection from {addr}: {e}");
                    return;
                }
            },
        };
        let entry = self.connections.vacant_entry();
        let id = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(id), Interest::READABLE)
        {
            warn!("cannot register connection from {addr}: {e}");
            return;
        }
        debug!("connection {id} from {addr}");
        self.per_ip.insert(ip, (count + 1, logged));
        let peer = Peer {
            id,
            addr,
            local,
            listener,
        };
        // A plain connection is ready at once; a TLS one once its handshake completed.
        let session = match tls {
            None => Some(self.service.open(&peer, None)),
            Some(_) => None,
        };
        entry.insert(Connection {
            stream,
            tls,
            session,
            peer,
            input: Vec::new(),
            input_start: 0,
            output: Vec::new(),
            output_start: 0,
            deferred: DeferredBytes::new(),
            parked: None,
            muted_until: None,
            read_closed: false,
            writable_registered: false,
            read_pending: false,
            close_reason: None,
            closing: None,
            close_when_written: None,
            holds: VecDeque::new(),
            reserved: 0,
            counted: 0,
            queued: false,
        });
    }

    fn touch(&mut self, id: usize) {
        self.touched.push(id);
    }

    /// Reads until the socket would block, handling every complete frame as it arrives.
    fn read_and_handle(&mut self, id: usize) {
        self.touch(id);
        let Some(conn) = self.connections.get_mut(id) else {
            return;
        };
        // Touched, so flushed this turn: a lent buffer that stays empty goes back then.
        self.outputs.lend(&mut conn.output);
        // Frames already buffered go first (after a park or a full output buffer). Busy
        // again: read on once that clears, as below (frames may still be buffered).
        let going = handle_buffered(conn, &mut self.service, &self.limits, &mut self.parked);
        self.release_handled(id);
        if !going {
            if let Some(conn) = self.connections.get_mut(id) {
                conn.read_pending = true;
            }
            return;
        }
        let mut read_total = 0usize;
        loop {
            let conn = &mut self.connections[id];
            if conn.is_busy(&self.limits) {
                conn.read_pending = true;
                return;
            }
            if read_total >= self.limits.read_bytes_per_turn {
                conn.read_pending = true;
                self.rereads.push_back(id);
                return;
            }
            let direct = conn.pending_input().is_empty() && self.budget.is_none();
            let front = self.budget.as_ref().map(|b| b.waiting.front().copied());
            let read = if let Some(budget) = self.budget.as_mut() {
                read_budgeted(conn, budget, self.limits.frame_bytes_max)
            } else if direct {
                read_transport(&mut conn.stream, &mut conn.tls, &mut self.scratch)
            } else {
                read_into_input(conn, self.limits.frame_bytes_max)
            };
            if self.budget.as_ref().map(|b| b.waiting.front().copied()) != front {
                // A reservation was made or a waiting connection stepped aside: the next
                // one in the queue tries too.
                self.wake_waiting();
            }
            let conn = &mut self.connections[id];
            if conn.session.is_none()
                && let Some(tls) = conn.tls.as_ref()
                && !tls.is_handshaking()
            {
                let certificate = tls.peer_certificates().and_then(|c| c.first());
                let session = self
                    .service
                    .open(&conn.peer, certificate.map(|c| c.as_ref()));
                debug!("connection {id}: TLS handshake complete");
                conn.session = Some(session);
            }
            match read {
                Ok(0) => {
                    conn.read_closed = true;
                    if conn.pending_input().is_empty() && conn.pending_output() == 0 {
                        conn.close_reason
                            .get_or_insert_with(|| "peer closed".into());
                    }
                    return;
                }
                Ok(n) => {
                    read_total += n;
                    trace!("connection {id}: read {n} bytes");
                    if direct {
                        // Handle whole frames straight from the scratch buffer; only a
                        // partial frame's bytes are copied into the connection.
                        let scratch = &self.scratch[..n];
                        let used = handle_frames(
                            conn,
                            scratch,
                            &mut self.service,
                            &self.limits,
                            &mut self.parked,
                        );
                        if conn.close_reason.is_none() {
                            conn.input.extend_from_slice(&scratch[used..]);
                        }
                        // A plain socket that filled less than the buffer is drained: the
                        // next byte to arrive is a new edge (with EPOLLRDHUP, a close is
                        // one too), so the read that would only say WouldBlock is skipped.
                        if conn.tls.is_none() && n < self.scratch.len() {
                            if conn.is_busy(&self.limits) {
                                conn.read_pending = true;
                            }
                            return;
                        }
                    } else {
                        let going = handle_buffered(
                            conn,
                            &mut self.service,
                            &self.limits,
                            &mut self.parked,
                        );
                        self.release_handled(id);
                        if !going {
                            if let Some(conn) = self.connections.get_mut(id) {
                                conn.read_pending = true;
                            }
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    conn.close_reason = Some(format!("read error: {e}"));
                    return;
                }
            }
        }
    }

    /// End of a turn: held-back reads, the service's step, timers and parked requests, and
    /// only then the writes and closes.
    fn finish_turn(&mut self) {
        // Connections that stopped reading for a reason that has since cleared.
        for _ in 0..self.rereads.len() {
            let Some(id) = self.rereads.pop_front() else {
                break;
            };
            let ready = self
                .connections
                .get(id)
                .is_some_and(|c| c.read_pending && !c.is_busy(&self.limits));
            if ready {
                self.connections[id].read_pending = false;
                self.read_and_handle(id);
            }
        }
        let now = Instant::now();
        self.service.end_of_turn(now);
        if self.service.next_timer().is_some_and(|at| at <= now) {
            self.service.on_timer(now);
        }
        // Resumed requests only read state, so their answers need no further step.
        self.resume_parked(now);
        self.release_held();
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &id in &touched {
            self.flush(id);
        }
        touched.clear();
        // Connections the write cap stopped go on next turn.
        touched.append(&mut self.touched);
        self.touched = touched;
    }

    /// Connections whose held responses may go: the service completed tickets.
    fn release_held(&mut self) {
        let completed = self.service.completed_ticket();
        if completed == self.completed_ticket {
            return;
        }
        self.completed_ticket = completed;
        let held = self.connections.iter().filter(|(_, c)| !c.holds.is_empty());
        self.touched.extend(held.map(|(id, _)| id));
    }

    fn resume_parked(&mut self, now: Instant) {
        if self.parked.is_empty() {
            return;
        }
        let epoch = self.service.epoch();
        let epoch_changed = epoch != self.parked_epoch;
        self.parked_epoch = epoch;
        let mut ids = std::mem::take(&mut self.parked);
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let Some(conn) = self.connections.get_mut(id) else {
                continue;
            };
            if let Some(until) = conn.muted_until {
                // A mute follows a finished request, so a muted connection parks nothing.
                if until <= now
                    && let Some((response, reason, ticket)) = conn.closing.take()
                {
                    // A lingering refusal: its response leaves now (once its ticket, if
                    // any, completes), then the connection closes.
                    conn.muted_until = None;
                    if ticket > self.service.completed_ticket() && !response.is_empty() {
                        conn.holds.push_back((conn.output.len(), ticket));
                    }
                    conn.output.extend_from_slice(&response);
                    conn.close_when_written = Some(reason);
                    self.touched.push(id);
                } else if until <= now {
                    conn.muted_until = None;
                    conn.read_pending = true;
                    self.rereads.push_back(id);
                } else {
                    self.parked.push(id);
                }
                continue;
            }
            let Some((_, deadline)) = conn.parked.as_ref() else {
                continue;
            };
            let expired = *deadline <= now;
            if !expired && !epoch_changed {
                self.parked.push(id);
                continue;
            }
            let Some((outcome, start)) = self.resume_one(id, now, expired) else {
                continue;
            };
            let Some(conn) = self.connections.get_mut(id) else {
                continue;
            };
            apply_outcome(conn, outcome, &mut self.parked, start);
            if conn.output.is_empty() {
                self.outputs.give_back(&mut conn.output);
            }
            if conn.parked.is_none() {
                self.touched.push(id);
                self.rereads.push_back(id);
                conn.read_pending = true;
            }
        }
    }

    /// Resumes connection `id`'s parked request (`expired`: its deadline passed), its
    /// response appended to the connection's output and held for its ticket. Returns the
    /// outcome and where the response starts; `None` without a parked request or session.
    fn resume_one(
        &mut self,
        id: usize,
        now: Instant,
        expired: bool,
    ) -> Option<(Outcome<S::Parked>, usize)> {
        let conn = self.connections.get_mut(id)?;
        let session = conn.session.as_mut()?;
        let (parked, _) = conn.parked.take()?;
        self.outputs.lend(&mut conn.output);
        let start = conn.output.len();
        let deferred = conn.tls.is_none().then_some(&mut conn.deferred);
        let outcome = self.service.resume(
            &conn.peer,
            session,
            parked,
            &mut conn.output,
            deferred,
            now,
            expired,
        );
        hold(conn, &self.service, start);
        Some((outcome, start))
    }

    /// Writes pending output (up to the per-turn cap), updates interest, closes if due.
    fn flush(&mut self, id: usize) {
        let Some(conn) = self.connections.get_mut(id) else {
            return;
        };
        let was_busy = conn.is_busy(&self.limits);
        let completed = self.service.completed_ticket();
        while conn
            .holds
            .front()
            .is_some_and(|&(_, ticket)| ticket <= completed)
        {
            conn.holds.pop_front();
        }
        let writable_end = conn
            .holds
            .front()
            .map_or(conn.output.len(), |&(at, _)| at.min(conn.output.len()));
        let mut written = 0;
        // The cap is checked between writes and never shortens one: each write offers all
        // the pending output, so a response the socket takes goes out in one call, and a
        // turn writes at most the cap plus one socket buffer.
        while conn.has_writable(writable_end) && written < self.limits.write_bytes_per_turn {
            // Plain TCP: the buffer's bytes up to the next file bytes, then those.
            let bytes_end = conn
                .deferred
                .front()
                .map_or(writable_end, |d| d.at.min(writable_end));
            let from_file = conn.tls.is_none() && conn.output_start == bytes_end;
            let result = match conn.tls.as_mut() {
                None if from_file => send_deferred(&mut conn.deferred, &conn.stream),
                None => conn
                    .stream
                    .write(&conn.output[conn.output_start..bytes_end]),
                // TLS: plaintext goes into rustls (up to its buffer limit) and the records
                // it made go to the socket; output stays in `output` while rustls is full.
                // Held output never reaches rustls: it is encrypted only once released.
                Some(tls) => {
                    if conn.output_start < writable_end && !tls.is_handshaking() {
                        match tls
                            .writer()
                            .write(&conn.output[conn.output_start..writable_end])
                        {
                            Ok(taken) => conn.output_start += taken,
                            Err(e) => {
                                conn.close_reason = Some(format!("TLS write error: {e}"));
                                break;
                            }
                        }
                    }
                    if !tls.wants_write() {
                        break;
                    }
                    tls.write_tls(&mut conn.stream)
                }
            };
            match result {
                Ok(0) => {
                    conn.close_reason = Some("write returned zero".into());
                    break;
                }
                Ok(n) => {
                    if conn.tls.is_none() && !from_file {
                        conn.output_start += n;
                    }
                    written += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    conn.close_reason = Some(format!("write error: {e}"));
                    break;
                }
            }
        }
        if conn.pending_output() == 0
            && !conn.tls_wants_write()
            && let Some(reason) = conn.close_when_written.take()
        {
            // Unread input at close makes the kernel reset the connection, and a reset can
            // discard the answer before the client reads it: drop what the client sent
            // meanwhile (a bounded amount) so the close is a FIN after the answer.
            for _ in 0..4 {
                match conn.stream.read(&mut self.scratch) {
                    Ok(n) if n > 0 => continue,
                    _ => break,
                }
            }
            conn.close_reason = Some(reason);
        }
        if conn.pending_output() == 0 {
            conn.output_start = 0;
            conn.output.clear();
            self.outputs.give_back(&mut conn.output);
        } else if conn.output_start > conn.output.len() / 2 {
            conn.output.drain(..conn.output_start);
            for (at, _) in conn.holds.iter_mut() {
                *at -= conn.output_start;
            }
            for d in conn.deferred.iter_mut() {
                d.at -= conn.output_start;
            }
            conn.output_start = 0;
        }
        if conn.read_closed && conn.close_reason.is_none() {
            if conn.parked.is_some() {
                // Nobody is left to answer: hand the waiting request back (Service::abandon).
                conn.close_reason = Some("peer closed while a request waited".into());
            } else if conn.pending_output() == 0 {
                conn.close_reason = Some("peer closed".into());
            }
        }
        if let Some(reason) = conn.close_reason.take() {
            // Whatever output was already accepted for a closing connection is dropped.
            self.close(id, &reason);
            return;
        }
        // Held output waits for the service's ticket, not for the socket. What is left to
        // write is measured after the writes (and the compaction above): interest in
        // writability stays off while nothing is left (turning it on, edge-triggered, would
        // report the socket writable at once, and the turn after would turn it off again).
        let writable_end = conn
            .holds
            .front()
            .map_or(conn.output.len(), |&(at, _)| at.min(conn.output.len()));
        let want_writable = conn.has_writable(writable_end);
        if want_writable != conn.writable_registered {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(id), interest)
            {
                self.close(id, &format!("reregister failed: {e}"));
                return;
            }
            conn.writable_registered = want_writable;
        }
        if conn.has_writable(writable_end) && written >= self.limits.write_bytes_per_turn {
            // The cap, not the socket, stopped us: continue next turn without an event.
            self.touched.push(id);
        }
        if was_busy && conn.read_pending && !conn.is_busy(&self.limits) {
            self.rereads.push_back(id);
        }
    }

    /// A budgeted connection whose frame was handled (its input emptied) gives back the
    /// frame's reservation, and the connection waiting first for budget tries again.
    fn release_handled(&mut self, id: usize) {
        let (Some(budget), Some(conn)) = (self.budget.as_mut(), self.connections.get_mut(id))
        else {
            return;
        };
        let buffered = conn.pending_input().len();
        budget.count(&mut conn.counted, buffered);
        if conn.reserved > 0 && buffered == 0 {
            budget.reserved -= std::mem::take(&mut conn.reserved);
            self.wake_waiting();
        }
    }

    /// The connection at the front of the budget's queue reads again (this turn); entries
    /// of connections no longer waiting (closed, or their id reused) are dropped first.
    fn wake_waiting(&mut self) {
        let Some(budget) = self.budget.as_mut() else {
            return;
        };
        while let Some(&front) = budget.waiting.front() {
            match self.connections.get_mut(front) {
                Some(conn) if conn.queued => {
                    conn.read_pending = true;
                    self.rereads.push_back(front);
                    return;
                }
                _ => {
                    budget.waiting.pop_front();
                }
            }
        }
    }

    fn close(&mut self, id: usize, reason: &str) {
        if let Some(mut conn) = self.connections.try_remove(id) {
            debug!("closing connection {id} from {}: {reason}", conn.peer.addr);
            if let Some(budget) = self.budget.as_mut() {
                budget.reserved -= conn.reserved;
                budget.count(&mut conn.counted, 0);
                let was_front = budget.waiting.front() == Some(&id);
                budget.leave_front(id, &mut conn.queued);
                if budget.waiting.len() > 2 * self.connections.len() + 64 {
                    // Entries of closed connections, compacted now and then (amortized
                    // constant work per close).
                    let connections = &self.connections;
                    budget
                        .waiting
                        .retain(|&w| connections.get(w).is_some_and(|c| c.queued));
                }
                if conn.reserved > 0 || was_front {
                    self.wake_waiting();
                }
            }
            self.refusing_logged = false;
            let ip = conn.peer.addr.ip();
            if let Some((count, logged)) = self.per_ip.get_mut(&ip) {
                *count -= 1;
                *logged = false;
                if *count == 0 {
                    self.per_ip.remove(&ip);
                }
            }
            let _ = self.poll.registry().deregister(&mut conn.stream);
            if let Some((parked, _)) = conn.parked.take()
                && let Some(session) = conn.session.as_mut()
            {
                self.service
                    .abandon(&conn.peer, session, parked, Instant::now());
            }
        }
    }
}

/// Sends the first deferred file bytes (they are next in the output stream), as far as the
/// socket takes them.
fn send_deferred(deferred: &mut DeferredBytes, stream: &TcpStream) -> io::Result<usize> {
    let Some(d) = deferred.front_mut() else {
        return Ok(0);
    };
    let n = d.source.send_to(stream.as_fd(), d.sent)?;
    d.sent += n;
    if d.sent == d.source.len() {
        deferred.pop_front();
    }
    Ok(n)
}

/// Reads into the connection's own buffer (used while a partial frame is pending), growing
/// it to the size the pending frame needs but never past the frame limit.
fn read_into_input<P, X>(conn: &mut Connection<P, X>, frame_bytes_max: usize) -> io::Result<usize> {
    if conn.input_start > 0 {
        conn.input.drain(..conn.input_start);
        conn.input_start = 0;
    }
    let filled = conn.input.len();
    let needed = match frame_size(&conn.input) {
        Some(size) => 4 + size.min(frame_bytes_max),
        None => 4,
    };
    // Grow toward the frame's size only as its bytes arrive (at most doubling what is
    // here), so a size prefix alone cannot make us allocate the whole frame.
    let step = READ_CHUNK_BYTES
        .max(filled)
        .min(needed.saturating_sub(filled).max(1));
    conn.input.resize(filled + step, 0);
    let result = read_transport(&mut conn.stream, &mut conn.tls, &mut conn.input[filled..]);
    let n = *result.as_ref().unwrap_or(&0);
    conn.input.truncate(filled + n);
    result
}

/// Reads a connection's next bytes under the input budget (see [`InputBudget`]): its size
/// prefix only when no connection waits for budget before it, its frame's body only once the
/// whole frame is reserved, and never past the frame. `WouldBlock` while it waits.
fn read_budgeted<P, X>(
    conn: &mut Connection<P, X>,
    budget: &mut InputBudget,
    frame_bytes_max: usize,
) -> io::Result<usize> {
    let id = conn.peer.id;
    if conn.reserved == 0 {
        match frame_size(conn.pending_input()) {
            None if !budget.may_read_prefix(id, &mut conn.queued) => {
                return Err(ErrorKind::WouldBlock.into());
            }
            None => {}
            Some(size) => {
                let frame = 4 + size.min(frame_bytes_max);
                if !budget.try_reserve(id, frame, &mut conn.queued) {
                    return Err(ErrorKind::WouldBlock.into());
                }
                conn.reserved = frame;
                if conn.input_start > 0 {
                    conn.input.drain(..conn.input_start);
                    conn.input_start = 0;
                }
                // The frame's whole size at once, as Kafka's pool allocates it: its reads
                // never grow the buffer past it.
                conn.input
                    .reserve_exact(frame.saturating_sub(conn.input.len()));
            }
        }
    }
    let result = read_into_input(conn, frame_bytes_max);
    let pending = conn.pending_input().len();
    budget.count(&mut conn.counted, pending);
    if conn.reserved == 0 && frame_size(conn.pending_input()).is_none() {
        // Its prefix has not (all) arrived: it steps aside rather than hold up the queue
        // (its socket's next event brings it back).
        budget.leave_front(id, &mut conn.queued);
    }
    result
}

/// Reads plaintext: from the socket, or through TLS (records are read from the socket and
/// decrypted until plaintext is available or the socket would block). `Ok(0)` is the end.
fn read_transport(
    stream: &mut TcpStream,
    tls: &mut Option<Box<ServerConnection>>,
    buf: &mut [u8],
) -> io::Result<usize> {
    let Some(tls) = tls else {
        return stream.read(buf);
    };
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            // Closed without close_notify: the end, as for a plain socket.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
        // rustls holds at most one record's worth of undecrypted bytes per read_tls, and
        // refuses more while its plaintext is unread: a handshake or a partial record is
        // bounded like a partial frame.
        if tls.read_tls(stream)? == 0 {
            return Ok(0);
        }
        if let Err(e) = tls.process_new_packets() {
            // Tell the client why (an alert), best effort: the connection closes next.
            let _ = tls.write_tls(stream);
            return Err(io::Error::new(ErrorKind::InvalidData, format!("TLS: {e}")));
        }
    }
}

fn frame_size(buf: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    // Negative sizes become huge and fail the limit check.
    Some(i32::from_be_bytes(prefix) as u32 as usize)
}

/// Handles the frames held in the connection's own buffer. Returns false if the connection
/// must stop (busy or closing).
fn handle_buffered<S: Service>(
    conn: &mut Connection<S::Parked, S::Session>,
    service: &mut S,
    limits: &Limits,
    parked: &mut Vec<usize>,
) -> bool {
    if !conn.pending_input().is_empty() {
        let input = std::mem::take(&mut conn.input);
        let used = handle_frames(conn, &input[conn.input_start..], service, limits, parked);
        conn.input = input;
        conn.input_start += used;
        if conn.input_start == conn.input.len() {
            conn.input.clear();
            conn.input_start = 0;
            if conn.input.capacity() > BUFFER_KEEP_BYTES {
                conn.input = Vec::new();
            }
        }
    }
    !conn.is_busy(limits)
}

/// Handles complete frames from `bytes` in order until one is incomplete or the connection
/// becomes busy. Returns how many bytes were consumed.
fn handle_frames<S: Service>(
    conn: &mut Connection<S::Parked, S::Session>,
    bytes: &[u8],
    service: &mut S,
    limits: &Limits,
    parked: &mut Vec<usize>,
) -> usize {
    let mut used = 0;
    while !conn.is_busy(limits) {
        let rest = &bytes[used..];
        let Some(size) = frame_size(rest) else { break };
        if size > limits.frame_bytes_max {
            conn.close_reason = Some(format!(
                "frame of {} bytes exceeds socket.request.max.bytes={}",
                i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                limits.frame_bytes_max
            ));
            return used;
        }
        if let Some(max) = (conn.session.as_ref()).and_then(|s| service.frame_bytes_max(s))
            && size > max
        {
            conn.close_reason = Some(format!(
                "frame of {size} bytes before authentication exceeds \
                 sasl.server.max.receive.size={max}"
            ));
            return used;
        }
        let Some(frame) = rest.get(4..4 + size) else {
            break;
        };
        let Some(session) = conn.session.as_mut() else {
            break;
        };
        used += 4 + size;
        let start = conn.output.len();
        // File bytes only on plain TCP: TLS must encrypt every byte itself.
        let deferred = conn.tls.is_none().then_some(&mut conn.deferred);
        let outcome = service.call(
            &conn.peer,
            session,
            frame,
            &mut conn.output,
            deferred,
            Instant::now(),
        );
        hold(conn, service, start);
        apply_outcome(conn, outcome, parked, start);
    }
    used
}

/// Holds the response that starts at `start` until the service's ticket for it completes.
fn hold<S: Service>(conn: &mut Connection<S::Parked, S::Session>, service: &S, start: usize) {
    let ticket = service.ticket();
    if conn.output.len() > start && ticket > service.completed_ticket() {
        conn.holds.push_back((start, ticket));
    }
}

/// Applies what the service did with a request whose response began at `output[start]`.
fn apply_outcome<P, X>(
    conn: &mut Connection<P, X>,
    outcome: Outcome<P>,
    parked: &mut Vec<usize>,
    start: usize,
) {
    match outcome {
        Outcome::Done => {}
        Outcome::Mute(until) => {
            conn.muted_until = Some(until);
            parked.push(conn.peer.id);
        }
        Outcome::Park(p, deadline) => {
            conn.parked = Some((p, deadline));
            parked.push(conn.peer.id);
        }
        Outcome::Close(reason) => conn.close_reason = Some(reason),
        Outcome::CloseAfter(until, reason) => {
            let mut response = conn.output.split_off(start.min(conn.output.len()));
            // Held for later: its file bytes (if any) are copied into it.
            let first = conn.deferred.partition_point(|d| d.at <= start);
            let files = conn.deferred.split_off(first);
            if !files.is_empty() {
                let mut copied = Vec::with_capacity(response.len());
                let mut from = 0;
                for d in files {
                    let at = d.at - start;
                    copied.extend_from_slice(&response[from..at]);
                    d.source.copy_to(d.sent, &mut copied);
                    from = at;
                }
                copied.extend_from_slice(&response[from..]);
                response = copied;
            }
            // Its hold (if it waits for a ticket) goes with it and comes back with it.
            let mut ticket = 0;
            while conn.holds.back().is_some_and(|&(at, _)| at >= start) {
                if let Some((_, t)) = conn.holds.pop_back() {
                    ticket = ticket.max(t);
                }
            }
            conn.closing = Some((response, reason, ticket));
            conn.muted_until = Some(until);
            parked.push(conn.peer.id);
        }
    }
}
