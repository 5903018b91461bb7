//! Merkle trees in the manner of RFC 6962 and RFC 9162 (§2.1): leaf and node hashes
//! domain-separated, the tree hash of n leaves split at the largest power of two below n, and
//! inclusion (audit path) and consistency proofs with the RFC's verification algorithms. Pure:
//! no I/O. The ledger's leaves are its entries' own 32-byte `hash`es (`ledger_proofs`).

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

/// The Merkle tree hash (MTH) of these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The largest power of two smaller than `n` (for n ≥ 2).
fn split(n: usize) -> usize {
    let below = n.saturating_sub(1).max(1);
    1 << (usize::BITS - 1 - below.leading_zeros())
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 9162 §2.1.3.1), leaf side
/// first; `None` if there is no such leaf.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    audit_path(leaves, index, &mut proof);
    Some(proof)
}

fn audit_path(leaves: &[Hash], index: usize, proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if index < left.len() {
        audit_path(left, index, proof);
        proof.push(root(right));
    } else {
        audit_path(right, index - left.len(), proof);
        proof.push(root(left));
    }
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
    if old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    Some(proof)
}

/// SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1. `complete` is true while the old tree's root
/// is itself a node of the new tree that the verifier already knows.
fn subproof(old_size: usize, leaves: &[Hash], complete: bool, proof: &mut Vec<Hash>) {
    if old_size == leaves.len() {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let (left, right) = leaves.split_at(split(leaves.len()));
    if old_size <= left.len() {
        subproof(old_size, left, complete, proof);
        proof.push(root(right));
    } else {
        subproof(old_size - left.len(), right, false, proof);
        proof.push(root(left));
    }
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

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1025, 1024)];
        for (n, k) in cases {
            assert_eq!(split(n), k, "n = {n}");
        }
    }
}
