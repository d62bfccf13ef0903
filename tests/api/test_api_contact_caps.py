"""Frequency caps over HTTP: the contacts of every process count, one beyond the cap is withheld
as `contact_cap` (and recorded so), and the window rolls."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.marketing_helpers import grant, query_via, record_at, second_process
from tests.api.test_api_queries import Clock, clock, reasons, released  # noqa: F401

SMS = ["name", "mobile_phone"]  # shipped cap on sms: 4 contacts in 30 days


def test_the_cap_counts_every_process_and_withholds_one_beyond(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    assert grant(gw, customer.ref).status_code == 201
    with second_process(gw) as other:
        for n in range(4):  # alternate processes: each sees the other's contacts
            response = (gw.query("card-marketing", customer.ref, "marketing_sms", SMS) if n % 2
                        else query_via(other, gw, "card-marketing", customer.ref,
                                       "marketing_sms", SMS))
            assert released(response)["mobile_phone"] == "010-2345-6789", n
        beyond = query_via(other, gw, "card-marketing", customer.ref, "marketing_sms", SMS)
        assert reasons(beyond) == {"mobile_phone": "contact_cap"}
        assert released(beyond) == {"name": "김*준"}  # only contact attributes count
        record = record_at(gw, beyond.json()["log_index"])
        assert record["withheld"] == [{"attribute": "mobile_phone", "reason": "contact_cap"}]
        assert record["decision"] == "partial"
        again = gw.query("card-marketing", customer.ref, "marketing_sms", SMS)
        assert reasons(again) == {"mobile_phone": "contact_cap"}


def test_withheld_releases_do_not_count_and_the_window_rolls(gw: Harness, clock: Clock) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    # no consent yet: nothing released, nothing counted
    for _ in range(5):
        assert reasons(gw.query("card-marketing", customer.ref, "marketing_sms", SMS)) == {
            "name": "no_consent", "mobile_phone": "no_consent"}
    assert grant(gw, customer.ref).status_code == 201
    clock.advance(timedelta(seconds=1))
    for _ in range(4):
        clock.advance(timedelta(days=1))
        assert "mobile_phone" in released(
            gw.query("card-marketing", customer.ref, "marketing_sms", SMS))
    assert reasons(gw.query("card-marketing", customer.ref, "marketing_sms", SMS)) == {
        "mobile_phone": "contact_cap"}
    # a query asking for no contact attribute is not a contact
    assert released(gw.query("card-marketing", customer.ref, "marketing_sms", ["name"]))
    clock.advance(timedelta(days=27, seconds=1))  # the first contact left the 30-day window
    assert "mobile_phone" in released(
        gw.query("card-marketing", customer.ref, "marketing_sms", SMS))
    assert reasons(gw.query("card-marketing", customer.ref, "marketing_sms", SMS)) == {
        "mobile_phone": "contact_cap"}
