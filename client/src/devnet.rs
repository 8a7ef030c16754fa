//! The files of a local ledger: keys, genesis, node configs and a client config, laid out
//! in one directory by `fairshare devnet`:
//!
//! ```text
//! DIR/genesis.toml          ledger "iza-devnet-<8 hex>": insurers, NZa, VWS, sectors, keys, fund
//! DIR/keys/<id>.key         signing keys (insurers, nza, vws), mode 0600
//! DIR/keys/node-<id>.key    each insurer's node key
//! DIR/nodes/<id>.toml       node configs (listen base+i, metrics base+100+i)
//! DIR/data/<id>/            node data (sled)
//! DIR/logs/<id>.log         node output
//! DIR/client.toml           every identity, every node
//! ```
//!
//! Generated once: a second run on the same directory reuses keys, genesis and data, so a
//! restarted devnet is the same ledger. The names and shares are illustrative.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use fairshare_node::config::{NodeConfig, Peer};
use fairshare_protocol::genesis::{GenesisFile, KeyFile, MemberFile, SectorFile};

use crate::config::{ClientConfigFile, Identity};
use crate::keyfile;

pub const NODES_MIN: usize = 2;
pub const NODES_MAX: usize = 10;
/// Every devnet's ledger id starts with this and ends with a random suffix chosen when its
/// directory is made, so that a transaction signed for one devnet and sent to another is
/// refused as WRONG_LEDGER ("another ledger") rather than as a bad signature.
pub const LEDGER_ID_PREFIX: &str = "iza-devnet";

/// A ledger id for a new devnet: `iza-devnet-` and 8 random hex digits.
pub fn new_ledger_id() -> String {
    format!("{LEDGER_ID_PREFIX}-{:08x}", rand::random::<u32>())
}
/// Metrics listen on the node's port plus this.
pub const METRICS_PORT_OFFSET: u16 = 100;
const _: () = assert!(NODES_MAX as u16 <= METRICS_PORT_OFFSET, "node and metrics ports must not overlap");

/// An illustrative insurer: id, name, and weights for the somatic and GGZ keys (shares are
/// the weights of the insurers present, normalised to four decimals).
pub struct InsurerSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub somatic: u32,
    pub ggz: u32,
}

pub const INSURERS: [InsurerSpec; NODES_MAX] = [
    InsurerSpec { id: "zk", name: "Zilveren Kruis", somatic: 2900, ggz: 2800 },
    InsurerSpec { id: "vgz", name: "VGZ", somatic: 2600, ggz: 2700 },
    InsurerSpec { id: "cz", name: "CZ", somatic: 2400, ggz: 2500 },
    InsurerSpec { id: "menzis", name: "Menzis", somatic: 2100, ggz: 2000 },
    InsurerSpec { id: "dsw", name: "DSW", somatic: 600, ggz: 650 },
    InsurerSpec { id: "onvz", name: "ONVZ", somatic: 500, ggz: 450 },
    InsurerSpec { id: "zorgenzekerheid", name: "Zorg en Zekerheid", somatic: 400, ggz: 350 },
    InsurerSpec { id: "eno", name: "ENO", somatic: 300, ggz: 300 },
    InsurerSpec { id: "caresq", name: "Caresq", somatic: 100, ggz: 100 },
    InsurerSpec { id: "eucare", name: "EUCARE", somatic: 100, ggz: 100 },
];

pub const REGULATOR: (&str, &str) = ("nza", "Nederlandse Zorgautoriteit");
pub const MINISTRY: (&str, &str) = ("vws", "Ministerie van Volksgezondheid, Welzijn en Sport");

/// (id, name, key group, earmark): the IZA sector earmarks (DOMAIN.md, rule 8).
pub const SECTORS: [(&str, &str, &str, &str); 4] = [
    ("msz", "Medisch-specialistische zorg", "somatic", "940000000.00"),
    ("ggz", "Geestelijke gezondheidszorg", "ggz", "160000000.00"),
    ("hamdz", "Huisartsenzorg en multidisciplinaire zorg", "somatic", "160000000.00"),
    ("wijk", "Wijkverpleging", "somatic", "140000000.00"),
];

pub const FUND: &str = "1960000000.00";

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    #[error("{path} is malformed: {problem}")]
    Malformed { path: PathBuf, problem: String },
    #[error("{dir} holds keys but no genesis.toml (an interrupted devnet?); remove {dir} or choose another --dir")]
    Incomplete { dir: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevnetError + '_ {
    move |source| DevnetError::Io { path: path.to_path_buf(), source }
}

/// Shares of `weights` with four decimals that sum to exactly 1: each is the floor of its
/// proportional part, and the ten-thousandths left over go to the first (largest) insurer.
pub fn shares(weights: &[u32]) -> Vec<String> {
    let total: u64 = weights.iter().map(|weight| u64::from(*weight)).sum();
    assert!(total > 0, "weights must not all be zero");
    let mut parts: Vec<u64> = weights.iter().map(|weight| u64::from(*weight) * 10_000 / total).collect();
    let left = 10_000 - parts.iter().sum::<u64>();
    parts[0] += left;
    assert_eq!(parts.iter().sum::<u64>(), 10_000);
    assert!(parts.iter().all(|part| *part > 0), "every insurer gets a share above zero");
    parts.into_iter().map(|part| format!("{}.{:04}", part / 10_000, part % 10_000)).collect()
}

/// One node of the devnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetNode {
    pub id: String,
    pub listen: String,
    pub metrics: Option<String>,
    pub config: PathBuf,
    pub log: PathBuf,
    /// "https", or "http" for a devnet made with `--insecure`.
    pub scheme: &'static str,
}

impl DevnetNode {
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.listen)
    }
}

/// A devnet directory, created or found.
#[derive(Debug, Clone)]
pub struct Devnet {
    pub dir: PathBuf,
    pub nodes: Vec<DevnetNode>,
    /// True when the directory was made just now.
    pub created: bool,
    /// Made with `--insecure`: plain text, no authentication.
    pub insecure: bool,
}

impl Devnet {
    pub fn client_config(&self) -> PathBuf {
        self.dir.join("client.toml")
    }

    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.toml")
    }

    /// The first listen port: the block `base..base+N` holds the nodes.
    pub fn base_port(&self) -> u16 {
        port_of(&self.nodes[0].listen).unwrap_or(0)
    }

    /// Ports that something else already listens on, with what they are for.
    pub fn busy_ports(&self) -> Vec<String> {
        busy_ports(&self.nodes)
    }
}

/// Ports of `nodes` that something else already listens on, with what they are for.
pub fn busy_ports(nodes: &[DevnetNode]) -> Vec<String> {
    let mut busy = Vec::new();
    for node in nodes {
        for (what, address) in [("listen", Some(&node.listen)), ("metrics", node.metrics.as_ref())] {
            if let Some(address) = address {
                if TcpListener::bind(address.as_str()).is_err() {
                    busy.push(format!("{address} ({what} of node {})", node.id));
                }
            }
        }
    }
    busy
}

fn port_of(address: &str) -> Option<u16> {
    address.rsplit_once(':').and_then(|(_, port)| port.parse().ok())
}

/// The devnet already in `dir`, if there is one.
pub fn find(dir: &Path) -> Result<Option<Devnet>, DevnetError> {
    if dir.join("genesis.toml").exists() {
        return open(dir).map(Some);
    }
    if dir.join("keys").exists() {
        return Err(DevnetError::Incomplete { dir: dir.to_path_buf() });
    }
    Ok(None)
}

/// The nodes a new devnet of `count` insurers in `dir` would have, ports from `base_port`.
pub fn layout(dir: &Path, count: usize, base_port: u16, insecure: bool) -> Vec<DevnetNode> {
    assert!((NODES_MIN..=NODES_MAX).contains(&count), "the caller checks the node count");
    INSURERS[..count]
        .iter()
        .enumerate()
        .map(|(index, insurer)| {
            let offset = u16::try_from(index).expect("at most NODES_MAX nodes");
            DevnetNode {
                id: insurer.id.to_string(),
                listen: format!("127.0.0.1:{}", base_port + offset),
                metrics: Some(format!("127.0.0.1:{}", base_port + METRICS_PORT_OFFSET + offset)),
                config: dir.join("nodes").join(format!("{}.toml", insurer.id)),
                log: dir.join("logs").join(format!("{}.log", insurer.id)),
                scheme: if insecure { "http" } else { "https" },
            }
        })
        .collect()
}

fn open(dir: &Path) -> Result<Devnet, DevnetError> {
    let genesis_path = dir.join("genesis.toml");
    let text = std::fs::read_to_string(&genesis_path).map_err(io(&genesis_path))?;
    let genesis: GenesisFile = toml::from_str(&text)
        .map_err(|error| DevnetError::Malformed { path: genesis_path.clone(), problem: error.message().to_string() })?;
    let mut nodes = Vec::new();
    let mut insecure = false;
    for insurer in &genesis.insurers {
        let config = dir.join("nodes").join(format!("{}.toml", insurer.id));
        let text = std::fs::read_to_string(&config).map_err(io(&config))?;
        let node: NodeConfig =
            toml::from_str(&text).map_err(|error| DevnetError::Malformed { path: config.clone(), problem: error.message().to_string() })?;
        insecure = node.peers.iter().any(|peer| peer.address.starts_with("http://"));
        nodes.push(DevnetNode {
            id: insurer.id.clone(),
            listen: node.listen,
            metrics: node.metrics_listen,
            config,
            log: dir.join("logs").join(format!("{}.log", insurer.id)),
            scheme: if insecure { "http" } else { "https" },
        });
    }
    Ok(Devnet { dir: dir.to_path_buf(), nodes, created: false, insecure })
}

/// Generates keys, genesis, node configs and the client config of a new devnet.
///
/// Unless `insecure`, it also writes `tls/`: each identity's certificate and key in PEM, and
/// `tls/nodes.crt` with every node's certificate, for standard gRPC tools (`grpcurl`).
pub fn create(dir: &Path, count: usize, base_port: u16, insecure: bool) -> Result<Devnet, DevnetError> {
    let insurers = &INSURERS[..count];
    let keys = dir.join("keys");
    let tls = dir.join("tls");
    let mut node_certificates = String::new();
    let mut member = |id: &str, name: &str, node: bool| -> Result<MemberFile, DevnetError> {
        let signing = keyfile::generate();
        keyfile::write_new(&keys.join(format!("{id}.key")), &signing)?;
        if !insecure {
            write_tls(&tls, id, &signing)?;
        }
        let node_key = if node {
            let node_key = keyfile::generate();
            keyfile::write_new(&keys.join(format!("node-{id}.key")), &node_key)?;
            if !insecure {
                node_certificates.push_str(write_tls(&tls, &format!("node-{id}"), &node_key)?.certificate_pem());
            }
            Some(keyfile::public_hex(&node_key))
        } else {
            None
        };
        Ok(MemberFile { id: id.to_string(), name: name.to_string(), public_key: keyfile::public_hex(&signing), node_key })
    };
    let mut members = Vec::new();
    for insurer in insurers {
        members.push(member(insurer.id, insurer.name, true)?);
    }
    let regulator = member(REGULATOR.0, REGULATOR.1, false)?;
    let ministry = member(MINISTRY.0, MINISTRY.1, false)?;
    if !insecure {
        write(&tls.join("nodes.crt"), &node_certificates)?;
    }
    let key = |group: &str, weights: Vec<u32>| KeyFile {
        key_group: group.to_string(),
        valid_from: "2023-01-01".to_string(),
        shares: insurers.iter().map(|insurer| insurer.id.to_string()).zip(shares(&weights)).collect(),
    };
    let ledger_id = new_ledger_id();
    let genesis = GenesisFile {
        ledger_id: ledger_id.clone(),
        fund: FUND.to_string(),
        ministry,
        insurers: members,
        regulators: vec![regulator],
        sectors: SECTORS
            .iter()
            .map(|(id, name, group, earmark)| SectorFile {
                id: id.to_string(),
                name: name.to_string(),
                key_group: group.to_string(),
                earmark: earmark.to_string(),
            })
            .collect(),
        keys: vec![
            key("somatic", insurers.iter().map(|insurer| insurer.somatic).collect()),
            key("ggz", insurers.iter().map(|insurer| insurer.ggz).collect()),
        ],
    };
    genesis.build().map_err(|error| DevnetError::Malformed { path: dir.join("genesis.toml"), problem: error.to_string() })?;

    let nodes = layout(dir, count, base_port, insecure);
    for node in &nodes {
        let config = NodeConfig {
            id: node.id.clone(),
            key_file: PathBuf::from(format!("../keys/node-{}.key", node.id)),
            genesis: PathBuf::from("../genesis.toml"),
            data_dir: PathBuf::from(format!("../data/{}", node.id)),
            listen: node.listen.clone(),
            metrics_listen: node.metrics.clone(),
            log_format: "human".to_string(),
            peers: nodes.iter().filter(|peer| peer.id != node.id).map(|peer| Peer { id: peer.id.clone(), address: peer.url() }).collect(),
            limits: Default::default(),
        };
        let text = format!(
            "# Node {} of the devnet in {}; written by 'fairshare devnet'. Paths are relative to this file.\n{}",
            node.id,
            dir.display(),
            toml::to_string(&config).expect("node configs serialise")
        );
        write(&node.config, &text)?;
    }

    let mut identities: Vec<Identity> = insurers
        .iter()
        .map(|insurer| Identity { id: insurer.id.to_string(), key_file: PathBuf::from(format!("keys/{}.key", insurer.id)) })
        .collect();
    for (id, _) in [REGULATOR, MINISTRY] {
        identities.push(Identity { id: id.to_string(), key_file: PathBuf::from(format!("keys/{id}.key")) });
    }
    let client = ClientConfigFile {
        ledger_id: Some(ledger_id.clone()),
        nodes: nodes.iter().map(DevnetNode::url).collect(),
        genesis: Some(PathBuf::from("genesis.toml")),
        insecure,
        default_identity: Some(insurers[0].id.to_string()),
        identities,
        treasury: None,
    };
    write(
        &dir.join("client.toml"),
        &format!(
            "# Client config of the devnet; written by 'fairshare devnet'. Use it with\n#   fairshare --config {} status\n{}",
            dir.join("client.toml").display(),
            toml::to_string(&client).expect("client configs serialise")
        ),
    )?;
    // Genesis last: its presence marks a complete devnet directory.
    write(
        &dir.join("genesis.toml"),
        &format!(
            "# Genesis of the devnet ledger '{ledger_id}'; written by 'fairshare devnet'. Illustrative names and shares.\n{}",
            toml::to_string(&genesis).expect("genesis serialises")
        ),
    )?;
    Ok(Devnet { dir: dir.to_path_buf(), nodes, created: true, insecure })
}

/// Writes `DIR/NAME.crt` and `DIR/NAME.key` (mode 0600): the TLS identity of `key`, the
/// same certificate the CLI and the nodes present.
fn write_tls(dir: &Path, name: &str, key: &ed25519_dalek::SigningKey) -> Result<fairshare_api::tls::Identity, DevnetError> {
    let identity = fairshare_api::tls::Identity::new(key)
        .map_err(|error| DevnetError::Malformed { path: dir.join(format!("{name}.crt")), problem: error.to_string() })?;
    write(&dir.join(format!("{name}.crt")), identity.certificate_pem())?;
    let key_path = dir.join(format!("{name}.key"));
    write(&key_path, identity.private_key_pem())?;
    std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(io(&key_path))?;
    Ok(identity)
}

fn write(path: &Path, text: &str) -> Result<(), DevnetError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_exactly_one_for_every_size() {
        assert_eq!(shares(&[2900, 2600, 2400, 2100]), ["0.2900", "0.2600", "0.2400", "0.2100"]);
        for count in NODES_MIN..=NODES_MAX {
            for weights in [
                INSURERS[..count].iter().map(|insurer| insurer.somatic).collect::<Vec<_>>(),
                INSURERS[..count].iter().map(|insurer| insurer.ggz).collect(),
            ] {
                let parts = shares(&weights);
                let total: rust_decimal::Decimal = parts.iter().map(|share| share.parse::<rust_decimal::Decimal>().unwrap()).sum();
                assert_eq!(total, rust_decimal::Decimal::ONE, "{count} insurers: {parts:?}");
            }
        }
    }

    #[test]
    fn a_devnet_is_created_once_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find(dir.path()).unwrap().is_none());
        let created = create(dir.path(), 5, 17101, false).unwrap();
        assert!(created.created);
        assert_eq!(created.nodes.len(), 5);
        assert_eq!(created.nodes[1].listen, "127.0.0.1:17102");
        assert_eq!(created.nodes[1].metrics.as_deref(), Some("127.0.0.1:17202"));
        let node = fairshare_node::config::load(&created.nodes[0].config).unwrap();
        assert_eq!(node.genesis.insurers.len(), 5);
        assert_eq!(node.config.peers.len(), 4);
        let client = crate::config::ClientConfig::load(&created.client_config()).unwrap();
        for identity in ["zk", "dsw", "nza", "vws"] {
            let (_, key_file) = client.identity(Some(identity)).unwrap();
            keyfile::read(&key_file).unwrap();
        }
        let found = find(dir.path()).unwrap().unwrap();
        assert!(!found.created);
        assert_eq!(found.nodes, created.nodes, "a second run reuses what the first made");
        assert_eq!(found.base_port(), 17101);
        let again = fairshare_node::config::load(&found.nodes[0].config).unwrap();
        assert_eq!(again.genesis.ledger_id, node.genesis.ledger_id, "a second run keeps the ledger id");
        assert!(!found.insecure && found.nodes[0].url().starts_with("https://"), "mutual TLS unless asked otherwise");
        assert_eq!(client.genesis_path(), Some(dir.path().join("genesis.toml")), "the client trusts the genesis node keys");
        // Standard tools get PEM files: the certificate pinned for a node is the one it presents.
        let pinned = std::fs::read_to_string(dir.path().join("tls/nodes.crt")).unwrap();
        let presented = fairshare_api::tls::Identity::new(&node.node_key).unwrap();
        assert!(pinned.contains(presented.certificate_pem()), "tls/nodes.crt holds node {}'s certificate", node.config.id);
        assert!(dir.path().join("tls/nza.key").exists() && dir.path().join("tls/nza.crt").exists());
    }

    #[test]
    fn an_insecure_devnet_says_so_in_its_urls_and_is_found_again_as_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let created = create(dir.path(), 4, 17101, true).unwrap();
        assert!(created.nodes.iter().all(|node| node.url().starts_with("http://")));
        assert!(!dir.path().join("tls").exists(), "no certificates for a plain-text devnet");
        let found = find(dir.path()).unwrap().unwrap();
        assert!(found.insecure);
        assert_eq!(found.nodes, created.nodes);
        assert!(crate::config::ClientConfig::load(&created.client_config()).unwrap().file.insecure);
    }

    #[test]
    fn each_devnet_is_its_own_ledger_and_refuses_the_others_transactions_as_another_ledger() {
        use fairshare_protocol::envelope::{open, seal};
        use fairshare_protocol::pb;
        let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = create(first_dir.path(), 4, 17101, true).unwrap();
        let second = create(second_dir.path(), 4, 17101, false).unwrap();
        let genesis_of = |devnet: &Devnet| fairshare_node::config::load(&devnet.nodes[0].config).unwrap().genesis;
        let (first_genesis, second_genesis) = (genesis_of(&first), genesis_of(&second));
        assert!(first_genesis.ledger_id.starts_with("iza-devnet-"), "{}", first_genesis.ledger_id);
        assert_ne!(first_genesis.ledger_id, second_genesis.ledger_id);
        let client = crate::config::ClientConfig::load(&second.client_config()).unwrap();
        assert_eq!(client.file.ledger_id.as_deref(), Some(second_genesis.ledger_id.as_str()), "the client signs for its own devnet");

        // zk of the second devnet signs for its ledger; the first devnet's nodes refuse it as another ledger's.
        let (_, key_file) = client.identity(Some("zk")).unwrap();
        let body = pb::Transaction {
            ledger_id: second_genesis.ledger_id.clone(),
            nonce: 1,
            kind: Some(pb::transaction::Kind::PartyRegistered(pb::PartyRegistered {
                party: "agb:12345678".into(),
                kind: pb::PartyKind::Provider as i32,
                name: "Test".into(),
                iban: String::new(),
            })),
        };
        let envelope = seal(&body, "zk", &keyfile::read(&key_file).unwrap());
        assert!(open(&envelope, &second_genesis).is_ok(), "its own ledger accepts it");
        let refused = open(&envelope, &first_genesis).unwrap_err();
        assert_eq!(refused.code, fairshare_protocol::ReasonCode::WrongLedger);
        assert!(refused.message.contains(&second_genesis.ledger_id) && refused.message.contains(&first_genesis.ledger_id), "{refused}");
    }
}
