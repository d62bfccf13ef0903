"""KST times, policy names and autoescaped templates of the Korean documents."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.documents import Names, environment, format_kst, format_kst_date, masked_rrn
from gateway.policy.model import Policy
from pseudonymizer.rrn import parse_national_id


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 11, 3, 5, 5, tzinfo=timezone.utc), "2026-11-03 14:05 KST"),
    ("2026-11-03T05:05:09.123456Z", "2026-11-03 14:05 KST"),  # a record's time
    (datetime(2026, 11, 3, 5, 5), "2026-11-03 14:05 KST"),  # naive database time is UTC
    ("2026-12-31T15:00:00.000000Z", "2027-01-01 00:00 KST"),  # the KST date turns first
])
def test_kst(moment: datetime | str, expected: str) -> None:
    assert format_kst(moment) == expected


def test_kst_date_and_seconds() -> None:
    assert format_kst_date("2026-12-31T15:00:00.000000Z") == "2027-01-01"
    assert format_kst("2026-11-03T05:05:09Z", seconds=True) == "2026-11-03 14:05:09 KST"


def test_names_come_from_the_policy(shipped_policy: Policy) -> None:
    names = Names.of(shipped_policy)
    assert names.affiliate("card").ko == "한빛카드"
    assert names.attribute("name").ko == "성명" and names.attribute("name").en == "Name"
    assert names.view("name", "masked").ko == "일부 가림"
    assert names.purpose("nonexistent").ko == "nonexistent"  # an old id is shown, not dropped
    assert names.reason("no_consent").ko == "동의 없음"


def test_masked_rrn_shows_birth_date_and_century_digit_only() -> None:
    rrn = parse_national_id("900101-1234568")
    assert masked_rrn(rrn) == "900101-1******"


def test_templates_autoescape() -> None:
    template = environment().from_string("<p>{{ text }}</p>")
    assert template.render(text="<script>") == "<p>&lt;script&gt;</p>"
