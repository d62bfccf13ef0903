"""Several server processes on one port, each with a listening socket of its own.

uvicorn's own `--workers` hands every process one shared listening socket: whichever process
wakes first accepts everything queued, so a burst of keep-alive connections can all land on
one process while the other idles (`bench/bench_gateway.py` saw 16 connections split 16/0 as
often as 8/8, and a run with such a split is a run of one process). Here each process gets
a socket of its own, bound with `SO_REUSEPORT`: the kernel spreads new connections over the
sockets by their addresses and ports, whichever process is busy.

The supervisor (this module, in `gateway serve`) binds the sockets and keeps them for as long
as it runs, so a process that dies leaves its socket listening: connections the kernel sends
there wait in its queue until the process started in its place accepts them. It stops every
process on Ctrl-C or SIGTERM (each finishes its requests, as uvicorn does on its own) and
passes SIGHUP on (each process reloads the policy). A process that fails while starting
stops them all: it would fail the same way again.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from gateway.errors import GatewayError

logger = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # what uvicorn exits with when the app or its lifespan cannot start
STOP_GRACE_S = 30.0  # each process's time to finish its requests after SIGTERM
POLL_S = 0.5


class ServeFailed(GatewayError):
    """The server processes could not be started, or a process failed while starting."""

    type_slug = "serve-failed"
    title = "the server processes could not be started"


def reuse_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on (host, port), one per process (`SO_REUSEPORT`)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ServeFailed("several server processes need SO_REUSEPORT, which this system lacks")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        # the port must be free: with SO_REUSEPORT alone, a server still running there (an
        # earlier `serve` of the same user, say) would silently take a share of the connections
        with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(2048)  # uvicorn's default backlog
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ServeFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sockets


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _leave_with_parent(parent: int) -> None:
    """Be sent SIGTERM (a graceful stop) when the supervisor dies, even by SIGKILL: a server
    process left behind would keep the port, and without the host's log writer (which leaves
    with `serve` too) it could only refuse. Linux only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_one(sock: socket.socket, uvicorn_options: dict[str, Any], parent: int) -> None:
    """One server process: uvicorn on its own socket, the app built from GATEWAY_* settings."""
    import uvicorn

    _leave_with_parent(parent)
    config = uvicorn.Config("gateway.api.app:create_app", factory=True, **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts one server process per socket, starts a dead one again, stops them all."""

    def __init__(self, sockets: list[socket.socket], uvicorn_options: dict[str, Any], *,
                 target: Callable[[socket.socket, dict[str, Any], int], None] = _serve_one
                 ) -> None:
        self._sockets = sockets
        self._options = uvicorn_options
        self._target = target
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess | None] = [None] * len(sockets)
        self._stop = threading.Event()
        self._failed: str | None = None

    def run(self) -> None:
        """Serve until Ctrl-C or SIGTERM (or a process fails while starting: ServeFailed)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():  # else: `stop()` ends it
            previous = {sig: signal.signal(sig, self._on_signal)
                        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            for slot in range(len(self._sockets)):
                self._start(slot)
            while not self._stop.wait(POLL_S):
                self._keep_alive()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._failed is not None:
            raise ServeFailed(self._failed)

    def stop(self) -> None:
        self._stop.set()

    @property
    def pids(self) -> list[int | None]:
        return [p.pid if p is not None else None for p in self._processes]

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:  # each process reloads its policy on SIGHUP
            for process in self._processes:
                if process is not None and process.pid is not None and process.is_alive():
                    os.kill(process.pid, signal.SIGHUP)
            return
        self._stop.set()

    def _start(self, slot: int) -> None:
        process = self._context.Process(
            target=self._target, args=(self._sockets[slot], self._options, os.getpid()),
            name=f"gateway-server-{slot}", daemon=False)
        process.start()
        self._processes[slot] = process

    def _keep_alive(self) -> None:
        for slot, process in enumerate(self._processes):
            if process is None or process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                self._failed = (f"server process {slot} failed while starting (exit code "
                                f"{STARTUP_FAILURE}): see its log above")
                self._stop.set()
                return
            if self._stop.is_set():
                return
            logger.error("server process %d (pid %s) exited with %s: starting it again",
                         slot, process.pid, process.exitcode)
            self._start(slot)

    def _stop_all(self) -> None:
        running = [p for p in self._processes if p is not None and p.is_alive()]
        for process in running:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in running:
            process.join(STOP_GRACE_S)
            if process.is_alive():  # did not finish in time: no more waiting
                process.kill()
                process.join()
