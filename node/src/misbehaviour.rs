//! What peers did that an honest node never does (a Raft message under another node's
//! name, a term far beyond the cluster's, a snapshot that does not prove itself): logged at
//! ERROR once per kind and peer, counted, and shown in `fairshare status`.
//!
//! This is the node's own observation, not ledger evidence: it is not signed and not
//! replicated (a forged message proves nothing to a third party about who sent it, except
//! over a mutual-TLS connection that only this node saw).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Misbehaviour seen by this node, by (peer, kind).
#[derive(Debug, Default)]
pub struct Misbehaviour {
    seen: Mutex<BTreeMap<(String, &'static str), Seen>>,
}

#[derive(Debug, Clone)]
struct Seen {
    count: u64,
    last: String,
}

/// How many distinct (peer, kind) pairs are kept; more are folded into the last.
const KINDS_MAX: usize = 256;

impl Misbehaviour {
    /// Records that `peer` did `kind` (a short fixed phrase), with `detail` for the log and
    /// status. Logs at ERROR the first time per peer and kind.
    pub fn record(&self, peer: &str, kind: &'static str, detail: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (fairshare_protocol::ids::echo(peer).into_owned(), kind);
        let full = seen.len() >= KINDS_MAX && !seen.contains_key(&key);
        let key = if full { ("(others)".to_string(), "misbehaviour") } else { key };
        let entry = seen.entry(key).or_insert(Seen { count: 0, last: String::new() });
        entry.count += 1;
        if entry.count == 1 {
            tracing::error!(peer, kind, "misbehaviour of a peer: {detail}");
        } else {
            tracing::debug!(peer, kind, count = entry.count, "misbehaviour of a peer again: {detail}");
        }
        entry.last = detail;
    }

    /// One line per peer and kind: "node cz: a Raft message under another node's name (3×): …".
    pub fn lines(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.iter().map(|((peer, kind), seen)| format!("{peer}: {kind} ({}×): {}", seen.count, seen.last)).collect()
    }

    pub fn total(&self) -> u64 {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().map(|seen| seen.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_and_kind_is_one_line_with_a_count() {
        let misbehaviour = Misbehaviour::default();
        misbehaviour.record("node cz", "term far beyond the cluster's", "term 18446744073709551615".into());
        misbehaviour.record("node cz", "term far beyond the cluster's", "term 99999999".into());
        misbehaviour.record("node vgz", "a Raft message under another node's name", "claims node 1".into());
        assert_eq!(misbehaviour.total(), 3);
        assert_eq!(
            misbehaviour.lines(),
            vec![
                "node cz: term far beyond the cluster's (2×): term 99999999".to_string(),
                "node vgz: a Raft message under another node's name (1×): claims node 1".to_string(),
            ]
        );
    }
}
