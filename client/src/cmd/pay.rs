//! `fairshare pay …` and `fairshare pay reverse ID`: payment records of the obligated insurer.

use anyhow::{anyhow, Result};
use fairshare_client::action::Action;

use super::{input, Context};

/// Record a payment that settles one or more of your obligations (in part or in full).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Examples:\n  \
    fairshare --as zk pay --id zk-2026-07-001 --value-date 2026-07-15 --reference ZK-BATCH-2026-07 \\\n    \
    rav-nw-acute/triage-desk/1/zk=114000.00 rav-nw-acute/triage-desk/2/zk=57000.00\n  \
    fairshare --as zk pay reverse zk-2026-07-001 --reason \"bank returned the transfer\"\n\n\
    Obligation ids are PLAN/MILESTONE/LINE/INSURER ('fairshare obligations --insurer zk --open' lists yours).")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The payment record's id (unique in the ledger), e.g. your payment batch number.
    #[arg(long, required = true)]
    id: Option<String>,
    /// The bank's value date.
    #[arg(long, value_name = "DATE", required = true)]
    value_date: Option<String>,
    /// The bank reference of the transfer.
    #[arg(long, required = true)]
    reference: Option<String>,
    /// OBLIGATION=AMOUNT, one per obligation settled.
    #[arg(value_name = "OBLIGATION=AMOUNT", required = true)]
    settlements: Vec<String>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Reverse a payment record (its author only): the amounts become outstanding again.
    #[command(
        after_help = "Example:\n  fairshare --as menzis pay reverse menzis-2026-07-001 --reason \"transfer returned: account closed\""
    )]
    Reverse {
        /// The id of the payment record to reverse (as given to 'pay --id').
        payment: String,
        /// Why (recorded on the ledger), e.g. the bank's return reason.
        #[arg(long)]
        reason: String,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Some(Command::Reverse { payment, reason }) => Action::PayReverse { payment, reason },
            None => Action::Pay {
                id: self.id.ok_or_else(|| anyhow!("give --id"))?,
                value_date: self.value_date.ok_or_else(|| anyhow!("give --value-date"))?,
                reference: self.reference.ok_or_else(|| anyhow!("give --reference"))?,
                settle: self.settlements,
            },
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
