"""Hot-path reads: SQLAlchemy Core statements compiled once, run on a per-thread DB-API connection.

A request reads a handful of single rows by primary or unique key (registry, relationship,
consents, the affiliates' attributes). Through a pooled SQLAlchemy `Connection` each read
costs a pool check-out (with a liveness ping on PostgreSQL), statement caching and result
processing: tens of microseconds around a read that SQLite answers in a few. Here a
statement is written with SQLAlchemy (identifiers quoted by it, values always bound) and
compiled once per dialect; executing it is one DB-API call on a connection the reader keeps.

Reads run in autocommit (no transaction is left open), so each statement sees everything
committed before it, in this process or any other: a consent withdrawn anywhere is seen by
the very next read. Any driver error drops the thread's connection and raises
`StoreUnavailable` (fail closed); the next read opens a fresh one.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any
import weakref

from sqlalchemy import any_, bindparam, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

from gateway.db.engine import READ_ONLY
from gateway.errors import StoreUnavailable

__all__ = ["KeyList", "Prepared", "Reader", "Row", "padded", "utc_datetime"]

Row = tuple[Any, ...]


def padded(keys: Sequence[Any]) -> list[Any]:
    """`keys` for an `IN (…)` of a statement compiled once per size: grown to the next power of
    two by repeating the last key (the same rows match), so a batch of any length reuses one of
    a dozen compiled statements instead of compiling its own."""
    if not keys:
        return []
    size = 1 << (len(keys) - 1).bit_length()
    return [*keys, *([keys[-1]] * (size - len(keys)))]


@dataclass(frozen=True, slots=True)
class KeyList:
    """`column IN (keys)` for a batch of keys (a campaign's thousands of customers), as each
    dialect runs it best.

    PostgreSQL: `column = ANY(:keys)`, one array parameter whose element type the server takes
    from the column (so its index serves it). An IN-list of a thousand placeholders costs
    psycopg a regular-expression pass over the statement on every execution (it caches the
    conversion only for short statements with few parameters): a quarter of a 1M-customer
    campaign's time went there. Keys made only of letters and digits (customer keys are hex)
    are sent as the array's text form, joined in one step; any other keys as a list, which
    psycopg quotes element by element in Python (slower, always right). Elsewhere (SQLite): an
    IN-list of bound values, padded to a power of two (`padded`) so that a dozen compiled
    statements serve every batch size.
    """

    dialect: str
    size: int  # the IN-list's length (0 with an array parameter); part of a statement's key
    values: dict[str, Any]

    @classmethod
    def of(cls, keys: Sequence[Any], dialect: str) -> KeyList:
        if dialect == "postgresql":
            if all(isinstance(k, str) for k in keys):
                text = ",".join(keys)
                if _PLAIN_KEYS.fullmatch(text):
                    return cls(dialect, 0, {"keys": "{" + text + "}"})
            return cls(dialect, 0, {"keys": list(keys)})
        wanted = padded(keys)
        return cls(dialect, len(wanted), {f"k{n}": key for n, key in enumerate(wanted)})

    def where(self, column: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
        """The condition, for a statement compiled under `self.size` (and the dialect)."""
        if self.dialect == "postgresql":
            return column == any_(bindparam("keys"))
        return column.in_([bindparam(f"k{n}") for n in range(self.size)])


# keys that need no quoting in an array's text form: letters and digits, comma-separated
_PLAIN_KEYS = re.compile(r"[0-9A-Za-z]+(?:,[0-9A-Za-z]+)*")


def utc_datetime(value: Any) -> datetime:
    """A timestamp column as an aware UTC datetime (`gateway.db.models.UtcDateTime` semantics).

    SQLite hands back the naive UTC text SQLAlchemy stored; PostgreSQL an aware datetime.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got `{type(value).__name__}`")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One statement compiled for one dialect: its SQL, how to order its parameters, the values
    it binds itself, and the column types' bind processing (e.g. a datetime → SQLite's text),
    so that executing it on the driver needs none of SQLAlchemy's per-execution work."""

    sql: str
    positional: tuple[str, ...] | None  # bind names in order (qmark/format), or None (named)
    constants: tuple[tuple[str, Any], ...] = ()  # values the statement binds itself (LIMIT 5)
    processors: tuple[tuple[str, Callable[[Any], Any]], ...] = ()

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        constants, processors = [], []
        for name, bind in compiled.binds.items():
            if not bind.required:
                constants.append((name, bind.effective_value))
            process = bind.type._cached_bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(str(compiled), order, tuple(constants), tuple(processors))

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.constants or self.processors:
            values = {**dict(self.constants), **values}
            for name, process in self.processors:
                values[name] = process(values[name])
        if self.positional is None:
            return values
        return tuple(values[name] for name in self.positional)


class Reader:
    """Compiled statements run in autocommit on DB-API connections the reader keeps.

    A read takes an idle connection (most recently used first) and gives it back; with reads
    on the event loop (SQLite) that is one connection, with reads in worker threads at most one
    per thread reading at once (`Services.run_reads` bounds those threads). The connections
    are checked out of the engine's pool once and kept; a failed one is dropped.
    """

    MAX_IDLE = 16  # connections kept beyond that are closed when given back

    def __init__(self, engine: Engine, *, name: str) -> None:
        self._engine = engine
        self._name = name  # says which store failed, never a URL (it may hold a password)
        self._idle: deque[tuple[Any, Any]] = deque()  # (pooled, driver); append/pop are atomic
        self._cache: dict[object, Prepared] = {}
        # the kept connections are out of the pool: close them when the engine is disposed,
        # or when this reader is collected, as the pool would have
        event.listen(engine, "engine_disposed", partial(_close_on_dispose, self._idle))
        weakref.finalize(self, _close_all, self._idle)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def prepare(self, key: object, statement: ClauseElement) -> Prepared:
        """Compile `statement` once under `key` (later calls return the compiled form)."""
        prepared = self._cache.get(key)
        if prepared is None:
            prepared = self._cache[key] = Prepared.of(statement, self._engine.dialect)
        return prepared

    def prepared(self, key: object) -> Prepared | None:
        return self._cache.get(key)

    def all(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Row]:
        held, kept = self._acquire()
        try:
            rows = self._run(held, prepared, values)
        except Exception as exc:  # any driver failure: drop the connection, release nothing
            _invalidate(held[0])
            if not kept:
                raise StoreUnavailable(
                    f"{self._name} unavailable: `{type(exc).__name__}`") from exc
            # a kept connection the server may have dropped (a restart, a fail-over): those
            # kept with it are gone too, and a read is safe to run again on a new connection
            # (what the pool's pre-ping does for pooled ones)
            _close_all(self._idle)
            held, kept = self._acquire()
            try:
                rows = self._run(held, prepared, values)
            except Exception as again:
                _invalidate(held[0])
                raise StoreUnavailable(
                    f"{self._name} unavailable: `{type(again).__name__}`") from again
        self._release(held, kept)
        return rows

    @staticmethod
    def _run(held: tuple[Any, Any], prepared: Prepared, values: Mapping[str, Any]) -> list[Row]:
        cursor = held[1].cursor()
        try:
            cursor.execute(prepared.sql, prepared.params(values))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def one(self, prepared: Prepared, values: Mapping[str, Any]) -> Row | None:
        rows = self.all(prepared, values)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close every connection this reader keeps."""
        _close_all(self._idle)


    def _acquire(self) -> tuple[tuple[Any, Any], bool]:
        """A connection, and whether it was kept from an earlier read (else opened now)."""
        try:
            return self._idle.pop(), True
        except IndexError:
            pass
        try:
            pooled = self._engine.raw_connection()
            driver = pooled.driver_connection
            if self.dialect == "sqlite":
                driver.isolation_level = None  # type: ignore[union-attr]  # autocommit
            else:
                driver.autocommit = True  # type: ignore[union-attr]
        except Exception as exc:
            raise StoreUnavailable(f"{self._name} unavailable: `{type(exc).__name__}`") from exc
        return (pooled, driver), False

    def _release(self, held: tuple[Any, Any], kept: bool) -> None:
        # one opened now that SQLite opened read-only (a read-only remount) is not kept: it
        # would stay so, and keep the file's shared index read-only for every connection,
        # after the fault clears (one kept before passed this check when it was opened)
        if len(self._idle) < self.MAX_IDLE and (kept or not held[0].info.get(READ_ONLY)):
            self._idle.append(held)
        else:
            _invalidate(held[0])


def _close_on_dispose(idle: deque[tuple[Any, Any]], _engine: Engine) -> None:
    _close_all(idle)


def _close_all(idle: deque[tuple[Any, Any]]) -> None:
    while idle:
        try:
            pooled, _driver = idle.pop()
        except IndexError:
            return
        _invalidate(pooled)


def _invalidate(pooled: Any) -> None:
    try:
        pooled.invalidate()
    except Exception:  # noqa: BLE001 - the connection is being dropped anyway
        pass
