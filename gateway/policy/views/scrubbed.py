"""The `scrubbed` view: free text with identifiers replaced (issue #4 free-text scrubbing).

The only view a free-text attribute should have: call-centre memos hold resident numbers,
phones, card numbers and names typed by agents. The shape step passes a `ScrubContext` (the
gateway's shared scrubber, the customer's names, the purpose's operators and the recipient's
pseudonym callback); without one, `apply` still scrubs with the default operators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gateway.errors import GatewayError
from gateway.policy.views.base import JsonValue, View

if TYPE_CHECKING:  # presidio (and spaCy) take seconds to import: only when text is scrubbed
    from pseudonymizer.scrub import Scrubber, ScrubResult

__all__ = ["ScrubContext", "ScrubFailed", "ScrubbedView", "shared_scrubber"]


class ScrubFailed(GatewayError):
    """Free text could not be scrubbed: nothing is released (fail closed)."""

    type_slug = "scrub-failed"
    title = "free text could not be scrubbed"


@dataclass(frozen=True, slots=True)
class ScrubContext:
    scrubber: Scrubber
    names: tuple[str, ...] = ()
    operators: Mapping[str, Any] | None = None  # the purpose's `scrub:`; None = defaults
    pseudonym: Callable[[str], str | None] | None = field(default=None, repr=False)


@cache
def shared_scrubber() -> Scrubber:
    """The process's one scrubber: its presidio engines are built once and reused."""
    from pseudonymizer.scrub import Scrubber

    return Scrubber()


class ScrubbedView(View):
    kind: ClassVar[str] = "scrubbed"
    applies_to: ClassVar[frozenset[str]] = frozenset({"text"})

    # Attributes holding the customer's own names, matched in the text as a deny-list.
    names_from: tuple[str, ...] = Field(("name",), max_length=8)

    def apply(self, value: Any, *, today: date) -> JsonValue:
        return self.scrub(value, None).text

    def scrub(self, value: Any, context: ScrubContext | None) -> ScrubResult:
        """The scrubbed text and counts per entity kind; `ScrubFailed` rather than raw text."""
        from pseudonymizer.scrub import ScrubError

        if not isinstance(value, str):
            raise self._reject("free text", value)
        ctx = context or ScrubContext(shared_scrubber())
        try:
            return ctx.scrubber.scrub(
                value, names=ctx.names, operators=ctx.operators, pseudonym=ctx.pseudonym
            )
        except ScrubError as exc:
            raise ScrubFailed(f"free text could not be scrubbed: {exc}") from exc
