//! `fairshare milestone attain|confirm|miss`: results, and the obligations they create.

use anyhow::Result;
use fairshare_client::action::Action;

use super::{input, Context};

/// Milestones: the coordinating insurer records attainment, the second assessor confirms it
/// (this creates every insurer's obligations), either assessor records a miss.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as zk milestone attain rav-nw-acute regional-dashboard --on 2026-06-20 --fraction 0.75\n  fairshare --as vgz milestone confirm rav-nw-acute regional-dashboard\n  fairshare --as vgz milestone miss rav-nw-acute wijk-night-care"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Record that a milestone was attained (coordinating insurer): in full, in part, or on actual costs.
    #[command(after_help = "Examples:\n  \
        fairshare --as zk milestone attain rav-nw-acute triage-desk --on 2026-06-15\n  \
        fairshare --as zk milestone attain rav-nw-acute regional-dashboard --on 2026-06-20 --fraction 0.75 --note \"90% of beds visible\"\n  \
        fairshare --as zk milestone attain rav-nw-acute ggz-crisis-line --on 2026-06-25 --amount 280000.00   # on actual costs")]
    Attain {
        plan: String,
        milestone: String,
        /// The attainment date: picks the distribution key in force.
        #[arg(long, value_name = "DATE")]
        on: String,
        /// Payout fraction, 0 < F <= 1 (default 1): the payable amount is amount × F, rounded half-even.
        #[arg(long, value_name = "F", conflicts_with = "amount")]
        fraction: Option<String>,
        /// Payable amount on actual costs (nacalculatie), at most the milestone's amount.
        #[arg(long, value_name = "AMOUNT")]
        amount: Option<String>,
        /// SHA-256 of the evidence document (64 hex digits); the document stays with its owner.
        #[arg(long, value_name = "HEX")]
        evidence: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Confirm an attained milestone (second assessor): every insurer's obligations arise.
    #[command(after_help = "Example:\n  fairshare --as vgz milestone confirm rav-nw-acute triage-desk")]
    Confirm {
        plan: String,
        milestone: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Record a missed milestone (either assessor): it pays nothing and releases its amount.
    #[command(
        after_help = "Example:\n  fairshare --as vgz milestone miss rav-nw-acute wijk-night-care --note \"no regional night roster\""
    )]
    Miss {
        plan: String,
        milestone: String,
        #[arg(long)]
        note: Option<String>,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Command::Attain { plan, milestone, on, fraction, amount, evidence, note } => {
                Action::Attain { plan, milestone, on, fraction, amount, evidence, note }
            }
            Command::Confirm { plan, milestone, note } => Action::Confirm { plan, milestone, note },
            Command::Miss { plan, milestone, note } => Action::Miss { plan, milestone, note },
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
