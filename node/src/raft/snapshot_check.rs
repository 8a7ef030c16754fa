//! The gate in front of snapshot installation: **a snapshot is installed only if it proves
//! itself**, i.e. equals a checkpoint certified by more than two thirds of the genesis nodes
//! (`fairshare_protocol::snapshot::restore_certified`).
//!
//! openraft sends a snapshot as chunked `InstallSnapshotRequest`s and, left alone, installs
//! whatever the last chunk completes: one forged snapshot replaced a follower's whole state.
//! [`SnapshotCheck::receive`] takes over the chunked transfer in `RaftService`:
//!
//! - it keeps the chunks of the one snapshot being received itself (a new `snapshot_id` or
//!   offset 0 starts over), bounded by [`SNAPSHOT_BYTES_MAX`], and refuses a chunk at any
//!   other offset than the next (a resent last chunk is accepted as is);
//! - when the last chunk arrives it verifies the assembled bytes, and only if they prove
//!   themselves hands exactly those bytes to `Raft::install_full_snapshot`.
//!
//! Why not forward each chunk to `Raft::install_snapshot` as before and check only the last
//! one: openraft's receiver seeks to each chunk's offset and writes without truncating, and
//! keeps its buffer for a resent offset 0 of the same id, so the bytes it would install
//! could differ from the bytes checked here; and the state machine's `install_snapshot`
//! cannot refuse anything, because openraft treats a storage error as fatal and stops Raft,
//! which would let a forger stop a node. So the state machine only ever sees bytes that
//! were verified here.
//!
//! A refused snapshot leaves the node unchanged (Raft never sees it, nor its vote), is
//! answered `INVALID_ARGUMENT "snapshot refused: …"`, logged at ERROR naming the sender and
//! recorded in [`SnapshotRefusals`] (shown by metrics as `fairshare_snapshots_refused`).

use crate::ledger_cell::LedgerCell;
use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fairshare_protocol::snapshot::restore_certified;
use fairshare_protocol::{Genesis, Ledger};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{InstallSnapshotRequest, InstallSnapshotResponse};
use openraft::storage::Snapshot;
use tonic::Status;

use super::state_machine::SnapshotBody;
use super::{LogId, NodeId, Raft, SnapshotMeta, TypeConfig};

/// The largest snapshot a node receives. A ledger holds a few hundred bytes of snapshot per
/// transaction (leaf hash, verdict, nonce, its effects), so 1 GiB is millions of
/// transactions, far beyond the insurers' volume; the bound keeps a sender from making a
/// node buffer without end (openraft would buffer the same bytes).
pub const SNAPSHOT_BYTES_MAX: usize = 1 << 30;
/// Refused snapshots remembered for inspection; older ones are only counted.
const REFUSALS_KEPT: usize = 64;

/// The misbehaviour this node saw from peers: refused snapshots. Shared with the metrics.
#[derive(Default)]
pub struct SnapshotRefusals {
    refused_total: AtomicU64,
    recent: Mutex<VecDeque<RefusedSnapshot>>,
}

/// One refused snapshot: who sent it (the leader its vote names; the transport's
/// authenticated peer once it knows one), which, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedSnapshot {
    pub sender: Option<NodeId>,
    pub snapshot_id: String,
    pub reason: String,
}

impl SnapshotRefusals {
    /// Snapshots refused since start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// The last [`REFUSALS_KEPT`] refused snapshots, oldest first.
    pub fn recent(&self) -> Vec<RefusedSnapshot> {
        self.recent.lock().expect("a misbehaviour record panicked").iter().cloned().collect()
    }

    fn record(&self, refused: RefusedSnapshot) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().expect("a misbehaviour record panicked");
        if recent.len() == REFUSALS_KEPT {
            recent.pop_front();
        }
        recent.push_back(refused);
    }
}

/// One node's snapshot gate; see the module documentation.
pub struct SnapshotCheck {
    genesis: Arc<Genesis>,
    /// The node's applied ledger, read to check a snapshot against it.
    ledger: Arc<LedgerCell>,
    misbehaviour: Arc<SnapshotRefusals>,
    /// The node's record of its peers' misbehaviour (shown in status).
    peers: Arc<crate::misbehaviour::Misbehaviour>,
    /// The snapshot being received. A `std` lock: nothing awaits while holding it.
    receiving: Mutex<Option<Receiving>>,
}

struct Receiving {
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

type InstallResult = Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>;

impl SnapshotCheck {
    /// Refusals are counted in `misbehaviour` (for metrics) and recorded against the sender in
    /// `peers`. The sender is the leader the request's vote names, which `RaftService` has
    /// already checked to be the node whose certificate the connection carries.
    pub fn new(
        genesis: Arc<Genesis>,
        ledger: Arc<LedgerCell>,
        misbehaviour: Arc<SnapshotRefusals>,
        peers: Arc<crate::misbehaviour::Misbehaviour>,
    ) -> SnapshotCheck {
        SnapshotCheck { genesis, ledger, misbehaviour, peers, receiving: Mutex::new(None) }
    }

    /// Handles one `InstallSnapshot` chunk for `raft`, answering as `Raft::install_snapshot`
    /// would (the `Ok` value) or refusing the chunk (`Err`).
    pub async fn receive(&self, raft: &Raft, request: InstallSnapshotRequest<TypeConfig>) -> Result<InstallResult, Status> {
        // As openraft does: a request from a stale leader is answered with our vote, unread.
        let vote = match raft.with_raft_state(|state| *state.vote_ref()).await {
            Ok(vote) => vote,
            Err(fatal) => return Ok(Err(RaftError::Fatal(fatal))),
        };
        if matches!(request.vote.partial_cmp(&vote), None | Some(std::cmp::Ordering::Less)) {
            return Ok(Ok(InstallSnapshotResponse { vote }));
        }
        let sender = request.vote.leader_id().voted_for();
        let InstallSnapshotRequest { vote: request_vote, meta, offset, data, done } = request;
        let snapshot_id = meta.snapshot_id.clone();
        let assembled = self.buffer(meta, offset, data, done).map_err(|refusal| match refusal {
            Refusal::Chunk(message) => {
                tracing::warn!(sender, snapshot = %snapshot_id, "{message}");
                Status::invalid_argument(message)
            }
            Refusal::Snapshot(reason) => self.refuse(sender, &snapshot_id, reason),
        })?;
        let Some(Receiving { meta, bytes }) = assembled else {
            return Ok(Ok(InstallSnapshotResponse { vote }));
        };

        let applied = raft.metrics().borrow().last_applied;
        let (genesis, ledger, checked_meta) = (self.genesis.clone(), self.ledger.clone(), meta.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let result = prove(&genesis, &ledger.view(), applied, &checked_meta, &bytes);
            result.map(|()| bytes)
        })
        .await
        .map_err(|error| Status::internal(format!("checking the snapshot stopped: {error}")))?;
        let bytes = checked.map_err(|reason| self.refuse(sender, &snapshot_id, reason))?;
        tracing::info!(sender, snapshot = %snapshot_id, bytes = bytes.len(), "snapshot proved itself; installing it");
        let snapshot = Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) };
        Ok(raft.install_full_snapshot(request_vote, snapshot).await.map(InstallSnapshotResponse::from).map_err(RaftError::Fatal))
    }

    /// Adds a chunk to the snapshot being received; returns the whole snapshot after the last.
    fn buffer(&self, meta: SnapshotMeta, offset: u64, data: Vec<u8>, done: bool) -> Result<Option<Receiving>, Refusal> {
        let mut receiving = self.receiving.lock().expect("a snapshot chunk panicked");
        let same = receiving.as_ref().filter(|current| current.meta.snapshot_id == meta.snapshot_id);
        let buffered = same.map_or(0, |current| current.bytes.len() as u64);
        // openraft resends a chunk whose answer it missed: the same bytes at the same offset.
        let resent = same
            .is_some_and(|current| offset.checked_add(data.len() as u64) == Some(buffered) && current.bytes[offset as usize..] == data[..]);
        if !resent {
            if offset == 0 {
                *receiving = Some(Receiving { meta: meta.clone(), bytes: Vec::new() });
            } else if offset != buffered {
                return Err(Refusal::Chunk(format!(
                    "snapshot chunk refused: snapshot {} continues at offset {buffered} here, not {offset}; resend it from offset 0",
                    meta.snapshot_id
                )));
            }
            let current = receiving.as_mut().expect("started above or continued");
            if current.bytes.len() + data.len() > SNAPSHOT_BYTES_MAX {
                *receiving = None;
                return Err(Refusal::Snapshot(format!("it is larger than {SNAPSHOT_BYTES_MAX} bytes")));
            }
            current.bytes.extend_from_slice(&data);
        }
        let current = receiving.as_mut().expect("started above or continued");
        // The metadata of the last chunk is the one installed: it must be the one checked.
        current.meta = meta;
        Ok(if done { receiving.take() } else { None })
    }

    fn refuse(&self, sender: Option<NodeId>, snapshot_id: &str, reason: String) -> Status {
        tracing::error!(
            sender,
            snapshot = %snapshot_id,
            "snapshot refused: {reason}; this node's state is kept, and the refusal is recorded against the sender"
        );
        self.misbehaviour.record(RefusedSnapshot { sender, snapshot_id: snapshot_id.to_string(), reason: reason.clone() });
        let name = sender
            .and_then(|id| crate::raft::insurer_of(&self.genesis, id))
            .map_or("an unknown node".to_string(), |id| format!("node {id}"));
        self.peers.record(&name, "a snapshot that does not prove itself", reason.clone());
        Status::invalid_argument(format!("snapshot refused: {reason}"))
    }
}

enum Refusal {
    /// A chunk out of order: the transfer starts over, nobody misbehaved for sure.
    Chunk(String),
    /// The snapshot itself.
    Snapshot(String),
}

/// Whether the assembled `bytes` may replace `own`, the ledger applied up to `applied`:
/// they decode, their metadata names the body's log id and membership, the ledger proves
/// itself (`restore_certified`), and it is neither older than `own` nor a different history
/// from `own`'s latest certified checkpoint. Blocking: it parses and digests a whole ledger.
fn prove(genesis: &Arc<Genesis>, own: &Ledger, applied: Option<LogId>, meta: &SnapshotMeta, bytes: &[u8]) -> Result<(), String> {
    let body = SnapshotBody::decode(bytes).map_err(|error| format!("it does not decode: {error}"))?;
    if body.last_applied != meta.last_log_id {
        return Err(format!("its metadata names log id {:?}, its data {:?}", meta.last_log_id, body.last_applied));
    }
    if body.last_membership != meta.last_membership {
        return Err("its metadata and its data name different memberships".into());
    }
    if meta.last_log_id < applied {
        return Err(format!("it ends at log id {:?}, before this node's applied {:?}", meta.last_log_id, applied));
    }
    let ledger = restore_certified(genesis.clone(), body.ledger).map_err(|refused| refused.to_string())?;
    if ledger.size() < own.size() {
        return Err(format!("it holds {} leaves, fewer than the {} this node applied", ledger.size(), own.size()));
    }
    if let Some(certified) = own.certification().latest_certified() {
        if ledger.merkle().root_at(certified.size) != Some(certified.root) {
            return Err(format!("its log disagrees with this node's certified checkpoint at size {}", certified.size));
        }
    }
    Ok(())
}
