//! Consumer groups of Kafka's consumer protocol (KIP-848), beside the classic coordinator:
//! the coordinator assigns partitions itself and members learn their assignment from
//! ConsumerGroupHeartbeat answers, which never wait. A group has a group epoch (bumped by
//! every change of membership, subscriptions or subscribed topics' metadata), a target
//! assignment computed by a server-side assignor at an assignment epoch, and members that
//! reconcile towards the target one heartbeat at a time. Invariant: a partition is owned
//! (assigned, or still to be revoked) by at most one member; a member is given a partition
//! only once its previous owner has acknowledged revoking it ([`ConsumerGroup::owners`]).
//! Pure state as the classic coordinator: no I/O and no clock; the broker passes `now` and
//! calls [`ConsumerGroups::tick`] from the loop's timer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::protocol::error::{self, ErrorCode};

mod records;

pub type TopicId = [u8; 16];
/// Partitions by topic id.
pub type Assignment = BTreeMap<TopicId, BTreeSet<i32>>;

/// A topic as the assignors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicMeta {
    pub id: TopicId,
    pub partitions: i32,
}

/// Topics by name: the storage's topics when a heartbeat arrives.
pub type TopicImage = BTreeMap<String, TopicMeta>;

pub const FENCED_MEMBER_EPOCH: ErrorCode = 110;
pub const UNRELEASED_INSTANCE_ID: ErrorCode = 111;
pub const UNSUPPORTED_ASSIGNOR: ErrorCode = 112;
pub const STALE_MEMBER_EPOCH: ErrorCode = 113;
pub const GROUP_MAX_SIZE_REACHED: ErrorCode = 81;

/// The epoch a heartbeat sends to join, to leave, and (static members) to leave for now.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// The assignors this coordinator implements, by the names clients choose them with.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// A member's progress towards its target assignment (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// It owns its target assignment at the assignment epoch.
    Stable,
    /// It must revoke `pending_revocation` before it moves to a new epoch.
    UnrevokedPartitions,
    /// It is at the new epoch but waits for partitions other members still own.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub state: MemberState,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// What the member may use now (sent in heartbeat answers).
    pub assigned: Assignment,
    /// What it was told to give up and has not yet acknowledged giving up.
    pub pending_revocation: Assignment,
    pub last_heartbeat: Instant,
    pub session_timeout: Duration,
    /// While it owes a revocation: it is removed if it has not revoked by then.
    pub revocation_deadline: Option<Instant>,
}

/// A consumer group's state as DescribeGroups and ListGroups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, Member>,
    /// The target assignment of every member, computed at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// Each owned partition's owner: the member that has it assigned or pending revocation.
    pub owners: BTreeMap<(TopicId, i32), String>,
    /// The subscribed topics as they were when the group epoch last changed.
    pub subscribed: TopicImage,
    /// The assignor of the last target assignment.
    pub assignor: String,
    pub regexes: Regexes,
}

impl ConsumerGroup {
    fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            owners: BTreeMap::new(),
            subscribed: TopicImage::new(),
            assignor: String::new(),
            regexes: Regexes::default(),
        }
    }

    pub fn state(&self) -> GroupState {
        if self.members.is_empty() {
            GroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            GroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            GroupState::Reconciling
        } else {
            GroupState::Stable
        }
    }

    /// Every topic a member subscribes to: by name, or matched by its regex.
    pub fn subscribed_topic_names(&self) -> BTreeSet<String> {
        let by_name = self
            .members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned());
        by_name.chain(self.subscribed.keys().cloned()).collect()
    }

    /// The member with this instance id (a static member).
    pub fn instance(&self, instance_id: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// A static member rejoins under a new member id: it takes over the old member's
    /// assignment and target, if the old one left for now (epoch -2); else
    /// UNRELEASED_INSTANCE_ID, as Kafka's `throwIfInstanceIdIsUnreleased`.
    fn replace_static(&mut self, hb: &Heartbeat) -> Result<Member, Refusal> {
        let instance_id = hb.instance_id.unwrap_or_default();
        let old = self
            .instance(instance_id)
            .cloned()
            .expect("checked by the caller");
        if old.member_epoch != STATIC_LEAVE_EPOCH {
            return Err((
                UNRELEASED_INSTANCE_ID,
                format!(
                    "Static member {} with instance id {instance_id} cannot join the group \
                     because the instance id is owned by {} member.",
                    hb.member_id, old.id
                ),
            ));
        }
        log::debug!(
            "group {}: static member {instance_id} returns as {} (was {})",
            self.id,
            hb.member_id,
            old.id
        );
        self.release(&old);
        self.members.remove(&old.id);
        if let Some(target) = self.target.remove(&old.id) {
            self.target.insert(hb.member_id.to_string(), target);
        }
        let mut member = old;
        member.id = hb.member_id.to_string();
        member.client_id = hb.client_id.to_string();
        member.client_host = hb.client_host.to_string();
        self.claim(&member);
        Ok(member)
    }

    /// Takes a member out: its partitions are free, the group epoch moves on.
    fn remove_member(&mut self, member_id: &str) {
        if let Some(member) = self.members.remove(member_id) {
            self.release(&member);
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    fn release(&mut self, member: &Member) {
        for tp in partitions(&member.assigned).chain(partitions(&member.pending_revocation)) {
            if self.owners.get(&tp) == Some(&member.id) {
                self.owners.remove(&tp);
            }
        }
    }

    fn claim(&mut self, member: &Member) {
        for tp in partitions(&member.assigned).chain(partitions(&member.pending_revocation)) {
            let previous = self.owners.insert(tp, member.id.clone());
            if let Some(other) = previous.filter(|o| *o != member.id) {
                // The reconciliation never hands out an owned partition: a bug.
                log::error!(
                    "group {}: partition {:?}-{} given to {} while {other} owns it",
                    self.id,
                    tp.0,
                    tp.1,
                    member.id
                );
            }
        }
    }

    /// The topics the members subscribe to, as they exist now.
    fn subscribed_image(&self, topics: &TopicImage) -> TopicImage {
        let mut image = TopicImage::new();
        for member in self.members.values() {
            for name in member_topics(member, topics, &self.regexes) {
                if let Some(meta) = topics.get(&name) {
                    image.insert(name, *meta);
                }
            }
        }
        image
    }

    /// The server assignor most members asked for, else the configured default.
    fn preferred_assignor(&self, settings: &Settings) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(a) = &member.server_assignor {
                *votes.entry(a.as_str()).or_default() += 1;
            }
        }
        let most = votes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, _)| a.to_string());
        most.unwrap_or_else(|| settings.default_assignor().to_string())
    }

    fn compute_target(&mut self, settings: &Settings) {
        let assignor = self.preferred_assignor(settings);
        let subscriptions: BTreeMap<String, BTreeSet<TopicId>> = self
            .members
            .values()
            .map(|m| {
                let ids = member_topics(m, &self.subscribed, &self.regexes)
                    .filter_map(|name| self.subscribed.get(&name).map(|t| t.id))
                    .collect();
                (m.id.clone(), ids)
            })
            .collect();
        let topics: BTreeMap<TopicId, i32> = self
            .subscribed
            .values()
            .map(|t| (t.id, t.partitions))
            .collect();
        self.target = if assignor == "range" {
            assign_range(&subscriptions, &topics)
        } else {
            assign_uniform(&subscriptions, &topics, &self.target)
        };
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
        log::debug!(
            "group {}: target assignment at epoch {} ({})",
            self.id,
            self.assignment_epoch,
            self.assignor
        );
    }
}

/// The group's members' subscription patterns, compiled once each (a pattern that does
/// not compile matches nothing). A cache: it takes no part in comparing groups.
#[derive(Debug, Clone, Default)]
pub struct Regexes(BTreeMap<String, Option<regex::Regex>>);

impl PartialEq for Regexes {
    fn eq(&self, _: &Regexes) -> bool {
        true
    }
}

impl Eq for Regexes {}

impl Regexes {
    /// Compiles new patterns and forgets unused ones: one entry per distinct pattern.
    fn refresh<'m>(&mut self, members: impl Iterator<Item = &'m Member>) {
        let wanted: BTreeSet<&str> = members
            .filter_map(|m| m.subscribed_topic_regex.as_deref())
            .collect();
        self.0.retain(|p, _| wanted.contains(p.as_str()));
        for pattern in wanted {
            if !self.0.contains_key(pattern) {
                let compiled = crate::topic_regex::compile(pattern).ok();
                self.0.insert(pattern.to_string(), compiled);
            }
        }
    }
}

/// The topic names a member subscribes to (by name; by regex against the known topics).
fn member_topics<'m>(
    member: &'m Member,
    topics: &'m TopicImage,
    regexes: &'m Regexes,
) -> impl Iterator<Item = String> + 'm {
    let by_regex = member
        .subscribed_topic_regex
        .as_ref()
        .and_then(|p| regexes.0.get(p))
        .and_then(Option::as_ref);
    let matched = topics
        .keys()
        .filter(move |name| by_regex.is_some_and(|r| r.is_match(name)))
        .cloned();
    member.subscribed_topic_names.iter().cloned().chain(matched)
}

fn partitions(assignment: &Assignment) -> impl Iterator<Item = (TopicId, i32)> + '_ {
    assignment
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
}

fn count(assignment: &Assignment) -> usize {
    assignment.values().map(BTreeSet::len).sum()
}

fn is_subset(small: &Assignment, big: &Assignment) -> bool {
    partitions(small).all(|(t, p)| big.get(&t).is_some_and(|ps| ps.contains(&p)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    partitions(a).any(|(t, p)| b.get(&t).is_some_and(|ps| ps.contains(&p)))
}

fn insert(assignment: &mut Assignment, topic: TopicId, partition: i32) {
    assignment.entry(topic).or_default().insert(partition);
}

/// A group's settings: its configs over the broker's.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.assignors`, the first the default.
    pub assignors: Vec<String>,
    /// `group.consumer.max.size`.
    pub max_size: usize,
}

impl Settings {
    /// From the group's resolved configs and the broker's properties.
    pub fn new(group: &crate::configs::GroupConfig, broker: &BTreeMap<String, String>) -> Settings {
        let assignors = broker
            .get("group.consumer.assignors")
            .map(|list| {
                list.split(',')
                    .map(|a| assignor_name(a.trim()).to_string())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| ASSIGNORS.iter().map(|a| a.to_string()).collect());
        let max_size = broker
            .get("group.consumer.max.size")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(i32::MAX as usize);
        Settings {
            session_timeout_ms: group.consumer_session_timeout_ms,
            heartbeat_interval_ms: group.consumer_heartbeat_interval_ms,
            assignors,
            max_size,
        }
    }

    fn default_assignor(&self) -> &str {
        self.assignors.first().map_or("uniform", String::as_str)
    }
}

/// Kafka names assignors by class in `group.consumer.assignors`, clients by short name.
fn assignor_name(configured: &str) -> &str {
    match configured {
        "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => "uniform",
        "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => "range",
        other => other,
    }
}

/// One ConsumerGroupHeartbeat, borrowed from the request.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat<'a> {
    pub group_id: &'a str,
    pub member_id: &'a str,
    pub member_epoch: i32,
    pub instance_id: Option<&'a str>,
    pub rack_id: Option<&'a str>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<&'a str>>,
    pub subscribed_topic_regex: Option<&'a str>,
    pub server_assignor: Option<&'a str>,
    pub owned: Option<Assignment>,
    pub client_id: &'a str,
    pub client_host: &'a str,
}

/// What a heartbeat gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when it changed or the request was a full one.
    pub assignment: Option<Assignment>,
}

pub type Refusal = (ErrorCode, String);

#[derive(Debug, Default)]
pub struct ConsumerGroups {
    pub groups: BTreeMap<String, ConsumerGroup>,
    /// Groups changed since their records were last written.
    dirty: BTreeSet<String>,
    /// Each group's records as last written: key bytes to value bytes.
    persisted: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// One group's records to write: key bytes, value bytes or `None` (a tombstone).
pub type RecordWrites = Vec<(Vec<u8>, Option<Vec<u8>>)>;

impl ConsumerGroups {
    pub fn group(&self, id: &str) -> Option<&ConsumerGroup> {
        self.groups.get(id)
    }

    /// Forgets a group with no members (DeleteGroups, or a classic member taking the id).
    pub fn remove_empty(&mut self, id: &str) -> ErrorCode {
        match self.groups.get(id) {
            Some(g) if !g.members.is_empty() => error::NON_EMPTY_GROUP,
            Some(_) => {
                self.groups.remove(id);
                self.dirty.insert(id.to_string());
                error::NONE
            }
            None => error::NONE,
        }
    }

    /// Whether some group changed since its records were last taken.
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The records changed groups need, as Kafka writes them: new and changed values, and
    /// tombstones for what is gone (the group's metadata record last). Taking them marks
    /// them written.
    pub fn take_changes(&mut self) -> Vec<(String, RecordWrites)> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut out = Vec::new();
        for id in dirty {
            let now = self.groups.get(&id).map(records::image).unwrap_or_default();
            let before = self.persisted.remove(&id).unwrap_or_default();
            let mut writes: RecordWrites = now
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect();
            let mut gone: Vec<&Vec<u8>> = before.keys().filter(|k| !now.contains_key(*k)).collect();
            // Keys sort by type: the group's metadata (3) goes last.
            gone.sort_by_key(|k| std::cmp::Reverse(k.get(..2).map(<[u8]>::to_vec)));
            writes.extend(gone.into_iter().map(|k| (k.clone(), None)));
            if !now.is_empty() {
                self.persisted.insert(id.clone(), now);
            }
            if !writes.is_empty() {
                out.push((id, writes));
            }
        }
        out
    }

    /// The groups the records in `__consumer_offsets` describe (after a restart): members
    /// keep their epochs and assignments, and their sessions start now.
    pub fn restore<'r>(
        stored: impl Iterator<Item = (&'r [u8], &'r [u8])>,
        session_timeout: Duration,
        now: Instant,
    ) -> ConsumerGroups {
        let groups = records::restore(stored, session_timeout, now);
        let persisted = groups
            .iter()
            .map(|(id, g)| (id.clone(), records::image(g)))
            .collect();
        ConsumerGroups {
            groups,
            dirty: BTreeSet::new(),
            persisted,
        }
    }

    /// A heartbeat: join (epoch 0), stay (the member's epoch), leave (-1, -2).
    pub fn heartbeat(
        &mut self,
        hb: &Heartbeat,
        topics: &TopicImage,
        settings: &Settings,
        now: Instant,
    ) -> Result<Beat, Refusal> {
        if let Some(assignor) = hb.server_assignor
            && !settings.assignors.iter().any(|a| a == assignor)
        {
            return Err((
                UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {assignor} is not supported. Supported assignors: {}.",
                    settings.assignors.join(", ")
                ),
            ));
        }
        if hb.member_epoch == LEAVE_EPOCH || hb.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(hb, settings);
        }
        let joining = hb.member_epoch == JOIN_EPOCH;
        if !joining && !self.groups.contains_key(hb.group_id) {
            return Err((
                error::GROUP_ID_NOT_FOUND,
                format!("Group {} not found.", hb.group_id),
            ));
        }
        self.dirty.insert(hb.group_id.to_string());
        let group = self
            .groups
            .entry(hb.group_id.to_string())
            .or_insert_with(|| ConsumerGroup::new(hb.group_id));
        let old = group.members.get(hb.member_id).cloned();
        let mut replaced = false;
        let mut member = match old.clone() {
            Some(member) => member,
            None if joining && hb.instance_id.is_some_and(|i| group.instance(i).is_some()) => {
                replaced = true;
                group.replace_static(hb)?
            }
            None if joining => {
                if group.members.len() >= settings.max_size {
                    return Err((
                        GROUP_MAX_SIZE_REACHED,
                        format!(
                            "The consumer group has reached its maximum capacity of {} members.",
                            settings.max_size
                        ),
                    ));
                }
                new_member(hb, now)
            }
            None => {
                return Err((
                    error::UNKNOWN_MEMBER_ID,
                    format!(
                        "Member {} is not a member of group {}.",
                        hb.member_id, hb.group_id
                    ),
                ));
            }
        };
        if !joining {
            check_epoch(&member, hb)?;
        }
        // A static member taking its place back changes nothing for the others.
        let mut bump = old.is_none() && !replaced;
        if update_subscription(&mut member, hb) {
            bump = true;
            log::debug!(
                "group {}: member {} subscribes to {:?} and regex {:?}",
                group.id,
                member.id,
                member.subscribed_topic_names,
                member.subscribed_topic_regex
            );
        }
        member.last_heartbeat = now;
        member.session_timeout = Duration::from_millis(settings.session_timeout_ms.max(0) as u64);
        group.members.insert(member.id.clone(), member);
        group.regexes.refresh(group.members.values());
        let image = group.subscribed_image(topics);
        if image != group.subscribed {
            group.subscribed = image;
            bump = true;
        }
        // One change of membership, subscriptions or topics is one new group epoch.
        if bump {
            group.group_epoch += 1;
        }
        if group.group_epoch > group.assignment_epoch {
            group.compute_target(settings);
        }
        let member = reconcile_member(group, hb.member_id, hb.owned.as_ref(), now);
        let full = joining
            || (hb.rebalance_timeout_ms != -1
                && (hb.subscribed_topic_names.is_some() || hb.subscribed_topic_regex.is_some())
                && hb.owned.is_some());
        let changed = old
            .as_ref()
            .is_none_or(|o| o.member_epoch != member.member_epoch || o.assigned != member.assigned);
        // A member that reports owning other partitions than it was given needs them again.
        let differs = hb.owned.as_ref().is_some_and(|o| *o != member.assigned);
        Ok(Beat {
            member_id: member.id.clone(),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            assignment: (changed || full || differs).then(|| member.assigned.clone()),
        })
    }

    fn leave(&mut self, hb: &Heartbeat, settings: &Settings) -> Result<Beat, Refusal> {
        let Some(group) = self.groups.get_mut(hb.group_id) else {
            return Err((
                error::GROUP_ID_NOT_FOUND,
                format!("Group {} not found.", hb.group_id),
            ));
        };
        if !group.members.contains_key(hb.member_id) {
            return Err((
                error::UNKNOWN_MEMBER_ID,
                format!(
                    "Member {} is not a member of group {}.",
                    hb.member_id, hb.group_id
                ),
            ));
        }
        if hb.member_epoch == STATIC_LEAVE_EPOCH {
            // A static member leaves for now: it keeps its assignment (nobody else gets its
            // partitions) until it returns or its session times out.
            log::debug!(
                "group {}: static member {} leaves for now",
                group.id,
                hb.member_id
            );
            let member = group.members[hb.member_id].clone();
            group.release(&member);
            let mut away = member;
            away.member_epoch = STATIC_LEAVE_EPOCH;
            away.pending_revocation.clear();
            away.state = MemberState::Stable;
            away.revocation_deadline = None;
            group.claim(&away);
            group.members.insert(away.id.clone(), away);
        } else {
            log::debug!("group {}: member {} leaves", group.id, hb.member_id);
            group.remove_member(hb.member_id);
        }
        self.dirty.insert(hb.group_id.to_string());
        Ok(Beat {
            member_id: hb.member_id.to_string(),
            member_epoch: hb.member_epoch,
            heartbeat_interval_ms: settings.heartbeat_interval_ms,
            assignment: None,
        })
    }

    /// OffsetCommit for a consumer group, as Kafka's `ConsumerGroup.validateOffsetCommit`:
    /// `None` if `group_id` is no consumer group.
    pub fn check_commit(
        &mut self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
        version: i16,
        now: Instant,
    ) -> Option<ErrorCode> {
        let group = self.groups.get_mut(group_id)?;
        if member_epoch < 0 && group.members.is_empty() {
            return Some(error::NONE);
        }
        let Some(member) = group.members.get_mut(member_id) else {
            return Some(error::UNKNOWN_MEMBER_ID);
        };
        if version < 9 {
            return Some(error::UNSUPPORTED_VERSION);
        }
        if member_epoch != member.member_epoch {
            return Some(STALE_MEMBER_EPOCH);
        }
        member.last_heartbeat = member.last_heartbeat.max(now);
        Some(error::NONE)
    }

    /// OffsetFetch for a consumer group, as Kafka's `ConsumerGroup.validateOffsetFetch`.
    pub fn check_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Option<ErrorCode> {
        let group = self.groups.get(group_id)?;
        let Some(member_id) = member_id else {
            return Some(if member_epoch < 0 {
                error::NONE
            } else {
                error::UNKNOWN_MEMBER_ID
            });
        };
        if member_id.is_empty() && member_epoch < 0 {
            return Some(error::NONE);
        }
        let Some(member) = group.members.get(member_id) else {
            return Some(error::UNKNOWN_MEMBER_ID);
        };
        if member_epoch != member.member_epoch {
            return Some(STALE_MEMBER_EPOCH);
        }
        Some(error::NONE)
    }

    /// Removes members past their session timeout, and members that did not revoke within
    /// their rebalance timeout.
    pub fn tick(&mut self, now: Instant) {
        for group in self.groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| {
                    now.duration_since(m.last_heartbeat) > m.session_timeout
                        || m.revocation_deadline.is_some_and(|d| d <= now)
                })
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                log::info!(
                    "group {}: member {id} missed its session or rebalance timeout",
                    group.id
                );
                group.remove_member(&id);
                self.dirty.insert(group.id.clone());
            }
        }
    }

    /// The next time `tick` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .values()
            .flat_map(|g| g.members.values())
            .flat_map(|m| {
                let session = m.last_heartbeat + m.session_timeout + Duration::from_millis(1);
                std::iter::once(session).chain(m.revocation_deadline)
            })
            .min()
    }
}

fn new_member(hb: &Heartbeat, now: Instant) -> Member {
    Member {
        id: hb.member_id.to_string(),
        instance_id: hb.instance_id.map(str::to_string),
        rack_id: None,
        client_id: hb.client_id.to_string(),
        client_host: hb.client_host.to_string(),
        subscribed_topic_names: Vec::new(),
        subscribed_topic_regex: None,
        server_assignor: None,
        rebalance_timeout_ms: hb.rebalance_timeout_ms,
        state: MemberState::Stable,
        member_epoch: 0,
        previous_member_epoch: -1,
        assigned: Assignment::new(),
        pending_revocation: Assignment::new(),
        last_heartbeat: now,
        session_timeout: Duration::ZERO,
        revocation_deadline: None,
    }
}

/// Kafka's `throwIfMemberEpochIsInvalid`: a newer epoch than ours is fenced; an older one
/// only if it is the previous epoch and the member owns nothing it may not (a lost answer).
fn check_epoch(member: &Member, hb: &Heartbeat) -> Result<(), Refusal> {
    let (received, expected) = (hb.member_epoch, member.member_epoch);
    if received > expected {
        return Err((
            FENCED_MEMBER_EPOCH,
            format!(
                "The consumer group member has a greater member epoch ({received}) than the \
                 one known by the group coordinator ({expected}). The member must abandon all \
                 its partitions and rejoin."
            ),
        ));
    }
    if received < expected {
        let tolerated = received == member.previous_member_epoch
            && hb
                .owned
                .as_ref()
                .is_some_and(|o| is_subset(o, &member.assigned));
        if !tolerated {
            return Err((
                FENCED_MEMBER_EPOCH,
                format!(
                    "The consumer group member has a smaller member epoch ({received}) than \
                     the one known by the group coordinator ({expected}). The member must \
                     abandon all its partitions and rejoin."
                ),
            ));
        }
    }
    Ok(())
}

/// Applies what the heartbeat changed; true if the subscription changed.
fn update_subscription(member: &mut Member, hb: &Heartbeat) -> bool {
    let mut changed = false;
    if let Some(instance) = hb.instance_id {
        member.instance_id = Some(instance.to_string());
    }
    if let Some(rack) = hb.rack_id {
        member.rack_id = Some(rack.to_string());
    }
    if hb.rebalance_timeout_ms != -1 {
        member.rebalance_timeout_ms = hb.rebalance_timeout_ms;
    }
    if let Some(names) = &hb.subscribed_topic_names {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names.dedup();
        changed |= names != member.subscribed_topic_names;
        member.subscribed_topic_names = names;
    }
    if let Some(regex) = hb.subscribed_topic_regex {
        let regex = (!regex.is_empty()).then(|| regex.to_string());
        changed |= regex != member.subscribed_topic_regex;
        member.subscribed_topic_regex = regex;
    }
    if let Some(assignor) = hb.server_assignor {
        let assignor = Some(assignor.to_string());
        changed |= assignor != member.server_assignor;
        member.server_assignor = assignor;
    }
    changed
}

/// Moves a member one step towards its target (Kafka's `CurrentAssignmentBuilder`) and
/// keeps the group's owners in step.
fn reconcile_member(
    group: &mut ConsumerGroup,
    member_id: &str,
    owned: Option<&Assignment>,
    now: Instant,
) -> Member {
    let member = group.members[member_id].clone();
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    let epoch = group.assignment_epoch;
    let next = match member.state {
        MemberState::Stable if member.member_epoch == epoch => member.clone(),
        MemberState::UnrevokedPartitions => {
            let still_owned = owned.is_none_or(|o| intersects(o, &member.pending_revocation));
            if still_owned {
                member.clone()
            } else {
                let mut revoked = member.clone();
                revoked.pending_revocation.clear();
                let mut next = next_assignment(&revoked, &target, epoch, owned, group);
                if next.state == MemberState::UnrevokedPartitions {
                    // Still behind: the epoch moves on only once nothing is left to revoke.
                    next.member_epoch = member.member_epoch;
                }
                next
            }
        }
        _ => next_assignment(&member, &target, epoch, owned, group),
    };
    let mut next = next;
    if next.member_epoch != member.member_epoch {
        next.previous_member_epoch = member.member_epoch;
    }
    next.revocation_deadline = match next.state {
        MemberState::UnrevokedPartitions if member.state == MemberState::UnrevokedPartitions => {
            member.revocation_deadline
        }
        MemberState::UnrevokedPartitions => {
            Some(now + Duration::from_millis(next.rebalance_timeout_ms.max(0) as u64))
        }
        _ => None,
    };
    group.release(&member);
    group.claim(&next);
    group.members.insert(member_id.to_string(), next.clone());
    next
}

/// Kafka's `computeNextAssignment`: keep what stays, revoke what goes (and wait for the
/// revocation before anything new), then take the new partitions nobody else owns.
fn next_assignment(
    member: &Member,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    group: &ConsumerGroup,
) -> Member {
    let mut kept = Assignment::new();
    let mut revoke = Assignment::new();
    for (t, p) in partitions(&member.assigned) {
        if target.get(&t).is_some_and(|ps| ps.contains(&p)) {
            insert(&mut kept, t, p);
        } else {
            insert(&mut revoke, t, p);
        }
    }
    let mut next = member.clone();
    let still_owned = owned.is_none_or(|o| intersects(o, &revoke));
    if !revoke.is_empty() && still_owned {
        next.state = MemberState::UnrevokedPartitions;
        next.assigned = kept;
        next.pending_revocation = revoke;
        return next;
    }
    let mut assigned = kept;
    let mut unreleased = false;
    for (t, p) in partitions(target) {
        match group.owners.get(&(t, p)) {
            Some(owner) if *owner != member.id => unreleased = true,
            _ => insert(&mut assigned, t, p),
        }
    }
    next.assigned = assigned;
    next.pending_revocation = Assignment::new();
    next.member_epoch = target_epoch;
    next.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    next
}

/// Kafka's `uniform` assignor, sticky: members keep what they had while it is valid, free
/// partitions go to the eligible member with the fewest, then partitions move from members
/// with two or more above an eligible member until no such pair is left.
pub fn assign_uniform(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    topics: &BTreeMap<TopicId, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let mut owner: BTreeMap<(TopicId, i32), String> = BTreeMap::new();
    for (member, assignment) in previous {
        let Some(subscribed) = subscriptions.get(member) else {
            continue;
        };
        for (t, p) in partitions(assignment) {
            let valid = subscribed.contains(&t) && topics.get(&t).is_some_and(|n| p < *n);
            if valid && !owner.contains_key(&(t, p)) {
                owner.insert((t, p), member.clone());
                insert(result.get_mut(member).expect("member"), t, p);
            }
        }
    }
    let eligible = |t: TopicId| {
        subscriptions
            .iter()
            .filter(move |(_, s)| s.contains(&t))
            .map(|(m, _)| m.clone())
    };
    for (t, n) in topics {
        for p in 0..*n {
            if owner.contains_key(&(*t, p)) {
                continue;
            }
            let fewest = eligible(*t).min_by_key(|m| (count(&result[m]), m.clone()));
            if let Some(m) = fewest {
                owner.insert((*t, p), m.clone());
                insert(result.get_mut(&m).expect("member"), *t, p);
            }
        }
    }
    let total: usize = owner.len();
    for _ in 0..=total {
        let mut moved = false;
        for ((t, p), from) in owner.clone() {
            let have = count(&result[&from]);
            let to = eligible(t)
                .filter(|m| count(&result[m]) + 1 < have)
                .min_by_key(|m| (count(&result[m]), m.clone()));
            if let Some(to) = to {
                if let Some(ps) = result.get_mut(&from).and_then(|a| a.get_mut(&t)) {
                    ps.remove(&p);
                    if ps.is_empty() {
                        result.get_mut(&from).expect("member").remove(&t);
                    }
                }
                insert(result.get_mut(&to).expect("member"), t, p);
                owner.insert((t, p), to);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    result
}

/// Kafka's `range` assignor: each topic's partitions in ranges over its subscribers, in
/// member id order, the first ones taking one more when they do not divide evenly.
pub fn assign_range(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    topics: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (t, n) in topics {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, s)| s.contains(t))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let (base, extra) = (*n as usize / members.len(), *n as usize % members.len());
        let mut next = 0i32;
        for (i, m) in members.iter().enumerate() {
            let take = base + usize::from(i < extra);
            for p in next..next + take as i32 {
                insert(result.get_mut(*m).expect("member"), *t, p);
            }
            next += take as i32;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TopicId = [1; 16];

    fn settings() -> Settings {
        Settings {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            assignors: vec!["uniform".into(), "range".into()],
            max_size: 3,
        }
    }

    fn topics(partitions: i32) -> TopicImage {
        let mut image = TopicImage::new();
        image.insert("t".into(), TopicMeta { id: T, partitions });
        image
    }

    fn join<'a>(member: &'a str) -> Heartbeat<'a> {
        Heartbeat {
            group_id: "g",
            member_id: member,
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t"]),
            owned: Some(Assignment::new()),
            ..Heartbeat::default()
        }
    }

    fn beat<'a>(member: &'a str, epoch: i32, owned: &Assignment) -> Heartbeat<'a> {
        Heartbeat {
            group_id: "g",
            member_id: member,
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(owned.clone()),
            ..Heartbeat::default()
        }
    }

    fn parts(a: &Assignment) -> Vec<i32> {
        a.get(&T)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_revoked_it() {
        let mut c = ConsumerGroups::default();
        let (s, t, now) = (settings(), topics(4), Instant::now());
        let a = c.heartbeat(&join("a"), &t, &s, now).unwrap();
        assert_eq!(
            (a.member_epoch, parts(a.assignment.as_ref().unwrap())),
            (1, vec![0, 1, 2, 3])
        );
        let a_owns = a.assignment.unwrap();
        let b = c.heartbeat(&join("b"), &t, &s, now).unwrap();
        // b is at epoch 2 but gets nothing until a gives up two partitions.
        assert_eq!(
            (b.member_epoch, b.assignment.clone()),
            (2, Some(Assignment::new()))
        );
        let a2 = c.heartbeat(&beat("a", 1, &a_owns), &t, &s, now).unwrap();
        assert_eq!(a2.member_epoch, 1);
        let kept = a2.assignment.unwrap();
        assert_eq!(parts(&kept).len(), 2);
        // Until a acknowledges, b still gets nothing.
        let b2 = c
            .heartbeat(&beat("b", 2, &Assignment::new()), &t, &s, now)
            .unwrap();
        assert_eq!(b2.assignment, None);
        let a3 = c.heartbeat(&beat("a", 1, &kept), &t, &s, now).unwrap();
        assert_eq!(
            (a3.member_epoch, a3.assignment.map(|x| parts(&x))),
            (2, Some(parts(&kept)))
        );
        let b3 = c
            .heartbeat(&beat("b", 2, &Assignment::new()), &t, &s, now)
            .unwrap();
        let mine = parts(b3.assignment.as_ref().unwrap());
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|p| !parts(&kept).contains(p)));
        assert_eq!(c.group("g").unwrap().state(), GroupState::Stable);
    }

    #[test]
    fn errors_as_kafka_answers_them() {
        let mut c = ConsumerGroups::default();
        let (s, t, now) = (settings(), topics(2), Instant::now());
        let code = |r: Result<Beat, Refusal>| r.map(|_| 0).unwrap_or_else(|e| e.0);
        assert_eq!(
            code(c.heartbeat(&beat("a", 1, &Assignment::new()), &t, &s, now)),
            error::GROUP_ID_NOT_FOUND
        );
        c.heartbeat(&join("a"), &t, &s, now).unwrap();
        assert_eq!(
            code(c.heartbeat(&beat("x", 1, &Assignment::new()), &t, &s, now)),
            error::UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            code(c.heartbeat(&beat("a", 7, &Assignment::new()), &t, &s, now)),
            FENCED_MEMBER_EPOCH
        );
        let mut bad = join("b");
        bad.server_assignor = Some("sticky");
        let (e, message) = c.heartbeat(&bad, &t, &s, now).unwrap_err();
        assert_eq!(e, UNSUPPORTED_ASSIGNOR);
        assert_eq!(
            message,
            "ServerAssignor sticky is not supported. Supported assignors: uniform, range."
        );
        c.heartbeat(&join("b"), &t, &s, now).unwrap();
        c.heartbeat(&join("c"), &t, &s, now).unwrap();
        assert_eq!(
            code(c.heartbeat(&join("d"), &t, &s, now)),
            GROUP_MAX_SIZE_REACHED
        );
        assert_eq!(
            c.check_commit("g", "a", 0, 9, now),
            Some(STALE_MEMBER_EPOCH)
        );
        assert_eq!(
            c.check_commit("g", "a", 1, 8, now),
            Some(error::UNSUPPORTED_VERSION)
        );
        assert_eq!(c.check_commit("g", "a", 1, 9, now), Some(error::NONE));
        assert_eq!(c.check_commit("other", "a", 1, 9, now), None);
        let mut leave = beat("a", LEAVE_EPOCH, &Assignment::new());
        leave.owned = None;
        assert_eq!(c.heartbeat(&leave, &t, &s, now).unwrap().member_epoch, -1);
        assert_eq!(
            code(c.heartbeat(&leave, &t, &s, now)),
            error::UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn a_silent_member_expires_and_its_partitions_go_to_the_others() {
        let mut c = ConsumerGroups::default();
        let (s, t, now) = (settings(), topics(2), Instant::now());
        c.heartbeat(&join("a"), &t, &s, now).unwrap();
        let a_owns = c.group("g").unwrap().members["a"].assigned.clone();
        c.heartbeat(&join("b"), &t, &s, now).unwrap();
        let a = c
            .heartbeat(&beat("a", 1, &a_owns), &t, &s, now)
            .unwrap()
            .assignment
            .unwrap();
        c.heartbeat(&beat("a", 1, &a), &t, &s, now).unwrap();
        let later = now + Duration::from_secs(40);
        c.heartbeat(&beat("b", 2, &Assignment::new()), &t, &s, later)
            .unwrap();
        c.tick(now + Duration::from_secs(46));
        let group = c.group("g").unwrap();
        assert!(!group.members.contains_key("a"));
        assert!(group.owners.values().all(|o| o == "b"));
        let b = c
            .heartbeat(&beat("b", 2, &Assignment::new()), &t, &s, later)
            .unwrap();
        assert_eq!(
            (b.member_epoch, parts(&b.assignment.unwrap())),
            (3, vec![0, 1])
        );
    }

    #[test]
    fn a_static_member_returns_to_its_partitions_without_a_new_epoch() {
        let mut c = ConsumerGroups::default();
        let (s, t, now) = (settings(), topics(2), Instant::now());
        let mut a = join("a");
        a.instance_id = Some("i");
        c.heartbeat(&a, &t, &s, now).unwrap();
        c.heartbeat(&join("b"), &t, &s, now).unwrap();
        let owned = c.group("g").unwrap().members["a"].assigned.clone();
        let a2 = c.heartbeat(&beat("a", 1, &owned), &t, &s, now).unwrap();
        let kept = a2.assignment.unwrap();
        c.heartbeat(&beat("a", 1, &kept), &t, &s, now).unwrap();
        c.heartbeat(&beat("b", 2, &Assignment::new()), &t, &s, now)
            .unwrap();
        let epoch = c.group("g").unwrap().group_epoch;
        // Another process with the same instance id while a is still there.
        let mut twin = join("a2");
        twin.instance_id = Some("i");
        assert_eq!(
            c.heartbeat(&twin, &t, &s, now).unwrap_err().0,
            UNRELEASED_INSTANCE_ID
        );
        let mut away = beat("a", STATIC_LEAVE_EPOCH, &kept);
        away.instance_id = Some("i");
        assert_eq!(c.heartbeat(&away, &t, &s, now).unwrap().member_epoch, -2);
        let back = c.heartbeat(&twin, &t, &s, now).unwrap();
        assert_eq!((back.member_epoch, back.assignment), (2, Some(kept)));
        let group = c.group("g").unwrap();
        assert_eq!(group.group_epoch, epoch);
        assert!(!group.members.contains_key("a"));
        assert!(group.owners.values().all(|o| o == "a2" || o == "b"));
    }

    #[test]
    fn records_restore_the_group_and_only_changes_are_written() {
        let mut c = ConsumerGroups::default();
        let (s, t, now) = (settings(), topics(4), Instant::now());
        c.heartbeat(&join("a"), &t, &s, now).unwrap();
        let owned = c.group("g").unwrap().members["a"].assigned.clone();
        c.heartbeat(&join("b"), &t, &s, now).unwrap();
        c.heartbeat(&beat("a", 1, &owned), &t, &s, now).unwrap();
        let mut written = BTreeMap::new();
        for (group, records) in c.take_changes() {
            assert_eq!(group, "g");
            for (k, v) in records {
                written.insert(k, v.unwrap());
            }
        }
        // 3 group records, 2 per member, 1 target per member.
        assert_eq!(written.len(), 3 + 2 * 2 + 2);
        // A heartbeat that changes nothing writes nothing.
        let b_owned = c.group("g").unwrap().members["b"].assigned.clone();
        let epoch = c.group("g").unwrap().members["b"].member_epoch;
        c.heartbeat(&beat("b", epoch, &b_owned), &t, &s, now)
            .unwrap();
        assert!(c.take_changes().is_empty());
        let later = now + Duration::from_secs(1);
        let restored = ConsumerGroups::restore(
            written.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            Duration::from_secs(45),
            later,
        );
        let (mut before, mut after) = (
            c.group("g").unwrap().clone(),
            restored.group("g").unwrap().clone(),
        );
        for m in before
            .members
            .values_mut()
            .chain(after.members.values_mut())
        {
            m.last_heartbeat = later;
            m.client_id.clear();
            m.revocation_deadline = None;
        }
        after.assignor = before.assignor.clone();
        assert_eq!(after, before);
        // The last member leaving, then the group deleted: tombstones, metadata last.
        let mut c = restored;
        let owners: Vec<String> = c.group("g").unwrap().members.keys().cloned().collect();
        for m in &owners {
            let mut leave = beat(m, LEAVE_EPOCH, &Assignment::new());
            leave.owned = None;
            c.heartbeat(&leave, &t, &s, later).unwrap();
        }
        assert_eq!(c.remove_empty("g"), error::NONE);
        let changes = c.take_changes();
        let (_, records) = &changes[0];
        assert!(records.iter().all(|(_, v)| v.is_none()));
        assert_eq!(records.len(), written.len());
        assert_eq!(records.last().unwrap().0, [0, 3, 0, 1, b'g']);
    }

    #[test]
    fn range_and_uniform_split_evenly() {
        let subs: BTreeMap<String, BTreeSet<TopicId>> = ["a", "b", "c"]
            .iter()
            .map(|m| (m.to_string(), BTreeSet::from([T])))
            .collect();
        let topics = BTreeMap::from([(T, 7)]);
        let range = assign_range(&subs, &topics);
        assert_eq!(parts(&range["a"]), [0, 1, 2]);
        assert_eq!(parts(&range["c"]), [5, 6]);
        let previous =
            BTreeMap::from([("a".to_string(), Assignment::from([(T, (0..7).collect())]))]);
        let uniform = assign_uniform(&subs, &topics, &previous);
        let counts: Vec<usize> = uniform.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 7);
        assert!(counts.iter().all(|n| (2..=3).contains(n)));
        // Sticky: a keeps only partitions it had.
        assert!(parts(&uniform["a"]).iter().all(|p| *p < 7));
    }
}
