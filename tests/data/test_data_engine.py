"""Engines, affiliate database handles, schemas and the UTC timestamp type."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import create_affiliate_schema
from gateway.db.base import Base
from gateway.db.engine import make_engine, normalize_url
from gateway.db.models import UsedToken
from gateway.errors import ConfigError

KST = ZoneInfo("Asia/Seoul")


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_engine_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'gateway.db'}")
    try:
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "synchronous") == 2  # FULL
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "busy_timeout") == 10_000
        assert (tmp_path / "deep" / "er" / "gateway.db").exists()
    finally:
        engine.dispose()


def test_affiliate_engines_are_lazy_and_use_normal_sync(tmp_path: Path) -> None:
    databases = AffiliateDatabases({"bank": f"sqlite:///{tmp_path / 'a' / 'bank.db'}"})
    try:
        assert not (tmp_path / "a").exists()  # nothing until first use
        engine = databases.engine("bank")
        assert databases.engine("bank") is engine
        assert _pragma(engine, "synchronous") == 1  # NORMAL
        assert (tmp_path / "a" / "bank.db").exists()
    finally:
        databases.close()


def test_unknown_affiliate_is_a_config_error(tmp_path: Path) -> None:
    databases = AffiliateDatabases({})
    with pytest.raises(ConfigError, match="no database url configured for affiliate `card`"):
        databases.engine("card")
    with pytest.raises(ConfigError, match="affiliate `holding` has no synthetic customer"):
        create_affiliate_schema(make_engine("sqlite://"), "holding")


def test_unknown_synchronous_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown sqlite synchronous mode `LAZY`"):
        make_engine("sqlite://", synchronous="LAZY")  # type: ignore[arg-type]


def test_affiliate_repr_hides_urls() -> None:
    databases = AffiliateDatabases({"bank": "postgresql://bank:s3cret@db/bank"})
    assert "s3cret" not in repr(databases)
    assert "bank" in repr(databases)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),  # Heroku-style scheme
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2"),  # an explicit driver is kept
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_normalize_url(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


def test_postgres_url_builds_a_psycopg_engine() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_affiliate_schema_matches_the_data_model(affiliate_dbs: AffiliateDatabases) -> None:
    columns = {
        name: {c["name"] for c in inspect(affiliate_dbs.engine(aff)).get_columns(name)}
        for aff, name in [("bank", "bank_customers"), ("card", "card_members"),
                          ("securities", "securities_accounts"),
                          ("insurance", "insurance_customers")]
    }
    assert columns["bank_customers"] == {
        "customer_key", "name", "rrn_masked", "birth_date", "address", "mobile_phone", "email",
        "employer", "job_title", "annual_income", "deposit_balance", "loan_balance",
        "credit_grade", "callcenter_memo"}
    assert columns["card_members"] == {"customer_key", "card_products", "monthly_card_spend",
                                       "spending_by_category", "interests"}
    assert columns["securities_accounts"] == {"customer_key", "stock_holdings_value",
                                              "investment_risk_profile"}
    assert columns["insurance_customers"] == {"customer_key", "insurance_policies",
                                              "insured_car_model", "apartment_size_m2",
                                              "health_risk_class"}


def test_gateway_tables_never_hold_a_plain_rrn() -> None:
    rrn_columns = {f"{t.name}.{c.name}" for t in Base.metadata.tables.values() for c in t.columns
                   if "rrn" in c.name}
    assert rrn_columns == {"customers.rrn_blind_index", "customers.rrn_ciphertext"}


@pytest.mark.parametrize(
    "given",
    [
        datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc),
        datetime(2025, 3, 1, 18, 0, tzinfo=KST),  # converted to 09:00 UTC on the way in
        datetime(2025, 3, 1, 9, 0, tzinfo=timezone(timedelta(0))),
    ],
)
def test_timestamps_come_back_aware_utc(gateway_engine: Engine, given: datetime) -> None:
    with gateway_engine.begin() as conn:
        conn.execute(insert(UsedToken), {"jti": "j1", "system": "bank-app", "expires_at": given})
    with gateway_engine.connect() as conn:
        back = conn.execute(select(UsedToken.expires_at)).scalar_one()
    assert back == given
    assert back.tzinfo == timezone.utc


def test_naive_timestamp_is_refused(gateway_engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime given"):
        with gateway_engine.begin() as conn:
            conn.execute(insert(UsedToken), {"jti": "j1", "system": "s",
                                             "expires_at": datetime(2025, 1, 1)})


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only, as after a remount: a read-only bind mount for root (whom file
    permissions do not stop), the write permission taken away for anyone else."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        files = {path: path.stat().st_mode for path in folder.iterdir()}
        for path, file_mode in files.items():
            path.chmod(file_mode & ~0o222)
        folder.chmod(mode & ~0o222)
        try:
            yield
        finally:
            folder.chmod(mode)
            for path, file_mode in files.items():
                path.chmod(file_mode)
        return
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("root without mount(8): cannot make a folder read-only")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True,
                       capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


def test_a_connection_opened_read_only_is_not_pooled(tmp_path: Path) -> None:
    """SQLite opens a file it may not write read-only, for good: pooled, such a connection
    would refuse writes long after the file became writable again."""
    folder = tmp_path / "data"
    engine = make_engine(f"sqlite:///{folder / 'gateway.db'}")
    Base.metadata.create_all(engine, tables=[UsedToken.__table__])  # type: ignore[list-item]
    engine.dispose()
    other = sqlite3.connect(folder / "gateway.db")  # another process keeps the WAL index open
    try:
        other.execute("SELECT 1 FROM used_tokens").fetchall()
        with _read_only(folder):
            with engine.connect() as conn:  # reads go on while the folder is read-only
                assert conn.execute(select(UsedToken.jti)).all() == []
        row = {"jti": "a" * 32, "system": "card-risk",
               "expires_at": datetime.now(timezone.utc)}
        with engine.begin() as conn:  # writable again: the next write works
            conn.execute(insert(UsedToken), row)
        with engine.connect() as conn:
            assert conn.execute(select(UsedToken.jti)).scalar() == "a" * 32
    finally:
        other.close()
        engine.dispose()
