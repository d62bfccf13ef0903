"""Migration 0005 on a database with consents: new columns filled honestly, channels renamed,
the contact-stop table created; and back down again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gateway.consents import ConsentStore
from gateway.db.engine import make_engine
from gateway.db.migrate import alembic_config, upgrade
from gateway.domain import CustomerKey
from tests.conftest import postgres_schema

GRANTED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CUSTOMER = CustomerKey("c" * 32)


def _consents_0004(url: str) -> None:
    """Two consents as revision 0004 stored them: old channel names, no marketing columns."""
    upgrade(url, "0004")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for cid, channel in (("cns_phone", "phone"), ("cns_sms", "sms")):
                conn.execute(text(
                    "INSERT INTO consents (id, customer_key, recipient, purpose, categories, "
                    "channel, granted_at, expires_at, withdrawn_at, evidence_ref, "
                    "granted_by_system, granted_by_employee) VALUES (:id, :key, 'card', "
                    "'marketing_sms', '[\"contact\"]', :channel, :granted, NULL, NULL, 'form-1', "
                    "'bank-app', 'e1')"),
                    {"id": cid, "key": CUSTOMER, "channel": channel,
                     "granted": GRANTED if engine.dialect.name != "sqlite"
                     else GRANTED.replace(tzinfo=None)})
    finally:
        engine.dispose()


def _check_upgraded_and_back(url: str) -> None:
    _consents_0004(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        consents = {c.id: c for c in ConsentStore(engine).for_customer(CUSTOMER)}
        assert {i: c.channel for i, c in consents.items()} == {"cns_phone": "agent_call",
                                                               "cns_sms": "sms"}
        for consent in consents.values():
            assert consent.confirmed_at == consent.granted_at == GRANTED
            # nobody recorded the notice or a night consent: both false, so these lapse
            # (consent_unconfirmed) until reconfirmed, and allow daytime contact only
            assert consent.night_contact is False and consent.refusal_right_notified is False
        assert "contact_stops" in inspect(engine).get_table_names()
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        inspector = inspect(engine)
        assert "contact_stops" not in inspector.get_table_names()
        assert "confirmed_at" not in {c["name"] for c in inspector.get_columns("consents")}
        with engine.connect() as conn:
            channels = dict(conn.execute(text("SELECT id, channel FROM consents")).all())
        assert channels == {"cns_phone": "phone", "cns_sms": "sms"}
    finally:
        engine.dispose()


def test_sqlite_0004_consents_are_migrated(tmp_path: Path) -> None:
    _check_upgraded_and_back(f"sqlite:///{tmp_path / 'gateway.db'}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("t_mkt") as url:
        yield url


@pytest.mark.postgres
def test_postgres_0004_consents_are_migrated(pg_url: str) -> None:
    _check_upgraded_and_back(pg_url)
