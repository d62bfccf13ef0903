"""A token is used up by whatever its request came to: an answer, a refusal, or a bad body.

The query path claims the token id in the commit of its access record (issue #9), so these
cases check that no way through the path leaves a verified token usable a second time, and
that each refusal of a replay names the system that presented it.
"""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import BANK_ROW, Harness
from tests.api.test_api_errors import assert_problem


def _post(gw: Harness, token: str, body: object) -> Any:
    return gw.client.post("/v1/queries", json=body, headers={"Authorization": f"Bearer {token}"})


def _record(gw: Harness, answer: Any) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(gw.services.access_log.record(answer.json()["log_index"]))
    return record


def _good_body(gw: Harness) -> dict[str, Any]:
    customer = gw.customer({"bank": BANK_ROW})
    return {"customer": customer.ref, "purpose": "credit_risk", "attributes": ["credit_grade"]}


def test_a_replay_is_refused_and_recorded_with_the_system_that_presented_it(gw: Harness) -> None:
    token, body = gw.token("card-risk"), _good_body(gw)
    assert _post(gw, token, body).status_code == 200
    again = _post(gw, token, body)
    assert_problem(again, 401, "token-replayed")
    record = _record(gw, again)
    assert record["kind"] == "refused" and record["problem"] == "token-replayed"
    assert record["actor"]["system"] == "card-risk"  # not null: the token's signature held


def test_a_body_that_fails_the_schema_uses_the_token_up(gw: Harness) -> None:
    token = gw.token("card-risk")
    bad = _post(gw, token, {"customer": {}, "purpose": "credit_risk", "attributes": []})
    assert_problem(bad, 422, "validation")
    refused = _record(gw, bad)  # the schema refusal is itself on record, naming the caller
    assert refused["problem"] == "validation" and refused["actor"]["system"] == "card-risk"
    assert_problem(_post(gw, token, _good_body(gw)), 401, "token-replayed")


def test_a_refused_query_uses_the_token_up(gw: Harness) -> None:
    token = gw.token("card-risk")
    refused = _post(gw, token, {"customer": {"rrn": "901332-1234567"}, "purpose": "credit_risk",
                                "attributes": ["credit_grade"]})  # month 13: malformed
    assert refused.status_code == 422, refused.text
    assert_problem(_post(gw, token, _good_body(gw)), 401, "token-replayed")


def test_a_route_without_its_own_record_claims_the_token_first(gw: Harness) -> None:
    token = gw.token("holding-audit")
    headers = {"Authorization": f"Bearer {token}"}
    assert gw.client.get("/v1/log/checkpoint", headers=headers).status_code == 200
    again = gw.client.get("/v1/log/checkpoint", headers=headers)
    assert_problem(again, 401, "token-replayed")


def test_a_schema_refusal_on_another_route_is_recorded_with_its_caller(gw: Harness) -> None:
    response = gw.client.post("/v1/consents", json={"customer": {}},
                              headers=gw.auth("bank-callcenter"))
    assert_problem(response, 422, "validation")
    record = _record(gw, response)
    assert (record["kind"], record["problem"]) == ("refused", "validation")
    assert record["actor"]["system"] == "bank-callcenter"
