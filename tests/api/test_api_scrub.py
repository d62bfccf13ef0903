"""Free text over HTTP: the call-centre memo leaves only scrubbed, with counts in the log."""

from __future__ import annotations

import json
import socket
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from gateway.policy.views.scrubbed import shared_scrubber
from pseudonymizer.rrn import generate_rrn
from pseudonymizer.scrub import ScrubError
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.test_api_errors import assert_problem

FULL_WIDTH = str.maketrans({str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "\uff0d"})


def _hyphenated(rrn: str) -> str:
    return f"{rrn[:6]}-{rrn[6:]}"


def _memo_customer(gw: Harness, memo: str, **held: dict[str, Any]) -> Any:
    """A bank+card customer whose memo is `memo` (`{rrn}` is filled with their own RRN)."""
    customer = gw.customer({"bank": dict(BANK_ROW, callcenter_memo="placeholder"),
                            "card": CARD_ROW, **held})
    engine = gw.services.affiliates.engine("bank")
    with engine.begin() as conn:
        conn.execute(text("UPDATE bank_customers SET callcenter_memo = :m WHERE customer_key = :k"),
                     {"m": memo.format(rrn=customer.rrn,
                                       wide=_hyphenated(customer.rrn).translate(FULL_WIDTH)),
                      "k": customer.key})
    return customer


def _record(gw: Harness, index: int) -> dict[str, Any]:
    return json.loads(gw.services.access_log.record(index))


def test_memo_is_scrubbed_with_the_recipients_pseudonym(gw: Harness) -> None:
    memo = ("김민준 고객 주민번호 {wide}로 본인확인, 연락처 010-9876-5432 / "
            "minjun.kim@example.com 으로 회신. 카드 4111-1111-1111-1111 분실, 민준님 재통화 요망. "
            "2024-03-15 방문 예정, 이체 1,250,000원")
    customer = _memo_customer(gw, memo)
    response = gw.query("card-risk", customer.ref, "customer_service", ["callcenter_memo"])
    assert response.status_code == 200, response.text
    body = response.json()
    released = body["released"]["callcenter_memo"]
    value = released["value"]
    assert released["view"] == "scrubbed"
    # the RRN became the card company's own pseudonym of this customer
    assert body["customer"]["pseudonym"] in value
    assert "<이름> 고객" in value and "<이름>님" in value  # full name and given name + 님
    assert "***-****-5432" in value  # customer_service keeps the last four digits
    assert "m***@example.com" in value
    assert "****-****-****-1111" in value
    assert "2024-03-15" in value and "1,250,000원" in value  # look-alikes stay
    assert released["scrubbed"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1, "KR_PHONE": 1,
                                    "KR_RRN": 1, "PERSON": 2}
    for leaked in ("김민준", "9876", "minjun.kim", customer.rrn[7:]):
        assert leaked not in value
    record = _record(gw, body["log_index"])
    assert record["released"][0]["scrubbed"] == released["scrubbed"]
    raw = gw.services.access_log.record(body["log_index"]).decode()
    assert customer.rrn[7:] not in raw and "김민준" not in raw and "9876-5432" not in raw


def test_rrn_of_someone_else_becomes_a_placeholder(gw: Harness) -> None:
    """A relative's number, or a customer the recipient does not hold: never a pseudonym."""
    other = gw.customer({"bank": dict(BANK_ROW, name="이서연")})  # bank only, not card
    stranger = generate_rrn(gw.rng, date(1961, 5, 5), 2)
    customer = _memo_customer(
        gw, f"배우자 주민번호 {_hyphenated(other.rrn)}, 모친 {stranger} 상속 문의")
    body = gw.query("card-risk", customer.ref, "customer_service", ["callcenter_memo"]).json()
    value = body["released"]["callcenter_memo"]["value"]
    assert value.count("<주민등록번호>") == 2
    assert other.rrn[7:] not in value and stranger[7:] not in value
    assert body["released"]["callcenter_memo"]["scrubbed"] == {"KR_RRN": 2}


def test_memo_without_identifiers_reports_no_counts(gw: Harness) -> None:
    customer = _memo_customer(gw, "카드 한도 상향 문의")
    released = gw.query("card-risk", customer.ref, "customer_service",
                        ["callcenter_memo"]).json()["released"]["callcenter_memo"]
    assert released == {"view": "scrubbed", "value": "카드 한도 상향 문의",
                        "rule": "card-customer-service-memo", "consent": None, "scrubbed": {},
                        "contact_window": None, "use_by": released["use_by"]}


def test_there_is_no_exact_view_of_free_text(gw: Harness) -> None:
    customer = _memo_customer(gw, "주민번호 {rrn}")
    response = gw.query("card-risk", customer.ref, "customer_service",
                        [{"attribute": "callcenter_memo", "view": "exact"}])
    assert_problem(response, 422, "unknown-view")
    assert customer.rrn not in response.text


def test_memo_is_not_released_for_other_purposes(gw: Harness) -> None:
    customer = _memo_customer(gw, "연락처 010-9876-5432")
    body = gw.query("card-risk", customer.ref, "credit_risk",
                    ["credit_grade", "callcenter_memo"]).json()
    assert "callcenter_memo" not in body["released"]
    assert "9876" not in json.dumps(body)


def test_scrubber_failure_releases_nothing(gw: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = _memo_customer(gw, "주민번호 {rrn}")

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ScrubError("analysis failed: `RuntimeError`")

    monkeypatch.setattr(shared_scrubber(), "scrub", broken)
    response = gw.query("card-risk", customer.ref, "customer_service", ["callcenter_memo"])
    assert_problem(response, 500, "scrub-failed")
    assert customer.rrn not in response.text and customer.rrn[7:] not in response.text


def test_scrubbing_runs_with_outside_network_blocked(gw: Harness,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No public-suffix list, no spaCy model: any non-loopback socket fails the test."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (str(host).startswith("127.") or host in ("::1", "localhost")
                or self.family == socket.AF_UNIX):
            attempts.append(str(host))
            raise OSError("network access blocked by test")
        return real_connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "127.0.0.1", "localhost", "::1"):
            attempts.append(str(host))
            raise OSError("dns blocked by test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    customer = _memo_customer(gw, "메일 a.b@example.co.kr, 주민번호 {rrn}")
    response = gw.query("card-risk", customer.ref, "customer_service", ["callcenter_memo"])
    assert response.status_code == 200, response.text
    assert response.json()["released"]["callcenter_memo"]["scrubbed"] == {
        "EMAIL_ADDRESS": 1, "KR_RRN": 1}
    assert attempts == []
