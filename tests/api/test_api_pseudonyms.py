"""Key rotation through the API: old pseudonyms resolve for the grace period, then expire;
`POST /v1/pseudonyms/mappings` maps old to new, audited with counts only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.api.deps import request_time
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness
from tests.api.test_api_errors import assert_problem


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    # its own gateway: these tests rotate the master key
    yield from start_harness(build_settings(tmp_path_factory.mktemp("pgw"), policy_dir))


def _at(gw: Harness, moment: datetime) -> None:
    gw.now = moment
    gw.client.app.dependency_overrides[request_time] = lambda: moment


@pytest.fixture(autouse=True)
def _real_clock(gw: Harness) -> Iterator[None]:
    yield
    gw.client.app.dependency_overrides.pop(request_time, None)
    gw.now = None


def _map(gw: Harness, system: str, pseudonyms: list[str]) -> object:
    return gw.client.post("/v1/pseudonyms/mappings", json={"pseudonyms": pseudonyms},
                          headers=gw.auth(system))


def _pseudonym(gw: Harness, system: str, ref: dict[str, str]) -> str:
    response = gw.query(system, ref, "fraud_prevention", ["monthly_card_spend"])
    assert response.status_code == 200, response.text
    value: str = response.json()["customer"]["pseudonym"]
    return value


def test_rotation_grace_and_mapping(gw: Harness) -> None:
    held = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    old = _pseudonym(gw, "bank-fraud", held.ref)
    assert old.startswith("p1_")

    version = gw.services.keys.rotate()
    rotated_at = datetime.now(UTC)
    created = (gw.services.keys.path / f"master-v{version}.key")
    os.utime(created, (rotated_at.timestamp(), rotated_at.timestamp()))
    gw.services.keys.reload()
    new = _pseudonym(gw, "bank-fraud", held.ref)
    assert new.startswith(f"p{version}_") and new != old

    # within the grace period the old pseudonym still names the customer
    _at(gw, rotated_at + timedelta(days=89))
    assert _pseudonym(gw, "bank-fraud", {"pseudonym": old}) == new

    mapped = _map(gw, "bank-fraud", [old, new, "p1_" + "a" * 52])
    assert mapped.status_code == 200, mapped.text  # type: ignore[attr-defined]
    body = mapped.json()  # type: ignore[attr-defined]
    assert body["key_version"] == version
    assert [(m["new"], m["error"]) for m in body["mappings"]] == [
        (new, None), (new, None), (None, "invalid")]
    record = json.loads(gw.services.access_log.record(body["log_index"]))
    assert record["kind"] == "pseudonym.map" and record["customer"] is None
    assert (record["requested"], record["mapped"], record["expired"], record["invalid"]) == (
        3, 2, 0, 1)
    raw = gw.services.access_log.record(body["log_index"]).decode("utf-8")
    assert old not in raw and new not in raw and held.key not in raw

    # after it, the old pseudonym is refused with its own problem type, and maps to nothing
    _at(gw, rotated_at + timedelta(days=91))
    late = gw.query("bank-fraud", {"pseudonym": old}, "fraud_prevention", ["monthly_card_spend"])
    problem = assert_problem(late, 422, "pseudonym-expired")
    assert "expired pseudonym version `v1`" in problem["detail"]
    expired = _map(gw, "bank-fraud", [old]).json()  # type: ignore[attr-defined]
    assert expired["mappings"] == [{"old": old, "new": None, "error": "expired"}]
    assert _pseudonym(gw, "bank-fraud", {"pseudonym": new}) == new


def test_mapping_needs_the_permission(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    pseudonym = _pseudonym(gw, "card-risk", customer.ref)
    body = assert_problem(_map(gw, "card-risk", [pseudonym]), 403, "forbidden")
    record = json.loads(gw.services.access_log.record(body["log_index"]))
    assert record["kind"] == "refused" and record["actor"]["system"] == "card-risk"


def test_only_customers_still_held_are_mapped(gw: Harness) -> None:
    # a card-only customer: the bank cannot name it, so a bank pseudonym of it cannot exist;
    # a pseudonym the bank got for someone it no longer holds maps to nothing
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    pseudonym = _pseudonym(gw, "bank-fraud", customer.ref)
    with gw.services.gateway_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM relationships WHERE customer_key = ? AND affiliate = ?",
                             (customer.key, "bank"))
    mapped = _map(gw, "bank-fraud", [pseudonym]).json()  # type: ignore[attr-defined]
    assert mapped["mappings"] == [{"old": pseudonym, "new": None, "error": "invalid"}]


@pytest.mark.parametrize("payload", [
    {"pseudonyms": []},
    {"pseudonyms": ["P1_UPPER"]},
    {"pseudonyms": ["p1_x"] * 1001},
    {"pseudonyms": ["p1_abcd"], "extra": True},
], ids=["empty", "not-lowercase", "too-many", "extra-field"])
def test_malformed_requests_are_refused(gw: Harness, payload: dict[str, object]) -> None:
    response = gw.client.post("/v1/pseudonyms/mappings", json=payload,
                              headers=gw.auth("bank-fraud"))
    assert response.status_code == 422, response.text


def test_rotate_master_command_records_first_and_running_gateway_follows(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gateway keys rotate-master` on disk; a running gateway issues the new version soon."""
    import time

    from typer.testing import CliRunner

    from gateway.cli import app

    settings = build_settings(tmp_path, policy_dir).model_copy(
        update={"key_refresh_interval_s": 0.05})
    for h in start_harness(settings):
        customer = h.customer({"bank": BANK_ROW, "card": CARD_ROW})
        before = h.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
        assert before["customer"]["pseudonym"].startswith("p1_")
        for name, value in {"GATEWAY_DATA_DIR": settings.data_dir,
                            "GATEWAY_POLICY_DIR": settings.policy_dir,
                            "GATEWAY_PUBLIC_KEYS_DIR": settings.public_keys_dir}.items():
            monkeypatch.setenv(name, str(value))
        result = CliRunner().invoke(app, ["keys", "rotate-master", "--reason", "yearly",
                                          "--operator", "kim"])
        assert result.exit_code == 0, result.output
        assert "version 1 -> 2" in result.output
        deadline = time.monotonic() + 10
        after = before
        while after["customer"]["pseudonym"].startswith("p1_") and time.monotonic() < deadline:
            time.sleep(0.05)
            after = h.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
        assert after["customer"]["pseudonym"].startswith("p2_")
        old = h.query("card-risk", {"pseudonym": before["customer"]["pseudonym"]},
                      "credit_risk", ["credit_grade"])
        assert old.status_code == 200  # within the grace period
        log = h.services.access_log
        rotations = [json.loads(log.record(i)) for i in range(log.size())]
        rotations = [r for r in rotations if r["kind"] == "key.rotation"]
        assert len(rotations) == 1
        entry = rotations[0]
        assert entry["key_name"] == "master" and entry["operator"] == "kim"
        assert (entry["old_key"], entry["new_key"]) == ({"version": 1}, {"version": 2})
        assert entry["index"] < after["log_index"]
