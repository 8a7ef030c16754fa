//! Payments and reversals: an insurer records what it paid on its own obligations, never
//! more than is outstanding; a wrong record is reversed by its author and history keeps both.

mod common;

use common::*;
use fairshare_protocol::testing::Scenario;

/// Plan "p", milestone "m1" of 1000.00 confirmed: cz 253.70, menzis 100.00, vgz 246.30,
/// zk 400.00; and "m2" of 500.00 confirmed: cz 126.85, menzis 50.00, vgz 123.15, zk 200.00.
fn with_obligations() -> Scenario {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "1000.00"), simple_milestone("m2", "2026-06-30", "500.00")]));
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    scenario.attain_and_confirm("p", "m2", "2026-06-30");
    scenario
}

fn paid_on(scenario: &Scenario, id: &str) -> fairshare_protocol::Amount {
    scenario.ledger.state().obligations[id].paid
}

#[test]
fn payment_above_outstanding_is_rejected_and_changes_nothing() {
    let mut scenario = with_obligations();
    let zk = obligation("p", "m1", 1, "zk");
    let message = scenario.rejected("zk", paid("zk-1", &[(&zk, "400.01")], "2026-04-15"), ReasonCode::PaymentExceedsOutstanding);
    assert!(message.contains("400.00"), "the message names what is still open: {message}");
    assert_eq!(paid_on(&scenario, &zk), eur("0.00"));
    scenario.ok("zk", paid("zk-1", &[(&zk, "400.00")], "2026-04-15"));
    assert_eq!(scenario.ledger.state().obligations[&zk].outstanding(), eur("0.00"));
    scenario.rejected("zk", paid("zk-2", &[(&zk, "0.01")], "2026-04-16"), ReasonCode::PaymentExceedsOutstanding);
}

#[test]
fn two_partial_payments_may_settle_an_obligation_but_never_exceed_it() {
    let mut scenario = with_obligations();
    let cz = obligation("p", "m1", 1, "cz");
    scenario.ok("cz", paid("cz-1", &[(&cz, "200.00")], "2026-04-15"));
    scenario.rejected("cz", paid("cz-2", &[(&cz, "53.71")], "2026-05-15"), ReasonCode::PaymentExceedsOutstanding);
    scenario.ok("cz", paid("cz-2", &[(&cz, "53.70")], "2026-05-15"));
    let obligation = &scenario.ledger.state().obligations[&cz];
    assert_eq!((obligation.paid, obligation.outstanding()), (eur("253.70"), eur("0.00")));
    assert_eq!(obligation.payments, vec!["cz-1".to_string(), "cz-2".to_string()]);
    assert_conserved(scenario.ledger.state());
}

#[test]
fn two_parts_for_one_obligation_in_one_record_count_together() {
    let mut scenario = with_obligations();
    let vgz = obligation("p", "m1", 1, "vgz");
    scenario.rejected("vgz", paid("vgz-1", &[(&vgz, "200.00"), (&vgz, "46.31")], "2026-04-15"), ReasonCode::PaymentExceedsOutstanding);
    scenario.ok("vgz", paid("vgz-1", &[(&vgz, "200.00"), (&vgz, "46.30")], "2026-04-15"));
    assert_eq!(paid_on(&scenario, &vgz), eur("246.30"));
    assert_eq!(scenario.ledger.state().obligations[&vgz].payments, vec!["vgz-1".to_string()]);
}

#[test]
fn one_payment_record_settles_several_of_the_insurers_own_obligations() {
    let mut scenario = with_obligations();
    let (first, second) = (obligation("p", "m1", 1, "menzis"), obligation("p", "m2", 1, "menzis"));
    scenario.ok("menzis", paid("batch-2026-07", &[(&first, "100.00"), (&second, "20.00")], "2026-07-01"));
    assert_eq!((paid_on(&scenario, &first), paid_on(&scenario, &second)), (eur("100.00"), eur("20.00")));
    let payment = &scenario.ledger.state().payments["batch-2026-07"];
    assert_eq!((payment.insurer.as_str(), payment.total()), ("menzis", eur("120.00")));
}

#[test]
fn an_insurer_cannot_record_payments_on_another_insurers_obligation() {
    let mut scenario = with_obligations();
    let zk = obligation("p", "m1", 1, "zk");
    let own = obligation("p", "m1", 1, "vgz");
    // All or nothing: one foreign settlement refuses the whole record.
    scenario.rejected("vgz", paid("vgz-1", &[(&own, "1.00"), (&zk, "1.00")], "2026-04-15"), ReasonCode::NotObligatedInsurer);
    scenario.rejected("vws", paid("vws-1", &[(&zk, "1.00")], "2026-04-15"), ReasonCode::SignerNotAuthorised);
    scenario.rejected("node:zk", paid("zk-1", &[(&zk, "1.00")], "2026-04-15"), ReasonCode::SignerNotAuthorised);
    assert_eq!(paid_on(&scenario, &own), eur("0.00"));
}

#[test]
fn a_payment_must_name_known_obligations_positive_whole_cents_and_a_fresh_id() {
    let mut scenario = with_obligations();
    let zk = obligation("p", "m1", 1, "zk");
    scenario.rejected("zk", paid("zk-1", &[("p/m1/1/achmea", "1.00")], "2026-04-15"), ReasonCode::UnknownObligation);
    scenario.rejected("zk", paid("zk-1", &[(&zk, "0.00")], "2026-04-15"), ReasonCode::InvalidAmount);
    scenario.rejected("zk", paid("zk-1", &[(&zk, "-5.00")], "2026-04-15"), ReasonCode::InvalidAmount);
    scenario.rejected("zk", paid_micros("zk-1", &[(&zk, 1_234_560)], "2026-04-15"), ReasonCode::TooManyDecimals);
    scenario.rejected("zk", paid("zk-1", &[], "2026-04-15"), ReasonCode::Empty);
    scenario.rejected("zk", paid("zk-1", &[(&zk, "1.00")], "15-04-2026"), ReasonCode::InvalidDate);
    scenario.rejected("zk", paid("ZK 1", &[(&zk, "1.00")], "2026-04-15"), ReasonCode::InvalidIdentifier);
    let too_many: Vec<(&str, i64)> = (0..=fairshare_protocol::PAYMENT_SETTLEMENTS_MAX).map(|_| (zk.as_str(), 10_000)).collect();
    scenario.rejected("zk", paid_micros("zk-1", &too_many, "2026-04-15"), ReasonCode::LimitExceeded);
    scenario.ok("zk", paid("zk-1", &[(&zk, "1.00")], "2026-04-15"));
    scenario.rejected("zk", paid("zk-1", &[(&zk, "1.00")], "2026-04-16"), ReasonCode::AlreadyExists);
    assert_eq!(paid_on(&scenario, &zk), eur("1.00"));
}

#[test]
fn a_reversal_makes_the_amount_outstanding_again_and_history_keeps_both_records() {
    let mut scenario = with_obligations();
    let zk = obligation("p", "m1", 1, "zk");
    scenario.ok("zk", paid("zk-1", &[(&zk, "400.00")], "2026-04-15"));
    scenario.rejected("vgz", reversed("zk-1", "bounced"), ReasonCode::SignerNotAuthorised);
    scenario.rejected("zk", reversed("zk-1", " "), ReasonCode::Empty);
    scenario.rejected("zk", reversed("zk-9", "bounced"), ReasonCode::UnknownPayment);
    scenario.ok("zk", reversed("zk-1", "the bank returned the transfer"));
    scenario.rejected("zk", reversed("zk-1", "again"), ReasonCode::PaymentAlreadyReversed);
    assert_eq!(scenario.ledger.state().obligations[&zk].outstanding(), eur("400.00"));

    scenario.ok("zk", paid("zk-2", &[(&zk, "400.00")], "2026-04-20"));
    let state = scenario.ledger.state();
    let first = &state.payments["zk-1"];
    let reversal = first.reversed.as_ref().expect("the reversed record stays, marked");
    assert_eq!(reversal.reason, "the bank returned the transfer");
    assert!(reversal.at > first.recorded_at);
    assert!(state.payments["zk-2"].reversed.is_none());
    assert_eq!(state.obligations[&zk].payments, vec!["zk-1".to_string(), "zk-2".to_string()]);
    assert_eq!(state.obligations[&zk].paid, eur("400.00"));
    assert_conserved(state);
}
