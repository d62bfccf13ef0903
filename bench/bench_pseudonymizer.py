"""Benchmark pseudonyms: issue and resolve per second, one core, for each scheme.

    python bench/bench_pseudonymizer.py --count 200000

Batch issue (`Pseudonymizer.pseudonyms`) reuses one prepared cipher per recipient and key
version; for `ff1-13` it runs FF1 vectorized (`pseudonymizer/fpe/ff1_batch.py`): one AES-ECB
call per round for the whole batch. Single calls show the per-request cost the gateway pays.
Keys are generated in memory; nothing touches the disk or the network.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from pseudonymizer.keys import StaticKeyProvider
from pseudonymizer.pseudonyms import Pseudonymizer

BATCH = 10_000


def rate(label: str, count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    per_second = count / elapsed
    print(f"{label:<44} {per_second:>12,.0f} /s   ({count:,} in {elapsed:.2f} s)")
    return per_second


def bench(scheme: str, subjects: list[str], singles: int) -> None:
    ps = Pseudonymizer(StaticKeyProvider(secrets.token_bytes(32)), scheme=scheme)
    ps.pseudonyms(subjects[:10], "bank")  # warm the cipher cache (one HKDF + key schedule)
    batches = [subjects[i:i + BATCH] for i in range(0, len(subjects), BATCH)]
    issued: list[str] = []
    rate(f"{scheme}: issue, batches of {BATCH:,}", len(subjects),
         lambda: [issued.extend(ps.pseudonyms(b, "bank")) for b in batches])
    few = subjects[:singles]
    rate(f"{scheme}: issue, one call each", len(few),
         lambda: [ps.pseudonym(s, "bank") for s in few])
    rate(f"{scheme}: resolve, one call each", len(few),
         lambda: [ps.resolve(p, "bank") for p in issued[:singles]])
    assert all(ps.resolve(p, "bank") == s for p, s in zip(issued[:100], subjects[:100], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="pseudonyms per batch run")
    parser.add_argument("--singles", type=int, default=50_000, help="single calls per run")
    args = parser.parse_args()
    customer_keys = [secrets.token_hex(16) for _ in range(args.count)]
    customer_numbers = [str(secrets.randbelow(10**9)) for _ in range(args.count)]
    print(f"python {sys.version.split()[0]}, one thread")
    bench("siv", customer_keys, args.singles)
    bench("ff1-13", customer_numbers, min(args.singles, 10_000))


if __name__ == "__main__":
    main()
