//! Proof files: an inclusion proof of one transaction, or a consistency proof between two
//! certified sizes, each with the certificate (the quorum of node-signed checkpoints) of the
//! checkpoints it is against and the genesis whose keys check those signatures. A proof
//! file is checked offline with [`check`]; the file format is in [`crate::audit`]'s docs.

use std::collections::BTreeMap;

use fairshare_api::v1::{AuditBlock, InclusionProofResponse};
use fairshare_protocol::envelope::{envelope_leaf_hash, open, transaction_id};
use fairshare_protocol::genesis::Role;
use fairshare_protocol::ledger;
use fairshare_protocol::merkle::{verify_consistency, verify_inclusion, Hash};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::Genesis;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::fetch::{FetchError, Node};
use super::report::SignedStatement;
use crate::connection::Connection;

pub const INCLUSION_FORMAT: &str = "fairshare-inclusion-proof/1";
pub const CONSISTENCY_FORMAT: &str = "fairshare-consistency-proof/1";

/// A checkpoint and the node signatures that certify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedCheckpoint {
    pub size: u64,
    pub root: String,
    pub state_digest: String,
    /// `CheckpointSigned` envelopes by node keys, at least a quorum of distinct nodes.
    pub certificate: Vec<SignedStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub format: String,
    pub ledger_id: String,
    pub genesis_hash: String,
    /// The canonical encoded `fairshare.ledger.v1.Genesis`, hex: its keys check every signature.
    pub genesis: String,
    pub made_from: String,
    pub transaction_id: String,
    /// The transaction itself, as signed by its author.
    pub envelope: SignedStatement,
    pub leaf_index: u64,
    /// RFC 6962 leaf hash of the encoded envelope.
    pub leaf_hash: String,
    /// The audit path, leaf to root (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
    pub checkpoint: CertifiedCheckpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub format: String,
    pub ledger_id: String,
    pub genesis_hash: String,
    pub genesis: String,
    pub made_from: String,
    pub old: CertifiedCheckpoint,
    pub new: CertifiedCheckpoint,
    /// RFC 9162 §2.1.4 consistency proof from `old.size` to `new.size`.
    pub proof: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofFile {
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
}

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Unprovable(String),
    #[error("{path} is not a fairshare proof file: {problem}")]
    Malformed { path: String, problem: String },
}

impl From<crate::connection::ClientError> for ProofError {
    fn from(error: crate::connection::ClientError) -> ProofError {
        ProofError::Fetch(error.into())
    }
}

impl ProofFile {
    /// Parses a proof file, telling the kinds apart by their `format`.
    pub fn parse(path: &str, text: &str) -> Result<ProofFile, ProofError> {
        let malformed = |problem: String| ProofError::Malformed { path: path.to_string(), problem };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|error| malformed(error.to_string()))?;
        match value.get("format").and_then(|format| format.as_str()) {
            Some(INCLUSION_FORMAT) => serde_json::from_value(value).map(ProofFile::Inclusion).map_err(|error| malformed(error.to_string())),
            Some(CONSISTENCY_FORMAT) => {
                serde_json::from_value(value).map(ProofFile::Consistency).map_err(|error| malformed(error.to_string()))
            }
            other => Err(malformed(format!("format {other:?}; expected \"{INCLUSION_FORMAT}\" or \"{CONSISTENCY_FORMAT}\""))),
        }
    }

    pub fn to_json(&self) -> String {
        let json = match self {
            ProofFile::Inclusion(proof) => serde_json::to_string_pretty(proof),
            ProofFile::Consistency(proof) => serde_json::to_string_pretty(proof),
        };
        json.expect("proof files serialise")
    }
}

/// The outcome of checking a proof file offline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofCheck {
    pub ok: bool,
    pub kind: String,
    /// What held, in the order checked.
    pub checked: Vec<String>,
    /// The first thing that did not hold.
    pub problem: Option<String>,
}

fn hash_of(hex_text: &str, what: &str) -> Result<Hash, String> {
    let bytes = hex::decode(hex_text).map_err(|_| format!("{what} is not hex"))?;
    bytes.try_into().map_err(|_| format!("{what} is not 32 bytes"))
}

fn genesis_of(genesis_hex: &str, genesis_hash: &str, pinned: Option<&Genesis>, checked: &mut Vec<String>) -> Result<Genesis, String> {
    let bytes = hex::decode(genesis_hex).map_err(|_| "the genesis is not hex".to_string())?;
    let canonical = pb::Genesis::decode(bytes.as_slice()).map_err(|error| format!("the genesis does not decode: {error}"))?;
    let genesis = Genesis::from_pb(&canonical).map_err(|error| format!("the genesis is not valid: {error}"))?;
    if hex::encode(genesis.hash()) != genesis_hash.to_lowercase() {
        return Err(format!("the genesis hashes to {}, not to the stated {genesis_hash}", hex::encode(genesis.hash())));
    }
    match pinned {
        Some(pinned) if pinned.hash() != genesis.hash() => {
            return Err(format!(
                "the proof is for genesis {}, not for the pinned genesis {}",
                hex::encode(genesis.hash()),
                hex::encode(pinned.hash())
            ))
        }
        Some(_) => checked.push(format!("genesis {genesis_hash} is the pinned one")),
        None => checked.push(format!("genesis {genesis_hash} (not pinned: pass --genesis FILE to check it is the ledger you mean)")),
    }
    Ok(genesis)
}

/// Checks a certificate: every signature against the genesis node keys, every statement
/// for exactly this checkpoint, and a quorum of distinct nodes.
fn check_certificate(genesis: &Genesis, certified: &CertifiedCheckpoint) -> Result<String, String> {
    let expected = pb::Checkpoint {
        ledger_id: genesis.ledger_id.clone(),
        size: certified.size,
        root: hash_of(&certified.root, "the checkpoint root")?.to_vec(),
        state_digest: hash_of(&certified.state_digest, "the checkpoint state digest")?.to_vec(),
    };
    let mut statements = Vec::with_capacity(certified.certificate.len());
    for (position, statement) in certified.certificate.iter().enumerate() {
        statements.push(statement.to_envelope().ok_or_else(|| format!("certificate statement {position} is not hex"))?);
    }
    // The ledger's own rule for a certificate (signatures, node keys, one checkpoint, quorum).
    let nodes = ledger::check_certificate(genesis, &expected, &statements).map_err(|rejection| rejection.message)?;
    Ok(format!(
        "checkpoint of size {} (root {}) certified by {} of {} nodes: {}",
        certified.size,
        &certified.root[..16.min(certified.root.len())],
        nodes.len(),
        genesis.insurers.len(),
        nodes.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

fn proof_hashes(proof: &[String]) -> Result<Vec<Hash>, String> {
    proof.iter().enumerate().map(|(position, hash)| hash_of(hash, &format!("proof hash {position}"))).collect()
}

/// Checks a proof file offline: with the genesis it carries (or `pinned`, which it must equal).
pub fn check(file: &ProofFile, pinned: Option<&Genesis>) -> ProofCheck {
    let mut checked = Vec::new();
    let (kind, result) = match file {
        ProofFile::Inclusion(proof) => ("inclusion", check_inclusion(proof, pinned, &mut checked)),
        ProofFile::Consistency(proof) => ("consistency", check_consistency(proof, pinned, &mut checked)),
    };
    ProofCheck { ok: result.is_ok(), kind: kind.to_string(), checked, problem: result.err() }
}

fn check_inclusion(proof: &InclusionProof, pinned: Option<&Genesis>, checked: &mut Vec<String>) -> Result<(), String> {
    if proof.format != INCLUSION_FORMAT {
        return Err(format!("format {} is not {INCLUSION_FORMAT}", proof.format));
    }
    let genesis = genesis_of(&proof.genesis, &proof.genesis_hash, pinned, checked)?;
    let envelope = proof.envelope.to_envelope().ok_or("the envelope is not hex")?;
    let transaction = open(&envelope, &genesis).map_err(|rejection| format!("the transaction's signature does not verify: {rejection}"))?;
    checked.push(format!("transaction signed by '{}' (signature verified)", transaction.signer));
    if hex::encode(transaction_id(&envelope)) != proof.transaction_id.to_lowercase() {
        return Err(format!("the envelope's id is {}, not the stated {}", hex::encode(transaction_id(&envelope)), proof.transaction_id));
    }
    let leaf = envelope_leaf_hash(&envelope);
    if leaf != hash_of(&proof.leaf_hash, "the leaf hash")? {
        return Err("the leaf hash is not the hash of the envelope".into());
    }
    checked.push(format!("transaction {} hashes to leaf {}", proof.transaction_id, proof.leaf_hash));
    checked.push(check_certificate(&genesis, &proof.checkpoint)?);
    let root = hash_of(&proof.checkpoint.root, "the checkpoint root")?;
    if !verify_inclusion(&leaf, proof.leaf_index, proof.checkpoint.size, &proof_hashes(&proof.proof)?, &root) {
        return Err(format!(
            "the audit path does not lead from leaf {} to the certified root at size {}: the transaction is not in that history",
            proof.leaf_index, proof.checkpoint.size
        ));
    }
    checked.push(format!(
        "leaf {} is in the certified log of size {} ({} proof hashes)",
        proof.leaf_index,
        proof.checkpoint.size,
        proof.proof.len()
    ));
    Ok(())
}

fn check_consistency(proof: &ConsistencyProof, pinned: Option<&Genesis>, checked: &mut Vec<String>) -> Result<(), String> {
    if proof.format != CONSISTENCY_FORMAT {
        return Err(format!("format {} is not {CONSISTENCY_FORMAT}", proof.format));
    }
    let genesis = genesis_of(&proof.genesis, &proof.genesis_hash, pinned, checked)?;
    checked.push(check_certificate(&genesis, &proof.old)?);
    checked.push(check_certificate(&genesis, &proof.new)?);
    let old_root = hash_of(&proof.old.root, "the old root")?;
    let new_root = hash_of(&proof.new.root, "the new root")?;
    if !verify_consistency(proof.old.size, proof.new.size, &old_root, &new_root, &proof_hashes(&proof.proof)?) {
        return Err(format!(
            "the log certified at size {} does not extend the one certified at size {}: history was rewritten in between (or the proof is wrong)",
            proof.new.size, proof.old.size
        ));
    }
    checked.push(format!("the certified log of size {} extends the certified log of size {}", proof.new.size, proof.old.size));
    Ok(())
}

/// Authentic checkpoint signatures found in a log, by size: (root, digest) → node → envelope.
type Statements = BTreeMap<u64, BTreeMap<(Vec<u8>, Vec<u8>), BTreeMap<String, pb::Envelope>>>;

fn collect_statement(genesis: &Genesis, sizes: &[u64], envelope: &pb::Envelope, statements: &mut Statements) {
    if !envelope.signer.starts_with("node:") {
        return;
    }
    let Ok(transaction) = open(envelope, genesis) else { return };
    if let (Kind::CheckpointSigned(signed), Role::Node(node)) = (&transaction.kind, &transaction.role) {
        if let Some(checkpoint) = signed.checkpoint.as_ref().filter(|checkpoint| sizes.contains(&checkpoint.size) && signed.node == *node) {
            let by_head = statements.entry(checkpoint.size).or_default();
            by_head
                .entry((checkpoint.root.clone(), checkpoint.state_digest.clone()))
                .or_default()
                .entry(node.clone())
                .or_insert_with(|| envelope.clone());
        }
    }
}

/// The certificate of `size` with `root` among the statements, if a quorum signed it.
fn certificate(genesis: &Genesis, statements: &Statements, size: u64, root: &[u8]) -> Result<CertifiedCheckpoint, ProofError> {
    let heads = statements.get(&size);
    let found =
        heads.into_iter().flatten().filter(|((signed_root, _), _)| signed_root.as_slice() == root).max_by_key(|(_, nodes)| nodes.len());
    match found {
        Some(((root, digest), nodes)) if nodes.len() >= genesis.quorum() => Ok(CertifiedCheckpoint {
            size,
            root: hex::encode(root),
            state_digest: hex::encode(digest),
            certificate: nodes.values().map(SignedStatement::of).collect(),
        }),
        found => Err(ProofError::Unprovable(format!(
            "size {size} is not certified in this node's log: {} matching node signature(s), {} needed; prove against a certified size ('fairshare status' shows the certified size)",
            found.map_or(0, |(_, nodes)| nodes.len()),
            genesis.quorum()
        ))),
    }
}

fn genesis_fields(canonical: &pb::Genesis) -> Result<(Genesis, String, String), ProofError> {
    let genesis =
        Genesis::from_pb(canonical).map_err(|error| ProofError::Unprovable(format!("the node's genesis is not valid: {error}")))?;
    let genesis_hex = hex::encode(canonical.encode_to_vec());
    let hash = hex::encode(genesis.hash());
    Ok((genesis, genesis_hex, hash))
}

/// Asks the first node that answers for an inclusion proof of a transaction against its
/// latest certified checkpoint, and finds the transaction and the certificate in its log.
///
/// `target` is what the node's `InclusionProof` takes: a transaction id, a unique prefix of
/// one, `leaf:N`, `obligation:ID` or `payment:ID` ([`target`] makes it from what a person
/// typed); the proof names the full transaction id the node resolved it to.
pub async fn prove_inclusion(connection: &Connection, target: &str) -> Result<InclusionProof, ProofError> {
    let mut node = Node::first(connection).await?;
    let canonical = node.genesis().await?;
    let (genesis, genesis_hex, genesis_hash) = genesis_fields(&canonical)?;
    let response = certified_inclusion(&mut node, target).await?;
    // A node from before prefixes were resolved answers without the id: it was given one.
    let transaction = if response.transaction_id.is_empty() { target.to_lowercase() } else { response.transaction_id.to_lowercase() };
    let mut statements = Statements::new();
    let mut envelope = None;
    node.scan_log(0, |AuditBlock { block, .. }| {
        let block = fairshare_protocol::envelope::decode_block(&block).map(|replicated| replicated.block).unwrap_or_default();
        for candidate in &block.envelopes {
            if envelope.is_none() && hex::encode(transaction_id(candidate)) == transaction {
                envelope = Some(candidate.clone());
            }
            collect_statement(&genesis, &[response.size], candidate, &mut statements);
        }
        Ok(())
    })
    .await?;
    let envelope =
        envelope.ok_or_else(|| ProofError::Unprovable(format!("transaction {transaction} is not in the log of {}", node.url)))?;
    let checkpoint = certificate(&genesis, &statements, response.size, &response.root)?;
    Ok(InclusionProof {
        format: INCLUSION_FORMAT.into(),
        ledger_id: genesis.ledger_id.clone(),
        genesis_hash,
        genesis: genesis_hex,
        made_from: node.url.clone(),
        transaction_id: transaction,
        envelope: SignedStatement::of(&envelope),
        leaf_index: response.index,
        leaf_hash: hex::encode(&response.leaf),
        proof: response.proof.iter().map(hex::encode).collect(),
        checkpoint,
    })
}

/// A just-recorded entry is certified within a second or so (an idle ledger signs its
/// last block end): how long `audit prove` waits for a certified checkpoint that covers it.
const CERTIFIED_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
const CERTIFIED_POLL: std::time::Duration = std::time::Duration::from_millis(250);
/// A node that has not applied an entry acknowledged a moment ago (a follower) answers
/// NOT_FOUND: asked again for this long before that answer stands.
const CAUGHT_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The node's inclusion proof of `target` within its newest certified checkpoint, waiting
/// (up to [`CERTIFIED_WAIT`]) while the entry is newer than that checkpoint.
async fn certified_inclusion(node: &mut Node, target: &str) -> Result<InclusionProofResponse, ProofError> {
    let started = tokio::time::Instant::now();
    let deadline = started + CERTIFIED_WAIT;
    loop {
        match node.inclusion_proof(target, 0).await {
            Err(crate::connection::ClientError::Rpc { code: tonic::Code::NotFound, .. }) if started.elapsed() < CAUGHT_UP_WAIT => {
                tokio::time::sleep(CERTIFIED_POLL).await;
            }
            Err(crate::connection::ClientError::Rpc { code: tonic::Code::FailedPrecondition, message, .. })
                if tokio::time::Instant::now() < deadline
                    && (message.contains("wait for a later checkpoint") || message.contains("no checkpoint is certified yet")) =>
            {
                tokio::time::sleep(CERTIFIED_POLL).await;
            }
            Err(crate::connection::ClientError::Rpc { node, code: tonic::Code::FailedPrecondition, message })
                if message.contains("wait for a later checkpoint") =>
            {
                return Err(ProofError::Unprovable(format!(
                    "{node} answered: {message} (waited {} s: is a quorum of nodes up? 'fairshare status' shows each node's certified size)",
                    CERTIFIED_WAIT.as_secs()
                )));
            }
            answer => return Ok(answer?),
        }
    }
}

/// What `audit prove` was given, as the node's `InclusionProof` request names it: hex (a
/// transaction id or a prefix of one) as it is; a number of fewer than 8 digits is a leaf
/// index (8 digits or more read as a hex prefix: write `leaf:N`); an id with '/' is an
/// obligation (PLAN/MILESTONE/LINE/INSURER); anything else a payment record's id. The
/// explicit forms `leaf:N`, `obligation:ID`, `payment:ID` pass through.
pub fn target(typed: &str) -> String {
    let typed = typed.trim();
    if ["leaf:", "obligation:", "payment:"].iter().any(|form| typed.starts_with(form)) {
        return typed.to_string();
    }
    let digits = typed.bytes().all(|byte| byte.is_ascii_digit());
    if !typed.is_empty() && digits && typed.len() < fairshare_protocol::query::TRANSACTION_PREFIX_DIGITS_MIN {
        return format!("leaf:{typed}");
    }
    if !typed.is_empty() && typed.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return typed.to_lowercase();
    }
    if typed.contains('/') {
        return format!("obligation:{typed}");
    }
    format!("payment:{typed}")
}

/// A consistency proof between two certified sizes (`new_size` 0: the latest certified).
pub async fn prove_consistency(connection: &Connection, old_size: u64, new_size: u64) -> Result<ConsistencyProof, ProofError> {
    let mut node = Node::first(connection).await?;
    let canonical = node.genesis().await?;
    let (genesis, genesis_hex, genesis_hash) = genesis_fields(&canonical)?;
    let new_size = if new_size == 0 { node.status().await?.certified_size } else { new_size };
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::Unprovable(format!("give 0 < OLD_SIZE <= NEW_SIZE; the latest certified size is {new_size}")));
    }
    let response = node.consistency_proof(old_size, new_size).await?;
    let mut statements = Statements::new();
    node.scan_log(0, |AuditBlock { block, .. }| {
        let block = fairshare_protocol::envelope::decode_block(&block).map(|replicated| replicated.block).unwrap_or_default();
        for candidate in &block.envelopes {
            collect_statement(&genesis, &[old_size, new_size], candidate, &mut statements);
        }
        Ok(())
    })
    .await?;
    Ok(ConsistencyProof {
        format: CONSISTENCY_FORMAT.into(),
        ledger_id: genesis.ledger_id.clone(),
        genesis_hash,
        genesis: genesis_hex,
        made_from: node.url.clone(),
        old: certificate(&genesis, &statements, old_size, &response.old_root)?,
        new: certificate(&genesis, &statements, new_size, &response.new_root)?,
        proof: response.proof.iter().map(hex::encode).collect(),
    })
}
