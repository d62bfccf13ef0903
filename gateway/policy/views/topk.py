"""The `top_k` view: the labels of the k largest records instead of the records themselves."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import Field, StrictInt, StrictStr

from gateway.policy.views.base import JsonValue, View


class TopKView(View):
    """E.g. spending by category → the 3 categories with the most spending, largest first."""

    kind: ClassVar[str] = "top_k"
    applies_to: ClassVar[frozenset[str]] = frozenset({"records"})

    k: StrictInt = Field(ge=1)
    field: StrictStr = Field(min_length=1)
    by: StrictStr = Field(min_length=1)

    def apply(self, value: Any, *, today: date) -> JsonValue:
        if not isinstance(value, (list, tuple)):
            raise self._reject("a list of records", value)
        for record in value:
            if not isinstance(record, dict) or self.field not in record or self.by not in record:
                raise self._reject(f"records with `{self.field}` and `{self.by}`", record)
            amount = record[self.by]
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                raise self._reject(f"a number in `{self.by}`", amount)
        # sorted() is stable: equal amounts keep their stored order, so the output is deterministic.
        ranked = sorted(value, key=lambda record: record[self.by], reverse=True)
        return [record[self.field] for record in ranked[: self.k]]
