#!/usr/bin/env python3
"""Benchmark the gateway's HTTP path with wrk, beside a bare FastAPI app, in one run.

    .venv/bin/python bench/bench_gateway.py [--duration 10] [--connections 16] [--workers 1]
        [--customers 100000] [--data-dir /tmp/gateway-bench]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

Seeds a synthetic group once (reused by later runs), then measures six scenarios, each after
a short warm-up, with `wrk -t1 -c<connections>` and bench/each_request_once.lua, which sends
pre-built requests (each single-use token exactly once) and reports p50/p99 and every status:

1. `bare`: bench/bare_app.py, FastAPI + uvicorn reading the same row, nothing from the gateway;
2. `baseline`: the gateway's `POST /unsafe/baseline` (same row, no checks);
3. `full-rrn` / 4. `full-pseudonym`: `POST /v1/queries` by RRN / by the card's pseudonym;
5. `denied`: a purpose no rule grants the card (answered 200, outcome `deny`);
6. `unknown`: well-formed RRNs nobody holds (answered 200, outcome `deny`).

Prints the machine and settings first and a markdown table for the README last: req/s, p50,
p99 and each one's ratio to the bare app. Without wrk it says how to install it and falls back
to a Python driver. With `--database-url` the gateway, token and affiliate databases live on
that PostgreSQL server (databases gw_bench, gw_bench_tokens, gw_bench_<affiliate>, created
once) and the bare app reads with psycopg. Every server started is stopped at the end, also on
error or Ctrl-C. Not a test: the figures go in the README.

`--compare GATEWAY_NAME=VALUE [--rounds 3] [--scenarios full-rrn]` measures one setting's
effect instead: the gateway with and without it, a fresh server each time, alternating which
goes first every round (this VM's speed drifts by tens of percent from minute to minute, so
two separate runs compare poorly).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent

from load_drivers import (  # noqa: E402  (bench/ is this script's own directory)
    INSTALL_HINT,
    Outcome,
    run_python,
    run_wrk,
    wrk_path,
    wrk_version,
    write_requests,
)
from server_processes import ServerFailed, serving  # noqa: E402
import cpu_use  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gateway.settings import Settings
    from pseudonymizer.vault import RrnVault

HOST = "127.0.0.1"
ATTRIBUTES = ["deposit_balance", "loan_balance", "credit_grade", "annual_income"]
SYSTEM, PURPOSE = "card-risk", "credit_risk"
# policies/rules.yaml has no rule for the card under statistics_research: the gateway answers
# 200 with outcome `deny` and every attribute withheld as `no_rule` (and logs the decision).
DENIED_PURPOSE = "statistics_research"
SAMPLE_CUSTOMERS = 5_000  # distinct customers the bodies cycle through
UNKNOWN_RRNS = 2_000
TOKEN_LIFETIME_S = 300  # the longest lifetime the gateway accepts (max_token_lifetime_s)
PG_PREFIX = "gw_bench"
PG_MARKER = "postgres-seeded"  # in the data dir: which server was seeded with its secrets


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    server: str  # "bare" or "gateway"
    path: str
    bodies: list[str]  # one-line JSON bodies, cycled through
    tokens: bool  # each request needs its own single-use token
    expected_body: str = ""  # a substring the answer must contain to count as ok
    expected_status: int = 200


@dataclass(frozen=True)
class Databases:
    kind: str  # printed in the header and the table caption
    env: dict[str, str]  # GATEWAY_* database URLs (none: the embedded SQLite default)
    bare_source: str  # what the bare app reads: a SQLite file or a postgresql:// URL


@dataclass(frozen=True)
class Workload:
    base: list[str]  # {"customer_key", "attributes"}: /unsafe/baseline and the bare app
    by_rrn: list[str]
    by_pseudonym: list[str]
    denied: list[str]
    unknown: list[str]
    elsewhere: list[str]  # customers the card company does not hold (another affiliate does)


# ---------------------------------------------------------------------------- the set-up


def postgres_databases(url: str) -> Databases:
    """Create the gateway's, the token store's and each affiliate's database (once)."""
    import psycopg
    from psycopg import sql

    from gateway.db.engine import normalize_url
    from gateway.settings import AFFILIATES

    base = normalize_url(url)
    names = {"gateway": PG_PREFIX, "tokens": f"{PG_PREFIX}_tokens",
             **{a: f"{PG_PREFIX}_{a}" for a in AFFILIATES}}
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names.values():
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def at(name: str) -> str:
        return base.set(database=name).render_as_string(hide_password=False)

    # token ids live in the gateway database, the default: each is claimed in the commit of its
    # request's access record (a separate token database costs every request a second commit)
    env = {"GATEWAY_DATABASE_URL": at(names["gateway"])}
    env.update({f"GATEWAY_AFFILIATE_DATABASE_URLS__{a.upper()}": at(names[a]) for a in AFFILIATES})
    where = f"{base.host or 'localhost'}:{base.port or 5432}"
    kind = (f"PostgreSQL {version.split()[0]} at {where} (databases {names['gateway']}, "
            f"{PG_PREFIX}_<affiliate>)")
    bank = base.set(drivername="postgresql", database=names["bank"])
    return Databases(kind, env, bank.render_as_string(hide_password=False))


def sqlite_databases(data_dir: Path) -> Databases:
    return Databases(f"SQLite (embedded default, files in {data_dir})", {},
                     str(data_dir / "affiliates" / "bank.db"))


def gateway_env(data_dir: Path, port: int, databases: Databases) -> dict[str, str]:
    """This process's environment minus any inherited GATEWAY_*, plus the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATA_DIR=str(data_dir), GATEWAY_DEMO="true",
               GATEWAY_PUBLIC_KEYS_DIR=str(data_dir / "public-keys"),
               GATEWAY_POLICY_DIR=str(ROOT / "policies"), GATEWAY_PORT=str(port),
               GATEWAY_UNSAFE_BENCH_BASELINE="true")
    env.update(databases.env)
    return env


def prepare(data_dir: Path, customers: int, env: dict[str, str], postgres: bool) -> None:
    """Keys (once) and the synthetic group (once per database); the seed is timed."""
    gateway = str(BIN / "gateway")
    subprocess.run([gateway, "keys", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    marker = data_dir / PG_MARKER
    # A PostgreSQL server seeded under other secrets (the data dir was wiped) is re-seeded.
    force = postgres and (not marker.exists()
                          or marker.read_text() != env["GATEWAY_DATABASE_URL"])
    started = time.perf_counter()
    out = subprocess.run([gateway, "seed", "--customers", str(customers),
                          *(["--force"] if force else [])],
                         env=env, check=True, capture_output=True, text=True).stdout
    if "already seeded" in out:
        print(f"data: seeded before ({data_dir})")
    else:
        print(f"seed: {customers:,} customers in {time.perf_counter() - started:.1f} s")
    if postgres:
        marker.write_text(env["GATEWAY_DATABASE_URL"])


# ---------------------------------------------------------------------------- the workload


def body(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def build_workload(settings: Settings, rng: random.Random) -> Workload:
    """Bodies for customers held by both the bank and the card, and for RRNs nobody holds."""
    from sqlalchemy import select

    from gateway.db.engine import make_engine
    from gateway.db.models import Customer, Relationship
    from pseudonymizer.keys import FileKeyProvider
    from pseudonymizer.pseudonyms import Pseudonymizer
    from pseudonymizer.vault import RrnVault

    keys = FileKeyProvider(settings.secrets_path)
    vault, pseudonyms = RrnVault(keys), Pseudonymizer(keys)
    engine = make_engine(settings.gateway_url)
    card = select(Relationship.customer_key).where(Relationship.affiliate == "card")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Customer.customer_key, Customer.rrn_ciphertext)
                .join(Relationship, Relationship.customer_key == Customer.customer_key)
                .where(Relationship.affiliate == "bank", Customer.customer_key.in_(card))
                .order_by(Customer.customer_key)  # random hex: an even, repeatable sample
                .limit(SAMPLE_CUSTOMERS)
            ).all()
        unknown = unknown_rrns(engine, vault, rng, UNKNOWN_RRNS)
        with engine.connect() as conn:
            others = conn.execute(
                select(Customer.customer_key, Customer.rrn_ciphertext)
                .where(Customer.customer_key.not_in(card))
                .order_by(Customer.customer_key)
                .limit(UNKNOWN_RRNS)
            ).all()
    finally:
        engine.dispose()
    if not rows:
        raise SystemExit("no customer held by both the bank and the card: seed the data first")
    rrns = [vault.decrypt(row.rrn_ciphertext, row.customer_key) for row in rows]
    names = pseudonyms.pseudonyms([row.customer_key for row in rows], "card")
    return Workload(
        base=[body(customer_key=row.customer_key, attributes=ATTRIBUTES) for row in rows],
        by_rrn=[body(customer={"rrn": r}, purpose=PURPOSE, attributes=ATTRIBUTES) for r in rrns],
        by_pseudonym=[body(customer={"pseudonym": p}, purpose=PURPOSE, attributes=ATTRIBUTES)
                      for p in names],
        denied=[body(customer={"rrn": r}, purpose=DENIED_PURPOSE, attributes=ATTRIBUTES)
                for r in rrns],
        unknown=[body(customer={"rrn": r}, purpose=PURPOSE, attributes=ATTRIBUTES)
                 for r in unknown],
        elsewhere=[body(customer={"rrn": vault.decrypt(row.rrn_ciphertext, row.customer_key)},
                        purpose=PURPOSE, attributes=ATTRIBUTES) for row in others],
    )


def unknown_rrns(engine: Engine, vault: RrnVault, rng: random.Random, count: int) -> list[str]:
    """Pre-2020 resident numbers with a valid check digit whose blind index is not registered."""
    from sqlalchemy import select

    from gateway.db.models import Customer
    from pseudonymizer.rrn import generate_rrn, parse_national_id

    candidates: dict[bytes, str] = {}
    while len(candidates) < count * 2:
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
        digits = generate_rrn(rng, born, rng.choice((1, 2)))
        parse_national_id(digits)  # well-formed by construction; fail loudly if not
        candidates[vault.blind_index(digits)] = f"{digits[:6]}-{digits[6:]}"
    with engine.connect() as conn:
        held = set(conn.execute(select(Customer.rrn_blind_index)
                                .where(Customer.rrn_blind_index.in_(list(candidates))))
                   .scalars())
    return [rrn for index, rrn in candidates.items() if index not in held][:count]


def _mint_batch(key: Path, audience: str, count: int) -> list[str]:
    from gateway.keys import mint_token

    return [mint_token(key, system=SYSTEM, employee="bench", audience=audience,
                       lifetime_s=TOKEN_LIFETIME_S, algorithm="ES256") for _ in range(count)]


def mint_tokens(key: Path, audience: str, count: int) -> list[str]:
    """`count` single-use ES256 tokens of `card-risk`, minted on every core."""
    workers = os.cpu_count() or 1
    shares = [count // workers + (i < count % workers) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        batches = pool.map(_mint_batch, [key] * workers, [audience] * workers, shares)
        return [token for batch in batches for token in batch]


def scenarios(workload: Workload, bare_reader: str) -> list[Scenario]:
    allow, deny = '"outcome":"allow"', '"outcome":"deny"'
    return [
        Scenario("bare", f"bench/bare_app.py: pydantic body, one {bare_reader} read, "
                 "no middleware", "bare", "/bare", workload.base, tokens=False),
        Scenario("baseline", "`POST /unsafe/baseline`: gateway stack, same row, no checks",
                 "gateway", "/unsafe/baseline", workload.base, tokens=False),
        Scenario("full-rrn", "`POST /v1/queries` by RRN, `credit_risk`, 4 attributes",
                 "gateway", "/v1/queries", workload.by_rrn, tokens=True, expected_body=allow),
        Scenario("full-pseudonym", "`POST /v1/queries` by the card's pseudonym, same",
                 "gateway", "/v1/queries", workload.by_pseudonym, tokens=True,
                 expected_body=allow),
        Scenario("denied", f"`POST /v1/queries` by RRN for `{DENIED_PURPOSE}` (no rule: "
                 "200, deny)", "gateway", "/v1/queries", workload.denied, tokens=True,
                 expected_body=deny),
        Scenario("unknown", "`POST /v1/queries`, an RRN nobody holds (200, deny)",
                 "gateway", "/v1/queries", workload.unknown, tokens=True, expected_body=deny),
        # must cost what `unknown` costs: the answer may not tell the two apart, nor may time
        Scenario("elsewhere", "`POST /v1/queries`, an RRN only other affiliates hold (200, "
                 "deny)", "gateway", "/v1/queries", workload.elsewhere, tokens=True,
                 expected_body=deny),
    ]


# ---------------------------------------------------------------------------- the runs

Driver = Callable[[Path, int, Scenario, bool], Outcome]


def make_driver(wrk: str | None, port: int, connections: int) -> Driver:
    def drive(requests: Path, seconds: int, scenario: Scenario, cycle: bool) -> Outcome:
        if wrk is not None:
            return run_wrk(wrk, f"http://{HOST}:{port}", requests, connections=connections,
                           duration=seconds, cycle=cycle,
                           expected_status=scenario.expected_status,
                           expected_body=scenario.expected_body)
        return run_python(HOST, port, requests, connections=connections, duration=seconds,
                          cycle=cycle, expected_status=scenario.expected_status,
                          expected_body=scenario.expected_body)

    return drive


def request_lines(scenario: Scenario, tokens: list[str]) -> list[tuple[str, str, str]]:
    if not scenario.tokens:
        return [(scenario.path, "", b) for b in scenario.bodies]
    n = len(scenario.bodies)
    return [(scenario.path, token, scenario.bodies[i % n]) for i, token in enumerate(tokens)]


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    outcome: Outcome
    cpu: cpu_use.CpuUse | None  # None where /proc is not there to tell


def run_scenario(scenario: Scenario, drive: Driver, args: argparse.Namespace, tmp: Path,
                 mint: Callable[[int], list[str]], server_pid: int) -> Result:
    """Pre-build (and mint), warm up, then the timed run; prints one line."""
    warm, timed = tmp / f"{scenario.name}.warm.txt", tmp / f"{scenario.name}.txt"
    if scenario.tokens:
        # One token per request: enough for --max-rate over the warm-up and the timed run.
        warm_n, timed_n = args.warmup * args.max_rate, args.duration * args.max_rate
        tokens = mint(warm_n + timed_n + 1)  # +1: wrk calls request() once before its run
        write_requests(warm, request_lines(scenario, tokens[:warm_n]))
        write_requests(timed, request_lines(scenario, tokens[warm_n:]))
    else:
        write_requests(timed, request_lines(scenario, []))
        warm = timed
    if args.warmup:
        drive(warm, args.warmup, scenario, not scenario.tokens)
    before = cpu_use.mark(server_pid)
    outcome = drive(timed, args.duration, scenario, not scenario.tokens)
    cpu = cpu_use.between(before, cpu_use.mark(server_pid))
    print(f"  {scenario.name:<15}{outcome.ok_per_s:>9,.0f} req/s   p50 {outcome.p50_ms:7.2f} ms"
          f"   p99 {outcome.p99_ms:7.2f} ms   {outcome.ok:,} ok{problems(scenario, outcome)}")
    if cpu is not None:
        print(f"  {'':<15}{cpu.line()}")
    return Result(scenario, outcome, cpu)


def problems(scenario: Scenario, outcome: Outcome) -> str:
    """What did not go as expected, for the progress line ('' when nothing)."""
    notes = []
    others = {s: n for s, n in sorted(outcome.statuses.items()) if s != scenario.expected_status}
    if outcome.exhausted:
        notes.append(f"RAN OUT of pre-built requests: {outcome.exhausted:,} more wanted "
                     f"(sentinel 404s counted as other statuses; raise --max-rate)")
    if others:
        notes.append("other statuses: " + ", ".join(f"{s} x{n:,}" for s, n in others.items()))
    mismatched = outcome.statuses.get(scenario.expected_status, 0) - outcome.ok
    if mismatched:
        notes.append(f"{mismatched:,} answered {scenario.expected_status} without "
                     f"`{scenario.expected_body}`")
    if outcome.socket_errors:
        notes.append(f"{outcome.socket_errors:,} socket errors or timeouts")
    if notes and outcome.sample:
        notes.append(f"first such answer: {outcome.sample}")
    return "".join(f"\n      ! {note}" for note in notes)


def http_ok(url: str, data: bytes | None = None) -> bool:
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def bare_server(args: argparse.Namespace, databases: Databases, logs: Path,
                probe_body: str) -> AbstractContextManager[int]:
    command = [sys.executable, str(HERE / "bare_app.py"), "--database", databases.bare_source,
               "--host", HOST, "--port", str(args.port), "--workers", str(args.workers)]
    url = f"http://{HOST}:{args.port}/bare"
    return serving("the bare app", command, dict(os.environ), host=HOST, port=args.port,
                   probe=lambda: http_ok(url, probe_body.encode()), log=logs / "bare.log")


def gateway_server(args: argparse.Namespace, env: dict[str, str],
                   logs: Path) -> AbstractContextManager[int]:
    command = [str(BIN / "gateway"), "serve", "--host", HOST, "--port", str(args.port),
               "--workers", str(args.workers)]
    url = f"http://{HOST}:{args.port}/healthz"
    return serving("the gateway", command, env, host=HOST, port=args.port,
                   probe=lambda: http_ok(url), log=logs / "gateway.log")


def server_logs(args: argparse.Namespace) -> Path:
    """Where the servers' output goes (kept after the run, overwritten by the next)."""
    logs: Path = args.data_dir.resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def run_all(args: argparse.Namespace, plan: list[Scenario], databases: Databases,
            env: dict[str, str], drive: Driver,
            mint: Callable[[int], list[str]]) -> list[Result]:
    """Each server in turn (never both at once), its scenarios in order."""
    results: list[Result] = []
    logs = server_logs(args)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as name:
        tmp = Path(name)
        with bare_server(args, databases, logs, plan[0].bodies[0]) as pid:
            for scenario in (s for s in plan if s.server == "bare"):
                results.append(run_scenario(scenario, drive, args, tmp, mint, pid))
        with gateway_server(args, env, logs) as pid:
            for scenario in (s for s in plan if s.server == "gateway"):
                results.append(run_scenario(scenario, drive, args, tmp, mint, pid))
    return results


def compare(args: argparse.Namespace, plan: list[Scenario], env: dict[str, str],
            drive: Driver, mint: Callable[[int], list[str]]) -> None:
    """`--compare`: the gateway as set (A) and with the compared settings (B), a fresh server
    per variant and round, alternating which goes first; prints each run and the means."""
    variants = {"A": env, "B": {**env, **settings_of(args.compare)}}
    print(f"compare:     A = as set above; B = A with {' '.join(args.compare)}; "
          f"{args.rounds} round(s), the order alternating (AB, BA, …)")
    runs: dict[tuple[str, str], list[Result]] = {}
    logs = server_logs(args)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as name:
        for round_ in range(args.rounds):
            for variant in ("AB" if round_ % 2 == 0 else "BA"):
                with gateway_server(args, variants[variant], logs) as pid:
                    for scenario in plan:
                        print(f"{variant} ", end="")
                        result = run_scenario(scenario, drive, args, Path(name), mint, pid)
                        runs.setdefault((scenario.name, variant), []).append(result)
    print("\n| scenario | variant | req/s, each round | mean req/s | p99 ms, each round | "
          "median p99 ms | server µs/answer, mean |")
    print("|---|---|---|---|---|---|---|")
    for scenario in plan:
        means, tails = {}, {}
        for variant in "AB":
            results = runs[(scenario.name, variant)]
            rates = [r.outcome.ok_per_s for r in results]
            means[variant] = sum(rates) / len(rates)
            # the median of the rounds' p99s: one slow minute of the VM moves a mean of tails
            tails[variant] = statistics.median(r.outcome.p99_ms for r in results)
            cpu = [r.cpu.server / r.outcome.ok_per_s * 1e6 for r in results
                   if r.cpu is not None and r.outcome.ok_per_s]
            print(f"| {scenario.name} | {variant} | {', '.join(f'{x:,.0f}' for x in rates)} | "
                  f"{means[variant]:,.0f} | "
                  f"{', '.join(f'{r.outcome.p99_ms:.1f}' for r in results)} | "
                  f"{tails[variant]:.1f} | "
                  f"{sum(cpu) / len(cpu) if cpu else float('nan'):,.0f} |")
        print(f"| {scenario.name} | B ÷ A | | {ratio(means['B'], means['A'])} | | "
              f"{ratio(tails['B'], tails['A'])} | |")


# ---------------------------------------------------------------------------- the report


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f", {int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return ""


def uvicorn_stack() -> str:
    import importlib.util

    import uvicorn

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (f"uvicorn {uvicorn.__version__}, loop auto ({loop}), http auto ({http}), "
            "log level warning, access log off (as `gateway serve`)")


def git_revision() -> str:
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True,
                                  text=True).stdout
        except OSError:
            return ""

    revision = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "gateway", "pseudonymizer").strip()
    return revision + (" + uncommitted changes under gateway/ or pseudonymizer/" if dirty else "")


def settings_of(pairs: list[str]) -> dict[str, str]:
    """`--set` / `--compare` values (`GATEWAY_NAME=VALUE`, checked by `parse_args`)."""
    return dict(pair.split("=", 1) for pair in pairs)


def print_header(args: argparse.Namespace, databases: Databases, wrk: str | None,
                 env: dict[str, str]) -> None:
    cores = os.cpu_count() or 1
    load = (f"{wrk_version(wrk)}, 1 thread (-t1), bench/each_request_once.lua" if wrk
            else "Python asyncio fallback driver (wrk missing)")
    load_1, load_5, _ = os.getloadavg()
    print(f"machine:     {cores} cores, {cpu_model()}{memory_gib()}, "
          f"{platform.system()} {platform.release()}; load average {load_1:.2f} (1 min), "
          f"{load_5:.2f} (5 min) before the run")
    if load_1 > cores / 2:
        print("             BUSY: other processes use the cores; these figures will be noisy")
    print(f"python:      {platform.python_implementation()} {platform.python_version()}")
    print(f"command:     {shlex.join(sys.orig_argv)}")
    print(f"code:        {git_revision()}")
    print(f"database:    {databases.kind}")
    print(f"server:      {args.workers} worker(s) per server; {uvicorn_stack()}")
    print(f"log writer:  {args.log_writer} (GATEWAY_LOG_WRITER)")
    from gateway.host_writer import offloads_signatures
    from gateway.settings import Settings

    offload: Any = env.get("GATEWAY_SIGNATURE_OFFLOAD", "auto")  # the servers check the value
    where = ("the host's log writer process" if offloads_signatures(Settings.model_construct(
        signature_offload=offload, log_writer=args.log_writer), args.workers)
        else "each server process")
    print(f"signatures:  checked by {where} (GATEWAY_SIGNATURE_OFFLOAD={offload})")
    if args.set:
        print(f"settings:    {' '.join(args.set)}")
    print(f"load:        {load}; {args.connections} connections, {args.duration} s per "
          f"scenario after a {args.warmup} s warm-up; tokens for {args.max_rate:,} req/s")
    print(f"cores:       load generator and server share all {cores} cores (nothing pinned)")


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference else "—"


def markdown_table(results: list[Result], caption: str) -> str:
    bare = next((r.outcome for r in results if r.scenario.name == "bare"), None)
    rows = [f"**{caption}**", "",
            "| scenario | request | req/s | ÷ bare | p50 ms | ÷ bare | p99 ms | ÷ bare | not ok "
            "| server cores | server µs/req | cores busy |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        o, ref = r.outcome, bare or r.outcome
        flag = " ⚠ ran out" if o.exhausted else ""
        cpu = (f"{r.cpu.server:.2f} | {r.cpu.server_us_per_request(o.requests):,.0f} | "
               f"{r.cpu.machine:.2f}" if r.cpu else "— | — | —")
        rows.append(
            f"| {r.scenario.name} | {r.scenario.what} | {o.ok_per_s:,.0f} | "
            f"{ratio(o.ok_per_s, ref.ok_per_s)} | {o.p50_ms:.2f} | {ratio(o.p50_ms, ref.p50_ms)} | "
            f"{o.p99_ms:.2f} | {ratio(o.p99_ms, ref.p99_ms)} | {o.not_ok:,}{flag} | {cpu} |")
    rows += ["", "req/s counts answers with the expected status and outcome; `÷ bare` is this "
             "row's figure divided by the bare app's; `not ok` counts every other answer and "
             "socket error. `server cores`: cores the server's processes kept busy on average; "
             "`server µs/req` their CPU time per answer; `cores busy`: the whole machine (server, "
             "database, wrk and the rest)."]
    return "\n".join(rows)


def headroom(results: list[Result]) -> str:
    """How far more server processes could go on these cores at the CPU cost measured: a run
    that already keeps the machine busy has nothing left for a second process to use."""
    lines = []
    for r in results:
        if r.cpu is None or not r.outcome.ok or r.scenario.server != "gateway":
            continue
        used = r.cpu.server + r.cpu.database + r.cpu.load  # what this run itself needed
        ceiling = r.outcome.ok_per_s * r.cpu.cores / max(used, 1e-9)
        lines.append(f"  {r.scenario.name:<15}{used:.2f} of {r.cpu.cores} cores used → at "
                     f"most {ceiling:,.0f} req/s on this machine "
                     f"({ceiling / r.outcome.ok_per_s:.2f}× this run) with any number of "
                     "processes")
    if not lines:
        return ""
    return ("\nheadroom: the server, the database server and wrk together used this much; with "
            "every core busy at the same CPU cost per answer (others' use, e.g. a busy machine, "
            "left out):\n" + "\n".join(lines))


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000,
                        help="synthetic customers to seed (once per data dir / database)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/gateway-bench"),
                        help="keys and SQLite files, reused between runs")
    parser.add_argument("--database-url",
                        help="PostgreSQL server for every database, e.g. "
                        "postgresql://postgres@127.0.0.1:5432/test (default: SQLite)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes, for the gateway and the bare app alike")
    parser.add_argument("--log-writer", choices=("host", "process"), default="host",
                        help="`host`: one log writer process for all server processes (the "
                        "default of `gateway serve`); `process`: a writer thread in each")
    parser.add_argument("--set", action="append", default=[], metavar="GATEWAY_NAME=VALUE",
                        help="a gateway setting for the servers (repeatable), e.g. "
                        "GATEWAY_READ_THREADS=4; inherited GATEWAY_* variables are not passed")
    parser.add_argument("--compare", action="append", default=[],
                        metavar="GATEWAY_NAME=VALUE",
                        help="instead of the table: A/B runs of the gateway with and without "
                        "this setting (repeatable: all of them form variant B), alternating "
                        "which goes first each round, so that a machine whose speed drifts "
                        "from minute to minute weighs on both alike")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated gateway scenarios to run (default: all; the "
                        "bare app always runs, outside --compare)")
    parser.add_argument("--max-rate", type=int, default=4_000,
                        help="req/s the pre-minted tokens must last for (one per request)")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--profile", type=int, nargs="?", const=4000, metavar="N",
                        help="instead of HTTP runs: CPU time per stage per request, from N "
                        "requests (default 4000) through the app in this process "
                        "(bench/profile_stages.py)")
    args = parser.parse_args()
    for option, settings in (("--set", args.set), ("--compare", args.compare)):
        for setting in settings:
            name, sep, _value = setting.partition("=")
            if not sep or not name.startswith("GATEWAY_"):
                parser.error(f"{option} takes GATEWAY_NAME=VALUE, not `{setting}`")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.duration + args.warmup > TOKEN_LIFETIME_S - 60:
        parser.error(f"--duration + --warmup must stay under {TOKEN_LIFETIME_S - 60} s: "
                     "tokens are minted before each scenario and live "
                     f"{TOKEN_LIFETIME_S} s at most")
    return args


def on_sigterm(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(143)  # unwinds through the `finally` that stops the servers


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    wrk = wrk_path()
    if wrk is None:
        print(f"wrk is not installed: install it with `{INSTALL_HINT}` (Debian/Ubuntu).\n"
              "FALLING BACK to the Python driver in this process: it saturates long before "
              "the servers do, so its figures are not comparable with wrk's.\n")
    data_dir = args.data_dir.resolve()
    postgres = args.database_url is not None
    databases = postgres_databases(args.database_url) if postgres else sqlite_databases(data_dir)
    env = gateway_env(data_dir, args.port, databases)
    env["GATEWAY_LOG_WRITER"] = args.log_writer
    env.update(settings_of(args.set))
    print_header(args, databases, wrk, env)
    prepare(data_dir, args.customers, env, postgres)

    os.environ.update({k: v for k, v in env.items() if k.startswith("GATEWAY_")})
    from gateway.settings import Settings

    settings = Settings()
    workload = build_workload(settings, random.Random(7))
    key = settings.secrets_path / "systems" / f"{SYSTEM}.key.pem"
    if args.profile:
        from profile_stages import profile  # bench/ is on sys.path: this script's folder

        bodies = [json.loads(b) for b in workload.by_rrn + workload.by_pseudonym]
        tokens = mint_tokens(key, settings.audience, args.profile + min(500, args.profile // 4))
        profile(bodies, tokens, args.connections)
        return
    plan = scenarios(workload, "psycopg" if postgres else "sqlite3")
    if args.scenarios:
        wanted = {name.strip() for name in args.scenarios.split(",") if name.strip()}
        unknown = wanted - {s.name for s in plan if s.server == "gateway"}
        if unknown:
            raise SystemExit(f"error: no gateway scenario {', '.join(sorted(unknown))}; "
                             f"there are {', '.join(s.name for s in plan[1:])}")
        plan = [s for s in plan if s.server == "bare" or s.name in wanted]

    def mint(count: int) -> list[str]:
        return mint_tokens(key, settings.audience, count)

    drive = make_driver(wrk, args.port, args.connections)
    if args.compare:
        try:
            compare(args, [s for s in plan if s.server == "gateway"], env, drive, mint)
        except ServerFailed as exc:
            raise SystemExit(f"error: {exc}") from None
        except KeyboardInterrupt:
            raise SystemExit("\ninterrupted: the servers this run started are stopped") from None
        return
    try:
        results = run_all(args, plan, databases, env, drive, mint)
    except ServerFailed as exc:
        raise SystemExit(f"error: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit("\ninterrupted: the servers this run started are stopped") from None
    kind = "PostgreSQL" if postgres else "SQLite"
    caption = (f"{kind}, {args.workers} worker(s), {args.connections} connections, "
               f"{args.duration} s per scenario, {os.cpu_count()} cores shared with "
               f"{'wrk' if wrk else 'the Python driver'}")
    print()
    print(markdown_table(results, caption))
    print(headroom(results))
    notes = [f"{r.scenario.name}:{problems(r.scenario, r.outcome)}" for r in results
             if problems(r.scenario, r.outcome)]
    if notes:
        print("\nNOT AS EXPECTED (the figures of these rows are not valid; server output in "
              f"{server_logs(args)}):\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
