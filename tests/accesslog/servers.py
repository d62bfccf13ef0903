"""Real `gateway serve` processes for the log's robustness tests: data, clients, log checks."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from gateway.accesslog import LogSigner, parse_checkpoint, verify_note
from gateway.services import LOG_SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ORIGIN = "robustness.example-holdings.co.kr/access-log"
ATTRIBUTES = ["deposit_balance", "loan_balance", "credit_grade", "annual_income"]
# (system, token algorithm, purpose): an allowed use and a consent-bound marketing use
USES = [("card-risk", "ES256", "credit_risk"), ("card-marketing", "EdDSA", "marketing_sms")]
EMPLOYEES = 256  # token subjects the load is spread over (each stays far below its limits)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayData:
    """A seeded data folder (keys, SQLite files) every server process of a test shares."""

    data_dir: Path
    env: dict[str, str]
    database_url: str
    logs: list[Path] = field(default_factory=list)

    @property
    def secrets(self) -> Path:
        return self.data_dir / "secrets"

    def verifier_key(self) -> str:
        return LogSigner.load(self.secrets / LOG_SIGNING_KEY, ORIGIN).verifier_key()

    def engine(self) -> Engine:
        return create_engine(self.database_url)


def prepare(data_dir: Path, *, customers: int = 150, database_url: str | None = None
            ) -> GatewayData:
    """Keys, schema and a small synthetic group, through the real CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATA_DIR=str(data_dir), GATEWAY_DEMO="true",
               GATEWAY_PUBLIC_KEYS_DIR=str(data_dir / "public-keys"),
               GATEWAY_POLICY_DIR=str(ROOT / "policies"), GATEWAY_LOG_ORIGIN=ORIGIN,
               GATEWAY_CHECKPOINT_INTERVAL_S="0.3", GATEWAY_LOG_BATCH_WAIT_MS="1")
    if database_url is not None:
        env["GATEWAY_DATABASE_URL"] = database_url
    gateway = str(BIN / "gateway")
    for cmd in (["keys", "init"], ["seed", "--customers", str(customers)]):
        subprocess.run([gateway, *cmd], env=env, check=True, capture_output=True, timeout=120)
    url = database_url or f"sqlite:///{data_dir / 'gateway.db'}"
    return GatewayData(data_dir, env, url)


class Server:
    """One `gateway serve` process on its own port; stderr goes to a file for diagnosis."""

    def __init__(self, data: GatewayData, *, workers: int = 1) -> None:
        self._data = data
        self._workers = workers
        self._launch()

    def _launch(self) -> None:
        self.port = free_port()
        self.stderr_path = self._data.data_dir / f"serve-{self.port}.log"
        self._data.logs.append(self.stderr_path)
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "gateway"), "serve", "--port", str(self.port),
             "--workers", str(self._workers)],
            env=self._data.env, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")[-600:].replace("\n", " | ")

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        relaunches = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._stderr.close()
                # another program on this shared machine took the port between our probe
                # and the server's bind: try another port
                if "address already in use" in self.stderr_tail() and relaunches < 3:
                    relaunches += 1
                    self._launch()
                    continue
                raise RuntimeError(f"gateway server exited early with code "
                                   f"{self.proc.returncode}: {self.stderr_tail()}")
            try:
                status, _, _ = http_get(self.port, "/healthz", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway server on port {self.port} not ready in {timeout:.0f} s: "
                           f"{self.stderr_tail()}")

    def stop(self) -> bool:
        """Graceful stop (SIGTERM): the lifespan signs a last checkpoint.

        Returns whether the server was still running: one that died (or never bound its
        port) would have left its clients talking to whatever else holds that port.
        """
        running = self.proc.poll() is None
        if running:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return running

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait()
        self._stderr.close()


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


# --- workload -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One prepared request. `body` may hold a synthetic RRN: never printed or asserted on."""

    system: str
    algorithm: str
    body: bytes

    def __repr__(self) -> str:
        return f"Query(system={self.system!r})"


def workload(data: GatewayData, n: int) -> list[Query]:
    """`n` queries over seeded card-and-bank customers: by RRN and by pseudonym, two uses."""
    from gateway.db.models import Customer, Relationship
    from pseudonymizer.keys import FileKeyProvider
    from pseudonymizer.pseudonyms import Pseudonymizer
    from pseudonymizer.vault import RrnVault

    keys = FileKeyProvider(data.secrets)
    vault, pseudonyms = RrnVault(keys), Pseudonymizer(keys)
    engine = data.engine()
    card = select(Relationship.customer_key).where(Relationship.affiliate == "card")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Customer.customer_key, Customer.rrn_ciphertext)
            .join(Relationship, Relationship.customer_key == Customer.customer_key)
            .where(Relationship.affiliate == "bank", Customer.customer_key.in_(card))
            .order_by(Customer.customer_key)
        ).all()
    engine.dispose()
    assert rows, "the seed holds no customer of both the bank and the card company"
    queries = []
    for i in range(n):
        row = rows[i % len(rows)]
        system, algorithm, purpose = USES[i % len(USES)]
        if i % 3:
            who = {"pseudonym": pseudonyms.pseudonym(row.customer_key, "card")}
        else:
            who = {"rrn": vault.decrypt(row.rrn_ciphertext, row.customer_key)}
        body = {"customer": who, "purpose": purpose, "attributes": ATTRIBUTES}
        queries.append(Query(system, algorithm, json.dumps(body).encode()))
    return queries


def token(data: GatewayData, system: str, algorithm: str) -> str:
    from gateway.keys import mint_token

    # spread over many employees, as real traffic is: one employee sending thousands of
    # queries a minute would be refused by the shipped rate limits (docs/RATE-LIMITS.md)
    employee = f"robustness-test-{random.randrange(EMPLOYEES)}"
    return mint_token(data.secrets / "systems" / f"{system}.key.pem", system=system,
                      employee=employee, audience="affiliate-gateway",
                      lifetime_s=300, algorithm=algorithm)


def auth(data: GatewayData) -> dict[str, str]:
    """Headers of a fresh token of a system that may read checkpoints and proofs."""
    return {"Authorization": f"Bearer {token(data, 'holding-audit', 'EdDSA')}"}


@dataclass(frozen=True)
class Received:
    """A response a client read in full: the status, its request id and log index."""

    port: int
    status: int
    request_id: str
    log_index: int


@dataclass
class ClientResults:
    received: list[Received] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)  # connection errors, by type
    lock: threading.Lock = field(default_factory=threading.Lock)


_IDLE_CLOSED = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def _post(conns: dict[int, http.client.HTTPConnection], port: int, data: GatewayData,
          q: Query) -> tuple[http.client.HTTPResponse, Any]:
    """One query on the port's keep-alive connection. A reused connection the server already
    closed as idle (its keep-alive timeout passed while this client used the other ports)
    fails before the server read anything: that one is sent again, once, on a new connection
    with a new token. A fresh connection's failure is the server's, and is not retried."""
    for attempt in (1, 2):
        conn = conns.get(port)
        reused = conn is not None
        if conn is None:
            conn = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {token(data, q.system, q.algorithm)}"}
        try:
            conn.request("POST", "/v1/queries", body=q.body, headers=headers)
            resp = conn.getresponse()
            return resp, json.loads(resp.read())
        except _IDLE_CLOSED:
            conns.pop(port, None)
            conn.close()
            if not reused or attempt == 2:
                raise
    raise AssertionError("unreachable")


def run_client(data: GatewayData, ports: Sequence[int], queries: Sequence[Query],
               results: ClientResults, stop: threading.Event | None = None) -> None:
    """Send `queries` over keep-alive connections, rotating over `ports`; note every answer.

    Tokens are minted just before use (each has its own `jti`). A connection error (the
    server died) is counted, never retried: only fully read responses count as received.
    """
    conns: dict[int, http.client.HTTPConnection] = {}
    try:
        for n, q in enumerate(queries):
            if stop is not None and stop.is_set():
                return
            port = ports[n % len(ports)]
            try:
                resp, payload = _post(conns, port, data, q)
            except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: no json
                failed = conns.pop(port, None)
                if failed is not None:  # closed here: left to the collector it warns (a leak)
                    failed.close()
                with results.lock:
                    results.failures[type(exc).__name__] += 1
                if stop is not None:
                    return  # the server is gone
                continue
            if "log_index" in payload:
                item = Received(port, resp.status, payload["request_id"], payload["log_index"])
                with results.lock:
                    results.received.append(item)
            else:
                with results.lock:
                    results.failures[f"http {resp.status} without log_index"] += 1
    finally:
        for conn in conns.values():
            conn.close()


# --- checking the stored log --------------------------------------------------------------------
def naive_root(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes, recomputed independently of gateway.accesslog."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + naive_root(hashes[:k]) + naive_root(hashes[k:])).digest()


@dataclass
class StoredLog:
    records: list[dict[str, object]]
    leaf_hashes: list[bytes]
    head_size: int
    head_root: bytes
    checkpoints: list[tuple[int, str]]  # (size, signed note), ascending


def read_log(engine: Engine) -> StoredLog:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT idx, leaf_hash, record FROM log_leaves ORDER BY idx"))
        indexes, hashes, records = [], [], []
        for idx, stored_hash, record in rows:
            indexes.append(int(idx))
            data = bytes(record)
            assert hashlib.sha256(b"\x00" + data).digest() == bytes(stored_hash), idx
            hashes.append(bytes(stored_hash))
            records.append(json.loads(data))
        head = conn.execute(text("SELECT size, root_hash FROM log_head")).one()
        cps = conn.execute(text("SELECT size, note FROM log_checkpoints ORDER BY size")).all()
    # INVARIANT under test: indexes 0..n-1, no gap and no duplicate, each record holding its own
    assert indexes == list(range(len(indexes))), "log indexes have a gap or a duplicate"
    assert [r["index"] for r in records] == indexes, "a record does not hold its own index"
    return StoredLog(records, hashes, int(head.size), bytes(head.root_hash),
                     [(int(s), str(note)) for s, note in cps])


def check_log(log: StoredLog, verifier_key: str, origin: str = ORIGIN) -> None:
    """Head = leaves; every stored checkpoint verifies and commits to a prefix of the leaves."""
    n = len(log.leaf_hashes)
    assert log.head_size == n
    assert naive_root(log.leaf_hashes) == log.head_root, "stored root differs from the leaves"
    assert log.checkpoints, "no checkpoint was signed"
    for size, note in log.checkpoints:
        cp = parse_checkpoint(verify_note(note, [verifier_key]))
        assert (cp.origin, cp.size) == (origin, size)
        assert cp.root == naive_root(log.leaf_hashes[:size]), f"checkpoint {size} forks"


def check_received(log: StoredLog, received: Sequence[Received]) -> None:
    """Each answer's index holds the record of that very request; no index answered twice."""
    indexes = [r.log_index for r in received]
    assert len(set(indexes)) == len(indexes), "two responses carry the same log index"
    by_request = Counter(str(r["request_id"]) for r in log.records)
    for r in received:
        assert r.log_index < len(log.records), f"index {r.log_index} is not in the log"
        assert log.records[r.log_index]["request_id"] == r.request_id, f"index {r.log_index}"
        assert by_request[r.request_id] == 1, f"request {r.request_id} logged more than once"


# --- the processes of a server -------------------------------------------------------------------
def children(pid: int) -> list[int]:
    """The processes `pid` started that still run (or wait to be reaped), from /proc (Linux).
    A thread that ends while they are listed (`serve`'s ready-line thread) is passed over."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def named(pid: int) -> str | None:
    """What process `pid` calls itself (`/proc/<pid>/comm`); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def command_line(pid: int) -> bytes:
    """Process `pid`'s command line (`/proc/<pid>/cmdline`); empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
