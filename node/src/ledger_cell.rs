//! `LedgerCell`: where a node keeps its ledger, so that reads never wait for an apply.
//!
//! The ledger is persistent (`imbl` maps and vectors inside): a clone is `O(1)` and shares
//! everything unchanged. The state machine applies a batch of blocks to the writer's own
//! ledger, which readers never see and which alone keeps the digest's cached hashes, and
//! then publishes a clone of it; a reader takes the current version (an `Arc`, under a
//! lock held only for the pointer copy) and works on it as long as it likes.
//! So a query that walks 400k obligations neither blocks an apply nor is blocked by one,
//! and every reader sees the state at the end of an applied batch: never a block half
//! applied.

use std::sync::{Arc, Mutex, RwLock};

use fairshare_protocol::Ledger;

pub struct LedgerCell {
    current: RwLock<Arc<Ledger>>,
    /// The writer's ledger, held for a whole update, so two updates never fork it.
    writer: Mutex<Ledger>,
}

impl LedgerCell {
    pub fn new(ledger: Ledger) -> LedgerCell {
        LedgerCell { current: RwLock::new(Arc::new(ledger.clone())), writer: Mutex::new(ledger) }
    }

    /// The ledger as of the last completed update.
    pub fn view(&self) -> Arc<Ledger> {
        self.current.read().expect("the ledger cell is never poisoned: only a pointer is swapped under it").clone()
    }

    /// Runs `change` on the writer's ledger, with no lock that readers take, then makes a
    /// copy of it current. (A panic in `change` aborts the node: see `health.rs`.)
    pub fn update<R>(&self, change: impl FnOnce(&mut Ledger) -> R) -> R {
        let mut working = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = change(&mut working);
        self.publish(working.clone());
        result
    }

    /// Replaces the ledger (a snapshot was installed).
    pub fn replace(&self, ledger: Ledger) {
        let mut working = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *working = ledger;
        self.publish(working.clone());
    }

    fn publish(&self, ledger: Ledger) {
        *self.current.write().expect("the ledger cell is never poisoned: only a pointer is swapped under it") = Arc::new(ledger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairshare_protocol::pb::{self, PartyKind};
    use fairshare_protocol::testing::Scenario;
    use std::sync::mpsc;

    /// A query during a long apply returns, from the state before it: the apply is held
    /// in the middle (it waits for the test), and a reader still gets its answer.
    #[test]
    fn a_query_during_a_long_apply_returns_the_state_before_it() {
        let mut scenario = Scenario::new("1000.00");
        let registration = pb::PartyRegistered {
            party: "agb:12345678".into(),
            kind: PartyKind::Provider as i32,
            name: "Zorggroep Oost".into(),
            iban: String::new(),
        };
        let envelope = scenario.envelope("zk", pb::transaction::Kind::PartyRegistered(registration));
        let cell = Arc::new(LedgerCell::new(scenario.ledger.clone()));
        let (started, wait_started) = mpsc::channel();
        let (release, held) = mpsc::channel::<()>();
        let writer = {
            let cell = cell.clone();
            std::thread::spawn(move || {
                cell.update(|ledger| {
                    ledger.apply_block(&pb::Block { envelopes: vec![envelope] });
                    started.send(()).unwrap();
                    // The apply is "long": it lasts until the reader below has its answer.
                    held.recv().unwrap();
                })
            })
        };
        wait_started.recv().unwrap();
        let during = cell.view();
        assert_eq!(during.size(), 0, "the reader sees the state before the apply");
        assert!(!during.state().parties.contains_key("agb:12345678"));
        release.send(()).unwrap();
        writer.join().unwrap();
        let after = cell.view();
        assert_eq!(after.size(), 1);
        assert!(after.state().parties.contains_key("agb:12345678"));
        assert_eq!(during.size(), 0, "a view taken earlier is unchanged");
    }
}
