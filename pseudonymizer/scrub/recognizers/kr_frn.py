"""`KR_FRN`: foreigner registration numbers (외국인등록번호), 7th digit 5-8."""

from __future__ import annotations

import re

from pseudonymizer.scrub.recognizers import _national_id as nid
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer
from pseudonymizer.scrub.recognizers.kr_rrn import KrRrnRecognizer


class KrFrnRecognizer(KoreanRecognizer):
    """The resident-number notations with a foreigner's century digit."""

    ENTITY = "KR_FRN"
    PATTERNS = (nid.FULL, nid.SPLIT, nid.MASKED)
    ANCHORS = nid.ANCHORS
    CONTEXT = ("외국인등록", "외국인 등록", "외국인번호", "등록번호", "체류", "frn")
    NEGATIVE_CONTEXT = KrRrnRecognizer.NEGATIVE_CONTEXT

    def score(self, match: re.Match[str]) -> float | None:
        if match.re is nid.FULL or match.re is nid.SPLIT:
            return nid.score_full(match, foreigner=True)
        return nid.score_masked(match, foreigner=True)
