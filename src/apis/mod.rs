//! One file per Kafka API: its messages declared once for every version (`message!`), its
//! [`Api`] description, and the handler that turns a request into a response. Handlers see
//! a [`Context`], never sockets or connections. [`APIS`] is the one table of what we serve:
//! it drives ApiVersions, version checks, header versions and the README table.

use std::time::Instant;

pub use crate::context::{Context, Wait};
use crate::protocol::codec::DecodeError;
use crate::protocol::versions::ApiSpec;
use crate::protocol::wire::{self, DeferredBytes, EncodeError, Ver, Wire};

/// An API: its key, name and versions, its two messages and its handler.
pub trait Api {
    const SPEC: ApiSpec;
    type Request<'a>: Wire<'a>;
    type Response<'a>: Wire<'a>;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>>;

    /// A parked request whose connection closed before it was answered.
    fn abandon(_ctx: &mut Context, _request: Self::Request<'_>) {}

    /// Whether the output reserves the whole response before encoding it (one sizing
    /// pass): for responses of record bytes, read from the log straight into the output's
    /// spare capacity, which must then be about the records' size (storage::log::FileSlice).
    const RESERVE_RESPONSE: bool = false;
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

/// Serves a request body: the response body goes into the buffer, its large record slices
/// into the deferred bytes if given (a plain TCP connection sends them from their files).
pub type ServeFn =
    fn(&mut Context, &[u8], &mut Vec<u8>, Option<&mut DeferredBytes>) -> Result<Served, Failure>;
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

fn serve<A: Api>(
    ctx: &mut Context,
    body: &[u8],
    out: &mut Vec<u8>,
    deferred: Option<&mut DeferredBytes>,
) -> Result<Served, Failure> {
    let v = A::SPEC.ver(ctx.version);
    let request = wire::decode::<A::Request<'_>>(body, v).map_err(Failure::Decode)?;
    match A::handle(ctx, request) {
        Answer::Respond(response) => {
            // Reserved whole only if its records are copied: deferred ones take no room.
            if A::RESERVE_RESPONSE && deferred.is_none() {
                out.reserve(response.size(v));
            }
            wire::encode_deferring(&response, v, out, deferred).map_err(Failure::Encode)?;
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

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod authorized_operations;
pub mod config_change;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_config_resources;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_common;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// Every API we serve, sorted by key.
pub static APIS: &[Entry] = &[
    Entry::of::<produce::Produce>(),
    Entry::of::<fetch::Fetch>(),
    Entry::of::<list_offsets::ListOffsets>(),
    Entry::of::<metadata::Metadata>(),
    Entry::of::<offset_commit::OffsetCommit>(),
    Entry::of::<offset_fetch::OffsetFetch>(),
    Entry::of::<find_coordinator::FindCoordinator>(),
    Entry::of::<join_group::JoinGroup>(),
    Entry::of::<heartbeat::Heartbeat>(),
    Entry::of::<leave_group::LeaveGroup>(),
    Entry::of::<sync_group::SyncGroup>(),
    Entry::of::<describe_groups::DescribeGroups>(),
    Entry::of::<list_groups::ListGroups>(),
    Entry::of::<sasl_handshake::SaslHandshake>(),
    Entry::of::<api_versions::ApiVersions>(),
    Entry::of::<create_topics::CreateTopics>(),
    Entry::of::<delete_topics::DeleteTopics>(),
    Entry::of::<delete_records::DeleteRecords>(),
    Entry::of::<init_producer_id::InitProducerId>(),
    Entry::of::<offset_for_leader_epoch::OffsetForLeaderEpoch>(),
    Entry::of::<add_partitions_to_txn::AddPartitionsToTxn>(),
    Entry::of::<add_offsets_to_txn::AddOffsetsToTxn>(),
    Entry::of::<end_txn::EndTxn>(),
    Entry::of::<write_txn_markers::WriteTxnMarkers>(),
    Entry::of::<txn_offset_commit::TxnOffsetCommit>(),
    Entry::of::<describe_acls::DescribeAcls>(),
    Entry::of::<create_acls::CreateAcls>(),
    Entry::of::<delete_acls::DeleteAcls>(),
    Entry::of::<describe_configs::DescribeConfigs>(),
    Entry::of::<alter_configs::AlterConfigs>(),
    Entry::of::<describe_log_dirs::DescribeLogDirs>(),
    Entry::of::<sasl_authenticate::SaslAuthenticate>(),
    Entry::of::<create_partitions::CreatePartitions>(),
    Entry::of::<delete_groups::DeleteGroups>(),
    Entry::of::<elect_leaders::ElectLeaders>(),
    Entry::of::<incremental_alter_configs::IncrementalAlterConfigs>(),
    Entry::of::<alter_partition_reassignments::AlterPartitionReassignments>(),
    Entry::of::<list_partition_reassignments::ListPartitionReassignments>(),
    Entry::of::<offset_delete::OffsetDelete>(),
    Entry::of::<describe_client_quotas::DescribeClientQuotas>(),
    Entry::of::<alter_client_quotas::AlterClientQuotas>(),
    Entry::of::<describe_user_scram_credentials::DescribeUserScramCredentials>(),
    Entry::of::<alter_user_scram_credentials::AlterUserScramCredentials>(),
    Entry::of::<describe_quorum::DescribeQuorum>(),
    Entry::of::<describe_cluster::DescribeCluster>(),
    Entry::of::<describe_producers::DescribeProducers>(),
    Entry::of::<describe_transactions::DescribeTransactions>(),
    Entry::of::<list_transactions::ListTransactions>(),
    Entry::of::<consumer_group_heartbeat::ConsumerGroupHeartbeat>(),
    Entry::of::<consumer_group_describe::ConsumerGroupDescribe>(),
    Entry::of::<list_config_resources::ListConfigResources>(),
    Entry::of::<describe_topic_partitions::DescribeTopicPartitions>(),
];

/// The spec of every API we serve, sorted by key.
pub fn specs() -> Vec<ApiSpec> {
    APIS.iter().map(|entry| entry.spec).collect()
}

/// The API with this key: a binary search, `APIS` being sorted by key (a test checks it).
pub fn lookup(key: i16) -> Option<&'static Entry> {
    let index = APIS
        .binary_search_by_key(&key, |entry| entry.spec.key)
        .ok()?;
    APIS.get(index)
}

/// Test support: `value` is exactly `body` at `version` of `A`'s messages, both ways.
#[cfg(test)]
pub(crate) fn assert_wire<'a, A: Api, T: Wire<'a> + PartialEq + std::fmt::Debug>(
    version: i16,
    body: &'a [u8],
    value: &T,
) {
    let v = A::SPEC.ver(version);
    let mut out = Vec::new();
    wire::encode(value, v, &mut out).unwrap();
    assert_eq!(out, body, "{} v{version} encoding", A::SPEC.name);
    assert_eq!(
        &wire::decode::<T>(body, v).unwrap(),
        value,
        "{} v{version} decoding",
        A::SPEC.name
    );
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
