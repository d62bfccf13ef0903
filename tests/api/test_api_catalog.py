"""`GET /v1/catalog` lists exactly what the calling system can get, as the decision sees it."""

from __future__ import annotations

from datetime import datetime, timezone

from gateway.domain import AttributeId, AttributeRequest, Caller, DecisionRequest, PurposeId
from gateway.policy import decide
from tests.api.conftest import Harness
from tests.api.test_api_errors import assert_problem


def test_the_catalog_agrees_with_the_decision(gw: Harness) -> None:
    response = gw.client.get("/v1/catalog", headers=gw.auth("card-risk"))
    assert response.status_code == 200, response.text
    catalog = response.json()
    policy = gw.services.policy.current
    assert (catalog["system"], catalog["affiliate"]) == ("card-risk", "card")
    assert catalog["policy_version"] == policy.version
    listed = {p["purpose"]: p for p in catalog["purposes"]}
    assert "credit_risk" in listed and "statistics_research" not in listed  # no rule for it
    system = policy.systems["card-risk"]  # type: ignore[index]
    caller = Caller(system.affiliate, system.id, "e", "t")
    now = datetime.now(timezone.utc)
    for purpose in listed.values():
        assert purpose["name_ko"] and purpose["legal_basis"]
        for entry in purpose["attributes"]:
            default = [v["view"] for v in entry["views"] if v["default"]]
            assert len(default) == 1 and entry["views"][0]["default"]
            if entry["needs_consent"]:
                continue  # released only with a consent: the decision withholds it here
            decision = decide(policy, DecisionRequest(
                caller=caller, purpose=PurposeId(purpose["purpose"]),
                attributes=(AttributeRequest(AttributeId(entry["attribute"])),),
                customer_known=True, now=now), [])
            # what the catalog calls the default is what a request naming no view gets
            assert [r.view for r in decision.released] == default, entry["attribute"]


def test_the_catalog_needs_a_token(gw: Harness) -> None:
    assert_problem(gw.client.get("/v1/catalog"), 401, "token-missing")
