//! The broker: the [`Service`] the event loop drives. It decodes each request's header,
//! checks the version against the one table of supported APIs, dispatches to the API's
//! handler and frames the response. It keeps no per-connection state: a waiting request is
//! handed to the loop as its own frame and handled again later.

use std::io;
use std::time::{Duration, Instant};

use log::{Level, debug, error, info, log_enabled};

use crate::apis::{self, Entry, Failure, Served};
use crate::config::Config;
use crate::context::{Context, Wait};
use crate::coordinator::Coordinator;
use crate::protocol::codec::Reader;
use crate::protocol::header::{RequestHeader, RequestPrefix, begin_frame, finish_frame};
use crate::protocol::versions::{API_VERSIONS, ApiSpec};
use crate::protocol::wire::DeferredBytes;
use crate::quotas::Quotas;
use crate::security::{Gate, Security, Session};
use crate::server::{Outcome, Peer, Service};
use crate::storage::Storage;
use crate::transactions::{Transactions, TxnConfig};

pub struct Broker {
    /// The configuration in effect: `server.properties` with the dynamic broker configs of
    /// the metadata log over it, rebuilt whenever those change.
    pub config: Config,
    pub storage: Storage,
    pub coordinator: Coordinator,
    pub quotas: Quotas,
    /// The listeners' SASL settings.
    pub security: Security,
    next_retention_check: Instant,
    /// The storage's broker-config epoch `config` was built at.
    config_epoch: u64,
    /// The instant of the latest turn's end (what the cleaner's timer is measured from).
    turn_ended: Instant,
    /// When expired committed offsets are next looked for
    /// (`offsets.retention.check.interval.ms`).
    next_offsets_expiry: Instant,
    /// The sync ticket the latest request's response waits for (0: none).
    ticket: u64,
}

/// A request waiting for a condition: its own frame, handled again on resume, and what its
/// handler noted when it parked.
pub struct Parked {
    frame: Vec<u8>,
    deadline: Instant,
    memo: Option<String>,
}

impl Broker {
    pub fn open(config: Config) -> io::Result<Broker> {
        let storage = Storage::open(&config)?;
        let mut coordinator = Coordinator::new(Duration::from_millis(
            config.group_initial_rebalance_delay_ms,
        ));
        coordinator.group_size_max = config.group_max_size;
        // Consumer groups (KIP-848) come back from their records in `__consumer_offsets`.
        let session = crate::configs::GroupConfig::resolve(None, &config.properties)
            .consumer_session_timeout_ms;
        coordinator.consumer = crate::consumer_groups::ConsumerGroups::restore(
            storage.group_records(),
            Duration::from_millis(session.max(0) as u64),
            Instant::now(),
        );
        let quotas = Quotas::new(&config, storage.client_quotas(), Instant::now());
        let security =
            Security::new(&config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        // The transaction coordinator comes back from `__transaction_state`; prepared
        // transactions are completed by the first timer turn.
        let mut transactions = Transactions::restore(storage.read_txn_log()?);
        transactions.config = TxnConfig::from_properties(&config.properties);
        transactions.next_abort_check = Some(Instant::now());
        transactions.next_expiry_check = Some(Instant::now());
        coordinator.transactions = transactions;
        let mut broker = Broker {
            security,
            next_retention_check: Instant::now() + retention_interval(&config),
            config,
            storage,
            coordinator,
            quotas,
            config_epoch: u64::MAX,
            turn_ended: Instant::now(),
            next_offsets_expiry: Instant::now(),
            ticket: 0,
        };
        broker.refresh_config();
        Ok(broker)
    }

    /// Rebuilds the effective configuration if a dynamic broker config changed, and hands
    /// storage the settings it copies.
    fn refresh_config(&mut self) {
        let epoch = self.storage.broker_config_epoch();
        if epoch == self.config_epoch {
            return;
        }
        use crate::storage::dynamic::RESOURCE_BROKER;
        let node = self.config.node_id.to_string();
        self.config = self.config.with_dynamic(
            self.storage.resource_configs(RESOURCE_BROKER, ""),
            self.storage.resource_configs(RESOURCE_BROKER, &node),
        );
        self.storage.apply_log_defaults(&self.config);
        self.config_epoch = epoch;
    }

    /// When the log cleaner next wants a slice: at once while a pass is under way, else
    /// when its back-off ends.
    fn next_cleaning(&self) -> Instant {
        let now = self.turn_ended;
        let cleaner = self.storage.cleaner();
        if cleaner.busy() {
            return now;
        }
        let wait_ms = cleaner.idle_until_ms() - crate::storage::now_ms();
        now + Duration::from_millis(wait_ms.max(0) as u64)
    }

    /// What a handler of this request may see.
    #[allow(clippy::too_many_arguments)]
    fn context<'b>(
        &'b mut self,
        peer: &Peer,
        session: &'b mut Session,
        header: &RequestHeader<'b>,
        request_bytes: usize,
        now: Instant,
        wait: Wait,
        memo: Option<&'b str>,
    ) -> Context<'b> {
        Context {
            config: &self.config,
            storage: &mut self.storage,
            coordinator: &mut self.coordinator,
            quotas: &mut self.quotas,
            security: &self.security,
            session,
            version: header.prefix.api_version,
            client_id: header.client_id,
            client_addr: peer.addr,
            local_addr: peer.local,
            now,
            wait,
            memo,
            request_bytes,
            throttle_ms: 0,
        }
    }

    /// Handles one request frame; `wait` says whether it may park.
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &mut self,
        peer: &Peer,
        session: &mut Session,
        frame: &[u8],
        (out, mut deferred): (&mut Vec<u8>, Option<&mut DeferredBytes>),
        now: Instant,
        wait: Wait,
        memo: Option<&str>,
    ) -> Outcome<Parked> {
        let (entry, header, body) = match parse(frame) {
            Ok(parsed) => parsed,
            Err(Refusal::Close(reason)) => return Outcome::Close(reason),
            Err(Refusal::Unsupported(entry, prefix)) => {
                return unsupported(&entry.spec, prefix, out);
            }
        };
        let prefix = header.prefix;
        let spec = &entry.spec;
        let linger = now + Duration::from_millis(self.security.failed_authentication_delay_ms);
        match crate::security::gate(session, spec, now) {
            Gate::Pass => {}
            Gate::Close(reason) => return Outcome::Close(reason),
            Gate::Linger(reason) => return Outcome::CloseAfter(linger, reason),
        }
        let mut ctx = self.context(peer, session, &header, frame.len(), now, wait, memo);
        let start = begin_frame(
            out,
            prefix.correlation_id,
            spec.response_header_flexible(prefix.api_version),
        );
        let mark = deferred.as_ref().map_or(0, |d| d.len());
        let served = (entry.serve)(&mut ctx, body, out, deferred.as_deref_mut());
        let answered = matches!(served, Ok(Served::Body));
        // A client over its quota: answered now, then its connection is muted (KIP-219).
        let done = match ctx.throttle_ms {
            _ if std::mem::take(&mut ctx.session.failed) => {
                Outcome::CloseAfter(linger, "authentication failed".into())
            }
            ms if ms > 0 => Outcome::Mute(now + Duration::from_millis(ms as u64)),
            _ => Outcome::Done,
        };
        self.refresh_config();
        let outcome = match served {
            Ok(Served::Body) => {
                let deferred_len = deferred.as_ref().map_or(0, |d| {
                    d.range(mark..).map(|d| d.source.len()).sum::<usize>()
                });
                finish_frame(out, start, deferred_len);
                done
            }
            Ok(Served::Nothing) => {
                out.truncate(start);
                done
            }
            Ok(Served::Park { deadline, memo }) => {
                out.truncate(start);
                Outcome::Park(
                    Parked {
                        frame: frame.to_vec(),
                        deadline,
                        memo,
                    },
                    deadline,
                )
            }
            Err(Failure::Decode(e)) => {
                out.truncate(start);
                Outcome::Close(format!(
                    "{} v{} request body: {e}",
                    spec.name, prefix.api_version
                ))
            }
            Err(Failure::Encode(e)) => {
                out.truncate(start);
                error!("{} v{} response: {e}", spec.name, prefix.api_version);
                Outcome::Close(format!(
                    "{} v{} response could not be encoded",
                    spec.name, prefix.api_version
                ))
            }
        };
        if !answered && let Some(d) = deferred {
            d.truncate(mark);
        }
        if log_enabled!(Level::Debug) {
            let what = match &outcome {
                Outcome::Done => "",
                Outcome::Mute(..) => " (throttled)",
                Outcome::Park(..) => " (waiting)",
                Outcome::Close(_) | Outcome::CloseAfter(..) => " (closing)",
            };
            debug!(
                "{} {} v{} correlation={} client={:?} bytes={} took={}us{what}",
                peer.addr,
                spec.name,
                prefix.api_version,
                prefix.correlation_id,
                header.client_id.unwrap_or("-"),
                frame.len() + 4,
                now.elapsed().as_micros()
            );
        }
        outcome
    }
}

/// How often retention runs (`log.retention.check.interval.ms`).
fn retention_interval(config: &Config) -> Duration {
    Duration::from_millis(config.log_retention_check_interval_ms)
}

/// Why a frame gets no ordinary answer.
enum Refusal {
    Close(String),
    Unsupported(&'static Entry, RequestPrefix),
}

/// The frame's API, header and body.
fn parse(frame: &[u8]) -> Result<(&'static Entry, RequestHeader<'_>, &[u8]), Refusal> {
    let mut r = Reader::new(frame);
    let Ok(prefix) = RequestPrefix::decode(&mut r.clone()) else {
        return Err(Refusal::Close(format!(
            "frame of {} bytes is too short for a header",
            frame.len()
        )));
    };
    let Some(entry) = apis::lookup(prefix.api_key) else {
        return Err(Refusal::Close(format!(
            "unknown api key {}",
            prefix.api_key
        )));
    };
    let spec = &entry.spec;
    if !spec.supports(prefix.api_version) {
        return Err(Refusal::Unsupported(entry, prefix));
    }
    match RequestHeader::decode(&mut r, spec.request_header_flexible(prefix.api_version)) {
        Ok(header) => Ok((entry, header, r.rest())),
        Err(e) => Err(Refusal::Close(format!("{} request header: {e}", spec.name))),
    }
}

impl Service for Broker {
    type Parked = Parked;
    type Session = Session;

    fn open(&mut self, peer: &Peer, peer_certificate: Option<&[u8]>) -> Session {
        let protocol = self
            .security
            .listener(peer.listener)
            .map_or(crate::config::SecurityProtocol::Plaintext, |l| l.protocol);
        // SSL: the client certificate's subject (SASL_SSL: the SASL identity, later).
        let principal = match protocol {
            crate::config::SecurityProtocol::Ssl => peer_certificate
                .and_then(crate::security::tls::subject_dn)
                .map(|dn| format!("User:{dn}")),
            _ => None,
        };
        debug!(
            "{} on listener {}: {}",
            peer.addr,
            peer.listener,
            principal.as_deref().unwrap_or(crate::security::ANONYMOUS)
        );
        Session::new(peer.listener, protocol, principal)
    }

    fn call(
        &mut self,
        peer: &Peer,
        session: &mut Session,
        frame: &[u8],
        out: &mut Vec<u8>,
        deferred: Option<&mut DeferredBytes>,
        now: Instant,
    ) -> Outcome<Parked> {
        // What the turn's own appends (timers, group records) asked for is no request's.
        self.storage.take_unowned_ticket();
        let outcome = self.handle(
            peer,
            session,
            frame,
            (out, deferred),
            now,
            Wait::Allowed,
            None,
        );
        self.note_ticket();
        outcome
    }

    fn resume(
        &mut self,
        peer: &Peer,
        session: &mut Session,
        parked: Parked,
        out: &mut Vec<u8>,
        deferred: Option<&mut DeferredBytes>,
        now: Instant,
        expired: bool,
    ) -> Outcome<Parked> {
        let wait = if expired {
            Wait::Expired
        } else {
            Wait::Until(parked.deadline)
        };
        self.storage.take_unowned_ticket();
        let outcome = self.handle(
            peer,
            session,
            &parked.frame,
            (out, deferred),
            now,
            wait,
            parked.memo.as_deref(),
        );
        self.note_ticket();
        outcome
    }

    fn abandon(&mut self, peer: &Peer, session: &mut Session, parked: Parked, now: Instant) {
        let Ok((entry, header, body)) = parse(&parked.frame) else {
            return;
        };
        debug!("{} {} abandoned while waiting", peer.addr, entry.spec.name);
        let request_bytes = parked.frame.len();
        let mut ctx = self.context(
            peer,
            session,
            &header,
            request_bytes,
            now,
            Wait::Expired,
            parked.memo.as_deref(),
        );
        (entry.abandon)(&mut ctx, body);
    }

    fn ticket(&self) -> u64 {
        self.ticket
    }

    fn completed_ticket(&self) -> u64 {
        self.storage.completed_ticket()
    }

    fn frame_bytes_max(&self, session: &Session) -> Option<usize> {
        (!session.authenticated()).then_some(self.security.sasl_max_receive_bytes)
    }

    fn ready_fd(&self) -> Option<std::os::fd::RawFd> {
        self.storage.sync_fd()
    }

    fn poll_budget(&self, now: Instant) -> Option<Duration> {
        self.storage.sync_poll_budget(now)
    }

    /// Data syncs completed: acknowledgements waiting for them may leave.
    fn on_ready(&mut self, _now: Instant) {
        if let Err(e) = self.storage.reap_syncs() {
            sync_failed(&e);
        }
    }

    /// The group commit: the data syncs of every partition appended to this turn are
    /// submitted together; acknowledgements that need them leave once they complete.
    fn end_of_turn(&mut self, now: Instant) {
        self.turn_ended = now;
        // Consumer groups changed this turn are written before the turn's fsync, so no
        // heartbeat is answered before its group's records are durable.
        for (group, records) in self.coordinator.consumer.take_changes() {
            if let Err(e) = self.storage.write_group_records(&group, records) {
                error!("writing the records of consumer group {group}: {e:?}");
            }
        }
        let synced = match self.storage.reap_syncs() {
            Ok(()) if self.storage.sync_due(now) => self.storage.submit_syncs(now),
            other => other,
        };
        if let Err(e) = synced {
            sync_failed(&e);
        }
    }

    /// Syncs every partition with unsynced appends and writes Kafka's clean-shutdown marker.
    fn shutdown(&mut self, now: Instant) -> std::io::Result<()> {
        let result = self.storage.shutdown(now);
        match &result {
            Ok(()) => info!("clean shutdown: log dir synced, marker written"),
            Err(e) => error!("shutdown: {e}; the next start recovers as after a crash"),
        }
        result
    }

    fn epoch(&self) -> u64 {
        self.storage.epoch.wrapping_add(self.coordinator.epoch)
    }

    fn next_timer(&self) -> Option<Instant> {
        [
            Some(self.next_retention_check),
            Some(self.next_cleaning()),
            Some(self.next_offsets_expiry),
            self.storage.next_flush(),
            // The test hook holds completed syncs: look again soon.
            self.storage
                .syncs_held()
                .then(|| self.turn_ended + Duration::from_millis(5)),
            self.coordinator.next_deadline(),
            self.coordinator.transactions.next_deadline(self.turn_ended),
            // Deleted partitions' directories go a bounded step per turn, turn after turn.
            self.storage.deletions_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timer(&mut self, now: Instant) {
        if now >= self.next_retention_check {
            self.storage.enforce_retention();
            self.quotas.expire(now);
            self.next_retention_check = now + retention_interval(&self.config);
        }
        if self.storage.deletions_pending() {
            self.storage.remove_deleted();
        }
        if now >= self.next_offsets_expiry {
            let setting = |key: &str, default: i64| {
                self.config
                    .properties
                    .get(key)
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .unwrap_or(default)
            };
            let retention_ms = setting("offsets.retention.ms", 604_800_000);
            let interval_ms = setting("offsets.retention.check.interval.ms", 600_000).max(1);
            let coordinator = &self.coordinator;
            self.storage
                .expire_offsets(crate::storage::now_ms(), retention_ms, |group| {
                    coordinator
                        .group(group)
                        .is_some_and(|g| !g.members.is_empty())
                });
            let storage = &self.storage;
            let gone = self
                .coordinator
                .remove_dead_groups(|group| storage.committed(group).is_some());
            if gone > 0 {
                info!("removed {gone} groups with no members and no offsets");
            }
            self.next_offsets_expiry = now + Duration::from_millis(interval_ms as u64);
        }
        // A slice of the cleaner's work, if a pass is under way or its back-off ended.
        self.storage.clean_slice(crate::storage::now_ms());
        self.coordinator.tick(now);
        apis::txn_common::on_timer(&mut self.storage, &mut self.coordinator.transactions, now);
        self.end_of_turn(now);
    }
}

impl Broker {
    /// Notes what the response just produced waits for: the syncs of what it appended, or
    /// this turn's batch when a consumer group changed (its records are written at the end
    /// of the turn).
    fn note_ticket(&mut self) {
        if self.coordinator.consumer.has_changes() {
            self.storage.need_turn_sync();
        }
        self.ticket = self.storage.take_needed_ticket();
    }
}

/// The page cache's state is unknown after a failed fsync: stop rather than acknowledge;
/// recovery on restart truncates to what the log really holds.
fn sync_failed(e: &io::Error) -> ! {
    error!("fsync failed: {e}; stopping without acknowledging");
    std::process::exit(1);
}

/// An unsupported version: ApiVersions gets UNSUPPORTED_VERSION in a v0-shaped body so the
/// client can retry; any other API's connection is closed, as Kafka does.
fn unsupported(spec: &ApiSpec, prefix: RequestPrefix, out: &mut Vec<u8>) -> Outcome<Parked> {
    if spec.key != API_VERSIONS {
        return Outcome::Close(format!(
            "{} v{} is not supported",
            spec.name, prefix.api_version
        ));
    }
    debug!(
        "ApiVersions v{} is not supported: answering UNSUPPORTED_VERSION",
        prefix.api_version
    );
    let start = begin_frame(out, prefix.correlation_id, false);
    apis::api_versions::encode_unsupported(out);
    finish_frame(out, start, 0);
    Outcome::Done
}
