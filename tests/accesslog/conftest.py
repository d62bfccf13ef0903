"""Fixtures for the access log: a session signing key and logs on real SQLite files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine

from gateway.accesslog import AccessLog, LogSigner

ORIGIN = "test.example-holdings.co.kr/access-log"


@pytest.fixture(scope="session")
def signer() -> LogSigner:
    return LogSigner(Ed25519PrivateKey.generate(), ORIGIN)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    yield engine
    engine.dispose()


LogFactory = Callable[..., AccessLog]


@pytest.fixture
def make_log(sqlite_engine: Engine, signer: LogSigner) -> Iterator[LogFactory]:
    logs: list[AccessLog] = []

    def make(**kwargs: object) -> AccessLog:
        kwargs.setdefault("origin", ORIGIN)
        log = AccessLog(sqlite_engine, signer, **kwargs)  # type: ignore[arg-type]
        logs.append(log)
        return log

    yield make
    for log in logs:
        log.close()
