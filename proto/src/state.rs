//! The ledger state: everything the rules read and write, and everything queries serve.
//!
//! Every collection is a `BTreeMap` / `Vec` with a defined order, because the state
//! digest walks them: two nodes with the same state compute the same digest, byte for
//! byte. The state changes only through `rules::apply` (via `Ledger::apply_block`).

use std::collections::{BTreeMap, BTreeSet};

use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::amount::{Amount, Ratio};
use crate::date::Date;
use crate::digest_map::DigestedMap;
use crate::genesis::Genesis;
use crate::pb::ReasonCode;

/// Where in the log something happened: the Merkle leaf index of the transaction.
pub type LeafIndex = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub index: LeafIndex,
    pub by: String,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub iban: Option<String>,
    pub registered_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: u32,
    pub valid_from: Date,
    pub shares: BTreeMap<String, Ratio>,
    pub proposed_by: String,
    pub approvals: BTreeSet<String>,
    /// True once every insurer of genesis approved (genesis keys are in force at once).
    pub in_force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuickTestStatus {
    Submitted,
    Passed,
    Failed,
}

impl QuickTestStatus {
    /// The status in the words of rejections and history.
    pub fn word(&self) -> &'static str {
        match self {
            QuickTestStatus::Submitted => "submitted",
            QuickTestStatus::Passed => "passed",
            QuickTestStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickTest {
    pub plan: String,
    pub title: String,
    pub region: String,
    pub theme: String,
    pub coordinating_insurer: String,
    pub second_assessor: String,
    pub estimated_total: Amount,
    pub status: QuickTestStatus,
    pub history: Vec<Event>,
}

/// The status of something assessed: a plan version or an addendum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AssessmentStatus {
    /// Waiting for one or both assessors.
    Submitted,
    /// One approved, the other rejected: escalated until they agree.
    Escalated,
    /// Returned with questions: a revised version may follow.
    Returned,
    Rejected,
    /// Both approved; see the funding for whether money is committed.
    Approved,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Approve,
    Reject,
    Return,
}

impl AssessmentStatus {
    /// The status in the words of rejections, history and listings.
    pub fn word(self) -> &'static str {
        match self {
            AssessmentStatus::Submitted => "submitted",
            AssessmentStatus::Escalated => "escalated",
            AssessmentStatus::Returned => "returned",
            AssessmentStatus::Rejected => "rejected",
            AssessmentStatus::Approved => "approved",
            AssessmentStatus::Cancelled => "cancelled",
        }
    }
}

impl Verdict {
    /// What an assessor did, as a plan's history says it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Approve => "approved",
            Verdict::Reject => "rejected",
            Verdict::Return => "returned with questions",
        }
    }
}

/// How an approved unit (a plan, or one addendum) stands against the fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Funding {
    /// Not approved (yet).
    None,
    /// Approved, waiting in the queue: nothing committed.
    Queued,
    /// Committed against the fund.
    Funded,
}

/// A plan or one of its addenda: assessed, approved and funded on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub status: AssessmentStatus,
    pub assessments: BTreeMap<String, Verdict>,
    pub funding: Funding,
    /// The part of the unit's total that was drawn from its theme's reservation.
    pub from_reservation: Amount,
    /// The milestones of this unit, in order of submission.
    pub milestones: Vec<String>,
    pub evidence_sha256: Vec<String>,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub beneficiary: String,
    pub payee: String,
    pub sector: String,
    pub amount: Amount,
    /// What the line makes payable once confirmed; zero before.
    pub payable: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attainment {
    Fraction(Ratio),
    ActualCosts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MilestoneStatus {
    Planned,
    Attained {
        on: Date,
        attainment: Attainment,
        payable: Amount,
        /// Key group → the version in force on `on` when the attainment was applied: the key
        /// is fixed at attainment, so a version approved later never changes this split.
        keys: BTreeMap<String, u32>,
    },
    Confirmed {
        /// The attainment date.
        on: Date,
        /// The confirmation date (never before `on`).
        confirmed_on: Date,
        payable: Amount,
    },
    Missed,
    /// The plan was cancelled before this milestone became payable.
    Cancelled,
}

impl MilestoneStatus {
    /// The status in one word: "planned", "attained", "confirmed", "missed", "cancelled".
    pub fn word(&self) -> &'static str {
        match self {
            MilestoneStatus::Planned => "planned",
            MilestoneStatus::Attained { .. } => "attained",
            MilestoneStatus::Confirmed { .. } => "confirmed",
            MilestoneStatus::Missed => "missed",
            MilestoneStatus::Cancelled => "cancelled",
        }
    }

    /// The status with its dates and amount, in the words of a rejection message:
    /// "confirmed on 2026-03-20 (attained 2026-03-15), payable 10000.00". Never Rust debug
    /// text: these messages are read by people (and hashed into the state digest).
    pub fn describe(&self) -> String {
        match self {
            MilestoneStatus::Attained { on, attainment, payable, .. } => {
                let how = match attainment {
                    Attainment::Fraction(fraction) => format!("fraction {fraction}"),
                    Attainment::ActualCosts => "at actual costs".to_string(),
                };
                format!("attained on {on} ({how}), payable {payable} once confirmed")
            }
            MilestoneStatus::Confirmed { on, confirmed_on, payable } => {
                format!("confirmed on {confirmed_on} (attained {on}), payable {payable}")
            }
            MilestoneStatus::Planned | MilestoneStatus::Missed | MilestoneStatus::Cancelled => self.word().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    pub id: String,
    /// Empty for the plan itself, else the addendum's id.
    pub addendum: String,
    pub title: String,
    pub kind: String,
    pub due: Date,
    pub lines: Vec<Line>,
    pub amount: Amount,
    pub status: MilestoneStatus,
    pub evidence_sha256: Vec<String>,
    /// Obligations it created (when confirmed).
    pub obligations: Vec<String>,
}

impl Milestone {
    pub fn is_decided(&self) -> bool {
        !matches!(self.status, MilestoneStatus::Planned | MilestoneStatus::Attained { .. })
    }

    /// What this milestone still holds committed (zero once missed; its payable once confirmed).
    pub fn committed(&self) -> Amount {
        match self.status {
            MilestoneStatus::Planned | MilestoneStatus::Attained { .. } => self.amount,
            MilestoneStatus::Confirmed { payable, .. } => payable,
            MilestoneStatus::Missed | MilestoneStatus::Cancelled => Amount::ZERO,
        }
    }

    /// Committed amount of one line (same rule, per line).
    pub fn line_committed(&self, line: &Line) -> Amount {
        match self.status {
            MilestoneStatus::Planned | MilestoneStatus::Attained { .. } => line.amount,
            MilestoneStatus::Confirmed { .. } => line.payable,
            MilestoneStatus::Missed | MilestoneStatus::Cancelled => Amount::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub version: u32,
    pub title: String,
    pub region: String,
    pub theme: String,
    pub coordinating_insurer: String,
    pub second_assessor: String,
    pub start: Date,
    /// The plan itself under "", each addendum under its id.
    pub units: BTreeMap<String, Unit>,
    pub milestones: BTreeMap<String, Milestone>,
    /// Reschedule requests waiting for the other assessor: (milestone, new due) → who signed.
    pub pending_reschedules: BTreeMap<String, BTreeSet<String>>,
    /// Assessors who asked to cancel.
    pub pending_cancellation: BTreeSet<String>,
    pub history: Vec<Event>,
}

impl Plan {
    pub fn main(&self) -> &Unit {
        self.units.get("").expect("every plan has its main unit")
    }

    pub fn is_assessor(&self, insurer: &str) -> bool {
        self.coordinating_insurer == insurer || self.second_assessor == insurer
    }

    /// The milestones of one unit, in order.
    pub fn unit_milestones<'plan>(&'plan self, unit: &'plan Unit) -> impl Iterator<Item = &'plan Milestone> + 'plan {
        unit.milestones.iter().map(|id| &self.milestones[id])
    }

    /// A unit's total: what approval asks the fund for.
    pub fn unit_total(&self, unit: &Unit) -> Amount {
        self.unit_milestones(unit).map(|milestone| milestone.amount).sum()
    }

    /// A unit's committed amount now (zero unless funded).
    pub fn unit_committed(&self, unit: &Unit) -> Amount {
        if unit.funding != Funding::Funded {
            return Amount::ZERO;
        }
        self.unit_milestones(unit).map(Milestone::committed).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    pub id: String,
    pub plan: String,
    pub milestone: String,
    /// 1-based line of the milestone.
    pub line: u32,
    pub insurer: String,
    pub beneficiary: String,
    pub payee: String,
    pub sector: String,
    pub region: String,
    pub theme: String,
    pub amount: Amount,
    pub paid: Amount,
    pub attained_on: Date,
    pub key_group: String,
    pub key_version: u32,
    /// Leaf index of the confirmation that created it.
    pub created_at: LeafIndex,
    /// Payment ids that settled part of it (reversed ones included: history keeps both).
    pub payments: Vec<String>,
}

impl Obligation {
    pub fn outstanding(&self) -> Amount {
        self.amount - self.paid
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub insurer: String,
    pub settlements: Vec<(String, Amount)>,
    pub value_date: Date,
    pub bank_reference: String,
    pub recorded_at: LeafIndex,
    pub reversed: Option<Reversal>,
}

impl Payment {
    pub fn total(&self) -> Amount {
        self.settlements.iter().map(|(_, amount)| *amount).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    pub reason: String,
    pub at: LeafIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub delta: Amount,
    pub reason: String,
    pub effective: Date,
    pub at: LeafIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// What is set aside for the theme, including what it already funded.
    pub amount: Amount,
    /// What it funded so far.
    pub used: Amount,
    pub released: bool,
}

impl Reservation {
    pub fn remaining(&self) -> Amount {
        self.amount - self.used
    }
}

/// A reference to a unit waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitRef {
    pub plan: String,
    /// Empty for the plan itself.
    pub addendum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fund {
    pub initial: Amount,
    pub adjustments: Vec<Adjustment>,
    pub reservations: BTreeMap<String, Reservation>,
    /// First come, first served: nobody jumps ahead.
    pub queue: Vec<UnitRef>,
    pub intake_closed: Option<Date>,
}

impl Fund {
    pub fn total(&self) -> Amount {
        self.initial + self.adjustments.iter().map(|adjustment| adjustment.delta).sum()
    }

    pub fn reserved(&self) -> Amount {
        self.reservations.values().map(Reservation::remaining).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalFunding {
    pub id: String,
    pub sector: String,
    pub region: String,
    pub theme: String,
    pub paid_on: Date,
    pub amount: Amount,
    pub description: String,
    pub recorded_by: String,
}

/// A transaction id as a map key: 32 bytes inline (cheap to compare and to look up among
/// millions), written as lowercase hex in JSON. Byte order and hex order agree, so the
/// map serialises exactly as a map keyed by the hex strings would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionKey(pub [u8; 32]);

impl Serialize for TransactionKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            // Binary forms (the snapshot) keep the 32 bytes.
            return serializer.serialize_bytes(&self.0);
        }
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).expect("64 hex digits for 32 bytes");
        serializer.serialize_str(std::str::from_utf8(&text).expect("hex is ASCII"))
    }
}

impl<'de> Deserialize<'de> for TransactionKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            struct Bytes;
            impl serde::de::Visitor<'_> for Bytes {
                type Value = TransactionKey;
                fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                    formatter.write_str("a transaction id of 32 bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<TransactionKey, E> {
                    bytes.try_into().map(TransactionKey).map_err(|_| E::invalid_length(bytes.len(), &self))
                }
            }
            return deserializer.deserialize_bytes(Bytes);
        }
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(TransactionKey(bytes))
    }
}

/// The verdict recorded for one transaction: what a submitter asks about by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub index: LeafIndex,
    pub rejection: Option<(i32, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    pub genesis_hash: String,
    /// Replay protection: the nonces each signer has used. Part of the state, so of every
    /// snapshot; in the digest through `leaves_digest`.
    pub nonces: OrdMap<String, OrdSet<u64>>,
    /// Every transaction that became a leaf, by id: de-duplication and verdicts. In the
    /// digest through `leaves_digest`.
    pub transactions: OrdMap<TransactionKey, Recorded>,
    /// Leaf index → transaction id: the inverse of `transactions`, so a listing or a proof
    /// can name the transaction behind an entry (an obligation's confirmation, a payment
    /// record, a plan's history) without a walk. Says nothing `transactions` does not, so it
    /// is neither digested nor kept in a snapshot: [`LedgerState::index_leaves`] rebuilds it.
    #[serde(skip)]
    pub leaf_ids: OrdMap<LeafIndex, TransactionKey>,
    /// A running SHA-256 over every leaf's index, id, signer, nonce and verdict, in log
    /// order (see [`LedgerState::record_leaf`]). `nonces` and `transactions` gain exactly
    /// one entry per leaf and are never changed otherwise, so this commits to both of them
    /// and the digest need not walk them: they are the two collections that grow with
    /// every transaction.
    pub leaves_digest: TransactionKey,
    pub parties: DigestedMap<String, Party>,
    /// key group → version → key.
    pub keys: DigestedMap<String, BTreeMap<u32, KeyVersion>>,
    pub quick_tests: DigestedMap<String, QuickTest>,
    pub plans: DigestedMap<String, Plan>,
    pub obligations: DigestedMap<String, Obligation>,
    pub payments: DigestedMap<String, Payment>,
    pub fund: Fund,
    pub external_funding: DigestedMap<String, ExternalFunding>,
    /// Rejections per reason code, for the monitor and metrics.
    pub rejections: DigestedMap<String, u64>,
    /// A regulator's attestations: regulator → the checkpoint size it verified, and when.
    pub attestations: DigestedMap<String, (u64, String, LeafIndex)>,
    /// Read identities: public key (hex) → the party it reads for (`ReaderRegistered`).
    #[serde(default)]
    pub readers: DigestedMap<String, String>,
    /// Membership proposals by id: approvals and execution (`rules::membership`).
    #[serde(default)]
    pub membership: DigestedMap<String, crate::rules::membership::MembershipProposal>,
}

impl LedgerState {
    /// The state at genesis: initial keys in force, the initial fund.
    pub fn new(genesis: &Genesis) -> LedgerState {
        let mut keys: BTreeMap<String, BTreeMap<u32, KeyVersion>> = BTreeMap::new();
        for key in &genesis.keys {
            keys.entry(key.key_group.clone()).or_default().insert(
                1,
                KeyVersion {
                    version: 1,
                    valid_from: key.valid_from,
                    shares: key.shares.clone(),
                    proposed_by: "genesis".into(),
                    approvals: genesis.insurers.iter().map(|insurer| insurer.id.clone()).collect(),
                    in_force: true,
                },
            );
        }
        LedgerState {
            genesis_hash: hex::encode(genesis.hash()),
            nonces: OrdMap::new(),
            transactions: OrdMap::new(),
            leaf_ids: OrdMap::new(),
            leaves_digest: TransactionKey([0; 32]),
            parties: DigestedMap::default(),
            keys: keys.into_iter().collect(),
            quick_tests: DigestedMap::default(),
            plans: DigestedMap::default(),
            obligations: DigestedMap::default(),
            payments: DigestedMap::default(),
            fund: Fund {
                initial: genesis.fund,
                adjustments: Vec::new(),
                reservations: BTreeMap::new(),
                queue: Vec::new(),
                intake_closed: None,
            },
            external_funding: DigestedMap::default(),
            rejections: DigestedMap::default(),
            attestations: DigestedMap::default(),
            readers: DigestedMap::default(),
            membership: DigestedMap::default(),
        }
    }

    /// Records a new leaf: its nonce is used, its verdict kept under its id, and both are
    /// chained into `leaves_digest`. The one place these three change.
    pub fn record_leaf(&mut self, id: &[u8; 32], signer: &str, nonce: u64, recorded: Recorded) {
        let mut hasher = Sha256::new();
        hasher.update(self.leaves_digest.0);
        hasher.update(recorded.index.to_be_bytes());
        hasher.update(id);
        hasher.update((signer.len() as u64).to_be_bytes());
        hasher.update(signer.as_bytes());
        hasher.update(nonce.to_be_bytes());
        let (code, message) = recorded.rejection.as_ref().map_or((0, ""), |(code, message)| (*code, message.as_str()));
        hasher.update(code.to_be_bytes());
        hasher.update((message.len() as u64).to_be_bytes());
        hasher.update(message.as_bytes());
        self.leaves_digest = TransactionKey(hasher.finalize().into());
        match self.nonces.get_mut(signer) {
            Some(nonces) => {
                nonces.insert(nonce);
            }
            None => {
                self.nonces.insert(signer.to_string(), OrdSet::unit(nonce));
            }
        }
        self.leaf_ids.insert(recorded.index, TransactionKey(*id));
        self.transactions.insert(TransactionKey(*id), recorded);
    }

    /// Rebuilds `leaf_ids` from `transactions` (a state read from a snapshot).
    pub fn index_leaves(&mut self) {
        self.leaf_ids = self.transactions.iter().map(|(id, recorded)| (recorded.index, *id)).collect();
    }

    /// The id of the transaction at leaf `index`, as hex.
    pub fn transaction_at(&self, index: LeafIndex) -> Option<String> {
        self.leaf_ids.get(&index).map(|id| hex::encode(id.0))
    }

    /// The state digest that checkpoints sign, kept up to date from what changed since
    /// the last call: `O(changes)`, so it is computed at every block end and every
    /// checkpoint size. See [`LedgerState::digest_from_scratch`] for the definition.
    pub fn digest(&mut self) -> [u8; 32] {
        let roots = [
            self.parties.root(),
            self.keys.root(),
            self.quick_tests.root(),
            self.plans.root(),
            self.obligations.root(),
            self.payments.root(),
            self.external_funding.root(),
            self.rejections.root(),
            self.attestations.root(),
            self.readers.root(),
            self.membership.root(),
        ];
        self.combine(roots)
    }

    /// The state digest from the state alone, ignoring every cached hash (what an auditor
    /// computes; equal to [`LedgerState::digest`]):
    ///
    /// `SHA-256(canonical((genesis_hash, leaves_digest, root(parties), root(keys),
    /// root(quick_tests), root(plans), root(obligations), root(payments),
    /// root(external_funding), root(rejections), root(attestations), root(readers),
    /// root(membership), fund)))`, where `root` is a map's root
    /// ([`crate::digest_map`]: a Merkle tree over 4096 buckets of entry hashes),
    /// `canonical` the canonical binary encoding ([`crate::canonical`]), the roots 32
    /// bytes each, and `nonces` and `transactions` represented by `leaves_digest`. SPEC.md
    /// section 10 is the normative definition, byte for byte.
    pub fn digest_from_scratch(&self) -> [u8; 32] {
        let roots = [
            self.parties.root_from_scratch(),
            self.keys.root_from_scratch(),
            self.quick_tests.root_from_scratch(),
            self.plans.root_from_scratch(),
            self.obligations.root_from_scratch(),
            self.payments.root_from_scratch(),
            self.external_funding.root_from_scratch(),
            self.rejections.root_from_scratch(),
            self.attestations.root_from_scratch(),
            self.readers.root_from_scratch(),
            self.membership.root_from_scratch(),
        ];
        self.combine(roots)
    }

    fn combine(&self, roots: [[u8; 32]; 11]) -> [u8; 32] {
        // Exhaustive, so that a new field cannot be left out of the digest unnoticed: a
        // new map must be added to `roots` in both functions above, in this order.
        let LedgerState {
            genesis_hash,
            nonces: _,
            transactions: _,
            leaf_ids: _,
            leaves_digest,
            parties: _,
            keys: _,
            quick_tests: _,
            plans: _,
            obligations: _,
            payments: _,
            fund,
            external_funding: _,
            rejections: _,
            attestations: _,
            readers: _,
            membership: _,
        } = self;
        crate::canonical::digest(&(genesis_hash, leaves_digest, roots, fund)).expect("every part of the state has a canonical encoding")
    }

    /// Committed across all funded units.
    pub fn committed(&self) -> Amount {
        self.plans.values().flat_map(|plan| plan.units.values().map(move |unit| plan.unit_committed(unit))).sum()
    }

    /// What the fund has neither committed nor reserved.
    pub fn free(&self) -> Amount {
        self.fund.total() - self.committed() - self.fund.reserved()
    }

    /// The key version of a key group in force on a date: the latest `valid_from` on or
    /// before it among versions every insurer approved.
    pub fn key_in_force(&self, key_group: &str, on: Date) -> Option<&KeyVersion> {
        self.keys
            .get(key_group)?
            .values()
            .filter(|version| version.in_force && version.valid_from <= on)
            .max_by(|left, right| left.valid_from.cmp(&right.valid_from).then(left.version.cmp(&right.version)))
    }

    pub fn count_rejection(&mut self, code: ReasonCode) {
        *self.rejections.get_or_insert_with(code.as_str_name().to_string(), || 0) += 1;
    }

    /// O(obligations): paid never exceeds an obligation and never goes negative.
    pub fn paid_never_exceeds_obligations(&self) -> bool {
        self.obligations.values().all(|obligation| !obligation.paid.is_negative() && obligation.paid <= obligation.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::genesis_with_keys;
    use imbl::OrdSet;

    #[test]
    fn transaction_keys_are_written_as_the_hex_strings_they_replace() {
        let ids = [[0xab; 32], [0x01; 32], [0xf0; 32]];
        let by_key: BTreeMap<TransactionKey, u64> = ids.iter().zip(0..).map(|(id, value)| (TransactionKey(*id), value)).collect();
        let by_hex: BTreeMap<String, u64> = ids.iter().zip(0..).map(|(id, value)| (hex::encode(id), value)).collect();
        let json = serde_json::to_string(&by_key).unwrap();
        assert_eq!(json, serde_json::to_string(&by_hex).unwrap(), "same order, same text");
        assert_eq!(serde_json::from_str::<BTreeMap<TransactionKey, u64>>(&json).unwrap(), by_key);
        assert!(serde_json::from_str::<TransactionKey>("\"abc\"").is_err(), "not 64 hex digits");
    }

    fn recorded(index: u64, rejection: Option<(i32, &str)>) -> Recorded {
        Recorded { index, rejection: rejection.map(|(code, message)| (code, message.to_string())) }
    }

    #[test]
    fn the_digest_commits_to_every_leaf_through_the_chain() {
        let (genesis, _) = genesis_with_keys();
        let base = LedgerState::new(&genesis);
        let with = |leaves: &[(u8, &str, u64, Recorded)]| {
            let mut state = base.clone();
            for (id, signer, nonce, recorded) in leaves {
                state.record_leaf(&[*id; 32], signer, *nonce, recorded.clone());
            }
            state
        };
        let applied = with(&[(1, "cz", 1, recorded(0, None)), (2, "vgz", 1, recorded(1, None))]);
        assert_eq!(applied.transactions.len(), 2);
        assert_eq!(applied.nonces["cz"], OrdSet::unit(1));
        assert_eq!(
            applied.digest_from_scratch(),
            with(&[(1, "cz", 1, recorded(0, None)), (2, "vgz", 1, recorded(1, None))]).digest_from_scratch()
        );
        assert_ne!(applied.digest_from_scratch(), base.digest_from_scratch());
        // Each part of a leaf, and the order of leaves, changes the digest.
        let variants = [
            with(&[(1, "cz", 1, recorded(0, None)), (3, "vgz", 1, recorded(1, None))]),
            with(&[(1, "cz", 1, recorded(0, None)), (2, "zk", 1, recorded(1, None))]),
            with(&[(1, "cz", 1, recorded(0, None)), (2, "vgz", 2, recorded(1, None))]),
            with(&[(1, "cz", 1, recorded(0, None)), (2, "vgz", 1, recorded(1, Some((7, "no"))))]),
            with(&[(1, "cz", 1, recorded(0, None)), (2, "vgz", 1, recorded(1, Some((7, "not so"))))]),
            with(&[(2, "vgz", 1, recorded(0, None)), (1, "cz", 1, recorded(1, None))]),
        ];
        for (number, variant) in variants.iter().enumerate() {
            assert_ne!(variant.digest_from_scratch(), applied.digest_from_scratch(), "variant {number}");
        }
    }
}
