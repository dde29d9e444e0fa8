//! One partition's log in Kafka's layout: segment files named by their 20-digit base offset,
//! holding record batches back to back, exactly as produced (only baseOffset and
//! partitionLeaderEpoch are set by us). Invariants: every byte in a segment up to its size is
//! a whole, CRC-valid batch (recovery truncates anything else); offsets increase across
//! segments; only the last segment is appended to.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use log::{info, warn};

use super::batch::{self, BatchHeader, HEADER_BYTES, LOG_OVERHEAD};
use super::records;
use crate::protocol::wire::RecordSource;

/// One sparse index entry is kept per this many bytes of log, as Kafka's
/// `log.index.interval.bytes`.
const INDEX_INTERVAL_BYTES: u64 = 4096;
/// The buffer `Segment::walk` reads batch headers into: an index interval and a header.
const WALK_BUF_BYTES: usize = INDEX_INTERVAL_BYTES as usize + HEADER_BYTES;
/// Spare capacity beyond a slice's length that `FileSlice::write_to` reads into anyway
/// (the surplus is read from the file, then dropped); with more, it zero-fills instead.
const READ_SLACK_BYTES: usize = 64 << 10;

/// A byte range of a segment file, to be copied to a client without parsing.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Rc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileSlice {
    /// Appends the slice's bytes to `out` in one `pread` (more only if the kernel returns
    /// less), straight into its spare capacity with no zero-fill first. A pread into spare
    /// capacity fills all of it, so this is done when the spare capacity after reserving is
    /// at most READ_SLACK_BYTES over the slice (as it is when `out` grows for the slice, or
    /// the slice ends where the file does); otherwise the slice's bytes are zeroed and read
    /// over, rather than reading megabytes past the slice.
    pub fn write_to(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        let end = start + self.len;
        out.reserve(self.len);
        let result = if out.capacity() - end <= READ_SLACK_BYTES {
            self.read_into_spare(out, end)
        } else {
            out.resize(end, 0);
            self.file.read_exact_at(&mut out[start..], self.position)
        };
        if result.is_err() {
            out.truncate(start);
        }
        out.truncate(end);
        result
    }

    fn read_into_spare(&self, out: &mut Vec<u8>, end: usize) -> io::Result<()> {
        let start = end - self.len;
        while out.len() < end {
            let at = self.position + (out.len() - start) as u64;
            match rustix::io::pread(&*self.file, rustix::buffer::spare_capacity(out), at) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("read {} of {} bytes", out.len() - start, self.len),
                    ));
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A Fetch response's records are appended straight from the segment while the response is
/// encoded.
impl RecordSource for FileSlice {
    fn len(&self) -> usize {
        self.len
    }

    /// The length prefix is already written: on a read error the promised bytes become
    /// zeros, so the frame stays well formed; the client sees a corrupt batch and retries.
    fn append_to(&self, out: &mut Vec<u8>) {
        if let Err(e) = self.write_to(out) {
            log::error!(
                "reading {} bytes of log at {}: {e}",
                self.len,
                self.position
            );
            out.resize(out.len() + self.len, 0);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// Base offset of the batch starting at `position`.
    offset: i64,
    position: u64,
    /// Largest timestamp seen up to and including the indexed batch's predecessor region.
    max_timestamp_before: i64,
}

struct Segment {
    base_offset: i64,
    path: PathBuf,
    file: Rc<File>,
    size: u64,
    /// The offset after the last batch in this segment.
    next_offset: i64,
    /// Sparse: the first batch, then one batch per INDEX_INTERVAL_BYTES.
    index: Vec<IndexEntry>,
    max_timestamp: i64,
    /// Offset of the last batch holding `max_timestamp`, and where that batch starts.
    max_timestamp_offset: i64,
    max_timestamp_position: u64,
    dirty: bool,
}

/// Where a batch lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLocation {
    pub position: u64,
    pub header: BatchHeader,
}

impl Segment {
    fn file_name(base_offset: i64) -> String {
        format!("{base_offset:020}.log")
    }

    fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        let path = dir.join(Self::file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        Ok(Segment {
            base_offset,
            path,
            file: Rc::new(file),
            size: 0,
            next_offset: base_offset,
            index: Vec::new(),
            max_timestamp: -1,
            max_timestamp_offset: -1,
            max_timestamp_position: 0,
            dirty: false,
        })
    }

    /// Opens a segment and scans its batches. With `verify`, a batch that is cut short or
    /// fails its CRC ends the segment: it and everything after it are truncated away.
    fn open(path: &Path, base_offset: i64, verify: bool) -> io::Result<Segment> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        let mut segment = Segment {
            base_offset,
            path: path.to_path_buf(),
            file: Rc::new(file),
            size: 0,
            next_offset: base_offset,
            index: Vec::new(),
            max_timestamp: -1,
            max_timestamp_offset: -1,
            max_timestamp_position: 0,
            dirty: false,
        };
        let file_len = segment.file.metadata()?.len();
        let valid_len = segment.scan(file_len, verify)?;
        if valid_len < file_len {
            warn!(
                "{}: truncating {} bytes of torn or corrupt data at position {valid_len}",
                path.display(),
                file_len - valid_len
            );
            segment.file.set_len(valid_len)?;
            segment.file.sync_all()?;
        }
        segment.size = valid_len;
        Ok(segment)
    }

    /// Walks the batches from the start, building the index; returns the valid length.
    fn scan(&mut self, file_len: u64, verify: bool) -> io::Result<u64> {
        let mut position = 0u64;
        let mut chunk = Vec::new();
        while position + LOG_OVERHEAD as u64 <= file_len {
            let mut head = [0u8; HEADER_BYTES];
            let available = (file_len - position).min(HEADER_BYTES as u64) as usize;
            self.file.read_exact_at(&mut head[..available], position)?;
            let Some(header) = BatchHeader::parse(&head[..available]) else {
                break;
            };
            let size = header.size() as u64;
            if header.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32
                || position + size > file_len
            {
                break;
            }
            if verify {
                chunk.resize(size as usize, 0);
                self.file.read_exact_at(&mut chunk, position)?;
                if batch::validate(&chunk).is_err() && !is_cleaned_batch(&chunk) {
                    break;
                }
            }
            self.note_batch(position, &header);
            position += size;
        }
        Ok(position)
    }

    /// Records a batch appended (or found) at `position` in the index and offsets.
    fn note_batch(&mut self, position: u64, header: &BatchHeader) {
        let last_indexed = self.index.last().map(|e| e.position);
        if last_indexed.is_none_or(|p| position >= p + INDEX_INTERVAL_BYTES) {
            self.index.push(IndexEntry {
                offset: header.base_offset,
                position,
                max_timestamp_before: self.max_timestamp,
            });
        }
        if header.max_timestamp >= self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.max_timestamp_offset = header.last_offset();
            self.max_timestamp_position = position;
        }
        self.next_offset = header.last_offset() + 1;
        self.size = position + header.size() as u64;
    }

    /// Calls `visit` for each batch header from the indexed position at or before
    /// `from_offset` until it returns false or the segment ends. Headers are read into a
    /// buffer on the stack that holds an index interval and one header: every batch that
    /// starts before the next index entry is in it, so finding a fetch's first batch takes
    /// one read of about 4 KiB.
    fn walk(
        &self,
        start: IndexEntry,
        mut visit: impl FnMut(BatchLocation) -> bool,
    ) -> io::Result<()> {
        let mut buf = [0u8; WALK_BUF_BYTES];
        let mut position = start.position;
        let mut buf_start = position;
        let mut buf_len = 0usize;
        while position + HEADER_BYTES as u64 <= self.size {
            let offset_in_buf = (position - buf_start) as usize;
            if offset_in_buf + HEADER_BYTES > buf_len {
                // At least HEADER_BYTES remain (the loop's condition), so a refill makes
                // progress.
                buf_start = position;
                buf_len = ((self.size - position) as usize).min(WALK_BUF_BYTES);
                self.file.read_exact_at(&mut buf[..buf_len], position)?;
                continue;
            }
            let Some(header) = BatchHeader::parse(&buf[offset_in_buf..buf_len]) else {
                break;
            };
            if !visit(BatchLocation { position, header }) {
                break;
            }
            position += header.size() as u64;
        }
        Ok(())
    }

    /// The offset and timestamp of the first record of the batch at `loc` whose timestamp
    /// satisfies `wanted`, as Kafka's timestamp search answers. Records are read for
    /// CreateTime batches, compressed ones decompressed (up to 64 times the batch's size or
    /// 64 MiB, whichever is more: past that, or if unreadable, the batch answers with its
    /// base offset and max timestamp); a LogAppendTime batch's records all carry its max
    /// timestamp.
    fn first_record(
        &self,
        loc: BatchLocation,
        wanted: impl Fn(i64) -> bool,
    ) -> io::Result<(i64, i64)> {
        let h = loc.header;
        let batch_level = (h.base_offset, h.max_timestamp);
        if h.attributes & batch::ATTR_TIMESTAMP_LOG_APPEND != 0 {
            return Ok(batch_level);
        }
        let mut bytes = vec![0u8; h.size()];
        self.file.read_exact_at(&mut bytes, loc.position)?;
        let bound = records::decompressed_bytes_max(h.size().max(1 << 20));
        let mut found = None;
        let walked = records::Validator::new().for_each(&bytes, &h, bound, |_, r| {
            let timestamp = h.base_timestamp.saturating_add(r.timestamp_delta);
            if found.is_none() && wanted(timestamp) {
                found = Some((h.base_offset + i64::from(r.offset_delta), timestamp));
            }
        });
        Ok(match (walked, found) {
            (Ok(()), Some(first)) => first,
            _ => batch_level,
        })
    }

    fn index_entry_for_offset(&self, offset: i64) -> Option<IndexEntry> {
        let i = self.index.partition_point(|e| e.offset <= offset);
        self.index.get(i.checked_sub(1)?).copied()
    }

    /// The batch holding `offset`, or the first batch after it.
    fn find(&self, offset: i64) -> io::Result<Option<BatchLocation>> {
        let Some(start) = self
            .index_entry_for_offset(offset)
            .or(self.index.first().copied())
        else {
            return Ok(None);
        };
        let mut found = None;
        self.walk(start, |loc| {
            if loc.header.last_offset() >= offset {
                found = Some(loc);
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }
}

/// What an append produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The batch was a retry already in the log; nothing was written.
    pub duplicate: bool,
}

pub struct PartitionLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    log_start_offset: i64,
    segment_bytes_max: u64,
}

impl PartitionLog {
    /// Opens (or creates) the partition directory and recovers its segments: every
    /// segment's batches are indexed, and the last one's are CRC-checked, truncating a torn
    /// tail.
    pub fn open(dir: &Path, segment_bytes_max: u64) -> io::Result<PartitionLog> {
        fs::create_dir_all(dir)?;
        recover_swaps(dir)?;
        let mut bases: Vec<i64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".log")
                && stem.len() == 20
                && let Ok(base) = stem.parse::<i64>()
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(Segment::file_name(base));
            let last = i + 1 == bases.len();
            segments.push(Segment::open(&path, base, last)?);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0)?);
            sync_dir(dir)?;
        }
        let log_start_offset = segments[0].base_offset;
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            segments,
            log_start_offset,
            segment_bytes_max,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The log end offset, which is also the high watermark with one replica.
    pub fn next_offset(&self) -> i64 {
        self.segments
            .last()
            .map_or(self.log_start_offset, |s| s.next_offset)
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Appends one validated batch, assigning its base offset. Rolls a new segment first if
    /// this batch would overflow the active one.
    pub fn append(&mut self, bytes: &mut [u8], leader_epoch: i32) -> io::Result<Appended> {
        let header = BatchHeader::parse(bytes).ok_or_else(|| io::Error::other("short batch"))?;
        let base_offset = self.next_offset();
        let needs_roll = self
            .segments
            .last()
            .is_none_or(|s| s.size > 0 && s.size + bytes.len() as u64 > self.segment_bytes_max);
        if needs_roll {
            self.roll(base_offset)?;
        }
        batch::assign(bytes, base_offset, leader_epoch);
        let segment = self
            .segments
            .last_mut()
            .ok_or_else(|| io::Error::other("no segment"))?;
        let position = segment.size;
        if let Err(e) = (&*segment.file).write_all(bytes) {
            // Leave no partial batch behind.
            let _ = segment.file.set_len(position);
            return Err(e);
        }
        let header = BatchHeader {
            base_offset,
            partition_leader_epoch: leader_epoch,
            ..header
        };
        segment.note_batch(position, &header);
        segment.dirty = true;
        Ok(Appended {
            base_offset,
            last_offset: header.last_offset(),
            duplicate: false,
        })
    }

    fn roll(&mut self, base_offset: i64) -> io::Result<()> {
        if let Some(active) = self.segments.last_mut()
            && active.dirty
        {
            active.file.sync_data()?;
            active.dirty = false;
        }
        info!(
            "{}: rolling new segment at offset {base_offset}",
            self.dir.display()
        );
        self.segments.push(Segment::create(&self.dir, base_offset)?);
        sync_dir(&self.dir)
    }

    /// Makes every appended byte durable. Returns whether anything was synced.
    pub fn sync(&mut self) -> io::Result<bool> {
        let mut synced = false;
        for segment in self.segments.iter_mut().filter(|s| s.dirty) {
            segment.file.sync_data()?;
            segment.dirty = false;
            synced = true;
        }
        Ok(synced)
    }

    /// The files of the segments with unsynced appends, marked synced: the caller syncs
    /// them (storage::sync, possibly later through io_uring).
    pub fn take_dirty_files(&mut self) -> Vec<Rc<File>> {
        let dirty = self.segments.iter_mut().filter(|s| s.dirty);
        dirty
            .map(|segment| {
                segment.dirty = false;
                Rc::clone(&segment.file)
            })
            .collect()
    }

    /// The active segment's file and size: where the log ends.
    pub fn end_position(&self) -> Option<(Rc<File>, u64)> {
        let active = self.segments.last()?;
        Some((Rc::clone(&active.file), active.size))
    }

    pub fn is_dirty(&self) -> bool {
        self.segments.iter().any(|s| s.dirty)
    }

    /// The stored bytes to serve a fetch at `offset`: whole batches from the one holding
    /// `offset`, up to `max_bytes` (the last may be cut short, as Kafka does; clients drop
    /// it), but always the whole first batch. `None` when there is nothing at or after
    /// `offset`. The caller checks `offset` is within [log start, log end].
    pub fn read(&self, offset: i64, max_bytes: usize) -> io::Result<Option<FileSlice>> {
        let first = self
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        // A fetch at a segment's end continues in the next one.
        for segment in &self.segments[first..] {
            if let Some(loc) = segment.find(offset)? {
                let available = segment.size - loc.position;
                let len = (max_bytes as u64)
                    .min(available)
                    .max(loc.header.size() as u64);
                return Ok(Some(FileSlice {
                    file: Rc::clone(&segment.file),
                    position: loc.position,
                    len: len as usize,
                }));
            }
        }
        Ok(None)
    }

    /// Bytes available from `offset` to the log end (an upper bound, for long polls).
    pub fn bytes_after(&self, offset: i64) -> u64 {
        if offset >= self.next_offset() {
            return 0;
        }
        let mut total = 0;
        for segment in &self.segments {
            if segment.next_offset <= offset {
                continue;
            }
            let from = segment
                .index_entry_for_offset(offset)
                .map_or(0, |e| e.position);
            total += segment.size - from;
        }
        total
    }

    /// The first offset whose batch has a timestamp at or after `timestamp`, with that
    /// batch's max timestamp; `None` if no batch does.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> io::Result<Option<(i64, i64)>> {
        for segment in &self.segments {
            if segment.max_timestamp < timestamp || segment.index.is_empty() {
                continue;
            }
            // Start at the last index entry whose earlier batches are all older.
            let i = segment
                .index
                .partition_point(|e| e.max_timestamp_before < timestamp);
            let start = segment.index[i.saturating_sub(1)];
            let mut found = None;
            segment.walk(start, |loc| {
                if loc.header.max_timestamp >= timestamp {
                    found = Some(loc);
                    false
                } else {
                    true
                }
            })?;
            if let Some(loc) = found {
                // Records below the log start offset are deleted, even in a kept segment.
                return segment
                    .first_record(loc, |ts| ts >= timestamp)
                    .map(|(offset, ts)| Some((offset.max(self.log_start_offset), ts)));
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the first record holding the largest timestamp.
    pub fn max_timestamp(&self) -> io::Result<Option<(i64, i64)>> {
        let Some(segment) = self
            .segments
            .iter()
            .filter(|s| s.max_timestamp_offset >= 0)
            .max_by_key(|s| s.max_timestamp)
        else {
            return Ok(None);
        };
        let mut head = [0u8; HEADER_BYTES];
        segment
            .file
            .read_exact_at(&mut head, segment.max_timestamp_position)?;
        let header =
            BatchHeader::parse(&head).ok_or_else(|| io::Error::other("bad batch header"))?;
        let loc = BatchLocation {
            position: segment.max_timestamp_position,
            header,
        };
        let max = segment.max_timestamp;
        segment.first_record(loc, |ts| ts == max).map(Some)
    }

    /// Deletes whole segments older than `retention_ms` (by their newest timestamp) or beyond
    /// `retention_bytes`, oldest first, moving the log start offset, as Kafka does: when
    /// every segment is due, the active one included, a new empty segment is rolled first
    /// so the log keeps its end offset. Returns how many were deleted.
    pub fn enforce_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> io::Result<usize> {
        let mut due = 0;
        let mut remaining = self.size_bytes();
        for segment in &self.segments {
            let too_old = retention_ms >= 0
                && segment.max_timestamp >= 0
                && now_ms - segment.max_timestamp > retention_ms;
            let too_big = retention_bytes >= 0
                && remaining.saturating_sub(segment.size) >= retention_bytes as u64;
            if segment.size == 0 || !(too_old || too_big) {
                break;
            }
            remaining -= segment.size;
            due += 1;
        }
        if due == 0 {
            return Ok(0);
        }
        if due == self.segments.len() {
            self.roll(self.next_offset())?;
        }
        for segment in self.segments.drain(..due) {
            info!(
                "{}: retention deletes segment {}",
                self.dir.display(),
                segment.path.display()
            );
            fs::remove_file(&segment.path)?;
        }
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        Ok(due)
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords, or a checkpoint read at
    /// start; never backward, never past the log end) and deletes the segments wholly below
    /// it, as Kafka's log-start-offset breach does: a segment goes when the next one starts at
    /// or before the new start, so the active segment stays. Returns whether the start moved.
    pub fn advance_log_start(&mut self, offset: i64) -> io::Result<bool> {
        let offset = offset.min(self.next_offset());
        let moved = offset > self.log_start_offset;
        if moved {
            self.log_start_offset = offset;
        }
        let due = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].base_offset <= self.log_start_offset)
            .count();
        if due > 0 {
            for segment in self.segments.drain(..due) {
                info!(
                    "{}: deleting segment {} below the log start offset {}",
                    self.dir.display(),
                    segment.path.display(),
                    self.log_start_offset
                );
                fs::remove_file(&segment.path)?;
            }
            sync_dir(&self.dir)?;
        }
        Ok(moved)
    }

    /// Sets the log start offset without deleting anything (the caller then records it and
    /// calls [`PartitionLog::advance_log_start`]); clamped to the first segment and log end.
    pub fn set_log_start_offset(&mut self, offset: i64) {
        let first = self.segments.first().map_or(0, |s| s.base_offset);
        self.log_start_offset = offset.clamp(first, self.next_offset());
    }

    /// The log start offset if the segments alone do not give it (it lies past the first
    /// segment's base offset): what Kafka's `log-start-offset-checkpoint` records.
    pub fn checkpointed_log_start(&self) -> Option<i64> {
        let first = self.segments.first().map_or(0, |s| s.base_offset);
        (self.log_start_offset > first).then_some(self.log_start_offset)
    }

    /// The size at which the active segment rolls (a topic's `segment.bytes` changed).
    pub fn set_segment_bytes_max(&mut self, segment_bytes_max: u64) {
        self.segment_bytes_max = segment_bytes_max;
    }

    /// The headers of every batch in the last `segments` segments, oldest first (for
    /// rebuilding producer state).
    pub fn recent_headers(&self, segments: usize) -> io::Result<Vec<BatchHeader>> {
        let mut out = Vec::new();
        let first = self.segments.len().saturating_sub(segments);
        for segment in &self.segments[first..] {
            if let Some(start) = segment.index.first().copied() {
                segment.walk(start, |loc| {
                    out.push(loc.header);
                    true
                })?;
            }
        }
        Ok(out)
    }

    /// Reads all valid batches' bytes in order (for replaying small internal logs).
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for segment in &self.segments {
            let mut file = File::open(&segment.path)?;
            let mut bytes = Vec::with_capacity(segment.size as usize);
            file.read_to_end(&mut bytes)?;
            bytes.truncate(segment.size as usize);
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}

/// A batch as the cleaner rewrites it (as Kafka's cleaner does): fewer records than its
/// offset range (an idempotent producer's last batch may keep none), the header's last
/// offset delta and sequence intact, a valid CRC.
fn is_cleaned_batch(bytes: &[u8]) -> bool {
    BatchHeader::parse(bytes).is_some_and(|h| {
        h.magic == 2
            && h.records_count >= 0
            && h.last_offset_delta >= 0
            && i64::from(h.records_count) <= i64::from(h.last_offset_delta) + 1
            && h.size() == bytes.len()
            && super::crc32c::crc32c(&bytes[21..]) == h.crc
    })
}

/// What the cleaner needs to know of a segment without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    pub base_offset: i64,
    pub size: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
}

/// The file a cleaned copy of segment `base_offset` is written to, beside the original.
pub fn cleaned_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log.cleaned")
}

impl PartitionLog {
    /// Every segment, oldest first (the last is the active one).
    pub fn segment_summaries(&self) -> Vec<SegmentSummary> {
        self.segments
            .iter()
            .map(|s| SegmentSummary {
                base_offset: s.base_offset,
                size: s.size,
                next_offset: s.next_offset,
                max_timestamp: s.max_timestamp,
            })
            .collect()
    }

    fn segment_at(&self, base_offset: i64) -> Option<&Segment> {
        let i = self
            .segments
            .binary_search_by_key(&base_offset, |s| s.base_offset)
            .ok()?;
        self.segments.get(i)
    }

    /// The whole batch at `position` of segment `base_offset` into `out` (cleared first);
    /// false at the segment's end, or if the segment is gone (retention deleted it).
    pub fn read_batch_at(
        &self,
        base_offset: i64,
        position: u64,
        out: &mut Vec<u8>,
    ) -> io::Result<bool> {
        out.clear();
        let Some(segment) = self.segment_at(base_offset) else {
            return Ok(false);
        };
        if position + HEADER_BYTES as u64 > segment.size {
            return Ok(false);
        }
        let mut head = [0u8; HEADER_BYTES];
        segment.file.read_exact_at(&mut head, position)?;
        let header =
            BatchHeader::parse(&head).ok_or_else(|| io::Error::other("bad batch header"))?;
        if position + header.size() as u64 > segment.size {
            return Err(io::Error::other("batch runs past its segment"));
        }
        out.resize(header.size(), 0);
        segment.file.read_exact_at(out, position)?;
        Ok(true)
    }

    /// The max timestamp of segment `base_offset`'s first batch (what Kafka's
    /// `max.compaction.lag.ms` measures from), if it has one.
    pub fn first_batch_timestamp(&self, base_offset: i64) -> io::Result<Option<i64>> {
        let Some(segment) = self.segment_at(base_offset) else {
            return Ok(None);
        };
        if segment.size < HEADER_BYTES as u64 {
            return Ok(None);
        }
        let mut head = [0u8; HEADER_BYTES];
        segment.file.read_exact_at(&mut head, 0)?;
        Ok(BatchHeader::parse(&head).map(|h| h.max_timestamp))
    }

    /// Swaps in the cleaned copy of segment `base_offset` (written and synced at `cleaned`,
    /// beside it) in Kafka's way: renamed to `.swap`, then over the original `.log`, the
    /// directory synced after each rename; a crash leaves the original, or a `.swap` that
    /// [`PartitionLog::open`] completes. A cleaned copy with nothing left replaces a segment
    /// other than the first by removing it. The active segment is never swapped.
    pub fn install_cleaned(&mut self, base_offset: i64, cleaned: &Path) -> io::Result<()> {
        let i = self
            .segments
            .binary_search_by_key(&base_offset, |s| s.base_offset)
            .map_err(|_| io::Error::other("the cleaned segment is gone"))?;
        if i + 1 == self.segments.len() {
            return Err(io::Error::other("the active segment is never cleaned"));
        }
        let path = self.segments[i].path.clone();
        if i > 0 && fs::metadata(cleaned)?.len() == 0 {
            fs::remove_file(&path)?;
            fs::remove_file(cleaned)?;
            sync_dir(&self.dir)?;
            self.segments.remove(i);
            return Ok(());
        }
        // The cleaned file's bytes are synced: from here a crash leaves the original (and a
        // `.cleaned` that opening removes), or a `.swap` that opening renames over it, or the
        // cleaned segment. One directory sync makes the outcome durable.
        let swap = path.with_extension("log.swap");
        fs::rename(cleaned, &swap)?;
        fs::rename(&swap, &path)?;
        sync_dir(&self.dir)?;
        self.segments[i] = Segment::open(&path, base_offset, false)?;
        Ok(())
    }
}

/// Completes or undoes what a crash interrupted in the cleaner's swap, as Kafka's log
/// loader does: a `.cleaned` file is an unfinished copy (removed); a `.swap` file is a whole,
/// synced cleaned segment (renamed over its original).
fn recover_swaps(dir: &Path) -> io::Result<()> {
    let mut changed = false;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".log.cleaned") {
            warn!("{}: removing an unfinished cleaned segment", path.display());
            fs::remove_file(&path)?;
            changed = true;
        } else if let Some(stem) = name.strip_suffix(".log.swap") {
            warn!("{}: completing an interrupted swap", path.display());
            fs::rename(&path, dir.join(format!("{stem}.log")))?;
            changed = true;
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a directory's entries (new or removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::build;
    use crate::storage::test_dir;

    fn batch_of(values: usize, size: usize, ts: i64) -> Vec<u8> {
        build(0, 0, ts, &vec![vec![7u8; size]; values])
    }

    #[test]
    fn append_assigns_offsets_and_reads_back() {
        let dir = test_dir("log-append");
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        let a = log.append(&mut batch_of(3, 10, 100), 0).unwrap();
        let b = log.append(&mut batch_of(2, 10, 200), 0).unwrap();
        assert_eq!((a.base_offset, a.last_offset), (0, 2));
        assert_eq!((b.base_offset, b.last_offset), (3, 4));
        assert_eq!(log.next_offset(), 5);
        let slice = log.read(4, 1 << 20).unwrap().unwrap();
        let mut out = Vec::new();
        slice.write_to(&mut out).unwrap();
        let header = batch::validate(&out).unwrap();
        assert_eq!(header.base_offset, 3);
        assert!(log.read(5, 100).unwrap().is_none());
        // Records carry the batch's base timestamp (deltas 0): the first of the batch.
        assert_eq!(log.offset_for_timestamp(150).unwrap(), Some((3, 200)));
        assert_eq!(log.offset_for_timestamp(300).unwrap(), None);
        assert_eq!(log.max_timestamp().unwrap(), Some((3, 200)));
    }

    #[test]
    fn file_slice_source_appends_its_bytes_or_zeros() {
        let dir = test_dir("log-source");
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        log.append(&mut batch_of(1, 10, 100), 0).unwrap();
        let slice = log.read(0, 1 << 20).unwrap().unwrap();
        let mut out = vec![9];
        slice.append_to(&mut out);
        assert_eq!(&out[1..], &log.read_all().unwrap()[..]);
        // A slice past the end of its file reads short: the promised length in zeros.
        let past = FileSlice {
            position: slice.len as u64,
            ..slice
        };
        let mut out = vec![9];
        past.append_to(&mut out);
        assert_eq!(out.len(), 1 + past.len);
        assert!(out[1..].iter().all(|&b| b == 0));
    }

    /// Every offset of a log of small and large batches (index entries 4 KiB apart, the
    /// walk buffer refilled past them) reads back the same bytes whichever way `write_to`
    /// reads: into spare capacity that fits the slice, into spare capacity up to
    /// READ_SLACK_BYTES larger (the surplus read is dropped), or over zeros when the spare
    /// capacity is larger still; and a cut slice ends where it was cut.
    #[test]
    fn reads_find_every_batch_and_copy_exactly_the_slice() {
        let dir = test_dir("log-read-paths");
        let mut log = PartitionLog::open(&dir, 1 << 30).unwrap();
        let mut starts = Vec::new();
        for i in 0..60 {
            let size = if i % 7 == 3 { 9000 } else { 30 + i * 13 };
            let appended = log
                .append(&mut batch_of(1 + i % 3, size, i as i64), 0)
                .unwrap();
            starts.push(appended.base_offset);
        }
        let all = log.read_all().unwrap();
        for offset in 0..log.next_offset() {
            let base = *starts.iter().rev().find(|&&b| b <= offset).unwrap();
            for max_bytes in [1, 5000, 1 << 20] {
                let slice = log.read(offset, max_bytes).unwrap().unwrap();
                let expected = &all[slice.position as usize..][..slice.len];
                assert_eq!(BatchHeader::parse(expected).unwrap().base_offset, base);
                assert!(slice.len >= BatchHeader::parse(expected).unwrap().size());
                for spare in [0, READ_SLACK_BYTES, 4 * READ_SLACK_BYTES] {
                    let mut out = Vec::with_capacity(3 + slice.len + spare);
                    out.extend_from_slice(b"abc");
                    slice.write_to(&mut out).unwrap();
                    assert_eq!(&out[..3], b"abc");
                    assert_eq!(&out[3..], expected, "offset {offset}, spare {spare}");
                }
            }
        }
    }

    /// An uncompressed batch whose records are `delta` ms apart from `base_ts`.
    fn spaced_batch(count: i32, base_ts: i64, delta: i64) -> Vec<u8> {
        use crate::protocol::codec::Writer;
        let mut out = build(0, 0, base_ts, &[]);
        out.truncate(HEADER_BYTES);
        out[23..27].copy_from_slice(&(count - 1).to_be_bytes());
        out[35..43].copy_from_slice(&(base_ts + delta * i64::from(count - 1)).to_be_bytes());
        out[57..61].copy_from_slice(&count.to_be_bytes());
        for i in 0..count {
            let mut record = Vec::new();
            Writer::new(&mut record)
                .i8(0)
                .varlong(delta * i64::from(i))
                .varint(i)
                .varint(-1)
                .varint(1)
                .raw(b"v")
                .varint(0);
            let len = record.len() as i32;
            Writer::new(&mut out).varint(len).raw(&record);
        }
        let len = (out.len() - LOG_OVERHEAD) as i32;
        out[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crate::storage::crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }

    #[test]
    fn timestamp_search_finds_the_record_not_just_the_batch() {
        let dir = test_dir("log-timestamps");
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        log.append(&mut spaced_batch(10, 1000, 10), 0).unwrap(); // offsets 0-9, ts 1000..1090
        log.append(&mut spaced_batch(10, 2000, 10), 0).unwrap(); // offsets 10-19, ts 2000..2090
        assert_eq!(log.offset_for_timestamp(1035).unwrap(), Some((4, 1040)));
        assert_eq!(log.offset_for_timestamp(1000).unwrap(), Some((0, 1000)));
        assert_eq!(log.offset_for_timestamp(1091).unwrap(), Some((10, 2000)));
        assert_eq!(log.offset_for_timestamp(2090).unwrap(), Some((19, 2090)));
        assert_eq!(log.offset_for_timestamp(2091).unwrap(), None);
        assert_eq!(log.max_timestamp().unwrap(), Some((19, 2090)));
    }

    #[test]
    fn timestamp_search_reads_inside_compressed_batches() {
        let dir = test_dir("log-timestamps-compressed");
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        for (codec, base_ts) in [(1i16, 1000), (2, 2000), (3, 3000), (4, 4000)] {
            let plain = spaced_batch(10, base_ts, 10);
            let compressed = records::build::compress(codec, &plain[HEADER_BYTES..]);
            let mut batch = [&plain[..HEADER_BYTES], &compressed].concat();
            batch[21..23].copy_from_slice(&codec.to_be_bytes());
            let len = (batch.len() - LOG_OVERHEAD) as i32;
            batch[8..12].copy_from_slice(&len.to_be_bytes());
            let crc = crate::storage::crc32c::crc32c(&batch[21..]);
            batch[17..21].copy_from_slice(&crc.to_be_bytes());
            log.append(&mut batch, 0).unwrap();
        }
        assert_eq!(log.offset_for_timestamp(1035).unwrap(), Some((4, 1040)));
        assert_eq!(log.offset_for_timestamp(2001).unwrap(), Some((11, 2010)));
        assert_eq!(log.offset_for_timestamp(3090).unwrap(), Some((29, 3090)));
        assert_eq!(log.offset_for_timestamp(3091).unwrap(), Some((30, 4000)));
        assert_eq!(log.offset_for_timestamp(4055).unwrap(), Some((36, 4060)));
    }

    #[test]
    fn first_batch_is_whole_even_over_max_bytes() {
        let dir = test_dir("log-max-bytes");
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        let batch = batch_of(1, 1000, 0);
        log.append(&mut batch.clone(), 0).unwrap();
        log.append(&mut batch.clone(), 0).unwrap();
        assert_eq!(log.read(0, 10).unwrap().unwrap().len, batch.len());
        assert_eq!(log.read(0, 1500).unwrap().unwrap().len, 1500);
    }

    #[test]
    fn segments_roll_and_reopen() {
        let dir = test_dir("log-roll");
        {
            let mut log = PartitionLog::open(&dir, 2500).unwrap();
            for _ in 0..10 {
                log.append(&mut batch_of(1, 1000, 0), 0).unwrap();
            }
            log.sync().unwrap();
        }
        let log = PartitionLog::open(&dir, 2500).unwrap();
        assert_eq!(log.next_offset(), 10);
        assert_eq!(log.segments.len(), 5);
        assert!(dir.join("00000000000000000004.log").exists());
        for offset in 0..10 {
            let slice = log.read(offset, 10).unwrap().unwrap();
            let mut out = Vec::new();
            slice.write_to(&mut out).unwrap();
            assert_eq!(batch::validate(&out).unwrap().base_offset, offset);
        }
    }

    #[test]
    fn torn_tail_is_truncated_on_open() {
        let dir = test_dir("log-torn");
        let good;
        {
            let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
            log.append(&mut batch_of(2, 50, 0), 0).unwrap();
            good = log.size_bytes();
            log.sync().unwrap();
        }
        let path = dir.join("00000000000000000000.log");
        let mut torn = batch_of(1, 50, 0);
        torn.truncate(40);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();
        let log = PartitionLog::open(&dir, 1 << 20).unwrap();
        assert_eq!(log.size_bytes(), good);
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        assert_eq!(log.next_offset(), 2);
        // A whole batch with a bad CRC is cut too.
        let mut bad = batch_of(1, 50, 0);
        *bad.last_mut().unwrap() ^= 0xff;
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&bad)
            .unwrap();
        let log = PartitionLog::open(&dir, 1 << 20).unwrap();
        assert_eq!(log.size_bytes(), good);
    }

    #[test]
    fn retention_by_bytes_moves_log_start() {
        let dir = test_dir("log-retention");
        let mut log = PartitionLog::open(&dir, 1100).unwrap();
        for _ in 0..5 {
            log.append(&mut batch_of(1, 1000, 0), 0).unwrap();
        }
        // Kafka's rule: drop the oldest while what remains is still at least the limit.
        assert_eq!(log.enforce_retention(0, -1, 2500).unwrap(), 2);
        assert_eq!(log.log_start_offset(), 2);
        assert!(!dir.join("00000000000000000000.log").exists());
        // Every remaining segment is past retention.ms, the active one too: a new empty
        // segment is rolled at the log end and the old ones go.
        assert_eq!(log.enforce_retention(10_000, 5000, -1).unwrap(), 3);
        assert_eq!((log.log_start_offset(), log.next_offset()), (5, 5));
        assert!(dir.join("00000000000000000005.log").exists());
        assert_eq!(log.enforce_retention(10_000, 5000, -1).unwrap(), 0);
    }
}
