"""Errors of the free-text scrubber (part of the `pseudonymizer` hierarchy)."""

from __future__ import annotations

from pseudonymizer.errors import PseudonymizerError


class ScrubError(PseudonymizerError):
    """Free text could not be scrubbed; the caller must not release it (fail closed)."""


class UnknownEntity(ScrubError, ValueError):
    """An entity name is not one of `ENTITIES`."""


class InvalidOperator(ScrubError, ValueError):
    """An operator specification names no known operator or has bad parameters."""
