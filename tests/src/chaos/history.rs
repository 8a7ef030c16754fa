//! The client history of a chaos run and the check that it is consistent with the log the
//! nodes converged on. Pure: no clock, no I/O. Time is a sequence number handed out by
//! [`Recorder`], so "A ended before B started" is a comparison of two integers.
//!
//! What it reports ([`Violation`]):
//! - an acknowledged transaction missing from the final log, present more than once, or at
//!   another index than its client was told;
//! - a refused transaction that is in the log (any transaction present twice, too);
//! - a query answered from a state older than it asked for (`min_size`);
//! - a stale read: a query that began after a write's acknowledgement had completed, yet
//!   reflects fewer leaves than that write's index + 1, or says it did not see the write.
//!
//! Operations whose outcome is unknown (a timeout, a dropped connection) may or may not be
//! in the log, but at most once. This is the submit-and-read part of linearizability: a
//! single log whose order the acknowledgements fix, and reads that never go back in time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A transaction id as the log shows it (hex).
pub type TransactionId = String;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The node answered with a verdict at this leaf index.
    Acknowledged { index: u64 },
    /// The node said it did not take it (refused before the log: bad signature, used
    /// nonce, "not accepting writes"): it must never appear.
    Refused,
    /// No answer (timeout, connection cut): it may be in the log, once.
    Unknown,
}

/// What a query said about one transaction the test looked for in its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub transaction: TransactionId,
    pub seen: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationKind {
    Submit {
        transaction: TransactionId,
        outcome: SubmitOutcome,
    },
    /// A query answered: `answer_size` is the log size the answer reflects.
    Query {
        min_size: u64,
        answer_size: u64,
        observed: Vec<Observation>,
    },
}

/// One client operation: `start` before the request was sent, `end` after its answer (or
/// its failure) arrived, both from the same [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub client: u32,
    pub start: u64,
    pub end: u64,
    pub kind: OperationKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    LostAcknowledged { transaction: TransactionId, index: u64 },
    Duplicated { transaction: TransactionId, indexes: Vec<u64> },
    MovedAcknowledged { transaction: TransactionId, told: u64, found: u64 },
    RefusedInLog { transaction: TransactionId, index: u64 },
    OlderThanAsked { query_start: u64, min_size: u64, answer_size: u64 },
    StaleRead { query_start: u64, answer_size: u64, transaction: TransactionId, index: u64, acknowledged_at: u64 },
    MissedWrite { query_start: u64, answer_size: u64, transaction: TransactionId, index: u64, acknowledged_at: u64 },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::LostAcknowledged { transaction, index } => {
                write!(f, "transaction {transaction} was acknowledged at index {index} but is not in the log")
            }
            Violation::Duplicated { transaction, indexes } => write!(f, "transaction {transaction} is in the log {} times, at {indexes:?}", indexes.len()),
            Violation::MovedAcknowledged { transaction, told, found } => {
                write!(f, "transaction {transaction} was acknowledged at index {told} but is at index {found}")
            }
            Violation::RefusedInLog { transaction, index } => write!(f, "transaction {transaction} was refused but is in the log at index {index}"),
            Violation::OlderThanAsked { query_start, min_size, answer_size } => {
                write!(f, "query at t={query_start} asked for size >= {min_size} but was answered from size {answer_size}")
            }
            Violation::StaleRead { query_start, answer_size, transaction, index, acknowledged_at } => write!(
                f,
                "stale read: query at t={query_start} reflects size {answer_size}, but transaction {transaction} was acknowledged at index {index} at t={acknowledged_at}"
            ),
            Violation::MissedWrite { query_start, answer_size, transaction, index, acknowledged_at } => write!(
                f,
                "stale read: query at t={query_start} (size {answer_size}) did not see transaction {transaction}, acknowledged at index {index} at t={acknowledged_at}"
            ),
        }
    }
}

/// Checks `history` against `log` (the converged log: leaf index → transaction id).
/// Returns every violation found, in a deterministic order; empty means consistent.
pub fn check(history: &[Operation], log: &[TransactionId]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut positions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (index, transaction) in log.iter().enumerate() {
        positions.entry(transaction.as_str()).or_default().push(index as u64);
    }
    for (transaction, indexes) in &positions {
        if indexes.len() > 1 {
            violations.push(Violation::Duplicated { transaction: transaction.to_string(), indexes: indexes.clone() });
        }
    }
    // Acknowledged writes, by the time their acknowledgement completed.
    let mut acknowledged: Vec<(u64, &str, u64)> = Vec::new();
    for operation in history {
        assert!(operation.start <= operation.end, "an operation ends before it starts: {operation:?}");
        let OperationKind::Submit { transaction, outcome } = &operation.kind else { continue };
        let found = positions.get(transaction.as_str()).map(|indexes| indexes[0]);
        match (outcome, found) {
            (SubmitOutcome::Acknowledged { index }, None) => {
                violations.push(Violation::LostAcknowledged { transaction: transaction.clone(), index: *index });
            }
            (SubmitOutcome::Acknowledged { index }, Some(found)) => {
                if found != *index {
                    violations.push(Violation::MovedAcknowledged { transaction: transaction.clone(), told: *index, found });
                }
            }
            (SubmitOutcome::Refused, Some(index)) => violations.push(Violation::RefusedInLog { transaction: transaction.clone(), index }),
            (SubmitOutcome::Refused, None) | (SubmitOutcome::Unknown, _) => {}
        }
        if let SubmitOutcome::Acknowledged { index } = outcome {
            acknowledged.push((operation.end, transaction.as_str(), *index));
        }
    }
    acknowledged.sort();
    for operation in history {
        let OperationKind::Query { min_size, answer_size, observed } = &operation.kind else { continue };
        if answer_size < min_size {
            violations.push(Violation::OlderThanAsked { query_start: operation.start, min_size: *min_size, answer_size: *answer_size });
        }
        // Only writes whose acknowledgement completed strictly before the query began.
        let before = acknowledged.partition_point(|(end, _, _)| *end < operation.start);
        for (acknowledged_at, transaction, index) in &acknowledged[..before] {
            let missed = observed.iter().any(|observation| observation.transaction == *transaction && !observation.seen);
            if *answer_size < index + 1 {
                violations.push(Violation::StaleRead {
                    query_start: operation.start,
                    answer_size: *answer_size,
                    transaction: transaction.to_string(),
                    index: *index,
                    acknowledged_at: *acknowledged_at,
                });
            } else if missed {
                violations.push(Violation::MissedWrite {
                    query_start: operation.start,
                    answer_size: *answer_size,
                    transaction: transaction.to_string(),
                    index: *index,
                    acknowledged_at: *acknowledged_at,
                });
            }
        }
    }
    violations
}

/// Records a history from many client threads: a logical clock and a bounded list.
pub struct Recorder {
    clock: AtomicU64,
    operations: Mutex<Vec<Operation>>, // never held across an await or a blocking call
    capacity: usize,
}

impl Recorder {
    /// `capacity` bounds the history; recording more is a bug in the test (it panics).
    pub fn new(capacity: usize) -> Recorder {
        Recorder { clock: AtomicU64::new(0), operations: Mutex::new(Vec::new()), capacity }
    }

    /// The time to use as an operation's start: call it before sending the request.
    pub fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// Records an operation that started at `start` and has just ended.
    pub fn finish(&self, client: u32, start: u64, kind: OperationKind) {
        let end = self.now();
        let mut operations = self.operations.lock().expect("recorder lock");
        assert!(operations.len() < self.capacity, "history longer than its bound of {}", self.capacity);
        operations.push(Operation { client, start, end, kind });
    }

    pub fn history(&self) -> Vec<Operation> {
        self.operations.lock().expect("recorder lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(client: u32, start: u64, end: u64, transaction: &str, outcome: SubmitOutcome) -> Operation {
        Operation { client, start, end, kind: OperationKind::Submit { transaction: transaction.into(), outcome } }
    }

    fn query(client: u32, start: u64, end: u64, min_size: u64, answer_size: u64, observed: &[(&str, bool)]) -> Operation {
        let observed =
            observed.iter().map(|(transaction, seen)| Observation { transaction: transaction.to_string(), seen: *seen }).collect();
        Operation { client, start, end, kind: OperationKind::Query { min_size, answer_size, observed } }
    }

    fn log(ids: &[&str]) -> Vec<TransactionId> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_clean_history_passes() {
        let history = vec![
            submit(1, 0, 3, "a", SubmitOutcome::Acknowledged { index: 0 }),
            submit(2, 1, 4, "b", SubmitOutcome::Acknowledged { index: 1 }),
            submit(2, 5, 6, "c", SubmitOutcome::Refused),
            submit(1, 5, 9, "d", SubmitOutcome::Unknown),
            // Concurrent with b's acknowledgement: may or may not see it.
            query(3, 2, 8, 0, 1, &[("a", true), ("b", false)]),
            query(3, 10, 11, 2, 3, &[("a", true), ("b", true)]),
        ];
        assert_eq!(check(&history, &log(&["a", "b", "d"])), vec![]);
        // The unknown one may also be missing.
        assert_eq!(check(&history, &log(&["a", "b"])), vec![]);
    }

    #[test]
    fn a_lost_acknowledged_write_is_reported() {
        let history = vec![
            submit(1, 0, 1, "a", SubmitOutcome::Acknowledged { index: 0 }),
            submit(1, 2, 3, "b", SubmitOutcome::Acknowledged { index: 1 }),
        ];
        assert_eq!(check(&history, &log(&["a"])), vec![Violation::LostAcknowledged { transaction: "b".into(), index: 1 }]);
    }

    #[test]
    fn a_stale_read_is_reported_by_size_and_by_what_it_missed() {
        let history = vec![
            submit(1, 0, 1, "a", SubmitOutcome::Acknowledged { index: 0 }),
            submit(1, 2, 3, "b", SubmitOutcome::Acknowledged { index: 1 }),
            // Began after b was acknowledged, answered from size 1: b's index 1 needs size 2.
            query(2, 4, 5, 0, 1, &[]),
            // Size is new enough, but the answer says b's effect is missing.
            query(2, 6, 7, 0, 2, &[("b", false)]),
        ];
        let violations = check(&history, &log(&["a", "b"]));
        assert_eq!(
            violations,
            vec![
                Violation::StaleRead { query_start: 4, answer_size: 1, transaction: "b".into(), index: 1, acknowledged_at: 3 },
                Violation::MissedWrite { query_start: 6, answer_size: 2, transaction: "b".into(), index: 1, acknowledged_at: 3 },
            ]
        );
        // Each message names the transaction.
        assert!(violations.iter().all(|violation| violation.to_string().contains("transaction b")));
    }

    #[test]
    fn a_lost_write_and_a_stale_read_in_one_history_are_both_reported() {
        let history = vec![
            submit(1, 0, 1, "a", SubmitOutcome::Acknowledged { index: 0 }),
            submit(1, 2, 3, "b", SubmitOutcome::Acknowledged { index: 1 }),
            query(2, 4, 5, 0, 1, &[("a", true)]),
        ];
        let violations = check(&history, &log(&["a"]));
        assert!(violations.contains(&Violation::LostAcknowledged { transaction: "b".into(), index: 1 }), "{violations:?}");
        assert!(
            violations.iter().any(|violation| matches!(violation, Violation::StaleRead { transaction, .. } if transaction == "b")),
            "{violations:?}"
        );
    }

    #[test]
    fn a_write_in_the_log_twice_elsewhere_or_refused_is_reported() {
        let history = vec![
            submit(1, 0, 1, "a", SubmitOutcome::Acknowledged { index: 0 }),
            submit(1, 2, 3, "b", SubmitOutcome::Acknowledged { index: 1 }),
            submit(1, 4, 5, "c", SubmitOutcome::Refused),
            submit(1, 6, 7, "d", SubmitOutcome::Unknown),
        ];
        let violations = check(&history, &log(&["a", "c", "b", "d", "d"]));
        assert_eq!(
            violations,
            vec![
                Violation::Duplicated { transaction: "d".into(), indexes: vec![3, 4] },
                Violation::MovedAcknowledged { transaction: "b".into(), told: 1, found: 2 },
                Violation::RefusedInLog { transaction: "c".into(), index: 1 },
            ]
        );
    }

    #[test]
    fn a_query_older_than_it_asked_for_is_reported() {
        let history = vec![query(1, 0, 1, 5, 4, &[])];
        assert_eq!(check(&history, &[]), vec![Violation::OlderThanAsked { query_start: 0, min_size: 5, answer_size: 4 }]);
    }

    #[test]
    fn a_write_acknowledged_while_the_query_ran_is_not_required() {
        // The acknowledgement completed at t=3, after the query began at t=2.
        let history = vec![submit(1, 0, 3, "a", SubmitOutcome::Acknowledged { index: 0 }), query(2, 2, 4, 0, 0, &[("a", false)])];
        assert_eq!(check(&history, &log(&["a"])), vec![]);
    }

    #[test]
    fn the_recorder_orders_operations_by_its_clock() {
        let recorder = Recorder::new(4);
        let start = recorder.now();
        recorder.finish(1, start, OperationKind::Submit { transaction: "a".into(), outcome: SubmitOutcome::Acknowledged { index: 0 } });
        let start = recorder.now();
        recorder.finish(2, start, OperationKind::Query { min_size: 0, answer_size: 0, observed: vec![] });
        let history = recorder.history();
        assert!(history[0].end < history[1].start);
        assert_eq!(
            check(&history, &log(&["a"])),
            vec![Violation::StaleRead { query_start: 2, answer_size: 0, transaction: "a".into(), index: 0, acknowledged_at: 1 }]
        );
    }
}
