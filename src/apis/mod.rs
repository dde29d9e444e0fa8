//! One file per Kafka API: its request and response for every supported version, and the
//! handler that turns one into the other. Handlers see the broker's state and the request,
//! never sockets.

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use crate::protocol::header::RequestHeader;
use crate::protocol::versions::ApiSpec;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub header: RequestHeader<'a>,
    pub spec: &'static ApiSpec,
    pub version: i16,
    /// The request body uses flexible encodings (compact types, tagged fields).
    pub flexible: bool,
    pub peer: &'a crate::server::Peer,
}

/// What a handler did.
pub enum Reply<P> {
    /// The response body was written after the response header.
    Body,
    /// No response is sent (Produce with acks=0).
    Nothing,
    /// The request waits (a long-poll Fetch): the body will be written on resume.
    Park(P, std::time::Instant),
}
