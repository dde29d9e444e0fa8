//! The log cleaner: compaction of topics whose `cleanup.policy` holds `compact`, by Kafka's
//! rules (`LogCleaner`, `LogCleanerManager`, `Cleaner`), run on the event loop's thread in
//! bounded slices.
//!
//! - A partition is cleanable from its log start up to its first uncleanable offset: the
//!   active segment's base, or earlier the first segment whose newest record is younger than
//!   `min.compaction.lag.ms`. It is chosen when its dirty part (from the cleaner checkpoint
//!   on) is at least `min.cleanable.dirty.ratio` of the cleanable bytes, or its first dirty
//!   batch is older than `max.compaction.lag.ms`, or a tombstone's delete horizon passed; the
//!   dirtiest goes first, and with nothing to do the cleaner looks again after
//!   `log.cleaner.backoff.ms`.
//! - A pass builds a map (key -> last offset) over the dirty part (whole segments while the
//!   map fits `log.cleaner.dedupe.buffer.size`), then copies every cleanable segment keeping
//!   a record only if no later record has its key; keyless records go (Kafka drops them as
//!   invalid). A tombstone (null value) first gets a delete horizon, `delete.retention.ms`
//!   after the pass that first keeps it (KIP-534: the batch's delete-horizon attribute,
//!   0x40, with the horizon as its base timestamp), and goes in a pass after the horizon.
//! - Offsets are kept (gaps are normal): each rewritten batch keeps its base offset, last
//!   offset delta, producer id, epoch and base sequence, its records their offset deltas and
//!   timestamps, and its CRC is computed afresh. An idempotent producer's last batch is kept
//!   even with no record left (as an empty batch, as Kafka keeps it), so deduplication
//!   survives cleaning and a restart. A compressed batch's records are decompressed (within the
//!   bound Produce validated it against) and a rewritten one is compressed again with its
//!   own codec, as Kafka's cleaner does; control batches are kept verbatim.
//! - Crash safety as Kafka's: a segment's cleaned copy is written beside it as
//!   `<base>.log.cleaned`, synced, renamed `.swap`, then over the original
//!   (`PartitionLog::install_cleaned`); opening a log removes a `.cleaned` and completes a
//!   `.swap`. The checkpoint of how far each partition is clean is Kafka's
//!   `cleaner-offset-checkpoint` (same format as the log start checkpoint), written after a
//!   pass; losing it only makes the next pass redo work.
//! - It never stalls the loop: [`Storage::clean_slice`] reads at most
//!   [`CLEANER_BYTES_PER_TURN`] bytes of log per call (or `log.cleaner.io.buffer.size` if
//!   smaller; a batch is never split, so one call reads at least one batch) (from the broker's timer, which asks to
//!   be called at once while a pass is under way), keeping the pass's place between calls.
//!   Segments deleted under it (retention, DeleteRecords, a deleted topic) end the pass.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use ::log::{debug, info, warn};

use super::Storage;
use super::batch::{ATTR_TIMESTAMP_LOG_APPEND, BatchHeader, HEADER_BYTES, LOG_OVERHEAD};
use super::crc32c::crc32c;
use super::log::{SegmentSummary, cleaned_file_name};
use super::metadata::Uuid;
use super::records;
use super::txn::{self, AbortedTxn};
use crate::protocol::codec::{Reader, Writer};

/// Bytes of log the cleaner reads per call, between the loop's turns, unless
/// `log.cleaner.io.buffer.size` (Kafka's cleaner I/O buffer, 512 KiB by default) says less.
pub const CLEANER_BYTES_PER_TURN: u64 = 512 * 1024;
/// Kafka's name for the file of each partition's first dirty offset.
pub const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Kafka's batch attribute: the base timestamp is the delete horizon (KIP-534).
pub const ATTR_DELETE_HORIZON: i16 = 0x40;
/// What Kafka counts per offset map entry (a 16-byte key hash and an 8-byte offset); we
/// also count the key's own bytes.
const MAP_ENTRY_BYTES: usize = 24;

/// A partition's compaction settings, resolved from its topic's configs and the broker's.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    delete_retention_ms: i64,
    min_lag_ms: i64,
    max_lag_ms: i64,
    min_dirty_ratio: f64,
    /// The topic's `max.message.bytes`: with a batch's own size, it bounds what the
    /// batch's records decompress to (as Produce's validation bounded it).
    message_bytes_max: usize,
}

#[derive(Debug)]
enum Phase {
    /// Building the offset map: the segment and position read next.
    Map { segment: i64, position: u64 },
    /// Copying segment `segment` into its `.cleaned` file; `changed` once a batch was
    /// dropped or rewritten (an unchanged copy is discarded, not swapped in).
    Copy {
        segment: i64,
        position: u64,
        out: File,
        path: PathBuf,
        changed: bool,
    },
}

#[derive(Debug)]
struct Pass {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    settings: Settings,
    /// The pass's clock: what tombstone horizons are set from and compared with.
    now_ms: i64,
    /// The cleanable range ends here (a segment's base offset; exclusive).
    end: i64,
    /// Segments of the cleanable range, by base offset, oldest first.
    segments: Vec<SegmentSummary>,
    map: HashMap<Vec<u8>, i64>,
    map_bytes: usize,
    /// Base offsets of the active idempotent producers' last batches.
    producer_last_batches: HashSet<i64>,
    /// Producers whose last entry is a marker, with their epoch: that marker is kept.
    producer_last_markers: HashMap<i64, i16>,
    /// The partition's aborted transactions that may touch the cleaned range.
    aborted: Vec<AbortedTxn>,
    /// Which transactional batches of the scan under way are aborted.
    txns: TxnFilter,
    /// The aborted transactions whose ABORT marker the copy of the current segment keeps
    /// with some of their data still there: the cleaned segment's `.txnindex`.
    kept_aborts: Vec<AbortedTxn>,
    /// The earliest delete horizon left in the cleaned range.
    earliest_horizon: Option<i64>,
    phase: Phase,
}

/// The cleaner's state between calls.
#[derive(Debug, Default)]
pub struct Cleaner {
    pass: Option<Pass>,
    /// Epoch milliseconds before which an idle cleaner does not look for work.
    idle_until_ms: i64,
    /// Each partition's first dirty offset (the cleaner checkpoint).
    first_dirty: BTreeMap<(String, i32), i64>,
    /// Each partition's earliest delete horizon of a kept tombstone.
    horizons: BTreeMap<(String, i32), i64>,
    buffer: Vec<u8>,
    /// A compressed batch's records, decompressed.
    scratch: Vec<u8>,
    /// Passes completed (for tests and the bench).
    pub passes: u64,
}

impl Cleaner {
    /// Whether a pass is under way (the broker then calls again at once).
    pub fn busy(&self) -> bool {
        self.pass.is_some()
    }

    /// When an idle cleaner next wants to look for work (epoch milliseconds).
    pub fn idle_until_ms(&self) -> i64 {
        self.idle_until_ms
    }
}

fn is_compacted(policy: &str) -> bool {
    crate::configs::list_items(policy).contains(&"compact")
}

impl Storage {
    fn cleaner_settings(&self, configs: &BTreeMap<String, String>) -> Settings {
        let long = |name: &str, default: i64| {
            self.topic_setting(configs, name)
                .trim()
                .parse()
                .unwrap_or(default)
        };
        Settings {
            delete_retention_ms: long("delete.retention.ms", 86_400_000),
            min_lag_ms: long("min.compaction.lag.ms", 0),
            max_lag_ms: long("max.compaction.lag.ms", i64::MAX),
            min_dirty_ratio: self
                .topic_setting(configs, "min.cleanable.dirty.ratio")
                .trim()
                .parse()
                .unwrap_or(0.5),
            message_bytes_max: usize::try_from(long("max.message.bytes", 1_048_588))
                .unwrap_or(1_048_588),
        }
    }

    fn broker_long(&self, name: &str, default: i64) -> i64 {
        self.broker_properties
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// Whether the cleaner has a pass under way, and when it next wants to run if not.
    pub fn cleaner(&self) -> &Cleaner {
        &self.cleaner
    }

    /// Reads `cleaner-offset-checkpoint` (at start).
    pub(super) fn load_cleaner_checkpoint(&mut self) {
        let path = self.root.join(CHECKPOINT_FILE);
        let Ok(text) = fs::read_to_string(&path) else {
            return;
        };
        match super::log_start::parse_checkpoint(&text) {
            Some(entries) => {
                for (topic, partition, offset) in entries {
                    self.cleaner.first_dirty.insert((topic, partition), offset);
                }
            }
            None => warn!("{}: not a version 0 checkpoint; ignored", path.display()),
        }
    }

    fn write_cleaner_checkpoint(&self) -> io::Result<()> {
        let entries: Vec<(String, i32, i64)> = self
            .cleaner
            .first_dirty
            .iter()
            .filter(|((topic, _), _)| self.topics.contains_key(topic))
            .map(|((topic, partition), &offset)| (topic.clone(), *partition, offset))
            .collect();
        super::log_start::write_checkpoint(&self.root, CHECKPOINT_FILE, &entries)
    }

    /// One slice of the cleaner's work: at most [`CLEANER_BYTES_PER_TURN`] bytes read. When
    /// idle and due, it chooses the dirtiest cleanable partition first.
    pub fn clean_slice(&mut self, now_ms: i64) {
        if self.cleaner.pass.is_none() {
            if now_ms < self.cleaner.idle_until_ms {
                return;
            }
            if self
                .broker_properties
                .get("log.cleaner.enable")
                .map(String::as_str)
                == Some("false")
            {
                self.cleaner.idle_until_ms =
                    now_ms + self.broker_long("log.cleaner.backoff.ms", 15_000);
                return;
            }
            match self.choose_pass(now_ms) {
                Ok(Some(pass)) => self.cleaner.pass = Some(pass),
                Ok(None) => {
                    self.cleaner.idle_until_ms =
                        now_ms + self.broker_long("log.cleaner.backoff.ms", 15_000).max(1);
                    return;
                }
                Err(e) => {
                    warn!("log cleaner: choosing a partition: {e}");
                    self.cleaner.idle_until_ms = now_ms + 1000;
                    return;
                }
            }
        }
        if let Err(e) = self.advance_pass()
            && let Some(pass) = self.cleaner.pass.take()
        {
            warn!(
                "log cleaner: {}-{}: pass abandoned: {e}",
                pass.topic, pass.partition
            );
            if let Phase::Copy { path, .. } = pass.phase {
                let _ = fs::remove_file(path);
            }
            self.cleaner.idle_until_ms =
                now_ms + self.broker_long("log.cleaner.backoff.ms", 15_000).max(1);
        }
    }

    /// The cleanable partition with the largest dirty ratio, as a new pass.
    fn choose_pass(&mut self, now_ms: i64) -> io::Result<Option<Pass>> {
        let mut best: Option<(f64, Pass)> = None;
        for topic in self.topics.values() {
            if !is_compacted(&self.topic_setting(&topic.configs, "cleanup.policy")) {
                continue;
            }
            let settings = self.cleaner_settings(&topic.configs);
            for (index, partition) in topic.partitions.iter().enumerate() {
                let key = (topic.name.clone(), index as i32);
                let log = &partition.log;
                let mut segments = log.segment_summaries();
                segments.pop(); // the active segment
                let start = log.log_start_offset();
                let first_dirty = self
                    .cleaner
                    .first_dirty
                    .get(&key)
                    .copied()
                    .unwrap_or(start)
                    .max(start);
                // The first uncleanable offset: min.compaction.lag.ms holds back young segments.
                let mut end = log.segment_summaries().last().map_or(0, |s| s.base_offset);
                if settings.min_lag_ms > 0
                    && let Some(young) = segments.iter().find(|s| {
                        s.next_offset > first_dirty
                            && s.max_timestamp > now_ms.saturating_sub(settings.min_lag_ms)
                    })
                {
                    end = end.min(young.base_offset);
                }
                // Nothing at or past the last stable offset is cleaned (Kafka's first unstable
                // offset bounds the cleanable range): only whole segments below it.
                let lso = partition.last_stable_offset();
                if let Some(holding) = segments.iter().rev().find(|s| s.base_offset <= lso)
                    && holding.next_offset > lso
                {
                    end = end.min(holding.base_offset);
                }
                segments.retain(|s| s.base_offset < end && s.size > 0);
                let dirty: u64 = segments
                    .iter()
                    .filter(|s| s.base_offset >= first_dirty)
                    .map(|s| s.size)
                    .sum();
                let total: u64 = segments.iter().map(|s| s.size).sum();
                if total == 0 {
                    continue;
                }
                let ratio = dirty as f64 / total as f64;
                let horizon_passed = self
                    .cleaner
                    .horizons
                    .get(&key)
                    .is_some_and(|&h| h <= now_ms);
                let overdue = dirty > 0
                    && settings.max_lag_ms < i64::MAX
                    && match segments.iter().find(|s| s.base_offset >= first_dirty) {
                        Some(s) => log
                            .first_batch_timestamp(s.base_offset)?
                            .is_some_and(|ts| ts < now_ms.saturating_sub(settings.max_lag_ms)),
                        None => false,
                    };
                let eligible =
                    (dirty > 0 && ratio >= settings.min_dirty_ratio) || overdue || horizon_passed;
                if !eligible || best.as_ref().is_some_and(|(r, _)| *r >= ratio) {
                    continue;
                }
                let producer_last_batches = partition
                    .producers
                    .values()
                    .filter_map(|p| p.last_batch_offset())
                    .collect();
                let producer_last_markers = partition
                    .producers
                    .iter()
                    .filter(|(_, p)| p.last_batch_offset().is_none())
                    .map(|(&id, p)| (id, p.epoch()))
                    .collect();
                let aborted: Vec<AbortedTxn> = partition
                    .txns
                    .aborted()
                    .filter(|a| a.first_offset < end)
                    .copied()
                    .collect();
                // No dirty segment (a pass for expired tombstones): an empty map.
                let first_segment = segments
                    .iter()
                    .find(|s| s.base_offset >= first_dirty)
                    .map_or(i64::MAX, |s| s.base_offset);
                let txns = TxnFilter::new(&aborted, first_segment);
                best = Some((
                    ratio,
                    Pass {
                        topic: topic.name.clone(),
                        topic_id: topic.id,
                        partition: index as i32,
                        settings,
                        now_ms,
                        end,
                        segments,
                        map: HashMap::new(),
                        map_bytes: 0,
                        producer_last_batches,
                        producer_last_markers,
                        aborted,
                        txns,
                        kept_aborts: Vec::new(),
                        earliest_horizon: None,
                        phase: Phase::Map {
                            segment: first_segment,
                            position: 0,
                        },
                    },
                ));
            }
        }
        Ok(best.map(|(ratio, pass)| {
            debug!(
                "log cleaner: {}-{} chosen (dirty ratio {ratio:.2}, cleanable to {})",
                pass.topic, pass.partition, pass.end
            );
            pass
        }))
    }

    /// Advances the current pass by up to the slice's byte budget.
    fn advance_pass(&mut self) -> io::Result<()> {
        let mut budget = u64::try_from(self.broker_long("log.cleaner.io.buffer.size", 524_288))
            .unwrap_or(1)
            .clamp(1, CLEANER_BYTES_PER_TURN);
        let dedupe_bytes = self
            .broker_long("log.cleaner.dedupe.buffer.size", 134_217_728)
            .max(1 << 20) as usize;
        let mut buffer = std::mem::take(&mut self.cleaner.buffer);
        let mut scratch = std::mem::take(&mut self.cleaner.scratch);
        let result = (|| -> io::Result<()> {
            while budget > 0 {
                let Some(pass) = self.cleaner.pass.as_mut() else {
                    return Ok(());
                };
                let topic = self
                    .topics
                    .get(&pass.topic)
                    .filter(|t| t.id == pass.topic_id)
                    .ok_or_else(|| io::Error::other("the topic is gone"))?;
                let partition = &topic.partitions[pass.partition as usize];
                let log = &partition.log;
                match &mut pass.phase {
                    Phase::Map { segment, position } => {
                        if log.read_batch_at(*segment, *position, &mut buffer)? {
                            *position += buffer.len() as u64;
                            budget = budget.saturating_sub(buffer.len() as u64);
                            map_batch(
                                &buffer,
                                pass.settings,
                                &mut scratch,
                                &mut pass.map,
                                &mut pass.map_bytes,
                                &mut pass.txns,
                            )?;
                            continue;
                        }
                        // The segment is mapped: the next one, unless the map is full.
                        let next = pass
                            .segments
                            .iter()
                            .find(|s| s.base_offset > *segment)
                            .map(|s| s.base_offset);
                        let full = pass.map_bytes >= dedupe_bytes / 2;
                        match next {
                            Some(next) if !full => {
                                *segment = next;
                                *position = 0;
                            }
                            _ => {
                                if full {
                                    pass.end = next.unwrap_or(pass.end);
                                }
                                let first = pass.segments.first().map(|s| s.base_offset);
                                let Some(first) = first.filter(|&f| f < pass.end) else {
                                    return self.finish_pass();
                                };
                                // The copy reads from the first segment: a fresh view of
                                // which transactions it meets are aborted.
                                pass.txns = TxnFilter::new(&pass.aborted, first);
                                pass.phase = start_copy(log.dir(), first)?;
                            }
                        }
                    }
                    Phase::Copy {
                        segment,
                        position,
                        out,
                        path,
                        changed,
                    } => {
                        if log.read_batch_at(*segment, *position, &mut buffer)? {
                            *position += buffer.len() as u64;
                            budget = budget.saturating_sub(buffer.len() as u64);
                            let cleaned = clean_batch(
                                &buffer,
                                &mut scratch,
                                &pass.map,
                                &Producers {
                                    last_batches: &pass.producer_last_batches,
                                    last_markers: &pass.producer_last_markers,
                                },
                                &mut pass.txns,
                                &mut pass.kept_aborts,
                                pass.settings,
                                pass.now_ms,
                                &mut pass.earliest_horizon,
                            )?;
                            match cleaned {
                                Cleaned::Keep => out.write_all(&buffer)?,
                                Cleaned::Rewritten(bytes) => {
                                    out.write_all(&bytes)?;
                                    *changed = true;
                                }
                                Cleaned::Drop => *changed = true,
                            }
                            continue;
                        }
                        let (done, path, changed) = (*segment, path.clone(), *changed);
                        let kept_aborts = std::mem::take(&mut pass.kept_aborts);
                        if changed {
                            out.sync_all()?;
                        }
                        let next = pass
                            .segments
                            .iter()
                            .find(|s| s.base_offset > done && s.base_offset < pass.end)
                            .map(|s| s.base_offset);
                        let dir = log.dir().to_path_buf();
                        pass.phase = match next {
                            Some(next) => start_copy(&dir, next)?,
                            None => Phase::Map {
                                segment: i64::MAX,
                                position: 0,
                            },
                        };
                        let (name, index) = (pass.topic.clone(), pass.partition as usize);
                        let delay = self
                            .topics
                            .get(&name)
                            .map(|t| self.file_delete_delay(&t.configs))
                            .unwrap_or_default();
                        let part = &mut self
                            .topics
                            .get_mut(&name)
                            .ok_or_else(|| io::Error::other("the topic is gone"))?
                            .partitions[index];
                        if changed {
                            part.log.install_cleaned(done, &path)?;
                            super::deletion::schedule_deleted_files(
                                &mut self.segment_deletions,
                                &mut part.log,
                                delay,
                            );
                            part.txns.segments_changed(&part.log);
                            // The cleaned segment's aborted transactions, as Kafka's cleaner
                            // writes its `.txnindex`.
                            part.txns
                                .replace_segment(part.log.dir(), done, kept_aborts)?;
                        } else {
                            // Nothing to swap in; a crash before this leaves a `.cleaned`
                            // file that opening the log removes.
                            fs::remove_file(&path)?;
                        }
                        if next.is_none() {
                            return self.finish_pass();
                        }
                        if changed {
                            // A swap costs two fsyncs: at most one per slice.
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        })();
        self.cleaner.buffer = buffer;
        if scratch.capacity() > records::SCRATCH_KEEP_BYTES {
            scratch = Vec::new();
        }
        self.cleaner.scratch = scratch;
        result
    }

    /// Records how far the partition is clean and its earliest horizon; the cleaner is idle.
    fn finish_pass(&mut self) -> io::Result<()> {
        let Some(pass) = self.cleaner.pass.take() else {
            return Ok(());
        };
        let key = (pass.topic.clone(), pass.partition);
        info!(
            "log cleaner: {}-{} cleaned up to offset {} ({} keys)",
            pass.topic,
            pass.partition,
            pass.end,
            pass.map.len()
        );
        self.cleaner.first_dirty.insert(key.clone(), pass.end);
        match pass.earliest_horizon {
            Some(h) => self.cleaner.horizons.insert(key, h),
            None => self.cleaner.horizons.remove(&key),
        };
        self.cleaner.passes += 1;
        self.epoch += 1;
        self.write_cleaner_checkpoint()
    }
}

fn start_copy(dir: &std::path::Path, segment: i64) -> io::Result<Phase> {
    let path = dir.join(cleaned_file_name(segment));
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    Ok(Phase::Copy {
        segment,
        position: 0,
        out,
        path,
        changed: false,
    })
}

/// A batch's records region: the bytes after its header, decompressed into `scratch` if the
/// batch is compressed. The bound is the one Produce validated the batch against (the
/// topic's `max.message.bytes`, or the batch's own size if the limit was lowered since).
fn records_region<'a>(
    bytes: &'a [u8],
    header: &BatchHeader,
    settings: Settings,
    scratch: &'a mut Vec<u8>,
) -> io::Result<&'a [u8]> {
    let body = bytes
        .get(HEADER_BYTES..header.size())
        .ok_or_else(|| io::Error::other("short batch"))?;
    if header.compression() == 0 {
        return Ok(body);
    }
    let max_bytes = records::decompressed_bytes_max(settings.message_bytes_max.max(bytes.len()));
    records::decompress(header.compression(), body, max_bytes, scratch).map_err(|e| {
        io::Error::other(format!(
            "batch at offset {} does not decompress: {e:?}",
            header.base_offset
        ))
    })?;
    Ok(scratch)
}

/// One record of a batch, as the cleaner needs it.
struct RawRecord<'a> {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    has_value: bool,
    /// The record's bytes after its attributes and timestamp delta (offset delta, key,
    /// value, headers), copied as they are.
    tail: &'a [u8],
}

/// The records of a (decompressed) records region.
fn read_records<'a>(body: &'a [u8], header: &BatchHeader) -> io::Result<Vec<RawRecord<'a>>> {
    let bad = |_| io::Error::other("a record that does not parse");
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    for _ in 0..header.records_count.max(0) {
        let len = usize::try_from(r.varint().map_err(bad)?)
            .map_err(|_| io::Error::other("negative record length"))?;
        let record = r.take(len).map_err(bad)?;
        let mut rec = Reader::new(record);
        rec.i8().map_err(bad)?;
        let timestamp_delta = rec.varlong().map_err(bad)?;
        let tail = &record[record.len() - rec.remaining()..];
        let offset_delta = rec.varint().map_err(bad)?;
        let key_len = rec.varint().map_err(bad)?;
        let key = if key_len < 0 {
            None
        } else {
            Some(rec.take(key_len as usize).map_err(bad)?)
        };
        let has_value = rec.varint().map_err(bad)? >= 0;
        out.push(RawRecord {
            timestamp_delta,
            offset_delta,
            key,
            has_value,
            tail,
        });
    }
    Ok(out)
}

fn map_batch(
    bytes: &[u8],
    settings: Settings,
    scratch: &mut Vec<u8>,
    map: &mut HashMap<Vec<u8>, i64>,
    map_bytes: &mut usize,
    txns: &mut TxnFilter,
) -> io::Result<()> {
    let header = BatchHeader::parse(bytes).ok_or_else(|| io::Error::other("short batch"))?;
    if header.is_control() {
        txns.on_control(&header, bytes);
        return Ok(());
    }
    // An aborted transaction's records supersede nothing (Kafka leaves them out of the map).
    if txns.on_batch(&header) {
        return Ok(());
    }
    let body = records_region(bytes, &header, settings, scratch)?;
    for record in read_records(body, &header)? {
        let Some(key) = record.key else { continue };
        let offset = header.base_offset + i64::from(record.offset_delta);
        match map.get_mut(key) {
            Some(at) => *at = offset,
            None => {
                *map_bytes += MAP_ENTRY_BYTES + key.len();
                map.insert(key.to_vec(), offset);
            }
        }
    }
    Ok(())
}

/// Which transactional batches a scan meets are aborted, and which markers may go, as
/// Kafka's `CleanedTransactionMetadata` tracks them over one pass through the log: aborted
/// transactions (from the `.txnindex` entries) become current as the scan reaches their
/// first offset; an ABORT marker may go once none of its transaction's batches is left, a
/// COMMIT marker once the scan met none of its transaction's batches.
#[derive(Debug, Default)]
struct TxnFilter {
    /// Aborted transactions not yet reached, by first offset.
    pending: VecDeque<AbortedTxn>,
    /// Reached aborted transactions by producer, and whether a batch of theirs was met.
    aborted: HashMap<i64, (AbortedTxn, bool)>,
    /// Producers whose committed (or not aborted) transactional batches were met.
    committed: HashSet<i64>,
}

impl TxnFilter {
    /// The view of a scan from `start`: the aborted transactions whose marker is not
    /// before it.
    fn new(aborted: &[AbortedTxn], start: i64) -> TxnFilter {
        let mut pending: Vec<AbortedTxn> = aborted
            .iter()
            .filter(|a| a.last_offset >= start)
            .copied()
            .collect();
        pending.sort_by_key(|a| a.first_offset);
        TxnFilter {
            pending: pending.into(),
            ..TxnFilter::default()
        }
    }

    fn reach(&mut self, offset: i64) {
        while self
            .pending
            .front()
            .is_some_and(|a| a.first_offset <= offset)
        {
            if let Some(a) = self.pending.pop_front() {
                self.aborted.entry(a.producer_id).or_insert((a, false));
            }
        }
    }

    /// Whether a data batch belongs to an aborted transaction.
    fn on_batch(&mut self, header: &BatchHeader) -> bool {
        self.reach(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        match self.aborted.get_mut(&header.producer_id) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.committed.insert(header.producer_id);
                false
            }
        }
    }

    /// Whether a control batch may be discarded (once past its delete horizon), and the
    /// aborted transaction an ABORT marker that must stay still covers.
    fn on_control(&mut self, header: &BatchHeader, bytes: &[u8]) -> (bool, Option<AbortedTxn>) {
        self.reach(header.last_offset());
        if header.records_count == 0 {
            // Already emptied by an earlier pass.
            return (true, None);
        }
        let Some(marker) = txn::read_marker(bytes) else {
            return (false, None);
        };
        if marker.commit {
            return (!self.committed.remove(&header.producer_id), None);
        }
        match self.aborted.remove(&header.producer_id) {
            Some((txn, true)) => (false, Some(txn)),
            _ => (true, None),
        }
    }
}

/// What the cleaner keeps of the active producers: their last batches, and the marker of
/// those whose last entry is one (with its epoch).
struct Producers<'a> {
    last_batches: &'a HashSet<i64>,
    last_markers: &'a HashMap<i64, i16>,
}

enum Cleaned {
    Keep,
    Rewritten(Vec<u8>),
    Drop,
}

/// What a batch becomes: kept as it is, rewritten with the records that survive, or gone.
/// A compressed batch is rewritten compressed with its own codec.
/// An aborted transaction's batch loses every record; a marker that may go (see
/// [`TxnFilter`]) first gets a delete horizon, as a tombstone does, and goes after it.
#[allow(clippy::too_many_arguments)]
fn clean_batch(
    bytes: &[u8],
    scratch: &mut Vec<u8>,
    map: &HashMap<Vec<u8>, i64>,
    producers: &Producers,
    txns: &mut TxnFilter,
    kept_aborts: &mut Vec<AbortedTxn>,
    settings: Settings,
    now_ms: i64,
    earliest_horizon: &mut Option<i64>,
) -> io::Result<Cleaned> {
    let header = BatchHeader::parse(bytes).ok_or_else(|| io::Error::other("short batch"))?;
    let horizon = (header.attributes & ATTR_DELETE_HORIZON != 0).then_some(header.base_timestamp);
    let (discard_all, marker_may_go) = if header.is_control() {
        let (may_go, kept_abort) = txns.on_control(&header, bytes);
        kept_aborts.extend(kept_abort);
        (may_go && horizon.is_some_and(|h| h <= now_ms), may_go)
    } else {
        (txns.on_batch(&header), false)
    };
    let producer_last = header.producer_id >= 0
        && if header.is_control() {
            producers.last_markers.get(&header.producer_id) == Some(&header.producer_epoch)
        } else {
            producers.last_batches.contains(&header.base_offset)
        };
    if discard_all {
        if !producer_last {
            return Ok(Cleaned::Drop);
        }
        if header.records_count == 0 {
            return Ok(Cleaned::Keep);
        }
    }
    // An aborted transaction's batch keeps nothing: its records need not be read.
    let body = if discard_all {
        &[][..]
    } else {
        records_region(bytes, &header, settings, scratch)?
    };
    let records = if discard_all {
        Vec::new()
    } else {
        read_records(body, &header)?
    };
    let timestamp = |r: &RawRecord| header.base_timestamp + r.timestamp_delta;
    let kept: Vec<&RawRecord> = records
        .iter()
        .filter(|r| {
            if discard_all {
                return false;
            }
            if header.is_control() {
                return true;
            }
            let Some(key) = r.key else { return false };
            let offset = header.base_offset + i64::from(r.offset_delta);
            let latest = map.get(key).is_none_or(|&at| offset >= at);
            latest && (r.has_value || horizon.is_none_or(|h| now_ms < h))
        })
        .collect();
    // A tombstone, or a marker that may go, keeps (or first gets) a delete horizon.
    let has_tombstone = kept.iter().any(|r| !r.has_value) || (marker_may_go && !discard_all);
    let new_horizon = match horizon {
        Some(h) => Some(h),
        None if has_tombstone => Some(now_ms.saturating_add(settings.delete_retention_ms)),
        None => None,
    };
    if has_tombstone && let Some(h) = new_horizon {
        *earliest_horizon = Some(earliest_horizon.map_or(h, |e| e.min(h)));
    }
    if kept.len() == records.len() && new_horizon == horizon && !discard_all {
        return Ok(Cleaned::Keep);
    }
    if kept.is_empty() && !producer_last {
        return Ok(Cleaned::Drop);
    }
    // The records' timestamps stay what they were: with a horizon they are deltas from it.
    let base_timestamp = match new_horizon {
        Some(h) if has_tombstone || horizon.is_some() => h,
        _ => kept.first().map_or(header.base_timestamp, |r| timestamp(r)),
    };
    let mut attributes = header.attributes;
    if kept.is_empty() {
        // An empty batch has no payload to decompress.
        attributes &= !super::batch::ATTR_COMPRESSION_MASK;
    }
    if new_horizon.is_some() && (has_tombstone || horizon.is_some()) {
        attributes |= ATTR_DELETE_HORIZON;
    } else {
        attributes &= !ATTR_DELETE_HORIZON;
    }
    let max_timestamp = if header.attributes & ATTR_TIMESTAMP_LOG_APPEND != 0 || kept.is_empty() {
        header.max_timestamp
    } else {
        kept.iter()
            .map(|r| timestamp(r))
            .max()
            .unwrap_or(header.max_timestamp)
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..HEADER_BYTES]);
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    out[27..35].copy_from_slice(&base_timestamp.to_be_bytes());
    out[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    out[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let mut region = Vec::with_capacity(body.len());
    let mut record = Vec::new();
    for r in &kept {
        record.clear();
        Writer::new(&mut record)
            .i8(0)
            .varlong(timestamp(r) - base_timestamp)
            .raw(r.tail);
        let len = record.len() as i32;
        Writer::new(&mut region).varint(len).raw(&record);
    }
    match attributes & super::batch::ATTR_COMPRESSION_MASK {
        0 => out.extend_from_slice(&region),
        codec => out.extend_from_slice(&records::compress_records(codec, &region)?),
    }
    let batch_length = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(Cleaned::Rewritten(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::{batch, test_dir};
    use std::time::Instant;

    type Seen = Vec<(i64, Vec<u8>, Option<Vec<u8>>)>;

    /// Every record of partition 0 of `topic`, with each batch's CRC checked.
    fn records(storage: &Storage, topic: &str) -> Seen {
        let log = &storage.topic(topic).unwrap().partition(0).unwrap().log;
        let bytes = log.read_all().unwrap();
        let mut out = Vec::new();
        let mut position = 0;
        while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
            let batch = &bytes[position..position + header.size()];
            assert_eq!(
                crc32c(&batch[21..]),
                header.crc,
                "CRC at {}",
                header.base_offset
            );
            for r in batch::records(batch).unwrap() {
                let offset = header.base_offset + i64::from(r.offset_delta);
                assert!(offset <= header.last_offset());
                out.push((offset, r.key.unwrap().to_vec(), r.value.map(<[u8]>::to_vec)));
            }
            position += header.size();
        }
        out
    }

    /// A fresh log dir with topic "c" (one partition) created with `configs`.
    fn compacted_topic(
        name: &str,
        configs: &[(&str, &str)],
    ) -> (std::path::PathBuf, Config, Storage) {
        let dir = test_dir(name);
        let config = Config {
            log_dir: dir.clone(),
            ..Config::default()
        };
        let mut storage = Storage::open(&config).unwrap();
        let configs: Vec<(String, String)> = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        storage.create_topic("c", 1, &configs).unwrap();
        (dir, config, storage)
    }

    fn run_until_pass(storage: &mut Storage, now_ms: i64) {
        // Only what is durable is stable (the last stable offset bounds the cleaner).
        storage.flush(std::time::Instant::now()).unwrap();
        let before = storage.cleaner.passes;
        storage.cleaner.idle_until_ms = 0;
        for _ in 0..10_000 {
            storage.clean_slice(now_ms);
            if !storage.cleaner.busy() {
                break;
            }
        }
        assert_eq!(storage.cleaner.passes, before + 1, "one pass completed");
    }

    #[test]
    fn only_the_latest_record_per_key_survives_and_tombstones_go_after_their_horizon() {
        let (dir, config, mut storage) = compacted_topic(
            "cleaner-compact",
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "300"),
                ("delete.retention.ms", "1000"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        );
        let mut produced = Vec::new();
        for i in 0..60i64 {
            let key = format!("k{}", i % 7).into_bytes();
            // k3 is deleted at offset 52 (and set again at 59, in the active segment).
            let value = (i != 52).then(|| format!("v{i}").into_bytes());
            let bytes = batch::build_keyed(0, 0, 1000 + i, &[(Some(key.clone()), value.clone())]);
            storage.append("c", 0, &bytes).unwrap();
            produced.push((i, key, value));
        }
        storage.flush(Instant::now()).unwrap();
        let active = storage.topic("c").unwrap().partitions[0]
            .log
            .segment_summaries()
            .last()
            .unwrap()
            .base_offset;
        run_until_pass(&mut storage, 10_000);
        // Below the active segment only each key's last record before it; the active segment
        // whole.
        let last_before = |key: &[u8]| {
            produced
                .iter()
                .filter(|(o, k, _)| *o < active && k == key)
                .map(|(o, _, _)| *o)
                .max()
        };
        let expected: Seen = produced
            .iter()
            .filter(|(o, k, _)| *o >= active || last_before(k) == Some(*o))
            .cloned()
            .collect();
        assert_eq!(records(&storage, "c"), expected);
        assert!(expected.len() < produced.len());
        assert!(
            expected.iter().any(|(_, _, v)| v.is_none()),
            "the tombstone is kept"
        );
        assert_eq!(
            fs::read_to_string(dir.join(CHECKPOINT_FILE)).unwrap(),
            format!("0\n1\nc 0 {active}\n")
        );
        // The horizon (the pass's time + delete.retention.ms) passes: the tombstone goes.
        run_until_pass(&mut storage, 11_001);
        let without: Seen = expected
            .iter()
            .filter(|(_, _, v)| v.is_some())
            .cloned()
            .collect();
        assert_eq!(records(&storage, "c"), without);
        // A restart reads the same log; appends continue at the same end.
        drop(storage);
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(records(&storage, "c"), without);
        let bytes = batch::build_keyed(0, 0, 5000, &[(Some(b"k0".to_vec()), None)]);
        assert_eq!(storage.append("c", 0, &bytes).unwrap().base_offset, 60);
    }

    /// Every record of partition 0 of `topic` with its batch's codec, decompressing with
    /// Produce's decoder (so a rewritten batch must be what a client could have sent).
    fn compressed_records(storage: &Storage, topic: &str) -> Vec<(i16, i64, Vec<u8>, Vec<u8>)> {
        let log = &storage.topic(topic).unwrap().partition(0).unwrap().log;
        let bytes = log.read_all().unwrap();
        let mut out = Vec::new();
        let mut position = 0;
        while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
            let batch = &bytes[position..position + header.size()];
            assert_eq!(crc32c(&batch[21..]), header.crc);
            let mut region = Vec::new();
            records::decompress(
                header.compression(),
                &batch[HEADER_BYTES..],
                1 << 20,
                &mut region,
            )
            .unwrap();
            let plain = records::build::seal(0, header.records_count, &region);
            for r in batch::records(&plain).unwrap() {
                let offset = header.base_offset + i64::from(r.offset_delta);
                let (key, value) = (r.key.unwrap().to_vec(), r.value.unwrap().to_vec());
                out.push((header.compression(), offset, key, value));
            }
            position += header.size();
        }
        out
    }

    #[test]
    fn compressed_batches_are_cleaned_and_recompressed_with_their_codec() {
        for codec in [1, 2, 3, 4] {
            let dir = test_dir(&format!("cleaner-codec-{codec}"));
            let config = Config {
                log_dir: dir.clone(),
                ..Config::default()
            };
            let mut storage = Storage::open(&config).unwrap();
            let configs = [
                ("cleanup.policy", "compact"),
                ("segment.bytes", "600"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()));
            storage.create_topic("z", 1, &configs).unwrap();
            let mut produced = Vec::new();
            for i in 0..24i64 {
                // Three records a batch over five keys: most batches lose some, not all.
                let records: Vec<batch::KeyValue> = (0..3)
                    .map(|j| {
                        let n = 3 * i + j;
                        let (key, value) = (format!("k{}", n % 5), format!("value {n}"));
                        produced.push((
                            codec,
                            n,
                            key.clone().into_bytes(),
                            value.clone().into_bytes(),
                        ));
                        (Some(key.into_bytes()), Some(value.into_bytes()))
                    })
                    .collect();
                let plain = batch::build_keyed(0, 0, 1_000, &records);
                let payload = records::compress_records(codec, &plain[HEADER_BYTES..]).unwrap();
                let bytes = records::build::seal(codec, 3, &payload);
                storage.append("z", 0, &bytes).unwrap();
            }
            storage.flush(Instant::now()).unwrap();
            assert_eq!(compressed_records(&storage, "z"), produced);
            let active = storage.topic("z").unwrap().partitions[0]
                .log
                .segment_summaries()
                .last()
                .unwrap()
                .base_offset;
            assert!(active > 30, "several segments to clean (codec {codec})");
            run_until_pass(&mut storage, 10_000);
            let last_before = |key: &[u8]| {
                produced
                    .iter()
                    .filter(|(_, o, k, _)| *o < active && k == key)
                    .map(|(_, o, _, _)| *o)
                    .max()
            };
            let expected: Vec<_> = produced
                .iter()
                .filter(|(_, o, k, _)| *o >= active || last_before(k) == Some(*o))
                .cloned()
                .collect();
            assert!(expected.len() < produced.len());
            assert_eq!(compressed_records(&storage, "z"), expected, "codec {codec}");
            // The cleaned log reopens whole.
            drop(storage);
            let storage = Storage::open(&config).unwrap();
            assert_eq!(compressed_records(&storage, "z"), expected, "codec {codec}");
            let _ = fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn an_idempotent_producers_last_batch_is_kept_and_still_deduplicates() {
        let (_, config, mut storage) = compacted_topic(
            "cleaner-producer",
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "200"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        );
        let idempotent = |seq: i32, key: &[u8]| {
            let mut b = batch::build_keyed(0, 0, 1, &[(Some(key.to_vec()), Some(b"x".to_vec()))]);
            b[43..51].copy_from_slice(&7i64.to_be_bytes());
            b[51..53].copy_from_slice(&0i16.to_be_bytes());
            b[53..57].copy_from_slice(&seq.to_be_bytes());
            let crc = crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
            b
        };
        storage.append("c", 0, &idempotent(0, b"a")).unwrap(); // offset 0
        storage.append("c", 0, &idempotent(1, b"b")).unwrap(); // offset 1: its last batch
        for _ in 0..3 {
            // Plain batches that supersede both keys.
            for key in [b"a", b"b"] {
                let bytes =
                    batch::build_keyed(0, 0, 2, &[(Some(key.to_vec()), Some(b"y".to_vec()))]);
                storage.append("c", 0, &bytes).unwrap();
            }
        }
        storage.flush(Instant::now()).unwrap();
        run_until_pass(&mut storage, 10_000);
        let log = &storage.topic("c").unwrap().partitions[0].log;
        let mut first = Vec::new();
        log.read(1, 1)
            .unwrap()
            .unwrap()
            .write_to(&mut first)
            .unwrap();
        let header = BatchHeader::parse(&first).unwrap();
        // Kept with no record: offset 1, producer 7, sequence 1.
        assert_eq!(
            (
                header.base_offset,
                header.records_count,
                header.producer_id,
                header.base_sequence
            ),
            (1, 0, 7, 1)
        );
        // A retry of that batch is still recognised, with its original offset.
        let again = storage.append("c", 0, &idempotent(1, b"b")).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.base_offset, 1);
        // The kept batch opens again (a cleaned batch is valid at recovery).
        drop(storage);
        let storage = Storage::open(&config).unwrap();
        let log = &storage.topic("c").unwrap().partitions[0].log;
        let mut again = Vec::new();
        log.read(1, 1)
            .unwrap()
            .unwrap()
            .write_to(&mut again)
            .unwrap();
        assert_eq!(again, first);
    }

    #[test]
    fn a_crash_leaves_the_original_or_the_whole_cleaned_segment() {
        let dir = test_dir("cleaner-swap");
        let log_dir = dir.join("t-0");
        {
            let mut log = super::super::PartitionLog::open(&log_dir, 100).unwrap();
            for i in 0..3 {
                let mut b = batch::build_keyed(0, 0, 1, &[(Some(vec![i]), Some(vec![i]))]);
                log.append(&mut b, 0).unwrap();
            }
            log.sync().unwrap();
        }
        // An unfinished copy is removed; a synced swap replaces its original.
        fs::write(log_dir.join(cleaned_file_name(0)), b"partial").unwrap();
        let original = fs::read(log_dir.join("00000000000000000001.log")).unwrap();
        fs::write(log_dir.join("00000000000000000001.log.swap"), &original).unwrap();
        fs::write(log_dir.join("00000000000000000001.log"), b"").unwrap();
        let log = super::super::PartitionLog::open(&log_dir, 100).unwrap();
        assert!(!log_dir.join(cleaned_file_name(0)).exists());
        assert!(!log_dir.join("00000000000000000001.log.swap").exists());
        assert_eq!(
            fs::read(log_dir.join("00000000000000000001.log")).unwrap(),
            original
        );
        assert_eq!(log.next_offset(), 3);
    }

    #[test]
    fn aborted_transactions_go_and_their_markers_after_the_horizon() {
        let (_, config, mut storage) = compacted_topic(
            "cleaner-txn",
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "300"),
                ("delete.retention.ms", "1000"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        );
        let keyed = |pid: i64, seq: i32, transactional: bool, key: &str, value: &str| {
            let record = (
                Some(key.as_bytes().to_vec()),
                Some(value.as_bytes().to_vec()),
            );
            let mut b = batch::build_keyed(0, 0, 1, &[record]);
            if transactional {
                b[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
            }
            b[43..51].copy_from_slice(&pid.to_be_bytes());
            b[51..53].copy_from_slice(&0i16.to_be_bytes());
            b[53..57].copy_from_slice(&seq.to_be_bytes());
            let crc = crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
            b
        };
        let filler = "f".repeat(100);
        let fill = |storage: &mut Storage, n: usize| {
            for _ in 0..n {
                let b = keyed(-1, -1, false, "filler", &filler);
                storage.append("c", 0, &b).unwrap();
            }
        };
        storage
            .append("c", 0, &keyed(-1, -1, false, "k1", "keep"))
            .unwrap(); // 0
        storage
            .append("c", 0, &keyed(5, 0, true, "k1", "aborted"))
            .unwrap(); // 1
        storage.write_txn_marker("c", 0, 5, 0, 0, false).unwrap(); // 2
        storage
            .append("c", 0, &keyed(6, 0, true, "k2", "committed"))
            .unwrap(); // 3
        storage.write_txn_marker("c", 0, 6, 0, 0, true).unwrap(); // 4
        // Producer 5's last batch is a later one, so its aborted batch is not kept empty.
        storage
            .append("c", 0, &keyed(5, 1, false, "k5", "later"))
            .unwrap(); // 5
        fill(&mut storage, 4);
        let abort_key = vec![0, 0, 0, 0];
        let commit_key = vec![0, 0, 0, 1];
        let marker_value = Some(vec![0, 0, 0, 0, 0, 0]);
        let first_six =
            |records: &Seen| -> Seen { records.iter().filter(|r| r.0 <= 5).cloned().collect() };
        run_until_pass(&mut storage, 10_000);
        // The aborted record is gone and did not supersede offset 0; both markers stay.
        let expected: Seen = vec![
            (0, b"k1".to_vec(), Some(b"keep".to_vec())),
            (2, abort_key.clone(), marker_value.clone()),
            (3, b"k2".to_vec(), Some(b"committed".to_vec())),
            (4, commit_key.clone(), marker_value.clone()),
            (5, b"k5".to_vec(), Some(b"later".to_vec())),
        ];
        assert_eq!(first_six(&records(&storage, "c")), expected);
        let part = &storage.topic("c").unwrap().partitions[0];
        assert_eq!(part.txns.aborted().count(), 1);
        // The next pass finds none of its data: the ABORT marker gets a delete horizon and
        // leaves the transaction index; the COMMIT marker's data is still there.
        fill(&mut storage, 3);
        run_until_pass(&mut storage, 10_000);
        assert_eq!(first_six(&records(&storage, "c")), expected);
        let part = &storage.topic("c").unwrap().partitions[0];
        assert_eq!(part.txns.aborted().count(), 0);
        run_until_pass(&mut storage, 11_001);
        let mut without = expected.clone();
        without.remove(1);
        assert_eq!(first_six(&records(&storage, "c")), without);
        // A restart reads the same log and the same (empty) aborted index.
        drop(storage);
        let storage = Storage::open(&config).unwrap();
        assert_eq!(first_six(&records(&storage, "c")), without);
        let part = &storage.topic("c").unwrap().partitions[0];
        assert_eq!(part.txns.aborted().count(), 0);
        assert_eq!(part.last_stable_offset(), part.log.next_offset());
    }

    #[test]
    fn an_ongoing_transaction_is_never_cleaned() {
        let (_, _, mut storage) = compacted_topic(
            "cleaner-txn-ongoing",
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "300"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        );
        let mut b = batch::build_keyed(0, 0, 1, &[(Some(b"k".to_vec()), Some(b"open".to_vec()))]);
        b[21..23].copy_from_slice(&batch::ATTR_TRANSACTIONAL.to_be_bytes());
        b[43..51].copy_from_slice(&5i64.to_be_bytes());
        b[51..53].copy_from_slice(&0i16.to_be_bytes());
        b[53..57].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        storage.append("c", 0, &b).unwrap(); // 0, never decided
        for i in 0..6 {
            let value = format!("{i:0>100}").into_bytes();
            let bytes = batch::build_keyed(0, 0, 1, &[(Some(b"k".to_vec()), Some(value))]);
            storage.append("c", 0, &bytes).unwrap();
        }
        let before = records(&storage, "c");
        storage.cleaner.idle_until_ms = 0;
        for _ in 0..100 {
            storage.clean_slice(10_000);
        }
        // Everything is at or past the last stable offset (0): nothing is cleanable.
        assert_eq!(records(&storage, "c"), before);
        assert_eq!(storage.cleaner.passes, 0);
    }
}
