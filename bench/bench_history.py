"""Benchmark the customer access history on a large SQLite log: index look-up vs a log scan.

    python bench/bench_history.py                                  # 10,000,000 records
    python bench/bench_history.py --records 1000000 --db /tmp/h.db # smaller
    python bench/bench_history.py --read-only --db /tmp/h.db       # reuse a built log

Builds (once; reused and resumed when the file exists) a log of `--records` query records with
the bulk loader, which writes the per-customer index in each chunk's transaction as the log
writer does. Records name customers from a population of `--customers` keys in scattered order;
one customer (the target) gets `--entries` records spread evenly over the whole log, and one
record in ten has a purpose the shipped policy hides from the history. Times span three years.

Then, in the same run:
- the history look-up: `AccessHistory.page` (checkpoint, index range read, records, batched
  inclusion proofs, names) plus the JSON document built and encoded, for the target (all its entries on one
  page, limit 200) and for random ordinary customers; p50/p99 over `--samples` runs;
- the baseline without the index: the log's records scanned for the target's key (SQLite
  `instr` over `log_leaves`, no JSON parsing, no proofs) over the first `--baseline-records`
  records, and the figure scaled to the whole log (`--baseline-full` scans all of it once).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, event, func, select

from gateway.accesslog import AccessLog, LogSigner, store
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.canonical import CanonicalObject
from gateway.accesslog.customer_index import ENTRIES
from gateway.db.models import create_gateway_schema
from gateway.keys import generate_system_keys
from gateway.policy.loader import load_policy
from gateway.rights.history import DEFAULT_LIMIT, MAX_LIMIT, AccessHistory, Period
from gateway.rights.history_json import page_json

ORIGIN = "bench.example/access-log"
ROOT = Path(__file__).resolve().parent.parent
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365 - 40)  # the last three years before NOW
NOW = START + SPAN + timedelta(days=10)
HIDDEN = "fraud_reidentification"  # `history: shown: false` in the shipped policy


def customer_key(n: int) -> str:
    return f"{n * 2654435761 % 2**64:016x}{n:016x}"


def target_key() -> str:
    return "f" * 16 + "0" * 16  # outside the population


def _record(i: int, customer: str, at: datetime, purpose: str) -> dict[str, object]:
    return {
        "v": 1, "kind": "query", "time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "request_id": f"req-{i}", "customer": customer,
        "actor": {"affiliate": "card", "system": "card-risk", "employee": f"E{i % 997}"},
        "source": None, "purpose": purpose, "decision": "partial", "status": 200,
        "requested": [{"attribute": "credit_grade", "view": None},
                      {"attribute": "mobile_phone", "view": None}],
        "released": [{"attribute": "credit_grade", "view": "band", "rule": "card-credit-risk",
                      "consent": None}],
        "withheld": [{"attribute": "mobile_phone", "reason": "no_rule"}],
        "consents": [], "policy_version": "sha256:" + "ab" * 32,
    }


def records(start: int, end: int, total: int, customers: int, entries: int
            ) -> Iterator[CanonicalObject]:
    """The records [start, end) of the bench log, canonical; ~15x faster than encoding each.

    Only the members that differ are encoded per record; checked against the slow path."""
    every = max(1, total // entries)
    template = CanonicalObject.of(_record(0, customer_key(0), START, "credit_risk"))
    keys = [k.encode("utf-16-be") for k in ("actor", "customer", "purpose", "request_id",
                                            "time")]
    slots = [template.sort_keys.index(k) for k in keys]
    members = list(template.members)
    step = SPAN / total
    for i in range(start, end):
        customer = target_key() if i % every == every // 2 else customer_key(
            i * 7919 % customers)
        purpose = HIDDEN if i % 10 == 3 else "credit_risk"
        at = START + step * i
        members[slots[0]] = (b'"actor":{"affiliate":"card","employee":"E%d",'
                             b'"system":"card-risk"}' % (i % 997))
        members[slots[1]] = b'"customer":"%s"' % customer.encode()
        members[slots[2]] = b'"purpose":"%s"' % purpose.encode()
        members[slots[3]] = b'"request_id":"req-%d"' % i
        members[slots[4]] = b'"time":"%s"' % at.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        yield CanonicalObject(template.sort_keys, tuple(members))


def _engine(path: Path, *, read_only: bool = False):  # type: ignore[no-untyped-def]
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if read_only else f"sqlite:///{path}"
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi, _record):  # type: ignore[no-untyped-def]
        dbapi.execute("PRAGMA cache_size = -1000000")  # 1 GB: the index fits while building
        dbapi.execute("PRAGMA mmap_size = 8589934592")
    return engine


def build(path: Path, total: int, customers: int, entries: int) -> None:
    for i in (0, 1, 12_345, total // 2):  # the fast generator must equal the real encoder
        fast = next(records(i, i + 1, total, customers, entries))
        every = max(1, total // entries)
        key = target_key() if i % every == every // 2 else customer_key(i * 7919 % customers)
        slow = CanonicalObject.of(_record(i, key, START + SPAN / total * i,
                                          HIDDEN if i % 10 == 3 else "credit_risk"))
        assert fast == slow, i
    engine = _engine(path)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    create_gateway_schema(engine)
    from gateway.accesslog.bulk import prepare
    prepare(engine)
    with engine.connect() as conn:
        size = store.read_head(conn).size
    note = path.with_name(path.name + ".build.txt")
    if size >= total:
        print(f"log: reusing {path} ({size:,} records, {path.stat().st_size / 2**30:.2f} GiB; "
              f"{note.read_text().strip() if note.exists() else 'build time not recorded'})")
        engine.dispose()
        return
    print(f"log: bulk-loading records {size:,}..{total:,} into {path}", flush=True)
    began = time.perf_counter()
    last = [began]

    def progress(done: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"  {size + done:,} records, {done / (last[0] - began):,.0f}/s", flush=True)

    added = bulk_append(engine, records(size, total, total, customers, entries), batch=100_000,
                        progress=progress)
    elapsed = time.perf_counter() - began
    built = (f"built {added:,} records (with the per-customer index) in {elapsed:.0f} s "
             f"({added / elapsed:,.0f}/s)")
    print(f"log: {built}, file {path.stat().st_size / 2**30:.2f} GiB", flush=True)
    if size == 0:
        note.write_text(built + "\n")
    engine.dispose()


def percentiles(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms  (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir())
                        / "gateway-bench-history.db")
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--baseline-records", type=int, default=1_000_000)
    parser.add_argument("--baseline-full", action="store_true")
    parser.add_argument("--read-only", action="store_true")
    args = parser.parse_args()
    if not args.read_only:
        build(args.db, args.records, args.customers, args.entries)
    keys = Path(tempfile.mkdtemp(prefix="bench-history-keys-"))
    generate_system_keys(ROOT / "policies", keys / "public", keys / "private")
    policy = load_policy(ROOT / "policies", keys / "public")
    engine = _engine(args.db)
    log = AccessLog(engine, LogSigner(Ed25519PrivateKey.generate(), ORIGIN), origin=ORIGIN,
                    create_tables=False)
    size = log.size()
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(ENTRIES).where(
            ENTRIES.c.customer_key == target_key())).scalar_one()
        plan = " / ".join(r[-1] for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT log_index FROM customer_log_index WHERE customer_key = ? "
            "AND log_index < ? ORDER BY log_index DESC", (target_key(), size)))
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} "
          f"CPUs (the figures below are wall times on this machine, shared)")
    print(f"log of {size:,} records; target customer has {rows} indexed records; plan: {plan}")
    history = AccessHistory(engine, log)
    period = Period.of(None, NOW, NOW)

    def look_up(key: str, limit: int = MAX_LIMIT) -> dict[str, object]:
        """What the route does to answer, but for recording the look-up and the HTTP layer:
        the page read and proved, and its JSON document encoded."""
        page = history.page(key, policy, period=period, limit=limit)
        doc = page_json(page, request_id="bench", log_index=size, pseudonym="p1_bench",
                        rrn_masked="900101-1******")
        json.dumps(doc, ensure_ascii=False)
        return doc

    doc = look_up(target_key())
    listed = len(doc["entries"])  # type: ignore[arg-type]
    print(f"target: {listed} entries listed, {doc['hidden_total']} hidden by policy, "
          f"page of {len(json.dumps(doc)) / 1024:.0f} KiB")
    times, cpu = [], []
    for _ in range(args.samples):
        began, began_cpu = time.perf_counter(), time.process_time()
        look_up(target_key())
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    print(f"history look-up, target ({listed} entries, one page): {percentiles(times)}; "
          f"CPU p50 {statistics.median(cpu):.2f} ms")
    times = []
    for _ in range(args.samples):
        began = time.perf_counter()
        look_up(target_key(), DEFAULT_LIMIT)
        times.append((time.perf_counter() - began) * 1000)
    print(f"history look-up, target, first page of {DEFAULT_LIMIT} (the API's default): "
          f"{percentiles(times)}")
    rng = random.Random(35)
    times = []
    for _ in range(args.samples):
        key = customer_key(rng.randrange(args.customers))
        began = time.perf_counter()
        look_up(key)
        times.append((time.perf_counter() - began) * 1000)
    print(f"history look-up, random customers (~{args.records // args.customers} records): "
          f"{percentiles(times)}")

    scan = min(size, size if args.baseline_full else args.baseline_records)
    needle = f'"customer":"{target_key()}"'
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM log_leaves WHERE idx < ?", (scan,)).all()
        runs = []
        for _ in range(3):
            began = time.perf_counter()
            found = conn.exec_driver_sql(
                "SELECT idx, record FROM log_leaves WHERE idx < ? AND instr(record, ?) > 0 "
                "ORDER BY idx DESC", (scan, needle.encode())).all()
            runs.append((time.perf_counter() - began) * 1000)
    best = min(runs)
    print(f"baseline scan without the index over {scan:,} records: {best:,.0f} ms "
          f"(best of 3; {len(found)} of the target's records found)"
          + ("" if scan == size else f"; scaled to {size:,} records: "
             f"{best * size / scan / 1000:,.1f} s"))
    log.close()
    engine.dispose()


if __name__ == "__main__":
    main()
