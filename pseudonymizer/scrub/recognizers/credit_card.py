"""`CREDIT_CARD`: payment card numbers (ISO/IEC 7812-1), Luhn check digit required.

Korean domestic cards use 16 digits (BIN 9xxx for local-only cards too); Amex 15.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_LEFT = r"(?=[0-9])(?<![0-9])(?<![0-9][- ])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![- ][0-9])"
_CARD16 = re.compile(_LEFT + r"(?P<id>[3-69][0-9]{3}(?P<sep>[- ]?)[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4})" + _RIGHT)
_AMEX = re.compile(_LEFT + r"(?P<id>3[47][0-9]{2}(?P<sep>[- ]?)[0-9]{6}(?P=sep)[0-9]{5})" + _RIGHT)


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B (Luhn formula)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class CreditCardRecognizer(KoreanRecognizer):
    ENTITY = "CREDIT_CARD"
    PATTERNS = (_CARD16, _AMEX)
    # the first group of four and its separator, or every digit when unseparated
    ANCHORS = ((_CARD16, Anchor({4: "- ", 16: ""})), (_AMEX, Anchor({4: "- ", 15: ""})))
    CONTEXT = ("카드", "card", "결제", "신용", "체크")
    NEGATIVE_CONTEXT = ("주문번호", "송장", "운송장", "접수번호", "조회번호", "승인번호", "바코드")

    def score(self, match: re.Match[str]) -> float | None:
        digits = "".join(c for c in match["id"] if c.isdigit())
        if not luhn_ok(digits):
            return None
        return 0.8 if match["sep"] else 0.6
