"""The yearly notice goes to exactly the customers whose data was provided under a purpose with
`notify_customer: true` in that KST year, and says what, to whom, for what and when."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.api.deps import request_time
from gateway.rights.notices import write_notices, year_bounds
from gateway.rights.useby import KST
from tests.api.marketing_helpers import grant
from tests.rights.conftest import BANK_ROW, CARD_ROW, Harness

NOW = datetime.now(timezone.utc)
YEAR = NOW.astimezone(KST).year


def _at(gw: Harness, moment: datetime | None) -> None:
    gw.now = moment
    if moment is None:
        gw.client.app.dependency_overrides.pop(request_time, None)  # type: ignore[attr-defined]
    else:
        gw.client.app.dependency_overrides[request_time] = lambda: moment  # type: ignore[attr-defined]


def _released(response: Any) -> bool:
    assert response.status_code == 200, response.text
    return bool(response.json()["released"])


@pytest.fixture(scope="module")
def cast(gw: Harness) -> dict[str, str]:
    """Customers, each with what happened to them this year (and one last year)."""
    who: dict[str, str] = {}

    def new(name: str, held: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
        customer = gw.customer(held or {"bank": BANK_ROW, "card": CARD_ROW})
        who[name] = customer.key
        return customer.ref

    # notified purposes that released something: a notice
    assert _released(gw.query("card-risk", new("credit_risk"), "credit_risk", ["credit_grade"]))
    twice = new("twice")
    for _ in range(2):
        assert _released(gw.query("card-risk", twice, "credit_risk", ["annual_income"]))
    assert _released(gw.query("card-risk", new("customer_service"), "customer_service",
                              ["callcenter_memo"]))
    # not notified (이상거래 탐지: telling would defeat it): no notice
    assert _released(gw.query("bank-fraud", new("fraud_only"), "fraud_prevention",
                              ["monthly_card_spend"]))
    # marketing by text message (notified in the shipped policy) after consent: a notice
    marketing = new("marketing_sms")
    assert grant(gw, marketing).status_code == 201
    assert _released(gw.query("card-marketing", marketing, "marketing_sms", ["mobile_phone"]))
    # in a campaign only (its customers are the leaves the closing record commits to): a notice
    assert grant(gw, new("campaign_only")).status_code == 201
    campaign = gw.client.post("/v1/campaigns", headers=gw.auth("card-marketing"), json={
        "purpose": "marketing_sms", "channel": "sms", "reason": "연말 안내", "ticket": "MKT-9",
        "segment": [], "attributes": ["mobile_phone"]})
    assert campaign.status_code == 200, campaign.text
    assert json.loads(campaign.text.splitlines()[-1])["summary"]["released"] == 2
    # asked under a notified purpose, nothing released (not held by the card company): no notice
    assert not _released(gw.query("card-risk", new("denied", {"bank": BANK_ROW}),
                                  "credit_risk", ["credit_grade"]))
    # provided last year only: no notice this year, one for last year
    last_year = new("last_year")
    _at(gw, datetime(YEAR - 1, 6, 1, 3, 0, tzinfo=timezone.utc))
    try:
        assert _released(gw.query("card-risk", last_year, "credit_risk", ["credit_grade"]))
    finally:
        _at(gw, None)
    return who


def _notices(path: Path) -> dict[str, dict[str, Any]]:
    lines = path.read_text("utf-8").splitlines()
    found = [json.loads(line) for line in lines]
    assert len({n["customer"] for n in found}) == len(found)  # one notice per customer
    return {n["customer"]: n for n in found}


def test_notices_cover_exactly_the_customers_who_should_get_one(
        gw: Harness, cast: dict[str, str], tmp_path: Path) -> None:
    policy = gw.services.policy.current
    summary = write_notices(gw.services.access_log, policy, YEAR, tmp_path, now=NOW,
                            campaigns_from=gw.services.gateway_engine)
    notices = _notices(summary.jsonl)
    names = {key: name for name, key in cast.items()}
    assert {names.get(k, k) for k in notices} == {"credit_risk", "twice", "customer_service",
                                                  "marketing_sms", "campaign_only"}
    # 1 + 2 + 1 query releases, 1 marketing query, 2 campaign lines
    assert summary.customers == 5 and summary.provisions == 7
    assert not (tmp_path / "notices-work.sqlite").exists()  # the work file is removed
    last = write_notices(gw.services.access_log, policy, YEAR - 1, tmp_path / "last", now=NOW,
                         campaigns_from=gw.services.gateway_engine)
    assert set(_notices(last.jsonl)) == {cast["last_year"]}


def test_a_notice_says_what_to_whom_for_what_and_when(
        gw: Harness, cast: dict[str, str], tmp_path: Path) -> None:
    policy = gw.services.policy.current
    summary = write_notices(gw.services.access_log, policy, YEAR, tmp_path, now=NOW,
                            campaigns_from=gw.services.gateway_engine)
    notice = _notices(summary.jsonl)[cast["twice"]]
    [provided] = notice["provided"]
    assert provided["recipient"] == "card"
    assert provided["recipient_ko"] == policy.affiliates["card"].name_ko  # type: ignore[index]
    assert provided["purpose"] == "credit_risk" and provided["legal_basis"]
    assert [i["id"] for i in provided["items"]] == ["annual_income"]
    assert provided["items"][0]["name_ko"] == policy.attributes[
        "annual_income"].name_ko  # type: ignore[index]
    assert provided["times"] == 2 and provided["first_kst"].endswith("KST")
    start, end = year_bounds(YEAR)
    assert start <= provided["first"] <= provided["last"] < end
    page = tmp_path / "html" / cast["twice"][:2] / f"{cast['twice']}.html"
    html = page.read_text("utf-8")
    assert f"{YEAR}년 고객정보 제공 사실 통지" in html and "KST" in html
    assert policy.affiliates["card"].name_ko in html  # type: ignore[index]
    assert "2회" in html
    # a campaign's customer: the campaign's recipient, purpose and released items
    [sent] = _notices(summary.jsonl)[cast["campaign_only"]]["provided"]
    assert (sent["recipient"], sent["purpose"], sent["times"]) == ("card", "marketing_sms", 1)
    assert [(i["id"], i["view"]) for i in sent["items"]] == [("mobile_phone", "exact")]


def test_year_bounds_follow_the_kst_calendar() -> None:
    # 2026 starts at 2025-12-31 15:00 UTC and ends at 2026-12-31 15:00 UTC
    assert year_bounds(2026) == ("2025-12-31T15:00:00.000000Z", "2026-12-31T15:00:00.000000Z")


def test_cli_writes_notices_with_a_progress_bar(
        gw: Harness, cast: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(gw.settings.public_keys_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["notices", "--year", str(YEAR), "--out",
                                          str(tmp_path), "--no-html"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["customers"] == 5 and summary["html"] is None
    assert "reading the log" in result.output
    assert len((tmp_path / f"notices-{YEAR}.jsonl").read_text("utf-8").splitlines()) == 5
    assert not (tmp_path / "html").exists()
