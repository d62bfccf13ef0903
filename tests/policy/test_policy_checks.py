"""`policy check`: every meaning check reports its code, file and line, in English and Korean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.policy import PolicyLoadError
from gateway.policy.checks.codes import CODES
from gateway.policy.loader import Inspection, inspect_policy
from gateway.policy.problems import Problem

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECK = re.compile(r"#\s*check:\s*(P\d{3})\s+(.+?)\s*$")


def wanted(case: str) -> list[tuple[str, int, str, str]]:
    """(file, line, code, message fragment) for each `# check:` comment of a fixture case."""
    found = []
    for source in sorted((FIXTURES / case).glob("*.yaml")):
        for number, line in enumerate(source.read_text("utf-8").splitlines(), start=1):
            match = CHECK.search(line)
            if match:
                found.append((source.name, number, match.group(1), match.group(2)))
    return found


def inspect(policy_set: PolicySet) -> Inspection:
    return inspect_policy(policy_set.dir, policy_set.keys)


def assert_reported(case: str, inspection: Inspection) -> None:
    """Exactly the `# check:` problems in the fixture's own files; elsewhere (the shipped files
    the fixture leaves alone) at most warnings, e.g. attributes the minimal rules never use."""
    own = {p.name for p in (FIXTURES / case).glob("*.yaml")}
    expected = wanted(case)
    assert expected, f"fixture `{case}` has no `# check:` comment"
    got = [p for p in inspection.problems if Path(p.file).name in own]
    assert len(got) == len(expected), "\n".join(f"{p.code} {p}" for p in got)
    for (file, line, code, fragment), problem in zip(expected, got):
        assert (Path(problem.file).name, problem.line, problem.code) == (file, line, code), problem
        assert fragment in problem.message
        assert problem.message_ko, problem
    others = [p for p in inspection.problems if Path(p.file).name not in own and p.is_error]
    assert not others, others


@pytest.mark.parametrize(("case", "blocks_loading"), [
    ("check_unique_identifier", True),  # also: allowed under a re-identification purpose
    ("check_sensitive", True),  # also: allowed under a consent-required purpose
    ("check_overlap", True),  # disagreeing views, disagreeing systems, a duplicate (warning)
    ("check_unusable", False),  # warnings only: no system with `query`; one system without it
    ("check_unreleased", False),  # warning only
])
def test_meaning_check_fixture(case: str, blocks_loading: bool, policy_set: PolicySet) -> None:
    policy_set.overlay(case)
    inspection = inspect(policy_set)
    assert_reported(case, inspection)
    if blocks_loading:
        assert inspection.policy is None
        with pytest.raises(PolicyLoadError, match=r"policy set has \d+ problem"):
            policy_set.load()
    else:
        assert inspection.policy is not None and not inspection.errors
        assert policy_set.load().version == inspection.version


def test_system_without_key_or_with_a_broken_key(policy_set: PolicySet) -> None:
    policy_set.overlay("check_system_keys")
    (policy_set.keys / "systems" / "bank-badkey.pub.pem").write_bytes(
        b"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    assert_reported("check_system_keys", inspect(policy_set))


# Every problem of the loader's broken fixtures carries its code, in file and line order.
@pytest.mark.parametrize(("case", "codes"), [
    ("unknown_attribute", ["P022"]),
    ("unknown_view", ["P024"]),
    ("extra_field", ["P010"]),
    ("bad_yaml", ["P003"]),
    ("duplicate_rule_id", ["P013"]),
    ("foreign_system", ["P025", "P023", "P020", "P021"]),
    ("duplicate_key", ["P005"]),
    ("marketing_without_consent", ["P030"]),
    ("marketing_without_channel", ["P032", "P031"]),
    ("missing_legal_basis", ["P033", "P034"]),
    ("bad_bounds", ["P012", "P012"]),
    ("unknown_view_kind", ["P012", "P026", "P026", "P010"]),
    ("view_type_mismatch", ["P027", "P027", "P012", "P020"]),
    ("rrn_exact", ["P028", "P050"]),
])
def test_loader_problems_carry_codes(case: str, codes: list[str], policy_set: PolicySet) -> None:
    policy_set.overlay(case)
    errors = inspect(policy_set).errors
    assert [p.code for p in errors] == codes, [f"{p.code} {p}" for p in errors]
    assert all(p.message_ko and p.severity == "error" for p in errors)


def test_shipped_set_has_no_error(policy_set: PolicySet) -> None:
    inspection = inspect(policy_set)
    assert inspection.errors == ()
    assert inspection.policy is not None
    # The catalogue keeps attributes no rule uses yet (e.g. the health class): warnings only.
    assert {p.code for p in inspection.warnings} <= {"P054", "P060", "P061", "P062"}


def test_unique_identifier_flag_is_read_from_the_catalogue(policy_set: PolicySet) -> None:
    policy = policy_set.load()
    assert policy.attributes["rrn"].unique_identifier
    assert not policy.attributes["name"].unique_identifier


def test_rrn_exact_outside_reidentification_is_refused_at_its_line(policy_set: PolicySet) -> None:
    line = policy_set.edit("rules.yaml", "      rrn: masked\n", "      rrn: [masked, exact]\n")
    inspection = inspect(policy_set)
    assert [(p.code, p.line) for p in inspection.errors] == [("P050", line)]
    assert "개인정보 보호법 제24조" in inspection.errors[0].message_ko


def test_every_code_has_both_languages_and_a_severity() -> None:
    assert len(CODES) >= 30
    for code, entry in CODES.items():
        assert re.fullmatch(r"[PT]\d{3}", code)
        assert entry.severity in ("error", "warning")
        assert entry.en and entry.ko and entry.en == entry.en.rstrip(".")
        assert re.search(r"[가-힣]", entry.ko), code


def test_problem_json_shape_is_stable() -> None:
    problem = CODES["P022"].at("rules.yaml", 3, 7, ident="x")
    assert problem.as_dict() == {
        "code": "P022", "severity": "error", "file": "rules.yaml", "line": 3, "column": 7,
        "message_en": "unknown attribute `x`",
        "message_ko": "항목 `x`은(는) attributes.yaml에 없습니다",
    }
    # equality is where and what: code and translation describe it
    assert problem == Problem("rules.yaml", 3, 7, "unknown attribute `x`")


def test_dead_entry_warnings_wait_for_a_clean_load(policy_set: PolicySet) -> None:
    """A system dropped for a bad key must not make its rules look unusable too."""
    (policy_set.keys / "systems" / "card-risk.pub.pem").unlink()
    inspection = inspect(policy_set)
    assert [p.code for p in inspection.errors] == ["P041"]
    assert not [p for p in inspection.warnings if p.code in ("P060", "P061", "P062")]
