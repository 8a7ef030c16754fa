//! The fund over time (signed by the ministry) and the waiting queue.
//!
//! Approval commits a unit's total (a plan, or one addendum) against the fund. If it does
//! not fit what is free (after reservations), or others already wait, it joins the tail
//! of the queue: first come, first served, nobody jumps ahead. A unit whose theme has a
//! reservation that covers it whole is funded from the reservation at once; otherwise it
//! queues, and at the head draws on what is left of its reservation first. Every release
//! of money funds queued units strictly in order while the head fits. Earmarks are floors
//! that the monitor reports on, not caps: no rule here reads them.

use super::Context;
use crate::amount::Amount;
use crate::date::Date;
use crate::ids::{check_slug, check_text};
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{Event, ExternalFunding, Funding, LeafIndex, LedgerState, Reservation, UnitRef};

fn unit_total_and_theme(state: &LedgerState, unit: &UnitRef) -> (Amount, String) {
    let plan = &state.plans[&unit.plan];
    (plan.unit_total(&plan.units[&unit.addendum]), plan.theme.clone())
}

/// What the theme's reservation can give (zero without one).
fn reservation_available(state: &LedgerState, theme: &str) -> Amount {
    state.fund.reservations.get(theme).filter(|reservation| !reservation.released).map(Reservation::remaining).unwrap_or(Amount::ZERO)
}

fn fund_unit(state: &mut LedgerState, unit: &UnitRef, from_reservation: Amount, index: LeafIndex) {
    let (total, theme) = unit_total_and_theme(state, unit);
    if from_reservation.cents() > 0 {
        state.fund.reservations.get_mut(&theme).expect("drawn from an existing reservation").used += from_reservation;
    }
    let plan = state.plans.get_mut(&unit.plan).expect("queued units exist");
    let target = plan.units.get_mut(&unit.addendum).expect("queued units exist");
    target.funding = Funding::Funded;
    target.from_reservation = from_reservation;
    let subject = if unit.addendum.is_empty() { "plan".to_string() } else { format!("addendum '{}'", unit.addendum) };
    plan.history.push(Event {
        index,
        by: "fund".into(),
        what: format!("{subject} funded: {total} committed ({from_reservation} from the '{theme}' reservation)"),
    });
    assert!(!state.free().is_negative(), "funding never commits more than is free");
}

/// Called when both assessors approved a unit.
pub fn request_funding(state: &mut LedgerState, unit: UnitRef, index: LeafIndex) {
    let (total, theme) = unit_total_and_theme(state, &unit);
    if reservation_available(state, &theme) >= total {
        fund_unit(state, &unit, total, index);
        return;
    }
    // Nobody waits, so this unit is the head: like any head it draws on what is left of its
    // reservation first and on the free fund for the rest.
    let from_reservation = reservation_available(state, &theme).min(total);
    if state.fund.queue.is_empty() && total - from_reservation <= state.free() {
        fund_unit(state, &unit, from_reservation, index);
        return;
    }
    let plan = state.plans.get_mut(&unit.plan).expect("approved units exist");
    plan.units.get_mut(&unit.addendum).expect("approved units exist").funding = Funding::Queued;
    plan.history.push(Event {
        index,
        by: "fund".into(),
        what: format!("queued for funding at position {}: {total} does not fit or others wait", state.fund.queue.len() + 1),
    });
    state.fund.queue.push(unit);
}

/// Funds queued units strictly in order while the head fits. Runs after every applied
/// transaction; bounded by the queue's length.
pub fn fund_queue(state: &mut LedgerState, index: LeafIndex) {
    while let Some(head) = state.fund.queue.first().cloned() {
        let (total, theme) = unit_total_and_theme(state, &head);
        let from_reservation = reservation_available(state, &theme).min(total);
        if total - from_reservation > state.free() {
            break;
        }
        state.fund.queue.remove(0);
        fund_unit(state, &head, from_reservation, index);
    }
}

fn check_reason(reason: &str) -> Result<(), Rejection> {
    check_text(reason, "reason")?;
    if reason.trim().is_empty() {
        return reject(ReasonCode::Empty, "give a reason: every report shows it");
    }
    Ok(())
}

/// A fund adjustment's delta: either sign, never 0.00, at most what one transaction may
/// state either way. The one definition the rules and the CLI share.
pub fn check_adjustment(delta: Amount) -> Result<Amount, Rejection> {
    if delta.is_zero() {
        return reject(ReasonCode::InvalidAmount, "a fund adjustment of 0.00 changes nothing");
    }
    if delta.cents().abs() > crate::amount::STATED_AMOUNT_CENTS_MAX {
        return reject(ReasonCode::LimitExceeded, format!("a fund adjustment of {delta} is beyond what one transaction may state"));
    }
    Ok(delta)
}

pub fn adjust(state: &mut LedgerState, context: &Context, body: &pb::FundAdjusted) -> Result<(), Rejection> {
    check_reason(&body.reason)?;
    let delta = check_adjustment(Amount::from_micros(body.delta_micros)?)?;
    let effective = Date::parse(&body.effective, "effective date")?;
    let new_total =
        state.fund.total().checked_add(delta).ok_or_else(|| Rejection::new(ReasonCode::InvalidAmount, "the adjustment is too large"))?;
    let needed = state.committed() + state.fund.reserved();
    if new_total < needed {
        return reject(
            ReasonCode::FundWouldNotCover,
            format!(
                "the fund would be {new_total}, less than the {needed} committed and reserved; lower it by at most {}",
                state.fund.total() - needed
            ),
        );
    }
    state.fund.adjustments.push(crate::state::Adjustment { delta, reason: body.reason.clone(), effective, at: context.index });
    Ok(())
}

pub fn set_reservation(state: &mut LedgerState, _context: &Context, body: &pb::ReservationSet) -> Result<(), Rejection> {
    check_slug(&body.theme, "theme")?;
    check_reason(&body.reason)?;
    let amount = Amount::positive_from_micros(body.amount_micros, "the reservation")?;
    let current = state.fund.reservations.get(&body.theme).cloned().unwrap_or(Reservation {
        amount: Amount::ZERO,
        used: Amount::ZERO,
        released: true,
    });
    if amount < current.used {
        return reject(
            ReasonCode::InvalidAmount,
            format!("the '{}' reservation already funded {}; it cannot be set below that", body.theme, current.used),
        );
    }
    let before = if current.released { Amount::ZERO } else { current.remaining() };
    let increase = amount - current.used - before;
    if increase > state.free() {
        return reject(
            ReasonCode::ReservationExceedsFree,
            format!("reserving {amount} for '{}' needs {increase} more, but only {} is free", body.theme, state.free()),
        );
    }
    state.fund.reservations.insert(body.theme.clone(), Reservation { amount, used: current.used, released: false });
    Ok(())
}

/// Releases what is left of a theme's reservation, or a stated part of it. A partial
/// release leaves the reservation open with less left; releasing all of it closes it.
pub fn release_reservation(state: &mut LedgerState, _context: &Context, body: &pb::ReservationReleased) -> Result<(), Rejection> {
    check_reason(&body.reason)?;
    let Some(reservation) = state.fund.reservations.get(&body.theme).filter(|reservation| !reservation.released) else {
        return reject(ReasonCode::UnknownReservation, format!("there is no open reservation for theme '{}'", body.theme));
    };
    let remaining = reservation.remaining();
    let part = if body.amount_micros == 0 { None } else { Some(Amount::positive_from_micros(body.amount_micros, "the release")?) };
    if let Some(part) = part.filter(|part| *part > remaining) {
        return reject(
            ReasonCode::ReleaseExceedsReservation,
            format!("releasing {part} of the '{}' reservation exceeds the {remaining} left; release at most {remaining}", body.theme),
        );
    }
    // What it did not need returns to the fund (and so to the queue).
    let reservation = state.fund.reservations.get_mut(&body.theme).expect("checked above");
    match part.filter(|part| *part < remaining) {
        Some(part) => reservation.amount -= part,
        None => {
            reservation.amount = reservation.used;
            reservation.released = true;
        }
    }
    Ok(())
}

pub fn close_intake(state: &mut LedgerState, _context: &Context, body: &pb::IntakeClosed) -> Result<(), Rejection> {
    check_text(&body.reason, "reason")?;
    let on = Date::parse(&body.closed_on, "closing date")?;
    if let Some(closed) = state.fund.intake_closed {
        return reject(ReasonCode::AlreadyExists, format!("intake already closed on {closed}"));
    }
    state.fund.intake_closed = Some(on);
    Ok(())
}

pub fn record_external(state: &mut LedgerState, context: &Context, body: &pb::ExternalFundingRecorded) -> Result<(), Rejection> {
    check_slug(&body.id, "external funding id")?;
    for (text, what) in [(&body.region, "region"), (&body.theme, "theme"), (&body.description, "description")] {
        check_text(text, what)?;
    }
    if context.genesis.sector(&body.sector).is_none() {
        return reject(ReasonCode::UnknownSector, format!("sector '{}' is not in genesis", body.sector));
    }
    let paid_on = Date::parse(&body.paid_on, "payment date")?;
    let amount = Amount::positive_from_micros(body.amount_micros, "the external funding")?;
    if state.external_funding.contains_key(&body.id) {
        return reject(ReasonCode::AlreadyExists, format!("external funding '{}' is already recorded", body.id));
    }
    state.external_funding.insert(
        body.id.clone(),
        ExternalFunding {
            id: body.id.clone(),
            sector: body.sector.clone(),
            region: body.region.clone(),
            theme: body.theme.clone(),
            paid_on,
            amount,
            description: body.description.clone(),
            recorded_by: context.signer.to_string(),
        },
    );
    Ok(())
}
