"""The access log: durable, group-committed appends and reads of a verifiable Merkle log.

One writer thread per process drains a queue of pending records and writes each batch in
one transaction, serialized across processes by the database: `SELECT … FOR UPDATE` on the
`log_head` row on PostgreSQL, `BEGIN IMMEDIATE` (the write lock, before anything is read) on
SQLite in WAL mode with `synchronous=FULL`. Only after COMMIT returns are callers woken.
Under `gateway serve` the server processes of a host hand their records to one writer
process instead (`host_writer`, `remote.py`), which runs the same `write_batch` for what they
all sent meanwhile.

INVARIANT: `append` returns an index only once the record is committed; any failure raises
`LogWriteFailed` to every caller of the batch, and the caller must release nothing.

A record may carry the id (`jti`) of the token that asked for it (`TokenClaim`): the id is
inserted into `used_tokens` in the same transaction as the record (RFC 7519 §4.1.7), so a
request costs one commit, not two, and its record and its token id are durable together. An
id used before (by another process, or earlier in the same batch) gets no record: its caller
gets `TokenReplayed` and records the refusal instead.

A record may also carry marketing contact claims (`contacts.ContactClaim`): under the same
lock the writer counts the customer's contacts in the cap's window and writes the record with
one `contact_events` row per claim, or — at the cap — does not write it and fails its caller
with `ContactCapReached` (the caller decides again and appends the withheld record).

A record that names a customer (`customer`: a customer key) gets a `customer_log_index` row in
the same transaction (`customer_index`): the per-customer index the access history reads.

A record may carry a rate-limit `usage.Usage` (issue #12): under the same lock the writer counts
the request and its customer against its system's and employee's limits, and writes the record
with the new counts, or — beyond a limit — does not write it and fails its caller with
`RateLimited` (the caller records the refusal). Reaching an alert threshold adds one `alert`
record to the batch, once per subject, measure and window.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Any

try:
    import fcntl
except ImportError:  # not Unix: appends still serialize on SQLite's own lock, just less promptly
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Engine, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.accesslog import contacts as contact_events
from gateway.accesslog import customer_index
from gateway.accesslog import store
from gateway.accesslog import usage as rate_usage
from gateway.accesslog.canonical import UnindexedRecord
from gateway.accesslog.checkpoint import format_checkpoint
from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.errors import (
    ContactCapReached,
    LogCorrupted,
    LogRangeError,
    RecordNotCanonical,
)
from gateway.accesslog.merkle import EMPTY_ROOT
from gateway.accesslog.usage import RateLimited, Usage, UsageCache, UsageCounter
from gateway.accesslog.note import NoteSigner
from gateway.accesslog.remote import LoopChannel, RemoteWriter
from gateway.db.base import Base
from gateway.db.models import UsedToken
from gateway.errors import LogWriteFailed, TokenReplayed

logger = logging.getLogger("gateway.accesslog")

LINGER_POLL_S = 0.0002  # a lingering writer looks again at what is under way this often
SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's batch
NO_FILE = (None, "", ":memory:")
# writer connections a forked child inherited: kept referenced, so that the child's garbage
# collector never closes the parent's SQLite connection under it
_INHERITED: list[Connection] = []
# the log whose `underway` request the current task serves, until it submits its record
_UNDERWAY: contextvars.ContextVar[AccessLog | None] = contextvars.ContextVar(
    "accesslog_underway", default=None)


_USED_TOKENS: Table = UsedToken.__table__  # type: ignore[assignment]
# one per dialect: ON CONFLICT … DO NOTHING RETURNING exists on SQLite ≥ 3.35 and PostgreSQL
_CLAIMS = {
    name: insert(_USED_TOKENS)
    .values(jti=bindparam("jti"), system=bindparam("system"), expires_at=bindparam("expires_at"))
    .on_conflict_do_nothing(index_elements=["jti"])
    .returning(_USED_TOKENS.c.jti)
    for name, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
# PostgreSQL: every id of a batch in one statement (a round trip per id would cost the
# writer more than the rest of the batch); the names are this module's own, not input
_CLAIM_MANY_POSTGRES = (
    "INSERT INTO used_tokens (jti, system, expires_at) "
    "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) "
    "ON CONFLICT (jti) DO NOTHING RETURNING jti")


class _StaleConnection(Exception):
    """The writer's kept connection failed its first statement of a batch as disconnected."""


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """A token id to mark used together with the record (kept until `expires_at`)."""

    jti: str
    system: str
    expires_at: datetime


Outcome = int | None | BaseException  # the index (None: a claim alone), or the failure
# what a batch's transaction gave, by `id()` of each pending: the index of each written record,
# those whose token id was new, those at a contact cap (the counts found), those beyond a rate
# limit (their refusal)
BatchResult = tuple[dict[int, int], set[int], dict[int, dict[tuple[str, str], int]],
                    dict[int, RateLimited]]


@dataclass(slots=True)
class _Pending:
    record: UnindexedRecord | None  # canonicalized at submission; None: a token claim alone
    token: TokenClaim | None = None
    contacts: tuple[ContactClaim, ...] = ()
    customer: customer_index.IndexEntry | None = None  # the customer the record concerns
    usage: Usage | None = None  # counted against rate limits (`usage.py`)
    future: Future[int | None] | None = None  # a thread waits on it (`append`)
    waiter: asyncio.Future[int | None] | None = None  # a coroutine awaits it (`append_async`)

    def take(self) -> bool:
        """Whether to write it: False when its caller already gave up waiting."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        assert self.waiter is not None
        return not self.waiter.cancelled()  # read from the writer thread: a hint, see _settle


def _settle(outcomes: list[tuple[_Pending, Outcome]]) -> None:
    """Hand each caller its outcome: a waiting thread directly, the coroutines of one event
    loop in a single call into that loop (one wake-up per batch, not one per record)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int | None], Outcome]]] = {}
    for p, outcome in outcomes:
        if p.future is not None:
            if p.future.done():
                continue
            if isinstance(outcome, BaseException):
                p.future.set_exception(outcome)
            else:
                p.future.set_result(outcome)
        elif p.waiter is not None:
            by_loop.setdefault(p.waiter.get_loop(), []).append((p.waiter, outcome))
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, group)
        except RuntimeError:  # that loop is closed: nobody awaits these any more
            pass


def _resolve(group: list[tuple[asyncio.Future[int | None], Outcome]]) -> None:
    """Hand outcomes to their coroutines; on the loop they belong to."""
    for waiter, outcome in group:
        if waiter.done():  # cancelled meanwhile: its record may be written, nothing released
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


@contextlib.contextmanager
def _held(fd: int) -> Iterator[None]:
    """An exclusive `flock` on `fd` for the block (blocks this thread only: the GIL is
    released while it waits)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    records: int = 0
    failed_batches: int = 0


class AccessLog:
    """Append-only, tamper-evident log of access records (RFC 9162 tree, C2SP checkpoints)."""

    def __init__(
        self,
        engine: Engine,
        signer: NoteSigner,  # one LogSigner, or the LogKeyring that follows rotations
        *,
        origin: str,
        batch_max: int = 256,
        batch_wait_ms: float = 0.0,
        batch_linger_ms: float = 0.0,
        create_tables: bool = True,
        host_writer: str | None = None,
    ) -> None:
        """`host_writer`: the socket of the host's log writer process (`remote.HostWriter`),
        which then writes this process's batches; None: this process's writer thread writes
        them itself."""
        if batch_max < 1 or batch_wait_ms < 0 or batch_linger_ms < 0:
            raise ValueError("batch_max must be ≥ 1, batch_wait_ms and batch_linger_ms ≥ 0")
        format_checkpoint(origin, 0, EMPTY_ROOT)  # validates the origin line early
        self._engine = engine
        self._signer = signer
        self.origin = origin
        self.batch_max = batch_max
        self.batch_wait = batch_wait_ms / 1000
        self.batch_linger = batch_linger_ms / 1000
        self._underway = 0  # requests deciding now, whose records will follow (`underway`)
        self.stats = WriterStats()
        self._dialect = engine.dialect.name
        database = engine.url.database
        self._turn_file = (f"{database}.append-lock" if self._dialect == "sqlite"
                           and database not in NO_FILE and fcntl is not None else None)
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        # the writer thread's own: its connection and turn file, with the pid that opened them
        self._conn: tuple[int, Connection] | None = None
        self._turn_fd: tuple[int, int] | None = None
        self._purged_hour = 0  # the hour this process last purged old rate-limit windows in
        self._usage = UsageCache()  # rate-limit counts kept between batches (writer thread)
        # to the host's writer: threads through this process's writer thread (`RemoteWriter`),
        # coroutines straight from their event loop (`LoopChannel`: no thread hop either way)
        self._remote = None if host_writer is None else RemoteWriter(host_writer)
        self._channel = None if host_writer is None else LoopChannel(
            host_writer, self._settle_here)
        self._prepare_database(create_tables)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write an SQLite log file, among every process's writers.

        SQLite's own wait for its write lock (`busy_timeout`) polls with sleeps that grow to
        100 ms, so with two processes appending a writer often sleeps long after the lock was
        freed (p99 in the hundreds of milliseconds). An exclusive `flock` on a file beside the
        database wakes the next writer as soon as the lock is released. Inside its turn the
        writer still takes SQLite's lock (`BEGIN IMMEDIATE`), which is what guarantees order.
        The writer keeps the file open between turns (its own descriptor: a `flock` belongs to
        the open file, so a forked child opens the file again rather than share the parent's).
        """
        if self._turn_file is None:
            yield
            return
        if self._turn_fd is None or self._turn_fd[0] != os.getpid():
            self._turn_fd = (os.getpid(),
                             os.open(self._turn_file, os.O_RDWR | os.O_CREAT, 0o600))
        with _held(self._turn_fd[1]):
            yield

    @contextlib.contextmanager
    def writing_turn(self) -> Iterator[None]:
        """Take the log writers' turn to write to the log's database file (SQLite; a no-op
        elsewhere), for another writer of that file, e.g. a follower of the log.

        Without it such a transaction would meet the log writer's `BEGIN IMMEDIATE` inside
        SQLite's busy handler, which sleeps up to 100 ms: every request waiting for the log
        would wait that long. The turn uses a descriptor of its own (a `flock` belongs to the
        open file, so sharing the writer's would exclude nothing)."""
        if self._turn_file is None:
            yield
            return
        fd = os.open(self._turn_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _held(fd):
                yield
        finally:
            os.close(fd)

    def _connection(self) -> Connection:
        """The writer's connection, kept between batches (a pool check-out, the connection
        settings and the check-in would cost every group commit); opened again in a forked
        child, and after any failure."""
        held = self._conn
        if held is not None and held[0] == os.getpid():
            return held[1]
        if held is not None:  # the parent's: never used nor closed here (SQLite forbids both)
            _INHERITED.append(held[1])
        conn = self._engine.connect()
        if self._dialect == "postgresql":
            # FOR UPDATE must see the latest committed head after waiting for the lock
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        elif self._dialect == "sqlite":
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
                cursor.execute("PRAGMA synchronous = FULL")  # WAL + NORMAL may lose commits
            finally:
                cursor.close()
        self._conn = (os.getpid(), conn)
        return conn

    def _drop_connection(self) -> None:
        """Close the writer's connection for good (after a failure, or when the writer stops):
        invalidated, not handed back to the pool, which may have been disposed meanwhile."""
        held, self._conn = self._conn, None
        if held is not None and held[0] == os.getpid():
            with contextlib.suppress(Exception):  # it may have failed already: best effort
                held[1].rollback()
            with contextlib.suppress(Exception):
                held[1].invalidate()
            with contextlib.suppress(Exception):
                held[1].close()

    # --- set-up -----------------------------------------------------------------------------
    def _prepare_database(self, create_tables: bool) -> None:
        """Create the tables and the head row; tolerate another process doing it at once."""
        for attempt in range(5):
            try:
                if self._dialect == "sqlite" and self._engine.url.database not in NO_FILE:
                    with self._engine.connect() as conn:  # persistent: recorded in the file
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                if create_tables:
                    Base.metadata.create_all(self._engine,
                                             tables=[*store.TABLES, contact_events.EVENTS,
                                                     customer_index.ENTRIES, *rate_usage.TABLES])
                with self._engine.begin() as conn:
                    if conn.execute(select(store.head.c.id)).first() is None:
                        store.insert_head_row(conn)
                return
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))  # a concurrent creator won the race; look again

    # --- appending --------------------------------------------------------------------------
    def append(self, record: dict[str, Any], *, timeout: float | None = None,
               token: TokenClaim | None = None,
               contacts: Sequence[ContactClaim] = (), usage: Usage | None = None) -> int:
        """Append `record` (it gets its own `index`); return the index once it is durable.

        With `token`, its id is marked used in the same commit; `TokenReplayed` (and no
        record) when it was used before. With `contacts`, each is counted against its cap and
        recorded in the same commit; `ContactCapReached` (and no record) when one is at its cap.
        With `usage`, the request is counted against its rate limits in the same commit;
        `RateLimited` (and no record) when it would pass one.
        """
        index = self._wait(self._submit(self._prepare(record, token, tuple(contacts), usage)),
                           timeout)
        assert index is not None
        return index

    async def append_async(self, record: dict[str, Any], *,
                           token: TokenClaim | None = None,
                           contacts: Sequence[ContactClaim] = (),
                           usage: Usage | None = None) -> int:
        """`append` for the event loop: waits for the writer without blocking the loop."""
        index = await self._submit_async(self._prepare(record, token, tuple(contacts), usage))
        assert index is not None
        return index

    async def claim_token_async(self, token: TokenClaim) -> None:
        """Mark a token id used, in the next group commit, for a request that writes no record
        of its own; `TokenReplayed` when it was used before."""
        await self._submit_async(self._prepare(None, token))

    def claim_token(self, token: TokenClaim, *, timeout: float | None = None) -> None:
        self._wait(self._submit(self._prepare(None, token)), timeout)

    @staticmethod
    def _wait(future: Future[int | None], timeout: float | None) -> int | None:
        try:
            return future.result(timeout)
        except FutureTimeout as exc:
            raise LogWriteFailed("access log write timed out") from exc

    def _submit(self, pending: _Pending) -> Future[int | None]:
        pending.future = Future()
        self._enqueue(pending)
        return pending.future

    def _submit_async(self, pending: _Pending) -> asyncio.Future[int | None]:
        pending.waiter = asyncio.get_running_loop().create_future()
        if _UNDERWAY.get() is self:  # this request's record is here: no longer under way
            _UNDERWAY.set(None)
            self._underway -= 1
        if self._channel is not None:
            if self._closed:
                raise LogWriteFailed("access log is closed")
            self._channel.submit(pending)
        else:
            self._enqueue(pending)
        return pending.waiter

    def _prepare(self, record: dict[str, Any] | None, token: TokenClaim | None,
                 contacts: tuple[ContactClaim, ...] = (), usage: Usage | None = None
                 ) -> _Pending:
        canonical = None
        if record is not None or token is None:
            if not isinstance(record, dict):
                raise RecordNotCanonical("access record must be a json object")
            # canonicalize here, in the caller: floats etc. fail this call, not the whole batch
            # (and a record that sets `index` itself: the log assigns it)
            canonical = UnindexedRecord.of(record)
        if (contacts or usage is not None) and canonical is None:
            raise RecordNotCanonical("contact claims and usage need the record they count")
        entry = None if record is None else customer_index.entry_of(record)
        return _Pending(canonical, token, contacts, customer=entry, usage=usage)

    def _enqueue(self, pending: _Pending) -> None:
        with self._lock:
            if self._closed:
                raise LogWriteFailed("access log is closed")
            self._ensure_writer()
            self._queue.put(pending)

    def _ensure_writer(self) -> None:
        # a writer thread does not survive fork(): start one per process, on first use (and
        # again should it ever have died, so that no caller waits on a queue nobody reads)
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="accesslog-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write everything already submitted, then stop the writer; later appends fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._channel is not None:
                self._channel.close()
            thread = self._thread if self._pid == os.getpid() else None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def __enter__(self) -> AccessLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        q = self._queue
        try:
            while True:
                first = q.get()
                if first is None:
                    return
                batch, stop = self._gather(q, first)
                self._write(batch)
                if stop:
                    return
        finally:  # early only on a bug: never leave a caller waiting forever
            self._fail_queued(q)
            self._drop_connection()
            if self._remote is not None:
                self._remote.close()
            turn, self._turn_fd = self._turn_fd, None
            if turn is not None and turn[0] == os.getpid():
                os.close(turn[1])

    def _gather(
        self, q: queue.SimpleQueue[_Pending | None], first: _Pending
    ) -> tuple[list[_Pending], bool]:
        """Take up to batch_max records: those queued, then any arriving within batch_wait,
        and, while requests are `underway`, those arriving within batch_linger.

        A commit costs the same for one record as for several, so waiting briefly for the
        records of requests already being decided saves a commit each; when nothing is under
        way, waiting could only add latency, and the batch goes at once. A process that hands
        its batches to the host's writer lingers only while it is the one process sending
        there: otherwise the host writer gathers every process's records for the commit.
        """
        batch = [first]
        started = time.monotonic()
        while len(batch) < self.batch_max:
            try:
                item = q.get_nowait()
            except queue.Empty:
                waited = time.monotonic() - started
                lingers = self._underway > 0 and (self._remote is None or self._remote.peers <= 1)
                limit = max(self.batch_wait, self.batch_linger if lingers else 0.0)
                if waited >= limit:
                    break
                try:  # look again at what is under way at least every LINGER_POLL_S
                    item = q.get(timeout=min(limit - waited, LINGER_POLL_S))
                except queue.Empty:
                    continue
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    @contextlib.contextmanager
    def underway(self) -> Iterator[None]:
        """Mark the request this task serves as under way until it submits its first record
        (or ends without one): a group commit may linger for that record (`batch_linger`)."""
        self._underway += 1
        reset = _UNDERWAY.set(self)
        try:
            yield
        finally:
            if _UNDERWAY.get() is self:  # ended without a record
                self._underway -= 1
            _UNDERWAY.reset(reset)

    def _write(self, batch: list[_Pending]) -> None:
        # a request whose caller gave up before we took it is not written
        live = [p for p in batch if p.take()]
        if not live:
            return
        try:
            if self._remote is not None:  # the host's writer process writes it (`remote.py`)
                result: BatchResult | Exception = self._remote.write(live)
            else:
                result = self.write_batch(live)
        except Exception as exc:  # noqa: BLE001 - every failure must reach every caller
            result = exc
        _settle(self._outcomes(live, result))

    def _settle_here(self, batch: list[_Pending], result: BatchResult | Exception) -> None:
        """Settle a batch's coroutines from their own loop (`LoopChannel` answers arrive there)."""
        _resolve([(p.waiter, outcome) for p, outcome in self._outcomes(batch, result)
                  if p.waiter is not None])

    def _outcomes(self, live: list[_Pending], result: BatchResult | Exception
                  ) -> list[tuple[_Pending, Outcome]]:
        """What each caller of a batch gets: its index, its refusal, or the batch's failure."""
        if isinstance(result, Exception):
            if self._remote is not None:  # (`write_batch` counts and logs its own failures)
                self.stats.failed_batches += 1
                logger.error("access log batch of %d records failed: %s", len(live), result)
            failures: list[tuple[_Pending, Outcome]] = []
            for p in live:
                error = LogWriteFailed(f"access log write failed: `{type(result).__name__}`")
                error.__cause__ = result
                failures.append((p, error))
            return failures
        written, fresh, capped, limited = result
        self.stats.batches += 1
        self.stats.records += len(written)
        outcomes: list[tuple[_Pending, Outcome]] = []
        for p in live:
            if id(p) in capped:
                outcomes.append((p, ContactCapReached(
                    "contact cap reached: the record was not written", capped[id(p)])))
            elif id(p) in limited:
                outcomes.append((p, limited[id(p)]))
            elif p.token is not None and id(p) not in fresh:
                outcomes.append((p, TokenReplayed(
                    f"token `jti` was already used: replay refused for `{p.token.system}`")))
            else:
                outcomes.append((p, written.get(id(p))))
        return outcomes

    def write_batch(self, batch: list[_Pending]) -> BatchResult:
        """Write `batch` in one transaction of this process (the writer thread's, or the host
        writer's for the batches of several processes); raises on any failure, after which
        nothing of the batch is written."""
        try:
            try:
                return self._write_batch_once(batch)
            except _StaleConnection:
                # the kept connection was dead before anything was written (the server
                # restarted since the last batch): once more on a new one, as pre-ping would
                return self._write_batch_once(batch)
        except Exception as exc:
            self._usage.discard()
            self.stats.failed_batches += 1
            logger.error("access log batch of %d records failed: %s", len(batch),
                         type(exc).__name__)
            raise

    def _write_batch_once(self, batch: list[_Pending]) -> BatchResult:
        """Write the batch in one transaction; return the index of each written record, the
        pendings whose token id was new, those at a contact cap with the counts found, and
        those beyond a rate limit with their refusal (all keyed by `id()` of the pending).

        A record at a contact cap is not written and its token id is not claimed (its caller
        appends the withheld record with it). A record whose token id was used before is not
        written. A replayed record's contacts still count for the rest of its batch: an
        over-count within one batch only ever withholds (fail closed). The statements run on the
        transaction's driver cursor, compiled once (`store.compiled`): the writer repeats
        the same few statements for every batch.
        """
        with self._turn():
            kept = self._conn is not None and self._conn[0] == os.getpid()
            conn = self._connection()
            conn.begin()  # SQLAlchemy's transaction: its commit below commits the driver's
            driver = conn.connection.dbapi_connection
            cursor = driver.cursor()  # type: ignore[union-attr]
            try:
                try:
                    if self._dialect == "sqlite":  # the write lock, before anything is read
                        cursor.execute("BEGIN IMMEDIATE")
                    current = store.lock_head(conn, cursor)
                except conn.dialect.loaded_dbapi.Error as exc:
                    if kept and conn.dialect.is_disconnect(exc, driver, cursor):
                        raise _StaleConnection() from exc  # nothing written yet
                    raise
                # INVARIANT: contacts are counted under the append lock, in batch order, and
                # written in the same commit as the record that releases them
                capped = self._check_contacts(conn, cursor, batch)
                # INVARIANT: rate limits are counted under the append lock, in batch order, and
                # the counts written in the same commit as the records they count
                usage = self._check_usage(conn, cursor, current.size,
                                          [p for p in batch if id(p) not in capped])
                limited = usage[0] if usage is not None else {}
                fresh = self._claim_tokens(conn, cursor, [
                    p for p in batch if id(p) not in capped and id(p) not in limited])
                start = current.size
                keep = [p for p in batch
                        if p.record is not None and id(p) not in capped
                        and id(p) not in limited and (p.token is None or id(p) in fresh)]
                alerts: list[dict[str, Any]] = []
                if usage is not None and keep:
                    usage[1].write()
                    alerts = usage[1].alerts
                elif usage is not None:
                    # every record it counted was a replay: the counts stay as they were (and
                    # a batch that changes counts always grows the log: see `UsageCache`)
                    self._usage.discard()
                # INVARIANT: each record holds its own index, assigned under the append lock
                data = [p.record.with_index(start + n)  # type: ignore[union-attr]
                        for n, p in enumerate(keep)]
                data += [UnindexedRecord.of(a).with_index(start + len(data) + n)
                         for n, a in enumerate(alerts)]
                if data:
                    store.append_leaves(conn, current, data, cursor)
                events = [(start + n, c) for n, p in enumerate(keep) for c in p.contacts]
                if events:
                    contact_events.insert_events(conn, cursor, events)
                # INVARIANT: a record about a customer is in that customer's index from the
                # moment it is durable (the history reads the index, never the whole log)
                indexed = [(start + n, p.customer) for n, p in enumerate(keep)
                           if p.customer is not None]
                if indexed:
                    customer_index.insert_entries(conn, cursor, indexed)
                cursor.close()
                conn.commit()
            except conn.dialect.loaded_dbapi.Error as exc:  # named as SQLAlchemy names them
                self._drop_connection()  # rolls back; the next batch opens a fresh one
                raise DBAPIError.instance(None, None, exc,
                                          conn.dialect.loaded_dbapi.Error) from exc
            except BaseException:
                self._drop_connection()
                raise
        if usage is not None and keep:
            self._usage.commit(start + len(data))
        elif data:  # records of this batch counted nothing: the cache, if it held, still does
            self._usage.size = start + len(data) if self._usage.size == start else None
        return {id(p): start + n for n, p in enumerate(keep)}, fresh, capped, limited

    def _check_usage(self, conn: Connection, cursor: Any, size: int, batch: list[_Pending]
                     ) -> tuple[dict[int, RateLimited], UsageCounter] | None:
        """The pendings beyond a rate limit (their refusals), and the counter holding the
        others' usage (written by the caller once it knows a record is written; None: no
        usage in the batch). A replayed record's usage still counts when other records of the
        batch are written (an over-count inside one batch can only refuse: fail closed)."""
        usages = [(p, p.usage) for p in batch if p.usage is not None]
        if not usages:
            return None
        self._usage.begin(size)
        latest = max(u.at for _, u in usages)
        hour = rate_usage.bucket_of(rate_usage.CUSTOMERS_HOUR, latest)
        if hour != self._purged_hour:  # once an hour per process: forget old windows
            rate_usage.purge(conn, cursor, latest)
            self._usage.forget_before(latest)
            self._purged_hour = hour
        counter = UsageCounter(conn, cursor, self._usage, self._usage.alone)
        counter.prime([u for _, u in usages])
        limited: dict[int, RateLimited] = {}
        for p, usage in usages:
            refusal = counter.admit(usage)
            if refusal is not None:
                limited[id(p)] = refusal
        return limited, counter

    def _check_contacts(self, conn: Connection, cursor: Any, batch: list[_Pending]
                        ) -> dict[int, dict[tuple[str, str], int]]:
        """The pendings with a contact claim at its cap (their counts); the others' claims
        count for the pendings after them in the batch."""
        if not any(p.contacts for p in batch):
            return {}
        counter = contact_events.ContactCounter(conn, cursor)
        counter.prime([c for p in batch for c in p.contacts])
        capped: dict[int, dict[tuple[str, str], int]] = {}
        for p in batch:
            if p.contacts:
                over = counter.over_cap(p.contacts)
                if over:
                    capped[id(p)] = over
        return capped

    def _claim_tokens(self, conn: Connection, cursor: Any, batch: list[_Pending]) -> set[int]:
        """Insert the batch's token ids; the `id()`s of pendings whose id was new. A second
        use of one id in the same batch is a replay like any other."""
        first: dict[str, tuple[_Pending, TokenClaim]] = {}
        for p in batch:
            if p.token is not None and p.token.jti not in first:
                first[p.token.jti] = (p, p.token)
        if not first:
            return set()
        if self._dialect == "postgresql":  # one round trip for the whole batch
            cursor.execute(_CLAIM_MANY_POSTGRES, (
                [t.jti for _, t in first.values()], [t.system for _, t in first.values()],
                [t.expires_at for _, t in first.values()]))
            return {id(first[row[0]][0]) for row in cursor.fetchall()}
        statement = store.compiled(conn, _CLAIMS[self._dialect])
        fresh: set[int] = set()
        for p, token in first.values():  # in-process SQLite: a statement costs microseconds
            cursor.execute(statement.sql, statement.params(
                {"jti": token.jti, "system": token.system, "expires_at": token.expires_at}))
            if cursor.fetchone() is not None:  # RETURNING: drivers disagree on rowcount here
                fresh.add(id(p))
        return fresh

    def _fail_queued(self, q: queue.SimpleQueue[_Pending | None]) -> None:
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.take():
                _settle([(item, LogWriteFailed("access log writer stopped"))])

    # --- reading ----------------------------------------------------------------------------
    def size(self) -> int:
        with self._engine.connect() as conn:
            return store.read_head(conn).size

    def root(self, tree_size: int | None = None) -> bytes:
        """Root hash of the current tree, or of its first `tree_size` leaves."""
        with self._engine.connect() as conn:
            return store.root_at(conn, tree_size)

    def record(self, index: int) -> bytes:
        """The record at `index` exactly as hashed."""
        with self._engine.connect() as conn:
            size = store.read_head(conn).size
            if not 0 <= index < size:
                raise LogRangeError(f"leaf index {index} is outside the log of size {size}")
            data = store.read_record(conn, index)
        if data is None:
            raise LogCorrupted(f"access log leaf {index} is missing")
        return data

    def records(self, start: int, end: int) -> list[bytes]:
        return list(self.iter_records(start, end))

    def iter_records(self, start: int, end: int) -> Iterator[bytes]:
        """Records [start, end), fetched in chunks on short-lived connections."""
        size = self.size()
        if not 0 <= start <= end <= size:
            raise LogRangeError(f"range [{start}, {end}) is outside the log of size {size}")
        for chunk in range(start, end, store.READ_CHUNK):
            with self._engine.connect() as conn:
                rows = list(store.iter_records(conn, chunk, min(end, chunk + store.READ_CHUNK)))
            yield from rows

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """RFC 9162 §2.1.3 audit path of leaf `index` in the tree of `tree_size` leaves."""
        with self._engine.connect() as conn:
            return store.prove_inclusion(conn, index, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4 proof that the tree of size `first` is a prefix of size `second`."""
        with self._engine.connect() as conn:
            return store.prove_consistency(conn, first, second)

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, force: bool = False) -> str:
        """Sign and store the current head if it grew since the latest checkpoint.

        Returns the signed note. `force` re-signs the current head even when it has a
        checkpoint already (e.g. after rotating the key). Safe from several processes: the
        size is the primary key, so the loser of a race returns the winner's note.
        """
        with self._turn(), self._engine.connect() as conn:
            current = store.read_head(conn)
            latest = store.latest_checkpoint(conn)
            if latest is not None and latest[0] >= current.size and not force:
                return latest[1]
            body = format_checkpoint(self.origin, current.size, current.root)
            note = self._signer.sign_note(body)
            try:
                store.insert_checkpoint(conn, current, note)
                conn.commit()
                return note
            except IntegrityError:
                conn.rollback()
            if force:
                store.replace_checkpoint(conn, current, note)
                conn.commit()
                return note
            stored = store.checkpoint_at(conn, current.size)
            return stored if stored is not None else note

    def latest_checkpoint(self) -> str | None:
        with self._engine.connect() as conn:
            latest = store.latest_checkpoint(conn)
        return None if latest is None else latest[1]

    def checkpoint_at(self, size: int) -> str | None:
        """The stored checkpoint of exactly `size` leaves, if one was made."""
        with self._engine.connect() as conn:
            return store.checkpoint_at(conn, size)
