"""RFC 9162 Merkle tree hashing, proof generation and proof verification (pure functions).

Hashing follows RFC 9162 §2.1.1: the empty tree hashes to SHA-256(""), a leaf to
SHA-256(0x00 ‖ bytes), an interior node to SHA-256(0x01 ‖ left ‖ right), and a list of n > 1
leaves splits at k, the largest power of two smaller than n. Proof generation follows
§2.1.3.1 (PATH) and §2.1.4.1 (PROOF/SUBPROOF); verification follows §2.1.3.2 and §2.1.4.2.

Generation reads hashes through `get_subtree(start, end)`: the hash of leaves [start, end).
Every range the algorithms ask for starts at a multiple of a power of two; `range_hash`
turns a source of *perfect* aligned subtrees (the stored nodes) into such a function in
O(log n) look-ups, so a proof costs O(log² n) look-ups at worst.

Which ranges a proof needs depends on its index and sizes alone, not on any hash:
`inclusion_ranges` and `consistency_ranges` list them (the proof functions are built on
them), and `range_nodes` lists the perfect subtrees `range_hash` reads for a range. A store
can therefore fetch every node of a proof in one query and assemble the proof in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from gateway.accesslog.errors import LogRangeError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeSource = Callable[[int, int], bytes]
"""`get_subtree(start, end)`: hash of the leaves [start, end), end > start."""

PerfectSource = Callable[[int, int], bytes]
"""`get_perfect(level, index)`: hash of the perfect subtree of 2**level leaves starting at
leaf index << level (level 0 is a leaf hash)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than `n` (n ≥ 2): RFC 9162 §2.1.1's k."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH of the given leaf *data* (not leaf hashes), in O(n) hashing and O(log n) memory."""
    return root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    frontier = CompactRange()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


class CompactRange:
    """The right frontier of a tree: one perfect subtree hash per set bit of its size.

    Appending a leaf merges equal-sized subtrees (a binary counter), so each append costs
    O(1) amortized hashing and reports every newly completed node for storage.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError("compact range needs one hash per set bit of the size")
        self.size = size
        # (level, hash) from the leftmost (largest) subtree to the rightmost
        levels = [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]
        self._stack: list[tuple[int, bytes]] = list(zip(levels, hashes))

    @staticmethod
    def perfect_subtrees(size: int) -> list[tuple[int, int]]:
        """(level, index) of the perfect subtrees covering [0, size), largest first."""
        out: list[tuple[int, int]] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the (level, index, hash) of every node it completes."""
        index = self.size
        self.size += 1
        level, h = 0, leaf
        completed: list[tuple[int, int, bytes]] = []
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            h = node_hash(left, h)
            level += 1
            completed.append((level, index >> level, h))
        self._stack.append((level, h))
        return completed

    def hashes(self) -> list[bytes]:
        """The frontier's hashes, largest subtree first (the constructor's `hashes`)."""
        return [h for _, h in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def range_hash(start: int, end: int, get_perfect: PerfectSource) -> bytes:
    """MTH of leaves [start, end) from stored perfect subtrees (RFC 9162 §2.1.1 split)."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range has no subtree hash")
    if n & (n - 1) == 0 and start % n == 0:
        return get_perfect(n.bit_length() - 1, start // n)
    k = split_point(n)
    left = range_hash(start, start + k, get_perfect)
    return node_hash(left, range_hash(start + k, end, get_perfect))


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """(level, index) of each perfect subtree `range_hash(start, end, …)` reads, in its order."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range has no subtree hash")
    if n & (n - 1) == 0 and start % n == 0:  # the same test as range_hash's
        return [(n.bit_length() - 1, start // n)]
    k = split_point(n)
    return range_nodes(start, start + k) + range_nodes(start + k, end)


def nodes_of_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The distinct perfect subtrees (level, index) that hashing all `ranges` reads."""
    return list(dict.fromkeys(key for start, end in ranges for key in range_nodes(start, end)))


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make RFC 9162 §2.1.3.1 PATH(index, D[tree_size]), in order."""
    if not 0 <= index < tree_size:
        raise LogRangeError(f"leaf index {index} is outside a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:  # descend from the root; siblings come out top-down
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make RFC 9162 §2.1.4.1 PROOF(first, D[second]), in order."""
    if not 0 <= first <= second:
        raise LogRangeError(f"cannot prove tree size {first} consistent with size {second}")
    if first == 0 or first == second:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, second, True  # `whole` is SUBPROOF's b: first is the whole left edge
    while True:
        n, m = end - start, first - start
        if m == n:
            if not whole:
                ranges.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, tree_size: int, get_subtree: SubtreeSource) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[tree_size]): sibling hashes from the leaf upwards."""
    return [get_subtree(start, end) for start, end in inclusion_ranges(index, tree_size)]


def consistency_proof(first: int, second: int, get_subtree: SubtreeSource) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(first, D[second]); empty when first is 0 or equals second."""
    return [get_subtree(start, end) for start, end in consistency_ranges(first, second)]


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """RFC 9162 §2.1.3.2 steps 1-5: the root a proof implies, or None if it cannot be valid."""
    if not 0 <= index < tree_size or not _well_formed(leaf_hash, *proof):
        return None
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff `proof` puts `leaf_hash` at `index` in the tree of `tree_size` leaves and `root`."""
    return root_from_inclusion_proof(leaf_hash, index, tree_size, proof) == root


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: True iff the tree (first, first_root) is a prefix of (second, ...)."""
    if not 0 <= first <= second or not _well_formed(first_root, second_root, *proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:  # every tree extends the empty tree; nothing to prove
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: first is a power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
