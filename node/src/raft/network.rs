//! openraft's RPCs between nodes, over tonic (`node/proto/raft.proto`).
//!
//! Each RPC carries one openraft request or response as serde_json bytes in a
//! `RaftMessage`: these are openraft's own types, versioned with openraft and never signed,
//! so we do not mirror them in protobuf. A response is the JSON of the whole
//! `Result<response, RaftError>`, so the caller learns a remote Raft error as such.
//!
//! Client side: [`Network`] hands openraft one [`NetworkConnection`] per peer, which
//! connects on first use and keeps its channel (tonic reconnects it). A peer that cannot be
//! reached is reported as `RPCError::Unreachable`, so openraft backs off instead of retrying
//! at once. Server side: [`RaftService`] passes requests to the local [`Raft`].
//!
//! **Nothing a peer sends is trusted** (issue 12): the listener's mutual TLS and the
//! service's interceptor (`crate::transport`) admit only genesis nodes; [`RaftService`]
//! then refuses a message whose vote names another node than the one whose key signed the
//! connection, and a term more than [`TERM_JUMP_MAX`] beyond this node's (openraft panics
//! on terms near `u64::MAX`, and a forged vote on disk would panic it on every restart). The
//! same bound applies to the votes in peers' answers. Each refusal is recorded as the
//! sender's misbehaviour (`crate::misbehaviour`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fairshare_protocol::MESSAGE_BYTES_MAX;
use openraft::error::{InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, EntryPayload};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::log_store::{index_of, log_key};
use super::snapshot_check::SnapshotCheck;
use super::{node_id, Entry, NodeId, Raft, TypeConfig};
use crate::misbehaviour::Misbehaviour;
use crate::raft_transport::raft_client::RaftClient;
use crate::raft_transport::raft_server::{self, RaftServer};
use crate::raft_transport::RaftMessage;
use crate::transport::Caller;
use fairshare_api::Transport;
use fairshare_protocol::genesis::Role;
use fairshare_protocol::Genesis;

/// The longest one attempt to connect to a peer may take: below the election timeout, so a
/// vote request to a dead peer fails in time. openraft's own per-RPC deadline (one heartbeat,
/// 150 ms, for AppendEntries) often ends the attempt sooner; either way openraft backs off.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The RPC deadline when openraft gives none.
pub const RPC_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);
/// JSON larger than this is encoded and decoded on a blocking thread, not on a runtime thread.
const INLINE_JSON_BYTES_MAX: usize = 64 * 1024;

/// How far beyond this node's current term a peer's term may be. An honest candidate
/// raises the term by one per election it starts (every 150–300 ms while it cannot win), so a
/// node cut off for days stays far below this; a forged term near `u64::MAX` does not.
pub const TERM_JUMP_MAX: u64 = 1 << 24;

/// Why a node refuses to vote; see [`RaftService::new`].
pub const VOTES_REFUSED: &str =
    "this node started on an empty data dir inside an existing ledger; it takes no part in Raft until it is re-added (README, 'Replacing a node')";

/// Creates openraft's connections to peers. The peer's address is its `BasicNode.addr`, a
/// full URL such as `https://127.0.0.1:7101` (`http://` only with `--insecure`).
pub struct Network {
    participants: Participants,
    /// How to reach each node: TLS that accepts only that node's genesis key, or insecure.
    transports: Arc<dyn Fn(NodeId) -> Transport + Send + Sync>,
    /// This node's current term, to bound the terms in peers' answers.
    term: Arc<std::sync::atomic::AtomicU64>,
    misbehaviour: Arc<Misbehaviour>,
}

impl Network {
    /// `participants` (from [`load_participants`]) gains every node that answers a Raft RPC;
    /// `transports` gives the transport to each node; `term` is kept at this node's current
    /// term by the node (see [`watch_term`]).
    pub fn new(
        participants: Arc<Mutex<BTreeSet<NodeId>>>,
        db: sled::Db,
        transports: Arc<dyn Fn(NodeId) -> Transport + Send + Sync>,
        term: Arc<std::sync::atomic::AtomicU64>,
        misbehaviour: Arc<Misbehaviour>,
    ) -> Network {
        Network { participants: Participants { known: participants, db }, transports, term, misbehaviour }
    }
}

/// Keeps `term` at the current term of `raft` (for [`Network`]'s bound on answers).
pub async fn watch_term(raft: Raft, term: Arc<std::sync::atomic::AtomicU64>) {
    let mut metrics = raft.metrics();
    loop {
        term.store(metrics.borrow_and_update().current_term, Ordering::Relaxed);
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Whether `term` is within reach of `current` (see [`TERM_JUMP_MAX`]).
pub fn term_plausible(term: u64, current: u64) -> bool {
    term <= current.saturating_add(TERM_JUMP_MAX)
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = NetworkConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> NetworkConnection {
        NetworkConnection {
            target,
            node: node.clone(),
            client: None,
            participants: self.participants.clone(),
            transport: (self.transports)(target),
            term: self.term.clone(),
            misbehaviour: self.misbehaviour.clone(),
        }
    }
}

const PARTICIPANTS: &str = "participants";

/// The node ids that ever answered this node's Raft traffic, from tree `participants`
/// (big-endian ids). A peer that restarts on an empty data dir asks the others whether they
/// know it: if they do, it lost its disk and must not vote (see [`RaftService::new`]).
pub fn load_participants(db: &sled::Db) -> BTreeSet<NodeId> {
    let read = || -> Result<BTreeSet<NodeId>, sled::Error> {
        db.open_tree(PARTICIPANTS)?.iter().keys().map(|key| key.map(|key| index_of(&key))).collect()
    };
    read().unwrap_or_else(|error| {
        tracing::error!(%error, "cannot read the Raft participants; starting with none");
        BTreeSet::new()
    })
}

#[derive(Clone)]
struct Participants {
    known: Arc<Mutex<BTreeSet<NodeId>>>,
    db: sled::Db,
}

impl Participants {
    /// Records that `target` answered. Not synced: a hint for replacing nodes, flushed by
    /// sled within half a second and at shutdown.
    fn answered(&self, target: NodeId) {
        let mut known = self.known.lock().expect("a participants update panicked");
        if known.insert(target) {
            if let Err(error) = self.db.open_tree(PARTICIPANTS).and_then(|tree| tree.insert(log_key(target), &[])) {
                tracing::warn!(target, %error, "cannot store a Raft participant");
            }
        }
    }
}

/// One peer, as openraft sees it.
pub struct NetworkConnection {
    target: NodeId,
    node: BasicNode,
    /// Connected on first use, then reused.
    client: Option<RaftClient<Channel>>,
    participants: Participants,
    transport: Transport,
    term: Arc<std::sync::atomic::AtomicU64>,
    misbehaviour: Arc<Misbehaviour>,
}

#[derive(Clone, Copy, Debug)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl NetworkConnection {
    async fn client<E: std::error::Error>(&mut self) -> RpcResult<RaftClient<Channel>, E> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        // The channel is built where every client channel is (fairshare-api), so transport
        // security added there covers Raft traffic too; calls are bounded per RPC below.
        let deadlines = fairshare_api::Deadlines::new(CONNECT_TIMEOUT, None);
        let channel = fairshare_api::channel(&self.node.addr, deadlines, &self.transport).await.map_err(
            |error| {
                if matches!(error, fairshare_api::ConnectError::NotAUrl { .. } | fairshare_api::ConnectError::Scheme { .. }) {
                    tracing::error!(target = self.target, addr = %self.node.addr, %error, "a peer's address is not a URL; fix the cluster membership");
                }
                Unreachable::new(&error)
            },
        )?;
        let client = RaftClient::new(channel).max_decoding_message_size(MESSAGE_BYTES_MAX).max_encoding_message_size(MESSAGE_BYTES_MAX);
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Sends one request (already JSON) and decodes the peer's `Result`.
    async fn call<Resp, E>(&mut self, rpc: Rpc, json: Vec<u8>, option: &RPCOption) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned + Send + 'static + AnswerTerm,
        E: std::error::Error + DeserializeOwned + Send + 'static,
    {
        let mut client = self.client().await?;
        let mut request = Request::new(RaftMessage { json });
        let timeout = if option.hard_ttl().is_zero() { RPC_TIMEOUT_DEFAULT } else { option.hard_ttl() };
        request.set_timeout(timeout);
        let response = match rpc {
            Rpc::AppendEntries => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::InstallSnapshot => client.install_snapshot(request).await,
        };
        let message = response.map_err(|status| status_error(self.target, rpc, status))?.into_inner();
        self.participants.answered(self.target);
        let result: Result<Resp, RaftError<NodeId, E>> =
            from_json(message.json).await.map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        if let Ok(answer) = &result {
            let (term, current) = (answer.term(), self.term.load(Ordering::Relaxed));
            if term.is_some_and(|term| !term_plausible(term, current)) {
                let detail = format!("answered a {rpc:?} with term {} while ours is {current}", term.unwrap_or_default());
                self.misbehaviour.record(&format!("node {}", self.target), "a term far beyond the cluster's", detail.clone());
                return Err(RPCError::Network(NetworkError::new(&AnyError::error(detail))));
            }
        }
        result.map_err(|remote| RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), remote)))
    }
}

/// Unavailable means the peer is down, unreachable or refusing (a node that may not vote):
/// back off. Anything else is a failed RPC that may be retried.
fn status_error<E: std::error::Error>(target: NodeId, rpc: Rpc, status: Status) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    tracing::debug!(target, ?rpc, code = ?status.code(), message = status.message(), "Raft RPC failed");
    match status.code() {
        Code::Unavailable => RPCError::Unreachable(Unreachable::new(&status)),
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl RaftNetwork<TypeConfig> for NetworkConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        let entries = rpc.entries.len() as u64;
        let large = rpc.entries.iter().map(entry_bytes).sum::<usize>() > INLINE_JSON_BYTES_MAX;
        let json = to_json(rpc, large).await.map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        // The log store already bounds a replication read by bytes; this catches the rest.
        if json.len() > MESSAGE_BYTES_MAX {
            if entries > 1 {
                return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(entries / 2)));
            }
            let error =
                AnyError::error(format!("one Raft entry is {} bytes, above the {MESSAGE_BYTES_MAX} byte message limit", json.len()));
            return Err(RPCError::Network(NetworkError::new(&error)));
        }
        self.call(Rpc::AppendEntries, json, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let large = rpc.data.len() > INLINE_JSON_BYTES_MAX;
        let json = to_json(rpc, large).await.map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        self.call(Rpc::InstallSnapshot, json, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        let json = to_json(rpc, false).await.map_err(|error| RPCError::Network(NetworkError::new(&error)))?;
        self.call(Rpc::Vote, json, &option).await
    }
}

/// The term of the vote a peer's answer carries, if any, so that it can be bounded.
pub trait AnswerTerm {
    fn term(&self) -> Option<u64>;
}

impl AnswerTerm for VoteResponse<NodeId> {
    fn term(&self) -> Option<u64> {
        Some(self.vote.leader_id().get_term())
    }
}

impl AnswerTerm for AppendEntriesResponse<NodeId> {
    fn term(&self) -> Option<u64> {
        match self {
            AppendEntriesResponse::HigherVote(vote) => Some(vote.leader_id().get_term()),
            _ => None,
        }
    }
}

impl AnswerTerm for InstallSnapshotResponse<NodeId> {
    fn term(&self) -> Option<u64> {
        Some(self.vote.leader_id().get_term())
    }
}

fn entry_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(request) => request.block.len(),
        _ => 0,
    }
}

/// The Raft gRPC service: decodes a request, hands it to the local Raft, encodes its result.
/// Snapshots go through [`SnapshotCheck`]: installed only if they prove themselves.
pub struct RaftService {
    raft: Raft,
    votes_allowed: Arc<AtomicBool>,
    genesis: Arc<Genesis>,
    misbehaviour: Arc<Misbehaviour>,
    snapshots: SnapshotCheck,
}

impl RaftService {
    /// `votes_allowed` is cleared by the node when its data dir was replaced: a node that
    /// lost its disk may already have voted in the current term, and voting again could
    /// elect two leaders; and a leader that still counts it as caught up may trip over its
    /// empty log. While cleared, every Raft request (vote, append, snapshot) is answered
    /// `UNAVAILABLE`, so to the others the node is simply down. The leader's
    /// `admin add-learner` sets it again (after the node was removed from the voters).
    ///
    /// `genesis` maps the caller's proven node (`crate::transport::Caller`) to its Raft id;
    /// refusals are recorded in `misbehaviour`.
    pub fn new(
        raft: Raft,
        votes_allowed: Arc<AtomicBool>,
        genesis: Arc<Genesis>,
        misbehaviour: Arc<Misbehaviour>,
        snapshots: SnapshotCheck,
    ) -> RaftService {
        RaftService { raft, votes_allowed, genesis, misbehaviour, snapshots }
    }

    /// Refuses a message whose vote (the candidate's, or the leader's) names another node
    /// than the caller proved to be, or carries a term far beyond ours.
    fn check_sender(&self, caller: &Caller, rpc: Rpc, vote: &openraft::Vote<NodeId>) -> Result<(), Status> {
        let term = vote.leader_id().get_term();
        let claimed = vote.leader_id().voted_for();
        let sender = match caller {
            Caller::Insecure => format!("node {}", claimed.unwrap_or_default()),
            Caller::Party(Role::Node(insurer)) => {
                let proven = node_id(&self.genesis, insurer);
                if proven.is_none() || claimed != proven {
                    let detail = format!(
                        "a {rpc:?} over the connection of node {insurer} (Raft id {}) under the vote of Raft id {}",
                        proven.map_or("none".into(), |id| id.to_string()),
                        claimed.map_or("none".into(), |id| id.to_string())
                    );
                    self.misbehaviour.record(&caller.name(), "a Raft message under another node's name", detail);
                    return Err(Status::permission_denied(format!(
                        "refused: this {rpc:?} names Raft node {} but the connection is node {insurer}'s; a node speaks only for itself",
                        claimed.map_or("none".into(), |id| id.to_string())
                    )));
                }
                caller.name()
            }
            // The interceptor admits nodes only; anything else here is a wiring bug.
            Caller::Party(_) | Caller::Reader(_) => return Err(Status::permission_denied("only genesis nodes speak Raft")),
        };
        let current = self.raft.metrics().borrow().current_term;
        if !term_plausible(term, current) {
            self.misbehaviour.record(
                &sender,
                "a term far beyond the cluster's",
                format!("a {rpc:?} with term {term} while ours is {current}"),
            );
            return Err(Status::invalid_argument(format!(
                "refused: term {term} is more than {TERM_JUMP_MAX} beyond this node's term {current}"
            )));
        }
        Ok(())
    }

    fn check_admitted(&self) -> Result<(), Status> {
        if self.votes_allowed.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Status::unavailable(VOTES_REFUSED))
        }
    }

    /// The tonic server, with the message limits every fairshare server and client sets.
    pub fn into_server(self) -> RaftServer<RaftService> {
        RaftServer::new(self).max_decoding_message_size(MESSAGE_BYTES_MAX).max_encoding_message_size(MESSAGE_BYTES_MAX)
    }
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.check_admitted()?;
        let caller = Caller::of(&request)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode_request(request).await?;
        self.check_sender(&caller, Rpc::AppendEntries, &rpc.vote)?;
        reply(self.raft.append_entries(rpc).await).await
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.check_admitted()?;
        let caller = Caller::of(&request)?;
        let rpc: VoteRequest<NodeId> = decode_request(request).await?;
        self.check_sender(&caller, Rpc::Vote, &rpc.vote)?;
        reply(self.raft.vote(rpc).await).await
    }

    async fn install_snapshot(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.check_admitted()?;
        let caller = Caller::of(&request)?;
        let rpc: InstallSnapshotRequest<TypeConfig> = decode_request(request).await?;
        self.check_sender(&caller, Rpc::InstallSnapshot, &rpc.vote)?;
        reply(self.snapshots.receive(&self.raft, rpc).await?).await
    }
}

/// A malformed request is the sender's problem, never a reason to stop this node.
async fn decode_request<T: DeserializeOwned + Send + 'static>(request: Request<RaftMessage>) -> Result<T, Status> {
    from_json(request.into_inner().json).await.map_err(|error| Status::invalid_argument(format!("not an openraft request: {error}")))
}

async fn reply<T: Serialize + Send + 'static>(result: T) -> Result<Response<RaftMessage>, Status> {
    let json = to_json(result, false).await.map_err(|error| Status::internal(format!("encoding the Raft response: {error}")))?;
    Ok(Response::new(RaftMessage { json }))
}

/// `large` moves the work to a blocking thread (entries or snapshot chunks of some size).
async fn to_json<T: Serialize + Send + 'static>(value: T, large: bool) -> serde_json::Result<Vec<u8>> {
    if !large {
        return serde_json::to_vec(&value);
    }
    tokio::task::spawn_blocking(move || serde_json::to_vec(&value))
        .await
        .unwrap_or_else(|error| Err(serde::ser::Error::custom(format!("encoding stopped: {error}"))))
}

async fn from_json<T: DeserializeOwned + Send + 'static>(json: Vec<u8>) -> serde_json::Result<T> {
    if json.len() <= INLINE_JSON_BYTES_MAX {
        return serde_json::from_slice(&json);
    }
    tokio::task::spawn_blocking(move || serde_json::from_slice(&json))
        .await
        .unwrap_or_else(|error| Err(serde::de::Error::custom(format!("decoding stopped: {error}"))))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fairshare_protocol::envelope::seal;
    use fairshare_protocol::pb::{self, transaction::Kind};
    use fairshare_protocol::testing::{checkpoint_statements, genesis_with_keys, transaction};
    use prost::Message;
    use tokio::net::TcpListener;
    use tokio_stream::wrappers::TcpListenerStream;

    use super::*;
    use crate::raft::snapshot_check::SnapshotRefusals;
    use crate::raft::{raft_config, Applied, BlockHistory, BlockRequest, LogStore, StateMachine, VerdictRecord};
    use crate::transport::{Admit, Security};
    use tonic::service::interceptor::InterceptedService;

    fn insecure() -> Arc<dyn Fn(NodeId) -> Transport + Send + Sync> {
        Arc::new(|_| Transport::Insecure)
    }

    struct TestNode {
        raft: Raft,
        applied: tokio::sync::watch::Receiver<Applied>,
        ledger: Arc<crate::ledger_cell::LedgerCell>,
        votes_allowed: Arc<AtomicBool>,
        history: BlockHistory,
        misbehaviour: Arc<SnapshotRefusals>,
        addr: String,
        _dir: tempfile::TempDir,
    }

    /// Starts a node on a port of its own, serving the Raft service over real tonic.
    async fn start(id: NodeId, listener: TcpListener, genesis: &Arc<fairshare_protocol::Genesis>) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let log_store = LogStore::open(db.clone()).unwrap();
        let (state_machine, applied) = StateMachine::open(db.clone(), genesis.clone()).unwrap();
        let (ledger, history) = (state_machine.ledger(), state_machine.history());
        let network = Network::new(Arc::new(Mutex::new(load_participants(&db))), db, insecure(), Arc::default(), Arc::default());
        let raft = Raft::new(id, Arc::new(raft_config()), network, log_store, state_machine).await.unwrap();
        let votes_allowed = Arc::new(AtomicBool::new(true));
        let misbehaviour = Arc::new(SnapshotRefusals::default());
        let check = SnapshotCheck::new(genesis.clone(), ledger.clone(), misbehaviour.clone(), Arc::default());
        let service = RaftService::new(raft.clone(), votes_allowed.clone(), genesis.clone(), Arc::default(), check).into_server();
        let service = InterceptedService::new(service, Security::insecure().access(Admit::Nodes));
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)));
        TestNode { raft, applied, ledger, votes_allowed, history, misbehaviour, addr, _dir: dir }
    }

    /// Starts `count` nodes on ports of their own and waits for a leader; returns the nodes
    /// and the leader's index among them.
    async fn cluster(count: u64, genesis: &Arc<fairshare_protocol::Genesis>) -> (Vec<TestNode>, usize) {
        let mut members = BTreeMap::new();
        let mut nodes = Vec::new();
        for id in 1..=count {
            let node = start(id, TcpListener::bind("127.0.0.1:0").await.unwrap(), genesis).await;
            members.insert(id, BasicNode { addr: node.addr.clone() });
            nodes.push(node);
        }
        nodes[0].raft.initialize(members).await.unwrap();
        let metrics = nodes[0].raft.wait(Some(Duration::from_secs(10))).metrics(|m| m.current_leader.is_some(), "a leader").await.unwrap();
        (nodes, metrics.current_leader.unwrap() as usize - 1)
    }

    /// Writes `envelopes` as one block through the leader and waits until every node applied it.
    async fn write(nodes: &mut [TestNode], leader: usize, envelopes: Vec<pb::Envelope>) -> openraft::raft::ClientWriteResponse<TypeConfig> {
        let block = pb::Block { envelopes }.encode_to_vec();
        let written = nodes[leader].raft.client_write(BlockRequest { block }).await.unwrap();
        let log_index = written.log_id.index;
        for node in nodes.iter_mut() {
            let applied = tokio::time::timeout(Duration::from_secs(10), node.applied.wait_for(|applied| applied.log_index >= log_index));
            applied.await.expect("every node applies the block").unwrap();
            // Raft's metrics (what a snapshot's log id is compared with) follow shortly after.
            node.raft.wait(Some(Duration::from_secs(10))).applied_index_at_least(Some(log_index), "applied").await.unwrap();
        }
        written
    }

    const PROVIDER: &str = "agb:01234567";
    const HONEST_IBAN: &str = "NL91ABNA0417164300";

    fn registration(genesis: &fairshare_protocol::Genesis, keys: &BTreeMap<String, ed25519_dalek::SigningKey>) -> pb::Envelope {
        let kind = Kind::PartyRegistered(pb::PartyRegistered {
            party: PROVIDER.into(),
            kind: pb::PartyKind::Provider as i32,
            name: "Ziekenhuis Test".into(),
            iban: HONEST_IBAN.into(),
        });
        seal(&transaction(genesis, 1, kind), "zk", &keys["zk"])
    }

    /// Three of the four nodes' checkpoint statements for `node`'s head: enough to certify it.
    fn certificate(node: &TestNode) -> Vec<pb::Envelope> {
        let ledger = node.ledger.view();
        checkpoint_statements(ledger.genesis(), &ledger.head(), &["cz", "menzis", "vgz"])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_nodes_elect_a_leader_and_apply_the_same_block_over_grpc() {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let (mut nodes, leader_index) = cluster(3, &genesis).await;
        let leader = nodes[leader_index].raft.clone();
        let metrics = leader.metrics().borrow().clone();

        let written = write(&mut nodes, leader_index, vec![registration(&genesis, &keys)]).await;
        assert_eq!(written.data.outcomes[0].verdict, VerdictRecord::Applied { index: 0 });
        assert!(nodes.iter().all(|node| node.applied.borrow().size == 1));
        let heads: Vec<_> = nodes.iter().map(|node| node.ledger.view().head()).collect();
        assert!(heads.windows(2).all(|pair| pair[0] == pair[1]), "every node holds the same head");
        // Certify the head, as the nodes' checkpoint signers would: only a certified state
        // is snapshotted.
        let certificate = certificate(&nodes[0]);
        let written = write(&mut nodes, leader_index, certificate).await;
        assert!(matches!(written.data.outcomes[2].verdict, VerdictRecord::Checkpoint { certified: true, .. }));
        let log_index = written.log_id.index;

        // A node told not to vote answers UNAVAILABLE, which openraft treats as unreachable.
        nodes[2].votes_allowed.store(false, Ordering::SeqCst);
        let target = BasicNode { addr: metrics.membership_config.nodes().find(|(id, _)| **id == 3).unwrap().1.addr.clone() };
        let db = sled::Config::new().temporary(true).open().unwrap();
        let mut connection = Network::new(Arc::default(), db, insecure(), Arc::default(), Arc::default()).new_client(3, &target).await;
        let vote = VoteRequest::new(openraft::Vote::new(99, 1), None);
        match connection.vote(vote, RPCOption::new(Duration::from_secs(1))).await {
            Err(RPCError::Unreachable(unreachable)) => assert!(unreachable.to_string().contains("until it is re-added")),
            other => panic!("expected the vote to be refused, got {other:?}"),
        }

        // Compact the leader's log, then add a learner: it can only catch up by receiving the
        // snapshot over gRPC.
        leader.trigger().snapshot().await.unwrap();
        let waiting = leader.wait(Some(Duration::from_secs(10)));
        waiting.metrics(|m| m.snapshot.is_some_and(|id| id.index >= log_index), "a snapshot").await.unwrap();
        leader.trigger().purge_log(log_index).await.unwrap();
        waiting.metrics(|m| m.purged.is_some_and(|id| id.index >= log_index), "the log purged").await.unwrap();
        let mut learner = start(4, TcpListener::bind("127.0.0.1:0").await.unwrap(), &genesis).await;
        leader.add_learner(4, BasicNode { addr: learner.addr.clone() }, true).await.unwrap();
        let applied = tokio::time::timeout(Duration::from_secs(10), learner.applied.wait_for(|applied| applied.log_index >= log_index));
        assert_eq!(applied.await.expect("the learner installs the snapshot").unwrap().size, 1);
        assert_eq!(learner.ledger.view().head(), heads[0]);
        assert_eq!(learner.ledger.view().certification().latest_certified(), Some(&heads[0]), "and its certificate");
        assert_eq!(learner.misbehaviour.refused_total(), 0, "an honest snapshot proves itself");
        assert!(learner.history.complete_from().unwrap() > log_index, "the learner got a snapshot, not the entries");
        assert_eq!(nodes[0].history.complete_from().unwrap(), 0);

        for node in nodes.into_iter().chain([learner]) {
            node.raft.shutdown().await.unwrap();
        }
    }

    /// A leader and a follower, both applied a provider registration with an IBAN and the
    /// certificate of that state. Returns the nodes and the follower's index.
    async fn certified_pair() -> (Vec<TestNode>, usize, BTreeMap<String, ed25519_dalek::SigningKey>) {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let (mut nodes, leader) = cluster(2, &genesis).await;
        write(&mut nodes, leader, vec![registration(&genesis, &keys)]).await;
        let certificate = certificate(&nodes[0]);
        write(&mut nodes, leader, certificate).await;
        assert_eq!(nodes[0].ledger.view().certification().latest_certified().map(|head| head.size), Some(1));
        (nodes, 1 - leader, keys)
    }

    /// What the snapshot builder makes of `node`'s state now, as JSON.
    fn snapshot_body(node: &TestNode) -> (crate::raft::SnapshotMeta, crate::raft::state_machine::SnapshotBody) {
        let metrics = node.raft.metrics().borrow().clone();
        let last_membership = metrics.membership_config.as_ref().clone();
        let body = crate::raft::state_machine::SnapshotBody {
            last_applied: metrics.last_applied,
            last_membership: last_membership.clone(),
            ledger: node.ledger.view().data().clone(),
        };
        let meta = crate::raft::SnapshotMeta { last_log_id: metrics.last_applied, last_membership, snapshot_id: "forged-1".into() };
        (meta, body)
    }

    /// Sends `bytes` to `node` as InstallSnapshot chunks of `chunk` bytes over real gRPC, with
    /// the node's own current vote (what its leader would send).
    async fn send_snapshot(node: &TestNode, meta: &crate::raft::SnapshotMeta, bytes: &[u8], chunk: usize) -> Result<(), Status> {
        let mut client = RaftClient::new(
            fairshare_api::channel(&node.addr, fairshare_api::Deadlines::new(CONNECT_TIMEOUT, None), &Transport::Insecure).await.unwrap(),
        )
        .max_encoding_message_size(MESSAGE_BYTES_MAX);
        let vote = node.raft.metrics().borrow().vote;
        let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
        for (number, data) in chunks.iter().enumerate() {
            let offset = (number * chunk) as u64;
            let request = InstallSnapshotRequest::<TypeConfig> {
                vote,
                meta: meta.clone(),
                offset,
                data: data.to_vec(),
                done: number + 1 == chunks.len(),
            };
            let reply = client.install_snapshot(RaftMessage { json: serde_json::to_vec(&request).unwrap() }).await?.into_inner();
            let answer: Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> =
                serde_json::from_slice(&reply.json).unwrap();
            answer.expect("no Raft error");
        }
        Ok(())
    }

    fn iban(node: &TestNode) -> Option<String> {
        node.ledger.view().state().parties[PROVIDER].iban.clone()
    }

    /// Sends a forged snapshot to the follower and checks it is refused for `reason`, with
    /// the node unchanged, Raft running and the refusal recorded against the leader.
    async fn assert_refused(nodes: &[TestNode], follower: usize, meta: &crate::raft::SnapshotMeta, bytes: &[u8], reason: &str) {
        let node = &nodes[follower];
        let (head, refused_before) = (node.ledger.view().head(), node.misbehaviour.refused_total());
        let status = send_snapshot(node, meta, bytes, 1024).await.expect_err("the forged snapshot is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("snapshot refused: "), "{}", status.message());
        assert!(status.message().contains(reason), "{}", status.message());
        assert_eq!(node.ledger.view().head(), head, "the state is kept");
        assert_eq!(iban(node).as_deref(), Some(HONEST_IBAN));
        assert!(node.raft.metrics().borrow().running_state.is_ok(), "Raft keeps running");
        assert_eq!(node.misbehaviour.refused_total(), refused_before + 1);
        let recorded = node.misbehaviour.recent().pop().unwrap();
        let leader = node.raft.metrics().borrow().current_leader;
        assert_eq!((recorded.sender, recorded.snapshot_id.as_str()), (leader, meta.snapshot_id.as_str()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_install_snapshot_changing_an_iban_is_refused_and_the_state_is_kept() {
        let (nodes, follower, _) = certified_pair().await;
        let (mut meta, mut body) = snapshot_body(&nodes[follower]);
        // Claim to be ahead, so that only the proof can refuse it.
        let ahead = openraft::LogId::new(meta.last_log_id.unwrap().leader_id, meta.last_log_id.unwrap().index + 10);
        (meta.last_log_id, body.last_applied) = (Some(ahead), Some(ahead));
        body.ledger.state.parties.get_mut(PROVIDER).unwrap().iban = Some("NL02ABNA0123456789".into());
        let bytes = body.encode().unwrap();
        assert_refused(&nodes, follower, &meta, &bytes, "state digest").await;

        // The same with the recorded head removed: the certified digest no longer matches.
        body.ledger.certification.heads.clear();
        meta.snapshot_id = "forged-2".into();
        assert_refused(&nodes, follower, &meta, &body.encode().unwrap(), "state digest").await;
        for node in nodes {
            node.raft.shutdown().await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_certified_by_a_minority_is_refused() {
        let (nodes, follower, _) = certified_pair().await;
        let (mut meta, mut body) = snapshot_body(&nodes[follower]);
        meta.snapshot_id = "minority".into();
        body.ledger.state.parties.get_mut(PROVIDER).unwrap().iban = Some("NL02ABNA0123456789".into());
        let head = fairshare_protocol::ledger::Head {
            size: 1,
            root: body.ledger.merkle.root(),
            state_digest: body.ledger.state.digest_from_scratch(),
        };
        let genesis = nodes[follower].ledger.view().genesis().clone();
        let certification = &mut body.ledger.certification;
        certification.heads = [(1u64, head.clone())].into_iter().collect();
        certification.certified = [(1u64, head.clone())].into_iter().collect();
        certification.statements = [(
            1u64,
            ["cz", "menzis"]
                .iter()
                .zip(checkpoint_statements(&genesis, &head, &["cz", "menzis"]))
                .map(|(node, envelope)| (node.to_string(), fairshare_protocol::ledger::StoredEnvelope::from_pb(&envelope)))
                .collect::<std::collections::BTreeMap<_, _>>(),
        )]
        .into_iter()
        .collect();
        assert_refused(&nodes, follower, &meta, &body.encode().unwrap(), "signed by 2 node(s)").await;
        for node in nodes {
            node.raft.shutdown().await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_honest_but_uncertified_snapshot_is_refused_and_a_certified_one_in_chunks_is_accepted() {
        let (mut nodes, follower, keys) = certified_pair().await;
        let genesis = Arc::new(nodes[0].ledger.view().genesis().clone());

        // The certified state, sent in chunks, proves itself; the follower is
        // already there, so openraft installs nothing and answers as usual.
        let (mut meta, body) = snapshot_body(&nodes[follower]);
        meta.snapshot_id = "honest".into();
        let bytes = body.encode().unwrap();
        send_snapshot(&nodes[follower], &meta, &bytes, 700).await.expect("a certified snapshot is accepted");
        assert_eq!(nodes[follower].misbehaviour.refused_total(), 0);

        // A chunk out of order is refused, without blaming anyone.
        let mut client = RaftClient::new(
            fairshare_api::channel(&nodes[follower].addr, fairshare_api::Deadlines::new(CONNECT_TIMEOUT, None), &Transport::Insecure)
                .await
                .unwrap(),
        );
        let vote = nodes[follower].raft.metrics().borrow().vote;
        let gap = InstallSnapshotRequest::<TypeConfig> { vote, meta: meta.clone(), offset: 5, data: bytes[5..9].to_vec(), done: true };
        let status = client.install_snapshot(RaftMessage { json: serde_json::to_vec(&gap).unwrap() }).await.expect_err("a gap");
        assert!(status.message().contains("continues at offset 0 here, not 5"), "{}", status.message());
        assert_eq!(nodes[follower].misbehaviour.refused_total(), 0);

        // A new leaf, not certified: the honest state is not a snapshot anyone may install.
        let kind = Kind::PartyRegistered(pb::PartyRegistered {
            party: "agb:07654321".into(),
            kind: pb::PartyKind::Provider as i32,
            name: "Tweede Ziekenhuis".into(),
            iban: String::new(),
        });
        let leader = 1 - follower;
        write(&mut nodes, leader, vec![seal(&transaction(&genesis, 2, kind), "zk", &keys["zk"])]).await;
        let (mut meta, body) = snapshot_body(&nodes[follower]);
        meta.snapshot_id = "uncertified".into();
        assert_refused(&nodes, follower, &meta, &body.encode().unwrap(), "no certified checkpoint at its size 2").await;
        for node in nodes {
            node.raft.shutdown().await.unwrap();
        }
    }
}
