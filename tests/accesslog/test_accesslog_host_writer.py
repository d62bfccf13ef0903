"""One log writer per host (`accesslog.remote`): the server processes hand their batches to it,
it writes what arrived together in one commit and answers each with its own outcomes — the
same outcomes a writer thread of their own would have given, and a failure for every record
whenever the writer cannot be reached or fails."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import signal
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.accesslog import AccessLog
from gateway.accesslog.canonical import UnindexedRecord, canonical_json
from gateway.accesslog.contacts import ContactClaim
from gateway.accesslog.customer_index import IndexEntry
from gateway.accesslog.errors import ContactCapReached
from gateway.accesslog.log import TokenClaim, _Pending
from gateway.accesslog.merkle import root_from_leaves
from gateway.accesslog import remote
from gateway.accesslog.remote import (
    HostWriter,
    _decode_outcomes,
    _decode_pending,
    _encode_outcomes,
    _encode_pending,
    _frame,
    _loads,
    _whole_messages,
    serve_in_thread,
)
from gateway.accesslog.usage import RateLimited
from gateway.db.base import Base
from gateway.db.models import UsedToken
from gateway.errors import LogWriteFailed, TokenReplayed
from gateway.host_writer import PROCESS_NAME
from tests.accesslog.servers import (
    GatewayData,
    Query,
    Server,
    _post,
    alive,
    check_log,
    children,
    named,
    prepare,
    read_log,
    workload,
)
from tests.limits.test_limits_writer import AT, usage
from tests.writer_logs import opened_log

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRES = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
def socket_path() -> Iterator[str]:
    # a short private folder: a Unix socket's path must fit in 108 bytes
    folder = tempfile.mkdtemp(prefix="gw-test-")
    yield os.path.join(folder, "writer.sock")
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)


@pytest.fixture
def host(tmp_path: Path, socket_path: str) -> Iterator[tuple[AccessLog, HostWriter]]:
    """The host's writer on a thread, over the log the tests read back."""
    with opened_log(f"sqlite:///{tmp_path / 'gateway.db'}") as (engine, log):
        Base.metadata.create_all(engine, tables=[UsedToken.__table__])  # type: ignore[list-item]
        writer, stop = serve_in_thread(log, socket_path)
        try:
            yield log, writer
        finally:
            stop()


@pytest.fixture
def client(tmp_path: Path, socket_path: str, host: tuple[AccessLog, HostWriter]
           ) -> Iterator[Callable[[], AccessLog]]:
    """Server processes' logs (as many as a test asks for) that hand their batches over."""
    opened: list[AccessLog] = []

    def make() -> AccessLog:
        context = opened_log(f"sqlite:///{tmp_path / 'gateway.db'}", host_writer=socket_path)
        _engine, log = context.__enter__()
        opened.append(log)
        closers.append(context)
        return log

    closers: list[object] = []
    yield make
    for context in closers:
        context.__exit__(None, None, None)  # type: ignore[attr-defined]


def _over_the_wire(message: Any) -> Any:
    """`message` as the other end reads it: framed, split off a stream, parsed."""
    buffer = bytearray(_frame(message) + _frame(["next"]))
    first, second = list(_whole_messages(buffer))
    assert _loads(second) == ["next"] and not buffer
    return _loads(first)


# a token id is any JSON string, even one orjson cannot write (a lone surrogate): json does
@pytest.mark.parametrize("jti", ["jti-1", "jti-\ud800-x"])
def test_every_field_of_a_record_crosses_the_socket_unchanged(jti: str) -> None:
    record = {"kind": "query", "customer": "c" * 32, "note": "고객 조회 ✓", "n": [1, {"z": None}]}
    pending = _Pending(
        UnindexedRecord.of(record),
        TokenClaim(jti, "card-risk", EXPIRES),
        (ContactClaim("c" * 32, "sms", T0, T0 - timedelta(days=30), 3),),
        IndexEntry("c" * 32, T0, "credit_risk"),
        usage(),
    )
    back = _decode_pending(_over_the_wire([_encode_pending(pending)])[0])
    assert back.record is not None
    assert back.record.with_index(7) == canonical_json({**record, "index": 7})
    assert (back.token, back.contacts, back.customer, back.usage) == (
        pending.token, pending.contacts, pending.customer, pending.usage)


def test_every_outcome_crosses_the_socket_unchanged() -> None:
    batch = [_Pending(None) for _ in range(4)]
    refusal = RateLimited("limit of the employee", measure="requests_per_minute",
                          scope="employee", retry_after=45, subject="employee:card-risk/kim",
                          window=(1.0, 61.0))
    result = ({id(batch[0]): 10}, {id(batch[0])}, {id(batch[1]): {("c" * 32, "sms"): 3}},
              {id(batch[2]): refusal})
    wire = _over_the_wire(_encode_outcomes(batch, result))
    written, fresh, capped, limited = _decode_outcomes(batch, wire)
    assert written == {id(batch[0]): 10} and fresh == {id(batch[0])}
    assert capped == {id(batch[1]): {("c" * 32, "sms"): 3}}
    back = limited[id(batch[2])]
    assert (str(back), back.measure, back.scope, back.retry_after, back.subject, back.window) == (
        str(refusal), refusal.measure, refusal.scope, 45, refusal.subject, (1.0, 61.0))
    with pytest.raises(LogWriteFailed, match="different batch"):
        _decode_outcomes(batch, wire[:3])


def test_processes_share_commits_and_get_one_gapless_tree(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog]) -> None:
    log, writer = host
    servers = [client(), client()]

    def append(n: int) -> int:
        return servers[n % 2].append({"kind": "query", "n": n},
                                     token=TokenClaim(f"jti-{n}", "card-risk", EXPIRES))

    with ThreadPoolExecutor(16) as pool:
        indexes = list(pool.map(append, range(400)))
    assert sorted(indexes) == list(range(400))
    records = log.records(0, 400)
    assert [json.loads(records[i])["n"] for i in indexes] == list(range(400))
    assert log.root() == root_from_leaves(records)
    assert writer.records == 400 and writer.batches < 400  # group commits, not one per record


def test_a_process_learns_whether_it_sends_alone(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog]) -> None:
    """Alone, a process lingers for its own records (as a writer thread does); with others
    sending, the host writer gathers them all and the processes send at once."""
    first, second = client(), client()
    first.append({"kind": "query"})
    assert first._remote is not None and first._remote.peers == 1
    second.append({"kind": "query"})  # right after: the first counts as sending lately
    assert second._remote is not None and second._remote.peers == 2
    time.sleep(0.2)  # both quiet for longer than ACTIVE_S
    first.append({"kind": "query"})
    assert first._remote.peers == 1


def test_a_token_id_is_refused_on_replay_through_another_process(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog]) -> None:
    first, second = client(), client()
    claim = TokenClaim("jti-once", "card-risk", EXPIRES)
    first.append({"kind": "query"}, token=claim)
    with pytest.raises(TokenReplayed):
        second.append({"kind": "query"}, token=claim)
    with pytest.raises(TokenReplayed):
        second.claim_token(claim)
    assert host[0].size() == 1


def test_contact_caps_and_rate_limits_are_counted_at_the_host(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog]) -> None:
    first, second = client(), client()
    claim = ContactClaim("c" * 32, "sms", T0, T0 - timedelta(days=30), 1)
    first.append({"kind": "campaign"}, contacts=[claim])
    with pytest.raises(ContactCapReached) as capped:
        second.append({"kind": "campaign"}, contacts=[claim])
    assert capped.value.counts == {("c" * 32, "sms"): 1}
    for n in range(3):
        (first, second)[n % 2].append({"kind": "query", "n": n}, usage=usage(requests=3))
    with pytest.raises(RateLimited, match="requests_per_minute") as limited:
        second.append({"kind": "query"}, usage=usage(requests=3, at=AT + 5))
    assert limited.value.status == 429 and limited.value.retry_after == 45
    assert host[0].size() == 4  # neither refused record was written


def test_without_the_host_writer_nothing_is_written_and_it_recovers(
        tmp_path: Path, socket_path: str) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with opened_log(url) as (_e, log), opened_log(url, host_writer=socket_path) as (_e2, server):
        with pytest.raises(LogWriteFailed):  # never started
            server.append({"kind": "query"})
        _writer, stop = serve_in_thread(log, socket_path)
        assert server.append({"kind": "query"}) == 0
        stop()
        with pytest.raises(LogWriteFailed):  # gone: the kept connection fails, then a new one
            server.append({"kind": "query"})
        _writer, stop = serve_in_thread(log, socket_path)  # started again: connects anew
        try:
            assert server.append({"kind": "query"}) == 1
        finally:
            stop()
        assert log.size() == 2


def test_a_peer_that_breaks_the_protocol_is_dropped_and_writes_nothing(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog],
        socket_path: str) -> None:
    log, _writer = host
    server = client()
    server.append({"kind": "query"})
    for garbage in (b"not json", json.dumps({"a": 1}).encode(),
                    json.dumps([[["k"], ["\"k\":1"]]]).encode()):
        with socket.socket(socket.AF_UNIX) as rogue:
            rogue.settimeout(5)
            rogue.connect(socket_path)
            rogue.sendall(struct.pack(">I", len(garbage)) + garbage)
            assert rogue.recv(100) == b""  # disconnected, no answer
    assert server.append({"kind": "query"}) == 1  # the well-behaved process goes on
    assert log.size() == 2


def test_a_record_of_a_failed_batch_is_failed_in_every_process(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog],
        monkeypatch: pytest.MonkeyPatch) -> None:
    log, _writer = host
    first, second = client(), client()
    first.append({"kind": "query"})

    def broken(batch: list[_Pending]) -> object:
        raise OSError("disk full")

    monkeypatch.setattr(log, "write_batch", broken)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def append(server: AccessLog) -> None:
        barrier.wait()
        try:
            server.append({"kind": "query"})
        except LogWriteFailed as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 2
    monkeypatch.undo()
    assert second.append({"kind": "query"}) == 1


def test_the_socket_folder_must_be_private(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with opened_log(f"sqlite:///{tmp_path / 'gateway.db'}") as (_engine, log):
        with pytest.raises(PermissionError, match="0700"):
            HostWriter(log, str(folder / "writer.sock"))


# --- under `gateway serve` ---------------------------------------------------------------------
def _host_writer_pid(server: Server) -> int:
    """The child of `serve` that names itself the host's log writer."""
    writers = [c for c in children(server.proc.pid)
               if named(c) == PROCESS_NAME]
    assert len(writers) == 1, writers
    return writers[0]


def _query(data: GatewayData, port: int, query: Query) -> tuple[int, dict[str, object]]:
    conns: dict[int, http.client.HTTPConnection] = {}
    try:
        resp, payload = _post(conns, port, data, query)
        return resp.status, payload
    finally:
        for conn in conns.values():
            conn.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_serve_refuses_while_its_log_writer_is_down_and_starts_it_again(tmp_path: Path) -> None:
    data = prepare(tmp_path, customers=40)
    queries = workload(data, 40)
    server = Server(data)
    try:
        server.wait_ready()
        status, payload = _query(data, server.port, queries[0])
        assert status == 200 and isinstance(payload["log_index"], int)
        writer = _host_writer_pid(server)
        os.kill(writer, signal.SIGKILL)
        statuses: list[int] = []
        deadline = time.monotonic() + 30
        for query in itertools.cycle(queries[1:]):  # each sent with a fresh token
            status, payload = _query(data, server.port, query)
            statuses.append(status)
            if status == 200:
                break
            # refused while the writer is away: a problem, nothing released, no traceback
            assert status == 503 and payload["type"].endswith("/log-unavailable"), payload
            assert "attributes" not in payload and "released" not in payload
            assert time.monotonic() < deadline, statuses
            time.sleep(0.05)
        assert statuses[0] == 503 and statuses[-1] == 200, statuses
        assert _host_writer_pid(server) != writer  # a new one
        assert "starting it again" in server.stderr_path.read_text()
    finally:
        assert server.stop(), server.stderr_tail()
    assert "Traceback" not in server.stderr_path.read_text()
    engine = data.engine()
    try:  # one tree, every checkpoint consistent, across the writer's restart
        check_log(read_log(engine), data.verifier_key())
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_the_log_writer_leaves_when_serve_is_killed(tmp_path: Path) -> None:
    data = prepare(tmp_path, customers=40)
    server = Server(data)
    server.wait_ready()
    writer = _host_writer_pid(server)
    server.kill()
    deadline = time.monotonic() + 10
    while alive(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(writer)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_under_serve_the_log_writer_process_keeps_the_releases_index_behind_the_log(
        tmp_path: Path) -> None:
    """The releases follower runs once per host, in the writer process, not in each server
    process: the index reaches the log's end while the server processes only answer queries
    (their own loop no longer runs it: `Settings.host_log_writer` is set)."""
    data = prepare(tmp_path, customers=40)
    server = Server(data)
    try:
        server.wait_ready()
        for query in workload(data, 12):
            status, payload = _query(data, server.port, query)
            assert status == 200, payload
        engine = data.engine()
        try:
            deadline = time.monotonic() + 20
            while True:
                with engine.connect() as conn:
                    size = conn.execute(text("SELECT size FROM log_head")).scalar_one()
                    followed = conn.execute(text(
                        "SELECT next_index FROM log_followers WHERE name = 'releases'")
                    ).scalar()
                    rows = conn.execute(text("SELECT count(*) FROM releases")).scalar_one()
                if followed == size or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert followed == size and rows > 0, (followed, size, rows)
        finally:
            engine.dispose()
    finally:
        assert server.stop(), server.stderr_tail()
    assert "Traceback" not in server.stderr_path.read_text()


# --- coroutines: straight from the event loop to the host writer --------------------------------
def test_coroutines_of_two_processes_get_one_gapless_tree(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog]) -> None:
    log, writer = host
    servers = [client(), client()]

    async def run() -> list[int]:
        try:
            return await asyncio.gather(*(
                servers[n % 2].append_async({"kind": "query", "n": n},
                                            token=TokenClaim(f"jti-a{n}", "card-risk", EXPIRES))
                for n in range(300)))

        finally:
            for server in servers:
                server.close()  # on its loop: the connection closes with it

    indexes = asyncio.run(run())
    assert sorted(indexes) == list(range(300))
    records = log.records(0, 300)
    assert [json.loads(records[i])["n"] for i in indexes] == list(range(300))
    assert log.root() == root_from_leaves(records)
    assert writer.batches < 300  # a turn of the loop leaves as one message


def test_coroutines_get_refusals_and_failures_as_a_writer_thread_gives_them(
        host: tuple[AccessLog, HostWriter], client: Callable[[], AccessLog],
        monkeypatch: pytest.MonkeyPatch) -> None:
    log, _writer = host
    first, second = client(), client()
    claim = TokenClaim("jti-async", "card-risk", EXPIRES)

    async def run() -> None:
        await first.append_async({"kind": "query"}, token=claim)
        with pytest.raises(TokenReplayed):
            await second.append_async({"kind": "query"}, token=claim)
        with pytest.raises(TokenReplayed):
            await second.claim_token_async(claim)
        contact = ContactClaim("d" * 32, "sms", T0, T0 - timedelta(days=30), 1)
        await first.append_async({"kind": "campaign"}, contacts=[contact])
        with pytest.raises(ContactCapReached):
            await second.append_async({"kind": "campaign"}, contacts=[contact])
        # a failed transaction fails the whole message, and the next one is written
        monkeypatch.setattr(log, "write_batch", lambda batch: (_ for _ in ()).throw(
            OSError("disk full")))
        results = await asyncio.gather(first.append_async({"kind": "query"}),
                                       second.append_async({"kind": "query"}),
                                       return_exceptions=True)
        assert all(isinstance(r, LogWriteFailed) for r in results), results
        monkeypatch.undo()
        assert await first.append_async({"kind": "query"}) == 2
        first.close()
        second.close()

    asyncio.run(run())
    assert log.size() == 3


def test_a_coroutine_is_refused_while_the_host_writer_is_away_and_served_once_back(
        tmp_path: Path, socket_path: str) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with opened_log(url) as (_e, log), opened_log(url, host_writer=socket_path) as (_e2, server):

        async def once() -> int:
            return await server.append_async({"kind": "query"})

        async def run() -> None:
            with pytest.raises(LogWriteFailed):  # never started
                await once()
            _writer, stop = serve_in_thread(log, socket_path)
            assert await once() == 0
            await asyncio.to_thread(stop)
            with pytest.raises(LogWriteFailed):  # gone: the connection is lost
                await once()
            _writer, stop = serve_in_thread(log, socket_path)
            try:
                assert await once() == 1  # connects anew
            finally:
                server.close()
                await asyncio.to_thread(stop)

        asyncio.run(run())
        assert log.size() == 2


def test_a_host_writer_that_never_answers_fails_the_coroutines_in_time(
        tmp_path: Path, socket_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "REPLY_TIMEOUT_S", 0.3)
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(socket_path)
    mute.listen(1)  # accepts, reads nothing, answers nothing
    try:
        with opened_log(f"sqlite:///{tmp_path / 'gateway.db'}",
                        host_writer=socket_path) as (_e, server):

            async def run() -> None:
                started = time.monotonic()
                with pytest.raises(LogWriteFailed):
                    await server.append_async({"kind": "query"})
                assert time.monotonic() - started < 5
                server.close()

            asyncio.run(run())
    finally:
        mute.close()


def test_a_garbled_answer_fails_every_unanswered_coroutine_and_the_next_connects_anew(
        tmp_path: Path, socket_path: str) -> None:
    """Once one answer cannot be read, the later ones cannot be matched to their batches."""
    fake = socket.socket(socket.AF_UNIX)
    fake.bind(socket_path)
    fake.listen(4)

    def answer_garbage() -> None:
        conn, _ = fake.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(1 << 16)  # whatever was sent
            conn.sendall(struct.pack(">I", 5) + b"[1, 2")
            try:
                conn.recv(1 << 16)  # until the channel drops the connection
            except OSError:
                pass

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        with opened_log(f"sqlite:///{tmp_path / 'gateway.db'}",
                        host_writer=socket_path) as (_e, server):

            async def run() -> list[object]:
                results = await asyncio.gather(
                    *(server.append_async({"kind": "query", "n": n}) for n in range(3)),
                    return_exceptions=True)
                server.close()
                return results

            results = asyncio.run(run())
            assert results and all(isinstance(r, LogWriteFailed) for r in results), results
    finally:
        fake.close()
