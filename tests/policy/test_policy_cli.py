"""`gateway policy check` and `gateway policy test` as an officer or a CI job runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from gateway.cli import app

if TYPE_CHECKING:  # the fixture's type only; conftest modules are not imported by name
    from conftest import PolicySet

FIXTURES = Path(__file__).resolve().parent / "fixtures"
runner = CliRunner()


def check(policy_set: PolicySet, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "check", str(policy_set.dir), "--keys",
                                 str(policy_set.keys), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_check_shipped_set_exits_zero_with_warnings_listed(policy_set: PolicySet) -> None:
    code, out, _ = check(policy_set)
    assert code == 0, out
    assert "policy ok: sha256:" in out
    # warnings are listed (an attribute no rule releases) but do not fail the check
    assert "warning P062: no rule releases attribute `health_risk_class`" in out
    assert "항목 `health_risk_class`을(를) 제공하는 규칙이 없습니다" in out


def test_check_reports_every_error_with_code_line_and_both_languages(
    policy_set: PolicySet,
) -> None:
    policy_set.overlay("check_overlap")
    code, out, err = check(policy_set)
    assert code == 1
    rules = policy_set.path("rules.yaml")
    assert (f"{rules}:17:7: error P052: rules `card-risk-base` and `card-risk-wider` both grant "
            f"`annual_income` to `card` for `credit_risk` but disagree on views "
            f"([`band`] vs [`exact`])") in out
    assert "    규칙 `card-risk-base`와(과) `card-risk-wider`이(가)" in out
    assert f"{rules}:24:7: error P053:" in out
    assert f"{rules}:31:7: warning P054:" in out
    assert "policy check failed: 2 error(s)" in err


def test_check_json_has_stable_keys(policy_set: PolicySet) -> None:
    policy_set.overlay("check_sensitive")
    code, out, _ = check(policy_set, "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert set(report) == {"policy_dir", "version", "ok", "errors", "warnings", "problems"}
    # P051 (no-consent purpose) and P055 (exact under a marketing purpose)
    assert report["ok"] is False and report["errors"] == 2
    assert report["version"].startswith("sha256:")
    error, _ = [p for p in report["problems"] if p["severity"] == "error"]
    assert error == {
        "code": "P051", "severity": "error", "file": str(policy_set.path("rules.yaml")),
        "line": 10, "column": 7,
        "message_en": "attribute `health_risk_class` is sensitive: purpose `statistics_research` "
                      "must have `consent_required: true` to release it",
        "message_ko": "항목 `health_risk_class`은(는) 민감정보입니다: 별도 동의가 필요한 목적에서만 "
                      "제공할 수 있습니다 (`statistics_research`은(는) 동의 불요, 개인정보 보호법 제23조)",
    }


def test_check_warnings_alone_exit_zero_in_json(policy_set: PolicySet) -> None:
    policy_set.overlay("check_unusable")
    code, out, _ = check(policy_set, "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["errors"] == 0
    assert {"P060", "P061"} <= {p["code"] for p in report["problems"]}


def test_check_never_prints_key_material(policy_set: PolicySet) -> None:
    key = policy_set.keys / "systems" / "card-risk.pub.pem"
    secret_looking = b"-----BEGIN PUBLIC KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END PUBLIC KEY-----\n"
    key.write_bytes(secret_looking)
    code, out, err = check(policy_set)
    assert code == 1
    assert "P042" in out and "QUJDREVGR0hJSktMTU5PUA" not in out + err


def test_test_command_passes_on_the_shipped_set(shipped_dir: Path) -> None:
    result = runner.invoke(app, ["policy", "test", str(shipped_dir)])
    assert result.exit_code == 0, result.output
    assert "PASS marketing.yaml:" in result.stdout
    assert " 0 failed, 0 unreadable" in result.stdout


def test_test_command_shows_a_readable_diff_and_exits_one(shipped_dir: Path) -> None:
    result = runner.invoke(app, ["policy", "test", str(shipped_dir), "--cases",
                                 str(FIXTURES / "testcases_wrong" / "tests")])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "PASS wrong.yaml:3 맞는 사례 (passes)" in lines
    at = lines.index("FAIL wrong.yaml:11 소득 원본을 기대하지만 실제로는 구간 (wrong view)")
    assert lines[at + 1:at + 5] == ["  --- expected", "  +++ actual",
                                    "  - annual_income: released `exact`",
                                    "  + annual_income: released `band`"]
    assert "  + mobile_phone: withheld `no_consent`" in lines
    assert "1 passed, 3 failed, 0 unreadable" in result.stdout


def test_test_command_json(shipped_dir: Path) -> None:
    result = runner.invoke(app, ["policy", "test", str(shipped_dir), "--format", "json",
                                 "--cases", str(FIXTURES / "testcases_wrong" / "tests")])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert set(report) == {"policy_dir", "version", "ok", "passed", "failed", "problems", "cases"}
    assert (report["passed"], report["failed"], report["ok"]) == (1, 3, False)
    second = report["cases"][1]
    assert second["expected"] == {"released": {"annual_income": "exact", "credit_grade": "band"},
                                  "withheld": {}}
    assert second["actual"] == {"released": {"annual_income": "band", "credit_grade": "band"},
                                "withheld": {}}


def test_test_command_refuses_a_policy_that_does_not_load(policy_set: PolicySet) -> None:
    policy_set.overlay("check_sensitive")
    result = runner.invoke(app, ["policy", "test", str(policy_set.dir)])
    assert result.exit_code == 1
    assert "error P051:" in result.stdout
    assert "policy does not load" in result.stderr
