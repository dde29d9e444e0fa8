//! A segment's offset index (`.index`) and time index (`.timeindex`) in Kafka's format, so a
//! clean restart finds batches without reading the log. `.index` holds 8-byte entries
//! (offset relative to the segment's base offset as u32, the batch's position as u32, big
//! endian) and `.timeindex` 12-byte entries (timestamp i64, relative offset u32). As Kafka's
//! `LogSegment.append`, an entry is added for a batch when more than the topic's
//! `index.interval.bytes` were appended since the last one: the offset index maps the batch's last offset to its
//! position, the time index maps the largest timestamp so far to the last offset of the batch
//! that holds it (only when it grew). An active segment's files are preallocated to the
//! topic's `segment.index.bytes` (sparse) and trimmed to their entries when it rolls or the broker stops,
//! when the time index also gets a final entry for the segment's largest timestamp.
//!
//! Invariant: nothing but the last entry of each file is kept in memory; lookups binary
//! search the file with `pread`s (the entries are sorted), so the resident cost of a
//! segment's index is constant, whatever the segment's size. An entry read from a file is
//! never trusted past the segment: a position beyond it means the index is ignored.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::BatchHeader;

/// Kafka's `index.interval.bytes` default: bytes of log between index entries.
pub const INDEX_INTERVAL_BYTES: u64 = 4096;
/// Kafka's `segment.index.bytes` default: the size an active segment's index files are
/// preallocated to; a full index rolls the segment.
pub const INDEX_BYTES_MAX: u64 = 10 << 20;

/// A topic's index settings, fixed for a segment when it is created (or becomes active
/// again after a restart), as Kafka's `LogSegment` takes them from the log's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSettings {
    /// `index.interval.bytes` (broker `log.index.interval.bytes`): bytes of log between
    /// entries.
    pub interval_bytes: u64,
    /// `segment.index.bytes` (broker `log.index.size.max.bytes`): each index file's size
    /// while the segment is active.
    pub bytes_max: u64,
}

impl Default for IndexSettings {
    fn default() -> IndexSettings {
        IndexSettings {
            interval_bytes: INDEX_INTERVAL_BYTES,
            bytes_max: INDEX_BYTES_MAX,
        }
    }
}
pub const OFFSET_ENTRY_BYTES: u64 = 8;
pub const TIME_ENTRY_BYTES: u64 = 12;

pub const OFFSET_INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// The path of segment `base_offset`'s file with `suffix` in `dir` (Kafka's 20-digit names).
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}{suffix}"))
}

/// One segment's two index files.
pub struct SegmentIndex {
    base_offset: i64,
    offset_path: PathBuf,
    time_path: PathBuf,
    offset_entries: u64,
    time_entries: u64,
    /// The last offset index entry: absolute offset and position.
    last_offset: Option<(i64, u64)>,
    /// The last time index entry: timestamp and absolute offset.
    last_time: Option<(i64, i64)>,
    /// Log bytes appended since the last offset index entry.
    bytes_since_entry: u64,
    /// Open (and preallocated) while the segment is active.
    writers: Option<(File, File)>,
    /// A write failed (a full disk): lookups start at the segment's start, and the files
    /// are removed rather than kept, to be rebuilt by the next start's scan.
    broken: bool,
    settings: IndexSettings,
}

impl SegmentIndex {
    /// Empty index files for a new active segment (any old ones are replaced).
    pub fn create(
        dir: &Path,
        base_offset: i64,
        settings: IndexSettings,
    ) -> io::Result<SegmentIndex> {
        let mut index = SegmentIndex::unopened(dir, base_offset);
        index.settings = settings;
        let offset = create_preallocated(
            &index.offset_path,
            index.preallocated_len(OFFSET_ENTRY_BYTES),
        )?;
        let time = create_preallocated(&index.time_path, index.preallocated_len(TIME_ENTRY_BYTES))?;
        index.writers = Some((offset, time));
        Ok(index)
    }

    fn unopened(dir: &Path, base_offset: i64) -> SegmentIndex {
        SegmentIndex {
            base_offset,
            offset_path: segment_file(dir, base_offset, OFFSET_INDEX_SUFFIX),
            time_path: segment_file(dir, base_offset, TIME_INDEX_SUFFIX),
            offset_entries: 0,
            time_entries: 0,
            last_offset: None,
            last_time: None,
            bytes_since_entry: 0,
            writers: None,
            broken: false,
            settings: IndexSettings::default(),
        }
    }

    /// The index files a clean stop left for a segment of `segment_size` bytes, if they are
    /// whole and plausible (sizes a multiple of their entry, entries inside the segment, a
    /// first offset entry not repeated as zeros); `None` means they must be rebuilt.
    pub fn load(
        dir: &Path,
        base_offset: i64,
        segment_size: u64,
    ) -> io::Result<Option<SegmentIndex>> {
        let mut index = SegmentIndex::unopened(dir, base_offset);
        let (Some(offset_len), Some(time_len)) =
            (file_len(&index.offset_path)?, file_len(&index.time_path)?)
        else {
            return Ok(None);
        };
        if offset_len % OFFSET_ENTRY_BYTES != 0 || time_len % TIME_ENTRY_BYTES != 0 {
            return Ok(None);
        }
        index.offset_entries = offset_len / OFFSET_ENTRY_BYTES;
        index.time_entries = time_len / TIME_ENTRY_BYTES;
        if index.offset_entries > 0 {
            let file = File::open(&index.offset_path)?;
            let (offset, position) = index.offset_entry(&file, index.offset_entries - 1)?;
            // Relative offsets strictly increase, so only a first entry may be 0: a zero
            // last entry is a preallocated file that was never trimmed.
            let untrimmed = index.offset_entries > 1 && offset == base_offset;
            if untrimmed || position >= segment_size.max(1) {
                return Ok(None);
            }
            index.last_offset = Some((offset, position));
            index.bytes_since_entry = segment_size - position;
        } else {
            index.bytes_since_entry = segment_size;
        }
        if index.time_entries > 0 {
            let file = File::open(&index.time_path)?;
            index.last_time = Some(index.time_entry(&file, index.time_entries - 1)?);
        }
        Ok(Some(index))
    }

    /// Rebuilding from a scan: both files emptied (the caller notes every batch again).
    /// Files that cannot be made (a full disk) leave a broken index, not a failed open:
    /// reads still work.
    pub fn rebuild(dir: &Path, base_offset: i64, settings: IndexSettings) -> SegmentIndex {
        SegmentIndex::create(dir, base_offset, settings).unwrap_or_else(|e| {
            let mut index = SegmentIndex::unopened(dir, base_offset);
            index.settings = settings;
            index.fail(&e);
            index
        })
    }

    fn fail(&mut self, e: &io::Error) {
        if !self.broken {
            ::log::warn!(
                "{}: index not written ({e}); rebuilt at the next start",
                self.offset_path.display()
            );
        }
        self.broken = true;
        self.writers = None;
        self.last_offset = None;
        self.last_time = None;
        self.offset_entries = 0;
        self.time_entries = 0;
        for path in [&self.offset_path, &self.time_path] {
            let _ = fs::remove_file(path);
        }
    }

    /// Makes the files appendable again (the active segment after a restart): opened and
    /// preallocated, with the topic's settings now. (Kafka's `resizeIndexes`, never below
    /// the entries held.)
    pub fn reopen(&mut self, settings: IndexSettings) -> io::Result<()> {
        if self.writers.is_some() || self.broken {
            return Ok(());
        }
        self.settings = settings;
        let open = |path: &Path, len: u64| -> io::Result<File> {
            let file = OpenOptions::new().read(true).write(true).open(path)?;
            file.set_len(len)?;
            Ok(file)
        };
        let offset_len = self
            .preallocated_len(OFFSET_ENTRY_BYTES)
            .max(self.offset_entries * OFFSET_ENTRY_BYTES);
        let time_len = self
            .preallocated_len(TIME_ENTRY_BYTES)
            .max(self.time_entries * TIME_ENTRY_BYTES);
        let offset = open(&self.offset_path, offset_len)?;
        let time = open(&self.time_path, time_len)?;
        self.writers = Some((offset, time));
        Ok(())
    }

    /// Whether another entry might not fit (Kafka rolls the segment then).
    pub fn is_full(&self) -> bool {
        self.writers.is_some()
            && (self.offset_entries + 1
                >= self.preallocated_len(OFFSET_ENTRY_BYTES) / OFFSET_ENTRY_BYTES
                || self.time_entries + 1
                    >= self.preallocated_len(TIME_ENTRY_BYTES) / TIME_ENTRY_BYTES)
    }

    /// Notes a batch appended (or found by a scan) at `position`, after the segment's
    /// largest timestamp so far (and the last offset of the batch holding it) took it into
    /// account. Kafka's rule: an entry when more than the interval was appended since the
    /// last one.
    pub fn note_batch(
        &mut self,
        position: u64,
        header: &BatchHeader,
        max_timestamp: i64,
        max_timestamp_offset: i64,
    ) {
        if self.bytes_since_entry > self.settings.interval_bytes && !self.broken {
            let written = self
                .append_offset(header.last_offset(), position)
                .and_then(|()| self.append_time(max_timestamp, max_timestamp_offset));
            if let Err(e) = written {
                self.fail(&e);
            }
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.size() as u64;
    }

    fn append_offset(&mut self, offset: i64, position: u64) -> io::Result<()> {
        if self.last_offset.is_some_and(|(last, _)| offset <= last) {
            return Ok(());
        }
        let Some((file, _)) = &self.writers else {
            return Err(io::Error::other("appending to a closed index"));
        };
        let mut entry = [0u8; OFFSET_ENTRY_BYTES as usize];
        entry[..4].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        entry[4..].copy_from_slice(&(position as u32).to_be_bytes());
        file.write_all_at(&entry, self.offset_entries * OFFSET_ENTRY_BYTES)?;
        self.offset_entries += 1;
        self.last_offset = Some((offset, position));
        Ok(())
    }

    fn append_time(&mut self, timestamp: i64, offset: i64) -> io::Result<()> {
        if offset < 0 || self.last_time.is_some_and(|(last, _)| timestamp <= last) {
            return Ok(());
        }
        let Some((_, file)) = &self.writers else {
            return Err(io::Error::other("appending to a closed index"));
        };
        let mut entry = [0u8; TIME_ENTRY_BYTES as usize];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        file.write_all_at(&entry, self.time_entries * TIME_ENTRY_BYTES)?;
        self.time_entries += 1;
        self.last_time = Some((timestamp, offset));
        Ok(())
    }

    /// The segment stops being active (it rolled, or the broker stops): the time index gets
    /// the segment's largest timestamp as its last entry, both files are trimmed to their
    /// entries and synced, as Kafka's `onBecomeInactiveSegment` and `close` do.
    pub fn close(&mut self, max_timestamp: i64, max_timestamp_offset: i64) -> io::Result<()> {
        if self.writers.is_none() {
            return Ok(());
        }
        let closed = self
            .append_time(max_timestamp, max_timestamp_offset)
            .and_then(|()| self.trim());
        if let Err(e) = closed {
            self.fail(&e);
        }
        Ok(())
    }

    fn trim(&mut self) -> io::Result<()> {
        if let Some((offset, time)) = self.writers.take() {
            offset.set_len(self.offset_entries * OFFSET_ENTRY_BYTES)?;
            time.set_len(self.time_entries * TIME_ENTRY_BYTES)?;
            offset.sync_all()?;
            time.sync_all()?;
        }
        Ok(())
    }

    /// The last time index entry (a closed segment's largest timestamp and its offset).
    pub fn last_time_entry(&self) -> Option<(i64, i64)> {
        self.last_time
    }

    /// The last offset index entry's position (0 without one).
    pub fn last_position(&self) -> u64 {
        self.last_offset.map_or(0, |(_, p)| p)
    }

    /// Where to start looking for `offset`: the position of the last entry whose offset is
    /// at most `offset` (0 if none), as Kafka's `OffsetIndex.lookup`.
    pub fn lookup_offset(&self, offset: i64) -> io::Result<u64> {
        match self.last_offset {
            _ if self.broken => return Ok(0),
            None => return Ok(0),
            Some((last, position)) if last <= offset => return Ok(position),
            _ => {}
        }
        self.with_file(false, |file| {
            // The first entry past `offset`: entries before it qualify.
            let (mut lo, mut hi) = (0u64, self.offset_entries);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.offset_entry(file, mid)?.0 <= offset {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == 0 {
                return Ok(0);
            }
            Ok(self.offset_entry(file, lo - 1)?.1)
        })
    }

    /// The offset of the first offset index entry at or past `position` (`None` past the
    /// last entry), as Kafka's `OffsetIndex.fetchUpperBoundOffset` answers it: the bound of
    /// a fetch's aborted-transaction search.
    pub fn upper_bound_offset(&self, position: u64) -> io::Result<Option<i64>> {
        match self.last_offset {
            _ if self.broken => return Ok(None),
            None => return Ok(None),
            Some((_, last)) if last < position => return Ok(None),
            _ => {}
        }
        self.with_file(false, |file| {
            let (mut lo, mut hi) = (0u64, self.offset_entries);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.offset_entry(file, mid)?.1 < position {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == self.offset_entries {
                return Ok(None);
            }
            Ok(Some(self.offset_entry(file, lo)?.0))
        })
    }

    /// An offset from which every batch before it has a largest timestamp below
    /// `timestamp`: the offset of the last time entry below it (the base offset if none).
    pub fn lookup_time(&self, timestamp: i64) -> io::Result<i64> {
        if self.time_entries == 0 || self.broken {
            return Ok(self.base_offset);
        }
        if let Some((last, offset)) = self.last_time
            && last < timestamp
        {
            return Ok(offset);
        }
        self.with_file(true, |file| {
            let (mut lo, mut hi) = (0u64, self.time_entries);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if self.time_entry(file, mid)?.0 < timestamp {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == 0 {
                return Ok(self.base_offset);
            }
            Ok(self.time_entry(file, lo - 1)?.1)
        })
    }

    /// Runs `read` on the time index (`time`) or the offset index: the active segment's
    /// open file, or a closed segment's file opened for this lookup only, so idle segments
    /// hold no index descriptors.
    fn with_file<T>(&self, time: bool, read: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        match (&self.writers, time) {
            (Some((_, file)), true) | (Some((file, _)), false) => read(file),
            (None, true) => read(&File::open(&self.time_path)?),
            (None, false) => read(&File::open(&self.offset_path)?),
        }
    }

    fn offset_entry(&self, file: &File, i: u64) -> io::Result<(i64, u64)> {
        let mut entry = [0u8; OFFSET_ENTRY_BYTES as usize];
        file.read_exact_at(&mut entry, i * OFFSET_ENTRY_BYTES)?;
        let relative = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let position = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
        Ok((self.base_offset + i64::from(relative), u64::from(position)))
    }

    fn time_entry(&self, file: &File, i: u64) -> io::Result<(i64, i64)> {
        let mut entry = [0u8; TIME_ENTRY_BYTES as usize];
        file.read_exact_at(&mut entry, i * TIME_ENTRY_BYTES)?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&entry[..8]);
        let relative = u32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]);
        Ok((
            i64::from_be_bytes(ts),
            self.base_offset + i64::from(relative),
        ))
    }

    /// The index files' paths (for removal with their segment).
    pub fn paths(&self) -> [&Path; 2] {
        [&self.offset_path, &self.time_path]
    }

    /// The size an index file with entries of `entry` bytes is preallocated to: the
    /// topic's `segment.index.bytes` rounded down to a whole entry, as Kafka's
    /// `AbstractIndex` does.
    fn preallocated_len(&self, entry: u64) -> u64 {
        self.settings.bytes_max / entry * entry
    }

    /// How many offset index entries the files hold (tests).
    pub fn offset_entries(&self) -> u64 {
        self.offset_entries
    }
}

fn create_preallocated(path: &Path, len: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.set_len(len)?;
    Ok(file)
}

fn file_len(path: &Path) -> io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
