"""RFC 9162 tree hashing and proofs against a naive transcription of the RFC's definitions."""

from __future__ import annotations

import hashlib

import pytest

from gateway.accesslog.errors import LogRangeError
from gateway.accesslog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    range_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

MAX_N = 40
LEAVES = [f"leaf-{i}".encode() for i in range(MAX_N)]


# --- naive reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 written as the RFC states them -------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def source(d: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda start, end: mth(d[start:end])


def stored_source(d: list[bytes]):  # type: ignore[no-untyped-def]
    """Like the store: only perfect aligned subtrees are "stored"; others go through range_hash."""
    calls: list[tuple[int, int]] = []

    def perfect(level: int, index: int) -> bytes:
        calls.append((level, index))
        return mth(d[index << level : (index + 1) << level])

    return (lambda start, end: range_hash(start, end, perfect)), calls


# --- known answers --------------------------------------------------------------------------------
def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT


def test_rfc6962_test_vector_root() -> None:
    # the 8-leaf tree of the RFC 6962 reference tests (certificate-transparency merkle_tree_test)
    leaves = [bytes.fromhex(h) for h in
              ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]]
    assert root_from_leaves(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_root_matches_reference(n: int) -> None:
    assert root_from_leaves(LEAVES[:n]) == mth(LEAVES[:n])


def test_compact_range_reports_every_complete_node_once() -> None:
    frontier = CompactRange()
    nodes = {}
    for i, leaf in enumerate(LEAVES):
        for level, index, h in frontier.append(leaf_hash(leaf)):
            assert (level, index) not in nodes
            nodes[(level, index)] = h
        assert frontier.root() == mth(LEAVES[: i + 1])
    # 40 leaves: 20 + 10 + 5 + 2 + 1 complete nodes at levels 1..5
    assert sorted(nodes) == sorted((lvl, j) for lvl in range(1, 6) for j in range(MAX_N >> lvl))
    for (level, index), h in nodes.items():
        assert h == mth(LEAVES[index << level : (index + 1) << level])


def test_compact_range_resumes_from_stored_frontier() -> None:
    full = CompactRange()
    for leaf in LEAVES[:27]:
        full.append(leaf_hash(leaf))
    wanted = CompactRange.perfect_subtrees(27)
    assert wanted == [(4, 0), (3, 2), (1, 12), (0, 26)]
    resumed = CompactRange(27, [mth(LEAVES[i << lvl : (i + 1) << lvl]) for lvl, i in wanted])
    for leaf in LEAVES[27:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.root() == mth(LEAVES)


# --- inclusion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_inclusion_proofs_match_reference_and_verify(n: int) -> None:
    d = LEAVES[:n]
    root = mth(d)
    get_stored, _ = stored_source(d)
    for m in range(n):
        proof = inclusion_proof(m, n, source(d))
        assert proof == path(m, d)
        assert inclusion_proof(m, n, get_stored) == proof
        assert verify_inclusion(leaf_hash(d[m]), m, n, proof, root)
        # the same proof must not verify for another index, size, leaf or root
        assert not verify_inclusion(leaf_hash(d[m]), m ^ 1, n, proof, root) or n == 1
        assert not verify_inclusion(leaf_hash(d[m]), m, 2 * n, proof, root)  # too short
        assert not verify_inclusion(leaf_hash(b"other"), m, n, proof, root)
        assert not verify_inclusion(leaf_hash(d[m]), m, n, proof, leaf_hash(b"x"))
        if proof:
            assert not verify_inclusion(leaf_hash(d[m]), m, n, proof[:-1], root)
            assert not verify_inclusion(leaf_hash(d[m]), m, n, proof + [root], root)


def test_inclusion_proof_lookups_stay_logarithmic() -> None:
    n = 1000
    d = [str(i).encode() for i in range(n)]
    get_stored, calls = stored_source(d)
    for m in (0, 511, 999):
        calls.clear()
        inclusion_proof(m, n, get_stored)
        assert len(calls) <= 10 * 10  # log2(1000)² bound; in practice ~ log2(n)


@pytest.mark.parametrize(
    ("index", "size"),
    [
        (0, 0),  # nothing is in the empty tree
        (5, 5),  # index equal to the size
        (-1, 5),  # negative index
    ],
)
def test_inclusion_proof_out_of_range(index: int, size: int) -> None:
    with pytest.raises(LogRangeError, match="outside a tree of size"):
        inclusion_proof(index, size, source(LEAVES))


def test_verify_inclusion_rejects_malformed_hashes() -> None:
    d = LEAVES[:4]
    proof = inclusion_proof(1, 4, source(d))
    assert not verify_inclusion(leaf_hash(d[1]), 1, 4, [p[:31] for p in proof], mth(d))
    assert not verify_inclusion(leaf_hash(d[1]), 4, 4, proof, mth(d))


# --- consistency ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_consistency_proofs_match_reference_and_verify(n: int) -> None:
    d = LEAVES[:n]
    root_n = mth(d)
    get_stored, _ = stored_source(d)
    for m in range(0, n + 1):
        proof = consistency_proof(m, n, source(d))
        expected = [] if m in (0, n) else subproof(m, d, True)
        assert proof == expected
        assert consistency_proof(m, n, get_stored) == proof
        root_m = mth(d[:m])
        assert verify_consistency(m, n, proof, root_m, root_n)
        if 0 < m < n:
            # wrong old root, wrong new root, wrong sizes, truncated proof: all refused
            assert not verify_consistency(m, n, proof, leaf_hash(b"x"), root_n)
            assert not verify_consistency(m, n, proof, root_m, leaf_hash(b"x"))
            assert not verify_consistency(m, 2 * n, proof, root_m, root_n)  # too short
            assert not verify_consistency(m, n, proof[:-1], root_m, root_n)
            assert not verify_consistency(m, n, [], root_m, root_n)


@pytest.mark.parametrize(
    ("first", "second", "proof_len", "first_root", "ok"),
    [
        (0, 5, 0, EMPTY_ROOT, True),  # every log extends the empty log
        (0, 5, 0, leaf_hash(b"x"), False),  # ... but size 0 has only one root
        (0, 5, 1, EMPTY_ROOT, False),  # size 0 needs no proof; a non-empty one is suspicious
        (5, 5, 0, None, True),  # equal sizes: equal roots, empty proof
        (5, 5, 1, None, False),
        (6, 5, 0, None, False),  # shrinking is never consistent
    ],
)
def test_consistency_edge_cases(
    first: int, second: int, proof_len: int, first_root: bytes | None, ok: bool
) -> None:
    root5 = mth(LEAVES[:5])
    proof = [root5] * proof_len
    assert verify_consistency(first, second, proof, first_root or root5, root5) is ok


def test_consistency_proof_out_of_range() -> None:
    with pytest.raises(LogRangeError, match="cannot prove tree size 6 consistent with size 5"):
        consistency_proof(6, 5, source(LEAVES))
