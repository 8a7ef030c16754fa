//! Wiring one node: config → genesis checks → sled → openraft → gRPC, checkpoint signer,
//! peer probes, metrics; and a graceful stop that loses nothing acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use fairshare_protocol::envelope::seal;
use fairshare_protocol::genesis::node_signer;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::MESSAGE_BYTES_MAX;
use openraft::BasicNode;
use tonic::Status;

use crate::config::{check_data_dir, Loaded};
use crate::health::Health;
use crate::ledger_cell::LedgerCell;
use crate::limits::{limit_connections, ConnectionLimiter};
use crate::metrics::Metrics;
use crate::misbehaviour::Misbehaviour;
use crate::raft::log_store::LogStore;
use crate::raft::network::{Network, RaftService};
use crate::raft::snapshot_check::SnapshotCheck;
use crate::raft::state_machine::{snapshot_certified_copies, StateMachine};
use crate::raft::{insurer_of, node_id, raft_config, NodeId, Raft};
use crate::service::{AdminService, LedgerService};
use crate::shared::Shared;
use crate::submit::Submitter;
use crate::transport::{Admit, Security};
use fairshare_api::v1::{StatusRequest, StatusResponse};
use fairshare_api::Transport;
use tonic::service::interceptor::InterceptedService;

/// Marks a data dir that was started empty inside an existing ledger: the node takes
/// no part in Raft (no vote, no election, no replication) until it is re-added.
const REPLACEMENT_MARKER: &str = "AWAITING_READMISSION";
/// How often peers are probed for the status' reachability column.
const PEER_PROBE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Handles {
    pub shared: Arc<Shared>,
    pub server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    /// The history backfill (`crate::backfill`), stopped before Raft.
    pub backfill: crate::backfill::Running,
}

/// How long a stop waits for the history backfill to reach a safe point.
const BACKFILL_STOP_MAX: Duration = Duration::from_secs(5);

pub async fn probe(address: &str, timeout: Duration, transport: &Transport) -> Result<StatusResponse, Status> {
    let mut client = fairshare_api::connect(address, fairshare_api::Deadlines::new(timeout, Some(timeout)), transport)
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    Ok(client.status(StatusRequest {}).await?.into_inner())
}

/// Starts the node and returns once it serves gRPC.
pub async fn start(loaded: Loaded) -> Result<Handles> {
    let Loaded { config, genesis, node_key, data_dir, insecure } = loaded;
    let security = if insecure {
        tracing::warn!("--insecure: plain text, no authentication; anyone who reaches this port can read the ledger and speak Raft");
        Security::insecure()
    } else {
        Security::tls(&genesis, &node_key).context("cannot set up TLS with the node key")?
    };
    let scheme = security.client.scheme();
    for (index, peer) in config.peers.iter().enumerate() {
        if !peer.address.starts_with(&format!("{scheme}://")) {
            bail!(
                "peers[{index}].address '{}': this node speaks {}, so peers are {scheme}:// URLs{}",
                fairshare_protocol::ids::echo(&peer.address),
                if insecure { "plain text (--insecure)" } else { "mutual TLS" },
                if insecure { "" } else { " (plain http only with --insecure on every node)" }
            );
        }
    }
    let fresh = check_data_dir(&data_dir, &genesis)?;
    let me = node_id(&genesis, &config.id).ok_or_else(|| anyhow::anyhow!("'{}' is not an insurer of genesis", config.id))?;

    // Peers must hold the same genesis; a fresh node that peers already know lost its disk.
    let mut answers = Vec::new();
    for peer in &config.peers {
        match probe(&peer.address, Duration::from_millis(800), &security.client).await {
            Ok(status) => {
                if status.genesis_hash != genesis.hash() {
                    bail!(
                        "genesis mismatch: peer {} at {} runs genesis {} (ledger '{}'), but this node's genesis is {} (ledger '{}'); start every node with the same genesis file",
                        peer.id,
                        peer.address,
                        hex::encode(&status.genesis_hash),
                        status.ledger_id,
                        hex::encode(genesis.hash()),
                        genesis.ledger_id
                    );
                }
                answers.push(status);
            }
            Err(status) => tracing::info!(peer = %peer.id, address = %peer.address, "peer not reachable at start: {}", status.message()),
        }
    }
    let decided = if config.peers.is_empty() { Some(Standing::New) } else { standing(&answers, &config.id) };
    let marker = data_dir.join(REPLACEMENT_MARKER);
    if fresh && decided == Some(Standing::Known) {
        std::fs::write(&marker, "started on an empty data dir inside an existing ledger\n")
            .context("cannot write the replacement marker")?;
        tracing::warn!(
            "this node's data dir is empty but the ledger knows it: it takes no part in Raft until re-added (README, 'Replacing a node')"
        );
    }
    // A fresh node that cannot tell yet whether the ledger knows it (no peer answered, or
    // only followers that never spoke Raft to it) takes no part in Raft until it can
    // (`decide_when_peers_answer`): started on a wiped data dir while its peers were slow or
    // cut off, it would otherwise be a voter with no log and no memory of its votes. Found
    // by the chaos suite (seed 1008, wipe-and-replace).
    let undecided = fresh && decided.is_none();
    if undecided {
        tracing::warn!(
            "this node's data dir is empty and its peers have not said yet whether they know it: it takes no part in Raft until they do"
        );
    }
    let awaiting = marker.exists() || undecided;

    // sled panics on some damaged files: one line naming the data dir instead (health.rs).
    let (db, log_store, state_machine, applied, participants) = crate::health::open_data_dir(&data_dir, || {
        let db = sled::open(data_dir.join("sled")).context("cannot open the database")?;
        crate::health::check_not_emptied(&db, fresh)?;
        let log_store = LogStore::open(db.clone()).context("cannot open the Raft log")?;
        let (state_machine, applied) = StateMachine::open(db.clone(), genesis.clone()).context("cannot open the state machine")?;
        let participants = crate::raft::network::load_participants(&db);
        Ok((db, log_store, state_machine, applied, participants))
    })?;
    let ledger: Arc<LedgerCell> = state_machine.ledger();
    let certified_copies = state_machine.certified_copies();
    let participants = Arc::new(Mutex::new(participants));
    let misbehaviour = Arc::new(Misbehaviour::default());
    let term = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let transports = {
        let (security, genesis) = (security.clone(), genesis.clone());
        Arc::new(move |target: NodeId| {
            let member = insurer_of(&genesis, target).and_then(|insurer| genesis.insurers.iter().find(|member| member.id == insurer));
            let key = member.and_then(|member| member.node_key).map(|key| key.to_bytes());
            security.transport_to(key, &format!("node {}", member.map_or("?", |member| member.id.as_str())))
        })
    };
    let network = Network::new(participants.clone(), db.clone(), transports, term.clone(), misbehaviour.clone());
    let raft = Raft::new(me, Arc::new(raft_config()), network, log_store, state_machine)
        .await
        .map_err(|error| crate::health::damaged(&data_dir, &format!("cannot start Raft: {error}")))?;
    tokio::spawn(crate::raft::network::watch_term(raft.clone(), term));

    let listen_url = format!("{scheme}://{}", config.listen);
    let mut members = BTreeMap::new();
    members.insert(me, BasicNode { addr: listen_url.clone() });
    for peer in &config.peers {
        members.insert(node_id(&genesis, &peer.id).expect("config checked peers"), BasicNode { addr: peer.address.clone() });
    }
    if fresh && !awaiting {
        initialize(&raft, members.clone()).await;
    }

    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(&data_dir, &config.limits));
    let submitter = Submitter::start(raft.clone(), security.client.clone(), ledger.clone(), metrics.clone(), health.clone());
    let peers = config.peers.iter().map(|peer| (peer.id.clone(), (peer.address.clone(), false))).collect();
    let votes_allowed = Arc::new(AtomicBool::new(!awaiting));
    let shared = Arc::new(Shared {
        insurer: config.id.clone(),
        raft: raft.clone(),
        ledger: ledger.clone(),
        applied: applied.clone(),
        submitter,
        db: db.clone(),
        peers: Mutex::new(peers),
        signing_halted: AtomicBool::new(false),
        participants,
        raft_allowed: votes_allowed.clone(),
        replacement_marker: marker,
        security: security.clone(),
        misbehaviour: misbehaviour.clone(),
        health: health.clone(),
        node_key: node_key.clone(),
    });

    if undecided {
        let peers = config.peers.iter().map(|peer| peer.address.clone()).collect();
        tokio::spawn(decide_when_peers_answer(shared.clone(), members, peers));
    }
    tokio::spawn(snapshot_certified_copies(raft.clone(), certified_copies));
    tokio::spawn(probe_peers(shared.clone(), metrics.clone()));
    tokio::spawn(sign_checkpoints(shared.clone(), node_key, metrics.clone()));
    let backfill =
        crate::backfill::Backfill::start(&shared, genesis.clone(), metrics.clone()).context("cannot start the history backfill")?;
    if let Some(address) = &config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen for metrics on {address}"))?;
        tokio::spawn(crate::metrics::serve(listener, metrics.clone(), raft.clone(), ledger.clone()));
    }

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<fairshare_api::v1::ledger_server::LedgerServer<LedgerService>>().await;
    tokio::spawn(crate::health::watch_raft(raft.clone(), health, health_reporter.clone()));
    // Reflection in both versions of its protocol: grpcurl and current tools speak v1,
    // stock Python clients (grpcio-reflection) still v1alpha. The same descriptors serve both.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fairshare_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(crate::raft_transport::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("cannot build the reflection service (v1)")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("cannot build the reflection service (v1alpha)")?;
    // Health answers anyone; every other service only genesis identities (crate::transport).
    let identities = security.access(Admit::AnyIdentity);
    let reflection_v1 = InterceptedService::new(reflection_v1, identities.clone());
    let reflection_v1alpha = InterceptedService::new(reflection_v1alpha, identities.clone());
    let ledger_service = fairshare_api::v1::ledger_server::LedgerServer::new(LedgerService { shared: shared.clone() })
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX);
    let readers: crate::transport::Readers = {
        let ledger = ledger.clone();
        Arc::new(move |key: &[u8; 32]| ledger.view().state().readers.get(&hex::encode(key)).cloned())
    };
    let ledger_service = InterceptedService::new(ledger_service, security.access(Admit::IdentitiesAndReaders).with_readers(readers));
    let admin_service =
        InterceptedService::new(fairshare_api::v1::admin_server::AdminServer::new(AdminService { shared: shared.clone() }), identities);
    let snapshot_check = SnapshotCheck::new(genesis.clone(), ledger.clone(), metrics.snapshot_refusals.clone(), misbehaviour.clone());
    let raft_service = RaftService::new(raft.clone(), votes_allowed, genesis.clone(), misbehaviour, snapshot_check).into_server();
    let raft_service = InterceptedService::new(raft_service, security.access(Admit::Nodes));
    let connection_limiter = ConnectionLimiter::new(config.limits.clone(), metrics.clone());
    let listener = tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        crate::limits::server(&config.limits)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ledger_service)
            .add_service(admin_service)
            .add_service(raft_service)
            .serve_with_incoming_shutdown(
                crate::transport::incoming(
                    limit_connections(crate::transport::accepted(listener), connection_limiter),
                    security.server.clone(),
                ),
                async {
                    let _ = stop.await;
                },
            ),
    );
    let transport = if insecure { "INSECURE plain text" } else { "mutual TLS" };
    tracing::info!(node = %config.id, listen = %config.listen, ledger = %genesis.ledger_id, transport, "fairshare-node serving");
    Ok(Handles { shared, server, shutdown, backfill })
}

/// Stops gRPC, then the history backfill, then Raft, then syncs the database: nothing
/// acknowledged is lost.
pub async fn stop(handles: Handles) -> Result<()> {
    handles.shared.health.stopping();
    let _ = handles.shutdown.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), handles.server).await;
    handles.backfill.stop(BACKFILL_STOP_MAX).await;
    if let Err(error) = handles.shared.raft.shutdown().await {
        tracing::warn!("raft shutdown: {error}");
    }
    let db = handles.shared.db.clone();
    tokio::task::spawn_blocking(move || crate::raft::log_store::sync(&db)).await.context("sync task")??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Serves until `stop_requested` resolves (a signal), then stops cleanly; or, if Raft
/// stops on a fatal error first, keeps answering `status` for `limits.exit_grace_secs` and
/// returns the error, so that the process exits non-zero and a supervisor restarts it.
pub async fn run_until(handles: Handles, stop_requested: impl std::future::Future<Output = ()>) -> Result<()> {
    let health = handles.shared.health.clone();
    tokio::select! {
        () = stop_requested => stop(handles).await,
        reason = health.wait_raft_stopped() => {
            tokio::time::sleep(health.exit_grace).await;
            if let Err(error) = stop(handles).await {
                tracing::warn!("stopping after Raft stopped: {error:#}");
            }
            bail!("Raft stopped ({reason}); see the log above for the cause, then restart the node (a damaged data dir: README, 'Replacing a node')")
        }
    }
}

async fn initialize(raft: &Raft, members: BTreeMap<NodeId, BasicNode>) {
    if let Err(error) = raft.initialize(members).await {
        tracing::info!("not initialising the cluster: {error}");
    }
}

/// What a fresh node learns from its peers' status: whether the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// A peer heard it speak Raft: its data dir was lost; it waits to be re-added.
    Known,
    /// A new ledger (no peer has a log or a leader yet), or the leader itself never heard
    /// from it (it never took part): it takes part.
    New,
}

/// Decides from the peers that answered; `None` while they cannot tell. A follower only
/// hears from the leader and candidates, so a follower that does not know this node
/// proves nothing: only the leader's word, or a ledger with no log yet, says "new".
fn standing(answers: &[StatusResponse], me: &str) -> Option<Standing> {
    if answers.iter().any(|status| status.participants.iter().any(|participant| participant == me)) {
        return Some(Standing::Known);
    }
    let leader_answered = answers.iter().any(|status| !status.leader.is_empty() && status.leader == status.node);
    let nothing_yet = !answers.is_empty() && answers.iter().all(|status| status.size == 0 && status.leader.is_empty());
    (leader_answered || nothing_yet).then_some(Standing::New)
}

/// For a fresh node whose peers could not tell at start whether the ledger knows it: asks
/// them all again every 500 ms until [`standing`] decides. Known: the replacement marker is
/// written and the node waits to be re-added (README, 'Replacing a node'). New: it
/// initialises the cluster with the others and takes part in Raft.
async fn decide_when_peers_answer(shared: Arc<Shared>, members: BTreeMap<NodeId, BasicNode>, peers: Vec<String>) {
    let genesis_hash = shared.ledger.view().genesis().hash();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await; // between rounds of asking, not a guess
        let mut answers = Vec::new();
        for address in &peers {
            let Ok(status) = probe(address, Duration::from_secs(2), &shared.security.client).await else { continue };
            if status.genesis_hash != genesis_hash {
                tracing::error!(address, "peer runs another genesis (ledger '{}'); not deciding on its word", status.ledger_id);
                continue;
            }
            answers.push(status);
        }
        match standing(&answers, &shared.insurer) {
            None => continue,
            Some(Standing::Known) => {
                if let Err(error) = std::fs::write(&shared.replacement_marker, "started on an empty data dir inside an existing ledger\n") {
                    tracing::error!("cannot write the replacement marker: {error}");
                }
                tracing::warn!(
                    "this node's data dir is empty but the ledger knows it: it takes no part in Raft until re-added (README, 'Replacing a node')"
                );
            }
            Some(Standing::New) => {
                initialize(&shared.raft, members).await;
                shared.raft_allowed.store(true, Ordering::SeqCst);
                tracing::info!("the peers do not know this node: a new ledger, or one it never took part in; taking part in Raft");
            }
        }
        return;
    }
}

pub fn clear_replacement(shared: &Shared) -> Result<(), Status> {
    if shared.replacement_marker.exists() {
        std::fs::remove_file(&shared.replacement_marker)
            .map_err(|error| Status::internal(format!("cannot remove the replacement marker: {error}")))?;
    }
    shared.raft_allowed.store(true, Ordering::SeqCst);
    tracing::info!("re-admitted: taking part in Raft again");
    Ok(())
}

async fn probe_peers(shared: Arc<Shared>, metrics: Arc<Metrics>) {
    loop {
        let peers: Vec<(String, String)> =
            shared.peers.lock().expect("peers lock").iter().map(|(id, (address, _))| (id.clone(), address.clone())).collect();
        // Probe all peers at once, so one that hangs does not delay the others' rows.
        let probes: Vec<_> = peers
            .into_iter()
            .map(|(id, address)| {
                let transport = shared.security.client.clone();
                tokio::spawn(async move { (id, probe(&address, Duration::from_millis(500), &transport).await.is_ok()) })
            })
            .collect();
        let mut up = 0;
        for probe in probes {
            let Ok((id, reachable)) = probe.await else { continue };
            up += u64::from(reachable);
            if let Some(entry) = shared.peers.lock().expect("peers lock").get_mut(&id) {
                // Said once per change (openraft's own ERROR lines about it are filtered
                // out: crate::logging): a peer that is down is expected while a cluster
                // starts or a node restarts, so WARN, not ERROR.
                match (entry.1, reachable) {
                    (true, false) => tracing::warn!(peer = %id, address = %entry.0, "peer not reachable; Raft retries it with backoff"),
                    (false, true) => tracing::info!(peer = %id, address = %entry.0, "peer reachable"),
                    _ => {}
                }
                entry.1 = reachable;
            }
        }
        metrics.peers_up.store(up, Ordering::Relaxed);
        tokio::time::sleep(PEER_PROBE_INTERVAL).await;
    }
}

/// Checkpoints signed in one round (one submission, one block): bounds a round's signing
/// work and its block; more than the sizes a few busy seconds make due.
const CHECKPOINTS_PER_ROUND: usize = 64;
/// No new leaf for this long and the ledger counts as idle: its latest block end is signed
/// (rule 3 of `fairshare_protocol::ledger`'s documentation).
const CHECKPOINT_IDLE_AFTER: Duration = Duration::from_millis(150);
/// A round whose signatures were not committed is retried after this.
const CHECKPOINT_RETRY_AFTER: Duration = Duration::from_millis(500);

/// Signs the heads that `Ledger::checkpoints_to_sign` names (rules 1–3 of
/// `fairshare_protocol::ledger`'s documentation: every multiple of the checkpoint interval,
/// every block end that reaches or crosses one, and the latest block end once no leaf came
/// for [`CHECKPOINT_IDLE_AFTER`]) with the node key, oldest first, at most
/// [`CHECKPOINTS_PER_ROUND`] a round, each once, and submits them. Checkpoint signatures are
/// not leaves, so they never make another checkpoint due: an idle ledger stays idle. After
/// any conflicting statement this node stops signing (it keeps serving reads).
async fn sign_checkpoints(shared: Arc<Shared>, node_key: SigningKey, metrics: Arc<Metrics>) {
    let mut applied = shared.applied.clone();
    let signer = node_signer(&shared.insurer);
    // The largest size this node's signatures were committed for since it started; the
    // ledger's statements cover the time before.
    let mut signed_up_to = 0;
    let mut idle = false;
    loop {
        let size = applied.borrow_and_update().size;
        let (envelopes, evidence, more) = {
            let ledger = shared.ledger.view();
            let evidence = ledger.certification().evidence.len() as u64;
            let heads = if evidence > 0 {
                Vec::new()
            } else {
                ledger.checkpoints_to_sign(&shared.insurer, idle, signed_up_to, CHECKPOINTS_PER_ROUND)
            };
            let more = heads.len() == CHECKPOINTS_PER_ROUND;
            let ledger_id = &ledger.genesis().ledger_id;
            let envelopes: Vec<(u64, pb::Envelope)> = heads
                .iter()
                .map(|head| {
                    let body = pb::Transaction {
                        ledger_id: ledger_id.clone(),
                        nonce: head.size,
                        kind: Some(Kind::CheckpointSigned(pb::CheckpointSigned {
                            node: shared.insurer.clone(),
                            checkpoint: Some(head.to_checkpoint(ledger_id)),
                        })),
                    };
                    (head.size, seal(&body, &signer, &node_key))
                })
                .collect();
            (envelopes, evidence, more)
        };
        metrics.evidence.store(evidence, Ordering::Relaxed);
        if evidence > 0 && !shared.signing_halted.swap(true, Ordering::SeqCst) {
            let ledger = shared.ledger.view();
            for item in &ledger.certification().evidence {
                tracing::error!(node = %item.node, size = item.size, statements = ?item.statements, "checkpoint evidence: {}; this node signs nothing further", item.what);
            }
        }
        if let Some(&(largest, _)) = envelopes.last() {
            match shared.submitter.submit(envelopes.into_iter().map(|(_, envelope)| envelope).collect()).await {
                Ok(_) => signed_up_to = signed_up_to.max(largest),
                Err(status) => {
                    tracing::debug!("checkpoint signatures not committed yet: {}", status.message());
                    tokio::time::sleep(CHECKPOINT_RETRY_AFTER).await;
                    continue;
                }
            }
            if more {
                continue;
            }
        }
        // Wait for a new leaf; if none comes for CHECKPOINT_IDLE_AFTER, the ledger is idle.
        // Once the idle round is done, wait without a deadline: only a new leaf makes work.
        // Blocks of checkpoint signatures alone do not grow the log and do not count, unless
        // they brought evidence: that round halts signing.
        let idle_at = tokio::time::Instant::now() + CHECKPOINT_IDLE_AFTER;
        idle = loop {
            let changed = if idle { Ok(applied.changed().await) } else { tokio::time::timeout_at(idle_at, applied.changed()).await };
            match changed {
                Err(_) => break true,
                Ok(Err(_)) => return,
                Ok(Ok(())) if applied.borrow_and_update().size != size => break false,
                Ok(Ok(())) => {
                    if shared.ledger.view().certification().evidence.len() as u64 != evidence {
                        break idle;
                    }
                }
            }
        };
    }
}

#[cfg(test)]
mod standing_tests {
    use super::*;

    fn status(node: &str, leader: &str, size: u64, participants: &[&str]) -> StatusResponse {
        StatusResponse {
            node: node.into(),
            leader: leader.into(),
            size,
            participants: participants.iter().map(|participant| participant.to_string()).collect(),
            ..StatusResponse::default()
        }
    }

    #[test]
    fn only_a_peer_that_heard_it_or_the_leader_or_an_empty_ledger_decides() {
        assert_eq!(standing(&[], "zk"), None, "nobody answered");
        // A follower that never spoke Raft to zk proves nothing (seed 1008).
        assert_eq!(standing(&[status("cz", "vgz", 40, &["vgz"])], "zk"), None);
        assert_eq!(
            standing(&[status("cz", "vgz", 40, &["vgz"]), status("menzis", "vgz", 40, &["vgz", "zk"])], "zk"),
            Some(Standing::Known)
        );
        assert_eq!(standing(&[status("vgz", "vgz", 40, &["cz", "menzis"])], "zk"), Some(Standing::New), "the leader never heard of it");
        assert_eq!(standing(&[status("cz", "", 0, &[])], "zk"), Some(Standing::New), "a ledger that has not started");
    }
}
