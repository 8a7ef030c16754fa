//! `fairshare bench`: drives a running ledger with signed transactions that the rules
//! apply, and measures committed transactions per second and commit latency.
//!
//! The plain bench registers providers (`PartyRegistered`, a cheap kind every insurer may
//! sign), with ids from the run's seed so reruns do not collide, signed in turn by every
//! insurer the client config holds a key of. Envelopes are signed ahead by a thread of
//! their own (all of them, up to [`PREFILL_ENVELOPES`], before the clock starts), so
//! signing is never counted as ledger latency. `--iza` replays the IZA workload instead
//! (`bench/iza.rs`).
//!
//! Calls go over one kept-open channel per configured node (or `--node`), clients spread
//! over them in turn; followers forward to the leader as for any client.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use ed25519_dalek::SigningKey;
use fairshare_api::v1::{ledger_client::LedgerClient, SubmitBatchRequest, SubmitRequest, SubmitResponse, VerdictKind};
use fairshare_client::bench::{provider_id, Latencies, LatencySummary};
use fairshare_client::connection::{self, Connection, SUBMIT_TIMEOUT};
use fairshare_client::nonce::{now_micros, NonceStore};
use fairshare_protocol::envelope::seal;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::BLOCK_TRANSACTIONS_MAX;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::Context;

mod iza;

/// Envelopes signed before the clock starts: all of a run up to this many; beyond it
/// (long `--duration` runs), the signing thread keeps this far ahead.
pub const PREFILL_ENVELOPES: usize = 65_536;
/// Clients (closed loop) or calls in flight (open loop) at most.
const CONCURRENCY_MAX: usize = 4_096;
const COUNT_MAX: u64 = 100_000_000;
const DURATION_SECS_MAX: u64 = 24 * 3_600;
/// An open-loop issue this much after its scheduled time counts as late.
const LATE_AFTER: Duration = Duration::from_millis(10);
/// Nonces are reserved in blocks of this many per signer.
const NONCE_BLOCK: u64 = 10_000;
/// The node always fsyncs its log before it acknowledges an append (ARCHITECTURE.md).
pub const FSYNC: &str = "on (every append)";

/// Measure a running ledger: committed tx/s and commit latency, or the IZA workload.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare bench                                   # 20000 provider registrations, 64 clients, single Submit\n  \
    fairshare bench --count 5000 --concurrency 16 --json\n  \
    fairshare bench --duration 30 --batch 256 --concurrency 8   # SubmitBatch of 256 envelopes per call\n  \
    fairshare bench --rate 500 --duration 20           # open loop: 500 tx/s whatever the completions\n  \
    fairshare bench --iza --plans 4                    # a small IZA workload; the default is the real scale\n\n\
    Latency is per call: from sending a Submit (or a SubmitBatch of --batch envelopes) to its verdict; in the\n\
    open loop from the call's scheduled time, so a backlog shows as latency. Percentiles are exact (sorted samples).")]
pub struct Args {
    /// Clients, each with one call in flight, waiting for its verdict (closed loop; default 64, --iza 16).
    #[arg(long, value_name = "C")]
    concurrency: Option<usize>,
    /// Transactions to submit (default 20000).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    count: Option<u64>,
    /// Submit for this long instead of a count.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Open loop: issue this many transactions per second whatever the completions.
    #[arg(long, value_name = "TX_PER_SEC", conflicts_with = "iza")]
    rate: Option<u64>,
    /// Open loop: calls in flight at most; an issue beyond it is dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 4_096, requires = "rate")]
    outstanding: usize,
    /// Envelopes per SubmitBatch call; 1 uses Submit (default 1, --iza 64).
    #[arg(long, value_name = "K")]
    batch: Option<usize>,
    /// Seed of the run's ids (and of the IZA workload's shape); default: from the clock.
    #[arg(long)]
    seed: Option<u64>,
    /// Replay the IZA workload: plans, assessments, milestones, confirmations, payments;
    /// then time audit export and verify.
    #[arg(long)]
    iza: bool,
    /// With --iza: plans (the real scale is ~400 over five years).
    #[arg(long, default_value_t = 400, requires = "iza")]
    plans: usize,
    /// With --iza: milestones per plan.
    #[arg(long, default_value_t = 20, requires = "iza")]
    milestones: usize,
    /// With --iza: lines per milestone (obligations = confirmed lines × insurers).
    #[arg(long, default_value_t = 5, requires = "iza")]
    lines: usize,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let concurrency = self.concurrency.unwrap_or(if self.iza { 16 } else { 64 });
        let batch = self.batch.unwrap_or(if self.iza { 64 } else { 1 });
        if !(1..=CONCURRENCY_MAX).contains(&concurrency) {
            bail!("--concurrency {concurrency}: give 1 to {CONCURRENCY_MAX}");
        }
        if !(1..=BLOCK_TRANSACTIONS_MAX).contains(&batch) {
            bail!("--batch {batch}: give 1 to {BLOCK_TRANSACTIONS_MAX} envelopes per call");
        }
        if !(1..=CONCURRENCY_MAX).contains(&self.outstanding) {
            bail!("--outstanding {}: give 1 to {CONCURRENCY_MAX}", self.outstanding);
        }
        if self.count.is_some_and(|count| !(1..=COUNT_MAX).contains(&count)) {
            bail!("--count: give 1 to {COUNT_MAX}");
        }
        if self.duration.is_some_and(|secs| !(1..=DURATION_SECS_MAX).contains(&secs)) {
            bail!("--duration: give 1 to {DURATION_SECS_MAX} seconds");
        }
        if self.rate.is_some_and(|rate| !(1..=1_000_000).contains(&rate)) {
            bail!("--rate: give 1 to 1000000 transactions per second");
        }
        let seed = self.seed.unwrap_or_else(now_micros);
        let target = Target::open(context).await?;
        if self.iza {
            if self.count.is_some() || self.duration.is_some() {
                bail!("--iza replays a whole workload: shape it with --plans, --milestones and --lines, not --count or --duration");
            }
            let shape = fairshare_client::bench::iza::Shape { plans: self.plans, milestones: self.milestones, lines: self.lines, seed };
            return iza::run(context, &target, shape, concurrency, batch).await;
        }
        let limit = match self.duration {
            Some(secs) => Limit::Duration(Duration::from_secs(secs)),
            None => Limit::Count(self.count.unwrap_or(20_000)),
        };
        let before = target.cluster().await;
        let source = PartySource::start(&target, seed, limit, batch)?;
        source.wait_prefilled().await;
        let bar = progress(match limit {
            Limit::Count(count) => Some(count),
            Limit::Duration(_) => None,
        });
        let deadline = match limit {
            Limit::Duration(duration) => Some(Instant::now() + duration),
            Limit::Count(_) => None,
        };
        let started = Instant::now();
        let (tally, open) = match self.rate {
            None => (closed_loop(&target.clients, source.receiver.clone(), concurrency, deadline, &bar).await, None),
            Some(rate) => {
                let (tally, open) = open_loop(&target.clients, &source, rate, batch, self.outstanding, deadline, &bar).await;
                (tally, Some(open))
            }
        };
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        let issued = source.stop()?;
        let after = target.cluster().await;
        let report = Report {
            mode: if self.rate.is_some() { "open loop" } else { "closed loop" },
            call: if batch == 1 { "Submit" } else { "SubmitBatch" },
            batch,
            concurrency: if self.rate.is_some() { self.outstanding } else { concurrency },
            rate: self.rate,
            transaction: "PartyRegistered",
            seed,
            requested: match limit {
                Limit::Count(count) => count,
                Limit::Duration(_) => issued,
            },
            committed: tally.verdicts.committed(),
            elapsed_secs: elapsed.as_secs_f64(),
            tx_per_sec: per_second(tally.verdicts.committed(), elapsed),
            latency_ms: tally.latencies.summary(),
            latency_of: if batch == 1 { "one Submit call" } else { "one SubmitBatch call" },
            verdicts: tally.verdicts,
            dropped: open.map(|open| open.dropped),
            late: open.map(|open| open.late),
            first_problem: tally.first_problem,
            cluster: after,
            term_before: before.term,
            fsync: FSYNC,
            nodes_used: target.clients.iter().map(|(url, _)| url.clone()).collect(),
        };
        if context.json {
            return context.print_json(&report);
        }
        report.print();
        Ok(())
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Count(u64),
    Duration(Duration),
}

/// A progress bar on stderr when it is a terminal: of `total` transactions, or a counter.
pub fn progress(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{msg} [{bar:40}] {pos}/{len} tx, {per_sec}, {elapsed}",
        ),
        None => (ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()), "{spinner} {msg} {pos} tx, {per_sec}, {elapsed}"),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("the progress template is valid").progress_chars("=> "));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What a run talks to and signs with.
pub struct Target {
    /// One kept-open client per node answering, with its URL.
    pub clients: Vec<(String, LedgerClient<Channel>)>,
    pub connection: Connection,
    pub genesis: pb::Genesis,
    pub ledger_id: String,
    /// Insurers (genesis order) whose keys this client holds.
    pub signers: Vec<(String, SigningKey)>,
    nonces: NonceStore,
}

impl Target {
    async fn open(context: &Context) -> Result<Target> {
        let connection = context.connection()?;
        let genesis = connection.genesis().await.context("cannot read the ledger's genesis")?;
        let ledger_id = context.ledger_id(&connection).await?;
        if ledger_id != genesis.ledger_id {
            bail!("the client config names ledger '{ledger_id}' but the node runs '{}'; check --config or --node", genesis.ledger_id);
        }
        let mut signers = Vec::new();
        if context.key.is_some() {
            let (id, key) = context.signer(None)?;
            signers.push((id, key));
        } else {
            let config = context.config()?;
            for insurer in &genesis.insurers {
                if config.file.identities.iter().any(|identity| identity.id == insurer.id) {
                    signers.push(context.signer(Some(&insurer.id))?);
                }
            }
        }
        if signers.is_empty() {
            bail!(
                "the client config holds the key of no insurer of this ledger; a bench signs as insurers (e.g. the devnet's client.toml)"
            );
        }
        let mut clients = Vec::new();
        let mut unreachable = Vec::new();
        for url in connection.nodes() {
            match connection::client(url, Some(SUBMIT_TIMEOUT), connection.transport()).await {
                Ok(client) => clients.push((url.clone(), client)),
                Err(problem) => unreachable.push(format!("{url}: {problem}")),
            }
        }
        if clients.is_empty() {
            bail!("no node answered ({}); start a ledger with 'fairshare devnet' or pass --node URL", unreachable.join("; "));
        }
        for problem in &unreachable {
            eprintln!("fairshare: bench: leaving out {problem}");
        }
        let nonces = NonceStore::new(&context.state_dir().join("nonces"));
        Ok(Target { clients, connection, genesis, ledger_id, signers, nonces })
    }

    /// Reserves `count` nonces of `signer`.
    pub fn nonces(&self, signer: &str, count: u64) -> Result<std::ops::Range<u64>> {
        Ok(self.nonces.reserve(signer, now_micros(), count)?)
    }

    /// The largest ledger size any configured node reports: every write answered so far
    /// is within it, so a query naming it reads those writes (reading your own writes).
    pub async fn size_seen(&self) -> u64 {
        let mut size = 0;
        for url in self.connection.nodes() {
            if let Ok(status) = connection::status(url, self.connection.transport()).await {
                size = size.max(status.size);
            }
        }
        size
    }

    /// Who is in the cluster, from every configured node's status.
    pub async fn cluster(&self) -> Cluster {
        let mut members = BTreeSet::new();
        let mut voters = BTreeSet::new();
        let (mut leader, mut term) = (String::new(), 0);
        for url in self.connection.nodes() {
            let Ok(status) = connection::status(url, self.connection.transport()).await else { continue };
            members.insert(status.node.clone());
            for peer in &status.peers {
                members.insert(peer.node.clone());
                if peer.voter {
                    voters.insert(peer.node.clone());
                }
            }
            if status.term >= term {
                term = status.term;
                leader = status.leader;
            }
        }
        // A node's own vote is not in its status; the leader is a voter.
        if !leader.is_empty() {
            voters.insert(leader.clone());
        }
        let learners = members.difference(&voters).count();
        Cluster { nodes: members.len(), voters: voters.len(), learners, leader, term }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub nodes: usize,
    pub voters: usize,
    pub learners: usize,
    pub leader: String,
    pub term: u64,
}

/// Verdict counts. Committed = applied + rejected: both are leaves of the log.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Verdicts {
    pub applied: u64,
    pub rejected: u64,
    pub duplicate: u64,
    pub refused: u64,
    /// Calls that failed (no verdict): each of their envelopes counts once.
    pub errors: u64,
}

impl Verdicts {
    pub fn committed(&self) -> u64 {
        self.applied + self.rejected
    }

    pub fn add(&mut self, other: &Verdicts) {
        self.applied += other.applied;
        self.rejected += other.rejected;
        self.duplicate += other.duplicate;
        self.refused += other.refused;
        self.errors += other.errors;
    }
}

/// What a set of calls got.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub verdicts: Verdicts,
    pub latencies: Latencies,
    /// The first rejection, refusal or error, for the report.
    pub first_problem: Option<String>,
}

impl Tally {
    fn problem(&mut self, problem: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(problem());
        }
    }

    fn record(&mut self, result: Result<Vec<SubmitResponse>, tonic::Status>, sent: usize, latency: Duration) {
        self.latencies.record(latency);
        let responses = match result {
            Ok(responses) => responses,
            Err(status) => {
                self.verdicts.errors += sent as u64;
                self.problem(|| format!("{:?}: {}", status.code(), status.message()));
                return;
            }
        };
        if responses.len() != sent {
            self.verdicts.errors += sent as u64;
            self.problem(|| format!("{} verdicts for {sent} envelopes", responses.len()));
            return;
        }
        for response in responses {
            let reason = || {
                let code = pb::ReasonCode::try_from(response.reason).map(|code| code.as_str_name()).unwrap_or("UNKNOWN_REASON");
                format!("{code}: {}", response.message)
            };
            match VerdictKind::try_from(response.verdict) {
                Ok(VerdictKind::Applied) => self.verdicts.applied += 1,
                Ok(VerdictKind::Rejected) => {
                    self.verdicts.rejected += 1;
                    self.problem(|| format!("rejected: {}", reason()));
                }
                Ok(VerdictKind::Duplicate) => self.verdicts.duplicate += 1,
                Ok(VerdictKind::Refused) => {
                    self.verdicts.refused += 1;
                    self.problem(|| format!("refused: {}", reason()));
                }
                _ => {
                    self.verdicts.errors += 1;
                    self.problem(|| format!("unexpected verdict {}: {}", response.verdict, response.message));
                }
            }
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.verdicts.add(&other.verdicts);
        self.latencies.extend(other.latencies);
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }
}

/// One call: Submit for one envelope, SubmitBatch for more.
async fn call(client: &mut LedgerClient<Channel>, mut chunk: Vec<pb::Envelope>) -> Result<Vec<SubmitResponse>, tonic::Status> {
    if chunk.len() == 1 {
        let envelope = chunk.pop();
        return client.submit(SubmitRequest { envelope }).await.map(|response| vec![response.into_inner()]);
    }
    client.submit_batch(SubmitBatchRequest { envelopes: chunk }).await.map(|response| response.into_inner().results)
}

pub type Chunks = Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<pb::Envelope>>>>;

/// `concurrency` clients, spread over the nodes, each taking the next chunk and waiting for
/// its verdicts, until the chunks run out or `deadline` passes.
pub async fn closed_loop(
    clients: &[(String, LedgerClient<Channel>)],
    chunks: Chunks,
    concurrency: usize,
    deadline: Option<Instant>,
    bar: &ProgressBar,
) -> Tally {
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let mut client = clients[worker % clients.len()].1.clone();
        let chunks = chunks.clone();
        let bar = bar.clone();
        workers.spawn(async move {
            let mut tally = Tally::default();
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    break;
                }
                let Some(chunk) = chunks.lock().await.recv().await else { break };
                let sent = chunk.len();
                let started = Instant::now();
                let result = call(&mut client, chunk).await;
                tally.record(result, sent, started.elapsed());
                bar.inc(sent as u64);
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            Err(error) => total.problem(|| format!("a client task failed: {error}")),
        }
    }
    total
}

#[derive(Debug, Clone, Copy, Default)]
struct OpenLoop {
    dropped: u64,
    late: u64,
}

/// Issues one chunk every `batch / rate` seconds whatever the completions, at most
/// `outstanding` calls in flight (an issue beyond it is dropped and counted); latency is
/// measured from each call's scheduled time.
async fn open_loop(
    clients: &[(String, LedgerClient<Channel>)],
    source: &PartySource,
    rate: u64,
    batch: usize,
    outstanding: usize,
    deadline: Option<Instant>,
    bar: &ProgressBar,
) -> (Tally, OpenLoop) {
    let period = Duration::from_secs_f64(batch as f64 / rate as f64);
    let slots = Arc::new(tokio::sync::Semaphore::new(outstanding));
    let mut calls = tokio::task::JoinSet::new();
    let mut tally = Tally::default();
    let mut open = OpenLoop::default();
    let started = tokio::time::Instant::now();
    let mut receiver = source.receiver.lock().await;
    for issue in 0u64.. {
        let scheduled = started + period.mul_f64(issue as f64);
        if deadline.is_some_and(|deadline| scheduled.into_std() >= deadline) {
            break;
        }
        tokio::time::sleep_until(scheduled).await;
        let Some(chunk) = receiver.recv().await else { break };
        let sent = chunk.len();
        if tokio::time::Instant::now().duration_since(scheduled) > LATE_AFTER {
            open.late += sent as u64;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            open.dropped += sent as u64;
            bar.inc(sent as u64);
            continue;
        };
        let mut client = clients[issue as usize % clients.len()].1.clone();
        let bar = bar.clone();
        calls.spawn(async move {
            let result = call(&mut client, chunk).await;
            bar.inc(sent as u64);
            drop(slot);
            (result, sent, scheduled.elapsed())
        });
        while let Some(joined) = calls.try_join_next() {
            if let Ok((result, sent, latency)) = joined {
                tally.record(result, sent, latency);
            }
        }
    }
    while let Some(joined) = calls.join_next().await {
        if let Ok((result, sent, latency)) = joined {
            tally.record(result, sent, latency);
        }
    }
    (tally, open)
}

/// Provider registrations signed ahead on a thread of their own, in chunks of `batch`.
struct PartySource {
    receiver: Chunks,
    signed: Arc<AtomicU64>,
    total: Option<u64>,
    thread: Option<std::thread::JoinHandle<Result<u64>>>,
}

impl PartySource {
    fn start(target: &Target, seed: u64, limit: Limit, batch: usize) -> Result<PartySource> {
        let total = match limit {
            Limit::Count(count) => Some(count),
            Limit::Duration(_) => None,
        };
        let capacity = (PREFILL_ENVELOPES.div_ceil(batch)).max(1);
        let (sender, receiver) = mpsc::channel::<Vec<pb::Envelope>>(capacity);
        let signed = Arc::new(AtomicU64::new(0));
        let signers = target.signers.clone();
        // Nonces are reserved on this thread, before the signing thread starts, for a
        // count; for a duration, in blocks as the thread goes.
        let per_signer = total.map(|total| total.div_ceil(signers.len() as u64));
        let mut ranges: Vec<std::ops::Range<u64>> = Vec::new();
        for (id, _) in &signers {
            ranges.push(target.nonces(id, per_signer.unwrap_or(NONCE_BLOCK))?);
        }
        let nonces = Arc::new(Mutex::new(ranges));
        let store = target.nonces.clone();
        let ledger_id = target.ledger_id.clone();
        let counter = signed.clone();
        let thread = std::thread::spawn(move || -> Result<u64> {
            let mut next = 0u64;
            while total.is_none_or(|total| next < total) {
                let size = total.map_or(batch as u64, |total| (total - next).min(batch as u64));
                let mut chunk = Vec::with_capacity(size as usize);
                for _ in 0..size {
                    let signer = (next % signers.len() as u64) as usize;
                    let (id, key) = &signers[signer];
                    let nonce = {
                        let mut ranges = nonces.lock().map_err(|_| anyhow!("the nonce lock was poisoned"))?;
                        if ranges[signer].is_empty() {
                            ranges[signer] = store.reserve(id, now_micros(), NONCE_BLOCK)?;
                        }
                        ranges[signer].next().ok_or_else(|| anyhow!("no nonce left for {id}"))?
                    };
                    let party = provider_id(seed, next);
                    let kind = Kind::PartyRegistered(pb::PartyRegistered {
                        party: party.clone(),
                        kind: pb::PartyKind::Provider as i32,
                        name: format!("Bench provider {party}"),
                        iban: String::new(),
                    });
                    chunk.push(seal(&pb::Transaction { ledger_id: ledger_id.clone(), nonce, kind: Some(kind) }, id, key));
                    next += 1;
                }
                counter.fetch_add(size, Ordering::Relaxed);
                if sender.blocking_send(chunk).is_err() {
                    next -= size; // the run is over: this chunk was never taken
                    break;
                }
            }
            Ok(next)
        });
        Ok(PartySource { receiver: Arc::new(tokio::sync::Mutex::new(receiver)), signed, total, thread: Some(thread) })
    }

    /// Waits until the whole run, or [`PREFILL_ENVELOPES`] of it, is signed.
    async fn wait_prefilled(&self) {
        let target = self.total.map_or(PREFILL_ENVELOPES as u64, |total| total.min(PREFILL_ENVELOPES as u64));
        while self.signed.load(Ordering::Relaxed) < target && self.thread.as_ref().is_some_and(|thread| !thread.is_finished()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the signing thread; returns how many envelopes were taken from it.
    fn stop(mut self) -> Result<u64> {
        let mut receiver = self.receiver.try_lock().map_err(|_| anyhow!("the envelope queue is still in use"))?;
        receiver.close();
        let mut unsent = 0u64;
        while let Ok(chunk) = receiver.try_recv() {
            unsent += chunk.len() as u64;
        }
        drop(receiver);
        let signed = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result?,
            Some(Err(_)) => bail!("the signing thread panicked"),
            None => 0,
        };
        Ok(signed.saturating_sub(unsent))
    }
}

#[derive(Debug, Serialize)]
struct Report {
    mode: &'static str,
    call: &'static str,
    batch: usize,
    /// Clients (closed loop) or calls in flight at most (open loop).
    concurrency: usize,
    rate: Option<u64>,
    transaction: &'static str,
    seed: u64,
    requested: u64,
    committed: u64,
    elapsed_secs: f64,
    tx_per_sec: f64,
    latency_ms: LatencySummary,
    latency_of: &'static str,
    verdicts: Verdicts,
    dropped: Option<u64>,
    late: Option<u64>,
    first_problem: Option<String>,
    cluster: Cluster,
    term_before: u64,
    fsync: &'static str,
    nodes_used: Vec<String>,
}

impl Report {
    fn print(&self) {
        let rate = self.rate.map(|rate| format!(" at {rate} tx/s")).unwrap_or_default();
        println!(
            "bench: {}{rate}, {} {}, {} per call, {} {} (seed {})",
            self.mode,
            self.concurrency,
            if self.rate.is_some() { "calls in flight at most" } else { "clients" },
            self.batch,
            self.requested,
            self.transaction,
            self.seed
        );
        print_cluster(&self.cluster, self.term_before, &self.nodes_used);
        println!("committed: {} of {} in {:.2} s = {:.0} tx/s", self.committed, self.requested, self.elapsed_secs, self.tx_per_sec);
        print_latency(&format!("latency of {} (ms)", self.latency_of), &self.latency_ms);
        print_verdicts(&self.verdicts);
        if let (Some(dropped), Some(late)) = (self.dropped, self.late) {
            println!("open loop: {dropped} dropped (more than {} calls in flight), {late} issued late (> 10 ms)", self.concurrency);
        }
        if let Some(problem) = &self.first_problem {
            println!("first problem: {problem}");
        }
    }
}

pub fn print_cluster(cluster: &Cluster, term_before: u64, nodes_used: &[String]) {
    let elections = if cluster.term == term_before {
        "no election during the run".to_string()
    } else {
        format!("term {term_before} → {}: an election during the run", cluster.term)
    };
    println!(
        "cluster: {} nodes ({} voters, {} learners), leader {}, {elections}; fsync: {FSYNC}; clients spread over {}",
        cluster.nodes,
        cluster.voters,
        cluster.learners,
        if cluster.leader.is_empty() { "unknown" } else { &cluster.leader },
        nodes_used.join(", ")
    );
}

pub fn print_latency(label: &str, latency: &LatencySummary) {
    println!(
        "{label}: p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1} ({} samples)",
        latency.p50_ms, latency.p95_ms, latency.p99_ms, latency.max_ms, latency.count
    );
}

pub fn print_verdicts(verdicts: &Verdicts) {
    println!(
        "verdicts: applied {}, rejected {}, duplicate {}, refused {}, errors {}",
        verdicts.applied, verdicts.rejected, verdicts.duplicate, verdicts.refused, verdicts.errors
    );
}

/// Signs `kind` for ledger `ledger_id` as `signer` with `nonce`.
pub fn seal_for(ledger_id: &str, signer: &str, key: &SigningKey, nonce: u64, kind: Kind) -> pb::Envelope {
    seal(&pb::Transaction { ledger_id: ledger_id.to_string(), nonce, kind: Some(kind) }, signer, key)
}

/// The signing keys by insurer id.
pub fn keys_by_id(target: &Target) -> BTreeMap<String, SigningKey> {
    target.signers.iter().cloned().collect()
}
