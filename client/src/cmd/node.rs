//! `fairshare node --config FILE` (hidden): runs one node in this process.
//!
//! `fairshare devnet` starts its nodes as child processes of its own executable, so that
//! `cargo run --bin fairshare -- devnet` needs nothing else built. This mirrors
//! `fairshare-node --config FILE`: load and check the config, serve until SIGINT or
//! SIGTERM, then stop cleanly (gRPC, then Raft, then a database sync); exit with an error
//! when Raft stopped on its own; abort on a panic.

use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

use super::Context;

/// How often a devnet child checks that its parent is still there.
const PARENT_POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(clap::Args)]
#[command(
    after_help = "Example (what 'fairshare devnet' runs for each node):\n  fairshare node --config devnet/nodes/zk.toml --exit-with-parent"
)]
pub struct Args {
    /// Stop when the parent process goes away (devnet children), so no node outlives its devnet.
    #[arg(long)]
    exit_with_parent: bool,
}

/// Resolves once the parent process is gone (we were re-parented), if asked to watch it.
async fn parent_gone(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(PARENT_POLL_INTERVAL).await;
        if std::os::unix::process::parent_id() != parent {
            return;
        }
    }
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        // The global --config names the node config here (there is no client config).
        let config = context.config_path.clone().ok_or_else(|| anyhow!("give the node's config: fairshare node --config FILE"))?;
        let mut loaded = fairshare_node::config::load(&config)?;
        loaded.insecure = context.insecure;
        fairshare_node::logging::init(loaded.config.log_format == "json", context.insecure);
        let handles = fairshare_node::node::start(loaded).await?;
        // As in fairshare-node: a panic from now on stops the process.
        fairshare_node::health::abort_on_panic();
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let signal = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
                _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
                _ = parent_gone(self.exit_with_parent) => tracing::warn!("the devnet that started this node is gone: stopping"),
            }
        };
        fairshare_node::node::run_until(handles, signal).await
    }
}
