"""Contact stops (수신거부) over HTTP: a stop beats any consent from the very next query, in every
process; lifting, listing, access records before commit; bad input is a 422 that echoes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.errors import LogWriteFailed, StoreUnavailable
from gateway.marketing.windows import ALL_DAY
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.marketing_helpers import (
    INSURANCE_ROW,
    grant,
    query_via,
    record_at,
    register_stop,
    second_process,
)
from tests.api.test_api_errors import assert_problem
from tests.api.test_api_queries import Clock, clock, reasons, released  # noqa: F401

SMS = ["name", "mobile_phone"]


def test_stop_beats_consent_for_the_next_query_in_every_process(gw: Harness,
                                                                clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer.ref, night_contact=True).status_code == 201
    before = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
    assert released(before) == {"name": "김*준", "mobile_phone": "010-2345-6789"}
    assert before.json()["contact_window"] == ALL_DAY

    with second_process(gw) as other:
        clock.advance(timedelta(microseconds=1))
        made = register_stop(gw, customer.ref, scope="group", reason="contact_stop_request")
        assert made.status_code == 201, made.text
        stop = made.json()["stop"]
        assert stop["status"] == "active" and stop["scope"] == "group"
        assert stop["channels"] is None and stop["pseudonym"].startswith("p1_")
        clock.advance(timedelta(microseconds=1))
        here = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
        there = query_via(other, gw, "card-marketing", customer.ref, "marketing_sms", SMS)
        for response in (here, there):
            assert released(response) == {}
            assert reasons(response) == {"name": "contact_stop", "mobile_phone": "contact_stop"}
            assert response.json()["contact_window"] is None
        record = record_at(gw, here.json()["log_index"])
        assert record["contact_stops"] == [stop["id"]] and record["decision"] == "deny"

        # (the other process reads the real clock, which runs a little ahead of the test's)
        clock.advance(timedelta(microseconds=1))
        lifted = gw.client.post(f"/v1/contact-stops/{stop['id']}/lift",
                                json={"customer": customer.ref}, headers=gw.auth("bank-app"))
        assert lifted.status_code == 200, lifted.text
        assert lifted.json()["stop"]["status"] == "lifted"
        clock.advance(timedelta(microseconds=1))
        again = query_via(other, gw, "card-marketing", customer.ref, "marketing_sms", SMS)
        assert released(again) == {"name": "김*준", "mobile_phone": "010-2345-6789"}


@pytest.mark.parametrize(("body", "card_sms", "card_email", "insurance_sms"), [
    ({"scope": "card", "channels": ["sms"]}, "contact_stop", None, None),
    ({"scope": "card"}, "contact_stop", "contact_stop", None),
    ({"channels": ["sms"]}, "contact_stop", None, "contact_stop"),  # scope defaults to group
    ({"scope": "insurance", "channels": ["email"]}, None, None, None),
])
def test_stop_covers_its_scope_and_channels(gw: Harness, body: dict[str, Any],
                                            card_sms: str | None, card_email: str | None,
                                            insurance_sms: str | None) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW, "insurance": INSURANCE_ROW})
    assert grant(gw, customer.ref).status_code == 201
    assert grant(gw, customer.ref, purpose="marketing_email", channel="email").status_code == 201
    assert grant(gw, customer.ref, recipient="insurance").status_code == 201
    assert register_stop(gw, customer.ref, **body).status_code == 201
    got = [
        reasons(gw.query("card-marketing", customer.ref, "marketing_sms",
                         ["mobile_phone"])).get("mobile_phone"),
        reasons(gw.query("card-marketing", customer.ref, "marketing_email",
                         ["email"])).get("email"),
        reasons(gw.query("insurance-marketing", customer.ref, "marketing_sms",
                         ["mobile_phone"])).get("mobile_phone"),
    ]
    assert got == [card_sms, card_email, insurance_sms]


def test_stops_leave_other_purposes_alone(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert register_stop(gw, customer.ref).status_code == 201
    risk = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    assert released(risk) == {"credit_grade": {"gte": 1, "lt": 4}}


def test_listing_and_every_change_are_access_records(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    made = register_stop(gw, customer.ref, scope="card", channels=["sms", "agent_call"])
    stop = made.json()["stop"]
    registered = record_at(gw, made.json()["log_index"])
    assert registered["kind"] == "contact_stop.register"
    assert registered["customer"] == customer.key
    assert registered["contact_stop"] == stop["id"] and registered["scope"] == "card"
    assert registered["channels"] == ["agent_call", "sms"] and registered["reason"] == "refusal"
    assert registered["actor"]["system"] == "bank-app"

    clock.advance(timedelta(seconds=1))
    lift = gw.client.post(f"/v1/contact-stops/{stop['id']}/lift",
                          json={"customer": customer.ref}, headers=gw.auth("bank-callcenter"))
    assert record_at(gw, lift.json()["log_index"])["kind"] == "contact_stop.lift"
    assert register_stop(gw, customer.ref, system="bank-callcenter").status_code == 201

    listed = gw.client.post("/v1/contact-stops/search", json={"customer": customer.ref},
                            headers=gw.auth("bank-callcenter"))
    assert listed.status_code == 200, listed.text
    assert [(s["scope"], s["status"]) for s in listed.json()["stops"]] == [
        ("card", "lifted"), ("group", "active")]
    read = record_at(gw, listed.json()["log_index"])
    assert read["kind"] == "contact_stop.read" and read["count"] == 2
    digits = customer.rrn.replace("-", "")
    for response in (made, lift, listed):
        assert digits not in response.text and customer.rrn not in response.text


def test_lift_only_by_a_request_for_the_same_customer(gw: Harness, clock: Clock) -> None:
    alice = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    bob = gw.customer({"bank": BANK_ROW})
    stop_id = register_stop(gw, alice.ref).json()["stop"]["id"]
    clock.advance(timedelta(seconds=1))
    as_bob = gw.client.post(f"/v1/contact-stops/{stop_id}/lift", json={"customer": bob.ref},
                            headers=gw.auth("bank-app"))
    unknown = gw.client.post("/v1/contact-stops/cst_nosuchstop000000000/lift",
                             json={"customer": bob.ref}, headers=gw.auth("bank-app"))
    a = assert_problem(as_bob, 404, "contact-stop-not-found")
    b = assert_problem(unknown, 404, "contact-stop-not-found")
    assert a["title"] == b["title"]
    assert a["detail"].replace(stop_id, "X") == b["detail"].replace("cst_nosuchstop000000000",
                                                                   "X")
    assert "log_index" in a  # the refusal is on record
    still = gw.query("card-marketing", alice.ref, "marketing_sms", ["mobile_phone"])
    assert reasons(still) == {"mobile_phone": "contact_stop"}


def test_a_lift_must_come_later_than_the_stop(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    stop_id = register_stop(gw, customer.ref).json()["stop"]["id"]
    same_moment = gw.client.post(f"/v1/contact-stops/{stop_id}/lift",
                                 json={"customer": customer.ref}, headers=gw.auth("bank-app"))
    assert_problem(same_moment, 422, "contact-stop-invalid")


@pytest.mark.parametrize(("body", "status", "slug", "secret"), [
    ({"channels": ["fax"]}, 422, "unknown-channel", "fax"),  # not in the vocabulary
    ({"channels": ["phone"]}, 422, "unknown-channel", "phone"),  # the old name
    ({"scope": "nowhere"}, 422, "contact-stop-invalid", "nowhere"),
    ({"channels": []}, 422, "validation", None),
    ({"channels": ["SMS 900101"]}, 422, "validation", "900101"),
    ({"reason": "고객이 900101-1234567 라고 말함"}, 422, "validation", "900101"),  # no free text
    ({"note": "anything"}, 422, "validation", "anything"),
])
def test_bad_input_is_422_without_echo(gw: Harness, body: dict[str, Any], status: int,
                                       slug: str, secret: str | None) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = register_stop(gw, customer.ref, **body)
    assert_problem(response, status, slug)
    if secret is not None:
        assert secret not in response.text
    assert gw.services.contact_stops.for_customer(customer.key) == []  # type: ignore[arg-type]


def test_malformed_rrn_is_not_echoed(gw: Harness) -> None:
    response = register_stop(gw, {"rrn": "901301-1234567"})
    assert_problem(response, 422, "malformed-rrn")
    assert "1234567" not in response.text


@pytest.mark.parametrize(("system", "path"), [
    ("card-risk", "/v1/contact-stops"),  # no contact_stop permission at all
    ("holding-audit", "/v1/contact-stops/search"),  # reads consents, not stops
])
def test_permissions(gw: Harness, system: str, path: str) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    body = assert_problem(gw.client.post(path, json={"customer": customer.ref},
                                         headers=gw.auth(system)), 403, "forbidden")
    assert record_at(gw, body["log_index"])["problem"] == "forbidden"


def test_insurance_only_customer_can_stop_contact(gw: Harness) -> None:
    customer = gw.customer({"insurance": INSURANCE_ROW})
    # the bank's channel does not manage customers the bank does not hold
    assert_problem(register_stop(gw, customer.ref, system="bank-app"), 404, "customer-unknown")
    own = register_stop(gw, customer.ref, system="insurance-callcenter", scope="insurance")
    assert own.status_code == 201, own.text
    group = register_stop(gw, customer.ref, system="holding-customer-center", channels=["post"])
    assert group.status_code == 201, group.text
    # the group channel answers with the holding's own pseudonym, usable next time
    pseudonym = group.json()["stop"]["pseudonym"]
    listed = gw.client.post("/v1/contact-stops/search", json={"customer": {"pseudonym": pseudonym}},
                            headers=gw.auth("holding-customer-center"))
    assert len(listed.json()["stops"]) == 2


def test_record_is_durable_before_the_stop_is_committed(gw: Harness,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    customer = gw.customer({"bank": BANK_ROW})

    async def broken(record: dict[str, Any]) -> int:
        raise LogWriteFailed("access record could not be made durable")

    with monkeypatch.context() as patched:
        patched.setattr(gw.services.access_log, "append_async", broken)
        assert_problem(register_stop(gw, customer.ref), 503, "log-unavailable")
    # no record, no stop
    assert gw.services.contact_stops.for_customer(customer.key) == []  # type: ignore[arg-type]

    def failing_commit(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("contact stop store unavailable: OperationalError")

    size = gw.services.access_log.size()
    monkeypatch.setattr(gw.services.contact_stops, "register", failing_commit)
    assert_problem(register_stop(gw, customer.ref), 503, "store-unavailable")
    # the intent was recorded first; the caller was told it failed
    assert record_at(gw, size)["kind"] == "contact_stop.register"
