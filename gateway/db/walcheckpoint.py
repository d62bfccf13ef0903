"""The SQLite log file's write-ahead log, checkpointed from a thread instead of inside commits.

By default SQLite checkpoints a WAL database in whichever commit finds the write-ahead log past
1,000 pages (`wal_autocheckpoint`): that commit then copies every page the log holds into the
database file and syncs it before it returns. The host's log writer commits a batch of records
a few hundred times a second, each touching some thirty pages (the log's leaves and nodes, the
customer index, the token ids, the rate counts), so one batch in thirty or so carried a
checkpoint: measured with `bench/bench_gateway.py`, its write took 10 ms at the 99th percentile
against 1.7 ms at the median, and every record of that batch waited for it.

`WalCheckpointer` runs passive checkpoints on a connection of its own, in a thread, every
`interval_s`: a passive checkpoint never takes the write lock, so the writer commits while it
copies (https://www.sqlite.org/wal.html#ckpt, `sqlite3_wal_checkpoint_v2`), and the driver
releases the GIL meanwhile. The writer's own connection keeps a far higher
`wal_autocheckpoint` (`SAFETY_NET_PAGES`), so a checkpointer that stalls or fails only brings
back the old behaviour, never an unbounded write-ahead log. Nothing about durability changes:
a record is durable once its commit synced the write-ahead log, checkpointed or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from gateway.db.engine import in_memory, normalize_url

logger = logging.getLogger("gateway.db.walcheckpoint")

# the writer's own connection checkpoints only past this many pages (64 MiB of 4 KiB pages)
SAFETY_NET_PAGES = 16_384
ERROR_PAUSE_S = 1.0  # after a failed checkpoint: the next try, without a storm of errors


def has_wal(url: str) -> bool:
    """Whether `url` names a SQLite file (kept in WAL mode by `make_engine`), not memory."""
    parsed = normalize_url(url)
    return parsed.get_backend_name() == "sqlite" and not in_memory(parsed.database)


class WalCheckpointer:
    """Passive checkpoints of one SQLite file's write-ahead log, every `interval_s`."""

    def __init__(self, engine: Engine, *, interval_s: float) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("only a SQLite database has a write-ahead log to checkpoint")
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self._engine = engine
        self.interval_s = interval_s
        self.checkpoints = 0
        self.failures = 0

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint: the frames the write-ahead log holds, and how many of them
        are now in the database file (both -1 when the file is not in WAL mode)."""
        with self._engine.connect() as conn:
            _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        self.checkpoints += 1
        return int(frames), int(copied)

    def run(self, stopped: Callable[[], bool]) -> None:
        """Checkpoint every `interval_s` until `stopped()` (a thread's target)."""
        while not stopped():
            time.sleep(self.interval_s)
            try:
                self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - the commits' own checkpoints still stand
                self.failures += 1
                logger.error("write-ahead log checkpoint failed: %s; the log writer's commits "
                             "checkpoint past %d pages meanwhile", type(exc).__name__,
                             SAFETY_NET_PAGES)
                time.sleep(ERROR_PAUSE_S)
