"""Benchmark the access log on a SQLite file: group-committed appends, roots and proofs.

    python bench/bench_accesslog.py --records 100000 --threads 32
    python bench/bench_accesslog.py --records 0 --big /tmp/accesslog-10m.db   # 10M-record log
    python bench/bench_accesslog.py --records 0 --big /tmp/accesslog-10m.db --read-only

Part 1 appends from many threads through the group-committing writer (durable commits:
WAL, synchronous=FULL). Part 2 builds (once; reused and resumed when the file exists) a log
of `--big-records` records with the bulk loader and times root, inclusion and consistency
proofs on it, printing the SQLite query plans that show every look-up uses a primary key,
then p50 and max over `--sample` random roots at older sizes and proofs (`--read-only`: only
these, on the existing file opened read-only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, event

from gateway.accesslog import (
    AccessLog,
    LogSigner,
    leaf_hash,
    store,
    verify_consistency,
    verify_inclusion,
)
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.canonical import CanonicalObject

ORIGIN = "bench.example/access-log"
BIG_RECORDS = 10_000_000


def record(thread: int, seq: int) -> dict[str, object]:
    """A record shaped like a real query record (synthetic values only)."""
    return {
        "v": 1, "kind": "query", "time": "2025-01-01T00:00:00.000000Z",
        "request_id": f"req-{thread}-{seq}", "customer": f"{thread:016x}{seq:016x}",
        "actor": {"affiliate": "card", "system": "card-callcenter", "employee": f"E{seq % 997}"},
        "purpose": "customer_service", "decision": "partial", "status": 200,
        "released": [{"attribute": "bank.deposit_balance", "view": "bucketed", "rule": "r1",
                      "consent": None}],
        "withheld": [{"attribute": "insurance.policies", "reason": "no_consent"}],
        "policy_version": "sha256:" + "ab" * 32,
    }


def big_record(i: int) -> dict[str, object]:
    rec = record(i % 64, i)
    rec["request_id"] = f"req-big-{i}"
    rec["time"] = f"2025-01-{1 + i // 864_000 % 28:02d}T{i // 36_000 % 24:02d}:" \
                  f"{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10 * 100_000:06d}Z"
    return rec


def big_records(start: int, end: int) -> Iterator[CanonicalObject]:
    """`CanonicalObject.of(big_record(i))` for i in [start, end), ~20x faster.

    Only the members that differ between records are encoded per record; the others come
    from a template. Checked against the slow path on the first records of every run.
    """
    template = CanonicalObject.of(big_record(0))
    varying = ("actor", "customer", "request_id", "time")
    slots = [template.sort_keys.index(k.encode("utf-16-be")) for k in varying]
    members = list(template.members)
    for i in range(start, end):
        thread = i % 64
        members[slots[0]] = (b'"actor":{"affiliate":"card","employee":"E%d",'
                             b'"system":"card-callcenter"}' % (i % 997))
        members[slots[1]] = b'"customer":"%016x%016x"' % (thread, i)
        members[slots[2]] = b'"request_id":"req-big-%d"' % i
        members[slots[3]] = (b'"time":"2025-01-%02dT%02d:%02d:%02d.%06dZ"'
                             % (1 + i // 864_000 % 28, i // 36_000 % 24, i // 600 % 60,
                                i // 10 % 60, i % 10 * 100_000))
        yield CanonicalObject(template.sort_keys, tuple(members))


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of `fn()` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--batch-max", type=int, default=256)
    parser.add_argument("--batch-wait-ms", type=float, default=2.0)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: temporary)")
    parser.add_argument("--big", type=Path, default=None,
                        help="SQLite file of the big log (built once, then reused)")
    parser.add_argument("--big-records", type=int, default=BIG_RECORDS)
    parser.add_argument("--sample", type=int, default=200,
                        help="random roots and proofs timed on the big log (p50 and max)")
    parser.add_argument("--read-only", action="store_true",
                        help="only time random roots and proofs on an existing big log, "
                             "opened read-only (no build, append or checkpoint)")
    args = parser.parse_args()
    if args.records:
        bench_appends(args)
    if args.big is not None and args.read_only:
        bench_sample(args.big, args.sample)
    elif args.big is not None:
        bench_big(args.big, args.big_records)
        bench_sample(args.big, args.sample)


def bench_appends(args: argparse.Namespace) -> None:

    folder = tempfile.TemporaryDirectory()
    db = args.db or Path(folder.name) / "bench.db"
    engine = create_engine(f"sqlite:///{db}")
    signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    log = AccessLog(engine, signer, origin=ORIGIN, batch_max=args.batch_max,
                    batch_wait_ms=args.batch_wait_ms)
    base = log.size()
    each = args.records // args.threads

    def work(t: int) -> None:
        for seq in range(each):
            log.append(record(t, seq))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    n = log.size()
    appended = n - base
    print(f"appended {appended} records from {args.threads} threads in {elapsed:.2f} s: "
          f"{appended / elapsed:,.0f} appends/s, {log.stats.batches} transactions "
          f"({appended / max(log.stats.batches, 1):.1f} records each), "
          f"file {db.stat().st_size >> 20} MiB")

    root = log.root()
    print(f"root (head)              {timed(log.root, 50):7.3f} ms")
    print(f"root at size n-1         {timed(lambda: log.root(n - 1), 50):7.3f} ms")
    index = n // 3
    proof = log.inclusion_proof(index, n)
    assert verify_inclusion(leaf_hash(log.record(index)), index, n, proof, root)
    print(f"inclusion proof ({len(proof)} hashes) "
          f"{timed(lambda: log.inclusion_proof(index, n), 50):7.3f} ms")
    first = n // 2 + 17
    proof = log.consistency_proof(first, n)
    assert verify_consistency(first, n, proof, log.root(first), root)
    print(f"consistency proof ({len(proof)} hashes) "
          f"{timed(lambda: log.consistency_proof(first, n), 50):7.3f} ms")
    print(f"checkpoint (sign+store)  {timed(lambda: log.checkpoint(force=True), 20):7.3f} ms")
    print(f"records(0, 10000)        {timed(lambda: log.records(0, min(n, 10_000)), 3):7.3f} ms")
    log.close()
    engine.dispose()
    folder.cleanup()


def build_big(path: Path, target: int) -> None:
    """Bulk-load the log at `path` up to `target` records (resumes a partial build)."""
    for i in (0, 1, 12_345, 9_999_999):  # the fast generator must equal the real encoder
        assert next(big_records(i, i + 1)) == CanonicalObject.of(big_record(i))
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    store_size = _size(engine)
    note = path.with_name(path.name + ".build.txt")  # how long the build took, for reuse
    if store_size >= target:
        built = note.read_text().strip() if note.exists() else "build time not recorded"
        print(f"big log: reusing {path} ({store_size:,} records, "
              f"{path.stat().st_size / 2**30:.2f} GiB; {built})")
        engine.dispose()
        return
    print(f"big log: bulk-loading records {store_size:,}..{target:,} into {path}", flush=True)
    start = time.perf_counter()
    last = [start]

    def progress(done: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            rate = done / (last[0] - start)
            print(f"  {store_size + done:,} records, {rate:,.0f}/s", flush=True)

    added = bulk_append(engine, big_records(store_size, target), batch=100_000,
                        progress=progress)
    elapsed = time.perf_counter() - start
    built = f"built {added:,} records in {elapsed:.1f} s ({added / elapsed:,.0f}/s)"
    print(f"big log: {built}, file {path.stat().st_size / 2**30:.2f} GiB")
    if store_size == 0:
        note.write_text(built + "\n")
    engine.dispose()


def _size(engine) -> int:  # type: ignore[no-untyped-def]
    from gateway.accesslog.bulk import prepare

    prepare(engine)
    with engine.connect() as conn:
        return store.read_head(conn).size


def bench_big(path: Path, target: int) -> None:
    build_big(path, target)
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:  # every hash look-up must be a primary-key search
        for query in (
            "SELECT leaf_hash FROM log_leaves WHERE idx = 5",
            "SELECT hash FROM log_nodes WHERE level = 3 AND idx = 5",
            "SELECT idx, record FROM log_leaves WHERE idx >= 5 AND idx < 1005 ORDER BY idx",
        ):
            plan = " / ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
            print(f"plan: {query.split(' WHERE')[0]}: {plan}")
            assert "SCAN" not in plan, plan
    signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    log = AccessLog(engine, signer, origin=ORIGIN)
    n = log.size()
    print(f"big log of {n:,} records:")
    root = log.root()
    print(f"  root (head)                  {timed(log.root, 50):8.3f} ms")
    print(f"  root at size n-1             {timed(lambda: log.root(n - 1), 50):8.3f} ms")
    print(f"  root at size 2n/3+1          {timed(lambda: log.root(n // 3 * 2 + 1), 50):8.3f} ms")
    for index in (0, n // 3, n - 1):
        proof = log.inclusion_proof(index, n)
        assert verify_inclusion(leaf_hash(log.record(index)), index, n, proof, root)
        ms = timed(lambda i=index: log.inclusion_proof(i, n), 50)
        print(f"  inclusion proof, leaf {index:>10,} ({len(proof):2} hashes) {ms:8.3f} ms")
    for first in (1, n // 2 + 17, n - 1):
        proof = log.consistency_proof(first, n)
        assert verify_consistency(first, n, proof, log.root(first), root)
        ms = timed(lambda f=first: log.consistency_proof(f, n), 50)
        print(f"  consistency {first:>10,} -> n ({len(proof):2} hashes) {ms:8.3f} ms")
    start = time.perf_counter()
    index = log.append(record(0, n))
    print(f"  one durable append at {index:,}    {(time.perf_counter() - start) * 1000:8.3f} ms")
    print(f"  checkpoint (sign+store)      {timed(lambda: log.checkpoint(force=True), 20):8.3f} ms")
    log.close()
    engine.dispose()


def bench_sample(path: Path, count: int, seed: int = 9162) -> None:
    """p50 and max over `count` random roots at old sizes, inclusion and consistency proofs.

    The database is opened read-only; each operation runs on its own pooled connection, as
    `AccessLog` does. Every proof is verified against the root it was made for (untimed).
    """
    import random

    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    rng = random.Random(seed)

    def run(fn):  # type: ignore[no-untyped-def]
        with engine.connect() as conn:
            start = time.perf_counter()
            out = fn(conn)
            return out, (time.perf_counter() - start) * 1000

    n, _ = run(lambda conn: store.read_head(conn).size)
    head_root, _ = run(lambda conn: store.root_at(conn, None))
    seen: list[tuple[str, object]] = []

    def spy(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", spy)
    run(lambda conn: store.prove_consistency(conn, n // 2 + 17, n))
    event.remove(engine, "before_cursor_execute", spy)
    statement, params = seen[-1]  # the one fetch of every node the proof needs
    with engine.connect() as conn:
        plan = [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                          params)]
    searches = [p for p in plan if p.startswith("SEARCH")]
    print(f"consistency proof {n // 2 + 17:,} -> n: {len(seen)} queries; plan of the fetch: "
          f"{len(searches)} arms, {', '.join(sorted(set(searches)))}")
    assert not [p for p in plan if p.startswith("SCAN")], plan
    run(lambda conn: store.prove_inclusion(conn, n // 2, n))  # warm the connection pool
    times: dict[str, list[float]] = {"root at a random older size": [],
                                     "inclusion proof, random leaf, size n": [],
                                     "consistency proof, random m -> n": []}
    for _ in range(count):
        size = rng.randrange(1, n)
        root, ms = run(lambda conn, s=size: store.root_at(conn, s))
        times["root at a random older size"].append(ms)
        index = rng.randrange(n)
        proof, ms = run(lambda conn, i=index: store.prove_inclusion(conn, i, n))
        times["inclusion proof, random leaf, size n"].append(ms)
        data, _ = run(lambda conn, i=index: store.read_record(conn, i))
        assert verify_inclusion(leaf_hash(data), index, n, proof, head_root)
        proof, ms = run(lambda conn, s=size: store.prove_consistency(conn, s, n))
        times["consistency proof, random m -> n"].append(ms)
        assert verify_consistency(size, n, proof, root, head_root)
    print(f"random sample on {n:,} records ({count} each, seed {seed}, read-only, all verified):")
    for what, values in times.items():
        print(f"  {what:38} p50 {statistics.median(values):7.3f} ms   "
              f"max {max(values):7.3f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
