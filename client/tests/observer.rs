//! Issue 14, item 6: the regulator's observer on a real cluster.
//!
//! Four `fairshare node` processes certify a ledger of party registrations. Then:
//! - `fairshare observe` runs as a real process (the regulator's identity, mutual TLS),
//!   follows the log live while more transactions arrive, and stops once it verified the
//!   newest certified checkpoint, with no evidence;
//! - the observer is fed every node's real log stream, with one node's stream altered in
//!   flight as a dishonest node would serve it (a transaction dropped from one block): as a
//!   compared node and as the re-executed primary, the evidence names that node, and only it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fairshare_api::v1::{AuditLogRequest, VerdictKind};
use fairshare_client::observer::{ObservedEvidence, Observer};
use fairshare_protocol::envelope::decode_block;
use fairshare_protocol::pb;
use fairshare_protocol::testing::{genesis_file, test_key};
use fairshare_protocol::Genesis;
mod common;
use common::{node_wrapper, wait_until_certified};
use fairshare_tests::{wait_until, Cluster, Signer};
use prost::Message;

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];
const ELECTION: Duration = Duration::from_secs(30);
const CONVERGE: Duration = Duration::from_secs(60);

fn register(cluster: &Cluster, signer: &mut Signer, numbers: std::ops::Range<u32>) {
    for number in numbers {
        let envelope = signer.party(ALL[(number as usize + 1) % 4], 70_000_000 + number);
        let response = cluster.submit(ALL[number as usize % 4], envelope).expect("submit");
        assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
    }
}

/// A log as a node serves it: (log index, block bytes).
type Log = Vec<(u64, Vec<u8>)>;

/// Each node's whole log as it serves it.
fn logs(cluster: &Cluster) -> Vec<(String, Log)> {
    ALL.iter()
        .map(|id| {
            let mut client = cluster.client(id).expect("client");
            let blocks = cluster.block_on(async move {
                let request = AuditLogRequest { from_log_index: 0, follow: false };
                let mut stream = client.audit_log(request).await.expect("audit log").into_inner();
                let mut blocks = Vec::new();
                while let Some(block) = stream.message().await.expect("audit block") {
                    blocks.push((block.log_index, block.block));
                }
                blocks
            });
            (id.to_string(), blocks)
        })
        .collect()
}

/// The log with the second transaction of the first block holding two or more of them
/// dropped, as a dishonest node would serve it.
fn altered(log: &[(u64, Vec<u8>)]) -> (Log, u64) {
    let mut log = log.to_vec();
    let (position, log_index) = log
        .iter()
        .enumerate()
        .find_map(|(position, (log_index, bytes))| {
            let block = decode_block(bytes).ok()?.block;
            (block.envelopes.iter().filter(|envelope| !envelope.signer.starts_with("node:")).count() >= 2).then_some((position, *log_index))
        })
        .or_else(|| {
            log.iter().enumerate().find_map(|(position, (log_index, bytes))| {
                let block = decode_block(bytes).ok()?.block;
                block.envelopes.iter().any(|envelope| !envelope.signer.starts_with("node:")).then_some((position, *log_index))
            })
        })
        .expect("a block with a transaction");
    let mut block = decode_block(&log[position].1).expect("a block").block;
    let transaction = block.envelopes.iter().rposition(|envelope| !envelope.signer.starts_with("node:")).expect("a transaction");
    block.envelopes.remove(transaction);
    log[position].1 = pb::Block { envelopes: block.envelopes }.encode_to_vec();
    (log, log_index)
}

/// Feeds the observer the logs, interleaved block by block as live streams would be.
fn feed(observer: &mut Observer, logs: &[(String, Log)]) -> Vec<ObservedEvidence> {
    let longest = logs.iter().map(|(_, log)| log.len()).max().unwrap_or(0);
    let mut evidence = Vec::new();
    for at in 0..longest {
        for (node, log) in logs {
            if let Some((log_index, bytes)) = log.get(at) {
                evidence.extend(observer.receive(node, *log_index, bytes));
            }
        }
    }
    evidence
}

#[test]
fn the_observer_verifies_live_and_names_a_node_that_alters_its_log() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let mut cluster = Cluster::with_genesis(&node_wrapper(dir), genesis_file("1960000000.00"));
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    let mut signer = Signer::new("iza-test", 0);
    register(&cluster, &mut signer, 0..12);
    let certified = wait_until_certified(&cluster, &ALL, 12);

    // The observer as a regulator runs it: a real process following the log live.
    std::fs::write(dir.join("nza.key"), hex::encode(test_key("nza").to_bytes())).expect("write the key");
    let client = format!(
        "nodes = [{}]\ngenesis = \"{}\"\ndefault_identity = \"nza\"\n[[identities]]\nid = \"nza\"\nkey_file = \"nza.key\"\n",
        ALL.iter().map(|id| format!("\"{}\"", cluster.nodes[*id].address)).collect::<Vec<_>>().join(", "),
        cluster.dir.path().join("genesis.toml").display()
    );
    std::fs::write(dir.join("client.toml"), client).expect("write the client config");
    let target = certified.size + 6;
    let child = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(["--config", "client.toml", "--json", "observe", "--until-certified", &target.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fairshare observe");
    let mut child = scopeguard(child);
    register(&cluster, &mut signer, 12..18); // arrives while it follows
    wait_until_certified(&cluster, &ALL, target);
    let status = wait_until("the observer to verify the new certified head", CONVERGE, || child.0.try_wait().expect("wait"));
    let mut stdout = String::new();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().expect("stdout"), &mut stdout).expect("stdout");
    std::io::Read::read_to_string(&mut child.0.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(status.success(), "fairshare observe: {status}\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}\n{stderr}"));
    assert!(report["certified_size"].as_u64().expect("certified size") >= target, "{report}");
    assert_eq!(report["verified_size"], report["certified_size"], "{report}");
    assert_eq!(report["evidence"], serde_json::json!([]), "{report}");
    assert!(report["envelopes_verified"].as_u64().expect("count") >= target, "{report}");

    // A dishonest node's log, fed beside the honest ones.
    let mut client = cluster.client("cz").expect("client");
    let canonical =
        cluster.block_on(async move { client.genesis(fairshare_api::v1::GenesisRequest {}).await.expect("genesis").into_inner() });
    let genesis = Arc::new(Genesis::from_pb(&canonical).expect("genesis"));
    let honest = logs(&cluster);
    let vgz = honest.iter().position(|(node, _)| node == "vgz").expect("vgz");
    let (dishonest_log, altered_at) = altered(&honest[vgz].1);
    let mut with_dishonest = honest.clone();
    with_dishonest[vgz].1 = dishonest_log;

    let mut honest_only = Observer::new(genesis.clone(), "zk");
    assert_eq!(feed(&mut honest_only, &honest), vec![], "honest logs raise nothing");
    assert!(honest_only.status().certified_size >= target);

    // Compared with the primary's: divergent at once, then attributed to vgz.
    let mut observer = Observer::new(genesis.clone(), "zk");
    let evidence = feed(&mut observer, &with_dishonest);
    assert!(!evidence.is_empty(), "the altered block raised nothing");
    assert!(evidence.iter().all(|found| found.node == "vgz"), "only vgz is named: {evidence:#?}");
    assert_eq!((evidence[0].kind.as_str(), evidence[0].log_index), ("divergent_block", Some(altered_at)), "{evidence:#?}");
    assert!(
        evidence.iter().any(|found| found.kind == "altered_history" && found.log_index == Some(altered_at)),
        "attributed once certified: {evidence:#?}"
    );

    // As the primary: its blocks do not re-execute to what a quorum certified.
    let mut observer = Observer::new(genesis, "vgz");
    let evidence = feed(&mut observer, &with_dishonest);
    let against: Vec<&ObservedEvidence> = evidence.iter().filter(|found| found.kind == "altered_history").collect();
    assert!(!against.is_empty() && against.iter().all(|found| found.node == "vgz"), "{evidence:#?}");
    assert!(observer.status().halted.is_some(), "it stops trusting vgz's blocks");
}

/// Kills the child process when the test ends, passed or failed.
struct ChildGuard(std::process::Child);

fn scopeguard(child: std::process::Child) -> ChildGuard {
    ChildGuard(child)
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
