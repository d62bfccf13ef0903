"""`KR_PHONE`: Korean mobile (010, 011, 016-019) and landline numbers, domestic or +82.

Numbering plan: 전기통신번호관리세칙 (과학기술정보통신부 고시) — area codes 02 and 031-064,
070 (VoIP), 050x (personal numbers), 080 (free call); mobile 01x with 3- or 4-digit
exchange. Representative numbers (1588-xxxx) belong to businesses and are not flagged.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_SEP = r"(?: ?[-.] ?| |\) ?)?"
_LEFT = r"(?=[+(0])(?<![0-9+])(?<![0-9][-.])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![-.][0-9])"

_MOBILE = re.compile(
    _LEFT
    + r"(?P<id>(?:\+ ?82[ -]?(?:\(0\) ?)?|\(?0)(?P<prefix>1[016789])"
    + _SEP
    + r"[0-9]{3,4}"
    + _SEP
    + r"[0-9]{4})"
    + _RIGHT
)
_LANDLINE = re.compile(
    _LEFT
    + r"(?P<id>(?:\+ ?82[ -]?(?:\(0\) ?)?|\(?0)(?P<prefix>2|[3-6][1-5]|70|50[2-8]|80)"
    + _SEP
    + r"[0-9]{3,4}"
    + _SEP
    + r"[0-9]{4})"
    + _RIGHT
)


class KrPhoneRecognizer(KoreanRecognizer):
    """Mobile numbers in every notation; landlines need a separator or a context word."""

    ENTITY = "KR_PHONE"
    PATTERNS = (_MOBILE, _LANDLINE)
    # `+82`, `(0`, or a run of digits opening with the trunk prefix 0
    ANCHORS = (
        (_MOBILE, Anchor(first="0", signs=True)),
        (_LANDLINE, Anchor(first="0", signs=True)),
    )
    CONTEXT = (
        "연락처", "전화", "휴대폰", "핸드폰", "휴대전화", "번호로", "문자", "통화", "tel", "phone",
        "mobile", "콜백", "회신",
    )
    NEGATIVE_CONTEXT = ("주문번호", "송장", "운송장", "접수번호", "조회번호", "승인번호")

    def score(self, match: re.Match[str]) -> float | None:
        digits = sum(c.isdigit() for c in match["id"])
        separated = digits != len(match["id"])
        if match.re is _MOBILE:
            return 0.75 if separated else 0.6
        return 0.55 if separated else 0.3
