"""Rate limits in the policy (affiliates.yaml `limits:`): defaults per system and per employee,
replaced per system and per named employee measure by measure; bad values are P070–P074 in
English and Korean, never echoing what was written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gateway.domain import SystemId
from gateway.policy import Policy
from gateway.policy.model import Limits, RateLimit

if TYPE_CHECKING:
    from conftest import PolicySet

EMPLOYEE_RPM = "    requests_per_minute: {limit: 300, alert: 120}\n"
CARD_RISK = SystemId("card-risk")


def test_shipped_limits(shipped_policy: Policy) -> None:
    limits = shipped_policy.limits
    each = limits.for_employee(CARD_RISK, "kim.risk")
    assert each == Limits(RateLimit(300, 120), RateLimit(300, 100), RateLimit(1000, 300))
    # every system has the same defaults unless it says otherwise
    assert limits.for_employee(SystemId("bank-callcenter"), "park.cc") == each
    assert limits.for_system(CARD_RISK).requests_per_minute == RateLimit(600000, 300000)
    # the benchmark's batch job is named: its own limits, no alert, far above bench traffic
    bench = limits.for_employee(CARD_RISK, "bench")
    assert bench.requests_per_minute == RateLimit(1_000_000)
    assert bench.customers_per_hour == RateLimit(100_000)
    # a name is per system: `bench` of another system is an ordinary employee
    assert limits.for_employee(SystemId("card-marketing"), "bench") == each


def test_an_override_replaces_measure_by_measure(policy_set: PolicySet) -> None:
    policy_set.edit("affiliates.yaml", "  systems:\n    card-risk:\n",
                    "  systems:\n    bank-fraud:\n      employee:\n"
                    "        customers_per_hour: {limit: 50, alert: 10}\n"
                    "      system:\n        requests_per_minute: {limit: 1000}\n"
                    "    card-risk:\n")
    limits = policy_set.load().limits
    each = limits.for_employee(SystemId("bank-fraud"), "lee")
    assert each.customers_per_hour == RateLimit(50, 10)
    assert each.requests_per_minute == RateLimit(300, 120)  # inherited
    assert limits.for_system(SystemId("bank-fraud")).requests_per_minute == RateLimit(1000)
    assert limits.for_system(SystemId("bank-fraud")).customers_per_day == RateLimit(500000, 200000)


def test_no_limits_section_means_no_limits(policy_set: PolicySet) -> None:
    text = policy_set.path("affiliates.yaml").read_text("utf-8")
    policy_set.path("affiliates.yaml").write_text(text[: text.index("\nlimits:")] + "\n", "utf-8")
    limits = policy_set.load().limits
    assert limits.for_employee(CARD_RISK, "kim.risk").empty
    assert limits.for_system(CARD_RISK).empty


@pytest.mark.parametrize("bad", [
    "{limit: 0, alert: 0}",  # at least one
    "{limit: 20000000}",  # ten million at most
    "{alert: 5}",  # the limit is required
    "{limit: '300'}",  # strict: no strings for numbers
    "{limit: 300, per: customer}",  # nothing else
    "{limit: 2.5}",  # whole numbers only
    "300",
])
def test_a_bad_limit_is_p070_in_both_languages(policy_set: PolicySet, bad: str) -> None:
    line = policy_set.edit("affiliates.yaml", "  employee:\n" + EMPLOYEE_RPM,
                           f"  employee:\n    requests_per_minute: {bad}\n")
    (problem,) = policy_set.problems()
    assert problem.code == "P070" and problem.line == line + 1
    assert "`requests_per_minute` of every employee" in problem.message
    assert "모든 직원" in problem.message_ko and "`limit`" in problem.message_ko
    for echoed in ("per:", "customer", "'300'", "2.5", "20000000"):
        assert echoed not in problem.message and echoed not in problem.message_ko


def test_an_alert_must_be_below_its_limit(policy_set: PolicySet) -> None:
    line = policy_set.edit("affiliates.yaml", "  employee:\n" + EMPLOYEE_RPM,
                           "  employee:\n    requests_per_minute: {limit: 300, alert: 300}\n")
    (problem,) = policy_set.problems()
    assert problem.code == "P071" and problem.line == line + 1
    assert problem.message == ("`requests_per_minute` of every employee: `alert` (300) must be "
                               "lower than `limit` (300)")
    assert "경보 기준" in problem.message_ko


def test_unknown_measure_system_and_subject(policy_set: PolicySet) -> None:
    policy_set.edit("affiliates.yaml", "  employee:\n" + EMPLOYEE_RPM,
                    "  employee:\n    requests_per_second: {limit: 5}\n")
    policy_set.edit("affiliates.yaml", "  systems:\n    card-risk:\n      employees:\n",
                    "  systems:\n    card-rsk:\n      employee: 5\n    card-risk:\n"
                    "      employee: [1]\n      employees:\n        'kim risk//': {}\n")
    problems = {p.code: p for p in policy_set.problems()}
    assert set(problems) == {"P072", "P023", "P073", "P074"}
    assert "`requests_per_second`" in problems["P072"].message
    assert "requests_per_minute(분당 요청 수)" in problems["P072"].message_ko
    assert problems["P023"].message == "unknown system `card-rsk`"
    assert "kim risk" not in problems["P073"].message  # the name written is not echoed
    assert "each employee of `card-risk`" in problems["P074"].message


def test_diff_calls_a_raised_or_removed_limit_widening(policy_set: PolicySet,
                                                       shipped_policy: Policy) -> None:
    from gateway.policy.diff import diff_policies

    policy_set.edit("affiliates.yaml", "  employee:\n" + EMPLOYEE_RPM,
                    "  employee:\n    requests_per_minute: {limit: 600, alert: 120}\n")
    policy_set.edit("affiliates.yaml", "          customers_per_day: {limit: 500000}\n", "")
    diff = diff_policies(shipped_policy, policy_set.load())
    changes = {(c.subject, c.field): c for c in diff.conditions}
    each = changes[("system `card-risk`", "limits.employee")]
    assert each.widening
    assert each.old["requests_per_minute"] == {"limit": 300, "alert": 120}
    assert each.new["requests_per_minute"] == {"limit": 600, "alert": 120}
    # the bench job now inherits the employee default per day: narrower, not a widening
    bench = changes[("system `card-risk`", "limits.employees.bench")]
    assert bench.new["customers_per_day"] == {"limit": 1000, "alert": 300}
    assert not bench.widening
    narrower = diff_policies(policy_set.load(), shipped_policy)
    assert not {(c.subject, c.field): c for c in narrower.conditions}[
        ("system `bank-app`", "limits.employee")].widening
