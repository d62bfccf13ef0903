"""The per-customer index of the access log: which records concern which customer, and when.

A record concerns a customer when its `customer` member is a customer key (32 lowercase hex):
query releases and denials, consent grants, changes, withdrawals and reads, contact stops,
re-identifications, refusals that had resolved the customer, history look-ups. The log writer
adds one `customer_log_index` row per such record in the batch's own transaction
(`AccessLog.write_batch`), so the index never lags the log and a history reads only that
customer's rows. Campaign records name no customer (a campaign commits to its customers with a
Merkle root over `campaign_leaves`, docs/CAMPAIGN-COMMITMENT.md): the history finds campaigns
through `campaign_leaves.customer_key`.

Logs written before this index existed are indexed by `backfill` (`gateway db index-history`),
which streams the records in chunks and is safe to run again.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.accesslog import store
from gateway.accesslog.canonical import CanonicalObject
from gateway.db.models import CustomerLogEntry

ENTRIES: Table = CustomerLogEntry.__table__  # type: ignore[assignment]

_KEY = re.compile(r"[0-9a-f]{32}")
_INSERT = insert(ENTRIES).values(customer_key=bindparam("customer_key"),
                                 log_index=bindparam("log_index"),
                                 at=bindparam("at", type_=ENTRIES.c.at.type),
                                 purpose=bindparam("purpose"))
# the backfill may meet rows the writer already added (a log that kept running): skip them
_INSERT_MISSING = {
    name: dialect_insert(ENTRIES).values(
        customer_key=bindparam("customer_key"), log_index=bindparam("log_index"),
        at=bindparam("at", type_=ENTRIES.c.at.type),
        purpose=bindparam("purpose")).on_conflict_do_nothing()
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """The customer a record concerns, the record's own time and its declared purpose."""

    customer_key: str
    at: datetime
    purpose: str | None = None


def entry_of(record: dict[str, Any]) -> IndexEntry | None:
    """The index entry of a record about to be appended (None: it concerns no customer).

    A record whose `time` cannot be read is still indexed, at the time of its submission: a
    history must never miss a record because of its shape."""
    customer = record.get("customer")
    if not isinstance(customer, str) or _KEY.fullmatch(customer) is None:
        return None
    return IndexEntry(customer, _time_of(record.get("time")), _purpose_of(record.get("purpose")))


_CUSTOMER_KEY = "customer".encode("utf-16-be")  # CanonicalObject's sort keys
_TIME_KEY = "time".encode("utf-16-be")
_PURPOSE_KEY = "purpose".encode("utf-16-be")


def entry_of_canonical(obj: CanonicalObject) -> IndexEntry | None:
    """`entry_of` for a record already canonicalized (bulk loading): reads the two members."""
    customer = _member(obj, _CUSTOMER_KEY, len(b'"customer":'))
    if not isinstance(customer, str) or _KEY.fullmatch(customer) is None:
        return None
    return IndexEntry(customer, _time_of(_member(obj, _TIME_KEY, len(b'"time":'))),
                      _purpose_of(_member(obj, _PURPOSE_KEY, len(b'"purpose":'))))


def _member(obj: CanonicalObject, key: bytes, prefix: int) -> object:
    at = bisect.bisect_left(obj.sort_keys, key)
    if at == len(obj.sort_keys) or obj.sort_keys[at] != key:
        return None
    return json.loads(obj.members[at][prefix:])


def _purpose_of(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _time_of(value: object) -> datetime:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if at.tzinfo is not None:
                return at
    return datetime.now(UTC)


def insert_entries(conn: Connection, cursor: Any, rows: Sequence[tuple[int, IndexEntry]]) -> None:
    """One row per (record index, entry), in the batch's transaction (one executemany)."""
    statement = store.compiled(conn, _INSERT)
    cursor.executemany(statement.sql, [statement.params(
        {"customer_key": e.customer_key, "log_index": index, "at": e.at, "purpose": e.purpose})
        for index, e in rows])


# --- backfill --------------------------------------------------------------------------------
BACKFILL_CHUNK = 5000


def backfill(engine: Engine, *, start: int = 0,
             progress: Callable[[int, int], None] | None = None) -> int:
    """Index the records [start, size) of the log: stream them in chunks, insert what is
    missing; returns how many records concern a customer (indexed now or before). Flat
    memory, one transaction per chunk."""
    with engine.connect() as conn:
        size = store.read_head(conn).size
    added = 0
    for chunk in range(start, size, BACKFILL_CHUNK):
        end = min(size, chunk + BACKFILL_CHUNK)
        with engine.begin() as conn:
            rows = list(_entries(store.iter_records(conn, chunk, end), chunk))
            if rows:
                statement = store.compiled(conn, _INSERT_MISSING[conn.dialect.name])
                cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(statement.sql, [statement.params(
                        {"customer_key": e.customer_key, "log_index": i, "at": e.at,
                         "purpose": e.purpose})
                        for i, e in rows])
                finally:
                    cursor.close()
                added += len(rows)
        if progress is not None:
            progress(end, size)
    return added


def _entries(records: Iterator[bytes], first: int) -> Iterator[tuple[int, IndexEntry]]:
    for offset, data in enumerate(records):
        record = json.loads(data)
        entry = entry_of(record)
        if entry is not None:
            yield int(record.get("index", first + offset)), entry


def count(conn: Connection, customer_key: str) -> int:
    return int(conn.execute(select(func.count()).select_from(ENTRIES)
                            .where(ENTRIES.c.customer_key == customer_key)).scalar_one())
