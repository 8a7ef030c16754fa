//! Verifiable audit (DESIGN decision 5): a regulator checks the whole ledger with nothing
//! but the genesis' public keys, without trusting any node.
//!
//! - [`fetch`]: reading a node's genesis, status, full log and Merkle proofs.
//! - [`file`]: the export file (below), read and written.
//! - [`verify`]: re-checks an export: signatures, rules, Merkle roots, certificates.
//! - [`report`]: what verification found, for people and (`--json`) machines.
//! - [`proof`]: inclusion and consistency proof files, made from a node and checked offline.
//!
//! # The export file (format version 1)
//!
//! The schema is `proto/proto/fairshare/audit.proto` (package `fairshare.audit.v1`), which
//! imports `ledger.proto`; a third party needs nothing else to read the file. The file is a
//! sequence of `ExportRecord` messages, each preceded by its length as a protobuf varint
//! (the framing of protobuf's `writeDelimitedTo`/`parseDelimitedFrom`):
//!
//! 1. one `ExportHeader`: `format_version` = 1; the canonical `Genesis`; `genesis_hash`,
//!    the SHA-256 of that encoded genesis; `from_log_index` (0 for a full export); and
//!    `exported_from`, the node that served the log (`"zk (https://127.0.0.1:7101)"`);
//! 2. one `ExportedBlock` per Raft entry that carried a block, in log order, with its Raft
//!    `log_index` (indexes of elections and membership changes are absent, so gaps are
//!    normal) and the `Block` exactly as replicated: every envelope, checkpoint signatures
//!    included, with the body bytes that were signed;
//! 3. one `ExportTrailer`: the number of blocks, and the exporting node's own `size`
//!    (Merkle leaves), `root` and `certified_size` from its status, read before the log.
//!
//! The trailer is not signed: it is the exporting node's claim, which `verify` checks. What
//! makes the log trustworthy are the envelopes' signatures and the checkpoint signatures of
//! the nodes inside it. `fairshare audit export` writes to `FILE.partial` and renames it
//! when complete, so a file without its trailer was cut short.
//!
//! # What `verify` checks, and its exit codes
//!
//! The genesis (canonical, hashing to the header's hash, and equal to `--genesis FILE` if
//! given); every envelope's signature and signer against the genesis keys (batch
//! verification on all cores); the rules, re-executed from genesis in log order exactly as
//! a node applies them, which gives every leaf, verdict, obligation, balance and queue
//! position; the Merkle root and state digest at every size a checkpoint signature names;
//! every certificate (a quorum, more than two thirds of the insurers' nodes, signing the same
//! head); and the trailer's claims. Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | verified: every check holds ([`exit::VERIFIED`]) |
//! | 1 | does not verify: tampering or damage; the first finding names the log index, transaction and what is wrong ([`exit::DOES_NOT_VERIFY`]) |
//! | 2 | could not verify: unreadable file, no node answered, a partial export, a usage error ([`exit::COULD_NOT_VERIFY`]) |
//! | 3 | the log verifies, but a node signed evidence against itself: two different checkpoints for one size, or one that contradicts the certified history ([`exit::EVIDENCE`]) |
//!
//! Evidence gets its own code because the ledger itself is sound (a quorum certified it and
//! re-execution reproduces it) while one node is not: a regulator acts on a different
//! party. With findings *and* evidence the code is 1.
//!
//! # Proof files (JSON)
//!
//! `fairshare audit prove TX_ID` writes an inclusion proof; `fairshare audit consistency OLD
//! NEW` a consistency proof; `--check FILE` verifies either offline. Hashes, keys, bodies
//! and signatures are lowercase hex. Both carry `format`, `ledger_id`, `genesis_hash`,
//! `genesis` (the encoded canonical `Genesis`, whose keys check every signature; pin the
//! expected one with `--genesis FILE`) and `made_from` (the node asked). A *certified
//! checkpoint* is `{size, root, state_digest, certificate: [{signer, body, signature,
//! checkpoint}]}`, where each certificate entry is a `CheckpointSigned` envelope by a node
//! key (`checkpoint` is its decoded content, for people; the signature covers `body`).
//!
//! - `"format": "fairshare-inclusion-proof/1"`: `transaction_id`, `envelope` (the
//!   transaction as its author signed it), `leaf_index`, `leaf_hash` (RFC 6962 hash of the
//!   encoded envelope), `proof` (the audit path, RFC 9162 §2.1.3) and `checkpoint`.
//! - `"format": "fairshare-consistency-proof/1"`: `old` and `new` certified checkpoints and
//!   `proof` (RFC 9162 §2.1.4).
//!
//! # Attestation
//!
//! `fairshare audit attest --as nza` verifies a node's log (or an export) and, only when it
//! verifies (exit code 0), signs an `AuditAttested` transaction for the newest certified
//! checkpoint it verified and submits it, so every party sees how far the regulator has
//! verified. The rules accept it only from a regulator and only for a checkpoint the
//! ledger certified.

pub mod fetch;
pub mod file;
pub mod proof;
pub mod report;
pub mod verify;

pub use file::Export;
pub use report::Report;

/// Exit codes of `fairshare audit verify` (and `attest`, `--check`): see the module docs.
pub mod exit {
    pub const VERIFIED: i32 = 0;
    pub const DOES_NOT_VERIFY: i32 = 1;
    pub const COULD_NOT_VERIFY: i32 = 2;
    pub const EVIDENCE: i32 = 3;
}

use fairshare_protocol::pb::{self, transaction::Kind};

/// The attestation a regulator signs after `report` verified: for its newest certified
/// checkpoint. `None` unless the report is fully ok and something is certified.
pub fn attestation(report: &Report, note: &str) -> Option<Kind> {
    if !report.ok || report.certified_size == 0 {
        return None;
    }
    Some(Kind::AuditAttested(pb::AuditAttested {
        checkpoint: Some(pb::Checkpoint {
            ledger_id: report.ledger_id.clone(),
            size: report.certified_size,
            root: hex::decode(&report.certified_root).ok()?,
            state_digest: hex::decode(&report.certified_state_digest).ok()?,
        }),
        note: note.to_string(),
    }))
}
