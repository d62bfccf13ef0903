"""`gateway serve`'s log writer process: one group commit for every server process of the host.

`serve` starts it before the server processes and hands them its socket
(`GATEWAY_HOST_LOG_WRITER`); each server process's access log then sends its batches there
(`accesslog.remote`). The process is watched: should it die, it is started again at once (the
server processes answer 503 meanwhile: nothing leaves without its record), and it stops after
the server processes, so that they can write their last records as they shut down. It
ignores the terminal's Ctrl-C and SIGTERM (the server processes finish first) and leaves by
itself when `serve` is gone. Where `serve` leaves a core spare, the process also checks the
token signatures of every server process (`gateway.auth.offload`: a thread beside the
writer, on the socket `GATEWAY_HOST_SIGNATURES` names). Two more threads: one keeps the
releases index behind the log for all the server processes (`gateway.rights.releases`), and
on a SQLite file another checkpoints the log file's write-ahead log, so that the commits need
not (`gateway.db.walcheckpoint`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.settings import Settings

if TYPE_CHECKING:  # the writer process imports the database layer, `serve` need not
    from sqlalchemy import Engine

    from gateway.accesslog.log import AccessLog
    from gateway.db.walcheckpoint import WalCheckpointer

logger = logging.getLogger("gateway.host_writer")

START_TIMEOUT_S = 60.0  # how long `serve` waits for the writer to accept connections
RESTART_PAUSE_S = 0.5  # between a writer's death and its successor (no busy loop of crashes)
STOP_TIMEOUT_S = 30.0  # how long a stopping writer may take to finish its batch
PROCESS_NAME = "gw-log-writer"  # what `ps` and `top` show for it (Linux)
PR_SET_NAME = 15


class HostWriterStartFailed(GatewayError):
    status = 503
    type_slug = "log-unavailable"
    title = "the host's log writer did not start"


def _name_process(name: str) -> None:
    """Show `name` in `ps`/`top` (Linux: the thread's name, `/proc/<pid>/comm`); best effort."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run(settings: Settings, path: str, stop: Event, parent: int,
         signatures: str | None = None) -> None:
    """The writer process: write what the server processes send until told to stop; with
    `signatures`, a thread also answers token signature checks on that socket."""
    from gateway.accesslog.keyring import LogKeyring
    from gateway.accesslog.log import AccessLog
    from gateway.accesslog.remote import HostWriter
    from gateway.auth.offload import SignatureService

    _name_process(PROCESS_NAME)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # `serve` stops us after its servers
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    engine, checkpointer = log_engine(settings)
    log = AccessLog(engine, LogKeyring(settings.secrets_path, name=settings.log_origin),
                    origin=settings.log_origin, batch_max=settings.log_batch_max,
                    create_tables=False)

    def stopped() -> bool:
        return stop.is_set() or os.getppid() != parent

    checker = None
    if signatures is not None:
        checker = threading.Thread(target=SignatureService(signatures).serve, args=(stopped,),
                                   name="signature-service", daemon=True)
        checker.start()
    # the releases index follows the log here, once for every server process (off their loops)
    follower = threading.Thread(target=_follow_releases, args=(settings, log, stopped),
                                name="releases-follower", daemon=True)
    follower.start()
    copier = None
    if checkpointer is not None:
        copier = threading.Thread(target=checkpointer.run, args=(stopped,),
                                  name="wal-checkpointer", daemon=True)
        copier.start()
    writer = HostWriter(log, path, linger_ms=settings.log_host_linger_ms)
    writer.serve(stopped)
    for thread in (follower, copier):  # before the engine goes: each ends within a tick
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
    log.close()
    if checker is not None:
        checker.join(STOP_TIMEOUT_S)


def _follow_releases(settings: Settings, log: AccessLog, stopped: Callable[[], bool]) -> None:
    """The releases index of the gateway's database, kept close behind the log
    (`gateway.rights.releases`), on an engine of its own."""
    from gateway.db.engine import make_engine
    from gateway.rights.releases import release_index

    engine = make_engine(settings.gateway_url, synchronous="NORMAL")
    try:
        release_index(engine, log).follow(stopped)
    finally:
        engine.dispose()


def log_engine(settings: Settings) -> tuple[Engine, WalCheckpointer | None]:
    """The writer process's engine for the log, and on a SQLite file the checkpointer of its
    write-ahead log (`Settings.log_wal_checkpoint_ms`; None: the commits checkpoint it)."""
    from gateway.db.engine import make_engine
    from gateway.db.walcheckpoint import SAFETY_NET_PAGES, WalCheckpointer, has_wal

    if settings.log_wal_checkpoint_ms <= 0 or not has_wal(settings.gateway_url):
        return make_engine(settings.gateway_url, synchronous="FULL"), None
    engine = make_engine(settings.gateway_url, synchronous="FULL",
                         wal_autocheckpoint=SAFETY_NET_PAGES)
    return engine, WalCheckpointer(engine, interval_s=settings.log_wal_checkpoint_ms / 1000)


class HostWriterProcess:
    """The writer process of one `serve`, started again whenever it dies."""

    def __init__(self, settings: Settings, *, signatures: bool = False) -> None:
        self._settings = settings
        self._folder = tempfile.mkdtemp(prefix="gateway-log-")  # 0700: ours alone
        self.path = os.path.join(self._folder, "writer.sock")
        # the signature service's socket (`gateway.auth.offload`), when it runs one
        self.signatures = os.path.join(self._folder, "signatures.sock") if signatures else None
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._process: Any = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._wait_ready()
        self._watcher = threading.Thread(target=self._watch, name="host-log-writer-watch",
                                         daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self._process = self._context.Process(
            target=_run, args=(self._settings, self.path, self._stop, os.getpid(),
                               self.signatures),
            name="gateway-log-writer", daemon=False)
        self._process.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._process.is_alive():
                raise HostWriterStartFailed(
                    f"the host's log writer exited at start with code {self._process.exitcode} "
                    "(its error is above)")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.connect(self.path)
                return
            time.sleep(0.05)
        raise HostWriterStartFailed(
            f"the host's log writer did not accept connections in {START_TIMEOUT_S:.0f} s")

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._process.join(0.2)
            if self._stopping.is_set() or self._process.is_alive():
                continue
            logger.error("the host's log writer exited with code %s; starting it again "
                         "(queries are refused until it is back)", self._process.exitcode)
            time.sleep(RESTART_PAUSE_S)
            if self._stopping.is_set():
                return
            self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        self._stop.set()
        if self._process is not None:
            self._process.join(STOP_TIMEOUT_S)
            if self._process.is_alive():
                logger.error("the host's log writer did not stop in %.0f s; killed",
                             STOP_TIMEOUT_S)
                self._process.kill()
                self._process.join()
        shutil.rmtree(self._folder, ignore_errors=True)


@contextlib.contextmanager
def host_writer(settings: Settings, *, signatures: bool = False
                ) -> Iterator[HostWriterProcess | None]:
    """A host log writer for the block (None when the settings keep a writer thread in each
    server process); with `signatures`, it also runs the host's signature service."""
    if settings.log_writer != "host":
        yield None
        return
    process = HostWriterProcess(settings, signatures=signatures)
    try:
        process.start()
        yield process
    finally:
        process.stop()


def offloads_signatures(settings: Settings, workers: int) -> bool:
    """Whether `serve` with `workers` server processes has the host's writer process check
    token signatures (`Settings.signature_offload`): `auto` where a core is left spare."""
    if settings.log_writer != "host" or settings.signature_offload == "off":
        return False
    if settings.signature_offload == "on":
        return True
    return workers < available_cores()


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def crowding(settings: Settings, workers: int) -> str | None:
    """A warning when `serve` would start as many server processes as there are cores, or
    more, beside the host's log writer process: they then take turns on the cores, and the
    answers' tail grows (on 2 cores, measured with `bench/bench_gateway.py`: one process served
    as many queries as two, with a p99 of 20 ms against 41–55 ms). None when a core is left."""
    cores = available_cores()
    if settings.log_writer != "host" or workers < 2 or workers < cores:
        return None
    return (f"{workers} server processes on {cores} cores: the host's log writer process has "
            f"no core of its own, and answers wait for the cores (longer tails); "
            f"`--workers {max(cores - 1, 1)}` leaves it one")
