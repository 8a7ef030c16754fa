//! `fairshare funding record`: funds paid through the ministry's own budget, for the monitor.

use anyhow::Result;
use fairshare_client::action::Action;

use super::{input, Context};

/// External funding (paid outside the ledger by the ministry), recorded so the monitor is complete.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  fairshare --as vws funding record vws-2025-acute --sector msz --region national --theme acute-care-coordination --paid-on 2025-12-01 --amount 12500000.00"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Record funds paid through the ministry's budget (the ministry or a regulator signs).
    #[command(after_help = "Example:\n  \
        fairshare --as vws funding record vws-2025-acute --sector msz --region national --theme acute-care-coordination \\\n    \
        --paid-on 2025-12-01 --amount 12500000.00 --description \"direct grants to ROAZ regions\"")]
    Record {
        /// An id for this record (unique in the ledger).
        id: String,
        /// The sector whose earmark the funding counts against (a sector of genesis).
        #[arg(long)]
        sector: String,
        /// The region it went to (e.g. "ROAZ Noordwest").
        #[arg(long)]
        region: String,
        /// The theme it serves.
        #[arg(long)]
        theme: String,
        /// When the ministry paid it (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        paid_on: String,
        /// The amount paid, e.g. 12500000.00.
        #[arg(long)]
        amount: String,
        /// What it paid for.
        #[arg(long, default_value = "")]
        description: String,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let Command::Record { id, sector, region, theme, paid_on, amount, description } = self.command;
        let action = Action::FundingRecord { id, sector, region, theme, paid_on, amount, description };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
