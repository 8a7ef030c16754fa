//! Issue 12 ("Trust no port"), item 6: a node's limits and honest health, on real
//! `fairshare-node` processes and real sockets.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use fairshare_api::v1::query_request::Query;
use fairshare_api::v1::{Empty, QueryRequest, WatchRequest};
use fairshare_tests::{wait_until, Cluster, Signer};

const START: Duration = Duration::from_secs(30);

fn cluster() -> Cluster {
    Cluster::new(env!("CARGO_BIN_EXE_fairshare-node").as_ref())
}

/// Appends a `[limits]` section to a node's config (after its `[[peers]]` tables).
fn set_limits(cluster: &Cluster, id: &str, limits: &str) {
    let path = &cluster.nodes[id].config;
    let mut text = std::fs::read_to_string(path).expect("config");
    text.push_str("\n[limits]\n");
    text.push_str(limits);
    std::fs::write(path, text).expect("config");
}

fn socket_address(cluster: &Cluster, id: &str) -> SocketAddr {
    cluster.nodes[id].address.trim_start_matches("https://").parse().expect("host:port")
}

/// A TCP connection from `source` (any 127.x.y.z is this host on Linux), non-blocking.
fn connect_from(cluster: &Cluster, source: &str, to: SocketAddr) -> TcpStream {
    let source: SocketAddr = format!("{source}:0").parse().expect("source");
    let stream = cluster.block_on(async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(source).expect("bind the source address");
        socket.connect(to).await.expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(true).expect("non-blocking");
    stream
}

/// Whether the node closed this connection (EOF or reset); drains what it sent.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn count_closed(streams: &mut [TcpStream]) -> usize {
    streams.iter_mut().map(closed).filter(|closed| *closed).count()
}

fn metric(cluster: &Cluster, id: &str, name: &str) -> Option<u64> {
    let text = fairshare_tests::scrape(&cluster.nodes[id].metrics).ok()?;
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn connections_over_the_caps_are_closed_at_once_silent_ones_soon_and_the_node_still_answers() {
    let mut cluster = cluster();
    set_limits(&cluster, "cz", "connections_max = 50\nconnections_per_address_max = 40\nfirst_bytes_timeout_secs = 15\n");
    cluster.start("cz");
    wait_until("cz to answer", START, || cluster.status("cz").ok());
    let address = socket_address(&cluster, "cz");

    // 60 connections from one address that never send a byte: 40 are held, 20 refused.
    let mut crowd: Vec<TcpStream> = (0..60).map(|_| connect_from(&cluster, "127.0.0.2", address)).collect();
    let opened = Instant::now();
    wait_until("the 20 connections over the per-address cap to be closed", Duration::from_secs(5), || {
        (count_closed(&mut crowd) >= 20).then_some(())
    });
    assert!(opened.elapsed() < Duration::from_secs(8), "refused at once, not by the first-bytes deadline");
    let refused = count_closed(&mut crowd);
    assert_eq!(refused, 20, "the first 40 from 127.0.0.2 are held");

    // Another address is not starved: a fresh client gets its status.
    let status = cluster.status("cz").expect("a fresh client is served while 127.0.0.2 is at its cap");
    assert_eq!(status.node, "cz");

    // The total cap: 10 more from a second address fill it to 50; an 11th is refused.
    wait_until("the status client's connection to close", Duration::from_secs(10), || {
        (metric(&cluster, "cz", "fairshare_connections_open")? == 40).then_some(())
    });
    let mut second: Vec<TcpStream> = (0..10).map(|_| connect_from(&cluster, "127.0.0.3", address)).collect();
    let mut third = connect_from(&cluster, "127.0.0.4", address);
    let third_opened = Instant::now();
    wait_until("the connection over the total cap to be closed", Duration::from_secs(5), || closed(&mut third).then_some(()));
    assert!(third_opened.elapsed() < Duration::from_secs(8), "refused at once, not by the first-bytes deadline");
    assert_eq!(count_closed(&mut second), 0, "the 10 under the total cap are held");
    assert_eq!(metric(&cluster, "cz", "fairshare_connections_refused_total"), Some(21));

    // Silent connections are closed by the first-bytes deadline (15 s here).
    wait_until("every silent connection to be closed", Duration::from_secs(40), || {
        (count_closed(&mut crowd) == 60 && count_closed(&mut second) == 10).then_some(())
    });
    wait_until("no connection counted open", Duration::from_secs(5), || {
        (metric(&cluster, "cz", "fairshare_connections_open")? == 0).then_some(())
    });
    let log = cluster.log("cz");
    let refusal_lines = log.lines().filter(|line| line.contains("refusing connections")).count();
    assert!((1..=2).contains(&refusal_lines), "refusals are logged, rate-limited, not once each: {refusal_lines} lines\n{log}");
    assert!(cluster.status("cz").is_ok());
}

#[test]
fn an_idle_http2_connection_is_closed_but_a_quiet_watch_stream_is_not() {
    use tokio_stream::StreamExt;
    let mut cluster = cluster();
    set_limits(&cluster, "cz", "idle_timeout_secs = 3\n");
    cluster.start("cz");
    wait_until("cz to answer", START, || cluster.status("cz").ok());

    // Over TLS (a genesis identity), the HTTP/2 preface and an empty SETTINGS frame, then
    // no request: the connection is closed for idling, not at once.
    let fairshare_api::Transport::Tls(config) = fairshare_tests::transport() else { panic!("the harness speaks TLS") };
    let address = socket_address(&cluster, "cz");
    let idled = cluster.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(address).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from(fairshare_api::tls::SERVER_NAME).expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.expect("TLS handshake");
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.expect("preface");
        let opened = Instant::now();
        let mut buffer = [0u8; 1024];
        let read_until_closed = async {
            loop {
                match tls.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // the server's SETTINGS and its ACK
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(15), read_until_closed).await.expect("the idle connection is closed");
        opened.elapsed()
    });
    assert!(idled >= Duration::from_secs(2), "closed for idling, not at once: {idled:?}");

    // A stream in flight keeps its connection: nothing arrives, and nothing breaks, for
    // well past the idle timeout.
    let mut client = cluster.client("cz").expect("client");
    let outcome = cluster.block_on(async {
        let mut stream = client.watch_obligations(WatchRequest { insurer: "cz".into(), from_index: 0 }).await.expect("watch").into_inner();
        tokio::time::timeout(Duration::from_secs(7), stream.next()).await
    });
    assert!(outcome.is_err(), "the quiet stream stayed open: {outcome:?}");
    // The same client still works afterwards.
    let reply = cluster.block_on(client.query(QueryRequest { query: Some(Query::Plans(Empty {})), min_size: 0 }));
    assert!(reply.is_ok(), "{reply:?}");
}

#[test]
fn below_the_free_space_floor_writes_are_refused_naming_the_dir_and_reads_go_on() {
    let mut cluster = cluster();
    let floor = u64::MAX / 2;
    set_limits(&cluster, "cz", &format!("free_space_floor_bytes = {floor}\n"));
    cluster.start("cz");
    wait_until("cz to answer", START, || cluster.status("cz").ok());
    let mut signer = Signer::new("iza-test", 0);
    let error = cluster.submit("cz", signer.party("cz", 1)).expect_err("writes are refused");
    assert_eq!(error.code(), tonic::Code::ResourceExhausted, "{error:?}");
    let data_dir = cluster.nodes["cz"].data_dir.display().to_string();
    for part in [data_dir.as_str(), "bytes free", &floor.to_string(), "free_space_floor_bytes"] {
        assert!(error.message().contains(part), "'{part}' missing from: {}", error.message());
    }
    let status = cluster.status("cz").expect("status");
    assert!(!status.accepting_writes);
    assert!(status.write_refusal_reason.contains("below the floor"), "{}", status.write_refusal_reason);
    let mut client = cluster.client("cz").expect("client");
    let reply = cluster.block_on(client.query(QueryRequest { query: Some(Query::Plans(Empty {})), min_size: 0 })).expect("reads work");
    assert_eq!(reply.into_inner().size, 0);
}
