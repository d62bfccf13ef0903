"""SQLAlchemy engines for the gateway's and the affiliates' databases, with sane defaults.

SQLite (the embedded default) gets write-ahead logging so readers never block the writer,
`foreign_keys=ON` (off by default in SQLite) and a busy timeout so concurrent writers wait
instead of failing at once (https://www.sqlite.org/pragma.html, https://www.sqlite.org/wal.html).
PostgreSQL URLs are normalized to the psycopg 3 driver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from gateway.errors import ConfigError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

BUSY_TIMEOUT_MS = 10_000

# set in a pool entry's `info` when SQLite opened its file read-only (`_reopen_once_writable`):
# whoever keeps connections out of the pool (the hot-path `Reader`) must not keep such a one
READ_ONLY = "sqlite_read_only"


def normalize_url(url: str) -> URL:
    """Parse `url`; bare `postgresql://` and `postgres://` get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def in_memory(database: str | None) -> bool:
    """Whether a SQLite URL's database part names memory rather than a file."""
    name = database or ""
    return name in ("", ":memory:") or name.startswith("file::memory:")


def make_engine(url: str, *, synchronous: Synchronous = "FULL",
                wal_autocheckpoint: int | None = None) -> Engine:
    """An engine for `url`; `synchronous` applies to SQLite only (FULL: durable on power loss),
    and so does `wal_autocheckpoint`: the write-ahead log's size in pages beyond which a commit
    of this engine's connections also checkpoints it (None: SQLite's default, 1000 pages;
    raised where a `WalCheckpointer` takes that work out of the commits)."""
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ConfigError(f"unknown sqlite synchronous mode `{synchronous}`")
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, synchronous, wal_autocheckpoint)
    return create_engine(
        parsed,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,  # a restarted server must not cost one failed request per connection
        pool_recycle=1800,
    )


def _sqlite_engine(url: URL, synchronous: Synchronous, wal_autocheckpoint: int | None
                   ) -> Engine:
    database = url.database or ""
    memory = in_memory(database)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # as many pooled connections as request threads (anyio's default limit is 40)
        kwargs.update(pool_size=40, max_overflow=10)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # a Literal, never user input
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS:d}")
            if wal_autocheckpoint is not None:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint):d}")
        finally:
            cursor.close()

    if not memory:
        _reopen_once_writable(engine, database)
    return engine


def _reopen_once_writable(engine: Engine, database: str) -> None:
    """A connection SQLite opened read-only is closed when handed back, never pooled.

    SQLite opens a file it may not write (a read-only remount, a write-protected file) for
    reading alone, and such a connection stays read-only for its whole life; in WAL mode the
    connections of a process share one shared-memory index, opened read-only too while such a
    connection holds it. Pooled, they would refuse writes long after the fault cleared; closed
    at check-in, the first request after the fault opens the file read-write again
    (https://www.sqlite.org/c3ref/open.html, SQLITE_OPEN_READWRITE)."""

    @event.listens_for(engine, "connect")
    def _note_read_only(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[READ_ONLY] = os.path.exists(database) and not os.access(database, os.W_OK)

    @event.listens_for(engine, "checkin")
    def _close_read_only(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if record.info.get(READ_ONLY):
            record.invalidate()
