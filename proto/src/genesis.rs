//! Genesis: the identities, roles, sectors, initial keys and fund of one ledger.
//!
//! Written by hand as TOML ([`GenesisFile`], see `config/genesis.example.toml`), checked
//! and turned into [`Genesis`]. Its canonical form is the protobuf [`pb::Genesis`]; the
//! SHA-256 of that encoding is the genesis hash every node compares with its peers and
//! its data dir, and that an auditor starts from. SPEC.md section 6 is the normative
//! definition of the TOML form, the checks, the canonical form and the hash (vectors:
//! `spec/vectors/genesis.toml`, `genesis.json`).

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::amount::{Amount, Ratio};
use crate::date::Date;
use crate::ids::check_slug;
use crate::pb;

/// What a signer is allowed to be. The authorisation table in `rules` is written in these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// An insurer's treasury / assessment key; the id is the insurer.
    Insurer(String),
    /// An insurer's node key: signs checkpoints only.
    Node(String),
    Regulator(String),
    Ministry(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub signing_key: VerifyingKey,
    pub node_key: Option<VerifyingKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorDefinition {
    pub id: String,
    pub name: String,
    pub key_group: String,
    pub earmark: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialKey {
    pub key_group: String,
    pub valid_from: Date,
    pub shares: BTreeMap<String, Ratio>,
}

/// A checked genesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Genesis {
    pub ledger_id: String,
    /// Sorted by id; node order for quorum counting and ties.
    pub insurers: Vec<Member>,
    pub regulators: Vec<Member>,
    pub ministry: Member,
    pub sectors: Vec<SectorDefinition>,
    pub keys: Vec<InitialKey>,
    pub fund: Amount,
    signers: BTreeMap<String, (Role, VerifyingKey)>,
    canonical: pb::Genesis,
    hash: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("genesis: {field}: {problem}")]
pub struct GenesisError {
    pub field: String,
    pub problem: String,
}

fn error(field: impl Into<String>, problem: impl Into<String>) -> GenesisError {
    GenesisError { field: field.into(), problem: problem.into() }
}

// ------------------------------------------------------------------ the TOML form

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    pub ledger_id: String,
    /// The fund at genesis, euros, e.g. "1960000000.00".
    pub fund: String,
    pub ministry: MemberFile,
    pub insurers: Vec<MemberFile>,
    #[serde(default)]
    pub regulators: Vec<MemberFile>,
    #[serde(default)]
    pub sectors: Vec<SectorFile>,
    pub keys: Vec<KeyFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    pub id: String,
    pub name: String,
    /// ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// Insurers only: the public key of their node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorFile {
    pub id: String,
    pub name: String,
    #[serde(default = "default_key_group")]
    pub key_group: String,
    #[serde(default = "zero_amount")]
    pub earmark: String,
}

fn default_key_group() -> String {
    DEFAULT_KEY_GROUP.to_string()
}

fn zero_amount() -> String {
    "0.00".to_string()
}

/// The key group every sector uses unless genesis says otherwise.
pub const DEFAULT_KEY_GROUP: &str = "national";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    #[serde(default = "default_key_group")]
    pub key_group: String,
    pub valid_from: String,
    /// insurer id → share, exact decimals summing to 1.
    pub shares: BTreeMap<String, String>,
}

fn parse_key(text: &str, field: &str) -> Result<VerifyingKey, GenesisError> {
    let bytes = hex::decode(text.trim()).map_err(|_| error(field, "is not hex"))?;
    check_public_key(&bytes).map_err(|problem| error(field, problem))
}

/// What makes 32 bytes an acceptable ed25519 public key, for genesis and for keys that come
/// later on the ledger (read identities): a valid point without a small-order component.
/// Signatures are checked with the cofactored equation (crate::signature), under which a
/// key with a small-order component would let others sign; no key generator makes one.
pub fn check_public_key(bytes: &[u8]) -> Result<VerifyingKey, &'static str> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "must be 32 bytes (64 hex digits)")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "is not a valid ed25519 public key")?;
    let point = key.to_edwards();
    if point.is_small_order() || !point.is_torsion_free() {
        return Err("is a weak ed25519 public key (it has a small-order component); generate a new key pair");
    }
    Ok(key)
}

impl Genesis {
    /// Whether `key` is any key genesis names (a signing or node key of anyone).
    pub fn names_key(&self, key: &VerifyingKey) -> bool {
        self.signers.values().any(|(_, known)| known == key)
    }
}

impl GenesisFile {
    /// Checks every field and builds the genesis; the error names the field.
    pub fn build(&self) -> Result<Genesis, GenesisError> {
        check_slug(&self.ledger_id, "ledger_id").map_err(|rejection| error("ledger_id", rejection.message))?;
        let fund: Amount = self.fund.parse().map_err(|rejection: crate::Rejection| error("fund", rejection.message))?;
        if fund.is_negative() {
            return Err(error("fund", "must not be negative"));
        }
        let member = |file: &MemberFile, field: &str, with_node: bool| -> Result<Member, GenesisError> {
            check_slug(&file.id, "id").map_err(|rejection| error(format!("{field}.id"), rejection.message))?;
            if file.id.contains(':') {
                return Err(error(format!("{field}.id"), "must not contain ':'"));
            }
            let signing_key = parse_key(&file.public_key, &format!("{field}.public_key"))?;
            let node_key = match (&file.node_key, with_node) {
                (Some(key), true) => Some(parse_key(key, &format!("{field}.node_key"))?),
                (None, true) => return Err(error(format!("{field}.node_key"), "is required for an insurer")),
                (Some(_), false) => return Err(error(format!("{field}.node_key"), "only insurers run nodes")),
                (None, false) => None,
            };
            Ok(Member { id: file.id.clone(), name: file.name.clone(), signing_key, node_key })
        };
        let ministry = member(&self.ministry, "ministry", false)?;
        let mut insurers = Vec::new();
        for (index, file) in self.insurers.iter().enumerate() {
            insurers.push(member(file, &format!("insurers[{index}]"), true)?);
        }
        let mut regulators = Vec::new();
        for (index, file) in self.regulators.iter().enumerate() {
            regulators.push(member(file, &format!("regulators[{index}]"), false)?);
        }
        if insurers.len() < 2 {
            return Err(error("insurers", "a ledger needs at least two insurers (two assessors per plan)"));
        }
        insurers.sort_by(|left, right| left.id.cmp(&right.id));
        regulators.sort_by(|left, right| left.id.cmp(&right.id));

        let mut signers = BTreeMap::new();
        let mut add = |id: String, role: Role, key: VerifyingKey| -> Result<(), GenesisError> {
            if signers.insert(id.clone(), (role, key)).is_some() {
                return Err(error("ids", format!("'{id}' is used twice; every id must be unique")));
            }
            Ok(())
        };
        add(ministry.id.clone(), Role::Ministry(ministry.id.clone()), ministry.signing_key)?;
        for insurer in &insurers {
            add(insurer.id.clone(), Role::Insurer(insurer.id.clone()), insurer.signing_key)?;
            let node_key = insurer.node_key.expect("insurers have node keys");
            add(node_signer(&insurer.id), Role::Node(insurer.id.clone()), node_key)?;
        }
        for regulator in &regulators {
            add(regulator.id.clone(), Role::Regulator(regulator.id.clone()), regulator.signing_key)?;
        }

        let mut sectors: Vec<SectorDefinition> = Vec::new();
        for (index, file) in self.sectors.iter().enumerate() {
            let field = format!("sectors[{index}]");
            check_slug(&file.id, "id").map_err(|rejection| error(format!("{field}.id"), rejection.message))?;
            check_slug(&file.key_group, "key_group").map_err(|rejection| error(format!("{field}.key_group"), rejection.message))?;
            let earmark: Amount =
                file.earmark.parse().map_err(|rejection: crate::Rejection| error(format!("{field}.earmark"), rejection.message))?;
            if earmark.is_negative() {
                return Err(error(format!("{field}.earmark"), "must not be negative"));
            }
            if sectors.iter().any(|sector| sector.id == file.id) {
                return Err(error(format!("{field}.id"), format!("sector '{}' appears twice", file.id)));
            }
            sectors.push(SectorDefinition { id: file.id.clone(), name: file.name.clone(), key_group: file.key_group.clone(), earmark });
        }
        if sectors.is_empty() {
            sectors.push(SectorDefinition {
                id: "all".into(),
                name: "All care".into(),
                key_group: DEFAULT_KEY_GROUP.into(),
                earmark: Amount::ZERO,
            });
        }
        sectors.sort_by(|left, right| left.id.cmp(&right.id));

        let mut keys: Vec<InitialKey> = Vec::new();
        for (index, file) in self.keys.iter().enumerate() {
            let field = format!("keys[{index}]");
            let valid_from =
                Date::parse(&file.valid_from, "valid_from").map_err(|rejection| error(format!("{field}.valid_from"), rejection.message))?;
            let mut shares = BTreeMap::new();
            for (insurer, share) in &file.shares {
                if !insurers.iter().any(|member| &member.id == insurer) {
                    return Err(error(format!("{field}.shares"), format!("'{insurer}' is not an insurer of genesis")));
                }
                let share = Ratio::parse(share, "share", pb::ReasonCode::InvalidShare)
                    .map_err(|rejection| error(format!("{field}.shares.{insurer}"), rejection.message))?;
                shares.insert(insurer.clone(), share);
            }
            crate::distribution_key::check_shares(&shares).map_err(|rejection| error(format!("{field}.shares"), rejection.message))?;
            if keys.iter().any(|key| key.key_group == file.key_group) {
                return Err(error(
                    format!("{field}.key_group"),
                    "one initial key per key group; later versions are proposed on the ledger",
                ));
            }
            keys.push(InitialKey { key_group: file.key_group.clone(), valid_from, shares });
        }
        for sector in &sectors {
            if !keys.iter().any(|key| key.key_group == sector.key_group) {
                return Err(error(
                    "keys",
                    format!("sector '{}' uses key group '{}', which has no initial key", sector.id, sector.key_group),
                ));
            }
        }
        keys.sort_by(|left, right| left.key_group.cmp(&right.key_group));

        let canonical = pb::Genesis {
            ledger_id: self.ledger_id.clone(),
            insurers: insurers.iter().map(member_to_pb).collect(),
            regulators: regulators.iter().map(member_to_pb).collect(),
            ministry: Some(member_to_pb(&ministry)),
            sectors: sectors
                .iter()
                .map(|sector| pb::Sector {
                    id: sector.id.clone(),
                    name: sector.name.clone(),
                    key_group: sector.key_group.clone(),
                    earmark_micros: sector.earmark.micros(),
                })
                .collect(),
            keys: keys
                .iter()
                .map(|key| pb::KeyProposed {
                    key_group: key.key_group.clone(),
                    version: 1,
                    valid_from: key.valid_from.to_string(),
                    shares: key
                        .shares
                        .iter()
                        .map(|(insurer, share)| pb::KeyShare { insurer: insurer.clone(), share: share.to_string() })
                        .collect(),
                })
                .collect(),
            fund_micros: fund.micros(),
        };
        let hash: [u8; 32] = Sha256::digest(canonical.encode_to_vec()).into();
        Ok(Genesis { ledger_id: self.ledger_id.clone(), insurers, regulators, ministry, sectors, keys, fund, signers, canonical, hash })
    }
}

fn member_to_pb(member: &Member) -> pb::Member {
    pb::Member {
        id: member.id.clone(),
        name: member.name.clone(),
        signing_key: member.signing_key.to_bytes().to_vec(),
        node_key: member.node_key.map(|key| key.to_bytes().to_vec()).unwrap_or_default(),
    }
}

/// The key id a node signs checkpoints with: "node:zk".
pub fn node_signer(insurer: &str) -> String {
    format!("node:{insurer}")
}

impl Genesis {
    /// From the canonical protobuf form (an audit export carries it).
    pub fn from_pb(canonical: &pb::Genesis) -> Result<Genesis, GenesisError> {
        let member = |member: &pb::Member| MemberFile {
            id: member.id.clone(),
            name: member.name.clone(),
            public_key: hex::encode(&member.signing_key),
            node_key: (!member.node_key.is_empty()).then(|| hex::encode(&member.node_key)),
        };
        let file = GenesisFile {
            ledger_id: canonical.ledger_id.clone(),
            fund: Amount::from_micros(canonical.fund_micros).map_err(|rejection| error("fund", rejection.message))?.to_string(),
            ministry: member(canonical.ministry.as_ref().ok_or_else(|| error("ministry", "is missing"))?),
            insurers: canonical.insurers.iter().map(member).collect(),
            regulators: canonical.regulators.iter().map(member).collect(),
            sectors: canonical
                .sectors
                .iter()
                .map(|sector| {
                    // Whole cents, as the fund: a sub-cent earmark is named, not rounded away.
                    let earmark = Amount::from_micros(sector.earmark_micros)
                        .map_err(|rejection| error(format!("sector {} earmark", sector.id), rejection.message))?;
                    Ok(SectorFile {
                        id: sector.id.clone(),
                        name: sector.name.clone(),
                        key_group: sector.key_group.clone(),
                        earmark: earmark.to_string(),
                    })
                })
                .collect::<Result<_, GenesisError>>()?,
            keys: canonical
                .keys
                .iter()
                .map(|key| KeyFile {
                    key_group: key.key_group.clone(),
                    valid_from: key.valid_from.clone(),
                    shares: key.shares.iter().map(|share| (share.insurer.clone(), share.share.clone())).collect(),
                })
                .collect(),
        };
        let genesis = file.build()?;
        if genesis.canonical != *canonical {
            return Err(error("genesis", "is not in canonical form (sorted ids, one key per group)"));
        }
        Ok(genesis)
    }

    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    pub fn canonical(&self) -> &pb::Genesis {
        &self.canonical
    }

    /// The role and public key behind a key id, if genesis knows it.
    pub fn signer(&self, key_id: &str) -> Option<&(Role, VerifyingKey)> {
        self.signers.get(key_id)
    }

    pub fn is_insurer(&self, id: &str) -> bool {
        self.insurers.iter().any(|insurer| insurer.id == id)
    }

    pub fn sector(&self, id: &str) -> Option<&SectorDefinition> {
        self.sectors.iter().find(|sector| sector.id == id)
    }

    /// Certified means signed by more than two thirds of the insurers' nodes.
    pub fn quorum(&self) -> usize {
        self.insurers.len() * 2 / 3 + 1
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use crate::testing::{genesis_file, test_key};

    #[test]
    fn a_canonical_genesis_with_a_sub_cent_earmark_is_refused_by_name() {
        let genesis = genesis_file("100.00").build().unwrap();
        assert_eq!(super::Genesis::from_pb(genesis.canonical()).unwrap().hash(), genesis.hash(), "round trip");
        let mut canonical = genesis.canonical().clone();
        let sector = canonical.sectors.first_mut().expect("a sector");
        sector.earmark_micros += 1;
        let error = super::Genesis::from_pb(&canonical).expect_err("a sub-cent earmark").to_string();
        assert!(error.contains("earmark") && error.contains("more than two decimals"), "{error}");
    }

    #[test]
    fn weak_keys_are_refused_by_name() {
        assert!(genesis_file("100.00").build().is_ok());
        let honest = test_key("cz").verifying_key().to_edwards();
        // The identity (small order), a point of order 8, and an honest key plus one.
        for weak in [EIGHT_TORSION[0], EIGHT_TORSION[1], honest + EIGHT_TORSION[4]] {
            let mut file = genesis_file("100.00");
            file.insurers[0].public_key = hex::encode(weak.compress().to_bytes());
            let error = file.build().expect_err("a weak key").to_string();
            assert!(error.contains("public_key"), "names the field: {error}");
            assert!(error.contains("weak ed25519 public key"), "{error}");
        }
    }
}
