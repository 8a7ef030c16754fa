//! The regulator's observer (issue 14, item 6): follows every node's log live, verifies
//! every signature, re-executes the rules, checks every certified checkpoint against its
//! own state, and raises evidence the moment something disagrees.
//!
//! It is not a Raft member: it reads each node's `AuditLog` stream (`follow`) as the
//! regulator's own genesis identity. So it needs no membership change on the ledger, and it
//! sees what *every* node serves, not only what a leader sends: one node (the *primary*)
//! is re-executed, and every other node's blocks are compared with the primary's, log index
//! by log index (SHA-256 of the block's bytes).
//!
//! Attribution, once certification settles it:
//! - **a quorum of nodes signed a head that the primary's blocks do not re-execute to**:
//!   the primary served a history other than the certified one (evidence against the
//!   primary; the observer halts, and its runner starts over with another primary);
//! - **a node served a block that differs from (or is missing in) the primary's** at a log
//!   index the certified history covers: evidence against that node the moment the
//!   difference is seen ("divergent"), and again, attributed, once the primary's history
//!   there is certified;
//! - **a node signed a head that differs from the re-executed log** where a quorum certified
//!   the re-executed one: evidence against that node;
//! - **a block with an envelope that is not authentic or not canonical, or bytes that are
//!   not a block**: honest nodes never log one, so the primary that served it is named.
//!
//! Pure logic, no I/O: `fairshare observe` (in `cmd/observe.rs`) feeds it the streams.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fairshare_protocol::envelope::decode_block;
use fairshare_protocol::pb::{self, transaction::Kind, ReasonCode};
use fairshare_protocol::{Genesis, Ledger, Verdict};
use prost::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Blocks of other nodes kept until the primary reaches their log index, per node.
const AHEAD_MAX: usize = 10_000;

/// Something a node did that an honest node never does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedEvidence {
    /// The node it names.
    pub node: String,
    /// divergent_block, altered_history, bad_block, wrong_checkpoint, conflicting_checkpoints
    pub kind: String,
    pub log_index: Option<u64>,
    pub size: Option<u64>,
    pub what: String,
}

/// How far the observer has verified: what `fairshare observe` serves as status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObserverStatus {
    /// The node whose blocks are re-executed.
    pub primary: String,
    /// The last log index re-executed.
    pub verified_log_index: u64,
    /// Leaves re-executed (every signature verified, every rule applied).
    pub verified_size: u64,
    /// The newest checkpoint a quorum of nodes certified that equals the re-executed head.
    pub certified_size: u64,
    pub certified_root: String,
    pub envelopes_verified: u64,
    /// Per node: the newest log index it served.
    pub nodes: BTreeMap<String, u64>,
    pub evidence: Vec<ObservedEvidence>,
    /// Why the observer stopped re-executing the primary's blocks, if it did.
    pub halted: Option<String>,
}

/// The observer's state: see the module documentation.
pub struct Observer {
    ledger: Ledger,
    primary: String,
    /// The primary's blocks: log index → (hash of its bytes, leaves after it).
    applied: BTreeMap<u64, ([u8; 32], u64)>,
    /// Other nodes' blocks beyond the primary's last applied index.
    ahead: BTreeMap<String, BTreeMap<u64, [u8; 32]>>,
    /// Node → the first log index where it served something else than the primary.
    divergent: BTreeMap<String, u64>,
    /// Divergences already attributed (node, log index).
    attributed: BTreeSet<(String, u64)>,
    /// The ledger's evidence entries already looked at.
    evidence_seen: usize,
    /// size → nodes whose statement for that size differs from the re-executed head.
    disagreeing: BTreeMap<u64, BTreeSet<String>>,
    status: ObserverStatus,
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Observer {
    pub fn new(genesis: Arc<Genesis>, primary: &str) -> Observer {
        Observer {
            ledger: Ledger::new(genesis),
            primary: primary.to_string(),
            applied: BTreeMap::new(),
            ahead: BTreeMap::new(),
            divergent: BTreeMap::new(),
            attributed: BTreeSet::new(),
            evidence_seen: 0,
            disagreeing: BTreeMap::new(),
            status: ObserverStatus { primary: primary.to_string(), ..ObserverStatus::default() },
        }
    }

    /// Evidence raised before a restart with another primary stays on record.
    pub fn carry_evidence(&mut self, evidence: Vec<ObservedEvidence>) {
        self.status.evidence.splice(0..0, evidence);
    }

    pub fn status(&self) -> &ObserverStatus {
        &self.status
    }

    pub fn primary(&self) -> &str {
        &self.primary
    }

    /// The block at `log_index` as `node` served it. Returns the evidence it raised.
    pub fn receive(&mut self, node: &str, log_index: u64, bytes: &[u8]) -> Vec<ObservedEvidence> {
        let before = self.status.evidence.len();
        let seen = self.status.nodes.entry(node.to_string()).or_default();
        *seen = (*seen).max(log_index);
        if node == self.primary {
            if self.status.halted.is_none() {
                self.apply(log_index, bytes);
            }
        } else {
            self.compare(node, log_index, hash(bytes));
        }
        self.status.evidence[before..].to_vec()
    }

    fn raise(&mut self, node: &str, kind: &str, log_index: Option<u64>, size: Option<u64>, what: String) {
        self.status.evidence.push(ObservedEvidence { node: node.to_string(), kind: kind.into(), log_index, size, what });
    }

    fn last_applied(&self) -> u64 {
        self.applied.keys().next_back().copied().unwrap_or(0)
    }

    /// Another node's block: compared with the primary's at that index, or kept until the
    /// primary gets there.
    fn compare(&mut self, node: &str, log_index: u64, block: [u8; 32]) {
        if log_index <= self.last_applied() {
            if self.applied.get(&log_index).map(|(primary, _)| *primary) != Some(block) {
                self.diverged(node, log_index);
            }
            return;
        }
        let ahead = self.ahead.entry(node.to_string()).or_default();
        if ahead.len() < AHEAD_MAX {
            ahead.insert(log_index, block);
        }
    }

    fn diverged(&mut self, node: &str, log_index: u64) {
        if self.divergent.contains_key(node) {
            return; // once per node: everything after the first difference differs too
        }
        self.divergent.insert(node.to_string(), log_index);
        let primary = self.primary.clone();
        let what = format!(
            "node {node} served a block at log index {log_index} that differs from the one node {primary} served (or that {primary} does not have); the certified history will tell which of the two altered it"
        );
        self.raise(node, "divergent_block", Some(log_index), None, what);
        self.attribute();
    }

    fn apply(&mut self, log_index: u64, bytes: &[u8]) {
        let last = self.last_applied();
        if log_index <= last {
            if self.applied.get(&log_index).map(|(primary, _)| *primary) != Some(hash(bytes)) {
                let what = format!("node {} served two different blocks for log index {log_index}", self.primary);
                let primary = self.primary.clone();
                self.raise(&primary, "divergent_block", Some(log_index), None, what);
            }
            return;
        }
        let primary = self.primary.clone();
        let replicated = match decode_block(bytes) {
            Ok(replicated) => replicated,
            Err(malformed) => {
                let what = format!("node {primary} served bytes at log index {log_index} that are not a block: {malformed}");
                self.raise(&primary, "bad_block", Some(log_index), None, what);
                self.halt(format!("node {primary} served a malformed block at log index {log_index}"));
                return;
            }
        };
        let outcomes = self.ledger.apply_replicated(&replicated);
        self.status.envelopes_verified += outcomes.len() as u64;
        for (position, outcome) in outcomes.iter().enumerate() {
            if let Verdict::CheckpointIgnored { rejection } = &outcome.verdict {
                if rejection.code == ReasonCode::UnknownCheckpoint {
                    self.unknown_size(&replicated.block.envelopes[position]);
                }
            }
            if let Verdict::Refused { rejection } = &outcome.verdict {
                let what = format!(
                    "node {primary} served a block at log index {log_index} whose envelope {position} is refused ({}: {}); honest nodes never log one",
                    rejection.code.as_str_name(),
                    rejection.message
                );
                self.raise(&primary, "bad_block", Some(log_index), None, what);
            }
        }
        self.applied.insert(log_index, (hash(bytes), self.ledger.size()));
        self.status.verified_log_index = log_index;
        self.status.verified_size = self.ledger.size();
        // What the other nodes served up to here: a block the primary has not (skipped
        // indexes) or a different one is a divergence.
        let nodes: Vec<String> = self.ahead.keys().cloned().collect();
        for node in nodes {
            let ahead = self.ahead.get_mut(&node).expect("listed");
            let reached: Vec<(u64, [u8; 32])> = ahead.range(..=log_index).map(|(&index, &block)| (index, block)).collect();
            for (index, _) in &reached {
                ahead.remove(index);
            }
            for (index, block) in reached {
                if self.applied.get(&index).map(|(primary, _)| *primary) != Some(block) {
                    self.diverged(&node, index);
                }
            }
        }
        self.check_certification();
    }

    /// A node's statement for a size that is no head of the re-executed log: above the
    /// newest certified size, such a size is one the node's log has and this one has not
    /// (a block end elsewhere, or leaves this log lacks), so it disagrees like a statement
    /// with another root. (At or below it, the size is merely settled.)
    fn unknown_size(&mut self, envelope: &pb::Envelope) {
        let Ok(pb::Transaction { kind: Some(Kind::CheckpointSigned(signed)), .. }) = pb::Transaction::decode(envelope.body.as_slice())
        else {
            return;
        };
        let Some(checkpoint) = signed.checkpoint else { return };
        let certified = self.ledger.certification().latest_certified().map_or(0, |head| head.size);
        if checkpoint.size > certified && envelope.signer == fairshare_protocol::genesis::node_signer(&signed.node) {
            self.disagreeing.entry(checkpoint.size).or_default().insert(signed.node);
        }
    }

    /// New checkpoint evidence in the re-executed ledger, weighed against certification.
    fn check_certification(&mut self) {
        let quorum = self.ledger.genesis().quorum();
        let evidence: Vec<_> = self.ledger.certification().evidence[self.evidence_seen..].to_vec();
        self.evidence_seen += evidence.len();
        for found in evidence {
            if found.what.contains("two different checkpoints") {
                let what = format!("{} (signed statements in the log)", found.what);
                self.raise(&found.node, "conflicting_checkpoints", None, Some(found.size), what);
            } else {
                self.disagreeing.entry(found.size).or_default().insert(found.node);
            }
        }
        if let Some((&size, nodes)) = self.disagreeing.iter().find(|(_, nodes)| nodes.len() >= quorum) {
            let primary = self.primary.clone();
            let since = self.ledger.certification().latest_certified().map_or(0, |head| head.size);
            let first = self.applied.iter().find(|(_, (_, leaves))| *leaves > since).map_or(0, |(&index, _)| index);
            let what = format!(
                "the blocks node {primary} served do not re-execute to the checkpoint that {} (a quorum) signed for size {size}: {primary} served another history than the certified one, altered after size {since} (from log index {first} on)",
                nodes.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            self.raise(&primary, "altered_history", Some(first), Some(size), what);
            self.halt(format!("node {primary} served a history that contradicts the certified one"));
            return;
        }
        let Some(certified) = self.ledger.certification().latest_certified().cloned() else { return };
        self.status.certified_size = certified.size;
        self.status.certified_root = hex::encode(certified.root);
        let settled: Vec<u64> = self.disagreeing.range(..=certified.size).map(|(&size, _)| size).collect();
        for size in settled {
            for node in self.disagreeing.remove(&size).unwrap_or_default() {
                let what = format!(
                    "node {node} signed a root or state digest for size {size} that differs from the re-executed log, which a quorum certified up to size {}",
                    certified.size
                );
                self.raise(&node, "wrong_checkpoint", None, Some(size), what);
            }
        }
        self.attribute();
    }

    /// Divergences at log indexes the certified history now covers: the other node altered.
    fn attribute(&mut self) {
        let certified = self.status.certified_size;
        let settled: Vec<(String, u64)> = self
            .divergent
            .iter()
            .filter(|(node, index)| {
                certified > 0
                    && !self.attributed.contains(&((*node).clone(), **index))
                    && self.applied.get(index).is_some_and(|(_, leaves)| *leaves <= certified)
            })
            .map(|(node, index)| (node.clone(), *index))
            .collect();
        for (node, index) in settled {
            self.attributed.insert((node.clone(), index));
            let what = format!(
                "node {node} served a block at log index {index} that differs from the history a quorum certified (up to size {certified}): it altered the log it serves"
            );
            self.raise(&node, "altered_history", Some(index), Some(certified), what);
        }
    }

    fn halt(&mut self, why: String) {
        self.status.halted.get_or_insert(why);
    }

    /// The status as Prometheus text.
    pub fn metrics(&self) -> String {
        let status = &self.status;
        let mut text = String::new();
        let mut gauge = |name: &str, help: &str, value: u64| {
            text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
        };
        gauge("fairshare_observer_verified_log_index", "The last log index the observer re-executed.", status.verified_log_index);
        gauge(
            "fairshare_observer_verified_size",
            "Leaves re-executed: every signature verified, every rule applied.",
            status.verified_size,
        );
        gauge("fairshare_observer_certified_size", "The newest certified checkpoint equal to the re-executed head.", status.certified_size);
        gauge("fairshare_observer_envelopes_verified", "Envelopes verified and re-executed.", status.envelopes_verified);
        gauge("fairshare_observer_evidence", "Evidence raised against nodes.", status.evidence.len() as u64);
        gauge("fairshare_observer_halted", "1 when the primary's history was found altered.", u64::from(status.halted.is_some()));
        text
    }
}
