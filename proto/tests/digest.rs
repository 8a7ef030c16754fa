//! The state digest is kept up to date from what each transaction touched
//! (`fairshare_protocol::digest_map`). Whatever the transactions, their order and the way
//! they are cut into blocks, the kept digest equals the digest computed from the state
//! alone, and the same leaves give the same heads.

mod common;

use std::sync::Arc;

use common::*;
use fairshare_protocol::envelope::seal;
use fairshare_protocol::pb::{self, transaction::Kind, Assessment};
use fairshare_protocol::testing::{transaction, Scenario};
use fairshare_protocol::{Genesis, Ledger};
use proptest::prelude::*;

/// Steps of a ledger's life touching every map of the state and every transaction kind
/// but checkpoint signatures (which change no state). Played in a random order, with
/// some left out, most stay meaningful and the rest are rejected, which records a
/// verdict and counts a rejection: both change the digest too.
fn pool() -> Vec<(&'static str, Kind)> {
    let reader_key = fairshare_protocol::testing::test_key("reader-a").verifying_key().to_bytes().to_vec();
    let approval = |node: &str| {
        Kind::MembershipApproved(pb::MembershipApproved {
            proposal: "replace-menzis".into(),
            node: node.into(),
            change: pb::MembershipChange::Remove as i32,
            address: String::new(),
        })
    };
    let plan_p = plan(
        "p",
        vec![
            milestone("m1", "2026-03-31", vec![line_via(PROVIDER_A, CASHIER, "msz", "600.01"), line(PROVIDER_B, "ggz", "399.99")]),
            simple_milestone("m2", "2026-06-30", "500.00"),
            simple_milestone("m3", "2026-09-30", "300.00"),
        ],
    );
    let plan_q = plan("q", vec![simple_milestone("m1", "2026-06-30", "700.00")]);
    vec![
        (COORDINATOR, party(PROVIDER_A, pb::PartyKind::Provider)),
        (COORDINATOR, party(PROVIDER_B, pb::PartyKind::Provider)),
        (COORDINATOR, party(CASHIER, pb::PartyKind::Cashier)),
        (COORDINATOR, Kind::ReaderRegistered(pb::ReaderRegistered { party: PROVIDER_A.into(), public_key: reader_key })),
        ("cz", approval("menzis")),
        ("zk", approval("menzis")),
        ("vgz", approval("menzis")),
        ("node:zk", Kind::MembershipExecuted(pb::MembershipExecuted { proposal: "replace-menzis".into() })),
        ("cz", key_proposed("somatic", 2, "2026-05-01", &[("cz", "0.3"), ("menzis", "0.2"), ("vgz", "0.2"), ("zk", "0.3")])),
        ("menzis", key_approved("somatic", 2)),
        ("vgz", key_approved("somatic", 2)),
        ("zk", key_approved("somatic", 2)),
        (COORDINATOR, quick_test("p", COORDINATOR, SECOND)),
        (SECOND, quick_test_decided("p", pb::QuickTestOutcome::Passed)),
        (COORDINATOR, Kind::PlanSubmitted(plan_p)),
        (COORDINATOR, quick_test("q", COORDINATOR, SECOND)),
        (SECOND, quick_test_decided("q", pb::QuickTestOutcome::Passed)),
        (COORDINATOR, Kind::PlanSubmitted(plan_q)),
        (COORDINATOR, assessed("p", 1, Assessment::Approve)),
        (SECOND, assessed("p", 1, Assessment::Approve)),
        (COORDINATOR, assessed("q", 1, Assessment::Approve)),
        (SECOND, assessed("q", 1, Assessment::Approve)),
        (COORDINATOR, addendum("p", "west", vec![simple_milestone("w1", "2026-09-30", "50.00")])),
        (COORDINATOR, addendum_assessed("p", "west", Assessment::Approve)),
        (SECOND, addendum_assessed("p", "west", Assessment::Approve)),
        (COORDINATOR, rescheduled("p", "m3", "2026-10-31")),
        (SECOND, rescheduled("p", "m3", "2026-10-31")),
        (COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.75")),
        (SECOND, declined("p", "m1", "evidence missing")),
        (COORDINATOR, attained("p", "m1", "2026-03-31")),
        (SECOND, confirmed("p", "m1")),
        (COORDINATOR, attained_actual("p", "m2", "2026-06-30", micros("333.33"))),
        (SECOND, confirmed("p", "m2")),
        (SECOND, missed("p", "m3")),
        ("zk", paid("zk-1", &[(&obligation("p", "m1", 1, "zk"), "100.00"), (&obligation("p", "m2", 1, "zk"), "33.33")], "2026-07-01")),
        ("zk", reversed("zk-1", "the transfer bounced")),
        ("cz", paid("cz-1", &[(&obligation("p", "m1", 2, "cz"), "10.00")], "2026-07-02")),
        (COORDINATOR, cancelled("q")),
        (SECOND, cancelled("q")),
        (MINISTRY, fund_adjusted("-10.00")),
        (MINISTRY, reservation_set("networks", "5.00")),
        (MINISTRY, reservation_released_part("networks", "2.00")),
        (REGULATOR, external_funding("vws-2025-1", "ggz", "1234.56", "2025-12-31")),
        (REGULATOR, Kind::AuditAttested(pb::AuditAttested { checkpoint: None, note: "verified".into() })),
        (MINISTRY, intake_closed("2026-08-01")),
    ]
}

fn envelopes(scenario: &Scenario, order: &[usize]) -> Vec<pb::Envelope> {
    let genesis: &Genesis = scenario.ledger.genesis();
    let pool = pool();
    order
        .iter()
        .zip(1..)
        .map(|(&step, nonce)| {
            let (signer, kind) = &pool[step];
            seal(&transaction(genesis, nonce, kind.clone()), signer, &scenario.keys[*signer])
        })
        .collect()
}

/// Applies `envelopes` in blocks of the given sizes (cycled), checking after each block
/// that the head's digest is the digest of the state computed from scratch.
fn replay(genesis: &Arc<Genesis>, envelopes: &[pb::Envelope], sizes: &[usize]) -> Result<Ledger, TestCaseError> {
    let mut ledger = Ledger::new(genesis.clone());
    let mut rest = envelopes;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (block, after) = rest.split_at(size.clamp(1, rest.len()));
        ledger.apply_block(&pb::Block { envelopes: block.to_vec() });
        rest = after;
        prop_assert_eq!(ledger.head().state_digest, ledger.state().digest_from_scratch());
    }
    Ok(ledger)
}

/// The pool's steps in a random order, some repeated and some left out.
fn order() -> impl Strategy<Value = Vec<usize>> {
    let steps = pool().len();
    (Just((0..steps).collect::<Vec<_>>()).prop_shuffle(), proptest::collection::vec(0..steps, 0..12), 0..steps).prop_map(
        |(mut order, repeats, cut)| {
            order.extend(repeats);
            order.rotate_left(cut);
            order
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_kept_digest_equals_the_digest_from_scratch(
        order in order(),
        sizes in proptest::collection::vec(1usize..9, 1..6),
        in_order in any::<bool>(),
    ) {
        let scenario = Scenario::new("2000.00");
        let genesis = Arc::new(scenario.ledger.genesis().clone());
        // Half the cases play the pool in its own order, so that most steps apply.
        let order = if in_order { (0..pool().len()).collect() } else { order };
        let envelopes = envelopes(&scenario, &order);
        let ledger = replay(&genesis, &envelopes, &sizes)?;
        let one_by_one = replay(&genesis, &envelopes, &[1])?;
        prop_assert_eq!(ledger.head(), one_by_one.head());
        prop_assert_eq!(ledger.state(), one_by_one.state());
    }
}

#[test]
fn the_pool_in_order_applies_every_step() {
    let scenario = Scenario::new("2000.00");
    let genesis = Arc::new(scenario.ledger.genesis().clone());
    let envelopes = envelopes(&scenario, &(0..pool().len()).collect::<Vec<_>>());
    let mut ledger = Ledger::new(genesis);
    let outcomes = ledger.apply_block(&pb::Block { envelopes });
    let rejected: Vec<_> =
        outcomes.iter().filter(|outcome| !is_applied(&outcome.verdict)).map(|outcome| format!("{:?}", outcome.verdict)).collect();
    // The attestation names no certified checkpoint (there is none): it is rejected, which
    // the rejection counts of the state record.
    assert_eq!(rejected.len(), 1, "every other step of the pool applies in order: {rejected:?}");
    assert!(rejected[0].contains("MalformedTransaction"), "{rejected:?}");
    let state = ledger.state();
    assert!(!state.readers.is_empty() && !state.membership.is_empty() && !state.payments.is_empty() && !state.external_funding.is_empty());
    assert!(state.obligations.len() > 4 && !state.rejections.is_empty());
}
