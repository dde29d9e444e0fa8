//! The partition side of transactions, in Kafka's on-disk formats:
//! - transaction markers: a control batch (attributes control | transactional) of one record
//!   whose key is version 0 and the type (0 ABORT, 1 COMMIT) and whose value is version 0
//!   and the coordinator epoch, written by [`Storage::write_txn_marker`];
//! - each partition's ongoing transactions (producer id by first offset) and its last
//!   stable offset: the first offset of the oldest ongoing transaction, else the high
//!   watermark;
//! - aborted transactions per segment, in Kafka's `<base>.txnindex` files (entries of 34
//!   bytes: version i16 0, producer id, first offset, last offset (the ABORT marker's) and
//!   the last stable offset once it was written), removed with their segment;
//! - producer-state snapshots, Kafka's `<offset>.snapshot` (ProducerSnapshot v1: version,
//!   CRC-32C of the rest, one entry per producer with its last batch, coordinator epoch and
//!   current transaction's first offset), written when a segment rolls and at a controlled
//!   shutdown. On start a partition loads its newest valid snapshot and replays the batches
//!   after it (every batch if there is none), rebuilding the producers, the ongoing
//!   transactions and the aborted-transaction entries of the replayed range.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use log::{debug, warn};

use super::batch::{self, HEADER_BYTES, LOG_OVERHEAD};
use super::crc32c::crc32c;
use super::log::PartitionLog;
use super::producers::{self, CompletedTxn, Marker, ProducerState, Producers};
use crate::protocol::codec::{Reader, Writer};

/// Control record types (Kafka's ControlRecordType).
const CONTROL_ABORT: i16 = 0;
const CONTROL_COMMIT: i16 = 1;
/// A txnindex entry's size (Kafka's AbortedTxn.TOTAL_SIZE).
const ABORTED_TXN_BYTES: usize = 34;
const SNAPSHOT_VERSION: i16 = 1;
/// Bytes before a snapshot's entries: version (2) and CRC (4).
const SNAPSHOT_ENTRIES_START: usize = 6;
/// One snapshot entry: id 8, epoch 2, last sequence 4, last offset 8, offset delta 4,
/// timestamp 8, coordinator epoch 4, current txn first offset 8.
const SNAPSHOT_ENTRY_BYTES: usize = 46;

/// An aborted transaction as a `.txnindex` file and a Fetch response's
/// `aborted_transactions` know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The ABORT marker's offset.
    pub last_offset: i64,
    /// The partition's last stable offset once the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .i16(0)
            .i64(self.producer_id)
            .i64(self.first_offset)
            .i64(self.last_offset)
            .i64(self.last_stable_offset);
    }

    fn decode(bytes: &[u8]) -> Option<AbortedTxn> {
        let mut r = Reader::new(bytes);
        let version = r.i16().ok()?;
        if version != 0 {
            return None;
        }
        Some(AbortedTxn {
            producer_id: r.i64().ok()?,
            first_offset: r.i64().ok()?,
            last_offset: r.i64().ok()?,
            last_stable_offset: r.i64().ok()?,
        })
    }
}

/// A partition's transactions: the ongoing ones and, per segment, the aborted ones.
#[derive(Debug, Default)]
pub struct TxnState {
    /// Ongoing transactions: producer id by first offset.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions by the base offset of the segment holding their marker, in
    /// marker order (as in that segment's `.txnindex`).
    aborted: BTreeMap<i64, Vec<AbortedTxn>>,
    /// Completed transactions whose marker may not be durable yet: the marker's offset by
    /// the first offset. Until the high watermark passes its marker a transaction still
    /// holds the last stable offset (Kafka's unreplicated transactions).
    undecided: BTreeMap<i64, i64>,
}

impl TxnState {
    /// The last stable offset: the first offset of the oldest ongoing transaction, else
    /// the high watermark (never below the log start).
    pub fn last_stable_offset(&self, log: &PartitionLog, high_watermark: i64) -> i64 {
        let undecided = self
            .undecided
            .iter()
            .find(|&(_, &marker)| marker >= high_watermark)
            .map(|(&first, _)| first);
        let ongoing = self.ongoing.keys().next().copied();
        match ongoing.into_iter().chain(undecided).min() {
            Some(first) => first.clamp(log.log_start_offset(), high_watermark),
            None => high_watermark,
        }
    }

    /// The log is durable below `high_watermark`: completed transactions whose marker lies
    /// below it no longer hold the last stable offset.
    pub(super) fn durable_to(&mut self, high_watermark: i64) {
        self.undecided
            .retain(|_, &mut marker| marker >= high_watermark);
    }

    /// Ongoing transactions' first offsets and producer ids, oldest first.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(&first, &pid)| (first, pid))
    }

    /// Every aborted transaction recorded, by segment, oldest first.
    pub fn aborted(&self) -> impl Iterator<Item = &AbortedTxn> {
        self.aborted.values().flatten()
    }

    pub(super) fn begin(&mut self, producer_id: i64, first_offset: i64) {
        self.ongoing.insert(first_offset, producer_id);
    }

    /// A transaction's marker was appended to segment `segment_base`: it is no longer
    /// ongoing; an aborted one is recorded in that segment's `.txnindex` with the last
    /// stable offset after it (Kafka's `lastStableOffset(completedTxn)`: the first offset
    /// of another producer's ongoing transaction, else the marker's offset + 1).
    pub(super) fn complete(
        &mut self,
        dir: &Path,
        segment_base: i64,
        txn: &CompletedTxn,
    ) -> io::Result<()> {
        self.ongoing.remove(&txn.first_offset);
        self.undecided.insert(txn.first_offset, txn.last_offset);
        if !txn.aborted {
            return Ok(());
        }
        let entry = self.aborted_entry(txn);
        self.aborted.entry(segment_base).or_default().push(entry);
        let mut bytes = Vec::with_capacity(ABORTED_TXN_BYTES);
        entry.encode(&mut bytes);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(txn_index_path(dir, segment_base))?;
        file.write_all(&bytes)?;
        file.sync_data()
    }

    fn aborted_entry(&self, txn: &CompletedTxn) -> AbortedTxn {
        let last_stable_offset = self
            .ongoing
            .iter()
            .find(|&(_, &pid)| pid != txn.producer_id)
            .map_or(txn.last_offset + 1, |(&first, _)| first);
        AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset,
        }
    }

    /// The aborted transactions a fetch from `fetch_offset` (in segment `segment_base`)
    /// whose data ends before `upper_bound` must report, as Kafka's
    /// `collectAbortedTransactions`: from that segment on, every entry whose marker is at or
    /// after the fetch offset and whose first offset is below the bound, until an entry's
    /// last stable offset reaches the bound.
    pub fn collect_aborted(
        &self,
        segment_base: i64,
        fetch_offset: i64,
        upper_bound: i64,
    ) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        for entry in self.aborted.range(segment_base..).flat_map(|(_, e)| e) {
            if entry.last_offset >= fetch_offset && entry.first_offset < upper_bound {
                out.push(*entry);
            }
            if entry.last_stable_offset >= upper_bound {
                break;
            }
        }
        out
    }

    /// The cleaner swapped in a cleaned copy of segment `segment_base`: its aborted
    /// transactions are now `entries` (those whose ABORT marker it kept with data), and its
    /// `.txnindex` is rewritten (removed when there are none).
    pub(super) fn replace_segment(
        &mut self,
        dir: &Path,
        segment_base: i64,
        entries: Vec<AbortedTxn>,
    ) -> io::Result<()> {
        write_txn_index(&txn_index_path(dir, segment_base), &entries)?;
        if entries.is_empty() {
            self.aborted.remove(&segment_base);
        } else {
            self.aborted.insert(segment_base, entries);
        }
        Ok(())
    }

    /// Forgets (and deletes the files of) the aborted transactions of segments the log no
    /// longer has (retention, DeleteRecords, the cleaner), and snapshots below its first
    /// segment.
    pub(super) fn segments_changed(&mut self, log: &PartitionLog) {
        let bases: Vec<i64> = log
            .segment_summaries()
            .iter()
            .map(|s| s.base_offset)
            .collect();
        let gone: Vec<i64> = self
            .aborted
            .keys()
            .copied()
            .filter(|b| bases.binary_search(b).is_err())
            .collect();
        for base in gone {
            self.aborted.remove(&base);
            remove_logged(&txn_index_path(log.dir(), base));
        }
        let first = bases.first().copied().unwrap_or(0);
        for (offset, path) in snapshot_files(log.dir()) {
            if offset < first {
                remove_logged(&path);
            }
        }
    }
}

fn remove_logged(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => debug!("removed {}", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!("removing {}: {e}", path.display()),
    }
}

/// Kafka's suffix of a segment's aborted-transaction index.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";

pub fn txn_index_path(dir: &Path, segment_base: i64) -> PathBuf {
    super::index::segment_file(dir, segment_base, TXN_INDEX_SUFFIX)
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// The snapshot files in `dir`, by offset.
fn snapshot_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".snapshot")) else {
            continue;
        };
        if stem.len() == 20
            && let Ok(offset) = stem.parse::<i64>()
        {
            out.push((offset, entry.path()));
        }
    }
    out.sort();
    out
}

/// A transaction marker's control batch, as Kafka's `MemoryRecords.withEndTransactionMarker`
/// builds it: one record at offset delta 0 with `timestamp_ms`, no sequence, CRC sealed.
pub fn build_marker(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    commit: bool,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + 24);
    let mut w = Writer::new(&mut out);
    w.i64(0)
        .i32(0)
        .i32(0)
        .i8(2)
        .u32(0)
        .i16(batch::ATTR_TRANSACTIONAL | batch::ATTR_CONTROL)
        .i32(0)
        .i64(timestamp_ms)
        .i64(timestamp_ms)
        .i64(producer_id)
        .i16(producer_epoch)
        .i32(-1)
        .i32(1);
    let mut key = Vec::with_capacity(4);
    Writer::new(&mut key).i16(0).i16(if commit {
        CONTROL_COMMIT
    } else {
        CONTROL_ABORT
    });
    let mut value = Vec::with_capacity(6);
    Writer::new(&mut value).i16(0).i32(coordinator_epoch);
    let mut record = Vec::with_capacity(20);
    Writer::new(&mut record)
        .i8(0)
        .varlong(0)
        .varint(0)
        .varint(key.len() as i32)
        .raw(&key)
        .varint(value.len() as i32)
        .raw(&value)
        .varint(0);
    let len = record.len() as i32;
    Writer::new(&mut out).varint(len).raw(&record);
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// The marker a control batch holds: `None` if it is not a transaction marker (another
/// control type, no record, or unreadable).
pub fn read_marker(bytes: &[u8]) -> Option<Marker> {
    let records = batch::records(bytes).ok()?;
    let record = records.first()?;
    let mut key = Reader::new(record.key?);
    let _version = key.i16().ok()?;
    let commit = match key.i16().ok()? {
        CONTROL_ABORT => false,
        CONTROL_COMMIT => true,
        _ => return None,
    };
    let mut value = Reader::new(record.value?);
    let _version = value.i16().ok()?;
    Some(Marker {
        commit,
        coordinator_epoch: value.i32().ok()?,
    })
}

/// Snapshots kept per partition: recovery needs the newest valid one; Kafka keeps those of
/// the last two segments (and the recovery point's).
const SNAPSHOTS_KEPT: usize = 3;

/// Writes the producers' state as it stands at `offset` (every batch below it applied) to
/// `<offset>.snapshot`, synced; only the newest [`SNAPSHOTS_KEPT`] are kept (and none below
/// the first segment).
pub fn write_snapshot(dir: &Path, offset: i64, producers: &Producers) -> io::Result<()> {
    let mut ids: Vec<&i64> = producers.keys().collect();
    ids.sort();
    let mut out = Vec::with_capacity(SNAPSHOT_ENTRIES_START + 4 + ids.len() * 46);
    let mut w = Writer::new(&mut out);
    w.i16(SNAPSHOT_VERSION).u32(0).i32(ids.len() as i32);
    for id in ids {
        let p = &producers[id];
        let (last_offset, delta) = p.last_batch().unwrap_or((-1, 0));
        w.i64(*id)
            .i16(p.epoch())
            .i32(p.last_sequence())
            .i64(last_offset)
            .i32(delta)
            .i64(p.last_timestamp())
            .i32(p.coordinator_epoch())
            .i64(p.current_txn_first_offset().unwrap_or(-1));
    }
    let crc = crc32c(&out[SNAPSHOT_ENTRIES_START..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    let path = snapshot_path(dir, offset);
    let mut file = File::create(&path)?;
    file.write_all(&out)?;
    file.sync_data()?;
    debug!("{}: producer snapshot written", path.display());
    let snapshots = snapshot_files(dir);
    let old = snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
    for (_, path) in &snapshots[..old] {
        remove_logged(path);
    }
    Ok(())
}

/// Reads a snapshot; `None` if it is not a whole, CRC-valid ProducerSnapshot v1.
fn read_snapshot(path: &Path) -> Option<Producers> {
    let bytes = fs::read(path).ok()?;
    let mut r = Reader::new(&bytes);
    if r.i16().ok()? != SNAPSHOT_VERSION {
        return None;
    }
    let crc = r.u32().ok()?;
    if crc32c(bytes.get(SNAPSHOT_ENTRIES_START..)?) != crc {
        return None;
    }
    let count = usize::try_from(r.i32().ok()?).ok()?;
    if count.checked_mul(SNAPSHOT_ENTRY_BYTES)? != r.remaining() {
        return None;
    }
    let mut producers = Producers::with_capacity(count);
    for _ in 0..count {
        let id = r.i64().ok()?;
        let epoch = r.i16().ok()?;
        let last_sequence = r.i32().ok()?;
        let last_offset = r.i64().ok()?;
        let delta = r.i32().ok()?;
        let timestamp = r.i64().ok()?;
        let coordinator_epoch = r.i32().ok()?;
        let txn_first = r.i64().ok()?;
        producers.insert(
            id,
            ProducerState::restored(
                epoch,
                last_sequence,
                last_offset,
                delta,
                timestamp,
                coordinator_epoch,
                (txn_first >= 0).then_some(txn_first),
            ),
        );
    }
    Some(producers)
}

fn read_txn_index(path: &Path) -> io::Result<Vec<AbortedTxn>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // A torn last entry (a crash mid-write) is dropped; recovery rewrites the file.
    Ok(bytes
        .chunks_exact(ABORTED_TXN_BYTES)
        .filter_map(AbortedTxn::decode)
        .collect())
}

fn write_txn_index(path: &Path, entries: &[AbortedTxn]) -> io::Result<()> {
    if entries.is_empty() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut bytes = Vec::with_capacity(entries.len() * ABORTED_TXN_BYTES);
    for entry in entries {
        entry.encode(&mut bytes);
    }
    let mut file = File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_data()
}

/// Rebuilds a partition's producers and transactions on start: the newest valid snapshot
/// at or below the log end (and not below its first segment) is loaded, newer or invalid
/// ones are removed, and every batch from the snapshot's offset (from the log start if
/// there is none) is replayed. `.txnindex` entries of the replayed range are recomputed
/// and the files rewritten; those of segments the log does not have are removed.
pub fn recover(log: &PartitionLog) -> io::Result<(Producers, TxnState)> {
    let dir = log.dir();
    let bases: Vec<i64> = log
        .segment_summaries()
        .iter()
        .map(|s| s.base_offset)
        .collect();
    let first_base = bases.first().copied().unwrap_or(0);
    let end = log.next_offset();
    let mut loaded = None;
    for (offset, path) in snapshot_files(dir).into_iter().rev() {
        if loaded.is_none() && offset <= end && offset >= first_base {
            if let Some(producers) = read_snapshot(&path) {
                loaded = Some((offset, producers));
                continue;
            }
            warn!(
                "{}: not a valid producer snapshot; removing it",
                path.display()
            );
        }
        if loaded.is_none() || offset > end {
            remove_logged(&path);
        }
    }
    let (from, mut producers) = loaded.unwrap_or((log.log_start_offset(), Producers::new()));
    let mut state = TxnState::default();
    for (&pid, p) in &producers {
        if let Some(first) = p.current_txn_first_offset() {
            state.ongoing.insert(first, pid);
        }
    }
    // Entries of segments that exist, except those the replay recomputes.
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".txnindex")) else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if bases.binary_search(&base).is_err() {
            warn!("{}: no segment; removing it", entry.path().display());
            remove_logged(&entry.path());
            continue;
        }
        let kept: Vec<AbortedTxn> = read_txn_index(&entry.path())?
            .into_iter()
            .filter(|e| e.last_offset < from)
            .collect();
        if !kept.is_empty() {
            state.aborted.insert(base, kept);
        }
    }
    let mut changed: Vec<i64> = state.aborted.keys().copied().collect();
    let mut batch_bytes = Vec::new();
    let mut failure = None;
    log.for_each_batch_from(from, |segment_base, position, header| {
        if header.is_control() {
            match log.read_batch_at(segment_base, position, &mut batch_bytes) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
            let Some(marker) = read_marker(&batch_bytes) else {
                return true;
            };
            if let Some(done) = producers::record_marker(&mut producers, header, marker) {
                state.ongoing.remove(&done.first_offset);
                if done.aborted {
                    let entry = state.aborted_entry(&done);
                    state.aborted.entry(segment_base).or_default().push(entry);
                    changed.push(segment_base);
                }
            }
        } else if let Some((pid, first)) = producers::record(&mut producers, header) {
            state.begin(pid, first);
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    // Rewrite every txnindex file the replay may have changed (or cut).
    changed.sort_unstable();
    changed.dedup();
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        if let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".txnindex"))
            .and_then(|s| s.parse::<i64>().ok())
            && bases.binary_search(&base).is_ok()
        {
            changed.push(base);
        }
    }
    changed.sort_unstable();
    changed.dedup();
    for base in changed {
        let entries = state.aborted.get(&base).map_or(&[][..], Vec::as_slice);
        let path = txn_index_path(dir, base);
        let on_disk = read_txn_index(&path)?;
        if on_disk != entries
            || fs::metadata(&path)
                .is_ok_and(|m| !(m.len() as usize).is_multiple_of(ABORTED_TXN_BYTES))
        {
            write_txn_index(&path, entries)?;
        }
    }
    if !state.ongoing.is_empty() || state.aborted.values().any(|e| !e.is_empty()) {
        debug!(
            "{}: {} ongoing transactions, {} aborted recorded",
            dir.display(),
            state.ongoing.len(),
            state.aborted().count()
        );
    }
    Ok((producers, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_kafkas_control_batch() {
        let bytes = build_marker(7, 3, 5, true, 1_000);
        let header = batch::validate(&bytes).unwrap();
        assert_eq!(header.attributes, 0x30);
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 3, -1)
        );
        assert_eq!((header.records_count, header.last_offset_delta), (1, 0));
        let records = batch::records(&bytes).unwrap();
        assert_eq!(records[0].key, Some(&[0, 0, 0, 1][..]));
        assert_eq!(records[0].value, Some(&[0, 0, 0, 0, 0, 5][..]));
        assert_eq!(
            read_marker(&bytes),
            Some(Marker {
                commit: true,
                coordinator_epoch: 5
            })
        );
        let abort = build_marker(7, 3, 5, false, 1_000);
        assert_eq!(
            batch::records(&abort).unwrap()[0].key,
            Some(&[0, 0, 0, 0][..])
        );
        assert!(!read_marker(&abort).unwrap().commit);
        // Kafka's bytes: 61-byte header, then the record (length 16).
        assert_eq!(bytes.len(), 61 + 1 + 16);
        assert_eq!(
            &bytes[61..],
            &[32, 0, 0, 0, 8, 0, 0, 0, 1, 12, 0, 0, 0, 0, 0, 5, 0][..]
        );
    }

    #[test]
    fn aborted_txn_entries_are_34_bytes() {
        let entry = AbortedTxn {
            producer_id: 1,
            first_offset: 2,
            last_offset: 3,
            last_stable_offset: 4,
        };
        let mut bytes = Vec::new();
        entry.encode(&mut bytes);
        assert_eq!(bytes.len(), ABORTED_TXN_BYTES);
        assert_eq!(&bytes[..10], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(AbortedTxn::decode(&bytes), Some(entry));
    }

    use crate::config::Config;
    use crate::protocol::error;
    use crate::storage::log::PartitionLog;
    use crate::storage::{AppendError, Storage, test_dir};

    /// A batch of `values` from producer `pid` (epoch 0) at sequence `seq`, transactional
    /// or not, its CRC sealed.
    fn produced(pid: i64, seq: i32, transactional: bool, values: &[&[u8]]) -> Vec<u8> {
        let values: Vec<Vec<u8>> = values.iter().map(|v| v.to_vec()).collect();
        let mut bytes = batch::build(0, 0, crate::storage::now_ms(), &values);
        if transactional {
            bytes[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
        }
        bytes[43..51].copy_from_slice(&pid.to_be_bytes());
        bytes[51..53].copy_from_slice(&0i16.to_be_bytes());
        bytes[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// The last stable offset once the appends so far are durable (it never exceeds the
    /// high watermark).
    fn lso(storage: &mut Storage) -> i64 {
        storage.flush(std::time::Instant::now()).unwrap();
        storage.topic("t").unwrap().partitions[0].last_stable_offset()
    }

    #[test]
    fn the_lso_never_passes_the_high_watermark() {
        let dir = test_dir("txn-lso-durable");
        let config = Config {
            log_dir: dir,
            ..Config::default()
        };
        let mut storage = Storage::open(&config).unwrap();
        storage.create_topic("t", 1, &[]).unwrap();
        let ends = |s: &Storage| {
            let p = &s.topic("t").unwrap().partitions[0];
            (p.high_watermark(), p.last_stable_offset())
        };
        storage
            .append("t", 0, &produced(-1, -1, false, &[b"plain"]))
            .unwrap(); // 0
        storage.flush(std::time::Instant::now()).unwrap();
        assert_eq!(ends(&storage), (1, 1));
        // Plain records whose sync is pending are not stable yet.
        storage
            .append("t", 0, &produced(-1, -1, false, &[b"more"]))
            .unwrap(); // 1
        assert_eq!(ends(&storage), (1, 1));
        // Nor is a transaction's first batch, nor its marker.
        storage
            .append("t", 0, &produced(5, 0, true, &[b"a"]))
            .unwrap(); // 2
        storage.flush(std::time::Instant::now()).unwrap();
        assert_eq!(ends(&storage), (3, 2));
        assert_eq!(storage.write_txn_marker("t", 0, 5, 0, 0, true).unwrap(), 3);
        assert_eq!(ends(&storage), (3, 2));
        storage.flush(std::time::Instant::now()).unwrap();
        assert_eq!(ends(&storage), (4, 4));
    }

    #[test]
    fn transactions_move_the_lso_and_aborts_are_indexed_across_restarts() {
        let dir = test_dir("txn-storage");
        let config = Config {
            log_dir: dir.clone(),
            ..Config::default()
        };
        {
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            storage
                .append("t", 0, &produced(-1, -1, false, &[b"plain"]))
                .unwrap(); // 0
            storage
                .append("t", 0, &produced(5, 0, true, &[b"a", b"b"]))
                .unwrap(); // 1-2
            assert_eq!(lso(&mut storage), 1);
            storage
                .append("t", 0, &produced(6, 0, true, &[b"c"]))
                .unwrap(); // 3
            // A plain batch from a producer inside a transaction.
            assert!(matches!(
                storage.append("t", 0, &produced(5, 2, false, &[b"x"])),
                Err(AppendError::Sequence(error::INVALID_TXN_STATE))
            ));
            let marker = |s: &mut Storage, pid, epoch, coordinator_epoch, commit| match s
                .write_txn_marker("t", 0, pid, epoch, coordinator_epoch, commit)
            {
                Ok(offset) => Ok(offset),
                Err(AppendError::Sequence(code)) => Err(code),
                Err(e) => panic!("{e:?}"),
            };
            // Producer 5 aborts: offset 4; producer 6 still holds the LSO at 3.
            assert_eq!(marker(&mut storage, 5, 0, 3, false), Ok(4));
            assert_eq!(lso(&mut storage), 3);
            // A zombie coordinator, a stale epoch.
            assert_eq!(
                marker(&mut storage, 5, 0, 2, true),
                Err(error::TRANSACTION_COORDINATOR_FENCED)
            );
            storage
                .append("t", 0, &produced(7, 0, true, &[b"d"]))
                .unwrap(); // 5
            let entry = AbortedTxn {
                producer_id: 5,
                first_offset: 1,
                last_offset: 4,
                last_stable_offset: 3,
            };
            let part = &storage.topic("t").unwrap().partitions[0];
            assert_eq!(part.txns.aborted().copied().collect::<Vec<_>>(), [entry]);
            let index = fs::read(dir.join("t-0/00000000000000000000.txnindex")).unwrap();
            assert_eq!(index.len(), ABORTED_TXN_BYTES);
            storage.flush(std::time::Instant::now()).unwrap();
        }
        // A crash (no snapshot): the whole log is replayed.
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(lso(&mut storage), 3);
        let part = &storage.topic("t").unwrap().partitions[0];
        assert_eq!(part.txns.ongoing().collect::<Vec<_>>(), [(3, 6), (5, 7)]);
        assert_eq!(part.producers[&5].current_txn_first_offset(), None);
        assert_eq!(part.producers[&6].current_txn_first_offset(), Some(3));
        assert_eq!(part.txns.aborted().count(), 1);
        let stale = storage.write_txn_marker("t", 0, 6, -1, 3, true);
        assert!(matches!(
            stale,
            Err(AppendError::Sequence(error::INVALID_PRODUCER_EPOCH))
        ));
        assert_eq!(
            storage.write_txn_marker("t", 0, 6, 0, 3, true).ok(),
            Some(6)
        );
        assert_eq!(lso(&mut storage), 5);
        assert_eq!(
            storage.write_txn_marker("t", 0, 7, 0, 3, false).ok(),
            Some(7)
        );
        assert_eq!(lso(&mut storage), 8);
        storage.shutdown(std::time::Instant::now()).unwrap();
        assert!(dir.join("t-0/00000000000000000008.snapshot").exists());
        drop(storage);
        // A clean restart loads the snapshot.
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(lso(&mut storage), 8);
        let part = &storage.topic("t").unwrap().partitions[0];
        let aborted: Vec<(i64, i64, i64, i64)> = part
            .txns
            .aborted()
            .map(|a| {
                (
                    a.producer_id,
                    a.first_offset,
                    a.last_offset,
                    a.last_stable_offset,
                )
            })
            .collect();
        assert_eq!(aborted, [(5, 1, 4, 3), (7, 5, 7, 8)]);
        assert_eq!(part.producers[&6].coordinator_epoch(), 3);
        assert_eq!(part.txns.collect_aborted(0, 0, 8).len(), 2);
        assert_eq!(part.txns.collect_aborted(0, 5, 8).len(), 1);
        // The search stops at the first entry whose LSO reaches the bound.
        assert_eq!(part.txns.collect_aborted(0, 0, 3).len(), 1);
    }

    #[test]
    fn a_transaction_begun_before_a_roll_survives_a_crash() {
        let dir = test_dir("txn-snapshot");
        let config = Config {
            log_dir: dir.clone(),
            log_segment_bytes: 200,
            ..Config::default()
        };
        {
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            storage
                .append("t", 0, &produced(5, 0, true, &[b"a"]))
                .unwrap(); // 0
            for i in 0..6 {
                let big = vec![b'p'; 100 + i];
                storage
                    .append("t", 0, &produced(-1, -1, false, &[&big]))
                    .unwrap();
            }
            storage.flush(std::time::Instant::now()).unwrap();
        }
        let snapshots = snapshot_files(&dir.join("t-0"));
        assert!(snapshots.len() >= 2, "{snapshots:?}");
        // The newest snapshot (a roll after offset 0) holds the transaction's first offset.
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(lso(&mut storage), 0);
        let part = &storage.topic("t").unwrap().partitions[0];
        assert_eq!(part.producers[&5].current_txn_first_offset(), Some(0));
        assert_eq!(
            read_snapshot(&snapshots.last().unwrap().1).unwrap()[&5].current_txn_first_offset(),
            Some(0)
        );
    }

    #[test]
    fn reads_below_a_bound_stop_at_its_batch_in_any_segment() {
        let dir = test_dir("txn-read-below");
        let mut log = PartitionLog::open(&dir, 250).unwrap();
        for i in 0..6u8 {
            // Batches of ~160 bytes: one per segment; batch 5 holds offsets 5-6.
            let values: Vec<Vec<u8>> = (0..=u8::from(i == 5)).map(|_| vec![i; 90]).collect();
            log.append(&mut batch::build(0, 0, 1, &values), 0).unwrap();
        }
        assert_eq!(log.segment_summaries().len(), 6);
        let whole = log.read(2, 1 << 20).unwrap().unwrap();
        // The bound in a later segment than the read: the read is whole.
        let below = log.read_below(2, 1 << 20, 4).unwrap().unwrap();
        assert_eq!((below.position, below.len), (whole.position, whole.len));
        // The bound at the read's own batch: nothing; at or past the log end: the read.
        assert!(log.read_below(3, 1 << 20, 3).unwrap().is_none());
        assert!(log.read_below(4, 1 << 20, 2).unwrap().is_none());
        let tail = log.read(5, 1 << 20).unwrap().unwrap().len;
        assert_eq!(log.read_below(5, 1 << 20, 7).unwrap().unwrap().len, tail);
        // The upper bound of a read within a segment of one batch: the next segment's base.
        assert_eq!(log.fetch_upper_bound(2, &below), (2, 3));
        let last = log.read(6, 1 << 20).unwrap().unwrap();
        assert_eq!(log.fetch_upper_bound(6, &last), (5, 7));
        // A read at a segment's end continues in the next one.
        let mut in_one = PartitionLog::open(&test_dir("txn-read-below-one"), 1 << 20).unwrap();
        for _ in 0..3 {
            in_one
                .append(&mut batch::build(0, 0, 1, &[vec![1; 10]]), 0)
                .unwrap();
        }
        let first = in_one.read(0, 1).unwrap().unwrap();
        let cut = in_one.read_below(0, 1 << 20, 2).unwrap().unwrap();
        assert_eq!((cut.position, cut.len), (0, 2 * first.len));
    }
}
