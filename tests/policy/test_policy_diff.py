"""`policy diff`: the exact accesses a change opens, closes and changes, and the CLI around it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.policy import Policy
from gateway.policy.diff import PolicyDiff, diff_policies, to_markdown
from gateway.policy.reveal import at_most
from gateway.policy.snapshot import SnapshotError, snapshot
from gateway.policy.views import (
    BooleanView,
    BucketedView,
    ExactView,
    GeneralizedView,
    MaskedView,
    TopKView,
    View,
)
from gateway.settings import get_settings
from tests.policy.conftest import FIXTURES, PolicySet

OLD = FIXTURES / "diff" / "old"
NEW = FIXTURES / "diff" / "new"

# (recipient, purpose, attribute, systems, change, widening): the whole list, in report order.
EXPECTED_ACCESSES = [
    # bank-app gained `query`; the rule has no `systems:`, so the app may now use it
    ("bank", "customer_service", "card_products", ("bank-app",), "opened", True),
    # customer_service now requires consent: same views, a condition added
    ("bank", "customer_service", "card_products", ("bank-callcenter",), "narrowed", False),
    ("bank", "customer_service", "interests", ("bank-callcenter",), "closed", False),
    ("bank", "customer_service", "name", ("bank-app",), "opened", True),
    ("bank", "customer_service", "name", ("bank-callcenter",), "narrowed", False),
    # same view name, finer buckets
    ("card", "credit_risk", "annual_income", ("card-risk",), "widened", True),
    ("card", "credit_risk", "birth_date", ("card-risk",), "opened", True),
    # only `band` left: a request naming no view now gets a band, not a yes/no
    ("card", "credit_risk", "deposit_balance", ("card-risk",), "widened", True),
    # birth_year dropped (narrower) but age bands of 15 years are not coarser than of 10
    ("card", "marketing_sms", "birth_date", ("card-marketing",), "changed", True),
    ("card", "marketing_sms", "mobile_phone", ("card-marketing",), "narrowed", False),
]
EXPECTED_CONDITIONS = [
    ("purpose `customer_service`", "consent_required", False, True, False),
    ("purpose `customer_service`", "retention_days", 30, 90, True),
    ("system `bank-app`", "permissions", ["consent:read"], ["consent:read", "query"], True),
]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # the CLI reads settings once per process; tests change them
    yield
    get_settings.cache_clear()


def _load(folder: Path) -> Policy:
    with snapshot(str(folder)) as (_, policy):
        return policy


@pytest.fixture(scope="module")
def fixture_diff() -> PolicyDiff:
    return diff_policies(_load(OLD), _load(NEW), labels=("old", "new"))


def test_fixture_diff_lists_exactly_the_opened_closed_and_changed_accesses(fixture_diff: PolicyDiff) -> None:
    got = [(a.recipient, a.purpose, a.attribute, a.systems, a.change, a.widening)
           for a in fixture_diff.accesses]
    assert got == EXPECTED_ACCESSES
    assert [(c.subject, c.field, c.old, c.new, c.widening)
            for c in fixture_diff.conditions] == EXPECTED_CONDITIONS
    assert fixture_diff.widenings == 8


def test_fixture_diff_says_why(fixture_diff: PolicyDiff) -> None:
    notes = {(a.purpose, a.attribute, a.systems): a.notes for a in fixture_diff.accesses}
    assert notes[("credit_risk", "deposit_balance", ("card-risk",))] == (
        "view `has_deposit` removed", "default view `has_deposit` → `band` (more revealing)")
    assert notes[("credit_risk", "annual_income", ("card-risk",))] == (
        ("view `band` redefined: bucketed bounds=0,20000000,40000000,60000000 → "
         "bucketed bounds=0,20000000,30000000,40000000,60000000"),)
    assert notes[("customer_service", "name", ("bank-callcenter",))] == ("consent now required",)
    opened = next(a for a in fixture_diff.accesses if a.systems == ("bank-app",))
    assert opened.new_consent == "consent: purpose `customer_service`, category `financial`"


def test_reverse_diff_mirrors_opened_and_closed(fixture_diff: PolicyDiff) -> None:
    back = diff_policies(_load(NEW), _load(OLD))
    changes = {(a.purpose, a.attribute, a.systems): a.change for a in back.accesses}
    assert changes[("customer_service", "card_products", ("bank-app",))] == "closed"
    assert changes[("customer_service", "interests", ("bank-callcenter",))] == "opened"
    assert changes[("customer_service", "name", ("bank-callcenter",))] == "widened"
    assert changes[("marketing_sms", "mobile_phone", ("card-marketing",))] == "widened"
    assert changes[("credit_risk", "deposit_balance", ("card-risk",))] == "narrowed"


def test_same_policy_has_no_changes() -> None:
    result = diff_policies(_load(OLD), _load(OLD))
    assert result.accesses == () and result.conditions == () and result.widenings == 0
    assert "No access is opened, closed or changed." in to_markdown(result)


def test_shipped_policy_edit_is_reported(policy_set: PolicySet) -> None:
    before = policy_set.load()
    policy_set.edit("rules.yaml", "      annual_income: band\n      credit_grade: band\n",
                    "      annual_income: [band, exact]\n      credit_grade: band\n")
    result = diff_policies(before, policy_set.load())
    assert [(a.recipient, a.purpose, a.attribute, a.systems, a.change, a.widening, a.notes)
            for a in result.accesses] == [
        ("insurance", "credit_risk", "annual_income", ("insurance-underwriting",), "widened",
         True, ("view `exact` added",)),
    ]


_BANDS = BucketedView(bounds=(0, 10, 20))


@pytest.mark.parametrize(("a", "b", "expected"), [
    (BooleanView(when="positive"), _BANDS, True),  # kinds: boolean below bucketed
    (_BANDS, BooleanView(when="positive"), False),
    (BucketedView(bounds=(0, 20)), _BANDS, True),  # every bound kept: _BANDS refines it
    (_BANDS, BucketedView(bounds=(0, 20)), False),
    (BucketedView(bounds=(0, 15)), _BANDS, False),  # 15 is new: neither refines the other
    (GeneralizedView(level="age_band", width=10), GeneralizedView(level="age_band", width=5),
     True),
    (GeneralizedView(level="age_band", width=10), GeneralizedView(level="age_band", width=15),
     False),
    (GeneralizedView(level="age_band"), GeneralizedView(level="birth_year"), True),
    (GeneralizedView(level="sigungu"), GeneralizedView(level="sido"), False),
    (GeneralizedView(level="sido"), GeneralizedView(level="age_band"), False),  # other family
    (MaskedView(style="phone"), ExactView(), True),
    (MaskedView(style="phone"), MaskedView(style="email"), False),
    (TopKView(k=3, field="category", by="amount"), TopKView(k=5, field="category", by="amount"),
     True),
    (TopKView(k=3, field="category", by="amount"), _BANDS, False),  # same tier, other kind
    (ExactView(), ExactView(), True),
])
def test_reveal_order(a: View, b: View, expected: bool) -> None:
    assert at_most(a, b) is expected


# --- the command line -----------------------------------------------------------------------------
runner = CliRunner()


def test_cli_markdown_flags_widenings_and_exits_zero() -> None:
    result = runner.invoke(app, ["policy", "diff", str(OLD), str(NEW)])
    assert result.exit_code == 0, result.output
    assert "**⚠ 8 WIDENING(S)**" in result.stdout
    assert "### `card` × `credit_risk`" in result.stdout
    assert "| ⚠ | **opened** | `birth_date` | `card-risk` | — | `age_band` |" in result.stdout


def test_cli_fail_on_widening_exits_one() -> None:
    result = runner.invoke(app, ["policy", "diff", str(OLD), str(NEW), "--fail-on-widening"])
    assert result.exit_code == 1
    assert "8 widening(s)" in result.stderr
    narrowing_only = runner.invoke(app, ["policy", "diff", str(OLD), str(OLD),
                                         "--fail-on-widening"])
    assert narrowing_only.exit_code == 0


def test_cli_json_parses(fixture_diff: PolicyDiff) -> None:
    result = runner.invoke(app, ["policy", "diff", str(OLD), str(NEW), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["widenings"] == 8
    assert [(a["attribute"], a["systems"], a["change"]) for a in doc["accesses"]] == [
        (e[2], list(e[3]), e[4]) for e in EXPECTED_ACCESSES]
    assert doc["conditions"][2] == {"subject": "system `bank-app`", "field": "permissions",
                                    "old": ["consent:read"], "new": ["consent:read", "query"],
                                    "widening": True}
    assert doc["old"]["version"].startswith("sha256:")


def test_cli_broken_side_exits_two_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(NEW, broken)
    (broken / "rules.yaml").write_text("rules:\n  - id: x\n", "utf-8")
    result = runner.invoke(app, ["policy", "diff", str(OLD), str(broken)])
    assert result.exit_code == 2
    assert f"{broken}/rules.yaml:2:" in result.stderr


# --- git revisions ------------------------------------------------------------------------------
def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    shutil.copytree(OLD, root / "policies")
    _git(root, "add", "policies")
    _git(root, "commit", "-q", "-m", "old")
    shutil.rmtree(root / "policies")
    shutil.copytree(NEW, root / "policies")
    _git(root, "commit", "-q", "-am", "new")
    return root


def test_git_revisions_diff_like_folders(repo: Path, fixture_diff: PolicyDiff) -> None:
    with snapshot("HEAD~1", repo=repo) as (la, a), snapshot("HEAD:policies", repo=repo) as (lb, b):
        result = diff_policies(a, b)
    assert (la, lb) == ("HEAD~1:policies", "HEAD:policies")
    assert result.accesses == fixture_diff.accesses
    assert (result.old_version, result.new_version) == (fixture_diff.old_version,
                                                       fixture_diff.new_version)


def test_git_revision_errors(repo: Path) -> None:
    with (pytest.raises(SnapshotError, match=r"git revision `no-such-rev` could not be read"),
          snapshot("no-such-rev", repo=repo)):
        pass
    with (pytest.raises(SnapshotError, match=r"no policy file at `HEAD:elsewhere`"),
          snapshot("HEAD:elsewhere", repo=repo)):
        pass
    result = runner.invoke(app, ["policy", "diff", "HEAD~1", "HEAD", "--repo", str(repo),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["widenings"] == 8
