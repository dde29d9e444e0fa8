//! Deleting topics' partition directories, as Kafka's LogManager does: DeleteTopics renames
//! each directory to `<topic>-<partition>.<uuid>-delete` before the RemoveTopicRecord is
//! made durable (the commit point), and the renamed directories are removed later, a bounded
//! number of files per timer turn. Invariant: a `-delete` directory is never opened as a
//! partition. At start, one whose topic is still live in the metadata log (a crash between
//! the renames and the commit) is renamed back, so a deletion happens wholly or not at all;
//! every other one is queued for removal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ::log::{debug, info, warn};

use super::log::sync_dir;
use super::metadata::Uuid;
use super::{Storage, base64url, random_uuid};

/// Kafka's suffix of a partition directory waiting for removal (`LocalLog.DeleteDirSuffix`).
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Files (or nested entries) removed per timer turn, so a large deleted topic never holds
/// up the loop for long.
pub const DELETE_FILES_PER_TURN: usize = 64;
/// Longest directory name Kafka makes (`logDirNameWithSuffixCappedLength`).
const DIR_NAME_BYTES_MAX: usize = 255;

/// Renamed directories waiting for removal, oldest first.
#[derive(Default)]
pub struct Deletions {
    queue: VecDeque<PathBuf>,
    /// Since when the queue has been non-empty: the broker's timer is due from then on.
    due_since: Option<Instant>,
}

/// Kafka's name for partition `index` of `topic` once deleted: the topic name (cut so the
/// whole name stays within 255 bytes), the partition, a random uuid as 32 hex digits.
pub fn delete_dir_name(topic: &str, index: i32) -> io::Result<String> {
    let id = random_uuid()?;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let suffix = format!("-{index}.{hex}{DELETE_DIR_SUFFIX}");
    // Topic names are ASCII, so any byte length is a char boundary.
    let keep = topic.len().min(DIR_NAME_BYTES_MAX - suffix.len());
    Ok(format!("{}{suffix}", &topic[..keep]))
}

/// The partition index in a `-delete` directory's name, if it is one.
fn parse_delete_dir(name: &str) -> Option<i32> {
    let stem = name.strip_suffix(DELETE_DIR_SUFFIX)?;
    let (partition, uuid) = stem.rsplit_once('.')?;
    if uuid.len() != 32 || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    partition.rsplit_once('-')?.1.parse().ok()
}

/// The topic id a partition directory's `partition.metadata` names.
pub fn named_topic_id(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("partition.metadata")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("topic_id:"))
        .map(|id| id.trim().to_string())
}

impl Deletions {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, dir: PathBuf) {
        self.queue.push_back(dir);
        self.due_since.get_or_insert_with(Instant::now);
    }

    /// Removes up to `files_max` entries of the oldest queued directory, and the directory
    /// itself once empty. A directory that cannot be removed is dropped from the queue with
    /// a warning (the next start queues it again), so a failing disk cannot spin the loop.
    pub fn step(&mut self, root: &Path, files_max: usize) {
        let Some(dir) = self.queue.front() else {
            self.due_since = None;
            return;
        };
        match remove_some(dir, files_max) {
            Ok(false) => {}
            Ok(true) => {
                if let Err(e) = sync_dir(root) {
                    warn!("syncing {}: {e}", root.display());
                }
                ::log::debug!("removed {}", dir.display());
                self.queue.pop_front();
            }
            Err(e) => {
                warn!("removing {}: {e}; retried at the next start", dir.display());
                self.queue.pop_front();
            }
        }
        if self.queue.is_empty() {
            self.due_since = None;
        }
    }
}

/// Removes up to `files_max` entries of `dir`; true once `dir` itself is gone.
fn remove_some(dir: &Path, files_max: usize) -> io::Result<bool> {
    for (removed, entry) in fs::read_dir(dir)?.enumerate() {
        if removed == files_max {
            return Ok(false);
        }
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

impl Storage {
    /// Start-up, before any partition is opened: every `-delete` directory of a topic the
    /// metadata log still holds, whose own directory is absent, is renamed back (its
    /// deletion never committed); the rest are queued for removal. `live` maps each live
    /// topic's id to its name and partition count.
    pub(super) fn recover_deletions(
        &mut self,
        live: &HashMap<Uuid, (String, i32)>,
    ) -> io::Result<()> {
        let by_text: HashMap<String, &(String, i32)> =
            live.iter().map(|(id, v)| (base64url(id), v)).collect();
        let mut restored = false;
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(index) = name.to_str().and_then(parse_delete_dir) else {
                continue;
            };
            let dir = entry.path();
            let owner = named_topic_id(&dir).and_then(|id| by_text.get(&id).copied());
            if let Some((topic, count)) = owner
                && index < *count
            {
                let home = self.partition_dir(topic, index);
                if !home.exists() {
                    info!(
                        "{}: the deletion of {topic} never committed; restoring it",
                        dir.display()
                    );
                    fs::rename(&dir, &home)?;
                    restored = true;
                    continue;
                }
            }
            self.deletions.push(dir);
        }
        if restored {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Whether deleted partitions' directories, or removed segments' `.deleted` files, are
    /// waiting for removal.
    pub fn deletions_pending(&self) -> bool {
        !self.deletions.is_empty() || !self.segment_deletions.is_empty()
    }

    /// When the next removal step is due (already, while any directory waits; a segment's
    /// files `file.delete.delay.ms` after it was removed from its log).
    pub fn deletions_due(&self) -> Option<Instant> {
        let segments = self.segment_deletions.iter().map(|(due, _)| *due).min();
        self.deletions.due_since.into_iter().chain(segments).min()
    }

    /// One bounded step of removing deleted partitions' directories and the `.deleted`
    /// files whose delay passed (the broker's timer).
    pub fn remove_deleted(&mut self) {
        self.deletions.step(&self.root, DELETE_FILES_PER_TURN);
        let now = Instant::now();
        let mut removed = 0;
        self.segment_deletions.retain(|(due, path)| {
            if *due > now || removed >= DELETE_FILES_PER_TURN {
                return true;
            }
            removed += 1;
            match fs::remove_file(path) {
                Ok(()) => debug!("removed {}", path.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => warn!("removing {}: {e}", path.display()),
            }
            false
        });
    }

    /// A topic's `file.delete.delay.ms` (its override, else `log.segment.delete.delay.ms`).
    pub(super) fn file_delete_delay(&self, configs: &BTreeMap<String, String>) -> Duration {
        let ms: i64 = self
            .topic_setting(configs, "file.delete.delay.ms")
            .trim()
            .parse()
            .unwrap_or(60_000);
        Duration::from_millis(ms.max(0) as u64)
    }
}

/// Schedules the `.deleted` files `log` made (retention, DeleteRecords, the cleaner) for
/// removal `delay` from now, as Kafka's `LocalLog.deleteSegmentFiles` does.
pub(super) fn schedule_deleted_files(
    queue: &mut Vec<(Instant, PathBuf)>,
    log: &mut super::log::PartitionLog,
    delay: Duration,
) {
    let due = Instant::now() + delay;
    queue.extend(log.take_deleted_files().into_iter().map(|p| (due, p)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_dir_names_are_kafkas() {
        let name = delete_dir_name("orders", 3).unwrap();
        let (head, tail) = name.split_once('.').unwrap();
        assert_eq!(head, "orders-3");
        assert_eq!(tail.len(), 32 + DELETE_DIR_SUFFIX.len());
        assert!(tail.ends_with("-delete"));
        assert_eq!(parse_delete_dir(&name), Some(3));
        let long = delete_dir_name(&"x".repeat(249), 12).unwrap();
        assert_eq!(long.len(), 255);
        assert_eq!(parse_delete_dir(&long), Some(12));
        for not in [
            "orders-3",
            "orders-3.abc-delete",
            "a.b-delete",
            "orders-x.0-delete",
        ] {
            assert_eq!(parse_delete_dir(not), None, "{not}");
        }
    }

    #[test]
    fn steps_remove_a_bounded_number_of_files() {
        let root = super::super::test_dir("deletion-steps");
        let dir = root.join(delete_dir_name("t", 0).unwrap());
        fs::create_dir(&dir).unwrap();
        for i in 0..5 {
            fs::write(dir.join(format!("{i}.log")), b"x").unwrap();
        }
        let mut deletions = Deletions::default();
        deletions.push(dir.clone());
        deletions.step(&root, 2);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
        deletions.step(&root, 2);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert!(!deletions.is_empty());
        deletions.step(&root, 2);
        assert!(!dir.exists());
        assert!(deletions.is_empty());
    }
}

/// Each step of CreateTopics and DeleteTopics is one durable file-system change; these tests
/// leave the log dir as a kill -9 between two of them would, then restart.
#[cfg(test)]
mod crash_tests {
    use std::time::Instant;

    use super::super::{Storage, TopicError, batch, test_dir};
    use super::*;
    use crate::config::Config;

    fn open(dir: &Path) -> Storage {
        Storage::open(&Config {
            log_dir: dir.to_path_buf(),
            ..Config::default()
        })
        .unwrap()
    }

    /// The names in a partition directory with `suffix`, sorted.
    fn with_suffix(dir: &Path, suffix: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(suffix))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn removed_segments_wait_file_delete_delay_ms_as_deleted_files() {
        let dir = test_dir("segment-delete-delay");
        let mut storage = open(&dir);
        let configs = [("segment.bytes", "200"), ("file.delete.delay.ms", "0")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        storage.create_topic("now", 1, &configs).unwrap();
        let configs = [("segment.bytes", "200")].map(|(k, v)| (k.to_string(), v.to_string()));
        storage.create_topic("later", 1, &configs).unwrap();
        for topic in ["now", "later"] {
            for i in 0..6 {
                let bytes = batch::build(0, 0, 1_000, &[vec![b'x'; 100 + i]]);
                storage.append(topic, 0, &bytes).unwrap();
            }
        }
        storage.flush(Instant::now()).unwrap();
        for topic in ["now", "later"] {
            assert!(storage.delete_records(topic, 0, 4).is_ok());
        }
        let part = |topic: &str| dir.join(format!("{topic}-0"));
        // Renamed at once, as Kafka's `.deleted` files, the segment gone from the log.
        for topic in ["now", "later"] {
            assert_eq!(
                with_suffix(&part(topic), ".log.deleted"),
                [
                    "00000000000000000000.log.deleted",
                    "00000000000000000001.log.deleted",
                    "00000000000000000002.log.deleted",
                    "00000000000000000003.log.deleted"
                ],
                "{topic}"
            );
            assert_eq!(with_suffix(&part(topic), ".log").len(), 2);
        }
        assert!(storage.deletions_pending());
        // file.delete.delay.ms=0 is due at once; the default (60 s) is not.
        storage.remove_deleted();
        assert!(with_suffix(&part("now"), ".deleted").is_empty());
        assert_eq!(with_suffix(&part("later"), ".log.deleted").len(), 4);
        assert!(storage.deletions_due().unwrap() > Instant::now());
        // A restart removes what waited.
        drop(storage);
        let storage = open(&dir);
        assert!(with_suffix(&part("later"), ".deleted").is_empty());
        assert_eq!(with_suffix(&part("later"), ".log").len(), 2);
        assert_eq!(
            storage.topic("later").unwrap().partitions[0]
                .log
                .log_start_offset(),
            4
        );
    }

    fn with_one_record(dir: &Path, name: &str, partitions: i32) -> Uuid {
        let mut storage = open(dir);
        let id = storage.create_topic(name, partitions, &[]).unwrap().id;
        for index in 0..partitions {
            let batch = batch::build(0, 0, 1, &[b"old".to_vec()]);
            storage.append(name, index, &batch).unwrap();
        }
        storage.flush(Instant::now()).unwrap();
        id
    }

    fn delete_dirs(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(DELETE_DIR_SUFFIX))
            .collect()
    }

    fn next_offsets(storage: &Storage, name: &str) -> Vec<i64> {
        let topic = storage.topic(name).unwrap();
        topic
            .partitions
            .iter()
            .map(|p| p.log.next_offset())
            .collect()
    }

    #[test]
    fn a_crash_between_renames_and_commit_restores_the_topic_wholly() {
        let dir = test_dir("deletion-crash-renamed");
        let id = with_one_record(&dir, "t", 3);
        // Partition 0 and 1 renamed, the crash came before partition 2 and the record.
        for index in 0..2 {
            let to = dir.join(delete_dir_name("t", index).unwrap());
            fs::rename(dir.join(format!("t-{index}")), to).unwrap();
        }
        let storage = open(&dir);
        assert_eq!(storage.topic("t").unwrap().id, id);
        assert_eq!(next_offsets(&storage, "t"), [1, 1, 1]);
        assert!(delete_dirs(&dir).is_empty());
    }

    #[test]
    fn a_crash_after_the_commit_removes_the_rest_and_a_new_topic_starts_empty() {
        let dir = test_dir("deletion-crash-committed");
        let old = with_one_record(&dir, "t", 2);
        {
            let mut storage = open(&dir);
            storage.delete_topic("t").unwrap();
            assert_eq!(delete_dirs(&dir).len(), 2);
            // The crash: no removal step ran.
        }
        let mut storage = open(&dir);
        assert!(storage.topic("t").is_none());
        assert!(storage.deletions_pending());
        let new = storage.create_topic("t", 2, &[]).unwrap().id;
        assert_ne!(new, old);
        assert_eq!(next_offsets(&storage, "t"), [0, 0]);
        while storage.deletions_pending() {
            storage.remove_deleted();
        }
        assert!(delete_dirs(&dir).is_empty());
        drop(storage);
        let storage = open(&dir);
        assert_eq!(storage.topic("t").unwrap().id, new);
        assert_eq!(next_offsets(&storage, "t"), [0, 0]);
    }

    #[test]
    fn a_failed_creation_leaves_nothing_and_keeps_what_is_not_ours() {
        let dir = test_dir("creation-failed");
        {
            let mut storage = open(&dir);
            // A file where partition 2's directory must go.
            fs::write(dir.join("t-2"), b"not a directory").unwrap();
            assert!(matches!(
                storage.create_topic("t", 4, &[("retention.ms".into(), "5".into())]),
                Err(TopicError::Io(_))
            ));
            assert!(storage.topic("t").is_none());
            assert!(!dir.join("t-0").exists() && !dir.join("t-1").exists());
            assert!(!dir.join("t-3").exists());
            assert_eq!(fs::read(dir.join("t-2")).unwrap(), b"not a directory");
        }
        let mut storage = open(&dir);
        assert!(storage.topic("t").is_none());
        fs::remove_file(dir.join("t-2")).unwrap();
        storage.create_topic("t", 4, &[]).unwrap();
        assert_eq!(next_offsets(&storage, "t"), [0, 0, 0, 0]);
        assert!(storage.topic_configs("t").unwrap().is_empty());
    }

    #[test]
    fn a_crash_before_the_creation_committed_loads_nothing_and_adopts_nothing() {
        let dir = test_dir("creation-crash");
        // What a crash after the directories but before the records leaves, here with a
        // deleted topic's records inside: a directory naming another topic id.
        let source = test_dir("creation-crash-source");
        let other = with_one_record(&source, "t", 1);
        fs::create_dir(dir.join("t-0")).unwrap();
        for entry in fs::read_dir(source.join("t-0")).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), dir.join("t-0").join(entry.file_name())).unwrap();
        }
        let mut storage = open(&dir);
        assert!(storage.topic("t").is_none());
        let id = storage.create_topic("t", 1, &[]).unwrap().id;
        assert_ne!(id, other);
        assert_eq!(next_offsets(&storage, "t"), [0]);
        assert_eq!(
            named_topic_id(&dir.join("t-0")),
            Some(base64url(&id)),
            "the new topic's id, not the stray directory's"
        );
    }
}
