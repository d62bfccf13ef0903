"""Policy hot reload: valid sets switch atomically and are recorded; invalid sets never do."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import LogWriteFailed
from gateway.reload import PolicyReloader, PolicyWatcher
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness

RULE_LINE = "      annual_income: band\n"  # first occurrence: rule card-credit-risk-from-bank


@pytest.fixture()
def policies(tmp_path: Path, policy_dir: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(policy_dir, copy, ignore=shutil.ignore_patterns("tests"))
    return copy


@pytest.fixture()
def hgw(tmp_path: Path, policies: Path) -> Iterator[Harness]:
    settings = build_settings(tmp_path, policies).model_copy(
        update={"policy_watch_interval_s": 0})
    yield from start_harness(settings)


def close_income_access(policies: Path) -> None:
    """The change under test: card-risk no longer sees the income band for credit risk."""
    rules = policies / "rules.yaml"
    text = rules.read_text("utf-8")
    assert RULE_LINE in text
    rules.write_text(text.replace(RULE_LINE, "", 1), "utf-8")


def reload(gw: Harness, system: str = "holding-privacy") -> Any:
    return gw.client.post("/v1/admin/policy/reload", headers=gw.auth(system))


def version(gw: Harness) -> str:
    return str(gw.client.get("/healthz").json()["policy_version"])


def record(gw: Harness, index: int) -> dict[str, Any]:
    return dict(json.loads(gw.services.access_log.record(index)))


def test_valid_change_switches_and_is_recorded(hgw: Harness, policies: Path) -> None:
    old = version(hgw)
    close_income_access(policies)
    response = reload(hgw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "switched" and body["old_version"] == old
    assert body["new_version"] != old and version(hgw) == body["new_version"]
    entry = record(hgw, body["log_index"])
    assert entry["kind"] == "policy.reload" and entry["trigger"] == "admin-call"
    assert (entry["old_version"], entry["new_version"]) == (old, body["new_version"])
    assert entry["actor"]["system"] == "holding-privacy"
    # nothing changed since: a second call switches nothing and records nothing
    size = hgw.services.access_log.size()
    again = reload(hgw).json()
    assert again["outcome"] == "unchanged" and again["log_index"] is None
    assert hgw.services.access_log.size() == size


def test_invalid_change_keeps_serving_the_old_version(
    hgw: Harness, policies: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = version(hgw)
    purposes = policies / "purposes.yaml"
    purposes.write_text(purposes.read_text("utf-8").replace(
        "retention_days: 30", "retention_days: thirty", 1), "utf-8")
    with caplog.at_level(logging.ERROR, logger="gateway.reload"):
        response = reload(hgw)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/policy-invalid")
    assert problem["policy_version"] == old
    assert any(e["file"].endswith("purposes.yaml") and e["line"] > 0 for e in problem["errors"])
    assert "REJECTED" in caplog.text
    assert version(hgw) == old
    customer = hgw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    query = hgw.query("card-risk", customer.ref, "credit_risk", ["annual_income"])
    assert query.status_code == 200 and query.json()["policy_version"] == old
    rejected = [r for r in map(lambda i: record(hgw, i), range(hgw.services.access_log.size()))
                if r["kind"] == "policy.reload_rejected"]
    assert rejected and rejected[-1]["problems"] >= 1


def test_reload_needs_its_permission(hgw: Harness) -> None:
    response = reload(hgw, system="card-risk")
    assert response.status_code == 403
    assert "log_index" in response.json()  # the refusal itself is on record


def test_switch_under_concurrent_queries_is_atomic(hgw: Harness, policies: Path) -> None:
    """Every answer pairs the version it names with that version's rule; none is lost."""
    customer = hgw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    old = version(hgw)
    stop = threading.Event()
    answers: list[tuple[float, dict[str, Any]]] = []

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            response = hgw.query("card-risk", customer.ref, "credit_risk",
                                 ["annual_income", "credit_grade"])
            assert response.status_code == 200, response.text
            answers.append((started, response.json()))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        time.sleep(0.3)
        close_income_access(policies)
        switched = reload(hgw).json()
        switched_at = time.monotonic()
        time.sleep(0.3)
        # an invalid set mid-load: rejected, the new version keeps serving
        (policies / "rules.yaml").write_text("rules: [\n", "utf-8")
        assert reload(hgw).status_code == 422
        time.sleep(0.2)
        stop.set()
        for future in futures:
            future.result()

    new = switched["new_version"]
    assert switched["outcome"] == "switched" and new != old
    versions = {body["policy_version"] for _, body in answers}
    assert versions == {old, new}
    for started, body in answers:
        has_income = "annual_income" in body["released"]
        # the version an answer names decides what it released: never a mix
        assert has_income == (body["policy_version"] == old)
        assert "credit_grade" in body["released"]
        if started > switched_at:
            assert body["policy_version"] == new
        entry = record(hgw, body["log_index"])
        assert entry["policy_version"] == body["policy_version"]
    assert len({body["log_index"] for _, body in answers}) == len(answers)


def test_file_watch_switches_once_the_files_are_still(tmp_path: Path, policies: Path) -> None:
    settings = build_settings(tmp_path, policies).model_copy(
        update={"policy_watch_interval_s": 0.05})
    for gw in start_harness(settings):
        old = version(gw)
        close_income_access(policies)
        deadline = time.monotonic() + 10
        while version(gw) == old and time.monotonic() < deadline:
            time.sleep(0.05)
        assert version(gw) != old
        last = gw.services.reloader.last
        assert last is not None and last.outcome == "switched"
        assert record(gw, last.log_index or 0)["trigger"] == "file-watch"


class _FailingLog:
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int:
        raise LogWriteFailed("access log unavailable")


def test_no_switch_without_a_durable_record(hgw: Harness, policies: Path) -> None:
    holder = hgw.services.policy
    old = holder.current.version
    reloader = PolicyReloader(holder, _FailingLog(), policies,
                              Path(hgw.settings.public_keys_dir))
    close_income_access(policies)
    result = reloader.reload("test")
    assert result.outcome == "unrecorded" and holder.current.version == old


def test_watcher_waits_for_a_still_set(hgw: Harness, policies: Path) -> None:
    watcher = PolicyWatcher(hgw.services.reloader)
    assert watcher.poll() is None  # nothing changed
    close_income_access(policies)
    assert watcher.poll() is None  # changed just now: wait one tick
    result = watcher.poll()
    assert result is not None and result.outcome == "switched"
    assert watcher.poll() is None


@pytest.mark.slow
def test_sighup_reloads_a_real_server(tmp_path: Path, policies: Path) -> None:
    """`kill -HUP` on a running `gateway serve` switches to the files on disk."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = str(Path(sys.executable).parent / "gateway")
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data"),
           "GATEWAY_POLICY_DIR": str(policies),
           "GATEWAY_PUBLIC_KEYS_DIR": str(tmp_path / "public-keys"),
           "GATEWAY_POLICY_WATCH_INTERVAL_S": "0"}
    subprocess.run([gateway, "keys", "init"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([gateway, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/healthz"

    def current() -> str | None:
        try:
            return str(httpx.get(url, timeout=1).json()["policy_version"])
        except httpx.HTTPError:
            return None

    try:
        deadline = time.monotonic() + 30
        while (old := current()) is None:
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        close_income_access(policies)
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while current() == old and time.monotonic() < deadline:
            time.sleep(0.05)
        assert current() not in (old, None)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    assert b"policy reloaded (sighup)" in err
