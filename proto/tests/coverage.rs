//! Mechanical proof of coverage: one ledger's life in which every transaction kind of the
//! `Transaction` oneof is applied at least once and every `ReasonCode` is given at least
//! once (through the rules, through refused envelopes or through ignored checkpoint
//! signatures), checked against the enum itself; the authorisation table enforced for
//! every kind; and `proto/REASONS.md` kept in step with both.

mod common;

use std::collections::BTreeSet;

use common::*;
use fairshare_protocol::envelope::seal;
use fairshare_protocol::ledger::Head;
use fairshare_protocol::pb::{self, transaction::Kind, Assessment};
use fairshare_protocol::rules::{kind_name, Signers, AUTHORISATION};
use fairshare_protocol::testing::{transaction, Scenario};
use fairshare_protocol::Verdict;

/// Codes this crate never gives. UNSPECIFIED is protobuf's zero value;
/// DUPLICATE_TRANSACTION is reserved: a resubmitted envelope gets `Verdict::Duplicate` with
/// its original verdict instead (see REASONS.md).
const NEVER_GIVEN: [ReasonCode; 2] = [ReasonCode::Unspecified, ReasonCode::DuplicateTransaction];

/// Every value of the enum, read from the generated code rather than listed by hand.
fn all_codes() -> Vec<ReasonCode> {
    (0..=1_000).filter_map(|number| ReasonCode::try_from(number).ok()).collect()
}

/// A scenario that remembers which kinds it applied and which codes it saw.
struct Coverage {
    scenario: Scenario,
    kinds: BTreeSet<&'static str>,
    codes: BTreeSet<ReasonCode>,
}

impl Coverage {
    #[track_caller]
    fn ok(&mut self, signer: &str, kind: Kind) {
        self.kinds.insert(kind_name(&kind));
        self.scenario.ok(signer, kind);
    }

    #[track_caller]
    fn rejected(&mut self, signer: &str, kind: Kind, code: ReasonCode) {
        self.scenario.rejected(signer, kind, code);
        self.codes.insert(code);
    }

    #[track_caller]
    fn rejected_envelope(&mut self, envelope: pb::Envelope, code: ReasonCode) {
        match self.scenario.apply(envelope) {
            Verdict::Rejected { rejection, .. } => assert_eq!(rejection.code, code, "{}", rejection.message),
            other => panic!("expected a rejection {code:?}, got {other:?}"),
        }
        self.codes.insert(code);
    }

    #[track_caller]
    fn refused(&mut self, envelope: pb::Envelope, code: ReasonCode) {
        let head = self.scenario.ledger.head();
        match self.scenario.apply(envelope) {
            Verdict::Refused { rejection } => assert_eq!(rejection.code, code, "{}", rejection.message),
            other => panic!("expected a refusal {code:?}, got {other:?}"),
        }
        assert_eq!(self.scenario.ledger.head(), head, "a refused envelope is no leaf");
        self.codes.insert(code);
    }

    /// `node`'s node key signs `head`; records the kind or the code.
    fn checkpoint(&mut self, node: &str, head: &Head) -> Verdict {
        let checkpoint = head.to_checkpoint("iza-test");
        let size = self.scenario.ledger.size();
        let verdict = self.scenario.submit(&format!("node:{node}"), checkpoint_signed(node, checkpoint));
        assert_eq!(self.scenario.ledger.size(), size, "checkpoint signatures are no leaves");
        match &verdict {
            Verdict::CheckpointRecorded { .. } => {
                self.kinds.insert("checkpoint_signed");
            }
            Verdict::CheckpointIgnored { rejection } => {
                self.codes.insert(rejection.code);
            }
            other => panic!("a checkpoint signature got {other:?}"),
        }
        verdict
    }
}

fn checkpoint_signed(node: &str, checkpoint: pb::Checkpoint) -> Kind {
    Kind::CheckpointSigned(pb::CheckpointSigned { node: node.into(), checkpoint: Some(checkpoint) })
}

fn attestation(head: &Head) -> Kind {
    Kind::AuditAttested(pb::AuditAttested { checkpoint: Some(head.to_checkpoint("iza-test")), note: "verified".into() })
}

fn with_line(id: &str, version: u32, line: pb::MilestoneLine) -> Kind {
    Kind::PlanSubmitted(pb::PlanSubmitted { version, ..plan(id, vec![milestone("m1", "2026-03-31", vec![line])]) })
}

fn the_plan(version: u32) -> Kind {
    Kind::PlanSubmitted(pb::PlanSubmitted {
        version,
        ..plan(
            "p",
            vec![
                simple_milestone("m1", "2026-03-31", "1000.00"),
                simple_milestone("m2", "2026-06-30", "500.00"),
                simple_milestone("m3", "2026-09-30", "300.00"),
                simple_milestone("m4", "2026-09-30", "200.00"),
            ],
        )
    })
}

#[test]
fn every_transaction_kind_applies_and_every_reason_code_is_given_at_least_once() {
    let mut run = Coverage { scenario: Scenario::new("100000.00"), kinds: BTreeSet::new(), codes: BTreeSet::new() };
    let first_envelope = run.scenario.envelope(COORDINATOR, party(PROVIDER_A, pb::PartyKind::Provider));

    // Parties.
    assert!(is_applied(&run.scenario.apply(first_envelope.clone())));
    run.kinds.insert("party_registered");
    run.ok(COORDINATOR, party(PROVIDER_B, pb::PartyKind::Provider));
    run.ok(COORDINATOR, party(CASHIER, pb::PartyKind::Cashier));
    run.rejected(COORDINATOR, party("agb:123", pb::PartyKind::Provider), ReasonCode::InvalidIdentifier);
    let registration = |name: &str, iban: &str| {
        Kind::PartyRegistered(pb::PartyRegistered {
            party: "agb:22222222".into(),
            kind: pb::PartyKind::Provider as i32,
            name: name.into(),
            iban: iban.into(),
        })
    };
    run.rejected(COORDINATOR, registration("GGZ Oost", "NL00ABNA0417164300"), ReasonCode::InvalidIban);
    run.rejected(COORDINATOR, registration(" ", ""), ReasonCode::Empty);
    run.rejected(COORDINATOR, registration(&"x".repeat(fairshare_protocol::TEXT_BYTES_MAX + 1), ""), ReasonCode::LimitExceeded);
    run.rejected(COORDINATOR, party(PROVIDER_A, pb::PartyKind::Provider), ReasonCode::AlreadyExists);
    run.rejected(COORDINATOR, party("agb:22222222", pb::PartyKind::Unspecified), ReasonCode::MalformedTransaction);
    run.rejected(MINISTRY, party("agb:22222222", pb::PartyKind::Provider), ReasonCode::SignerNotAuthorised);

    // Read identities.
    let reader = |party: &str, key: Vec<u8>| Kind::ReaderRegistered(pb::ReaderRegistered { party: party.into(), public_key: key });
    let reader_key = |name: &str| fairshare_protocol::testing::test_key(name).verifying_key().to_bytes().to_vec();
    run.ok(COORDINATOR, reader(PROVIDER_A, reader_key("reader-a")));
    run.ok(SECOND, reader(PROVIDER_A, reader_key("reader-a2")));
    assert_eq!(run.scenario.ledger.state().readers.len(), 1, "a new read key replaces the party's earlier one");
    run.rejected(COORDINATOR, reader(PROVIDER_B, reader_key("reader-a2")), ReasonCode::AlreadyExists);
    run.rejected(COORDINATOR, reader(PROVIDER_B, reader_key(COORDINATOR)), ReasonCode::AlreadyExists);
    run.rejected(COORDINATOR, reader(PROVIDER_B, vec![0; 31]), ReasonCode::MalformedTransaction);
    run.rejected(COORDINATOR, reader(PROVIDER_B, vec![0; 32]), ReasonCode::MalformedTransaction);
    run.rejected(COORDINATOR, reader("agb:99999999", reader_key("reader-c")), ReasonCode::UnknownParty);

    // Membership of another insurer's node: approvals on the ledger, executed once.
    use pb::MembershipChange::{AddLearner, Promote, Remove};
    let approval = |proposal: &str, node: &str, change: pb::MembershipChange, address: &str| {
        Kind::MembershipApproved(pb::MembershipApproved {
            proposal: proposal.into(),
            node: node.into(),
            change: change as i32,
            address: address.into(),
        })
    };
    let executed = |proposal: &str| Kind::MembershipExecuted(pb::MembershipExecuted { proposal: proposal.into() });
    run.ok("cz", approval("replace-menzis", "menzis", Remove, ""));
    run.rejected("cz", approval("replace-menzis", "menzis", Remove, ""), ReasonCode::AlreadyExists);
    run.rejected("zk", approval("replace-menzis", "menzis", Promote, ""), ReasonCode::AlreadyExists);
    run.rejected("zk", approval("readd-menzis", "menzis", AddLearner, ""), ReasonCode::MalformedTransaction);
    run.rejected("zk", approval("remove-nobody", "nobody", Remove, ""), ReasonCode::UnknownInsurer);
    run.rejected("node:zk", executed("replace-menzis"), ReasonCode::ProposalNotApproved);
    run.rejected("node:zk", executed("nothing-proposed"), ReasonCode::UnknownProposal);
    run.ok("zk", approval("replace-menzis", "menzis", Remove, ""));
    run.ok("vgz", approval("replace-menzis", "menzis", Remove, ""));
    run.ok("node:zk", executed("replace-menzis"));
    run.rejected("node:cz", executed("replace-menzis"), ReasonCode::AlreadyExists);
    run.rejected("menzis", approval("replace-menzis", "menzis", Remove, ""), ReasonCode::AlreadyExists);
    run.rejected("zk", executed("replace-menzis"), ReasonCode::SignerNotAuthorised);

    // Distribution keys.
    let equal = [("cz", "0.25"), ("menzis", "0.25"), ("vgz", "0.25"), ("zk", "0.25")];
    run.rejected("cz", key_proposed("somatic", 3, "2027-01-01", &equal), ReasonCode::KeyVersionOutOfOrder);
    run.rejected("cz", key_proposed("somatic", 2, "2027-01-01", &[("cz", "0.5"), ("menzis", "0.4")]), ReasonCode::SharesDoNotSumToOne);
    run.rejected("cz", key_proposed("somatic", 2, "2027-01-01", &[("cz", "1"), ("menzis", "0")]), ReasonCode::InvalidShare);
    run.rejected("cz", key_proposed("dental", 1, "2027-01-01", &equal), ReasonCode::UnknownKey);
    run.rejected("cz", key_proposed("somatic", 2, "2027-01-01", &[("cz", "0.5"), ("achmea", "0.5")]), ReasonCode::UnknownInsurer);
    run.ok("cz", key_proposed("somatic", 2, "2027-01-01", &equal));
    run.rejected("cz", key_proposed("somatic", 3, "2027-01-01", &equal), ReasonCode::KeyValidFromTaken);
    run.ok("menzis", key_approved("somatic", 2));
    run.rejected("menzis", key_approved("somatic", 2), ReasonCode::AlreadySigned);

    // Quick test and plan.
    run.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
    run.rejected(COORDINATOR, the_plan(1), ReasonCode::QuickTestRequired);
    run.ok(SECOND, quick_test_decided("p", pb::QuickTestOutcome::Passed));
    run.rejected(COORDINATOR, quick_test("x", COORDINATOR, COORDINATOR), ReasonCode::AssessorsInvalid);
    run.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2031-06-30", "1.00")])), ReasonCode::PlanTooLong);
    run.rejected(COORDINATOR, with_line("p", 1, line("agb:99999999", "msz", "1.00")), ReasonCode::UnknownParty);
    run.rejected(COORDINATOR, with_line("p", 1, line(PROVIDER_A, "dentistry", "1.00")), ReasonCode::UnknownSector);
    run.rejected(
        COORDINATOR,
        with_line("p", 1, pb::MilestoneLine { amount_micros: 0, ..line(PROVIDER_A, "msz", "1.00") }),
        ReasonCode::InvalidAmount,
    );
    run.rejected(
        COORDINATOR,
        with_line("p", 1, pb::MilestoneLine { amount_micros: 1_234_560, ..line(PROVIDER_A, "msz", "1.00") }),
        ReasonCode::TooManyDecimals,
    );
    run.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2026-02-30", "1.00")])), ReasonCode::InvalidDate);
    run.rejected(COORDINATOR, the_plan(2), ReasonCode::VersionMismatch);
    run.ok(COORDINATOR, the_plan(1));
    run.rejected(SECOND, assessed("nothing", 1, Assessment::Approve), ReasonCode::UnknownPlan);
    run.ok(SECOND, assessed("p", 1, Assessment::Return));
    run.rejected(COORDINATOR, assessed("p", 1, Assessment::Approve), ReasonCode::WrongPlanStatus);
    run.ok(COORDINATOR, the_plan(2));
    run.ok(COORDINATOR, assessed("p", 2, Assessment::Approve));
    run.ok(SECOND, assessed("p", 2, Assessment::Approve));
    run.ok(COORDINATOR, addendum("p", "west", vec![simple_milestone("w1", "2026-12-31", "100.00")]));
    run.ok(COORDINATOR, addendum_assessed("p", "west", Assessment::Approve));
    run.ok(SECOND, addendum_assessed("p", "west", Assessment::Approve));
    run.ok(COORDINATOR, rescheduled("p", "m4", "2026-12-31"));
    run.rejected(SECOND, rescheduled("p", "m9", "2026-12-31"), ReasonCode::UnknownMilestone);
    run.ok(SECOND, rescheduled("p", "m4", "2026-12-31"));

    // Milestones.
    run.rejected(SECOND, confirmed("p", "m1"), ReasonCode::MilestoneNotAttained);
    run.rejected(COORDINATOR, attained("p", "m1", "2022-12-31"), ReasonCode::NoKeyInForce);
    run.rejected(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "1.5"), ReasonCode::InvalidFraction);
    run.rejected(COORDINATOR, attained_actual("p", "m1", "2026-03-31", micros("1000.01")), ReasonCode::PayableExceedsAmount);
    run.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.5"));
    run.rejected(COORDINATOR, missed("p", "m1"), ReasonCode::MilestoneAwaitsConfirmation);
    run.rejected(SECOND, confirmed_on("p", "m1", "2026-03-30"), ReasonCode::ConfirmedBeforeAttained);
    run.ok(SECOND, declined("p", "m1", "the evidence covers the full milestone: attain it in full"));
    run.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    run.ok(SECOND, confirmed_on("p", "m1", "2026-03-31"));
    run.rejected(COORDINATOR, attained("p", "m1", "2026-03-31"), ReasonCode::MilestoneAlreadyDecided);
    run.ok(SECOND, missed("p", "m2"));

    // Payments: zk owes 400.00 on m1.
    let zk = obligation("p", "m1", 1, "zk");
    run.ok("zk", paid("zk-1", &[(&zk, "100.00")], "2026-04-15"));
    run.rejected("zk", paid("zk-2", &[(&zk, "300.01")], "2026-04-15"), ReasonCode::PaymentExceedsOutstanding);
    run.rejected("zk", paid("zk-2", &[(&obligation("p", "m1", 1, "cz"), "1.00")], "2026-04-15"), ReasonCode::NotObligatedInsurer);
    run.rejected("zk", paid("zk-2", &[("p/m9/1/zk", "1.00")], "2026-04-15"), ReasonCode::UnknownObligation);
    run.ok("zk", reversed("zk-1", "the transfer bounced"));
    run.rejected("zk", reversed("zk-1", "again"), ReasonCode::PaymentAlreadyReversed);
    run.rejected("zk", reversed("zk-9", "bounced"), ReasonCode::UnknownPayment);

    // The fund.
    run.ok(MINISTRY, fund_adjusted("100.00"));
    run.rejected(MINISTRY, fund_adjusted("-100000.00"), ReasonCode::FundWouldNotCover);
    run.ok(MINISTRY, reservation_set("networks", "100.00"));
    run.rejected(MINISTRY, reservation_set("networks", "1000000.00"), ReasonCode::ReservationExceedsFree);
    run.rejected(MINISTRY, reservation_released_part("networks", "100.01"), ReasonCode::ReleaseExceedsReservation);
    run.ok(MINISTRY, reservation_released_part("networks", "40.00"));
    run.ok(MINISTRY, reservation_released("networks"));
    run.rejected(MINISTRY, reservation_released("networks"), ReasonCode::UnknownReservation);
    run.ok(REGULATOR, external_funding("vws-2025-1", "ggz", "1000.00", "2025-12-31"));

    // Envelopes: a reused nonce is a rejected leaf; the rest never become leaves.
    let genesis = run.scenario.ledger.genesis().clone();
    let zk_key = run.scenario.keys["zk"].clone();
    run.rejected_envelope(
        seal(&transaction(&genesis, 1, party("agb:33333333", pb::PartyKind::Provider)), "zk", &zk_key),
        ReasonCode::ReplayedNonce,
    );
    let size = run.scenario.ledger.size();
    assert!(matches!(run.scenario.apply(first_envelope.clone()), Verdict::Duplicate { .. }), "the same bytes again are a duplicate");
    assert_eq!(run.scenario.ledger.size(), size);
    let mut altered = first_envelope.clone();
    altered.signature[0] ^= 1;
    run.refused(altered, ReasonCode::BadSignature);
    run.refused(pb::Envelope { signer: "achmea".into(), ..first_envelope.clone() }, ReasonCode::UnknownSigner);
    run.refused(pb::Envelope { body: vec![0xff; 8], ..first_envelope.clone() }, ReasonCode::MalformedTransaction);
    let elsewhere =
        pb::Transaction { ledger_id: "elsewhere".into(), ..transaction(&genesis, 500, party("agb:33333333", pb::PartyKind::Provider)) };
    run.refused(seal(&elsewhere, "zk", &zk_key), ReasonCode::WrongLedger);

    // Certification and attestation.
    let head = run.scenario.ledger.head();
    assert!(matches!(run.checkpoint("cz", &head), Verdict::CheckpointRecorded { certified: false, .. }));
    assert!(matches!(run.checkpoint("menzis", &head), Verdict::CheckpointRecorded { certified: false, .. }));
    run.rejected(REGULATOR, attestation(&head), ReasonCode::UnknownCheckpoint);
    assert!(matches!(run.checkpoint("vgz", &head), Verdict::CheckpointRecorded { certified: true, .. }));
    run.ok(REGULATOR, attestation(&head));
    run.checkpoint("zk", &Head { root: [9; 32], ..head });
    assert!(run.codes.contains(&ReasonCode::CheckpointConflict));

    // The end of a plan, and of intake.
    run.ok(COORDINATOR, cancelled("p"));
    run.ok(SECOND, cancelled("p"));
    run.ok(MINISTRY, intake_closed("2026-02-01"));
    run.rejected(COORDINATOR, quick_test("late", COORDINATOR, SECOND), ReasonCode::IntakeClosed);
    assert_conserved(run.scenario.ledger.state());

    // The proof: every kind of the oneof, every code of the enum.
    let kinds: BTreeSet<&str> = AUTHORISATION.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(kinds.len(), 26, "the Transaction oneof has 26 kinds");
    let missing_kinds: Vec<_> = kinds.difference(&run.kinds).collect();
    assert!(missing_kinds.is_empty(), "never applied: {missing_kinds:?}");
    assert_eq!(all_codes().len(), 53, "codes 0..=52");
    let missing_codes: Vec<_> = all_codes()
        .into_iter()
        .filter(|code| !NEVER_GIVEN.contains(code) && !run.codes.contains(code))
        .map(|code| code.as_str_name())
        .collect();
    assert!(missing_codes.is_empty(), "never given: {missing_codes:?}");
    assert!(NEVER_GIVEN.iter().all(|code| !run.codes.contains(code)));
    // Every rejection counted for the monitor is one of the codes seen here.
    for name in run.scenario.ledger.state().rejections.keys() {
        assert!(run.codes.iter().any(|code| code.as_str_name() == name), "{name}");
    }
}

// ------------------------------------------------------------------ the authorisation table

/// A well-formed body of each kind, by its name in the authorisation table.
fn sample(name: &str) -> Kind {
    let head = pb::Checkpoint { ledger_id: "iza-test".into(), size: 1, root: vec![0; 32], state_digest: vec![0; 32] };
    match name {
        "party_registered" => party("agb:12345678", pb::PartyKind::Provider),
        "membership_approved" => Kind::MembershipApproved(pb::MembershipApproved {
            proposal: "replace-cz".into(),
            node: "cz".into(),
            change: pb::MembershipChange::Remove as i32,
            address: String::new(),
        }),
        "membership_executed" => Kind::MembershipExecuted(pb::MembershipExecuted { proposal: "replace-cz".into() }),
        "reader_registered" => Kind::ReaderRegistered(pb::ReaderRegistered {
            party: "agb:12345678".into(),
            public_key: fairshare_protocol::testing::test_key("reader").verifying_key().to_bytes().to_vec(),
        }),
        "key_proposed" => key_proposed("somatic", 2, "2027-01-01", &[("cz", "0.5"), ("zk", "0.5")]),
        "key_approved" => key_approved("somatic", 1),
        "quick_test_submitted" => quick_test("p", COORDINATOR, SECOND),
        "quick_test_decided" => quick_test_decided("p", pb::QuickTestOutcome::Passed),
        "plan_submitted" => Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")])),
        "plan_assessed" => assessed("p", 1, Assessment::Approve),
        "addendum_submitted" => addendum("p", "west", vec![simple_milestone("w1", "2026-03-31", "1.00")]),
        "milestone_rescheduled" => rescheduled("p", "m1", "2026-06-30"),
        "plan_cancelled" => cancelled("p"),
        "milestone_attained" => attained("p", "m1", "2026-03-31"),
        "milestone_confirmed" => confirmed("p", "m1"),
        "milestone_declined" => declined("p", "m1", "evidence missing"),
        "milestone_missed" => missed("p", "m1"),
        "payment_recorded" => paid("pay-1", &[("p/m1/1/zk", "1.00")], "2026-04-01"),
        "payment_reversed" => reversed("pay-1", "bounced"),
        "fund_adjusted" => fund_adjusted("1.00"),
        "reservation_set" => reservation_set("networks", "1.00"),
        "reservation_released" => reservation_released("networks"),
        "intake_closed" => intake_closed("2026-02-01"),
        "external_funding_recorded" => external_funding("vws-1", "ggz", "1.00", "2025-12-31"),
        "checkpoint_signed" => checkpoint_signed("zk", head),
        "audit_attested" => Kind::AuditAttested(pb::AuditAttested { checkpoint: Some(head), note: String::new() }),
        other => panic!("no sample for kind '{other}': add one"),
    }
}

#[test]
fn every_kind_is_refused_to_signers_outside_the_authorisation_table() {
    let mut scenario = world("1000.00");
    for (name, signers, _) in AUTHORISATION {
        let kind = sample(name);
        assert_eq!(kind_name(&kind), *name);
        let outsiders: &[&str] = match signers {
            Signers::AnyInsurer => &[MINISTRY, REGULATOR, "node:zk"],
            Signers::Ministry => &[COORDINATOR, REGULATOR, "node:zk"],
            Signers::MinistryOrRegulator => &[COORDINATOR, "node:zk"],
            Signers::Regulator => &[MINISTRY, COORDINATOR, "node:zk"],
            Signers::Node => &[COORDINATOR, MINISTRY, REGULATOR],
        };
        for signer in outsiders {
            if *name == "checkpoint_signed" {
                // Not a ledger transaction: ignored, never a leaf.
                let size = scenario.ledger.size();
                match scenario.submit(signer, kind.clone()) {
                    Verdict::CheckpointIgnored { rejection } => assert_eq!(rejection.code, ReasonCode::SignerNotAuthorised),
                    other => panic!("{name} by {signer}: {other:?}"),
                }
                assert_eq!(scenario.ledger.size(), size);
            } else {
                let message = scenario.rejected(signer, kind.clone(), ReasonCode::SignerNotAuthorised);
                assert!(message.contains(name), "{message}");
            }
        }
    }
}

// ------------------------------------------------------------------ REASONS.md

#[test]
fn reasons_md_documents_every_code_and_the_authorisation_table() {
    let document = include_str!("../REASONS.md");
    let rows: Vec<&str> = document.lines().filter(|line| line.starts_with('|')).collect();
    for code in all_codes() {
        let row = format!("| {} | `{}` |", code as i32, code.as_str_name());
        assert!(rows.iter().any(|line| line.starts_with(&row)), "REASONS.md has no row starting '{row}'");
    }
    for (name, _, who) in AUTHORISATION {
        let row = format!("| `{name}` | {who} |");
        assert!(rows.iter().any(|line| line.starts_with(&row)), "REASONS.md has no row starting '{row}'");
    }
}
