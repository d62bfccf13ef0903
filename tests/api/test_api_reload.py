"""Policy reload with four eyes: a changed set is pending until a second officer approves its
exact version; the switch is atomic and recorded; invalid sets are never pending nor live."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import LogWriteFailed
from gateway.governance import Officer
from gateway.reload import PolicyReloader, PolicyWatcher
from gateway.services import Services
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness
from tests.conftest import writable_policies

RULE_LINE = "      annual_income: band\n"  # first occurrence: rule card-credit-risk-from-bank


@pytest.fixture()
def policies(tmp_path: Path, policy_dir: Path) -> Path:
    return writable_policies(policy_dir, tmp_path)


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


def reload(gw: Harness, system: str = "holding-privacy", officer: str = "officer-kim") -> Any:
    return gw.client.post("/v1/admin/policy/reload", headers=gw.auth(system, employee=officer))


def approve(gw: Harness, version: str, officer: str = "officer-lee",
            system: str = "holding-privacy") -> Any:
    return gw.client.post("/v1/admin/policy/approve", json={"version": version},
                          headers=gw.auth(system, employee=officer))


def switch(gw: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """Propose the files as officer-kim and approve them as officer-lee."""
    proposed = reload(gw)
    assert proposed.status_code == 200, proposed.text
    approved = approve(gw, proposed.json()["version"])
    assert approved.status_code == 200, approved.text
    return proposed.json(), approved.json()


def version(gw: Harness) -> str:
    return str(gw.client.get("/healthz").json()["policy_version"])


def record(gw: Harness, index: int) -> dict[str, Any]:
    return dict(json.loads(gw.services.access_log.record(index)))


def records(gw: Harness, kind: str) -> list[dict[str, Any]]:
    return [r for r in map(lambda i: record(gw, i), range(gw.services.access_log.size()))
            if r["kind"] == kind]


def test_valid_change_is_pending_until_a_second_officer_approves(
    hgw: Harness, policies: Path
) -> None:
    old = version(hgw)
    close_income_access(policies)
    response = reload(hgw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "proposed" and body["live_version"] == old
    new = body["version"]
    assert new != old and not body["applied"]
    assert version(hgw) == old  # pending, not live
    customer = hgw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    query = hgw.query("card-risk", customer.ref, "credit_risk", ["annual_income"])
    assert "annual_income" in query.json()["released"]  # the old rule still applies
    proposal = record(hgw, body["log_index"])
    assert proposal["kind"] == "policy.proposed" and proposal["trigger"] == "admin-call"
    assert (proposal["live_version"], proposal["new_version"]) == (old, new)
    assert proposal["actor"]["employee"] == "officer-kim"
    assert proposal["actor"]["system"] == "holding-privacy"
    pending = hgw.client.get("/v1/admin/policy/pending", headers=hgw.auth("holding-privacy"))
    assert pending.status_code == 200, pending.text
    assert pending.json()["pending"]["version"] == new
    assert pending.json()["pending"]["proposed_by"] == "officer-kim"

    approved = approve(hgw, new)
    assert approved.status_code == 200, approved.text
    assert approved.json()["proposed_by"] == "officer-kim"
    assert approved.json()["approved_by"] == "officer-lee"
    assert version(hgw) == new
    entry = record(hgw, approved.json()["log_index"])
    assert entry["kind"] == "policy.approved" and entry["four_eyes"] is True
    assert (entry["old_version"], entry["new_version"]) == (old, new)
    assert (entry["proposed_by"], entry["approved_by"]) == ("officer-kim", "officer-lee")
    assert entry["actor"]["employee"] == "officer-lee"
    assert entry["proposal_index"] == body["log_index"]
    query = hgw.query("card-risk", customer.ref, "credit_risk", ["annual_income"])
    assert query.json()["policy_version"] == new and "annual_income" not in query.json()["released"]
    # nothing changed since: a second call proposes nothing and records nothing
    size = hgw.services.access_log.size()
    again = reload(hgw).json()
    assert again["outcome"] == "unchanged" and again["log_index"] is None
    assert hgw.services.access_log.size() == size


def test_the_proposer_may_not_approve(hgw: Harness, policies: Path) -> None:
    old = version(hgw)
    close_income_access(policies)
    new = reload(hgw, officer="officer-kim").json()["version"]
    refused = approve(hgw, new, officer="Officer-Kim")  # the same person, other case
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/policy-self-approval")
    assert version(hgw) == old
    entry = record(hgw, refused.json()["log_index"])
    assert entry["kind"] == "policy.approval_refused" and entry["reason"] == "self-approval"
    assert entry["actor"]["employee"] == "Officer-Kim"


@pytest.mark.parametrize("which", [
    "unknown",  # a hash nobody proposed
    "stale",  # proposed, then a newer edit replaced it before approval
    "live",  # the version in force already
])
def test_only_the_pending_version_can_be_approved(
    hgw: Harness, policies: Path, which: str
) -> None:
    old = version(hgw)
    close_income_access(policies)
    first = reload(hgw).json()["version"]
    rules = policies / "rules.yaml"
    rules.write_text(rules.read_text("utf-8") + "# a second edit\n", "utf-8")
    second = reload(hgw).json()["version"]
    target = {"unknown": "sha256:" + "0" * 64, "stale": first, "live": old}[which]
    refused = approve(hgw, target)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/policy-version-not-pending")
    assert "log_index" in refused.json()
    assert version(hgw) == old
    assert approve(hgw, second).status_code == 200  # the pending one still can be
    assert version(hgw) == second


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
    assert "정책 파일에 문제가" in problem["detail_ko"]
    errors = problem["errors"]
    assert any(e["file"].endswith("purposes.yaml") and e["line"] > 0 for e in errors)
    assert all(e["code"].startswith("P") and e["code"] != "P000" for e in errors)
    assert all(e["message_ko"] and e["message_en"] for e in errors)
    # the officer's folder, not a temporary copy, so the console can link to the line
    assert all(Path(e["file"]).parent == policies for e in errors)
    assert "REJECTED" in caplog.text
    assert version(hgw) == old
    customer = hgw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    query = hgw.query("card-risk", customer.ref, "credit_risk", ["annual_income"])
    assert query.status_code == 200 and query.json()["policy_version"] == old
    rejected = records(hgw, "policy.reload_rejected")
    assert rejected and rejected[-1]["problems"] >= 1
    assert rejected[-1]["actor"]["employee"] == "officer-kim"
    assert hgw.services.reloader.store.pending() is None


@pytest.mark.parametrize("path, system", [
    ("/v1/admin/policy/reload", "card-risk"),
    ("/v1/admin/policy/approve", "card-risk"),
])
def test_reload_and_approve_need_their_permission(hgw: Harness, path: str, system: str) -> None:
    response = hgw.client.post(path, json={"version": "sha256:" + "0" * 64},
                               headers=hgw.auth(system))
    assert response.status_code == 403
    assert "log_index" in response.json()  # the refusal itself is on record


def test_switch_under_concurrent_queries_is_atomic(hgw: Harness, policies: Path) -> None:
    """Every answer pairs the version it names with that version's rule; none is lost."""
    customer = hgw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    old = version(hgw)
    stop = threading.Event()
    answers: list[tuple[float, dict[str, Any]]] = []

    sent = itertools.count()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            # many employees: the load must not reach one employee's rate limit
            response = hgw.client.post(
                "/v1/queries", headers=hgw.auth("card-risk", employee=f"load{next(sent)}"),
                json={"customer": customer.ref, "purpose": "credit_risk",
                      "attributes": ["annual_income", "credit_grade"]})
            assert response.status_code == 200, response.text
            answers.append((started, response.json()))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        time.sleep(0.3)
        close_income_access(policies)
        _, switched = switch(hgw)
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
    assert new != old
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


def test_file_watch_holds_a_change_pending(tmp_path: Path, policies: Path) -> None:
    settings = build_settings(tmp_path, policies).model_copy(
        update={"policy_watch_interval_s": 0.05})
    for gw in start_harness(settings):
        old = version(gw)
        close_income_access(policies)
        deadline = time.monotonic() + 10
        while gw.services.reloader.store.pending() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pending = gw.services.reloader.store.pending()
        assert pending is not None and pending.proposed_by is None
        assert version(gw) == old  # found, checked, not live
        detected = records(gw, "policy.detected")
        # found by the watcher, or by the start-up check when the edit beat it (a race the
        # test does not control): either way found by the gateway, proposed by nobody
        assert detected[-1]["trigger"] in ("file-watch", "start")
        assert detected[-1]["new_version"] == pending.version
        # nobody has put their name to it: it cannot be approved yet
        refused = approve(gw, pending.version)
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/policy-not-proposed")
        # an officer proposes it (the same version), a second one approves
        proposed, approved = switch(gw)
        assert proposed["version"] == pending.version and proposed["outcome"] == "proposed"
        assert version(gw) == pending.version
        assert approved["proposed_by"] == "officer-kim"


class _FailingLog:
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int:
        raise LogWriteFailed("access log unavailable")


def test_nothing_pending_nor_live_without_a_durable_record(hgw: Harness, policies: Path) -> None:
    holder = hgw.services.policy
    old = holder.current.version
    store = hgw.services.reloader.store
    reloader = PolicyReloader(holder, _FailingLog(), policies,
                              Path(hgw.settings.public_keys_dir), store)
    close_income_access(policies)
    result = reloader.reload("test", officer=Officer.named("officer-kim", via="cli"))
    assert result.outcome == "unrecorded" and holder.current.version == old
    assert store.pending() is None
    # pending (recorded by the real log), but the approval cannot be recorded: nothing changes
    new = reload(hgw).json()["version"]
    with pytest.raises(LogWriteFailed):
        reloader.approve(new, Officer.named("officer-lee", via="cli"))
    assert holder.current.version == old and store.live_version() == old


def test_watcher_waits_for_a_still_set(hgw: Harness, policies: Path) -> None:
    watcher = PolicyWatcher(hgw.services.reloader)
    assert watcher.poll() is None  # nothing changed
    close_income_access(policies)
    assert watcher.poll() is None  # changed just now: wait one tick
    result = watcher.poll()
    assert result is not None and result.outcome == "pending"
    assert watcher.poll() is None


def test_every_process_follows_an_approval_and_a_restart_keeps_it(
    hgw: Harness, policies: Path
) -> None:
    """Two processes on one database: one approves, the other follows; a process started
    later serves the approved set even though the files on disk have moved on since."""
    other = Services.build(hgw.settings)
    try:
        old = other.policy.current.version
        close_income_access(policies)
        proposed, approved = switch(hgw)
        assert other.policy.current.version == old
        assert other.reloader.follow() is True
        assert other.policy.current.version == approved["new_version"]
        assert other.reloader.follow() is False  # nothing new
    finally:
        other.close()
    rules = policies / "rules.yaml"
    rules.write_text(rules.read_text("utf-8") + "# not approved\n", "utf-8")
    restarted = Services.build(hgw.settings)
    try:
        assert restarted.policy.current.version == approved["new_version"]
    finally:
        restarted.close()


def test_auto_apply_makes_a_valid_set_live_and_says_so(tmp_path: Path, policies: Path) -> None:
    settings = build_settings(tmp_path, policies).model_copy(
        update={"policy_watch_interval_s": 0, "policy_auto_apply": True})
    for gw in start_harness(settings):
        old = version(gw)
        close_income_access(policies)
        body = reload(gw).json()
        assert body["applied"] is True and version(gw) == body["version"] != old
        approved = records(gw, "policy.approved")[-1]
        assert approved["approved_by"] == "auto-apply" and approved["four_eyes"] is False
        assert approved["proposed_by"] == "officer-kim"


def test_auto_apply_is_off_outside_the_demo(tmp_path: Path, policies: Path) -> None:
    settings = build_settings(tmp_path, policies)
    assert settings.policy_auto_apply_effective is False
    assert settings.model_copy(update={"demo": True}).policy_auto_apply_effective is True


@pytest.mark.slow
def test_sighup_holds_pending_and_the_cli_approves_across_processes(
    tmp_path: Path, policies: Path
) -> None:
    """`kill -HUP` on a running `gateway serve` holds the files pending; `gateway policy
    propose` and `approve`, run by two officers in other processes, make the server switch."""
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
           "GATEWAY_POLICY_WATCH_INTERVAL_S": "0",
           "GATEWAY_POLICY_FOLLOW_INTERVAL_S": "0.1"}
    subprocess.run([gateway, "keys", "init"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([gateway, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/healthz"

    def current() -> str | None:
        try:
            return str(httpx.get(url, timeout=1).json()["policy_version"])
        except httpx.HTTPError:
            return None

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([gateway, "policy", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    try:
        deadline = time.monotonic() + 30
        while (old := current()) is None:
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        close_income_access(policies)
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "pending: none" in (shown := cli("pending").stdout) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "found by sighup" in shown and "nobody yet" in shown
        assert current() == old
        proposed = cli("propose", "--officer", "officer-kim")
        assert proposed.returncode == 0, proposed.stderr
        new = shown.split("pending: ")[1].split()[0]
        assert f"proposed by officer-kim: {new}" in proposed.stdout
        own = cli("approve", new, "--officer", "officer-kim")
        assert own.returncode == 2 and "a second officer must approve it" in own.stderr
        approved = cli("approve", new, "--officer", "officer-lee")
        assert approved.returncode == 0, approved.stderr
        assert "proposed by officer-kim, approved by officer-lee" in approved.stdout
        deadline = time.monotonic() + 10
        while current() == old and time.monotonic() < deadline:
            time.sleep(0.05)
        assert current() == new
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    assert b"is PENDING (sighup)" in err


def test_openapi_documents_the_approval_problems(hgw: Harness) -> None:
    paths = hgw.client.get("/openapi.json").json()["paths"]
    approve_op = paths["/v1/admin/policy/approve"]["post"]
    conflict = approve_op["responses"]["409"]
    assert "not the pending one" in conflict["description"]
    assert "application/problem+json" in conflict["content"]
    assert "get" in paths["/v1/admin/policy/pending"]


@pytest.mark.postgres
def test_four_eyes_across_processes_on_postgres(tmp_path: Path, policies: Path) -> None:
    """The pending and live state on PostgreSQL: two processes, one approves, the other
    follows; a stale version and self-approval are refused there too."""
    from tests.conftest import postgres_schema

    with postgres_schema("gw_approval") as url:
        settings = build_settings(tmp_path, policies, database_url=url).model_copy(
            update={"policy_watch_interval_s": 0})
        for gw in start_harness(settings):
            assert gw.services.gateway_engine.dialect.name == "postgresql"
            other = Services.build(gw.settings)
            try:
                old = version(gw)
                close_income_access(policies)
                new = reload(gw).json()["version"]
                assert approve(gw, new, officer="officer-kim").status_code == 403
                assert approve(gw, old).status_code == 409
                assert approve(gw, new).status_code == 200
                assert other.reloader.follow() and other.policy.current.version == new
                entry = records(gw, "policy.approved")[-1]
                assert (entry["proposed_by"], entry["approved_by"]) == ("officer-kim",
                                                                        "officer-lee")
            finally:
                other.close()


@pytest.mark.parametrize("typed", [
    "sha256:" + "0" * 63,  # one digit short
    "900101-1234568",  # anything a person might paste: refused, never repeated nor recorded
    "",
])
def test_a_malformed_version_is_refused_and_not_repeated(hgw: Harness, typed: str) -> None:
    refused = approve(hgw, typed)
    assert refused.status_code == 422, refused.text
    if typed:
        assert refused.json()["type"].endswith("/policy-version-malformed")
        assert typed not in refused.text
        entry = record(hgw, refused.json()["log_index"])
        assert entry["reason"] == "malformed" and entry["version"] is None
        assert typed not in json.dumps(entry)


def test_files_back_at_the_live_version_withdraw_the_pending_set(
    hgw: Harness, policies: Path
) -> None:
    rules = policies / "rules.yaml"
    original = rules.read_text("utf-8")
    close_income_access(policies)
    pending = reload(hgw).json()["version"]
    rules.write_text(original, "utf-8")
    assert reload(hgw).json()["outcome"] == "unchanged"
    assert hgw.services.reloader.store.pending() is None
    assert records(hgw, "policy.withdrawn")[-1]["version"] == pending
    assert approve(hgw, pending).status_code == 409


def test_a_start_without_the_policy_store_says_to_migrate(tmp_path: Path, policies: Path) -> None:
    from gateway.errors import ConfigError
    from gateway.services import ensure_secrets

    settings = build_settings(tmp_path, policies)
    ensure_secrets(settings, create=True)
    with pytest.raises(ConfigError, match=r"run `gateway db upgrade` first"):
        Services.build(settings)  # no migration has run


def test_a_live_set_that_no_longer_builds_stops_the_start(hgw: Harness, policies: Path) -> None:
    """Its problems name the officer's folder (with lines), not a temporary copy."""
    from gateway.policy import PolicyLoadError

    key = Path(hgw.settings.public_keys_dir) / "systems" / "card-risk.pub.pem"
    key.unlink()
    with pytest.raises(PolicyLoadError) as info:
        Services.build(hgw.settings)
    assert [p.code for p in info.value.problems] == ["P041"]
    assert Path(info.value.problems[0].file) == policies / "affiliates.yaml"


def test_a_process_behind_on_an_approval_does_not_propose_the_live_set_again(
    hgw: Harness, policies: Path
) -> None:
    """Another process approved the files; this one has not followed yet: its watcher sees
    the live set, not a new pending one."""
    other = Services.build(hgw.settings)
    try:
        close_income_access(policies)
        _, approved = switch(hgw)
        assert other.policy.current.version != approved["new_version"]  # not followed yet
        size = hgw.services.access_log.size()
        assert other.reloader.reload("file-watch").outcome == "unchanged"
        assert hgw.services.access_log.size() == size  # no `policy.detected`
        assert other.reloader.store.pending() is None
    finally:
        other.close()
