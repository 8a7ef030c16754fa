//! `fairshare bench --iza`: replays the IZA workload (`fairshare_client::bench::iza`) stage
//! by stage, every stage's transactions signed before its clock starts and submitted with
//! the bench's clients and batches; meanwhile a task asks for the obligations of one of the
//! run's plans every [`QUERY_INTERVAL`] (the query `fairshare obligations --plan` makes)
//! and records how long each answer took. At the end it times `audit export` and
//! `audit verify` of the whole ledger, run as child processes of this executable: exactly
//! what a regulator runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_api::v1::{query_request::Query, Empty, ObligationFilter, QueryRequest};
use fairshare_client::bench::iza::{first_month_after, Facts, Shape, Stage, Workload};
use fairshare_client::bench::{Latencies, LatencySummary};
use fairshare_client::views::ObligationRow;
use fairshare_protocol::Amount;
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{
    closed_loop, keys_by_id, per_second, print_cluster, print_latency, print_verdicts, progress, seal_for, Cluster, Target, Verdicts, FSYNC,
};
use crate::cmd::Context;

/// How often the background task asks for obligations during the load.
const QUERY_INTERVAL: Duration = Duration::from_millis(50);
/// Plans whose obligations are read at once after the confirmations.
const READ_CONCURRENCY: usize = 8;

#[derive(Debug, Serialize)]
struct StageReport {
    name: &'static str,
    transactions: usize,
    seconds: f64,
    tx_per_sec: f64,
    latency_ms: LatencySummary,
    verdicts: Verdicts,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct AuditReport {
    export_secs: f64,
    export_bytes: u64,
    verify_secs: f64,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    seed: u64,
    plans: usize,
    milestones: usize,
    lines: usize,
    insurers: usize,
    line_average: Amount,
    committed_total: Amount,
    concurrency: usize,
    batch: usize,
    stages: Vec<StageReport>,
    transactions: usize,
    load_secs: f64,
    tx_per_sec: f64,
    verdicts: Verdicts,
    obligations_read_secs: f64,
    obligations_created: usize,
    obligations_max: usize,
    payments_single: usize,
    payments_batched: usize,
    payments_partial: usize,
    payments_reversed: usize,
    obligations_left_open: usize,
    query_latency_ms: LatencySummary,
    query_errors: u64,
    audit: Option<AuditReport>,
    cluster: Cluster,
    term_before: u64,
    fsync: &'static str,
    complete: bool,
}

pub async fn run(context: &Context, target: &Target, shape: Shape, concurrency: usize, batch: usize) -> Result<()> {
    let insurers: Vec<String> = target.genesis.insurers.iter().map(|member| member.id.clone()).collect();
    let missing: Vec<&String> = insurers.iter().filter(|id| !target.signers.iter().any(|(signer, _)| signer == *id)).collect();
    if !missing.is_empty() {
        bail!(
            "--iza signs as every insurer (each pays its own obligations); the client config has no key of {}",
            missing.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let facts = facts(target, insurers.clone()).await?;
    let workload = Workload::generate(shape, &facts).map_err(|error| anyhow!("{error}"))?;
    let stages = workload.stages(&insurers).map_err(|error| anyhow!("{error}"))?;
    let before = target.cluster().await;
    if !context.json {
        println!(
            "bench --iza: {} plans × {} milestones × {} lines on {} insurers (seed {}), lines of {} on average, {} committed in all",
            shape.plans,
            shape.milestones,
            shape.lines,
            insurers.len(),
            shape.seed,
            Amount::from_cents(workload.line_cents_average),
            Amount::from_cents(workload.total_cents())
        );
    }

    let sampler = Sampler::start(target, workload.plan_ids());
    let mut reports = Vec::new();
    let mut load = Duration::ZERO;
    let mut failed = None;
    for stage in &stages {
        let report = run_stage(target, stage, concurrency, batch).await?;
        load += Duration::from_secs_f64(report.seconds);
        let stage_failed = report.verdicts.applied != stage.transactions.len() as u64;
        if stage_failed {
            failed = Some(format!(
                "stage '{}': {} of {} applied; {}",
                stage.name,
                report.verdicts.applied,
                stage.transactions.len(),
                report.first_problem.clone().unwrap_or_default()
            ));
        }
        reports.push(report);
        if stage_failed {
            break;
        }
    }

    let mut obligations = Vec::new();
    let mut read_secs = 0.0;
    let mut payments = fairshare_client::bench::iza::Payments::default();
    if failed.is_none() {
        let started = Instant::now();
        obligations = read_obligations(target, &workload.plan_ids()).await?;
        read_secs = started.elapsed().as_secs_f64();
        payments = workload.payments(&obligations).map_err(|error| anyhow!("{error}"))?;
        for stage in &payments.stages {
            let report = run_stage(target, stage, concurrency, batch).await?;
            load += Duration::from_secs_f64(report.seconds);
            let stage_failed = report.verdicts.applied != stage.transactions.len() as u64;
            if stage_failed {
                failed = Some(format!(
                    "stage '{}': {} of {} applied; {}",
                    stage.name,
                    report.verdicts.applied,
                    stage.transactions.len(),
                    report.first_problem.clone().unwrap_or_default()
                ));
            }
            reports.push(report);
            if stage_failed {
                break;
            }
        }
    }
    let (query_latencies, query_errors) = sampler.stop().await;
    let audit = if failed.is_none() { Some(audit(context).await?) } else { None };
    let after = target.cluster().await;

    let mut verdicts = Verdicts::default();
    for report in &reports {
        verdicts.add(&report.verdicts);
    }
    let transactions: usize = reports.iter().map(|report| report.transactions).sum();
    let report = Report {
        seed: shape.seed,
        plans: shape.plans,
        milestones: shape.milestones,
        lines: shape.lines,
        insurers: insurers.len(),
        line_average: Amount::from_cents(workload.line_cents_average),
        committed_total: Amount::from_cents(workload.total_cents()),
        concurrency,
        batch,
        transactions,
        load_secs: load.as_secs_f64(),
        tx_per_sec: per_second(verdicts.committed(), load),
        verdicts,
        stages: reports,
        obligations_read_secs: read_secs,
        obligations_created: obligations.len(),
        obligations_max: workload.obligations_max(insurers.len()),
        payments_single: payments.single,
        payments_batched: payments.batched,
        payments_partial: payments.partial,
        payments_reversed: payments.reversed,
        obligations_left_open: payments.left_open,
        query_latency_ms: query_latencies.summary(),
        query_errors,
        audit,
        cluster: after,
        term_before: before.term,
        fsync: FSYNC,
        complete: failed.is_none(),
    };
    if context.json {
        context.print_json(&report)?;
    } else {
        print(&report, target);
    }
    match failed {
        Some(problem) => bail!("the workload stopped: {problem}"),
        None => Ok(()),
    }
}

/// The ledger's insurers, sectors, key dates and free fund.
async fn facts(target: &Target, insurers: Vec<String>) -> Result<Facts> {
    let genesis = &target.genesis;
    let valid_from: Vec<String> = genesis.keys.iter().map(|key| key.valid_from.clone()).collect();
    let first_month = first_month_after(&valid_from).map_err(|error| anyhow!("{error}"))?;
    let (node, answer) = target.connection.query(Query::Fund(Empty {}), 0).await?;
    let fund: serde_json::Value = serde_json::from_str(&answer.json)
        .with_context(|| format!("{node} answered the fund query with JSON this client does not understand"))?;
    let free: Amount =
        fund["free"].as_str().and_then(|free| free.parse().ok()).ok_or_else(|| anyhow!("{node}'s fund report has no amount 'free'"))?;
    if fund["queue"].as_array().is_some_and(|queue| !queue.is_empty()) {
        bail!("plans wait in this ledger's funding queue, so every new approval would queue behind them; run --iza on a fresh ledger");
    }
    Ok(Facts { insurers, sectors: genesis.sectors.iter().map(|sector| sector.id.clone()).collect(), first_month, free_cents: free.cents() })
}

/// Signs a stage (in parallel, with reserved nonces) and submits it; times only the submission.
async fn run_stage(target: &Target, stage: &Stage, concurrency: usize, batch: usize) -> Result<StageReport> {
    let keys = keys_by_id(target);
    let mut per_signer: std::collections::BTreeMap<&str, u64> = Default::default();
    for transaction in &stage.transactions {
        *per_signer.entry(transaction.signer.as_str()).or_default() += 1;
    }
    let mut ranges = std::collections::BTreeMap::new();
    for (signer, count) in per_signer {
        ranges.insert(signer, target.nonces(signer, count)?);
    }
    let mut numbered = Vec::with_capacity(stage.transactions.len());
    for transaction in &stage.transactions {
        let nonce = ranges.get_mut(transaction.signer.as_str()).and_then(Iterator::next).ok_or_else(|| anyhow!("no nonce reserved"))?;
        numbered.push((transaction, nonce));
    }
    let ledger_id = target.ledger_id.as_str();
    let envelopes: Vec<_> = numbered
        .par_iter()
        .map(|(transaction, nonce)| {
            let key = keys.get(&transaction.signer).ok_or_else(|| anyhow!("no key of {}", transaction.signer))?;
            Ok(seal_for(ledger_id, &transaction.signer, key, *nonce, transaction.kind.clone()))
        })
        .collect::<Result<_>>()?;
    let chunks: Vec<Vec<_>> = envelopes.chunks(batch).map(<[_]>::to_vec).collect();
    let (sender, receiver) = mpsc::channel(chunks.len().max(1));
    for chunk in chunks {
        sender.send(chunk).await.map_err(|_| anyhow!("the stage queue closed"))?;
    }
    drop(sender);
    let bar = progress(Some(stage.transactions.len() as u64));
    bar.set_message(stage.name);
    let started = Instant::now();
    let tally = closed_loop(&target.clients, Arc::new(tokio::sync::Mutex::new(receiver)), concurrency, None, &bar).await;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok(StageReport {
        name: stage.name,
        transactions: stage.transactions.len(),
        seconds: elapsed.as_secs_f64(),
        tx_per_sec: per_second(tally.verdicts.committed(), elapsed),
        latency_ms: tally.latencies.summary(),
        verdicts: tally.verdicts,
        first_problem: tally.first_problem,
    })
}

fn plan_filter(plan: &str) -> Query {
    Query::Obligations(ObligationFilter { plan: plan.to_string(), ..Default::default() })
}

/// The obligations of the run's plans, as their insurers' treasuries read them.
async fn read_obligations(target: &Target, plans: &[String]) -> Result<Vec<ObligationRow>> {
    let bar = progress(Some(plans.len() as u64));
    bar.set_message("reading obligations (plans)");
    let mut obligations = Vec::new();
    // Every node answers from a state that holds the confirmations just made.
    let min_size = target.size_seen().await;
    for (round, group) in plans.chunks(READ_CONCURRENCY).enumerate() {
        let mut tasks = tokio::task::JoinSet::new();
        for (position, plan) in group.iter().enumerate() {
            let mut client = target.clients[(round + position) % target.clients.len()].1.clone();
            let query = plan_filter(plan);
            let plan = plan.clone();
            tasks.spawn(async move {
                let answer = client
                    .query(QueryRequest { query: Some(query), min_size })
                    .await
                    .map_err(|status| anyhow!("obligations of {plan}: {}", status.message()))?;
                serde_json::from_str::<Vec<ObligationRow>>(&answer.into_inner().json)
                    .with_context(|| format!("obligations of {plan}: unexpected JSON"))
            });
        }
        while let Some(joined) = tasks.join_next().await {
            obligations.extend(joined.map_err(|error| anyhow!("a query task failed: {error}"))??);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(obligations)
}

/// Asks for one plan's obligations every [`QUERY_INTERVAL`], in turn over the run's plans
/// and the nodes, and records each answer's latency.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Latencies, u64)>,
}

impl Sampler {
    fn start(target: &Target, plans: Vec<String>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = target.clients.iter().map(|(_, client)| client.clone()).collect();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut errors = 0u64;
            let mut ticks = tokio::time::interval(QUERY_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for turn in 0usize.. {
                ticks.tick().await;
                if stopped.load(Ordering::Relaxed) || plans.is_empty() {
                    break;
                }
                let mut client = clients[turn % clients.len()].clone();
                let started = Instant::now();
                match client.query(QueryRequest { query: Some(plan_filter(&plans[turn % plans.len()])), min_size: 0 }).await {
                    Ok(_) => latencies.record(started.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        });
        Sampler { stop, task }
    }

    async fn stop(self) -> (Latencies, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// `fairshare audit export` and `fairshare audit verify` of the whole ledger, timed, as child
/// processes of this executable with this command's config and node.
async fn audit(context: &Context) -> Result<AuditReport> {
    let executable = std::env::current_exe().context("cannot find this executable to run 'audit export'")?;
    let dir = std::env::temp_dir().join(format!("fairshare-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let file = dir.join("ledger.fsa");
    let mut global: Vec<std::ffi::OsString> = Vec::new();
    if let Ok(config) = context.config() {
        global.extend(["--config".into(), config.path.clone().into_os_string()]);
    }
    if let Some(node) = &context.node {
        global.extend(["--node".into(), node.into()]);
    }
    if let Some(identity) = &context.identity {
        global.extend(["--as".into(), identity.into()]);
    }
    if let Some(key) = &context.key {
        global.extend(["--key".into(), key.clone().into_os_string()]);
    }
    if context.insecure {
        global.push("--insecure".into());
    }
    let run = |arguments: Vec<std::ffi::OsString>| {
        let mut command = tokio::process::Command::new(&executable);
        command.args(&global).arg("--json").args(arguments).stdin(std::process::Stdio::null()).kill_on_drop(true);
        command
    };
    let started = Instant::now();
    let export = run(vec!["audit".into(), "export".into(), "--out".into(), file.clone().into_os_string()]).output().await?;
    let export_secs = started.elapsed().as_secs_f64();
    if !export.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        bail!("audit export failed ({}): {}", export.status, String::from_utf8_lossy(&export.stderr).trim());
    }
    let export_bytes = std::fs::metadata(&file).map(|metadata| metadata.len()).unwrap_or(0);
    let started = Instant::now();
    let verify = run(vec!["audit".into(), "verify".into(), file.clone().into_os_string()]).output().await?;
    let verify_secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let verified = verify.status.success();
    let problem =
        (!verified).then(|| format!("audit verify exited with {}: {}", verify.status, String::from_utf8_lossy(&verify.stderr).trim()));
    Ok(AuditReport { export_secs, export_bytes, verify_secs, verified, problem })
}

fn print(report: &Report, target: &Target) {
    let nodes: Vec<String> = target.clients.iter().map(|(url, _)| url.clone()).collect();
    print_cluster(&report.cluster, report.term_before, &nodes);
    println!("{:<26} {:>9} {:>9} {:>9} {:>9} {:>9}", "stage", "tx", "seconds", "tx/s", "p50 ms", "p99 ms");
    for stage in &report.stages {
        println!(
            "{:<26} {:>9} {:>9.2} {:>9.0} {:>9.1} {:>9.1}",
            stage.name, stage.transactions, stage.seconds, stage.tx_per_sec, stage.latency_ms.p50_ms, stage.latency_ms.p99_ms
        );
    }
    println!(
        "total: {} transactions in {:.2} s of load = {:.0} tx/s ({} per call, {} clients)",
        report.transactions, report.load_secs, report.tx_per_sec, report.batch, report.concurrency
    );
    print_verdicts(&report.verdicts);
    println!(
        "obligations: {} created (at most {}), read back in {:.2} s; payments: {} single, {} batched, {} partial, {} reversed and paid again; {} obligations left open",
        report.obligations_created,
        report.obligations_max,
        report.obligations_read_secs,
        report.payments_single,
        report.payments_batched,
        report.payments_partial,
        report.payments_reversed,
        report.obligations_left_open
    );
    print_latency(&format!("obligation queries during the load (ms, {} errors)", report.query_errors), &report.query_latency_ms);
    match &report.audit {
        Some(audit) => println!(
            "audit: export {:.2} s ({} bytes), verify {:.2} s: {}",
            audit.export_secs,
            audit.export_bytes,
            audit.verify_secs,
            if audit.verified { "verified".to_string() } else { audit.problem.clone().unwrap_or_default() }
        ),
        None => println!("audit: not run (the workload stopped)"),
    }
}
