//! The broker's state on disk, in Kafka's own log-directory layout: `meta.properties`, the
//! KRaft metadata log `__cluster_metadata-0` (the one source of truth for topics and their
//! configs) and one directory of segments per partition. Invariant: this is the only module
//! that touches files; everything in memory here is derived from the log directory.

pub mod acls;
pub mod batch;
mod checkpoint;
pub mod cleaner;
pub mod client_quotas;
pub mod crc32c;
mod deletion;
pub mod dynamic;
pub mod group_records;
pub mod index;
mod leader_epoch;
pub mod log;
pub mod log_start;
pub mod metadata;
pub mod offsets;
pub mod offsets_expiry;
pub mod open_files;
mod partitions;
pub mod producers;
pub mod records;
pub mod recovery;
pub mod scram_credentials;
pub mod snapshot;
pub mod sync;
pub mod txn;
pub mod txn_log;
mod uring;
pub mod volume;
mod write_health;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::log::{info, warn};

use self::batch::BatchHeader;
use self::log::{Appended, FileSlice, PartitionLog, sync_dir};
use self::metadata::{MetadataRecord, RESOURCE_TOPIC, Uuid};
use crate::config::Config;

const METADATA_DIR: &str = "__cluster_metadata-0";
/// Kafka's clean-shutdown marker in the log dir (`CleanShutdownFileHandler`): written last
/// by a controlled shutdown, removed as soon as start-up has seen it, so a crash during
/// start-up counts as unclean next time.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Leader epoch of the metadata log's batches: this node is the only (and first) leader.
const METADATA_LEADER_EPOCH: i32 = 1;
/// Producer ids reserved per ProducerIdsRecord, as Kafka's controller does.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// One partition of a topic.
pub struct Partition {
    pub leader_epoch: i32,
    pub log: PartitionLog,
    /// Idempotent producers' recent batches, for deduplication, and their transactions.
    pub producers: producers::Producers,
    /// Ongoing and aborted transactions (`storage::txn`).
    pub txns: txn::TxnState,
    /// Where the durable records end while appends await their sync (the high watermark
    /// under the default flush policy); `None` when the whole log is readable.
    durable: Option<sync::DurableEnd>,
}

impl Partition {
    fn open(log: PartitionLog, leader_epoch: i32) -> io::Result<Partition> {
        // Producer state comes from the newest snapshot and the batches after it.
        let (producers, txns) = txn::recover(&log)?;
        Ok(Partition {
            leader_epoch,
            log,
            producers,
            txns,
            durable: None,
        })
    }

    /// What reads may serve up to: the durable end while a sync is pending (the default
    /// flush policy), else the log end (Kafka's high watermark with one replica).
    pub fn high_watermark(&self) -> i64 {
        self.durable
            .as_ref()
            .map_or_else(|| self.log.next_offset(), |d| d.offset)
    }

    /// A sync covering the log up to `end` completed.
    fn synced_to(&mut self, end: sync::DurableEnd) {
        self.txns.durable_to(end.offset);
        let Some(durable) = &self.durable else {
            return;
        };
        if end.offset >= self.log.next_offset() {
            self.durable = None;
        } else if durable.offset < end.offset {
            self.durable = Some(end);
        }
    }

    /// The last stable offset: below it no transaction is ongoing, and it never exceeds
    /// the high watermark (records whose sync is pending are not stable yet).
    pub fn last_stable_offset(&self) -> i64 {
        self.txns
            .last_stable_offset(&self.log, self.high_watermark())
    }
}

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Partition>,
    /// Topic-level overrides from ConfigRecords.
    pub configs: BTreeMap<String, String>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    fn config_i64(&self, key: &str) -> Option<i64> {
        self.configs.get(key).and_then(|v| v.parse().ok())
    }
}

/// Why a topic change was refused.
#[derive(Debug)]
pub enum TopicError {
    AlreadyExists,
    InvalidName(&'static str),
    UnknownTopic,
    Io(io::Error),
}

impl From<io::Error> for TopicError {
    fn from(e: io::Error) -> Self {
        TopicError::Io(e)
    }
}

/// Why an append was refused.
#[derive(Debug)]
pub enum AppendError {
    UnknownTopicOrPartition,
    /// An idempotent producer's batch out of sequence or from a fenced epoch.
    Sequence(crate::protocol::error::ErrorCode),
    Io(io::Error),
}

/// A topic as the metadata log describes it: id, partition leader epochs, configs.
type TopicImage = (Uuid, BTreeMap<i32, i32>, BTreeMap<String, String>);

pub struct Storage {
    root: PathBuf,
    pub cluster_id: String,
    pub node_id: i32,
    directory_id: Uuid,
    metadata_log: PartitionLog,
    topics: BTreeMap<String, Topic>,
    names_by_id: HashMap<Uuid, String>,
    segment_bytes: u64,
    retention_ms: i64,
    retention_bytes: i64,
    flush_interval_messages: Option<u64>,
    flush_interval_ms: Option<u64>,
    unflushed_messages: u64,
    last_flush: Instant,
    /// Partitions with appends not yet synced (a set: a request may append to thousands).
    dirty: BTreeSet<(Uuid, i32)>,
    /// The next producer id to hand out, and the end of the block recorded for it.
    next_producer_id: i64,
    producer_id_block_end: i64,
    /// Committed offsets, replayed from `__consumer_offsets`.
    offsets: offsets::OffsetMap,
    /// Consumer groups' records (KIP-848), key bytes to value bytes, replayed from
    /// `__consumer_offsets`.
    group_records: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Transactional offset commits awaiting their producer's marker (txn_log.rs).
    txn_offsets: txn_log::PendingOffsets,
    offsets_partitions: i32,
    /// Dynamic configs of resources other than topics (brokers, groups), by resource type
    /// and name, replayed from ConfigRecords.
    resource_configs: BTreeMap<(i8, String), BTreeMap<String, String>>,
    /// Bumped on every change of a broker resource's dynamic configs.
    broker_config_epoch: u64,
    /// The `metadata.version` level the metadata log records, if any (a Kafka-made log).
    pub metadata_version: Option<i16>,
    /// Client quotas, replayed from ClientQuotaRecords.
    client_quotas: client_quotas::QuotaImage,
    /// SCRAM credentials, replayed from (Remove)UserScramCredentialRecords.
    scram: scram_credentials::ScramImage,
    /// ACLs, replayed from (Remove)AccessControlEntryRecords.
    acls: acls::AclImage,
    /// The broker's effective properties (for topic keys without an override).
    broker_properties: BTreeMap<String, String>,
    /// The log cleaner's place between slices.
    cleaner: cleaner::Cleaner,
    /// When groups were last seen with members (for offset expiry).
    groups_seen: offsets_expiry::GroupsSeen,
    /// Bumped on every append and topic change, so waiting fetches know to look again.
    pub epoch: u64,
    /// Walks produced batches' records (its buffer holds decompressed records).
    pub validator: records::Validator,
    /// Whether the last stop was a controlled shutdown (the marker was present at start).
    clean_shutdown: bool,
    /// Deleted partitions' renamed directories, removed a few files per timer turn.
    deletions: deletion::Deletions,
    /// Whether appends are failing (one WARN as it starts and one as it ends).
    write_health: write_health::WriteHealth,
    /// Removed segments' `.deleted` files and when each may go (`file.delete.delay.ms`).
    segment_deletions: Vec<(Instant, PathBuf)>,
    /// The data syncs in flight (io_uring, or the blocking fallback) and their tickets.
    syncs: sync::Syncs,
    /// The metadata log's snapshots (see `snapshot`).
    snapshots: snapshot::Snapshots,
    /// `recovery-point-offset-checkpoint` as read at start (see `checkpoint`).
    recovery_points: checkpoint::RecoveryPoints,
}

impl Storage {
    /// Opens the log directory (creating it and `meta.properties` when absent), replays the
    /// metadata log and recovers every partition's log.
    pub fn open(config: &Config) -> io::Result<Storage> {
        let root = config.log_dir.clone();
        open_files::set_max(config.log_closed_segment_files_open_max);
        fs::create_dir_all(&root)?;
        let (cluster_id, directory_id) = load_meta_properties(&root, config.node_id)?;
        let clean_shutdown = take_clean_shutdown_marker(&root)?;
        let recovery_points = checkpoint::load(&root)?;
        let metadata_segment_bytes = snapshot::metadata_segment_bytes(&config.properties);
        let metadata_log = PartitionLog::open(&root.join(METADATA_DIR), metadata_segment_bytes)?;
        Storage::refuse_corrupt(&metadata_log)?;
        let mut storage = Storage {
            root,
            cluster_id,
            node_id: config.node_id,
            directory_id,
            metadata_log,
            topics: BTreeMap::new(),
            names_by_id: HashMap::new(),
            segment_bytes: config.log_segment_bytes,
            retention_ms: config.log_retention_ms,
            retention_bytes: config.log_retention_bytes,
            flush_interval_messages: config.log_flush_interval_messages,
            flush_interval_ms: config.log_flush_interval_ms,
            unflushed_messages: 0,
            last_flush: Instant::now(),
            dirty: BTreeSet::new(),
            epoch: 0,
            metadata_version: None,
            validator: records::Validator::new(),
            clean_shutdown,
            next_producer_id: 0,
            producer_id_block_end: 0,
            offsets: offsets::OffsetMap::new(),
            group_records: BTreeMap::new(),
            txn_offsets: txn_log::PendingOffsets::new(),
            offsets_partitions: config.offsets_topic_num_partitions,
            resource_configs: BTreeMap::new(),
            broker_config_epoch: 0,
            client_quotas: client_quotas::QuotaImage::new(),
            scram: scram_credentials::ScramImage::default(),
            acls: acls::AclImage::default(),
            deletions: deletion::Deletions::default(),
            recovery_points,
            write_health: write_health::WriteHealth::default(),
            segment_deletions: Vec::new(),
            syncs: sync::Syncs::new(
                config
                    .properties
                    .get("log.flush.io.uring")
                    .map(|v| v.trim())
                    != Some("false"),
                Duration::from_micros(config.log_flush_poll_us),
                config
                    .properties
                    .get("log.flush.hold.file")
                    .map(PathBuf::from),
            ),
            broker_properties: config.properties.clone(),
            cleaner: cleaner::Cleaner::default(),
            groups_seen: offsets_expiry::GroupsSeen::default(),
            snapshots: snapshot::Snapshots::default(),
        };
        storage.replay_metadata()?;
        storage.load_log_start_checkpoint()?;
        storage.load_cleaner_checkpoint();
        storage.replay_offsets()?;
        storage.start_offsets_expiry();
        // Every log is recovered; once synced (after a crash the page cache may hold what
        // the scans read, and the index files they rebuilt), a crash need not check it again.
        storage.recovery_points.clear();
        if !storage.clean_shutdown {
            rustix::fs::syncfs(fs::File::open(&storage.root)?)?;
        }
        if let Err(e) = storage.write_recovery_points() {
            warn!("{}: {e}", checkpoint::RECOVERY_POINT_FILE);
        }
        info!(
            "log dir {}: cluster {}, {} topics",
            storage.root.display(),
            storage.cluster_id,
            storage.topics.len()
        );
        Ok(storage)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the previous run ended in a controlled shutdown (Kafka's
    /// `.kafka_cleanshutdown` was there at start); recovery may then trust what it wrote.
    pub fn had_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// A controlled shutdown's last step: every partition with unsynced appends is synced,
    /// then Kafka's clean-shutdown marker is written and made durable.
    pub fn shutdown(&mut self, now: Instant) -> io::Result<()> {
        self.flush(now)?;
        self.snapshot_at_shutdown();
        // Kafka's snapshot at a clean shutdown: a restart replays nothing.
        for topic in self.topics.values() {
            for partition in &topic.partitions {
                let log = &partition.log;
                if let Err(e) =
                    txn::write_snapshot(log.dir(), log.next_offset(), &partition.producers)
                {
                    warn!("{}: producer snapshot: {e}", log.dir().display());
                }
            }
        }
        self.close_logs()?;
        let path = self.root.join(CLEAN_SHUTDOWN_FILE);
        // Kafka's content: version 0 and the broker epoch, which a broker without a
        // controller registration does not have (-1).
        let mut file = fs::File::create(&path)?;
        io::Write::write_all(&mut file, br#"{"version":0,"brokerEpoch":-1}"#)?;
        file.sync_all()?;
        sync_dir(&self.root)
    }

    /// This log directory's id (meta.properties' `directory.id`).
    pub fn directory_id(&self) -> Uuid {
        self.directory_id
    }

    /// The file system holding the log directory: total and usable bytes.
    pub fn volume_space(&self) -> io::Result<volume::Space> {
        volume::space(&self.root)
    }

    /// The metadata log's end offset, which is also its high watermark: this node is the
    /// quorum's only voter and every metadata append is synced before it is acknowledged.
    pub fn metadata_end_offset(&self) -> i64 {
        self.metadata_log.next_offset()
    }

    /// The metadata log's leader epoch (this node has led it since the start).
    pub fn metadata_leader_epoch(&self) -> i32 {
        METADATA_LEADER_EPOCH
    }

    /// The offset of the metadata log's last record (0 while it has none).
    pub fn metadata_offset(&self) -> i64 {
        (self.metadata_log.next_offset() - 1).max(0)
    }

    fn replay_metadata(&mut self) -> io::Result<()> {
        // The newest valid snapshot's records, then the log's after it.
        let records = self.load_metadata_records()?;
        // First the topic image, then the partition logs it names.
        let mut image: BTreeMap<String, TopicImage> = BTreeMap::new();
        let mut names: HashMap<Uuid, String> = HashMap::new();
        for record in records {
            match record {
                MetadataRecord::Topic { name, topic_id } => {
                    names.insert(topic_id, name.clone());
                    image.insert(name, (topic_id, BTreeMap::new(), BTreeMap::new()));
                }
                MetadataRecord::Partition {
                    partition_id,
                    topic_id,
                    leader_epoch,
                    ..
                } => {
                    if let Some(entry) = names.get(&topic_id).and_then(|n| image.get_mut(n)) {
                        entry.1.insert(partition_id, leader_epoch);
                    }
                }
                MetadataRecord::RemoveTopic { topic_id } => {
                    if let Some(name) = names.remove(&topic_id) {
                        image.remove(&name);
                    }
                }
                MetadataRecord::Config {
                    resource_type,
                    resource_name,
                    name,
                    value,
                } => {
                    if resource_type != RESOURCE_TOPIC {
                        self.replay_resource_config(resource_type, resource_name, name, value);
                        continue;
                    }
                    if let Some(entry) = image.get_mut(&resource_name) {
                        match value {
                            Some(v) => entry.2.insert(name, v),
                            None => entry.2.remove(&name),
                        };
                    }
                }
                MetadataRecord::ProducerIds {
                    next_producer_id, ..
                } => {
                    self.next_producer_id = self.next_producer_id.max(next_producer_id);
                    self.producer_id_block_end = self.next_producer_id;
                }
                MetadataRecord::FeatureLevel { name, level } => {
                    if name == metadata::METADATA_VERSION {
                        self.metadata_version = (level > 0).then_some(level);
                    }
                }
                MetadataRecord::ClientQuota { .. } => {
                    match client_quotas::QuotaChange::from_record(&record) {
                        Some(change) => client_quotas::apply(&mut self.client_quotas, &change),
                        None => warn!("metadata log: skipping a ClientQuotaRecord: {record:?}"),
                    }
                }
                MetadataRecord::UserScramCredential { .. }
                | MetadataRecord::RemoveUserScramCredential { .. } => self.scram.replay(record),
                MetadataRecord::AccessControlEntry { .. }
                | MetadataRecord::RemoveAccessControlEntry { .. } => self.acls.replay(record),
                MetadataRecord::Other { .. } => {}
            }
        }
        let live = image
            .iter()
            .map(|(name, (id, partitions, _))| {
                let count = partitions.keys().next_back().map_or(0, |&max| max + 1);
                (*id, (name.clone(), count))
            })
            .collect();
        self.recover_deletions(&live)?;
        for (name, (id, partitions, configs)) in image {
            let mut topic = Topic {
                name: name.clone(),
                id,
                partitions: Vec::new(),
                configs,
            };
            let count = partitions.keys().next_back().map_or(0, |&max| max + 1);
            for index in 0..count {
                let leader_epoch = partitions.get(&index).copied().unwrap_or(0);
                let mut log = self.open_partition_log(&topic, index)?;
                log.assign_epoch(leader_epoch);
                topic.partitions.push(Partition::open(log, leader_epoch)?);
            }
            self.names_by_id.insert(id, name.clone());
            self.topics.insert(name, topic);
        }
        Ok(())
    }

    /// Opens partition `index` of `topic`, creating its directory when absent. A directory
    /// whose `partition.metadata` names another topic id is stray (a deleted topic's, left by
    /// a crash before its removal): its records are not this topic's, so it is removed and
    /// the partition starts empty.
    fn open_partition_log(&self, topic: &Topic, index: i32) -> io::Result<PartitionLog> {
        let dir = self.partition_dir(&topic.name, index);
        let metadata_path = dir.join("partition.metadata");
        let id = base64url(&topic.id);
        if let Ok(text) = fs::read_to_string(&metadata_path) {
            let named = text
                .lines()
                .find_map(|line| line.strip_prefix("topic_id:"))
                .map(str::trim);
            if named.is_some_and(|named| named != id) {
                warn!(
                    "{}: belongs to topic id {}, not {id}; removing it",
                    dir.display(),
                    named.unwrap_or_default()
                );
                fs::remove_dir_all(&dir)?;
            }
        }
        let fresh = !dir.exists();
        let segment_bytes = topic
            .config_i64("segment.bytes")
            .map_or(self.segment_bytes, |v| v.max(14) as u64);
        let recovery = checkpoint::recovery_for(
            &self.recovery_points,
            self.clean_shutdown,
            &topic.name,
            index,
        );
        let index = self.index_settings(&topic.configs);
        let mut log = PartitionLog::open_indexed(&dir, segment_bytes, recovery, index)?;
        log.set_segment_ms(self.segment_ms(&topic.configs));
        if fresh || !metadata_path.exists() {
            let text = format!("version: 0\ntopic_id: {id}\n");
            fs::write(&metadata_path, text)?;
            sync_dir(&dir)?;
        }
        Ok(log)
    }

    /// Creates partition `index` of `topic` empty. Whatever directory a crash left at its
    /// path (a half-made partition, a deleted topic's) is removed first and never reused; a
    /// non-directory there is not ours to remove and fails the creation.
    fn create_partition_log(&self, topic: &Topic, index: i32) -> io::Result<PartitionLog> {
        let dir = self.partition_dir(&topic.name, index);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {
                warn!("{}: a stray directory; removing it", dir.display());
                fs::remove_dir_all(&dir)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", dir.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.open_partition_log(topic, index)
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.root.join(format!("{topic}-{index}"))
    }

    /// All topics, sorted by name.
    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.topics.values()
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Topic> {
        self.names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }

    /// Topic-level configuration overrides.
    pub fn topic_configs(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.topics.get(name).map(|t| &t.configs)
    }

    /// Creates a topic: its partition directories first, then its TopicRecord,
    /// PartitionRecords and ConfigRecords appended to the metadata log and synced, the
    /// commit point. A failure before it removes the directories made; a crash before it
    /// leaves only stray directories, which no restart loads (the metadata log does not
    /// name them) and which a later creation at their path removes first.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(String, String)],
    ) -> Result<&Topic, TopicError> {
        validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if self.topics.contains_key(name) {
            return Err(TopicError::AlreadyExists);
        }
        let id = random_uuid()?;
        let mut topic = Topic {
            name: name.to_string(),
            id,
            partitions: Vec::new(),
            configs: configs.iter().cloned().collect(),
        };
        let mut logs = Vec::with_capacity(partitions.max(0) as usize);
        for index in 0..partitions {
            match self.create_partition_log(&topic, index) {
                Ok(log) => logs.push(log),
                Err(e) => {
                    drop(logs);
                    self.remove_uncommitted(name, 0..index + 1);
                    return Err(TopicError::Io(e));
                }
            }
        }
        let mut records = vec![MetadataRecord::Topic {
            name: name.to_string(),
            topic_id: id,
        }];
        for partition_id in 0..partitions {
            records.push(MetadataRecord::Partition {
                partition_id,
                topic_id: id,
                replicas: vec![self.node_id],
                leader: self.node_id,
                leader_epoch: 0,
            });
        }
        for (key, value) in configs {
            records.push(MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: name.to_string(),
                name: key.clone(),
                value: Some(value.clone()),
            });
        }
        let committed = sync_dir(&self.root).and_then(|()| self.append_metadata(&records));
        if let Err(e) = committed {
            drop(logs);
            self.remove_uncommitted(name, 0..partitions);
            return Err(TopicError::Io(e));
        }
        for mut log in logs {
            log.assign_epoch(0);
            topic.partitions.push(Partition::open(log, 0)?);
        }
        info!(
            "created topic {name} ({} partitions, id {})",
            partitions,
            base64url(&id)
        );
        self.names_by_id.insert(id, name.to_string());
        self.epoch += 1;
        Ok(self.topics.entry(name.to_string()).or_insert(topic))
    }

    /// Deletes a topic: each partition directory renamed to Kafka's
    /// `<topic>-<partition>.<uuid>-delete`, then the RemoveTopicRecord appended and synced,
    /// the commit point; the renamed directories are removed later in bounded steps
    /// ([`Storage::remove_deleted`]). A failure before the commit renames them back; a crash
    /// before it is undone at the next start (see `deletion`).
    pub fn delete_topic(&mut self, name: &str) -> Result<Uuid, TopicError> {
        let topic = self.topics.get(name).ok_or(TopicError::UnknownTopic)?;
        let id = topic.id;
        let mut renamed: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(topic.partitions.len());
        let mut result = Ok(());
        for (index, partition) in topic.partitions.iter().enumerate() {
            let from = partition.log.dir().to_path_buf();
            let to = match deletion::delete_dir_name(name, index as i32) {
                Ok(to) => self.root.join(to),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = fs::rename(&from, &to) {
                result = Err(e);
                break;
            }
            renamed.push((from, to));
        }
        let committed = result
            .and_then(|()| sync_dir(&self.root))
            .and_then(|()| self.append_metadata(&[MetadataRecord::RemoveTopic { topic_id: id }]));
        if let Err(e) = committed {
            for (from, to) in renamed.iter().rev() {
                if let Err(e) = fs::rename(to, from) {
                    warn!("renaming {} back: {e}", to.display());
                }
            }
            if let Err(e) = sync_dir(&self.root) {
                warn!("syncing {}: {e}", self.root.display());
            }
            return Err(TopicError::Io(e));
        }
        let checkpointed = self.topics.remove(name).is_some_and(|topic| {
            let mut partitions = topic.partitions.iter();
            partitions.any(|p| p.log.checkpointed_log_start().is_some())
        });
        // The topic is gone either way: a checkpoint still naming it is ignored at start.
        if checkpointed && let Err(e) = self.write_log_start_checkpoint() {
            warn!("log-start-offset-checkpoint after deleting {name}: {e}");
        }
        self.names_by_id.remove(&id);
        self.dirty.retain(|(dirty_id, _)| *dirty_id != id);
        for (_, to) in renamed {
            self.deletions.push(to);
        }
        self.epoch += 1;
        info!("deleted topic {name}");
        Ok(id)
    }

    /// Every entity's configured client quotas.
    pub fn client_quotas(&self) -> &client_quotas::QuotaImage {
        &self.client_quotas
    }

    /// Records client quota changes (ClientQuotaRecords, synced as one batch) and applies
    /// them.
    pub fn alter_client_quotas(
        &mut self,
        changes: &[client_quotas::QuotaChange],
    ) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let records: Vec<MetadataRecord> = changes.iter().map(|c| c.record()).collect();
        self.append_metadata(&records)?;
        for change in changes {
            client_quotas::apply(&mut self.client_quotas, change);
        }
        Ok(())
    }

    /// Every user's SCRAM credentials.
    pub fn scram_credentials(&self) -> &scram_credentials::ScramImage {
        &self.scram
    }

    /// Records SCRAM credential changes ((Remove)UserScramCredentialRecords, synced as one
    /// batch) and applies them.
    pub fn alter_scram_credentials(&mut self, records: Vec<MetadataRecord>) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.append_metadata(&records)?;
        for record in records {
            self.scram.replay(record);
        }
        Ok(())
    }

    /// Every ACL.
    pub fn acls(&self) -> &acls::AclImage {
        &self.acls
    }

    /// Records ACL changes ((Remove)AccessControlEntryRecords, synced as one batch) and
    /// applies them.
    pub fn alter_acls(&mut self, records: Vec<MetadataRecord>) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.append_metadata(&records)?;
        for record in records {
            self.acls.replay(record);
        }
        Ok(())
    }

    /// Appends metadata records as one batch, synced. Callers apply a change to memory
    /// right after this returns (before any other append): a snapshot that is due is
    /// written first, when memory holds exactly what the log holds.
    fn append_metadata(&mut self, records: &[MetadataRecord]) -> io::Result<()> {
        self.snapshot_if_due();
        let values: Vec<Vec<u8>> = records
            .iter()
            .map(|r| r.encode(&self.directory_id))
            .collect();
        let mut bytes = batch::build(0, METADATA_LEADER_EPOCH, now_ms(), &values);
        self.metadata_log
            .append(&mut bytes, METADATA_LEADER_EPOCH)?;
        self.metadata_log.sync()?;
        self.metadata_appended(&bytes);
        Ok(())
    }

    /// Appends one validated batch to a partition, unless it is an idempotent producer's
    /// retry of a batch already stored (then its original offsets come back with
    /// `duplicate` set). A transactional batch begins (or continues) its producer's
    /// transaction on the partition; a control batch holding a transaction marker is
    /// checked and ends it ([`Storage::write_txn_marker`] builds those). Durable only after
    /// [`Storage::flush`].
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        bytes: &[u8],
    ) -> Result<Appended, AppendError> {
        self.append_checked(topic, partition, bytes, 0)
    }

    fn append_checked(
        &mut self,
        topic: &str,
        partition: i32,
        bytes: &[u8],
        transaction_version: i8,
    ) -> Result<Appended, AppendError> {
        let topic = self
            .topics
            .get_mut(topic)
            .ok_or(AppendError::UnknownTopicOrPartition)?;
        let part = usize::try_from(partition)
            .ok()
            .and_then(|i| topic.partitions.get_mut(i))
            .ok_or(AppendError::UnknownTopicOrPartition)?;
        let header =
            BatchHeader::parse(bytes).ok_or(AppendError::Io(io::Error::other("short batch")))?;
        if part.log.is_offline() {
            return Err(AppendError::Io(io::Error::other(
                "the partition's log is corrupt",
            )));
        }
        let marker = if header.is_control() {
            let marker = txn::read_marker(bytes).ok_or(AppendError::Sequence(
                crate::protocol::error::CORRUPT_MESSAGE,
            ))?;
            producers::check_marker(
                &part.producers,
                header.producer_id,
                header.producer_epoch,
                marker,
                transaction_version,
            )
            .map_err(AppendError::Sequence)?;
            Some(marker)
        } else {
            match producers::check(&part.producers, &header) {
                producers::SequenceCheck::Append => {}
                producers::SequenceCheck::Duplicate(base_offset) => {
                    let last_offset = base_offset + i64::from(header.last_offset_delta);
                    // A retry of a batch whose sync is pending is acknowledged with it.
                    if last_offset >= part.high_watermark() {
                        let id = topic.id;
                        self.need_sync(id, partition);
                    }
                    return Ok(Appended {
                        base_offset,
                        last_offset,
                        duplicate: true,
                    });
                }
                producers::SequenceCheck::Reject(code) => {
                    return Err(AppendError::Sequence(code));
                }
            }
            None
        };
        if part.durable.is_none()
            && self.flush_interval_messages.is_none()
            && self.flush_interval_ms.is_none()
        {
            // Reads stop where the log ends now until this append's sync completes.
            part.durable = Some(sync::DurableEnd::of(&part.log));
        }
        let active_before = part.log.active_base_offset();
        let appended = match part.log.append_from(bytes, part.leader_epoch) {
            Ok(appended) => {
                self.write_health.succeeded(&self.root);
                appended
            }
            Err(e) => {
                let what = part.log.dir().display().to_string();
                self.write_health.failed(&self.root, &what, &e);
                return Err(AppendError::Io(e));
            }
        };
        if part.log.active_base_offset() != active_before {
            // A segment rolled: the producers' state before this batch is Kafka's snapshot
            // at the new segment's base offset.
            if let Err(e) =
                txn::write_snapshot(part.log.dir(), appended.base_offset, &part.producers)
            {
                warn!("{}: producer snapshot: {e}", part.log.dir().display());
            }
            part.txns.segments_changed(&part.log);
        }
        let header = BatchHeader {
            base_offset: appended.base_offset,
            ..header
        };
        match marker {
            Some(marker) => {
                if let Some(done) = producers::record_marker(&mut part.producers, &header, marker)
                    && let Err(e) =
                        part.txns
                            .complete(part.log.dir(), part.log.active_base_offset(), &done)
                {
                    // The marker is in the log: a restart's recovery rebuilds the entry.
                    warn!("{}: transaction index: {e}", part.log.dir().display());
                }
                // Without a pending sync (another flush policy) the marker is as readable
                // as the rest of the log.
                let high_watermark = part.high_watermark();
                part.txns.durable_to(high_watermark);
            }
            None => {
                if let Some((producer_id, first_offset)) =
                    producers::record(&mut part.producers, &header)
                {
                    part.txns.begin(producer_id, first_offset);
                }
            }
        }
        let id = topic.id;
        self.dirty.insert((id, partition));
        self.need_sync(id, partition);
        self.syncs.note_appended(header.size() as u64);
        self.unflushed_messages += (appended.last_offset - appended.base_offset + 1) as u64;
        self.epoch += 1;
        Ok(appended)
    }

    /// Writes a transaction marker to a partition and returns its offset: a control batch
    /// exactly as Kafka writes one (attributes control | transactional, one record whose key
    /// is version 0 and the type, 0 ABORT or 1 COMMIT, and whose value is version 0 and
    /// `coordinator_epoch`; the producer's id and epoch, base sequence -1). It ends the
    /// producer's ongoing transaction on the partition, if any (an ABORT is recorded in the
    /// segment's `.txnindex`), and moves the last stable offset. Refused, as Kafka's
    /// ProducerStateManager refuses it, with `AppendError::Sequence(INVALID_PRODUCER_EPOCH)`
    /// for an epoch below the producer's and `Sequence(TRANSACTION_COORDINATOR_FENCED)` for a
    /// coordinator epoch below its last marker's. Durable after the turn's
    /// [`Storage::flush`], like any append.
    pub fn write_txn_marker(
        &mut self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<i64, AppendError> {
        self.write_txn_marker_version(
            topic,
            partition,
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            0,
        )
    }

    /// [`Storage::write_txn_marker`] for a given transaction version (WriteTxnMarkers v2):
    /// from transactions v2 (KIP-890) a marker carries a bumped epoch, so one not above the
    /// producer's epoch is stale.
    #[allow(clippy::too_many_arguments)]
    pub fn write_txn_marker_version(
        &mut self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        transaction_version: i8,
    ) -> Result<i64, AppendError> {
        let bytes = txn::build_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            commit,
            now_ms(),
        );
        self.append_checked(topic, partition, &bytes, transaction_version)
            .map(|a| a.base_offset)
    }

    /// Hands out a new producer id; blocks of ids are recorded in the metadata log (as
    /// Kafka's ProducerIdsRecord) so ids are never reused after a restart.
    pub fn allocate_producer_id(&mut self) -> io::Result<i64> {
        if self.next_producer_id >= self.producer_id_block_end {
            let end = self.next_producer_id + PRODUCER_ID_BLOCK;
            self.append_metadata(&[MetadataRecord::ProducerIds {
                broker_id: self.node_id,
                broker_epoch: 0,
                next_producer_id: end,
            }])?;
            self.producer_id_block_end = end;
        }
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        Ok(id)
    }

    fn replay_offsets(&mut self) -> io::Result<()> {
        let Some(topic) = self.topics.get(offsets::TOPIC) else {
            return Ok(());
        };
        for (index, partition) in topic.partitions.iter().enumerate() {
            Storage::refuse_corrupt(&partition.log)?;
            let bytes = partition.log.read_all()?;
            let mut position = 0;
            while let Some(header) = bytes.get(position..).and_then(BatchHeader::parse) {
                let end = position + header.size();
                let Some(batch_bytes) = bytes.get(position..end) else {
                    break;
                };
                position = end;
                // Transactional offsets count only once their producer's COMMIT follows.
                let (pending, committed) = (&mut self.txn_offsets, &mut self.offsets);
                if txn_log::replay_batch(pending, committed, index as i32, &header, batch_bytes) {
                    continue;
                }
                if header.is_control() {
                    continue;
                }
                let records = batch::records(batch_bytes).map_err(|e| {
                    io::Error::other(format!(
                        "{}: unreadable records in the batch at offset {} ({e}): start-up \
                         stopped (nothing was deleted); run `kafka-broker --repair \
                         <server.properties>`",
                        partition.log.dir().display(),
                        header.base_offset
                    ))
                })?;
                for record in records {
                    if let Some(key) = record.key
                        && group_records::decode_key(key).is_some()
                    {
                        match record.value {
                            Some(value) => self.group_records.insert(key.to_vec(), value.to_vec()),
                            None => self.group_records.remove(key),
                        };
                        continue;
                    }
                    let Some(Ok(Some((group, topic, partition)))) =
                        record.key.map(offsets::decode_key)
                    else {
                        continue;
                    };
                    let entries = self.offsets.entry(group).or_default();
                    match record.value.map(offsets::decode_value) {
                        Some(Ok(committed)) => {
                            entries.insert((topic, partition), committed);
                        }
                        None => {
                            entries.remove(&(topic, partition));
                        }
                        Some(Err(e)) => warn!("{}: skipping an offset record: {e}", offsets::TOPIC),
                    }
                }
            }
        }
        Ok(())
    }

    /// Creates `__consumer_offsets` on first use with the configs Kafka's group coordinator
    /// gives it: compacted, `offsets.topic.segment.bytes` segments, the producer's codec.
    pub(super) fn ensure_offsets_topic(&mut self) -> Result<(), AppendError> {
        if self.topics.contains_key(offsets::TOPIC) {
            return Ok(());
        }
        let segment_bytes = self
            .broker_properties
            .get("offsets.topic.segment.bytes")
            .map_or("104857600", String::as_str)
            .trim()
            .to_string();
        let configs = [
            ("cleanup.policy", "compact".to_string()),
            ("compression.type", "producer".to_string()),
            ("segment.bytes", segment_bytes),
        ]
        .map(|(k, v)| (k.to_string(), v));
        self.create_topic(offsets::TOPIC, self.offsets_partitions, &configs)
            .map_err(|e| AppendError::Io(io::Error::other(format!("{e:?}"))))?;
        Ok(())
    }

    /// Records a group's committed offsets in `__consumer_offsets` (created on first use).
    /// Durable after the turn's [`Storage::flush`], like any append.
    pub fn commit_offsets(
        &mut self,
        group: &str,
        commits: Vec<(String, i32, offsets::Committed)>,
    ) -> Result<(), AppendError> {
        if commits.is_empty() {
            return Ok(());
        }
        self.ensure_offsets_topic()?;
        let records: Vec<batch::KeyValue> = commits
            .iter()
            .map(|(topic, partition, c)| {
                (
                    Some(offsets::encode_key(group, topic, *partition)),
                    Some(offsets::encode_value(c)),
                )
            })
            .collect();
        let bytes = batch::build_keyed(0, 0, now_ms(), &records);
        let partition = offsets::partition_for(group, self.offsets_partitions);
        self.append(offsets::TOPIC, partition, &bytes)?;
        let entries = self.offsets.entry(group.to_string()).or_default();
        for (topic, partition, committed) in commits {
            entries.insert((topic, partition), committed);
        }
        Ok(())
    }

    /// Writes consumer-group records (KIP-848) to the group's `__consumer_offsets`
    /// partition in one batch (a `None` value is a tombstone). Durable after the turn's
    /// [`Storage::flush`], like any append.
    pub fn write_group_records(
        &mut self,
        group: &str,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), AppendError> {
        if records.is_empty() {
            return Ok(());
        }
        self.ensure_offsets_topic()?;
        let batch: Vec<batch::KeyValue> = records
            .iter()
            .map(|(k, v)| (Some(k.clone()), v.clone()))
            .collect();
        let bytes = batch::build_keyed(0, 0, now_ms(), &batch);
        let partition = offsets::partition_for(group, self.offsets_partitions);
        self.append(offsets::TOPIC, partition, &bytes)?;
        for (key, value) in records {
            match value {
                Some(value) => self.group_records.insert(key, value),
                None => self.group_records.remove(&key),
            };
        }
        Ok(())
    }

    /// Every consumer group record (KIP-848) in effect: key bytes and value bytes.
    pub fn group_records(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.group_records
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// A group's committed offsets.
    pub fn committed(&self, group: &str) -> Option<&BTreeMap<(String, i32), offsets::Committed>> {
        self.offsets
            .get(group)
            .filter(|entries| !entries.is_empty())
    }

    /// Deletes a group's committed offsets with tombstones in `__consumer_offsets`, as Kafka
    /// deletes a group: durable after the turn's [`Storage::flush`]; a restart replays the
    /// tombstones and the group is gone.
    pub fn delete_group_offsets(&mut self, group: &str) -> Result<(), AppendError> {
        let partitions: Vec<(String, i32)> = match self.offsets.get(group) {
            Some(entries) => entries.keys().cloned().collect(),
            None => return Ok(()),
        };
        self.delete_offsets(group, &partitions)?;
        self.offsets.remove(group);
        Ok(())
    }

    /// Deletes the committed offsets of some of a group's partitions (those it has), with
    /// tombstones, like [`Storage::delete_group_offsets`].
    pub fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<(), AppendError> {
        let Some(entries) = self.offsets.get(group) else {
            return Ok(());
        };
        let tombstones: Vec<batch::KeyValue> = partitions
            .iter()
            .filter(|key| entries.contains_key(*key))
            .map(|(topic, partition)| (Some(offsets::encode_key(group, topic, *partition)), None))
            .collect();
        if tombstones.is_empty() {
            return Ok(());
        }
        let bytes = batch::build_keyed(0, 0, now_ms(), &tombstones);
        let partition = offsets::partition_for(group, self.offsets_partitions);
        self.append(offsets::TOPIC, partition, &bytes)?;
        if let Some(entries) = self.offsets.get_mut(group) {
            for key in partitions {
                entries.remove(key);
            }
        }
        Ok(())
    }

    pub fn groups_with_offsets(&self) -> impl Iterator<Item = &str> {
        self.offsets
            .iter()
            .filter(|(_, entries)| !entries.is_empty())
            .map(|(group, _)| group.as_str())
    }

    /// Whether appends are waiting for an fsync that the flush policy requires now. With no
    /// `log.flush.interval.*` set, every append is synced before it is acknowledged.
    pub fn flush_due(&self, now: Instant) -> bool {
        if self.dirty.is_empty() {
            return false;
        }
        match (self.flush_interval_messages, self.flush_interval_ms) {
            (None, None) => true,
            (messages, ms) => {
                messages.is_some_and(|m| self.unflushed_messages >= m)
                    || ms.is_some_and(|ms| {
                        now.duration_since(self.last_flush).as_millis() as u64 >= ms
                    })
            }
        }
    }

    /// When the flush policy next needs a sync of pending appends, if it is time-based.
    pub fn next_flush(&self) -> Option<Instant> {
        if self.dirty.is_empty() {
            return None;
        }
        self.flush_interval_ms
            .map(|ms| self.last_flush + std::time::Duration::from_millis(ms))
    }

    /// Syncs every partition with unsynced appends and waits: the batch in flight, then
    /// one for what waited behind it, so every answer held for a ticket can leave.
    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.wait_syncs()?;
        self.submit_syncs(now)?;
        self.wait_syncs()
    }

    /// The bytes to serve a fetch, or `None` at the high watermark: records whose sync is
    /// pending are not served.
    pub fn read(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
    ) -> io::Result<Option<FileSlice>> {
        let Some(durable) = &partition.durable else {
            return partition.log.read(offset, max_bytes);
        };
        if offset >= durable.offset {
            return Ok(None);
        }
        let slice = partition.log.read(offset, max_bytes)?;
        Ok(slice.map(|mut slice| {
            slice.len = durable.clamp(slice.segment, slice.position, slice.len);
            slice
        }))
    }

    /// Applies retention to every partition (topic overrides first, then broker defaults)
    /// whose `cleanup.policy` holds `delete`: a compact-only topic (`__consumer_offsets`
    /// among them) is never cut by time or size, as in Kafka.
    pub fn enforce_retention(&mut self) {
        let now = now_ms();
        let deleting: Vec<String> = self
            .topics
            .values()
            .filter(|t| {
                let policy = self.topic_setting(&t.configs, "cleanup.policy");
                crate::configs::list_items(&policy).contains(&"delete")
            })
            .map(|t| t.name.clone())
            .collect();
        let delays: HashMap<String, Duration> = self
            .topics
            .values()
            .filter(|t| deleting.contains(&t.name))
            .map(|t| (t.name.clone(), self.file_delete_delay(&t.configs)))
            .collect();
        for topic in self.topics.values_mut() {
            if !deleting.contains(&topic.name) {
                continue;
            }
            let delay = delays[&topic.name];
            let retention_ms = topic
                .config_i64("retention.ms")
                .unwrap_or(self.retention_ms);
            let retention_bytes = topic
                .config_i64("retention.bytes")
                .unwrap_or(self.retention_bytes);
            for partition in &mut topic.partitions {
                match partition
                    .log
                    .enforce_retention(now, retention_ms, retention_bytes)
                {
                    Ok(0) => {}
                    Ok(_) => partition.txns.segments_changed(&partition.log),
                    Err(e) => warn!("retention on {}: {e}", partition.log.dir().display()),
                }
                deletion::schedule_deleted_files(
                    &mut self.segment_deletions,
                    &mut partition.log,
                    delay,
                );
            }
        }
    }
}

/// Start-up's error for a metadata-log batch whose records cannot be read (its CRC held).
pub(super) fn corrupt_metadata(header: &BatchHeader, e: &dyn std::fmt::Display) -> io::Error {
    io::Error::other(format!(
        "{METADATA_DIR}: unreadable record in the batch at offset {}: {e}; start-up stopped \
         (nothing was deleted); run `kafka-broker --repair <server.properties>`",
        header.base_offset
    ))
}

/// Whether Kafka counts `name` as an internal topic (`Topic.INTERNAL_TOPICS`): Metadata and
/// DescribeTopicPartitions report these with `is_internal` set.
pub fn is_internal_topic(name: &str) -> bool {
    name == offsets::TOPIC || name == "__transaction_state"
}

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("topic name is empty");
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be '.' or '..'");
    }
    if name.len() > 249 {
        return Err("topic name is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err("topic name has characters other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn random_uuid() -> io::Result<Uuid> {
    let mut id = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut id)?;
    // Version 4, variant 1, as Kafka's Uuid.randomUuid.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(id)
}

/// URL-safe base64 without padding: how Kafka prints a Uuid.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Whether the clean-shutdown marker is there; it is removed (durably) before anything
/// else is read, as Kafka's LogManager does, so a crash from here on is an unclean stop.
fn take_clean_shutdown_marker(root: &Path) -> io::Result<bool> {
    let path = root.join(CLEAN_SHUTDOWN_FILE);
    match fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(root)?;
            ::log::debug!("{}: the last stop was clean", path.display());
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            ::log::debug!("{}: absent, the last stop was not clean", path.display());
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Reads `meta.properties`, or writes a new one; returns the cluster id and directory id.
fn load_meta_properties(root: &Path, node_id: i32) -> io::Result<(String, Uuid)> {
    let path = root.join("meta.properties");
    if let Ok(text) = fs::read_to_string(&path) {
        let props = crate::config::parse_properties(&text);
        if let Some(cluster_id) = props.get("cluster.id") {
            let directory_id = props
                .get("directory.id")
                .and_then(|d| base64url_decode(d))
                .unwrap_or([0; 16]);
            return Ok((cluster_id.clone(), directory_id));
        }
        warn!("{}: no cluster.id; writing a new one", path.display());
    }
    let cluster_id = base64url(&random_uuid()?);
    let directory_id = random_uuid()?;
    let text = format!(
        "#\n#Written by kafka-broker\nnode.id={node_id}\ndirectory.id={}\nversion=1\ncluster.id={cluster_id}\n",
        base64url(&directory_id)
    );
    let tmp = root.join("meta.properties.tmp");
    fs::write(&tmp, text)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &path)?;
    sync_dir(root)?;
    Ok((cluster_id, directory_id))
}

fn base64url_decode(text: &str) -> Option<Uuid> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    out.try_into().ok()
}

/// A fresh directory for a unit test.
#[cfg(test)]
pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-broker-unit-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_for(dir: &Path) -> Config {
        Config {
            log_dir: dir.to_path_buf(),
            ..Config::default()
        }
    }

    #[test]
    fn base64url_matches_kafka_uuid_text() {
        assert_eq!(base64url(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = [0xfb; 16];
        assert_eq!(base64url_decode(&base64url(&id)), Some(id));
        assert_eq!(base64url(b"\xff\xff\xff"), "____");
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("a.b_c-D9").is_ok());
        for bad in ["", ".", "..", "a b", "a/b", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topics_survive_reopen_and_deletion_is_recorded() {
        let dir = test_dir("storage-topics");
        let id;
        {
            let mut storage = Storage::open(&config_for(&dir)).unwrap();
            id = storage
                .create_topic("orders", 3, &[("retention.ms".into(), "1000".into())])
                .unwrap()
                .id;
            storage.create_topic("gone", 1, &[]).unwrap();
            assert!(matches!(
                storage.create_topic("orders", 1, &[]),
                Err(TopicError::AlreadyExists)
            ));
            let batch = batch::build(0, 0, 1, &[b"v".to_vec()]);
            storage.append("orders", 2, &batch).unwrap();
            storage.flush(Instant::now()).unwrap();
            storage.delete_topic("gone").unwrap();
            assert!(!dir.join("gone-0").exists());
            while storage.deletions_pending() {
                storage.remove_deleted();
            }
            let left: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| name.ends_with("-delete"))
                .collect();
            assert!(left.is_empty(), "{left:?}");
        }
        let storage = Storage::open(&config_for(&dir)).unwrap();
        let names: Vec<&str> = storage.topics().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["orders"]);
        let topic = storage.topic_by_id(&id).unwrap();
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partition(2).unwrap().log.next_offset(), 1);
        assert_eq!(
            topic.configs.get("retention.ms").map(String::as_str),
            Some("1000")
        );
        let text = fs::read_to_string(dir.join("orders-0/partition.metadata")).unwrap();
        assert_eq!(text, format!("version: 0\ntopic_id: {}\n", base64url(&id)));
        assert!(
            fs::read_to_string(dir.join("meta.properties"))
                .unwrap()
                .contains("cluster.id=")
        );
    }
}

#[cfg(test)]
mod durable_state_tests {
    use super::*;

    #[test]
    fn offsets_and_producer_ids_survive_reopen() {
        let dir = test_dir("storage-offsets");
        let config = Config {
            log_dir: dir.clone(),
            offsets_topic_num_partitions: 3,
            ..Config::default()
        };
        let first_id;
        {
            let mut storage = Storage::open(&config).unwrap();
            first_id = storage.allocate_producer_id().unwrap();
            assert_eq!(storage.allocate_producer_id().unwrap(), first_id + 1);
            let c = offsets::Committed {
                offset: 17,
                leader_epoch: 0,
                metadata: "m".into(),
                commit_timestamp: 5,
            };
            storage
                .commit_offsets("g", vec![("t".into(), 1, c)])
                .unwrap();
            storage.flush(Instant::now()).unwrap();
        }
        let mut storage = Storage::open(&config).unwrap();
        let committed = storage.committed("g").unwrap();
        assert_eq!(
            committed.get(&("t".to_string(), 1)).map(|c| c.offset),
            Some(17)
        );
        assert_eq!(storage.topic(offsets::TOPIC).unwrap().partitions.len(), 3);
        // Ids are never handed out twice across restarts.
        assert!(storage.allocate_producer_id().unwrap() >= first_id + PRODUCER_ID_BLOCK);
    }

    #[test]
    fn idempotent_retry_is_not_written_twice_even_after_reopen() {
        let dir = test_dir("storage-idempotent");
        let config = Config {
            log_dir: dir.clone(),
            ..Config::default()
        };
        let mut batch = batch::build(0, 0, 1, &[b"a".to_vec(), b"b".to_vec()]);
        // producerId 9, epoch 0, baseSequence 0: set the fields, then re-seal the CRC.
        batch[43..51].copy_from_slice(&9i64.to_be_bytes());
        batch[51..53].copy_from_slice(&0i16.to_be_bytes());
        batch[53..57].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        {
            let mut storage = Storage::open(&config).unwrap();
            storage.create_topic("t", 1, &[]).unwrap();
            assert!(!storage.append("t", 0, &batch).unwrap().duplicate);
            storage.flush(Instant::now()).unwrap();
        }
        let mut storage = Storage::open(&config).unwrap();
        let again = storage.append("t", 0, &batch).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.base_offset, 0);
        assert_eq!(
            storage
                .topic("t")
                .unwrap()
                .partition(0)
                .unwrap()
                .log
                .next_offset(),
            2
        );
    }
}
