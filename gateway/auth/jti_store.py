"""Token ids already used, kept in the gateway database so a replay is refused across restarts.

RFC 7519 §4.1.7: `jti` lets a token be used only once. The primary key of `used_tokens` is the
uniqueness check, so several gateway processes sharing the database agree without a lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.db.models import UsedToken
from gateway.errors import StoreUnavailable, TokenReplayed


class JtiStore:
    """Remembers each accepted `jti` until its token can no longer be accepted anyway."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def remember(self, jti: str, system: str, expires_at: datetime) -> None:
        """Record `jti` as used; raise `TokenReplayed` if it was recorded before.

        One INSERT in its own short transaction. Any other database failure raises
        `StoreUnavailable`: without the check a replay would pass, so we fail closed.
        """
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(UsedToken).values(jti=jti, system=system, expires_at=expires_at)
                )
        except IntegrityError as exc:
            raise TokenReplayed(
                f"token `jti` was already used: replay refused for `{system}`"
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                "used token ids cannot be recorded: `used_tokens` unavailable"
            ) from exc

    def purge_expired(self, now: datetime) -> int:
        """Forget ids whose tokens can no longer be accepted anyway; return how many."""
        try:
            with self._engine.begin() as connection:
                result = connection.execute(delete(UsedToken).where(UsedToken.expires_at < now))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                "used token ids cannot be purged: `used_tokens` unavailable"
            ) from exc
        return int(result.rowcount)
