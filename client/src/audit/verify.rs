//! `audit verify`: re-checks an export with nothing but the genesis' public keys.
//!
//! Two stages run at once, so that both cores work:
//!
//! - **opening** (one thread per core, at a lower priority): the blocks are cut into chunks
//!   of about [`CHUNK_ENVELOPES`] envelopes; each chunk is decoded, its ids and leaf hashes
//!   computed and its signatures checked with one batch verification ([`open_all`], which
//!   sums the terms of equal keys and falls back to one-by-one only to name a bad
//!   signature). Each opener takes the next chunk as it finishes one, up to
//!   [`CHUNKS_AHEAD_MAX`] chunks ahead of the applier.
//! - **re-execution** (one thread, in log order): [`Ledger::apply_opened`] applies every
//!   block exactly as a node does: the same rules, the same Merkle log, the same
//!   certification of checkpoints. A node records its head (size, root, state digest) after
//!   every block and at every multiple of the checkpoint interval; the auditor only at the
//!   sizes that checkpoint signatures in the export name (found by a pre-scan), since the
//!   digest walks the whole state.
//!
//! Then the conclusions: every refused envelope is a finding (honest nodes refuse those
//! before the log); every checkpoint that a quorum of nodes signed must equal the
//! re-executed head, or the history was altered; the trailer's claims (the exporting node's
//! size, root and certified size) must hold; and a node that signed two different
//! checkpoints for one size, or one that contradicts the certified history, has signed
//! evidence against itself.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{mpsc, Arc};

use fairshare_protocol::envelope::{decode_block, open_all, ReplicatedBlock, VerifiedTransaction};
use fairshare_protocol::genesis::Role;
use fairshare_protocol::ledger::Head;
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::{Genesis, Ledger, Rejection, Verdict};
use indicatif::ProgressBar;
use prost::Message;

use super::file::{Export, FORMAT_VERSIONS_READ};
use super::report::{Checks, EvidenceReport, Finding, Report, SignedStatement, Suspect};

/// Envelopes per batch verification: large enough that batching pays (the gain flattens
/// out past a few hundred signatures), small enough that the applier is never far behind.
pub const CHUNK_ENVELOPES: usize = 1_024;
/// Chunks the openers may be ahead of the applier. Deep, because the applier stalls for a
/// whole state digest at a checkpoint (a large fraction of a second on a large state) and
/// the openers must keep both cores busy meanwhile; bounded, at about 100 MB of opened
/// transactions.
const CHUNKS_AHEAD_MAX: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "the export starts at log index {from}, not at the beginning of the log; re-execution needs the whole log from genesis: export without --from"
    )]
    Partial { from: u64 },
}

/// How to verify.
pub struct Options {
    /// The genesis hash the auditor trusts (from `--genesis FILE`); `None`: not pinned.
    pub pinned_genesis: Option<[u8; 32]>,
    /// Advanced by one per envelope applied; hidden by default.
    pub progress: ProgressBar,
    /// Certified checkpoints held elsewhere (the nodes' newest, fetched by `audit verify
    /// --against`): the export must reach each one and agree with it.
    pub certified_elsewhere: Vec<CertifiedClaim>,
}

impl Default for Options {
    fn default() -> Options {
        Options { pinned_genesis: None, progress: ProgressBar::hidden(), certified_elsewhere: Vec::new() }
    }
}

/// A checkpoint with the certificate that is said to certify it, and who said so.
#[derive(Debug, Clone, PartialEq)]
pub struct CertifiedClaim {
    /// "the export's trailer", "node zk (https://…)".
    pub source: String,
    pub checkpoint: pb::Checkpoint,
    pub certificate: Vec<pb::Envelope>,
}

impl CertifiedClaim {
    /// The newest certified checkpoint a node's status names, with its certificate; `None`
    /// when it has none yet.
    pub fn of_status(source: String, status: fairshare_api::v1::StatusResponse) -> Option<CertifiedClaim> {
        (status.certified_size > 0).then_some(CertifiedClaim {
            source,
            checkpoint: pb::Checkpoint {
                ledger_id: status.ledger_id,
                size: status.certified_size,
                root: status.certified_root,
                state_digest: status.certified_state_digest,
            },
            certificate: status.certificate,
        })
    }
}

type Opened = Vec<Result<VerifiedTransaction, Rejection>>;

/// A checkpoint signature that opened (authentic, by a node key, for this ledger).
struct Statement {
    log_index: u64,
    node: String,
    checkpoint: pb::Checkpoint,
    envelope: pb::Envelope,
}

/// What re-execution leaves behind for the conclusions.
#[derive(Default)]
struct Run {
    checks: Checks,
    findings: Vec<Finding>,
    statements: Vec<Statement>,
    /// Heads recorded where a quorum names a size; roots where fewer do.
    heads: BTreeMap<u64, Head>,
    roots: BTreeMap<u64, [u8; 32]>,
    /// (log index, leaves after the block), for every block in order.
    boundaries: Vec<(u64, u64)>,
    /// Rejected leaves: the first places to look when a range of history is in doubt.
    rejections: Vec<Suspect>,
}

/// Verifies an export. `Err` only when it cannot be verified at all (a partial export);
/// everything wrong with the log or the file is a finding in the report.
pub fn verify(export: &Export, options: &Options) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let Some(genesis) = check_genesis(export, options, &mut report)? else {
        report.conclude();
        return Ok(report);
    };
    let mut run = Run::default();
    let blocks = decode_blocks(export, &mut run);
    let named = named_sizes(&blocks, genesis.quorum());
    let mut ledger = Ledger::new(genesis.clone());
    check_block_order(export, &mut run);
    options.progress.set_length(blocks.iter().map(|(_, block)| block.block.envelopes.len() as u64).sum());
    re_execute(&blocks, &genesis, &named, &mut ledger, &mut run, &options.progress);
    options.progress.finish_and_clear();
    conclude(export, &genesis, &ledger, run, &options.certified_elsewhere, &mut report);
    // Freeing a re-executed state of millions of entries takes a noticeable fraction of a
    // second; the verdict need not wait for it. (Should no thread start, the closure and
    // the ledger in it are dropped right here.)
    let _ = std::thread::Builder::new().name("audit-free".into()).spawn(move || drop(ledger));
    Ok(report)
}

/// The header and its genesis; `None` when verification cannot go on (a finding says why).
fn check_genesis(export: &Export, options: &Options, report: &mut Report) -> Result<Option<Arc<Genesis>>, VerifyError> {
    let Some(header) = &export.header else {
        let what = export.damage.as_ref().map_or("the file has no header".to_string(), |damage| damage.what.clone());
        report.findings.push(Finding::at("damaged_file", None, format!("not an export: {what}")));
        return Ok(None);
    };
    report.exported_from = header.exported_from.clone();
    if !FORMAT_VERSIONS_READ.contains(&header.format_version) {
        let what = format!("the export has format version {}; this client reads versions {FORMAT_VERSIONS_READ:?}", header.format_version);
        report.findings.push(Finding::at("unsupported_format", None, what));
        return Ok(None);
    }
    let Some(canonical) = &header.genesis else {
        report.findings.push(Finding::at("bad_genesis", None, "the header carries no genesis".into()));
        return Ok(None);
    };
    let genesis = match Genesis::from_pb(canonical) {
        Ok(genesis) => genesis,
        Err(error) => {
            report.findings.push(Finding::at("bad_genesis", None, format!("the genesis in the header is not valid: {error}")));
            return Ok(None);
        }
    };
    let hash = genesis.hash();
    debug_assert_eq!(hash.as_slice(), <sha2::Sha256 as sha2::Digest>::digest(canonical.encode_to_vec()).as_slice());
    report.ledger_id = genesis.ledger_id.clone();
    report.genesis_hash = hex::encode(hash);
    if header.genesis_hash != hash {
        let what = format!(
            "the header's genesis hash {} is not the hash {} of the genesis it carries",
            hex::encode(&header.genesis_hash),
            hex::encode(hash)
        );
        report.findings.push(Finding::at("bad_genesis", None, what));
        return Ok(None);
    }
    report.checks.genesis = true;
    if let Some(pinned) = options.pinned_genesis {
        report.checks.genesis_pinned = Some(pinned == hash);
        if pinned != hash {
            let what = format!(
                "the export is of genesis {}, not of the pinned genesis {}: another ledger, or one with other keys",
                hex::encode(hash),
                hex::encode(pinned)
            );
            report.findings.push(Finding::at("genesis_not_pinned", None, what));
            return Ok(None);
        }
    }
    if header.from_log_index > 0 {
        return Err(VerifyError::Partial { from: header.from_log_index });
    }
    Ok(Some(Arc::new(genesis)))
}

fn check_block_order(export: &Export, run: &mut Run) {
    for pair in export.blocks.windows(2) {
        if pair[1].log_index <= pair[0].log_index {
            let what = format!(
                "block at log index {} follows log index {}: blocks were reordered or repeated",
                pair[1].log_index, pair[0].log_index
            );
            run.findings.push(Finding::at("blocks_out_of_order", Some(pair[1].log_index), what));
        }
    }
}

/// Every block's bytes, split and decoded strictly ([`decode_block`]), in file order. A
/// block that is not a block is a finding and counts as empty.
fn decode_blocks(export: &Export, run: &mut Run) -> Vec<(u64, ReplicatedBlock)> {
    use rayon::prelude::*;
    let decoded: Vec<_> = export.blocks.par_iter().map(|exported| (exported.log_index, decode_block(&exported.block))).collect();
    decoded
        .into_iter()
        .map(|(log_index, block)| {
            let block = block.unwrap_or_else(|malformed| {
                let what = format!("the block's bytes are not a block ({malformed}); honest nodes replicate only blocks they encoded");
                run.findings.push(Finding::at("malformed_block", Some(log_index), what));
                ReplicatedBlock::default()
            });
            (log_index, block)
        })
        .collect()
}

/// The sizes that checkpoint signatures in the export name, found by a pre-scan.
struct Named {
    /// Every named size: the Merkle root is recorded there (O(log n) from the frontier).
    all: BTreeSet<u64>,
    /// Sizes where a quorum of nodes claims one head: only these can be certified, so only
    /// here is the full head recorded (the state digest walks the whole state).
    quorum: BTreeSet<u64>,
}

/// (size, root, state digest) as a checkpoint signature states it.
type ClaimedHead = (u64, Vec<u8>, Vec<u8>);

/// Only node keys sign checkpoints, so only their envelopes are decoded. Unverified: a
/// superset is harmless (a head recorded for nothing); a forged or removed statement shows
/// up when re-execution checks every signature and certificate.
fn named_sizes(blocks: &[(u64, ReplicatedBlock)], quorum: usize) -> Named {
    let mut claims: BTreeMap<ClaimedHead, BTreeSet<&str>> = BTreeMap::new();
    for envelope in blocks.iter().flat_map(|(_, block)| &block.block.envelopes) {
        let Some(node) = envelope.signer.strip_prefix("node:") else { continue };
        let Ok(pb::Transaction { kind: Some(Kind::CheckpointSigned(signed)), .. }) = pb::Transaction::decode(envelope.body.as_slice())
        else {
            continue;
        };
        if let (Some(checkpoint), true) = (signed.checkpoint, signed.node == node) {
            claims.entry((checkpoint.size, checkpoint.root, checkpoint.state_digest)).or_default().insert(node);
        }
    }
    Named {
        all: claims.keys().map(|(size, _, _)| *size).collect(),
        quorum: claims.iter().filter(|(_, nodes)| nodes.len() >= quorum).map(|((size, _, _), _)| *size).collect(),
    }
}

/// Consecutive blocks of about [`CHUNK_ENVELOPES`] envelopes (a bigger block is one chunk).
fn chunks(blocks: &[(u64, ReplicatedBlock)]) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut envelopes = 0;
    for (position, (_, block)) in blocks.iter().enumerate() {
        envelopes += block.block.envelopes.len();
        if envelopes >= CHUNK_ENVELOPES {
            chunks.push(start..position + 1);
            start = position + 1;
            envelopes = 0;
        }
    }
    if start < blocks.len() {
        chunks.push(start..blocks.len());
    }
    chunks
}

/// Opens the envelopes of some blocks with one batch verification; one result list per
/// block, with the envelopes whose bytes were not canonical refused.
fn open_chunk(blocks: &[&ReplicatedBlock], genesis: &Genesis) -> Vec<Opened> {
    // Batching across blocks: each envelope's verdict is independent of its neighbours.
    let together: Vec<&pb::Envelope> = blocks.iter().flat_map(|block| &block.block.envelopes).collect();
    let mut opened = open_all(&together, genesis).into_iter();
    blocks
        .iter()
        .map(|block| {
            let mut of_block: Opened = opened.by_ref().take(block.block.envelopes.len()).collect();
            block.refuse_non_canonical(&mut of_block);
            of_block
        })
        .collect()
}

/// How much lower the openers' scheduling priority is than the applier's (a nice value).
/// Both stages want every core, but only the openers can be spread over cores: the applier
/// is the one that must never wait for a core, or it becomes the critical path.
const OPENER_NICENESS: i32 = 10;

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux the nice value is per thread: this lowers only the calling thread. A failure
    // leaves the priority as it was, which costs speed and nothing else.
    // SAFETY: plain system calls on this thread's own id, with no pointers.
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, OPENER_NICENESS);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

/// What the openers share: the tokens that bound how far ahead they may run, and the
/// chunks not yet taken, each with the channel its opened envelopes go back on.
struct Work {
    tokens: mpsc::Receiver<()>,
    chunks: std::iter::Enumerate<std::vec::IntoIter<mpsc::SyncSender<Vec<Opened>>>>,
}

/// Opens chunks on all cores, ahead of this thread, which applies them in order.
///
/// Each opener takes a token and then the next chunk, so a slow chunk holds up no other
/// opener, and hands the opened chunk back on that chunk's own channel, where the applier
/// waits for it; the applier returns a token per chunk applied. Nothing deadlocks: the
/// chunk the applier waits for was taken by an opener that holds its channel and finishes
/// it unhindered. Nothing hangs on a panic either: an opener that panics drops its chunk's
/// channel, so the applier's wait ends in a panic too, and an applier that panics drops
/// the token sender, so waiting openers stop.
fn re_execute(
    all: &[(u64, ReplicatedBlock)],
    genesis: &Genesis,
    named: &Named,
    ledger: &mut Ledger,
    run: &mut Run,
    progress: &ProgressBar,
) {
    let chunks = chunks(all);
    let openers = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, chunks.len().clamp(1, CHUNKS_AHEAD_MAX));
    let (senders, receivers): (Vec<_>, Vec<_>) = chunks.iter().map(|_| mpsc::sync_channel::<Vec<Opened>>(1)).unzip();
    std::thread::scope(|scope| {
        let (give_token, tokens) = mpsc::sync_channel::<()>(CHUNKS_AHEAD_MAX);
        for _ in 0..CHUNKS_AHEAD_MAX {
            give_token.send(()).expect("the token channel has room for every token");
        }
        let work = Arc::new(std::sync::Mutex::new(Work { tokens, chunks: senders.into_iter().enumerate() }));
        for opener in 0..openers {
            let (chunks, work) = (&chunks, work.clone());
            std::thread::Builder::new()
                .name(format!("audit-open-{opener}"))
                .spawn_scoped(scope, move || {
                    lower_this_threads_priority();
                    loop {
                        let taken = {
                            let mut work = work.lock().expect("nothing panics while holding the work lock");
                            match work.tokens.recv() {
                                Ok(()) => work.chunks.next(),
                                Err(_) => None, // the applier stopped
                            }
                        };
                        let Some((number, sender)) = taken else { return };
                        let blocks: Vec<&ReplicatedBlock> = all[chunks[number].clone()].iter().map(|(_, block)| block).collect();
                        if sender.send(open_chunk(&blocks, genesis)).is_err() {
                            return; // the applier stopped
                        }
                    }
                })
                .expect("start an opener thread");
        }
        for (range, receiver) in chunks.iter().zip(receivers) {
            let opened = receiver.recv().expect("the opener of this chunk panicked");
            for ((log_index, block), opened) in all[range.clone()].iter().zip(opened) {
                apply_block(*log_index, block, opened, named, ledger, run);
                progress.inc(block.block.envelopes.len() as u64);
            }
            // Never blocks: at most CHUNKS_AHEAD_MAX tokens exist. Dropping one would only slow the openers.
            let _ = give_token.try_send(());
        }
        // Openers still waiting for a token (there are no chunks left) stop now.
        drop(give_token);
    });
    assert_eq!(run.boundaries.len(), all.len(), "every block was applied");
}

fn apply_block(log_index: u64, replicated: &ReplicatedBlock, opened: Opened, named: &Named, ledger: &mut Ledger, run: &mut Run) {
    let block = &replicated.block;
    let checks = &mut run.checks;
    checks.blocks += 1;
    checks.envelopes += block.envelopes.len() as u64;
    for (envelope, opened) in block.envelopes.iter().zip(&opened) {
        let Ok(transaction) = opened else { continue };
        checks.signatures_verified += 1;
        if let (Kind::CheckpointSigned(signed), Role::Node(node)) = (&transaction.kind, &transaction.role) {
            let checkpoint = signed.checkpoint.as_ref().filter(|checkpoint| checkpoint.ledger_id == ledger.genesis().ledger_id);
            if let (Some(checkpoint), true) = (checkpoint, signed.node == *node) {
                checks.checkpoint_statements += 1;
                run.statements.push(Statement {
                    log_index,
                    node: node.clone(),
                    checkpoint: checkpoint.clone(),
                    envelope: envelope.clone(),
                });
            }
        }
    }
    let size_before = ledger.size();
    // Heads where a quorum names the size; also, for their roots, at the multiples of the
    // checkpoint interval inside a block that fewer name (the root there is known only
    // while the block is applied).
    let interval = ledger.checkpoint_interval();
    let record = |size: u64| named.quorum.contains(&size) || (size.is_multiple_of(interval) && named.all.contains(&size));
    let outcomes = ledger.apply_opened(block, opened, &record);
    for (position, (outcome, envelope)) in outcomes.iter().zip(&block.envelopes).enumerate() {
        match &outcome.verdict {
            Verdict::Applied { .. } => checks.applied += 1,
            Verdict::Rejected { index, rejection } => {
                checks.rejected += 1;
                run.rejections.push(Suspect {
                    log_index,
                    leaf: *index,
                    transaction_id: hex::encode(outcome.id),
                    why: format!("signed by '{}', rejected: {}: {}", envelope.signer, rejection.code.as_str_name(), rejection.message),
                });
            }
            Verdict::Duplicate { .. } => checks.duplicates += 1,
            Verdict::Refused { rejection } => {
                checks.refused += 1;
                let (kind, is) = if replicated.non_canonical.contains(&position) {
                    ("non_canonical_envelope", "is refused")
                } else {
                    ("bad_envelope", "is not authentic")
                };
                let what = format!(
                    "envelope {position} of the block (signer '{}') {is}: {}: {}; honest nodes refuse such envelopes before the log, so it was put there or altered afterwards",
                    envelope.signer,
                    rejection.code.as_str_name(),
                    rejection.message
                );
                run.findings.push(Finding { transaction_id: Some(hex::encode(outcome.id)), ..Finding::at(kind, Some(log_index), what) });
            }
            Verdict::CheckpointRecorded { .. } | Verdict::CheckpointIgnored { .. } => {}
        }
    }
    let size = ledger.size();
    checks.leaves = size;
    if size > size_before {
        for (&at, head) in ledger.certification().heads.range(size_before + 1..=size) {
            if named.quorum.contains(&at) {
                run.heads.insert(at, head.clone());
            } else if named.all.contains(&at) {
                run.roots.insert(at, head.root);
            }
        }
        if named.all.contains(&size) && !named.quorum.contains(&size) {
            run.roots.insert(size, ledger.merkle().root());
        }
    }
    run.boundaries.push((log_index, size));
}

/// The re-executed log at one size, as far as it can be known.
enum Reexecuted<'run> {
    /// A block boundary or a multiple of the checkpoint interval, where the head was recorded.
    Head(&'run Head),
    /// A block boundary or a multiple of the checkpoint interval, where only the root was
    /// recorded (fewer than a quorum named it).
    Boundary([u8; 32]),
    /// Within the log but neither a block boundary nor a multiple of the checkpoint
    /// interval: only the Merkle root is known.
    Within([u8; 32]),
    /// Beyond the log.
    Beyond,
}

impl Reexecuted<'_> {
    fn matches(&self, checkpoint: &pb::Checkpoint) -> bool {
        match self {
            Reexecuted::Head(head) => checkpoint.root == head.root && checkpoint.state_digest == head.state_digest,
            // The digest is not known here; no certificate depends on it.
            Reexecuted::Boundary(root) => checkpoint.root == root,
            Reexecuted::Within(_) | Reexecuted::Beyond => false,
        }
    }

    fn root(&self) -> Option<[u8; 32]> {
        match self {
            Reexecuted::Head(head) => Some(head.root),
            Reexecuted::Boundary(root) | Reexecuted::Within(root) => Some(*root),
            Reexecuted::Beyond => None,
        }
    }
}

struct Conclusions<'run> {
    ledger: &'run Ledger,
    run: &'run Run,
    final_head: Head,
    /// Sizes where some node's signed checkpoint equals the re-executed log.
    agreeing_sizes: BTreeSet<u64>,
}

impl Conclusions<'_> {
    /// The largest size below `size` where the re-executed log agrees with a signed
    /// checkpoint: every leaf before it is as the nodes signed it.
    fn last_agreeing_before(&self, size: u64) -> u64 {
        self.agreeing_sizes.range(..size).next_back().copied().unwrap_or(0)
    }

    fn at(&self, size: u64) -> Reexecuted<'_> {
        if let Some(head) = self.run.heads.get(&size) {
            return Reexecuted::Head(head);
        }
        if size == self.final_head.size {
            return Reexecuted::Head(&self.final_head);
        }
        if let Some(root) = self.run.roots.get(&size) {
            return Reexecuted::Boundary(*root);
        }
        // O(size): only for sizes no statement names as a boundary of this log.
        match self.ledger.merkle().root_at(size) {
            Some(root) => Reexecuted::Within(root),
            None => Reexecuted::Beyond,
        }
    }

    /// The first block after which the log holds at least `size` leaves (else the last block).
    fn block_reaching(&self, size: u64) -> Option<u64> {
        let boundaries = &self.run.boundaries;
        boundaries.iter().find(|(_, leaves)| *leaves >= size).or(boundaries.last()).map(|(log_index, _)| *log_index)
    }

    /// The first block that may hold what comes after leaf `size` of a history that agrees
    /// up to `size`: the block that crosses `size`, or the first block that starts at it,
    /// even one that adds no leaf, since an alteration (a dropped transaction) may have
    /// emptied it. Never a block that ends at or before `size` having started before it:
    /// those leaves are the agreed ones.
    fn first_block_from(&self, size: u64) -> Option<u64> {
        let mut before = 0;
        for &(log_index, after) in &self.run.boundaries {
            if after > size || before >= size {
                return Some(log_index);
            }
            before = after;
        }
        None
    }

    /// The blocks an alteration between an agreeing size and a disagreeing one can be in,
    /// and a sentence saying how precisely that is known.
    fn altered_range(&self, agreeing: u64, disagreeing: u64) -> (Option<u64>, Option<u64>, String) {
        let last = self.run.boundaries.last().map(|(log_index, _)| *log_index);
        let from = self.first_block_from(agreeing).or(last);
        let to = self.block_reaching(disagreeing);
        let leaves_end = disagreeing.min(self.final_head.size);
        let precision = match (from, to) {
            (Some(from), Some(to)) if from == to => format!("the altered entry is in the block at log index {from}"),
            (Some(from), Some(to)) => format!(
                "the altered entry is in one of the blocks at log index {from}..{to} (leaves {agreeing}..{leaves_end} of this file, and any transaction dropped from among them); between two signed heads this file alone cannot tell which entry: compare these blocks with another node's log ('fairshare audit export --from {from}' on another node)"
            ),
            _ => "the log holds no block to point at".to_string(),
        };
        (from, to, precision)
    }
}

/// (size, root, state digest) as signed.
type SignedHead<'run> = (u64, &'run [u8], &'run [u8]);

fn names(nodes: &BTreeSet<&str>) -> String {
    nodes.iter().copied().collect::<Vec<_>>().join(", ")
}

fn conclude(export: &Export, genesis: &Genesis, ledger: &Ledger, mut run: Run, elsewhere: &[CertifiedClaim], report: &mut Report) {
    let final_head = ledger.head();
    let certification = ledger.certification();
    let run_checks = std::mem::take(&mut run.checks);
    let mut findings = std::mem::take(&mut run.findings);
    let mut evidence = Vec::new();
    let conclusions = Conclusions { ledger, run: &run, final_head: final_head.clone(), agreeing_sizes: BTreeSet::new() };
    let quorum = genesis.quorum();

    // Which statements agree with the re-executed log.
    let matching: Vec<bool> =
        run.statements.iter().map(|statement| conclusions.at(statement.checkpoint.size).matches(&statement.checkpoint)).collect();
    let agreeing_sizes: BTreeSet<u64> =
        run.statements.iter().zip(&matching).filter(|(_, agrees)| **agrees).map(|(statement, _)| statement.checkpoint.size).collect();
    let conclusions = Conclusions { agreeing_sizes, ..conclusions };

    // Checkpoints a quorum of nodes signed: each must be the re-executed head.
    let mut claims: BTreeMap<SignedHead, BTreeSet<&str>> = BTreeMap::new();
    for statement in &run.statements {
        let checkpoint = &statement.checkpoint;
        claims.entry((checkpoint.size, &checkpoint.root, &checkpoint.state_digest)).or_default().insert(&statement.node);
    }
    let disagreeing_claims: Vec<(u64, &[u8], &BTreeSet<&str>)> = claims
        .iter()
        .filter(|(_, nodes)| nodes.len() >= quorum)
        .filter(|((size, root, digest), _)| {
            let checkpoint =
                pb::Checkpoint { ledger_id: genesis.ledger_id.clone(), size: *size, root: root.to_vec(), state_digest: digest.to_vec() };
            !conclusions.at(*size).matches(&checkpoint)
        })
        .map(|((size, root, _), nodes)| (*size, *root, nodes))
        .collect();
    // Once a quorum's checkpoint disagrees, every disagreement after the last agreeing size
    // is part of that one alteration, not news about the nodes.
    let altered_after = disagreeing_claims.first().map(|(size, _, _)| conclusions.last_agreeing_before(*size));
    if let Some((size, root, nodes)) = disagreeing_claims.first() {
        findings.push(history_altered(&conclusions, *size, root, nodes, disagreeing_claims.len() - 1));
    }

    // Evidence: two different checkpoints for one size by one node.
    let mut by_node_size: BTreeMap<(&str, u64), Vec<&Statement>> = BTreeMap::new();
    for statement in &run.statements {
        let seen = by_node_size.entry((&statement.node, statement.checkpoint.size)).or_default();
        if !seen.iter().any(|earlier| earlier.checkpoint == statement.checkpoint) {
            seen.push(statement);
        }
    }
    let mut accused: BTreeSet<(&str, u64)> = BTreeSet::new();
    for ((node, size), statements) in &by_node_size {
        if statements.len() > 1 {
            accused.insert((node, *size));
            evidence.push(EvidenceReport {
                node: node.to_string(),
                size: *size,
                kind: "conflicting_statements".into(),
                what: format!(
                    "node {node} signed {} different checkpoints for size {size} (log indexes {}); honest nodes never do",
                    statements.len(),
                    statements.iter().map(|statement| statement.log_index.to_string()).collect::<Vec<_>>().join(", ")
                ),
                statements: statements.iter().map(|statement| SignedStatement::of(&statement.envelope)).collect(),
            });
        }
    }

    // A statement that contradicts the log: evidence if the log there is certified (and
    // re-execution agrees); a finding if not, since then the log may be what is wrong.
    let certified_size = certification.latest_certified().map_or(0, |head| head.size);
    let mut uncertified: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for (statement, agrees) in run.statements.iter().zip(&matching) {
        let size = statement.checkpoint.size;
        if *agrees || accused.contains(&(statement.node.as_str(), size)) || altered_after.is_some_and(|agreeing| size > agreeing) {
            continue;
        }
        let in_quorum_claim = claims
            .get(&(size, statement.checkpoint.root.as_slice(), statement.checkpoint.state_digest.as_slice()))
            .is_some_and(|nodes| nodes.len() >= quorum);
        if in_quorum_claim {
            continue; // reported as history_altered
        }
        if size <= certified_size {
            if let Reexecuted::Within(root) = conclusions.at(size) {
                if root.as_slice() == statement.checkpoint.root {
                    let what = format!(
                        "size {size}, signed by {}, is not a block boundary of this log although its root is: blocks were split or merged",
                        statement.node
                    );
                    findings.push(Finding::at("blocks_recut", conclusions.block_reaching(size), what));
                    continue;
                }
            }
            let covering = certification.certified.range(size..).next().map(|(covering, _)| *covering).expect("size <= certified size");
            let mut statements = vec![SignedStatement::of(&statement.envelope)];
            statements.extend(certification.certificate(covering).iter().map(SignedStatement::of));
            evidence.push(EvidenceReport {
                node: statement.node.clone(),
                size,
                kind: "contradicts_certified_log".into(),
                what: format!(
                    "node {} signed a checkpoint for size {size} (log index {}) that differs from the history certified at size {covering} by a quorum, which re-execution reproduces",
                    statement.node, statement.log_index
                ),
                statements,
            });
        } else {
            uncertified.entry(size).or_default().insert(&statement.node);
        }
    }
    for (size, nodes) in &uncertified {
        let last_agreeing = conclusions.last_agreeing_before(*size);
        let (from, to, precision) = conclusions.altered_range(last_agreeing, *size);
        let what = format!(
            "at size {size}, which no quorum has certified, the re-executed head differs from the one signed by {}: either the uncertified end of the log was altered or {} signed a wrong head; last agreeing size {last_agreeing}: if altered, {precision}",
            names(nodes),
            if nodes.len() == 1 { "that node" } else { "those nodes" }
        );
        findings.push(Finding { up_to_log_index: to, ..Finding::at("uncertified_disagreement", from, what) });
    }

    check_trailer(export, &conclusions, &run, certification, genesis, &mut findings, report);
    let trailer_claim = export.trailer.as_ref().and_then(|trailer| {
        let checkpoint = trailer.newest_certified.clone()?;
        Some(CertifiedClaim { source: "the export's trailer".into(), checkpoint, certificate: trailer.certificate.clone() })
    });
    for claim in trailer_claim.iter().chain(elsewhere) {
        check_certified_claim(claim, &conclusions, genesis, export, &mut findings);
    }
    report.compared_with = elsewhere.iter().map(|claim| format!("{}: certified size {}", claim.source, claim.checkpoint.size)).collect();
    if let Some(damage) = &export.damage {
        let after =
            damage.after_log_index.map_or("before the first block".to_string(), |index| format!("after the block at log index {index}"));
        let what = format!(
            "the file is damaged at record {} (byte {}): {}; nothing {after} could be read",
            damage.record, damage.offset, damage.what
        );
        let kind = if damage.what.contains("ends") { "truncated" } else { "damaged_file" };
        findings.push(Finding::at(kind, damage.after_log_index.or(export.blocks.last().map(|block| block.log_index)), what));
    }
    if !ledger.state().paid_never_exceeds_obligations() {
        findings.push(Finding::at(
            "rules_broken",
            None,
            "after re-execution some obligation is paid beyond its amount or below zero".into(),
        ));
    }

    let checks = &mut report.checks;
    *checks = Checks { genesis: checks.genesis, genesis_pinned: checks.genesis_pinned, trailer: checks.trailer, ..run_checks };
    checks.checkpoint_statements_matching = matching.iter().filter(|agrees| **agrees).count() as u64;
    checks.heads_recorded = run.heads.len() as u64;
    checks.certified_checkpoints = certification.certified.len() as u64;
    report.size = final_head.size;
    report.root = hex::encode(final_head.root);
    report.state_digest = hex::encode(final_head.state_digest);
    if let Some(certified) = certification.latest_certified() {
        report.certified_size = certified.size;
        report.certified_root = hex::encode(certified.root);
        report.certified_state_digest = hex::encode(certified.state_digest);
    }
    report.uncertified_leaves = report.size - report.certified_size;
    report.findings = findings;
    report.evidence = evidence;
    report.conclude();
}

/// The finding for the first checkpoint a quorum signed that re-execution does not reproduce.
fn history_altered(conclusions: &Conclusions, size: u64, signed_root: &[u8], nodes: &BTreeSet<&str>, later: usize) -> Finding {
    let last_agreeing = conclusions.last_agreeing_before(size);
    let last_certified = conclusions.ledger.certification().certified.range(..size).next_back().map_or(0, |(certified, _)| *certified);
    let signers = names(nodes);
    let problem = match conclusions.at(size) {
        Reexecuted::Head(head) if head.root.as_slice() == signed_root => format!(
            "the transactions up to size {size} are the ones {signers} signed, but re-executing them gives another state digest than the one they signed: the state or the rules differ"
        ),
        Reexecuted::Head(_) | Reexecuted::Boundary(_) => format!(
            "the re-executed Merkle root at size {size} differs from the one signed by {signers}: the history before this point was altered (a transaction changed, dropped, added or moved)"
        ),
        Reexecuted::Within(root) if root.as_slice() == signed_root => {
            format!("size {size}, signed by {signers}, is not a block boundary of this log although its root is: blocks were split or merged")
        }
        Reexecuted::Within(_) => format!(
            "the re-executed Merkle root at size {size} differs from the one signed by {signers}, and size {size} is not even a block boundary of this log: transactions before it were dropped, added or moved"
        ),
        Reexecuted::Beyond => format!(
            "{signers} certified size {size}, but this log holds only {} leaves: transactions were dropped or the log is cut short",
            conclusions.final_head.size
        ),
    };
    let later = if later > 0 { format!("; {later} later certified checkpoint(s) disagree as well") } else { String::new() };
    let (from, to, precision) = conclusions.altered_range(last_agreeing, size);
    let what = format!("{problem}; last agreeing size {last_agreeing} (last agreeing certified size {last_certified}): {precision}{later}");
    let suspects: Vec<Suspect> = conclusions
        .run
        .rejections
        .iter()
        .filter(|suspect| suspect.leaf >= last_agreeing && suspect.leaf < size)
        .take(10)
        .cloned()
        .collect();
    Finding {
        kind: "history_altered".into(),
        log_index: from,
        up_to_log_index: to,
        leaf: None,
        transaction_id: (suspects.len() == 1).then(|| suspects[0].transaction_id.clone()),
        what,
        suspects,
    }
}

/// A certified checkpoint held outside the log (the trailer's, a node's): if its
/// certificate checks, the export must reach its size and agree with it there; an export
/// that stops short of it withholds certified history.
fn check_certified_claim(
    claim: &CertifiedClaim,
    conclusions: &Conclusions,
    genesis: &Genesis,
    export: &Export,
    findings: &mut Vec<Finding>,
) {
    let last_block = export.blocks.last().map(|block| block.log_index);
    let size = claim.checkpoint.size;
    let signers = match fairshare_protocol::ledger::check_certificate(genesis, &claim.checkpoint, &claim.certificate) {
        Ok(signers) => signers.into_iter().collect::<Vec<_>>().join(", "),
        Err(rejection) => {
            let what = format!(
                "{} names a certified checkpoint at size {size} whose certificate does not check: {}",
                claim.source, rejection.message
            );
            findings.push(Finding::at("unproven_certificate", last_block, what));
            return;
        }
    };
    let reexecuted = conclusions.at(size);
    if matches!(reexecuted, Reexecuted::Beyond) {
        let what = format!(
            "the export stops at {} leaves, but {} holds a checkpoint at size {size} certified by {signers}: the newest part of the log is withheld or cut",
            conclusions.final_head.size, claim.source
        );
        findings.push(Finding::at("export_short", last_block, what));
    } else if !reexecuted.matches(&claim.checkpoint)
        && !matches!(reexecuted, Reexecuted::Within(root) if root.as_slice() == claim.checkpoint.root)
    {
        let last_agreeing = conclusions.last_agreeing_before(size);
        let (from, to, precision) = conclusions.altered_range(last_agreeing, size);
        let what = format!(
            "the export's log at size {size} differs from the checkpoint {} holds, certified by {signers}: the history was altered; last agreeing size {last_agreeing}: {precision}",
            claim.source
        );
        findings.push(Finding { up_to_log_index: to, ..Finding::at("contradicts_certified", from, what) });
    }
}

fn check_trailer(
    export: &Export,
    conclusions: &Conclusions,
    run: &Run,
    certification: &fairshare_protocol::ledger::Certification,
    genesis: &Genesis,
    findings: &mut Vec<Finding>,
    report: &mut Report,
) {
    let Some(trailer) = &export.trailer else { return };
    let last_block = export.blocks.last().map(|block| block.log_index);
    let before = findings.len();
    if trailer.blocks != export.blocks.len() as u64 {
        let what =
            format!("the trailer counts {} blocks, the file holds {}: blocks were removed or added", trailer.blocks, export.blocks.len());
        findings.push(Finding::at("trailer_mismatch", last_block, what));
    }
    let differs = match conclusions.at(trailer.size).root() {
        None => Some(format!(
            "the exporting node reported {} leaves, the re-executed log has {}: transactions were dropped",
            trailer.size, conclusions.final_head.size
        )),
        Some(root) if root.as_slice() != trailer.root => Some(format!(
            "the exporting node reported root {} at size {}, the re-executed log has {}: the log was altered",
            hex::encode(&trailer.root),
            trailer.size,
            hex::encode(root)
        )),
        Some(_) => None,
    };
    // A log that differs from the exporting node's head differs after the last size that
    // agrees with a signed checkpoint: say which blocks, not just the last one.
    if let Some(what) = differs {
        let last_agreeing = conclusions.last_agreeing_before(trailer.size);
        let (from, to, precision) = conclusions.altered_range(last_agreeing, trailer.size);
        let what = format!("{what}; last agreeing size {last_agreeing}: {precision}");
        findings.push(Finding { up_to_log_index: to, ..Finding::at("trailer_mismatch", from, what) });
    }
    let claimed = trailer.certified_size;
    if claimed > 0 && !certification.certified.contains_key(&claimed) {
        let head = conclusions.at(claimed);
        let mut valid = BTreeSet::new();
        let mut other = BTreeSet::new();
        for statement in run.statements.iter().filter(|statement| statement.checkpoint.size == claimed) {
            if head.matches(&statement.checkpoint) {
                valid.insert(statement.node.as_str());
            } else {
                other.insert(statement.node.as_str());
            }
        }
        let cause = if other.is_empty() {
            "checkpoint signatures were removed".to_string()
        } else {
            format!("{} signed another head for it: the log differs from the one they certified", names(&other))
        };
        let latest = certification.latest_certified().map_or(0, |head| head.size);
        let what =
            format!(
                "the exporting node says size {claimed} is certified, but the log holds valid signatures for it by only {} node(s) ({}) where {} of {} are needed; {cause}; the log certifies up to size {latest}",
                valid.len(),
                names(&valid),
                genesis.quorum(),
                genesis.insurers.len()
            );
        findings.push(Finding::at("certificate_short", last_block, what));
    }
    report.checks.trailer = findings.len() == before;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fairshare_protocol::envelope::seal;
    use fairshare_protocol::genesis::node_signer;
    use fairshare_protocol::pb::audit::{ExportTrailer, ExportedBlock};
    use fairshare_protocol::testing::{genesis_with_keys, transaction, INSURERS};

    use super::*;
    use crate::audit::file;

    fn checkpoint_signed(genesis: &Genesis, node: &str, checkpoint: pb::Checkpoint) -> pb::Envelope {
        let body = transaction(
            genesis,
            checkpoint.size,
            Kind::CheckpointSigned(pb::CheckpointSigned { node: node.into(), checkpoint: Some(checkpoint) }),
        );
        seal(&body, &node_signer(node), &fairshare_protocol::testing::test_key(&node_signer(node)))
    }

    /// Eight party registrations in blocks of two, each boundary signed by every node.
    fn small_export() -> Export {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let mut ledger = Ledger::new(genesis.clone());
        let mut blocks = Vec::new();
        for number in 0..4u64 {
            let envelopes = (0..2)
                .map(|offset| {
                    let party = number * 2 + offset;
                    let kind = Kind::PartyRegistered(pb::PartyRegistered {
                        party: format!("agb:{party:08}"),
                        kind: pb::PartyKind::Provider as i32,
                        name: format!("Provider {party}"),
                        iban: String::new(),
                    });
                    seal(&transaction(&genesis, party + 1, kind), "zk", &keys["zk"])
                })
                .collect();
            let block = pb::Block { envelopes };
            ledger.apply_block(&block);
            blocks.push(block);
            let head = ledger.head().to_checkpoint(&genesis.ledger_id);
            let statements = pb::Block { envelopes: INSURERS.iter().map(|node| checkpoint_signed(&genesis, node, head.clone())).collect() };
            ledger.apply_block(&statements);
            blocks.push(statements);
        }
        certified_export(&genesis, &ledger, blocks)
    }

    /// Party registrations in blocks of `sizes` transactions; every `spacing` blocks all
    /// nodes sign the head, and their statements land in the next block, before its
    /// transactions, as they do on a live ledger. The last head is signed in a block of its own.
    fn export_with_layout(sizes: &[usize], spacing: usize) -> Export {
        let (genesis, keys) = genesis_with_keys();
        let genesis = Arc::new(genesis);
        let mut ledger = Ledger::new(genesis.clone());
        let mut blocks = Vec::new();
        let mut statements = Vec::new();
        let sign_head = |ledger: &Ledger| -> Vec<pb::Envelope> {
            let head = ledger.head().to_checkpoint(&genesis.ledger_id);
            INSURERS.iter().map(|node| checkpoint_signed(&genesis, node, head.clone())).collect()
        };
        let mut nonce = 0;
        for (number, count) in sizes.iter().enumerate() {
            let mut envelopes = std::mem::take(&mut statements);
            for _ in 0..*count {
                nonce += 1;
                envelopes.push(party_registered(&genesis, &keys["zk"], nonce));
            }
            let block = pb::Block { envelopes };
            ledger.apply_block(&block);
            blocks.push(block);
            if number % spacing == spacing - 1 {
                statements = sign_head(&ledger);
            }
        }
        let last = pb::Block { envelopes: sign_head(&ledger) };
        ledger.apply_block(&last);
        blocks.push(last);
        assert_eq!(ledger.certification().latest_certified().map(|head| head.size), Some(ledger.size()));
        certified_export(&genesis, &ledger, blocks)
    }

    /// The export of `blocks` (from log index 3), whose trailer claims the ledger's head as certified.
    fn certified_export(genesis: &Genesis, ledger: &Ledger, blocks: Vec<pb::Block>) -> Export {
        let head = ledger.head();
        Export {
            header: Some(file::header(genesis.canonical(), 0, "test")),
            trailer: Some(ExportTrailer {
                blocks: blocks.len() as u64,
                size: head.size,
                root: head.root.to_vec(),
                certified_size: head.size,
                newest_certified: Some(head.to_checkpoint(&genesis.ledger_id)),
                certificate: ledger.certification().certificate(head.size),
            }),
            blocks: blocks
                .into_iter()
                .enumerate()
                .map(|(number, block)| ExportedBlock { log_index: number as u64 + 3, block: block.encode_to_vec() })
                .collect(),
            damage: None,
        }
    }

    fn party_registered(genesis: &Genesis, key: &ed25519_dalek::SigningKey, number: u64) -> pb::Envelope {
        let kind = Kind::PartyRegistered(pb::PartyRegistered {
            party: format!("agb:{number:08}"),
            kind: pb::PartyKind::Provider as i32,
            name: format!("Provider {number}"),
            iban: String::new(),
        });
        seal(&transaction(genesis, number, kind), "zk", key)
    }

    fn envelopes(export: &Export, block: usize) -> Vec<pb::Envelope> {
        export.decoded_block(block).unwrap().envelopes
    }

    /// (block, position) of every envelope that is a transaction, not a checkpoint statement.
    fn transactions(export: &Export) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for block in 0..export.blocks.len() {
            for (position, envelope) in envelopes(export, block).iter().enumerate() {
                if !envelope.signer.starts_with("node:") {
                    found.push((block, position));
                }
            }
        }
        found
    }

    /// The first finding's place (an entry, or a range of blocks) holds `log_index`, and says
    /// how precise it is.
    fn assert_located(export: &Export, what: &str, log_index: u64) {
        let report = verify(export, &Options::default()).unwrap();
        let text = report.to_text();
        let finding = report.findings.first().unwrap_or_else(|| panic!("{what}: not found:\n{text}"));
        let from = finding.log_index.unwrap_or_else(|| panic!("{what}: not located:\n{text}"));
        let to = finding.up_to_log_index.unwrap_or(from);
        assert!(from <= log_index && log_index <= to, "{what} at log index {log_index}, reported {from}..{to}:\n{text}");
        let precise = from == to && finding.what.contains(&format!("in the block at log index {from}"));
        let ranged = from < to && finding.what.contains("this file alone cannot tell which entry");
        assert!(precise || ranged || finding.kind == "bad_envelope", "{what}: the precision is not stated:\n{text}");
        assert_eq!(report.exit_code, crate::audit::exit::DOES_NOT_VERIFY, "{what}");
    }

    /// Issue 10: wherever a transaction is dropped, added or moved, and however the
    /// checkpoints happen to be spaced, the place named as first bad contains it.
    #[test]
    fn every_dropped_added_or_moved_transaction_is_located_whatever_the_checkpoint_spacing() {
        let (genesis, keys) = genesis_with_keys();
        let layouts: [(&[usize], usize); 4] =
            [(&[1, 1, 1, 1, 1, 1], 1), (&[1, 3, 1, 2, 1, 1, 2], 2), (&[2, 1, 1, 3, 1, 1, 1, 2], 3), (&[1, 1, 2, 1, 1, 1, 1], 5)];
        let mut checked = 0;
        for (sizes, spacing) in layouts {
            let export = export_with_layout(sizes, spacing);
            assert!(verify(&export, &Options::default()).unwrap().ok, "the untouched layout {sizes:?} verifies");
            let positions = transactions(&export);
            for (number, &(block, position)) in positions.iter().enumerate() {
                let log_index = export.blocks[block].log_index;

                let mut dropped = export.clone();
                dropped.edit_block(block, |envelopes| {
                    envelopes.remove(position);
                });
                assert_located(&dropped, &format!("layout {sizes:?}/{spacing}: dropped transaction {number}"), log_index);

                let mut added = export.clone();
                added.edit_block(block, |envelopes| {
                    envelopes.insert(position, party_registered(&genesis, &keys["zk"], 1_000 + number as u64))
                });
                assert_located(&added, &format!("layout {sizes:?}/{spacing}: transaction added before {number}"), log_index);

                if let Some(&(next_block, next_position)) = positions.get(number + 1) {
                    let mut moved = export.clone();
                    let first = envelopes(&moved, block)[position].clone();
                    let second = envelopes(&moved, next_block)[next_position].clone();
                    moved.edit_block(next_block, |envelopes| envelopes[next_position] = first);
                    moved.edit_block(block, |envelopes| envelopes[position] = second);
                    assert_located(
                        &moved,
                        &format!("layout {sizes:?}/{spacing}: transactions {number} and {} swapped", number + 1),
                        log_index,
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, layouts.iter().map(|(sizes, _)| sizes.iter().sum::<usize>()).sum::<usize>(), "every position of every layout");
    }

    #[test]
    fn an_untouched_export_verifies_and_counts_what_it_checked() {
        let report = verify(&small_export(), &Options::default()).unwrap();
        assert!(report.ok, "{}", report.to_text());
        assert_eq!((report.size, report.certified_size, report.exit_code), (8, 8, 0));
        assert_eq!(
            (report.checks.signatures_verified, report.checks.checkpoint_statements_matching, report.checks.certified_checkpoints),
            (24, 16, 4)
        );
    }

    #[test]
    fn a_partial_export_cannot_be_re_executed() {
        let mut export = small_export();
        export.header.as_mut().unwrap().from_log_index = 5;
        assert!(matches!(verify(&export, &Options::default()), Err(VerifyError::Partial { from: 5 })));
    }

    #[test]
    fn a_second_checkpoint_by_one_node_is_evidence_against_it_alone() {
        let mut export = small_export();
        let (genesis, _) = genesis_with_keys();
        let wrong = pb::Checkpoint { ledger_id: genesis.ledger_id.clone(), size: 4, root: vec![9; 32], state_digest: vec![9; 32] };
        let last = export.blocks.len() - 1;
        export.edit_block(last, |envelopes| envelopes.push(checkpoint_signed(&genesis, "vgz", wrong)));
        let report = verify(&export, &Options::default()).unwrap();
        assert!(report.findings.is_empty(), "{}", report.to_text());
        assert_eq!(report.exit_code, crate::audit::exit::EVIDENCE);
        assert_eq!((report.evidence[0].node.as_str(), report.evidence[0].size, report.evidence[0].statements.len()), ("vgz", 4, 2));
    }

    /// An unknown field appended to an envelope, and an envelope re-encoded with an
    /// overlong length: the signature still checks (it covers the body), but the bytes are
    /// not the certified bytes, so each is refused, reported and located.
    #[test]
    fn an_envelope_with_an_unknown_field_or_a_non_canonical_encoding_is_located() {
        let export = small_export();
        let (block, position) = transactions(&export)[2];
        let log_index = export.blocks[block].log_index;
        let envelope = envelopes(&export, block)[position].encode_to_vec();
        let mut unknown_field = envelope.clone();
        unknown_field.extend([0x20, 0x01]); // field 4, varint 1: not in the schema
        let mut overlong = vec![0x0a, 0x80 | envelope[1], 0x00]; // field 1's length in two bytes
        assert!(envelope[1] < 0x80, "a short body, so its length is one byte");
        overlong.extend(&envelope[2..]);
        for (what, bytes) in [("an unknown field", unknown_field), ("an overlong length", overlong)] {
            assert_eq!(pb::Envelope::decode(bytes.as_slice()).unwrap().encode_to_vec(), envelope, "{what}: decodes to the same envelope");
            let mut tampered = export.clone();
            let records: Vec<Vec<u8>> = fairshare_protocol::envelope::block_records(&tampered.blocks[block].block)
                .unwrap()
                .into_iter()
                .map(|(_, record)| record.to_vec())
                .collect();
            let mut block_bytes = Vec::new();
            for (at, record) in records.iter().enumerate() {
                let record = if at == position { &bytes } else { record };
                block_bytes.push(0x0a);
                prost::encoding::encode_varint(record.len() as u64, &mut block_bytes);
                block_bytes.extend(record);
            }
            tampered.blocks[block].block = block_bytes;
            let report = verify(&tampered, &Options::default()).unwrap();
            let first = &report.findings[0];
            assert_eq!(
                (first.kind.as_str(), first.log_index),
                ("non_canonical_envelope", Some(log_index)),
                "{what}:\n{}",
                report.to_text()
            );
            assert_eq!(report.exit_code, crate::audit::exit::DOES_NOT_VERIFY);
        }
    }

    /// A tail cut at a block boundary, trailer rewritten to match: the file alone cannot
    /// tell, a node's newest certified checkpoint (with its certificate) can.
    #[test]
    fn a_tail_cut_at_a_block_boundary_is_caught_against_a_nodes_certified_head() {
        let export = export_with_layout(&[1, 1, 1, 1, 1, 1], 1);
        let node = {
            let trailer = export.trailer.clone().unwrap();
            CertifiedClaim { source: "node zk".into(), checkpoint: trailer.newest_certified.unwrap(), certificate: trailer.certificate }
        };
        let mut cut = export.clone();
        cut.blocks.truncate(cut.blocks.len() - 3);
        let (genesis, _) = genesis_with_keys();
        let mut ledger = Ledger::new(Arc::new(genesis.clone()));
        for position in 0..cut.blocks.len() {
            ledger.apply_block(&cut.decoded_block(position).unwrap());
        }
        let blocks: Vec<pb::Block> = (0..cut.blocks.len()).map(|position| cut.decoded_block(position).unwrap()).collect();
        let mut cut = certified_export(&genesis, &ledger, blocks);
        let certified = ledger.certification().latest_certified().unwrap().clone();
        let trailer = cut.trailer.as_mut().unwrap();
        (trailer.certified_size, trailer.newest_certified) = (certified.size, Some(certified.to_checkpoint(&genesis.ledger_id)));
        trailer.certificate = ledger.certification().certificate(certified.size);
        let alone = verify(&cut, &Options::default()).unwrap();
        assert!(alone.ok, "the cut file alone verifies:\n{}", alone.to_text());
        let options = Options { certified_elsewhere: vec![node.clone()], ..Options::default() };
        let against = verify(&cut, &options).unwrap();
        assert_eq!(against.findings[0].kind, "export_short", "{}", against.to_text());
        assert_eq!(against.exit_code, crate::audit::exit::DOES_NOT_VERIFY);
        assert_eq!(against.compared_with, vec![format!("node zk: certified size {}", node.checkpoint.size)]);
        assert!(verify(&export, &options).unwrap().ok, "the whole export reaches the node's head");

        let mut forged = node.clone();
        forged.checkpoint.size += 5;
        let report = verify(&export, &Options { certified_elsewhere: vec![forged], ..Options::default() }).unwrap();
        assert_eq!(report.findings[0].kind, "unproven_certificate", "a claim without a valid certificate proves nothing");
    }

    /// Every checkpoint re-signed by every node key with a state digest of their choosing:
    /// the signatures and roots check, re-execution does not reproduce the digest.
    #[test]
    fn checkpoints_all_re_signed_with_a_wrong_state_digest_are_caught() {
        let export = small_export();
        let (genesis, _) = genesis_with_keys();
        let mut forged = export.clone();
        for position in 0..forged.blocks.len() {
            forged.edit_block(position, |envelopes| {
                for envelope in envelopes.iter_mut() {
                    let Some(node) = envelope.signer.strip_prefix("node:").map(str::to_string) else { continue };
                    let transaction = pb::Transaction::decode(envelope.body.as_slice()).unwrap();
                    let Some(Kind::CheckpointSigned(signed)) = transaction.kind else { continue };
                    let mut checkpoint = signed.checkpoint.unwrap();
                    checkpoint.state_digest = vec![7; 32];
                    *envelope = checkpoint_signed(&genesis, &node, checkpoint);
                }
            });
        }
        let report = verify(&forged, &Options::default()).unwrap();
        let first = report.findings.first().unwrap_or_else(|| panic!("not caught:\n{}", report.to_text()));
        assert_eq!(first.kind, "history_altered", "{}", report.to_text());
        assert!(first.what.contains("another state digest"), "{}", first.what);
    }

    #[test]
    fn a_pinned_genesis_of_another_ledger_is_a_finding() {
        let options = Options { pinned_genesis: Some([1; 32]), ..Options::default() };
        let report = verify(&small_export(), &options).unwrap();
        assert_eq!((report.findings[0].kind.as_str(), report.exit_code), ("genesis_not_pinned", 1));
    }
}
