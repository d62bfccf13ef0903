"""`policy test`: the shipped cases pass through the same `decide`, cover every purpose and every
reason, and a wrong expectation fails with a readable diff."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.domain import Reason
from gateway.policy import Policy
from gateway.policy.testing import Case, load_cases, run_case, run_tests

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def shipped_cases(shipped_dir: Path) -> list[Case]:
    cases, problems = load_cases(shipped_dir / "tests")
    assert not problems, problems
    return cases


def test_every_shipped_case_passes(shipped_policy: Policy, shipped_dir: Path) -> None:
    suite = run_tests(shipped_policy, shipped_dir / "tests")
    failures = {f"{Path(r.case.file).name}:{r.case.line}": r.diff() for r in suite.failed}
    assert not failures
    assert suite.ok and len(suite.results) >= 30


def test_cases_cover_every_purpose_and_every_reason(
    shipped_cases: list[Case], shipped_policy: Policy,
) -> None:
    purposes = {c.spec.request.purpose for c in shipped_cases}
    assert set(shipped_policy.purposes) <= purposes
    reasons = {r for c in shipped_cases for r in c.spec.expect.withheld.values()}
    # no_data is the fetch step's reason: the decision alone never gives it
    assert set(Reason) - {Reason.NO_DATA} <= reasons
    errors = {c.spec.expect.error for c in shipped_cases} - {None}
    assert {"unknown-purpose", "unknown-attribute", "forbidden"} <= errors


def test_every_marketing_purpose_has_a_consented_and_a_refused_case(
    shipped_cases: list[Case], shipped_policy: Policy,
) -> None:
    for purpose in (p for p in shipped_policy.purposes.values() if p.marketing):
        mine = [c for c in shipped_cases if c.spec.request.purpose == purpose.id]
        assert any(c.spec.expect.released and c.spec.consents for c in mine), purpose.id


def test_wrong_expectations_fail_with_a_diff(shipped_policy: Policy) -> None:
    suite = run_tests(shipped_policy, FIXTURES / "testcases_wrong" / "tests")
    assert not suite.ok
    assert [r.passed for r in suite.results] == [True, False, False, False]
    wrong_view, wrong_outcome, wrong_error = (r.diff() for r in suite.results[1:])
    assert wrong_view == ["- annual_income: released `exact`", "+ annual_income: released `band`"]
    assert wrong_outcome == ["- mobile_phone: released `exact`",
                             "+ mobile_phone: withheld `no_consent`"]
    assert wrong_error == ["- error `forbidden` (the request is refused as a whole)",
                           "+ annual_income: released `band`"]


def test_result_json_names_rules_and_consents(shipped_policy: Policy, shipped_dir: Path) -> None:
    cases, _ = load_cases(shipped_dir / "tests")
    case = next(c for c in cases if c.spec.consents and c.spec.consents[0].id == "sms-card-2025")
    result = run_case(shipped_policy, case).as_dict()
    assert result["passed"] and result["diff"] == []
    assert result["consents"] == ["sms-card-2025"] and result["rules"] == ["card-marketing-sms"]
    assert set(result) == {"name", "file", "line", "passed", "expected", "actual", "diff",
                           "rules", "consents"}


@pytest.mark.parametrize(("text", "fragment", "line"), [
    ("cases: []\n", "`cases`: list should have at least 1 item", 1),
    (("cases:\n  - name: x\n    request: {system: a, purpose: b, attributes: [c]}\n"
     "    expect: {released: {c: d}, error: forbidden}\n"), "`error` excludes", 4),
    (("cases:\n  - name: x\n    request: {system: a, purpose: b, attributes: [c]}\n"
     "    expect: {withheld: {c: maybe}}\n"), "`c`: input should be", 4),
    (("cases:\n  - name: x\n    request: {system: a, purpose: b, attributes: [c], who: d}\n"
     "    expect: {}\n"), "`who`: extra inputs are not permitted", 3),
    # a timestamp without a zone is ambiguous: refused, never guessed
    (("cases:\n  - name: x\n    now: 2025-01-01 10:00:00\n"
     "    request: {system: a, purpose: b, attributes: [c]}\n    expect: {}\n"), "`now`", 3),
    ("cases: [\n", "yaml syntax", 2),
])
def test_unreadable_case_files_are_reported_with_their_line(
    tmp_path: Path, text: str, fragment: str, line: int,
) -> None:
    (tmp_path / "bad.yaml").write_text(text, "utf-8")
    cases, problems = load_cases(tmp_path)
    assert cases == []
    assert problems and fragment in problems[0].message, problems
    assert problems[0].line == line and problems[0].code == "T002"


def test_no_case_files_is_a_failure(tmp_path: Path, shipped_policy: Policy) -> None:
    suite = run_tests(shipped_policy, tmp_path / "missing")
    assert not suite.ok
    assert [p.code for p in suite.problems] == ["T001"]


def test_a_policy_change_is_caught_by_a_case(policy_set: PolicySet) -> None:
    """Widening a view in rules.yaml makes the case that pinned it fail."""
    policy_set.edit("rules.yaml", "      annual_income: band\n      deposit_balance: "
                    "[has_deposit, band]", "      annual_income: [band, exact]\n      "
                    "deposit_balance: [has_deposit, band]")
    suite = run_tests(policy_set.load(), policy_set.dir / "tests")
    failed = [r.case.spec.name for r in suite.failed]
    assert failed == ["소득 원본은 규칙이 허용하지 않는다 (구간만)"]
    assert suite.failed[0].diff() == ["- annual_income: withheld `view_not_allowed`",
                                      "+ annual_income: released `exact`"]
