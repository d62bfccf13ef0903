"""The same data layer on PostgreSQL: registry, consents and fetch in a throw-away schema."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from gateway.affiliates import AffiliateDatabases
from gateway.affiliates.schema import card_members, create_affiliate_schema
from gateway.consents import ConsentStore
from gateway.db.engine import make_engine
from gateway.db.models import create_gateway_schema
from gateway.domain import AffiliateId, Category, CustomerKey, PurposeId
from gateway.fetch import fetch
from gateway.registry import CustomerRegistry
from pseudonymizer.rrn import generate_rrn, parse_national_id
from pseudonymizer.vault import RrnVault
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def schema_url() -> Iterator[str]:
    """URL of a fresh schema (as the search path) that is dropped afterwards."""
    with postgres_schema("t_data") as url:
        yield url


@pytest.fixture
def pg(schema_url: str) -> Iterator[Engine]:
    engine = make_engine(schema_url)
    yield engine
    engine.dispose()


def test_registry_and_consents_on_postgres(pg: Engine, vault: RrnVault) -> None:
    create_gateway_schema(pg)
    registry = CustomerRegistry(pg, vault)
    rrn = generate_rrn(random.Random(3), date(1980, 5, 5), 1)
    key = CustomerKey(secrets.token_hex(16))
    registry.register(parse_national_id(rrn), key, now=NOW)
    registry.add_relationship(key, "bank", date(2001, 1, 1))
    assert registry.lookup(rrn) == key and registry.holds(key, "bank")

    store = ConsentStore(pg)
    consent = store.grant(
        customer=key, recipient=AffiliateId("card"), purpose=PurposeId("marketing_email"),
        categories={Category.CONTACT}, channel="email", expires_at=NOW + timedelta(days=30),
        evidence_ref="branch:form#9", granted_by_system="bank-app", granted_by_employee="e1",
        now=NOW,
    )
    assert consent.granted_at == NOW and consent.granted_at.tzinfo == timezone.utc
    store.withdraw(consent.id, NOW + timedelta(hours=1), customer=key)
    assert store.for_customer(key, recipient="card")[0].withdrawn_at == NOW + timedelta(hours=1)


@dataclass(frozen=True)
class _Src:
    table: str
    column: str


@dataclass(frozen=True)
class _Attr:
    id: str
    owner: str
    type: str
    source: _Src


SPEND = _Attr("monthly_card_spend", "card", "amount", _Src("card_members", "monthly_card_spend"))
INTERESTS = _Attr("interests", "card", "list", _Src("card_members", "interests"))


def test_fetch_decodes_on_postgres(pg: Engine, schema_url: str) -> None:
    create_affiliate_schema(pg, "card")
    key = "3" * 32
    with pg.begin() as conn:
        conn.execute(insert(card_members), {"customer_key": key, "monthly_card_spend": 1_200_000,
                                            "interests": json.dumps(["골프"], ensure_ascii=False)})
    databases = AffiliateDatabases({"card": schema_url})
    try:
        values = fetch(databases, [SPEND, INTERESTS], CustomerKey(key))
    finally:
        databases.close()
    assert values == {"monthly_card_spend": 1_200_000, "interests": ["골프"]}
