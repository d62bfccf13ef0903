"""Re-identification (pseudonym → RRN): one purpose, one system, audited, default denied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import load_policy
from gateway.policy.problems import PolicyLoadError
from tests.api import conftest as api
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.test_api_errors import assert_problem

PURPOSE = "fraud_reidentification"
EXACT_RRN = [{"attribute": "rrn", "view": "exact"}]


def _pseudonym_for(gw: Harness, system: str, customer: api.TestCustomer) -> str:
    response = gw.query(system, customer.ref, "fraud_prevention", ["monthly_card_spend"])
    assert response.status_code == 200, response.text
    pseudonym: str = response.json()["customer"]["pseudonym"]
    return pseudonym


def test_bank_fraud_gets_the_rrn_by_pseudonym(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    pseudonym = _pseudonym_for(gw, "bank-fraud", customer)
    response = gw.query("bank-fraud", {"pseudonym": pseudonym}, PURPOSE, EXACT_RRN)
    assert response.status_code == 200, response.text
    body = response.json()
    digits = customer.rrn.replace("-", "")
    rrn = body["released"]["rrn"]
    assert (rrn["view"], rrn["value"]) == ("exact", f"{digits[:6]}-{digits[6:]}")
    # the access record names the release, never the number
    raw = gw.services.access_log.record(body["log_index"]).decode("utf-8")
    record = json.loads(raw)
    assert record["purpose"] == PURPOSE and record["customer"] == customer.key
    assert record["released"] == [{"attribute": "rrn", "view": "exact",
                                   "rule": "bank-fraud-reidentification", "consent": None,
                                   "use_by": rrn["use_by"]}]
    assert digits not in raw and digits[6:] not in raw


def test_default_view_is_still_the_masked_one_elsewhere(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query("bank-callcenter", customer.ref, "customer_service", ["rrn"])
    assert response.json()["released"]["rrn"]["value"] == "880314-1******"


@pytest.mark.parametrize(("system", "purpose", "reason"), [
    # the right purpose, but another system of the same affiliate
    ("bank-callcenter", PURPOSE, "system_not_permitted"),
    # another affiliate: no rule at all
    ("card-risk", PURPOSE, "no_rule"),
    ("holding-analytics", PURPOSE, "no_rule"),
    # the right system, but a purpose that does not re-identify
    ("bank-fraud", "fraud_prevention", "no_rule"),
])
def test_everyone_else_is_denied(gw: Harness, system: str, purpose: str, reason: str) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    pseudonym = _pseudonym_for(gw, system, customer)
    response = gw.query(system, {"pseudonym": pseudonym}, purpose, EXACT_RRN)
    assert response.status_code == 200, response.text
    assert response.json()["released"] == {}
    assert [w["reason"] for w in response.json()["withheld"]] == [reason]
    assert customer.rrn[7:] not in response.text


def test_customer_named_by_rrn_is_refused_and_recorded(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    response = gw.query("bank-fraud", customer.ref, PURPOSE, EXACT_RRN)
    body = assert_problem(response, 400, "reidentification-needs-pseudonym")
    record = json.loads(gw.services.access_log.record(body["log_index"]))
    assert record["kind"] == "refused" and record["problem"] == "reidentification-needs-pseudonym"
    assert customer.rrn[7:] not in response.text


def test_another_affiliates_pseudonym_does_not_reidentify(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    card_pseudonym = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
    response = gw.query("bank-fraud", {"pseudonym": card_pseudonym["customer"]["pseudonym"]},
                        PURPOSE, EXACT_RRN)
    assert_problem(response, 422, "unknown-pseudonym")


def _policy_copy(tmp_path: Path, policy_dir: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(policy_dir, target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_loader_refuses_exact_rrn_without_a_reidentification_purpose(
    tmp_path: Path, policy_dir: Path, gw: Harness,
) -> None:
    policies = _policy_copy(tmp_path, policy_dir)
    _replace(policies / "purposes.yaml", "    reidentification: true\n", "")
    with pytest.raises(PolicyLoadError, match=r"rrn") as info:
        load_policy(policies, Path(gw.settings.public_keys_dir))
    assert any(p.file.endswith("rules.yaml") for p in info.value.problems)


def test_loader_refuses_exact_rrn_under_an_ordinary_purpose(
    tmp_path: Path, policy_dir: Path, gw: Harness,
) -> None:
    policies = _policy_copy(tmp_path, policy_dir)
    _replace(policies / "rules.yaml", "    purpose: fraud_reidentification\n",
             "    purpose: fraud_prevention\n")
    with pytest.raises(PolicyLoadError, match=r"rrn"):
        load_policy(policies, Path(gw.settings.public_keys_dir))


def test_shipped_policy_reidentifies_for_exactly_one_system(gw: Harness) -> None:
    policy = gw.services.policy.current
    purposes = [p for p in policy.purposes.values() if p.reidentification]
    assert [p.id for p in purposes] == [PURPOSE]
    rules: list[Any] = [r for r in policy.rules if r.purpose == PURPOSE]
    assert [(r.recipient, r.systems) for r in rules] == [("bank", frozenset({"bank-fraud"}))]
