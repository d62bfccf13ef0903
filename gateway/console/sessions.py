"""Server-side console sessions: the cookie holds a random id, the table its SHA-256.

A session ends after `idle` without a request or `lifetime` after sign-in, whichever comes
first, and at sign-out (the row is deleted: a copied cookie is dead at once). Each session
carries its own CSRF token, which every form of the console posts back (OWASP CSRF
Prevention Cheat Sheet: synchronizer token pattern).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from gateway.console.models import ConsoleSession

TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often per session


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    csrf: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, engine: Engine, *, idle: timedelta, lifetime: timedelta) -> None:
        self._engine = engine
        self.idle = idle
        self.lifetime = lifetime

    def open(self, username: str, now: datetime) -> tuple[str, Session]:
        """A new session (a new id at every sign-in: no session fixation); the cookie value
        and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(username=username, csrf=secrets.token_urlsafe(32),
                          expires_at=now + self.lifetime)
        with self._engine.begin() as conn:
            conn.execute(insert(ConsoleSession).values(
                id_hash=_hash(token), username=username, csrf=session.csrf, created_at=now,
                expires_at=session.expires_at, last_seen_at=now))
            # sessions that ended long ago are forgotten on the way
            conn.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        return token, session

    def find(self, token: str | None, now: datetime) -> Session | None:
        if not token or len(token) > 128:
            return None
        key = _hash(token)
        with self._engine.connect() as conn:
            found = conn.execute(select(ConsoleSession.__table__).where(
                ConsoleSession.id_hash == key)).first()
        if found is None:
            return None
        if now >= found.expires_at or now - found.last_seen_at >= self.idle:
            self.close(token)
            return None
        if now - found.last_seen_at >= TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(update(ConsoleSession).where(ConsoleSession.id_hash == key)
                             .values(last_seen_at=now))
        return Session(username=found.username, csrf=found.csrf, expires_at=found.expires_at)

    def close(self, token: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(token)))

    def close_all(self, username: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(ConsoleSession).where(ConsoleSession.username == username))
