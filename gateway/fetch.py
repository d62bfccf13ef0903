"""Fetch step: read only the released attributes, one indexed SELECT per owning affiliate.

Data minimization (개인정보 보호법 제3조 ①, 제16조): the statement names exactly the columns
of the released attributes, never `*`. Table and column names come from the policy; they are
checked against a strict identifier pattern and then quoted by SQLAlchemy's `table()` and
`column()` constructs, never formatted into SQL text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam, column, select, table

from gateway.affiliates import AffiliateDatabases
from gateway.db.reader import KeyList
from gateway.domain import AttributeId, CustomerKey
from gateway.errors import ConfigError, StoreUnavailable

__all__ = ["AttributeSource", "BadSource", "fetch"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_KEY_COLUMN = "customer_key"


class _Source(Protocol):
    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...


class AttributeSource(Protocol):
    """What fetch needs of a policy attribute (`gateway.policy` `Attribute` fits)."""

    @property
    def id(self) -> Any: ...
    @property
    def owner(self) -> Any: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> _Source: ...


class BadSource(ConfigError):
    type_slug = "attribute-source"
    title = "attribute source is not a valid table and column"


class UndecodableValue(StoreUnavailable):
    """An affiliate returned a value that does not fit the attribute's type: release nothing."""


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean where an integer was expected")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise ValueError(f"`{type(value).__name__}` is not an integer")


def _json(expected: type) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
        if not isinstance(parsed, list) or not all(isinstance(item, expected) for item in parsed):
            raise ValueError(f"expected a json array of `{expected.__name__}`")
        return parsed

    return decode


DECODERS: dict[str, Callable[[Any], Any]] = {
    "text": str,
    "date": _date,
    "amount": _integer,
    "integer": _integer,
    "list": _json(str),
    "records": _json(dict),
}


def _checked(name: str, what: str, attribute: Any) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise BadSource(f"attribute `{attribute}`: {what} name is not a plain sql identifier")
    return name


def _by_table(attributes: Sequence[AttributeSource]
              ) -> dict[tuple[str, str], list[AttributeSource]]:
    """The attributes grouped by (owner, table), every name checked: one read per group."""
    groups: dict[tuple[str, str], list[AttributeSource]] = {}
    for attribute in attributes:
        if attribute.type not in DECODERS:
            raise BadSource(f"attribute `{attribute.id}`: unknown type `{attribute.type}`")
        name = _checked(attribute.source.table, "table", attribute.id)
        _checked(attribute.source.column, "column", attribute.id)
        groups.setdefault((str(attribute.owner), name), []).append(attribute)
    return groups


def fetch(databases: AffiliateDatabases, attributes: Sequence[AttributeSource],
          customer_key: CustomerKey) -> dict[AttributeId, Any]:
    """Raw values by attribute id; None where the owner has no row or the column is NULL."""
    values: dict[AttributeId, Any] = {}
    for (owner, table_name), group in _by_table(attributes).items():
        row = _read_row(databases, owner, table_name,
                        sorted({a.source.column for a in group}), customer_key)
        for attribute in group:
            raw = None if row is None else row[attribute.source.column]
            value = None if raw is None else _decode(owner, attribute, raw)
            values[AttributeId(attribute.id)] = value
    return values


def _read_row(databases: AffiliateDatabases, owner: str, table_name: str, columns: list[str],
              customer_key: CustomerKey) -> dict[str, Any] | None:
    reader = databases.reader(owner)
    key = (table_name, *columns)
    prepared = reader.prepared(key)
    if prepared is None:  # compiled once per table and column set
        source = table(table_name, column(_KEY_COLUMN), *(column(c) for c in columns))
        # Only the needed columns; the key is a bound parameter, looked up through the
        # primary key.
        prepared = reader.prepare(key, select(*(source.c[c] for c in columns))
                                  .where(source.c[_KEY_COLUMN] == bindparam("customer_key")))
    row = reader.one(prepared, {"customer_key": customer_key})
    return None if row is None else dict(zip(columns, row))


def _decode(owner: str, attribute: AttributeSource, raw: Any) -> Any:
    try:
        return DECODERS[attribute.type](raw)
    except (ValueError, TypeError) as exc:
        # The message names the attribute, never the value (it is personal data).
        raise UndecodableValue(
            f"affiliate `{owner}` returned a value for `{attribute.id}` that is not "
            f"`{attribute.type}`: {type(exc).__name__}"
        ) from None


def fetch_many(databases: AffiliateDatabases, attributes: Sequence[AttributeSource],
               keys: Sequence[CustomerKey]) -> dict[CustomerKey, dict[AttributeId, Any]]:
    """`fetch` for a batch of customers (campaigns): one SELECT per owning table and batch,
    naming only the attributes' columns, `customer_key IN (…)` on the primary key. Customers
    the owner does not hold get None."""
    groups = _by_table(attributes)
    values: dict[CustomerKey, dict[AttributeId, Any]] = {
        k: {AttributeId(a.id): None for a in attributes} for k in keys}
    if not keys:
        return values
    for (owner, table_name), group in groups.items():
        columns = sorted({a.source.column for a in group})
        reader = databases.reader(owner)
        # compiled once per table, columns and padded batch size (`gateway.db.reader.KeyList`)
        wanted = KeyList.of(keys, reader.dialect)
        key = ("many", table_name, wanted.size, *columns)
        prepared = reader.prepared(key)
        if prepared is None:
            source = table(table_name, column(_KEY_COLUMN), *(column(c) for c in columns))
            prepared = reader.prepare(key, select(
                source.c[_KEY_COLUMN], *(source.c[c] for c in columns)).where(
                wanted.where(source.c[_KEY_COLUMN])))
        rows = reader.all(prepared, wanted.values)
        for row in rows:
            found = dict(zip(columns, row[1:]))
            mine = values[CustomerKey(row[0])]
            for attribute in group:
                raw = found[attribute.source.column]
                mine[AttributeId(attribute.id)] = (None if raw is None
                                                   else _decode(owner, attribute, raw))
    return values
