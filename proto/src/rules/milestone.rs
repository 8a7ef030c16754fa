//! Milestones: attained by the coordinating insurer, confirmed by the second assessor
//! (this is when obligations arise, split by the fair-share key), or missed.

use super::Context;
use crate::amount::{Amount, Ratio};
use crate::date::Date;
use crate::fair_share::{payable_for_fraction, split_over_insurers, split_over_lines};
use crate::ids::check_text;
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{AssessmentStatus, Attainment, Event, Funding, LedgerState, Milestone, MilestoneStatus, Obligation, Plan};

/// Finds a plan and one of its milestones that may still change: the milestone's unit
/// must be approved and funded, and the milestone not yet confirmed, missed or cancelled.
fn open_milestone<'state>(state: &'state LedgerState, plan: &str, milestone: &str) -> Result<(&'state Plan, &'state Milestone), Rejection> {
    let Some(found) = state.plans.get(plan) else {
        return reject(ReasonCode::UnknownPlan, format!("there is no plan '{plan}'"));
    };
    let Some(target) = found.milestones.get(milestone) else {
        return reject(ReasonCode::UnknownMilestone, format!("plan '{plan}' has no milestone '{milestone}'"));
    };
    if target.is_decided() {
        return reject(
            ReasonCode::MilestoneAlreadyDecided,
            format!("milestone '{milestone}' of '{plan}' is already {}; it can no longer change", status_word(&target.status)),
        );
    }
    let unit = &found.units[&target.addendum];
    if unit.status != AssessmentStatus::Approved || unit.funding != Funding::Funded {
        let why = if unit.funding == Funding::Queued { "waits in the funding queue".to_string() } else { format!("is {:?}", unit.status) };
        return reject(ReasonCode::WrongPlanStatus, format!("'{plan}' {why}; its milestones cannot be attained, confirmed or missed yet"));
    }
    Ok((found, target))
}

fn status_word(status: &MilestoneStatus) -> &'static str {
    match status {
        MilestoneStatus::Planned => "planned",
        MilestoneStatus::Attained { .. } => "attained",
        MilestoneStatus::Confirmed { .. } => "confirmed",
        MilestoneStatus::Missed => "missed",
        MilestoneStatus::Cancelled => "cancelled",
    }
}

fn event(context: &Context, what: String) -> Event {
    Event { index: context.index, by: context.signer.to_string(), what }
}

pub fn attain(state: &mut LedgerState, context: &Context, body: &pb::MilestoneAttained) -> Result<(), Rejection> {
    let insurer = context.insurer()?;
    let (plan, milestone) = open_milestone(state, &body.plan, &body.milestone)?;
    if plan.coordinating_insurer != insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("only the coordinating insurer '{}' records attainment for '{}'", plan.coordinating_insurer, body.plan),
        );
    }
    if !matches!(milestone.status, MilestoneStatus::Planned) {
        return reject(
            ReasonCode::MilestoneAlreadyDecided,
            format!("milestone '{}' was already attained; the second assessor confirms it", body.milestone),
        );
    }
    check_text(&body.note, "note")?;
    if !body.evidence_sha256.is_empty() && body.evidence_sha256.len() != 32 {
        return reject(ReasonCode::MalformedTransaction, "the evidence hash must be a SHA-256 hash (32 bytes)");
    }
    let on = Date::parse(&body.attained_on, "attainment date")?;
    for line in &milestone.lines {
        let group = &context.genesis.sector(&line.sector).expect("lines name genesis sectors").key_group;
        if state.key_in_force(group, on).is_none() {
            return reject(ReasonCode::NoKeyInForce, format!("key group '{group}' has no approved key in force on {on}"));
        }
    }
    let (attainment, payable) = if body.payable_micros != 0 {
        if !body.payout_fraction.trim().is_empty() {
            return reject(ReasonCode::InvalidFraction, "give either a payout fraction or a payable amount on actual costs, not both");
        }
        let payable = Amount::positive_from_micros(body.payable_micros, "the payable amount")?;
        if payable > milestone.amount {
            return reject(
                ReasonCode::PayableExceedsAmount,
                format!("payable {payable} exceeds the milestone's amount {}; at most {} can be paid", milestone.amount, milestone.amount),
            );
        }
        (Attainment::ActualCosts, payable)
    } else {
        let fraction = if body.payout_fraction.trim().is_empty() {
            Ratio::ONE
        } else {
            Ratio::parse(&body.payout_fraction, "payout fraction", ReasonCode::InvalidFraction)?
        };
        if fraction.value() <= rust_decimal::Decimal::ZERO || fraction > Ratio::ONE {
            return reject(ReasonCode::InvalidFraction, format!("payout fraction {fraction} must be more than 0 and at most 1"));
        }
        let payable = payable_for_fraction(milestone.amount, fraction);
        if payable.is_zero() {
            return reject(
                ReasonCode::InvalidFraction,
                format!("fraction {fraction} of {} rounds to 0.00; record the milestone as missed instead", milestone.amount),
            );
        }
        (Attainment::Fraction(fraction), payable)
    };
    let evidence = (!body.evidence_sha256.is_empty()).then(|| hex::encode(&body.evidence_sha256));
    let history = event(context, format!("milestone '{}' attained on {on}, payable {payable} ({})", body.milestone, body.note));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let milestone = plan.milestones.get_mut(&body.milestone).expect("checked above");
    milestone.status = MilestoneStatus::Attained { on, attainment, payable };
    milestone.evidence_sha256.extend(evidence);
    plan.history.push(history);
    Ok(())
}

/// The id of the obligation of one insurer for one line: derived, so every node and
/// auditor names it the same.
pub fn obligation_id(plan: &str, milestone: &str, line: usize, insurer: &str) -> String {
    format!("{plan}/{milestone}/{line}/{insurer}")
}

pub fn confirm(state: &mut LedgerState, context: &Context, body: &pb::MilestoneConfirmed) -> Result<(), Rejection> {
    let insurer = context.insurer()?;
    let (plan, milestone) = open_milestone(state, &body.plan, &body.milestone)?;
    if plan.second_assessor != insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("only the second assessor '{}' confirms milestones of '{}'", plan.second_assessor, body.plan),
        );
    }
    check_text(&body.note, "note")?;
    let MilestoneStatus::Attained { on, payable, .. } = milestone.status else {
        return reject(
            ReasonCode::MilestoneNotAttained,
            format!("milestone '{}' is not attained yet; the coordinating insurer records attainment first", body.milestone),
        );
    };

    // Spread the payable total over the lines, then each line over the insurers by the
    // key of its sector's key group in force on the attainment date.
    let line_amounts: Vec<Amount> = milestone.lines.iter().map(|line| line.amount).collect();
    let line_payables = split_over_lines(payable, &line_amounts);
    let mut obligations = Vec::new();
    for (index, (line, line_payable)) in milestone.lines.iter().zip(&line_payables).enumerate() {
        let group = &context.genesis.sector(&line.sector).expect("lines name genesis sectors").key_group;
        let Some(key) = state.key_in_force(group, on) else {
            return reject(ReasonCode::NoKeyInForce, format!("key group '{group}' has no approved key in force on {on}"));
        };
        let shares: Vec<(String, Ratio)> = key.shares.iter().map(|(insurer, share)| (insurer.clone(), *share)).collect();
        let parts = split_over_insurers(*line_payable, &shares);
        let total: Amount = parts.iter().map(|(_, amount)| *amount).sum();
        assert_eq!(total, *line_payable, "fair share broke conservation on line {} of {}", index + 1, body.milestone);
        for (insurer, amount) in parts {
            assert!(amount.cents() > 0, "zero parts create no obligation");
            obligations.push(Obligation {
                id: obligation_id(&body.plan, &body.milestone, index + 1, &insurer),
                plan: body.plan.clone(),
                milestone: body.milestone.clone(),
                line: u32::try_from(index + 1).expect("lines are bounded"),
                insurer,
                beneficiary: line.beneficiary.clone(),
                payee: line.payee.clone(),
                sector: line.sector.clone(),
                region: plan.region.clone(),
                theme: plan.theme.clone(),
                amount,
                paid: Amount::ZERO,
                attained_on: on,
                key_group: group.clone(),
                key_version: key.version,
                created_at: context.index,
                payments: Vec::new(),
            });
        }
    }
    let created: Amount = obligations.iter().map(|obligation| obligation.amount).sum();
    assert_eq!(created, payable, "obligations of {} must add up to its payable amount", body.milestone);

    let history = event(context, format!("milestone '{}' confirmed: {} obligations, {payable} payable", body.milestone, obligations.len()));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let milestone = plan.milestones.get_mut(&body.milestone).expect("checked above");
    for (line, line_payable) in milestone.lines.iter_mut().zip(line_payables) {
        line.payable = line_payable;
    }
    milestone.obligations = obligations.iter().map(|obligation| obligation.id.clone()).collect();
    milestone.status = MilestoneStatus::Confirmed { on, payable };
    plan.history.push(history);
    for obligation in obligations {
        let previous = state.obligations.insert(obligation.id.clone(), obligation);
        assert!(previous.is_none(), "obligation ids are unique: a milestone is confirmed once");
    }
    Ok(())
}

pub fn miss(state: &mut LedgerState, context: &Context, body: &pb::MilestoneMissed) -> Result<(), Rejection> {
    let insurer = context.insurer()?;
    let (plan, _) = open_milestone(state, &body.plan, &body.milestone)?;
    if !plan.is_assessor(insurer) {
        return reject(ReasonCode::SignerNotAuthorised, format!("only the assessors of '{}' record a missed milestone", body.plan));
    }
    check_text(&body.note, "note")?;
    let history = event(context, format!("milestone '{}' missed: {}", body.milestone, body.note));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    plan.milestones.get_mut(&body.milestone).expect("checked above").status = MilestoneStatus::Missed;
    plan.history.push(history);
    Ok(())
}
