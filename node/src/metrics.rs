//! Prometheus metrics over plain HTTP (text format 0.0.4), without a metrics crate: a
//! handful of gauges and one histogram are a few lines each.

use crate::ledger_cell::LedgerCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::raft::snapshot_check::SnapshotRefusals;
use crate::raft::Raft;

/// Upper bounds of the submit latency histogram, in milliseconds.
const LATENCY_BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000];

#[derive(Default)]
pub struct Metrics {
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    pub peers_up: AtomicU64,
    pub evidence: AtomicU64,
    /// Blocks this node's batcher wrote or forwarded, and the envelopes in them: their
    /// ratio is how well group commit groups.
    pub blocks_written: AtomicU64,
    pub block_envelopes_written: AtomicU64,
    /// Connections open on the gRPC port (see `limits`).
    pub connections_open: AtomicU64,
    /// Connections closed at once because a cap was reached.
    pub connections_refused: AtomicU64,
    /// Snapshots refused from peers (`raft::snapshot_check`).
    pub snapshot_refusals: Arc<SnapshotRefusals>,
    /// The lowest log index from which this node holds a gap-free history, as the history
    /// backfill (`crate::backfill`) last read it: 0 on a node with the full history.
    pub history_from: AtomicU64,
}

impl Metrics {
    pub fn observe_submit(&self, elapsed: Duration) {
        let millis = elapsed.as_millis() as u64;
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS_MS) {
            if millis <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self, raft: &Raft, ledger: &LedgerCell) -> String {
        let metrics = raft.metrics().borrow().clone();
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        // openraft 0.9's metrics carry no commit index: this is the last index in this node's
        // log, which on a leader or a lagging follower may be ahead of what is committed.
        // The name stays for existing dashboards; the help says what it measures.
        gauge(
            "fairshare_commit_index",
            "Last Raft log index appended to this node's log (may be ahead of the committed index)",
            metrics.last_log_index.unwrap_or(0),
        );
        gauge(
            "fairshare_applied_index",
            "Raft log index applied to the ledger",
            metrics.last_applied.map(|log_id| log_id.index).unwrap_or(0),
        );
        gauge("fairshare_term", "Current Raft term", metrics.current_term);
        gauge("fairshare_peers_up", "Peers that answered the last probe", self.peers_up.load(Ordering::Relaxed));
        gauge("fairshare_checkpoint_evidence", "Conflicting checkpoint statements seen", self.evidence.load(Ordering::Relaxed));
        gauge("fairshare_connections_open", "Connections open on the gRPC port", self.connections_open.load(Ordering::Relaxed));
        gauge(
            "fairshare_snapshots_refused",
            "Snapshots from peers refused since start for not proving themselves (the ERROR log names the sender)",
            self.snapshot_refusals.refused_total(),
        );
        gauge(
            "fairshare_history_from",
            "Lowest Raft log index from which this node serves a gap-free history (0: full; above 0 while it fetches the blocks before a snapshot it caught up from)",
            self.history_from.load(Ordering::Relaxed),
        );
        let (size, certified, rejections) = {
            let ledger = ledger.view();
            let certified = ledger.certification().latest_certified().map(|head| head.size).unwrap_or(0);
            (ledger.size(), certified, ledger.state().rejections.clone())
        };
        gauge("fairshare_log_size", "Merkle leaves (ledger transactions)", size);
        gauge("fairshare_certified_size", "Log size of the newest certified checkpoint", certified);
        let _ =
            writeln!(out, "# HELP fairshare_rejections_total Rejected transactions by reason\n# TYPE fairshare_rejections_total counter");
        for (reason, count) in rejections.iter() {
            let _ = writeln!(out, "fairshare_rejections_total{{reason=\"{reason}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP fairshare_connections_refused_total Connections closed at once at a connection cap\n# TYPE fairshare_connections_refused_total counter\nfairshare_connections_refused_total {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP fairshare_blocks_written_total Blocks this node's batcher wrote to Raft or forwarded to the leader\n# TYPE fairshare_blocks_written_total counter\nfairshare_blocks_written_total {}",
            self.blocks_written.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP fairshare_block_envelopes_written_total Envelopes in the blocks of fairshare_blocks_written_total\n# TYPE fairshare_block_envelopes_written_total counter\nfairshare_block_envelopes_written_total {}",
            self.block_envelopes_written.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP fairshare_submit_seconds Time from submission to applied\n# TYPE fairshare_submit_seconds histogram");
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS_MS) {
            let _ = writeln!(out, "fairshare_submit_seconds_bucket{{le=\"{}\"}} {}", bound as f64 / 1000.0, bucket.load(Ordering::Relaxed));
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "fairshare_submit_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "fairshare_submit_seconds_sum {}", self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "fairshare_submit_seconds_count {count}");
        out
    }
}

/// Serves `GET /metrics` (any path, in fact) until the listener task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, raft: Raft, ledger: Arc<LedgerCell>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let body = metrics.render(&raft, &ledger);
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut request)).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        });
    }
}
