"""`Scrubber`: find identifiers in free text and replace them, reporting counts only.

Runs presidio well (issue #4): one analyzer and one anonymizer built once and reused,
recognizers restricted to the entities asked for, and texts that hold no digit, no `@` and
none of the deny-listed names skip analysis entirely (every other entity needs one of them).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.operators import Operator, OperatorType

from pseudonymizer.scrub.analyzer import (
    DEFAULT_SCORE_THRESHOLD,
    build_analyzer,
    check_entities,
)
from pseudonymizer.scrub.errors import ScrubError
from pseudonymizer.scrub.operators import operator_config
from pseudonymizer.scrub.recognizers import PersonRecognizer
from pseudonymizer.scrub.spec import OperatorSpec, PseudonymFn, parse_operators

__all__ = ["ScrubResult", "Scrubber"]

# ASCII and full-width digits and at signs: no entity but PERSON can match without one.
_TRIGGER = re.compile(r"[0-9@\uff10-\uff19\uff20]")


def _may_occur(name: str, text: str) -> bool:
    """Whether any form `PersonRecognizer` matches could be in `text` (`홍 길동`, `길동님`):
    every form of a Korean name of 2+ syllables ends with its last two syllables (Latin
    names are matched without case)."""
    tail = name[-2:] if len(name) >= 2 else name
    return tail in text or (tail.isascii() and tail.lower() in text.lower())


@dataclass(frozen=True, slots=True)
class ScrubResult:
    """The scrubbed text and how many entities of each kind were replaced (never values)."""

    text: str
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Scrubber:
    """Scrubs Korean free text; safe to share between threads and requests.

    `operators` maps entity → operator (see `pseudonymizer.scrub.spec`); unnamed
    entities get `DEFAULT_OPERATORS`. Per call one may pass other operators (the policy's
    choice for a purpose), the customer's names, and the pseudonym callback of the recipient.
    """

    def __init__(
        self,
        operators: Mapping[str, Any] | None = None,
        *,
        entities: Iterable[str] | None = None,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ) -> None:
        self.entities = check_entities(entities)
        self.operators = parse_operators(operators)
        self.analyzer = build_analyzer(self.entities, score_threshold=score_threshold)
        self.anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]  # untyped upstream
        self._operators: dict[str, Operator] = {}  # presidio operators are stateless
        self._configs: dict[tuple[str, OperatorSpec], tuple[Operator, dict[str, Any]]] = {}
        self._pattern_entities = [e for e in self.entities if e != "PERSON"]

    def scrub(
        self,
        text: str,
        *,
        names: Iterable[str] = (),
        operators: Mapping[str, Any] | None = None,
        pseudonym: PseudonymFn | None = None,
    ) -> ScrubResult:
        """`text` with every entity found replaced, and the count per entity kind.

        Raises `ScrubError` when the text cannot be scrubbed (never returns it unscrubbed).
        """
        if not isinstance(text, str):
            raise ScrubError(f"free text must be a string, got `{type(text).__name__}`")
        wanted_names = [n for n in names if n and n.strip()] if "PERSON" in self.entities else []
        present_names = [n for n in wanted_names if _may_occur(n.strip(), text)]
        if not present_names and _TRIGGER.search(text) is None:
            return ScrubResult(text, {})
        try:
            results = self.analyzer.analyze(
                text=text,
                language="ko",
                entities=self._pattern_entities + (["PERSON"] if present_names else []),
                ad_hoc_recognizers=[PersonRecognizer(present_names)] if present_names else None,
            )
        except ScrubError:
            raise
        except Exception as exc:  # fail closed: presidio or a recognizer broke
            raise ScrubError(f"analysis failed: `{type(exc).__name__}`") from exc
        if not results:
            return ScrubResult(text, {})
        specs = parse_operators(operators) if operators is not None else self.operators
        return self._anonymize(text, results, specs, pseudonym)

    def _anonymize(
        self,
        text: str,
        results: list[Any],
        specs: Mapping[str, OperatorSpec],
        pseudonym: PseudonymFn | None,
    ) -> ScrubResult:
        """Apply presidio-anonymizer's operators to the (non-overlapping) results.

        The operators come from the one `AnonymizerEngine`'s factory and each config is
        validated once. `AnonymizerEngine.anonymize` itself is not called: it would copy the
        results, resolve conflicts the analyzer has already resolved and validate the
        operator again for every entity — about half the cost of scrubbing a short memo.
        """
        configs = {}
        try:
            for entity in {r.entity_type for r in results}:
                spec = specs[entity]
                # A pseudonym operator wraps this call's callback; every other one is the
                # same for the same (entity, spec) and is built and validated only once.
                key = (entity, spec)
                found = self._configs.get(key) if spec.kind != "pseudonym" else None
                if found is None:
                    config = operator_config(entity, spec, pseudonym)
                    operator = self._operator(config.operator_name)
                    operator.validate(params=config.params)
                    found = (operator, config.params)
                    if spec.kind != "pseudonym":
                        self._configs[key] = found
                configs[entity] = found
            pieces: list[str] = []
            cursor = 0
            # INVARIANT: results are sorted by start and do not overlap (`resolve_overlaps`).
            for result in results:
                operator, params = configs[result.entity_type]
                pieces.append(text[cursor:result.start])
                pieces.append(operator.operate(text=text[result.start:result.end], params=params))
                cursor = result.end
            pieces.append(text[cursor:])
        except ScrubError:
            raise
        except Exception as exc:
            raise ScrubError(f"anonymization failed: `{type(exc).__name__}`") from exc
        counts = Counter(r.entity_type for r in results)
        return ScrubResult("".join(pieces), dict(sorted(counts.items())))

    def _operator(self, name: str) -> Operator:
        operator = self._operators.get(name)
        if operator is None:
            operator = self.anonymizer.operators_factory.create_operator_class(
                name, OperatorType.Anonymize
            )
            self._operators[name] = operator
        return operator
