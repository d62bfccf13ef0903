"""HTML and PDF of a review: real charts, Korean first, and every string from the log escaped."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime
from typing import Any

import pypdf
import pytest
from sqlalchemy import Engine

from gateway.accesslog.bulk import bulk_append
from gateway.policy import Policy
from gateway.review import build_review
from gateway.review.demo_month import PLANTED
from gateway.review.documents import review_body, review_html, review_pdf

from .conftest import AS_OF, MONTH

SCRIPT = "<script>alert(1)</script>"
PAYLOADS = {
    "employee": SCRIPT,
    "affiliate": "<b>aff</b>",
    "system": "<i onmouseover=alert(2)>sys</i>",
    "purpose": "<u>purpose</u>",
    "problem": "<img src=x onerror=alert(3)>",
    "reason": '"><svg onload=alert(4)>',
    "ticket": "</td><script>alert(5)</script>",
    "comment": "<iframe src=javascript:alert(6)>",
    "reviewer": "<a href=javascript:alert(7)>me</a>",
    "exported_by": "<style>body{display:none}</style>",
}


def _hostile_records() -> list[dict[str, Any]]:
    actor = {"affiliate": PAYLOADS["affiliate"], "system": PAYLOADS["system"],
             "employee": PAYLOADS["employee"]}
    records: list[dict[str, Any]] = [
        {"kind": "query", "time": f"2026-11-{1 + i % 25:02d}T13:{i % 60:02d}:00.000000Z",
         "actor": actor, "purpose": PAYLOADS["purpose"], "customer": f"x{i}",
         "decision": "deny", "released": [],
         "withheld": [{"attribute": "a", "reason": "<blink>reason</blink>"}]}
        for i in range(400)]  # 22:00 KST, many customers, all denied: an outlier on the page
    records += [
        {"kind": "refused", "time": "2026-11-04T01:00:00.000000Z", "actor": actor,
         "problem": PAYLOADS["problem"]},
        {"kind": "campaign.open", "time": "2026-11-04T01:00:00.000000Z", "actor": actor,
         "campaign": "<c>1", "purpose": PAYLOADS["purpose"], "channel": "<ch>",
         "reason": PAYLOADS["reason"], "ticket": PAYLOADS["ticket"],
         "use_by": "2026-11-11T01:00:00.000000Z"},
        {"kind": "log.export", "time": "2026-11-05T01:00:00.000000Z", "actor": None,
         "exported_by": PAYLOADS["exported_by"], "selected": 3, "filters": {}},
        {"kind": "review.signoff", "time": "2026-12-01T01:00:00.000000Z", "actor": None,
         "month": str(MONTH), "digest": "sha256:00", "tree_size": 1,
         "reviewer": PAYLOADS["reviewer"], "comment": PAYLOADS["comment"]},
    ]
    return records


@pytest.fixture
def hostile_review(policy: Policy, demo_engine: Engine) -> Any:
    bulk_append(demo_engine, _hostile_records())
    return build_review(demo_engine, policy, MONTH, as_of=datetime.fromisoformat(AS_OF))


def test_html_has_the_charts_and_the_outlier(policy: Policy, hostile_review: Any) -> None:
    html = review_html(hostile_review, policy)
    for key in ("by_affiliate", "by_system", "by_purpose", "by_employee", "heatmap", "denials"):
        found = re.search(rf'<figure id="chart-{key}">.*?src="data:image/svg\+xml;base64,'
                          rf'([A-Za-z0-9+/=]+)"', html, re.S)
        assert found is not None, key
        svg = base64.b64decode(found.group(1)).decode()
        assert svg.startswith("<svg") and "<path" in svg, key  # matplotlib's drawing
    assert html.startswith("<!doctype html>") and '<html lang="ko">' in html
    assert "월간 접근기록 점검" in html and "Monthly access review" in html
    assert PLANTED[1] in html and "KST" in html
    assert hostile_review.digest in html
    assert "<script" not in html.lower().replace("&lt;script", "")  # no script at all


def test_html_escapes_every_string_from_the_log(policy: Policy, hostile_review: Any) -> None:
    html = review_html(hostile_review, policy)
    assert str(review_body(hostile_review, policy)) in html  # the console shows the same body
    for field, payload in PAYLOADS.items():
        assert payload not in html, field
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the employee, shown as text
    assert "&lt;iframe src=javascript:alert(6)&gt;" in html  # the sign-off comment
    for tag in ("<iframe", "<img src=x", "<style>body", "<b>aff", "<u>purpose", "<blink",
                "<a href"):
        assert tag not in html, tag


def test_pdf_parses_with_korean_text_and_chart_images(policy: Policy,
                                                      hostile_review: Any) -> None:
    data = review_pdf(hostile_review, policy, created=datetime.fromisoformat(AS_OF))
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "월간 접근기록 점검" in text and "Monthly access review" in text
    flat = re.sub(r"\s+", "", text)  # table cells wrap long ids
    assert PLANTED[1] in flat and SCRIPT.replace(" ", "") in flat  # plain text, as written
    assert "KST" in text and hostile_review.digest in text
    assert sum(len(page.images) for page in reader.pages) == 6  # one PNG per chart
    assert reader.metadata is not None and "월간" in str(reader.metadata.title)
