"""The console's own tables: its users, their sessions and their sign-in attempts.

No table holds a password or a session id in the clear: passwords as Argon2id hashes
(RFC 9106), session ids as their SHA-256 (a stolen database cannot be replayed as cookies).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CHAR, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.models import UtcDateTime


class ConsoleUser(Base):
    """An employee who signs in to the console, with one role of the policy's `console:`."""

    __tablename__ = "console_users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    affiliate: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))
    # RFC 6238 shared secret (base32); None when the role needs no second factor
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the last TOTP time step accepted: a code is good once (RFC 6238 §5.2)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds the id, the table its SHA-256 and CSRF token."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ConsoleSignin(Base):
    """One sign-in attempt, counted by the throttle per user name and per source address."""

    __tablename__ = "console_signins"
    __table_args__ = (
        Index("ix_console_signins_username_at", "username", "at"),
        Index("ix_console_signins_source_at", "source", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
