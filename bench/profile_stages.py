"""CPU time per stage of `POST /v1/queries`, measured in process (`bench_gateway.py --profile`).

Runs N requests through the real ASGI app (the same `create_app` the server runs, no HTTP
socket) with C concurrent requests, so the log's group commit batches as it does under load.
Each step of the request path is wrapped with a CPU-time meter (`time.thread_time`): the
wrappers replace the step functions where the pipeline looks them up, so nothing in the
gateway carries profiling code. The log writer runs as `gateway serve` runs it, the host's
writer process beside this one (or, with `GATEWAY_LOG_WRITER=process`, a thread of this
process); its CPU is read from /proc (or its thread's clock) and shared out per record.
`framework` is what is left of the event loop's CPU time per request:
uvicorn is not in the loop here; Starlette/FastAPI routing, middleware, dependencies, body
parsing and validation are, and so are the ASGI calls this script makes.

    .venv/bin/python bench/bench_gateway.py --profile 4000
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cpu_use  # bench/: this module's own directory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("authenticate", "resolve", "decide", "fetch", "shape", "record", "respond",
          "framework")


class Meter:
    """CPU seconds per stage, summed over every request (event-loop thread only)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.on_loop = 0.0  # the part of it spent on the event loop's thread
        self._loop_thread = threading.get_ident()

    def sync(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def metered(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()  # this thread's CPU: the loop's, or a reader thread's
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                self.cpu[stage] += spent
                if threading.get_ident() == self._loop_thread:
                    self.on_loop += spent

        return metered


def _thread_cpu(name: str) -> float:
    """CPU seconds used so far by the live thread called `name` (0 if there is none)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def _host_writer_cpu() -> float:
    """CPU seconds used so far by this process's host log writer (`gw-log-writer`), from
    /proc (0 if there is none)."""
    from gateway.host_writer import PROCESS_NAME

    processes, _available = cpu_use.proc_ticks()
    ticks = sum(t for parent, t, comm in processes.values()
                if parent == os.getpid() and comm == PROCESS_NAME)
    return ticks / os.sysconf("SC_CLK_TCK")


def _writer_cpu() -> float:
    """The log writer's CPU seconds so far: the host's writer process, or this process's
    writer thread (`GATEWAY_LOG_WRITER=process`)."""
    return _host_writer_cpu() or _thread_cpu("accesslog-writer")


def install(meter: Meter, services: Any) -> None:
    """Wrap the request path's steps where `gateway.pipeline` and the API look them up."""
    from gateway import pipeline
    from gateway.api.routes import queries

    from gateway.auth import authenticator

    # the checks before and after the signature's, and the signature's where it is made here
    # (with the host's signature service, it is the writer process's CPU)
    checks = services.authenticator
    checks._signed = meter.sync("authenticate", checks._signed)
    checks._accepted = meter.sync("authenticate", checks._accepted)
    authenticator._verify_signature = meter.sync(
        "authenticate", authenticator._verify_signature)
    pipeline.resolve = meter.sync("resolve", pipeline.resolve)  # type: ignore[attr-defined]
    services.consents.for_customer = meter.sync("decide", services.consents.for_customer)
    pipeline.decide = meter.sync("decide", pipeline.decide)  # type: ignore[attr-defined]
    pipeline.fetch = meter.sync("fetch", pipeline.fetch)  # type: ignore[attr-defined]
    pipeline.national_ids = meter.sync("fetch", pipeline.national_ids)  # type: ignore[attr-defined]
    pipeline.shape = meter.sync("shape", pipeline.shape)  # type: ignore[attr-defined]
    pipeline.record.query_record = meter.sync("record", pipeline.record.query_record)
    # the caller's share of an append (canonical JSON, queueing); the writer is metered
    # by its own CPU clock
    services.access_log._prepare = meter.sync("record", services.access_log._prepare)
    channel = services.access_log._channel  # the host writer's: sending records is recording
    if channel is not None:
        channel._flush = meter.sync("record", channel._flush)
    answer = queries._ANSWER  # the route serializes its answer once, through this adapter
    dump_json = meter.sync("respond", answer.dump_json)

    class MeteredAnswer:
        def dump_json(self, *args: Any, **kwargs: Any) -> bytes:
            return dump_json(*args, **kwargs)  # type: ignore[no-any-return]

    queries._ANSWER = MeteredAnswer()  # type: ignore[assignment]


async def call(app: Any, body: bytes, token: str) -> int:
    """One POST /v1/queries straight through the ASGI app; returns the status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/queries", "raw_path": b"/v1/queries", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"content-length", str(len(body)).encode())],
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app: Any, bodies: list[bytes], tokens: list[str], concurrency: int
                ) -> dict[int, int]:
    statuses: dict[int, int] = defaultdict(int)
    cursor = 0

    async def client() -> None:
        nonlocal cursor
        while cursor < len(tokens):
            n = cursor
            cursor += 1
            statuses[await call(app, bodies[n % len(bodies)], tokens[n])] += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return dict(statuses)


async def run(bodies: list[dict[str, object]], tokens: list[str], concurrency: int,
              warmup: int) -> None:
    from gateway.api.app import create_app
    from gateway.services import Services
    from gateway.settings import Settings

    settings = Settings()
    services = Services.build(settings)
    app = create_app(settings, services=services)
    rng = random.Random(11)
    encoded = [json.dumps(rng.choice(bodies), ensure_ascii=False).encode()
               for _ in range(len(tokens))]
    async with app.router.lifespan_context(app):
        app.state.services = services
        await drive(app, encoded[:warmup], tokens[:warmup], concurrency)  # compile, warm caches
        meter = Meter()
        install(meter, services)
        measured = tokens[warmup:]
        loop_cpu, writer_cpu = time.thread_time(), _writer_cpu()
        started = time.perf_counter()
        statuses = await drive(app, encoded[warmup:], measured, concurrency)
        wall = time.perf_counter() - started
        loop_cpu = time.thread_time() - loop_cpu
        writer_cpu = _writer_cpu() - writer_cpu
    services.close()
    report(meter, len(measured), loop_cpu, writer_cpu, wall, statuses, concurrency,
           host=services.access_log._channel is not None,
           signatures=services.signatures is not None)


def report(meter: Meter, n: int, loop_cpu: float, writer_cpu: float, wall: float,
           statuses: dict[int, int], concurrency: int, *, host: bool, signatures: bool
           ) -> None:
    per = {stage: meter.cpu.get(stage, 0.0) / n * 1e6 for stage in STAGES}
    per["framework"] = max(0.0, (loop_cpu - meter.on_loop) / n * 1e6)
    writer = writer_cpu / n * 1e6
    total = sum(per.values()) + writer
    print(f"profile: {n:,} requests in process, {concurrency} at a time, statuses "
          f"{json.dumps(statuses)}; {n / wall:,.0f} req/s wall on this core")
    print(f"{'stage':<14} {'CPU µs/request':>15} {'share':>7}")
    for stage in STAGES:
        print(f"{stage:<14} {per[stage]:>15.1f} {per[stage] / total:>7.1%}")
    where = ("the host's writer process" if host
             else "its own thread (GATEWAY_LOG_WRITER=process)")
    work = "hashing, inserts, commit" + (", token signatures" if signatures else "")
    print(f"{'log writer':<14} {writer:>15.1f} {writer / total:>7.1%}   ({where}: {work})")
    print(f"{'total':<14} {total:>15.1f}          → at most {1e6 / total:,.0f} req/s per core")


def profile(bodies: list[dict[str, object]], tokens: list[str], concurrency: int) -> None:
    """The `--profile` mode of `bench_gateway.py`: its full-path bodies and single-use tokens
    (the first fifth, at most 500, warm up), through the app built from the GATEWAY_*
    settings in force."""
    from gateway.host_writer import host_writer, offloads_signatures
    from gateway.settings import Settings

    warmup = min(500, len(tokens) // 5)
    # as `gateway serve` runs one server process: the host's log writer, a process of its own
    # (unless the settings keep a writer thread in the server process), checking the token
    # signatures too where a core is spare
    settings = Settings()
    with host_writer(settings, signatures=offloads_signatures(settings, 1)) as helper:
        sockets = {"GATEWAY_HOST_LOG_WRITER": helper and helper.path,
                   "GATEWAY_HOST_SIGNATURES": helper and helper.signatures}
        os.environ.update({name: path for name, path in sockets.items() if path})
        try:
            asyncio.run(run(bodies, tokens, concurrency, warmup))
        finally:
            for name in sockets:
                os.environ.pop(name, None)
