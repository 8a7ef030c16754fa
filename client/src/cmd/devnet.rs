//! `fairshare devnet`: a local ledger of N insurer nodes, as child processes of this
//! executable, until Ctrl-C or SIGTERM.
//!
//! Keys, genesis and configs are made once (see `fairshare_client::devnet`) and reused on
//! the next run in the same directory. Each node runs as `fairshare node --config FILE` in
//! its own process group (Ctrl-C reaches the devnet, which stops the nodes in order) with
//! its output in `DIR/logs/<id>.log`; a node whose devnet disappears stops by itself.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fairshare_client::connection::Connection;
use fairshare_client::devnet::{self, Devnet, DevnetNode, METRICS_PORT_OFFSET, NODES_MAX, NODES_MIN};
use fairshare_client::scenario::{self, Scenario};

use super::Context;

/// How long the nodes get to elect a leader that every node knows.
const LEADER_DEADLINE: Duration = Duration::from_secs(60);
/// How long the nodes get to stop after SIGTERM before they are killed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(250);
const DEFAULT_NODES: u64 = 4;
const DEFAULT_BASE_PORT: u16 = 7101;
/// The demo is written for the four insurers zk, vgz, cz and menzis: with a fifth, its new
/// distribution key would lack that insurer's approval and every split would differ.
const DEMO_NODES: usize = 4;

/// The demo scenario and the files it names, built into the binary so `devnet --demo`
/// works from any directory. The same files are in `config/` to read and to play by hand.
const DEMO: &str = include_str!("../../../config/demo.toml");
const DEMO_FILES: &[(&str, &str)] = &[
    ("plan.example.toml", include_str!("../../../config/plan.example.toml")),
    ("plan.ggz-network.toml", include_str!("../../../config/plan.ggz-network.toml")),
];

/// Start a local ledger: keys, genesis and configs for N insurers, the nodes as child processes.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare devnet                       # 4 insurer nodes on 127.0.0.1:7101-7104, files in ./devnet\n  \
    fairshare devnet --demo                # …and play config/demo.toml (plans, milestones, payments)\n  \
    fairshare devnet --observer            # …and the regulator's observer (status on base port + 200)\n  \
    fairshare devnet --nodes 7 --dir /tmp/iza --base-port 9101\n\n\
    Then, in another terminal:\n  \
    fairshare --config devnet/client.toml status\n  \
    fairshare --config devnet/client.toml obligations --open\n\n\
    A second run on the same --dir reuses its keys, genesis and data: the same ledger.\n\
    Ctrl-C stops the nodes cleanly.")]
pub struct Args {
    /// Where keys, configs, data and logs live.
    #[arg(long, default_value = "devnet", value_name = "DIR")]
    dir: PathBuf,
    /// How many insurer nodes (2 to 10) [default: 4].
    #[arg(long, value_parser = clap::value_parser!(u64).range(NODES_MIN as u64..=NODES_MAX as u64))]
    nodes: Option<u64>,
    /// Play the demo scenario (config/demo.toml) once the nodes are up.
    #[arg(long)]
    demo: bool,
    /// The first node listens on this port, the next on P+1…; metrics on P+100… [default: 7101].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1024..=65_000))]
    base_port: Option<u16>,
    /// Also run the regulator's observer (`fairshare --as nza observe`) once the nodes are
    /// up: status at http://127.0.0.1:P+200/status, metrics at /metrics, log logs/observer.log.
    #[arg(long)]
    observer: bool,
}

/// The observer child process; killed with the devnet (and by the kernel if the devnet dies).
struct ObserverProcess(Child);

impl ObserverProcess {
    fn start(devnet: &Devnet, client_config: &Path) -> Result<(ObserverProcess, String)> {
        let executable = std::env::current_exe().context("cannot find this executable to start the observer with")?;
        let log_path = devnet.dir.join("logs").join("observer.log");
        let log =
            OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("cannot open {}", log_path.display()))?;
        let address = format!("127.0.0.1:{}", devnet.base_port() as u32 + 200);
        let mut command = std::process::Command::new(&executable);
        command
            .arg("--config")
            .arg(client_config)
            .args(["--as", "nza"])
            .args(devnet.insecure.then_some("--insecure"))
            .args(["observe", "--listen", &address])
            .stdin(Stdio::null())
            .stdout(log.try_clone().with_context(|| format!("cannot open {}", log_path.display()))?)
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl(2) in the child before exec, async-signal-safe, no allocation.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn().context("cannot start the observer")?;
        Ok((ObserverProcess(child), format!("http://{address}/status (log {})", log_path.display())))
    }
}

impl Drop for ObserverProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo, parsed; its files come from the binary.
pub fn demo_scenario() -> Result<Scenario> {
    let load = |name: &Path| -> Result<String, String> {
        DEMO_FILES
            .iter()
            .find(|(file, _)| Path::new(file) == name)
            .map(|(_, text)| text.to_string())
            .ok_or_else(|| format!("the demo names {}, which is not built into this binary", name.display()))
    };
    Ok(scenario::parse("config/demo.toml", DEMO, &load)?)
}

struct NodeProcess {
    node: DevnetNode,
    child: Child,
    /// Set once its exit was seen.
    exited: Option<String>,
}

/// The running nodes; stopped on drop if not before (also on a panic or an early error).
struct Nodes(Vec<NodeProcess>);

impl Nodes {
    fn start(devnet: &Devnet) -> Result<Nodes> {
        let executable = std::env::current_exe().context("cannot find this executable to start the nodes with")?;
        let logs = devnet.dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
        let mut nodes = Nodes(Vec::new());
        for node in &devnet.nodes {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&node.log)
                .with_context(|| format!("cannot open {}", node.log.display()))?;
            let child = std::process::Command::new(&executable)
                .arg("node")
                .arg("--config")
                .arg(&node.config)
                .arg("--exit-with-parent")
                .args(devnet.insecure.then_some("--insecure"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().with_context(|| format!("cannot open {}", node.log.display()))?)
                .stderr(log)
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot start node {}", node.id))?;
            nodes.0.push(NodeProcess { node: node.clone(), child, exited: None });
        }
        Ok(nodes)
    }

    /// Nodes that exited since the last call, with how.
    fn newly_exited(&mut self) -> Vec<&NodeProcess> {
        let mut exited = Vec::new();
        for (index, process) in self.0.iter_mut().enumerate() {
            if process.exited.is_none() {
                if let Ok(Some(status)) = process.child.try_wait() {
                    process.exited = Some(status.to_string());
                    exited.push(index);
                }
            }
        }
        exited.into_iter().map(|index| &self.0[index]).collect()
    }

    /// Fails if any node exited, naming it and showing the end of its log.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(process) = self.newly_exited().first() {
            bail!(
                "node {} exited early ({}); see its log {}{}",
                process.node.id,
                process.exited.as_deref().unwrap_or("?"),
                process.node.log.display(),
                log_tail(&process.node.log)
            );
        }
        Ok(())
    }

    /// SIGTERM to every node, a bounded wait, then SIGKILL for any still running.
    fn stop(&mut self) {
        for process in self.0.iter().filter(|process| process.exited.is_none()) {
            // SAFETY: kill(2) with a pid of a child we spawned and have not reaped (it has
            // not been waited for), so the pid still names that child.
            unsafe {
                libc::kill(process.child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline && self.0.iter().any(|process| process.exited.is_none()) {
            let _ = self.newly_exited();
            std::thread::sleep(Duration::from_millis(50)); // a polling interval while nodes sync and exit
        }
        for process in self.0.iter_mut().filter(|process| process.exited.is_none()) {
            eprintln!("node {} did not stop within {}s; killing it", process.node.id, STOP_DEADLINE.as_secs());
            let _ = process.child.kill();
            let _ = process.child.wait();
            process.exited = Some("killed".into());
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log_tail(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else { return String::new() };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(8)..];
    if tail.is_empty() {
        return String::new();
    }
    format!("; it ends with:\n  {}", tail.join("\n  "))
}

/// Waits until every node answers and names the same leader; returns the leader.
async fn wait_for_leader(nodes: &mut Nodes, devnet: &Devnet, context: &Context) -> Result<(String, u64)> {
    let urls: Vec<String> = devnet.nodes.iter().map(DevnetNode::url).collect();
    let connection = Connection::new(urls, context.transport()?);
    let deadline = Instant::now() + LEADER_DEADLINE;
    loop {
        nodes.check_alive()?;
        let statuses = super::status::statuses(&connection).await;
        let leader = &statuses[0].leader;
        if statuses.iter().all(|status| status.reachable && !status.leader.is_empty() && &status.leader == leader) {
            return Ok((leader.clone(), statuses.iter().map(|status| status.size).max().unwrap_or(0)));
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = statuses
                .iter()
                .map(|status| {
                    if status.reachable {
                        format!("{} sees leader '{}'", status.node, status.leader)
                    } else {
                        format!("{} unreachable", status.address)
                    }
                })
                .collect();
            bail!(
                "no leader that every node knows after {}s ({}); see the logs in {}",
                LEADER_DEADLINE.as_secs(),
                seen.join(", "),
                devnet.dir.join("logs").display()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits for a leader, plays the demo if asked; returns the leader.
async fn bring_up(nodes: &mut Nodes, devnet: &Devnet, demo: Option<&Scenario>, context: &Context) -> Result<String> {
    let (leader, size) = wait_for_leader(nodes, devnet, context).await?;
    let Some(demo) = demo else { return Ok(leader) };
    if size > 0 {
        println!("the ledger already holds {size} transactions: not playing the demo again");
        return Ok(leader);
    }
    super::play::play(context, demo).await?;
    // Leadership may have moved while the demo ran.
    Ok(wait_for_leader(nodes, devnet, context).await.map(|(leader, _)| leader).unwrap_or(leader))
}

impl Args {
    /// The devnet in --dir, or a new one; fails on busy ports before anything is written.
    fn layout(&self, insecure: bool) -> Result<Devnet> {
        let count = self.nodes.unwrap_or(DEFAULT_NODES) as usize;
        let base_port = self.base_port.unwrap_or(DEFAULT_BASE_PORT);
        let Some(devnet) = devnet::find(&self.dir)? else {
            let busy = devnet::busy_ports(&devnet::layout(&self.dir, count, base_port, insecure));
            if !busy.is_empty() {
                bail!(
                    "ports in use: {}; pass --base-port P with a free block (P..P+{} and P+{METRICS_PORT_OFFSET}..), or stop what uses them",
                    busy.join(", "),
                    count - 1
                );
            }
            return Ok(devnet::create(&self.dir, count, base_port, insecure)?);
        };
        if devnet.insecure != insecure {
            bail!(
                "{} holds {}; run it {} or choose another --dir",
                self.dir.display(),
                if devnet.insecure {
                    "a plain-text devnet (made with --insecure, or before nodes spoke TLS)"
                } else {
                    "a mutual-TLS devnet"
                },
                if devnet.insecure { "with --insecure" } else { "without --insecure" }
            );
        }
        if self.nodes.is_some() && devnet.nodes.len() != count {
            bail!(
                "{} already holds a devnet of {} nodes; run it with --nodes {} or choose another --dir",
                self.dir.display(),
                devnet.nodes.len(),
                devnet.nodes.len()
            );
        }
        if self.base_port.is_some_and(|port| port != devnet.base_port()) {
            bail!(
                "{} was created with --base-port {} and its data holds those addresses; use --base-port {} or another --dir",
                self.dir.display(),
                devnet.base_port(),
                devnet.base_port()
            );
        }
        let busy = devnet.busy_ports();
        if !busy.is_empty() {
            bail!(
                "ports in use: {}; this devnet's ports are fixed in its data: stop what uses them (another devnet?) or use another --dir",
                busy.join(", ")
            );
        }
        Ok(devnet)
    }

    pub async fn run(self, context: &Context) -> Result<()> {
        let demo = if self.demo { Some(demo_scenario().context("the built-in demo scenario is broken")?) } else { None };
        if self.demo && self.nodes.is_some_and(|nodes| nodes as usize != DEMO_NODES) {
            bail!("--demo plays a scenario written for {DEMO_NODES} insurers (zk, vgz, cz, menzis); run it with --nodes {DEMO_NODES}");
        }
        let devnet = self.layout(context.insecure)?;
        if self.demo && devnet.nodes.len() != DEMO_NODES {
            bail!("--demo plays a scenario written for {DEMO_NODES} insurers (zk, vgz, cz, menzis); run it with --nodes {DEMO_NODES}");
        }
        let ids: Vec<&str> = devnet.nodes.iter().map(|node| node.id.as_str()).collect();
        println!(
            "{} devnet in {}: {} insurer nodes ({}) from port {}; logs in {}",
            if devnet.created { "created a" } else { "reusing the" },
            devnet.dir.display(),
            devnet.nodes.len(),
            ids.join(", "),
            devnet.base_port(),
            devnet.dir.join("logs").display()
        );

        // Listening before the nodes start, so no signal between here and the end is lost.
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut nodes = Nodes::start(&devnet)?;
        let client_config = devnet.client_config();
        let context = Context::new(Some(client_config.clone()), None, None, None, false, devnet.insecure);
        let outcome = tokio::select! {
            leader = bring_up(&mut nodes, &devnet, demo.as_ref(), &context) => Some(leader),
            _ = interrupt.recv() => None,
            _ = terminate.recv() => None,
        };
        let Some(leader) = outcome else {
            println!("interrupted: stopping the nodes");
            nodes.stop();
            return Ok(());
        };
        let leader = leader?;
        println!("ready: {} nodes, leader {leader}, client config {}", devnet.nodes.len(), client_config.display());
        let _observer = if self.observer {
            let (process, at) = ObserverProcess::start(&devnet, &client_config)?;
            println!("observer: the regulator's live verification, status at {at}");
            Some(process)
        } else {
            None
        };
        println!("try: fairshare --config {} status    (Ctrl-C stops the devnet)", client_config.display());
        if demo.is_some() {
            println!(
                "then: every role goes on from the demo (intake is open): README.md, 'After the demo'; or 'fairshare --as zk dashboard'"
            );
        }

        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = tokio::time::sleep(POLL_INTERVAL) => {
                    for process in nodes.newly_exited() {
                        eprintln!(
                            "node {} exited ({}); see its log {}",
                            process.node.id,
                            process.exited.as_deref().unwrap_or("?"),
                            process.node.log.display()
                        );
                    }
                }
            }
        }
        println!("stopping the nodes");
        nodes.stop();
        println!("stopped");
        Ok(())
    }
}
