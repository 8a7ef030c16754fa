//! `fairshare plan …`: a coordinating insurer's plans and their assessment.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use fairshare_api::v1::query_request::Query;
use fairshare_client::action::Action;
use fairshare_client::plan_file::{AddendumFile, MilestoneFile, PlanFile};
use fairshare_client::table::Table;
use fairshare_client::views::PlanSummary;
use fairshare_protocol::query::{funding_name, milestone_status_name};
use fairshare_protocol::state::{MilestoneStatus, Plan};
use serde::Deserialize;

use super::{input, read_file, Context};

/// Plans: submit, revise, assess, amend with addenda, reschedule, cancel, show.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare --as zk plan submit config/plan.example.toml\n  fairshare --as vgz plan assess rav-nw-acute --version 1 --approve\n  fairshare plan show rav-nw-acute"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Verdict {
    /// Approve (both assessors must).
    #[arg(long)]
    approve: bool,
    /// Reject (if both assessors reject, the plan is rejected; if they differ, it is escalated).
    #[arg(long)]
    reject: bool,
    /// Return with questions: the coordinating insurer may submit a revised version.
    #[arg(long = "return")]
    give_back: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Submit a plan file (version 1, or the file's version) as its coordinating insurer.
    #[command(after_help = "Example:\n  fairshare --as zk plan submit config/plan.example.toml\n\n\
        The plan file format is documented in config/plan.example.toml; it needs a passed quick test.")]
    Submit {
        /// The plan file (TOML).
        file: PathBuf,
    },
    /// Submit a revised version (n + 1) of a plan that was returned with questions.
    #[command(after_help = "Example:\n  fairshare --as zk plan revise rav-nw-acute.v2.toml")]
    Revise {
        /// The revised plan file (TOML), with the same plan id.
        file: PathBuf,
    },
    /// Assess a plan version (or an addendum) as one of its two assessors.
    #[command(after_help = "Examples:\n  \
        fairshare --as vgz plan assess rav-nw-acute --version 1 --return --note \"split Q2 into four milestones\"\n  \
        fairshare --as vgz plan assess rav-nw-acute --version 2 --approve\n  \
        fairshare --as zk plan assess rav-nw-acute --addendum beverwijk --approve")]
    Assess {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The plan version assessed ('fairshare plan show' names it); not needed for an addendum.
        #[arg(long, required_unless_present = "addendum")]
        version: Option<u32>,
        #[command(flatten)]
        verdict: Verdict,
        /// Assess this addendum instead of the plan itself.
        #[arg(long)]
        addendum: Option<String>,
        /// The assessor's note (questions, reasons), recorded in the plan's history.
        #[arg(long)]
        note: Option<String>,
    },
    /// Add an addendum (a party joining an approved plan later) from an addendum file.
    #[command(after_help = "Example:\n  fairshare --as zk plan addendum rav-nw-acute beverwijk.toml\n\n\
        An addendum file has id, title, optional evidence and [[milestones]] as in a plan file.")]
    Addendum {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The addendum file (TOML).
        file: PathBuf,
    },
    /// Move a milestone's due date (both assessors sign the same request).
    #[command(
        after_help = "Example:\n  fairshare --as zk plan reschedule rav-nw-acute q3-evaluation --due 2026-12-15 --reason \"survey delayed\""
    )]
    Reschedule {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// The milestone id within the plan (e.g. triage-desk).
        milestone: String,
        /// The new due date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        due: String,
        /// Why (recorded in the plan's history).
        #[arg(long)]
        reason: String,
    },
    /// Cancel a plan (both assessors sign); releases what it committed and had not made payable.
    #[command(after_help = "Example:\n  fairshare --as cz plan cancel dig-triage-pilot --reason \"no-go after phase 1\"")]
    Cancel {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
        /// Why (recorded in the plan's history).
        #[arg(long)]
        reason: String,
    },
    /// Show one plan: its summary, milestones and history.
    #[command(after_help = "Example:\n  fairshare plan show rav-nw-acute\n  fairshare plan show rav-nw-acute --json")]
    Show {
        /// The plan id (a slug, e.g. rav-nw-acute).
        plan: String,
    },
}

#[derive(Deserialize)]
struct PlanView {
    summary: PlanSummary,
    plan: Plan,
    /// Leaf index → transaction id of each history event (`fairshare_protocol::query::PlanView`).
    #[serde(default)]
    transactions: std::collections::BTreeMap<u64, String>,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let action = match self.command {
            Command::Submit { file } => {
                let plan = parse_plan(&file)?;
                check_parties(context, &file, &plan.milestones).await?;
                Action::PlanSubmit { file: None, plan: Some(plan), version: None }
            }
            Command::Revise { file } => {
                let plan = parse_plan(&file)?;
                check_parties(context, &file, &plan.milestones).await?;
                let current: PlanView = context.query(Query::Plan(plan.id.clone())).await?;
                let next = current.plan.version + 1;
                if plan.version.is_some_and(|version| version != next) {
                    bail!(
                        "{} says version {}, but plan '{}' is at version {}; the revision is version {next}",
                        file.display(),
                        plan.version.unwrap_or(0),
                        plan.id,
                        current.plan.version
                    );
                }
                Action::PlanSubmit { file: None, plan: Some(plan), version: Some(next) }
            }
            Command::Assess { plan, version, verdict, addendum, note } => {
                let assessment = if verdict.approve {
                    "approve"
                } else if verdict.reject {
                    "reject"
                } else {
                    "return"
                };
                Action::PlanAssess { plan, version, assessment: assessment.to_string(), addendum, note }
            }
            Command::Addendum { plan, file } => {
                let addendum = AddendumFile::parse(&read_file(&file)?)
                    .map_err(|problem| anyhow::anyhow!("addendum file {}: {problem}", file.display()))?;
                check_parties(context, &file, &addendum.milestones).await?;
                Action::Addendum { plan, file: None, addendum: Some(addendum) }
            }
            Command::Reschedule { plan, milestone, due, reason } => {
                let kind = input(Action::Reschedule { plan: plan.clone(), milestone, due, reason }.to_kind(&context.signer(None)?.0))?;
                context.submit(kind).await?;
                return say_what_awaits(context, plan).await;
            }
            Command::Cancel { plan, reason } => {
                let kind = input(Action::PlanCancel { plan: plan.clone(), reason }.to_kind(&context.signer(None)?.0))?;
                context.submit(kind).await?;
                return say_what_awaits(context, plan).await;
            }
            Command::Show { plan } => return show(context, plan).await,
        };
        context.submit(input(action.to_kind(&context.signer(None)?.0))?).await
    }
}

/// After a one-sided request (cancel, reschedule): says that it awaits the other assessor,
/// since the plan does not change until both signed.
async fn say_what_awaits(context: &Context, plan: String) -> Result<()> {
    if context.json {
        return Ok(()); // the verdict's JSON is the output; `plan show --json` has `pending`
    }
    let PlanView { summary, .. } = context.query(Query::Plan(plan)).await?;
    for request in &summary.pending {
        println!(
            "{}: asked by {}, awaits {}; nothing changes until both assessors signed the same request",
            request.what,
            request.asked_by.join(", "),
            request.awaits.join(", ")
        );
    }
    Ok(())
}

/// Names an unregistered beneficiary or payee before anything is signed (the node would
/// reject the plan with UNKNOWN_PARTY; this says which line and what to do).
async fn check_parties(context: &Context, file: &Path, milestones: &[MilestoneFile]) -> Result<()> {
    let parties = super::export::LedgerReads::parties(context).await?;
    for milestone in milestones {
        for (number, line) in milestone.lines.iter().enumerate() {
            for party in std::iter::once(&line.beneficiary).chain(line.payee.as_ref()) {
                if !parties.contains_key(party) {
                    bail!(
                        "{}: line {} of milestone '{}' names {party}, which is not registered (UNKNOWN_PARTY); register it first with 'fairshare party register {party} --name NAME --kind provider'",
                        file.display(),
                        number + 1,
                        milestone.id
                    );
                }
            }
        }
    }
    Ok(())
}

fn parse_plan(file: &Path) -> Result<PlanFile> {
    PlanFile::parse(&read_file(file)?).map_err(|problem| anyhow::anyhow!("plan file {}: {problem}", file.display()))
}

async fn show(context: &Context, id: String) -> Result<()> {
    if context.json {
        let value: serde_json::Value = context.query(Query::Plan(id)).await?;
        return context.print_json(&value);
    }
    let PlanView { summary, plan, transactions } = context.query(Query::Plan(id)).await?;
    println!("{} v{}: {}", summary.id, summary.version, summary.title);
    println!(
        "  region {}, theme {}, assessors {} (coordinating) and {}",
        summary.region, summary.theme, summary.coordinating_insurer, summary.second_assessor
    );
    println!("  status {}, funding {}, starts {}", summary.status, summary.funding, plan.start);
    for request in &summary.pending {
        println!("  awaits {}: {} (asked by {})", request.awaits.join(", "), request.what, request.asked_by.join(", "));
    }
    println!("  total {}  committed {}  payable {}  paid {}", summary.total, summary.committed, summary.payable, summary.paid);
    for (addendum, unit) in plan.units.iter().filter(|(addendum, _)| !addendum.is_empty()) {
        println!("  addendum {addendum}: {} ({}, funding {})", unit.title, unit.status.word(), funding_name(unit.funding));
    }
    println!();
    let mut table = Table::new(&["milestone", "addendum", "kind", "due", "status", ">amount", ">payable", ">obligations"]);
    for unit in plan.units.values() {
        for id in &unit.milestones {
            let milestone = &plan.milestones[id];
            let payable = match &milestone.status {
                MilestoneStatus::Attained { payable, .. } | MilestoneStatus::Confirmed { payable, .. } => payable.to_string(),
                _ => String::new(),
            };
            table.row(vec![
                milestone.id.clone(),
                milestone.addendum.clone(),
                milestone.kind.clone(),
                milestone.due.to_string(),
                milestone_status_name(&milestone.status).to_string(),
                milestone.amount.to_string(),
                payable,
                milestone.obligations.len().to_string(),
            ]);
        }
    }
    print!("{}", table.render());
    println!();
    println!("history (leaf, transaction: 'fairshare audit prove LEAF' proves one):");
    for event in &plan.history {
        let transaction = transactions.get(&event.index).map_or("", |id| &id[..id.len().min(12)]);
        println!("  leaf {:>5}  {transaction:<12}  {:<8} {}", event.index, event.by, event.what);
    }
    Ok(())
}
