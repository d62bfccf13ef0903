"""`PERSON`: the customer's own name, known to the gateway, as a per-call deny-list.

Korean glues particles and honorifics onto names (`홍길동님께`, `홍길동이`), so a name
matches as a substring with no right boundary; agents also type a space after the family
name (`양 소율`). A 2-syllable name needs a non-Hangul character before it, and a given name
alone counts when an honorific follows (`길동님`, `길동 고객`). Matching is plain substring
search — no regex to compile per customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from pseudonymizer.scrub.recognizers.anchors import DigitRuns
from pseudonymizer.scrub.recognizers.base import KoreanRecognizer, ascii_lower

_HONORIFICS = ("님", "씨", "고객", "선생")  # may follow after one space
_PARTICLES = ("이가", "에게", "께")  # glued on directly


def _hangul(c: str) -> bool:
    return "\uac00" <= c <= "\ud7a3"


def _latin(c: str) -> bool:
    return c.isascii() and c.isalpha()


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str  # what to look for (lowercase for Latin names)
    left_boundary: bool = False  # the character before must not be Hangul (or Latin)
    honorific: bool = False  # an honorific or particle must follow
    latin: bool = False


def _variants(names: Iterable[str]) -> tuple[_Variant, ...]:
    out: list[_Variant] = []
    for raw in sorted({n.strip() for n in names if n and n.strip()}, key=lambda n: (-len(n), n)):
        if all(_hangul(c) for c in raw):
            out.append(_Variant(raw, left_boundary=len(raw) <= 2))
            if len(raw) >= 3:  # `양 소율`, `남궁 민수`
                out.append(_Variant(f"{raw[0]} {raw[1:]}"))
            if len(raw) == 4:
                out.append(_Variant(f"{raw[:2]} {raw[2:]}"))
            if len(raw) == 3:  # one-syllable family name: the given name with an honorific
                out.append(_Variant(raw[1:], left_boundary=True, honorific=True))
        else:
            out.append(_Variant(ascii_lower(raw), left_boundary=True, latin=True))
    return tuple(out)


def _honorific_after(text: str, end: int) -> bool:
    rest = text[end:end + 3]
    if rest.startswith(_PARTICLES):
        return True
    return rest.lstrip(" ")[:2].startswith(_HONORIFICS) and len(rest) - len(rest.lstrip(" ")) <= 1


class PersonRecognizer(KoreanRecognizer):
    """Matches the names given at construction; with none it matches nothing."""

    ENTITY = "PERSON"
    PATTERNS = ()
    CONTEXT = ("고객", "성명", "이름", "본인", "님")

    def __init__(self, names: Iterable[str] = ()) -> None:
        super().__init__()
        self._variants = _variants(names)

    def score(self, match: object) -> float | None:
        return 0.9

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        lowered: str | None = None
        for variant in self._variants:
            haystack = text
            if variant.latin:
                lowered = ascii_lower(text) if lowered is None else lowered
                haystack = lowered
            start = haystack.find(variant.text)
            while start >= 0:
                end = start + len(variant.text)
                before = haystack[start - 1] if start else " "
                ok = True
                if variant.latin:
                    after = haystack[end] if end < len(haystack) else " "
                    ok = not _latin(before) and not _latin(after)
                elif variant.left_boundary and _hangul(before):
                    ok = False
                if ok and variant.honorific and not _honorific_after(text, end):
                    ok = False
                if ok and all(end <= s or start >= e for s, e in spans):
                    spans.append((start, end))
                start = haystack.find(variant.text, start + 1)
        return sorted(spans)

    def find(self, text: str, runs: DigitRuns) -> list[RecognizerResult]:
        return self.analyze(text, [self.ENTITY])

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        if not self._variants:
            return []
        return [
            RecognizerResult(self.ENTITY, start, end, 0.9,
                             recognition_metadata=dict(self._metadata))
            for start, end in self._spans(text)
        ]
