"""The month a review covers: a calendar month in KST, and the months before it (history).

The access-record standard asks for a monthly review (개인정보의 안전성 확보조치 기준 제8조
제2항: 월 1회 이상 점검); the group reckons months on the Korean calendar, so November is
2026-11-01 00:00 KST up to 2026-12-01 00:00 KST (15:00 UTC the day before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.errors import BadRequest

KST = ZoneInfo("Asia/Seoul")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class MonthInvalid(BadRequest):
    type_slug = "review-month"
    title = "review month is invalid"


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM` (e.g. `2026-11`); anything else is `MonthInvalid` (the text not echoed)."""
        found = _MONTH.fullmatch(text.strip())
        if found is None:
            raise MonthInvalid("`month` must be written as yyyy-mm, e.g. 2026-09")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, when: datetime) -> Month:
        local = when.astimezone(KST)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def start(self) -> datetime:
        """The first instant of the month in KST, as a UTC datetime."""
        return datetime(self.year, self.month, 1, tzinfo=KST).astimezone(UTC)

    def end(self) -> datetime:
        """The first instant after the month (exclusive), as a UTC datetime."""
        return self.next().start()

    def days(self) -> int:
        return (self.end() - self.start()) // timedelta(days=1)

    def history(self, months: int) -> list[Month]:
        """The `months` months before this one, oldest first."""
        found: list[Month] = []
        at = self
        for _ in range(months):
            at = at.previous()
            found.append(at)
        return found[::-1]


def stamp(when: datetime) -> str:
    """The form records carry their `time` in (`gateway.record.timestamp`): comparable as text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
