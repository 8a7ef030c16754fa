//! `fairshare status`: every node's view of the ledger, side by side.

use anyhow::{bail, Result};
use fairshare_client::connection::{self, ClientError, Connection};
use fairshare_client::table::Table;
use fairshare_client::views::NodeStatus;

use super::Context;

/// Show each node: its leader, log size, Merkle root, certified size and state digest.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  fairshare status\n  fairshare status --json\n  fairshare status --node https://127.0.0.1:7102\n\n\
    Nodes that agree show the same root and digest for the same size. 'history' is how far back a node\n\
    serves the log ('audit export'): 'full', or 'from N' while a node that caught up from a snapshot\n\
    fetches the older blocks from its peers.")]
pub struct Args {}

/// How far back a node serves the log: "full", or the first log index it holds without
/// gaps (a node that caught up from a snapshot, still fetching the older blocks).
fn history(from: u64) -> String {
    if from == 0 {
        "full".into()
    } else {
        format!("from {from}")
    }
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

/// Asks every node at once; answers in the order of `nodes`.
pub async fn statuses(connection: &Connection) -> Vec<NodeStatus> {
    let mut tasks = tokio::task::JoinSet::new();
    for (position, address) in connection.nodes().iter().cloned().enumerate() {
        let transport = connection.transport().clone();
        tasks.spawn(async move { (position, address.clone(), connection::status(&address, &transport).await) });
    }
    let mut answers = Vec::with_capacity(connection.nodes().len());
    while let Some(joined) = tasks.join_next().await {
        let (position, address, answer) = joined.expect("status tasks do not panic");
        let status = match answer {
            Ok(status) => NodeStatus {
                address,
                node: status.node,
                reachable: true,
                leader: status.leader,
                term: status.term,
                size: status.size,
                root: hex::encode(&status.root),
                state_digest: hex::encode(&status.state_digest),
                certified_size: status.certified_size,
                certified_root: hex::encode(&status.certified_root),
                applied_index: status.applied_index,
                accepting_writes: status.accepting_writes,
                ledger_id: status.ledger_id,
                evidence: status.evidence,
                history_from: status.history_from,
                error: None,
            },
            Err(error) => NodeStatus {
                address,
                node: String::new(),
                reachable: false,
                leader: String::new(),
                term: 0,
                size: 0,
                root: String::new(),
                state_digest: String::new(),
                certified_size: 0,
                certified_root: String::new(),
                applied_index: 0,
                accepting_writes: false,
                ledger_id: String::new(),
                evidence: Vec::new(),
                history_from: 0,
                error: Some(match error {
                    ClientError::NoNode { tried } => tried.join("; "),
                    other => other.to_string(),
                }),
            },
        };
        answers.push((position, status));
    }
    answers.sort_by_key(|(position, _)| *position);
    answers.into_iter().map(|(_, status)| status).collect()
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let connection = context.connection()?;
        let statuses = statuses(&connection).await;
        if context.json {
            context.print_json(&statuses)?;
        } else {
            let mut table =
                Table::new(&["node", "address", "leader", ">term", ">size", "root", ">certified", "digest", "writes", "history"]);
            for status in &statuses {
                if status.reachable {
                    table.row(vec![
                        status.node.clone(),
                        status.address.clone(),
                        if status.leader.is_empty() { "-".into() } else { status.leader.clone() },
                        status.term.to_string(),
                        status.size.to_string(),
                        short(&status.root),
                        status.certified_size.to_string(),
                        short(&status.state_digest),
                        if status.accepting_writes { "yes".into() } else { "no".into() },
                        history(status.history_from),
                    ]);
                } else {
                    let why = status.error.clone().unwrap_or_default();
                    table.row(vec![
                        "?".into(),
                        status.address.clone(),
                        "unreachable".into(),
                        "".into(),
                        "".into(),
                        why,
                        "".into(),
                        "".into(),
                        "".into(),
                        "".into(),
                    ]);
                }
            }
            print!("{}", table.render());
            for status in statuses.iter().filter(|status| !status.evidence.is_empty()) {
                for evidence in &status.evidence {
                    println!("evidence seen by {}: {evidence}", status.node);
                }
            }
        }
        if statuses.iter().all(|status| !status.reachable) {
            bail!("no node answered; start a ledger with 'fairshare devnet' or check the addresses in the client config");
        }
        Ok(())
    }
}
