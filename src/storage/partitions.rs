//! Raising a topic's partition count (CreatePartitions). The new partitions' directories are
//! made first, then their PartitionRecords are appended to the metadata log and synced: that
//! append is the commit point. Invariant: a restart shows either the old count (a failure or
//! crash before the append; any directory made meanwhile is stray, unknown to the metadata
//! log, and removed before its path is used again) or the new one, with every new partition
//! empty.

use std::fs;

use ::log::{info, warn};

use super::log::sync_dir;
use super::metadata::MetadataRecord;
use super::{Partition, Storage, TopicError};

impl Storage {
    /// Raises topic `name` to `count` partitions. The caller has checked that `count` is
    /// larger than the current count.
    pub fn create_partitions(&mut self, name: &str, count: i32) -> Result<(), TopicError> {
        let topic = self.topics.get(name).ok_or(TopicError::UnknownTopic)?;
        let first = topic.partitions.len() as i32;
        assert!(count > first, "{name}: {count} partitions is no increase");
        let mut logs = Vec::with_capacity((count - first) as usize);
        for index in first..count {
            match self.create_partition_log(topic, index) {
                Ok(log) => logs.push(log),
                Err(e) => {
                    self.remove_uncommitted(name, first..index);
                    return Err(TopicError::Io(e));
                }
            }
        }
        let records: Vec<MetadataRecord> = (first..count)
            .map(|partition_id| MetadataRecord::Partition {
                partition_id,
                topic_id: topic.id,
                replicas: vec![self.node_id],
                leader: self.node_id,
                leader_epoch: 0,
            })
            .collect();
        let committed = sync_dir(&self.root).and_then(|()| self.append_metadata(&records));
        if let Err(e) = committed {
            self.remove_uncommitted(name, first..count);
            return Err(TopicError::Io(e));
        }
        let mut partitions = Vec::with_capacity(logs.len());
        for mut log in logs {
            log.assign_epoch(0);
            partitions.push(Partition::open(log, 0)?);
        }
        let topic = self.topics.get_mut(name).ok_or(TopicError::UnknownTopic)?;
        topic.partitions.extend(partitions);
        self.epoch += 1;
        info!("topic {name}: {first} partitions raised to {count}");
        Ok(())
    }

    /// Removes the directories of partitions that never reached the metadata log (also for
    /// CreateTopics). What is not a directory at such a path is not ours and stays. A failure
    /// here leaves stray directories, which are harmless: nothing opens them until a later
    /// creation of the same partition removes them first.
    pub(super) fn remove_uncommitted(&self, name: &str, indexes: std::ops::Range<i32>) {
        for index in indexes {
            let dir = self.partition_dir(name, index);
            if !fs::symlink_metadata(&dir).is_ok_and(|meta| meta.is_dir()) {
                continue;
            }
            if let Err(e) = fs::remove_dir_all(&dir) {
                warn!("removing uncommitted {}: {e}", dir.display());
            }
        }
        if let Err(e) = sync_dir(&self.root) {
            warn!("syncing {}: {e}", self.root.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::{Storage, TopicError, batch, test_dir};
    use crate::config::Config;

    fn config_for(dir: &std::path::Path) -> Config {
        Config {
            log_dir: dir.to_path_buf(),
            ..Config::default()
        }
    }

    #[test]
    fn new_partitions_survive_reopen_and_start_empty() {
        let dir = test_dir("storage-grow");
        {
            let mut storage = Storage::open(&config_for(&dir)).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            // A stray directory with records, as a crash could leave (a deleted "t"'s).
            let stray = dir.join("t-1");
            fs_copy_dir(&dir.join("t-0"), &stray);
            let batch = batch::build(0, 0, 1, &[b"old".to_vec()]);
            let mut other = Storage::open(&config_for(&test_dir("storage-grow-src"))).unwrap();
            other.create_topic("s", 1, &[]).unwrap();
            other.append("s", 0, &batch).unwrap();
            other.flush(Instant::now()).unwrap();
            let segment = "00000000000000000000.log";
            std::fs::copy(other.root().join("s-0").join(segment), stray.join(segment)).unwrap();
            storage.create_partitions("t", 3).unwrap();
            let topic = storage.topic("t").unwrap();
            assert_eq!(topic.partitions.len(), 3);
            assert_eq!(topic.partition(1).unwrap().log.next_offset(), 0);
            storage.append("t", 2, &batch).unwrap();
            storage.flush(Instant::now()).unwrap();
        }
        let storage = Storage::open(&config_for(&dir)).unwrap();
        let topic = storage.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partition(1).unwrap().log.next_offset(), 0);
        assert_eq!(topic.partition(2).unwrap().log.next_offset(), 1);
    }

    #[test]
    fn a_failed_creation_leaves_nothing_a_restart_resurrects() {
        let dir = test_dir("storage-grow-fail");
        {
            let mut storage = Storage::open(&config_for(&dir)).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            // A file where partition 3's directory must go: partitions 1 and 2 are made,
            // then the creation fails.
            std::fs::write(dir.join("t-3"), b"not a directory").unwrap();
            assert!(matches!(
                storage.create_partitions("t", 5),
                Err(TopicError::Io(_))
            ));
            assert_eq!(storage.topic("t").unwrap().partitions.len(), 1);
            assert!(!dir.join("t-1").exists() && !dir.join("t-2").exists());
        }
        let mut storage = Storage::open(&config_for(&dir)).unwrap();
        assert_eq!(storage.topic("t").unwrap().partitions.len(), 1);
        std::fs::remove_file(dir.join("t-3")).unwrap();
        storage.create_partitions("t", 5).unwrap();
        assert_eq!(storage.topic("t").unwrap().partitions.len(), 5);
    }

    fn fs_copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
