"""The channel vocabulary and the marketing settings in `purposes.yaml` load strictly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gateway.domain import Channel
from gateway.policy import Policy
from gateway.policy.diff import diff_policies
from gateway.policy.model import DEFAULT_CHANNELS, RECONFIRM_DAYS

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

CHANNELS_HEAD = "channels:\n  - id: agent_call\n"


def test_shipped_set_names_every_channel_in_korean(shipped_policy: Policy) -> None:
    assert list(shipped_policy.channels) == list(Channel)
    assert shipped_policy.channels[Channel.AUTO_CALL].name_ko == "자동 전화 (ARS)"
    assert shipped_policy.purposes["marketing_phone"].channel == "agent_call"  # type: ignore[index]
    assert shipped_policy.reconfirm_days == RECONFIRM_DAYS == 730


@pytest.mark.parametrize(("old", "new", "fragment"), [
    # the channel's old name is not in the vocabulary any more
    ("    channel: agent_call\n", "    channel: phone\n",
     "unknown contact channel `phone` (known: `agent_call`, `auto_call`"),
    # a vocabulary channel the policy does not declare cannot be used either
    ("  - id: push\n    name_ko: 앱 푸시\n    name_en: App push notification\n", "",
     "unknown contact channel `push` (known: `agent_call`, `auto_call`, `sms`, `email`, `post`)"),
    # the vocabulary is closed: no new channel ids
    ("  - id: post\n", "  - id: fax\n", "unknown contact channel `fax`"),
    ("  - id: sms\n", "  - id: agent_call\n", "duplicate channel id `agent_call`"),
    ("  reconfirm_days: 730\n", "  reconfirm_days: 0\n", "`reconfirm_days`"),
    ("  reconfirm_days: 730\n", "  reconfirm_days: 730\n  remind: true\n",
     "unknown field `remind`"),
])
def test_channel_and_marketing_problems(policy_set: PolicySet, old: str, new: str,
                                        fragment: str) -> None:
    line = policy_set.edit("purposes.yaml", old, new)
    problems = policy_set.problems()
    assert any(fragment in p.message and p.file.endswith("purposes.yaml") for p in problems), \
        problems
    assert all(p.line >= line - 1 for p in problems if fragment in p.message)
    # bilingual: every problem has its Korean line too
    assert all(p.message_ko for p in problems)


def test_problem_code_for_unknown_channel_is_stable(policy_set: PolicySet) -> None:
    policy_set.edit("purposes.yaml", "    channel: agent_call\n", "    channel: phone\n")
    (problem,) = policy_set.problems()
    assert problem.code == "P035"
    assert "agent_call" in problem.message_ko  # the Korean line names the new id


def test_without_a_channels_section_every_channel_is_in_force(policy_set: PolicySet) -> None:
    text = policy_set.path("purposes.yaml").read_text("utf-8")
    start = text.index(CHANNELS_HEAD)
    end = text.index("\npurposes:\n")
    policy_set.path("purposes.yaml").write_text(text[:start] + text[end:], "utf-8")
    policy = policy_set.load()
    assert dict(policy.channels) == dict(DEFAULT_CHANNELS)


def test_reconfirm_days_comes_from_the_policy(policy_set: PolicySet) -> None:
    policy_set.edit("purposes.yaml", "  reconfirm_days: 730\n", "  reconfirm_days: 365\n")
    assert policy_set.load().reconfirm_days == 365


def test_a_longer_reconfirmation_period_is_a_widening(policy_set: PolicySet) -> None:
    before = policy_set.load()
    policy_set.edit("purposes.yaml", "  reconfirm_days: 730\n", "  reconfirm_days: 1095\n")
    result = diff_policies(before, policy_set.load())
    assert [(c.subject, c.field, c.old, c.new, c.widening) for c in result.conditions] == [
        ("marketing", "reconfirm_days", 730, 1095, True)]
    assert diff_policies(policy_set.load(), before).conditions[0].widening is False
