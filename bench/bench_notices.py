"""Benchmark the yearly notices: customers/s and peak RSS for a log of N customers.

    python bench/bench_notices.py --customers 100000 1000000 [--data-dir DIR] [--no-html]

For each N, builds (once per data dir) a SQLite access log with the bulk loader: every customer
has one `credit_risk` release in the year (notified), one in five a second one to another
recipient, one in three a `fraud_prevention` release (not notified), and one in ten a
`consent.grant` event — spread over the KST year in log order. Then, in a fresh child process
each (so the peak RSS is that step's own):
- baseline: read every record of the log in order (`AccessLog.iter_records`'s chunked reads),
  nothing parsed — the floor any notice run pays;
- notices: `gateway.rights.notices.write_notices` (what `gateway notices` runs), JSON lines
  and, unless `--no-html`, one Korean HTML page per customer.
Not a timed test: run it by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

ROOT = Path(__file__).resolve().parent.parent
YEAR = 2026


class StoredLog:
    """A read-only view of a log in a database (no signer needed to read)."""

    def __init__(self, url: str) -> None:
        from gateway.db.engine import make_engine

        self._engine = make_engine(url)

    def size(self) -> int:
        from gateway.accesslog import store

        with self._engine.connect() as conn:
            return store.read_head(conn).size

    def iter_records(self, start: int, end: int) -> Iterator[bytes]:
        from gateway.accesslog import store

        for chunk in range(start, end, 50_000):
            with self._engine.connect() as conn:
                yield from store.iter_records(conn, chunk, min(end, chunk + 50_000))


def _records(customers: int) -> Iterator[dict[str, Any]]:
    start = datetime(YEAR, 1, 1, tzinfo=timezone(timedelta(hours=9))).astimezone(timezone.utc)
    span = timedelta(days=364).total_seconds()
    version = "sha256:" + "0" * 64
    for i in range(customers):
        key = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=16).hexdigest()
        at = start + timedelta(seconds=span * i / customers)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        use_by = (at + timedelta(days=30)).date().isoformat()

        def query(affiliate: str, system: str, purpose: str, attribute: str,
                  view: str) -> dict[str, Any]:
            return {"v": 1, "kind": "query", "time": stamp, "request_id": f"{i:032x}",
                    "actor": {"affiliate": affiliate, "system": system, "employee": "e1"},
                    "source": "10.0.0.1", "customer": key, "purpose": purpose,
                    "requested": [{"attribute": attribute, "view": None}],
                    "released": [{"attribute": attribute, "view": view, "rule": "r",
                                  "consent": None, "use_by": use_by}],
                    "withheld": [], "decision": "allow", "policy_version": version,
                    "consents": [], "status": 200}

        yield query("card", "card-risk", "credit_risk", "credit_grade", "band")
        if i % 5 == 0:
            yield query("securities", "securities-risk", "credit_risk", "loan_balance", "band")
        if i % 3 == 0:
            yield query("bank", "bank-fraud", "fraud_prevention", "monthly_card_spend", "band")
        if i % 10 == 0:
            yield {"v": 1, "kind": "consent.grant", "time": stamp, "request_id": f"c{i:031x}",
                   "actor": {"affiliate": "bank", "system": "bank-app", "employee": "e2"},
                   "source": None, "customer": key, "policy_version": version, "status": 200,
                   "consent": f"cns_{i}", "recipient": "card", "purpose": "marketing_sms"}


def _build(url: str, customers: int) -> None:
    from gateway.accesslog.bulk import bulk_append
    from gateway.db.engine import make_engine

    engine = make_engine(url)
    bulk_append(engine, _records(customers), batch=50_000)
    engine.dispose()


def _policy(data_dir: Path) -> Any:
    from gateway.keys import generate_system_keys
    from gateway.policy import load_policy

    keys = data_dir / "keys"
    if not keys.exists():
        generate_system_keys(ROOT / "policies", keys / "public", keys / "private")
    return load_policy(ROOT / "policies", keys / "public")


def _baseline(url: str, queue: Any) -> None:
    log = StoredLog(url)
    began = time.perf_counter()
    size, total = log.size(), 0
    for data in log.iter_records(0, size):
        total += len(data)
    queue.put({"seconds": time.perf_counter() - began, "records": size,
               "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _notices(url: str, data_dir: Path, html: bool, queue: Any) -> None:
    from gateway.rights.notices import write_notices

    policy = _policy(data_dir)
    out = data_dir / "notices"
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    summary = write_notices(StoredLog(url), policy, YEAR, out, html=html,
                            now=datetime.now(timezone.utc))
    queue.put({"seconds": time.perf_counter() - began, "customers": summary.customers,
               "provisions": summary.provisions, "records": summary.records_read,
               "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def _child(target: Any, *args: Any) -> dict[str, Any]:
    queue: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--data-dir", type=Path, default=None, help="reused if already built")
    parser.add_argument("--no-html", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-notices-"))
    print(f"data in {root}")
    for customers in args.customers:
        data_dir = root / f"n{customers}"
        data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data_dir / 'log.db'}"
        if not (data_dir / "log.db").exists():
            began = time.perf_counter()
            process = multiprocessing.Process(target=_build, args=(url, customers))
            process.start()
            process.join()
            print(f"built a log for {customers:,} customers in "
                  f"{time.perf_counter() - began:.1f} s")
        _policy(data_dir)
        base = _child(_baseline, url)
        made = _child(_notices, url, data_dir, not args.no_html)
        print(f"{customers:>10,} customers, {base['records']:,} records")
        print(f"  baseline (read every record, no parsing): {base['seconds']:7.1f} s  "
              f"({base['records'] / base['seconds']:,.0f} records/s)  peak RSS "
              f"{base['rss_mib']:.0f} MiB")
        print(f"  notices ({'JSON lines' + ('' if args.no_html else ' + HTML pages')}): "
              f"{made['seconds']:7.1f} s  ({made['customers'] / made['seconds']:,.0f} "
              f"customers/s, {made['customers']:,} notices, {made['provisions']:,} releases)  "
              f"peak RSS {made['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
