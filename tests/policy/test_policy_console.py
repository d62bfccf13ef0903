"""The policy's `console:` section: roles, their pages, and the second factor they need."""

from __future__ import annotations

import pytest

from gateway.policy import Policy
from tests.policy.conftest import PolicySet


def test_shipped_policy_defines_the_four_roles(shipped_policy: Policy) -> None:
    roles = shipped_policy.console_roles
    assert set(roles) == {"privacy_officer", "auditor", "call_centre_agent", "inspector"}
    assert roles["privacy_officer"].second_factor and roles["auditor"].second_factor
    assert roles["call_centre_agent"].may_open("timeline")
    assert not roles["call_centre_agent"].may_open("log")
    assert roles["privacy_officer"].may_open("log_export")
    assert not roles["inspector"].may_open("log_export")


def test_officer_without_second_factor_is_refused(policy_set: PolicySet) -> None:
    line = policy_set.edit("affiliates.yaml", "name_en: Privacy officer\n      second_factor: true",
                           "name_en: Privacy officer\n      second_factor: false")
    problems = policy_set.problems()
    found = [p for p in problems if p.code == "P080"]
    assert len(found) == 1 and found[0].line == line + 1
    assert "privacy_officer" in found[0].message and "2단계 인증" in found[0].message_ko


@pytest.mark.parametrize(("old", "new", "code"), [
    # a page the console does not have: refused, not ignored
    ("pages: [home, timeline]", "pages: [home, timeline, everything]", "P012"),
    # a role outside the fixed vocabulary
    ("- id: inspector", "- id: superuser", "P012"),
    # a field the schema does not know (strict)
    ("name_en: Call-centre agent", "name_en: Call-centre agent\n      admin: true", "P010"),
])
def test_console_section_is_strict(policy_set: PolicySet, old: str, new: str, code: str) -> None:
    policy_set.edit("affiliates.yaml", old, new)
    assert code in {p.code for p in policy_set.problems()}


def test_duplicate_role_is_reported(policy_set: PolicySet) -> None:
    policy_set.edit("affiliates.yaml", "- id: inspector", "- id: auditor")
    assert "P013" in {p.code for p in policy_set.problems()}


def test_no_console_section_means_no_roles(policy_set: PolicySet) -> None:
    text = policy_set.path("affiliates.yaml").read_text("utf-8")
    policy_set.path("affiliates.yaml").write_text(text[: text.index("\nconsole:")] + "\n", "utf-8")
    assert dict(policy_set.load().console_roles) == {}
