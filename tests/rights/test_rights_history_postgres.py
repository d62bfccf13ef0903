"""The access history with the gateway database and the log on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_verify.history import verify_history
from tests.api.conftest import (BANK_ROW, CARD_ROW, Harness, postgres_settings,
                               start_harness)
from tests.api.marketing_helpers import grant
from tests.conftest import postgres_schema
from tests.rights.helpers import history, log_records, ok, trusted

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    with postgres_schema("gw_history") as url:
        settings = postgres_settings(tmp_path_factory.mktemp("pg"), policy_dir, url)
        yield from start_harness(settings)


def test_history_on_postgres_equals_the_log_and_verifies(pg_gw: Harness) -> None:
    assert pg_gw.services.gateway_engine.dialect.name == "postgresql"
    customer = pg_gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    for _ in range(4):
        assert pg_gw.query("card-risk", customer.ref, "credit_risk",
                           ["credit_grade"]).status_code == 200
    assert grant(pg_gw, customer.ref).status_code == 201
    first = ok(history(pg_gw, customer.ref, limit=2))
    pages = [first]
    while pages[-1]["next_cursor"]:
        pages.append(ok(history(pg_gw, customer.ref, limit=2, cursor=pages[-1]["next_cursor"])))
    walked = [e["log_index"] for p in pages for e in p["entries"]]
    assert walked == [i for i, _ in log_records(pg_gw, customer.key, first["tree_size"])]
    assert len(walked) == 5
    for page in pages:
        assert verify_history(json.dumps(page).encode(), trusted(pg_gw)).ok
