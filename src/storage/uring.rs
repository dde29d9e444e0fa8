//! The io_uring that makes appends durable without blocking the loop: data syncs
//! (IORING_OP_FSYNC with IORING_FSYNC_DATASYNC) are queued, submitted together, and their
//! completions are announced on an eventfd the event loop polls. This is the one module
//! of the crate allowed `unsafe`: the submission queue's `push` is `unsafe` because the
//! kernel uses what an entry references until it completes. Invariant: every submitted
//! entry references only a file descriptor owned by an `Rc<File>` held in `in_flight`
//! until that entry's completion is reaped, so the descriptor is open for the whole
//! operation (and never reused for another file meanwhile).

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::{IoUring, opcode, types};
use rustix::event::{EventfdFlags, eventfd};
use slab::Slab;

/// Submission queue entries; more syncs than this in one turn are submitted in rounds.
const RING_ENTRIES: u32 = 256;

pub struct Ring {
    ring: IoUring,
    /// Written by the kernel on every completion; registered with the loop's poll.
    eventfd: OwnedFd,
    /// Each submitted sync's file (kept open until its completion is reaped) and its tag.
    in_flight: Slab<(Rc<File>, u64)>,
    /// Entries pushed since the last submit.
    queued: usize,
}

impl Ring {
    /// A ring with its completion eventfd, or the error io_uring_setup gave (EPERM under a
    /// seccomp policy or `kernel.io_uring_disabled`, ENOSYS on an old kernel).
    pub fn new() -> io::Result<Ring> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let eventfd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        // A turn's syncs run in parallel on the kernel's io-wq workers, which for regular
        // files are capped at 4 per CPU by default: allow one per queue entry, so a batch of
        // many partitions' syncs is in the block layer at once (their cache flushes merge).
        // Best effort: an older kernel keeps its default.
        let _ = ring
            .submitter()
            .register_iowq_max_workers(&mut [RING_ENTRIES, 0]);
        Ok(Ring {
            ring,
            eventfd,
            in_flight: Slab::new(),
            queued: 0,
        })
    }

    /// The descriptor that becomes readable when completions arrive.
    pub fn event_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Queues a data sync of `file`; `tag` comes back with its completion.
    pub fn queue_datasync(&mut self, file: &Rc<File>, tag: u64) -> io::Result<()> {
        let key = self.in_flight.insert((Rc::clone(file), tag));
        let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd()))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(key as u64);
        if self.ring.submission().is_full() {
            self.submit()?;
        }
        // SAFETY: the entry references no memory, only the descriptor of `file`, and the
        // `Rc<File>` just stored under `key` keeps that descriptor open until the
        // completion carrying `key` is reaped in `reap` (which is when it is removed).
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            self.in_flight.remove(key);
            return Err(io::Error::other("io_uring submission queue full"));
        }
        self.queued += 1;
        Ok(())
    }

    /// Hands the queued entries to the kernel.
    pub fn submit(&mut self) -> io::Result<()> {
        while self.queued > 0 {
            match self.ring.submit() {
                Ok(n) => self.queued = self.queued.saturating_sub(n.max(1)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Calls `done` with the tag and outcome of every completed sync, releasing its file.
    pub fn reap(&mut self, mut done: impl FnMut(u64, io::Result<()>)) {
        // Nothing in flight, nothing to reap: no read of the eventfd (a signal left in it
        // from a completion reaped earlier only wakes the loop once more, to no effect).
        if self.in_flight.is_empty() {
            return;
        }
        self.clear_eventfd();
        for cqe in self.ring.completion() {
            let key = cqe.user_data() as usize;
            let Some((_file, tag)) = self.in_flight.try_remove(key) else {
                continue;
            };
            let result = match cqe.result() {
                r if r < 0 => Err(io::Error::from_raw_os_error(-r)),
                _ => Ok(()),
            };
            done(tag, result);
        }
    }

    /// Blocks until every submitted sync has completed (a controlled shutdown), reaping
    /// each as `reap` does.
    pub fn wait_all(&mut self, mut done: impl FnMut(u64, io::Result<()>)) -> io::Result<()> {
        self.submit()?;
        while !self.in_flight.is_empty() {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.reap(&mut done);
        }
        Ok(())
    }

    fn clear_eventfd(&self) {
        let mut counter = [0u8; 8];
        // Non-blocking: WouldBlock when nothing was signalled since the last read.
        let _ = rustix::io::read(self.eventfd.as_fd(), &mut counter);
    }
}
