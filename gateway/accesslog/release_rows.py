"""The releases index's rows (`gateway.rights.releases`), written in the log's own commit.

A record that released something carries the use-by day of what it released; a
`release.destruction` record names the releases its recipient destroyed. The `releases` table
holds one row per release and the index of the first confirmation naming it, and the
`releases` row of `log_followers` says up to which record of the log it is complete.

Two writers keep it, and the follower's position decides which one writes a given record:

- **The log writer** (`AccessLog.write_batch` with `index_releases`): in the transaction that
  appends records [start, stop), it writes their rows and moves the position to stop, when
  the position stands at start: then the index never lags the log, and each record's entry
  was taken from its dict when it was submitted (`entry_of`), so the writer parses nothing.
  When the position is at most `BRIDGE_MAX` records behind (records appended by a path that
  does not index releases, such as a CLI command; the follower's last chunk), the writer
  reads and indexes those records first, in the same transaction.
- **The follower** (`ReleaseIndex.catch_up`): it reads records from the position on, parses
  them and writes their rows, moving the position in the same transaction. It does the work
  whenever the writer does not: a database whose index is far behind (its first start, a
  backlog), a process whose log writer does not index releases.

Both move the position with a compare-and-set (`next_index = start`) inside their transaction,
so a record's rows are written exactly once whoever gets there first, and both take their
entries from `entry_of`, so they write the same rows for the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.accesslog import store
from gateway.db.models import LogFollower, Release

FOLLOWER = "releases"
DESTRUCTION_KIND = "release.destruction"
# the log writer reads and indexes at most this many records the position lags behind
BRIDGE_MAX = 512

RELEASES: Table = Release.__table__  # type: ignore[assignment]
FOLLOWERS: Table = LogFollower.__table__  # type: ignore[assignment]

_MOVE = (update(FOLLOWERS)
         .where(FOLLOWERS.c.name == bindparam("follower"),
                FOLLOWERS.c.next_index == bindparam("start"))
         .values(next_index=bindparam("stop")))
_POSITION = select(FOLLOWERS.c.next_index).where(FOLLOWERS.c.name == bindparam("follower"))
# a row already there is left as it is (the position says who writes what; an index being
# rebuilt by hand must not fail the log's commit)
_INSERT = {
    name: dialect_insert(RELEASES).values(
        log_index=bindparam("log_index"), recipient=bindparam("recipient"),
        use_by=bindparam("use_by", type_=RELEASES.c.use_by.type)).on_conflict_do_nothing()
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}
_START = {
    name: dialect_insert(FOLLOWERS).values(
        name=bindparam("follower"), next_index=bindparam("stop")).on_conflict_do_nothing()
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}


@dataclass(frozen=True, slots=True)
class ReleaseEntry:
    """What one record means to the releases index: a release to `recipient` with its
    use-by day, or `recipient`'s confirmation that it destroyed the releases `confirms`."""

    recipient: str
    use_by: date | None = None
    confirms: tuple[int, ...] = ()


def release_of(record: dict[str, Any]) -> tuple[str, date] | None:
    """(recipient, use-by) of a record that released something with a use-by, else None."""
    if record.get("kind") != "query":
        return None
    released = record.get("released") or ()
    days = [item["use_by"] for item in released if isinstance(item, dict) and "use_by" in item]
    actor = record.get("actor")
    if not days or not isinstance(actor, dict) or not isinstance(actor.get("affiliate"), str):
        return None
    return actor["affiliate"], date.fromisoformat(max(days))


def entry_of(record: dict[str, Any]) -> ReleaseEntry | None:
    """The record's entry in the releases index (None: it neither releases nor confirms)."""
    found = release_of(record)
    if found is not None:
        return ReleaseEntry(found[0], use_by=found[1])
    if record.get("kind") == DESTRUCTION_KIND and record.get("status") == 200:
        actor = record.get("actor")
        if isinstance(actor, dict) and isinstance(actor.get("affiliate"), str):
            return ReleaseEntry(actor["affiliate"],
                                confirms=tuple(int(i) for i in record.get("releases", ())))
    return None


def entries_of(records: Iterable[bytes], first: int) -> list[tuple[int, ReleaseEntry]]:
    """(log index, entry) of the stored records that mean something to the index, the first
    of them at index `first`."""
    found = []
    for index, data in enumerate(records, first):
        entry = entry_of(orjson.loads(data))
        if entry is not None:
            found.append((index, entry))
    return found


def position(conn: Connection, cursor: Any) -> int | None:
    """The next record the index lacks (None: no follower has started it yet)."""
    statement = store.compiled(conn, _POSITION)
    cursor.execute(statement.sql, statement.params({"follower": FOLLOWER}))
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def move(conn: Connection, cursor: Any, start: int | None, stop: int) -> bool:
    """Move the follower's position from `start` to `stop` in this transaction (None: set it
    for the first time); False when it does not stand at `start` (another writer has these
    records, or will)."""
    statement = store.compiled(conn, _MOVE if start is not None else _START[conn.dialect.name])
    cursor.execute(statement.sql, statement.params(
        {"follower": FOLLOWER, "start": start, "stop": stop} if start is not None
        else {"follower": FOLLOWER, "stop": stop}))
    return int(cursor.rowcount) == 1


def write(conn: Connection, cursor: Any, entries: Sequence[tuple[int, ReleaseEntry]]) -> None:
    """The rows of `entries` (log index, entry), in log order, in this transaction: releases
    first, then each confirmation marks the releases it names that are its recipient's and
    not confirmed yet (the first confirmation stands; another recipient's are never touched).
    """
    statement = store.compiled(conn, _INSERT[conn.dialect.name])
    rows = [statement.params({"log_index": index, "recipient": e.recipient, "use_by": e.use_by})
            for index, e in entries if e.use_by is not None]
    if rows:
        cursor.executemany(statement.sql, rows)
    for index, e in entries:
        if e.confirms:
            conn.execute(update(RELEASES).where(
                RELEASES.c.log_index.in_(bindparam("named", expanding=True)),
                RELEASES.c.recipient == e.recipient,
                RELEASES.c.destruction_index.is_(None)).values(destruction_index=index),
                {"named": list(e.confirms)})


def index_in_commit(conn: Connection, cursor: Any, start: int, stop: int,
                    entries: Sequence[tuple[int, ReleaseEntry]]) -> bool:
    """The log writer's part: in the transaction appending records [start, stop) (under the
    append lock), their rows and the position at `stop`, when the index is complete up to
    `start` or at most `BRIDGE_MAX` records short of it (those are read and indexed first);
    else nothing: the follower reads these records later. Returns whether it wrote."""
    found = position(conn, cursor)
    at = 0 if found is None else found  # no follower yet: the index is empty
    if not start - BRIDGE_MAX <= at <= start:
        return False
    behind = entries_of(store.iter_records(conn, at, start), at) if at < start else []
    if not move(conn, cursor, found, stop):
        return False
    write(conn, cursor, [*behind, *entries])
    return True
