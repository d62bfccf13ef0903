"""`KR_BANK_ACCOUNT`: Korean bank account numbers; a context word is needed to score high.

Common layouts (digits per hyphen group): KB국민 6-2-6 and 3-2-4-3, 신한 3-3-6 and 3-2-6,
우리 4-3-6, 하나 3-6-5, NH농협 3-4-4-2 and 6-2-6, IBK기업 3-6-2-3, 카카오뱅크 4-2-7,
토스뱅크 4-4-4, 우체국 6-2-6. Layouts of other identifiers (phone, business registration,
card, resident number, dates) are left to their own recognizers.
"""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers.anchors import Anchor
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer

_LEFT = r"(?=[0-9])(?<![0-9])(?<![0-9][-.])"  # look-ahead first: a fast scan
_RIGHT = r"(?![0-9])(?![-.][0-9])"
_HYPHENATED = re.compile(
    _LEFT + r"(?P<id>[0-9]{3,6}-[0-9]{2,7}-[0-9]{2,7}(?:-[0-9]{1,3})?)" + _RIGHT
)
_PLAIN = re.compile(_LEFT + r"(?P<id>[0-9]{10,14})" + _RIGHT)

_LAYOUTS = frozenset(
    {
        (6, 2, 6), (3, 2, 4, 3), (3, 3, 6), (3, 2, 6), (4, 3, 6), (3, 6, 5), (3, 4, 4, 2),
        (3, 6, 2, 3), (4, 2, 7), (4, 4, 4), (3, 4, 4, 3), (3, 3, 5), (3, 4, 6), (4, 4, 5),
        (3, 2, 5, 1), (3, 6, 3), (4, 2, 6), (3, 3, 7),
    }
)


class KrBankAccountRecognizer(KoreanRecognizer):
    ENTITY = "KR_BANK_ACCOUNT"
    PATTERNS = (_HYPHENATED, _PLAIN)
    ANCHORS = (
        (_HYPHENATED, Anchor(dict.fromkeys(range(3, 7), "-"))),  # the first group, a hyphen
        (_PLAIN, Anchor(dict.fromkeys(range(10, 15), ""))),
    )
    CONTEXT = (
        # not a bare "출금": it hides inside "대출금" (loan amount)
        "계좌", "통장", "입금", "이체", "송금", "예금주", "환불", "출금계좌", "자동이체", "은행",
        "국민", "신한", "우리", "하나", "농협", "기업", "카카오뱅크", "토스", "우체국", "새마을",
        "account",
    )
    NEGATIVE_CONTEXT = (
        "주문번호", "송장", "운송장", "접수번호", "조회번호", "승인번호", "사업자", "증권번호",
        "대출번호", "계약번호", "고객번호", "회원번호", "보험번호", "가맹점번호",
    )

    def score(self, match: re.Match[str]) -> float | None:
        text = match["id"]
        if match.re is _PLAIN:
            # Plain digits are everything and nothing: only a context word lifts them.
            return 0.1 if text[0] != "0" or len(text) > 11 else None
        layout = tuple(len(group) for group in text.split("-"))
        if layout in _LAYOUTS:
            return 0.35
        digits = sum(layout)
        return 0.2 if 10 <= digits <= 14 else None
