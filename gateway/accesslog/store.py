"""Database tables of the access log and the operations on them (SQLAlchemy 2.0 Core).

`log_leaves` holds each record exactly as hashed; `log_nodes` the hash of every complete,
aligned subtree of 2**level leaves (level ≥ 1), so roots and proofs need O(log n) hashes,
all fetched in one query (the nodes a proof needs follow from its index and sizes alone);
`log_head` is the single row appends lock and advance (it also caches the tree's right
frontier, ≤ 64 hashes, so an append reads one row); `log_checkpoints` the signed heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    bindparam,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import Insert

from gateway.accesslog import append_only
from gateway.accesslog.errors import LogCorrupted, LogRangeError
from gateway.accesslog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    nodes_of_ranges,
    range_hash,
    range_nodes,
)
from gateway.db.base import Base
from gateway.db.reader import Prepared

# INTEGER PRIMARY KEY is SQLite's rowid alias: smaller and faster than a separate BIGINT key
_Index = BigInteger().with_variant(Integer(), "sqlite")

READ_CHUNK = 1000  # rows per query when streaming records
# subtree keys per query of `perfect_hashes`: a proof or root needs about 2·log2(n) (< 80 for
# 2**40 leaves), and 400 keys keep the bound parameters below SQLite's historical limit of 999
MAX_KEYS_PER_QUERY = 400
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # positional, by DB-API style


class LogLeaf(Base):
    __tablename__ = "log_leaves"

    idx: Mapped[int] = mapped_column(_Index, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    record: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON, exactly as hashed
    # when the batch holding the record was committed; indexed so that a period export
    # starts near the period instead of at record 0 (`first_index_committed_since`)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LogNode(Base):
    __tablename__ = "log_nodes"
    __table_args__ = ({"sqlite_with_rowid": False},)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogHead(Base):
    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # the perfect subtrees covering [0, size), largest first, concatenated (32 bytes each);
    # a cache of stored nodes: appends resume from it without reading log_nodes
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LogCheckpoint(Base):
    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(_Index, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


HEAD_ID = 1
# Table objects (the ORM classes type `__table__` as a FromClause)
leaves, nodes, head, checkpoints = cast(
    "tuple[Table, Table, Table, Table]",
    (LogLeaf.__table__, LogNode.__table__, LogHead.__table__, LogCheckpoint.__table__))
TABLES = [leaves, nodes, head, checkpoints]
for _guarded in (leaves, nodes):
    append_only.guard_on_create(_guarded)


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    root: bytes
    frontier: bytes = b""


def now() -> datetime:
    return datetime.now(UTC)


def first_index_committed_since(conn: Connection, when: datetime) -> int | None:
    """Index of the earliest-committed record with `created_at` ≥ `when` (None: none yet).

    One index probe on `created_at`. Callers rely on a record's own `time` never being later
    than its `created_at` (both read from the appending process's clock, the commit after the
    request) and leave a margin for clock steps and for batches committed out of order.
    """
    row = conn.execute(
        select(leaves.c.idx).where(leaves.c.created_at >= when)
        .order_by(leaves.c.created_at).limit(1)
    ).first()
    return None if row is None else int(row[0])


# --- head ---------------------------------------------------------------------------------------
def insert_head_row(conn: Connection) -> None:
    """Create the head row of an empty log (callers handle the race of two creators)."""
    conn.execute(
        insert(head).values(
            id=HEAD_ID, size=0, root_hash=EMPTY_ROOT, frontier=b"", updated_at=now()
        )
    )


def read_head(conn: Connection, *, for_update: bool = False) -> Head:
    query = select(head.c.size, head.c.root_hash, head.c.frontier).where(head.c.id == HEAD_ID)
    if for_update:
        query = query.with_for_update()  # the append lock on PostgreSQL; a no-op on SQLite
    row = conn.execute(query).one_or_none()
    if row is None:
        raise LogCorrupted("access log head row `log_head` is missing")
    return Head(int(row.size), bytes(row.root_hash), bytes(row.frontier or b""))


_READ_HEAD = select(head.c.size, head.c.root_hash, head.c.frontier).where(head.c.id == HEAD_ID)
_LOCK_HEAD = _READ_HEAD.with_for_update()


def lock_head(conn: Connection, cursor: Any) -> Head:
    """The append lock, then the head, on the transaction's driver cursor (the writer's path):
    `SELECT … FOR UPDATE` on PostgreSQL; on SQLite the caller began with `BEGIN IMMEDIATE`."""
    statement = compiled(conn, _LOCK_HEAD)
    cursor.execute(statement.sql, statement.params({}))
    row = cursor.fetchone()
    if row is None:
        raise LogCorrupted("access log head row `log_head` is missing")
    size, root, frontier = row
    return Head(int(size), bytes(root), bytes(frontier or b""))


# --- hashes -------------------------------------------------------------------------------------
def perfect_hash(conn: Connection, level: int, index: int) -> bytes:
    """Hash of the perfect subtree (level, index); level 0 is a leaf hash."""
    return perfect_hashes(conn, [(level, index)])[level, index]


def perfect_hashes(
    conn: Connection, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Hashes of the perfect subtrees `wanted` (level 0: leaf hashes), keyed by (level, index).

    One query (per MAX_KEYS_PER_QUERY keys): a UNION ALL with one arm per level,
    `level = ? AND idx IN (…)` on `log_nodes` and `idx IN (…)` on `log_leaves`, so that every
    arm is a primary-key search on SQLite and PostgreSQL alike. (A row-value
    `(level, idx) IN (VALUES …)` would make SQLite scan the whole table.) The statement is
    built as driver-level SQL: its shape changes with every proof, and building and
    compiling it as Core expressions cost several times the query itself.
    Fails closed: a missing or malformed stored hash raises `LogCorrupted`.
    """
    keys = sorted(set(wanted))
    found: dict[tuple[int, int], bytes] = {}
    for at in range(0, len(keys), MAX_KEYS_PER_QUERY):
        found.update(_fetch_hashes(conn, keys[at : at + MAX_KEYS_PER_QUERY]))
    for level, index in keys:
        value = found.get((level, index))
        if value is None:
            raise LogCorrupted(f"access log node ({level}, {index}) is missing")
        if len(value) != HASH_SIZE:
            raise LogCorrupted(f"access log node ({level}, {index}) is not a sha-256 hash")
    return found


def _fetch_hashes(
    conn: Connection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    by_level: dict[int, list[int]] = {}
    for level, index in keys:
        by_level.setdefault(level, []).append(index)
    q = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if q is None:  # an unusual driver: the same query through SQLAlchemy Core
        return _fetch_hashes_core(conn, by_level)
    sql: list[str] = []
    params: list[int] = []
    for level, indexes in by_level.items():
        marks = ", ".join([q] * len(indexes))
        if level == 0:
            sql.append(f"SELECT 0, idx, leaf_hash FROM {LogLeaf.__tablename__} "
                       f"WHERE idx IN ({marks})")
        else:
            sql.append(f"SELECT level, idx, hash FROM {LogNode.__tablename__} "
                       f"WHERE level = {q} AND idx IN ({marks})")
            params.append(level)
        params.extend(indexes)
    if not sql:
        return {}
    # fetchall: one driver call for the rows (iterating the result fetches them one by one)
    rows = conn.exec_driver_sql(" UNION ALL ".join(sql), tuple(params)).fetchall()
    return {(int(level), int(index)): bytes(h) for level, index, h in rows}


def _fetch_hashes_core(
    conn: Connection, by_level: dict[int, list[int]]
) -> dict[tuple[int, int], bytes]:
    arms = []
    for level, indexes in by_level.items():
        if level == 0:
            arms.append(
                select(literal_column("0").label("level"), leaves.c.idx,
                       leaves.c.leaf_hash.label("hash"))
                .where(leaves.c.idx.in_(indexes))
            )
        else:
            arms.append(
                select(nodes.c.level, nodes.c.idx, nodes.c.hash)
                .where(nodes.c.level == level, nodes.c.idx.in_(indexes))
            )
    if not arms:
        return {}
    query = arms[0] if len(arms) == 1 else union_all(*arms)
    return {(int(level), int(index)): bytes(h) for level, index, h in conn.execute(query)}


def read_frontier(conn: Connection, current: Head) -> CompactRange:
    """The compact range of the head: from its cached frontier, else from the stored nodes."""
    cached = current.frontier
    if len(cached) == HASH_SIZE * current.size.bit_count():
        hashes = [cached[i : i + HASH_SIZE] for i in range(0, len(cached), HASH_SIZE)]
    else:  # e.g. a head written before the cache existed: one query of O(log n) keys
        wanted = CompactRange.perfect_subtrees(current.size)
        stored = perfect_hashes(conn, wanted)
        hashes = [stored[key] for key in wanted]
    return CompactRange(current.size, hashes)


def root_at(conn: Connection, tree_size: int | None) -> bytes:
    current = read_head(conn)
    if tree_size is None or tree_size == current.size:
        return current.root
    if not 0 <= tree_size <= current.size:
        raise LogRangeError(f"tree size {tree_size} is outside the log of size {current.size}")
    if tree_size == 0:
        return EMPTY_ROOT
    stored = perfect_hashes(conn, range_nodes(0, tree_size))
    return range_hash(0, tree_size, lambda level, index: stored[level, index])


def prove_inclusion(conn: Connection, index: int, tree_size: int) -> list[bytes]:
    _check_size(conn, tree_size)
    return _assemble(conn, inclusion_ranges(index, tree_size))


def prove_inclusions(conn: Connection, indexes: Sequence[int], tree_size: int
                     ) -> dict[int, list[bytes]]:
    """`prove_inclusion` of several leaves in one tree: each distinct subtree is hashed once
    and every stored node they need is fetched together (a customer's history proves up to
    hundreds of scattered leaves at once, sharing the upper levels of their paths)."""
    _check_size(conn, tree_size)
    wanted = {i: inclusion_ranges(i, tree_size) for i in indexes}
    # most siblings are perfect subtrees (one stored node each); only those on the tree's
    # right edge are hashed from several
    perfect: dict[tuple[int, int], tuple[int, int]] = {}
    edge: list[tuple[int, int]] = []
    for start, end in dict.fromkeys(r for ranges in wanted.values() for r in ranges):
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            perfect[start, end] = (n.bit_length() - 1, start // n)
        else:
            edge.append((start, end))
    stored = perfect_hashes(conn, [*perfect.values(), *nodes_of_ranges(edge)])
    hashes = {r: stored[key] for r, key in perfect.items()}
    for start, end in edge:
        hashes[start, end] = range_hash(start, end, lambda level, index: stored[level, index])
    return {i: [hashes[r] for r in ranges] for i, ranges in wanted.items()}


def read_records(conn: Connection, indexes: Sequence[int]) -> dict[int, bytes]:
    """The records at `indexes` exactly as hashed (one query per MAX_KEYS_PER_QUERY)."""
    found: dict[int, bytes] = {}
    keys = sorted(set(indexes))
    for at in range(0, len(keys), MAX_KEYS_PER_QUERY):
        rows = conn.execute(select(leaves.c.idx, leaves.c.record)
                            .where(leaves.c.idx.in_(keys[at : at + MAX_KEYS_PER_QUERY])))
        found.update((int(i), bytes(r)) for i, r in rows)
    return found


def prove_consistency(conn: Connection, first: int, second: int) -> list[bytes]:
    _check_size(conn, second)
    return _assemble(conn, consistency_ranges(first, second))


def _assemble(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The hashes of `ranges` from one fetch of every stored node they need, in memory."""
    stored = perfect_hashes(conn, nodes_of_ranges(ranges))
    return [range_hash(start, end, lambda level, index: stored[level, index])
            for start, end in ranges]


def _check_size(conn: Connection, tree_size: int) -> None:
    size = read_head(conn).size
    if not 0 <= tree_size <= size:
        raise LogRangeError(f"tree size {tree_size} is outside the log of size {size}")


# --- append -------------------------------------------------------------------------------------
_INSERT_LEAF = insert(leaves).values(idx=bindparam("idx"), leaf_hash=bindparam("leaf_hash"),
                                     record=bindparam("record"), created_at=bindparam("stamp"))
_INSERT_NODE = insert(nodes).values(level=bindparam("level"), idx=bindparam("idx"),
                                    hash=bindparam("hash"))
_MOVE_HEAD = (update(head)
              .where(head.c.id == HEAD_ID, head.c.size == bindparam("start"))
              .values(size=bindparam("size"), root_hash=bindparam("root"),
                      frontier=bindparam("frontier"), updated_at=bindparam("stamp")))


_COMPILED: dict[tuple[str, int], Prepared] = {}


COPY_MIN_ROWS = 64  # from this many rows on, PostgreSQL's COPY beats a pipelined executemany


def insert_rows(conn: Connection, cursor: Any, statement: Insert,
                rows: Sequence[Mapping[str, Any]]) -> None:
    """Many rows of one `INSERT … VALUES` whose bound parameters are named after its columns,
    on `cursor` (in its transaction). On PostgreSQL a large batch goes through COPY: psycopg
    formats the rows in C and the server takes them as one stream, where `executemany` sends
    each row as a statement of its own (a campaign batch's contact events and leaves were a
    fifth of a 1M campaign's time). The columns' bind processing applies either way."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        prepared = compiled(conn, statement)
        cursor.executemany(prepared.sql, [prepared.params(r) for r in rows])
        return
    table = statement.table
    assert isinstance(table, Table)
    names = list(rows[0])
    processors = [(name, table.c[name].type._cached_bind_processor(conn.dialect))
                  for name in names]
    quote = conn.dialect.identifier_preparer
    sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) "
           "FROM STDIN")
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row[n] if process is None else process(row[n])
                            for n, process in processors])


def compiled(conn: Connection, statement: ClauseElement) -> Prepared:
    """`statement` compiled for `conn`'s dialect, once, to run on the transaction's driver
    cursor (keep `statement` alive: module level). The writer repeats the same few statements
    for every batch, so SQLAlchemy's per-execution work is done once here instead."""
    key = (conn.dialect.name, id(statement))  # the module-level statements live forever
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = Prepared.of(statement, conn.dialect)
    return found


def append_leaves(conn: Connection, current: Head, records: Sequence[bytes],
                  cursor: Any | None = None) -> Head:
    """Insert `records` as leaves current.size.. with their new nodes; advance the head.

    The caller holds the append lock and has read `current` in this transaction. The rows go
    through the transaction's own DB-API connection (or `cursor` on it) with statements
    compiled once.
    """
    start = current.size
    frontier = read_frontier(conn, current)
    stamp = now()
    leaf, node, move = (compiled(conn, s) for s in (_INSERT_LEAF, _INSERT_NODE, _MOVE_HEAD))
    leaf_rows: list[Any] = []
    node_rows: list[Any] = []
    for offset, data in enumerate(records):
        h = leaf_hash(data)
        leaf_rows.append(leaf.params({"idx": start + offset, "leaf_hash": h, "record": data,
                                      "stamp": stamp}))
        node_rows.extend(node.params({"level": lvl, "idx": i, "hash": nh})
                         for lvl, i, nh in frontier.append(h))
    new = Head(frontier.size, frontier.root(), b"".join(frontier.hashes()))
    own = cursor is None
    if cursor is None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if leaf_rows:
            cursor.executemany(leaf.sql, leaf_rows)
        if node_rows:
            cursor.executemany(node.sql, node_rows)
        cursor.execute(move.sql, move.params({"start": start, "size": new.size, "root": new.root,
                                              "frontier": new.frontier, "stamp": stamp}))
        moved = cursor.rowcount
    except conn.dialect.loaded_dbapi.Error as exc:  # named as SQLAlchemy names driver errors
        raise DBAPIError.instance(None, None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        if own:
            cursor.close()
    if moved != 1:  # another writer advanced the head: the lock did not hold
        raise LogCorrupted(f"access log head moved from size {start} during an append")
    return new


# --- records ------------------------------------------------------------------------------------
def read_record(conn: Connection, index: int) -> bytes | None:
    value = conn.execute(select(leaves.c.record).where(leaves.c.idx == index)).scalar()
    return None if value is None else bytes(value)


def iter_records(conn: Connection, start: int, end: int) -> Iterator[bytes]:
    """Records [start, end) in index order, READ_CHUNK rows per query (keyset pagination)."""
    at = start
    while at < end:
        stop = min(end, at + READ_CHUNK)
        rows = conn.execute(
            select(leaves.c.idx, leaves.c.record)
            .where(leaves.c.idx >= at, leaves.c.idx < stop)
            .order_by(leaves.c.idx)
        ).all()
        for expected, row in enumerate(rows, start=at):
            if row.idx != expected:
                raise LogCorrupted(f"access log leaf {expected} is missing")
            yield bytes(row.record)
        if len(rows) != stop - at:
            raise LogCorrupted(f"access log leaf {at + len(rows)} is missing")
        at = stop


# --- checkpoints --------------------------------------------------------------------------------
def latest_checkpoint(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(
        select(checkpoints.c.size, checkpoints.c.note).order_by(checkpoints.c.size.desc()).limit(1)
    ).first()
    return None if row is None else (int(row.size), str(row.note))


def checkpoint_at(conn: Connection, size: int) -> str | None:
    value = conn.execute(select(checkpoints.c.note).where(checkpoints.c.size == size)).scalar()
    return None if value is None else str(value)


def insert_checkpoint(conn: Connection, current: Head, note: str) -> None:
    conn.execute(
        insert(checkpoints).values(
            size=current.size, root_hash=current.root, note=note, created_at=now()
        )
    )


def replace_checkpoint(conn: Connection, current: Head, note: str) -> None:
    conn.execute(
        update(checkpoints)
        .where(checkpoints.c.size == current.size)
        .values(root_hash=current.root, note=note, created_at=now())
    )
