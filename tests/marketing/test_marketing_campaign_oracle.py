"""Property test: random consents, stops, prior contacts and data, the campaign's output against
a naive oracle — nobody who should not be there, nobody missing who should."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from gateway.api.routes.campaigns import new_run
from gateway.db.base import Base
from gateway.domain import AffiliateId, Caller, SystemId
from gateway.marketing.campaigns import checked_spec
from tests.api.conftest import BANK_ROW, Harness, build_settings, start_harness

SEOUL = {"attribute": "address", "view": "sido", "in": ["서울특별시"]}
CAP = 4  # shipped: sms, 4 in 30 days
WINDOW = timedelta(days=30)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    yield from start_harness(build_settings(tmp_path_factory.mktemp("oracle"), policy_dir))


consent_kind = st.sampled_from(["none", "valid", "withdrawn", "expired", "no_notice",
                                "other_channel", "other_recipient", "no_contact_category",
                                "unconfirmed", "future"])
stop_kind = st.sampled_from(["none", "none", "group_all", "card_sms", "card_email",
                             "insurance_all", "group_sms_lifted"])
customer = st.fixed_dictionaries({
    "consent": consent_kind,
    "stop": stop_kind,
    "seoul": st.booleans(),
    "phone": st.booleans(),
    "contacts_in": st.integers(0, 5),  # earlier contacts inside the 30-day window
    "contacts_out": st.integers(0, 3),  # and outside it
})


def eligible(c: dict[str, Any]) -> bool:
    """The rules, written out naively."""
    return (c["seoul"] and c["phone"] and c["consent"] == "valid"
            and c["stop"] in ("none", "card_email", "insurance_all", "group_sms_lifted")
            and c["contacts_in"] < CAP)


def _setup(gw: Harness, c: dict[str, Any], now: datetime) -> str:
    row = {**BANK_ROW, "address": ("서울특별시 중구 세종대로 110" if c["seoul"]
                                   else "부산광역시 해운대구 우동 1"),
           "mobile_phone": "010-1111-2222" if c["phone"] else None}
    key = gw.customer({"bank": row}).key
    tables = Base.metadata.tables
    kind = c["consent"]
    with gw.services.gateway_engine.begin() as conn:
        if kind != "none":
            granted = now + timedelta(days=1) if kind == "future" else now - timedelta(days=10)
            conn.execute(insert(tables["consents"]).values(
                id=f"c-{secrets.token_hex(6)}", customer_key=key,
                recipient="insurance" if kind == "other_recipient" else "card",
                purpose="marketing_sms",
                categories=json.dumps(["identity"] if kind == "no_contact_category"
                                      else ["contact", "identity"]),
                channel="email" if kind == "other_channel" else "sms",
                granted_at=granted,
                expires_at=now - timedelta(days=1) if kind == "expired" else None,
                withdrawn_at=now - timedelta(days=1) if kind == "withdrawn" else None,
                evidence_ref="form-1", granted_by_system="bank-app", granted_by_employee="e",
                night_contact=False,
                confirmed_at=(now - timedelta(days=800) if kind == "unconfirmed" else granted),
                refusal_right_notified=kind != "no_notice"))
        if c["stop"] != "none":
            scope, channels, lifted = {
                "group_all": (None, None, None), "card_sms": ("card", ["sms"], None),
                "card_email": ("card", ["email"], None), "insurance_all": ("insurance", None, None),
                "group_sms_lifted": (None, ["sms"], now - timedelta(hours=1)),
            }[c["stop"]]
            conn.execute(insert(tables["contact_stops"]).values(
                id=f"cst_{secrets.token_hex(6)}", customer_key=key, scope=scope,
                channels=json.dumps(channels) if channels else None, reason="refusal",
                registered_at=now - timedelta(days=2), registered_by_system="bank-app",
                registered_by_employee="e", lifted_at=lifted))
        events = [now - timedelta(days=1 + i) for i in range(c["contacts_in"])]
        events += [now - WINDOW - timedelta(days=1 + i) for i in range(c["contacts_out"])]
        for n, at in enumerate(events):
            conn.execute(insert(tables["contact_events"]).values(
                log_index=10_000_000 + n, customer_key=key, channel="sms", at=at))
    return key


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(customers=st.lists(customer, min_size=1, max_size=6), batch=st.integers(1, 4))
def test_campaign_output_matches_the_oracle(gw: Harness, customers: list[dict[str, Any]],
                                            batch: int) -> None:
    now = datetime.now(timezone.utc)
    keys = [_setup(gw, c, now) for c in customers]
    policy = gw.services.policy.current
    caller = Caller(AffiliateId("card"), SystemId("card-marketing"), "tester", "t-1")
    spec = checked_spec(policy, caller, purpose="marketing_sms", channel="sms", reason="r",
                        ticket="t", segment=[SEOUL], attributes=["mobile_phone"])
    run = new_run(gw.services, policy, caller, spec, now, "rid-oracle")
    run._batch_size = batch
    out: list[dict[str, Any]] = []

    async def main() -> None:
        await run.open()
        async for line in run.lines():
            run.sent_line(line)
            out.append(json.loads(line.data))
        await run.close("complete")

    anyio.run(main)
    pseudonyms = {str(gw.services.pseudonymizer.pseudonym(k, "card")): k  # type: ignore[arg-type]
                  for k in keys}
    got = {pseudonyms[r["pseudonym"]] for r in out[:-1] if r["pseudonym"] in pseudonyms}
    want = {k for k, c in zip(keys, customers) if eligible(c)}
    assert got == want
    for r in out[:-1]:
        if r["pseudonym"] in pseudonyms:
            assert r["released"] == {"mobile_phone": {"value": "010-1111-2222",
                                                      "view": "exact"}}
    summary = out[-1]["summary"]
    assert summary["candidates"] == summary["released"] + sum(summary["withheld"].values())
