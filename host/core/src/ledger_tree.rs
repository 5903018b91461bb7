//! The ledger as an RFC 6962 Merkle tree (`merkle`): leaf i is entry i+1's own 32-byte `hash`,
//! which already commits to every field of the entry and to the chain before it. From it come
//! the host's signed checkpoints (`checkpoint`) and the inclusion and consistency proofs an
//! auditor checks against them.
//!
//! There are no stored tiles: every checkpoint or proof reads the entries 1..=size in batches
//! (`Store::get_many`), a full read of the log, like verification.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::journal::entry_key;
use crate::ledger::{ChainChecker, LedgerEntry};
use crate::merkle::{self, Hash};
use crate::service::{Levee, ServiceError};
use crate::store::Store;
use crate::validation::FieldError;

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

/// Just the entry of a ledger slot (the subject beside it is skipped).
#[derive(Deserialize)]
struct EntryOnly {
    entry: LedgerEntry,
}

/// The leaf hashes of entries 1..=`size`: each entry read in place, its `hash` hashed as a leaf.
pub fn leaves(store: &dyn Store, size: u64) -> Result<Vec<Hash>, ServiceError> {
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    each_entry(store, size, |entry| {
        leaves.push(leaf_of(entry)?);
        Ok(())
    })?;
    Ok(leaves)
}

/// `leaves`, after checking that each entry is at its place, links to the one before and
/// hashes to its own `hash`: what a checkpoint signs must be a sound chain.
pub fn checked_leaves(store: &dyn Store, size: u64) -> Result<Vec<Hash>, ServiceError> {
    let mut checker = ChainChecker::default();
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    each_entry(store, size, |entry| {
        checker.check(entry).map_err(|mismatch| {
            ServiceError::Integrity(format!("entry {} does not verify: {}", mismatch.seq, mismatch.problem))
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
    mut visit: impl FnMut(&LedgerEntry) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    let mut seq = 1;
    while seq <= size {
        let keys: Vec<String> = (seq..=size.min(seq + BATCH - 1)).map(entry_key).collect();
        for (key, bytes) in keys.iter().zip(store.get_many(&keys)?) {
            let bytes = bytes.ok_or_else(|| ServiceError::Integrity(format!("entry {seq} is missing")))?;
            let EntryOnly { entry } = serde_json::from_slice(&bytes)
                .map_err(|error| ServiceError::Integrity(format!("ledger slot {key} does not decode: {error}")))?;
            if entry.seq != seq {
                return Err(ServiceError::Integrity(format!("entry stored at {seq} says it is entry {}", entry.seq)));
            }
            visit(&entry)?;
            seq += 1;
        }
    }
    Ok(())
}

/// The entry's `hash` (64 hex digits) as a leaf.
fn leaf_of(entry: &LedgerEntry) -> Result<Hash, ServiceError> {
    let bytes = hex::decode(&entry.hash).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    let bytes = bytes.ok_or_else(|| {
        ServiceError::Integrity(format!("entry {}'s hash {:?} is not 32 bytes of hex", entry.seq, entry.hash))
    })?;
    Ok(merkle::leaf_hash(&bytes))
}

fn hex_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

impl Levee {
    /// The current tree as a checkpoint signed by this host's key (a signed note), after the
    /// log is settled and its chain checked; refused where the host has no key.
    pub fn signed_checkpoint(&self) -> Result<String, ServiceError> {
        let signer = self
            .settings
            .checkpoint_signer
            .as_ref()
            .ok_or_else(|| ServiceError::NotSupported(NO_SIGNING_KEY.into()))?;
        let size = self.journal().settle()?.seq;
        let leaves = checked_leaves(&*self.store, size)?;
        Ok(signer.sign(size, merkle::root(&leaves)))
    }

    /// The inclusion proof of entry `seq` in the tree of the first `size` entries (default:
    /// every settled entry).
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, ServiceError> {
        let size = self.tree_size(size, "size")?;
        if seq == 0 || seq > size {
            return Err(FieldError::new("seq", format!("{seq} is not an entry of the tree of {size} entries")).into());
        }
        let leaves = leaves(&*self.store, size)?;
        let index = usize::try_from(seq - 1).map_err(|_| FieldError::new("seq", "is too large"))?;
        let proof =
            merkle::inclusion_proof(&leaves, index).ok_or_else(|| FieldError::new("seq", "is past the tree"))?;
        let leaf = leaves.get(index).ok_or_else(|| FieldError::new("seq", "is past the tree"))?;
        Ok(InclusionProof {
            seq,
            size,
            leaf_hash: hex::encode(leaf),
            proof: hex_all(&proof),
            root: hex::encode(merkle::root(&leaves)),
        })
    }

    /// The consistency proof from the tree of the first `from` entries to the tree of `to`
    /// (default: every settled entry).
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof, ServiceError> {
        let to = self.tree_size(to, "to")?;
        if from == 0 || from > to {
            return Err(FieldError::new("from", format!("{from} is not a tree size from 1 to {to}")).into());
        }
        let leaves = leaves(&*self.store, to)?;
        let old = leaves.get(..usize::try_from(from).unwrap_or(usize::MAX)).unwrap_or(&leaves);
        let proof = merkle::consistency_proof(&leaves, old.len()).unwrap_or_default();
        Ok(ConsistencyProof {
            from,
            to,
            proof: hex_all(&proof),
            root_from: hex::encode(merkle::root(old)),
            root_to: hex::encode(merkle::root(&leaves)),
        })
    }

    /// `requested`, or the settled tip if none; refused past the tip.
    fn tree_size(&self, requested: Option<u64>, field: &str) -> Result<u64, ServiceError> {
        let tip = self.journal().settle()?.seq;
        match requested {
            None => Ok(tip),
            Some(size) if size <= tip => Ok(size),
            Some(size) => {
                Err(FieldError::new(field, format!("{size} is past the ledger, which has {tip} entries")).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{EntryContext, Journal};
    use crate::store::MemoryStore;

    fn ledger_of(n: usize) -> MemoryStore {
        let store = MemoryStore::new();
        let journal = Journal::new(&store);
        for i in 1..=n {
            let tip = journal.settle().unwrap();
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
            journal.try_append(&tip, transition, context).unwrap().unwrap();
        }
        store
    }

    #[test]
    fn leaves_are_the_entry_hashes_hashed_as_leaves() {
        let store = ledger_of(5);
        let leaves = checked_leaves(&store, 5).unwrap();
        let entry = Journal::new(&store).slot(3).unwrap().unwrap().entry;
        assert_eq!(leaves[2], merkle::leaf_hash(&hex::decode(entry.hash).unwrap()));
        assert_eq!(leaves, super::leaves(&store, 5).unwrap());
        assert_eq!(super::leaves(&store, 3).unwrap(), leaves[..3]);
        assert!(
            matches!(super::leaves(&store, 6), Err(ServiceError::Integrity(message)) if message.contains("entry 6"))
        );
    }

    #[test]
    fn a_broken_chain_is_not_signed() {
        let store = ledger_of(3);
        let mut slot = Journal::new(&store).slot(2).unwrap().unwrap();
        slot.entry.actor = "mallory".into();
        store.set(&entry_key(2), &serde_json::to_vec(&slot).unwrap()).unwrap();
        assert!(super::leaves(&store, 3).is_ok(), "the hashes themselves still read");
        let error = checked_leaves(&store, 3).unwrap_err();
        assert!(error.to_string().contains("entry 2 does not verify"), "{error}");
    }
}
