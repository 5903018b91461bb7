//! The ledger as an RFC 6962 Merkle tree (`merkle`): leaf i is entry i+1's own 32-byte `hash`,
//! which already commits to every field of the entry and to the chain before it. From it come
//! the host's signed checkpoints (`checkpoint`) and the inclusion and consistency proofs an
//! auditor checks against them.
//!
//! There are no stored tiles: every checkpoint or proof reads the entries 1..=size in batches
//! (`Store::get_many`), a full read of the log, like verification.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ledger::{ChainChecker, LedgerEntry};
use crate::ledger_store::entry_key;
use crate::merkle::{self, Hash};
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
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    each_entry(store, size, |entry| {
        leaves.push(leaf_of(entry)?);
        Ok(())
    })?;
    Ok(leaves)
}

/// `leaves`, after checking that each entry is at its place, links to the one before and
/// hashes to its own `hash`: what a checkpoint signs must be a sound chain.
pub fn checked_leaves(store: &dyn Store, size: u64) -> Result<Vec<Hash>, LedgerReadError> {
    let mut checker = ChainChecker::default();
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    each_entry(store, size, |entry| {
        checker.check(entry).map_err(|mismatch| {
            LedgerReadError::Integrity(format!("entry {} does not verify: {}", mismatch.seq, mismatch.problem))
        })?;
        leaves.push(leaf_of(entry)?);
        Ok(())
    })?;
    Ok(leaves)
}

/// Calls `visit` on entries 1..=`size` in order; an absent or misplaced entry is an error.
fn each_entry(
    store: &dyn Store,
    size: u64,
    mut visit: impl FnMut(&LedgerEntry) -> Result<(), LedgerReadError>,
) -> Result<(), LedgerReadError> {
    let mut seq = 1;
    while seq <= size {
        let keys: Vec<String> = (seq..=size.min(seq + BATCH - 1)).map(entry_key).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger_store::{EntryContext, LedgerStore};
    use crate::store::MemoryStore;

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
}
