"""The request path's reader: compiled statements, fresh data on every read, fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import (CHAR, Column, Integer, MetaData, String, Table, bindparam, insert, select,
                        update)

from gateway.db.engine import make_engine
from gateway.db.reader import KeyList, Reader, padded, utc_datetime
from gateway.errors import StoreUnavailable

META = MetaData()
ITEMS = Table("items", META, Column("id", Integer, primary_key=True), Column("name", String))
BY_ID = select(ITEMS.c.name).where(ITEMS.c.id == bindparam("id"))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'items.db'}"


def test_a_statement_is_compiled_once_with_its_values_bound(db: str) -> None:
    reader = Reader(make_engine(db), name="items")
    prepared = reader.prepare("by_id", BY_ID)
    assert reader.prepare("by_id", select(ITEMS.c.id)) is prepared  # the key decides
    assert prepared.sql.endswith("WHERE items.id = ?") and prepared.positional == ("id",)


def test_every_read_sees_what_another_process_committed(db: str) -> None:
    writer, other = make_engine(db), make_engine(db)  # two engines: two processes' worth
    META.create_all(writer)
    with writer.begin() as conn:
        conn.execute(insert(ITEMS), {"id": 1, "name": "before"})
    reader = Reader(other, name="items")
    prepared = reader.prepare("by_id", BY_ID)
    assert reader.one(prepared, {"id": 1}) == ("before",)
    with writer.begin() as conn:  # e.g. a consent withdrawn by another gateway process
        conn.execute(update(ITEMS).where(ITEMS.c.id == 1).values(name="after"))
    assert reader.one(prepared, {"id": 1}) == ("after",)  # no snapshot held, nothing cached
    assert reader.one(prepared, {"id": 2}) is None


def test_a_failing_read_fails_closed_and_names_no_url(db: str) -> None:
    reader = Reader(make_engine(db), name="consent store")
    prepared = reader.prepare("by_id", BY_ID)  # the table does not exist
    with pytest.raises(StoreUnavailable, match=r"^consent store unavailable: `OperationalError`$"):
        reader.one(prepared, {"id": 1})
    META.create_all(make_engine(db))  # the store is back: the next read opens a new connection
    assert reader.one(prepared, {"id": 1}) is None


def test_kept_connections_close_with_the_engine(db: str) -> None:
    engine = make_engine(db)
    META.create_all(engine)
    reader = Reader(engine, name="items")
    reader.one(reader.prepare("by_id", BY_ID), {"id": 1})
    assert len(reader._idle) == 1
    engine.dispose()
    assert len(reader._idle) == 0


@pytest.mark.parametrize(("stored", "expected"), [
    ("2026-12-05 03:00:00.000001", "2026-12-05T03:00:00.000001+00:00"),  # SQLite: naive UTC text
    ("2026-12-05T12:00:00+09:00", "2026-12-05T03:00:00+00:00"),  # aware: converted to UTC
])
def test_timestamps_come_back_aware_utc(stored: str, expected: str) -> None:
    assert utc_datetime(stored).isoformat() == expected


@pytest.mark.parametrize(("n", "size"), [(1, 1), (2, 2), (3, 4), (550, 1024), (1000, 1024)])
def test_in_lists_are_padded_to_a_few_sizes_with_the_same_rows(n: int, size: int) -> None:
    keys = [f"k{i}" for i in range(n)]
    grown = padded(keys)
    assert len(grown) == size and set(grown) == set(keys) and grown[:n] == keys
    assert padded([]) == []


def test_a_kept_connection_that_died_costs_no_read(db: str) -> None:
    """A connection kept between reads that the server dropped (a restart): the read runs once
    more on a new connection instead of failing its request; those kept with it go too."""
    engine = make_engine(db)
    META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(ITEMS), {"id": 1, "name": "kept"})
    reader = Reader(engine, name="items")
    prepared = reader.prepare("by_id", BY_ID)
    assert reader.one(prepared, {"id": 1}) == ("kept",)
    (pooled, driver), = reader._idle
    driver.close()  # what a server restart leaves behind
    assert reader.one(prepared, {"id": 1}) == ("kept",)
    assert [held[1] for held in reader._idle] != [driver]


KEYED = Table("keyed", META, Column("key", CHAR(32), primary_key=True), Column("n", Integer))
AWKWARD = ['a,b', 'x"y', "back\\slash", "sp ace", "{brace}", "NULL", "ㄱ한글"]


def _key_lists_find_exactly_their_rows(url: str) -> None:
    engine = make_engine(url)
    META.create_all(engine, tables=[KEYED])
    plain = [f"{n:032x}" for n in range(300)]
    try:
        with engine.begin() as conn:
            conn.execute(insert(KEYED), [{"key": k, "n": n}
                                         for n, k in enumerate(plain + AWKWARD)])
        reader = Reader(engine, name="keyed")
        for keys in (plain[::3], AWKWARD, [plain[7], AWKWARD[1], "absent"], plain[:1]):
            wanted = KeyList.of(keys, reader.dialect)
            prepared = reader.prepare(("keyed", wanted.size),
                                      select(KEYED.c.key).where(wanted.where(KEYED.c.key)))
            found = {str(k).rstrip() for (k,) in reader.all(prepared, wanted.values)}
            assert found == set(keys) - {"absent"}
        reader.close()
    finally:
        META.drop_all(engine, tables=[KEYED])
        engine.dispose()


def test_key_lists_find_exactly_their_rows_on_sqlite(db: str) -> None:
    _key_lists_find_exactly_their_rows(db)


@pytest.mark.postgres
def test_key_lists_find_exactly_their_rows_on_postgres() -> None:
    """One array parameter: the text form for plain keys, a list for any that needs quoting."""
    from tests.conftest import postgres_schema

    assert KeyList.of(["ab12", "cd34"], "postgresql").values == {"keys": "{ab12,cd34}"}
    assert KeyList.of(AWKWARD, "postgresql").values == {"keys": AWKWARD}
    with postgres_schema("key_lists") as url:
        _key_lists_find_exactly_their_rows(url)
