//! `fairshare report monitor|fund|spend`: the regulator's and the ministry's views.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::table::Table;
use fairshare_client::views::{FundReport, Monitor, MonitorRow, SpendRow};

use super::Context;

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
    /// paid by the ministry in its own column, per sector, region, theme and quarter; per sector
    /// also the earmark and its use (committed + external).
    #[command(after_help = "Example:\n  fairshare report monitor\n  fairshare report monitor --json")]
    Monitor,
    /// The fund: adjustments, reservations, committed, free, and the waiting queue.
    #[command(after_help = "Example:\n  fairshare report fund")]
    Fund,
    /// Paid per insurer per year (by value date, net of reversals).
    #[command(after_help = "Example:\n  fairshare report spend --json")]
    Spend,
}

fn rows(title: &str, rows: &[MonitorRow], earmarks: bool) -> String {
    let mut headers = vec![title];
    if earmarks {
        headers.extend([">earmark", ">earmark use"]);
    }
    headers.extend([">committed", ">payable", ">paid", ">external"]);
    let mut table = Table::new(&headers);
    for row in rows {
        let mut cells = vec![row.key.clone()];
        if earmarks {
            cells.push(row.earmark.map(|earmark| earmark.to_string()).unwrap_or_default());
            cells.push(row.earmark_use.map(|used| used.to_string()).unwrap_or_default());
        }
        cells.extend([row.committed.to_string(), row.payable.to_string(), row.paid.to_string(), row.external.to_string()]);
        table.row(cells);
    }
    table.render()
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self.command {
            Command::Monitor => {
                let monitor: Monitor = context.query(Query::Monitor(Empty {})).await?;
                if context.json {
                    return context.print_json(&monitor);
                }
                println!(
                    "{}\n{}\n{}\n{}",
                    rows("sector", &monitor.sectors, true),
                    rows("region", &monitor.regions, false),
                    rows("theme", &monitor.themes, false),
                    rows("quarter", &monitor.quarters, false)
                );
                let statuses: Vec<String> = monitor.plans_by_status.iter().map(|(status, count)| format!("{count} {status}")).collect();
                println!(
                    "plans: {}; quick tests: {}",
                    if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") },
                    monitor.quick_tests
                );
            }
            Command::Fund => {
                let fund: FundReport = context.query(Query::Fund(Empty {})).await?;
                if context.json {
                    return context.print_json(&fund);
                }
                let mut summary = Table::new(&["fund", ">amount"]);
                for (what, amount) in [
                    ("initial (genesis)", fund.initial),
                    ("total after adjustments", fund.total),
                    ("reserved", fund.reserved),
                    ("committed", fund.committed),
                    ("free", fund.free),
                    ("payable", fund.payable),
                    ("paid", fund.paid),
                ] {
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
