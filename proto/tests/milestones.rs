//! Milestones and the fair share: attainment (full, partial, on actual costs), confirmation
//! (when obligations arise), misses, the key version in force on the attainment date, and
//! the conservation invariant.
//!
//! Somatic key v1 of the test genesis: cz 0.2537, menzis 0.1, vgz 0.2463, zk 0.4.
//! GGZ key v1: 0.25 each. Expected cents are worked out by hand in the comments.

mod common;

use common::*;
use fairshare_protocol::amount::Amount;
use fairshare_protocol::pb;
use fairshare_protocol::state::MilestoneStatus;
use fairshare_protocol::testing::Scenario;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rust_decimal::{Decimal, RoundingStrategy};

/// A funded plan "p" with one milestone "m1" of `euros` (one msz line for provider A).
fn one_milestone(euros: &str) -> Scenario {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", euros)]));
    scenario
}

fn payable_of(scenario: &Scenario, plan: &str, milestone: &str) -> Amount {
    match scenario.ledger.state().plans[plan].milestones[milestone].status {
        MilestoneStatus::Confirmed { payable, .. } => payable,
        ref other => panic!("{milestone} is {other:?}, not confirmed"),
    }
}

// ------------------------------------------------------------------ the seed's case

#[test]
fn a_quarter_with_three_of_four_milestones_attained_creates_obligations_for_exactly_the_three() {
    let mut scenario = world("10000.00");
    scenario.approve_plan(plan(
        "q1",
        vec![
            simple_milestone("m1", "2026-01-31", "1000.00"),
            simple_milestone("m2", "2026-02-28", "1000.00"),
            simple_milestone("m3", "2026-03-15", "1000.00"),
            simple_milestone("m4", "2026-03-31", "1000.00"),
        ],
    ));
    assert_eq!(scenario.ledger.state().committed(), eur("4000.00"));
    for (milestone, on) in [("m1", "2026-01-30"), ("m2", "2026-02-27"), ("m3", "2026-03-14")] {
        scenario.attain_and_confirm("q1", milestone, on);
    }
    scenario.ok(SECOND, missed("q1", "m4"));

    let state = scenario.ledger.state();
    assert_eq!(state.obligations.len(), 12, "four insurers for each of the three attained milestones");
    for milestone in ["m1", "m2", "m3"] {
        assert_eq!(
            line_split(state, "q1", milestone, 1),
            split(&[("cz", "253.70"), ("menzis", "100.00"), ("vgz", "246.30"), ("zk", "400.00")]),
            "{milestone}"
        );
    }
    assert!(obligations_of(state, "q1", "m4").is_empty(), "a missed milestone pays nothing");
    assert_eq!(state.plans["q1"].milestones["m4"].status, MilestoneStatus::Missed);
    assert_eq!(state.committed(), eur("3000.00"), "the missed milestone's amount is released");
    assert_eq!(state.free(), eur("7000.00"));
    assert_conserved(state);
}

// ------------------------------------------------------------------ partial attainment

#[test]
fn a_fraction_of_three_quarters_pays_the_half_even_rounded_amount() {
    // 1000.06 × 0.75 = 750.045: exactly half a cent, to the even neighbour 750.04 (half-up
    // would give 750.05).
    let mut scenario = one_milestone("1000.06");
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.75"));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("750.04"));
    // cz 190.285148, menzis 75.004, vgz 184.734852, zk 300.016: floors leave 2 cents,
    // which go to the largest remainders, zk (.6) and cz (.5148).
    assert_eq!(
        line_split(scenario.ledger.state(), "p", "m1", 1),
        split(&[("cz", "190.29"), ("menzis", "75.00"), ("vgz", "184.73"), ("zk", "300.02")])
    );
    assert_eq!(scenario.ledger.state().committed(), eur("750.04"), "confirmed below its amount releases the difference");
    assert_conserved(scenario.ledger.state());
}

#[test]
fn half_even_rounding_goes_up_to_the_even_cent_too() {
    // 1000.02 × 0.75 = 750.015: half a cent above the odd 750.01, so up to 750.02.
    let mut scenario = one_milestone("1000.02");
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.75"));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("750.02"));
}

#[test]
fn a_fraction_of_three_quarters_of_1000_01_pays_750_01() {
    // 750.0075 rounds to 750.01. Over the key: cz 190.277537, menzis 75.001, vgz 184.727463,
    // zk 300.004; the two spare cents go to cz (.7537) and vgz (.7463).
    let mut scenario = one_milestone("1000.01");
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.75"));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("750.01"));
    assert_eq!(
        line_split(scenario.ledger.state(), "p", "m1", 1),
        split(&[("cz", "190.28"), ("menzis", "75.00"), ("vgz", "184.73"), ("zk", "300.00")])
    );
}

#[test]
fn payment_on_actual_costs_pays_the_stated_amount_and_never_more_than_the_milestone() {
    let mut scenario = one_milestone("1000.00");
    scenario.rejected(COORDINATOR, attained_actual("p", "m1", "2026-03-31", micros("1000.01")), ReasonCode::PayableExceedsAmount);
    scenario.rejected(COORDINATOR, attained_actual("p", "m1", "2026-03-31", 612_345_000), ReasonCode::TooManyDecimals);
    scenario.rejected(COORDINATOR, attained_actual("p", "m1", "2026-03-31", -micros("1.00")), ReasonCode::InvalidAmount);
    let both = match attained_actual("p", "m1", "2026-03-31", micros("612.34")) {
        pb::transaction::Kind::MilestoneAttained(body) => {
            pb::transaction::Kind::MilestoneAttained(pb::MilestoneAttained { payout_fraction: "0.5".into(), ..body })
        }
        _ => unreachable!(),
    };
    scenario.rejected(COORDINATOR, both, ReasonCode::InvalidFraction);
    scenario.ok(COORDINATOR, attained_actual("p", "m1", "2026-03-31", micros("612.34")));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("612.34"));
    // cz 155.350658, menzis 61.234, vgz 150.819342, zk 244.936: spare cents to vgz and zk.
    assert_eq!(
        line_split(scenario.ledger.state(), "p", "m1", 1),
        split(&[("cz", "155.35"), ("menzis", "61.23"), ("vgz", "150.82"), ("zk", "244.94")])
    );
    assert_eq!(scenario.ledger.state().committed(), eur("612.34"));
    assert_conserved(scenario.ledger.state());
}

#[test]
fn payment_on_actual_costs_may_equal_the_full_amount() {
    let mut scenario = one_milestone("1000.00");
    scenario.ok(COORDINATOR, attained_actual("p", "m1", "2026-03-31", micros("1000.00")));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("1000.00"));
}

#[test]
fn payout_fractions_outside_zero_to_one_or_rounding_to_nothing_are_rejected() {
    let mut scenario = one_milestone("1.00");
    for fraction in ["0", "0.0", "-0.5", "1.5", "1.000000000001", "abc", "0,5", "0.0000000000001"] {
        scenario.rejected(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", fraction), ReasonCode::InvalidFraction);
    }
    // 1.00 × 0.004 = 0.004: rounds to 0.00, which is a miss, not an attainment.
    scenario.rejected(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.004"), ReasonCode::InvalidFraction);
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "1"));
}

#[test]
fn a_payable_total_is_spread_over_lines_in_proportion_and_each_line_by_its_sectors_key() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan(
        "p",
        vec![milestone("m1", "2026-03-31", vec![line_via(PROVIDER_A, CASHIER, "msz", "600.00"), line(PROVIDER_B, "ggz", "400.00")])],
    ));
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.5"));
    scenario.ok(SECOND, confirmed("p", "m1"));
    let state = scenario.ledger.state();
    let lines = &state.plans["p"].milestones["m1"].lines;
    assert_eq!((lines[0].payable, lines[1].payable), (eur("300.00"), eur("200.00")));
    assert_eq!(line_split(state, "p", "m1", 1), split(&[("cz", "76.11"), ("menzis", "30.00"), ("vgz", "73.89"), ("zk", "120.00")]));
    assert_eq!(line_split(state, "p", "m1", 2), split(&[("cz", "50.00"), ("menzis", "50.00"), ("vgz", "50.00"), ("zk", "50.00")]));
    let first = &state.obligations[&obligation("p", "m1", 1, "zk")];
    assert_eq!((first.beneficiary.as_str(), first.payee.as_str()), (PROVIDER_A, CASHIER), "a cashier is paid on behalf of the provider");
    assert_eq!((first.key_group.as_str(), first.key_version), ("somatic", 1));
    let second = &state.obligations[&obligation("p", "m1", 2, "zk")];
    assert_eq!((second.payee.as_str(), second.key_group.as_str()), (PROVIDER_B, "ggz"), "the payee defaults to the beneficiary");
    assert_conserved(state);
}

#[test]
fn an_insurer_whose_part_rounds_to_nothing_gets_no_obligation_and_ties_go_to_the_lower_id() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan(
        "p",
        vec![
            // 0.03 over the somatic key: 0.7611, 0.3, 0.7389 and 1.2 cents; zk's floor is 1,
            // the two spare cents go to cz and vgz; menzis owes nothing.
            simple_milestone("m1", "2026-03-31", "0.03"),
            // 0.02 over the ggz key: half a cent each, a four-way tie: cz and menzis.
            milestone("m2", "2026-03-31", vec![line(PROVIDER_B, "ggz", "0.02")]),
        ],
    ));
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    scenario.attain_and_confirm("p", "m2", "2026-03-31");
    let state = scenario.ledger.state();
    assert_eq!(line_split(state, "p", "m1", 1), split(&[("cz", "0.01"), ("vgz", "0.01"), ("zk", "0.01")]));
    assert_eq!(line_split(state, "p", "m2", 1), split(&[("cz", "0.01"), ("menzis", "0.01")]));
    assert_conserved(state);
}

// ------------------------------------------------------------------ key versions

#[test]
fn the_key_version_in_force_on_the_attainment_date_decides_each_insurers_share() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan(
        "p",
        vec![
            simple_milestone("early", "2026-06-30", "1000.00"),
            simple_milestone("pending", "2026-09-30", "1000.00"),
            milestone("late", "2026-09-30", vec![line(PROVIDER_A, "msz", "1000.00"), line(PROVIDER_B, "ggz", "1000.00")]),
        ],
    ));
    // Version 2 of the somatic key from 2026-07-01, proposed by cz (its approval counts).
    let v2 = [("cz", "0.3"), ("menzis", "0.2"), ("vgz", "0.2"), ("zk", "0.3")];
    scenario.ok("cz", key_proposed("somatic", 2, "2026-07-01", &v2));
    scenario.ok("menzis", key_approved("somatic", 2));
    scenario.ok("vgz", key_approved("somatic", 2));
    assert!(!scenario.ledger.state().keys["somatic"][&2].in_force, "three of four approvals are not enough");
    // Attained after valid_from, but v2 is not in force yet: v1 applies.
    scenario.attain_and_confirm("p", "pending", "2026-08-01");
    scenario.ok("zk", key_approved("somatic", 2));
    assert!(scenario.ledger.state().keys["somatic"][&2].in_force);

    scenario.attain_and_confirm("p", "early", "2026-06-30");
    scenario.attain_and_confirm("p", "late", "2026-07-01");
    let state = scenario.ledger.state();
    let v1_split = split(&[("cz", "253.70"), ("menzis", "100.00"), ("vgz", "246.30"), ("zk", "400.00")]);
    assert_eq!(line_split(state, "p", "pending", 1), v1_split);
    assert_eq!(line_split(state, "p", "early", 1), v1_split, "the day before valid_from uses v1");
    assert_eq!(line_split(state, "p", "late", 1), split(&[("cz", "300.00"), ("menzis", "200.00"), ("vgz", "200.00"), ("zk", "300.00")]));
    assert_eq!(line_split(state, "p", "late", 2), split(&[("cz", "250.00"), ("menzis", "250.00"), ("vgz", "250.00"), ("zk", "250.00")]));
    let versions = |milestone: &str, line: u32| -> Vec<(String, u32)> {
        obligations_of(state, "p", milestone)
            .into_iter()
            .filter(|obligation| obligation.line == line)
            .map(|obligation| (obligation.key_group.clone(), obligation.key_version))
            .collect()
    };
    assert!(versions("pending", 1).iter().all(|version| *version == ("somatic".to_string(), 1)));
    assert!(versions("early", 1).iter().all(|version| *version == ("somatic".to_string(), 1)));
    assert!(versions("late", 1).iter().all(|version| *version == ("somatic".to_string(), 2)));
    assert!(versions("late", 2).iter().all(|version| *version == ("ggz".to_string(), 1)), "each key group has its own versions");
    assert_conserved(state);
}

#[test]
fn shares_that_do_not_sum_to_exactly_one_are_rejected() {
    let mut scenario = world("1000.00");
    fn propose(shares: &[(&str, &str)]) -> pb::transaction::Kind {
        key_proposed("somatic", 2, "2027-01-01", shares)
    }
    fn sums_to(last: &str) -> [(&str, &str); 4] {
        [("cz", "0.25"), ("menzis", "0.25"), ("vgz", "0.25"), ("zk", last)]
    }
    scenario.rejected("cz", propose(&sums_to("0.2499")), ReasonCode::SharesDoNotSumToOne);
    scenario.rejected("cz", propose(&sums_to("0.2500000000001")), ReasonCode::InvalidShare); // 13 decimals
    scenario.rejected("cz", propose(&sums_to("0.250000000001")), ReasonCode::SharesDoNotSumToOne);
    scenario.rejected("cz", propose(&[("cz", "0.5"), ("menzis", "0.5"), ("vgz", "0")]), ReasonCode::InvalidShare);
    scenario.rejected("cz", propose(&[("cz", "1.5"), ("menzis", "-0.5")]), ReasonCode::InvalidShare);
    scenario.rejected("cz", propose(&[("cz", "half"), ("menzis", "0.5")]), ReasonCode::InvalidShare);
    scenario.rejected("cz", propose(&[("cz", "0.5"), ("cz", "0.5")]), ReasonCode::InvalidShare);
    scenario.rejected("cz", propose(&[("cz", "0.5"), ("achmea", "0.5")]), ReasonCode::UnknownInsurer);
    scenario.rejected("cz", propose(&[]), ReasonCode::Empty);
    scenario.rejected("cz", key_proposed("somatic", 2, "2027-13-01", &sums_to("0.25")), ReasonCode::InvalidDate);
    // Exact decimals: three thirds in 12 decimals do not make 1, and no tolerance applies.
    scenario.rejected(
        "cz",
        propose(&[("cz", "0.333333333333"), ("menzis", "0.333333333333"), ("vgz", "0.333333333333")]),
        ReasonCode::SharesDoNotSumToOne,
    );
    scenario.ok("cz", propose(&[("cz", "0.333333333333"), ("menzis", "0.333333333333"), ("vgz", "0.333333333334")]));
}

#[test]
fn key_versions_come_in_order_and_each_insurer_approves_once() {
    let mut scenario = world("1000.00");
    let shares = [("cz", "0.25"), ("menzis", "0.25"), ("vgz", "0.25"), ("zk", "0.25")];
    scenario.rejected("cz", key_proposed("somatic", 3, "2027-01-01", &shares), ReasonCode::KeyVersionOutOfOrder);
    scenario.rejected("cz", key_proposed("somatic", 1, "2027-01-01", &shares), ReasonCode::KeyVersionOutOfOrder);
    scenario.rejected("cz", key_proposed("dental", 1, "2027-01-01", &shares), ReasonCode::UnknownKey);
    scenario.rejected("vws", key_proposed("somatic", 2, "2027-01-01", &shares), ReasonCode::SignerNotAuthorised);
    scenario.ok("cz", key_proposed("somatic", 2, "2027-01-01", &shares));
    scenario.rejected("cz", key_approved("somatic", 2), ReasonCode::AlreadySigned);
    scenario.rejected("zk", key_approved("somatic", 1), ReasonCode::AlreadySigned);
    scenario.rejected("zk", key_approved("somatic", 3), ReasonCode::UnknownKey);
    scenario.rejected("zk", key_approved("dental", 1), ReasonCode::UnknownKey);
    scenario.rejected("nza", key_approved("somatic", 2), ReasonCode::SignerNotAuthorised);
    scenario.ok("zk", key_approved("somatic", 2));
}

#[test]
fn an_attainment_date_before_any_key_is_rejected() {
    let mut scenario = one_milestone("100.00");
    // The genesis keys apply from 2023-01-01.
    scenario.rejected(COORDINATOR, attained("p", "m1", "2022-12-31"), ReasonCode::NoKeyInForce);
    scenario.rejected(COORDINATOR, attained("p", "m1", "31-03-2026"), ReasonCode::InvalidDate);
    scenario.ok(COORDINATOR, attained("p", "m1", "2023-01-01"));
}

// ------------------------------------------------------------------ who, when and once

#[test]
fn only_the_coordinator_attains_only_the_second_assessor_confirms_and_only_assessors_miss() {
    let mut scenario = one_milestone("100.00");
    scenario.rejected(SECOND, attained("p", "m1", "2026-03-31"), ReasonCode::SignerNotAuthorised);
    scenario.rejected("vws", attained("p", "m1", "2026-03-31"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, confirmed("p", "m1"), ReasonCode::MilestoneNotAttained);
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    scenario.rejected(COORDINATOR, confirmed("p", "m1"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(OUTSIDER, confirmed("p", "m1"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(OUTSIDER, missed("p", "m1"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, confirmed("nothing", "m1"), ReasonCode::UnknownPlan);
    scenario.rejected(SECOND, confirmed("p", "m9"), ReasonCode::UnknownMilestone);
    scenario.rejected(COORDINATOR, missed("p", "m9"), ReasonCode::UnknownMilestone);
    scenario.rejected(COORDINATOR, attained("nothing", "m1", "2026-03-31"), ReasonCode::UnknownPlan);
    scenario.ok(SECOND, confirmed("p", "m1"));
}

#[test]
fn milestones_of_a_plan_that_is_not_approved_cannot_be_attained() {
    let mut scenario = world("1000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.rejected(COORDINATOR, attained("p", "m1", "2026-03-31"), ReasonCode::WrongPlanStatus);
    scenario.rejected(SECOND, missed("p", "m1"), ReasonCode::WrongPlanStatus);
}

#[test]
fn attaining_confirming_or_missing_a_milestone_twice_is_rejected() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00"), simple_milestone("m2", "2026-06-30", "100.00")]));
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    scenario.rejected(COORDINATOR, attained("p", "m1", "2026-03-31"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, attained_fraction("p", "m1", "2026-04-01", "0.5"), ReasonCode::MilestoneAlreadyDecided);
    scenario.ok(SECOND, confirmed("p", "m1"));
    scenario.rejected(SECOND, confirmed("p", "m1"), ReasonCode::MilestoneAlreadyDecided);
    assert_eq!(scenario.ledger.state().obligations.len(), 4, "a second confirmation creates nothing");
    scenario.ok(COORDINATOR, missed("p", "m2"));
    scenario.rejected(COORDINATOR, missed("p", "m2"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, missed("p", "m2"), ReasonCode::MilestoneAlreadyDecided);
}

#[test]
fn a_confirmed_milestone_cannot_be_rescheduled_attained_or_missed() {
    let mut scenario = one_milestone("100.00");
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    let before = scenario.ledger.state().plans["p"].milestones["m1"].clone();
    scenario.rejected(COORDINATOR, rescheduled("p", "m1", "2026-06-30"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, attained("p", "m1", "2026-04-01"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, missed("p", "m1"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, missed("p", "m1"), ReasonCode::MilestoneAlreadyDecided);
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m1"], before);
}

#[test]
fn a_missed_milestone_cannot_be_rescheduled_attained_confirmed_or_missed_again() {
    let mut scenario = one_milestone("100.00");
    scenario.ok(SECOND, missed("p", "m1"));
    scenario.rejected(COORDINATOR, rescheduled("p", "m1", "2026-06-30"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, rescheduled("p", "m1", "2026-06-30"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, attained("p", "m1", "2026-04-01"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, confirmed("p", "m1"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, declined("p", "m1", "too late"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, missed("p", "m1"), ReasonCode::MilestoneAlreadyDecided);
    assert!(scenario.ledger.state().obligations.is_empty());
    assert_eq!(scenario.ledger.state().committed(), eur("0.00"));
}

// ------------------------------------------------------------------ points decided since

#[test]
fn a_payable_total_that_rounds_to_nothing_is_refused_with_advice_to_record_a_miss() {
    let mut scenario = one_milestone("0.10");
    // 0.10 × 0.04 = 0.004 → 0.00; 0.10 × 0.05 = 0.005 → 0.00 (half-even); 0.10 × 0.06 → 0.01.
    for fraction in ["0.04", "0.05"] {
        let message = scenario.rejected(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", fraction), ReasonCode::InvalidFraction);
        assert!(message.contains("rounds to 0.00") && message.contains("missed"), "{message}");
    }
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m1"].status, MilestoneStatus::Planned);
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-03-31", "0.06"));
    scenario.ok(SECOND, confirmed("p", "m1"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("0.01"));
}

#[test]
fn a_second_key_version_with_the_valid_from_of_an_existing_version_is_refused() {
    let mut scenario = one_milestone("1000.00");
    let v2 = [("cz", "0.3"), ("menzis", "0.2"), ("vgz", "0.2"), ("zk", "0.3")];
    let v3 = [("cz", "0.25"), ("menzis", "0.25"), ("vgz", "0.25"), ("zk", "0.25")];
    // The genesis version of the somatic key applies from 2023-01-01.
    let message = scenario.rejected("cz", key_proposed("somatic", 2, "2023-01-01", &v2), ReasonCode::KeyValidFromTaken);
    assert!(message.contains("version 1") && message.contains("2023-01-01"), "{message}");
    scenario.ok("cz", key_proposed("somatic", 2, "2026-07-01", &v2));
    // Also a version not yet approved holds its date.
    scenario.rejected("zk", key_proposed("somatic", 3, "2026-07-01", &v3), ReasonCode::KeyValidFromTaken);
    for insurer in ["menzis", "vgz", "zk"] {
        scenario.ok(insurer, key_approved("somatic", 2));
    }
    scenario.rejected("zk", key_proposed("somatic", 3, "2026-07-01", &v3), ReasonCode::KeyValidFromTaken);
    assert_eq!(scenario.ledger.state().keys["somatic"].len(), 2);
    // Another group keeps its own dates.
    scenario.ok("zk", key_proposed("ggz", 2, "2026-07-01", &v3));
    scenario.ok("zk", key_proposed("somatic", 3, "2026-07-02", &v3));
}

#[test]
fn the_key_is_fixed_at_attainment_and_a_version_approved_later_does_not_change_the_split() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan(
        "p",
        vec![
            milestone("m1", "2026-09-30", vec![line(PROVIDER_A, "msz", "1000.00"), line(PROVIDER_B, "ggz", "1000.00")]),
            simple_milestone("m2", "2026-09-30", "1000.00"),
        ],
    ));
    // Version 2 of the somatic key, valid from 2026-07-01, is proposed but not yet approved.
    let v2 = [("cz", "0.3"), ("menzis", "0.2"), ("vgz", "0.2"), ("zk", "0.3")];
    scenario.ok("cz", key_proposed("somatic", 2, "2026-07-01", &v2));
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-08-01"));
    let MilestoneStatus::Attained { keys, .. } = &scenario.ledger.state().plans["p"].milestones["m1"].status else { panic!("attained") };
    assert_eq!(keys, &[("ggz".to_string(), 1), ("somatic".to_string(), 1)].into(), "one version per key group its lines use");
    // Approved after the attainment, valid from before its date.
    for insurer in ["menzis", "vgz", "zk"] {
        scenario.ok(insurer, key_approved("somatic", 2));
    }
    scenario.ok(SECOND, confirmed_on("p", "m1", "2026-08-15"));
    let state = scenario.ledger.state();
    assert_eq!(
        line_split(state, "p", "m1", 1),
        split(&[("cz", "253.70"), ("menzis", "100.00"), ("vgz", "246.30"), ("zk", "400.00")]),
        "version 1 was the one in force when the milestone was attained"
    );
    assert!(obligations_of(state, "p", "m1").iter().all(|obligation| obligation.key_version == 1));
    // A milestone attained after the approval, on the same date, uses version 2.
    scenario.attain_and_confirm("p", "m2", "2026-08-01");
    let state = scenario.ledger.state();
    assert_eq!(line_split(state, "p", "m2", 1), split(&[("cz", "300.00"), ("menzis", "200.00"), ("vgz", "200.00"), ("zk", "300.00")]));
    assert_conserved(state);
}

#[test]
fn between_attainment_and_confirmation_only_the_second_assessor_acts() {
    let mut scenario = one_milestone("100.00");
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    let attained_state = scenario.ledger.state().plans["p"].milestones["m1"].clone();
    // Nobody records a miss or reschedules an attainment that awaits the second assessor.
    for assessor in [COORDINATOR, SECOND] {
        let message = scenario.rejected(assessor, missed("p", "m1"), ReasonCode::MilestoneAwaitsConfirmation);
        assert!(message.contains("confirms or declines"), "{message}");
        scenario.rejected(assessor, rescheduled("p", "m1", "2026-06-30"), ReasonCode::MilestoneAwaitsConfirmation);
    }
    scenario.rejected(COORDINATOR, declined("p", "m1", "no"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(OUTSIDER, declined("p", "m1", "no"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, declined("p", "m1", "  "), ReasonCode::Empty);
    // A confirmation carries its date, not before the attainment date.
    let message = scenario.rejected(SECOND, confirmed_on("p", "m1", "2026-03-30"), ReasonCode::ConfirmedBeforeAttained);
    assert!(message.contains("2026-03-31"), "{message}");
    scenario.rejected(SECOND, confirmed_on("p", "m1", ""), ReasonCode::InvalidDate);
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m1"], attained_state, "rejections change nothing");
    scenario.ok(SECOND, confirmed_on("p", "m1", "2026-03-31"));
    match scenario.ledger.state().plans["p"].milestones["m1"].status {
        MilestoneStatus::Confirmed { on, confirmed_on, payable } => {
            assert_eq!((on.to_string(), confirmed_on.to_string(), payable), ("2026-03-31".into(), "2026-03-31".into(), eur("100.00")))
        }
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_declined_attainment_reopens_the_milestone_to_attain_again_or_to_miss() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00"), simple_milestone("m2", "2026-06-30", "100.00")]));
    scenario.rejected(SECOND, declined("p", "m1", "nothing to decline"), ReasonCode::MilestoneNotAttained);
    // Declined, attained again at another fraction, confirmed: the second payable counts.
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    scenario.ok(SECOND, declined("p", "m1", "only half of the KPI was reached"));
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m1"].status, MilestoneStatus::Planned);
    assert!(scenario.ledger.state().plans["p"].history.iter().any(|event| event.what.contains("only half of the KPI")));
    scenario.ok(COORDINATOR, attained_fraction("p", "m1", "2026-04-02", "0.5"));
    scenario.ok(SECOND, confirmed_on("p", "m1", "2026-04-10"));
    assert_eq!(payable_of(&scenario, "p", "m1"), eur("50.00"));
    // Declined, then recorded as missed by either assessor: its amount is released.
    scenario.ok(COORDINATOR, attained("p", "m2", "2026-06-30"));
    scenario.ok(SECOND, declined("p", "m2", "the KPI was not reached"));
    scenario.ok(COORDINATOR, missed("p", "m2"));
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m2"].status, MilestoneStatus::Missed);
    assert_eq!(scenario.ledger.state().committed(), eur("50.00"));
    assert_conserved(scenario.ledger.state());
}

#[test]
fn an_evidence_hash_must_be_sha256_sized() {
    let mut scenario = one_milestone("100.00");
    let short = match attained("p", "m1", "2026-03-31") {
        pb::transaction::Kind::MilestoneAttained(body) => {
            pb::transaction::Kind::MilestoneAttained(pb::MilestoneAttained { evidence_sha256: vec![0; 31], ..body })
        }
        _ => unreachable!(),
    };
    scenario.rejected(COORDINATOR, short, ReasonCode::MalformedTransaction);
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    assert_eq!(scenario.ledger.state().plans["p"].milestones["m1"].evidence_sha256, vec![hex_of(&[1; 32])]);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ------------------------------------------------------------------ conservation, at random

#[derive(Debug, Clone)]
enum Payout {
    Fraction(u32, u32), // numerator / 10^decimals
    Actual(i64),        // a seed for 1 + seed mod amount
}

fn lines_strategy() -> impl Strategy<Value = Vec<(usize, i64)>> {
    // (sector index, cents): small amounts often, so that zero parts and ties occur.
    proptest::collection::vec((0_usize..4, prop_oneof![1_i64..=500, 1_i64..=100_000_000_000]), 1..=6)
}

fn payout_strategy() -> impl Strategy<Value = Payout> {
    prop_oneof![
        (0_u32..=6).prop_flat_map(|decimals| (1..=10_u32.pow(decimals)).prop_map(move |numerator| Payout::Fraction(numerator, decimals))),
        any::<i64>().prop_map(Payout::Actual),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Through the real ledger: whatever the lines and payout, the obligations add up to the
    /// payable total to the cent, line by line, and the payable total is the half-even
    /// rounding of amount × fraction (or the stated amount on actual costs).
    #[test]
    fn every_confirmed_milestone_conserves_every_cent(lines in lines_strategy(), payout in payout_strategy()) {
        const SECTORS: [&str; 4] = ["msz", "ggz", "hamdz", "wijk"];
        let mut scenario = world("100000000000.00");
        let pb_lines: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(number, (sector, cents))| {
                let beneficiary = if number % 2 == 0 { PROVIDER_A } else { PROVIDER_B };
                line(beneficiary, SECTORS[*sector], &Amount::from_cents(*cents).to_string())
            })
            .collect();
        scenario.approve_plan(plan("p", vec![milestone("m1", "2026-03-31", pb_lines)]));
        let total: i64 = lines.iter().map(|(_, cents)| cents).sum();
        let expected = match payout {
            Payout::Fraction(numerator, decimals) => {
                let fraction = Decimal::new(i64::from(numerator), decimals);
                let exact = Decimal::new(total, 2) * fraction;
                let rounded = exact.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
                let kind = attained_fraction("p", "m1", "2026-03-31", &fraction.to_string());
                if rounded.is_zero() {
                    scenario.rejected(COORDINATOR, kind, ReasonCode::InvalidFraction);
                    return Ok(());
                }
                scenario.ok(COORDINATOR, kind);
                Amount::from_decimal(rounded).unwrap()
            }
            Payout::Actual(seed) => {
                let payable = Amount::from_cents(1 + seed.rem_euclid(total));
                scenario.ok(COORDINATOR, attained_actual("p", "m1", "2026-03-31", payable.micros()));
                payable
            }
        };
        scenario.ok(SECOND, confirmed("p", "m1"));
        let state = scenario.ledger.state();
        prop_assert_eq!(state.obligations.values().map(|obligation| obligation.amount).sum::<Amount>(), expected);
        // Each line's payable is within a cent of its exact proportional part.
        for line in &state.plans["p"].milestones["m1"].lines {
            let exact = Decimal::from(line.amount.cents()) * Decimal::from(expected.cents()) / Decimal::from(total);
            let difference = (Decimal::from(line.payable.cents()) - exact).abs();
            prop_assert!(difference < Decimal::ONE, "line {} of {} pays {} for exact {} cents", line.amount, total, line.payable, exact);
        }
        assert_conserved(state);
    }
}

/// Issue 16: rejections and history are read by people; they say "confirmed on
/// 2026-04-10 (attained 2026-03-31), payable 10000.00", never `Confirmed { on: Date { … } }`,
/// and an assessment reads "approved", not `Approve ()`.
#[test]
fn rejections_and_history_speak_in_domain_words_not_rust_debug_text() {
    let mut scenario = one_milestone("10000.00");
    scenario.ok(COORDINATOR, attained("p", "m1", "2026-03-31"));
    scenario.ok(SECOND, confirmed_on("p", "m1", "2026-04-10"));
    let mut messages = vec![
        scenario.rejected(COORDINATOR, rescheduled("p", "m1", "2026-06-30"), ReasonCode::MilestoneAlreadyDecided),
        scenario.rejected(COORDINATOR, attained("p", "m1", "2026-03-31"), ReasonCode::MilestoneAlreadyDecided),
        scenario.rejected(SECOND, assessed("p", 1, pb::Assessment::Approve), ReasonCode::WrongPlanStatus),
    ];
    assert!(messages[0].contains("is confirmed on 2026-04-10 (attained 2026-03-31), payable 10000.00"), "{}", messages[0]);
    messages.extend(scenario.ledger.state().plans["p"].history.iter().map(|event| event.what.clone()));
    messages.extend(scenario.ledger.state().quick_tests["p"].history.iter().map(|event| event.what.clone()));
    assert!(messages.iter().any(|message| message.contains("assessed: approved")), "{messages:#?}");
    for message in &messages {
        for debug in ["{", "}", "()", "Date", "Amount(", "Confirmed", "Approve", "Submitted", "Passed"] {
            assert!(!message.contains(debug), "'{debug}' in: {message}");
        }
    }
}
