"""Use-by, destruction, receipts and notices with the gateway database on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.rights.notices import write_notices
from gateway.rights.releases import release_index
from gateway.rights.useby import KST
from tests.api.conftest import (BANK_ROW, CARD_ROW, Harness, postgres_settings,
                               start_harness)
from tests.api.marketing_helpers import grant
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    with postgres_schema("gw_rights") as url:
        settings = postgres_settings(tmp_path_factory.mktemp("pg"), policy_dir, url)
        yield from start_harness(settings)


def test_releases_destruction_receipts_and_notices_on_postgres(
        pg_gw: Harness, tmp_path: Path) -> None:
    assert pg_gw.services.gateway_engine.dialect.name == "postgresql"
    customer = pg_gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    released = pg_gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
    kept = pg_gw.query("card-risk", customer.ref, "credit_risk", ["annual_income"]).json()
    index = release_index(pg_gw.services.gateway_engine, pg_gw.services.access_log)
    later = datetime.now(timezone.utc).astimezone(KST).date() + timedelta(days=45)
    index.catch_up()
    assert {released["log_index"], kept["log_index"]} <= {
        r.log_index for r in index.overdue(later, limit=1000)}
    confirmed = pg_gw.client.post("/v1/releases/destruction", headers=pg_gw.auth("card-risk"),
                                  json={"log_indexes": [released["log_index"]],
                                        "reference": "DSTR-9"})
    assert confirmed.status_code == 200, confirmed.text
    overdue = {r.log_index for r in index.overdue(later, limit=1000)}
    assert released["log_index"] not in overdue and kept["log_index"] in overdue
    assert [s.recipient for s in index.overdue_by_recipient(later)] == ["card"]
    receipt = grant(pg_gw, customer.ref).json()["receipt"]
    assert receipt["payload"]["pii_controllers"][0]["party_id"] == "card"
    summary = write_notices(pg_gw.services.access_log, pg_gw.services.policy.current,
                            datetime.now(timezone.utc).astimezone(KST).year, tmp_path,
                            now=datetime.now(timezone.utc),
                            campaigns_from=pg_gw.services.gateway_engine)
    assert summary.customers == 1 and summary.provisions == 2
