"""Token ids already used, kept in a database so a replay is refused across restarts.

RFC 7519 §4.1.7: `jti` lets a token be used only once. The primary key of `used_tokens` is the
uniqueness check, so several gateway processes sharing the database agree without a lock.

Writes are group-committed: one writer thread inserts every pending id in one transaction
(`INSERT … ON CONFLICT DO NOTHING`, one statement per id so each caller learns whether its id
was new). One commit per batch instead of one per request keeps replay checks off the
critical path of the disk, which the access log's own commits already keep busy.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.db.models import UsedToken
from gateway.errors import StoreUnavailable, TokenReplayed

BATCH_MAX = 512
_TABLE = cast(Table, UsedToken.__table__)
WAIT_TIMEOUT_S = 30.0


@dataclass
class _Pending:
    jti: str
    system: str
    expires_at: datetime
    done: Future[bool] = field(default_factory=Future)  # True: new id; False: seen before


class JtiStore:
    """Remembers each accepted `jti` until its token can no longer be accepted anyway."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def remember(self, jti: str, system: str, expires_at: datetime) -> None:
        """Record `jti` as used; raise `TokenReplayed` if it was recorded before.

        Blocks until the batch holding it is committed. Any database failure raises
        `StoreUnavailable`: without the check a replay would pass, so we fail closed.
        """
        pending = _Pending(jti, system, expires_at)
        self._ensure_writer()
        self._queue.put(pending)
        try:
            is_new = pending.done.result(timeout=WAIT_TIMEOUT_S)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(
                "used token ids cannot be recorded: `used_tokens` unavailable"
            ) from exc
        if not is_new:
            raise TokenReplayed(f"token `jti` was already used: replay refused for `{system}`")

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._start_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name="jti-writer", daemon=True)
                self._writer.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = []
            with self._engine.begin() as connection:
                for item in batch:
                    # RETURNING, not rowcount: drivers disagree on rowcount for DO NOTHING
                    inserted = connection.execute(
                        self._insert(_TABLE)
                        .values(jti=item.jti, system=item.system, expires_at=item.expires_at)
                        .on_conflict_do_nothing(index_elements=["jti"])
                        .returning(_TABLE.c.jti)
                    ).first()
                    outcomes.append(inserted is not None)
        except SQLAlchemyError as exc:
            failure = StoreUnavailable(
                "used token ids cannot be recorded: `used_tokens` unavailable"
            )
            failure.__cause__ = exc
            for item in batch:
                item.done.set_exception(failure)
            return
        for item, is_new in zip(batch, outcomes):
            item.done.set_result(is_new)

    def close(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=5)

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
