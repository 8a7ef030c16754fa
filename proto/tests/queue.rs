//! The fund and its waiting queue: approval commits a plan's total or queues it, first come
//! first served; every release of money funds the queue's head while it fits; reservations
//! per theme; fund adjustments that would leave commitments uncovered are refused.

mod common;

use common::*;
use fairshare_protocol::pb::{self, transaction::Kind, Assessment};
use fairshare_protocol::query;
use fairshare_protocol::state::Funding;
use fairshare_protocol::testing::Scenario;

fn funding(scenario: &Scenario, plan: &str) -> Funding {
    scenario.ledger.state().plans[plan].main().funding
}

fn queue(scenario: &Scenario) -> Vec<String> {
    query::fund(scenario.ledger.state()).queue.into_iter().map(|row| row.plan).collect()
}

/// A plan of one milestone of `euros` in `theme`.
fn themed(id: &str, theme: &str, euros: &str) -> pb::PlanSubmitted {
    pb::PlanSubmitted { theme: theme.into(), ..plan(id, vec![simple_milestone("m1", "2026-06-30", euros)]) }
}

#[test]
fn plans_approved_when_the_fund_is_exhausted_queue_and_are_funded_strictly_in_order() {
    let mut scenario = world("1000.00");
    scenario.approve_plan(plan("x", vec![simple_milestone("m1", "2026-06-30", "400.00")]));
    scenario.approve_plan(plan("y", vec![simple_milestone("m1", "2026-06-30", "600.00")]));
    assert_eq!(scenario.ledger.state().free(), eur("0.00"));
    scenario.approve_plan(themed("first", THEME, "500.00"));
    scenario.approve_plan(themed("second", THEME, "300.00"));
    scenario.approve_plan(themed("third", THEME, "200.00"));
    assert_eq!(queue(&scenario), ["first", "second", "third"]);
    for id in ["first", "second", "third"] {
        assert_eq!(funding(&scenario, id), Funding::Queued, "{id}");
    }
    assert_eq!(scenario.ledger.state().committed(), eur("1000.00"), "queued plans commit nothing");
    scenario.rejected(COORDINATOR, attained("first", "m1", "2026-06-30"), ReasonCode::WrongPlanStatus);

    // Cancelling x frees 400.00: enough for the second (300.00), not for the first (500.00).
    // Nobody jumps ahead, so nobody is funded.
    scenario.ok(COORDINATOR, cancelled("x"));
    scenario.ok(SECOND, cancelled("x"));
    assert_eq!(scenario.ledger.state().free(), eur("400.00"));
    assert_eq!(queue(&scenario), ["first", "second", "third"]);
    assert_eq!(funding(&scenario, "second"), Funding::Queued);

    // A fund increase of 400.00 (free 800.00) funds the first (500.00) and then the second
    // (300.00); the third (200.00) no longer fits.
    scenario.ok(MINISTRY, fund_adjusted("400.00"));
    assert_eq!((funding(&scenario, "first"), funding(&scenario, "second")), (Funding::Funded, Funding::Funded));
    assert_eq!(queue(&scenario), ["third"]);
    assert_eq!(scenario.ledger.state().free(), eur("0.00"));
    let report = query::fund(scenario.ledger.state());
    assert_eq!((report.total, report.committed, report.free), (eur("1400.00"), eur("1400.00"), eur("0.00")));
    assert_eq!(report.adjustments.len(), 1);
    assert_eq!((report.queue[0].position, report.queue[0].total), (1, eur("200.00")));

    // A missed milestone releases its amount to the queue.
    scenario.ok(SECOND, missed("y", "m1"));
    assert_eq!(funding(&scenario, "third"), Funding::Funded);
    assert!(queue(&scenario).is_empty());
    assert_eq!(scenario.ledger.state().free(), eur("400.00"));
    assert_conserved(scenario.ledger.state());
}

#[test]
fn a_fund_increase_funds_only_the_head_when_the_second_does_not_fit() {
    let mut scenario = world("100.00");
    scenario.approve_plan(plan("running", vec![simple_milestone("m1", "2026-06-30", "100.00")]));
    scenario.approve_plan(themed("first", THEME, "500.00"));
    scenario.approve_plan(themed("second", THEME, "300.00"));
    scenario.ok(MINISTRY, fund_adjusted("600.00"));
    assert_eq!((funding(&scenario, "first"), funding(&scenario, "second")), (Funding::Funded, Funding::Queued));
    assert_eq!(scenario.ledger.state().free(), eur("100.00"));
}

#[test]
fn a_missed_milestone_or_a_confirmation_below_the_amount_releases_money_to_the_queue() {
    let mut scenario = world("1000.00");
    scenario.approve_plan(plan(
        "running",
        vec![simple_milestone("m1", "2026-03-31", "600.00"), simple_milestone("m2", "2026-06-30", "400.00")],
    ));
    scenario.approve_plan(themed("waiting", THEME, "300.00"));
    scenario.approve_plan(themed("behind", THEME, "400.00"));
    assert_eq!(queue(&scenario), ["waiting", "behind"]);
    // m1 confirmed at half: 300.00 payable, 300.00 released: exactly what the head needs.
    scenario.ok(COORDINATOR, attained_fraction("running", "m1", "2026-03-31", "0.5"));
    assert_eq!(funding(&scenario, "waiting"), Funding::Queued, "an attainment alone releases nothing");
    scenario.ok(SECOND, confirmed("running", "m1"));
    assert_eq!(funding(&scenario, "waiting"), Funding::Funded);
    assert_eq!(queue(&scenario), ["behind"]);
    scenario.ok(COORDINATOR, missed("running", "m2"));
    assert_eq!(funding(&scenario, "behind"), Funding::Funded);
    let state = scenario.ledger.state();
    assert_eq!((state.committed(), state.free()), (eur("1000.00"), eur("0.00")));
}

#[test]
fn cancelling_a_queued_plan_takes_it_out_of_the_queue() {
    let mut scenario = world("100.00");
    scenario.approve_plan(plan("running", vec![simple_milestone("m1", "2026-06-30", "100.00")]));
    scenario.approve_plan(themed("first", THEME, "500.00"));
    scenario.approve_plan(themed("second", THEME, "50.00"));
    scenario.ok(SECOND, cancelled("first"));
    scenario.ok(COORDINATOR, cancelled("first"));
    assert_eq!(queue(&scenario), ["second"]);
    scenario.ok(MINISTRY, fund_adjusted("50.00"));
    assert_eq!(funding(&scenario, "second"), Funding::Funded);
}

#[test]
fn an_addendum_queues_on_its_own_when_the_fund_is_exhausted() {
    let mut scenario = world("100.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-06-30", "100.00")]));
    scenario.ok(COORDINATOR, addendum("p", "west", vec![simple_milestone("w1", "2026-09-30", "40.00")]));
    scenario.ok(COORDINATOR, addendum_assessed("p", "west", Assessment::Approve));
    scenario.ok(SECOND, addendum_assessed("p", "west", Assessment::Approve));
    let report = query::fund(scenario.ledger.state());
    assert_eq!((report.queue[0].plan.as_str(), report.queue[0].addendum.as_str()), ("p", "west"));
    assert_eq!(funding(&scenario, "p"), Funding::Funded, "the plan itself stays funded");
    scenario.ok(MINISTRY, fund_adjusted("40.00"));
    assert_eq!(scenario.ledger.state().plans["p"].units["west"].funding, Funding::Funded);
}

// ------------------------------------------------------------------ reservations

#[test]
fn a_reservation_funds_a_plan_of_its_theme_at_once_when_it_covers_it_whole() {
    let mut scenario = world("1000.00");
    scenario.ok(MINISTRY, reservation_set("ggz-networks", "300.00"));
    assert_eq!(scenario.ledger.state().free(), eur("700.00"));
    scenario.approve_plan(themed("general", THEME, "700.00"));
    scenario.approve_plan(themed("waiting", THEME, "100.00"));
    assert_eq!(queue(&scenario), ["waiting"]);
    // Covered whole by its theme's reservation: funded at once, although others wait.
    scenario.approve_plan(themed("network", "ggz-networks", "250.00"));
    assert_eq!(funding(&scenario, "network"), Funding::Funded);
    assert_eq!(queue(&scenario), ["waiting"]);
    let state = scenario.ledger.state();
    assert_eq!(state.plans["network"].main().from_reservation, eur("250.00"));
    let reservation = &state.fund.reservations["ggz-networks"];
    assert_eq!((reservation.used, reservation.remaining()), (eur("250.00"), eur("50.00")));
    assert_eq!(state.free(), eur("0.00"));
    // Not covered whole (50.00 left): it queues like any plan, behind the others.
    scenario.approve_plan(themed("network-2", "ggz-networks", "100.00"));
    assert_eq!(queue(&scenario), ["waiting", "network-2"]);
}

#[test]
fn a_plan_only_partly_covered_by_its_reservation_draws_on_the_reservation_first() {
    // Regression: with an empty queue and enough free money, such a plan used to be funded
    // from the free fund alone, leaving its reservation untouched (DOMAIN.md: "once at the
    // head, draws on what is left of its reservation first and on the free fund for the rest").
    let mut scenario = world("1000.00");
    scenario.ok(MINISTRY, reservation_set("concentration", "100.00"));
    scenario.approve_plan(themed("p", "concentration", "150.00"));
    let state = scenario.ledger.state();
    assert_eq!(funding(&scenario, "p"), Funding::Funded);
    assert_eq!(state.plans["p"].main().from_reservation, eur("100.00"));
    assert_eq!(state.fund.reservations["concentration"].remaining(), eur("0.00"));
    assert_eq!(state.free(), eur("850.00"));
}

#[test]
fn a_queued_plan_at_the_head_draws_on_its_reservation_first_and_the_free_fund_for_the_rest() {
    let mut scenario = world("1000.00");
    scenario.ok(MINISTRY, reservation_set("coordination", "100.00"));
    scenario.approve_plan(themed("general", THEME, "900.00"));
    scenario.approve_plan(themed("p", "coordination", "150.00"));
    assert_eq!(queue(&scenario), ["p"], "100.00 reserved does not cover 150.00 and nothing is free");
    scenario.ok(MINISTRY, fund_adjusted("50.00"));
    let state = scenario.ledger.state();
    assert_eq!(funding(&scenario, "p"), Funding::Funded);
    assert_eq!(state.plans["p"].main().from_reservation, eur("100.00"));
    assert_eq!((state.committed(), state.free(), state.fund.reserved()), (eur("1050.00"), eur("0.00"), eur("0.00")));
}

#[test]
fn releasing_a_reservation_returns_what_it_did_not_need_to_the_queue() {
    let mut scenario = world("1000.00");
    scenario.ok(MINISTRY, reservation_set("networks", "400.00"));
    scenario.approve_plan(themed("network", "networks", "100.00"));
    scenario.approve_plan(themed("general", THEME, "600.00"));
    scenario.approve_plan(themed("waiting", THEME, "300.00"));
    assert_eq!(queue(&scenario), ["waiting"]);
    scenario.rejected(MINISTRY, reservation_released("nothing"), ReasonCode::UnknownReservation);
    scenario.ok(MINISTRY, reservation_released("networks"));
    assert_eq!(funding(&scenario, "waiting"), Funding::Funded);
    let reservation = &scenario.ledger.state().fund.reservations["networks"];
    assert_eq!((reservation.amount, reservation.used, reservation.released), (eur("100.00"), eur("100.00"), true));
    scenario.rejected(MINISTRY, reservation_released("networks"), ReasonCode::UnknownReservation);
}

#[test]
fn a_reservation_is_bounded_by_what_is_free_and_by_what_it_already_funded() {
    let mut scenario = world("1000.00");
    scenario.approve_plan(themed("general", THEME, "600.00"));
    scenario.rejected(MINISTRY, reservation_set("networks", "400.01"), ReasonCode::ReservationExceedsFree);
    scenario.ok(MINISTRY, reservation_set("networks", "400.00"));
    scenario.approve_plan(themed("network", "networks", "150.00"));
    scenario.rejected(MINISTRY, reservation_set("networks", "149.99"), ReasonCode::InvalidAmount);
    // Lowering frees money; raising again may take only what is free.
    scenario.ok(MINISTRY, reservation_set("networks", "150.00"));
    assert_eq!(scenario.ledger.state().free(), eur("250.00"));
    scenario.rejected(MINISTRY, reservation_set("networks", "400.01"), ReasonCode::ReservationExceedsFree);
    scenario.rejected(MINISTRY, reservation_set("networks", "0.00"), ReasonCode::InvalidAmount);
    scenario.rejected(MINISTRY, reservation_set("Networks!", "10.00"), ReasonCode::InvalidIdentifier);
    scenario.rejected(COORDINATOR, reservation_set("networks", "10.00"), ReasonCode::SignerNotAuthorised);
    let no_reason =
        Kind::ReservationSet(pb::ReservationSet { theme: "networks".into(), amount_micros: micros("200.00"), reason: String::new() });
    scenario.rejected(MINISTRY, no_reason, ReasonCode::Empty);
}

// ------------------------------------------------------------------ fund adjustments

#[test]
fn a_fund_decrease_that_would_leave_commitments_uncovered_is_refused() {
    let mut scenario = world("1000.00");
    scenario.approve_plan(themed("general", THEME, "600.00"));
    scenario.ok(MINISTRY, reservation_set("networks", "300.00"));
    let message = scenario.rejected(MINISTRY, fund_adjusted("-100.01"), ReasonCode::FundWouldNotCover);
    assert!(message.contains("100.00"), "the message says how far it may go: {message}");
    scenario.ok(MINISTRY, fund_adjusted("-100.00"));
    assert_eq!(scenario.ledger.state().free(), eur("0.00"));
    scenario.rejected(MINISTRY, fund_adjusted("-0.01"), ReasonCode::FundWouldNotCover);
    scenario.rejected(MINISTRY, fund_adjusted("0.00"), ReasonCode::InvalidAmount);
    let three_decimals =
        Kind::FundAdjusted(pb::FundAdjusted { delta_micros: 1_234_560, reason: "x".into(), effective: "2026-01-01".into() });
    scenario.rejected(MINISTRY, three_decimals, ReasonCode::TooManyDecimals);
    let no_reason =
        Kind::FundAdjusted(pb::FundAdjusted { delta_micros: micros("1.00"), reason: String::new(), effective: "2026-01-01".into() });
    scenario.rejected(MINISTRY, no_reason, ReasonCode::Empty);
    let bad_date =
        Kind::FundAdjusted(pb::FundAdjusted { delta_micros: micros("1.00"), reason: "x".into(), effective: "2026-02-30".into() });
    scenario.rejected(MINISTRY, bad_date, ReasonCode::InvalidDate);
    scenario.rejected(COORDINATOR, fund_adjusted("1.00"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(REGULATOR, fund_adjusted("1.00"), ReasonCode::SignerNotAuthorised);
    let report = query::fund(scenario.ledger.state());
    assert_eq!((report.initial, report.total), (eur("1000.00"), eur("900.00")));
    assert_eq!(report.adjustments[0].reason, "decision of the IZA parties");
}

// ------------------------------------------------------------------ intake

#[test]
fn after_intake_closes_only_queued_plans_can_still_be_funded() {
    let mut scenario = world("100.00");
    scenario.approve_plan(plan("running", vec![simple_milestone("m1", "2026-06-30", "100.00")]));
    scenario.approve_plan(themed("queued", THEME, "50.00"));
    scenario.submit_plan(themed("submitted", THEME, "10.00"));
    scenario.ok(COORDINATOR, quick_test("tested", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("tested", pb::QuickTestOutcome::Passed));
    scenario.rejected(COORDINATOR, intake_closed("2026-02-01"), ReasonCode::SignerNotAuthorised);
    scenario.ok(MINISTRY, intake_closed("2026-02-01"));
    scenario.rejected(MINISTRY, intake_closed("2026-02-02"), ReasonCode::AlreadyExists);

    scenario.rejected(COORDINATOR, quick_test("new", COORDINATOR, SECOND), ReasonCode::IntakeClosed);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(themed("tested", THEME, "10.00")), ReasonCode::IntakeClosed);
    scenario.rejected(COORDINATOR, assessed("submitted", 1, Assessment::Approve), ReasonCode::IntakeClosed);
    scenario.rejected(
        COORDINATOR,
        addendum("running", "west", vec![simple_milestone("w1", "2026-09-30", "1.00")]),
        ReasonCode::IntakeClosed,
    );
    // Running plans go on, and released money still funds the queue.
    scenario.ok(COORDINATOR, attained_fraction("running", "m1", "2026-06-30", "0.5"));
    scenario.ok(SECOND, confirmed("running", "m1"));
    assert_eq!(funding(&scenario, "queued"), Funding::Funded);
    assert_eq!(query::fund(scenario.ledger.state()).intake_closed.as_deref(), Some("2026-02-01"));
}

#[test]
fn a_stated_part_of_a_reservation_can_be_released_and_funds_the_queue_while_the_rest_stays_reserved() {
    let mut scenario = world("1000.00");
    scenario.ok(MINISTRY, reservation_set("networks", "400.00"));
    scenario.approve_plan(themed("network", "networks", "100.00"));
    scenario.approve_plan(themed("general", THEME, "600.00"));
    scenario.approve_plan(themed("waiting", THEME, "250.00"));
    scenario.approve_plan(themed("behind", THEME, "100.00"));
    assert_eq!(queue(&scenario), ["waiting", "behind"]);
    let reservation = |scenario: &Scenario| scenario.ledger.state().fund.reservations["networks"].clone();

    // 300.00 is left of the reservation: no more can be released.
    scenario.rejected(MINISTRY, reservation_released_part("networks", "300.01"), ReasonCode::ReleaseExceedsReservation);
    scenario.rejected(MINISTRY, reservation_released_part("networks", "-1.00"), ReasonCode::InvalidAmount);
    let a_tenth_of_a_cent = pb::ReservationReleased { theme: "networks".into(), reason: "x".into(), amount_micros: 1_000 };
    scenario.rejected(MINISTRY, Kind::ReservationReleased(a_tenth_of_a_cent), ReasonCode::TooManyDecimals);

    // A part that does not cover the head funds nothing: nobody jumps ahead.
    scenario.ok(MINISTRY, reservation_released_part("networks", "200.00"));
    assert_eq!(queue(&scenario), ["waiting", "behind"]);
    let after = reservation(&scenario);
    assert_eq!((after.amount, after.used, after.remaining(), after.released), (eur("200.00"), eur("100.00"), eur("100.00"), false));
    assert_eq!(scenario.ledger.state().free(), eur("200.00"));

    // The next part makes the head fit; the rest stays reserved for the theme.
    scenario.ok(MINISTRY, reservation_released_part("networks", "50.00"));
    assert_eq!(funding(&scenario, "waiting"), Funding::Funded);
    assert_eq!(queue(&scenario), ["behind"]);
    let after = reservation(&scenario);
    assert_eq!((after.remaining(), after.released), (eur("50.00"), false));

    // Stating exactly what is left releases all of it and closes the reservation.
    scenario.ok(MINISTRY, reservation_released_part("networks", "50.00"));
    let after = reservation(&scenario);
    assert_eq!((after.amount, after.remaining(), after.released), (eur("100.00"), eur("0.00"), true));
    scenario.rejected(MINISTRY, reservation_released_part("networks", "1.00"), ReasonCode::UnknownReservation);
    assert_eq!(queue(&scenario), ["behind"], "free is 50.00, behind needs 100.00");
}
