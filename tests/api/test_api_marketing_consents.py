"""Marketing consent over HTTP: per channel, night flag and contact window, reconfirmation, the
notice of the right to refuse, evidence without RRNs, and every group customer served."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.errors import LogWriteFailed, StoreUnavailable
from gateway.marketing.windows import ALL_DAY, DAYTIME
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.marketing_helpers import (
    INSURANCE_ROW,
    grant,
    query_via,
    record_at,
    second_process,
)
from tests.api.test_api_errors import assert_problem
from tests.api.test_api_queries import Clock, clock, reasons, released  # noqa: F401

SMS = ["name", "mobile_phone"]


def search(gw: Harness, ref: dict[str, str], system: str = "bank-app") -> list[dict[str, Any]]:
    response = gw.client.post("/v1/consents/search", json={"customer": ref},
                              headers=gw.auth(system))
    assert response.status_code == 200, response.text
    consents: list[dict[str, Any]] = response.json()["consents"]
    return consents


@pytest.mark.parametrize(("night", "window"), [(False, DAYTIME), (True, ALL_DAY)])
def test_night_flag_sets_the_contact_window(gw: Harness, night: bool, window: str) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    granted = grant(gw, customer.ref, night_contact=night)
    assert granted.status_code == 201, granted.text
    assert granted.json()["consent"]["night_contact"] is night
    assert record_at(gw, granted.json()["log_index"])["night_contact"] is night
    response = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
    body = response.json()
    assert set(released(response)) == {"name", "mobile_phone"}
    assert body["contact_window"] == window
    assert {item["contact_window"] for item in body["released"].values()} == {window}
    record = record_at(gw, body["log_index"])
    assert {item["contact_window"] for item in record["released"]} == {window}


def test_consent_is_per_channel(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer.ref).status_code == 201  # sms only
    email = gw.query("card-marketing", customer.ref, "marketing_email", ["email"])
    assert reasons(email) == {"email": "no_consent"}
    assert grant(gw, customer.ref, purpose="marketing_email", channel="email").status_code == 201
    email = gw.query("card-marketing", customer.ref, "marketing_email", ["email"])
    assert released(email) == {"email": "minjun.kim@example.com"}
    # a consent for the channel of another purpose is refused at grant time
    assert_problem(grant(gw, customer.ref, purpose="marketing_push", channel="sms"), 422,
                   "consent-invalid")


def test_unconfirmed_consent_stops_and_confirmation_restores(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    consent = grant(gw, customer.ref).json()["consent"]
    assert consent["confirmed_at"] == consent["granted_at"]
    clock.advance(timedelta(days=730))  # the shipped policy's reconfirm_days
    late = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
    assert reasons(late) == {"name": "consent_unconfirmed", "mobile_phone": "consent_unconfirmed"}
    assert [c["status"] for c in search(gw, customer.ref)] == ["unconfirmed"]

    confirmed = gw.client.post(f"/v1/consents/{consent['id']}/confirm", headers=gw.auth("bank-app"),
                               json={"customer": customer.ref, "refusal_right_notified": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["consent"]["status"] == "active"
    record = record_at(gw, confirmed.json()["log_index"])
    assert record["kind"] == "consent.confirm" and record["consent"] == consent["id"]
    clock.advance(timedelta(microseconds=1))
    again = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
    assert set(released(again)) == {"name", "mobile_phone"}


def test_confirmation_rules(gw: Harness, clock: Clock) -> None:
    alice = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    bob = gw.customer({"bank": BANK_ROW})
    consent_id = grant(gw, alice.ref).json()["consent"]["id"]

    def confirm(ref: dict[str, str], notified: bool = True) -> Any:
        return gw.client.post(f"/v1/consents/{consent_id}/confirm", headers=gw.auth("bank-app"),
                              json={"customer": ref, "refusal_right_notified": notified})

    assert_problem(confirm(alice.ref, notified=False), 422, "consent-invalid")
    assert_problem(confirm(bob.ref), 404, "consent-not-found")  # like an unknown id
    clock.advance(timedelta(seconds=1))
    gw.client.post(f"/v1/consents/{consent_id}/withdraw", json={"customer": alice.ref},
                   headers=gw.auth("bank-app"))
    clock.advance(timedelta(seconds=1))
    body = assert_problem(confirm(alice.ref), 422, "consent-invalid")
    assert "withdrawn" in body["detail"]


def test_marketing_consent_needs_the_refusal_notice(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    body = assert_problem(grant(gw, customer.ref, refusal_right_notified=False), 422,
                          "consent-invalid")
    assert "right to refuse" in body["detail"]
    assert search(gw, customer.ref) == []


def test_night_flag_is_for_marketing_only(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert_problem(grant(gw, customer.ref, purpose="customer_service", channel=None,
                         categories=["sensitive"], night_contact=True), 422, "consent-invalid")


@pytest.mark.parametrize("channel", [
    "fax",  # not in the vocabulary
    "phone",  # the old name of agent_call
    "app_push",  # an earlier draft's name of push
])
def test_unknown_channel_is_422_without_echo(gw: Harness, channel: str) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = grant(gw, customer.ref, channel=channel)
    body = assert_problem(response, 422, "unknown-channel")
    assert channel not in response.text
    assert "`agent_call`" in body["detail"] and "log_index" in body


@pytest.mark.parametrize("evidence", [
    "signed form {rrn}",  # as typed
    "form/{digits}",  # no hyphen, glued to a path
    "{masked}",  # masked after the 7th digit: still a birth date and sex
    "양식 {wide}",  # full-width digits
])
def test_evidence_holding_an_rrn_is_refused_without_echo(gw: Harness, evidence: str) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    digits = customer.rrn.replace("-", "")
    text = evidence.format(rrn=customer.rrn, digits=digits,
                           masked=f"{digits[:6]}-{digits[6]}******",
                           wide="".join(chr(0xFF10 + int(d)) for d in digits))
    response = grant(gw, customer.ref, evidence_ref=text)
    body = assert_problem(response, 422, "national-id-in-text")
    assert "`evidence_ref`" in body["detail"]
    assert digits[:6] not in response.text and text not in response.text
    assert search(gw, customer.ref) == []  # nothing stored


def test_every_group_customer_can_be_served(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"insurance": INSURANCE_ROW, "card": CARD_ROW})
    # the bank's channel still manages only the bank's customers
    assert_problem(grant(gw, customer.ref, recipient="insurance"), 404, "customer-unknown")
    own = grant(gw, customer.ref, system="insurance-callcenter", recipient="insurance",
                categories=["financial"])
    assert own.status_code == 201, own.text
    query = ["card_products"]
    sms = gw.query("insurance-marketing", customer.ref, "marketing_sms", query)
    assert released(sms) == {"card_products": True}

    group = grant(gw, customer.ref, system="holding-customer-center", recipient="card",
                  purpose="marketing_push", channel="push", categories=["identity"])
    assert group.status_code == 201, group.text
    pseudonym = group.json()["consent"]["pseudonym"]  # the holding's own pseudonym
    listed = search(gw, {"pseudonym": pseudonym}, system="holding-customer-center")
    assert {c["recipient"] for c in listed} == {"insurance", "card"}

    # the group channel withdraws the insurer's consent; the next query, anywhere, sees it
    # (the other process reads the real clock, which runs a little ahead of the test's)
    clock.advance(timedelta(microseconds=1))
    with second_process(gw) as other:
        withdrawn = gw.client.post(f"/v1/consents/{own.json()['consent']['id']}/withdraw",
                                   json={"customer": {"pseudonym": pseudonym}},
                                   headers=gw.auth("holding-customer-center"))
        assert withdrawn.status_code == 200, withdrawn.text
        after = query_via(other, gw, "insurance-marketing", customer.ref, "marketing_sms", query)
        assert reasons(after) == {"card_products": "consent_withdrawn"}


def test_openapi_lists_the_marketing_routes(gw: Harness) -> None:
    spec = gw.client.get("/openapi.json").json()
    assert {"/v1/consents/{consent_id}/confirm", "/v1/contact-stops",
            "/v1/contact-stops/{stop_id}/lift", "/v1/contact-stops/search"} <= set(spec["paths"])
    reason_enum = spec["components"]["schemas"]["Reason"]["enum"]
    assert {"consent_unconfirmed", "contact_stop"} <= set(reason_enum)


def test_a_consent_change_is_stored_only_after_its_record(gw: Harness,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    customer = gw.customer({"bank": BANK_ROW})

    async def broken(record: dict[str, Any], **_: Any) -> int:
        raise LogWriteFailed("access record could not be made durable")

    with monkeypatch.context() as patched:
        patched.setattr(gw.services.access_log, "append_async", broken)
        assert_problem(grant(gw, customer.ref), 503, "log-unavailable")
    # no record, no consent: nothing changed that the log does not show
    assert gw.services.consents.for_customer(customer.key) == []  # type: ignore[arg-type]

    granted = grant(gw, customer.ref)
    assert granted.status_code == 201, granted.text
    consent_id = granted.json()["consent"]["id"]
    with monkeypatch.context() as patched:
        patched.setattr(gw.services.access_log, "append_async", broken)
        withdrawn = gw.client.post(f"/v1/consents/{consent_id}/withdraw",
                                   headers=gw.auth("bank-callcenter"),
                                   json={"customer": customer.ref})
        assert_problem(withdrawn, 503, "log-unavailable")
    still = gw.services.consents.for_customer(customer.key)  # type: ignore[arg-type]
    assert [c.withdrawn_at for c in still] == [None]  # not withdrawn without a record

    def failing_store(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("consent store unavailable: OperationalError")

    size = gw.services.access_log.size()
    monkeypatch.setattr(gw.services.consents, "apply", failing_store)
    assert_problem(grant(gw, customer.ref), 503, "store-unavailable")
    # the intent was recorded first, then that it was not stored
    assert record_at(gw, size)["kind"] == "consent.grant"
    assert record_at(gw, size + 1)["kind"] == "consent.grant.not_stored"
    assert record_at(gw, size + 1)["record"] == size
