//! A client that does not carry the server: `fairshare` built without the cargo feature
//! `node` links neither openraft nor sled, lacks `devnet` and `node` (and says so), and its
//! `audit verify` verifies the export of a real devnet, offline.
//!
//! The lean binary is built here with its own `--target-dir` under the workspace target
//! dir: the test's own cargo run holds the default one, and the different feature set
//! would otherwise rebuild the default binary's crates back and forth.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{binary, wait_until, Devnet};

/// A cold build of the lean CLI (its own target dir: every dependency once more) took over
/// 20 minutes on a busy 2-core machine; a warm one takes seconds.
const BUILD_DEADLINE: Duration = Duration::from_secs(45 * 60);
const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// A child process killed (and reaped) on drop, so a failed assertion or a passed deadline
/// leaves no cargo or fairshare process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `command` to its end within `limit`, with stdout and stderr in files under `dir`.
fn run(command: &mut Command, dir: &Path, name: &str, limit: Duration) -> Output {
    let stdout = dir.join(format!("{name}.stdout"));
    let stderr = dir.join(format!("{name}.stderr"));
    let child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
    let mut child = Reaped(child);
    let status = wait_until(name, limit, || child.0.try_wait().expect("wait for the child"));
    Output { status, stdout: std::fs::read(&stdout).expect("read stdout"), stderr: std::fs::read(&stderr).expect("read stderr") }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("client/ is in the workspace").to_path_buf()
}

/// `cargo` as cargo itself set it for this test, else the one on PATH.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace()).env_remove("CARGO_TARGET_DIR").env("CARGO_TERM_COLOR", "never");
    command
}

/// `cargo tree -p fairshare-client -e normal` with the given extra flags.
fn normal_dependencies(dir: &Path, flags: &[&str]) -> String {
    let output = run(cargo().args(["tree", "-p", "fairshare-client", "-e", "normal"]).args(flags), dir, "cargo-tree", COMMAND_DEADLINE);
    assert!(output.status.success(), "cargo tree {flags:?} failed: {}", text(&output.stderr));
    text(&output.stdout)
}

fn names_server_crates(tree: &str) -> Vec<&str> {
    tree.lines().filter(|line| line.contains("openraft") || line.contains("sled")).collect()
}

/// Builds `fairshare` without default features; returns the binary.
fn build_lean_binary(dir: &Path) -> PathBuf {
    // The default binary lives in TARGET/debug/fairshare: the lean one goes beside, in TARGET/lean-client.
    let target = Path::new(binary()).parent().and_then(Path::parent).expect("the binary is in TARGET/PROFILE/").join("lean-client");
    let output = run(
        cargo().args(["build", "-p", "fairshare-client", "--no-default-features", "--bin", "fairshare", "--target-dir"]).arg(&target),
        dir,
        "cargo-build-lean",
        BUILD_DEADLINE,
    );
    assert!(output.status.success(), "the lean build failed:\n{}", text(&output.stderr));
    let lean = target.join("debug/fairshare");
    assert!(lean.is_file(), "no binary at {}", lean.display());
    lean
}

#[test]
fn the_lean_client_links_no_server_and_verifies_a_devnet_export() {
    let work = tempfile::Builder::new().prefix("fairshare-lean-").tempdir().expect("temp dir");

    // What the lean CLI links: no consensus, no storage; the default one does (so the check can fail).
    let lean_tree = normal_dependencies(work.path(), &["--no-default-features"]);
    assert!(lean_tree.contains("fairshare-api"), "the lean client uses the API crate:\n{lean_tree}");
    assert!(names_server_crates(&lean_tree).is_empty(), "the lean client links server crates:\n{lean_tree}");
    let default_tree = normal_dependencies(work.path(), &[]);
    assert!(!names_server_crates(&default_tree).is_empty(), "the default client embeds the node, with openraft and sled");

    let lean = build_lean_binary(work.path());

    // It says that it lacks the node, rather than failing obscurely.
    let help = run(Command::new(&lean).arg("--help"), work.path(), "lean-help", COMMAND_DEADLINE);
    assert!(help.status.success());
    let listed = |command: &str| text(&help.stdout).lines().any(|line| line.trim_start().starts_with(command));
    assert!(listed("audit"), "{}", text(&help.stdout));
    assert!(!listed("devnet"), "the lean build lists no devnet command:\n{}", text(&help.stdout));
    let devnet = run(Command::new(&lean).args(["devnet", "--demo"]), work.path(), "lean-devnet", COMMAND_DEADLINE);
    assert_eq!(devnet.status.code(), Some(1), "{}", text(&devnet.stderr));
    assert!(text(&devnet.stderr).contains("built without the embedded node"), "{}", text(&devnet.stderr));

    // A real ledger, exported by the default binary.
    let mut running = Devnet::start(true);
    running.wait_ready();
    let export = work.path().join("ledger.fsexport");
    let exported = run(
        Command::new(binary()).args(["audit", "export", "--out"]).arg(&export).arg("--config").arg(running.client_config()),
        work.path(),
        "export",
        COMMAND_DEADLINE,
    );
    assert!(exported.status.success(), "export failed: {}", text(&exported.stderr));
    let genesis = running.dir.path().join("devnet/genesis.toml");
    assert_eq!(running.stop().and_then(|status| status.code()), Some(0), "the devnet stops cleanly: {}", running.stderr_text());

    // Verified by the lean binary, offline (the devnet is gone), against the trusted genesis.
    let verified = run(
        Command::new(&lean).args(["audit", "verify"]).arg(&export).arg("--genesis").arg(&genesis).env_remove("FAIRSHARE_CONFIG"),
        work.path(),
        "lean-verify",
        COMMAND_DEADLINE,
    );
    let (stdout, stderr) = (text(&verified.stdout), text(&verified.stderr));
    assert_eq!(verified.status.code(), Some(0), "lean audit verify:\n{stdout}\n{stderr}");
    assert!(stdout.contains("VERIFIED"), "{stdout}");

    // And it is not a rubber stamp: one flipped byte in the export does not verify.
    let mut bytes = std::fs::read(&export).expect("read the export");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = work.path().join("tampered.fsexport");
    std::fs::write(&tampered, bytes).expect("write the tampered export");
    let refused = run(
        Command::new(&lean).args(["audit", "verify"]).arg(&tampered).arg("--genesis").arg(&genesis),
        work.path(),
        "lean-verify-tampered",
        COMMAND_DEADLINE,
    );
    assert_ne!(refused.status.code(), Some(0), "a tampered export verified:\n{}", text(&refused.stdout));
}
