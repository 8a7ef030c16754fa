//! Talking to the ledger: the node API over gRPC, trying the configured nodes in order.
//!
//! Any node answers any call (followers forward submissions to the leader), so the client
//! takes the first node that answers and moves on to the next when one is down. A
//! submission is retried on the next node with the *same* envelope: its id is the hash of
//! the signed body, so the ledger applies it at most once, and a retry of something that
//! was in fact committed answers with the original verdict.

use std::future::Future;
use std::time::Duration;

use fairshare_api::v1::{
    ledger_client::LedgerClient, query_request::Query, GenesisRequest, ObligationEvent, QueryRequest, QueryResponse, StatusRequest,
    StatusResponse, SubmitRequest, SubmitResponse, WatchRequest,
};
use fairshare_api::{ConnectError, Deadlines, Transport};
use fairshare_protocol::pb;
use tonic::transport::Channel;
use tonic::Code;

/// A node that does not accept a connection within this is taken as down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A node waits up to 8 s for a commit before it answers "not committed"; allow for that.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(20);
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no node answered ({}); start a ledger with 'fairshare devnet', check 'fairshare status', or pass --node URL", tried.join("; "))]
    NoNode { tried: Vec<String> },
    #[error("{node} answered: {message}{}", hint(*code))]
    Rpc { node: String, code: Code, message: String },
}

fn hint(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "",
        Code::NotFound => " (check the id; 'fairshare plans' and 'fairshare obligations' list what exists)",
        Code::FailedPrecondition => "",
        Code::Unimplemented => " (the node runs another version of fairshare)",
        Code::ResourceExhausted => " (the request is too large; split it)",
        _ => "",
    }
}

/// Worth trying the next node: the node is down, restarting, or has no quorum right now.
fn is_transient(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded)
}

#[derive(Debug, Clone)]
pub struct Connection {
    nodes: Vec<String>,
    transport: Transport,
}

/// Opens a client to one node through `fairshare_api::connect` (the one place client
/// channels are built). `timeout` bounds every call on it (none for streams).
pub async fn client(url: &str, timeout: Option<Duration>, transport: &Transport) -> Result<LedgerClient<Channel>, String> {
    fairshare_api::connect(url, Deadlines::new(CONNECT_TIMEOUT, timeout), transport).await.map_err(|error| match error {
        ConnectError::Unreachable { cause, .. } => cause,
        other => other.to_string(),
    })
}

/// The status of one node.
pub async fn status(url: &str, transport: &Transport) -> Result<StatusResponse, ClientError> {
    let mut ledger = client(url, Some(Duration::from_secs(3)), transport)
        .await
        .map_err(|problem| ClientError::NoNode { tried: vec![format!("{url}: {problem}")] })?;
    ledger.status(StatusRequest {}).await.map(tonic::Response::into_inner).map_err(|status| ClientError::Rpc {
        node: url.to_string(),
        code: status.code(),
        message: status.message().to_string(),
    })
}

impl Connection {
    pub fn new(nodes: Vec<String>, transport: Transport) -> Connection {
        assert!(!nodes.is_empty(), "a connection needs at least one node");
        Connection { nodes, transport }
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Calls each node in turn until one answers; returns the node and its answer.
    async fn first_answer<T, F, Fut>(&self, timeout: Option<Duration>, call: F) -> Result<(String, T), ClientError>
    where
        F: FnMut(LedgerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.first_answer_or_next(timeout, |_| false, call).await
    }

    /// As [`Connection::first_answer`], also asking the next node after an error whose
    /// code `next` accepts.
    async fn first_answer_or_next<T, F, Fut>(
        &self,
        timeout: Option<Duration>,
        next: impl Fn(Code) -> bool,
        mut call: F,
    ) -> Result<(String, T), ClientError>
    where
        F: FnMut(LedgerClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut tried = Vec::new();
        for url in &self.nodes {
            let ledger = match client(url, timeout, &self.transport).await {
                Ok(ledger) => ledger,
                Err(problem) => {
                    tried.push(format!("{url}: {problem}"));
                    continue;
                }
            };
            match call(ledger).await {
                Ok(response) => return Ok((url.clone(), response.into_inner())),
                Err(status) if is_transient(status.code()) || next(status.code()) => tried.push(format!("{url}: {}", status.message())),
                Err(status) => {
                    return Err(ClientError::Rpc { node: url.clone(), code: status.code(), message: status.message().to_string() })
                }
            }
        }
        Err(ClientError::NoNode { tried })
    }

    pub async fn submit(&self, envelope: &pb::Envelope) -> Result<(String, SubmitResponse), ClientError> {
        self.first_answer(Some(SUBMIT_TIMEOUT), |mut ledger| {
            let request = SubmitRequest { envelope: Some(envelope.clone()) };
            async move { ledger.submit(request).await }
        })
        .await
    }

    /// Asks the nodes in turn for an answer from a state of at least `min_size` leaves
    /// (reading your own writes; 0: any state). A node that has not applied that many
    /// within its wait answers FAILED_PRECONDITION ("this node is behind"): the next node
    /// is asked; when none has, the error says so for each.
    pub async fn query(&self, query: Query, min_size: u64) -> Result<(String, QueryResponse), ClientError> {
        let behind = |code: Code| min_size > 0 && code == Code::FailedPrecondition;
        self.first_answer_or_next(Some(QUERY_TIMEOUT), behind, |mut ledger| {
            let request = QueryRequest { query: Some(query.clone()), min_size };
            async move { ledger.query(request).await }
        })
        .await
    }

    pub async fn genesis(&self) -> Result<pb::Genesis, ClientError> {
        self.first_answer(Some(QUERY_TIMEOUT), |mut ledger| async move { ledger.genesis(GenesisRequest {}).await })
            .await
            .map(|(_, genesis)| genesis)
    }

    /// Opens the stream of new obligations of one insurer from a leaf index on.
    pub async fn watch(&self, insurer: &str, from_index: u64) -> Result<(String, tonic::Streaming<ObligationEvent>), ClientError> {
        self.first_answer(None, |mut ledger| {
            let request = WatchRequest { insurer: insurer.to_string(), from_index };
            async move { ledger.watch_obligations(request).await }
        })
        .await
    }
}
