//! The harness for tests that run real `fairshare-node` processes: a temp dir with keys,
//! genesis and node configs, free loopback ports, children killed on drop, and waiting
//! with deadlines instead of sleeping.

pub mod chaos;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fairshare_api::v1::{ledger_client::LedgerClient, StatusRequest, StatusResponse, SubmitRequest, SubmitResponse};
use fairshare_protocol::genesis::node_signer;
use fairshare_protocol::pb;
use fairshare_protocol::testing::{genesis_file, test_key, INSURERS};

pub use chaos::proxy::Proxy;

/// Polls `probe` until it gives a value or `limit` passes.
pub fn wait_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50)); // a polling interval, not a guess
    }
}

/// Ports handed out by [`free_port`]: below Linux's ephemeral range (32768–60999).
const TEST_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A loopback port that was free a moment ago and that no other test of this process was
/// given. Taken below the ephemeral range on purpose: a port from `bind(0)` can be taken,
/// while its node is stopped for a restart, as the source port of some other test's
/// outgoing connection, and the restarted node then cannot listen.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let count = TEST_PORTS.end - TEST_PORTS.start;
    // Test binaries (and concurrent CI jobs) start at different places.
    let start = std::process::id().wrapping_mul(7_919) % count;
    for _ in 0..count {
        let offset = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = u16::try_from(TEST_PORTS.start + (start + offset) % count).expect("test ports fit in u16");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {TEST_PORTS:?}");
}

pub struct Node {
    pub id: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub address: String,
    /// Prometheus endpoint, "127.0.0.1:PORT".
    pub metrics: String,
    pub log: PathBuf,
    child: Option<Child>,
}

/// Four insurer nodes (cz, menzis, vgz, zk) of the test genesis in a temp dir.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub binary: PathBuf,
    pub nodes: BTreeMap<String, Node>,
    /// Plain text (`--insecure`): only to measure what TLS costs.
    pub insecure: bool,
    /// With [`Cluster::with_proxies`]: the proxy of every directed peer link, by (from, to).
    links: BTreeMap<(String, String), Proxy>,
    /// Data dirs mounted as a tmpfs of their own ([`Cluster::mount_data_dirs`]).
    mounts: Vec<PathBuf>,
    runtime: tokio::runtime::Runtime,
}

/// The size of a node's tmpfs data dir while its disk is not full: above the node's free
/// space floor (256 MiB), and only used as far as written.
const TMPFS_BYTES: u64 = 1 << 30;
/// What a full disk leaves free beyond what the data dir already uses.
const DISK_FULL_MARGIN_BYTES: u64 = 256 * 1024;

fn write_key(path: &Path, name: &str) {
    std::fs::write(path, hex::encode(test_key(name).to_bytes())).expect("write key");
}

impl Cluster {
    /// Writes keys, genesis and configs; starts nothing.
    pub fn new(binary: &Path) -> Cluster {
        Cluster::with_genesis(binary, genesis_file("1000000.00"))
    }

    /// The same cluster in plain text (`--insecure` on every node), to measure what mutual
    /// TLS costs.
    pub fn new_insecure(binary: &Path) -> Cluster {
        Cluster::build(binary, genesis_file("1000000.00"), true, None)
    }

    /// The same cluster with every peer link (node A dialling node B, for Raft, forwarding,
    /// probes and backfill) through a loopback [`Proxy`] of its own that the test controls
    /// ([`Cluster::partition`], [`Cluster::link`]); `seed` fixes the proxies' jitter. Clients
    /// (the `address` of each node) reach the nodes directly. Mutual TLS passes through the
    /// proxies untouched: peers are verified by key, not by address.
    ///
    /// Openraft dials the address in its membership, and each fresh node initialises the
    /// membership from its own config, so a node's Raft traffic to B goes through its own
    /// link to B. That holds until a node takes its membership from another node: a
    /// snapshot installed from the leader (at least `SNAPSHOT_LOGS_SINCE_LAST` entries in)
    /// or a membership change. After that, its traffic to B goes through the leader's link
    /// to B, and a partition cut link by link no longer isolates exactly what it says.
    pub fn with_proxies(binary: &Path, seed: u64) -> Cluster {
        Cluster::build(binary, genesis_file("1000000.00"), false, Some(seed))
    }

    pub fn with_genesis(binary: &Path, genesis: fairshare_protocol::genesis::GenesisFile) -> Cluster {
        Cluster::build(binary, genesis, false, None)
    }

    fn build(binary: &Path, genesis: fairshare_protocol::genesis::GenesisFile, insecure: bool, proxy_seed: Option<u64>) -> Cluster {
        let scheme = if insecure { "http" } else { "https" };
        let dir = tempfile::Builder::new().prefix("fairshare-cluster-").tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("keys")).expect("keys dir");
        std::fs::write(root.join("genesis.toml"), toml::to_string(&genesis).expect("genesis toml")).expect("write genesis");
        let ports: BTreeMap<&str, u16> = INSURERS.iter().map(|id| (*id, free_port())).collect();
        let metrics_ports: BTreeMap<&str, u16> = INSURERS.iter().map(|id| (*id, free_port())).collect();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let mut links = BTreeMap::new();
        if let Some(seed) = proxy_seed {
            for (number, (from, to)) in INSURERS.iter().flat_map(|from| INSURERS.iter().map(move |to| (*from, *to))).enumerate() {
                if from != to {
                    let target = std::net::SocketAddr::from(([127, 0, 0, 1], ports[to]));
                    let proxy = Proxy::start(runtime.handle(), Some(free_port()), target, seed.wrapping_add(number as u64))
                        .expect("start a link proxy");
                    links.insert((from.to_string(), to.to_string()), proxy);
                }
            }
        }
        let mut nodes = BTreeMap::new();
        for id in INSURERS {
            write_key(&root.join(format!("keys/{id}.node.key")), &node_signer(id));
            let peers: String = INSURERS
                .iter()
                .filter(|peer| **peer != id)
                .map(|peer| {
                    let port = links.get(&(id.to_string(), peer.to_string())).map_or(ports[peer], |proxy: &Proxy| proxy.address().port());
                    format!("[[peers]]\nid = \"{peer}\"\naddress = \"{scheme}://127.0.0.1:{port}\"\n")
                })
                .collect();
            let config = root.join(format!("{id}.toml"));
            std::fs::write(
                &config,
                format!(
                    "id = \"{id}\"\nkey_file = \"keys/{id}.node.key\"\ngenesis = \"genesis.toml\"\ndata_dir = \"data/{id}\"\nlisten = \"127.0.0.1:{}\"\nmetrics_listen = \"127.0.0.1:{}\"\n{peers}",
                    ports[id], metrics_ports[id]
                ),
            )
            .expect("write node config");
            nodes.insert(
                id.to_string(),
                Node {
                    id: id.to_string(),
                    config,
                    data_dir: root.join(format!("data/{id}")),
                    address: format!("{scheme}://127.0.0.1:{}", ports[id]),
                    metrics: format!("127.0.0.1:{}", metrics_ports[id]),
                    log: root.join(format!("{id}.log")),
                    child: None,
                },
            );
        }
        Cluster { dir, binary: binary.to_path_buf(), nodes, insecure, links, mounts: Vec::new(), runtime }
    }

    pub fn start(&mut self, id: &str) {
        let node = self.nodes.get_mut(id).expect("known node");
        assert!(node.child.is_none(), "{id} already runs");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log).expect("log file");
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&node.config)
            .args(self.insecure.then_some("--insecure"))
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start fairshare-node");
        node.child = Some(child);
    }

    pub fn start_all(&mut self) {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for id in ids {
            self.start(&id);
        }
    }

    /// kill -9: no chance to flush anything.
    pub fn kill(&mut self, id: &str) {
        if let Some(mut child) = self.nodes.get_mut(id).expect("known node").child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, id: &str) -> std::process::ExitStatus {
        let mut child = self.nodes.get_mut(id).expect("known node").child.take().expect("node runs");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        wait_until(&format!("{id} to stop"), Duration::from_secs(20), || child.try_wait().ok().flatten())
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self, id: &str) -> Option<std::process::ExitStatus> {
        self.nodes.get_mut(id).expect("known node").child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// SIGSTOP to a node's process (it keeps its sockets, answers nothing): a node that
    /// lags. `resume` sends SIGCONT.
    pub fn pause(&self, id: &str) {
        self.signal(id, libc::SIGSTOP);
    }

    pub fn resume(&self, id: &str) {
        self.signal(id, libc::SIGCONT);
    }

    fn signal(&self, id: &str, signal: libc::c_int) {
        let child = self.nodes[id].child.as_ref().unwrap_or_else(|| panic!("{id} is not running"));
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        let done = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(done, 0, "signal {signal} to {id}");
    }

    /// The proxy of the link on which `from` dials `to` (only with [`Cluster::with_proxies`]).
    pub fn link(&self, from: &str, to: &str) -> &Proxy {
        self.links
            .get(&(from.to_string(), to.to_string()))
            .unwrap_or_else(|| panic!("no proxy from {from} to {to}: build the cluster with_proxies"))
    }

    /// Cuts every link between nodes of different groups, both ways, and heals every link
    /// inside a group (clearing its loss and delay too). Nodes in no group are cut from all.
    /// `partition(&[&["cz"], &["menzis", "vgz", "zk"]])` isolates cz; `&[&["cz", "menzis"],
    /// &["vgz", "zk"]]` splits 2/2.
    pub fn partition(&self, groups: &[&[&str]]) {
        assert!(!self.links.is_empty(), "partitions need a cluster built with_proxies");
        let group_of = |id: &str| groups.iter().position(|group| group.contains(&id));
        for ((from, to), proxy) in &self.links {
            match (group_of(from), group_of(to)) {
                (Some(a), Some(b)) if a == b => proxy.heal(),
                _ => proxy.cut(),
            }
        }
    }

    /// Waits until every cut link has closed its connections, so nothing sent before the
    /// cut is still on its way through it.
    pub fn wait_for_cuts(&self, limit: Duration) {
        wait_until("cut links to close their connections", limit, || {
            self.links.values().filter(|proxy| proxy.is_cut()).all(|proxy| proxy.open_connections() == 0).then_some(())
        });
    }

    /// Cuts `id` off from every other node, both ways; the others stay connected.
    pub fn isolate(&self, id: &str) {
        let others: Vec<&str> = self.nodes.keys().map(String::as_str).filter(|other| *other != id).collect();
        self.partition(&[&[id], &others]);
    }

    /// Heals every link: no cut, loss or delay anywhere.
    pub fn heal_all(&self) {
        for proxy in self.links.values() {
            proxy.heal();
        }
    }

    /// Mounts each node's data dir as a tmpfs of its own (before the nodes start), so a
    /// test can fill one node's disk ([`Cluster::fill_disk`]). Needs the right to mount
    /// (root); `Err` says why not, and nothing is mounted then.
    pub fn mount_data_dirs(&mut self) -> Result<(), String> {
        let dirs: Vec<PathBuf> = self.nodes.values().map(|node| node.data_dir.clone()).collect();
        for dir in dirs {
            std::fs::create_dir_all(&dir).map_err(|error| format!("create {}: {error}", dir.display()))?;
            let size = format!("size={TMPFS_BYTES}");
            if let Err(error) = run("mount", &["-t", "tmpfs", "-o", &size, "tmpfs", &dir.to_string_lossy()]) {
                self.unmount_all();
                return Err(error);
            }
            self.mounts.push(dir);
        }
        Ok(())
    }

    /// Shrinks `id`'s tmpfs to what it uses plus a few pages: its next writes fail with
    /// ENOSPC. `false` when its data dir is no tmpfs of ours.
    pub fn fill_disk(&self, id: &str) -> bool {
        let dir = &self.nodes[id].data_dir;
        if !self.mounts.contains(dir) {
            return false;
        }
        let used = used_bytes(dir).unwrap_or_else(|error| panic!("free space of {}: {error}", dir.display()));
        let size = format!("remount,size={}", (used + DISK_FULL_MARGIN_BYTES).div_ceil(4096) * 4096);
        run("mount", &["-o", &size, &dir.to_string_lossy()]).unwrap_or_else(|error| panic!("fill the disk of {id}: {error}"));
        true
    }

    /// Grows `id`'s tmpfs back: the disk is no longer full.
    pub fn free_disk(&self, id: &str) {
        let dir = &self.nodes[id].data_dir;
        if self.mounts.contains(dir) {
            let size = format!("remount,size={TMPFS_BYTES}");
            run("mount", &["-o", &size, &dir.to_string_lossy()]).unwrap_or_else(|error| panic!("free the disk of {id}: {error}"));
        }
    }

    /// Deletes everything in `id`'s data dir (the dir itself stays: it may be a mount point).
    pub fn wipe(&self, id: &str) {
        let dir = &self.nodes[id].data_dir;
        for entry in std::fs::read_dir(dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display())) {
            let path = entry.expect("a dir entry").path();
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.unwrap_or_else(|error| panic!("wipe {}: {error}", path.display()));
        }
    }

    /// Starts `id` again if its process has exited (say, on a full disk); returns how it
    /// exited.
    pub fn restart_if_exited(&mut self, id: &str) -> Option<std::process::ExitStatus> {
        let exited = self.exited(id)?;
        self.nodes.get_mut(id).expect("known node").child = None;
        self.start(id);
        Some(exited)
    }

    /// Whether `id`'s process runs (started and not exited).
    pub fn is_running(&mut self, id: &str) -> bool {
        self.nodes[id].child.is_some() && self.exited(id).is_none()
    }

    /// The README's replacement of a node that lost its data dir: start it empty, wait
    /// until it awaits readmission, then through the leader remove it, add it as a learner
    /// and promote it, each step retried while leadership settles, within `limit`. As an
    /// operator would, it starts over from `remove` when `add-learner` finds the node still
    /// a voter (a removal whose second, joint-consensus step a leader change interrupted).
    /// `address` is where the others reach it (with proxies: a link's address). Returns how
    /// many times it had to start over.
    pub fn replace(&mut self, id: &str, address: &str, limit: Duration) -> u32 {
        self.start(id);
        wait_until(&format!("{id} to await readmission"), limit, || self.status(id).ok().filter(|status| status.awaiting_readmission));
        let others: Vec<String> = self.nodes.keys().filter(|other| *other != id).cloned().collect();
        let deadline = Instant::now() + limit;
        let mut step = 0;
        let mut restarts = 0;
        let mut last = String::new();
        let steps = [vec!["remove", id], vec!["add-learner", id, address], vec!["promote", id]];
        while step < steps.len() {
            assert!(Instant::now() < deadline, "waited {limit:?} to replace {id}, at admin {:?}; the last answer: {last}", steps[step]);
            let leader =
                others.iter().find_map(|other| self.status(other).ok().map(|status| status.leader).filter(|leader| !leader.is_empty()));
            if let Some(leader) = leader {
                let output = self.admin(&leader, id, &steps[step]);
                last = String::from_utf8_lossy(&output.stderr).trim().to_string();
                if output.status.success() || step == 0 && last.contains("is not a voter") {
                    step += 1;
                    continue;
                }
                if step == 1 && last.contains("is still a voter") {
                    restarts += 1;
                    step = 0;
                }
            }
            std::thread::sleep(Duration::from_millis(200)); // a polling interval, not a guess
        }
        restarts
    }

    fn unmount_all(&mut self) {
        for dir in self.mounts.drain(..) {
            // Lazy: a node that is still being reaped cannot keep the mount busy.
            let _ = run("umount", &["-l", &dir.to_string_lossy()]);
        }
    }

    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(&self.nodes[id].log).unwrap_or_default()
    }

    /// `fairshare-node admin …` against `leader`, as the operator of node `operator` (its node
    /// config: the node key is the operator certificate).
    pub fn admin(&self, leader: &str, operator: &str, arguments: &[&str]) -> std::process::Output {
        Command::new(&self.binary)
            .arg("admin")
            .args(arguments)
            .arg("--node")
            .arg(&self.nodes[leader].address)
            .arg("--config")
            .arg(&self.nodes[operator].config)
            .output()
            .expect("run fairshare-node admin")
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn client(&self, id: &str) -> Result<LedgerClient<tonic::transport::Channel>, tonic::Status> {
        let address = self.nodes[id].address.clone();
        self.block_on(async move { connect(address).await })
    }

    pub fn status(&self, id: &str) -> Result<StatusResponse, tonic::Status> {
        let mut client = self.client(id)?;
        self.block_on(async move { client.status(StatusRequest {}).await.map(|reply| reply.into_inner()) })
    }

    pub fn submit(&self, id: &str, envelope: pb::Envelope) -> Result<SubmitResponse, tonic::Status> {
        let mut client = self.client(id)?;
        self.block_on(async move { client.submit(SubmitRequest { envelope: Some(envelope) }).await.map(|reply| reply.into_inner()) })
    }

    /// Waits until the given nodes agree on a leader; returns it.
    pub fn wait_for_leader(&self, among: &[&str], limit: Duration) -> String {
        wait_until("a leader that every running node knows", limit, || {
            let leaders: Vec<String> = among.iter().filter_map(|id| self.status(id).ok()).map(|status| status.leader).collect();
            (leaders.len() == among.len() && !leaders[0].is_empty() && leaders.iter().all(|leader| *leader == leaders[0]))
                .then(|| leaders[0].clone())
        })
    }

    /// Waits until the given nodes report the same size, root and state digest; returns size.
    pub fn wait_for_agreement(&self, among: &[&str], at_least: u64, limit: Duration) -> StatusResponse {
        wait_until("nodes to agree on size, root and digest", limit, || {
            let statuses: Vec<StatusResponse> = among.iter().filter_map(|id| self.status(id).ok()).collect();
            let first = statuses.first()?;
            let agree = statuses.len() == among.len()
                && first.size >= at_least
                && statuses
                    .iter()
                    .all(|status| status.size == first.size && status.root == first.root && status.state_digest == first.state_digest);
            agree.then(|| first.clone())
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Before the temp dir goes: it cannot delete a mount point.
        self.unmount_all();
    }
}

/// Runs a command; `Err` with its stderr when it fails.
fn run(program: &str, arguments: &[&str]) -> Result<(), String> {
    let output = Command::new(program).args(arguments).output().map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}", arguments.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Bytes used on the file system holding `dir`.
fn used_bytes(dir: &Path) -> std::io::Result<u64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: statvfs(3) on a NUL-terminated path into a zeroed struct it fills.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((stats.f_blocks - stats.f_bfree) as u64 * stats.f_frsize as u64)
}

/// Signs transactions with the test keys, with fresh nonces.
pub struct Signer {
    genesis_ledger_id: String,
    nonce: u64,
}

impl Signer {
    pub fn new(ledger_id: &str, first_nonce: u64) -> Signer {
        Signer { genesis_ledger_id: ledger_id.to_string(), nonce: first_nonce }
    }

    pub fn sign(&mut self, signer: &str, kind: pb::transaction::Kind) -> pb::Envelope {
        self.nonce += 1;
        let body = pb::Transaction { ledger_id: self.genesis_ledger_id.clone(), nonce: self.nonce, kind: Some(kind) };
        fairshare_protocol::envelope::seal(&body, signer, &test_key(signer))
    }

    /// A party registration by `insurer`: a cheap, always-valid transaction.
    pub fn party(&mut self, insurer: &str, number: u32) -> pb::Envelope {
        self.sign(
            insurer,
            pb::transaction::Kind::PartyRegistered(pb::PartyRegistered {
                party: format!("agb:{number:08}"),
                kind: pb::PartyKind::Provider as i32,
                name: format!("Provider {number}"),
                iban: String::new(),
            }),
        )
    }
}

/// How the harness reaches the nodes: mutual TLS as the test regulator (`nza`), accepting
/// the test genesis' node keys.
pub fn transport() -> fairshare_api::Transport {
    static TRANSPORT: std::sync::OnceLock<fairshare_api::Transport> = std::sync::OnceLock::new();
    TRANSPORT.get_or_init(|| transport_as(&test_key("nza"))).clone()
}

/// Mutual TLS to the test genesis' nodes, presenting `key`'s certificate.
pub fn transport_as(key: &ed25519_dalek::SigningKey) -> fairshare_api::Transport {
    let nodes = INSURERS.iter().map(|id| (test_key(&node_signer(id)).verifying_key().to_bytes(), format!("node {id}")));
    let identity = fairshare_api::tls::Identity::new(key).expect("a TLS identity for a test key");
    fairshare_api::Transport::tls(&identity, fairshare_api::tls::Trust::new(nodes)).expect("TLS config")
}

/// A client of one node: half a second to connect, 20 s per call. The channel is built by
/// `fairshare_api::connect`, as every client's is.
pub async fn connect(address: String) -> Result<LedgerClient<tonic::transport::Channel>, tonic::Status> {
    let deadlines = fairshare_api::Deadlines::new(Duration::from_millis(500), Some(Duration::from_secs(20)));
    // A plain-text cluster (`Cluster::new_insecure`) has http:// addresses.
    let transport = if address.starts_with("http://") { fairshare_api::Transport::Insecure } else { transport() };
    fairshare_api::connect(&address, deadlines, &transport).await.map_err(|error| match error {
        fairshare_api::ConnectError::NotAUrl { .. } => tonic::Status::invalid_argument(error.to_string()),
        _ => tonic::Status::unavailable(error.to_string()),
    })
}

/// Submits one envelope to a node by address, from any thread (own small runtime).
pub fn submit_to(address: &str, envelope: pb::Envelope) -> Result<SubmitResponse, tonic::Status> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let address = address.to_string();
    runtime.block_on(async move {
        connect(address).await?.submit(SubmitRequest { envelope: Some(envelope) }).await.map(|reply| reply.into_inner())
    })
}

/// Reads the Prometheus text of a node.
pub fn scrape(address: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// The transactions of a small plan, from parties to an approved, funded plan with two
/// milestones ("m1", "m2") of 1000.00 each over one line; ready for attainment.
pub fn approved_plan(signer: &mut Signer, plan: &str) -> Vec<pb::Envelope> {
    use pb::transaction::Kind;
    let line = |amount_micros: i64| pb::MilestoneLine {
        beneficiary: "agb:10000001".into(),
        payee: String::new(),
        sector: "msz".into(),
        amount_micros,
    };
    let milestone = |id: &str, due: &str| pb::Milestone {
        id: id.into(),
        title: format!("milestone {id}"),
        kind: pb::MilestoneKind::Effort as i32,
        due: due.into(),
        lines: vec![line(1_000_000_000)],
    };
    vec![
        signer.sign(
            "zk",
            Kind::PartyRegistered(pb::PartyRegistered {
                party: "agb:10000001".into(),
                kind: pb::PartyKind::Provider as i32,
                name: "Ziekenhuis".into(),
                iban: String::new(),
            }),
        ),
        signer.sign(
            "zk",
            Kind::QuickTestSubmitted(pb::QuickTestSubmitted {
                plan: plan.into(),
                title: "Acute care".into(),
                region: "Noord".into(),
                theme: "acute-care".into(),
                coordinating_insurer: "zk".into(),
                second_assessor: "vgz".into(),
                estimated_total_micros: 0,
            }),
        ),
        signer.sign(
            "vgz",
            Kind::QuickTestDecided(pb::QuickTestDecided {
                plan: plan.into(),
                outcome: pb::QuickTestOutcome::Passed as i32,
                note: String::new(),
            }),
        ),
        signer.sign(
            "zk",
            Kind::PlanSubmitted(pb::PlanSubmitted {
                plan: plan.into(),
                version: 1,
                title: "Acute care".into(),
                region: "Noord".into(),
                theme: "acute-care".into(),
                coordinating_insurer: "zk".into(),
                second_assessor: "vgz".into(),
                start: "2025-01-01".into(),
                milestones: vec![milestone("m1", "2025-03-31"), milestone("m2", "2025-06-30")],
                evidence_sha256: vec![],
            }),
        ),
        signer.sign(
            "zk",
            Kind::PlanAssessed(pb::PlanAssessed {
                plan: plan.into(),
                version: 1,
                addendum: String::new(),
                assessment: pb::Assessment::Approve as i32,
                note: String::new(),
            }),
        ),
        signer.sign(
            "vgz",
            Kind::PlanAssessed(pb::PlanAssessed {
                plan: plan.into(),
                version: 1,
                addendum: String::new(),
                assessment: pb::Assessment::Approve as i32,
                note: String::new(),
            }),
        ),
    ]
}

/// Attainment by the coordinating insurer and confirmation by the second assessor.
pub fn attain_and_confirm(signer: &mut Signer, plan: &str, milestone: &str) -> Vec<pb::Envelope> {
    use pb::transaction::Kind;
    vec![
        signer.sign(
            "zk",
            Kind::MilestoneAttained(pb::MilestoneAttained {
                plan: plan.into(),
                milestone: milestone.into(),
                attained_on: "2025-03-15".into(),
                payout_fraction: String::new(),
                payable_micros: 0,
                evidence_sha256: vec![],
                note: String::new(),
            }),
        ),
        signer.sign(
            "vgz",
            Kind::MilestoneConfirmed(pb::MilestoneConfirmed {
                plan: plan.into(),
                milestone: milestone.into(),
                note: String::new(),
                confirmed_on: "2025-03-15".into(),
            }),
        ),
    ]
}

/// A payment record by `insurer` settling `micros` on one of its obligations.
pub fn payment(signer: &mut Signer, insurer: &str, payment: &str, obligation: &str, micros: i64) -> pb::Envelope {
    signer.sign(
        insurer,
        pb::transaction::Kind::PaymentRecorded(pb::PaymentRecorded {
            payment: payment.into(),
            settlements: vec![pb::Settlement { obligation: obligation.into(), amount_micros: micros }],
            value_date: "2025-04-01".into(),
            bank_reference: String::new(),
        }),
    )
}

/// The reversal of a payment record by its author.
pub fn reversal(signer: &mut Signer, insurer: &str, payment: &str) -> pb::Envelope {
    signer.sign(
        insurer,
        pb::transaction::Kind::PaymentReversed(pb::PaymentReversed { payment: payment.into(), reason: "the transfer bounced".into() }),
    )
}
