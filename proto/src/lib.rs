//! # fairshare-protocol
//!
//! The heart of fairshare: the schema of what is signed and replicated, and the pure,
//! deterministic rules that every node applies and every auditor re-checks.
//!
//! Nothing in this crate reads a clock, a file, the network, the environment or a random
//! number generator: the same log gives the same state, byte for byte, everywhere.
//!
//! Main types:
//! - [`pb`]: the generated protobuf types (`proto/fairshare/ledger.proto`).
//! - [`envelope`]: signing and verifying [`pb::Envelope`]s.
//! - [`Genesis`]: identities, roles, sectors, initial keys and fund; its hash pins a ledger.
//! - [`LedgerState`] and [`Ledger`]: the state and the log applied to it, block by block.
//! - [`rules::apply`]: one transaction's verdict (effects or a [`Rejection`]).
//! - [`fair_share`]: the exact money splitting; [`merkle`]: the RFC 6962 log.
//! - [`query`]: what nodes serve from the state without scanning the log.
//! - [`snapshot::restore_certified`]: what proves a snapshot received from a peer.

pub mod pb {
    //! Generated from `proto/fairshare/ledger.proto`.
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/fairshare.ledger.v1.rs"));

    pub mod audit {
        //! Generated from `proto/fairshare/audit.proto`: the audit export file format.
        #![allow(clippy::all, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/fairshare.audit.v1.rs"));
    }
}

pub mod amount;
pub mod canonical;
pub mod date;
pub mod digest_map;
pub mod distribution_key;
pub mod envelope;
pub mod fair_share;
pub mod genesis;
pub mod ids;
pub mod ledger;
pub mod merkle;
pub mod query;
pub mod rejection;
pub mod rules;
pub mod signature;
pub mod snapshot;
pub mod state;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use amount::{Amount, Ratio};
pub use date::Date;
pub use genesis::Genesis;
pub use ledger::{Ledger, Outcome, Verdict};
pub use pb::ReasonCode;
pub use rejection::Rejection;
pub use state::LedgerState;

/// The largest encoded transaction body a node accepts: bounds one leaf and one apply.
pub const TRANSACTION_BYTES_MAX: usize = 64 * 1024;
/// The most envelopes in one block (one Raft entry): bounds an entry and the apply latency.
pub const BLOCK_TRANSACTIONS_MAX: usize = 1_024;
/// Leaves between checkpoints that every node signs (`ledger` module documentation): the
/// sizes a quorum agrees on under load, whatever the blocks were cut like. Small enough
/// that certification stays within a second or so of the log at thousands of transactions
/// a second; large enough that the signatures (one per node per checkpoint, not leaves)
/// stay a small fraction of the blocks.
pub const CHECKPOINT_INTERVAL: u64 = 1_024;
/// Every gRPC server and client sets this message limit.
pub const MESSAGE_BYTES_MAX: usize = 96 * 1024 * 1024;
const _: () = assert!(BLOCK_TRANSACTIONS_MAX * (TRANSACTION_BYTES_MAX + 256) <= MESSAGE_BYTES_MAX);
/// Milestones in one plan or addendum, and lines in one milestone.
pub const PLAN_MILESTONES_MAX: usize = 256;
pub const MILESTONE_LINES_MAX: usize = 256;
/// Obligations one payment record may settle.
pub const PAYMENT_SETTLEMENTS_MAX: usize = 1_024;
/// Text fields (names, notes, reasons) are bounded so a state cannot be bloated by one entry.
pub const TEXT_BYTES_MAX: usize = 2_048;
