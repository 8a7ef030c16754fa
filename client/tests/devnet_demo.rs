//! End to end: `fairshare devnet --demo` brings up four real nodes (child processes of the
//! built binary) and plays config/demo.toml; then the CLI's own queries must show that
//! every obligation follows from the rules and that every node holds the same ledger.
//!
//! The expectations are derived from the demo file itself (read with the library's
//! scenario parser), so the test keeps checking the rules if the demo changes.

use std::collections::BTreeMap;
use std::path::Path;

use fairshare_client::action::Action;
use fairshare_client::scenario;
use fairshare_client::views::{Balances, NodeStatus, ObligationRow, PlanSummary};
use fairshare_protocol::state::{MilestoneStatus, Plan};
use fairshare_protocol::Amount;
use rust_decimal::{Decimal, RoundingStrategy};

mod common;
use common::{query, wait_until, Devnet, CONVERGE_DEADLINE, NODES};

fn sum<'a>(amounts: impl Iterator<Item = &'a Amount>) -> Amount {
    amounts.copied().sum()
}

fn half_even(amount: Amount, fraction: &str) -> Amount {
    let fraction: Decimal = fraction.parse().expect("a decimal fraction");
    Amount::from_decimal((amount.value() * fraction).round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)).expect("cents")
}

#[test]
fn devnet_demo_obligations_follow_the_rules_and_every_node_agrees() {
    let mut devnet = Devnet::start(true);
    let started = devnet.wait_ready();
    assert!(started.iter().any(|line| line.contains("rejected as expected")), "the demo shows a rejection:\n{}", started.join("\n"));
    let config = devnet.client_config();

    let obligations: Vec<ObligationRow> = query(&config, &["obligations"]);
    assert!(!obligations.is_empty(), "the demo creates obligations");
    for obligation in &obligations {
        assert_eq!(obligation.paid + obligation.outstanding, obligation.amount, "paid + outstanding = amount on {}", obligation.id);
        assert!(!obligation.paid.is_negative() && !obligation.outstanding.is_negative(), "{obligation:?}");
        assert!(obligation.amount.cents() > 0, "no obligation of 0.00: {obligation:?}");
        assert_eq!(obligation.id, format!("{}/{}/{}/{}", obligation.plan, obligation.milestone, obligation.line, obligation.insurer));
    }
    let of_milestone = |plan: &str, milestone: &str| -> Vec<&ObligationRow> {
        obligations.iter().filter(|obligation| obligation.plan == plan && obligation.milestone == milestone).collect()
    };

    // Every milestone's obligations add up to its payable amount, to the cent; a milestone
    // that is not confirmed has none.
    let plans: Vec<PlanSummary> = query(&config, &["plans"]);
    let mut details: BTreeMap<String, Plan> = BTreeMap::new();
    for summary in &plans {
        let shown: serde_json::Value = query(&config, &["plan", "show", &summary.id]);
        let plan: Plan = serde_json::from_value(shown["plan"].clone()).expect("a plan");
        for milestone in plan.milestones.values() {
            let created = of_milestone(&plan.id, &milestone.id);
            match &milestone.status {
                MilestoneStatus::Confirmed { payable, .. } => {
                    assert_eq!(sum(created.iter().map(|obligation| &obligation.amount)), *payable, "{}/{}", plan.id, milestone.id);
                    assert_eq!(created.len(), milestone.obligations.len());
                    for (number, line) in milestone.lines.iter().enumerate() {
                        let parts = created.iter().filter(|obligation| obligation.line as usize == number + 1);
                        assert_eq!(
                            sum(parts.map(|obligation| &obligation.amount)),
                            line.payable,
                            "line {} of {}",
                            number + 1,
                            milestone.id
                        );
                    }
                }
                _ => assert!(created.is_empty(), "{}/{} is not confirmed but has obligations", plan.id, milestone.id),
            }
        }
        details.insert(plan.id.clone(), plan);
    }

    // What the demo's attainments ask for is what was created.
    let demo = scenario::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml")).expect("the demo parses");
    let (mut partial, mut actual_costs, mut missed) = (0, 0, 0);
    for step in &demo.steps {
        match &step.action {
            Action::Attain { plan, milestone, fraction, amount, .. } => {
                let planned = &details[plan].milestones[milestone];
                let expected = match (fraction, amount) {
                    (Some(fraction), None) => {
                        partial += 1;
                        half_even(planned.amount, fraction)
                    }
                    (None, Some(amount)) => {
                        actual_costs += 1;
                        amount.parse().expect("an amount")
                    }
                    _ => planned.amount,
                };
                let created = sum(of_milestone(plan, milestone).iter().map(|obligation| &obligation.amount));
                assert_eq!(created, expected, "{plan}/{milestone} attained with fraction {fraction:?} / amount {amount:?}");
            }
            Action::Miss { plan, milestone, .. } => {
                missed += 1;
                assert!(matches!(details[plan].milestones[milestone].status, MilestoneStatus::Missed));
                assert!(of_milestone(plan, milestone).is_empty(), "missed {plan}/{milestone} created obligations");
            }
            _ => {}
        }
    }
    assert!(partial > 0 && actual_costs > 0 && missed > 0, "the demo covers partial, actual-cost and missed milestones");
    // The 0.75 milestone: 250000.06 × 0.75 = 187500.045, half-even to 187500.04 (half-up would give .05).
    let dashboard = sum(of_milestone("rav-nw-acute", "regional-dashboard").iter().map(|obligation| &obligation.amount));
    assert_eq!(dashboard.to_string(), "187500.04");

    // Balances agree with the obligations they sum.
    let balances: Balances = query(&config, &["balances"]);
    assert!(!balances.insurers.is_empty());
    for balance in &balances.insurers {
        let owed: Vec<&ObligationRow> = obligations.iter().filter(|obligation| obligation.insurer == balance.insurer).collect();
        assert_eq!(balance.owed, sum(owed.iter().map(|obligation| &obligation.amount)), "owed by {}", balance.insurer);
        assert_eq!(balance.paid, sum(owed.iter().map(|obligation| &obligation.paid)), "paid by {}", balance.insurer);
        assert_eq!(balance.outstanding, sum(owed.iter().map(|obligation| &obligation.outstanding)), "outstanding of {}", balance.insurer);
    }
    for balance in &balances.parties {
        let to: Vec<&ObligationRow> = obligations.iter().filter(|obligation| obligation.payee == balance.party).collect();
        assert_eq!(balance.receivable, sum(to.iter().map(|obligation| &obligation.amount)), "receivable of {}", balance.party);
        assert_eq!(balance.received, sum(to.iter().map(|obligation| &obligation.paid)), "received by {}", balance.party);
        let benefiting = obligations.iter().filter(|obligation| obligation.provider == balance.party).map(|obligation| &obligation.amount);
        assert_eq!(balance.benefiting, sum(benefiting), "benefiting {}", balance.party);
    }

    // Every node holds the same ledger: the same size and root (once replication settles).
    let statuses = wait_until("every node to report the same root", CONVERGE_DEADLINE, || {
        let statuses: Vec<NodeStatus> = query(&config, &["status"]);
        let first = &statuses[0];
        let agree = statuses.iter().all(|status| status.reachable && status.size == first.size && status.root == first.root);
        agree.then_some(statuses)
    });
    assert_eq!(statuses.len(), NODES as usize);
    assert!(statuses[0].size > 50, "the demo's transactions are leaves: {:?}", statuses[0]);
    assert!(statuses.iter().all(|status| status.state_digest == statuses[0].state_digest), "{statuses:?}");

    // A standard gRPC client (curl, on OpenSSL) works with the devnet's certificates; without
    // a client certificate it reaches health and nothing else.
    let dir = config.parent().expect("the client config is in the devnet dir");
    let url = &statuses[0].address;
    assert_eq!(curl_grpc(dir, url, "fairshare.api.v1.Ledger/Status", true), "0", "with nza's certificate");
    assert_eq!(curl_grpc(dir, url, "fairshare.api.v1.Ledger/Status", false), "16", "UNAUTHENTICATED without one");
    assert_eq!(curl_grpc(dir, url, "grpc.health.v1.Health/Check", false), "0", "health answers anyone");
    // Reflection in both protocol versions (stock Python clients speak v1alpha), to genesis
    // identities only: a ServerReflectionRequest { list_services: "" } (field 7).
    let list_services = [0, 0, 0, 0, 2, 0x3a, 0];
    for version in ["v1", "v1alpha"] {
        let method = format!("grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        assert_eq!(curl_grpc_with(dir, url, &method, true, &list_services), "0", "reflection {version}");
        assert_eq!(curl_grpc_with(dir, url, &method, false, &list_services), "16", "reflection {version} without a certificate");
    }

    // Every query's JSON as a gRPC client gets it is what the CLI prints with --json.
    the_cli_prints_the_nodes_json(&config);

    // The README's walk through every role after the demo works, line by line.
    readme_after_the_demo(&config);

    // A one-sided cancellation changes nothing yet: it says it awaits the other assessor,
    // and so do the plan list and the plan page.
    let plan = plans.iter().find(|plan| plan.status == "approved").expect("an approved demo plan");
    let cancel = fairshare(&config, &["--as", &plan.coordinating_insurer, "plan", "cancel", &plan.id, "--reason", "try-out"]);
    assert!(
        cancel.contains("applied at leaf") && cancel.contains(&format!("awaits {}", plan.second_assessor)),
        "the one-sided cancel says what it awaits:\n{cancel}"
    );
    let after: Vec<PlanSummary> = query(&config, &["plans"]);
    let after = after.iter().find(|summary| summary.id == plan.id).expect("the plan");
    assert_eq!(after.status, "approved", "nothing changed before both signed");
    assert_eq!(after.awaits(), format!("awaits {}", plan.second_assessor));
    let listed = fairshare(&config, &["plans"]);
    assert!(listed.contains(&format!("awaits {}", plan.second_assessor)), "{listed}");
    let shown = fairshare(&config, &["plan", "show", &plan.id]);
    assert!(
        shown.contains(&format!("awaits {}: cancel the plan (asked by {})", plan.second_assessor, plan.coordinating_insurer)),
        "{shown}"
    );
    // History lines in domain words, each with its transaction (what 'audit prove' takes).
    assert!(!shown.contains("()") && !shown.contains("Approve") && shown.contains("assessed: approved"), "{shown}");

    // A healthy start logs no ERROR: peers that do not listen yet are expected (WARN at most).
    for entry in std::fs::read_dir(dir.join("logs")).expect("the devnet's logs") {
        let path = entry.expect("a log file").path();
        let text = std::fs::read_to_string(&path).expect("read a log");
        let errors: Vec<&str> = text.lines().filter(|line| line.contains(" ERROR ")).collect();
        assert!(errors.is_empty(), "{} logs ERROR on a healthy devnet:\n{}", path.display(), errors.join("\n"));
    }

    // Last, as the README says: the ministry closes intake, and no new quick test is taken.
    fairshare(&config, &["--as", "vws", "intake", "close", "--on", "2026-12-31", "--reason", "end of intake"]);
    let fund: serde_json::Value = query(&config, &["report", "fund"]);
    assert_eq!(fund["intake_closed"], "2026-12-31", "{fund}");
    assert!(fairshare(&config, &["report", "fund"]).contains("intake closed on 2026-12-31"));
    let late = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(&config)
        .args(["--as", "zk", "quicktest", "submit", "too-late", "--title", "Te laat", "--region", "ROAZ Noordwest"])
        .args(["--theme", "care-coordination", "--second-assessor", "vgz"])
        .output()
        .expect("run fairshare");
    let said = format!("{}{}", String::from_utf8_lossy(&late.stdout), String::from_utf8_lossy(&late.stderr));
    assert!(!late.status.success() && said.contains("rejected"), "a quick test after intake closed is rejected:\n{said}");

    let status = devnet.stop().expect("the devnet stops within its deadline on SIGTERM");
    assert!(status.success(), "devnet exit: {status}; {}", devnet.stderr_text());
}

/// `Query` answers the JSON the CLI documents: for every query, the node's document (asked
/// as zk over gRPC, as any client would) equals what `fairshare --json` prints for it.
fn the_cli_prints_the_nodes_json(config: &Path) {
    use fairshare_api::v1::query_request::Query;
    use fairshare_api::v1::{Empty, MonitorRequest, ObligationFilter};
    let plan = "rav-nw-acute".to_string();
    let cases: Vec<(Vec<&str>, Query)> = vec![
        (vec!["party", "list"], Query::Parties(Empty {})),
        (vec!["key", "list"], Query::Keys(Empty {})),
        (vec!["quicktest", "list"], Query::QuickTests(Empty {})),
        (vec!["export", "payments"], Query::Payments(Empty {})),
        (vec!["plans"], Query::Plans(Empty {})),
        (vec!["plan", "show", &plan], Query::Plan(plan.clone())),
        (vec!["obligations"], Query::Obligations(ObligationFilter::default())),
        (vec!["report", "monitor"], Query::Monitor(MonitorRequest::default())),
        (vec!["report", "fund"], Query::Fund(Empty {})),
        (vec!["report", "spend"], Query::Spend(Empty {})),
    ];
    for (args, request) in cases {
        let node = common::node_query(config, "zk", request);
        let cli: serde_json::Value = query(config, &[&["--as", "zk"][..], &args].concat());
        assert_eq!(cli, node, "fairshare {} --json differs from the node's Query answer", args.join(" "));
        if ["party", "key", "quicktest", "export"].contains(&args[0]) {
            let records = node.as_array().unwrap_or_else(|| panic!("{args:?}: a list query answers an array, not {node}"));
            assert!(!records.is_empty(), "{args:?}: the demo fills it");
        }
    }
    // `balances --json` is the two balance queries side by side.
    let cli: serde_json::Value = query(config, &["--as", "zk", "balances"]);
    assert_eq!(cli["insurers"], common::node_query(config, "zk", Query::InsurerBalances(Empty {})));
    assert_eq!(cli["parties"], common::node_query(config, "zk", Query::PartyBalances(Empty {})));
    // Records name their own ids and the transaction behind them.
    let payments = common::node_query(config, "zk", Query::Payments(Empty {}));
    let first = &payments[0];
    assert!(first["id"].is_string() && first["settlements"][0]["obligation"].is_string(), "{first}");
    assert_eq!(first["transaction_id"].as_str().map(str::len), Some(64), "{first}");
}

/// The commands of the README's "After the demo" block.
const README_WALK_LINES: usize = 18;

/// Runs, in order, every `fairshare …` line of the README's "After the demo" block (each as
/// the built binary with the devnet's client config, in a scratch directory where `config/`
/// is the repository's), and checks what they did.
fn readme_after_the_demo(config: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("the README");
    let section = readme.split("## After the demo").nth(1).expect("the README has a section 'After the demo'");
    let section = section.split("\n## ").next().unwrap_or_default();
    // Every indented line of the section is a command or a comment: nothing is skipped unseen.
    let block: Vec<&str> = section.lines().filter_map(|line| line.strip_prefix("    ")).filter(|line| !line.trim().is_empty()).collect();
    let lines: Vec<&str> = block
        .iter()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.strip_prefix("fairshare ").unwrap_or_else(|| panic!("a README line this test cannot run: {line}")))
        .collect();
    assert_eq!(lines.len(), README_WALK_LINES, "the README's walk changed: update README_WALK_LINES with what it checks\n{lines:#?}");
    let scratch = tempfile::tempdir().expect("a scratch dir");
    std::os::unix::fs::symlink(root.join("config"), scratch.path().join("config")).expect("config/ in the scratch dir");
    let mut said = BTreeMap::new();
    for line in &lines {
        let args = words(line);
        let output = std::process::Command::new(common::binary())
            .current_dir(scratch.path())
            .arg("--config")
            .arg(config)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run fairshare");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "README line 'fairshare {line}' failed ({}):\n{text}", output.status);
        said.insert(args.join(" "), text);
    }
    let said_by = |start: &str| said.iter().find(|(args, _)| args.starts_with(start)).map(|(_, text)| text.clone()).unwrap_or_default();
    assert!(said_by("plans").contains("ouderenzorg-haarlem"), "{}", said_by("plans"));
    let plans: Vec<PlanSummary> = query(config, &["plans"]);
    let tried = plans.iter().find(|plan| plan.id == "ouderenzorg-haarlem").expect("the README's plan is on the ledger");
    assert_eq!((tried.status.as_str(), tried.funding.as_str()), ("approved", "funded"), "{tried:?}");
    // The second file pays the new plan's obligations and leaves out what the first pays.
    assert!(said_by("--as zk export sepa --insurer zk --execution-date 2026-12-16").contains("left out:"), "{said:?}");
    let second = std::fs::read_to_string(scratch.path().join("zk-try-002.xml")).expect("the second file");
    assert!(second.contains("ouderenzorg-haarlem/wijkteam-gestart"), "the new obligations are in the second file");
    let first = std::fs::read_to_string(scratch.path().join("zk-try-001.xml")).expect("the first file");
    assert!(!first.contains("ouderenzorg-haarlem"), "the first file was made before the plan existed");
    // The first file is recorded: what it paid is paid.
    let obligations: Vec<ObligationRow> = query(config, &["obligations", "--insurer", "zk"]);
    let paid_by_first: Vec<&ObligationRow> =
        obligations.iter().filter(|obligation| obligation.payments.iter().any(|payment| payment == "zk-try-001")).collect();
    assert!(!paid_by_first.is_empty(), "pay --from-sepa recorded zk-try-001");
    let checked = said_by("--as nza audit prove --check");
    assert!(checked.contains("VALID inclusion proof") && !checked.contains("INVALID"), "{checked}");
}

/// A README line's words: split at spaces, "double quotes" kept together, a trailing
/// `# comment` dropped.
fn words(line: &str) -> Vec<String> {
    let line = line.split("  #").next().unwrap_or(line);
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for character in line.chars() {
        match character {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(character),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Runs the CLI with the devnet's client config; stdout and stderr together, and panics
/// naming them on a non-zero exit.
fn fairshare(config: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fairshare");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "fairshare {args:?} failed:\n{text}");
    text
}

/// Calls `method` with an empty message through curl, pinning the devnet's node
/// certificates, as the regulator or anonymously; returns the `grpc-status` trailer.
///
/// A refusal comes before the node reads the request body, and the node then resets the
/// stream with NO_ERROR (RFC 9113 §8.1 allows it); curl sometimes reports that as a framing
/// error (exit 92) instead of the response, so that one exit is retried a few times.
fn curl_grpc(dir: &Path, url: &str, method: &str, as_regulator: bool) -> String {
    curl_grpc_with(dir, url, method, as_regulator, &[0u8; 5])
}

/// [`curl_grpc`] with a given request body (gRPC length-prefixed messages).
fn curl_grpc_with(dir: &Path, url: &str, method: &str, as_regulator: bool, message: &[u8]) -> String {
    let tls = dir.join("tls");
    let body = dir.join("request.grpc");
    std::fs::write(&body, message).unwrap();
    let mut last = String::new();
    for _ in 0..5 {
        let mut command = std::process::Command::new("curl");
        command.args(["-sS", "--http2", "--max-time", "10", "--cacert"]).arg(tls.join("nodes.crt"));
        if as_regulator {
            command.arg("--cert").arg(tls.join("nza.crt")).arg("--key").arg(tls.join("nza.key"));
        }
        command.args(["-H", "content-type: application/grpc", "-H", "te: trailers", "-o", "/dev/null", "-D", "-", "--data-binary"]);
        command.arg(format!("@{}", body.display())).arg(format!("{url}/{method}"));
        let output = command.output().expect("curl is installed");
        let headers = String::from_utf8_lossy(&output.stdout);
        if let Some(status) = headers.lines().find_map(|line| line.strip_prefix("grpc-status: ")) {
            return status.trim().to_string();
        }
        last = format!("{headers}{}", String::from_utf8_lossy(&output.stderr));
        if output.status.code() != Some(92) {
            break;
        }
    }
    panic!("no grpc-status from curl: {last}");
}
