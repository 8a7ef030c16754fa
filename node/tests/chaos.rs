//! Issue 15, item 1: seeded faults on real `fairshare-node` processes while clients submit
//! and read, then the checks: every acknowledged transaction in the log exactly once at the
//! index its client was told, nothing refused in it, nodes converged on size, root and
//! digest, and the client history consistent (`fairshare_tests::chaos::history`).
//!
//! Peer traffic goes through loopback proxies (`Cluster::with_proxies`); clients reach the
//! nodes directly. Long mode, ignored by default (not yet proven stable on CI machines):
//!
//! ```text
//! FAIRSHARE_CHAOS_RUNS=50 FAIRSHARE_CHAOS_SECONDS=30 FAIRSHARE_CHAOS_SEED=1 \
//!     cargo test -p fairshare-node --test chaos -- --ignored --nocapture
//! ```
//!
//! Run `r` uses seed `FAIRSHARE_CHAOS_SEED + r`; a failing run prints its seed. The seed
//! fixes the faults and their durations, not the machine's timing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairshare_api::v1::{query_request, AuditLogRequest, Empty, QueryRequest, VerdictKind};
use fairshare_protocol::ledger::{Ledger, Verdict};
use fairshare_tests::chaos::history::{check, Observation, OperationKind, Recorder, SubmitOutcome};
use fairshare_tests::chaos::schedule::{schedule, Fault};
use fairshare_tests::{Cluster, Signer};

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];
const CLIENTS: u32 = 2;
/// Keeps a run below `SNAPSHOT_LOGS_SINCE_LAST` (500) Raft entries, blocks and checkpoint
/// signatures together, so no node installs a snapshot and every node's Raft traffic
/// keeps going through its own links (see `Cluster::with_proxies`).
const SUBMISSIONS_PER_CLIENT_MAX: u32 = 60;
const RUNS_MAX: u64 = 10_000;
const ELECTION: Duration = Duration::from_secs(60);
const CONVERGE: Duration = Duration::from_secs(120);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|value| value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

/// Prints the seed of a run that panics, and how to replay it.
struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("chaos run failed with seed {0}; replay it with FAIRSHARE_CHAOS_SEED={0} FAIRSHARE_CHAOS_RUNS=1", self.0);
        }
    }
}

/// The proxies carry the peer traffic: a node cut off from the others gets no new leaves
/// while the majority commits, and catches up once healed.
#[test]
fn an_isolated_node_gets_nothing_until_healed_then_catches_up() {
    let mut cluster = Cluster::with_proxies(env!("CARGO_BIN_EXE_fairshare-node").as_ref(), 15);
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let isolated = ALL.iter().copied().find(|id| *id != leader).expect("a follower");
    let majority: Vec<&str> = ALL.iter().copied().filter(|id| *id != isolated).collect();
    cluster.isolate(isolated);
    cluster.wait_for_cuts(ELECTION);
    let before = cluster.status(isolated).expect("status of the isolated node").size;
    let mut signer = Signer::new("iza-test", 0);
    let mut told = 0;
    for number in 0..5 {
        let envelope = signer.party("cz", number);
        // Through the leader's own API: the majority commits without the isolated node.
        let response = wait_until_ok(&cluster, &leader, envelope);
        assert_eq!(response.verdict, VerdictKind::Applied as i32, "{}", response.message);
        told = told.max(response.index + 1);
    }
    cluster.wait_for_agreement(&majority, told, CONVERGE);
    let isolated_size = cluster.status(isolated).expect("status of the isolated node").size;
    assert_eq!(isolated_size, before, "{isolated} got leaves through a cut link");
    assert!(isolated_size < told);
    cluster.heal_all();
    cluster.wait_for_agreement(&ALL, told, CONVERGE);
}

/// Regression (seed 100 of the long mode): a client's first submission came back DUPLICATE.
/// The follower's forward reached the leader and was committed, its answer was lost, and
/// the follower's retry then found the transaction in the log. The submitter sent it once
/// and is owed its verdict: APPLIED, at the original index, once in the log.
#[test]
fn a_forward_retried_after_its_commit_answers_applied_not_duplicate() {
    let mut cluster = Cluster::with_proxies(env!("CARGO_BIN_EXE_fairshare-node").as_ref(), 16);
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let follower = ALL.iter().copied().find(|id| *id != leader).expect("a follower").to_string();
    let address = cluster.nodes[&follower].address.clone();
    let mut signer = Signer::new("iza-test", 500);
    // A first forward opens the follower's channel to the leader (a TLS handshake needs
    // the leader's answers); the next one goes over it.
    let opened = wait_until_ok(&cluster, &follower, signer.party("cz", 500));
    assert_eq!(opened.verdict, VerdictKind::Applied as i32, "{}", opened.message);
    let before = cluster.wait_for_agreement(&ALL, opened.index + 1, CONVERGE).size;
    // The leader's answers to the follower's forward are lost; the forward itself arrives.
    cluster.link(&follower, &leader).lose(fairshare_tests::chaos::proxy::Direction::Backward, true);
    let envelope = signer.party("cz", 501);
    let submitted = std::thread::spawn(move || fairshare_tests::submit_to(&address, envelope));
    fairshare_tests::wait_until("the forwarded transaction to be committed", CONVERGE, || {
        cluster.status(&leader).ok().filter(|status| status.size > before).map(|_| ())
    });
    // The forward now fails at once (its connection closes) and the follower retries.
    cluster.link(&follower, &leader).cut();
    cluster.wait_for_cuts(ELECTION);
    cluster.heal_all();
    let response = submitted.join().expect("the submitting thread").expect("an answer within the commit deadline");
    assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
    assert_eq!(response.index, before, "the index the transaction got the first time");
    let status = cluster.wait_for_agreement(&ALL, before + 1, CONVERGE);
    assert_eq!(status.size, before + 1, "the transaction is in the log once");
}

/// Submits `envelope` (the same bytes each time: a retry is de-duplicated) until `node`
/// answers, within the convergence limit.
fn wait_until_ok(cluster: &Cluster, node: &str, envelope: fairshare_protocol::pb::Envelope) -> fairshare_api::v1::SubmitResponse {
    fairshare_tests::wait_until(&format!("{node} to acknowledge a submission"), CONVERGE, || cluster.submit(node, envelope.clone()).ok())
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
#[ignore = "long mode (issue 15): FAIRSHARE_CHAOS_RUNS, FAIRSHARE_CHAOS_SECONDS, FAIRSHARE_CHAOS_SEED; not yet proven stable for CI"]
fn seeded_faults_keep_every_acknowledged_write_once_and_nodes_converge() {
    let first = env_u64("FAIRSHARE_CHAOS_SEED")
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs());
    let runs = env_u64("FAIRSHARE_CHAOS_RUNS").unwrap_or(1).min(RUNS_MAX);
    let seconds = env_u64("FAIRSHARE_CHAOS_SECONDS").unwrap_or(30);
    let started = Instant::now();
    for run in 0..runs {
        let seed = first + run;
        eprintln!("chaos run {} of {runs}: seed {seed}, {seconds} s of faults", run + 1);
        let _report = SeedReport(seed);
        run_schedule(seed, Duration::from_secs(seconds));
    }
    eprintln!("chaos: {runs} runs, seeds {first}..={}, in {:?}", first + runs - 1, started.elapsed());
}

fn run_schedule(seed: u64, duration: Duration) {
    let mut cluster = Cluster::with_proxies(env!("CARGO_BIN_EXE_fairshare-node").as_ref(), seed);
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    let addresses: Vec<String> = ALL.iter().map(|id| cluster.nodes[*id].address.clone()).collect();
    let recorder = Recorder::new((CLIENTS * SUBMISSIONS_PER_CLIENT_MAX * 2) as usize);
    let stop = AtomicBool::new(false);
    // The largest size any client was told: what a reader that heard of those writes asks for.
    let known_size = AtomicU64::new(0);

    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (addresses, recorder, stop, known_size) = (&addresses, &recorder, &stop, &known_size);
            // Spread over the run, so writes and reads meet every fault of the schedule.
            let pace = duration / SUBMISSIONS_PER_CLIENT_MAX;
            scope.spawn(move || run_client(client, seed, pace, addresses, recorder, stop, known_size));
        }
        // Stops the clients however this thread leaves the scope, a panic included (the
        // scope joins them before the panic goes on).
        let _stop_clients = StopOnDrop(&stop);
        for step in schedule(seed, &ALL, duration) {
            eprintln!("  fault {:?} for {:?}", step.fault, step.hold);
            apply(&mut cluster, &step.fault);
            std::thread::sleep(step.hold); // the fault's duration, not a synchronisation
            undo(&mut cluster, &step.fault);
            std::thread::sleep(step.rest);
        }
    });

    cluster.heal_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    let history = recorder.history();
    let status = cluster.wait_for_agreement(&ALL, known_size.load(Ordering::SeqCst), CONVERGE);
    let log = final_log(&cluster, status.size);
    let violations = check(&history, &log);
    let acknowledged = history
        .iter()
        .filter(|operation| matches!(operation.kind, OperationKind::Submit { outcome: SubmitOutcome::Acknowledged { .. }, .. }))
        .count();
    eprintln!("  seed {seed}: {} operations, {acknowledged} acknowledged, final size {}", history.len(), status.size);
    assert!(acknowledged > 0, "seed {seed}: no write was acknowledged in the whole run");
    assert!(
        violations.is_empty(),
        "seed {seed}: {} violations:\n{}",
        violations.len(),
        violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    );
}

fn apply(cluster: &mut Cluster, fault: &Fault) {
    match fault {
        Fault::Kill(node) => cluster.kill(node),
        Fault::Pause(node) => cluster.pause(node),
        Fault::Partition(left, right) => {
            let left: Vec<&str> = left.iter().map(String::as_str).collect();
            let right: Vec<&str> = right.iter().map(String::as_str).collect();
            cluster.partition(&[&left, &right]);
        }
        Fault::Lose { from, to, direction } => cluster.link(from, to).lose(*direction, true),
        Fault::Delay { delay, jitter } => {
            for from in ALL {
                for to in ALL.iter().filter(|to| **to != from) {
                    cluster.link(from, to).delay(*delay, *jitter);
                }
            }
        }
    }
}

fn undo(cluster: &mut Cluster, fault: &Fault) {
    match fault {
        Fault::Kill(node) => cluster.start(node),
        Fault::Pause(node) => cluster.resume(node),
        Fault::Partition(..) | Fault::Lose { .. } | Fault::Delay { .. } => cluster.heal_all(),
    }
}

/// Submits party registrations to the nodes in turn, one per `pace`, and after every third
/// reads the parties back, asking for at least the largest size any client was told.
fn run_client(
    client: u32,
    seed: u64,
    pace: Duration,
    addresses: &[String],
    recorder: &Recorder,
    stop: &AtomicBool,
    known_size: &AtomicU64,
) {
    let mut signer = Signer::new("iza-test", u64::from(client) * 1_000_000);
    let insurer = ALL[client as usize % ALL.len()];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut acknowledged: Vec<(String, String)> = Vec::new(); // (transaction id, party)
    let mut operation = seed as usize; // the seed picks which node each client starts at
    for number in 0..SUBMISSIONS_PER_CLIENT_MAX {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if number > 0 {
            std::thread::sleep(pace); // pacing the workload, not a synchronisation
        }
        operation += 1;
        let address = addresses[(operation + client as usize) % addresses.len()].clone();
        let party_number = client * 100_000 + number;
        let envelope = signer.party(insurer, party_number);
        let transaction = hex::encode(fairshare_protocol::envelope::transaction_id(&envelope));
        let start = recorder.now();
        let outcome = match fairshare_tests::submit_to(&address, envelope) {
            // DUPLICATE for a transaction this client sent once (seen with seed 100): most
            // likely the node's own retry of a forward (submit.rs) whose first attempt had
            // committed. Its index is the original's, so it is checked like any acknowledgement.
            Ok(response)
                if [VerdictKind::Applied, VerdictKind::Rejected, VerdictKind::Duplicate]
                    .into_iter()
                    .any(|verdict| response.verdict == verdict as i32) =>
            {
                if response.verdict == VerdictKind::Duplicate as i32 {
                    eprintln!("  client {client}: first submission of {transaction} answered DUPLICATE at index {}", response.index);
                }
                known_size.fetch_max(response.index + 1, Ordering::SeqCst);
                acknowledged.push((transaction.clone(), format!("agb:{party_number:08}")));
                SubmitOutcome::Acknowledged { index: response.index }
            }
            Ok(response) if response.verdict == VerdictKind::Refused as i32 => SubmitOutcome::Refused,
            Ok(response) => panic!("a fresh transaction got verdict {} ({})", response.verdict, response.message),
            Err(_) => SubmitOutcome::Unknown, // a timeout or a cut: it may have been committed
        };
        recorder.finish(client, start, OperationKind::Submit { transaction, outcome });
        if number % 3 == 2 {
            let address = addresses[(operation + 1 + client as usize) % addresses.len()].clone();
            let min_size = known_size.load(Ordering::SeqCst);
            let start = recorder.now();
            let answer = runtime.block_on(async move {
                let request = QueryRequest { query: Some(query_request::Query::Parties(Empty {})), min_size };
                fairshare_tests::connect(address).await?.query(request).await.map(|reply| reply.into_inner())
            });
            // A query that failed ("this node is behind", unreachable) answered nothing.
            if let Ok(answer) = answer {
                let observed = acknowledged
                    .iter()
                    .rev()
                    .take(3)
                    .map(|(transaction, party)| Observation {
                        transaction: transaction.clone(),
                        seen: answer.json.contains(party.as_str()),
                    })
                    .collect();
                recorder.finish(client, start, OperationKind::Query { min_size, answer_size: answer.size, observed });
            }
        }
    }
}

/// The leaves of the log a node serves, by re-executing its blocks from genesis (the way an
/// auditor does): leaf index → transaction id.
fn final_log(cluster: &Cluster, size: u64) -> Vec<String> {
    let mut client = cluster.client("cz").expect("a client of cz");
    let blocks = cluster.block_on(async move {
        let mut stream = client.audit_log(AuditLogRequest { from_log_index: 0, follow: false }).await.expect("audit log").into_inner();
        let mut blocks = Vec::new();
        while let Some(block) = stream.message().await.expect("an audit block") {
            blocks.push(fairshare_protocol::envelope::decode_block(&block.block).expect("a block"));
        }
        blocks
    });
    let genesis = fairshare_protocol::testing::genesis_file("1000000.00").build().expect("the test genesis");
    let mut ledger = Ledger::new(Arc::new(genesis));
    let mut log = Vec::new();
    for block in &blocks {
        for outcome in ledger.apply_replicated(block) {
            if let Verdict::Applied { index } | Verdict::Rejected { index, .. } = outcome.verdict {
                assert_eq!(index, log.len() as u64, "leaves are numbered in order");
                log.push(hex::encode(outcome.id));
            }
        }
    }
    assert_eq!(log.len() as u64, size, "cz's audit log re-executes to the size its status reports");
    log
}
