//! What nodes serve from the state: obligations by filter, balances per insurer and per
//! party, the quarterly monitor, the fund report and spend per insurer per year. Every view
//! adds up with the others.

mod common;

use common::*;
use fairshare_protocol::amount::Amount;
use fairshare_protocol::query::{self, ObligationFilter, Period};
use fairshare_protocol::testing::Scenario;
use fairshare_protocol::Date;

/// Plan "p" (theme acute-care, region roaz-utrecht) with three milestones:
///
/// - m1, due 2026-03-31: 600.00 msz for provider A paid to the cashier and 400.00 ggz for
///   provider B; attained in full on 2026-03-31 and confirmed.
/// - m2, due 2026-06-30: 200.00 wijk for provider B; attained at half on 2026-07-02 and
///   confirmed.
/// - m3, due 2026-09-30: 300.00 msz for provider A, still planned.
///
/// Payments: zk pays its m1 obligations in full (2026-04-10), cz pays 10.00 on m1 line 1
/// (2026-12-31) and 5.00 in 2027, vgz records 50.00 that it then reverses. The ministry
/// records 1000.00 paid for GGZ through its own budget.
fn monitored() -> Scenario {
    let mut scenario = world("100000.00");
    scenario.approve_plan(plan(
        "p",
        vec![
            milestone("m1", "2026-03-31", vec![line_via(PROVIDER_A, CASHIER, "msz", "600.00"), line(PROVIDER_B, "ggz", "400.00")]),
            milestone("m2", "2026-06-30", vec![line(PROVIDER_B, "wijk", "200.00")]),
            milestone("m3", "2026-09-30", vec![line(PROVIDER_A, "msz", "300.00")]),
        ],
    ));
    scenario.attain_and_confirm("p", "m1", "2026-03-31");
    scenario.ok(COORDINATOR, attained_fraction("p", "m2", "2026-07-02", "0.5"));
    scenario.ok(SECOND, confirmed("p", "m2"));
    scenario
        .ok("zk", paid("zk-1", &[(&obligation("p", "m1", 1, "zk"), "240.00"), (&obligation("p", "m1", 2, "zk"), "100.00")], "2026-04-10"));
    scenario.ok("cz", paid("cz-1", &[(&obligation("p", "m1", 1, "cz"), "10.00")], "2026-12-31"));
    scenario.ok("cz", paid("cz-2", &[(&obligation("p", "m1", 1, "cz"), "5.00")], "2027-01-04"));
    scenario.ok("vgz", paid("vgz-1", &[(&obligation("p", "m1", 1, "vgz"), "50.00")], "2026-05-01"));
    scenario.ok("vgz", reversed("vgz-1", "typing error: wrong obligation"));
    scenario.ok(MINISTRY, external_funding("vws-ggz-2025", "ggz", "1000.00", "2025-11-30"));
    scenario
}

fn ids(obligations: Vec<&fairshare_protocol::state::Obligation>) -> Vec<String> {
    obligations.into_iter().map(|obligation| obligation.id.clone()).collect()
}

#[test]
fn obligations_are_filtered_by_insurer_party_plan_openness_and_index() {
    let scenario = monitored();
    let state = scenario.ledger.state();
    assert_eq!(query::obligations(state, &ObligationFilter::default()).len(), 12, "m1: two lines, m2: one line, four insurers each");

    let zk = ObligationFilter { insurer: Some("zk".into()), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &zk)), ["p/m1/1/zk", "p/m1/2/zk", "p/m2/1/zk"]);
    let cashier = ObligationFilter { party: Some(CASHIER.into()), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &cashier)), ["p/m1/1/cz", "p/m1/1/menzis", "p/m1/1/vgz", "p/m1/1/zk"]);
    let provider_a = ObligationFilter { party: Some(PROVIDER_A.into()), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &provider_a)), ids(query::obligations(state, &cashier)), "the beneficiary matches too");
    let provider_b = ObligationFilter { party: Some(PROVIDER_B.into()), ..ObligationFilter::default() };
    assert_eq!(query::obligations(state, &provider_b).len(), 8);
    let other_plan = ObligationFilter { plan: Some("q".into()), ..ObligationFilter::default() };
    assert!(query::obligations(state, &other_plan).is_empty());

    let settled = ObligationFilter { open: Some(false), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &settled)), ["p/m1/1/zk", "p/m1/2/zk"]);
    let open = ObligationFilter { open: Some(true), ..ObligationFilter::default() };
    assert_eq!(query::obligations(state, &open).len(), 10);
    let m2_index = state.obligations["p/m2/1/zk"].created_at;
    let recent = ObligationFilter { from_index: Some(m2_index), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &recent)), ["p/m2/1/cz", "p/m2/1/menzis", "p/m2/1/vgz", "p/m2/1/zk"]);
    let combined =
        ObligationFilter { insurer: Some("cz".into()), party: Some(PROVIDER_B.into()), open: Some(true), ..ObligationFilter::default() };
    assert_eq!(ids(query::obligations(state, &combined)), ["p/m1/2/cz", "p/m2/1/cz"]);
}

#[test]
fn insurer_balances_sum_their_obligations_and_payments_net_of_reversals() {
    let scenario = monitored();
    let state = scenario.ledger.state();
    let balances = query::insurer_balances(state, scenario.ledger.genesis());
    assert_eq!(balances.iter().map(|balance| balance.insurer.as_str()).collect::<Vec<_>>(), ["cz", "menzis", "vgz", "zk"]);
    for balance in &balances {
        let own: Vec<_> = state.obligations.values().filter(|obligation| obligation.insurer == balance.insurer).collect();
        assert_eq!(balance.owed, own.iter().map(|obligation| obligation.amount).sum::<Amount>(), "{}", balance.insurer);
        assert_eq!(balance.paid, own.iter().map(|obligation| obligation.paid).sum::<Amount>(), "{}", balance.insurer);
        assert_eq!(balance.outstanding, balance.owed - balance.paid);
    }
    // zk: m1 line 1 240.00 + line 2 100.00 + m2 (100.00 over wijk, somatic key) 40.00.
    let zk = &balances[3];
    assert_eq!((zk.owed, zk.paid, zk.outstanding), (eur("380.00"), eur("340.00"), eur("40.00")));
    // vgz's reversed 50.00 is outstanding again.
    let vgz = &balances[2];
    assert_eq!((vgz.paid, vgz.outstanding), (eur("0.00"), vgz.owed));
    assert_eq!(balances[0].paid, eur("15.00"));
    // Still to come: m3's 300.00 by the key in force on its due date.
    let committed: Amount = balances.iter().map(|balance| balance.committed).sum();
    assert_eq!(committed, eur("300.00"));
    assert_eq!(zk.committed, eur("120.00"));
    let total_owed: Amount = balances.iter().map(|balance| balance.owed).sum();
    assert_eq!(total_owed, query::fund(state).payable);
}

#[test]
fn party_balances_show_what_is_receivable_as_payee_and_what_benefits_a_provider() {
    let scenario = monitored();
    let state = scenario.ledger.state();
    let balances = query::party_balances(state);
    let of = |party: &str| balances.iter().find(|balance| balance.party == party).unwrap_or_else(|| panic!("{party}")).clone();
    let (cashier, provider_a, provider_b, municipality) = (of(CASHIER), of(PROVIDER_A), of(PROVIDER_B), of(MUNICIPALITY));
    assert_eq!((cashier.receivable, cashier.received, cashier.outstanding), (eur("600.00"), eur("255.00"), eur("345.00")));
    assert_eq!((cashier.benefiting, provider_a.receivable, provider_a.benefiting), (eur("0.00"), eur("0.00"), eur("600.00")));
    assert_eq!((provider_b.receivable, provider_b.received, provider_b.benefiting), (eur("500.00"), eur("100.00"), eur("500.00")));
    assert_eq!(
        municipality,
        fairshare_protocol::query::PartyBalance { party: MUNICIPALITY.into(), name: format!("party {MUNICIPALITY}"), ..Default::default() }
    );
    let receivable: Amount = balances.iter().map(|balance| balance.receivable).sum();
    let received: Amount = balances.iter().map(|balance| balance.received).sum();
    let report = query::fund(state);
    assert_eq!((receivable, received), (report.payable, report.paid));
}

#[test]
fn the_monitor_keeps_external_funding_in_its_own_column_and_earmark_use_is_committed_plus_external() {
    let scenario = monitored();
    let state = scenario.ledger.state();
    let monitor = query::monitor(state, scenario.ledger.genesis(), Period::default());
    let report = query::fund(state);
    let external = eur("1000.00");
    // Committed, payable and paid count only money that flows through the ledger: every
    // view of them adds up to the fund report, which never sees external funding.
    for rows in [&monitor.sectors, &monitor.regions, &monitor.themes, &monitor.quarters] {
        assert_eq!(rows.iter().map(|row| row.payable).sum::<Amount>(), report.payable);
        assert_eq!(rows.iter().map(|row| row.paid).sum::<Amount>(), report.paid);
        assert_eq!(rows.iter().map(|row| row.committed).sum::<Amount>(), report.committed);
        assert_eq!(rows.iter().map(|row| row.external).sum::<Amount>(), external);
    }
    assert_eq!((report.payable, report.paid, report.committed), (eur("1100.00"), eur("355.00"), eur("1400.00")));
    assert_eq!(report.free, report.total - report.committed - report.reserved, "the fund is never charged for external funding");

    let sector = |id: &str| monitor.sectors.iter().find(|row| row.key == id).unwrap_or_else(|| panic!("{id}")).clone();
    let msz = sector("msz");
    assert_eq!(
        (msz.earmark, msz.earmark_use, msz.committed, msz.payable, msz.paid, msz.external),
        (Some(eur("940000000.00")), Some(eur("900.00")), eur("900.00"), eur("600.00"), eur("255.00"), eur("0.00"))
    );
    let ggz = sector("ggz");
    assert_eq!((ggz.committed, ggz.payable, ggz.paid, ggz.external), (eur("400.00"), eur("400.00"), eur("100.00"), external));
    assert_eq!(ggz.earmark_use, Some(eur("1400.00")), "earmark use is committed + external");
    let wijk = sector("wijk");
    assert_eq!((wijk.committed, wijk.payable, wijk.paid), (eur("100.00"), eur("100.00"), eur("0.00")));
    assert_eq!(sector("hamdz").committed, eur("0.00"), "every sector of genesis has a row, with its earmark");
    assert_eq!(sector("hamdz").earmark_use, Some(eur("0.00")));
    assert!(monitor.regions.iter().all(|row| row.earmark_use.is_none()), "earmark use is a sector figure");

    let quarter = |label: &str| monitor.quarters.iter().find(|row| row.key == label).unwrap_or_else(|| panic!("{label}")).clone();
    assert_eq!(quarter("2026-Q1").payable, eur("1000.00"), "payable by attainment quarter");
    assert_eq!(quarter("2026-Q3").payable, eur("100.00"));
    assert_eq!(quarter("2026-Q2").paid, eur("340.00"), "paid by value-date quarter, reversals excluded");
    assert_eq!(quarter("2026-Q4").paid, eur("10.00"));
    assert_eq!(quarter("2027-Q1").paid, eur("5.00"));
    assert_eq!(quarter("2025-Q4").external, external);
    assert_eq!(monitor.plans_by_status.get("approved"), Some(&1));
    assert_eq!(monitor.quick_tests, 1);
}

#[test]
fn a_monitor_period_keeps_each_column_by_its_own_date_so_paid_may_exceed_payable_in_a_quarter() {
    let scenario = monitored();
    let (state, genesis) = (scenario.ledger.state(), scenario.ledger.genesis());
    let q2 = Period::quarter("2026Q2").expect("a quarter");
    assert_eq!(q2, Period { from: Date::new(2026, 4, 1), to: Date::new(2026, 6, 30) });
    let monitor = query::monitor(state, genesis, q2);
    assert_eq!(monitor.period, q2);
    let total = |column: fn(&query::MonitorRow) -> Amount| monitor.sectors.iter().map(column).sum::<Amount>();
    // Q2: m2 is due (committed 100.00 wijk), nothing was attained, zk paid 340.00 on m1.
    assert_eq!(total(|row| row.committed), eur("100.00"), "committed by due date");
    assert_eq!(total(|row| row.payable), eur("0.00"), "payable by attainment date: m1 in Q1, m2 in Q3");
    assert_eq!(total(|row| row.paid), eur("340.00"), "paid by value date, the reversed vgz-1 left out");
    assert_eq!(total(|row| row.external), eur("0.00"));
    let msz = monitor.sectors.iter().find(|row| row.key == "msz").expect("msz");
    assert_eq!((msz.paid, msz.earmark_use, msz.earmark_use_percent.as_deref()), (eur("240.00"), Some(eur("0.00")), Some("0.00")));
    assert_eq!(msz.earmark_remaining, msz.earmark, "nothing committed in Q2 for msz");
    assert_eq!(monitor.quarters.iter().map(|row| row.key.as_str()).collect::<Vec<_>>(), ["2026-Q2"]);

    // Up to the end of Q1: m1 committed and payable, the ministry's 2025 payment, nothing paid.
    let to_q1 = Period { from: None, to: Date::new(2026, 3, 31) };
    let monitor = query::monitor(state, genesis, to_q1);
    let ggz = monitor.sectors.iter().find(|row| row.key == "ggz").expect("ggz");
    assert_eq!((ggz.committed, ggz.payable, ggz.paid, ggz.external), (eur("400.00"), eur("400.00"), eur("0.00"), eur("1000.00")));
    assert_eq!(ggz.earmark_use, Some(eur("1400.00")));
    assert_eq!(ggz.earmark_remaining, Some(ggz.earmark.expect("an earmark") - eur("1400.00")));
}

#[test]
fn the_two_way_views_add_up_to_the_rows_and_the_whole_monitor_to_the_fund_report() {
    let scenario = monitored();
    let monitor = query::monitor(scenario.ledger.state(), scenario.ledger.genesis(), Period::default());
    for cells in [&monitor.sector_quarters, &monitor.region_sectors] {
        for sector in &monitor.sectors {
            let (row_of, column_of) =
                (|cell: &&query::MonitorCell| cell.row == sector.key, |cell: &&query::MonitorCell| cell.column == sector.key);
            let mine: Vec<&query::MonitorCell> = cells.iter().filter(|cell| row_of(cell) || column_of(cell)).collect();
            assert_eq!(mine.iter().map(|cell| cell.committed).sum::<Amount>(), sector.committed, "{}", sector.key);
            assert_eq!(mine.iter().map(|cell| cell.payable).sum::<Amount>(), sector.payable, "{}", sector.key);
            assert_eq!(mine.iter().map(|cell| cell.paid).sum::<Amount>(), sector.paid, "{}", sector.key);
            assert_eq!(mine.iter().map(|cell| cell.external).sum::<Amount>(), sector.external, "{}", sector.key);
        }
    }
    let cell = |row: &str, column: &str| {
        monitor.sector_quarters.iter().find(|cell| cell.row == row && cell.column == column).unwrap_or_else(|| panic!("{row} {column}"))
    };
    assert_eq!((cell("msz", "2026-Q1").committed, cell("msz", "2026-Q3").committed), (eur("600.00"), eur("300.00")));
    assert_eq!(
        (cell("msz", "2026-Q2").paid, cell("msz", "2026-Q4").paid, cell("msz", "2027-Q1").paid),
        (eur("240.00"), eur("10.00"), eur("5.00"))
    );
}

#[test]
fn quarters_are_read_as_the_monitor_writes_them_and_percentages_round_half_even() {
    assert_eq!(Period::quarter("2026-Q4"), Some(Period { from: Date::new(2026, 10, 1), to: Date::new(2026, 12, 31) }));
    assert_eq!(Period::quarter("2026Q1"), Some(Period { from: Date::new(2026, 1, 1), to: Date::new(2026, 3, 31) }));
    for bad in ["2026Q5", "26Q1", "2026Q", "2026-Q12", "Q1", "2026q1", ""] {
        assert_eq!(Period::quarter(bad), None, "{bad}");
    }
    assert_eq!(query::percent(eur("1.00"), eur("3.00")).as_deref(), Some("33.33"));
    assert_eq!(query::percent(eur("1.00"), eur("8.00")).as_deref(), Some("12.50"));
    assert_eq!(query::percent(eur("0.01"), eur("200.00")).as_deref(), Some("0.00"), "0.005 rounds half-even to 0.00");
    assert_eq!(query::percent(eur("0.03"), eur("200.00")).as_deref(), Some("0.02"), "0.015 rounds half-even to 0.02");
    assert_eq!(query::percent(eur("5.00"), eur("0.00")), None);
}

#[test]
fn spend_per_insurer_per_year_follows_value_dates_and_leaves_out_reversed_payments() {
    let scenario = monitored();
    let spend: Vec<_> = query::spend(scenario.ledger.state()).into_iter().map(|row| (row.insurer, row.year, row.paid)).collect();
    assert_eq!(
        spend,
        [("cz".to_string(), 2026, eur("10.00")), ("cz".to_string(), 2027, eur("5.00")), ("zk".to_string(), 2026, eur("340.00"))]
    );
}

#[test]
fn a_reversal_makes_the_amount_outstanding_again_in_every_view_and_keeps_both_records() {
    let mut scenario = monitored();
    let before = query::insurer_balances(scenario.ledger.state(), scenario.ledger.genesis());
    scenario.ok("zk", reversed("zk-1", "the bank returned the transfer"));
    let state = scenario.ledger.state();
    let after = query::insurer_balances(state, scenario.ledger.genesis());
    assert_eq!(after[3].paid, before[3].paid - eur("340.00"));
    assert_eq!(after[3].outstanding, after[3].owed);
    assert_eq!(query::obligations(state, &ObligationFilter { open: Some(false), ..ObligationFilter::default() }).len(), 0);
    assert!(query::spend(state).iter().all(|row| row.insurer != "zk"));
    assert!(state.payments["zk-1"].reversed.is_some(), "the record stays, marked reversed");
    assert_eq!(state.payments.len(), 4);
    assert_eq!(state.obligations["p/m1/1/zk"].payments, ["zk-1"]);
    assert_conserved(state);
}

#[test]
fn the_fund_report_accounts_for_every_euro() {
    let mut scenario = monitored();
    scenario.ok(MINISTRY, reservation_set("networks", "500.00"));
    scenario.ok(MINISTRY, fund_adjusted("-1000.00"));
    let report = query::fund(scenario.ledger.state());
    assert_eq!(report.total, eur("99000.00"));
    assert_eq!(report.total, report.committed + report.reserved + report.free);
    assert_eq!((report.committed, report.reserved, report.free), (eur("1400.00"), eur("500.00"), eur("97100.00")));
    let summary = query::plans(scenario.ledger.state());
    assert_eq!(
        (summary[0].total, summary[0].committed, summary[0].payable, summary[0].paid),
        (eur("1500.00"), eur("1400.00"), eur("1100.00"), eur("355.00"))
    );
}

/// Issue 16: a proof may be asked for by a unique id prefix, a leaf index, an obligation
/// or a payment record; each resolves to the transaction and leaf behind it, and the rows
/// a treasury lists name the same transactions.
#[test]
fn a_proof_target_resolves_to_the_transaction_behind_it() {
    let scenario = monitored();
    let state = scenario.ledger.state();
    let row = query::ObligationRow::new(state, &state.obligations[&obligation("p", "m1", 1, "zk")]);
    assert_eq!(row.transaction_id.len(), 64, "{row:?}");
    assert_eq!(row.payment_records.len(), 1, "{row:?}");
    let payment = &row.payment_records[0];
    assert_eq!((payment.id.as_str(), payment.leaf), ("zk-1", state.payments["zk-1"].recorded_at));

    let resolved = |target: &str| query::resolve_transaction(state, target).map(|(key, leaf)| (hex::encode(key.0), leaf));
    let confirmation = (row.transaction_id.clone(), row.created_at);
    assert_eq!(resolved(&format!("obligation:{}", row.id)), Ok(confirmation.clone()));
    assert_eq!(resolved(&format!("leaf:{}", row.created_at)), Ok(confirmation.clone()));
    assert_eq!(resolved(&row.transaction_id), Ok(confirmation.clone()));
    assert_eq!(resolved(&row.transaction_id[..8].to_uppercase()), Ok(confirmation.clone()));
    assert_eq!(resolved("payment:zk-1"), Ok((payment.transaction_id.clone(), payment.leaf)));

    // Errors name what is wrong.
    assert!(resolved(&row.transaction_id[..7]).unwrap_err().contains("8 hex digits or more"));
    assert!(resolved("payment:nope").unwrap_err().contains("no payment record 'nope'"));
    assert!(resolved("obligation:p/m9/1/zk").unwrap_err().contains("no obligation"));
    assert!(resolved("leaf:99999").unwrap_err().contains("not in the log"));
    assert!(resolved("leaf:x").unwrap_err().contains("not a leaf index"));
    let absent = (0..16).map(|digit| format!("{digit:x}").repeat(8)).find(|prefix| resolved(prefix).is_err()).expect("a free prefix");
    assert!(resolved(&absent).unwrap_err().contains("no transaction id starts with"));

    // Two ids that share a prefix: ambiguous, and both are named.
    let mut shared = state.clone();
    let mut twin = state.leaf_ids[&row.created_at].0;
    twin[31] ^= 1;
    let index = shared.transactions.len() as u64;
    shared.record_leaf(&twin, "zk", 999_999, fairshare_protocol::state::Recorded { index, rejection: None });
    let message = query::resolve_transaction(&shared, &row.transaction_id[..40]).unwrap_err();
    assert!(message.contains("ambiguous") && message.contains(&hex::encode(twin)), "{message}");
    assert_eq!(query::resolve_transaction(&shared, &row.transaction_id).map(|(_, leaf)| leaf), Ok(row.created_at));
}
