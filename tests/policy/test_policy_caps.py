"""Frequency caps in the policy: `cap:` per channel loads strictly (P036), diffs as widening or
narrowing, and the pure decision withholds contact attributes at the cap as `contact_cap`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gateway.domain import Channel, Reason
from gateway.policy import Policy, decide
from gateway.policy.diff import diff_policies
from gateway.policy.model import ContactCap
from tests.policy.test_policy_decision import consent, reasons, request, views
from tests.policy.test_policy_marketing import stop

if TYPE_CHECKING:
    from conftest import PolicySet

SMS = ("card-marketing", "marketing_sms", "name", "mobile_phone")
CAP_LINE = "    cap: {max: 2, window_days: 7}\n"


def test_shipped_caps(shipped_policy: Policy) -> None:
    assert shipped_policy.cap_for("agent_call") == ContactCap(2, 7)
    assert shipped_policy.cap_for("sms") == ContactCap(4, 30)
    assert shipped_policy.cap_for("email") is None  # no cap on that channel
    assert shipped_policy.cap_for(None) is None


@pytest.mark.parametrize("bad", [
    "{max: 0, window_days: 7}",  # at least one contact
    "{max: 2, window_days: 0}",
    "{max: 2, window_days: 400}",  # a year at most
    "{max: 2}",  # the window is required
    "{max: '2', window_days: 7}",  # strict: no strings for numbers
    "{max: 2, window_days: 7, per: customer}",  # nothing else
    "2",
])
def test_a_bad_cap_is_p036_in_both_languages(policy_set: PolicySet, bad: str) -> None:
    line = policy_set.edit("purposes.yaml", "  - id: agent_call\n" + "    name_ko: 상담원 전화\n"
                           "    name_en: Call by an agent\n" + CAP_LINE,
                           "  - id: agent_call\n    name_ko: 상담원 전화\n"
                           f"    name_en: Call by an agent\n    cap: {bad}\n")
    (problem,) = policy_set.problems()
    assert problem.code == "P036" and problem.line == line + 3
    assert "channel `agent_call`" in problem.message and "`window_days`" in problem.message
    assert "연락 횟수 제한" in problem.message_ko
    assert "per" not in problem.message and "'2'" not in problem.message  # never echoed


def test_diff_says_whether_a_cap_change_widens(policy_set: PolicySet,
                                               shipped_policy: Policy) -> None:
    for new, widening in [("{max: 3, window_days: 7}", True), ("{max: 2, window_days: 3}", True),
                          ("{max: 1, window_days: 7}", False), (None, True)]:
        text = policy_set.path("purposes.yaml").read_text("utf-8")
        policy_set.path("purposes.yaml").write_text(
            text.replace(CAP_LINE, "" if new is None else f"    cap: {new}\n", 1), "utf-8")
        changes = [c for c in diff_policies(shipped_policy, policy_set.load()).conditions
                   if c.field == "cap"]
        assert [(c.subject, c.widening) for c in changes] == [("channel `agent_call`", widening)]
        policy_set.path("purposes.yaml").write_text(text, "utf-8")


# --- the decision (pure: the count comes in as data) -------------------------------------------
def test_contact_attributes_are_withheld_at_the_cap(shipped_policy: Policy) -> None:
    cap = shipped_policy.cap_for(Channel.SMS.value)
    assert cap is not None
    for contacts in range(cap.max):
        d = decide(shipped_policy, request(*SMS), [consent()], contacts=contacts)
        assert set(views(d)) == {"name", "mobile_phone"}
    d = decide(shipped_policy, request(*SMS), [consent()], contacts=cap.max)
    # only the contact attribute counts; the name (identity) is still released
    assert reasons(d) == {"mobile_phone": Reason.CONTACT_CAP}
    assert set(views(d)) == {"name"}
    (withheld,) = d.withheld
    assert withheld.detail == "contacted 4 times on `sms` within 30 days: the cap is reached"


def test_consent_and_stop_reasons_come_before_the_cap(shipped_policy: Policy) -> None:
    none = decide(shipped_policy, request(*SMS), [], contacts=99)
    assert reasons(none) == {"name": Reason.NO_CONSENT, "mobile_phone": Reason.NO_CONSENT}
    stopped = decide(shipped_policy, request(*SMS), [consent()], stops=[stop()], contacts=99)
    assert set(reasons(stopped).values()) == {Reason.CONTACT_STOP}


def test_channels_without_a_cap_and_other_purposes_ignore_the_count(
        shipped_policy: Policy) -> None:
    email = decide(shipped_policy, request("card-marketing", "marketing_email", "email"),
                   [consent(purpose="marketing_email", channel="email")], contacts=10_000)
    assert set(views(email)) == {"email"}
    service = decide(shipped_policy, request("card-callcenter", "customer_service",
                                             "mobile_phone"), [], contacts=10_000)
    assert Reason.CONTACT_CAP not in reasons(service).values()


def test_the_traced_path_agrees(shipped_policy: Policy) -> None:
    from gateway.policy.trace import DecisionTrace
    traced = decide(shipped_policy, request(*SMS), [consent()], contacts=4,
                    trace=DecisionTrace())
    plain = decide(shipped_policy, request(*SMS), [consent()], contacts=4)
    assert traced == plain
    assert decide(shipped_policy, request(*SMS), [consent()], contacts=3) != plain
