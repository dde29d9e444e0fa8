//! Dynamic configs: the ConfigRecords of topics, brokers and groups in the metadata log, as
//! Kafka's controller writes them (one record per changed key, a null value deletes), and
//! the settings the log copies from the broker's effective configuration. Invariant: a
//! change is in the metadata log (synced) before memory shows it.

use std::collections::BTreeMap;
use std::io;

use ::log::info;

use super::Storage;
use super::index::{self, IndexSettings};
use super::metadata::{MetadataRecord, RESOURCE_TOPIC};
use crate::config::Config;

/// ConfigRecord resource types (Kafka's `ConfigResource.Type`).
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_GROUP: i8 = 32;

impl Storage {
    pub(super) fn replay_resource_config(
        &mut self,
        resource_type: i8,
        resource_name: String,
        name: String,
        value: Option<String>,
    ) {
        let key = (resource_type, resource_name);
        let configs = self.resource_configs.entry(key.clone()).or_default();
        match value {
            Some(v) => configs.insert(name, v),
            None => configs.remove(&name),
        };
        if configs.is_empty() {
            self.resource_configs.remove(&key);
        }
        if resource_type == RESOURCE_BROKER {
            self.broker_config_epoch += 1;
        }
    }

    /// The dynamic configs of a resource: a topic's overrides, a broker's (name "" for the
    /// cluster-wide default) or a group's. `None` when it has none (or the topic is absent).
    pub fn resource_configs(
        &self,
        resource_type: i8,
        name: &str,
    ) -> Option<&BTreeMap<String, String>> {
        if resource_type == RESOURCE_TOPIC {
            return self.topic_configs(name);
        }
        self.resource_configs
            .get(&(resource_type, name.to_string()))
            .filter(|configs| !configs.is_empty())
    }

    /// The names of the resources of a type (not topics) that have dynamic configs, sorted.
    pub fn resources_with_configs(&self, resource_type: i8) -> impl Iterator<Item = &str> {
        self.resource_configs
            .keys()
            .filter(move |(t, _)| *t == resource_type)
            .map(|(_, name)| name.as_str())
    }

    /// Changes a resource's dynamic configs (`None` deletes a key): ConfigRecords appended
    /// to the metadata log and synced, then applied. A topic's `segment.bytes` takes effect
    /// at its partitions' next roll. The caller has validated the change.
    pub fn alter_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        changes: &[(String, Option<String>)],
    ) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let records: Vec<MetadataRecord> = changes
            .iter()
            .map(|(name, value)| MetadataRecord::Config {
                resource_type,
                resource_name: resource_name.to_string(),
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        self.append_metadata(&records)?;
        for (name, value) in changes {
            info!(
                "config of resource {resource_type} '{resource_name}': {name} = {}",
                value.as_deref().unwrap_or("(deleted)")
            );
        }
        if resource_type != RESOURCE_TOPIC {
            for (name, value) in changes {
                let name = name.clone();
                self.replay_resource_config(
                    resource_type,
                    resource_name.to_string(),
                    name,
                    value.clone(),
                );
            }
            return Ok(());
        }
        let segment_bytes = self.segment_bytes;
        if let Some(topic) = self.topics.get_mut(resource_name) {
            for (name, value) in changes {
                match value {
                    Some(v) => topic.configs.insert(name.clone(), v.clone()),
                    None => topic.configs.remove(name),
                };
            }
            let bytes = topic_segment_bytes(&topic.configs, segment_bytes);
            for partition in &mut topic.partitions {
                partition.log.set_segment_bytes_max(bytes);
            }
        }
        if let Some((ms, index)) = self
            .topics
            .get(resource_name)
            .map(|t| (self.segment_ms(&t.configs), self.index_settings(&t.configs)))
            && let Some(topic) = self.topics.get_mut(resource_name)
        {
            for partition in &mut topic.partitions {
                partition.log.set_segment_ms(ms);
                partition.log.set_index_settings(index);
            }
        }
        self.epoch += 1;
        Ok(())
    }

    /// Bumped whenever a broker resource's dynamic configs change (or are replayed), so the
    /// broker knows to rebuild its effective configuration.
    pub fn broker_config_epoch(&self) -> u64 {
        self.broker_config_epoch
    }

    /// Takes the log settings of the broker's effective configuration (after a dynamic
    /// broker config changed, and at start): segment size for topics without their own,
    /// retention and flush policy.
    pub fn apply_log_defaults(&mut self, config: &Config) {
        self.segment_bytes = config.log_segment_bytes;
        self.retention_ms = config.log_retention_ms;
        self.retention_bytes = config.log_retention_bytes;
        self.flush_interval_messages = config.log_flush_interval_messages;
        self.flush_interval_ms = config.log_flush_interval_ms;
        self.broker_properties = config.properties.clone();
        let settings: Vec<(i64, IndexSettings)> = self
            .topics
            .values()
            .map(|t| (self.segment_ms(&t.configs), self.index_settings(&t.configs)))
            .collect();
        for (topic, (ms, index)) in self.topics.values_mut().zip(settings) {
            let bytes = topic_segment_bytes(&topic.configs, config.log_segment_bytes);
            for partition in &mut topic.partitions {
                partition.log.set_segment_bytes_max(bytes);
                partition.log.set_segment_ms(ms);
                partition.log.set_index_settings(index);
            }
        }
    }

    /// A topic's `index.interval.bytes` and `segment.index.bytes`: its overrides, else
    /// the broker's `log.index.interval.bytes` and `log.index.size.max.bytes`, else
    /// Kafka's defaults.
    pub(super) fn index_settings(&self, configs: &BTreeMap<String, String>) -> IndexSettings {
        let number = |key: &str, default: u64| {
            self.topic_setting(configs, key)
                .trim()
                .parse::<u64>()
                .unwrap_or(default)
        };
        IndexSettings {
            interval_bytes: number("index.interval.bytes", index::INDEX_INTERVAL_BYTES),
            bytes_max: number("segment.index.bytes", index::INDEX_BYTES_MAX),
        }
    }

    /// A topic's `segment.ms`: its override, else the broker's `log.roll.ms` or
    /// `log.roll.hours` (7 days by default).
    pub(super) fn segment_ms(&self, configs: &BTreeMap<String, String>) -> i64 {
        self.topic_setting(configs, "segment.ms")
            .trim()
            .parse()
            .unwrap_or(604_800_000)
    }
}

/// A topic's segment size: its `segment.bytes`, else the broker's.
fn topic_segment_bytes(configs: &BTreeMap<String, String>, broker: u64) -> u64 {
    configs
        .get("segment.bytes")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(broker, |v| v.max(14))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_dir;

    #[test]
    fn segment_ms_comes_from_the_topic_or_the_brokers_log_roll_keys() {
        let dir = test_dir("storage-segment-ms");
        let mut config = Config {
            log_dir: dir.clone(),
            ..Config::default()
        };
        config
            .properties
            .insert("log.roll.hours".to_string(), "1".to_string());
        let mut storage = Storage::open(&config).unwrap();
        storage.apply_log_defaults(&config);
        let configs = [("segment.ms".to_string(), "100".to_string())];
        storage.create_topic("own", 1, &configs).unwrap();
        storage.create_topic("broker", 1, &[]).unwrap();
        let batch = |ts| crate::storage::batch::build(0, 0, ts, &[b"v".to_vec()]);
        let segments = |storage: &Storage, topic: &str| {
            storage.topic(topic).unwrap().partitions[0]
                .log
                .segment_summaries()
                .len()
        };
        for (topic, ts) in [
            ("own", 1000),
            ("own", 1101),
            ("broker", 0),
            ("broker", 3_600_000),
        ] {
            storage.append(topic, 0, &batch(ts)).unwrap();
        }
        assert_eq!(segments(&storage, "own"), 2, "segment.ms=100");
        assert_eq!(
            segments(&storage, "broker"),
            1,
            "log.roll.hours=1: not more"
        );
        storage.append("broker", 0, &batch(3_600_001)).unwrap();
        assert_eq!(segments(&storage, "broker"), 2, "log.roll.hours=1: more");
        // A changed segment.ms applies at once.
        let set = [("segment.ms".to_string(), Some("5000".to_string()))];
        storage.alter_configs(RESOURCE_TOPIC, "own", &set).unwrap();
        storage.append("own", 0, &batch(5000)).unwrap();
        assert_eq!(segments(&storage, "own"), 2);
    }

    #[test]
    fn dynamic_configs_survive_reopen() {
        let dir = test_dir("storage-dynamic");
        let config = Config {
            log_dir: dir.clone(),
            ..Config::default()
        };
        let set = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
        {
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            let epoch = storage.broker_config_epoch();
            storage
                .alter_configs(RESOURCE_BROKER, "", &[set("log.retention.ms", Some("5"))])
                .unwrap();
            assert_eq!(storage.broker_config_epoch(), epoch + 1);
            storage
                .alter_configs(
                    RESOURCE_GROUP,
                    "g",
                    &[set("consumer.session.timeout.ms", Some("50000"))],
                )
                .unwrap();
            storage
                .alter_configs(RESOURCE_TOPIC, "t", &[set("retention.ms", Some("7"))])
                .unwrap();
            storage
                .alter_configs(RESOURCE_GROUP, "h", &[set("a", Some("1"))])
                .unwrap();
            storage
                .alter_configs(RESOURCE_GROUP, "h", &[set("a", None)])
                .unwrap();
        }
        let storage = Storage::open(&config).unwrap();
        let get = |t: i8, n: &str, k: &str| {
            storage
                .resource_configs(t, n)
                .and_then(|c| c.get(k))
                .cloned()
        };
        assert_eq!(
            get(RESOURCE_BROKER, "", "log.retention.ms").as_deref(),
            Some("5")
        );
        assert_eq!(
            get(RESOURCE_TOPIC, "t", "retention.ms").as_deref(),
            Some("7")
        );
        assert_eq!(
            get(RESOURCE_GROUP, "g", "consumer.session.timeout.ms").as_deref(),
            Some("50000")
        );
        assert!(storage.resource_configs(RESOURCE_GROUP, "h").is_none());
        let groups: Vec<&str> = storage.resources_with_configs(RESOURCE_GROUP).collect();
        assert_eq!(groups, ["g"]);
        assert!(storage.broker_config_epoch() > 0);
    }
}
