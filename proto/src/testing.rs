//! Helpers for tests (here and in other crates, with the `testing` feature): a genesis of
//! four insurers with deterministic keys, and a [`Scenario`] that signs and applies.
//! Deterministic keys are for tests only: real keys come from `fairshare keygen`.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::envelope::seal;
use crate::genesis::{node_signer, GenesisFile, KeyFile, MemberFile, SectorFile};
use crate::ledger::{Head, Ledger, Verdict};
use crate::pb::{self, transaction::Kind};
use crate::Genesis;

pub const INSURERS: [&str; 4] = ["cz", "menzis", "vgz", "zk"];

/// A key derived from a name: reproducible, and useless outside tests.
pub fn test_key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("fairshare test key {name}")).into())
}

pub fn genesis_file(fund: &str) -> GenesisFile {
    let member = |id: &str, name: &str, node: bool| MemberFile {
        id: id.into(),
        name: name.into(),
        public_key: hex::encode(test_key(id).verifying_key().to_bytes()),
        node_key: node.then(|| hex::encode(test_key(&node_signer(id)).verifying_key().to_bytes())),
    };
    let sector = |id: &str, group: &str, earmark: &str| SectorFile {
        id: id.into(),
        name: id.to_uppercase(),
        key_group: group.into(),
        earmark: earmark.into(),
    };
    let shares = |values: [&str; 4]| INSURERS.iter().zip(values).map(|(insurer, share)| (insurer.to_string(), share.to_string())).collect();
    GenesisFile {
        ledger_id: "iza-test".into(),
        fund: fund.into(),
        ministry: member("vws", "Ministerie van VWS", false),
        insurers: INSURERS.iter().map(|id| member(id, &id.to_uppercase(), true)).collect(),
        regulators: vec![member("nza", "NZa", false)],
        sectors: vec![
            sector("msz", "somatic", "940000000.00"),
            sector("ggz", "ggz", "160000000.00"),
            sector("hamdz", "somatic", "160000000.00"),
            sector("wijk", "somatic", "140000000.00"),
        ],
        keys: vec![
            KeyFile { key_group: "somatic".into(), valid_from: "2023-01-01".into(), shares: shares(["0.2537", "0.1", "0.2463", "0.4"]) },
            KeyFile { key_group: "ggz".into(), valid_from: "2023-01-01".into(), shares: shares(["0.25", "0.25", "0.25", "0.25"]) },
        ],
    }
}

/// Genesis with four insurers, NZa and VWS, and every key by its id ("zk", "node:zk").
pub fn genesis_with_keys() -> (Genesis, BTreeMap<String, SigningKey>) {
    let genesis = genesis_file("1000000.00").build().expect("the test genesis is valid");
    (genesis, all_keys())
}

fn all_keys() -> BTreeMap<String, SigningKey> {
    let mut keys = BTreeMap::new();
    for id in INSURERS {
        keys.insert(id.to_string(), test_key(id));
        keys.insert(node_signer(id), test_key(&node_signer(id)));
    }
    for id in ["vws", "nza"] {
        keys.insert(id.to_string(), test_key(id));
    }
    keys
}

pub fn transaction(genesis: &Genesis, nonce: u64, kind: Kind) -> pb::Transaction {
    pb::Transaction { ledger_id: genesis.ledger_id.clone(), nonce, kind: Some(kind) }
}

/// The checkpoint statements of `nodes` (insurer ids) for `head`, signed with their node
/// keys and nonce `head.size`, as `fairshare-node`'s checkpoint signer builds them.
pub fn checkpoint_statements(genesis: &Genesis, head: &Head, nodes: &[&str]) -> Vec<pb::Envelope> {
    nodes
        .iter()
        .map(|node| {
            let kind = Kind::CheckpointSigned(pb::CheckpointSigned {
                node: node.to_string(),
                checkpoint: Some(head.to_checkpoint(&genesis.ledger_id)),
            });
            seal(&transaction(genesis, head.size, kind), &node_signer(node), &test_key(&node_signer(node)))
        })
        .collect()
}

/// A ledger driven one signed transaction per block.
pub struct Scenario {
    pub ledger: Ledger,
    pub keys: BTreeMap<String, SigningKey>,
    nonce: u64,
}

impl Scenario {
    pub fn new(fund: &str) -> Scenario {
        let genesis = genesis_file(fund).build().expect("the test genesis is valid");
        Scenario { ledger: Ledger::new(Arc::new(genesis)), keys: all_keys(), nonce: 0 }
    }

    pub fn envelope(&mut self, signer: &str, kind: Kind) -> pb::Envelope {
        self.nonce += 1;
        let body = transaction(self.ledger.genesis(), self.nonce, kind);
        seal(&body, signer, &self.keys[signer])
    }

    /// Signs, applies in a block of its own, and returns the verdict.
    pub fn submit(&mut self, signer: &str, kind: Kind) -> Verdict {
        let envelope = self.envelope(signer, kind);
        self.apply(envelope)
    }

    pub fn apply(&mut self, envelope: pb::Envelope) -> Verdict {
        let mut outcomes = self.ledger.apply_block(&pb::Block { envelopes: vec![envelope] });
        outcomes.pop().expect("one envelope, one outcome").verdict
    }

    /// Submits and panics unless applied.
    #[track_caller]
    pub fn ok(&mut self, signer: &str, kind: Kind) {
        match self.submit(signer, kind) {
            Verdict::Applied { .. } => {}
            other => panic!("expected the transaction to apply, got {other:?}"),
        }
    }

    /// Submits, expects a rejection with `code`, and checks the state did not change.
    #[track_caller]
    pub fn rejected(&mut self, signer: &str, kind: Kind, code: pb::ReasonCode) -> String {
        let before = self.ledger.state().clone();
        match self.submit(signer, kind) {
            Verdict::Rejected { rejection, .. } => {
                assert_eq!(rejection.code, code, "wrong reason: {}", rejection.message);
                let mut after = self.ledger.state().clone();
                // Recording the verdict is the only change a rejection makes.
                after.transactions = before.transactions.clone();
                after.leaf_ids = before.leaf_ids.clone();
                after.nonces = before.nonces.clone();
                after.leaves_digest = before.leaves_digest;
                after.rejections = before.rejections.clone();
                assert_eq!(after, before, "a rejection must change nothing");
                rejection.message
            }
            other => panic!("expected a rejection {code:?}, got {other:?}"),
        }
    }
}
