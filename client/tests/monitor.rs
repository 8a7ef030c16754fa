//! `fairshare report monitor` as a regulator reads it, on a real devnet after the demo:
//! each column counts by its own date (payable by attainment date, paid by value date), a
//! period (`--quarter`, `--from`, `--to`) keeps each column's amounts by that date, earmark
//! use is in euros, % and what remains, the two-way views add up to the rows, and `--csv`
//! carries the same figures as `--json`.
//!
//! The expected figures are derived here from other queries (`obligations`, `export
//! payments`), not from the monitor, so a monitor that counts by the wrong date fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use fairshare_client::views::{Monitor, MonitorRow, ObligationRow, PaymentRow};
use fairshare_protocol::{Amount, Date};

mod common;
use common::{binary, query, Devnet};

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(binary()).arg("--config").arg(config).args(args).output().expect("run fairshare")
}

fn quarter_of(date: &str) -> String {
    Date::parse(date, "date").expect("a date").quarter_label()
}

fn totals(rows: &[MonitorRow]) -> [Amount; 4] {
    let sum = |column: fn(&MonitorRow) -> Amount| rows.iter().map(column).sum::<Amount>();
    [sum(|row| row.committed), sum(|row| row.payable), sum(|row| row.paid), sum(|row| row.external)]
}

#[test]
fn the_monitor_counts_each_column_by_its_date_filters_by_period_and_prints_csv() {
    let mut devnet = Devnet::start(true);
    devnet.wait_ready();
    let config = devnet.client_config();
    let config = config.as_path();

    // Independently: payable per attainment quarter, paid per value-date quarter.
    let obligations: Vec<ObligationRow> = query(config, &["obligations"]);
    let payments: Vec<PaymentRow> = query(config, &["export", "payments"]);
    let mut payable: BTreeMap<String, Amount> = BTreeMap::new();
    for obligation in &obligations {
        *payable.entry(quarter_of(&obligation.attained_on)).or_default() += obligation.amount;
    }
    let mut paid: BTreeMap<String, Amount> = BTreeMap::new();
    for payment in payments.iter().filter(|payment| payment.reversed.is_none()) {
        *paid.entry(payment.value_date.quarter_label()).or_default() +=
            payment.settlements.iter().map(|settlement| settlement.amount).sum::<Amount>();
    }
    assert!(payments.iter().any(|payment| payment.reversed.is_some()), "the demo reverses a payment: the test must see it left out");

    let all: Monitor = query(config, &["report", "monitor"]);
    assert!(!all.quarters.is_empty());
    for row in &all.quarters {
        assert_eq!(row.payable, payable.get(&row.key).copied().unwrap_or_default(), "payable by attainment date in {}", row.key);
        assert_eq!(row.paid, paid.get(&row.key).copied().unwrap_or_default(), "paid by value date in {}", row.key);
        // The same quarter as a period: every view adds up to that quarter's row.
        let label = row.key.replace('-', "");
        let one: Monitor = query(config, &["report", "monitor", "--quarter", &label]);
        let expected = [row.committed, row.payable, row.paid, row.external];
        for rows in [&one.sectors, &one.regions, &one.themes, &one.quarters] {
            assert_eq!(totals(rows), expected, "--quarter {label}");
        }
        assert_eq!(one.quarters.len(), 1, "--quarter {label} shows only that quarter");
    }
    // Every view of the whole monitor adds up to the same totals, and per sector the
    // sector × quarter cells add up to the sector's row.
    let whole = totals(&all.quarters);
    for rows in [&all.sectors, &all.regions, &all.themes] {
        assert_eq!(totals(rows), whole);
    }
    for sector in &all.sectors {
        let cells: Vec<_> = all.sector_quarters.iter().filter(|cell| cell.row == sector.key).collect();
        assert_eq!(cells.iter().map(|cell| cell.paid).sum::<Amount>(), sector.paid, "{}", sector.key);
        assert_eq!(cells.iter().map(|cell| cell.committed).sum::<Amount>(), sector.committed, "{}", sector.key);
        let (earmark, used) = (sector.earmark.expect("an earmark"), sector.earmark_use.expect("earmark use"));
        assert_eq!(used, sector.committed + sector.external);
        assert_eq!(sector.earmark_remaining, Some(earmark - used), "{}", sector.key);
        assert_eq!(sector.earmark_use_percent, fairshare_protocol::query::percent(used, earmark), "{}", sector.key);
    }
    let msz = all.sectors.iter().find(|row| row.key == "msz").expect("msz");
    assert_ne!(msz.earmark_use_percent.as_deref(), Some("0.00"), "the demo uses part of the msz earmark");

    // --from/--to split the dates with no amount lost or counted twice.
    let first = all.quarters.first().expect("a quarter").key.replace('-', "");
    let cut = fairshare_protocol::query::Period::quarter(&first).and_then(|period| period.to).expect("its last day").to_string();
    let before: Monitor = query(config, &["report", "monitor", "--to", &cut]);
    let after: Monitor = query(config, &["report", "monitor", "--from", &next_day(&cut)]);
    let (before, after) = (totals(&before.sectors), totals(&after.sectors));
    for column in 0..4 {
        assert_eq!(before[column] + after[column], whole[column], "column {column} split at {cut}");
    }

    // CSV: the same figures as JSON, one shape for one- and two-way views.
    let output = run(config, &["report", "monitor", "--by", "sector,sector-quarter", "--csv"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
    assert_eq!(lines.next(), Some(fairshare_client::monitor::CSV_HEADER.join(",").as_str()));
    let records: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    let msz_csv = records.iter().find(|record| record[0] == "sector" && record[1] == "msz").expect("an msz row");
    assert_eq!(msz_csv[4], msz.earmark_use.expect("use").to_string());
    assert_eq!(msz_csv[5], msz.earmark_use_percent.as_deref().expect("%"));
    assert_eq!(msz_csv[9], msz.paid.to_string());
    let cells = records.iter().filter(|record| record[0] == "sector-quarter").count();
    assert_eq!(cells, all.sector_quarters.len());

    // The tables say which date each column counts by.
    let output = run(config, &["report", "monitor", "--quarter", &first]);
    let table = String::from_utf8(output.stdout).expect("utf-8");
    for said in ["paid (value date)", "payable (attainment date)", "committed (due date)", "use %", "remaining"] {
        assert!(table.contains(said), "the table says '{said}':\n{table}");
    }
    assert!(table.lines().next().is_some_and(|line| line.contains(&format!("IZA monitor, {}", describe(&first)))), "{table}");

    // Bad periods are refused with the flag named, before anything is asked.
    for (args, said) in [
        (&["--quarter", "2026Q5"][..], "--quarter: '2026Q5' is not a quarter"),
        (&["--from", "2026-05-01", "--to", "2026-04-30"][..], "after --to"),
        (&["--from", "2026-02-30"][..], "--from"),
        (&["--quarter", "2026Q1", "--from", "2026-01-01"][..], "cannot be used with"),
        (&["--csv", "--json"][..], "give one"),
    ] {
        let output = run(config, &[&["report", "monitor"][..], args].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(said), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn next_day(date: &str) -> String {
    let date = Date::parse(date, "date").expect("a date");
    // The last day of a quarter: the next day is the first of the next month.
    let (year, month) = if date.to_string().ends_with("12-31") { (date.year() + 1, 1) } else { (date.year(), date.quarter() * 3 + 1) };
    Date::new(year, month, 1).expect("a date").to_string()
}

fn describe(quarter: &str) -> String {
    let period = fairshare_protocol::query::Period::quarter(quarter).expect("a quarter");
    fairshare_client::monitor::describe(period)
}
