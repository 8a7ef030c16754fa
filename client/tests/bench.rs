//! `fairshare bench` against a real devnet (four nodes, mutual TLS, fsync on): the plain
//! bench commits exactly what it was asked to, and a tiny IZA workload runs every stage,
//! creates obligations and verifies offline. Nothing here is timed: the figures are for
//! BENCHMARKS.md, not for a test.

mod common;
use common::{query, Devnet};

#[test]
fn bench_commits_what_it_submits_and_the_iza_workload_audits() {
    let mut devnet = Devnet::start(false);
    devnet.wait_ready();
    let config = devnet.client_config();

    let plain: serde_json::Value = query(&config, &["bench", "--count", "200", "--concurrency", "8"]);
    assert_eq!(plain["requested"], 200, "{plain:#}");
    assert_eq!(plain["committed"], 200, "{plain:#}");
    assert_eq!(plain["verdicts"]["applied"], 200, "every registration is applied: {plain:#}");
    assert_eq!(plain["verdicts"]["errors"], 0, "{plain:#}");
    assert_eq!(plain["latency_ms"]["count"], 200, "one sample per Submit: {plain:#}");
    assert!(plain["latency_ms"]["p50_ms"].as_f64().unwrap() <= plain["latency_ms"]["max_ms"].as_f64().unwrap());
    assert_eq!(plain["cluster"]["voters"], 4, "{plain:#}");
    assert_eq!(plain["fsync"], "on (every append)");

    let batched: serde_json::Value = query(&config, &["bench", "--count", "100", "--batch", "25", "--concurrency", "2"]);
    assert_eq!(batched["verdicts"]["applied"], 100, "SubmitBatch: {batched:#}");
    assert_eq!(batched["latency_ms"]["count"], 4, "one sample per SubmitBatch call: {batched:#}");

    let iza: serde_json::Value =
        query(&config, &["bench", "--iza", "--plans", "2", "--milestones", "6", "--lines", "2", "--seed", "13", "--batch", "16"]);
    assert_eq!(iza["complete"], true, "{iza:#}");
    assert_eq!(iza["verdicts"]["errors"], 0, "{iza:#}");
    assert_eq!(iza["verdicts"]["applied"], iza["transactions"], "every transaction of the workload is applied: {iza:#}");
    let created = iza["obligations_created"].as_u64().unwrap();
    assert!(created > 0 && created <= iza["obligations_max"].as_u64().unwrap(), "{iza:#}");
    let stages: Vec<&str> = iza["stages"].as_array().unwrap().iter().map(|stage| stage["name"].as_str().unwrap()).collect();
    for stage in ["parties", "quick tests", "plan submissions", "assessments", "attainments and misses", "confirmations", "payments"] {
        assert!(stages.contains(&stage), "stage {stage} ran: {stages:?}");
    }
    assert_eq!(iza["audit"]["verified"], true, "audit verify of the export: {iza:#}");
}
