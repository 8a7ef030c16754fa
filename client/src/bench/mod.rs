//! What `fairshare bench` measures with, apart from the network: exact latency
//! percentiles, the providers a run registers, and the IZA workload ([`iza`]).
//!
//! Everything here is deterministic given its inputs (a run's seed), so a run can be
//! repeated shape for shape; only the ids move with the seed, so reruns on one ledger do
//! not collide.

use std::time::Duration;

use serde::Serialize;

pub mod iza;

/// Party ids are "agb:" or "kvk:" and 8 digits.
const PARTY_NUMBERS: u64 = 100_000_000;

/// The `counter`th party number of a run: consecutive from a start derived from the seed,
/// so two runs with different seeds rarely overlap and one run never repeats itself
/// (within 10^8 parties).
pub fn party_number(seed: u64, counter: u64) -> u64 {
    (spread(seed) % PARTY_NUMBERS + counter % PARTY_NUMBERS) % PARTY_NUMBERS
}

/// The `counter`th provider a run registers: "agb:" and 8 digits.
pub fn provider_id(seed: u64, counter: u64) -> String {
    format!("agb:{:08}", party_number(seed, counter))
}

/// SplitMix64's finaliser: nearby seeds give distant values.
pub fn spread(seed: u64) -> u64 {
    let mut value = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// Recorded latencies; percentiles are exact (nearest rank over the sorted samples), not
/// estimated from buckets.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
}

/// Percentiles in milliseconds (floats: a measurement, not money).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.samples.push(latency);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The nearest-rank percentile `percent` (0 < percent ≤ 100) of `sorted`: the smallest
    /// sample that at least `percent`% of the samples are at or below.
    fn percentile(sorted: &[Duration], percent: u32) -> Duration {
        assert!((1..=100).contains(&percent), "a percentile is 1..=100");
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = (sorted.len() * percent as usize).div_ceil(100);
        sorted[rank.max(1) - 1]
    }

    pub fn summary(&self) -> LatencySummary {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let ms = |duration: Duration| duration.as_secs_f64() * 1_000.0;
        LatencySummary {
            count: sorted.len(),
            p50_ms: ms(Latencies::percentile(&sorted, 50)),
            p95_ms: ms(Latencies::percentile(&sorted, 95)),
            p99_ms: ms(Latencies::percentile(&sorted, 99)),
            max_ms: ms(sorted.last().copied().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_exact_nearest_ranks() {
        let mut latencies = Latencies::default();
        for millis in (1..=100).rev() {
            latencies.record(Duration::from_millis(millis));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 100);
        assert_eq!((summary.p50_ms, summary.p95_ms, summary.p99_ms, summary.max_ms), (50.0, 95.0, 99.0, 100.0));

        let mut one = Latencies::default();
        one.record(Duration::from_millis(7));
        assert_eq!(one.summary().p50_ms, 7.0);
        assert_eq!(one.summary().p99_ms, 7.0);
        assert_eq!(Latencies::default().summary().max_ms, 0.0, "no samples, no panic");
    }

    #[test]
    fn provider_ids_are_well_formed_and_distinct_within_a_run() {
        let ids: std::collections::BTreeSet<String> = (0..1_000).map(|counter| provider_id(42, counter)).collect();
        assert_eq!(ids.len(), 1_000);
        for id in &ids {
            fairshare_protocol::ids::check_party(id).unwrap();
        }
        assert_ne!(provider_id(42, 0), provider_id(43, 0));
        assert_eq!(provider_id(u64::MAX, u64::MAX).len(), 12, "no overflow at the edges");
    }
}
