//! `fairshare plans`: every plan with its status, funding and money.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::table::Table;
use fairshare_client::views::PlanSummary;

use super::Context;

/// List every plan: status, funding (funded, queued), what awaits whom (a one-sided cancel or
/// reschedule), total, committed, payable and paid.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare plans\n  fairshare plans --json\n  fairshare plan show rav-nw-acute     # one plan in detail"
)]
pub struct Args {}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let plans: Vec<PlanSummary> = context.query(Query::Plans(Empty {})).await?;
        if context.json {
            return context.print_json(&plans);
        }
        let mut table = Table::new(&[
            "plan",
            ">v",
            "status",
            "funding",
            "pending",
            "assessors",
            "region",
            "theme",
            ">total",
            ">committed",
            ">payable",
            ">paid",
        ]);
        for plan in &plans {
            table.row(vec![
                plan.id.clone(),
                plan.version.to_string(),
                plan.status.clone(),
                plan.funding.clone(),
                if plan.pending.is_empty() { "-".to_string() } else { plan.awaits() },
                format!("{}+{}", plan.coordinating_insurer, plan.second_assessor),
                plan.region.clone(),
                plan.theme.clone(),
                plan.total.to_string(),
                plan.committed.to_string(),
                plan.payable.to_string(),
                plan.paid.to_string(),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
}
