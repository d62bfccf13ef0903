"""The log file's write-ahead log, checkpointed by a thread of the host's writer process
(`gateway.db.walcheckpoint`): the commits no longer carry SQLite's checkpoints, the log stays
whole while both run, and a checkpointer that fails leaves the commits' own as a safety net."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.log import TokenClaim
from gateway.accesslog.merkle import root_from_leaves
from gateway.db.base import Base
from gateway.db.engine import make_engine
from gateway.db.models import UsedToken
from gateway.db.walcheckpoint import SAFETY_NET_PAGES, WalCheckpointer, has_wal
from gateway.host_writer import log_engine
from gateway.settings import Settings
from tests.accesslog.test_accesslog_host_writer import EXPIRES
from tests.writer_logs import ORIGIN

DEFAULT_AUTOCHECKPOINT = 1000  # SQLite's own


def _autocheckpoint(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _wal_frames(path: Path) -> int:
    """Frames in the file's write-ahead log, asked without checkpointing anything."""
    with sqlite3.connect(path) as probe:  # a NOOP-like look: PASSIVE on nothing new copies 0
        return int(probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def _fill(engine: Engine, rows: int) -> None:
    """Commit `rows` rows of 2 KiB, one commit per 50 rows (a page or more per row)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, "
                             "data BLOB NOT NULL)")
        conn.commit()
        for start in range(0, rows, 50):
            conn.exec_driver_sql("INSERT INTO filler (data) VALUES (?)",
                                 [(bytes(2048),) for _ in range(50)])
            conn.commit()


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///{tmp}/gateway.db", True),
    ("sqlite:///:memory:", False),
    ("sqlite://", False),
    ("postgresql://postgres@127.0.0.1:5432/test", False),
])
def test_only_a_sqlite_file_has_a_write_ahead_log_to_checkpoint(
        tmp_path: Path, url: str, expected: bool) -> None:
    assert has_wal(url.format(tmp=tmp_path)) is expected


def test_the_writers_commits_checkpoint_only_past_the_safety_net(tmp_path: Path) -> None:
    """Past SQLite's 1,000 pages the writer's own commits no longer copy the write-ahead log
    into the file (the checkpointer does); a default engine's commits still do."""
    path = tmp_path / "gateway.db"
    engine = make_engine(f"sqlite:///{path}", wal_autocheckpoint=SAFETY_NET_PAGES)
    try:
        assert _autocheckpoint(engine) == SAFETY_NET_PAGES
        _fill(engine, 1500)  # ≥ 1,500 pages: past the default, short of the safety net
        frames = _wal_frames(path)
        assert DEFAULT_AUTOCHECKPOINT < frames < SAFETY_NET_PAGES
    finally:
        engine.dispose()
    default = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert _autocheckpoint(default) == DEFAULT_AUTOCHECKPOINT
        _fill(default, 1500)
        assert _wal_frames(tmp_path / "other.db") <= DEFAULT_AUTOCHECKPOINT + 200
    finally:
        default.dispose()


def test_a_checkpoint_copies_the_whole_write_ahead_log_and_the_next_commits_start_it_over(
        tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    engine = make_engine(f"sqlite:///{path}", wal_autocheckpoint=SAFETY_NET_PAGES)
    try:
        _fill(engine, 1500)
        frames, copied = WalCheckpointer(engine, interval_s=0.1).checkpoint()
        assert frames > DEFAULT_AUTOCHECKPOINT and copied == frames
        _fill(engine, 50)  # the log was copied whole: SQLite writes it again from its start
        assert _wal_frames(path) < 200
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as reader:
            assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 1550
    finally:
        engine.dispose()


def test_the_log_stays_whole_while_the_checkpointer_copies_under_its_commits(
        tmp_path: Path) -> None:
    """Records appended from 16 threads while checkpoints run every millisecond: every record
    is durable at its own index, the tree is whole, and no checkpoint failed."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}", synchronous="FULL",
                         wal_autocheckpoint=SAFETY_NET_PAGES)
    log = AccessLog(engine, LogSigner(Ed25519PrivateKey.generate(), ORIGIN), origin=ORIGIN)
    Base.metadata.create_all(engine, tables=[UsedToken.__table__])  # type: ignore[list-item]
    checkpointer = WalCheckpointer(engine, interval_s=0.001)
    done = threading.Event()
    copier = threading.Thread(target=checkpointer.run, args=(done.is_set,))
    copier.start()
    try:
        def append(n: int) -> int:
            return log.append({"kind": "query", "n": n, "pad": "x" * 3000},
                              token=TokenClaim(f"jti-{n}", "card-risk", EXPIRES))

        with ThreadPoolExecutor(16) as pool:
            indexes = list(pool.map(append, range(1200)))
    finally:
        done.set()
        copier.join()
    try:
        assert sorted(indexes) == list(range(1200))
        records = log.records(0, 1200)
        assert [json.loads(records[i])["n"] for i in indexes] == list(range(1200))
        assert log.root() == root_from_leaves(records)
        assert checkpointer.checkpoints > 10 and checkpointer.failures == 0
    finally:
        log.close()
        engine.dispose()


def test_a_failing_checkpoint_is_logged_and_the_thread_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    checkpointer = WalCheckpointer(engine, interval_s=0.001)
    calls = 0

    def broken() -> tuple[int, int]:
        nonlocal calls
        calls += 1
        if calls >= 2:
            stop.set()
        raise OperationalError("PRAGMA wal_checkpoint", {}, sqlite3.OperationalError("disk I/O"))

    stop = threading.Event()
    monkeypatch.setattr(checkpointer, "checkpoint", broken)
    monkeypatch.setattr("gateway.db.walcheckpoint.ERROR_PAUSE_S", 0.001)
    with caplog.at_level(logging.ERROR, logger="gateway.db.walcheckpoint"):
        checkpointer.run(stop.is_set)
    assert calls == 2 and checkpointer.failures == 2
    assert "checkpoint failed: OperationalError" in caplog.text
    assert "disk I/O" not in caplog.text  # the driver's message stays out of the log lines
    engine.dispose()


def test_the_writer_process_checkpoints_a_sqlite_file_unless_told_not_to(
        tmp_path: Path) -> None:
    engine, checkpointer = log_engine(Settings(data_dir=tmp_path))
    try:
        assert checkpointer is not None and checkpointer.interval_s == pytest.approx(0.1)
        assert _autocheckpoint(engine) == SAFETY_NET_PAGES
    finally:
        engine.dispose()
    engine, checkpointer = log_engine(Settings(data_dir=tmp_path, log_wal_checkpoint_ms=0))
    try:
        assert checkpointer is None and _autocheckpoint(engine) == DEFAULT_AUTOCHECKPOINT
    finally:
        engine.dispose()
    engine, checkpointer = log_engine(Settings(
        data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1:5432/test"))
    assert checkpointer is None  # PostgreSQL has no write-ahead log of ours to copy
    engine.dispose()


def test_a_checkpointer_refuses_what_it_cannot_checkpoint() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    with pytest.raises(ValueError, match="SQLite"):
        WalCheckpointer(engine, interval_s=0.1)
    engine.dispose()
    memory = make_engine("sqlite://")
    with pytest.raises(ValueError, match="interval_s"):
        WalCheckpointer(memory, interval_s=0)
    memory.dispose()
