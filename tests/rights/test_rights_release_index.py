"""The releases index kept in the log's own commit (`gateway.accesslog.release_rows`): a release
is in the index the moment its record is durable, a confirmation marks it in the same commit,
records the writer did not index are bridged or left to the follower, and whoever writes them,
the rows are those a rebuild from the log gives. On SQLite, and on PostgreSQL when the test
server is configured."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, delete, select

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.release_rows import (
    BRIDGE_MAX,
    DESTRUCTION_KIND,
    FOLLOWER,
    FOLLOWERS,
    RELEASES,
    ReleaseEntry,
    entry_of,
)
from gateway.db.base import Base
from gateway.rights.releases import ReleaseIndex
from tests.conftest import postgres_schema
from tests.writer_logs import ORIGIN

USE_BY = "2027-03-01"


def _release(affiliate: str = "card", use_by: str = USE_BY) -> dict[str, Any]:
    return {"kind": "query", "actor": {"affiliate": affiliate, "system": f"{affiliate}-risk"},
            "released": [{"attribute": "credit_grade", "use_by": use_by},
                         {"attribute": "annual_income", "use_by": "2027-01-15"}]}


def _denial() -> dict[str, Any]:
    return {"kind": "query", "actor": {"affiliate": "card"}, "released": []}


def _confirmation(affiliate: str, *indexes: int) -> dict[str, Any]:
    return {"kind": DESTRUCTION_KIND, "status": 200, "actor": {"affiliate": affiliate},
            "releases": list(indexes)}


class Gateway:
    """A gateway database with the log's tables and the releases index's, a log whose writer
    indexes releases in its commits, and the index's follower."""

    def __init__(self, engine: Engine) -> None:
        Base.metadata.create_all(engine)
        self.engine = engine
        self.signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
        self.log = AccessLog(engine, self.signer, origin=ORIGIN, index_releases=True)
        self.follower = ReleaseIndex(engine, self.log)

    @contextmanager
    def plain_log(self) -> Iterator[AccessLog]:
        """A second writer of the same log that does not index releases (a CLI command)."""
        other = AccessLog(self.engine, self.signer, origin=ORIGIN)
        try:
            yield other
        finally:
            other.close()

    def rows(self) -> dict[int, tuple[str, date, int | None]]:
        with self.engine.connect() as conn:
            found = conn.execute(select(RELEASES)).all()
        return {int(r.log_index): (r.recipient, r.use_by if isinstance(r.use_by, date)
                                   else date.fromisoformat(r.use_by),
                                   None if r.destruction_index is None
                                   else int(r.destruction_index)) for r in found}

    def position(self) -> int | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(FOLLOWERS.c.next_index)
                                 .where(FOLLOWERS.c.name == FOLLOWER)).scalar()
        return None if found is None else int(found)

    def rebuilt(self) -> dict[int, tuple[str, date, int | None]]:
        """The rows the follower writes from scratch, reading the whole log."""
        with self.engine.begin() as conn:
            conn.execute(delete(RELEASES))
            conn.execute(delete(FOLLOWERS))
        self.follower.catch_up()
        return self.rows()


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        gw = Gateway(engine)
        try:
            yield gw
        finally:
            gw.log.close()
            engine.dispose()
        return
    with postgres_schema("gw_release_index") as url:
        engine = create_engine(url)
        gw = Gateway(engine)
        try:
            yield gw
        finally:
            gw.log.close()
            engine.dispose()


def test_a_release_is_in_the_index_the_moment_its_record_is_durable(gateway: Gateway) -> None:
    """No follower has run: the writer starts the index itself on an empty log, and each
    release's row commits with its record; a denial and a confirmation are no rows."""
    first = gateway.log.append(_release())
    assert gateway.rows() == {first: ("card", date(2027, 3, 1), None)}
    assert gateway.position() == first + 1
    denied = gateway.log.append(_denial())
    second = gateway.log.append(_release("bank", "2027-02-02"))
    assert set(gateway.rows()) == {first, second} and denied not in gateway.rows()
    confirmed = gateway.log.append(_confirmation("card", first, second))
    # the first is card's: marked in the confirmation's own commit; the second is bank's
    assert gateway.rows()[first] == ("card", date(2027, 3, 1), confirmed)
    assert gateway.rows()[second][2] is None
    assert gateway.position() == confirmed + 1


def test_a_coroutines_batch_indexes_its_releases_in_its_commit(gateway: Gateway) -> None:
    import asyncio

    async def appended() -> list[int]:
        return list(await asyncio.gather(*(gateway.log.append_async(_release())
                                           for _ in range(40))))

    indexes = asyncio.run(appended())
    assert set(gateway.rows()) == set(indexes)
    assert gateway.position() == gateway.log.size()


def test_records_another_writer_appended_are_bridged_by_the_next_indexed_commit(
        gateway: Gateway) -> None:
    gateway.log.append(_release())
    with gateway.plain_log() as other:
        missed = [other.append(_release("bank")) for _ in range(5)]
        other.append(_confirmation("bank", missed[0]))
    assert not set(missed) & set(gateway.rows())  # not indexed by that writer
    last = gateway.log.append(_release())
    rows = gateway.rows()
    assert set(missed) | {last} <= set(rows)
    assert rows[missed[0]][2] == missed[-1] + 1  # the bridged confirmation was applied too
    assert gateway.position() == last + 1
    assert gateway.rebuilt() == rows


def test_an_index_far_behind_is_left_to_the_follower_and_the_writer_takes_over_after(
        gateway: Gateway) -> None:
    gateway.log.append(_release())
    with gateway.plain_log() as other, ThreadPoolExecutor(16) as pool:  # group commits
        list(pool.map(lambda _: other.append(_release("bank")), range(BRIDGE_MAX + 10)))
    behind = gateway.position()
    later = gateway.log.append(_release())
    assert gateway.position() == behind and later not in gateway.rows()  # too far: not read
    assert gateway.follower.catch_up() == gateway.log.size()
    assert later in gateway.rows()
    again = gateway.log.append(_release())  # caught up: the writer indexes in its commit again
    assert again in gateway.rows() and gateway.position() == again + 1
    assert len(gateway.rows()) == BRIDGE_MAX + 10 + 3


def test_what_the_writer_indexes_is_what_a_rebuild_from_the_log_gives(gateway: Gateway) -> None:
    made = [gateway.log.append(r) for r in (
        _release(), _denial(), _release("bank", "2026-12-31"), _release("securities"))]
    gateway.log.append(_confirmation("bank", made[2], made[0]))  # made[0] is card's: untouched
    gateway.log.append(_confirmation("card", made[0]))
    gateway.log.append(_confirmation("card", made[0]))  # the first confirmation stands
    written = gateway.rows()
    assert written[made[0]][2] == made[-1] + 2 and written[made[2]][2] == made[-1] + 1
    assert gateway.rebuilt() == written


def test_a_row_already_there_never_fails_the_logs_commit(gateway: Gateway) -> None:
    """The index is derived: a row someone wrote by hand ahead of the writer is left as it
    is, and the record is still durable."""
    first = gateway.log.append(_release())
    with gateway.engine.begin() as conn:
        conn.execute(RELEASES.insert().values(log_index=first + 1, recipient="card",
                                              use_by=date(2030, 1, 1)))
    second = gateway.log.append(_release())
    assert second == first + 1 and gateway.rows()[second][1] == date(2030, 1, 1)


@pytest.mark.parametrize(("record", "entry"), [
    (_release(), ReleaseEntry("card", use_by=date(2027, 3, 1))),  # the latest use-by counts
    (_denial(), None),
    ({"kind": "query", "actor": "card", "released": [{"use_by": USE_BY}]}, None),
    ({"kind": "query", "actor": {"system": "x"}, "released": [{"use_by": USE_BY}]}, None),
    ({"kind": "consent.granted", "actor": {"affiliate": "card"}}, None),
    (_confirmation("bank", 4, 2), ReleaseEntry("bank", confirms=(4, 2))),
    ({**_confirmation("bank", 4), "status": 404}, None),  # a refused confirmation confirms nothing
])
def test_what_a_record_means_to_the_index(record: dict[str, Any],
                                          entry: ReleaseEntry | None) -> None:
    assert entry_of(record) == entry
