//! How fast one core applies signed payments, next to what the signatures alone cost.
//!
//! In one run:
//! - `apply/payments`: blocks of [`BLOCK`] pre-signed `PaymentRecorded` envelopes, each
//!   settling 0.01 on an open obligation, through `Ledger::apply_block` (decode, batch
//!   signature verification, rules, Merkle leaves, and the state digest computed once per
//!   block). Every iteration starts from a fresh clone of the same ledger, made outside the
//!   timed part, so the payments never run out and the state stays the same size.
//! - `apply/state_digest`: that per-block digest alone, on the state after one block, to
//!   show its share of the block.
//! - `verify/single_strict`: `VerifyingKey::verify_strict` on the same [`BLOCK`] signatures.
//! - `verify/batch`: `ed25519_dalek::verify_batch` on the same [`BLOCK`] signatures.
//!
//! `apply_block` can beat `verify/batch`: it verifies with [`fairshare_protocol::signature`],
//! which sums the terms of equal keys (here 4 insurers). November 2026, 2-core machine:
//! apply 108.4K tx/s, dalek's batch 95.4K/s, one by one (strict) 31.9K/s, the digest 75 µs a block.
//!
//! Run: `cargo bench -p fairshare-protocol --bench apply -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::{Signature, VerifyingKey};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::testing::{test_key, Scenario, INSURERS};
use fairshare_protocol::{Ledger, Verdict};

/// Envelopes per block: a quarter of `BLOCK_TRANSACTIONS_MAX`, a busy but ordinary block.
const BLOCK: usize = 256;
/// Milestones of the plan: each creates one obligation per insurer (64 open obligations).
const MILESTONES: usize = 16;

fn micros(euros: i64) -> i64 {
    euros * 1_000_000
}

/// A ledger with four parties, one approved plan of [`MILESTONES`] confirmed milestones, so
/// [`MILESTONES`] open obligations per insurer: a modest state, as a node has early on.
fn ledger_with_open_obligations() -> Scenario {
    let mut scenario = Scenario::new("100000000.00");
    let parties = ["agb:00000001", "agb:00000002", "kvk:00000003", "kvk:00000004"];
    for party in parties {
        scenario.ok(
            "zk",
            Kind::PartyRegistered(pb::PartyRegistered {
                party: party.into(),
                kind: pb::PartyKind::Provider as i32,
                name: format!("provider {party}"),
                iban: String::new(),
            }),
        );
    }
    let milestones = (0..MILESTONES)
        .map(|number| pb::Milestone {
            id: format!("m{number}"),
            title: format!("milestone {number}"),
            kind: pb::MilestoneKind::Result as i32,
            due: "2026-12-31".into(),
            lines: vec![pb::MilestoneLine {
                beneficiary: parties[number % parties.len()].into(),
                payee: String::new(),
                sector: "msz".into(),
                amount_micros: micros(100_000),
            }],
        })
        .collect();
    scenario.ok(
        "zk",
        Kind::QuickTestSubmitted(pb::QuickTestSubmitted {
            plan: "bench".into(),
            title: "bench".into(),
            region: "roaz".into(),
            theme: "bench".into(),
            coordinating_insurer: "zk".into(),
            second_assessor: "vgz".into(),
            estimated_total_micros: 0,
        }),
    );
    scenario.ok(
        "vgz",
        Kind::QuickTestDecided(pb::QuickTestDecided {
            plan: "bench".into(),
            outcome: pb::QuickTestOutcome::Passed as i32,
            note: String::new(),
        }),
    );
    scenario.ok(
        "zk",
        Kind::PlanSubmitted(pb::PlanSubmitted {
            plan: "bench".into(),
            version: 1,
            title: "bench".into(),
            region: "roaz".into(),
            theme: "bench".into(),
            coordinating_insurer: "zk".into(),
            second_assessor: "vgz".into(),
            start: "2026-01-01".into(),
            milestones,
            evidence_sha256: Vec::new(),
        }),
    );
    for insurer in ["zk", "vgz"] {
        scenario.ok(
            insurer,
            Kind::PlanAssessed(pb::PlanAssessed {
                plan: "bench".into(),
                version: 1,
                addendum: String::new(),
                assessment: pb::Assessment::Approve as i32,
                note: String::new(),
            }),
        );
    }
    for number in 0..MILESTONES {
        scenario.ok(
            "zk",
            Kind::MilestoneAttained(pb::MilestoneAttained {
                plan: "bench".into(),
                milestone: format!("m{number}"),
                attained_on: "2026-06-30".into(),
                ..pb::MilestoneAttained::default()
            }),
        );
        scenario.ok(
            "vgz",
            Kind::MilestoneConfirmed(pb::MilestoneConfirmed {
                plan: "bench".into(),
                milestone: format!("m{number}"),
                note: String::new(),
                confirmed_on: "2026-06-30".into(),
            }),
        );
    }
    assert_eq!(scenario.ledger.state().obligations.len(), MILESTONES * INSURERS.len());
    scenario
}

/// [`BLOCK`] payments of 0.01, round robin over the insurers and their obligations.
fn payment_block(scenario: &mut Scenario) -> pb::Block {
    let envelopes = (0..BLOCK)
        .map(|number| {
            let insurer = INSURERS[number % INSURERS.len()];
            let milestone = (number / INSURERS.len()) % MILESTONES;
            scenario.envelope(
                insurer,
                Kind::PaymentRecorded(pb::PaymentRecorded {
                    payment: format!("{insurer}-{number}"),
                    settlements: vec![pb::Settlement { obligation: format!("bench/m{milestone}/1/{insurer}"), amount_micros: 10_000 }],
                    value_date: "2026-07-01".into(),
                    bank_reference: format!("NL-{number:08}"),
                }),
            )
        })
        .collect();
    pb::Block { envelopes }
}

fn bench(criterion: &mut Criterion) {
    let mut scenario = ledger_with_open_obligations();
    let block = payment_block(&mut scenario);
    let base: Ledger = scenario.ledger.clone();

    // Check once, outside the timing, that every payment applies.
    let mut after = base.clone();
    let outcomes = after.apply_block(&block);
    assert!(outcomes.iter().all(|outcome| matches!(outcome.verdict, Verdict::Applied { .. })), "every payment applies");
    eprintln!(
        "state before the block: {} obligations, {} leaves; after: {} payments, {} bytes of state as JSON",
        base.state().obligations.len(),
        base.size(),
        after.state().payments.len(),
        serde_json::to_vec(after.state()).expect("the state serialises").len()
    );

    let mut group = criterion.benchmark_group("apply");
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("payments", |bencher| {
        bencher.iter_batched(|| base.clone(), |mut ledger| ledger.apply_block(black_box(&block)), BatchSize::SmallInput)
    });
    group.throughput(Throughput::Elements(1));
    // The digest from scratch walks the whole state (what an auditor computes once); the
    // kept digest costs what a block changed (what every node computes per block, inside
    // `payments` above).
    group.bench_function("state_digest_from_scratch", |bencher| bencher.iter(|| black_box(after.state()).digest_from_scratch()));
    group.finish();

    let keys: Vec<VerifyingKey> = block
        .envelopes
        .iter()
        .map(|envelope| {
            let signer = envelope.signer.as_str();
            test_key(signer).verifying_key()
        })
        .collect();
    let messages: Vec<&[u8]> = block.envelopes.iter().map(|envelope| envelope.body.as_slice()).collect();
    let signatures: Vec<Signature> =
        block.envelopes.iter().map(|envelope| Signature::from_slice(&envelope.signature).expect("64-byte signatures")).collect();
    let mut group = criterion.benchmark_group("verify");
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function("single_strict", |bencher| {
        bencher.iter(|| {
            for ((key, message), signature) in keys.iter().zip(&messages).zip(&signatures) {
                key.verify_strict(black_box(message), signature).expect("valid signature");
            }
        })
    });
    group.bench_function("batch", |bencher| {
        bencher.iter(|| ed25519_dalek::verify_batch(black_box(&messages), &signatures, &keys).expect("valid signatures"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
