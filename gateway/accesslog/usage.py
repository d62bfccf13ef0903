"""Rate limits, the writer's part: count requests and distinct customers per subject, exactly.

A query's record may carry a `Usage`: its subjects (the system as a whole, and the employee of
that system), each with the measures the policy limits (requests per minute, distinct customers
per hour and per day) and the window each falls in. The log writer handles it under the append
lock every writer holds (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on `log_head` on
PostgreSQL), as it does contact caps (`contacts.py`): it reads the subjects' counts of those
windows (`rate_counts`) and which of the batch's customers each subject already has in them
(`rate_customers`), then goes through the batch in order. A record that would take a measure
beyond its limit is not written and its caller gets `RateLimited` (429, `Retry-After`: the end
of the window); the others are counted, and the counts and new customers are written in the
same transaction as the records. Check and increment are one step, so the limits hold whatever
the number of processes (docs/RATE-LIMITS.md).

A count reaching a measure's alert threshold adds one `alert` record to the batch, once per
subject, measure and window (`rate_counts.alerted`, in the same commit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.accesslog import store
from gateway.db.models import RateCount, RateCustomer
from gateway.db.reader import KeyList
from gateway.errors import GatewayError

COUNTS: Table = RateCount.__table__  # type: ignore[assignment]
CUSTOMERS: Table = RateCustomer.__table__  # type: ignore[assignment]
TABLES = (COUNTS, CUSTOMERS)

REQUESTS = "requests_per_minute"
CUSTOMERS_HOUR = "customers_per_hour"
CUSTOMERS_DAY = "customers_per_day"
KST_OFFSET_S = 9 * 3600  # a day is a KST calendar day (Korea has no daylight saving time)
# measure → (window length in seconds, offset of the window's start from a UTC boundary)
WINDOWS: dict[str, tuple[int, int]] = {REQUESTS: (60, 0), CUSTOMERS_HOUR: (3600, 0),
                                       CUSTOMERS_DAY: (86400, -KST_OFFSET_S)}
# distinct-customer measure → the name of its window in `rate_customers`
DISTINCT = {CUSTOMERS_HOUR: "hour", CUSTOMERS_DAY: "day"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def bucket_of(measure: str, epoch_s: float) -> int:
    """The number of the `measure`'s window holding the instant `epoch_s` (UNIX seconds)."""
    length, offset = WINDOWS[measure]
    return int((epoch_s - offset) // length)


def window_of(measure: str, bucket: int) -> tuple[datetime, datetime]:
    """Start and end of a window, as aware UTC datetimes."""
    length, offset = WINDOWS[measure]
    start = _EPOCH + timedelta(seconds=bucket * length + offset)
    return start, start + timedelta(seconds=length)


@dataclass(frozen=True, slots=True)
class Measure:
    """One limited measure of a subject, in the window the request falls in."""

    name: str  # REQUESTS, CUSTOMERS_HOUR or CUSTOMERS_DAY
    bucket: int
    limit: int
    alert: int | None


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose use is counted: a system as a whole (`employee` None) or one employee of it."""

    key: str  # `system:<id>` or `employee:<system>/<sub>`: the counts' row key
    affiliate: str
    system: str
    employee: str | None
    measures: tuple[Measure, ...]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one request counts: one request, and its customer (if known) as a distinct one."""

    subjects: tuple[Subject, ...]
    customer: str | None  # the customer key; None: no customer to count (unknown RRN)
    at: float  # UNIX seconds of the request's clock (the writer reads no clock)
    request_id: str
    employee: str  # who made the request (named by a system subject's alert)
    policy_version: str


class RateLimited(GatewayError):
    """A request would take a rate-limit measure beyond its limit: nothing was released."""

    status = 429
    type_slug = "rate-limited"
    title = "rate limit reached"

    def __init__(self, detail: str, *, measure: str, scope: str, retry_after: int,
                 subject: str = "", window: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(detail)
        self.measure = measure
        self.scope = scope  # `system` or `employee`
        self.retry_after = retry_after  # whole seconds until the window ends (≥ 1)
        self.subject = subject  # the counts' row key of whose limit it is
        self.window = window  # UNIX seconds: start and end of the full window


def _counts_read() -> Any:
    return select(COUNTS.c.count, COUNTS.c.alerted).where(
        COUNTS.c.subject == bindparam("subject"), COUNTS.c.measure == bindparam("measure"),
        COUNTS.c.bucket == bindparam("bucket"))


_READ_COUNT = _counts_read()
_UPSERTS = {
    name: (lambda stmt: stmt.on_conflict_do_update(
        index_elements=["subject", "measure", "bucket"],
        set_={"count": stmt.excluded.count, "alerted": stmt.excluded.alerted}))(
        insert(COUNTS).values(subject=bindparam("subject"), measure=bindparam("measure"),
                              bucket=bindparam("bucket"), count=bindparam("count"),
                              alerted=bindparam("alerted")))
    for name, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_INSERT_CUSTOMER = CUSTOMERS.insert().values(
    subject=bindparam("subject"), window=bindparam("window"), bucket=bindparam("bucket"),
    customer_key=bindparam("customer_key"))
_PURGE_CUSTOMERS = delete(CUSTOMERS).where(CUSTOMERS.c.window == bindparam("window"),
                                           CUSTOMERS.c.bucket < bindparam("before"))
_PURGE_COUNTS = delete(COUNTS).where(COUNTS.c.measure == bindparam("measure"),
                                     COUNTS.c.bucket < bindparam("before"))
# PostgreSQL: a batch's rows in one statement each, packed into one text parameter (fields
# split by U+001F, rows by U+001E: no identifier, key or number holds either). A round trip per
# row would cost the writer more than the rest of the batch, and array parameters cost the
# driver ~70 µs of CPU a statement, a text one ~12 µs. The names are this module's own.
_UNIT, _RECORD = "\x1f", "\x1e"


def _fields(n: int, casts: Sequence[str]) -> str:
    return ", ".join(f"split_part(x, chr(31), {i + 1}){casts[i]}" for i in range(n))


_ROWS = "FROM unnest(string_to_array(%s, chr(30))) AS x"
_COUNTS_MANY_POSTGRES = (
    "SELECT subject, measure, bucket, count, alerted FROM rate_counts "
    f"WHERE (subject, measure, bucket) IN (SELECT {_fields(3, ('', '', '::bigint'))} {_ROWS})")
_KNOWN_MANY_POSTGRES = (
    'SELECT subject, "window", bucket, customer_key FROM rate_customers '
    'WHERE (subject, "window", bucket, customer_key) IN '
    f"(SELECT {_fields(4, ('', '', '::bigint', '::char(32)'))} {_ROWS})")
_UPSERT_MANY_POSTGRES = (
    "INSERT INTO rate_counts (subject, measure, bucket, count, alerted) "
    f"SELECT {_fields(5, ('', '', '::bigint', '::bigint', '::boolean'))} {_ROWS} "
    "ON CONFLICT (subject, measure, bucket) DO UPDATE "
    "SET count = excluded.count, alerted = excluded.alerted")
_INSERT_MANY_POSTGRES = (
    'INSERT INTO rate_customers (subject, "window", bucket, customer_key) '
    f"SELECT {_fields(4, ('', '', '::bigint', ''))} {_ROWS}")


def _packed(rows: Sequence[Sequence[object]]) -> str:
    """Rows as one text value for the statements above."""
    text = _RECORD.join(_UNIT.join(str(v) for v in row) for row in rows)
    if text.count(_UNIT) != sum(len(row) - 1 for row in rows) or text.count(_RECORD) != len(
            rows) - 1:
        raise ValueError("a rate-limit key holds a separator")  # fails the batch: fail closed
    return text


_ALL_CUSTOMERS = select(CUSTOMERS.c.customer_key).where(
    CUSTOMERS.c.subject == bindparam("subject"), CUSTOMERS.c.window == bindparam("window"),
    CUSTOMERS.c.bucket == bindparam("bucket"))
_KNOWN: dict[tuple[str, int], Any] = {}  # `known customers` read per dialect and key-list size


def _known_statement(keys: KeyList) -> Any:
    statement = _KNOWN.get((keys.dialect, keys.size))
    if statement is None:
        statement = _KNOWN[(keys.dialect, keys.size)] = select(CUSTOMERS.c.customer_key).where(
            CUSTOMERS.c.subject == bindparam("subject"), CUSTOMERS.c.window == bindparam("window"),
            CUSTOMERS.c.bucket == bindparam("bucket"), keys.where(CUSTOMERS.c.customer_key))
    return statement


CountKey = tuple[str, str, int]  # subject key, measure, bucket
FULL_LOAD_MAX = 20_000  # customers of one window read whole into the cache, at most
# batches in a row the cache must have held before a window's customers are read whole: with
# other processes appending in between, a whole read would be thrown away at once
ALONE_AFTER = 8


@dataclass(slots=True)
class _Entry:
    count: int
    alerted: bool
    # distinct measures: the customers counted, all of them (`complete`) or at least those of
    # the current batch; None for requests per minute
    customers: set[str] | None = None
    complete: bool = False
    changed: bool = False


class UsageCache:
    """A writer's counts, kept between its batches while no other process writes.

    Under the append lock the writer compares the log's size with the size after its own last
    commit: equal, nobody else appended since, and the counts it holds are the table's (every
    batch that changes counts also appends a record: see `AccessLog._check_usage`). Then a
    batch of known subjects reads nothing. Otherwise the batch reads what it needs, as a cold
    cache does."""

    def __init__(self) -> None:
        self.entries: dict[CountKey, _Entry] = {}
        self.size: int | None = None  # the log's size after this writer's last commit
        self.held = 0  # batches in a row it held at their start

    @property
    def alone(self) -> bool:
        """Whether this writer has been the only one appending for a while."""
        return self.held >= ALONE_AFTER

    def begin(self, size: int) -> bool:
        """At the start of a batch: whether the cache still holds; cleared when not."""
        if self.size != size:
            self.entries.clear()
            self.size = None
            self.held = 0
            return False
        self.held += 1
        return True

    def commit(self, size: int) -> None:
        """After the batch's commit: keep what is complete, and remember the log's size."""
        self.entries = {k: e for k, e in self.entries.items()
                        if e.customers is None or e.complete}
        for entry in self.entries.values():
            entry.changed = False
        self.size = size

    def discard(self) -> None:
        """The batch failed, or wrote no record: nothing it counted holds."""
        self.entries.clear()
        self.size = None
        self.held = 0

    def forget_before(self, epoch_s: float) -> None:
        """Drop windows older than the current one of each measure."""
        self.entries = {k: e for k, e in self.entries.items()
                        if k[2] >= bucket_of(k[1], epoch_s)}


class UsageCounter:
    """The counts of one batch transaction: what the tables (or the cache) hold plus what the
    batch adds."""

    def __init__(self, conn: Connection, cursor: Any, cache: UsageCache, alone: bool) -> None:
        self._conn = conn
        self._cursor = cursor
        self._entries = cache.entries
        self._alone = alone  # the only writer for a while: a window read whole stays useful
        self._new_customers: list[tuple[str, str, int, str]] = []
        self.alerts: list[dict[str, Any]] = []

    def prime(self, usages: Sequence[Usage]) -> None:
        """Read every count and known customer the batch's usages touch that the cache does
        not hold: one read per subject, measure and window at most."""
        wanted: dict[CountKey, set[str]] = {}
        for usage in usages:
            for subject in usage.subjects:
                for m in subject.measures:
                    key = (subject.key, m.name, m.bucket)
                    if key in self._entries and (m.name not in DISTINCT
                                                 or self._entries[key].complete):
                        continue
                    keys = wanted.setdefault(key, set())
                    if m.name in DISTINCT and usage.customer is not None:
                        keys.add(usage.customer)
        if not wanted:
            return
        found = self._counts(list(wanted))
        partial: list[tuple[CountKey, set[str]]] = []
        for key, customers in wanted.items():
            name, measure, bucket = key
            count, alerted = found.get(key, (0, False))
            entry = self._entries[key] = _Entry(count, alerted)
            if measure in DISTINCT:
                if entry.count == 0:
                    entry.customers, entry.complete = set(), True
                elif self._alone and entry.count <= FULL_LOAD_MAX:
                    entry.customers = self._all(name, DISTINCT[measure], bucket)
                    entry.complete = True
                else:  # only the batch's own customers: enough for this batch
                    entry.customers = set()
                    partial.append((key, customers))
        for key, known in self._known_of(partial).items():
            customers_of = self._entries[key].customers
            assert customers_of is not None
            customers_of.update(known)

    def _counts(self, keys: list[CountKey]) -> dict[CountKey, tuple[int, bool]]:
        """The stored count and alert flag of each key that has a row."""
        cursor = self._cursor
        if self._conn.dialect.name == "postgresql":  # one round trip for the batch
            cursor.execute(_COUNTS_MANY_POSTGRES, (_packed(keys),))
            return {(str(s), str(m), int(b)): (int(c), bool(a))
                    for s, m, b, c, a in cursor.fetchall()}
        read = store.compiled(self._conn, _READ_COUNT)
        found = {}
        for key in keys:  # in-process SQLite: a statement costs microseconds
            cursor.execute(read.sql, read.params(
                {"subject": key[0], "measure": key[1], "bucket": key[2]}))
            row = cursor.fetchone()
            if row is not None:
                found[key] = (int(row[0]), bool(row[1]))
        return found

    def _known_of(self, partial: list[tuple[CountKey, set[str]]]) -> dict[CountKey, set[str]]:
        """Which of the batch's customers each key has counted already."""
        wanted = [(key, c) for key, customers in partial for c in sorted(customers)]
        if not wanted:
            return {}
        if self._conn.dialect.name == "postgresql":  # one round trip for the batch
            self._cursor.execute(_KNOWN_MANY_POSTGRES, (_packed(
                [(k[0], DISTINCT[k[1]], k[2], c) for k, c in wanted]),))
            window_of_measure = {w: m for m, w in DISTINCT.items()}
            known: dict[CountKey, set[str]] = {}
            for s, w, b, c in self._cursor.fetchall():
                known.setdefault((str(s), window_of_measure[str(w).strip()], int(b)),
                                 set()).add(str(c))
            return known
        return {key: self._known(key[0], DISTINCT[key[1]], key[2], customers)
                for key, customers in partial}

    def _all(self, subject: str, window: str, bucket: int) -> set[str]:
        statement = store.compiled(self._conn, _ALL_CUSTOMERS)
        self._cursor.execute(statement.sql, statement.params(
            {"subject": subject, "window": window, "bucket": bucket}))
        return {str(row[0]) for row in self._cursor.fetchall()}

    def _known(self, subject: str, window: str, bucket: int, customers: set[str]) -> set[str]:
        if not customers:
            return set()
        keys = KeyList.of(sorted(customers), self._conn.dialect.name)
        statement = store.compiled(self._conn, _known_statement(keys))
        values: dict[str, object] = dict(keys.values)
        values.update(subject=subject, window=window, bucket=bucket)
        self._cursor.execute(statement.sql, statement.params(values))
        return {str(row[0]) for row in self._cursor.fetchall()}

    def admit(self, usage: Usage) -> RateLimited | None:
        """Count the request, or — when a measure would pass its limit — the refusal, counting
        nothing. Reaching an alert threshold queues that window's one alert record."""
        steps: list[tuple[Subject, Measure, _Entry, int]] = []
        refusal: RateLimited | None = None
        entries = self._entries
        customer = usage.customer
        for subject in usage.subjects:
            for m in subject.measures:
                entry = entries[(subject.key, m.name, m.bucket)]
                if entry.customers is not None and (customer is None
                                                    or customer in entry.customers):
                    continue  # no customer, or one already counted in this window
                after = entry.count + 1
                if after > m.limit:
                    candidate = _refusal(subject, m, usage.at)
                    if refusal is None or candidate.retry_after > refusal.retry_after:
                        refusal = candidate
                steps.append((subject, m, entry, after))
        if refusal is not None:
            return refusal
        for subject, m, entry, after in steps:
            entry.count = after
            entry.changed = True
            if entry.customers is not None:
                assert customer is not None
                entry.customers.add(customer)
                self._new_customers.append((subject.key, DISTINCT[m.name], m.bucket, customer))
            if m.alert is not None and after >= m.alert and not entry.alerted:
                entry.alerted = True
                self.alerts.append(alert_record(subject, m, after, usage))
        return None

    def write(self) -> None:
        """The changed counts and the newly counted customers, in the batch's transaction."""
        changed = [(key, entry) for key, entry in self._entries.items() if entry.changed]
        if self._conn.dialect.name == "postgresql":  # one round trip each, not one per row
            if changed:
                self._cursor.execute(_UPSERT_MANY_POSTGRES, (_packed(
                    [(k[0], k[1], k[2], e.count, "t" if e.alerted else "f")
                     for k, e in changed]),))
            if self._new_customers:
                self._cursor.execute(_INSERT_MANY_POSTGRES, (_packed(self._new_customers),))
            return
        if changed:
            upsert = store.compiled(self._conn, _UPSERTS[self._conn.dialect.name])
            self._cursor.executemany(upsert.sql, [upsert.params({
                "subject": key[0], "measure": key[1], "bucket": key[2], "count": entry.count,
                "alerted": entry.alerted}) for key, entry in changed])
        if self._new_customers:
            insert = store.compiled(self._conn, _INSERT_CUSTOMER)
            self._cursor.executemany(insert.sql, [insert.params({
                "subject": s, "window": w, "bucket": b, "customer_key": c})
                for s, w, b, c in self._new_customers])


def purge(conn: Connection, cursor: Any, epoch_s: float) -> None:
    """Forget windows that ended before the previous one of each measure (kept: the current
    and the previous window, for a reader looking at the turn of the hour or day)."""
    customers = store.compiled(conn, _PURGE_CUSTOMERS)
    counts = store.compiled(conn, _PURGE_COUNTS)
    for measure, window in DISTINCT.items():
        before = bucket_of(measure, epoch_s) - 1
        cursor.execute(customers.sql, customers.params({"window": window, "before": before}))
    for measure in WINDOWS:
        before = bucket_of(measure, epoch_s) - 1
        cursor.execute(counts.sql, counts.params({"measure": measure, "before": before}))


def _refusal(subject: Subject, m: Measure, at: float) -> RateLimited:
    start, end = window_of(m.name, m.bucket)
    retry = max(1, math.ceil(end.timestamp() - at))
    scope = "system" if subject.employee is None else "employee"
    return RateLimited(f"rate limit reached: `{m.name}` of the {scope} (limit {m.limit})",
                       measure=m.name, scope=scope, retry_after=retry, subject=subject.key,
                       window=(start.timestamp(), end.timestamp()))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
        timespec="microseconds") + "Z"


def alert_record(subject: Subject, m: Measure, count: int, usage: Usage) -> dict[str, Any]:
    """The `alert` access record: who (the system, or the employee of a system), which measure,
    which window, the count reached and the threshold; no customer."""
    start, end = window_of(m.name, m.bucket)
    return {
        "v": 1,
        "kind": "alert",
        "time": _timestamp(datetime.fromtimestamp(usage.at, timezone.utc)),
        # an event of the gateway's own, not a request's: the request that reached the threshold
        # is named inside `alert` (a reader counting records per request id counts it once)
        "request_id": None,
        "actor": {"affiliate": subject.affiliate, "system": subject.system,
                  "employee": usage.employee},
        "source": None,
        "customer": None,
        "policy_version": usage.policy_version,
        "status": None,
        "alert": {
            "scope": "system" if subject.employee is None else "employee",
            "affiliate": subject.affiliate,
            "system": subject.system,
            "employee": subject.employee,
            "measure": m.name,
            "window_start": _timestamp(start),
            "window_end": _timestamp(end),
            "count": count,
            "threshold": m.alert,
            "limit": m.limit,
            "request_id": usage.request_id,
        },
    }
