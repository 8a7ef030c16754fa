//! The ledger rules: one transaction's verdict.
//!
//! No async, no I/O, no clock, no randomness: the same state and transaction give the
//! same verdict on every node and in every audit.
//!
//! Each rule first *checks* (reading the state only) and then *commits* its changes; a
//! rule never changes the state before its last check, so a rejection changes nothing.
//! (STYLE.md asks rules to return effects for the caller to make; with this many kinds,
//! check-then-commit inside one function keeps each rule readable in one place, and the
//! tests assert that every rejection leaves the state digest unchanged.)
//!
//! One file per area: `party`, `key`, `plan`, `milestone`, `payment`, `fund`, `attest`.

pub mod attest;
pub mod fund;
pub mod key;
pub mod membership;
pub mod milestone;
pub mod party;
pub mod payment;
pub mod plan;

use crate::envelope::VerifiedTransaction;
use crate::genesis::{Genesis, Role};
use crate::pb::transaction::Kind;
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{LeafIndex, LedgerState};

/// Everything a rule needs to know about the transaction besides its body.
pub struct Context<'a> {
    pub genesis: &'a Genesis,
    /// The signer's key id ("zk", "vws", "nza").
    pub signer: &'a str,
    pub role: &'a Role,
    /// The leaf index this transaction gets: its place in history.
    pub index: LeafIndex,
    /// Whether a checkpoint was certified by a quorum (certification lives beside the
    /// state, in `Ledger`, because checkpoint signatures are not ledger transactions).
    pub is_certified: &'a dyn Fn(&pb::Checkpoint) -> bool,
}

/// A history line's optional note: " (NOTE)", or nothing when none was given (never "()").
pub(crate) fn note_suffix(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    }
}

impl Context<'_> {
    pub fn certified(&self, checkpoint: &pb::Checkpoint) -> bool {
        (self.is_certified)(checkpoint)
    }

    /// The insurer id of an insurer signer.
    pub fn insurer(&self) -> Result<&str, Rejection> {
        match self.role {
            Role::Insurer(id) => Ok(id),
            _ => reject(ReasonCode::SignerNotAuthorised, format!("'{}' is not an insurer", self.signer)),
        }
    }
}

/// Who may sign which kind: the authorisation table. Finer rules (only *the*
/// coordinating insurer of a plan, only the obligated insurer) live in the rule itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signers {
    AnyInsurer,
    Ministry,
    MinistryOrRegulator,
    Regulator,
    Node,
}

pub const AUTHORISATION: &[(&str, Signers, &str)] = &[
    ("party_registered", Signers::AnyInsurer, "any insurer"),
    ("reader_registered", Signers::AnyInsurer, "any insurer"),
    ("membership_approved", Signers::AnyInsurer, "each insurer for itself"),
    ("membership_executed", Signers::Node, "the leader's node key"),
    ("key_proposed", Signers::AnyInsurer, "any insurer"),
    ("key_approved", Signers::AnyInsurer, "each insurer for itself"),
    ("quick_test_submitted", Signers::AnyInsurer, "the coordinating insurer it names"),
    ("quick_test_decided", Signers::AnyInsurer, "either assessor of the quick test"),
    ("plan_submitted", Signers::AnyInsurer, "the coordinating insurer of the plan"),
    ("plan_assessed", Signers::AnyInsurer, "either assessor of the plan, for itself"),
    ("addendum_submitted", Signers::AnyInsurer, "the coordinating insurer of the plan"),
    ("milestone_rescheduled", Signers::AnyInsurer, "both assessors of the plan"),
    ("plan_cancelled", Signers::AnyInsurer, "both assessors of the plan"),
    ("milestone_attained", Signers::AnyInsurer, "the coordinating insurer of the plan"),
    ("milestone_confirmed", Signers::AnyInsurer, "the second assessor of the plan"),
    ("milestone_declined", Signers::AnyInsurer, "the second assessor of the plan"),
    ("milestone_missed", Signers::AnyInsurer, "either assessor of the plan"),
    ("payment_recorded", Signers::AnyInsurer, "the obligated insurer"),
    ("payment_reversed", Signers::AnyInsurer, "the author of the payment record"),
    ("fund_adjusted", Signers::Ministry, "the ministry"),
    ("reservation_set", Signers::Ministry, "the ministry"),
    ("reservation_released", Signers::Ministry, "the ministry"),
    ("intake_closed", Signers::Ministry, "the ministry"),
    ("external_funding_recorded", Signers::MinistryOrRegulator, "the ministry or a regulator"),
    ("checkpoint_signed", Signers::Node, "an insurer's node key"),
    ("audit_attested", Signers::Regulator, "a regulator"),
];

pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::PartyRegistered(_) => "party_registered",
        Kind::ReaderRegistered(_) => "reader_registered",
        Kind::MembershipApproved(_) => "membership_approved",
        Kind::MembershipExecuted(_) => "membership_executed",
        Kind::KeyProposed(_) => "key_proposed",
        Kind::KeyApproved(_) => "key_approved",
        Kind::QuickTestSubmitted(_) => "quick_test_submitted",
        Kind::QuickTestDecided(_) => "quick_test_decided",
        Kind::PlanSubmitted(_) => "plan_submitted",
        Kind::PlanAssessed(_) => "plan_assessed",
        Kind::AddendumSubmitted(_) => "addendum_submitted",
        Kind::MilestoneRescheduled(_) => "milestone_rescheduled",
        Kind::PlanCancelled(_) => "plan_cancelled",
        Kind::MilestoneAttained(_) => "milestone_attained",
        Kind::MilestoneConfirmed(_) => "milestone_confirmed",
        Kind::MilestoneDeclined(_) => "milestone_declined",
        Kind::MilestoneMissed(_) => "milestone_missed",
        Kind::PaymentRecorded(_) => "payment_recorded",
        Kind::PaymentReversed(_) => "payment_reversed",
        Kind::FundAdjusted(_) => "fund_adjusted",
        Kind::ReservationSet(_) => "reservation_set",
        Kind::ReservationReleased(_) => "reservation_released",
        Kind::IntakeClosed(_) => "intake_closed",
        Kind::ExternalFundingRecorded(_) => "external_funding_recorded",
        Kind::CheckpointSigned(_) => "checkpoint_signed",
        Kind::AuditAttested(_) => "audit_attested",
    }
}

fn authorise(kind: &Kind, role: &Role, signer: &str) -> Result<(), Rejection> {
    let name = kind_name(kind);
    let (_, signers, who) = AUTHORISATION.iter().find(|(entry, _, _)| *entry == name).expect("every kind is in the table");
    let allowed = match signers {
        Signers::AnyInsurer => matches!(role, Role::Insurer(_)),
        Signers::Ministry => matches!(role, Role::Ministry(_)),
        Signers::MinistryOrRegulator => matches!(role, Role::Ministry(_) | Role::Regulator(_)),
        Signers::Regulator => matches!(role, Role::Regulator(_)),
        Signers::Node => matches!(role, Role::Node(_)),
    };
    if allowed {
        Ok(())
    } else {
        reject(ReasonCode::SignerNotAuthorised, format!("'{signer}' may not sign {name}: only {who} may"))
    }
}

/// Replay protection: a signer uses each nonce once. The one definition the rules and the
/// node's pre-check share (the node refuses a used nonce before the log; the rules reject
/// one that reaches it anyway).
pub fn check_nonce(state: &LedgerState, signer: &str, nonce: u64) -> Result<(), Rejection> {
    if state.nonces.get(signer).is_some_and(|used| used.contains(&nonce)) {
        return reject(
            ReasonCode::ReplayedNonce,
            format!("'{signer}' already used nonce {nonce} for another transaction; sign it again with a new nonce"),
        );
    }
    Ok(())
}

/// Applies one verified ledger transaction (not a checkpoint signature: those certify the
/// log and are handled by `Ledger`). Replay protection first, then authorisation, then the
/// rule. On `Err` the state is unchanged apart from nothing: the caller records the verdict.
pub fn apply(
    state: &mut LedgerState,
    genesis: &Genesis,
    transaction: &VerifiedTransaction,
    index: LeafIndex,
    is_certified: &dyn Fn(&pb::Checkpoint) -> bool,
) -> Result<(), Rejection> {
    check_nonce(state, &transaction.signer, transaction.nonce)?;
    authorise(&transaction.kind, &transaction.role, &transaction.signer)?;
    let context = Context { genesis, signer: &transaction.signer, role: &transaction.role, index, is_certified };
    let result = match &transaction.kind {
        Kind::PartyRegistered(body) => party::register(state, &context, body),
        Kind::ReaderRegistered(body) => party::register_reader(state, &context, body),
        Kind::MembershipApproved(body) => membership::approve(state, &context, body),
        Kind::MembershipExecuted(body) => membership::execute(state, &context, body),
        Kind::KeyProposed(body) => key::propose(state, &context, body),
        Kind::KeyApproved(body) => key::approve(state, &context, body),
        Kind::QuickTestSubmitted(body) => plan::submit_quick_test(state, &context, body),
        Kind::QuickTestDecided(body) => plan::decide_quick_test(state, &context, body),
        Kind::PlanSubmitted(body) => plan::submit(state, &context, body),
        Kind::PlanAssessed(body) => plan::assess(state, &context, body),
        Kind::AddendumSubmitted(body) => plan::submit_addendum(state, &context, body),
        Kind::MilestoneRescheduled(body) => plan::reschedule(state, &context, body),
        Kind::PlanCancelled(body) => plan::cancel(state, &context, body),
        Kind::MilestoneAttained(body) => milestone::attain(state, &context, body),
        Kind::MilestoneConfirmed(body) => milestone::confirm(state, &context, body),
        Kind::MilestoneDeclined(body) => milestone::decline(state, &context, body),
        Kind::MilestoneMissed(body) => milestone::miss(state, &context, body),
        Kind::PaymentRecorded(body) => payment::record(state, &context, body),
        Kind::PaymentReversed(body) => payment::reverse(state, &context, body),
        Kind::FundAdjusted(body) => fund::adjust(state, &context, body),
        Kind::ReservationSet(body) => fund::set_reservation(state, &context, body),
        Kind::ReservationReleased(body) => fund::release_reservation(state, &context, body),
        Kind::IntakeClosed(body) => fund::close_intake(state, &context, body),
        Kind::ExternalFundingRecorded(body) => fund::record_external(state, &context, body),
        Kind::AuditAttested(body) => attest::attest(state, &context, body),
        Kind::CheckpointSigned(_) => reject(ReasonCode::MalformedTransaction, "checkpoint signatures are not ledger transactions"),
    };
    // Any change may have freed money: fund the queue's head while it fits.
    if result.is_ok() {
        fund::fund_queue(state, index);
    }
    result
}
