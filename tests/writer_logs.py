"""Access logs on a real database for tests of what the log writer counts (caps, limits).

Import the fixtures into a test module (`from tests.writer_logs import log, sqlite_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine

from gateway.accesslog import AccessLog, LogSigner

ORIGIN = "test.example-holdings.co.kr/access-log"


def new_log(url: str, **kw: object) -> tuple[Engine, AccessLog]:
    """An engine on `url` and an access log on it, signed with a fresh key."""
    engine = create_engine(url)
    signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    return engine, AccessLog(engine, signer, origin=ORIGIN, **kw)  # type: ignore[arg-type]


@contextmanager
def opened_log(url: str, **kw: object) -> Iterator[tuple[Engine, AccessLog]]:
    """`new_log`, closed and its engine disposed when the block ends."""
    engine, access_log = new_log(url, **kw)
    try:
        yield engine, access_log
    finally:
        access_log.close()
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture
def log(sqlite_url: str) -> Iterator[AccessLog]:
    with opened_log(sqlite_url) as (_engine, access_log):
        yield access_log
