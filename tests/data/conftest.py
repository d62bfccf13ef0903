"""Fixtures for the data layer: real SQLite files in tmp_path and real keys per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import CUSTOMER_TABLES, create_affiliate_schema
from gateway.db.engine import make_engine
from gateway.db.models import create_gateway_schema
from pseudonymizer.keys import FileKeyProvider
from pseudonymizer.vault import RrnVault

AFFILIATES_WITH_DATA = tuple(CUSTOMER_TABLES)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> FileKeyProvider:
    return FileKeyProvider.create(tmp_path_factory.mktemp("secrets"))


@pytest.fixture(scope="session")
def vault(keys: FileKeyProvider) -> RrnVault:
    return RrnVault(keys)


@pytest.fixture
def gateway_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    create_gateway_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def broken_engine(tmp_path: Path) -> Iterator[Engine]:
    """A reachable database without the gateway's tables: every query fails."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    yield engine
    engine.dispose()


def affiliate_urls(folder: Path) -> dict[str, str]:
    return {aff: f"sqlite:///{folder / 'affiliates' / f'{aff}.db'}" for aff in AFFILIATES_WITH_DATA}


@pytest.fixture(scope="session")
def urls_in() -> Callable[[Path], dict[str, str]]:
    """`urls_in(folder)`: one SQLite URL per affiliate with data, under `folder/affiliates`."""
    return affiliate_urls


@pytest.fixture
def affiliate_dbs(tmp_path: Path) -> Iterator[AffiliateDatabases]:
    databases = AffiliateDatabases(affiliate_urls(tmp_path))
    for affiliate in AFFILIATES_WITH_DATA:
        create_affiliate_schema(databases.engine(affiliate), affiliate)
    yield databases
    databases.close()
