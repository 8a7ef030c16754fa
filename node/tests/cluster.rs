//! Issue 4's acceptance: real `fairshare-node` processes on loopback, driven over gRPC.
//! Each test has its own temp dir and ports; children are killed on drop.

use std::collections::BTreeSet;
use std::time::Duration;

use fairshare_api::v1::VerdictKind;
use fairshare_protocol::pb;
use fairshare_tests::{wait_until, Cluster, Signer};

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];
const ELECTION: Duration = Duration::from_secs(30);
const CONVERGE: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    let mut cluster = Cluster::new(env!("CARGO_BIN_EXE_fairshare-node").as_ref());
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    cluster
}

fn applied(response: &fairshare_api::v1::SubmitResponse) -> bool {
    response.verdict == VerdictKind::Applied as i32
}

#[test]
fn four_nodes_commit_through_any_node_and_agree() {
    let cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    for (number, node) in ALL.iter().cycle().take(12).enumerate() {
        let response = cluster.submit(node, signer.party("zk", number as u32)).expect("submit");
        assert!(applied(&response), "{response:?}");
        assert_eq!(response.index, number as u64, "leaves are dense and in order");
    }
    let status = cluster.wait_for_agreement(&ALL, 12, CONVERGE);
    assert_eq!(status.size, 12);
    // Checkpoints get certified by the four, and then the ledger stays idle.
    let certified = wait_until("a certified checkpoint of size 12", CONVERGE, || {
        let status = cluster.status("cz").ok()?;
        (status.certified_size == 12).then_some(status)
    });
    assert_eq!(certified.certified_root, status.root);
    std::thread::sleep(Duration::from_millis(1500)); // observe idleness over time: no timing assertion, only a count
    let later = cluster.status("vgz").expect("status");
    assert_eq!(later.size, 12, "no log growth without user transactions");
}

#[test]
fn bad_envelopes_are_refused_and_the_log_does_not_change() {
    let cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    let good = signer.party("cz", 1);
    assert!(applied(&cluster.submit("menzis", good.clone()).expect("submit")));
    let before = cluster.wait_for_agreement(&ALL, 1, CONVERGE);

    let mut forged = signer.party("cz", 2);
    forged.signature[10] ^= 0x40;
    let error = cluster.submit("cz", forged).expect_err("a bad signature is refused");
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("BAD_SIGNATURE"), "{}", error.message());

    let mut stranger = signer.party("cz", 3);
    stranger.signer = "mallory".into();
    let error = cluster.submit("zk", stranger).expect_err("an unknown signer is refused");
    assert!(error.message().contains("UNKNOWN_SIGNER"), "{}", error.message());

    let garbage = pb::Envelope { body: vec![0xde, 0xad, 0xbe, 0xef], signer: "cz".into(), signature: vec![7; 64] };
    let error = cluster.submit("vgz", garbage).expect_err("garbage is refused");
    assert!(error.message().contains("MALFORMED_TRANSACTION"), "{}", error.message());

    // The same nonce on another body: a replay.
    let mut replay = Signer::new("iza-test", 0);
    let error = cluster.submit("cz", replay.party("cz", 4)).expect_err("a replayed nonce is refused");
    assert!(error.message().contains("REPLAYED_NONCE"), "{}", error.message());

    // The very same envelope again: its original verdict, not a second leaf.
    let again = cluster.submit("zk", good).expect("a resubmission answers");
    assert_eq!(again.verdict, VerdictKind::Duplicate as i32);
    assert_eq!(again.index, 0);

    let after = cluster.wait_for_agreement(&ALL, 1, CONVERGE);
    assert_eq!((after.size, after.root), (before.size, before.root), "the log did not change");
}

#[test]
fn killing_the_leader_mid_load_loses_nothing_acknowledged() {
    let mut cluster = cluster();
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let followers: Vec<String> = ALL.iter().filter(|id| **id != leader).map(|id| cluster.nodes[*id].address.clone()).collect();
    // Load: 60 transactions through the followers (who forward to the leader), each
    // retried with the same envelope until acknowledged, while the leader is killed.
    let (acknowledged_sender, acknowledged) = std::sync::mpsc::channel::<String>();
    let load = std::thread::spawn(move || {
        let mut signer = Signer::new("iza-test", 0);
        for number in 0..60u32 {
            let envelope = signer.party("zk", number);
            let address = &followers[number as usize % followers.len()];
            let response =
                wait_until("a write to be acknowledged", ELECTION, || fairshare_tests::submit_to(address, envelope.clone()).ok());
            assert!(applied(&response) || response.verdict == VerdictKind::Duplicate as i32, "{response:?}");
            acknowledged_sender.send(response.transaction_id).expect("report");
        }
    });
    // Kill the leader once the load is under way.
    let mut acked: Vec<String> = (0..15).map(|_| acknowledged.recv_timeout(ELECTION).expect("early acknowledgements")).collect();
    cluster.kill(&leader);
    load.join().expect("the load finished");
    acked.extend(acknowledged.try_iter());
    assert_eq!(acked.len(), 60);
    let rest: Vec<&str> = ALL.iter().copied().filter(|id| *id != leader).collect();
    let new_leader = cluster.wait_for_leader(&rest, ELECTION);
    assert_ne!(new_leader, leader);
    // The old leader restarts from its disk and catches up.
    cluster.start(&leader);
    let status = cluster.wait_for_agreement(&ALL, 60, Duration::from_secs(60));
    assert_eq!(status.size, 60, "every acknowledged transaction exactly once, nothing else");
    let unique: BTreeSet<_> = acked.iter().collect();
    assert_eq!(unique.len(), 60);
}

#[test]
fn with_two_of_four_down_writes_stop_and_resume() {
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    assert!(applied(&cluster.submit("cz", signer.party("cz", 1)).expect("submit")));
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let followers: Vec<&str> = ALL.iter().copied().filter(|id| *id != leader).collect();
    cluster.kill(followers[0]);
    cluster.kill(followers[1]);
    let stalled = signer.party("cz", 2);
    let error = cluster.submit(&leader, stalled.clone()).expect_err("no quorum, no write");
    assert_eq!(error.code(), tonic::Code::Unavailable);
    assert!(error.message().contains("not accepting writes"), "{}", error.message());
    let status = cluster.status(&leader).expect("reads still work");
    assert!(!status.accepting_writes);
    cluster.start(followers[0]);
    let response = wait_until("writes to resume", Duration::from_secs(60), || cluster.submit(&leader, stalled.clone()).ok());
    assert!(applied(&response) || response.verdict == VerdictKind::Duplicate as i32);
    let up = [leader.as_str(), followers[0], followers[2]];
    let status = cluster.wait_for_agreement(&up, 2, CONVERGE);
    assert_eq!(status.size, 2, "the stalled write landed once");
}

#[test]
fn checkpoints_are_certified_with_three_of_four_up() {
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    cluster.kill("menzis");
    let up = ["cz", "vgz", "zk"];
    cluster.wait_for_leader(&up, ELECTION);
    for number in 0..5u32 {
        let response = wait_until("a write", ELECTION, || cluster.submit("cz", signer.party("vgz", number)).ok());
        assert!(applied(&response));
    }
    wait_until("certified size 5 with three nodes", CONVERGE, || (cluster.status("zk").ok()?.certified_size == 5).then_some(()));
    for number in 5..8u32 {
        assert!(applied(&cluster.submit("vgz", signer.party("zk", number)).expect("submit")));
    }
    wait_until("certified size 8", CONVERGE, || (cluster.status("cz").ok()?.certified_size == 8).then_some(()));
}

#[test]
fn a_node_with_another_genesis_refuses_to_join() {
    let mut cluster = cluster();
    let mut other = fairshare_protocol::testing::genesis_file("2000000.00");
    other.ledger_id = "elsewhere".into();
    // Rewrite one node's genesis while it is down: it must refuse to start.
    cluster.kill("menzis");
    let path = cluster.dir.path().join("genesis-other.toml");
    std::fs::write(&path, toml::to_string(&other).expect("toml")).expect("write");
    let config = cluster.nodes["menzis"].config.clone();
    let text = std::fs::read_to_string(&config).expect("config").replace("genesis = \"genesis.toml\"", "genesis = \"genesis-other.toml\"");
    std::fs::write(&config, text).expect("config");
    // On a fresh data dir too, so the data-dir marker is not what stops it.
    std::fs::remove_dir_all(&cluster.nodes["menzis"].data_dir).expect("wipe");
    cluster.start("menzis");
    let exit = wait_until("the node to refuse and exit", Duration::from_secs(20), || cluster.exited("menzis"));
    assert!(!exit.success());
    let log = cluster.log("menzis");
    assert!(log.contains("genesis mismatch"), "{log}");
    assert!(log.contains("elsewhere") && log.contains("iza-test"), "names both ledgers: {log}");
}

#[test]
fn a_wiped_node_disturbs_nothing_and_is_replaced_through_a_snapshot() {
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    // Enough entries that the log is compacted behind a snapshot (policy: 500 entries).
    let batch: Vec<pb::Envelope> = (0..700u32).map(|number| signer.party(ALL[number as usize % 4], number)).collect();
    for chunk in batch.chunks(1) {
        let response = cluster.submit("cz", chunk[0].clone()).expect("submit");
        assert!(applied(&response));
    }
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let victim = ALL.iter().copied().find(|id| *id != leader).expect("a follower");
    let before = cluster.wait_for_agreement(&ALL, 700, Duration::from_secs(60));
    let term = before.term;

    cluster.kill(victim);
    std::fs::remove_dir_all(&cluster.nodes[victim].data_dir).expect("wipe the data dir");
    cluster.start(victim);
    let waiting = wait_until("the wiped node to report that it awaits readmission", ELECTION, || {
        cluster.status(victim).ok().filter(|status| status.awaiting_readmission)
    });
    assert_eq!(waiting.size, 0);
    // It disturbs nothing: same leader, same term, writes go on, no panic.
    let others: Vec<&str> = ALL.iter().copied().filter(|id| *id != victim).collect();
    assert!(applied(&cluster.submit(&leader, signer.party("zk", 10_000)).expect("writes continue")));
    let status = cluster.status(&leader).expect("status");
    assert_eq!(status.leader, leader);
    assert_eq!(status.term, term, "no election was caused");
    assert!(cluster.exited(victim).is_none(), "the wiped node runs on: {}", cluster.log(victim));

    // The documented procedure.
    let output = cluster.admin(&leader, victim, &["remove", victim]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let address = cluster.nodes[victim].address.clone();
    let output = cluster.admin(&leader, victim, &["add-learner", victim, &address]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = cluster.admin(&leader, victim, &["promote", victim]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let status = cluster.wait_for_agreement(&ALL, 701, Duration::from_secs(60));
    assert_eq!(status.size, 701);
    assert!(!cluster.status(victim).expect("status").awaiting_readmission);
    for id in others {
        assert!(cluster.exited(id).is_none(), "{id} still runs: {}", cluster.log(id));
    }
    // It votes again: a write through it succeeds.
    assert!(applied(&cluster.submit(victim, signer.party("cz", 10_001)).expect("submit via the replaced node")));
}

fn submit_all(cluster: &Cluster, node: &str, envelopes: Vec<pb::Envelope>) {
    for envelope in envelopes {
        let response = cluster.submit(node, envelope).expect("submit");
        assert!(applied(&response), "{response:?}");
    }
}

#[test]
fn the_obligation_stream_resumes_without_gaps_or_duplicates() {
    use fairshare_api::v1::WatchRequest;
    use tokio_stream::StreamExt;
    let cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    submit_all(&cluster, "zk", fairshare_tests::approved_plan(&mut signer, "acute"));
    submit_all(&cluster, "vgz", fairshare_tests::attain_and_confirm(&mut signer, "acute", "m1"));
    let mut client = cluster.client("cz").expect("client");
    // First subscription: the obligation of m1 for cz, then m2's after it is confirmed.
    let first: Vec<(u64, String)> = cluster.block_on(async {
        let mut stream = client.watch_obligations(WatchRequest { insurer: "cz".into(), from_index: 0 }).await.expect("watch").into_inner();
        let mut seen = Vec::new();
        let item =
            tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("an obligation").expect("stream open").expect("ok");
        seen.push((item.index, item.json));
        seen
    });
    assert_eq!(first.len(), 1);
    assert!(first[0].1.contains("acute/m1/1/cz"), "{}", first[0].1);
    let resume_from = first[0].0 + 1;
    submit_all(&cluster, "menzis", fairshare_tests::attain_and_confirm(&mut signer, "acute", "m2"));
    let second: Vec<String> = cluster.block_on(async {
        let mut stream =
            client.watch_obligations(WatchRequest { insurer: "cz".into(), from_index: resume_from }).await.expect("watch").into_inner();
        let item =
            tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("an obligation").expect("stream open").expect("ok");
        // Nothing else is pending: a second item within a short wait would be a duplicate.
        let extra = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
        assert!(extra.is_err(), "no duplicate or stray obligation: {extra:?}");
        vec![item.json]
    });
    assert_eq!(second.len(), 1);
    assert!(second[0].contains("acute/m2/1/cz"), "{}", second[0]);
}

#[test]
fn a_conflicting_checkpoint_signature_is_evidence_and_halts_signing_but_not_reads() {
    let cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    submit_all(&cluster, "cz", vec![signer.party("cz", 1), signer.party("zk", 2)]);
    let certified = wait_until("size 2 certified", CONVERGE, || cluster.status("zk").ok().filter(|status| status.certified_size == 2));
    // cz's node key signs a second, different root for the size it already signed.
    let forged = signer.sign(
        "node:cz",
        pb::transaction::Kind::CheckpointSigned(pb::CheckpointSigned {
            node: "cz".into(),
            checkpoint: Some(pb::Checkpoint { ledger_id: "iza-test".into(), size: 2, root: vec![9; 32], state_digest: vec![9; 32] }),
        }),
    );
    let response = cluster.submit("menzis", forged).expect("the signature is well formed, so it is logged");
    assert_eq!(response.verdict, VerdictKind::Checkpoint as i32);
    for id in ALL {
        let status =
            wait_until("evidence in every node's status", CONVERGE, || cluster.status(id).ok().filter(|status| status.signing_halted));
        assert!(status.evidence.iter().any(|what| what.contains("node cz")), "{:?}", status.evidence);
        let metrics = fairshare_tests::scrape(&cluster.nodes[id].metrics).expect("metrics");
        assert!(metrics.contains("fairshare_checkpoint_evidence 1"), "{metrics}");
    }
    // Reads and writes go on; nothing past the divergence is certified.
    assert!(applied(&cluster.submit("vgz", signer.party("vgz", 3)).expect("submit")));
    let status = cluster.wait_for_agreement(&ALL, 3, CONVERGE);
    assert_eq!(status.certified_size, certified.certified_size);
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_keeps_everything() {
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    submit_all(&cluster, "vgz", (0..10).map(|number| signer.party("menzis", number)).collect());
    let before = cluster.wait_for_agreement(&ALL, 10, CONVERGE);
    let metrics = wait_until("vgz to see its three peers up", CONVERGE, || {
        fairshare_tests::scrape(&cluster.nodes["vgz"].metrics).ok().filter(|text| text.contains("fairshare_peers_up 3"))
    });
    for name in ["fairshare_applied_index", "fairshare_certified_size", "fairshare_submit_seconds_bucket", "fairshare_log_size 10"] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    for id in ALL {
        let exit = cluster.stop(id);
        assert!(exit.success(), "{id} exited {exit:?}: {}", cluster.log(id));
    }
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    let after = cluster.wait_for_agreement(&ALL, 10, CONVERGE);
    assert_eq!((after.size, after.root, after.state_digest), (before.size, before.root, before.state_digest));
}

/// Reading your own writes (DOMAIN.md): a query that names the size a write reached is
/// answered from a state at least that new on any node, or refused as "behind"; never
/// answered from before it.
#[test]
fn a_query_naming_a_size_sees_that_write_or_says_the_node_is_behind() {
    use fairshare_api::v1::{query_request::Query, Empty, QueryRequest};
    let mut cluster = cluster();
    let mut signer = Signer::new("iza-test", 0);
    let leader = cluster.wait_for_leader(&ALL, ELECTION);
    let follower = ALL.iter().find(|id| **id != leader).unwrap().to_string();
    let query = |cluster: &Cluster, node: &str, min_size: u64| {
        let mut client = cluster.client(node).expect("a client");
        cluster.block_on(client.query(QueryRequest { query: Some(Query::Parties(Empty {})), min_size })).map(|reply| reply.into_inner())
    };
    for number in 0..20u32 {
        let response = cluster.submit(&leader, signer.party("zk", number)).expect("submit");
        assert!(applied(&response), "{response:?}");
        let seen = response.index + 1;
        // Straight after the leader's answer, through a follower that may not have it yet.
        let answer = query(&cluster, &follower, seen).expect("a follower that is up catches up within the wait");
        assert!(answer.size >= seen, "answered from size {} after a write at size {seen}", answer.size);
        let parties: serde_json::Value = serde_json::from_str(&answer.json).unwrap();
        assert_eq!(parties.as_array().unwrap().len(), number as usize + 1, "the write is visible");
    }
    // A node that cannot reach the size says so instead of answering from an older state.
    cluster.kill(&follower);
    let others: Vec<&str> = ALL.iter().copied().filter(|id| *id != follower).collect();
    let leader = cluster.wait_for_leader(&others, ELECTION);
    let response = cluster.submit(&leader, signer.party("zk", 100)).expect("submit");
    cluster.start(&follower);
    wait_until("the restarted follower to answer", ELECTION, || cluster.status(&follower).ok());
    // Before the restarted follower has caught up, or after: never from before the write.
    match query(&cluster, &follower, response.index + 1) {
        Ok(answer) => assert!(answer.size > response.index, "answered from size {}", answer.size),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
            assert!(status.message().contains("this node is behind"), "{}", status.message());
        }
    }
    let far = query(&cluster, &leader, response.index + 1_000).expect_err("no node has that size");
    assert_eq!(far.code(), tonic::Code::FailedPrecondition);
    assert!(far.message().contains("this node is behind"), "{}", far.message());
}
