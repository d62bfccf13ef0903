"""Every refusal is a record (issue #13): a proven caller's refusal on its own, naming the
system, the employee and the problem type; an unauthenticated one counted per source and
minute into one `refusals.unauthenticated` record, so that garbage cannot flood the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.accesslog.export import export_archive
from gateway.accesslog.export_select import ExportFilters
from gateway.api.deps import request_time
from gateway.domain import SystemId
from gateway.review.aggregate import MonthAggregate
from gateway.review.period import KST, Month
from gateway.services import Services
from gateway.unauthenticated import KIND, OTHER, SAMPLE, UnauthenticatedRefusals
from gateway_verify.cli import main as verify_main
from tests.api.conftest import BANK_ROW, Harness, build_settings, start_harness
from tests.api.test_api_auth import expired, tampered_signature
from tests.api.test_api_errors import assert_problem
from tests.api.test_api_rate_limits import limited_policies
from pseudonymizer.rrn import generate_rrn
from tests.conftest import postgres_schema

QUERY = {"customer": {"pseudonym": "p1_abcd"}, "purpose": "credit_risk",
         "attributes": ["credit_grade"]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Iterator[Harness]:
    """A gateway whose policy limits each employee to 5 requests a minute (a 429 to make)."""
    tmp = tmp_path_factory.mktemp("refusals")
    yield from start_harness(build_settings(tmp, limited_policies(tmp, policy_dir)))


class MinuteClock:
    """The unauthenticated refusals' clock in a test (minutes close when it says so)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(gw: Harness, monkeypatch: pytest.MonkeyPatch) -> MinuteClock:
    """The clock of the gateway's counter of unauthenticated refusals, which starts empty:
    5 s into a minute an hour ahead, so the real minute's flush never closes it."""
    gw.unauthenticated_records(gw.services.access_log.size())  # what earlier tests left
    moment = MinuteClock((datetime.now(timezone.utc) + timedelta(hours=1))
                         .replace(second=5, microsecond=0))
    monkeypatch.setattr(gw.services.unauthenticated, "clock", moment)
    return moment


@pytest.fixture
def tally(gw: Harness, clock: MinuteClock) -> UnauthenticatedRefusals:
    return gw.services.unauthenticated


def flush(gw: Harness, counter: UnauthenticatedRefusals) -> int:
    assert gw.client.portal is not None
    written: int = gw.client.portal.call(counter.flush)
    return written


def since(gw: Harness, start: int) -> list[dict[str, Any]]:
    log = gw.services.access_log
    return [json.loads(raw) for raw in log.records(start, log.size())]


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def no_token(client: TestClient) -> Any:
    return client.post("/v1/queries", json=QUERY)


# --- the aggregation ----------------------------------------------------------------------
def test_a_flood_from_one_source_is_one_record_after_its_minute(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock) -> None:
    minute, first = clock.now.replace(second=0), clock.now
    start = gw.services.access_log.size()
    ids = []
    for n in range(40):
        answer = no_token(gw.client) if n % 4 else gw.client.post(
            "/v1/queries", content=b"x", headers={"Content-Type": "text/plain"})
        problem = answer.json()
        assert answer.status_code == (401 if n % 4 else 415)
        assert "log_index" not in problem and "x-log-index" not in answer.headers
        ids.append(problem["request_id"])
        clock.advance(seconds=1)
    last = clock.now - timedelta(seconds=1)
    assert gw.services.access_log.size() == start  # the answers waited for no record
    assert flush(gw, tally) == 0  # the minute is still open
    clock.advance(minutes=1)
    flush(gw, tally)
    [record] = since(gw, start)
    assert record["kind"] == KIND and record["source"] == "testclient"
    assert record["count"] == 40
    assert record["problems"] == {"token-missing": {"status": 401, "count": 30},
                                  "unsupported-media-type": {"status": 415, "count": 10}}
    assert record["request_ids"] == ids[:SAMPLE]  # a bounded sample: the first of the minute
    assert record["minute"] == minute.strftime("%Y-%m-%dT%H:%M:00Z")
    assert (record["first"], record["last"], record["time"]) == (stamp(first), stamp(last),
                                                                 stamp(last))
    assert record["actor"] is None and record["customer"] is None and record["status"] is None
    assert record["policy_version"] == gw.services.policy.current.version
    assert set(record["process"]) == {"host", "pid"}
    assert tally.pending() == {}


def test_two_sources_and_two_minutes_are_separate_records(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock) -> None:
    start = gw.services.access_log.size()
    other = TestClient(gw.client.app, client=("203.0.113.9", 4711))
    for _ in range(3):
        no_token(gw.client)
    no_token(other)
    clock.advance(minutes=1)
    no_token(gw.client)  # the next minute: its own record
    clock.advance(minutes=1)
    assert flush(gw, tally) == 3
    counts = {(r["source"], r["minute"][14:16]): r["count"] for r in since(gw, start)}
    minute = clock.now - timedelta(minutes=2)
    this, next_ = f"{minute.minute:02d}", f"{(minute.minute + 1) % 60:02d}"
    assert counts == {("testclient", this): 3, ("203.0.113.9", this): 1,
                      ("testclient", next_): 1}


def test_sources_beyond_the_cap_are_counted_under_other(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tally, "max_sources", 2)
    start = gw.services.access_log.size()
    for n in range(5):
        client = TestClient(gw.client.app, client=(f"198.51.100.{n}", 1000 + n))
        for _ in range(n + 1):
            no_token(client)
    assert len(tally.pending()[clock.now.replace(second=0)]) == 3  # two sources and `other`
    clock.advance(minutes=1)
    flush(gw, tally)
    counts = {r["source"]: r["count"] for r in since(gw, start)}
    assert counts == {"198.51.100.0": 1, "198.51.100.1": 2, OTHER: 3 + 4 + 5}


def test_a_log_failure_at_flush_keeps_the_counts(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    start = gw.services.access_log.size()

    class FullDisk:
        async def append_async(self, record: dict[str, Any], **_: Any) -> int:
            raise OSError("no space left on device")

    for _ in range(3):
        assert no_token(gw.client).status_code == 401  # the answer does not need the log
    clock.advance(minutes=1)
    no_token(gw.client)  # counted in the next minute while the flush fails
    with monkeypatch.context() as broken:
        broken.setattr(tally, "_log", FullDisk())
        with caplog.at_level(logging.ERROR, logger="gateway"):
            assert flush(gw, tally) == 0
    assert "unauthenticated-refusals-unrecorded" in caplog.text
    assert "no space" not in caplog.text  # the error's class, never its text
    assert [t.count for m in sorted(tally.pending()) for t in tally.pending()[m].values()] \
        == [3, 1]
    clock.advance(minutes=1)
    assert flush(gw, tally) == 2  # the log is back: both minutes, one record each
    assert [r["count"] for r in since(gw, start)] == [3, 1]


def test_counts_kept_for_a_failing_log_are_bounded(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(tally, "max_pending_minutes", 2)
    first = clock.now.replace(second=0)
    with caplog.at_level(logging.ERROR, logger="gateway"):
        for _ in range(5):
            no_token(gw.client)
            clock.advance(minutes=1)
    # two closed minutes kept and the one being counted; the two oldest were dropped, said so
    assert sorted(tally.pending()) == [first + timedelta(minutes=m) for m in (2, 3, 4)]
    assert caplog.text.count("unauthenticated-refusals-dropped: 1 refusals") == 2


def test_a_clean_stop_writes_the_open_minute(tmp_path: Path, policy_dir: Path) -> None:
    settings = build_settings(tmp_path, policy_dir)
    for stopping in start_harness(settings):
        start = stopping.services.access_log.size()
        answers = [no_token(stopping.client).json()["request_id"] for _ in range(4)]
    # the harness stopped: the lifespan drained the counts before the log closed
    services = Services.build(settings)
    try:
        records = [json.loads(raw) for raw in services.access_log.records(
            start, services.access_log.size())]
    finally:
        services.close()
    [record] = [r for r in records if r["kind"] == KIND]
    assert record["count"] == 4 and record["request_ids"] == answers


def test_the_review_and_the_verifier_read_the_aggregate(
        gw: Harness, tally: UnauthenticatedRefusals, clock: MinuteClock, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    start = gw.services.access_log.size()
    no_token(gw.client)
    clock.advance(minutes=1)
    flush(gw, tally)
    [record] = since(gw, start)
    # the monthly review counts it per problem type (no employee to charge it to)
    when = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    local = when.astimezone(KST)
    aggregate = MonthAggregate(month=Month(local.year, local.month))
    aggregate.add(start, record)
    assert aggregate.refused_by_problem == {"token-missing": 1}
    assert aggregate.unauthenticated_refusals == 1
    # an export for a regulator holds it like any record, and verifies
    out = tmp_path / "export.tar.gz"
    export_archive(gw.services.access_log, gw.services.log_engine, out,
                   verifier_keys=[gw.services.signer.verifier_key()], exported_by="auditor",
                   now=clock.now, filters=ExportFilters(since=clock.now - timedelta(hours=2)))
    code = verify_main([str(out), "--key", gw.services.signer.verifier_key()])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"{KIND} 1" in printed  # the summary's count per kind


# --- every refusal kind ---------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """A way to be refused: the request, and what its answer and its record must say."""

    make: Callable[[Harness], Any]
    status: int
    slug: str
    system: str | None  # the caller the record names; None: counted as unauthenticated


def _with(system: str, employee: str = "refusal.tester") -> Callable[[Harness], dict[str, str]]:
    return lambda gw: gw.auth(system, employee=employee)


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"pad": "'
    for _ in range(size // 1024 + 1):
        yield b"x" * 1024
    yield b'"}'


def _post(path: str, *, auth: Callable[[Harness], dict[str, str]] | None = None,
          content: Any = None, ctype: str = "application/json",
          headers: dict[str, str] | None = None, body: object = None) -> Callable[[Harness], Any]:
    def make(gw: Harness) -> Any:
        sent = {**(auth(gw) if auth else {}), "Content-Type": ctype, **(headers or {})}
        if body is not None:
            return gw.client.post(path, json=body(gw) if callable(body) else body,
                                  headers=sent)
        payload = content(gw) if callable(content) else content
        return gw.client.post(path, content=payload, headers=sent)
    return make


def _get(path: str, auth: Callable[[Harness], dict[str, str]] | None = None,
         method: str = "GET") -> Callable[[Harness], Any]:
    return lambda gw: gw.client.request(method, path, headers=auth(gw) if auth else {})


def _too_large(gw: Harness) -> bytes:
    return b'{"pad": "' + b"x" * gw.settings.max_body_bytes + b'"}'


def _bearer(make: Callable[[Harness], str]) -> Callable[[Harness], dict[str, str]]:
    return lambda gw: {"Authorization": f"Bearer {make(gw)}"}


def _held_customer(gw: Harness) -> dict[str, str]:
    return gw.customer({"bank": BANK_ROW}).ref


def _unknown_consent(gw: Harness) -> Any:
    return gw.client.post("/v1/consents/cns_nonexistent/withdraw",
                          json={"customer": _held_customer(gw)},
                          headers=gw.auth("bank-callcenter", employee="refusal.tester"))


def _unknown_customer(gw: Harness) -> Any:
    stranger = generate_rrn(gw.rng, birth=date(1991, 7, 2), sex=2)  # registered nowhere
    return gw.client.post("/v1/consents/search", json={"customer": {"rrn": stranger}},
                          headers=gw.auth("bank-callcenter", employee="refusal.tester"))


def _rate_limited(gw: Harness) -> Any:
    """Six queries in one minute by one employee (the policy allows five)."""
    fixed = datetime.now(timezone.utc).replace(second=1, microsecond=0)
    app = gw.client.app
    assert isinstance(app, FastAPI)
    gw.now = fixed
    app.dependency_overrides[request_time] = lambda: fixed
    try:
        customer = _held_customer(gw)
        for _ in range(5):
            # 429 already if this employee asked earlier in the same minute
            assert gw.query("card-risk", customer, "credit_risk",
                            ["credit_grade"]).status_code in (200, 429)
        return gw.client.post("/v1/queries", json={
            "customer": customer, "purpose": "credit_risk", "attributes": ["credit_grade"]},
            headers=gw.auth("card-risk"))
    finally:
        app.dependency_overrides.pop(request_time, None)
        gw.now = None


def _replayed_query(gw: Harness) -> Any:
    token = gw.token("card-risk", employee="refusal.tester")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"customer": _held_customer(gw), "purpose": "credit_risk",
            "attributes": ["credit_grade"]}
    assert gw.client.post("/v1/queries", json=body, headers=headers).status_code == 200
    return gw.client.post("/v1/queries", json=body, headers=headers)


def _replayed_on(request: Callable[[Harness, dict[str, str]], Any],
                 system: str = "holding-audit") -> Callable[[Harness], Any]:
    """A token used up by a first request, presented again to `request`."""
    def make(gw: Harness) -> Any:
        headers = gw.auth(system, employee="refusal.tester")
        assert gw.client.get("/v1/log/checkpoint", headers=headers).status_code == 200
        return request(gw, headers)
    return make


REFUSALS: dict[str, Refusal] = {
    # unauthenticated: counted per source and minute
    "no token": Refusal(_post("/v1/queries", body=QUERY), 401, "token-missing", None),
    "garbage token": Refusal(_post("/v1/queries", body=QUERY, auth=lambda gw: {
        "Authorization": "Bearer not.a.jwt"}), 401, "token-malformed", None),
    "forged signature": Refusal(_post("/v1/queries", body=QUERY,
                                      auth=_bearer(tampered_signature)),
                                401, "token-signature", None),
    "expired token": Refusal(_post("/v1/queries", body=QUERY, auth=_bearer(expired)),
                             401, "token-expired", None),
    "no token, other route": Refusal(_get("/v1/log/checkpoint"), 401, "token-missing", None),
    "no token, malformed json": Refusal(_post("/v1/consents", content=b'{"customer": '),
                                        400, "malformed-json", None),
    "no token, bad content-length": Refusal(_post("/v1/queries", content=b"{}", headers={
        "Content-Length": "abc"}), 400, "bad-request", None),
    "no token, body too large": Refusal(_post("/v1/queries", content=_too_large),
                                        413, "payload-too-large", None),
    "no token, chunked body too large": Refusal(_post(
        "/v1/consents", content=lambda gw: _chunks(gw.settings.max_body_bytes)),
        413, "payload-too-large", None),
    "no token, not json": Refusal(_post("/v1/queries", content=b"a=b", ctype="text/plain"),
                                  415, "unsupported-media-type", None),
    "no token, schema": Refusal(_post("/v1/queries", body=[1, 2]), 401, "token-missing", None),
    "no token, unknown route": Refusal(_get("/v1/nothing-here"), 404, "not-found", None),
    "no token, method": Refusal(_get("/v1/queries"), 405, "method-not-allowed", None),
    # a proven caller: one record each, naming system and employee
    "malformed json": Refusal(_post("/v1/queries", content=b'{"customer": ',
                                    auth=_with("card-risk")), 400, "malformed-json",
                              "card-risk"),
    "malformed json, other route": Refusal(_post("/v1/consents", content=b"[",
                                                 auth=_with("bank-callcenter")),
                                           400, "malformed-json", "bank-callcenter"),
    "bad content-length": Refusal(_post("/v1/queries", content=b"{}", auth=_with("card-risk"),
                                        headers={"Content-Length": "abc"}),
                                  400, "bad-request", "card-risk"),
    "body too large": Refusal(_post("/v1/queries", content=_too_large,
                                    auth=_with("card-risk")),
                              413, "payload-too-large", "card-risk"),
    "chunked body too large": Refusal(_post(
        "/v1/consents", content=lambda gw: _chunks(gw.settings.max_body_bytes),
        auth=_with("bank-callcenter")), 413, "payload-too-large", "bank-callcenter"),
    "not json": Refusal(_post("/v1/queries", content=b"a=b", ctype="text/plain",
                              auth=_with("card-risk")),
                        415, "unsupported-media-type", "card-risk"),
    "schema": Refusal(_post("/v1/queries", body={"customer": {}}, auth=_with("card-risk")),
                      422, "validation", "card-risk"),
    "schema, query parameter": Refusal(_get("/v1/log/proofs/inclusion?index=-1&tree_size=1",
                                            _with("holding-audit")),
                                       422, "validation", "holding-audit"),
    "unknown purpose": Refusal(_post("/v1/queries", auth=_with("card-risk"), body=lambda gw: {
        **QUERY, "customer": _held_customer(gw), "purpose": "gossip"}),
        422, "unknown-purpose", "card-risk"),
    "malformed rrn": Refusal(_post("/v1/queries", auth=_with("card-risk"), body={
        **QUERY, "customer": {"rrn": "901301-1234567"}}), 422, "malformed-rrn", "card-risk"),
    "proof out of range": Refusal(_get("/v1/log/proofs/inclusion?index=999999&tree_size=1000000",
                                       _with("holding-audit")),
                                  422, "proof-range", "holding-audit"),
    "no query permission": Refusal(_post("/v1/queries", body=QUERY, auth=_with("holding-audit")),
                                   403, "forbidden", "holding-audit"),
    "no log:read permission": Refusal(_get("/v1/log/records?start=0&end=1", _with("card-risk")),
                                      403, "forbidden", "card-risk"),
    "unknown consent": Refusal(_unknown_consent, 404, "consent-not-found", "bank-callcenter"),
    "unknown customer": Refusal(_unknown_customer, 404, "customer-unknown", "bank-callcenter"),
    "records beyond the log": Refusal(_get("/v1/log/records?start=999999&end=1000000",
                                           _with("holding-audit")),
                                      404, "not-found", "holding-audit"),
    "unknown route": Refusal(_get("/v1/nothing-here", _with("card-risk")), 404, "not-found",
                             "card-risk"),
    "method not allowed": Refusal(_get("/v1/queries", _with("card-risk")),
                                  405, "method-not-allowed", "card-risk"),
    "rate limited": Refusal(_rate_limited, 429, "rate-limited", "card-risk"),
    "replayed token, query": Refusal(_replayed_query, 401, "token-replayed", "card-risk"),
    "replayed token, other route": Refusal(_replayed_on(
        lambda gw, headers: gw.client.get("/v1/log/checkpoint", headers=headers)),
        401, "token-replayed", "holding-audit"),
    "replayed token, body refused first": Refusal(_replayed_on(
        lambda gw, headers: gw.client.post("/v1/consents/search", content=b"a=b", headers={
            **headers, "Content-Type": "text/plain"})), 401, "token-replayed", "holding-audit"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_every_refusal_kind_is_in_the_log(gw: Harness, name: str) -> None:
    refusal = REFUSALS[name]
    start = gw.services.access_log.size()
    answer = refusal.make(gw)
    problem = assert_problem(answer, refusal.status, refusal.slug)
    if refusal.system is None:
        assert "log_index" not in problem  # written once its minute closes
        [record] = [r for r in gw.unauthenticated_records(start)
                    if problem["request_id"] in r["request_ids"]]
        assert record["problems"][refusal.slug]["status"] == refusal.status
        assert record["source"] == "testclient" and record["actor"] is None
        return
    record = json.loads(gw.services.access_log.record(problem["log_index"]))
    assert answer.headers["x-log-index"] == str(problem["log_index"])
    assert (record["kind"], record["problem"], record["status"]) == (
        "refused", refusal.slug, refusal.status)
    assert record["request_id"] == problem["request_id"]
    assert record["actor"]["system"] == refusal.system
    assert record["actor"]["employee"] in ("refusal.tester", "tester")
    assert record["actor"]["affiliate"] == gw.services.policy.current.systems[
        SystemId(refusal.system)].affiliate


def test_a_refusal_before_authentication_uses_the_token_up(gw: Harness) -> None:
    headers = gw.auth("card-risk")
    refused = gw.client.post("/v1/queries", content=b"a=b",
                             headers={**headers, "Content-Type": "text/plain"})
    assert_problem(refused, 415, "unsupported-media-type")
    again = gw.client.post("/v1/queries", json={**QUERY, "customer": _held_customer(gw)},
                           headers=headers)
    assert_problem(again, 401, "token-replayed")


# --- PostgreSQL ------------------------------------------------------------------------------
@pytest.mark.postgres
def test_the_aggregate_is_written_to_a_postgresql_log(tmp_path: Path, policy_dir: Path) -> None:
    with postgres_schema("h_refusals") as url:
        settings = build_settings(tmp_path, policy_dir, database_url=url)
        for pg in start_harness(settings):
            assert pg.services.log_engine.dialect.name == "postgresql"
            start = pg.services.access_log.size()
            for _ in range(25):
                assert no_token(pg.client).status_code == 401
            [record] = pg.unauthenticated_records(start)
            assert record["count"] == 25 and record["problems"] == {
                "token-missing": {"status": 401, "count": 25}}
