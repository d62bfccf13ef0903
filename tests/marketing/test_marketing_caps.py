"""Frequency caps at the log writer: the count and the increment are one step under the append
lock, so two processes appending at once release exactly `max` contacts, never more."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from gateway.accesslog import AccessLog
from gateway.accesslog.contacts import EVENTS, ContactClaim
from gateway.accesslog.errors import ContactCapReached
from gateway.accesslog.log import TokenClaim
from gateway.db.models import create_gateway_schema
from gateway.errors import TokenReplayed
from tests.conftest import postgres_schema
from tests.writer_logs import log, new_log, opened_log, sqlite_url  # noqa: F401  (fixtures)

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ALICE = "a" * 32
BOB = "b" * 32


def claim(customer: str = ALICE, channel: str = "agent_call", *, at: datetime = NOW,
          window_days: int = 7, cap: int = 2) -> ContactClaim:
    return ContactClaim(customer, channel, at, at - timedelta(days=window_days), cap)




def events(access_log: AccessLog, url: str) -> list[tuple[int, str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(EVENTS.c.log_index, EVENTS.c.customer_key,
                                       EVENTS.c.channel).order_by(EVENTS.c.log_index)).all()
        return [(int(i), str(c), str(ch)) for i, c, ch in rows]
    finally:
        engine.dispose()


def test_the_cap_holds_per_customer_and_channel(log: AccessLog, sqlite_url: str) -> None:
    first = log.append({"n": 1}, contacts=[claim()])
    second = log.append({"n": 2}, contacts=[claim(at=NOW + timedelta(hours=1))])
    with pytest.raises(ContactCapReached) as info:
        log.append({"n": 3}, contacts=[claim(at=NOW + timedelta(hours=2))])
    assert info.value.counts == {(ALICE, "agent_call"): 2}
    assert log.size() == 2  # the refused record was not written
    # another customer, another channel: counted apart
    log.append({"n": 4}, contacts=[claim(BOB)])
    log.append({"n": 5}, contacts=[claim(channel="sms", cap=1)])
    assert events(log, sqlite_url) == [(first, ALICE, "agent_call"), (second, ALICE, "agent_call"),
                                       (2, BOB, "agent_call"), (3, ALICE, "sms")]


def test_the_window_rolls(log: AccessLog) -> None:
    log.append({"n": 1}, contacts=[claim()])
    log.append({"n": 2}, contacts=[claim(at=NOW + timedelta(days=3))])
    with pytest.raises(ContactCapReached):
        log.append({"n": 3}, contacts=[claim(at=NOW + timedelta(days=6, hours=23))])
    # seven days after the first contact it no longer counts: one more is allowed
    log.append({"n": 4}, contacts=[claim(at=NOW + timedelta(days=7, seconds=1))])
    with pytest.raises(ContactCapReached):
        log.append({"n": 5}, contacts=[claim(at=NOW + timedelta(days=7, seconds=2))])


def test_claims_in_one_batch_count_for_each_other(sqlite_url: str) -> None:
    # a batch wait long enough that every append below lands in one transaction
    with opened_log(sqlite_url, batch_wait_ms=200) as (engine, access_log):
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(access_log.append, {"n": i}, contacts=[claim()])
                       for i in range(6)]
        outcomes = [f.exception() for f in futures]
        assert sum(e is None for e in outcomes) == 2
        assert all(isinstance(e, ContactCapReached) for e in outcomes if e is not None)
        assert access_log.stats.batches <= 2


def test_a_capped_record_does_not_use_up_its_token(sqlite_url: str) -> None:
    with opened_log(sqlite_url) as (engine, access_log):
        create_gateway_schema(engine)  # `used_tokens`
        token = TokenClaim("jti-1", "card-marketing", NOW + timedelta(minutes=5))
        access_log.append({"n": 1}, contacts=[claim(cap=1)])
        with pytest.raises(ContactCapReached):
            access_log.append({"n": 2}, token=token, contacts=[claim(cap=1)])
        # the caller appends the withheld record with the same token: not a replay
        access_log.append({"n": 2, "withheld": "contact_cap"}, token=token)
        with pytest.raises(TokenReplayed):
            access_log.append({"n": 3}, token=token)


def test_a_record_with_several_claims_is_refused_whole(log: AccessLog) -> None:
    log.append({"n": 1}, contacts=[claim(BOB, cap=1)])
    with pytest.raises(ContactCapReached) as info:
        log.append({"n": 2}, contacts=[claim(ALICE, cap=1), claim(BOB, cap=1)])
    assert info.value.counts == {(BOB, "agent_call"): 1}
    log.append({"n": 3}, contacts=[claim(ALICE, cap=1)])  # ALICE's claim was not counted


# --- two processes, one database ----------------------------------------------------------------
def _hammer(url: str, attempts: int, start: threading.Event | None = None) -> tuple[int, int]:
    """In a child process: `attempts` appends from 4 threads, each claiming ALICE's agent_call.
    Returns (written, refused at the cap)."""
    with opened_log(url, batch_max=3) as (engine, access_log):
        def one(n: int) -> bool:
            try:
                access_log.append({"pid_n": n}, contacts=[claim(at=NOW + timedelta(seconds=n))])
                return True
            except ContactCapReached:
                return False

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, range(attempts)))
        return sum(results), len(results) - sum(results)


def run_two_processes(url: str, attempts: int = 30) -> list[tuple[int, int]]:
    # the tables first (both children would race to create them otherwise; that race is
    # tolerated, but this test is about the cap)
    engine, access_log = new_log(url)
    access_log.close()
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        return pool.starmap(_hammer, [(url, attempts), (url, attempts)])


def test_two_processes_release_exactly_max_on_sqlite(sqlite_url: str) -> None:
    results = run_two_processes(sqlite_url)
    assert sum(w for w, _ in results) == 2  # exactly `max`, never more
    assert sum(r for _, r in results) == 58
    with opened_log(sqlite_url) as (engine, access_log):
        assert len(events(access_log, sqlite_url)) == 2 == access_log.size()


@pytest.mark.postgres
def test_two_processes_release_exactly_max_on_postgres() -> None:
    with postgres_schema("contact_caps") as url:
        results = run_two_processes(url)
        assert sum(w for w, _ in results) == 2
        assert sum(r for _, r in results) == 58
        with opened_log(url) as (engine, access_log):
            assert len(events(access_log, url)) == 2 == access_log.size()


def _a_large_batch_is_counted(url: str) -> None:
    """A campaign batch's hundreds of claims (PostgreSQL writes them with COPY, from
    `store.COPY_MIN_ROWS` rows on): every event written, its time as claimed, and counted by the
    next claim."""
    from gateway.accesslog.store import COPY_MIN_ROWS

    customers = [f"{n:032x}" for n in range(3 * COPY_MIN_ROWS)]
    with opened_log(url) as (engine, access_log):
        index = access_log.append({"batch": 1}, contacts=[claim(c, "sms", cap=1)
                                                          for c in customers])
        assert events(access_log, url) == [(index, c, "sms") for c in customers]
        with engine.connect() as conn:
            times = {t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
                     for (t,) in conn.execute(select(EVENTS.c.at))}
        assert times == {NOW}
        with pytest.raises(ContactCapReached) as info:
            access_log.append({"batch": 2}, contacts=[
                claim(customers[-1], "sms", at=NOW + timedelta(hours=1), cap=1)])
        assert info.value.counts == {(customers[-1], "sms"): 1}


def test_a_large_batch_is_counted_on_sqlite(sqlite_url: str) -> None:
    _a_large_batch_is_counted(sqlite_url)


@pytest.mark.postgres
def test_a_large_batch_is_counted_on_postgres() -> None:
    with postgres_schema("contact_caps_copy") as url:
        _a_large_batch_is_counted(url)
