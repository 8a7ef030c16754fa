//! `fairshare export obligations|payments --csv` and `fairshare export sepa`: files for an
//! insurer's finance system and bank.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_api::v1::{query_request::Query, Empty, ObligationFilter};
use fairshare_client::config::Treasury;
use fairshare_client::exports::{Exported, Exports};
use fairshare_client::sepa::{self, Header, Skipped, Transfer};
use fairshare_client::views::{by_id, ObligationRow, PaymentRow};
use fairshare_client::{export, InputError};
use fairshare_protocol::state::Party;
use fairshare_protocol::Amount;

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
                let parties = context.parties().await?;
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
                let exports = Exports::new(&context.state_dir().join("exports"));
                let treasury = context.config().ok().and_then(|config| config.file.treasury.clone());
                let request = PaymentFileRequest { insurer, debtor_iban, debtor_name, execution_date, message_id: msg_id };
                let tell = |note: &str| eprintln!("{note}");
                let file = payment_file(context, &exports, treasury.as_ref(), request, tell, |xml| write_to(out.as_ref(), xml)).await?;
                if let Err(why) = &file.xml {
                    bail!("{why}");
                }
                if let Some(path) = &out {
                    eprintln!(
                        "wrote {}: {} transfer(s), {} EUR in total, message {}",
                        path.display(),
                        file.transfers.len(),
                        file.total(),
                        file.header.message_id
                    );
                }
                Ok(())
            }
        }
    }
}

/// What a payment file is made of, read from the ledger: by the command's [`Context`] for
/// `export sepa`, by the dashboard's connection for its form (each reads a state at least as
/// new as it already showed).
pub(super) trait LedgerReads {
    /// `insurer`'s obligations with something outstanding.
    async fn open_obligations(&self, insurer: &str) -> Result<Vec<ObligationRow>>;
    /// The id of every payment record on the ledger.
    async fn payment_ids(&self) -> Result<BTreeSet<String>>;
    /// The party register by id: the payees' names and IBANs.
    async fn parties(&self) -> Result<BTreeMap<String, Party>>;
}

impl LedgerReads for Context {
    async fn open_obligations(&self, insurer: &str) -> Result<Vec<ObligationRow>> {
        let filter = ObligationFilter { insurer: insurer.to_string(), open_only: true, ..ObligationFilter::default() };
        self.query(Query::Obligations(filter)).await
    }

    async fn payment_ids(&self) -> Result<BTreeSet<String>> {
        let payments: Vec<PaymentRow> = self.query(Query::Payments(Empty {})).await?;
        Ok(payments.into_iter().map(|payment| payment.id).collect())
    }

    async fn parties(&self) -> Result<BTreeMap<String, Party>> {
        Ok(by_id(self.query::<Vec<Party>>(Query::Parties(Empty {})).await?, |party| &party.id))
    }
}

/// What a payment file is asked for: `export sepa`'s flags, or the dashboard's form.
pub(super) struct PaymentFileRequest {
    /// The paying insurer.
    pub insurer: String,
    /// Default: `debtor_iban` under `[treasury]` in the client config.
    pub debtor_iban: Option<String>,
    /// Default: `debtor_name` under `[treasury]`.
    pub debtor_name: Option<String>,
    pub execution_date: String,
    /// Default: `FS-INSURER-YYYYMMDDHHMMSS`.
    pub message_id: Option<String>,
}

/// The user asked for a file that cannot be made (a missing debtor, a bad IBAN or date):
/// their input to fix, not the ledger's fault. The dashboard answers 400.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refused(String);

/// A payment file, or why none was made, and what to tell the user about it.
pub(super) struct PaymentFile {
    pub header: Header,
    /// One per payee with an IBAN; empty when there was nothing to pay.
    pub transfers: Vec<Transfer>,
    /// The pain.001 document, or why none was made (nothing to pay; the message id names an
    /// unrecorded export): then nothing was delivered or saved.
    pub xml: Result<String, String>,
    /// Today's date (UTC) when the execution date is before it.
    pub past: Option<String>,
    /// Unrecorded exports whose payments this file leaves out.
    pub left_out: Vec<Exported>,
    /// Payees without a registered IBAN, left out.
    pub skipped: Vec<Skipped>,
}

impl PaymentFile {
    pub fn total(&self) -> Amount {
        self.transfers.iter().map(|transfer| transfer.amount).sum()
    }

    /// What to tell the user, one line each, in the order and words `export sepa` prints on
    /// stderr: the past date, the exports left out, the payees skipped.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(today) = &self.past {
            notes.push(format!(
                "warning: execution date {} is in the past (today is {today}); the bank may refuse the file or execute it at once",
                self.header.execution_date
            ));
        }
        for export in &self.left_out {
            notes.push(format!(
                "left out: {} EUR on {} obligation(s) already in {} (exported, not recorded; record it with 'fairshare pay --from-sepa FILE')",
                export.total(),
                export.settlements.len(),
                export.message_id
            ));
        }
        for payee in &self.skipped {
            notes.push(format!(
                "skipped {} ({}): no IBAN registered; {} outstanding on {} obligation(s): {}",
                payee.payee,
                payee.name,
                payee.amount,
                payee.obligations.len(),
                payee.obligations.join(", ")
            ));
        }
        notes
    }
}

/// The one way a pain.001 file is made (`export sepa` and the dashboard's form): the
/// insurer's open obligations, less what its unrecorded exports already pay (an export whose
/// payment the ledger records is forgotten), one transfer per payee with an IBAN. What to
/// tell the user goes to `tell` first ([`PaymentFile::notes`]); then the document goes to
/// `deliver` (a file, standard output, an HTTP answer) and, if that worked, the export is
/// saved as pending with its document (the dashboard offers it for download again). With
/// nothing to pay, or a message id in use, nothing is delivered or saved. The insurer's
/// exports are locked from reading the pending ones to saving the new one
/// ([`Exports::lock`]), so two files made at once never pay the same obligations.
pub(super) async fn payment_file(
    ledger: &impl LedgerReads,
    exports: &Exports,
    treasury: Option<&Treasury>,
    request: PaymentFileRequest,
    mut tell: impl FnMut(&str),
    deliver: impl FnOnce(&str) -> Result<()>,
) -> Result<PaymentFile> {
    let created = sepa::now().context("the system clock is before 1970")?;
    let header = header(&request, treasury, created)?;
    let insurer = &request.insurer;
    let _held = exports.lock(insurer).map_err(input)?;
    // ISO dates compare as text: a date before today's (UTC) is in the past.
    let today = &header.created[..10];
    let past = (header.execution_date.to_string().as_str() < today).then(|| today.to_string());
    let rows = ledger.open_obligations(insurer).await?;
    // Exported before and not recorded yet: left out, once and for all.
    let payment_ids = ledger.payment_ids().await?;
    let mut left_out = Vec::new();
    for export in exports.pending(insurer).map_err(input)? {
        if export.is_recorded(&payment_ids) {
            exports.recorded(insurer, &export.message_id).map_err(input)?;
        } else {
            left_out.push(export);
        }
    }
    let rows = fairshare_client::exports::without_pending(&rows, &left_out);
    let (transfers, skipped) = sepa::transfers(&rows, &sepa::payees(ledger.parties().await?));
    let nothing = format!("nothing to pay: {insurer} has no open obligations to a payee with an IBAN; no file written");
    let mut file = PaymentFile { header, transfers, xml: Err(nothing), past, left_out, skipped };
    for note in file.notes() {
        tell(&note);
    }
    if file.transfers.is_empty() {
        return Ok(file);
    }
    let settlements = rows
        .iter()
        .filter(|row| row.outstanding.cents() > 0 && file.transfers.iter().any(|transfer| transfer.obligations.contains(&row.id)))
        .map(|row| (row.id.clone(), row.outstanding))
        .collect();
    let exported = Exported {
        message_id: file.header.message_id.clone(),
        insurer: insurer.clone(),
        execution_date: request.execution_date.clone(),
        settlements,
    };
    // A message id names one file until it is recorded.
    if exports.find(insurer, &exported.message_id).map_err(input)?.is_some() {
        file.xml = Err(format!("message id {} is already used by an unrecorded export; choose another --msg-id", exported.message_id));
        return Ok(file);
    }
    let xml = sepa::document(&file.header, &file.transfers);
    deliver(&xml)?;
    exports.save(&exported, &xml).map_err(input)?;
    file.xml = Ok(xml);
    Ok(file)
}

/// The file's header from the request, the debtor from `[treasury]` where not given.
fn header(request: &PaymentFileRequest, treasury: Option<&Treasury>, created: String) -> Result<Header> {
    let message_id = request.message_id.clone().unwrap_or_else(|| sepa::default_message_id(&request.insurer, &created));
    let debtor_iban = request
        .debtor_iban
        .clone()
        .or_else(|| treasury.map(|treasury| treasury.debtor_iban.clone()))
        .ok_or_else(|| Refused("give --debtor-iban, or set debtor_iban under [treasury] in the client config".into()))?;
    let debtor_name = request
        .debtor_name
        .clone()
        .or_else(|| treasury.map(|treasury| treasury.debtor_name.clone()))
        .ok_or_else(|| Refused("give --debtor-name, or set debtor_name under [treasury] in the client config".into()))?;
    Header::new(&message_id, created, &request.execution_date, &debtor_name, &debtor_iban)
        .map_err(|error| Refused(error.to_string()).into())
}

fn input(error: InputError) -> anyhow::Error {
    anyhow!("{error}")
}
