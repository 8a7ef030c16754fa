//! # fairshare-api
//!
//! The public gRPC API of a fairshare node, and nothing else: what a client needs to talk
//! to a ledger without carrying a server. The node (`fairshare-node`) implements these
//! services; the CLI (`fairshare`), the test harness and the node itself (probing peers,
//! forwarding to the leader) are its clients.
//!
//! - [`v1`]: the types and services generated from `api/proto/fairshare/api.proto`. The
//!   ledger types they carry (envelopes, genesis) are `fairshare_protocol::pb`'s.
//! - [`FILE_DESCRIPTOR_SET`]: the schema, for server reflection (`grpcurl`).
//! - [`channel`], [`connect`], [`connect_admin`]: **the one place a client channel is
//!   built**, with the message size limits, deadlines and the [`Transport`]: mutual TLS with
//!   genesis identities ([`tls`], DESIGN.md decision 10), or plain text only when asked for
//!   by name ([`Transport::Insecure`]), so that no client opens a channel that lacks it by
//!   accident.
//!
//! **Invariant:** this crate depends on no consensus or storage crate (openraft, sled);
//! a regulator's offline verifier links it and nothing of the server.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint, Uri};

pub mod tls;

pub use fairshare_protocol::MESSAGE_BYTES_MAX;

pub mod v1 {
    //! Generated from `api/proto/fairshare/api.proto`.
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("fairshare.api.v1");
}

/// The encoded `FileDescriptorSet` of the API (with the ledger schema it imports), for
/// server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/api_descriptors.bin"));

/// How long a client waits for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A node that does not accept a connection within this is taken as down.
    pub connect: Duration,
    /// Bounds every call on the channel; `None` for channels that carry long streams
    /// (`WatchObligations`, `AuditLog`), which the caller bounds itself.
    pub call: Option<Duration>,
}

impl Deadlines {
    pub const fn new(connect: Duration, call: Option<Duration>) -> Deadlines {
        Deadlines { connect, call }
    }
}

/// How a client reaches nodes.
#[derive(Clone)]
pub enum Transport {
    /// Mutual TLS: the client presents its genesis identity and accepts a server only if the
    /// key in the server's certificate is trusted. URLs are `https://HOST:PORT`.
    Tls(Arc<rustls::ClientConfig>),
    /// Plain text, readable and forgeable by anyone on the network: only behind an explicit
    /// `--insecure`. URLs are `http://HOST:PORT`.
    Insecure,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.is_insecure() { "Transport::Insecure" } else { "Transport::Tls" })
    }
}

impl Transport {
    /// Mutual TLS as `identity`, with the servers `servers` trusts.
    pub fn tls(identity: &tls::Identity, servers: tls::Trust) -> Result<Transport, tls::TlsError> {
        Ok(Transport::Tls(tls::client_config(identity, servers)?))
    }

    pub fn is_insecure(&self) -> bool {
        matches!(self, Transport::Insecure)
    }

    /// The URL scheme this transport speaks.
    pub fn scheme(&self) -> &'static str {
        if self.is_insecure() {
            "http"
        } else {
            "https"
        }
    }
}

/// Why no channel to a node could be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    #[error("'{}' is not a URL like https://127.0.0.1:7101", fairshare_protocol::ids::echo(url))]
    NotAUrl { url: String },
    /// `cause` is the innermost cause (e.g. "Connection refused (os error 111)"), which is
    /// what a person can act on; tonic's outer layers only say "transport error".
    #[error("{url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// An `http://` URL with TLS on, or `https://` with `--insecure`.
    #[error("{url}: {problem}")]
    Scheme { url: String, problem: &'static str },
}

/// Opens a channel to the node at `url` (`https://HOST:PORT`, or `http://` when insecure).
pub async fn channel(url: &str, deadlines: Deadlines, transport: &Transport) -> Result<Channel, ConnectError> {
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|_| ConnectError::NotAUrl { url: url.to_string() })?;
    match (endpoint.uri().scheme_str(), transport) {
        (Some("https"), Transport::Tls(_)) | (Some("http"), Transport::Insecure) => {}
        (Some("http"), Transport::Tls(_)) => {
            return Err(ConnectError::Scheme {
                url: url.to_string(),
                problem: "nodes speak TLS: use https:// (plain http only with --insecure, on a ledger started with --insecure)",
            })
        }
        (Some("https"), Transport::Insecure) => {
            return Err(ConnectError::Scheme {
                url: url.to_string(),
                problem: "--insecure speaks plain text: use http://, or drop --insecure",
            })
        }
        _ => return Err(ConnectError::NotAUrl { url: url.to_string() }),
    }
    let endpoint = endpoint.connect_timeout(deadlines.connect);
    let endpoint = match deadlines.call {
        Some(call) => endpoint.timeout(call),
        None => endpoint,
    };
    let connected = match transport {
        Transport::Insecure => endpoint.connect().await,
        Transport::Tls(config) => {
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            endpoint.connect_with_connector(tower::service_fn(move |uri: Uri| tls_connect(connector.clone(), uri))).await
        }
    };
    connected.map_err(|error| ConnectError::Unreachable { url: url.to_string(), cause: innermost(&error) })
}

/// TCP (no Nagle: Raft and submit calls are small request/response pairs), then the TLS
/// handshake. A refused certificate is named as such.
async fn tls_connect(
    connector: tokio_rustls::TlsConnector,
    uri: Uri,
) -> std::io::Result<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string());
    let host = uri.host().ok_or_else(|| invalid("the URL names no host"))?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(tls::SERVER_NAME).map_err(|_| invalid("bad server name"))?;
    let stream = connector.connect(name, tcp).await.map_err(|error| {
        let refused = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|inner| matches!(inner, rustls::Error::InvalidCertificate(_)));
        if refused {
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("TLS: the server's certificate is not for a node key of this ledger's genesis ({error})"),
            )
        } else {
            std::io::Error::new(error.kind(), format!("TLS: {error}"))
        }
    })?;
    Ok(hyper_util::rt::TokioIo::new(stream))
}

/// A `Ledger` client of the node at `url`, with the message size limits.
pub async fn connect(
    url: &str,
    deadlines: Deadlines,
    transport: &Transport,
) -> Result<v1::ledger_client::LedgerClient<Channel>, ConnectError> {
    Ok(ledger_client(channel(url, deadlines, transport).await?))
}

/// An `Admin` client of the node at `url`, with the message size limits.
pub async fn connect_admin(
    url: &str,
    deadlines: Deadlines,
    transport: &Transport,
) -> Result<v1::admin_client::AdminClient<Channel>, ConnectError> {
    let channel = channel(url, deadlines, transport).await?;
    Ok(v1::admin_client::AdminClient::new(channel)
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX))
}

/// A `Ledger` client on a channel from [`channel`], with the message size limits (tonic's
/// default of 4 MB would refuse a full block or a large query answer).
pub fn ledger_client(channel: Channel) -> v1::ledger_client::LedgerClient<Channel> {
    v1::ledger_client::LedgerClient::new(channel).max_decoding_message_size(MESSAGE_BYTES_MAX).max_encoding_message_size(MESSAGE_BYTES_MAX)
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Deadlines = Deadlines::new(Duration::from_millis(500), Some(Duration::from_secs(1)));

    #[tokio::test]
    async fn a_malformed_url_is_named() {
        let error = connect("not a url", QUICK, &Transport::Insecure).await.unwrap_err();
        assert_eq!(error, ConnectError::NotAUrl { url: "not a url".into() });
        assert!(error.to_string().contains("https://127.0.0.1:7101"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_names_the_url_and_the_innermost_cause() {
        // A port that was just bound and released: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let error = connect(&url, QUICK, &Transport::Insecure).await.unwrap_err();
        let ConnectError::Unreachable { url: named, cause } = &error else { panic!("{error:?}") };
        assert_eq!(named, &url);
        assert!(!cause.contains("transport error"), "the innermost cause, not tonic's wrapper: {cause}");
    }

    #[test]
    fn the_descriptor_set_describes_the_api_and_not_the_raft_transport() {
        // Package names appear verbatim in the encoded FileDescriptorProtos.
        let text = String::from_utf8_lossy(FILE_DESCRIPTOR_SET);
        assert!(text.contains("fairshare.api.v1"), "the API package is described");
        assert!(text.contains("fairshare.ledger.v1"), "with the ledger schema it imports, so reflection resolves its types");
        assert!(!text.contains("fairshare.raft.v1"), "node-internal Raft transport is not part of the API");
    }
}
