"""Base class of the scrubber's recognizers: compiled regexes plus a scoring function.

Recognizers run on text already folded by `fold_text` (full-width digits and dashes mapped
to ASCII one character for one), so their patterns stay ASCII and offsets stay those of the
original text.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from pseudonymizer.rrn import NOTATION_CHARACTERS
from pseudonymizer.scrub.recognizers.anchors import Anchor, AnchorIndex, DigitRuns

__all__ = ["KoreanRecognizer", "ascii_lower", "fold_text"]

# One character for one, so spans found in the folded text are spans of the original: the
# notation characters national ids are typed with, plus full-width letters and symbols.
_FOLDED: dict[str, str] = {
    **NOTATION_CHARACTERS,
    **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},  # Ａ-Ｚ
    **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},  # ａ-ｚ
    "\uff20": "@",  # full-width commercial at
    "\uff0b": "+",  # full-width plus
    "\uff0a": "*",  # full-width asterisk
}
_FOLDABLE = re.compile("[" + "".join(re.escape(c) for c in sorted(_FOLDED)) + "]")


def _fold_one(match: re.Match[str]) -> str:
    return _FOLDED[match.group()]


def fold_text(text: str) -> str:
    """Map full-width digits, letters and dash variants to ASCII, keeping every offset."""
    # A memo holds a few such characters at most: replacing those few is far cheaper than
    # `str.translate`, which looks every character up in the table (the result is the same).
    return _FOLDABLE.sub(_fold_one, text) if _FOLDABLE.search(text) else text


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(0x41, 0x5B)})


_UPPER = re.compile("[A-Z]")


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only: `str.lower` can change the length (`İ` → `i̇`) and shift spans."""
    return text.translate(_ASCII_LOWER) if _UPPER.search(text) else text


# Per pattern: the pattern, its anchor (None: scan the whole text), whether it has an `id` group.
_Plan = tuple[tuple[re.Pattern[str], Anchor | None, bool], ...]
_PLANS: dict[type, tuple[_Plan, AnchorIndex]] = {}


def _plan_of(cls: type[KoreanRecognizer]) -> tuple[_Plan, AnchorIndex]:
    """How a class's patterns are searched and the index of its anchors, built once per class
    (not per instance: `PersonRecognizer` is built on every call)."""
    found = _PLANS.get(cls)
    if found is None:
        anchors = dict(cls.ANCHORS)
        plan = tuple((p, anchors.get(p), "id" in p.groupindex) for p in cls.PATTERNS)
        found = (plan, AnchorIndex(anchors.values()))
        _PLANS[cls] = found
    return found


class KoreanRecognizer(LocalRecognizer):
    """A recognizer of one entity: `PATTERNS` find candidates, `score` grades each one.

    `CONTEXT` words near a match raise its score and `NEGATIVE_CONTEXT` words (order or
    tracking numbers and the like) drop it; both are applied by `KoreanContextEnhancer`,
    which matches substrings because Korean glues particles onto words.
    """

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[re.Pattern[str], ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    NEGATIVE_CONTEXT: ClassVar[tuple[str, ...]] = ()
    REQUIRES: ClassVar[str] = ""  # a character the text must hold, else nothing to search
    # (pattern, where it can start) pairs, see `anchors`; a pattern not named is scanned whole.
    ANCHORS: ClassVar[tuple[tuple[re.Pattern[str], Anchor], ...]] = ()

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language="ko",
            context=list(self.CONTEXT),
            name=type(self).__name__,
        )
        self.negative_context = self.NEGATIVE_CONTEXT
        self._plan, self.anchor_index = _plan_of(type(self))
        self._metadata = {  # copied into each result: the context enhancer writes to it
            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,  # = self.name
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }

    def load(self) -> None:
        """Nothing to load: patterns are compiled at import time."""

    def score(self, match: re.Match[str]) -> float | None:
        """The confidence for one candidate, or None when it is not this entity."""
        raise NotImplementedError

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        """Every scored candidate of every pattern (overlaps are resolved by the engine)."""
        return self.find(text, DigitRuns(text, self.anchor_index))

    def find(self, text: str, runs: DigitRuns) -> list[RecognizerResult]:
        """`analyze` with the digit runs of `text` shared between recognizers."""
        results: list[RecognizerResult] = []
        if self.REQUIRES and self.REQUIRES not in text:
            return results
        metadata = self._metadata
        for pattern, anchor, has_id in self._plan:
            found = pattern.finditer(text) if anchor is None else runs.matches(pattern, anchor)
            for match in found:
                score = self.score(match)
                if score:
                    start, end = match.span("id") if has_id else match.span()
                    results.append(
                        RecognizerResult(
                            self.ENTITY, start, end, score, recognition_metadata=dict(metadata)
                        )
                    )
        return results
