//! The Certificate Transparency Merkle tree (RFC 6962 §2.1, RFC 9162 §2.1) over SHA-256.
//!
//! The ledger's blocks are leaves of an append-only log; its root is what nodes sign and
//! auditors compare, so every hash here must be bit-for-bit the one any RFC 6962
//! implementation computes (the tests pin this with the published reference vectors;
//! SPEC.md section 8 and `spec/vectors/merkle.json`).
//!
//! - Leaf hash: `SHA-256(0x00 || data)`; interior node: `SHA-256(0x01 || left || right)`.
//!   The distinct prefixes stop a leaf from being passed off as an interior node.
//! - The empty tree's root is `SHA-256("")`.
//! - A tree of `n > 1` leaves splits at `k`, the largest power of two strictly less than
//!   `n`, so the left part is always a perfect subtree. That is what lets [`MerkleLog`]
//!   keep a small *frontier* (the roots of the perfect subtrees covering `[0, len)`, one
//!   per set bit of `len`) and get the current root in `O(log n)` without any cache.
//!
//! Proofs and historical roots ([`MerkleLog::root_at`], [`MerkleLog::inclusion_proof`],
//! [`MerkleLog::consistency_proof`]) are recomputed from the leaves in `O(size)` hashes and
//! no allocation besides the returned proof: they are served rarely, and a memo table would
//! be state that has to be kept consistent and snapshotted.
//!
//! Verification ([`verify_inclusion`], [`verify_consistency`]) follows the RFC 9162
//! §2.1.3.2 / §2.1.4.2 algorithms literally and returns `false`, never panics, on any
//! malformed input: its arguments come from untrusted peers.
//!
//! # Serialised form
//!
//! A [`MerkleLog`] is part of node snapshots. Only the leaf hashes are serialised, as
//! `{"leaves": ["<64 lowercase hex digits>", ...]}`; the frontier is derived data and is
//! rebuilt on deserialisation (`len - 1` hashes). Storing only the leaves means a snapshot
//! cannot carry a frontier that disagrees with its leaves, and hex keeps the form readable
//! and identical in every serde format.
//!
//! Nothing here iterates a hash map, reads a clock or draws randomness: the same leaves give
//! the same roots and proofs everywhere.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Domain-separation prefix of leaf hashes (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior node hashes (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

/// The RFC 6962 hash of one log entry: `SHA-256(0x00 || data)`.
///
/// Callers hash their entry bytes with this before [`MerkleLog::append`], so that the log
/// only ever holds fixed-size leaf hashes.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The RFC 6962 hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")` (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle Tree Hash `MTH(D[n])` of an arbitrary slice of leaf hashes.
///
/// Auditors use it to recompute a root from leaves they hold. It is parallel-friendly:
/// for `n > 1` leaves, `root_of(leaves) == node_hash(&root_of(&leaves[..k]),
/// &root_of(&leaves[k..]))` with `k` the largest power of two below `n`, and the two halves
/// are independent. Costs `n - 1` node hashes and no allocation.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaves.split_at(split_point(leaves.len()));
            node_hash(&root_of(left), &root_of(right))
        }
    }
}

/// The largest power of two strictly less than `n`, for `n >= 2`: where RFC 6962 splits.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2, "only trees of two or more leaves are split");
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// An append-only Merkle log holding leaf hashes; computes roots and proofs for any
/// size `<= len`.
///
/// Besides the leaves it keeps the frontier ("compact range" of `[0, len)`): the roots of
/// the maximal perfect subtrees, left to right, one per set bit of `len`. Appending merges
/// the new leaf into it (amortised one node hash), and [`MerkleLog::root`] folds it in
/// `O(log n)`. See the module documentation for the serialised form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MerkleLogRepr")]
pub struct MerkleLog {
    /// Every leaf hash, in log order. A persistent vector: a clone of the log is `O(1)`
    /// and shares the leaves (readers' views, snapshots).
    #[serde(serialize_with = "hex_hashes::serialize_all")]
    leaves: imbl::Vector<Hash>,
    /// Roots of the perfect subtrees covering `[0, leaves.len())`, largest (leftmost)
    /// first. Derived from `leaves`, hence not serialised.
    #[serde(skip)]
    frontier: Vec<Hash>,
}

impl MerkleLog {
    /// An empty log, whose root is [`empty_root`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let index = self.len();
        self.leaves.push_back(leaf);
        // Each trailing one bit of the old size is a perfect subtree of the same height as
        // the one being carried: merge them, exactly like incrementing a binary counter.
        let mut carry = leaf;
        for _ in 0..index.trailing_ones() {
            let left = self.frontier.pop().expect("frontier holds one subtree root per set bit of len");
            carry = node_hash(&left, &carry);
        }
        self.frontier.push(carry);
        index
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Whether the log has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The leaf hash at `index`, if it exists.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        usize::try_from(index).ok().and_then(|i| self.leaves.get(i)).copied()
    }

    /// The root of the whole log, in `O(log n)` from the frontier.
    pub fn root(&self) -> Hash {
        fold_frontier(&self.frontier)
    }

    /// The roots at several sizes (ascending, each `<= len`) in one pass over the leaves:
    /// `O(len + sizes × log len)`, where [`MerkleLog::root_at`] is `O(size)` per size. `None`
    /// if the sizes are not ascending or one is above `len`. Used to check every
    /// certified root a snapshot claims against its leaves.
    pub fn roots_at(&self, sizes: &[u64]) -> Option<Vec<Hash>> {
        if !sizes.windows(2).all(|pair| pair[0] <= pair[1]) || sizes.last().is_some_and(|&last| last > self.len()) {
            return None;
        }
        let mut roots = Vec::with_capacity(sizes.len());
        let mut wanted = sizes.iter().peekable();
        let mut frontier = Vec::new();
        for (count, leaf) in (0u64..).zip(self.leaves.iter()) {
            while wanted.next_if(|&&size| size == count).is_some() {
                roots.push(fold_frontier(&frontier));
            }
            if wanted.peek().is_none() {
                break;
            }
            // As in `append`.
            let mut carry = *leaf;
            for _ in 0..count.trailing_ones() {
                let left = frontier.pop().expect("frontier holds one subtree root per set bit of len");
                carry = node_hash(&left, &carry);
            }
            frontier.push(carry);
        }
        // Sizes equal to `len` (the loop ends before it sees them).
        for _ in wanted {
            roots.push(self.root());
        }
        debug_assert_eq!(roots.len(), sizes.len());
        Some(roots)
    }

    /// The root of the first `size` leaves, or `None` if `size > len`.
    ///
    /// `O(1)`-ish for `size == len` (via [`MerkleLog::root`]), `O(size)` otherwise.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size == self.len() {
            return Some(self.root());
        }
        self.prefix(size).map(|leaves| root_of(&leaves))
    }

    /// The RFC 6962 §2.1.1 audit path `PATH(index, D[size])`, from the leaf's sibling up to
    /// the root's child, or `None` unless `index < size <= len`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        let leaves = self.prefix(size)?;
        let index = usize::try_from(index).ok().filter(|&i| i < leaves.len())?;
        let mut proof = Vec::with_capacity(proof_capacity(leaves.len()));
        audit_path(index, &leaves, &mut proof);
        Some(proof)
    }

    /// The RFC 6962 §2.1.2 consistency proof `PROOF(old_size, D[new_size])`, or `None`
    /// unless `old_size <= new_size <= len`.
    ///
    /// The proof is empty when `old_size == 0` or `old_size == new_size` (RFC 9162
    /// §2.1.4.1): nothing needs proving.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Option<Vec<Hash>> {
        let leaves = self.prefix(new_size)?;
        if old_size > new_size {
            return None;
        }
        let mut proof = Vec::new();
        if old_size == 0 || old_size == new_size {
            return Some(proof);
        }
        // old_size < new_size <= leaves.len(), so it fits in usize.
        let old_size = old_size as usize;
        proof.reserve_exact(proof_capacity(leaves.len()) + 1);
        subproof(old_size, &leaves, true, &mut proof);
        Some(proof)
    }

    /// A copy of the first `size` leaves, or `None` if `size > len`: the proofs that use
    /// it are `O(size)` hashes anyway.
    fn prefix(&self, size: u64) -> Option<Vec<Hash>> {
        let size = usize::try_from(size).ok().filter(|&size| size <= self.leaves.len())?;
        Some(self.leaves.iter().take(size).copied().collect())
    }
}

/// An upper bound on a proof's length for a tree of `n` leaves: its height `ceil(log2 n)`.
fn proof_capacity(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

/// Appends `PATH(m, D[n])` (RFC 6962 §2.1.1) to `out`, for `m < leaves.len()`.
fn audit_path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    let (left, right) = leaves.split_at(k);
    if m < k {
        audit_path(m, left, out);
        out.push(root_of(right));
    } else {
        audit_path(m - k, right, out);
        out.push(root_of(left));
    }
}

/// Appends `SUBPROOF(m, D[n], b)` (RFC 6962 §2.1.2) to `out`, for `0 < m <= leaves.len()`.
///
/// `complete` (the RFC's `b`) says whether `D[0:m]` is the old tree itself, whose root the
/// verifier already has; otherwise that subtree's root must be part of the proof.
fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root_of(leaves));
        }
        return;
    }
    let k = split_point(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, complete, out);
        out.push(root_of(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root_of(left));
    }
}

/// The root of the tree a frontier covers. The rightmost subtree is the smallest; RFC
/// 6962's split makes every left part a perfect subtree, so the root is the right fold of
/// the frontier.
fn fold_frontier(frontier: &[Hash]) -> Hash {
    let mut subtrees = frontier.iter().rev();
    match subtrees.next() {
        None => empty_root(),
        Some(last) => subtrees.fold(*last, |right, left| node_hash(left, &right)),
    }
}

/// The frontier of `leaves`: roots of the perfect subtrees covering them, largest first.
fn frontier_of(leaves: &[Hash]) -> Vec<Hash> {
    let mut frontier = Vec::with_capacity(leaves.len().count_ones() as usize);
    let mut rest = leaves;
    while !rest.is_empty() {
        // The largest power of two not above the remaining count.
        let size = 1 << (usize::BITS - 1 - rest.len().leading_zeros());
        let (subtree, tail) = rest.split_at(size);
        frontier.push(root_of(subtree));
        rest = tail;
    }
    frontier
}

/// Verifies that `leaf` is the leaf at `index` in the tree of `size` leaves whose root is
/// `root`, using the RFC 9162 §2.1.3.2 algorithm.
///
/// Returns `false` for `index >= size` (so always for `size == 0`), a proof of the wrong
/// length, or any mismatch.
#[must_use]
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            // The proof is longer than the path to the root.
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Skip the levels where this node is the last one and has no right sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, using the RFC 9162 §2.1.4.2 algorithm.
///
/// Degenerate cases, where the proof must be empty:
/// - `old_size == new_size`: true iff the roots are equal.
/// - `old_size == 0`: every tree extends the empty one, but only the genuine empty root is
///   accepted as `old_root` (and, if `new_size == 0`, as `new_root`), so that a verifier
///   never records a bogus root for size 0. (Google's reference verifiers accept any root
///   here; this is deliberately stricter.)
///
/// Returns `false` for `old_size > new_size`, a proof of the wrong length, or any mismatch.
#[must_use]
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root() && (new_size != 0 || new_root == old_root);
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // Now 0 < old_size < new_size.
    let mut path = proof.iter();
    // When the old tree is perfect its root is a node of the new tree and the proof omits
    // it: the RFC prepends `first_hash`. Otherwise the proof starts with the hash of the
    // largest old subtree the new tree shares, and an empty proof fails.
    let seed = if old_size.is_power_of_two() {
        *old_root
    } else {
        match path.next() {
            Some(first) => *first,
            None => return false,
        }
    };
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

/// What a [`MerkleLog`] deserialises from: just the leaves; the frontier is rebuilt.
#[derive(Deserialize)]
struct MerkleLogRepr {
    #[serde(with = "hex_hashes")]
    leaves: Vec<Hash>,
}

impl From<MerkleLogRepr> for MerkleLog {
    fn from(repr: MerkleLogRepr) -> Self {
        let frontier = frontier_of(&repr.leaves);
        MerkleLog { leaves: repr.leaves.into_iter().collect(), frontier }
    }
}

/// Serde for a list of hashes as lowercase hex strings, without a heap allocation per hash.
mod hex_hashes {
    use super::Hash;
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::{self, Serializer};
    use serde::{Deserialize, Serialize};
    use std::fmt;

    pub fn serialize_all<S: Serializer>(hashes: &imbl::Vector<Hash>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(HexRef))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let hashes = Vec::<HexHash>::deserialize(deserializer)?;
        Ok(hashes.into_iter().map(|HexHash(hash)| hash).collect())
    }

    /// Serialises one hash as 64 lowercase hex digits.
    struct HexRef<'a>(&'a Hash);

    impl Serialize for HexRef<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if !serializer.is_human_readable() {
                // Binary forms (the snapshot) keep the 32 bytes.
                return serializer.serialize_bytes(self.0);
            }
            let mut buf = [0u8; 64];
            hex::encode_to_slice(self.0, &mut buf).map_err(ser::Error::custom)?;
            let text = std::str::from_utf8(&buf).map_err(ser::Error::custom)?;
            serializer.serialize_str(text)
        }
    }

    /// Deserialises one hash from exactly 64 hex digits.
    struct HexHash(Hash);

    impl<'de> Deserialize<'de> for HexHash {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            if !deserializer.is_human_readable() {
                return deserializer.deserialize_bytes(HexHashVisitor);
            }
            deserializer.deserialize_str(HexHashVisitor)
        }
    }

    struct HexHashVisitor;

    impl Visitor<'_> for HexHashVisitor {
        type Value = HexHash;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a SHA-256 hash as 64 hex digits")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<HexHash, E> {
            let hash: [u8; 32] = bytes.try_into().map_err(|_| E::invalid_length(bytes.len(), &"32 bytes"))?;
            Ok(HexHash(hash))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<HexHash, E> {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash).map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))?;
            Ok(HexHash(hash))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(hex_text: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut out).expect("test vector is 32 bytes of hex");
        out
    }

    fn hs(hex_texts: &[&str]) -> Vec<Hash> {
        hex_texts.iter().map(|t| h(t)).collect()
    }

    // ---- Reference vectors -------------------------------------------------------------
    //
    // Copied verbatim from transparency-dev/merkle:
    //   testonly/constants.go  (LeafInputs, NodeHashes, RootHashes, CompactTrees,
    //                           EmptyRootHash)
    //   proof/verify_test.go   (inclusionProofs, consistencyProofs)
    // The same values appear in google/certificate-transparency
    //   cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots, kSHA256Paths,
    //                                       kSHA256Proofs, kSHA256EmptyTreeHash).

    /// LeafInputs(): the entry bytes, as hex.
    const LEAF_INPUTS: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    /// EmptyRootHash().
    const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// RootHashes()[1..]: the root after each of the 8 appends.
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// NodeHashes(): every perfect subtree of the 8-leaf tree, by level then position.
    const NODE_HASHES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// CompactTrees(): the frontier after each size 0..=8, as (level, index) into
    /// NODE_HASHES.
    const COMPACT_TREES: [&[(usize, usize)]; 9] = [
        &[],
        &[(0, 0)],
        &[(1, 0)],
        &[(1, 0), (0, 2)],
        &[(2, 0)],
        &[(2, 0), (0, 4)],
        &[(2, 0), (1, 2)],
        &[(2, 0), (1, 2), (0, 6)],
        &[(3, 0)],
    ];

    /// inclusionProofs (minus the invalid {0, 0} entry): (1-based leaf, size, path).
    const INCLUSION_PROOFS: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (3, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// consistencyProofs: (old size, new size, proof).
    const CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// A hash unrelated to the reference tree (`sha256SomeHash` in verify_test.go).
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    fn reference_leaves() -> Vec<Hash> {
        LEAF_INPUTS.iter().map(|input| leaf_hash(&hex::decode(input).expect("hex input"))).collect()
    }

    fn reference_log() -> MerkleLog {
        let mut log = MerkleLog::new();
        for leaf in reference_leaves() {
            log.append(leaf);
        }
        log
    }

    fn root_for(size: u64) -> Hash {
        match size {
            0 => h(EMPTY_ROOT),
            n => h(ROOTS[n as usize - 1]),
        }
    }

    fn with(proof: &[Hash], front: &[Hash], back: &[Hash]) -> Vec<Hash> {
        front.iter().chain(proof).chain(back).copied().collect()
    }

    #[test]
    fn empty_tree() {
        assert_eq!(empty_root(), h(EMPTY_ROOT));
        let log = MerkleLog::new();
        assert!(log.is_empty());
        assert_eq!(log.len(), 0);
        assert_eq!(log.root(), h(EMPTY_ROOT));
        assert_eq!(log.root_at(0), Some(h(EMPTY_ROOT)));
        assert_eq!(log.root_at(1), None);
        assert_eq!(root_of(&[]), h(EMPTY_ROOT));
        assert_eq!(log.leaf(0), None);
        assert_eq!(log.inclusion_proof(0, 0), None);
        assert_eq!(log.consistency_proof(0, 0), Some(vec![]));
    }

    #[test]
    fn reference_leaf_and_node_hashes() {
        let leaves = reference_leaves();
        for (level, hashes) in NODE_HASHES.iter().enumerate() {
            let width = 1 << level;
            for (i, expected) in hashes.iter().enumerate() {
                let subtree = &leaves[i * width..(i + 1) * width];
                assert_eq!(root_of(subtree), h(expected), "level {level} node {i}");
            }
        }
        assert_eq!(node_hash(&h(NODE_HASHES[0][0]), &h(NODE_HASHES[0][1])), h(NODE_HASHES[1][0]));
    }

    #[test]
    fn reference_roots_incremental() {
        let leaves = reference_leaves();
        let mut log = MerkleLog::new();
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(log.append(*leaf), i as u64);
            let size = i as u64 + 1;
            assert_eq!(log.len(), size);
            assert_eq!(log.leaf(i as u64), Some(*leaf));
            assert_eq!(log.root(), root_for(size), "root() at size {size}");
            assert_eq!(root_of(&leaves[..=i]), root_for(size));
            for s in 0..=size {
                assert_eq!(log.root_at(s), Some(root_for(s)), "root_at({s})");
            }
            assert_eq!(log.root_at(size + 1), None);
        }
    }

    #[test]
    fn reference_frontiers() {
        let leaves = reference_leaves();
        let mut log = MerkleLog::new();
        for (size, expected) in COMPACT_TREES.iter().enumerate() {
            let expected: Vec<Hash> = expected.iter().map(|&(level, i)| h(NODE_HASHES[level][i])).collect();
            assert_eq!(log.frontier, expected, "frontier at size {size}");
            assert_eq!(frontier_of(&leaves[..size]), expected);
            if size < leaves.len() {
                log.append(leaves[size]);
            }
        }
    }

    #[test]
    fn reference_inclusion_proofs() {
        let log = reference_log();
        let leaves = reference_leaves();
        let some = h(SOME_HASH);
        for &(leaf, size, path) in &INCLUSION_PROOFS {
            let index = leaf - 1;
            let proof = hs(path);
            let root = root_for(size);
            let leaf = leaves[index as usize];
            assert_eq!(log.inclusion_proof(index, size), Some(proof.clone()));
            assert!(verify_inclusion(&leaf, index, size, &proof, &root));

            // The corruptions of verify_test.go's corruptInclusionProof.
            let bad_index = [index.wrapping_sub(1), index + 1, index ^ 2];
            for i in bad_index {
                assert!(!verify_inclusion(&leaf, i, size, &proof, &root), "index {i}");
            }
            for s in [size * 2, size / 2] {
                assert!(!verify_inclusion(&leaf, index, s, &proof, &root), "size {s}");
            }
            assert!(!verify_inclusion(&leaf_hash(b"WrongLeaf"), index, size, &proof, &root));
            assert!(!verify_inclusion(&leaf, index, size, &proof, &h(EMPTY_ROOT)));
            assert!(!verify_inclusion(&leaf, index, size, &proof, &some));
            for extra in [[0u8; 32], root] {
                let longer = with(&proof, &[], &[extra]);
                assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
                let longer = with(&proof, &[extra], &[]);
                assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
            }
            for i in 0..proof.len() {
                let mut wrong = proof.clone();
                wrong[i][0] ^= 8;
                assert!(!verify_inclusion(&leaf, index, size, &wrong, &root));
            }
            if let Some((_, shorter)) = proof.split_last() {
                assert!(!verify_inclusion(&leaf, index, size, shorter, &root));
            }
            if proof.len() > 1 {
                let inserted = with(&proof[1..], &[proof[0], some], &[]);
                assert!(!verify_inclusion(&leaf, index, size, &inserted, &root));
            }
        }
    }

    #[test]
    fn reference_consistency_proofs() {
        let log = reference_log();
        for &(old, new, path) in &CONSISTENCY_PROOFS {
            let proof = hs(path);
            let (old_root, new_root) = (root_for(old), root_for(new));
            assert_eq!(log.consistency_proof(old, new), Some(proof.clone()));
            assert!(verify_consistency(old, new, &old_root, &new_root, &proof));
            if proof.is_empty() {
                continue;
            }

            // The corruptions of verify_test.go's corruptConsistencyProof.
            for o in [old - 1, old + 1, old ^ 2] {
                assert!(!verify_consistency(o, new, &old_root, &new_root, &proof));
            }
            for n in [new * 2, new / 2] {
                assert!(!verify_consistency(old, n, &old_root, &new_root, &proof));
            }
            let wrong = leaf_hash(b"WrongRoot");
            assert!(!verify_consistency(old, new, &wrong, &new_root, &proof));
            assert!(!verify_consistency(old, new, &old_root, &wrong, &proof));
            assert!(!verify_consistency(old, new, &new_root, &old_root, &proof));
            assert!(!verify_consistency(old, new, &old_root, &new_root, &[]));
            for extra in [[0u8; 32], old_root, new_root, proof[0]] {
                let longer = with(&proof, &[], &[extra]);
                assert!(!verify_consistency(old, new, &old_root, &new_root, &longer));
                let longer = with(&proof, &[extra], &[]);
                assert!(!verify_consistency(old, new, &old_root, &new_root, &longer));
            }
            let shorter = &proof[..proof.len() - 1];
            assert!(!verify_consistency(old, new, &old_root, &new_root, shorter));
            for i in 0..proof.len() {
                let mut wrong = proof.clone();
                wrong[i][0] ^= 16;
                assert!(!verify_consistency(old, new, &old_root, &new_root, &wrong));
            }
        }
    }

    #[test]
    fn verify_inclusion_degenerate() {
        let some = h(SOME_HASH);
        let empty = h(EMPTY_ROOT);
        for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1), (u64::MAX, u64::MAX)] {
            assert!(!verify_inclusion(&some, index, size, &[], &empty));
            assert!(!verify_inclusion(&empty, index, size, &[], &some));
        }
        // A one-leaf tree: the root is the leaf hash, the proof is empty.
        let leaf = leaf_hash(b"data");
        assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf));
        assert!(!verify_inclusion(&leaf, 0, 1, &[leaf], &node_hash(&leaf, &leaf)));
        // Huge sizes must not overflow or panic.
        assert!(!verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &[leaf; 70], &leaf));
    }

    #[test]
    fn verify_consistency_degenerate() {
        let empty = h(EMPTY_ROOT);
        let (r1, r2) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
        // Time travel to the past.
        assert!(!verify_consistency(1, 0, &r1, &r2, &[]));
        assert!(!verify_consistency(2, 1, &r1, &r2, &[]));
        assert!(!verify_consistency(2, 1, &r1, &r1, &[]));
        // Equal sizes: empty proof, equal roots.
        assert!(verify_consistency(1, 1, &r2, &r2, &[]));
        assert!(!verify_consistency(1, 1, &r1, &r2, &[]));
        assert!(!verify_consistency(1, 1, &empty, &r2, &[]));
        assert!(!verify_consistency(1, 1, &empty, &empty, &[empty]));
        // From the empty tree: only the genuine empty root, only an empty proof.
        assert!(verify_consistency(0, 0, &empty, &empty, &[]));
        assert!(verify_consistency(0, 1, &empty, &r2, &[]));
        assert!(!verify_consistency(0, 0, &r1, &r1, &[]));
        assert!(!verify_consistency(0, 0, &empty, &r2, &[]));
        assert!(!verify_consistency(0, 1, &r1, &r2, &[]));
        assert!(!verify_consistency(0, 0, &empty, &empty, &[empty]));
        assert!(!verify_consistency(0, 1, &empty, &empty, &[empty]));
        // A real extension needs a proof.
        assert!(!verify_consistency(1, 2, &r1, &r2, &[]));
        assert!(!verify_consistency(3, 4, &r1, &r2, &[]));
        // Huge sizes must not overflow or panic.
        let long = [r1; 130];
        assert!(!verify_consistency(u64::MAX - 1, u64::MAX, &r1, &r2, &long));
        assert!(!verify_consistency(1, u64::MAX, &r1, &r2, &long));
    }

    #[test]
    fn proofs_out_of_range() {
        let log = reference_log();
        assert_eq!(log.inclusion_proof(8, 8), None);
        assert_eq!(log.inclusion_proof(0, 9), None);
        assert_eq!(log.inclusion_proof(3, 3), None);
        assert_eq!(log.inclusion_proof(u64::MAX, u64::MAX), None);
        assert_eq!(log.consistency_proof(3, 2), None);
        assert_eq!(log.consistency_proof(1, 9), None);
        assert_eq!(log.consistency_proof(0, 8), Some(vec![]));
        assert_eq!(log.consistency_proof(5, 5), Some(vec![]));
        assert_eq!(log.root_at(9), None);
        assert_eq!(log.root_at(u64::MAX), None);
        assert_eq!(log.leaf(8), None);
        assert_eq!(log.leaf(u64::MAX), None);
    }

    #[test]
    fn serde_round_trip_rebuilds_frontier() {
        let log = reference_log();
        let json = serde_json::to_string(&log).expect("serialise");
        let first = format!("{{\"leaves\":[\"{}\",", NODE_HASHES[0][0]);
        assert!(json.starts_with(&first), "{json}");
        assert!(!json.contains("frontier"));
        let back: MerkleLog = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, log);
        assert_eq!(back.root(), h(ROOTS[7]));

        let empty: MerkleLog = serde_json::from_str("{\"leaves\":[]}").expect("empty");
        assert_eq!(empty, MerkleLog::new());
        // Upper-case hex decodes to the same bytes and re-serialises canonically.
        let upper = format!("{{\"leaves\":[\"{}\"]}}", NODE_HASHES[0][1].to_uppercase());
        let one: MerkleLog = serde_json::from_str(&upper).expect("upper case");
        assert_eq!(one.root(), h(NODE_HASHES[0][1]));

        for bad in [
            "{\"leaves\":[\"00\"]}".to_owned(),
            format!("{{\"leaves\":[\"{}00\"]}}", NODE_HASHES[0][0]),
            format!("{{\"leaves\":[\"{}\"]}}", &SOME_HASH.replace('a', "g")),
            "{\"leaves\":[[0,1]]}".to_owned(),
            "{}".to_owned(),
        ] {
            assert!(serde_json::from_str::<MerkleLog>(&bad).is_err(), "{bad}");
        }
    }

    /// Every proof of every pair of sizes up to 48 verifies, against roots computed
    /// independently by `root_of` over the prefix.
    #[test]
    fn exhaustive_small_trees() {
        let mut log = MerkleLog::new();
        let mut roots = vec![empty_root()];
        for i in 0..48u64 {
            log.append(leaf_hash(&i.to_be_bytes()));
            roots.push(log.root());
        }
        let leaves: Vec<Hash> = (0..log.len()).filter_map(|i| log.leaf(i)).collect();
        for size in 0..=log.len() {
            let root = roots[size as usize];
            assert_eq!(root, root_of(&leaves[..size as usize]));
            for index in 0..size {
                let proof = log.inclusion_proof(index, size).expect("in range");
                assert!(proof.len() <= proof_capacity(size as usize));
                assert!(verify_inclusion(&leaves[index as usize], index, size, &proof, &root));
                for other in 0..size {
                    let ok = verify_inclusion(&leaves[index as usize], other, size, &proof, &root);
                    assert_eq!(ok, other == index, "index {index} as {other} in {size}");
                }
            }
            for old in 0..=size {
                let proof = log.consistency_proof(old, size).expect("in range");
                assert!(verify_consistency(old, size, &roots[old as usize], &root, &proof));
            }
        }
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[(bit / 8) % 32] ^= 1 << (bit % 8);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn proofs_verify_and_bit_flips_fail(
            seed in any::<u64>(),
            size in 0u64..=200,
            pick in any::<u64>(),
            bit in 0usize..256,
        ) {
            let mut log = MerkleLog::new();
            let mut roots = vec![log.root()];
            for i in 0..size {
                let mut data = seed.to_le_bytes().to_vec();
                data.extend_from_slice(&i.to_le_bytes());
                prop_assert_eq!(log.append(leaf_hash(&data)), i);
                roots.push(log.root());
            }
            let leaves: Vec<Hash> = (0..size).filter_map(|i| log.leaf(i)).collect();
            prop_assert_eq!(log.root(), root_of(&leaves));
            prop_assert_eq!(Some(log.root()), log.root_at(size));
            let sizes: Vec<u64> = (0..=size).filter(|at| at % 3 == 0 || *at == size).collect();
            let expected: Vec<Hash> = sizes.iter().map(|&at| roots[at as usize]).collect();
            prop_assert_eq!(log.roots_at(&sizes), Some(expected));
            prop_assert_eq!(log.roots_at(&[size + 1]), None);
            let serialised = serde_json::to_string(&log).expect("serialise");
            let back: MerkleLog = serde_json::from_str(&serialised).expect("deserialise");
            prop_assert_eq!(&back, &log);

            // Every inclusion proof into the full tree, every consistency proof to it.
            let root = log.root();
            for index in 0..size {
                let proof = log.inclusion_proof(index, size).expect("in range");
                prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &proof, &root));
            }
            for old in 0..=size {
                let old_root = log.root_at(old).expect("in range");
                prop_assert_eq!(old_root, roots[old as usize]);
                let proof = log.consistency_proof(old, size).expect("in range");
                prop_assert!(verify_consistency(old, size, &old_root, &root, &proof));
            }

            // One random pair each, then a single flipped bit anywhere must fail.
            if size > 0 {
                let at = 1 + pick % size;
                let index = (pick >> 32) % at;
                let (leaf, root) = (leaves[index as usize], roots[at as usize]);
                let proof = log.inclusion_proof(index, at).expect("in range");
                prop_assert!(verify_inclusion(&leaf, index, at, &proof, &root));
                prop_assert!(!verify_inclusion(&flip(&leaf, bit), index, at, &proof, &root));
                prop_assert!(!verify_inclusion(&leaf, index, at, &proof, &flip(&root, bit)));
                for i in 0..proof.len() {
                    let mut wrong = proof.clone();
                    wrong[i] = flip(&wrong[i], bit);
                    prop_assert!(!verify_inclusion(&leaf, index, at, &wrong, &root));
                }

                let old = (pick >> 32) % (at + 1);
                let (old_root, new_root) = (roots[old as usize], roots[at as usize]);
                let proof = log.consistency_proof(old, at).expect("in range");
                prop_assert!(verify_consistency(old, at, &old_root, &new_root, &proof));
                prop_assert!(!verify_consistency(old, at, &flip(&old_root, bit), &new_root, &proof));
                if old > 0 {
                    prop_assert!(!verify_consistency(old, at, &old_root, &flip(&new_root, bit), &proof));
                }
                for i in 0..proof.len() {
                    let mut wrong = proof.clone();
                    wrong[i] = flip(&wrong[i], bit);
                    prop_assert!(!verify_consistency(old, at, &old_root, &new_root, &wrong));
                }
            }
        }
    }
}
