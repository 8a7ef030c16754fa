//! `fairshare fund adjust|reserve|release`: the fund over time (the ministry signs).

use anyhow::Result;
use fairshare_client::action::Action;

use super::{input, Context};

/// The fund: adjustments, reservations per theme (signed by the ministry, VWS).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as vws fund adjust --delta -350000000.00 --reason \"AZWA\" --effective 2025-07-01\n  fairshare --as vws fund reserve mental-health-networks 50000000.00 --reason \"GGZ networks\"\n  fairshare --as vws fund release mental-health-networks --reason \"not needed\""
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Raise or lower the fund (refused if it would no longer cover what is committed and reserved).
    #[command(
        after_help = "Example:\n  fairshare --as vws fund adjust --delta -350000000.00 --reason \"AZWA: moved to the ministry's budget\" --effective 2025-07-01"
    )]
    Adjust {
        /// Signed amount: negative lowers the fund.
        #[arg(long, allow_hyphen_values = true, value_name = "AMOUNT")]
        delta: String,
        /// Why the fund changes (recorded on the ledger).
        #[arg(long)]
        reason: String,
        /// The date the adjustment takes effect (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        effective: String,
    },
    /// Set the reservation for a theme (its new total).
    #[command(
        after_help = "Example:\n  fairshare --as vws fund reserve mental-health-networks 50000000.00 --reason \"IZA agreement on GGZ networks\""
    )]
    Reserve {
        /// The theme reserved for (e.g. acute-care-coordination).
        theme: String,
        /// The reservation's new total, e.g. 2000000.00.
        amount: String,
        /// Why (recorded on the ledger).
        #[arg(long)]
        reason: String,
    },
    /// Release what is left of a theme's reservation, or a stated part of it (it funds the queue).
    #[command(
        after_help = "Examples:\n  fairshare --as vws fund release mental-health-networks --reason \"theme fully funded\"\n  fairshare --as vws fund release mental-health-networks --amount 2000000.00 --reason \"two network plans withdrawn\""
    )]
    Release {
        /// The theme whose reservation is released.
        theme: String,
        /// Why (recorded on the ledger).
        #[arg(long)]
        reason: String,
        /// Release only this amount of what is left (at most what is left); the reservation
        /// stays open with the rest. Without it, all that is left is released.
        #[arg(long, value_name = "AMOUNT")]
        amount: Option<String>,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Command::Adjust { delta, reason, effective } => Action::FundAdjust { delta, reason, effective },
            Command::Reserve { theme, amount, reason } => Action::Reserve { theme, amount, reason },
            Command::Release { theme, reason, amount } => Action::Release { theme, reason, amount },
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
