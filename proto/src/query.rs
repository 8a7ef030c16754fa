//! What nodes serve, answered from the state alone (never by scanning the log).
//!
//! Every view is `Serialize`, ordered, and built from amounts that add up: the monitor's
//! rows are sums over the same lines and obligations that the balances sum over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::amount::{Amount, Ratio};
use crate::date::Date;
use crate::fair_share::split_over_insurers;
use crate::genesis::Genesis;
use crate::state::{
    AssessmentStatus, Funding, KeyVersion, LeafIndex, LedgerState, Milestone, MilestoneStatus, Obligation, Party, Payment, Plan, QuickTest,
    TransactionKey,
};

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
    pub total: Amount,
    pub committed: Amount,
    pub payable: Amount,
    pub paid: Amount,
    pub milestones: usize,
    pub addenda: usize,
    /// Two-sided requests (cancel, reschedule) that one assessor signed and the other has
    /// not yet: until then nothing changed, and the plan's status says so.
    #[serde(default)]
    pub pending: Vec<PendingRequest>,
}

/// A request both assessors must sign, signed by one so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// "cancel the plan", or "reschedule q3-evaluation to 2026-12-15".
    pub what: String,
    pub asked_by: Vec<String>,
    /// The assessors whose signature it awaits.
    pub awaits: Vec<String>,
}

/// The plan's two-sided requests that await an assessor, cancellation first.
pub fn pending_requests(plan: &Plan) -> Vec<PendingRequest> {
    let assessors = [&plan.coordinating_insurer, &plan.second_assessor];
    let request = |what: String, signed: &std::collections::BTreeSet<String>| PendingRequest {
        what,
        asked_by: signed.iter().cloned().collect(),
        awaits: assessors.iter().filter(|assessor| !signed.contains(assessor.as_str())).map(|assessor| assessor.to_string()).collect(),
    };
    let cancellation = (!plan.pending_cancellation.is_empty()).then(|| request("cancel the plan".to_string(), &plan.pending_cancellation));
    let reschedules = plan.pending_reschedules.iter().map(|(key, signed)| {
        // Keyed "MILESTONE@NEW_DUE" by the reschedule rule.
        let (milestone, due) = key.split_once('@').unwrap_or((key.as_str(), "?"));
        request(format!("reschedule {milestone} to {due}"), signed)
    });
    cancellation.into_iter().chain(reschedules).filter(|request| !request.awaits.is_empty()).collect()
}

impl PlanSummary {
    /// "awaits vgz" (or "awaits vgz, zk"), or "" when no request is pending.
    pub fn awaits(&self) -> String {
        let mut awaited: Vec<&str> = self.pending.iter().flat_map(|request| request.awaits.iter().map(String::as_str)).collect();
        awaited.sort_unstable();
        awaited.dedup();
        if awaited.is_empty() {
            String::new()
        } else {
            format!("awaits {}", awaited.join(", "))
        }
    }
}

pub fn status_name(status: AssessmentStatus) -> &'static str {
    status.word()
}

pub fn funding_name(funding: Funding) -> &'static str {
    match funding {
        Funding::None => "-",
        Funding::Queued => "queued",
        Funding::Funded => "funded",
    }
}

pub fn milestone_status_name(status: &MilestoneStatus) -> &'static str {
    status.word()
}

fn plan_obligations<'state>(state: &'state LedgerState, plan: &'state Plan) -> impl Iterator<Item = &'state Obligation> + 'state {
    plan.milestones.values().flat_map(move |milestone| milestone.obligations.iter().map(move |id| &state.obligations[id]))
}

pub fn plan_summary(state: &LedgerState, plan: &Plan) -> PlanSummary {
    let main = plan.main();
    PlanSummary {
        id: plan.id.clone(),
        version: plan.version,
        title: plan.title.clone(),
        region: plan.region.clone(),
        theme: plan.theme.clone(),
        coordinating_insurer: plan.coordinating_insurer.clone(),
        second_assessor: plan.second_assessor.clone(),
        status: status_name(main.status).to_string(),
        funding: funding_name(main.funding).to_string(),
        total: plan.units.values().map(|unit| plan.unit_total(unit)).sum(),
        committed: plan.units.values().map(|unit| plan.unit_committed(unit)).sum(),
        payable: plan_obligations(state, plan).map(|obligation| obligation.amount).sum(),
        paid: plan_obligations(state, plan).map(|obligation| obligation.paid).sum(),
        milestones: plan.milestones.len(),
        addenda: plan.units.len() - 1,
        pending: pending_requests(plan),
    }
}

pub fn plans(state: &LedgerState) -> Vec<PlanSummary> {
    state.plans.values().map(|plan| plan_summary(state, plan)).collect()
}

/// Filters for the obligations query; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ObligationFilter {
    pub insurer: Option<String>,
    /// Matches the payee or the beneficiary.
    pub party: Option<String>,
    pub plan: Option<String>,
    /// Some(true): only with something outstanding; Some(false): only settled.
    pub open: Option<bool>,
    /// Only obligations created at or after this leaf index (for streaming).
    pub from_index: Option<u64>,
}

pub fn obligations<'state>(state: &'state LedgerState, filter: &ObligationFilter) -> Vec<&'state Obligation> {
    state
        .obligations
        .values()
        .filter(|obligation| filter.insurer.as_ref().is_none_or(|insurer| &obligation.insurer == insurer))
        .filter(|obligation| filter.party.as_ref().is_none_or(|party| &obligation.payee == party || &obligation.beneficiary == party))
        .filter(|obligation| filter.plan.as_ref().is_none_or(|plan| &obligation.plan == plan))
        .filter(|obligation| filter.open.is_none_or(|open| open == (obligation.outstanding().cents() > 0)))
        .filter(|obligation| filter.from_index.is_none_or(|from| obligation.created_at >= from))
        .collect()
}

/// One obligation as the node's `Obligations` query and `WatchObligations` stream answer,
/// and as `fairshare obligations --json` prints it: one serialisation, a contract for
/// scripts. `provider` is the beneficiary, `payee` who is paid, amounts are strings with
/// two decimals; `created_at` and `transaction_id` name the confirmation that created it,
/// `payment_records` each payment record that settles it (what `audit prove` takes).
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
    pub amount: Amount,
    pub paid: Amount,
    pub outstanding: Amount,
    pub attained_on: String,
    pub key_group: String,
    pub key_version: u32,
    /// Leaf index of the confirmation that created it.
    pub created_at: u64,
    /// Transaction id (64 hex digits) of that confirmation.
    #[serde(default)]
    pub transaction_id: String,
    /// The ids of the payment records that settle it (reversed ones included).
    pub payments: Vec<String>,
    /// The same payment records with the leaf index and transaction id of each.
    #[serde(default)]
    pub payment_records: Vec<EntryRef>,
}

/// An entry of the state and the transaction behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRef {
    pub id: String,
    pub leaf: LeafIndex,
    pub transaction_id: String,
}

impl ObligationRow {
    pub fn new(state: &LedgerState, obligation: &Obligation) -> ObligationRow {
        let payment_records = obligation
            .payments
            .iter()
            .filter_map(|id| state.payments.get(id))
            .map(|payment| EntryRef {
                id: payment.id.clone(),
                leaf: payment.recorded_at,
                transaction_id: state.transaction_at(payment.recorded_at).unwrap_or_default(),
            })
            .collect();
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
            transaction_id: state.transaction_at(obligation.created_at).unwrap_or_default(),
            payments: obligation.payments.clone(),
            payment_records,
        }
    }
}

/// A plan as the node's `Plan` query answers: its summary, the plan, and the transaction
/// behind each leaf index its history names (what `audit prove` takes).
#[derive(Debug, Clone, Serialize)]
pub struct PlanView<'state> {
    pub summary: PlanSummary,
    pub plan: &'state Plan,
    /// Leaf index → transaction id, for every event of the plan's history.
    pub transactions: BTreeMap<LeafIndex, String>,
}

pub fn plan_view<'state>(state: &'state LedgerState, plan: &'state Plan) -> PlanView<'state> {
    let transactions = plan.history.iter().filter_map(|event| state.transaction_at(event.index).map(|id| (event.index, id))).collect();
    PlanView { summary: plan_summary(state, plan), plan, transactions }
}

/// The obligations a filter selects, as rows.
pub fn obligation_rows(state: &LedgerState, filter: &ObligationFilter) -> Vec<ObligationRow> {
    obligations(state, filter).into_iter().map(|obligation| ObligationRow::new(state, obligation)).collect()
}

// ---------------------------------------------------------------- lists
//
// Every list query answers a JSON array of self-describing records (each names its own id),
// in id order, and the CLI's `--json` prints exactly that array: one shape for the CLI,
// scripts and gRPC clients (`api.proto`, `QueryRequest`).

/// The registered parties (`party list --json`, the `parties` query).
pub fn parties(state: &LedgerState) -> Vec<&Party> {
    state.parties.values().collect()
}

/// The quick tests (`quick-test list --json`, the `quick_tests` query).
pub fn quick_tests(state: &LedgerState) -> Vec<&QuickTest> {
    state.quick_tests.values().collect()
}

/// One version of a distribution key (`key list --json`, the `keys` query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub group: String,
    pub version: u32,
    pub valid_from: Date,
    /// Insurer → share, exact decimals that add up to 1.
    pub shares: BTreeMap<String, Ratio>,
    pub proposed_by: String,
    pub approvals: Vec<String>,
    /// True once every insurer of genesis approved (genesis keys are in force at once).
    pub in_force: bool,
}

/// Every version of every key group, by group and version.
pub fn keys(state: &LedgerState) -> Vec<KeyRow> {
    let row = |group: &String, key: &KeyVersion| KeyRow {
        group: group.clone(),
        version: key.version,
        valid_from: key.valid_from,
        shares: key.shares.clone(),
        proposed_by: key.proposed_by.clone(),
        approvals: key.approvals.iter().cloned().collect(),
        in_force: key.in_force,
    };
    state.keys.iter().flat_map(|(group, versions)| versions.values().map(move |key| row(group, key))).collect()
}

/// What one payment record settles on one obligation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub obligation: String,
    pub amount: Amount,
}

/// A reversal: why, and the leaf (`at`) and transaction that reversed the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalRow {
    pub reason: String,
    pub at: LeafIndex,
    pub transaction_id: String,
}

/// One payment record (`export payments --json`, the `payments` query): what it settles,
/// and the leaf (`recorded_at`, the name the state and the CSV use) and transaction that
/// recorded it (what `audit prove` takes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub id: String,
    pub insurer: String,
    pub value_date: Date,
    pub bank_reference: String,
    pub total: Amount,
    pub settlements: Vec<Settlement>,
    pub recorded_at: LeafIndex,
    pub transaction_id: String,
    /// Set once reversed: the settlements no longer count as paid.
    pub reversed: Option<ReversalRow>,
}

impl PaymentRow {
    pub fn new(state: &LedgerState, payment: &Payment) -> PaymentRow {
        PaymentRow {
            id: payment.id.clone(),
            insurer: payment.insurer.clone(),
            value_date: payment.value_date,
            bank_reference: payment.bank_reference.clone(),
            total: payment.total(),
            settlements: payment
                .settlements
                .iter()
                .map(|(obligation, amount)| Settlement { obligation: obligation.clone(), amount: *amount })
                .collect(),
            recorded_at: payment.recorded_at,
            transaction_id: state.transaction_at(payment.recorded_at).unwrap_or_default(),
            reversed: payment.reversed.as_ref().map(|reversal| ReversalRow {
                reason: reversal.reason.clone(),
                at: reversal.at,
                transaction_id: state.transaction_at(reversal.at).unwrap_or_default(),
            }),
        }
    }
}

/// Every payment record, by id.
pub fn payments(state: &LedgerState) -> Vec<PaymentRow> {
    state.payments.values().map(|payment| PaymentRow::new(state, payment)).collect()
}

/// A regulator's newest attestation: the log size it verified, that size's root, and the
/// leaf of the attestation (the `attestations` query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRow {
    pub regulator: String,
    pub size: u64,
    pub root: String,
    pub leaf: LeafIndex,
}

pub fn attestations(state: &LedgerState) -> Vec<AttestationRow> {
    state
        .attestations
        .iter()
        .map(|(regulator, (size, root, leaf))| AttestationRow {
            regulator: regulator.clone(),
            size: *size,
            root: root.clone(),
            leaf: *leaf,
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsurerBalance {
    pub insurer: String,
    pub name: String,
    /// This insurer's share (by the key in force on each milestone's due date) of what is
    /// committed and not yet payable: an estimate of obligations to come.
    pub committed: Amount,
    pub owed: Amount,
    pub paid: Amount,
    pub outstanding: Amount,
}

/// Not-yet-payable commitments of one milestone per insurer (by the key in force on its due date).
fn expected_shares(state: &LedgerState, genesis: &Genesis, milestone: &Milestone, into: &mut BTreeMap<String, Amount>) {
    if !matches!(milestone.status, MilestoneStatus::Planned | MilestoneStatus::Attained { .. }) {
        return;
    }
    for line in &milestone.lines {
        let Some(sector) = genesis.sector(&line.sector) else { continue };
        let key = state
            .key_in_force(&sector.key_group, milestone.due)
            .or_else(|| state.keys.get(&sector.key_group)?.values().find(|key| key.in_force));
        let Some(key) = key else { continue };
        let shares: Vec<(String, Ratio)> = key.shares.iter().map(|(insurer, share)| (insurer.clone(), *share)).collect();
        for (insurer, amount) in split_over_insurers(line.amount, &shares) {
            *into.entry(insurer).or_default() += amount;
        }
    }
}

pub fn insurer_balances(state: &LedgerState, genesis: &Genesis) -> Vec<InsurerBalance> {
    let mut committed: BTreeMap<String, Amount> = BTreeMap::new();
    for plan in state.plans.values() {
        for unit in plan.units.values().filter(|unit| unit.funding == Funding::Funded && unit.status == AssessmentStatus::Approved) {
            for milestone in plan.unit_milestones(unit) {
                expected_shares(state, genesis, milestone, &mut committed);
            }
        }
    }
    genesis
        .insurers
        .iter()
        .map(|insurer| {
            let mut balance = InsurerBalance {
                insurer: insurer.id.clone(),
                name: insurer.name.clone(),
                committed: committed.get(&insurer.id).copied().unwrap_or_default(),
                ..InsurerBalance::default()
            };
            for obligation in state.obligations.values().filter(|obligation| obligation.insurer == insurer.id) {
                balance.owed += obligation.amount;
                balance.paid += obligation.paid;
            }
            balance.outstanding = balance.owed - balance.paid;
            balance
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyBalance {
    pub party: String,
    pub name: String,
    pub iban: Option<String>,
    /// As payee.
    pub receivable: Amount,
    pub received: Amount,
    pub outstanding: Amount,
    /// As beneficiary (possibly paid through a cashier).
    pub benefiting: Amount,
}

pub fn party_balances(state: &LedgerState) -> Vec<PartyBalance> {
    let mut balances: BTreeMap<&str, PartyBalance> = state
        .parties
        .values()
        .map(|party| {
            (
                party.id.as_str(),
                PartyBalance { party: party.id.clone(), name: party.name.clone(), iban: party.iban.clone(), ..PartyBalance::default() },
            )
        })
        .collect();
    for obligation in state.obligations.values() {
        if let Some(balance) = balances.get_mut(obligation.payee.as_str()) {
            balance.receivable += obligation.amount;
            balance.received += obligation.paid;
            balance.outstanding += obligation.outstanding();
        }
        if let Some(balance) = balances.get_mut(obligation.beneficiary.as_str()) {
            balance.benefiting += obligation.amount;
        }
    }
    balances.into_values().collect()
}

/// The dates a monitor counts: each column by its own date (see [`Monitor`]), kept when it
/// falls within `from..=to`; a missing bound is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Date>,
}

impl Period {
    pub fn contains(self, date: Date) -> bool {
        self.from.is_none_or(|from| from <= date) && self.to.is_none_or(|to| date <= to)
    }

    /// A calendar quarter written "2026Q1" or "2026-Q1" (as the monitor labels quarters).
    pub fn quarter(text: &str) -> Option<Period> {
        let (year, quarter) = text.split_once('Q')?;
        let year = year.strip_suffix('-').unwrap_or(year);
        if year.len() != 4 || !year.bytes().all(|byte| byte.is_ascii_digit()) || quarter.len() != 1 {
            return None;
        }
        let year: u16 = year.parse().ok()?;
        let first_month = match quarter {
            "1" => 1,
            "2" => 4,
            "3" => 7,
            "4" => 10,
            _ => return None,
        };
        let last_day = if first_month == 1 || first_month == 10 { 31 } else { 30 };
        Some(Period { from: Date::new(year, first_month, 1), to: Some(Date::new(year, first_month + 2, last_day)?) })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRow {
    pub key: String,
    /// Sectors only: the earmark (a floor, not a cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earmark: Option<Amount>,
    /// Sectors only: earmark use, `committed + external`, shown beside the earmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earmark_use: Option<Amount>,
    /// Sectors only: earmark use as a percentage of the earmark, two decimals rounded
    /// half-even ("0.16"); absent for an earmark of 0.00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earmark_use_percent: Option<String>,
    /// Sectors only: earmark − earmark use; negative when the sector used more than its
    /// earmark (an earmark is a floor, not a cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earmark_remaining: Option<Amount>,
    /// Committed, payable and paid count only money that flows through the ledger.
    pub committed: Amount,
    pub payable: Amount,
    pub paid: Amount,
    /// Paid by the ministry directly, outside the ledger: its own column, never charged to
    /// the fund and never in `committed`, `payable` or `paid`.
    pub external: Amount,
}

/// One cell of a two-way view (sector × quarter, region × sector), counted as the rows are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorCell {
    pub row: String,
    pub column: String,
    pub committed: Amount,
    pub payable: Amount,
    pub paid: Amount,
    pub external: Amount,
}

/// The IZA quarterly monitor. Each column counts by its own date, in every view alike:
/// `committed` by the milestone's **due date** (what funded plans' milestones still commit:
/// the amount while planned or attained, the payable once confirmed, nothing once missed or
/// cancelled), `payable` by the milestone's **attainment date** (obligations), `paid` by the
/// payment's **value date** (payments not reversed), `external` by the date the ministry
/// **paid** it. So in one quarter `paid` may exceed `payable`: it pays what an earlier
/// quarter made payable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    /// The period counted (absent bounds: open).
    #[serde(default)]
    pub period: Period,
    pub sectors: Vec<MonitorRow>,
    pub regions: Vec<MonitorRow>,
    pub themes: Vec<MonitorRow>,
    /// Committed by due-date quarter, payable by attainment quarter, paid by value-date quarter.
    pub quarters: Vec<MonitorRow>,
    /// Rows: sectors; columns: quarters ("2026-Q1").
    #[serde(default)]
    pub sector_quarters: Vec<MonitorCell>,
    /// Rows: regions; columns: sectors.
    #[serde(default)]
    pub region_sectors: Vec<MonitorCell>,
    /// Plans by status (submitted, returned, rejected…) now, whatever the period: the
    /// monitor reports them all.
    pub plans_by_status: BTreeMap<String, u64>,
    pub quick_tests: u64,
}

#[derive(Default)]
struct Rows(BTreeMap<String, MonitorRow>);

impl Rows {
    fn row(&mut self, key: &str) -> &mut MonitorRow {
        self.0.entry(key.to_string()).or_insert_with(|| MonitorRow { key: key.to_string(), ..MonitorRow::default() })
    }
    fn into_vec(self) -> Vec<MonitorRow> {
        self.0.into_values().collect()
    }
}

#[derive(Default)]
struct Cells(BTreeMap<(String, String), MonitorCell>);

impl Cells {
    fn cell(&mut self, row: &str, column: &str) -> &mut MonitorCell {
        self.0.entry((row.to_string(), column.to_string())).or_insert_with(|| MonitorCell {
            row: row.to_string(),
            column: column.to_string(),
            ..MonitorCell::default()
        })
    }
    fn into_vec(self) -> Vec<MonitorCell> {
        self.0.into_values().collect()
    }
}

#[derive(Clone, Copy)]
enum Column {
    Committed,
    Payable,
    Paid,
    External,
}

/// Where an amount belongs: the sector of its line, and its plan's region and theme.
struct Place<'a> {
    sector: &'a str,
    region: &'a str,
    theme: &'a str,
}

/// Every view of the monitor, filled by one `add` per amount so that they cannot disagree.
#[derive(Default)]
struct Tally {
    sectors: Rows,
    regions: Rows,
    themes: Rows,
    quarters: Rows,
    sector_quarters: Cells,
    region_sectors: Cells,
}

impl Tally {
    fn add(&mut self, period: Period, place: Place, date: Date, column: Column, amount: Amount) {
        if !period.contains(date) {
            return;
        }
        let quarter = date.quarter_label();
        let pick = |committed: &mut Amount, payable: &mut Amount, paid: &mut Amount, external: &mut Amount| match column {
            Column::Committed => *committed += amount,
            Column::Payable => *payable += amount,
            Column::Paid => *paid += amount,
            Column::External => *external += amount,
        };
        for row in
            [self.sectors.row(place.sector), self.regions.row(place.region), self.themes.row(place.theme), self.quarters.row(&quarter)]
        {
            pick(&mut row.committed, &mut row.payable, &mut row.paid, &mut row.external);
        }
        for cell in [self.sector_quarters.cell(place.sector, &quarter), self.region_sectors.cell(place.region, place.sector)] {
            pick(&mut cell.committed, &mut cell.payable, &mut cell.paid, &mut cell.external);
        }
    }
}

/// `part` as a percentage of `whole`, two decimals rounded half-even; `None` for a whole of 0.
pub fn percent(part: Amount, whole: Amount) -> Option<String> {
    if whole.cents() == 0 {
        return None;
    }
    let ratio = part.value() * rust_decimal::Decimal::ONE_HUNDRED / whole.value();
    let mut percent = ratio.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
    percent.rescale(2);
    Some(percent.to_string())
}

/// The IZA quarterly monitor over `period` (see [`Monitor`] for which date each column counts by).
pub fn monitor(state: &LedgerState, genesis: &Genesis, period: Period) -> Monitor {
    let mut tally = Tally::default();
    for sector in &genesis.sectors {
        tally.sectors.row(&sector.id).earmark = Some(sector.earmark);
    }
    for plan in state.plans.values() {
        for unit in plan.units.values().filter(|unit| unit.funding == Funding::Funded) {
            for milestone in plan.unit_milestones(unit) {
                for line in &milestone.lines {
                    let place = Place { sector: &line.sector, region: &plan.region, theme: &plan.theme };
                    tally.add(period, place, milestone.due, Column::Committed, milestone.line_committed(line));
                }
            }
        }
    }
    for obligation in state.obligations.values() {
        let place = Place { sector: &obligation.sector, region: &obligation.region, theme: &obligation.theme };
        tally.add(period, place, obligation.attained_on, Column::Payable, obligation.amount);
    }
    for payment in state.payments.values().filter(|payment| payment.reversed.is_none()) {
        for (id, amount) in &payment.settlements {
            // A payment settles only obligations that exist (the rules refuse any other).
            let Some(obligation) = state.obligations.get(id) else { continue };
            let place = Place { sector: &obligation.sector, region: &obligation.region, theme: &obligation.theme };
            tally.add(period, place, payment.value_date, Column::Paid, *amount);
        }
    }
    for external in state.external_funding.values() {
        let place = Place { sector: &external.sector, region: &external.region, theme: &external.theme };
        tally.add(period, place, external.paid_on, Column::External, external.amount);
    }
    for sector in &genesis.sectors {
        let row = tally.sectors.row(&sector.id);
        let used = row.committed + row.external;
        row.earmark_use = Some(used);
        row.earmark_use_percent = percent(used, sector.earmark);
        row.earmark_remaining = Some(sector.earmark - used);
    }
    let mut plans_by_status = BTreeMap::new();
    for plan in state.plans.values() {
        *plans_by_status.entry(status_name(plan.main().status).to_string()).or_default() += 1;
    }
    Monitor {
        period,
        sectors: tally.sectors.into_vec(),
        regions: tally.regions.into_vec(),
        themes: tally.themes.into_vec(),
        quarters: tally.quarters.into_vec(),
        sector_quarters: tally.sector_quarters.into_vec(),
        region_sectors: tally.region_sectors.into_vec(),
        plans_by_status,
        quick_tests: state.quick_tests.len() as u64,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    pub position: usize,
    pub plan: String,
    pub addendum: String,
    pub theme: String,
    pub total: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRow {
    pub theme: String,
    pub amount: Amount,
    pub used: Amount,
    pub remaining: Amount,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentRow {
    pub delta: Amount,
    pub reason: String,
    pub effective: String,
    pub index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundReport {
    pub initial: Amount,
    pub adjustments: Vec<AdjustmentRow>,
    pub total: Amount,
    pub reserved: Amount,
    pub reservations: Vec<ReservationRow>,
    pub committed: Amount,
    pub payable: Amount,
    pub paid: Amount,
    pub free: Amount,
    pub queue: Vec<QueueRow>,
    pub intake_closed: Option<String>,
}

pub fn fund(state: &LedgerState) -> FundReport {
    FundReport {
        initial: state.fund.initial,
        adjustments: state
            .fund
            .adjustments
            .iter()
            .map(|adjustment| AdjustmentRow {
                delta: adjustment.delta,
                reason: adjustment.reason.clone(),
                effective: adjustment.effective.to_string(),
                index: adjustment.at,
            })
            .collect(),
        total: state.fund.total(),
        reserved: state.fund.reserved(),
        reservations: state
            .fund
            .reservations
            .iter()
            .map(|(theme, reservation)| ReservationRow {
                theme: theme.clone(),
                amount: reservation.amount,
                used: reservation.used,
                remaining: reservation.remaining(),
                released: reservation.released,
            })
            .collect(),
        committed: state.committed(),
        payable: state.obligations.values().map(|obligation| obligation.amount).sum(),
        paid: state.obligations.values().map(|obligation| obligation.paid).sum(),
        free: state.free(),
        queue: state
            .fund
            .queue
            .iter()
            .enumerate()
            .map(|(position, unit)| {
                let plan = &state.plans[&unit.plan];
                QueueRow {
                    position: position + 1,
                    plan: unit.plan.clone(),
                    addendum: unit.addendum.clone(),
                    theme: plan.theme.clone(),
                    total: plan.unit_total(&plan.units[&unit.addendum]),
                }
            })
            .collect(),
        intake_closed: state.fund.intake_closed.map(|date| date.to_string()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    pub insurer: String,
    pub year: u16,
    /// Paid in that year by value date, net of reversals.
    pub paid: Amount,
}

/// Spend per insurer per year, for the use-it-or-lose-it settlement.
pub fn spend(state: &LedgerState) -> Vec<SpendRow> {
    let mut rows: BTreeMap<(String, u16), Amount> = BTreeMap::new();
    for payment in state.payments.values().filter(|payment| payment.reversed.is_none()) {
        *rows.entry((payment.insurer.clone(), payment.value_date.year())).or_default() += payment.total();
    }
    rows.into_iter().map(|((insurer, year), paid)| SpendRow { insurer, year, paid }).collect()
}

/// The fewest hex digits of a transaction id that `audit prove` takes as a prefix: 8 digits
/// make an accidental match among a million transactions unlikely (about 1 in 4000).
pub const TRANSACTION_PREFIX_DIGITS_MIN: usize = 8;

/// What a proof may be asked for, as the node's `InclusionProof` request names it: a
/// transaction id or a unique prefix of it (hex), `leaf:N`, `obligation:ID` (the
/// confirmation that created it) or `payment:ID` (the payment record).
pub fn resolve_transaction(state: &LedgerState, target: &str) -> Result<(TransactionKey, LeafIndex), String> {
    let at_leaf = |index: LeafIndex, what: String| {
        state
            .leaf_ids
            .get(&index)
            .map(|key| (*key, index))
            .ok_or_else(|| format!("{what} is not in the log (it has {} leaves)", state.leaf_ids.len()))
    };
    if let Some(index) = target.strip_prefix("leaf:") {
        let index: LeafIndex = index.parse().map_err(|_| format!("'leaf:{}' is not a leaf index", crate::ids::echo(index)))?;
        return at_leaf(index, format!("leaf {index}"));
    }
    if let Some(id) = target.strip_prefix("obligation:") {
        let obligation = state.obligations.get(id).ok_or_else(|| format!("there is no obligation '{}'", crate::ids::echo(id)))?;
        return at_leaf(obligation.created_at, format!("leaf {} (obligation {id})", obligation.created_at));
    }
    if let Some(id) = target.strip_prefix("payment:") {
        let payment = state.payments.get(id).ok_or_else(|| format!("there is no payment record '{}'", crate::ids::echo(id)))?;
        return at_leaf(payment.recorded_at, format!("leaf {} (payment {id})", payment.recorded_at));
    }
    let prefix = target.to_ascii_lowercase();
    if prefix.len() < TRANSACTION_PREFIX_DIGITS_MIN || prefix.len() > 64 || !prefix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!(
            "'{}' is neither a transaction id (64 hex digits), a prefix of one ({TRANSACTION_PREFIX_DIGITS_MIN} hex digits or more), \
             leaf:N, obligation:ID nor payment:ID",
            crate::ids::echo(target)
        ));
    }
    // Ids sort as their hex does: the matches are the keys from the prefix padded with
    // zeros on, while they still start with it.
    let mut lowest = [0u8; 32];
    hex::decode_to_slice(format!("{prefix:0<64}"), &mut lowest).expect("64 hex digits");
    let mut matches = state
        .transactions
        .range(TransactionKey(lowest)..)
        .take_while(|(key, _)| hex::encode(key.0).starts_with(&prefix))
        .map(|(key, recorded)| (*key, recorded.index));
    match (matches.next(), matches.next()) {
        (Some(found), None) => Ok(found),
        (None, _) => Err(format!("no transaction id starts with {prefix}")),
        (Some((first, _)), Some((second, _))) => Err(format!(
            "{prefix} is ambiguous: transactions {} and {} (and maybe more) start with it; give more digits",
            hex::encode(first.0),
            hex::encode(second.0)
        )),
    }
}
