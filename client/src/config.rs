//! The client config, `client.toml` (written by `fairshare devnet`):
//!
//! ```toml
//! ledger_id = "iza-devnet-1f2e3d4c"        # optional: else asked from a node
//! nodes = ["https://127.0.0.1:7101", "https://127.0.0.1:7102"]
//! genesis = "genesis.toml"                 # whose node keys the client trusts (mutual TLS)
//! default_identity = "zk"                  # who signs without --as
//!
//! [[identities]]
//! id = "zk"
//! key_file = "keys/zk.key"                 # relative to this file
//!
//! [treasury]                               # optional: the account 'export sepa' pays from
//! debtor_iban = "NL91ABNA0417164300"
//! debtor_name = "Zilveren Kruis"
//! ```
//!
//! Found through `--config`, else `$FAIRSHARE_CONFIG`, else `./client.toml`, else
//! `./devnet/client.toml`. The client keeps its own state beside it: `nonces/` (see
//! [`crate::nonce`]), `watch/` (where `fairshare watch` resumes) and `exports/` (payment
//! files exported and not yet recorded: [`crate::exports`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_id: Option<String>,
    pub nodes: Vec<String>,
    /// The ledger's genesis file, relative to this file: the node keys in it are the only
    /// servers the client accepts, and its identities' keys are the client's certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// Plain text, no authentication, for a ledger started with `--insecure`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_identity: Option<String>,
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// The account `export sepa` pays from, so it need not be typed every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treasury: Option<Treasury>,
}

/// `[treasury]`: the debtor account of this client's payment files (`--debtor-iban` and
/// `--debtor-name` override it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treasury {
    pub debtor_iban: String,
    pub debtor_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub id: String,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub path: PathBuf,
    pub file: ClientConfigFile,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no client config: looked for {}; pass --config FILE (or set FAIRSHARE_CONFIG), or start a local ledger with 'fairshare devnet'", tried.join(" and "))]
    NotFound { tried: Vec<String> },
    #[error("cannot read client config {path}: {cause}")]
    Unreadable { path: PathBuf, cause: std::io::Error },
    #[error("client config {path} is malformed: {problem}")]
    Malformed { path: PathBuf, problem: String },
    #[error("client config {path} has no identity '{}'; it has {}", fairshare_protocol::ids::echo(id), known.join(", "))]
    UnknownIdentity { path: PathBuf, id: String, known: Vec<String> },
    #[error("client config {path} names no identity to sign with; pass --as ID or set default_identity")]
    NoIdentity { path: PathBuf },
}

/// Where the config is: the explicit path, else the first default that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let defaults = [PathBuf::from("client.toml"), PathBuf::from("devnet/client.toml")];
    defaults
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or_else(|| ConfigError::NotFound { tried: defaults.iter().map(|path| format!("./{}", path.display())).collect() })
}

impl ClientConfig {
    pub fn load(path: &Path) -> Result<ClientConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_path_buf(), cause: source })?;
        ClientConfig::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ClientConfig, ConfigError> {
        let malformed = |problem: String| ConfigError::Malformed { path: path.to_path_buf(), problem };
        let file: ClientConfigFile = toml::from_str(text).map_err(|error| malformed(crate::plan_file::toml_error(text, &error)))?;
        if file.nodes.is_empty() {
            return Err(malformed("'nodes' is empty; list the nodes' URLs, e.g. nodes = [\"https://127.0.0.1:7101\"]".into()));
        }
        for node in &file.nodes {
            if !node.starts_with("http://") && !node.starts_with("https://") {
                return Err(malformed(format!("node '{node}' is not a URL like https://127.0.0.1:7101")));
            }
        }
        Ok(ClientConfig { path: path.to_path_buf(), file })
    }

    /// The directory the config lives in: key files are relative to it, and client state
    /// (nonces, watch positions) is kept in it.
    pub fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The genesis file's path, if the config names one.
    pub fn genesis_path(&self) -> Option<PathBuf> {
        let path = self.file.genesis.as_ref()?;
        Some(if path.is_absolute() { path.clone() } else { self.dir().join(path) })
    }

    /// The identity that signs: `requested`, else the default; with its key file's path.
    pub fn identity(&self, requested: Option<&str>) -> Result<(String, PathBuf), ConfigError> {
        let id = requested
            .map(str::to_string)
            .or_else(|| self.file.default_identity.clone())
            .ok_or_else(|| ConfigError::NoIdentity { path: self.path.clone() })?;
        let identity = self.file.identities.iter().find(|identity| identity.id == id).ok_or_else(|| ConfigError::UnknownIdentity {
            path: self.path.clone(),
            id: id.clone(),
            known: self.file.identities.iter().map(|identity| identity.id.clone()).collect(),
        })?;
        let key_file = if identity.key_file.is_absolute() { identity.key_file.clone() } else { self.dir().join(&identity.key_file) };
        Ok((id, key_file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_resolve_relative_to_the_config() {
        let text =
            "nodes = [\"http://127.0.0.1:7101\"]\ndefault_identity = \"zk\"\n[[identities]]\nid = \"zk\"\nkey_file = \"keys/zk.key\"\n";
        let config = ClientConfig::parse(Path::new("devnet/client.toml"), text).unwrap();
        assert_eq!(config.identity(None).unwrap(), ("zk".to_string(), PathBuf::from("devnet/keys/zk.key")));
        let unknown = config.identity(Some("vgz")).unwrap_err().to_string();
        assert!(unknown.contains("no identity 'vgz'") && unknown.contains("zk"), "{unknown}");
        assert_eq!(config.dir(), PathBuf::from("devnet"));
        assert_eq!(ClientConfig::parse(Path::new("client.toml"), text).unwrap().dir(), PathBuf::from("."));
    }

    #[test]
    fn a_bad_config_names_the_problem() {
        let error = ClientConfig::parse(Path::new("c.toml"), "nodes = [\"127.0.0.1:7101\"]").unwrap_err().to_string();
        assert!(error.contains("not a URL"), "{error}");
        let error = ClientConfig::parse(Path::new("c.toml"), "nodes = []").unwrap_err().to_string();
        assert!(error.contains("empty"), "{error}");
        let error = ClientConfig::parse(Path::new("c.toml"), "nodes = [\"http://x:1\"]\nnode = 1").unwrap_err().to_string();
        assert!(error.contains("node"), "{error}");
    }
}
