//! openraft's storage conformance suite against our sled log store and state machine, each
//! test on a fresh database in its own directory.

use std::sync::Arc;

use fairshare_node::raft::{LogStore, NodeId, StateMachine, TypeConfig};
use fairshare_protocol::testing::genesis_with_keys;
use fairshare_protocol::Genesis;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageError, StorageIOError};
use tempfile::TempDir;

struct SledStoreBuilder {
    genesis: Arc<Genesis>,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SledStoreBuilder {
    /// The directory is the guard: it is removed when the suite's test drops it.
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let failed = |error: &dyn std::fmt::Display| StorageError::from(StorageIOError::write(AnyError::error(error.to_string())));
        let dir = tempfile::tempdir().map_err(|error| failed(&error))?;
        let db = sled::open(dir.path()).map_err(|error| failed(&error))?;
        let log_store = LogStore::open(db.clone()).map_err(|error| failed(&error))?;
        let (state_machine, _) = StateMachine::open(db, self.genesis.clone()).map_err(|error| failed(&error))?;
        Ok((dir, log_store, state_machine))
    }
}

/// A plain test: the suite makes a runtime of its own for each case.
#[test]
fn log_store_and_state_machine_pass_openraft_conformance_suite() {
    let (genesis, _) = genesis_with_keys();
    Suite::test_all(SledStoreBuilder { genesis: Arc::new(genesis) }).expect("openraft's storage suite");
}
