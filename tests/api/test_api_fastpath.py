"""`POST /v1/queries` served by the ASGI fast path answers exactly as the FastAPI route does."""

from __future__ import annotations

import json
import random
from datetime import date
from collections.abc import Callable
from typing import Any

import pytest

from gateway.api import fastpath
from gateway.api.routes import queries
from pseudonymizer.rrn import generate_rrn
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness

VOLATILE = ("request_id", "log_index", "instance")


def comparable(response: Any) -> tuple[int, str, Any]:
    """Status, media type and body without what differs between two requests."""
    body = response.json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
    return response.status_code, response.headers["content-type"], body


@pytest.fixture
def through_fastapi(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make the fast path hand every request to FastAPI (as it does a body it cannot bind)."""
    return lambda: monkeypatch.setattr(fastpath, "_parse", lambda body: None)


def test_a_valid_query_is_answered_by_the_fast_path(gw: Harness,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    route = queries.query

    async def spy(body: Any, call: Any) -> Any:
        calls.append(body)
        return await route(body, call)

    monkeypatch.setattr(queries, "query", spy)  # the FastAPI route keeps the original
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    assert response.status_code == 200, response.text
    assert len(calls) == 1
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert response.headers["x-log-index"] == str(response.json()["log_index"])


def test_a_body_failing_the_schema_is_handed_to_fastapi(gw: Harness,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(queries, "query", lambda *a: calls.append(a))
    response = gw.client.post("/v1/queries", headers=gw.auth("card-risk"),
                              json={"customer": {}, "purpose": "credit_risk", "attributes": []})
    assert response.status_code == 422
    assert calls == []  # not answered by the fast path
    record = json.loads(gw.services.access_log.record(response.json()["log_index"]))
    assert record["actor"]["system"] == "card-risk"  # the refusal is recorded, naming the caller


@pytest.mark.parametrize(("case", "status"), [
    ("allowed-by-rrn", 200), ("allowed-by-pseudonym", 200), ("denied-purpose", 200),
    ("unknown-attribute", 422), ("no-token", 401), ("bad-signature", 401),
    ("replayed-token", 401), ("unknown-customer", 200),
])
def test_fast_path_and_fastapi_answer_alike(gw: Harness, case: str, status: int,
                                            through_fastapi: Callable[[], None]) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    first = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    pseudonym = first.json()["customer"]["pseudonym"]

    def send() -> Any:
        ref: dict[str, str] = customer.ref
        purpose, attributes = "credit_risk", ["credit_grade", "annual_income"]
        headers = gw.auth("card-risk")
        if case == "allowed-by-pseudonym":
            ref = {"pseudonym": pseudonym}
        elif case == "denied-purpose":
            purpose = "marketing_sms"
        elif case == "unknown-attribute":
            attributes = ["credit_grade", "no_such_attribute"]
        elif case == "no-token":
            headers = {}
        elif case == "bad-signature":
            token = headers["Authorization"]
            headers = {"Authorization": token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA"
                                                      else "BBBBBB")}
        elif case == "unknown-customer":
            ref = {"rrn": generate_rrn(random.Random(99), birth=date(1975, 5, 5), sex=2)}
        body = {"customer": ref, "purpose": purpose, "attributes": attributes}
        if case == "replayed-token":
            gw.client.post("/v1/queries", headers=headers, json=body)
        return gw.client.post("/v1/queries", headers=headers, json=body)

    fast = comparable(send())
    through_fastapi()
    slow = comparable(send())
    assert fast == slow
    assert fast[0] == status, fast


# bodies the fast path's orjson reads otherwise than FastAPI's json.loads, or not at all:
# the answer must be the one FastAPI gives
@pytest.mark.parametrize(("case", "status"), [
    ("utf-16", 200),  # json.loads detects the encoding; orjson reads UTF-8 only
    ("nan", 422),  # json.loads reads NaN; orjson refuses it
    ("huge-number", 422),  # beyond 64 bits: an int to json.loads, a float to orjson
    ("duplicate-key", 200),  # the last one counts, for both
    ("lone-surrogate", 422),  # an escaped lone surrogate: json.loads reads it
])
def test_bodies_read_otherwise_get_fastapis_answer(gw: Harness, case: str, status: int,
                                                   through_fastapi: Callable[[], None]) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    rrn = json.dumps(customer.ref["rrn"])
    body = {
        "utf-16": f'{{"customer": {{"rrn": {rrn}}}, "purpose": "credit_risk", '
                  f'"attributes": ["credit_grade"]}}'.encode("utf-16"),
        "nan": f'{{"customer": {{"rrn": {rrn}}}, "purpose": NaN, '
               f'"attributes": ["credit_grade"]}}'.encode(),
        "huge-number": f'{{"customer": {{"rrn": {rrn}}}, "purpose": {"9" * 30}, '
                       f'"attributes": ["credit_grade"]}}'.encode(),
        "duplicate-key": f'{{"customer": {{"rrn": {rrn}}}, "purpose": "marketing_sms", '
                         f'"purpose": "credit_risk", "attributes": ["credit_grade"]}}'.encode(),
        "lone-surrogate": f'{{"customer": {{"rrn": {rrn}}}, "purpose": "credit_risk", '
                          f'"attributes": ["credit_grade", "x\\ud800"]}}'.encode(),
    }[case]

    def send() -> Any:
        return gw.client.post("/v1/queries", content=body, headers={
            **gw.auth("card-risk"), "content-type": "application/json"})

    fast = comparable(send())
    through_fastapi()
    slow = comparable(send())
    assert fast == slow
    assert fast[0] == status, fast
