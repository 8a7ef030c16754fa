//! Plans from quick test to cancellation: validation of what a plan may say, the status
//! machine of its two assessors (escalation, return with questions, versions), addenda,
//! rescheduling and cancellation.

mod common;

use common::*;
use fairshare_protocol::pb::{self, transaction::Kind, Assessment};
use fairshare_protocol::state::{AssessmentStatus, Funding, MilestoneStatus};
use fairshare_protocol::testing::Scenario;

fn status(scenario: &Scenario, plan: &str) -> AssessmentStatus {
    scenario.ledger.state().plans[plan].main().status
}

fn funding(scenario: &Scenario, plan: &str) -> Funding {
    scenario.ledger.state().plans[plan].main().funding
}

// ------------------------------------------------------------------ what a plan may say

#[test]
fn a_plan_running_over_five_years_is_rejected() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("long", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("long", pb::QuickTestOutcome::Passed));
    // Starts 2026-01-01: five years end on 2031-01-01; a day later is too long.
    let too_long = plan("long", vec![simple_milestone("m1", "2026-06-30", "10.00"), simple_milestone("m2", "2031-01-02", "10.00")]);
    let message = scenario.rejected(COORDINATOR, Kind::PlanSubmitted(too_long), ReasonCode::PlanTooLong);
    assert!(message.contains("2031-01-02"), "{message}");
    let five_years = plan("long", vec![simple_milestone("m1", "2026-06-30", "10.00"), simple_milestone("m2", "2031-01-01", "10.00")]);
    scenario.ok(COORDINATOR, Kind::PlanSubmitted(five_years));
}

#[test]
fn a_milestone_due_before_the_plan_starts_is_an_invalid_date() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("early", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("early", pb::QuickTestOutcome::Passed));
    let early = plan("early", vec![simple_milestone("m1", "2025-12-31", "10.00")]);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(early), ReasonCode::InvalidDate);
    let bad_date = plan("early", vec![simple_milestone("m1", "2026-02-30", "10.00")]);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(bad_date), ReasonCode::InvalidDate);
    let bad_start = pb::PlanSubmitted { start: "1-1-2026".into(), ..plan("early", vec![simple_milestone("m1", "2026-03-31", "10.00")]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(bad_start), ReasonCode::InvalidDate);
}

#[test]
fn zero_negative_and_three_decimal_line_amounts_are_rejected_never_rounded() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("amounts", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("amounts", pb::QuickTestOutcome::Passed));
    let with_line_micros = |amount_micros: i64| {
        let mut line = line(PROVIDER_A, "msz", "1.00");
        line.amount_micros = amount_micros;
        Kind::PlanSubmitted(plan("amounts", vec![milestone("m1", "2026-03-31", vec![line])]))
    };
    scenario.rejected(COORDINATOR, with_line_micros(0), ReasonCode::InvalidAmount);
    scenario.rejected(COORDINATOR, with_line_micros(-10_000), ReasonCode::InvalidAmount);
    scenario.rejected(COORDINATOR, with_line_micros(-1_000_000), ReasonCode::InvalidAmount);
    // 1_234_560 micro-euros is 1.23456 euros: a third decimal is an error, not rounded to 1.23.
    let message = scenario.rejected(COORDINATOR, with_line_micros(1_234_560), ReasonCode::TooManyDecimals);
    assert!(message.contains("1.23456"), "{message}");
    scenario.rejected(COORDINATOR, with_line_micros(1_005_000), ReasonCode::TooManyDecimals);
    scenario.rejected(COORDINATOR, with_line_micros(1), ReasonCode::TooManyDecimals);
    scenario.ok(COORDINATOR, with_line_micros(1_230_000));
    assert_eq!(scenario.ledger.state().plans["amounts"].milestones["m1"].amount, eur("1.23"));
}

#[test]
fn a_plan_naming_unregistered_parties_or_unknown_sectors_is_rejected() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("p", pb::QuickTestOutcome::Passed));
    let with_line = |line: pb::MilestoneLine| Kind::PlanSubmitted(plan("p", vec![milestone("m1", "2026-03-31", vec![line])]));
    scenario.rejected(COORDINATOR, with_line(line("agb:99999999", "msz", "10.00")), ReasonCode::UnknownParty);
    scenario.rejected(COORDINATOR, with_line(line_via(PROVIDER_A, "kvk:99999999", "msz", "10.00")), ReasonCode::UnknownParty);
    scenario.rejected(COORDINATOR, with_line(line("provider-a", "msz", "10.00")), ReasonCode::InvalidIdentifier);
    scenario.rejected(COORDINATOR, with_line(line(PROVIDER_A, "dentistry", "10.00")), ReasonCode::UnknownSector);
    // Parties must be registered before plans name them; then the same plan applies.
    scenario.ok(OUTSIDER, party("agb:99999999", pb::PartyKind::Provider));
    scenario.ok(COORDINATOR, with_line(line("agb:99999999", "msz", "10.00")));
}

#[test]
fn a_plan_needs_milestones_lines_a_title_and_valid_ids() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
    scenario.ok(SECOND, quick_test_decided("p", pb::QuickTestOutcome::Passed));
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![])), ReasonCode::Empty);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![milestone("m1", "2026-03-31", vec![])])), ReasonCode::Empty);
    let untitled = pb::PlanSubmitted { title: " ".into(), ..plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(untitled), ReasonCode::Empty);
    let twice = plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00"), simple_milestone("m1", "2026-06-30", "1.00")]);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(twice), ReasonCode::AlreadyExists);
    let bad_id = plan("p", vec![simple_milestone("M 1", "2026-03-31", "1.00")]);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(bad_id), ReasonCode::InvalidIdentifier);
    let mut no_kind = simple_milestone("m1", "2026-03-31", "1.00");
    no_kind.kind = pb::MilestoneKind::Unspecified as i32;
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![no_kind])), ReasonCode::MalformedTransaction);
    let short_hash =
        pb::PlanSubmitted { evidence_sha256: vec![vec![1, 2, 3]], ..plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(short_hash), ReasonCode::MalformedTransaction);
    let long_title = pb::PlanSubmitted { title: "x".repeat(fairshare_protocol::TEXT_BYTES_MAX + 1), ..plan("p", vec![]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(long_title), ReasonCode::LimitExceeded);
    let too_many: Vec<_> =
        (0..=fairshare_protocol::PLAN_MILESTONES_MAX).map(|n| simple_milestone(&format!("m{n}"), "2026-03-31", "1.00")).collect();
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(plan("p", too_many)), ReasonCode::LimitExceeded);
    scenario.ok(COORDINATOR, Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")])));
}

// ------------------------------------------------------------------ the quick test

#[test]
fn a_full_plan_needs_a_passed_quick_test_with_the_same_assessors() {
    let mut scenario = world("1000000.00");
    let body = || Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.rejected(COORDINATOR, body(), ReasonCode::QuickTestRequired);
    scenario.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
    scenario.rejected(COORDINATOR, body(), ReasonCode::QuickTestRequired);
    scenario.rejected(OUTSIDER, quick_test_decided("p", pb::QuickTestOutcome::Passed), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, quick_test_decided("p", pb::QuickTestOutcome::Unspecified), ReasonCode::MalformedTransaction);
    scenario.ok(SECOND, quick_test_decided("p", pb::QuickTestOutcome::Passed));
    scenario.rejected(COORDINATOR, quick_test_decided("p", pb::QuickTestOutcome::Failed), ReasonCode::WrongPlanStatus);
    let other_assessor =
        pb::PlanSubmitted { second_assessor: OUTSIDER.into(), ..plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(other_assessor), ReasonCode::AssessorsInvalid);
    let version_two = pb::PlanSubmitted { version: 2, ..plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")]) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(version_two), ReasonCode::VersionMismatch);
    scenario.rejected(SECOND, body(), ReasonCode::SignerNotAuthorised);
    scenario.ok(COORDINATOR, body());
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Submitted);
    assert_eq!(funding(&scenario, "p"), Funding::None);
}

#[test]
fn a_failed_quick_test_stops_the_plan() {
    let mut scenario = world("1000000.00");
    scenario.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
    scenario.ok(COORDINATOR, quick_test_decided("p", pb::QuickTestOutcome::Failed));
    scenario.rejected(
        COORDINATOR,
        Kind::PlanSubmitted(plan("p", vec![simple_milestone("m1", "2026-03-31", "1.00")])),
        ReasonCode::QuickTestRequired,
    );
    scenario.rejected(COORDINATOR, quick_test("p", COORDINATOR, SECOND), ReasonCode::AlreadyExists);
}

#[test]
fn a_quick_test_names_two_distinct_insurers_and_is_signed_by_the_coordinator() {
    let mut scenario = world("1000000.00");
    scenario.rejected(COORDINATOR, quick_test("p", COORDINATOR, COORDINATOR), ReasonCode::AssessorsInvalid);
    scenario.rejected(COORDINATOR, quick_test("p", COORDINATOR, "achmea"), ReasonCode::UnknownInsurer);
    scenario.rejected("nza", quick_test("p", "nza", SECOND), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, quick_test("p", COORDINATOR, SECOND), ReasonCode::SignerNotAuthorised);
    scenario.rejected(COORDINATOR, quick_test("P!", COORDINATOR, SECOND), ReasonCode::InvalidIdentifier);
    scenario.rejected(OUTSIDER, quick_test_decided("nothing", pb::QuickTestOutcome::Passed), ReasonCode::UnknownPlan);
    scenario.ok(COORDINATOR, quick_test("p", COORDINATOR, SECOND));
}

// ------------------------------------------------------------------ assessment

#[test]
fn both_assessors_approving_commits_the_plan_against_the_fund() {
    let mut scenario = world("1000000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00"), simple_milestone("m2", "2026-06-30", "50.00")]));
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Submitted, "one approval is not enough");
    assert_eq!(scenario.ledger.state().committed(), eur("0.00"));
    scenario.rejected(COORDINATOR, assessed("p", 1, Assessment::Approve), ReasonCode::AlreadySigned);
    scenario.rejected(OUTSIDER, assessed("p", 1, Assessment::Approve), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, assessed("p", 1, Assessment::Unspecified), ReasonCode::MalformedTransaction);
    scenario.rejected(SECOND, assessed("p", 2, Assessment::Approve), ReasonCode::VersionMismatch);
    scenario.rejected(SECOND, assessed("nothing", 1, Assessment::Approve), ReasonCode::UnknownPlan);
    scenario.ok(SECOND, assessed("p", 1, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Approved);
    assert_eq!(funding(&scenario, "p"), Funding::Funded);
    assert_eq!(scenario.ledger.state().committed(), eur("150.00"));
    assert_eq!(scenario.ledger.state().free(), eur("999850.00"));
    scenario.rejected(SECOND, assessed("p", 1, Assessment::Reject), ReasonCode::WrongPlanStatus);
}

#[test]
fn disagreeing_assessors_escalate_and_reassess_until_they_agree() {
    let mut scenario = world("1000000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    scenario.ok(SECOND, assessed("p", 1, Assessment::Reject));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Escalated);
    assert_eq!(funding(&scenario, "p"), Funding::None);
    // While escalated either may re-assess, as often as it takes.
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Escalated);
    scenario.ok(SECOND, assessed("p", 1, Assessment::Reject));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Escalated);
    scenario.ok(SECOND, assessed("p", 1, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Approved);
    assert_eq!(funding(&scenario, "p"), Funding::Funded);
    assert_eq!(scenario.ledger.state().committed(), eur("100.00"));
    let history: Vec<_> = scenario.ledger.state().plans["p"].history.iter().map(|event| event.what.clone()).collect();
    assert!(history.iter().any(|what| what.ends_with("now escalated")), "{history:?}");
}

#[test]
fn escalated_assessors_can_also_agree_to_reject() {
    let mut scenario = world("1000000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.ok(SECOND, assessed("p", 1, Assessment::Reject));
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Escalated);
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Reject));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Rejected);
    assert_eq!(scenario.ledger.state().committed(), eur("0.00"));
    // A rejected plan is final and recorded for the monitor.
    scenario.rejected(COORDINATOR, assessed("p", 1, Assessment::Approve), ReasonCode::WrongPlanStatus);
    scenario.rejected(COORDINATOR, cancelled("p"), ReasonCode::WrongPlanStatus);
    let monitor = fairshare_protocol::query::monitor(scenario.ledger.state(), scenario.ledger.genesis(), Default::default());
    assert_eq!(monitor.plans_by_status.get("rejected"), Some(&1));
}

#[test]
fn a_returned_plan_is_revised_as_version_two_and_then_approved() {
    let mut scenario = world("1000000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    scenario.ok(SECOND, assessed("p", 1, Assessment::Return));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Returned);
    scenario.rejected(COORDINATOR, assessed("p", 1, Assessment::Approve), ReasonCode::WrongPlanStatus);

    let revision = |version: u32| pb::PlanSubmitted {
        version,
        title: "plan p, answers to the questions".into(),
        ..plan("p", vec![simple_milestone("m1", "2026-03-31", "80.00"), simple_milestone("m2", "2026-09-30", "40.00")])
    };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(revision(3)), ReasonCode::VersionMismatch);
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(revision(1)), ReasonCode::VersionMismatch);
    scenario.rejected(SECOND, Kind::PlanSubmitted(revision(2)), ReasonCode::SignerNotAuthorised);
    let new_assessor = pb::PlanSubmitted { second_assessor: OUTSIDER.into(), ..revision(2) };
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(new_assessor), ReasonCode::AssessorsInvalid);
    scenario.ok(COORDINATOR, Kind::PlanSubmitted(revision(2)));

    let plan = &scenario.ledger.state().plans["p"];
    assert_eq!((plan.version, plan.main().status), (2, AssessmentStatus::Submitted));
    assert!(plan.main().assessments.is_empty(), "a new version is assessed afresh");
    assert_eq!(plan.milestones.len(), 2, "a revision replaces the content");
    scenario.rejected(SECOND, assessed("p", 1, Assessment::Approve), ReasonCode::VersionMismatch);
    scenario.ok(SECOND, assessed("p", 2, Assessment::Approve));
    scenario.ok(COORDINATOR, assessed("p", 2, Assessment::Approve));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Approved);
    assert_eq!(scenario.ledger.state().committed(), eur("120.00"));
    scenario.rejected(COORDINATOR, Kind::PlanSubmitted(revision(3)), ReasonCode::WrongPlanStatus);
    let summary = fairshare_protocol::query::plans(scenario.ledger.state());
    assert_eq!((summary[0].version, summary[0].status.as_str(), summary[0].total), (2, "approved", eur("120.00")));
}

// ------------------------------------------------------------------ addenda

#[test]
fn an_addendum_is_assessed_like_a_plan_and_funded_on_its_own() {
    let mut scenario = world("1000000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    let extra = || addendum("p", "utrecht-west", vec![milestone("w1", "2026-09-30", vec![line(PROVIDER_B, "wijk", "30.00")])]);
    scenario.rejected(COORDINATOR, extra(), ReasonCode::WrongPlanStatus);
    scenario.ok(COORDINATOR, assessed("p", 1, Assessment::Approve));
    scenario.ok(SECOND, assessed("p", 1, Assessment::Approve));

    scenario.rejected(SECOND, extra(), ReasonCode::SignerNotAuthorised);
    scenario.rejected(OUTSIDER, extra(), ReasonCode::SignerNotAuthorised);
    scenario.rejected(COORDINATOR, addendum("nothing", "a", vec![simple_milestone("w1", "2026-09-30", "1.00")]), ReasonCode::UnknownPlan);
    scenario.rejected(COORDINATOR, addendum("p", "clash", vec![simple_milestone("m1", "2026-09-30", "1.00")]), ReasonCode::AlreadyExists);
    scenario.rejected(COORDINATOR, addendum("p", "late", vec![simple_milestone("w1", "2031-06-30", "1.00")]), ReasonCode::PlanTooLong);
    scenario.ok(COORDINATOR, extra());
    scenario.rejected(COORDINATOR, extra(), ReasonCode::AlreadyExists);
    assert_eq!(scenario.ledger.state().committed(), eur("100.00"), "a submitted addendum commits nothing");
    scenario.rejected(COORDINATOR, attained("p", "w1", "2026-09-30"), ReasonCode::WrongPlanStatus);

    scenario.ok(COORDINATOR, addendum_assessed("p", "utrecht-west", Assessment::Approve));
    scenario.ok(SECOND, addendum_assessed("p", "utrecht-west", Assessment::Reject));
    assert_eq!(scenario.ledger.state().plans["p"].units["utrecht-west"].status, AssessmentStatus::Escalated);
    scenario.rejected(SECOND, addendum_assessed("p", "other", Assessment::Approve), ReasonCode::UnknownPlan);
    scenario.ok(SECOND, addendum_assessed("p", "utrecht-west", Assessment::Approve));
    let unit = &scenario.ledger.state().plans["p"].units["utrecht-west"];
    assert_eq!((unit.status, unit.funding), (AssessmentStatus::Approved, Funding::Funded));
    assert_eq!(scenario.ledger.state().committed(), eur("130.00"));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Approved, "the plan itself is untouched");

    scenario.attain_and_confirm("p", "w1", "2026-09-30");
    assert_eq!(
        obligations_of(scenario.ledger.state(), "p", "w1").iter().map(|o| o.amount).sum::<fairshare_protocol::Amount>(),
        eur("30.00")
    );
    assert_conserved(scenario.ledger.state());
}

// ------------------------------------------------------------------ rescheduling

#[test]
fn a_reschedule_takes_effect_only_when_both_assessors_ask_for_the_same_date() {
    let mut scenario = world("1000000.00");
    scenario.approve_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    let due = |scenario: &Scenario| scenario.ledger.state().plans["p"].milestones["m1"].due.to_string();

    scenario.ok(COORDINATOR, rescheduled("p", "m1", "2026-06-30"));
    assert_eq!(due(&scenario), "2026-03-31", "one assessor cannot move a milestone");
    scenario.rejected(COORDINATOR, rescheduled("p", "m1", "2026-06-30"), ReasonCode::AlreadySigned);
    scenario.rejected(OUTSIDER, rescheduled("p", "m1", "2026-06-30"), ReasonCode::SignerNotAuthorised);
    scenario.rejected(SECOND, rescheduled("p", "m9", "2026-06-30"), ReasonCode::UnknownMilestone);
    scenario.rejected(SECOND, rescheduled("nothing", "m1", "2026-06-30"), ReasonCode::UnknownPlan);
    scenario.rejected(SECOND, rescheduled("p", "m1", "2031-01-02"), ReasonCode::PlanTooLong);
    scenario.rejected(SECOND, rescheduled("p", "m1", "2025-12-31"), ReasonCode::InvalidDate);
    scenario.ok(SECOND, rescheduled("p", "m1", "2026-09-30"));
    assert_eq!(due(&scenario), "2026-03-31", "two different dates are two requests");
    scenario.ok(SECOND, rescheduled("p", "m1", "2026-06-30"));
    assert_eq!(due(&scenario), "2026-06-30");
    assert!(scenario.ledger.state().plans["p"].pending_reschedules.is_empty(), "the other request lapses");
}

// ------------------------------------------------------------------ cancellation

#[test]
fn cancellation_needs_both_assessors_and_releases_what_was_committed_but_not_payable() {
    let mut scenario = world("1000.00");
    scenario.approve_plan(plan(
        "p",
        vec![
            simple_milestone("m1", "2026-03-31", "100.00"),
            simple_milestone("m2", "2026-06-30", "200.00"),
            simple_milestone("m3", "2026-09-30", "300.00"),
        ],
    ));
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    scenario.ok(COORDINATOR, attained("p", "m2", "2026-06-30"));
    assert_eq!(scenario.ledger.state().committed(), eur("600.00"));

    scenario.rejected(OUTSIDER, cancelled("p"), ReasonCode::SignerNotAuthorised);
    scenario.ok(COORDINATOR, cancelled("p"));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Approved, "one assessor cannot cancel");
    assert_eq!(scenario.ledger.state().committed(), eur("600.00"));
    scenario.rejected(COORDINATOR, cancelled("p"), ReasonCode::AlreadySigned);
    scenario.ok(SECOND, cancelled("p"));

    let state = scenario.ledger.state();
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Cancelled);
    assert_eq!(state.committed(), eur("100.00"), "only the confirmed milestone stays committed");
    assert_eq!(state.free(), eur("900.00"));
    assert_eq!(state.plans["p"].milestones["m2"].status, MilestoneStatus::Cancelled, "attained but unconfirmed is released");
    assert_eq!(state.plans["p"].milestones["m3"].status, MilestoneStatus::Cancelled);
    assert_eq!(obligations_of(state, "p", "m1").len(), 4, "obligations stand: no clawback");

    scenario.rejected(SECOND, confirmed("p", "m2"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(COORDINATOR, attained("p", "m3", "2026-09-30"), ReasonCode::MilestoneAlreadyDecided);
    scenario.rejected(SECOND, cancelled("p"), ReasonCode::WrongPlanStatus);
    scenario.rejected(SECOND, rescheduled("p", "m3", "2026-12-31"), ReasonCode::WrongPlanStatus);
    // What was payable is still paid.
    scenario.ok("zk", paid("zk-1", &[(&obligation("p", "m1", 1, "zk"), "40.00")], "2026-04-15"));
    assert_conserved(scenario.ledger.state());
}

#[test]
fn a_plan_not_yet_approved_can_be_cancelled_and_then_commits_nothing() {
    let mut scenario = world("1000.00");
    scenario.submit_plan(plan("p", vec![simple_milestone("m1", "2026-03-31", "100.00")]));
    scenario.ok(SECOND, cancelled("p"));
    scenario.ok(COORDINATOR, cancelled("p"));
    assert_eq!(status(&scenario, "p"), AssessmentStatus::Cancelled);
    scenario.rejected(COORDINATOR, assessed("p", 1, Assessment::Approve), ReasonCode::WrongPlanStatus);
    assert_eq!(scenario.ledger.state().committed(), eur("0.00"));
}
