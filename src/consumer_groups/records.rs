//! A consumer group as its `__consumer_offsets` records (`storage::group_records`), and
//! back: the group's epoch and subscribed topics, each member's subscription and current
//! assignment (epochs, state, partitions pending revocation), the target assignment and
//! its epoch. Sessions are not stored: a restored member's session starts at the restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Assignment, ConsumerGroup, Member, MemberState, TopicMeta};
use crate::storage::group_records::{
    self as rec, CURRENT_ASSIGNMENT, CurrentAssignmentValue, GROUP_METADATA, GroupMetadataValue,
    MEMBER_METADATA, MemberMetadataValue, PARTITION_METADATA, PartitionMetadataValue, RecordKey,
    TARGET_MEMBER, TARGET_METADATA, TargetMemberValue, TargetMetadataValue, TopicMetadata,
    TopicPartitions,
};

/// Kafka's `MemberState` values.
fn state_code(state: MemberState) -> i8 {
    match state {
        MemberState::Stable => 1,
        MemberState::UnrevokedPartitions => 2,
        MemberState::UnreleasedPartitions => 3,
    }
}

fn state_of(code: i8) -> MemberState {
    match code {
        2 => MemberState::UnrevokedPartitions,
        3 => MemberState::UnreleasedPartitions,
        _ => MemberState::Stable,
    }
}

fn key(kind: i16, group: &str, member: Option<&str>) -> Vec<u8> {
    rec::encode_key(&RecordKey {
        kind,
        group_id: group.to_string(),
        member_id: member.map(str::to_string),
    })
}

fn topic_partitions(assignment: &Assignment) -> Vec<TopicPartitions> {
    assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(topic_id, ps)| TopicPartitions {
            topic_id: *topic_id,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

fn assignment(tps: &[TopicPartitions]) -> Assignment {
    let mut out = Assignment::new();
    for tp in tps.iter().filter(|tp| !tp.partitions.is_empty()) {
        out.entry(tp.topic_id)
            .or_default()
            .extend(tp.partitions.iter().copied());
    }
    out
}

/// The group's records: key bytes to value bytes.
pub fn image(group: &ConsumerGroup) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let id = group.id.as_str();
    let mut out = BTreeMap::new();
    out.insert(
        key(GROUP_METADATA, id, None),
        rec::encode_value(&GroupMetadataValue {
            epoch: group.group_epoch,
            metadata_hash: 0,
        }),
    );
    let topics = group
        .subscribed
        .iter()
        .map(|(name, meta)| TopicMetadata {
            topic_id: meta.id,
            topic_name: name.clone(),
            num_partitions: meta.partitions,
            partition_metadata: Vec::new(),
        })
        .collect();
    out.insert(
        key(PARTITION_METADATA, id, None),
        rec::encode_value(&PartitionMetadataValue { topics }),
    );
    out.insert(
        key(TARGET_METADATA, id, None),
        rec::encode_value(&TargetMetadataValue {
            assignment_epoch: group.assignment_epoch,
        }),
    );
    for (member_id, target) in &group.target {
        out.insert(
            key(TARGET_MEMBER, id, Some(member_id)),
            rec::encode_value(&TargetMemberValue {
                topic_partitions: topic_partitions(target),
            }),
        );
    }
    for m in group.members.values() {
        out.insert(
            key(MEMBER_METADATA, id, Some(&m.id)),
            rec::encode_value(&MemberMetadataValue {
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                server_assignor: m.server_assignor.clone(),
            }),
        );
        out.insert(
            key(CURRENT_ASSIGNMENT, id, Some(&m.id)),
            rec::encode_value(&CurrentAssignmentValue {
                member_epoch: m.member_epoch,
                previous_member_epoch: m.previous_member_epoch,
                state: state_code(m.state),
                assigned_partitions: topic_partitions(&m.assigned),
                partitions_pending_revocation: topic_partitions(&m.pending_revocation),
            }),
        );
    }
    out
}

/// Groups from their records; a record that does not decode is skipped with a warning.
pub fn restore<'r>(
    stored: impl Iterator<Item = (&'r [u8], &'r [u8])>,
    session_timeout: Duration,
    now: Instant,
) -> BTreeMap<String, ConsumerGroup> {
    let mut groups: BTreeMap<String, ConsumerGroup> = BTreeMap::new();
    let mut assignments: Vec<(String, String, CurrentAssignmentValue)> = Vec::new();
    for (key_bytes, value) in stored {
        let Some(Ok(k)) = rec::decode_key(key_bytes) else {
            log::warn!("skipping a consumer group record with an unreadable key");
            continue;
        };
        let group = groups
            .entry(k.group_id.clone())
            .or_insert_with(|| ConsumerGroup::new(&k.group_id));
        let member_id = k.member_id.clone().unwrap_or_default();
        let ok = match k.kind {
            GROUP_METADATA => rec::decode_value::<GroupMetadataValue>(value)
                .map(|v| group.group_epoch = v.epoch)
                .is_ok(),
            PARTITION_METADATA => rec::decode_value::<PartitionMetadataValue>(value)
                .map(|v| {
                    group.subscribed = v
                        .topics
                        .into_iter()
                        .map(|t| {
                            let meta = TopicMeta {
                                id: t.topic_id,
                                partitions: t.num_partitions,
                            };
                            (t.topic_name, meta)
                        })
                        .collect();
                })
                .is_ok(),
            TARGET_METADATA => rec::decode_value::<TargetMetadataValue>(value)
                .map(|v| group.assignment_epoch = v.assignment_epoch)
                .is_ok(),
            TARGET_MEMBER => rec::decode_value::<TargetMemberValue>(value)
                .map(|v| {
                    group
                        .target
                        .insert(member_id.clone(), assignment(&v.topic_partitions));
                })
                .is_ok(),
            MEMBER_METADATA => rec::decode_value::<MemberMetadataValue>(value)
                .map(|v| {
                    let member = Member {
                        id: member_id.clone(),
                        instance_id: v.instance_id,
                        rack_id: v.rack_id,
                        client_id: v.client_id,
                        client_host: v.client_host,
                        subscribed_topic_names: v.subscribed_topic_names,
                        subscribed_topic_regex: v.subscribed_topic_regex,
                        server_assignor: v.server_assignor,
                        rebalance_timeout_ms: v.rebalance_timeout_ms,
                        state: MemberState::Stable,
                        member_epoch: 0,
                        previous_member_epoch: -1,
                        assigned: Assignment::new(),
                        pending_revocation: Assignment::new(),
                        last_heartbeat: now,
                        session_timeout,
                        revocation_deadline: None,
                    };
                    group.members.insert(member_id.clone(), member);
                })
                .is_ok(),
            _ => rec::decode_value::<CurrentAssignmentValue>(value)
                .map(|v| assignments.push((k.group_id.clone(), member_id.clone(), v)))
                .is_ok(),
        };
        if !ok {
            log::warn!(
                "group {}: skipping a record of type {} that does not decode",
                k.group_id,
                k.kind
            );
        }
    }
    for (group_id, member_id, v) in assignments {
        let Some(group) = groups.get_mut(&group_id) else {
            continue;
        };
        let Some(member) = group.members.get_mut(&member_id) else {
            continue;
        };
        member.member_epoch = v.member_epoch;
        member.previous_member_epoch = v.previous_member_epoch;
        member.state = state_of(v.state);
        member.assigned = assignment(&v.assigned_partitions);
        member.pending_revocation = assignment(&v.partitions_pending_revocation);
        if member.state == MemberState::UnrevokedPartitions {
            let timeout = Duration::from_millis(member.rebalance_timeout_ms.max(0) as u64);
            member.revocation_deadline = Some(now + timeout);
        }
    }
    for group in groups.values_mut() {
        group.target.retain(|m, _| group.members.contains_key(m));
        let members: Vec<Member> = group.members.values().cloned().collect();
        for member in &members {
            group.claim(member);
        }
        group.assignor = group
            .members
            .values()
            .find_map(|m| m.server_assignor.clone())
            .unwrap_or_else(|| "uniform".to_string());
    }
    groups
}
