"""What the records of an archive say: counts by affiliate, purpose, decision, kind; period."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway_verify.filters import affiliate_of

NONE = "-"  # count key for a record without the field (docs/EXPORT-FORMAT.md)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else NONE


@dataclass
class Tally:
    count: int = 0
    first_index: int | None = None
    last_index: int | None = None
    first_time: str | None = None
    last_time: str | None = None
    by_affiliate: Counter[str] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_decision: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    denials: int = 0

    def add(self, index: int, record: dict[str, Any]) -> None:
        self.count += 1
        if self.first_index is None:
            self.first_index = index
            self.first_time = record.get("time")
        self.last_index = index
        self.last_time = record.get("time")
        self.by_affiliate[_key(affiliate_of(record))] += 1
        self.by_purpose[_key(record.get("purpose"))] += 1
        self.by_decision[_key(record.get("decision"))] += 1
        self.by_kind[_key(record.get("kind"))] += 1
        if record.get("decision") == "deny":
            self.denials += 1

    def counts(self) -> dict[str, Any]:
        """The manifest's `counts` object these records call for."""
        return {
            "by_affiliate": dict(self.by_affiliate),
            "by_decision": dict(self.by_decision),
            "by_kind": dict(self.by_kind),
            "by_purpose": dict(self.by_purpose),
            "denials": self.denials,
        }

    def records(self) -> dict[str, Any]:
        """The manifest's `records` object these records call for."""
        return {"count": self.count, "first_index": self.first_index,
                "first_time": self.first_time, "last_index": self.last_index,
                "last_time": self.last_time}

    def lines(self) -> list[str]:
        def table(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "none"

        return [
            f"records: {self.count:,} (log index {self.first_index} to {self.last_index})",
            f"period of the records: {self.first_time or '…'} to {self.last_time or '…'}",
            f"per affiliate: {table(self.by_affiliate)}",
            f"per purpose: {table(self.by_purpose)}",
            f"per decision: {table(self.by_decision)}",
            f"per kind: {table(self.by_kind)}",
            f"denials: {self.denials:,}",
        ]
