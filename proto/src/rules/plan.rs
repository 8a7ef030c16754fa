//! Plans: quick test, full plan and its versions, assessment by the two assessors (with
//! escalation when they disagree), addenda, rescheduling and cancellation.

use std::collections::{BTreeMap, BTreeSet};

use super::{fund, Context};
use crate::amount::Amount;
use crate::date::Date;
use crate::ids::{check_party, check_slug, check_text};
use crate::pb::{self, Assessment, MilestoneKind, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{
    AssessmentStatus, Event, Funding, LedgerState, Line, Milestone, MilestoneStatus, Plan, QuickTest, QuickTestStatus, Unit, UnitRef,
    Verdict,
};
use crate::{MILESTONE_LINES_MAX, PLAN_MILESTONES_MAX};

/// Transformation funds are incidental: a plan runs at most five years from its start.
pub const PLAN_YEARS_MAX: u16 = 5;

fn event(context: &Context, what: String) -> Event {
    Event { index: context.index, by: context.signer.to_string(), what }
}

fn intake_open(state: &LedgerState, what: &str) -> Result<(), Rejection> {
    match state.fund.intake_closed {
        Some(closed) => {
            reject(ReasonCode::IntakeClosed, format!("intake closed on {closed}: no new {what}; only queued plans can still be funded"))
        }
        None => Ok(()),
    }
}

fn check_assessors(context: &Context, coordinating: &str, second: &str) -> Result<(), Rejection> {
    for insurer in [coordinating, second] {
        if !context.genesis.is_insurer(insurer) {
            return reject(ReasonCode::UnknownInsurer, format!("'{insurer}' is not an insurer of genesis"));
        }
    }
    if coordinating == second {
        return reject(
            ReasonCode::AssessorsInvalid,
            format!("the coordinating insurer and the second assessor are both '{coordinating}'; name two distinct insurers"),
        );
    }
    if context.insurer()? != coordinating {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("only the coordinating insurer '{coordinating}' may sign this, not '{}'", context.signer),
        );
    }
    Ok(())
}

fn hashes(evidence: &[Vec<u8>]) -> Result<Vec<String>, Rejection> {
    evidence
        .iter()
        .map(|hash| {
            if hash.len() == 32 {
                Ok(hex::encode(hash))
            } else {
                reject(
                    ReasonCode::MalformedTransaction,
                    format!("an evidence hash is {} bytes; give SHA-256 hashes (32 bytes)", hash.len()),
                )
            }
        })
        .collect()
}

/// Checks and builds the milestones of a plan version or an addendum.
fn build_milestones(
    state: &LedgerState,
    context: &Context,
    start: Date,
    milestones: &[pb::Milestone],
    addendum: &str,
    taken: &BTreeSet<String>,
) -> Result<Vec<Milestone>, Rejection> {
    if milestones.is_empty() {
        return reject(ReasonCode::Empty, "a plan or addendum needs at least one milestone");
    }
    if milestones.len() > PLAN_MILESTONES_MAX {
        return reject(ReasonCode::LimitExceeded, format!("{} milestones; at most {PLAN_MILESTONES_MAX}", milestones.len()));
    }
    let end = start.plus_years(PLAN_YEARS_MAX);
    let mut ids = taken.clone();
    let mut built = Vec::with_capacity(milestones.len());
    for milestone in milestones {
        check_slug(&milestone.id, "milestone id")?;
        if !ids.insert(milestone.id.clone()) {
            return reject(ReasonCode::AlreadyExists, format!("milestone '{}' appears twice in the plan", milestone.id));
        }
        check_text(&milestone.title, "milestone title")?;
        let kind = match MilestoneKind::try_from(milestone.kind) {
            Ok(MilestoneKind::Effort) => "effort",
            Ok(MilestoneKind::Result) => "result",
            _ => return reject(ReasonCode::MalformedTransaction, format!("milestone '{}' must be an effort or a result", milestone.id)),
        };
        let due = Date::parse(&milestone.due, &format!("due date of milestone '{}'", milestone.id))?;
        check_within_plan(start, end, due, &milestone.id)?;
        if milestone.lines.is_empty() {
            return reject(ReasonCode::Empty, format!("milestone '{}' has no lines (beneficiary, payee, sector, amount)", milestone.id));
        }
        if milestone.lines.len() > MILESTONE_LINES_MAX {
            return reject(
                ReasonCode::LimitExceeded,
                format!("milestone '{}' has {} lines; at most {MILESTONE_LINES_MAX}", milestone.id, milestone.lines.len()),
            );
        }
        let mut lines = Vec::with_capacity(milestone.lines.len());
        for (number, line) in milestone.lines.iter().enumerate() {
            let what = format!("line {} of milestone '{}'", number + 1, milestone.id);
            let payee = if line.payee.is_empty() { line.beneficiary.clone() } else { line.payee.clone() };
            for party in [&line.beneficiary, &payee] {
                check_party(party)?;
                if !state.parties.contains_key(party) {
                    return reject(
                        ReasonCode::UnknownParty,
                        format!("{what} names {party}, which is not registered; register it with 'fairshare party register' first"),
                    );
                }
            }
            if context.genesis.sector(&line.sector).is_none() {
                let known: Vec<_> = context.genesis.sectors.iter().map(|sector| sector.id.as_str()).collect();
                return reject(
                    ReasonCode::UnknownSector,
                    format!("{what} names sector '{}'; genesis has {}", line.sector, known.join(", ")),
                );
            }
            let amount = Amount::positive_from_micros(line.amount_micros, &format!("the amount of {what}"))?;
            lines.push(Line { beneficiary: line.beneficiary.clone(), payee, sector: line.sector.clone(), amount, payable: Amount::ZERO });
        }
        let amount = lines.iter().map(|line| line.amount).sum();
        built.push(Milestone {
            id: milestone.id.clone(),
            addendum: addendum.to_string(),
            title: milestone.title.clone(),
            kind: kind.to_string(),
            due,
            lines,
            amount,
            status: MilestoneStatus::Planned,
            evidence_sha256: Vec::new(),
            obligations: Vec::new(),
        });
    }
    Ok(built)
}

fn check_within_plan(start: Date, end: Date, due: Date, milestone: &str) -> Result<(), Rejection> {
    if due < start {
        return reject(ReasonCode::InvalidDate, format!("milestone '{milestone}' is due {due}, before the plan starts on {start}"));
    }
    if due > end {
        return reject(
            ReasonCode::PlanTooLong,
            format!("milestone '{milestone}' is due {due}, after {end}: a plan runs at most {PLAN_YEARS_MAX} years"),
        );
    }
    Ok(())
}

pub fn submit_quick_test(state: &mut LedgerState, context: &Context, body: &pb::QuickTestSubmitted) -> Result<(), Rejection> {
    check_slug(&body.plan, "plan id")?;
    intake_open(state, "quick tests")?;
    check_assessors(context, &body.coordinating_insurer, &body.second_assessor)?;
    for (text, what) in [(&body.title, "title"), (&body.region, "region"), (&body.theme, "theme")] {
        check_text(text, what)?;
    }
    let estimated_total = if body.estimated_total_micros == 0 {
        Amount::ZERO
    } else {
        Amount::positive_from_micros(body.estimated_total_micros, "the estimated total")?
    };
    if state.quick_tests.contains_key(&body.plan) || state.plans.contains_key(&body.plan) {
        return reject(ReasonCode::AlreadyExists, format!("plan id '{}' is taken; choose another", body.plan));
    }
    state.quick_tests.insert(
        body.plan.clone(),
        QuickTest {
            plan: body.plan.clone(),
            title: body.title.clone(),
            region: body.region.clone(),
            theme: body.theme.clone(),
            coordinating_insurer: body.coordinating_insurer.clone(),
            second_assessor: body.second_assessor.clone(),
            estimated_total,
            status: QuickTestStatus::Submitted,
            history: vec![event(context, "quick test submitted".into())],
        },
    );
    Ok(())
}

pub fn decide_quick_test(state: &mut LedgerState, context: &Context, body: &pb::QuickTestDecided) -> Result<(), Rejection> {
    let insurer = context.insurer()?.to_string();
    let Some(test) = state.quick_tests.get_mut(&body.plan) else {
        return reject(ReasonCode::UnknownPlan, format!("there is no quick test for plan '{}'", body.plan));
    };
    if test.coordinating_insurer != insurer && test.second_assessor != insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!(
                "only the assessors of '{}' ({} and {}) may decide its quick test",
                body.plan, test.coordinating_insurer, test.second_assessor
            ),
        );
    }
    check_text(&body.note, "note")?;
    if test.status != QuickTestStatus::Submitted {
        return reject(
            ReasonCode::WrongPlanStatus,
            format!("the quick test of '{}' was already decided ({})", body.plan, test.status.word()),
        );
    }
    let status = match pb::QuickTestOutcome::try_from(body.outcome) {
        Ok(pb::QuickTestOutcome::Passed) => QuickTestStatus::Passed,
        Ok(pb::QuickTestOutcome::Failed) => QuickTestStatus::Failed,
        _ => return reject(ReasonCode::MalformedTransaction, "a quick test outcome is passed or failed"),
    };
    test.history.push(event(context, format!("quick test {}{}", status.word(), super::note_suffix(&body.note))));
    test.status = status;
    Ok(())
}

pub fn submit(state: &mut LedgerState, context: &Context, body: &pb::PlanSubmitted) -> Result<(), Rejection> {
    check_slug(&body.plan, "plan id")?;
    intake_open(state, "plans or plan versions")?;
    check_assessors(context, &body.coordinating_insurer, &body.second_assessor)?;
    for (text, what) in [(&body.title, "title"), (&body.region, "region"), (&body.theme, "theme")] {
        check_text(text, what)?;
        if text.trim().is_empty() {
            return reject(ReasonCode::Empty, format!("the plan needs a {what}"));
        }
    }
    check_slug(&body.theme, "theme")?;
    let start = Date::parse(&body.start, "start date")?;
    let evidence = hashes(&body.evidence_sha256)?;
    match state.plans.get(&body.plan) {
        None => {
            if body.version != 1 {
                return reject(ReasonCode::VersionMismatch, format!("plan '{}' is new: submit version 1", body.plan));
            }
            let Some(test) = state.quick_tests.get(&body.plan) else {
                return reject(
                    ReasonCode::QuickTestRequired,
                    format!("plan '{}' has no quick test; submit one and have it passed first", body.plan),
                );
            };
            if test.status != QuickTestStatus::Passed {
                return reject(
                    ReasonCode::QuickTestRequired,
                    format!("the quick test of '{}' is {}, not passed", body.plan, test.status.word()),
                );
            }
            if test.coordinating_insurer != body.coordinating_insurer || test.second_assessor != body.second_assessor {
                return reject(
                    ReasonCode::AssessorsInvalid,
                    format!(
                        "plan '{}' names other assessors than its quick test ({} and {})",
                        body.plan, test.coordinating_insurer, test.second_assessor
                    ),
                );
            }
        }
        Some(plan) => {
            if plan.main().status != AssessmentStatus::Returned {
                return reject(
                    ReasonCode::WrongPlanStatus,
                    format!("plan '{}' is {}; a new version follows only a return with questions", body.plan, plan.main().status.word()),
                );
            }
            if body.version != plan.version + 1 {
                return reject(
                    ReasonCode::VersionMismatch,
                    format!("plan '{}' is at version {}; submit version {}", body.plan, plan.version, plan.version + 1),
                );
            }
            if plan.coordinating_insurer != body.coordinating_insurer || plan.second_assessor != body.second_assessor {
                return reject(ReasonCode::AssessorsInvalid, format!("a revision of '{}' cannot change its assessors", body.plan));
            }
        }
    }
    let milestones = build_milestones(state, context, start, &body.milestones, "", &BTreeSet::new())?;
    let mut history = state.plans.get(&body.plan).map(|plan| plan.history.clone()).unwrap_or_default();
    history.push(event(context, format!("version {} submitted", body.version)));
    let unit = Unit {
        status: AssessmentStatus::Submitted,
        assessments: BTreeMap::new(),
        funding: Funding::None,
        from_reservation: Amount::ZERO,
        milestones: milestones.iter().map(|milestone| milestone.id.clone()).collect(),
        evidence_sha256: evidence,
        title: body.title.clone(),
    };
    let plan = Plan {
        id: body.plan.clone(),
        version: body.version,
        title: body.title.clone(),
        region: body.region.clone(),
        theme: body.theme.clone(),
        coordinating_insurer: body.coordinating_insurer.clone(),
        second_assessor: body.second_assessor.clone(),
        start,
        units: BTreeMap::from([(String::new(), unit)]),
        milestones: milestones.into_iter().map(|milestone| (milestone.id.clone(), milestone)).collect(),
        pending_reschedules: BTreeMap::new(),
        pending_cancellation: BTreeSet::new(),
        history,
    };
    state.plans.insert(body.plan.clone(), plan);
    Ok(())
}

/// Looks up a plan and checks the signer is one of its two assessors.
fn plan_for_assessor<'state>(state: &'state LedgerState, context: &Context, plan: &str) -> Result<&'state Plan, Rejection> {
    let insurer = context.insurer()?;
    let Some(found) = state.plans.get(plan) else {
        return reject(ReasonCode::UnknownPlan, format!("there is no plan '{plan}'"));
    };
    if !found.is_assessor(insurer) {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("'{insurer}' is not an assessor of '{plan}' ({} and {} are)", found.coordinating_insurer, found.second_assessor),
        );
    }
    Ok(found)
}

pub fn assess(state: &mut LedgerState, context: &Context, body: &pb::PlanAssessed) -> Result<(), Rejection> {
    let plan = plan_for_assessor(state, context, &body.plan)?;
    let insurer = context.insurer()?.to_string();
    check_text(&body.note, "note")?;
    let Some(unit) = plan.units.get(&body.addendum) else {
        return reject(ReasonCode::UnknownPlan, format!("plan '{}' has no addendum '{}'", body.plan, body.addendum));
    };
    if body.addendum.is_empty() && body.version != plan.version {
        return reject(ReasonCode::VersionMismatch, format!("plan '{}' is at version {}, not {}", body.plan, plan.version, body.version));
    }
    let verdict = match Assessment::try_from(body.assessment) {
        Ok(Assessment::Approve) => Verdict::Approve,
        Ok(Assessment::Reject) => Verdict::Reject,
        Ok(Assessment::Return) => Verdict::Return,
        _ => return reject(ReasonCode::MalformedTransaction, "an assessment is approve, reject or return"),
    };
    match unit.status {
        AssessmentStatus::Submitted if unit.assessments.contains_key(&insurer) => {
            return reject(ReasonCode::AlreadySigned, format!("{insurer} already assessed this version of '{}'", body.plan));
        }
        AssessmentStatus::Submitted | AssessmentStatus::Escalated => {}
        status => return reject(ReasonCode::WrongPlanStatus, format!("'{}' is {}; there is nothing to assess", body.plan, status.word())),
    }
    intake_open(state, "assessments of plans not yet approved")?;

    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let unit = plan.units.get_mut(&body.addendum).expect("checked above");
    unit.assessments.insert(insurer, verdict);
    let verdicts: Vec<Verdict> = unit.assessments.values().copied().collect();
    unit.status = if verdicts.contains(&Verdict::Return) {
        AssessmentStatus::Returned
    } else if verdicts.len() < 2 {
        AssessmentStatus::Submitted
    } else if verdicts.iter().all(|verdict| *verdict == Verdict::Approve) {
        AssessmentStatus::Approved
    } else if verdicts.iter().all(|verdict| *verdict == Verdict::Reject) {
        AssessmentStatus::Rejected
    } else {
        AssessmentStatus::Escalated
    };
    let status = unit.status;
    let subject = if body.addendum.is_empty() { format!("version {}", body.version) } else { format!("addendum '{}'", body.addendum) };
    let note = super::note_suffix(&body.note);
    plan.history.push(event(context, format!("{subject} assessed: {}{note}; now {}", verdict.word(), status.word())));
    if status == AssessmentStatus::Approved {
        fund::request_funding(state, UnitRef { plan: body.plan.clone(), addendum: body.addendum.clone() }, context.index);
    }
    Ok(())
}

pub fn submit_addendum(state: &mut LedgerState, context: &Context, body: &pb::AddendumSubmitted) -> Result<(), Rejection> {
    let plan = plan_for_assessor(state, context, &body.plan)?;
    if context.insurer()? != plan.coordinating_insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("only the coordinating insurer '{}' submits addenda to '{}'", plan.coordinating_insurer, body.plan),
        );
    }
    check_slug(&body.addendum, "addendum id")?;
    check_text(&body.title, "title")?;
    intake_open(state, "addenda")?;
    if plan.main().status != AssessmentStatus::Approved {
        return reject(
            ReasonCode::WrongPlanStatus,
            format!("'{}' is {}; an addendum extends an approved plan", body.plan, plan.main().status.word()),
        );
    }
    if plan.units.contains_key(&body.addendum) {
        return reject(ReasonCode::AlreadyExists, format!("plan '{}' already has addendum '{}'", body.plan, body.addendum));
    }
    let evidence = hashes(&body.evidence_sha256)?;
    let taken: BTreeSet<String> = plan.milestones.keys().cloned().collect();
    let milestones = build_milestones(state, context, plan.start, &body.milestones, &body.addendum, &taken)?;
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    plan.units.insert(
        body.addendum.clone(),
        Unit {
            status: AssessmentStatus::Submitted,
            assessments: BTreeMap::new(),
            funding: Funding::None,
            from_reservation: Amount::ZERO,
            milestones: milestones.iter().map(|milestone| milestone.id.clone()).collect(),
            evidence_sha256: evidence,
            title: body.title.clone(),
        },
    );
    plan.milestones.extend(milestones.into_iter().map(|milestone| (milestone.id.clone(), milestone)));
    plan.history.push(event(context, format!("addendum '{}' submitted", body.addendum)));
    Ok(())
}

/// Is the plan still alive (not rejected, not cancelled)?
fn check_alive(plan: &Plan) -> Result<(), Rejection> {
    match plan.main().status {
        AssessmentStatus::Rejected | AssessmentStatus::Cancelled => {
            reject(ReasonCode::WrongPlanStatus, format!("plan '{}' is {}", plan.id, plan.main().status.word()))
        }
        _ => Ok(()),
    }
}

pub fn reschedule(state: &mut LedgerState, context: &Context, body: &pb::MilestoneRescheduled) -> Result<(), Rejection> {
    let plan = plan_for_assessor(state, context, &body.plan)?;
    let insurer = context.insurer()?.to_string();
    check_alive(plan)?;
    check_text(&body.reason, "reason")?;
    let Some(milestone) = plan.milestones.get(&body.milestone) else {
        return reject(ReasonCode::UnknownMilestone, format!("plan '{}' has no milestone '{}'", body.plan, body.milestone));
    };
    if milestone.is_decided() {
        return reject(
            ReasonCode::MilestoneAlreadyDecided,
            format!("milestone '{}' is {}; it can no longer change", body.milestone, milestone.status.describe()),
        );
    }
    super::milestone::refuse_while_awaiting_confirmation(plan, &body.milestone, &milestone.status, "reschedule after a decline")?;
    let new_due = Date::parse(&body.new_due, "new due date")?;
    check_within_plan(plan.start, plan.start.plus_years(PLAN_YEARS_MAX), new_due, &body.milestone)?;
    let request = format!("{}@{new_due}", body.milestone);
    if plan.pending_reschedules.get(&request).is_some_and(|signed| signed.contains(&insurer)) {
        return reject(
            ReasonCode::AlreadySigned,
            format!("{insurer} already asked to move '{}' to {new_due}; the other assessor must sign too", body.milestone),
        );
    }
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    let signed = plan.pending_reschedules.entry(request.clone()).or_default();
    signed.insert(insurer);
    if signed.len() == 2 {
        let prefix = format!("{}@", body.milestone);
        plan.pending_reschedules.retain(|key, _| !key.starts_with(&prefix));
        let milestone = plan.milestones.get_mut(&body.milestone).expect("checked above");
        let old = milestone.due;
        milestone.due = new_due;
        plan.history.push(event(context, format!("milestone '{}' rescheduled from {old} to {new_due}: {}", body.milestone, body.reason)));
    } else {
        plan.history.push(event(context, format!("asked to reschedule milestone '{}' to {new_due}: {}", body.milestone, body.reason)));
    }
    Ok(())
}

pub fn cancel(state: &mut LedgerState, context: &Context, body: &pb::PlanCancelled) -> Result<(), Rejection> {
    let plan = plan_for_assessor(state, context, &body.plan)?;
    let insurer = context.insurer()?.to_string();
    check_alive(plan)?;
    check_text(&body.reason, "reason")?;
    if plan.pending_cancellation.contains(&insurer) {
        return reject(
            ReasonCode::AlreadySigned,
            format!("{insurer} already asked to cancel '{}'; the other assessor must sign too", body.plan),
        );
    }
    let plan = state.plans.get_mut(&body.plan).expect("checked above");
    plan.pending_cancellation.insert(insurer);
    if plan.pending_cancellation.len() < 2 {
        plan.history.push(event(context, format!("asked to cancel: {}", body.reason)));
        return Ok(());
    }
    // Both signed: what was committed and not yet payable is released.
    for unit in plan.units.values_mut() {
        unit.status = AssessmentStatus::Cancelled;
    }
    for milestone in plan.milestones.values_mut() {
        if !milestone.is_decided() {
            milestone.status = MilestoneStatus::Cancelled;
        }
    }
    plan.history.push(event(context, format!("cancelled: {}", body.reason)));
    state.fund.queue.retain(|queued| queued.plan != body.plan);
    Ok(())
}
