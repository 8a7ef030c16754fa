//! Determinism and the log: the same envelopes give the same state and Merkle root on
//! every ledger, however they are cut into blocks; a replayed envelope is applied once; a
//! reused nonce is a rejection; envelopes that cannot be authenticated never become leaves.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use ed25519_dalek::SigningKey;
use fairshare_protocol::envelope::{seal, transaction_id};
use fairshare_protocol::ledger::LedgerData;
use fairshare_protocol::pb::{self, transaction::Kind, Assessment};
use fairshare_protocol::state::Recorded;
use fairshare_protocol::testing::{genesis_file, transaction, Scenario};
use fairshare_protocol::{Genesis, Ledger, Verdict};

/// Signs transactions without applying them: the script several ledgers replay.
struct Script {
    genesis: Genesis,
    keys: BTreeMap<String, SigningKey>,
    nonce: u64,
    envelopes: Vec<pb::Envelope>,
}

impl Script {
    fn new(fund: &str) -> Script {
        let template = Scenario::new(fund);
        Script { genesis: template.ledger.genesis().clone(), keys: template.keys, nonce: 0, envelopes: Vec::new() }
    }

    fn add(&mut self, signer: &str, kind: Kind) {
        self.nonce += 1;
        self.envelopes.push(seal(&transaction(&self.genesis, self.nonce, kind), signer, &self.keys[signer]));
    }

    fn ledger(&self) -> Ledger {
        Ledger::new(Arc::new(self.genesis.clone()))
    }
}

/// A working day of the ledger: parties, a key version, plans approved, escalated, queued,
/// milestones attained in full, in part and missed, payments, a reversal, fund decisions,
/// and some transactions that the rules reject.
fn busy_script() -> Script {
    let mut script = Script::new("2000.00");
    for (id, kind) in [(PROVIDER_A, pb::PartyKind::Provider), (PROVIDER_B, pb::PartyKind::Provider), (CASHIER, pb::PartyKind::Cashier)] {
        script.add(COORDINATOR, party(id, kind));
    }
    script.add("cz", key_proposed("somatic", 2, "2026-05-01", &[("cz", "0.3"), ("menzis", "0.2"), ("vgz", "0.2"), ("zk", "0.3")]));
    for insurer in ["menzis", "vgz", "zk"] {
        script.add(insurer, key_approved("somatic", 2));
    }
    let first = plan(
        "p",
        vec![
            milestone("m1", "2026-03-31", vec![line_via(PROVIDER_A, CASHIER, "msz", "600.01"), line(PROVIDER_B, "ggz", "399.99")]),
            simple_milestone("m2", "2026-06-30", "500.00"),
            simple_milestone("m3", "2026-09-30", "300.00"),
        ],
    );
    let second = pb::PlanSubmitted { plan: "q".into(), ..plan("q", vec![simple_milestone("m1", "2026-06-30", "700.00")]) };
    let third = pb::PlanSubmitted { plan: "r".into(), ..plan("r", vec![simple_milestone("m1", "2026-06-30", "100.00")]) };
    for body in [&first, &second, &third] {
        script.add(COORDINATOR, quick_test(&body.plan, COORDINATOR, SECOND));
        script.add(SECOND, quick_test_decided(&body.plan, pb::QuickTestOutcome::Passed));
        script.add(COORDINATOR, Kind::PlanSubmitted(body.clone()));
    }
    script.add(COORDINATOR, assessed("p", 1, Assessment::Approve));
    script.add(SECOND, assessed("p", 1, Assessment::Reject));
    script.add(SECOND, assessed("p", 1, Assessment::Approve));
    script.add(COORDINATOR, assessed("q", 1, Assessment::Approve));
    script.add(SECOND, assessed("q", 1, Assessment::Approve)); // queued: 1800.00 of 2000.00 committed
    script.add(COORDINATOR, assessed("r", 1, Assessment::Approve));
    script.add(SECOND, assessed("r", 1, Assessment::Approve)); // queued behind q, although it would fit
    script.add(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.75"));
    script.add(SECOND, confirmed("p", "m1")); // releases 250.00: not enough for q
    script.add(COORDINATOR, attained_actual("p", "m2", "2026-06-30", micros("333.33")));
    script.add(SECOND, confirmed("p", "m2"));
    script.add(SECOND, missed("p", "m3")); // releases 300.00: q and then r are funded
    script.add(SECOND, confirmed("p", "m3")); // rejected: already missed
    script
        .add("zk", paid("zk-1", &[(&obligation("p", "m1", 1, "zk"), "100.00"), (&obligation("p", "m2", 1, "zk"), "33.33")], "2026-07-01"));
    script.add("zk", paid("zk-2", &[(&obligation("p", "m1", 1, "zk"), "999.00")], "2026-07-01")); // rejected: above outstanding
    script.add("zk", reversed("zk-1", "the transfer bounced"));
    script.add("cz", paid("cz-1", &[(&obligation("p", "m1", 2, "cz"), "10.00")], "2026-07-02"));
    script.add(MINISTRY, fund_adjusted("-10.00"));
    script.add(MINISTRY, reservation_set("networks", "5.00"));
    script.add(REGULATOR, external_funding("vws-2025-1", "ggz", "1234.56", "2025-12-31"));
    script.add(MINISTRY, intake_closed("2026-08-01"));
    script
}

fn apply_in_blocks(ledger: &mut Ledger, envelopes: &[pb::Envelope], block: usize) -> Vec<Verdict> {
    envelopes
        .chunks(block)
        .flat_map(|chunk| ledger.apply_block(&pb::Block { envelopes: chunk.to_vec() }))
        .map(|outcome| outcome.verdict)
        .collect()
}

#[test]
fn the_same_transactions_on_two_fresh_ledgers_give_identical_state_digests_and_merkle_roots() {
    let script = busy_script();
    let (mut first, mut second) = (script.ledger(), script.ledger());
    let verdicts = apply_in_blocks(&mut first, &script.envelopes, 1);
    assert_eq!(verdicts, apply_in_blocks(&mut second, &script.envelopes, 1));
    assert!(verdicts.iter().all(|verdict| matches!(verdict, Verdict::Applied { .. } | Verdict::Rejected { .. })));
    assert_eq!(verdicts.iter().filter(|verdict| matches!(verdict, Verdict::Rejected { .. })).count(), 2);
    assert_eq!(first.size(), script.envelopes.len() as u64);
    assert_eq!(first.head(), second.head());
    assert_eq!(first.state(), second.state());
    assert_eq!(first.state().digest_from_scratch(), second.state().digest_from_scratch());
    assert_eq!(first.head().state_digest, first.state().digest_from_scratch(), "the kept digest is the digest from scratch");
    assert_ne!(first.head().state_digest, script.ledger().head().state_digest, "the script changed the state");
    assert_conserved(first.state());
}

#[test]
fn one_block_or_one_envelope_per_block_give_the_same_state_digest_and_root() {
    let script = busy_script();
    let mut one_by_one = script.ledger();
    let expected = apply_in_blocks(&mut one_by_one, &script.envelopes, 1);
    for block in [script.envelopes.len(), 7, 2] {
        let mut batched = script.ledger();
        assert_eq!(apply_in_blocks(&mut batched, &script.envelopes, block), expected, "blocks of {block}");
        assert_eq!(batched.head(), one_by_one.head(), "blocks of {block}");
        assert_eq!(batched.state(), one_by_one.state(), "blocks of {block}");
    }
}

#[test]
fn a_ledger_restored_from_a_snapshot_continues_exactly_like_the_original() {
    let script = busy_script();
    let (before, after) = script.envelopes.split_at(20);
    let mut original = script.ledger();
    apply_in_blocks(&mut original, before, 4);
    let snapshot: LedgerData = serde_json::from_slice(&serde_json::to_vec(original.data()).unwrap()).unwrap();
    let mut restored = Ledger::restore(Arc::new(script.genesis.clone()), snapshot.clone()).expect("same genesis");
    assert_eq!(apply_in_blocks(&mut restored, after, 3), apply_in_blocks(&mut original, after, 3));
    assert_eq!(restored.head(), original.head());
    let other_genesis = genesis_file("5.00").build().unwrap();
    assert!(Ledger::restore(Arc::new(other_genesis), snapshot).is_err(), "a snapshot of another genesis is refused");
}

// ------------------------------------------------------------------ replays

#[test]
fn a_replayed_envelope_is_a_duplicate_and_not_a_new_leaf() {
    let mut scenario = world("1000.00");
    let envelope = scenario.envelope(COORDINATOR, party("agb:12345678", pb::PartyKind::Provider));
    let Verdict::Applied { index } = scenario.apply(envelope.clone()) else { panic!("the first copy applies") };
    let head = scenario.ledger.head();
    assert_eq!(scenario.apply(envelope.clone()), Verdict::Duplicate { original: Recorded { index, rejection: None } });
    assert_eq!(scenario.ledger.head(), head, "a duplicate is no leaf and changes nothing");
    // Also within one block, and the duplicate of a rejected envelope reports its rejection.
    let refused_party = scenario.envelope(COORDINATOR, party("agb:12345678", pb::PartyKind::Provider));
    let outcomes = scenario.ledger.apply_block(&pb::Block { envelopes: vec![refused_party.clone(), refused_party.clone(), envelope] });
    let Verdict::Rejected { index: rejected_at, rejection } = &outcomes[0].verdict else { panic!("{:?}", outcomes[0]) };
    assert_eq!(rejection.code, ReasonCode::AlreadyExists);
    let original = Recorded { index: *rejected_at, rejection: Some((ReasonCode::AlreadyExists as i32, rejection.message.clone())) };
    assert_eq!(outcomes[1].verdict, Verdict::Duplicate { original: original.clone() });
    assert!(matches!(outcomes[2].verdict, Verdict::Duplicate { .. }));
    assert_eq!(scenario.ledger.size(), head.size + 1);
    assert_eq!(scenario.ledger.recorded(&transaction_id(&refused_party)), Some(&original));
}

#[test]
fn the_same_nonce_with_a_different_body_is_a_replayed_nonce() {
    let mut scenario = world("1000.00");
    let genesis = scenario.ledger.genesis().clone();
    let first = seal(&transaction(&genesis, 9_001, party("agb:12345678", pb::PartyKind::Provider)), "cz", &scenario.keys["cz"]);
    assert!(is_applied(&scenario.apply(first)));
    let before = scenario.ledger.state().clone();
    let size = scenario.ledger.size();
    let second = seal(&transaction(&genesis, 9_001, party("agb:87654321", pb::PartyKind::Provider)), "cz", &scenario.keys["cz"]);
    let Verdict::Rejected { rejection, .. } = scenario.apply(second) else { panic!("a reused nonce is rejected") };
    assert_eq!(rejection.code, ReasonCode::ReplayedNonce);
    assert_eq!(scenario.ledger.size(), size + 1, "a rejection is a leaf: the submitter learns why");
    assert_eq!(scenario.ledger.state().parties, before.parties);
    assert_eq!(scenario.ledger.state().rejections.get("REPLAYED_NONCE"), Some(&1));
    // Nonces are per signer: another signer may use the same number.
    let other = seal(&transaction(&genesis, 9_001, party("agb:87654321", pb::PartyKind::Provider)), "vgz", &scenario.keys["vgz"]);
    assert!(is_applied(&scenario.apply(other)));
}

#[test]
fn the_same_body_signed_by_two_signers_is_two_transactions_not_a_duplicate() {
    // Regression: the transaction id was the SHA-256 of the body alone, and the body does
    // not name its signer. Four insurers approving a key with equal per-signer nonces sign
    // identical bodies; all but the first were taken for duplicates and never applied.
    let mut scenario = world("1000.00");
    let genesis = scenario.ledger.genesis().clone();
    scenario.ok("cz", key_proposed("somatic", 2, "2027-01-01", &[("cz", "0.25"), ("menzis", "0.25"), ("vgz", "0.25"), ("zk", "0.25")]));
    let approval = transaction(&genesis, 1_000_007, key_approved("somatic", 2));
    for insurer in ["menzis", "vgz", "zk"] {
        let verdict = scenario.apply(seal(&approval, insurer, &scenario.keys[insurer].clone()));
        assert!(is_applied(&verdict), "{insurer}: {verdict:?}");
    }
    assert!(scenario.ledger.state().keys["somatic"][&2].in_force);

    // Nor can one insurer keep another's envelope out by signing its body first.
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    let payment = transaction(&genesis, 1_000_008, paid("vgz-1", &[(&obligation("p", "m1", 1, "vgz"), "24.63")], "2026-04-01"));
    let verdict = scenario.apply(seal(&payment, "cz", &scenario.keys["cz"].clone()));
    let Verdict::Rejected { rejection, .. } = verdict else { panic!("{verdict:?}") };
    assert_eq!(rejection.code, ReasonCode::NotObligatedInsurer);
    let verdict = scenario.apply(seal(&payment, "vgz", &scenario.keys["vgz"].clone()));
    assert!(is_applied(&verdict), "{verdict:?}");
    assert_eq!(scenario.ledger.state().obligations[&obligation("p", "m1", 1, "vgz")].paid, eur("24.63"));
}

// ------------------------------------------------------------------ envelopes refused before the log

fn refused(scenario: &mut Scenario, envelope: pb::Envelope) -> ReasonCode {
    let head = scenario.ledger.head();
    let state = scenario.ledger.state().clone();
    let verdict = scenario.apply(envelope.clone());
    assert_eq!(scenario.ledger.head(), head, "a refused envelope is no leaf");
    assert_eq!(scenario.ledger.state(), &state, "a refused envelope changes nothing, not even the nonces");
    assert_eq!(scenario.ledger.recorded(&transaction_id(&envelope)), None);
    match verdict {
        Verdict::Refused { rejection } => rejection.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn envelopes_that_cannot_be_authenticated_are_refused_and_never_become_leaves() {
    let mut scenario = world("1000.00");
    let genesis = scenario.ledger.genesis().clone();
    let body = transaction(&genesis, 77, party("agb:12345678", pb::PartyKind::Provider));
    let (cz, vgz) = (scenario.keys["cz"].clone(), scenario.keys["vgz"].clone());
    let good = seal(&body, "cz", &cz);

    let mut altered = good.clone();
    let last = altered.body.len() - 1;
    altered.body[last] ^= 0x01;
    assert_eq!(refused(&mut scenario, altered), ReasonCode::BadSignature);
    assert_eq!(refused(&mut scenario, seal(&body, "cz", &vgz)), ReasonCode::BadSignature);
    let mut short = good.clone();
    short.signature.truncate(63);
    assert_eq!(refused(&mut scenario, short), ReasonCode::BadSignature);
    assert_eq!(refused(&mut scenario, pb::Envelope { signer: "achmea".into(), ..good.clone() }), ReasonCode::UnknownSigner);
    let other_ledger = pb::Transaction { ledger_id: "iza-elsewhere".into(), ..body.clone() };
    assert_eq!(refused(&mut scenario, seal(&other_ledger, "cz", &cz)), ReasonCode::WrongLedger);
    let garbage = pb::Envelope { body: vec![0xff; 16], signer: "cz".into(), signature: vec![0; 64] };
    assert_eq!(refused(&mut scenario, garbage), ReasonCode::MalformedTransaction);
    let no_kind = pb::Transaction { kind: None, ..body.clone() };
    assert_eq!(refused(&mut scenario, seal(&no_kind, "cz", &cz)), ReasonCode::MalformedTransaction);
    let huge = Kind::PartyRegistered(pb::PartyRegistered {
        party: "agb:12345678".into(),
        kind: pb::PartyKind::Provider as i32,
        name: "x".repeat(fairshare_protocol::TRANSACTION_BYTES_MAX),
        iban: String::new(),
    });
    assert_eq!(refused(&mut scenario, seal(&transaction(&genesis, 78, huge), "cz", &cz)), ReasonCode::LimitExceeded);

    // Its nonce was not used up: the genuine envelope still applies.
    assert!(is_applied(&scenario.apply(good)));
}

#[test]
fn a_bad_envelope_in_a_block_does_not_change_its_neighbours_verdicts() {
    let mut scenario = world("1000.00");
    let first = scenario.envelope("cz", party("agb:12345678", pb::PartyKind::Provider));
    let mut bad = scenario.envelope("vgz", party("agb:11111111", pb::PartyKind::Provider));
    bad.signature[10] ^= 0x40;
    let last = scenario.envelope("menzis", party("agb:87654321", pb::PartyKind::Provider));
    let size = scenario.ledger.size();
    let outcomes = scenario.ledger.apply_block(&pb::Block { envelopes: vec![first, bad, last] });
    assert_eq!(outcomes[0].verdict, Verdict::Applied { index: size });
    assert!(matches!(&outcomes[1].verdict, Verdict::Refused { rejection } if rejection.code == ReasonCode::BadSignature));
    assert_eq!(outcomes[2].verdict, Verdict::Applied { index: size + 1 });
    assert!(!scenario.ledger.state().parties.contains_key("agb:11111111"));
}

#[test]
fn a_rejection_is_recorded_with_its_reason_for_the_submitter() {
    let mut scenario = world("1000.00");
    let envelope = scenario.envelope(COORDINATOR, attained("nothing", "m1", "2026-03-31"));
    let Verdict::Rejected { index, rejection } = scenario.apply(envelope.clone()) else { panic!("rejected") };
    assert_eq!(rejection.code, ReasonCode::UnknownPlan);
    let recorded = scenario.ledger.recorded(&transaction_id(&envelope)).expect("every leaf has a recorded verdict");
    assert_eq!(recorded.index, index);
    assert_eq!(recorded.rejection, Some((ReasonCode::UnknownPlan as i32, rejection.message.clone())));
    assert_eq!(scenario.ledger.state().rejections.get("UNKNOWN_PLAN"), Some(&1));
    assert_eq!(rejection.to_string(), format!("UNKNOWN_PLAN: {}", rejection.message));
}
