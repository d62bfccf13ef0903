"""Token signatures checked by the host's signature service (`gateway.auth.offload`).

The service decides exactly as the authenticator does where it answers; where it cannot
answer (absent, silent, garbled), the server process checks the signature itself; where it
says "does not verify", the token is refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.accesslog.remote import _frame, _loads, _whole_messages
from gateway.auth import Authenticator
from gateway.auth import offload
from gateway.auth.offload import RemoteSignatures, SignatureService
from gateway.errors import AuthError, BadSignature
from gateway.host_writer import offloads_signatures
from gateway.settings import Settings
from tests.auth.conftest import NOW, Forge


@pytest.fixture
def folder() -> Iterator[Path]:
    """A private folder with a short path (a Unix socket's path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sig-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def service(folder: Path) -> Iterator[SignatureService]:
    running = SignatureService(str(folder / "signatures.sock"))
    stop = threading.Event()
    thread = threading.Thread(target=running.serve, args=(stop.is_set,), daemon=True)
    thread.start()
    yield running
    stop.set()
    thread.join(5)


def outcome(call: Callable[[], Any]) -> Any:
    """The caller a check gives, or the refusal it raises (type and message)."""
    try:
        caller, _expires = call()
        return caller
    except AuthError as exc:
        return type(exc).__name__, str(exc)


async def twice(authenticator: Authenticator, signatures: RemoteSignatures, header: str
                ) -> Any:
    """`verify_offloaded` as the route calls it, twice: the first call of a new client only
    starts connecting (it checks locally), the second goes to the service."""
    results = []
    for _ in range(2):
        try:
            caller, _expires = await authenticator.verify_offloaded(
                header, now=NOW, source=None, signatures=signatures)
            results.append(caller)
        except AuthError as exc:
            results.append((type(exc).__name__, str(exc)))
        await asyncio.sleep(0.05)  # the connection opens meanwhile
    signatures.close()
    return results


def _high_s_twin(token: str) -> str:
    from gateway.auth.algorithms import P256_ORDER

    header, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    twin = raw[:32] + (P256_ORDER - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    return f"{header}.{payload}.{base64.urlsafe_b64encode(twin).rstrip(b'=').decode()}"


CASES: dict[str, Callable[[Forge], str]] = {
    "eddsa": lambda f: f.token("bank-callcenter"),
    "es256": lambda f: f.token("bank-fraud"),
    "esp256": lambda f: f.token("bank-fraud", algorithm="ESP256"),
    "another-systems-key": lambda f: f.token("bank-fraud", signer="card-risk"),
    "high-s-twin": lambda f: _high_s_twin(f.token("bank-fraud")),
    "tampered-payload": lambda f: (lambda t: t.split(".")[0] + "." + f.token(
        "bank-fraud", sub="someone-else").split(".")[1] + "." + t.split(".")[2])(
        f.token("bank-fraud")),
    "non-canonical-signature": lambda f: (lambda t: t[:-1] + chr(ord(t[-1]) ^ 1))(
        f.token("bank-callcenter")),
    "unpinned-algorithm": lambda f: f.token("bank-callcenter", signer="bank-fraud",
                                            algorithm="ES256"),
    "expired": lambda f: f.token("bank-fraud", exp=int(NOW.timestamp()) - 600,
                                 iat=int(NOW.timestamp()) - 700),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_service_decides_as_the_authenticator_does(
        authenticator: Authenticator, forge: Forge, service: SignatureService,
        case: str) -> None:
    header = f"Bearer {CASES[case](forge)}"
    local = outcome(lambda: authenticator.verify(header, now=NOW, source=None))
    checked = service.checked
    results = asyncio.run(twice(authenticator, RemoteSignatures(service.path), header))
    assert results == [local, local]
    if case in ("eddsa", "es256", "esp256", "another-systems-key", "high-s-twin",
                "tampered-payload", "expired"):  # these reach the signature's check
        assert service.checked == checked + 1  # the second call's, by the service
    else:  # refused before: the service never sees it
        assert service.checked == checked


def test_without_the_service_tokens_are_checked_here(
        authenticator: Authenticator, forge: Forge, folder: Path) -> None:
    absent = RemoteSignatures(str(folder / "nobody.sock"))
    good, bad = forge.token("bank-fraud"), forge.token("bank-fraud", signer="card-risk")
    assert [r.system for r in asyncio.run(twice(authenticator, absent, f"Bearer {good}"))] == [
        "bank-fraud", "bank-fraud"]
    assert [r[0] for r in asyncio.run(twice(authenticator, absent, f"Bearer {bad}"))] == [
        "BadSignature", "BadSignature"]


@contextlib.contextmanager
def fake_service(path: Path, answer: Callable[[list[Any]], bytes | None]) -> Iterator[None]:
    """A socket that reads each message and writes `answer(message)` (None: nothing)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            buffer = bytearray()
            conn.settimeout(0.1)
            while not stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                buffer += chunk
                for body in _whole_messages(buffer):
                    reply = answer(_loads(body))
                    if reply is not None:
                        conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("answer", ["silent", "garbled", "unknown-id", "not-a-verdict"])
def test_a_service_without_a_usable_answer_leaves_the_check_here(
        authenticator: Authenticator, forge: Forge, folder: Path,
        monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    monkeypatch.setattr(offload, "ANSWER_TIMEOUT_S", 0.3)
    replies: dict[str, Callable[[list[Any]], bytes | None]] = {
        "silent": lambda message: None,
        "garbled": lambda message: b"\x00\x00\x00\x03{x]",
        "unknown-id": lambda message: _frame([[item[0] + 1000, True] for item in message]),
        "not-a-verdict": lambda message: _frame([[item[0], "yes"] for item in message]),
    }
    good, bad = forge.token("bank-fraud"), forge.token("bank-fraud", signer="card-risk")
    with fake_service(folder / "fake.sock", replies[answer]):
        client = RemoteSignatures(str(folder / "fake.sock"))
        first = asyncio.run(twice(authenticator, client, f"Bearer {good}"))
        second = asyncio.run(twice(authenticator, client, f"Bearer {bad}"))
    assert [r.system for r in first] == ["bank-fraud", "bank-fraud"]  # checked here: valid
    assert [r[0] for r in second] == ["BadSignature", "BadSignature"]  # checked here: forged


def test_a_service_that_says_no_refuses_the_token(
        authenticator: Authenticator, forge: Forge, folder: Path) -> None:
    with fake_service(folder / "no.sock", lambda m: _frame([[i[0], False] for i in m])):
        results = asyncio.run(twice(authenticator, RemoteSignatures(str(folder / "no.sock")),
                                    f"Bearer {forge.token('bank-fraud')}"))
    assert results[0].system == "bank-fraud"  # not connected yet: checked here
    assert results[1] == (BadSignature.__name__, "token signature does not verify with the "
                          "key of `bank-fraud`")  # any doubt means deny


def test_checks_of_one_turn_leave_together_and_each_gets_its_answer(
        authenticator: Authenticator, forge: Forge, service: SignatureService) -> None:
    tokens = [forge.token("bank-fraud") for _ in range(6)] + [
        forge.token("bank-fraud", signer="card-risk") for _ in range(3)]

    async def run() -> list[Any]:
        client = RemoteSignatures(service.path)
        await client.verify("ES256", None, "", "")  # connects
        await asyncio.sleep(0.05)

        async def one(token: str) -> Any:
            try:
                return (await authenticator.verify_offloaded(
                    f"Bearer {token}", now=NOW, source=None, signatures=client))[0].token_id
            except BadSignature:
                return "refused"

        try:
            return await asyncio.gather(*(one(t) for t in tokens))
        finally:
            client.close()

    checked = service.checked
    results = asyncio.run(run())
    assert results[6:] == ["refused"] * 3 and "refused" not in results[:6]
    assert len(set(results[:6])) == 6  # each caller its own token's answer
    assert service.checked == checked + 9


def test_the_service_drops_a_peer_that_breaks_the_protocol(service: SignatureService) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.connect(service.path)
        peer.settimeout(5)
        # unreadable items get no verdict (null): the server process checks those itself
        peer.sendall(_frame([[1, "ES256", "bm90IGEga2V5", "a.b", "c"], [2, 3, 4, 5, 6],
                             [3, "none", "x", "a.b", ""], "junk"]))
        reply = bytearray()
        while not (answers := list(_whole_messages(reply))):
            reply += peer.recv(65536)
        assert _loads(answers[0]) == [[1, None], [2, None], [3, None], [None, None]]
        peer.sendall(_frame({"not": "a list"}))
        assert peer.recv(65536) == b""  # disconnected


@pytest.mark.parametrize(("setting", "log_writer", "workers", "cores", "expected"), [
    ("auto", "host", 1, 2, True),  # a core to spare
    ("auto", "host", 2, 2, False),  # none: every core runs a server process
    ("auto", "host", 3, 8, True),
    ("on", "host", 4, 2, True),
    ("off", "host", 1, 8, False),
    ("on", "process", 1, 8, False),  # no host writer process to run the service
])
def test_serve_offloads_where_a_core_is_spare(
        monkeypatch: pytest.MonkeyPatch, setting: str, log_writer: str, workers: int,
        cores: int, expected: bool) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    settings = Settings.model_construct(signature_offload=setting, log_writer=log_writer)
    assert offloads_signatures(settings, workers) is expected


def _unix_paths(pid: int) -> set[str]:
    """The paths of the Unix sockets process `pid` holds (listening or connected)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            paths.add(fields[7])
    return paths


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/unix").exists(), reason="needs Linux's /proc")
def test_serve_with_a_spare_core_has_the_log_writer_process_check_signatures(
        tmp_path: Path) -> None:
    from tests.accesslog.servers import (
        ClientResults, Server, children, named, prepare, run_client, token, workload)
    from gateway.host_writer import PROCESS_NAME

    data = prepare(tmp_path, customers=20)
    queries = workload(data, 6)
    for setting, offloaded in (("on", True), ("off", False)):
        data.env["GATEWAY_SIGNATURE_OFFLOAD"] = setting
        server = Server(data, workers=1)
        try:
            server.wait_ready()
            writer = [c for c in children(server.proc.pid)
                      if named(c) == PROCESS_NAME]
            assert len(writer) == 1, server.stderr_tail()
            served = {Path(p).name for p in _unix_paths(writer[0])}
            assert ("signatures.sock" in served) is offloaded, served
            results = ClientResults()
            run_client(data, [server.port], queries, results)
            assert not results.failures, (results.failures, server.stderr_tail())
            assert {r.status for r in results.received} == {200}
            # a forged signature is refused, whoever checks it
            good = token(data, queries[0].system, queries[0].algorithm)
            head, payload, signature = good.split(".")
            forged = f"{head}.{payload}.{'A' * len(signature)}"
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("POST", "/v1/queries", body=queries[0].body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {forged}"})
            response = conn.getresponse()
            assert response.status == 401
            assert json.loads(response.read())["type"].endswith("/token-signature")
            conn.close()
        finally:
            assert server.stop(), server.stderr_tail()
