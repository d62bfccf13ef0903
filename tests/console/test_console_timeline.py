"""The customer timeline: RRN posted, shown masked, the history in Korean, the look-up recorded."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from gateway.console.users import ConsoleUsers
from tests.api import conftest as api
from tests.api.conftest import BANK_ROW, CARD_ROW
from tests.console.conftest import PASSWORD, USERS, ConsoleHarness


def _customer(console: ConsoleHarness, *, card: bool = True) -> api.TestCustomer:
    gw = console.gw
    customer = gw.customer({"bank": BANK_ROW, **({"card": CARD_ROW} if card else {})})
    answer = gw.query("card-risk", customer.ref, "credit_risk", ["deposit_balance", "loan_balance"])
    assert answer.status_code == 200, answer.text
    return customer


def _look_up(console: ConsoleHarness, rrn: str) -> object:
    client = console.gw.client
    token = console.csrf(client.get("/console/timeline").text)
    return client.post("/console/timeline", data={"csrf_token": token, "rrn": rrn})


def test_agent_sees_the_history_masked_and_the_look_up_is_recorded(
        console: ConsoleHarness) -> None:
    customer = _customer(console)
    console.sign_in("call_centre_agent")
    response = _look_up(console, customer.rrn)
    text = response.text  # type: ignore[attr-defined]
    assert response.status_code == 200, text  # type: ignore[attr-defined]
    digits = customer.rrn.replace("-", "")
    assert f"{digits[:6]}-{digits[6]}******" in text
    assert digits not in text and customer.rrn not in text and digits[6:] not in text
    assert "신용위험 관리" in text or "credit_risk" not in text  # purpose by its Korean name
    assert "KST" in text and 'id="entries"' in text
    view = console.records("console.view")[-1]
    assert view["customer"] == customer.key and view["page"] == "timeline"
    assert view["actor"]["employee"] == USERS["call_centre_agent"]
    assert view["listed"]  # the query above is listed
    # the look-up itself shows in the next look-up, named in Korean
    again = _look_up(console, customer.rrn)
    assert "콘솔 화면 조회" in again.text  # type: ignore[attr-defined]
    # the RRN is in no record of the log
    log = console.gw.services.access_log
    assert all(digits.encode() not in r and customer.rrn.encode() not in r
               for r in log.records(0, log.size()))


def test_unknown_and_invalid_rrns(console: ConsoleHarness) -> None:
    console.sign_in("inspector")
    unknown = _look_up(console, "900101-1234568")
    assert unknown.status_code == 404  # type: ignore[attr-defined]
    assert "그룹에 등록된 고객이 아닙니다: 900101-1******" in unknown.text  # type: ignore[attr-defined]
    assert console.records("console.view")[-1]["customer"] is None
    bad = _look_up(console, "not a number <b>")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "not a number" not in bad.text  # type: ignore[attr-defined]


def test_agent_of_another_affiliate_sees_only_its_customers(console: ConsoleHarness) -> None:
    gw = console.gw
    customer = gw.customer({"bank": BANK_ROW})  # held by the bank only
    role = gw.services.policy.current.console_roles["call_centre_agent"]
    ConsoleUsers(gw.services.gateway_engine).add(
        username="card.agent", display_name="카드 상담원", role=role, affiliate="card",
        password=PASSWORD, now=datetime.now(timezone.utc))
    USERS["card_agent"] = "card.agent"
    try:
        console.sign_in("card_agent")
        refused = _look_up(console, customer.rrn)
        assert refused.status_code == 404  # type: ignore[attr-defined]  # same as unknown
        both = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
        assert _look_up(console, both.rrn).status_code == 200  # type: ignore[attr-defined]
    finally:
        del USERS["card_agent"]


def test_officer_may_not_open_the_timeline(console: ConsoleHarness) -> None:
    console.sign_in("privacy_officer")
    assert console.gw.client.get("/console/timeline").status_code == 403
    assert json.dumps(console.records("console.denied")[-1]["page"]) == '"timeline"'
