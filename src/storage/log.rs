//! One partition's log in Kafka's layout: segment files named by their 20-digit base offset,
//! holding record batches back to back, exactly as produced (only baseOffset and
//! partitionLeaderEpoch are set by us). Invariants: every byte in a segment up to its size is
//! a whole, CRC-valid batch (recovery truncates anything else); offsets increase across
//! segments; only the last segment is appended to.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use log::{error, info, warn};

use super::batch::{self, BatchHeader, HEADER_BYTES, LOG_OVERHEAD};
use super::index::{
    self, INDEX_INTERVAL_BYTES, IndexSettings, OFFSET_INDEX_SUFFIX, SegmentIndex, TIME_INDEX_SUFFIX,
};
use super::leader_epoch;
use super::open_files::ClosedFile;
use super::records;
use super::recovery::{self, Corruption};
use crate::protocol::wire::{FileBytes, RecordSource};
/// The buffer `Segment::walk` reads batch headers into: an index interval (Kafka's default;
/// a topic with a larger `index.interval.bytes` refills it within an interval) and a header.
const WALK_BUF_BYTES: usize = INDEX_INTERVAL_BYTES as usize + HEADER_BYTES;
/// Spare capacity beyond a slice's length that `FileSlice::write_to` reads into anyway
/// (the surplus is read from the file, then dropped); with more, it zero-fills instead.
const READ_SLACK_BYTES: usize = 64 << 10;
/// Slices at least this long go to a plain TCP client by `sendfile`, straight from the page
/// cache; shorter ones are copied into the response (a copy is cheaper than the call).
const SEND_FILE_MIN_BYTES: usize = 64 << 10;

/// A byte range of a segment file, to be copied to a client without parsing.
#[derive(Debug, Clone)]
pub struct FileSlice {
    pub file: Rc<File>,
    /// The base offset of the segment the slice lies in.
    pub segment: i64,
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

    fn file_bytes(&self) -> Option<Box<dyn FileBytes>> {
        (self.len >= SEND_FILE_MIN_BYTES).then(|| Box::new(self.clone()) as Box<dyn FileBytes>)
    }
}

/// A large slice is sent by the kernel from the page cache to the socket. The bytes are
/// those the slice named when the response was built: a segment's bytes below its size
/// never change while its file is open (appends go after them; the cleaner and retention
/// replace or unlink files, and `file` keeps the old one readable).
impl FileBytes for FileSlice {
    fn len(&self) -> usize {
        self.len
    }

    fn send_to(&self, socket: std::os::fd::BorrowedFd<'_>, from: usize) -> io::Result<usize> {
        let mut at = self.position + from as u64;
        let count = self.len.saturating_sub(from);
        loop {
            match rustix::fs::sendfile(socket, &*self.file, Some(&mut at), count) {
                // The file ended before the slice did: it was cut short under us.
                Ok(0) if count > 0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("sent {from} of {} bytes", self.len),
                    ));
                }
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn copy_to(&self, from: usize, out: &mut Vec<u8>) {
        let rest = FileSlice {
            file: Rc::clone(&self.file),
            segment: self.segment,
            position: self.position + from as u64,
            len: self.len.saturating_sub(from),
        };
        RecordSource::append_to(&rest, out);
    }
}

/// Spans of a segment read back and CRC-checked before being served (see
/// [`PartitionLog::read`]); at most this many are remembered (sequential reads merge into
/// one).
const VERIFIED_SPANS_MAX: usize = 16;

struct Segment {
    base_offset: i64,
    path: PathBuf,
    /// The active segment's `.log`, open for appends; `None` once the segment is closed.
    active: Option<Rc<File>>,
    /// A closed segment's `.log`, opened on demand within the bound of `open_files`.
    closed: ClosedFile,
    size: u64,
    /// The offset after the last batch in this segment.
    next_offset: i64,
    /// The `.index` and `.timeindex` files (only their last entries in memory).
    index: SegmentIndex,
    /// The largest batch timestamp, and the last offset of the first batch holding it (as
    /// Kafka's `maxTimestampAndOffsetSoFar`).
    max_timestamp: i64,
    max_timestamp_offset: i64,
    dirty: bool,
    /// The first batch's largest timestamp (Kafka's `rollingBasedTimestamp`, which
    /// `segment.ms` counts from), once known: noted with the first batch, or read from
    /// the file when a segment opened from its index files is appended to.
    first_max_timestamp: Option<i64>,
    /// When this segment was created or opened (the clock `segment.ms` uses when the first
    /// batch has no timestamp, as Kafka's `created`).
    opened: std::time::Instant,
    /// Bytes from here on were CRC-checked in this run (scanned at open, or appended).
    verified_from: u64,
    /// Spans below `verified_from` checked when first served.
    verified: RefCell<Vec<(u64, u64)>>,
}

/// Where a batch lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLocation {
    pub position: u64,
    pub header: BatchHeader,
}

/// How a segment's scan at open ended.
enum ScanEnd {
    Whole,
    /// Something other than a whole valid batch at `position`.
    Stopped {
        position: u64,
    },
}

impl Segment {
    /// The segment's `.log`: the active one's, or a closed one's opened on demand.
    fn file(&self) -> io::Result<Rc<File>> {
        match &self.active {
            Some(file) => Ok(Rc::clone(file)),
            None => self.closed.get(),
        }
    }

    fn file_name(base_offset: i64) -> String {
        format!("{base_offset:020}.log")
    }

    fn create(dir: &Path, base_offset: i64, settings: IndexSettings) -> io::Result<Segment> {
        let path = dir.join(Self::file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let index = SegmentIndex::create(dir, base_offset, settings)?;
        Ok(Segment::with(path, file, base_offset, index))
    }

    fn with(path: PathBuf, file: File, base_offset: i64, index: SegmentIndex) -> Segment {
        Segment {
            base_offset,
            closed: ClosedFile::new(path.clone()),
            path,
            active: Some(Rc::new(file)),
            size: 0,
            next_offset: base_offset,
            index,
            max_timestamp: -1,
            max_timestamp_offset: -1,
            dirty: false,
            first_max_timestamp: None,
            opened: std::time::Instant::now(),
            verified_from: 0,
            verified: RefCell::new(Vec::new()),
        }
    }

    /// Opens a segment from its index files without reading its batches (a closed segment
    /// after a clean stop, or one below the recovery point): its size is the file's, its
    /// largest timestamp the time index's last entry, its next offset found by walking the
    /// headers after the last offset index entry. `None` if the index files are missing or
    /// implausible, or the walk does not end exactly at the file's end: then it is scanned.
    fn load(dir: &Path, path: &Path, base_offset: i64) -> io::Result<Option<Segment>> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let Some(index) = SegmentIndex::load(dir, base_offset, size)? else {
            return Ok(None);
        };
        let (max_timestamp, max_timestamp_offset) = index.last_time_entry().unwrap_or((-1, -1));
        let mut segment = Segment::with(path.to_path_buf(), file, base_offset, index);
        segment.size = size;
        segment.verified_from = size;
        segment.max_timestamp = max_timestamp;
        segment.max_timestamp_offset = max_timestamp_offset;
        let mut position = segment.index.last_position();
        let file = segment.file()?;
        let mut head = [0u8; HEADER_BYTES];
        while position < size {
            if position + HEADER_BYTES as u64 > size {
                return Ok(None);
            }
            file.read_exact_at(&mut head, position)?;
            let Some(h) = BatchHeader::parse(&head) else {
                return Ok(None);
            };
            if h.magic != 2 || h.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32 {
                return Ok(None);
            }
            segment.next_offset = h.last_offset() + 1;
            position += h.size() as u64;
        }
        if position != size {
            return Ok(None);
        }
        Ok(Some(segment))
    }

    /// Opens a segment by reading every batch, CRC-checking each and rebuilding its index
    /// files; stops at the first thing that is not a whole valid batch (nothing is
    /// truncated here: the caller decides, see `recovery`).
    fn scan(
        dir: &Path,
        path: &Path,
        base_offset: i64,
        settings: IndexSettings,
    ) -> io::Result<(Segment, ScanEnd)> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        let file_len = file.metadata()?.len();
        let index = SegmentIndex::rebuild(dir, base_offset, settings);
        let mut segment = Segment::with(path.to_path_buf(), file, base_offset, index);
        let mut position = 0u64;
        let mut chunk = Vec::new();
        let file = segment.file()?;
        while position < file_len {
            let mut head = [0u8; HEADER_BYTES];
            let available = (file_len - position).min(HEADER_BYTES as u64) as usize;
            file.read_exact_at(&mut head[..available], position)?;
            let Some(header) = BatchHeader::parse(&head[..available]) else {
                return Ok((segment, ScanEnd::Stopped { position }));
            };
            let size = header.size() as u64;
            if header.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32
                || position + size > file_len
            {
                return Ok((segment, ScanEnd::Stopped { position }));
            }
            chunk.resize(size as usize, 0);
            file.read_exact_at(&mut chunk, position)?;
            if !recovery::batch_is_valid(&chunk) {
                return Ok((segment, ScanEnd::Stopped { position }));
            }
            segment.note_batch(position, &header);
            position += size;
        }
        Ok((segment, ScanEnd::Whole))
    }

    /// Records a batch appended (or found) at `position` in the index and offsets.
    fn note_batch(&mut self, position: u64, header: &BatchHeader) {
        if position == 0 {
            self.first_max_timestamp = Some(header.max_timestamp);
        }
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.max_timestamp_offset = header.last_offset();
        }
        self.next_offset = header.last_offset() + 1;
        self.size = position + header.size() as u64;
        self.index.note_batch(
            position,
            header,
            self.max_timestamp,
            self.max_timestamp_offset,
        )
    }

    /// How long a batch whose largest timestamp is `timestamp` comes after this segment's
    /// first batch, as Kafka's `LogSegment.timeWaitedForRoll` measures it: by the batches'
    /// timestamps, or by the wall clock since the segment was opened when the first batch
    /// has none.
    fn time_waited_for_roll(&mut self, timestamp: i64) -> io::Result<i64> {
        if self.first_max_timestamp.is_none() && self.size >= HEADER_BYTES as u64 {
            let mut head = [0u8; HEADER_BYTES];
            self.file()?.read_exact_at(&mut head, 0)?;
            self.first_max_timestamp = BatchHeader::parse(&head).map(|h| h.max_timestamp);
        }
        Ok(match self.first_max_timestamp {
            Some(first) if first >= 0 => timestamp.saturating_sub(first),
            _ => i64::try_from(self.opened.elapsed().as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// The segment stops being active: its index files are trimmed and synced.
    fn close_index(&mut self) -> io::Result<()> {
        self.index
            .close(self.max_timestamp, self.max_timestamp_offset)
    }

    /// Where to start walking for `offset`: the offset index's answer, unless it lies
    /// outside the segment (then the segment's start).
    fn start_for(&self, offset: i64) -> io::Result<u64> {
        let position = self.index.lookup_offset(offset)?;
        Ok(if position < self.size { position } else { 0 })
    }

    /// Calls `visit` for each batch header from `start` until it returns false or the
    /// segment ends. Headers are read into a buffer on the stack that holds an index
    /// interval and one header: every batch that starts before the next index entry is in
    /// it, so finding a fetch's first batch takes one read of about 4 KiB. After a batch
    /// larger than the buffer only the next header is read (a walk over large batches
    /// reads their headers, not their records); `headers_only` starts that way.
    fn walk(
        &self,
        start: u64,
        headers_only: bool,
        mut visit: impl FnMut(BatchLocation) -> bool,
    ) -> io::Result<()> {
        let file = self.file()?;
        let mut buf = [0u8; WALK_BUF_BYTES];
        let mut position = start;
        let mut buf_start = position;
        let mut buf_len = 0usize;
        let mut jumped = headers_only;
        while position + HEADER_BYTES as u64 <= self.size {
            let offset_in_buf = (position - buf_start) as usize;
            if offset_in_buf + HEADER_BYTES > buf_len {
                // At least HEADER_BYTES remain (the loop's condition), so a refill makes
                // progress.
                let want = if jumped { HEADER_BYTES } else { WALK_BUF_BYTES };
                buf_start = position;
                buf_len = ((self.size - position) as usize).min(want);
                file.read_exact_at(&mut buf[..buf_len], position)?;
                continue;
            }
            let Some(header) = BatchHeader::parse(&buf[offset_in_buf..buf_len]) else {
                break;
            };
            if header.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32 {
                break;
            }
            if !visit(BatchLocation { position, header }) {
                break;
            }
            position += header.size() as u64;
            jumped = header.size() > WALK_BUF_BYTES;
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
        self.file()?.read_exact_at(&mut bytes, loc.position)?;
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

    /// The batch holding `offset`, or the first batch after it.
    fn find(&self, offset: i64) -> io::Result<Option<BatchLocation>> {
        let mut found = None;
        self.walk(self.start_for(offset)?, false, |loc| {
            if loc.header.last_offset() >= offset {
                found = Some(loc);
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }

    /// Checks the whole batches in `[position, position + len)` before they are served,
    /// unless this run already checked them: a byte flipped at rest is caught here at the
    /// latest. Returns where a bad batch starts, if one does.
    fn verify_span(&self, position: u64, len: u64) -> io::Result<Option<u64>> {
        let end = (position + len).min(self.verified_from);
        if position >= end
            || self
                .verified
                .borrow()
                .iter()
                .any(|&(from, to)| from <= position && end <= to)
        {
            return Ok(None);
        }
        let mut bytes = vec![0u8; (end - position) as usize];
        self.file()?.read_exact_at(&mut bytes, position)?;
        let mut at = 0usize;
        while let Some(header) = bytes.get(at..).and_then(BatchHeader::parse) {
            let Some(batch) = bytes.get(at..at + header.size()) else {
                break; // cut short by the fetch's size: the client drops it, unchecked
            };
            if header.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32
                || !recovery::batch_is_valid(batch)
            {
                return Ok(Some(position + at as u64));
            }
            at += header.size();
        }
        if at == 0 && end - position >= HEADER_BYTES as u64 {
            return Ok(Some(position));
        }
        let mut spans = self.verified.borrow_mut();
        let (from, to) = (position, position + at as u64);
        // Merge with every span it touches; keep the most recent few.
        let (mut lo, mut hi) = (from, to);
        spans.retain(|&(a, b)| {
            let touches = a <= to && from <= b;
            if touches {
                lo = lo.min(a);
                hi = hi.max(b);
            }
            !touches
        });
        spans.push((lo, hi));
        if spans.len() > VERIFIED_SPANS_MAX {
            spans.remove(0);
        }
        Ok(None)
    }

    /// Every file of this segment, renamed `<name>.deleted` as Kafka's
    /// `LogSegment.changeFileSuffixes` does: the caller removes them after
    /// `file.delete.delay.ms` (see [`PartitionLog::take_deleted_files`]). Returns the new
    /// paths.
    fn schedule_deletion(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut renamed = Vec::new();
        for suffix in SEGMENT_FILE_SUFFIXES {
            let path = index::segment_file(dir, self.base_offset, suffix);
            let mut deleted = path.clone().into_os_string();
            deleted.push(DELETED_SUFFIX);
            match fs::rename(&path, &deleted) {
                Ok(()) => renamed.push(PathBuf::from(deleted)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(renamed)
    }
}

/// Kafka's suffix of a segment file waiting for `file.delete.delay.ms` before removal.
pub const DELETED_SUFFIX: &str = ".deleted";

/// The suffixes of every file that belongs to a segment (`<base offset>` plus one of these):
/// removed together, always through [`remove_segment_files`].
pub const SEGMENT_FILE_SUFFIXES: &[&str] = &[
    ".log",
    OFFSET_INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    super::txn::TXN_INDEX_SUFFIX,
];

/// Removes every file of segment `base_offset` in `dir` (those that exist).
pub fn remove_segment_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    for suffix in SEGMENT_FILE_SUFFIXES {
        match fs::remove_file(index::segment_file(dir, base_offset, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a segment's index files only (they no longer describe it: it is being replaced,
/// or found corrupt), so the next open rebuilds them.
fn remove_index_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        match fs::remove_file(index::segment_file(dir, base_offset, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How much of a partition's log an open reads and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// After a clean stop: every segment from its index files (a segment whose index files
    /// are missing or implausible is scanned).
    Trusted,
    /// After an unclean stop: segments from the one holding this recovery point on are
    /// scanned and CRC-checked, those before it loaded from their index files.
    From(i64),
}

impl Recovery {
    /// Every segment scanned (internal logs, replayed whole anyway; unit tests).
    pub const ALL: Recovery = Recovery::From(i64::MIN);
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
    /// The topic's `segment.ms` (never, until the storage sets it).
    segment_ms: i64,
    /// Files of removed segments, renamed `.deleted`, not yet handed to the storage's
    /// delayed removal.
    deleted_files: Vec<PathBuf>,
    /// Set when corruption was found (at open, or when a batch was about to be served):
    /// the partition is offline, nothing is appended, served or deleted until a repair.
    corruption: RefCell<Option<Corruption>>,
    /// Every offset below it is durable and was checked (Kafka's recovery point): the log
    /// end after an open, the new segment's base offset after a roll (the old one is
    /// synced first).
    recovery_point: i64,
    /// `leader-epoch-checkpoint`'s entries: (epoch, start offset).
    epochs: Vec<(i32, i64)>,
    /// The topic's `index.interval.bytes` and `segment.index.bytes`, for segments
    /// created (or made active) from now on.
    index_settings: IndexSettings,
}

/// The leading bytes of a batch that hold what the log assigns (`batch::assign`: the base
/// offset, bytes 0-8, and the partition leader epoch, bytes 12-16).
const ASSIGNED_BYTES: usize = 16;

/// Writes `head` then `rest` at the file's end, in one `writev` unless it comes up short.
fn write_all_vectored(file: &File, head: &[u8], rest: &[u8]) -> io::Result<()> {
    let mut file = file;
    let mut written = 0;
    let total = head.len() + rest.len();
    while written < total {
        let n = if written < head.len() {
            let slices = [io::IoSlice::new(&head[written..]), io::IoSlice::new(rest)];
            file.write_vectored(&slices)
        } else {
            file.write(&rest[written - head.len()..])
        };
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl PartitionLog {
    /// Opens (or creates) the partition directory and recovers its segments, checking
    /// every one of them (see [`PartitionLog::open_with`]).
    pub fn open(dir: &Path, segment_bytes_max: u64) -> io::Result<PartitionLog> {
        PartitionLog::open_with(dir, segment_bytes_max, Recovery::ALL)
    }

    /// Opens (or creates) the partition directory and recovers its segments as `recovery`
    /// says: segments it trusts are loaded from their index files; the others are read,
    /// CRC-checked batch by batch and their index files rebuilt. A torn tail of the last
    /// segment is truncated; corruption deletes nothing and leaves the partition offline
    /// (one ERROR line names the file, byte position and offset; see `recovery`).
    pub fn open_with(
        dir: &Path,
        segment_bytes_max: u64,
        recovery: Recovery,
    ) -> io::Result<PartitionLog> {
        PartitionLog::open_indexed(dir, segment_bytes_max, recovery, IndexSettings::default())
    }

    /// [`PartitionLog::open_with`] for a topic with its own index settings: segments it
    /// scans get index entries `index.interval.bytes` apart, and the active segment's
    /// index files are `segment.index.bytes` long.
    pub fn open_indexed(
        dir: &Path,
        segment_bytes_max: u64,
        recovery: Recovery,
        index_settings: IndexSettings,
    ) -> io::Result<PartitionLog> {
        fs::create_dir_all(dir)?;
        recover_swaps(dir)?;
        let bases = recovery::segment_bases(dir)?;
        // The first segment scanned: the one holding the recovery point (Kafka's
        // `logSegments(recoveryPoint, ...)`), and every later one.
        let first_scanned = match recovery {
            Recovery::Trusted => bases.len(),
            Recovery::From(point) => bases.partition_point(|&b| b <= point).saturating_sub(1),
        };
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut corruption = None;
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(Segment::file_name(base));
            let last = i + 1 == bases.len();
            let loaded = if i < first_scanned {
                Segment::load(dir, &path, base)?
            } else {
                None
            };
            let mut segment = match loaded {
                Some(segment) => segment,
                None => {
                    let (segment, end) = Segment::scan(dir, &path, base, index_settings)?;
                    if let ScanEnd::Stopped { position } = end {
                        let file = segment.file()?;
                        let file_len = file.metadata()?.len();
                        match recovery::classify(&file, position, file_len, last)? {
                            recovery::Stop::Torn => {
                                warn!(
                                    "{}: truncating {} bytes of a torn write at position {position}",
                                    path.display(),
                                    file_len - position
                                );
                                file.set_len(position)?;
                                file.sync_all()?;
                            }
                            recovery::Stop::Corrupt { .. } => {
                                corruption = Some(corruption_at(&segment, position)?);
                            }
                        }
                    }
                    // Not synced here: `Storage::open` syncs the file system once before
                    // it records the recovery points.
                    segment
                }
            };
            if corruption.is_some() {
                // Its index files were rebuilt only up to the corruption: never trusted.
                drop(segment.index.close(-1, -1));
                remove_index_files(dir, base)?;
                segments.push(segment);
                break;
            }
            if last {
                segment.index.reopen(index_settings)?;
            } else {
                segment.close_index()?;
                segment.active = None;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0, index_settings)?);
            sync_dir(dir)?;
        }
        let log_start_offset = segments[0].base_offset;
        let log = PartitionLog {
            dir: dir.to_path_buf(),
            segments,
            log_start_offset,
            segment_bytes_max,
            segment_ms: i64::MAX,
            deleted_files: Vec::new(),
            corruption: RefCell::new(None),
            recovery_point: 0,
            epochs: leader_epoch::load(dir),
            index_settings,
        };
        let end = log.next_offset();
        let mut log = log;
        log.recovery_point = end;
        if log.epochs.iter().any(|&(_, start)| start > end) {
            log.epochs.retain(|&(_, start)| start <= end);
            leader_epoch::write(dir, &log.epochs)?;
        }
        if let Some(found) = corruption {
            log.go_offline(found);
        }
        Ok(log)
    }

    /// Marks the partition offline for `found`, logging it once.
    fn go_offline(&self, found: Corruption) {
        let mut corruption = self.corruption.borrow_mut();
        if corruption.is_none() {
            error!(
                "{found}; partition {} is offline (KAFKA_STORAGE_ERROR), nothing was deleted; \
                 stop the broker and run `kafka-broker --repair <server.properties>`",
                self.dir.display()
            );
            *corruption = Some(found);
        }
    }

    /// Where the log was found corrupt, if it was: the partition is offline.
    pub fn corruption(&self) -> Option<Corruption> {
        self.corruption.borrow().clone()
    }

    pub fn is_offline(&self) -> bool {
        self.corruption.borrow().is_some()
    }

    /// This node leads the partition in `epoch` (it was created, or a start found its epoch
    /// in the metadata log): a newer epoch starts at the log end in `leader-epoch-checkpoint`.
    /// A failed write is a WARN (a full disk): the file only records history.
    pub fn assign_epoch(&mut self, epoch: i32) {
        if self.epochs.last().is_some_and(|&(last, _)| last >= epoch) || self.is_offline() {
            return;
        }
        self.epochs.push((epoch, self.next_offset()));
        if let Err(e) = leader_epoch::write(&self.dir, &self.epochs) {
            warn!("{}: {}: {e}", self.dir.display(), leader_epoch::FILE);
        }
    }

    /// Kafka's recovery point: every offset below it is synced and checked.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// A controlled shutdown's last step for this log (after its last sync): the active
    /// segment's index files get their final entry and are trimmed and synced, as Kafka's
    /// `LogSegment.close` leaves them; the recovery point becomes the log end.
    pub fn close(&mut self) -> io::Result<()> {
        if self.is_offline() {
            return Ok(());
        }
        if let Some(active) = self.segments.last_mut() {
            active.close_index()?;
        }
        self.recovery_point = self.next_offset();
        Ok(())
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
        let appended = self.append_from(bytes, leader_epoch)?;
        batch::assign(bytes, appended.base_offset, leader_epoch);
        Ok(appended)
    }

    /// [`PartitionLog::append`] without changing `bytes`: the fields the log assigns (base
    /// offset, partition leader epoch; outside the CRC) go out from a copy of the batch's
    /// first bytes, written with the rest in one `writev`, so the batch is not copied.
    pub fn append_from(&mut self, bytes: &[u8], leader_epoch: i32) -> io::Result<Appended> {
        if self.is_offline() {
            return Err(io::Error::other(
                "the partition is offline: its log is corrupt",
            ));
        }
        let header = BatchHeader::parse(bytes).ok_or_else(|| io::Error::other("short batch"))?;
        let base_offset = self.next_offset();
        // Kafka's reasons to roll: the segment would overflow, its index is full, or an
        // offset would not fit the index's 32-bit relative offsets.
        let needs_roll = self.segments.last().is_none_or(|s| {
            s.size > 0
                && (s.size + bytes.len() as u64 > self.segment_bytes_max
                    || s.index.is_full()
                    || base_offset + i64::from(header.last_offset_delta) - s.base_offset
                        > i64::from(i32::MAX))
        });
        // ... or, as Kafka's `segment.ms`, the batch comes that long after the first one.
        let segment_ms = self.segment_ms;
        let aged = match self.segments.last_mut() {
            Some(s) if s.size > 0 && !needs_roll => {
                s.time_waited_for_roll(header.max_timestamp)? > segment_ms
            }
            _ => false,
        };
        if needs_roll || aged {
            self.roll(base_offset)?;
        }
        let mut head = [0u8; ASSIGNED_BYTES];
        head.copy_from_slice(&bytes[..ASSIGNED_BYTES]);
        batch::assign(&mut head, base_offset, leader_epoch);
        let index_settings = self.index_settings;
        let segment = self
            .segments
            .last_mut()
            .ok_or_else(|| io::Error::other("no segment"))?;
        let position = segment.size;
        segment.index.reopen(index_settings)?;
        let file = segment
            .active
            .clone()
            .ok_or_else(|| io::Error::other("appending to a closed segment"))?;
        if let Err(e) = write_all_vectored(&file, &head, &bytes[ASSIGNED_BYTES..]) {
            // Leave no partial batch behind.
            let _ = file.set_len(position);
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
        if let Some(active) = self.segments.last_mut() {
            if active.dirty {
                active.file()?.sync_data()?;
                active.dirty = false;
            }
            active.close_index()?;
            active.active = None;
        }
        info!(
            "{}: rolling new segment at offset {base_offset}",
            self.dir.display()
        );
        self.segments.push(Segment::create(
            &self.dir,
            base_offset,
            self.index_settings,
        )?);
        sync_dir(&self.dir)?;
        // Every segment before the new one is synced.
        self.recovery_point = self.recovery_point.max(base_offset);
        Ok(())
    }

    /// Makes every appended byte durable. Returns whether anything was synced.
    pub fn sync(&mut self) -> io::Result<bool> {
        let mut synced = false;
        for segment in self.segments.iter_mut().filter(|s| s.dirty) {
            segment.file()?.sync_data()?;
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
            .filter_map(|segment| {
                segment.dirty = false;
                segment.active.clone()
            })
            .collect()
    }

    /// The active segment's base offset and size: where the log ends.
    pub fn end_position(&self) -> Option<(i64, u64)> {
        let active = self.segments.last()?;
        Some((active.base_offset, active.size))
    }

    pub fn is_dirty(&self) -> bool {
        self.segments.iter().any(|s| s.dirty)
    }

    /// The stored bytes to serve a fetch at `offset`: whole batches from the one holding
    /// `offset`, up to `max_bytes` (the last may be cut short, as Kafka does; clients drop
    /// it), but always the whole first batch. `None` when there is nothing at or after
    /// `offset`. The caller checks `offset` is within [log start, log end].
    ///
    /// Bytes this run has not checked yet (those on disk before a clean start) are read
    /// and CRC-checked before they are served, once: a batch that fails is never served;
    /// the partition goes offline instead (its index files are removed, so the next start
    /// scans the segment and finds it again), and this read serves only the whole batches
    /// before it, if any.
    pub fn read(&self, offset: i64, max_bytes: usize) -> io::Result<Option<FileSlice>> {
        if self.is_offline() {
            return Err(offline_error());
        }
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
                let mut len = len;
                if let Some(bad) = segment.verify_span(loc.position, len)? {
                    let found = corruption_at(segment, bad)?;
                    if let Err(e) = remove_index_files(&self.dir, segment.base_offset) {
                        warn!("{}: removing index files: {e}", self.dir.display());
                    }
                    self.go_offline(found);
                    if bad == loc.position {
                        return Err(offline_error());
                    }
                    // The whole valid batches before it are served; the next fetch, at
                    // the bad batch, fails.
                    len = bad - loc.position;
                }
                return Ok(Some(FileSlice {
                    file: segment.file()?,
                    segment: segment.base_offset,
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
            let from = if segment.base_offset < offset {
                segment.start_for(offset).unwrap_or(0)
            } else {
                0
            };
            total += segment.size - from;
        }
        total
    }

    /// The first offset whose batch has a timestamp at or after `timestamp`, with that
    /// batch's max timestamp; `None` if no batch does.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> io::Result<Option<(i64, i64)>> {
        for segment in &self.segments {
            if segment.max_timestamp < timestamp || segment.size == 0 {
                continue;
            }
            // Start at the batch of the last time index entry below it: every batch before
            // that one is older.
            let older_until = segment.index.lookup_time(timestamp)?;
            let start = segment.start_for(older_until)?;
            let mut found = None;
            segment.walk(start, false, |loc| {
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
        // The first segment holding the largest timestamp, as Kafka's `maxBy`.
        let mut best: Option<&Segment> = None;
        for segment in self.segments.iter().filter(|s| s.max_timestamp_offset >= 0) {
            if best.is_none_or(|b| segment.max_timestamp > b.max_timestamp) {
                best = Some(segment);
            }
        }
        let Some(segment) = best else {
            return Ok(None);
        };
        let Some(loc) = segment.find(segment.max_timestamp_offset)? else {
            return Err(io::Error::other("the max timestamp's batch is missing"));
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
        if due == 0 || self.is_offline() {
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
            let renamed = segment.schedule_deletion(&self.dir)?;
            self.deleted_files.extend(renamed);
        }
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        Ok(due)
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords, or a checkpoint read at
    /// start; never backward, never past the log end) and deletes the segments wholly below
    /// it, as Kafka's log-start-offset breach does: a segment goes when the next one starts at
    /// or before the new start, so the active segment stays. Returns whether the start moved.
    /// An offline log's start moves in memory, but nothing of it is deleted.
    pub fn advance_log_start(&mut self, offset: i64) -> io::Result<bool> {
        let offset = offset.min(self.next_offset());
        let moved = offset > self.log_start_offset;
        if moved {
            self.log_start_offset = offset;
        }
        if self.is_offline() {
            return Ok(moved);
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
                let renamed = segment.schedule_deletion(&self.dir)?;
                self.deleted_files.extend(renamed);
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

    /// The index settings of segments created from now on (a topic's
    /// `index.interval.bytes` or `segment.index.bytes` changed; as in Kafka, the active
    /// segment keeps its own until it rolls).
    pub fn set_index_settings(&mut self, settings: IndexSettings) {
        self.index_settings = settings;
    }

    /// The size at which the active segment rolls (a topic's `segment.bytes` changed).
    pub fn set_segment_bytes_max(&mut self, segment_bytes_max: u64) {
        self.segment_bytes_max = segment_bytes_max;
    }

    /// The `.deleted` files of segments removed since the last call (retention,
    /// DeleteRecords, the cleaner), for removal after `file.delete.delay.ms`.
    pub fn take_deleted_files(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.deleted_files)
    }

    /// How long after its first batch (by timestamp) the active segment rolls: the topic's
    /// `segment.ms`.
    pub fn set_segment_ms(&mut self, segment_ms: i64) {
        self.segment_ms = segment_ms;
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

/// Hooks for the partition side of transactions (`storage::txn`).
impl PartitionLog {
    /// The base offset of the active (last) segment.
    pub fn active_base_offset(&self) -> i64 {
        self.segments
            .last()
            .map_or(self.log_start_offset, |s| s.base_offset)
    }

    /// Calls `visit` with its segment's base offset, its position and its header for every
    /// batch whose last offset is at or after `from`, oldest first, until it returns false.
    pub fn for_each_batch_from(
        &self,
        from: i64,
        mut visit: impl FnMut(i64, u64, &BatchHeader) -> bool,
    ) -> io::Result<()> {
        let first = self
            .segments
            .partition_point(|s| s.base_offset <= from)
            .saturating_sub(1);
        for segment in &self.segments[first..] {
            let start = segment.start_for(from)?;
            let mut going = true;
            segment.walk(start, true, |loc| {
                if loc.header.last_offset() >= from {
                    going = visit(segment.base_offset, loc.position, &loc.header);
                }
                going
            })?;
            if !going {
                break;
            }
        }
        Ok(())
    }

    /// Like [`PartitionLog::read`], but only batches below `max_offset` (a batch boundary:
    /// the last stable offset), as a read_committed fetch is bounded.
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> io::Result<Option<FileSlice>> {
        if offset >= max_offset {
            return Ok(None);
        }
        let Some(mut slice) = self.read(offset, max_bytes)? else {
            return Ok(None);
        };
        if max_offset >= self.next_offset() {
            return Ok(Some(slice));
        }
        let i = self
            .segments
            .partition_point(|s| s.base_offset <= max_offset)
            .saturating_sub(1);
        let segment = &self.segments[i];
        if segment.base_offset != slice.segment {
            // The bound lies in a later segment than the slice.
            return Ok(Some(slice));
        }
        if let Some(loc) = segment.find(max_offset)?
            && loc.position < slice.position + slice.len as u64
        {
            if loc.position <= slice.position {
                return Ok(None);
            }
            slice.len = (loc.position - slice.position) as usize;
        }
        Ok(Some(slice))
    }

    /// The segment a fetch of `slice` from `offset` read (its base offset) and the upper
    /// bound of the offsets it returned, as Kafka's `fetchUpperBoundOffset` gives it for the
    /// aborted-transaction search: the first index entry at or past the slice's end, else
    /// the next segment's base offset, else the log end.
    pub fn fetch_upper_bound(&self, offset: i64, slice: &FileSlice) -> (i64, i64) {
        let mut i = self
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        // A read at a segment's end continues in a later one.
        while i + 1 < self.segments.len() && self.segments[i].base_offset != slice.segment {
            i += 1;
        }
        let Some(segment) = self.segments.get(i) else {
            return (self.log_start_offset, self.next_offset());
        };
        let end = slice.position + slice.len as u64;
        // An index that cannot be read gives the wider bound (more aborted transactions
        // listed than needed is harmless; fewer is not).
        let upper = match segment.index.upper_bound_offset(end).ok().flatten() {
            Some(offset) => offset,
            None => self
                .segments
                .get(i + 1)
                .map_or(self.next_offset(), |s| s.base_offset),
        };
        (segment.base_offset, upper)
    }
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
        if self.is_offline() {
            return Vec::new(); // the cleaner leaves an offline log alone
        }
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
        let file = segment.file()?;
        file.read_exact_at(&mut head, position)?;
        let header =
            BatchHeader::parse(&head).ok_or_else(|| io::Error::other("bad batch header"))?;
        if position + header.size() as u64 > segment.size {
            return Err(io::Error::other("batch runs past its segment"));
        }
        out.resize(header.size(), 0);
        file.read_exact_at(out, position)?;
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
        segment.file()?.read_exact_at(&mut head, 0)?;
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
        if self.is_offline() {
            return Err(offline_error());
        }
        let path = self.segments[i].path.clone();
        if i > 0 && fs::metadata(cleaned)?.len() == 0 {
            let renamed = self.segments[i].schedule_deletion(&self.dir)?;
            self.deleted_files.extend(renamed);
            fs::remove_file(cleaned)?;
            sync_dir(&self.dir)?;
            self.segments.remove(i);
            return Ok(());
        }
        // The cleaned file's bytes are synced: from here a crash leaves the original (and a
        // `.cleaned` that opening removes), or a `.swap` that opening renames over it, or the
        // cleaned segment. One directory sync makes the outcome durable.
        // The old index files go first (a crash then leaves a segment without index files,
        // which the next open scans), then the new ones are built from the cleaned copy.
        remove_index_files(&self.dir, base_offset)?;
        sync_dir(&self.dir)?;
        let swap = path.with_extension("log.swap");
        fs::rename(cleaned, &swap)?;
        fs::rename(&swap, &path)?;
        sync_dir(&self.dir)?;
        let (mut segment, end) = Segment::scan(&self.dir, &path, base_offset, self.index_settings)?;
        if let ScanEnd::Stopped { position } = end {
            let found = corruption_at(&segment, position)?;
            self.segments[i] = segment;
            self.go_offline(found);
            return Err(offline_error());
        }
        segment.close_index()?;
        segment.active = None;
        self.segments[i] = segment;
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
        if name.ends_with(DELETED_SUFFIX) {
            // Deleted before the stop; its delay ran out with the process (as Kafka, which
            // removes them when it loads the log).
            fs::remove_file(&path)?;
            changed = true;
        } else if name.ends_with(".log.cleaned") {
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

fn offline_error() -> io::Error {
    io::Error::other("the partition is offline: its log is corrupt")
}

/// The corruption found at `position` of `segment`: the offset its header claims, if it has
/// a readable one, else the offset after the last good batch.
fn corruption_at(segment: &Segment, position: u64) -> io::Result<Corruption> {
    let mut head = [0u8; HEADER_BYTES];
    let file = segment.file()?;
    let file_len = file.metadata()?.len();
    let available = file_len.saturating_sub(position).min(HEADER_BYTES as u64) as usize;
    file.read_exact_at(&mut head[..available], position)?;
    let offset = BatchHeader::parse(&head[..available])
        .map(|h| h.base_offset)
        .filter(|&o| o >= segment.base_offset)
        .unwrap_or(segment.next_offset);
    Ok(Corruption {
        file: segment.path.clone(),
        position,
        offset,
    })
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
    fn segment_ms_rolls_by_the_batches_timestamps_across_a_reopen() {
        let dir = test_dir("log-roll-ms");
        let bases = |log: &PartitionLog| -> Vec<i64> {
            log.segments.iter().map(|s| s.base_offset).collect()
        };
        {
            let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
            log.set_segment_ms(100);
            // 50 ms after the first batch, then 101: the third starts a segment.
            for ts in [1000, 1050, 1101, 1150] {
                log.append(&mut batch_of(1, 10, ts), 0).unwrap();
            }
            assert_eq!(bases(&log), [0, 2]);
            // An older timestamp never rolls (the wait is negative).
            log.append(&mut batch_of(1, 10, 900), 0).unwrap();
            assert_eq!(bases(&log), [0, 2]);
            log.sync().unwrap();
            log.close().unwrap();
        }
        // Reopened from its index files, the active segment's first timestamp (1101) is
        // read back from the file.
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        log.set_segment_ms(100);
        log.append(&mut batch_of(1, 10, 1201), 0).unwrap();
        assert_eq!(bases(&log), [0, 2]);
        log.append(&mut batch_of(1, 10, 1202), 0).unwrap();
        assert_eq!(bases(&log), [0, 2, 6]);
        // Without segment.ms (the default until the storage sets it) nothing rolls by time.
        let mut log = PartitionLog::open(&test_dir("log-roll-ms-never"), 1 << 20).unwrap();
        for ts in [0, i64::MAX / 2] {
            log.append(&mut batch_of(1, 10, ts), 0).unwrap();
        }
        assert_eq!(bases(&log), [0]);
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
        // A whole batch with a bad CRC is corruption, not a torn write: nothing is cut and
        // the partition is offline, naming the place.
        let mut bad = batch_of(1, 50, 0);
        *bad.last_mut().unwrap() ^= 0xff;
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&bad)
            .unwrap();
        let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), good + bad.len() as u64);
        let found = log.corruption().unwrap();
        assert_eq!(
            (found.file, found.position, found.offset),
            (path.clone(), good, 0)
        );
        assert!(log.append(&mut batch_of(1, 50, 0), 0).is_err());
        assert!(log.read(0, 100).is_err());
        assert_eq!(fs::metadata(&path).unwrap().len(), good + bad.len() as u64);
    }

    /// A byte flipped in the middle of the log, with valid batches after it: offline, the
    /// file untouched; the repair moves exactly the bad batch aside and keeps the others
    /// with their offsets.
    #[test]
    fn corruption_before_valid_batches_is_kept_until_repaired() {
        let dir = test_dir("log-corrupt-middle");
        let root = dir.parent().unwrap().join(format!(
            "{}-root",
            dir.file_name().unwrap().to_string_lossy()
        ));
        let _ = fs::remove_dir_all(&root);
        let dir = root.join("t-0");
        let mut sizes = Vec::new();
        {
            let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
            for i in 0..5 {
                log.append(&mut batch_of(2, 100, i), 0).unwrap();
                sizes.push(log.size_bytes());
            }
            log.sync().unwrap();
        }
        let path = dir.join("00000000000000000000.log");
        let original = fs::read(&path).unwrap();
        let mut bytes = original.clone();
        bytes[sizes[1] as usize + 70] ^= 0x01; // inside the third batch (offsets 4-5)
        fs::write(&path, &bytes).unwrap();
        let log = PartitionLog::open(&dir, 1 << 20).unwrap();
        let found = log.corruption().unwrap();
        assert_eq!((found.position, found.offset), (sizes[1], 4));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        drop(log);
        let repaired = recovery::repair(&root).unwrap();
        assert_eq!(repaired.len(), 1);
        assert_eq!(repaired[0].position, sizes[1]);
        assert_eq!(repaired[0].bytes, sizes[2] - sizes[1]);
        let saved = fs::read(repaired[0].saved.as_ref().unwrap()).unwrap();
        assert_eq!(saved, &bytes[sizes[1] as usize..sizes[2] as usize]);
        let log = PartitionLog::open(&dir, 1 << 20).unwrap();
        assert!(log.corruption().is_none());
        assert_eq!(log.next_offset(), 10);
        let mut out = Vec::new();
        log.read(4, 1 << 20)
            .unwrap()
            .unwrap()
            .write_to(&mut out)
            .unwrap();
        assert_eq!(&out[..], &original[sizes[2] as usize..]);
        assert_eq!(BatchHeader::parse(&out).unwrap().base_offset, 6);
        assert!(recovery::repair(&root).unwrap().is_empty());
    }

    /// The index files' exact bytes, as Kafka's `LogSegment.append` writes them: an entry
    /// for the batch appended once more than 4096 bytes came since the last one (its last
    /// offset relative to the base, its position; the largest timestamp so far and its
    /// offset), and at close the time index's final entry for the segment's largest
    /// timestamp; the files trimmed to their entries. A trusted reopen reads no batch it
    /// does not need and answers the same.
    #[test]
    fn index_files_are_kafkas() {
        let dir = test_dir("log-index-bytes");
        {
            let mut log = PartitionLog::open(&dir, 1 << 20).unwrap();
            for i in 0..8 {
                let mut batch = batch_of(1, 1400, 1000 + 10 * i);
                assert_eq!(batch.len(), 1470);
                log.append(&mut batch, 0).unwrap();
            }
            assert_eq!(
                fs::metadata(dir.join("00000000000000000000.index"))
                    .unwrap()
                    .len(),
                index::INDEX_BYTES_MAX / 8 * 8,
                "preallocated while active"
            );
            log.sync().unwrap();
            log.close().unwrap();
        }
        let index = fs::read(dir.join("00000000000000000000.index")).unwrap();
        assert_eq!(
            index,
            [0, 0, 0, 3, 0, 0, 0x11, 0x3a, 0, 0, 0, 6, 0, 0, 0x22, 0x74],
            "(3, 4410) and (6, 8820)"
        );
        let time = fs::read(dir.join("00000000000000000000.timeindex")).unwrap();
        let mut expected = Vec::new();
        for (ts, offset) in [(1030i64, 3u32), (1060, 6), (1070, 7)] {
            expected.extend_from_slice(&ts.to_be_bytes());
            expected.extend_from_slice(&offset.to_be_bytes());
        }
        assert_eq!(time, expected);
        let log = PartitionLog::open_with(&dir, 1 << 20, Recovery::Trusted).unwrap();
        assert_eq!(log.next_offset(), 8);
        assert_eq!(log.size_bytes(), 8 * 1470);
        assert_eq!(log.offset_for_timestamp(1055).unwrap(), Some((6, 1060)));
        assert_eq!(log.offset_for_timestamp(1000).unwrap(), Some((0, 1000)));
        assert_eq!(log.max_timestamp().unwrap(), Some((7, 1070)));
        for offset in 0..8 {
            let slice = log.read(offset, 10).unwrap().unwrap();
            assert_eq!(slice.position, offset as u64 * 1470);
        }
    }

    /// After an unclean stop, every segment from the recovery point on is checked, not
    /// only the last: a flipped byte in an earlier one is found at open.
    #[test]
    fn unclean_open_checks_every_segment_from_the_recovery_point() {
        let dir = test_dir("log-recovery-point");
        {
            let mut log = PartitionLog::open(&dir, 3000).unwrap();
            for i in 0..6 {
                log.append(&mut batch_of(1, 1400, i), 0).unwrap();
            }
            log.sync().unwrap();
        }
        // Segments 0 (offsets 0-1), 2 (2-3), 4 (4-5). A flip in segment 2.
        let path = dir.join("00000000000000000002.log");
        let mut bytes = fs::read(&path).unwrap();
        bytes[100] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let below = PartitionLog::open_with(&dir, 3000, Recovery::From(4)).unwrap();
        assert!(
            below.corruption().is_none(),
            "below the recovery point: not read"
        );
        drop(below);
        let log = PartitionLog::open_with(&dir, 3000, Recovery::From(2)).unwrap();
        let found = log.corruption().unwrap();
        assert_eq!(
            (found.file, found.position, found.offset),
            (path.clone(), 0, 2)
        );
        assert_eq!(fs::read(&path).unwrap(), bytes, "nothing deleted");
    }

    /// A byte flipped in a closed segment that a clean start trusted is caught when it
    /// would be served: the fetch fails and the partition goes offline.
    #[test]
    fn a_corrupt_batch_is_never_served() {
        let dir = test_dir("log-serve-check");
        {
            let mut log = PartitionLog::open(&dir, 3000).unwrap();
            for i in 0..6 {
                log.append(&mut batch_of(1, 1400, i), 0).unwrap();
            }
            log.sync().unwrap();
            log.close().unwrap();
        }
        let path = dir.join("00000000000000000000.log");
        let mut bytes = fs::read(&path).unwrap();
        bytes[1470 + 200] ^= 0x01; // offset 1
        fs::write(&path, &bytes).unwrap();
        let log = PartitionLog::open_with(&dir, 3000, Recovery::Trusted).unwrap();
        assert!(log.corruption().is_none());
        assert!(
            log.read(2, 1 << 20).unwrap().is_some(),
            "another segment serves"
        );
        assert!(
            log.read(0, 100).unwrap().is_some(),
            "offset 0's batch alone is fine"
        );
        assert!(log.corruption().is_none());
        let slice = log.read(0, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (slice.position, slice.len),
            (0, 1470),
            "served up to offset 1"
        );
        assert_eq!(log.corruption().unwrap().offset, 1);
        assert!(log.read(1, 1 << 20).is_err(), "offset 1 is never served");
        assert!(log.read(2, 1 << 20).is_err(), "offline");
        assert!(
            !dir.join("00000000000000000000.index").exists(),
            "rescanned next start"
        );
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

    /// `index.interval.bytes` spaces the offset index as Kafka's `LogSegment.append` does
    /// (an entry for a batch once more than the interval came since the last one; 0: every
    /// batch after the first), also when a scan rebuilds it; `segment.index.bytes` sizes
    /// the active segment's files, and a full index rolls the segment.
    #[test]
    fn index_entries_follow_index_interval_bytes_and_segment_index_bytes() {
        let sizes: Vec<usize> = (0..40).map(|i| 100 + (i * 37) % 300).collect();
        for interval in [0u64, 250, 1000, 4096] {
            let dir = test_dir(&format!("log-index-interval-{interval}"));
            let settings = IndexSettings {
                interval_bytes: interval,
                bytes_max: index::INDEX_BYTES_MAX,
            };
            let mut log =
                PartitionLog::open_indexed(&dir, 1 << 30, Recovery::ALL, settings).unwrap();
            let mut expected = Vec::new();
            let (mut position, mut since) = (0u64, 0u64);
            for (i, &size) in sizes.iter().enumerate() {
                let mut batch = batch_of(1, size, 1000 + i as i64);
                if since > interval {
                    expected.push((i as u32, position as u32));
                    since = 0;
                }
                since += batch.len() as u64;
                position += batch.len() as u64;
                log.append(&mut batch, 0).unwrap();
            }
            log.close().unwrap();
            let entries = |dir: &Path| -> Vec<(u32, u32)> {
                let bytes = fs::read(dir.join("00000000000000000000.index")).unwrap();
                bytes
                    .chunks(8)
                    .map(|e| {
                        let word =
                            |at: usize| u32::from_be_bytes(e[at..at + 4].try_into().unwrap());
                        (word(0), word(4))
                    })
                    .collect()
            };
            assert_eq!(entries(&dir), expected, "interval {interval}");
            assert!(!expected.is_empty() || interval == 4096);
            // A scan rebuilds the same entries.
            drop(log);
            let mut log =
                PartitionLog::open_indexed(&dir, 1 << 30, Recovery::ALL, settings).unwrap();
            log.close().unwrap();
            assert_eq!(entries(&dir), expected, "rebuilt, interval {interval}");
        }

        // Index files of 40 bytes: 5 offset entries, 3 time entries; every batch makes one.
        let dir = test_dir("log-index-bytes");
        let settings = IndexSettings {
            interval_bytes: 0,
            bytes_max: 40,
        };
        let mut log = PartitionLog::open_indexed(&dir, 1 << 30, Recovery::ALL, settings).unwrap();
        assert_eq!(
            fs::metadata(dir.join("00000000000000000000.index"))
                .unwrap()
                .len(),
            40
        );
        assert_eq!(
            fs::metadata(dir.join("00000000000000000000.timeindex"))
                .unwrap()
                .len(),
            36
        );
        for i in 0..12 {
            log.append(&mut batch_of(1, 100, 1000 + i), 0).unwrap();
        }
        assert!(log.segments.len() > 3, "{} segments", log.segments.len());
        assert!(log.segments.iter().all(|s| s.index.offset_entries() < 5));
    }

    /// With one closed segment's file open at a time, every read that reaches closed
    /// segments reopens them on demand: fetch reads, timestamp lookups, the cleaner's batch
    /// reads, the first batch's timestamp, and a clean reopen of the log.
    #[test]
    fn closed_segments_reopen_on_demand_within_the_open_file_bound() {
        super::super::open_files::set_max(1);
        let dir = test_dir("log-open-files");
        let mut log = PartitionLog::open(&dir, 300).unwrap();
        let batches: Vec<Vec<u8>> = (0..10).map(|i| batch_of(2, 100, 1000 + i)).collect();
        for batch in &batches {
            log.append(&mut batch.clone(), 0).unwrap();
        }
        assert_eq!(log.segments.len(), 10);
        for round in 0..2 {
            for (i, batch) in batches.iter().enumerate() {
                let offset = 2 * i as i64;
                let mut out = Vec::new();
                log.read(offset, 1 << 20)
                    .unwrap()
                    .unwrap()
                    .write_to(&mut out)
                    .unwrap();
                assert_eq!(out[12..], batch[12..], "round {round}, batch {i}");
                assert_eq!(
                    log.offset_for_timestamp(1000 + i as i64).unwrap(),
                    Some((offset, 1000 + i as i64))
                );
                assert!(log.read_batch_at(offset, 0, &mut out).unwrap());
                assert_eq!(out[12..], batch[12..]);
                assert_eq!(
                    log.first_batch_timestamp(offset).unwrap(),
                    Some(1000 + i as i64)
                );
                assert!(super::super::open_files::stats().0 <= 1);
            }
        }
        log.close().unwrap();
        drop(log);
        assert_eq!(
            super::super::open_files::stats().0,
            0,
            "dropped with their segments"
        );
        let log = PartitionLog::open_with(&dir, 300, Recovery::Trusted).unwrap();
        assert_eq!(log.next_offset(), 20);
        assert_eq!(
            log.read_all().unwrap().len(),
            batches.iter().map(Vec::len).sum()
        );
        assert!(super::super::open_files::stats().0 <= 1);
    }
}
