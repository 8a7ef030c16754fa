//! A seeded schedule of faults: the same seed gives the same faults, in the same order,
//! held for the same times, so a failing run replays with `FAIRSHARE_CHAOS_SEED`. (What
//! the nodes do meanwhile still depends on the machine's timing.) Pure: no clock, no I/O.
//!
//! One fault at a time, each undone before the next, so a majority of nodes can always be
//! brought back together and the cluster can make progress between faults.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::proxy::Direction;

/// Bounds the steps of one schedule, whatever duration it is given.
pub const STEPS_MAX: usize = 1_000;
const HOLD_MS: std::ops::RangeInclusive<u64> = 500..=3_000;
const REST_MS: std::ops::RangeInclusive<u64> = 200..=1_500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// kill -9, then start again on the same data dir.
    Kill(String),
    /// SIGSTOP, then SIGCONT.
    Pause(String),
    /// Every link between the two sides cut, both ways (isolating one node, 2/2, 3/1).
    Partition(Vec<String>, Vec<String>),
    /// Bytes lost in one direction of one link.
    Lose { from: String, to: String, direction: Direction },
    /// Every link delayed, with jitter.
    Delay { delay: Duration, jitter: Duration },
    /// Whichever node leads when the fault starts, cut off from the others both ways.
    IsolateLeader,
    /// The node's data dir (a tmpfs of its own) shrunk to what it already uses, so its next
    /// writes find the disk full; undone by growing it back (and restarting the node if
    /// it stopped).
    DiskFull(String),
    /// kill -9 and the data dir wiped; undone by the README's replacement procedure
    /// (start empty, `admin remove`, `add-learner`, `promote`).
    WipeAndReplace(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub fault: Fault,
    /// How long the fault lasts.
    pub hold: Duration,
    /// How long the healed cluster runs before the next fault.
    pub rest: Duration,
}

/// Faults for `nodes` filling about `duration` (the last step may end past it).
pub fn schedule(seed: u64, nodes: &[&str], duration: Duration) -> Vec<Step> {
    assert!(nodes.len() >= 3, "a schedule needs at least three nodes");
    let mut random = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    let mut total = Duration::ZERO;
    while total < duration && steps.len() < STEPS_MAX {
        let fault = fault(&mut random, nodes);
        let hold = Duration::from_millis(random.gen_range(HOLD_MS));
        let rest = Duration::from_millis(random.gen_range(REST_MS));
        total += hold + rest;
        steps.push(Step { fault, hold, rest });
    }
    steps
}

fn fault(random: &mut StdRng, nodes: &[&str]) -> Fault {
    let pick = |random: &mut StdRng| nodes.choose(random).expect("nodes").to_string();
    match random.gen_range(0..10) {
        0 => Fault::Kill(pick(random)),
        1 => Fault::Pause(pick(random)),
        2 => {
            let alone = pick(random);
            let rest = nodes.iter().filter(|node| **node != alone).map(|node| node.to_string()).collect();
            Fault::Partition(vec![alone], rest)
        }
        3 => {
            let mut shuffled: Vec<String> = nodes.iter().map(|node| node.to_string()).collect();
            shuffled.shuffle(random);
            let cut = random.gen_range(1..=nodes.len() / 2); // 1: 3/1 (or 4/1), 2: 2/2 (or 2/3)
            let right = shuffled.split_off(cut);
            Fault::Partition(shuffled, right)
        }
        4 => {
            let mut pair: Vec<&str> = nodes.choose_multiple(random, 2).copied().collect();
            pair.sort(); // then a coin for which end dials: the draw does not rest on choose_multiple's order
            if random.gen_bool(0.5) {
                pair.reverse();
            }
            let direction = if random.gen_bool(0.5) { Direction::Forward } else { Direction::Backward };
            Fault::Lose { from: pair[0].to_string(), to: pair[1].to_string(), direction }
        }
        5 => Fault::Delay {
            delay: Duration::from_millis(random.gen_range(5..=200)),
            jitter: Duration::from_millis(random.gen_range(0..=100)),
        },
        6 | 7 => Fault::IsolateLeader, // twice as likely: the fault that tests elections most
        8 => Fault::DiskFull(pick(random)),
        _ => Fault::WipeAndReplace(pick(random)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: [&str; 4] = ["cz", "menzis", "vgz", "zk"];

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let duration = Duration::from_secs(60);
        assert_eq!(schedule(7, &NODES, duration), schedule(7, &NODES, duration));
        assert_ne!(schedule(7, &NODES, duration), schedule(8, &NODES, duration));
    }

    #[test]
    fn a_schedule_fills_its_duration_and_names_only_known_nodes() {
        let duration = Duration::from_secs(30);
        for seed in 0..200 {
            let steps = schedule(seed, &NODES, duration);
            let total: Duration = steps.iter().map(|step| step.hold + step.rest).sum();
            assert!(total >= duration, "seed {seed}: {total:?}");
            assert!(steps.len() <= STEPS_MAX);
            for step in &steps {
                let named: Vec<&String> = match &step.fault {
                    Fault::Kill(node) | Fault::Pause(node) | Fault::DiskFull(node) | Fault::WipeAndReplace(node) => vec![node],
                    Fault::Partition(left, right) => {
                        assert!(!left.is_empty() && !right.is_empty(), "seed {seed}: {step:?}");
                        assert_eq!(left.len() + right.len(), NODES.len(), "seed {seed}: {step:?}");
                        left.iter().chain(right).collect()
                    }
                    Fault::Lose { from, to, .. } => {
                        assert_ne!(from, to);
                        vec![from, to]
                    }
                    Fault::Delay { .. } | Fault::IsolateLeader => vec![],
                };
                assert!(named.iter().all(|node| NODES.contains(&node.as_str())), "seed {seed}: {step:?}");
            }
        }
    }

    #[test]
    fn every_kind_of_fault_occurs() {
        let steps: Vec<Step> = (0..20).flat_map(|seed| schedule(seed, &NODES, Duration::from_secs(30))).collect();
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::Kill(_))));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::Pause(_))));
        assert!(steps.iter().any(|step| matches!(&step.fault, Fault::Partition(left, _) if left.len() == 1)));
        assert!(steps.iter().any(|step| matches!(&step.fault, Fault::Partition(left, right) if left.len() == 2 && right.len() == 2)));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::Lose { .. })));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::Delay { .. })));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::IsolateLeader)));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::DiskFull(_))));
        assert!(steps.iter().any(|step| matches!(step.fault, Fault::WipeAndReplace(_))));
    }
}
