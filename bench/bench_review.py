"""Benchmark the monthly review: a month of N access records, time and peak RSS vs. baselines.

    python bench/bench_review.py [--records 1000000] [--data-dir DIR] [--employees 2000]

Writes (once per data dir) a month of synthetic query and refusal records (KST month
2026-11, the shapes `record.query_record` and `record_refusal` write) through the log's bulk
writer, then measures in separate child processes — so that each peak RSS is its own:

- `read`: the rows of the same index range fetched, nothing decoded (the I/O floor);
- `read+decode`: the same rows decoded with `json.loads` (plain iteration of the records);
- `review`: `build_review` (the aggregation, outliers and digest — what `gateway review`
  runs before rendering), and the HTML with its charts from the result.

Not a timed test: run it by hand; it prints one JSON line per measurement (wall `seconds`
and `cpu_s`, the process's user + system time, steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

ROOT = Path(__file__).resolve().parent.parent
MONTH = "2026-11"


def _keys(directory: Path) -> Path:
    from gateway.policy.snapshot import write_throwaway_keys

    keys = directory / "public-keys"
    write_throwaway_keys(ROOT / "policies", keys)  # a key of the pinned type per system
    return keys


def _policy(directory: Path) -> Any:
    from gateway.policy import load_policy

    return load_policy(ROOT / "policies", _keys(directory))


def synthetic_month(policy: Any, n: int, employees: int, seed: int = 7
                    ) -> Iterator[dict[str, Any]]:
    """`n` records spread over the month's days, in time order within each day."""
    from gateway.record import timestamp
    from gateway.review.period import Month

    rng = random.Random(seed)
    month = Month.parse(MONTH)
    systems = sorted((s for s in policy.systems.values() if "query" in s.permissions),
                     key=lambda s: s.id)
    rules = [r for r in policy.rules if not policy.purposes[r.purpose].consent_required]
    staff = []
    for i in range(employees):
        system = systems[i % len(systems)]
        own = [r for r in rules if r.recipient == system.affiliate and r.permits_system(system.id)]
        if own:
            staff.append((system, f"e{i:05d}", own))
    customers = [f"{rng.getrandbits(128):032x}" for _ in range(300_000)]
    per_day = n // month.days()
    start = month.start()
    written = 0
    for day in range(month.days()):
        count = per_day if day < month.days() - 1 else n - written
        # month.start() is 00:00 KST: most work between 09:00 and 19:00 KST, some at any hour
        seconds = sorted(rng.randrange(9 * 3600, 19 * 3600) if rng.random() < 0.92
                         else rng.randrange(86_400) for _ in range(count))
        for s in seconds:
            system, employee, own = rng.choice(staff)
            rule = rng.choice(own)
            attributes = sorted(rule.attributes)[:3]
            actor = {"affiliate": system.affiliate, "system": system.id, "employee": employee}
            when = timestamp(start + timedelta(days=day, seconds=s))
            roll = rng.random()
            if roll < 0.01:
                yield {"v": 1, "kind": "refused", "time": when, "request_id": f"{written:x}",
                       "actor": actor, "source": "10.0.0.1", "customer": None,
                       "policy_version": policy.version, "status": 401,
                       "problem": "token-expired"}
            else:
                denied = roll < 0.04
                yield {
                    "v": 1, "kind": "query", "time": when, "request_id": f"{written:x}",
                    "actor": actor, "source": "10.0.0.1", "customer": rng.choice(customers),
                    "purpose": rule.purpose,
                    "requested": [{"attribute": a, "view": None} for a in attributes],
                    "released": [] if denied else [
                        {"attribute": a, "view": rule.attributes[a][0], "rule": rule.id,
                         "consent": None} for a in attributes],
                    "withheld": [{"attribute": a, "reason": "no_rule"} for a in attributes]
                    if denied else [],
                    "decision": "deny" if denied else "allow",
                    "policy_version": policy.version, "consents": [], "status": 200}
            written += 1


def _engine(directory: Path) -> Any:
    from gateway.db.engine import make_engine

    return make_engine(f"sqlite:///{directory / 'review.db'}")


def setup(directory: Path, n: int, employees: int) -> None:
    from gateway.accesslog.bulk import bulk_append
    from gateway.review.scan import head_size

    engine = _engine(directory)
    try:
        from gateway.accesslog.bulk import prepare

        prepare(engine)
        if head_size(engine) >= n:
            return
        started = time.perf_counter()
        policy = _policy(directory)
        bulk_append(engine, synthetic_month(policy, n, employees), batch=50_000,
                    progress=lambda done: print(f"\r  wrote {done:,}/{n:,}", end="",
                                                file=sys.stderr))
        print(f"\n  wrote {n:,} records in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    finally:
        engine.dispose()


def measure(kind: str, directory: Path, out: Any) -> None:
    from sqlalchemy import select

    from gateway.accesslog import store
    from gateway.review import Month, build_review
    from gateway.review.scan import CHUNK, head_size, records

    engine = _engine(directory)
    size = head_size(engine)
    policy = _policy(directory) if kind == "review" else None
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    result: dict[str, Any] = {"measure": kind, "records": size}
    if kind == "read":
        rows = 0
        for at in range(0, size, CHUNK):
            with engine.connect() as conn:
                rows += len(conn.execute(select(store.leaves.c.idx, store.leaves.c.record).where(
                    store.leaves.c.idx >= at, store.leaves.c.idx < at + CHUNK)).all())
        result["rows"] = rows
    elif kind == "read+decode":
        result["queries"] = sum(1 for _, r in records(engine, 0, size) if r["kind"] == "query")
    else:
        review = build_review(engine, policy, Month.parse(MONTH))
        result["review_s"] = round(time.perf_counter() - started, 2)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["review_cpu_s"] = round(usage.ru_utime + usage.ru_stime - cpu_before, 2)
        result["review_peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # before any chart
        from gateway.review.documents import review_html

        html = review_html(review, policy)
        result["accesses"] = review.content["accesses"]
        result["employees"] = len(review.content["volumes"]["by_employee"])
        result["outliers"] = len(review.content["outliers"])
        result["html_bytes"] = len(html)
    result["seconds"] = round(time.perf_counter() - started, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)  # CPU time: steadier on a shared machine
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime - cpu_before, 2)
    result["records_per_s"] = round(size / max(result.get("review_s", result["seconds"]), 1e-9))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    engine.dispose()
    out.send(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--employees", type=int, default=2_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="reused if already written")
    args = parser.parse_args()
    directory = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-review-"))
    directory.mkdir(parents=True, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")
    child = spawn.Process(target=setup, args=(directory, args.records, args.employees))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"setup failed with exit code {child.exitcode}")
    for kind in ("read", "read+decode", "review"):
        receive, send = spawn.Pipe(duplex=False)
        worker = spawn.Process(target=measure, args=(kind, directory, send))
        worker.start()
        send.close()  # the child's copy is the only writer left: a crash ends recv()
        try:
            print(json.dumps(receive.recv()), flush=True)
        except EOFError:
            raise SystemExit(f"{kind}: the measuring process failed") from None
        finally:
            worker.join()


if __name__ == "__main__":
    main()
