"""`gateway serve --workers N`: one listening socket per process, supervised (gateway/workers.py)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway.host_writer import PROCESS_NAME, crowding
from gateway.settings import Settings
from gateway.workers import STARTUP_FAILURE, ServeFailed, Supervisor, reuse_port_sockets
from tests.accesslog.servers import (
    Server,
    alive,
    children,
    command_line,
    free_port,
    named,
    prepare,
)

pytestmark = pytest.mark.slow


def _answering_process(port: int) -> tuple[int, str]:
    """One request on a fresh connection: its status and the answering process's id prefix
    (a request id starts with a random prefix drawn once per process)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        return response.status, (response.getheader("x-request-id") or "")[:16]
    finally:
        conn.close()


def test_connections_spread_over_the_processes_and_a_dead_one_is_replaced(
        tmp_path: Path) -> None:
    data = prepare(tmp_path, customers=20)
    server = Server(data, workers=2)
    try:
        server.wait_ready()
        before = set(children(server.proc.pid))
        answers = Counter(_answering_process(server.port) for _ in range(48))
        assert {status for status, _ in answers} == {200}, answers
        processes = Counter(prefix for (_, prefix) in answers.elements())
        # the kernel spreads fresh connections over the two sockets by their ports: both
        # processes answer (one alone 48 times would happen once in 2^47 runs)
        assert len(processes) == 2, processes
        assert min(processes.values()) >= 6, processes

        # a server process killed outright: the supervisor starts another on its socket;
        # connections the kernel sent that way wait in its queue, none is refused
        servers = {p for p in before if b"spawn_main" in command_line(p)
                   and named(p) not in (PROCESS_NAME, None)}
        assert len(servers) == 2, servers
        victim = max(servers)
        os.kill(victim, signal.SIGKILL)
        statuses = Counter(_answering_process(server.port)[0] for _ in range(24))
        assert statuses == Counter({200: 24}), statuses
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            prefixes = Counter(_answering_process(server.port)[1] for _ in range(24))
            if len(prefixes) == 2 and set(prefixes) - set(processes):
                break  # a new process (a new prefix) answers beside the survivor
            time.sleep(0.5)
        else:
            pytest.fail(f"no replacement process answered: {prefixes} {server.stderr_tail()}")
        assert "starting it again" in server.stderr_tail()
        everyone = set(children(server.proc.pid))
    finally:
        running = server.stop()
    assert running, server.stderr_tail()
    assert server.proc.returncode == 0, server.stderr_tail()
    # SIGTERM to `serve`: every server process and the log writer are gone with it
    deadline = time.monotonic() + 10
    while any(alive(p) for p in everyone) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in everyone if alive(p)]


def test_server_processes_leave_when_serve_is_killed(tmp_path: Path) -> None:
    data = prepare(tmp_path, customers=20)
    server = Server(data, workers=2)
    try:
        server.wait_ready()
        everyone = set(children(server.proc.pid))
        assert len(everyone) >= 3, everyone  # two server processes and the log writer
        server.proc.kill()  # SIGKILL: no chance to stop anyone itself
        server.proc.wait(10)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in everyone) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in everyone if alive(p)], server.stderr_tail()
        with socket.socket() as probe:  # nobody holds the port any more
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", server.port)) != 0
    finally:
        server.stop()


# --- the supervisor on its own ----------------------------------------------------------------
def fail_at_start(sock: socket.socket, options: dict[str, Any], parent: int) -> None:
    os._exit(STARTUP_FAILURE)


def serve_until_terminated(sock: socket.socket, options: dict[str, Any], parent: int) -> None:
    while True:
        connection, _ = sock.accept()
        connection.sendall(str(os.getpid()).encode())
        connection.close()


def test_a_process_failing_at_start_stops_them_all() -> None:
    sockets = reuse_port_sockets("127.0.0.1", free_port(), 2)
    try:
        started = time.monotonic()
        with pytest.raises(ServeFailed, match="failed while starting"):
            Supervisor(sockets, {}, target=fail_at_start).run()
        assert time.monotonic() - started < 20
    finally:
        for sock in sockets:
            sock.close()


def test_stop_ends_every_process() -> None:
    port = free_port()
    sockets = reuse_port_sockets("127.0.0.1", port, 2)
    supervisor = Supervisor(sockets, {}, target=serve_until_terminated)

    runner = threading.Thread(target=supervisor.run)  # off the main thread: no signal handlers
    try:
        runner.start()
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                    seen.add(conn.recv(32).decode())
            except OSError:
                time.sleep(0.1)
        assert len(seen) == 2, seen  # each socket is served by a process of its own
        pids = [p for p in supervisor.pids if p is not None]
    finally:
        supervisor.stop()
        runner.join(60)
        for sock in sockets:
            sock.close()
    assert not runner.is_alive()
    assert not [p for p in pids if alive(p)]


def test_a_port_taken_without_reuse_is_refused_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeFailed, match=f"cannot listen on 127.0.0.1:{port}"):
            reuse_port_sockets("127.0.0.1", port, 2)


def test_a_port_another_server_shares_is_refused_too() -> None:
    # a server still listening with SO_REUSEPORT (an earlier `serve`) would otherwise be
    # joined silently, and take a share of the connections
    with socket.socket() as earlier:
        earlier.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        earlier.bind(("127.0.0.1", 0))
        earlier.listen()
        port = earlier.getsockname()[1]
        with pytest.raises(ServeFailed, match=f"cannot listen on 127.0.0.1:{port}"):
            reuse_port_sockets("127.0.0.1", port, 2)


@pytest.mark.parametrize(("log_writer", "workers", "cores", "warned"), [
    ("host", 1, 2, False),  # one process: a core left for the log writer process
    ("host", 2, 2, True),  # every core runs a server process: the writer has none
    ("host", 3, 2, True),
    ("host", 7, 8, False),
    ("host", 8, 8, True),
    ("process", 2, 2, False),  # no writer process: each server process writes its own log
])
def test_serve_warns_when_the_log_writer_process_gets_no_core(
        monkeypatch: pytest.MonkeyPatch, log_writer: str, workers: int, cores: int,
        warned: bool) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    warning = crowding(Settings.model_construct(log_writer=log_writer), workers)
    assert (warning is not None) is warned
    if warning is not None:
        assert warning.startswith(f"{workers} server processes on {cores} cores")
        assert f"`--workers {cores - 1}`" in warning
