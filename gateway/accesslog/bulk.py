"""Bulk loading of the access log (benchmarks, migrations): many records per transaction.

Writes exactly what `AccessLog.append` writes — the same canonical record bytes with their
own `index`, the same leaf hashes, the same stored subtree nodes and head frontier — only
`batch` records per transaction instead of one small group commit, with `executemany`. The
tree is therefore byte-identical to one built by appending one record at a time.

It takes the same cross-process append lock per transaction (`BEGIN IMMEDIATE` on SQLite,
`SELECT … FOR UPDATE` on PostgreSQL), so it may run beside a live gateway; it signs no
checkpoint (call `AccessLog.checkpoint()` afterwards). Records naming a customer are added to
the per-customer index in the same transaction, as the writer adds them.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from gateway.accesslog import customer_index, store
from gateway.accesslog.canonical import CanonicalObject
from gateway.accesslog.errors import LogCorrupted, RecordNotCanonical
from gateway.accesslog.merkle import CompactRange
from gateway.db.base import Base

DEFAULT_BATCH = 50_000
SQLITE_BUSY_TIMEOUT_MS = 30_000
_INDEX_KEY = "index".encode("utf-16-be")  # CanonicalObject's sort key of the `index` member
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}

Progress = Callable[[int], None]
"""Called after each committed transaction with the number of records appended so far."""


def bulk_append(
    engine: Engine,
    records: Iterable[dict[str, Any] | CanonicalObject],
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    create_tables: bool = True,
) -> int:
    """Append `records` (each gets its own `index`) in transactions of `batch`; return the count.

    A record may be given as a dict or as an already built `CanonicalObject` (cheaper when
    the caller canonicalizes many similar records). Each committed transaction is durable on
    its own: a failure part-way leaves a consistent log holding the earlier transactions.
    """
    if batch < 1:
        raise ValueError("batch must be ≥ 1")
    prepare(engine, create_tables=create_tables)
    written = 0
    for chunk in _chunks(records, batch):
        data = [_canonical(r) for r in chunk]  # canonicalize before taking the lock
        with engine.connect() as conn:
            _lock(conn)
            current = store.read_head(conn, for_update=True)
            # INVARIANT: each record holds its own index, assigned under the append lock
            _append(conn, current, _with_indexes(data, current.size))
            _index_customers(conn, data, current.size)
            conn.commit()
        written += len(data)
        if progress is not None:
            progress(written)
    return written


def prepare(engine: Engine, *, create_tables: bool = True) -> None:
    """Create the log's tables (unless told not to) and the head row of an empty log."""
    if create_tables:
        Base.metadata.create_all(engine, tables=[*store.TABLES, customer_index.ENTRIES])
    with engine.begin() as conn:
        if conn.execute(select(store.head.c.id)).first() is None:
            store.insert_head_row(conn)


def _canonical(record: dict[str, Any] | CanonicalObject) -> CanonicalObject:
    if isinstance(record, CanonicalObject):
        obj = record
    elif isinstance(record, dict):
        obj = CanonicalObject.of(record)
    else:
        raise RecordNotCanonical("access record must be a json object")
    if _INDEX_KEY in obj.sort_keys:
        raise RecordNotCanonical("access record must not set `index`: the log assigns it")
    return obj


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _lock(conn: Connection) -> None:
    """The append lock `AccessLog.write_batch` takes, before the head is read."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        conn.execution_options(isolation_level="READ COMMITTED")


def _with_indexes(objects: Sequence[CanonicalObject], start: int) -> list[bytes]:
    """`obj.with_member("index", start + n)` for each object, without re-encoding anything.

    An integer's canonical form is its decimal digits, so the member is built directly.
    """
    out = []
    for n, obj in enumerate(objects, start):
        at = bisect.bisect_left(obj.sort_keys, _INDEX_KEY)
        members = obj.members
        out.append(b"{" + b",".join((*members[:at], b'"index":%d' % n, *members[at:])) + b"}")
    return out


def _append(conn: Connection, current: store.Head, records: list[bytes]) -> None:
    """`store.append_leaves` with driver-level executemany: the same rows, fewer layers.

    SQLAlchemy's per-row parameter processing costs more than SQLite's own insert; the
    values here need none but `created_at`, converted once through the column's type.
    """
    placeholder = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if placeholder is None:  # an unusual driver: take the ordinary path
        store.append_leaves(conn, current, records)
        return
    start = current.size
    frontier = store.read_frontier(conn, current)
    stamp = store.now()
    created_type = store.leaves.c.created_at.type.dialect_impl(conn.dialect)
    process = created_type.bind_processor(conn.dialect)
    created = process(stamp) if process is not None else stamp
    sha256 = hashlib.sha256
    leaf_rows = []
    node_rows: list[tuple[int, int, bytes]] = []
    for offset, data in enumerate(records):
        h = sha256(b"\x00" + data).digest()  # merkle.leaf_hash, inlined: 10 million calls
        leaf_rows.append((start + offset, h, data, created))
        node_rows.extend(frontier.append(h))
    q = placeholder
    if leaf_rows:
        conn.exec_driver_sql(
            f"INSERT INTO {store.LogLeaf.__tablename__} (idx, leaf_hash, record, created_at) "
            f"VALUES ({q}, {q}, {q}, {q})",
            leaf_rows,
        )
    if node_rows:
        conn.exec_driver_sql(
            f"INSERT INTO {store.LogNode.__tablename__} (level, idx, hash) VALUES ({q}, {q}, {q})",
            node_rows,
        )
    _advance_head(conn, start, frontier, stamp)


def _index_customers(conn: Connection, objects: Sequence[CanonicalObject], start: int) -> None:
    """The per-customer index rows of the chunk, in its transaction (as the writer does)."""
    rows = [(start + n, entry) for n, obj in enumerate(objects)
            if (entry := customer_index.entry_of_canonical(obj)) is not None]
    if not rows:
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        customer_index.insert_entries(conn, cursor, rows)
    finally:
        cursor.close()


def _advance_head(conn: Connection, start: int, frontier: CompactRange, stamp: Any) -> None:
    moved = conn.execute(
        update(store.head)
        .where(store.head.c.id == store.HEAD_ID, store.head.c.size == start)
        .values(size=frontier.size, root_hash=frontier.root(),
                frontier=b"".join(frontier.hashes()), updated_at=stamp)
    )
    if moved.rowcount != 1:  # another writer advanced the head: the lock did not hold
        raise LogCorrupted(f"access log head moved from size {start} during a bulk append")
