//! `Shared`: the state of one running node that its gRPC services, the batcher, the
//! checkpoint signer and the peer probes all hold (behind one `Arc`), wired once in
//! `node::start`.
//!
//! The locks are `std::sync` ones: nothing awaits while holding them (a query reads the
//! ledger, builds its answer and drops the guard), so a blocking lock is cheaper than an
//! async one and cannot be held across a suspension point by mistake.

use crate::ledger_cell::LedgerCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::health::Health;
use crate::misbehaviour::Misbehaviour;
use crate::raft::state_machine::Applied;
use crate::raft::{insurer_of, Raft};
use crate::submit::Submitter;
use crate::transport::Security;

/// What every service of one node shares.
pub struct Shared {
    /// This node's insurer id (genesis).
    pub insurer: String,
    pub raft: Raft,
    /// The applied ledger; the state machine is its only writer.
    pub ledger: Arc<LedgerCell>,
    /// Changes after every applied block (watch streams and the checkpoint signer wait on it).
    pub applied: watch::Receiver<Applied>,
    pub submitter: Submitter,
    pub db: sled::Db,
    /// insurer id → (address, reachable at the last probe)
    pub peers: Mutex<BTreeMap<String, (String, bool)>>,
    /// Set once this node saw evidence of a conflicting checkpoint: it signs no more.
    pub signing_halted: AtomicBool,
    /// Node ids that ever answered this node's Raft traffic (persisted in sled).
    pub participants: Arc<Mutex<BTreeSet<u64>>>,
    /// False while this node awaits re-admission: it refuses all Raft traffic.
    pub raft_allowed: Arc<AtomicBool>,
    /// The file whose presence marks a data dir awaiting re-admission.
    pub replacement_marker: PathBuf,
    /// TLS (or `--insecure`) for this node's calls to its peers.
    pub security: Security,
    /// What peers did that an honest node never does.
    pub misbehaviour: Arc<Misbehaviour>,
    /// This node's genesis key: signs checkpoints and the record of executed membership
    /// proposals.
    pub node_key: ed25519_dalek::SigningKey,
    /// Whether writes are taken (free space, Raft running), and why not.
    pub health: Arc<Health>,
}

impl Shared {
    /// The insurer ids of [`Shared::participants`], for `status`.
    pub fn participant_names(&self) -> Vec<String> {
        let ledger = self.ledger.view();
        let ids: BTreeSet<u64> = self.participants.lock().expect("participants lock").clone();
        ids.into_iter().filter_map(|id| insurer_of(ledger.genesis(), id).map(str::to_string)).collect()
    }
}
