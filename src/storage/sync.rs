//! The group commit without waiting: at the end of a turn the data syncs of every partition
//! appended to are submitted together as one numbered batch (a ticket), to io_uring where
//! the kernel allows it, else as blocking `fdatasync`s one after another. Responses that
//! need durability carry the ticket they wait for; the event loop holds their bytes until
//! [`Storage::completed_ticket`] reaches it.
//!
//! Invariants: tickets complete in order (a batch is applied only after every earlier
//! one); a partition's high watermark (its durable end, with the default flush policy)
//! moves only when the batch that covered it completed, so no read serves a record whose
//! sync is pending; a failed sync is never applied (the broker stops, as after a failed
//! blocking fsync).

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ::log::{debug, info};

use super::Storage;
use super::log::PartitionLog;
use super::metadata::Uuid;
use super::uring::Ring;

/// Where a partition's durable records end: the offset after them and, when the log has a
/// segment, the segment (its base offset) and byte position they end at (reads are cut
/// there).
#[derive(Clone)]
pub struct DurableEnd {
    pub offset: i64,
    at: Option<(i64, u64)>,
}

impl DurableEnd {
    /// The log's end as it is now.
    pub fn of(log: &PartitionLog) -> DurableEnd {
        DurableEnd {
            offset: log.next_offset(),
            at: log.end_position(),
        }
    }

    /// How many bytes of a read of `segment` from `position` lie before this end.
    pub fn clamp(&self, segment: i64, position: u64, len: usize) -> usize {
        match &self.at {
            Some((end_segment, end)) if *end_segment == segment => {
                len.min(end.saturating_sub(position) as usize)
            }
            _ => len,
        }
    }
}

/// The most syncs in flight, and bytes they make durable, for which the loop polls instead
/// of sleeping ([`Storage::sync_poll_budget`]). A sync of more takes milliseconds, which
/// the wake-up is small beside; polling through them took CPU the sync's writeback needs
/// (produce_1MiB on one connection lost 5-10%).
const POLLED_SYNCS_MAX: usize = 4;
const POLLED_BYTES_MAX: u64 = 64 << 10;

enum Backend {
    /// Boxed: the ring is large and there is one per broker.
    Uring(Box<Ring>),
    Blocking,
}

/// One turn's syncs.
struct Batch {
    ticket: u64,
    /// Syncs submitted and not yet completed.
    remaining: usize,
    failed: Option<io::Error>,
    /// Each partition synced, with the end its appends reached at submission.
    ends: Vec<(Uuid, i32, DurableEnd)>,
    submitted: Instant,
    /// Requests whose responses wait for this batch (as counted at submission).
    waiters: usize,
    /// Bytes appended since the batch before it.
    bytes: u64,
}

pub struct Syncs {
    backend: Backend,
    /// The ticket of the next batch submitted.
    next_ticket: u64,
    /// Every ticket up to this one is durable and applied.
    completed: u64,
    /// The highest ticket handed to a response (a batch is submitted for it even when no
    /// partition is dirty, so no response waits for a batch that never comes).
    promised: u64,
    /// The ticket the latest request's response needs (0: none).
    needed: u64,
    /// Requests so far whose responses wait for the next batch.
    next_waiters: usize,
    /// Bytes appended so far for the next batch.
    next_bytes: u64,
    /// Submitted batches, oldest first.
    batches: VecDeque<Batch>,
    /// How long the loop polls without sleeping for a small batch's completion
    /// (`log.flush.poll.us`; zero: never).
    poll_budget: Duration,
    /// A test hook (`log.flush.hold.file`): while this file exists, completed batches are
    /// not applied, so acknowledgements stay held and reads see no new records.
    hold_file: Option<PathBuf>,
}

impl Syncs {
    /// io_uring unless it is refused or `use_uring` is false; says which at INFO.
    pub fn new(use_uring: bool, poll_budget: Duration, hold_file: Option<PathBuf>) -> Syncs {
        let backend = if !use_uring {
            info!("data syncs: blocking fdatasync (log.flush.io.uring=false)");
            Backend::Blocking
        } else {
            match Ring::new() {
                Ok(ring) => {
                    info!("data syncs: io_uring (IORING_OP_FSYNC, datasync)");
                    Backend::Uring(Box::new(ring))
                }
                Err(e) => {
                    info!("data syncs: blocking fdatasync (io_uring refused: {e})");
                    Backend::Blocking
                }
            }
        };
        Syncs {
            backend,
            next_ticket: 1,
            completed: 0,
            promised: 0,
            needed: 0,
            next_waiters: 0,
            next_bytes: 0,
            batches: VecDeque::new(),
            poll_budget,
            hold_file,
        }
    }

    fn held(&self) -> bool {
        self.hold_file.as_ref().is_some_and(|path| path.exists())
    }

    fn need(&mut self, ticket: u64) {
        self.needed = self.needed.max(ticket);
        self.promised = self.promised.max(ticket);
    }

    /// An append of `bytes` goes into the next batch.
    pub(super) fn note_appended(&mut self, bytes: u64) {
        self.next_bytes = self.next_bytes.saturating_add(bytes);
    }

    fn complete(&mut self, ticket: u64, result: io::Result<()>) {
        if let Some(batch) = self.batches.iter_mut().find(|b| b.ticket == ticket) {
            batch.remaining = batch.remaining.saturating_sub(1);
            if let Err(e) = result {
                batch.failed.get_or_insert(e);
            }
        }
    }
}

impl Storage {
    /// Whether acknowledgements wait for the data sync (no `log.flush.interval.*` set).
    pub fn syncs_before_ack(&self) -> bool {
        self.flush_interval_messages.is_none() && self.flush_interval_ms.is_none()
    }

    /// Notes that the current request's response needs the appends to `partition` made
    /// durable: the next batch if the partition is still dirty, else the batch already
    /// in flight for it.
    pub(super) fn need_sync(&mut self, id: Uuid, partition: i32) {
        if !self.syncs_before_ack() {
            return;
        }
        let ticket = if self.dirty.contains(&(id, partition)) {
            self.syncs.next_ticket
        } else {
            self.syncs.next_ticket - 1
        };
        if ticket > self.syncs.completed {
            self.syncs.need(ticket);
        }
    }

    /// The current request's response waits for this turn's batch (a consumer group's
    /// records, written at the end of the turn).
    pub fn need_turn_sync(&mut self) {
        if self.syncs_before_ack() {
            let ticket = self.syncs.next_ticket;
            self.syncs.need(ticket);
        }
    }

    /// The ticket the latest request's response waits for (0: none), and a fresh start for
    /// the next request.
    pub fn take_needed_ticket(&mut self) -> u64 {
        let needed = self.take_unowned_ticket();
        if needed == self.syncs.next_ticket {
            self.syncs.next_waiters += 1;
        }
        needed
    }

    /// What the appends since the last request asked for when no response waits for it
    /// (the turn's own appends: timers', group records'), and a fresh start.
    pub fn take_unowned_ticket(&mut self) -> u64 {
        std::mem::take(&mut self.syncs.needed)
    }

    /// Every ticket up to this one is durable.
    pub fn completed_ticket(&self) -> u64 {
        self.syncs.completed
    }

    /// The ring's completion eventfd, when io_uring is in use.
    pub fn sync_fd(&self) -> Option<RawFd> {
        match &self.syncs.backend {
            Backend::Uring(ring) => Some(ring.event_fd()),
            Backend::Blocking => None,
        }
    }

    /// How long the loop should still poll for completions without sleeping: what is left
    /// of the budget since the batch in flight was submitted, if it is a small batch on
    /// io_uring (at most [`POLLED_SYNCS_MAX`] syncs of at most [`POLLED_BYTES_MAX`]) that
    /// at most one request waits for;
    /// else none. A sleeping loop is woken by the ring's eventfd once the kernel's worker
    /// finishes the sync, and that wake-up (of an idle CPU; in a VM, an exit and re-entry)
    /// adds tens of microseconds to the sync itself, which a synchronous producer pays on
    /// every request. When many requests wait, more arrive meanwhile and the CPU is
    /// better left to the kernel's workers and the clients; batches of many partitions
    /// take milliseconds: the loop sleeps through those.
    pub fn sync_poll_budget(&self, now: Instant) -> Option<Duration> {
        let Backend::Uring(_) = self.syncs.backend else {
            return None;
        };
        let mut in_flight = self.syncs.batches.iter().filter(|b| b.remaining > 0);
        let batch = in_flight.next()?;
        if batch.remaining > POLLED_SYNCS_MAX
            || batch.bytes > POLLED_BYTES_MAX
            || batch.waiters > 1
            || in_flight.next().is_some()
        {
            return None;
        }
        let spent = now.saturating_duration_since(batch.submitted);
        self.syncs
            .poll_budget
            .checked_sub(spent)
            .filter(|d| !d.is_zero())
    }

    /// Whether a completed batch waits unapplied, as only the test hook makes it wait (the
    /// broker looks again on a timer, as nothing else would wake it once the file goes).
    pub fn syncs_held(&self) -> bool {
        self.syncs.hold_file.is_some()
            && self.syncs.batches.front().is_some_and(|b| b.remaining == 0)
    }

    /// Whether this turn must submit a batch: appends wait for the flush policy, or a
    /// response was promised the next batch; and no batch is in flight. One batch at a
    /// time is the group commit: what is appended while one is in flight goes, for every
    /// partition at once, into the next (syncs of one file submitted turn after turn
    /// would queue up in the kernel, one sync per small turn).
    pub fn sync_due(&self, now: Instant) -> bool {
        self.syncs.batches.is_empty()
            && (self.flush_due(now) || self.syncs.promised >= self.syncs.next_ticket)
    }

    /// The group commit: one data sync per dirty segment of every partition appended to
    /// since the last batch, submitted together. With io_uring they complete later
    /// ([`Storage::reap_syncs`]); the blocking fallback syncs them here, one by one.
    pub fn submit_syncs(&mut self, now: Instant) -> io::Result<()> {
        let ticket = self.syncs.next_ticket;
        self.syncs.next_ticket += 1;
        let mut batch = Batch {
            ticket,
            remaining: 0,
            failed: None,
            ends: Vec::new(),
            submitted: now,
            waiters: std::mem::take(&mut self.syncs.next_waiters),
            bytes: std::mem::take(&mut self.syncs.next_bytes),
        };
        for (id, partition) in std::mem::take(&mut self.dirty) {
            let Some(part) = self
                .names_by_id
                .get(&id)
                .and_then(|name| self.topics.get_mut(name))
                .and_then(|t| t.partitions.get_mut(partition as usize))
            else {
                continue;
            };
            for file in part.log.take_dirty_files() {
                match &mut self.syncs.backend {
                    Backend::Uring(ring) => {
                        ring.queue_datasync(&file, ticket)?;
                        batch.remaining += 1;
                    }
                    Backend::Blocking => file.sync_data()?,
                }
            }
            batch.ends.push((id, partition, DurableEnd::of(&part.log)));
        }
        if let Backend::Uring(ring) = &mut self.syncs.backend {
            ring.submit()?;
        }
        debug!(
            "sync batch {ticket}: {} partitions, {} syncs submitted",
            batch.ends.len(),
            batch.remaining
        );
        self.syncs.batches.push_back(batch);
        self.unflushed_messages = 0;
        self.last_flush = now;
        // The blocking fallback's batch is complete already; io_uring's completions are
        // reaped when its eventfd wakes the loop (a sync just submitted is not done yet).
        self.apply_synced(false)
    }

    /// Takes the completions that arrived and applies every batch that is complete and has
    /// no incomplete batch before it. A failed sync is an error (the caller stops).
    pub fn reap_syncs(&mut self) -> io::Result<()> {
        let mut done = Vec::new();
        if let Backend::Uring(ring) = &mut self.syncs.backend {
            ring.reap(|ticket, result| done.push((ticket, result)));
        }
        for (ticket, result) in done {
            debug!("sync of batch {ticket} completed: {result:?}");
            self.syncs.complete(ticket, result);
        }
        self.apply_synced(false)
    }

    /// Waits for every sync in flight and applies them all (a controlled shutdown; the
    /// test hook does not hold them).
    pub fn wait_syncs(&mut self) -> io::Result<()> {
        if let Backend::Uring(ring) = &mut self.syncs.backend {
            let mut done = Vec::new();
            ring.wait_all(|ticket, result| done.push((ticket, result)))?;
            for (ticket, result) in done {
                self.syncs.complete(ticket, result);
            }
        }
        self.apply_synced(true)
    }

    fn apply_synced(&mut self, force: bool) -> io::Result<()> {
        while self.syncs.batches.front().is_some_and(|b| b.remaining == 0) {
            if !force && self.syncs.held() {
                return Ok(());
            }
            let Some(batch) = self.syncs.batches.pop_front() else {
                break;
            };
            if let Some(e) = batch.failed {
                return Err(e);
            }
            for (id, partition, end) in batch.ends {
                // A partition deleted while its sync was in flight is simply gone.
                let Some(part) = self
                    .names_by_id
                    .get(&id)
                    .and_then(|name| self.topics.get_mut(name))
                    .and_then(|t| t.partitions.get_mut(partition as usize))
                else {
                    continue;
                };
                part.synced_to(end);
            }
            debug!("sync batch {} complete", batch.ticket);
            self.syncs.completed = batch.ticket;
            // Waiting fetches may now see the records.
            self.epoch += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::{Storage, batch, crc32c, test_dir};
    use crate::config::Config;

    /// Two records from producer 9, epoch 0, base sequence 0.
    fn idempotent_batch() -> Vec<u8> {
        let mut batch = batch::build(0, 0, 1, &[b"a".to_vec(), b"b".to_vec()]);
        batch[43..51].copy_from_slice(&9i64.to_be_bytes());
        batch[51..53].copy_from_slice(&0i16.to_be_bytes());
        batch[53..57].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    fn high_watermark(storage: &Storage) -> i64 {
        storage.topic("t").unwrap().partitions[0].high_watermark()
    }

    #[test]
    fn a_retry_of_a_batch_whose_sync_is_pending_waits_for_that_sync() {
        for uring in ["true", "false"] {
            let dir = test_dir(&format!("sync-retry-{uring}"));
            let hold = dir.join("hold");
            let mut config = Config {
                log_dir: dir.join("logs"),
                ..Config::default()
            };
            let properties = &mut config.properties;
            properties.insert("log.flush.hold.file".into(), hold.display().to_string());
            properties.insert("log.flush.io.uring".into(), uring.into());
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            std::fs::write(&hold, b"").unwrap();
            let batch = idempotent_batch();
            assert!(!storage.append("t", 0, &batch).unwrap().duplicate);
            // The batch this turn submits.
            assert_eq!(storage.take_needed_ticket(), 1, "{uring}");
            // A retry in the same turn waits for it too.
            assert!(storage.append("t", 0, &batch).unwrap().duplicate);
            assert_eq!(storage.take_needed_ticket(), 1, "{uring}");
            storage.submit_syncs(Instant::now()).unwrap();
            storage.reap_syncs().unwrap();
            assert_eq!(
                (storage.completed_ticket(), high_watermark(&storage)),
                (0, 0)
            );
            // A retry while the batch is in flight (held) waits for that batch.
            assert!(storage.append("t", 0, &batch).unwrap().duplicate);
            assert_eq!(storage.take_needed_ticket(), 1, "{uring}");
            // While a batch is in flight (here: held) the next one waits.
            let more = batch::build(0, 0, 1, &[b"z".to_vec()]);
            storage.append("t", 0, &more).unwrap();
            assert_eq!(storage.take_needed_ticket(), 2, "{uring}");
            assert!(!storage.sync_due(Instant::now()));
            std::fs::remove_file(&hold).unwrap();
            storage.wait_syncs().unwrap();
            assert_eq!(
                (storage.completed_ticket(), high_watermark(&storage)),
                (1, 2)
            );
            assert!(storage.sync_due(Instant::now()));
            storage.submit_syncs(Instant::now()).unwrap();
            storage.wait_syncs().unwrap();
            assert_eq!(
                (storage.completed_ticket(), high_watermark(&storage)),
                (2, 3)
            );
            // Nothing dirty, nothing promised: no batch.
            assert!(!storage.sync_due(Instant::now()));
            // Durable: a retry now needs nothing.
            assert!(storage.append("t", 0, &batch).unwrap().duplicate);
            assert_eq!(storage.take_needed_ticket(), 0, "{uring}");
            // A relaxed flush policy acknowledges without a ticket and reads to the log end.
            storage.flush_interval_messages = Some(1_000_000);
            let more = batch::build(0, 0, 1, &[b"c".to_vec()]);
            storage.append("t", 0, &more).unwrap();
            assert_eq!(
                (storage.take_needed_ticket(), high_watermark(&storage)),
                (0, 4)
            );
        }
    }

    #[test]
    fn the_loop_polls_only_for_a_small_batch_one_request_waits_for() {
        let dir = test_dir("sync-poll-budget");
        let mut config = Config {
            log_dir: dir.join("logs"),
            log_flush_poll_us: 250,
            ..Config::default()
        };
        let hold = dir.join("hold");
        let properties = &mut config.properties;
        properties.insert("log.flush.hold.file".into(), hold.display().to_string());
        let mut storage = Storage::open(&config).unwrap();
        if storage.sync_fd().is_none() {
            // io_uring refused here: the blocking fallback never polls.
            assert_eq!(storage.sync_poll_budget(Instant::now()), None);
            return;
        }
        storage.create_topic("t", 6, &[]).unwrap();
        let one = || batch::build(0, 0, 1, &[b"a".to_vec()]);
        let round = |storage: &mut Storage, partitions: &[i32], requests: usize| {
            for _ in 0..requests {
                for &p in partitions {
                    storage.append("t", p, &one()).unwrap();
                }
                storage.take_needed_ticket();
            }
            let now = Instant::now();
            storage.submit_syncs(now).unwrap();
            let budgets = (
                storage.sync_poll_budget(now),
                storage.sync_poll_budget(now + Duration::from_micros(100)),
                storage.sync_poll_budget(now + Duration::from_micros(250)),
            );
            storage.wait_syncs().unwrap();
            assert_eq!(storage.sync_poll_budget(Instant::now()), None);
            budgets
        };
        let us = |n| Some(Duration::from_micros(n));
        // One request, one partition: the whole budget, then what is left, then none.
        assert_eq!(round(&mut storage, &[0], 1), (us(250), us(150), None));
        // One request over four partitions: still polled.
        assert_eq!(
            round(&mut storage, &[0, 1, 2, 3], 1),
            (us(250), us(150), None)
        );
        // Five partitions' syncs, or two requests waiting: the loop sleeps.
        assert_eq!(round(&mut storage, &[0, 1, 2, 3, 4], 1), (None, None, None));
        assert_eq!(round(&mut storage, &[5], 2), (None, None, None));
        // One request of more than 64 KiB: its sync takes long enough to sleep through.
        let large = batch::build(0, 0, 1, &[vec![b'x'; 70 << 10]]);
        storage.append("t", 0, &large).unwrap();
        storage.take_needed_ticket();
        let now = Instant::now();
        storage.submit_syncs(now).unwrap();
        assert_eq!(storage.sync_poll_budget(now), None);
        storage.wait_syncs().unwrap();
        // A completed batch held by the test hook is not in flight.
        std::fs::write(&hold, b"").unwrap();
        storage.append("t", 0, &one()).unwrap();
        storage.take_needed_ticket();
        storage.submit_syncs(Instant::now()).unwrap();
        while !storage.syncs_held() {
            storage.reap_syncs().unwrap();
        }
        assert_eq!(storage.sync_poll_budget(Instant::now()), None);
        std::fs::remove_file(&hold).unwrap();
        storage.wait_syncs().unwrap();
        // Zero turns polling off.
        storage.syncs.poll_budget = Duration::ZERO;
        assert_eq!(round(&mut storage, &[0], 1), (None, None, None));
    }
}
