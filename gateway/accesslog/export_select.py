"""What an export selects (period, recipient affiliate, customer, purpose) and what it counts.

The semantics are fixed by docs/EXPORT-FORMAT.md ("manifest.json"); the regulator's
verifier re-implements them independently and checks every record and count against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.errors import BadRequest

NONE = "-"  # count key for a record without the field


class ExportFilterInvalid(BadRequest):
    type_slug = "log-export-filter"
    title = "export filter is invalid"


def format_time(when: datetime) -> str:
    """RFC 3339 UTC with microseconds, the form records carry (`gateway.record.timestamp`)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


KST = timezone(timedelta(hours=9), "KST")


def parse_time(text: str, what: str) -> datetime:
    """An RFC 3339 time, or a date alone meaning its midnight in Korea (KST, UTC+9: the day
    the people asking for the export mean); a time without an offset is refused."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ExportFilterInvalid(f"`{what}` is not an rfc 3339 time") from exc
    if len(text) == 10:  # YYYY-MM-DD
        when = when.replace(tzinfo=KST)
    if when.tzinfo is None:
        raise ExportFilterInvalid(f"`{what}` needs a time zone offset, e.g. `Z` or `+09:00`")
    return when.astimezone(UTC)


def _affiliate(record: dict[str, Any]) -> Any:
    actor = record.get("actor")
    return actor.get("affiliate") if isinstance(actor, dict) else None


def _record_time(record: dict[str, Any]) -> datetime | None:
    value = record.get("time")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


@dataclass(frozen=True)
class ExportFilters:
    """None means "not restricted"; `since` inclusive, `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    affiliates: frozenset[str] | None = None
    customers: frozenset[str] | None = None
    purposes: frozenset[str] | None = None

    @classmethod
    def of(cls, *, since: str | None = None, until: str | None = None,
           affiliates: Iterable[str] | None = None, customers: Iterable[str] | None = None,
           purposes: Iterable[str] | None = None) -> ExportFilters:
        start = None if since is None else parse_time(since, "since")
        end = None if until is None else parse_time(until, "until")
        if start is not None and end is not None and start >= end:
            raise ExportFilterInvalid("`since` must be before `until`")
        return cls(start, end, _frozen(affiliates), _frozen(customers), _frozen(purposes))

    def matches(self, record: dict[str, Any]) -> bool:
        if self.since is not None or self.until is not None:
            when = _record_time(record)
            if when is None:
                return False
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when >= self.until:
                return False
        if self.affiliates is not None and _affiliate(record) not in self.affiliates:
            return False
        if self.customers is not None and record.get("customer") not in self.customers:
            return False
        return self.purposes is None or record.get("purpose") in self.purposes

    def to_json(self) -> dict[str, Any]:
        def listed(values: frozenset[str] | None) -> list[str] | None:
            return None if values is None else sorted(values)

        return {
            "affiliates": listed(self.affiliates),
            "customers": listed(self.customers),
            "purposes": listed(self.purposes),
            "since": None if self.since is None else format_time(self.since),
            "until": None if self.until is None else format_time(self.until),
        }


def _key(value: Any) -> str:
    return value if isinstance(value, str) else NONE


@dataclass
class ExportCounts:
    """The manifest's `records` and `counts` objects, accumulated record by record."""

    count: int = 0
    first_index: int | None = None
    last_index: int | None = None
    first_time: Any = None
    last_time: Any = None
    by_affiliate: Counter[str] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_decision: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    denials: int = 0

    def add(self, index: int, record: dict[str, Any]) -> None:
        if self.count == 0:
            self.first_index, self.first_time = index, record.get("time")
        self.count += 1
        self.last_index, self.last_time = index, record.get("time")
        self.by_affiliate[_key(_affiliate(record))] += 1
        self.by_purpose[_key(record.get("purpose"))] += 1
        self.by_decision[_key(record.get("decision"))] += 1
        self.by_kind[_key(record.get("kind"))] += 1
        self.denials += record.get("decision") == "deny"

    def records_json(self) -> dict[str, Any]:
        return {"count": self.count, "first_index": self.first_index,
                "first_time": self.first_time, "last_index": self.last_index,
                "last_time": self.last_time}

    def counts_json(self) -> dict[str, Any]:
        return {"by_affiliate": dict(self.by_affiliate), "by_decision": dict(self.by_decision),
                "by_kind": dict(self.by_kind), "by_purpose": dict(self.by_purpose),
                "denials": self.denials}
