//! `fairshare quicktest submit|decide|list`: the quick test before a full plan.

use anyhow::Result;
use fairshare_api::v1::{query_request::Query, Empty};
use fairshare_client::action::Action;
use fairshare_client::table::Table;
use fairshare_protocol::state::QuickTest;

use super::{input, Context};

/// The quick test (snelle toets): submit one, decide it, list them.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as zk quicktest submit rav-nw-acute --title \"Acute care\" --region \"ROAZ Noordwest\" --theme acute-care-coordination --second-assessor vgz\n  fairshare --as vgz quicktest decide rav-nw-acute --passed\n  fairshare quicktest list"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Submit a quick test as the coordinating insurer (the signer).
    #[command(after_help = "Example:\n  \
        fairshare --as zk quicktest submit rav-nw-acute --title \"Regional acute-care coordination\" \\\n    \
        --region \"ROAZ Noordwest\" --theme acute-care-coordination --second-assessor vgz --estimated-total 4800000.00")]
    Submit {
        /// The plan id the full plan will have.
        plan: String,
        /// The plan's title.
        #[arg(long)]
        title: String,
        /// The region the plan serves (e.g. "ROAZ Noordwest").
        #[arg(long)]
        region: String,
        /// The plan's theme (e.g. acute-care-coordination).
        #[arg(long)]
        theme: String,
        /// The other insurer who assesses the plan (a genesis id, e.g. vgz).
        #[arg(long, value_name = "INSURER")]
        second_assessor: String,
        /// The plan's estimated total, e.g. 4800000.00.
        #[arg(long, value_name = "AMOUNT")]
        estimated_total: Option<String>,
    },
    /// Record the quick test's outcome (either assessor).
    #[command(after_help = "Example:\n  fairshare --as vgz quicktest decide rav-nw-acute --passed --note \"fits the regional agenda\"")]
    Decide {
        /// The plan id of the quick test.
        plan: String,
        /// The quick test passed: a plan may follow.
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        passed: bool,
        /// The quick test failed.
        #[arg(long)]
        failed: bool,
        /// Why (recorded in the quick test's history).
        #[arg(long)]
        note: Option<String>,
    },
    /// List the quick tests.
    #[command(after_help = "Example:\n  fairshare quicktest list")]
    List,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Command::Submit { plan, title, region, theme, second_assessor, estimated_total } => {
                Action::QuickTest { plan, title, region, theme, second_assessor, coordinating_insurer: None, estimated_total }
            }
            Command::Decide { plan, passed, note, .. } => {
                Action::QuickTestDecide { plan, outcome: if passed { "passed" } else { "failed" }.to_string(), note }
            }
            Command::List => {
                let tests: Vec<QuickTest> = context.query(Query::QuickTests(Empty {})).await?;
                if context.json {
                    return context.print_json(&tests);
                }
                let mut table = Table::new(&["plan", "status", "coordinating", "second", "region", "theme", ">estimated"]);
                for test in &tests {
                    table.row(vec![
                        test.plan.clone(),
                        test.status.word().to_string(),
                        test.coordinating_insurer.clone(),
                        test.second_assessor.clone(),
                        test.region.clone(),
                        test.theme.clone(),
                        test.estimated_total.to_string(),
                    ]);
                }
                print!("{}", table.render());
                return Ok(());
            }
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}
