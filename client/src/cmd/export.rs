//! `fairshare export obligations|payments --csv`: files for an insurer's finance system.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use fairshare_client::csv;
use fairshare_client::views::ObligationRow;
use fairshare_node::api::v1::{query_request::Query, Empty, ObligationFilter};
use fairshare_protocol::state::{Obligation, Party, Payment};

use super::Context;

/// Export obligations or payments as CSV (RFC 4180), for finance systems and spreadsheets.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  fairshare export obligations --csv --insurer zk --open --out zk-open.csv\n  fairshare export payments --csv > payments.csv"
)]
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
}

fn write_out(output: &Output, text: &str) -> Result<()> {
    match &output.out {
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
                let obligations: Vec<Obligation> = context.query(Query::Obligations(filter)).await?;
                let parties: BTreeMap<String, Party> = context.query(Query::Parties(Empty {})).await?;
                if context.json {
                    let rows: Vec<ObligationRow> = obligations.iter().map(ObligationRow::from).collect();
                    return write_out(&output, &format!("{}\n", serde_json::to_string_pretty(&rows)?));
                }
                let mut text = csv::record(&[
                    "obligation",
                    "plan",
                    "milestone",
                    "line",
                    "insurer",
                    "provider",
                    "payee",
                    "payee_name",
                    "payee_iban",
                    "sector",
                    "region",
                    "theme",
                    "amount",
                    "paid",
                    "outstanding",
                    "attained_on",
                    "key_group",
                    "key_version",
                ]);
                for obligation in obligations.iter().map(ObligationRow::from) {
                    let payee = parties.get(&obligation.payee);
                    text.push_str(&csv::record(&[
                        obligation.id.clone(),
                        obligation.plan.clone(),
                        obligation.milestone.clone(),
                        obligation.line.to_string(),
                        obligation.insurer.clone(),
                        obligation.provider.clone(),
                        obligation.payee.clone(),
                        payee.map(|party| party.name.clone()).unwrap_or_default(),
                        payee.and_then(|party| party.iban.clone()).unwrap_or_default(),
                        obligation.sector.clone(),
                        obligation.region.clone(),
                        obligation.theme.clone(),
                        obligation.amount.to_string(),
                        obligation.paid.to_string(),
                        obligation.outstanding.to_string(),
                        obligation.attained_on.clone(),
                        obligation.key_group.clone(),
                        obligation.key_version.to_string(),
                    ]));
                }
                write_out(&output, &text)
            }
            What::Payments { output } => {
                let payments: BTreeMap<String, Payment> = context.query(Query::Payments(Empty {})).await?;
                let payments: Vec<&Payment> =
                    payments.values().filter(|payment| output.insurer.as_ref().is_none_or(|insurer| &payment.insurer == insurer)).collect();
                if context.json {
                    return write_out(&output, &format!("{}\n", serde_json::to_string_pretty(&payments)?));
                }
                let mut text = csv::record(&[
                    "payment",
                    "insurer",
                    "obligation",
                    "amount",
                    "value_date",
                    "bank_reference",
                    "recorded_at",
                    "reversed",
                    "reversal_reason",
                ]);
                for payment in payments {
                    for (obligation, amount) in &payment.settlements {
                        text.push_str(&csv::record(&[
                            payment.id.clone(),
                            payment.insurer.clone(),
                            obligation.clone(),
                            amount.to_string(),
                            payment.value_date.to_string(),
                            payment.bank_reference.clone(),
                            payment.recorded_at.to_string(),
                            payment.reversed.as_ref().map(|reversal| format!("leaf {}", reversal.at)).unwrap_or_default(),
                            payment.reversed.as_ref().map(|reversal| reversal.reason.clone()).unwrap_or_default(),
                        ]));
                    }
                }
                write_out(&output, &text)
            }
        }
    }
}
