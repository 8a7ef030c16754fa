//! The ledger: the state, the Merkle log of its transactions, and the certification of
//! checkpoints, advanced one block (one Raft entry) at a time.
//!
//! SPEC.md sections 7 (blocks, leaves, verdicts) and 9 (heads, checkpoint statements,
//! certification, evidence) are the normative statement of what this module does.
//!
//! A block's envelopes are applied in order. For each envelope:
//! - one that fails to decode, is not canonically encoded, names an unknown signer or
//!   carries a bad signature is *refused*: it is not a leaf and changes nothing (nodes
//!   refuse these before the log; this keeps a faulty leader from getting one in);
//! - one whose id (SHA-256 of its signer and body) is already a leaf is a *duplicate*: not a leaf,
//!   the submitter learns the original verdict (a resubmission across a leader change);
//! - a checkpoint signature certifies the log and is not a leaf either, so an idle ledger
//!   stays idle;
//! - every other envelope becomes the next Merkle leaf with its verdict: applied, or
//!   rejected with a reason code (DESIGN decision 3). Its nonce is used either way.
//!
//! # Heads and checkpoints
//!
//! A *head* is (size, Merkle root at that size, state digest at that size). A node records
//! one at every size that is a multiple of the checkpoint interval
//! ([`crate::CHECKPOINT_INTERVAL`] leaves) reached inside or at the end of a block, the
//! root and digest taken right after that leaf; and one at the end of every block that
//! added leaves (Raft snapshots are taken at block ends). Checkpoint signatures arriving
//! later are compared with these heads.
//!
//! **Which heads a node signs** (so that every honest node signs the same sizes, whatever
//! the blocks were cut like, and a quorum agrees under load):
//! 1. every size that is a multiple of the interval;
//! 2. the end of every block that reaches or crosses a multiple of the interval (a block
//!    from size `b` to size `e` with `b < k × interval <= e` for some `k`), so that the
//!    block ends at which Raft snapshots are taken get certified under load too;
//! 3. the latest block end, once the ledger is idle (no new leaf for a while: the node
//!    decides, [`Ledger::checkpoints_to_sign`] takes it as a flag), so that a quiet ledger
//!    is certified up to its last leaf.
//!
//! Rules 1 and 2 depend on the log alone ([`checkpoint_sizes_in_block`]); the sizes they
//! name are kept as [`Certification::due`]. A node signs them oldest first, each once, and
//! only above the newest certified size. Checkpoint signatures are not leaves, so they
//! never make another checkpoint due: an idle ledger stays idle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::OrdMap;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::envelope::{open_all, transaction_id, ReplicatedBlock, TransactionId, VerifiedTransaction};
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
    /// Our heads (at block ends and multiples of the checkpoint interval) not yet below the
    /// newest certified size.
    pub heads: OrdMap<u64, Head>,
    /// The sizes of `heads` that nodes sign by rules 1 and 2 of the module documentation
    /// (a multiple of the interval, or the end of a block that reaches or crosses one).
    #[serde(default)]
    pub due: BTreeSet<u64>,
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

    /// This certification as it applies to the log's first `size` leaves: what a snapshot
    /// of the state at `size` carries, once `size` is certified later.
    pub fn up_to(&self, size: u64) -> Certification {
        let below = |map: &OrdMap<u64, Head>| map.iter().filter(|(&at, _)| at <= size).map(|(&at, head)| (at, head.clone())).collect();
        Certification {
            heads: below(&self.heads),
            due: self.due.iter().copied().filter(|&at| at <= size).collect(),
            statements: self.statements.iter().filter(|(&at, _)| at <= size).map(|(&at, statements)| (at, statements.clone())).collect(),
            certified: below(&self.certified),
            evidence: self.evidence.clone(),
        }
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

/// The sizes within one block, from `before` leaves to `after`, that every node signs
/// (rules 1 and 2 of the module documentation), ascending: every multiple of `interval`
/// in `before + 1 ..= after`, then `after` itself if the block reached or crossed one.
/// Depends on the log alone, so every node and auditor computes the same sizes.
pub fn checkpoint_sizes_in_block(interval: u64, before: u64, after: u64) -> Vec<u64> {
    assert!(interval > 0, "a checkpoint interval of zero leaves");
    if after <= before {
        return Vec::new();
    }
    let first = (before / interval + 1).saturating_mul(interval);
    let mut sizes: Vec<u64> = (first..=after).step_by(usize::try_from(interval).unwrap_or(usize::MAX)).collect();
    if !sizes.is_empty() && !after.is_multiple_of(interval) {
        sizes.push(after);
    }
    sizes
}

/// The state digest now. Through `&mut`, so that it reads the same whether
/// [`LedgerState::digest`] needs `&self` or (an incremental digest folding in what changed)
/// `&mut self`.
#[allow(clippy::needless_pass_by_ref_mut)]
fn state_digest(state: &mut LedgerState) -> [u8; 32] {
    state.digest()
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
    /// Leaves between checkpoints: [`crate::CHECKPOINT_INTERVAL`] except in tests.
    checkpoint_interval: u64,
}

impl Ledger {
    pub fn new(genesis: Arc<Genesis>) -> Ledger {
        Ledger::with_checkpoint_interval(genesis, crate::CHECKPOINT_INTERVAL)
    }

    /// A ledger whose checkpoints are every `interval` leaves rather than
    /// [`crate::CHECKPOINT_INTERVAL`]: for tests that cross several checkpoints with few
    /// transactions. Nodes and auditors must all use the same interval.
    pub fn with_checkpoint_interval(genesis: Arc<Genesis>, interval: u64) -> Ledger {
        assert!(interval > 0, "a checkpoint interval of zero leaves");
        let state = LedgerState::new(&genesis);
        let data = LedgerData { state, merkle: MerkleLog::new(), certification: Certification::default() };
        Ledger { genesis, data, checkpoint_interval: interval }
    }

    pub fn checkpoint_interval(&self) -> u64 {
        self.checkpoint_interval
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
        if let Some(due) = data.certification.due.iter().find(|due| !heads.contains_key(*due)) {
            return Err(SnapshotRefused::Damaged(format!("it calls size {due} due for signing but records no head there")));
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
        data.state.index_leaves();
        Ok(Ledger { genesis, data, checkpoint_interval: crate::CHECKPOINT_INTERVAL })
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

    /// The current head. The digest is the one recorded at the last block end, or
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

    /// Applies one block: see the module documentation. Records the heads (with a full
    /// state digest) at the multiples of the checkpoint interval it reaches and at its end,
    /// if it added leaves.
    pub fn apply_block(&mut self, block: &pb::Block) -> Vec<Outcome> {
        let opened = open_all(&block.envelopes, &self.genesis);
        self.apply_opened(block, opened, &|_| true)
    }

    /// Applies a block as replicated ([`crate::envelope::decode_block`]): as
    /// [`Ledger::apply_block`], with the envelopes whose bytes were not canonical refused.
    pub fn apply_replicated(&mut self, replicated: &ReplicatedBlock) -> Vec<Outcome> {
        let mut opened = open_all(&replicated.block.envelopes, &self.genesis);
        replicated.refuse_non_canonical(&mut opened);
        self.apply_opened(&replicated.block, opened, &|_| true)
    }

    /// Applies a block whose envelopes were already opened (by [`open_all`], perhaps on
    /// other threads, as an auditor does), in the same order: the ids and leaf hashes are
    /// taken from the openings (checked in debug builds). `record_head(size)` says whether
    /// to compute and record the head at a size where one may be recorded (a multiple of
    /// the checkpoint interval inside the block, and the block's end): nodes always do; an
    /// auditor only at the sizes that checkpoint signatures name, since the digest may walk
    /// the whole state.
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
                    if let Verdict::Applied { index } | Verdict::Rejected { index, .. } = verdict {
                        // Right after this leaf is the only moment the state is at this size.
                        let size = index + 1;
                        if size.is_multiple_of(self.checkpoint_interval) && record_head(size) {
                            self.record_head_now();
                        }
                    }
                    Outcome { id: transaction.id, verdict }
                }
            };
            outcomes.push(outcome);
        }
        let size = self.size();
        if size > size_before && !self.data.certification.heads.contains_key(&size) && record_head(size) {
            self.record_head_now();
        }
        let certification = &mut self.data.certification;
        for due in checkpoint_sizes_in_block(self.checkpoint_interval, size_before, size) {
            if certification.heads.contains_key(&due) {
                certification.due.insert(due);
            }
        }
        outcomes
    }

    /// Records the head at the current size: the root from the frontier, the digest of the
    /// state as it is now.
    fn record_head_now(&mut self) {
        let head = Head { size: self.size(), root: self.data.merkle.root(), state_digest: state_digest(&mut self.data.state) };
        self.data.certification.heads.insert(head.size, head);
    }

    /// The heads `node` signs now, oldest first, at most `limit`: the due heads (rules 1
    /// and 2 of the module documentation) above both the newest certified size and
    /// `signed_up_to` (what the node already submitted) that `node` has no statement for on
    /// the ledger yet; and, when `idle`, the head at the latest block end (rule 3).
    pub fn checkpoints_to_sign(&self, node: &str, idle: bool, signed_up_to: u64, limit: usize) -> Vec<Head> {
        let certification = &self.data.certification;
        let floor = certification.latest_certified().map_or(0, |head| head.size).max(signed_up_to);
        let unsigned = |size: &u64| !certification.statements.get(size).is_some_and(|statements| statements.contains_key(node));
        let mut sizes: Vec<u64> = certification.due.range(floor + 1..).copied().filter(unsigned).take(limit).collect();
        let latest = self.size();
        if idle && sizes.len() < limit && latest > floor && sizes.last() != Some(&latest) && unsigned(&latest) {
            sizes.push(latest);
        }
        sizes.iter().filter_map(|size| certification.heads.get(size).cloned()).collect()
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
                format!("size {size} is neither a block end nor a checkpoint interval multiple of this log (or is already settled)"),
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
            certification.due.retain(|&kept| kept >= size);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::seal;
    use crate::testing::{checkpoint_statements, genesis_with_keys, transaction, INSURERS};

    #[test]
    fn a_block_signs_the_multiples_it_reaches_and_its_end_if_it_reaches_one() {
        assert_eq!(checkpoint_sizes_in_block(4, 0, 3), Vec::<u64>::new());
        assert_eq!(checkpoint_sizes_in_block(4, 0, 4), vec![4]);
        assert_eq!(checkpoint_sizes_in_block(4, 3, 4), vec![4]);
        assert_eq!(checkpoint_sizes_in_block(4, 4, 7), Vec::<u64>::new());
        assert_eq!(checkpoint_sizes_in_block(4, 3, 9), vec![4, 8, 9]);
        assert_eq!(checkpoint_sizes_in_block(4, 7, 8), vec![8]);
        assert_eq!(checkpoint_sizes_in_block(4, 9, 9), Vec::<u64>::new(), "a block without leaves");
        assert_eq!(checkpoint_sizes_in_block(1024, 1000, 1030), vec![1024, 1030]);
    }

    /// `count` signed transactions, each a leaf (applied or rejected alike), by every insurer in turn.
    fn leaves(genesis: &Genesis, keys: &BTreeMap<String, ed25519_dalek::SigningKey>, count: u64) -> Vec<pb::Envelope> {
        (0..count)
            .map(|number| {
                let signer = INSURERS[number as usize % INSURERS.len()];
                let kind = Kind::PartyRegistered(pb::PartyRegistered {
                    party: format!("agb:{number:08}"),
                    kind: pb::PartyKind::Provider as i32,
                    name: format!("provider {number}"),
                    iban: String::new(),
                });
                seal(&transaction(genesis, number + 1, kind), signer, &keys[signer])
            })
            .collect()
    }

    fn fed_in_blocks_of(genesis: &Arc<Genesis>, envelopes: &[pb::Envelope], block: usize) -> Ledger {
        let mut ledger = Ledger::with_checkpoint_interval(genesis.clone(), 4);
        for envelopes in envelopes.chunks(block) {
            let outcomes = ledger.apply_block(&pb::Block { envelopes: envelopes.to_vec() });
            assert!(outcomes.iter().all(|outcome| matches!(outcome.verdict, Verdict::Applied { .. } | Verdict::Rejected { .. })));
        }
        ledger
    }

    #[test]
    fn ledgers_fed_blocks_of_different_sizes_agree_on_every_checkpoint_and_certify_the_same_heads() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let envelopes = leaves(&genesis, &keys, 30);
        let mut singles = fed_in_blocks_of(&genesis, &envelopes, 1);
        let mut sevens = fed_in_blocks_of(&genesis, &envelopes, 7);
        assert_eq!((singles.size(), sevens.size()), (30, 30));
        assert_eq!(singles.head(), sevens.head(), "the same log ends in the same head");

        let multiples: Vec<u64> = (1..=7).map(|k| k * 4).collect();
        for size in &multiples {
            let single = singles.certification().heads.get(size).expect("blocks of one record every size");
            let seven = sevens.certification().heads.get(size).unwrap_or_else(|| panic!("blocks of seven record the multiple {size}"));
            assert_eq!(single, seven, "the head at {size}, reached at a block end in one and inside a block in the other");
            assert_eq!(single.root, singles.merkle().root_at(*size).expect("within the log"));
        }
        // Blocks of one end on every multiple; of the blocks of seven (ending at 7, 14, 21,
        // 28, 30), those ending past a multiple they crossed are due too.
        assert_eq!(singles.certification().due.iter().copied().collect::<Vec<_>>(), multiples);
        assert_eq!(sevens.certification().due.iter().copied().collect::<Vec<_>>(), vec![4, 7, 8, 12, 14, 16, 20, 21, 24, 28]);
        assert!(sevens.certification().heads.contains_key(&30), "every block end is recorded, due or not");

        // A node signs what is due, oldest first, bounded; the latest block end only at idle.
        let due = |ledger: &Ledger, idle: bool, after: u64, limit: usize| -> Vec<u64> {
            ledger.checkpoints_to_sign("cz", idle, after, limit).iter().map(|head| head.size).collect()
        };
        assert_eq!(due(&sevens, false, 0, 3), vec![4, 7, 8]);
        assert_eq!(due(&sevens, false, 8, 100), vec![12, 14, 16, 20, 21, 24, 28]);
        assert_eq!(due(&sevens, true, 8, 100), vec![12, 14, 16, 20, 21, 24, 28, 30]);

        // Three of four nodes sign every multiple: both ledgers certify the same heads.
        let statements: Vec<pb::Envelope> = multiples
            .iter()
            .flat_map(|size| checkpoint_statements(&genesis, &singles.certification().heads[size], &INSURERS[..3]))
            .collect();
        for ledger in [&mut singles, &mut sevens] {
            let outcomes = ledger.apply_block(&pb::Block { envelopes: statements.clone() });
            assert!(outcomes.iter().all(|outcome| matches!(outcome.verdict, Verdict::CheckpointRecorded { .. })), "{outcomes:?}");
            assert_eq!(ledger.size(), 30, "checkpoint signatures are not leaves");
        }
        let certified: Vec<u64> = singles.certification().certified.keys().copied().collect();
        assert_eq!(certified, multiples);
        assert_eq!(singles.certification().certified, sevens.certification().certified);
        assert_eq!(singles.certification().certificate(28).len(), 3);
        // Settled below the newest certified size: nothing due but, at idle, the latest end.
        assert_eq!(due(&sevens, false, 0, 100), Vec::<u64>::new());
        assert_eq!(due(&sevens, true, 0, 100), vec![30]);
        assert_eq!(sevens.certification().due.iter().copied().collect::<Vec<_>>(), vec![28]);
    }

    #[test]
    fn a_head_is_recorded_inside_a_block_only_where_asked() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let envelopes = leaves(&genesis, &keys, 10);
        let mut ledger = Ledger::with_checkpoint_interval(genesis.clone(), 4);
        let opened = open_all(&envelopes, &genesis);
        ledger.apply_opened(&pb::Block { envelopes }, opened, &|size| size == 8);
        assert_eq!(ledger.certification().heads.keys().copied().collect::<Vec<_>>(), vec![8]);
        assert_eq!(ledger.certification().due.iter().copied().collect::<Vec<_>>(), vec![8], "only recorded heads are due");
    }
}
