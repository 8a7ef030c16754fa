//! # fairshare-client
//!
//! The library behind the `fairshare` command-line tool. The binary (`src/main.rs` and the
//! one-file-per-command modules in `src/cmd/`) parses flags, talks to a node and prints;
//! everything here is the part worth testing on its own, with typed errors that name the
//! input at fault:
//!
//! - [`action`]: one ledger action in human units ("1250.00", "2026-06-30", "0.75") turned
//!   into the transaction kind that is signed. The CLI commands and scenario steps build the
//!   same [`action::Action`], so both validate input the same way before anything is sent.
//! - [`plan_file`]: plan and addendum files (TOML), as a coordinating insurer writes them.
//! - [`scenario`]: scenario files for `fairshare play` (the devnet demo is one).
//! - [`config`]: the client config (`client.toml`: nodes and signing identities).
//! - [`keyfile`] and [`nonce`]: secret key files and per-identity nonces.
//! - [`connection`]: the gRPC client that tries the configured nodes in order.
//! - [`devnet`] (cargo feature `node`): generating keys, genesis and configs for a local cluster.
//! - [`views`], [`table`], [`csv`]: what queries return and how it is printed; [`monitor`]:
//!   the IZA monitor's periods, legend, views and CSV.
//! - [`bench`]: exact latency percentiles and the IZA workload of `fairshare bench --iza`.
//! - [`sepa`]: SEPA credit-transfer files (pain.001.001.09) of an insurer's open obligations.
//! - [`dashboard`]: the pages and charts of `fairshare dashboard` (the server is the binary's).
//! - [`export`]: the CSV files of `fairshare export`.
//! - [`observer`]: the regulator's observer: every node's log followed, re-executed and
//!   compared, evidence raised against the node at fault (`fairshare observe`).
//!
//! Nothing here prints or exits; the binary decides what a person sees.

pub mod action;
pub mod audit;
pub mod bench;
pub mod config;
pub mod connection;
pub mod csv;
pub mod dashboard;
#[cfg(feature = "node")]
pub mod devnet;
pub mod export;
pub mod exports;
pub mod keyfile;
pub mod monitor;
pub mod nonce;
pub mod observer;
pub mod plan_file;
pub mod scenario;
pub mod sepa;
pub mod table;
pub mod views;

/// An input that cannot become a valid transaction, named as the user wrote it
/// (`--amount`, `milestones[2].lines[1].amount`, `share of zk`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {problem}")]
pub struct InputError {
    pub input: String,
    pub problem: String,
}

impl InputError {
    pub fn new(input: impl Into<String>, problem: impl Into<String>) -> InputError {
        InputError { input: input.into(), problem: problem.into() }
    }

    /// The same problem, with the input named inside a larger whole (`step 7` → `step 7 amount`).
    pub fn within(self, outer: &str) -> InputError {
        InputError { input: format!("{outer} {}", self.input), problem: self.problem }
    }
}
