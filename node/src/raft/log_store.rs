//! The Raft log and vote, in sled.
//!
//! Tree `log` maps an entry's index, big-endian so that sled's byte order is log order, to
//! the entry as JSON (serde_json: openraft's own types, readable with any JSON tool when a
//! data dir must be inspected; the block inside is base64, see [`super::BlockRequest`]). Tree
//! `meta` holds the vote, the last committed and the last purged log id, also as JSON.
//!
//! **Durability.** openraft counts an appended entry and a saved vote as on disk once we
//! say so, and builds Raft's safety on it: a vote forgotten in a crash lets a node vote twice
//! in one term, an acknowledged entry forgotten can lose a committed block. So every write
//! batch (an append of many entries, a vote, a truncation, a purge) is flushed and fsynced
//! (see `disk.rs`: sled's own flush is no fsync) on a blocking thread before the method
//! returns, and only then is `LogFlushed` called. One sync per batch, never per entry.
//!
//! All writes are serialised: openraft calls these methods one at a time through `&mut self`
//! and each awaits its own sync, so a later write never overtakes an earlier one.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::disk::Disk;
use super::{Entry, LogId, NodeId, StoreError, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The most entry bytes (their stored JSON, which is also their size on the wire) one
/// replication message carries; at least one entry is always sent. openraft 0.9 gives an
/// AppendEntries RPC one heartbeat interval (150 ms) to complete, the follower's decode and
/// fsync included: a few MiB cross a LAN in that time, a message of many large blocks would
/// time out and be resent forever.
pub const REPLICATION_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The JSON of the largest entry: a full block (envelopes with their framing) in base64,
/// plus the entry's own fields. It must fit one gRPC message (with room for the request's
/// other fields), or it could never be replicated.
const ENTRY_JSON_BYTES_MAX: usize =
    (fairshare_protocol::BLOCK_TRANSACTIONS_MAX * (fairshare_protocol::TRANSACTION_BYTES_MAX + 256)).div_ceil(3) * 4 + 1024;
const _: () = assert!(ENTRY_JSON_BYTES_MAX <= fairshare_protocol::MESSAGE_BYTES_MAX - 64 * 1024);

/// The Raft log storage; clones share the same trees (the log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    log: sled::Tree,
    meta: sled::Tree,
    disk: Arc<Disk>,
}

impl LogStore {
    /// Opens the log in `db` and finishes a purge that a crash interrupted. Blocking: it
    /// syncs the data dir once.
    pub fn open(db: sled::Db) -> Result<LogStore, StoreError> {
        let disk = Disk::open(&db).map_err(|source| StoreError::Io { what: "syncing the data dir".into(), source })?;
        let store = LogStore { log: db.open_tree("log")?, meta: db.open_tree("meta")?, disk: Arc::new(disk) };
        // A purge records its new bound first and removes entries after; a crash in between
        // leaves entries below the bound, which openraft must not see again.
        if let Some(purged) = store.read_meta::<LogId>(LAST_PURGED).map_err(|source| decode_error("the last purged log id", source))? {
            store.remove_through(purged.index)?;
            store.disk.sync().map_err(|source| StoreError::Io { what: "syncing the Raft log".into(), source })?;
        }
        Ok(store)
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, io::Error> {
        match self.meta.get(key)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn write_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), io::Error> {
        self.meta.insert(key, serde_json::to_vec(value)?)?;
        Ok(())
    }

    /// The entries in `range`, each with its stored size, stopping early once `bytes_max`
    /// is reached (after at least one entry).
    fn read<R: RangeBounds<u64>>(&self, range: &R, bytes_max: usize) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&index) => index,
            Bound::Excluded(&index) => index.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        let mut bytes = 0;
        for item in self.log.range(log_key(start)..) {
            let (key, value) = item?;
            let index = index_of(&key);
            if !range.contains(&index) || (!entries.is_empty() && bytes + value.len() > bytes_max) {
                break;
            }
            bytes += value.len();
            let entry: Entry = serde_json::from_slice(&value)?;
            if entry.log_id.index != index {
                let message = format!("the Raft log holds entry {} under index {index}", entry.log_id);
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn remove_through(&self, last: u64) -> Result<(), sled::Error> {
        self.remove_range(..=log_key(last))
    }

    fn remove_range<R: RangeBounds<[u8; 8]>>(&self, range: R) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (key, _) = item?;
            batch.remove(key);
        }
        self.log.apply_batch(batch)
    }

    fn append_and_sync(&self, entries: &[Entry]) -> Result<(), io::Error> {
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(&log_key(entry.log_id.index), serde_json::to_vec(entry)?);
        }
        self.log.apply_batch(batch)?;
        self.disk.sync()
    }

    /// Runs one write batch and its sync on a blocking thread.
    async fn write_and_sync(&self, write: impl FnOnce(&LogStore) -> Result<(), io::Error> + Send + 'static) -> Result<(), io::Error> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            write(&store)?;
            store.disk.sync()
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Flushes and fsyncs the whole database (see `disk.rs`), e.g. once more at shutdown.
/// Blocking.
pub fn sync(db: &sled::Db) -> io::Result<()> {
    Disk::open(db).map(drop)
}

/// Big-endian, so that sled's byte order is log order.
pub(crate) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub(crate) fn index_of(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().expect("log keys are 8 bytes"))
}

fn decode_error(what: &str, source: io::Error) -> StoreError {
    match source.downcast::<serde_json::Error>() {
        Ok(source) => StoreError::Decode { what: what.into(), source },
        Err(source) => StoreError::Io { what: format!("reading {what}"), source },
    }
}

fn read_error(error: io::Error) -> StorageError<NodeId> {
    StorageIOError::read_logs(AnyError::new(&error)).into()
}

fn write_error(error: io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&error)).into()
}

/// Only the id of a stored entry, without decoding its payload into a block.
#[derive(Deserialize)]
struct StoredLogId {
    log_id: LogId,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.read(&range, usize::MAX).map_err(read_error)
    }

    /// Bounded by bytes as well as by count, so one replication message stays below the
    /// gRPC limit however large the blocks are.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.read(&(start..end), REPLICATION_BYTES_MAX).map_err(read_error)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.read_meta::<LogId>(LAST_PURGED).map_err(read_error)?;
        let last = match self.log.last().map_err(|error| read_error(error.into()))? {
            Some((_, value)) => Some(serde_json::from_slice::<StoredLogId>(&value).map_err(|error| read_error(error.into()))?.log_id),
            None => None,
        };
        Ok(LogState { last_purged_log_id, last_log_id: last.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let vote = *vote;
        self.write_and_sync(move |store| store.write_meta(VOTE, &vote))
            .await
            .map_err(|error| StorageIOError::write_vote(AnyError::new(&error)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.read_meta(VOTE).map_err(|error| StorageIOError::read_vote(AnyError::new(&error)).into())
    }

    /// Not synced: losing the newest committed id in a crash only means waiting for the
    /// leader to say it again, and every value ever saved was truly committed. Saving it at
    /// all lets a restarting node re-apply its own log up to it at once.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<NodeId>> {
        self.write_meta(COMMITTED, &committed).map_err(write_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED).map_err(read_error)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let store = self.clone();
        // A panic in the writer is our bug: report it as a storage error, which stops Raft,
        // rather than run on with entries that may not be on disk.
        let written = tokio::task::spawn_blocking(move || store.append_and_sync(&entries)).await.map_err(io::Error::other);
        match written.and_then(|result| result) {
            Ok(()) => {
                // Only now are the entries on disk.
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.log_io_completed(Err(io::Error::new(error.kind(), error.to_string())));
                Err(write_error(error))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncating the Raft log from here on");
        self.write_and_sync(move |store| Ok(store.remove_range(log_key(log_id.index)..)?)).await.map_err(write_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purging the Raft log up to here");
        self.write_and_sync(move |store| {
            store.write_meta(LAST_PURGED, &log_id)?;
            Ok(store.remove_through(log_id.index)?)
        })
        .await
        .map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::raft::BlockRequest;

    fn entry(term: u64, index: u64, block: &[u8]) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(BlockRequest { block: block.to_vec() }),
        }
    }

    /// Appends the way openraft does, waiting for the flush callback.
    async fn append(store: &mut LogStore, entries: Vec<Entry>) {
        use openraft::storage::RaftLogStorageExt;
        store.blocking_append(entries).await.expect("append");
    }

    #[tokio::test]
    async fn entries_and_vote_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = LogStore::open(sled::open(dir.path()).unwrap()).unwrap();
            append(&mut store, (1..=5).map(|index| entry(1, index, &[index as u8; 3])).collect()).await;
            store.save_vote(&Vote::new(2, 3)).await.unwrap();
            store.truncate(LogId::new(CommittedLeaderId::new(1, 1), 5)).await.unwrap();
            store.purge(LogId::new(CommittedLeaderId::new(1, 1), 1)).await.unwrap();
        }
        // sled is closed when the last handle drops; reopen the same dir.
        let mut store = LogStore::open(sled::open(dir.path()).unwrap()).unwrap();
        let entries = store.try_get_log_entries(0..10).await.unwrap();
        assert_eq!(entries, (2..=4).map(|index| entry(1, index, &[index as u8; 3])).collect::<Vec<_>>());
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 3)));
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(1));
        assert_eq!(state.last_log_id.map(|id| id.index), Some(4));
    }

    #[tokio::test]
    async fn replication_reads_are_bounded_by_bytes_but_never_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LogStore::open(sled::open(dir.path()).unwrap()).unwrap();
        append(&mut store, (1..=3).map(|index| entry(1, index, &[7; 100])).collect()).await;
        assert_eq!(store.read(&(1..4), 1).unwrap().len(), 1, "one entry even when it alone exceeds the bound");
        let one_entry = serde_json::to_vec(&entry(1, 1, &[7; 100])).unwrap().len();
        assert_eq!(store.read(&(1..4), 2 * one_entry).unwrap().len(), 2);
        assert_eq!(store.limited_get_log_entries(1, 4).await.unwrap().len(), 3);
    }
}
