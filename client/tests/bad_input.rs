//! End to end, through the binary, as a user would type it: each kind of bad input gets a
//! clear one-line error on stderr and a non-zero exit, and changes nothing in the ledger's
//! state. Then: `fairshare play config/demo.toml` on a fresh devnet (started without
//! --demo) yields the same obligations as `devnet --demo`.
//!
//! Mistakes the client catches (file syntax, decimals, IBAN check digits, key files) never
//! reach a node: the log's size and root stay the same. A node's rejection (overpayment,
//! the wrong insurer paying) is itself recorded in the log as a rejected leaf, so there the
//! log grows by exactly that one leaf while obligations, payments and balances stay the same.

use std::path::Path;
use std::process::Command;

use fairshare_client::views::{NodeStatus, ObligationRow};

mod common;
use common::{binary, query, wait_until, Devnet, CONVERGE_DEADLINE};

/// What must not change: the obligations with their payments, and the balances.
fn ledger_state(config: &Path) -> (Vec<ObligationRow>, serde_json::Value, serde_json::Value) {
    (query(config, &["obligations"]), query(config, &["export", "payments"]), query(config, &["balances"]))
}

/// The log as the leader reports it, once every node agrees.
fn log_head(config: &Path) -> NodeStatus {
    wait_until("every node to report the same root", CONVERGE_DEADLINE, || {
        let statuses: Vec<NodeStatus> = query(config, &["status"]);
        let first = statuses[0].clone();
        statuses.iter().all(|status| status.reachable && status.size == first.size && status.root == first.root).then_some(first)
    })
}

/// Runs the CLI expecting failure; returns its stderr, checked to be one line.
fn fails(config: &Path, dir: &Path, args: &[&str]) -> String {
    let output = Command::new(binary()).current_dir(dir).arg("--config").arg(config).args(args).output().expect("run fairshare");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "fairshare {args:?} succeeded:\n{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "fairshare {args:?}: an error exits with 1: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "fairshare {args:?}: one line on stderr, got:\n{stderr}");
    assert!(stderr.starts_with("fairshare: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("status: "), "no panic, no raw gRPC status: {stderr}");
    stderr
}

fn assert_mentions(stderr: &str, words: &[&str]) {
    for word in words {
        assert!(stderr.contains(word), "the error names '{word}': {stderr}");
    }
}

#[test]
fn bad_input_is_refused_in_one_line_and_changes_nothing() {
    let mut devnet = Devnet::start(true);
    devnet.wait_ready();
    let config = devnet.client_config();
    let dir = devnet.dir.path().to_path_buf();
    let state = ledger_state(&config);
    let (obligations, _, _) = &state;
    let open = obligations
        .iter()
        .find(|obligation| obligation.insurer == "zk" && obligation.outstanding.cents() > 0)
        .expect("an open zk obligation");
    let too_much = format!("{}={}", open.id, open.outstanding + fairshare_protocol::Amount::from_cents(1));
    let one_euro = format!("{}=1.00", open.id);

    // Refused by the node: recorded as one rejected leaf, nothing else changes.
    let node_rejects: [(&str, Vec<&str>, Vec<&str>); 2] = [
        (
            "an overpayment",
            vec!["--as", "zk", "pay", "--id", "bad-overpay", "--value-date", "2026-07-15", "--reference", "X", &too_much],
            vec!["PAYMENT_EXCEEDS_OUTSTANDING", &open.id],
        ),
        (
            "a payment by an insurer that does not owe it",
            vec!["--as", "vgz", "pay", "--id", "bad-insurer", "--value-date", "2026-07-15", "--reference", "X", &one_euro],
            vec!["NOT_OBLIGATED_INSURER", &open.id, "vgz"],
        ),
    ];
    for (what, args, words) in &node_rejects {
        let before = log_head(&config);
        let stderr = fails(&config, &dir, args);
        assert_mentions(&stderr, words);
        assert_mentions(&stderr, &["rejected at leaf"]);
        let after = log_head(&config);
        assert_eq!(after.size, before.size + 1, "{what}: the log records the rejection and nothing else");
        assert!(ledger_state(&config) == state, "{what}: obligations, payments or balances changed");
    }

    // Caught by the client: nothing reaches a node.
    let plan =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plan.example.toml")).expect("the example plan");
    assert!(plan.contains("amount = \"400000.00\""), "the example plan changed; adapt this test");
    std::fs::write(dir.join("three-decimals.toml"), plan.replacen("amount = \"400000.00\"", "amount = \"400000.005\"", 1)).unwrap();
    let beneficiary = plan.lines().find(|line| line.trim_start().starts_with("beneficiary")).expect("a beneficiary line").to_string();
    std::fs::write(dir.join("unknown-party.toml"), plan.replacen(&beneficiary, "beneficiary = \"agb:99999999\"", 1)).unwrap();
    std::fs::write(dir.join("broken.toml"), "title = \"broken\"\n\n[[step]\nas = \"zk\"\n").unwrap();
    let client_refuses: [(&str, Vec<&str>, Vec<&str>); 6] = [
        (
            "a plan naming an unknown party",
            vec!["--as", "zk", "plan", "submit", "unknown-party.toml"],
            vec!["unknown-party.toml", "agb:99999999", "UNKNOWN_PARTY"],
        ),
        (
            "a plan amount with three decimals",
            vec!["--as", "zk", "plan", "submit", "three-decimals.toml"],
            vec!["three-decimals.toml", "400000.005", "more than two decimals"],
        ),
        (
            "an IBAN with a wrong check digit",
            vec!["--as", "zk", "party", "register", "agb:12345678", "--name", "Test", "--kind", "provider", "--iban", "NL92ABNA0417164300"],
            vec!["IBAN", "NL92ABNA0417164300", "check digit"],
        ),
        ("a scenario with a TOML syntax error", vec!["play", "broken.toml"], vec!["broken.toml", "line 3"]),
        (
            "a key file that does not exist",
            vec![
                "--as",
                "zk",
                "--key",
                "/nonexistent/zk.key",
                "pay",
                "--id",
                "bad-key",
                "--value-date",
                "2026-07-15",
                "--reference",
                "X",
                &one_euro,
            ],
            vec!["/nonexistent/zk.key", "No such file"],
        ),
        (
            "an identity whose key file is gone",
            vec!["--as", "ghost", "pay", "--id", "bad-key-2", "--value-date", "2026-07-15", "--reference", "X", &one_euro],
            vec!["ghost-missing.key", "identity 'ghost'"],
        ),
    ];
    // A client config whose identity 'ghost' points at a key file that does not exist.
    let client_toml = std::fs::read_to_string(&config).expect("client config");
    let with_ghost = format!("{client_toml}\n[[identities]]\nid = \"ghost\"\nkey_file = \"{}\"\n", dir.join("ghost-missing.key").display());
    let ghost_config = dir.join("devnet/client-ghost.toml");
    std::fs::write(&ghost_config, with_ghost).unwrap();
    let before = log_head(&config);
    for (what, args, words) in &client_refuses {
        let used = if args.contains(&"ghost") { &ghost_config } else { &config };
        let stderr = fails(used, &dir, args);
        assert_mentions(&stderr, words);
        assert!(!stderr.contains("rejected at leaf"), "{what} is caught before anything is sent: {stderr}");
    }
    let after = log_head(&config);
    assert_eq!(
        (after.size, &after.root, &after.state_digest),
        (before.size, &before.root, &before.state_digest),
        "the client's refusals reached the log"
    );
    assert!(ledger_state(&config) == state, "obligations, payments or balances changed");

    // Reads with an unknown id fail and name the ids there are, instead of answering with
    // nothing; an overlong id is refused without being echoed back whole.
    let long_id = "p".repeat(100_000);
    let unknown_ids: [(&str, Vec<&str>, Vec<&str>); 4] = [
        ("an unknown --as on a read", vec!["--as", "nobody", "obligations"], vec!["nobody", "zk", "vgz", "nza"]),
        ("an unknown --insurer", vec!["obligations", "--insurer", "nobody"], vec!["nobody", "not an insurer", "cz, menzis, vgz, zk"]),
        ("an unknown --insurer in an export", vec!["export", "obligations", "--insurer", "nobody"], vec!["nobody", "not an insurer"]),
        ("a 100 kB plan id", vec!["plan", "show", &long_id], vec!["pppp… (100000 bytes)", "256 bytes at most"]),
    ];
    for (what, args, words) in &unknown_ids {
        let stderr = fails(&config, &dir, args);
        assert_mentions(&stderr, words);
        assert!(stderr.len() < 1_000, "{what}: the error is {} bytes long", stderr.len());
    }

    // `play config/demo.toml` on a fresh ledger gives what `devnet --demo` gave.
    let mut fresh = Devnet::start(false);
    fresh.wait_ready();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    let played =
        Command::new(binary()).arg("--config").arg(fresh.client_config()).arg("play").arg(&demo).output().expect("run fairshare play");
    assert!(
        played.status.success(),
        "play config/demo.toml: {}{}",
        String::from_utf8_lossy(&played.stdout),
        String::from_utf8_lossy(&played.stderr)
    );
    let key = |rows: Vec<ObligationRow>| -> Vec<(String, String, String, String)> {
        let mut rows: Vec<_> =
            rows.into_iter().map(|row| (row.id, row.amount.to_string(), row.paid.to_string(), row.outstanding.to_string())).collect();
        rows.sort();
        rows
    };
    let replayed = key(query(&fresh.client_config(), &["obligations"]));
    assert!(!replayed.is_empty());
    assert_eq!(replayed, key(state.0.clone()), "play config/demo.toml and devnet --demo give different obligations");

    // Each devnet is its own ledger: the second's node is not a node of the first's genesis,
    // so the client refuses it at the TLS handshake, before a transaction signed for the
    // first ledger is sent (a node refuses such a transaction as WRONG_LEDGER: see
    // devnet.rs, each_devnet_is_its_own_ledger_…).
    let fresh_node = fairshare_client::config::ClientConfig::load(&fresh.client_config()).expect("client config").file.nodes[0].clone();
    let stderr = fails(
        &config,
        &dir,
        &["--node", &fresh_node, "--as", "zk", "party", "register", "agb:12345679", "--name", "Elsewhere", "--kind", "provider"],
    );
    assert_mentions(&stderr, &[&fresh_node, "not for a node key of this ledger's genesis"]);

    for devnet in [&mut fresh, &mut devnet] {
        let status = devnet.stop().expect("the devnet stops within its deadline on SIGTERM");
        assert!(status.success(), "devnet exit: {status}; {}", devnet.stderr_text());
    }
}
