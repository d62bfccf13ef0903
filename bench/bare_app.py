#!/usr/bin/env python3
"""The bare reference for bench_gateway.py: FastAPI + uvicorn reading one row, nothing else.

    .venv/bin/python bench/bare_app.py --database /tmp/gateway-bench/affiliates/bank.db
    .venv/bin/python bench/bare_app.py --database postgresql://postgres@127.0.0.1/gw_bench_bank

One async route, `POST /bare`, parses the same JSON body as the gateway's `/unsafe/baseline`
with a pydantic model and reads the same columns of the same `bank_customers` row: with the
standard library's `sqlite3`, or with psycopg for a `postgresql://` URL; one connection
opened once per process. No middleware, no thread hop, no gateway import (INVARIANT: this
file imports nothing from `gateway` or `pseudonymizer`, so the gap it shows is the
gateway's own). Served by uvicorn the way `gateway serve` (gateway/cli/run.py `_serve`)
serves the gateway: uvicorn's default loop and HTTP implementation, log level `warning`,
access log off, an app factory imported by name when there are several workers, each with
a listening socket of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

DATABASE_ENV = "BARE_APP_DATABASE"  # how the workers of a multi-process server learn the source
# The released attributes of the benchmark's bodies and where they live (policies/attributes.yaml).
COLUMNS = frozenset({"annual_income", "credit_grade", "deposit_balance", "loan_balance"})
TABLE = "bank_customers"

Reader = Callable[[str, tuple[str, ...]], Awaitable[tuple[Any, ...] | None]]


class BareIn(BaseModel):
    """The same fields and constraints as the gateway's `BaselineIn`."""

    customer_key: str = Field(pattern=r"^[0-9a-f]{32}$")
    attributes: list[str] = Field(min_length=1, max_length=64)


def select_sql(columns: tuple[str, ...], placeholder: str) -> str:
    # Column names come from the fixed COLUMNS set, never from the request as such.
    return f"SELECT {', '.join(columns)} FROM {TABLE} WHERE customer_key = {placeholder}"


def sqlite_reader(path: str) -> tuple[Reader, Callable[[], Awaitable[None]]]:
    """A reader on one sqlite3 connection; an indexed read takes microseconds, so it runs inline."""
    conn = sqlite3.connect(path, check_same_thread=False)

    async def read(key: str, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = conn.execute(select_sql(columns, "?"), (key,)).fetchone()
        return row

    async def close() -> None:
        conn.close()

    return read, close


async def postgres_reader(url: str) -> tuple[Reader, Callable[[], Awaitable[None]]]:
    """A reader on one async psycopg connection (autocommit: no transaction per read)."""
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def read(key: str, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        cursor = await conn.execute(select_sql(columns, "%s"), (key,))
        row: tuple[Any, ...] | None = await cursor.fetchone()
        return row

    async def close() -> None:
        await conn.close()

    return read, close


def create_app() -> FastAPI:
    """The bare app; the row source is named by $BARE_APP_DATABASE (a file path or a URL)."""
    source = os.environ[DATABASE_ENV]
    readers: list[Reader] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if source.startswith(("postgresql://", "postgres://")):
            read, close = await postgres_reader(source)
        else:
            read, close = sqlite_reader(source)
        readers.append(read)
        try:
            yield
        finally:
            await close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/bare")
    async def bare(body: BareIn) -> dict[str, object]:
        columns = tuple(sorted(COLUMNS.intersection(body.attributes)))
        row = await readers[0](body.customer_key, columns) if columns else None
        values = dict(zip(columns, row)) if row is not None else {}
        return {"values": {k: str(v) for k, v in values.items()}}

    return app


def serve_one(sock: socket.socket) -> None:
    """One server process on its own listening socket (several workers)."""
    config = uvicorn.Config("bare_app:create_app", factory=True, log_level="warning",
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def serve_several(host: str, port: int, workers: int) -> None:
    """`workers` processes, each on a listening socket of its own (SO_REUSEPORT), as
    `gateway serve --workers N` runs them (gateway/workers.py): the kernel spreads the
    connections over the processes, so neither server gets all of them by waking first."""
    sockets = []
    for _ in range(workers):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sockets.append(sock)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=serve_one, args=(sock,)) for sock in sockets]
    for process in processes:
        process.start()

    def stop(_signum: int, _frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True,
                        help="SQLite file of the bank, or a postgresql:// URL of its database")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[DATABASE_ENV] = args.database
    # Mirrors gateway/cli/run.py `_serve`: same uvicorn settings, same one/several-worker split.
    if args.workers > 1:
        serve_several(args.host, args.port, args.workers)
    else:
        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning",
                    access_log=False)


if __name__ == "__main__":
    main()
