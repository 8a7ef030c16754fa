//! openraft wiring: the type config, what one entry carries, and the three parts openraft
//! needs from us, each in its own file and wired once by the node:
//!
//! - [`log_store::LogStore`]: the Raft log and vote in sled, fsynced before openraft hears
//!   "on disk";
//! - [`state_machine::StateMachine`]: an adapter around `fairshare_protocol::Ledger`. It
//!   decodes blocks and hands them to the ledger; **it holds no business rule**;
//! - [`network::Network`] and [`network::RaftService`]: openraft's RPCs over tonic, with
//!   [`snapshot_check::SnapshotCheck`] in front of snapshot installation: a snapshot is
//!   installed only if it equals a certified checkpoint.
//!
//! One entry is one block (DESIGN decision 4): the leader batches signed envelopes into a
//! `pb::Block` and proposes its encoding as a [`BlockRequest`]; every node applies it and
//! answers with one [`OutcomeRecord`] per envelope.

use std::io::Cursor;

use fairshare_protocol::{Genesis, Outcome, Verdict};
use openraft::{BasicNode, SnapshotPolicy};
use serde::{Deserialize, Serialize};

mod disk;
pub mod log_store;
pub mod network;
pub mod snapshot_check;
pub mod state_machine;

pub use log_store::LogStore;
pub use network::{Network, RaftService};
pub use state_machine::{Applied, BlockHistory, Gap, StateMachine};

/// A node's Raft id: its insurer's 1-based position in genesis' sorted insurer list.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft types of a fairshare ledger.
    pub TypeConfig:
        D = BlockRequest,
        R = BlockResponse,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type Entry = openraft::Entry<TypeConfig>;

/// The Raft id of an insurer's node. Ids follow genesis' order (insurers sorted by id), the
/// one order every node derives identically without asking anyone; 0 is never an id.
pub fn node_id(genesis: &Genesis, insurer: &str) -> Option<NodeId> {
    let position = genesis.insurers.iter().position(|member| member.id == insurer)?;
    Some(position as NodeId + 1)
}

/// The insurer that runs node `id`: the inverse of [`node_id`].
pub fn insurer_of(genesis: &Genesis, id: NodeId) -> Option<&str> {
    let position = usize::try_from(id.checked_sub(1)?).ok()?;
    genesis.insurers.get(position).map(|member| member.id.as_str())
}

/// One Raft entry: an encoded `fairshare_protocol::pb::Block` (prost).
///
/// The bytes are kept as the leader encoded them rather than as a decoded block, so every
/// node applies, stores and later serves exactly the bytes that were replicated. They travel
/// and are stored as base64 inside openraft's JSON (see [`log_store`]): 4/3 of the size,
/// where hex would be twice and serde's default for bytes (an array of numbers) about 3.6 times.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BlockRequest {
    #[serde(with = "base64_bytes")]
    pub block: Vec<u8>,
}

/// What applying one block did: one outcome per envelope, in block order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockResponse {
    pub outcomes: Vec<OutcomeRecord>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OutcomeRecord {
    /// The transaction id (SHA-256 of the envelope body), hex.
    pub id: String,
    pub verdict: VerdictRecord,
}

/// `fairshare_protocol::Verdict` as plain data: reason codes as their schema numbers, so
/// that the record stays readable when the protocol crate gains codes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum VerdictRecord {
    Applied {
        index: u64,
    },
    Rejected {
        index: u64,
        code: i32,
        message: String,
    },
    /// Already a leaf; `code` is the original rejection's, `None` if it was applied.
    Duplicate {
        index: u64,
        code: Option<i32>,
        message: String,
    },
    Refused {
        code: i32,
        message: String,
    },
    Checkpoint {
        node: String,
        size: u64,
        certified: bool,
    },
    CheckpointIgnored {
        code: i32,
        message: String,
    },
}

impl From<&Outcome> for OutcomeRecord {
    fn from(outcome: &Outcome) -> OutcomeRecord {
        let verdict = match &outcome.verdict {
            Verdict::Applied { index } => VerdictRecord::Applied { index: *index },
            Verdict::Rejected { index, rejection } => {
                VerdictRecord::Rejected { index: *index, code: rejection.code as i32, message: rejection.message.clone() }
            }
            Verdict::Duplicate { original } => match &original.rejection {
                Some((code, message)) => VerdictRecord::Duplicate { index: original.index, code: Some(*code), message: message.clone() },
                None => VerdictRecord::Duplicate {
                    index: original.index,
                    code: None,
                    message: format!("already applied as leaf {}", original.index),
                },
            },
            Verdict::Refused { rejection } => VerdictRecord::Refused { code: rejection.code as i32, message: rejection.message.clone() },
            Verdict::CheckpointRecorded { node, size, certified } => {
                VerdictRecord::Checkpoint { node: node.clone(), size: *size, certified: *certified }
            }
            Verdict::CheckpointIgnored { rejection } => {
                VerdictRecord::CheckpointIgnored { code: rejection.code as i32, message: rejection.message.clone() }
            }
        };
        OutcomeRecord { id: hex::encode(outcome.id), verdict }
    }
}

/// Entries since the last snapshot (or copy of a certified state) before the next certified
/// state is copied and snapshotted (see `state_machine`). A snapshot serialises the whole
/// ledger, so it is taken now and then, not per block; 500 blocks bound both the log a
/// restarting node replays (once a certified state follows) and how often the state is
/// written out.
pub const SNAPSHOT_LOGS_SINCE_LAST: u64 = 500;
/// A snapshot writes the whole ledger, so beyond [`SNAPSHOT_LOGS_SINCE_LAST`] the next one
/// also waits until the ledger grew by a quarter since the last copy: the cost of writing
/// snapshots stays proportional to the leaves added (amortised `O(1)` per leaf) instead of
/// `O(state)` every 500 entries. Past this many entries it is taken regardless, which bounds
/// the log.
pub const SNAPSHOT_LOGS_MAX: u64 = 20_000;
/// Entries kept below a snapshot, so a follower a little behind still catches up from the
/// log instead of receiving a whole snapshot.
pub const SNAPSHOT_LOGS_KEPT: u64 = 100;

/// The Raft timing and compaction policy every node runs with.
///
/// Heartbeats every 150 ms and elections after 600–1200 ms of silence: on a LAN this elects
/// within about a second, and the 4x margin keeps a busy leader (a block applied, an fsync)
/// from being deposed. Snapshot chunks get 10 s instead of openraft's 200 ms, because the
/// last chunk includes the follower checking, restoring and fsyncing the whole ledger.
///
/// Snapshots: `SnapshotPolicy::Never`, because only a certified state may be snapshotted;
/// the node triggers a build when the state machine copied one
/// (`state_machine::snapshot_certified_copies`, which says why openraft's own policy does
/// not fit).
pub fn raft_config() -> openraft::Config {
    let config = openraft::Config {
        cluster_name: "fairshare".to_string(),
        heartbeat_interval: 150,
        election_timeout_min: 600,
        election_timeout_max: 1200,
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: SNAPSHOT_LOGS_KEPT,
        purge_batch_size: 256,
        ..Default::default()
    };
    config.validate().expect("the fixed Raft config is valid")
}

/// Errors of the sled-backed stores, outside openraft's own error type (opening a data dir).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what} is unreadable: {source}")]
    Decode { what: String, source: serde_json::Error },
    #[error("the data dir's snapshot {0}; start this node with the genesis it was made with, or with an empty data dir")]
    OtherGenesis(String),
    #[error("the snapshot is refused: {0}")]
    Damaged(String),
}

/// Bytes as a base64 string in serde formats (see [`BlockRequest`]).
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fairshare_protocol::testing::genesis_with_keys;

    use super::*;

    #[test]
    fn node_ids_follow_the_sorted_insurers_from_one() {
        let (genesis, _) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        assert_eq!(node_id(&genesis, "cz"), Some(1));
        assert_eq!(node_id(&genesis, "zk"), Some(4));
        assert_eq!(node_id(&genesis, "nza"), None, "a regulator runs no voting node");
        for id in 1..=4 {
            assert_eq!(node_id(&genesis, insurer_of(&genesis, id).unwrap()), Some(id));
        }
        assert_eq!(insurer_of(&genesis, 0), None);
        assert_eq!(insurer_of(&genesis, 5), None);
    }

    #[test]
    fn block_bytes_travel_as_base64() {
        let request = BlockRequest { block: vec![0, 1, 0xfe] };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"block":"AAH+"}"#);
        assert_eq!(serde_json::from_str::<BlockRequest>(&json).unwrap(), request);
    }

    #[test]
    fn raft_config_is_valid() {
        let config = raft_config();
        assert_eq!(config.snapshot_policy, SnapshotPolicy::Never, "the node snapshots certified states itself");
    }
}
