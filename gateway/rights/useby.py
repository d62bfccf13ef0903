"""Use-by: the KST date by which a recipient must destroy what it received.

use_by = the KST date of the release + the purpose's `retention_days`. Where a purpose cites
금융지주회사법 제48조의2 (internal management without consent), the recipient may keep what it
received at most 30 days unless the purpose names an approval for a longer period
(`approval_ref`; the policy check P057 flags a longer retention without one): the shorter period
applies until then (fail closed). Campaigns use the same period (`gateway.marketing.campaigns`).

The query path asks for a use-by per release: it is computed once per policy version, purpose
and KST day and then read from a small table (a dict look-up).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from gateway.policy.model import RETENTION_48_2_DAYS, Policy, Purpose

KST = ZoneInfo("Asia/Seoul")
_MEMO_MAX = 4096  # (policy version, purpose, day) entries kept; cleared whole when full

_KST_MIDNIGHT_UTC_HOUR = 15  # UTC+9 all year: Seoul has had no daylight saving since 1988

_memo: dict[tuple[str, str, int], str] = {}


def retention_days(purpose: Purpose) -> int:
    """The days a recipient may keep data released under `purpose`."""
    days = purpose.retention_days
    if purpose.cites_48_2 and purpose.approval_ref is None:
        days = min(days, RETENTION_48_2_DAYS)
    return days


def kst_day(moment: datetime) -> date:
    return moment.astimezone(KST).date()


def use_by_date(purpose: Purpose, released_at: datetime) -> date:
    """The last KST day on which the recipient may still hold the data."""
    return kst_day(released_at) + timedelta(days=retention_days(purpose))


def use_by_text(policy: Policy, purpose_id: str, released_at: datetime) -> str | None:
    """`use_by_date` as ISO text (`2026-12-31`), from the per-day table; None for a purpose
    the policy does not know (nothing is released under one)."""
    # the KST day as a day number without a time-zone conversion (the hot path's only cost):
    # the request clock is UTC, and 15:00 UTC is midnight in Seoul
    if released_at.tzinfo is timezone.utc:
        day_number = released_at.toordinal() + (released_at.hour >= _KST_MIDNIGHT_UTC_HOUR)
    else:
        day_number = kst_day(released_at).toordinal()
    key = (policy.version, purpose_id, day_number)
    found = _memo.get(key)
    if found is None:
        day = date.fromordinal(day_number)
        purpose = policy.purposes.get(purpose_id)  # type: ignore[call-overload]
        if purpose is None:
            return None
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        found = _memo[key] = (day + timedelta(days=retention_days(purpose))).isoformat()
    return found
