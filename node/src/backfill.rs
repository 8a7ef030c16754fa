//! Full history on every node: a node that caught up from a Raft snapshot never applied the
//! blocks the snapshot covers, so its stored history starts late
//! ([`BlockHistory::complete_from`] > 0) and `AuditLog` refuses to serve from index 0. This
//! task fetches those blocks from its peers, **verifies them before trusting them**, and
//! closes the gap, in the background: it never touches the apply path or Raft.
//!
//! One round, per peer in turn until one succeeds:
//!
//! 1. **fetch**: `Ledger.AuditLog` from index 0 over this node's own mutual-TLS transport to
//!    that peer (which admits a genesis node identity like any other genesis identity),
//!    reading until the first block at or past the gap's end. The raw bytes are staged in
//!    tree `backfill`, a batch at a time, never all in memory;
//! 2. **verify** ([`verify_history`], on a blocking thread): re-execute the staged blocks
//!    from genesis with a fresh `Ledger`, block by block, exactly as the state machine
//!    applies entries, and require the head at the size where this node's own history
//!    begins (the installed snapshot's size) to be exactly the checkpoint a quorum certified
//!    there, which this node holds: the snapshot was installed only because it equals it.
//!    The Merkle root commits to every leaf, the state digest to the state they give;
//! 3. **store** ([`BlockHistory::fill`]): move the staged blocks into `blocks` and lower
//!    `complete_from` to 0, in an order of writes that a crash cannot make half-done.
//!
//! A peer whose history does not re-execute to the certified head is recorded as
//! misbehaving (`crate::misbehaviour`) and the next one is tried; a peer that is down,
//! refuses (it has a gap of its own) or is behind is simply skipped. When no peer served a
//! verifiable history, the round is retried after a backoff that doubles up to
//! [`RETRY_AFTER_MAX`]. Progress is logged at INFO once per stage.
//!
//! What re-execution cannot prove: blocks that add no leaf and change no state (checkpoint
//! signatures alone, refused or duplicate envelopes) are not covered by any certified hash,
//! so a peer could leave such a block out, or add one, unnoticed. The leaves, their order
//! and the state they give are proven.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fairshare_api::v1::AuditLogRequest;
use fairshare_protocol::envelope::decode_block;
use fairshare_protocol::ids::echo;
use fairshare_protocol::ledger::Head;
use fairshare_protocol::{Genesis, Ledger};
use tokio::sync::watch;

use crate::ledger_cell::LedgerCell;
use crate::metrics::Metrics;
use crate::misbehaviour::Misbehaviour;
use crate::raft::log_store::{index_of, log_key};
use crate::raft::state_machine::{stored_snapshot_size, Applied};
use crate::raft::{BlockHistory, Gap, StoreError};
use crate::shared::Shared;

/// The first wait after a round in which no peer served a verifiable history; it doubles
/// after each such round up to [`RETRY_AFTER_MAX`].
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// A peer that does not accept a connection within this is skipped for the round.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The stream has no overall deadline (a long history takes long); each message of it must
/// arrive within this, or the peer is skipped.
const STREAM_IDLE_MAX: Duration = Duration::from_secs(30);
/// Fetched blocks are staged on disk in batches of at most this many blocks, or about this
/// many bytes (plus one message, at most `MESSAGE_BYTES_MAX`): what a fetch holds in memory.
const STAGE_BATCH_BLOCKS: usize = 256;
const STAGE_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// The misbehaviour kind recorded against a peer whose history is refused.
const MISBEHAVIOUR: &str = "a history that does not re-execute to the certified head";

/// Why a fetched history was not taken ([`verify_history`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unverified {
    #[error("the node is stopping")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("block at log index {log_index} is not below log index {complete_from}, where this node's own history begins")]
    NotBelowGap { log_index: u64, complete_from: u64 },
    #[error(
        "its blocks below log index {complete_from} give {size} leaves, fewer than the {expected} of the certified state this node holds"
    )]
    Short { size: u64, expected: u64, complete_from: u64 },
    #[error("its blocks up to log index {log_index} give {size} leaves, more than the {expected} of the certified state this node holds")]
    Long { log_index: u64, size: u64, expected: u64 },
    #[error(
        "its blocks give root {} and state digest {} at size {}, but the checkpoint certified there has root {} and state digest {}",
        hex::encode(.got.root), hex::encode(.got.state_digest), .got.size, hex::encode(.expected.root), hex::encode(.expected.state_digest)
    )]
    OtherHead { got: Box<Head>, expected: Box<Head> },
}

/// Re-executes `blocks` (log index, encoded `pb::Block`, in log order) from genesis with a
/// fresh [`Ledger`], as the state machine applies entries (`decode_block`, then
/// `Ledger::apply_replicated`: a malformed block changes nothing, an envelope whose bytes
/// are not canonical is refused), and requires every block to be below `complete_from` and the head once
/// they are applied to be exactly `expected`: the certified head at the size where this
/// node's own history begins. Stops early once the blocks give more leaves than that. Pure
/// but for `blocks` and `stopped` (asked before each block); CPU work: call it on a blocking
/// thread.
pub fn verify_history(
    genesis: Arc<Genesis>,
    blocks: impl IntoIterator<Item = Result<(u64, Vec<u8>), StoreError>>,
    complete_from: u64,
    expected: &Head,
    stopped: &dyn Fn() -> bool,
) -> Result<(), Unverified> {
    let mut ledger = Ledger::new(genesis);
    for item in blocks {
        if stopped() {
            return Err(Unverified::Stopped);
        }
        let (log_index, bytes) = item?;
        if log_index >= complete_from {
            return Err(Unverified::NotBelowGap { log_index, complete_from });
        }
        // Read strictly, as the state machine reads an entry; a malformed block changes nothing.
        if let Ok(block) = decode_block(&bytes) {
            ledger.apply_replicated(&block);
        }
        if ledger.size() > expected.size {
            return Err(Unverified::Long { log_index, size: ledger.size(), expected: expected.size });
        }
    }
    if ledger.size() < expected.size {
        return Err(Unverified::Short { size: ledger.size(), expected: expected.size, complete_from });
    }
    let got = ledger.head();
    if got != *expected {
        return Err(Unverified::OtherHead { got: Box::new(got), expected: Box::new(expected.clone()) });
    }
    Ok(())
}

/// A peer to fetch from, with this node's transport to it (TLS that accepts that peer's
/// genesis node key only).
#[derive(Clone)]
struct Peer {
    id: String,
    address: String,
    transport: fairshare_api::Transport,
}

/// The node's stop request, as the task sees it.
#[derive(Clone)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Also true once the sender is gone: the node is gone.
    fn requested(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// `future`'s output, or `None` if a stop comes first (`future` is then dropped: every
    /// future handed in is cancel-safe or abandoned with the attempt).
    async fn unless<F: Future>(&mut self, future: F) -> Option<F::Output> {
        if self.requested() {
            return None;
        }
        let receiver = &mut self.0;
        let stopping = async move {
            // The guard `wait_for` returns is dropped here, before any other await.
            let _ = receiver.wait_for(|stop| *stop).await.is_ok();
        };
        tokio::select! {
            output = future => Some(output),
            () = stopping => None,
        }
    }
}

/// How one round ended.
enum Round {
    Filled {
        blocks: u64,
        peer: String,
    },
    /// A newer snapshot was installed meanwhile: the gap changed; start again.
    GapMoved,
    /// This node cannot verify yet (the certified head is not in its state yet), or cannot
    /// at all (the size before the gap is unknown); waits for the next applied batch.
    NotYet(String),
    Failed(String),
    Stopped,
}

/// How fetching from one peer ended.
enum Attempt {
    Filled { blocks: u64 },
    GapMoved,
    Unavailable(String),
    Misbehaved(String),
    Store(StoreError),
    Stopped,
}

/// The backfill task of one node; [`Backfill::start`] spawns it.
pub struct Backfill {
    db: sled::Db,
    history: BlockHistory,
    /// Tree `backfill`: fetched blocks by big-endian log index, until verified and moved.
    staged: sled::Tree,
    genesis: Arc<Genesis>,
    ledger: Arc<LedgerCell>,
    applied: watch::Receiver<Applied>,
    peers: Vec<Peer>,
    misbehaviour: Arc<Misbehaviour>,
    metrics: Arc<Metrics>,
    stop: Stop,
    /// The size before a gap whose mark does not record it, once read from the stored
    /// snapshot (decoding it is `O(state)`: once per gap, not once per round).
    size_read: Option<(Gap, Option<u64>)>,
    /// The gap whose first fetch was logged at INFO.
    fetch_logged: Option<Gap>,
}

/// The running task: [`Running::stop`] ends it at its next safe point.
pub struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Asks the task to stop and waits for it, up to `limit` (a block being re-executed or
    /// a batch being moved finishes first).
    pub async fn stop(self, limit: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(limit, self.task).await.is_err() {
            tracing::warn!("the history backfill did not stop within {limit:?}");
        }
    }
}

impl Backfill {
    /// Spawns the task for the node of `shared`, fetching from its configured peers.
    pub fn start(shared: &Shared, genesis: Arc<Genesis>, metrics: Arc<Metrics>) -> Result<Running, StoreError> {
        let peers = shared
            .peers
            .lock()
            .expect("peers lock")
            .iter()
            .map(|(id, (address, _))| {
                let key =
                    genesis.insurers.iter().find(|member| member.id == *id).and_then(|member| member.node_key).map(|key| key.to_bytes());
                Peer { id: id.clone(), address: address.clone(), transport: shared.security.transport_to(key, &format!("node {id}")) }
            })
            .collect();
        let (stop, stopping) = watch::channel(false);
        let backfill = Backfill {
            db: shared.db.clone(),
            history: BlockHistory::open(&shared.db)?,
            staged: shared.db.open_tree("backfill")?,
            genesis,
            ledger: shared.ledger.clone(),
            applied: shared.applied.clone(),
            peers,
            misbehaviour: shared.misbehaviour.clone(),
            metrics,
            stop: Stop(stopping),
            size_read: None,
            fetch_logged: None,
        };
        Ok(Running { stop, task: tokio::spawn(backfill.run()) })
    }

    async fn run(mut self) {
        let mut retry_after = RETRY_AFTER_MIN;
        let mut announced = None;
        let mut failure_logged = false;
        let mut round = 0usize;
        loop {
            let gap = match self.history.gap() {
                Ok(gap) => gap,
                Err(error) => {
                    tracing::warn!(%error, "cannot read whether the stored history has a gap; trying again in {retry_after:?}");
                    if self.stop.unless(tokio::time::sleep(retry_after)).await.is_none() {
                        return;
                    }
                    retry_after = (retry_after * 2).min(RETRY_AFTER_MAX);
                    continue;
                }
            };
            self.metrics.history_from.store(gap.map_or(0, |gap| gap.complete_from), Ordering::Relaxed);
            let Some(gap) = gap else {
                retry_after = RETRY_AFTER_MIN;
                // A gap appears only when a snapshot is installed, which notifies `applied`.
                match self.stop.unless(self.applied.changed()).await {
                    Some(Ok(())) => continue,
                    None | Some(Err(_)) => return,
                }
            };
            if announced != Some(gap) {
                tracing::info!(
                    complete_from = gap.complete_from,
                    "this node caught up from a snapshot: fetching the {} log entries before it from its peers, to verify and serve the full history",
                    gap.complete_from
                );
                announced = Some(gap);
                failure_logged = false;
            }
            round += 1;
            match self.round(gap, round).await {
                Round::Filled { blocks, peer } => {
                    tracing::info!(blocks, peer = %peer, "history complete from log index 0: the blocks before log index {} were fetched from node {peer}, re-executed to the certified head and stored", gap.complete_from);
                    retry_after = RETRY_AFTER_MIN;
                }
                Round::GapMoved => {}
                Round::Stopped => return,
                Round::NotYet(why) => {
                    tracing::debug!("history backfill waits: {why}");
                    match self.stop.unless(tokio::time::timeout(RETRY_AFTER_MAX, self.applied.changed())).await {
                        Some(Ok(Err(_))) | None => return,
                        Some(_) => {}
                    }
                }
                Round::Failed(why) => {
                    if failure_logged {
                        tracing::debug!("no peer served a verifiable history; trying again in {retry_after:?}: {why}");
                    } else {
                        tracing::warn!("no peer served a verifiable history; trying again in {retry_after:?}, backing off up to {RETRY_AFTER_MAX:?} (logged once): {why}");
                        failure_logged = true;
                    }
                    if self.stop.unless(tokio::time::sleep(retry_after)).await.is_none() {
                        return;
                    }
                    retry_after = (retry_after * 2).min(RETRY_AFTER_MAX);
                }
            }
        }
    }

    /// Tries each peer once, starting at a different one each round.
    async fn round(&mut self, gap: Gap, round: usize) -> Round {
        let expected = match self.expected_head(gap).await {
            Ok(head) => head,
            Err(why) => return Round::NotYet(why),
        };
        if self.peers.is_empty() {
            return Round::Failed("this node has no peers configured".into());
        }
        let mut reasons = Vec::with_capacity(self.peers.len());
        for offset in 0..self.peers.len() {
            let peer = self.peers[(round + offset) % self.peers.len()].clone();
            match self.fetch_from(&peer, gap, &expected).await {
                Attempt::Filled { blocks } => return Round::Filled { blocks, peer: peer.id },
                Attempt::GapMoved => return Round::GapMoved,
                Attempt::Stopped => return Round::Stopped,
                Attempt::Store(error) => return Round::Failed(format!("this node's store: {error}")),
                Attempt::Unavailable(why) => reasons.push(format!("node {}: {why}", peer.id)),
                Attempt::Misbehaved(why) => {
                    self.misbehaviour.record(&format!("node {}", peer.id), MISBEHAVIOUR, why.clone());
                    reasons.push(format!("node {}: {why}", peer.id));
                }
            }
        }
        Round::Failed(reasons.join("; "))
    }

    /// The certified head the blocks before the gap must re-execute to.
    async fn expected_head(&mut self, gap: Gap) -> Result<Head, String> {
        let size = match gap.size {
            Some(size) => size,
            None => {
                let db = self.db.clone();
                let complete_from = gap.complete_from;
                let read = match self.size_read {
                    Some((read_for, size)) if read_for == gap => Ok(Ok(size)),
                    _ => tokio::task::spawn_blocking(move || stored_snapshot_size(&db, complete_from)).await,
                };
                if let Ok(Ok(size)) = read {
                    self.size_read = Some((gap, size));
                }
                match read {
                    Ok(Ok(Some(size))) => size,
                    Ok(Ok(None)) => {
                        return Err(format!(
                            "the data dir does not record the ledger size before log index {complete_from} (a snapshot installed by an earlier version), so the history before it cannot be verified"
                        ))
                    }
                    Ok(Err(error)) => return Err(format!("cannot read the stored snapshot: {error}")),
                    Err(error) => return Err(format!("reading the stored snapshot failed: {error}")),
                }
            }
        };
        if size == 0 {
            // Before the first leaf nothing is certified: the state must be genesis' own.
            return Ok(Ledger::new(self.genesis.clone()).head());
        }
        let ledger = self.ledger.view();
        ledger.certification().certified.get(&size).cloned().ok_or_else(|| {
            format!(
                "this node's state holds no certified checkpoint at size {size} (yet), which the blocks before log index {} must give",
                gap.complete_from
            )
        })
    }

    /// Fetches, verifies and stores the blocks before the gap from one peer.
    async fn fetch_from(&mut self, peer: &Peer, gap: Gap, expected: &Head) -> Attempt {
        let staged = self.staged.clone();
        match tokio::task::spawn_blocking(move || staged.clear()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Attempt::Store(error.into()),
            Err(error) => {
                return Attempt::Store(StoreError::Io { what: "clearing the staged blocks".into(), source: std::io::Error::other(error) })
            }
        }
        let fetched = match self.fetch(peer, gap).await {
            Ok(fetched) => fetched,
            Err(attempt) => return attempt,
        };
        // INFO for the first fetch of a gap; a peer that fails every round must not fill the log.
        if self.fetch_logged == Some(gap) {
            tracing::debug!(
                peer = %peer.id,
                blocks = fetched.blocks,
                bytes = fetched.bytes,
                "fetched the blocks before log index {} from node {}; re-executing them from genesis",
                gap.complete_from,
                peer.id
            );
        } else {
            tracing::info!(
                peer = %peer.id,
                blocks = fetched.blocks,
                bytes = fetched.bytes,
                "fetched the blocks before log index {} from node {}; re-executing them from genesis",
                gap.complete_from,
                peer.id
            );
            self.fetch_logged = Some(gap);
        }
        let (genesis, staged, expected_head, stop) = (self.genesis.clone(), self.staged.clone(), expected.clone(), self.stop.clone());
        let verified = tokio::task::spawn_blocking(move || {
            let blocks = staged.iter().map(|item| -> Result<(u64, Vec<u8>), StoreError> {
                let (key, value) = item?;
                Ok((index_of(&key), value.to_vec()))
            });
            verify_history(genesis, blocks, gap.complete_from, &expected_head, &|| stop.requested())
        })
        .await;
        match verified {
            Ok(Ok(())) => {}
            Ok(Err(Unverified::Stopped)) => return Attempt::Stopped,
            Ok(Err(Unverified::Store(error))) => return Attempt::Store(error),
            // An honest peer that has not applied as far as this node's snapshot yet.
            Ok(Err(short @ Unverified::Short { .. })) if !fetched.reached_gap_end => {
                return Attempt::Unavailable(format!("its history ends early ({short}): it is behind"))
            }
            Ok(Err(refused)) => return Attempt::Misbehaved(refused.to_string()),
            Err(error) => {
                return Attempt::Store(StoreError::Io {
                    what: "re-executing the fetched blocks".into(),
                    source: std::io::Error::other(error),
                })
            }
        }
        let (history, staged, stop) = (self.history.clone(), self.staged.clone(), self.stop.clone());
        let filled = tokio::task::spawn_blocking(move || {
            let filled = history.fill(&staged, &gap, &|| stop.requested())?;
            if filled {
                staged.clear()?;
            }
            Ok::<bool, StoreError>(filled)
        })
        .await;
        match filled {
            Ok(Ok(true)) => Attempt::Filled { blocks: fetched.blocks },
            Ok(Ok(false)) if self.stop.requested() => Attempt::Stopped,
            Ok(Ok(false)) => Attempt::GapMoved,
            Ok(Err(error)) => Attempt::Store(error),
            Err(error) => {
                Attempt::Store(StoreError::Io { what: "storing the fetched blocks".into(), source: std::io::Error::other(error) })
            }
        }
    }

    /// Streams the peer's log from index 0 into the staging tree, up to the gap's end.
    async fn fetch(&mut self, peer: &Peer, gap: Gap) -> Result<Fetched, Attempt> {
        let deadlines = fairshare_api::Deadlines::new(CONNECT_TIMEOUT, None);
        let mut client = match self.stop.unless(fairshare_api::connect(&peer.address, deadlines, &peer.transport)).await {
            None => return Err(Attempt::Stopped),
            Some(Err(error)) => return Err(Attempt::Unavailable(format!("cannot connect: {}", echo(&error.to_string())))),
            Some(Ok(client)) => client,
        };
        let mut stream = match self
            .stop
            .unless(tokio::time::timeout(STREAM_IDLE_MAX, client.audit_log(AuditLogRequest { from_log_index: 0, follow: false })))
            .await
        {
            None => return Err(Attempt::Stopped),
            Some(Err(_)) => return Err(Attempt::Unavailable(format!("no answer within {STREAM_IDLE_MAX:?}"))),
            // FAILED_PRECONDITION: it caught up from a snapshot itself and lacks the start.
            Some(Ok(Err(status))) => return Err(Attempt::Unavailable(format!("{:?}: {}", status.code(), echo(status.message())))),
            Some(Ok(Ok(response))) => response.into_inner(),
        };
        let mut fetched = Fetched::default();
        let mut batch = StageBatch::default();
        loop {
            let block = match self.stop.unless(tokio::time::timeout(STREAM_IDLE_MAX, stream.message())).await {
                None => return Err(Attempt::Stopped),
                Some(Err(_)) => return Err(Attempt::Unavailable(format!("its log stream sent nothing for {STREAM_IDLE_MAX:?}"))),
                Some(Ok(Err(status))) => return Err(Attempt::Unavailable(format!("{:?}: {}", status.code(), echo(status.message())))),
                Some(Ok(Ok(None))) => break,
                Some(Ok(Ok(Some(block)))) => block,
            };
            if block.log_index >= gap.complete_from {
                fetched.reached_gap_end = true;
                break;
            }
            if let Some(last) = fetched.last.filter(|&last| block.log_index <= last) {
                return Err(Attempt::Misbehaved(format!("its log goes back from log index {last} to {}", block.log_index)));
            }
            fetched.last = Some(block.log_index);
            fetched.blocks += 1;
            fetched.bytes += block.block.len() as u64;
            if batch.add(block.log_index, block.block) {
                self.stage(batch.take()).await?;
            }
        }
        self.stage(batch.take()).await?;
        Ok(fetched)
    }

    async fn stage(&self, batch: sled::Batch) -> Result<(), Attempt> {
        let staged = self.staged.clone();
        match tokio::task::spawn_blocking(move || staged.apply_batch(batch)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Attempt::Store(error.into())),
            Err(error) => {
                Err(Attempt::Store(StoreError::Io { what: "staging fetched blocks".into(), source: std::io::Error::other(error) }))
            }
        }
    }
}

/// What one fetch got.
#[derive(Default)]
struct Fetched {
    blocks: u64,
    bytes: u64,
    last: Option<u64>,
    /// The peer's log went on past the gap: it holds at least everything before it.
    reached_gap_end: bool,
}

/// Blocks waiting to be staged, bounded by [`STAGE_BATCH_BLOCKS`] and [`STAGE_BATCH_BYTES`].
#[derive(Default)]
struct StageBatch {
    batch: sled::Batch,
    blocks: usize,
    bytes: usize,
}

impl StageBatch {
    /// Adds a block; true when the batch is full and should be staged.
    fn add(&mut self, log_index: u64, block: Vec<u8>) -> bool {
        self.bytes += block.len();
        self.blocks += 1;
        self.batch.insert(&log_key(log_index), block);
        self.blocks >= STAGE_BATCH_BLOCKS || self.bytes >= STAGE_BATCH_BYTES
    }

    fn take(&mut self) -> sled::Batch {
        self.blocks = 0;
        self.bytes = 0;
        std::mem::take(&mut self.batch)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ed25519_dalek::SigningKey;
    use fairshare_protocol::envelope::seal;
    use fairshare_protocol::pb;
    use fairshare_protocol::pb::transaction::Kind;
    use fairshare_protocol::testing::{checkpoint_statements, genesis_with_keys, transaction};
    use prost::Message;

    use super::*;

    fn registration(genesis: &Genesis, keys: &BTreeMap<String, SigningKey>, nonce: u64) -> pb::Envelope {
        let kind = Kind::PartyRegistered(pb::PartyRegistered {
            party: format!("agb:{:08}", 10_000_000 + nonce),
            kind: pb::PartyKind::Provider as i32,
            name: "Ziekenhuis Test".into(),
            iban: String::new(),
        });
        seal(&transaction(genesis, nonce, kind), "zk", &keys["zk"])
    }

    /// A log index and the encoded block stored there.
    type StoredBlock = (u64, Vec<u8>);

    /// A history as a peer serves it (log index, encoded block): three blocks of
    /// registrations, then the statements that certify the head they give, which is returned.
    fn certified_history() -> (Arc<Genesis>, Vec<StoredBlock>, Head) {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let mut ledger = Ledger::new(genesis.clone());
        let mut blocks = Vec::new();
        for (position, nonces) in [[1, 2], [3, 4], [5, 6]].iter().enumerate() {
            let block = pb::Block { envelopes: nonces.iter().map(|&nonce| registration(&genesis, &keys, nonce)).collect() };
            ledger.apply_block(&block);
            blocks.push((2 + position as u64 * 2, block.encode_to_vec()));
        }
        let head = ledger.head();
        let statements = pb::Block { envelopes: checkpoint_statements(&genesis, &head, &["cz", "menzis", "vgz"]) };
        ledger.apply_block(&statements);
        blocks.push((9, statements.encode_to_vec()));
        assert_eq!(ledger.certification().latest_certified(), Some(&head), "the test history certifies its head");
        (genesis, blocks, head)
    }

    fn verify(genesis: &Arc<Genesis>, blocks: &[StoredBlock], complete_from: u64, expected: &Head) -> Result<(), Unverified> {
        verify_history(genesis.clone(), blocks.iter().cloned().map(Ok), complete_from, expected, &|| false)
    }

    #[test]
    fn a_history_that_re_executes_to_the_certified_head_is_taken() {
        let (genesis, blocks, head) = certified_history();
        verify(&genesis, &blocks, 10, &head).expect("the honest history verifies");
    }

    #[test]
    fn a_history_with_one_envelope_dropped_is_refused() {
        let (genesis, mut blocks, head) = certified_history();
        let mut block = pb::Block::decode(blocks[1].1.as_slice()).unwrap();
        block.envelopes.remove(0);
        blocks[1].1 = block.encode_to_vec();
        match verify(&genesis, &blocks, 10, &head) {
            Err(Unverified::Short { size: 5, expected: 6, complete_from: 10 }) => {}
            other => panic!("expected a refusal for a missing leaf, got {other:?}"),
        }
    }

    #[test]
    fn a_history_with_one_envelope_replaced_is_refused_by_the_root_and_digest() {
        let (genesis, mut blocks, head) = certified_history();
        let (_, keys) = genesis_with_keys();
        let mut block = pb::Block::decode(blocks[0].1.as_slice()).unwrap();
        block.envelopes[1] = registration(&genesis, &keys, 77);
        blocks[0].1 = block.encode_to_vec();
        match verify(&genesis, &blocks, 10, &head) {
            Err(refused @ Unverified::OtherHead { .. }) => assert!(refused.to_string().contains("certified there"), "{refused}"),
            other => panic!("expected a refusal for another head, got {other:?}"),
        }
    }

    #[test]
    fn a_history_longer_than_the_certified_state_or_reaching_past_the_gap_is_refused() {
        let (genesis, blocks, head) = certified_history();
        let (_, keys) = genesis_with_keys();
        let mut longer = blocks.clone();
        longer.insert(3, (8, pb::Block { envelopes: vec![registration(&genesis, &keys, 8)] }.encode_to_vec()));
        assert!(matches!(verify(&genesis, &longer, 10, &head), Err(Unverified::Long { log_index: 8, size: 7, expected: 6 })));
        assert!(matches!(verify(&genesis, &blocks, 9, &head), Err(Unverified::NotBelowGap { log_index: 9, complete_from: 9 })));
    }

    /// Blocks are read strictly, as the state machine reads them: an envelope whose bytes in
    /// the block carry an unknown field is refused, not a leaf, although it decodes to the
    /// same envelope. A peer cannot serve other bytes for a leaf than were certified.
    #[test]
    fn an_envelope_with_other_bytes_for_the_same_message_is_not_a_leaf() {
        let (genesis, mut blocks, head) = certified_history();
        let block = pb::Block::decode(blocks[2].1.as_slice()).unwrap();
        let mut bytes = Vec::new();
        for (position, envelope) in block.envelopes.iter().enumerate() {
            let mut record = envelope.encode_to_vec();
            if position == 0 {
                record.extend_from_slice(&[0x78, 0x00]); // field 15, varint 0: unknown to Envelope
            }
            assert!(record.len() < 128, "a one-byte length prefix");
            bytes.push(0x0a);
            bytes.push(record.len() as u8);
            bytes.extend_from_slice(&record);
        }
        assert_eq!(pb::Block::decode(bytes.as_slice()).unwrap(), block, "it decodes to the same block");
        blocks[2].1 = bytes;
        match verify(&genesis, &blocks, 10, &head) {
            Err(Unverified::Short { size: 5, expected: 6, .. }) => {}
            other => panic!("expected the non-canonical envelope to be refused, leaving a leaf short, got {other:?}"),
        }
    }

    #[test]
    fn undecodable_blocks_change_nothing_as_in_the_state_machine() {
        let (genesis, mut blocks, head) = certified_history();
        blocks.insert(0, (1, vec![0xff, 0xff, 0xff]));
        verify(&genesis, &blocks, 10, &head).expect("an undecodable entry is applied as empty by every node");
    }
}
