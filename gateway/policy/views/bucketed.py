"""The `bucketed` view: a number becomes the half-open band `[gte, lt)` that contains it."""

from __future__ import annotations

import bisect
from datetime import date
from typing import Any, ClassVar

from pydantic import Field, StrictFloat, StrictInt, field_validator

from gateway.policy.views.base import JsonValue, View

Number = StrictInt | StrictFloat


class BucketedView(View):
    """Bands between `bounds`; below the first bound `gte` is null, from the last `lt` is null."""

    kind: ClassVar[str] = "bucketed"
    applies_to: ClassVar[frozenset[str]] = frozenset({"amount", "integer"})

    bounds: tuple[Number, ...] = Field(min_length=1)

    @field_validator("bounds")
    @classmethod
    def _strictly_increasing(cls, bounds: tuple[Number, ...]) -> tuple[Number, ...]:
        for lower, upper in zip(bounds, bounds[1:]):
            if not lower < upper:
                raise ValueError(f"bounds must be strictly increasing: {lower} is not below {upper}")
        return bounds

    def apply(self, value: Any, *, today: date) -> JsonValue:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._reject("a number", value)
        # bisect_right: a value equal to a bound belongs to the band that starts there.
        i = bisect.bisect_right(self.bounds, value)
        lower = self.bounds[i - 1] if i > 0 else None
        upper = self.bounds[i] if i < len(self.bounds) else None
        return {"gte": lower, "lt": upper}
