//! End to end: `fairshare export sepa` on the demo ledger writes, for each insurer, a
//! pain.001.001.09 file that the published XSD accepts (checked with xmllint), with one
//! transfer per payee that has an IBAN, for everything outstanding to it.
//!
//! Needs xmllint and the XSD from the Python package sepaxml: run
//! scripts/install-test-tools.sh (CI does). Without them this test fails and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fairshare_client::views::ObligationRow;
use fairshare_protocol::Amount;

mod common;
use common::{binary, query, texts, Devnet};

const INSTALL: &str = "run scripts/install-test-tools.sh (it installs xmllint from libxml2-utils and the Python package sepaxml)";

/// pain.001.001.09.xsd inside the installed sepaxml package.
fn schema() -> PathBuf {
    let output = Command::new("python3")
        .args(["-c", "import sepaxml, os; print(os.path.dirname(sepaxml.__file__))"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run python3 ({error}): {INSTALL}"));
    assert!(
        output.status.success(),
        "the Python package sepaxml is missing ({}): {INSTALL}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let package = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    for candidate in [package.join("schemas/pain.001.001.09.xsd"), package.join("pain.001.001.09.xsd")] {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("no pain.001.001.09.xsd in {}: {INSTALL}", package.display());
}

fn validate(schema: &Path, file: &Path) {
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap_or_else(|error| panic!("cannot run xmllint ({error}): {INSTALL}"));
    assert!(
        output.status.success(),
        "{} does not validate against {}:\n{}",
        file.display(),
        schema.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sepa_export_validates_against_the_xsd_and_pays_each_payee_what_is_outstanding() {
    let schema = schema();
    let mut devnet = Devnet::start(true);
    devnet.wait_ready();
    let config = devnet.client_config();
    let dir = devnet.dir.path().to_path_buf();
    let open: Vec<ObligationRow> = query(&config, &["obligations", "--open"]);
    let parties: Vec<serde_json::Value> = query(&config, &["party", "list"]);
    let iban_of: BTreeMap<String, Option<String>> = parties
        .iter()
        .map(|party| {
            (party["id"].as_str().unwrap().to_string(), party["iban"].as_str().filter(|iban| !iban.is_empty()).map(str::to_string))
        })
        .collect();
    let insurers: std::collections::BTreeSet<&str> = open.iter().map(|obligation| obligation.insurer.as_str()).collect();
    assert!(!insurers.is_empty(), "the demo leaves open obligations");

    for insurer in insurers {
        let file = dir.join(format!("{insurer}.xml"));
        let output = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .args(["export", "sepa", "--insurer", insurer, "--debtor-iban", "NL91 ABNA 0417 1643 00"])
            .args(["--debtor-name", "Zorgverzekeraar <Test> & 'Co' \"NV\"", "--execution-date", "2026-12-01", "--out"])
            .arg(&file)
            .output()
            .expect("run fairshare export sepa");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "export sepa --insurer {insurer}: {stderr}");
        validate(&schema, &file);

        // What the file should hold: per payee with an IBAN, the sum outstanding and the ids.
        let mut expected: BTreeMap<&str, (Amount, Vec<&str>)> = BTreeMap::new();
        for obligation in open.iter().filter(|obligation| obligation.insurer == insurer) {
            match iban_of.get(&obligation.payee).cloned().flatten() {
                Some(_) => {
                    let entry = expected.entry(&obligation.payee).or_insert((Amount::from_cents(0), Vec::new()));
                    entry.0 += obligation.outstanding;
                    entry.1.push(&obligation.id);
                }
                None => assert!(
                    stderr.contains(&format!("skipped {}", obligation.payee)),
                    "{} has no IBAN: listed as skipped: {stderr}",
                    obligation.payee
                ),
            }
        }
        let xml = std::fs::read_to_string(&file).unwrap();
        assert!(xml.contains("pain.001.001.09"));
        assert!(xml.contains("<Nm>Zorgverzekeraar &lt;Test&gt; &amp; &apos;Co&apos; &quot;NV&quot;</Nm>"), "names are escaped");
        assert_eq!(texts(&xml, "PmtMtd"), ["TRF"]);
        assert_eq!(texts(&xml, "Dt"), ["2026-12-01"]);
        assert!(xml.contains("<Othr>\n            <Id>NOTPROVIDED</Id>"));
        let ibans = texts(&xml, "IBAN");
        assert_eq!(ibans[0], "NL91ABNA0417164300", "the debtor account, normalised");
        let amounts: Vec<Amount> = texts(&xml, "InstdAmt").iter().map(|amount| amount.parse().unwrap()).collect();
        let remittances = texts(&xml, "Ustrd");
        assert_eq!(amounts.len(), expected.len(), "one transfer per payee with an IBAN");
        assert_eq!(texts(&xml, "NbOfTxs"), vec![expected.len().to_string(); 2]);
        let total: Amount = expected.values().map(|(amount, _)| *amount).sum();
        assert_eq!(texts(&xml, "CtrlSum"), vec![total.to_string(); 2]);
        for (number, (payee, (amount, ids))) in expected.iter().enumerate() {
            assert_eq!(amounts[number], *amount, "transfer to {payee}");
            assert_eq!(Some(&ibans[number + 1]), iban_of[*payee].as_ref(), "transfer to {payee}");
            assert!(remittances[number].chars().count() <= 140);
            for id in ids {
                assert!(remittances[number].contains(id) || remittances[number].contains("more)"), "{id} in {}", remittances[number]);
            }
        }
    }

    check_the_treasury_loop(&config, &dir);

    // A bad debtor IBAN is refused before anything is written.
    let file = dir.join("bad.xml");
    let output = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["export", "sepa", "--insurer", "zk", "--debtor-iban", "NL92ABNA0417164300", "--debtor-name", "ZK"])
        .args(["--execution-date", "2026-12-01", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--debtor-iban"), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!file.exists());

    let status = devnet.stop().expect("the devnet stops within its deadline on SIGTERM");
    assert!(status.success(), "devnet exit: {status}; {}", devnet.stderr_text());
}

/// Runs the CLI with the devnet's client config: (success, stdout, stderr).
fn fairshare(config: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(binary()).arg("--config").arg(config).args(args).output().expect("run fairshare");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Issue 16, the treasury loop: the files exported above are remembered until recorded, so
/// a second export pays nothing twice; `pay --from-sepa` records a file as one payment
/// record under its MsgId; the debtor account may come from `[treasury]`; a past execution
/// date is warned about.
fn check_the_treasury_loop(config: &Path, dir: &Path) {
    let zk = dir.join("zk.xml");
    let message_id = texts(&std::fs::read_to_string(&zk).expect("zk's file"), "MsgId")[0].clone();
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "sepa", "--insurer", "zk", "--execution-date", "2099-01-02", "--msg-id", "FS-zk-second"];
        args.extend_from_slice(extra);
        fairshare(config, &args)
    };
    let with_debtor = ["--debtor-iban", "NL91ABNA0417164300", "--debtor-name", "ZK"];
    let (ok, _, stderr) = export(&with_debtor);
    assert!(!ok && stderr.contains("nothing to pay"), "everything open was exported already: {stderr}");
    assert!(stderr.contains(&format!("already in {message_id}")), "says what it left out: {stderr}");

    // No debtor given and none configured: the error says where to put it.
    let (ok, _, stderr) = export(&[]);
    assert!(!ok && stderr.contains("[treasury]"), "{stderr}");
    // [treasury] in the client config is used (the export then fails later, for nothing to pay).
    let treasury = config.with_file_name("treasury.toml"); // beside it: key and genesis paths are relative
    let text = std::fs::read_to_string(config).expect("the client config");
    std::fs::write(&treasury, format!("{text}\n[treasury]\ndebtor_iban = \"NL91ABNA0417164300\"\ndebtor_name = \"ZK\"\n")).unwrap();
    let (ok, _, stderr) = fairshare(&treasury, &["export", "sepa", "--insurer", "zk", "--execution-date", "2020-01-02"]);
    assert!(!ok && !stderr.contains("--debtor-iban") && stderr.contains("nothing to pay"), "{stderr}");
    assert!(stderr.contains("execution date 2020-01-02 is in the past"), "a past date is warned about: {stderr}");

    // The bank executed the file: one payment record, the MsgId as id and reference.
    let (ok, stdout, stderr) = fairshare(config, &["--as", "zk", "pay", "--from-sepa", zk.to_str().expect("utf-8")]);
    assert!(ok && stdout.contains(&format!("recorded {message_id}")), "{stdout}{stderr}");
    let payments: Vec<serde_json::Value> = query(config, &["export", "payments"]);
    let payment_id = message_id.to_lowercase();
    let payment = payments.iter().find(|payment| payment["id"] == payment_id.as_str()).expect("the payment record");
    assert_eq!(payment["bank_reference"], message_id.as_str());
    let paid: Vec<ObligationRow> = query(config, &["obligations", "--insurer", "zk"]);
    let settled: Vec<&ObligationRow> = paid.iter().filter(|row| row.payment_records.iter().any(|record| record.id == payment_id)).collect();
    assert!(!settled.is_empty() && settled.iter().all(|row| row.outstanding.cents() == 0), "the file's obligations are paid");
    // Recorded once: a second attempt finds no unrecorded export.
    let (ok, _, stderr) = fairshare(config, &["--as", "zk", "pay", "--from-sepa", zk.to_str().expect("utf-8")]);
    assert!(!ok && stderr.contains("no unrecorded export"), "{stderr}");
    let (_, _, stderr) = export(&with_debtor);
    assert!(!stderr.contains("left out"), "nothing is pending once recorded: {stderr}");
}
