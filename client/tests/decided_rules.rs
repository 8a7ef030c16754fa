//! The points of the rules decided since the first release (DOMAIN.md, "Points decided
//! since"), end to end through the binary on one real devnet that played the demo:
//!
//! - one key version per key group per `valid_from` date;
//! - the key is fixed at attainment: a version approved later, valid from before the
//!   attainment date, does not change the split at confirmation;
//! - between attainment and confirmation only the second assessor acts (confirm with a
//!   date not before the attainment date, or decline back to open); a miss only on an
//!   open milestone;
//! - the monitor keeps external funding in its own column; earmark use is
//!   `committed + external`.
//!
//! One devnet for the whole file: starting clusters costs CI time.

use std::path::Path;
use std::process::{Command, Output};

use fairshare_client::views::ObligationRow;
use fairshare_protocol::Amount;
use serde_json::Value;

mod common;
use common::{binary, query, Devnet};

const PLAN: &str = "rav-nw-acute";
/// Planned in the demo: one msz line of 500000.00, due 2026-12-15 after a reschedule.
const MILESTONE: &str = "q3-evaluation";

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(binary()).arg("--config").arg(config).args(args).output().expect("run fairshare")
}

#[track_caller]
fn succeeds(config: &Path, args: &[&str]) {
    let output = run(config, args);
    assert!(
        output.status.success(),
        "fairshare {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a command the ledger must reject with `code`; returns its one-line stderr.
#[track_caller]
fn rejected(config: &Path, args: &[&str], code: &str) -> String {
    let output = run(config, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "fairshare {args:?} must fail with {code}:\n{stderr}");
    assert!(stderr.contains(code), "fairshare {args:?}: expected {code}, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn milestone_status(config: &Path) -> Value {
    let plan: Value = query(config, &["plan", "show", PLAN]);
    plan["plan"]["milestones"][MILESTONE]["status"].clone()
}

fn amount(value: &Value) -> Amount {
    value.as_str().unwrap_or_else(|| panic!("an amount string, got {value}")).parse().expect("an amount")
}

#[test]
fn the_points_decided_since_hold_through_the_cli_on_a_real_cluster() {
    let mut devnet = Devnet::start(true);
    devnet.wait_ready();
    let config = devnet.client_config();
    let config = config.as_path();

    // The monitor: external funding in its own column, earmark use = committed + external.
    let monitor: Value = query(config, &["report", "monitor"]);
    let fund: Value = query(config, &["report", "fund"]);
    let sectors = monitor["sectors"].as_array().expect("sector rows");
    let total = |column: &str| sectors.iter().map(|row| amount(&row[column])).sum::<Amount>();
    assert_eq!(total("committed"), amount(&fund["committed"]), "committed counts only money through the ledger");
    assert_eq!(total("payable"), amount(&fund["payable"]));
    assert_eq!(total("paid"), amount(&fund["paid"]));
    let msz = sectors.iter().find(|row| row["key"] == "msz").expect("an msz row");
    assert_eq!(amount(&msz["external"]), "12500000.00".parse().unwrap(), "the demo records 12.5 m paid by VWS for msz");
    assert_eq!(amount(&msz["earmark_use"]), amount(&msz["committed"]) + amount(&msz["external"]));
    let table = String::from_utf8(run(config, &["report", "monitor"]).stdout).expect("utf-8");
    assert!(table.lines().any(|header| header.contains("earmark") && header.contains("use")), "{table}");

    // One key version per valid_from: the demo's version 2 applies from 2026-01-01.
    let equal = ["--share", "zk=0.25", "--share", "vgz=0.25", "--share", "cz=0.25", "--share", "menzis=0.25"];
    let propose = |valid_from: &'static str| {
        let mut args = vec!["--as", "vgz", "key", "propose", "--group", "somatic", "--version", "3", "--valid-from", valid_from];
        args.extend(equal);
        args
    };
    let stderr = rejected(config, &propose("2026-01-01"), "KEY_VALID_FROM_TAKEN");
    assert!(stderr.contains("version 2"), "{stderr}");

    // Attained at half; while it awaits the second assessor nobody records a miss.
    let attain = ["--as", "zk", "milestone", "attain", PLAN, MILESTONE, "--on", "2026-11-01"];
    succeeds(config, &[&attain[..], &["--fraction", "0.5"]].concat());
    for assessor in ["zk", "vgz"] {
        rejected(config, &["--as", assessor, "milestone", "miss", PLAN, MILESTONE], "MILESTONE_AWAITS_CONFIRMATION");
    }
    rejected(config, &["--as", "zk", "milestone", "decline", PLAN, MILESTONE, "--reason", "x"], "SIGNER_NOT_AUTHORISED");
    // The second assessor declines: the milestone is open again and is attained in full.
    succeeds(config, &["--as", "vgz", "milestone", "decline", PLAN, MILESTONE, "--reason", "het rapport dekt de hele evaluatie"]);
    assert_eq!(milestone_status(config), Value::from("Planned"));
    succeeds(config, &attain);
    assert_eq!(milestone_status(config)["Attained"]["keys"]["somatic"], Value::from(2), "the key is fixed at attainment");

    // Version 3, valid from before the attainment date, approved by everyone after it.
    succeeds(config, &propose("2026-10-01"));
    for insurer in ["zk", "cz", "menzis"] {
        succeeds(config, &["--as", insurer, "key", "approve", "--group", "somatic", "--version", "3"]);
    }

    // A confirmation carries its date, not before the attainment date.
    let confirm = |on: &'static str| ["--as", "vgz", "milestone", "confirm", PLAN, MILESTONE, "--on", on];
    let stderr = rejected(config, &confirm("2026-10-31"), "CONFIRMED_BEFORE_ATTAINED");
    assert!(stderr.contains("2026-11-01"), "{stderr}");
    succeeds(config, &confirm("2026-11-05"));

    // Split by version 2 (zk 0.2850, vgz 0.2650, cz 0.2400, menzis 0.2100), not 3 (0.25 each).
    let obligations: Vec<ObligationRow> = query(config, &["obligations", "--plan", PLAN]);
    let mut split: Vec<(String, u32, String)> = obligations
        .iter()
        .filter(|obligation| obligation.milestone == MILESTONE)
        .map(|obligation| (obligation.insurer.clone(), obligation.key_version, obligation.amount.to_string()))
        .collect();
    split.sort();
    let expected = [("cz", "120000.00"), ("menzis", "105000.00"), ("vgz", "132500.00"), ("zk", "142500.00")];
    assert_eq!(split, expected.map(|(insurer, euros)| (insurer.to_string(), 2, euros.to_string())));
    let status = milestone_status(config);
    assert_eq!(status["Confirmed"]["confirmed_on"], Value::from("2026-11-05"), "{status}");
}
