//! Log start offsets moved by DeleteRecords, kept as Kafka keeps them: the log directory's
//! `log-start-offset-checkpoint` (Kafka's checkpoint file: a version line `0`, a count line,
//! then one `topic partition offset` line each), listing only the partitions whose start
//! lies past their first segment's base offset. It is rewritten whole (a `.tmp` file, fsync,
//! rename, directory fsync) before a DeleteRecords is answered, so a moved start survives a
//! crash. Invariant: a partition's log start offset is the larger of its first segment's base
//! offset and its checkpointed offset, never beyond its log end.

use std::fs;
use std::io;

use ::log::warn;

use super::log::sync_dir;
use super::{Storage, offsets};

/// The checkpoint's name in the log directory, as Kafka names it.
pub const CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
const CHECKPOINT_VERSION: &str = "0";

/// Topics whose records DeleteRecords may not delete (Kafka's internal topics).
const INTERNAL_TOPICS: [&str; 3] = [offsets::TOPIC, "__transaction_state", "__share_group_state"];

/// Why a DeleteRecords of one partition was refused, with Kafka's message where it has one.
#[derive(Debug)]
pub enum DeleteRecordsError {
    UnknownTopicOrPartition,
    InvalidTopic(String),
    PolicyViolation(String),
    OffsetOutOfRange(String),
    Io(io::Error),
}

impl From<io::Error> for DeleteRecordsError {
    fn from(e: io::Error) -> Self {
        DeleteRecordsError::Io(e)
    }
}

/// The offset DeleteRecords takes to mean the high watermark.
pub const HIGH_WATERMARK: i64 = -1;

impl Storage {
    /// Deletes the records of `topic`-`partition` below `offset` (-1: the high watermark),
    /// as Kafka's `Partition.deleteRecordsOnLeader`: refused for an internal topic and for a
    /// topic whose `cleanup.policy` is `compact` without `delete`; an offset below -1 or past
    /// the high watermark is out of range; an offset at or below the log start changes
    /// nothing. Returns the low watermark (the log start offset) after it, durable.
    pub fn delete_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, DeleteRecordsError> {
        let policy = {
            let stored = self
                .topics
                .get(topic)
                .ok_or(DeleteRecordsError::UnknownTopicOrPartition)?;
            stored
                .partition(partition)
                .ok_or(DeleteRecordsError::UnknownTopicOrPartition)?;
            self.topic_setting(&stored.configs, "cleanup.policy")
        };
        if INTERNAL_TOPICS.contains(&topic) {
            return Err(DeleteRecordsError::InvalidTopic(format!(
                "Cannot delete records of internal topic {topic}"
            )));
        }
        let policies = crate::configs::list_items(&policy);
        if policies.contains(&"compact") && !policies.contains(&"delete") {
            return Err(DeleteRecordsError::PolicyViolation(format!(
                "Records of partition {topic}-{partition} can not be deleted due to the \
                 configured policy"
            )));
        }
        let part = self
            .topics
            .get_mut(topic)
            .and_then(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|i| t.partitions.get_mut(i))
            })
            .ok_or(DeleteRecordsError::UnknownTopicOrPartition)?;
        if part.log.is_offline() {
            return Err(DeleteRecordsError::Io(io::Error::other(
                "the partition is offline: its log is corrupt",
            )));
        }
        // Records whose sync is pending are above the high watermark, as in Kafka.
        let high_watermark = part.high_watermark();
        let log = &mut part.log;
        let offset = if offset == HIGH_WATERMARK {
            high_watermark
        } else {
            offset
        };
        if offset < 0 {
            return Err(DeleteRecordsError::OffsetOutOfRange(format!(
                "The offset {offset} for partition {topic}-{partition} is not valid"
            )));
        }
        if offset > high_watermark {
            return Err(DeleteRecordsError::OffsetOutOfRange(format!(
                "Cannot increment the log start offset to {offset} of partition \
                 {topic}-{partition} since it is larger than the high watermark {high_watermark}"
            )));
        }
        if offset <= log.log_start_offset() {
            return Ok(log.log_start_offset());
        }
        // The checkpoint is the commit point: written before any segment is removed.
        let before = log.log_start_offset();
        log.set_log_start_offset(offset);
        if let Err(e) = self.write_log_start_checkpoint() {
            if let Some(log) = self.partition_log_mut(topic, partition) {
                log.set_log_start_offset(before);
            }
            return Err(e.into());
        }
        let delay = self
            .topics
            .get(topic)
            .map(|t| self.file_delete_delay(&t.configs))
            .unwrap_or_default();
        let part = usize::try_from(partition)
            .ok()
            .and_then(|i| self.topics.get_mut(topic)?.partitions.get_mut(i))
            .ok_or(DeleteRecordsError::UnknownTopicOrPartition)?;
        part.log.advance_log_start(offset)?;
        part.txns.segments_changed(&part.log);
        super::deletion::schedule_deleted_files(&mut self.segment_deletions, &mut part.log, delay);
        let low_watermark = part.log.log_start_offset();
        self.epoch += 1;
        Ok(low_watermark)
    }

    fn partition_log_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Option<&mut super::PartitionLog> {
        let index = usize::try_from(partition).ok()?;
        Some(&mut self.topics.get_mut(topic)?.partitions.get_mut(index)?.log)
    }

    /// Rewrites `log-start-offset-checkpoint` with every partition whose start lies past its
    /// first segment, atomically (temp file, fsync, rename, directory fsync), as Kafka's
    /// `CheckpointFile` writes it.
    pub(super) fn write_log_start_checkpoint(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for topic in self.topics.values() {
            for (index, partition) in topic.partitions.iter().enumerate() {
                if let Some(start) = partition.log.checkpointed_log_start() {
                    entries.push((topic.name.clone(), index as i32, start));
                }
            }
        }
        write_checkpoint(&self.root, CHECKPOINT_FILE, &entries)
    }

    /// Applies `log-start-offset-checkpoint` at start (after the partitions are open): each
    /// listed partition's start moves forward and the segments wholly below it go (a crash
    /// may have left them). Entries of partitions that no longer exist are dropped by
    /// rewriting the file. An unreadable file is logged and ignored, as it only ever moves
    /// starts forward.
    pub(super) fn load_log_start_checkpoint(&mut self) -> io::Result<()> {
        let path = self.root.join(CHECKPOINT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(entries) = parse_checkpoint(&text) else {
            warn!("{}: not a version 0 checkpoint; ignored", path.display());
            return Ok(());
        };
        let mut stale = false;
        for (topic, partition, offset) in entries {
            let part = usize::try_from(partition)
                .ok()
                .and_then(|i| self.topics.get_mut(&topic)?.partitions.get_mut(i));
            match part {
                Some(part) => {
                    part.log.advance_log_start(offset)?;
                    part.txns.segments_changed(&part.log);
                    // At start nothing can hold the files: they go at once.
                    for path in part.log.take_deleted_files() {
                        std::fs::remove_file(path)?;
                    }
                }
                None => stale = true,
            }
        }
        if stale {
            self.write_log_start_checkpoint()?;
        }
        Ok(())
    }

    /// A topic key's effective value for a topic: its override, else the broker's setting
    /// behind it, else Kafka's default.
    pub fn topic_setting(
        &self,
        overrides: &std::collections::BTreeMap<String, String>,
        name: &str,
    ) -> String {
        if let Some(value) = overrides.get(name) {
            return value.clone();
        }
        crate::configs::topic_key(name)
            .and_then(|key| crate::configs::topic_default(&self.broker_properties, key))
            .unwrap_or_default()
    }
}

/// Writes a version 0 checkpoint file `name` in `root` atomically: a `.tmp` file, fsync,
/// rename, directory fsync (Kafka's `CheckpointFile`).
pub(super) fn write_checkpoint(
    root: &std::path::Path,
    name: &str,
    entries: &[(String, i32, i64)],
) -> io::Result<()> {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    let path = root.join(name);
    let tmp = root.join(format!("{name}.tmp"));
    fs::write(&tmp, text)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &path)?;
    sync_dir(root)
}

/// The entries of a version 0 checkpoint file, or `None` if it is not one.
pub(super) fn parse_checkpoint(text: &str) -> Option<Vec<(String, i32, i64)>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != CHECKPOINT_VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = Vec::new();
    for line in lines.take(count) {
        let mut fields = line.split_whitespace();
        let topic = fields.next()?.to_string();
        let partition = fields.next()?.parse().ok()?;
        let offset = fields.next()?.parse().ok()?;
        entries.push((topic, partition, offset));
    }
    (entries.len() == count).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::{batch, test_dir};
    use std::time::Instant;

    #[test]
    fn checkpoint_text_is_kafkas() {
        assert_eq!(
            parse_checkpoint("0\n2\nt 0 5\nu-v 3 17\n"),
            Some(vec![("t".into(), 0, 5), ("u-v".into(), 3, 17)])
        );
        assert_eq!(parse_checkpoint("1\n0\n"), None);
        assert_eq!(parse_checkpoint("0\n2\nt 0 5\n"), None);
    }

    #[test]
    fn delete_records_moves_the_start_durably_and_drops_whole_segments() {
        let dir = test_dir("storage-delete-records");
        let config = Config {
            log_dir: dir.clone(),
            log_segment_bytes: 200,
            ..Config::default()
        };
        {
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            for _ in 0..6 {
                let batch = batch::build(0, 0, 1, &[vec![1u8; 100]]);
                storage.append("t", 0, &batch).unwrap();
            }
            storage.flush(Instant::now()).unwrap();
            assert_eq!(storage.delete_records("t", 0, 3).unwrap(), 3);
            // Nothing moves backward.
            assert_eq!(storage.delete_records("t", 0, 1).unwrap(), 3);
            assert!(matches!(
                storage.delete_records("t", 0, 7),
                Err(DeleteRecordsError::OffsetOutOfRange(_))
            ));
            assert!(!dir.join("t-0/00000000000000000002.log").exists());
            assert!(dir.join("t-0/00000000000000000003.log").exists());
        }
        let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
        // Written before the segments below went (the commit point).
        assert_eq!(text, "0\n1\nt 0 3\n");
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(storage.delete_records("t", 0, -1).unwrap(), 6);
        let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\nt 0 6\n");
        drop(storage);
        let storage = Storage::open(&config).unwrap();
        let log = &storage.topic("t").unwrap().partition(0).unwrap().log;
        assert_eq!((log.log_start_offset(), log.next_offset()), (6, 6));
    }
}
