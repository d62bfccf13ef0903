"""Presidio's own recognizers, offline: the baseline our scrubber is measured against.

Used by `bench/bench_scrub.py` (speed) and `bench/eval_scrub.py` (accuracy) so that both
compare against the same thing. Not used by the gateway.
"""

from __future__ import annotations

import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    KrBrnRecognizer,
    KrDriverLicenseRecognizer,
    KrFrnRecognizer,
    KrPassportRecognizer,
    KrRrnRecognizer,
    PhoneRecognizer,
)

from pseudonymizer.scrub.nlp import BlankNlpEngine

__all__ = ["OfflineEmailRecognizer", "presidio_analyzer", "presidio_recognizers",
           "presidio_three"]


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recognizer with tldextract's bundled suffix list (no fetch)."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return bool(self._extract(pattern_text).fqdn != "")


def presidio_three() -> list[EntityRecognizer]:
    """The issue's "default Presidio analyzer with three recognizers": RRN, email, card."""
    return [KrRrnRecognizer(), OfflineEmailRecognizer(supported_language="ko"),
            CreditCardRecognizer(supported_language="ko")]


def presidio_recognizers() -> list[EntityRecognizer]:
    """Every recognizer presidio ships for our entities."""
    return [
        KrRrnRecognizer(), KrFrnRecognizer(), KrBrnRecognizer(), KrPassportRecognizer(),
        KrDriverLicenseRecognizer(), CreditCardRecognizer(supported_language="ko"),
        OfflineEmailRecognizer(supported_language="ko"), PhoneRecognizer(supported_language="ko"),
    ]


def presidio_analyzer(recognizers: list[EntityRecognizer], *, nlp_engine: NlpEngine | None = None,
                      score_threshold: float = 0.0) -> AnalyzerEngine:
    """A Korean analyzer over `recognizers`; no NLP step unless `nlp_engine` is given."""
    return AnalyzerEngine(
        registry=RecognizerRegistry(recognizers=recognizers, supported_languages=["ko"]),
        nlp_engine=nlp_engine or BlankNlpEngine(("ko",)),
        supported_languages=["ko"],
        default_score_threshold=score_threshold,
    )
