"""The sign-in throttle: too many failed sign-ins per user name or per source address wait.

Counted in the gateway database (`console_signins`), so the limit holds across processes
and restarts. Per user name: `per_user` failures since its last success within `window`
(guessing one employee's password). Per source: `per_source` failures within `window`
(one machine trying many names). A throttled attempt is not checked at all, and not counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from gateway.console.models import ConsoleSignin

MAX_NAME = 64  # user names longer than this cannot exist; counted under their first 64 chars


class SigninThrottle:
    def __init__(self, engine: Engine, *, per_user: int, per_source: int,
                 window: timedelta) -> None:
        self._engine = engine
        self.per_user = per_user
        self.per_source = per_source
        self.window = window

    def wait_s(self, username: str, source: str, now: datetime) -> int:
        """Seconds until this user name from this source may try again (0: now)."""
        since = now - self.window
        name, where = username[:MAX_NAME], source[:MAX_NAME]
        t = ConsoleSignin
        with self._engine.connect() as conn:
            last_ok = conn.execute(select(func.max(t.at)).where(
                t.username == name, t.ok.is_(True), t.at >= since)).scalar()
            user_from = max(since, last_ok) if last_ok is not None else since
            by_user = conn.execute(select(t.at).where(
                t.username == name, t.ok.is_(False), t.at >= user_from)
                .order_by(t.at.desc()).limit(self.per_user)).scalars().all()
            by_source = conn.execute(select(t.at).where(
                t.source == where, t.ok.is_(False), t.at >= since)
                .order_by(t.at.desc()).limit(self.per_source)).scalars().all()
        waits = [0.0]
        # blocked while the limit-th most recent failure is still inside the window
        if len(by_user) >= self.per_user:
            waits.append((by_user[-1] + self.window - now).total_seconds())
        if len(by_source) >= self.per_source:
            waits.append((by_source[-1] + self.window - now).total_seconds())
        return max(0, int(max(waits) + 0.999))

    def note(self, username: str, source: str, ok: bool, now: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(ConsoleSignin).values(
                username=username[:MAX_NAME], source=source[:MAX_NAME], at=now, ok=ok))
            # attempts older than the window count for nothing: forget them on the way
            conn.execute(delete(ConsoleSignin).where(ConsoleSignin.at < now - self.window))
