"""Review fixtures: the shipped policy (fresh system keys), and a log holding a demo month."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.bulk import bulk_append
from gateway.policy import Policy, load_policy
from gateway.policy.snapshot import write_throwaway_keys
from gateway.review.demo_month import demo_records
from gateway.review.period import Month

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "test.example-holdings.co.kr/access-log"
MONTH = Month(2026, 11)
AS_OF = "2026-12-05T00:00:00.000000Z"
CUSTOMERS = [f"{i:032x}" for i in range(1, 1501)]


@pytest.fixture(scope="session")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    keys = tmp_path_factory.mktemp("review-keys")
    write_throwaway_keys(ROOT / "policies", keys)  # a key of the pinned type per system
    return load_policy(ROOT / "policies", keys)


@pytest.fixture(scope="session")
def demo_month(policy: Policy) -> list[dict[str, Any]]:
    """The demo's records: three history months, the month, two campaigns."""
    return list(demo_records(policy, CUSTOMERS, MONTH))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    found = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    yield found
    found.dispose()


@pytest.fixture
def demo_engine(engine: Engine, demo_month: list[dict[str, Any]]) -> Engine:
    bulk_append(engine, demo_month, batch=10_000)
    return engine


@pytest.fixture
def access_log(engine: Engine) -> Iterator[AccessLog]:
    log = AccessLog(engine, LogSigner(Ed25519PrivateKey.generate(), ORIGIN), origin=ORIGIN)
    yield log
    log.close()
