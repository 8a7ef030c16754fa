//! `fairshare-node --config FILE`: run one node of a fairshare ledger.
//! `fairshare-node admin …`: membership changes for replacing a node.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fairshare_api::v1::MemberRequest;

#[derive(Parser)]
#[command(name = "fairshare-node", version, about = "Run one node of a fairshare ledger (one per insurer).")]
#[command(
    after_help = "Examples:\n  fairshare-node --config devnet/nodes/zk.toml\n  fairshare-node admin remove zk --node http://127.0.0.1:7101\n\nSee README.md, 'Replacing a node', for the procedure after a lost disk."
)]
struct Cli {
    /// The node's config file (TOML): id, key_file, genesis, data_dir, listen, peers.
    #[arg(long, env = "FAIRSHARE_NODE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Membership changes, sent to the leader (any node names it in `fairshare status`).
    #[command(
        after_help = "Replacing a node whose disk was lost (run against the leader):\n  fairshare-node admin remove zk --node http://127.0.0.1:7101\n  # start the node again on an empty data dir; it waits, taking no part in Raft\n  fairshare-node admin add-learner zk http://127.0.0.1:7104 --node http://127.0.0.1:7101\n  fairshare-node admin promote zk --node http://127.0.0.1:7101"
    )]
    Admin {
        #[command(subcommand)]
        action: AdminAction,
        /// The leader's gRPC address.
        #[arg(long, global = true, default_value = "http://127.0.0.1:7101")]
        node: String,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Remove a node from the voters (first step of replacing it).
    Remove { insurer: String },
    /// Re-admit a node started on an empty data dir and replicate to it until it caught up.
    AddLearner { insurer: String, address: String },
    /// Make a caught-up learner a voter again.
    Promote { insurer: String },
}

fn init_tracing(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn,sled=warn,h2=warn,tower=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn admin(node: String, action: AdminAction) -> Result<()> {
    // Membership changes wait for a learner to catch up: no call deadline.
    let mut client = fairshare_api::connect_admin(&node, fairshare_api::Deadlines::new(Duration::from_secs(2), None))
        .await
        .with_context(|| format!("no node answered at {node}; pass the leader's address with --node"))?;
    let reply = match action {
        AdminAction::Remove { insurer } => client.remove(MemberRequest { node: insurer, address: String::new() }).await,
        AdminAction::AddLearner { insurer, address } => client.add_learner(MemberRequest { node: insurer, address }).await,
        AdminAction::Promote { insurer } => client.promote(MemberRequest { node: insurer, address: String::new() }).await,
    };
    match reply {
        Ok(reply) => {
            println!("{}", reply.into_inner().message);
            Ok(())
        }
        Err(status) => anyhow::bail!("{}", status.message()),
    }
}

async fn run(config: PathBuf) -> Result<()> {
    let loaded = fairshare_node::config::load(&config)?;
    init_tracing(loaded.config.log_format == "json");
    let handles = fairshare_node::node::start(loaded).await?;
    // After start: opening the database must still be able to catch sled's panics.
    fairshare_node::health::abort_on_panic();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let signal = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        }
    };
    fairshare_node::node::run_until(handles, signal).await
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match (cli.command, cli.config) {
        (Some(Command::Admin { action, node }), _) => admin(node, action).await,
        (None, Some(config)) => run(config).await,
        (None, None) => Err(anyhow::anyhow!("give --config FILE (or FAIRSHARE_NODE_CONFIG); see --help")),
    };
    if let Err(error) = result {
        eprintln!("fairshare-node: {error:#}");
        std::process::exit(1);
    }
}
