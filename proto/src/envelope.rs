//! Signed envelopes (DESIGN decision 2; SPEC.md, "Envelopes").
//!
//! The author encodes a [`pb::Transaction`], signs those exact bytes with ed25519 and
//! ships them in a [`pb::Envelope`]. Everyone decodes the body from the signed bytes
//! themselves. The transaction id is the SHA-256 of the signer's key id and the body
//! bytes, so a resubmission of the same envelope (after a leader change, say) has the same
//! id and is applied at most once, while the same body signed by two signers (two insurers
//! approving a key with equal nonces) is two transactions.
//!
//! **One byte string per leaf**: the body and the envelope must each be the *canonical*
//! encoding of what they decode to ([`is_canonical`]: fields in order, defaults omitted,
//! shortest varints, no unknown fields), so the bytes a leaf hashes are the bytes that were
//! signed and logged, and no one can add bytes the rules never read. A replicated block is
//! read with [`decode_block`], which keeps, for every envelope, whether its bytes in the
//! block were canonical; [`ReplicatedBlock::refuse_non_canonical`] turns those that were not
//! into refusals.

use std::borrow::Borrow;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::genesis::{Genesis, Role};
use crate::merkle::{leaf_hash, Hash};
use crate::pb::{self, transaction::Kind, ReasonCode};
use crate::rejection::Rejection;
use crate::TRANSACTION_BYTES_MAX;

/// SHA-256 over the signer's key id (length-prefixed) and the signed body bytes.
pub type TransactionId = [u8; 32];

/// The body alone does not name its signer, so the id binds the signer too: otherwise one
/// signer's envelope would count as a duplicate of another signer's identical body, and
/// anyone who saw a body first could sign it themselves and so keep the author's own
/// envelope from ever being applied.
pub fn transaction_id(envelope: &pb::Envelope) -> TransactionId {
    let mut hasher = Sha256::new();
    hasher.update((envelope.signer.len() as u64).to_be_bytes());
    hasher.update(envelope.signer.as_bytes());
    hasher.update(&envelope.body);
    hasher.finalize().into()
}

/// A transaction id from its hex form (64 digits, either case); `None` if it is not one.
pub fn parse_transaction_id(text: &str) -> Option<TransactionId> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(id)
}

/// Encodes and signs a transaction: the one way envelopes are made.
pub fn seal(transaction: &pb::Transaction, signer: &str, key: &SigningKey) -> pb::Envelope {
    let body = transaction.encode_to_vec();
    let signature = key.sign(&body);
    pb::Envelope { body, signer: signer.to_string(), signature: signature.to_bytes().to_vec() }
}

/// The Merkle leaf hash of an envelope: RFC 6962's hash of its protobuf encoding, which
/// for an envelope that may become a leaf is exactly its bytes in the block (only
/// canonical envelopes become leaves).
pub fn envelope_leaf_hash(envelope: &pb::Envelope) -> Hash {
    leaf_hash(&envelope.encode_to_vec())
}

/// A transaction whose signature checked out against genesis.
#[derive(Debug, Clone)]
pub struct VerifiedTransaction {
    pub id: TransactionId,
    /// Its Merkle leaf hash, should it become a leaf ([`envelope_leaf_hash`]); computed
    /// while opening, which may run on other threads than the ledger's.
    pub leaf_hash: Hash,
    pub signer: String,
    pub role: Role,
    pub nonce: u64,
    pub kind: Kind,
}

/// Whether `bytes` are exactly the canonical encoding of the message they decode to:
/// re-encoding the decoded message (prost writes fields in field-number order, omits
/// defaults and writes shortest varints; decoding drops unknown fields) gives them back.
pub fn is_canonical<M: Message>(message: &M, bytes: &[u8]) -> bool {
    message.encoded_len() == bytes.len() && message.encode_to_vec() == bytes
}

/// A block as replicated: its envelopes, decoded, with the positions of those whose bytes
/// in the block were not their canonical encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicatedBlock {
    pub block: pb::Block,
    pub non_canonical: Vec<usize>,
}

impl ReplicatedBlock {
    /// A block made here (encoded by prost, so canonical).
    pub fn from_block(block: pb::Block) -> ReplicatedBlock {
        ReplicatedBlock { block, non_canonical: Vec::new() }
    }

    /// Replaces the openings of non-canonical envelopes with a refusal: their bytes are not
    /// the bytes that were signed and would be hashed, so they never become leaves.
    pub fn refuse_non_canonical(&self, opened: &mut [Result<VerifiedTransaction, Rejection>]) {
        for &position in &self.non_canonical {
            if let Some(slot) = opened.get_mut(position) {
                *slot = Err(Rejection::new(
                    ReasonCode::MalformedTransaction,
                    "the envelope's bytes in the block are not its canonical encoding (unknown fields, fields out of order, defaults written or overlong varints)",
                ));
            }
        }
    }
}

/// Why a block's bytes are not a block (the whole block is refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the block is malformed at byte {offset}: {what}")]
pub struct MalformedBlock {
    pub offset: usize,
    pub what: String,
}

/// Reads a varint in its shortest form (at most 10 bytes, no trailing zero byte).
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in 0..10 {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if shift == 9 && byte > 1 {
            return None; // more than 64 bits
        }
        value |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            // A last byte of 0 after others is an overlong encoding.
            return (shift == 0 || byte != 0).then_some(value);
        }
    }
    None
}

/// Splits a block's bytes into its envelopes' records, strictly: a `Block` is nothing but
/// field-1 (`envelopes`) length-delimited records with shortest-form lengths. Returns each
/// record's offset and bytes.
pub fn block_records(bytes: &[u8]) -> Result<Vec<(usize, &[u8])>, MalformedBlock> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let malformed = |what: String| MalformedBlock { offset: start, what };
        if bytes[at] != 0x0a {
            return Err(malformed(format!("tag byte {:#04x}, not field 1 (envelopes, length-delimited)", bytes[at])));
        }
        at += 1;
        let length = read_varint(bytes, &mut at).ok_or_else(|| malformed("the envelope's length is not a shortest-form varint".into()))?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| at.checked_add(length))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| malformed(format!("an envelope of {length} bytes runs past the block's end")))?;
        records.push((start, &bytes[at..end]));
        at = end;
    }
    Ok(records)
}

/// Decodes a block's bytes strictly ([`block_records`]); each record must decode as an
/// `Envelope`. An envelope whose record is not its canonical encoding stays in the block
/// (its position in `non_canonical`), to be refused; anything else is a malformed block.
pub fn decode_block(bytes: &[u8]) -> Result<ReplicatedBlock, MalformedBlock> {
    let records = block_records(bytes)?;
    let mut replicated = ReplicatedBlock { block: pb::Block { envelopes: Vec::with_capacity(records.len()) }, non_canonical: Vec::new() };
    for (offset, record) in records {
        let envelope = pb::Envelope::decode(record)
            .map_err(|error| MalformedBlock { offset, what: format!("an envelope does not decode: {error}") })?;
        if !is_canonical(&envelope, record) {
            replicated.non_canonical.push(replicated.block.envelopes.len());
        }
        replicated.block.envelopes.push(envelope);
    }
    Ok(replicated)
}

/// Everything about an envelope that does not need the signature check: size, decoding
/// (canonical), ledger id, known signer. Returns the decoded transaction and the signer's key.
pub fn inspect<'genesis>(
    envelope: &pb::Envelope,
    genesis: &'genesis Genesis,
) -> Result<(pb::Transaction, &'genesis (Role, VerifyingKey), Signature), Rejection> {
    if envelope.body.len() > TRANSACTION_BYTES_MAX {
        return Err(Rejection::new(
            ReasonCode::LimitExceeded,
            format!("transaction body is {} bytes; at most {TRANSACTION_BYTES_MAX} are allowed", envelope.body.len()),
        ));
    }
    let transaction = pb::Transaction::decode(envelope.body.as_slice())
        .map_err(|error| Rejection::new(ReasonCode::MalformedTransaction, format!("the body is not a fairshare transaction: {error}")))?;
    if !is_canonical(&transaction, &envelope.body) {
        return Err(Rejection::new(
            ReasonCode::MalformedTransaction,
            "the body is not the canonical encoding of its transaction (unknown fields, fields out of order, defaults written or overlong varints); sign the bytes a proto3 encoder writes",
        ));
    }
    if transaction.kind.is_none() {
        return Err(Rejection::new(ReasonCode::MalformedTransaction, "the transaction has no kind (an unknown or empty transaction)"));
    }
    if transaction.ledger_id != genesis.ledger_id {
        return Err(Rejection::new(
            ReasonCode::WrongLedger,
            format!("the transaction is for ledger '{}', this is ledger '{}'", transaction.ledger_id, genesis.ledger_id),
        ));
    }
    let signer = genesis.signer(&envelope.signer).ok_or_else(|| {
        Rejection::new(ReasonCode::UnknownSigner, format!("signer '{}' is not in genesis", crate::ids::echo(&envelope.signer)))
    })?;
    let signature = Signature::from_slice(&envelope.signature)
        .map_err(|_| Rejection::new(ReasonCode::BadSignature, format!("the signature is {} bytes, not 64", envelope.signature.len())))?;
    Ok((transaction, signer, signature))
}

fn bad_signature(envelope: &pb::Envelope) -> Rejection {
    Rejection::new(
        ReasonCode::BadSignature,
        format!(
            "the signature does not match the body for signer '{}'; the envelope was altered or signed with another key",
            envelope.signer
        ),
    )
}

fn verified(envelope: &pb::Envelope, transaction: pb::Transaction, role: &Role) -> VerifiedTransaction {
    VerifiedTransaction {
        id: transaction_id(envelope),
        leaf_hash: envelope_leaf_hash(envelope),
        signer: envelope.signer.clone(),
        role: role.clone(),
        nonce: transaction.nonce,
        kind: transaction.kind.expect("inspect checked the kind"),
    }
}

/// Checks one envelope completely, signature included, by the ledger's signature rule
/// ([`crate::signature::verify`]).
pub fn open(envelope: &pb::Envelope, genesis: &Genesis) -> Result<VerifiedTransaction, Rejection> {
    let (transaction, (role, key), signature) = inspect(envelope, genesis)?;
    crate::signature::verify(&envelope.body, &signature, key).map_err(|_| bad_signature(envelope))?;
    Ok(verified(envelope, transaction, role))
}

/// Checks many envelopes: one batch verification ([`crate::signature::verify_batch`]),
/// and one by one only when the batch fails, to name the bad ones. The same verdict as
/// [`open`] on each envelope, whatever its neighbours. Takes envelopes or references.
pub fn open_all<E: Borrow<pb::Envelope>>(envelopes: &[E], genesis: &Genesis) -> Vec<Result<VerifiedTransaction, Rejection>> {
    let envelopes = || envelopes.iter().map(Borrow::borrow);
    let inspected: Vec<_> = envelopes().map(|envelope| inspect(envelope, genesis)).collect();
    let mut messages = Vec::with_capacity(inspected.len());
    let mut signatures = Vec::with_capacity(inspected.len());
    let mut keys = Vec::with_capacity(inspected.len());
    for (envelope, result) in envelopes().zip(&inspected) {
        if let Ok((_, (_, key), signature)) = result {
            messages.push(envelope.body.as_slice());
            signatures.push(*signature);
            keys.push(*key);
        }
    }
    // The batch passes exactly when every signature passes the single check (bar a
    // chance of about 2^-128, see crate::signature), so no verdict depends on a neighbour.
    let batch_ok = !messages.is_empty() && crate::signature::verify_batch(&messages, &signatures, &keys).is_ok();
    envelopes()
        .zip(inspected)
        .map(|(envelope, result)| {
            let (transaction, (role, key), signature) = result?;
            if !batch_ok {
                crate::signature::verify(&envelope.body, &signature, key).map_err(|_| bad_signature(envelope))?;
            }
            Ok(verified(envelope, transaction, role))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{genesis_with_keys, transaction};

    #[test]
    fn a_sealed_envelope_opens_and_an_altered_one_does_not() {
        let (genesis, keys) = genesis_with_keys();
        let body = transaction(&genesis, 1, Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-02-01".into(), reason: "x".into() }));
        let envelope = seal(&body, "vws", &keys["vws"]);
        let opened = open(&envelope, &genesis).unwrap();
        assert_eq!(opened.signer, "vws");
        assert_eq!(opened.id, transaction_id(&envelope));

        let mut altered = envelope.clone();
        let last = altered.body.len() - 1;
        altered.body[last] ^= 1;
        assert_eq!(open(&altered, &genesis).unwrap_err().code, ReasonCode::BadSignature);

        let mut stranger = envelope.clone();
        stranger.signer = "nobody".into();
        assert_eq!(open(&stranger, &genesis).unwrap_err().code, ReasonCode::UnknownSigner);

        let forged = seal(&body, "vws", &keys["zk"]);
        assert_eq!(open(&forged, &genesis).unwrap_err().code, ReasonCode::BadSignature);

        let garbage = pb::Envelope { body: vec![0xff, 0xff, 0xff], signer: "vws".into(), signature: vec![0; 64] };
        assert_eq!(open(&garbage, &genesis).unwrap_err().code, ReasonCode::MalformedTransaction);

        let mut other_ledger = body.clone();
        other_ledger.ledger_id = "elsewhere".into();
        assert_eq!(open(&seal(&other_ledger, "vws", &keys["vws"]), &genesis).unwrap_err().code, ReasonCode::WrongLedger);
    }

    /// One byte string per leaf: a body with an unknown field, a default written out or an
    /// overlong varint is refused even though its signature checks; a block's envelope
    /// records are read strictly, and a non-canonical one is kept to be refused.
    #[test]
    fn only_canonical_bodies_and_envelopes_are_accepted() {
        let (genesis, keys) = genesis_with_keys();
        let body = transaction(&genesis, 1, Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-02-01".into(), reason: "x".into() }));
        let canonical = body.encode_to_vec();
        let sign = |bytes: Vec<u8>| {
            let signature = keys["vws"].sign(&bytes).to_bytes().to_vec();
            pb::Envelope { body: bytes, signer: "vws".into(), signature }
        };
        assert!(open(&sign(canonical.clone()), &genesis).is_ok());
        let mut unknown_field = canonical.clone();
        unknown_field.extend([0xf8, 0x07, 0x01]); // field 127, varint 1
        let mut zero_written = canonical.clone();
        zero_written.extend([0x10, 0x00]); // nonce = 0 written out after the real one: last wins
        let mut overlong = vec![canonical[0], 0x80 | canonical[1], 0x00]; // ledger id length in two bytes
        overlong.extend(&canonical[2..]);
        for (what, bytes) in [("an unknown field", unknown_field), ("a repeated field", zero_written), ("an overlong length", overlong)] {
            assert!(pb::Transaction::decode(bytes.as_slice()).is_ok(), "{what}: decodes");
            let rejection = open(&sign(bytes), &genesis).unwrap_err();
            assert_eq!(rejection.code, ReasonCode::MalformedTransaction, "{what}");
            assert!(rejection.message.contains("canonical"), "{what}: {}", rejection.message);
        }

        let envelope = seal(&body, "vws", &keys["vws"]);
        let record = envelope.encode_to_vec();
        let mut with_unknown = record.clone();
        with_unknown.extend([0x20, 0x01]);
        let mut block = pb::Block { envelopes: vec![envelope.clone()] }.encode_to_vec();
        block.push(0x0a);
        prost::encoding::encode_varint(with_unknown.len() as u64, &mut block);
        block.extend(&with_unknown);
        let replicated = decode_block(&block).unwrap();
        assert_eq!(replicated.block.envelopes, vec![envelope.clone(), envelope.clone()], "decoded, the two are equal");
        assert_eq!(replicated.non_canonical, vec![1]);
        let mut opened = open_all(&replicated.block.envelopes, &genesis);
        replicated.refuse_non_canonical(&mut opened);
        assert!(opened[0].is_ok());
        assert_eq!(opened[1].as_ref().unwrap_err().code, ReasonCode::MalformedTransaction);

        // Framing: another field, an overlong length, a record running past the end.
        assert!(decode_block(&[0x12, 0x00]).unwrap_err().what.contains("not field 1"));
        let mut overlong_length = vec![0x0a, 0x80 | record.len() as u8, 0x00];
        overlong_length.extend(&record);
        assert!(decode_block(&overlong_length).unwrap_err().what.contains("shortest-form"));
        assert!(decode_block(&block[..block.len() - 1]).unwrap_err().what.contains("past the block's end"));
        assert_eq!(decode_block(&[]).unwrap(), ReplicatedBlock::default());
    }

    #[test]
    fn batch_opening_gives_the_same_verdicts_as_one_by_one() {
        let (genesis, keys) = genesis_with_keys();
        let good = seal(
            &transaction(&genesis, 1, Kind::IntakeClosed(pb::IntakeClosed { closed_on: "2026-02-01".into(), reason: String::new() })),
            "vws",
            &keys["vws"],
        );
        let mut bad = good.clone();
        bad.signature[0] ^= 1;
        let envelopes = vec![good.clone(), bad, good];
        let batch: Vec<_> = open_all(&envelopes, &genesis).into_iter().map(|result| result.map(|ok| ok.id)).collect();
        let single: Vec<_> = envelopes.iter().map(|envelope| open(envelope, &genesis).map(|ok| ok.id)).collect();
        assert_eq!(batch, single);
        assert!(batch[1].is_err());
    }
}
