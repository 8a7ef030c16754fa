//! # fairshare-node
//!
//! The process each insurer runs: the ledger of `fairshare-protocol`, replicated by
//! openraft over tonic, stored in sled, with certified checkpoints.
//!
//! - [`config`]: node config and genesis files.
//! - [`raft`]: openraft's type config, the sled log store, the state machine (an adapter
//!   around `fairshare_protocol::Ledger`: no business rule here) and the network.
//! - [`shared`]: the state one node's services and background tasks share.
//! - [`service`]: the gRPC services `Ledger` and `Admin` of `fairshare-api`.
//! - [`submit`]: pre-checks, group commit into blocks, forwarding to the leader.
//! - [`transport`]: mutual TLS on the listener (genesis identities) and who may call what.
//! - [`node`]: wiring and a graceful stop; [`metrics`]: Prometheus text.
//! - [`backfill`]: a node that caught up from a snapshot fetches the blocks before it from
//!   its peers, verifies them against the certified head and stores them.
//! - [`limits`]: connection caps and deadlines; [`health`]: when the node refuses writes or
//!   reports NOT_SERVING, a damaged data dir, panics that stop the process.
//! - [`raft_transport`]: generated types of the node-to-node Raft service. The public
//!   gRPC API (types, services, the client channel) is the `fairshare-api` crate.

pub mod raft_transport {
    //! Generated from `node/proto/raft.proto`: internal to the nodes, not part of the API.
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("fairshare.raft.v1");
    /// For server reflection, beside `fairshare_api::FILE_DESCRIPTOR_SET`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/raft_descriptors.bin"));
}

pub mod backfill;
pub mod config;
pub mod health;
pub mod ledger_cell;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod misbehaviour;
pub mod node;
pub mod raft;
pub mod service;
pub mod shared;
pub mod submit;
pub mod transport;
