"""`KR_RRN`: resident registration numbers (주민등록번호) in every notation, masked ones too."""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers import _national_id as nid
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer


class KrRrnRecognizer(KoreanRecognizer):
    """Hyphen, no hyphen, spaced hyphen, dot, en dash, full-width; `900101-1******`."""

    ENTITY = "KR_RRN"
    PATTERNS = (nid.FULL, nid.SPLIT, nid.MASKED, nid.DATE_ONLY)
    ANCHORS = nid.ANCHORS
    CONTEXT = ("주민번호", "주민등록", "주민 번호", "생년월일", "실명번호", "rrn", "jumin")
    # Nearer than any context word, these name another number of the same length.
    NEGATIVE_CONTEXT = (
        "계좌", "입금", "이체", "주문번호", "송장", "운송장", "접수번호", "조회번호", "승인번호",
        "증권번호", "계약번호", "고객번호", "회원번호",
    )

    def score(self, match: re.Match[str]) -> float | None:
        if match.re is nid.FULL or match.re is nid.SPLIT:
            return nid.score_full(match, foreigner=False)
        if match.re is nid.MASKED:
            return nid.score_masked(match, foreigner=False)
        return nid.score_date_only(match)
