//! The ledger's rule for a valid ed25519 signature, checked one at a time or in batches
//! that give the same verdict for every signature, whatever else is in the batch.
//!
//! The normative statement of the rule (point decoding, non-canonical encodings, what
//! OpenSSL-based verifiers disagree on) is SPEC.md section 5, with the vectors in
//! `spec/vectors/signatures.json`; this module implements it.
//!
//! **The rule** ([`verify`]): `s` is a canonical scalar, `R` decompresses to a curve point,
//! the key is a genesis key (genesis refuses keys with a small-order component), and the
//! *cofactored* equation holds:
//!
//! ```text
//! [8] (s·B − H(R ‖ A ‖ M)·A − R) = 0
//! ```
//!
//! Every signature made by RFC 8032 signing passes, and so does everything
//! `verify_strict` accepts. What `verify_strict` refuses and this accepts is a signature
//! whose `R` differs from a valid one by a small-order point: only the key's holder can
//! make a first valid signature, and the variant signs the same body, so it has the same
//! transaction id and is a duplicate, never a second transaction.
//!
//! **Why not `verify_strict` with `ed25519_dalek::verify_batch`**: batch verification
//! checks the *cofactorless* equation summed with random weights `z[i]`, so a signature
//! whose `R` carries a small-order component passes when its `z[i]` happens to be a
//! multiple of 8 — its verdict would depend on its neighbours in the batch. Nodes batch a
//! block, an auditor batches chunks of many blocks: the two could disagree. Multiplying by
//! the cofactor makes batch and single verification agree exactly (as Zcash's ZIP 215 does).
//!
//! **The batch** ([`verify_batch`]) is dalek's `verify_batch` step for step — the same
//! merlin transcript (so the same `z[i]`), the same checks on `s` and `R` — with two
//! changes: the final check is cofactored, and the coefficients of equal keys are summed
//! before the multiscalar multiplication (`n + k + 1` points for `n` signatures by `k`
//! keys, instead of `2n + 1`: a ledger has a handful of signers, so about half the work).
//! Summing changes the point only by multiples of `ℓ·A`, which are small-order and vanish
//! under the cofactor. If every signature passes [`verify`], the batch passes, always; if
//! one does not, the batch fails except with probability about 2⁻¹²⁸.

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

/// Why a signature or batch did not verify; in a batch, which one is for [`verify`] to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("messages, signatures and keys differ in number")]
    Lengths,
    #[error("a signature's s is not a canonical scalar")]
    ScalarFormat,
    #[error("the verification equation does not hold (or an R is not a curve point)")]
    Verify,
}

fn h(signature: &Signature, key: &VerifyingKey, message: &[u8]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(signature.r_bytes());
    hasher.update(key.as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

fn canonical_s(signature: &Signature) -> Result<Scalar, SignatureError> {
    Option::from(Scalar::from_canonical_bytes(*signature.s_bytes())).ok_or(SignatureError::ScalarFormat)
}

/// One signature, by the ledger's rule (see the module documentation).
pub fn verify(message: &[u8], signature: &Signature, key: &VerifyingKey) -> Result<(), SignatureError> {
    let s = canonical_s(signature)?;
    let r = CompressedEdwardsY(*signature.r_bytes()).decompress().ok_or(SignatureError::Verify)?;
    let k = Scalar::from_bytes_mod_order_wide(&h(signature, key, message));
    let difference = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-k, &key.to_edwards(), &s) - r;
    if difference.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Verify)
    }
}

/// All signatures at once: `Ok` when every one passes [`verify`] (see the module
/// documentation for the exact guarantee).
pub fn verify_batch(messages: &[&[u8]], signatures: &[Signature], keys: &[VerifyingKey]) -> Result<(), SignatureError> {
    if messages.len() != signatures.len() || keys.len() != signatures.len() {
        return Err(SignatureError::Lengths);
    }
    let hrams: Vec<[u8; 64]> =
        signatures.iter().zip(keys).zip(messages).map(|((signature, key), message)| h(signature, key, message)).collect();
    let mut transcript = Transcript::new(b"ed25519 batch verification");
    for hram in &hrams {
        transcript.append_message(b"hram", hram);
    }
    for signature in signatures {
        transcript.append_message(b"sig.s", signature.s_bytes());
    }
    let mut rng = transcript.build_rng().finalize(&mut ZeroRng);

    let s_values = signatures.iter().map(canonical_s).collect::<Result<Vec<Scalar>, SignatureError>>()?;
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
    let sum = EdwardsPoint::optional_multiscalar_mul(scalars, points).ok_or(SignatureError::Verify)?;
    if sum.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Verify)
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

    /// (our batch, dalek's batch); asserts that our batch says what our single checks say.
    fn both(messages: &[Vec<u8>], signatures: &[Signature], keys: &[VerifyingKey]) -> (bool, bool) {
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let ours = verify_batch(&messages, signatures, keys).is_ok();
        let singly = messages.iter().zip(signatures).zip(keys).all(|((message, signature), key)| verify(message, signature, key).is_ok());
        assert_eq!(ours, singly, "the batch and the single checks disagree");
        (ours, ed25519_dalek::verify_batch(&messages, signatures, keys).is_ok())
    }

    /// A signature whose R carries the small-order point `torsion`: only the key's holder
    /// can make one (it needs the secret scalar), as RFC 8032 signing never does.
    fn sign_with_torsion(key: &SigningKey, message: &[u8], torsion: usize) -> Signature {
        let r = Scalar::from(7_777u64 + torsion as u64);
        let big_r = (ED25519_BASEPOINT_POINT * r + curve25519_dalek::constants::EIGHT_TORSION[torsion]).compress();
        let partial = Signature::from_components(big_r.to_bytes(), [0; 32]);
        let k = Scalar::from_bytes_mod_order_wide(&h(&partial, &key.verifying_key(), message));
        Signature::from_components(big_r.to_bytes(), (r + k * key.to_scalar()).to_bytes())
    }

    #[test]
    fn honest_signatures_pass_and_altered_ones_fail_as_with_dalek() {
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
    fn a_signature_with_a_small_order_r_gets_one_verdict_whatever_its_neighbours() {
        let signers = keys(3);
        let crafted: Vec<Signature> = (1..8).map(|torsion| sign_with_torsion(&signers[0], b"crafted", torsion)).collect();
        let key = signers[0].verifying_key();
        for signature in &crafted {
            assert!(key.verify_strict(b"crafted", signature).is_err(), "strict verification refuses it");
            assert_eq!(verify(b"crafted", signature, &key), Ok(()), "the cofactored rule accepts it");
        }
        // Alone, among honest signatures, at every position and with other crafted ones:
        // the batch verdict is always the single verdict (asserted in `both`), here: valid.
        // dalek's cofactorless batch passes such a batch only when every crafted
        // signature's weight happens to be a multiple of 8.
        let mut dalek_refused = 0;
        for neighbours in [0, 1, 5, 40] {
            for position in 0..=neighbours {
                let (mut messages, mut signatures, mut verifying) = batch(neighbours, &signers);
                let torsion = (neighbours + position) % crafted.len();
                messages.insert(position, b"crafted".to_vec());
                signatures.insert(position, crafted[torsion]);
                verifying.insert(position, key);
                let (ours, dalek) = both(&messages, &signatures, &verifying);
                assert!(ours, "{neighbours} neighbours, at {position}");
                dalek_refused += usize::from(!dalek);
            }
        }
        assert!(dalek_refused > 0, "the case this rule exists for: dalek's verdict depends on the neighbours");
        // A crafted signature does not survive another message either.
        assert!(verify(b"other", &crafted[0], &key).is_err());
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
        assert_eq!(verify_batch(&messages[..2], &signatures, &verifying), Err(SignatureError::Lengths));
    }
}
