"""Destruction at the recipient: confirmations of one's own releases only, recorded; what is
past its use-by without one is listed by `gateway review overdue`."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.api.deps import request_time
from gateway.rights.releases import release_index
from gateway.rights.useby import kst_day
from tests.rights.conftest import BANK_ROW, CARD_ROW, Harness, logged

RRN_IN_TEXT = "파기대장 900101-1234567"


@pytest.fixture
def past(gw: Harness) -> Iterator[datetime]:
    """The gateway's clock 100 days back: releases made now are overdue today."""
    then = datetime.now(timezone.utc) - timedelta(days=100)
    gw.now = then
    gw.client.app.dependency_overrides[request_time] = lambda: then  # type: ignore[attr-defined]
    yield then
    gw.client.app.dependency_overrides.pop(request_time, None)  # type: ignore[attr-defined]
    gw.now = None


def _release(gw: Harness, system: str = "card-risk") -> int:
    held: dict[str, dict[str, Any]] = {"bank": BANK_ROW, "card": CARD_ROW}
    if system.startswith("securities"):
        held["securities"] = {}  # the securities firm holds the customer too (no values asked)
    customer = gw.customer(held)
    response = gw.query(system, customer.ref, "credit_risk", ["credit_grade"])
    assert response.status_code == 200 and response.json()["released"], response.text
    index: int = response.json()["log_index"]
    return index


def _confirm(gw: Harness, system: str, **body: Any) -> Any:
    return gw.client.post("/v1/releases/destruction", json={"reference": "DSTR-2026-001", **body},
                          headers=gw.auth(system))


def _overdue(gw: Harness) -> set[int]:
    index = release_index(gw.services.gateway_engine, gw.services.access_log)
    index.catch_up()
    return {r.log_index for r in index.overdue(kst_day(datetime.now(timezone.utc)), limit=10**6)}


def test_overdue_releases_are_listed_and_confirmed_ones_are_not(
        gw: Harness, past: datetime) -> None:
    confirmed, kept = _release(gw), _release(gw)
    gw.client.app.dependency_overrides.pop(request_time, None)  # type: ignore[attr-defined]
    gw.now = None
    assert {confirmed, kept} <= _overdue(gw)
    response = _confirm(gw, "card-risk", log_indexes=[confirmed])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["releases"] == [{"log_index": confirmed,
                                 "use_by": (kst_day(past) + timedelta(days=30)).isoformat(),
                                 "destruction_index": body["log_index"]}]
    record = logged(gw, body["log_index"])
    assert record["kind"] == "release.destruction" and record["releases"] == [confirmed]
    assert record["actor"]["system"] == "card-risk" and record["reference"] == "DSTR-2026-001"
    overdue = _overdue(gw)
    assert confirmed not in overdue and kept in overdue
    # a second confirmation is recorded too, but the first one stands
    again = _confirm(gw, "card-risk", log_indexes=[confirmed]).json()
    assert again["releases"][0]["destruction_index"] == body["log_index"]


def test_a_release_not_yet_due_is_not_overdue(gw: Harness) -> None:
    assert _release(gw) not in _overdue(gw)


@pytest.mark.parametrize("whose", [
    "other_recipient",  # a release to the securities firm, named by the card company
    "not_a_release",  # a consent or refusal record: nothing was released
    "beyond_the_log",  # an index the log has not reached
])
def test_indexes_that_are_not_the_callers_releases_are_refused_alike(
        gw: Harness, whose: str) -> None:
    if whose == "other_recipient":
        index = _release(gw, system="securities-risk")
    elif whose == "not_a_release":
        index = gw.query("card-risk", gw.customer({"bank": BANK_ROW}).ref, "customer_service",
                         ["annual_income"]).json()["log_index"]
    else:
        index = gw.services.access_log.size() + 1000
    mine = _release(gw)
    response = _confirm(gw, "card-risk", log_indexes=[mine, index])
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["type"].endswith("/release-unknown")
    assert str(index) not in problem["detail"] and str(mine) not in problem["detail"]
    refusal = logged(gw, problem["log_index"])
    assert refusal["kind"] == "refused" and refusal["problem"] == "release-unknown"
    assert mine in _overdue_later(gw)  # nothing of the request was applied


def _overdue_later(gw: Harness) -> set[int]:
    index = release_index(gw.services.gateway_engine, gw.services.access_log)
    index.catch_up()
    later = kst_day(datetime.now(timezone.utc)) + timedelta(days=400)
    return {r.log_index for r in index.overdue(later, limit=10**6)}


def test_free_text_rrn_in_the_reference_is_refused_and_never_stored(gw: Harness) -> None:
    mine = _release(gw)
    before = gw.services.access_log.size()
    response = _confirm(gw, "card-risk", log_indexes=[mine], reference=RRN_IN_TEXT)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/national-id-in-text")
    assert "900101" not in response.text
    for index in range(before, gw.services.access_log.size()):
        assert b"900101" not in gw.services.access_log.record(index)


@pytest.mark.parametrize(("body", "status"), [
    ({}, 422),  # names nothing
    ({"log_indexes": [-1]}, 422),
    ({"log_indexes": ["12; drop table"]}, 422),
    ({"campaign_ids": ["not-a-campaign"]}, 422),
    ({"campaign_ids": ["cmp_unknownunknown"]}, 404),
])
def test_malformed_confirmations_get_a_problem_without_echo(
        gw: Harness, body: dict[str, Any], status: int) -> None:
    system = "card-marketing" if "campaign_ids" in body else "card-risk"
    response = _confirm(gw, system, **body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "drop table" not in response.text and "not-a-campaign" not in response.text


def test_a_system_without_query_may_not_confirm_releases(gw: Harness) -> None:
    response = _confirm(gw, "bank-app", log_indexes=[_release(gw)])
    assert response.status_code == 403


def test_review_overdue_lists_releases_past_use_by(
        gw: Harness, past: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    late = _release(gw)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(Path(gw.settings.public_keys_dir)))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["review", "overdue", "--format", "json",
                                          "--limit", "100000"])
        assert result.exit_code == 1, result.output  # something to act on
        found = json.loads(result.stdout)
        assert late in {r["log_index"] for r in found["releases"]["oldest"]}
        card = next(r for r in found["releases"]["by_recipient"] if r["recipient"] == "card")
        assert card["count"] >= 1 and card["oldest_use_by"] <= found["today_kst"]
        text = CliRunner().invoke(app, ["review", "overdue"])
        assert f"release {late}  card" in text.stdout
    finally:
        get_settings.cache_clear()


def test_a_campaign_is_confirmed_destroyed_by_its_own_recipient_only(gw: Harness) -> None:
    from gateway.marketing.campaigns import CampaignStore
    from tests.api.marketing_helpers import grant

    customer = gw.customer({"bank": BANK_ROW})
    assert grant(gw, customer.ref).status_code == 201
    run = gw.client.post("/v1/campaigns", headers=gw.auth("card-marketing"), json={
        "purpose": "marketing_sms", "channel": "sms", "reason": "연말 안내", "ticket": "MKT-7",
        "segment": [], "attributes": ["mobile_phone"]})
    assert run.status_code == 200, run.text
    campaign = run.headers["x-campaign-id"]
    # the insurer's marketing system may run campaigns, but this one is the card company's
    other = _confirm(gw, "insurance-marketing", campaign_ids=[campaign])
    assert other.status_code == 404 and campaign not in other.text
    response = _confirm(gw, "card-marketing", campaign_ids=[campaign])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["id"] for c in body["campaigns"]] == [campaign]
    assert body["campaigns"][0]["destruction_index"] == body["log_index"]
    record = logged(gw, body["log_index"])
    assert record["kind"] == "release.destruction" and record["campaigns"] == [campaign]
    status = CampaignStore(gw.services.gateway_engine).get(campaign, recipient="card")
    assert status.destroyed_at is not None


def test_the_follower_reads_on_in_the_background_until_stopped(
        gw: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`ReleaseIndex.follow` (the host's log writer process runs it under `gateway serve`):
    it keeps the index behind the log, a failed catch-up is logged by its type and the next
    tick reads on, and it stops when told."""
    index = release_index(gw.services.gateway_engine, gw.services.access_log)
    released = _release(gw)
    catch_up = index.catch_up
    failures = 0

    def flaky(until: int | None = None) -> int:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OSError("disk I/O error on /secret/path")
        return catch_up(until)

    monkeypatch.setattr(index, "catch_up", flaky)
    stop = threading.Event()
    follower = threading.Thread(target=index.follow, args=(stop.is_set, 0.005))
    with caplog.at_level(logging.ERROR, logger="gateway.rights.releases"):
        follower.start()
        deadline = time.monotonic() + 10
        while index.position() <= released and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        follower.join(5)
    assert not follower.is_alive()
    assert index.position() > released and failures == 1
    assert "releases follower failed: OSError" in caplog.text
    assert "/secret/path" not in caplog.text


def test_the_follower_stops_within_a_tick_however_long_its_interval(gw: Harness) -> None:
    """`gateway serve` stops the writer process's follower with it: a stop is not kept
    waiting for the end of the interval."""
    index = release_index(gw.services.gateway_engine, gw.services.access_log)
    stop = threading.Event()
    follower = threading.Thread(target=index.follow, args=(stop.is_set, 60.0))
    follower.start()
    time.sleep(0.05)
    began = time.monotonic()
    stop.set()
    follower.join(5)
    assert not follower.is_alive() and time.monotonic() - began < 1.0
