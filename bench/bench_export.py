"""Benchmark the regulator export and the standalone verifier on a log of a million records.

    python bench/bench_export.py --records 1000000 [--db big.db] [--gzip]

Builds (once, when --db names a file that already holds the records) a SQLite log with the
bulk loader, then times `export_archive` of the whole log and `gateway_verify` of the
archive, each once, and prints both with the archive's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.canonical import CanonicalObject
from gateway.accesslog.export import export_archive
from gateway_verify.checks import verify_archive
from gateway_verify.note import parse_key

ORIGIN = "bench.example-holdings.co.kr/access-log"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
AFFILIATES = ("bank", "card", "securities", "insurance", "holding")
PURPOSES = ("credit_risk", "customer_service", "fraud_prevention", "marketing_sms")
DECISIONS = ("allow", "partial", "deny")


def records(start: int, end: int) -> Iterator[CanonicalObject]:
    """Synthetic query records shaped like `gateway.record.query_record`, one every 3 s."""
    for n in range(start, end):
        yield CanonicalObject.of({
            "v": 1, "kind": "query",
            "time": (T0 + timedelta(seconds=3 * n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "request_id": f"req-{n:012d}", "source": "10.1.2.3",
            "actor": {"affiliate": AFFILIATES[n % 5], "system": "sys-a", "employee": f"E{n % 997}"},
            "customer": f"{n * 2654435761 % 2**64:032x}", "purpose": PURPOSES[n % 4],
            "requested": [{"attribute": "deposit_balance", "view": "band"}],
            "released": [{"attribute": "deposit_balance", "view": "band", "rule": "r1",
                          "consent": None}],
            "withheld": [], "decision": DECISIONS[n % 7 % 3],
            "policy_version": "sha256:" + "ab" * 32, "consents": [], "status": 200,
        })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (reused if present)")
    parser.add_argument("--gzip", action="store_true", help="write a .tar.gz archive")
    args = parser.parse_args()

    folder = tempfile.TemporaryDirectory(prefix="bench-export-")
    db = args.db or Path(folder.name) / "log.db"
    engine = create_engine(f"sqlite:///{db}")
    # a reused log keeps its key: its stored checkpoints are signed by it
    signer = (LogSigner.load_or_generate(db.with_name(db.name + ".key.pem"), ORIGIN)
              if args.db else LogSigner(Ed25519PrivateKey.generate(), ORIGIN))
    log = AccessLog(engine, signer, origin=ORIGIN)
    have = log.size()
    if have < args.records:
        started = time.perf_counter()
        bulk_append(engine, records(have, args.records))
        print(f"built a log of {args.records:,} records in {time.perf_counter() - started:.1f} s")
    size = log.size()

    out = Path(folder.name) / ("export.tar.gz" if args.gzip else "export.tar")
    started, cpu = time.perf_counter(), time.process_time()
    result = export_archive(log, engine, out, verifier_keys=[signer.verifier_key()],
                            exported_by="bench", now=datetime.now(UTC))
    exported, exported_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"export: {result.counts.count:,} records of a log of {size:,} in {exported:.1f} s "
          f"(cpu {exported_cpu:.1f} s) "
          f"({result.counts.count / exported:,.0f} records/s), archive "
          f"{out.stat().st_size / 2**20:,.0f} MiB")

    started, cpu = time.perf_counter(), time.process_time()
    report = verify_archive(out, [parse_key(signer.verifier_key())])
    verified, verified_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"verify: {report.tally.count:,} records in {verified:.1f} s (cpu {verified_cpu:.1f} s) "
          f"({report.tally.count / verified:,.0f} records/s), "
          f"{'OK' if report.ok else 'FAILED: ' + '; '.join(report.problems[:3])}")
    log.close()
    engine.dispose()


if __name__ == "__main__":
    main()
