"""The group-wide do-not-contact registry (수신거부 / 연락중지청구): register, lift, list.

신용정보법 제37조 ② lets a customer tell a financial company to stop contacting them for
marketing; 정보통신망법 제50조 ② lets a recipient refuse advertising per channel. A stop names
some channels or all, for one affiliate or the whole group, and beats any consent (the decision
reads the customer's stops as data). Reads always hit the database — no cache anywhere — so a
stop committed by one gateway process bars the very next query in every process. Rows are never
deleted: lifting sets `lifted_at`. No column holds free text (the reason is a code). Every
database failure surfaces as `StoreUnavailable`, so a query that cannot read the stops releases
nothing (fail closed).
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.models import ContactStop as StopRow
from gateway.db.reader import KeyList, Reader, utc_datetime
from gateway.domain import AffiliateId, ContactStop, ContactStopId, CustomerKey
from gateway.errors import NotFound, StoreUnavailable, ValidationFailed

__all__ = ["ContactStopInvalid", "ContactStopNotFound", "ContactStopStore", "StopReason",
           "new_stop"]


class StopReason(str, enum.Enum):
    """Why the stop was registered: a code, so that no free text (and no RRN) is stored."""

    REFUSAL = "refusal"  # 수신거부: the customer refuses advertising (정보통신망법 제50조 ②)
    CONTACT_STOP_REQUEST = "contact_stop_request"  # 연락중지청구 (신용정보법 제37조 ②)
    COMPLAINT = "complaint"  # raised in a complaint (민원)


class ContactStopNotFound(NotFound):
    type_slug = "contact-stop-not-found"
    title = "no such contact stop for this customer"


class ContactStopInvalid(ValidationFailed):
    type_slug = "contact-stop-invalid"
    title = "contact stop does not fit the policy"


def new_stop_id() -> ContactStopId:
    """`cst_` + 128 random bits (URL-safe base64): unguessable, so ids leak nothing."""
    return ContactStopId("cst_" + secrets.token_urlsafe(16))


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ContactStopInvalid("the stop's time must be timezone-aware")


def new_stop(*, customer: CustomerKey, scope: AffiliateId | None,
             channels: Iterable[str] | None, reason: StopReason, now: datetime) -> ContactStop:
    """The stop as it will be stored (not stored yet: its access record comes first)."""
    _aware(now)
    chosen = frozenset(channels) if channels is not None else None
    if chosen is not None and not chosen:
        raise ContactStopInvalid("a stop names at least one channel, or none for all")
    return ContactStop(id=new_stop_id(), customer=customer, scope=scope, channels=chosen,
                       registered_at=now, reason=reason.value)


def _stop(row: Any) -> ContactStop:
    return ContactStop(
        id=ContactStopId(row.id), customer=CustomerKey(row.customer_key),
        scope=AffiliateId(row.scope) if row.scope is not None else None,
        channels=frozenset(json.loads(row.channels)) if row.channels is not None else None,
        registered_at=row.registered_at, lifted_at=row.lifted_at, reason=row.reason,
    )


def _raw_stop(row: Any) -> ContactStop:
    """A stop from a raw DB-API row of `_COLUMNS` (timestamps as the driver hands them)."""
    stop_id, customer, scope, channels, reason, registered_at, lifted_at = row
    return ContactStop(
        id=ContactStopId(stop_id), customer=CustomerKey(customer),
        scope=AffiliateId(scope) if scope is not None else None,
        channels=frozenset(json.loads(channels)) if channels is not None else None,
        registered_at=utc_datetime(registered_at),
        lifted_at=None if lifted_at is None else utc_datetime(lifted_at), reason=reason,
    )


_COLUMNS = (StopRow.id, StopRow.customer_key, StopRow.scope, StopRow.channels, StopRow.reason,
            StopRow.registered_at, StopRow.lifted_at)


class ContactStopStore:
    """Contact stops in the gateway database; reads always hit the database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = Reader(engine, name="contact stop store")

    def register(self, stop: ContactStop, *, system: str, employee: str) -> ContactStop:
        """Commit a stop built by `new_stop` (after its access record is durable)."""
        row = {
            "id": stop.id, "customer_key": stop.customer, "scope": stop.scope,
            "channels": json.dumps(sorted(stop.channels)) if stop.channels is not None else None,
            "reason": stop.reason or StopReason.REFUSAL.value,
            "registered_at": stop.registered_at, "registered_by_system": system,
            "registered_by_employee": employee, "lifted_at": None,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(StopRow), row)
                return _stop(conn.execute(select(*_COLUMNS).where(StopRow.id == stop.id)).one())
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"contact stop store unavailable: {type(exc).__name__}") \
                from exc

    def get(self, stop_id: str, *, customer: CustomerKey) -> ContactStop:
        """The customer's stop; another customer's stop is not found, exactly like an unknown
        id (no probing of other customers' stops)."""
        query = select(*_COLUMNS).where(StopRow.id == stop_id, StopRow.customer_key == customer)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).one_or_none()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"contact stop store unavailable: {type(exc).__name__}") \
                from exc
        if row is None:
            raise ContactStopNotFound("no such contact stop for this customer")
        return _stop(row)

    def lift(self, stop_id: str, now: datetime, *, customer: CustomerKey, system: str,
             employee: str) -> ContactStop:
        """Lift the stop at `now`; lifting it again keeps the first lift. Only a request made
        after the stop was registered may lift it."""
        _aware(now)
        condition = (StopRow.id == stop_id, StopRow.customer_key == customer)
        try:
            with self._engine.begin() as conn:
                conn.execute(update(StopRow)
                             .where(*condition, StopRow.lifted_at.is_(None),
                                    StopRow.registered_at < now)
                             .values(lifted_at=now, lifted_by_system=system,
                                     lifted_by_employee=employee))
                row = conn.execute(select(*_COLUMNS).where(*condition)).one_or_none()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"contact stop store unavailable: {type(exc).__name__}") \
                from exc
        if row is None:
            raise ContactStopNotFound("no such contact stop for this customer")
        stop = _stop(row)
        if stop.lifted_at is None:
            raise ContactStopInvalid("a stop can be lifted only by a request made after it was "
                                     "registered")
        return stop

    def for_customer(self, customer: CustomerKey) -> list[ContactStop]:
        """Every stop of the customer, lifted ones included, oldest first."""
        return self._select(select(*_COLUMNS).where(StopRow.customer_key == customer))

    def active_for(self, customer: CustomerKey, now: datetime) -> list[ContactStop]:
        """The stops not lifted at `now` (the decision checks scope, channels and times)."""
        return self._select(select(*_COLUMNS).where(
            StopRow.customer_key == customer,
            or_(StopRow.lifted_at.is_(None), StopRow.lifted_at > now)))

    def active_for_many(self, customers: Sequence[CustomerKey], now: datetime
                        ) -> dict[CustomerKey, list[ContactStop]]:
        """`active_for` of several customers in one read (a campaign batch), compiled once per
        batch size on the reader's connection (`gateway.db.reader.KeyList`)."""
        found: dict[CustomerKey, list[ContactStop]] = {k: [] for k in customers}
        if not customers:
            return found
        wanted = KeyList.of(customers, self._reader.dialect)
        key = ("active_for_many", wanted.size)
        prepared = self._reader.prepared(key)
        if prepared is None:
            prepared = self._reader.prepare(key, select(*_COLUMNS).where(
                wanted.where(StopRow.customer_key),
                or_(StopRow.lifted_at.is_(None),
                    StopRow.lifted_at > bindparam("now", type_=StopRow.lifted_at.type)),
            ).order_by(StopRow.registered_at, StopRow.id))
        values: dict[str, Any] = dict(wanted.values)
        values["now"] = now  # processed as the column's type binds it (`Prepared.params`)
        for row in self._reader.all(prepared, values):
            stop = _raw_stop(row)
            found[stop.customer].append(stop)
        return found

    def _select(self, query: Any) -> list[ContactStop]:
        query = query.order_by(StopRow.registered_at, StopRow.id)
        try:
            with self._engine.connect() as conn:
                return [_stop(row) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"contact stop store unavailable: {type(exc).__name__}") \
                from exc
