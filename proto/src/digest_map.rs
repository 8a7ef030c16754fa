//! `DigestedMap`: an ordered map whose digest costs what changed, not what it holds.
//!
//! The state digest that every checkpoint signs used to hash the canonical encoding of the
//! whole state after every block: at 40k leaves that was 90 % of a leader's time. Each map
//! of the state is now a `DigestedMap`, whose root is defined so that it can be kept up to
//! date from the entries a block touched:
//!
//! - for each entry, `key_hash = SHA-256(canonical(key))` and
//!   `value_hash = SHA-256(canonical(value))` ([`crate::canonical`]);
//! - the entry falls in bucket `b` = the first [`BUCKET_BITS`] (12) bits of its `key_hash`,
//!   read big-endian (`key_hash[0] << 4 | key_hash[1] >> 4`), one of 4096 buckets;
//! - a bucket's leaf is `SHA-256(0x00 ‖ key_hash₁ ‖ value_hash₁ ‖ key_hash₂ ‖ …)` over its
//!   entries in ascending `key_hash` order (an empty bucket's leaf is `SHA-256(0x00)`);
//! - the root is the perfect binary Merkle tree over the 4096 leaves in bucket order, each
//!   inner node `SHA-256(0x01 ‖ left ‖ right)`.
//!
//! (SPEC.md section 10.3 is the normative statement; `spec/vectors/state-digests.json`
//! has worked maps.) So the root depends on the entries only, never on the order of changes, and an auditor
//! recomputes it from the map alone ([`DigestedMap::root_from_scratch`]). Keeping it up to
//! date: every mutation goes through a method here that notes the key (there is no
//! `DerefMut`, so the compiler finds any mutation that would not), and [`DigestedMap::root`]
//! rehashes only the noted entries, their buckets and those buckets' paths to the root:
//! `O(changes × (entry + bucket + 12 hashes))`.
//!
//! The map is an `imbl::OrdMap` (a persistent B-tree): cloning it is `O(1)` and a clone
//! shares everything unchanged, which is how a node hands readers and snapshots a view of
//! the ledger without blocking applies. The cached hashes stay with the original.

use std::borrow::Borrow;

use imbl::OrdMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Bits of the key hash that choose an entry's bucket.
pub const BUCKET_BITS: u32 = 12;
const BUCKETS: usize = 1 << BUCKET_BITS;
/// Nodes of the tree, heap order: the root at 0, node `i`'s children at `2i + 1` and
/// `2i + 2`, bucket `b`'s leaf at `BUCKETS - 1 + b`.
const NODES: usize = 2 * BUCKETS - 1;

type Hash = [u8; 32];

/// The hashes of a key and a value, as the root defines them.
fn hash_of<T: Serialize + ?Sized>(value: &T) -> Hash {
    crate::canonical::digest(value).expect("every key and value of the state has a canonical encoding")
}

fn bucket_of(key_hash: &Hash) -> usize {
    (usize::from(key_hash[0]) << 4) | (usize::from(key_hash[1]) >> 4)
}

fn inner(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of a map with no entries (every leaf `SHA-256(0x00)`).
pub fn empty_root() -> Hash {
    let mut node: Hash = Sha256::digest([0x00]).into();
    for _ in 0..BUCKET_BITS {
        node = inner(&node, &node);
    }
    node
}

/// The entry hashes by key hash, and the tree over their buckets.
#[derive(Clone)]
struct Cache {
    entries: OrdMap<Hash, Hash>,
    tree: Vec<Hash>,
}

impl Cache {
    fn build<'a, K: Serialize + 'a, V: Serialize + 'a>(map: impl Iterator<Item = (&'a K, &'a V)>) -> Cache {
        let entries: OrdMap<Hash, Hash> = map.map(|(key, value)| (hash_of(key), hash_of(value))).collect();
        let mut cache = Cache { entries, tree: vec![[0; 32]; NODES] };
        let mut empty: Hash = Sha256::digest([0x00]).into();
        for bucket in 0..BUCKETS {
            cache.tree[BUCKETS - 1 + bucket] = empty;
        }
        let mut touched: Vec<usize> = Vec::new();
        for key_hash in cache.entries.keys() {
            let bucket = bucket_of(key_hash);
            if touched.last() != Some(&bucket) {
                touched.push(bucket);
            }
        }
        for &bucket in &touched {
            cache.tree[BUCKETS - 1 + bucket] = cache.leaf(bucket);
        }
        // Inner nodes level by level; a node over two empty subtrees is the empty subtree's.
        let mut first = BUCKETS - 1;
        while first > 0 {
            let parent_first = (first - 1) / 2;
            let empty_parent = inner(&empty, &empty);
            for parent in parent_first..first {
                let (left, right) = (cache.tree[2 * parent + 1], cache.tree[2 * parent + 2]);
                cache.tree[parent] = if left == empty && right == empty { empty_parent } else { inner(&left, &right) };
            }
            empty = empty_parent;
            first = parent_first;
        }
        cache
    }

    fn leaf(&self, bucket: usize) -> Hash {
        let mut low = [0u8; 32];
        low[0] = (bucket >> 4) as u8;
        low[1] = ((bucket & 0x0f) << 4) as u8;
        let mut high = [0xffu8; 32];
        high[0] = low[0];
        high[1] = low[1] | 0x0f;
        let mut hasher = Sha256::new();
        hasher.update([0x00]);
        for (key_hash, value_hash) in self.entries.range(low..=high) {
            hasher.update(key_hash);
            hasher.update(value_hash);
        }
        hasher.finalize().into()
    }

    /// Recomputes the given buckets' leaves and every node above them.
    fn update(&mut self, mut buckets: Vec<usize>) {
        buckets.sort_unstable();
        buckets.dedup();
        let mut nodes: Vec<usize> = buckets.iter().map(|&bucket| BUCKETS - 1 + bucket).collect();
        for (&bucket, &node) in buckets.iter().zip(&nodes) {
            self.tree[node] = self.leaf(bucket);
        }
        while nodes != [0] {
            for node in nodes.iter_mut() {
                *node = (*node - 1) / 2;
            }
            nodes.dedup();
            for &node in &nodes {
                self.tree[node] = inner(&self.tree[2 * node + 1], &self.tree[2 * node + 2]);
            }
        }
    }
}

/// An ordered map with an incrementally maintained root; see the module documentation.
/// Reads go through `Deref` to the `imbl::OrdMap`; writes only through the methods here.
///
/// A clone shares the map (`O(1)`) but not the cached hashes: the one copy that is
/// written to and digested (a node's working ledger) keeps them to itself, so updating
/// them never copies them, and a clone that is digested later rebuilds them once.
pub struct DigestedMap<K: Ord + Clone, V: Clone> {
    map: OrdMap<K, V>,
    /// Keys changed since the cache was last brought up to date (repeats allowed).
    dirty: Vec<K>,
    cache: Option<Box<Cache>>,
}

impl<K: Ord + Clone, V: Clone> Clone for DigestedMap<K, V> {
    fn clone(&self) -> Self {
        DigestedMap { map: self.map.clone(), dirty: Vec::new(), cache: None }
    }
}

impl<K: Ord + Clone, V: Clone> Default for DigestedMap<K, V> {
    fn default() -> Self {
        DigestedMap { map: OrdMap::new(), dirty: Vec::new(), cache: None }
    }
}

impl<K: Ord + Clone, V: Clone> std::ops::Deref for DigestedMap<K, V> {
    type Target = OrdMap<K, V>;

    fn deref(&self) -> &OrdMap<K, V> {
        &self.map
    }
}

impl<K: Ord + Clone + Serialize, V: Clone + Serialize> DigestedMap<K, V> {
    /// A mutable reference to a value; the key is noted as changed.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + ToOwned<Owned = K>,
    {
        if !self.map.contains_key(key) {
            return None;
        }
        self.dirty.push(key.to_owned());
        self.map.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.dirty.push(key.clone());
        self.map.insert(key, value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized + ToOwned<Owned = K>,
    {
        let removed = self.map.remove(key)?;
        self.dirty.push(key.to_owned());
        Some(removed)
    }

    /// Keeps only the entries `keep` accepts; the removed keys are noted.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let removed: Vec<K> = self.map.iter().filter(|(key, value)| !keep(key, value)).map(|(key, _)| key.clone()).collect();
        for key in removed {
            self.map.remove(&key);
            self.dirty.push(key);
        }
    }

    /// The value under `key`, inserted by `make` if there is none; the key is noted.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.dirty.push(key.clone());
        self.map.entry(key).or_insert_with(make)
    }

    /// The root, brought up to date with the changes since the last call.
    pub fn root(&mut self) -> Hash {
        let Some(cache) = &mut self.cache else {
            self.dirty.clear();
            let cache = Cache::build(self.map.iter());
            let root = cache.tree[0];
            self.cache = Some(Box::new(cache));
            return root;
        };
        if !self.dirty.is_empty() {
            let mut buckets = Vec::with_capacity(self.dirty.len());
            for key in self.dirty.drain(..) {
                let key_hash = hash_of(&key);
                match self.map.get(&key) {
                    Some(value) => cache.entries.insert(key_hash, hash_of(value)),
                    None => cache.entries.remove(&key_hash),
                };
                buckets.push(bucket_of(&key_hash));
            }
            cache.update(buckets);
        }
        cache.tree[0]
    }

    /// The root computed from the entries alone, ignoring every cached hash: what an
    /// auditor computes. Equal to [`DigestedMap::root`] (checked by property tests).
    pub fn root_from_scratch(&self) -> Hash {
        let mut entries: Vec<(Hash, Hash)> = self.map.iter().map(|(key, value)| (hash_of(key), hash_of(value))).collect();
        entries.sort_unstable();
        // The non-empty buckets' leaves, then level by level up, pairing a lone node with
        // the empty subtree of its level: O(entries + non-empty buckets × 12).
        let mut nodes: Vec<(usize, Hash)> = Vec::new();
        for bucket in entries.chunk_by(|left, right| bucket_of(&left.0) == bucket_of(&right.0)) {
            let mut hasher = Sha256::new();
            hasher.update([0x00]);
            for (key_hash, value_hash) in bucket {
                hasher.update(key_hash);
                hasher.update(value_hash);
            }
            nodes.push((bucket_of(&bucket[0].0), hasher.finalize().into()));
        }
        let mut empty: Hash = Sha256::digest([0x00]).into();
        for _ in 0..BUCKET_BITS {
            let mut parents: Vec<(usize, Hash)> = Vec::with_capacity(nodes.len());
            for pair in nodes.chunk_by(|left, right| left.0 / 2 == right.0 / 2) {
                let parent = match pair {
                    [left, right] => inner(&left.1, &right.1),
                    [lone] if lone.0.is_multiple_of(2) => inner(&lone.1, &empty),
                    [lone] => inner(&empty, &lone.1),
                    _ => unreachable!("at most two nodes share a parent"),
                };
                parents.push((pair[0].0 / 2, parent));
            }
            nodes = parents;
            empty = inner(&empty, &empty);
        }
        nodes.first().map_or(empty, |root| root.1)
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> PartialEq for DigestedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<K: Ord + Clone, V: Clone + Eq> Eq for DigestedMap<K, V> {}

impl<K: Ord + Clone + std::fmt::Debug, V: Clone + std::fmt::Debug> std::fmt::Debug for DigestedMap<K, V> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_map().entries(self.map.iter()).finish()
    }
}

impl<K: Ord + Clone + Serialize, V: Clone + Serialize> Serialize for DigestedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.map.iter())
    }
}

impl<'de, K: Ord + Clone + Deserialize<'de>, V: Clone + Deserialize<'de>> Deserialize<'de> for DigestedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = OrdMap::<K, V>::deserialize(deserializer)?;
        Ok(DigestedMap { map, dirty: Vec::new(), cache: None })
    }
}

impl<K: Ord + Clone, V: Clone> FromIterator<(K, V)> for DigestedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        DigestedMap { map: entries.into_iter().collect(), dirty: Vec::new(), cache: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_map_has_the_empty_root() {
        let mut map = DigestedMap::<String, u64>::default();
        assert_eq!(map.root(), empty_root());
        assert_eq!(map.root_from_scratch(), empty_root());
    }

    #[test]
    fn the_root_is_the_definition_written_out() {
        // One entry: its bucket's leaf, then twelve levels of nodes with empty siblings.
        let mut map = DigestedMap::<String, u64>::default();
        map.insert("zk".into(), 7);
        let (key_hash, value_hash) = (hash_of("zk"), hash_of(&7u64));
        let mut node: Hash = Sha256::new().chain_update([0x00]).chain_update(key_hash).chain_update(value_hash).finalize().into();
        let mut empty: Hash = Sha256::digest([0x00]).into();
        let mut position = bucket_of(&key_hash);
        for _ in 0..BUCKET_BITS {
            node = if position.is_multiple_of(2) { inner(&node, &empty) } else { inner(&empty, &node) };
            empty = inner(&empty, &empty);
            position /= 2;
        }
        assert_eq!(map.root(), node);
    }

    #[derive(Debug, Clone)]
    enum Change {
        Insert(u16, u32),
        Update(u16, u32),
        Remove(u16),
        Root,
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            (0u16..600, any::<u32>()).prop_map(|(key, value)| Change::Insert(key, value)),
            (0u16..600, any::<u32>()).prop_map(|(key, value)| Change::Update(key, value)),
            (0u16..600).prop_map(Change::Remove),
            Just(Change::Root),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_kept_root_equals_the_root_from_scratch(changes in proptest::collection::vec(change(), 0..300)) {
            let mut map = DigestedMap::<String, u32>::default();
            let mut views = Vec::new();
            for change in changes {
                match change {
                    Change::Insert(key, value) => { map.insert(format!("k{key}"), value); }
                    Change::Update(key, value) => { if let Some(slot) = map.get_mut(&format!("k{key}")) { *slot = value; } }
                    Change::Remove(key) => { map.remove(&format!("k{key}")); }
                    Change::Root => {
                        let root = map.root();
                        prop_assert_eq!(root, map.root_from_scratch());
                        views.push((map.clone(), root));
                    }
                }
            }
            prop_assert_eq!(map.root(), map.root_from_scratch());
            // Clones taken along the way kept their own roots.
            for (mut view, root) in views {
                prop_assert_eq!(view.root(), root);
            }
        }
    }
}
