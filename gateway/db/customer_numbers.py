"""Customer numbers: the numeric id a legacy column can hold, assigned once, never changed.

`ff1-13` pseudonyms (`pseudonymizer/schemes/ff1_13.py`) encrypt a customer number, not the hex
customer key. The number is drawn inside the INSERT that creates the customer row, so two
writers can never draw the same one:
- PostgreSQL: `nextval` of a real sequence (never rolled back, never reused);
- SQLite: `max() + 1` evaluated by the INSERT itself, which already holds SQLite's single write
  lock (https://www.sqlite.org/lockingv3.html), so the read cannot go stale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["SEQUENCE_NAME", "next_customer_no"]

SEQUENCE_NAME = "customers_customer_no_seq"


class next_customer_no(FunctionElement[int]):  # lower case: reads as the SQL function it is
    """The next customer number, as an SQL expression for the INSERT (a column default)."""

    type = BigInteger()
    inherit_cache = True
    name = "next_customer_no"


@compiles(next_customer_no)
def _max_plus_one(element: next_customer_no, compiler: Any, **kw: Any) -> str:
    return "(SELECT COALESCE(MAX(customer_no), 0) + 1 FROM customers)"


@compiles(next_customer_no, "postgresql")
def _nextval(element: next_customer_no, compiler: Any, **kw: Any) -> str:
    return f"nextval('{SEQUENCE_NAME}')"
