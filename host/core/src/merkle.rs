//! Merkle trees in the manner of RFC 6962 and RFC 9162 (§2.1): leaf and node hashes
//! domain-separated, the tree hash of n leaves split at the largest power of two below n, and
//! inclusion (audit path) and consistency proofs with the RFC's verification algorithms. Pure:
//! no I/O. The ledger's leaves are its entries' own 32-byte `hash`es (`ledger_proofs`).
//!
//! Roots and proofs are built over `Subtrees`: anything that gives the root of a perfect subtree
//! (2^level leaves, aligned). Every subtree the RFC's recursion visits is either perfect or ends
//! at the tree's last leaf, so a source that keeps the roots of large perfect subtrees (the
//! ledger's stored nodes) answers a proof in a number of reads that grows with log(size), not
//! with size. A slice of leaf hashes is such a source too.

use std::convert::Infallible;

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the older tree (size {old_size}) is larger than the newer one (size {new_size})")]
    SizesReversed { old_size: u64, new_size: u64 },
    #[error("the proof has {0} hashes, which is not the length a proof between these sizes has")]
    WrongLength(usize),
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("the proof does not lead to the older tree's root")]
    OldRootMismatch,
}

/// SHA-256(0x00 ‖ data): the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right): the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the roots of perfect subtrees come from: `perfect(level, index)` is the root of the
/// 2^level leaves from `index` · 2^level on (every one of which the source must have).
pub trait Subtrees {
    type Error;
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Leaf hashes in a slice, as a source of subtrees.
struct Slice<'a>(&'a [Hash]);

impl Subtrees for Slice<'_> {
    type Error = Infallible;

    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, Infallible> {
        let width = 1usize << level;
        let first = usize::try_from(index).unwrap_or(usize::MAX).saturating_mul(width);
        Ok(perfect_root(self.0.get(first..first.saturating_add(width)).unwrap_or_default()))
    }
}

/// The root of a perfect tree: `leaves` is a power of two long (an empty slice: the empty root).
pub fn perfect_root(leaves: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| if let [left, right] = pair { node_hash(left, right) } else { pair[0] })
            .collect();
    }
    level.first().copied().unwrap_or_else(empty_root)
}

/// The Merkle tree hash (MTH) of these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let Ok(root) = range_root(&mut Slice(leaves), 0, leaves.len() as u64);
    root
}

/// The MTH of leaves `start..end`, where `start` is a multiple of the smallest power of two at
/// least `end - start` (as every subtree of the RFC's recursion is).
pub fn range_root<S: Subtrees>(subtrees: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let width = end.saturating_sub(start);
    if width == 0 {
        return Ok(empty_root());
    }
    if width.is_power_of_two() {
        let level = width.trailing_zeros();
        return subtrees.perfect(level, start >> level);
    }
    let middle = start + split(width);
    Ok(node_hash(&range_root(subtrees, start, middle)?, &range_root(subtrees, middle, end)?))
}

/// The largest power of two smaller than `n` (for n ≥ 2).
fn split(n: u64) -> u64 {
    let below = n.saturating_sub(1).max(1);
    1 << (u64::BITS - 1 - below.leading_zeros())
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 9162 §2.1.3.1), leaf side
/// first; `None` if there is no such leaf.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    let Ok(proof) = inclusion_path(&mut Slice(leaves), index as u64, leaves.len() as u64);
    proof
}

/// `inclusion_proof` over any source of subtrees, for the tree of `size` leaves.
pub fn inclusion_path<S: Subtrees>(subtrees: &mut S, index: u64, size: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size {
        return Ok(None);
    }
    let mut proof = Vec::new();
    audit_path(subtrees, 0, size, index, &mut proof)?;
    Ok(Some(proof))
}

fn audit_path<S: Subtrees>(
    subtrees: &mut S,
    start: u64,
    end: u64,
    index: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if end - start <= 1 {
        return Ok(());
    }
    let middle = start + split(end - start);
    if index < middle {
        audit_path(subtrees, start, middle, index, proof)?;
        proof.push(range_root(subtrees, middle, end)?);
    } else {
        audit_path(subtrees, middle, end, index, proof)?;
        proof.push(range_root(subtrees, start, middle)?);
    }
    Ok(())
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose root is `root`, by the
/// audit path `proof` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut node, mut last) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if last == 0 {
            return Err(ProofError::WrongLength(proof.len()));
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(sibling, &hash);
            (node, last) = skip_right_edges(node, last);
        } else {
            hash = node_hash(&hash, sibling);
        }
        (node, last) = (node >> 1, last >> 1);
    }
    if last != 0 {
        return Err(ProofError::WrongLength(proof.len()));
    }
    if hash != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Where a node is the last of its level with no right sibling, it is carried up unchanged:
/// shift both positions right until the node is a right child or the root of its subtree.
fn skip_right_edges(mut node: u64, mut last: u64) -> (u64, u64) {
    while node & 1 == 0 && node != 0 {
        (node, last) = (node >> 1, last >> 1);
    }
    (node, last)
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of all
/// `leaves` (RFC 9162 §2.1.4.1); empty when `old_size` is 0 or every leaf. `None` if
/// `old_size` is past the end.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    let Ok(proof) = consistency_path(&mut Slice(leaves), old_size as u64, leaves.len() as u64);
    proof
}

/// `consistency_proof` over any source of subtrees, from the tree of `old_size` leaves to the
/// tree of `size`.
pub fn consistency_path<S: Subtrees>(
    subtrees: &mut S,
    old_size: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if old_size > size {
        return Ok(None);
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(subtrees, old_size, 0, size, true, &mut proof)?;
    }
    Ok(Some(proof))
}

/// SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, with m = `old_end` - `start`.
/// `complete` is true while the old tree's root is itself a node of the new tree that the
/// verifier already knows.
fn subproof<S: Subtrees>(
    subtrees: &mut S,
    old_end: u64,
    start: u64,
    end: u64,
    complete: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if old_end == end {
        if !complete {
            proof.push(range_root(subtrees, start, end)?);
        }
        return Ok(());
    }
    let middle = start + split(end - start);
    if old_end <= middle {
        subproof(subtrees, old_end, start, middle, complete, proof)?;
        proof.push(range_root(subtrees, middle, end)?);
    } else {
        subproof(subtrees, old_end, middle, end, false, proof)?;
        proof.push(range_root(subtrees, start, middle)?);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`, by `proof` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesReversed { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength(proof.len()));
        }
        let same = old_size == 0 || old_root == new_root;
        return if same { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let Some((first, rest)) = proof.split_first() else { return Err(ProofError::WrongLength(0)) };
    // The old tree's root is a node of the new tree when its size is a power of two; the
    // proof then leaves it out, and the walk starts from it.
    let (start, path) = if old_size.is_power_of_two() { (old_root, proof) } else { (first, rest) };
    let (node, last) = shift_while_odd(old_size - 1, new_size - 1);
    let (old, new) = walk_consistency(node, last, start, path).ok_or(ProofError::WrongLength(proof.len()))?;
    if old != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if new != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn shift_while_odd(mut node: u64, mut last: u64) -> (u64, u64) {
    while node & 1 == 1 {
        (node, last) = (node >> 1, last >> 1);
    }
    (node, last)
}

/// Steps 5 to 7 of RFC 9162 §2.1.4.2: the old and new roots the path leads to, or `None` if
/// the path is too long or too short for the sizes.
fn walk_consistency(mut node: u64, mut last: u64, start: &Hash, path: &[Hash]) -> Option<(Hash, Hash)> {
    let (mut old, mut new) = (*start, *start);
    for sibling in path {
        if last == 0 {
            return None;
        }
        if node & 1 == 1 || node == last {
            old = node_hash(sibling, &old);
            new = node_hash(sibling, &new);
            (node, last) = skip_right_edges(node, last);
        } else {
            new = node_hash(&new, sibling);
        }
        (node, last) = (node >> 1, last >> 1);
    }
    (last == 0).then_some((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the RFC 6962 reference tests (certificate-transparency).
    const DATA: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    /// The roots of the first 1..=8 of those leaves.
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

    fn reference_leaves() -> Vec<Hash> {
        DATA.iter().map(|data| leaf_hash(&hex::decode(data).unwrap())).collect()
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|text| hex::decode(text).unwrap().try_into().unwrap()).collect()
    }

    fn numbered_leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    #[test]
    fn the_empty_tree_and_a_single_leaf() {
        assert_eq!(hex::encode(root(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let leaf = leaf_hash(b"x");
        assert_eq!(root(&[leaf]), leaf);
        assert_eq!(inclusion_proof(&[leaf], 0), Some(vec![]));
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&joined), "a leaf can never pass for a node");
        assert_eq!(hex::encode(leaf_hash(b"")), ROOTS[0]);
    }

    #[test]
    fn roots_match_the_rfc_6962_reference_vectors() {
        let leaves = reference_leaves();
        for (size, expected) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves[..=size])), *expected, "size {}", size + 1);
        }
    }

    #[test]
    fn proofs_match_the_rfc_6962_reference_vectors() {
        let leaves = reference_leaves();
        let path_of_0 = hashes(&[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]);
        assert_eq!(inclusion_proof(&leaves, 0), Some(path_of_0));
        let path_of_5 = hashes(&[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]);
        assert_eq!(inclusion_proof(&leaves, 5), Some(path_of_5));
        let six_to_eight = hashes(&[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]);
        assert_eq!(consistency_proof(&leaves, 6), Some(six_to_eight));
        let two_to_five = hashes(&[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]);
        assert_eq!(consistency_proof(&leaves[..5], 2), Some(two_to_five));
    }

    /// Every leaf of every tree of 1..=20 leaves (sizes 1, powers of two and the rest) proves
    /// its inclusion, and not at another index, nor for another leaf. (The size is not bound
    /// by the path alone: the signed checkpoint binds it to the root.)
    #[test]
    fn every_inclusion_proof_round_trips() {
        for size in 1..=20usize {
            let leaves = numbered_leaves(size);
            let tree_root = root(&leaves);
            for (index, leaf) in leaves.iter().enumerate() {
                let proof = inclusion_proof(&leaves, index).unwrap();
                let (at, of) = (index as u64, size as u64);
                assert_eq!(verify_inclusion(leaf, at, of, &proof, &tree_root), Ok(()), "{index} of {size}");
                assert!(verify_inclusion(&leaf_hash(b"forged"), at, of, &proof, &tree_root).is_err());
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(leaf, other as u64, of, &proof, &tree_root).is_err(), "{index}/{size}");
                }
            }
            assert_eq!(inclusion_proof(&leaves, size), None);
        }
    }

    /// Every prefix of every tree of 1..=20 leaves proves consistent with it, and a wrong old
    /// or new root does not.
    #[test]
    fn every_consistency_proof_round_trips() {
        for new_size in 1..=20usize {
            let leaves = numbered_leaves(new_size);
            let new_root = root(&leaves);
            for old_size in 0..=new_size {
                let old_root = root(&leaves[..old_size]);
                let proof = consistency_proof(&leaves, old_size).unwrap();
                let (old, new) = (old_size as u64, new_size as u64);
                assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()), "{old_size}→{new_size}");
                if old_size > 0 {
                    let forged = leaf_hash(b"forged");
                    assert!(verify_consistency(old, new, &forged, &new_root, &proof).is_err(), "{old_size}→{new_size}");
                    assert!(verify_consistency(old, new, &old_root, &forged, &proof).is_err(), "{old_size}→{new_size}");
                }
            }
            assert_eq!(consistency_proof(&leaves, new_size + 1), None);
        }
    }

    #[test]
    fn a_tampered_proof_fails() {
        let leaves = numbered_leaves(13);
        let tree_root = root(&leaves);
        let mut proof = inclusion_proof(&leaves, 6).unwrap();
        proof[1][0] ^= 1;
        assert_eq!(verify_inclusion(&leaves[6], 6, 13, &proof, &tree_root), Err(ProofError::RootMismatch));
        let proof = inclusion_proof(&leaves, 6).unwrap();
        assert!(verify_inclusion(&leaves[6], 6, 13, &proof[..proof.len() - 1], &tree_root).is_err());
        let mut longer = proof.clone();
        longer.push(tree_root);
        assert!(verify_inclusion(&leaves[6], 6, 13, &longer, &tree_root).is_err());

        let old_root = root(&leaves[..5]);
        let mut proof = consistency_proof(&leaves, 5).unwrap();
        proof[0][31] ^= 0x80;
        assert!(verify_consistency(5, 13, &old_root, &tree_root, &proof).is_err());
        let proof = consistency_proof(&leaves, 5).unwrap();
        assert!(verify_consistency(5, 13, &old_root, &tree_root, &proof[1..]).is_err());
        assert!(verify_consistency(5, 13, &old_root, &tree_root, &[]).is_err());
        assert_eq!(
            verify_consistency(13, 5, &tree_root, &old_root, &proof),
            Err(ProofError::SizesReversed { old_size: 13, new_size: 5 })
        );
    }

    /// A ledger whose early entries were rewritten is not an extension of the old tree.
    #[test]
    fn a_rewritten_prefix_is_not_consistent() {
        let leaves = numbered_leaves(9);
        let old_root = root(&leaves[..4]);
        let mut rewritten = leaves.clone();
        rewritten[2] = leaf_hash(b"rewritten");
        let proof = consistency_proof(&rewritten, 4).unwrap();
        assert!(verify_consistency(4, 9, &old_root, &root(&rewritten), &proof).is_err());
    }

    /// A source that counts what it is asked for: roots and proofs over it match the slice's,
    /// and a proof asks for a number of subtrees that grows with log(size).
    #[test]
    fn roots_and_proofs_over_a_source_of_subtrees_match_the_slice() {
        struct Counted<'a>(&'a [Hash], usize);
        impl Subtrees for Counted<'_> {
            type Error = Infallible;
            fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, Infallible> {
                self.1 += 1;
                Slice(self.0).perfect(level, index)
            }
        }
        let leaves = numbered_leaves(1000);
        for size in [1u64, 2, 3, 255, 256, 257, 600, 1000] {
            let prefix = &leaves[..size as usize];
            let mut source = Counted(&leaves, 0);
            assert_eq!(range_root(&mut source, 0, size).unwrap(), root(prefix), "root of {size}");
            assert!(source.1 <= 64 - size.leading_zeros() as usize, "{} subtrees for a root of {size}", source.1);
            for index in [0, size / 2, size - 1] {
                let mut source = Counted(&leaves, 0);
                let path = inclusion_path(&mut source, index, size).unwrap();
                assert_eq!(path, inclusion_proof(prefix, index as usize), "{index} of {size}");
                assert!(source.1 <= 2 * 64, "{} subtrees for one proof", source.1);
            }
            for old in [1, size / 3, size] {
                let path = consistency_path(&mut Counted(&leaves, 0), old, size).unwrap();
                assert_eq!(path, consistency_proof(prefix, old as usize), "{old} → {size}");
            }
        }
        assert_eq!(perfect_root(&leaves[..8]), root(&leaves[..8]));
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1025, 1024)];
        for (n, k) in cases {
            assert_eq!(split(n), k, "n = {n}");
        }
    }
}
