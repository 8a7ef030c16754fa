//! The test vectors of `SPEC.md`, written into a directory:
//!
//! ```text
//! cargo run -p fairshare-client --example spec_vectors -- spec/vectors
//! ```
//!
//! Everything is deterministic (keys from fixed seeds, fixed dates, deterministic ed25519
//! signing), so the same code writes the same bytes; `client/tests/spec_vectors.rs` runs
//! [`write_all`] into a temporary directory and compares every file with `spec/vectors/`
//! byte for byte, so the vectors and the code cannot drift apart. Every expectation a
//! vector states (a signature accepted or refused, an encoding canonical or not, a proof
//! that verifies) is asserted here against the protocol crate while writing it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use fairshare_client::audit::file::{self, Export};
use fairshare_client::audit::proof::{self, CertifiedCheckpoint, ConsistencyProof, InclusionProof, ProofFile};
use fairshare_client::audit::report::SignedStatement;
use fairshare_client::audit::verify::{verify, Options};
use fairshare_protocol::digest_map::{DigestedMap, BUCKET_BITS};
use fairshare_protocol::envelope::{decode_block, envelope_leaf_hash, open_all, seal, transaction_id};
use fairshare_protocol::genesis::{check_public_key, node_signer, GenesisFile, Role};
use fairshare_protocol::ledger::{Head, Verdict};
use fairshare_protocol::merkle::{self, Hash, MerkleLog};
use fairshare_protocol::pb::audit::{ExportTrailer, ExportedBlock};
use fairshare_protocol::pb::{self, transaction::Kind};
use fairshare_protocol::testing::test_key;
use fairshare_protocol::{canonical, Genesis, Ledger, LedgerState};
use prost::Message;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

#[allow(dead_code)] // the test includes this file as a module and calls `write_all`
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "spec/vectors".to_string());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    let written = write_all(dir).unwrap_or_else(|error| panic!("cannot write the vectors into {}: {error}", dir.display()));
    for name in written {
        println!("{}", dir.join(name).display());
    }
}

/// Writes every vector file into `dir` (which must exist) and returns their names.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add_json = |name: &str, value: Value| files.push((name.to_string(), pretty(&value)));
    add_json("signatures.json", signatures());
    add_json("merkle.json", merkle_vectors());
    let (genesis, genesis_json) = genesis_vectors();
    add_json("genesis.json", genesis_json);
    add_json("transactions.json", transactions(&genesis));
    let built = build_export(&genesis);
    add_json("state-digests.json", built.state_digests);
    add_json("export.json", built.description);
    add_json("export-report.json", built.report);
    // As `fairshare audit prove --out` and `audit consistency --out` write them.
    files.push(("inclusion-proof.json".to_string(), format!("{}\n", built.inclusion_proof.to_json()).into_bytes()));
    files.push(("consistency-proof.json".to_string(), format!("{}\n", built.consistency_proof.to_json()).into_bytes()));
    files.push(("genesis.toml".to_string(), genesis_toml().into_bytes()));
    files.push(("genesis-minimal.toml".to_string(), minimal_genesis_toml().into_bytes()));
    files.push((EXPORT_FILE.to_string(), built.file));
    let mut names = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(&name), bytes)?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

const EXPORT_FILE: &str = "export.fairshare";

fn pretty(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    text.into_bytes()
}

fn hex32(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

// ------------------------------------------------------------------------ signatures

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hasher = Sha512::new();
    hasher.update(r);
    hasher.update(a);
    hasher.update(message);
    Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
}

/// What a strict, cofactorless RFC 8032 verifier computes (OpenSSL's `ED25519_verify`,
/// BoringSSL, so Python's `cryptography`): `s < ℓ`, `A` decodes, and the encoding of
/// `[s]B − [k]A` equals the bytes of `R`.
fn cofactorless_accepts(message: &[u8], signature: &[u8; 64], key: &[u8; 32]) -> bool {
    let r: [u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = signature[32..].try_into().expect("32 bytes");
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else { return false };
    let Some(a) = CompressedEdwardsY(*key).decompress() else { return false };
    let k = challenge(&r, key, message);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&-k, &a, &s).compress().to_bytes() == r
}

fn ours_accepts(message: &[u8], signature: &[u8; 64], key: &[u8; 32]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(key) else { return false };
    fairshare_protocol::signature::verify(message, &Signature::from_bytes(signature), &key).is_ok()
}

/// A signature with the given `R` bytes whose discrete log, up to a small-order point, is
/// `r`: `s = r + k·a`. Only the key's holder can make one.
fn crafted(key: &SigningKey, message: &[u8], r_bytes: [u8; 32], r: Scalar) -> [u8; 64] {
    let k = challenge(&r_bytes, key.verifying_key().as_bytes(), message);
    let s = r + k * key.to_scalar();
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r_bytes);
    signature[32..].copy_from_slice(&s.to_bytes());
    signature
}

/// The 32-byte little-endian encoding of `y` (< 2^255) with the sign bit of x.
fn y_encoding(y_plus: u8, plus_p: bool, negative: bool) -> [u8; 32] {
    // p = 2^255 − 19; p + y for y < 19 fits in 255 bits.
    let mut bytes = [0u8; 32];
    if plus_p {
        bytes = [0xff; 32];
        bytes[0] = 0xed;
        bytes[31] = 0x7f;
        bytes[0] += y_plus; // 0xed + y ≤ 0xff for y ≤ 18
    } else {
        bytes[0] = y_plus;
    }
    if negative {
        bytes[31] |= 0x80;
    }
    bytes
}

fn signature_case(name: &str, note: &str, key: &[u8; 32], message: &[u8], signature: &[u8; 64], ours: bool, cofactorless: bool) -> Value {
    assert_eq!(ours_accepts(message, signature, key), ours, "{name}: the ledger's rule");
    assert_eq!(cofactorless_accepts(message, signature, key), cofactorless, "{name}: a strict cofactorless verifier");
    json!({
        "name": name,
        "public_key": hex::encode(key),
        "message": hex::encode(message),
        "signature": hex::encode(signature),
        "valid": ours,
        "valid_cofactorless_strict": cofactorless,
        "note": note,
    })
}

fn signatures() -> Value {
    let mut cases = Vec::new();

    // RFC 8032 §7.1, TEST 1: an anchor outside this project.
    let rfc = SigningKey::from_bytes(
        &hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap(),
    );
    let rfc_signature = rfc.sign(b"").to_bytes();
    assert_eq!(
        hex::encode(rfc_signature),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
    cases.push(signature_case(
        "rfc8032_test_1",
        "RFC 8032 section 7.1 TEST 1 (empty message)",
        rfc.verifying_key().as_bytes(),
        b"",
        &rfc_signature,
        true,
        true,
    ));

    let key = test_key("zk");
    let public = *key.verifying_key().as_bytes();
    let message = b"fairshare signature vector".to_vec();
    let honest = key.sign(&message).to_bytes();
    cases.push(signature_case(
        "honest",
        "RFC 8032 signing by the key of 'zk' (seed SHA-256(\"fairshare test key zk\"))",
        &public,
        &message,
        &honest,
        true,
        true,
    ));

    let mut other = message.clone();
    other.push(b'!');
    cases.push(signature_case("wrong_message", "the honest signature over another message", &public, &other, &honest, false, false));

    // s + ℓ: the same scalar mod ℓ, not canonical.
    let mut high_s = honest;
    let s = Scalar::from_canonical_bytes(honest[32..].try_into().unwrap()).unwrap();
    let ell_bytes = {
        let minus_one = -Scalar::ONE; // ℓ − 1
        let mut bytes = minus_one.to_bytes();
        bytes[0] += 1; // ℓ − 1 ends in 0xec: no carry
        bytes
    };
    let sum = add_le(&s.to_bytes(), &ell_bytes);
    high_s[32..].copy_from_slice(&sum);
    cases.push(signature_case(
        "non_canonical_s",
        "the honest signature with s replaced by s + ℓ: equal mod ℓ, but s must be < ℓ",
        &public,
        &message,
        &high_s,
        false,
        false,
    ));

    let r = Scalar::from(7_777u64);
    let mixed_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress().to_bytes();
    cases.push(signature_case(
        "mixed_order_r",
        "R = [r]B + T with T of order 8, s = r + k·a: holds only with the cofactor (valid by the ledger's rule, refused by strict cofactorless verifiers)",
        &public,
        &message,
        &crafted(&key, &message, mixed_r, r),
        true,
        false,
    ));

    let order_8 = EIGHT_TORSION[1].compress().to_bytes();
    cases.push(signature_case(
        "small_order_r",
        "R a point of order 8 (canonical encoding), s = k·a",
        &public,
        &message,
        &crafted(&key, &message, order_8, Scalar::ZERO),
        true,
        false,
    ));

    let identity = EdwardsPoint::default().compress().to_bytes();
    cases.push(signature_case(
        "identity_r",
        "R the identity, canonical encoding 01 00…00, s = k·a: the cofactorless equation holds too",
        &public,
        &message,
        &crafted(&key, &message, identity, Scalar::ZERO),
        true,
        true,
    ));

    let identity_plus_p = y_encoding(1, true, false);
    cases.push(signature_case(
        "non_canonical_r_y_plus_p",
        "R encoded as y = p + 1 (ee ff…ff 7f), which decodes to the identity; s = k·a. The ledger decodes y mod p and accepts; a verifier that compares R's bytes with a canonical encoding refuses",
        &public,
        &message,
        &crafted(&key, &message, identity_plus_p, Scalar::ZERO),
        true,
        false,
    ));

    let negative_zero = y_encoding(1, false, true);
    cases.push(signature_case(
        "non_canonical_r_negative_zero",
        "R encoded as the identity with the sign bit of x set (01 00…00 80: x = 0 is not negative); s = k·a. Accepted by the ledger, refused by byte comparison",
        &public,
        &message,
        &crafted(&key, &message, negative_zero, Scalar::ZERO),
        true,
        false,
    ));

    let not_on_curve =
        (2u8..).map(|y| y_encoding(y, false, false)).find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none()).unwrap();
    let mut off_curve = honest;
    off_curve[..32].copy_from_slice(&not_on_curve);
    cases.push(signature_case(
        "r_not_on_curve",
        "R's bytes encode no curve point (no x for this y)",
        &public,
        &message,
        &off_curve,
        false,
        false,
    ));

    json!({
        "about": "Ed25519 signatures by the ledger's rule (SPEC.md, Signatures). valid: the ledger's verdict. valid_cofactorless_strict: the verdict of a strict cofactorless RFC 8032 verifier (OpenSSL, BoringSSL, Python cryptography): s < l, A decodes, encode([s]B - [k]A) == R bytes. Where the two differ, the ledger's verdict is the rule.",
        "cases": cases,
        "public_keys": public_keys(),
    })
}

/// Little-endian addition of two 32-byte numbers (no overflow for s + ℓ).
fn add_le(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for index in 0..32 {
        let total = u16::from(left[index]) + u16::from(right[index]) + carry;
        sum[index] = total as u8;
        carry = total >> 8;
    }
    assert_eq!(carry, 0);
    sum
}

/// Which 32-byte strings genesis accepts as a public key.
fn public_keys() -> Vec<Value> {
    let honest = test_key("zk").verifying_key();
    let mut candidates: Vec<(String, [u8; 32])> = vec![
        ("honest key of 'zk'".into(), honest.to_bytes()),
        ("the identity".into(), EdwardsPoint::default().compress().to_bytes()),
        ("a point of order 8".into(), EIGHT_TORSION[1].compress().to_bytes()),
        ("a point of order 2 (y = -1)".into(), EIGHT_TORSION[4].compress().to_bytes()),
        ("the honest key plus a point of order 2 (mixed order)".into(), (honest.to_edwards() + EIGHT_TORSION[4]).compress().to_bytes()),
    ];
    // Every non-canonical encoding: y + p for y in 0..=18, either sign bit, and the sign
    // bit set on x = 0 (y = 1 and y = -1).
    for y in 0u8..=18 {
        for negative in [false, true] {
            candidates.push((
                format!("non-canonical: y = p + {y}{}", if negative { ", sign bit set" } else { "" }),
                y_encoding(y, true, negative),
            ));
        }
    }
    candidates.push(("non-canonical: the identity with the sign bit set".into(), y_encoding(1, false, true)));
    let mut minus_one = EIGHT_TORSION[4].compress().to_bytes();
    minus_one[31] |= 0x80;
    candidates.push(("non-canonical: y = -1 (order 2) with the sign bit set".into(), minus_one));
    candidates
        .into_iter()
        .map(|(name, bytes)| {
            let point = CompressedEdwardsY(bytes).decompress();
            let verdict = check_public_key(&bytes);
            json!({
                "name": name,
                "public_key": hex::encode(bytes),
                "decodes": point.is_some(),
                "canonical_encoding": point.is_some_and(|point| point.compress().to_bytes() == bytes),
                "accepted_in_genesis": verdict.is_ok(),
                "refusal": verdict.err(),
            })
        })
        .collect()
}

// ------------------------------------------------------------------------ Merkle

/// The leaves of the RFC 6962 reference tests (certificate-transparency-go).
const MERKLE_LEAVES: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

fn hashes(list: &[Hash]) -> Vec<String> {
    list.iter().map(|hash| hex32(hash)).collect()
}

fn merkle_vectors() -> Value {
    let data: Vec<Vec<u8>> = MERKLE_LEAVES.iter().map(|leaf| hex::decode(leaf).unwrap()).collect();
    let leaf_hashes: Vec<Hash> = data.iter().map(|bytes| merkle::leaf_hash(bytes)).collect();
    let mut log = MerkleLog::new();
    leaf_hashes.iter().for_each(|leaf| {
        log.append(*leaf);
    });
    let n = leaf_hashes.len() as u64;
    let roots: Vec<Hash> = (0..=n).map(|size| log.root_at(size).unwrap()).collect();
    assert_eq!(roots[0], sha256(b""));
    assert_eq!(hex32(&roots[8]), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", "the RFC 6962 reference root");
    let mut inclusion = Vec::new();
    for size in 1..=n {
        for index in 0..size {
            let proof = log.inclusion_proof(index, size).unwrap();
            assert!(merkle::verify_inclusion(&leaf_hashes[index as usize], index, size, &proof, &roots[size as usize]));
            inclusion.push(json!({"index": index, "size": size, "proof": hashes(&proof)}));
        }
    }
    let mut consistency = Vec::new();
    for new in 1..=n {
        for old in 1..=new {
            let proof = log.consistency_proof(old, new).unwrap();
            assert!(merkle::verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof));
            consistency.push(json!({"old_size": old, "new_size": new, "proof": hashes(&proof)}));
        }
    }
    json!({
        "about": "RFC 6962 / RFC 9162 Merkle tree over SHA-256 (SPEC.md, The Merkle log). leaf_hash = SHA-256(00 || data); node = SHA-256(01 || left || right); roots[size] for size 0..8; every inclusion proof (index < size <= 8) and consistency proof (0 < old <= new <= 8), audit paths leaf to root.",
        "leaves": data.iter().zip(&leaf_hashes).map(|(bytes, hash)| json!({"data": hex::encode(bytes), "leaf_hash": hex32(hash)})).collect::<Vec<_>>(),
        "roots": hashes(&roots),
        "inclusion": inclusion,
        "consistency": consistency,
    })
}

// ------------------------------------------------------------------------ genesis

const INSURERS_IN_FILE_ORDER: [(&str, &str); 4] = [("zk", "Zilveren Kruis"), ("cz", "CZ"), ("vgz", "VGZ"), ("menzis", "Menzis")];

fn key_hex(name: &str) -> String {
    hex::encode(test_key(name).verifying_key().to_bytes())
}

/// A genesis file as people write it: members and sectors out of order, decimals not
/// normalised. Keys are the test keys: seed = SHA-256("fairshare test key " + key id).
fn genesis_toml() -> String {
    let mut text = String::from(
        "# The genesis of the SPEC.md vectors. Keys: seed = SHA-256(\"fairshare test key \" + key id).\n\
         ledger_id = \"iza-spec\"\n\
         fund = \"1960000000\"\n\n",
    );
    text += &format!("[ministry]\nid = \"vws\"\nname = \"Ministerie van VWS\"\npublic_key = \"{}\"\n\n", key_hex("vws"));
    for (id, name) in INSURERS_IN_FILE_ORDER {
        text += &format!(
            "[[insurers]]\nid = \"{id}\"\nname = \"{name}\"\npublic_key = \"{}\"\nnode_key = \"{}\"\n\n",
            key_hex(id),
            key_hex(&node_signer(id))
        );
    }
    text += &format!("[[regulators]]\nid = \"nza\"\nname = \"Nederlandse Zorgautoriteit\"\npublic_key = \"{}\"\n\n", key_hex("nza"));
    for (id, name, group, earmark) in [
        ("wijk", "Wijkverpleging", "somatic", "140000000"),
        ("ggz", "GGZ", "ggz", "160000000.5"),
        ("msz", "MSZ", "somatic", "940000000.00"),
    ] {
        text += &format!("[[sectors]]\nid = \"{id}\"\nname = \"{name}\"\nkey_group = \"{group}\"\nearmark = \"{earmark}\"\n\n");
    }
    text += "[[keys]]\nkey_group = \"somatic\"\nvalid_from = \"2023-01-01\"\n\
             shares = { zk = \"0.4000\", cz = \"0.2537\", vgz = \"0.2463\", menzis = \"0.10\" }\n\n\
             [[keys]]\nkey_group = \"ggz\"\nvalid_from = \"2023-01-01\"\n\
             shares = { zk = \"0.25\", cz = \"0.25\", vgz = \"0.25\", menzis = \"0.25\" }\n";
    text
}

/// The least a genesis file may say: no regulators, no sectors (so the default sector),
/// the default key group, two insurers.
fn minimal_genesis_toml() -> String {
    let mut text = format!(
        "# The smallest genesis: defaults for sectors and key groups. Keys as in genesis.toml.\n\
         ledger_id = \"minimal\"\nfund = \"0\"\n\n[ministry]\nid = \"vws\"\nname = \"VWS\"\npublic_key = \"{}\"\n\n",
        key_hex("vws")
    );
    for id in ["zk", "cz"] {
        text += &format!(
            "[[insurers]]\nid = \"{id}\"\nname = \"{}\"\npublic_key = \"{}\"\nnode_key = \"{}\"\n\n",
            id.to_uppercase(),
            key_hex(id),
            key_hex(&node_signer(id))
        );
    }
    text += "[[keys]]\nvalid_from = \"2026-01-01\"\nshares = { zk = \"0.5\", cz = \"0.5\" }\n";
    text
}

fn member_json(member: &pb::Member) -> Value {
    json!({"id": member.id, "name": member.name, "signing_key": hex::encode(&member.signing_key), "node_key": hex::encode(&member.node_key)})
}

fn genesis_vectors() -> (Genesis, Value) {
    let file: GenesisFile = toml::from_str(&genesis_toml()).expect("the vector genesis parses");
    let genesis = file.build().expect("the vector genesis is valid");
    let canonical = genesis.canonical();
    let encoded = canonical.encode_to_vec();
    assert_eq!(sha256(&encoded), genesis.hash());
    assert_eq!(Genesis::from_pb(canonical).expect("canonical").hash(), genesis.hash());
    let signers: Vec<Value> = {
        let mut ids: Vec<String> = vec![canonical.ministry.as_ref().unwrap().id.clone()];
        for insurer in &canonical.insurers {
            ids.push(insurer.id.clone());
            ids.push(node_signer(&insurer.id));
        }
        ids.extend(canonical.regulators.iter().map(|regulator| regulator.id.clone()));
        ids.sort();
        ids.iter()
            .map(|id| {
                let (role, key) = genesis.signer(id).expect("a signer of genesis");
                json!({"key_id": id, "role": match role {
                    Role::Insurer(_) => "insurer",
                    Role::Node(_) => "node",
                    Role::Regulator(_) => "regulator",
                    Role::Ministry(_) => "ministry",
                }, "public_key": hex::encode(key.as_bytes())})
            })
            .collect()
    };
    let minimal: GenesisFile = toml::from_str(&minimal_genesis_toml()).expect("the minimal genesis parses");
    let minimal = minimal.build().expect("the minimal genesis is valid");
    assert_eq!(minimal.sectors.len(), 1, "the default sector");
    let value = json!({
        "minimal": {
            "source": "genesis-minimal.toml",
            "canonical": hex::encode(minimal.canonical().encode_to_vec()),
            "hash": hex::encode(minimal.hash()),
            "quorum": minimal.quorum(),
        },
        "about": "genesis.toml canonicalised into fairshare.ledger.v1.Genesis (SPEC.md, Genesis); hash = SHA-256(canonical).",
        "source": "genesis.toml",
        "canonical": hex::encode(&encoded),
        "hash": hex::encode(genesis.hash()),
        "quorum": genesis.quorum(),
        "fields": {
            "ledger_id": canonical.ledger_id,
            "insurers": canonical.insurers.iter().map(member_json).collect::<Vec<_>>(),
            "regulators": canonical.regulators.iter().map(member_json).collect::<Vec<_>>(),
            "ministry": member_json(canonical.ministry.as_ref().unwrap()),
            "sectors": canonical.sectors.iter().map(|sector| json!({"id": sector.id, "name": sector.name, "key_group": sector.key_group, "earmark_micros": sector.earmark_micros})).collect::<Vec<_>>(),
            "keys": canonical.keys.iter().map(|key| json!({
                "key_group": key.key_group,
                "version": key.version,
                "valid_from": key.valid_from,
                "shares": key.shares.iter().map(|share| json!({"insurer": share.insurer, "share": share.share})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "fund_micros": canonical.fund_micros,
        },
        "signers": signers,
    });
    (genesis, value)
}

// ------------------------------------------------------------------------ transactions

fn transaction(genesis: &Genesis, nonce: u64, kind: Kind) -> pb::Transaction {
    pb::Transaction { ledger_id: genesis.ledger_id.clone(), nonce, kind: Some(kind) }
}

fn sealed(genesis: &Genesis, signer: &str, nonce: u64, kind: Kind) -> pb::Envelope {
    seal(&transaction(genesis, nonce, kind), signer, &test_key(signer))
}

/// The id's preimage: u64 big-endian length of the signer's UTF-8 bytes ‖ signer ‖ body.
fn id_preimage(envelope: &pb::Envelope) -> Vec<u8> {
    let mut preimage = (envelope.signer.len() as u64).to_be_bytes().to_vec();
    preimage.extend_from_slice(envelope.signer.as_bytes());
    preimage.extend_from_slice(&envelope.body);
    preimage
}

fn envelope_json(name: &str, envelope: &pb::Envelope) -> Value {
    let bytes = envelope.encode_to_vec();
    assert!(is_canonical::<pb::Envelope>(&bytes) && is_canonical::<pb::Transaction>(&envelope.body), "{name}: canonical");
    assert_eq!(sha256(&id_preimage(envelope)), transaction_id(envelope));
    assert_eq!(merkle::leaf_hash(&bytes), envelope_leaf_hash(envelope));
    json!({
        "name": name,
        "envelope": hex::encode(&bytes),
        "body": hex::encode(&envelope.body),
        "signer": envelope.signer,
        "signature": hex::encode(&envelope.signature),
        "id_preimage": hex::encode(id_preimage(envelope)),
        "id": hex::encode(transaction_id(envelope)),
        "leaf_hash": hex32(&merkle::leaf_hash(&bytes)),
    })
}

/// Decoding and re-encoding gives the same bytes (SPEC.md, The canonical encoding rule).
fn is_canonical<M: Message + Default>(bytes: &[u8]) -> bool {
    M::decode(bytes).is_ok_and(|message| message.encode_to_vec() == bytes)
}

/// Protobuf field key.
fn tag(field: u32, wire_type: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    prost::encoding::encode_varint(u64::from(field << 3 | wire_type), &mut bytes);
    bytes
}

fn length_delimited(field: u32, value: &[u8]) -> Vec<u8> {
    let mut bytes = tag(field, 2);
    prost::encoding::encode_varint(value.len() as u64, &mut bytes);
    bytes.extend_from_slice(value);
    bytes
}

fn non_canonical(genesis: &Genesis, name: &str, note: &str, envelope: &[u8]) -> Value {
    let decoded = pb::Envelope::decode(envelope).expect("decodes as an Envelope");
    let canonical_envelope = is_canonical::<pb::Envelope>(envelope);
    let canonical_body = is_canonical::<pb::Transaction>(&decoded.body);
    assert!(!(canonical_envelope && canonical_body), "{name} is not canonical");
    // As a node or an auditor reads it: in a block of its own, exactly these bytes.
    let block = length_delimited(1, envelope);
    let replicated = decode_block(&block).expect("a block of one envelope record");
    let mut opened = open_all(&replicated.block.envelopes, genesis);
    replicated.refuse_non_canonical(&mut opened);
    let refusal = opened.pop().expect("one envelope").expect_err("a non-canonical envelope is refused");
    assert_eq!(refusal.code, pb::ReasonCode::MalformedTransaction, "{name}: {}", refusal.message);
    json!({
        "name": name,
        "note": note,
        "envelope": hex::encode(envelope),
        "envelope_is_canonical": canonical_envelope,
        "body_is_canonical": canonical_body,
        "reencoded_envelope": hex::encode(decoded.encode_to_vec()),
        "signature_valid": ours_accepts(&decoded.body, &decoded.signature.clone().try_into().expect("64 bytes"), test_key(&decoded.signer).verifying_key().as_bytes()),
        "block": hex::encode(&block),
        "verdict": "refused",
        "reason": refusal.code.as_str_name(),
    })
}

fn transactions(genesis: &Genesis) -> Value {
    let intake = sealed(
        genesis,
        "vws",
        7,
        Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-12-31".into(), reason: "budget committed".into() }),
    );
    let examples = vec![
        envelope_json("intake_closed", &intake),
        envelope_json(
            "payment_recorded_two_settlements",
            &sealed(
                genesis,
                "cz",
                1,
                Kind::PaymentRecorded(pb::PaymentRecorded {
                    payment: "pay-2026-001".into(),
                    settlements: vec![
                        pb::Settlement { obligation: "plan-a/m1/1/cz".into(), amount_micros: 1_250_000_000 },
                        pb::Settlement { obligation: "plan-a/m1/2/cz".into(), amount_micros: 10_000 },
                    ],
                    value_date: "2026-03-02".into(),
                    bank_reference: String::new(),
                }),
            ),
        ),
        envelope_json(
            "membership_executed_empty_oneof_member",
            &sealed(genesis, "node:zk", 1, Kind::MembershipExecuted(pb::MembershipExecuted { proposal: String::new() })),
        ),
        envelope_json(
            "checkpoint_signed",
            &sealed(
                genesis,
                "node:vgz",
                3,
                Kind::CheckpointSigned(pb::CheckpointSigned {
                    node: "vgz".into(),
                    checkpoint: Some(pb::Checkpoint {
                        ledger_id: genesis.ledger_id.clone(),
                        size: 3,
                        root: vec![0xaa; 32],
                        state_digest: vec![0xbb; 32],
                    }),
                }),
            ),
        ),
        envelope_json(
            "nonce_zero_omitted",
            &sealed(genesis, "nza", 0, Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-12-31".into(), reason: String::new() })),
        ),
    ];

    let bytes = intake.encode_to_vec();
    let mut unknown_in_envelope = bytes.clone();
    unknown_in_envelope.extend(tag(4, 0));
    unknown_in_envelope.push(1);

    let mut body_with_unknown = intake.body.clone();
    body_with_unknown.extend(tag(100, 0));
    body_with_unknown.push(1);
    let resigned = pb::Envelope {
        signature: test_key("vws").sign(&body_with_unknown).to_bytes().to_vec(),
        body: body_with_unknown,
        signer: "vws".into(),
    };

    let mut reordered = length_delimited(2, intake.signer.as_bytes());
    reordered.extend(length_delimited(1, &intake.body));
    reordered.extend(length_delimited(3, &intake.signature));

    // The body's length as a two-byte varint: [len | 0x80, 0x00].
    assert!(intake.body.len() < 128);
    let mut long_varint = tag(1, 2);
    long_varint.extend([intake.body.len() as u8 | 0x80, 0x00]);
    long_varint.extend(&intake.body);
    long_varint.extend(length_delimited(2, intake.signer.as_bytes()));
    long_varint.extend(length_delimited(3, &intake.signature));

    // A body that writes the default nonce 0: tag 0x10, value 0.
    let zero_nonce =
        transaction(genesis, 0, Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-12-31".into(), reason: String::new() }));
    let mut explicit_default = length_delimited(1, zero_nonce.ledger_id.as_bytes());
    explicit_default.extend(tag(2, 0));
    explicit_default.push(0);
    let kind_bytes = match &zero_nonce.kind {
        Some(Kind::IntakeClosed(intake)) => intake.encode_to_vec(),
        _ => unreachable!(),
    };
    explicit_default.extend(length_delimited(28, &kind_bytes));
    assert_eq!(pb::Transaction::decode(explicit_default.as_slice()).unwrap(), zero_nonce);
    let explicit_default_envelope = pb::Envelope {
        signature: test_key("nza").sign(&explicit_default).to_bytes().to_vec(),
        body: explicit_default,
        signer: "nza".into(),
    };

    let non_canonical = vec![
        non_canonical(
            genesis,
            "unknown_field_in_envelope",
            "the intake_closed envelope with an unknown field 4 (varint 1) appended; its signature still verifies",
            &unknown_in_envelope,
        ),
        non_canonical(
            genesis,
            "unknown_field_in_body",
            "a body with an unknown field 100 (varint 1) appended, signed by its signer: the signature verifies",
            &resigned.encode_to_vec(),
        ),
        non_canonical(genesis, "fields_out_of_order", "the intake_closed envelope with field 2 (signer) before field 1 (body)", &reordered),
        non_canonical(
            genesis,
            "length_not_shortest",
            "the intake_closed envelope with the body's length written as a two-byte varint",
            &long_varint,
        ),
        non_canonical(
            genesis,
            "default_value_written",
            "a body that writes nonce = 0 (10 00), which a canonical encoding omits; signed by its signer",
            &explicit_default_envelope.encode_to_vec(),
        ),
    ];
    json!({
        "about": "Envelopes (SPEC.md, Envelopes and transaction ids). envelope = E, the encoded Envelope; body = B; id = SHA-256(id_preimage), id_preimage = u64be(len(signer)) || signer || B; leaf_hash = SHA-256(00 || E). non_canonical: encodings that decode but are not canonical, refused.",
        "genesis": "genesis.toml",
        "examples": examples,
        "non_canonical": non_canonical,
    })
}

// ------------------------------------------------------------------------ state digests

fn map_json<K: Ord + Clone + Serialize, V: Clone + Serialize>(map: &DigestedMap<K, V>) -> (Value, Hash) {
    let mut entries: Vec<(Hash, Hash, Vec<u8>, Vec<u8>)> = map
        .iter()
        .map(|(key, value)| {
            let key = canonical::encode(key).expect("canonical");
            let value = canonical::encode(value).expect("canonical");
            (sha256(&key), sha256(&value), key, value)
        })
        .collect();
    entries.sort();
    let bucket = |key_hash: &Hash| (usize::from(key_hash[0]) << 4) | (usize::from(key_hash[1]) >> 4);
    let mut buckets: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for (key_hash, value_hash, _, _) in &entries {
        let leaf = buckets.entry(bucket(key_hash)).or_insert_with(|| vec![0x00]);
        leaf.extend_from_slice(key_hash);
        leaf.extend_from_slice(value_hash);
    }
    let root = map.root_from_scratch();
    assert_eq!(root, bucket_tree_root(&buckets), "the bucket tree as SPEC.md defines it");
    let value = json!({
        "entries": entries.iter().map(|(key_hash, value_hash, key, value)| json!({
            "key": hex::encode(key),
            "value": hex::encode(value),
            "key_hash": hex32(key_hash),
            "value_hash": hex32(value_hash),
            "bucket": bucket(key_hash),
        })).collect::<Vec<_>>(),
        "bucket_leaves": buckets.iter().map(|(bucket, preimage)| json!({"bucket": bucket, "leaf": hex32(&sha256(preimage))})).collect::<Vec<_>>(),
        "root": hex32(&root),
    });
    (value, root)
}

/// The root straight from SPEC.md: 4096 leaves, a perfect binary tree.
fn bucket_tree_root(buckets: &BTreeMap<usize, Vec<u8>>) -> Hash {
    let mut level: Vec<Hash> = (0..1usize << BUCKET_BITS)
        .map(|bucket| buckets.get(&bucket).map_or_else(|| sha256(&[0x00]), |preimage| sha256(preimage)))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut preimage = vec![0x01];
                preimage.extend_from_slice(&pair[0]);
                preimage.extend_from_slice(&pair[1]);
                sha256(&preimage)
            })
            .collect();
    }
    level[0]
}

fn state_json(state: &LedgerState, size: u64) -> Value {
    let mut maps = serde_json::Map::new();
    let mut roots: Vec<Hash> = Vec::new();
    macro_rules! maps {
        ($($name:ident),*) => {$(
            let (value, root) = map_json(&state.$name);
            maps.insert(stringify!($name).to_string(), value);
            roots.push(root);
        )*};
    }
    maps!(parties, keys, quick_tests, plans, obligations, payments, external_funding, rejections, attestations, readers, membership);
    let roots: [Hash; 11] = roots.try_into().expect("eleven maps");
    let input = canonical::encode(&(&state.genesis_hash, &state.leaves_digest, roots, &state.fund)).expect("canonical");
    assert_eq!(sha256(&input), state.digest_from_scratch(), "the composition as SPEC.md defines it");
    json!({
        "size": size,
        "genesis_hash": state.genesis_hash,
        "leaves_digest": hex::encode(state.leaves_digest.0),
        "maps_in_order": ["parties", "keys", "quick_tests", "plans", "obligations", "payments", "external_funding", "rejections", "attestations", "readers", "membership"],
        "maps": maps,
        "fund": hex::encode(canonical::encode(&state.fund).expect("canonical")),
        "digest_input": hex::encode(&input),
        "state_digest": hex32(&state.digest_from_scratch()),
    })
}

// ------------------------------------------------------------------------ the export

struct Built {
    inclusion_proof: ProofFile,
    consistency_proof: ProofFile,
    file: Vec<u8>,
    description: Value,
    report: Value,
    state_digests: Value,
}

/// Nonces per signer, counting up from 1.
#[derive(Default)]
struct Nonces(BTreeMap<String, u64>);

impl Nonces {
    fn next(&mut self, signer: &str) -> u64 {
        let nonce = self.0.entry(signer.to_string()).or_default();
        *nonce += 1;
        *nonce
    }
}

fn statements(genesis: &Genesis, head: &Head, nodes: &[&str]) -> Vec<pb::Envelope> {
    nodes
        .iter()
        .map(|node| {
            let checkpoint = head.to_checkpoint(&genesis.ledger_id);
            // As the node's checkpoint signer does: nonce = the size it signs.
            sealed(
                genesis,
                &node_signer(node),
                head.size,
                Kind::CheckpointSigned(pb::CheckpointSigned { node: node.to_string(), checkpoint: Some(checkpoint) }),
            )
        })
        .collect()
}

fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Applied { index } => json!({"verdict": "applied", "leaf_index": index}),
        Verdict::Rejected { index, rejection } => {
            json!({"verdict": "rejected", "leaf_index": index, "reason": rejection.code.as_str_name(), "message": rejection.message})
        }
        Verdict::Duplicate { original } => json!({"verdict": "duplicate", "original_leaf_index": original.index}),
        Verdict::Refused { rejection } => json!({"verdict": "refused", "reason": rejection.code.as_str_name()}),
        Verdict::CheckpointRecorded { node, size, certified } => {
            json!({"verdict": "checkpoint_recorded", "node": node, "size": size, "certified": certified})
        }
        Verdict::CheckpointIgnored { rejection } => json!({"verdict": "checkpoint_ignored", "reason": rejection.code.as_str_name()}),
    }
}

fn build_export(genesis: &Genesis) -> Built {
    let genesis_arc = Arc::new(genesis.clone());
    let mut ledger = Ledger::new(genesis_arc.clone());
    let mut nonces = Nonces::default();
    let mut next = |signer: &str, kind: Kind| sealed(genesis, signer, nonces.next(signer), kind);

    let first_party = next(
        "zk",
        Kind::PartyRegistered(pb::PartyRegistered {
            party: "agb:01234567".into(),
            kind: pb::PartyKind::Provider as i32,
            name: "Ziekenhuis Noord".into(),
            iban: "NL91ABNA0417164300".into(),
        }),
    );
    let block_1 = vec![
        first_party.clone(),
        next(
            "vgz",
            Kind::PartyRegistered(pb::PartyRegistered {
                party: "kvk:12345678".into(),
                kind: pb::PartyKind::Municipality as i32,
                name: "Gemeente Zuid".into(),
                iban: String::new(),
            }),
        ),
        next(
            "vws",
            Kind::FundAdjusted(pb::FundAdjusted {
                delta_micros: 250_000_000_000,
                reason: "supplementary budget".into(),
                effective: "2026-01-15".into(),
            }),
        ),
    ];
    // (log index, envelopes, nodes that sign the head at the block's end in the next block)
    let mut blocks: Vec<(u64, Vec<pb::Envelope>)> = Vec::new();
    let mut descriptions = Vec::new();
    let mut states = vec![state_json(ledger.state(), 0)];
    let mut chain = [0u8; 32];
    let mut apply = |log_index: u64, envelopes: Vec<pb::Envelope>, ledger: &mut Ledger, blocks: &mut Vec<(u64, Vec<pb::Envelope>)>| {
        let block = pb::Block { envelopes };
        let outcomes = ledger.apply_block(&block);
        let envelopes: Vec<Value> = block
            .envelopes
            .iter()
            .zip(&outcomes)
            .map(|(envelope, outcome)| {
                let mut value = json!({
                    "signer": envelope.signer,
                    "envelope": hex::encode(envelope.encode_to_vec()),
                    "id": hex::encode(outcome.id),
                    "leaf_hash": hex32(&envelope_leaf_hash(envelope)),
                    "nonce": pb::Transaction::decode(envelope.body.as_slice()).map(|transaction| transaction.nonce).unwrap_or_default(),
                });
                if let (Value::Object(value), Value::Object(verdict)) = (&mut value, verdict_json(&outcome.verdict)) {
                    value.extend(verdict);
                }
                let leaf = match &outcome.verdict {
                    Verdict::Applied { index } => Some((*index, 0, String::new())),
                    Verdict::Rejected { index, rejection } => Some((*index, rejection.code as i32, rejection.message.clone())),
                    _ => None,
                };
                if let Some((index, code, message)) = leaf {
                    let nonce = pb::Transaction::decode(envelope.body.as_slice()).expect("a leaf decodes").nonce;
                    let mut hasher = Sha256::new();
                    hasher.update(chain);
                    hasher.update(index.to_be_bytes());
                    hasher.update(outcome.id);
                    hasher.update((envelope.signer.len() as u64).to_be_bytes());
                    hasher.update(envelope.signer.as_bytes());
                    hasher.update(nonce.to_be_bytes());
                    hasher.update(code.to_be_bytes());
                    hasher.update((message.len() as u64).to_be_bytes());
                    hasher.update(message.as_bytes());
                    chain = hasher.finalize().into();
                    value["leaves_digest_after"] = json!(hex::encode(chain));
                }
                value
            })
            .collect();
        assert_eq!(chain, ledger.state().leaves_digest.0, "the leaf chain as SPEC.md defines it");
        descriptions.push(json!({
            "log_index": log_index,
            "block": hex::encode(block.encode_to_vec()),
            "size_after": ledger.size(),
            "envelopes": envelopes,
        }));
        blocks.push((log_index, block.envelopes));
    };

    apply(3, block_1, &mut ledger, &mut blocks);
    let head_3 = ledger.head();
    states.push(state_json(ledger.state(), ledger.size()));
    apply(4, statements(genesis, &head_3, &["cz", "menzis", "vgz", "zk"]), &mut ledger, &mut blocks);
    assert!(ledger.certification().certified.contains_key(&3));

    let block_3 = vec![
        next(
            "cz",
            Kind::PaymentRecorded(pb::PaymentRecorded {
                payment: "pay-2026-001".into(),
                settlements: vec![pb::Settlement { obligation: "plan-a/m1/1/cz".into(), amount_micros: 1_250_000_000 }],
                value_date: "2026-03-02".into(),
                bank_reference: "NL-CZ-0001".into(),
            }),
        ),
        first_party,
        next(
            "vws",
            Kind::ExternalFundingRecorded(pb::ExternalFundingRecorded {
                id: "ext-1".into(),
                sector: "wijk".into(),
                region: "noord".into(),
                theme: "digital".into(),
                paid_on: "2026-02-01".into(),
                amount_micros: 5_000_000_000,
                description: "paid from the ministry's own budget".into(),
            }),
        ),
        next(
            "menzis",
            Kind::KeyProposed(pb::KeyProposed {
                key_group: "somatic".into(),
                version: 2,
                valid_from: "2027-01-01".into(),
                shares: [("cz", "0.25"), ("menzis", "0.1"), ("vgz", "0.25"), ("zk", "0.4")]
                    .iter()
                    .map(|(insurer, share)| pb::KeyShare { insurer: insurer.to_string(), share: share.to_string() })
                    .collect(),
            }),
        ),
        next(
            "nza",
            Kind::AuditAttested(pb::AuditAttested {
                checkpoint: Some(head_3.to_checkpoint(&genesis.ledger_id)),
                note: "verified up to 3".into(),
            }),
        ),
    ];
    apply(6, block_3, &mut ledger, &mut blocks);
    let head_7 = ledger.head();
    states.push(state_json(ledger.state(), ledger.size()));
    let mut block_4 = statements(genesis, &head_7, &["cz", "menzis", "vgz"]);
    for insurer in ["cz", "menzis", "vgz", "zk"] {
        block_4.push(next(insurer, Kind::KeyApproved(pb::KeyApproved { key_group: "somatic".into(), version: 2 })));
    }
    apply(7, block_4, &mut ledger, &mut blocks);
    assert!(ledger.certification().certified.contains_key(&7));
    let head_11 = ledger.head();
    states.push(state_json(ledger.state(), ledger.size()));
    let mut block_5 = statements(genesis, &head_7, &["zk"]);
    block_5.extend(statements(genesis, &head_11, &["cz", "menzis", "vgz", "zk"]));
    apply(9, block_5, &mut ledger, &mut blocks);
    assert_eq!(ledger.certification().latest_certified().map(|head| head.size), Some(11));

    let head = ledger.head();
    let export = Export {
        header: Some(file::header(genesis.canonical(), 0, "zk (https://127.0.0.1:7101)")),
        blocks: blocks
            .iter()
            .map(|(log_index, envelopes)| ExportedBlock {
                log_index: *log_index,
                block: pb::Block { envelopes: envelopes.clone() }.encode_to_vec(),
            })
            .collect(),
        trailer: Some(ExportTrailer {
            blocks: blocks.len() as u64,
            size: head.size,
            root: head.root.to_vec(),
            certified_size: head.size,
            newest_certified: Some(head.to_checkpoint(&genesis.ledger_id)),
            certificate: ledger.certification().certificate(head.size),
        }),
        damage: None,
    };
    let bytes = export.encode();
    assert_eq!(Export::decode(&bytes), export, "the file reads back");
    let report = verify(&export, &Options::default()).expect("a full export");
    assert!(report.ok && report.exit_code == 0, "the vector export verifies: {}", report.to_text());

    let certification = ledger.certification();
    let certified_checkpoint = |size: u64| {
        let head = &certification.certified[&size];
        CertifiedCheckpoint {
            size,
            root: hex32(&head.root),
            state_digest: hex32(&head.state_digest),
            certificate: certification.certificate(size).iter().map(SignedStatement::of).collect(),
        }
    };
    let genesis_hex = hex::encode(genesis.canonical().encode_to_vec());
    // The payment rejected at leaf 3, in the log certified at size 11.
    let rejected = &blocks[2].1[0];
    let inclusion = InclusionProof {
        format: proof::INCLUSION_FORMAT.to_string(),
        ledger_id: genesis.ledger_id.clone(),
        genesis_hash: hex::encode(genesis.hash()),
        genesis: genesis_hex.clone(),
        made_from: "zk (https://127.0.0.1:7101)".to_string(),
        transaction_id: hex::encode(transaction_id(rejected)),
        envelope: SignedStatement::of(rejected),
        leaf_index: 3,
        leaf_hash: hex32(&envelope_leaf_hash(rejected)),
        proof: hashes(&ledger.merkle().inclusion_proof(3, 11).expect("leaf 3 of 11")),
        checkpoint: certified_checkpoint(11),
    };
    let consistency = ConsistencyProof {
        format: proof::CONSISTENCY_FORMAT.to_string(),
        ledger_id: genesis.ledger_id.clone(),
        genesis_hash: hex::encode(genesis.hash()),
        genesis: genesis_hex,
        made_from: "zk (https://127.0.0.1:7101)".to_string(),
        old: certified_checkpoint(3),
        new: certified_checkpoint(11),
        proof: hashes(&ledger.merkle().consistency_proof(3, 11).expect("3 to 11")),
    };
    let inclusion = ProofFile::Inclusion(inclusion);
    let consistency = ProofFile::Consistency(consistency);
    for file in [&inclusion, &consistency] {
        let checked = proof::check(file, Some(genesis));
        assert!(checked.ok, "the vector proof checks: {checked:?}");
        assert_eq!(ProofFile::parse("vector", &file.to_json()).expect("parses"), *file);
    }
    let certified: Vec<Value> = certification
        .certified
        .iter()
        .map(|(size, head)| {
            json!({
                "size": size,
                "root": hex32(&head.root),
                "state_digest": hex32(&head.state_digest),
                "certificate": certification.certificate(*size).iter().map(|envelope| envelope.signer.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let description = json!({
        "about": "The export file export.fairshare (SPEC.md, The audit export file), described: each block as encoded and each envelope with its id, leaf hash and verdict; the certified checkpoints; the trailer. export-report.json is what `fairshare audit verify --json export.fairshare` prints.",
        "file": EXPORT_FILE,
        "genesis": "genesis.toml",
        "checkpoint_interval": ledger.checkpoint_interval(),
        "blocks": descriptions,
        "certified": certified,
        "size": head.size,
        "root": hex32(&head.root),
        "state_digest": hex32(&head.state_digest),
    });
    Built {
        inclusion_proof: inclusion,
        consistency_proof: consistency,
        file: bytes,
        description,
        report: serde_json::to_value(&report).expect("reports serialise"),
        state_digests: json!({
            "about": "State digests (SPEC.md, The state digest) of the vector export's ledger at sizes 0 (genesis), 3, 7 and 11, with every map entry's canonical key and value: recompute each root and the digest from them.",
            "states": states,
        }),
    }
}
