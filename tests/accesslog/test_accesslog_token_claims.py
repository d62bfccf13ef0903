"""Token ids claimed in the access record's own commit: one use each, across logs and processes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, create_engine, func, select

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.log import TokenClaim
from gateway.db.base import Base
from gateway.db.models import UsedToken
from gateway.errors import TokenReplayed
from tests.conftest import postgres_schema

ORIGIN = "test.example-holdings.co.kr/access-log"
LATER = datetime.now(timezone.utc) + timedelta(minutes=5)


def claim(jti: str) -> TokenClaim:
    return TokenClaim(jti, "card-risk", LATER)


def used_tokens(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(UsedToken)).scalar_one())


def records(log: AccessLog) -> list[bytes]:
    return log.records(0, log.size())


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    Base.metadata.create_all(sqlite_engine, tables=[UsedToken.__table__])  # type: ignore[list-item]
    return sqlite_engine


def test_a_record_and_its_token_id_are_written_together(engine: Engine, signer: LogSigner) -> None:
    with AccessLog(engine, signer, origin=ORIGIN) as log:
        index = log.append({"kind": "query"}, token=claim("t-1"))
        assert (index, used_tokens(engine)) == (0, 1)
        with pytest.raises(TokenReplayed, match="already used: replay refused for `card-risk`"):
            log.append({"kind": "query", "again": True}, token=claim("t-1"))
        # the replay's record was not written: the caller records the refusal instead
        assert records(log) == [b'{"index":0,"kind":"query"}']


def test_one_id_twice_in_one_batch_is_written_once(engine: Engine, signer: LogSigner) -> None:
    log = AccessLog(engine, signer, origin=ORIGIN)

    async def both() -> list[int | BaseException]:
        return await asyncio.gather(  # submitted together: the writer takes them as one batch
            log.append_async({"n": 1}, token=claim("same")),
            log.append_async({"n": 2}, token=claim("same")),
            return_exceptions=True)

    try:
        outcomes = asyncio.run(both())
    finally:
        log.close()
    assert sorted(type(o).__name__ for o in outcomes) == ["TokenReplayed", "int"]
    assert log.stats.records == 1 and used_tokens(engine) == 1


def test_a_claim_alone_writes_no_record(engine: Engine, signer: LogSigner) -> None:
    with AccessLog(engine, signer, origin=ORIGIN) as log:
        log.claim_token(claim("alone"))
        assert log.size() == 0 and used_tokens(engine) == 1
        with pytest.raises(TokenReplayed):
            log.claim_token(claim("alone"))
        with pytest.raises(TokenReplayed):  # and a record presenting it is refused too
            log.append({"kind": "query"}, token=claim("alone"))
        assert log.size() == 0


def race(make_engine: Callable[[], Engine], signer: LogSigner) -> None:
    """Two logs (as two processes would have) present the same 40 ids at once: each id is
    honoured exactly once, and only its honoured record is in the log."""
    logs = [AccessLog(make_engine(), signer, origin=ORIGIN) for _ in range(2)]
    won: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def present(log: AccessLog, who: int) -> None:
        start.wait()
        for n in range(40):
            try:
                log.append({"jti": f"id-{n}", "who": who}, token=claim(f"id-{n}"))
            except TokenReplayed:
                continue
            with lock:
                won.append(f"id-{n}")

    threads = [threading.Thread(target=present, args=(log, who)) for who, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    assert sorted(won) == sorted(f"id-{n}" for n in range(40))  # no id twice, none lost
    assert logs[0].size() == 40


def test_two_logs_on_one_sqlite_file_honour_each_id_once(engine: Engine, signer: LogSigner
                                                         ) -> None:
    url = engine.url
    made: list[Engine] = []

    def make() -> Engine:
        made.append(create_engine(url))
        return made[-1]

    try:
        race(make, signer)
    finally:
        for e in made:
            e.dispose()


@pytest.fixture
def pg_engines() -> Iterator[Callable[[], Engine]]:
    with postgres_schema("token_claims") as url:
        engines: list[Engine] = []

        def make() -> Engine:
            engines.append(create_engine(url))
            Base.metadata.create_all(engines[-1], tables=[UsedToken.__table__])  # type: ignore[list-item]
            return engines[-1]

        yield make
        for e in engines:
            e.dispose()


@pytest.mark.postgres
def test_two_logs_on_postgres_honour_each_id_once(pg_engines: Callable[[], Engine],
                                                  signer: LogSigner) -> None:
    race(pg_engines, signer)
