//! The log directory's `recovery-point-offset-checkpoint` (Kafka's checkpoint text: a version
//! line `0`, a count line, then `topic partition offset` lines; written whole to a `.tmp`
//! file, synced and renamed), and how each partition's log is opened from it: after a clean
//! stop every segment is trusted (loaded from its index files, no log read); after an unclean
//! one, only the segments from the one holding the partition's recovery point on are read and
//! checked. Internal logs that start-up replays whole anyway (the metadata log,
//! `__consumer_offsets`) are always checked whole, and corruption there stops start-up.
//!
//! Invariant: a recovery point in the file never exceeds what was synced when it was
//! written: it is written at start (after recovery synced every segment it read), and by a
//! controlled shutdown after its last sync; an offline partition is left out (so the next
//! start checks it whole).

use std::collections::HashMap;
use std::fs;
use std::io;

use ::log::warn;

use super::log::Recovery;
use super::log_start::{parse_checkpoint, write_checkpoint};
use super::{Storage, offsets};

pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";

/// Recovery points by topic and partition.
pub type RecoveryPoints = HashMap<(String, i32), i64>;

/// Reads `recovery-point-offset-checkpoint`; a missing or unreadable file is empty (every
/// partition is then checked whole).
pub fn load(root: &std::path::Path) -> io::Result<RecoveryPoints> {
    let path = root.join(RECOVERY_POINT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RecoveryPoints::new()),
        Err(e) => return Err(e),
    };
    match parse_checkpoint(&text) {
        Some(entries) => Ok(entries
            .into_iter()
            .map(|(topic, partition, offset)| ((topic, partition), offset))
            .collect()),
        None => {
            warn!("{}: not a version 0 checkpoint; ignored", path.display());
            Ok(RecoveryPoints::new())
        }
    }
}

/// How partition `topic`-`partition` is opened: internal logs replayed at start are checked
/// whole; after a clean stop a partition in the checkpoint is trusted; otherwise its
/// segments from its recovery point on (all, when it has none) are checked.
pub fn recovery_for(
    points: &RecoveryPoints,
    clean_shutdown: bool,
    topic: &str,
    partition: i32,
) -> Recovery {
    if topic == offsets::TOPIC {
        return Recovery::ALL;
    }
    match points.get(&(topic.to_string(), partition)) {
        Some(_) if clean_shutdown => Recovery::Trusted,
        Some(&point) => Recovery::From(point),
        None => Recovery::ALL,
    }
}

impl Storage {
    /// Rewrites `recovery-point-offset-checkpoint` with every online partition's recovery
    /// point.
    pub(super) fn write_recovery_points(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for topic in self.topics.values() {
            for (index, partition) in topic.partitions.iter().enumerate() {
                if !partition.log.is_offline() {
                    let point = partition.log.recovery_point();
                    entries.push((topic.name.clone(), index as i32, point));
                }
            }
        }
        write_checkpoint(&self.root, RECOVERY_POINT_FILE, &entries)
    }

    /// A controlled shutdown's step after the last sync: every log's active index files
    /// closed (trimmed, final entries, synced) and the recovery points (now the log ends)
    /// written.
    pub(super) fn close_logs(&mut self) -> io::Result<()> {
        for topic in self.topics.values_mut() {
            for partition in &mut topic.partitions {
                partition.log.close()?;
            }
        }
        self.metadata_log.close()?;
        self.write_recovery_points()
    }

    /// Start-up stops when an internal log it replays is corrupt: dropping what follows
    /// would lose topics or committed offsets. The message names the place and the repair.
    pub(super) fn refuse_corrupt(log: &super::PartitionLog) -> io::Result<()> {
        match log.corruption() {
            None => Ok(()),
            Some(found) => Err(io::Error::other(format!(
                "{found}: start-up stopped (nothing was deleted); run \
                 `kafka-broker --repair <server.properties>` to move the corrupt region aside"
            ))),
        }
    }
}
