//! Shared fixtures for the acceptance tests: transaction builders in the words of the
//! business, a standard cast (two assessors, an outsider, providers, a cashier), and the
//! conservation check that every scenario ends with.
//!
//! Every test file compiles this module on its own and uses part of it.
#![allow(dead_code, unused_imports)]

use fairshare_protocol::amount::Amount;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::state::{LedgerState, MilestoneStatus, Obligation};
use fairshare_protocol::testing::Scenario;
use fairshare_protocol::Verdict;

pub use fairshare_protocol::pb::ReasonCode;

/// The coordinating insurer of the standard plans.
pub const COORDINATOR: &str = "zk";
/// The second assessor of the standard plans.
pub const SECOND: &str = "vgz";
/// An insurer that assesses nothing in the standard plans (it still pays its fair share).
pub const OUTSIDER: &str = "cz";
pub const MINISTRY: &str = "vws";
pub const REGULATOR: &str = "nza";

pub const PROVIDER_A: &str = "agb:00000001";
pub const PROVIDER_B: &str = "agb:00000002";
pub const CASHIER: &str = "kvk:00000003";
pub const MUNICIPALITY: &str = "kvk:00000004";

pub const REGION: &str = "roaz-utrecht";
pub const THEME: &str = "acute-care";

/// Euros as written ("1000.06") to an amount; panics on a typo in the test itself.
pub fn eur(text: &str) -> Amount {
    text.parse().unwrap_or_else(|error| panic!("test amount '{text}': {error}"))
}

/// Euros as written to the wire's micro-euros.
pub fn micros(text: &str) -> i64 {
    eur(text).micros()
}

// ------------------------------------------------------------------ the cast

/// A ledger with the standard parties registered, and a fund of `fund` euros.
pub fn world(fund: &str) -> Scenario {
    let mut scenario = Scenario::new(fund);
    for (id, kind) in [
        (PROVIDER_A, pb::PartyKind::Provider),
        (PROVIDER_B, pb::PartyKind::Provider),
        (CASHIER, pb::PartyKind::Cashier),
        (MUNICIPALITY, pb::PartyKind::Municipality),
    ] {
        scenario.ok(COORDINATOR, party(id, kind));
    }
    scenario
}

pub fn party(id: &str, kind: pb::PartyKind) -> Kind {
    Kind::PartyRegistered(pb::PartyRegistered { party: id.into(), kind: kind as i32, name: format!("party {id}"), iban: String::new() })
}

// ------------------------------------------------------------------ plans

pub fn line(beneficiary: &str, sector: &str, euros: &str) -> pb::MilestoneLine {
    pb::MilestoneLine { beneficiary: beneficiary.into(), payee: String::new(), sector: sector.into(), amount_micros: micros(euros) }
}

/// A line paid to a payee other than the beneficiary (a cashier, a municipality).
pub fn line_via(beneficiary: &str, payee: &str, sector: &str, euros: &str) -> pb::MilestoneLine {
    pb::MilestoneLine { payee: payee.into(), ..line(beneficiary, sector, euros) }
}

pub fn milestone(id: &str, due: &str, lines: Vec<pb::MilestoneLine>) -> pb::Milestone {
    pb::Milestone { id: id.into(), title: format!("milestone {id}"), kind: pb::MilestoneKind::Result as i32, due: due.into(), lines }
}

/// A milestone of one line of `euros` for provider A in sector msz.
pub fn simple_milestone(id: &str, due: &str, euros: &str) -> pb::Milestone {
    milestone(id, due, vec![line(PROVIDER_A, "msz", euros)])
}

pub fn quick_test(plan: &str, coordinating: &str, second: &str) -> Kind {
    Kind::QuickTestSubmitted(pb::QuickTestSubmitted {
        plan: plan.into(),
        title: format!("quick test {plan}"),
        region: REGION.into(),
        theme: THEME.into(),
        coordinating_insurer: coordinating.into(),
        second_assessor: second.into(),
        estimated_total_micros: 0,
    })
}

pub fn quick_test_decided(plan: &str, outcome: pb::QuickTestOutcome) -> Kind {
    Kind::QuickTestDecided(pb::QuickTestDecided { plan: plan.into(), outcome: outcome as i32, note: String::new() })
}

/// Version 1 of a plan by the standard assessors, starting 2026-01-01, theme [`THEME`].
pub fn plan(id: &str, milestones: Vec<pb::Milestone>) -> pb::PlanSubmitted {
    pb::PlanSubmitted {
        plan: id.into(),
        version: 1,
        title: format!("plan {id}"),
        region: REGION.into(),
        theme: THEME.into(),
        coordinating_insurer: COORDINATOR.into(),
        second_assessor: SECOND.into(),
        start: "2026-01-01".into(),
        milestones,
        evidence_sha256: vec![[7_u8; 32].to_vec()],
    }
}

pub fn assessed(plan: &str, version: u32, assessment: pb::Assessment) -> Kind {
    Kind::PlanAssessed(pb::PlanAssessed {
        plan: plan.into(),
        version,
        addendum: String::new(),
        assessment: assessment as i32,
        note: String::new(),
    })
}

pub fn addendum_assessed(plan: &str, addendum: &str, assessment: pb::Assessment) -> Kind {
    Kind::PlanAssessed(pb::PlanAssessed {
        plan: plan.into(),
        version: 0,
        addendum: addendum.into(),
        assessment: assessment as i32,
        note: String::new(),
    })
}

pub fn addendum(plan: &str, addendum: &str, milestones: Vec<pb::Milestone>) -> Kind {
    Kind::AddendumSubmitted(pb::AddendumSubmitted {
        plan: plan.into(),
        addendum: addendum.into(),
        title: format!("addendum {addendum}"),
        milestones,
        evidence_sha256: Vec::new(),
    })
}

pub fn rescheduled(plan: &str, milestone: &str, new_due: &str) -> Kind {
    Kind::MilestoneRescheduled(pb::MilestoneRescheduled {
        plan: plan.into(),
        milestone: milestone.into(),
        new_due: new_due.into(),
        reason: "planning changed".into(),
    })
}

pub fn cancelled(plan: &str) -> Kind {
    Kind::PlanCancelled(pb::PlanCancelled { plan: plan.into(), reason: "no-go after phase 1".into() })
}

pub trait ScenarioExt {
    /// Quick test submitted and passed, version 1 submitted: waiting for assessment.
    fn submit_plan(&mut self, body: pb::PlanSubmitted);
    /// [`ScenarioExt::submit_plan`] and both assessors approve (funded or queued).
    fn approve_plan(&mut self, body: pb::PlanSubmitted);
    /// Attained in full on `on` by the coordinator, confirmed by the second assessor.
    fn attain_and_confirm(&mut self, plan: &str, milestone: &str, on: &str);
}

impl ScenarioExt for Scenario {
    #[track_caller]
    fn submit_plan(&mut self, body: pb::PlanSubmitted) {
        let (coordinating, second) = (body.coordinating_insurer.clone(), body.second_assessor.clone());
        self.ok(&coordinating, quick_test(&body.plan, &coordinating, &second));
        self.ok(&second, quick_test_decided(&body.plan, pb::QuickTestOutcome::Passed));
        self.ok(&coordinating, Kind::PlanSubmitted(body));
    }

    #[track_caller]
    fn approve_plan(&mut self, body: pb::PlanSubmitted) {
        let (id, version) = (body.plan.clone(), body.version);
        let (coordinating, second) = (body.coordinating_insurer.clone(), body.second_assessor.clone());
        self.submit_plan(body);
        self.ok(&coordinating, assessed(&id, version, pb::Assessment::Approve));
        self.ok(&second, assessed(&id, version, pb::Assessment::Approve));
    }

    #[track_caller]
    fn attain_and_confirm(&mut self, plan: &str, milestone: &str, on: &str) {
        let (coordinating, second) = {
            let found = &self.ledger.state().plans[plan];
            (found.coordinating_insurer.clone(), found.second_assessor.clone())
        };
        self.ok(&coordinating, attained(plan, milestone, on));
        self.ok(&second, confirmed_on(plan, milestone, on));
    }
}

// ------------------------------------------------------------------ milestones

pub fn attained(plan: &str, milestone: &str, on: &str) -> Kind {
    Kind::MilestoneAttained(pb::MilestoneAttained {
        plan: plan.into(),
        milestone: milestone.into(),
        attained_on: on.into(),
        payout_fraction: String::new(),
        payable_micros: 0,
        evidence_sha256: [1_u8; 32].to_vec(),
        note: String::new(),
    })
}

pub fn attained_fraction(plan: &str, milestone: &str, on: &str, fraction: &str) -> Kind {
    let Kind::MilestoneAttained(body) = attained(plan, milestone, on) else { unreachable!() };
    Kind::MilestoneAttained(pb::MilestoneAttained { payout_fraction: fraction.into(), ..body })
}

/// Payment on actual costs (nacalculatie): the payable amount stated in micro-euros.
pub fn attained_actual(plan: &str, milestone: &str, on: &str, payable_micros: i64) -> Kind {
    let Kind::MilestoneAttained(body) = attained(plan, milestone, on) else { unreachable!() };
    Kind::MilestoneAttained(pb::MilestoneAttained { payable_micros, ..body })
}

/// The confirmation date [`confirmed`] uses: after every attainment date in these tests.
pub const CONFIRMED_ON: &str = "2031-12-31";

/// Confirmed by the second assessor on [`CONFIRMED_ON`].
pub fn confirmed(plan: &str, milestone: &str) -> Kind {
    confirmed_on(plan, milestone, CONFIRMED_ON)
}

pub fn confirmed_on(plan: &str, milestone: &str, on: &str) -> Kind {
    Kind::MilestoneConfirmed(pb::MilestoneConfirmed {
        plan: plan.into(),
        milestone: milestone.into(),
        note: String::new(),
        confirmed_on: on.into(),
    })
}

pub fn declined(plan: &str, milestone: &str, reason: &str) -> Kind {
    Kind::MilestoneDeclined(pb::MilestoneDeclined { plan: plan.into(), milestone: milestone.into(), reason: reason.into() })
}

pub fn missed(plan: &str, milestone: &str) -> Kind {
    Kind::MilestoneMissed(pb::MilestoneMissed { plan: plan.into(), milestone: milestone.into(), note: "not attained".into() })
}

// ------------------------------------------------------------------ payments

/// `settlements`: (obligation id, euros).
pub fn paid(payment: &str, settlements: &[(&str, &str)], value_date: &str) -> Kind {
    paid_micros(payment, &settlements.iter().map(|(obligation, euros)| (*obligation, micros(euros))).collect::<Vec<_>>(), value_date)
}

pub fn paid_micros(payment: &str, settlements: &[(&str, i64)], value_date: &str) -> Kind {
    Kind::PaymentRecorded(pb::PaymentRecorded {
        payment: payment.into(),
        settlements: settlements
            .iter()
            .map(|(obligation, amount_micros)| pb::Settlement { obligation: (*obligation).into(), amount_micros: *amount_micros })
            .collect(),
        value_date: value_date.into(),
        bank_reference: format!("ref-{payment}"),
    })
}

pub fn reversed(payment: &str, reason: &str) -> Kind {
    Kind::PaymentReversed(pb::PaymentReversed { payment: payment.into(), reason: reason.into() })
}

/// The derived id of one insurer's obligation for one line (1-based) of a milestone.
pub fn obligation(plan: &str, milestone: &str, line: usize, insurer: &str) -> String {
    format!("{plan}/{milestone}/{line}/{insurer}")
}

// ------------------------------------------------------------------ keys and the fund

pub fn key_proposed(group: &str, version: u32, valid_from: &str, shares: &[(&str, &str)]) -> Kind {
    Kind::KeyProposed(pb::KeyProposed {
        key_group: group.into(),
        version,
        valid_from: valid_from.into(),
        shares: shares.iter().map(|(insurer, share)| pb::KeyShare { insurer: (*insurer).into(), share: (*share).into() }).collect(),
    })
}

pub fn key_approved(group: &str, version: u32) -> Kind {
    Kind::KeyApproved(pb::KeyApproved { key_group: group.into(), version })
}

/// `delta`: signed euros, "-100.00" lowers the fund.
pub fn fund_adjusted(delta: &str) -> Kind {
    Kind::FundAdjusted(pb::FundAdjusted {
        delta_micros: micros(delta),
        reason: "decision of the IZA parties".into(),
        effective: "2026-01-01".into(),
    })
}

pub fn reservation_set(theme: &str, euros: &str) -> Kind {
    Kind::ReservationSet(pb::ReservationSet { theme: theme.into(), amount_micros: micros(euros), reason: "reserved for the theme".into() })
}

pub fn reservation_released(theme: &str) -> Kind {
    Kind::ReservationReleased(pb::ReservationReleased { theme: theme.into(), reason: "not needed".into(), amount_micros: 0 })
}

/// Releases `euros` of what is left of the theme's reservation.
pub fn reservation_released_part(theme: &str, euros: &str) -> Kind {
    Kind::ReservationReleased(pb::ReservationReleased {
        theme: theme.into(),
        reason: "partly not needed".into(),
        amount_micros: micros(euros),
    })
}

pub fn intake_closed(on: &str) -> Kind {
    Kind::IntakeClosed(pb::IntakeClosed { closed_on: on.into(), reason: "the IZA parties stopped intake".into() })
}

pub fn external_funding(id: &str, sector: &str, euros: &str, paid_on: &str) -> Kind {
    Kind::ExternalFundingRecorded(pb::ExternalFundingRecorded {
        id: id.into(),
        sector: sector.into(),
        region: REGION.into(),
        theme: THEME.into(),
        paid_on: paid_on.into(),
        amount_micros: micros(euros),
        description: "paid through the ministry's budget".into(),
    })
}

// ------------------------------------------------------------------ checks

pub fn is_applied(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Applied { .. })
}

pub fn obligations_of<'state>(state: &'state LedgerState, plan: &str, milestone: &str) -> Vec<&'state Obligation> {
    state.obligations.values().filter(|obligation| obligation.plan == plan && obligation.milestone == milestone).collect()
}

/// (insurer, amount) of a milestone's obligations for one line, in insurer order.
pub fn line_split(state: &LedgerState, plan: &str, milestone: &str, line: u32) -> Vec<(String, Amount)> {
    obligations_of(state, plan, milestone)
        .into_iter()
        .filter(|obligation| obligation.line == line)
        .map(|obligation| (obligation.insurer.clone(), obligation.amount))
        .collect()
}

pub fn split(entries: &[(&str, &str)]) -> Vec<(String, Amount)> {
    entries.iter().map(|(insurer, euros)| (insurer.to_string(), eur(euros))).collect()
}

/// The conservation invariant, checked from the outside on a whole state: for every
/// confirmed milestone the obligations add up to its payable total, line by line, and no
/// more than the milestone's amount; other milestones have no obligations; on every
/// obligation paid + outstanding = amount with 0 <= paid <= amount; and every obligation
/// belongs to a confirmed milestone.
#[track_caller]
pub fn assert_conserved(state: &LedgerState) {
    let mut accounted = 0;
    for plan in state.plans.values() {
        for milestone in plan.milestones.values() {
            let obligations = obligations_of(state, &plan.id, &milestone.id);
            match milestone.status {
                MilestoneStatus::Confirmed { payable, .. } => {
                    assert!(payable.cents() > 0 && payable <= milestone.amount, "{}: payable {payable} out of range", milestone.id);
                    let total: Amount = obligations.iter().map(|obligation| obligation.amount).sum();
                    assert_eq!(total, payable, "obligations of {}/{} add up to its payable", plan.id, milestone.id);
                    let lines: Amount = milestone.lines.iter().map(|line| line.payable).sum();
                    assert_eq!(lines, payable, "line payables of {}/{} add up to its payable", plan.id, milestone.id);
                    for (index, line) in milestone.lines.iter().enumerate() {
                        let number = u32::try_from(index + 1).unwrap();
                        let of_line: Amount =
                            obligations.iter().filter(|obligation| obligation.line == number).map(|obligation| obligation.amount).sum();
                        assert_eq!(of_line, line.payable, "line {number} of {}/{}", plan.id, milestone.id);
                        assert!(line.payable <= line.amount, "line {number} of {}/{} pays more than its amount", plan.id, milestone.id);
                    }
                    assert_eq!(milestone.obligations.len(), obligations.len());
                }
                _ => assert!(obligations.is_empty(), "{}/{} is not confirmed yet has obligations", plan.id, milestone.id),
            }
            accounted += obligations.len();
        }
    }
    assert_eq!(accounted, state.obligations.len(), "every obligation belongs to a milestone");
    for obligation in state.obligations.values() {
        assert!(obligation.amount.cents() > 0, "{} is not positive", obligation.id);
        assert!(!obligation.paid.is_negative() && obligation.paid <= obligation.amount, "{} paid {}", obligation.id, obligation.paid);
        assert_eq!(obligation.paid + obligation.outstanding(), obligation.amount);
    }
    assert!(!state.free().is_negative(), "the fund never commits more than it has");
}
