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

    let status = devnet.stop().expect("the devnet stops within its deadline on SIGTERM");
    assert!(status.success(), "devnet exit: {status}; {}", devnet.stderr_text());
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
