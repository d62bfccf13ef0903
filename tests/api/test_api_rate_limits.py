"""Rate limits over HTTP (issue #12): beyond a limit a query is answered 429 with `Retry-After`
and its own problem type, nothing is released and the refusal is recorded; reaching an alert
threshold writes one `alert` record per window; a second process shares the counts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.api.deps import request_time
from tests.api.conftest import (BANK_ROW, CARD_ROW, Harness, build_settings, postgres_settings,
                               start_harness)
from tests.api.marketing_helpers import record_at, second_process
from tests.api.test_api_queries import Clock
from tests.conftest import postgres_schema

ATTRIBUTES = ["deposit_balance", "credit_grade"]
LIMITS = """
limits:
  employee:
    requests_per_minute: {limit: 5, alert: 3}
    customers_per_hour: {limit: 3, alert: 2}
    customers_per_day: {limit: 1000}
  systems:
    bank-fraud:
      system:
        requests_per_minute: {limit: 4}
"""


def limited_policies(tmp: Path, policy_dir: Path) -> Path:
    policies = tmp / "policies"
    shutil.copytree(policy_dir, policies)
    text = (policies / "affiliates.yaml").read_text("utf-8")
    (policies / "affiliates.yaml").write_text(text[: text.index("\nlimits:")] + LIMITS, "utf-8")
    return policies


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    """A gateway whose policy limits each employee to 5 requests a minute and 3 customers an
    hour (alerts at 3 and 2), and the bank's fraud system to 4 requests a minute in all."""
    tmp = tmp_path_factory.mktemp("limited")
    yield from start_harness(build_settings(tmp, limited_policies(tmp, policy_dir)))


@pytest.fixture
def clock(limited: Harness) -> Iterator[Clock]:
    """The gateway's clock, one second into a minute (no test straddles a window by chance)."""
    moment = Clock(limited)
    start = datetime.now(timezone.utc).replace(second=1, microsecond=0)
    limited.now = start
    limited.client.app.dependency_overrides[request_time] = lambda: moment.now
    yield moment
    limited.client.app.dependency_overrides.pop(request_time, None)
    limited.now = None


def ask(gw: Harness, customer: dict[str, str], employee: str, system: str = "card-risk",
        client: Any = None) -> Any:
    return (client or gw.client).post(
        "/v1/queries", headers={"Authorization": f"Bearer {gw.token(system, employee=employee)}"},
        json={"customer": customer, "purpose": "credit_risk", "attributes": ATTRIBUTES})


def records_since(gw: Harness, start: int) -> list[dict[str, Any]]:
    access_log = gw.services.access_log
    return [json.loads(r) for r in access_log.records(start, access_log.size())]


def seconds_to(clock: Clock, length: int) -> int:
    moment = clock.now.timestamp()
    return int(length - moment % length)


def test_beyond_the_requests_per_minute_limit_is_429_and_recorded(limited: Harness,
                                                                  clock: Clock) -> None:
    customer = limited.customer({"bank": BANK_ROW, "card": CARD_ROW})
    for n in range(5):
        assert ask(limited, customer.ref, "rpm.tester").status_code == 200, n
    clock.advance(timedelta(seconds=2))
    refused = ask(limited, customer.ref, "rpm.tester")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == str(seconds_to(clock, 60)) == "57"
    problem = refused.json()
    assert problem["type"] == "https://gateway.example-holdings.co.kr/problems/rate-limited"
    assert (problem["measure"], problem["scope"], problem["retry_after"]) == (
        "requests_per_minute", "employee", 57)
    assert "released" not in problem and "deposit_balance" not in refused.text
    record = record_at(limited, problem["log_index"])
    assert refused.headers["X-Log-Index"] == str(problem["log_index"])
    assert record["kind"] == "refused" and record["status"] == 429
    assert record["problem"] == "rate-limited"
    assert record["rate_limit"] == {"measure": "requests_per_minute", "scope": "employee"}
    assert record["actor"]["employee"] == "rpm.tester"
    # others are not held up by this employee; a new minute starts afresh
    assert ask(limited, customer.ref, "other.tester").status_code == 200
    clock.advance(timedelta(seconds=58))
    assert ask(limited, customer.ref, "rpm.tester").status_code == 200


def test_beyond_the_distinct_customers_per_hour_limit_is_429(limited: Harness,
                                                             clock: Clock) -> None:
    customers = [limited.customer({"bank": BANK_ROW, "card": CARD_ROW}) for _ in range(4)]
    for customer in customers[:3]:
        assert ask(limited, customer.ref, "hour.tester").status_code == 200
    refused = ask(limited, customers[3].ref, "hour.tester")
    assert refused.status_code == 429
    assert refused.json()["measure"] == "customers_per_hour"
    assert refused.headers["Retry-After"] == str(seconds_to(clock, 3600))
    # a customer already counted this hour adds a request, not a customer
    assert ask(limited, customers[0].ref, "hour.tester").status_code == 200
    # the refused customer was not counted, and nothing of theirs was released
    assert record_at(limited, refused.json()["log_index"])["customer"] is None


def test_an_alert_is_written_once_per_window(limited: Harness, clock: Clock) -> None:
    customers = [limited.customer({"bank": BANK_ROW, "card": CARD_ROW}) for _ in range(2)]
    start = limited.services.access_log.size()
    answers = [ask(limited, customers[n % 2].ref, "alert.tester").status_code for n in range(5)]
    assert answers == [200] * 5
    alerts = [r for r in records_since(limited, start) if r["kind"] == "alert"]
    by_measure = {a["alert"]["measure"]: a for a in alerts}
    assert len(alerts) == 2 == len(by_measure)  # one per measure, not one per request
    minute = by_measure["requests_per_minute"]["alert"]
    assert minute["scope"] == "employee" and minute["system"] == "card-risk"
    assert minute["employee"] == "alert.tester" and minute["affiliate"] == "card"
    assert (minute["count"], minute["threshold"], minute["limit"]) == (3, 3, 5)
    begin = clock.now.replace(second=0)
    assert minute["window_start"] == begin.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert minute["window_end"] == (begin + timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000000Z")
    hour = by_measure["customers_per_hour"]["alert"]
    assert (hour["count"], hour["threshold"], hour["limit"]) == (2, 2, 3)
    assert by_measure["customers_per_hour"]["customer"] is None  # an alert names no customer
    # the request that reached it is named inside the alert, not as the record's request id
    assert by_measure["requests_per_minute"]["request_id"] is None
    third = [r for r in records_since(limited, start) if r["kind"] == "query"][2]
    assert minute["request_id"] == third["request_id"]
    # the next minute is a new window: its own alert when reached again
    clock.advance(timedelta(minutes=1))
    start = limited.services.access_log.size()
    for _ in range(3):
        assert ask(limited, customers[0].ref, "alert.tester").status_code == 200
    again = [r["alert"]["measure"] for r in records_since(limited, start) if r["kind"] == "alert"]
    assert again == ["requests_per_minute"]


def test_a_system_limit_counts_every_employee(limited: Harness, clock: Clock) -> None:
    customer = limited.customer({"bank": BANK_ROW})
    for n in range(4):
        assert ask(limited, customer.ref, f"fraud{n}", system="bank-fraud").status_code == 200
    refused = ask(limited, customer.ref, "fraud9", system="bank-fraud")
    assert refused.status_code == 429
    assert (refused.json()["scope"], refused.json()["measure"]) == ("system",
                                                                   "requests_per_minute")


def test_two_processes_share_the_count(limited: Harness, clock: Clock) -> None:
    customer = limited.customer({"bank": BANK_ROW, "card": CARD_ROW})
    with second_process(limited) as other:
        other.app.dependency_overrides[request_time] = lambda: clock.now
        statuses = [ask(limited, customer.ref, "shared.tester",
                        client=other if n % 2 else None).status_code for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2  # five in all, whichever process answered


def test_consent_reads_count_too(limited: Harness, clock: Clock) -> None:
    customer = limited.customer({"bank": BANK_ROW})
    headers = {"Authorization": ""}

    def search() -> Any:
        headers["Authorization"] = "Bearer " + limited.token("bank-callcenter",
                                                             employee="cc.tester")
        return limited.client.post("/v1/consents/search", headers=headers,
                                   json={"customer": customer.ref})

    assert [search().status_code for _ in range(5)] == [200] * 5
    refused = search()
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "consents" not in refused.json()
    record = record_at(limited, refused.json()["log_index"])
    assert (record["kind"], record["problem"]) == ("refused", "rate-limited")


def test_openapi_documents_the_429_where_it_is_answered(limited: Harness) -> None:
    paths = limited.client.get("/openapi.json").json()["paths"]
    assert "429" in paths["/v1/queries"]["post"]["responses"]
    assert "429" in paths["/v1/consents/search"]["post"]["responses"]
    assert "429" not in paths["/v1/log/checkpoint"]["get"]["responses"]


@pytest.mark.postgres
def test_limits_and_alerts_on_postgres(tmp_path: Path, policy_dir: Path) -> None:
    with postgres_schema("rate_api") as url:
        settings = postgres_settings(tmp_path, limited_policies(tmp_path, policy_dir), url)
        harness = start_harness(settings)
        gw = next(harness)
        try:
            assert gw.services.gateway_engine.dialect.name == "postgresql"
            moment = Clock(gw)
            gw.now = datetime.now(timezone.utc).replace(second=1, microsecond=0)
            gw.client.app.dependency_overrides[request_time] = lambda: moment.now
            customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
            with second_process(gw) as other:
                other.app.dependency_overrides[request_time] = lambda: moment.now
                statuses = [ask(gw, customer.ref, "pg.tester",
                                client=other if n % 2 else None).status_code for n in range(6)]
            assert statuses == [200] * 5 + [429]
            alerts = [r for r in records_since(gw, 0) if r["kind"] == "alert"]
            assert [a["alert"]["measure"] for a in alerts] == ["requests_per_minute"]
        finally:
            next(harness, None)  # closes the services


def test_a_full_minute_is_refused_again_without_the_work(limited: Harness, clock: Clock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.pipeline

    customer = limited.customer({"bank": BANK_ROW, "card": CARD_ROW})
    for _ in range(5):
        assert ask(limited, customer.ref, "flood.tester").status_code == 200
    assert ask(limited, customer.ref, "flood.tester").status_code == 429  # the writer's
    resolved: list[object] = []
    real = gateway.pipeline.resolve
    monkeypatch.setattr(gateway.pipeline, "resolve",
                        lambda *a, **k: resolved.append(1) or real(*a, **k))
    clock.advance(timedelta(seconds=10))
    again = ask(limited, customer.ref, "flood.tester")
    assert again.status_code == 429 and again.headers["Retry-After"] == "49"
    assert resolved == []  # refused before resolve, decide and fetch
    record = record_at(limited, again.json()["log_index"])  # and still recorded
    assert (record["problem"], record["rate_limit"]["measure"]) == ("rate-limited",
                                                                    "requests_per_minute")
    assert ask(limited, customer.ref, "other.flood").status_code == 200  # others unaffected
    clock.advance(timedelta(minutes=1))  # the next minute: the writer decides again
    assert ask(limited, customer.ref, "flood.tester").status_code == 200
    assert resolved == [1, 1]
