//! Issue 6's acceptance: the audit tools on a ledger produced by a real cluster run.
//!
//! One cluster of four `fairshare node` processes plays the demo scenario (parties, a plan
//! through assessment, milestones, payments, fund changes) plus some party registrations,
//! and waits until everything is certified. Then, on that one ledger (a cluster per check
//! would cost minutes of CI): an untouched export verifies and agrees with every node's
//! status; each kind of tampering is caught and located; proofs verify offline; a regulator
//! attests; and, last because it makes every node stop signing, a conflicting checkpoint
//! signature injected with a node key is reported as evidence against that node.
//!
//! The nodes run as `fairshare node` (the CLI's hidden node command) through a small
//! wrapper script, because the harness starts `BINARY --config FILE`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fairshare_api::v1::VerdictKind;
use fairshare_client::audit::proof::{self, ProofFile};
use fairshare_client::audit::report::{Report, SignedStatement};
use fairshare_client::audit::verify::{self, Options};
use fairshare_client::audit::Export;
use fairshare_protocol::envelope::{seal, transaction_id};
use fairshare_protocol::genesis::node_signer;
use fairshare_protocol::merkle::{root_of, Hash};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::testing::{genesis_file, test_key};
use fairshare_protocol::{Genesis, Ledger};
mod common;
use common::{node_wrapper, wait_until_certified};
use fairshare_tests::{wait_until, Cluster, Signer};
use prost::Message;

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];
const ELECTION: Duration = Duration::from_secs(30);
const CONVERGE: Duration = Duration::from_secs(60);
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the `fairshare` binary in `dir`, bounded in time.
fn fairshare(dir: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(args)
        .current_dir(dir)
        .env_remove("FAIRSHARE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fairshare");
    let status = wait_until(&format!("fairshare {args:?}"), COMMAND_LIMIT, || child.try_wait().expect("wait for fairshare"));
    let mut stdout = String::new();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout).expect("read stdout");
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    Run { code: status.code().unwrap_or(-1), stdout, stderr }
}

fn report_of(run: &Run) -> Report {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("not a JSON report ({error}):\n{}\n{}", run.stdout, run.stderr))
}

fn verify_export(export: &Export) -> Report {
    verify::verify(export, &Options::default()).expect("a full export")
}

/// Plays the demo scenario with the test keys; returns the ids of what was applied.
fn play_demo(cluster: &Cluster, signer: &mut Signer) -> Vec<String> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    let scenario = fairshare_client::scenario::read(&demo).expect("the demo scenario parses");
    let mut applied = Vec::new();
    for (number, step) in scenario.steps.iter().enumerate() {
        let envelope = signer.sign(&step.signer, step.kind.clone());
        let response = cluster.submit(ALL[number % ALL.len()], envelope).expect("submit a demo step");
        if response.verdict == VerdictKind::Applied as i32 {
            applied.push(response.transaction_id);
        }
    }
    applied
}

/// Position (block, envelope) of the first envelope whose transaction satisfies `wanted`.
fn find(export: &Export, wanted: impl Fn(&pb::Envelope, &Kind) -> bool) -> (usize, usize) {
    for block_position in 0..export.blocks.len() {
        for (position, envelope) in export.decoded_block(block_position).expect("block").envelopes.iter().enumerate() {
            let Ok(transaction) = pb::Transaction::decode(envelope.body.as_slice()) else { continue };
            if transaction.kind.as_ref().is_some_and(|kind| wanted(envelope, kind)) {
                return (block_position, position);
            }
        }
    }
    panic!("no such envelope in the export");
}

fn envelopes(export: &Export, block: usize) -> Vec<pb::Envelope> {
    export.decoded_block(block).expect("block").envelopes
}

/// Swaps two envelopes of the export (in one block or two).
fn swap(export: &mut Export, (block, position): (usize, usize), (other_block, other_position): (usize, usize)) {
    let first = envelopes(export, block)[position].clone();
    let second = envelopes(export, other_block)[other_position].clone();
    export.edit_block(other_block, |envelopes| envelopes[other_position] = first);
    export.edit_block(block, |envelopes| envelopes[position] = second);
}

fn is_party(_: &pb::Envelope, kind: &Kind) -> bool {
    matches!(kind, Kind::PartyRegistered(_))
}

fn first_finding(report: &Report) -> &fairshare_client::audit::report::Finding {
    eprintln!("{}", report.to_text()); // shown when the test fails, or with --nocapture
    report.findings.first().unwrap_or_else(|| panic!("expected a finding: {}", report.to_text()))
}

/// The first finding is of `kind`, and its range of suspect blocks covers `log_index`.
fn located_at(report: &Report, kind: &str, log_index: u64) {
    assert_eq!(first_finding(report).kind, kind, "{}", report.to_text());
    located_within(report, kind, log_index);
}

/// The first finding, whatever its kind, names a place (an entry or a range) holding `log_index`.
fn located_within(report: &Report, what: &str, log_index: u64) {
    let finding = report.findings.first().unwrap_or_else(|| panic!("{what}: no finding: {}", report.to_text()));
    let from = finding.log_index.unwrap_or_else(|| panic!("{what}: not located: {}", report.to_text()));
    let to = finding.up_to_log_index.unwrap_or(from);
    assert!(from <= log_index && log_index <= to, "{what}: log index {log_index} is not within {from}..{to}: {}", report.to_text());
    assert_eq!(report.exit_code, 1, "{what}");
}

fn re_sign(envelope: &pb::Envelope, signer: &str, change: impl FnOnce(&mut Kind)) -> pb::Envelope {
    let mut transaction = pb::Transaction::decode(envelope.body.as_slice()).expect("a transaction");
    change(transaction.kind.as_mut().expect("a kind"));
    seal(&transaction, signer, &test_key(signer))
}

/// Changes an amount and re-signs the envelope with `impostor`'s key, which may not sign it.
fn check_re_signed(export: &Export, impostor: &str, wanted: impl Fn(&pb::Envelope, &Kind) -> bool, change: impl FnOnce(&mut Kind)) {
    let mut tampered = export.clone();
    let (block, position) = find(export, wanted);
    let envelope = re_sign(&envelopes(export, block)[position], impostor, change);
    let id = hex::encode(transaction_id(&envelope));
    tampered.edit_block(block, |envelopes| envelopes[position] = envelope);
    let report = verify_export(&tampered);
    located_at(&report, "history_altered", export.blocks[block].log_index);
    let suspect = first_finding(&report).suspects.iter().find(|suspect| suspect.transaction_id == id);
    let suspect = suspect.unwrap_or_else(|| panic!("the re-signed transaction is not named: {}", report.to_text()));
    assert_eq!(suspect.log_index, export.blocks[block].log_index);
    assert!(suspect.why.contains(&format!("signed by '{impostor}'")), "{}", suspect.why);
}

fn check_tampering(export: &Export) {
    // One flipped byte in an envelope body.
    let mut tampered = export.clone();
    let (block, position) = find(export, |envelope, kind| envelope.signer == "cz" && is_party(envelope, kind));
    let mut envelope = envelopes(export, block)[position].clone();
    let middle = envelope.body.len() / 2;
    envelope.body[middle] ^= 0x01;
    let id = hex::encode(transaction_id(&envelope));
    tampered.edit_block(block, |envelopes| envelopes[position] = envelope);
    let report = verify_export(&tampered);
    let finding = first_finding(&report);
    assert_eq!((finding.kind.as_str(), finding.log_index), ("bad_envelope", Some(export.blocks[block].log_index)), "{}", report.to_text());
    assert_eq!(finding.transaction_id.as_deref(), Some(id.as_str()));

    // A forged signature: the same body signed with another key under the author's name.
    let mut tampered = export.clone();
    tampered.edit_block(block, |envelopes| {
        let envelope = &mut envelopes[position];
        envelope.signature = seal(&pb::Transaction::decode(envelope.body.as_slice()).expect("body"), "cz", &test_key("zk")).signature;
    });
    let report = verify_export(&tampered);
    let finding = first_finding(&report);
    assert_eq!((finding.kind.as_str(), finding.log_index), ("bad_envelope", Some(export.blocks[block].log_index)), "{}", report.to_text());
    assert!(finding.what.contains("BAD_SIGNATURE"), "{}", finding.what);

    // A dropped transaction.
    let mut tampered = export.clone();
    let (block, position) = find(export, |envelope, kind| envelope.signer == "vgz" && is_party(envelope, kind));
    tampered.edit_block(block, |envelopes| {
        envelopes.remove(position);
    });
    located_at(&verify_export(&tampered), "history_altered", export.blocks[block].log_index);

    // Every transaction dropped in turn, and every one swapped with the next: wherever this
    // run's checkpoints happened to land, the place named first holds the altered block.
    let positions: Vec<(usize, usize)> = (0..export.blocks.len())
        .flat_map(|block| {
            let envelopes = envelopes(export, block);
            (0..envelopes.len())
                .filter(move |position| !envelopes[*position].signer.starts_with("node:"))
                .map(move |position| (block, position))
        })
        .collect();
    for (number, &(block, position)) in positions.iter().enumerate() {
        let mut tampered = export.clone();
        tampered.edit_block(block, |envelopes| {
            envelopes.remove(position);
        });
        located_within(&verify_export(&tampered), &format!("transaction {number} dropped"), export.blocks[block].log_index);
        if let Some(&(next_block, next_position)) = positions.get(number + 1) {
            let mut tampered = export.clone();
            swap(&mut tampered, (block, position), (next_block, next_position));
            located_within(
                &verify_export(&tampered),
                &format!("transactions {number} and {} swapped", number + 1),
                export.blocks[block].log_index,
            );
        }
    }

    // Two swapped transactions (a party registration and the next transaction after it).
    let mut tampered = export.clone();
    let (first_block, first) = find(export, |envelope, kind| envelope.signer == "menzis" && is_party(envelope, kind));
    let (second_block, second) = (first_block + 1..export.blocks.len())
        .find_map(|candidate| {
            envelopes(export, candidate)
                .iter()
                .position(|envelope| !envelope.signer.starts_with("node:"))
                .map(|position| (candidate, position))
        })
        .expect("a later transaction");
    swap(&mut tampered, (first_block, first), (second_block, second));
    located_at(&verify_export(&tampered), "history_altered", export.blocks[first_block].log_index);

    // A changed amount, re-signed by a key that may not sign it: a payment by another
    // insurer, and a fund adjustment by an insurer instead of the ministry.
    check_re_signed(
        export,
        "zk",
        |envelope, kind| matches!(kind, Kind::PaymentRecorded(_)) && envelope.signer != "zk",
        |kind| {
            if let Kind::PaymentRecorded(payment) = kind {
                payment.settlements[0].amount_micros += 10_000;
            }
        },
    );
    check_re_signed(
        export,
        "cz",
        |_, kind| matches!(kind, Kind::FundAdjusted(_)),
        |kind| {
            if let Kind::FundAdjusted(adjustment) = kind {
                adjustment.delta_micros -= 1_000_000_000;
            }
        },
    );

    // A certificate with too few signatures: keep only two of the statements for the
    // certified size the exporting node reports.
    let mut tampered = export.clone();
    let certified_size = export.trailer.as_ref().expect("trailer").certified_size;
    let mut kept = BTreeSet::new();
    for block in 0..tampered.blocks.len() {
        tampered.edit_block(block, |envelopes| envelopes.retain(|envelope| {
            let transaction = pb::Transaction::decode(envelope.body.as_slice()).expect("decodes");
            let for_size = matches!(&transaction.kind, Some(Kind::CheckpointSigned(signed)) if signed.checkpoint.as_ref().is_some_and(|checkpoint| checkpoint.size == certified_size));
            if for_size && (kept.len() < 2 || kept.contains(&envelope.signer)) {
                kept.insert(envelope.signer.clone());
                return true;
            }
            !for_size
        }));
    }
    let report = verify_export(&tampered);
    let finding = first_finding(&report);
    assert_eq!(finding.kind, "certificate_short", "{}", report.to_text());
    assert!(finding.what.contains(&format!("size {certified_size}")) && finding.what.contains("by only 2 node(s)"), "{}", finding.what);
    assert!(report.certified_size < certified_size);
}

fn check_truncation(dir: &Path, export: &Export) {
    let bytes = export.encode();
    let cut = &bytes[..bytes.len() * 3 / 5];
    let path = dir.join("truncated.fsa");
    std::fs::write(&path, cut).expect("write");
    let damaged = Export::decode(cut);
    let last_whole = damaged.blocks.last().expect("some blocks survive").log_index;
    let run = fairshare(dir, &["audit", "verify", path.to_str().expect("utf-8"), "--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report = report_of(&run);
    let finding = first_finding(&report);
    assert_eq!((finding.kind.as_str(), finding.log_index), ("truncated", Some(last_whole)), "{}", report.to_text());
}

/// The tail cut at a block boundary and the trailer rewritten to claim an older certified
/// head, as an exporter withholding the newest history would: the file alone verifies;
/// against the nodes (`--against`), the newest certified head shows it stops short.
fn check_tail_cut(cluster: &Cluster, dir: &Path, export: &Export, older_certified: u64) {
    let genesis = Genesis::from_pb(export.header.as_ref().expect("header").genesis.as_ref().expect("genesis")).expect("genesis");
    let mut ledger = Ledger::new(std::sync::Arc::new(genesis.clone()));
    let mut kept = 0;
    for (position, exported) in export.blocks.iter().enumerate() {
        ledger.apply_replicated(&fairshare_protocol::envelope::decode_block(&exported.block).expect("a block"));
        if ledger.certification().latest_certified().is_some_and(|head| head.size >= older_certified) {
            kept = position + 1;
            break;
        }
    }
    assert!(kept > 0 && kept < export.blocks.len(), "a block boundary where size {older_certified} is certified");
    let certified = ledger.certification().latest_certified().expect("certified").clone();
    let mut cut = export.clone();
    cut.blocks.truncate(kept);
    let head = ledger.head();
    cut.trailer = Some(fairshare_protocol::pb::audit::ExportTrailer {
        blocks: kept as u64,
        size: head.size,
        root: head.root.to_vec(),
        certified_size: certified.size,
        newest_certified: Some(certified.to_checkpoint(&genesis.ledger_id)),
        certificate: ledger.certification().certificate(certified.size),
    });
    let path = dir.join("cut.fsa");
    std::fs::write(&path, cut.encode()).expect("write");
    let alone = fairshare(dir, &["audit", "verify", path.to_str().expect("utf-8"), "--json"]);
    assert_eq!(alone.code, 0, "the cut file alone verifies: {}{}", alone.stdout, alone.stderr);
    let against = fairshare(
        dir,
        &[
            "audit",
            "verify",
            path.to_str().expect("utf-8"),
            "--against",
            &cluster.nodes["vgz"].address,
            "--against",
            &cluster.nodes["zk"].address,
            "--json",
        ],
    );
    assert_eq!(against.code, 1, "{}{}", against.stdout, against.stderr);
    let report = report_of(&against);
    assert_eq!(first_finding(&report).kind, "export_short", "{}", report.to_text());
    assert_eq!(report.compared_with.len(), 2, "{}", report.to_text());
}

/// Leaf hashes of the log, by replaying the export.
fn leaves(export: &Export) -> Vec<Hash> {
    let genesis = Genesis::from_pb(export.header.as_ref().expect("header").genesis.as_ref().expect("genesis")).expect("genesis");
    let mut ledger = Ledger::new(std::sync::Arc::new(genesis));
    for exported in &export.blocks {
        ledger.apply_replicated(&fairshare_protocol::envelope::decode_block(&exported.block).expect("a block"));
    }
    (0..ledger.size()).map(|index| ledger.merkle().leaf(index).expect("leaf")).collect()
}

/// Issue 16: `audit prove` takes what a person has at hand: the 12 hex digits printed on
/// submit, a leaf index, an obligation id (its confirmation) or a payment record's id, as
/// `obligations --json` lists them; an unknown or too short prefix is a clear error.
fn check_proof_targets(cluster: &Cluster, dir: &Path) {
    let node = &cluster.nodes["vgz"].address;
    let prove = |target: &str| -> Result<(String, u64), String> {
        let path = dir.join("target-proof.json");
        let run = fairshare(dir, &["--node", node, "audit", "prove", target, "--out", path.to_str().expect("utf-8")]);
        if run.code != 0 {
            return Err(run.stderr);
        }
        match ProofFile::parse("proof", &std::fs::read_to_string(&path).expect("read")).expect("parse") {
            ProofFile::Inclusion(proof) => Ok((proof.transaction_id, proof.leaf_index)),
            ProofFile::Consistency(_) => panic!("an inclusion proof"),
        }
    };
    let run = fairshare(dir, &["--node", node, "obligations", "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let rows: Vec<fairshare_client::views::ObligationRow> = serde_json::from_str(&run.stdout).expect("obligations JSON");
    let row = rows.iter().find(|row| !row.payment_records.is_empty()).expect("the demo pays an obligation");
    assert_eq!(row.transaction_id.len(), 64, "obligations --json names the confirmation: {row:?}");
    let confirmation = (row.transaction_id.clone(), row.created_at);
    assert_eq!(prove(&row.id), Ok(confirmation.clone()), "by obligation id");
    assert_eq!(prove(&row.transaction_id[..12]), Ok(confirmation.clone()), "by the prefix printed on submit");
    assert_eq!(prove(&row.created_at.to_string()), Ok(confirmation.clone()), "by leaf index");
    assert_eq!(prove(&format!("leaf:{}", row.created_at)), Ok(confirmation.clone()), "by leaf:N");
    let payment = &row.payment_records[0];
    assert_eq!(prove(&payment.id), Ok((payment.transaction_id.clone(), payment.leaf)), "by payment id");

    let unknown = (0..16).map(|digit| format!("{digit:x}").repeat(10)).find(|prefix| prove(prefix).is_err()).expect("a free prefix");
    assert!(prove(&unknown).unwrap_err().contains("no transaction id starts with"), "unknown prefix");
    assert!(prove("abcdef").unwrap_err().contains("8 hex digits or more"), "a short prefix is refused, not guessed");
    assert!(prove("no-such-payment").unwrap_err().contains("no payment record 'no-such-payment'"));
}

fn check_proofs(cluster: &Cluster, dir: &Path, export: &Export, transaction: &str, old_size: u64) {
    let genesis = cluster.dir.path().join("genesis.toml");
    let genesis = genesis.to_str().expect("utf-8");
    let check = |path: &Path| fairshare(dir, &["audit", "prove", "--check", path.to_str().expect("utf-8"), "--genesis", genesis]);

    // Made from one node; the certificate's signers tell which node can be left out.
    let first = dir.join("inclusion-first.json");
    let run =
        fairshare(dir, &["--node", &cluster.nodes["cz"].address, "audit", "prove", transaction, "--out", first.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let ProofFile::Inclusion(proof) = ProofFile::parse("first", &std::fs::read_to_string(&first).expect("read")).expect("parse") else {
        panic!("an inclusion proof")
    };
    let signers: BTreeSet<String> = proof.checkpoint.certificate.iter().map(|statement| statement.signer.clone()).collect();
    let prover = ALL.iter().find(|node| !signers.contains(&node_signer(node))).copied().unwrap_or("cz");
    let path = dir.join("inclusion.json");
    let run =
        fairshare(dir, &["--node", &cluster.nodes[prover].address, "audit", "prove", transaction, "--out", path.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let mut proof = match ProofFile::parse("proof", &std::fs::read_to_string(&path).expect("read")).expect("parse") {
        ProofFile::Inclusion(proof) => proof,
        ProofFile::Consistency(_) => panic!("an inclusion proof"),
    };
    assert!(proof.made_from.contains(&cluster.nodes[prover].address));
    proof.checkpoint.certificate.retain(|statement| statement.signer != node_signer(prover));
    assert!(proof.checkpoint.certificate.len() >= 3, "certified by the three others");
    std::fs::write(&path, ProofFile::Inclusion(proof.clone()).to_json()).expect("write");
    let run = check(&path);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("VALID inclusion proof"), "{}", run.stdout);

    // Altered proofs fail offline.
    let mut wrong_leaf = proof.clone();
    wrong_leaf.leaf_index += 1;
    assert!(!proof::check(&ProofFile::Inclusion(wrong_leaf), None).ok);
    let mut short = proof.clone();
    short.checkpoint.certificate.truncate(2);
    let checked = proof::check(&ProofFile::Inclusion(short), None);
    assert!(checked.problem.as_deref().is_some_and(|problem| problem.contains("3 of 4 are needed")), "{checked:?}");

    // A consistency proof between two certified sizes.
    let path = dir.join("consistency.json");
    let run = fairshare(
        dir,
        &["--node", &cluster.nodes["vgz"].address, "audit", "consistency", &old_size.to_string(), "--out", path.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = fairshare(dir, &["audit", "consistency", "--check", path.to_str().expect("utf-8"), "--genesis", genesis, "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let ProofFile::Consistency(consistency) = ProofFile::parse("c", &std::fs::read_to_string(&path).expect("read")).expect("parse") else {
        panic!("a consistency proof")
    };
    assert_eq!(consistency.old.size, old_size);

    // A rewritten history: the old checkpoint of a log with two leaves swapped, certified by
    // three (compromised) node keys. Its certificate is valid; the proof must still fail.
    let mut rewritten: Vec<Hash> = leaves(export)[..old_size as usize].to_vec();
    rewritten.swap(1, 2);
    let forged_root = root_of(&rewritten);
    let forged = pb::Checkpoint {
        ledger_id: "iza-test".into(),
        size: old_size,
        root: forged_root.to_vec(),
        state_digest: hex::decode(&consistency.old.state_digest).expect("hex"),
    };
    let mut fork = consistency.clone();
    fork.old.root = hex::encode(forged_root);
    fork.old.certificate = ["cz", "menzis", "vgz"]
        .iter()
        .map(|node| {
            let body = pb::Transaction {
                ledger_id: "iza-test".into(),
                nonce: 1,
                kind: Some(Kind::CheckpointSigned(pb::CheckpointSigned { node: node.to_string(), checkpoint: Some(forged.clone()) })),
            };
            SignedStatement::of(&seal(&body, &node_signer(node), &test_key(&node_signer(node))))
        })
        .collect();
    let checked = proof::check(&ProofFile::Consistency(fork), None);
    assert!(!checked.ok, "{checked:?}");
    assert!(checked.checked.iter().any(|line| line.contains("certified by 3 of 4")), "the forged certificate itself is valid: {checked:?}");
    assert!(checked.problem.as_deref().is_some_and(|problem| problem.contains("does not extend")), "{checked:?}");
}

#[test]
fn a_real_ledger_proves_itself_and_every_tampering_is_located() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let mut cluster = Cluster::with_genesis(&node_wrapper(dir), genesis_file("1960000000.00"));
    cluster.start_all();
    cluster.wait_for_leader(&ALL, ELECTION);
    // The regulator's client config: the genesis whose node keys it trusts, and its identity
    // (mutual TLS); the commands below name the node with --node.
    std::fs::write(dir.join("nza.key"), hex::encode(test_key("nza").to_bytes())).expect("write the key");
    let client = format!(
        "nodes = [\"{}\"]\ngenesis = \"{}\"\ndefault_identity = \"nza\"\n[[identities]]\nid = \"nza\"\nkey_file = \"nza.key\"\n",
        cluster.nodes["cz"].address,
        cluster.dir.path().join("genesis.toml").display()
    );
    std::fs::write(dir.join("client.toml"), client).expect("write the client config");

    // A ledger with real history: the demo, then party registrations in two rounds.
    let mut signer = Signer::new("iza-test", 0);
    let demo = play_demo(&cluster, &mut signer);
    assert!(demo.len() >= 30, "most demo steps apply on the test genesis ({} did)", demo.len());
    let mut parties = Vec::new();
    for number in 0..8u32 {
        let response =
            cluster.submit(ALL[number as usize % 4], signer.party(ALL[(number as usize + 1) % 4], 90_000_000 + number)).expect("submit");
        assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
        parties.push(response.transaction_id);
    }
    let early = wait_until_certified(&cluster, &ALL, (demo.len() + parties.len()) as u64);
    for number in 8..16u32 {
        let response =
            cluster.submit(ALL[number as usize % 4], signer.party(ALL[(number as usize + 1) % 4], 90_000_000 + number)).expect("submit");
        assert_eq!(response.verdict, VerdictKind::Applied as i32, "{response:?}");
    }
    let status = wait_until_certified(&cluster, &ALL, early.size + 8);

    // An untouched export verifies, and says what every node says.
    let file = dir.join("ledger.fsa");
    let run = fairshare(dir, &["--node", &cluster.nodes["menzis"].address, "audit", "export", "--out", file.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let genesis = cluster.dir.path().join("genesis.toml");
    let run = fairshare(dir, &["audit", "verify", file.to_str().expect("utf-8"), "--genesis", genesis.to_str().expect("utf-8"), "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = report_of(&run);
    assert!(report.ok && report.findings.is_empty() && report.evidence.is_empty(), "{}", report.to_text());
    assert_eq!(report.checks.genesis_pinned, Some(true));
    assert!(report.checks.applied >= (demo.len() + 16) as u64 && report.checks.certified_checkpoints >= 2, "{}", report.to_text());
    for id in ALL {
        let node = cluster.status(id).expect("status");
        assert_eq!(
            (report.size, report.root.clone(), report.certified_size),
            (node.size, hex::encode(&node.root), node.certified_size),
            "verify and {id}'s status agree"
        );
    }
    assert_eq!(report.size, status.size);
    let run = fairshare(dir, &["--node", &cluster.nodes["zk"].address, "audit", "verify", "--json"]);
    assert_eq!(run.code, 0, "verify --node: {}{}", run.stdout, run.stderr);
    assert_eq!(report_of(&run).root, report.root);

    let export = Export::read(&file).expect("read the export");
    check_tampering(&export);
    check_truncation(dir, &export);
    check_tail_cut(&cluster, dir, &export, early.certified_size);
    check_proofs(&cluster, dir, &export, &parties[0], early.certified_size);
    check_proof_targets(&cluster, dir);

    // A regulator attests what it verified; not when the log does not verify.
    let key = dir.join("nza.key");
    let key = key.to_str().expect("utf-8");
    let mut tampered = export.clone();
    let (block, position) = find(&export, is_party);
    tampered.edit_block(block, |envelopes| envelopes[position].signature[3] ^= 0x10);
    let tampered_file = dir.join("tampered.fsa");
    std::fs::write(&tampered_file, tampered.encode()).expect("write");
    let run = fairshare(
        dir,
        &["--node", &cluster.nodes["cz"].address, "--as", "nza", "--key", key, "audit", "attest", tampered_file.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 1, "no attestation of a tampered log: {}{}", run.stdout, run.stderr);
    let run = fairshare(
        dir,
        &["--node", &cluster.nodes["cz"].address, "--as", "nza", "--key", key, "audit", "attest", "--note", "test", "--json"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let attested: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(attested["attestation"]["verdict"], "APPLIED", "{attested}");
    assert_eq!(attested["attestation"]["size"], status.certified_size);
    let after = wait_until_certified(&cluster, &ALL, status.size + 1);

    // Last: cz's node key signs a second, different checkpoint for a size it certified.
    let forged = pb::Checkpoint {
        ledger_id: "iza-test".into(),
        size: after.certified_size,
        root: vec![7; 32],
        state_digest: after.state_digest.clone(),
    };
    let body = pb::Transaction {
        ledger_id: "iza-test".into(),
        nonce: 77_000_000,
        kind: Some(Kind::CheckpointSigned(pb::CheckpointSigned { node: "cz".into(), checkpoint: Some(forged) })),
    };
    let injected = seal(&body, "node:cz", &test_key("node:cz"));
    let response = cluster.submit("vgz", injected).expect("the statement reaches the log");
    assert_eq!(response.verdict, VerdictKind::Checkpoint as i32, "{response:?}");
    wait_until("every node to see the evidence", CONVERGE, || {
        ALL.iter().all(|id| cluster.status(id).is_ok_and(|status| !status.evidence.is_empty())).then_some(())
    });
    let run = fairshare(dir, &["--node", &cluster.nodes["zk"].address, "audit", "verify", "--json"]);
    assert_eq!(run.code, 3, "evidence has its own exit code: {}{}", run.stdout, run.stderr);
    let report = report_of(&run);
    assert!(report.findings.is_empty(), "the rest of the ledger is fine: {}", report.to_text());
    let evidence = &report.evidence[0];
    assert_eq!((evidence.node.as_str(), evidence.size), ("cz", after.certified_size), "{}", report.to_text());
    assert!(evidence.statements.len() >= 2 && evidence.statements.iter().all(|statement| !statement.signature.is_empty()));
    assert!(evidence
        .statements
        .iter()
        .any(|statement| statement.checkpoint.as_ref().is_some_and(|checkpoint| checkpoint.root == hex::encode([7u8; 32]))));
}
