"""The per-customer index: written with the record, equal to a scan of the log, backfilled."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, select

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.customer_index import ENTRIES, backfill
from gateway.accesslog.errors import ContactCapReached
from gateway.accesslog.log import TokenClaim
from gateway.db.migrate import upgrade
from gateway.db.models import create_gateway_schema
from gateway.errors import TokenReplayed
from tests.conftest import postgres_schema

ORIGIN = "test.example-holdings.co.kr/access-log"
T0 = datetime(2026, 11, 3, 5, 5, tzinfo=UTC)
CUSTOMERS = [secrets.token_hex(16) for _ in range(5)]


def _record(n: int) -> dict[str, object]:
    """Every shape a record may have: customer or none, an odd `customer`, a bad time."""
    record: dict[str, object] = {"kind": "query", "time": _time(T0 + timedelta(minutes=n)),
                                 "customer": CUSTOMERS[n % len(CUSTOMERS)], "n": n,
                                 "purpose": "customer_service" if n % 2 else "fraud_prevention"}
    if n % 7 == 3:
        record["customer"] = None  # e.g. a refusal before the customer was resolved
    if n % 11 == 4:
        record["customer"] = "900101-1******"  # not a customer key: never indexed
    if n % 13 == 5:
        record["kind"] = "consent.read"
        del record["purpose"]  # events without a purpose
    return record


def _time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


Row = tuple[str, int, datetime, str | None]


def _index_rows(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        rows = conn.execute(select(ENTRIES.c.customer_key, ENTRIES.c.log_index, ENTRIES.c.at,
                                   ENTRIES.c.purpose).order_by(ENTRIES.c.log_index)).all()
    return [(k, int(i), at, purpose) for k, i, at, purpose in rows]


def _scan(log: AccessLog) -> list[Row]:
    """The index as a scan of the whole log computes it (the definition)."""
    found = []
    for data in log.iter_records(0, log.size()):
        record = json.loads(data)
        customer = record.get("customer")
        if isinstance(customer, str) and len(customer) == 32 and customer.isalnum():
            found.append((customer, record["index"],
                          datetime.fromisoformat(record["time"]).astimezone(UTC),
                          record.get("purpose")))
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("customer_index") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def log(engine: Engine, signer: LogSigner) -> Iterator[AccessLog]:
    create_gateway_schema(engine)  # used_tokens, contact_events
    with AccessLog(engine, signer, origin=ORIGIN, batch_max=16) as access_log:
        yield access_log


def _normalized(rows: list[Row]) -> list[Row]:
    return [(k, i, at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC), p)
            for k, i, at, p in rows]


def test_every_record_naming_a_customer_is_indexed_with_its_time(
        log: AccessLog, engine: Engine) -> None:
    for n in range(60):
        log.append(_record(n))
    rows = _normalized(_index_rows(engine))
    assert rows == _scan(log)
    assert len(rows) == sum(1 for n in range(60) if n % 7 != 3 and n % 11 != 4)
    assert {r[0] for r in rows} == set(CUSTOMERS)
    assert {r[3] for r in rows} == {"customer_service", "fraud_prevention", None}


def test_group_commits_from_many_callers_index_exactly_what_is_written(
        log: AccessLog, engine: Engine) -> None:
    threads = [threading.Thread(target=lambda t=t: [log.append(_record(t * 100 + i))
                                                   for i in range(25)]) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _normalized(_index_rows(engine)) == _scan(log)


def test_a_record_that_is_not_written_is_not_indexed(log: AccessLog, engine: Engine) -> None:
    token = TokenClaim("jti-1", "bank-callcenter", T0 + timedelta(days=1))
    first = log.append(_record(0), token=token)
    with pytest.raises(TokenReplayed):
        log.append(_record(1), token=token)  # a replay writes nothing
    claim = ContactClaim(CUSTOMERS[0], "sms", T0, T0 - timedelta(days=30), 1)
    log.append(_record(0), contacts=[claim])
    with pytest.raises(ContactCapReached):
        log.append(_record(0), contacts=[claim])  # at the cap: not written
    assert [r[1] for r in _index_rows(engine)] == [first, first + 1]
    assert log.size() == 2


def test_bulk_loading_indexes_as_the_writer_does(engine: Engine, signer: LogSigner) -> None:
    bulk_append(engine, (_record(n) for n in range(300)), batch=64)
    with AccessLog(engine, signer, origin=ORIGIN) as log:
        assert _normalized(_index_rows(engine)) == _scan(log)


def test_backfill_indexes_an_older_log_and_can_run_again(
        log: AccessLog, engine: Engine) -> None:
    for n in range(120):
        log.append(_record(n))
    expected = _scan(log)
    with engine.begin() as conn:  # as a log written before revision 0007 would be
        conn.execute(delete(ENTRIES).where(ENTRIES.c.log_index % 3 != 0))
    seen: list[tuple[int, int]] = []
    assert backfill(engine, progress=lambda done, size: seen.append((done, size))) == len(expected)
    assert _normalized(_index_rows(engine)) == expected
    assert seen[-1] == (120, 120)
    assert backfill(engine) == len(expected)  # again: nothing duplicated
    assert _normalized(_index_rows(engine)) == expected


def test_migration_0007_creates_the_index_the_writer_uses(tmp_path: Path,
                                                          signer: LogSigner) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        with AccessLog(engine, signer, origin=ORIGIN, create_tables=False) as log:
            index = log.append(_record(0))
        assert [r[:2] for r in _index_rows(engine)] == [(CUSTOMERS[0], index)]
    finally:
        engine.dispose()
