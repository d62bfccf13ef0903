"""Alembic migrations on real databases: fresh to head, and 0001 with customers → 0002."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, upgrade
from gateway.db.models import Customer, Relationship
from gateway.domain import CustomerKey
from gateway.registry import CustomerRegistry
from pseudonymizer.rrn import generate_rrn, parse_national_id
from pseudonymizer.vault import RrnVault
from tests.conftest import postgres_schema

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _old_rows(engine: Engine, vault: RrnVault, n: int) -> list[str]:
    """`n` customers written as revision 0001 had them (no customer number), each held."""
    rng = random.Random(n)
    keys = sorted(secrets.token_hex(16) for _ in range(n))
    customers = []
    for key in keys:
        digits = parse_national_id(generate_rrn(rng, date(1970, 1, 1 + len(customers) % 28),
                                                1)).digits
        customers.append({"customer_key": key, "rrn_blind_index": vault.blind_index(digits),
                          "rrn_ciphertext": vault.encrypt(digits, key), "id_kind": "resident",
                          "id_form": "checksum", "key_version": 1,
                          "created_at": NOW.replace(tzinfo=None)})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customers (customer_key, rrn_blind_index, rrn_ciphertext,"
                          " id_kind, id_form, key_version, created_at) VALUES (:customer_key,"
                          " :rrn_blind_index, :rrn_ciphertext, :id_kind, :id_form, :key_version,"
                          " :created_at)"), customers)
        conn.execute(insert(Relationship), [{"customer_key": k, "affiliate": "bank",
                                             "since": date(2020, 1, 1)} for k in keys])
    return keys


def _check_numbered(engine: Engine, keys: list[str], vault: RrnVault) -> None:
    with engine.connect() as conn:
        numbers = dict(conn.execute(select(Customer.customer_key, Customer.customer_no)).all())
        held = conn.execute(select(func.count()).select_from(Relationship)).scalar_one()
    assert [numbers[k] for k in keys] == list(range(1, len(keys) + 1))  # key order, no gaps
    assert held == len(keys)  # rebuilding `customers` must not cascade into `relationships`
    columns = {c["name"]: c for c in inspect(engine).get_columns("customers")}
    assert columns["customer_no"]["nullable"] is False
    unique = {ix["name"]: ix["unique"] for ix in inspect(engine).get_indexes("customers")}
    assert unique["ix_customers_customer_no"] and unique["ix_customers_rrn_blind_index"]
    # registration after the migration continues the numbering
    registry = CustomerRegistry(engine, vault)
    added = []
    for i in (1, 2):
        nid = parse_national_id(generate_rrn(random.Random(90 + i), date(1999, 9, 9), 2))
        added.append(CustomerKey(secrets.token_hex(16)))
        registry.register(nid, added[-1], now=NOW)
        assert registry.number_of(added[-1]) == len(keys) + i
        assert registry.key_of_number(len(keys) + i) == added[-1]
    with engine.begin() as conn, pytest.raises(IntegrityError, match="customer_no"):
        conn.execute(text("UPDATE customers SET customer_no = :n WHERE customer_key = :k"),
                     {"n": len(keys) + 1, "k": added[1]})


def _migrate_0001_then_head(url: str, vault: RrnVault, n: int, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    import importlib
    step = importlib.import_module("gateway.migrations.versions.0002_customer_number")
    monkeypatch.setattr(step, "BATCH", 7)  # several batches and a partial last one
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        keys = _old_rows(engine, vault, n)
        upgrade(url)
        _check_numbered(engine, keys, vault)
    finally:
        engine.dispose()


def test_fresh_sqlite_upgrade_numbers_from_one(tmp_path: Path, vault: RrnVault) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        _check_numbered(engine, [], vault)
    finally:
        engine.dispose()


def test_sqlite_0001_database_is_backfilled(tmp_path: Path, vault: RrnVault,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _migrate_0001_then_head(f"sqlite:///{tmp_path / 'gateway.db'}", vault, 30, monkeypatch)


def test_sqlite_downgrade_drops_the_number(tmp_path: Path, vault: RrnVault) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        keys = _old_rows_head(engine, vault)
        for target in ("0002", "0001"):  # one step per connection, as an operator would
            with engine.begin() as conn:
                config = alembic_config(url)
                config.attributes["connection"] = conn
                command.downgrade(config, target)
        assert "customer_no" not in {c["name"] for c in inspect(engine).get_columns("customers")}
        with engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(Relationship)).scalar_one()
        assert held == len(keys)
    finally:
        engine.dispose()


def _old_rows_head(engine: Engine, vault: RrnVault) -> list[str]:
    registry = CustomerRegistry(engine, vault)
    keys = []
    for i in range(3):
        key = CustomerKey(secrets.token_hex(16))
        registry.register(parse_national_id(generate_rrn(random.Random(i), date(1980, 1, 1), 1)),
                          key, now=NOW)
        registry.add_relationship(key, "bank", date(2020, 1, 1))
        keys.append(key)
    return keys


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (as the search path), dropped afterwards."""
    with postgres_schema("t_migr") as url:
        yield url


@pytest.mark.postgres
def test_fresh_postgres_upgrade(pg_url: str, vault: RrnVault) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        _check_numbered(engine, [], vault)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_0001_database_is_backfilled(pg_url: str, vault: RrnVault,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _migrate_0001_then_head(pg_url, vault, 30, monkeypatch)
