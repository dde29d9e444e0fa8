//! KRaft snapshots of the metadata log, in Kafka's layout: `__cluster_metadata-0/
//! <end offset, 20 digits>-<epoch, 10 digits>.checkpoint`, a record-batch file as Kafka's
//! `RecordsSnapshotWriter` writes it: a control batch holding the SnapshotHeaderRecord
//! (control type 3), batches of the metadata records that rebuild the whole image, and a
//! control batch holding the SnapshotFooterRecord (control type 4); offsets from 0, every
//! batch's partition leader epoch the snapshot's epoch.
//!
//! Invariants: a snapshot file appears only whole (written as `.checkpoint.part`, synced,
//! renamed, directory synced); start-up uses the newest snapshot that passes validation
//! (every batch's CRC, header first, footer last) and then only the log after its end
//! offset, so the image is never partial; the metadata log loses segments only below a
//! snapshot that is older than the newest (Kafka's `KafkaMetadataLog` cleaning rule).
//!
//! [`Storage::image_records`] is the one place that turns the in-memory state back into
//! records: every record type `replay_metadata` keeps must be written there (the test
//! `every_kept_record_type_is_in_the_image` fails otherwise).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ::log::{debug, info, warn};

use super::batch::{self, ATTR_CONTROL, BatchHeader};
use super::client_quotas::QuotaChange;
use super::log::sync_dir;
use super::metadata::{self, MetadataRecord, RESOURCE_TOPIC};
use super::{METADATA_LEADER_EPOCH, Storage, now_ms};
use crate::protocol::codec::{Reader, Writer};

const SUFFIX: &str = ".checkpoint";
const PARTIAL_SUFFIX: &str = ".checkpoint.part";
const DELETED_SUFFIX: &str = ".checkpoint.deleted";
/// Control record types (Kafka's `ControlRecordType`).
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;
/// Bytes of record values per batch of a snapshot we write: well under the 8 MiB
/// (`KafkaRaftClient.MAX_BATCH_SIZE_BYTES`) Kafka's snapshot reader accepts.
const SNAPSHOT_BATCH_BYTES_MAX: usize = 1 << 20;
/// Bytes of the log's records tail read per step at start-up.
const TAIL_READ_BYTES: usize = 8 << 20;

/// Kafka's defaults for the settings read here.
const DEFAULT_BYTES_BETWEEN_SNAPSHOTS: i64 = 20 * 1024 * 1024;
const DEFAULT_RETENTION_BYTES: i64 = 100 * 1024 * 1024;
const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// The smallest metadata segment taken (Kafka's `Records.LOG_OVERHEAD`).
const MIN_SEGMENT_BYTES: u64 = 12;

/// The metadata log's segment size: `metadata.log.segment.bytes` (Kafka's default 1 GiB).
pub fn metadata_segment_bytes(properties: &BTreeMap<String, String>) -> u64 {
    properties
        .get("metadata.log.segment.bytes")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_SEGMENT_BYTES, |v| v.max(MIN_SEGMENT_BYTES))
}

/// A snapshot's identity: the log offset it ends before (its records cover every offset
/// below) and the epoch of the last record it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotId {
    pub end_offset: i64,
    pub epoch: i32,
}

impl SnapshotId {
    /// Kafka's file name (`Snapshots.filenameFromSnapshotId` plus `.checkpoint`).
    pub fn file_name(&self) -> String {
        format!("{:020}-{:010}{SUFFIX}", self.end_offset, self.epoch)
    }

    /// The id a snapshot file's name gives (`None` for any other file).
    fn parse(name: &str) -> Option<SnapshotId> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (offset, epoch) = stem.split_once('-')?;
        if offset.len() != 20 || epoch.len() != 10 {
            return None;
        }
        Some(SnapshotId {
            end_offset: offset.parse().ok()?,
            epoch: epoch.parse().ok()?,
        })
    }
}

/// A snapshot on disk, as retention needs it.
#[derive(Debug, Clone, Copy)]
struct SnapshotFile {
    id: SnapshotId,
    size_bytes: u64,
    /// The SnapshotHeaderRecord's LastContainedLogTimestamp (-1 if unread).
    last_contained_timestamp: i64,
}

/// The snapshots' bookkeeping, held by [`Storage`].
#[derive(Debug, Default)]
pub struct Snapshots {
    /// Snapshots on disk that may be loaded or cleaned, oldest first.
    files: Vec<SnapshotFile>,
    /// Bytes of metadata batches appended since the newest snapshot.
    bytes_since_snapshot: u64,
    /// The timestamp of the newest metadata batch (the next snapshot's header names it).
    last_batch_timestamp: i64,
}

impl Snapshots {
    /// The newest snapshot's id.
    pub fn newest(&self) -> Option<SnapshotId> {
        self.files.last().map(|f| f.id)
    }
}

/// Why a snapshot file is not loaded.
#[derive(Debug)]
pub enum SnapshotError {
    Io(io::Error),
    /// A batch cut short, failing its CRC, or a record that does not decode.
    Corrupt(String),
    /// The first batch holds no SnapshotHeaderRecord, or the last no SnapshotFooterRecord.
    Framing(&'static str),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Io(e) => write!(f, "{e}"),
            SnapshotError::Corrupt(what) => write!(f, "corrupt: {what}"),
            SnapshotError::Framing(what) => f.write_str(what),
        }
    }
}

/// A control batch of one record at `offset`: key (version 0, `control_type`), `value`.
fn control_batch(
    offset: i64,
    epoch: i32,
    now_ms: i64,
    control_type: i16,
    value: Vec<u8>,
) -> Vec<u8> {
    let mut key = Vec::with_capacity(4);
    Writer::new(&mut key).i16(0).i16(control_type);
    let mut bytes = batch::build_keyed(offset, epoch, now_ms, &[(Some(key), Some(value))]);
    bytes[21..23].copy_from_slice(&ATTR_CONTROL.to_be_bytes());
    let crc = super::crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// The bytes of a snapshot file: header batch, the records' batches (at most
/// [`SNAPSHOT_BATCH_BYTES_MAX`] of values each), footer batch.
pub fn encode(
    epoch: i32,
    last_contained_timestamp: i64,
    now_ms: i64,
    values: &[Vec<u8>],
) -> Vec<u8> {
    let mut header = Vec::new();
    // SnapshotHeaderRecord v0: Version, LastContainedLogTimestamp, no tagged fields.
    Writer::new(&mut header)
        .i16(0)
        .i64(last_contained_timestamp)
        .tags(true);
    let mut out = control_batch(0, epoch, now_ms, SNAPSHOT_HEADER, header);
    let mut offset = 1i64;
    let mut start = 0;
    while start < values.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < values.len()
            && (end == start || bytes + values[end].len() <= SNAPSHOT_BATCH_BYTES_MAX)
        {
            bytes += values[end].len();
            end += 1;
        }
        out.extend_from_slice(&batch::build(offset, epoch, now_ms, &values[start..end]));
        offset += (end - start) as i64;
        start = end;
    }
    let mut footer = Vec::new();
    // SnapshotFooterRecord v0: Version, no tagged fields.
    Writer::new(&mut footer).i16(0).tags(true);
    out.extend_from_slice(&control_batch(
        offset,
        epoch,
        now_ms,
        SNAPSHOT_FOOTER,
        footer,
    ));
    out
}

/// The control type of a control batch's first record.
fn control_type(bytes: &[u8]) -> Option<(i16, Vec<u8>)> {
    let records = batch::records(bytes).ok()?;
    let first = records.first()?;
    let mut key = Reader::new(first.key?);
    let (_version, control_type) = (key.i16().ok()?, key.i16().ok()?);
    Some((control_type, first.value?.to_vec()))
}

/// A snapshot file's records and its header's LastContainedLogTimestamp, if every batch is
/// whole with a valid CRC, the first is the header and the last the footer.
pub fn decode(bytes: &[u8]) -> Result<(i64, Vec<MetadataRecord>), SnapshotError> {
    let mut position = 0;
    let mut timestamp = None;
    let mut footer = false;
    let mut records = Vec::new();
    while position < bytes.len() {
        let header = BatchHeader::parse(&bytes[position..])
            .ok_or_else(|| SnapshotError::Corrupt(format!("a short batch at byte {position}")))?;
        let end = position.saturating_add(header.size());
        let batch_bytes = bytes.get(position..end).ok_or_else(|| {
            SnapshotError::Corrupt(format!("a batch cut short at byte {position}"))
        })?;
        batch::validate(batch_bytes)
            .map_err(|e| SnapshotError::Corrupt(format!("batch at byte {position}: {e:?}")))?;
        if footer {
            return Err(SnapshotError::Framing(
                "batches after the SnapshotFooterRecord",
            ));
        }
        position = end;
        if header.is_control() {
            match control_type(batch_bytes) {
                Some((SNAPSHOT_HEADER, value)) if timestamp.is_none() => {
                    let mut r = Reader::new(&value);
                    let _version = r.i16().map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
                    timestamp = Some(r.i64().map_err(|e| SnapshotError::Corrupt(e.to_string()))?);
                }
                Some((SNAPSHOT_FOOTER, _)) if timestamp.is_some() => footer = true,
                // Other control records (KRaftVersionRecord, VotersRecord) carry nothing
                // this single-node broker keeps.
                Some(_) if timestamp.is_some() => {}
                _ => return Err(SnapshotError::Framing("no SnapshotHeaderRecord first")),
            }
            continue;
        }
        if timestamp.is_none() {
            return Err(SnapshotError::Framing("no SnapshotHeaderRecord first"));
        }
        let batch_records =
            batch::records(batch_bytes).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        for record in batch_records {
            let Some(value) = record.value else { continue };
            let decoded =
                MetadataRecord::decode(value).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
            records.push(decoded);
        }
    }
    match (timestamp, footer) {
        (Some(timestamp), true) => Ok((timestamp, records)),
        (None, _) => Err(SnapshotError::Framing("no SnapshotHeaderRecord first")),
        (Some(_), false) => Err(SnapshotError::Framing("no SnapshotFooterRecord last")),
    }
}

/// Writes `bytes` as snapshot `id` in `dir` atomically, as Kafka's `FileRawSnapshotWriter`
/// freezes one: a `.checkpoint.part` file, synced, renamed, the directory synced.
fn write_file(dir: &Path, id: SnapshotId, bytes: &[u8]) -> io::Result<()> {
    let name = id.file_name();
    let part = dir.join(format!("{}{PARTIAL_SUFFIX}", name.trim_end_matches(SUFFIX)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&part)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&part, dir.join(&name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The snapshots in `dir`, oldest first; leftovers of an interrupted write or deletion
/// (`.checkpoint.part`, `.checkpoint.deleted`) are removed, as Kafka does at start.
fn list(dir: &Path) -> io::Result<Vec<(SnapshotId, u64)>> {
    let mut found = Vec::new();
    let mut removed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(PARTIAL_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            info!("{}: removing a snapshot leftover {name}", dir.display());
            fs::remove_file(entry.path())?;
            removed = true;
        } else if let Some(id) = SnapshotId::parse(name) {
            found.push((id, entry.metadata()?.len()));
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    found.sort_unstable();
    Ok(found)
}

impl Storage {
    fn metadata_dir(&self) -> PathBuf {
        self.metadata_log.dir().to_path_buf()
    }

    fn broker_i64(&self, name: &str, default: i64) -> i64 {
        self.broker_properties
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// The records that rebuild the whole in-memory metadata image, in the order of Kafka's
    /// `MetadataImage.write` (features, topics, configs, client quotas, producer ids). This
    /// is the one place a record type `replay_metadata` keeps must be added.
    pub fn image_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if let Some(level) = self.metadata_version {
            records.push(MetadataRecord::FeatureLevel {
                name: metadata::METADATA_VERSION.to_string(),
                level,
            });
        }
        for topic in self.topics.values() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.id,
            });
            for (index, partition) in topic.partitions.iter().enumerate() {
                records.push(MetadataRecord::Partition {
                    partition_id: index as i32,
                    topic_id: topic.id,
                    replicas: vec![self.node_id],
                    leader: self.node_id,
                    leader_epoch: partition.leader_epoch,
                });
            }
        }
        let topic_configs = self
            .topics
            .values()
            .map(|t| ((RESOURCE_TOPIC, &t.name), &t.configs));
        let other_configs = self.resource_configs.iter().map(|((t, n), c)| ((*t, n), c));
        for ((resource_type, resource_name), configs) in topic_configs.chain(other_configs) {
            for (name, value) in configs {
                records.push(MetadataRecord::Config {
                    resource_type,
                    resource_name: resource_name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        for (entity, values) in &self.client_quotas {
            for (key, value) in values {
                let change = QuotaChange {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                };
                records.push(change.record());
            }
        }
        if self.producer_id_block_end > 0 {
            records.push(MetadataRecord::ProducerIds {
                broker_id: self.node_id,
                broker_epoch: 0,
                next_producer_id: self.producer_id_block_end,
            });
        }
        // Kafka's image order ends with ACLs, then SCRAM credentials.
        for (id, binding) in self.acls.iter() {
            records.push(binding.record(*id));
        }
        for (name, credentials) in self.scram.users() {
            for (&mechanism, c) in credentials {
                records.push(MetadataRecord::UserScramCredential {
                    name: name.to_string(),
                    mechanism,
                    salt: c.salt.clone(),
                    stored_key: c.stored_key.clone(),
                    server_key: c.server_key.clone(),
                    iterations: c.iterations,
                });
            }
        }
        records
    }

    /// The metadata records to replay at start: the newest valid snapshot's, then the log's
    /// after its end offset (the whole log when no snapshot is valid). Fails rather than
    /// return a partial image: when the log no longer starts at 0 and no snapshot covers
    /// what is gone.
    pub(super) fn load_metadata_records(&mut self) -> io::Result<Vec<MetadataRecord>> {
        let dir = self.metadata_dir();
        let found = list(&dir)?;
        let log_start = self.metadata_log.log_start_offset();
        let (mut records, from) = match self.load_newest_valid(&found) {
            Some(loaded) => loaded,
            None if log_start > 0 => {
                return Err(io::Error::other(format!(
                    "{}: the log starts at offset {log_start} and no valid snapshot covers \
                     the offsets below",
                    dir.display()
                )));
            }
            None => (Vec::new(), 0),
        };
        let tail_bytes = self.read_log_records(from, &mut records)?;
        self.snapshots.bytes_since_snapshot = tail_bytes;
        // What retention allowed to go while the broker was down (the time rule) goes now.
        if let Err(e) = self.clean_metadata_log(now_ms()) {
            warn!("metadata log: cleaning at start: {e}");
        }
        debug!(
            "{}: replaying {} records ({tail_bytes} bytes of log after offset {from})",
            dir.display(),
            records.len()
        );
        Ok(records)
    }

    /// The newest of `found` (oldest first) that lies within the log's offsets and
    /// validates: its records and end offset. It and the older ones become the snapshots
    /// cleaning may use; a newer one that failed is left on disk but never used.
    fn load_newest_valid(
        &mut self,
        found: &[(SnapshotId, u64)],
    ) -> Option<(Vec<MetadataRecord>, i64)> {
        let dir = self.metadata_dir();
        let log_start = self.metadata_log.log_start_offset();
        let log_end = self.metadata_log.next_offset();
        for (i, &(id, _)) in found.iter().enumerate().rev() {
            let name = id.file_name();
            if id.end_offset > log_end || id.end_offset < log_start {
                warn!(
                    "{}: ignoring snapshot {name} outside the log's offsets \
                     [{log_start}, {log_end}]",
                    dir.display()
                );
                continue;
            }
            let loaded = read_file(&dir.join(&name))
                .map_err(SnapshotError::Io)
                .and_then(|bytes| decode(&bytes));
            let (timestamp, records) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    warn!("{}: ignoring snapshot {name}: {e}", dir.display());
                    continue;
                }
            };
            info!(
                "{}: loaded snapshot {name} ({} records)",
                dir.display(),
                records.len()
            );
            self.snapshots.last_batch_timestamp = timestamp;
            self.snapshots.files = found[..=i]
                .iter()
                .map(|&(id, size_bytes)| SnapshotFile {
                    id,
                    size_bytes,
                    last_contained_timestamp: -1,
                })
                .collect();
            self.snapshots.files[i].last_contained_timestamp = timestamp;
            return Some((records, id.end_offset));
        }
        None
    }

    /// Appends the records of the log's batches at or after `from` to `records`; returns
    /// the bytes of batches read.
    fn read_log_records(
        &mut self,
        from: i64,
        records: &mut Vec<MetadataRecord>,
    ) -> io::Result<u64> {
        let mut offset = from;
        let mut total = 0u64;
        let mut bytes = Vec::new();
        while offset < self.metadata_log.next_offset() {
            let Some(slice) = self.metadata_log.read(offset, TAIL_READ_BYTES)? else {
                break;
            };
            bytes.clear();
            slice.write_to(&mut bytes)?;
            let mut position = 0;
            let mut advanced = false;
            while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
                let end = position + header.size();
                let Some(batch_bytes) = bytes.get(position..end) else {
                    break;
                };
                position = end;
                offset = header.last_offset() + 1;
                advanced = true;
                if header.base_offset < from {
                    continue;
                }
                total += batch_bytes.len() as u64;
                self.snapshots.last_batch_timestamp = header.max_timestamp;
                if header.is_control() {
                    continue;
                }
                // An unreadable record stops start-up: dropping it (and what depends on it)
                // would silently change the image.
                match batch::records(batch_bytes) {
                    Ok(batch_records) => {
                        for record in batch_records {
                            match record.value.map(MetadataRecord::decode) {
                                Some(Ok(decoded)) => records.push(decoded),
                                Some(Err(e)) => return Err(super::corrupt_metadata(&header, &e)),
                                None => {}
                            }
                        }
                    }
                    Err(e) => return Err(super::corrupt_metadata(&header, &e)),
                }
            }
            if !advanced {
                break;
            }
        }
        Ok(total)
    }

    /// Called after each metadata batch is appended and synced (its change is not yet in
    /// memory, so no snapshot is written here).
    pub(super) fn metadata_appended(&mut self, batch_bytes: &[u8]) {
        self.snapshots.bytes_since_snapshot += batch_bytes.len() as u64;
        if let Some(header) = BatchHeader::parse(batch_bytes) {
            self.snapshots.last_batch_timestamp = header.max_timestamp;
        }
    }

    /// Writes a snapshot when `metadata.log.max.record.bytes.between.snapshots` bytes of
    /// metadata batches were appended since the last. Called before an append, when
    /// memory reflects every record in the log.
    pub(super) fn snapshot_if_due(&mut self) {
        let between = self.broker_i64(
            "metadata.log.max.record.bytes.between.snapshots",
            DEFAULT_BYTES_BETWEEN_SNAPSHOTS,
        );
        if self.snapshots.bytes_since_snapshot >= between.max(1) as u64 {
            self.snapshot_metadata();
        }
    }

    /// Writes a snapshot if records were appended since the newest (a controlled
    /// shutdown's step: the next start then reads no log).
    pub(super) fn snapshot_at_shutdown(&mut self) {
        if self.snapshots.bytes_since_snapshot > 0 {
            self.snapshot_metadata();
        }
    }

    /// Writes a snapshot of the image at the log's end, then cleans the metadata log. A
    /// failure is logged: the log still holds everything.
    fn snapshot_metadata(&mut self) {
        match self.write_snapshot() {
            Ok(id) => {
                info!(
                    "{}: wrote snapshot {}",
                    self.metadata_log.dir().display(),
                    id.file_name()
                );
                if let Err(e) = self.clean_metadata_log(now_ms()) {
                    warn!("metadata log: cleaning after a snapshot: {e}");
                }
            }
            Err(e) => warn!("metadata log: writing a snapshot: {e}"),
        }
    }

    /// Writes the snapshot of the current image, ending at the log's end offset.
    pub fn write_snapshot(&mut self) -> io::Result<SnapshotId> {
        let id = SnapshotId {
            end_offset: self.metadata_log.next_offset(),
            epoch: METADATA_LEADER_EPOCH,
        };
        let values: Vec<Vec<u8>> = self
            .image_records()
            .iter()
            .map(|r| r.encode(&self.directory_id))
            .collect();
        let timestamp = self.snapshots.last_batch_timestamp;
        let bytes = encode(id.epoch, timestamp, now_ms(), &values);
        write_file(&self.metadata_dir(), id, &bytes)?;
        let files = &mut self.snapshots.files;
        files.retain(|f| f.id != id);
        files.push(SnapshotFile {
            id,
            size_bytes: bytes.len() as u64,
            last_contained_timestamp: timestamp,
        });
        self.snapshots.bytes_since_snapshot = 0;
        Ok(id)
    }

    /// Kafka's `KafkaMetadataLog.maybeClean`: while the log and snapshots together exceed
    /// `metadata.max.retention.bytes`, or the oldest snapshot's last record is older than
    /// `metadata.max.retention.ms`, and a newer snapshot exists, the log start moves to the
    /// next snapshot's end offset (segments wholly below it are deleted) and the older
    /// snapshot goes. The newest snapshot always stays.
    pub fn clean_metadata_log(&mut self, now_ms: i64) -> io::Result<usize> {
        let retention_bytes =
            self.broker_i64("metadata.max.retention.bytes", DEFAULT_RETENTION_BYTES);
        let retention_ms = self.broker_i64("metadata.max.retention.ms", DEFAULT_RETENTION_MS);
        let dir = self.metadata_dir();
        let mut deleted = 0;
        while self.snapshots.files.len() >= 2 {
            let oldest = self.snapshots.files[0];
            let snapshot_bytes: u64 = self.snapshots.files.iter().map(|f| f.size_bytes).sum();
            let too_big = retention_bytes >= 0
                && self.metadata_log.size_bytes() + snapshot_bytes > retention_bytes as u64;
            let too_old = retention_ms >= 0 && {
                let timestamp = self.snapshot_timestamp(0);
                timestamp >= 0 && now_ms - timestamp > retention_ms
            };
            if !(too_big || too_old) {
                break;
            }
            let next = self.snapshots.files[1].id;
            self.metadata_log.advance_log_start(next.end_offset)?;
            // Nothing reads the metadata log's old segments: they go at once.
            for path in self.metadata_log.take_deleted_files() {
                fs::remove_file(path)?;
            }
            fs::remove_file(dir.join(oldest.id.file_name()))?;
            sync_dir(&dir)?;
            info!(
                "{}: deleted snapshot {}; the log starts at {}",
                dir.display(),
                oldest.id.file_name(),
                self.metadata_log.log_start_offset()
            );
            self.snapshots.files.remove(0);
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The LastContainedLogTimestamp of snapshot `i`, read from its header when unknown.
    fn snapshot_timestamp(&mut self, i: usize) -> i64 {
        let file = self.snapshots.files[i];
        if file.last_contained_timestamp >= 0 {
            return file.last_contained_timestamp;
        }
        let path = self.metadata_dir().join(file.id.file_name());
        let mut head = vec![0u8; 256];
        let timestamp = File::open(&path)
            .and_then(|mut f| {
                let n = f.read(&mut head)?;
                head.truncate(n);
                Ok(())
            })
            .ok()
            .and_then(|()| {
                let header = BatchHeader::parse(&head)?;
                let batch_bytes = head.get(..header.size())?;
                let (control, value) = control_type(batch_bytes)?;
                let mut r = Reader::new(&value);
                (control == SNAPSHOT_HEADER && r.i16().is_ok()).then(|| r.i64().ok())?
            })
            .unwrap_or(-1);
        self.snapshots.files[i].last_contained_timestamp = timestamp;
        timestamp
    }

    /// The newest snapshot's id, if any.
    pub fn newest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots.newest()
    }

    /// The metadata log's start offset (moved by cleaning after snapshots).
    pub fn metadata_log_start_offset(&self) -> i64 {
        self.metadata_log.log_start_offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::client_quotas::{Name, QuotaEntity};
    use crate::storage::dynamic::{RESOURCE_BROKER, RESOURCE_GROUP};
    use crate::storage::test_dir;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn config_for(dir: &Path, extra: &[(&str, &str)]) -> Config {
        let mut config = Config {
            log_dir: dir.to_path_buf(),
            ..Config::default()
        };
        for (key, value) in extra {
            config.properties.insert(key.to_string(), value.to_string());
        }
        config
    }

    #[test]
    fn file_names_as_kafka_formats_them() {
        let id = SnapshotId {
            end_offset: 1234,
            epoch: 1,
        };
        assert_eq!(id.file_name(), "00000000000000001234-0000000001.checkpoint");
        assert_eq!(SnapshotId::parse(&id.file_name()), Some(id));
        assert_eq!(SnapshotId::parse("00000000000000001234.log"), None);
        assert_eq!(
            SnapshotId::parse("00000000000000001234-0000000001.checkpoint.part"),
            None
        );
        assert_eq!(SnapshotId::parse("1234-1.checkpoint"), None);
    }

    /// A snapshot of one TopicRecord, byte for byte as Kafka's `RecordsSnapshotWriter`
    /// lays it out (kraft.version 0: the header batch holds only the header record). The
    /// CRCs were computed independently of this crate's CRC-32C.
    #[test]
    fn tiny_snapshot_exact_bytes() {
        let topic = MetadataRecord::Topic {
            name: "saz".into(),
            topic_id: [0x11; 16],
        };
        let bytes = encode(
            1,
            1_700_000_000_000,
            1_700_000_000_123,
            &[topic.encode(&[0; 16])],
        );
        let header = hex(
            "0000000000000000 00000047 00000001 02 4fd9c2b6 0020 00000000
             0000018bcfe5687b 0000018bcfe5687b ffffffffffffffff ffff ffffffff 00000001
             2a 00 00 00 08 00000003 16 0000 0000018bcfe56800 00 00",
        );
        let records = hex(
            "0000000000000001 00000050 00000001 02 8a18254d 0000 00000000
             0000018bcfe5687b 0000018bcfe5687b ffffffffffffffff ffff ffffffff 00000001
             3c 00 00 00 01 30 01020004 73617a 11111111111111111111111111111111 00 00",
        );
        let footer = hex(
            "0000000000000002 0000003f 00000001 02 83eb1ec3 0020 00000000
             0000018bcfe5687b 0000018bcfe5687b ffffffffffffffff ffff ffffffff 00000001
             1a 00 00 00 08 00000004 06 0000 00 00",
        );
        assert_eq!(bytes, [header, records, footer].concat());
        let (timestamp, decoded) = decode(&bytes).unwrap();
        assert_eq!((timestamp, decoded), (1_700_000_000_000, vec![topic]));
    }

    #[test]
    fn damaged_snapshots_are_refused() {
        let value = MetadataRecord::RemoveTopic { topic_id: [1; 16] }.encode(&[0; 16]);
        let bytes = encode(1, 5, 6, &[value.clone(), value]);
        assert!(decode(&bytes).is_ok());
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(matches!(decode(&flipped), Err(SnapshotError::Corrupt(_))));
        let footer_len = 75;
        let no_footer = &bytes[..bytes.len() - footer_len];
        assert!(matches!(decode(no_footer), Err(SnapshotError::Framing(_))));
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(SnapshotError::Corrupt(_))
        ));
        let header_len = 83;
        assert!(matches!(
            decode(&bytes[header_len..]),
            Err(SnapshotError::Framing(_))
        ));
        assert!(matches!(decode(&[]), Err(SnapshotError::Framing(_))));
    }

    #[test]
    fn large_images_are_split_into_bounded_batches() {
        let values = vec![vec![7u8; 300 << 10]; 7];
        let bytes = encode(1, 0, 0, &values);
        let mut position = 0;
        let mut counts = Vec::new();
        while position < bytes.len() {
            let header = BatchHeader::parse(&bytes[position..]).unwrap();
            assert_eq!(header.partition_leader_epoch, 1);
            counts.push((header.base_offset, header.records_count));
            position += header.size();
        }
        assert_eq!(counts, [(0, 1), (1, 3), (4, 3), (7, 1), (8, 1)]);
    }

    /// Which image slot each record type fills: `Some(i)` for the types `replay_metadata`
    /// keeps (the image must hold them), `None` for those it does not (a removal leaves
    /// nothing, unknown types are dropped). A new record type fails to compile here until
    /// it is placed, and a new kept type must also get a sample in
    /// `every_kept_record_type_is_in_the_image`.
    fn kept_kind(record: &MetadataRecord) -> Option<usize> {
        match record {
            MetadataRecord::Topic { .. } => Some(0),
            MetadataRecord::Partition { .. } => Some(1),
            MetadataRecord::Config { .. } => Some(2),
            MetadataRecord::FeatureLevel { .. } => Some(3),
            MetadataRecord::ProducerIds { .. } => Some(4),
            MetadataRecord::ClientQuota { .. } => Some(5),
            MetadataRecord::UserScramCredential { .. } => Some(6),
            MetadataRecord::AccessControlEntry { .. } => Some(7),
            MetadataRecord::RemoveTopic { .. }
            | MetadataRecord::RemoveUserScramCredential { .. }
            | MetadataRecord::RemoveAccessControlEntry { .. }
            | MetadataRecord::Other { .. } => None,
        }
    }
    const KEPT_KINDS: usize = 8;

    /// Everything [`Storage`] keeps from the metadata log, for comparing two replays.
    fn state(storage: &Storage) -> String {
        let topics: Vec<_> = storage
            .topics()
            .map(|t| {
                let epochs: Vec<i32> = t.partitions.iter().map(|p| p.leader_epoch).collect();
                (t.name.clone(), t.id, epochs, t.configs.clone())
            })
            .collect();
        format!(
            "{topics:?}\n{:?}\n{:?}\n{:?}\n{}\n{:?}\n{:?}",
            storage.resource_configs,
            storage.client_quotas,
            storage.metadata_version,
            storage.producer_id_block_end,
            storage.scram,
            storage.acls
        )
    }

    /// Copies `meta.properties` and snapshot `id` of `from` into a fresh log dir whose
    /// metadata log is one empty segment at the snapshot's end offset: what the log looks
    /// like once everything below the snapshot is deleted.
    fn snapshot_only_copy(from: &Path, id: SnapshotId, name: &str) -> PathBuf {
        let dir = test_dir(name);
        fs::copy(from.join("meta.properties"), dir.join("meta.properties")).unwrap();
        let metadata = dir.join("__cluster_metadata-0");
        fs::create_dir_all(&metadata).unwrap();
        let source = from.join("__cluster_metadata-0").join(id.file_name());
        fs::copy(source, metadata.join(id.file_name())).unwrap();
        fs::write(metadata.join(format!("{:020}.log", id.end_offset)), b"").unwrap();
        dir
    }

    #[test]
    fn every_kept_record_type_is_in_the_image() {
        let dir = test_dir("snapshot-image");
        let config = config_for(&dir, &[]);
        let mut storage = Storage::open(&config).unwrap();
        storage
            .append_metadata(&[MetadataRecord::FeatureLevel {
                name: metadata::METADATA_VERSION.into(),
                level: 21,
            }])
            .unwrap();
        let configs = [("retention.ms".to_string(), "1000".to_string())];
        storage.create_topic("kept", 3, &configs).unwrap();
        storage.create_topic("gone", 2, &[]).unwrap();
        storage.delete_topic("gone").unwrap();
        let set = |v: &str| vec![("log.cleaner.threads".to_string(), Some(v.to_string()))];
        storage
            .alter_configs(RESOURCE_BROKER, "", &set("2"))
            .unwrap();
        storage
            .alter_configs(RESOURCE_BROKER, "1", &set("3"))
            .unwrap();
        let group = vec![(
            "consumer.session.timeout.ms".to_string(),
            Some("50000".into()),
        )];
        storage.alter_configs(RESOURCE_GROUP, "g", &group).unwrap();
        let quota = QuotaChange {
            entity: QuotaEntity {
                user: Some(Name::Named("alice".into())),
                client_id: Some(Name::Default),
                ip: None,
            },
            key: "producer_byte_rate".into(),
            value: Some(1024.0),
        };
        storage.alter_client_quotas(&[quota]).unwrap();
        let producer_id = storage.allocate_producer_id().unwrap();
        let credential = |name: &str, mechanism: i8| MetadataRecord::UserScramCredential {
            name: name.into(),
            mechanism,
            salt: b"salt".to_vec(),
            stored_key: vec![1; 32],
            server_key: vec![2; 32],
            iterations: 4096,
        };
        storage
            .alter_scram_credentials(vec![credential("alice", 1), credential("bob", 2)])
            .unwrap();
        storage
            .alter_scram_credentials(vec![MetadataRecord::RemoveUserScramCredential {
                name: "bob".into(),
                mechanism: 2,
            }])
            .unwrap();
        let acl = |name: &str| crate::storage::acls::AclBinding {
            resource_type: 2,
            resource_name: name.into(),
            pattern_type: 4,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        storage
            .alter_acls(vec![
                acl("kept").record([1; 16]),
                acl("gone").record([2; 16]),
            ])
            .unwrap();
        storage
            .alter_acls(vec![MetadataRecord::RemoveAccessControlEntry {
                id: [2; 16],
            }])
            .unwrap();
        // The state as a start-up replays it from the log.
        drop(storage);
        let mut storage = Storage::open(&config).unwrap();

        // The log holds every record type replay keeps...
        let mut log_records = Vec::new();
        storage.read_log_records(0, &mut log_records).unwrap();
        let mut in_log = [false; KEPT_KINDS];
        log_records
            .iter()
            .filter_map(kept_kind)
            .for_each(|k| in_log[k] = true);
        assert_eq!(
            in_log, [true; KEPT_KINDS],
            "the sample log lacks a kept type"
        );
        // ... and so does the image.
        let image = storage.image_records();
        let mut in_image = [false; KEPT_KINDS];
        image
            .iter()
            .filter_map(kept_kind)
            .for_each(|k| in_image[k] = true);
        assert_eq!(in_image, [true; KEPT_KINDS], "{image:?}");

        // Replayed from the snapshot alone, the state is the same.
        let id = storage.write_snapshot().unwrap();
        let before = state(&storage);
        drop(storage);
        let copy = snapshot_only_copy(&dir, id, "snapshot-image-copy");
        let mut reopened = Storage::open(&config_for(&copy, &[])).unwrap();
        assert_eq!(state(&reopened), before);
        assert_eq!(reopened.image_records(), image);
        assert_eq!(reopened.metadata_end_offset(), id.end_offset);
        assert_eq!(reopened.topic("kept").unwrap().partitions.len(), 3);
        assert!(reopened.topic("gone").is_none());
        assert!(reopened.allocate_producer_id().unwrap() > producer_id);
        // And the tail after the snapshot is replayed on top of it.
        reopened.create_topic("after", 1, &[]).unwrap();
        drop(reopened);
        let reopened = Storage::open(&config_for(&copy, &[])).unwrap();
        assert!(reopened.topic("after").is_some() && reopened.topic("kept").is_some());
    }

    fn snapshot_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.join("__cluster_metadata-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".checkpoint"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn snapshots_follow_the_byte_threshold_and_cleaning_deletes_what_they_cover() {
        let dir = test_dir("snapshot-cleaning");
        let settings = [
            ("metadata.log.max.record.bytes.between.snapshots", "4096"),
            ("metadata.log.segment.bytes", "2048"),
            ("metadata.max.retention.bytes", "0"),
        ];
        let config = config_for(&dir, &settings);
        let mut storage = Storage::open(&config).unwrap();
        for i in 0..200 {
            let name = format!("t{i}");
            storage.create_topic(&name, 1, &[]).unwrap();
            if i % 4 != 0 {
                storage.delete_topic(&name).unwrap();
            }
        }
        let end = storage.metadata_end_offset();
        let start = storage.metadata_log_start_offset();
        let newest = storage.newest_snapshot().unwrap();
        // Retention 0: only the newest snapshot stays, the log starts at or below it.
        assert_eq!(snapshot_files(&dir), [newest.file_name()]);
        assert!(
            start > 0 && start <= newest.end_offset,
            "{start} {newest:?}"
        );
        assert!(end - newest.end_offset < 60, "{end} {newest:?}");
        let before = state(&storage);
        drop(storage);
        let reopened = Storage::open(&config).unwrap();
        assert_eq!(state(&reopened), before);
        assert_eq!(reopened.topics().count(), 50);
        assert_eq!(reopened.metadata_end_offset(), end);
    }

    /// A snapshot before every append: each one must hold exactly what the log held, so
    /// the state replayed from the newest snapshot and its tail is the state in memory.
    #[test]
    fn a_snapshot_between_any_two_changes_is_exact() {
        let dir = test_dir("snapshot-every-append");
        let settings = [("metadata.log.max.record.bytes.between.snapshots", "1")];
        let config = config_for(&dir, &settings);
        let mut storage = Storage::open(&config).unwrap();
        let configs = [("retention.ms".to_string(), "1000".to_string())];
        storage.create_topic("a", 2, &configs).unwrap();
        storage.create_topic("b", 1, &[]).unwrap();
        storage.delete_topic("a").unwrap();
        storage.create_partitions("b", 3).unwrap();
        let change = vec![("retention.ms".to_string(), Some("5".to_string()))];
        storage.alter_configs(RESOURCE_TOPIC, "b", &change).unwrap();
        storage.allocate_producer_id().unwrap();
        storage.create_topic("c", 1, &[]).unwrap();
        let before = state(&storage);
        let snapshot = storage.newest_snapshot().unwrap();
        assert_eq!(snapshot.end_offset + 2, storage.metadata_end_offset());
        drop(storage);
        let reopened = Storage::open(&config).unwrap();
        assert_eq!(state(&reopened), before);
        assert_eq!(reopened.newest_snapshot(), Some(snapshot));
    }

    #[test]
    fn cleaning_by_age_keeps_the_newest_snapshot() {
        let dir = test_dir("snapshot-age");
        let settings = [
            ("metadata.max.retention.bytes", "-1"),
            ("metadata.max.retention.ms", "60000"),
            ("metadata.log.segment.bytes", "100"),
        ];
        let config = config_for(&dir, &settings);
        let mut storage = Storage::open(&config).unwrap();
        let mut ids = Vec::new();
        for i in 0..3 {
            storage.create_topic(&format!("t{i}"), 1, &[]).unwrap();
            ids.push(storage.write_snapshot().unwrap());
        }
        let now = now_ms();
        assert_eq!(storage.clean_metadata_log(now).unwrap(), 0);
        assert_eq!(storage.clean_metadata_log(now + 120_000).unwrap(), 2);
        assert_eq!(snapshot_files(&dir), [ids[2].file_name()]);
        assert_eq!(storage.metadata_log_start_offset(), ids[2].end_offset);
        let before = state(&storage);
        drop(storage);
        assert_eq!(state(&Storage::open(&config).unwrap()), before);
    }

    /// A snapshot as a Kafka with kraft.version 1 writes it: a KRaftVersionRecord (control
    /// type 5) after the header in the first batch.
    #[test]
    fn a_kraft_version_record_in_the_header_batch_is_accepted() {
        let value = MetadataRecord::RemoveTopic { topic_id: [1; 16] }.encode(&[0; 16]);
        let mut bytes = encode(1, 7, 8, std::slice::from_ref(&value));
        let header_len = BatchHeader::parse(&bytes).unwrap().size();
        let header_value = hex("0000 0000000000000007 00");
        let kraft_version = hex("0000 0001 00");
        let records = [
            (Some(hex("0000 0003")), Some(header_value)),
            (Some(hex("0000 0005")), Some(kraft_version)),
        ];
        let mut first = batch::build_keyed(0, 1, 8, &records);
        first[21..23].copy_from_slice(&ATTR_CONTROL.to_be_bytes());
        let crc = crate::storage::crc32c::crc32c(&first[21..]);
        first[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes.splice(..header_len, first);
        let (timestamp, decoded) = decode(&bytes).unwrap();
        assert_eq!(timestamp, 7);
        assert_eq!(decoded, [MetadataRecord::decode(&value).unwrap()]);
    }

    #[test]
    fn a_damaged_newest_snapshot_falls_back_to_an_older_one_or_the_whole_log() {
        let dir = test_dir("snapshot-fallback");
        let config = config_for(&dir, &[]);
        let mut storage = Storage::open(&config).unwrap();
        storage.create_topic("a", 1, &[]).unwrap();
        let older = storage.write_snapshot().unwrap();
        storage.create_topic("b", 2, &[]).unwrap();
        let newer = storage.write_snapshot().unwrap();
        storage.create_topic("c", 1, &[]).unwrap();
        let before = state(&storage);
        drop(storage);
        let metadata = dir.join("__cluster_metadata-0");
        // The newest loses its footer (a torn write the rename should have prevented).
        let path = metadata.join(newer.file_name());
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let reopened = Storage::open(&config).unwrap();
        assert_eq!(reopened.newest_snapshot(), Some(older));
        assert_eq!(state(&reopened), before);
        drop(reopened);
        // Both damaged (a flipped bit in the older one's records): the whole log.
        let path = metadata.join(older.file_name());
        let mut bytes = fs::read(&path).unwrap();
        bytes[120] ^= 0x40; // in the records batch, under its CRC
        fs::write(&path, bytes).unwrap();
        let reopened = Storage::open(&config).unwrap();
        assert_eq!(reopened.newest_snapshot(), None);
        assert_eq!(state(&reopened), before);
        // A leftover of an interrupted write is removed at start.
        drop(reopened);
        fs::write(
            metadata.join("00000000000000000009-0000000001.checkpoint.part"),
            b"x",
        )
        .unwrap();
        let _reopened = Storage::open(&config).unwrap();
        assert!(!snapshot_files(&dir).iter().any(|n| n.ends_with(".part")));
    }

    #[test]
    fn without_a_valid_snapshot_a_log_missing_its_start_refuses_to_open() {
        let dir = test_dir("snapshot-refuse");
        let settings = [
            ("metadata.log.max.record.bytes.between.snapshots", "1024"),
            ("metadata.log.segment.bytes", "512"),
            ("metadata.max.retention.bytes", "0"),
        ];
        let config = config_for(&dir, &settings);
        let mut storage = Storage::open(&config).unwrap();
        for i in 0..40 {
            storage.create_topic(&format!("t{i}"), 1, &[]).unwrap();
        }
        assert!(storage.metadata_log_start_offset() > 0);
        let newest = storage.newest_snapshot().unwrap();
        drop(storage);
        let path = dir.join("__cluster_metadata-0").join(newest.file_name());
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 30] ^= 1;
        fs::write(&path, bytes).unwrap();
        let error = Storage::open(&config)
            .err()
            .expect("a partial image is refused");
        assert!(error.to_string().contains("no valid snapshot"), "{error}");
    }
}
