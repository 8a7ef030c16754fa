//! Payments: recorded by the obligated insurer (one record may settle several of its
//! obligations, each partially), and reversed by their author when a transfer bounced.
//! No clawback: a reversal corrects a *record*; history keeps both.

use std::collections::BTreeMap;

use super::Context;
use crate::amount::Amount;
use crate::date::Date;
use crate::ids::{check_slug, check_text};
use crate::pb::{self, ReasonCode};
use crate::rejection::{reject, Rejection};
use crate::state::{LedgerState, Payment, Reversal};
use crate::PAYMENT_SETTLEMENTS_MAX;

pub fn record(state: &mut LedgerState, context: &Context, body: &pb::PaymentRecorded) -> Result<(), Rejection> {
    let insurer = context.insurer()?.to_string();
    check_slug(&body.payment, "payment id")?;
    check_text(&body.bank_reference, "bank reference")?;
    if state.payments.contains_key(&body.payment) {
        return reject(
            ReasonCode::AlreadyExists,
            format!("payment '{}' is already recorded; give each payment record its own id", body.payment),
        );
    }
    if body.settlements.is_empty() {
        return reject(ReasonCode::Empty, "a payment settles at least one obligation");
    }
    if body.settlements.len() > PAYMENT_SETTLEMENTS_MAX {
        return reject(
            ReasonCode::LimitExceeded,
            format!("{} settlements in one payment; at most {PAYMENT_SETTLEMENTS_MAX}", body.settlements.len()),
        );
    }
    let value_date = Date::parse(&body.value_date, "value date")?;
    // Sum per obligation first: two parts for one obligation in one record count together.
    let mut per_obligation: BTreeMap<&str, Amount> = BTreeMap::new();
    let mut settlements = Vec::with_capacity(body.settlements.len());
    for settlement in &body.settlements {
        let amount = Amount::positive_from_micros(settlement.amount_micros, &format!("the amount paid on {}", settlement.obligation))?;
        let Some(obligation) = state.obligations.get(&settlement.obligation) else {
            return reject(ReasonCode::UnknownObligation, format!("there is no obligation '{}'", settlement.obligation));
        };
        if obligation.insurer != insurer {
            return reject(
                ReasonCode::NotObligatedInsurer,
                format!(
                    "obligation '{}' is owed by {}, not {insurer}; each insurer records its own payments",
                    obligation.id, obligation.insurer
                ),
            );
        }
        *per_obligation.entry(&settlement.obligation).or_insert(Amount::ZERO) += amount;
        settlements.push((settlement.obligation.clone(), amount));
    }
    for (id, amount) in &per_obligation {
        let outstanding = state.obligations[*id].outstanding();
        if *amount > outstanding {
            return reject(
                ReasonCode::PaymentExceedsOutstanding,
                format!("payment of {amount} exceeds the {outstanding} still open on obligation {id}; record at most {outstanding}"),
            );
        }
    }
    for (id, amount) in &settlements {
        let obligation = state.obligations.get_mut(id).expect("checked above");
        obligation.paid += *amount;
        assert!(obligation.paid <= obligation.amount, "paid never exceeds an obligation");
        if obligation.payments.last() != Some(&body.payment) {
            obligation.payments.push(body.payment.clone());
        }
    }
    state.payments.insert(
        body.payment.clone(),
        Payment {
            id: body.payment.clone(),
            insurer,
            settlements,
            value_date,
            bank_reference: body.bank_reference.clone(),
            recorded_at: context.index,
            reversed: None,
        },
    );
    debug_assert!(state.paid_never_exceeds_obligations());
    Ok(())
}

pub fn reverse(state: &mut LedgerState, context: &Context, body: &pb::PaymentReversed) -> Result<(), Rejection> {
    let insurer = context.insurer()?;
    check_text(&body.reason, "reason")?;
    if body.reason.trim().is_empty() {
        return reject(ReasonCode::Empty, "a reversal needs a reason (the transfer bounced, a typing error…)");
    }
    let Some(payment) = state.payments.get(&body.payment) else {
        return reject(ReasonCode::UnknownPayment, format!("there is no payment '{}'", body.payment));
    };
    if payment.insurer != insurer {
        return reject(
            ReasonCode::SignerNotAuthorised,
            format!("payment '{}' was recorded by {}; only its author may reverse it", body.payment, payment.insurer),
        );
    }
    if payment.reversed.is_some() {
        return reject(ReasonCode::PaymentAlreadyReversed, format!("payment '{}' was already reversed", body.payment));
    }
    let settlements = payment.settlements.clone();
    for (id, amount) in settlements {
        let obligation = state.obligations.get_mut(&id).expect("payments settle existing obligations");
        obligation.paid -= amount;
        assert!(!obligation.paid.is_negative(), "a reversal never makes paid negative");
    }
    state.payments.get_mut(&body.payment).expect("checked above").reversed =
        Some(Reversal { reason: body.reason.clone(), at: context.index });
    Ok(())
}
