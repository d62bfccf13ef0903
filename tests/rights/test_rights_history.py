"""The access history over HTTP: equal to what the log holds, proved, paged, never leaking."""

from __future__ import annotations

import io
import json
from typing import Any

import pypdf
import pytest

from gateway_verify.history import verify_history
from gateway_verify.korean import UNTRANSLATED, translate
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.marketing_helpers import grant, register_stop
from tests.api.test_api_errors import assert_problem
from tests.rights.helpers import history, log_records, ok, trusted

HIDDEN_PURPOSE = "fraud_reidentification"


def _busy_customer(gw: Harness) -> Any:
    """A customer with queries (released, partly, denied), a consent, a stop, a hidden
    re-identification, and another customer's records in between."""
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    other = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert gw.query("card-risk", customer.ref, "credit_risk",
                    ["credit_grade", "mobile_phone"]).status_code == 200
    assert gw.query("card-risk", other.ref, "credit_risk", ["credit_grade"]).status_code == 200
    assert gw.query("bank-callcenter", customer.ref, "customer_service",
                    ["name"]).status_code == 200
    assert grant(gw, customer.ref).status_code == 201
    assert register_stop(gw, customer.ref, scope="group").status_code == 201
    first = gw.query("bank-fraud", customer.ref, "fraud_prevention", ["monthly_card_spend"])
    pseudonym = first.json()["customer"]["pseudonym"]
    reid = gw.query("bank-fraud", {"pseudonym": pseudonym}, HIDDEN_PURPOSE,
                    [{"attribute": "rrn", "view": "exact"}])
    assert reid.status_code == 200, reid.text
    return customer


def test_history_equals_what_the_log_holds(gw: Harness) -> None:
    customer = _busy_customer(gw)
    doc = ok(history(gw, customer.ref, limit=200))
    expected = [(i, data) for i, data in log_records(gw, customer.key, doc["tree_size"])
                if json.loads(data).get("purpose") != HIDDEN_PURPOSE]
    assert [(e["log_index"], e["record"].encode()) for e in doc["entries"]] == expected
    kinds = [e["kind"]["id"] for e in doc["entries"]]
    assert {"query", "consent.grant", "contact_stop.register"} <= set(kinds)
    # hidden: counted under the policy's rule, with its law, never silently dropped
    assert doc["hidden"] == [{
        "purpose": HIDDEN_PURPOSE, "count": 1,
        "legal_basis": gw.services.policy.current.purposes[HIDDEN_PURPOSE]  # type: ignore[index]
        .history_exemption.legal_basis,  # type: ignore[union-attr]
        "reason_ko": "의심거래보고 관련 조사는 법률상 본인에게 알릴 수 없습니다",
        "reason_en": "investigations tied to a suspicious-transaction report may not be "
                     "disclosed to the customer by law"}]
    assert doc["hidden_total"] == 1
    assert doc["next_cursor"] is None
    card = next(e for e in doc["entries"] if e["system"]["id"] == "card-risk")
    assert card["affiliate"] == {"id": "card", "name_ko": "한빛카드", "name_en": "Hanbit Card"}
    assert card["purpose"]["id"] == "credit_risk" and "금융지주회사법" in card["purpose"]["legal_basis"]
    assert [r["id"] for r in card["released"]] == ["credit_grade"]
    assert card["withheld"][0]["id"] == "mobile_phone"
    assert card["withheld"][0]["reason"]["name_ko"] == "허용 규칙 없음"
    assert card["time_kst"].endswith(" KST") and card["outcome"]["id"] == "partial"


def test_every_proof_verifies_with_the_verifier(gw: Harness) -> None:
    customer = _busy_customer(gw)
    response = history(gw, customer.ref)
    report = verify_history(response.content, trusted(gw))
    assert report.ok, report.findings
    assert report.entries == len(response.json()["entries"]) > 0 and report.hidden == 1


@pytest.mark.parametrize("tamper, finding", [
    # one byte of a record: no longer the leaf the checkpoint's tree holds
    (lambda d: d["entries"][0].update(record=d["entries"][0]["record"].replace(
        '"kind"', '"kinD"')), "was modified: it is not the record"),
    # what the entry says, against its (proved) record
    (lambda d: d["entries"][0]["system"].update(id="holding-audit"),
     "does not match its record: `system`"),
    (lambda d: d["entries"].reverse(), "entries out of order"),
    (lambda d: d.update(hidden_total=0), "hidden counts do not add up"),
    (lambda d: d.update(checkpoint=d["checkpoint"].replace("\n", "\n1", 1)),
     "checkpoint"),
])
def test_a_tampered_history_fails(gw: Harness, tamper: Any, finding: str) -> None:
    customer = _busy_customer(gw)
    doc = ok(history(gw, customer.ref))
    tamper(doc)
    report = verify_history(json.dumps(doc).encode(), trusted(gw))
    assert not report.ok
    assert any(finding in f for f in report.findings), report.findings
    assert all(not translate(f).startswith(UNTRANSLATED) for f in report.findings)


def test_pagination_is_complete_and_stable_while_the_log_grows(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    for _ in range(7):
        assert gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]
                        ).status_code == 200
    whole = ok(history(gw, customer.ref, limit=200))
    pages = [ok(history(gw, customer.ref, limit=3))]
    while pages[-1]["next_cursor"]:
        # the log grows between pages (new queries, and each look-up is a record itself)
        gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
        pages.append(ok(history(gw, customer.ref, limit=3, cursor=pages[-1]["next_cursor"])))
    walked = [e["log_index"] for p in pages for e in p["entries"]]
    first_size = pages[0]["tree_size"]
    assert all(p["tree_size"] == first_size and p["checkpoint"] == pages[0]["checkpoint"]
               for p in pages)
    assert walked == [i for i, _ in log_records(gw, customer.key, first_size)]
    assert len(walked) == len(set(walked)) and len(pages) >= 3
    # the earlier whole-history look-up is an entry of the later one
    assert whole["log_index"] in walked
    for page in pages:
        assert verify_history(json.dumps(page).encode(), trusted(gw)).ok


def test_the_look_up_is_itself_an_access_record(gw: Harness) -> None:
    customer = _busy_customer(gw)
    response = history(gw, customer.ref, system="bank-app")
    doc = ok(response)
    record = json.loads(gw.services.access_log.record(doc["log_index"]))
    assert response.headers["x-log-index"] == str(doc["log_index"])
    assert record["kind"] == "history" and record["customer"] == customer.key
    assert record["actor"]["system"] == "bank-app"
    assert record["listed"] == [e["log_index"] for e in doc["entries"]]
    assert record["hidden"] == {HIDDEN_PURPOSE: 1} and record["tree_size"] == doc["tree_size"]
    later = ok(history(gw, customer.ref))
    assert later["entries"][0]["log_index"] == doc["log_index"]
    assert later["entries"][0]["kind"]["name_ko"] == "이용·제공 내역 조회"


def test_by_the_callers_pseudonym(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    query = gw.query("bank-callcenter", customer.ref, "customer_service", ["name"])
    pseudonym = query.json()["customer"]["pseudonym"]
    doc = ok(history(gw, {"pseudonym": pseudonym}))
    assert doc["customer"] == {"pseudonym": pseudonym, "rrn_masked": None}
    assert [e["log_index"] for e in doc["entries"]] == [query.json()["log_index"]]


def _comparable(response: Any) -> tuple[int, dict[str, Any]]:
    body = dict(response.json())
    for varying in ("request_id", "instance", "log_index"):
        body.pop(varying, None)
    return response.status_code, body


def test_unknown_rrn_and_another_affiliates_customer_answer_alike(gw: Harness) -> None:
    cards_only = gw.customer({"card": CARD_ROW})
    nobody = gw.customer({"card": CARD_ROW})
    with gw.services.gateway_engine.begin() as conn:  # nobody holds this person any more
        conn.exec_driver_sql("DELETE FROM relationships WHERE customer_key = ?", (nobody.key,))
        conn.exec_driver_sql("DELETE FROM customers WHERE customer_key = ?", (nobody.key,))
    other = history(gw, cards_only.ref, system="bank-app")
    unknown = history(gw, nobody.ref, system="bank-app")
    assert _comparable(other) == _comparable(unknown)
    assert other.status_code == 404
    assert other.headers["content-type"] == unknown.headers["content-type"]
    # the group customer centre serves every group customer
    assert ok(history(gw, cards_only.ref, system="holding-customer-center"))["entries"] == []


def test_without_the_permission_403_recorded(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = history(gw, customer.ref, system="card-risk")
    body = assert_problem(response, 403, "forbidden")
    refusal = json.loads(gw.services.access_log.record(body["log_index"]))
    assert refusal["kind"] == "refused" and refusal["actor"]["system"] == "card-risk"
    assert refusal["customer"] is None  # refused before the customer was looked up


@pytest.mark.parametrize("body, slug", [
    ({"cursor": "not a cursor!"}, "history-cursor-invalid"),
    ({"cursor": "eyJ2IjoxLCJuIjo1fQ"}, "history-cursor-invalid"),  # base64 json, wrong shape
    ({"cursor": "880314-1234567"}, "national-id-in-text"),  # an rrn, any notation
    ({"cursor": "8803141234567"}, "national-id-in-text"),  # an rrn where a cursor goes
    ({"since": "2026-12-01T00:00:00+09:00", "until": "2026-01-01T00:00:00+09:00"},
     "history-period-invalid"),
    ({"since": "2026-01-01T00:00:00"}, "history-period-invalid"),  # no offset
    ({"since": "yesterday-ish"}, "validation"),
    ({"limit": 0}, "validation"),
    ({"limit": 201}, "validation"),
])
def test_bad_input_is_422_without_echo(gw: Harness, body: dict[str, Any], slug: str) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = history(gw, customer.ref, **body)
    assert_problem(response, 422, slug)
    for value in body.values():
        if isinstance(value, str):
            assert value not in response.text
    assert customer.rrn not in response.text


def test_a_cursor_from_a_size_never_signed_is_refused(gw: Harness) -> None:
    from gateway.rights.history import Cursor, Period
    from datetime import UTC, datetime

    customer = gw.customer({"bank": BANK_ROW})
    forged = Cursor(10**9, 5, Period(datetime(2025, 1, 1, tzinfo=UTC),
                                     datetime(2026, 1, 1, tzinfo=UTC))).encode()
    assert_problem(history(gw, customer.ref, cursor=forged), 422, "history-cursor-invalid")


def _rrn_forms(rrn: str) -> list[str]:
    digits = rrn.replace("-", "")
    return [digits, f"{digits[:6]}-{digits[6:]}", digits[6:]]


def test_the_documents_show_the_masked_rrn_only(gw: Harness) -> None:
    customer = _busy_customer(gw)
    masked = customer.rrn.replace("-", "")[:7]
    masked = f"{masked[:6]}-{masked[6]}******"
    as_json = history(gw, customer.ref)
    as_html = history(gw, customer.ref, system="bank-app")
    html = gw.client.post("/v1/customers/access-history?format=html",
                          headers=gw.auth("bank-callcenter"), json={"customer": customer.ref})
    pdf = gw.client.post("/v1/customers/access-history", json={"customer": customer.ref},
                         headers={**gw.auth("bank-callcenter"), "Accept": "application/pdf"})
    assert as_json.json()["customer"]["rrn_masked"] == masked
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "개인신용정보 이용·제공 내역 조회" in html.text and masked in html.text
    assert "한빛카드" in html.text and "KST" in html.text and "법령에 따라" in html.text
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "개인신용정보 이용·제공 내역 조회" in text and masked in text and "한빛카드" in text
    for body in (as_json.text, as_html.text, html.text, text):
        for form in _rrn_forms(customer.rrn):
            assert form not in body


def test_campaigns_that_included_the_customer_are_listed_with_proofs(gw: Harness) -> None:
    from tests.api.test_api_campaigns import lines, run

    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer.ref).status_code == 201
    response = run(gw)
    lines(response)
    campaign = response.headers["x-campaign-id"]
    doc = ok(history(gw, customer.ref))
    (listed,) = [c for c in doc["campaigns"] if c["campaign"] == campaign]
    assert listed["purpose"]["id"] == "marketing_sms" and listed["channel"]["id"] == "sms"
    assert listed["affiliate"]["name_ko"] == "한빛카드" and listed["time_kst"].endswith("KST")
    assert json.loads(listed["leaf"])["customer_key"] == customer.key
    report = verify_history(json.dumps(doc).encode(), trusted(gw))
    assert report.ok and report.campaigns >= 1, report.findings
    # a leaf of another customer does not pass for this one
    listed["leaf_index"] = listed["leaf_index"] ^ 1
    broken = verify_history(json.dumps(doc).encode(), trusted(gw))
    assert any("inclusion does not hold" in f for f in broken.findings), broken.findings
    # someone without consent was not in it
    bystander = gw.customer({"bank": BANK_ROW})
    assert ok(history(gw, bystander.ref))["campaigns"] == []
