//! What queries return. Nodes answer with JSON documents of the views in
//! `fairshare_protocol::query` and of the state's own types; the client reads them into
//! the types below and prints tables, or JSON with every amount as a string with exactly
//! two decimals.

use std::collections::BTreeMap;

use fairshare_protocol::state::Obligation;
use fairshare_protocol::Amount;
use serde::{Deserialize, Serialize};

/// Amounts in JSON output: always a string with exactly two decimals ("1250.00").
pub mod money {
    use fairshare_protocol::Amount;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(amount: &Amount, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(amount)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        Amount::deserialize(deserializer)
    }

    pub mod option {
        use fairshare_protocol::Amount;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(amount: &Option<Amount>, serializer: S) -> Result<S::Ok, S::Error> {
            match amount {
                Some(amount) => serializer.collect_str(amount),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Amount>, D::Error> {
            Option::<Amount>::deserialize(deserializer)
        }
    }
}

/// One obligation as `fairshare obligations --json` prints it (a contract for scripts):
/// `provider` is the beneficiary, `payee` who is paid, amounts are strings with two decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObligationRow {
    pub id: String,
    pub plan: String,
    pub milestone: String,
    pub line: u32,
    pub insurer: String,
    pub provider: String,
    pub payee: String,
    pub sector: String,
    pub region: String,
    pub theme: String,
    #[serde(with = "money")]
    pub amount: Amount,
    #[serde(with = "money")]
    pub paid: Amount,
    #[serde(with = "money")]
    pub outstanding: Amount,
    pub attained_on: String,
    pub key_group: String,
    pub key_version: u32,
    /// Leaf index of the confirmation that created it.
    pub created_at: u64,
    pub payments: Vec<String>,
}

impl From<&Obligation> for ObligationRow {
    fn from(obligation: &Obligation) -> ObligationRow {
        ObligationRow {
            id: obligation.id.clone(),
            plan: obligation.plan.clone(),
            milestone: obligation.milestone.clone(),
            line: obligation.line,
            insurer: obligation.insurer.clone(),
            provider: obligation.beneficiary.clone(),
            payee: obligation.payee.clone(),
            sector: obligation.sector.clone(),
            region: obligation.region.clone(),
            theme: obligation.theme.clone(),
            amount: obligation.amount,
            paid: obligation.paid,
            outstanding: obligation.outstanding(),
            attained_on: obligation.attained_on.to_string(),
            key_group: obligation.key_group.clone(),
            key_version: obligation.key_version,
            created_at: obligation.created_at,
            payments: obligation.payments.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub id: String,
    pub version: u32,
    pub title: String,
    pub region: String,
    pub theme: String,
    pub coordinating_insurer: String,
    pub second_assessor: String,
    pub status: String,
    pub funding: String,
    #[serde(with = "money")]
    pub total: Amount,
    #[serde(with = "money")]
    pub committed: Amount,
    #[serde(with = "money")]
    pub payable: Amount,
    #[serde(with = "money")]
    pub paid: Amount,
    pub milestones: usize,
    pub addenda: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsurerBalance {
    pub insurer: String,
    pub name: String,
    #[serde(with = "money")]
    pub committed: Amount,
    #[serde(with = "money")]
    pub owed: Amount,
    #[serde(with = "money")]
    pub paid: Amount,
    #[serde(with = "money")]
    pub outstanding: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyBalance {
    pub party: String,
    pub name: String,
    pub iban: Option<String>,
    #[serde(with = "money")]
    pub receivable: Amount,
    #[serde(with = "money")]
    pub received: Amount,
    #[serde(with = "money")]
    pub outstanding: Amount,
    #[serde(with = "money")]
    pub benefiting: Amount,
}

/// `fairshare balances --json`: per insurer and per party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    pub insurers: Vec<InsurerBalance>,
    pub parties: Vec<PartyBalance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRow {
    pub key: String,
    #[serde(default, with = "money::option", skip_serializing_if = "Option::is_none")]
    pub earmark: Option<Amount>,
    /// Sectors only: earmark use, `committed + external`.
    #[serde(default, with = "money::option", skip_serializing_if = "Option::is_none")]
    pub earmark_use: Option<Amount>,
    #[serde(with = "money")]
    pub committed: Amount,
    #[serde(with = "money")]
    pub payable: Amount,
    #[serde(with = "money")]
    pub paid: Amount,
    #[serde(with = "money")]
    pub external: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    pub sectors: Vec<MonitorRow>,
    pub regions: Vec<MonitorRow>,
    pub themes: Vec<MonitorRow>,
    pub quarters: Vec<MonitorRow>,
    pub plans_by_status: BTreeMap<String, u64>,
    pub quick_tests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    pub position: usize,
    pub plan: String,
    pub addendum: String,
    pub theme: String,
    #[serde(with = "money")]
    pub total: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRow {
    pub theme: String,
    #[serde(with = "money")]
    pub amount: Amount,
    #[serde(with = "money")]
    pub used: Amount,
    #[serde(with = "money")]
    pub remaining: Amount,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentRow {
    #[serde(with = "money")]
    pub delta: Amount,
    pub reason: String,
    pub effective: String,
    pub index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundReport {
    #[serde(with = "money")]
    pub initial: Amount,
    pub adjustments: Vec<AdjustmentRow>,
    #[serde(with = "money")]
    pub total: Amount,
    #[serde(with = "money")]
    pub reserved: Amount,
    pub reservations: Vec<ReservationRow>,
    #[serde(with = "money")]
    pub committed: Amount,
    #[serde(with = "money")]
    pub payable: Amount,
    #[serde(with = "money")]
    pub paid: Amount,
    #[serde(with = "money")]
    pub free: Amount,
    pub queue: Vec<QueueRow>,
    pub intake_closed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    pub insurer: String,
    pub year: u16,
    #[serde(with = "money")]
    pub paid: Amount,
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
}
