//! The audit trail as a service: reading and verifying the ledger, signed checkpoints, and
//! inclusion and consistency proofs over it.

use crate::ledger::{LedgerEntry, VerifyReport};
use crate::ledger_proofs::{ConsistencyProof, InclusionProof, LedgerReadError, LedgerTree, NO_SIGNING_KEY, hex_all};
use crate::merkle;
use crate::service::{Levee, ServiceError};
use crate::validation::FieldError;

/// The audit trail: `levee.audit()`.
pub struct Audit<'a> {
    pub(super) levee: &'a Levee,
}

impl Audit<'_> {
    /// The current tree as a checkpoint signed by this host's key (a signed note), after the
    /// log is settled and its chain checked; refused where the host has no key.
    pub fn signed_checkpoint(&self) -> Result<String, ServiceError> {
        let signer = self
            .levee
            .settings
            .checkpoint_signer
            .as_ref()
            .ok_or_else(|| ServiceError::NotSupported(NO_SIGNING_KEY.into()))?;
        let size = self.levee.ledger_store().settle()?.seq;
        let root = LedgerTree::open(&*self.levee.store, size, true)?.root()?;
        Ok(signer.sign(size, root))
    }

    /// The inclusion proof of entry `seq` in the tree of the first `size` entries (default:
    /// every settled entry).
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof, ServiceError> {
        let size = self.tree_size(size, "size")?;
        if seq == 0 || seq > size {
            return Err(FieldError::new("seq", format!("{seq} is not an entry of the tree of {size} entries")).into());
        }
        let mut tree = LedgerTree::open(&*self.levee.store, size, false)?;
        let proof = merkle::inclusion_path(&mut tree, seq - 1, size)?
            .ok_or_else(|| FieldError::new("seq", "is past the tree"))?;
        Ok(InclusionProof {
            seq,
            size,
            leaf_hash: hex::encode(tree.leaf(seq)?),
            proof: hex_all(&proof),
            root: hex::encode(tree.root()?),
        })
    }

    /// The consistency proof from the tree of the first `from` entries to the tree of `to`
    /// (default: every settled entry).
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof, ServiceError> {
        let to = self.tree_size(to, "to")?;
        if from == 0 || from > to {
            return Err(FieldError::new("from", format!("{from} is not a tree size from 1 to {to}")).into());
        }
        let mut tree = LedgerTree::open(&*self.levee.store, to, false)?;
        let proof = merkle::consistency_path(&mut tree, from, to)?.unwrap_or_default();
        let root_from = merkle::range_root(&mut tree, 0, from)?;
        Ok(ConsistencyProof {
            from,
            to,
            proof: hex_all(&proof),
            root_from: hex::encode(root_from),
            root_to: hex::encode(tree.root()?),
        })
    }

    /// `requested`, or the settled tip if none; refused past the tip.
    fn tree_size(&self, requested: Option<u64>, field: &str) -> Result<u64, ServiceError> {
        let tip = self.levee.ledger_store().settle()?.seq;
        match requested {
            None => Ok(tip),
            Some(size) if size <= tip => Ok(size),
            Some(size) => {
                Err(FieldError::new(field, format!("{size} is past the ledger, which has {tip} entries")).into())
            }
        }
    }

    /// Entries `from..from+limit` of the whole ledger.
    pub fn ledger_page(&self, from: u64, limit: u64) -> Result<Vec<LedgerEntry>, ServiceError> {
        let seqs: Vec<u64> = (from.max(1)..from.max(1).saturating_add(limit)).collect();
        Ok(self.levee.ledger_store().entries(&seqs)?)
    }

    pub fn verify(&self) -> Result<VerifyReport, ServiceError> {
        Ok(self.levee.ledger_store().verify()?)
    }
}

impl From<LedgerReadError> for ServiceError {
    fn from(error: LedgerReadError) -> Self {
        match error {
            LedgerReadError::Store(error) => ServiceError::Store(error),
            LedgerReadError::Integrity(problem) => ServiceError::Integrity(problem),
        }
    }
}
