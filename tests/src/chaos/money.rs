//! The money checks after a chaos run, on the state the nodes converged on (re-executed
//! from a node's audit log). Pure: a function of the state and genesis. Each check sums the
//! parts itself and compares with what the ledger keeps or reports, so a rule that books
//! money twice, loses a settlement or lets a payment exceed its obligation is named.
//!
//! - every confirmed milestone line: its obligations add up to its payable amount, and a
//!   milestone not confirmed has none;
//! - every obligation: `0 ≤ paid ≤ amount`, and `paid` is the sum of the settlements of
//!   its payments that were not reversed;
//! - balances: each insurer's owed, paid and outstanding are the sums over its obligations,
//!   and the insurers' totals are the ledger's (every obligation is some insurer's);
//! - the fund: its total is the initial amount plus the adjustments, what is free is the
//!   total less committed and reserved, payable is what obligations add up to.

use std::collections::BTreeMap;

use fairshare_protocol::amount::Amount;
use fairshare_protocol::genesis::Genesis;
use fairshare_protocol::query;
use fairshare_protocol::state::{LedgerState, MilestoneStatus};

/// Every broken money rule, in words; empty when the money adds up.
pub fn check_money(state: &LedgerState, genesis: &Genesis) -> Vec<String> {
    let mut broken = Vec::new();
    // (plan, milestone, line) → the obligations' total.
    let mut per_line: BTreeMap<(&str, &str, u32), Amount> = BTreeMap::new();
    for obligation in state.obligations.values() {
        *per_line.entry((&obligation.plan, &obligation.milestone, obligation.line)).or_default() += obligation.amount;
        if obligation.paid.is_negative() || obligation.paid > obligation.amount {
            broken.push(format!("obligation {} has {} paid of {}", obligation.id, obligation.paid, obligation.amount));
        }
    }
    for plan in state.plans.values() {
        for milestone in plan.milestones.values() {
            let confirmed = matches!(milestone.status, MilestoneStatus::Confirmed { .. });
            // Obligations number the lines from 1.
            for (number, line) in (1u32..).zip(&milestone.lines) {
                let owed = per_line.remove(&(plan.id.as_str(), milestone.id.as_str(), number)).unwrap_or_default();
                let expected = if confirmed { line.payable } else { Amount::ZERO };
                if owed != expected {
                    broken.push(format!(
                        "{}/{} line {number} ({}): obligations add up to {owed}, its payable amount is {expected}",
                        plan.id,
                        milestone.id,
                        query::milestone_status_name(&milestone.status)
                    ));
                }
            }
        }
    }
    for ((plan, milestone, line), owed) in per_line {
        broken.push(format!("obligations of {owed} for {plan}/{milestone} line {line}, which the ledger does not hold"));
    }

    let mut settled: BTreeMap<&str, Amount> = BTreeMap::new();
    let mut paid_in_payments = Amount::ZERO;
    for payment in state.payments.values().filter(|payment| payment.reversed.is_none()) {
        for (obligation, amount) in &payment.settlements {
            *settled.entry(obligation).or_default() += *amount;
            paid_in_payments += *amount;
        }
    }
    for obligation in state.obligations.values() {
        let settled = settled.remove(obligation.id.as_str()).unwrap_or_default();
        if settled != obligation.paid {
            broken.push(format!("obligation {}: its payments settle {settled}, it says {} paid", obligation.id, obligation.paid));
        }
    }
    for (obligation, amount) in settled {
        broken.push(format!("payments settle {amount} on {obligation}, which is no obligation"));
    }

    let owed: Amount = state.obligations.values().map(|obligation| obligation.amount).sum();
    let paid: Amount = state.obligations.values().map(|obligation| obligation.paid).sum();
    if paid != paid_in_payments {
        broken.push(format!("obligations say {paid} paid, the payments not reversed add up to {paid_in_payments}"));
    }
    let balances = query::insurer_balances(state, genesis);
    for balance in &balances {
        let mine = state.obligations.values().filter(|obligation| obligation.insurer == balance.insurer);
        let (owed, paid) =
            mine.fold((Amount::ZERO, Amount::ZERO), |(owed, paid), obligation| (owed + obligation.amount, paid + obligation.paid));
        if (balance.owed, balance.paid, balance.outstanding) != (owed, paid, owed - paid) {
            broken.push(format!(
                "{}: balance says owed {}, paid {}, outstanding {}; its obligations add up to {owed}, {paid}, {}",
                balance.insurer,
                balance.owed,
                balance.paid,
                balance.outstanding,
                owed - paid
            ));
        }
    }
    let (balances_owed, balances_paid) =
        balances.iter().fold((Amount::ZERO, Amount::ZERO), |(owed, paid), balance| (owed + balance.owed, paid + balance.paid));
    if (balances_owed, balances_paid) != (owed, paid) {
        broken.push(format!(
            "the insurers' balances add up to {balances_owed} owed and {balances_paid} paid; the obligations to {owed} and {paid}"
        ));
    }

    let fund = query::fund(state);
    let adjusted = fund.initial + fund.adjustments.iter().map(|adjustment| adjustment.delta).sum::<Amount>();
    if fund.total != adjusted {
        broken.push(format!("the fund's total is {}, its initial amount and adjustments add up to {adjusted}", fund.total));
    }
    if fund.free != fund.total - fund.committed - fund.reserved {
        broken.push(format!(
            "the fund has {} free, but total {} less committed {} and reserved {} is {}",
            fund.free,
            fund.total,
            fund.committed,
            fund.reserved,
            fund.total - fund.committed - fund.reserved
        ));
    }
    if (fund.payable, fund.paid) != (owed, paid) {
        broken
            .push(format!("the fund reports {} payable and {} paid; the obligations add up to {owed} and {paid}", fund.payable, fund.paid));
    }
    if fund.paid > fund.payable {
        broken.push(format!("the fund pays {} of {} payable", fund.paid, fund.payable));
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairshare_protocol::ledger::Ledger;
    use std::sync::Arc;

    /// A ledger with two confirmed milestones and a payment, through the real rules.
    fn paid_ledger() -> (Ledger, Arc<Genesis>) {
        let genesis = Arc::new(fairshare_protocol::testing::genesis_file("1000000.00").build().expect("the test genesis"));
        let mut ledger = Ledger::new(genesis.clone());
        let mut signer = crate::Signer::new("iza-test", 0);
        let mut envelopes = crate::approved_plan(&mut signer, "p1");
        envelopes.extend(crate::attain_and_confirm(&mut signer, "p1", "m1"));
        let obligation = fairshare_protocol::rules::milestone::obligation_id("p1", "m1", 1, "zk");
        envelopes.push(crate::payment(&mut signer, "zk", "pay-1", &obligation, 100_000_000));
        for envelope in envelopes {
            let outcomes = ledger.apply_block(&fairshare_protocol::pb::Block { envelopes: vec![envelope] });
            assert!(
                outcomes.iter().all(|outcome| matches!(outcome.verdict, fairshare_protocol::ledger::Verdict::Applied { .. })),
                "{outcomes:?}"
            );
        }
        (ledger, genesis)
    }

    #[test]
    fn the_money_of_a_ledger_the_rules_wrote_adds_up() {
        let (ledger, genesis) = paid_ledger();
        assert!(!ledger.state().obligations.is_empty() && !ledger.state().payments.is_empty());
        assert_eq!(check_money(ledger.state(), &genesis), Vec::<String>::new());
    }

    #[test]
    fn money_booked_twice_or_lost_is_named() {
        let (ledger, genesis) = paid_ledger();
        let mut state = ledger.state().clone();
        let id = fairshare_protocol::rules::milestone::obligation_id("p1", "m1", 1, "zk");
        let mut obligation = state.obligations.get(&id).expect("zk's obligation").clone();
        obligation.paid += Amount::from_cents(100);
        state.obligations.insert(id.clone(), obligation.clone());
        let broken = check_money(&state, &genesis);
        assert!(broken.iter().any(|line| line.contains("its payments settle")), "{broken:#?}");

        let mut state = ledger.state().clone();
        obligation.paid = Amount::ZERO;
        obligation.amount += Amount::from_cents(1);
        state.obligations.insert(id, obligation);
        let broken = check_money(&state, &genesis);
        assert!(broken.iter().any(|line| line.contains("obligations add up to")), "{broken:#?}");
    }
}
