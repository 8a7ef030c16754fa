//! The write path: pre-checks, group commit on the leader, forwarding from followers.
//!
//! Any node accepts a submission. It refuses what can never be applied before it reaches
//! the log (garbage, an unknown signer, a bad signature, a nonce already used by another
//! transaction), answers a resubmission of a known transaction with its original verdict,
//! and hands the rest to the batcher.
//!
//! **Group commit.** The batcher keeps at most [`BLOCKS_IN_FLIGHT_MAX`] blocks in flight.
//! While every slot is busy, submissions wait in its queue; when a slot frees, the next
//! block (one Raft entry) takes everything waiting, up to `BLOCK_TRANSACTIONS_MAX`
//! envelopes and [`BLOCK_BYTES_MAX`] bytes, and each submitter is answered with its own
//! verdicts once the block is committed and applied. So under load blocks grow instead of
//! entries multiplying. A submission is never split over blocks.
//!
//! **Forwarding.** A follower forwards each block to the leader it knows (openraft does not
//! forward writes) over one kept-open channel per leader. A retry reuses the same
//! envelopes, so the transaction ids are the same and the state machine applies each at
//! most once.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairshare_api::v1::ledger_client::LedgerClient;
use fairshare_protocol::envelope::{open, transaction_id};
use fairshare_protocol::pb;
use fairshare_protocol::{BLOCK_TRANSACTIONS_MAX, MESSAGE_BYTES_MAX};
use openraft::error::{ClientWriteError, RaftError};
use prost::Message;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::health::Health;
use crate::ledger_cell::LedgerCell;
use crate::metrics::Metrics;
use crate::raft::log_store::REPLICATION_BYTES_MAX;
use crate::raft::{insurer_of, BlockRequest, OutcomeRecord, Raft, VerdictRecord};
use fairshare_api::v1::{SubmitBatchRequest, SubmitResponse, VerdictKind};
use fairshare_api::Transport;

/// How long a submission may wait for a leader and a commit before the caller is told
/// the ledger is not accepting writes now.
pub const COMMIT_DEADLINE: Duration = Duration::from_secs(8);
/// Submissions waiting for the batcher; beyond this, callers wait (back-pressure).
const SUBMIT_QUEUE_CAPACITY: usize = 4_096;
/// Blocks written (or forwarded) at once by one node. While all are in flight, new
/// submissions wait, and the next block takes all of them that fit: this is what makes
/// group commit group. More than one, so that the leader's log append, replication and
/// apply overlap; few, so that under load blocks are large rather than many.
pub const BLOCKS_IN_FLIGHT_MAX: usize = 3;
/// The most encoded envelope bytes the batcher packs into one block (a lone submission
/// larger than this still goes, in a block of its own). A block of this size, in base64
/// inside its Raft entry's JSON, fits one replication message, so a grouped block never
/// makes replication fall back to one entry per message.
pub const BLOCK_BYTES_MAX: usize = 2 * 1024 * 1024;
const _: () = assert!(BLOCK_BYTES_MAX.div_ceil(3) * 4 + 64 * 1024 <= REPLICATION_BYTES_MAX);
const _: () = assert!(BLOCK_BYTES_MAX + 64 * 1024 <= MESSAGE_BYTES_MAX);
/// The time to connect to the leader when forwarding; the call itself gets what is left
/// of [`COMMIT_DEADLINE`].
const FORWARD_CONNECT_DEADLINE: Duration = Duration::from_millis(500);

struct Pending {
    envelopes: Vec<pb::Envelope>,
    /// The encoded size of `envelopes` (framing included), counted once on submission.
    bytes: usize,
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
        let writer = BlockWriter { raft, transport, leader: Arc::new(Mutex::new(None)), metrics };
        tokio::spawn(batcher(receiver, move |batch| writer.clone().write(batch)));
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
        let bytes = envelopes.iter().map(|envelope| prost::length_delimiter_len(envelope.encoded_len()) + envelope.encoded_len()).sum();
        self.queue.send(Pending { envelopes, bytes, reply }).await.map_err(|_| Status::unavailable("the node is shutting down"))?;
        answer.await.map_err(|_| Status::unavailable("the node is shutting down"))?
    }
}

/// Packs waiting submissions into blocks and hands each to `write`, at most
/// [`BLOCKS_IN_FLIGHT_MAX`] at once. A slot is taken before the next submission is, so
/// while every slot is busy submissions wait in the queue, and the next block takes all
/// that are waiting, up to [`BLOCK_TRANSACTIONS_MAX`] envelopes and [`BLOCK_BYTES_MAX`]
/// bytes. A submission is never split over blocks: one that does not fit goes first in the
/// next block (alone if it is above a bound by itself). Ends when every [`Submitter`] is gone.
async fn batcher<Write, Written>(mut receiver: mpsc::Receiver<Pending>, write: Write)
where
    Write: Fn(Vec<Pending>) -> Written,
    Written: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(BLOCKS_IN_FLIGHT_MAX));
    let mut carried: Option<Pending> = None;
    loop {
        let slot = slots.clone().acquire_owned().await.expect("the batcher never closes its semaphore");
        let first = match carried.take() {
            Some(first) => first,
            None => match receiver.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let (mut count, mut bytes) = (first.envelopes.len(), first.bytes);
        let mut batch = vec![first];
        while count < BLOCK_TRANSACTIONS_MAX && bytes < BLOCK_BYTES_MAX {
            let Ok(next) = receiver.try_recv() else { break };
            if count + next.envelopes.len() > BLOCK_TRANSACTIONS_MAX || bytes + next.bytes > BLOCK_BYTES_MAX {
                carried = Some(next);
                break;
            }
            count += next.envelopes.len();
            bytes += next.bytes;
            batch.push(next);
        }
        // Writes run concurrently; openraft orders them in the log.
        let written = write(batch);
        tokio::spawn(async move {
            written.await;
            drop(slot);
        });
    }
}

/// The leader's address and a client on a channel to it.
type LeaderClient = (String, LedgerClient<Channel>);

/// Writes one block: through Raft on the leader, forwarded to it elsewhere.
#[derive(Clone)]
struct BlockWriter {
    raft: Raft,
    transport: Transport,
    /// The leader's address and a client on a channel to it, kept open across blocks
    /// (HTTP/2 carries the blocks in flight at once over one connection); replaced when
    /// the leader changes, dropped after a connection error.
    leader: Arc<Mutex<Option<LeaderClient>>>,
    metrics: Arc<Metrics>,
}

impl BlockWriter {
    async fn write(self, batch: Vec<Pending>) {
        let started = Instant::now();
        let envelopes: Vec<pb::Envelope> = batch.iter().flat_map(|pending| pending.envelopes.iter().cloned()).collect();
        self.metrics.blocks_written.fetch_add(1, Ordering::Relaxed);
        self.metrics.block_envelopes_written.fetch_add(envelopes.len() as u64, Ordering::Relaxed);
        let block = pb::Block { envelopes };
        let result = self.commit_or_forward(&block).await;
        match result {
            Ok(responses) => {
                self.metrics.observe_submit(started.elapsed());
                let mut responses = responses.into_iter();
                for pending in batch {
                    let mine: Vec<SubmitResponse> = responses.by_ref().take(pending.envelopes.len()).collect();
                    let _ = pending.reply.send(Ok(mine));
                }
            }
            // The leader refused the forwarded block as a whole for one envelope in it
            // (say a nonce another transaction used meanwhile): the others need not share
            // that answer. Each submission is forwarded again on its own.
            Err(status) if status.code() == Code::InvalidArgument && batch.len() > 1 => {
                let alone: Vec<_> = batch
                    .into_iter()
                    .map(|pending| {
                        let writer = self.clone();
                        tokio::spawn(async move {
                            let result = writer.commit_or_forward(&pb::Block { envelopes: pending.envelopes }).await;
                            writer.metrics.observe_submit(started.elapsed());
                            let _ = pending.reply.send(result);
                        })
                    })
                    .collect();
                for written in alone {
                    let _ = written.await;
                }
            }
            Err(status) => {
                self.metrics.observe_submit(started.elapsed());
                for pending in batch {
                    let _ = pending.reply.send(Err(status.clone()));
                }
            }
        }
    }

    /// Writes the block through Raft if this node leads, or forwards it to the leader;
    /// retries until [`COMMIT_DEADLINE`] while no leader is known or leadership moves. A
    /// refusal by the leader (`INVALID_ARGUMENT`) is final.
    async fn commit_or_forward(&self, block: &pb::Block) -> Result<Vec<SubmitResponse>, Status> {
        let raft = &self.raft;
        let deadline = Instant::now() + COMMIT_DEADLINE;
        let mut pause = Duration::from_millis(50);
        // Whether an earlier attempt may have reached the log before it failed (a forward
        // whose answer was lost, or an entry appended by this node just before it lost the
        // lead): then a DUPLICATE now is this very submission's own entry.
        let mut sent_before = false;
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
                        // Leadership moved: the entry may have been appended before it
                        // did, and the next leader may commit it.
                        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                            sent_before = true;
                            Err(())
                        }
                        Ok(Err(error)) => return Err(Status::unavailable(format!("the write failed: {error}"))),
                    }
                }
                Some(leader) => {
                    let address = raft.metrics().borrow().membership_config.membership().get_node(&leader).map(|node| node.addr.clone());
                    match address {
                        Some(address) => match self.forward(&address, block, deadline).await {
                            Err(status) if status.code() == Code::InvalidArgument => return Err(status),
                            forwarded => forwarded.map_err(|status| {
                                sent_before = true;
                                tracing::debug!(leader, %status, "forwarding failed; retrying");
                            }),
                        },
                        None => Err(()),
                    }
                }
                None => Err(()),
            };
            if let Ok(responses) = attempt {
                return Ok(if sent_before { answers_of_a_retry(responses) } else { responses });
            }
            if Instant::now() + pause >= deadline {
                return Err(not_committed());
            }
            tokio::time::sleep(pause).await; // back-off while an election settles
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Sends the block to the leader at `address` over the kept-open channel (opening one
    /// if there is none to that address), with what is left until `deadline` as the call's
    /// deadline.
    async fn forward(&self, address: &str, block: &pb::Block, deadline: Instant) -> Result<Vec<SubmitResponse>, Status> {
        let cached =
            self.leader.lock().expect("leader channel lock").as_ref().filter(|(at, _)| at == address).map(|(_, client)| client.clone());
        let mut client = match cached {
            Some(client) => client,
            None => {
                let deadlines = fairshare_api::Deadlines::new(FORWARD_CONNECT_DEADLINE, Some(COMMIT_DEADLINE));
                let client = fairshare_api::connect(address, deadlines, &self.transport)
                    .await
                    .map_err(|error| Status::unavailable(format!("leader unreachable: {error}")))?;
                *self.leader.lock().expect("leader channel lock") = Some((address.to_string(), client.clone()));
                client
            }
        };
        let mut request = tonic::Request::new(SubmitBatchRequest { envelopes: block.envelopes.clone() });
        request.set_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        match client.submit_batch(request).await {
            Ok(reply) => Ok(reply.into_inner().results),
            Err(status) => {
                if matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded) {
                    // Perhaps the connection broke: the next block connects afresh.
                    let mut leader = self.leader.lock().expect("leader channel lock");
                    if leader.as_ref().is_some_and(|(at, _)| at == address) {
                        *leader = None;
                    }
                }
                Err(status)
            }
        }
    }
}

/// The answers to a block sent again after an attempt whose answer was lost. The first
/// attempt may have been committed: the retry then finds each transaction already in the
/// log and the leader answers DUPLICATE. But the submitter sent it once, and is owed the
/// verdict its transaction got (APPLIED, or REJECTED with the reason), at the same index.
/// Only the first answer per transaction id is turned back: a second copy of the same
/// envelope in one submission stays a duplicate.
fn answers_of_a_retry(mut responses: Vec<SubmitResponse>) -> Vec<SubmitResponse> {
    let mut seen = std::collections::HashSet::new();
    for response in &mut responses {
        let first = seen.insert(response.transaction_id.clone());
        if first && response.verdict == VerdictKind::Duplicate as i32 {
            response.verdict = if response.reason == 0 { VerdictKind::Applied } else { VerdictKind::Rejected } as i32;
        }
    }
    responses
}

fn not_committed() -> Status {
    Status::unavailable(format!(
        "not committed within {}s: no leader with a quorum of nodes is reachable, so the ledger is not accepting writes rather than risk a fork; \
         resubmit the same envelope later (it is applied at most once)",
        COMMIT_DEADLINE.as_secs()
    ))
}

/// The ids of transactions in a batch, for logging.
pub fn ids(envelopes: &[pb::Envelope]) -> Vec<String> {
    envelopes.iter().map(|envelope| hex::encode(&transaction_id(envelope)[..6])).collect()
}

pub fn leader_name(raft: &Raft, genesis: &fairshare_protocol::Genesis) -> String {
    raft.metrics().borrow().current_leader.and_then(|leader| insurer_of(genesis, leader)).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_block_answers_its_own_duplicates_with_the_original_verdict() {
        let answer = |id: &str, verdict: VerdictKind, reason: i32| SubmitResponse {
            transaction_id: id.into(),
            verdict: verdict as i32,
            index: 7,
            reason,
            ..SubmitResponse::default()
        };
        let answers = answers_of_a_retry(vec![
            answer("a", VerdictKind::Duplicate, 0),
            answer("b", VerdictKind::Duplicate, pb::ReasonCode::UnknownObligation as i32),
            answer("a", VerdictKind::Duplicate, 0),
            answer("c", VerdictKind::Applied, 0),
        ]);
        let verdicts: Vec<i32> = answers.iter().map(|answer| answer.verdict).collect();
        let expected = [VerdictKind::Applied, VerdictKind::Rejected, VerdictKind::Duplicate, VerdictKind::Applied];
        assert_eq!(verdicts, expected.map(|verdict| verdict as i32));
        assert!(answers.iter().all(|answer| answer.index == 7), "the index is the original's");
    }

    /// A submission of `count` (empty) envelopes said to take `bytes`, and its answer.
    fn pending(count: usize, bytes: usize) -> (Pending, oneshot::Receiver<Result<Vec<SubmitResponse>, Status>>) {
        let (reply, answer) = oneshot::channel();
        (Pending { envelopes: vec![pb::Envelope::default(); count], bytes, reply }, answer)
    }

    /// A batcher whose blocks are held until `gate` gets a permit per block; `started`
    /// reports each block (the envelope count of each submission in it) as it is handed over.
    fn held_batcher() -> (mpsc::Sender<Pending>, mpsc::UnboundedReceiver<Vec<usize>>, Arc<Semaphore>) {
        let (queue, receiver) = mpsc::channel(SUBMIT_QUEUE_CAPACITY);
        let (report, started) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let held = gate.clone();
        tokio::spawn(batcher(receiver, move |batch: Vec<Pending>| {
            let (report, gate) = (report.clone(), held.clone());
            async move {
                let _ = report.send(batch.iter().map(|pending| pending.envelopes.len()).collect());
                gate.acquire().await.expect("the gate stays open").forget();
                for pending in batch {
                    let count = pending.envelopes.len();
                    let _ = pending.reply.send(Ok(vec![SubmitResponse::default(); count]));
                }
            }
        }));
        (queue, started, gate)
    }

    /// Occupies every slot with a block of one single submission each.
    async fn fill_every_slot(
        queue: &mpsc::Sender<Pending>,
        started: &mut mpsc::UnboundedReceiver<Vec<usize>>,
    ) -> Vec<oneshot::Receiver<Result<Vec<SubmitResponse>, Status>>> {
        let mut answers = Vec::new();
        for _ in 0..BLOCKS_IN_FLIGHT_MAX {
            let (submission, answer) = pending(1, 100);
            queue.send(submission).await.expect("batcher running");
            assert_eq!(started.recv().await, Some(vec![1]), "a free slot takes a lone submission at once");
            answers.push(answer);
        }
        answers
    }

    #[tokio::test]
    async fn submissions_waiting_for_a_slot_go_in_one_block_and_one_that_does_not_fit_goes_first_in_the_next() {
        let (queue, mut started, gate) = held_batcher();
        let mut answers = fill_every_slot(&queue, &mut started).await;
        for _ in 0..200 {
            let (submission, answer) = pending(1, 300);
            queue.send(submission).await.expect("batcher running");
            answers.push(answer);
        }
        let (large, large_answer) = pending(BLOCK_TRANSACTIONS_MAX - 100, 300 * (BLOCK_TRANSACTIONS_MAX - 100));
        queue.send(large).await.expect("batcher running");
        let (after, after_answer) = pending(1, 300);
        queue.send(after).await.expect("batcher running");
        assert!(started.try_recv().is_err(), "no block starts while every slot is busy");

        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![1; 200]), "the 200 waiting submissions make one block");
        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![BLOCK_TRANSACTIONS_MAX - 100, 1]), "the one that did not fit goes first, whole");
        gate.add_permits(BLOCKS_IN_FLIGHT_MAX);
        for answer in answers {
            assert_eq!(answer.await.expect("answered").expect("written").len(), 1, "each submission gets its own verdicts");
        }
        assert_eq!(large_answer.await.expect("answered").expect("written").len(), BLOCK_TRANSACTIONS_MAX - 100);
        assert_eq!(after_answer.await.expect("answered").expect("written").len(), 1);
    }

    #[tokio::test]
    async fn a_block_holds_at_most_block_bytes_max_unless_one_submission_is_larger() {
        let (queue, mut started, gate) = held_batcher();
        let _answers = fill_every_slot(&queue, &mut started).await;
        let half = BLOCK_BYTES_MAX / 2;
        for (count, bytes) in [(1, half), (2, half), (3, half), (4, BLOCK_BYTES_MAX + 1), (5, 10)] {
            queue.send(pending(count, bytes).0).await.expect("batcher running");
        }
        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![1, 2]), "two halves fill a block");
        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![3]), "the third half does not fit with the large one after it");
        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![4]), "and goes alone");
        gate.add_permits(1);
        assert_eq!(started.recv().await, Some(vec![5]));
    }
}
