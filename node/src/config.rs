//! Node configuration and genesis files (TOML). Every error names the file and the field.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use fairshare_protocol::genesis::{node_signer, GenesisFile};
use fairshare_protocol::Genesis;
use serde::{Deserialize, Serialize};

use crate::limits::Limits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The insurer this node belongs to (an id of genesis).
    pub id: String,
    /// The node's ed25519 secret key (64 hex digits), relative to this file.
    pub key_file: PathBuf,
    /// The genesis file, relative to this file.
    pub genesis: PathBuf,
    /// Where sled keeps the Raft log, vote, snapshots and blocks.
    pub data_dir: PathBuf,
    /// gRPC listen address (API, Raft and admin on one port), e.g. "127.0.0.1:7101".
    pub listen: String,
    /// Prometheus metrics over HTTP, e.g. "127.0.0.1:9101"; omitted: no metrics listener.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// "human" (default) or "json".
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Every other node of the ledger.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Connection caps, deadlines, the free-space floor (`[limits]`; every field has a default).
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub id: String,
    /// "https://127.0.0.1:7102" (`http://` only with `--insecure`)
    pub address: String,
}

fn default_log_format() -> String {
    "human".into()
}

/// A node config with its files read and checked.
pub struct Loaded {
    pub config: NodeConfig,
    pub genesis: Arc<Genesis>,
    pub node_key: SigningKey,
    pub data_dir: PathBuf,
    /// Plain text and no authentication (`--insecure`); never set by a config file.
    pub insecure: bool,
}

fn relative(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read genesis file {}", path.display()))?;
    let file: GenesisFile = toml::from_str(&text).with_context(|| format!("genesis file {} is malformed", path.display()))?;
    file.build().with_context(|| format!("genesis file {} is invalid", path.display()))
}

/// Reads a secret key file: 64 hex digits (whitespace around them is ignored).
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("key file {} is not hex", path.display()))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| anyhow::anyhow!("key file {} must hold 32 bytes (64 hex digits)", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read node config {}", path.display()))?;
    let config: NodeConfig = toml::from_str(&text).with_context(|| format!("node config {} is malformed", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let genesis = read_genesis(&relative(base, &config.genesis))?;
    if !genesis.is_insurer(&config.id) {
        bail!("node config {}: field 'id': '{}' is not an insurer of genesis", path.display(), config.id);
    }
    let node_key =
        read_signing_key(&relative(base, &config.key_file)).with_context(|| format!("node config {}: field 'key_file'", path.display()))?;
    let (_, expected) = genesis.signer(&node_signer(&config.id)).expect("insurers have node keys");
    if node_key.verifying_key() != *expected {
        bail!("node config {}: field 'key_file': the key does not match node_key of '{}' in genesis", path.display(), config.id);
    }
    for (index, peer) in config.peers.iter().enumerate() {
        if !genesis.is_insurer(&peer.id) || peer.id == config.id {
            bail!("node config {}: field 'peers[{index}].id': '{}' is not another insurer of genesis", path.display(), peer.id);
        }
        if !peer.address.starts_with("http://") && !peer.address.starts_with("https://") {
            bail!(
                "node config {}: field 'peers[{index}].address': '{}' must be a URL like https://127.0.0.1:7102",
                path.display(),
                peer.address
            );
        }
    }
    config
        .listen
        .parse::<std::net::SocketAddr>()
        .with_context(|| format!("node config {}: field 'listen': '{}' is not host:port", path.display(), config.listen))?;
    if !matches!(config.log_format.as_str(), "human" | "json") {
        bail!("node config {}: field 'log_format' must be \"human\" or \"json\"", path.display());
    }
    config.limits.check().map_err(|problem| anyhow::anyhow!("node config {}: {problem}", path.display()))?;
    let data_dir = relative(base, &config.data_dir);
    Ok(Loaded { config, genesis: Arc::new(genesis), node_key, data_dir, insecure: false })
}

/// The genesis hash a data dir was created with is written beside the data; a node
/// refuses to start on a data dir of another ledger.
pub fn check_data_dir(data_dir: &Path, genesis: &Genesis) -> Result<bool> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let marker = data_dir.join("GENESIS");
    let ours = hex::encode(genesis.hash());
    match std::fs::read_to_string(&marker) {
        Ok(stored) if stored.trim() == ours => Ok(false),
        Ok(stored) => bail!(
            "data dir {} belongs to genesis {}, but the genesis file has hash {ours}; use the genesis this data was made with, or another data dir",
            data_dir.display(),
            stored.trim()
        ),
        Err(_) => {
            std::fs::write(&marker, format!("{ours}\n")).with_context(|| format!("cannot write {}", marker.display()))?;
            Ok(true)
        }
    }
}
