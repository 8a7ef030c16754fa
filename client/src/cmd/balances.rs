//! `fairshare balances`: per insurer and per party, owed against paid.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::table::Table;
use fairshare_client::views::{Balances, InsurerBalance, PartyBalance};

use super::Context;

/// Balances per insurer (committed, owed, paid, outstanding) and per party (receivable, received).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  fairshare balances\n  fairshare balances --json     # {\"insurers\": [...], \"parties\": [...]}\n\n\
    An insurer's 'committed' is its expected share of what approved plans have not yet made payable.")]
pub struct Args {}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let insurers: Vec<InsurerBalance> = context.query(Query::InsurerBalances(Empty {})).await?;
        let parties: Vec<PartyBalance> = context.query(Query::PartyBalances(Empty {})).await?;
        if context.json {
            return context.print_json(&Balances { insurers, parties });
        }
        let mut table = Table::new(&["insurer", "name", ">committed", ">owed", ">paid", ">outstanding"]);
        for balance in &insurers {
            table.row(vec![
                balance.insurer.clone(),
                balance.name.clone(),
                balance.committed.to_string(),
                balance.owed.to_string(),
                balance.paid.to_string(),
                balance.outstanding.to_string(),
            ]);
        }
        print!("{}", table.render());
        println!();
        let mut table = Table::new(&["party", "name", "iban", ">receivable", ">received", ">outstanding", ">benefiting"]);
        for balance in &parties {
            table.row(vec![
                balance.party.clone(),
                balance.name.clone(),
                balance.iban.clone().unwrap_or_default(),
                balance.receivable.to_string(),
                balance.received.to_string(),
                balance.outstanding.to_string(),
                balance.benefiting.to_string(),
            ]);
        }
        print!("{}", table.render());
        Ok(())
    }
}
