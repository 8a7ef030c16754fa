//! `fairshare membership approve`: an insurer's approval, on the ledger, of a change to
//! another insurer's node (DESIGN.md decision 11).

use anyhow::{bail, Result};
use fairshare_protocol::pb::{self, transaction::Kind, MembershipChange};

use super::Context;

/// Changes to another insurer's node: approved on the ledger by more than two thirds of the
/// insurers, then executed once by the leader ('fairshare-node admin … --proposal ID').
#[derive(clap::Args)]
#[command(after_help = "Examples (three of four insurers approve removing zk's node, then any operator executes it):\n  \
    fairshare --as cz membership approve replace-zk zk remove\n  \
    fairshare --as vgz membership approve replace-zk zk remove\n  \
    fairshare --as menzis membership approve replace-zk zk remove\n  \
    fairshare-node admin remove zk --proposal replace-zk --node https://LEADER --config nodes/cz.toml\n\n\
    An insurer changes its own node's membership without a proposal (README, 'Replacing a node').")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Approve (as the --as insurer) one change to one insurer's node; the first approval
    /// names the proposal, the others repeat it exactly.
    #[command(after_help = "Examples:\n  fairshare --as cz membership approve replace-zk zk remove\n  \
        fairshare --as cz membership approve readd-zk zk add-learner --address https://10.0.0.4:7101\n  \
        fairshare --as cz membership approve promote-zk zk promote")]
    Approve {
        /// A short id for this change (letters, digits, '-'), the same in every approval.
        proposal: String,
        /// The insurer whose node changes.
        node: String,
        /// remove | add-learner | promote
        change: String,
        /// For add-learner: the node's URL.
        #[arg(long, value_name = "URL")]
        address: Option<String>,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self.command {
            Command::Approve { proposal, node, change, address } => {
                let change = match change.as_str() {
                    "remove" => MembershipChange::Remove,
                    "add-learner" | "add_learner" => MembershipChange::AddLearner,
                    "promote" => MembershipChange::Promote,
                    other => bail!("change '{}' is not remove, add-learner or promote", fairshare_protocol::ids::echo(other)),
                };
                if (change == MembershipChange::AddLearner) != address.is_some() {
                    bail!("--address URL goes with add-learner, and only with it");
                }
                let body = pb::MembershipApproved { proposal, node, change: change as i32, address: address.unwrap_or_default() };
                context.submit(Kind::MembershipApproved(body)).await
            }
        }
    }
}
