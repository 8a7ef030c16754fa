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
//!   built**, with the message size limits and deadlines. Transport security (mutual TLS
//!   with genesis identities, DESIGN.md decision 10) belongs here, so that no client can
//!   open a channel that lacks it.
//!
//! **Invariant:** this crate depends on no consensus or storage crate (openraft, sled);
//! a regulator's offline verifier links it and nothing of the server.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

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

/// Why no channel to a node could be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    #[error("'{}' is not a URL like http://127.0.0.1:7101", fairshare_protocol::ids::echo(url))]
    NotAUrl { url: String },
    /// `cause` is the innermost cause (e.g. "Connection refused (os error 111)"), which is
    /// what a person can act on; tonic's outer layers only say "transport error".
    #[error("{url}: {cause}")]
    Unreachable { url: String, cause: String },
}

/// Opens a channel to the node at `url` (`http://HOST:PORT`).
pub async fn channel(url: &str, deadlines: Deadlines) -> Result<Channel, ConnectError> {
    let endpoint = Endpoint::from_shared(url.to_string()).map_err(|_| ConnectError::NotAUrl { url: url.to_string() })?;
    let endpoint = endpoint.connect_timeout(deadlines.connect);
    let endpoint = match deadlines.call {
        Some(call) => endpoint.timeout(call),
        None => endpoint,
    };
    endpoint.connect().await.map_err(|error| ConnectError::Unreachable { url: url.to_string(), cause: innermost(&error) })
}

/// A `Ledger` client of the node at `url`, with the message size limits.
pub async fn connect(url: &str, deadlines: Deadlines) -> Result<v1::ledger_client::LedgerClient<Channel>, ConnectError> {
    Ok(ledger_client(channel(url, deadlines).await?))
}

/// An `Admin` client of the node at `url`, with the message size limits.
pub async fn connect_admin(url: &str, deadlines: Deadlines) -> Result<v1::admin_client::AdminClient<Channel>, ConnectError> {
    let channel = channel(url, deadlines).await?;
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
        let error = connect("not a url", QUICK).await.unwrap_err();
        assert_eq!(error, ConnectError::NotAUrl { url: "not a url".into() });
        assert!(error.to_string().contains("http://127.0.0.1:7101"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_names_the_url_and_the_innermost_cause() {
        // A port that was just bound and released: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let error = connect(&url, QUICK).await.unwrap_err();
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
