"""The base of every view: a named, parameterised transformation of one attribute value."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from gateway.errors import GatewayError

JsonValue = Any
"""What a view returns: None, bool, int, float, str, or lists/dicts of these."""

ATTRIBUTE_TYPES = frozenset({"text", "date", "amount", "integer", "list", "records"})


class ViewInputError(GatewayError):
    """A fetched value does not have the shape the view needs (the value itself is never named)."""

    type_slug = "view-input"
    title = "a stored value does not fit its view"


class View(BaseModel):
    """A view kind: subclasses set `kind`, declare their params as fields and implement `apply`.

    Instances are immutable and validated strictly (`extra="forbid"`), so a typo in a policy
    file is a load error, never a silently ignored parameter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    applies_to: ClassVar[frozenset[str]] = ATTRIBUTE_TYPES  # attribute types the kind can shape

    @property
    def accepts_none(self) -> bool:
        """Whether a missing value (None) is meaningful input; otherwise None stays None."""
        return False

    def apply(self, value: Any, *, today: date) -> JsonValue:
        raise NotImplementedError

    def type_problem(self, attribute_type: str) -> str | None:
        """Why this view cannot shape values of `attribute_type`, or None when it can."""
        if attribute_type not in self.applies_to:
            return f"view kind `{self.kind}` does not apply to attribute type `{attribute_type}`"
        return None

    def _reject(self, expected: str, value: Any) -> ViewInputError:
        # Only the type is named: the value is personal data.
        return ViewInputError(
            f"view kind `{self.kind}` expects {expected}: got `{type(value).__name__}`"
        )
