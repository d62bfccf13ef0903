"""The filters a manifest declares, and whether a record falls inside them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway_verify.errors import MalformedArchive

LIST_FILTERS = ("affiliates", "customers", "purposes")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with an offset, as an aware datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def affiliate_of(record: dict[str, Any]) -> Any:
    actor = record.get("actor")
    return actor.get("affiliate") if isinstance(actor, dict) else None


@dataclass(frozen=True)
class Filters:
    since: datetime | None
    until: datetime | None
    affiliates: frozenset[str] | None
    customers: frozenset[str] | None
    purposes: frozenset[str] | None

    @classmethod
    def from_manifest(cls, raw: Any) -> Filters:
        if not isinstance(raw, dict):
            raise MalformedArchive("manifest `filters` is not an object")
        unknown = set(raw) - {"since", "until", *LIST_FILTERS}
        if unknown:
            raise MalformedArchive(f"manifest filter `{min(unknown)}` is unknown")
        times: dict[str, datetime | None] = {}
        for name in ("since", "until"):
            value = raw.get(name)
            times[name] = None if value is None else parse_time(value)
            if value is not None and times[name] is None:
                raise MalformedArchive(f"manifest filter `{name}` is not an rfc 3339 time")
        lists: dict[str, frozenset[str] | None] = {}
        for name in LIST_FILTERS:
            value = raw.get(name)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise MalformedArchive(f"manifest filter `{name}` is not a list of strings")
            lists[name] = None if value is None else frozenset(value)
        return cls(times["since"], times["until"], lists["affiliates"], lists["customers"],
                   lists["purposes"])

    def violation(self, record: dict[str, Any]) -> str | None:
        """Which declared filter `record` falls outside of, or None when it is inside all."""
        if self.since is not None or self.until is not None:
            when = parse_time(record.get("time"))
            if when is None:
                return "it has no valid `time`"
            if self.since is not None and when < self.since:
                return f"`time` {record['time']} is before `since`"
            if self.until is not None and when >= self.until:
                return f"`time` {record['time']} is not before `until`"
        if self.affiliates is not None and affiliate_of(record) not in self.affiliates:
            return f"affiliate `{affiliate_of(record)}` is not among `affiliates`"
        if self.customers is not None and record.get("customer") not in self.customers:
            return "customer is not among `customers`"
        if self.purposes is not None and record.get("purpose") not in self.purposes:
            return f"purpose `{record.get('purpose')}` is not among `purposes`"
        return None

    def describe(self) -> list[str]:
        def when(t: datetime | None) -> str:
            return "…" if t is None else t.astimezone(UTC).isoformat()

        lines = [f"period: {when(self.since)} to {when(self.until)} (until exclusive)"]
        for name in LIST_FILTERS:
            values = getattr(self, name)
            if values is None:
                lines.append(f"{name}: any")
            elif name == "customers":  # customer keys stay out of printed summaries
                lines.append(f"{name}: {len(values)} customer key(s)")
            else:
                lines.append(f"{name}: {', '.join(sorted(values))}")
        return lines
