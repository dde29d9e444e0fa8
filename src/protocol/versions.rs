//! The one table of supported APIs and versions. It drives ApiVersions responses, the
//! UNSUPPORTED_VERSION answer, the request/response header versions and the README table.

/// One API this broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    pub key: i16,
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    /// The first flexible version (compact encodings, tagged fields); `i16::MAX` if none.
    pub flexible_from: i16,
}

pub const PRODUCE: i16 = 0;
pub const FETCH: i16 = 1;
pub const LIST_OFFSETS: i16 = 2;
pub const METADATA: i16 = 3;
pub const OFFSET_COMMIT: i16 = 8;
pub const OFFSET_FETCH: i16 = 9;
pub const FIND_COORDINATOR: i16 = 10;
pub const JOIN_GROUP: i16 = 11;
pub const HEARTBEAT: i16 = 12;
pub const LEAVE_GROUP: i16 = 13;
pub const SYNC_GROUP: i16 = 14;
pub const DESCRIBE_GROUPS: i16 = 15;
pub const LIST_GROUPS: i16 = 16;
pub const API_VERSIONS: i16 = 18;
pub const CREATE_TOPICS: i16 = 19;
pub const DELETE_TOPICS: i16 = 20;
pub const INIT_PRODUCER_ID: i16 = 22;
pub const OFFSET_FOR_LEADER_EPOCH: i16 = 23;
pub const DESCRIBE_CONFIGS: i16 = 32;
pub const DESCRIBE_CLUSTER: i16 = 60;
pub const DESCRIBE_TOPIC_PARTITIONS: i16 = 75;

/// Sorted by key.
pub const SUPPORTED: &[ApiSpec] = &[
    api(PRODUCE, "Produce", 0, 11, 9),
    api(FETCH, "Fetch", 4, 16, 12),
    api(LIST_OFFSETS, "ListOffsets", 1, 7, 6),
    api(METADATA, "Metadata", 0, 12, 9),
    api(OFFSET_COMMIT, "OffsetCommit", 2, 9, 8),
    api(OFFSET_FETCH, "OffsetFetch", 1, 9, 6),
    api(FIND_COORDINATOR, "FindCoordinator", 0, 6, 3),
    api(JOIN_GROUP, "JoinGroup", 0, 9, 6),
    api(HEARTBEAT, "Heartbeat", 0, 4, 4),
    api(LEAVE_GROUP, "LeaveGroup", 0, 5, 4),
    api(SYNC_GROUP, "SyncGroup", 0, 5, 4),
    api(DESCRIBE_GROUPS, "DescribeGroups", 0, 6, 5),
    api(LIST_GROUPS, "ListGroups", 0, 5, 3),
    api(API_VERSIONS, "ApiVersions", 0, 4, 3),
    api(CREATE_TOPICS, "CreateTopics", 2, 7, 5),
    api(DELETE_TOPICS, "DeleteTopics", 1, 6, 4),
    api(INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2),
    api(OFFSET_FOR_LEADER_EPOCH, "OffsetForLeaderEpoch", 2, 4, 4),
    api(DESCRIBE_CONFIGS, "DescribeConfigs", 1, 4, 4),
    api(DESCRIBE_CLUSTER, "DescribeCluster", 0, 2, 0),
    api(
        DESCRIBE_TOPIC_PARTITIONS,
        "DescribeTopicPartitions",
        0,
        0,
        0,
    ),
];

const fn api(key: i16, name: &'static str, min: i16, max: i16, flexible_from: i16) -> ApiSpec {
    ApiSpec {
        key,
        name,
        min,
        max,
        flexible_from,
    }
}

impl ApiSpec {
    pub fn supports(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }

    pub fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }

    /// Request header v2 (with tagged fields) for flexible versions, else v1.
    pub fn request_header_flexible(&self, version: i16) -> bool {
        self.is_flexible(version)
    }

    /// Response header v1 for flexible versions, except ApiVersions, which always answers
    /// with header v0 so that a client can read it before it knows our versions.
    pub fn response_header_flexible(&self, version: i16) -> bool {
        self.key != API_VERSIONS && self.is_flexible(version)
    }
}

pub fn lookup(key: i16) -> Option<&'static ApiSpec> {
    SUPPORTED.iter().find(|spec| spec.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_sane() {
        for pair in SUPPORTED.windows(2) {
            assert!(
                pair[0].key < pair[1].key,
                "{:?} before {:?}",
                pair[0],
                pair[1]
            );
        }
        for spec in SUPPORTED {
            assert!(spec.min <= spec.max, "{spec:?}");
        }
    }

    #[test]
    fn api_versions_answers_with_header_v0_always() {
        let spec = lookup(API_VERSIONS).unwrap();
        assert!(spec.request_header_flexible(3));
        assert!(!spec.request_header_flexible(2));
        assert!(!spec.response_header_flexible(4));
    }
}

#[cfg(test)]
mod consistency {
    use super::*;
    use crate::apis;

    /// The table and each API's codec agree on the version range and flexibility.
    #[test]
    fn table_matches_each_codec() {
        macro_rules! codecs {
            ($($key:ident => $module:ident),* $(,)?) => {
                [$(($key, apis::$module::MIN_VERSION, apis::$module::MAX_VERSION, apis::$module::FIRST_FLEXIBLE_VERSION)),*]
            };
        }
        let codecs = codecs![
            PRODUCE => produce,
            FETCH => fetch,
            LIST_OFFSETS => list_offsets,
            METADATA => metadata,
            OFFSET_COMMIT => offset_commit,
            OFFSET_FETCH => offset_fetch,
            FIND_COORDINATOR => find_coordinator,
            JOIN_GROUP => join_group,
            HEARTBEAT => heartbeat,
            LEAVE_GROUP => leave_group,
            SYNC_GROUP => sync_group,
            DESCRIBE_GROUPS => describe_groups,
            LIST_GROUPS => list_groups,
            CREATE_TOPICS => create_topics,
            DELETE_TOPICS => delete_topics,
            INIT_PRODUCER_ID => init_producer_id,
            OFFSET_FOR_LEADER_EPOCH => offset_for_leader_epoch,
            DESCRIBE_CONFIGS => describe_configs,
            DESCRIBE_CLUSTER => describe_cluster,
            DESCRIBE_TOPIC_PARTITIONS => describe_topic_partitions,
        ];
        for (key, min, max, flexible) in codecs {
            let spec = lookup(key).unwrap();
            assert_eq!(
                (spec.min, spec.max, spec.flexible_from),
                (min, max, flexible),
                "{}",
                spec.name
            );
        }
        assert_eq!(
            SUPPORTED.len(),
            codecs.len() + 1,
            "every API but ApiVersions is checked here"
        );
    }
}
