//! KRaft metadata records, as stored in `__cluster_metadata-0`: each record's value is
//! `uvarint frame_version (1) | uvarint api_key | uvarint version | body`, with the body in
//! flexible encoding (compact types, tagged fields). We read the records that define topics
//! and configs, skip the rest, and write the same record types for topic changes.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer};

pub type Uuid = [u8; 16];

const FRAME_VERSION: u32 = 1;
const TOPIC_RECORD: u32 = 2;
const PARTITION_RECORD: u32 = 3;
const CONFIG_RECORD: u32 = 4;
const REMOVE_TOPIC_RECORD: u32 = 9;
const USER_SCRAM_CREDENTIAL_RECORD: u32 = 11;
const REMOVE_USER_SCRAM_CREDENTIAL_RECORD: u32 = 22;
const FEATURE_LEVEL_RECORD: u32 = 12;
const CLIENT_QUOTA_RECORD: u32 = 14;
const PRODUCER_IDS_RECORD: u32 = 15;
const ACCESS_CONTROL_ENTRY_RECORD: u32 = 18;
const REMOVE_ACCESS_CONTROL_ENTRY_RECORD: u32 = 19;

/// The feature a FeatureLevelRecord names for the metadata version.
pub const METADATA_VERSION: &str = "metadata.version";

/// ConfigRecord resource type for topics (as in DescribeConfigs).
pub const RESOURCE_TOPIC: i8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum MetadataRecord {
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        partition_id: i32,
        topic_id: Uuid,
        replicas: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    Config {
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    },
    FeatureLevel {
        name: String,
        level: i16,
    },
    /// A block of producer ids was handed out; the next block starts at `next_producer_id`.
    ProducerIds {
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// A client quota value set or removed: `entity` is Kafka's list of (entity type, name),
    /// the name `None` for the default entity of that type.
    ClientQuota {
        entity: Vec<(String, Option<String>)>,
        key: String,
        value: f64,
        remove: bool,
    },
    /// A user's SCRAM credential for one mechanism (1 SHA-256, 2 SHA-512), set or replaced.
    UserScramCredential {
        name: String,
        mechanism: i8,
        salt: Vec<u8>,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
        iterations: i32,
    },
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
    /// An ACL binding, known by its id (the codes are Kafka's AclOperation etc.).
    AccessControlEntry {
        id: Uuid,
        resource_type: i8,
        resource_name: String,
        pattern_type: i8,
        principal: String,
        host: String,
        operation: i8,
        permission_type: i8,
    },
    RemoveAccessControlEntry {
        id: Uuid,
    },
    /// A record type we do not need (brokers, registrations, producer ids, ...).
    Other {
        api_key: u32,
    },
}

fn int32_array(r: &mut Reader) -> Result<Vec<i32>> {
    let n = r.array_len(true, 4)?;
    (0..n).map(|_| r.i32()).collect()
}

fn skip_int32_array(r: &mut Reader) -> Result<()> {
    let n = r.array_len(true, 4)?;
    r.take(n * 4).map(|_| ())
}

impl MetadataRecord {
    pub fn decode(value: &[u8]) -> Result<MetadataRecord> {
        let mut r = Reader::new(value);
        let frame = r.uvarint()?;
        if frame != FRAME_VERSION {
            return Err(DecodeError::Invalid("metadata frame version"));
        }
        let api_key = r.uvarint()?;
        let version = r.uvarint()?;
        let record = match api_key {
            TOPIC_RECORD => {
                let name = r.string(true)?.to_string();
                MetadataRecord::Topic {
                    name,
                    topic_id: r.uuid()?,
                }
            }
            PARTITION_RECORD => {
                let partition_id = r.i32()?;
                let topic_id = r.uuid()?;
                let replicas = int32_array(&mut r)?;
                skip_int32_array(&mut r)?; // isr
                skip_int32_array(&mut r)?; // removing replicas
                skip_int32_array(&mut r)?; // adding replicas
                let leader = r.i32()?;
                let leader_epoch = r.i32()?;
                let _partition_epoch = r.i32()?;
                if version >= 1 {
                    let n = r.array_len(true, 16)?;
                    r.take(n * 16)?;
                }
                r.skip_tags(true)?;
                MetadataRecord::Partition {
                    partition_id,
                    topic_id,
                    replicas,
                    leader,
                    leader_epoch,
                }
            }
            REMOVE_TOPIC_RECORD => MetadataRecord::RemoveTopic {
                topic_id: r.uuid()?,
            },
            CONFIG_RECORD => MetadataRecord::Config {
                resource_type: r.i8()?,
                resource_name: r.string(true)?.to_string(),
                name: r.string(true)?.to_string(),
                value: r.nullable_string(true)?.map(str::to_string),
            },
            FEATURE_LEVEL_RECORD => MetadataRecord::FeatureLevel {
                name: r.string(true)?.to_string(),
                level: r.i16()?,
            },
            PRODUCER_IDS_RECORD => MetadataRecord::ProducerIds {
                broker_id: r.i32()?,
                broker_epoch: r.i64()?,
                next_producer_id: r.i64()?,
            },
            CLIENT_QUOTA_RECORD => {
                // Each EntityData: a compact string, a compact nullable string, tags.
                let n = r.array_len(true, 3)?;
                let mut entity = Vec::with_capacity(n);
                for _ in 0..n {
                    let entity_type = r.string(true)?.to_string();
                    let name = r.nullable_string(true)?.map(str::to_string);
                    r.skip_tags(true)?;
                    entity.push((entity_type, name));
                }
                MetadataRecord::ClientQuota {
                    entity,
                    key: r.string(true)?.to_string(),
                    value: r.f64()?,
                    remove: r.bool()?,
                }
            }
            USER_SCRAM_CREDENTIAL_RECORD => MetadataRecord::UserScramCredential {
                name: r.string(true)?.to_string(),
                mechanism: r.i8()?,
                salt: r.bytes(true)?.to_vec(),
                stored_key: r.bytes(true)?.to_vec(),
                server_key: r.bytes(true)?.to_vec(),
                iterations: r.i32()?,
            },
            REMOVE_USER_SCRAM_CREDENTIAL_RECORD => MetadataRecord::RemoveUserScramCredential {
                name: r.string(true)?.to_string(),
                mechanism: r.i8()?,
            },
            ACCESS_CONTROL_ENTRY_RECORD => MetadataRecord::AccessControlEntry {
                id: r.uuid()?,
                resource_type: r.i8()?,
                resource_name: r.string(true)?.to_string(),
                pattern_type: r.i8()?,
                principal: r.string(true)?.to_string(),
                host: r.string(true)?.to_string(),
                operation: r.i8()?,
                permission_type: r.i8()?,
            },
            REMOVE_ACCESS_CONTROL_ENTRY_RECORD => {
                MetadataRecord::RemoveAccessControlEntry { id: r.uuid()? }
            }
            other => MetadataRecord::Other { api_key: other },
        };
        Ok(record)
    }

    /// The record value as Kafka writes it. `directory_id` fills PartitionRecord v1's
    /// Directories (one per replica).
    pub fn encode(&self, directory_id: &Uuid) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        w.uvarint(FRAME_VERSION);
        match self {
            MetadataRecord::Topic { name, topic_id } => {
                w.uvarint(TOPIC_RECORD)
                    .uvarint(0)
                    .string(name, true)
                    .uuid(topic_id);
            }
            MetadataRecord::Partition {
                partition_id,
                topic_id,
                replicas,
                leader,
                leader_epoch,
            } => {
                w.uvarint(PARTITION_RECORD)
                    .uvarint(1)
                    .i32(*partition_id)
                    .uuid(topic_id);
                for _ in 0..2 {
                    // replicas, then isr: the same with one replica
                    w.array_len(replicas.len(), true);
                    replicas.iter().for_each(|id| {
                        w.i32(*id);
                    });
                }
                w.array_len(0, true).array_len(0, true);
                w.i32(*leader).i32(*leader_epoch).i32(0);
                w.array_len(replicas.len(), true);
                replicas.iter().for_each(|_| {
                    w.uuid(directory_id);
                });
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                w.uvarint(REMOVE_TOPIC_RECORD).uvarint(0).uuid(topic_id);
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                w.uvarint(CONFIG_RECORD).uvarint(0).i8(*resource_type);
                w.string(resource_name, true).string(name, true);
                w.nullable_string(value.as_deref(), true);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                w.uvarint(FEATURE_LEVEL_RECORD)
                    .uvarint(0)
                    .string(name, true)
                    .i16(*level);
            }
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                w.uvarint(PRODUCER_IDS_RECORD).uvarint(0);
                w.i32(*broker_id).i64(*broker_epoch).i64(*next_producer_id);
            }
            MetadataRecord::ClientQuota {
                entity,
                key,
                value,
                remove,
            } => {
                w.uvarint(CLIENT_QUOTA_RECORD).uvarint(0);
                w.array_len(entity.len(), true);
                for (entity_type, name) in entity {
                    w.string(entity_type, true)
                        .nullable_string(name.as_deref(), true)
                        .tags(true);
                }
                w.string(key, true).f64(*value).bool(*remove);
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                w.uvarint(USER_SCRAM_CREDENTIAL_RECORD).uvarint(0);
                w.string(name, true).i8(*mechanism).bytes(salt, true);
                w.bytes(stored_key, true)
                    .bytes(server_key, true)
                    .i32(*iterations);
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                w.uvarint(REMOVE_USER_SCRAM_CREDENTIAL_RECORD).uvarint(0);
                w.string(name, true).i8(*mechanism);
            }
            MetadataRecord::AccessControlEntry {
                id,
                resource_type,
                resource_name,
                pattern_type,
                principal,
                host,
                operation,
                permission_type,
            } => {
                w.uvarint(ACCESS_CONTROL_ENTRY_RECORD).uvarint(0);
                w.uuid(id).i8(*resource_type).string(resource_name, true);
                w.i8(*pattern_type)
                    .string(principal, true)
                    .string(host, true);
                w.i8(*operation).i8(*permission_type);
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                w.uvarint(REMOVE_ACCESS_CONTROL_ENTRY_RECORD)
                    .uvarint(0)
                    .uuid(id);
            }
            MetadataRecord::Other { api_key } => {
                w.uvarint(*api_key).uvarint(0);
            }
        }
        w.tags(true);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_record_bytes_as_the_challenge_writes_them() {
        // frame 1, type 2, version 0, name "saz" (compact), uuid, no tags.
        let mut bytes = vec![0x01, 0x02, 0x00, 0x04, b's', b'a', b'z'];
        bytes.extend_from_slice(&[0x11; 16]);
        bytes.push(0x00);
        let record = MetadataRecord::decode(&bytes).unwrap();
        assert_eq!(
            record,
            MetadataRecord::Topic {
                name: "saz".into(),
                topic_id: [0x11; 16]
            }
        );
        assert_eq!(record.encode(&[0; 16]), bytes);
    }

    #[test]
    fn partition_record_v1_round_trip() {
        let record = MetadataRecord::Partition {
            partition_id: 2,
            topic_id: [3; 16],
            replicas: vec![1],
            leader: 1,
            leader_epoch: 0,
        };
        let bytes = record.encode(&[9; 16]);
        assert_eq!(&bytes[..3], &[1, 3, 1]);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
    }

    #[test]
    fn config_feature_and_remove_round_trip() {
        for record in [
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 20,
            },
            MetadataRecord::RemoveTopic { topic_id: [5; 16] },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 0,
                next_producer_id: 2000,
            },
        ] {
            assert_eq!(
                MetadataRecord::decode(&record.encode(&[0; 16])).unwrap(),
                record
            );
        }
    }

    #[test]
    fn client_quota_record_bytes() {
        let record = MetadataRecord::ClientQuota {
            entity: vec![
                ("client-id".into(), Some("c".into())),
                ("user".into(), None),
            ],
            key: "producer_byte_rate".into(),
            value: 1024.0,
            remove: false,
        };
        let mut bytes = vec![1, 14, 0, 3]; // frame 1, ClientQuotaRecord v0, entity: 2
        bytes.extend_from_slice(b"\x0aclient-id\x02c\x00"); // "client-id" = "c", tags
        bytes.extend_from_slice(b"\x05user\x00\x00"); // "user" = null (default), tags
        bytes.extend_from_slice(b"\x13producer_byte_rate");
        bytes.extend_from_slice(&1024f64.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]); // remove false, tags
        assert_eq!(record.encode(&[0; 16]), bytes);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
        // A count larger than the bytes left is refused before anything is allocated.
        assert!(MetadataRecord::decode(&[1, 14, 0, 0x7f]).is_err());
    }

    #[test]
    fn access_control_entry_records_bytes() {
        let record = MetadataRecord::AccessControlEntry {
            id: [7; 16],
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 4,
            principal: "User:a".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        // Kafka's AccessControlEntryRecord is metadata record type 18 (its removal 19).
        let mut expected = vec![1, 18, 0];
        expected.extend_from_slice(&[7; 16]);
        expected.extend_from_slice(&[2, 2, b't', 4, 7]);
        expected.extend_from_slice(b"User:a");
        expected.extend_from_slice(&[2, b'*', 3, 3, 0]);
        let bytes = record.encode(&[0; 16]);
        assert_eq!(bytes, expected);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
        let remove = MetadataRecord::RemoveAccessControlEntry { id: [7; 16] };
        let mut expected = vec![1, 19, 0];
        expected.extend_from_slice(&[7; 16]);
        expected.push(0);
        let bytes = remove.encode(&[0; 16]);
        assert_eq!(bytes, expected);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), remove);
    }

    #[test]
    fn scram_credential_records_bytes() {
        let record = MetadataRecord::UserScramCredential {
            name: "al".into(),
            mechanism: 2,
            salt: vec![1, 2],
            stored_key: vec![3],
            server_key: vec![4],
            iterations: 4096,
        };
        let bytes = [
            1, 11, 0, 3, b'a', b'l', 2, 3, 1, 2, 2, 3, 2, 4, 0, 0, 0x10, 0, 0,
        ];
        assert_eq!(record.encode(&[0; 16]), bytes);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
        let remove = MetadataRecord::RemoveUserScramCredential {
            name: "al".into(),
            mechanism: 1,
        };
        let bytes = [1, 22, 0, 3, b'a', b'l', 1, 0];
        assert_eq!(remove.encode(&[0; 16]), bytes);
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), remove);
    }

    #[test]
    fn unknown_types_are_skipped_and_garbage_rejected() {
        assert_eq!(
            MetadataRecord::decode(&[1, 17, 0, 0]).unwrap(),
            MetadataRecord::Other { api_key: 17 }
        );
        assert!(MetadataRecord::decode(&[2, 2, 0]).is_err());
        assert!(MetadataRecord::decode(&[1, 3, 1, 0, 0]).is_err());
    }
}
