"""How far one access log scales with the number of gateway hosts appending to it.

    .venv/bin/python bench/bench_log_hosts.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_log_hosts.py            # SQLite: a temporary file

Each "host" is a process of its own with one log writer, as a `gateway serve` host has (its
server processes hand their records to it); `--threads` threads per host append records as
fast as their commits come back, the way a host's concurrent requests do. The writers of
all hosts take turns on the log's append lock (`SELECT … FOR UPDATE` on `log_head` on
PostgreSQL, an `flock` beside the file on SQLite), so the log takes a number of batches per
second whatever the number of hosts, and more hosts mean more, smaller turns. The same run
measures 1, 2, … hosts (`--hosts`) on a fresh log each, and checks that every log is whole:
as many records as appends came back, one gapless tree.

On PostgreSQL a database of its own is made for each log (`gw_bench_log_hosts`) and dropped
afterwards. Not a test: the figures go in the README.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cpu_use  # noqa: E402  (bench/: this module's own directory)

ORIGIN = "bench.example/access-log"
DATABASE = "gw_bench_log_hosts"


def _engine(url: str) -> Any:
    from gateway.db.engine import make_engine

    return make_engine(url, synchronous="FULL")


def _log(url: str, *, create: bool, batch_max: int) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.accesslog import AccessLog, LogSigner

    signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    return AccessLog(_engine(url), signer, origin=ORIGIN, batch_max=batch_max,
                     create_tables=create)


def host(url: str, number: int, threads: int, start_at: float, duration: float,
         batch_max: int, results: Any) -> None:
    """One host: its log writer and `threads` appending threads, from `start_at` on."""
    from bench_accesslog import record

    log = _log(url, create=False, batch_max=batch_max)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    time.sleep(max(0.0, start_at - time.time()))  # every host starts at the same moment
    stop_at = time.perf_counter() + duration

    def work(t: int) -> None:
        seq = 0
        mine = latencies[t]
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            log.append(record(number * 1000 + t, seq))
            mine.append(time.perf_counter() - started)
            seq += 1

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    batches = log.stats.batches
    log.close()
    results.put((number, [x for xs in latencies for x in xs], batches))


def _fresh(url: str | None, folder: Path, hosts: int) -> str:
    """A database for one log: a new SQLite file, or a new PostgreSQL database."""
    if url is None:
        return f"sqlite:///{folder / f'log-{hosts}.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    return make_url(url).set(database=DATABASE).render_as_string(hide_password=False)


def _drop(url: str | None) -> None:
    if url is None:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    admin.dispose()


def run(url: str | None, folder: Path, hosts: int, args: argparse.Namespace) -> dict[str, Any]:
    from gateway.accesslog import store

    log_url = _fresh(url, folder, hosts)
    _log(log_url, create=True, batch_max=args.batch_max).close()  # the tables, once
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0  # every host has imported and connected by then
    processes = [context.Process(target=host, args=(
        log_url, n, args.threads, start_at, args.duration, args.batch_max, results))
        for n in range(hosts)]
    for p in processes:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    busy0, started = cpu_use.machine_busy(), time.monotonic()
    collected = [results.get(timeout=args.duration + 120) for _ in processes]
    busy1, ended = cpu_use.machine_busy(), time.monotonic()
    for p in processes:
        p.join()
    latencies = sorted(x for _, xs, _ in collected for x in xs)
    batches = sum(b for _, _, b in collected)
    engine = _engine(log_url)
    with engine.connect() as conn:
        size = store.read_head(conn).size
        root = store.root_at(conn, size)  # the tree is whole: every node it needs is there
    engine.dispose()
    if size != len(latencies):
        raise SystemExit(f"{hosts} host(s): the log holds {size} records, "
                         f"{len(latencies)} appends came back")
    _drop(url)
    cores = (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / (ended - started)
    return {"hosts": hosts, "records": size, "per_s": size / args.duration,
            "batches_per_s": batches / args.duration, "per_batch": size / max(1, batches),
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
            "cores": cores, "root": root.hex()[:12]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server (a database is made for each log); "
                        "default: a temporary SQLite file")
    parser.add_argument("--hosts", default="1,2,4",
                        help="numbers of hosts to measure, comma-separated")
    parser.add_argument("--threads", type=int, default=16, help="appending threads per host")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--batch-max", type=int, default=256)
    args = parser.parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    where = "PostgreSQL" if args.database_url else "SQLite (a temporary file)"
    print(f"one access log on {where}; {args.threads} appending threads per host, "
          f"{args.duration:.0f} s each; {multiprocessing.cpu_count()} cores shared by "
          "every host and the database server")
    print(f"{'hosts':>5} {'records/s':>10} {'vs 1 host':>9} {'batches/s':>10} "
          f"{'per batch':>9} {'p50 ms':>7} {'p99 ms':>7} {'cores busy':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        first: float | None = None
        for hosts in counts:
            r = run(args.database_url, Path(tmp), hosts, args)
            first = first or r["per_s"]
            print(f"{r['hosts']:>5} {r['per_s']:>10,.0f} {r['per_s'] / first:>8.2f}× "
                  f"{r['batches_per_s']:>10,.0f} {r['per_batch']:>9.1f} {r['p50']:>7.1f} "
                  f"{r['p99']:>7.1f} {r['cores']:>10.2f}")
    print("every log checked: as many records as appends came back, its root computed")


if __name__ == "__main__":
    main()
