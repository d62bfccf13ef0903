"""Consent store: grant, withdraw (seen at once, idempotent), list, validation, failing closed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.consents import ConsentInvalid, ConsentNotFound, ConsentStore
from gateway.db.models import Consent
from gateway.domain import AffiliateId, Category, ConsentRecord, CustomerKey, PurposeId
from gateway.errors import StoreUnavailable

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
ALICE = CustomerKey("a" * 32)
BOB = CustomerKey("b" * 32)


@pytest.fixture
def store(gateway_engine: Engine) -> ConsentStore:
    return ConsentStore(gateway_engine)


GrantFn = Callable[..., ConsentRecord]


@pytest.fixture
def grant(store: ConsentStore) -> GrantFn:
    def make(**overrides: Any) -> ConsentRecord:
        args: dict[str, Any] = dict(
            customer=ALICE, recipient=AffiliateId("card"), purpose=PurposeId("marketing_sms"),
            categories=frozenset({Category.FINANCIAL, Category.CONTACT}), channel="sms",
            expires_at=NOW + timedelta(days=365), evidence_ref="app:consent-form/v3#1",
            granted_by_system="bank-app", granted_by_employee="emp-001", now=NOW,
        )
        args.update(overrides)
        return store.grant(**args)

    return make


def test_grant_returns_the_stored_record(grant: GrantFn, gateway_engine: Engine) -> None:
    consent = grant()
    assert consent.id.startswith("cns_") and len(consent.id) > 20
    assert consent.customer == ALICE and consent.recipient == "card"
    assert consent.categories == frozenset({Category.FINANCIAL, Category.CONTACT})
    assert consent.channel == "sms"
    assert consent.granted_at == NOW and consent.granted_at.tzinfo == timezone.utc
    assert consent.expires_at == NOW + timedelta(days=365)
    assert consent.withdrawn_at is None
    with gateway_engine.connect() as conn:
        row = conn.execute(select(Consent)).one()
    assert json.loads(row.categories) == ["contact", "financial"]  # sorted JSON
    assert (row.granted_by_system, row.granted_by_employee) == ("bank-app", "emp-001")


def test_categories_may_be_plain_strings(grant: GrantFn) -> None:
    assert grant(categories={"sensitive"}).categories == frozenset({Category.SENSITIVE})


def test_ids_are_unique(grant: GrantFn) -> None:
    assert len({grant().id for _ in range(20)}) == 20


def test_for_customer_filters_and_orders(store: ConsentStore, grant: GrantFn) -> None:
    later = grant(now=NOW + timedelta(hours=1), recipient=AffiliateId("insurance"))
    first = grant()
    grant(customer=BOB)
    assert [c.id for c in store.for_customer(ALICE)] == [first.id, later.id]
    assert [c.id for c in store.for_customer(ALICE, recipient="insurance")] == [later.id]
    assert store.for_customer(CustomerKey("c" * 32)) == []


def test_withdrawal_is_seen_by_the_very_next_query(gateway_engine: Engine, grant: GrantFn) -> None:
    consent = grant()
    reader = ConsentStore(gateway_engine)  # another instance: nothing cached anywhere
    assert reader.for_customer(ALICE)[0].withdrawn_at is None
    withdrawn = ConsentStore(gateway_engine).withdraw(consent.id, NOW + timedelta(minutes=5))
    assert withdrawn.withdrawn_at == NOW + timedelta(minutes=5)
    assert reader.for_customer(ALICE)[0].withdrawn_at == NOW + timedelta(minutes=5)


def test_withdrawing_twice_keeps_the_first_time(store: ConsentStore, grant: GrantFn) -> None:
    consent = grant()
    store.withdraw(consent.id, NOW + timedelta(minutes=5), customer=ALICE)
    again = store.withdraw(consent.id, NOW + timedelta(days=2), customer=ALICE)
    assert again.withdrawn_at == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("consent_id", "customer"),
    [
        ("cns_doesnotexist", None),
        (None, BOB),  # Alice's consent asked for as Bob's: reported exactly like a missing id
    ],
)
def test_withdraw_not_found(store: ConsentStore, grant: GrantFn, consent_id: str | None,
                            customer: CustomerKey | None) -> None:
    real = grant()
    with pytest.raises(ConsentNotFound, match="^no such consent for this customer$"):
        store.withdraw(consent_id or real.id, NOW, customer=customer)
    assert store.get(real.id).withdrawn_at is None


def test_expiry_in_another_zone_is_stored_as_utc(grant: GrantFn) -> None:
    kst = datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    consent = grant(expires_at=kst)
    assert consent.expires_at == kst
    assert consent.expires_at is not None and consent.expires_at.tzinfo == timezone.utc
    assert grant(expires_at=None).expires_at is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"categories": {"medical"}}, "unknown consent category `medical`"),
        ({"categories": set()}, "at least one category"),
        ({"now": datetime(2025, 3, 1)}, "`now` must be timezone-aware"),
        ({"expires_at": datetime(2026, 3, 1)}, "`expires_at` must be timezone-aware"),
        ({"expires_at": NOW}, "`expires_at` must be later than the grant time"),  # zero-length
        ({"evidence_ref": "  "}, "`evidence_ref` must not be empty"),
    ],
)
def test_invalid_grants_are_refused(grant: GrantFn, overrides: dict[str, Any],
                                    message: str) -> None:
    with pytest.raises(ConsentInvalid, match=message):
        grant(**overrides)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.for_customer(ALICE),
        lambda s: s.withdraw("cns_x", NOW),
        lambda s: s.get("cns_x"),
        lambda s: s.grant(customer=ALICE, recipient="card", purpose="credit_risk",
                          categories={"financial"}, channel=None, expires_at=None,
                          evidence_ref="e", granted_by_system="s", granted_by_employee="e",
                          now=NOW),
    ],
)
def test_database_failure_fails_closed(broken_engine: Engine, call: Any) -> None:
    with pytest.raises(StoreUnavailable, match="consent store unavailable: OperationalError"):
        call(ConsentStore(broken_engine))
