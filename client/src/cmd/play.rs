//! `fairshare play FILE`: submit a scenario's steps in order, each signed by its role.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_api::v1::VerdictKind;
use fairshare_client::scenario::{self, Expect, Scenario, Step};

use super::{Context, Submitted};

/// Play a scenario file: each step is signed by its `as` identity and must get its expected verdict.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare --config devnet/client.toml play config/demo.toml\n  \
    fairshare play my-plans.toml --dry-run       # check the file, submit nothing\n\n\
    The format is documented at the top of config/demo.toml. The whole file (and the plan files\n\
    it names) is checked before the first step is submitted; play stops at the first step\n\
    whose verdict differs from what it expects, naming the step and the node's message.")]
pub struct Args {
    /// The scenario file (TOML).
    file: PathBuf,
    /// Check the file and print its steps; submit nothing.
    #[arg(long)]
    dry_run: bool,
}

fn where_(scenario: &Scenario, step: &Step) -> String {
    format!("{} line {} (step {}, {} as {})", scenario.file, step.line, step.number, step.action.name(), step.signer)
}

/// Compares a verdict with what the step expects; returns the line to print.
fn judge(step: &Step, submitted: &Submitted) -> Result<String> {
    match (&step.expect, submitted.verdict()) {
        (Expect::Applied, _) => submitted.outcome(),
        // A duplicate (a retry of something already in the log) carries the original verdict.
        (Expect::Rejected(expected), VerdictKind::Rejected | VerdictKind::Duplicate) if submitted.response.reason != 0 => {
            let reason = submitted.reason();
            match expected {
                Some(expected) if expected != reason => {
                    bail!("expected a rejection {expected}, got {reason}: {}", submitted.response.message)
                }
                _ => Ok(format!("rejected as expected at leaf {}: {reason}", submitted.response.index)),
            }
        }
        (Expect::Rejected(_), _) => {
            let outcome = submitted.outcome().unwrap_or_else(|error| error.to_string());
            bail!("expected a rejection, but it was {outcome}")
        }
    }
}

/// Plays every step; stops at the first that does not get its expected verdict.
pub async fn play(context: &Context, scenario: &Scenario) -> Result<()> {
    // Every signer's key is read before anything is submitted.
    let mut keys = BTreeMap::new();
    for step in &scenario.steps {
        if !keys.contains_key(&step.signer) {
            let (_, key) = context.signer(Some(&step.signer)).with_context(|| where_(scenario, step))?;
            keys.insert(step.signer.clone(), key);
        }
    }
    let connection = context.connection()?;
    println!(
        "playing {} ({} steps){}",
        scenario.file,
        scenario.steps.len(),
        scenario.title.as_deref().map(|title| format!(": {title}")).unwrap_or_default()
    );
    let (mut applied, mut rejected) = (0, 0);
    for step in &scenario.steps {
        let key = &keys[&step.signer];
        let submitted = context
            .sign_and_submit(&connection, &step.signer, key, step.kind.clone())
            .await
            .with_context(|| format!("{}: not submitted", where_(scenario, step)))?;
        let line = judge(step, &submitted).map_err(|error| anyhow!("{}: {error:#}", where_(scenario, step)))?;
        match step.expect {
            Expect::Applied => applied += 1,
            Expect::Rejected(_) => rejected += 1,
        }
        println!("{:>4}  {:<18} {:<8} {line}", step.number, step.action.name(), step.signer);
    }
    println!("played {}: {applied} applied, {rejected} rejected as expected", scenario.file);
    Ok(())
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let scenario = scenario::read(&self.file)?;
        if self.dry_run {
            for step in &scenario.steps {
                let expect = match &step.expect {
                    Expect::Applied => "APPLIED".to_string(),
                    Expect::Rejected(reason) => format!("REJECTED {}", reason.as_deref().unwrap_or("")),
                };
                println!("{:>4}  line {:<5} {:<18} {:<8} {expect}", step.number, step.line, step.action.name(), step.signer);
            }
            println!("{}: {} steps, all well-formed; nothing submitted", scenario.file, scenario.steps.len());
            return Ok(());
        }
        play(context, &scenario).await
    }
}
