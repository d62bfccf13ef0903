"""The request path end to end: minimized answers, pseudonyms, default deny, consent."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.api.deps import request_time
from pseudonymizer.rrn import generate_rrn
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.test_api_errors import assert_problem


def released(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return {name: item["value"] for name, item in response.json()["released"].items()}


def reasons(response: Any) -> dict[str, str]:
    return {w["attribute"]: w["reason"] for w in response.json()["withheld"]}


def test_minimized_answer_for_credit_risk(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query("card-risk", customer.ref, "credit_risk", [
        "deposit_balance", {"attribute": "loan_balance", "view": "band"}, "credit_grade",
        "annual_income", "mobile_phone"])
    body = response.json()
    assert released(response) == {
        "deposit_balance": True,  # least revealing view the rule allows: has_deposit
        "loan_balance": {"gte": 100_000_000, "lt": 300_000_000},
        "credit_grade": {"gte": 1, "lt": 4},
        "annual_income": {"gte": 60_000_000, "lt": 100_000_000},
    }
    assert reasons(response) == {"mobile_phone": "no_rule"}
    assert body["outcome"] == "partial"
    assert body["customer"]["pseudonym"].startswith("p1_")
    assert body["policy_version"] == gw.services.policy.current.version
    assert body["released"]["deposit_balance"]["view"] == "has_deposit"
    assert body["terms"]["retention_days"] > 0 and body["terms"]["legal_basis"]
    assert response.headers["x-log-index"] == str(body["log_index"])
    assert "김민준" not in response.text and "23500000" not in response.text


def test_access_record_written_with_its_index(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query("card-risk", customer.ref, "credit_risk",
                        ["credit_grade", "email"], **{"X-Forwarded-For": "10.0.0.1"})
    body = response.json()
    record = json.loads(gw.services.access_log.record(body["log_index"]))
    assert record["index"] == body["log_index"]
    assert record["kind"] == "query" and record["decision"] == "partial"
    assert record["actor"] == {"affiliate": "card", "system": "card-risk", "employee": "tester"}
    assert record["customer"] == customer.key
    assert record["purpose"] == "credit_risk"
    assert record["released"] == [{"attribute": "credit_grade", "view": "band",
                                   "rule": "card-credit-risk-from-bank", "consent": None,
                                   "use_by": body["released"]["credit_grade"]["use_by"]}]
    assert record["withheld"] == [{"attribute": "email", "reason": "no_rule"}]
    assert record["policy_version"] == body["policy_version"]


def test_pseudonym_round_trip_and_per_recipient(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW,
                            "securities": {"stock_holdings_value": 5_000_000,
                                           "investment_risk_profile": "위험중립형"}})
    first = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
    pseudonym = first["customer"]["pseudonym"]
    again = gw.query("card-risk", {"pseudonym": pseudonym}, "credit_risk", ["credit_grade"])
    assert again.json()["customer"]["pseudonym"] == pseudonym
    assert released(again) == released(
        gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]))
    other = gw.query("securities-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
    assert other["customer"]["pseudonym"] != pseudonym
    # another affiliate's pseudonym means nothing to this one
    assert_problem(gw.query("securities-risk", {"pseudonym": pseudonym}, "credit_risk",
                            ["credit_grade"]), 422, "unknown-pseudonym")


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("request_id", "log_index")}


def test_unknown_customer_reveals_nothing_about_other_affiliates(gw: Harness) -> None:
    nobody = generate_rrn(random.Random(99), birth=date(1975, 5, 5), sex=2)
    bank_only = gw.customer({"bank": BANK_ROW})  # exists in the group, not at the card company
    attrs = ["credit_grade", "deposit_balance"]
    a = gw.query("card-risk", {"rrn": nobody}, "credit_risk", attrs)
    b = gw.query("card-risk", bank_only.ref, "credit_risk", attrs)
    assert a.status_code == b.status_code == 200
    assert _without_ids(a.json()) == _without_ids(b.json())
    assert a.json()["customer"]["pseudonym"] is None
    assert set(reasons(a).values()) == {"customer_unknown"}
    assert a.json()["outcome"] == "deny"


def test_holding_sees_group_customers(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = gw.query("holding-analytics", customer.ref, "statistics_research",
                        ["birth_date", "address"])
    assert released(response) == {"birth_date": "30-39", "address": "서울특별시"}


@pytest.mark.parametrize(
    ("system", "purpose", "attribute", "reason"),
    [
        ("card-risk", "credit_risk", "email", "no_rule"),  # no rule names it
        ("card-risk", "statistics_research", "birth_date", "no_rule"),  # no card rule at all
        ("card-marketing", "credit_risk", "credit_grade", "system_not_permitted"),
        ("card-risk", "credit_risk", {"attribute": "deposit_balance", "view": "exact"},
         "view_not_allowed"),  # the rule allows bands, not the figure
    ],
)
def test_default_deny(gw: Harness, system: str, purpose: str, attribute: Any,
                      reason: str) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query(system, customer.ref, purpose, [attribute])
    assert released(response) == {}
    assert list(reasons(response).values()) == [reason]
    assert response.json()["outcome"] == "deny"
    record = json.loads(gw.services.access_log.record(response.json()["log_index"]))
    assert record["decision"] == "deny"  # a denied request is logged too


def test_no_data_when_owner_holds_nothing(gw: Harness) -> None:
    customer = gw.customer({"bank": {**BANK_ROW, "annual_income": None}, "card": CARD_ROW})
    response = gw.query("card-risk", customer.ref, "credit_risk", ["annual_income"])
    assert reasons(response) == {"annual_income": "no_data"}


class Clock:
    """The gateway's clock in a test; tokens are minted at the same moment."""

    def __init__(self, gw: Harness) -> None:
        self.gw = gw
        gw.now = datetime.now(timezone.utc)

    @property
    def now(self) -> datetime:
        assert self.gw.now is not None
        return self.gw.now

    def advance(self, delta: timedelta) -> None:
        self.gw.now = self.now + delta


@pytest.fixture
def clock(gw: Harness) -> Iterator[Clock]:
    """Lets a test move the gateway's clock (the decision takes time as an input)."""
    moment = Clock(gw)
    gw.client.app.dependency_overrides[request_time] = lambda: moment.now
    yield moment
    gw.client.app.dependency_overrides.pop(request_time, None)
    gw.now = None


def grant(gw: Harness, customer: Any, *, recipient: str = "card", purpose: str = "marketing_sms",
          categories: list[str] | None = None, channel: str | None = "sms",
          expires_at: datetime | None = None) -> Any:
    body: dict[str, Any] = {
        "customer": customer.ref, "recipient": recipient, "purpose": purpose,
        "categories": categories or ["identity", "contact", "financial"],
        "channel": channel, "evidence_ref": "app-consent-form/2026/000123",
        "refusal_right_notified": True,
    }
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    return gw.client.post("/v1/consents", json=body, headers=gw.auth("bank-callcenter"))


MARKETING = ["mobile_phone", "birth_date", "address", "name"]


def test_marketing_needs_consent_and_withdrawal_is_immediate(gw: Harness,
                                                             clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    before = gw.query("card-marketing", customer.ref, "marketing_sms", MARKETING)
    assert released(before) == {}
    assert set(reasons(before).values()) == {"no_consent"}

    granted = grant(gw, customer)
    assert granted.status_code == 201, granted.text
    consent = granted.json()["consent"]
    assert consent["status"] == "active" and consent["pseudonym"].startswith("p1_")

    after = gw.query("card-marketing", customer.ref, "marketing_sms", MARKETING)
    assert released(after) == {"mobile_phone": "010-2345-6789", "birth_date": "30-39",
                               "address": "서울특별시", "name": "김*준"}
    assert after.json()["consent_ids"] == [consent["id"]]

    withdrawn = gw.client.post(f"/v1/consents/{consent['id']}/withdraw",
                               json={"customer": customer.ref},
                               headers=gw.auth("bank-callcenter"))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["consent"]["status"] == "withdrawn"
    clock.advance(timedelta(microseconds=1))
    next_query = gw.query("card-marketing", customer.ref, "marketing_sms", MARKETING)
    assert released(next_query) == {}
    assert set(reasons(next_query).values()) == {"consent_withdrawn"}


def test_consent_expiry_takes_effect(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer, expires_at=clock.now + timedelta(days=30)).status_code == 201
    assert "mobile_phone" in released(
        gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"]))
    clock.advance(timedelta(days=31))
    late = gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"])
    assert reasons(late) == {"mobile_phone": "consent_expired"}


def test_consent_must_name_recipient_and_channel(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert_problem(grant(gw, customer, channel="email"), 422, "consent-invalid")
    assert_problem(grant(gw, customer, recipient="group"), 422, "consent-invalid")
    # consent for another recipient does not cover the card company
    assert grant(gw, customer, recipient="securities", purpose="marketing_phone",
                 channel="agent_call").status_code == 201
    response = gw.query("card-marketing", customer.ref, "marketing_sms", ["mobile_phone"])
    assert reasons(response) == {"mobile_phone": "no_consent"}


def test_consent_categories_are_per_attribute(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer, categories=["contact"]).status_code == 201
    response = gw.query("card-marketing", customer.ref, "marketing_sms",
                        ["mobile_phone", "deposit_balance"])
    assert set(released(response)) == {"mobile_phone"}
    assert reasons(response) == {"deposit_balance": "no_consent"}


def test_consent_calls_need_permission_and_are_listed(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    denied = gw.client.post("/v1/consents/search", json={"customer": customer.ref},
                            headers=gw.auth("card-risk"))
    assert_problem(denied, 403, "forbidden")
    assert grant(gw, customer).status_code == 201
    listed = gw.client.post("/v1/consents/search", json={"customer": customer.ref},
                            headers=gw.auth("bank-app"))
    assert listed.status_code == 200, listed.text
    assert [c["purpose"] for c in listed.json()["consents"]] == ["marketing_sms"]
    record = json.loads(gw.services.access_log.record(listed.json()["log_index"]))
    assert record["kind"] == "consent.read" and record["count"] == 1


def test_openapi_is_complete(gw: Harness) -> None:
    spec = gw.client.get("/openapi.json").json()
    assert {"/v1/queries", "/v1/consents", "/v1/consents/{consent_id}/withdraw",
            "/v1/consents/search", "/v1/log/checkpoint", "/v1/log/proofs/inclusion",
            "/v1/log/proofs/consistency", "/v1/log/records"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert {"QueryIn", "QueryOut", "ConsentIn", "ConsentOut", "WithheldOut"} <= set(schemas)
    reason_enum = schemas["Reason"]["enum"]
    assert "consent_withdrawn" in reason_enum and "customer_unknown" in reason_enum
    assert "/unsafe/baseline" not in spec["paths"]


def test_every_operation_documents_its_problems_and_the_token(gw: Harness) -> None:
    spec = gw.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["systemToken"]["scheme"] == "bearer"
    operations = [(path, op) for path, ops in spec["paths"].items() if path.startswith("/v1/")
                  for op in ops.values()]
    assert len(operations) >= 10
    for path, op in operations:
        assert op["security"] == [{"systemToken": []}], path
        for status in ("400", "401", "403", "404", "413", "415", "422", "503"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (path, status)
    # every reference resolves
    text = json.dumps(spec)
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in spec["components"]["schemas"], ref
