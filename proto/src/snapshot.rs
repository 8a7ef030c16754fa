//! What proves a snapshot: the rule a node applies before a snapshot received from a peer
//! may replace its state.
//!
//! A Raft snapshot carries a whole [`LedgerData`]. Trusted as sent, one forged
//! `InstallSnapshot` would replace a node's state (a payee's IBAN, an obligation) and the
//! node would serve it. So a received snapshot must **equal a checkpoint certified by more
//! than two thirds of the genesis nodes**, which nodes only sign after applying the log
//! themselves ([`restore_certified`]):
//!
//! - it was made under this genesis and its records add up ([`Ledger::restore`], which also
//!   recomputes the Merkle root from the leaf hashes and checks a head recorded at its size
//!   against the state digest computed from its state);
//! - its certification holds a certified checkpoint at **exactly its size** whose root and
//!   state digest are the recomputed ones, with a certificate of a quorum of distinct nodes
//!   whose every statement verifies against genesis' node keys ([`check_certificate`], the
//!   rule offline proofs use);
//! - everything else its certification holds is checked too, since it decides later
//!   verdicts (an attestation names a certified checkpoint) and whether the node keeps
//!   signing (evidence): every other certified checkpoint has a verifying certificate and a
//!   root its leaves give, it records no head below its size, and every statement and piece
//!   of evidence is a checkpoint signed by the node key of the node it is filed under.
//!
//! What this cannot prove: `nonces` and `transactions` enter the state digest only through
//! `leaves_digest`, a chain over each leaf's signer and nonce, which the snapshot does not
//! keep per leaf. A certified snapshot with those two maps altered passes (checked: one
//! verdict per leaf). Closing that needs each leaf's signer and nonce in the snapshot.

use std::sync::Arc;

use crate::envelope::open;
use crate::genesis::{Genesis, Role};
use crate::ledger::{check_certificate, Head, Ledger, LedgerData, StoredEnvelope};
use crate::pb::{self, transaction::Kind};

/// Why a snapshot was not restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotRefused {
    #[error("it belongs to genesis {snapshot}, not {ours}")]
    OtherGenesis { snapshot: String, ours: String },
    #[error("it is damaged: {0}")]
    Damaged(String),
    #[error("it is not certified: {0}")]
    NotCertified(String),
}

/// Restores `data` only if it proves itself (see the module documentation); the ledger's
/// [`Ledger::head`] is then the certified head. Pure and `O(state + leaves + statements)`:
/// callers run it on a blocking thread.
pub fn restore_certified(genesis: Arc<Genesis>, data: LedgerData) -> Result<Ledger, SnapshotRefused> {
    check_stored_statements(&genesis, &data)?;
    let ledger = Ledger::restore(genesis, data)?;
    let size = ledger.size();
    // Recomputed, not read from the snapshot's records.
    let head = Head { size, root: ledger.merkle().root(), state_digest: ledger.state().digest_from_scratch() };
    let certification = ledger.certification();
    if size == 0 {
        // Before the first leaf there is nothing to certify: the state must be genesis' own,
        // which the receiver computes itself.
        let fresh = Ledger::new(Arc::new(ledger.genesis().clone()));
        let untouched = certification.certified.is_empty() && certification.statements.is_empty() && certification.evidence.is_empty();
        if head.state_digest != fresh.state().digest_from_scratch() || !untouched {
            return Err(SnapshotRefused::NotCertified("a snapshot without leaves must hold exactly the state genesis gives".into()));
        }
        return Ok(ledger);
    }
    let Some(certified) = certification.certified.get(&size) else {
        let newest = certification.latest_certified().map_or("none".to_string(), |head| format!("size {}", head.size));
        return Err(SnapshotRefused::NotCertified(format!(
            "it holds no certified checkpoint at its size {size} (the newest it calls certified: {newest})"
        )));
    };
    if certified.root != head.root {
        return Err(SnapshotRefused::NotCertified(format!(
            "the checkpoint certified at its size {size} has another root than its leaves give"
        )));
    }
    if certified.state_digest != head.state_digest {
        return Err(SnapshotRefused::NotCertified(format!(
            "the checkpoint certified at its size {size} has state digest {}, but its state digests to {}",
            hex::encode(certified.state_digest),
            hex::encode(head.state_digest)
        )));
    }
    if let Some(&below) = certification.heads.keys().find(|&&recorded| recorded != size) {
        return Err(SnapshotRefused::Damaged(format!("it records an uncertified head at size {below}, below its certified size {size}")));
    }
    let sizes: Vec<u64> = certification.certified.keys().copied().collect();
    let roots = ledger
        .merkle()
        .roots_at(&sizes)
        .ok_or_else(|| SnapshotRefused::Damaged(format!("it calls a size above its {size} leaves certified")))?;
    for ((&at, checkpoint), root) in certification.certified.iter().zip(roots) {
        if checkpoint.size != at || checkpoint.root != root {
            return Err(SnapshotRefused::NotCertified(format!(
                "the checkpoint it calls certified at size {at} has a root its leaves do not give"
            )));
        }
        let certificate = certification.certificate(at);
        check_certificate(ledger.genesis(), &checkpoint.to_checkpoint(&ledger.genesis().ledger_id), &certificate)
            .map_err(|rejection| SnapshotRefused::NotCertified(format!("the certificate of size {at}: {}", rejection.message)))?;
    }
    debug_assert_eq!(ledger.head(), head, "restore checked the head recorded at the snapshot's size");
    Ok(ledger)
}

/// Every statement (filed under a size and a node) and every piece of evidence (filed under
/// a node) must be a checkpoint signed by that node's key. Also makes sure every stored
/// envelope is hex, which [`StoredEnvelope::to_pb`] assumes.
fn check_stored_statements(genesis: &Genesis, data: &LedgerData) -> Result<(), SnapshotRefused> {
    let certification = &data.certification;
    let filed = certification
        .statements
        .iter()
        .flat_map(|(&size, by_node)| by_node.iter().map(move |(node, stored)| (node.as_str(), Some(size), stored, "statement")));
    let evidence = certification
        .evidence
        .iter()
        .flat_map(|item| item.statements.iter().map(move |stored| (item.node.as_str(), None, stored, "evidence")));
    for (node, size, stored, what) in filed.chain(evidence) {
        let refused = |why: String| SnapshotRefused::NotCertified(format!("a checkpoint {what} filed under node {node}: {why}"));
        let envelope = decode(stored).map_err(&refused)?;
        let transaction = open(&envelope, genesis).map_err(|rejection| refused(rejection.message))?;
        let (Kind::CheckpointSigned(signed), Role::Node(signer)) = (&transaction.kind, &transaction.role) else {
            return Err(refused(format!("it is not a checkpoint signed by a node key (signer '{}')", envelope.signer)));
        };
        if signer != node || signed.node != *node {
            return Err(refused(format!("it is signed by node {signer} for node {}", signed.node)));
        }
        let signed_size = signed.checkpoint.as_ref().map(|checkpoint| checkpoint.size);
        if size.is_some_and(|size| signed_size != Some(size)) {
            return Err(refused(format!("it is filed under size {} but signs {signed_size:?}", size.unwrap_or_default())));
        }
    }
    Ok(())
}

fn decode(stored: &StoredEnvelope) -> Result<pb::Envelope, String> {
    let bytes = |field: &str, text: &str| hex::decode(text).map_err(|error| format!("its {field} is not hex: {error}"));
    Ok(pb::Envelope {
        body: bytes("body", &stored.body)?,
        signer: stored.signer.clone(),
        signature: bytes("signature", &stored.signature)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::PartyKind;
    use crate::testing::{checkpoint_statements, Scenario};
    use crate::Verdict;
    use imbl::OrdMap;

    const PROVIDER: &str = "agb:01234567";
    const HONEST_IBAN: &str = "NL91ABNA0417164300";

    /// A ledger with a provider and its IBAN, certified by `nodes` at its head.
    fn certified_by(nodes: &[&str]) -> Scenario {
        let mut scenario = Scenario::new("1000000.00");
        scenario.ok(
            "zk",
            Kind::PartyRegistered(pb::PartyRegistered {
                party: PROVIDER.into(),
                kind: PartyKind::Provider as i32,
                name: "Ziekenhuis Test".into(),
                iban: HONEST_IBAN.into(),
            }),
        );
        let head = scenario.ledger.head();
        let statements = checkpoint_statements(scenario.ledger.genesis(), &head, nodes);
        let outcomes = scenario.ledger.apply_block(&pb::Block { envelopes: statements });
        assert!(outcomes.iter().all(|outcome| matches!(outcome.verdict, Verdict::CheckpointRecorded { .. })));
        scenario
    }

    fn genesis(scenario: &Scenario) -> Arc<Genesis> {
        Arc::new(scenario.ledger.genesis().clone())
    }

    fn with_iban(data: &LedgerData, iban: &str) -> LedgerData {
        let mut forged = data.clone();
        forged.state.parties.get_mut(PROVIDER).expect("the provider is registered").iban = Some(iban.into());
        forged
    }

    #[test]
    fn an_honest_certified_snapshot_is_restored_at_its_certified_head() {
        let scenario = certified_by(&["cz", "menzis", "vgz"]);
        let data = scenario.ledger.data().clone();
        let restored = restore_certified(genesis(&scenario), data.clone()).expect("an honest certified snapshot proves itself");
        assert_eq!(restored.head(), scenario.ledger.head());
        assert_eq!(restored.data(), &data);
    }

    #[test]
    fn a_snapshot_without_leaves_proves_itself_only_as_the_genesis_state() {
        let scenario = Scenario::new("1000000.00");
        let empty = scenario.ledger.data().clone();
        assert_eq!(restore_certified(genesis(&scenario), empty.clone()).expect("genesis' own state").size(), 0);
        let mut forged = empty;
        forged.state.fund.intake_closed = Some(crate::date::Date::parse("2026-01-01", "test").expect("a date"));
        assert!(matches!(restore_certified(genesis(&scenario), forged), Err(SnapshotRefused::NotCertified(_))));
    }

    #[test]
    fn a_snapshot_with_a_forged_iban_in_its_state_is_refused() {
        let scenario = certified_by(&["cz", "menzis", "vgz"]);
        let forged = with_iban(scenario.ledger.data(), "NL02ABNA0123456789");
        match restore_certified(genesis(&scenario), forged) {
            // The head recorded at its size no longer matches the state.
            Err(SnapshotRefused::Damaged(message)) => assert!(message.contains("state digest"), "{message}"),
            other => panic!("expected the forged IBAN to be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_forged_state_digest_certified_by_only_two_of_four_nodes_is_refused() {
        let scenario = certified_by(&["cz", "menzis", "vgz"]);
        let mut forged = with_iban(scenario.ledger.data(), "NL02ABNA0123456789");
        let head = Head { size: 1, root: forged.merkle.root(), state_digest: forged.state.digest() };
        // The forger re-signs with the two node keys it holds and replaces the certificate.
        let statements = checkpoint_statements(scenario.ledger.genesis(), &head, &["cz", "menzis"]);
        forged.certification.heads = OrdMap::unit(1, head.clone());
        forged.certification.certified = OrdMap::unit(1, head);
        forged.certification.statements = OrdMap::unit(
            1,
            ["cz", "menzis"]
                .iter()
                .zip(&statements)
                .map(|(node, envelope)| (node.to_string(), StoredEnvelope::from_pb(envelope)))
                .collect(),
        );
        match restore_certified(genesis(&scenario), forged) {
            Err(SnapshotRefused::NotCertified(message)) => assert!(message.contains("signed by 2 node(s)"), "{message}"),
            other => panic!("expected a minority certificate to be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_quorum_certificate_for_another_state_digest_is_refused() {
        let scenario = certified_by(&["cz", "menzis", "vgz"]);
        let mut forged = with_iban(scenario.ledger.data(), "NL02ABNA0123456789");
        // Hide the recorded head: the certified one still names the honest digest.
        forged.certification.heads.clear();
        match restore_certified(genesis(&scenario), forged) {
            Err(SnapshotRefused::NotCertified(message)) => assert!(message.contains("state digest"), "{message}"),
            other => panic!("expected a digest mismatch to be refused, got {other:?}"),
        }
    }

    #[test]
    fn an_honest_but_uncertified_state_is_refused() {
        let scenario = certified_by(&["cz", "menzis"]);
        match restore_certified(genesis(&scenario), scenario.ledger.data().clone()) {
            Err(SnapshotRefused::NotCertified(message)) => assert!(message.contains("no certified checkpoint at its size 1"), "{message}"),
            other => panic!("expected an uncertified snapshot to be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_statement_filed_under_another_node_is_refused() {
        let scenario = certified_by(&["cz", "menzis", "vgz"]);
        let mut forged = scenario.ledger.data().clone();
        let statements = forged.certification.statements.get_mut(&1).unwrap();
        let menzis = statements.remove("menzis").unwrap();
        statements.insert("zk".into(), menzis);
        match restore_certified(genesis(&scenario), forged) {
            Err(SnapshotRefused::NotCertified(message)) => assert!(message.contains("filed under node zk"), "{message}"),
            other => panic!("expected a misfiled statement to be refused, got {other:?}"),
        }
    }
}
