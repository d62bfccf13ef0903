"""Policy messages an officer can act on: no regex, the id to use instead of a name, "did you
mean" for unknown names, no errors cascading from a broken purpose onto correct rules, and
sensitive data under marketing flagged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.policy.checks.codes import CODES, did_you_mean, suggest, use_id
from gateway.policy.loader import inspect_policy
from gateway.policy.problems import Problem

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# What a regular expression looks like to someone who has never written one: anchors with a
# class, character ranges, escapes, groups, quantifiers.
REGEX = re.compile(r"\^\[|\[[a-zA-Z0-9]-[a-zA-Z0-9]|\\[dwsbDWS]|\(\?|\.\*|\.\+|\][*+?]|\]\{"
                   r"|\{\d+,\d*\}|\$'|\$\"")


def problems(policy_set: PolicySet) -> list[Problem]:
    return list(inspect_policy(policy_set.dir, policy_set.keys).problems)


def assert_no_regex(found: list[Problem]) -> None:
    for problem in found:
        for text in (problem.message, problem.message_ko):
            assert not REGEX.search(text), f"{problem.code}: {text}"


@pytest.mark.parametrize("sample", [
    "string should match pattern '^[a-z][a-z0-9_-]*$'",  # what pydantic used to say
    "[a-z0-9-]{0,31}", r"\d{6}", "(?P<x>)", "a.*b",
])
def test_the_regex_detector_sees_patterns(sample: str) -> None:
    assert REGEX.search(sample)


def test_no_message_template_holds_a_regex() -> None:
    for code in CODES.values():
        for template in (code.en, code.ko):
            assert not REGEX.search(template), f"{code.code}: {template}"
    for hint in (use_id("card", "한빛카드"), did_you_mean("card", "한빛카드")):
        assert not REGEX.search(hint.en) and not REGEX.search(hint.ko)


@pytest.mark.parametrize("case", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_no_fixture_problem_holds_a_regex(case: str, policy_set: PolicySet) -> None:
    policy_set.overlay(case)
    assert_no_regex(problems(policy_set))


# Every field that takes an id, given a name or something that is not an id.
@pytest.mark.parametrize(("file", "old", "new"), [
    ("rules.yaml", "    recipient: card\n", "    recipient: 한빛카드\n"),
    ("rules.yaml", "  - id: bank-fraud-reidentification\n", "  - id: Bank Fraud!\n"),
    ("rules.yaml", "    purpose: fraud_reidentification\n", "    purpose: 재식별\n"),
    ("attributes.yaml", "  - id: health_risk_class\n", "  - id: 건강 위험등급\n"),
    ("affiliates.yaml", "  - id: card\n", "  - id: CARD\n"),
    ("affiliates.yaml", "        algorithm: ES256\n", "        algorithm: RS256\n"),
])
def test_no_schema_problem_holds_a_regex(policy_set: PolicySet, file: str, old: str,
                                         new: str) -> None:
    text = policy_set.path(file).read_text("utf-8")
    policy_set.path(file).write_text(text.replace(old, new, 1), "utf-8")
    found = problems(policy_set)
    assert found
    assert_no_regex(found)


def test_a_korean_company_name_as_recipient_is_answered_with_its_id(
    policy_set: PolicySet,
) -> None:
    text = policy_set.path("rules.yaml").read_text("utf-8")
    policy_set.path("rules.yaml").write_text(
        text.replace("    recipient: card\n", "    recipient: 한빛카드\n", 1), "utf-8")
    (problem,) = [p for p in problems(policy_set) if p.is_error]
    assert problem.code == "P014"
    assert problem.message.endswith("use the id `card` (한빛카드)")
    assert "id `card`(한빛카드)을(를) 쓰세요" in problem.message_ko
    assert "pattern" not in problem.message


@pytest.mark.parametrize(("file", "old", "new", "code", "hint"), [
    # a typo in a reference: the closest id, with its Korean name
    ("rules.yaml", "    purpose: fraud_reidentification\n",
     "    purpose: fraud_reidentifcation\n", "P021",
     "did you mean `fraud_reidentification` (금융사고 조사를 위한 재식별 (가명 → 주민등록번호))?"),
    ("rules.yaml", "    recipient: card\n", "    recipient: crad\n", "P020",
     "did you mean `card` (한빛카드)?"),
    # an English name where the id belongs (lowercase, so it passes as an id)
    ("rules.yaml", "    recipient: card\n", "    recipient: hanbit-card\n", "P020",
     "did you mean `card` (한빛카드)?"),
    ("rules.yaml", "      mobile_phone: exact\n      birth_date: age_band\n      address: sigungu",
     "      mobile_phone: exact\n      birth_date: age_band\n      adress: sigungu", "P022",
     "did you mean `address`"),
    ("rules.yaml", "    systems: [insurance-marketing]\n    attributes:\n      name: masked",
     "    systems: [insurance-marketting]\n    attributes:\n      name: masked", "P023",
     "did you mean `insurance-marketing`"),
    # a view the attribute does not have
    ("rules.yaml", "      birth_date: age_band\n      address: sigungu",
     "      birth_date: age-band\n      address: sigungu", "P024", "did you mean `age_band`?"),
    # a view written in capitals: not an id, but the closest view is named
    ("rules.yaml", "      birth_date: age_band\n      address: sigungu",
     "      birth_date: Age_Band\n      address: sigungu", "P014", "did you mean `age_band`?"),
    # a field name the file does not know
    ("purposes.yaml", "    retention_days: 30\n    reidentification: true",
     "    retension_days: 30\n    reidentification: true", "P010",
     "did you mean `retention_days`?"),
    ("purposes.yaml", "    channel: sms\n", "    channel: smss\n", "P035", "did you mean `sms`"),
])
def test_unknown_names_get_a_suggestion(policy_set: PolicySet, file: str, old: str, new: str,
                                        code: str, hint: str) -> None:
    text = policy_set.path(file).read_text("utf-8")
    assert old in text
    policy_set.path(file).write_text(text.replace(old, new, 1), "utf-8")
    found = [p for p in problems(policy_set) if p.code == code]
    assert found, [f"{p.code} {p.message}" for p in problems(policy_set)]
    assert hint in found[0].message
    assert "혹시" in found[0].message_ko


@pytest.mark.parametrize(("written", "known", "expected"), [
    ("한빛카드", {"card": ("한빛카드", "Hanbit Card")}, "use the id `card` (한빛카드)"),
    ("Hanbit Card", {"card": ("한빛카드", "Hanbit Card")}, "use the id `card` (한빛카드)"),
    ("CARD", {"card": ("한빛카드",)}, "did you mean `card` (한빛카드)?"),  # the id, other case
    ("한빛", {"card": ("한빛카드",), "bank": ("한빛은행",)}, None),  # ambiguous: no guess
    ("zzz", {"card": ("한빛카드",)}, None),  # nothing close
    ("", {"card": ()}, None),
])
def test_suggest(written: str, known: dict[str, tuple[str, ...]], expected: str | None) -> None:
    hint = suggest(written, known)
    assert (hint.en if hint else None) == expected


def test_a_broken_purpose_does_not_blame_its_correct_rules(policy_set: PolicySet) -> None:
    """A typo in `fraud_reidentification`'s retention (`3O`, letter O) is the only error: the
    correct re-identification rule that names the purpose is not told it releases the RRN
    outside re-identification (P050)."""
    line = policy_set.edit("purposes.yaml", "    retention_days: 30\n    reidentification: true",
                           "    retention_days: 3O\n    reidentification: true")
    found = [p for p in problems(policy_set) if p.is_error]
    assert [(Path(p.file).name, p.line, p.code) for p in found] == [
        ("purposes.yaml", line, "P012")]
    assert found[0].message == "`retention_days`: a whole number, e.g. `30`"
    assert "숫자(정수)" in found[0].message_ko


def test_a_missing_purpose_still_reports_its_rules(policy_set: PolicySet) -> None:
    """Unknown is not broken: a rule naming a purpose nobody declared is an error of its own."""
    policy_set.edit("rules.yaml", "    purpose: fraud_reidentification\n",
                    "    purpose: fraud_investigation\n")
    codes = [p.code for p in problems(policy_set) if p.is_error]
    assert codes == ["P021"]


def test_sensitive_data_under_marketing_is_flagged(policy_set: PolicySet) -> None:
    """Exact: an error (P055) even though the purpose requires consent; any other view: a
    warning (P056) for the officer to confirm."""
    text = policy_set.path("attributes.yaml").read_text("utf-8")
    start = text.index("  - id: health_risk_class")
    views = text.index("      exact: {kind: exact}", start)
    policy_set.path("attributes.yaml").write_text(
        text[:views] + "      known: {kind: boolean, when: present}\n" + text[views:], "utf-8")
    anchor = "    purpose: marketing_phone\n    systems: [insurance-marketing]\n    attributes:\n"
    line = policy_set.edit("rules.yaml", anchor,
                           anchor + "      health_risk_class: [known, exact]\n")
    found = {p.code: p for p in problems(policy_set) if p.code in ("P055", "P056")}
    assert set(found) == {"P055", "P056"}
    assert found["P055"].is_error and not found["P056"].is_error
    assert found["P055"].line == found["P056"].line == line + 3
    assert "marketing purpose `marketing_phone`" in found["P055"].message
    assert "민감정보" in found["P055"].message_ko and "제23조" in found["P055"].message_ko
    assert "view `known`" in found["P056"].message
