//! Consumer groups of Kafka's consumer protocol (KIP-848) as Kafka keeps them in
//! `__consumer_offsets`, beside the committed offsets: keys carry their record type as the
//! key version (3 ConsumerGroupMetadata, 4 ConsumerGroupPartitionMetadata, 5
//! ConsumerGroupMemberMetadata, 6 ConsumerGroupTargetAssignmentMetadata, 7
//! ConsumerGroupTargetAssignmentMember, 8 ConsumerGroupCurrentMemberAssignment), non-flexible;
//! values are version 0, flexible (compact strings, tagged fields), a null value deleting.
//! Replay keeps the last value of every key; the coordinator rebuilds its groups from them.

use crate::message;
use crate::protocol::codec::{Reader, Result, Writer};
use crate::protocol::wire::{Ver, Wire};

pub const GROUP_METADATA: i16 = 3;
pub const PARTITION_METADATA: i16 = 4;
pub const MEMBER_METADATA: i16 = 5;
pub const TARGET_METADATA: i16 = 6;
pub const TARGET_MEMBER: i16 = 7;
pub const CURRENT_ASSIGNMENT: i16 = 8;

const KEY: Ver = Ver {
    version: 0,
    flexible: false,
};
const VALUE: Ver = Ver {
    version: 0,
    flexible: true,
};

message! {
    /// The key of types 3, 4 and 6.
    pub struct GroupKey<'a> {
        group_id: &'a str = "0",
    }

    /// The key of types 5, 7 and 8.
    pub struct MemberKey<'a> {
        group_id: &'a str = "0",
        member_id: &'a str = "0",
    }

    pub struct GroupMetadataValue {
        epoch: i32 = "0+",
        metadata_hash: i64 = "0+" tag 0,
    }

    pub struct PartitionMetadataValue {
        topics: Vec<TopicMetadata> = "0+",
    }

    pub struct TopicMetadata {
        topic_id: [u8; 16] = "0+",
        topic_name: String = "0+",
        num_partitions: i32 = "0+",
        partition_metadata: Vec<PartitionRacks> = "0+",
    }

    pub struct PartitionRacks {
        partition: i32 = "0+",
        racks: Vec<String> = "0+",
    }

    pub struct MemberMetadataValue {
        instance_id: Option<String> = "0+" null "0+",
        rack_id: Option<String> = "0+" null "0+",
        client_id: String = "0+",
        client_host: String = "0+",
        subscribed_topic_names: Vec<String> = "0+",
        subscribed_topic_regex: Option<String> = "0+" null "0+",
        rebalance_timeout_ms: i32 = "0+" default -1,
        server_assignor: Option<String> = "0+" null "0+",
    }

    pub struct TargetMetadataValue {
        assignment_epoch: i32 = "0+",
    }

    pub struct TargetMemberValue {
        topic_partitions: Vec<TopicPartitions> = "0+",
    }

    pub struct CurrentAssignmentValue {
        member_epoch: i32 = "0+",
        previous_member_epoch: i32 = "0+",
        state: i8 = "0+",
        assigned_partitions: Vec<TopicPartitions> = "0+",
        partitions_pending_revocation: Vec<TopicPartitions> = "0+",
    }

    pub struct TopicPartitions {
        topic_id: [u8; 16] = "0+",
        partitions: Vec<i32> = "0+",
    }
}

/// A record key: its type, the group and (types 5, 7, 8) the member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordKey {
    pub kind: i16,
    pub group_id: String,
    pub member_id: Option<String>,
}

fn has_member(kind: i16) -> bool {
    matches!(kind, MEMBER_METADATA | TARGET_MEMBER | CURRENT_ASSIGNMENT)
}

pub fn encode_key(key: &RecordKey) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i16(key.kind);
    let written = match &key.member_id {
        Some(member_id) if has_member(key.kind) => MemberKey {
            group_id: &key.group_id,
            member_id,
        }
        .write(&mut w, KEY),
        _ => GroupKey {
            group_id: &key.group_id,
        }
        .write(&mut w, KEY),
    };
    debug_assert!(written.is_ok(), "a group key too long for its wire type");
    out
}

/// A consumer-group record key, or `None` for other record types.
pub fn decode_key(bytes: &[u8]) -> Option<Result<RecordKey>> {
    let mut r = Reader::new(bytes);
    let kind = r.i16().ok()?;
    if !(GROUP_METADATA..=CURRENT_ASSIGNMENT).contains(&kind) {
        return None;
    }
    Some(if has_member(kind) {
        MemberKey::read(&mut r, KEY).map(|k| RecordKey {
            kind,
            group_id: k.group_id.to_string(),
            member_id: Some(k.member_id.to_string()),
        })
    } else {
        GroupKey::read(&mut r, KEY).map(|k| RecordKey {
            kind,
            group_id: k.group_id.to_string(),
            member_id: None,
        })
    })
}

/// A value: version 0, then the value's flexible encoding.
pub fn encode_value<'a, T: Wire<'a>>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i16(0);
    let written = value.write(&mut w, VALUE);
    debug_assert!(
        written.is_ok(),
        "a group record value its wire types cannot hold"
    );
    out
}

pub fn decode_value<'a, T: Wire<'a>>(bytes: &'a [u8]) -> Result<T> {
    let mut r = Reader::new(bytes);
    let _version = r.i16()?;
    T::read(&mut r, VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_type_and_are_not_flexible() {
        let key = RecordKey {
            kind: CURRENT_ASSIGNMENT,
            group_id: "g".into(),
            member_id: Some("m".into()),
        };
        let bytes = encode_key(&key);
        assert_eq!(bytes, [0, 8, 0, 1, b'g', 0, 1, b'm']);
        assert_eq!(decode_key(&bytes).unwrap().unwrap(), key);
        let metadata = RecordKey {
            kind: GROUP_METADATA,
            group_id: "g".into(),
            member_id: None,
        };
        assert_eq!(encode_key(&metadata), [0, 3, 0, 1, b'g']);
        // Offset commits (0, 1) and classic group metadata (2) are not ours.
        assert!(decode_key(&[0, 2, 0, 1, b'g']).is_none());
    }

    #[test]
    fn values_are_version_0_and_flexible() {
        let value = CurrentAssignmentValue {
            member_epoch: 3,
            previous_member_epoch: 2,
            state: 1,
            assigned_partitions: vec![TopicPartitions {
                topic_id: [9; 16],
                partitions: vec![0],
            }],
            partitions_pending_revocation: vec![],
        };
        let bytes = encode_value(&value);
        let mut expected = vec![0, 0, 0, 0, 0, 3, 0, 0, 0, 2, 1, 2];
        expected.extend_from_slice(&[9; 16]);
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(bytes, expected);
        assert_eq!(
            decode_value::<CurrentAssignmentValue>(&bytes).unwrap(),
            value
        );
        let metadata = encode_value(&GroupMetadataValue {
            epoch: 5,
            metadata_hash: 0,
        });
        assert_eq!(metadata, [0, 0, 0, 0, 0, 5, 0]);
    }
}
