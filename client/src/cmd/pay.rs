//! `fairshare pay …` and `fairshare pay reverse ID`: payment records of the obligated insurer.

use anyhow::{anyhow, Context as _, Result};
use fairshare_client::action::Action;

use super::{input, Context};

/// Record a payment that settles one or more of your obligations (in part or in full).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Examples:\n  \
    fairshare --as zk pay --id zk-2026-07-001 --value-date 2026-07-15 --reference ZK-BATCH-2026-07 \\\n    \
    rav-nw-acute/triage-desk/1/zk=114000.00 rav-nw-acute/triage-desk/2/zk=57000.00\n  \
    fairshare --as zk pay reverse zk-2026-07-001 --reason \"bank returned the transfer\"\n  \
    fairshare --as zk pay --from-sepa zk-2026-07-15.xml   # once the bank executed an exported file\n\n\
    Obligation ids are PLAN/MILESTONE/LINE/INSURER ('fairshare obligations --insurer zk --open' lists yours).")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The payment record's id (unique in the ledger), e.g. your payment batch number; with
    /// --from-sepa, default the file's MsgId in lower case.
    #[arg(long, required_unless_present = "from_sepa")]
    id: Option<String>,
    /// The bank's value date (with --from-sepa: default the file's execution date).
    #[arg(long, value_name = "DATE", required_unless_present = "from_sepa")]
    value_date: Option<String>,
    /// The bank reference of the transfer.
    #[arg(long, required_unless_present = "from_sepa", conflicts_with = "from_sepa")]
    reference: Option<String>,
    /// OBLIGATION=AMOUNT, one per obligation settled.
    #[arg(value_name = "OBLIGATION=AMOUNT", required_unless_present = "from_sepa", conflicts_with = "from_sepa")]
    settlements: Vec<String>,
    /// Record what a payment file from 'export sepa' paid, once the bank executed it: one
    /// payment record with the file's MsgId as id and reference, settling what the export
    /// remembered for each obligation.
    #[arg(long, value_name = "FILE")]
    from_sepa: Option<std::path::PathBuf>,
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
        if let Some(file) = &self.from_sepa {
            return from_sepa(context, file, self.id, self.value_date).await;
        }
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

/// `pay --from-sepa FILE`: the export remembered what the file pays on which obligation
/// (`fairshare_client::exports`); the file names the message. One payment record: bank
/// reference the MsgId, id the MsgId in lower case, value date the file's execution date
/// (unless --id and --value-date say otherwise).
async fn from_sepa(context: &Context, file: &std::path::Path, id: Option<String>, value_date: Option<String>) -> Result<()> {
    let xml = super::read_file(file)?;
    let (message_id, execution_date) = input(fairshare_client::exports::read_pain001(&xml)).with_context(|| file.display().to_string())?;
    let (signer, _) = context.signer(None)?;
    let exports = fairshare_client::exports::Exports::new(&context.state_dir().join("exports"));
    let exported = input(exports.find(&signer, &message_id))?.ok_or_else(|| {
        anyhow!(
            "{}: message {message_id} is no unrecorded export of {signer} on this client (exports/{signer}/{message_id}.json beside the client config); \
             record its payments with 'fairshare pay --id ID --value-date DATE --reference REF OBLIGATION=AMOUNT...'",
            file.display()
        )
    })?;
    let settle = exported.settlements.iter().map(|(obligation, amount)| format!("{obligation}={amount}")).collect();
    let value_date = value_date.unwrap_or(execution_date);
    let id = id.unwrap_or_else(|| fairshare_client::exports::payment_id(&message_id));
    let action = Action::Pay { id, value_date, reference: message_id.clone(), settle };
    context.submit(input(action.to_kind(&signer))?).await?;
    input(exports.recorded(&signer, &message_id))?;
    if !context.json {
        println!("recorded {message_id}: {} EUR on {} obligation(s)", exported.total(), exported.settlements.len());
    }
    Ok(())
}
