"""Releases and their destruction at the recipient: a follower of the access log.

Every access record that released something carries the use-by day of what it released
(`gateway.rights.useby`). The recipient confirms destruction with `POST
/v1/releases/destruction`, which is itself an access record (`release.destruction`). This
module follows the log in order (like Tessera's followers: it reads from where it stopped) and
keeps one narrow row per release in `releases`: recipient, use-by and, once a confirmation record
names it, that record's index. The query path writes nothing here; the rows can always be
rebuilt from the log, and `gateway review overdue` reads the front of a partial index over the
rows not yet confirmed (개인정보 보호법 제21조: destruction when the retention period ends).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.accesslog import store
from gateway.db.models import LogFollower, Release
from gateway.errors import NotFound

logger = logging.getLogger("gateway.rights.releases")

FOLLOWER = "releases"
DESTRUCTION_KIND = "release.destruction"
CHUNK = 500  # records read and rows written per transaction
# between chunks the follower sleeps this long: a thread parsing records holds the GIL, and
# the requests on the event loop must not wait behind a whole backlog (their p99 did)
YIELD_S = 0.002
MAX_NAMED = 1000  # log indexes one confirmation may name
# how often the follower catches up. More often in smaller chunks (0.25 s, 250 records) made
# the full path's p99 worse, 20–26 ms against 18–20 ms (`bench_gateway.py --compare`): each
# chunk takes the log writers' turn, and what it spares one batch it costs another
FOLLOW_INTERVAL_S = 2.0
STOP_POLL_S = 0.1  # how soon `follow` notices that its process stops

_RELEASES: Table = Release.__table__  # type: ignore[assignment]
_FOLLOWERS: Table = LogFollower.__table__  # type: ignore[assignment]
_INSERT = insert(_RELEASES).values(log_index=bindparam("log_index"),
                                   recipient=bindparam("recipient"),
                                   use_by=bindparam("use_by", type_=_RELEASES.c.use_by.type))


class ReleaseNotFound(NotFound):
    """A named index is not a release to the caller's affiliate (or not a release at all):
    one answer for every case, naming none of the indexes."""

    type_slug = "release-unknown"
    title = "no such release for this recipient"


class LogReader(Protocol):
    def size(self) -> int: ...

    def iter_records(self, start: int, end: int) -> Iterable[bytes]: ...

    def writing_turn(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    log_index: int
    recipient: str
    use_by: date
    destruction_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"log_index": self.log_index, "recipient": self.recipient,
                "use_by": self.use_by.isoformat(), "destruction_index": self.destruction_index}


@dataclass(frozen=True, slots=True)
class OverdueSummary:
    recipient: str
    count: int
    oldest_use_by: date

    def as_dict(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "count": self.count,
                "oldest_use_by": self.oldest_use_by.isoformat()}


def release_of(record: dict[str, Any]) -> tuple[str, date] | None:
    """(recipient, use-by) of a record that released something with a use-by, else None."""
    if record.get("kind") != "query":
        return None
    released = record.get("released") or ()
    days = [item["use_by"] for item in released if isinstance(item, dict) and "use_by" in item]
    actor = record.get("actor")
    if not days or not isinstance(actor, dict):
        return None
    return str(actor["affiliate"]), date.fromisoformat(max(days))


class ReleaseIndex:
    """The `releases` rows of one gateway database, kept up to date from its access log."""

    def __init__(self, engine: Engine, log: LogReader) -> None:
        self._engine = engine
        self._log = log
        self._lock = threading.Lock()  # one catch-up at a time per process

    def position(self) -> int:
        with self._engine.connect() as conn:
            found = conn.execute(select(_FOLLOWERS.c.next_index)
                                 .where(_FOLLOWERS.c.name == FOLLOWER)).scalar()
        return 0 if found is None else int(found)

    def catch_up(self, until: int | None = None) -> int:
        """Read the records not yet read (up to `until`, default the log's size); returns the
        position reached. Each chunk's rows and the new position commit together; a second
        process racing on the same chunk loses the compare-and-set and writes nothing."""
        with self._lock:
            end = self._log.size() if until is None else min(until, self._log.size())
            start = self.position()
            while start < end:
                stop = min(end, start + CHUNK)
                try:
                    self._apply(start, stop)
                except IntegrityError:
                    pass  # another process wrote this chunk first: read on from where it is
                start = self.position()
                if start < end:
                    time.sleep(YIELD_S)
            return start

    def follow(self, stopped: Callable[[], bool], interval_s: float = FOLLOW_INTERVAL_S) -> None:
        """Catch up every `interval_s` until `stopped()` (a thread's target: the host's log
        writer process runs it for every server process of `gateway serve`)."""
        while not stopped():
            resume = time.monotonic() + interval_s
            while time.monotonic() < resume:  # a stop is noticed within STOP_POLL_S
                if stopped():
                    return
                time.sleep(min(STOP_POLL_S, max(resume - time.monotonic(), 0.0)))
            try:
                self.catch_up()
            except Exception as exc:  # noqa: BLE001 - the log holds everything: read on next tick
                logger.error("releases follower failed: %s", type(exc).__name__)

    def _apply(self, start: int, stop: int) -> None:
        rows: list[dict[str, Any]] = []
        confirmations: list[tuple[int, str, list[int]]] = []
        for offset, data in enumerate(self._log.iter_records(start, stop)):
            record = orjson.loads(data)
            index = start + offset
            found = release_of(record)
            if found is not None:
                rows.append({"log_index": index, "recipient": found[0], "use_by": found[1]})
            elif record.get("kind") == DESTRUCTION_KIND and record.get("status") == 200:
                confirmations.append((index, str(record["actor"]["affiliate"]),
                                      [int(i) for i in record.get("releases", ())]))
        # in the log writers' turn: the releases table may share the log's SQLite file
        with self._log.writing_turn(), self._engine.begin() as conn:
            moved = conn.execute(update(_FOLLOWERS).where(
                _FOLLOWERS.c.name == FOLLOWER, _FOLLOWERS.c.next_index == start)
                .values(next_index=stop)).rowcount
            if moved == 0:
                if start != 0 or conn.execute(select(func.count()).select_from(_FOLLOWERS).where(
                        _FOLLOWERS.c.name == FOLLOWER)).scalar():
                    conn.rollback()  # another process read this chunk first
                    return
                conn.execute(insert(_FOLLOWERS).values(name=FOLLOWER, next_index=stop))
            if rows:  # compiled once, on the driver: the writers wait while this runs
                statement = store.compiled(conn, _INSERT)
                cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(statement.sql, [statement.params(r) for r in rows])
                finally:
                    cursor.close()
            for index, recipient, named in confirmations:
                # the first confirmation stands; another recipient's indexes are never touched
                conn.execute(update(_RELEASES).where(
                    _RELEASES.c.log_index.in_(bindparam("named", expanding=True)),
                    _RELEASES.c.recipient == recipient,
                    _RELEASES.c.destruction_index.is_(None)).values(destruction_index=index),
                    {"named": named})

    def owned(self, indexes: Sequence[int], recipient: str) -> list[ReleaseRow]:
        """The named releases, each one to `recipient`, or `ReleaseNotFound` (never naming
        which index failed: another recipient's release answers like a record that is none)."""
        wanted = sorted(set(indexes))
        if not wanted:
            return []
        if wanted[0] < 0 or wanted[-1] >= self._log.size():
            raise ReleaseNotFound("a named log index is not a release to this recipient")
        self.catch_up(wanted[-1] + 1)
        with self._engine.connect() as conn:
            found = conn.execute(select(_RELEASES).where(
                _RELEASES.c.log_index.in_(bindparam("named", expanding=True)),
                _RELEASES.c.recipient == recipient), {"named": wanted}).all()
        if len(found) != len(wanted):
            raise ReleaseNotFound("a named log index is not a release to this recipient")
        return [_row(r) for r in found]

    def rows(self, indexes: Sequence[int]) -> list[ReleaseRow]:
        with self._engine.connect() as conn:
            found = conn.execute(select(_RELEASES).where(
                _RELEASES.c.log_index.in_(bindparam("named", expanding=True)))
                .order_by(_RELEASES.c.log_index), {"named": sorted(set(indexes))}).all()
        return [_row(r) for r in found]

    def overdue(self, today: date, *, limit: int = 1000) -> list[ReleaseRow]:
        """Releases whose use-by day is before `today` (KST) without a confirmation, oldest
        first, at most `limit` (the partial index's front: cheap however many there are)."""
        with self._engine.connect() as conn:
            found = conn.execute(select(_RELEASES).where(
                _RELEASES.c.destruction_index.is_(None), _RELEASES.c.use_by < today)
                .order_by(_RELEASES.c.use_by, _RELEASES.c.log_index).limit(limit)).all()
        return [_row(r) for r in found]

    def overdue_by_recipient(self, today: date) -> list[OverdueSummary]:
        """How many releases each recipient holds past their use-by, and the oldest day."""
        with self._engine.connect() as conn:
            found = conn.execute(select(
                _RELEASES.c.recipient, func.count().label("n"),
                func.min(_RELEASES.c.use_by).label("oldest"))
                .where(_RELEASES.c.destruction_index.is_(None), _RELEASES.c.use_by < today)
                .group_by(_RELEASES.c.recipient).order_by(_RELEASES.c.recipient)).all()
        return [OverdueSummary(r.recipient, int(r.n), _day(r.oldest)) for r in found]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _row(row: Any) -> ReleaseRow:
    return ReleaseRow(log_index=int(row.log_index), recipient=row.recipient,
                      use_by=_day(row.use_by),
                      destruction_index=(None if row.destruction_index is None
                                         else int(row.destruction_index)))


_INDEXES: weakref.WeakKeyDictionary[Engine, ReleaseIndex] = weakref.WeakKeyDictionary()


def release_index(engine: Engine, log: LogReader) -> ReleaseIndex:
    """The one `ReleaseIndex` of a gateway database in this process."""
    found = _INDEXES.get(engine)
    if found is None:
        found = _INDEXES[engine] = ReleaseIndex(engine, log)
    return found
