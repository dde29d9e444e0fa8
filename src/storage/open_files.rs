//! A bound on the file descriptors closed segments hold: a closed (non-active) segment's
//! `.log` is opened on demand and kept open in a least-recently-used set of at most
//! `log.closed.segment.files.open.max` files (this broker's own key; Kafka keeps every
//! segment open). A read past the set's size closes the least recently read one. The
//! active segments' files (one per partition, appended to) are not counted here.
//!
//! Invariant: at most `max` files are held by the set; a file leaves it when its segment
//! goes (its [`ClosedFile`] is dropped), so a removed segment's descriptor is not kept.
//! A [`std::rc::Rc`] handed out for a read may outlive its eviction (a response being
//! encoded); it closes when that read is done.
//!
//! The broker has one thread: the set is that thread's (`thread_local!`), shared by every
//! partition, as the descriptors are the process's.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

/// `log.closed.segment.files.open.max`'s default.
pub const CLOSED_SEGMENT_FILES_OPEN_MAX: usize = 256;

struct OpenFiles {
    max: usize,
    /// Open files by handle id, with their last use.
    files: HashMap<u64, (Rc<File>, u64)>,
    /// Handle ids by last use, oldest first.
    by_use: BTreeMap<u64, u64>,
    next_id: u64,
    clock: u64,
    opens: u64,
}

thread_local! {
    static OPEN_FILES: RefCell<OpenFiles> = RefCell::new(OpenFiles {
        max: CLOSED_SEGMENT_FILES_OPEN_MAX,
        files: HashMap::new(),
        by_use: BTreeMap::new(),
        next_id: 0,
        clock: 0,
        opens: 0,
    });
}

/// Sets the bound (at start-up, from the config); files past it close at once.
pub fn set_max(max: usize) {
    OPEN_FILES.with(|set| {
        let mut set = set.borrow_mut();
        set.max = max.max(1);
        set.evict();
    });
}

/// How many closed segments' files are open now, and how many opens were made so far.
pub fn stats() -> (usize, u64) {
    OPEN_FILES.with(|set| {
        let set = set.borrow();
        (set.files.len(), set.opens)
    })
}

impl OpenFiles {
    fn evict(&mut self) {
        while self.files.len() > self.max {
            let Some((_, id)) = self.by_use.pop_first() else {
                break;
            };
            self.files.remove(&id);
        }
    }
}

/// A closed segment's `.log`, opened (read only) when read.
pub struct ClosedFile {
    id: u64,
    path: PathBuf,
}

impl ClosedFile {
    pub fn new(path: PathBuf) -> ClosedFile {
        let id = OPEN_FILES.with(|set| {
            let mut set = set.borrow_mut();
            set.next_id += 1;
            set.next_id
        });
        ClosedFile { id, path }
    }

    /// The open file: the set's, or opened now (closing the least recently used one past
    /// the bound). A file that vanished or cannot be opened is an I/O error.
    pub fn get(&self) -> io::Result<Rc<File>> {
        OPEN_FILES.with(|set| {
            let mut set = set.borrow_mut();
            set.clock += 1;
            let now = set.clock;
            if let Some((file, used)) = set.files.get_mut(&self.id) {
                let (file, before) = (Rc::clone(file), *used);
                *used = now;
                set.by_use.remove(&before);
                set.by_use.insert(now, self.id);
                return Ok(file);
            }
            let file = Rc::new(File::open(&self.path)?);
            set.opens += 1;
            set.files.insert(self.id, (Rc::clone(&file), now));
            set.by_use.insert(now, self.id);
            set.evict();
            Ok(file)
        })
    }
}

impl Drop for ClosedFile {
    fn drop(&mut self) {
        // `try_with`: a segment dropped while the thread's storage is torn down.
        let _ = OPEN_FILES.try_with(|set| {
            let mut set = set.borrow_mut();
            if let Some((_, used)) = set.files.remove(&self.id) {
                set.by_use.remove(&used);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_past_the_bound_close_least_recently_read_first() {
        let dir = std::env::temp_dir().join(format!("open-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let handles: Vec<ClosedFile> = (0..5)
            .map(|i| {
                let path = dir.join(format!("{i}.log"));
                std::fs::write(&path, [i as u8]).unwrap();
                ClosedFile::new(path)
            })
            .collect();
        set_max(3);
        for handle in &handles {
            handle.get().unwrap();
        }
        assert_eq!(stats(), (3, 5));
        // 2, 3 and 4 are open: reading 2 again opens nothing; 0 closes 3, the oldest.
        handles[2].get().unwrap();
        assert_eq!(stats(), (3, 5));
        handles[0].get().unwrap();
        handles[2].get().unwrap();
        handles[4].get().unwrap();
        assert_eq!(stats(), (3, 6));
        handles[3].get().unwrap();
        assert_eq!(stats(), (3, 7));
        drop(handles);
        assert_eq!(stats().0, 0);
        std::fs::remove_file(dir.join("0.log")).unwrap();
        let gone = ClosedFile::new(dir.join("0.log"));
        assert_eq!(gone.get().unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
