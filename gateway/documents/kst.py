"""Times as people in Korea read them: `2026-11-03 14:05 KST` (UTC+9, no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


def parse_record_time(text: str) -> datetime:
    """An access record's `time` (RFC 3339 UTC, `…Z`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        return parse_record_time(moment)
    if moment.tzinfo is None:  # the database's naive timestamps are UTC
        return moment.replace(tzinfo=timezone.utc)
    return moment


def format_kst(moment: datetime | str, *, seconds: bool = False) -> str:
    """`2026-11-03 14:05 KST` (with `seconds`, `2026-11-03 14:05:09 KST`)."""
    local = _aware(moment).astimezone(KST)
    return local.strftime("%Y-%m-%d %H:%M:%S KST" if seconds else "%Y-%m-%d %H:%M KST")


def format_kst_date(moment: datetime | date | str) -> str:
    """The KST calendar date: `2026-11-03` (a date given as `2026-11-03` is already one)."""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment.isoformat()
    if isinstance(moment, str) and len(moment) == 10:
        return date.fromisoformat(moment).isoformat()
    return _aware(moment).astimezone(KST).date().isoformat()
