//! What a request handler may see: the broker's state (configuration, storage, the group
//! coordinator) and a few facts about the request. Never the connection: no socket, no
//! token, no connection id, so no handler can keep state per connection.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::quotas::Quotas;
use crate::security::{Security, Session};
use crate::storage::Storage;

/// Whether a handler may answer later instead of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A first attempt: the handler may park the request.
    Allowed,
    /// A retry of a parked request that may park again until its original deadline.
    Until(Instant),
    /// The deadline passed: answer with what there is.
    Expired,
}

pub struct Context<'b> {
    pub config: &'b Config,
    pub storage: &'b mut Storage,
    pub coordinator: &'b mut Coordinator,
    /// Client quotas: their meters, keyed by client identity.
    pub quotas: &'b mut Quotas,
    /// The listeners' SASL settings.
    pub security: &'b Security,
    /// Who the connection is (`session.principal`: `User:alice`, `User:ANONYMOUS`), and
    /// where its SASL exchange stands: the loop keeps it, only the SASL APIs change it.
    pub session: &'b mut Session,
    /// The request's API version.
    pub version: i16,
    pub client_id: Option<&'b str>,
    /// The client's address, and the local address it connected to.
    pub client_addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub now: Instant,
    pub wait: Wait,
    /// What the handler noted when it parked this request (e.g. the member id a JoinGroup
    /// was given), handed back on every retry and on abandonment.
    pub memo: Option<&'b str>,
    /// The request's size (header and body), what Kafka's produce byte-rate quota counts.
    pub request_bytes: usize,
    /// Set by a handler whose client exceeded its quota: the connection reads no further
    /// request for this long (KIP-219); the response says so in throttle_time_ms.
    pub throttle_ms: i32,
}
