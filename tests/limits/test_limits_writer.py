"""Rate limits at the log writer: the count and the increment are one step under the append lock,
so two processes appending at once admit exactly `limit` requests (or customers), never more;
alerts are written once per subject, measure and window; old windows are purged."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from gateway.accesslog import AccessLog
from gateway.accesslog.log import TokenClaim
from gateway.accesslog.usage import (
    COUNTS,
    CUSTOMERS,
    CUSTOMERS_DAY,
    CUSTOMERS_HOUR,
    REQUESTS,
    Measure,
    RateLimited,
    Subject,
    Usage,
    bucket_of,
    window_of,
)
from gateway.db.models import create_gateway_schema
from gateway.errors import TokenReplayed
from tests.conftest import postgres_schema
from tests.writer_logs import log, new_log, opened_log, sqlite_url  # noqa: F401  (fixtures)

AT = datetime(2026, 11, 2, 0, 30, 10, tzinfo=UTC).timestamp()  # 09:30:10 KST
ALICE, BOB, CAROL = "a" * 32, "b" * 32, "c" * 32


def usage(customer: str | None = ALICE, *, at: float = AT, requests: int = 1000,
          customers: int = 1000, alert: int | None = None, employee: str = "kim") -> Usage:
    measures = (Measure(REQUESTS, bucket_of(REQUESTS, at), requests, alert),
                Measure(CUSTOMERS_HOUR, bucket_of(CUSTOMERS_HOUR, at), customers, alert),
                Measure(CUSTOMERS_DAY, bucket_of(CUSTOMERS_DAY, at), 100_000, None))
    subject = Subject(f"employee:card-risk/{employee}", "card", "card-risk", employee, measures)
    return Usage((subject,), customer, at, "req-1", employee, "sha256:test")




def kinds(access_log: AccessLog) -> list[str]:
    return [json.loads(r)["kind"] for r in access_log.records(0, access_log.size())]


def test_windows_are_calendar_minutes_hours_and_kst_days() -> None:
    assert window_of(REQUESTS, bucket_of(REQUESTS, AT)) == (
        datetime(2026, 11, 2, 0, 30, tzinfo=UTC), datetime(2026, 11, 2, 0, 31, tzinfo=UTC))
    # the KST day of 09:30 KST on 2 November began at 00:00 KST, i.e. 15:00 UTC the day before
    assert window_of(CUSTOMERS_DAY, bucket_of(CUSTOMERS_DAY, AT)) == (
        datetime(2026, 11, 1, 15, 0, tzinfo=UTC), datetime(2026, 11, 2, 15, 0, tzinfo=UTC))


def test_requests_beyond_the_limit_are_refused_and_not_written(log: AccessLog) -> None:
    for n in range(3):
        log.append({"kind": "query", "n": n}, usage=usage(requests=3))
    with pytest.raises(RateLimited, match="`requests_per_minute` of the employee") as info:
        log.append({"kind": "query", "n": 3}, usage=usage(requests=3, at=AT + 5))
    assert info.value.status == 429 and info.value.retry_after == 45  # 00:30:15 → 00:31:00
    assert log.size() == 3  # the refused record is not in the log
    # another employee has counts of its own; the next minute starts afresh
    log.append({"kind": "query"}, usage=usage(requests=3, employee="lee"))
    log.append({"kind": "query"}, usage=usage(requests=3, at=AT + 60))


def test_distinct_customers_count_once_per_window(log: AccessLog) -> None:
    for customer in (ALICE, BOB, ALICE, BOB, None):  # repeats and unknown customers add none
        log.append({"kind": "query"}, usage=usage(customer, customers=2))
    with pytest.raises(RateLimited) as info:
        log.append({"kind": "query"}, usage=usage(CAROL, customers=2))
    assert info.value.measure == CUSTOMERS_HOUR
    assert info.value.retry_after == 3600 - 30 * 60 - 10
    log.append({"kind": "query"}, usage=usage(CAROL, customers=2, at=AT + 3600))  # next hour


def test_a_refused_record_keeps_its_token_unused(sqlite_url: str) -> None:
    with opened_log(sqlite_url) as (engine, log):
        create_gateway_schema(engine)  # `used_tokens`
        log.append({"kind": "query"}, usage=usage(requests=1))
        token = TokenClaim("jti-1", "card-risk", datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
        with pytest.raises(RateLimited):
            log.append({"kind": "query"}, usage=usage(requests=1), token=token)
        log.append({"kind": "refused"}, token=token)  # the refusal uses the token up
        with pytest.raises(TokenReplayed):
            log.append({"kind": "query"}, token=token)


def test_one_alert_per_subject_measure_and_window(log: AccessLog) -> None:
    for n in range(5):
        log.append({"kind": "query", "n": n},
                   usage=usage((ALICE, BOB)[n % 2], alert=2, requests=10, customers=10))
    assert kinds(log).count("alert") == 2  # requests and customers; not one per request
    alerts = [json.loads(r) for r in log.records(0, log.size())
              if json.loads(r)["kind"] == "alert"]
    assert {a["alert"]["measure"] for a in alerts} == {REQUESTS, CUSTOMERS_HOUR}
    minute = next(a for a in alerts if a["alert"]["measure"] == REQUESTS)
    assert minute["alert"]["count"] == 2 and minute["alert"]["threshold"] == 2
    assert minute["time"] == "2026-11-02T00:30:10.000000Z"
    assert minute["index"] == 2  # written right after the record that reached it
    assert next(a for a in alerts if a is not minute)["index"] == 3  # the same batch
    log.append({"kind": "query"}, usage=usage(alert=2, requests=10, customers=10, at=AT + 60))
    log.append({"kind": "query"}, usage=usage(alert=2, requests=10, customers=10, at=AT + 61))
    assert kinds(log).count("alert") == 3  # the new minute's own alert


def test_claims_in_one_batch_count_for_each_other(sqlite_url: str) -> None:
    with opened_log(sqlite_url, batch_max=64, batch_wait_ms=200) as (engine, access_log):
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(
                lambda n: _try(access_log, usage(requests=3)), range(8)))
        assert outcomes.count(True) == 3
        assert access_log.stats.batches < 8  # they did share batches


def test_old_windows_are_purged(sqlite_url: str) -> None:
    with opened_log(sqlite_url) as (engine, access_log):
        access_log.append({"kind": "query"}, usage=usage(ALICE))
        access_log.append({"kind": "query"}, usage=usage(BOB, at=AT + 2 * 86400))
        with engine.connect() as conn:
            customers = conn.execute(select(CUSTOMERS.c.customer_key)).scalars().all()
            minutes = conn.execute(select(func.count()).select_from(COUNTS)
                                   .where(COUNTS.c.measure == REQUESTS)).scalar_one()
        assert customers == [BOB, BOB]  # its hour and its day; ALICE's windows are gone
        assert minutes == 1


def test_a_writer_alone_keeps_counts_and_sees_another_writers(sqlite_url: str) -> None:
    """A writer keeps its counts between batches while nobody else appends; once another
    writer has appended, it reads them again (two `AccessLog`s on one file: two processes)."""
    check_two_writers(sqlite_url)


@pytest.mark.postgres
def test_two_writers_on_postgres() -> None:
    with postgres_schema("rate_writers") as url:
        check_two_writers(url)


def check_two_writers(url: str) -> None:
    engines, logs = zip(*(new_log(url) for _ in range(2)))
    first, second = logs
    try:
        customers = [f"{n:032d}" for n in range(7)]
        outcomes = [_try(log, usage(customers[n], requests=5, customers=4))
                    for n, log in enumerate([first, first, first, second, first])]
        assert outcomes == [True, True, True, True, False]  # the 5th customer: 4 per hour
        assert _try(second, usage(customers[0], requests=5, customers=4))  # counted already
        assert not _try(first, usage(customers[1], requests=5, customers=4))  # 6 requests
        # the next minute: requests start afresh, the hour's customers are still counted
        later = AT + 60
        assert _try(second, usage(customers[2], at=later, requests=5, customers=4))
        assert not _try(first, usage(customers[5], at=later, requests=5, customers=4))
        assert _try(first, usage(customers[3], at=later, requests=5, customers=4))
        assert first.size() == second.size() == 7  # the admitted ones, no refused record
    finally:
        for log, engine in zip(logs, engines):
            log.close()
            engine.dispose()


def _try(access_log: AccessLog, u: Usage) -> bool:
    try:
        access_log.append({"kind": "query"}, usage=u)
        return True
    except RateLimited:
        return False


# --- two processes, one database ----------------------------------------------------------------
def _hammer(url: str, attempts: int, start: threading.Event | None = None) -> tuple[int, int]:
    """In a child process: `attempts` appends from 4 threads, each a request of `kim` for a new
    customer (limit: 5 requests and 3 customers). Returns (written, refused)."""
    with opened_log(url, batch_max=3) as (engine, access_log):
        def one(n: int) -> bool:
            return _try(access_log, usage(f"{n:032d}", requests=5, customers=3, alert=2))

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, range(attempts)))
        return sum(results), len(results) - sum(results)


def run_two_processes(url: str, attempts: int = 20) -> list[tuple[int, int]]:
    engine, access_log = new_log(url)  # the tables first
    access_log.close()
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        return pool.starmap(_hammer, [(url, attempts), (url, attempts)])


def check_shared(url: str) -> None:
    results = run_two_processes(url)
    # both processes use customers 0..19: at most 3 distinct ones in the hour, in all
    written = sum(w for w, _ in results)
    assert 3 <= written <= 5 and sum(r for _, r in results) == 40 - written
    with opened_log(url) as (engine, access_log):
        with engine.connect() as conn:
            distinct = conn.execute(select(func.count()).select_from(CUSTOMERS).where(
                CUSTOMERS.c.window == "hour")).scalar_one()
        assert distinct == 3  # exactly the limit, never more
        assert kinds(access_log).count("query") == written
        assert kinds(access_log).count("alert") == 2  # once, though two processes counted


def test_two_processes_share_the_counts_on_sqlite(sqlite_url: str) -> None:
    check_shared(sqlite_url)


@pytest.mark.postgres
def test_two_processes_share_the_counts_on_postgres() -> None:
    with postgres_schema("rate_limits") as url:
        check_shared(url)


@pytest.mark.postgres
def test_the_longest_subject_fits_on_postgres() -> None:
    """`employee:` + a 64-character system id + `/` + a 128-character `sub` (202 characters)."""
    with postgres_schema("rate_subject") as url:
        with opened_log(url) as (engine, access_log):
            long = usage(employee="e" * 128)
            subject = long.subjects[0]
            wide = Subject(f"employee:{'s' * 64}/{'e' * 128}", "card", "s" * 64, "e" * 128,
                           subject.measures)
            access_log.append({"kind": "query"}, usage=Usage((wide,), ALICE, AT, "r", "e", "v"))
            with engine.connect() as conn:
                assert conn.execute(select(func.max(func.length(COUNTS.c.subject)))
                                    ).scalar_one() == 202
