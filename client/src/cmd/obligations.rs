//! `fairshare obligations`: who owes which party what, and what is paid.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, ObligationFilter};
use fairshare_client::table::Table;
use fairshare_client::views::ObligationRow;

use super::Context;

/// List obligations (one per insurer per milestone line): amount, paid, outstanding.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare obligations --insurer zk --open          # what Zilveren Kruis still has to pay\n  \
    fairshare obligations --party kvk:34112233          # what is owed to a cashier (as payee or beneficiary)\n  \
    fairshare obligations --plan rav-nw-acute --json\n\n\
    JSON: an array of objects with id, plan, milestone, line, insurer, provider (the beneficiary), payee,\n\
    sector, region, theme, amount, paid, outstanding (strings with two decimals), attained_on, key_group,\n\
    key_version, created_at and transaction_id (the leaf and transaction of the confirmation that created it),\n\
    payments (payment record ids) and payment_records (each with id, leaf and transaction_id). The node's\n\
    Query answers with exactly these objects. 'fairshare audit prove ID' proves any of these transactions.")]
pub struct Args {
    /// Only this insurer's obligations.
    #[arg(long)]
    insurer: Option<String>,
    /// Only those where this party is payee or beneficiary.
    #[arg(long)]
    party: Option<String>,
    /// Only this plan's obligations.
    #[arg(long)]
    plan: Option<String>,
    /// Only those with something outstanding.
    #[arg(long, conflicts_with = "settled")]
    open: bool,
    /// Only those paid in full.
    #[arg(long)]
    settled: bool,
}

impl Args {
    pub fn filter(&self) -> ObligationFilter {
        ObligationFilter {
            insurer: self.insurer.clone().unwrap_or_default(),
            party: self.party.clone().unwrap_or_default(),
            plan: self.plan.clone().unwrap_or_default(),
            open_only: self.open,
            settled_only: self.settled,
        }
    }

    pub async fn run(self, context: &Context) -> Result<()> {
        let rows: Vec<ObligationRow> = context.query(Query::Obligations(self.filter())).await?;
        if context.json {
            return context.print_json(&rows);
        }
        let mut table = Table::new(&["obligation", "insurer", "payee", "provider", "sector", ">amount", ">paid", ">outstanding"]);
        for row in &rows {
            table.row(vec![
                row.id.clone(),
                row.insurer.clone(),
                row.payee.clone(),
                if row.provider == row.payee { String::new() } else { row.provider.clone() },
                row.sector.clone(),
                row.amount.to_string(),
                row.paid.to_string(),
                row.outstanding.to_string(),
            ]);
        }
        let total =
            |pick: fn(&ObligationRow) -> fairshare_protocol::Amount| rows.iter().map(pick).sum::<fairshare_protocol::Amount>().to_string();
        if !rows.is_empty() {
            table.row(vec![
                format!("total ({} obligations)", rows.len()),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                total(|row| row.amount),
                total(|row| row.paid),
                total(|row| row.outstanding),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
}
