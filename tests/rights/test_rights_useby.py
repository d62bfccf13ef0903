"""Every released item carries `use_by`: the KST release day + the purpose's retention."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from gateway.marketing.campaigns import use_by as campaign_use_by
from gateway.domain import PurposeId
from gateway.policy import Policy, load_policy
from gateway.policy.loader import inspect_policy
from gateway.rights.useby import KST, retention_days, use_by_date, use_by_text
from tests.rights.conftest import BANK_ROW, CARD_ROW, Harness, logged


def _kst_today() -> date:
    return datetime.now(timezone.utc).astimezone(KST).date()


@pytest.mark.parametrize(("system", "purpose", "attributes", "days"), [
    # 신용위험관리: 제48조의2, 30 days
    ("card-risk", "credit_risk", ["annual_income", "credit_grade"], 30),
    # 이상거래 탐지: 제48조의2 with an approval reference in the shipped policy: its 365 days hold
    ("bank-fraud", "fraud_prevention", ["monthly_card_spend"], 365),
])
def test_each_released_item_and_its_record_carry_use_by(
        gw: Harness, system: str, purpose: str, attributes: list[str], days: int) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query(system, customer.ref, purpose, attributes)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = (_kst_today() + timedelta(days=days)).isoformat()
    assert body["released"], body
    assert {item["use_by"] for item in body["released"].values()} == {expected}
    record = logged(gw, body["log_index"])
    assert [item["use_by"] for item in record["released"]] == [expected] * len(record["released"])


def test_a_denied_query_carries_no_use_by(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    # card-risk has no rule for customer_service: nothing released, nothing to destroy
    response = gw.query("card-risk", customer.ref, "customer_service", ["annual_income"])
    assert response.status_code == 200, response.text
    assert response.json()["released"] == {}
    assert all("use_by" not in item for item in logged(gw, response.json()["log_index"])
               ["released"])


def test_use_by_is_reckoned_on_the_kst_calendar(shipped_policy_for_useby: Policy) -> None:
    policy = shipped_policy_for_useby
    purpose = policy.purposes[PurposeId("credit_risk")]
    # 2026-12-31 15:30 UTC is already 2027-01-01 00:30 in Seoul
    late = datetime(2026, 12, 31, 15, 30, tzinfo=timezone.utc)
    assert use_by_date(purpose, late) == date(2027, 1, 31)
    assert use_by_text(policy, "credit_risk", late) == "2027-01-31"
    early = datetime(2026, 12, 31, 14, 59, tzinfo=timezone.utc)  # 23:59 KST on the 31st
    assert use_by_text(policy, "credit_risk", early) == "2027-01-30"
    assert use_by_text(policy, "no_such_purpose", early) is None
    # the table's day arithmetic agrees with the zone conversion every 37 minutes for 3 days
    for step in range(0, 3 * 24 * 60, 37):
        moment = early + timedelta(minutes=step)
        expected = use_by_date(purpose, moment).isoformat()
        assert use_by_text(policy, "credit_risk", moment) == expected
        # the same instant in another zone's notation gives the same day
        assert use_by_text(policy, "credit_risk", moment.astimezone(KST)) == expected


def test_campaign_use_by_falls_on_the_same_kst_day(shipped_policy_for_useby: Policy) -> None:
    policy = shipped_policy_for_useby
    now = datetime(2026, 6, 1, 3, 0, tzinfo=timezone.utc)
    for purpose in policy.purposes.values():
        if purpose.marketing:
            assert campaign_use_by(policy, purpose.id, now).astimezone(KST).date() \
                == use_by_date(purpose, now)


@pytest.fixture(scope="module")
def shipped_policy_for_useby(policy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Policy:
    from gateway.keys import generate_system_keys

    root = tmp_path_factory.mktemp("useby-keys")
    generate_system_keys(policy_dir, root / "public", root / "private")
    return load_policy(policy_dir, root / "public")


def _without_approval(policy_dir: Path, target: Path) -> Path:
    shutil.copytree(policy_dir, target)
    doc = yaml.safe_load((target / "purposes.yaml").read_text("utf-8"))
    for purpose in doc["purposes"]:
        purpose.pop("approval_ref", None)
    (target / "purposes.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return target


def test_a_48_2_purpose_beyond_30_days_without_approval_is_flagged_and_capped(
        policy_dir: Path, tmp_path: Path) -> None:
    from gateway.keys import generate_system_keys

    generate_system_keys(policy_dir, tmp_path / "public", tmp_path / "private")
    shipped = inspect_policy(policy_dir, tmp_path / "public")
    assert "P057" not in {p.code for p in shipped.warnings}  # the shipped set names its approval

    bare = _without_approval(policy_dir, tmp_path / "bare")
    inspection = inspect_policy(bare, tmp_path / "public")
    flagged = [p for p in inspection.warnings if p.code == "P057"]
    assert [p.message for p in flagged] == [
        "purpose `fraud_prevention` cites 금융지주회사법 제48조의2: `retention_days` 365 exceeds "
        "30 without an `approval_ref`; releases carry a use-by 30 days out until one is given"]
    assert flagged[0].file.endswith("purposes.yaml") and flagged[0].message_ko.startswith("목적")
    assert inspection.policy is not None  # a warning: the set still loads
    assert retention_days(inspection.policy.purposes[PurposeId("fraud_prevention")]) == 30
    # a purpose not citing 제48조의2 keeps its own retention whatever it is
    assert all(retention_days(p) == p.retention_days
               for p in inspection.policy.purposes.values() if not p.cites_48_2)
