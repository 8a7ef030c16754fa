//! A node refuses to start, naming the field, on bad configuration.

use std::path::Path;
use std::process::Command;

fn start(config: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_fairshare-node")).arg("--config").arg(config).output().expect("run fairshare-node");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for file in ["genesis.example.toml", "node.example.toml"] {
        std::fs::copy(root.join(file), dir.path().join(file)).expect("copy example");
    }
    dir
}

#[test]
fn the_example_genesis_is_valid() {
    let genesis =
        fairshare_node::config::read_genesis(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/genesis.example.toml")).expect("valid");
    assert_eq!(genesis.insurers.len(), 4);
}

#[test]
fn a_missing_key_file_is_named() {
    let dir = example_dir();
    let (ok, stderr) = start(&dir.path().join("node.example.toml"));
    assert!(!ok);
    assert!(stderr.contains("key_file") && stderr.contains("zk.node.key"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}

#[test]
fn a_malformed_config_names_the_field() {
    let dir = example_dir();
    let config = dir.path().join("node.example.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("listen = \"127.0.0.1:7104\"", "listen = 7104");
    std::fs::write(&config, text).unwrap();
    let (ok, stderr) = start(&config);
    assert!(!ok);
    assert!(stderr.contains("listen"), "{stderr}");
}

#[test]
fn a_genesis_with_bad_shares_names_the_field() {
    let dir = example_dir();
    let genesis = dir.path().join("genesis.example.toml");
    let text = std::fs::read_to_string(&genesis).unwrap().replacen("\"0.4\"", "\"0.41\"", 1);
    std::fs::write(&genesis, text).unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/zk.node.key"), "00".repeat(32)).unwrap();
    let (ok, stderr) = start(&dir.path().join("node.example.toml"));
    assert!(!ok);
    assert!(stderr.contains("keys[") && stderr.contains("shares") && stderr.contains("not exactly 1"), "{stderr}");
}

#[test]
fn a_key_that_is_not_the_genesis_node_key_is_refused() {
    let dir = example_dir();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/zk.node.key"), "11".repeat(32)).unwrap();
    let (ok, stderr) = start(&dir.path().join("node.example.toml"));
    assert!(!ok);
    assert!(stderr.contains("does not match node_key of 'zk'"), "{stderr}");
}
