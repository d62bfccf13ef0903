"""Context enhancement for Korean: context words are looked for as substrings near a match.

Presidio's `LemmaContextAwareEnhancer` compares whole tokens, but Korean glues particles on
(`주민번호는`, `계좌로`) and our engine has no tokenizer, so a fixed character window before
(and a shorter one after) the match is searched instead. The nearest keyword decides: a
positive one (`주민번호`, `계좌`...) raises the score, a negative one (`주문번호`, `송장`...)
drops the match, because look-alike numbers must not be flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts

from pseudonymizer.scrub.recognizers.base import ascii_lower

__all__ = ["KoreanContextEnhancer"]


class KoreanContextEnhancer(ContextAwareEnhancer):
    def __init__(
        self,
        *,
        boost: float = 0.35,
        min_score_with_context: float = 0.5,
        prefix_chars: int = 24,
        suffix_chars: int = 12,
    ) -> None:
        super().__init__(
            context_similarity_factor=boost,
            min_score_with_context_similarity=min_score_with_context,
            context_prefix_count=prefix_chars,
            context_suffix_count=suffix_chars,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {r.id: r for r in recognizers}
        lowered: str | None = None
        explicit = [w.lower() for w in context or ()]
        out: list[RecognizerResult] = []
        # Per recognizer id: its context words and their one compiled alternation (None: no
        # words), looked up once per call rather than once per result.
        words_of: dict[Any, tuple[Sequence[str], re.Pattern[str] | None]] = {}
        for result in raw_results:
            rec_id = (result.recognition_metadata or {}).get(
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY)
            entry = words_of.get(rec_id)
            if entry is None:
                recognizer = by_id.get(rec_id)
                positive: Sequence[str] = recognizer.context if recognizer is not None else ()
                negative: Sequence[str] = getattr(recognizer, "negative_context", ())
                entry = (positive, _keywords(tuple(positive), tuple(negative))
                         if positive or negative else None)
                words_of[rec_id] = entry
            positive, words = entry
            if words is None:
                out.append(result)
                continue
            if lowered is None:
                lowered = ascii_lower(text)
            verdict = self._verdict(lowered, result.start, result.end, words)
            if verdict is None and explicit and any(w in positive for w in explicit):
                verdict = True
            if verdict is False:
                continue  # a look-alike: an order, tracking or approval number
            if verdict:
                result.score = min(
                    self.MAX_SCORE,
                    max(result.score + self.context_similarity_factor,
                        self.min_score_with_context_similarity),
                )
                if result.recognition_metadata is not None:
                    result.recognition_metadata[
                        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
            out.append(result)
        return out

    def _verdict(
        self,
        lowered: str,
        start: int,
        end: int,
        words: re.Pattern[str],
    ) -> bool | None:
        """True: a positive keyword is nearest; False: a negative one; None: neither."""
        lo = max(0, start - self.context_prefix_count)
        line_start = lowered.rfind("\n", lo, start)
        lo = line_start + 1 if line_start >= 0 else lo
        nearest = None
        for nearest in words.finditer(lowered, lo, start):  # the last match is the nearest
            pass
        if nearest is not None:
            return nearest.lastgroup == "pos"
        hi = min(len(lowered), end + self.context_suffix_count)
        line_end = lowered.find("\n", end, hi)
        after = words.search(lowered, end, line_end if line_end >= 0 else hi)
        if after is not None and after.lastgroup == "pos":
            return True
        return None


@lru_cache(maxsize=256)
def _keywords(positive: tuple[str, ...], negative: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation over both lists, longest words first; a tie goes to the negative.

    Matches do not overlap, so of `주문번호` (negative) and `번호` (positive) the longer one
    wins where both end.
    """
    def alternation(words: tuple[str, ...]) -> str:
        return "|".join(re.escape(w.lower()) for w in sorted(set(words), key=len, reverse=True))

    parts = []
    if negative:
        parts.append(f"(?P<neg>{alternation(negative)})")
    if positive:
        parts.append(f"(?P<pos>{alternation(positive)})")
    return re.compile("|".join(parts))
