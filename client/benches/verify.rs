//! How fast `fairshare audit verify` checks a ledger, against the machine's raw ed25519
//! batch verification rate measured in the same run.
//!
//! ```text
//! cargo bench -p fairshare-client --bench verify                 # 1,000,000 transactions
//! FAIRSHARE_BENCH_TRANSACTIONS=100000 cargo bench -p fairshare-client --bench verify
//! ```
//!
//! The export is built in-process (no cluster): party registrations by the four test
//! insurers in blocks of `BLOCK_TRANSACTIONS_MAX`, with a certified checkpoint (all four
//! node signatures) every eighth of the way. Signing a million envelopes takes a while, so
//! the file is cached under `target/audit-bench/`, keyed by size.
//!
//! Printed: (a) verify rate over the whole export, file decoding included and excluded;
//! (b) raw `ed25519_dalek::verify_batch` over the same signatures in the same chunks, on one
//! thread and on all cores, and the same for `fairshare_protocol::signature::verify_batch`, the
//! batch verification verify uses (dalek's steps, equal keys' terms summed, cofactored); the ratio
//! verify / dalek's raw batch rate on all cores (the issue's measure: verify uses all cores
//! too), and verify / the grouped raw rate (how much of verify's time is not signature
//! checking); and a breakdown of where verify's time goes.
//!
//! On the 2-core development machine (November 2026, four runs): verify 183,000–193,000
//! tx/s, dalek's raw batch verification 208,000–215,000 signatures/s on both cores, ratio
//! 0.88–0.89 (noise on this shared machine moves it by a few hundredths). The grouped raw rate is about 295,000/s, so
//! verify runs at about 0.64 of the signature checking it does itself. Per million
//! transactions the work is: grouped batch verification about 6.8 core-s, decoding, ids and
//! leaf hashes about 0.4, `Ledger::apply_opened` about 1.5 and the state digests at the 8
//! certified checkpoints about 0.7 (the digest hashes a canonical binary encoding of the
//! state, apart from the transactions and nonces it covers through `leaves_digest`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use fairshare_client::audit::file::{self, Export};
use fairshare_client::audit::verify::{self, Options, CHUNK_ENVELOPES};
use fairshare_protocol::envelope::{envelope_leaf_hash, inspect, open_all, seal, transaction_id, VerifiedTransaction};
use fairshare_protocol::genesis::node_signer;
use fairshare_protocol::pb::audit::{ExportTrailer, ExportedBlock};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::testing::{genesis_with_keys, transaction, INSURERS};
use fairshare_protocol::{Genesis, Ledger, BLOCK_TRANSACTIONS_MAX};
use prost::Message;
use rayon::prelude::*;

const DEFAULT_TRANSACTIONS: usize = 1_000_000;
const CHECKPOINTS: usize = 8;
/// Bump when the generated content changes, so a stale cache is not reused.
const GENERATION: u32 = 3;

fn cache_path(transactions: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("audit-bench").join(format!("export-{transactions}-g{GENERATION}.fsa"))
}

/// Opens without checking signatures: only for building the bench file, whose signatures we made.
fn open_unchecked(envelopes: &[pb::Envelope], genesis: &Genesis) -> Vec<Result<VerifiedTransaction, fairshare_protocol::Rejection>> {
    envelopes
        .iter()
        .map(|envelope| {
            let (transaction, (role, _), _) = inspect(envelope, genesis)?;
            Ok(VerifiedTransaction {
                id: transaction_id(envelope),
                leaf_hash: envelope_leaf_hash(envelope),
                signer: envelope.signer.clone(),
                role: role.clone(),
                nonce: transaction.nonce,
                kind: transaction.kind.expect("inspect checked the kind"),
            })
        })
        .collect()
}

fn build(transactions: usize) -> Export {
    let (genesis, keys) = genesis_with_keys();
    let started = Instant::now();
    let envelopes: Vec<pb::Envelope> = (0..transactions)
        .into_par_iter()
        .map(|number| {
            let insurer = INSURERS[number % INSURERS.len()];
            let kind = Kind::PartyRegistered(pb::PartyRegistered {
                party: format!("agb:{number:08}"),
                kind: pb::PartyKind::Provider as i32,
                name: format!("Provider {number}"),
                iban: String::new(),
            });
            seal(&transaction(&genesis, number as u64 + 1, kind), insurer, &keys[insurer])
        })
        .collect();
    eprintln!("signed {transactions} envelopes in {:.1}s", started.elapsed().as_secs_f64());
    let blocks_total = transactions.div_ceil(BLOCK_TRANSACTIONS_MAX);
    let checkpoint_every = blocks_total.div_ceil(CHECKPOINTS).max(1);
    let genesis = Arc::new(genesis);
    let mut ledger = Ledger::new(genesis.clone());
    let mut blocks = Vec::new();
    let mut log_index = 2; // as if entries 1 and 2 were an election and a membership change
    let mut push = |block: pb::Block, ledger: &mut Ledger, record: bool| {
        let opened = open_unchecked(&block.envelopes, &genesis);
        ledger.apply_opened(&block, opened, &|_| record);
        log_index += 1;
        blocks.push(ExportedBlock { log_index, block: block.encode_to_vec() });
    };
    for (number, chunk) in envelopes.chunks(BLOCK_TRANSACTIONS_MAX).enumerate() {
        let checkpoint = (number + 1) % checkpoint_every == 0 || number + 1 == blocks_total;
        push(pb::Block { envelopes: chunk.to_vec() }, &mut ledger, checkpoint);
        if checkpoint {
            let head = ledger.head().to_checkpoint(&genesis.ledger_id);
            let statements = INSURERS
                .iter()
                .map(|node| {
                    let signed = Kind::CheckpointSigned(pb::CheckpointSigned { node: node.to_string(), checkpoint: Some(head.clone()) });
                    seal(&transaction(&genesis, head.size, signed), &node_signer(node), &keys[&node_signer(node)])
                })
                .collect();
            push(pb::Block { envelopes: statements }, &mut ledger, false);
        }
    }
    let head = ledger.head();
    let certified_size = ledger.certification().latest_certified().map_or(0, |head| head.size);
    assert_eq!(certified_size, transactions as u64, "the last checkpoint is certified");
    Export {
        header: Some(file::header(genesis.canonical(), 0, "bench")),
        trailer: Some(ExportTrailer {
            blocks: blocks.len() as u64,
            size: head.size,
            root: head.root.to_vec(),
            certified_size,
            ..ExportTrailer::default()
        }),
        blocks,
        damage: None,
    }
}

fn load_or_build(transactions: usize) -> (Vec<u8>, PathBuf) {
    let path = cache_path(transactions);
    if let Ok(bytes) = std::fs::read(&path) {
        return (bytes, path);
    }
    let export = build(transactions);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the cache dir");
    let mut writer = file::ExportWriter::create(&path).expect("create the cache file");
    for record in export.records() {
        writer.write(record.record.expect("records are set")).expect("write the cache file");
    }
    writer.finish().expect("finish the cache file");
    (std::fs::read(&path).expect("read the cache file back"), path)
}

/// A batch verification function: true when every signature is good.
type BatchVerifier = fn(&[&[u8]], &[Signature], &[VerifyingKey]) -> bool;

/// Messages, signatures and keys of one batch verification.
type Batch<'export> = (Vec<&'export [u8]>, Vec<Signature>, Vec<VerifyingKey>);

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() {
    let transactions: usize =
        std::env::var("FAIRSHARE_BENCH_TRANSACTIONS").ok().and_then(|value| value.parse().ok()).unwrap_or(DEFAULT_TRANSACTIONS);
    let cores = rayon::current_num_threads();
    let (bytes, path) = load_or_build(transactions);
    println!("export: {} ({:.0} MB, {transactions} transactions); {cores} cores", path.display(), bytes.len() as f64 / 1e6);

    // (a) verify, as `fairshare audit verify FILE` does it (minus reading the file from disk).
    let started = Instant::now();
    let export = Export::decode(&bytes);
    let decoded = started.elapsed();
    let verify_started = Instant::now();
    let report = verify::verify(&export, &Options::default()).expect("a full export");
    let verified = verify_started.elapsed();
    let total = started.elapsed();
    assert!(report.ok, "the bench export must verify: {:?}", report.findings.first());
    assert_eq!(report.checks.leaves, transactions as u64);
    let verify_rate = rate(transactions, verified);
    let end_to_end_rate = rate(transactions, total);
    println!(
        "verify:           {:>10.0} tx/s  ({:.2}s; decoding the file {:.2}s more: {:.0} tx/s end to end)",
        verify_rate,
        verified.as_secs_f64(),
        decoded.as_secs_f64(),
        end_to_end_rate
    );

    // `verify` frees its re-executed state on a background thread: let that finish before
    // measuring anything else on these cores.
    std::thread::sleep(Duration::from_secs(2));

    // (b) raw batch verification of the same signatures, in the same chunks.
    let (genesis, _) = genesis_with_keys();
    let decoded: Vec<pb::Block> = (0..export.blocks.len()).filter_map(|position| export.decoded_block(position)).collect();
    let envelopes: Vec<&pb::Envelope> = decoded.iter().flat_map(|block| &block.envelopes).collect();
    let prepared: Vec<(&[u8], Signature, VerifyingKey)> = envelopes
        .iter()
        .map(|envelope| {
            let (_, (_, key), signature) = inspect(envelope, &genesis).expect("bench envelopes are well formed");
            (envelope.body.as_slice(), signature, *key)
        })
        .collect();
    let chunks: Vec<Batch> = prepared
        .chunks(CHUNK_ENVELOPES)
        .map(|chunk| {
            (
                chunk.iter().map(|item| item.0).collect(),
                chunk.iter().map(|item| item.1).collect(),
                chunk.iter().map(|item| item.2).collect(),
            )
        })
        .collect();
    // (signatures/s on one thread, on all cores) of one batch verification function.
    let measure = |verify: BatchVerifier| {
        let batch = |(messages, signatures, keys): &Batch| assert!(verify(messages, signatures, keys), "bench signatures are good");
        let started = Instant::now();
        chunks.iter().for_each(batch);
        let single = rate(envelopes.len(), started.elapsed());
        let started = Instant::now();
        chunks.par_iter().for_each(batch);
        (single, rate(envelopes.len(), started.elapsed()))
    };
    let (single, all_cores) = measure(|messages, signatures, keys| ed25519_dalek::verify_batch(messages, signatures, keys).is_ok());
    println!("raw verify_batch: {single:>10.0} sig/s on 1 thread, {all_cores:.0} sig/s on {cores} cores (chunks of {CHUNK_ENVELOPES})");
    let (grouped_single, grouped_all) =
        measure(|messages, signatures, keys| fairshare_protocol::signature::verify_batch(messages, signatures, keys).is_ok());
    println!("grouped batch:    {grouped_single:>10.0} sig/s on 1 thread, {grouped_all:.0} sig/s on {cores} cores");
    println!(
        "ratio verify / raw ed25519_dalek::verify_batch on {cores} cores: {:.2} (end to end {:.2}; goal >= 0.80); on 1 thread: {:.2}",
        verify_rate / all_cores,
        end_to_end_rate / all_cores,
        verify_rate / single
    );
    println!(
        "ratio verify / raw grouped batch on {cores} cores: {:.2} (the rest is decoding, re-execution and digests)",
        verify_rate / grouped_all
    );

    // What the batch size does to the raw rate (why CHUNK_ENVELOPES is what it is).
    let sample = &prepared[..prepared.len().min(1 << 16)];
    let by_size: Vec<String> = [64, 256, 1_024, 4_096]
        .iter()
        .map(|size| {
            let started = Instant::now();
            for chunk in sample.chunks(*size) {
                let messages: Vec<&[u8]> = chunk.iter().map(|item| item.0).collect();
                let signatures: Vec<Signature> = chunk.iter().map(|item| item.1).collect();
                let keys: Vec<VerifyingKey> = chunk.iter().map(|item| item.2).collect();
                ed25519_dalek::verify_batch(&messages, &signatures, &keys).expect("bench signatures are good");
            }
            format!("{size}: {:.0}", rate(sample.len(), started.elapsed()))
        })
        .collect();
    println!("raw verify_batch by batch size (1 thread, sig/s): {}", by_size.join(", "));

    // Where verify's time goes, each stage alone on one thread.
    let genesis = Arc::new(genesis);
    let started = Instant::now();
    let opened: Vec<_> = decoded.iter().map(|block| open_all(&block.envelopes, &genesis)).collect();
    let opening = started.elapsed();
    let apply = |opened: Vec<Vec<_>>, record_head: &dyn Fn(u64) -> bool| {
        let mut ledger = Ledger::new(genesis.clone());
        let started = Instant::now();
        for (block, opened) in decoded.iter().zip(opened) {
            ledger.apply_opened(block, opened, record_head);
        }
        started.elapsed()
    };
    // The heads verify records: where checkpoint signatures name a size.
    let checkpoints: BTreeSet<u64> = envelopes
        .iter()
        .filter_map(|envelope| match pb::Transaction::decode(envelope.body.as_slice()).ok()?.kind? {
            Kind::CheckpointSigned(signed) => signed.checkpoint.map(|checkpoint| checkpoint.size),
            _ => None,
        })
        .collect();
    let reopened: Vec<_> = decoded.iter().map(|block| open_all(&block.envelopes, &genesis)).collect();
    let bare = apply(opened, &|_| false);
    let with_digests = apply(reopened, &|size| checkpoints.contains(&size));
    let digests = with_digests.saturating_sub(bare);
    let work = opening + with_digests;
    println!(
        "breakdown (1 thread each): open_all (decode, ids, leaf hashes, grouped batch verify) {:.2}s ({:.2}s more than the raw grouped batches); apply {:.2}s ({:.1} us/tx); \
         state digests at {} checkpoints {:.2}s; total work {:.2} core-s, so at best {:.0} tx/s on {cores} cores (ratio {:.2})",
        opening.as_secs_f64(),
        opening.as_secs_f64() - transactions as f64 / grouped_single,
        bare.as_secs_f64(),
        bare.as_secs_f64() * 1e6 / transactions as f64,
        report.checks.heads_recorded,
        digests.as_secs_f64(),
        work.as_secs_f64(),
        transactions as f64 * cores as f64 / work.as_secs_f64(),
        transactions as f64 * cores as f64 / work.as_secs_f64() / all_cores
    );
}
