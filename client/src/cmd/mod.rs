//! One command per file (as mini-redis does): each parses its flags with clap, builds what
//! it needs through [`Context`], and prints. Errors are `anyhow` here and only here; the
//! library below (`fairshare_client`) has typed errors that name the input at fault.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context as _, Result};
use ed25519_dalek::SigningKey;
use fairshare_api::v1::{query_request::Query, SubmitResponse, VerdictKind};
use fairshare_api::Transport;
use fairshare_client::config::{self, ClientConfig};
use fairshare_client::connection::Connection;
use fairshare_client::keyfile;
use fairshare_client::nonce::{now_micros, NonceStore, SeenStore};
use fairshare_protocol::envelope::seal;
use fairshare_protocol::pb::{self, transaction::Kind};
use serde::de::DeserializeOwned;
use serde::Serialize;

mod audit;
mod balances;
mod bench;
mod completions;
mod dashboard;
#[cfg(feature = "node")]
mod devnet;
mod export;
mod fund;
mod funding;
mod intake;
mod key;
mod keygen;
mod man;
mod membership;
mod milestone;
#[cfg(feature = "node")]
mod node;
mod obligations;
mod observe;
mod party;
mod pay;
mod plan;
mod plans;
mod play;
mod quicktest;
mod report;
mod status;
mod watch;

#[derive(clap::Subcommand)]
pub enum Command {
    Keygen(keygen::Args),
    #[cfg(feature = "node")]
    Devnet(devnet::Args),
    /// Runs one node (used by `devnet` for its child processes).
    #[cfg(feature = "node")]
    #[command(hide = true)]
    Node(node::Args),
    /// Not in this build: it was built without the embedded node (cargo feature `node`).
    #[cfg(not(feature = "node"))]
    #[command(hide = true)]
    Devnet(WithoutNode),
    #[cfg(not(feature = "node"))]
    #[command(hide = true)]
    Node(WithoutNode),
    Play(play::Args),
    Status(status::Args),
    Party(party::Args),
    Key(key::Args),
    Quicktest(quicktest::Args),
    Plan(plan::Args),
    Plans(plans::Args),
    Milestone(milestone::Args),
    Pay(pay::Args),
    Fund(fund::Args),
    Intake(intake::Args),
    Funding(funding::Args),
    Membership(membership::Args),
    Obligations(obligations::Args),
    Balances(balances::Args),
    Bench(bench::Args),
    Report(report::Args),
    Watch(watch::Args),
    Observe(observe::Args),
    Dashboard(dashboard::Args),
    Export(export::Args),
    Audit(audit::Args),
    Completions(completions::Args),
    Man(man::Args),
}

impl Command {
    pub async fn run(self, context: &Context) -> Result<()> {
        // keygen, completions and man need no config; devnet and node read their own, not a client config.
        if !matches!(self, Command::Keygen(_) | Command::Devnet(_) | Command::Node(_) | Command::Completions(_) | Command::Man(_)) {
            context.check_identity()?;
        }
        match self {
            Command::Keygen(args) => args.run(context),
            #[cfg(feature = "node")]
            Command::Devnet(args) => args.run(context).await,
            #[cfg(feature = "node")]
            Command::Node(args) => args.run(context).await,
            #[cfg(not(feature = "node"))]
            Command::Devnet(_) | Command::Node(_) => Err(WithoutNode::error()),
            Command::Play(args) => args.run(context).await,
            Command::Status(args) => args.run(context).await,
            Command::Party(args) => args.run(context).await,
            Command::Key(args) => args.run(context).await,
            Command::Quicktest(args) => args.run(context).await,
            Command::Plan(args) => args.run(context).await,
            Command::Plans(args) => args.run(context).await,
            Command::Milestone(args) => args.run(context).await,
            Command::Pay(args) => args.run(context).await,
            Command::Fund(args) => args.run(context).await,
            Command::Intake(args) => args.run(context).await,
            Command::Funding(args) => args.run(context).await,
            Command::Membership(args) => args.run(context).await,
            Command::Obligations(args) => args.run(context).await,
            Command::Balances(args) => args.run(context).await,
            Command::Bench(args) => args.run(context).await,
            Command::Report(args) => args.run(context).await,
            Command::Watch(args) => args.run(context).await,
            Command::Observe(args) => args.run(context).await,
            Command::Dashboard(args) => args.run(context).await,
            Command::Export(args) => args.run(context).await,
            Command::Audit(args) => args.run(context).await,
            Command::Completions(args) => args.run(context),
            Command::Man(args) => args.run(context),
        }
    }
}

/// `fairshare devnet` / `fairshare node` in a build without the embedded node: any
/// arguments are accepted, so the answer is this explanation rather than a usage error.
#[cfg(not(feature = "node"))]
#[derive(clap::Args)]
pub struct WithoutNode {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _arguments: Vec<String>,
}

#[cfg(not(feature = "node"))]
impl WithoutNode {
    fn error() -> anyhow::Error {
        anyhow!(
            "this fairshare was built without the embedded node (cargo feature 'node'), so it cannot run 'devnet' or 'node'; \
             use a default build ('cargo build --bin fairshare') or run 'fairshare-node --config FILE'"
        )
    }
}

/// What every command may need: the global flags, and lazily the config and connection.
pub struct Context {
    pub config_path: Option<PathBuf>,
    pub identity: Option<String>,
    pub node: Option<String>,
    pub key: Option<PathBuf>,
    pub json: bool,
    /// `--insecure`: plain text, no authentication.
    pub insecure: bool,
    /// `--any-state`: queries may be answered from a state older than this client's last
    /// acknowledged write.
    pub any_state: bool,
    config: OnceLock<ClientConfig>,
    ledger_id: OnceLock<String>,
    transport: OnceLock<Transport>,
}

/// A transaction's verdict, and the node that gave it.
pub struct Submitted {
    pub node: String,
    pub response: SubmitResponse,
}

impl Submitted {
    /// The verdict as `--json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verdict": self.verdict().as_str_name(),
            "index": self.response.index,
            "transaction_id": self.response.transaction_id,
            "reason": if self.response.reason == 0 { "" } else { self.reason() },
            "message": self.response.message,
            "node": self.node,
        })
    }

    pub fn verdict(&self) -> VerdictKind {
        VerdictKind::try_from(self.response.verdict).unwrap_or(VerdictKind::Unspecified)
    }

    pub fn reason(&self) -> &'static str {
        pb::ReasonCode::try_from(self.response.reason).map(|code| code.as_str_name()).unwrap_or("UNKNOWN_REASON")
    }

    pub fn short_id(&self) -> &str {
        &self.response.transaction_id[..self.response.transaction_id.len().min(12)]
    }

    /// "applied at leaf 12 (tx 3f2a…)" or the rejection as an error.
    pub fn outcome(&self) -> Result<String> {
        let response = &self.response;
        match self.verdict() {
            VerdictKind::Applied => Ok(format!("applied at leaf {} (tx {})", response.index, self.short_id())),
            VerdictKind::Duplicate if response.reason == 0 => Ok(format!(
                "already applied at leaf {} (tx {}): this exact transaction was submitted before",
                response.index,
                self.short_id()
            )),
            VerdictKind::Duplicate => bail!(
                "already in the log at leaf {} (tx {}), rejected then: {}: {}",
                response.index,
                self.short_id(),
                self.reason(),
                response.message
            ),
            VerdictKind::Rejected => {
                bail!("rejected at leaf {} (tx {}): {}: {}", response.index, self.short_id(), self.reason(), response.message)
            }
            VerdictKind::Refused => bail!("refused by {}: {}: {}", self.node, self.reason(), response.message),
            other => bail!("unexpected verdict {} from {}: {}", other.as_str_name(), self.node, response.message),
        }
    }
}

impl Context {
    pub fn new(
        config_path: Option<PathBuf>,
        identity: Option<String>,
        node: Option<String>,
        key: Option<PathBuf>,
        json: bool,
        insecure: bool,
    ) -> Context {
        Context {
            config_path,
            identity,
            node,
            key,
            json,
            insecure,
            any_state: false,
            config: OnceLock::new(),
            ledger_id: OnceLock::new(),
            transport: OnceLock::new(),
        }
    }

    /// How to reach the nodes: mutual TLS as the command's identity (`--as` / `--key`, else
    /// the config's default), accepting only the node keys of the config's genesis; or plain
    /// text with `--insecure` (or `insecure = true` in the config), said on stderr each time.
    pub fn transport(&self) -> Result<Transport> {
        if let Some(transport) = self.transport.get() {
            return Ok(transport.clone());
        }
        let insecure = self.insecure || self.config().is_ok_and(|config| config.file.insecure);
        let transport = if insecure {
            eprintln!(
                "fairshare: INSECURE: plain text, no authentication (--insecure); anyone on the network can read and alter this traffic"
            );
            Transport::Insecure
        } else {
            let config =
                self.config().context("mutual TLS needs the client config's genesis (or pass --insecure on an insecure ledger)")?;
            let path = config.genesis_path().ok_or_else(|| {
                anyhow!(
                    "client config {} names no genesis: add genesis = \"FILE\" (its node keys are the only servers this client accepts), or pass --insecure on an insecure ledger",
                    config.path.display()
                )
            })?;
            let text = read_file(&path)?;
            let file: fairshare_protocol::genesis::GenesisFile =
                toml::from_str(&text).with_context(|| format!("genesis file {} is malformed", path.display()))?;
            let genesis = file.build().with_context(|| format!("genesis file {} is invalid", path.display()))?;
            let (id, key) = self.signer(None).context("mutual TLS: the client presents the certificate of its identity")?;
            let identity = fairshare_api::tls::Identity::new(&key).with_context(|| format!("identity '{id}'"))?;
            Transport::tls(&identity, fairshare_api::tls::node_trust(&genesis))?
        };
        Ok(self.transport.get_or_init(|| transport).clone())
    }

    /// The client config; an error says where it was looked for.
    pub fn config(&self) -> Result<&ClientConfig> {
        if let Some(config) = self.config.get() {
            return Ok(config);
        }
        let path = config::locate(self.config_path.as_deref())?;
        let loaded = ClientConfig::load(&path)?;
        Ok(self.config.get_or_init(|| loaded))
    }

    /// `--as ID` must name an identity of the client config, on commands that only read
    /// too (they would otherwise ignore it, and a typo would pass unnoticed). With `--key`
    /// the id is the key's genesis identity, which the node checks; without a client
    /// config, the command that needs one says so.
    pub fn check_identity(&self) -> Result<()> {
        let (Some(id), None) = (&self.identity, &self.key) else {
            return Ok(());
        };
        if let Ok(config) = self.config() {
            config.identity(Some(id)).with_context(|| format!("--as {}", fairshare_protocol::ids::echo(id)))?;
        }
        Ok(())
    }

    /// The nodes to talk to: `--node`, else the config's.
    pub fn connection(&self) -> Result<Connection> {
        if let Some(node) = &self.node {
            if !node.starts_with("http://") && !node.starts_with("https://") {
                bail!("--node '{}' is not a URL like https://127.0.0.1:7101", fairshare_protocol::ids::echo(node));
            }
            return Ok(Connection::new(vec![node.clone()], self.transport()?));
        }
        Ok(Connection::new(self.config()?.file.nodes.clone(), self.transport()?))
    }

    /// Where the client keeps nonces and watch positions: beside the config, else ./.fairshare.
    pub fn state_dir(&self) -> PathBuf {
        match self.config() {
            Ok(config) => config.dir(),
            Err(_) => PathBuf::from(".fairshare"),
        }
    }

    /// The signing identity and its key: `--as` (or the config's default) and `--key` (or the config's key file).
    pub fn signer(&self, identity: Option<&str>) -> Result<(String, SigningKey)> {
        let requested = identity.or(self.identity.as_deref());
        if let Some(key) = &self.key {
            let id = requested.ok_or_else(|| anyhow!("--key needs --as ID: the identity the key belongs to"))?;
            return Ok((id.to_string(), keyfile::read(key)?));
        }
        let (id, key_file) = self.config()?.identity(requested)?;
        let key = keyfile::read(&key_file).with_context(|| format!("identity '{id}'"))?;
        Ok((id, key))
    }

    async fn ledger_id(&self, connection: &Connection) -> Result<String> {
        if let Some(id) = self.ledger_id.get() {
            return Ok(id.clone());
        }
        let id = match self.config().ok().and_then(|config| config.file.ledger_id.clone()) {
            Some(id) => id,
            None => connection.genesis().await.context("cannot learn the ledger id from the node")?.ledger_id,
        };
        Ok(self.ledger_id.get_or_init(|| id).clone())
    }

    /// Signs `kind` as `signer` with a fresh nonce and submits it; returns the verdict.
    pub async fn sign_and_submit(&self, connection: &Connection, signer: &str, key: &SigningKey, kind: Kind) -> Result<Submitted> {
        let ledger_id = self.ledger_id(connection).await?;
        let nonce = NonceStore::new(&self.state_dir().join("nonces")).next(signer, now_micros())?;
        let envelope = seal(&pb::Transaction { ledger_id, nonce, kind: Some(kind) }, signer, key);
        let (node, response) = connection.submit(&envelope).await?;
        // What this client was told is on the ledger; later queries read at least this far.
        let verdict = VerdictKind::try_from(response.verdict).unwrap_or(VerdictKind::Unspecified);
        if matches!(verdict, VerdictKind::Applied | VerdictKind::Rejected | VerdictKind::Duplicate) {
            let ledger_id = self.ledger_id(connection).await?;
            self.seen().record(&ledger_id, response.index + 1)?;
        }
        Ok(Submitted { node, response })
    }

    /// Signs and submits as the command's identity, and prints the verdict.
    pub async fn submit(&self, kind: Kind) -> Result<()> {
        let (signer, key) = self.signer(None)?;
        let connection = self.connection()?;
        let submitted = self.sign_and_submit(&connection, &signer, &key, kind).await?;
        if self.json {
            self.print_json(&submitted.to_json())?;
        }
        let line = submitted.outcome()?;
        if !self.json {
            println!("{line}");
        }
        Ok(())
    }

    /// Where this client keeps the largest log size it was told about.
    fn seen(&self) -> SeenStore {
        SeenStore::new(&self.state_dir().join("nonces"))
    }

    /// The state a query must reflect: this client's last acknowledged write, unless
    /// `--any-state`.
    pub async fn min_size(&self, connection: &Connection) -> Result<u64> {
        if self.any_state {
            return Ok(0);
        }
        let ledger_id = self.ledger_id(connection).await?;
        Ok(self.seen().seen(&ledger_id))
    }

    /// Asks a query and reads the JSON answer, from a state that holds every write this
    /// client was told about (DOMAIN.md, "Reading your own writes"; `--any-state` opts out).
    pub async fn query<T: DeserializeOwned>(&self, query: Query) -> Result<T> {
        let connection = self.connection()?;
        let min_size = self.min_size(&connection).await?;
        let (node, response) = connection.query(query, min_size).await?;
        serde_json::from_str(&response.json)
            .with_context(|| format!("{node} answered with JSON this client does not understand (another version?)"))
    }

    pub fn print_json<T: Serialize>(&self, value: &T) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// Reads a file named on the command line, naming it in the error.
pub fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Turns a library input error into an anyhow error with the command's flag names.
pub fn input<T>(result: Result<T, fairshare_client::InputError>) -> Result<T> {
    result.map_err(|error| anyhow!("{error}"))
}
