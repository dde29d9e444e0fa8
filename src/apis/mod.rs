//! One file per Kafka API: its request and response for every supported version, and the
//! handler that turns one into the other. Handlers see the broker's state and the request,
//! never sockets.

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use crate::protocol::header::RequestHeader;
use crate::protocol::versions::ApiSpec;

/// Whether a handler may answer later instead of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A first attempt: the handler may park the request.
    Allowed,
    /// A retry of a parked request that may park again until its original deadline.
    Until(std::time::Instant),
    /// The deadline passed: answer with what there is.
    Expired,
}

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub header: RequestHeader<'a>,
    pub spec: &'static ApiSpec,
    pub version: i16,
    /// The request body uses flexible encodings (compact types, tagged fields).
    pub flexible: bool,
    pub peer: &'a crate::server::Peer,
    pub now: std::time::Instant,
    pub wait: Wait,
}

/// What a handler did.
pub enum Reply {
    /// The response body was written after the response header.
    Body,
    /// No response is sent (Produce with acks=0).
    Nothing,
    /// The request waits (a long-poll Fetch) until the given deadline at most; it will be
    /// handled again from its frame when the broker's state changes or the deadline passes.
    Park(std::time::Instant),
}
