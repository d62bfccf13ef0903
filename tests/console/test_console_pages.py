"""Console pages: who may open what, the log page's export and verification, /docs offline."""

from __future__ import annotations

import io
import re
import sqlite3
import tarfile

import pytest
from sqlalchemy.exc import OperationalError

from tests.console.conftest import USERS, ConsoleHarness

XSS = '<script>alert("x")</script>'


def test_a_role_may_not_open_a_page_it_lacks(console: ConsoleHarness) -> None:
    console.sign_in("call_centre_agent")
    response = console.gw.client.get("/console/log")
    assert response.status_code == 403
    assert "접근 권한이 없습니다" in response.text
    denied = console.records("console.denied")[-1]
    assert denied["page"] == "log" and denied["status"] == 403
    assert denied["actor"]["employee"] == USERS["call_centre_agent"]
    # and the navigation does not offer it
    assert 'href="/console/log"' not in console.gw.client.get("/console/").text


def test_inspector_sees_the_log_but_may_not_export(console: ConsoleHarness) -> None:
    console.sign_in("inspector")
    page = console.gw.client.get("/console/log")
    assert page.status_code == 200 and "export-form" not in page.text
    token = console.csrf(page.text)
    refused = console.gw.client.post("/console/log/export", data={
        "csrf_token": token, "who": "검사역", "why": "검사"})
    assert refused.status_code == 403


def test_english_on_request(console: ConsoleHarness) -> None:
    console.sign_in("auditor")
    client = console.gw.client
    english = client.get("/console/?lang=en")
    assert "Current checkpoint" in english.text and 'lang="en"' in english.text
    assert "lang=en" in english.headers["set-cookie"]
    assert "Current checkpoint" in client.get("/console/").text  # the cookie remembers
    assert "현재 체크포인트" in client.get("/console/?lang=ko").text


def _export(console: ConsoleHarness, **fields: str) -> object:
    client = console.gw.client
    token = console.csrf(client.get("/console/log").text)
    return client.post("/console/log/export", data={"csrf_token": token, **fields})


def test_export_needs_who_and_why_and_shows_input_escaped(console: ConsoleHarness) -> None:
    console.sign_in("privacy_officer")
    response = _export(console, who=XSS, why="")
    assert response.status_code == 422  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert "반출자와 사유는 꼭 적어야 합니다" in text
    assert XSS not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text


def test_export_refuses_an_rrn_in_the_reason_without_echoing_it(console: ConsoleHarness) -> None:
    console.sign_in("privacy_officer")
    rrn = "880314-1234567"
    response = _export(console, who="감사팀", why=f"고객 {rrn} 민원")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert rrn not in response.text and "880314" not in response.text  # type: ignore[attr-defined]


def test_export_writes_both_records_and_verifies_in_korean(console: ConsoleHarness) -> None:
    console.sign_in("privacy_officer")
    response = _export(console, who="감사팀 박서준", why="2026년 11월 정기 점검")
    assert response.status_code == 200  # type: ignore[attr-defined]
    archive = response.content  # type: ignore[attr-defined]
    assert archive[:2] == b"\x1f\x8b"  # gzip
    exported = console.records("log.export")[-1]
    asked = console.records("console.export")[-1]
    assert asked["reason"] == "2026년 11월 정기 점검" and asked["exported_by"] == "감사팀 박서준"
    assert asked["actor"]["employee"] == USERS["privacy_officer"]
    assert exported["exported_by"] == "감사팀 박서준"

    client = console.gw.client
    token = console.csrf(client.get("/console/log").text)
    good = client.post("/console/log/verify", data={"csrf_token": token},
                       files={"archive": (f"{XSS}.tar.gz", archive, "application/gzip")})
    assert good.status_code == 200
    assert "검증 성공" in good.text, good.text
    assert XSS not in good.text and "&lt;script&gt;" in good.text

    tampered = _tamper(archive)
    bad = client.post("/console/log/verify", data={"csrf_token": token},
                      files={"archive": ("tampered.tar.gz", tampered, "application/gzip")})
    assert "검증 실패" in bad.text
    findings = re.findall(r"<li>(실패: [^<]+)</li>", bad.text)
    assert findings, bad.text


def _tamper(archive: bytes) -> bytes:
    """The same archive with one byte of its records changed."""
    source = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and member.name.endswith("records.jsonl"):
                data = data.replace(b'"status":200', b'"status":201', 1)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_are_served_without_the_internet(console: ConsoleHarness, path: str) -> None:
    client = console.gw.client
    page = client.get(path)
    assert page.status_code == 200
    assert not re.search(r"(src|href)=\"https?://", page.text)
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_console_forms_and_api_bodies_keep_their_own_media_types(console: ConsoleHarness) -> None:
    client = console.gw.client
    # the API still takes JSON only
    api = client.post("/v1/queries", content=b"a=b",
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert api.status_code == 415
    # the console takes browser forms only
    form = client.post("/console/signin", content=b"{}",
                       headers={"content-type": "application/json"})
    assert form.status_code == 415


def test_pages_send_a_strict_content_security_policy(console: ConsoleHarness) -> None:
    console.sign_in("auditor")
    response = console.gw.client.get("/console/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_front_page_lists_alert_records(console: ConsoleHarness) -> None:
    from datetime import datetime, timezone

    from gateway import record

    # an alert as the rate limits write it (gateway/accesslog/usage.py on the limits branch)
    console.gw.services.access_log.append({
        "v": 1, "kind": "alert", "time": record.timestamp(datetime.now(timezone.utc)),
        "request_id": "r1", "actor": {"affiliate": "card", "system": "card-risk",
                                      "employee": "kim<b>"},
        "source": None, "customer": None, "policy_version": None, "status": None,
        "alert": {"scope": "employee", "measure": "distinct_customers_per_hour",
                  "count": 150, "threshold": 100, "limit": 200,
                  "window_start": "2026-12-05T01:00:00.000000Z"}})
    console.sign_in("auditor")
    page = console.gw.client.get("/console/").text
    assert 'id="alerts"' in page and "distinct_customers_per_hour" in page
    assert "경보 기준: 100" in page and "구간 시작: 2026-12-05 10:00:00 KST" in page
    assert "kim&lt;b&gt;" in page and "kim<b>" not in page


@pytest.mark.parametrize(("failure", "status", "title_ko", "title_en"), [
    # the sessions' store cannot be reached: the API's 503, as a page of the console's own
    (OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error at /secret/db")),
     503, "저장소를 사용할 수 없습니다", "Data store unavailable"),
    # a bug: the API's 500, as a page naming the request for the operators
    (RuntimeError("internal state /secret/db"), 500, "예기치 않은 오류", "Unexpected error"),
])
def test_a_failure_under_a_page_is_answered_with_a_page_not_a_problem_document(
        console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, failure: Exception,
        status: int, title_ko: str, title_en: str) -> None:
    console.sign_in("privacy_officer")
    client = console.gw.client

    def broken(*args: object) -> None:
        raise failure

    monkeypatch.setattr(client.app.state.console.sessions, "find", broken)  # type: ignore[attr-defined]
    for lang, title in (("ko", title_ko), ("en", title_en)):
        response = client.get(f"/console/?lang={lang}")
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in response.headers  # the console's own headers
        assert title in response.text
        assert "/secret/db" not in response.text and type(failure).__name__ not in response.text
        if status == 500:  # the operators can find it by the request's id
            assert re.search(r"[0-9a-f]{32}", response.text), response.text
    monkeypatch.undo()
    # the API keeps answering problem documents
    assert client.get("/v1/nothing-here").headers["content-type"].startswith(
        "application/problem+json")
