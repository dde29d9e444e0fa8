//! Expiry of committed offsets, as Kafka's group coordinator expires them (KIP-211): the
//! offsets of a group with no members expire `offsets.retention.ms` (7 days by default) after
//! the group became empty; a group never seen with members (a standalone consumer's) after
//! each offset's commit. This broker does not persist group metadata, so a group that has
//! offsets at start counts as having become empty then: a restart never makes offsets
//! expire sooner than Kafka would. A group with members keeps its offsets. Expired offsets get tombstones in `__consumer_offsets`, which compaction then
//! removes; `__consumer_offsets` itself is never cut by time retention.

use std::collections::BTreeMap;

use ::log::{info, warn};

use super::Storage;

/// When each group was last seen with members (epoch ms), for the expiry of empty groups.
#[derive(Debug, Default)]
pub struct GroupsSeen {
    with_members: BTreeMap<String, i64>,
}

impl Storage {
    /// At start, every group with offsets counts as seen with members now.
    pub(super) fn start_offsets_expiry(&mut self) {
        let now = super::now_ms();
        for group in self.offsets.keys() {
            self.groups_seen.with_members.insert(group.clone(), now);
        }
    }

    /// Writes tombstones for every committed offset that expired by `now_ms`; `has_members`
    /// tells whether a group has live members. Returns how many expired. Durable after the
    /// turn's flush, like any commit.
    pub fn expire_offsets(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        has_members: impl Fn(&str) -> bool,
    ) -> usize {
        let mut expired: Vec<(String, Vec<(String, i32)>)> = Vec::new();
        for (group, entries) in &self.offsets {
            if has_members(group) {
                self.groups_seen.with_members.insert(group.clone(), now_ms);
                continue;
            }
            let due = |since: i64| now_ms.saturating_sub(since) >= retention_ms;
            let partitions: Vec<(String, i32)> = match self.groups_seen.with_members.get(group) {
                Some(&emptied) if due(emptied) => entries.keys().cloned().collect(),
                Some(_) => Vec::new(),
                None => entries
                    .iter()
                    .filter(|(_, c)| due(c.commit_timestamp))
                    .map(|(key, _)| key.clone())
                    .collect(),
            };
            if !partitions.is_empty() {
                expired.push((group.clone(), partitions));
            }
        }
        let mut count = 0;
        for (group, partitions) in expired {
            match self.delete_offsets(&group, &partitions) {
                Ok(()) => count += partitions.len(),
                Err(e) => warn!("expiring offsets of group {group}: {e:?}"),
            }
            if self.committed(&group).is_none() {
                self.groups_seen.with_members.remove(&group);
            }
        }
        if count > 0 {
            info!("removed {count} expired offsets");
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::{now_ms, offsets, test_dir};
    use std::time::Instant;

    fn committed(offset: i64, commit_timestamp: i64) -> offsets::Committed {
        offsets::Committed {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp,
        }
    }

    #[test]
    fn empty_groups_offsets_expire_and_live_groups_keep_theirs() {
        let dir = test_dir("offsets-expiry");
        let config = Config {
            log_dir: dir.clone(),
            offsets_topic_num_partitions: 1,
            ..Config::default()
        };
        let mut storage = Storage::open(&config).unwrap();
        let old = 1_000;
        for group in ["idle", "live", "left"] {
            let commits = vec![("t".to_string(), 0, committed(5, old))];
            storage.commit_offsets(group, commits).unwrap();
        }
        storage
            .commit_offsets("idle", vec![("t".into(), 1, committed(6, 50_000))])
            .unwrap();
        // "live" and "left" have members at first.
        let retention = 10_000;
        assert_eq!(
            storage.expire_offsets(20_000, retention, |g| g != "idle"),
            1
        );
        assert!(
            storage
                .committed("idle")
                .unwrap()
                .contains_key(&("t".into(), 1))
        );
        // "left" became empty at 20,000 or later: its offsets wait out the retention from then.
        assert_eq!(
            storage.expire_offsets(25_000, retention, |g| g == "live"),
            0
        );
        assert_eq!(
            storage.expire_offsets(30_000, retention, |g| g == "live"),
            1
        );
        assert!(storage.committed("left").is_none());
        assert!(storage.committed("live").is_some());
        storage.flush(Instant::now()).unwrap();
        drop(storage);
        // The tombstones are durable: a restart replays them. The groups left count as
        // emptied at the start: nothing of theirs expires before the retention from then.
        let mut storage = Storage::open(&config).unwrap();
        assert_eq!(storage.expire_offsets(now_ms(), retention, |_| false), 0);
        assert!(storage.committed("left").is_none());
        let idle = storage.committed("idle").unwrap();
        assert_eq!(idle.keys().collect::<Vec<_>>(), [&("t".to_string(), 1)]);
        assert_eq!(
            storage.committed("live").unwrap()[&("t".to_string(), 0)].offset,
            5
        );
    }
}
