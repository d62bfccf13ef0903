"""The `exact` view: the value as stored (dates as ISO 8601 strings)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from gateway.policy.views.base import JsonValue, View


def _jsonable(value: Any) -> JsonValue:
    if isinstance(value, date):  # also datetime, a subclass of date
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class ExactView(View):
    kind: ClassVar[str] = "exact"

    def apply(self, value: Any, *, today: date) -> JsonValue:
        return _jsonable(value)
