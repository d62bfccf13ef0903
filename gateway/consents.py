"""The consent store: grant, withdraw, confirm and list a customer's consents (no caching).

A withdrawal is one committed UPDATE, so the very next query sees it (개인정보 보호법 제37조:
processing stops once consent is withdrawn). A confirmation moves `confirmed_at` (정보통신망법
제50조 ⑧: marketing consent is reconfirmed periodically; the policy sets the period).
Rows are never deleted: they are the evidence that consent was given (개인정보 보호법 제22조).
Every database failure surfaces as `StoreUnavailable`, so a caller that cannot read consents
releases nothing (fail closed).
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.models import Consent
from gateway.db.reader import KeyList, Reader, Row, utc_datetime
from gateway.domain import AffiliateId, Category, ConsentId, ConsentRecord, CustomerKey, PurposeId
from gateway.errors import NotFound, StoreUnavailable, ValidationFailed
from gateway.freetext import refuse_national_id

__all__ = ["ConsentExpiryPast", "ConsentInvalid", "ConsentNotFound", "ConsentStore", "PlannedConsent",
           "new_consent_id"]


class ConsentNotFound(NotFound):
    type_slug = "consent-not-found"
    title = "no such consent for this customer"


class ConsentInvalid(ValidationFailed):
    type_slug = "consent-invalid"
    title = "consent does not fit the policy"


class ConsentExpiryPast(ConsentInvalid):
    """`expires_at` is not in the future: a rule of the clock, which no schema can state (the
    relations between purpose, channel and flags are published in the OpenAPI document)."""

    type_slug = "consent-expiry-past"
    title = "consent would expire before it is stored"


def new_consent_id() -> ConsentId:
    """`cns_` + 128 random bits (URL-safe base64): unguessable, so ids leak nothing."""
    return ConsentId("cns_" + secrets.token_urlsafe(16))


def _categories(values: Iterable[Category | str]) -> frozenset[Category]:
    result: set[Category] = set()
    for value in values:
        try:
            result.add(Category(value))
        except ValueError:
            raise ConsentInvalid(f"unknown consent category `{str(value)[:40]}`") from None
    if not result:
        raise ConsentInvalid("a consent must name at least one category")
    return frozenset(result)


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ConsentInvalid(f"`{name}` must be timezone-aware")


_COLUMNS = (Consent.id, Consent.customer_key, Consent.recipient, Consent.purpose,
            Consent.categories, Consent.channel, Consent.granted_at, Consent.expires_at,
            Consent.withdrawn_at, Consent.evidence_ref, Consent.night_contact,
            Consent.confirmed_at, Consent.refusal_right_notified)

# The request path's read: one customer's consents towards one recipient (indexed), compiled
# once and run on the reader's connection (`gateway.db.reader`); no cache, so a withdrawal
# committed by any process is seen by the very next query.
_FOR_RECIPIENT = (select(*_COLUMNS)
                  .where(Consent.customer_key == bindparam("key"),
                         Consent.recipient == bindparam("recipient"))
                  .order_by(Consent.granted_at, Consent.id))


@functools.lru_cache(maxsize=256)
def _categories_of(stored: str) -> frozenset[Category]:
    """The categories column (a sorted JSON array): a handful of distinct values, decoded once
    each (a campaign decodes a consent per customer)."""
    return frozenset(Category(c) for c in json.loads(stored))


def _record(row: Row | Any) -> ConsentRecord:
    """A consent from a row of `_COLUMNS`: a SQLAlchemy row, or a raw DB-API one (SQLite hands
    timestamps back as text there, so every timestamp goes through `utc_datetime`)."""
    (consent_id, customer, recipient, purpose, categories, channel, granted_at, expires_at,
     withdrawn_at, evidence_ref, night_contact, confirmed_at, refusal_right_notified) = row
    return ConsentRecord(
        id=ConsentId(consent_id),
        customer=CustomerKey(customer),
        recipient=AffiliateId(recipient),
        purpose=PurposeId(purpose),
        categories=_categories_of(categories),
        channel=channel,
        granted_at=utc_datetime(granted_at),
        expires_at=None if expires_at is None else utc_datetime(expires_at),
        withdrawn_at=None if withdrawn_at is None else utc_datetime(withdrawn_at),
        evidence_ref=evidence_ref,
        night_contact=bool(night_contact),
        confirmed_at=None if confirmed_at is None else utc_datetime(confirmed_at),
        refusal_right_notified=bool(refusal_right_notified),
    )


@dataclass(frozen=True, slots=True)
class PlannedConsent:
    """A consent change checked and ready: the consent as it will be, and the statement that
    makes it so (None: nothing to change). The caller records it durably, then `apply`s it:
    no change is stored before its access record (fail closed)."""

    consent: ConsentRecord
    statement: Executable | None


class ConsentStore:
    """Consents in the gateway database; reads always hit the database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = Reader(engine, name="consent store")
        self._for_recipient = self._reader.prepare("for_recipient", _FOR_RECIPIENT)

    def plan_grant(
        self, *, customer: CustomerKey, recipient: AffiliateId, purpose: PurposeId,
        categories: Iterable[Category | str], channel: str | None, expires_at: datetime | None,
        evidence_ref: str, granted_by_system: str, granted_by_employee: str, now: datetime,
        night_contact: bool = False, refusal_right_notified: bool = False,
    ) -> PlannedConsent:
        """A new consent, confirmed at `now`, checked but not stored yet (`apply` stores it);
        policy checks (purpose, channel, the notice of the right to refuse for marketing) are
        the caller's job."""
        cats = _categories(categories)
        _aware("now", now)
        _aware("expires_at", expires_at)
        if expires_at is not None and expires_at <= now:
            raise ConsentInvalid("`expires_at` must be later than the grant time")
        if not evidence_ref.strip():
            raise ConsentInvalid("`evidence_ref` must not be empty")
        refuse_national_id("evidence_ref", evidence_ref)
        consent_id = new_consent_id()
        return PlannedConsent(_record((
            consent_id, customer, recipient, purpose, json.dumps(sorted(c.value for c in cats)),
            channel, now, expires_at, None, evidence_ref, night_contact, now,
            refusal_right_notified)), insert(Consent).values({
            "id": consent_id, "customer_key": customer, "recipient": recipient,
            "purpose": purpose, "categories": json.dumps(sorted(c.value for c in cats)),
            "channel": channel, "granted_at": now, "expires_at": expires_at,
            "withdrawn_at": None, "evidence_ref": evidence_ref,
            "granted_by_system": granted_by_system, "granted_by_employee": granted_by_employee,
            "night_contact": night_contact, "confirmed_at": now,
            "refusal_right_notified": refusal_right_notified,
        }))

    def plan_withdrawal(self, consent_id: str, now: datetime, *,
                        customer: CustomerKey | None = None) -> PlannedConsent:
        """Withdrawing a consent at `now`, checked but not stored yet; withdrawing it again
        keeps the first withdrawal time.

        With `customer`, a consent of another customer is reported as not found, exactly like
        an id that does not exist (no probing of other customers' consent ids).
        """
        _aware("now", now)
        condition = [Consent.id == consent_id]
        if customer is not None:
            condition.append(Consent.customer_key == customer)
        current = self._current(condition)
        if current.withdrawn_at is not None:
            return PlannedConsent(current, None)
        return PlannedConsent(replace(current, withdrawn_at=now),
                        update(Consent).where(*condition, Consent.withdrawn_at.is_(None))
                        .values(withdrawn_at=now))

    def plan_confirmation(self, consent_id: str, now: datetime, *, customer: CustomerKey,
                          refusal_right_notified: bool) -> PlannedConsent:
        """The customer confirmed the consent again at `now` (and, when said, was told once
        more of the right to refuse), checked but not stored yet. A withdrawn or expired
        consent cannot be confirmed: the customer grants a new one. Another customer's
        consent is not found."""
        _aware("now", now)
        condition = [Consent.id == consent_id, Consent.customer_key == customer]
        current = self._current(condition)
        if current.withdrawn_at is not None and current.withdrawn_at <= now:
            raise ConsentInvalid("a withdrawn consent cannot be confirmed: record a new consent")
        if current.expires_at is not None and current.expires_at <= now:
            raise ConsentInvalid("an expired consent cannot be confirmed: record a new consent")
        values: dict[str, Any] = {"confirmed_at": now}
        if refusal_right_notified:
            values["refusal_right_notified"] = True
        return PlannedConsent(replace(current, confirmed_at=now, refusal_right_notified=(
            current.refusal_right_notified or refusal_right_notified)),
            update(Consent).where(*condition).values(**values))

    # The change in one call, with no access record: for seeding and tests. The API plans,
    # records, then applies (gateway/api/routes/consents.py).
    def grant(self, **fields: Any) -> ConsentRecord:
        return self.apply(self.plan_grant(**fields))

    def withdraw(self, consent_id: str, now: datetime, *,
                 customer: CustomerKey | None = None) -> ConsentRecord:
        return self.apply(self.plan_withdrawal(consent_id, now, customer=customer))

    def confirm(self, consent_id: str, now: datetime, *, customer: CustomerKey,
                refusal_right_notified: bool) -> ConsentRecord:
        return self.apply(self.plan_confirmation(
            consent_id, now, customer=customer, refusal_right_notified=refusal_right_notified))

    def apply(self, planned: PlannedConsent) -> ConsentRecord:
        """Store a planned change (after its access record is durable) and return the consent
        as stored."""
        try:
            with self._engine.begin() as conn:
                if planned.statement is not None:
                    conn.execute(planned.statement)
                return self._get(conn, planned.consent.id)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"consent store unavailable: {type(exc).__name__}") from exc

    def _current(self, condition: list[Any]) -> ConsentRecord:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(*_COLUMNS).where(*condition)).one_or_none()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"consent store unavailable: {type(exc).__name__}") from exc
        if row is None:
            raise ConsentNotFound("no such consent for this customer")
        return _record(row)

    def for_customer(self, customer_key: CustomerKey,
                     recipient: AffiliateId | str | None = None) -> list[ConsentRecord]:
        """Every consent of the customer (withdrawn and expired included), oldest first."""
        if recipient is not None:  # the request path: one indexed read, no SQLAlchemy overhead
            try:
                return [_record(row) for row in self._reader.all(
                    self._for_recipient, {"key": customer_key, "recipient": recipient})]
            except (ValueError, TypeError) as exc:  # a row that does not decode grants nothing
                raise StoreUnavailable(f"consent store returned an undecodable row: "
                                       f"`{type(exc).__name__}`") from None
        query = select(*_COLUMNS).where(Consent.customer_key == customer_key)
        if recipient is not None:
            query = query.where(Consent.recipient == recipient)
        query = query.order_by(Consent.granted_at, Consent.id)
        try:
            with self._engine.connect() as conn:
                return [_record(row) for row in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"consent store unavailable: {type(exc).__name__}") from exc

    def for_customers(self, keys: Sequence[CustomerKey], *, recipient: str,
                      purpose: str) -> dict[CustomerKey, list[ConsentRecord]]:
        """The consents of several customers towards `recipient` for `purpose` (a campaign
        batch: one read per batch, never one per customer)."""
        found: dict[CustomerKey, list[ConsentRecord]] = {k: [] for k in keys}
        if not keys:
            return found
        # compiled once per dialect and padded batch size (`gateway.db.reader.KeyList`)
        wanted = KeyList.of(keys, self._reader.dialect)
        prepared = self._reader.prepared(("for_customers", wanted.size))
        if prepared is None:
            prepared = self._reader.prepare(("for_customers", wanted.size), select(*_COLUMNS).where(
                wanted.where(Consent.customer_key),
                Consent.recipient == bindparam("recipient"),
                Consent.purpose == bindparam("purpose"),
            ).order_by(Consent.granted_at, Consent.id))
        values: dict[str, Any] = dict(wanted.values)
        values.update(recipient=recipient, purpose=purpose)
        try:
            for row in self._reader.all(prepared, values):
                consent = _record(row)
                found[consent.customer].append(consent)
        except (ValueError, TypeError) as exc:  # a row that does not decode grants nothing
            raise StoreUnavailable(f"consent store returned an undecodable row: "
                                   f"`{type(exc).__name__}`") from None
        return found

    def get(self, consent_id: str) -> ConsentRecord:
        try:
            with self._engine.connect() as conn:
                return self._get(conn, consent_id)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"consent store unavailable: {type(exc).__name__}") from exc

    @staticmethod
    def _get(conn: Connection, consent_id: str) -> ConsentRecord:
        row = conn.execute(select(*_COLUMNS).where(Consent.id == consent_id)).one_or_none()
        if row is None:
            raise ConsentNotFound("no such consent for this customer")
        return _record(row)
