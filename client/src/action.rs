//! One ledger action in human units, and the transaction kind it becomes.
//!
//! The CLI commands (`fairshare pay …`) and scenario steps (`kind = "pay"`) both build an
//! [`Action`] and call [`Action::to_kind`], so the same input is checked the same way, and
//! checked here, before anything is signed: an amount with a third decimal, a date that does
//! not exist or a malformed IBAN is reported with the input's name and never reaches a node.
//! What needs the ledger's state (does the plan exist, is the payment within what is open)
//! is for the node's rules to decide.
//!
//! Money is written as euros ("1250.00"); on the wire it is micro-euros. Dates are
//! "YYYY-MM-DD"; ratios (key shares, payout fractions) are exact decimal strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fairshare_protocol::distribution_key::check_shares;
use fairshare_protocol::ids::{check_party, check_slug, normalise_iban};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::rules::fund::check_adjustment;
use fairshare_protocol::rules::milestone::payout_fraction;
use fairshare_protocol::{Amount, Date, Ratio, ReasonCode};
use serde::Deserialize;

use crate::plan_file::{AddendumFile, PlanFile};
use crate::InputError;

/// A ledger action. The serde form is a scenario step's body (`kind = "pay"` plus fields);
/// the names of the kinds are the scenario format's contract (see `config/demo.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    PartyRegister {
        party: String,
        name: String,
        /// provider | cashier | municipality | social_partner
        party_kind: String,
        #[serde(default)]
        iban: Option<String>,
    },
    KeyPropose {
        group: String,
        version: u32,
        valid_from: String,
        /// insurer → share, e.g. { zk = "0.2850", vgz = "0.2650" }
        shares: BTreeMap<String, String>,
    },
    KeyApprove {
        group: String,
        version: u32,
    },
    QuickTest {
        plan: String,
        title: String,
        region: String,
        theme: String,
        second_assessor: String,
        /// Defaults to the signer.
        #[serde(default)]
        coordinating_insurer: Option<String>,
        #[serde(default)]
        estimated_total: Option<String>,
    },
    QuickTestDecide {
        plan: String,
        /// passed | failed
        outcome: String,
        #[serde(default)]
        note: Option<String>,
    },
    PlanSubmit {
        /// A plan file, relative to the scenario file.
        #[serde(default)]
        file: Option<PathBuf>,
        /// Or the plan inline, in the plan file's form.
        #[serde(default)]
        plan: Option<PlanFile>,
        /// Overrides the plan's version (a revision after a return with questions).
        #[serde(default)]
        version: Option<u32>,
    },
    PlanAssess {
        plan: String,
        /// The plan version assessed; not needed for an addendum.
        #[serde(default)]
        version: Option<u32>,
        /// approve | reject | return
        assessment: String,
        #[serde(default)]
        addendum: Option<String>,
        #[serde(default)]
        note: Option<String>,
    },
    Addendum {
        plan: String,
        #[serde(default)]
        file: Option<PathBuf>,
        #[serde(default)]
        addendum: Option<AddendumFile>,
    },
    Reschedule {
        plan: String,
        milestone: String,
        due: String,
        reason: String,
    },
    PlanCancel {
        plan: String,
        reason: String,
    },
    Attain {
        plan: String,
        milestone: String,
        on: String,
        /// Payout fraction, 0 < f ≤ 1 (default 1).
        #[serde(default)]
        fraction: Option<String>,
        /// Payable amount on actual costs (nacalculatie), instead of a fraction.
        #[serde(default)]
        amount: Option<String>,
        /// SHA-256 of the evidence document, 64 hex digits.
        #[serde(default)]
        evidence: Option<String>,
        #[serde(default)]
        note: Option<String>,
    },
    Confirm {
        plan: String,
        milestone: String,
        /// The confirmation date, on or after the attainment date.
        on: String,
        #[serde(default)]
        note: Option<String>,
    },
    Decline {
        plan: String,
        milestone: String,
        reason: String,
    },
    Miss {
        plan: String,
        milestone: String,
        #[serde(default)]
        note: Option<String>,
    },
    Pay {
        id: String,
        value_date: String,
        reference: String,
        /// "OBLIGATION=AMOUNT", as on the command line.
        settle: Vec<String>,
    },
    PayReverse {
        payment: String,
        reason: String,
    },
    FundAdjust {
        /// Signed: "-350000000.00" lowers the fund.
        delta: String,
        reason: String,
        effective: String,
    },
    Reserve {
        theme: String,
        amount: String,
        reason: String,
    },
    Release {
        theme: String,
        reason: String,
        /// A part of what is left; without it, all that is left.
        #[serde(default)]
        amount: Option<String>,
    },
    IntakeClose {
        on: String,
        reason: String,
    },
    FundingRecord {
        id: String,
        sector: String,
        region: String,
        theme: String,
        paid_on: String,
        amount: String,
        description: String,
    },
}

/// "1250.00" → micro-euros; any sign; more than two decimals is an error, never rounded.
pub fn money(text: &str, input: &str) -> Result<i64, InputError> {
    let amount: Amount = text.parse().map_err(|rejection: fairshare_protocol::Rejection| InputError::new(input, rejection.message))?;
    Ok(amount.micros())
}

/// Like [`money`], and a positive stated amount by the ledger's own rule
/// ([`Amount::positive`]: more than 0.00, at most the per-transaction limit).
pub fn positive_money(text: &str, input: &str) -> Result<i64, InputError> {
    let amount: Amount = text.parse().map_err(|rejection: fairshare_protocol::Rejection| InputError::new(input, rejection.message))?;
    let amount = Amount::positive(amount, "the amount").map_err(|rejection| InputError::new(input, rejection.message))?;
    Ok(amount.micros())
}

/// A calendar date "YYYY-MM-DD", checked (2026-02-30 does not exist).
pub fn date(text: &str, input: &str) -> Result<String, InputError> {
    Date::parse(text.trim(), "date").map(|date| date.to_string()).map_err(|rejection| InputError::new(input, rejection.message))
}

pub fn party(text: &str, input: &str) -> Result<String, InputError> {
    check_party(text).map_err(|rejection| InputError::new(input, rejection.message))?;
    Ok(text.to_string())
}

pub fn slug(text: &str, input: &str) -> Result<String, InputError> {
    check_slug(text, "id").map_err(|rejection| InputError::new(input, rejection.message))?;
    Ok(text.to_string())
}

/// A SHA-256 hash written as 64 hex digits.
pub fn sha256(text: &str, input: &str) -> Result<Vec<u8>, InputError> {
    let bytes =
        hex::decode(text.trim()).map_err(|_| InputError::new(input, format!("'{text}' is not hex; give a SHA-256 as 64 hex digits")))?;
    if bytes.len() != 32 {
        return Err(InputError::new(input, format!("is {} bytes; a SHA-256 hash is 32 bytes (64 hex digits)", bytes.len())));
    }
    Ok(bytes)
}

pub fn party_kind(text: &str, input: &str) -> Result<pb::PartyKind, InputError> {
    match text {
        "provider" => Ok(pb::PartyKind::Provider),
        "cashier" => Ok(pb::PartyKind::Cashier),
        "municipality" => Ok(pb::PartyKind::Municipality),
        "social_partner" | "social-partner" => Ok(pb::PartyKind::SocialPartner),
        other => Err(InputError::new(input, format!("'{other}' is not provider, cashier, municipality or social_partner"))),
    }
}

pub fn assessment(text: &str, input: &str) -> Result<pb::Assessment, InputError> {
    match text {
        "approve" => Ok(pb::Assessment::Approve),
        "reject" => Ok(pb::Assessment::Reject),
        "return" => Ok(pb::Assessment::Return),
        other => Err(InputError::new(input, format!("'{other}' is not approve, reject or return"))),
    }
}

/// "plan/milestone/line/insurer=1250.00" → a settlement.
pub fn settlement(text: &str, input: &str) -> Result<pb::Settlement, InputError> {
    let Some((obligation, amount)) = text.rsplit_once('=') else {
        return Err(InputError::new(input, format!("'{text}' is not OBLIGATION=AMOUNT, e.g. rav-nw-acute/triage-desk/1/zk=1250.00")));
    };
    let obligation = obligation.trim();
    if obligation.split('/').count() != 4 {
        return Err(InputError::new(input, format!("'{obligation}' is not an obligation id PLAN/MILESTONE/LINE/INSURER")));
    }
    let amount_micros = positive_money(amount, &format!("{input} amount for {obligation}"))?;
    Ok(pb::Settlement { obligation: obligation.to_string(), amount_micros })
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn required(value: &str, input: &str) -> Result<String, InputError> {
    if value.trim().is_empty() {
        return Err(InputError::new(input, "must not be empty"));
    }
    Ok(value.to_string())
}

impl Action {
    /// The scenario name of this action's kind ("pay", "plan_submit").
    pub fn name(&self) -> &'static str {
        match self {
            Action::PartyRegister { .. } => "party_register",
            Action::KeyPropose { .. } => "key_propose",
            Action::KeyApprove { .. } => "key_approve",
            Action::QuickTest { .. } => "quick_test",
            Action::QuickTestDecide { .. } => "quick_test_decide",
            Action::PlanSubmit { .. } => "plan_submit",
            Action::PlanAssess { .. } => "plan_assess",
            Action::Addendum { .. } => "addendum",
            Action::Reschedule { .. } => "reschedule",
            Action::PlanCancel { .. } => "plan_cancel",
            Action::Attain { .. } => "attain",
            Action::Confirm { .. } => "confirm",
            Action::Decline { .. } => "decline",
            Action::Miss { .. } => "miss",
            Action::Pay { .. } => "pay",
            Action::PayReverse { .. } => "pay_reverse",
            Action::FundAdjust { .. } => "fund_adjust",
            Action::Reserve { .. } => "reserve",
            Action::Release { .. } => "release",
            Action::IntakeClose { .. } => "intake_close",
            Action::FundingRecord { .. } => "funding_record",
        }
    }

    /// Loads the plan or addendum file an action refers to, so the action is self-contained.
    /// `load` reads a file named relative to wherever the action came from.
    pub fn resolve_files(self, load: &dyn Fn(&std::path::Path) -> Result<String, String>) -> Result<Action, InputError> {
        match self {
            Action::PlanSubmit { file: Some(file), plan: None, version } => {
                let text = load(&file).map_err(|problem| InputError::new("file", problem))?;
                let plan = PlanFile::parse(&text).map_err(|problem| InputError::new(format!("plan file {}", file.display()), problem))?;
                Ok(Action::PlanSubmit { file: None, plan: Some(plan), version })
            }
            Action::PlanSubmit { file: Some(_), plan: Some(_), .. } => {
                Err(InputError::new("file", "give either file or an inline plan, not both"))
            }
            Action::Addendum { plan, file: Some(file), addendum: None } => {
                let text = load(&file).map_err(|problem| InputError::new("file", problem))?;
                let addendum =
                    AddendumFile::parse(&text).map_err(|problem| InputError::new(format!("addendum file {}", file.display()), problem))?;
                Ok(Action::Addendum { plan, file: None, addendum: Some(addendum) })
            }
            Action::Addendum { file: Some(_), addendum: Some(_), .. } => {
                Err(InputError::new("file", "give either file or an inline addendum, not both"))
            }
            other => Ok(other),
        }
    }

    /// The transaction kind this action signs as `signer`. Files must be resolved first.
    pub fn to_kind(&self, signer: &str) -> Result<Kind, InputError> {
        Ok(match self {
            Action::PartyRegister { party: id, name, party_kind: kind, iban } => {
                let iban = match iban.as_deref().map(str::trim).filter(|iban| !iban.is_empty()) {
                    Some(iban) => normalise_iban(iban).map_err(|rejection| InputError::new("iban", rejection.message))?,
                    None => String::new(),
                };
                Kind::PartyRegistered(pb::PartyRegistered {
                    party: party(id, "party")?,
                    kind: party_kind(kind, "kind")? as i32,
                    name: required(name, "name")?,
                    iban,
                })
            }
            Action::KeyPropose { group, version, valid_from, shares } => {
                if shares.is_empty() {
                    return Err(InputError::new("shares", "give one share per insurer, e.g. zk=0.29"));
                }
                let mut parsed = BTreeMap::new();
                for (insurer, share) in shares {
                    let share = Ratio::parse(share, &format!("share of {insurer}"), ReasonCode::InvalidShare)
                        .map_err(|rejection| InputError::new(format!("share of {insurer}"), rejection.message))?;
                    parsed.insert(insurer.clone(), share);
                }
                // Each share > 0 and the sum exactly 1: the ledger's own rule.
                check_shares(&parsed).map_err(|rejection| InputError::new("shares", rejection.message))?;
                let checked: Vec<pb::KeyShare> =
                    parsed.iter().map(|(insurer, share)| pb::KeyShare { insurer: insurer.clone(), share: share.to_string() }).collect();
                Kind::KeyProposed(pb::KeyProposed {
                    key_group: slug(group, "group")?,
                    version: *version,
                    valid_from: date(valid_from, "valid-from")?,
                    shares: checked,
                })
            }
            Action::KeyApprove { group, version } => {
                Kind::KeyApproved(pb::KeyApproved { key_group: slug(group, "group")?, version: *version })
            }
            Action::QuickTest { plan, title, region, theme, second_assessor, coordinating_insurer, estimated_total } => {
                Kind::QuickTestSubmitted(pb::QuickTestSubmitted {
                    plan: slug(plan, "plan")?,
                    title: required(title, "title")?,
                    region: required(region, "region")?,
                    theme: slug(theme, "theme")?,
                    coordinating_insurer: coordinating_insurer.clone().unwrap_or_else(|| signer.to_string()),
                    second_assessor: required(second_assessor, "second assessor")?,
                    estimated_total_micros: match estimated_total {
                        Some(total) => positive_money(total, "estimated total")?,
                        None => 0,
                    },
                })
            }
            Action::QuickTestDecide { plan, outcome, note } => Kind::QuickTestDecided(pb::QuickTestDecided {
                plan: slug(plan, "plan")?,
                outcome: match outcome.as_str() {
                    "passed" | "pass" => pb::QuickTestOutcome::Passed,
                    "failed" | "fail" => pb::QuickTestOutcome::Failed,
                    other => return Err(InputError::new("outcome", format!("'{other}' is not passed or failed"))),
                } as i32,
                note: text(note),
            }),
            Action::PlanSubmit { plan: Some(plan), version, .. } => Kind::PlanSubmitted(plan.to_pb(*version)?),
            Action::PlanSubmit { .. } => return Err(InputError::new("plan", "give a plan file (file = \"…\") or an inline plan")),
            Action::PlanAssess { plan, version, assessment: verdict, addendum, note } => {
                let addendum = match addendum.as_deref().filter(|addendum| !addendum.is_empty()) {
                    Some(addendum) => slug(addendum, "addendum")?,
                    None => String::new(),
                };
                let version = match version {
                    Some(version) => *version,
                    None if !addendum.is_empty() => 0,
                    None => return Err(InputError::new("version", "name the plan version you assess (its summary shows it)")),
                };
                Kind::PlanAssessed(pb::PlanAssessed {
                    plan: slug(plan, "plan")?,
                    version,
                    addendum,
                    assessment: assessment(verdict, "assessment")? as i32,
                    note: text(note),
                })
            }
            Action::Addendum { plan, addendum: Some(addendum), .. } => Kind::AddendumSubmitted(addendum.to_pb(&slug(plan, "plan")?)?),
            Action::Addendum { .. } => {
                return Err(InputError::new("addendum", "give an addendum file (file = \"…\") or an inline addendum"))
            }
            Action::Reschedule { plan, milestone, due, reason } => Kind::MilestoneRescheduled(pb::MilestoneRescheduled {
                plan: slug(plan, "plan")?,
                milestone: slug(milestone, "milestone")?,
                new_due: date(due, "due")?,
                reason: required(reason, "reason")?,
            }),
            Action::PlanCancel { plan, reason } => {
                Kind::PlanCancelled(pb::PlanCancelled { plan: slug(plan, "plan")?, reason: required(reason, "reason")? })
            }
            Action::Attain { plan, milestone, on, fraction, amount, evidence, note } => {
                let (payout_fraction, payable_micros) = match (fraction, amount) {
                    (Some(_), Some(_)) => {
                        return Err(InputError::new(
                            "fraction",
                            "give either a payout fraction or a payable amount on actual costs, not both",
                        ))
                    }
                    (Some(fraction), None) => {
                        // 0 < f <= 1: the ledger's own rule.
                        let fraction = payout_fraction(fraction).map_err(|rejection| InputError::new("fraction", rejection.message))?;
                        (fraction.to_string(), 0)
                    }
                    (None, Some(amount)) => (String::new(), positive_money(amount, "amount")?),
                    (None, None) => (String::new(), 0),
                };
                Kind::MilestoneAttained(pb::MilestoneAttained {
                    plan: slug(plan, "plan")?,
                    milestone: slug(milestone, "milestone")?,
                    attained_on: date(on, "on")?,
                    payout_fraction,
                    payable_micros,
                    evidence_sha256: match evidence {
                        Some(evidence) => sha256(evidence, "evidence")?,
                        None => Vec::new(),
                    },
                    note: text(note),
                })
            }
            Action::Confirm { plan, milestone, on, note } => Kind::MilestoneConfirmed(pb::MilestoneConfirmed {
                plan: slug(plan, "plan")?,
                milestone: slug(milestone, "milestone")?,
                note: text(note),
                confirmed_on: date(on, "on")?,
            }),
            Action::Decline { plan, milestone, reason } => Kind::MilestoneDeclined(pb::MilestoneDeclined {
                plan: slug(plan, "plan")?,
                milestone: slug(milestone, "milestone")?,
                reason: required(reason, "reason")?,
            }),
            Action::Miss { plan, milestone, note } => Kind::MilestoneMissed(pb::MilestoneMissed {
                plan: slug(plan, "plan")?,
                milestone: slug(milestone, "milestone")?,
                note: text(note),
            }),
            Action::Pay { id, value_date, reference, settle } => {
                if settle.is_empty() {
                    return Err(InputError::new("settlements", "name at least one OBLIGATION=AMOUNT"));
                }
                let settlements = settle.iter().map(|item| settlement(item, "settlement")).collect::<Result<Vec<_>, _>>()?;
                Kind::PaymentRecorded(pb::PaymentRecorded {
                    payment: slug(id, "id")?,
                    settlements,
                    value_date: date(value_date, "value-date")?,
                    bank_reference: reference.clone(),
                })
            }
            Action::PayReverse { payment, reason } => {
                Kind::PaymentReversed(pb::PaymentReversed { payment: slug(payment, "payment")?, reason: required(reason, "reason")? })
            }
            Action::FundAdjust { delta, reason, effective } => {
                let delta: Amount =
                    delta.parse().map_err(|rejection: fairshare_protocol::Rejection| InputError::new("delta", rejection.message))?;
                // Never 0.00, within the per-transaction limit: the ledger's own rule.
                let delta_micros = check_adjustment(delta).map_err(|rejection| InputError::new("delta", rejection.message))?.micros();
                Kind::FundAdjusted(pb::FundAdjusted {
                    delta_micros,
                    reason: required(reason, "reason")?,
                    effective: date(effective, "effective")?,
                })
            }
            Action::Reserve { theme, amount, reason } => Kind::ReservationSet(pb::ReservationSet {
                theme: slug(theme, "theme")?,
                amount_micros: positive_money(amount, "amount")?,
                reason: required(reason, "reason")?,
            }),
            Action::Release { theme, reason, amount } => Kind::ReservationReleased(pb::ReservationReleased {
                theme: slug(theme, "theme")?,
                reason: required(reason, "reason")?,
                amount_micros: match amount {
                    Some(amount) => positive_money(amount, "amount")?,
                    None => 0,
                },
            }),
            Action::IntakeClose { on, reason } => {
                Kind::IntakeClosed(pb::IntakeClosed { closed_on: date(on, "on")?, reason: reason.clone() })
            }
            Action::FundingRecord { id, sector, region, theme, paid_on, amount, description } => {
                Kind::ExternalFundingRecorded(pb::ExternalFundingRecorded {
                    id: slug(id, "id")?,
                    sector: slug(sector, "sector")?,
                    region: required(region, "region")?,
                    theme: slug(theme, "theme")?,
                    paid_on: date(paid_on, "paid-on")?,
                    amount_micros: positive_money(amount, "amount")?,
                    description: description.clone(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_with_a_third_decimal_are_refused_naming_the_input() {
        assert_eq!(money("1250.00", "--amount").unwrap(), 1_250_000_000);
        assert_eq!(money("-0.5", "--delta").unwrap(), -500_000);
        let error = money("12.345", "--amount").unwrap_err();
        assert_eq!(error.input, "--amount");
        assert!(error.problem.contains("more than two decimals"), "{error}");
        assert!(money("twelve", "--amount").is_err());
        assert!(positive_money("0.00", "amount").is_err());
        // The ledger's limit on a stated amount (LIMIT_EXCEEDED), checked before signing.
        assert_eq!(positive_money("10000000000.00", "amount").unwrap(), 10_000_000_000_000_000);
        let beyond = positive_money("10000000000.01", "--amount").unwrap_err();
        assert_eq!(beyond.input, "--amount");
        assert!(beyond.problem.contains("at most 10000000000.00"), "{beyond}");
        assert!(positive_money("-1.00", "amount").is_err());
    }

    #[test]
    fn settlements_are_obligation_equals_amount() {
        let settlement = settlement("rav/triage/1/zk=1250.50", "s").unwrap();
        assert_eq!(settlement.obligation, "rav/triage/1/zk");
        assert_eq!(settlement.amount_micros, 1_250_500_000);
        assert!(super::settlement("rav/triage/1/zk", "s").is_err());
        assert!(super::settlement("rav/1/zk=5.00", "s").is_err());
        assert!(super::settlement("rav/triage/1/zk=5.001", "s").is_err());
    }

    #[test]
    fn a_bad_iban_is_refused_before_signing() {
        let action = Action::PartyRegister {
            party: "kvk:34112233".into(),
            name: "Regiokassier".into(),
            party_kind: "cashier".into(),
            iban: Some("NL92ABNA0417164300".into()),
        };
        let error = action.to_kind("zk").unwrap_err();
        assert_eq!(error.input, "iban");
        let good = Action::PartyRegister {
            party: "kvk:34112233".into(),
            name: "Regiokassier".into(),
            party_kind: "cashier".into(),
            iban: Some("NL91 ABNA 0417 1643 00".into()),
        };
        match good.to_kind("zk").unwrap() {
            Kind::PartyRegistered(body) => assert_eq!(body.iban, "NL91ABNA0417164300"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn key_shares_must_sum_to_exactly_one() {
        let shares =
            |values: [&str; 2]| BTreeMap::from([("cz".to_string(), values[0].to_string()), ("zk".to_string(), values[1].to_string())]);
        let ok =
            Action::KeyPropose { group: "somatic".into(), version: 2, valid_from: "2026-01-01".into(), shares: shares(["0.4", "0.6"]) };
        assert!(ok.to_kind("zk").is_ok());
        let bad =
            Action::KeyPropose { group: "somatic".into(), version: 2, valid_from: "2026-01-01".into(), shares: shares(["0.4", "0.59"]) };
        assert_eq!(bad.to_kind("zk").unwrap_err().input, "shares");
        let zero = Action::KeyPropose { group: "somatic".into(), version: 2, valid_from: "2026-01-01".into(), shares: shares(["0", "1"]) };
        let error = zero.to_kind("zk").unwrap_err();
        assert!(error.problem.contains("more than 0"), "the ledger's rule, not only the sum: {error}");
    }

    #[test]
    fn attainment_takes_a_fraction_or_an_amount_not_both() {
        let attain = |fraction: Option<&str>, amount: Option<&str>| Action::Attain {
            plan: "p".into(),
            milestone: "m".into(),
            on: "2026-06-15".into(),
            fraction: fraction.map(Into::into),
            amount: amount.map(Into::into),
            evidence: None,
            note: None,
        };
        assert!(attain(Some("0.75"), Some("10.00")).to_kind("zk").is_err());
        assert!(attain(Some("1.5"), None).to_kind("zk").is_err());
        assert!(attain(Some("0"), None).to_kind("zk").is_err());
        match attain(Some("0.75"), None).to_kind("zk").unwrap() {
            Kind::MilestoneAttained(body) => assert_eq!((body.payout_fraction.as_str(), body.payable_micros), ("0.75", 0)),
            other => panic!("unexpected {other:?}"),
        }
        match attain(None, Some("280000.00")).to_kind("zk").unwrap() {
            Kind::MilestoneAttained(body) => assert_eq!(body.payable_micros, 280_000_000_000),
            other => panic!("unexpected {other:?}"),
        }
        let bad_date = Action::Attain {
            plan: "p".into(),
            milestone: "m".into(),
            on: "2026-02-30".into(),
            fraction: None,
            amount: None,
            evidence: None,
            note: None,
        };
        assert_eq!(bad_date.to_kind("zk").unwrap_err().input, "on");
    }

    #[test]
    fn fund_adjustments_of_zero_or_beyond_the_limit_are_refused_before_signing() {
        let adjust = |delta: &str| Action::FundAdjust { delta: delta.into(), reason: "decision".into(), effective: "2026-01-01".into() };
        assert!(adjust("-350000000.00").to_kind("vws").is_ok());
        for (delta, problem) in [("0.00", "changes nothing"), ("-10000000000.01", "beyond"), ("10000000000.01", "beyond")] {
            let error = adjust(delta).to_kind("vws").unwrap_err();
            assert_eq!(error.input, "delta");
            assert!(error.problem.contains(problem), "{delta}: {error}");
        }
    }

    #[test]
    fn a_release_states_all_or_a_positive_part() {
        let release = |amount: Option<&str>| Action::Release {
            theme: "networks".into(),
            reason: "not needed".into(),
            amount: amount.map(Into::into),
        };
        let micros = |action: Action| match action.to_kind("vws").unwrap() {
            Kind::ReservationReleased(body) => body.amount_micros,
            other => panic!("{other:?}"),
        };
        assert_eq!(micros(release(None)), 0, "all that is left");
        assert_eq!(micros(release(Some("2000.00"))), 2_000_000_000);
        assert_eq!(release(Some("0.00")).to_kind("vws").unwrap_err().input, "amount");
        assert_eq!(release(Some("1.001")).to_kind("vws").unwrap_err().input, "amount");
    }
}
