//! `fairshare export obligations|payments --csv` and `fairshare export sepa`: files for an
//! insurer's finance system and bank.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_api::v1::{query_request::Query, Empty, ObligationFilter};
use fairshare_client::exports::{Exported, Exports};
use fairshare_client::sepa::{self, Header};
use fairshare_client::views::{by_id, ObligationRow, PaymentRow};
use fairshare_client::{export, InputError};
use fairshare_protocol::state::Party;

use super::Context;

/// Export obligations or payments as CSV (RFC 4180), or an insurer's open obligations as a SEPA payment file.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare export obligations --csv --insurer zk --open --out zk-open.csv\n  \
    fairshare export payments --csv > payments.csv\n  \
    fairshare export sepa --insurer zk --debtor-iban NL91ABNA0417164300 --debtor-name \"Zilveren Kruis\" \\\n    \
    --execution-date 2026-07-15 --out zk-2026-07-15.xml")]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Args)]
struct Output {
    /// CSV (the default).
    #[arg(long)]
    csv: bool,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only this insurer's.
    #[arg(long)]
    insurer: Option<String>,
}

#[derive(clap::Subcommand)]
enum What {
    /// One row per obligation, with the payee's name and IBAN: a payment file's source.
    #[command(after_help = "Example:\n  fairshare export obligations --csv --insurer zk --open --out zk-open.csv")]
    Obligations {
        #[command(flatten)]
        output: Output,
        /// Only those with something outstanding.
        #[arg(long)]
        open: bool,
    },
    /// One row per settlement of each payment record (reversed ones marked).
    #[command(after_help = "Example:\n  fairshare export payments --csv > payments.csv")]
    Payments {
        #[command(flatten)]
        output: Output,
    },
    /// The open obligations of one insurer as a SEPA credit-transfer initiation (ISO 20022 pain.001.001.09).
    #[command(after_help = "Example:\n  \
        fairshare export sepa --insurer zk --debtor-iban NL91ABNA0417164300 --debtor-name \"Zilveren Kruis\" \\\n    \
        --execution-date 2026-07-15 --out zk-2026-07-15.xml\n\n\
        One transfer per payee with a registered IBAN, for everything outstanding to it; the obligation ids\n\
        go in the remittance information. Payees without an IBAN are listed on stderr and left out.\n\
        The export is remembered (exports/INSURER/MSGID.json beside the client config) until\n\
        'fairshare pay --from-sepa FILE' records it: a second export leaves out what it already pays.\n\
        The debtor account may come from the client config: [treasury] debtor_iban = \"...\", debtor_name = \"...\".")]
    Sepa {
        /// The paying insurer.
        #[arg(long)]
        insurer: String,
        /// The account the transfers are paid from (default: debtor_iban of the client
        /// config's [treasury]).
        #[arg(long, value_name = "IBAN")]
        debtor_iban: Option<String>,
        /// The account holder's name (default: debtor_name of [treasury]).
        #[arg(long, value_name = "NAME")]
        debtor_name: Option<String>,
        /// When the bank is to execute the transfers.
        #[arg(long, value_name = "DATE")]
        execution_date: String,
        /// The message id (at most 35 characters; default FS-INSURER-YYYYMMDDHHMMSS).
        #[arg(long, value_name = "ID")]
        msg_id: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn write_out(output: &Output, text: &str) -> Result<()> {
    write_to(output.out.as_ref(), text)
}

fn write_to(out: Option<&PathBuf>, text: &str) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        None => std::io::stdout().write_all(text.as_bytes()).context("cannot write to standard output"),
    }
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        match self.what {
            What::Obligations { output, open } => {
                let filter = ObligationFilter {
                    insurer: output.insurer.clone().unwrap_or_default(),
                    open_only: open,
                    ..ObligationFilter::default()
                };
                let obligations: Vec<ObligationRow> = context.query(Query::Obligations(filter)).await?;
                let parties = by_id(context.query::<Vec<Party>>(Query::Parties(Empty {})).await?, |party| &party.id);
                if context.json {
                    let rows = &obligations;
                    return write_out(&output, &format!("{}\n", serde_json::to_string_pretty(&rows)?));
                }
                write_out(&output, &export::obligations_csv(&obligations, &parties))
            }
            What::Payments { output } => {
                let payments: Vec<PaymentRow> = context.query(Query::Payments(Empty {})).await?;
                let payments: Vec<&PaymentRow> =
                    payments.iter().filter(|payment| output.insurer.as_ref().is_none_or(|insurer| &payment.insurer == insurer)).collect();
                if context.json {
                    return write_out(&output, &format!("{}\n", serde_json::to_string_pretty(&payments)?));
                }
                write_out(&output, &export::payments_csv(&payments))
            }
            What::Sepa { insurer, debtor_iban, debtor_name, execution_date, msg_id, out } => {
                let input = |error: InputError| anyhow!("{error}");
                let created = sepa::now().context("the system clock is before 1970")?;
                let msg_id = msg_id.unwrap_or_else(|| sepa::default_message_id(&insurer, &created));
                let treasury = context.config().ok().and_then(|config| config.file.treasury.clone());
                let debtor_iban = debtor_iban
                    .or_else(|| treasury.as_ref().map(|treasury| treasury.debtor_iban.clone()))
                    .ok_or_else(|| anyhow!("give --debtor-iban, or set debtor_iban under [treasury] in the client config"))?;
                let debtor_name = debtor_name
                    .or_else(|| treasury.as_ref().map(|treasury| treasury.debtor_name.clone()))
                    .ok_or_else(|| anyhow!("give --debtor-name, or set debtor_name under [treasury] in the client config"))?;
                let header = Header::new(&msg_id, created.clone(), &execution_date, &debtor_name, &debtor_iban).map_err(input)?;
                // ISO dates compare as text: a date before today's (UTC) is in the past.
                if header.execution_date.to_string().as_str() < &created[..10] {
                    eprintln!(
                        "warning: execution date {} is in the past (today is {}); the bank may refuse the file or execute it at once",
                        header.execution_date,
                        &created[..10]
                    );
                }
                let filter = ObligationFilter { insurer: insurer.clone(), open_only: true, ..ObligationFilter::default() };
                let rows: Vec<ObligationRow> = context.query(Query::Obligations(filter)).await?;
                // Exported before and not recorded yet: left out, once and for all.
                let exports = Exports::new(&context.state_dir().join("exports"));
                let recorded = by_id(context.query::<Vec<PaymentRow>>(Query::Payments(Empty {})).await?, |payment| &payment.id);
                let mut pending = Vec::new();
                for export in exports.pending(&insurer).map_err(input)? {
                    if recorded.contains_key(&fairshare_client::exports::payment_id(&export.message_id)) {
                        exports.recorded(&insurer, &export.message_id).map_err(input)?;
                    } else {
                        eprintln!(
                            "left out: {} EUR on {} obligation(s) already in {} (exported, not recorded; record it with 'fairshare pay --from-sepa FILE')",
                            export.total(),
                            export.settlements.len(),
                            export.message_id
                        );
                        pending.push(export);
                    }
                }
                let rows = fairshare_client::exports::without_pending(&rows, &pending);
                let parties = by_id(context.query::<Vec<Party>>(Query::Parties(Empty {})).await?, |party| &party.id);
                let payees = sepa::payees(parties);
                let (transfers, skipped) = sepa::transfers(&rows, &payees);
                for payee in &skipped {
                    eprintln!(
                        "skipped {} ({}): no IBAN registered; {} outstanding on {} obligation(s): {}",
                        payee.payee,
                        payee.name,
                        payee.amount,
                        payee.obligations.len(),
                        payee.obligations.join(", ")
                    );
                }
                if transfers.is_empty() {
                    bail!("nothing to pay: {insurer} has no open obligations to a payee with an IBAN; no file written");
                }
                let settlements = rows
                    .iter()
                    .filter(|row| row.outstanding.cents() > 0 && transfers.iter().any(|transfer| transfer.obligations.contains(&row.id)))
                    .map(|row| (row.id.clone(), row.outstanding))
                    .collect();
                let exported = Exported {
                    message_id: header.message_id.clone(),
                    insurer: insurer.clone(),
                    execution_date: execution_date.clone(),
                    settlements,
                };
                if exports.find(&insurer, &exported.message_id).map_err(input)?.is_some() {
                    bail!("message id {} is already used by an unrecorded export; choose another --msg-id", exported.message_id);
                }
                write_to(out.as_ref(), &sepa::document(&header, &transfers))?;
                exports.save(&exported).map_err(input)?;
                if let Some(path) = &out {
                    let total: fairshare_protocol::Amount = transfers.iter().map(|transfer| transfer.amount).sum();
                    eprintln!(
                        "wrote {}: {} transfer(s), {total} EUR in total, message {}",
                        path.display(),
                        transfers.len(),
                        header.message_id
                    );
                }
                Ok(())
            }
        }
    }
}
