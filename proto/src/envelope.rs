//! Signed envelopes (DESIGN decision 2).
//!
//! The author encodes a [`pb::Transaction`], signs those exact bytes with ed25519 and
//! ships them in a [`pb::Envelope`]. Everyone decodes the body from the signed bytes
//! themselves: nothing is re-encoded, so there is no canonicalisation problem. The
//! transaction id is the SHA-256 of the signer's key id and the body bytes, so a
//! resubmission of the same envelope (after a leader change, say) has the same id and is
//! applied at most once, while the same body signed by two signers (two insurers
//! approving a key with equal nonces) is two transactions.

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

/// The Merkle leaf hash of an envelope: RFC 6962's hash of its protobuf encoding.
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

/// Everything about an envelope that does not need the signature check: size, decoding,
/// ledger id, known signer. Returns the decoded transaction and the signer's key.
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
