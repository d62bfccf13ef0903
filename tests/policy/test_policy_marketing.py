"""The decision for marketing: per channel, night window, reconfirmation, the refusal notice, and
contact stops that beat any consent — all pure: stops and time come in as data."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.domain import (
    AffiliateId,
    Category,
    ContactStop,
    ContactStopId,
    Outcome,
    Reason,
)
from gateway.marketing.windows import ALL_DAY, DAYTIME
from gateway.policy import Policy, decide, load_policy
from gateway.policy.trace import DecisionTrace
from tests.policy.test_policy_decision import (
    CUSTOMER,
    EXTRA_RULES,
    NOW,
    consent,
    reasons,
    request,
    views,
)

SMS = ("card-marketing", "marketing_sms", "name", "mobile_phone")


@pytest.fixture(scope="module")
def policy(shipped_dir: Path, public_keys_dir: Path) -> Policy:
    return load_policy(shipped_dir, public_keys_dir)


def stop(sid: str = "cst-1", *, scope: str | None = None, channels: set[str] | None = None,
         registered_at: datetime = NOW - timedelta(days=1),
         lifted_at: datetime | None = None) -> ContactStop:
    return ContactStop(id=ContactStopId(sid), customer=CUSTOMER,
                       scope=AffiliateId(scope) if scope else None,
                       channels=frozenset(channels) if channels is not None else None,
                       registered_at=registered_at, lifted_at=lifted_at, reason="refusal")


# --- per channel ------------------------------------------------------------------------------
@pytest.mark.parametrize(("system", "purpose", "attribute", "channel"), [
    ("card-marketing", "marketing_sms", "mobile_phone", "sms"),
    ("card-marketing", "marketing_email", "email", "email"),
    ("card-marketing", "marketing_push", "birth_date", "push"),
    ("securities-marketing", "marketing_phone", "mobile_phone", "agent_call"),
    ("securities-marketing", "marketing_auto_call", "mobile_phone", "auto_call"),
    ("insurance-marketing", "marketing_post", "address", "post"),
])
def test_each_channel_needs_its_own_consent(policy: Policy, system: str, purpose: str,
                                            attribute: str, channel: str) -> None:
    affiliate = system.split("-")[0]
    r = request(system, purpose, attribute)
    mine = consent(recipient=affiliate, purpose=purpose, channel=channel)
    assert views(decide(policy, r, [mine])) != {}
    # the same consent under every other channel name grants nothing
    for other in {"agent_call", "auto_call", "sms", "email", "push", "post"} - {channel}:
        d = decide(policy, r, [consent(recipient=affiliate, purpose=purpose, channel=other)])
        assert reasons(d) == {attribute: Reason.NO_CONSENT}, other


# --- contact window (정보통신망법 제50조 ③) -------------------------------------------------------
def test_contact_window_follows_the_night_flag(policy: Policy) -> None:
    day = decide(policy, request(*SMS), [consent()])
    assert {r.contact_window for r in day.released} == {DAYTIME} == {"08:00–21:00 KST"}
    night = decide(policy, request(*SMS), [consent(night_contact=True)])
    assert {r.contact_window for r in night.released} == {ALL_DAY} == {"00:00–24:00 KST"}
    assert night.as_dict()["released"][0]["contact_window"] == ALL_DAY


def test_no_contact_window_outside_marketing(policy: Policy) -> None:
    d = decide(policy, request("card-risk", "credit_risk", "credit_grade"), [])
    assert d.released and all(r.contact_window is None for r in d.released)
    assert "contact_window" not in d.as_dict()["released"][0]


# --- reconfirmation (제50조 ⑧) and the notice of the right to refuse -----------------------------
@pytest.mark.parametrize(("confirmed_days_ago", "reason"), [
    (729, None),  # within two years: still grants
    (730, Reason.CONSENT_UNCONFIRMED),  # exactly reconfirm_days: lapsed
    (1000, Reason.CONSENT_UNCONFIRMED),
])
def test_unconfirmed_consent_stops_granting(policy: Policy, confirmed_days_ago: int,
                                           reason: Reason | None) -> None:
    old = consent(granted_at=NOW - timedelta(days=confirmed_days_ago))
    d = decide(policy, request(*SMS), [old])
    assert reasons(d) == ({} if reason is None else {"name": reason, "mobile_phone": reason})


def test_reconfirmed_consent_grants_again(policy: Policy) -> None:
    d = decide(policy, request(*SMS), [consent(granted_at=NOW - timedelta(days=2000),
                                               confirmed_at=NOW - timedelta(days=10))])
    assert views(d) == {"name": "masked", "mobile_phone": "exact"}


def test_reconfirm_period_is_the_policys(policy: Policy) -> None:
    strict = dataclasses.replace(policy, reconfirm_days=30)
    d = decide(strict, request(*SMS), [consent(granted_at=NOW - timedelta(days=31))])
    assert set(reasons(d).values()) == {Reason.CONSENT_UNCONFIRMED}
    assert "30 days" in d.withheld[0].detail


def test_reconfirmation_is_for_marketing_only(policy: Policy) -> None:
    # sensitive data under a non-marketing purpose: an old consent still counts until it expires
    with_rule = dataclasses.replace(policy, rules=policy.rules + EXTRA_RULES[:1])
    old = consent(purpose="customer_service", channel=None, categories=(Category.SENSITIVE,),
                  granted_at=NOW - timedelta(days=3000), refusal_right_notified=False)
    d = decide(with_rule, request("card-marketing", "customer_service", "health_risk_class"),
               [old])
    assert views(d) == {"health_risk_class": "exact"}


def test_consent_without_the_refusal_notice_never_grants_marketing(policy: Policy) -> None:
    trace = DecisionTrace()
    d = decide(policy, request(*SMS), [consent(refusal_right_notified=False)], trace=trace)
    assert set(reasons(d).values()) == {Reason.CONSENT_UNCONFIRMED}
    assert trace.attributes[0].consents[0].verdict == "refusal_right_not_notified"


def test_withdrawn_and_expired_beat_unconfirmed(policy: Policy) -> None:
    stale = consent("c-old", granted_at=NOW - timedelta(days=900))
    gone = consent("c-gone", withdrawn_at=NOW - timedelta(days=1))
    d = decide(policy, request(*SMS), [stale, gone])
    assert set(reasons(d).values()) == {Reason.CONSENT_WITHDRAWN}
    d = decide(policy, request(*SMS), [stale, consent("c-exp", expires_at=NOW - timedelta(1))])
    assert set(reasons(d).values()) == {Reason.CONSENT_EXPIRED}


# --- contact stops (수신거부, 신용정보법 제37조 ②) -----------------------------------------------
@pytest.mark.parametrize(("the_stop", "stopped"), [
    (stop(), True),  # the whole group, every channel
    (stop(scope="card"), True),  # this recipient, every channel
    (stop(channels={"sms"}), True),  # the whole group, this channel
    (stop(scope="card", channels={"sms", "email"}), True),
    (stop(scope="insurance"), False),  # another affiliate only
    (stop(channels={"email", "agent_call"}), False),  # other channels only
    (stop(lifted_at=NOW - timedelta(seconds=1)), False),  # lifted before the request
    (stop(lifted_at=NOW + timedelta(days=1)), True),  # a lift in the future: still in force
    (stop(registered_at=NOW + timedelta(seconds=1)), False),  # registered after the request
])
def test_stop_beats_any_consent(policy: Policy, the_stop: ContactStop, stopped: bool) -> None:
    night = consent(night_contact=True)
    d = decide(policy, request(*SMS), [night], stops=[the_stop])
    if stopped:
        assert reasons(d) == {"name": Reason.CONTACT_STOP, "mobile_phone": Reason.CONTACT_STOP}
        assert d.outcome is Outcome.DENY and d.consent_ids == ()
        assert d.stop_ids == (the_stop.id,)
        assert d.withheld[0].detail == "a contact stop covers channel `sms` for `card`"
    else:
        assert views(d) == {"name": "masked", "mobile_phone": "exact"}
        assert d.stop_ids == ()


def test_stop_keeps_other_reasons_where_nothing_would_be_released(policy: Policy) -> None:
    d = decide(policy, request("card-marketing", "marketing_sms", "mobile_phone", "interests"),
               [consent()], stops=[stop()])
    assert reasons(d) == {"mobile_phone": Reason.CONTACT_STOP, "interests": Reason.NO_RULE}


def test_stops_do_not_touch_other_purposes(policy: Policy) -> None:
    d = decide(policy, request("card-risk", "credit_risk", "credit_grade"), [], stops=[stop()])
    assert views(d) == {"credit_grade": "band"} and d.stop_ids == ()


def test_a_stop_that_cannot_be_evaluated_counts_as_in_force(policy: Policy) -> None:
    naive = stop(registered_at=datetime(2025, 1, 1))  # no time zone: cannot be compared
    d = decide(policy, request(*SMS), [consent()], stops=[naive])
    assert set(reasons(d).values()) == {Reason.CONTACT_STOP}
    assert any("treated as in force" in e for e in d.errors)


def test_stop_is_traced(policy: Policy) -> None:
    trace = DecisionTrace()
    decide(policy, request(*SMS), [consent()], stops=[stop("cst-9")], trace=trace)
    assert trace.as_dict()["contact_stop"] == "cst-9"


def test_decision_reads_no_clock(policy: Policy) -> None:
    # the same inputs at another `now` decide by that `now` alone
    later = request(*SMS)
    much_later = dataclasses.replace(later, now=NOW + timedelta(days=800))
    assert views(decide(policy, later, [consent()])) != {}
    assert set(reasons(decide(policy, much_later, [consent()])).values()) == {
        Reason.CONSENT_UNCONFIRMED}
