//! Certification: node signatures over (size, root, state digest) certify a head once more
//! than two thirds of the insurers' nodes agree; a node that signs something else for the
//! same size leaves evidence against itself; a regulator attests only certified heads.
//! Checkpoint signatures are not leaves: they never grow the log.

mod common;

use common::*;
use fairshare_protocol::envelope::open;
use fairshare_protocol::ledger::Head;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::testing::Scenario;
use fairshare_protocol::Verdict;

/// A ledger with a few leaves and its current head.
fn ledger_with_history() -> (Scenario, Head) {
    let scenario = world("1000.00");
    let head = scenario.ledger.head();
    assert_eq!(head.size, 4);
    (scenario, head)
}

fn checkpoint_signed(node: &str, checkpoint: pb::Checkpoint) -> Kind {
    Kind::CheckpointSigned(pb::CheckpointSigned { node: node.into(), checkpoint: Some(checkpoint) })
}

/// `insurer`'s node signs `head`.
fn sign(scenario: &mut Scenario, insurer: &str, head: &Head) -> Verdict {
    let checkpoint = head.to_checkpoint(&scenario.ledger.genesis().ledger_id);
    scenario.submit(&format!("node:{insurer}"), checkpoint_signed(insurer, checkpoint))
}

fn ignored(verdict: Verdict) -> ReasonCode {
    match verdict {
        Verdict::CheckpointIgnored { rejection } => rejection.code,
        other => panic!("expected the checkpoint signature to be ignored, got {other:?}"),
    }
}

fn attestation(checkpoint: pb::Checkpoint) -> Kind {
    Kind::AuditAttested(pb::AuditAttested { checkpoint: Some(checkpoint), note: "verified offline".into() })
}

#[test]
fn three_of_four_node_signatures_certify_a_head_and_two_do_not() {
    let (mut scenario, head) = ledger_with_history();
    assert_eq!(sign(&mut scenario, "cz", &head), Verdict::CheckpointRecorded { node: "cz".into(), size: 4, certified: false });
    assert_eq!(sign(&mut scenario, "menzis", &head), Verdict::CheckpointRecorded { node: "menzis".into(), size: 4, certified: false });
    assert!(scenario.ledger.certification().certified.is_empty(), "two of four is no quorum");
    assert_eq!(scenario.ledger.certification().latest_certified(), None);
    assert!(scenario.ledger.certification().certificate(4).is_empty());

    assert_eq!(sign(&mut scenario, "zk", &head), Verdict::CheckpointRecorded { node: "zk".into(), size: 4, certified: true });
    let certification = scenario.ledger.certification();
    assert_eq!(certification.certified.get(&4), Some(&head));
    assert_eq!(certification.latest_certified(), Some(&head));
    let certificate = certification.certificate(4);
    assert_eq!(certificate.len(), 3);
    for envelope in &certificate {
        open(envelope, scenario.ledger.genesis()).expect("a certificate is a set of verifiable node signatures");
    }
    assert_eq!(sign(&mut scenario, "vgz", &head), Verdict::CheckpointRecorded { node: "vgz".into(), size: 4, certified: true });
    assert_eq!(scenario.ledger.certification().certificate(4).len(), 4);
    assert_eq!(scenario.ledger.size(), 4, "checkpoint signatures do not grow the log");
    assert_eq!(scenario.ledger.head(), head);
    assert!(scenario.ledger.certification().evidence.is_empty());
}

#[test]
fn a_node_signing_a_different_root_for_the_same_size_leaves_evidence_naming_it() {
    let (mut scenario, head) = ledger_with_history();
    let forged = Head { root: [0xab; 32], ..head.clone() };
    assert_eq!(ignored(sign(&mut scenario, "zk", &forged)), ReasonCode::CheckpointConflict);
    let evidence = &scenario.ledger.certification().evidence;
    assert_eq!(evidence.len(), 1);
    assert_eq!((evidence[0].node.as_str(), evidence[0].size), ("zk", 4));
    let statement = evidence[0].statements[0].to_pb();
    assert_eq!(open(&statement, scenario.ledger.genesis()).expect("evidence is signed by the node itself").signer, "node:zk");

    // A node that signs the log's head and then something else for the same size signed
    // two contradicting statements: both are kept.
    assert!(matches!(sign(&mut scenario, "cz", &head), Verdict::CheckpointRecorded { certified: false, .. }));
    let other_digest = Head { state_digest: [0xcd; 32], ..head.clone() };
    assert_eq!(ignored(sign(&mut scenario, "cz", &other_digest)), ReasonCode::CheckpointConflict);
    let evidence = &scenario.ledger.certification().evidence;
    assert_eq!(evidence.len(), 2);
    assert_eq!((evidence[1].node.as_str(), evidence[1].statements.len()), ("cz", 2));
    // The honest majority still certifies; zk's conflicting signature does not count.
    assert!(matches!(sign(&mut scenario, "menzis", &head), Verdict::CheckpointRecorded { certified: false, .. }));
    assert!(matches!(sign(&mut scenario, "vgz", &head), Verdict::CheckpointRecorded { certified: true, .. }));
    assert_eq!(scenario.ledger.certification().certificate(4).len(), 3);
    assert_eq!(scenario.ledger.size(), 4, "checkpoint signatures do not grow the log");
}

#[test]
fn checkpoint_signatures_that_say_nothing_valid_are_ignored() {
    let (mut scenario, head) = ledger_with_history();
    let ledger_id = scenario.ledger.genesis().ledger_id.clone();
    assert!(matches!(sign(&mut scenario, "cz", &head), Verdict::CheckpointRecorded { .. }));
    assert_eq!(ignored(sign(&mut scenario, "cz", &head)), ReasonCode::AlreadySigned);
    // Signed by the insurer's own key rather than its node key, or for another node.
    let checkpoint = head.to_checkpoint(&ledger_id);
    assert_eq!(ignored(scenario.submit("zk", checkpoint_signed("zk", checkpoint.clone()))), ReasonCode::SignerNotAuthorised);
    assert_eq!(ignored(scenario.submit("node:zk", checkpoint_signed("vgz", checkpoint.clone()))), ReasonCode::SignerNotAuthorised);
    assert_eq!(ignored(scenario.submit(REGULATOR, checkpoint_signed("zk", checkpoint.clone()))), ReasonCode::SignerNotAuthorised);
    let nothing = Kind::CheckpointSigned(pb::CheckpointSigned { node: "zk".into(), checkpoint: None });
    assert_eq!(ignored(scenario.submit("node:zk", nothing)), ReasonCode::MalformedTransaction);
    let other_ledger = pb::Checkpoint { ledger_id: "elsewhere".into(), ..checkpoint.clone() };
    assert_eq!(ignored(scenario.submit("node:zk", checkpoint_signed("zk", other_ledger))), ReasonCode::MalformedTransaction);
    let short_root = pb::Checkpoint { root: vec![0; 31], ..checkpoint.clone() };
    assert_eq!(ignored(scenario.submit("node:zk", checkpoint_signed("zk", short_root))), ReasonCode::MalformedTransaction);
    // Size 0 ends no block, size 99 does not exist: not block boundaries of this log.
    let inside = pb::Checkpoint { size: 0, ..checkpoint.clone() };
    assert_eq!(ignored(scenario.submit("node:zk", checkpoint_signed("zk", inside))), ReasonCode::UnknownCheckpoint);
    let future = pb::Checkpoint { size: 99, ..checkpoint };
    assert_eq!(ignored(scenario.submit("node:zk", checkpoint_signed("zk", future))), ReasonCode::UnknownCheckpoint);
    assert_eq!(scenario.ledger.size(), 4);
    assert!(scenario.ledger.certification().evidence.is_empty(), "malformed signatures are no evidence");
}

#[test]
fn a_node_key_signs_checkpoints_only() {
    let (mut scenario, _) = ledger_with_history();
    scenario.rejected("node:zk", party("agb:12345678", pb::PartyKind::Provider), ReasonCode::SignerNotAuthorised);
}

#[test]
fn older_heads_are_certified_independently_and_settled_once_a_newer_one_is() {
    let (mut scenario, old) = ledger_with_history();
    scenario.ok(COORDINATOR, party("agb:12345678", pb::PartyKind::Provider));
    let new = scenario.ledger.head();
    assert_eq!(new.size, 5);
    for insurer in ["cz", "menzis", "vgz"] {
        sign(&mut scenario, insurer, &new);
    }
    assert_eq!(scenario.ledger.certification().latest_certified(), Some(&new));
    // Size 4 was never certified; now that 5 is, its head is no longer kept.
    assert_eq!(ignored(sign(&mut scenario, "zk", &old)), ReasonCode::UnknownCheckpoint);
}

#[test]
fn a_regulator_attests_a_certified_checkpoint_and_nothing_else() {
    let (mut scenario, head) = ledger_with_history();
    let checkpoint = head.to_checkpoint(&scenario.ledger.genesis().ledger_id);
    sign(&mut scenario, "cz", &head);
    sign(&mut scenario, "menzis", &head);
    scenario.rejected(REGULATOR, attestation(checkpoint.clone()), ReasonCode::UnknownCheckpoint);
    sign(&mut scenario, "vgz", &head);

    scenario.rejected(MINISTRY, attestation(checkpoint.clone()), ReasonCode::SignerNotAuthorised);
    scenario.rejected(COORDINATOR, attestation(checkpoint.clone()), ReasonCode::SignerNotAuthorised);
    let other_root = pb::Checkpoint { root: vec![0x11; 32], ..checkpoint.clone() };
    scenario.rejected(REGULATOR, attestation(other_root), ReasonCode::UnknownCheckpoint);
    scenario.rejected(
        REGULATOR,
        Kind::AuditAttested(pb::AuditAttested { checkpoint: None, note: String::new() }),
        ReasonCode::MalformedTransaction,
    );
    let size = scenario.ledger.size();
    scenario.ok(REGULATOR, attestation(checkpoint.clone()));
    assert_eq!(scenario.ledger.size(), size + 1, "an attestation is a ledger transaction, a leaf");
    let (attested_size, root, _) = &scenario.ledger.state().attestations[REGULATOR];
    assert_eq!((*attested_size, root.clone()), (4, head.root.iter().map(|byte| format!("{byte:02x}")).collect::<String>()));
    scenario.rejected(REGULATOR, attestation(checkpoint), ReasonCode::AlreadySigned);

    // A later certified head may be attested.
    let later = scenario.ledger.head();
    for insurer in ["cz", "vgz", "zk"] {
        sign(&mut scenario, insurer, &later);
    }
    scenario.ok(REGULATOR, attestation(later.to_checkpoint("iza-test")));
    assert_eq!(scenario.ledger.state().attestations[REGULATOR].0, later.size);
}
