"""Used token ids: one INSERT per token, replays refused, expired ids purged, fails closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.auth import JtiStore
from gateway.db.engine import make_engine
from gateway.db.models import UsedToken
from gateway.errors import StoreUnavailable, TokenReplayed
from tests.auth.conftest import NOW, open_store
from tests.conftest import postgres_schema


@pytest.fixture
def store(db_path: Path) -> Iterator[tuple[Engine, JtiStore]]:
    engine, jti_store = open_store(db_path)
    yield engine, jti_store
    engine.dispose()


def test_remember_then_replay(store: tuple[Engine, JtiStore]) -> None:
    engine, jti_store = store
    jti_store.remember("jti-1", "bank-fraud", NOW + timedelta(seconds=150))
    with pytest.raises(TokenReplayed, match="replay refused for `card-risk`"):
        jti_store.remember("jti-1", "card-risk", NOW + timedelta(seconds=150))
    with engine.connect() as connection:
        rows = connection.execute(select(UsedToken.jti, UsedToken.system)).all()
    assert [tuple(row) for row in rows] == [("jti-1", "bank-fraud")]  # the first one stays


def test_purge_forgets_only_expired(store: tuple[Engine, JtiStore]) -> None:
    _, jti_store = store
    jti_store.remember("old", "bank-fraud", NOW - timedelta(seconds=1))
    jti_store.remember("current", "bank-fraud", NOW + timedelta(seconds=60))
    jti_store.remember("boundary", "bank-fraud", NOW)  # kept: expires at, not before, now
    assert jti_store.purge_expired(NOW) == 1
    jti_store.remember("old", "bank-fraud", NOW + timedelta(seconds=60))  # forgotten: free again
    with pytest.raises(TokenReplayed, match="already used"):
        jti_store.remember("current", "bank-fraud", NOW + timedelta(seconds=60))


def test_missing_table_fails_closed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'empty.db').as_posix()}")
    jti_store = JtiStore(engine)
    with pytest.raises(StoreUnavailable, match="cannot be recorded: `used_tokens` unavailable"):
        jti_store.remember("jti-1", "bank-fraud", NOW)
    with pytest.raises(StoreUnavailable, match="cannot be purged"):
        jti_store.purge_expired(NOW)
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    with postgres_schema("auth") as url:
        engine = make_engine(url)
        UsedToken.__table__.create(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_postgres_replay_and_purge(postgres_engine: Engine) -> None:
    first, second = JtiStore(postgres_engine), JtiStore(postgres_engine)
    first.remember("jti-pg", "bank-fraud", NOW + timedelta(seconds=60))
    with pytest.raises(TokenReplayed, match="replay refused for `bank-fraud`"):
        second.remember("jti-pg", "bank-fraud", NOW + timedelta(seconds=60))
    first.remember("jti-old", "bank-fraud", NOW - timedelta(seconds=60))
    assert second.purge_expired(NOW) == 1
