//! `fairshare audit export|verify|prove|consistency|attest`: the regulator's tools. The
//! work is in `fairshare_client::audit`; this file parses flags, shows progress and picks
//! the exit code (documented there: 0 verified, 1 does not verify, 2 could not verify,
//! 3 verified with evidence against a node).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_client::audit::proof::{self, ProofFile};
use fairshare_client::audit::verify::{self, Options};
use fairshare_client::audit::{exit, fetch, file::ExportWriter, Export, Report};
use fairshare_protocol::genesis::GenesisFile;
use fairshare_protocol::Genesis;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Context;

/// Export, verify and prove the ledger with nothing but the genesis' public keys.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare audit export --out ledger.fsa\n  \
    fairshare audit verify ledger.fsa --genesis genesis.toml\n  \
    fairshare audit verify ledger.fsa --against https://127.0.0.1:7101 --against https://127.0.0.1:7102\n  \
    fairshare audit verify ledger.fsa --against config   # every node of the client config\n  \
    fairshare audit verify --node https://127.0.0.1:7101 --json\n  \
    fairshare audit prove 3f2a9c1e07d4 --out proof.json && fairshare audit prove --check proof.json\n  \
    fairshare audit consistency 12 40 --out consistency.json\n  \
    fairshare --as nza audit attest --note \"Q3 review\"\n\n\
    Exit codes of verify, attest and --check: 0 verified; 1 does not verify (the first bad entry is named,\n  \
    or the range of blocks it lies in when the file alone cannot tell which entry between two signed heads);\n  \
    2 could not verify (unreadable input, no node, partial export); 3 verified, with evidence against a node.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Write a node's full log (blocks, envelopes, checkpoint signatures) with its genesis to a file.
    #[command(after_help = "Examples:\n  \
        fairshare audit export --out ledger.fsa\n  \
        fairshare audit export --node https://127.0.0.1:7102 --out ledger-vgz.fsa   # one given node's log")]
    Export {
        /// The export file to write (format: see 'fairshare_client::audit' docs and audit.proto).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Start at this Raft log index (a partial export, which 'verify' cannot re-execute).
        #[arg(long, value_name = "INDEX", default_value_t = 0)]
        from: u64,
    },
    /// Verify an export file, or a node's log (--node, or the config's nodes): signatures,
    /// rules re-executed from genesis, Merkle roots, certificates.
    #[command(after_help = "Examples:\n  \
        fairshare audit verify ledger.fsa --genesis genesis.toml\n  \
        fairshare audit verify ledger.fsa --against config   # and compare with every node's newest certificate\n  \
        fairshare audit verify --node https://127.0.0.1:7101 --json\n\n\
        Exit codes: 0 verified; 1 does not verify (the first bad entry is named); 2 could not verify;\n\
        3 verified, with evidence against a node.")]
    Verify {
        /// The export file; without it the log is fetched from a node.
        file: Option<PathBuf>,
        /// The genesis you trust (TOML): the export's must be this one.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
        /// Also fetch this node's newest certified checkpoint (with its certificate) and
        /// report an export that stops short of it or contradicts it; repeat for several
        /// nodes; `config` means every node of the client config.
        #[arg(long, value_name = "URL")]
        against: Vec<String>,
    },
    /// Prove that a transaction is in the certified log (or check a proof file with --check).
    #[command(after_help = "Examples:\n  \
        fairshare audit prove 3f2a9c1e07d4 --out proof.json     # a unique prefix, as printed on submit\n  \
        fairshare audit prove 17                                # leaf 17 (also: leaf:17)\n  \
        fairshare audit prove rav-nw-acute/triage-desk/1/zk     # the confirmation behind an obligation\n  \
        fairshare audit prove zk-2026-07-001                    # a payment record\n  \
        fairshare audit prove --check proof.json --genesis genesis.toml\n\n\
        An entry just recorded is proved as soon as a checkpoint that covers it is certified (an idle\n\
        ledger certifies its last entry within a second): prove waits up to 15 s for that.")]
    Prove {
        /// What to prove: a transaction id (64 hex digits) or a unique prefix of one (8 or
        /// more, e.g. the 12 printed on submit); a leaf index (fewer than 8 digits, or
        /// leaf:N); an obligation id (PLAN/MILESTONE/LINE/INSURER: the confirmation that
        /// created it); or a payment record's id (obligation:ID and payment:ID force the kind).
        #[arg(required_unless_present = "check", value_name = "TX_OR_ID")]
        transaction: Option<String>,
        /// Write the proof file here instead of to standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Check a proof file offline instead.
        #[arg(long, value_name = "FILE", conflicts_with = "transaction")]
        check: Option<PathBuf>,
        /// With --check: the genesis you trust (TOML); default: the one in the proof file.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
    /// Prove that the log certified at NEW_SIZE extends the one certified at OLD_SIZE (or --check a proof file).
    #[command(after_help = "Examples:\n  \
        fairshare audit consistency 12 40 --out consistency.json   # the log certified at 40 extends the one at 12\n  \
        fairshare audit consistency 12                            # up to the latest certified size\n  \
        fairshare audit consistency --check consistency.json --genesis genesis.toml")]
    Consistency {
        /// The older certified log size (a size some node certified, as 'fairshare status' shows).
        #[arg(required_unless_present = "check", value_name = "OLD_SIZE")]
        old_size: Option<u64>,
        /// The newer certified log size. Default: the latest certified size.
        #[arg(value_name = "NEW_SIZE")]
        new_size: Option<u64>,
        /// Write the proof file here instead of to standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Check a consistency proof file offline instead.
        #[arg(long, value_name = "FILE", conflicts_with = "old_size")]
        check: Option<PathBuf>,
        /// With --check: the genesis you trust (TOML); default: the one in the proof file.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
    /// Verify a node's log (or FILE) and, if it verifies, sign and submit an attestation of
    /// its newest certified checkpoint as a regulator (--as nza).
    #[command(after_help = "Examples:\n  \
        fairshare --as nza audit attest --note \"Q3 review\"\n  \
        fairshare --as nza audit attest ledger.fsa --genesis genesis.toml --note \"year-end 2026\"")]
    Attest {
        /// Verify this export instead of fetching the log.
        file: Option<PathBuf>,
        /// A note recorded with the attestation (e.g. which review it concludes).
        #[arg(long, default_value = "")]
        note: String,
        /// The genesis you trust (TOML): the log's must be this one.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let code = match self.command {
            Command::Export { out, from } => export(context, &out, from).await.map(|()| exit::VERIFIED)?,
            Command::Verify { file, genesis, against } => {
                or_could_not(verify_command(context, file.as_deref(), genesis.as_deref(), &against).await)
            }
            Command::Prove { check: Some(path), genesis, .. } | Command::Consistency { check: Some(path), genesis, .. } => {
                or_could_not(check(context, &path, genesis.as_deref()))
            }
            Command::Prove { transaction, out, .. } => {
                let transaction = transaction.ok_or_else(|| anyhow!("give a transaction id, or --check FILE"))?;
                let proof = proof::prove_inclusion(&context.connection()?, &proof::target(&transaction)).await?;
                let summary = format!(
                    "transaction {} is leaf {} of the log certified at size {} by {} nodes (proof made from {})",
                    proof.transaction_id,
                    proof.leaf_index,
                    proof.checkpoint.size,
                    proof.checkpoint.certificate.len(),
                    proof.made_from
                );
                write_proof(&ProofFile::Inclusion(proof), out.as_deref(), &summary)?;
                exit::VERIFIED
            }
            Command::Consistency { old_size, new_size, out, .. } => {
                let old_size = old_size.ok_or_else(|| anyhow!("give OLD_SIZE, or --check FILE"))?;
                let proof = proof::prove_consistency(&context.connection()?, old_size, new_size.unwrap_or(0)).await?;
                let summary = format!(
                    "the log certified at size {} extends the one certified at size {} ({} proof hashes, made from {})",
                    proof.new.size,
                    proof.old.size,
                    proof.proof.len(),
                    proof.made_from
                );
                write_proof(&ProofFile::Consistency(proof), out.as_deref(), &summary)?;
                exit::VERIFIED
            }
            Command::Attest { file, note, genesis } => or_could_not(attest(context, file.as_deref(), &note, genesis.as_deref()).await),
        };
        if code != exit::VERIFIED {
            std::process::exit(code);
        }
        Ok(())
    }
}

/// Operational errors of verify, attest and --check exit with 2, not 1: 1 means "does not verify".
fn or_could_not(result: Result<i32>) -> i32 {
    result.unwrap_or_else(|error| {
        eprintln!("fairshare: {error:#}");
        exit::COULD_NOT_VERIFY
    })
}

/// Progress for people: on stderr, only when it is a terminal and not with --json.
fn progress(context: &Context, template: &str) -> ProgressBar {
    if context.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("the progress template is valid").progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn load_genesis(path: Option<&Path>) -> Result<Option<Genesis>> {
    let Some(path) = path else { return Ok(None) };
    let text = super::read_file(path)?;
    let file: GenesisFile = toml::from_str(&text).with_context(|| format!("{} is not a genesis file", path.display()))?;
    Ok(Some(file.build().with_context(|| format!("{} is not a valid genesis", path.display()))?))
}

async fn export(context: &Context, out: &Path, from: u64) -> Result<()> {
    let connection = context.connection()?;
    let bar = progress(context, "{spinner} exporting: {pos} blocks, {msg} envelopes");
    let mut writer = ExportWriter::create(out)?;
    let mut envelopes = 0u64;
    let trailer = fetch::export(
        &connection,
        from,
        |record| writer.write(record),
        |block| {
            envelopes += fairshare_protocol::envelope::block_records(&block.block).map_or(0, |records| records.len() as u64);
            bar.inc(1);
            bar.set_message(envelopes.to_string());
        },
    )
    .await?;
    bar.finish_and_clear();
    let path = writer.finish()?;
    let summary = serde_json::json!({
        "file": path.display().to_string(),
        "blocks": trailer.blocks,
        "envelopes": envelopes,
        "size": trailer.size,
        "root": hex::encode(&trailer.root),
        "certified_size": trailer.certified_size,
        "from_log_index": from,
    });
    if context.json {
        context.print_json(&summary)?;
    } else {
        println!(
            "wrote {}: {} blocks, {envelopes} envelopes; the node reports size {}, certified size {}",
            path.display(),
            trailer.blocks,
            trailer.size,
            trailer.certified_size
        );
    }
    Ok(())
}

/// Each node's newest certified checkpoint with its certificate (`--against`); a node that
/// does not answer is skipped with a warning, none answering is an error.
async fn certified_elsewhere(context: &Context, against: &[String]) -> Result<Vec<verify::CertifiedClaim>> {
    if against.is_empty() {
        return Ok(Vec::new());
    }
    let urls: Vec<String> = if against.iter().any(|url| url == "config") {
        context.config()?.file.nodes.clone()
    } else {
        for url in against {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                bail!("--against '{}' is not a URL like https://127.0.0.1:7101, nor 'config'", fairshare_protocol::ids::echo(url));
            }
        }
        against.to_vec()
    };
    let mut claims = Vec::new();
    for url in &urls {
        let connection = fairshare_client::connection::Connection::new(vec![url.clone()], context.transport()?);
        let status = match fetch::Node::first(&connection).await {
            Ok(mut node) => node.status().await,
            Err(error) => Err(error),
        };
        match status {
            Ok(status) => {
                let node = status.node.clone();
                match verify::CertifiedClaim::of_status(format!("node {node} ({url})"), status) {
                    Some(claim) => claims.push(claim),
                    None => eprintln!("fairshare: node {node} ({url}) has no certified checkpoint yet"),
                }
            }
            Err(error) => eprintln!("fairshare: skipping {url}: {error}"),
        }
    }
    if claims.is_empty() {
        bail!("none of the nodes given with --against answered with a certified checkpoint");
    }
    Ok(claims)
}

/// Reads or fetches the export and verifies it on a blocking thread (it is CPU work).
async fn verified(context: &Context, file: Option<&Path>, genesis: Option<&Path>, against: &[String]) -> Result<Report> {
    let pinned = load_genesis(genesis)?.map(|genesis| genesis.hash());
    // Asked before a log is fetched, so a fetched log reaches what the nodes certified.
    let certified_elsewhere = certified_elsewhere(context, against).await?;
    let export = match file {
        Some(path) => Export::read(path)?,
        None => {
            let connection = context.connection()?;
            let bar = progress(context, "{spinner} fetching the log: {pos} blocks");
            let export = fetch::export_in_memory(&connection, |_| bar.inc(1)).await?;
            bar.finish_and_clear();
            export
        }
    };
    let bar = progress(context, "{spinner} verifying [{bar:30}] {pos}/{len} envelopes ({per_sec}, {eta} left)");
    let options = Options { pinned_genesis: pinned, progress: bar, certified_elsewhere };
    let report = tokio::task::spawn_blocking(move || verify::verify(&export, &options)).await.context("the verifier panicked")??;
    Ok(report)
}

fn print_report(context: &Context, report: &Report) -> Result<()> {
    if context.json {
        context.print_json(report)
    } else {
        print!("{}", report.to_text());
        Ok(())
    }
}

async fn verify_command(context: &Context, file: Option<&Path>, genesis: Option<&Path>, against: &[String]) -> Result<i32> {
    let report = verified(context, file, genesis, against).await?;
    print_report(context, &report)?;
    Ok(report.exit_code)
}

fn write_proof(proof: &ProofFile, out: Option<&Path>, summary: &str) -> Result<()> {
    let json = proof.to_json();
    match out {
        Some(path) => {
            std::fs::write(path, format!("{json}\n")).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{summary}; wrote {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(())
}

fn check(context: &Context, path: &Path, genesis: Option<&Path>) -> Result<i32> {
    let pinned = load_genesis(genesis)?;
    let text = super::read_file(path)?;
    let file = ProofFile::parse(&path.display().to_string(), &text)?;
    let checked = proof::check(&file, pinned.as_ref());
    if context.json {
        context.print_json(&checked)?;
    } else {
        for line in &checked.checked {
            println!("  ok: {line}");
        }
        match &checked.problem {
            None => println!("VALID {} proof: {}", checked.kind, path.display()),
            Some(problem) => println!("INVALID {} proof {}: {problem}", checked.kind, path.display()),
        }
    }
    Ok(if checked.ok { exit::VERIFIED } else { exit::DOES_NOT_VERIFY })
}

async fn attest(context: &Context, file: Option<&Path>, note: &str, genesis: Option<&Path>) -> Result<i32> {
    let (signer, key) = context.signer(None)?;
    let report = verified(context, file, genesis, &[]).await?;
    let Some(kind) = fairshare_client::audit::attestation(&report, note) else {
        print_report(context, &report)?;
        if report.ok {
            bail!("nothing is certified yet: there is no checkpoint to attest");
        }
        eprintln!("fairshare: the log does not verify without reservations; nothing was attested");
        return Ok(report.exit_code);
    };
    let connection = context.connection()?;
    let submitted = context.sign_and_submit(&connection, &signer, &key, kind).await?;
    let outcome = submitted.outcome();
    if context.json {
        context.print_json(&serde_json::json!({
            "verify": report,
            "attestation": attestation_json(&signer, &report, &submitted),
        }))?;
    } else {
        print!("{}", report.to_text());
        println!("attested as {signer}: certified size {} (root {})", report.certified_size, report.certified_root);
    }
    match outcome {
        Ok(line) => {
            if !context.json {
                println!("{line}");
            }
            Ok(exit::VERIFIED)
        }
        Err(error) => {
            eprintln!("fairshare: the attestation was not applied: {error:#}");
            Ok(exit::DOES_NOT_VERIFY)
        }
    }
}

/// The attestation's verdict as `audit attest --json` prints it: the signer and the
/// checkpoint attested, beside the common verdict fields.
fn attestation_json(signer: &str, report: &Report, submitted: &super::Submitted) -> serde_json::Value {
    let mut value = submitted.to_json();
    value["signer"] = serde_json::json!(signer);
    value["size"] = serde_json::json!(report.certified_size);
    value["root"] = serde_json::json!(report.certified_root);
    value
}
