"""The `boolean` view: only whether something is there (has a loan, has a card, has a car)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from gateway.policy.views.base import JsonValue, View


class BooleanView(View):
    """`positive`: number > 0; `nonempty`: list or text with an element; `present`: not null."""

    kind: ClassVar[str] = "boolean"

    when: Literal["positive", "nonempty", "present"]

    @property
    def accepts_none(self) -> bool:
        # For `present`, a missing value is the answer (no insured car → false), not a gap.
        return self.when == "present"

    def type_problem(self, attribute_type: str) -> str | None:
        fits = {
            "positive": {"amount", "integer"},
            "nonempty": {"list", "records", "text"},
            "present": {"text", "date", "amount", "integer", "list", "records"},
        }[self.when]
        if attribute_type not in fits:
            return f"boolean `when={self.when}` does not apply to attribute type `{attribute_type}`"
        return None

    def apply(self, value: Any, *, today: date) -> JsonValue:
        if self.when == "present":
            return value is not None and value != ""
        if self.when == "positive":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self._reject("a number", value)
            return value > 0
        if not isinstance(value, (list, tuple, str)):
            raise self._reject("a list or text", value)
        return len(value) > 0
