//! Telling a torn tail from corruption, and the operator's repair. A scan that stops before a
//! segment's end stopped at a torn tail (the last write of a crash: a batch that runs past
//! the end of the last segment's file, or only zeros to the end, with no valid batch after
//! it), which recovery truncates; or at corruption (a whole batch that fails its CRC or its
//! header checks, a malformed region followed by valid batches, anything wrong in a segment
//! that is not the last), which nothing deletes: the partition goes offline with one ERROR
//! line naming the file, the byte position and the offset, until `kafka-broker --repair`
//! moves the corrupt region aside.
//!
//! Invariant: recovery removes bytes only from the end of a partition's last segment, and
//! only bytes that hold no whole valid batch; the repair removes exactly the corrupt regions
//! (the bytes from a bad batch to the next valid one, or to the end of the file when none
//! follows), each saved first in a `.corrupt` file beside its segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::batch::{self, BatchHeader, HEADER_BYTES, LOG_OVERHEAD};
use super::index::{OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX, segment_file};
use super::log::sync_dir;

/// Where a partition's log is corrupt (the first place found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub file: PathBuf,
    pub position: u64,
    /// The offset the bad batch claims, or (if its header is unreadable) the offset after
    /// the last good batch before it.
    pub offset: i64,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: corrupt record batch at byte position {} (offset {})",
            self.file.display(),
            self.position,
            self.offset
        )
    }
}

/// What follows the last good batch of a segment, when the scan stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A crash's unfinished write: truncating at `position` loses no whole batch.
    Torn,
    /// Corrupt bytes from the stop to `resume` (the next valid batch, or the file's end).
    Corrupt { resume: u64 },
}

/// Whether the bytes of a whole batch hold a valid one: Produce's checks, or a batch as the
/// cleaner rewrites it (fewer records than its offset range, as Kafka's cleaner leaves them).
pub fn batch_is_valid(bytes: &[u8]) -> bool {
    batch::validate(bytes).is_ok() || is_cleaned_batch(bytes)
}

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

/// Classifies what lies at `position` of a segment file of `file_len` bytes, where a scan of
/// whole valid batches stopped. `last` is whether the segment is its partition's last (only
/// there may a crash leave an unfinished write: a segment is synced before the next one is
/// made).
pub fn classify(file: &File, position: u64, file_len: u64, last: bool) -> io::Result<Stop> {
    let resume = next_valid_batch(file, position + 1, file_len)?;
    if let Some(resume) = resume {
        return Ok(Stop::Corrupt { resume });
    }
    let mut head = [0u8; HEADER_BYTES];
    let available = (file_len - position).min(HEADER_BYTES as u64) as usize;
    file.read_exact_at(&mut head[..available], position)?;
    let runs_past_end = match BatchHeader::parse(&head[..available]) {
        Some(h) => h.magic == 2 && position + h.size() as u64 > file_len,
        // Too short for a header: an unfinished write if what is there is plausible.
        None => available < LOG_OVERHEAD || available < HEADER_BYTES,
    };
    if last && (runs_past_end || zeros_to_end(file, position, file_len)?) {
        return Ok(Stop::Torn);
    }
    Ok(Stop::Corrupt { resume: file_len })
}

/// The position of the first valid whole batch at or after `from`, if any: every position
/// whose bytes could start a batch (magic 2, a length that fits) is CRC-checked. Read in
/// windows of 1 MiB; only ever run where a scan found something wrong.
fn next_valid_batch(file: &File, from: u64, file_len: u64) -> io::Result<Option<u64>> {
    const WINDOW_BYTES: u64 = 1 << 20;
    let mut window = Vec::new();
    let mut candidate = Vec::new();
    let mut start = from;
    while start + HEADER_BYTES as u64 <= file_len {
        let len = (file_len - start).min(WINDOW_BYTES + HEADER_BYTES as u64);
        window.resize(len as usize, 0);
        file.read_exact_at(&mut window, start)?;
        let last_start = window.len() - HEADER_BYTES;
        for i in 0..=last_start.min(WINDOW_BYTES as usize - 1) {
            if window[i + 16] != 2 {
                continue;
            }
            let Some(h) = BatchHeader::parse(&window[i..]) else {
                continue;
            };
            let at = start + i as u64;
            if h.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32
                || at + h.size() as u64 > file_len
            {
                continue;
            }
            candidate.resize(h.size(), 0);
            file.read_exact_at(&mut candidate, at)?;
            if batch_is_valid(&candidate) {
                return Ok(Some(at));
            }
        }
        start += WINDOW_BYTES;
    }
    Ok(None)
}

fn zeros_to_end(file: &File, position: u64, file_len: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = position;
    while at < file_len {
        let n = (file_len - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// The end of the whole valid batches from the start of a segment file: where a scan stops.
pub fn valid_prefix(file: &File, file_len: u64) -> io::Result<u64> {
    let mut position = 0u64;
    let mut bytes = Vec::new();
    while position + LOG_OVERHEAD as u64 <= file_len {
        let mut head = [0u8; HEADER_BYTES];
        let available = (file_len - position).min(HEADER_BYTES as u64) as usize;
        file.read_exact_at(&mut head[..available], position)?;
        let Some(h) = BatchHeader::parse(&head[..available]) else {
            break;
        };
        if h.batch_length < (HEADER_BYTES - LOG_OVERHEAD) as i32
            || position + h.size() as u64 > file_len
        {
            break;
        }
        bytes.resize(h.size(), 0);
        file.read_exact_at(&mut bytes, position)?;
        if !batch_is_valid(&bytes) {
            break;
        }
        position += h.size() as u64;
    }
    Ok(position)
}

/// One region the repair moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub segment: PathBuf,
    pub position: u64,
    pub bytes: u64,
    /// Where the region's bytes were saved (`None` for a torn tail, which start-up would
    /// truncate anyway).
    pub saved: Option<PathBuf>,
}

/// `kafka-broker --repair`: every partition directory of the log dir (the metadata log and
/// `__consumer_offsets` included) is checked batch by batch; each corrupt region is copied
/// to `<segment>.log.corrupt-<position>` and cut out of its segment (the rest rewritten
/// beside it, synced, then renamed over it); a torn tail of a last segment is truncated, as
/// start-up would. The repaired segments' index files are removed, to be rebuilt at start.
/// Valid batches keep their offsets; the corrupt region's offsets become a gap.
pub fn repair(log_dir: &Path) -> io::Result<Vec<Repaired>> {
    let mut repaired = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(log_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() && !name.ends_with("-delete") {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    for dir in dirs {
        let bases = segment_bases(&dir)?;
        for (i, &base) in bases.iter().enumerate() {
            let last = i + 1 == bases.len();
            repair_segment(&dir, base, last, &mut repaired)?;
        }
    }
    Ok(repaired)
}

/// The base offsets of a partition directory's segments, sorted.
pub fn segment_bases(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
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
    Ok(bases)
}

fn repair_segment(dir: &Path, base: i64, last: bool, out: &mut Vec<Repaired>) -> io::Result<()> {
    let path = segment_file(dir, base, ".log");
    loop {
        let file = File::open(&path)?;
        let file_len = file.metadata()?.len();
        let stop = valid_prefix(&file, file_len)?;
        if stop == file_len {
            return Ok(());
        }
        for suffix in [OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            match fs::remove_file(segment_file(dir, base, suffix)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        match classify(&file, stop, file_len, last)? {
            Stop::Torn => {
                OpenOptions::new().write(true).open(&path)?.set_len(stop)?;
                File::open(&path)?.sync_all()?;
                out.push(Repaired {
                    segment: path.clone(),
                    position: stop,
                    bytes: file_len - stop,
                    saved: None,
                });
            }
            Stop::Corrupt { resume } => {
                let saved = PathBuf::from(format!("{}.corrupt-{stop}", path.display()));
                let mut region = vec![0u8; (resume - stop) as usize];
                file.read_exact_at(&mut region, stop)?;
                write_synced(&saved, &[&region])?;
                let mut head = vec![0u8; stop as usize];
                file.read_exact_at(&mut head, 0)?;
                let mut tail = vec![0u8; (file_len - resume) as usize];
                file.read_exact_at(&mut tail, resume)?;
                // As the cleaner's swap: a whole synced copy renamed over the original, so
                // a crash leaves one or the other (a `.swap` is completed at start).
                let swap = path.with_extension("log.swap");
                write_synced(&swap, &[&head, &tail])?;
                fs::rename(&swap, &path)?;
                out.push(Repaired {
                    segment: path.clone(),
                    position: stop,
                    bytes: resume - stop,
                    saved: Some(saved),
                });
            }
        }
        sync_dir(dir)?;
    }
}

fn write_synced(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let mut file = File::create(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::build;

    fn file_of(name: &str, bytes: &[u8]) -> File {
        let dir = crate::storage::test_dir(name);
        let path = dir.join("00000000000000000000.log");
        fs::write(&path, bytes).unwrap();
        File::open(&path).unwrap()
    }

    /// What a crash can leave at the end of the last segment is torn; the same bytes
    /// anywhere else, or a whole batch that fails its CRC, are corruption.
    #[test]
    fn torn_tails_and_corruption() {
        let good = build(0, 0, 1000, &[vec![1u8; 100]]);
        let len = good.len() as u64;
        // A batch cut short, and zeros (a file extended but never written).
        for (name, tail) in [
            ("cut", good[..good.len() - 9].to_vec()),
            ("zeros", vec![0; 500]),
        ] {
            let bytes = [&good[..], &tail].concat();
            let file = file_of(&format!("recovery-{name}"), &bytes);
            let end = bytes.len() as u64;
            assert_eq!(valid_prefix(&file, end).unwrap(), len);
            assert_eq!(
                classify(&file, len, end, true).unwrap(),
                Stop::Torn,
                "{name}"
            );
            let not_last = classify(&file, len, end, false).unwrap();
            assert_eq!(not_last, Stop::Corrupt { resume: end }, "{name}");
        }
        // A whole batch with a flipped byte, at the end: corrupt to the end.
        let mut bad = build(1, 0, 1000, &[vec![2u8; 100]]);
        bad[80] ^= 1;
        let bytes = [&good[..], &bad].concat();
        let file = file_of("recovery-bad-crc", &bytes);
        let end = bytes.len() as u64;
        assert_eq!(
            classify(&file, len, end, true).unwrap(),
            Stop::Corrupt { resume: end }
        );
        // ... and before a valid batch: corrupt up to it.
        let bytes = [&good[..], &bad, &good].concat();
        let file = file_of("recovery-bad-middle", &bytes);
        let end = bytes.len() as u64;
        let resume = len + bad.len() as u64;
        assert_eq!(
            classify(&file, len, end, true).unwrap(),
            Stop::Corrupt { resume }
        );
        // A cut-short batch followed by a valid one is corruption, not a torn tail.
        let bytes = [&good[..], &good[..20], &good].concat();
        let file = file_of("recovery-cut-middle", &bytes);
        let end = bytes.len() as u64;
        assert_eq!(
            classify(&file, len, end, true).unwrap(),
            Stop::Corrupt { resume: len + 20 }
        );
    }
}
