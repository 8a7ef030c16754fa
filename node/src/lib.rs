//! # fairshare-node
//!
//! The process each insurer runs: the ledger of `fairshare-protocol`, replicated by
//! openraft over tonic, stored in sled, with certified checkpoints.
//!
//! - [`config`]: node config and genesis files.
//! - [`raft`]: openraft's type config, the sled log store, the state machine (an adapter
//!   around `fairshare_protocol::Ledger`: no business rule here) and the network.
//! - [`api`]: generated gRPC types.

pub mod api {
    //! Generated from `proto/proto/fairshare/api.proto` and `node/proto/raft.proto`.
    #![allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("fairshare.api.v1");
    }
    pub mod raft {
        tonic::include_proto!("fairshare.raft.v1");
    }
    /// For server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
}

pub mod config;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod service;
pub mod submit;
