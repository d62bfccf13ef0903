"""Benchmark a campaign extraction: candidates/s, peak RSS and time to the first line.

    python bench/bench_campaign.py --customers 100000 [--data-dir DIR] [--database-url URL]
                                   [--consented 0.6] [--segment seoul|none] [--batch N]

Seeds the synthetic group once per data dir (`gateway seed`'s loader), grants `marketing_sms`
consent to the card company for a share of the customers (bulk insert), then runs one campaign
through `CampaignRun` — the very code behind `POST /v1/campaigns`, with its access records,
contact claims and leaves — writing the lines to nowhere. Not a timed test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
sys.path.insert(1, str(Path(__file__).resolve().parent))  # bench/cpu_use.py

import cpu_use  # noqa: E402

import anyio
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="reused if already seeded")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--consented", type=float, default=0.6)
    parser.add_argument("--segment", choices=("seoul", "none"), default="none")
    parser.add_argument("--batch", type=int, default=None,
                        help="largest batch (default: gateway.marketing.campaigns.BATCH)")
    args = parser.parse_args()

    from gateway.api.routes.campaigns import new_run
    from gateway.domain import AffiliateId, Caller, SystemId
    from gateway.marketing.campaigns import checked_spec
    from gateway.services import Services

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    # seeding and granting run in a child process: the peak RSS below is the campaign's own
    child = multiprocessing.get_context("spawn").Process(target=setup, args=(args, data_dir))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"setup failed with exit code {child.exitcode}")
    settings = _settings(args, data_dir)
    services = Services.build(settings)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    policy = services.policy.current
    caller = Caller(AffiliateId("card"), SystemId("card-marketing"), "bench", "bench-1")
    segment = ([{"attribute": "address", "view": "sido", "in": ["서울특별시"]}]
               if args.segment == "seoul" else [])
    spec = checked_spec(policy, caller, purpose="marketing_sms", channel="sms",
                        reason="benchmark", ticket="BENCH-1", segment=segment,
                        attributes=["mobile_phone"])
    run = new_run(services, policy, caller, spec, datetime.now(UTC), "bench-run")
    if args.batch:
        run._batch_size = args.batch
    timings: dict[str, float] = {}
    marks: list[Any] = []

    async def go() -> None:
        marks.append(cpu_use.mark(os.getpid()))
        t0 = time.perf_counter()
        await run.open()
        first = None
        sink = open(os.devnull, "wb")
        async for line in run.lines():
            if first is None:
                first = time.perf_counter() - t0
            sink.write(line.data)
            run.sent_line(line)
        await run.close("complete")
        timings["first"] = first or 0.0
        timings["total"] = time.perf_counter() - t0
        marks.append(cpu_use.mark(os.getpid()))

    try:
        anyio.run(go)
    finally:
        services.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = cpu_use.between(marks[0], marks[1]) if len(marks) == 2 else None
    backend = "postgresql" if args.database_url else "sqlite"
    print(json.dumps({
        "backend": backend, "customers": args.customers, "candidates": run.candidates,
        "released": run.released, "withheld": run.withheld,
        "seconds": round(timings["total"], 2),
        "candidates_per_s": round(run.candidates / timings["total"]),
        "first_line_s": round(timings["first"], 3), "peak_rss_mb": round(rss_mb),
        "rss_before_campaign_mb": round(rss_before),
        # CPU seconds, which a busy machine disturbs far less than the wall-clock time above
        "campaign_cpu_s": round(cpu.server * cpu.seconds, 1) if cpu else None,
        "database_cpu_s": round(cpu.database * cpu.seconds, 1) if cpu else None,
        "load_average_1min": os.getloadavg()[0],
    }, ensure_ascii=False, indent=2))


def _settings(args: argparse.Namespace, data_dir: Path) -> Any:
    from gateway.settings import Settings

    settings = Settings(data_dir=data_dir / "data", database_url=args.database_url,
                        policy_dir=ROOT / "policies", public_keys_dir=data_dir / "public-keys")
    if args.database_url:  # the affiliates on the same server, as in production
        settings.affiliate_database_urls.update(
            {a: args.database_url for a in ("bank", "card", "securities", "insurance")})
    return settings


def setup(args: argparse.Namespace, data_dir: Path) -> None:
    """Seed once per data dir, keys and schema included, and grant the consents."""
    from gateway.affiliates import AffiliateDatabases
    from gateway.db.base import Base
    from gateway.db.engine import make_engine
    from gateway.db.migrate import upgrade
    from gateway.keys import generate_system_keys
    from gateway.seed import AlreadySeeded, seed
    from gateway.services import ensure_secrets
    from pseudonymizer.keys import FileKeyProvider

    settings = _settings(args, data_dir)
    ensure_secrets(settings, create=True)
    generate_system_keys(Path(settings.policy_dir), Path(settings.public_keys_dir),
                         settings.secrets_path)
    upgrade(settings.gateway_url)
    engine = make_engine(settings.gateway_url)
    databases = AffiliateDatabases(settings.affiliate_database_urls)
    started = time.perf_counter()
    try:
        seed(engine, databases, FileKeyProvider(settings.secrets_path),
             n_customers=args.customers)
        print(f"seeded {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    except AlreadySeeded:
        print("already seeded")
    finally:
        databases.close()
    consents = Base.metadata.tables["consents"]
    customers = Base.metadata.tables["customers"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(consents)
                            .where(consents.c.purpose == "marketing_sms")).scalar_one()
        if not have:
            rng = random.Random(7)
            keys = [k for (k,) in conn.execute(select(customers.c.customer_key))]
            rows = [{"id": f"bench-{i}", "customer_key": k, "recipient": "card",
                     "purpose": "marketing_sms", "categories": '["contact","identity"]',
                     "channel": "sms", "granted_at": now - timedelta(days=30),
                     "expires_at": None, "withdrawn_at": None, "evidence_ref": "bench",
                     "granted_by_system": "bank-app", "granted_by_employee": "bench",
                     "night_contact": rng.random() < 0.3,
                     "confirmed_at": now - timedelta(days=30), "refusal_right_notified": True}
                    for i, k in enumerate(keys) if rng.random() < args.consented]
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(consents), rows[start:start + 20_000])
            print(f"granted {len(rows):,} marketing_sms consents")
            del rows, keys
    engine.dispose()


if __name__ == "__main__":
    main()
