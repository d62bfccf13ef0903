"""`contains_national_id`: does a free-text field (an evidence reference) hold a national id?

Rows are (name, text built from a synthetic number, expected). Parametrize ids are names only:
the numbers are never printed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

import pytest

from pseudonymizer.rrn import contains_national_id, generate_rrn

TODAY = date(2025, 6, 1)
OLD = generate_rrn(random.Random(7), date(1985, 3, 14), 2)  # checksum form
NEW = generate_rrn(random.Random(8), date(1999, 12, 31), 1, post2020=True)  # random serial
FOREIGN = generate_rrn(random.Random(9), date(1990, 7, 1), 1, foreigner=True)


def _d(rrn: str) -> str:
    return rrn.replace("-", "")


WIDE = str.maketrans("0123456789-", "０１２３４５６７８９－")

CASES: list[tuple[str, Callable[[], str], bool]] = [
    ("hyphenated", lambda: f"consent form {OLD}", True),
    ("bare-13", lambda: f"form/{_d(OLD)}/scan", True),
    ("post-2020", lambda: f"ref {_d(NEW)}", True),  # no check digit: still a number
    ("foreigner", lambda: f"외국인 {FOREIGN}", True),
    ("full-width", lambda: "양식 " + OLD.translate(WIDE), True),
    ("spaced", lambda: f"{_d(OLD)[:6]} - {_d(OLD)[6:]}", True),
    ("dot", lambda: f"{_d(OLD)[:6]}.{_d(OLD)[6:]}", True),
    ("en-dash", lambda: f"{_d(OLD)[:6]}\u2013{_d(OLD)[6:]}", True),
    ("glued-to-hangul", lambda: f"주민번호{_d(OLD)}로 확인", True),  # Korean glues particles
    ("masked", lambda: f"{_d(OLD)[:7]}******", True),  # birth date and sex: still refused
    ("masked-hyphen", lambda: f"{_d(OLD)[:6]}-{_d(OLD)[6]}******", True),
    # look-alikes that must pass
    ("form-id", lambda: "app-consent-form/2026/000123", False),
    ("phone", lambda: "tel 010-2345-6789", False),
    ("fourteen-digits", lambda: f"order {_d(OLD)}7", False),  # part of a longer run
    ("impossible-date", lambda: "ref 991399-1234567", False),  # month 13
    ("future-birth", lambda: "ref 300101-3234567", False),  # born in 2030
    ("date-and-serial", lambda: "2026-01-01 no.0001234", False),
    ("empty", lambda: "", False),
]


@pytest.mark.parametrize(("text", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_contains_national_id(text: Callable[[], str], expected: bool) -> None:
    assert contains_national_id(text(), today=TODAY) is expected
