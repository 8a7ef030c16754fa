//! Issue 15, item 2: reading your own writes through the CLI (DOMAIN.md).
//!
//! Two tests. In the first, a follower is cut off from the others by the harness' proxies:
//! it cannot catch up, so it must say it is behind (deterministic). In the second, a
//! follower is paused (SIGSTOP) while a write is acknowledged by the others, then
//! resumed: it lags. A query through the CLI that names that follower first must either
//! see the write (the node waits for it, or the next node answers) or fail saying the node
//! is behind; never answer from before it. A size no node has reached makes every node say
//! it is behind, and the CLI says so; `--any-state` opts out.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fairshare_protocol::testing::{genesis_file, test_key};
use fairshare_tests::Cluster;

mod common;
use common::node_wrapper;

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];

fn fairshare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(args)
        .current_dir(dir)
        .env_remove("FAIRSHARE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run fairshare")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `client.toml` in `dir`, as zk, naming `first` first and then the other nodes.
fn write_client_config(dir: &Path, cluster: &Cluster, first: &str) {
    std::fs::write(dir.join("zk.key"), hex::encode(test_key("zk").to_bytes())).expect("write the key");
    let mut nodes = vec![cluster.nodes[first].address.clone()];
    nodes.extend(ALL.iter().filter(|id| **id != first).map(|id| cluster.nodes[*id].address.clone()));
    let client = format!(
        "nodes = [{}]\ngenesis = \"{}\"\ndefault_identity = \"zk\"\n[[identities]]\nid = \"zk\"\nkey_file = \"zk.key\"\n",
        nodes.iter().map(|node| format!("\"{node}\"")).collect::<Vec<_>>().join(", "),
        cluster.dir.path().join("genesis.toml").display()
    );
    std::fs::write(dir.join("client.toml"), client).expect("write the client config");
}

/// The deterministic case: a follower whose peer links are all cut (through the harness'
/// proxies) cannot catch up, however long it waits. Asked alone after a write the client
/// was told of, it says it is behind; through the config's nodes in turn the next node
/// answers with the write; `--any-state` answers from its older state (the opt-out); once
/// healed it answers with the write.
#[test]
fn a_follower_cut_off_from_the_others_says_it_is_behind_never_answers_from_before_the_write() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let mut cluster = Cluster::with_proxies(&node_wrapper(dir), 21);
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, Duration::from_secs(30));
    let cut = *ALL.iter().find(|id| **id != leader).expect("a follower");
    write_client_config(dir, &cluster, cut);
    cluster.isolate(cut);
    cluster.wait_for_cuts(Duration::from_secs(30));

    let party = "agb:57000001";
    let leader_url = cluster.nodes[&leader].address.clone();
    let write = fairshare(
        dir,
        &["--config", "client.toml", "--node", &leader_url, "party", "register", party, "--name", "Cut Test", "--kind", "provider"],
    );
    assert!(write.status.success(), "the other three acknowledge the write: {}", text(&write));

    let only = cluster.nodes[cut].address.clone();
    let read = fairshare(dir, &["--config", "client.toml", "--node", &only, "--json", "party", "list"]);
    assert!(!read.status.success(), "the cut-off node cannot have the write, so it must not answer: {}", text(&read));
    assert!(text(&read).contains("this node is behind"), "a clear error: {}", text(&read));

    let read = fairshare(dir, &["--config", "client.toml", "--json", "party", "list"]);
    assert!(read.status.success() && String::from_utf8_lossy(&read.stdout).contains(party), "the next node answers: {}", text(&read));

    let read = fairshare(dir, &["--config", "client.toml", "--node", &only, "--any-state", "--json", "party", "list"]);
    assert!(read.status.success(), "{}", text(&read));
    assert!(!String::from_utf8_lossy(&read.stdout).contains(party), "--any-state: the cut-off node's older state: {}", text(&read));

    cluster.heal_all();
    common::wait_until("the healed node to answer with the write", Duration::from_secs(60), || {
        let read = fairshare(dir, &["--config", "client.toml", "--node", &only, "--json", "party", "list"]);
        (read.status.success() && String::from_utf8_lossy(&read.stdout).contains(party)).then_some(())
    });
}

#[test]
fn a_query_after_an_acknowledged_write_sees_it_or_says_the_node_is_behind() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let mut cluster = Cluster::with_genesis(&node_wrapper(dir), genesis_file("1960000000.00"));
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, Duration::from_secs(30));
    let lagging = *ALL.iter().find(|id| **id != leader).expect("a follower");

    // The client config names the lagging follower first, as a user's config might.
    write_client_config(dir, &cluster, lagging);

    for round in 0..3u32 {
        let party = format!("agb:{:08}", 55_000_000 + round);
        cluster.pause(lagging);
        let leader_url = cluster.nodes[&leader].address.clone();
        let write = fairshare(
            dir,
            &["--config", "client.toml", "--node", &leader_url, "party", "register", &party, "--name", "Lag Test", "--kind", "provider"],
        );
        cluster.resume(lagging);
        assert!(write.status.success(), "the write is acknowledged by the other three: {}", text(&write));

        let read = fairshare(dir, &["--config", "client.toml", "--json", "party", "list"]);
        assert!(read.status.success(), "the next node answers when the first is behind: {}", text(&read));
        assert!(
            String::from_utf8_lossy(&read.stdout).contains(&party),
            "round {round}: the read misses the acknowledged write:\n{}",
            text(&read)
        );

        // Only the lagging node: it has caught up (it sees the write) or it says it is behind.
        cluster.pause(lagging);
        let write = fairshare(
            dir,
            &[
                "--config",
                "client.toml",
                "--node",
                &leader_url,
                "party",
                "register",
                &format!("agb:{:08}", 56_000_000 + round),
                "--name",
                "Lag Test",
                "--kind",
                "provider",
            ],
        );
        cluster.resume(lagging);
        assert!(write.status.success(), "{}", text(&write));
        let only = cluster.nodes[lagging].address.clone();
        let read = fairshare(dir, &["--config", "client.toml", "--node", &only, "--json", "party", "list"]);
        let seen = String::from_utf8_lossy(&read.stdout).contains(&format!("agb:{:08}", 56_000_000 + round));
        assert!(
            (read.status.success() && seen) || (!read.status.success() && text(&read).contains("behind")),
            "round {round}: either the write or a clear 'behind', never an older state:\n{}",
            text(&read)
        );
    }

    // A write this client was told about that no node has applied (as after a fault that
    // lost it, or a node restored from an old backup): every node waits, then says it is
    // behind, and the CLI says so instead of answering from an older state.
    let seen = std::fs::read_to_string(dir.join("nonces/.seen")).expect("the CLI keeps the size it was told about");
    let size: u64 = seen.split_whitespace().nth(1).and_then(|size| size.parse().ok()).expect("ledger id and size");
    assert!(size >= 6, "six writes were acknowledged: {seen}");
    std::fs::write(dir.join("nonces/.seen"), format!("iza-test {}\n", size + 1_000)).expect("write");
    let read = fairshare(dir, &["--config", "client.toml", "--json", "party", "list"]);
    assert!(!read.status.success(), "no node holds that write: {}", text(&read));
    assert!(text(&read).contains("this node is behind"), "a clear error: {}", text(&read));

    // --any-state: the query names no size, so any node's state will do.
    let only = cluster.nodes[lagging].address.clone();
    let read = fairshare(dir, &["--config", "client.toml", "--node", &only, "--any-state", "--json", "party", "list"]);
    assert!(read.status.success(), "{}", text(&read));
}
