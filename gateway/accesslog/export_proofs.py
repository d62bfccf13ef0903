"""Inclusion proofs for every leaf of a stretch of the log, as proof lines, in bulk.

A proof per record by `store.prove_inclusion` costs O(log² n) queries: far too slow for a
million records. Here the leaves are taken in aligned chunks of 2**CHUNK_BITS; inside a
chunk the subtree hashes are computed once from the leaf hashes, and the part of the path
above the chunk (the same for all its leaves, RFC 9162 §2.1.3.1 PATH recursion: the chunk is
a node of the tree) is read once from the stored nodes. Each node is base64-encoded once.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from sqlalchemy import Connection

from gateway.accesslog import store
from gateway.accesslog.merkle import inclusion_proof, node_hash, range_hash

CHUNK_BITS = 14  # 16,384 leaves: ~8 MB of records per query, 15 levels in memory


def _quoted(h: bytes) -> str:
    return '"' + base64.b64encode(h).decode("ascii") + '"'


class ChunkProver:
    """Proof lines (`{"hashes":[...],"index":i}`, docs/EXPORT-FORMAT.md) in a tree of `tree_size`."""

    def __init__(self, conn: Connection, tree_size: int, chunk_bits: int = CHUNK_BITS) -> None:
        self._conn = conn
        self.tree_size = tree_size
        self.bits = chunk_bits
        self.chunk = 1 << chunk_bits
        self._stored: dict[tuple[int, int], bytes] = {}  # nodes read from the database
        self._start = 0
        self._levels: list[list[bytes]] = []
        self._quoted: list[list[str]] = []
        self._suffix = ""  # quoted hashes above the chunk, joined, with a leading comma
        self._complete = False

    def load(self, start: int, leaf_hashes: Sequence[bytes]) -> None:
        """Take the leaf hashes of the chunk starting at `start` (a multiple of `chunk`)."""
        if start % self.chunk or len(leaf_hashes) != min(self.chunk, self.tree_size - start):
            raise ValueError("a chunk must be aligned and hold every leaf of its range")
        self._start = start
        levels = [list(leaf_hashes)]
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
        self._levels = levels
        self._complete = len(leaf_hashes) == self.chunk
        if self._complete:
            self._quoted = [[_quoted(h) for h in level] for level in levels[: self.bits]]
            upper = inclusion_proof(start, self.tree_size, self._subtree)[self.bits :]
            self._suffix = "".join("," + _quoted(h) for h in upper)

    def line(self, index: int) -> str:
        """The proof line of leaf `index`, which lies in the loaded chunk."""
        if self._complete:
            j = index - self._start
            q = self._quoted
            parts = ",".join([q[level][(j >> level) ^ 1] for level in range(self.bits)])
            return '{"hashes":[' + parts + self._suffix + '],"index":' + str(index) + "}\n"
        hashes = inclusion_proof(index, self.tree_size, self._subtree)
        parts = ",".join(_quoted(h) for h in hashes)
        return '{"hashes":[' + parts + '],"index":' + str(index) + "}\n"

    def _subtree(self, start: int, end: int) -> bytes:
        return range_hash(start, end, self._perfect)

    def _perfect(self, level: int, index: int) -> bytes:
        first = index << level
        if level < len(self._levels) and self._start <= first < self._start + self.chunk:
            local = self._levels[level]
            at = (first - self._start) >> level
            if at < len(local):
                return local[at]
        key = (level, index)
        if key not in self._stored:
            self._stored[key] = store.perfect_hash(self._conn, level, index)
        return self._stored[key]
