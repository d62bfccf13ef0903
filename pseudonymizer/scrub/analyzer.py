"""The offline Korean analyzer: presidio's `AnalyzerEngine` with our recognizers only.

No spaCy model, no public-suffix list, no network: `BlankNlpEngine` supplies empty NLP
artifacts and every recognizer is a compiled regex plus a validator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)

from pseudonymizer.scrub.context import KoreanContextEnhancer
from pseudonymizer.scrub.errors import UnknownEntity
from pseudonymizer.scrub.nlp import BlankNlpEngine
from pseudonymizer.scrub.recognizers import ENTITIES, RECOGNIZERS, KoreanRecognizer, fold_text
from pseudonymizer.scrub.recognizers.anchors import AnchorIndex, DigitRuns

__all__ = ["DEFAULT_SCORE_THRESHOLD", "KoreanAnalyzerEngine", "build_analyzer", "check_entities"]

# Below this a candidate is a look-alike: e.g. bare digits without a context word.
DEFAULT_SCORE_THRESHOLD = 0.5


def check_entities(entities: Iterable[str] | None) -> tuple[str, ...]:
    """`entities` as a tuple (all of `ENTITIES` when None); `UnknownEntity` for a typo."""
    if entities is None:
        return ENTITIES
    chosen = tuple(dict.fromkeys(entities))
    for name in chosen:
        if name not in RECOGNIZERS:
            raise UnknownEntity(f"unknown entity `{name}`")
    return chosen


def resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """One entity per character: the highest score wins, then the longest span."""
    ranked = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start))
    kept: list[RecognizerResult] = []
    for result in ranked:
        if all(result.end <= k.start or result.start >= k.end for k in kept):
            kept.append(result)
    kept.sort(key=lambda r: r.start)
    return kept


@dataclass(frozen=True, slots=True)
class _Selection:
    """The registry's recognizers for one entity list, and what `analyze` needs of them."""

    recognizers: list[EntityRecognizer]
    index: AnchorIndex  # where their patterns can start
    all_ours: bool  # all `KoreanRecognizer`s: the direct path applies
    wanted: list[str]  # the entities asked for (all supported ones when none were named)


class KoreanAnalyzerEngine(AnalyzerEngine):
    """Folds full-width characters before matching and leaves one entity per span.

    For our own recognizers `analyze` takes a direct path: the recognizer list per entity set
    is computed once (presidio scans the registry on every call), the empty NLP artifacts are
    shared, one scan finds the text's digit runs for every numeric pattern to start from
    (`recognizers.anchors`), and duplicates, thresholds and overlaps are settled in one pass.
    The results are those of presidio's path; options it does not cover (allow lists,
    decision traces, foreign recognizers) go through `AnalyzerEngine.analyze` unchanged.
    """

    _FAST_OPTIONS = frozenset({"entities", "score_threshold", "ad_hoc_recognizers", "context",
                               "correlation_id"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_entities: dict[tuple[str, tuple[str, ...] | None], _Selection] = {}

    def _recognizers(self, language: str, entities: list[str] | None) -> _Selection:
        """The registry's recognizers for `entities`, looked up once per entity list."""
        key = (language, tuple(entities) if entities else None)
        found = self._by_entities.get(key)
        if found is None:
            recognizers = self.registry.get_recognizers(
                language=language, entities=entities, all_fields=not entities
            )
            index = AnchorIndex(
                anchor for r in recognizers if isinstance(r, KoreanRecognizer)
                for _, anchor in r.ANCHORS
            )
            found = _Selection(
                recognizers, index, all(isinstance(r, KoreanRecognizer) for r in recognizers),
                list(entities) if entities else self.get_supported_entities(language),
            )
            self._by_entities[key] = found
        return found

    def analyze(  # type: ignore[override]  # `language` defaults to Korean here
        self, text: str, language: str = "ko", **kwargs: Any
    ) -> list[RecognizerResult]:
        # Folding maps one character to one, so spans are those of the caller's text.
        folded = fold_text(text)
        ad_hoc = kwargs.get("ad_hoc_recognizers") or []
        if (set(kwargs) - self._FAST_OPTIONS or self.log_decision_process
                or language not in self.supported_languages
                or not all(isinstance(r, KoreanRecognizer) for r in ad_hoc)):
            return resolve_overlaps(super().analyze(folded, language, **kwargs))
        entities = kwargs.get("entities")
        selection = self._recognizers(language, entities)
        if not selection.all_ours:  # the ad hoc ones were checked above
            return resolve_overlaps(super().analyze(folded, language, **kwargs))
        wanted = list(selection.wanted)
        recognizers = selection.recognizers + [
            r for r in ad_hoc if r.supported_language == language
            and any(e in wanted or not entities for e in r.supported_entities)]
        artifacts = self.nlp_engine.process_text(folded, language)
        results: list[RecognizerResult] = []
        runs = DigitRuns(folded, selection.index)  # one scan for digit runs, shared by all
        for recognizer in recognizers:
            results.extend(recognizer.find(folded, runs))
        if not results:
            return results
        results = self.context_aware_enhancer.enhance_using_context(
            text=folded, raw_results=results, nlp_artifacts=artifacts,
            recognizers=recognizers, context=kwargs.get("context"),
        )
        threshold = kwargs.get("score_threshold")
        if threshold is None:
            threshold = self.default_score_threshold
        return resolve_overlaps([r for r in results if r.score >= threshold and r.score > 0])


def build_analyzer(
    entities: Iterable[str] | None = None,
    *,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
) -> KoreanAnalyzerEngine:
    """An analyzer for `entities` (default: all of `ENTITIES`), language `ko`, offline.

    `analyzer.analyze(text=..., language="ko", entities=[...])` returns presidio
    `RecognizerResult`s scoring at least `score_threshold`. `PERSON` matches nothing unless
    names are passed per call: `ad_hoc_recognizers=[PersonRecognizer(names)]`.
    """
    chosen = check_entities(entities)
    registry = RecognizerRegistry(
        recognizers=[RECOGNIZERS[name]() for name in chosen], supported_languages=["ko"]
    )
    return KoreanAnalyzerEngine(
        registry=registry,
        nlp_engine=BlankNlpEngine(("ko",)),
        supported_languages=["ko"],
        default_score_threshold=score_threshold,
        context_aware_enhancer=KoreanContextEnhancer(),
    )
