"""RFC 9162 Merkle tree verification: leaf and node hashes, inclusion and consistency proofs.

An independent implementation of RFC 9162 §2.1 (it shares no code with the gateway):
leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right), the empty tree
hashes to SHA-256(""). Inclusion per §2.1.3.2, consistency per §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes_ok(hashes: Sequence[bytes]) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)


def inclusion_root(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes | None:
    """§2.1.3.2 steps 1-5: the root `proof` implies for `leaf` (a leaf hash) at `index`."""
    if not 0 <= index < tree_size or not _hashes_ok(proof):
        return None
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return None  # proof longer than the path
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    return inclusion_root(leaf, index, tree_size, proof) == root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """§2.1.4.2: True iff the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if not 0 <= old_size <= new_size or not _hashes_ok([old_root, new_root, *proof]):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: a power of two is its own first hash
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
