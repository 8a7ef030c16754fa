//! What `audit verify` found: the [`Report`] (also its `--json` form) and its text form.

use fairshare_protocol::pb;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::exit;

/// The result of verifying one export. Serialised as is for `--json`; hashes are hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True only when there are no findings and no evidence.
    pub ok: bool,
    /// The process exit code `audit verify` ends with (see [`exit`]).
    pub exit_code: i32,
    pub ledger_id: String,
    pub genesis_hash: String,
    /// The node the export came from, as its header says.
    pub exported_from: String,
    /// The re-executed log: leaves, Merkle root and state digest after the last block.
    pub size: u64,
    pub root: String,
    pub state_digest: String,
    /// The newest checkpoint that a quorum of node signatures in the log certifies and
    /// that re-execution reproduces (0 and empty when none).
    pub certified_size: u64,
    pub certified_root: String,
    pub certified_state_digest: String,
    /// Leaves after the certified size: checked (signatures, rules) but vouched for by no quorum yet.
    pub uncertified_leaves: u64,
    pub checks: Checks,
    /// Tampering or damage, the first (earliest in the log) first. Empty when the log verifies.
    pub findings: Vec<Finding>,
    /// Signed proof that a node misbehaved (exit code 3 when there are no findings).
    pub evidence: Vec<EvidenceReport>,
    /// The nodes whose newest certified checkpoint the export was compared with
    /// (`--against`), each with that size. Empty: verified offline, and nothing says
    /// whether newer certified history exists.
    #[serde(default)]
    pub compared_with: Vec<String>,
}

/// What was checked, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checks {
    /// The genesis decodes, is canonical and hashes to the header's genesis hash.
    pub genesis: bool,
    /// The genesis hash equals the one the auditor pinned with --genesis (None: not pinned).
    pub genesis_pinned: Option<bool>,
    pub blocks: u64,
    pub envelopes: u64,
    /// Envelopes whose signature verified against the genesis key of their signer.
    pub signatures_verified: u64,
    /// Envelopes refused: garbage, unknown signer or bad signature. Honest nodes refuse
    /// these before the log, so each is a finding.
    pub refused: u64,
    /// Transactions re-executed into leaves, and their verdicts.
    pub leaves: u64,
    pub applied: u64,
    pub rejected: u64,
    /// Resubmissions of a transaction already in the log (not leaves; normal after a leader change).
    pub duplicates: u64,
    /// Authentic checkpoint signatures by node keys.
    pub checkpoint_statements: u64,
    /// Of those, compared with a re-executed head (size, Merkle root, state digest) and equal.
    pub checkpoint_statements_matching: u64,
    /// Sizes at which re-execution recorded a head because a checkpoint signature names them.
    pub heads_recorded: u64,
    /// Checkpoints certified by a quorum of matching signatures after re-execution.
    pub certified_checkpoints: u64,
    /// The trailer (the exporting node's own size, root and certified size) agrees with the log.
    pub trailer: bool,
}

/// One thing that is wrong with the log or the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// A stable name: bad_envelope, history_altered, certificate_short, truncated, …
    pub kind: String,
    /// The Raft log index of the block at fault, or where a range of suspect blocks starts.
    pub log_index: Option<u64>,
    /// For a range: the block where the damage is certain (a disagreeing checkpoint's).
    pub up_to_log_index: Option<u64>,
    /// Leaf index of the transaction, if it is (or would have been) a leaf.
    pub leaf: Option<u64>,
    /// Hex id (SHA-256 of signer and body) of the transaction at fault, if one is known.
    pub transaction_id: Option<String>,
    pub what: String,
    /// For a range: transactions in it that were rejected, the likeliest places to look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<Suspect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspect {
    pub log_index: u64,
    pub leaf: u64,
    pub transaction_id: String,
    pub why: String,
}

impl Finding {
    pub fn at(kind: &str, log_index: Option<u64>, what: String) -> Finding {
        Finding { kind: kind.into(), log_index, up_to_log_index: None, leaf: None, transaction_id: None, what, suspects: Vec::new() }
    }

    /// Where the finding is certain: findings are reported in this order.
    pub fn certain_at(&self) -> u64 {
        self.up_to_log_index.or(self.log_index).unwrap_or(u64::MAX)
    }
}

/// Proof against one node: statements it signed that cannot all be true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReport {
    pub node: String,
    pub size: u64,
    /// conflicting_statements (two different checkpoints for one size) or
    /// contradicts_certified_log (a checkpoint that differs from the certified history).
    pub kind: String,
    pub what: String,
    /// The node's signed statements (and, for contradicts_certified_log, the certificate it contradicts).
    pub statements: Vec<SignedStatement>,
}

/// A signed envelope in hex, with its checkpoint decoded for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStatement {
    pub signer: String,
    /// The signed body bytes (an encoded `Transaction`), hex.
    pub body: String,
    /// ed25519 over `body`, hex.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub size: u64,
    pub root: String,
    pub state_digest: String,
}

impl CheckpointView {
    pub fn of(checkpoint: &pb::Checkpoint) -> CheckpointView {
        CheckpointView { size: checkpoint.size, root: hex::encode(&checkpoint.root), state_digest: hex::encode(&checkpoint.state_digest) }
    }
}

impl SignedStatement {
    pub fn of(envelope: &pb::Envelope) -> SignedStatement {
        let checkpoint = pb::Transaction::decode(envelope.body.as_slice()).ok().and_then(|transaction| match transaction.kind {
            Some(pb::transaction::Kind::CheckpointSigned(signed)) => signed.checkpoint.as_ref().map(CheckpointView::of),
            _ => None,
        });
        SignedStatement {
            signer: envelope.signer.clone(),
            body: hex::encode(&envelope.body),
            signature: hex::encode(&envelope.signature),
            checkpoint,
        }
    }

    /// Back to the envelope; `None` if the hex is not hex.
    pub fn to_envelope(&self) -> Option<pb::Envelope> {
        Some(pb::Envelope {
            body: hex::decode(&self.body).ok()?,
            signer: self.signer.clone(),
            signature: hex::decode(&self.signature).ok()?,
        })
    }
}

impl Report {
    /// Sets `ok` and `exit_code` from the findings and evidence.
    pub fn conclude(&mut self) {
        self.findings.sort_by_key(Finding::certain_at);
        self.exit_code = if !self.findings.is_empty() {
            exit::DOES_NOT_VERIFY
        } else if !self.evidence.is_empty() {
            exit::EVIDENCE
        } else {
            exit::VERIFIED
        };
        self.ok = self.exit_code == exit::VERIFIED;
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let mut line = |value: String| {
            text.push_str(&value);
            text.push('\n');
        };
        let checks = &self.checks;
        line(format!("ledger {} (genesis {}), exported from {}", self.ledger_id, short(&self.genesis_hash), self.exported_from));
        let pinned = match checks.genesis_pinned {
            Some(true) => ", equal to the pinned one",
            Some(false) => ", NOT the pinned one",
            None => " (not pinned: pass --genesis FILE to check it is the ledger you mean)",
        };
        line(format!("  genesis:      {}{pinned}", if checks.genesis { "decodes, canonical, hash matches" } else { "FAILED" }));
        line(format!(
            "  signatures:   {} of {} envelopes in {} blocks verified against the genesis keys; {} refused",
            checks.signatures_verified, checks.envelopes, checks.blocks, checks.refused
        ));
        line(format!(
            "  re-executed:  {} leaves from genesis: {} applied, {} rejected; {} duplicates",
            checks.leaves, checks.applied, checks.rejected, checks.duplicates
        ));
        line(format!(
            "  checkpoints:  {} signed statements, {} equal to the re-executed head (size, root, state digest) at {} sizes; {} certified by a quorum",
            checks.checkpoint_statements, checks.checkpoint_statements_matching, checks.heads_recorded, checks.certified_checkpoints
        ));
        line(format!(
            "  trailer:      {}",
            if checks.trailer { "agrees with the log" } else { "does NOT agree with the log (or is missing)" }
        ));
        line(format!("  head:         size {} root {} state digest {}", self.size, short(&self.root), short(&self.state_digest)));
        line(format!(
            "  certified:    size {} root {} ({} leaves after it are not certified yet)",
            self.certified_size,
            short(&self.certified_root),
            self.uncertified_leaves
        ));
        if self.compared_with.is_empty() {
            line("  nodes:        not compared (offline): pass --against URL (or --against config) to check that no newer certified history is withheld".into());
        }
        for compared in &self.compared_with {
            line(format!("  compared:     {compared}"));
        }
        for (number, finding) in self.findings.iter().enumerate() {
            let place = match (finding.log_index, finding.up_to_log_index) {
                (Some(from), Some(to)) if from != to => format!("log index {from}..{to}"),
                (Some(index), _) | (None, Some(index)) => format!("log index {index}"),
                (None, None) => "the file".to_string(),
            };
            let leaf = finding.leaf.map(|leaf| format!(", leaf {leaf}")).unwrap_or_default();
            let id = finding.transaction_id.as_ref().map(|id| format!(", tx {id}")).unwrap_or_default();
            let label = match (number, finding.log_index, finding.up_to_log_index) {
                (0, Some(from), Some(to)) if from != to => "FIRST BAD RANGE",
                (0, _, _) => "FIRST BAD ENTRY",
                _ => "also",
            };
            line(format!("{label}: {place}{leaf}{id}: {}", finding.what));
            for suspect in &finding.suspects {
                line(format!(
                    "    suspect: log index {} leaf {} tx {}: {}",
                    suspect.log_index, suspect.leaf, suspect.transaction_id, suspect.why
                ));
            }
        }
        for evidence in &self.evidence {
            line(format!("EVIDENCE against node {}: {}", evidence.node, evidence.what));
            for statement in &evidence.statements {
                line(format!("    signed by {}: body {} signature {}", statement.signer, statement.body, statement.signature));
            }
        }
        line(match self.exit_code {
            exit::VERIFIED => "VERIFIED: every check holds".to_string(),
            exit::EVIDENCE => "VERIFIED, WITH EVIDENCE of node misbehaviour (exit code 3)".to_string(),
            _ => format!("DOES NOT VERIFY: {} finding(s)", self.findings.len()),
        });
        text
    }
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}
