"""`pseudonym_scheme` per affiliate: `siv` by default, a registry name, shown by `policy diff`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gateway.policy import Policy
from gateway.policy.diff import diff_policies
from pseudonymizer.schemes import SCHEMES

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

INSURANCE = "    name_en: Hanbit Insurance\n    sees_group_customers: false\n"


def test_shipped_policy_keeps_every_affiliate_on_siv(shipped_policy: Policy) -> None:
    assert {a.pseudonym_scheme for a in shipped_policy.affiliates.values()} == {"siv"}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_registered_scheme_loads(policy_set: PolicySet, scheme: str) -> None:
    policy_set.edit("affiliates.yaml", INSURANCE, INSURANCE + f"    pseudonym_scheme: {scheme}\n")
    assert policy_set.load().affiliates["insurance"].pseudonym_scheme == scheme  # type: ignore[index]


@pytest.mark.parametrize(("value", "code", "message"), [
    # a well-formed name the registry does not know: the loader's own check
    ("ff3-13", "P029", "unknown pseudonym scheme `ff3-13` (known: `siv`, `ff1-13`)"),
    # not even a name: the schema refuses it before the registry is asked
    ("'FF1 13'", "P012", "`pseudonym_scheme`"),
    ("13", "P012", "`pseudonym_scheme`"),
])
def test_unknown_scheme_is_refused_at_its_line(policy_set: PolicySet, value: str, code: str,
                                               message: str) -> None:
    line = policy_set.edit("affiliates.yaml", INSURANCE,
                           INSURANCE + f"    pseudonym_scheme: {value}\n")
    problems = policy_set.problems()
    assert [(p.code, p.line) for p in problems] == [(code, line + 2)]
    assert message in problems[0].message
    assert problems[0].message_ko


def test_diff_names_a_scheme_switch_as_widening(policy_set: PolicySet,
                                                shipped_policy: Policy) -> None:
    policy_set.edit("affiliates.yaml", INSURANCE, INSURANCE + "    pseudonym_scheme: ff1-13\n")
    result = diff_policies(shipped_policy, policy_set.load())
    changes = [c.as_dict() for c in result.conditions]
    assert changes == [{"subject": "affiliate `insurance`", "field": "pseudonym_scheme",
                        "old": "siv", "new": "ff1-13", "widening": True}]
    back = diff_policies(policy_set.load(), shipped_policy)
    assert [c.widening for c in back.conditions] == [False]
