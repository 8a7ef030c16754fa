//! `fairshare intake close`: stop assessing plans not yet approved (the ministry signs).

use anyhow::Result;
use fairshare_client::action::Action;

use super::{input, Context};

/// Intake of new plans.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  fairshare --as vws intake close --on 2026-02-01 --reason \"IZA parties stop assessing new plans\"")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Close intake: no new quick tests, plans or assessments; queued plans can still be funded.
    #[command(
        after_help = "Example:\n  fairshare --as vws intake close --on 2026-02-01 --reason \"IZA parties stop assessing new plans\""
    )]
    Close {
        /// The date intake closes (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        on: String,
        /// Why (recorded on the ledger).
        #[arg(long)]
        reason: String,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let Command::Close { on, reason } = self.command;
        context.submit(input(Action::IntakeClose { on, reason }.to_kind(&context.signer(None)?.0))?).await
    }
}
