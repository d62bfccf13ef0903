"""`KR_PASSPORT`: Korean passport numbers (여권번호).

Types M (multiple), S (single), R (residence), O (official), D (diplomatic), G (official
travel certificate). Before 2021: type letter + 8 digits; since December 2021 (차세대 전자여권):
type letter + 3 digits + a letter + 4 digits (외교부 여권 안내).
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_LEFT = r"(?=[MSRODG])(?<![A-Za-z0-9])"  # look-ahead first: a fast scan
_RIGHT = r"(?![A-Za-z0-9])"
_OLD = re.compile(_LEFT + r"(?P<id>[MSRODG][0-9]{8})" + _RIGHT)
_NEW = re.compile(_LEFT + r"(?P<id>[MSRODG][0-9]{3}[A-Z][0-9]{4})" + _RIGHT)


class KrPassportRecognizer(KoreanRecognizer):
    ENTITY = "KR_PASSPORT"
    PATTERNS = (_OLD, _NEW)
    # the type letter, then a run of eight digits (old form) or three (new form)
    ANCHORS = (
        (_OLD, Anchor({8: ""}, before="MSRODG")),
        (_NEW, Anchor({3: "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, before="MSRODG")),
    )
    CONTEXT = ("여권", "passport", "출국", "여행", "비자")
    NEGATIVE_CONTEXT = ("모델", "품번", "상품코드", "주문번호", "송장")

    def score(self, match: re.Match[str]) -> float | None:
        return 0.5 if match.re is _OLD else 0.55
