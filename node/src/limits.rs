//! What a caller can hold of a node: connections, their idle time, a request's time.
//!
//! A node's port is reachable by anyone who can reach the host, so nothing a caller opens
//! may stay open for free. [`limit_connections`] wraps the stream of accepted connections
//! (plain TCP here; the TLS layer stacks on top of it, so it counts connections before any
//! handshake work is spent on them):
//!
//! - at most [`Limits::connections_max`] connections in all and
//!   [`Limits::connections_per_address_max`] from one IP address. A connection over either
//!   cap is closed at once, counted, and logged at most once per [`REFUSAL_LOG_INTERVAL`];
//! - a connection that has not sent its first bytes within
//!   [`Limits::first_bytes_timeout_secs`] (an HTTP/2 client sends its preface at once) is
//!   closed;
//! - a connection with no request in flight for [`Limits::idle_timeout_secs`] is closed. A
//!   stream (`WatchObligations`, `AuditLog`) counts as in flight until it ends, so a quiet
//!   watch is not idle; [`TrackRequestsLayer`] does that counting.
//!
//! [`server`] configures tonic: HTTP/2 keepalive pings drop a peer that stopped answering,
//! and a request deadline bounds unary calls. tonic's deadline covers the time until the
//! response headers, so a stream, once answered, runs as long as it needs.
//!
//! Every slot is held by the connection value itself ([`Limited`]): when hyper drops the
//! connection, for whatever reason, the slot is free again.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_stream::{Stream, StreamExt};

use crate::metrics::Metrics;

/// A refused connection is logged at most once per interval, with the count since the last
/// line: a flood of connections must not become a flood of log lines.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Descriptors the node needs besides its connections: sled's files, the peers' channels,
/// the metrics listener, the runtime. A total cap that leaves less than this is warned about.
const DESCRIPTORS_RESERVED: u64 = 256;

/// The `[limits]` section of a node config. Every field has a default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Open connections in all; beyond, new ones are closed at once. Well under the usual
    /// 1024 file descriptors, so the node can still open its own files.
    pub connections_max: usize,
    /// Open connections from one IP address, so one caller cannot take every slot.
    pub connections_per_address_max: usize,
    /// A connection must send its first bytes within this many seconds.
    pub first_bytes_timeout_secs: u64,
    /// A connection with no request in flight for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// A unary call must be answered within this many seconds (streams are not cut).
    pub request_timeout_secs: u64,
    /// Writes are refused while the data dir's file system has less free space than this.
    pub free_space_floor_bytes: u64,
    /// After Raft stopped for good, the node keeps answering `status` (NOT_SERVING, not
    /// accepting writes) this many seconds, then exits with an error.
    pub exit_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections_max: 512,
            connections_per_address_max: 128,
            first_bytes_timeout_secs: 10,
            idle_timeout_secs: 300,
            request_timeout_secs: 60,
            free_space_floor_bytes: 256 * 1024 * 1024,
            exit_grace_secs: 5,
        }
    }
}

impl Limits {
    /// What the config loader checks: every limit is positive.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("connections_max", self.connections_max as u64),
            ("connections_per_address_max", self.connections_per_address_max as u64),
            ("first_bytes_timeout_secs", self.first_bytes_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ];
        for (name, value) in fields {
            if value == 0 {
                return Err(format!("field 'limits.{name}' must be at least 1"));
            }
        }
        Ok(())
    }
}

/// HTTP/2 keepalive: a ping every interval; a peer that does not answer within the
/// timeout is gone, and its connection is closed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Streams one connection may have open at once (each holds a task and a queue).
const STREAMS_PER_CONNECTION_MAX: u32 = 256;

/// A tonic server builder with the node's limits; add services and serve
/// [`limit_connections`]' stream with it.
pub fn server(limits: &Limits) -> tonic::transport::Server<tower_layer::Stack<TrackRequestsLayer, tower_layer::Identity>> {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(STREAMS_PER_CONNECTION_MAX)
        .timeout(Duration::from_secs(limits.request_timeout_secs))
        .layer(TrackRequestsLayer)
}

/// Counts open connections against the caps. Shared by the accept stream and every
/// [`Limited`] connection (whose [`Slot`] gives its place back on drop).
pub struct ConnectionLimiter {
    limits: Limits,
    open: Mutex<Open>,
    metrics: Arc<Metrics>,
    refusals: Mutex<Refusals>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

struct Refusals {
    last_logged: Option<Instant>,
    since_logged: u64,
}

impl ConnectionLimiter {
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Arc<ConnectionLimiter> {
        check_descriptors(limits.connections_max);
        Arc::new(ConnectionLimiter {
            limits,
            open: Mutex::new(Open::default()),
            metrics,
            refusals: Mutex::new(Refusals { last_logged: None, since_logged: 0 }),
        })
    }

    /// A slot for a connection from `address`, or why there is none.
    fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<Slot, String> {
        let mut open = self.open.lock().expect("connection counts lock");
        if open.total >= self.limits.connections_max {
            return Err(format!("{} connections are open, the cap of connections_max", open.total));
        }
        if let Some(address) = address {
            let from_address = open.by_address.entry(address).or_default();
            if *from_address >= self.limits.connections_per_address_max {
                return Err(format!("{from_address} connections are open from {address}, the cap of connections_per_address_max"));
            }
            *from_address += 1;
        }
        open.total += 1;
        self.metrics.connections_open.store(open.total as u64, Ordering::Relaxed);
        Ok(Slot { limiter: self.clone(), address })
    }

    fn refused(&self, why: &str) {
        self.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
        let mut refusals = self.refusals.lock().expect("refusals lock");
        refusals.since_logged += 1;
        let due = refusals.last_logged.is_none_or(|last| last.elapsed() >= REFUSAL_LOG_INTERVAL);
        if due {
            tracing::warn!(
                refused = refusals.since_logged,
                "refusing connections: {why} (closed at once; at most one such line per {}s)",
                REFUSAL_LOG_INTERVAL.as_secs()
            );
            refusals.last_logged = Some(Instant::now());
            refusals.since_logged = 0;
        }
    }

    /// Connections open now (for tests and metrics).
    pub fn open(&self) -> usize {
        self.open.lock().expect("connection counts lock").total
    }
}

/// One connection's place under the caps; freed when the connection is dropped.
pub struct Slot {
    limiter: Arc<ConnectionLimiter>,
    address: Option<IpAddr>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Slot").field("address", &self.address).finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().expect("connection counts lock");
        open.total -= 1;
        if let Some(address) = self.address {
            if let Some(count) = open.by_address.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.by_address.remove(&address);
                }
            }
        }
        self.limiter.metrics.connections_open.store(open.total as u64, Ordering::Relaxed);
    }
}

/// What a connection type must tell the limiter: where it comes from.
pub trait RemoteAddress {
    fn remote_address(&self) -> Option<SocketAddr>;
}

impl RemoteAddress for tokio::net::TcpStream {
    fn remote_address(&self) -> Option<SocketAddr> {
        self.peer_addr().ok()
    }
}

/// The accepted connections of `incoming` under `limiter`'s caps and deadlines. Refused
/// connections are dropped (closed) here and never reach the server; accept errors pass
/// through (tonic logs and skips them).
pub fn limit_connections<S, IO, E>(incoming: S, limiter: Arc<ConnectionLimiter>) -> impl Stream<Item = Result<Limited<IO>, E>>
where
    S: Stream<Item = Result<IO, E>>,
    IO: RemoteAddress,
{
    incoming.filter_map(move |accepted| {
        let connection = match accepted {
            Ok(connection) => connection,
            Err(error) => return Some(Err(error)),
        };
        let remote = connection.remote_address();
        match limiter.admit(remote.map(|address| address.ip())) {
            Ok(slot) => Some(Ok(Limited::new(connection, slot, remote, &limiter.limits))),
            Err(why) => {
                drop(connection);
                limiter.refused(&why);
                None
            }
        }
    })
}

/// Requests in flight on one connection, and since when none has been.
pub struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The connection's reader, woken when the last request ends so it arms its idle deadline.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request (until its response body, a stream's included, is done or dropped).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.0.idle_since.lock().expect("activity lock") = Instant::now();
            if let Some(waker) = self.0.reader.lock().expect("activity lock").take() {
                waker.wake();
            }
        }
    }
}

/// What tonic puts in each request's extensions for a [`Limited`] connection.
#[derive(Clone)]
pub struct ConnectionInfo {
    pub remote: Option<SocketAddr>,
    pub activity: Arc<Activity>,
}

/// A connection under the limits: holds its [`Slot`], and reads fail (so hyper closes it)
/// once it missed its first-bytes deadline or has been idle too long.
pub struct Limited<IO> {
    inner: IO,
    _slot: Slot,
    remote: Option<SocketAddr>,
    activity: Arc<Activity>,
    accepted: Instant,
    first_bytes_seen: bool,
    first_bytes_timeout: Duration,
    idle_timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<IO> Limited<IO> {
    fn new(inner: IO, slot: Slot, remote: Option<SocketAddr>, limits: &Limits) -> Limited<IO> {
        let now = Instant::now();
        let first_bytes_timeout = Duration::from_secs(limits.first_bytes_timeout_secs);
        Limited {
            inner,
            _slot: slot,
            remote,
            activity: Arc::new(Activity { in_flight: AtomicUsize::new(0), idle_since: Mutex::new(now), reader: Mutex::new(None) }),
            accepted: now,
            first_bytes_seen: false,
            first_bytes_timeout,
            idle_timeout: Duration::from_secs(limits.idle_timeout_secs),
            timer: Box::pin(tokio::time::sleep(first_bytes_timeout)),
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    /// When this connection is to be closed if nothing happens, and why; `None` while a
    /// request is in flight.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        if !self.first_bytes_seen {
            return Some((self.accepted + self.first_bytes_timeout, "sent nothing within first_bytes_timeout_secs"));
        }
        if self.activity.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let idle_since = *self.activity.idle_since.lock().expect("activity lock");
        Some((idle_since + self.idle_timeout, "idle for idle_timeout_secs"))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Limited<IO> {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_read(context, buf) {
            this.first_bytes_seen |= buf.filled().len() > before;
            return Poll::Ready(result);
        }
        // Nothing to read now. Register first, then look at the deadline, so a request
        // that ends in between still wakes us.
        *this.activity.reader.lock().expect("activity lock") = Some(context.waker().clone());
        if let Some((deadline, why)) = this.deadline() {
            let deadline = tokio::time::Instant::from_std(deadline);
            if this.timer.deadline() != deadline {
                this.timer.as_mut().reset(deadline);
            }
            if this.timer.as_mut().poll(context).is_ready() {
                tracing::debug!(remote = ?this.remote, "closing a connection that {why}");
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("the connection {why}"))));
            }
        }
        Poll::Pending
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Limited<IO> {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, context: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<IO> tonic::transport::server::Connected for Limited<IO> {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo { remote: self.remote, activity: self.activity.clone() }
    }
}

/// Marks each request in flight on its connection until its response body is done, so
/// that [`Limited`] knows a connection with an open stream is not idle. A request without
/// [`ConnectionInfo`] (another transport) passes untracked.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackRequestsLayer;

impl<S> tower_layer::Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;

    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests { inner }
    }
}

#[derive(Clone, Debug)]
pub struct TrackRequests<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, RequestBody, ResponseBody> tower_service::Service<http::Request<RequestBody>> for TrackRequests<S>
where
    S: tower_service::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Tracked<ResponseBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let extensions = request.extensions();
        let info =
            extensions.get::<ConnectionInfo>().or_else(|| extensions.get::<crate::transport::PeerIdentity>().map(|peer| &peer.connection));
        let in_flight = info.map(|info| info.activity.begin());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Tracked { body, _in_flight: in_flight }))
        })
    }
}

/// A response body that keeps its request in flight until it is dropped.
pub struct Tracked<B> {
    body: B,
    _in_flight: Option<InFlight>,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Raises this process's soft descriptor limit to its hard limit, and warns if the
/// connection cap would still leave too few descriptors for the node's own files.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, not on every target
fn check_descriptors(connections_max: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    let soft = limit.rlim_cur as u64;
    if (connections_max as u64).saturating_add(DESCRIPTORS_RESERVED) > soft {
        tracing::warn!(
            "limits.connections_max is {connections_max} but this process may open only {soft} files; lower the cap or raise 'ulimit -n' to at least {}",
            connections_max as u64 + DESCRIPTORS_RESERVED
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_pass_their_own_check_and_leave_descriptors() {
        let limits = Limits::default();
        assert_eq!(limits.check(), Ok(()));
        assert!(limits.connections_max as u64 + DESCRIPTORS_RESERVED <= 1024);
        assert!(limits.connections_per_address_max <= limits.connections_max);
    }

    #[test]
    fn slots_are_counted_per_address_and_freed_on_drop() {
        let limits = Limits { connections_max: 3, connections_per_address_max: 2, ..Limits::default() };
        let limiter = ConnectionLimiter::new(limits, Arc::new(Metrics::default()));
        let one: IpAddr = "127.0.0.2".parse().unwrap();
        let two: IpAddr = "127.0.0.3".parse().unwrap();
        let first = limiter.admit(Some(one)).expect("first");
        let _second = limiter.admit(Some(one)).expect("second");
        assert!(limiter.admit(Some(one)).unwrap_err().contains("connections_per_address_max"));
        let _third = limiter.admit(Some(two)).expect("another address");
        assert!(limiter.admit(Some(two)).unwrap_err().contains("connections_max"));
        assert_eq!(limiter.open(), 3);
        drop(first);
        assert_eq!(limiter.open(), 2);
        limiter.admit(Some(one)).expect("the freed slot");
    }
}
