//! `fairshare observe`: the regulator's live observer. Follows every node's log (the
//! `AuditLog` stream, `follow`), feeds [`fairshare_client::observer::Observer`], prints
//! evidence as it is raised and serves its status and metrics over HTTP (`--listen`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use fairshare_client::audit::{exit, fetch};
use fairshare_client::connection::Connection;
use fairshare_client::observer::{ObservedEvidence, Observer, ObserverStatus};
use fairshare_protocol::Genesis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::Context;

/// Between two attempts to (re)connect to one node's stream.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// Between two progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Blocks in flight from the streams to the verifier.
const QUEUE: usize = 256;

/// Follow every node's log live as a regulator: verify every signature, re-execute the
/// rules, check every certified checkpoint, and name any node that serves or signs
/// something else than the certified history.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    fairshare --as nza observe                                # every node of the client config, until Ctrl-C\n  \
    fairshare --as nza observe --listen 127.0.0.1:9470        # status at /status (JSON), metrics at /metrics\n  \
    fairshare --as nza observe --until-certified 40 --json    # stop once size 40 is certified and verified\n\n\
    Evidence is printed the moment it is raised (a line each; --json: one JSON object each).\n\
    Exit codes with --until-certified: 0 verified, no evidence; 3 evidence was raised; 2 could not observe.")]
pub struct Args {
    /// Serve the observer's status (GET /status, JSON) and metrics (GET /metrics) here.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Re-execute this node's blocks (an URL of the client config); default: the first.
    #[arg(long, value_name = "URL")]
    primary: Option<String>,
    /// Stop once the observer has verified a certified checkpoint of at least this size.
    #[arg(long, value_name = "SIZE")]
    until_certified: Option<u64>,
    /// The genesis you trust (TOML): the nodes' must be this one.
    #[arg(long, value_name = "FILE")]
    genesis: Option<std::path::PathBuf>,
}

/// One block from one node's stream, of one generation of streams.
struct Served {
    generation: u64,
    node: String,
    log_index: u64,
    block: Vec<u8>,
}

impl Args {
    pub async fn run(self, context: &Context) -> Result<()> {
        let urls: Vec<String> = match &context.node {
            Some(node) => vec![node.clone()],
            None => context.config()?.file.nodes.clone(),
        };
        let transport = context.transport()?;
        let mut order: Vec<String> = urls.clone();
        if let Some(primary) = &self.primary {
            let at = order
                .iter()
                .position(|url| url == primary)
                .ok_or_else(|| anyhow!("--primary {primary} is not one of the nodes {urls:?}"))?;
            order.rotate_left(at);
        }
        // Every node's name and the genesis they share.
        let mut names = Vec::new();
        let mut full_history = Vec::new();
        let mut genesis: Option<Genesis> = None;
        for url in &order {
            let connection = Connection::new(vec![url.clone()], transport.clone());
            let mut node = fetch::Node::first(&connection).await.with_context(|| format!("cannot reach {url}"))?;
            let status = node.status().await?;
            let canonical =
                Genesis::from_pb(&node.genesis().await?).map_err(|error| anyhow!("{url} serves an invalid genesis: {error}"))?;
            match &genesis {
                Some(first) if first.hash() != canonical.hash() => {
                    bail!("{url} ({}) serves another genesis than {}", status.node, order[0])
                }
                Some(_) => {}
                None => genesis = Some(canonical),
            }
            names.push(status.node);
            full_history.push(status.history_from == 0);
        }
        // The primary must serve the log from genesis: a node still fetching the history
        // before its snapshot cannot (yet); any of the others can be compared meanwhile.
        if self.primary.is_none() {
            if let Some(at) = full_history.iter().position(|full| *full) {
                order.rotate_left(at);
                names.rotate_left(at);
            }
        }
        let genesis = Arc::new(genesis.ok_or_else(|| anyhow!("no nodes to observe: give a client config with nodes, or --node URL"))?);
        if let Some(path) = &self.genesis {
            let text = super::read_file(path)?;
            let file: fairshare_protocol::genesis::GenesisFile =
                toml::from_str(&text).with_context(|| format!("{} is not a genesis file", path.display()))?;
            let pinned = file.build().with_context(|| format!("{} is not a valid genesis", path.display()))?;
            if pinned.hash() != genesis.hash() {
                bail!("the nodes' genesis {} is not the pinned one {}", hex::encode(genesis.hash()), hex::encode(pinned.hash()));
            }
        }

        let (generation_sender, generation) = watch::channel(0u64);
        let (sender, mut receiver) = mpsc::channel::<Served>(QUEUE);
        for (url, name) in order.iter().zip(&names) {
            tokio::spawn(follow(url.clone(), name.clone(), transport.clone(), generation.clone(), sender.clone()));
        }
        drop(sender);

        let shared = Arc::new(Mutex::new((ObserverStatus::default(), String::new())));
        if let Some(address) = self.listen {
            let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
            eprintln!("observer status at http://{}/status, metrics at /metrics", listener.local_addr()?);
            tokio::spawn(serve(listener, shared.clone()));
        }

        let mut primaries = names.clone().into_iter();
        let mut observer = Observer::new(genesis.clone(), &primaries.next().expect("at least one node"));
        let mut current = 0u64;
        let mut last_progress = Instant::now();
        eprintln!("observing {} nodes ({}), re-executing {}'s blocks", names.len(), names.join(", "), observer.primary());
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        loop {
            let served = tokio::select! {
                served = receiver.recv() => served,
                _ = &mut stop => break,
            };
            let Some(served) = served else { bail!("every node's stream ended") };
            if served.generation != current {
                continue;
            }
            let evidence = observer.receive(&served.node, served.log_index, &served.block);
            for found in &evidence {
                print_evidence(context, found)?;
            }
            if observer.status().halted.is_some() {
                let blamed = |name: &String| {
                    observer
                        .status()
                        .evidence
                        .iter()
                        .any(|found| &found.node == name && matches!(found.kind.as_str(), "altered_history" | "bad_block"))
                };
                let Some(next) = primaries.find(|name| !blamed(name)) else {
                    bail!("every node served a history that contradicts the certified one; stopped");
                };
                eprintln!("{}; starting over from genesis with {next}'s blocks", observer.status().halted.clone().unwrap_or_default());
                let kept = observer.status().evidence.clone();
                observer = Observer::new(genesis.clone(), &next);
                observer.carry_evidence(kept);
                current += 1;
                generation_sender.send_replace(current);
            }
            *shared.lock().expect("status lock") = (observer.status().clone(), observer.metrics());
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let status = observer.status();
                eprintln!(
                    "verified log index {}, {} leaves ({} envelopes); certified size {}; {} evidence",
                    status.verified_log_index,
                    status.verified_size,
                    status.envelopes_verified,
                    status.certified_size,
                    status.evidence.len()
                );
            }
            if let Some(target) = self.until_certified {
                if observer.status().certified_size >= target {
                    let status = observer.status();
                    if context.json {
                        context.print_json(status)?;
                    } else {
                        println!(
                            "verified up to log index {}: {} leaves, certified size {} (root {}); {} evidence",
                            status.verified_log_index,
                            status.verified_size,
                            status.certified_size,
                            status.certified_root,
                            status.evidence.len()
                        );
                    }
                    if !status.evidence.is_empty() {
                        std::process::exit(exit::EVIDENCE);
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

fn print_evidence(context: &Context, found: &ObservedEvidence) -> Result<()> {
    if context.json {
        println!("{}", serde_json::to_string(found)?);
    } else if found.kind == "divergent_block" {
        println!("DIVERGENCE, not yet attributed: {}", found.what);
    } else {
        println!("EVIDENCE against node {} ({}): {}", found.node, found.kind, found.what);
    }
    Ok(())
}

/// One node's log, live, from the start, again from the start on every new generation;
/// reconnects after an error. Ends when the verifier is gone.
async fn follow(
    url: String,
    name: String,
    transport: fairshare_api::Transport,
    mut generation: watch::Receiver<u64>,
    sender: mpsc::Sender<Served>,
) {
    let mut last_error = String::new();
    let mut report = |error: String| {
        if error != last_error {
            eprintln!("observer: {name} ({url}): {error}");
            last_error = error;
        }
    };
    loop {
        let current = *generation.borrow_and_update();
        let connection = Connection::new(vec![url.clone()], transport.clone());
        let stream = match fetch::Node::first(&connection).await {
            Ok(mut node) => node.follow_log(0).await.map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match stream {
            Ok(mut stream) => loop {
                let message = tokio::select! {
                    message = stream.message() => message,
                    _ = generation.changed() => break,
                };
                match message {
                    Ok(Some(block)) => {
                        let served = Served { generation: current, node: name.clone(), log_index: block.log_index, block: block.block };
                        if sender.send(served).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        report(status.message().to_string());
                        break;
                    }
                }
            },
            Err(error) => report(error),
        }
        if sender.is_closed() {
            return;
        }
        if *generation.borrow() == current {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

/// Status connections served at once; more are closed at once (a scraper opens one).
const STATUS_CONNECTIONS_MAX: usize = 32;
/// Reading the request and writing the answer each get this long.
const STATUS_IO_DEADLINE: Duration = Duration::from_secs(5);

/// A minimal HTTP/1.1 responder: GET /status (JSON) and GET /metrics (Prometheus text). At
/// most [`STATUS_CONNECTIONS_MAX`] connections at once, each read and write within
/// [`STATUS_IO_DEADLINE`]; a failed accept (out of file descriptors) pauses before the next.
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Mutex<(ObserverStatus, String)>>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(STATUS_CONNECTIONS_MAX));
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut request = [0u8; 1024];
            let read = tokio::time::timeout(STATUS_IO_DEADLINE, socket.read(&mut request)).await;
            let Ok(Ok(length)) = read else { return };
            let line = String::from_utf8_lossy(&request[..length]);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, kind, body) = {
                let shared = shared.lock().expect("status lock");
                match path {
                    "/status" => ("200 OK", "application/json", serde_json::to_string_pretty(&shared.0).unwrap_or_default()),
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", shared.1.clone()),
                    _ => ("404 Not Found", "text/plain", "GET /status or /metrics\n".to_string()),
                }
            };
            let response =
                format!("HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = tokio::time::timeout(STATUS_IO_DEADLINE, socket.write_all(response.as_bytes())).await;
        });
    }
}
