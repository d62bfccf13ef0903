"""The review page `/console/review/<month>`: charts, the outlier, roles, and the sign-off POST."""

from __future__ import annotations

import base64
import re

import pytest

from gateway.accesslog.bulk import bulk_append
from gateway.review.demo_month import PLANTED, demo_records
from tests.console.conftest import USERS, ConsoleHarness
from tests.console.conftest import console as console  # noqa: F401  (the fixture)

from .conftest import CUSTOMERS, MONTH

URL = f"/console/review/{MONTH}"


@pytest.fixture(scope="module")
def reviewed(console: ConsoleHarness) -> ConsoleHarness:  # noqa: F811
    services = console.gw.services
    bulk_append(services.log_engine, demo_records(services.policy.current, CUSTOMERS, MONTH),
                create_tables=False)
    return console


def _form(html: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert {"csrf_token", "digest", "tree_size", "as_of"} <= set(fields), fields
    return fields


def test_review_page_shows_charts_and_the_planted_insider(reviewed: ConsoleHarness) -> None:
    reviewed.sign_in("auditor")
    response = reviewed.gw.client.get(URL)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert "월간 접근기록 점검" in html and PLANTED[1] in html and "KST" in html
    charts = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(charts) == 6
    assert all(base64.b64decode(c).startswith(b"<svg") for c in charts)
    assert "<style" not in html.split("<body>")[1]  # nothing the page's CSP would refuse
    assert 'href="/console/review"' in html  # in the navigation
    pdf = reviewed.gw.client.get(f"{URL}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


def test_review_page_month_and_roles(reviewed: ConsoleHarness) -> None:
    client = reviewed.gw.client
    reviewed.sign_in("inspector")
    shown = client.get(URL)
    assert shown.status_code == 200 and "signoff-form" not in shown.text  # may read, not sign
    token = reviewed.csrf(shown.text)
    refused = client.post(f"{URL}/sign-off", data={"csrf_token": token, "comment": "확인"})
    assert refused.status_code == 403
    assert client.get("/console/review/2026-13").status_code == 404
    latest = client.get("/console/review", follow_redirects=False)
    assert latest.status_code == 303 and re.fullmatch(r"/console/review/\d{4}-\d{2}",
                                                      latest.headers["location"])
    reviewed.sign_in("call_centre_agent")
    assert client.get(URL).status_code == 403


def test_signoff_from_the_page_is_a_log_record(reviewed: ConsoleHarness) -> None:
    client = reviewed.gw.client
    reviewed.sign_in("privacy_officer")
    fields = _form(client.get(URL).text)
    before = len(reviewed.records("review.signoff"))

    no_csrf = client.post(f"{URL}/sign-off", data={**fields, "csrf_token": "x",
                                                   "comment": "확인"})
    assert no_csrf.status_code == 403

    rrn = client.post(f"{URL}/sign-off", data={**fields, "comment": "고객 900101-1234567 확인"})
    assert rrn.status_code == 422 and "900101" not in rrn.text
    assert "주민등록번호" in rrn.text
    assert reviewed.records("refused")[-1]["problem"] == "national-id-in-text"

    changed = client.post(f"{URL}/sign-off", data={**fields, "digest": "sha256:" + "0" * 64,
                                                   "comment": "확인"})
    assert changed.status_code == 409

    comment = "<script>alert(1)</script> lee.callcenter 소명 요청"
    done = client.post(f"{URL}/sign-off", data={**fields, "comment": comment},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    signoffs = reviewed.records("review.signoff")
    assert len(signoffs) == before + 1
    signed = signoffs[-1]
    assert signed["digest"] == fields["digest"] and signed["month"] == str(MONTH)
    assert signed["tree_size"] == int(fields["tree_size"]) and signed["comment"] == comment
    assert signed["actor"]["employee"] == USERS["privacy_officer"]  # type: ignore[index]
    page = client.get(URL).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; lee.callcenter" in page
    assert "<script>alert(1)" not in page
    # the reviewer as the page names them: display name (escaped) and username
    assert f"&lt;b&gt;테스트&lt;/b&gt; ({USERS['privacy_officer']})" in page
