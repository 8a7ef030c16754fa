//! What queries return. Nodes answer with JSON documents of the views in
//! `fairshare_protocol::query` (lists are arrays of records that name their own ids); the
//! client reads them into those same types (re-exported here) and prints tables, or with
//! `--json` the node's document as it came, every amount a string with exactly two decimals
//! (`Amount`'s own serde form). Only what the CLI shapes itself is defined here: both
//! balances in one document, and a node's status.

use serde::{Deserialize, Serialize};

pub use fairshare_protocol::query::{
    AdjustmentRow, AttestationRow, EntryRef, FundReport, InsurerBalance, KeyRow, Monitor, MonitorRow, ObligationRow, PartyBalance,
    PaymentRow, PendingRequest, PlanSummary, QueueRow, ReservationRow, Settlement, SpendRow,
};

/// A list query's records keyed by their ids (lookups by payee, by payment id).
pub fn by_id<T>(records: Vec<T>, id: impl Fn(&T) -> &String) -> std::collections::BTreeMap<String, T> {
    records.into_iter().map(|record| (id(&record).clone(), record)).collect()
}

/// The fund report's summary lines, in the order `report fund` and the dashboard show them.
pub fn fund_summary(fund: &FundReport) -> [(&'static str, fairshare_protocol::amount::Amount); 7] {
    [
        ("initial (genesis)", fund.initial),
        ("total after adjustments", fund.total),
        ("reserved", fund.reserved),
        ("committed", fund.committed),
        ("free", fund.free),
        ("payable", fund.payable),
        ("paid", fund.paid),
    ]
}

/// `fairshare balances --json`: per insurer and per party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    pub insurers: Vec<InsurerBalance>,
    pub parties: Vec<PartyBalance>,
}

/// `fairshare status --json`: one object per node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The URL asked.
    pub address: String,
    /// The node's insurer id; empty when it did not answer.
    pub node: String,
    pub reachable: bool,
    pub leader: String,
    pub term: u64,
    pub size: u64,
    pub root: String,
    pub state_digest: String,
    pub certified_size: u64,
    pub certified_root: String,
    pub applied_index: u64,
    pub accepting_writes: bool,
    pub ledger_id: String,
    pub evidence: Vec<String>,
    /// The lowest log index from which the node serves a gap-free history (`audit
    /// export`); 0: all of it. Above 0 while a node that caught up from a snapshot fetches
    /// the older blocks from its peers.
    #[serde(default)]
    pub history_from: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_with_two_decimals() {
        let row = SpendRow { insurer: "zk".into(), year: 2026, paid: "5".parse().unwrap() };
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"insurer":"zk","year":2026,"paid":"5.00"}"#);
        let back: SpendRow = serde_json::from_str(r#"{"insurer":"zk","year":2026,"paid":"5.00"}"#).unwrap();
        assert_eq!(back.paid.cents(), 500);
    }

    #[test]
    fn the_protocols_views_print_zero_as_0_00_and_refuse_a_third_decimal_when_read() {
        let balance = InsurerBalance { insurer: "zk".into(), name: "Zilveren Kruis".into(), ..InsurerBalance::default() };
        let json = serde_json::to_string(&balance).unwrap();
        assert!(json.contains(r#""committed":"0.00""#), "{json}");
        let bad = json.replacen(r#""owed":"0.00""#, r#""owed":"1.005""#, 1);
        assert!(serde_json::from_str::<InsurerBalance>(&bad).unwrap_err().to_string().contains("more than two decimals"));
    }
}
