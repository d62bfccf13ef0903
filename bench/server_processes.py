"""Start, await and always stop the HTTP servers bench_gateway.py measures.

Each server runs in a session of its own (its uvicorn workers with it), so stopping it means
signalling that one process group by id: SIGTERM, then SIGKILL if it has not exited in time.
"Ready" means the server answers a probe *and* its whole process tree has gone idle, so that
with several workers none is still importing when the timed run opens its connections.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cpu_use  # bench/: this module's own directory

STOP_GRACE_S = 20.0
IDLE_WINDOW_S = 0.5
IDLE_CPU_SHARE = 0.10  # below a tenth of one core over the window counts as idle


class ServerFailed(RuntimeError):
    """The server exited or did not become ready; the message ends with its log's tail."""


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _cpu_ticks_of_tree(root: int) -> int | None:
    """utime + stime of `root` and all its descendants, from /proc (None where there is none)."""
    mark = cpu_use.mark(root)
    if not mark.available or root not in mark.tree:
        return None
    return sum(mark.tree.values())


def _wait_idle(pid: int, timeout_s: float) -> bool:
    hertz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    deadline = time.monotonic() + timeout_s
    before = _cpu_ticks_of_tree(pid)
    if before is None:
        return True  # no /proc here: the warm-up has to do
    while time.monotonic() < deadline:
        time.sleep(IDLE_WINDOW_S)
        after = _cpu_ticks_of_tree(pid)
        if after is None:
            return False
        if (after - before) / hertz < IDLE_CPU_SHARE * IDLE_WINDOW_S:
            return True
        before = after
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers; never raises."""
    for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker of its group survived it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def serving(name: str, command: list[str], env: dict[str, str], *, host: str, port: int,
            probe: Callable[[], bool], log: Path, timeout_s: float = 120.0) -> Iterator[int]:
    """Run `command` until the block ends (even on error or Ctrl-C); yields the server's pid."""
    if port_in_use(host, port):
        raise ServerFailed(f"port {port} is already in use: stop what listens there or pass "
                           f"--port (a stale server would be measured instead of {name})")
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _await_ready(name, process, probe, log, timeout_s)
        yield process.pid
    finally:
        _stop(process)


def _await_ready(name: str, process: subprocess.Popen[bytes], probe: Callable[[], bool],
                 log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited with code {process.returncode}:\n{_tail(log)}")
        if probe():
            break
        if time.monotonic() > deadline:
            raise ServerFailed(f"{name} did not answer within {timeout_s:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)
    if not _wait_idle(process.pid, max(1.0, deadline - time.monotonic())):
        print(f"  note: {name} did not go idle after start-up; measuring anyway")
