"""The access log on a real SQLite file: appends, group commit, processes, failures, checkpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, func, select, text, update

from gateway.accesslog import (
    AccessLog,
    LogRangeError,
    LogSigner,
    RecordNotCanonical,
    canonical_json,
    leaf_hash,
    parse_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from gateway.accesslog.store import head, leaves, nodes
from gateway.errors import LogWriteFailed

ORIGIN = "test.example-holdings.co.kr/access-log"  # as in conftest
LogFactory = Callable[..., AccessLog]


def naive_root(data: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, straight from the definition."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((len(data) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + naive_root(data[:k]) + naive_root(data[k:])).digest()


def append_from_threads(log: AccessLog, threads: int, each: int) -> dict[int, tuple[int, int]]:
    """Append `each` records from each of `threads` threads; return index -> (thread, seq)."""
    got: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        for seq in range(each):
            index = log.append({"kind": "test", "thread": t, "seq": seq})
            with lock:
                assert index not in got
                got[index] = (t, seq)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return got


# --- appending ------------------------------------------------------------------------------------
def test_records_hold_their_index_and_are_stored_exactly_as_hashed(make_log: LogFactory) -> None:
    log = make_log()
    assert log.size() == 0 and log.root() == hashlib.sha256(b"").digest()
    records = [{"kind": "query", "customer": "c" * 32, "n": i, "이름": "가명"} for i in range(5)]
    indices = [log.append(r) for r in records]
    assert indices == [0, 1, 2, 3, 4]
    assert "index" not in records[0]  # the caller's dict is not mutated
    stored = log.records(0, 5)
    assert stored == [canonical_json({**r, "index": i}) for i, r in enumerate(records)]
    assert json.loads(log.record(3))["index"] == 3
    for i, data in enumerate(stored):
        proof = log.inclusion_proof(i, 5)
        assert verify_inclusion(leaf_hash(data), i, 5, proof, log.root())
    assert log.root() == naive_root(stored)


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        ({"amount": 1.5}, RecordNotCanonical, "float at `\\$.amount`"),
        ({"index": 3}, RecordNotCanonical, "must not set `index`"),
        (["not", "an", "object"], RecordNotCanonical, "must be a json object"),
    ],
)
def test_bad_records_are_refused_before_they_reach_the_batch(
    make_log: LogFactory, record: object, error: type[Exception], message: str
) -> None:
    log = make_log()
    log.append({"ok": True})
    with pytest.raises(error, match=message):
        log.append(record)  # type: ignore[arg-type]
    assert log.append({"ok": True}) == 1  # no index was consumed


def test_concurrent_appends_from_8_threads(make_log: LogFactory) -> None:
    log = make_log(batch_wait_ms=1.0)
    got = append_from_threads(log, threads=8, each=60)
    assert sorted(got) == list(range(480))  # no gaps, no duplicates
    stored = log.records(0, 480)
    for index, (t, seq) in got.items():
        expected = {"kind": "test", "thread": t, "seq": seq, "index": index}
        assert json.loads(stored[index]) == expected
    assert log.root() == naive_root(stored)
    assert log.stats.batches < 480  # group commit did group


def test_stored_nodes_are_exactly_the_complete_subtrees(
    make_log: LogFactory, sqlite_engine: Engine
) -> None:
    log = make_log()
    for i in range(13):  # single-record batches
        log.append({"i": i})
    append_from_threads(log, threads=4, each=6)  # then multi-record batches: 37 leaves
    with sqlite_engine.connect() as conn:
        stored = {(r.level, r.idx) for r in conn.execute(select(nodes.c.level, nodes.c.idx))}
    assert stored == {(lvl, i) for lvl in range(1, 6) for i in range(37 >> lvl)}


def test_proofs_from_the_store_verify_for_every_size(make_log: LogFactory) -> None:
    log = make_log()
    n = 21
    for i in range(n):
        log.append({"i": i})
    data = log.records(0, n)
    roots = [naive_root(data[:size]) for size in range(n + 1)]
    for size in range(1, n + 1):
        assert log.root(size) == roots[size]
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert verify_inclusion(leaf_hash(data[index]), index, size, proof, roots[size])
        for first in range(size + 1):
            proof = log.consistency_proof(first, size)
            assert verify_consistency(first, size, proof, roots[first], roots[size])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: log.inclusion_proof(0, 4), "tree size 4 is outside the log of size 3"),
        (lambda log: log.inclusion_proof(3, 3), "leaf index 3 is outside a tree of size 3"),
        (lambda log: log.consistency_proof(2, 4), "tree size 4 is outside the log of size 3"),
        (lambda log: log.consistency_proof(3, 2), "cannot prove tree size 3 consistent"),
        (lambda log: log.root(4), "tree size 4 is outside the log of size 3"),
        (lambda log: log.record(3), "leaf index 3 is outside the log of size 3"),
        (lambda log: log.records(2, 4), r"range \[2, 4\) is outside the log of size 3"),
        (lambda log: log.records(2, 1), r"range \[2, 1\) is outside the log"),  # reversed
    ],
)
def test_out_of_range_reads(make_log: LogFactory, call: object, message: str) -> None:
    log = make_log()
    for i in range(3):
        log.append({"i": i})
    with pytest.raises(LogRangeError, match=message):
        call(log)  # type: ignore[operator]


def test_records_stream_across_chunks(
    make_log: LogFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.accesslog.store.READ_CHUNK", 4)
    log = make_log()
    for i in range(11):
        log.append({"i": i})
    assert [json.loads(r)["i"] for r in log.iter_records(1, 10)] == list(range(1, 10))


def test_a_reopened_log_continues_where_it_stopped(
    make_log: LogFactory, sqlite_engine: Engine, signer: LogSigner
) -> None:
    first = make_log()
    for i in range(5):
        first.append({"i": i})
    first.close()
    with pytest.raises(LogWriteFailed, match="access log is closed"):
        first.append({"i": 5})
    second = make_log()
    assert second.append({"i": 5}) == 5
    assert second.root() == naive_root(second.records(0, 6))


def test_append_async_does_not_block_the_loop(make_log: LogFactory) -> None:
    log = make_log()

    async def main() -> list[int]:
        return await asyncio.gather(*(log.append_async({"i": i}) for i in range(20)))

    assert sorted(asyncio.run(main())) == list(range(20))


def test_a_group_commit_lingers_for_a_request_under_way(make_log: LogFactory) -> None:
    """A record of a request still being decided joins the batch of one already queued."""
    log = make_log(batch_linger_ms=2_000.0)

    async def deciding() -> int:
        with log.underway():
            await asyncio.sleep(0.05)  # deciding, while the other record waits in the queue
            return await log.append_async({"who": "deciding"})

    async def ready() -> int:
        return await log.append_async({"who": "ready"})

    async def main() -> list[int]:
        return await asyncio.gather(deciding(), ready())

    before = log.stats.batches
    assert sorted(asyncio.run(main())) == [0, 1]
    assert log.stats.batches - before == 1  # one commit for both


def test_nothing_under_way_means_no_lingering(make_log: LogFactory) -> None:
    log = make_log(batch_linger_ms=5_000.0)
    log.append({"warm": "up"})

    async def main() -> float:
        with log.underway():  # a request that ends without a record lingers no commit
            pass
        started = asyncio.get_running_loop().time()
        await log.append_async({"alone": True})
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(main()) < 1.0
    assert log._underway == 0


# --- failure: fail closed, nothing half-written ---------------------------------------------------
def test_failing_transaction_fails_every_caller_and_writes_nothing(
    make_log: LogFactory, sqlite_engine: Engine
) -> None:
    log = make_log(batch_wait_ms=20.0)
    log.append({"i": 0})
    with sqlite_engine.begin() as conn:  # the second leaf completes node (1, 0): make that fail
        conn.exec_driver_sql(
            "CREATE TRIGGER boom BEFORE INSERT ON log_nodes BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            log.append({"i": "doomed"})
        except LogWriteFailed as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(errors) == 4
    assert all("access log write failed: `IntegrityError`" in str(e) for e in errors)
    with sqlite_engine.connect() as conn:  # the leaves inserted before the failure rolled back
        assert conn.execute(select(func.count()).select_from(leaves)).scalar() == 1
    assert log.size() == 1
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER boom")
    assert log.append({"i": 1}) == 1  # no index was burnt
    assert log.root() == naive_root(log.records(0, 2))


def test_missing_table_raises_log_write_failed(make_log: LogFactory, sqlite_engine: Engine) -> None:
    log = make_log()
    log.append({"i": 0})
    with sqlite_engine.begin() as conn:
        conn.execute(text("DROP TABLE log_leaves"))
    with pytest.raises(LogWriteFailed, match="access log write failed: `OperationalError`"):
        log.append({"i": 1})
    assert log.size() == 1


def test_unreachable_database_raises_log_write_failed(tmp_path: Path, signer: LogSigner) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    log = AccessLog(engine, signer, origin=ORIGIN)
    (tmp_path / "gateway.db").unlink()
    (tmp_path / "gateway.db").mkdir()  # the path now names a folder: opening fails
    engine.dispose()
    with pytest.raises(LogWriteFailed, match="access log write failed"):
        log.append({"i": 0})
    log.close()


# --- several processes share one SQLite file ------------------------------------------------------
def _process_appender(url: str, proc: int, threads: int, each: int) -> list[int]:
    engine = create_engine(url)
    signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    log = AccessLog(engine, signer, origin=ORIGIN, batch_wait_ms=0.5)
    got: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for seq in range(each):
            index = log.append({"proc": proc, "thread": t, "seq": seq})
            with lock:
                got.append(index)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()
    engine.dispose()
    return got


@pytest.mark.slow
def test_two_processes_append_to_one_sqlite_file(tmp_path: Path, signer: LogSigner) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_process_appender, [(url, 0, 3, 100), (url, 1, 3, 100)])
    assert set(results[0]).isdisjoint(results[1])
    assert sorted(results[0] + results[1]) == list(range(600))
    engine = create_engine(url)
    log = AccessLog(engine, signer, origin=ORIGIN)
    try:
        stored = log.records(0, log.size())
        assert len(stored) == 600
        for proc, indices in enumerate(results):
            for index in indices:
                assert json.loads(stored[index])["proc"] == proc
                assert json.loads(stored[index])["index"] == index
        assert log.root() == naive_root(stored)
    finally:
        log.close()
        engine.dispose()


# --- checkpoints ----------------------------------------------------------------------------------
def test_checkpoints_sign_the_current_head(make_log: LogFactory, signer: LogSigner) -> None:
    log = make_log()
    assert log.latest_checkpoint() is None
    empty = log.checkpoint()
    assert parse_checkpoint(verify_note(empty, [signer.verifier_key()])) == (
        ORIGIN, 0, hashlib.sha256(b"").digest()
    )
    for i in range(3):
        log.append({"i": i})
    note = log.checkpoint()
    assert log.checkpoint() == note  # unchanged head: the stored note, no new row
    origin, size, root = parse_checkpoint(verify_note(note, [signer.verifier_key()]))
    assert (origin, size, root) == (ORIGIN, 3, log.root())
    assert log.latest_checkpoint() == note
    assert log.checkpoint_at(0) == empty and log.checkpoint_at(2) is None
    assert log.checkpoint(force=True) == note  # Ed25519 is deterministic: same key, same note


def test_forced_checkpoint_after_key_rotation(
    make_log: LogFactory, sqlite_engine: Engine, signer: LogSigner
) -> None:
    make_log().append({"i": 0})
    old = make_log().checkpoint()
    new_signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    rotated = AccessLog(sqlite_engine, new_signer, origin=ORIGIN)
    try:
        assert rotated.checkpoint() == old  # not forced: the head has a checkpoint already
        note = rotated.checkpoint(force=True)
        body = verify_note(old, [signer.verifier_key()])
        assert verify_note(note, [new_signer.verifier_key()]) == body
        assert rotated.latest_checkpoint() == note
    finally:
        rotated.close()


def test_bad_constructor_arguments(sqlite_engine: Engine, signer: LogSigner) -> None:
    with pytest.raises(ValueError, match="batch_max must be"):
        AccessLog(sqlite_engine, signer, origin=ORIGIN, batch_max=0)
    with pytest.raises(Exception, match="origin must be one non-empty line"):
        AccessLog(sqlite_engine, signer, origin="two\nlines")


def test_append_resumes_from_stored_nodes_without_the_cached_frontier(
    make_log: LogFactory, sqlite_engine: Engine
) -> None:
    log = make_log()
    for i in range(11):
        log.append({"i": i})
    with sqlite_engine.begin() as conn:  # as if written by a version without the cache
        conn.execute(update(head).values(frontier=b""))
    log.append({"i": 11})
    assert log.root() == naive_root(log.records(0, 12))
