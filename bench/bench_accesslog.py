"""Benchmark the access log on a SQLite file: group-committed appends, roots and proofs.

    python bench/bench_accesslog.py --records 100000 --threads 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

from gateway.accesslog import AccessLog, LogSigner, leaf_hash, verify_consistency, verify_inclusion

ORIGIN = "bench.example/access-log"


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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
