//! `fairshare key propose|approve|list`: versions of the distribution keys.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::action::Action;
use fairshare_client::table::Table;
use fairshare_client::views::KeyRow;

use super::{input, Context};

/// Distribution keys: propose a new version of a key group, approve one, list them.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as vgz key propose --group somatic --version 2 --valid-from 2026-01-01 --share zk=0.2850 --share vgz=0.2650 --share cz=0.2400 --share menzis=0.2100\n  fairshare --as cz key approve --group somatic --version 2\n  fairshare key list"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Propose the next version of a key group's key (it takes effect once every insurer approved).
    #[command(after_help = "Example:\n  \
        fairshare --as vgz key propose --group somatic --version 2 --valid-from 2026-01-01 \\\n    \
        --share zk=0.2850 --share vgz=0.2650 --share cz=0.2400 --share menzis=0.2100")]
    Propose {
        /// The key group (of genesis) whose key this is.
        #[arg(long)]
        group: String,
        /// The new version: the group's latest plus one.
        #[arg(long)]
        version: u32,
        /// Applies to milestones attained on or after this date.
        #[arg(long, value_name = "DATE")]
        valid_from: String,
        /// INSURER=SHARE, once per insurer; shares are exact decimals summing to exactly 1.
        #[arg(long = "share", value_name = "INSURER=SHARE", required = true)]
        shares: Vec<String>,
    },
    /// Approve a proposed key version (each insurer for itself).
    #[command(after_help = "Example:\n  fairshare --as cz key approve --group somatic --version 2")]
    Approve {
        /// The key group of the proposed version.
        #[arg(long)]
        group: String,
        /// The proposed version approved ('fairshare key list' shows it).
        #[arg(long)]
        version: u32,
    },
    /// List every key group's versions and who approved them.
    #[command(after_help = "Example:\n  fairshare key list")]
    List,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Command::Propose { group, version, valid_from, shares } => {
                let mut parsed = BTreeMap::new();
                for share in &shares {
                    let (insurer, value) =
                        share.split_once('=').ok_or_else(|| anyhow!("--share '{share}' is not INSURER=SHARE, e.g. zk=0.29"))?;
                    if parsed.insert(insurer.trim().to_string(), value.trim().to_string()).is_some() {
                        return Err(anyhow!("--share names {insurer} twice"));
                    }
                }
                Action::KeyPropose { group, version, valid_from, shares: parsed }
            }
            Command::Approve { group, version } => Action::KeyApprove { group, version },
            Command::List => return list(context).await,
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}

async fn list(context: &Context) -> Result<()> {
    let keys: Vec<KeyRow> = context.query(Query::Keys(Empty {})).await?;
    if context.json {
        return context.print_json(&keys);
    }
    let mut table = Table::new(&["group", ">version", "valid from", "in force", "shares", "approved by"]);
    for key in &keys {
        let shares: Vec<String> = key.shares.iter().map(|(insurer, share)| format!("{insurer}={share}")).collect();
        table.row(vec![
            key.group.clone(),
            key.version.to_string(),
            key.valid_from.to_string(),
            if key.in_force { "yes".into() } else { "no".into() },
            shares.join(" "),
            key.approvals.join(","),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
