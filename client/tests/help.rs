//! `fairshare completions SHELL` and `fairshare man`: clap's companions, run as a user
//! would, from the real binary. (The help tree itself is checked by main.rs's tests: every
//! argument described, an example on every page.)

use std::process::Command;

fn fairshare(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(args)
        .env_remove("FAIRSHARE_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run fairshare");
    assert!(output.status.success(), "fairshare {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn completions_name_the_real_subcommands_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = fairshare(&["completions", shell]);
        for name in ["obligations", "audit", "consistency", "insurer"] {
            assert!(script.contains(name), "{shell} completions lack '{name}':\n{}", &script[..script.len().min(400)]);
        }
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_fairshare")).args(["completions", "tcsh"]).output().expect("run");
    assert_eq!(refused.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn the_manual_is_roff_with_the_commands_and_one_page_each_with_out() {
    let page = fairshare(&["man"]);
    assert!(page.starts_with(".ie") || page.contains(".TH fairshare"), "roff: {}", &page[..page.len().min(200)]);
    for name in ["obligations", "audit", "GLOBAL OPTIONS", r"\-\-as"] {
        assert!(page.contains(name), "the manual page lacks '{name}'");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    fairshare(&["man", "--out", dir.path().to_str().expect("utf-8")]);
    let prove = std::fs::read_to_string(dir.path().join("fairshare-audit-prove.1")).expect("a page for 'audit prove'");
    assert!(prove.contains("TX_OR_ID") && prove.contains("Example"), "{prove}");
    assert!(dir.path().join("fairshare-plan-submit.1").exists());
    assert!(!dir.path().join("fairshare-node.1").exists(), "no page for the hidden node command");
}
