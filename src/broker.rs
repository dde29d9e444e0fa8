//! The broker: the [`Service`] the event loop drives. It decodes each request's header,
//! checks the version against the one table of supported APIs, dispatches to the API's
//! handler and frames the response. It keeps no per-connection state: a waiting request is
//! handed to the loop as its own frame and handled again later.

use std::io;
use std::time::{Duration, Instant};

use log::{Level, debug, error, log_enabled};

use crate::apis::{self, Reply, RequestContext, Wait};
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::protocol::codec::Reader;
use crate::protocol::header::{RequestHeader, RequestPrefix, begin_frame, finish_frame};
use crate::protocol::versions::{self, ApiSpec};
use crate::server::{Outcome, Peer, Service};
use crate::storage::Storage;

/// How often retention runs (Kafka's `log.retention.check.interval.ms` default).
const RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(300);

pub struct Broker {
    pub config: Config,
    pub storage: Storage,
    pub coordinator: Coordinator,
    next_retention_check: Instant,
}

/// A request waiting for a condition: its own frame, handled again on resume.
pub struct Parked {
    frame: Vec<u8>,
    deadline: Instant,
}

impl Broker {
    pub fn open(config: Config) -> io::Result<Broker> {
        let storage = Storage::open(&config)?;
        let coordinator = Coordinator::new(Duration::from_millis(
            config.group_initial_rebalance_delay_ms,
        ));
        Ok(Broker {
            config,
            storage,
            coordinator,
            next_retention_check: Instant::now() + RETENTION_CHECK_INTERVAL,
        })
    }

    fn dispatch(
        &mut self,
        ctx: &RequestContext,
        body: &mut Reader,
        out: &mut Vec<u8>,
    ) -> Result<Reply, crate::protocol::DecodeError> {
        match ctx.spec.key {
            versions::PRODUCE => apis::produce::handle(self, ctx, body, out),
            versions::FETCH => apis::fetch::handle(self, ctx, body, out),
            versions::LIST_OFFSETS => apis::list_offsets::handle(self, ctx, body, out),
            versions::METADATA => apis::metadata::handle(self, ctx, body, out),
            versions::OFFSET_COMMIT => apis::offset_commit::handle(self, ctx, body, out),
            versions::OFFSET_FETCH => apis::offset_fetch::handle(self, ctx, body, out),
            versions::FIND_COORDINATOR => apis::find_coordinator::handle(self, ctx, body, out),
            versions::JOIN_GROUP => apis::join_group::handle(self, ctx, body, out),
            versions::HEARTBEAT => apis::heartbeat::handle(self, ctx, body, out),
            versions::LEAVE_GROUP => apis::leave_group::handle(self, ctx, body, out),
            versions::SYNC_GROUP => apis::sync_group::handle(self, ctx, body, out),
            versions::DESCRIBE_GROUPS => apis::describe_groups::handle(self, ctx, body, out),
            versions::LIST_GROUPS => apis::list_groups::handle(self, ctx, body, out),
            versions::API_VERSIONS => apis::api_versions::handle(ctx, body, out),
            versions::INIT_PRODUCER_ID => apis::init_producer_id::handle(self, ctx, body, out),
            versions::OFFSET_FOR_LEADER_EPOCH => {
                apis::offset_for_leader_epoch::handle(self, ctx, body, out)
            }
            versions::DESCRIBE_CONFIGS => apis::describe_configs::handle(self, ctx, body, out),
            versions::DESCRIBE_CLUSTER => apis::describe_cluster::handle(self, ctx, body, out),
            versions::CREATE_TOPICS => apis::create_topics::handle(self, ctx, body, out),
            versions::DELETE_TOPICS => apis::delete_topics::handle(self, ctx, body, out),
            versions::DESCRIBE_TOPIC_PARTITIONS => {
                apis::describe_topic_partitions::handle(self, ctx, body, out)
            }
            key => unreachable!("api {key} is in the table but has no handler"),
        }
    }

    /// Handles one request frame; `wait` says whether it may park.
    fn handle(
        &mut self,
        peer: &Peer,
        frame: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
        wait: Wait,
    ) -> Outcome<Parked> {
        let mut r = Reader::new(frame);
        let Ok(prefix) = RequestPrefix::decode(&mut r.clone()) else {
            return Outcome::Close(format!(
                "frame of {} bytes is too short for a header",
                frame.len()
            ));
        };
        let Some(spec) = versions::lookup(prefix.api_key) else {
            return Outcome::Close(format!("unknown api key {}", prefix.api_key));
        };
        if !spec.supports(prefix.api_version) {
            return unsupported(spec, prefix, out);
        }
        let header =
            match RequestHeader::decode(&mut r, spec.request_header_flexible(prefix.api_version)) {
                Ok(header) => header,
                Err(e) => return Outcome::Close(format!("{} request header: {e}", spec.name)),
            };
        let ctx = RequestContext {
            header,
            spec,
            version: prefix.api_version,
            flexible: spec.is_flexible(prefix.api_version),
            peer,
            now,
            wait,
        };
        let start = begin_frame(
            out,
            prefix.correlation_id,
            spec.response_header_flexible(prefix.api_version),
        );
        let outcome = match self.dispatch(&ctx, &mut r, out) {
            Ok(Reply::Body) => {
                finish_frame(out, start);
                Outcome::Done
            }
            Ok(Reply::Nothing) => {
                out.truncate(start);
                Outcome::Done
            }
            Ok(Reply::Park(deadline)) => {
                out.truncate(start);
                Outcome::Park(
                    Parked {
                        frame: frame.to_vec(),
                        deadline,
                    },
                    deadline,
                )
            }
            Err(e) => {
                out.truncate(start);
                Outcome::Close(format!("{} v{} request body: {e}", spec.name, ctx.version))
            }
        };
        if log_enabled!(Level::Debug) {
            let what = match &outcome {
                Outcome::Done => "",
                Outcome::Park(..) => " (waiting)",
                Outcome::Close(_) => " (closing)",
            };
            debug!(
                "{} {} v{} correlation={} client={:?} bytes={} took={}us{what}",
                peer.addr,
                spec.name,
                ctx.version,
                prefix.correlation_id,
                header.client_id.unwrap_or("-"),
                frame.len() + 4,
                now.elapsed().as_micros()
            );
        }
        outcome
    }
}

impl Service for Broker {
    type Parked = Parked;

    fn call(
        &mut self,
        peer: &Peer,
        frame: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Outcome<Parked> {
        self.handle(peer, frame, out, now, Wait::Allowed)
    }

    fn resume(
        &mut self,
        peer: &Peer,
        parked: Parked,
        out: &mut Vec<u8>,
        now: Instant,
        expired: bool,
    ) -> Outcome<Parked> {
        let wait = if expired {
            Wait::Expired
        } else {
            Wait::Until(parked.deadline)
        };
        self.handle(peer, &parked.frame, out, now, wait)
    }

    /// The group commit: one fsync per partition appended to this turn, before any of the
    /// turn's acknowledgements is written.
    fn end_of_turn(&mut self, now: Instant) {
        if self.storage.flush_due(now)
            && let Err(e) = self.storage.flush(now)
        {
            // The page cache's state is unknown after a failed fsync: stop rather than
            // acknowledge; recovery on restart truncates to what the log really holds.
            error!("fsync failed: {e}; stopping without acknowledging");
            std::process::exit(1);
        }
    }

    fn epoch(&self) -> u64 {
        self.storage.epoch.wrapping_add(self.coordinator.epoch)
    }

    fn next_timer(&self) -> Option<Instant> {
        [
            Some(self.next_retention_check),
            self.storage.next_flush(),
            self.coordinator.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timer(&mut self, now: Instant) {
        if now >= self.next_retention_check {
            self.storage.enforce_retention();
            self.next_retention_check = now + RETENTION_CHECK_INTERVAL;
        }
        self.coordinator.tick(now);
        self.end_of_turn(now);
    }
}

/// An unsupported version: ApiVersions gets UNSUPPORTED_VERSION in a v0-shaped body so the
/// client can retry; any other API's connection is closed, as Kafka does.
fn unsupported(spec: &ApiSpec, prefix: RequestPrefix, out: &mut Vec<u8>) -> Outcome<Parked> {
    if spec.key != versions::API_VERSIONS {
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
    finish_frame(out, start);
    Outcome::Done
}
