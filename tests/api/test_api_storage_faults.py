"""Storage faults answer 503 everywhere (issue #13): every route of the API, each with a valid
request under a fresh single-use token, against a read-only database, a full disk and a stopped
PostgreSQL server. Each answer is an RFC 9457 problem of a stable `unavailable` type that
releases nothing and says nothing of the failure's internals, the server logs no traceback,
and the same request (a new token) succeeds once the fault clears.

Each fault strikes at two moments: before the request, and mid-request, just after its first
durable write (its token id claimed, or the record that claims it), so that what the route does
next meets the fault. Mid-request, a route that needs nothing more from storage may answer as
usual, but only what its durable record covers.

The console's pages (people-facing, signed in with the role that opens them) meet the same
faults before the request: never a 500, never a customer's data, back once the fault clears.
Every route of the app has a case here, or a reason why not (`NOT_COVERED`).

The faults are real, not mocked errors:
- read-only: the data folder is bind-mounted onto itself read-only (as root) or write-protected
  with `chmod` (otherwise), so every file the gateway opens again opens read-only, as after an
  operator's `mount -o remount,ro`. The kernel refuses that remount while files are open for
  writing, so the test closes the gateway's open database files first (`_reopen`): what the
  kernel's own emergency remount does to them is make every write fail;
- full disk: the data folder lives on a small tmpfs, filled to the last page by a filler file
  (root only; skipped with a message otherwise);
- PostgreSQL stopped: the gateway reaches the shared test server through a TCP relay of this
  test's own, which refuses connections and drops the open ones, then listens again on the
  same port (the shared server itself is never touched).
"""
from __future__ import annotations

import contextlib
import errno
import gc
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url
from starlette.routing import Route

from gateway.console.fonts import fonts_dir
from gateway.errors import PROBLEM_BASE
from tests.api import conftest as api
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness
from tests.api.marketing_helpers import grant, register_stop
from tests.conftest import postgres_schema, writable_policies
from tests.console.conftest import PASSWORD as CONSOLE_PASSWORD
from tests.console.conftest import USERS as CONSOLE_USERS
from tests.console.conftest import ConsoleHarness, add_users

KST = ZoneInfo("Asia/Seoul")

# the answers a storage fault may give: the `Unavailable` family of gateway/errors.py
UNAVAILABLE_TYPES = {PROBLEM_BASE + slug
                     for slug in ("unavailable", "log-unavailable", "store-unavailable")}
# what the failure itself says (driver messages, file names): never in an answer
FAILURE_TEXT = ("Traceback", "readonly", "read-only", "disk is full", "disk I/O",
                "No space", "Connection refused", "server closed", "connection failed",
                "consuming input failed", "gateway.db", "sqlite3.", "psycopg.", 'File "')
# what a customer's data looks like in an answer (the rows every case's customer holds)
CUSTOMER_VALUES = tuple(str(v) for v in (*BANK_ROW.values(), *CARD_ROW.values())
                        if isinstance(v, str) and len(str(v)) > 3)
SEOUL = {"attribute": "address", "view": "sido", "in": ["서울특별시"]}


# --- the request of each route ----------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One concrete request; each `send` mints a fresh single-use token (API) or uses the
    session the case signed in with (console)."""

    method: str
    url: str
    system: str | None  # None: the route takes no token
    employee: str = "tester"
    json: Any = None
    form: dict[str, str] | None = None  # a console form (with its CSRF token)
    secrets: tuple[str, ...] = ()  # this customer's RRN, key, pseudonym: never in a fault answer

    def send(self, gw: Harness) -> Any:
        headers = gw.auth(self.system, employee=self.employee) if self.system else {}
        return gw.client.request(self.method, self.url, json=self.json, data=self.form,
                                 headers=headers, follow_redirects=False)


@dataclass(frozen=True)
class Case:
    """How to make a valid request of one route, with storage healthy (`prepare`), and what
    it answers then (`ok`). `no_storage` names why a route may answer under a fault."""

    prepare: Callable[[Harness], Call]
    ok: int = 200
    no_storage: str | None = None


def _customer(gw: Harness) -> api.TestCustomer:
    return gw.customer({"bank": BANK_ROW, "card": CARD_ROW})


def _secrets(customer: api.TestCustomer, *more: str) -> tuple[str, ...]:
    return (customer.rrn, customer.rrn.replace("-", ""), customer.key, *more)


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def _query(gw: Harness) -> Call:
    c = _customer(gw)
    return Call("POST", "/v1/queries", "card-risk", secrets=_secrets(c), json={
        "customer": c.ref, "purpose": "credit_risk",
        "attributes": ["credit_grade", "annual_income", "mobile_phone"]})


def _grant(gw: Harness) -> Call:
    c = _customer(gw)
    return Call("POST", "/v1/consents", "bank-callcenter", secrets=_secrets(c), json={
        "customer": c.ref, "recipient": "card", "purpose": "marketing_sms", "channel": "sms",
        "categories": ["contact"], "evidence_ref": "branch-form/77",
        "refusal_right_notified": True})


def _granted(gw: Harness) -> tuple[api.TestCustomer, dict[str, Any]]:
    c = _customer(gw)
    body: dict[str, Any] = _ok(grant(gw, c.ref), 201).json()
    return c, body


def _withdraw(gw: Harness) -> Call:
    c, body = _granted(gw)
    return Call("POST", f"/v1/consents/{body['consent']['id']}/withdraw", "bank-app",
                secrets=_secrets(c), json={"customer": c.ref})


def _confirm(gw: Harness) -> Call:
    c, body = _granted(gw)
    return Call("POST", f"/v1/consents/{body['consent']['id']}/confirm", "bank-app",
                secrets=_secrets(c), json={"customer": c.ref, "refusal_right_notified": True})


def _search_consents(gw: Harness) -> Call:
    c, _ = _granted(gw)
    return Call("POST", "/v1/consents/search", "bank-callcenter", secrets=_secrets(c),
                json={"customer": c.ref})


def _render_receipt(gw: Harness) -> Call:
    c, body = _granted(gw)
    return Call("POST", "/v1/consents/receipts/render", "bank-callcenter",
                secrets=_secrets(c, body["consent"]["pseudonym"] or c.key),
                json={"jws": body["receipt"]["jws"]})


def _register_stop(gw: Harness) -> Call:
    c = _customer(gw)
    return Call("POST", "/v1/contact-stops", "bank-app", secrets=_secrets(c),
                json={"customer": c.ref})


def _lift_stop(gw: Harness) -> Call:
    c = _customer(gw)
    stop = _ok(register_stop(gw, c.ref), 201).json()["stop"]
    return Call("POST", f"/v1/contact-stops/{stop['id']}/lift", "bank-app",
                secrets=_secrets(c, stop["pseudonym"]), json={"customer": c.ref})


def _search_stops(gw: Harness) -> Call:
    c = _customer(gw)
    _ok(register_stop(gw, c.ref), 201)
    return Call("POST", "/v1/contact-stops/search", "bank-callcenter", secrets=_secrets(c),
                json={"customer": c.ref})


def _history(gw: Harness) -> Call:
    c = _customer(gw)
    _ok(gw.query("card-risk", c.ref, "credit_risk", ["credit_grade"]))
    return Call("POST", "/v1/customers/access-history", "bank-callcenter", secrets=_secrets(c),
                json={"customer": c.ref})


def _campaign_body() -> dict[str, Any]:
    return {"purpose": "marketing_sms", "channel": "sms", "reason": "가을 여행카드 안내",
            "ticket": "MKT-2026-118", "segment": [SEOUL], "attributes": ["mobile_phone"]}


def _run_campaign(gw: Harness) -> Call:
    c, _ = _granted(gw)  # at least one eligible customer: the campaign releases data
    return Call("POST", "/v1/campaigns", "card-marketing", secrets=_secrets(c),
                json=_campaign_body())


def _campaign(gw: Harness) -> str:
    _granted(gw)
    response = _ok(gw.client.post("/v1/campaigns", headers=gw.auth("card-marketing"),
                                  json=_campaign_body()))
    return str(response.headers["x-campaign-id"])


def _campaign_status(gw: Harness) -> Call:
    return Call("GET", f"/v1/campaigns/{_campaign(gw)}", "card-marketing")


def _campaign_destruction(gw: Harness) -> Call:
    return Call("POST", f"/v1/campaigns/{_campaign(gw)}/destruction", "card-marketing",
                json={"reference": "DEL-2026-77"})


def _release_destruction(gw: Harness) -> Call:
    c = _customer(gw)
    released = _ok(gw.query("card-risk", c.ref, "credit_risk", ["credit_grade"])).json()
    return Call("POST", "/v1/releases/destruction", "card-risk", secrets=_secrets(c),
                json={"log_indexes": [released["log_index"]], "reference": "DSTR-9"})


def _map_pseudonyms(gw: Harness) -> Call:
    c = _customer(gw)
    answer = _ok(gw.query("bank-fraud", c.ref, "fraud_prevention", ["monthly_card_spend"]))
    pseudonym = answer.json()["customer"]["pseudonym"]
    return Call("POST", "/v1/pseudonyms/mappings", "bank-fraud",
                secrets=_secrets(c), json={"pseudonyms": [pseudonym]})


def _log_get(path: str) -> Callable[[Harness], Call]:
    return lambda gw: Call("GET", path, "holding-audit")


def _inclusion(gw: Harness) -> Call:
    size = gw.services.access_log.size()
    return Call("GET", f"/v1/log/proofs/inclusion?index={size - 1}&tree_size={size}",
                "holding-audit")


def _consistency(gw: Harness) -> Call:
    size = gw.services.access_log.size()
    return Call("GET", f"/v1/log/proofs/consistency?first=1&second={size}", "holding-audit")


def _records(gw: Harness) -> Call:
    size = gw.services.access_log.size()
    return Call("GET", f"/v1/log/records?start={size - 2}&end={size}", "holding-audit")


def _policy_files(gw: Harness) -> Path:
    return Path(gw.settings.policy_dir)


def _approve(gw: Harness) -> Call:
    """A pending set proposed by one officer, for a second officer to approve: the policy
    files change by a comment (a new version), and officer-kim proposes them."""
    rules = _policy_files(gw) / "rules.yaml"
    rules.write_text(rules.read_text("utf-8") + f"# edit {time.monotonic_ns()}\n", "utf-8")
    proposed = _ok(gw.client.post("/v1/admin/policy/reload",
                                  headers=gw.auth("holding-privacy", employee="officer-kim")))
    assert proposed.json()["outcome"] == "proposed", proposed.text
    return Call("POST", "/v1/admin/policy/approve", "holding-privacy", employee="officer-lee",
                json={"version": proposed.json()["version"]})


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/queries"): Case(_query),
    ("POST", "/v1/consents"): Case(_grant, ok=201),
    ("POST", "/v1/consents/{consent_id}/withdraw"): Case(_withdraw),
    ("POST", "/v1/consents/{consent_id}/confirm"): Case(_confirm),
    ("POST", "/v1/consents/search"): Case(_search_consents),
    ("POST", "/v1/consents/receipts/render"): Case(_render_receipt),
    ("POST", "/v1/contact-stops"): Case(_register_stop, ok=201),
    ("POST", "/v1/contact-stops/{stop_id}/lift"): Case(_lift_stop),
    ("POST", "/v1/contact-stops/search"): Case(_search_stops),
    ("POST", "/v1/customers/access-history"): Case(_history),
    ("POST", "/v1/campaigns"): Case(_run_campaign),
    ("GET", "/v1/campaigns/{campaign_id}"): Case(_campaign_status),
    ("POST", "/v1/campaigns/{campaign_id}/destruction"): Case(_campaign_destruction),
    ("POST", "/v1/releases/destruction"): Case(_release_destruction),
    ("POST", "/v1/pseudonyms/mappings"): Case(_map_pseudonyms),
    ("GET", "/v1/log/checkpoint"): Case(_log_get("/v1/log/checkpoint")),
    ("GET", "/v1/log/keys"): Case(_log_get("/v1/log/keys")),
    ("GET", "/v1/log/proofs/inclusion"): Case(_inclusion),
    ("GET", "/v1/log/proofs/consistency"): Case(_consistency),
    ("GET", "/v1/log/records"): Case(_records),
    ("GET", "/v1/catalog"): Case(lambda gw: Call("GET", "/v1/catalog", "card-risk")),
    ("POST", "/v1/admin/policy/reload"): Case(lambda gw: Call(
        "POST", "/v1/admin/policy/reload", "holding-privacy", employee="officer-kim")),
    ("GET", "/v1/admin/policy/pending"): Case(
        lambda gw: Call("GET", "/v1/admin/policy/pending", "holding-privacy")),
    ("POST", "/v1/admin/policy/approve"): Case(_approve),
    # liveness answers from the policy held in memory and names no customer: a probe that
    # failed with the database would have the load balancer restart a process that cannot
    # be helped by a restart (readiness is what the 503s of every other route say)
    ("GET", "/healthz"): Case(lambda gw: Call("GET", "/healthz", None),
                              no_storage="liveness: the policy version held in memory"),
}


# --- the console's pages (people-facing HTML, sessions instead of tokens) ---------------------
_SESSIONS: dict[tuple[int, str], dict[str, str]] = {}  # (harness, role) -> session cookies


def _signed_in(gw: Harness, role: str, *, fresh: bool = False) -> ConsoleHarness:
    """A console session of `role`: the one signed in before while it still opens the home
    page (a sign-in hashes a password on purpose slowly), else a new one."""
    console = ConsoleHarness(gw)
    saved = None if fresh else _SESSIONS.get((id(gw), role))
    gw.client.cookies.clear()
    if saved is not None:
        for name, value in saved.items():
            gw.client.cookies.set(name, value)
        if gw.client.get("/console/", follow_redirects=False).status_code == 200:
            return console
    console.sign_in(role)
    if not fresh:
        _SESSIONS[(id(gw), role)] = dict(gw.client.cookies)
    return console


def _page(path: str, role: str | None = "privacy_officer") -> Callable[[Harness], Call]:
    def prepare(gw: Harness) -> Call:
        if role is None:
            gw.client.cookies.clear()
        else:
            _signed_in(gw, role)
        return Call("GET", path, None)
    return prepare


def _form(gw: Harness, role: str, page: str) -> str:
    """Sign in as `role` and return the CSRF token of `page`'s form."""
    console = _signed_in(gw, role)
    return console.csrf(_ok(gw.client.get(page)).text)


def _console_signin(gw: Harness) -> Call:
    console = ConsoleHarness(gw)
    console.forget_used_codes()
    gw.client.cookies.clear()
    token = console.csrf(_ok(gw.client.get("/console/signin")).text)
    return Call("POST", "/console/signin", None, form={
        "csrf_token": token, "username": CONSOLE_USERS["privacy_officer"],
        "password": CONSOLE_PASSWORD, "code": console.code("privacy_officer")})


def _console_signout(gw: Harness) -> Call:
    console = _signed_in(gw, "privacy_officer", fresh=True)  # a session of its own to end
    token = console.csrf(_ok(gw.client.get("/console/log")).text)
    return Call("POST", "/console/signout", None, form={"csrf_token": token})


def _timeline_lookup(gw: Harness) -> Call:
    """A call-centre agent looks a customer up by national id number: customer data."""
    c = _customer(gw)
    _ok(gw.query("card-risk", c.ref, "credit_risk", ["credit_grade"]))  # something to show
    token = _form(gw, "call_centre_agent", "/console/timeline")
    return Call("POST", "/console/timeline", None, secrets=_secrets(c),
                form={"csrf_token": token, "rrn": c.rrn})


def _log_export(gw: Harness) -> Call:
    token = _form(gw, "privacy_officer", "/console/log")
    return Call("POST", "/console/log/export", None, form={
        "csrf_token": token, "who": "감사팀 박감사", "why": "정기 점검", "since": "", "until": ""})


def _last_month() -> str:
    now = datetime.now(KST)
    return f"{now.year - (now.month == 1)}-{(now.month - 2) % 12 + 1:02d}"


CONSOLE_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/console/signin"): Case(_page("/console/signin", None),
                                     no_storage="the sign-in form, to no session: reads nothing"),
    ("POST", "/console/signin"): Case(_console_signin, ok=303),
    ("POST", "/console/signout"): Case(_console_signout, ok=303),
    ("GET", "/console"): Case(_page("/console"), ok=307,
                              no_storage="the redirect to `/console/`, before any session"),
    ("GET", "/console/"): Case(_page("/console/")),
    ("GET", "/console/log"): Case(_page("/console/log")),
    ("POST", "/console/log/export"): Case(_log_export),
    ("GET", "/console/policy"): Case(_page("/console/policy")),
    ("GET", "/console/policy/files/{name}"): Case(
        _page("/console/policy/files/rules.yaml?pending=false")),
    ("GET", "/console/timeline"): Case(_page("/console/timeline", "call_centre_agent")),
    ("POST", "/console/timeline"): Case(_timeline_lookup),
    ("GET", "/console/review"): Case(_page("/console/review"), ok=303),  # to last month
    ("GET", "/console/review/{month}"): Case(lambda gw: _page(
        f"/console/review/{_last_month()}")(gw)),
    ("GET", "/console/review/{month}/pdf"): Case(lambda gw: _page(
        f"/console/review/{_last_month()}/pdf")(gw)),
    # served from files that ship with the gateway, to anyone: no storage, no customer
    ("GET", "/docs"): Case(_page("/docs", None), no_storage="offline API docs, a static page"),
    ("GET", "/docs/init.js"): Case(_page("/docs/init.js", None), no_storage="a static script"),
    ("GET", "/redoc"): Case(_page("/redoc", None), no_storage="offline API docs, a static page"),
    ("GET", "/console/fonts/{name}"): Case(_page("/console/fonts/NanumGothic.ttf", None),
                                          ok=200 if fonts_dir() else 404,  # a system package
                                          no_storage="the console's font file"),
    ("GET", "/openapi.json"): Case(_page("/openapi.json", None),
                                   no_storage="the API schema, built from the code"),
}
# forms whose valid request needs a set-up of their own (a pending policy set, an archive to
# upload, a month to sign off); their storage goes through the same stores and log as the API
# routes above, and a database error in them is the same 503 (`problems._storage`)
NOT_COVERED = {
    ("POST", "/console/log/verify"): "uploads an export archive; reads no database",
    ("POST", "/console/policy/propose"): "the reloader of POST /v1/admin/policy/reload",
    ("POST", "/console/policy/approve"): "the reloader of POST /v1/admin/policy/approve",
    ("POST", "/console/review/{month}/sign-off"): "needs a month's review to sign off",
}


def _routes(gw: Harness) -> set[tuple[str, str]]:
    """Every route of the app: its API operations and its pages, static mounts aside."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
                walk(route.original_router.routes)
            elif isinstance(route, Route):  # `APIRoute` is one too; mounts are not
                found.update((m, route.path) for m in route.methods or () if m != "HEAD")

    walk(gw.client.app.router.routes)  # type: ignore[attr-defined]
    return found


def _operations(gw: Harness) -> set[tuple[str, str]]:
    """Every operation the app publishes (its OpenAPI document is built from its routes)."""
    spec = gw.client.app.openapi()  # type: ignore[attr-defined]
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


# --- the faults -------------------------------------------------------------------------------
class Fault(Protocol):
    name: str

    def apply(self) -> None: ...

    def clear(self) -> None: ...


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _can_mount() -> str | None:
    """Why mounts cannot be made here (None: they can)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "needs root and mount(8) to put the data folder on a small tmpfs"
    return None


def _reopen(gw: Harness) -> None:
    """Close every database file the gateway holds open; the next use opens them again.

    A remount read-only is refused while files are open for writing, and a forced one makes
    every write through an open descriptor fail: either way what the gateway opens next is
    what sees the new mount. The pools are emptied and the log writer drops its connection
    and its turn file (it is idle: no request is under way)."""
    svc = gw.services
    log = svc.access_log
    log._drop_connection()  # noqa: SLF001 - the writer's own connection, opened again on use
    if log._turn_fd is not None:  # noqa: SLF001
        with contextlib.suppress(OSError):
            os.close(log._turn_fd[1])  # noqa: SLF001
        log._turn_fd = None  # noqa: SLF001
    engines = {svc.gateway_engine, svc.log_engine, svc.tokens_engine,
               *(svc.affiliates.engine(a) for a in svc.affiliates.affiliates)}
    for engine in engines:
        engine.dispose()  # its pool, and the hot-path readers' kept connections with it


class ReadOnlyDatabase:
    """The data folder (gateway database, affiliates, keys) remounted read-only, then
    read-write again: what the gateway opened meanwhile stays read-only until it reopens it."""

    name = "read-only-database"

    def __init__(self, gw: Harness, bound: Path | None) -> None:
        self.gw = gw
        self.data = Path(gw.settings.data_dir)
        self.bound = bound  # the data folder bind-mounted onto itself (root), else None

    def apply(self) -> None:
        if self.bound is None:
            for path in [self.data, *self.data.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
            _reopen(self.gw)
            return
        # root writes through permissions: a read-only mount it is. The kernel refuses it
        # while a file is open for writing, and the gateway's background tasks (checkpoints)
        # open the database again at any moment: close and remount until the two meet
        for _ in range(100):
            _reopen(self.gw)
            result = _run("mount", "-o", "remount,bind,ro", str(self.bound))
            if result.returncode == 0:
                _reopen(self.gw)  # what a task opened in between is reopened read-only
                return
            gc.collect()  # connections dropped but still referenced from a failure's traceback
            time.sleep(0.01)
        raise AssertionError(f"cannot remount the data folder read-only: {result.stderr}")

    def clear(self) -> None:
        if self.bound is not None:
            result = _run("mount", "-o", "remount,bind,rw", str(self.bound))
            assert result.returncode == 0, result.stderr
        else:
            for path in [self.data, *self.data.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


class FullDisk:
    """The file system of the data folder has no free block left."""

    name = "full-disk"

    def __init__(self, gw: Harness, mount: Path) -> None:
        self.gw = gw
        self.filler = mount / "filler"

    def apply(self) -> None:
        # a write-ahead log shrinks only when truncated: a long one would take new frames in
        # space it already holds, as it would on a real disk until the log wraps
        database = make_url(self.gw.settings.gateway_url).database
        assert database is not None
        with contextlib.closing(sqlite3.connect(database)) as conn:
            for _ in range(50):
                if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                    break
                time.sleep(0.02)
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            free = os.statvfs(self.filler)
            with contextlib.suppress(OSError):  # most of it at once, the rest page by page
                os.posix_fallocate(fd, 0, max(free.f_bavail - 16, 0) * free.f_frsize)
            os.lseek(fd, 0, os.SEEK_END)
            while True:
                try:
                    os.write(fd, b"\0" * free.f_frsize)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)

    def clear(self) -> None:
        self.filler.unlink(missing_ok=True)


class Relay:
    """A TCP relay from a local port to the PostgreSQL server; `stop()` is the server going
    away (connections refused, open ones dropped), `start()` its return on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept (Linux)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    server.close()
                    return
                self._open.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


class PostgresStopped:
    name = "postgres-stopped"

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def apply(self) -> None:
        self.relay.stop()

    def clear(self) -> None:
        self.relay.start()


# --- the gateways under test -------------------------------------------------------------------
def _settings(tmp: Path, policy_dir: Path, database_url: str | None = None) -> Any:
    policies = writable_policies(policy_dir, tmp)  # approving a pending set changes the files
    # the test client speaks plain http: cookies marked Secure would not come back
    return build_settings(tmp, policies, database_url).model_copy(
        update={"policy_watch_interval_s": 0, "console_secure_cookies": False})


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 24 MiB tmpfs of the test's own (root), or a plain folder (the full disk is skipped)."""
    where = tmp_path_factory.mktemp("faults-disk")
    if _can_mount() is not None or _run("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs",
                                        str(where)).returncode != 0:
        yield where
        return
    try:
        yield where
    finally:
        _run("umount", "-l", str(where))


@pytest.fixture(scope="module")
def sqlite_gw(disk: Path, policy_dir: Path) -> Iterator[Harness]:
    for gw in start_harness(_settings(disk, policy_dir)):
        add_users(gw)  # the console's users, one of each role
        yield gw


@pytest.fixture(scope="module")
def bound_data(sqlite_gw: Harness) -> Iterator[Path | None]:
    """The data folder bind-mounted onto itself, so that it can be remounted read-only alone
    (root); None where mounts cannot be made (`chmod` protects the files instead)."""
    data = Path(sqlite_gw.settings.data_dir)
    if _can_mount() is not None or _run("mount", "--bind", str(data), str(data)).returncode:
        yield None
        return
    try:
        yield data
    finally:
        _run("umount", "-l", str(data))  # lazily: the gateway still holds its files


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    base = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("GATEWAY_TEST_POSTGRES_URL is not set")
    url = make_url(base)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def pg_gw(relay: Relay, tmp_path_factory: pytest.TempPathFactory,
          policy_dir: Path) -> Iterator[Harness]:
    with postgres_schema("h_faults") as direct:
        url = make_url(direct).set(host="127.0.0.1", port=relay.port)
        settings = _settings(tmp_path_factory.mktemp("faults-pg"), policy_dir,
                             url.render_as_string(hide_password=False))
        for gw in start_harness(settings):
            add_users(gw)
            yield gw


FAULTS = ("read-only-database", "full-disk", "postgres-stopped")


@pytest.fixture
def harness_and_fault(request: pytest.FixtureRequest, disk: Path) -> tuple[Harness, Fault]:
    name = request.param
    if name == "postgres-stopped":
        relay: Relay = request.getfixturevalue("relay")
        return request.getfixturevalue("pg_gw"), PostgresStopped(relay)
    gw: Harness = request.getfixturevalue("sqlite_gw")
    if name == "read-only-database":
        return gw, ReadOnlyDatabase(gw, request.getfixturevalue("bound_data"))
    if (why := _can_mount()) is not None or not os.path.ismount(disk):
        pytest.skip(f"full disk not simulated: {why or 'the tmpfs could not be mounted'}")
    return gw, FullDisk(gw, disk)


def _marks(fault: str) -> list[pytest.MarkDecorator]:
    # 150 requests with their set-up and recovery: about 20 s on SQLite, 20 s on PostgreSQL
    return [pytest.mark.slow, *([pytest.mark.postgres] if fault == "postgres-stopped" else [])]


MATRIX = [pytest.param(fault, key, id=f"{fault}:{key[0]} {key[1]}", marks=_marks(fault))
          for fault in FAULTS for key in CASES]
CONSOLE_MATRIX = [pytest.param(fault, key, id=f"{fault}:{key[0]} {key[1]}", marks=_marks(fault))
                  for fault in FAULTS for key in CONSOLE_CASES]


# --- the tests ---------------------------------------------------------------------------------
def test_every_route_has_a_request_case(sqlite_gw: Harness) -> None:
    """A new route fails here until it has a case in the matrix."""
    published = _operations(sqlite_gw)
    assert published - CASES.keys() == set(), "API operations with no storage-fault case"
    assert CASES.keys() - published == set(), "cases of operations that no longer exist"
    pages = _routes(sqlite_gw) - published
    assert pages - CONSOLE_CASES.keys() - NOT_COVERED.keys() == set(), (
        "pages with no storage-fault case")
    assert (CONSOLE_CASES.keys() | NOT_COVERED.keys()) - pages == set(), (
        "cases of pages that no longer exist")


def _leaked(content: bytes, call: Call) -> list[int]:
    """Which of the customer's values an answer holds, by position (a failure must not print
    them: one is a national id number)."""
    values = (*call.secrets, *CUSTOMER_VALUES)
    return [n for n, value in enumerate(values) if value.encode() in content]


def assert_fault_answer(response: Any, call: Call, case: Case) -> None:
    text = response.text
    assert not _leaked(response.content, call), "customer data in an answer under a fault"
    for words in FAILURE_TEXT:
        assert words not in text, f"the failure's own text in the answer: {words!r}"
    if case.no_storage is not None and response.status_code == 200:
        return
    assert response.status_code == 503, text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] in UNAVAILABLE_TYPES, problem
    assert problem["status"] == 503 and problem["title"] and problem["detail"]
    assert "released" not in problem and "log_index" not in problem
    assert "x-log-index" not in response.headers


@contextlib.contextmanager
def _striking(gw: Harness, fault: Fault, moment: str) -> Iterator[list[str]]:
    """The fault strikes before the request (`before`), or just after the request's first
    durable write (`mid-request`): its token id claimed, or the record that claims it made
    durable, so that what the route does next meets the fault. It clears on the way out.
    Yields what it struck after."""
    struck: list[str] = []

    def strike(after: str) -> None:
        if not struck:
            struck.append(after)
            fault.apply()

    log = gw.services.access_log
    real_claim, real_append = log.claim_token_async, log.append_async

    async def claim(token: Any) -> None:
        await real_claim(token)
        strike("token claimed")

    async def append(record: dict[str, Any], **kw: Any) -> int:
        index = await real_append(record, **kw)
        strike("record durable")
        return index

    try:
        if moment == "before":
            strike("nothing")
        else:
            log.claim_token_async = claim  # type: ignore[method-assign]
            log.append_async = append  # type: ignore[method-assign]
        yield struck
    finally:
        vars(log).pop("claim_token_async", None)  # the class's methods again
        vars(log).pop("append_async", None)
        if struck:
            fault.clear()


def assert_recorded_if_answered(gw: Harness, response: Any, case: Case) -> None:
    """A fault that struck mid-request may leave the route nothing more to store: its answer
    may then be the ordinary one, but only if what it answers is durably recorded."""
    assert response.status_code == case.ok, response.text
    body = response.json() if response.headers["content-type"].startswith(
        "application/json") else {}
    index = response.headers.get("x-log-index") or (
        body.get("log_index") if isinstance(body, dict) else None)
    if index is not None:  # the answer names its record: it must be in the log
        record = json.loads(gw.services.access_log.record(int(index)))
        if isinstance(body, dict) and "request_id" in body:
            assert record["request_id"] == body["request_id"]


def _sent_under(gw: Harness, fault: Fault, moment: str, call: Call,
                caplog: pytest.LogCaptureFixture) -> tuple[Any, list[str]]:
    """`call` sent while `fault` strikes at `moment`: its answer and where the fault struck.
    No traceback may reach the server log."""
    caplog.clear()
    with caplog.at_level(logging.WARNING), _striking(gw, fault, moment) as struck:
        answer = call.send(gw)
    for entry in caplog.records:
        assert entry.exc_info is None and "Traceback" not in entry.getMessage(), (
            f"a traceback in the server log: {entry.getMessage()}")
    return answer, struck


@pytest.mark.parametrize("moment", ["before", "mid-request"])
@pytest.mark.parametrize(("harness_and_fault", "key"), MATRIX, indirect=["harness_and_fault"])
def test_storage_fault_is_a_503_and_recovers(harness_and_fault: tuple[Harness, Fault],
                                             key: tuple[str, str], moment: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    gw, fault = harness_and_fault
    case = CASES[key]
    call = case.prepare(gw)
    answer, struck = _sent_under(gw, fault, moment, call, caplog)
    if moment == "before" or answer.status_code >= 500:
        assert_fault_answer(answer, call, case)
    else:  # struck after what the answer needed from storage, or never (it needs none)
        assert case.no_storage is not None or struck, "the fault never struck"
        assert_recorded_if_answered(gw, answer, case)

    # recovery: the same request, a new token, once the fault cleared
    again = case.prepare(gw)
    response = again.send(gw)
    assert response.status_code == case.ok, response.text


# the pages' storage is the API's (sessions aside): one moment, before the request, is enough
@pytest.mark.parametrize("moment", ["before"])
@pytest.mark.parametrize(("harness_and_fault", "key"), CONSOLE_MATRIX,
                         indirect=["harness_and_fault"])
def test_console_page_under_a_storage_fault(harness_and_fault: tuple[Harness, Fault],
                                            key: tuple[str, str], moment: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """People-facing pages: never a 500, never a customer's data under a fault, and back once
    it clears. A page that needs only reads may still be shown while the disk is full; one
    that shows a customer records that first, so it fails with the fault. (A 503 page is the
    API's problem document for a database error, the console's own Korean page for a record
    that could not be written.)"""
    gw, fault = harness_and_fault
    case = CONSOLE_CASES[key]
    call = case.prepare(gw)
    answer, struck = _sent_under(gw, fault, moment, call, caplog)
    if struck != ["record durable"]:  # else the page's access record covers what it shows
        assert not _leaked(answer.content, call), "customer data under a storage fault"
    if answer.status_code >= 500:
        assert answer.status_code == 503, answer.text
        for words in FAILURE_TEXT:
            assert words.encode() not in answer.content, f"the failure's own text: {words!r}"
    elif moment == "before" and fault.name == "postgres-stopped":
        # nothing of the console works without its database, but what ships as files
        assert case.no_storage is not None, answer.status_code

    again = case.prepare(gw)
    response = again.send(gw)
    assert response.status_code == case.ok, response.text
