//! Ed25519 batch verification that sums the terms of signatures by the same key.
//!
//! `ed25519_dalek::verify_batch` checks one equation over `2n + 1` points for `n`
//! signatures, with a random 128-bit `z[i]` per signature:
//!
//! ```text
//! (-∑ z[i]·s[i]) B + ∑ z[i]·R[i] + ∑ (z[i]·H(R[i] ‖ A[i] ‖ M[i])) A[i] = 0
//! ```
//!
//! A ledger has few signers (the insurers, the nodes, a regulator or two), so most `A[i]`
//! repeat. Collecting the coefficients of equal keys first gives the *same point* from a
//! multiscalar multiplication over `n + k + 1` points, `k` the number of distinct keys:
//! about half the work for a large batch. Everything else is `verify_batch`'s, step for
//! step: the same transcript, so the same `z[i]`, the same checks on `s` (canonical) and
//! `R` (decompresses), the same final identity check. The function therefore accepts
//! exactly the batches `verify_batch` accepts; a test compares the two on good, forged,
//! altered and malformed batches.

use std::collections::BTreeMap;
use std::iter::once;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use merlin::Transcript;
use sha2::{Digest, Sha512};

/// Feeds merlin's RNG builder no external randomness, as `verify_batch` does: the `z[i]`
/// are then a pseudo-random function of everything being verified (its hashed transcript).
struct ZeroRng;

impl rand_core::RngCore for ZeroRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, _bytes: &mut [u8]) {}
    fn try_fill_bytes(&mut self, bytes: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(bytes);
        Ok(())
    }
}

impl rand_core::CryptoRng for ZeroRng {}

/// Why a batch did not verify; which signature is bad is for one-by-one checking to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("messages, signatures and keys differ in number")]
    Lengths,
    #[error("a signature's s is not a canonical scalar")]
    ScalarFormat,
    #[error("the batch equation does not hold (or an R is not a curve point)")]
    Verify,
}

/// Verifies all signatures at once; `Ok` exactly when `ed25519_dalek::verify_batch` is `Ok`.
pub fn verify_batch(messages: &[&[u8]], signatures: &[Signature], keys: &[VerifyingKey]) -> Result<(), BatchError> {
    if messages.len() != signatures.len() || keys.len() != signatures.len() {
        return Err(BatchError::Lengths);
    }
    let hrams: Vec<[u8; 64]> = signatures
        .iter()
        .zip(keys)
        .zip(messages)
        .map(|((signature, key), message)| {
            let mut hasher = Sha512::new();
            hasher.update(signature.r_bytes());
            hasher.update(key.as_bytes());
            hasher.update(message);
            hasher.finalize().into()
        })
        .collect();
    let mut transcript = Transcript::new(b"ed25519 batch verification");
    for hram in &hrams {
        transcript.append_message(b"hram", hram);
    }
    for signature in signatures {
        transcript.append_message(b"sig.s", signature.s_bytes());
    }
    let mut rng = transcript.build_rng().finalize(&mut ZeroRng);

    let mut s_values = Vec::with_capacity(signatures.len());
    for signature in signatures {
        let s: Option<Scalar> = Scalar::from_canonical_bytes(*signature.s_bytes()).into();
        s_values.push(s.ok_or(BatchError::ScalarFormat)?);
    }
    let zs: Vec<Scalar> = signatures
        .iter()
        .map(|_| {
            let mut bytes = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rng, &mut bytes);
            Scalar::from(u128::from_le_bytes(bytes))
        })
        .collect();
    let b_coefficient: Scalar = s_values.iter().zip(&zs).map(|(s, z)| z * s).sum();

    // ∑ z[i]·H[i] per distinct key, in order of first appearance.
    let mut distinct: Vec<&VerifyingKey> = Vec::new();
    let mut coefficients: Vec<Scalar> = Vec::new();
    let mut position: BTreeMap<&[u8; 32], usize> = BTreeMap::new();
    for ((hram, z), key) in hrams.iter().zip(&zs).zip(keys) {
        let term = Scalar::from_bytes_mod_order_wide(hram) * z;
        match position.get(key.as_bytes()) {
            Some(&at) => coefficients[at] += term,
            None => {
                position.insert(key.as_bytes(), distinct.len());
                distinct.push(key);
                coefficients.push(term);
            }
        }
    }

    let rs = signatures.iter().map(|signature| CompressedEdwardsY(*signature.r_bytes()).decompress());
    let points = once(Some(ED25519_BASEPOINT_POINT)).chain(rs).chain(distinct.iter().map(|key| Some(key.to_edwards())));
    let scalars = once(-b_coefficient).chain(zs.iter().copied()).chain(coefficients);
    let sum = EdwardsPoint::optional_multiscalar_mul(scalars, points).ok_or(BatchError::Verify)?;
    if sum.is_identity() {
        Ok(())
    } else {
        Err(BatchError::Verify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn keys(count: u8) -> Vec<SigningKey> {
        (0..count).map(|seed| SigningKey::from_bytes(&[seed + 1; 32])).collect()
    }

    /// (messages, signatures, keys) of `count` signatures over `signers` keys.
    fn batch(count: usize, signers: &[SigningKey]) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<VerifyingKey>) {
        let messages: Vec<Vec<u8>> = (0..count).map(|number| format!("message {number}").into_bytes()).collect();
        let signing: Vec<&SigningKey> = (0..count).map(|number| &signers[number % signers.len()]).collect();
        let signatures = messages.iter().zip(&signing).map(|(message, key)| key.sign(message)).collect();
        (messages, signatures, signing.iter().map(|key| key.verifying_key()).collect())
    }

    fn both(messages: &[Vec<u8>], signatures: &[Signature], keys: &[VerifyingKey]) -> (bool, bool) {
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        (verify_batch(&messages, signatures, keys).is_ok(), ed25519_dalek::verify_batch(&messages, signatures, keys).is_ok())
    }

    #[test]
    fn accepts_and_refuses_exactly_what_dalek_does() {
        let signers = keys(4);
        for count in [1, 2, 7, 64, 300] {
            let (messages, signatures, verifying) = batch(count, &signers);
            assert_eq!(both(&messages, &signatures, &verifying), (true, true), "{count} good signatures");

            let mut altered = messages.clone();
            altered[count / 2][0] ^= 1;
            assert_eq!(both(&altered, &signatures, &verifying), (false, false), "{count}: an altered message");

            let mut forged = signatures.clone();
            let mut bytes = forged[count - 1].to_bytes();
            bytes[5] ^= 0x10;
            forged[count - 1] = Signature::from_bytes(&bytes);
            assert_eq!(both(&messages, &forged, &verifying), (false, false), "{count}: a flipped bit in R");

            let mut wrong_key = verifying.clone();
            wrong_key[0] = keys(9)[8].verifying_key();
            assert_eq!(both(&messages, &signatures, &wrong_key), (false, false), "{count}: another key");

            let mut high_s = signatures.clone();
            let mut bytes = high_s[0].to_bytes();
            bytes[63] |= 0xf0;
            high_s[0] = Signature::from_bytes(&bytes);
            assert_eq!(both(&messages, &high_s, &verifying), (false, false), "{count}: a non-canonical s");
        }
    }

    #[test]
    fn a_signature_moved_to_another_key_of_the_batch_is_refused() {
        // Summing per key must not let one key's signature stand in for another's.
        let signers = keys(2);
        let (messages, signatures, mut verifying) = batch(4, &signers);
        verifying.swap(0, 1);
        assert_eq!(both(&messages, &signatures, &verifying), (false, false));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any batch, with any one byte of a message or a signature changed or not.
        #[test]
        fn agrees_with_dalek_on_any_batch(count in 1usize..40, signers in 1u8..6, damage in proptest::option::of((0usize..40, 0usize..64, 1u8..=255, proptest::bool::ANY))) {
            let (mut messages, mut signatures, verifying) = batch(count, &keys(signers));
            if let Some((which, byte, flip, in_signature)) = damage {
                let which = which % count;
                if in_signature {
                    let mut bytes = signatures[which].to_bytes();
                    bytes[byte] ^= flip;
                    signatures[which] = Signature::from_bytes(&bytes);
                } else {
                    let message = &mut messages[which];
                    let at = byte % message.len();
                    message[at] ^= flip;
                }
            }
            let (ours, dalek) = both(&messages, &signatures, &verifying);
            proptest::prop_assert_eq!(ours, dalek);
            proptest::prop_assert_eq!(ours, damage.is_none());
        }
    }

    #[test]
    fn lengths_must_agree() {
        let (messages, signatures, verifying) = batch(3, &keys(1));
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert_eq!(verify_batch(&messages[..2], &signatures, &verifying), Err(BatchError::Lengths));
    }
}
