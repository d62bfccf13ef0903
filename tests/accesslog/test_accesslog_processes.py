"""Several real gateway processes append to one log at once: one consistent tree, no gap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.accesslog.servers import (
    ClientResults,
    GatewayData,
    Server,
    check_log,
    check_received,
    prepare,
    read_log,
    run_client,
    workload,
)
from tests.conftest import postgres_schema

pytestmark = pytest.mark.slow

CLIENTS = 12
QUERIES_PER_CLIENT = 40


def hammer(data: GatewayData, servers: list[Server]) -> ClientResults:
    """CLIENTS threads, each rotating over every server, all at once."""
    queries = workload(data, CLIENTS * QUERIES_PER_CLIENT)
    ports = [s.port for s in servers]
    results = ClientResults()
    threads = [
        threading.Thread(target=run_client, args=(
            data, ports[c % len(ports):] + ports[:c % len(ports)],
            queries[c::CLIENTS], results))
        for c in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    return results


def run_and_check(data: GatewayData, layout: str) -> None:
    if layout == "processes":  # three independent servers, as behind a load balancer
        servers = [Server(data) for _ in range(3)]
    else:  # one uvicorn master with three worker processes on one port
        servers = [Server(data, workers=3)]
    running: list[bool] = []
    try:
        for s in servers:
            s.wait_ready()
        results = hammer(data, servers)
    finally:
        running = [s.stop() for s in servers]  # graceful: each signs a last checkpoint
    assert all(running), [s.stderr_tail() for s in servers]
    assert not results.failures, dict(results.failures)
    assert len(results.received) == CLIENTS * QUERIES_PER_CLIENT
    assert {r.status for r in results.received} <= {200, 403, 404}
    engine = data.engine()
    try:
        log = read_log(engine)
    finally:
        engine.dispose()
    check_log(log, data.verifier_key())
    check_received(log, results.received)
    # every answered query is in the log (and the servers logged nothing else but refusals)
    assert len(log.records) >= len(results.received)
    # the latest checkpoint covers the whole log: signed on shutdown after the last append
    assert log.checkpoints[-1][0] == len(log.records)
    if layout == "processes":  # the records really came from several processes at once
        assert len({r.port for r in results.received}) == 3


@pytest.mark.parametrize("layout", ["processes", "workers"])
def test_processes_share_one_sqlite_log(tmp_path: Path, layout: str) -> None:
    data = prepare(tmp_path / "data")
    run_and_check(data, layout)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("accesslog_procs") as url:
        yield url


@pytest.mark.postgres
def test_processes_share_one_postgres_log(tmp_path: Path, pg_url: str) -> None:
    data = prepare(tmp_path / "data", database_url=pg_url)
    run_and_check(data, "processes")
