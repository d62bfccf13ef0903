"""The Jinja2 environment of every Korean document: autoescaped, with KST and name filters."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from gateway.documents.kst import format_kst, format_kst_date


@lru_cache(maxsize=1)
def environment() -> Environment:
    """One environment per process; templates live in `gateway/documents/templates/`.

    Autoescape is on for every template (a name from the policy or a value from the log is
    text, never markup), and an undefined variable is an error, not an empty string."""
    env = Environment(loader=PackageLoader("gateway.documents", "templates"),
                      autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["kst"] = format_kst
    env.filters["kst_date"] = format_kst_date
    return env


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
