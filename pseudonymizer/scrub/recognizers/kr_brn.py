"""`KR_BRN`: business registration numbers (사업자등록번호), `xxx-xx-xxxxx` with check digit.

Check digit (국세청 사업자등록번호 체계, the rule python-stdnum `stdnum.kr.brn` implements):
weights 1,3,7,1,3,7,1,3,5 over the first nine digits, plus `(9th digit * 5) // 10`; the
tenth digit is `(10 - total % 10) % 10`.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_LEFT = r"(?=[0-9])(?<![0-9])(?<![0-9][-.])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![-.][0-9])"
_BRN = re.compile(_LEFT + r"(?P<id>[1-9][0-9]{2}(?P<sep> ?- ?|)[0-9]{2}(?P=sep)[0-9]{5})" + _RIGHT)
_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def brn_check_ok(digits: str) -> bool:
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, digits[:9], strict=True))
    total += int(digits[8]) * 5 // 10
    return (10 - total % 10) % 10 == int(digits[9])


class KrBrnRecognizer(KoreanRecognizer):
    ENTITY = "KR_BRN"
    PATTERNS = (_BRN,)
    ANCHORS = ((_BRN, Anchor({3: " -", 10: ""})),)  # `123-`, or all ten unseparated
    CONTEXT = ("사업자", "사업자등록", "사업자번호", "법인", "상호", "가맹점", "대표자")

    def score(self, match: re.Match[str]) -> float | None:
        digits = "".join(c for c in match["id"] if c.isdigit())
        if not brn_check_ok(digits):
            return None
        return 0.6 if match["sep"] else 0.3
