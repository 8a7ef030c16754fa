//! Reading a node for the audit: its genesis, status, full log (the `AuditLog` stream) and
//! Merkle proofs. One node answers all calls of one command, so that what is exported or
//! proved is one node's consistent view.

use std::time::Duration;

use fairshare_api::v1::{
    ledger_client::LedgerClient, AuditBlock, AuditLogRequest, ConsistencyProofRequest, ConsistencyProofResponse, GenesisRequest,
    InclusionProofRequest, InclusionProofResponse, StatusRequest, StatusResponse,
};
use fairshare_protocol::pb;
use fairshare_protocol::pb::audit::{export_record::Record, ExportTrailer, ExportedBlock};
use tonic::transport::Channel;

use super::file::{self, Export, FileError};
use crate::connection::{self, ClientError, Connection};

/// Bounds each unary call; the log stream itself has no deadline (it may be long), but
/// each message of it must arrive within [`STREAM_IDLE_MAX`].
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const STREAM_IDLE_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{node} sent nothing for {}s while streaming its log; try again or another node (--node URL)", STREAM_IDLE_MAX.as_secs())]
    Stalled { node: String },
}

/// One node, connected.
pub struct Node {
    pub url: String,
    client: LedgerClient<Channel>,
}

fn rpc(url: &str) -> impl Fn(tonic::Status) -> ClientError + '_ {
    move |status| ClientError::Rpc { node: url.to_string(), code: status.code(), message: status.message().to_string() }
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

impl Node {
    /// The first of `nodes` that answers a status request.
    pub async fn first(connection: &Connection) -> Result<Node, ClientError> {
        let mut tried = Vec::new();
        for url in connection.nodes() {
            match connection::client(url, None, connection.transport()).await {
                Ok(client) => {
                    let mut node = Node { url: url.clone(), client };
                    match node.status().await {
                        Ok(_) => return Ok(node),
                        Err(error) => tried.push(format!("{url}: {error}")),
                    }
                }
                Err(problem) => tried.push(format!("{url}: {problem}")),
            }
        }
        Err(ClientError::NoNode { tried })
    }

    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        self.client.status(request(StatusRequest {})).await.map(tonic::Response::into_inner).map_err(rpc(&self.url))
    }

    pub async fn genesis(&mut self) -> Result<pb::Genesis, ClientError> {
        self.client.genesis(request(GenesisRequest {})).await.map(tonic::Response::into_inner).map_err(rpc(&self.url))
    }

    pub async fn inclusion_proof(&mut self, transaction_id: &str, size: u64) -> Result<InclusionProofResponse, ClientError> {
        let message = InclusionProofRequest { transaction_id: transaction_id.to_string(), size };
        self.client.inclusion_proof(request(message)).await.map(tonic::Response::into_inner).map_err(rpc(&self.url))
    }

    pub async fn consistency_proof(&mut self, old_size: u64, new_size: u64) -> Result<ConsistencyProofResponse, ClientError> {
        let message = ConsistencyProofRequest { old_size, new_size };
        self.client.consistency_proof(request(message)).await.map(tonic::Response::into_inner).map_err(rpc(&self.url))
    }

    /// The log from `from_log_index` on, live: the stream stays open and brings every
    /// block as the node applies it (the observer).
    pub async fn follow_log(&mut self, from_log_index: u64) -> Result<tonic::Streaming<AuditBlock>, ClientError> {
        let request = AuditLogRequest { from_log_index, follow: true };
        self.client.audit_log(request).await.map(tonic::Response::into_inner).map_err(rpc(&self.url))
    }

    /// Streams the log from `from_log_index` to its current end, block by block.
    pub async fn scan_log(
        &mut self,
        from_log_index: u64,
        mut visit: impl FnMut(AuditBlock) -> Result<(), FetchError>,
    ) -> Result<u64, FetchError> {
        let mut stream =
            self.client.audit_log(AuditLogRequest { from_log_index, follow: false }).await.map_err(rpc(&self.url))?.into_inner();
        let mut blocks = 0;
        loop {
            let next = tokio::time::timeout(STREAM_IDLE_MAX, stream.message())
                .await
                .map_err(|_| FetchError::Stalled { node: self.url.clone() })?
                .map_err(rpc(&self.url))?;
            let Some(block) = next else { return Ok(blocks) };
            blocks += 1;
            visit(block)?;
        }
    }
}

/// Exports a node's log record by record into `sink`: the header, every block from
/// `from_log_index` on (its bytes as the node stored them), and a trailer with the node's
/// size, root and newest certified checkpoint with its certificate.
///
/// The status is read *before* the log, so the log holds at least what the trailer
/// claims even while the ledger grows; on an idle ledger the two are equal.
pub async fn export(
    connection: &Connection,
    from_log_index: u64,
    mut sink: impl FnMut(Record) -> Result<(), FileError>,
    mut on_block: impl FnMut(&ExportedBlock),
) -> Result<ExportTrailer, FetchError> {
    let mut node = Node::first(connection).await?;
    let genesis = node.genesis().await?;
    let status = node.status().await?;
    let exported_from = format!("{} ({})", status.node, node.url);
    sink(Record::Header(file::header(&genesis, from_log_index, &exported_from)))?;
    let blocks = node
        .scan_log(from_log_index, |AuditBlock { log_index, block }| {
            let exported = ExportedBlock { log_index, block };
            on_block(&exported);
            Ok(sink(Record::Block(exported))?)
        })
        .await?;
    let newest_certified = (status.certified_size > 0).then(|| pb::Checkpoint {
        ledger_id: genesis.ledger_id.clone(),
        size: status.certified_size,
        root: status.certified_root.clone(),
        state_digest: status.certified_state_digest.clone(),
    });
    let trailer = ExportTrailer {
        blocks,
        size: status.size,
        root: status.root,
        certified_size: status.certified_size,
        newest_certified,
        certificate: status.certificate,
    };
    sink(Record::Trailer(trailer.clone()))?;
    Ok(trailer)
}

/// A node's log as an [`Export`] in memory (for `audit verify --node`).
pub async fn export_in_memory(connection: &Connection, on_block: impl FnMut(&ExportedBlock)) -> Result<Export, FetchError> {
    let mut collected = Export::default();
    export(
        connection,
        0,
        |record| {
            match record {
                Record::Header(header) => collected.header = Some(header),
                Record::Block(block) => collected.blocks.push(block),
                Record::Trailer(trailer) => collected.trailer = Some(trailer),
            }
            Ok(())
        },
        on_block,
    )
    .await?;
    Ok(collected)
}
