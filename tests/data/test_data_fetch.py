"""Fetch step: one SELECT of only the needed columns per owner, decoding, failing closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import bank_customers, card_members, insurance_customers
from gateway.domain import CustomerKey
from gateway.errors import ConfigError, StoreUnavailable
from gateway.fetch import BadSource, UndecodableValue, fetch

KEY = CustomerKey("1" * 32)
STRANGER = CustomerKey("2" * 32)


@dataclass(frozen=True)
class Source:
    table: str
    column: str


@dataclass(frozen=True)
class Attr:
    """Minimal stand-in for a policy attribute (fetch needs nothing else)."""

    id: str
    owner: str
    type: str
    source: Source


def attr(id: str, owner: str, type: str, table: str, column: str | None = None) -> Attr:
    return Attr(id, owner, type, Source(table, id if column is None else column))


NAME = attr("name", "bank", "text", "bank_customers")
BIRTH = attr("birth_date", "bank", "date", "bank_customers")
INCOME = attr("annual_income", "bank", "amount", "bank_customers")
GRADE = attr("credit_grade", "bank", "integer", "bank_customers")
MEMO = attr("callcenter_memo", "bank", "text", "bank_customers")
PRODUCTS = attr("card_products", "card", "list", "card_members")
TOP = attr("top_spending_categories", "card", "records", "card_members", "spending_by_category")
CAR = attr("insured_car_model", "insurance", "text", "insurance_customers")

SPENDING = [{"category": "외식", "amount": 320000}, {"category": "교통", "amount": 80000}]


@pytest.fixture
def filled(affiliate_dbs: AffiliateDatabases) -> AffiliateDatabases:
    with affiliate_dbs.engine("bank").begin() as conn:
        conn.execute(insert(bank_customers), {
            "customer_key": KEY, "name": "홍길동", "rrn_masked": "900101-1******",
            "birth_date": date(1990, 1, 1), "address": "서울특별시 강남구 테헤란로 152",
            "annual_income": 52_000_000, "credit_grade": 3, "callcenter_memo": None,
        })
    with affiliate_dbs.engine("card").begin() as conn:
        conn.execute(insert(card_members), {
            "customer_key": KEY, "card_products": json.dumps(["한빛 가족사랑카드"]),
            "spending_by_category": json.dumps(SPENDING, ensure_ascii=False),
        })
    with affiliate_dbs.engine("insurance").begin() as conn:
        conn.execute(insert(insurance_customers), {"customer_key": KEY, "insured_car_model": None})
    return affiliate_dbs


@pytest.fixture
def statements(filled: AffiliateDatabases) -> Iterator[list[tuple[str, str]]]:
    """Every SQL statement sent to any affiliate database, as (affiliate, sql).

    Fetch runs compiled statements straight on the DB-API connection (`gateway.db.reader`),
    past SQLAlchemy's cursor events, so SQLite's own trace callback is what sees them.
    """
    seen: list[tuple[str, str]] = []
    listeners = []
    for affiliate in ("bank", "card", "securities", "insurance"):
        engine = filled.engine(affiliate)

        def trace(dbapi_conn: Any, record: Any, proxy: Any, _aff: str = affiliate) -> None:
            dbapi_conn.set_trace_callback(
                lambda sql: seen.append((_aff, sql)) if sql.lstrip().upper().startswith(
                    "SELECT") else None)

        event.listen(engine, "checkout", trace)
        listeners.append((engine, trace))
    yield seen
    for engine, trace in listeners:
        event.remove(engine, "checkout", trace)


def test_values_are_decoded_by_type(filled: AffiliateDatabases) -> None:
    values = fetch(filled, [NAME, BIRTH, INCOME, GRADE, PRODUCTS, TOP], KEY)
    assert values == {
        "name": "홍길동", "birth_date": date(1990, 1, 1), "annual_income": 52_000_000,
        "credit_grade": 3, "card_products": ["한빛 가족사랑카드"],
        "top_spending_categories": SPENDING,
    }
    assert type(values["birth_date"]) is date
    assert type(values["annual_income"]) is int


def test_null_and_missing_rows_are_none(filled: AffiliateDatabases) -> None:
    # MEMO and CAR are NULL columns; securities holds no row for KEY at all.
    stocks = attr("stock_holdings_value", "securities", "amount", "securities_accounts")
    assert fetch(filled, [MEMO, CAR, stocks], KEY) == {
        "callcenter_memo": None, "insured_car_model": None, "stock_holdings_value": None}
    assert fetch(filled, [NAME, PRODUCTS], STRANGER) == {"name": None, "card_products": None}


def test_one_select_of_only_the_needed_columns_per_owner(
    filled: AffiliateDatabases, statements: list[tuple[str, str]]
) -> None:
    fetch(filled, [NAME, BIRTH, PRODUCTS, TOP], KEY)
    assert [aff for aff, _ in statements] == ["bank", "card"]
    bank_sql, card_sql = (" ".join(sql.split()) for _, sql in statements)
    select_list = bank_sql.split(" FROM ")[0].removeprefix("SELECT ")
    assert sorted(c.strip() for c in select_list.split(",")) == [
        "bank_customers.birth_date", "bank_customers.name"]
    # the key is a bound parameter of the compiled statement, never formatted into it
    prepared = filled.reader("bank").prepared(("bank_customers", "birth_date", "name"))
    assert prepared is not None
    assert "WHERE bank_customers.customer_key = ?" in prepared.sql
    assert "*" not in bank_sql
    for unwanted in ("rrn_masked", "address", "annual_income", "mobile_phone"):
        assert unwanted not in bank_sql
    card_list = card_sql.split(" FROM ")[0].removeprefix("SELECT ")
    assert sorted(c.strip() for c in card_list.split(",")) == [
        "card_members.card_products", "card_members.spending_by_category"]


def test_no_attributes_no_query(filled: AffiliateDatabases,
                                statements: list[tuple[str, str]]) -> None:
    assert fetch(filled, [], KEY) == {}
    assert statements == []


def test_two_attributes_on_one_column_read_it_once(
    filled: AffiliateDatabases, statements: list[tuple[str, str]]
) -> None:
    alias = attr("age", "bank", "date", "bank_customers", "birth_date")
    assert fetch(filled, [BIRTH, alias], KEY) == {"birth_date": date(1990, 1, 1),
                                                  "age": date(1990, 1, 1)}
    assert statements[0][1].count("birth_date") == 1


@pytest.mark.parametrize(
    ("table", "column", "what"),
    [
        ("bank_customers; DROP TABLE bank_customers", "name", "table"),
        ("bank_customers", 'name" FROM x --', "column"),
        ("bank_customers", "", "column"),
        ("1table", "name", "table"),  # identifiers may not start with a digit
        ("bank_customers", "이름", "column"),  # only plain ASCII identifiers
    ],
)
def test_unsafe_identifiers_are_refused(filled: AffiliateDatabases, table: str, column: str,
                                        what: str,
                                        statements: list[tuple[str, str]]) -> None:
    with pytest.raises(BadSource, match=f"attribute `evil`: {what} name is not a plain sql"):
        fetch(filled, [attr("evil", "bank", "text", table, column)], KEY)
    assert statements == []  # refused before anything reached a database


def test_unknown_type_is_refused(filled: AffiliateDatabases) -> None:
    with pytest.raises(BadSource, match="attribute `name`: unknown type `blob`"):
        fetch(filled, [attr("name", "bank", "blob", "bank_customers")], KEY)


def test_owner_without_database_is_a_config_error(filled: AffiliateDatabases) -> None:
    with pytest.raises(ConfigError, match="no database url configured for affiliate `holding`"):
        fetch(filled, [attr("x", "holding", "text", "t", "c")], KEY)


def test_unreachable_database_fails_closed(tmp_path: Path) -> None:
    # A database file without the table: the SELECT fails, nothing is returned.
    databases = AffiliateDatabases({"bank": f"sqlite:///{tmp_path / 'bank.db'}"})
    try:
        with pytest.raises(StoreUnavailable, match="affiliate database `bank` unavailable"):
            fetch(databases, [NAME], KEY)
    finally:
        databases.close()


@pytest.mark.parametrize(
    ("stored", "attribute"),
    [
        ("not json at all", PRODUCTS),
        ('{"a": 1}', PRODUCTS),  # valid JSON but not an array
        ("[1, 2]", PRODUCTS),  # an array, but not of strings
        ('["외식"]', TOP),  # records must be objects
    ],
)
def test_undecodable_values_fail_closed(filled: AffiliateDatabases, stored: str,
                                        attribute: Attr) -> None:
    with filled.engine("card").begin() as conn:
        conn.execute(card_members.update().values({attribute.source.column: stored}))
    with pytest.raises(UndecodableValue, match=f"affiliate `card` returned a value for "
                                               f"`{attribute.id}` that is not") as info:
        fetch(filled, [attribute], KEY)
    assert stored not in str(info.value)  # the value itself is personal data
    assert isinstance(info.value, StoreUnavailable)


def test_bad_integer_fails_closed(filled: AffiliateDatabases) -> None:
    with filled.engine("bank").begin() as conn:
        conn.exec_driver_sql("UPDATE bank_customers SET annual_income = 'lots'")
    with pytest.raises(UndecodableValue, match="`annual_income` that is not `amount`"):
        fetch(filled, [INCOME], KEY)
