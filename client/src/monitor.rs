//! The IZA quarterly monitor as people and finance systems read it: the period asked for,
//! what each column counts by, the views (`--by`), and CSV. `fairshare report monitor` and
//! the dashboard's regulator page both use this, so they say the same thing.

use fairshare_protocol::query::{Monitor, MonitorCell, MonitorRow, Period};
use fairshare_protocol::{Amount, Date};

use crate::csv;
use crate::InputError;

/// The four columns, each with the date it counts by (as `fairshare_protocol::query::Monitor`
/// computes them), in the order every table, CSV and chart shows them.
pub const COLUMNS: [(&str, &str); 4] = [
    ("committed", "by due date: what funded plans' milestones commit (the payable once confirmed, nothing once missed)"),
    ("payable", "by attainment date: obligations that arose when milestones were confirmed"),
    ("paid", "by value date: payments recorded, reversed ones left out"),
    ("external", "by the date the ministry paid it, outside the ledger (never charged to the fund)"),
];

/// Column headers that name their date: `committed (due date)`, …
pub const HEADERS: [&str; 4] = ["committed (due date)", "payable (attainment date)", "paid (value date)", "external (date paid)"];

/// The headers of a table of one-way rows (`Table`'s form: '>' marks an amount column):
/// the row's name, the earmark columns when `earmarks`, and the four columns by [`HEADERS`].
pub fn table_headers(title: &str, earmarks: bool) -> Vec<String> {
    let mut headers = vec![title.to_string()];
    if earmarks {
        headers.extend([">earmark", ">earmark use", ">use %", ">remaining"].map(String::from));
    }
    headers.extend(HEADERS.iter().map(|header| format!(">{header}")));
    headers
}

/// What the earmark columns mean (sectors only).
pub const EARMARK_LEGEND: &str =
    "earmark use = committed + external, in euros and as % of the earmark; remaining = earmark - use (negative: used beyond it; an earmark is a floor, not a cap)";

/// The views of `report monitor --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// Per sector, with its earmark, earmark use (euros and %) and what remains.
    Sector,
    /// Per region of the plans.
    Region,
    /// Per theme of the plans.
    Theme,
    /// Per calendar quarter of each column's own date.
    Quarter,
    /// Sector × quarter.
    SectorQuarter,
    /// Region × sector.
    RegionSector,
}

impl View {
    pub const ONE_WAY: [View; 4] = [View::Sector, View::Region, View::Theme, View::Quarter];

    pub fn name(self) -> &'static str {
        match self {
            View::Sector => "sector",
            View::Region => "region",
            View::Theme => "theme",
            View::Quarter => "quarter",
            View::SectorQuarter => "sector-quarter",
            View::RegionSector => "region-sector",
        }
    }

    /// The one-way rows of this view, `None` for a two-way view.
    pub fn rows(self, monitor: &Monitor) -> Option<&[MonitorRow]> {
        match self {
            View::Sector => Some(&monitor.sectors),
            View::Region => Some(&monitor.regions),
            View::Theme => Some(&monitor.themes),
            View::Quarter => Some(&monitor.quarters),
            View::SectorQuarter | View::RegionSector => None,
        }
    }

    /// The cells of a two-way view with the names of its row and column, `None` for a one-way view.
    pub fn cells(self, monitor: &Monitor) -> Option<(&'static str, &'static str, &[MonitorCell])> {
        match self {
            View::SectorQuarter => Some(("sector", "quarter", &monitor.sector_quarters)),
            View::RegionSector => Some(("region", "sector", &monitor.region_sectors)),
            _ => None,
        }
    }
}

/// The period of `--quarter`, `--from` and `--to`: a quarter ("2026Q1" or "2026-Q1"), or
/// inclusive dates, or nothing (all dates). A quarter with dates, a bad date or `from`
/// after `to` is an error naming the flag.
pub fn period(quarter: Option<&str>, from: Option<&str>, to: Option<&str>) -> Result<Period, InputError> {
    if let Some(quarter) = quarter {
        if from.is_some() || to.is_some() {
            return Err(InputError::new("--quarter", "give a quarter or --from/--to, not both"));
        }
        return Period::quarter(quarter).ok_or_else(|| {
            InputError::new("--quarter", format!("'{}' is not a quarter like 2026Q1", fairshare_protocol::ids::echo(quarter)))
        });
    }
    let date = |text: Option<&str>, flag: &str| -> Result<Option<Date>, InputError> {
        text.map(|text| Date::parse(text, "date").map_err(|rejection| InputError::new(flag, rejection.message))).transpose()
    };
    let period = Period { from: date(from, "--from")?, to: date(to, "--to")? };
    if let (Some(from), Some(to)) = (period.from, period.to) {
        if from > to {
            return Err(InputError::new("--from", format!("{from} is after --to {to}")));
        }
    }
    Ok(period)
}

/// "all dates", "2026-04-01 to 2026-06-30", "from 2026-04-01", "up to 2026-06-30".
pub fn describe(period: Period) -> String {
    match (period.from, period.to) {
        (None, None) => "all dates".to_string(),
        (Some(from), Some(to)) => format!("{from} to {to}"),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("up to {to}"),
    }
}

/// The legend printed above the tables: the period, then each column's date.
pub fn legend(period: Period) -> String {
    let mut out = format!("IZA monitor, {}. Each column counts by its own date:\n", describe(period));
    for (column, date) in COLUMNS {
        out.push_str(&format!("  {column:<9}  {date}\n"));
    }
    out.push_str(&format!("  {EARMARK_LEGEND}\n"));
    out
}

fn amount(value: Option<Amount>) -> String {
    value.map(|amount| amount.to_string()).unwrap_or_default()
}

/// The CSV header of [`csv`]: one shape for every view, so a finance system reads one file.
pub const CSV_HEADER: [&str; 11] = [
    "view",
    "row",
    "column",
    "earmark",
    "earmark_use",
    "earmark_use_percent",
    "earmark_remaining",
    "committed",
    "payable",
    "paid",
    "external",
];

/// The views as CSV (RFC 4180): a one-way row has an empty `column`, a two-way cell no earmark.
pub fn csv(monitor: &Monitor, views: &[View]) -> String {
    let mut out = csv::record(&CSV_HEADER);
    for view in views {
        for row in view.rows(monitor).unwrap_or_default() {
            out.push_str(&csv::record(&[
                view.name().to_string(),
                row.key.clone(),
                String::new(),
                amount(row.earmark),
                amount(row.earmark_use),
                row.earmark_use_percent.clone().unwrap_or_default(),
                amount(row.earmark_remaining),
                row.committed.to_string(),
                row.payable.to_string(),
                row.paid.to_string(),
                row.external.to_string(),
            ]));
        }
        for cell in view.cells(monitor).map(|(_, _, cells)| cells).unwrap_or_default() {
            out.push_str(&csv::record(&[
                view.name().to_string(),
                cell.row.clone(),
                cell.column.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                cell.committed.to_string(),
                cell.payable.to_string(),
                cell.paid.to_string(),
                cell.external.to_string(),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_quarter_or_dates_never_both_and_never_backwards() {
        let q1 = period(Some("2026Q1"), None, None).unwrap();
        assert_eq!((q1.from, q1.to), (Date::new(2026, 1, 1), Date::new(2026, 3, 31)));
        assert_eq!(describe(q1), "2026-01-01 to 2026-03-31");
        assert!(period(Some("2026Q1"), Some("2026-01-01"), None).unwrap_err().to_string().contains("not both"));
        assert!(period(Some("2026Q9"), None, None).unwrap_err().to_string().starts_with("--quarter: '2026Q9'"));
        assert!(period(None, Some("2026-13-01"), None).unwrap_err().to_string().starts_with("--from:"));
        assert!(period(None, Some("2026-05-01"), Some("2026-04-30")).unwrap_err().to_string().contains("after --to"));
        assert_eq!(describe(period(None, None, Some("2026-06-30")).unwrap()), "up to 2026-06-30");
        assert_eq!(period(None, None, None).unwrap(), Period::default());
    }

    #[test]
    fn csv_has_one_shape_for_one_and_two_way_views_and_quotes_what_needs_it() {
        let euros = |text: &str| text.parse::<Amount>().unwrap();
        let monitor = Monitor {
            sectors: vec![MonitorRow {
                key: "msz".into(),
                earmark: Some(euros("100.00")),
                earmark_use: Some(euros("25.00")),
                earmark_use_percent: Some("25.00".into()),
                earmark_remaining: Some(euros("75.00")),
                committed: euros("20.00"),
                external: euros("5.00"),
                ..MonitorRow::default()
            }],
            region_sectors: vec![MonitorCell { row: "noord, west".into(), column: "msz".into(), ..MonitorCell::default() }],
            ..Monitor::default()
        };
        let text = csv(&monitor, &[View::Sector, View::Region, View::RegionSector]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER.join(","));
        assert_eq!(lines[1], "sector,msz,,100.00,25.00,25.00,75.00,20.00,0.00,0.00,5.00");
        assert_eq!(lines[2], "region-sector,\"noord, west\",msz,,,,,0.00,0.00,0.00,0.00");
        assert_eq!(lines.len(), 4, "{text}");
    }
}
