"""Free-text PII scrubbing on presidio, offline, with Korean recognizers (issue #4).

`from pseudonymizer.scrub import build_analyzer, Scrubber, ENTITIES`. Names are resolved
lazily (PEP 562): presidio and spaCy take seconds to import, and loading a policy needs only
the entity and operator names of `pseudonymizer.scrub.spec`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pseudonymizer.scrub.errors import InvalidOperator, ScrubError, UnknownEntity
from pseudonymizer.scrub.spec import (
    DEFAULT_OPERATORS,
    ENTITIES,
    OPERATOR_KINDS,
    PLACEHOLDERS,
    OperatorSpec,
    parse_operators,
)

if TYPE_CHECKING:
    from pseudonymizer.scrub.analyzer import DEFAULT_SCORE_THRESHOLD, build_analyzer
    from pseudonymizer.scrub.recognizers import RECOGNIZERS, PersonRecognizer
    from pseudonymizer.scrub.scrubber import Scrubber, ScrubResult

_LAZY = {
    "DEFAULT_SCORE_THRESHOLD": "pseudonymizer.scrub.analyzer",
    "build_analyzer": "pseudonymizer.scrub.analyzer",
    "RECOGNIZERS": "pseudonymizer.scrub.recognizers",
    "PersonRecognizer": "pseudonymizer.scrub.recognizers",
    "Scrubber": "pseudonymizer.scrub.scrubber",
    "ScrubResult": "pseudonymizer.scrub.scrubber",
}

__all__ = [
    "DEFAULT_OPERATORS",
    "DEFAULT_SCORE_THRESHOLD",
    "ENTITIES",
    "OPERATOR_KINDS",
    "PLACEHOLDERS",
    "RECOGNIZERS",
    "InvalidOperator",
    "OperatorSpec",
    "PersonRecognizer",
    "ScrubError",
    "ScrubResult",
    "Scrubber",
    "UnknownEntity",
    "build_analyzer",
    "parse_operators",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module `pseudonymizer.scrub` has no attribute `{name}`")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
