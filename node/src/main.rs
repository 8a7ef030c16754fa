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
    after_help = "Examples:\n  fairshare-node --config devnet/nodes/zk.toml\n  fairshare-node admin remove zk --node https://127.0.0.1:7101 --config devnet/nodes/zk.toml\n\nSee README.md, 'Replacing a node', for the procedure after a lost disk."
)]
struct Cli {
    /// The node's config file (TOML): id, key_file, genesis, data_dir, listen, peers.
    #[arg(long, env = "FAIRSHARE_NODE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Plain text, no authentication: anyone who reaches the port can read the ledger and
    /// speak Raft. For experiments only; every node (and client) of the ledger must agree.
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Membership changes, sent to the leader (any node names it in `fairshare status`).
    #[command(
        after_help = "Replacing a node whose disk was lost (run against the leader, as the insurer that runs the node: --config names\nthat node's config, whose node key and genesis identify the caller over mutual TLS):\n  fairshare-node admin remove zk --node https://127.0.0.1:7101 --config devnet/nodes/zk.toml\n  # start the node again on an empty data dir; it waits, taking no part in Raft\n  fairshare-node admin add-learner zk https://127.0.0.1:7104 --node https://127.0.0.1:7101 --config devnet/nodes/zk.toml\n  fairshare-node admin promote zk --node https://127.0.0.1:7101 --config devnet/nodes/zk.toml\n\nAnother insurer's node (e.g. zk's, whose operator is gone) changes only on a proposal that more than two thirds\nof the insurers approved on the ledger ('fairshare membership approve replace-zk zk remove'), executed once:\n  fairshare-node admin remove zk --proposal replace-zk --node https://127.0.0.1:7101 --config devnet/nodes/cz.toml"
    )]
    Admin {
        #[command(subcommand)]
        action: AdminAction,
        /// The leader's gRPC address.
        #[arg(long, global = true, default_value = "https://127.0.0.1:7101")]
        node: String,
        /// For another insurer's node: the approved membership proposal on the ledger.
        #[arg(long, global = true, value_name = "ID", default_value = "")]
        proposal: String,
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

/// The admin's transport: mutual TLS as the node of `config` (its node key is the operator
/// certificate of the insurer that runs it), trusting genesis' node keys.
fn admin_transport(config: Option<&std::path::Path>, insecure: bool) -> Result<fairshare_api::Transport> {
    if insecure {
        return Ok(fairshare_api::Transport::Insecure);
    }
    let config =
        config.context("give --config with the config of your node: its node key identifies you (or --insecure on an insecure ledger)")?;
    let loaded = fairshare_node::config::load(config)?;
    let security = fairshare_node::transport::Security::tls(&loaded.genesis, &loaded.node_key)?;
    Ok(security.client)
}

async fn admin(node: String, action: AdminAction, proposal: String, transport: fairshare_api::Transport) -> Result<()> {
    // Membership changes wait for a learner to catch up: no call deadline.
    let mut client = fairshare_api::connect_admin(&node, fairshare_api::Deadlines::new(Duration::from_secs(2), None), &transport)
        .await
        .with_context(|| format!("no node answered at {node}; pass the leader's address with --node"))?;
    let reply = match action {
        AdminAction::Remove { insurer } => client.remove(MemberRequest { node: insurer, address: String::new(), proposal }).await,
        AdminAction::AddLearner { insurer, address } => client.add_learner(MemberRequest { node: insurer, address, proposal }).await,
        AdminAction::Promote { insurer } => client.promote(MemberRequest { node: insurer, address: String::new(), proposal }).await,
    };
    match reply {
        Ok(reply) => {
            println!("{}", reply.into_inner().message);
            Ok(())
        }
        Err(status) => anyhow::bail!("{}", status.message()),
    }
}

async fn run(config: PathBuf, insecure: bool) -> Result<()> {
    let mut loaded = fairshare_node::config::load(&config)?;
    loaded.insecure = insecure;
    fairshare_node::logging::init(loaded.config.log_format == "json", insecure);
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
        (Some(Command::Admin { action, node, proposal }), config) => match admin_transport(config.as_deref(), cli.insecure) {
            Ok(transport) => admin(node, action, proposal, transport).await,
            Err(error) => Err(error),
        },
        (None, Some(config)) => run(config, cli.insecure).await,
        (None, None) => Err(anyhow::anyhow!("give --config FILE (or FAIRSHARE_NODE_CONFIG); see --help")),
    };
    if let Err(error) = result {
        eprintln!("fairshare-node: {error:#}");
        std::process::exit(1);
    }
}
