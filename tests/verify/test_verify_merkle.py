"""The verifier's RFC 9162 code against the gateway's: two implementations, one answer."""

from __future__ import annotations

import base64
import itertools

import pytest

from gateway.accesslog import merkle as gateway_merkle
from gateway_verify.inclusion import InclusionChecker
from gateway_verify.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion

LEAVES = [b"leaf-%d" % n for n in range(40)]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def subtree(start: int, end: int) -> bytes:
    return gateway_merkle.root_from_leaves(LEAVES[start:end])


def root(size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree(0, size)


def b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 32, 33, 40])
def test_inclusion_agrees_and_tampering_fails(size: int) -> None:
    checker = InclusionChecker(size, root(size))
    for index in range(size):
        proof = gateway_merkle.inclusion_proof(index, size, subtree)
        assert verify_inclusion(HASHES[index], index, size, proof, root(size))
        assert checker.check(index, HASHES[index], b64(proof))
        assert not checker.check(index, HASHES[(index + 1) % size], b64(proof)) or size == 1
        if proof:  # a changed, dropped or extra hash never passes, even after the cache warmed
            bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
            assert not checker.check(index, HASHES[index], b64(bad))
            assert not checker.check(index, HASHES[index], b64(proof[:-1]))
            assert not checker.check(index, HASHES[index], b64([*proof, proof[-1]]))


def test_cached_paths_still_check_the_upper_hashes() -> None:
    size = 32
    checker = InclusionChecker(size, root(size))
    assert checker.check(0, HASHES[0], b64(gateway_merkle.inclusion_proof(0, size, subtree)))
    proof = gateway_merkle.inclusion_proof(1, size, subtree)
    forged = [*proof[:-1], bytes(32)]  # shares the lower path with leaf 0, not the top
    assert not checker.check(1, HASHES[1], b64(forged))
    assert checker.check(1, HASHES[1], b64(proof))


def test_consistency_agrees_for_every_pair_of_sizes() -> None:
    for old, new in itertools.combinations_with_replacement(range(41), 2):
        proof = gateway_merkle.consistency_proof(old, new, subtree)
        assert verify_consistency(old, new, proof, root(old), root(new)), (old, new)
        if old and old != new:
            assert not verify_consistency(old, new, proof, root(old - 1) if old > 1 else
                                          bytes(32), root(new))
            assert not verify_consistency(old, new, proof[:-1], root(old), root(new))
