//! The IZA workload of `fairshare bench --iza`: plans through quick test, submission and
//! both assessments, milestones attained in full, in part, on actual costs or missed,
//! confirmed by the second assessor, and the insurers' payments (single, batched, partial,
//! some reversed and paid again), in stages that respect the rules' order.
//!
//! Generated from a [`Shape`] and the ledger's [`Facts`] (its insurers, sectors, the first
//! month every genesis key is in force, and what the fund has free), deterministically from
//! the seed: the same shape and seed give the same transactions but for the ids, which
//! carry the seed so that reruns on one ledger do not collide. Every transaction is built
//! through [`Action`], the path the CLI's commands take, so it is checked the same way.
//!
//! Amounts are scaled to the fund: the plans together commit at most 80 % of what is free,
//! so every approval is funded at once (none waits in the queue) and every milestone can be
//! attained. Earmarks are floors that no rule reads, so they need no scaling.

use std::collections::BTreeMap;

use fairshare_protocol::pb::transaction::Kind;
use fairshare_protocol::query::ObligationRow;
use fairshare_protocol::{Amount, Date, MILESTONE_LINES_MAX, PLAN_MILESTONES_MAX};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::action::Action;
use crate::plan_file::{LineFile, MilestoneFile, PlanFile};
use crate::InputError;

/// A line's average amount at most this (in cents): €25,000, so that 400 plans of 20
/// milestones of 5 lines commit about €1 bn, about half the IZA fund.
pub const LINE_CENTS_AVERAGE_MAX: i64 = 2_500_000;
/// Below this average (€200) the fund is too small for the shape.
const LINE_CENTS_AVERAGE_MIN: i64 = 20_000;
/// Plans run five years: milestones are spread over 60 months from the start.
const PLAN_MONTHS: u32 = 60;
/// One plan in this many is returned with questions and approved as version 2.
const RETURNED_EVERY: usize = 10;
/// One batched payment in this many is reversed (the transfer bounced) and paid again.
const REVERSED_EVERY: usize = 25;

const REGIONS: [&str; 11] = [
    "ROAZ Noord-Nederland",
    "ROAZ Euregio",
    "ROAZ Oost",
    "ROAZ Midden-Nederland",
    "ROAZ Noordwest",
    "ROAZ West",
    "ROAZ Zuidwest-Nederland",
    "ROAZ Brabant",
    "ROAZ Limburg",
    "ROAZ Zwolle",
    "ROAZ Flevoland",
];
const THEMES: [&str; 5] = ["acute-care-coordination", "digital-care", "ggz-networks", "primary-care-shift", "district-nursing"];
const FRACTIONS: [&str; 4] = ["0.5", "0.75", "0.8", "0.9"];

/// How big the workload is. The default is the real scale: ~400 plans over five years,
/// 20 milestones of 5 lines, ~400k obligations on ten insurers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub plans: usize,
    pub milestones: usize,
    pub lines: usize,
    pub seed: u64,
}

/// What the workload needs to know of the ledger.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Genesis insurers, in genesis order.
    pub insurers: Vec<String>,
    /// Genesis sector ids.
    pub sectors: Vec<String>,
    /// The first month (year, month) that starts on or after every genesis key's
    /// `valid_from`: plans start from it, so every attainment has a key in force.
    pub first_month: (u16, u8),
    /// What the fund has neither committed nor reserved, in cents.
    pub free_cents: i64,
}

/// One transaction to sign: who signs what.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub signer: String,
    pub kind: Kind,
}

/// Transactions that do not depend on one another: submitted together, in any order.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: &'static str,
    pub transactions: Vec<Transaction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Full,
    Fraction(&'static str),
    /// Payable on actual costs, in cents.
    ActualCosts(i64),
    Missed,
}

#[derive(Debug, Clone)]
struct PlannedMilestone {
    id: String,
    due: Date,
    confirm_on: Date,
    amount_cents: i64,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
struct PlannedPlan {
    file: PlanFile,
    returned: bool,
    milestones: Vec<PlannedMilestone>,
}

/// The generated workload, before payments (which follow from the obligations the
/// confirmations created: see [`Workload::payments`]).
#[derive(Debug, Clone)]
pub struct Workload {
    pub shape: Shape,
    /// "iza-" and 8 hex digits of the seed: every plan and payment id starts with it.
    pub prefix: String,
    pub providers: Vec<String>,
    pub cashiers: Vec<String>,
    /// The average line amount the fund allowed, in cents.
    pub line_cents_average: i64,
    plans: Vec<PlannedPlan>,
}

/// The payment stages, and what they hold.
#[derive(Debug, Clone, Default)]
pub struct Payments {
    pub stages: Vec<Stage>,
    /// Payments settling one obligation / several / part of each.
    pub single: usize,
    pub batched: usize,
    pub partial: usize,
    pub reversed: usize,
    /// Obligations left unpaid on purpose (a treasury that has not paid yet).
    pub left_open: usize,
}

fn month_plus(first: (u16, u8), months: u32) -> (u16, u8) {
    let index = u32::from(first.0) * 12 + u32::from(first.1 - 1) + months;
    ((index / 12) as u16, (index % 12 + 1) as u8)
}

fn date(month: (u16, u8), day: u8) -> Result<Date, InputError> {
    Date::new(month.0, month.1, day).ok_or_else(|| InputError::new("dates", format!("{}-{:02}-{day:02} is out of range", month.0, month.1)))
}

/// The first month starting on or after every date in `valid_from` ("YYYY-MM-DD").
pub fn first_month_after(valid_from: &[String]) -> Result<(u16, u8), InputError> {
    let mut first = (1900u16, 1u8);
    for text in valid_from {
        let parsed = Date::parse(text, "key valid_from").map_err(|rejection| InputError::new("genesis keys", rejection.message))?;
        let (year, month, day): (u16, u8, u8) =
            (text[0..4].parse().unwrap_or(parsed.year()), text[5..7].parse().unwrap_or(1), text[8..10].parse().unwrap_or(1));
        let month_start = if day == 1 { (year, month) } else { month_plus((year, month), 1) };
        first = first.max(month_start);
    }
    Ok(first)
}

fn amount(cents: i64) -> String {
    Amount::from_cents(cents).to_string()
}

fn kind(action: &Action, signer: &str) -> Result<Transaction, InputError> {
    Ok(Transaction { signer: signer.to_string(), kind: action.to_kind(signer).map_err(|error| error.within(action.name()))? })
}

impl Workload {
    pub fn generate(shape: Shape, facts: &Facts) -> Result<Workload, InputError> {
        if shape.plans == 0 {
            return Err(InputError::new("--plans", "must be at least 1"));
        }
        if !(1..=PLAN_MILESTONES_MAX).contains(&shape.milestones) {
            return Err(InputError::new("--milestones", format!("must be 1 to {PLAN_MILESTONES_MAX}")));
        }
        if !(1..=MILESTONE_LINES_MAX).contains(&shape.lines) {
            return Err(InputError::new("--lines", format!("must be 1 to {MILESTONE_LINES_MAX}")));
        }
        if shape.plans > 100_000 {
            return Err(InputError::new("--plans", "at most 100000"));
        }
        if facts.insurers.len() < 2 {
            return Err(InputError::new("genesis", "a plan needs two distinct insurers as assessors; this ledger has fewer"));
        }
        if facts.sectors.is_empty() {
            return Err(InputError::new("genesis", "has no sectors"));
        }
        let total_lines = (shape.plans * shape.milestones * shape.lines) as i64;
        let line_cents_average = (facts.free_cents / 10 * 8 / total_lines).min(LINE_CENTS_AVERAGE_MAX);
        if line_cents_average < LINE_CENTS_AVERAGE_MIN {
            return Err(InputError::new(
                "--plans",
                format!(
                    "the fund has {} free, too little for {total_lines} lines of at least {} on average; give fewer --plans, --milestones or --lines",
                    amount(facts.free_cents.max(0)),
                    amount(LINE_CENTS_AVERAGE_MIN)
                ),
            ));
        }
        let mut random = StdRng::seed_from_u64(shape.seed);
        let prefix = format!("iza-{:08x}", super::spread(shape.seed) as u32);
        let provider_count = (shape.plans * 2).max(shape.lines * 2) as u64;
        let providers: Vec<String> = (0..provider_count).map(|counter| super::provider_id(shape.seed, counter)).collect();
        let cashiers: Vec<String> = (0..(shape.plans / 10).max(1) as u64)
            .map(|counter| format!("kvk:{:08}", super::party_number(shape.seed, provider_count + counter)))
            .collect();
        let insurers = &facts.insurers;
        let mut plans = Vec::with_capacity(shape.plans);
        for number in 0..shape.plans {
            let coordinating = &insurers[number % insurers.len()];
            let offset = 1 + (number / insurers.len()) % (insurers.len() - 1);
            let second = &insurers[(number + offset) % insurers.len()];
            debug_assert_ne!(coordinating, second);
            let start = month_plus(facts.first_month, (number % 12) as u32);
            let mut milestone_files = Vec::with_capacity(shape.milestones);
            let mut milestones = Vec::with_capacity(shape.milestones);
            for index in 0..shape.milestones {
                let due_month = month_plus(start, (index as u32 + 1) * PLAN_MONTHS / shape.milestones as u32);
                let mut lines = Vec::with_capacity(shape.lines);
                let mut amount_cents = 0;
                for line in 0..shape.lines {
                    let cents = line_cents_average * random.gen_range(50..=150) / 100;
                    amount_cents += cents;
                    let beneficiary = providers[(number * shape.lines + line) % providers.len()].clone();
                    let payee = random.gen_bool(0.2).then(|| cashiers[number % cashiers.len()].clone());
                    lines.push(LineFile {
                        beneficiary,
                        payee,
                        sector: facts.sectors[random.gen_range(0..facts.sectors.len())].clone(),
                        amount: amount(cents),
                    });
                }
                let roll = random.gen_range(0..100);
                let outcome = match roll {
                    0..65 => Outcome::Full,
                    65..80 => Outcome::Fraction(FRACTIONS[random.gen_range(0..FRACTIONS.len())]),
                    80..95 => Outcome::ActualCosts((amount_cents * random.gen_range(60..=99) / 100).max(1)),
                    _ => Outcome::Missed,
                };
                let id = format!("m{:03}", index + 1);
                milestone_files.push(MilestoneFile {
                    id: id.clone(),
                    title: format!("Mijlpaal {} van {}", index + 1, shape.milestones),
                    kind: if index % 2 == 0 { "effort" } else { "result" }.to_string(),
                    due: date(due_month, 1)?.to_string(),
                    lines,
                });
                milestones.push(PlannedMilestone { id, due: date(due_month, 1)?, confirm_on: date(due_month, 15)?, amount_cents, outcome });
            }
            let file = PlanFile {
                id: format!("{prefix}-p{:05}", number + 1),
                version: None,
                title: format!("Transformatieplan {} ({})", number + 1, THEMES[number % THEMES.len()]),
                region: REGIONS[number % REGIONS.len()].to_string(),
                theme: THEMES[number % THEMES.len()].to_string(),
                coordinating_insurer: coordinating.clone(),
                second_assessor: second.clone(),
                start: date(start, 1)?.to_string(),
                evidence: Vec::new(),
                milestones: milestone_files,
            };
            plans.push(PlannedPlan { file, returned: number % RETURNED_EVERY == RETURNED_EVERY - 1, milestones });
        }
        Ok(Workload { shape, prefix, providers, cashiers, line_cents_average, plans })
    }

    pub fn plan_ids(&self) -> Vec<String> {
        self.plans.iter().map(|plan| plan.file.id.clone()).collect()
    }

    /// What all plans commit, in cents.
    pub fn total_cents(&self) -> i64 {
        self.plans.iter().flat_map(|plan| &plan.milestones).map(|milestone| milestone.amount_cents).sum()
    }

    /// At most this many obligations arise: every line of every milestone that is not
    /// missed, once per insurer (fewer when an insurer's part of a line rounds to 0.00).
    pub fn obligations_max(&self, insurers: usize) -> usize {
        let confirmed =
            self.plans.iter().flat_map(|plan| &plan.milestones).filter(|milestone| milestone.outcome != Outcome::Missed).count();
        confirmed * self.shape.lines * insurers
    }

    /// The stages up to and including the confirmations, in dependency order.
    pub fn stages(&self, insurers: &[String]) -> Result<Vec<Stage>, InputError> {
        let mut parties = Vec::new();
        for (number, provider) in self.providers.iter().enumerate() {
            let action = Action::PartyRegister {
                party: provider.clone(),
                name: format!("Zorgaanbieder {provider}"),
                party_kind: "provider".into(),
                iban: None,
            };
            parties.push(kind(&action, &insurers[number % insurers.len()])?);
        }
        for (number, cashier) in self.cashiers.iter().enumerate() {
            let action = Action::PartyRegister {
                party: cashier.clone(),
                name: format!("Regiokassier {cashier}"),
                party_kind: "cashier".into(),
                iban: None,
            };
            parties.push(kind(&action, &insurers[number % insurers.len()])?);
        }
        let (mut quick_tests, mut decisions, mut submissions, mut returns, mut revisions, mut assessments) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut attainments, mut confirmations) = (Vec::new(), Vec::new());
        for plan in &self.plans {
            let file = &plan.file;
            let (coordinating, second) = (file.coordinating_insurer.as_str(), file.second_assessor.as_str());
            let estimated: i64 = plan.milestones.iter().map(|milestone| milestone.amount_cents).sum();
            let quick_test = Action::QuickTest {
                plan: file.id.clone(),
                title: file.title.clone(),
                region: file.region.clone(),
                theme: file.theme.clone(),
                second_assessor: second.to_string(),
                coordinating_insurer: None,
                estimated_total: Some(amount(estimated)),
            };
            quick_tests.push(kind(&quick_test, coordinating)?);
            let decide = Action::QuickTestDecide { plan: file.id.clone(), outcome: "passed".into(), note: None };
            decisions.push(kind(&decide, second)?);
            submissions.push(kind(&Action::PlanSubmit { file: None, plan: Some(file.clone()), version: Some(1) }, coordinating)?);
            let version = if plan.returned {
                let questions = Action::PlanAssess {
                    plan: file.id.clone(),
                    version: Some(1),
                    assessment: "return".into(),
                    addendum: None,
                    note: Some("maak de mijlpalen meetbaar".into()),
                };
                returns.push(kind(&questions, second)?);
                revisions.push(kind(&Action::PlanSubmit { file: None, plan: Some(file.clone()), version: Some(2) }, coordinating)?);
                2
            } else {
                1
            };
            for assessor in [coordinating, second] {
                let approve = Action::PlanAssess {
                    plan: file.id.clone(),
                    version: Some(version),
                    assessment: "approve".into(),
                    addendum: None,
                    note: None,
                };
                assessments.push(kind(&approve, assessor)?);
            }
            for (index, milestone) in plan.milestones.iter().enumerate() {
                let attain = |fraction: Option<&str>, payable: Option<i64>| Action::Attain {
                    plan: file.id.clone(),
                    milestone: milestone.id.clone(),
                    on: milestone.due.to_string(),
                    fraction: fraction.map(str::to_string),
                    amount: payable.map(amount),
                    evidence: None,
                    note: None,
                };
                let action = match &milestone.outcome {
                    Outcome::Full => attain(None, None),
                    Outcome::Fraction(fraction) => attain(Some(fraction), None),
                    Outcome::ActualCosts(cents) => attain(None, Some(*cents)),
                    Outcome::Missed => {
                        // Either assessor may record a miss; alternate.
                        let signer = if index % 2 == 0 { coordinating } else { second };
                        let miss = Action::Miss { plan: file.id.clone(), milestone: milestone.id.clone(), note: None };
                        attainments.push(kind(&miss, signer)?);
                        continue;
                    }
                };
                attainments.push(kind(&action, coordinating)?);
                let confirm = Action::Confirm {
                    plan: file.id.clone(),
                    milestone: milestone.id.clone(),
                    on: milestone.confirm_on.to_string(),
                    note: None,
                };
                confirmations.push(kind(&confirm, second)?);
            }
        }
        let stages = vec![
            Stage { name: "parties", transactions: parties },
            Stage { name: "quick tests", transactions: quick_tests },
            Stage { name: "quick test decisions", transactions: decisions },
            Stage { name: "plan submissions", transactions: submissions },
            Stage { name: "returns with questions", transactions: returns },
            Stage { name: "revisions", transactions: revisions },
            Stage { name: "assessments", transactions: assessments },
            Stage { name: "attainments and misses", transactions: attainments },
            Stage { name: "confirmations", transactions: confirmations },
        ];
        Ok(stages.into_iter().filter(|stage| !stage.transactions.is_empty()).collect())
    }

    /// The insurers' payments of `obligations` (those the confirmations created): per
    /// plan, milestone and insurer, in id order, seven in ten groups are paid in one batch,
    /// one in ten obligation by obligation, one in ten half of each (partial), one in ten
    /// not yet; one batch in [`REVERSED_EVERY`] is reversed and then paid again.
    pub fn payments(&self, obligations: &[ObligationRow]) -> Result<Payments, InputError> {
        let mut groups: BTreeMap<(&str, &str, &str), Vec<&ObligationRow>> = BTreeMap::new();
        for obligation in obligations.iter().filter(|obligation| obligation.plan.starts_with(&self.prefix)) {
            groups.entry((&obligation.plan, &obligation.milestone, &obligation.insurer)).or_default().push(obligation);
        }
        let mut result = Payments::default();
        let (mut payments, mut reversals, mut repayments) = (Vec::new(), Vec::new(), Vec::new());
        let mut counter = 0usize;
        let mut batches = 0usize;
        let next_id = |counter: &mut usize| {
            *counter += 1;
            (format!("{}-pay-{:07}", self.prefix, *counter), format!("BENCH-{}-{:07}", self.prefix, *counter))
        };
        for (group_number, ((_, _, insurer), mut owed)) in groups.into_iter().enumerate() {
            owed.sort_by_key(|obligation| obligation.line);
            let open: Vec<(&ObligationRow, i64)> =
                owed.iter().map(|obligation| (*obligation, obligation.outstanding.cents())).filter(|(_, cents)| *cents > 0).collect();
            if open.is_empty() {
                continue;
            }
            let value_date = open[0].0.attained_on.to_string();
            let pay = |id: String, reference: String, settle: Vec<String>| -> Result<Transaction, InputError> {
                kind(&Action::Pay { id, value_date: value_date.clone(), reference, settle }, insurer)
            };
            let settle = |parts: &[(&ObligationRow, i64)]| {
                parts.iter().map(|(obligation, cents)| format!("{}={}", obligation.id, amount(*cents))).collect::<Vec<_>>()
            };
            match group_number % 10 {
                0..=6 => {
                    let (id, reference) = next_id(&mut counter);
                    payments.push(pay(id.clone(), reference, settle(&open))?);
                    if open.len() == 1 {
                        result.single += 1;
                    } else {
                        result.batched += 1;
                    }
                    batches += 1;
                    if batches.is_multiple_of(REVERSED_EVERY) {
                        let reverse = Action::PayReverse { payment: id, reason: "de bank stortte terug: rekening onjuist".into() };
                        reversals.push(kind(&reverse, insurer)?);
                        result.reversed += 1;
                        let (again, reference) = next_id(&mut counter);
                        repayments.push(pay(again, reference, settle(&open))?);
                    }
                }
                7 => {
                    for part in &open {
                        let (id, reference) = next_id(&mut counter);
                        payments.push(pay(id, reference, settle(std::slice::from_ref(part)))?);
                        result.single += 1;
                    }
                }
                8 => {
                    let halves: Vec<(&ObligationRow, i64)> =
                        open.iter().map(|(obligation, cents)| (*obligation, cents / 2)).filter(|(_, cents)| *cents > 0).collect();
                    if halves.is_empty() {
                        result.left_open += open.len();
                        continue;
                    }
                    let (id, reference) = next_id(&mut counter);
                    payments.push(pay(id, reference, settle(&halves))?);
                    result.partial += 1;
                }
                _ => result.left_open += open.len(),
            }
        }
        let stages = vec![
            Stage { name: "payments", transactions: payments },
            Stage { name: "reversals", transactions: reversals },
            Stage { name: "payments again", transactions: repayments },
        ];
        result.stages = stages.into_iter().filter(|stage| !stage.transactions.is_empty()).collect();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            insurers: ["zk", "vgz", "cz", "menzis"].map(str::to_string).to_vec(),
            sectors: ["ggz", "hamdz", "msz", "wijk"].map(str::to_string).to_vec(),
            first_month: (2023, 1),
            free_cents: 196_000_000_000,
        }
    }

    #[test]
    fn the_first_month_follows_every_key() {
        assert_eq!(first_month_after(&["2023-01-01".into()]).unwrap(), (2023, 1));
        assert_eq!(first_month_after(&["2023-01-01".into(), "2024-12-02".into()]).unwrap(), (2025, 1));
        assert!(first_month_after(&["2024-13-01".into()]).is_err());
    }

    #[test]
    fn a_workload_is_funded_and_every_stage_builds() {
        let shape = Shape { plans: 12, milestones: 20, lines: 5, seed: 7 };
        let workload = Workload::generate(shape, &facts()).unwrap();
        assert!(workload.total_cents() <= facts().free_cents / 10 * 8, "within the fund");
        let stages = workload.stages(&facts().insurers).unwrap();
        let count = |name: &str| stages.iter().find(|stage| stage.name == name).map_or(0, |stage| stage.transactions.len());
        assert_eq!(count("quick tests"), 12);
        assert_eq!(count("returns with questions"), 1, "one plan in ten is returned");
        assert_eq!(count("assessments"), 24, "both assessors approve each plan");
        assert_eq!(count("attainments and misses"), 12 * 20);
        assert!(count("confirmations") > 0 && count("confirmations") < 12 * 20, "some milestones are missed");
        let again = Workload::generate(shape, &facts()).unwrap();
        assert_eq!(again.total_cents(), workload.total_cents(), "the seed fixes the workload");
        // The last milestone is due exactly five years after the start: the latest the rules allow.
        let last = &workload.plans[0].milestones[19];
        assert_eq!(last.due.to_string(), "2028-01-01");
    }

    #[test]
    fn too_small_a_fund_is_an_error_not_a_queue() {
        let mut small = facts();
        small.free_cents = 100_000;
        let error = Workload::generate(Shape { plans: 4, milestones: 2, lines: 2, seed: 1 }, &small).unwrap_err();
        assert!(error.to_string().contains("fewer --plans"), "{error}");
        assert!(Workload::generate(Shape { plans: 0, milestones: 2, lines: 2, seed: 1 }, &facts()).is_err());
        assert!(Workload::generate(Shape { plans: 1, milestones: 0, lines: 2, seed: 1 }, &facts()).is_err());
    }
}
