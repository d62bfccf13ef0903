#!/usr/bin/env python3
"""Benchmark the full request path against a bare baseline on the same stack, in one run.

    .venv/bin/python bench/bench_gateway.py [--customers 100000] [--duration 10] [--concurrency 32]

Seeds a synthetic group once (timed), starts one `gateway serve` process with the UNSAFE
baseline route mounted, and drives it with keep-alive HTTP/1.1 clients:
- full path: `POST /v1/queries` (JWT verify + jti, resolve by RRN or pseudonym, policy ×
  consent decision, fetch, shape, durable Merkle-log append, respond);
- baseline: `POST /unsafe/baseline` (reads the same columns of the same row, no checks).
Prints requests/s, p50 and p99 for both, and the ratio. Not a test: figures go in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

ATTRIBUTES = ["deposit_balance", "loan_balance", "credit_grade", "annual_income"]
SYSTEM, PURPOSE = "card-risk", "credit_risk"


def env_for(data_dir: Path, port: int) -> dict[str, str]:
    return dict(os.environ, GATEWAY_DATA_DIR=str(data_dir), GATEWAY_DEMO="true",
                GATEWAY_PUBLIC_KEYS_DIR=str(data_dir / "public-keys"),
                GATEWAY_POLICY_DIR=str(ROOT / "policies"), GATEWAY_PORT=str(port),
                GATEWAY_UNSAFE_BENCH_BASELINE="true")


def prepare(data_dir: Path, customers: int, env: dict[str, str]) -> None:
    gateway = str(BIN / "gateway")
    subprocess.run([gateway, "keys", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    out = subprocess.run([gateway, "seed", "--customers", str(customers)], env=env, check=True,
                         capture_output=True, text=True).stdout
    if "already seeded" in out:
        print(f"data: {data_dir} (seeded before)")
    else:
        print(f"seed: {customers:,} customers in {time.perf_counter() - started:.1f} s")


def workload(data_dir: Path, n: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Full-path bodies (half by RRN, half by pseudonym) and baseline bodies for the same rows."""
    from sqlalchemy import select

    from gateway.db.engine import make_engine
    from gateway.db.models import Customer, Relationship
    from pseudonymizer.keys import FileKeyProvider
    from pseudonymizer.pseudonyms import Pseudonymizer
    from pseudonymizer.vault import RrnVault

    keys = FileKeyProvider(data_dir / "secrets")
    vault, pseudonyms = RrnVault(keys), Pseudonymizer(keys)
    engine = make_engine(f"sqlite:///{data_dir / 'gateway.db'}")
    card = select(Relationship.customer_key).where(Relationship.affiliate == "card")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Customer.customer_key, Customer.rrn_ciphertext)
            .join(Relationship, Relationship.customer_key == Customer.customer_key)
            .where(Relationship.affiliate == "bank", Customer.customer_key.in_(card))
            .limit(n)
        ).all()
    engine.dispose()
    full, base = [], []
    for i, row in enumerate(rows):
        if i % 2:
            who: dict[str, str] = {"pseudonym": pseudonyms.pseudonym(row.customer_key, "card")}
        else:
            who = {"rrn": vault.decrypt(row.rrn_ciphertext, row.customer_key)}
        full.append({"customer": who, "purpose": PURPOSE, "attributes": ATTRIBUTES})
        base.append({"customer_key": row.customer_key, "attributes": ATTRIBUTES})
    return full, base


def mint(data_dir: Path, count: int) -> list[str]:
    from gateway.keys import mint_token

    key = data_dir / "secrets" / "systems" / f"{SYSTEM}.key.pem"
    return [mint_token(key, system=SYSTEM, employee="bench", audience="affiliate-gateway",
                       lifetime_s=300, algorithm="ES256") for _ in range(count)]


def request_bytes(path: str, body: dict[str, object], token: str | None) -> bytes:
    payload = json.dumps(body, ensure_ascii=False).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def drive(port: int, requests: list[bytes], concurrency: int, duration: float
                ) -> tuple[int, list[float], int]:
    """Keep-alive clients sending pre-built requests; returns (ok, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    ok = 0
    cursor = 0
    deadline = time.perf_counter() + duration

    async def client() -> None:
        nonlocal cursor, errors, ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline and cursor < len(requests):
            req = requests[cursor]
            cursor += 1
            t0 = time.perf_counter()
            writer.write(req)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if b" 200 " in status_line:
                ok += 1
            else:
                errors += 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ok, latencies, errors


def report(name: str, ok: int, latencies: list[float], errors: int, seconds: float) -> float:
    latencies.sort()
    rps = len(latencies) / seconds
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"{name:<10} {rps:>9,.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
          f"({ok:,} ok, {errors:,} errors)")
    return rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/gateway-bench"))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=1, help="gateway server processes")
    args = parser.parse_args()

    env = env_for(args.data_dir, args.port)
    os.environ.update({k: v for k, v in env.items() if k.startswith("GATEWAY_")})
    prepare(args.data_dir, args.customers, env)
    full_bodies, base_bodies = workload(args.data_dir, 2000)
    expected = int(args.duration * 3000)
    tokens = mint(args.data_dir, expected)
    rng = random.Random(7)
    full = [request_bytes("/v1/queries", rng.choice(full_bodies), t) for t in tokens]
    base = [request_bytes("/unsafe/baseline", rng.choice(base_bodies), None)
            for _ in range(expected)]

    server = subprocess.Popen([str(BIN / "gateway"), "serve", "--port", str(args.port),
                               "--workers", str(args.workers)], env=env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        print(f"{args.workers} server process(es), {args.concurrency} keep-alive clients, "
              f"{args.duration:.0f} s each, {os.cpu_count()} cores")
        asyncio.run(drive(args.port, base[:500], 8, 2.0))  # warm up
        t0 = time.perf_counter()
        ok, lat, err = asyncio.run(drive(args.port, base, args.concurrency, args.duration))
        base_rps = report("baseline", ok, lat, err, time.perf_counter() - t0)
        asyncio.run(drive(args.port, full[:300], 8, 1.0))  # warm up
        t0 = time.perf_counter()
        ok, lat, err = asyncio.run(drive(args.port, full[300:], args.concurrency, args.duration))
        full_rps = report("full path", ok, lat, err, time.perf_counter() - t0)
        print(f"overhead: full path runs at 1/{base_rps / full_rps:.2f} of the baseline's rate")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
