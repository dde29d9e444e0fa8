//! The classic group coordinator: this broker coordinates every group. Groups move
//! Empty -> PreparingRebalance -> CompletingRebalance -> Stable as Kafka's do. Pure state:
//! no I/O and no clock of its own; the broker passes `now`, parks requests that must wait,
//! and calls [`Coordinator::tick`] from the event loop's timer. It knows members by id,
//! never by connection: a parked JoinGroup names its member, also when its connection
//! closes ([`Coordinator::abandon_join`]). Group membership is not persisted (as in
//! Kafka, members rejoin after a coordinator restart); committed offsets are, by the
//! storage module.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::consumer_groups::ConsumerGroups;
use crate::protocol::error::{self, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    pub assignment: Vec<u8>,
    pub last_heartbeat: Instant,
    /// Joined the rebalance in progress (or the last completed one).
    pub joined: bool,
    /// Its JoinGroup is parked until the rebalance completes (Kafka's "awaiting join"):
    /// the member counts as alive meanwhile. Cleared when that JoinGroup is answered or
    /// abandoned ([`Coordinator::abandon_join`]).
    pub awaiting_join: bool,
    /// Its SyncGroup is parked until the leader's assignments arrive (Kafka's "awaiting
    /// sync"): the member counts as alive meanwhile. Cleared when the group turns stable
    /// or the wait ends ([`Coordinator::end_sync_wait`]).
    pub awaiting_sync: bool,
}

#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet, each with
    /// when it expires: after the session timeout its JoinGroup gave, as Kafka's pending
    /// member timer. They do not count toward `group.max.size` (Kafka's
    /// `acceptJoiningMember` counts members), but their rejoin is checked against it.
    pub pending: BTreeMap<String, Instant>,
    /// When the rebalance in progress completes even if members are missing.
    pub rebalance_deadline: Option<Instant>,
    /// A rebalance from Empty waits out the initial delay instead of completing early.
    pub initial_rebalance: bool,
}

impl Group {
    fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            rebalance_deadline: None,
            initial_rebalance: false,
        }
    }

    /// Whether a JoinGroup from `member_id` may join, as Kafka's `acceptJoiningMember`: an
    /// empty group takes anyone; one preparing a rebalance takes its members already
    /// waiting in it, and others while fewer than `size_max` wait (members that do not
    /// rejoin leave when it completes); otherwise its members, and others while it has
    /// fewer than `size_max`. A pending member id is not a member yet.
    fn accepts(&self, member_id: &str, size_max: usize) -> bool {
        match self.state {
            GroupState::Empty => true,
            GroupState::PreparingRebalance => {
                self.members.get(member_id).is_some_and(|m| m.awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join).count() < size_max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < size_max
            }
        }
    }

    /// The member id held by a static member's instance id.
    pub fn member_of_instance(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// A protocol every member supports, preferring the earlier ones of the most members.
    fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        candidates
            .iter()
            .max_by_key(|name| {
                // Votes: each member votes for its most preferred candidate.
                let votes = self
                    .members
                    .values()
                    .filter(|m| {
                        m.protocols
                            .iter()
                            .find(|(n, _)| candidates.contains(&n))
                            .is_some_and(|(n, _)| n == **name)
                    })
                    .count();
                (
                    votes,
                    std::cmp::Reverse(candidates.iter().position(|c| c == *name)),
                )
            })
            .map(|name| (*name).clone())
    }
}

/// A join's parameters, borrowed from the request.
pub struct JoinRequest<'a> {
    pub group_id: &'a str,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub client_id: &'a str,
    pub client_host: &'a str,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: &'a str,
    pub protocols: Vec<(&'a str, &'a [u8])>,
    /// v4+: an unknown member must first ask for an id.
    pub require_known_member_id: bool,
}

/// What a JoinGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Error(ErrorCode, String),
    /// MEMBER_ID_REQUIRED with the id to rejoin with.
    MemberIdRequired(String),
    /// The join of this member (its id, given or assigned) waits for the rebalance to
    /// complete, at the latest at the deadline; its retries name the member by this id.
    Wait(String, Instant),
    Joined(JoinResult),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: every member's id, instance id and chosen-protocol metadata.
    pub members: Vec<(String, Option<String>, Vec<u8>)>,
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Error(ErrorCode),
    Wait(Instant),
    Assigned {
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        assignment: Vec<u8>,
    },
}

pub struct Coordinator {
    pub groups: BTreeMap<String, Group>,
    initial_delay: Duration,
    next_member: u64,
    /// Bumped whenever a waiting join or sync may be able to finish.
    pub epoch: u64,
    /// Members one group may hold (`group.max.size`); a new member past it is refused.
    pub group_size_max: usize,
    /// The groups of Kafka's consumer protocol (KIP-848); a group id is one type at a time.
    pub consumer: ConsumerGroups,
    /// The transaction coordinator (src/transactions.rs), held here so every handler
    /// reaches it through the context's coordinator.
    pub transactions: crate::transactions::Transactions,
}

const SESSION_TIMEOUT_MS_MIN: i32 = 6_000 / 6; // 1 s: lenient with test clients
const SESSION_TIMEOUT_MS_MAX: i32 = 1_800_000;

impl Coordinator {
    pub fn new(initial_delay: Duration) -> Coordinator {
        Coordinator {
            groups: BTreeMap::new(),
            initial_delay,
            next_member: 0,
            epoch: 0,
            group_size_max: i32::MAX as usize,
            consumer: ConsumerGroups::default(),
            transactions: crate::transactions::Transactions::default(),
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!(
            "{client_id}-{:x}-{}",
            nanos & 0xffff_ffff_ffff,
            self.next_member
        )
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// DeleteGroups for one group: refused while it has members (NON_EMPTY_GROUP); an empty
    /// group is forgotten. Whether it exists at all (here or by its committed offsets) is
    /// the caller's question.
    pub fn delete(&mut self, group_id: &str) -> ErrorCode {
        if self.consumer.group(group_id).is_some() {
            return self.consumer.remove_empty(group_id);
        }
        match self.groups.get(group_id) {
            Some(group) if !group.members.is_empty() => error::NON_EMPTY_GROUP,
            Some(_) => {
                self.groups.remove(group_id);
                self.epoch += 1;
                error::NONE
            }
            None => error::NONE,
        }
    }

    /// Forgets the groups nothing is left of, as Kafka's offsets-retention pass turns them
    /// Dead: no members, no pending member ids, no committed offsets (`has_offsets`). A
    /// consumer-protocol group's records get their tombstones at the end of the turn.
    /// Returns how many went.
    pub fn remove_dead_groups(&mut self, has_offsets: impl Fn(&str) -> bool) -> usize {
        let before = self.groups.len();
        self.groups.retain(|id, g| {
            !(g.state == GroupState::Empty
                && g.members.is_empty()
                && g.pending.is_empty()
                && !has_offsets(id))
        });
        let mut removed = before - self.groups.len();
        if removed > 0 {
            self.epoch += 1;
        }
        let dead: Vec<String> = self
            .consumer
            .groups
            .iter()
            .filter(|(id, g)| g.members.is_empty() && !has_offsets(id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            if self.consumer.remove_empty(&id) == error::NONE {
                removed += 1;
            }
        }
        removed
    }

    /// The first attempt of a JoinGroup.
    pub fn join(&mut self, req: &JoinRequest, now: Instant) -> JoinOutcome {
        if req.group_id.is_empty() {
            return JoinOutcome::Error(error::INVALID_GROUP_ID, String::new());
        }
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&req.session_timeout_ms) {
            return JoinOutcome::Error(error::INVALID_SESSION_TIMEOUT, req.member_id.to_string());
        }
        // A consumer group (KIP-848) keeps its id while it has members; an empty one
        // becomes a classic group when a classic member joins, as in Kafka 4.
        if self.consumer.remove_empty(req.group_id) != error::NONE {
            return JoinOutcome::Error(
                error::INCONSISTENT_GROUP_PROTOCOL,
                req.member_id.to_string(),
            );
        }
        if req.protocols.is_empty() || req.protocol_type.is_empty() {
            return JoinOutcome::Error(
                error::INCONSISTENT_GROUP_PROTOCOL,
                req.member_id.to_string(),
            );
        }
        let new_id = if req.member_id.is_empty() {
            Some(self.new_member_id(req.client_id))
        } else {
            None
        };
        let group = self
            .groups
            .entry(req.group_id.to_string())
            .or_insert_with(|| Group::new(req.group_id));
        if let Some(kind) = &group.protocol_type
            && !group.members.is_empty()
            && kind != req.protocol_type
        {
            return JoinOutcome::Error(
                error::INCONSISTENT_GROUP_PROTOCOL,
                req.member_id.to_string(),
            );
        }
        if !group.members.is_empty() {
            let compatible = group.members.values().all(|m| {
                m.id == req.member_id
                    || req
                        .protocols
                        .iter()
                        .any(|(n, _)| m.protocols.iter().any(|(p, _)| p == n))
            });
            if !compatible {
                return JoinOutcome::Error(
                    error::INCONSISTENT_GROUP_PROTOCOL,
                    req.member_id.to_string(),
                );
            }
        }
        // As Kafka's acceptJoiningMember (a static member coming back is let in too: it
        // takes over its old identity, so the group does not grow).
        let returning = req
            .instance_id
            .is_some_and(|instance| group.member_of_instance(instance).is_some());
        if !returning && !group.accepts(req.member_id, self.group_size_max) {
            return JoinOutcome::Error(error::GROUP_MAX_SIZE_REACHED, String::new());
        }
        let mut member_id = req.member_id.to_string();
        if let Some(fresh) = new_id {
            // A static member coming back takes over its old identity and assignment.
            if let Some(instance) = req.instance_id
                && let Some(old) = group.member_of_instance(instance).map(str::to_string)
            {
                let mut member = group
                    .members
                    .remove(&old)
                    .expect("instance maps to a member");
                member.id = fresh.clone();
                member.last_heartbeat = now;
                if group.leader.as_deref() == Some(old.as_str()) {
                    group.leader = Some(fresh.clone());
                }
                group.members.insert(fresh.clone(), member);
                if group.state == GroupState::Stable {
                    let result = join_result(group, &fresh);
                    self.epoch += 1;
                    return JoinOutcome::Joined(result);
                }
                member_id = fresh.clone();
            }
            if member_id.is_empty() {
                if req.require_known_member_id && req.instance_id.is_none() {
                    let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
                    group.pending.insert(fresh.clone(), now + session);
                    return JoinOutcome::MemberIdRequired(fresh);
                }
                member_id = fresh;
            }
        } else if !group.members.contains_key(&member_id)
            && group.pending.remove(&member_id).is_none()
        {
            return JoinOutcome::Error(error::UNKNOWN_MEMBER_ID, member_id);
        }
        let member = group
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                id: member_id.clone(),
                instance_id: req.instance_id.map(str::to_string),
                client_id: req.client_id.to_string(),
                client_host: req.client_host.to_string(),
                session_timeout: Duration::ZERO,
                rebalance_timeout: Duration::ZERO,
                protocol_type: req.protocol_type.to_string(),
                protocols: Vec::new(),
                assignment: Vec::new(),
                last_heartbeat: now,
                joined: false,
                awaiting_join: false,
                awaiting_sync: false,
            });
        let protocols_changed = member.protocols.len() != req.protocols.len()
            || member
                .protocols
                .iter()
                .zip(&req.protocols)
                .any(|((a, am), (b, bm))| a != b || am.as_slice() != *bm);
        member.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        member.rebalance_timeout =
            Duration::from_millis(req.rebalance_timeout_ms.max(req.session_timeout_ms) as u64);
        member.protocols = req
            .protocols
            .iter()
            .map(|(n, m)| (n.to_string(), m.to_vec()))
            .collect();
        member.last_heartbeat = now;
        member.joined = true;
        member.awaiting_join = true;
        group.protocol_type = Some(req.protocol_type.to_string());
        // A known member rejoining a stable group with unchanged protocols gets the
        // current generation back without a rebalance (as Kafka does for the leader too).
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        if group.state == GroupState::Stable && !protocols_changed && !is_leader {
            member.awaiting_join = false;
            let result = join_result(group, &member_id);
            return JoinOutcome::Joined(result);
        }
        if group.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(req.group_id, now);
        }
        let group = self.groups.get_mut(req.group_id).expect("group exists");
        if !group.initial_rebalance && group.members.values().all(|m| m.joined) {
            self.complete_rebalance(req.group_id, now);
            let group = self.groups.get_mut(req.group_id).expect("group exists");
            if let Some(member) = group.members.get_mut(&member_id) {
                member.awaiting_join = false;
            }
            return JoinOutcome::Joined(join_result(group, &member_id));
        }
        let deadline = group.rebalance_deadline.unwrap_or(now);
        JoinOutcome::Wait(member_id, deadline)
    }

    /// A parked JoinGroup asks again whether its rebalance completed. `member_id` is the
    /// one [`JoinOutcome::Wait`] named (a new member's request may carry none).
    pub fn join_result(&mut self, group_id: &str, member_id: &str) -> Option<JoinOutcome> {
        let group = self.groups.get_mut(group_id)?;
        let Some(member) = group.members.get_mut(member_id) else {
            return Some(JoinOutcome::Error(
                error::UNKNOWN_MEMBER_ID,
                member_id.to_string(),
            ));
        };
        if group.state == GroupState::PreparingRebalance {
            return group
                .rebalance_deadline
                .map(|d| JoinOutcome::Wait(member_id.to_string(), d));
        }
        member.awaiting_join = false;
        Some(JoinOutcome::Joined(join_result(group, member_id)))
    }

    /// A parked JoinGroup's connection closed, so nobody waits for its answer. The member
    /// becomes what Kafka's classic coordinator calls a member not awaiting join: it has
    /// not rejoined (the rebalance no longer counts it and completes without it at its
    /// deadline), and its session, suspended while it waited, runs again from now, so it
    /// is removed within its session timeout unless it heartbeats or joins again.
    pub fn abandon_join(&mut self, group_id: &str, member_id: &str, now: Instant) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let preparing = group.state == GroupState::PreparingRebalance;
        let Some(member) = group.members.get_mut(member_id) else {
            return;
        };
        if !member.awaiting_join {
            return;
        }
        member.awaiting_join = false;
        member.last_heartbeat = now;
        if preparing {
            member.joined = false;
        }
        log::info!("group {group_id}: member {member_id} abandoned its JoinGroup");
    }

    /// A parked SyncGroup gave up (its deadline passed) or was abandoned (its connection
    /// closed): the member no longer counts as alive for it, and its session runs from now.
    pub fn end_sync_wait(&mut self, group_id: &str, member_id: &str, now: Instant) {
        let member = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(member_id));
        if let Some(member) = member.filter(|m| m.awaiting_sync) {
            member.awaiting_sync = false;
            member.last_heartbeat = now;
        }
    }

    fn prepare_rebalance(&mut self, group_id: &str, now: Instant) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let from_empty = group.state == GroupState::Empty;
        group.state = GroupState::PreparingRebalance;
        for member in group.members.values_mut() {
            member.joined = member.awaiting_join;
            member.awaiting_sync = false;
        }
        let timeout = group
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        group.initial_rebalance = from_empty && !self.initial_delay.is_zero();
        let wait = if group.initial_rebalance {
            self.initial_delay.min(timeout)
        } else {
            timeout
        };
        group.rebalance_deadline = Some(now + wait);
        self.epoch += 1;
        log::debug!(
            "group {group_id}: preparing rebalance (generation {})",
            group.generation
        );
    }

    /// Ends the join phase: members that did not rejoin are dropped, a new generation starts.
    fn complete_rebalance(&mut self, group_id: &str, now: Instant) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        group.members.retain(|_, m| m.joined);
        group.rebalance_deadline = None;
        group.initial_rebalance = false;
        group.generation += 1;
        for member in group.members.values_mut() {
            member.assignment.clear();
            // A new generation restarts every member's session, as Kafka's onCompleteJoin.
            member.last_heartbeat = now;
        }
        if group.members.is_empty() {
            group.state = GroupState::Empty;
            group.leader = None;
            group.protocol_name = None;
        } else {
            group.state = GroupState::CompletingRebalance;
            if group
                .leader
                .as_ref()
                .is_none_or(|l| !group.members.contains_key(l))
            {
                group.leader = group.members.keys().next().cloned();
            }
            group.protocol_name = group.choose_protocol();
        }
        self.epoch += 1;
        log::debug!(
            "group {group_id}: generation {} with {} members ({})",
            group.generation,
            group.members.len(),
            group.state.name()
        );
    }

    fn check_member(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<&Group, ErrorCode> {
        let group = self.groups.get(group_id).ok_or(error::UNKNOWN_MEMBER_ID)?;
        if !group.members.contains_key(member_id) {
            return Err(error::UNKNOWN_MEMBER_ID);
        }
        if generation != group.generation {
            return Err(error::ILLEGAL_GENERATION);
        }
        Ok(group)
    }

    /// SyncGroup: the leader hands out assignments; every member waits for them.
    pub fn sync(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        assignments: Option<&[(&str, &[u8])]>,
        now: Instant,
    ) -> SyncOutcome {
        let group = match self.check_member(group_id, member_id, generation) {
            Ok(group) => group,
            Err(code) => return SyncOutcome::Error(code),
        };
        match group.state {
            GroupState::Empty => return SyncOutcome::Error(error::UNKNOWN_MEMBER_ID),
            GroupState::PreparingRebalance => {
                return SyncOutcome::Error(error::REBALANCE_IN_PROGRESS);
            }
            GroupState::Stable | GroupState::CompletingRebalance => {}
        }
        let is_leader = group.leader.as_deref() == Some(member_id);
        let group = self.groups.get_mut(group_id).expect("checked above");
        if group.state == GroupState::CompletingRebalance {
            match assignments {
                Some(assignments) if is_leader => {
                    for (id, bytes) in assignments {
                        if let Some(member) = group.members.get_mut(*id) {
                            member.assignment = bytes.to_vec();
                        }
                    }
                    // Every member's session restarts with the assignment, as Kafka's
                    // propagateAssignment: a follower that waited is not expired for it.
                    for member in group.members.values_mut() {
                        member.awaiting_sync = false;
                        member.last_heartbeat = now;
                    }
                    group.state = GroupState::Stable;
                    self.epoch += 1;
                    log::debug!("group {group_id}: stable at generation {generation}");
                }
                _ => {
                    let Some(member) = group.members.get_mut(member_id) else {
                        return SyncOutcome::Error(error::UNKNOWN_MEMBER_ID);
                    };
                    member.awaiting_sync = true;
                    return SyncOutcome::Wait(now + member.session_timeout);
                }
            }
        }
        let group = &self.groups[group_id];
        let member = &group.members[member_id];
        SyncOutcome::Assigned {
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            assignment: member.assignment.clone(),
        }
    }

    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        let state = match self.check_member(group_id, member_id, generation) {
            Ok(group) => group.state,
            Err(code) => {
                // A member rejoining mid-rebalance sees REBALANCE_IN_PROGRESS, as in Kafka.
                let rebalancing = self.groups.get(group_id).is_some_and(|g| {
                    g.state == GroupState::PreparingRebalance && g.members.contains_key(member_id)
                });
                return if rebalancing {
                    error::REBALANCE_IN_PROGRESS
                } else {
                    code
                };
            }
        };
        if let Some(member) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(member_id))
        {
            member.last_heartbeat = now;
        }
        match state {
            GroupState::PreparingRebalance => error::REBALANCE_IN_PROGRESS,
            _ => error::NONE,
        }
    }

    /// Whether an OffsetCommit may be accepted: a group with members takes commits only from
    /// a member of the current generation (a commit also counts as a heartbeat); a group
    /// without members takes "simple" commits (generation -1), as from an admin tool.
    pub fn check_commit(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        let Some(group) = self
            .groups
            .get_mut(group_id)
            .filter(|g| !g.members.is_empty())
        else {
            return if generation < 0 {
                error::NONE
            } else {
                error::UNKNOWN_MEMBER_ID
            };
        };
        let id = match instance_id.and_then(|i| group.member_of_instance(i)) {
            Some(id) => id.to_string(),
            None => member_id.to_string(),
        };
        let Some(member) = group.members.get_mut(&id) else {
            return error::UNKNOWN_MEMBER_ID;
        };
        if generation != group.generation {
            return error::ILLEGAL_GENERATION;
        }
        member.last_heartbeat = now.max(member.last_heartbeat);
        // Members may commit what they consumed before rejoining (PreparingRebalance), but
        // not between the join and the new assignment (CompletingRebalance), as in Kafka.
        if group.state == GroupState::CompletingRebalance {
            return error::REBALANCE_IN_PROGRESS;
        }
        error::NONE
    }

    /// LeaveGroup for one member (by id, or by instance id for static members).
    pub fn leave(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> ErrorCode {
        let Some(group) = self.groups.get_mut(group_id) else {
            return error::UNKNOWN_MEMBER_ID;
        };
        let id = match instance_id.and_then(|i| group.member_of_instance(i)) {
            Some(id) => id.to_string(),
            None => member_id.to_string(),
        };
        if group.members.remove(&id).is_none() {
            return error::UNKNOWN_MEMBER_ID;
        }
        log::debug!("group {group_id}: member {id} left");
        self.member_gone(group_id, now);
        error::NONE
    }

    /// After a member leaves or expires: rebalance the rest, or empty the group.
    fn member_gone(&mut self, group_id: &str, now: Instant) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.members.is_empty() {
            group.state = GroupState::Empty;
            group.leader = None;
            group.rebalance_deadline = None;
            group.generation += 1;
            self.epoch += 1;
        } else if group.state == GroupState::PreparingRebalance {
            if !group.initial_rebalance && group.members.values().all(|m| m.joined) {
                self.complete_rebalance(group_id, now);
            }
        } else {
            self.prepare_rebalance(group_id, now);
        }
    }

    /// Expires silent members and completes rebalances whose deadline passed.
    pub fn tick(&mut self, now: Instant) {
        self.consumer.tick(now);
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            group.pending.retain(|member, expires| {
                let live = *expires > now;
                if !live {
                    log::debug!("group {id}: pending member {member} expired");
                }
                live
            });
            if group.rebalance_deadline.is_some_and(|d| d <= now) {
                self.complete_rebalance(&id, now);
                continue;
            }
            let group = &self.groups[&id];
            let expired: Vec<String> = expiring_members(group)
                .filter(|m| now.duration_since(m.last_heartbeat) > m.session_timeout)
                .map(|m| m.id.clone())
                .collect();
            for member in expired {
                log::info!("group {id}: member {member} missed its session timeout");
                if let Some(group) = self.groups.get_mut(&id) {
                    group.members.remove(&member);
                }
                self.member_gone(&id, now);
            }
        }
    }

    /// The next time `tick` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .values()
            .flat_map(|g| {
                let sessions = expiring_members(g)
                    .map(|m| m.last_heartbeat + m.session_timeout + Duration::from_millis(1));
                let pending = g.pending.values().min().copied();
                g.rebalance_deadline
                    .into_iter()
                    .chain(sessions)
                    .chain(pending)
            })
            .chain(self.consumer.next_deadline())
            .min()
    }
}

/// Members whose session can expire now: not while they wait in a JoinGroup (the rebalance
/// deadline covers them) nor in a SyncGroup for the leader's assignments, as in Kafka's
/// classic coordinator. Everyone else, the leader that never syncs included, expires.
fn expiring_members(group: &Group) -> impl Iterator<Item = &Member> {
    group
        .members
        .values()
        .filter(|m| !m.awaiting_join && !m.awaiting_sync)
}

fn join_result(group: &Group, member_id: &str) -> JoinResult {
    let leader = group.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        let protocol = group.protocol_name.as_deref().unwrap_or("");
        group
            .members
            .values()
            .map(|m| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| n == protocol)
                    .map(|(_, md)| md.clone());
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    metadata.unwrap_or_default(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader,
        member_id: member_id.to_string(),
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join<'a>(group: &'a str, member: &'a str) -> JoinRequest<'a> {
        JoinRequest {
            group_id: group,
            member_id: member,
            instance_id: None,
            client_id: "c",
            client_host: "/127.0.0.1",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer",
            protocols: vec![("range", b"r"), ("roundrobin", b"rr")],
            require_known_member_id: true,
        }
    }

    fn joined(outcome: JoinOutcome) -> JoinResult {
        match outcome {
            JoinOutcome::Joined(result) => result,
            other => panic!("expected Joined, got {other:?}"),
        }
    }

    #[test]
    fn two_members_rebalance_and_sync() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let JoinOutcome::MemberIdRequired(a) = c.join(&join("g", ""), t) else {
            panic!()
        };
        let first = joined(c.join(&join("g", &a), t));
        assert_eq!((first.generation, first.leader.as_str()), (1, a.as_str()));
        assert_eq!(first.protocol_name.as_deref(), Some("range"));
        assert_eq!(first.members.len(), 1);
        assert_eq!(
            c.sync("g", &a, 1, Some(&[(a.as_str(), b"all".as_slice())]), t),
            SyncOutcome::Assigned {
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: b"all".to_vec()
            }
        );
        // A second member joins: the group rebalances and waits for the first to rejoin.
        let JoinOutcome::MemberIdRequired(b) = c.join(&join("g", ""), t) else {
            panic!()
        };
        let JoinOutcome::Wait(_, _) = c.join(&join("g", &b), t) else {
            panic!()
        };
        assert_eq!(c.heartbeat("g", &a, 1, t), error::REBALANCE_IN_PROGRESS);
        let leader = joined(c.join(&join("g", &a), t));
        assert_eq!(leader.generation, 2);
        assert_eq!(leader.members.len(), 2);
        let follower = joined(c.join_result("g", &b).unwrap());
        assert!(follower.members.is_empty());
        assert_eq!(
            c.sync("g", &b, 2, None, t),
            SyncOutcome::Wait(t + Duration::from_secs(10))
        );
        let assignments = [
            (a.as_str(), b"p0".as_slice()),
            (b.as_str(), b"p1".as_slice()),
        ];
        assert!(matches!(
            c.sync("g", &a, 2, Some(&assignments), t),
            SyncOutcome::Assigned { .. }
        ));
        let SyncOutcome::Assigned { assignment, .. } = c.sync("g", &b, 2, None, t) else {
            panic!()
        };
        assert_eq!(assignment, b"p1");
        assert_eq!(c.heartbeat("g", &b, 1, t), error::ILLEGAL_GENERATION);
        assert_eq!(c.heartbeat("g", "nobody", 2, t), error::UNKNOWN_MEMBER_ID);
        assert_eq!(c.heartbeat("g", &b, 2, t), error::NONE);
    }

    #[test]
    fn silent_member_is_evicted_and_the_rest_rebalance() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let a = joined(c.join(&req, t)).member_id;
        c.sync("g", &a, 1, Some(&[]), t);
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let JoinOutcome::Wait(b, _) = c.join(&req, t) else {
            panic!()
        };
        joined(c.join(&join("g", &a), t));
        c.join_result("g", &b).unwrap();
        c.sync("g", &a, 2, Some(&[]), t);
        // b heartbeats, a goes silent past its 10 s session.
        let later = t + Duration::from_secs(8);
        assert_eq!(c.heartbeat("g", &b, 2, later), error::NONE);
        c.tick(t + Duration::from_secs(11));
        let group = c.group("g").unwrap();
        assert!(!group.members.contains_key(&a));
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(c.heartbeat("g", &b, 2, later), error::REBALANCE_IN_PROGRESS);
    }

    /// A follower waits in SyncGroup past its session for a slow leader: it is not expired
    /// meanwhile, and the assignment restarts its session.
    #[test]
    fn a_follower_waiting_for_a_slow_leader_keeps_its_session() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let a = joined(c.join(&req, t)).member_id;
        c.sync("g", &a, 1, Some(&[]), t);
        let JoinOutcome::Wait(b, _) = c.join(&req, t) else {
            panic!()
        };
        joined(c.join(&join("g", &a), t));
        c.join_result("g", &b).unwrap();
        assert!(matches!(c.sync("g", &b, 2, None, t), SyncOutcome::Wait(_)));
        // The leader heartbeats but syncs only after 12 s; b's session is 10 s.
        let late = t + Duration::from_secs(12);
        assert_eq!(c.heartbeat("g", &a, 2, late), error::NONE);
        c.tick(late);
        assert!(c.group("g").unwrap().members.contains_key(&b));
        c.sync("g", &a, 2, Some(&[(b.as_str(), b"p".as_slice())]), late);
        c.tick(late + Duration::from_secs(1));
        let group = c.group("g").unwrap();
        assert_eq!((group.state, group.members.len()), (GroupState::Stable, 2));
        // After the assignment the session runs as usual again.
        c.tick(late + Duration::from_secs(11));
        assert!(!c.group("g").unwrap().members.contains_key(&b));
    }

    /// A leader that never sends its SyncGroup expires like any silent member, so a group
    /// whose leader died between join and sync does not stay stuck.
    #[test]
    fn a_leader_that_never_syncs_expires() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let a = joined(c.join(&req, t)).member_id;
        assert_eq!(c.group("g").unwrap().state, GroupState::CompletingRebalance);
        c.tick(t + Duration::from_secs(11));
        let group = c.group("g").unwrap();
        assert!(!group.members.contains_key(&a));
        assert_eq!(group.state, GroupState::Empty);
    }

    #[test]
    fn initial_delay_holds_the_first_rebalance() {
        let mut c = Coordinator::new(Duration::from_millis(3000));
        let t = Instant::now();
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let JoinOutcome::Wait(a, deadline) = c.join(&req, t) else {
            panic!()
        };
        assert_eq!(deadline, t + Duration::from_millis(3000));
        assert!(matches!(
            c.join_result("g", &a),
            Some(JoinOutcome::Wait(..))
        ));
        c.tick(deadline);
        assert_eq!(joined(c.join_result("g", &a).unwrap()).generation, 1);
    }

    #[test]
    fn leaving_empties_the_group_and_static_members_keep_assignments() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let mut req = join("g", "");
        req.instance_id = Some("i-1");
        let first = joined(c.join(&req, t));
        c.sync(
            "g",
            &first.member_id,
            1,
            Some(&[(first.member_id.as_str(), b"mine".as_slice())]),
            t,
        );
        // The client restarts: same instance id, no member id.
        let again = joined(c.join(&req, t));
        assert_ne!(again.member_id, first.member_id);
        assert_eq!(again.generation, 1);
        let SyncOutcome::Assigned { assignment, .. } = c.sync("g", &again.member_id, 1, None, t)
        else {
            panic!()
        };
        assert_eq!(assignment, b"mine");
        assert_eq!(c.leave("g", "", Some("i-1"), t), error::NONE);
        assert_eq!(c.group("g").unwrap().state, GroupState::Empty);
        assert_eq!(c.leave("g", "x", None, t), error::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let mut req = join("g", "");
        req.require_known_member_id = false;
        joined(c.join(&req, t));
        let mut other = join("g", "");
        other.require_known_member_id = false;
        other.protocols = vec![("sticky", b"s")];
        assert!(matches!(
            c.join(&other, t),
            JoinOutcome::Error(error::INCONSISTENT_GROUP_PROTOCOL, _)
        ));
    }

    /// a leads generation 1 alone; b joins; both are Stable in generation 2 (10 s sessions,
    /// 30 s rebalance timeouts).
    fn stable_pair(c: &mut Coordinator, t: Instant) -> (String, String) {
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let a = joined(c.join(&req, t)).member_id;
        c.sync("g", &a, 1, Some(&[]), t);
        let JoinOutcome::Wait(b, _) = c.join(&req, t) else {
            panic!()
        };
        joined(c.join(&join("g", &a), t));
        joined(c.join_result("g", &b).unwrap());
        c.sync("g", &a, 2, Some(&[]), t);
        (a, b)
    }

    fn member_ids(result: &JoinResult) -> Vec<&str> {
        result.members.iter().map(|m| m.0.as_str()).collect()
    }

    #[test]
    fn an_abandoned_join_expires_within_its_session_and_the_rest_rebalance() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let (a, b) = stable_pair(&mut c, t);
        // The leader rejoins, waits for b, and its connection closes.
        let JoinOutcome::Wait(waiting, deadline) = c.join(&join("g", &a), t) else {
            panic!()
        };
        assert_eq!(waiting, a);
        assert_eq!(deadline, t + Duration::from_secs(30));
        let gone = t + Duration::from_secs(1);
        c.abandon_join("g", &a, gone);
        // b rejoins: the rebalance waits for a, which no longer counts as joined and whose
        // session runs again from its abandonment.
        assert!(matches!(
            c.join(&join("g", &b), gone),
            JoinOutcome::Wait(..)
        ));
        let expiry = gone + Duration::from_secs(10);
        assert_eq!(c.next_deadline(), Some(expiry + Duration::from_millis(1)));
        c.tick(expiry);
        assert!(c.group("g").unwrap().members.contains_key(&a));
        c.tick(expiry + Duration::from_millis(1));
        let alone = joined(c.join_result("g", &b).unwrap());
        assert_eq!((alone.generation, alone.leader.as_str()), (3, b.as_str()));
        assert_eq!(member_ids(&alone), [b.as_str()]);
    }

    #[test]
    fn a_rebalance_waiting_for_an_abandoned_join_completes_without_it_at_its_deadline() {
        let mut c = Coordinator::new(Duration::ZERO);
        let t = Instant::now();
        let (a, b) = stable_pair(&mut c, t);
        let JoinOutcome::Wait(_, deadline) = c.join(&join("g", &a), t) else {
            panic!()
        };
        // Abandoned 25 s into the 30 s rebalance: its 10 s session would outlast the deadline.
        c.abandon_join("g", &a, t + Duration::from_secs(25));
        let rejoin = t + Duration::from_secs(26);
        assert!(matches!(
            c.join(&join("g", &b), rejoin),
            JoinOutcome::Wait(..)
        ));
        c.tick(deadline);
        let alone = joined(c.join_result("g", &b).unwrap());
        assert_eq!(member_ids(&alone), [b.as_str()]);
        assert_eq!(
            c.join_result("g", &a),
            Some(JoinOutcome::Error(error::UNKNOWN_MEMBER_ID, a.clone()))
        );
    }

    #[test]
    fn a_new_member_that_abandons_its_first_join_is_left_out() {
        let mut c = Coordinator::new(Duration::from_millis(3000));
        let t = Instant::now();
        // v0-3: the requests carry no member id; their retries use the one assigned.
        let mut req = join("g", "");
        req.require_known_member_id = false;
        let JoinOutcome::Wait(a, deadline) = c.join(&req, t) else {
            panic!()
        };
        let JoinOutcome::Wait(b, _) = c.join(&req, t) else {
            panic!()
        };
        c.abandon_join("g", &a, t + Duration::from_secs(1));
        c.tick(deadline);
        let first = joined(c.join_result("g", &b).unwrap());
        assert_eq!((first.generation, first.leader.as_str()), (1, b.as_str()));
        assert_eq!(member_ids(&first), [b.as_str()]);
        // Abandoning an answered join, or an unknown member's, changes nothing.
        let heard = c.group("g").unwrap().members[&b].last_heartbeat;
        c.abandon_join("g", &b, deadline + Duration::from_secs(1));
        c.abandon_join("g", "nobody", deadline);
        let member = &c.group("g").unwrap().members[&b];
        assert_eq!((member.last_heartbeat, member.joined), (heard, true));
    }
}
