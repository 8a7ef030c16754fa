//! Commit latency and throughput of a real 4-node cluster on loopback.
//!
//!     cargo bench -p fairshare-node --bench commit
//!
//! Runs a plain-text (`--insecure`) cluster, then a mutual-TLS one, and for each prints the
//! latency of sequential submissions (submit → committed on a quorum →
//! applied → answered) and the throughput of concurrent submitters, whose transactions
//! the leader groups into blocks.

use std::time::{Duration, Instant};

use fairshare_tests::{submit_to, Cluster, Signer};

const ALL: [&str; 4] = ["cz", "menzis", "vgz", "zk"];

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn main() {
    // Both sides of "what does mutual TLS cost" in one run: plain text first, then TLS.
    for insecure in [true, false] {
        println!("== {} ==", if insecure { "plain text (--insecure)" } else { "mutual TLS" });
        let binary = env!("CARGO_BIN_EXE_fairshare-node").as_ref();
        run(if insecure { Cluster::new_insecure(binary) } else { Cluster::new(binary) });
    }
}

fn run(mut cluster: Cluster) {
    cluster.start_all();
    let leader = cluster.wait_for_leader(&ALL, Duration::from_secs(30));
    let follower = ALL.iter().find(|id| **id != leader).expect("a follower").to_string();
    let mut signer = Signer::new("iza-test", 0);

    for (label, node) in [("leader", leader.as_str()), ("follower (forwards)", follower.as_str())] {
        let address = cluster.nodes[node].address.clone();
        let mut latencies = Vec::new();
        for number in 0..200u32 {
            let envelope = signer.party("zk", number + if node == leader { 0 } else { 1_000 });
            let started = Instant::now();
            submit_to(&address, envelope).expect("submit");
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "sequential commit latency via {label}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms (200 submissions)",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.9).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3
        );
    }

    let submitters = 16;
    let per_submitter = 100u32;
    let started = Instant::now();
    let threads: Vec<_> = (0..submitters)
        .map(|thread| {
            let address = cluster.nodes[ALL[thread % 4]].address.clone();
            std::thread::spawn(move || {
                let mut signer = Signer::new("iza-test", 1_000_000 * (thread as u64 + 1));
                for number in 0..per_submitter {
                    submit_to(&address, signer.party(ALL[thread % 4], 10_000 + thread as u32 * per_submitter + number)).expect("submit");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("submitter");
    }
    let elapsed = started.elapsed();
    let total = submitters as f64 * f64::from(per_submitter);
    println!(
        "throughput with {submitters} concurrent submitters: {:.0} transactions/s ({total} in {:.2} s)",
        total / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
