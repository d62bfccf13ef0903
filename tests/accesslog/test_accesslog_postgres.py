"""The access log on PostgreSQL: row-lock serialized appends from two logs, proofs, failures."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from gateway.accesslog import (
    AccessLog,
    LogSigner,
    leaf_hash,
    parse_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from gateway.errors import LogWriteFailed
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres

ORIGIN = "test.example-holdings.co.kr/access-log"


def naive_root(data: list[bytes]) -> bytes:
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((len(data) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + naive_root(data[:k]) + naive_root(data[k:])).digest()


@pytest.fixture
def pg_engine_factory() -> Iterator[Callable[[], Engine]]:
    """Engines whose search_path is a schema of this test alone; dropped afterwards."""
    with postgres_schema("accesslog") as url:
        engines: list[Engine] = []

        def make() -> Engine:
            engine = create_engine(url)
            engines.append(engine)
            return engine

        yield make
        for engine in engines:
            engine.dispose()


def test_two_logs_on_separate_engines_append_concurrently(
    pg_engine_factory: Callable[[], Engine], signer: LogSigner
) -> None:
    # two engines stand for two gateway processes: only the database serializes them
    logs = [
        AccessLog(pg_engine_factory(), signer, origin=ORIGIN, batch_wait_ms=0.5) for _ in range(2)
    ]
    got: list[int] = []
    lock = threading.Lock()

    def work(log: AccessLog, t: int) -> None:
        for seq in range(40):
            index = log.append({"thread": t, "seq": seq})
            with lock:
                got.append(index)

    workers = [threading.Thread(target=work, args=(logs[t % 2], t)) for t in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    try:
        assert sorted(got) == list(range(240))
        stored = logs[0].records(0, 240)
        assert [json.loads(r)["index"] for r in stored] == list(range(240))
        assert logs[1].root() == naive_root(stored)
        for size in (1, 2, 7, 64, 239, 240):
            root = logs[0].root(size)
            assert root == naive_root(stored[:size])
            for index in {0, size // 2, size - 1}:
                proof = logs[1].inclusion_proof(index, size)
                assert verify_inclusion(leaf_hash(stored[index]), index, size, proof, root)
            proof = logs[0].consistency_proof(size // 3, 240)
            assert verify_consistency(size // 3, 240, proof, naive_root(stored[: size // 3]),
                                      logs[0].root())
        note = logs[0].checkpoint()
        assert logs[1].checkpoint() == note  # the other process finds it stored
        assert parse_checkpoint(verify_note(note, [signer.verifier_key()])).size == 240
    finally:
        for log in logs:
            log.close()


def test_failure_on_postgres_fails_closed(
    pg_engine_factory: Callable[[], Engine], signer: LogSigner
) -> None:
    engine = pg_engine_factory()
    log = AccessLog(engine, signer, origin=ORIGIN)
    try:
        log.append({"i": 0})
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE log_nodes"))
        with pytest.raises(LogWriteFailed, match="access log write failed: `ProgrammingError`"):
            log.append({"i": 1})  # leaf 1 completes node (1, 0): the insert fails
        assert log.size() == 1
        assert log.records(0, 1) == [b'{"i":0,"index":0}']
    finally:
        log.close()



def test_a_writer_connection_the_server_dropped_costs_no_record(
    pg_engine_factory: Callable[[], Engine], signer: LogSigner
) -> None:
    """The server ends the writer's kept connection between batches (a restart, a fail-over,
    an administrator): the next append finds it dead at its first statement, before writing
    anything, and goes on with a new connection instead of failing its callers."""
    engine = pg_engine_factory()
    log = AccessLog(engine, signer, origin=ORIGIN)
    try:
        assert log.append({"i": 0}) == 0
        held = log._conn  # noqa: SLF001 - the writer's kept connection
        assert held is not None
        pid = held[1].connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with engine.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        assert log.append({"i": 1}) == 1
        assert log.stats.failed_batches == 0
        assert log.records(0, 2) == [b'{"i":0,"index":0}', b'{"i":1,"index":1}']
    finally:
        log.close()
