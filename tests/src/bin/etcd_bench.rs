//! `etcd-bench`: the load generator of `scripts/etcd-bench.sh`, the etcd side of
//! BENCHMARKS.md. Debian packages no etcd `benchmark` tool, so this one calls etcd's gRPC
//! `KV.Put` (a vendored subset of etcd's rpc.proto) the way `fairshare bench` calls
//! `Submit`: C clients, each with one put in flight, waiting for its answer (closed loop),
//! spread over the given endpoints in turn (etcd followers forward proposals to the
//! leader, as fairshare's do); or all on one endpoint with `--leader-only`.
//!
//!     etcd-bench --endpoints http://127.0.0.1:2379,http://127.0.0.1:22379 --clients 64 --count 20000
//!
//! Prints puts/s and exact p50/p95/p99/max latency (sorted samples); `--json` as JSON.

use std::time::{Duration, Instant};

use rand::RngCore;
use tonic::transport::{Channel, Endpoint};

pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
use etcdserverpb::{kv_client::KvClient, PutRequest};

const USAGE: &str = "usage: etcd-bench --endpoints URL[,URL…] [--clients 64] [--count 20000 | --duration SECS] [--value-bytes 256] [--leader-only] [--json]";
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    endpoints: Vec<String>,
    clients: usize,
    count: Option<u64>,
    duration: Option<Duration>,
    value_bytes: usize,
    leader_only: bool,
    json: bool,
}

fn parse(mut arguments: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options =
        Options { endpoints: Vec::new(), clients: 64, count: None, duration: None, value_bytes: 256, leader_only: false, json: false };
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        value.ok_or(format!("{flag} needs a value"))?.parse::<u64>().map_err(|_| format!("{flag} needs a whole number"))
    };
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--endpoints" => options.endpoints = arguments.next().ok_or("--endpoints needs URLs")?.split(',').map(str::to_string).collect(),
            "--clients" => options.clients = number("--clients", arguments.next())? as usize,
            "--count" => options.count = Some(number("--count", arguments.next())?),
            "--duration" => options.duration = Some(Duration::from_secs(number("--duration", arguments.next())?)),
            "--value-bytes" => options.value_bytes = number("--value-bytes", arguments.next())? as usize,
            "--leader-only" => options.leader_only = true,
            "--json" => options.json = true,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if options.endpoints.is_empty() || options.endpoints.iter().any(|url| !url.starts_with("http://")) {
        return Err(format!("give --endpoints as http:// URLs\n{USAGE}"));
    }
    if !(1..=4_096).contains(&options.clients) {
        return Err("--clients: give 1 to 4096".into());
    }
    if options.value_bytes > 1024 * 1024 {
        return Err("--value-bytes: at most 1 MiB".into());
    }
    if options.count.is_some() && options.duration.is_some() {
        return Err("give --count or --duration, not both".into());
    }
    if options.count == Some(0) || options.duration == Some(Duration::ZERO) {
        return Err("--count and --duration must be above 0".into());
    }
    Ok(options)
}

fn percentile(sorted: &[Duration], percent: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1].as_secs_f64() * 1_000.0
}

/// A client of one etcd member over plain HTTP/2 (the script's cluster listens on loopback
/// without TLS), every call bounded by [`CALL_TIMEOUT`].
async fn connect(url: &str) -> Result<KvClient<Channel>, String> {
    let channel = Endpoint::from_shared(url.to_string())
        .map_err(|error| format!("{url}: {error}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(CALL_TIMEOUT)
        .connect()
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    Ok(KvClient::new(channel))
}

#[tokio::main]
async fn main() {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("etcd-bench: {problem}");
            std::process::exit(2);
        }
    };
    let endpoints: Vec<String> = if options.leader_only { options.endpoints[..1].to_vec() } else { options.endpoints.clone() };
    let mut clients = Vec::new();
    for url in &endpoints {
        match connect(url).await {
            Ok(client) => clients.push(client),
            Err(problem) => {
                eprintln!("etcd-bench: cannot connect: {problem}");
                std::process::exit(1);
            }
        }
    }
    let count = options.count.unwrap_or(if options.duration.is_some() { u64::MAX } else { 20_000 });
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run = format!("{:016x}", rand::random::<u64>());
    let started = Instant::now();
    let deadline = options.duration.map(|duration| started + duration);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..options.clients {
        let mut client = clients[worker % clients.len()].clone();
        let next = next.clone();
        let run = run.clone();
        let value_bytes = options.value_bytes;
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut value = vec![0u8; value_bytes];
            loop {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    break;
                }
                let number = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if number >= count {
                    break;
                }
                rand::thread_rng().fill_bytes(&mut value);
                let request =
                    PutRequest { key: format!("bench/{run}/{number:012}").into_bytes(), value: value.clone(), ..Default::default() };
                let sent = Instant::now();
                match client.put(request).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    while let Some(joined) = workers.join_next().await {
        if let Ok((mut worker_latencies, worker_errors)) = joined {
            latencies.append(&mut worker_latencies);
            errors += worker_errors;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let puts = latencies.len();
    let spread =
        if options.leader_only { format!("all on {}", endpoints[0]) } else { format!("spread over {} endpoints in turn", endpoints.len()) };
    let (p50, p95, p99) = (percentile(&latencies, 50), percentile(&latencies, 95), percentile(&latencies, 99));
    let max = latencies.last().map_or(0.0, |latency| latency.as_secs_f64() * 1_000.0);
    let rate = if elapsed > 0.0 { puts as f64 / elapsed } else { 0.0 };
    if options.json {
        println!(
            "{{\"puts\":{puts},\"errors\":{errors},\"elapsed_secs\":{elapsed:.3},\"puts_per_sec\":{rate:.1},\"latency_ms\":{{\"p50_ms\":{p50:.3},\"p95_ms\":{p95:.3},\"p99_ms\":{p99:.3},\"max_ms\":{max:.3}}},\"clients\":{},\"value_bytes\":{},\"clients_spread\":\"{spread}\"}}",
            options.clients, options.value_bytes
        );
    } else {
        println!("etcd: {} clients, {} B values, {spread}", options.clients, options.value_bytes);
        println!("puts: {puts} in {elapsed:.2} s = {rate:.0} puts/s ({errors} errors)");
        println!("latency (ms): p50 {p50:.1}, p95 {p95:.1}, p99 {p99:.1}, max {max:.1}");
    }
    if puts == 0 {
        std::process::exit(1);
    }
}
