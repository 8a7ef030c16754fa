//! `fairshare milestone attain|confirm|decline|miss`: results, and the obligations they create.

use anyhow::Result;
use fairshare_client::action::Action;

use super::{input, Context};

/// Milestones: the coordinating insurer records attainment; the second assessor then
/// confirms it (this creates every insurer's obligations) or declines it (the milestone is
/// open again); either assessor records a miss of an open milestone.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as zk milestone attain rav-nw-acute regional-dashboard --on 2026-06-20 --fraction 0.75\n  fairshare --as vgz milestone confirm rav-nw-acute regional-dashboard --on 2026-06-30\n  fairshare --as vgz milestone decline rav-nw-acute regional-dashboard --reason \"evidence covers 60%, not 75%\"\n  fairshare --as vgz milestone miss rav-nw-acute wijk-night-care"
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
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The milestone id within the plan (e.g. triage-desk).
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
        /// A note for the second assessor (recorded on the ledger).
        #[arg(long)]
        note: Option<String>,
    },
    /// Confirm an attained milestone (second assessor): every insurer's obligations arise, split
    /// by the key versions fixed at attainment.
    #[command(after_help = "Example:\n  fairshare --as vgz milestone confirm rav-nw-acute triage-desk --on 2026-06-30")]
    Confirm {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The milestone id within the plan (e.g. triage-desk).
        milestone: String,
        /// The confirmation date: on or after the attainment date.
        #[arg(long, value_name = "DATE")]
        on: String,
        /// A note for the coordinating insurer (recorded on the ledger).
        #[arg(long)]
        note: Option<String>,
    },
    /// Decline an attainment (second assessor): the milestone is open again, so the
    /// coordinating insurer can attain it again or either assessor can record a miss.
    #[command(
        after_help = "Example:\n  fairshare --as vgz milestone decline rav-nw-acute regional-dashboard --reason \"evidence covers 60%, not 75%\""
    )]
    Decline {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The milestone id within the plan (e.g. triage-desk).
        milestone: String,
        /// Why the attainment is not accepted (required): the coordinating insurer reads it.
        #[arg(long)]
        reason: String,
    },
    /// Record a missed milestone (either assessor, on an open milestone; an attained one is
    /// confirmed or declined first): it pays nothing and releases its amount.
    #[command(
        after_help = "Example:\n  fairshare --as vgz milestone miss rav-nw-acute wijk-night-care --note \"no regional night roster\""
    )]
    Miss {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The milestone id within the plan (e.g. triage-desk).
        milestone: String,
        /// Why it was missed (recorded on the ledger).
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
            Command::Confirm { plan, milestone, on, note } => Action::Confirm { plan, milestone, on, note },
            Command::Decline { plan, milestone, reason } => Action::Decline { plan, milestone, reason },
            Command::Miss { plan, milestone, note } => Action::Miss { plan, milestone, note },
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
