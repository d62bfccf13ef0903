"""`KR_DRIVER_LICENSE`: driver's licence numbers (운전면허번호), e.g. `11-12-345678-90`.

Layout (도로교통법 시행규칙 별지 제55호서식): region (2 digits, or the region's name since
2011), year of issue (2), serial (6), check/issue digits (2). Region codes 11-26 and 28.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_REGION_CODES = frozenset({*(str(n) for n in range(11, 27)), "28"})
_REGION_NAMES = "서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산|세종"
_LEFT = r"(?=[0-9])(?<![0-9])(?<![0-9][-.])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![-.][0-9])"
_CODED = re.compile(
    _LEFT + r"(?P<id>(?P<region>[0-9]{2})(?P<sep>[- ]?)[0-9]{2}(?P=sep)[0-9]{6}(?P=sep)[0-9]{2})"
    + _RIGHT
)
_NAMED = re.compile(r"(?P<id>(?:" + _REGION_NAMES + r") ?[0-9]{2}-[0-9]{6}-[0-9]{2})" + _RIGHT)


class KrDriverLicenseRecognizer(KoreanRecognizer):
    ENTITY = "KR_DRIVER_LICENSE"
    PATTERNS = (_CODED, _NAMED)
    ANCHORS = ((_CODED, Anchor({2: "- ", 12: ""})),)  # `_NAMED` opens with a region name
    CONTEXT = ("면허", "운전", "license", "licence")
    NEGATIVE_CONTEXT = ("주문번호", "송장", "운송장", "접수번호", "조회번호")

    def score(self, match: re.Match[str]) -> float | None:
        if match.re is _NAMED:
            return 0.75
        if match["region"] not in _REGION_CODES:
            return None
        return 0.6 if match["sep"] else 0.2
