//! Plan and addendum files (TOML), as a coordinating insurer writes them. The documented
//! example is `config/plan.example.toml`:
//!
//! ```toml
//! id = "rav-nw-acute"                 # plan id: a slug, unique in the ledger
//! version = 1                         # optional: 1 for `plan submit`; `plan revise` uses n + 1
//! title = "Regional acute-care coordination"
//! region = "ROAZ Noordwest"
//! theme = "acute-care-coordination"   # a slug: the monitor reports per theme
//! coordinating_insurer = "zk"
//! second_assessor = "vgz"
//! start = "2026-01-01"                # the plan runs at most five years from here
//! evidence = ["<64 hex digits>"]       # SHA-256 of documents that stay with their owners
//!
//! [[milestones]]
//! id = "triage-desk"
//! title = "Joint triage desk open 24/7"
//! kind = "effort"                     # effort | result
//! due = "2026-06-30"
//!
//! [[milestones.lines]]
//! beneficiary = "agb:06011234"         # the provider that benefits
//! payee = "kvk:34112233"               # optional: a cashier, municipality…; default the beneficiary
//! sector = "msz"
//! amount = "400000.00"
//! ```
//!
//! An addendum file has `id`, `title`, optional `evidence` and `[[milestones]]` in the same form.

use fairshare_protocol::pb;
use serde::{Deserialize, Serialize};

use crate::action::{party, positive_money, sha256, slug};
use crate::InputError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub title: String,
    pub region: String,
    pub theme: String,
    pub coordinating_insurer: String,
    pub second_assessor: String,
    pub start: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub milestones: Vec<MilestoneFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneFile {
    pub id: String,
    pub title: String,
    /// effort | result
    pub kind: String,
    pub due: String,
    pub lines: Vec<LineFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFile {
    pub beneficiary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    pub sector: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddendumFile {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub milestones: Vec<MilestoneFile>,
}

/// A TOML error in one line: "line 13, column 8: invalid string…".
pub fn toml_error(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.bytes().filter(|&byte| byte == b'\n').count() + 1;
            let column = before.chars().rev().take_while(|&character| character != '\n').count() + 1;
            format!("line {line}, column {column}: {}", error.message().trim_end().replace('\n', "; "))
        }
        None => error.message().trim_end().replace('\n', "; "),
    }
}

fn evidence(hashes: &[String]) -> Result<Vec<Vec<u8>>, InputError> {
    hashes.iter().enumerate().map(|(index, hash)| sha256(hash, &format!("evidence[{index}]"))).collect()
}

fn milestones(files: &[MilestoneFile]) -> Result<Vec<pb::Milestone>, InputError> {
    if files.is_empty() {
        return Err(InputError::new("milestones", "a plan needs at least one [[milestones]] table"));
    }
    let mut built = Vec::with_capacity(files.len());
    for (index, milestone) in files.iter().enumerate() {
        let at = format!("milestones[{}] ({})", index + 1, milestone.id);
        let kind = match milestone.kind.as_str() {
            "effort" => pb::MilestoneKind::Effort,
            "result" => pb::MilestoneKind::Result,
            other => return Err(InputError::new(format!("{at} kind"), format!("'{other}' is not effort or result"))),
        };
        if milestone.lines.is_empty() {
            return Err(InputError::new(format!("{at} lines"), "a milestone needs at least one [[milestones.lines]] table"));
        }
        let mut lines = Vec::with_capacity(milestone.lines.len());
        for (number, line) in milestone.lines.iter().enumerate() {
            let at = format!("{at} lines[{}]", number + 1);
            lines.push(pb::MilestoneLine {
                beneficiary: party(&line.beneficiary, &format!("{at} beneficiary"))?,
                payee: match &line.payee {
                    Some(payee) => party(payee, &format!("{at} payee"))?,
                    None => String::new(),
                },
                sector: slug(&line.sector, &format!("{at} sector"))?,
                amount_micros: positive_money(&line.amount, &format!("{at} amount"))?,
            });
        }
        built.push(pb::Milestone {
            id: slug(&milestone.id, &format!("{at} id"))?,
            title: milestone.title.clone(),
            kind: kind as i32,
            due: crate::action::date(&milestone.due, &format!("{at} due"))?,
            lines,
        });
    }
    Ok(built)
}

impl PlanFile {
    /// Parses a plan file; the error names the line for TOML mistakes and the field otherwise.
    pub fn parse(text: &str) -> Result<PlanFile, String> {
        let plan: PlanFile = toml::from_str(text).map_err(|error| toml_error(text, &error))?;
        plan.to_pb(None).map_err(|error| error.to_string())?;
        Ok(plan)
    }

    /// The plan as signed: version `version` if given, else the file's, else 1.
    pub fn to_pb(&self, version: Option<u32>) -> Result<pb::PlanSubmitted, InputError> {
        let version = version.or(self.version).unwrap_or(1);
        if version == 0 {
            return Err(InputError::new("version", "plan versions start at 1"));
        }
        Ok(pb::PlanSubmitted {
            plan: slug(&self.id, "id")?,
            version,
            title: self.title.clone(),
            region: self.region.clone(),
            theme: slug(&self.theme, "theme")?,
            coordinating_insurer: self.coordinating_insurer.clone(),
            second_assessor: self.second_assessor.clone(),
            start: crate::action::date(&self.start, "start")?,
            milestones: milestones(&self.milestones)?,
            evidence_sha256: evidence(&self.evidence)?,
        })
    }

    /// The plan's total in cents: the sum of every line.
    pub fn total_cents(&self) -> Result<i64, InputError> {
        let plan = self.to_pb(None)?;
        Ok(plan.milestones.iter().flat_map(|milestone| &milestone.lines).map(|line| line.amount_micros / 10_000).sum())
    }
}

impl AddendumFile {
    pub fn parse(text: &str) -> Result<AddendumFile, String> {
        let addendum: AddendumFile = toml::from_str(text).map_err(|error| toml_error(text, &error))?;
        addendum.to_pb("plan").map_err(|error| error.to_string())?;
        Ok(addendum)
    }

    pub fn to_pb(&self, plan: &str) -> Result<pb::AddendumSubmitted, InputError> {
        Ok(pb::AddendumSubmitted {
            plan: plan.to_string(),
            addendum: slug(&self.id, "id")?,
            title: self.title.clone(),
            milestones: milestones(&self.milestones)?,
            evidence_sha256: evidence(&self.evidence)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
id = "rav-test"
title = "Test plan"
region = "ROAZ Test"
theme = "acute-care-coordination"
coordinating_insurer = "zk"
second_assessor = "vgz"
start = "2026-01-01"

[[milestones]]
id = "one"
title = "First"
kind = "effort"
due = "2026-06-30"

[[milestones.lines]]
beneficiary = "agb:06011234"
payee = "kvk:34112233"
sector = "msz"
amount = "400000.00"

[[milestones.lines]]
beneficiary = "agb:01056789"
sector = "hamdz"
amount = "200000.50"
"#;

    #[test]
    fn a_plan_file_becomes_the_signed_plan() {
        let plan = PlanFile::parse(PLAN).unwrap();
        let signed = plan.to_pb(None).unwrap();
        assert_eq!(signed.version, 1);
        assert_eq!(signed.milestones.len(), 1);
        let lines = &signed.milestones[0].lines;
        assert_eq!(lines[0].payee, "kvk:34112233");
        assert_eq!(lines[1].payee, "", "no payee means the beneficiary");
        assert_eq!(lines[1].amount_micros, 200_000_500_000);
        assert_eq!(plan.total_cents().unwrap(), 60_000_050);
        assert_eq!(plan.to_pb(Some(2)).unwrap().version, 2);
    }

    #[test]
    fn mistakes_name_the_line_or_the_field() {
        let syntax = PlanFile::parse(&PLAN.replace("kind = \"effort\"", "kind = effort")).unwrap_err();
        assert!(syntax.starts_with("line 13, column 8: "), "{syntax}");
        let amount = PlanFile::parse(&PLAN.replace("200000.50", "200000.505")).unwrap_err();
        assert!(amount.contains("milestones[1] (one) lines[2] amount"), "{amount}");
        let kind = PlanFile::parse(&PLAN.replace("\"effort\"", "\"outcome\"")).unwrap_err();
        assert!(kind.contains("kind"), "{kind}");
        let unknown = PlanFile::parse(&PLAN.replace("region =", "regio =")).unwrap_err();
        assert!(unknown.contains("regio"), "{unknown}");
        let party = PlanFile::parse(&PLAN.replace("agb:01056789", "agb:1056789")).unwrap_err();
        assert!(party.contains("beneficiary"), "{party}");
    }
}
