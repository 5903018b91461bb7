//! The ledger as an RFC 6962 Merkle tree (`merkle`): leaf i is entry i+1's own 32-byte `hash`,
//! which already commits to every field of the entry and to the chain before it. From it come
//! the host's signed checkpoints (`checkpoint`) and the inclusion and consistency proofs an
//! auditor checks against them.
//!
//! The service's checkpoints and proofs read the tree through `LedgerTree`: the root of every
//! complete, aligned run of 256 entries (a tile) and of every perfect subtree above one is
//! stored once (`merkle/<level>/<index>`, with `merkle/tiles` saying how many tiles are), so a
//! checkpoint or proof reads a few dozen stored nodes and at most a few tiles' entries, however
//! long the ledger. The schedule stores the nodes of newly completed tiles (`store_tiles`), and a
//! checkpoint or proof stores any it needs that are missing, each tile's entries checked against
//! the chain as they are read; nodes are derived from the ledger, never a
//! state change of their own, and `levee audit verify` checks every stored node against the
//! entries (`NodeCheck`). Offline tools (`leaves`, `checked_leaves`) read every entry instead
//! and trust no stored node.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ledger::{ChainChecker, LedgerEntry, Mismatch};
use crate::ledger_store::entry_key;
use crate::merkle::{self, Hash, Subtrees};
use crate::store::{Store, StoreError};

/// Entries are read this many at a time.
const BATCH: u64 = 1024;

/// What a checkpoint request says when the host has no signing key.
pub const NO_SIGNING_KEY: &str = "this host has no checkpoint signing key: set `checkpoint_key` in the [audit] \
     section of levee.toml to a key file that `levee audit keygen` wrote";

/// The proof that one entry is in the tree of the first `size` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    pub size: u64,
    /// SHA-256(0x00 ‖ the entry's hash), hex.
    pub leaf_hash: String,
    /// The audit path, leaf side first, hex (RFC 9162 §2.1.3).
    pub proof: Vec<String>,
    /// The root of the tree of the first `size` entries, hex.
    pub root: String,
}

/// The proof that the tree of the first `from` entries is a prefix of the tree of `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// RFC 9162 §2.1.4, hex.
    pub proof: Vec<String>,
    pub root_from: String,
    pub root_to: String,
}

/// Why the stored ledger could not be read as a tree.
#[derive(Debug, thiserror::Error)]
pub enum LedgerReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds something the ledger does not vouch for.
    #[error("{0}")]
    Integrity(String),
}

/// Just the entry of a ledger slot (the subject beside it is skipped).
#[derive(Deserialize)]
struct EntryOnly {
    entry: LedgerEntry,
}

/// The leaf hashes of entries 1..=`size`: each entry read in place, its `hash` hashed as a leaf.
pub fn leaves(store: &dyn Store, size: u64) -> Result<Vec<Hash>, LedgerReadError> {
    leaves_in(store, 1, size, None)
}

/// `leaves`, after checking that each entry is at its place, links to the one before and
/// hashes to its own `hash`: what a checkpoint signs must be a sound chain.
pub fn checked_leaves(store: &dyn Store, size: u64) -> Result<Vec<Hash>, LedgerReadError> {
    leaves_in(store, 1, size, Some(&mut ChainChecker::default()))
}

/// The leaf hashes of entries `first..=last`, each checked against the chain with `checker`
/// if there is one.
fn leaves_in(
    store: &dyn Store,
    first: u64,
    last: u64,
    mut checker: Option<&mut ChainChecker>,
) -> Result<Vec<Hash>, LedgerReadError> {
    let mut leaves = Vec::with_capacity(usize::try_from(last.saturating_sub(first) + 1).unwrap_or_default());
    each_entry_in(store, first, last, |entry| {
        if let Some(checker) = checker.as_deref_mut() {
            checker.check(entry).map_err(|mismatch| {
                LedgerReadError::Integrity(format!("entry {} does not verify: {}", mismatch.seq, mismatch.problem))
            })?;
        }
        leaves.push(leaf_of(entry)?);
        Ok(())
    })?;
    Ok(leaves)
}

/// Calls `visit` on entries `first..=last` in order; an absent or misplaced entry is an error.
fn each_entry_in(
    store: &dyn Store,
    first: u64,
    last: u64,
    mut visit: impl FnMut(&LedgerEntry) -> Result<(), LedgerReadError>,
) -> Result<(), LedgerReadError> {
    let mut seq = first;
    while seq <= last {
        let keys: Vec<String> = (seq..=last.min(seq + BATCH - 1)).map(entry_key).collect();
        for (key, bytes) in keys.iter().zip(store.get_many(&keys)?) {
            let bytes = bytes.ok_or_else(|| LedgerReadError::Integrity(format!("entry {seq} is missing")))?;
            let EntryOnly { entry } = serde_json::from_slice(&bytes)
                .map_err(|error| LedgerReadError::Integrity(format!("ledger slot {key} does not decode: {error}")))?;
            if entry.seq != seq {
                return Err(LedgerReadError::Integrity(format!(
                    "entry stored at {seq} says it is entry {}",
                    entry.seq
                )));
            }
            visit(&entry)?;
            seq += 1;
        }
    }
    Ok(())
}

/// The entry's `hash` (64 hex digits) as a leaf.
fn leaf_of(entry: &LedgerEntry) -> Result<Hash, LedgerReadError> {
    let bytes = hex::decode(&entry.hash).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    let bytes = bytes.ok_or_else(|| {
        LedgerReadError::Integrity(format!("entry {}'s hash {:?} is not 32 bytes of hex", entry.seq, entry.hash))
    })?;
    Ok(merkle::leaf_hash(&bytes))
}

pub(crate) fn hex_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// Subtrees of 2^`NODE_LEVEL` entries (a tile) and larger have their roots stored.
pub const NODE_LEVEL: u32 = 8;
const TILE: u64 = 1 << NODE_LEVEL;
/// How many tiles, from the first, have their nodes stored.
const TILES_KEY: &str = "merkle/tiles";

/// Where the root of the perfect subtree `index` of `level` is stored.
fn node_key(level: u32, index: u64) -> String {
    format!("merkle/{level}/{index}")
}

/// The tree of the ledger's first `size` entries, from its stored nodes and the entries of the
/// tiles a question needs (module docs).
pub struct LedgerTree<'s> {
    store: &'s dyn Store,
    size: u64,
    nodes: HashMap<(u32, u64), Hash>,
    /// Leaf hashes of the tiles read, by tile; the last one may be partial.
    tiles: HashMap<u64, Vec<Hash>>,
}

impl<'s> LedgerTree<'s> {
    /// The tree of the first `size` entries, after storing the nodes of its complete tiles that
    /// are not stored yet. With `checked`, every entry not under a stored node is checked
    /// against the chain (what a checkpoint signs must be a sound chain).
    pub fn open(store: &'s dyn Store, size: u64, checked: bool) -> Result<LedgerTree<'s>, LedgerReadError> {
        let mut tree = LedgerTree { store, size, nodes: HashMap::new(), tiles: HashMap::new() };
        let complete = size / TILE;
        let stored = tree.stored_tiles()?.min(complete);
        let tail_checked = checked && !size.is_multiple_of(TILE);
        if stored == complete && !tail_checked {
            return Ok(tree);
        }
        let mut checker = tree.store_tiles(stored, complete)?;
        if tail_checked {
            let leaves = leaves_in(store, complete * TILE + 1, size, Some(&mut checker))?;
            tree.tiles.insert(complete, leaves);
        }
        Ok(tree)
    }

    /// Stores the nodes of tiles `from..to`, checking their entries against the chain from
    /// the end of tile `from` - 1; the checker, past the last entry of tile `to` - 1.
    fn store_tiles(&mut self, from: u64, to: u64) -> Result<ChainChecker, LedgerReadError> {
        let mut checker = self.checker_after_tile(from)?;
        for tile in from..to {
            self.store_tile(tile, &mut checker)?;
        }
        Ok(checker)
    }

    /// The root of the tree.
    pub fn root(&mut self) -> Result<Hash, LedgerReadError> {
        merkle::range_root(self, 0, self.size)
    }

    /// The leaf hash of entry `seq` (from 1).
    pub fn leaf(&mut self, seq: u64) -> Result<Hash, LedgerReadError> {
        let index = seq.checked_sub(1).filter(|index| *index < self.size);
        let index = index.ok_or_else(|| LedgerReadError::Integrity(format!("entry {seq} is not in the tree")))?;
        self.perfect(0, index)
    }

    fn stored_tiles(&self) -> Result<u64, LedgerReadError> {
        let Some(bytes) = self.store.get(TILES_KEY)? else { return Ok(0) };
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| LedgerReadError::Integrity(format!("{TILES_KEY} is not a count of tiles")))
    }

    /// A chain checker that starts after the last entry of the first `tiles` tiles.
    fn checker_after_tile(&self, tiles: u64) -> Result<ChainChecker, LedgerReadError> {
        if tiles == 0 {
            return Ok(ChainChecker::default());
        }
        let mut last = None;
        each_entry_in(self.store, tiles * TILE, tiles * TILE, |entry| {
            last = Some(ChainChecker::after(entry.seq, &entry.hash));
            Ok(())
        })?;
        last.ok_or_else(|| LedgerReadError::Integrity(format!("entry {} is missing", tiles * TILE)))
    }

    /// Reads and checks tile `tile`, and stores its root and the roots of the subtrees it
    /// completes, then the count of tiles stored.
    fn store_tile(&mut self, tile: u64, checker: &mut ChainChecker) -> Result<(), LedgerReadError> {
        let leaves = leaves_in(self.store, tile * TILE + 1, (tile + 1) * TILE, Some(checker))?;
        let (mut level, mut index, mut hash) = (NODE_LEVEL, tile, merkle::perfect_root(&leaves));
        let mut writes = Vec::new();
        loop {
            self.nodes.insert((level, index), hash);
            writes.push((node_key(level, index), hash.to_vec()));
            if index & 1 == 0 {
                break;
            }
            hash = merkle::node_hash(&self.node(level, index - 1)?, &hash);
            (level, index) = (level + 1, index >> 1);
        }
        writes.push((TILES_KEY.to_owned(), (tile + 1).to_string().into_bytes()));
        Ok(self.store.set_many(&writes)?)
    }

    /// A stored node.
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, LedgerReadError> {
        if let Some(hash) = self.nodes.get(&(level, index)) {
            return Ok(*hash);
        }
        let key = node_key(level, index);
        let hash = self.store.get(&key)?.and_then(|bytes| Hash::try_from(bytes.as_slice()).ok()).ok_or_else(|| {
            LedgerReadError::Integrity(format!("the stored Merkle node {key} is missing or not 32 bytes"))
        })?;
        self.nodes.insert((level, index), hash);
        Ok(hash)
    }
}

impl Subtrees for LedgerTree<'_> {
    type Error = LedgerReadError;

    /// A stored node from a tile up; below, from the tile's entries (read once).
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, LedgerReadError> {
        if level >= NODE_LEVEL {
            return self.node(level, index);
        }
        let first = index << level;
        let tile = first / TILE;
        if !self.tiles.contains_key(&tile) {
            let leaves = leaves_in(self.store, tile * TILE + 1, self.size.min((tile + 1) * TILE), None)?;
            self.tiles.insert(tile, leaves);
        }
        let offset = usize::try_from(first - tile * TILE).unwrap_or(usize::MAX);
        let width = 1usize << level;
        let leaves = self.tiles.get(&tile).and_then(|leaves| leaves.get(offset..offset + width));
        leaves.map(merkle::perfect_root).ok_or_else(|| {
            LedgerReadError::Integrity(format!("entries {}..={} are past the tree", first + 1, first + width as u64))
        })
    }
}

/// Stores the nodes of at most `at_most` more complete tiles of the first `size` entries (the
/// schedule's share, so that no checkpoint or proof has to); how many it stored.
pub fn store_tiles(store: &dyn Store, size: u64, at_most: u64) -> Result<u64, LedgerReadError> {
    let mut tree = LedgerTree { store, size, nodes: HashMap::new(), tiles: HashMap::new() };
    let stored = tree.stored_tiles()?;
    let to = (size / TILE).min(stored.saturating_add(at_most));
    if to <= stored {
        return Ok(0);
    }
    tree.store_tiles(stored, to)?;
    Ok(to - stored)
}

/// Checks the stored nodes against the entries, as `levee audit verify` walks them: fed every
/// entry in order, it compares each stored tile root, and each stored node above, with the
/// root its entries make.
pub struct NodeCheck {
    stored_tiles: u64,
    /// Why the count of stored tiles could not be read, until reported.
    unreadable: Option<String>,
    /// The leaves of the tile being walked.
    leaves: Vec<Hash>,
    tile: u64,
    /// The roots computed so far that are left children still waiting for their sibling.
    lefts: HashMap<u32, Hash>,
}

impl NodeCheck {
    pub fn new(store: &dyn Store) -> Result<NodeCheck, StoreError> {
        let tree = LedgerTree { store, size: 0, nodes: HashMap::new(), tiles: HashMap::new() };
        let (stored_tiles, unreadable) = match tree.stored_tiles() {
            Ok(tiles) => (tiles, None),
            Err(LedgerReadError::Store(error)) => return Err(error),
            Err(LedgerReadError::Integrity(problem)) => (0, Some(problem)),
        };
        let leaves = Vec::with_capacity(TILE as usize);
        Ok(NodeCheck { stored_tiles, unreadable, leaves, tile: 0, lefts: HashMap::new() })
    }

    /// Takes the next entry; at the end of a tile whose nodes are stored, the first stored node
    /// that does not match.
    pub fn feed(&mut self, store: &dyn Store, entry: &LedgerEntry) -> Result<Option<Mismatch>, StoreError> {
        if let Some(problem) = self.unreadable.take() {
            return Ok(Some(Mismatch { seq: entry.seq, subject: None, problem }));
        }
        if self.tile >= self.stored_tiles {
            return Ok(None);
        }
        let Ok(leaf) = leaf_of(entry) else { return Ok(None) };
        self.leaves.push(leaf);
        if self.leaves.len() < TILE as usize {
            return Ok(None);
        }
        let (mut level, mut index, mut hash) = (NODE_LEVEL, self.tile, merkle::perfect_root(&self.leaves));
        self.leaves.clear();
        let first_seq = self.tile * TILE + 1;
        self.tile += 1;
        loop {
            let key = node_key(level, index);
            if store.get(&key)?.as_deref() != Some(hash.as_slice()) {
                let last_seq = first_seq + TILE - 1;
                let problem = format!(
                    "the stored Merkle node {key} is not the root of the entries it covers (up to entry {last_seq})"
                );
                return Ok(Some(Mismatch { seq: first_seq, subject: None, problem }));
            }
            if index & 1 == 0 {
                self.lefts.insert(level, hash);
                return Ok(None);
            }
            let left = self.lefts.remove(&level).unwrap_or(hash);
            hash = merkle::node_hash(&left, &hash);
            (level, index) = (level + 1, index >> 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger_store::{EntryContext, LedgerStore};
    use crate::store::MemoryStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ledger_of(n: usize) -> MemoryStore {
        let store = MemoryStore::new();
        let ledger_store = LedgerStore::new(&store);
        for i in 1..=n {
            let tip = ledger_store.settle().unwrap();
            let case = crate::fixtures::pending_case(&format!("LV-{i}"));
            let transition = crate::case::Transition {
                case,
                event: crate::ledger::EventType::CaseSubmitted,
                authority: None,
                payload: serde_json::json!({}),
            };
            let context = EntryContext {
                actor: "avery".into(),
                role: crate::identity::Role::Agent,
                at: crate::fixtures::at(),
                policies: vec![],
                matrix_version: "m".into(),
                taxonomy_version: "t".into(),
                facts_hash: None,
            };
            ledger_store.try_append(&tip, transition, context).unwrap().unwrap();
        }
        store
    }

    #[test]
    fn leaves_are_the_entry_hashes_hashed_as_leaves() {
        let store = ledger_of(5);
        let leaves = checked_leaves(&store, 5).unwrap();
        let entry = LedgerStore::new(&store).slot(3).unwrap().unwrap().entry;
        assert_eq!(leaves[2], merkle::leaf_hash(&hex::decode(entry.hash).unwrap()));
        assert_eq!(leaves, super::leaves(&store, 5).unwrap());
        assert_eq!(super::leaves(&store, 3).unwrap(), leaves[..3]);
        assert!(
            matches!(super::leaves(&store, 6), Err(LedgerReadError::Integrity(message)) if message.contains("entry 6"))
        );
    }

    #[test]
    fn a_broken_chain_is_not_signed() {
        let store = ledger_of(3);
        let mut slot = LedgerStore::new(&store).slot(2).unwrap().unwrap();
        slot.entry.actor = "mallory".into();
        store.set(&entry_key(2), &serde_json::to_vec(&slot).unwrap()).unwrap();
        assert!(super::leaves(&store, 3).is_ok(), "the hashes themselves still read");
        let error = checked_leaves(&store, 3).unwrap_err();
        assert!(error.to_string().contains("entry 2 does not verify"), "{error}");
    }

    /// A store that counts the ledger entries read.
    struct Counting<'a>(&'a MemoryStore, AtomicUsize);

    impl Store for Counting<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.get_many(&[key.to_owned()]).map(|mut values| values.remove(0))
        }
        fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            let entries = keys.iter().filter(|key| key.starts_with("ledger/")).count();
            self.1.fetch_add(entries, Ordering::SeqCst);
            keys.iter().map(|key| self.0.get(key)).collect()
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.delete(key)
        }
        fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
            self.0.compare_and_swap(key, current, new)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            self.0.increment(key, delta)
        }
    }

    /// Over stored nodes, roots and proofs are those of the whole list of leaves, for trees
    /// that end inside a tile, on a tile's end and past a stored subtree of four tiles.
    #[test]
    fn the_stored_tree_answers_as_the_leaves_do() {
        let store = ledger_of(1100);
        let all = super::leaves(&store, 1100).unwrap();
        for size in [1u64, 255, 256, 257, 700, 1024, 1100] {
            let leaves = &all[..size as usize];
            let mut tree = LedgerTree::open(&store, size, true).unwrap();
            assert_eq!(tree.root().unwrap(), merkle::root(leaves), "root of {size}");
            for index in [0, size / 2, size - 1] {
                let path = merkle::inclusion_path(&mut tree, index, size).unwrap();
                assert_eq!(path, merkle::inclusion_proof(leaves, index as usize), "{index} of {size}");
                assert_eq!(tree.leaf(index + 1).unwrap(), leaves[index as usize]);
            }
            for old in [1, size / 3, size] {
                let path = merkle::consistency_path(&mut tree, old, size).unwrap();
                assert_eq!(path, merkle::consistency_proof(leaves, old as usize), "{old} → {size}");
            }
        }
        assert_eq!(store.get(TILES_KEY).unwrap(), Some(b"4".to_vec()), "four complete tiles of 256 are stored");
        assert!(store.get(&node_key(NODE_LEVEL + 2, 0)).unwrap().is_some(), "and the subtree of all four");
    }

    /// Once the nodes are stored, a checkpoint reads the entries after the last complete tile
    /// (and the one before them, to check their link), not the whole ledger.
    #[test]
    fn a_checkpoint_over_stored_nodes_reads_only_the_last_tile() {
        let store = ledger_of(1100);
        LedgerTree::open(&store, 1100, true).unwrap();
        let counting = Counting(&store, AtomicUsize::new(0));
        let root = LedgerTree::open(&counting, 1100, true).unwrap().root().unwrap();
        assert_eq!(root, merkle::root(&super::leaves(&store, 1100).unwrap()));
        assert_eq!(counting.1.load(Ordering::SeqCst), 1100 - 1024 + 1, "entries read");
        let counting = Counting(&store, AtomicUsize::new(0));
        let mut tree = LedgerTree::open(&counting, 1100, false).unwrap();
        merkle::inclusion_path(&mut tree, 3, 1100).unwrap();
        assert_eq!(counting.1.load(Ordering::SeqCst), 256 + 76, "the first tile and the last, for entry 4's path");
    }

    /// The schedule stores tiles a few at a time, and a checkpoint after it reads only the last
    /// tile's entries.
    #[test]
    fn the_schedule_stores_tiles_a_few_at_a_time() {
        let store = ledger_of(1100);
        assert_eq!(store_tiles(&store, 1100, 3).unwrap(), 3);
        assert_eq!(store.get(TILES_KEY).unwrap(), Some(b"3".to_vec()));
        assert_eq!(store_tiles(&store, 1100, 3).unwrap(), 1, "the fourth and last complete tile");
        assert_eq!(store_tiles(&store, 1100, 3).unwrap(), 0);
        let counting = Counting(&store, AtomicUsize::new(0));
        let root = LedgerTree::open(&counting, 1100, true).unwrap().root().unwrap();
        assert_eq!(root, merkle::root(&super::leaves(&store, 1100).unwrap()));
        assert_eq!(counting.1.load(Ordering::SeqCst), 77);
        assert!(LedgerStore::new(&store).verify().unwrap().ok);
    }

    /// A stored node that is not the root of its entries makes `verify` fail, naming it; so does
    /// an unreadable count of tiles.
    #[test]
    fn verify_checks_every_stored_node() {
        let store = ledger_of(600);
        LedgerTree::open(&store, 600, true).unwrap();
        assert!(LedgerStore::new(&store).verify().unwrap().ok);
        for key in [node_key(NODE_LEVEL, 1), node_key(NODE_LEVEL + 1, 0)] {
            let honest = store.get(&key).unwrap().unwrap();
            store.set(&key, &[7; 32]).unwrap();
            let report = LedgerStore::new(&store).verify().unwrap();
            let mismatch = report.first_mismatch.unwrap();
            assert!(mismatch.problem.contains(&key), "{}", mismatch.problem);
            assert_eq!(mismatch.seq, 257, "the first entry of the tile that completes {key}");
            store.set(&key, &honest).unwrap();
        }
        store.set(TILES_KEY, b"two").unwrap();
        let report = LedgerStore::new(&store).verify().unwrap();
        assert!(report.first_mismatch.unwrap().problem.contains(TILES_KEY));
    }

    /// A checkpoint checks every entry no stored node covers: a rewritten entry in a tile not
    /// stored yet, or after the last complete tile, is refused.
    #[test]
    fn a_broken_chain_outside_the_stored_nodes_is_not_signed() {
        for broken in [100u64, 300] {
            let store = ledger_of(300);
            if broken == 300 {
                LedgerTree::open(&store, 300, true).unwrap();
            }
            let mut slot = LedgerStore::new(&store).slot(broken).unwrap().unwrap();
            slot.entry.actor = "mallory".into();
            store.set(&entry_key(broken), &serde_json::to_vec(&slot).unwrap()).unwrap();
            let Err(error) = LedgerTree::open(&store, 300, true) else { panic!("entry {broken} was rewritten") };
            assert!(error.to_string().contains(&format!("entry {broken} does not verify")), "{error}");
        }
    }
}
