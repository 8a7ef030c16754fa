//! The state machine: an adapter between openraft and `fairshare_protocol::Ledger`.
//!
//! It decodes each block and hands it to `Ledger::apply_block`; **no business rule lives
//! here**, so every node and every offline auditor reaches the same state from the same log.
//!
//! **Persistence is by snapshot.** `apply` changes the ledger in memory only; a snapshot
//! (`{ last_applied, last_membership, ledger }` as JSON, written to tree `snapshot` and
//! fsynced) is the state's durable form. On startup [`StateMachine::open`] restores the
//! stored snapshot and openraft re-applies the log after it, which the log store has kept on
//! disk. The ledger's de-duplication state (transaction ids, nonces) is part of the ledger,
//! so a resubmitted transaction is recognised after a restart or on a node that caught up
//! from a snapshot.
//!
//! **Snapshots are built only of certified states.** A follower installs a snapshot only if
//! it equals a checkpoint certified by more than two thirds of the nodes
//! ([`super::snapshot_check`]), so that is what nodes build: after a batch that leaves the
//! state exactly at its latest certified head (checkpoint signatures are not leaves, so the
//! block that completes a certificate leaves the head where it was), and at least
//! [`SNAPSHOT_LOGS_SINCE_LAST`] entries after the previous copy or snapshot (and once the
//! ledger grew by a quarter since, or [`super::SNAPSHOT_LOGS_MAX`] entries passed), `apply` keeps
//! a copy of the state ([`StateMachine::certified_copies`] announces it). The snapshot
//! builder serialises the latest copy, never the current state; openraft then purges the
//! log only up to that copy's log id, so a lagging follower gets either entries or a
//! certified snapshot. Building is triggered by [`snapshot_certified_copies`], not by
//! openraft's policy (see `raft_config`).
//!
//! Tree `blocks` keeps the encoded block of every applied entry by log index, so that the
//! full history can be served after the Raft log is compacted (see [`BlockHistory`]).

use crate::ledger_cell::LedgerCell;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use fairshare_protocol::ledger::LedgerData;
use fairshare_protocol::snapshot::SnapshotRefused;
use fairshare_protocol::{Genesis, Ledger};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageError, StorageIOError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::disk::Disk;
use super::log_store::{index_of, log_key};
use super::{
    BlockResponse, Entry, LogId, NodeId, OutcomeRecord, Raft, SnapshotMeta, StoreError, StoredMembership, TypeConfig, SNAPSHOT_LOGS_MAX,
    SNAPSHOT_LOGS_SINCE_LAST,
};

/// Where the state machine has got to: sent to listeners (watch streams, the checkpoint
/// signer) after every applied batch of entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The last applied Raft log index (0 before anything was applied).
    pub log_index: u64,
    /// The ledger's size: its number of Merkle leaves.
    pub size: u64,
}

/// What a snapshot holds. Its bytes are [`SNAPSHOT_MAGIC`] and then the body in postcard,
/// a compact binary serde form (hashes as 32 bytes, integers as varints): about a third of
/// the JSON it replaces, and several times faster to write and read. A snapshot stored as
/// JSON by an earlier version (it starts with `{`) is still read.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub(crate) last_applied: Option<LogId>,
    pub(crate) last_membership: StoredMembership,
    pub(crate) ledger: LedgerData,
}

/// The first bytes of a snapshot in the binary form; the number is the form's version.
pub(crate) const SNAPSHOT_MAGIC: &[u8] = b"fairshare-snapshot/2\n";

impl SnapshotBody {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let mut bytes = SNAPSHOT_MAGIC.to_vec();
        postcard::to_io(self, &mut bytes).map_err(|error| format!("the snapshot does not encode: {error}"))?;
        Ok(bytes)
    }

    /// Decodes either form; never panics on any bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SnapshotBody, String> {
        match bytes.strip_prefix(SNAPSHOT_MAGIC) {
            Some(body) => match postcard::take_from_bytes::<SnapshotBody>(body) {
                Ok((body, [])) => Ok(body),
                Ok((_, rest)) => Err(format!("{} bytes follow the snapshot", rest.len())),
                Err(error) => Err(error.to_string()),
            },
            None if bytes.first() == Some(&b'{') => serde_json::from_slice(bytes).map_err(|error| error.to_string()),
            None => Err("it is neither a binary snapshot (fairshare-snapshot/2) nor a JSON one".into()),
        }
    }
}

pub struct StateMachine {
    genesis: Arc<Genesis>,
    /// Shared with the gRPC query handlers. A `std` lock: nothing awaits while holding it,
    /// and blocks are applied on a blocking thread, one write lock per block.
    ledger: Arc<LedgerCell>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    applied: watch::Sender<Applied>,
    snapshots: SnapshotStore,
    history: BlockHistory,
    /// The latest copy of a state that sat exactly at its certified head: what the next
    /// snapshot is built of (see the module documentation).
    certified_copy: Option<Arc<SnapshotBody>>,
    /// A copy at a due block end, waiting for its certificate (see `apply_entries`).
    pending_copy: Option<SnapshotBody>,
    /// The log index of the latest copy, or of the snapshot stored or installed since.
    copied_at: Option<u64>,
    /// The ledger size at that copy (or snapshot).
    copied_size: u64,
    /// The log id of the latest copy.
    certified_copies: watch::Sender<Option<LogId>>,
}

impl StateMachine {
    /// Opens the state machine in `db`, restored from its stored snapshot if there is one,
    /// with a receiver of [`Applied`] (more with [`StateMachine::subscribe`]). Refuses a data
    /// dir whose snapshot was made under another genesis. Blocking: it syncs the data dir
    /// once and may parse a large snapshot.
    pub fn open(db: sled::Db, genesis: Arc<Genesis>) -> Result<(StateMachine, watch::Receiver<Applied>), StoreError> {
        let disk = Disk::open(&db).map_err(|source| StoreError::Io { what: "syncing the data dir".into(), source })?;
        let snapshots = SnapshotStore { tree: db.open_tree("snapshot")?, disk: Arc::new(disk), writing: Arc::new(Mutex::new(())) };
        let history = BlockHistory::open(&db)?;
        let (ledger, last_applied, last_membership) = match snapshots.load()? {
            None => (Ledger::new(genesis.clone()), None, StoredMembership::default()),
            Some((meta, data)) => {
                let body = SnapshotBody::decode(&data)
                    .map_err(|error| StoreError::Damaged(format!("the stored snapshot is unreadable: {error}")))?;
                let ledger = Ledger::restore(genesis.clone(), body.ledger).map_err(restore_error)?;
                (ledger, meta.last_log_id, meta.last_membership)
            }
        };
        let size_at_start = ledger.size();
        let (applied, receiver) = watch::channel(Applied { log_index: last_applied.map_or(0, |id| id.index), size: ledger.size() });
        let machine = StateMachine {
            genesis,
            ledger: Arc::new(LedgerCell::new(ledger)),
            last_applied,
            last_membership,
            applied,
            snapshots,
            history,
            certified_copy: None,
            pending_copy: None,
            copied_at: last_applied.map(|id| id.index),
            copied_size: size_at_start,
            certified_copies: watch::channel(None).0,
        };
        Ok((machine, receiver))
    }

    /// The ledger, for queries. Take the read lock briefly and never across an `.await`.
    pub fn ledger(&self) -> Arc<LedgerCell> {
        self.ledger.clone()
    }

    /// Notified after every applied batch; starts with the state restored at open.
    pub fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    /// The log id of every state copied to build snapshots of (see the module
    /// documentation); [`snapshot_certified_copies`] triggers a snapshot on each.
    pub fn certified_copies(&self) -> watch::Receiver<Option<LogId>> {
        self.certified_copies.subscribe()
    }

    /// The stored blocks, for the audit stream.
    pub fn history(&self) -> BlockHistory {
        self.history.clone()
    }

    /// The encoded blocks from log index `from` on, in log order.
    pub fn blocks_from(&self, from: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> {
        self.history.blocks_from(from)
    }

    fn notify(&self, size: u64) {
        // `send_replace` also works without listeners, unlike `send`.
        self.applied.send_replace(Applied { log_index: self.last_applied.map_or(0, |id| id.index), size });
    }
}

/// Applies a batch of entries; runs on a blocking thread (signature checks are CPU work).
/// Copies the ledger if the batch ends at log index `copy_from` or later with the state
/// exactly at its latest certified head, or (cheaply, after every batch) while the ledger
/// has no leaf yet: genesis' own state, which any node can check.
fn apply_entries(
    ledger: &LedgerCell,
    history: &BlockHistory,
    entries: Vec<Entry>,
    copy: CopyDue,
    mut membership: StoredMembership,
    mut pending: Option<SnapshotBody>,
) -> Result<AppliedBatch, sled::Error> {
    let mut batch = AppliedBatch {
        responses: Vec::with_capacity(entries.len()),
        last_applied: None,
        membership: None,
        size: 0,
        certified: None,
        pending: None,
    };
    let mut blocks = sled::Batch::default();
    // The whole batch is applied to a copy of the ledger that readers do not see, which
    // then becomes current at once (`LedgerCell`): queries never wait for an apply.
    let ledger = ledger.update(|ledger| {
        for entry in entries {
            batch.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => BlockResponse::default(),
                EntryPayload::Membership(changed) => {
                    membership = StoredMembership::new(Some(entry.log_id), changed);
                    batch.membership = Some(membership.clone());
                    BlockResponse::default()
                }
                EntryPayload::Normal(request) => {
                    blocks.insert(&log_key(entry.log_id.index), request.block.as_slice());
                    match fairshare_protocol::envelope::decode_block(request.block.as_slice()) {
                        Ok(block) => {
                            let outcomes = ledger.apply_replicated(&block);
                            // Under load the head of a block end is certified only after
                            // later blocks: keep a copy of the state at a due block end
                            // (O(1)), to snapshot once its certificate arrives.
                            let size = ledger.size();
                            if pending.is_none() && copy.wanted(entry.log_id.index, size) && ledger.certification().due.contains(&size) {
                                let data = ledger.data().clone();
                                pending = Some(SnapshotBody {
                                    last_applied: Some(entry.log_id),
                                    last_membership: membership.clone(),
                                    ledger: data,
                                });
                            }
                            BlockResponse { outcomes: outcomes.iter().map(OutcomeRecord::from).collect() }
                        }
                        // Replicated data must never crash a node. The leader encodes blocks
                        // itself, so this is a bug or a faulty leader; every node answers the same.
                        Err(error) => {
                            tracing::warn!(log_id = %entry.log_id, %error, "entry holds no decodable block; applied as empty");
                            BlockResponse::default()
                        }
                    }
                }
            };
            batch.responses.push(response);
        }
        ledger.clone()
    });
    // Not synced here: the log store keeps these entries durable until a snapshot, whose
    // sync also covers these blocks.
    history.blocks.apply_batch(blocks)?;
    batch.size = ledger.size();
    let due = batch.last_applied.is_some_and(|last| copy.wanted(last.index, batch.size));
    // `head()` is the head `apply_block` recorded (root and digest computed then), so this
    // costs no digest; equality covers size, root and state digest.
    let certified = ledger.certification().latest_certified().is_some_and(|certified| *certified == ledger.head());
    if ledger.size() == 0 || (due && certified) {
        // O(1): the ledger's maps are persistent and shared with the live one.
        let body = SnapshotBody { last_applied: batch.last_applied, last_membership: membership, ledger: ledger.data().clone() };
        batch.certified = Some(body);
        pending = None;
    } else if let Some(mut body) = pending.take() {
        let size = body.ledger.merkle.len();
        match ledger.certification().certified.get(&size) {
            // Certified as the copy's own head: it becomes the snapshot, with the
            // certificate that arrived since.
            Some(head) if body.ledger.certification.heads.get(&size) == Some(head) => {
                body.ledger.certification = ledger.certification().up_to(size);
                batch.certified = Some(body);
            }
            // Superseded (a newer size is certified without this one): start again.
            _ if ledger.certification().latest_certified().is_some_and(|newest| newest.size > size) => {}
            _ => pending = Some(body),
        }
    }
    batch.pending = pending;
    Ok(batch)
}

/// When the next certified state is copied for a snapshot (see the module documentation).
struct CopyDue {
    from_index: u64,
    grown_to: u64,
    forced_at: u64,
}

impl CopyDue {
    fn wanted(&self, index: u64, size: u64) -> bool {
        index >= self.from_index && (size >= self.grown_to || index >= self.forced_at)
    }
}

struct AppliedBatch {
    responses: Vec<BlockResponse>,
    last_applied: Option<LogId>,
    membership: Option<StoredMembership>,
    size: u64,
    /// A copy of the ledger at a certified head, with its certificate: the next snapshot.
    certified: Option<SnapshotBody>,
    /// A copy at a due block end whose certificate has not arrived yet.
    pending: Option<SnapshotBody>,
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError<NodeId>> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BlockResponse>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (ledger, history) = (self.ledger.clone(), self.history.clone());
        let copy = CopyDue {
            from_index: self.copied_at.map_or(0, |at| at + SNAPSHOT_LOGS_SINCE_LAST),
            grown_to: self.copied_size + self.copied_size / 4,
            forced_at: self.copied_at.map_or(0, |at| at + SNAPSHOT_LOGS_MAX),
        };
        let (membership, pending) = (self.last_membership.clone(), self.pending_copy.take());
        let batch = tokio::task::spawn_blocking(move || apply_entries(&ledger, &history, entries, copy, membership, pending))
            .await
            .map_err(|error| StorageIOError::write_state_machine(AnyError::new(&error)))?
            .map_err(|error| StorageIOError::write_state_machine(AnyError::new(&error)))?;
        self.last_applied = batch.last_applied.or(self.last_applied);
        if let Some(membership) = batch.membership {
            self.last_membership = membership;
        }
        self.pending_copy = batch.pending;
        if let Some(body) = batch.certified {
            let (copied_at, size) = (body.last_applied, body.ledger.merkle.len());
            tracing::debug!(log_id = ?copied_at, size, "kept a copy of the certified state for the next snapshot");
            self.certified_copy = Some(Arc::new(body));
            // Copies of the empty genesis state are free: they do not hold back the next one.
            if size > 0 {
                self.copied_at = copied_at.map(|id| id.index);
                self.copied_size = size;
            }
            self.certified_copies.send_replace(copied_at);
        }
        self.notify(batch.size);
        Ok(batch.responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // The latest certified copy, never the current state (see the module documentation).
        SnapshotBuilder { certified: self.certified_copy.clone(), snapshots: self.snapshots.clone(), history: self.history.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let (genesis, snapshots, history, stored_meta) = (self.genesis.clone(), self.snapshots.clone(), self.history.clone(), meta.clone());
        let ledger = tokio::task::spawn_blocking(move || -> Result<Ledger, StoreError> {
            let body = SnapshotBody::decode(&data)
                .map_err(|error| StoreError::Damaged(format!("the received snapshot is unreadable: {error}")))?;
            if body.last_applied != stored_meta.last_log_id {
                return Err(StoreError::Io {
                    what: "installing a snapshot".into(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, "its data and its metadata name different log ids"),
                });
            }
            let ledger = Ledger::restore(genesis, body.ledger).map_err(restore_error)?;
            // The blocks the snapshot covers were never applied here: the stored history now
            // runs without gaps only from after it. Marked in the same synced batch as the
            // snapshot, so that a crash cannot leave the snapshot without the mark (the node
            // would then claim a full history it does not hold).
            let gap = stored_meta.last_log_id.map(|last| Gap { complete_from: last.index + 1, size: Some(ledger.size()) });
            if !snapshots.save(&stored_meta, &data, gap.as_ref(), &history)? {
                if let Some(gap) = &gap {
                    history.mark_gap(gap)?;
                }
            }
            Ok(ledger)
        })
        .await
        .map_err(|error| StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&error)))?
        .map_err(|error| StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&error)))?;
        let size = ledger.size();
        self.ledger.replace(ledger);
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        // The installed snapshot is newer than any copy and is now the stored one.
        self.certified_copy = None;
        self.pending_copy = None;
        self.copied_at = meta.last_log_id.map(|id| id.index);
        self.copied_size = size;
        self.notify(size);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let stored = self.snapshots.load().map_err(|error| StorageIOError::read_snapshot(None, AnyError::new(&error)))?;
        Ok(stored.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

fn restore_error(refused: SnapshotRefused) -> StoreError {
    match refused {
        SnapshotRefused::OtherGenesis { snapshot, ours } => StoreError::OtherGenesis(format!("belongs to genesis {snapshot}, not {ours}")),
        other => StoreError::Damaged(other.to_string()),
    }
}

/// Triggers a snapshot whenever the state machine copied a certified state newer than the
/// latest snapshot; ends when Raft stops. One task per node, started with Raft.
///
/// Why not openraft's `SnapshotPolicy::LogsSinceLast`: it triggers a build once the log
/// grew by its number of entries since the last snapshot, whether or not a certified state
/// exists, and triggers again on every commit until a build advances the snapshot. Under
/// load (no quiet moment for a certificate to complete) every commit would rebuild the old
/// snapshot. Here a build starts only when there is a new certified copy.
pub async fn snapshot_certified_copies(raft: Raft, mut copies: watch::Receiver<Option<LogId>>) {
    while copies.changed().await.is_ok() {
        let copied = *copies.borrow_and_update();
        if copied <= raft.metrics().borrow().snapshot {
            continue;
        }
        // A trigger while a build runs is dropped by openraft; the next copy triggers again.
        if let Err(error) = raft.trigger().snapshot().await {
            tracing::debug!(%error, "no snapshot triggered: Raft stopped");
            return;
        }
    }
}

/// Builds a snapshot from the latest certified copy that `get_snapshot_builder` handed it.
pub struct SnapshotBuilder {
    certified: Option<Arc<SnapshotBody>>,
    snapshots: SnapshotStore,
    history: BlockHistory,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    /// Without a certified copy (a manual trigger before any state was certified) there is
    /// nothing new to build: the stored snapshot is returned, or an empty one without log id
    /// that openraft ignores (its `update_snapshot` keeps only a snapshot newer than the
    /// current one, and purges nothing for it). An error instead would stop Raft.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let Some(body) = self.certified.clone() else {
            let stored = self.snapshots.load().map_err(|error| StorageIOError::read_snapshot(None, AnyError::new(&error)))?;
            tracing::info!("no certified state to snapshot yet; keeping the stored snapshot");
            return Ok(match stored {
                Some((meta, data)) => Snapshot { meta, snapshot: Box::new(Cursor::new(data)) },
                None => Snapshot {
                    meta: SnapshotMeta { last_log_id: None, last_membership: StoredMembership::default(), snapshot_id: "none".into() },
                    snapshot: Box::new(Cursor::new(Vec::new())),
                },
            });
        };
        let (snapshots, history) = (self.snapshots.clone(), self.history.clone());
        let snapshot = tokio::task::spawn_blocking(move || -> Result<Snapshot<TypeConfig>, StoreError> {
            let data = body
                .encode()
                .map_err(|error| StoreError::Io { what: "serialising the state".into(), source: std::io::Error::other(error) })?;
            let meta = SnapshotMeta {
                last_log_id: body.last_applied,
                last_membership: body.last_membership.clone(),
                snapshot_id: snapshot_id(&body),
            };
            snapshots.save(&meta, &data, None, &history)?;
            Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
        })
        .await
        .map_err(|error| StorageIOError::write_snapshot(None, AnyError::new(&error)))?
        .map_err(|error| StorageIOError::write_snapshot(None, AnyError::new(&error)))?;
        tracing::info!(snapshot = %snapshot.meta.snapshot_id, bytes = snapshot.snapshot.get_ref().len(), "snapshot built and synced");
        Ok(snapshot)
    }
}

/// Unique per build: openraft's chunked transfer tells snapshots apart by id.
fn snapshot_id(body: &SnapshotBody) -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
    match body.last_applied {
        Some(last) => format!("{}-{}-{millis}", last.leader_id, last.index),
        None => format!("empty-{millis}"),
    }
}

const CURRENT: &[u8] = b"current";
const CURRENT_META: &[u8] = b"current_meta";
const BLOCKS_COMPLETE_FROM: &[u8] = b"blocks_complete_from";
/// The ledger size (Merkle leaves) of the state at `blocks_complete_from - 1`: the installed
/// snapshot's, whose certified head a backfill must re-execute to. Written with it.
const BLOCKS_COMPLETE_FROM_SIZE: &[u8] = b"blocks_complete_from_size";
/// Staged blocks moved into the history per sled batch (see [`BlockHistory::fill`]).
const FILL_BATCH_BLOCKS: usize = 256;

/// The one current snapshot, in tree `snapshot`: its data under `current`, its metadata
/// (JSON) under `current_meta`, written together.
#[derive(Clone)]
struct SnapshotStore {
    tree: sled::Tree,
    disk: Arc<Disk>,
    /// Serialises saves, so that the newer-than check and the write are one step.
    writing: Arc<Mutex<()>>,
}

impl SnapshotStore {
    fn load(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        let (Some(meta), Some(data)) = (self.tree.get(CURRENT_META)?, self.tree.get(CURRENT)?) else { return Ok(None) };
        let meta =
            serde_json::from_slice(&meta).map_err(|source| StoreError::Decode { what: "the stored snapshot's metadata".into(), source })?;
        Ok(Some((meta, data.to_vec())))
    }

    /// Stores `data` as the current snapshot and syncs it, unless a newer one is stored
    /// already (a snapshot received from the leader while this one was being built must not
    /// be replaced by an older one: the log before it may be gone). With `gap` (an installed
    /// snapshot), marks in the same batch that the history has that gap (see
    /// [`BlockHistory::mark_gap`]). Returns whether it stored the snapshot. Blocking.
    fn save(&self, meta: &SnapshotMeta, data: &[u8], gap: Option<&Gap>, history: &BlockHistory) -> Result<bool, StoreError> {
        let _writing = self.writing.lock().expect("a snapshot save panicked");
        if let Some((stored, _)) = self.load()? {
            if stored.last_log_id > meta.last_log_id {
                tracing::info!(stored = %stored.snapshot_id, built = %meta.snapshot_id, "kept the newer stored snapshot");
                return Ok(false);
            }
        }
        let meta_json = serde_json::to_vec(meta)
            .map_err(|source| StoreError::Io { what: "serialising the snapshot's metadata".into(), source: source.into() })?;
        let mut batch = sled::Batch::default();
        batch.insert(CURRENT_META, meta_json);
        batch.insert(CURRENT, data);
        if let Some(gap) = gap {
            history.gap_into(gap, &mut batch)?;
        }
        self.tree.apply_batch(batch)?;
        self.disk.sync().map_err(|source| StoreError::Io { what: "syncing the snapshot".into(), source })?;
        Ok(true)
    }
}

/// The encoded blocks from log index `from` on, in log order (see [`BlockHistory`]), straight
/// from the database. A read error ends the iteration and is logged; use
/// [`BlockHistory::blocks_from`] to see it instead.
pub fn blocks_from(db: &sled::Db, from: u64) -> impl Iterator<Item = (u64, Vec<u8>)> {
    let history = BlockHistory::open(db).map_err(|error| tracing::error!(%error, "cannot open the stored blocks"));
    history.into_iter().flat_map(move |history| history.blocks_from(from)).map_while(|item| {
        item.map_err(|error| tracing::error!(%error, "reading the stored blocks failed; the history served stops here")).ok()
    })
}

/// The ledger size of the stored snapshot, if it ends right before log index
/// `complete_from`: the size of a [`Gap`] that a version before gaps recorded their size
/// marked. Blocking: decodes the whole snapshot.
pub fn stored_snapshot_size(db: &sled::Db, complete_from: u64) -> Result<Option<u64>, StoreError> {
    let tree = db.open_tree("snapshot")?;
    let (Some(meta), Some(data)) = (tree.get(CURRENT_META)?, tree.get(CURRENT)?) else { return Ok(None) };
    let meta: SnapshotMeta =
        serde_json::from_slice(&meta).map_err(|source| StoreError::Decode { what: "the stored snapshot's metadata".into(), source })?;
    if meta.last_log_id.map(|last| last.index + 1) != Some(complete_from) {
        return Ok(None);
    }
    let body = SnapshotBody::decode(&data).map_err(|error| StoreError::Damaged(format!("the stored snapshot is unreadable: {error}")))?;
    Ok(Some(body.ledger.merkle.len()))
}

/// The encoded block of every applied entry, in tree `blocks` by big-endian log index, kept
/// after the Raft log is compacted so that the audit stream can serve the whole history.
///
/// Written lazily by `apply` and made durable by the next snapshot's sync; until then the
/// Raft log holds the same blocks and a restart re-applies (and rewrites) them. A node that
/// caught up by receiving a snapshot never applied the blocks it covers: those are missing
/// here, and [`BlockHistory::complete_from`] says from where the history has no gaps (0 on
/// a node that applied everything itself, the snapshot's last log index + 1 after an
/// install). `crate::backfill` fetches the missing blocks from peers, verifies them and
/// hands them to [`BlockHistory::fill`], which lowers it to 0 again.
#[derive(Clone)]
pub struct BlockHistory {
    db: sled::Db,
    blocks: sled::Tree,
    snapshot: sled::Tree,
}

/// Where a node's history has a gap at its start: the blocks before log index
/// `complete_from` are missing, and the state right before it (the installed snapshot's)
/// has `size` leaves. `size` is `None` in a data dir whose snapshot was installed by a
/// version that did not record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub complete_from: u64,
    pub size: Option<u64>,
}

impl BlockHistory {
    pub fn open(db: &sled::Db) -> Result<BlockHistory, StoreError> {
        Ok(BlockHistory { db: db.clone(), blocks: db.open_tree("blocks")?, snapshot: db.open_tree("snapshot")? })
    }

    /// The gap at the start of the history, if there is one.
    pub fn gap(&self) -> Result<Option<Gap>, StoreError> {
        // `complete_from` first: a snapshot installed between the two reads changes it, and
        // `fill` then refuses (its compare-and-swap names the `complete_from` read here).
        let complete_from = self.complete_from()?;
        if complete_from == 0 {
            return Ok(None);
        }
        let size = self.snapshot.get(BLOCKS_COMPLETE_FROM_SIZE)?.map(|bytes| index_of(&bytes));
        Ok(Some(Gap { complete_from, size }))
    }

    /// Moves the verified blocks staged in `staged` (by big-endian log index, every one
    /// below `gap.complete_from`) into the history, then closes the gap: lowers
    /// `complete_from` to 0, unless it changed since `gap` was read (a newer snapshot was
    /// installed meanwhile), in which case it returns `Ok(false)` and the gap stays.
    /// `stopped` is asked between batches; a stop leaves the gap open. Blocking.
    ///
    /// Crash safety by the order of writes, not one transaction (a sled transaction would
    /// hold the whole history in memory): blocks below `complete_from` are invisible
    /// (`blocks_from` serves from at least `complete_from`, `audit_log` refuses below it),
    /// so the copies are written first, in batches, and synced; only then does one
    /// compare-and-swap remove the mark, and that is synced too. A crash before the swap
    /// leaves the old state (the gap, with some harmless, verified blocks below it: the next
    /// backfill rewrites them); after it, the new one.
    pub fn fill(&self, staged: &sled::Tree, gap: &Gap, stopped: &dyn Fn() -> bool) -> Result<bool, StoreError> {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in staged.iter() {
            let (key, value) = item?;
            let index = index_of(&key);
            assert!(index < gap.complete_from, "staged block at log index {index} is not below the gap's end {}", gap.complete_from);
            batch.insert(key, value);
            in_batch += 1;
            if in_batch == FILL_BATCH_BLOCKS {
                if stopped() {
                    return Ok(false);
                }
                self.blocks.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.blocks.apply_batch(batch)?;
        let disk = Disk::open(&self.db).map_err(|source| StoreError::Io { what: "syncing the fetched blocks".into(), source })?;
        let swapped = self.snapshot.compare_and_swap(BLOCKS_COMPLETE_FROM, Some(&log_key(gap.complete_from)), None as Option<&[u8]>)?;
        if swapped.is_err() {
            return Ok(false);
        }
        // Stale once the mark is gone, and read only with it: removing it is tidiness.
        self.snapshot.remove(BLOCKS_COMPLETE_FROM_SIZE)?;
        disk.sync().map_err(|source| StoreError::Io { what: "syncing the closed gap".into(), source })?;
        Ok(true)
    }

    /// Adds the writes that mark `gap` to `batch` (of tree `snapshot`), if it starts later
    /// than the current one: a gap only grows until `fill` closes it.
    fn gap_into(&self, gap: &Gap, batch: &mut sled::Batch) -> Result<(), StoreError> {
        if gap.complete_from > self.complete_from()? {
            batch.insert(BLOCKS_COMPLETE_FROM, &log_key(gap.complete_from));
            match gap.size {
                Some(size) => batch.insert(BLOCKS_COMPLETE_FROM_SIZE, &log_key(size)),
                None => batch.remove(BLOCKS_COMPLETE_FROM_SIZE),
            }
        }
        Ok(())
    }

    /// Marks `gap` on its own (not synced: the next snapshot's sync covers it).
    fn mark_gap(&self, gap: &Gap) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        self.gap_into(gap, &mut batch)?;
        Ok(self.snapshot.apply_batch(batch)?)
    }

    /// The encoded blocks (`pb::Block`) from log index `from` on, in log order. Indexes of
    /// entries that held no block (elections, membership changes) are absent.
    pub fn blocks_from(&self, from: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> {
        self.blocks.range(log_key(from)..).map(|item| {
            let (key, value) = item?;
            Ok((index_of(&key), value.to_vec()))
        })
    }

    /// The first log index from which every applied block is stored: 0, unless this node
    /// caught up by installing a snapshot.
    pub fn complete_from(&self) -> Result<u64, StoreError> {
        Ok(self.snapshot.get(BLOCKS_COMPLETE_FROM)?.map_or(0, |bytes| index_of(&bytes)))
    }
}

#[cfg(test)]
mod tests {
    use fairshare_protocol::envelope::seal;
    use fairshare_protocol::pb;
    use fairshare_protocol::pb::transaction::Kind;
    use fairshare_protocol::testing::{checkpoint_statements, genesis_with_keys, transaction};
    use openraft::{CommittedLeaderId, Membership};
    use prost::Message;

    use super::*;
    use crate::raft::{BlockRequest, VerdictRecord};

    fn open(dir: &std::path::Path, genesis: &Arc<Genesis>) -> StateMachine {
        StateMachine::open(sled::open(dir).unwrap(), genesis.clone()).unwrap().0
    }

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn normal(index: u64, block: Vec<u8>) -> Entry {
        Entry { log_id: log_id(index), payload: EntryPayload::Normal(BlockRequest { block }) }
    }

    /// A block with one signed transaction that the rules apply: an insurer registers a provider.
    fn registration_block(genesis: &Genesis, keys: &std::collections::BTreeMap<String, ed25519_dalek::SigningKey>, nonce: u64) -> Vec<u8> {
        let kind = Kind::PartyRegistered(pb::PartyRegistered {
            party: format!("agb:0123456{nonce}"),
            kind: pb::PartyKind::Provider as i32,
            name: "Ziekenhuis Test".into(),
            iban: String::new(),
        });
        let envelope = seal(&transaction(genesis, nonce, kind), "zk", &keys["zk"]);
        pb::Block { envelopes: vec![envelope] }.encode_to_vec()
    }

    /// A block of three of the four nodes' checkpoint statements for the machine's head.
    fn certification_block(machine: &StateMachine) -> Vec<u8> {
        let ledger = machine.ledger();
        let ledger = ledger.view();
        pb::Block { envelopes: checkpoint_statements(ledger.genesis(), &ledger.head(), &["cz", "menzis", "vgz"]) }.encode_to_vec()
    }

    fn certified_size(machine: &StateMachine) -> Option<u64> {
        machine.ledger().view().certification().latest_certified().map(|head| head.size)
    }

    #[tokio::test]
    async fn a_snapshot_restores_the_same_ledger_in_a_fresh_state_machine() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let block = registration_block(&genesis, &keys, 1);
        let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

        let mut leader = open(leader_dir.path(), &genesis);
        let mut watcher = leader.subscribe();
        let copies = leader.certified_copies();
        let membership = Entry { log_id: log_id(1), payload: EntryPayload::Membership(Membership::new(vec![[1].into()], ())) };
        let responses = leader.apply(vec![membership, normal(2, block.clone())]).await.unwrap();
        assert_eq!(responses[0], BlockResponse::default());
        assert_eq!(responses[1].outcomes.len(), 1);
        assert_eq!(responses[1].outcomes[0].verdict, VerdictRecord::Applied { index: 0 });
        assert!(watcher.has_changed().unwrap());
        assert_eq!(*watcher.borrow_and_update(), Applied { log_index: 2, size: 1 });
        assert_eq!(*copies.borrow(), None, "nothing certified, nothing copied");
        let head = leader.ledger().view().head();
        let certification = certification_block(&leader);
        leader.apply(vec![normal(3, certification.clone())]).await.unwrap();
        assert_eq!(certified_size(&leader), Some(1));
        assert_eq!(*copies.borrow(), Some(log_id(3)), "the certified state is copied");

        let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(3)));
        let mut follower = open(follower_dir.path(), &genesis);
        follower.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
        assert_eq!(follower.ledger().view().head(), head);
        assert_eq!(certified_size(&follower), Some(1));
        assert_eq!(follower.applied_state().await.unwrap().0, Some(log_id(3)));
        assert_eq!(follower.history().complete_from().unwrap(), 4, "the follower never saw blocks 2 and 3");
        assert_eq!(follower.history().gap().unwrap(), Some(Gap { complete_from: 4, size: Some(1) }), "with the snapshot's size");
        assert_eq!(leader.history().gap().unwrap(), None);

        // Both restart from their stored snapshot.
        drop((leader, follower));
        for dir in [&leader_dir, &follower_dir] {
            let mut restarted = open(dir.path(), &genesis);
            assert_eq!(restarted.ledger().view().head(), head);
            assert_eq!(restarted.applied_state().await.unwrap().0, Some(log_id(3)));
            assert_eq!(*restarted.subscribe().borrow(), Applied { log_index: 3, size: 1 });
        }
        let leader = open(leader_dir.path(), &genesis);
        let blocks: Vec<_> = leader.blocks_from(0).map(Result::unwrap).collect();
        assert_eq!(blocks, vec![(2, block), (3, certification)]);
    }

    /// The end of a backfill (`crate::backfill`): verified blocks staged below the gap are
    /// moved into the history and the gap is closed, unless a newer snapshot moved it.
    #[tokio::test]
    async fn filling_the_gap_serves_the_full_history_unless_the_gap_moved() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut leader = open(leader_dir.path(), &genesis);
        leader.apply(vec![normal(1, registration_block(&genesis, &keys, 1))]).await.unwrap();
        leader.apply(vec![normal(2, certification_block(&leader))]).await.unwrap();
        let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.unwrap();
        let mut follower = open(follower_dir.path(), &genesis);
        follower.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
        follower.apply(vec![normal(3, registration_block(&genesis, &keys, 2))]).await.unwrap();
        let history = follower.history();
        let gap = history.gap().unwrap().expect("a gap before the snapshot's entries");
        assert_eq!(gap, Gap { complete_from: 3, size: Some(1) });

        let staged = sled::Config::new().temporary(true).open().unwrap().open_tree("backfill").unwrap();
        for item in leader.blocks_from(0) {
            let (index, block) = item.unwrap();
            staged.insert(log_key(index), block).unwrap();
        }
        let moved = Gap { complete_from: 5, size: Some(2) };
        assert!(!history.fill(&staged, &moved, &|| false).unwrap(), "a gap that is not the current one stays open");
        assert_eq!(history.complete_from().unwrap(), 3);
        assert!(history.fill(&staged, &gap, &|| false).unwrap());
        assert_eq!(history.gap().unwrap(), None);
        let served: Vec<u64> = history.blocks_from(0).map(|item| item.unwrap().0).collect();
        assert_eq!(served, vec![1, 2, 3], "the fetched blocks, then the follower's own");
        drop((follower, history));
        let reopened = open(follower_dir.path(), &genesis);
        assert_eq!(reopened.history().complete_from().unwrap(), 0, "the closed gap is durable");
    }

    /// A gap marked by a version that did not record the size before it: the size is read
    /// from the stored snapshot, if that snapshot ends right before the gap.
    #[tokio::test]
    async fn the_size_before_an_unmarked_gap_comes_from_the_stored_snapshot() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut leader = open(leader_dir.path(), &genesis);
        leader.apply(vec![normal(1, registration_block(&genesis, &keys, 1))]).await.unwrap();
        leader.apply(vec![normal(2, certification_block(&leader))]).await.unwrap();
        let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.unwrap();
        let db = sled::open(follower_dir.path()).unwrap();
        let mut follower = StateMachine::open(db.clone(), genesis.clone()).unwrap().0;
        follower.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
        db.open_tree("snapshot").unwrap().remove(BLOCKS_COMPLETE_FROM_SIZE).unwrap();
        assert_eq!(follower.history().gap().unwrap(), Some(Gap { complete_from: 3, size: None }));
        assert_eq!(stored_snapshot_size(&db, 3).unwrap(), Some(1));
        assert_eq!(stored_snapshot_size(&db, 7).unwrap(), None, "a stored snapshot that does not end right before the gap");
    }

    #[tokio::test]
    async fn snapshots_are_built_of_the_latest_certified_state_only() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let dir = tempfile::tempdir().unwrap();
        let mut machine = open(dir.path(), &genesis);

        // Nothing certified: nothing new is built, and nothing is stored.
        machine.apply(vec![normal(1, registration_block(&genesis, &keys, 1))]).await.unwrap();
        let snapshot = machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id, None);
        assert!(machine.get_current_snapshot().await.unwrap().is_none());

        // Certified at size 1 (entry 2), then a leaf more (entry 3): the snapshot is of entry 2.
        let certified_head = machine.ledger().view().head();
        machine.apply(vec![normal(2, certification_block(&machine))]).await.unwrap();
        machine.apply(vec![normal(3, registration_block(&genesis, &keys, 2))]).await.unwrap();
        assert_eq!(machine.ledger().view().size(), 2);
        let snapshot = machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(2)));
        let body = SnapshotBody::decode(snapshot.snapshot.get_ref()).unwrap();
        let restored = fairshare_protocol::snapshot::restore_certified(genesis.clone(), body.ledger).expect("it proves itself");
        assert_eq!(restored.head(), certified_head);

        // Certified at size 2, but fewer than SNAPSHOT_LOGS_SINCE_LAST entries after the copy.
        machine.apply(vec![normal(4, certification_block(&machine))]).await.unwrap();
        assert_eq!(certified_size(&machine), Some(2));
        assert_eq!(*machine.certified_copies().borrow(), Some(log_id(2)));
        let later = SNAPSHOT_LOGS_SINCE_LAST + 2;
        machine.apply(vec![Entry { log_id: log_id(later), payload: EntryPayload::Blank }]).await.unwrap();
        assert_eq!(*machine.certified_copies().borrow(), Some(log_id(later)), "copied again once enough entries passed");
    }

    /// Under load the certificate of a due block end arrives after later blocks, so the
    /// state never sits at its certified head: the copy kept at the due block end is
    /// snapshotted once certified, and proves itself.
    #[tokio::test]
    async fn under_load_the_copy_at_a_due_block_end_is_snapshotted_once_certified() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let dir = tempfile::tempdir().unwrap();
        let mut machine = open(dir.path(), &genesis);
        let interval = fairshare_protocol::CHECKPOINT_INTERVAL;
        let registration = |nonce: u64| {
            let kind = Kind::PartyRegistered(pb::PartyRegistered {
                party: format!("agb:{:08}", 10_000_000 + nonce),
                kind: pb::PartyKind::Provider as i32,
                name: "Ziekenhuis Test".into(),
                iban: String::new(),
            });
            seal(&transaction(&genesis, nonce, kind), "zk", &keys["zk"])
        };
        let first = pb::Block { envelopes: (1..=interval).map(registration).collect() };
        machine.apply(vec![normal(1, first.encode_to_vec())]).await.unwrap();
        let due_head = machine.ledger().view().head();
        assert_eq!(due_head.size, interval);
        // More leaves, then the statements for the due head: the ledger is past it.
        machine.apply(vec![normal(2, registration_block(&genesis, &keys, interval + 1))]).await.unwrap();
        let statements = checkpoint_statements(&genesis, &due_head, &["cz", "menzis", "vgz"]);
        machine.apply(vec![normal(3, pb::Block { envelopes: statements }.encode_to_vec())]).await.unwrap();
        assert_eq!(certified_size(&machine), Some(interval));
        assert_eq!(machine.ledger().view().size(), interval + 1, "the state is past its certified head");
        assert_eq!(*machine.certified_copies().borrow(), Some(log_id(1)), "the copy at the due block end");
        let snapshot = machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(1)));
        let body = SnapshotBody::decode(snapshot.snapshot.get_ref()).unwrap();
        let restored = fairshare_protocol::snapshot::restore_certified(genesis.clone(), body.ledger).expect("it proves itself");
        assert_eq!(restored.head(), due_head);
    }

    #[tokio::test]
    async fn an_undecodable_block_is_applied_as_empty() {
        let (genesis, _) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let dir = tempfile::tempdir().unwrap();
        let mut machine = open(dir.path(), &genesis);
        let responses = machine.apply(vec![normal(1, vec![0xff, 0xff, 0xff])]).await.unwrap();
        assert_eq!(responses, vec![BlockResponse::default()]);
        assert_eq!(machine.applied_state().await.unwrap().0, Some(log_id(1)));
        assert_eq!(machine.ledger().view().size(), 0);
    }

    #[tokio::test]
    async fn a_data_dir_of_another_genesis_is_refused() {
        let (genesis, keys) = genesis_with_keys();
        let dir = tempfile::tempdir().unwrap();
        {
            let mut machine = open(dir.path(), &Arc::new(genesis.clone()));
            machine.apply(vec![normal(1, registration_block(&genesis, &keys, 1))]).await.unwrap();
            machine.apply(vec![normal(2, certification_block(&machine))]).await.unwrap();
            let snapshot = machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
            assert_eq!(snapshot.meta.last_log_id, Some(log_id(2)), "a snapshot is stored");
        }
        let other = fairshare_protocol::testing::genesis_file("5.00").build().unwrap();
        match StateMachine::open(sled::open(dir.path()).unwrap(), Arc::new(other)) {
            Err(StoreError::OtherGenesis(_)) => {}
            Err(other) => panic!("expected a genesis mismatch, got {other}"),
            Ok(_) => panic!("expected a genesis mismatch, the state machine opened"),
        }
    }
}
