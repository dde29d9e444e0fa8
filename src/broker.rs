//! The broker: the [`Service`] the event loop drives. It decodes each request's header,
//! checks the version against the one table of supported APIs, dispatches to the API's
//! handler and frames the response. It keeps no per-connection state.

use std::time::Instant;

use log::{Level, debug, log_enabled};

use crate::apis::{self, Reply, RequestContext};
use crate::config::Config;
use crate::protocol::codec::Reader;
use crate::protocol::header::{RequestHeader, RequestPrefix, begin_frame, finish_frame};
use crate::protocol::versions::{self, ApiSpec};
use crate::server::{Outcome, Peer, Service};

pub struct Broker {
    pub config: Config,
}

/// A request waiting for a condition (none yet: the long-poll Fetch will be one).
pub enum Parked {}

impl Broker {
    pub fn new(config: Config) -> Self {
        Broker { config }
    }

    fn dispatch(
        &mut self,
        ctx: &RequestContext,
        body: &mut Reader,
        out: &mut Vec<u8>,
    ) -> Result<Reply<Parked>, crate::protocol::DecodeError> {
        match ctx.spec.key {
            versions::API_VERSIONS => apis::api_versions::handle(ctx, body, out),
            key => unreachable!("api {key} is in the table but has no handler"),
        }
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
            Ok(Reply::Park(parked, deadline)) => {
                out.truncate(start);
                Outcome::Park(parked, deadline)
            }
            Err(e) => {
                out.truncate(start);
                Outcome::Close(format!("{} v{} request body: {e}", spec.name, ctx.version))
            }
        };
        if log_enabled!(Level::Debug) {
            debug!(
                "{} {} v{} correlation={} client={:?} bytes={} took={}us",
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

    fn resume(
        &mut self,
        _peer: &Peer,
        parked: Parked,
        _out: &mut Vec<u8>,
        _now: Instant,
        _expired: bool,
    ) -> Outcome<Parked> {
        match parked {}
    }

    fn end_of_turn(&mut self, _now: Instant) {}

    fn epoch(&self) -> u64 {
        0
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }

    fn on_timer(&mut self, _now: Instant) {}
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
