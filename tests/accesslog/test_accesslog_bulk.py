"""Bulk loading writes the same tree, byte for byte, as appending one record at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from gateway.accesslog import (
    AccessLog,
    LogSigner,
    canonical_json,
    leaf_hash,
    store,
    verify_inclusion,
)
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.canonical import CanonicalObject
from gateway.accesslog.errors import RecordNotCanonical
from tests.conftest import postgres_schema

from .conftest import ORIGIN


def _records(n: int) -> list[dict[str, object]]:
    return [
        {"type": "query", "request_id": f"req-{i}", "customer": f"{i:032x}",
         "actor": {"affiliate": "card", "system": "card-risk", "employee": f"E{i % 7}"},
         "attributes": ["name", "고객"], "decision": "permit" if i % 3 else "deny"}
        for i in range(n)
    ]


def _dump(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], object]:
    with engine.connect() as conn:
        leaves = conn.execute(
            select(store.leaves.c.idx, store.leaves.c.leaf_hash, store.leaves.c.record)
            .order_by(store.leaves.c.idx)
        ).all()
        nodes = conn.execute(
            select(store.nodes.c.level, store.nodes.c.idx, store.nodes.c.hash)
            .order_by(store.nodes.c.level, store.nodes.c.idx)
        ).all()
        head = store.read_head(conn)
    return [tuple(r) for r in leaves], [tuple(r) for r in nodes], head


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])  # 7: transactions split odd subtrees
def test_bulk_matches_one_by_one(tmp_path: Path, signer: LogSigner, batch: int) -> None:
    records = _records(100)
    one_engine = create_engine(f"sqlite:///{tmp_path / 'one.db'}")
    bulk_engine = create_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    with AccessLog(one_engine, signer, origin=ORIGIN, batch_max=1) as log:
        for r in records:
            log.append(r)
    # records as dicts and as prebuilt canonical objects give the same bytes
    mixed = [CanonicalObject.of(r) if i % 2 else r for i, r in enumerate(records)]
    assert bulk_append(bulk_engine, mixed, batch=batch) == 100
    one, bulk = _dump(one_engine), _dump(bulk_engine)
    assert bulk == one
    assert bulk[0][5][2] == canonical_json({**records[5], "index": 5})
    one_engine.dispose()
    bulk_engine.dispose()


def test_bulk_then_log_continues_and_proves(sqlite_engine: Engine, make_log) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    assert bulk_append(sqlite_engine, _records(50), batch=16, progress=seen.append) == 50
    assert seen == [16, 32, 48, 50]
    log = make_log()
    assert log.append({"type": "after"}) == 50
    assert bulk_append(sqlite_engine, iter(_records(3))) == 3
    size = log.size()
    assert size == 54
    root = log.root()
    for index in (0, 49, 50, 53):
        proof = log.inclusion_proof(index, size)
        assert verify_inclusion(leaf_hash(log.record(index)), index, size, proof, root)


def test_bulk_empty_input_writes_nothing(sqlite_engine: Engine) -> None:
    assert bulk_append(sqlite_engine, []) == 0
    with sqlite_engine.connect() as conn:
        assert store.read_head(conn).size == 0


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"index": 3}, "must not set `index`"),  # the log assigns the index
        ({"amount": 1.5}, "float at `\\$.amount`"),
        (["not", "an", "object"], "must be a json object"),
    ],
)
def test_bulk_refuses_bad_records_and_writes_nothing(
    sqlite_engine: Engine, record: object, message: str
) -> None:
    with pytest.raises(RecordNotCanonical, match=message):
        bulk_append(sqlite_engine, [{"ok": 1}, record], batch=10)  # type: ignore[list-item]
    with sqlite_engine.connect() as conn:
        assert store.read_head(conn).size == 0


def test_bulk_refuses_bad_batch(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="batch must be"):
        bulk_append(sqlite_engine, [], batch=0)


@pytest.mark.postgres
def test_bulk_matches_one_by_one_on_postgres(signer: LogSigner) -> None:
    records = _records(40)
    with postgres_schema("bulk") as one_url, postgres_schema("bulk") as bulk_url:
        one, bulk = create_engine(one_url), create_engine(bulk_url)
        try:
            with AccessLog(one, signer, origin=ORIGIN, batch_max=1) as log:
                for r in records:
                    log.append(r)
            assert bulk_append(bulk, records, batch=9) == 40
            assert _dump(bulk) == _dump(one)
        finally:
            one.dispose()
            bulk.dispose()
