//! The write path: pre-checks, group commit on the leader, forwarding from followers.
//!
//! Any node accepts a submission. It refuses what can never be applied before it reaches
//! the log (garbage, an unknown signer, a bad signature, a nonce already used by another
//! transaction), answers a resubmission of a known transaction with its original verdict,
//! and hands the rest to the batcher. The batcher on the leader packs whatever is waiting
//! into one block (one Raft entry, at most `BLOCK_TRANSACTIONS_MAX` envelopes) and
//! returns once the block is committed and applied. A follower forwards to the leader it
//! knows (openraft does not forward writes); a retry reuses the same envelope, so the
//! transaction id is the same and the state machine applies it at most once.

use crate::ledger_cell::LedgerCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fairshare_protocol::envelope::{open, transaction_id};
use fairshare_protocol::pb;
use fairshare_protocol::BLOCK_TRANSACTIONS_MAX;
use openraft::error::{ClientWriteError, RaftError};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::raft::{insurer_of, BlockRequest, OutcomeRecord, Raft, VerdictRecord};
use fairshare_api::v1::{SubmitBatchRequest, SubmitResponse, VerdictKind};
use fairshare_api::Transport;

/// How long a submission may wait for a leader and a commit before the caller is told
/// the ledger is not accepting writes now.
pub const COMMIT_DEADLINE: Duration = Duration::from_secs(8);
/// Submissions waiting for the batcher; beyond this, callers wait (back-pressure).
const SUBMIT_QUEUE_CAPACITY: usize = 4_096;

struct Pending {
    envelopes: Vec<pb::Envelope>,
    reply: oneshot::Sender<Result<Vec<SubmitResponse>, Status>>,
}

#[derive(Clone)]
pub struct Submitter {
    queue: mpsc::Sender<Pending>,
    ledger: Arc<LedgerCell>,
    health: Arc<Health>,
}

fn response(record: &OutcomeRecord, log_index: u64) -> SubmitResponse {
    let mut response = SubmitResponse { transaction_id: record.id.clone(), log_index, ..SubmitResponse::default() };
    match &record.verdict {
        VerdictRecord::Applied { index } => {
            response.verdict = VerdictKind::Applied as i32;
            response.index = *index;
        }
        VerdictRecord::Rejected { index, code, message } => {
            response.verdict = VerdictKind::Rejected as i32;
            response.index = *index;
            response.reason = *code;
            response.message = message.clone();
        }
        VerdictRecord::Duplicate { index, code, message } => {
            response.verdict = VerdictKind::Duplicate as i32;
            response.index = *index;
            response.reason = code.unwrap_or_default();
            response.message = message.clone();
        }
        VerdictRecord::Refused { code, message } | VerdictRecord::CheckpointIgnored { code, message } => {
            response.verdict =
                if matches!(record.verdict, VerdictRecord::Refused { .. }) { VerdictKind::Refused } else { VerdictKind::Checkpoint } as i32;
            response.reason = *code;
            response.message = message.clone();
        }
        VerdictRecord::Checkpoint { node, size, certified } => {
            response.verdict = VerdictKind::Checkpoint as i32;
            response.message = format!("checkpoint of {node} at size {size}{}", if *certified { ", certified" } else { "" });
        }
    }
    response
}

impl Submitter {
    /// `transport` is how this node reaches the leader to forward blocks.
    pub fn start(raft: Raft, transport: Transport, ledger: Arc<LedgerCell>, metrics: Arc<Metrics>, health: Arc<Health>) -> Submitter {
        let (queue, receiver) = mpsc::channel(SUBMIT_QUEUE_CAPACITY);
        tokio::spawn(batcher(raft, transport, receiver, metrics));
        Submitter { queue, ledger, health }
    }

    /// Checks what can be checked before the log. `Err` means refused: not in the log.
    /// `Ok(Some(_))` is the verdict of a transaction already in the log: it is answered even
    /// while this node refuses writes (low free space), as that writes nothing.
    pub fn precheck(&self, envelope: &pb::Envelope) -> Result<Option<SubmitResponse>, Status> {
        let ledger = self.ledger.view();
        let transaction = open(envelope, ledger.genesis()).map_err(|rejection| Status::invalid_argument(rejection.to_string()))?;
        if let Some(recorded) = ledger.recorded(&transaction.id) {
            let (code, message) = recorded.rejection.clone().map(|(code, message)| (Some(code), message)).unwrap_or((None, String::new()));
            return Ok(Some(response(
                &OutcomeRecord {
                    id: hex::encode(transaction.id),
                    verdict: VerdictRecord::Duplicate { index: recorded.index, code, message },
                },
                0,
            )));
        }
        self.health.check_write()?;
        fairshare_protocol::rules::check_nonce(ledger.state(), &transaction.signer, transaction.nonce)
            .map_err(|rejection| Status::invalid_argument(format!("{}: {}", rejection.code.as_str_name(), rejection.message)))?;
        Ok(None)
    }

    /// Submits envelopes that passed [`Submitter::precheck`]; returns once applied.
    pub async fn submit(&self, envelopes: Vec<pb::Envelope>) -> Result<Vec<SubmitResponse>, Status> {
        if envelopes.len() > BLOCK_TRANSACTIONS_MAX {
            return Err(Status::invalid_argument(format!("{} envelopes in one call; at most {BLOCK_TRANSACTIONS_MAX}", envelopes.len())));
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { envelopes, reply }).await.map_err(|_| Status::unavailable("the node is shutting down"))?;
        answer.await.map_err(|_| Status::unavailable("the node is shutting down"))?
    }
}

async fn batcher(raft: Raft, transport: Transport, mut receiver: mpsc::Receiver<Pending>, metrics: Arc<Metrics>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].envelopes.len();
        while count < BLOCK_TRANSACTIONS_MAX {
            match receiver.try_recv() {
                Ok(next) if count + next.envelopes.len() <= BLOCK_TRANSACTIONS_MAX => {
                    count += next.envelopes.len();
                    batch.push(next);
                }
                Ok(next) => {
                    // Does not fit this block: it goes first in a block of its own.
                    tokio::spawn(write_block(raft.clone(), transport.clone(), vec![next], metrics.clone()));
                    break;
                }
                Err(_) => break,
            }
        }
        // Writes run concurrently; openraft orders them in the log.
        tokio::spawn(write_block(raft.clone(), transport.clone(), batch, metrics.clone()));
    }
}

async fn write_block(raft: Raft, transport: Transport, batch: Vec<Pending>, metrics: Arc<Metrics>) {
    let started = Instant::now();
    let envelopes: Vec<pb::Envelope> = batch.iter().flat_map(|pending| pending.envelopes.iter().cloned()).collect();
    let block = pb::Block { envelopes };
    let result = commit_or_forward(&raft, &transport, &block).await;
    metrics.observe_submit(started.elapsed());
    match result {
        Ok(responses) => {
            let mut responses = responses.into_iter();
            for pending in batch {
                let mine: Vec<SubmitResponse> = responses.by_ref().take(pending.envelopes.len()).collect();
                let _ = pending.reply.send(Ok(mine));
            }
        }
        Err(status) => {
            for pending in batch {
                let _ = pending.reply.send(Err(status.clone()));
            }
        }
    }
}

/// Writes the block through Raft if this node leads, or forwards it to the leader;
/// retries until [`COMMIT_DEADLINE`] while no leader is known or leadership moves.
async fn commit_or_forward(raft: &Raft, transport: &Transport, block: &pb::Block) -> Result<Vec<SubmitResponse>, Status> {
    let deadline = Instant::now() + COMMIT_DEADLINE;
    let mut pause = Duration::from_millis(50);
    loop {
        let leader = raft.metrics().borrow().current_leader;
        let me = raft.metrics().borrow().id;
        let attempt = match leader {
            Some(leader) if leader == me => {
                let write = raft.client_write(BlockRequest { block: block.encode_to_vec() });
                match tokio::time::timeout_at(deadline.into(), write).await {
                    Err(_) => return Err(not_committed()),
                    Ok(Ok(written)) => {
                        let log_index = written.log_id.index;
                        return Ok(written.data.outcomes.iter().map(|record| response(record, log_index)).collect());
                    }
                    Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(()),
                    Ok(Err(error)) => return Err(Status::unavailable(format!("the write failed: {error}"))),
                }
            }
            Some(leader) => {
                let address = raft.metrics().borrow().membership_config.membership().get_node(&leader).map(|node| node.addr.clone());
                match address {
                    Some(address) => forward(&address, transport, block, deadline).await.map_err(|status| {
                        tracing::debug!(leader, %status, "forwarding failed; retrying");
                    }),
                    None => Err(()),
                }
            }
            None => Err(()),
        };
        if let Ok(responses) = attempt {
            return Ok(responses);
        }
        if Instant::now() + pause >= deadline {
            return Err(not_committed());
        }
        tokio::time::sleep(pause).await; // back-off while an election settles
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

fn not_committed() -> Status {
    Status::unavailable(format!(
        "not committed within {}s: no leader with a quorum of nodes is reachable, so the ledger is not accepting writes rather than risk a fork; \
         resubmit the same envelope later (it is applied at most once)",
        COMMIT_DEADLINE.as_secs()
    ))
}

async fn forward(address: &str, transport: &Transport, block: &pb::Block, deadline: Instant) -> Result<Vec<SubmitResponse>, Status> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut client = fairshare_api::connect(address, fairshare_api::Deadlines::new(Duration::from_millis(500), Some(remaining)), transport)
        .await
        .map_err(|error| Status::unavailable(format!("leader unreachable: {error}")))?;
    let reply = client.submit_batch(SubmitBatchRequest { envelopes: block.envelopes.clone() }).await?;
    Ok(reply.into_inner().results)
}

/// The ids of transactions in a batch, for logging.
pub fn ids(envelopes: &[pb::Envelope]) -> Vec<String> {
    envelopes.iter().map(|envelope| hex::encode(&transaction_id(envelope)[..6])).collect()
}

pub fn leader_name(raft: &Raft, genesis: &fairshare_protocol::Genesis) -> String {
    raft.metrics().borrow().current_leader.and_then(|leader| insurer_of(genesis, leader)).unwrap_or_default().to_string()
}
