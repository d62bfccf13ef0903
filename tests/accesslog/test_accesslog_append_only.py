"""The database itself refuses to change or remove access-log records and tree nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from gateway.accesslog import AccessLog, LogSigner
from gateway.db.engine import make_engine
from gateway.db.migrate import upgrade
from tests.accesslog.conftest import ORIGIN
from tests.conftest import postgres_schema

TAMPERING = [
    "UPDATE log_leaves SET record = leaf_hash WHERE idx = 1",
    "DELETE FROM log_leaves WHERE idx = 2",
    "DELETE FROM log_leaves",
    "UPDATE log_nodes SET hash = hash",
    "DELETE FROM log_nodes",
]


def fill(engine: Engine, signer: LogSigner, *, create_tables: bool) -> None:
    with AccessLog(engine, signer, origin=ORIGIN, create_tables=create_tables) as log:
        for n in range(5):
            log.append({"kind": "test", "n": n})


def assert_guarded(engine: Engine) -> None:
    for statement in TAMPERING:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:  # and nothing changed
        assert conn.execute(text("SELECT count(*) FROM log_leaves")).scalar_one() == 5


def test_tables_created_by_the_log_are_guarded(sqlite_engine: Engine, signer: LogSigner) -> None:
    fill(sqlite_engine, signer, create_tables=True)
    assert_guarded(sqlite_engine)


def test_tables_created_by_the_migrations_are_guarded(tmp_path: Path, signer: LogSigner) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = make_engine(url, synchronous="FULL")
    try:
        fill(engine, signer, create_tables=False)
        assert_guarded(engine)
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a schema of this test alone; dropped afterwards."""
    with postgres_schema("accesslog_guard") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_postgres_tables_are_guarded_truncate_too(pg_engine: Engine, signer: LogSigner) -> None:
    fill(pg_engine, signer, create_tables=True)
    assert_guarded(pg_engine)
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE log_leaves"))
