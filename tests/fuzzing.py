"""Bounds of the fuzz tests (tests/*/test_*_fuzz.py): fixed counts in CI, the profile's locally.

The `ci` Hypothesis profile (tests/conftest.py, the default) runs each fuzz test with the
count it names here, derandomized, so CI sees the same examples every run and the whole fuzz
set stays well under a minute. Any other profile keeps its own count:

    .venv/bin/python -m pytest tests -k fuzz --hypothesis-profile=long    # 5,000 each, random
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings

# generated archives, policies and tokens are large by design; some inputs are filtered
SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
               HealthCheck.large_base_example]


def fuzz(ci_examples: int) -> settings:
    """`ci_examples` under the `ci` profile; the count of a profile that sets its own
    (`long`) otherwise. Decorators run at import, after the profile is loaded."""
    if settings.default.max_examples == settings.get_profile("ci").max_examples:
        return settings(max_examples=ci_examples, suppress_health_check=SLOW_INPUTS)
    return settings(suppress_health_check=SLOW_INPUTS)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position inside a JSON-like value (dicts and lists), the value itself first: where
    a fuzz test may put its mutation."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*at, i))
    return found
