"""The loader: the shipped set loads; every broken set is refused with file, line and message."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.domain import AffiliateId, SystemId
from gateway.errors import PolicyError
from gateway.policy import Policy, PolicyLoadError, Problem, load_policy
from gateway.policy.loader import FILES

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

BROKEN_CASES = [
    "unknown_attribute",
    "unknown_view",
    "extra_field",
    "bad_yaml",
    "duplicate_rule_id",
    "foreign_system",  # also: unknown system, unknown recipient, unknown purpose
    "duplicate_key",
    "marketing_without_consent",
    "marketing_without_channel",  # also: a channel on a non-marketing purpose
    "missing_legal_basis",  # also: retention missing (reported at the entry's first line)
    "bad_bounds",
    "unknown_view_kind",  # also: params out of range, a view without `kind`, an unknown param
    "view_type_mismatch",  # also: unknown owner, `width` on the wrong level
    "rrn_exact",  # reported twice: in the catalogue and in the rule
]


@pytest.mark.parametrize("case", BROKEN_CASES)
def test_broken_fixture_reports_every_problem_at_its_line(
    case: str, policy_set: PolicySet, expected: Callable[[str], list[tuple[str, int, str]]],
) -> None:
    policy_set.overlay(case)
    problems = policy_set.problems()
    wanted = expected(case)
    assert wanted, f"fixture `{case}` has no `# expect:` comment"
    got = [(Path(p.file).name, p.line, p.message) for p in problems]
    assert len(got) == len(wanted), "\n".join(str(p) for p in problems)
    for (file, line, fragment), problem in zip(wanted, got):
        assert problem[:2] == (file, line), f"{problem} is not at {file}:{line}"
        assert fragment in problem[2]


def test_load_error_is_a_policy_error_listing_file_line_column(policy_set: PolicySet) -> None:
    line = policy_set.edit("rules.yaml", "      annual_income: band\n      deposit_balance: "
                           "[has_deposit, band]", "      annual_incme: band\n      "
                           "deposit_balance: [has_deposit, band]")
    file = str(policy_set.path("rules.yaml"))
    message = "unknown attribute `annual_incme`: did you mean `annual_income` (연소득)?"
    with pytest.raises(PolicyError, match=rf"(?m)^{file}:{line}:7: unknown attribute "
                                          r"`annual_incme`: did you mean") as info:
        policy_set.load()
    assert isinstance(info.value, PolicyLoadError)
    assert info.value.problems == [Problem(file, line, 7, message)]
    assert str(info.value).splitlines()[0] == "policy set has 1 problem"


def test_all_problems_are_collected_across_files(policy_set: PolicySet) -> None:
    policy_set.edit("purposes.yaml", "retention_days: 180", "retention_days: 0")
    policy_set.edit("rules.yaml", "purpose: fraud_prevention\n    systems: [bank-fraud]",
                    "purpose: fraud_prevention\n    systems: [bank-frauds]")
    policy_set.edit("affiliates.yaml", "bank-fraud.pub.pem\n        algorithm: ES256",
                    "bank-fraud.pub.pem\n        algorithm: RS256")
    problems = policy_set.problems()
    files = [Path(p.file).name for p in problems]
    assert files == ["affiliates.yaml", "purposes.yaml", "rules.yaml"]  # sorted by file, line
    assert "`algorithm`: one of `EdDSA`, `ES256`" in problems[0].message
    assert "`retention_days`: at least 1" in problems[1].message
    assert "1 이상이어야 합니다" in problems[1].message_ko
    assert problems[2].message.startswith("unknown system `bank-frauds`: did you mean `bank-fraud`")


@pytest.mark.parametrize("name", FILES)
def test_missing_policy_file_is_named(policy_set: PolicySet, name: str) -> None:
    policy_set.path(name).unlink()
    problems = policy_set.problems()
    assert Problem(str(policy_set.path(name)), 1, 1, "policy file is missing or unreadable") in problems


@pytest.mark.parametrize(("text", "message"), [
    ("", "file is empty"),
    ("rules: [\n", "yaml syntax"),
    ("rules: x\n---\nrules: y\n", "yaml syntax"),  # two documents in one file
    ("rules: !!python/object:os.system x\n", "yaml"),  # safe loading: no python tags
    ("rules:\n  - ? [a, b]\n    : c\n", "mapping keys must be plain words"),
    ("flows: []\n", "unknown field `flows`"),
])
def test_unusable_rules_file(policy_set: PolicySet, text: str, message: str) -> None:
    policy_set.path("rules.yaml").write_text(text, "utf-8")
    problems = policy_set.problems()
    assert any(message in p.message and p.file.endswith("rules.yaml") for p in problems), problems


def test_non_utf8_file_is_refused(policy_set: PolicySet) -> None:
    policy_set.path("rules.yaml").write_bytes("rules: 규칙".encode("euc-kr"))
    assert [p.message for p in policy_set.problems()] == ["policy file is not utf-8 text"]


# --- system keys -------------------------------------------------------------------------------
def _line_of(policy_set: PolicySet, text: str, name: str = "affiliates.yaml") -> int:
    lines = policy_set.path(name).read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def _system_line(policy_set: PolicySet, system: str) -> int:
    return _line_of(policy_set, f"systems/{system}.pub.pem")


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("system", "content", "message"), [
    ("card-risk", None,
     "public key file `systems/card-risk.pub.pem` not found in the public keys dir"),
    # ES256 is pinned: an Ed25519 key must not be accepted in its place
    ("card-risk", lambda: _pem(ed25519.Ed25519PrivateKey.generate()),
     "public key `systems/card-risk.pub.pem` is not a p-256 ec key, as algorithm `ES256` requires"),
    # right family, wrong curve
    ("card-risk", lambda: _pem(ec.generate_private_key(ec.SECP384R1())),
     "public key `systems/card-risk.pub.pem` is not a p-256 ec key, as algorithm `ES256` requires"),
    ("bank-callcenter", lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
     "public key `systems/bank-callcenter.pub.pem` is not an ed25519 key, as algorithm `EdDSA` "
     "requires"),
    ("bank-callcenter", lambda: b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
     "public key file `systems/bank-callcenter.pub.pem` is not a pem public key"),
])
def test_system_key_problems(policy_set: PolicySet, system: str,
                             content: Callable[[], bytes] | None, message: str) -> None:
    key_file = policy_set.keys / "systems" / f"{system}.pub.pem"
    if content is None:
        key_file.unlink()
    else:
        key_file.write_bytes(content())
    problems = policy_set.problems()
    assert [(Path(p.file).name, p.line, p.column, p.message) for p in problems] == [
        ("affiliates.yaml", _system_line(policy_set, system), 9, message)]


def test_key_path_may_not_leave_the_keys_dir(policy_set: PolicySet) -> None:
    line = policy_set.edit("affiliates.yaml", "public_key: systems/bank-app.pub.pem",
                           "public_key: ../secrets/bank-app.pub.pem")
    problems = policy_set.problems()
    assert [(p.line, p.message) for p in problems] == [
        (line, "public key path `../secrets/bank-app.pub.pem` must stay inside the public keys dir")]


def test_duplicate_system_id_across_affiliates(policy_set: PolicySet) -> None:
    first = _line_of(policy_set, "      - id: bank-fraud")
    line = policy_set.edit("affiliates.yaml", "      - id: card-risk", "      - id: bank-fraud")
    problems = policy_set.problems()
    assert [(p.line, p.message) for p in problems if "duplicate" in p.message] == [
        (line, f"duplicate system id `bank-fraud` (first at line {first})")]


# --- the shipped set ---------------------------------------------------------------------------
def test_version_is_sha256_over_the_files_and_counts_comments(
    policy_set: PolicySet, shipped_policy: Policy,
) -> None:
    assert shipped_policy.version.startswith("sha256:") and len(shipped_policy.version) == 71
    assert policy_set.load().version == shipped_policy.version  # same bytes, same version
    with policy_set.path("rules.yaml").open("a", encoding="utf-8") as f:
        f.write("# 설명 한 줄 추가\n")
    assert policy_set.load().version != shipped_policy.version


def test_policy_is_immutable(shipped_policy: Policy) -> None:
    with pytest.raises(TypeError):
        shipped_policy.attributes["x"] = shipped_policy.attributes["name"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        shipped_policy.rules = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        shipped_policy.rules[0].attributes["rrn"] = ("masked",)  # type: ignore[index]


def test_load_does_not_depend_on_the_working_directory(
    shipped_dir: Path, public_keys_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_policy(shipped_dir, public_keys_dir).rules


@pytest.mark.parametrize(("written", "pinned"), [
    ("Ed25519", "EdDSA"), ("ESP256", "ES256"), ("EdDSA", "EdDSA"), ("ES256", "ES256")])
def test_rfc_9864_names_pin_the_same_algorithm(written: str, pinned: str) -> None:
    from gateway.policy.schema import SystemSpec

    spec = SystemSpec(id="bank_app", name_ko="앱", name_en="app", public_key="k.pem",
                      algorithm=written, permissions=("query",))
    assert spec.algorithm == pinned


def test_a_system_may_declare_the_shape_of_its_employee_ids(policy_set: PolicySet) -> None:
    policy_set.edit("affiliates.yaml", "bank-fraud.pub.pem\n        algorithm: ES256",
                    'bank-fraud.pub.pem\n        algorithm: ES256\n        employee_id: "F######"')
    system = policy_set.load().affiliates[AffiliateId("bank")].systems[SystemId("bank-fraud")]
    assert system.employee_ids is not None and system.employee_ids.text == "F######"
    assert system.employee_ids.fits("F123456") and not system.employee_ids.fits("tester")


def test_an_employee_id_format_is_explained_without_a_regex(policy_set: PolicySet) -> None:
    policy_set.edit("affiliates.yaml", "bank-fraud.pub.pem\n        algorithm: ES256",
                    'bank-fraud.pub.pem\n        algorithm: ES256\n        employee_id: "F[0-9]+"')
    problems = policy_set.problems()
    assert len(problems) == 1 and "`employee_id`" in problems[0].message
    assert "wildcards `#` (a digit)" in problems[0].message
    assert "[0-9]" not in problems[0].message.replace("F[0-9]+", "")


@pytest.mark.parametrize(("shape", "employee", "fits"), [
    ("E######", "E000123", True),
    ("E######", "E00012", False),
    ("*.callcenter", "kim.callcenter", True),
    ("*.callcenter", ".callcenter", False),  # `*` is one or more
    ("??-#", "ab-1", True),
    ("??-#", "AB-1", False),  # `?` is a lowercase letter or digit
])
def test_employee_id_formats(shape: str, employee: str, fits: bool) -> None:
    from gateway.policy.employee_ids import EmployeeIdFormat

    assert EmployeeIdFormat.parse(shape).fits(employee) is fits
