"""Proofs and old roots fetched in one query equal a naive full rehash, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, text

from gateway.accesslog import append_only, store
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.errors import LogCorrupted
from gateway.accesslog.merkle import (
    consistency_ranges,
    inclusion_ranges,
    nodes_of_ranges,
    range_hash,
    range_nodes,
)
from tests.conftest import postgres_schema

ALL_PAIRS = 70  # every (index, size) and (first, second) pair up to this many leaves
RANDOM_LEAVES = 3000
RANDOM_PAIRS = 250


class Naive:
    """RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 SUBPROOF as the RFC states them.

    Rehashes from the leaves (memoized per range only to keep thousands of proofs fast);
    reads nothing but the leaf hashes, so it shares no code or data with the store.
    """

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.leaves = leaf_hashes
        self.mth = functools.lru_cache(maxsize=None)(self._mth)

    @staticmethod
    def _k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[start]
        k = self._k(n)
        return hashlib.sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end)
                              ).digest()

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = self._k(end - start)
        if m < k:
            return self.path(m, start, start + k) + [self.mth(start + k, end)]
        return self.path(m - k, start + k, end) + [self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = self._k(n)
        if m <= k:
            return self.subproof(m, start, start + k, b) + [self.mth(start + k, end)]
        return self.subproof(m - k, start + k, end, False) + [self.mth(start, start + k)]

    def proof(self, first: int, second: int) -> list[bytes]:
        return [] if first in (0, second) else self.subproof(first, 0, second, True)


def build(engine: Engine, count: int) -> Naive:
    """A log of `count` synthetic records in uneven transactions; its naive reference."""
    for start, stop in ((0, count // 3), (count // 3, count // 3 + 1), (count // 3 + 1, count)):
        records = ({"n": i, "who": f"E{i % 7}"} for i in range(start, stop))
        bulk_append(engine, records, batch=max(9, count // 7))
    with engine.connect() as conn:
        data = list(store.iter_records(conn, 0, count))
    return Naive([hashlib.sha256(b"\x00" + d).digest() for d in data])


def check_pairs(conn: Connection, naive: Naive, pairs: list[tuple[int, int]]) -> None:
    """Root at `second`, inclusion of `first` in `second` (if a leaf), consistency first→second."""
    for second in {second for _, second in pairs}:
        assert store.root_at(conn, second) == naive.mth(0, second), second
    for first, second in pairs:
        if first < second:
            assert store.prove_inclusion(conn, first, second) == naive.path(first, 0, second), (
                first, second)
        assert store.prove_consistency(conn, first, second) == naive.proof(first, second), (
            first, second)


def every_pair(limit: int) -> list[tuple[int, int]]:
    return [(first, second) for second in range(limit + 1) for first in range(second + 1)]


def random_pairs(size: int, count: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    pairs = [(0, size), (size - 1, size), (size // 2, size)]
    for _ in range(count):
        second = rng.randint(1, size)
        pairs.append((rng.randrange(second), second))
    return pairs


def statements_of(engine: Engine) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    return seen


# --- pure: the nodes a range needs are exactly those range_hash reads --------------------------
def test_range_nodes_are_what_range_hash_reads() -> None:
    for end in range(1, 80):
        for start in range(end):  # unaligned starts too, which the proofs never ask for
            read: list[tuple[int, int]] = []

            def perfect(level: int, index: int, read: list[tuple[int, int]] = read) -> bytes:
                read.append((level, index))
                return bytes(32)

            range_hash(start, end, perfect)
            assert range_nodes(start, end) == read, (start, end)


def test_proof_nodes_are_few() -> None:
    # one query per proof stays small: about 2·log2(n) distinct nodes, not O(log² n)
    n = 10_000_000
    for index, size in ((0, n), (n // 3, n), (n - 1, n), (2**23 + 5, 2**23 + 7)):
        assert len(nodes_of_ranges(inclusion_ranges(index, size))) <= 2 * 24
    for first in (1, 5_000_017, 2**23 - 1, n - 1):
        assert len(nodes_of_ranges(consistency_ranges(first, n))) <= 2 * 24


def test_empty_range_has_no_nodes() -> None:
    with pytest.raises(ValueError, match="empty range has no subtree hash"):
        range_nodes(5, 5)


# --- SQLite --------------------------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    yield engine
    engine.dispose()


def test_sqlite_every_pair_up_to_70_leaves_matches_naive(engine: Engine) -> None:
    naive = build(engine, ALL_PAIRS)
    with engine.connect() as conn:
        check_pairs(conn, naive, every_pair(ALL_PAIRS))


def test_sqlite_random_pairs_on_thousands_of_leaves_match_naive(engine: Engine) -> None:
    naive = build(engine, RANDOM_LEAVES)
    with engine.connect() as conn:
        check_pairs(conn, naive, random_pairs(RANDOM_LEAVES, RANDOM_PAIRS, seed=6962))


def test_sqlite_a_proof_is_two_queries_on_primary_keys(engine: Engine) -> None:
    build(engine, 1000)
    seen = statements_of(engine)
    with engine.connect() as conn:
        assert len(store.prove_inclusion(conn, 357, 999)) == 10  # leaves and many levels
        assert len(seen) == 2  # the head, then every node at once
        assert "UNION ALL" in seen[1][0]
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[1][0], seen[1][1]).all()
        details = [str(row[-1]) for row in plan]
        assert not [d for d in details if d.startswith("SCAN")], details
        assert any("USING PRIMARY KEY (level=? AND idx=?)" in d for d in details), details
        assert any("USING INTEGER PRIMARY KEY (rowid=?)" in d for d in details), details
        seen.clear()
        store.prove_consistency(conn, 333, 999)
        store.root_at(conn, 777)
        assert len(seen) == 4


def test_many_keys_are_split_into_several_queries(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    naive = build(engine, 200)
    monkeypatch.setattr(store, "MAX_KEYS_PER_QUERY", 3)
    with engine.connect() as conn:
        check_pairs(conn, naive, random_pairs(200, 40, seed=1))


def test_the_core_query_for_other_drivers_gives_the_same_proofs(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    naive = build(engine, 300)
    monkeypatch.setattr(store, "_PLACEHOLDER", {})  # no driver-level SQL for this paramstyle
    with engine.connect() as conn:
        check_pairs(conn, naive, random_pairs(300, 60, seed=2))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM log_nodes WHERE level = 2 AND idx = 2", r"node \(2, 2\) is missing"),
        ("DELETE FROM log_leaves WHERE idx = 12", r"node \(0, 12\) is missing"),
        ("UPDATE log_nodes SET hash = X'00' WHERE level = 1 AND idx = 7",
         r"node \(1, 7\) is not a sha-256 hash"),
    ],
)
def test_a_missing_or_malformed_node_fails_closed(engine: Engine, sql: str, message: str) -> None:
    build(engine, 20)
    with engine.begin() as conn:  # an administrator who first drops the append-only guard
        append_only.remove(conn)
        conn.execute(text(sql))
    # PATH(13, D[20]) reads leaf 12 and nodes (1, 7), (2, 2), (3, 0), (2, 4)
    with engine.connect() as conn, pytest.raises(LogCorrupted, match=message):
        store.prove_inclusion(conn, 13, 20)


# --- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a schema of this test alone; dropped afterwards."""
    with postgres_schema("accesslog_proofbatch") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_postgres_every_pair_and_random_pairs_match_naive(pg_engine: Engine) -> None:
    naive = build(pg_engine, RANDOM_LEAVES)
    with pg_engine.connect() as conn:
        # the first 70 leaves of a bigger log are the same tree as a log of 70 leaves
        check_pairs(conn, Naive(naive.leaves[:ALL_PAIRS]), every_pair(ALL_PAIRS))
        check_pairs(conn, naive, random_pairs(RANDOM_LEAVES, RANDOM_PAIRS, seed=9162))


@pytest.mark.postgres
def test_postgres_a_proof_is_two_queries_on_primary_keys(pg_engine: Engine) -> None:
    build(pg_engine, 1000)
    seen = statements_of(pg_engine)
    with pg_engine.connect() as conn:
        assert len(store.prove_inclusion(conn, 357, 999)) == 10
        assert len(seen) == 2
        statement, params = seen[1]
        # tiny tables favour a sequential scan; forbidding it shows the index *can* serve
        # every arm (a predicate it cannot serve would still plan a Seq Scan)
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
        assert "Seq Scan" not in plan, plan
        assert "pk_log_nodes" in plan and "pk_log_leaves" in plan, plan

