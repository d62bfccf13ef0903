"""An NLP engine with no model: the scrubber's recognizers need no tokens, lemmas or NER.

Presidio's default engine loads a spaCy model (a download); this one loads nothing and hands
every text the same empty artifacts, so analysis is pure pattern matching and runs offline.
"""

from __future__ import annotations

from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine

__all__ = ["BlankNlpEngine"]


class BlankNlpEngine(NoOpNlpEngine):
    """`NoOpNlpEngine` for the given languages, with the empty artifacts built once each."""

    def __init__(self, languages: tuple[str, ...] = ("ko",)) -> None:
        super().__init__(models=[{"lang_code": lang, "model_name": "blank"} for lang in languages])
        self._artifacts: dict[str, NlpArtifacts] = {}
        self.load()

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        artifacts = self._artifacts.get(language)
        if artifacts is None:
            artifacts = super().process_text(text, language)
            self._artifacts[language] = artifacts
        return artifacts
