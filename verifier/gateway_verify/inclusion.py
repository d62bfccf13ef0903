"""Inclusion of many records in one tree, checked in index order without redoing shared work.

Each proof is verified by the RFC 9162 §2.1.3.2 algorithm, but records close in the log
share the upper part of their audit paths. After a proof has been verified up to the root,
every intermediate state of the walk — (levels climbed, fn, hash so far) with the rest of
that proof — is known to lead to the root. When a later walk reaches the same state and the
rest of its proof is the same, it needs no more hashing: the outcome is already known. For
records in index order that makes the cost about two hashes per record instead of log2(n).
"""

from __future__ import annotations

import binascii

from gateway_verify.merkle import HASH_SIZE, node_hash


class InclusionChecker:
    """Checks (index, leaf hash, base64 audit path) against one tree size and root."""

    def __init__(self, tree_size: int, root: bytes) -> None:
        self.tree_size = tree_size
        self.root = root
        # levels climbed → latest verified state (fn, hash so far, its proof, step in it):
        # from that state, proof[step:] leads to the root
        self._known: dict[int, tuple[int, bytes, list[str], int]] = {}
        self.hashes = 0  # node hashes computed, for the benchmark

    def check(self, index: int, leaf: bytes, proof: list[str]) -> bool:
        """True iff `proof` (base64 hashes, leaf side first) puts `leaf` at `index`."""
        if not 0 <= index < self.tree_size:
            return False
        fn, sn, r = index, self.tree_size - 1, leaf
        shifts = 0
        walk: list[tuple[int, int, bytes, int]] = []
        for step, encoded in enumerate(proof):
            known = self._known.get(shifts)
            if (known is not None and known[0] == fn and known[1] == r
                    and proof[step:] == known[2][known[3]:]):
                self._remember(walk, proof)
                return True
            walk.append((shifts, fn, r, step))
            if sn == 0:
                return False
            p = _decode(encoded)
            if p is None:
                return False
            self.hashes += 1
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                while not fn & 1 and fn:
                    fn >>= 1
                    sn >>= 1
                    shifts += 1
            else:
                r = node_hash(r, p)
            fn >>= 1
            sn >>= 1
            shifts += 1
        if sn != 0 or r != self.root:
            return False
        walk.append((shifts, fn, r, len(proof)))
        self._remember(walk, proof)
        return True

    def _remember(self, walk: list[tuple[int, int, bytes, int]], proof: list[str]) -> None:
        known = self._known
        for shifts, fn, r, step in walk:
            known[shifts] = (fn, r, proof, step)


def _decode(encoded: str) -> bytes | None:
    if not isinstance(encoded, str):
        return None
    try:
        raw = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == HASH_SIZE else None
