//! The harness shared by the end-to-end tests: a `fairshare devnet` in a temp dir on free
//! ports, run through the built binary, and the CLI's JSON queries.
#![allow(dead_code)] // each test crate uses a part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const READY_DEADLINE: Duration = Duration::from_secs(120);
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(30);
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
pub const NODES: u16 = 4;
pub const METRICS_OFFSET: u16 = 100;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_fairshare")
}

/// A base port where base..base+N and base+100..base+100+N are free right now. The start
/// is spread by the process id so parallel test runs rarely try the same block.
pub fn free_base_port() -> u16 {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    static STARTED: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Each devnet of this process starts 1,000 ports further on.
    let start = (std::process::id() % 3_000) * 10 + u32::from(started) * 1_000;
    for attempt in 0..200u32 {
        let base = (20_000 + (start + attempt * 137) % 40_000) as u16;
        if (0..NODES).all(|offset| free(base + offset) && free(base + METRICS_OFFSET + offset)) {
            return base;
        }
    }
    panic!("found no free block of ports for the devnet");
}

/// The running devnet: stopped with SIGTERM (and killed after a deadline) on drop.
pub struct Devnet {
    child: Child,
    pub dir: tempfile::TempDir,
    stderr: PathBuf,
    stdout: mpsc::Receiver<String>,
}

impl Devnet {
    /// Starts `fairshare devnet` in a fresh temp dir on free ports; with `demo`, it plays config/demo.toml.
    pub fn start(demo: bool) -> Devnet {
        let dir = tempfile::Builder::new().prefix("fairshare-devnet-").tempdir().expect("temp dir");
        let stderr = dir.path().join("devnet.stderr");
        let base = free_base_port();
        let child = Command::new(binary())
            .arg("devnet")
            .args(if demo { &["--demo"][..] } else { &[][..] })
            .args(["--base-port", &base.to_string(), "--dir"])
            .arg(dir.path().join("devnet"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start fairshare devnet");
        let mut devnet = Devnet { child, dir, stderr, stdout: mpsc::channel().1 };
        let output = devnet.child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        devnet.stdout = receiver;
        devnet
    }

    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("devnet/client.toml")
    }

    /// Reads stdout until a line starts with "ready"; everything read is returned.
    pub fn wait_ready(&mut self) -> Vec<String> {
        let deadline = Instant::now() + READY_DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left.min(Duration::from_secs(1))) {
                Ok(line) => {
                    let ready = line.starts_with("ready");
                    seen.push(line);
                    if ready {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().expect("wait for devnet");
                    panic!("devnet exited ({status}) before it was ready:\n{}\n{}", seen.join("\n"), self.stderr_text());
                }
            }
            assert!(Instant::now() < deadline, "devnet not ready within {READY_DEADLINE:?}:\n{}\n{}", seen.join("\n"), self.stderr_text());
        }
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded), then kill. Returns how it ended.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(POLL_INTERVAL); // a polling interval while the nodes stop
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `fairshare ARGS --json --config CONFIG` and parses its JSON output.
pub fn query<T: serde::de::DeserializeOwned>(config: &Path, args: &[&str]) -> T {
    let output = Command::new(binary()).args(args).arg("--json").arg("--config").arg(config).output().expect("run fairshare");
    assert!(output.status.success(), "fairshare {args:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("fairshare {args:?} printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stdout)))
}

pub fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(POLL_INTERVAL); // a polling interval, not a guess
    }
}

/// A script that runs `fairshare node …` for the harness of real node processes
/// (`fairshare_tests::Cluster`), which starts `BINARY --config FILE`.
pub fn node_wrapper(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fairshare-node");
    let script = format!("#!/bin/sh\nexec '{}' node --exit-with-parent \"$@\"\n", binary());
    std::fs::write(&path, script).expect("write the node wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("make it executable");
    path
}

/// Every node of `among` reports the same size (at least `at_least`), and has certified it.
pub fn wait_until_certified(cluster: &fairshare_tests::Cluster, among: &[&str], at_least: u64) -> fairshare_api::v1::StatusResponse {
    wait_until("every node to certify the whole log", Duration::from_secs(60), || {
        let statuses: Vec<_> = among.iter().filter_map(|id| cluster.status(id).ok()).collect();
        let first = statuses.first()?;
        let done = statuses.len() == among.len()
            && first.size >= at_least
            && statuses.iter().all(|status| status.size == first.size && status.root == first.root && status.certified_size == first.size);
        done.then(|| first.clone())
    })
}

/// The node's own answer to `query`, asked as `identity` of the client config over mutual
/// TLS as the CLI asks (through the client library's `Connection`): its JSON document.
pub fn node_query(config: &Path, identity: &str, query: fairshare_api::v1::query_request::Query) -> serde_json::Value {
    use fairshare_api::tls::{node_trust, Identity};
    use fairshare_api::Transport;
    let client = fairshare_client::config::ClientConfig::load(config).expect("the client config");
    let (_, key_path) = client.identity(Some(identity)).expect("an identity of the client config");
    let key = fairshare_client::keyfile::read(&key_path).expect("its key file");
    let genesis_path = client.genesis_path().expect("the client config names its genesis");
    let genesis_text = std::fs::read_to_string(&genesis_path).expect("the genesis file");
    let genesis =
        toml::from_str::<fairshare_protocol::genesis::GenesisFile>(&genesis_text).expect("genesis TOML").build().expect("a valid genesis");
    let transport = Transport::tls(&Identity::new(&key).expect("a TLS identity"), node_trust(&genesis)).expect("a TLS transport");
    let connection = fairshare_client::connection::Connection::new(client.file.nodes.clone(), transport);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let (_, response) = runtime.block_on(connection.query(query, 0)).expect("the node answers the query");
    serde_json::from_str(&response.json).expect("the node answers JSON")
}

/// The text of every `<tag>…</tag>` of an XML document (tags with attributes too), in order.
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&format!("<{tag}")) {
        let after = &rest[start + tag.len() + 1..];
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let open_end = after.find('>').expect("a closed tag") + 1;
        let close = after.find(&format!("</{tag}>")).expect("a closing tag");
        found.push(after[open_end..close].to_string());
        rest = &after[close..];
    }
    found
}
