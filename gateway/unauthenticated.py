"""Unauthenticated refusals, counted per source and minute and recorded as one record each.

A refusal whose caller is unknown (no token, a token that does not verify, a bad body from a
request without a valid token) is not appended to the log one by one: whoever sends garbage
chooses how often, and one signed, append-only record per request would let anyone grow the
log and load its writer at will. Instead each gateway process counts them, per (source
address, UTC minute) and per problem type within that, and writes ONE
`refusals.unauthenticated` record per source and minute once the minute has closed:

    {"kind": "refusals.unauthenticated", "source": "203.0.113.7",
     "minute": "2026-12-05T07:18:00Z", "first": "…07:18:02.1Z", "last": "…07:18:59.9Z",
     "count": 1500, "problems": {"token-missing": {"status": 401, "count": 1498},
                                 "unsupported-media-type": {"status": 415, "count": 2}},
     "request_ids": ["…", …],  # the first `SAMPLE` request ids of the minute, a sample
     "process": {"host": "…", "pid": …}, "time": "<last>", "actor": null, "status": null, …}

Why all at minute close and not the first refusal of a minute at once: a lone refusal would
then cost two records (the first, then the rest), the record count per minute would depend
on how the refusals split, and the response of an unauthenticated request would still wait
for a durable write the caller controls the rate of. A refusal releases nothing, so nothing
fails open by recording it up to a minute later (docs/REFUSALS.md).

Bounds: at most `max_sources` distinct sources per minute are tracked; the refusals of any
further source in that minute are counted under the source `"other"` (one more record). A
minute whose record could not be written is kept for the next flush, for at most
`max_pending_minutes` closed minutes; older ones are dropped with an error in the developer
log (`unauthenticated-refusals-dropped`). A crash loses what was counted and not yet
written: the open minute, and any minute whose flush was failing.

Several gateway processes each count and write their own records: the same source and
minute may have one record per process, each naming its process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import record

log = logging.getLogger("gateway.unauthenticated")

KIND = "refusals.unauthenticated"
OTHER = "other"  # the source key of refusals beyond the per-minute cap of sources
SAMPLE = 8  # request ids kept per source and minute, so one answer can be found again
MAX_SOURCES = 256
MAX_PENDING_MINUTES = 60
FLUSH_DELAY_S = 1.0  # after the minute boundary, so the clock has surely moved on

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def minute_of(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(second=0, microsecond=0)


@dataclass
class Tally:
    """The refusals of one source in one minute."""

    first: datetime
    last: datetime
    count: int = 0
    problems: dict[tuple[str, int], int] = field(default_factory=dict)  # (type, status) → n
    request_ids: list[str] = field(default_factory=list)

    def add(self, problem: str, status: int, request_id: str | None, now: datetime) -> None:
        self.count += 1
        self.last = max(self.last, now)
        key = (problem, status)
        self.problems[key] = self.problems.get(key, 0) + 1
        if request_id is not None and len(self.request_ids) < SAMPLE:
            self.request_ids.append(request_id)

    def merge(self, other: Tally) -> None:
        """Take in `other` (the same source and minute, counted since this one was taken)."""
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.count += other.count
        for key, n in other.problems.items():
            self.problems[key] = self.problems.get(key, 0) + n
        room = SAMPLE - len(self.request_ids)
        self.request_ids.extend(other.request_ids[:max(room, 0)])


Minutes = dict[datetime, dict[str | None, Tally]]


class UnauthenticatedRefusals:
    """Counts unauthenticated refusals and writes one record per source and minute.

    `count` is synchronous and cheap (the refusal's answer does not wait for the log);
    `flush` writes the closed minutes (`run` calls it after each minute boundary); `drain`
    writes everything, the open minute included (at shutdown).
    """

    def __init__(self, access_log: record.AppendOnlyLog, *,
                 policy_version: Callable[[], str | None],
                 max_sources: int = MAX_SOURCES,
                 max_pending_minutes: int = MAX_PENDING_MINUTES,
                 clock: Clock = utc_now) -> None:
        self._log = access_log
        self._policy_version = policy_version
        self.max_sources = max_sources
        self.max_pending_minutes = max_pending_minutes
        self.clock = clock  # tests move it; minutes are the clock's, not the request's
        self._minutes: Minutes = {}
        self._lock = threading.Lock()  # counted on the event loop; flushed there too
        self._in_flight: asyncio.Future[int] | None = None

    # --- counting ---------------------------------------------------------------------------
    def count(self, *, problem: str, status: int, source: str | None,
              request_id: str | None) -> None:
        now = self.clock()
        minute = minute_of(now)
        with self._lock:
            sources = self._minutes.get(minute)
            if sources is None:
                sources = self._minutes[minute] = {}
                self._trim()
            tally = sources.get(source)
            if tally is None:
                key = source if len(sources) < self.max_sources else OTHER
                tally = sources.get(key)
                if tally is None:
                    tally = sources[key] = Tally(first=now, last=now)
            tally.add(problem, status, request_id, now)

    def pending(self) -> dict[datetime, dict[str | None, Tally]]:
        """What is counted and not yet written (a copy, for tests and the health of it)."""
        with self._lock:
            return {minute: dict(sources) for minute, sources in self._minutes.items()}

    def _trim(self) -> None:
        """Keep at most `max_pending_minutes` closed minutes (the lock is held)."""
        closed = sorted(self._minutes)[:-1]  # the newest is the one being counted
        for minute in closed[:max(len(closed) - self.max_pending_minutes, 0)]:
            dropped = self._minutes.pop(minute)
            log.error("unauthenticated-refusals-dropped: %d refusals of %d source(s) in minute "
                      "%s were never recorded (the access log failed for over %d minutes)",
                      sum(t.count for t in dropped.values()), len(dropped),
                      _stamp(minute), self.max_pending_minutes)

    # --- writing ----------------------------------------------------------------------------
    async def flush(self, *, everything: bool = False) -> int:
        """Write one record per source of each closed minute (every minute if `everything`);
        return how many were written. A record that cannot be written is kept for the next
        flush and the failure logged; this never raises for the log's sake."""
        current = minute_of(self.clock())
        with self._lock:
            taken: Minutes = {m: s for m, s in self._minutes.items() if everything or m < current}
            for minute in taken:
                del self._minutes[minute]
        if not taken:
            return 0
        items = [(minute, source, tally) for minute, sources in sorted(taken.items())
                 for source, tally in sorted(sources.items(), key=lambda kv: kv[0] or "")]
        version = self._policy_version()
        outcomes = await asyncio.gather(
            *(record.append(self._log, self.record(minute, source, tally, version))
              for minute, source, tally in items),
            return_exceptions=True)
        failed = [(item, outcome) for item, outcome in zip(items, outcomes, strict=True)
                  if isinstance(outcome, BaseException)]
        if failed:
            log.error("unauthenticated-refusals-unrecorded: %d of %d record(s) could not be "
                      "written (%s); their counts are kept for the next flush",
                      len(failed), len(items), type(failed[0][1]).__name__)
            with self._lock:
                for (minute, source, tally), _error in failed:
                    sources = self._minutes.setdefault(minute, {})
                    kept = sources.get(source)
                    if kept is None:
                        sources[source] = tally
                    else:
                        tally.merge(kept)
                        sources[source] = tally
                self._trim()
        return len(items) - len(failed)

    def record(self, minute: datetime, source: str | None, tally: Tally,
               policy_version: str | None) -> dict[str, Any]:
        """The `refusals.unauthenticated` record of one source and minute (docs/REFUSALS.md).

        Nothing in it was chosen by the caller: the peer address, the gateway's own problem
        types and request ids, times from the gateway's clock."""
        return record.unauthenticated_refusals_record(
            now=tally.last, source=source, policy_version=policy_version,
            minute=_stamp(minute), first=record.timestamp(tally.first),
            last=record.timestamp(tally.last), count=tally.count,
            problems={slug: {"status": status, "count": n}
                      for (slug, status), n in sorted(tally.problems.items())},
            request_ids=list(tally.request_ids))

    async def run(self) -> None:
        """Flush after each minute boundary, until cancelled. A flush under way is not
        interrupted by the cancellation: `drain` waits for it."""
        while True:
            now = self.clock()
            boundary = minute_of(now) + timedelta(minutes=1)
            await asyncio.sleep((boundary - now).total_seconds() + FLUSH_DELAY_S)
            self._in_flight = asyncio.ensure_future(self.flush())
            try:
                await asyncio.shield(self._in_flight)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep flushing next minute
                log.error("unauthenticated-refusals-flush-failed: %s", type(exc).__name__)

    async def drain(self) -> int:
        """Write everything counted, the open minute included (a clean stop loses nothing)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and not in_flight.done():
            try:
                await in_flight
            except Exception as exc:  # noqa: BLE001 - its counts were kept; drained below
                log.error("unauthenticated-refusals-flush-failed: %s", type(exc).__name__)
        written = await self.flush(everything=True)
        with self._lock:
            left = sum(t.count for sources in self._minutes.values() for t in sources.values())
        if left:
            log.error("unauthenticated-refusals-lost: %d refusals counted by this process could "
                      "not be recorded before it stopped", left)
        return written


def _stamp(minute: datetime) -> str:
    """`2026-12-05T07:18:00Z`: the minute's start, UTC (the same minute in KST)."""
    return minute.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:00Z")
