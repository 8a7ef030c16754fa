//! Scenario files for `fairshare play`: a list of signed actions, each by its role, with
//! the verdict it must get. The format is documented at the top of `config/demo.toml`.
//!
//! ```toml
//! title = "What this scenario shows"
//!
//! [[step]]
//! as = "zk"                          # the identity that signs (from the client config)
//! kind = "pay"                       # one of the kinds of `action::Action`
//! id = "zk-2026-07-001"              # …and that kind's fields, in human units
//! value_date = "2026-07-15"
//! reference = "ZK-BATCH-2026-07"
//! settle = ["rav-nw-acute/triage-desk/1/zk=114000.00"]
//!
//! [[step]]
//! as = "menzis"
//! kind = "pay"
//! expect = "REJECTED"                # default "APPLIED"
//! expect_reason = "PAYMENT_EXCEEDS_OUTSTANDING"   # optional
//! # …
//! ```
//!
//! The whole file is parsed, its plan files read and every step turned into the transaction
//! it signs before anything is submitted, so a mistake anywhere changes nothing on the ledger.
//! Errors name the file, the line and the step.

use std::path::{Path, PathBuf};

use fairshare_protocol::pb::{self, transaction::Kind};
use serde::Deserialize;

use crate::action::Action;

/// The verdict a step must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Applied,
    /// Rejected, optionally with this reason code name ("PAYMENT_EXCEEDS_OUTSTANDING").
    Rejected(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based position in the file.
    pub number: usize,
    /// 1-based line of its `[[step]]` table.
    pub line: usize,
    /// The identity that signs.
    pub signer: String,
    pub expect: Expect,
    /// With files resolved: self-contained.
    pub action: Action,
    /// What is signed (its nonce and ledger id are added at submission).
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file, as named by the user.
    pub file: String,
    pub title: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {problem}", line.map(|line| format!(" line {line}")).unwrap_or_default(), step.map(|step| format!(" (step {step})")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub step: Option<usize>,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the file
    description: Option<String>,
    #[serde(default)]
    step: Vec<toml::Spanned<toml::Table>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&byte| byte == b'\n').count() + 1
}

/// Reads a scenario file; plan files it names are read relative to it.
pub fn read(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
        file: file.clone(),
        line: None,
        step: None,
        problem: format!("cannot read it: {error}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let load = move |name: &Path| -> Result<String, String> {
        let full: PathBuf = if name.is_absolute() { name.to_path_buf() } else { base.join(name) };
        std::fs::read_to_string(&full).map_err(|error| format!("cannot read {}: {error}", full.display()))
    };
    parse(&file, &text, &load)
}

/// Parses a scenario; `load` reads a plan or addendum file named in a step.
pub fn parse(file: &str, text: &str, load: &dyn Fn(&Path) -> Result<String, String>) -> Result<Scenario, ScenarioError> {
    let error = |line: Option<usize>, step: Option<usize>, problem: String| ScenarioError { file: file.to_string(), line, step, problem };
    let raw: RawScenario = toml::from_str(text).map_err(|toml_error| {
        let line = toml_error.span().map(|span| line_of(text, span.start));
        error(line, None, toml_error.message().trim_end().replace('\n', "; "))
    })?;
    if raw.step.is_empty() {
        return Err(error(None, None, "has no [[step]] tables".into()));
    }
    let mut steps = Vec::with_capacity(raw.step.len());
    for (index, spanned) in raw.step.into_iter().enumerate() {
        let number = index + 1;
        let line = line_of(text, spanned.span().start);
        let at = |problem: String| error(Some(line), Some(number), problem);
        let mut table = spanned.into_inner();
        let signer = match table.remove("as") {
            Some(toml::Value::String(signer)) => signer,
            Some(_) => return Err(at("'as' must be a string: the identity that signs, e.g. as = \"zk\"".into())),
            None => return Err(at("missing 'as': the identity that signs, e.g. as = \"zk\"".into())),
        };
        let expect_reason = match table.remove("expect_reason") {
            Some(toml::Value::String(reason)) => {
                if pb::ReasonCode::from_str_name(&reason).is_none() {
                    return Err(at(format!("expect_reason '{reason}' is not a reason code (see proto/REASONS.md)")));
                }
                Some(reason)
            }
            Some(_) => return Err(at("'expect_reason' must be a string such as \"PAYMENT_EXCEEDS_OUTSTANDING\"".into())),
            None => None,
        };
        let expect = match table.remove("expect") {
            None => Expect::Applied,
            Some(toml::Value::String(verdict)) if verdict == "APPLIED" => Expect::Applied,
            Some(toml::Value::String(verdict)) if verdict == "REJECTED" => Expect::Rejected(expect_reason.clone()),
            Some(other) => return Err(at(format!("expect = {other} is neither \"APPLIED\" nor \"REJECTED\""))),
        };
        if expect == Expect::Applied && expect_reason.is_some() {
            return Err(at("expect_reason needs expect = \"REJECTED\"".into()));
        }
        let action: Action = toml::Value::Table(table)
            .try_into()
            .map_err(|toml_error: toml::de::Error| at(toml_error.message().trim_end().replace('\n', "; ")))?;
        let name = action.name();
        let action = action.resolve_files(load).map_err(|input| at(format!("{name}: {input}")))?;
        let kind = action.to_kind(&signer).map_err(|input| at(format!("{name}: {input}")))?;
        steps.push(Step { number, line, signer, expect, action, kind });
    }
    Ok(Scenario { file: file.to_string(), title: raw.title, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(name: &Path) -> Result<String, String> {
        Err(format!("no file {}", name.display()))
    }

    const SCENARIO: &str = r#"
title = "two steps"

[[step]]
as = "zk"
kind = "party_register"
party = "kvk:34112233"
name = "Regiokassier"
party_kind = "cashier"
iban = "NL91ABNA0417164300"

[[step]]
as = "menzis"
kind = "pay"
expect = "REJECTED"
expect_reason = "PAYMENT_EXCEEDS_OUTSTANDING"
id = "menzis-1"
value_date = "2026-07-15"
reference = "M-1"
settle = ["rav/triage/1/menzis=1.00"]
"#;

    #[test]
    fn steps_carry_signer_expectation_and_line() {
        let scenario = parse("demo.toml", SCENARIO, &no_files).unwrap();
        assert_eq!(scenario.title.as_deref(), Some("two steps"));
        assert_eq!(scenario.steps.len(), 2);
        assert_eq!(scenario.steps[0].signer, "zk");
        assert_eq!(scenario.steps[0].expect, Expect::Applied);
        assert_eq!(scenario.steps[0].line, 4);
        assert_eq!(scenario.steps[1].line, 12);
        assert_eq!(scenario.steps[1].expect, Expect::Rejected(Some("PAYMENT_EXCEEDS_OUTSTANDING".into())));
        assert!(matches!(scenario.steps[1].kind, Kind::PaymentRecorded(_)));
    }

    #[test]
    fn a_bad_step_names_file_line_and_step() {
        let error =
            parse("demo.toml", &SCENARIO.replace("value_date = \"2026-07-15\"", "value_date = \"2026-07-32\""), &no_files).unwrap_err();
        assert_eq!((error.line, error.step), (Some(12), Some(2)));
        assert!(error.to_string().starts_with("demo.toml line 12 (step 2): pay: value-date"), "{error}");

        let typo = parse("demo.toml", &SCENARIO.replace("reference =", "referense ="), &no_files).unwrap_err();
        assert!(typo.problem.contains("referense"), "{typo}");

        let syntax = parse("demo.toml", &SCENARIO.replace("name = \"Regiokassier\"", "name = Regiokassier"), &no_files).unwrap_err();
        assert_eq!(syntax.line, Some(8), "{syntax}");

        let kind = parse("demo.toml", &SCENARIO.replace("kind = \"pay\"", "kind = \"payy\""), &no_files).unwrap_err();
        assert_eq!(kind.step, Some(2), "{kind}");

        let reason = parse("demo.toml", &SCENARIO.replace("PAYMENT_EXCEEDS_OUTSTANDING", "TOO_MUCH"), &no_files).unwrap_err();
        assert!(reason.problem.contains("TOO_MUCH"), "{reason}");
    }

    #[test]
    fn plan_files_are_read_relative_to_the_scenario() {
        let scenario = "[[step]]\nas = \"zk\"\nkind = \"plan_submit\"\nfile = \"plan.toml\"\nversion = 2\n";
        let plan = "id = \"p\"\ntitle = \"t\"\nregion = \"r\"\ntheme = \"x\"\ncoordinating_insurer = \"zk\"\nsecond_assessor = \"vgz\"\nstart = \"2026-01-01\"\n\
                    [[milestones]]\nid = \"m\"\ntitle = \"m\"\nkind = \"result\"\ndue = \"2026-06-30\"\n\
                    [[milestones.lines]]\nbeneficiary = \"agb:01234567\"\nsector = \"msz\"\namount = \"10.00\"\n";
        let load = |name: &Path| if name == Path::new("plan.toml") { Ok(plan.to_string()) } else { Err("missing".to_string()) };
        let parsed = parse("s.toml", scenario, &load).unwrap();
        match &parsed.steps[0].kind {
            Kind::PlanSubmitted(body) => assert_eq!((body.plan.as_str(), body.version), ("p", 2)),
            other => panic!("unexpected {other:?}"),
        }
        let missing = parse("s.toml", &scenario.replace("plan.toml", "nope.toml"), &load).unwrap_err();
        assert_eq!(missing.line, Some(1));
    }

    #[test]
    fn the_demo_and_its_plan_files_parse() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
        let scenario = read(&demo).unwrap();
        assert!(scenario.steps.len() > 50, "{} steps", scenario.steps.len());
        assert!(scenario.steps.iter().any(|step| matches!(step.expect, Expect::Rejected(_))));
    }
}
