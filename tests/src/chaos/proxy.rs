//! A loopback TCP proxy the test controls: one per directed link (node A → node B's port).
//! Node A dials the proxy's address instead of B's; the proxy dials B and copies bytes both
//! ways. Mutual TLS passes through untouched: the proxy never looks inside the stream.
//!
//! Faults, changed at any time through [`Proxy`]'s methods:
//! - [`Proxy::cut`]: every open connection is closed and new ones are closed as soon as
//!   they are accepted, until [`Proxy::heal`];
//! - [`Proxy::lose`]: bytes in one direction are read and thrown away (the sender does not
//!   block; the receiver hears nothing). A TLS stream that loses bytes mid-record breaks
//!   when the loss ends, as a real connection would: the peers reconnect;
//! - [`Proxy::delay`]: every chunk waits `delay` plus a seeded jitter in `0..=jitter`, and
//!   chunks keep their order (a chunk never overtakes the one before it).
//!
//! Bounded: at most `CONNECTIONS_MAX` connections, and per direction at most
//! `CHUNKS_IN_FLIGHT_MAX` chunks of at most `CHUNK_BYTES_MAX` bytes waiting (then the
//! reader stops reading: back-pressure). Every task watches the fault channel, whose sender
//! the `Proxy` owns: dropping the proxy ends the listener and every connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

const CONNECTIONS_MAX: usize = 64; // a node keeps one or two channels per peer
const CHUNK_BYTES_MAX: usize = 16 * 1024;
const CHUNKS_IN_FLIGHT_MAX: usize = 64; // 1 MiB per direction at most
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Which way bytes flow, seen from the link's owner: `Forward` from the dialling node to
/// the target, `Backward` the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Faults {
    cut: bool,
    lose_forward: bool,
    lose_backward: bool,
    delay: Duration,
    jitter: Duration,
}

impl Faults {
    fn loses(&self, direction: Direction) -> bool {
        match direction {
            Direction::Forward => self.lose_forward,
            Direction::Backward => self.lose_backward,
        }
    }
}

pub struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    faults: watch::Sender<Faults>,
    connections: Arc<Semaphore>,
}

impl Proxy {
    /// Listens on a free loopback port (`listen`, or any if `None`) and forwards to
    /// `target`. Tasks run on `runtime`; `seed` fixes the jitter samples.
    pub fn start(runtime: &tokio::runtime::Handle, listen: Option<u16>, target: SocketAddr, seed: u64) -> std::io::Result<Proxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", listen.unwrap_or(0)))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (faults, receiver) = watch::channel(Faults::default());
        let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
        let _entered = runtime.enter();
        let listener = TcpListener::from_std(listener)?;
        runtime.spawn(accept_loop(listener, target, receiver, connections.clone(), seed));
        Ok(Proxy { address, target, faults, connections })
    }

    /// Where the dialling node should connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Closes every connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.faults.send_modify(|faults| faults.cut = true);
    }

    /// Clears every fault: connections pass, nothing is lost or delayed.
    pub fn heal(&self) {
        self.faults.send_replace(Faults::default());
    }

    /// Throws away (or, with `false`, passes again) the bytes flowing in `direction`.
    pub fn lose(&self, direction: Direction, lose: bool) {
        self.faults.send_modify(|faults| match direction {
            Direction::Forward => faults.lose_forward = lose,
            Direction::Backward => faults.lose_backward = lose,
        });
    }

    /// Delays every chunk by `delay` plus a seeded sample in `0..=jitter`, in order.
    pub fn delay(&self, delay: Duration, jitter: Duration) {
        self.faults.send_modify(|faults| {
            faults.delay = delay;
            faults.jitter = jitter;
        });
    }

    /// Connections being forwarded now. After [`Proxy::cut`] it falls to 0 once every
    /// connection's task has closed its sockets: wait for that before relying on the cut.
    pub fn open_connections(&self) -> usize {
        CONNECTIONS_MAX - self.connections.available_permits()
    }

    pub fn is_cut(&self) -> bool {
        self.faults.borrow().cut
    }
}

/// Resolves when the proxy is cut or dropped.
async fn cut_or_dropped(faults: &mut watch::Receiver<Faults>) {
    loop {
        if faults.borrow_and_update().cut {
            return;
        }
        if faults.changed().await.is_err() {
            return;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mut faults: watch::Receiver<Faults>,
    connections: Arc<Semaphore>,
    seed: u64,
) {
    let counter = AtomicU64::new(0);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = faults.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return, // the proxy was dropped
            },
        };
        let Ok((client, _)) = accepted else {
            tokio::time::sleep(ACCEPT_RETRY).await; // out of file descriptors, say: no busy loop
            continue;
        };
        if faults.borrow().cut {
            drop(client); // refused: closed at once
            continue;
        }
        let Ok(slot) = connections.clone().try_acquire_owned() else { continue };
        let number = counter.fetch_add(1, Ordering::Relaxed);
        let connection_seed = seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let faults = faults.clone();
        tokio::spawn(async move {
            serve(client, target, faults, connection_seed).await;
            drop(slot);
        });
    }
}

async fn serve(client: TcpStream, target: SocketAddr, mut faults: watch::Receiver<Faults>, seed: u64) {
    let dial = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(target));
    let server = tokio::select! {
        dialled = dial => match dialled {
            Ok(Ok(server)) => server,
            _ => return,
        },
        _ = cut_or_dropped(&mut faults) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let forward = pipe(client_read, server_write, faults.clone(), Direction::Forward, seed);
    let backward = pipe(server_read, client_write, faults.clone(), Direction::Backward, seed.wrapping_add(1));
    tokio::select! {
        _ = async { tokio::join!(forward, backward) } => {}
        _ = cut_or_dropped(&mut faults) => {} // drops both sockets: the connection closes
    }
}

/// Copies one direction, with its faults: a reader that stamps each chunk with the time it
/// may be delivered, and a writer that waits for that time.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, faults: watch::Receiver<Faults>, direction: Direction, seed: u64) {
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_IN_FLIGHT_MAX);
    let reader = async move {
        let mut random = StdRng::seed_from_u64(seed);
        let mut last = Instant::now();
        let mut buffer = vec![0u8; CHUNK_BYTES_MAX];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let faults = faults.borrow().clone();
            if faults.loses(direction) {
                continue;
            }
            let jitter = if faults.jitter.is_zero() { Duration::ZERO } else { random.gen_range(Duration::ZERO..=faults.jitter) };
            let at = (Instant::now() + faults.delay + jitter).max(last);
            last = at;
            if sender.send((at, buffer[..read].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = receiver.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENEROUS: Duration = Duration::from_secs(10);

    /// An echo server on loopback; ends with the runtime.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let address = listener.local_addr().expect("echo address");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn proxy_to_echo(seed: u64) -> Proxy {
        let echo = echo_server().await;
        Proxy::start(&tokio::runtime::Handle::current(), None, echo, seed).expect("start proxy")
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
        stream.write_all(message).await.expect("write");
        let mut answer = vec![0u8; message.len()];
        tokio::time::timeout(GENEROUS, stream.read_exact(&mut answer)).await.expect("an answer in time").expect("read");
        answer
    }

    /// Reads until end of stream or error; panics if the connection stays open.
    async fn closed(stream: &mut TcpStream) {
        let mut buffer = [0u8; 64];
        let outcome = tokio::time::timeout(GENEROUS, async {
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "the connection stayed open");
    }

    #[tokio::test]
    async fn bytes_pass_both_ways() {
        let proxy = proxy_to_echo(1).await;
        let mut stream = TcpStream::connect(proxy.address()).await.expect("connect");
        assert_eq!(round_trip(&mut stream, b"hello").await, b"hello");
        let large: Vec<u8> = (0..100_000u32).map(|number| number as u8).collect(); // many chunks
        assert_eq!(round_trip(&mut stream, &large).await, large);
    }

    #[tokio::test]
    async fn cut_closes_connections_and_refuses_new_ones_until_heal() {
        let proxy = proxy_to_echo(2).await;
        let mut before = TcpStream::connect(proxy.address()).await.expect("connect");
        assert_eq!(round_trip(&mut before, b"one").await, b"one");
        assert_eq!(proxy.open_connections(), 1);
        proxy.cut();
        closed(&mut before).await;
        let mut during = TcpStream::connect(proxy.address()).await.expect("the listener still accepts");
        let _ = during.write_all(b"two").await;
        closed(&mut during).await;
        for _ in 0..500 {
            if proxy.open_connections() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // a polling interval
        }
        assert_eq!(proxy.open_connections(), 0, "a cut connection's task still runs");
        proxy.heal();
        let mut after = TcpStream::connect(proxy.address()).await.expect("connect");
        assert_eq!(round_trip(&mut after, b"three").await, b"three");
    }

    #[tokio::test]
    async fn lost_bytes_never_arrive_and_the_link_passes_again_after() {
        let proxy = proxy_to_echo(3).await;
        let mut stream = TcpStream::connect(proxy.address()).await.expect("connect");
        assert_eq!(round_trip(&mut stream, b"a").await, b"a");
        proxy.lose(Direction::Forward, true);
        stream.write_all(b"lost").await.expect("write");
        // Lost bytes cannot arrive late, so a short wait cannot fail spuriously.
        let mut buffer = [0u8; 16];
        let waited = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buffer)).await;
        assert!(waited.is_err(), "bytes came back through a lossy link: {waited:?}");
        proxy.lose(Direction::Forward, false);
        assert_eq!(round_trip(&mut stream, b"kept").await, b"kept"); // not "lost"
        proxy.lose(Direction::Backward, true);
        stream.write_all(b"echo lost").await.expect("write");
        let waited = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buffer)).await;
        assert!(waited.is_err(), "bytes came back through a lossy link: {waited:?}");
    }

    #[tokio::test]
    async fn delayed_chunks_arrive_later_and_in_order() {
        let proxy = proxy_to_echo(4).await;
        let delay = Duration::from_millis(100);
        proxy.delay(delay, Duration::from_millis(50));
        let mut stream = TcpStream::connect(proxy.address()).await.expect("connect");
        let started = Instant::now();
        let mut sent = Vec::new();
        for number in 0..50u8 {
            stream.write_all(&[number]).await.expect("write");
            sent.push(number);
        }
        let mut received = vec![0u8; sent.len()];
        tokio::time::timeout(GENEROUS, stream.read_exact(&mut received)).await.expect("in time").expect("read");
        assert_eq!(received, sent, "chunks overtook each other");
        // A lower bound only: the proxy cannot deliver before the delay (twice: there and back).
        assert!(started.elapsed() >= 2 * delay, "delivered after {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn dropping_the_proxy_closes_its_connections_and_listener() {
        let proxy = proxy_to_echo(5).await;
        let address = proxy.address();
        let mut stream = TcpStream::connect(address).await.expect("connect");
        assert_eq!(round_trip(&mut stream, b"x").await, b"x");
        drop(proxy);
        closed(&mut stream).await;
        // The listener's task ends too: connecting is refused (or, if raced, closed at once).
        let refused = tokio::time::timeout(GENEROUS, async {
            loop {
                match TcpStream::connect(address).await {
                    Err(_) => return,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await, // a polling interval
                }
            }
        })
        .await;
        assert!(refused.is_ok(), "the proxy still listens after it was dropped");
    }
}
