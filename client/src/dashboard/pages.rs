//! The three pages as HTML, from views already fetched (no I/O here): the treasury's
//! (what we owe whom, payments, downloads), the plans' (status, what awaits whom, due and
//! overdue milestones), and the regulator's (the monitor as charts, the fund, verification).
//!
//! Figures a test or a reader looks up carry a `data-id` (`open-total`, `payee:agb:…`,
//! `sector:msz:committed`, `node:zk:certified`), so the browser test reads them from the DOM.

use std::collections::BTreeMap;

use fairshare_protocol::query::ObligationRow;
use fairshare_protocol::query::{AttestationRow, FundReport, Monitor, MonitorRow, PaymentRow, PlanSummary};
use fairshare_protocol::state::{AssessmentStatus, MilestoneStatus, Party, Plan};
use fairshare_protocol::{Amount, Date};

use super::html::{escape, row, section, table, Cell};
use super::svg::{self, Group, Series};
use crate::exports::{without_pending, Exported};
use crate::monitor::{table_headers, COLUMNS, EARMARK_LEGEND};
use crate::views::{fund_summary, NodeStatus};

/// Colours of the monitor's four columns, in the order of [`COLUMNS`].
const COLUMN_COLOURS: [&str; 4] = ["#1f5fa8", "#e08a00", "#2a8a3a", "#8a3aa8"];
/// The upper bounds, in days since attainment, of the treasury's age buckets.
const AGE_BUCKETS: [(i64, &str); 4] = [(30, "0-30"), (60, "31-60"), (90, "61-90"), (i64::MAX, "over 90")];

/// What the treasury page shows.
pub struct Treasury<'a> {
    /// Whose obligations: one insurer, or `None` for all (a regulator's view).
    pub insurer: Option<&'a str>,
    /// The insurers of genesis, to switch between them.
    pub insurers: &'a [String],
    pub today: Date,
    /// Open obligations (something outstanding).
    pub open: &'a [ObligationRow],
    pub parties: &'a BTreeMap<String, Party>,
    pub payments: &'a [PaymentRow],
    /// Each milestone's due date, by (plan, milestone).
    pub due: &'a BTreeMap<(String, String), Date>,
    /// Payment files exported and not recorded on the ledger yet (of the insurer shown, or
    /// of every insurer), kept by this client.
    pub pending: &'a [Exported],
    /// Where this client keeps them (`exports/` beside the client config).
    pub exports_dir: &'a str,
    /// The debtor account the payment form starts with: (name, IBAN) from `[treasury]`.
    pub debtor: Option<(&'a str, &'a str)>,
}

fn days_between(from: Date, to: Date) -> i64 {
    to.day_number() - from.day_number()
}

fn query_of(insurer: Option<&str>) -> String {
    insurer.map(|insurer| format!("?insurer={}", escape(insurer))).unwrap_or_default()
}

pub fn treasury(data: &Treasury) -> String {
    let mut out = String::new();
    let whose = data.insurer.map_or("all insurers".to_string(), |insurer| insurer.to_string());
    out.push_str("<p>Show: ");
    out.push_str("<a href=\"/treasury?insurer=\">all insurers</a> ");
    for insurer in data.insurers {
        out.push_str(&format!("<a href=\"/treasury?insurer={0}\">{0}</a> ", escape(insurer)));
    }
    out.push_str("</p>");
    let total: Amount = data.open.iter().map(|obligation| obligation.outstanding).sum();
    let mut by_payee: BTreeMap<&str, (usize, Amount)> = BTreeMap::new();
    for obligation in data.open {
        let entry = by_payee.entry(&obligation.payee).or_default();
        entry.0 += 1;
        entry.1 += obligation.outstanding;
    }
    out.push_str(&format!(
        "<p>Open, owed by {}: <strong data-id=\"open-total\">{total}</strong> EUR on {} obligation(s) to {} payee(s), as of {}.</p>",
        escape(&whose),
        data.open.len(),
        by_payee.len(),
        data.today
    ));
    // The ledger's open amounts include what pending exports pay: nothing is paid until the
    // bank executed a file and it is recorded. What a new payment file would still pay is
    // the rest, by the rule `export sepa` applies.
    let unexported: Amount = without_pending(data.open, data.pending).iter().map(|obligation| obligation.outstanding).sum();
    out.push_str(&format!(
        "<p>Of that, in payment files exported and not recorded yet: <strong data-id=\"pending-total\">{}</strong> EUR; \
         not in any payment file yet: <strong data-id=\"unexported-total\">{unexported}</strong> EUR. \
         The open amounts on this page are the ledger's, so they include the pending files until they are recorded.</p>",
        total - unexported
    ));

    out.push_str(&section("Open, by payee", "Who is owed what; payees without a registered IBAN are left out of the payment file."));
    let rows: Vec<Vec<Cell>> = by_payee
        .iter()
        .map(|(payee, (count, outstanding))| {
            let party = data.parties.get(*payee);
            vec![
                Cell::new(payee),
                Cell::new(party.map(|party| party.name.as_str()).unwrap_or("")),
                Cell::new(party.and_then(|party| party.iban.as_deref()).unwrap_or("no IBAN registered")),
                Cell::new(count),
                Cell::with_id(outstanding, format!("payee:{payee}")),
            ]
        })
        .collect();
    out.push_str(&table("by-payee", &["payee", "name", "IBAN", ">obligations", ">outstanding"], &rows));

    out.push_str(&section(
        "Open, by due date",
        "Due date: the milestone's; age: days since the milestone was attained (when it became payable). Red: past its due date.",
    ));
    let mut open: Vec<(&ObligationRow, Option<Date>)> = data
        .open
        .iter()
        .map(|obligation| (obligation, data.due.get(&(obligation.plan.clone(), obligation.milestone.clone())).copied()))
        .collect();
    open.sort_by(|(left, left_due), (right, right_due)| (left_due, &left.id).cmp(&(right_due, &right.id)));
    let mut buckets = [(0usize, Amount::ZERO); AGE_BUCKETS.len()];
    let rows: Vec<Vec<Cell>> = open
        .iter()
        .map(|(obligation, due)| {
            // The node's rows carry dates as text (YYYY-MM-DD); an unreadable one counts as today.
            let attained = Date::parse(&obligation.attained_on, "attained on").unwrap_or(data.today);
            let age = days_between(attained, data.today);
            let bucket = AGE_BUCKETS.iter().position(|(upto, _)| age <= *upto).unwrap_or(AGE_BUCKETS.len() - 1);
            buckets[bucket].0 += 1;
            buckets[bucket].1 += obligation.outstanding;
            vec![
                Cell::new(&obligation.id),
                Cell::new(&obligation.insurer),
                Cell::new(&obligation.payee),
                Cell::new(due.map(|due| due.to_string()).unwrap_or_default()).late(due.is_some_and(|due| due < data.today)),
                Cell::new(&obligation.attained_on),
                Cell::new(age),
                Cell::with_id(obligation.outstanding, format!("obligation:{}", obligation.id)),
            ]
        })
        .collect();
    out.push_str(&table("by-due-date", &["obligation", "insurer", "payee", "due", "attained", ">age (days)", ">outstanding"], &rows));
    let rows: Vec<Vec<Cell>> = AGE_BUCKETS
        .iter()
        .zip(buckets)
        .map(|((_, name), (count, amount))| {
            vec![Cell::new(format!("{name} days")), Cell::new(count), Cell::with_id(amount, format!("age:{name}"))]
        })
        .collect();
    out.push_str(&table("by-age", &["age since attainment", ">obligations", ">outstanding"], &rows));

    out.push_str(&section(
        "Payments and reversals",
        "Paid by value date; a reversed record stays, marked, and its amount is outstanding again.",
    ));
    let paid: Amount = data.payments.iter().filter(|payment| payment.reversed.is_none()).map(|payment| payment.total).sum();
    out.push_str(&format!("<p>Paid (not reversed): <strong data-id=\"paid-total\">{paid}</strong> EUR.</p>"));
    let rows: Vec<Vec<Cell>> = data
        .payments
        .iter()
        .map(|payment| {
            vec![
                Cell::new(&payment.id),
                Cell::new(&payment.insurer),
                Cell::new(payment.value_date),
                Cell::new(&payment.bank_reference),
                Cell::new(payment.settlements.len()),
                Cell::with_id(payment.total, format!("payment:{}", payment.id)),
                Cell::new(
                    payment
                        .reversed
                        .as_ref()
                        .map(|reversal| format!("reversed (leaf {}): {}", reversal.at, reversal.reason))
                        .unwrap_or_default(),
                )
                .late(payment.reversed.is_some()),
            ]
        })
        .collect();
    out.push_str(&table("payments", &["payment", "insurer", "value date", "bank reference", ">obligations", ">amount", "reversal"], &rows));

    out.push_str(&section("Downloads", "The same files as 'fairshare export obligations|payments --csv'."));
    let query = query_of(data.insurer);
    out.push_str(&format!(
        "<p><a data-id=\"download-obligations\" href=\"/download/obligations.csv{query}\">open obligations (CSV)</a> · \
         <a data-id=\"download-payments\" href=\"/download/payments.csv{query}\">payments (CSV)</a></p>"
    ));
    out.push_str(&payment_form(data));
    out.push_str(&pending_exports(data));
    out
}

/// The form that makes a pain.001 file, as 'fairshare export sepa' does (a POST: it remembers
/// the file as pending).
fn payment_form(data: &Treasury) -> String {
    let mut out = section(
        "SEPA payment file",
        "A pain.001.001.09 file of everything open that no pending file pays yet, one transfer per payee with an IBAN, \
         as 'fairshare export sepa' makes it. The file is remembered as pending (below) until it is recorded, \
         so a second file never pays the same obligations. The debtor account starts as [treasury] in the client config.",
    );
    let Some(insurer) = data.insurer else {
        out.push_str("<p class=\"note\">A SEPA payment file is one insurer's: choose an insurer above.</p>");
        return out;
    };
    let (name, iban) = data.debtor.unwrap_or(("", ""));
    out.push_str(&format!(
        "<form method=\"post\" action=\"/export/pain.001.xml\" data-id=\"payment-form\"><input type=\"hidden\" name=\"insurer\" value=\"{}\">\
         <label>debtor <input name=\"debtor_name\" value=\"{}\" placeholder=\"account holder\" required></label> \
         <label>IBAN <input name=\"debtor_iban\" value=\"{}\" placeholder=\"NL.. .... .... .... ..\" required></label> \
         <label>execution date <input name=\"execution_date\" type=\"date\" value=\"{3}\" min=\"{3}\" required></label> \
         <button type=\"submit\">make pain.001 for {0}</button></form>",
        escape(insurer),
        escape(name),
        escape(iban),
        data.today
    ));
    out
}

/// The payment files exported and not recorded yet, and how to record or drop one.
fn pending_exports(data: &Treasury) -> String {
    let dir = escape(data.exports_dir);
    let insurer = escape(data.insurer.unwrap_or("INSURER"));
    let mut out = format!(
        "<h2>Payment files exported, not recorded</h2><p class=\"note\">Once the bank executed a file, record it: \
         <code>fairshare --as {insurer} pay --from-sepa FILE</code> (one payment record under the file's message id); \
         it is then pending no more. Each file can be downloaded again until then. A file that never reached the bank: \
         remove <code>{dir}/{insurer}/MESSAGE-ID.json</code>, and the next file pays its obligations again.</p>"
    );
    let rows: Vec<Vec<Cell>> = data
        .pending
        .iter()
        .map(|export| {
            vec![
                Cell::with_id(&export.message_id, format!("pending:{}", export.message_id)),
                Cell::new(&export.insurer),
                Cell::new(&export.execution_date),
                Cell::with_id(export.settlements.len(), format!("pending:{}:obligations", export.message_id)),
                Cell::with_id(export.total(), format!("pending:{}:total", export.message_id)),
            ]
        })
        .collect();
    out.push_str(&table("pending", &["message id", "insurer", "execution date", ">obligations", ">total"], &rows));
    if !data.pending.is_empty() {
        out.push_str("<p>Download again: ");
        let links: Vec<String> = data
            .pending
            .iter()
            .map(|export| {
                format!(
                    "<a data-id=\"again:{id}\" href=\"/download/pending.xml?insurer={insurer}&amp;message_id={id}\">{id}.xml</a>",
                    id = escape(&export.message_id),
                    insurer = escape(&export.insurer)
                )
            })
            .collect();
        out.push_str(&links.join(" · "));
        out.push_str("</p>");
    }
    out
}

/// What the plans page shows.
pub struct Plans<'a> {
    pub today: Date,
    pub summaries: &'a [PlanSummary],
    pub plans: &'a [Plan],
}

/// Who must act next on `plan`, and on what: (who, what).
pub fn awaiting(plan: &Plan, today: Date) -> Vec<(String, String)> {
    let mut waits = Vec::new();
    let assessors = [&plan.coordinating_insurer, &plan.second_assessor];
    for (id, unit) in &plan.units {
        let what = if id.is_empty() { format!("plan {} v{}", plan.id, plan.version) } else { format!("addendum {id} of {}", plan.id) };
        match unit.status {
            AssessmentStatus::Submitted => {
                for assessor in assessors.iter().filter(|assessor| !unit.assessments.contains_key(assessor.as_str())) {
                    waits.push((assessor.to_string(), format!("assess {what}")));
                }
            }
            AssessmentStatus::Escalated => {
                waits.push(("the assessors (escalated)".to_string(), format!("settle the assessment of {what}")))
            }
            AssessmentStatus::Returned => {
                waits.push((plan.coordinating_insurer.clone(), format!("resubmit {what}, returned with questions")))
            }
            AssessmentStatus::Approved | AssessmentStatus::Rejected | AssessmentStatus::Cancelled => {}
        }
    }
    for milestone in plan.milestones.values() {
        match &milestone.status {
            MilestoneStatus::Attained { on, payable, .. } => waits.push((
                plan.second_assessor.clone(),
                format!("confirm or decline milestone {} (attained {on}, payable {payable})", milestone.id),
            )),
            MilestoneStatus::Planned if milestone.due < today && plan.main().status == AssessmentStatus::Approved => waits.push((
                plan.coordinating_insurer.clone(),
                format!("attain milestone {} or record it missed: due {}, overdue", milestone.id, milestone.due),
            )),
            _ => {}
        }
    }
    for (request, signed) in &plan.pending_reschedules {
        let (milestone, due) = request.split_once('@').unwrap_or((request.as_str(), "?"));
        for assessor in assessors.iter().filter(|assessor| !signed.contains(assessor.as_str())) {
            let by: Vec<&str> = signed.iter().map(String::as_str).collect();
            waits.push((assessor.to_string(), format!("co-sign moving milestone {milestone} to {due} (asked by {})", by.join(", "))));
        }
    }
    if !plan.pending_cancellation.is_empty() {
        for assessor in assessors.iter().filter(|assessor| !plan.pending_cancellation.contains(assessor.as_str())) {
            let by: Vec<&str> = plan.pending_cancellation.iter().map(String::as_str).collect();
            waits.push((assessor.to_string(), format!("co-sign cancelling plan {} (asked by {})", plan.id, by.join(", "))));
        }
    }
    waits
}

pub fn plans(data: &Plans) -> String {
    let mut out = String::new();
    out.push_str(&section("Plans", ""));
    let rows: Vec<Vec<Cell>> = data
        .summaries
        .iter()
        .map(|plan| {
            let mut cells = row([&plan.id, &plan.title, &plan.coordinating_insurer, &plan.second_assessor]);
            cells.push(Cell::with_id(&plan.status, format!("plan:{}:status", plan.id)));
            cells.push(Cell::new(&plan.funding));
            for (amount, column) in [(plan.total, "total"), (plan.committed, "committed"), (plan.payable, "payable"), (plan.paid, "paid")] {
                cells.push(Cell::with_id(amount, format!("plan:{}:{column}", plan.id)));
            }
            cells
        })
        .collect();
    out.push_str(&table(
        "plans",
        &["plan", "title", "coordinating", "second assessor", "status", "funding", ">total", ">committed", ">payable", ">paid"],
        &rows,
    ));

    out.push_str(&section(
        "What awaits whom",
        "Assessments, confirmations and two-sided requests that wait for someone, and overdue milestones.",
    ));
    let mut waits: Vec<(String, String, String)> = Vec::new();
    for plan in data.plans {
        waits.extend(awaiting(plan, data.today).into_iter().map(|(who, what)| (who, plan.id.clone(), what)));
    }
    waits.sort();
    let rows: Vec<Vec<Cell>> = waits.iter().map(|(who, plan, what)| row([who, plan, what])).collect();
    out.push_str(&table("awaits", &["awaits", "plan", "what"], &rows));

    let mut milestones: Vec<(&Plan, &fairshare_protocol::state::Milestone)> =
        data.plans.iter().flat_map(|plan| plan.milestones.values().map(move |milestone| (plan, milestone))).collect();
    milestones
        .sort_by(|(left_plan, left), (right_plan, right)| (left.due, &left_plan.id, &left.id).cmp(&(right.due, &right_plan.id, &right.id)));
    let overdue = |milestone: &fairshare_protocol::state::Milestone| {
        matches!(milestone.status, MilestoneStatus::Planned | MilestoneStatus::Attained { .. }) && milestone.due < data.today
    };
    let late = milestones.iter().filter(|(_, milestone)| overdue(milestone)).count();
    out.push_str(&section(
        "Milestones by due date",
        &format!("As of {}: {late} overdue (planned or awaiting confirmation past their due date, in red).", data.today),
    ));
    let rows: Vec<Vec<Cell>> = milestones
        .iter()
        .map(|(plan, milestone)| {
            let status = match &milestone.status {
                MilestoneStatus::Planned => "planned".to_string(),
                MilestoneStatus::Attained { on, payable, .. } => format!("attained {on}, {payable} payable: awaits confirmation"),
                MilestoneStatus::Confirmed { payable, confirmed_on, .. } => format!("confirmed {confirmed_on}, {payable} payable"),
                MilestoneStatus::Missed => "missed".to_string(),
                MilestoneStatus::Cancelled => "cancelled".to_string(),
            };
            vec![
                Cell::new(&plan.id),
                Cell::new(&milestone.id),
                Cell::new(&milestone.title),
                Cell::new(&milestone.kind),
                Cell::new(milestone.due).late(overdue(milestone)),
                Cell::with_id(status, format!("milestone:{}/{}", plan.id, milestone.id)),
                Cell::new(milestone.amount),
            ]
        })
        .collect();
    out.push_str(&table("milestones", &["plan", "milestone", "title", "kind", "due", "status", ">amount"], &rows));
    out
}

/// What the regulator's page shows.
pub struct Regulator<'a> {
    pub monitor: &'a Monitor,
    pub fund: &'a FundReport,
    pub statuses: &'a [NodeStatus],
    /// Regulator → (checkpoint size it verified, root hex, leaf index of the attestation).
    pub attestations: &'a [AttestationRow],
}

fn column_series() -> [Series; 4] {
    std::array::from_fn(|index| Series { name: COLUMNS[index].0, colour: COLUMN_COLOURS[index] })
}

fn figures(row: &MonitorRow) -> Vec<Amount> {
    vec![row.committed, row.payable, row.paid, row.external]
}

/// A chart of the four columns per row, and the same figures as a table (each with a `data-id`).
fn monitor_view(id: &str, title: &str, rows: &[MonitorRow]) -> String {
    let groups: Vec<Group> = rows
        .iter()
        .map(|row| {
            let note = match (row.earmark, row.earmark_use) {
                (Some(earmark), Some(used)) => format!(
                    "earmark {earmark}: use {used} ({}%), {} remaining",
                    row.earmark_use_percent.as_deref().unwrap_or("-"),
                    row.earmark_remaining.unwrap_or_default()
                ),
                _ => String::new(),
            };
            Group { label: row.key.clone(), note, amounts: figures(row) }
        })
        .collect();
    let mut out = section(title, "");
    out.push_str(&svg::bars(id, title, &column_series(), &groups));
    let earmarks = rows.iter().any(|row| row.earmark.is_some());
    let headers = table_headers(id, earmarks);
    let rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![Cell::new(&row.key)];
            if earmarks {
                let text = |amount: Option<Amount>| amount.map(|amount| amount.to_string()).unwrap_or_default();
                cells.push(Cell::with_id(text(row.earmark), format!("{id}:{}:earmark", row.key)));
                cells.push(Cell::with_id(text(row.earmark_use), format!("{id}:{}:earmark_use", row.key)));
                cells.push(Cell::with_id(
                    row.earmark_use_percent.clone().unwrap_or_default(),
                    format!("{id}:{}:earmark_use_percent", row.key),
                ));
                cells.push(Cell::with_id(text(row.earmark_remaining), format!("{id}:{}:earmark_remaining", row.key)));
            }
            for ((name, _), amount) in COLUMNS.iter().zip(figures(row)) {
                cells.push(Cell::with_id(amount, format!("{id}:{}:{name}", row.key)));
            }
            cells
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    out.push_str(&table(id, &header_refs, &rows));
    out
}

pub fn regulator(data: &Regulator) -> String {
    let monitor = data.monitor;
    let mut out = String::from("<p class=\"note\">Each column counts by its own date: ");
    let said: Vec<String> = COLUMNS.iter().map(|(name, date)| format!("<b>{}</b> {}", escape(name), escape(date))).collect();
    out.push_str(&said.join("; "));
    out.push_str(&format!(". {}.</p>", escape(EARMARK_LEGEND)));

    let earmarks: Vec<Group> = monitor
        .sectors
        .iter()
        .map(|row| Group {
            label: row.key.clone(),
            note: format!("{}% of the earmark used", row.earmark_use_percent.as_deref().unwrap_or("-")),
            amounts: vec![row.earmark_use.unwrap_or_default(), row.earmark.unwrap_or_default()],
        })
        .collect();
    out.push_str(&section(
        "Earmark use per sector",
        "Earmark use (committed + external) against the sector's earmark, a floor, not a cap.",
    ));
    let series = [Series { name: "earmark use", colour: COLUMN_COLOURS[0] }, Series { name: "earmark", colour: "#bbb" }];
    out.push_str(&svg::bars("earmarks", "Earmark use per sector", &series, &earmarks));
    out.push_str(&monitor_view("sector", "Per sector", &monitor.sectors));
    out.push_str(&monitor_view("quarter", "Per quarter", &monitor.quarters));
    out.push_str(&monitor_view("region", "Per region", &monitor.regions));
    out.push_str(&monitor_view("theme", "Per theme", &monitor.themes));
    let statuses: Vec<String> = monitor.plans_by_status.iter().map(|(status, count)| format!("{count} {status}")).collect();
    out.push_str(&format!(
        "<p>Plans now: {}; quick tests: {}.</p>",
        escape(&if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") }),
        monitor.quick_tests
    ));

    out.push_str(&fund(data.fund));
    out.push_str(&verification(data.statuses, data.attestations));
    out
}

fn fund(fund: &FundReport) -> String {
    let mut out =
        section("The fund over time", "The fund's size after each adjustment (a signed entry of the ministry), then what it holds now.");
    let mut points = vec![("genesis".to_string(), fund.initial)];
    let mut total = fund.initial;
    for adjustment in &fund.adjustments {
        total += adjustment.delta;
        points.push((format!("{} (leaf {})", adjustment.effective, adjustment.index), total));
    }
    out.push_str(&svg::steps("fund", "The fund after each adjustment", &points));
    let rows: Vec<Vec<Cell>> = fund
        .adjustments
        .iter()
        .map(|adjustment| {
            vec![
                Cell::new(format!("leaf {}", adjustment.index)),
                Cell::new(&adjustment.effective),
                Cell::new(adjustment.delta),
                Cell::new(&adjustment.reason),
            ]
        })
        .collect();
    out.push_str(&table("adjustments", &["adjustment", "effective", ">delta", "reason"], &rows));
    let rows: Vec<Vec<Cell>> =
        fund_summary(fund).iter().map(|(what, amount)| vec![Cell::new(what), Cell::with_id(amount, format!("fund:{what}"))]).collect();
    out.push_str(&table("fund", &["fund", ">amount"], &rows));
    let rows: Vec<Vec<Cell>> = fund
        .reservations
        .iter()
        .map(|reservation| {
            vec![
                Cell::new(&reservation.theme),
                Cell::new(reservation.amount),
                Cell::new(reservation.used),
                Cell::new(reservation.remaining),
                Cell::new(if reservation.released { "released" } else { "" }),
            ]
        })
        .collect();
    out.push_str(&section("Reservations", "Per theme; what a reservation does not need is released to the queue."));
    out.push_str(&table("reservations", &["theme", ">amount", ">used", ">remaining", "released"], &rows));
    out.push_str(&section("The queue, in order", "First come, first served: freed money funds the head while it fits."));
    let rows: Vec<Vec<Cell>> = fund
        .queue
        .iter()
        .map(|row| {
            vec![Cell::new(row.position), Cell::new(&row.plan), Cell::new(&row.addendum), Cell::new(&row.theme), Cell::new(row.total)]
        })
        .collect();
    out.push_str(&table("queue", &[">position", "plan", "addendum", "theme", ">total"], &rows));
    if let Some(closed) = &fund.intake_closed {
        out.push_str(&format!("<p>Intake closed on {}.</p>", escape(closed)));
    }
    out
}

fn verification(statuses: &[NodeStatus], attestations: &[AttestationRow]) -> String {
    let mut out = section(
        "Verification",
        "Each node's own status: its log size, the newest checkpoint certified by more than two thirds of the nodes, evidence it holds, and how far it is behind the largest log.",
    );
    let largest = statuses.iter().filter(|status| status.reachable).map(|status| status.size).max().unwrap_or(0);
    let short = |hex: &str| hex.chars().take(12).collect::<String>();
    let rows: Vec<Vec<Cell>> = statuses
        .iter()
        .map(|status| {
            let name = if status.node.is_empty() { status.address.clone() } else { status.node.clone() };
            if !status.reachable {
                let error = status.error.clone().unwrap_or_else(|| "unreachable".to_string());
                return vec![
                    Cell::new(&name),
                    Cell::new(&status.address),
                    Cell::with_id("unreachable", format!("node:{name}:state")).late(true),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(error),
                ];
            }
            let behind = largest - status.size.min(largest);
            vec![
                Cell::new(&name),
                Cell::new(&status.address),
                Cell::with_id(
                    if behind == 0 { "up to date".to_string() } else { format!("{behind} behind") },
                    format!("node:{name}:state"),
                )
                .late(behind > 0),
                Cell::with_id(status.size, format!("node:{name}:size")),
                Cell::with_id(status.certified_size, format!("node:{name}:certified")),
                Cell::new(short(&status.certified_root)),
                Cell::with_id(status.evidence.len(), format!("node:{name}:evidence")).late(!status.evidence.is_empty()),
                Cell::new(if status.history_from == 0 {
                    "full history".to_string()
                } else {
                    format!("history from {}", status.history_from)
                }),
            ]
        })
        .collect();
    out.push_str(&table(
        "nodes",
        &["node", "address", "state", ">log size", ">certified size", "certified root", ">evidence", "history"],
        &rows,
    ));
    for status in statuses.iter().filter(|status| !status.evidence.is_empty()) {
        out.push_str(&format!("<p class=\"late\">Evidence held by {}:</p><ul>", escape(&status.node)));
        for evidence in &status.evidence {
            out.push_str(&format!("<li>{}</li>", escape(evidence)));
        }
        out.push_str("</ul>");
    }
    out.push_str(&section(
        "Attestations",
        "A regulator's signed statement that it verified the log up to a certified checkpoint ('fairshare audit attest').",
    ));
    let rows: Vec<Vec<Cell>> = attestations
        .iter()
        .map(|attestation| {
            vec![
                Cell::new(&attestation.regulator),
                Cell::with_id(attestation.size, format!("attestation:{}", attestation.regulator)),
                Cell::new(short(&attestation.root)),
                Cell::new(attestation.leaf),
            ]
        })
        .collect();
    out.push_str(&table("attestations", &["regulator", ">verified size", "root", ">leaf"], &rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_between_counts_calendar_days() {
        let date = |text: &str| Date::parse(text, "date").unwrap();
        assert_eq!(days_between(date("2026-02-27"), date("2026-03-01")), 2);
        assert_eq!(days_between(date("2026-03-01"), date("2026-02-27")), -2);
    }

    fn obligation(id: &str, payee: &str, outstanding: &str) -> ObligationRow {
        serde_json::from_value(serde_json::json!({
            "id": id, "plan": "p", "milestone": "m", "line": 1, "insurer": "zk", "provider": payee, "payee": payee,
            "sector": "msz", "region": "nw", "theme": "t", "amount": outstanding, "paid": "0.00", "outstanding": outstanding,
            "attained_on": "2026-06-01", "key_group": "g", "key_version": 1, "created_at": 1, "payments": []
        }))
        .unwrap()
    }

    #[test]
    fn the_treasury_page_lists_pending_exports_and_posts_its_payment_form_prefilled() {
        let open = [obligation("p/m/1/zk", "agb:00000001", "100.00"), obligation("p/m/2/zk", "agb:00000002", "40.00")];
        let pending = [Exported {
            message_id: "FS-zk-1".into(),
            insurer: "zk".into(),
            execution_date: "2026-12-15".into(),
            settlements: [("p/m/1/zk".to_string(), "100.00".parse().unwrap())].into(),
        }];
        let (insurers, parties, due) = (["zk".to_string()], BTreeMap::new(), BTreeMap::new());
        let page = Treasury {
            insurer: Some("zk"),
            insurers: &insurers,
            today: Date::parse("2026-12-01", "today").unwrap(),
            open: &open,
            parties: &parties,
            payments: &[],
            due: &due,
            pending: &pending,
            exports_dir: "/home/zk/exports",
            debtor: Some(("Zilveren \"Kruis\"", "NL91ABNA0417164300")),
        };
        let html = treasury(&page);
        assert!(html.contains("data-id=\"open-total\">140.00<"), "the ledger's open amount includes the pending file: {html}");
        assert!(html.contains("data-id=\"pending-total\">100.00<") && html.contains("data-id=\"unexported-total\">40.00<"), "{html}");
        assert!(html.contains("data-id=\"pending:FS-zk-1:total\">100.00<") && html.contains("--as zk pay --from-sepa FILE"), "{html}");
        assert!(html.contains("<form method=\"post\" action=\"/export/pain.001.xml\""), "making a file is a POST: {html}");
        assert!(html.contains("value=\"Zilveren &quot;Kruis&quot;\"") && html.contains("value=\"NL91ABNA0417164300\""), "{html}");
        let all = treasury(&Treasury { insurer: None, ..page });
        assert!(!all.contains("<form method=\"post\""), "a payment file is one insurer's: {all}");
    }

    #[test]
    fn the_regulator_page_puts_every_sector_figure_in_the_dom_and_escapes_keys() {
        let euros = |text: &str| text.parse::<Amount>().unwrap();
        let monitor = Monitor {
            sectors: vec![MonitorRow {
                key: "m<s>z".into(),
                earmark: Some(euros("1000.00")),
                earmark_use: Some(euros("250.00")),
                earmark_use_percent: Some("25.00".into()),
                earmark_remaining: Some(euros("750.00")),
                committed: euros("200.00"),
                external: euros("50.00"),
                ..MonitorRow::default()
            }],
            ..Monitor::default()
        };
        let fund = FundReport {
            initial: euros("5000.00"),
            adjustments: vec![],
            total: euros("5000.00"),
            reserved: Amount::ZERO,
            reservations: vec![],
            committed: euros("200.00"),
            payable: Amount::ZERO,
            paid: Amount::ZERO,
            free: euros("4800.00"),
            queue: vec![],
            intake_closed: None,
        };
        let html = regulator(&Regulator { monitor: &monitor, fund: &fund, statuses: &[], attestations: &[] });
        assert!(html.contains("data-id=\"sector:m&lt;s&gt;z:committed\">200.00</td>"), "{html}");
        assert!(html.contains("data-id=\"sector:m&lt;s&gt;z:earmark_use_percent\">25.00</td>"));
        assert!(html.contains("data-id=\"fund:free\">4800.00</td>"));
        assert!(!html.contains("<s>"), "keys are escaped everywhere");
    }
}
