//! The public gRPC services: `Ledger` (submit, queries, streams, proofs, status) and
//! `Admin` (membership changes for replacing a node).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fairshare_protocol::ids::{echo, ID_BYTES_MAX};
use fairshare_protocol::merkle::Hash;
use fairshare_protocol::query::{self, ObligationFilter, Period};
use fairshare_protocol::{pb, Ledger};
use openraft::BasicNode;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::raft::node_id;
use crate::shared::Shared;
use crate::submit::leader_name;
use crate::transport::Caller;
use fairshare_api::v1::admin_server::Admin;
use fairshare_api::v1::ledger_server::Ledger as LedgerApi;
use fairshare_api::v1::query_request::Query;
use fairshare_api::v1::*;
use fairshare_protocol::genesis::Role;

/// Blocks or obligations sent per stream before the sender waits for the client.
const STREAM_QUEUE_CAPACITY: usize = 64;

#[derive(Clone)]
pub struct LedgerService {
    pub shared: Arc<Shared>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Status> {
    serde_json::to_string(value).map_err(|error| Status::internal(error.to_string()))
}

/// Refuses an id longer than any real one before it is looked up or quoted.
fn bounded<'id>(what: &str, id: &'id str) -> Result<&'id str, Status> {
    if id.len() > ID_BYTES_MAX {
        return Err(Status::invalid_argument(format!("the {what} '{}' is longer than any id ({ID_BYTES_MAX} bytes at most)", echo(id))));
    }
    Ok(id)
}

/// An insurer id of genesis, or an error naming the ones there are.
fn known_insurer(genesis: &fairshare_protocol::Genesis, insurer: &str) -> Result<(), Status> {
    if genesis.is_insurer(insurer) {
        return Ok(());
    }
    let known: Vec<&str> = genesis.insurers.iter().map(|member| member.id.as_str()).collect();
    Err(Status::invalid_argument(format!("'{}' is not an insurer of this ledger; its insurers are {}", echo(insurer), known.join(", "))))
}

fn hash_list(proof: Vec<Hash>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|hash| hash.to_vec()).collect()
}

/// How long a query that names a size this node has not applied yet waits for it.
const READ_WAIT: Duration = Duration::from_secs(2);

/// Answers a query from one view of the ledger (on a blocking thread: large answers are
/// CPU work). A read identity gets its party's part only.
fn answer(ledger: &fairshare_protocol::Ledger, reader: Option<&str>, query: Query) -> Result<QueryResponse, Status> {
    let state = ledger.state();
    if let Some(party) = reader {
        return Ok(QueryResponse { json: reader_query(state, party, query)?, size: ledger.size() });
    }
    let json = match query {
        Query::Plans(_) => to_json(&query::plans(state))?,
        Query::Plan(id) => {
            let plan = state.plans.get(bounded("plan id", &id)?).ok_or_else(|| Status::not_found(format!("there is no plan '{id}'")))?;
            to_json(&query::plan_view(state, plan))?
        }
        Query::Obligations(filter) => {
            bounded("insurer", &filter.insurer)?;
            bounded("party", &filter.party)?;
            bounded("plan id", &filter.plan)?;
            if !filter.insurer.is_empty() {
                known_insurer(ledger.genesis(), &filter.insurer)?;
            }
            to_json(&query::obligation_rows(state, &obligation_filter(filter)))?
        }
        Query::InsurerBalances(_) => to_json(&query::insurer_balances(state, ledger.genesis()))?,
        Query::PartyBalances(_) => to_json(&query::party_balances(state))?,
        Query::Monitor(request) => to_json(&query::monitor(state, ledger.genesis(), monitor_period(&request)?))?,
        Query::Fund(_) => to_json(&query::fund(state))?,
        Query::Spend(_) => to_json(&query::spend(state))?,
        Query::Parties(_) => to_json(&query::parties(state))?,
        Query::Keys(_) => to_json(&query::keys(state))?,
        Query::QuickTests(_) => to_json(&query::quick_tests(state))?,
        Query::Payments(_) => to_json(&query::payments(state))?,
        Query::Attestations(_) => to_json(&query::attestations(state))?,
        Query::Transaction(id) => to_json(recorded(ledger, bounded("transaction id", &id)?)?)?,
    };
    Ok(QueryResponse { json, size: ledger.size() })
}

impl LedgerService {
    /// Reading your own writes: waits until this node has applied `min_size` leaves, up to
    /// [`READ_WAIT`], or says it is behind.
    async fn wait_for_size(&self, min_size: u64) -> Result<(), Status> {
        let mut applied = self.shared.applied.clone();
        let reached = tokio::time::timeout(READ_WAIT, applied.wait_for(|applied| applied.size >= min_size)).await;
        if matches!(reached, Ok(Ok(_))) {
            return Ok(());
        }
        let size = self.shared.applied.borrow().size;
        Err(Status::failed_precondition(format!(
            "this node is behind: it has applied {size} transactions and the query needs at least {min_size} (a write you were told about); \
             retry, or ask another node"
        )))
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl LedgerApi for LedgerService {
    async fn submit(&self, request: Request<SubmitRequest>) -> Result<Response<SubmitResponse>, Status> {
        full_reader(&request, "submit")?;
        let envelope = request.into_inner().envelope.ok_or_else(|| Status::invalid_argument("the request carries no envelope"))?;
        if let Some(known) = self.shared.submitter.precheck(&envelope)? {
            return Ok(Response::new(known));
        }
        let mut results = self.shared.submitter.submit(vec![envelope]).await?;
        results.pop().map(Response::new).ok_or_else(|| Status::internal("no verdict for the envelope"))
    }

    async fn submit_batch(&self, request: Request<SubmitBatchRequest>) -> Result<Response<SubmitBatchResponse>, Status> {
        full_reader(&request, "submit")?;
        let envelopes = request.into_inner().envelopes;
        // Known ones answer at once; refused ones fail the whole call, naming the envelope.
        let mut results: Vec<Option<SubmitResponse>> = Vec::with_capacity(envelopes.len());
        let mut fresh = Vec::new();
        for (position, envelope) in envelopes.iter().enumerate() {
            let known = self
                .shared
                .submitter
                .precheck(envelope)
                .map_err(|status| Status::new(status.code(), format!("envelope {position}: {}", status.message())))?;
            if known.is_none() {
                fresh.push(envelope.clone());
            }
            results.push(known);
        }
        let mut applied = if fresh.is_empty() { Vec::new() } else { self.shared.submitter.submit(fresh).await? }.into_iter();
        let results = results.into_iter().map(|known| known.or_else(|| applied.next()).unwrap_or_default()).collect();
        Ok(Response::new(SubmitBatchResponse { results }))
    }

    async fn status(&self, _request: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let mut reply = status(&self.shared);
        reply.participants = self.shared.participant_names();
        Ok(Response::new(reply))
    }

    async fn query(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let reader = match Caller::of(&request)? {
            Caller::Reader(party) => Some(party),
            _ => None,
        };
        let request = request.into_inner();
        let query = request.query.ok_or_else(|| Status::invalid_argument("the query names nothing to ask"))?;
        self.wait_for_size(request.min_size).await?;
        // A view of the ledger, not a lock: building a large answer neither waits for an
        // apply nor holds one up, and runs off the async workers that serve Raft.
        let ledger = self.shared.ledger.view();
        tokio::task::spawn_blocking(move || answer(&ledger, reader.as_deref(), query))
            .await
            .map_err(|error| Status::internal(format!("the query failed: {error}")))?
            .map(Response::new)
    }

    type WatchObligationsStream = BoxStream<ObligationEvent>;

    async fn watch_obligations(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchObligationsStream>, Status> {
        full_reader(&request, "watch every obligation of an insurer")?;
        let WatchRequest { insurer, from_index } = request.into_inner();
        {
            let ledger = self.shared.ledger.view();
            known_insurer(ledger.genesis(), bounded("insurer", &insurer)?)?;
        }
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE_CAPACITY);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut applied = shared.applied.clone();
            // The next leaf index whose obligations are still to be sent. Obligations of
            // one leaf are created together, so resuming at a leaf index has no gaps.
            let mut next = from_index;
            loop {
                let batch: Vec<ObligationEvent> = {
                    let ledger = shared.ledger.view();
                    let filter = ObligationFilter { insurer: Some(insurer.clone()), from_index: Some(next), ..ObligationFilter::default() };
                    let state = ledger.state();
                    let mut found = query::obligations(state, &filter);
                    found.sort_by(|left, right| (left.created_at, &left.id).cmp(&(right.created_at, &right.id)));
                    next = next.max(ledger.size());
                    found
                        .into_iter()
                        .map(|obligation| ObligationEvent {
                            index: obligation.created_at,
                            json: serde_json::to_string(&query::ObligationRow::new(state, obligation)).unwrap_or_default(),
                        })
                        .collect()
                };
                for event in batch {
                    if sender.send(Ok(event)).await.is_err() {
                        return; // the client went away
                    }
                }
                if applied.changed().await.is_err() {
                    return; // the node is shutting down
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    type AuditLogStream = BoxStream<AuditBlock>;

    /// Also how a node that caught up from a snapshot fetches the blocks before it
    /// (`crate::backfill`): the interceptor admits genesis node identities to `Ledger`
    /// like any other genesis identity, and `full_reader` refuses only read identities.
    async fn audit_log(&self, request: Request<AuditLogRequest>) -> Result<Response<Self::AuditLogStream>, Status> {
        full_reader(&request, "read the whole log")?;
        let AuditLogRequest { from_log_index: from, follow } = request.into_inner();
        let complete_from = crate::raft::BlockHistory::open(&self.shared.db)
            .and_then(|history| history.complete_from())
            .map_err(|error| Status::internal(format!("cannot read the stored blocks: {error}")))?;
        if from < complete_from {
            return Err(Status::failed_precondition(format!(
                "this node holds the blocks from log index {complete_from} on (it caught up from a snapshot and is fetching the older ones from its peers: status history_from); ask another node for the history before that, or retry later"
            )));
        }
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE_CAPACITY);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            // Marked seen now: a block applied while the stored ones are sent wakes the
            // wait below, so none is missed between the two.
            let mut applied = shared.applied.clone();
            applied.borrow_and_update();
            let mut next = from;
            loop {
                let (db, sender) = (shared.db.clone(), sender.clone());
                // The stored bytes as they are: leaves hash the envelopes' bytes as replicated.
                let sent = tokio::task::spawn_blocking(move || {
                    let mut last = None;
                    for (log_index, block) in crate::raft::state_machine::blocks_from(&db, next) {
                        sender.blocking_send(Ok(AuditBlock { log_index, block })).ok()?;
                        last = Some(log_index);
                    }
                    Some(last)
                })
                .await;
                match sent {
                    Ok(Some(Some(last))) => next = last + 1,
                    Ok(Some(None)) => {}
                    _ => return, // the client went away
                }
                if !follow || applied.changed().await.is_err() {
                    return; // done, or the node is shutting down
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn inclusion_proof(&self, request: Request<InclusionProofRequest>) -> Result<Response<InclusionProofResponse>, Status> {
        full_reader(&request, "ask for proofs")?;
        let request = request.into_inner();
        let target = bounded("transaction id", &request.transaction_id)?;
        let ledger = self.shared.ledger.view();
        let (key, index) = query::resolve_transaction(ledger.state(), target).map_err(Status::not_found)?;
        let id = hex::encode(key.0);
        let size = if request.size == 0 {
            ledger
                .certification()
                .latest_certified()
                .map(|head| head.size)
                .ok_or_else(|| Status::failed_precondition("no checkpoint is certified yet"))?
        } else {
            request.size
        };
        if index >= size {
            return Err(Status::failed_precondition(format!(
                "transaction {id} is leaf {index}, not within size {size}; wait for a later checkpoint"
            )));
        }
        let merkle = ledger.merkle();
        let proof = merkle.inclusion_proof(index, size).ok_or_else(|| Status::out_of_range(format!("size {size} is beyond the log")))?;
        let root = merkle.root_at(size).expect("size checked by the proof");
        let leaf = merkle.leaf(index).expect("recorded leaves exist");
        Ok(Response::new(InclusionProofResponse {
            index,
            size,
            leaf: leaf.to_vec(),
            proof: hash_list(proof),
            root: root.to_vec(),
            transaction_id: id,
        }))
    }

    async fn consistency_proof(&self, request: Request<ConsistencyProofRequest>) -> Result<Response<ConsistencyProofResponse>, Status> {
        full_reader(&request, "ask for proofs")?;
        let ConsistencyProofRequest { old_size, new_size } = request.into_inner();
        let ledger = self.shared.ledger.view();
        let merkle = ledger.merkle();
        let proof = merkle
            .consistency_proof(old_size, new_size)
            .ok_or_else(|| Status::out_of_range(format!("sizes {old_size}..{new_size} are not within the log of {}", merkle.len())))?;
        Ok(Response::new(ConsistencyProofResponse {
            old_size,
            new_size,
            old_root: merkle.root_at(old_size).expect("checked").to_vec(),
            new_root: merkle.root_at(new_size).expect("checked").to_vec(),
            proof: hash_list(proof),
        }))
    }

    async fn genesis(&self, _request: Request<GenesisRequest>) -> Result<Response<pb::Genesis>, Status> {
        Ok(Response::new(self.shared.ledger.view().genesis().canonical().clone()))
    }
}

pub fn status(shared: &Shared) -> StatusResponse {
    let metrics = shared.raft.metrics().borrow().clone();
    let ledger = shared.ledger.view();
    let head = ledger.head();
    let certified = ledger.certification().latest_certified().cloned();
    let voters: BTreeSet<u64> = metrics.membership_config.membership().voter_ids().collect();
    let peers = shared.peers.lock().expect("peers lock");
    let peer_list: Vec<PeerStatus> = peers
        .iter()
        .map(|(node, (address, reachable))| PeerStatus {
            node: node.clone(),
            address: address.clone(),
            reachable: *reachable,
            voter: node_id(ledger.genesis(), node).is_some_and(|id| voters.contains(&id)),
        })
        .collect();
    let me_voter = node_id(ledger.genesis(), &shared.insurer).is_some_and(|id| voters.contains(&id));
    let reachable_voters = peer_list.iter().filter(|peer| peer.voter && peer.reachable).count() + usize::from(me_voter);
    let write_refusal = shared.health.write_refusal();
    // Read where `audit_log` reads it, so that status says what the stream serves.
    let history_from = crate::raft::BlockHistory::open(&shared.db).and_then(|history| history.complete_from()).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read from where the stored history is complete");
        u64::MAX
    });
    StatusResponse {
        node: shared.insurer.clone(),
        leader: leader_name(&shared.raft, ledger.genesis()),
        term: metrics.current_term,
        size: head.size,
        root: head.root.to_vec(),
        state_digest: head.state_digest.to_vec(),
        certified_size: certified.as_ref().map(|head| head.size).unwrap_or(0),
        certified_root: certified.as_ref().map(|head| head.root.to_vec()).unwrap_or_default(),
        certified_state_digest: certified.as_ref().map(|head| head.state_digest.to_vec()).unwrap_or_default(),
        certificate: certified.map(|head| ledger.certification().certificate(head.size)).unwrap_or_default(),
        applied_index: metrics.last_applied.map(|log_id| log_id.index).unwrap_or(0),
        peers: peer_list,
        ledger_id: ledger.genesis().ledger_id.clone(),
        genesis_hash: ledger.genesis().hash().to_vec(),
        evidence: ledger.certification().evidence.iter().map(|evidence| evidence.what.clone()).collect(),
        signing_halted: shared.signing_halted.load(Ordering::Relaxed),
        accepting_writes: metrics.current_leader.is_some() && reachable_voters * 2 > voters.len() && write_refusal.is_none(),
        participants: Vec::new(),
        awaiting_readmission: !shared.raft_allowed.load(Ordering::Relaxed),
        transport: if shared.security.is_insecure() { "INSECURE plain text, no authentication (--insecure)" } else { "mutual TLS" }.into(),
        misbehaviour: shared.misbehaviour.lines(),
        write_refusal_reason: write_refusal.unwrap_or_default(),
        history_from,
    }
}

#[derive(Clone)]
pub struct AdminService {
    pub shared: Arc<Shared>,
}

impl AdminService {
    /// The Raft id of insurer `node`'s node, if `caller` may make this `change` to it: the
    /// insurer itself (its insurer key, or its node key as operator certificate), or anyone
    /// with a `proposal` that more than two thirds of the insurers approved on the ledger
    /// for exactly this change (DESIGN.md decision 11). Such a proposal is executed once:
    /// this node records executing it on the ledger (signed with its node key) before it
    /// changes the membership, so a second use is refused by the ledger itself.
    async fn target(&self, caller: &Caller, node: &str, change: &str, address: &str, proposal: &str) -> Result<u64, Status> {
        let id = self.known_id(node)?;
        match caller {
            Caller::Insecure => return Ok(id),
            Caller::Party(Role::Insurer(insurer) | Role::Node(insurer)) if insurer == node => return Ok(id),
            _ => {}
        }
        if proposal.is_empty() {
            tracing::warn!(caller = %caller.name(), node, "refused a membership change of another insurer's node without a proposal");
            return Err(Status::permission_denied(format!(
                "{} may not change the membership of {node}'s node on its own: only {node} may (with its insurer key or its node key); any other change needs a proposal approved by more than two thirds of the insurers ('fairshare membership approve'), named with --proposal",
                caller.name()
            )));
        }
        // Only the leader changes the membership: check before the proposal is used up.
        if self.shared.raft.metrics().borrow().current_leader != Some(self.shared.raft.metrics().borrow().id) {
            return Err(self.not_leader());
        }
        self.execute_proposal(node, change, address, bounded("proposal", proposal)?).await?;
        Ok(id)
    }

    fn known_id(&self, node: &str) -> Result<u64, Status> {
        let ledger = self.shared.ledger.view();
        node_id(ledger.genesis(), node).ok_or_else(|| Status::invalid_argument(format!("'{}' is not an insurer of genesis", echo(node))))
    }

    /// Checks `proposal` against the ledger and records executing it (refused if it was).
    async fn execute_proposal(&self, node: &str, change: &str, address: &str, proposal: &str) -> Result<(), Status> {
        let (ledger_id, quorum) = {
            let ledger = self.shared.ledger.view();
            let known =
                ledger.state().membership.get(proposal).ok_or_else(|| {
                    Status::permission_denied(format!("there is no membership proposal '{}' on the ledger", echo(proposal)))
                })?;
            if known.node != node || known.change != change || known.address != address {
                return Err(Status::permission_denied(format!(
                    "proposal {proposal} is to {} {}'s node{}, not this change",
                    known.change,
                    known.node,
                    if known.address.is_empty() { String::new() } else { format!(" at {}", known.address) }
                )));
            }
            (ledger.genesis().ledger_id.clone(), ledger.genesis().quorum())
        };
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_micros() as u64);
        let body = pb::Transaction {
            ledger_id,
            nonce,
            kind: Some(pb::transaction::Kind::MembershipExecuted(pb::MembershipExecuted { proposal: proposal.to_string() })),
        };
        let signer = fairshare_protocol::genesis::node_signer(&self.shared.insurer);
        let envelope = fairshare_protocol::envelope::seal(&body, &signer, &self.shared.node_key);
        let mut verdicts = self.shared.submitter.submit(vec![envelope]).await?;
        let verdict = verdicts.pop().ok_or_else(|| Status::internal("no verdict for the execution record"))?;
        if verdict.verdict != VerdictKind::Applied as i32 {
            return Err(Status::permission_denied(format!(
                "proposal {proposal} cannot be executed: {} (it needs {quorum} approvals and is executed once)",
                verdict.message
            )));
        }
        tracing::info!(proposal, node, change, "executing an approved membership proposal (recorded at leaf {})", verdict.index);
        Ok(())
    }

    fn not_leader(&self) -> Status {
        let leader = {
            let ledger = self.shared.ledger.view();
            leader_name(&self.shared.raft, ledger.genesis())
        };
        Status::failed_precondition(format!("this node is not the leader; run the admin command against the leader ({leader})"))
    }

    /// The voters as the leader sees them, once it has confirmed with a quorum that it still
    /// leads and has applied what it committed. A follower (or a deposed leader) would
    /// answer from its own view, which can lag: `remove` said "is not a voter" while the
    /// leader's `add-learner` said "still a voter" (found by the chaos suite's
    /// wipe-and-replace). Only the leader answers these questions now.
    async fn voters(&self) -> Result<BTreeSet<u64>, Status> {
        let confirmed = tokio::time::timeout(LEADERSHIP_CHECK_DEADLINE, self.shared.raft.ensure_linearizable()).await;
        match confirmed {
            Err(_) => return Err(Status::unavailable("the leader could not confirm its leadership with a quorum in time; try again")),
            Ok(Err(openraft::error::RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(_)))) => {
                return Err(self.not_leader())
            }
            Ok(Err(error)) => return Err(Status::unavailable(format!("cannot confirm leadership: {error}"))),
            Ok(Ok(_)) => {}
        }
        Ok(self.shared.raft.metrics().borrow().membership_config.membership().voter_ids().collect())
    }
}

/// How long an admin command waits for the leader to confirm its leadership.
const LEADERSHIP_CHECK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

fn admin_error<E: std::fmt::Display>(error: E) -> Status {
    Status::failed_precondition(error.to_string())
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn add_learner(&self, request: Request<MemberRequest>) -> Result<Response<AdminResponse>, Status> {
        let caller = Caller::of(&request)?;
        let MemberRequest { node, address, proposal } = request.into_inner();
        if self.voters().await?.contains(&self.known_id(&node)?) {
            return Err(Status::failed_precondition(format!("{node} is still a voter; remove it first (see README, 'Replacing a node')")));
        }
        let scheme = self.shared.security.client.scheme();
        if !address.starts_with(&format!("{scheme}://")) {
            return Err(Status::invalid_argument(format!("the address must be a URL like {scheme}://127.0.0.1:7101")));
        }
        let id = self.target(&caller, &node, "add_learner", &address, &proposal).await?;
        // Lets the replacement take part in replication (it refuses Raft traffic until then).
        // Over TLS that accepts only the replaced node's genesis key: a process elsewhere
        // cannot pose as it.
        let key = {
            let ledger = self.shared.ledger.view();
            ledger.genesis().insurers.iter().find(|member| member.id == node).and_then(|member| member.node_key).map(|key| key.to_bytes())
        };
        admit(&address, &self.shared.security.transport_to(key, &format!("node {node}"))).await?;
        self.shared.raft.add_learner(id, BasicNode { addr: address.clone() }, true).await.map_err(|error| match error {
            openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_)) => self.not_leader(),
            other => admin_error(other),
        })?;
        Ok(Response::new(AdminResponse {
            message: format!("{node} added as a learner at {address} and caught up; promote it with 'fairshare-node admin promote {node}'"),
        }))
    }

    async fn promote(&self, request: Request<MemberRequest>) -> Result<Response<AdminResponse>, Status> {
        let caller = Caller::of(&request)?;
        let MemberRequest { node, proposal, .. } = request.into_inner();
        let id = self.target(&caller, &node, "promote", "", &proposal).await?;
        let mut voters = self.voters().await?;
        voters.insert(id);
        self.shared.raft.change_membership(voters, false).await.map_err(|error| match error {
            openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_)) => self.not_leader(),
            other => admin_error(other),
        })?;
        Ok(Response::new(AdminResponse { message: format!("{node} is a voter again") }))
    }

    async fn remove(&self, request: Request<MemberRequest>) -> Result<Response<AdminResponse>, Status> {
        let caller = Caller::of(&request)?;
        let MemberRequest { node, proposal, .. } = request.into_inner();
        let mut voters = self.voters().await?;
        let known = self.known_id(&node)?;
        if !voters.contains(&known) {
            return Err(Status::failed_precondition(format!("{node} is not a voter")));
        }
        let id = self.target(&caller, &node, "remove", "", &proposal).await?;
        if !voters.remove(&id) {
            return Err(Status::failed_precondition(format!("{node} is not a voter")));
        }
        self.shared.raft.change_membership(voters, false).await.map_err(|error| match error {
            openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_)) => self.not_leader(),
            other => admin_error(other),
        })?;
        Ok(Response::new(AdminResponse {
            message: format!("{node} removed from the voters; start it on an empty data dir, then 'admin add-learner'"),
        }))
    }

    async fn admit(&self, request: Request<MemberRequest>) -> Result<Response<AdminResponse>, Status> {
        // The leader asks, as a node; nobody else may let this node back into Raft.
        let caller = Caller::of(&request)?;
        if !matches!(caller, Caller::Insecure | Caller::Party(Role::Node(_))) {
            return Err(Status::permission_denied(format!("{} is not a node: only the leader re-admits a node", caller.name())));
        }
        let ledger_size = self.shared.ledger.view().size();
        crate::node::clear_replacement(&self.shared)?;
        Ok(Response::new(AdminResponse { message: format!("admitted; ledger size here is {ledger_size}") }))
    }
}

/// Asks a replacement node to accept Raft traffic.
async fn admit(address: &str, transport: &fairshare_api::Transport) -> Result<(), Status> {
    let deadlines = fairshare_api::Deadlines::new(std::time::Duration::from_secs(2), None);
    let mut client = fairshare_api::connect_admin(address, deadlines, transport)
        .await
        .map_err(|error| Status::unavailable(format!("cannot reach {error}")))?;
    client.admit(MemberRequest::default()).await?;
    Ok(())
}

/// The monitor's period from the API's bounds (empty: open); a bound that is no date, or a
/// `from` after `to`, is INVALID_ARGUMENT.
fn monitor_period(request: &MonitorRequest) -> Result<Period, Status> {
    let bound = |text: &str, what: &str| -> Result<Option<fairshare_protocol::Date>, Status> {
        if text.is_empty() {
            return Ok(None);
        }
        fairshare_protocol::Date::parse(&echo(text), what).map(Some).map_err(|rejection| Status::invalid_argument(rejection.message))
    };
    let period = Period { from: bound(&request.from, "from")?, to: bound(&request.to, "to")? };
    if let (Some(from), Some(to)) = (period.from, period.to) {
        if from > to {
            return Err(Status::invalid_argument(format!("the period starts on {from}, after it ends on {to}")));
        }
    }
    Ok(period)
}

/// The protocol's filter for the API's (empty strings: no filter).
fn obligation_filter(filter: fairshare_api::v1::ObligationFilter) -> ObligationFilter {
    ObligationFilter {
        insurer: (!filter.insurer.is_empty()).then_some(filter.insurer),
        party: (!filter.party.is_empty()).then_some(filter.party),
        plan: (!filter.plan.is_empty()).then_some(filter.plan),
        open: if filter.open_only {
            Some(true)
        } else if filter.settled_only {
            Some(false)
        } else {
            None
        },
        from_index: None,
    }
}

/// Refuses a read identity (a party's): it may read only what is owed and paid to it.
fn full_reader<T>(request: &Request<T>, what: &str) -> Result<(), Status> {
    match Caller::of(request)? {
        Caller::Reader(party) => Err(Status::permission_denied(format!(
            "the read identity of {party} may not {what}: it reads the obligations owed to {party} and its balance only"
        ))),
        _ => Ok(()),
    }
}

/// A read identity's query: its party's obligations (with what was paid on them) and its
/// balance; nothing else (plans, other parties' IBANs, the fund, the log).
fn reader_query(state: &fairshare_protocol::LedgerState, party: &str, query: Query) -> Result<String, Status> {
    match query {
        Query::Obligations(filter) => {
            if !filter.party.is_empty() && filter.party != party {
                return Err(Status::permission_denied(format!(
                    "the read identity of {party} reads only {party}'s obligations, not {}'s",
                    echo(&filter.party)
                )));
            }
            bounded("plan id", &filter.plan)?;
            let filter = ObligationFilter { insurer: None, party: Some(party.to_string()), ..obligation_filter(filter) };
            to_json(&query::obligation_rows(state, &filter))
        }
        Query::PartyBalances(_) => {
            to_json(&query::party_balances(state).into_iter().filter(|balance| balance.party == party).collect::<Vec<_>>())
        }
        _ => Err(Status::permission_denied(format!(
            "the read identity of {party} reads the obligations owed to {party} and its balance only (e.g. 'fairshare --as READER obligations')"
        ))),
    }
}

/// The verdict of a transaction by its hex id; NOT_FOUND names it when it is not a leaf.
fn recorded<'ledger>(ledger: &'ledger Ledger, id: &str) -> Result<&'ledger fairshare_protocol::state::Recorded, Status> {
    fairshare_protocol::envelope::parse_transaction_id(id)
        .and_then(|key| ledger.recorded(&key))
        .ok_or_else(|| Status::not_found(format!("transaction {id} is not in the log")))
}
