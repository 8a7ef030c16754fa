//! The ledger: the state, the Merkle log of its transactions, and the certification of
//! checkpoints, advanced one block (one Raft entry) at a time.
//!
//! A block's envelopes are applied in order. For each envelope:
//! - one that fails to decode, names an unknown signer or carries a bad signature is
//!   *refused*: it is not a leaf and changes nothing (nodes refuse these before the log;
//!   this keeps a faulty leader from getting one in);
//! - one whose id (SHA-256 of its signer and body) is already a leaf is a *duplicate*: not a leaf,
//!   the submitter learns the original verdict (a resubmission across a leader change);
//! - a checkpoint signature certifies the log and is not a leaf either, so an idle ledger
//!   stays idle;
//! - every other envelope becomes the next Merkle leaf with its verdict: applied, or
//!   rejected with a reason code (DESIGN decision 3). Its nonce is used either way.
//!
//! After a block that added leaves, the head (size, root, state digest) is recorded so
//! that checkpoint signatures arriving later can be compared with it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::OrdMap;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::envelope::{open_all, transaction_id, TransactionId, VerifiedTransaction};
use crate::genesis::{node_signer, Genesis, Role};
use crate::merkle::MerkleLog;
use crate::pb::{self, transaction::Kind, ReasonCode};
use crate::rejection::Rejection;
use crate::rules;
use crate::snapshot::SnapshotRefused;
use crate::state::{LedgerState, Recorded, TransactionKey};

/// What happened to one envelope of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A leaf; the rules applied it.
    Applied { index: u64 },
    /// A leaf; the rules rejected it and the state did not change.
    Rejected { index: u64, rejection: Rejection },
    /// Already a leaf: not applied again.
    Duplicate { original: Recorded },
    /// Not a leaf: it could not be authenticated.
    Refused { rejection: Rejection },
    /// A checkpoint signature, recorded (not a leaf).
    CheckpointRecorded { node: String, size: u64, certified: bool },
    /// A checkpoint signature that was not recorded (not a leaf).
    CheckpointIgnored { rejection: Rejection },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: TransactionId,
    pub verdict: Verdict,
}

/// An envelope kept in the certification state (hex so the JSON snapshot stays readable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEnvelope {
    pub body: String,
    pub signer: String,
    pub signature: String,
}

impl StoredEnvelope {
    pub fn from_pb(envelope: &pb::Envelope) -> StoredEnvelope {
        StoredEnvelope { body: hex::encode(&envelope.body), signer: envelope.signer.clone(), signature: hex::encode(&envelope.signature) }
    }

    pub fn to_pb(&self) -> pb::Envelope {
        pb::Envelope {
            body: hex::decode(&self.body).expect("stored envelopes are hex"),
            signer: self.signer.clone(),
            signature: hex::decode(&self.signature).expect("stored envelopes are hex"),
        }
    }
}

/// The log's own head at a block boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub size: u64,
    pub root: [u8; 32],
    pub state_digest: [u8; 32],
}

impl Head {
    pub fn to_checkpoint(&self, ledger_id: &str) -> pb::Checkpoint {
        pb::Checkpoint {
            ledger_id: ledger_id.to_string(),
            size: self.size,
            root: self.root.to_vec(),
            state_digest: self.state_digest.to_vec(),
        }
    }

    fn matches(&self, checkpoint: &pb::Checkpoint) -> bool {
        checkpoint.size == self.size && checkpoint.root == self.root && checkpoint.state_digest == self.state_digest
    }
}

/// Two signed statements that cannot both be true: proof against `node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub node: String,
    pub size: u64,
    pub what: String,
    pub statements: Vec<StoredEnvelope>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    /// Our heads at block boundaries not yet below the newest certified size.
    pub heads: OrdMap<u64, Head>,
    /// size → node → its first signed statement for that size.
    pub statements: OrdMap<u64, BTreeMap<String, StoredEnvelope>>,
    /// Every certified head, with its certificate kept in `statements`.
    pub certified: OrdMap<u64, Head>,
    pub evidence: Vec<Evidence>,
}

impl Certification {
    pub fn latest_certified(&self) -> Option<&Head> {
        self.certified.values().next_back()
    }

    /// The signatures that certify a size.
    pub fn certificate(&self, size: u64) -> Vec<pb::Envelope> {
        let Some(head) = self.certified.get(&size) else { return Vec::new() };
        self.statements
            .get(&size)
            .map(|statements| {
                statements
                    .values()
                    .map(StoredEnvelope::to_pb)
                    .filter(|envelope| checkpoint_of(envelope).is_some_and(|checkpoint| head.matches(&checkpoint)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A certificate: statements for exactly `expected`, each a `CheckpointSigned` by the node
/// key of the node it names, from at least a quorum ([`Genesis::quorum`]) of distinct
/// nodes. The one definition of "certified" that offline proofs share with [`Ledger`],
/// which counts the same statements as they arrive. Returns the certifying nodes.
pub fn check_certificate(genesis: &Genesis, expected: &pb::Checkpoint, statements: &[pb::Envelope]) -> Result<BTreeSet<String>, Rejection> {
    let mut nodes = BTreeSet::new();
    for (position, envelope) in statements.iter().enumerate() {
        let transaction = crate::envelope::open(envelope, genesis).map_err(|rejection| {
            Rejection::new(
                rejection.code,
                format!("certificate statement {position} (signer '{}') does not verify: {rejection}", envelope.signer),
            )
        })?;
        let (Kind::CheckpointSigned(signed), Role::Node(node)) = (&transaction.kind, &transaction.role) else {
            return Err(Rejection::new(
                ReasonCode::SignerNotAuthorised,
                format!("certificate statement {position} is not a checkpoint signed by a node key (signer '{}')", envelope.signer),
            ));
        };
        if signed.node != *node || signed.checkpoint.as_ref() != Some(expected) {
            return Err(Rejection::new(
                ReasonCode::UnknownCheckpoint,
                format!("certificate statement {position} by {node} is for another checkpoint than size {}", expected.size),
            ));
        }
        nodes.insert(node.clone());
    }
    if nodes.len() < genesis.quorum() {
        return Err(Rejection::new(
            ReasonCode::UnknownCheckpoint,
            format!(
                "the checkpoint of size {} is signed by {} node(s) ({}); {} of {} are needed to certify it",
                expected.size,
                nodes.len(),
                nodes.iter().cloned().collect::<Vec<_>>().join(", "),
                genesis.quorum(),
                genesis.insurers.len()
            ),
        ));
    }
    Ok(nodes)
}

fn checkpoint_of(envelope: &pb::Envelope) -> Option<pb::Checkpoint> {
    match pb::Transaction::decode(envelope.body.as_slice()).ok()?.kind? {
        Kind::CheckpointSigned(signed) => signed.checkpoint,
        _ => None,
    }
}

/// The serialisable part of a ledger: what a Raft snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerData {
    pub state: LedgerState,
    pub merkle: MerkleLog,
    pub certification: Certification,
}

#[derive(Debug, Clone)]
pub struct Ledger {
    genesis: Arc<Genesis>,
    data: LedgerData,
}

impl Ledger {
    pub fn new(genesis: Arc<Genesis>) -> Ledger {
        let state = LedgerState::new(&genesis);
        Ledger { genesis, data: LedgerData { state, merkle: MerkleLog::new(), certification: Certification::default() } }
    }

    /// Restores from a snapshot's data; refuses one made under another genesis, or one
    /// whose records do not add up. Recomputes rather than trusts: the Merkle root comes
    /// from the leaf hashes (a [`MerkleLog`] rebuilds its frontier from its leaves when it
    /// is deserialised), and a head recorded at the snapshot's own size must equal the root
    /// and the state digest computed here, so [`Ledger::head`] never reports a stored head
    /// the state does not have. Whether anyone certified that head is
    /// [`crate::snapshot::restore_certified`]'s question. `O(state + leaves)`.
    pub fn restore(genesis: Arc<Genesis>, mut data: LedgerData) -> Result<Ledger, SnapshotRefused> {
        if data.state.genesis_hash != hex::encode(genesis.hash()) {
            return Err(SnapshotRefused::OtherGenesis { snapshot: data.state.genesis_hash.clone(), ours: hex::encode(genesis.hash()) });
        }
        // The digest covers the verdicts only through the leaf chain: at least check that
        // there is one verdict per leaf, and one leaf per verdict.
        let size = data.merkle.len();
        if data.state.transactions.len() as u64 != size {
            return Err(SnapshotRefused::Damaged(format!("it holds {} verdicts for {size} leaves", data.state.transactions.len())));
        }
        let indexes: BTreeSet<u64> = data.state.transactions.values().map(|recorded| recorded.index).collect();
        if indexes.len() as u64 != size || indexes.last().is_some_and(|&last| last >= size) {
            return Err(SnapshotRefused::Damaged(format!("its verdicts do not name each of its {size} leaves once")));
        }
        let heads = &data.certification.heads;
        if let Some((&key, head)) = heads.iter().find(|(&key, head)| key != head.size || key > size) {
            return Err(SnapshotRefused::Damaged(format!(
                "it records a head of size {} under size {key}, in a log of {size} leaves",
                head.size
            )));
        }
        let sizes: Vec<u64> = heads.keys().copied().collect();
        let roots = data.merkle.roots_at(&sizes).expect("head sizes are ascending and within the log");
        if let Some(head) = heads.values().zip(&roots).find_map(|(head, root)| (head.root != *root).then_some(head)) {
            return Err(SnapshotRefused::Damaged(format!("the head it records at size {} has a root its leaves do not give", head.size)));
        }
        if let Some(head) = heads.get(&size) {
            let digest = data.state.digest();
            if head.state_digest != digest {
                return Err(SnapshotRefused::Damaged(format!(
                    "the head it records at its size {size} has state digest {}, but its state digests to {}",
                    hex::encode(head.state_digest),
                    hex::encode(digest)
                )));
            }
        }
        Ok(Ledger { genesis, data })
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn data(&self) -> &LedgerData {
        &self.data
    }

    pub fn state(&self) -> &LedgerState {
        &self.data.state
    }

    pub fn merkle(&self) -> &MerkleLog {
        &self.data.merkle
    }

    pub fn certification(&self) -> &Certification {
        &self.data.certification
    }

    pub fn size(&self) -> u64 {
        self.data.merkle.len()
    }

    /// The current head. The digest is the one recorded at the last block boundary, or
    /// computed (the state at genesis) when no leaf exists yet.
    pub fn head(&self) -> Head {
        let size = self.size();
        match self.data.certification.heads.get(&size) {
            Some(head) => head.clone(),
            None => Head { size, root: self.data.merkle.root(), state_digest: self.data.state.digest_from_scratch() },
        }
    }

    /// The verdict of a transaction that became a leaf.
    pub fn recorded(&self, id: &TransactionId) -> Option<&Recorded> {
        self.data.state.transactions.get(&TransactionKey(*id))
    }

    /// Applies one block: see the module documentation. Records the head (with a full
    /// state digest) after the block if it added leaves.
    pub fn apply_block(&mut self, block: &pb::Block) -> Vec<Outcome> {
        let opened = open_all(&block.envelopes, &self.genesis);
        self.apply_opened(block, opened, &|_| true)
    }

    /// Applies a block whose envelopes were already opened (by [`open_all`], perhaps on
    /// other threads, as an auditor does), in the same order: the ids and leaf hashes are
    /// taken from the openings (checked in debug builds). `record_head(size)` says whether to compute and
    /// record the head after this block: nodes always do; an auditor only at the sizes
    /// that checkpoint signatures name, since the digest walks the whole state.
    pub fn apply_opened(
        &mut self,
        block: &pb::Block,
        opened: Vec<Result<VerifiedTransaction, Rejection>>,
        record_head: &dyn Fn(u64) -> bool,
    ) -> Vec<Outcome> {
        assert_eq!(opened.len(), block.envelopes.len(), "one opening per envelope");
        let size_before = self.size();
        let mut outcomes = Vec::with_capacity(block.envelopes.len());
        for (envelope, opened) in block.envelopes.iter().zip(opened) {
            let outcome = match opened {
                Err(rejection) => Outcome { id: transaction_id(envelope), verdict: Verdict::Refused { rejection } },
                Ok(transaction) => {
                    debug_assert_eq!(transaction.id, transaction_id(envelope), "opened from another envelope");
                    debug_assert_eq!(transaction.leaf_hash, crate::envelope::envelope_leaf_hash(envelope), "opened from another envelope");
                    let verdict = match &transaction.kind {
                        Kind::CheckpointSigned(signed) => self.record_checkpoint(envelope, &transaction, signed),
                        _ => self.apply_transaction(&transaction),
                    };
                    Outcome { id: transaction.id, verdict }
                }
            };
            outcomes.push(outcome);
        }
        if self.size() > size_before && record_head(self.size()) {
            let head = Head { size: self.size(), root: self.data.merkle.root(), state_digest: self.data.state.digest() };
            self.data.certification.heads.insert(head.size, head);
        }
        outcomes
    }

    fn apply_transaction(&mut self, transaction: &VerifiedTransaction) -> Verdict {
        let key = TransactionKey(transaction.id);
        if let Some(original) = self.data.state.transactions.get(&key) {
            return Verdict::Duplicate { original: original.clone() };
        }
        let index = self.size();
        let certified = &self.data.certification.certified;
        let is_certified = |checkpoint: &pb::Checkpoint| certified.get(&checkpoint.size).is_some_and(|head| head.matches(checkpoint));
        let result = rules::apply(&mut self.data.state, &self.genesis, transaction, index, &is_certified);
        let appended = self.data.merkle.append(transaction.leaf_hash);
        assert_eq!(appended, index, "leaf indexes are dense");
        let state = &mut self.data.state;
        let (recorded, verdict) = match result {
            Ok(()) => (Recorded { index, rejection: None }, Verdict::Applied { index }),
            Err(rejection) => {
                state.count_rejection(rejection.code);
                (
                    Recorded { index, rejection: Some((rejection.code as i32, rejection.message.clone())) },
                    Verdict::Rejected { index, rejection },
                )
            }
        };
        state.record_leaf(&transaction.id, &transaction.signer, transaction.nonce, recorded);
        verdict
    }

    fn record_checkpoint(&mut self, envelope: &pb::Envelope, transaction: &VerifiedTransaction, signed: &pb::CheckpointSigned) -> Verdict {
        let ignored = |code: ReasonCode, message: String| Verdict::CheckpointIgnored { rejection: Rejection::new(code, message) };
        let Role::Node(node) = &transaction.role else {
            return ignored(
                ReasonCode::SignerNotAuthorised,
                format!("'{}' is not a node key; checkpoints are signed by node keys", transaction.signer),
            );
        };
        if signed.node != *node || transaction.signer != node_signer(node) {
            return ignored(
                ReasonCode::SignerNotAuthorised,
                format!("a checkpoint for node '{}' signed by '{}'", signed.node, transaction.signer),
            );
        }
        let Some(checkpoint) = &signed.checkpoint else {
            return ignored(ReasonCode::MalformedTransaction, "the checkpoint signature names no checkpoint".into());
        };
        if checkpoint.ledger_id != self.genesis.ledger_id || checkpoint.root.len() != 32 || checkpoint.state_digest.len() != 32 {
            return ignored(ReasonCode::MalformedTransaction, "the checkpoint is of another ledger or its hashes are not 32 bytes".into());
        }
        let size = checkpoint.size;
        let stored = StoredEnvelope::from_pb(envelope);
        let certification = &mut self.data.certification;
        let statements = certification.statements.entry(size).or_default();
        if let Some(earlier) = statements.get(node) {
            let earlier_checkpoint = checkpoint_of(&earlier.to_pb());
            if earlier_checkpoint.as_ref() == Some(checkpoint) {
                return ignored(ReasonCode::AlreadySigned, format!("node {node} already signed size {size}"));
            }
            certification.evidence.push(Evidence {
                node: node.clone(),
                size,
                what: format!("node {node} signed two different checkpoints for size {size}"),
                statements: vec![earlier.clone(), stored],
            });
            return ignored(ReasonCode::CheckpointConflict, format!("node {node} signed a second, different checkpoint for size {size}"));
        }
        let Some(head) = certification.heads.get(&size).cloned().or_else(|| certification.certified.get(&size).cloned()) else {
            if statements.is_empty() {
                certification.statements.remove(&size);
            }
            return ignored(
                ReasonCode::UnknownCheckpoint,
                format!("size {size} is not a block boundary of this log (or is already settled)"),
            );
        };
        statements.insert(node.clone(), stored.clone());
        if !head.matches(checkpoint) {
            certification.evidence.push(Evidence {
                node: node.clone(),
                size,
                what: format!("node {node} signed a root or state digest for size {size} that differs from the log's"),
                statements: vec![stored],
            });
            return ignored(
                ReasonCode::CheckpointConflict,
                format!("node {node} signed a checkpoint for size {size} that differs from this log"),
            );
        }
        let agreeing =
            statements.values().filter(|statement| checkpoint_of(&statement.to_pb()).is_some_and(|signed| head.matches(&signed))).count();
        let certified = agreeing >= self.genesis.quorum();
        if certified && !certification.certified.contains_key(&size) {
            certification.certified.insert(size, head);
            // Heads and statements below the newest certified size are settled: keep only
            // the certificates.
            let settled: Vec<u64> = certification.heads.range(..size).map(|(&settled, _)| settled).collect();
            for settled in settled {
                certification.heads.remove(&settled);
            }
            let settled: Vec<u64> = certification
                .statements
                .range(..size)
                .map(|(&settled, _)| settled)
                .filter(|settled| !certification.certified.contains_key(settled))
                .collect();
            for settled in settled {
                certification.statements.remove(&settled);
            }
        }
        Verdict::CheckpointRecorded { node: node.clone(), size, certified }
    }
}
