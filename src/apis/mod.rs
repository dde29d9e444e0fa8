//! One file per Kafka API: its messages declared once for every version (`message!`), its
//! [`Api`] description, and the handler that turns a request into a response. Handlers see
//! a [`Context`], never sockets or connections. [`APIS`] is the one table of what we serve:
//! it drives ApiVersions, version checks, header versions and the README table.

use std::time::Instant;

pub use crate::context::{Context, Wait};
use crate::protocol::codec::DecodeError;
use crate::protocol::versions::ApiSpec;
use crate::protocol::wire::{self, EncodeError, Ver, Wire};

/// An API: its key, name and versions, its two messages and its handler.
pub trait Api {
    const SPEC: ApiSpec;
    type Request<'a>: Wire<'a>;
    type Response<'a>: Wire<'a>;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>>;

    /// A parked request whose connection closed before it was answered.
    fn abandon(_ctx: &mut Context, _request: Self::Request<'_>) {}
}

/// What a handler did with a request.
pub enum Answer<R> {
    Respond(R),
    /// No response is sent (Produce with acks=0).
    Nothing,
    /// The request waits until `deadline` at most; it is handled again from its frame when
    /// the broker's state changes or the deadline passes, with `memo` in the context.
    Park {
        deadline: Instant,
        memo: Option<String>,
    },
}

/// What serving a request body produced.
#[derive(Debug)]
pub enum Served {
    /// The response body was appended.
    Body,
    Nothing,
    Park {
        deadline: Instant,
        memo: Option<String>,
    },
}

/// Why a request could not be served; either way the connection is closed.
#[derive(Debug)]
pub enum Failure {
    /// The client sent a body that is not this API at this version.
    Decode(DecodeError),
    /// We built a response its wire types cannot hold: a bug, logged as an error.
    Encode(EncodeError),
}

pub type ServeFn = fn(&mut Context, &[u8], &mut Vec<u8>) -> Result<Served, Failure>;
pub type ReencodeFn = fn(&[u8], Ver, &mut Vec<u8>) -> Result<(), Failure>;

/// One row of the table: the spec and the API's entry points, monomorphised.
pub struct Entry {
    pub spec: ApiSpec,
    /// Decodes the body, handles it and appends the response body.
    pub serve: ServeFn,
    /// Decodes the body only (for tests and the fuzz target).
    pub decode: fn(&[u8], Ver) -> Result<(), DecodeError>,
    /// Decodes the body and re-encodes it (for tests: requests round trip).
    pub reencode: ReencodeFn,
    pub abandon: fn(&mut Context, &[u8]),
}

impl Entry {
    const fn of<A: Api>() -> Entry {
        Entry {
            spec: A::SPEC,
            serve: serve::<A>,
            decode: decode::<A>,
            reencode: reencode::<A>,
            abandon: abandon::<A>,
        }
    }

    pub fn ver(&self, version: i16) -> Ver {
        self.spec.ver(version)
    }
}

fn serve<A: Api>(ctx: &mut Context, body: &[u8], out: &mut Vec<u8>) -> Result<Served, Failure> {
    let v = A::SPEC.ver(ctx.version);
    let request = wire::decode::<A::Request<'_>>(body, v).map_err(Failure::Decode)?;
    match A::handle(ctx, request) {
        Answer::Respond(response) => {
            wire::encode(&response, v, out).map_err(Failure::Encode)?;
            Ok(Served::Body)
        }
        Answer::Nothing => Ok(Served::Nothing),
        Answer::Park { deadline, memo } => Ok(Served::Park { deadline, memo }),
    }
}

fn decode<A: Api>(body: &[u8], v: Ver) -> Result<(), DecodeError> {
    wire::decode::<A::Request<'_>>(body, v).map(drop)
}

fn reencode<A: Api>(body: &[u8], v: Ver, out: &mut Vec<u8>) -> Result<(), Failure> {
    let request = wire::decode::<A::Request<'_>>(body, v).map_err(Failure::Decode)?;
    wire::encode(&request, v, out).map_err(Failure::Encode)
}

fn abandon<A: Api>(ctx: &mut Context, body: &[u8]) {
    let v = A::SPEC.ver(ctx.version);
    if let Ok(request) = wire::decode::<A::Request<'_>>(body, v) {
        A::abandon(ctx, request);
    }
}

// ---- Transition: APIs still hand-coded, served through their old handlers ----

/// What a hand-coded handler knows about the request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub version: i16,
    pub flexible: bool,
    pub now: Instant,
    pub wait: Wait,
    pub client_id: Option<&'a str>,
    pub client_addr: std::net::SocketAddr,
    pub local_addr: std::net::SocketAddr,
}

/// What a hand-coded handler did.
pub enum Reply {
    Body,
    Nothing,
    Park(Instant),
}

type LegacyHandler = fn(
    &mut Context,
    &RequestContext,
    &mut crate::protocol::Reader,
    &mut Vec<u8>,
) -> crate::protocol::codec::Result<Reply>;

fn legacy_serve(
    ctx: &mut Context,
    body: &[u8],
    out: &mut Vec<u8>,
    spec: &ApiSpec,
    handle: LegacyHandler,
) -> Result<Served, Failure> {
    let rc = RequestContext {
        version: ctx.version,
        flexible: spec.is_flexible(ctx.version),
        now: ctx.now,
        wait: ctx.wait,
        client_id: ctx.client_id,
        client_addr: ctx.client_addr,
        local_addr: ctx.local_addr,
    };
    let mut r = crate::protocol::Reader::new(body);
    match handle(ctx, &rc, &mut r, out).map_err(Failure::Decode)? {
        Reply::Body => Ok(Served::Body),
        Reply::Nothing => Ok(Served::Nothing),
        Reply::Park(deadline) => Ok(Served::Park {
            deadline,
            memo: None,
        }),
    }
}

macro_rules! legacy {
    ($module:ident, $key:expr, $name:expr) => {{
        const SPEC: ApiSpec = ApiSpec {
            key: $key,
            name: $name,
            min: $module::MIN_VERSION,
            max: $module::MAX_VERSION,
            flexible_from: $module::FIRST_FLEXIBLE_VERSION,
        };
        Entry {
            spec: SPEC,
            serve: |ctx, body, out| legacy_serve(ctx, body, out, &SPEC, $module::handle),
            decode: |body, v| {
                $module::Request::decode(&mut crate::protocol::Reader::new(body), v.version)
                    .map(drop)
            },
            reencode: |_, _, _| Ok(()),
            abandon: |_, _| {},
        }
    }};
}

macro_rules! apis {
    ($($module:ident => $entry:expr),* $(,)?) => {
        $(pub mod $module;)*
        /// Every API we serve, sorted by key.
        pub static APIS: &[Entry] = &[$($entry),*];
    };
}

apis![
    produce => Entry::of::<produce::Produce>(),
    fetch => Entry::of::<fetch::Fetch>(),
    list_offsets => Entry::of::<list_offsets::ListOffsets>(),
    metadata => Entry::of::<metadata::Metadata>(),
    offset_commit => legacy!(offset_commit, 8, "OffsetCommit"),
    offset_fetch => legacy!(offset_fetch, 9, "OffsetFetch"),
    find_coordinator => legacy!(find_coordinator, 10, "FindCoordinator"),
    join_group => legacy!(join_group, 11, "JoinGroup"),
    heartbeat => Entry::of::<heartbeat::Heartbeat>(),
    leave_group => legacy!(leave_group, 13, "LeaveGroup"),
    sync_group => legacy!(sync_group, 14, "SyncGroup"),
    describe_groups => legacy!(describe_groups, 15, "DescribeGroups"),
    list_groups => legacy!(list_groups, 16, "ListGroups"),
    api_versions => Entry::of::<api_versions::ApiVersions>(),
    create_topics => legacy!(create_topics, 19, "CreateTopics"),
    delete_topics => legacy!(delete_topics, 20, "DeleteTopics"),
    init_producer_id => legacy!(init_producer_id, 22, "InitProducerId"),
    offset_for_leader_epoch => legacy!(offset_for_leader_epoch, 23, "OffsetForLeaderEpoch"),
    describe_configs => legacy!(describe_configs, 32, "DescribeConfigs"),
    describe_cluster => legacy!(describe_cluster, 60, "DescribeCluster"),
    describe_topic_partitions => Entry::of::<describe_topic_partitions::DescribeTopicPartitions>(),
];

/// The spec of every API we serve, sorted by key.
pub fn specs() -> Vec<ApiSpec> {
    APIS.iter().map(|entry| entry.spec).collect()
}

pub fn lookup(key: i16) -> Option<&'static Entry> {
    APIS.iter().find(|entry| entry.spec.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_sane() {
        for pair in APIS.windows(2) {
            assert!(
                pair[0].spec.key < pair[1].spec.key,
                "{:?} before {:?}",
                pair[0].spec,
                pair[1].spec
            );
        }
        for entry in APIS {
            assert!(entry.spec.min <= entry.spec.max, "{:?}", entry.spec);
        }
    }
}
