//! The CSV files of `fairshare export` (RFC 4180, see [`crate::csv`]): obligations with the
//! payee's name and IBAN, and payments with one row per settlement. The dashboard's
//! downloads are these same files.

use std::collections::BTreeMap;

use fairshare_protocol::state::Party;

use crate::csv;
use crate::views::{ObligationRow, PaymentRow};

/// One row per obligation, with the payee's name and IBAN: a payment file's source.
pub fn obligations_csv(obligations: &[ObligationRow], parties: &BTreeMap<String, Party>) -> String {
    let mut text = csv::record(&[
        "obligation",
        "plan",
        "milestone",
        "line",
        "insurer",
        "provider",
        "payee",
        "payee_name",
        "payee_iban",
        "sector",
        "region",
        "theme",
        "amount",
        "paid",
        "outstanding",
        "attained_on",
        "key_group",
        "key_version",
    ]);
    for obligation in obligations {
        let payee = parties.get(&obligation.payee);
        text.push_str(&csv::record(&[
            obligation.id.clone(),
            obligation.plan.clone(),
            obligation.milestone.clone(),
            obligation.line.to_string(),
            obligation.insurer.clone(),
            obligation.provider.clone(),
            obligation.payee.clone(),
            payee.map(|party| party.name.clone()).unwrap_or_default(),
            payee.and_then(|party| party.iban.clone()).unwrap_or_default(),
            obligation.sector.clone(),
            obligation.region.clone(),
            obligation.theme.clone(),
            obligation.amount.to_string(),
            obligation.paid.to_string(),
            obligation.outstanding.to_string(),
            obligation.attained_on.clone(),
            obligation.key_group.clone(),
            obligation.key_version.to_string(),
        ]));
    }
    text
}

/// One row per settlement of each payment record (reversed ones marked).
pub fn payments_csv(payments: &[&PaymentRow]) -> String {
    let mut text = csv::record(&[
        "payment",
        "insurer",
        "obligation",
        "amount",
        "value_date",
        "bank_reference",
        "recorded_at",
        "reversed",
        "reversal_reason",
    ]);
    for payment in payments {
        for settlement in &payment.settlements {
            text.push_str(&csv::record(&[
                payment.id.clone(),
                payment.insurer.clone(),
                settlement.obligation.clone(),
                settlement.amount.to_string(),
                payment.value_date.to_string(),
                payment.bank_reference.clone(),
                payment.recorded_at.to_string(),
                payment.reversed.as_ref().map(|reversal| format!("leaf {}", reversal.at)).unwrap_or_default(),
                payment.reversed.as_ref().map(|reversal| reversal.reason.clone()).unwrap_or_default(),
            ]));
        }
    }
    text
}
