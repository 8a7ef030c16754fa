//! Milestones: attained by the coordinating insurer, confirmed by the second assessor
//! (this is when obligations arise, split by the fair-share key), or missed.

use std::collections::BTreeMap;

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
            format!("milestone '{milestone}' of '{plan}' is already {}; it can no longer change", target.status.describe()),
        );
    }
    let unit = &found.units[&target.addendum];
    if unit.status != AssessmentStatus::Approved || unit.funding != Funding::Funded {
        let why =
            if unit.funding == Funding::Queued { "waits in the funding queue".to_string() } else { format!("is {}", unit.status.word()) };
        return reject(ReasonCode::WrongPlanStatus, format!("'{plan}' {why}; its milestones cannot be attained, confirmed or missed yet"));
    }
    Ok((found, target))
}

/// An open milestone on which the second assessor acts (`what`: "confirms", "declines"):
/// between attainment and confirmation no one else may.
fn milestone_for_second_assessor<'state>(
    state: &'state LedgerState,
    context: &Context,
    plan: &str,
    milestone: &str,
    what: &str,
) -> Result<(&'state Plan, &'state Milestone), Rejection> {
    let insurer = context.insurer()?;
    let (found, target) = open_milestone(state, plan, milestone)?;
    if found.second_assessor != insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("only the second assessor '{}' {what} an attainment of a milestone of '{plan}'", found.second_assessor),
        );
    }
    Ok((found, target))
}

/// Refuses a change (`after`: what to do instead) to a milestone that is attained: it
/// awaits the second assessor, who confirms or declines it first.
pub(super) fn refuse_while_awaiting_confirmation(
    plan: &Plan,
    milestone: &str,
    status: &MilestoneStatus,
    after: &str,
) -> Result<(), Rejection> {
    if matches!(status, MilestoneStatus::Attained { .. }) {
        return reject(
            ReasonCode::MilestoneAwaitsConfirmation,
            format!(
                "milestone '{milestone}' is attained and awaits the second assessor '{}', who confirms or declines it; {after}",
                plan.second_assessor
            ),
        );
    }
    Ok(())
}

/// A payout fraction as stated: empty means 1; otherwise an exact decimal with
/// 0 < f ≤ 1. The one definition the rules and the CLI's checks share.
pub fn payout_fraction(text: &str) -> Result<Ratio, Rejection> {
    if text.trim().is_empty() {
        return Ok(Ratio::ONE);
    }
    let fraction = Ratio::parse(text, "payout fraction", ReasonCode::InvalidFraction)?;
    if fraction.value() <= rust_decimal::Decimal::ZERO || fraction > Ratio::ONE {
        return reject(ReasonCode::InvalidFraction, format!("payout fraction {fraction} must be more than 0 and at most 1"));
    }
    Ok(fraction)
}

/// The payable total of an attainment with `fraction` of `amount`: half-even to the cent,
/// and refused when it rounds to 0.00, because no attainment pays nothing: that is a miss.
pub fn payable_for_attainment(amount: Amount, fraction: Ratio) -> Result<Amount, Rejection> {
    let payable = payable_for_fraction(amount, fraction);
    if payable.is_zero() {
        return reject(
            ReasonCode::InvalidFraction,
            format!("fraction {fraction} of {amount} rounds to 0.00; record the milestone as missed instead"),
        );
    }
    Ok(payable)
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
    // The key is fixed here: per key group its lines use, the version in force on the
    // attainment date among the versions approved now. Confirmation splits by these.
    let mut keys = BTreeMap::new();
    for line in &milestone.lines {
        let group = &context.genesis.sector(&line.sector).expect("lines name genesis sectors").key_group;
        let Some(key) = state.key_in_force(group, on) else {
            return reject(ReasonCode::NoKeyInForce, format!("key group '{group}' has no approved key in force on {on}"));
        };
        keys.insert(group.clone(), key.version);
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
        let fraction = payout_fraction(&body.payout_fraction)?;
        (Attainment::Fraction(fraction), payable_for_attainment(milestone.amount, fraction)?)
    };
    let evidence = (!body.evidence_sha256.is_empty()).then(|| hex::encode(&body.evidence_sha256));
    let history =
        event(context, format!("milestone '{}' attained on {on}, payable {payable}{}", body.milestone, super::note_suffix(&body.note)));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let milestone = plan.milestones.get_mut(&body.milestone).expect("checked above");
    milestone.status = MilestoneStatus::Attained { on, attainment, payable, keys };
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
    let (plan, milestone) = milestone_for_second_assessor(state, context, &body.plan, &body.milestone, "confirms")?;
    check_text(&body.note, "note")?;
    let MilestoneStatus::Attained { on, payable, ref keys, .. } = milestone.status else {
        return reject(
            ReasonCode::MilestoneNotAttained,
            format!("milestone '{}' is not attained yet; the coordinating insurer records attainment first", body.milestone),
        );
    };
    let confirmed_on = Date::parse(&body.confirmed_on, "confirmation date")?;
    if confirmed_on < on {
        return reject(
            ReasonCode::ConfirmedBeforeAttained,
            format!("confirmation date {confirmed_on} is before the attainment date {on}; confirm on {on} or later"),
        );
    }

    // Spread the payable total over the lines, then each line over the insurers by the
    // key version of its sector's key group that the attainment fixed.
    let line_amounts: Vec<Amount> = milestone.lines.iter().map(|line| line.amount).collect();
    let line_payables = split_over_lines(payable, &line_amounts);
    let mut obligations = Vec::new();
    for (index, (line, line_payable)) in milestone.lines.iter().zip(&line_payables).enumerate() {
        let group = &context.genesis.sector(&line.sector).expect("lines name genesis sectors").key_group;
        let version = keys.get(group).expect("the attainment fixed a key version for every group its lines use");
        let key = &state.keys[group][version];
        assert!(key.in_force, "a fixed key version was approved when the milestone was attained");
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

    let history = event(
        context,
        format!("milestone '{}' confirmed on {confirmed_on}: {} obligations, {payable} payable", body.milestone, obligations.len()),
    );
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let milestone = plan.milestones.get_mut(&body.milestone).expect("checked above");
    for (line, line_payable) in milestone.lines.iter_mut().zip(line_payables) {
        line.payable = line_payable;
    }
    milestone.obligations = obligations.iter().map(|obligation| obligation.id.clone()).collect();
    milestone.status = MilestoneStatus::Confirmed { on, confirmed_on, payable };
    plan.history.push(history);
    for obligation in obligations {
        let previous = state.obligations.insert(obligation.id.clone(), obligation);
        assert!(previous.is_none(), "obligation ids are unique: a milestone is confirmed once");
    }
    Ok(())
}

/// The second assessor does not accept an attainment: the milestone is open again, so
/// the coordinating insurer can attain it again (another fraction or amount) or either
/// assessor can record it as missed. The attainment stays in the plan's history.
pub fn decline(state: &mut LedgerState, context: &Context, body: &pb::MilestoneDeclined) -> Result<(), Rejection> {
    let (_, milestone) = milestone_for_second_assessor(state, context, &body.plan, &body.milestone, "declines")?;
    check_text(&body.reason, "reason")?;
    if body.reason.trim().is_empty() {
        return reject(ReasonCode::Empty, "give a reason for the decline: the coordinating insurer reads it before attaining again");
    }
    let MilestoneStatus::Attained { on, payable, .. } = milestone.status else {
        return reject(
            ReasonCode::MilestoneNotAttained,
            format!("milestone '{}' is not attained; only an attainment can be declined", body.milestone),
        );
    };
    let history = event(context, format!("attainment of '{}' on {on} (payable {payable}) declined: {}", body.milestone, body.reason));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    plan.milestones.get_mut(&body.milestone).expect("checked above").status = MilestoneStatus::Planned;
    plan.history.push(history);
    Ok(())
}

/// A miss is recorded on an open milestone only: an attained one awaits the second
/// assessor, who confirms or declines it first.
pub fn miss(state: &mut LedgerState, context: &Context, body: &pb::MilestoneMissed) -> Result<(), Rejection> {
    let insurer = context.insurer()?;
    let (plan, milestone) = open_milestone(state, &body.plan, &body.milestone)?;
    if !plan.is_assessor(insurer) {
        return reject(ReasonCode::SignerNotAuthorised, format!("only the assessors of '{}' record a missed milestone", body.plan));
    }
    refuse_while_awaiting_confirmation(plan, &body.milestone, &milestone.status, "after a decline either assessor may record a miss")?;
    check_text(&body.note, "note")?;
    let history = event(context, format!("milestone '{}' missed{}", body.milestone, super::note_suffix(&body.note)));
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    plan.milestones.get_mut(&body.milestone).expect("checked above").status = MilestoneStatus::Missed;
    plan.history.push(history);
    Ok(())
}
