//! `fairshare report monitor|fund|spend`: the regulator's and the ministry's views.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty, MonitorRequest};
use fairshare_client::monitor::{self, View};
use fairshare_client::table::Table;
use fairshare_client::views::{fund_summary, FundReport, Monitor, MonitorRow, SpendRow};
use fairshare_protocol::query::Period;

use super::{input, Context};

/// Reports: the IZA quarterly monitor, the fund and its queue, spend per insurer per year.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  fairshare report monitor\n  fairshare report fund --json\n  fairshare report spend")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The quarterly monitor: committed, payable and paid through the ledger, and external funding
    /// paid by the ministry in its own column, per sector, region, theme and quarter, and sector ×
    /// quarter and region × sector; per sector also the earmark, its use (committed + external)
    /// in euros and % of the earmark, and what remains.
    ///
    /// Each column counts by its own date: committed by the milestone's due date, payable by its
    /// attainment date, paid by the payment's value date (reversed payments left out), external by
    /// the date the ministry paid it. So one quarter may show more paid than payable: it pays what
    /// an earlier quarter made payable. A period keeps, per column, the amounts whose date falls in it.
    #[command(after_help = "Examples:\n  \
        fairshare report monitor\n  \
        fairshare report monitor --quarter 2026Q1\n  \
        fairshare report monitor --from 2026-01-01 --to 2026-06-30 --by sector\n  \
        fairshare report monitor --by sector-quarter --csv > monitor.csv\n  \
        fairshare report monitor --by region-sector --json")]
    Monitor(MonitorArgs),
    /// The fund: adjustments, reservations, committed, free, and the waiting queue.
    #[command(after_help = "Example:\n  fairshare report fund")]
    Fund,
    /// Paid per insurer per year (by value date, net of reversals).
    #[command(after_help = "Example:\n  fairshare report spend --json")]
    Spend,
}

#[derive(clap::Args)]
struct MonitorArgs {
    /// Count only one calendar quarter, e.g. 2026Q1 (or 2026-Q1, as the tables label them).
    #[arg(long, value_name = "YYYYQN", conflicts_with_all = ["from", "to"])]
    quarter: Option<String>,
    /// Count only amounts whose date (see above) is on or after this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<String>,
    /// Count only amounts whose date (see above) is on or before this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<String>,
    /// The views to show (default: sector, region, theme, quarter); repeat or separate with commas.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "VIEW")]
    by: Vec<View>,
    /// Print CSV (RFC 4180) of the views: view,row,column,earmark,…,external (one shape for all).
    #[arg(long)]
    csv: bool,
}

fn rows(title: &str, rows: &[MonitorRow], earmarks: bool) -> String {
    let headers = monitor::table_headers(title, earmarks);
    let mut table = Table::new(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    let amount = |value: Option<fairshare_protocol::Amount>| value.map(|amount| amount.to_string()).unwrap_or_default();
    for row in rows {
        let mut cells = vec![row.key.clone()];
        if earmarks {
            cells.extend([
                amount(row.earmark),
                amount(row.earmark_use),
                row.earmark_use_percent.clone().unwrap_or_default(),
                amount(row.earmark_remaining),
            ]);
        }
        cells.extend([row.committed.to_string(), row.payable.to_string(), row.paid.to_string(), row.external.to_string()]);
        table.row(cells);
    }
    table.render()
}

fn cells(row_title: &str, column_title: &str, cells: &[fairshare_protocol::query::MonitorCell]) -> String {
    let mut headers = monitor::table_headers(row_title, false);
    headers.insert(1, column_title.to_string());
    let mut table = Table::new(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    for cell in cells {
        table.row(vec![
            cell.row.clone(),
            cell.column.clone(),
            cell.committed.to_string(),
            cell.payable.to_string(),
            cell.paid.to_string(),
            cell.external.to_string(),
        ]);
    }
    if table.is_empty() {
        return format!("{row_title} × {column_title}: nothing in this period\n");
    }
    table.render()
}

impl MonitorArgs {
    async fn run(self, context: &Context) -> Result<()> {
        if self.csv && context.json {
            anyhow::bail!("--csv and --json both choose the output; give one");
        }
        let period: Period = input(monitor::period(self.quarter.as_deref(), self.from.as_deref(), self.to.as_deref()))?;
        let bound = |date: Option<fairshare_protocol::Date>| date.map(|date| date.to_string()).unwrap_or_default();
        let request = MonitorRequest { from: bound(period.from), to: bound(period.to) };
        let monitor: Monitor = context.query(Query::Monitor(request)).await?;
        if context.json {
            return context.print_json(&monitor);
        }
        let views = if self.by.is_empty() { View::ONE_WAY.to_vec() } else { self.by };
        if self.csv {
            print!("{}", monitor::csv(&monitor, &views));
            return Ok(());
        }
        print!("{}", monitor::legend(monitor.period));
        for view in &views {
            if let Some(one_way) = view.rows(&monitor) {
                print!("\n{}", rows(view.name(), one_way, *view == View::Sector));
            }
            if let Some((row_title, column_title, two_way)) = view.cells(&monitor) {
                print!("\n{}", cells(row_title, column_title, two_way));
            }
        }
        let statuses: Vec<String> = monitor.plans_by_status.iter().map(|(status, count)| format!("{count} {status}")).collect();
        println!(
            "\nplans now (any date): {}; quick tests: {}",
            if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") },
            monitor.quick_tests
        );
        Ok(())
    }
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self.command {
            Command::Monitor(monitor) => monitor.run(context).await?,
            Command::Fund => {
                let fund: FundReport = context.query(Query::Fund(Empty {})).await?;
                if context.json {
                    return context.print_json(&fund);
                }
                let mut summary = Table::new(&["fund", ">amount"]);
                for (what, amount) in fund_summary(&fund) {
                    summary.row(vec![what.to_string(), amount.to_string()]);
                }
                print!("{}", summary.render());
                if let Some(closed) = &fund.intake_closed {
                    println!("intake closed on {closed}");
                }
                if !fund.adjustments.is_empty() {
                    let mut table = Table::new(&["adjustment", ">delta", "effective", "reason"]);
                    for adjustment in &fund.adjustments {
                        table.row(vec![
                            format!("leaf {}", adjustment.index),
                            adjustment.delta.to_string(),
                            adjustment.effective.clone(),
                            adjustment.reason.clone(),
                        ]);
                    }
                    print!("\n{}", table.render());
                }
                if !fund.reservations.is_empty() {
                    let mut table = Table::new(&["reservation", ">amount", ">used", ">remaining", "released"]);
                    for reservation in &fund.reservations {
                        table.row(vec![
                            reservation.theme.clone(),
                            reservation.amount.to_string(),
                            reservation.used.to_string(),
                            reservation.remaining.to_string(),
                            if reservation.released { "yes".into() } else { "no".into() },
                        ]);
                    }
                    print!("\n{}", table.render());
                }
                let mut queue = Table::new(&[">queue", "plan", "addendum", "theme", ">total"]);
                for row in &fund.queue {
                    queue.row(vec![
                        row.position.to_string(),
                        row.plan.clone(),
                        row.addendum.clone(),
                        row.theme.clone(),
                        row.total.to_string(),
                    ]);
                }
                if queue.is_empty() {
                    println!("\nno plans wait in the queue");
                } else {
                    print!("\n{}", queue.render());
                }
            }
            Command::Spend => {
                let spend: Vec<SpendRow> = context.query(Query::Spend(Empty {})).await?;
                if context.json {
                    return context.print_json(&spend);
                }
                let mut table = Table::new(&["insurer", ">year", ">paid"]);
                for row in &spend {
                    table.row(vec![row.insurer.clone(), row.year.to_string(), row.paid.to_string()]);
                }
                print!("{}", table.render());
            }
        }
        Ok(())
    }
}
