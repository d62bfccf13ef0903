"""Frequency caps, the writer's part: count a customer's contacts and record new ones, atomically.

A record may carry contact claims (`ContactClaim`): one per customer and channel it releases a
marketing contact for. The log writer handles them under the append lock every writer holds
(`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on `log_head` on PostgreSQL): it counts the
customer's `contact_events` on the channel since the claim's window start, adds the claims
already granted earlier in the same batch, and — below `max` — writes the record together with
one event per claim in the same transaction. At the cap, the record is not written and its
caller gets `ContactCapReached` with the counts found, decides again (withheld `contact_cap`)
and appends that record instead. Check and increment are therefore one step: exactly `max`
releases per window, whatever the number of processes (docs/CONTACT-CAPS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select

from gateway.accesslog import store
from gateway.db.reader import KeyList
from gateway.db.models import ContactEvent

EVENTS: Table = ContactEvent.__table__  # type: ignore[assignment]

_COUNT = (select(func.count()).select_from(EVENTS)
          .where(EVENTS.c.customer_key == bindparam("customer_key"),
                 EVENTS.c.channel == bindparam("channel"),
                 EVENTS.c.at > bindparam("since", type_=EVENTS.c.at.type)))
_INSERT = insert(EVENTS).values(log_index=bindparam("log_index"),
                                customer_key=bindparam("customer_key"),
                                channel=bindparam("channel"),
                                at=bindparam("at", type_=EVENTS.c.at.type))


@dataclass(frozen=True, slots=True)
class ContactClaim:
    """One marketing contact a record releases: counted against `max` contacts on `channel`
    in (`window_start`, ∞), and recorded at `at` when the record is written."""

    customer_key: str
    channel: str
    at: datetime
    window_start: datetime
    max: int


class ContactCounter:
    """The counts of one batch transaction: what the table holds plus what the batch adds."""

    def __init__(self, conn: Connection, cursor: Any) -> None:
        self._conn = conn
        self._cursor = cursor
        self._count = store.compiled(conn, _COUNT)
        self._found: dict[tuple[str, str, datetime], int] = {}
        self._added: dict[tuple[str, str], list[datetime]] = {}

    def prime(self, claims: Sequence[ContactClaim]) -> None:
        """Count the table's contacts of every claim's customer in one grouped read per
        channel and window (a campaign batch brings a thousand claims: one read, not a
        thousand)."""
        wanted: dict[tuple[str, datetime], set[str]] = {}
        for claim in claims:
            if (claim.customer_key, claim.channel, claim.window_start) not in self._found:
                wanted.setdefault((claim.channel, claim.window_start), set()).add(
                    claim.customer_key)
        for (channel, since), keys in wanted.items():
            found = counts_for(self._conn, sorted(keys), channel, since)
            for key in keys:
                self._found[(key, channel, since)] = found.get(key, 0)

    def used(self, claim: ContactClaim) -> int:
        """Contacts the customer had on the channel within the claim's window, this batch's
        granted claims included."""
        key = (claim.customer_key, claim.channel, claim.window_start)
        found = self._found.get(key)
        if found is None:
            self._cursor.execute(self._count.sql, self._count.params({
                "customer_key": claim.customer_key, "channel": claim.channel,
                "since": claim.window_start}))
            found = self._found[key] = int(self._cursor.fetchone()[0])
        added = self._added.get((claim.customer_key, claim.channel), ())
        return found + sum(1 for at in added if at > claim.window_start)

    def over_cap(self, claims: Sequence[ContactClaim]) -> dict[tuple[str, str], int]:
        """The claims at their cap (customer and channel → contacts counted); when none is,
        the claims are counted as granted for the rest of the batch."""
        over = {}
        for claim in claims:
            used = self.used(claim)
            if used >= claim.max:
                over[(claim.customer_key, claim.channel)] = used
        if not over:
            for claim in claims:
                self._added.setdefault((claim.customer_key, claim.channel), []).append(claim.at)
        return over


def insert_events(conn: Connection, cursor: Any,
                  rows: Sequence[tuple[int, ContactClaim]]) -> None:
    """One event per (record index, claim), in the batch's transaction."""
    store.insert_rows(conn, cursor, _INSERT, [
        {"log_index": index, "customer_key": c.customer_key, "channel": c.channel, "at": c.at}
        for index, c in rows])


_COUNTS: dict[tuple[str, int], Any] = {}  # grouped counts per dialect and key-list size


def _count_statement(keys: KeyList) -> Any:
    statement = _COUNTS.get((keys.dialect, keys.size))
    if statement is None:
        statement = _COUNTS[(keys.dialect, keys.size)] = (
            select(EVENTS.c.customer_key, func.count()).where(
                keys.where(EVENTS.c.customer_key),
                EVENTS.c.channel == bindparam("channel"),
                EVENTS.c.at > bindparam("since", type_=EVENTS.c.at.type))
            .group_by(EVENTS.c.customer_key))
    return statement


def counts_for(conn: Connection, customers: Sequence[str], channel: str,
               since: datetime) -> dict[str, int]:
    """Contacts per customer on `channel` after `since`, in one read on `conn`'s driver
    connection (its transaction, if one is open) with a statement compiled once per size."""
    if not customers:
        return {}
    keys = KeyList.of(customers, conn.dialect.name)
    statement = store.compiled(conn, _count_statement(keys))
    values: dict[str, object] = dict(keys.values)
    values.update(channel=channel, since=since)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            # Never a server-side prepared statement: a generic plan of this count once compared
            # every row of `contact_events` with every key (a 1,000-candidate campaign batch
            # took over a second at 120,000 events); planned with its values it is an index
            # look-up per key (milliseconds).
            cursor.execute(statement.sql, statement.params(values),
                           prepare=False)  # type: ignore[call-arg]  # psycopg's own
        else:
            cursor.execute(statement.sql, statement.params(values))
        return {str(key): int(n) for key, n in cursor.fetchall()}
    finally:
        cursor.close()
