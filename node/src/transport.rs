//! The node's side of the transport: mutual TLS on its one listener, and who may call what.
//!
//! Every accepted TCP connection goes through a TLS 1.3 handshake (on a task of its own,
//! bounded by [`HANDSHAKE_TIMEOUT`], so a slow or silent client holds up no one) in which
//! the node presents the certificate of its genesis node key and asks the client for one
//! (`fairshare_api::tls`). A client without a certificate still connects, and reaches only
//! the health service. Each request then carries a [`PeerIdentity`] (tonic puts it in the
//! request's extensions), and each service's interceptor turns it into a [`Caller`]:
//!
//! | service | who |
//! |---|---|
//! | `grpc.health.v1.Health` | anyone |
//! | `fairshare.raft.v1.Raft` | genesis nodes only, each only as itself (`RaftService`) |
//! | `fairshare.api.v1.Ledger` | genesis identities (nodes, insurers, regulators, the ministry), and read identities registered on the ledger (`ReaderRegistered`), which `LedgerService` scopes to their party |
//! | `Admin`, reflection | genesis identities |
//!
//! The handshake accepts a certificate for any Ed25519 key (proven held); an unknown key
//! then reaches nothing but health, like a client without a certificate.
//!
//! With `--insecure` there is no TLS and no identity: every caller is [`Caller::Insecure`]
//! and every check here passes, which the node says in every log line and in its status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use fairshare_api::tls::{self, node_trust, Identity, Trust};
use fairshare_protocol::genesis::Role;
use fairshare_protocol::Genesis;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt;
use tonic::transport::server::Connected;

use crate::limits::{ConnectionInfo, Limited};
use tonic::{Request, Status};

/// A client that has not finished the TLS handshake by then is cut off.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more wait in the kernel's accept queue.
const HANDSHAKES_AT_ONCE: usize = 64;

/// What the handshake proved about the other end (tonic puts it in each request's
/// extensions), with the connection's place under the limits.
#[derive(Clone)]
pub struct PeerIdentity {
    pub remote: Option<SocketAddr>,
    /// The ed25519 key in the client's certificate, verified by the handshake; `None` for a
    /// client without a certificate, or when insecure.
    pub key: Option<[u8; 32]>,
    /// For `limits::TrackRequestsLayer`: the connection's requests in flight.
    pub connection: ConnectionInfo,
}

/// Who called, as the service's interceptor established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `--insecure`: nobody is authenticated, so nobody is refused.
    Insecure,
    /// A genesis identity, proven by mutual TLS.
    Party(Role),
    /// A read identity of a party (registered on the ledger): reads what is owed and paid
    /// to that party, nothing else.
    Reader(String),
}

impl Caller {
    /// The caller of a request that passed an interceptor of [`Access`]. A request that did
    /// not (a service wired without one) has no caller and must be refused: there is no
    /// default that lets it through.
    pub fn of<T>(request: &Request<T>) -> Result<Caller, Status> {
        request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::internal("no caller established for this service"))
    }

    /// A name for logs: "node cz", "insurer zk", "regulator nza", "ministry vws".
    pub fn name(&self) -> String {
        match self {
            Caller::Insecure => "an unauthenticated caller (--insecure)".into(),
            Caller::Party(role) => role_name(role),
            Caller::Reader(party) => format!("the read identity of {party}"),
        }
    }
}

fn role_name(role: &Role) -> String {
    match role {
        Role::Insurer(id) => format!("insurer {id}"),
        Role::Node(id) => format!("node {id}"),
        Role::Regulator(id) => format!("regulator {id}"),
        Role::Ministry(id) => format!("ministry {id}"),
    }
}

/// Every genesis key with its role.
pub fn genesis_roles(genesis: &Genesis) -> BTreeMap<[u8; 32], Role> {
    let mut roles = BTreeMap::new();
    for insurer in &genesis.insurers {
        roles.insert(insurer.signing_key.to_bytes(), Role::Insurer(insurer.id.clone()));
        if let Some(node_key) = insurer.node_key {
            roles.insert(node_key.to_bytes(), Role::Node(insurer.id.clone()));
        }
    }
    for regulator in &genesis.regulators {
        roles.insert(regulator.signing_key.to_bytes(), Role::Regulator(regulator.id.clone()));
    }
    roles.insert(genesis.ministry.signing_key.to_bytes(), Role::Ministry(genesis.ministry.id.clone()));
    roles
}

/// How this node talks: its server TLS config and the transport its own calls use (peers,
/// the leader), or insecure.
#[derive(Clone)]
pub struct Security {
    /// `None` when insecure.
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// For calls to other nodes: presents the node key, accepts only genesis node keys.
    pub client: fairshare_api::Transport,
    identity: Option<Arc<Identity>>,
    roles: Arc<BTreeMap<[u8; 32], Role>>,
}

impl Security {
    /// Mutual TLS as this node (`node_key`), trusting genesis' identities.
    pub fn tls(genesis: &Genesis, node_key: &ed25519_dalek::SigningKey) -> Result<Security, tls::TlsError> {
        let identity = Identity::new(node_key)?;
        Ok(Security {
            server: Some(tls::server_config(&identity)?),
            client: fairshare_api::Transport::tls(&identity, node_trust(genesis))?,
            identity: Some(Arc::new(identity)),
            roles: Arc::new(genesis_roles(genesis)),
        })
    }

    /// Plain text, no authentication (`--insecure`).
    pub fn insecure() -> Security {
        Security { server: None, client: fairshare_api::Transport::Insecure, identity: None, roles: Arc::default() }
    }

    pub fn is_insecure(&self) -> bool {
        self.server.is_none()
    }

    /// The transport to the node whose genesis key is `key`: TLS that accepts that key only.
    pub fn transport_to(&self, key: Option<[u8; 32]>, name: &str) -> fairshare_api::Transport {
        match (&self.identity, key) {
            (Some(identity), Some(key)) => {
                fairshare_api::Transport::tls(identity, Trust::new([(key, name.to_string())])).unwrap_or_else(|error| {
                    tracing::error!(%error, "cannot configure TLS to {name}; using the transport to any genesis node");
                    self.client.clone()
                })
            }
            _ => self.client.clone(),
        }
    }

    /// The interceptor that admits genesis identities of the roles `admit` accepts.
    pub fn access(&self, admit: Admit) -> Access {
        Access { roles: self.roles.clone(), insecure: self.is_insecure(), admit, readers: None }
    }
}

/// Who a service admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Genesis identities, and read identities (see [`Access::with_readers`]).
    IdentitiesAndReaders,
    /// Nodes, insurers, regulators, the ministry.
    AnyIdentity,
    /// Genesis nodes only (Raft).
    Nodes,
}

/// A tonic interceptor: refuses callers without a genesis identity the service admits, and
/// hands the services a [`Caller`].
#[derive(Clone)]
pub struct Access {
    roles: Arc<BTreeMap<[u8; 32], Role>>,
    insecure: bool,
    admit: Admit,
    readers: Option<Readers>,
}

/// The party a read identity's key reads for, if the ledger registered it.
pub type Readers = Arc<dyn Fn(&[u8; 32]) -> Option<String> + Send + Sync>;

impl Access {
    /// With `Admit::IdentitiesAndReaders`: how to find a key's party on the ledger.
    pub fn with_readers(mut self, readers: Readers) -> Access {
        self.readers = Some(readers);
        self
    }
}

impl tonic::service::Interceptor for Access {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if self.insecure {
            request.extensions_mut().insert(Caller::Insecure);
            return Ok(request);
        }
        let key = request.extensions().get::<PeerIdentity>().and_then(|peer| peer.key);
        if let (Admit::IdentitiesAndReaders, Some(key), Some(readers)) = (self.admit, key, &self.readers) {
            if !self.roles.contains_key(&key) {
                if let Some(party) = readers(&key) {
                    request.extensions_mut().insert(Caller::Reader(party));
                    return Ok(request);
                }
            }
        }
        let Some(role) = key.and_then(|key| self.roles.get(&key)) else {
            return Err(Status::unauthenticated(
                "this node answers only genesis identities over mutual TLS: connect with the certificate of a key named in genesis (README, 'Security model')",
            ));
        };
        if self.admit == Admit::Nodes && !matches!(role, Role::Node(_)) {
            return Err(Status::permission_denied(format!("{} is not a node: only genesis nodes speak Raft", role_name(role))));
        }
        request.extensions_mut().insert(Caller::Party(role.clone()));
        Ok(request)
    }
}

/// An accepted connection under the limits: TLS, or plain text when insecure.
pub enum Connection {
    Tls(Box<tokio_rustls::server::TlsStream<Limited<TcpStream>>>, PeerIdentity),
    Plain(Limited<TcpStream>, PeerIdentity),
}

impl Connected for Connection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        match self {
            Connection::Tls(_, peer) | Connection::Plain(_, peer) => peer.clone(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Connection::Plain(stream, _) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Connection::Plain(stream, _) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_flush(cx),
            Connection::Plain(stream, _) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Connection::Plain(stream, _) => Pin::new(stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
            Connection::Plain(stream, _) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Tls(stream, _) => stream.is_write_vectored(),
            Connection::Plain(stream, _) => stream.is_write_vectored(),
        }
    }
}

/// The connections accepted on `listener`, with Nagle's algorithm off: Raft and submit
/// calls are small request/response pairs, and Nagle with delayed ACKs would add ~40 ms to
/// each.
pub fn accepted(listener: TcpListener) -> impl tokio_stream::Stream<Item = std::io::Result<TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// The connections of `limited` (already counted under the limits), each through the TLS
/// handshake unless insecure. A failed or timed-out handshake closes that connection and is
/// logged at debug level; accepting goes on.
pub fn incoming<S>(limited: S, server: Option<Arc<rustls::ServerConfig>>) -> impl tokio_stream::Stream<Item = std::io::Result<Connection>>
where
    S: tokio_stream::Stream<Item = std::io::Result<Limited<TcpStream>>> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(HANDSHAKES_AT_ONCE);
    tokio::spawn(async move {
        let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_AT_ONCE));
        let mut limited = std::pin::pin!(limited);
        loop {
            let next = tokio::select! {
                next = limited.next() => next,
                // The server stopped: release the port.
                () = sender.closed() => return,
            };
            let stream = match next {
                None => return,
                Some(Ok(stream)) => stream,
                Some(Err(error)) => {
                    // Out of descriptors, mostly: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let connection = stream.connect_info();
            let remote = connection.remote;
            let Some(config) = server.clone() else {
                let peer = PeerIdentity { remote, key: None, connection };
                if sender.send(Ok(Connection::Plain(stream, peer))).await.is_err() {
                    return;
                }
                continue;
            };
            let Ok(permit) = handshakes.clone().acquire_owned().await else { return };
            let sender = sender.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let key = tls.get_ref().1.peer_certificates().and_then(|chain| chain.first()).and_then(tls::certificate_key);
                        let peer = PeerIdentity { remote, key, connection };
                        let _ = sender.send(Ok(Connection::Tls(Box::new(tls), peer))).await;
                    }
                    Ok(Err(error)) => tracing::debug!(?remote, %error, "TLS handshake refused"),
                    Err(_) => tracing::debug!(?remote, "TLS handshake not finished within {HANDSHAKE_TIMEOUT:?}: closed"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}
