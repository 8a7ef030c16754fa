//! Verifiable audit (DESIGN decision 5): a regulator checks the whole ledger with nothing
//! but the genesis' public keys, without trusting any node.
//!
//! - [`fetch`]: reading a node's genesis, status, full log and Merkle proofs.
//! - [`file`]: the export file (SPEC.md section 11), read and written.
//! - [`verify`]: re-checks an export: signatures, rules, Merkle roots, certificates.
//! - [`report`]: what verification found, for people and (`--json`) machines.
//! - [`proof`]: inclusion and consistency proof files, made from a node and checked offline.
//!
//! # The formats: SPEC.md
//!
//! The export file (format version 2; version 1 is read too), what `verify` checks, its
//! `--json` report, its exit codes and the proof files are defined in SPEC.md, sections
//! 11 to 13, which a third party writes a verifier from; `spec/vectors/` has an export,
//! its report and proof files. In short:
//!
//! - the file is length-delimited `ExportRecord`s (`proto/proto/fairshare/audit.proto`):
//!   a header (the canonical genesis and its hash; `from_log_index` 0 for a full export),
//!   one `ExportedBlock` per Raft entry that carried a block (the block's bytes exactly as
//!   replicated; gaps in log indexes are normal), and a trailer, which is **advisory**
//!   (unsigned: the exporting node's size, root and newest certified checkpoint with its
//!   certificate, which is checkable). `fairshare audit export` writes `FILE.partial` and
//!   renames it when complete;
//! - `verify` checks the genesis, every envelope's encoding and signature, re-executes the
//!   rules, and compares the Merkle root and state digest at every size a checkpoint
//!   signature names; every certificate; the trailer's claims; and with `--against`, each
//!   node's newest certified checkpoint (a withheld tail is `export_short`);
//! - exit codes ([`exit`]): 0 verified, 1 does not verify, 2 could not verify, 3 the log
//!   verifies but a node signed evidence against itself (with findings *and* evidence: 1).
//!   Evidence gets its own code because the ledger itself is sound (a quorum certified it
//!   and re-execution reproduces it) while one node is not: a regulator acts on a
//!   different party;
//! - proof files (`audit prove`, `audit consistency`, `--check`): JSON, formats
//!   `fairshare-inclusion-proof/1` and `fairshare-consistency-proof/1`.
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

/// Exit codes of `fairshare audit verify` (and `attest`, `--check`): SPEC.md section 12.1.
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
