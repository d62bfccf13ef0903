"""The policy's free-text settings: the `scrubbed` view and per-purpose `scrub:` operators."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.policy import Policy
from gateway.policy.views import ScrubbedView
from tests.policy.conftest import PolicySet

SCRUB_LINE = "      KR_PHONE: {kind: mask_keep_last, keep: 4}\n"


def test_shipped_memo_is_only_scrubbed(shipped_policy: Policy) -> None:
    memo = shipped_policy.attributes["callcenter_memo"]  # type: ignore[index]
    assert list(memo.views) == ["scrubbed"]
    assert memo.views["scrubbed"] == ScrubbedView(names_from=("name",))  # type: ignore[index]
    scrub = shipped_policy.purposes["customer_service"].scrub  # type: ignore[index]
    assert scrub is not None and scrub["KR_RRN"] == "pseudonym"


def test_scrubbed_view_without_context_uses_the_defaults() -> None:
    view = ScrubbedView()
    assert view.apply("연락처 010-1234-5678", today=date(2026, 1, 1)) == "연락처 ***-****-5678"


@pytest.mark.parametrize(("new", "fragment"), [
    ("      KR_PHONE: shout\n", "unknown operator `shout`"),
    ("      US_SSN: mask\n", "unknown entity `US_SSN`"),
    ("      KR_PHONE: pseudonym\n", "operator `pseudonym` applies to national ids"),
    ("      KR_PHONE: {kind: mask_keep_last, keep: 40}\n", "`keep` must be 0-8"),
])
def test_bad_scrub_operators_are_load_errors(policy_set: PolicySet, new: str,
                                             fragment: str) -> None:
    line = policy_set.edit("purposes.yaml", SCRUB_LINE, new)
    problems = policy_set.problems()
    assert any(p.file.endswith("purposes.yaml") and fragment in p.message for p in problems), problems
    assert any(abs(p.line - line) <= 10 for p in problems)


def test_scrubbed_view_params_are_strict(policy_set: PolicySet) -> None:
    policy_set.edit("attributes.yaml", "scrubbed: {kind: scrubbed, names_from: [name]}",
                    "scrubbed: {kind: scrubbed, names: [name]}")
    problems = policy_set.problems()
    assert any("names" in p.message for p in problems), problems
