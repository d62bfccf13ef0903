"""`gateway log export --rrn -`: one customer chosen by national id number, read from stdin."""

from __future__ import annotations

import json
import random
import secrets
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.services import Services
from pseudonymizer.rrn import generate_rrn, parse_national_id
from tests.policy.test_policy_explain import Seeded, env, seeded  # noqa: F401  (fixtures)

runner = CliRunner()


def _records(settings: object) -> list[dict[str, object]]:
    svc = Services.build(settings)  # type: ignore[arg-type]
    try:
        log = svc.access_log
        return [json.loads(r) for r in log.records(0, log.size())]
    finally:
        svc.close()


def test_export_by_rrn_from_stdin_selects_the_customer_and_records_the_look_up(
        env: Seeded, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "one.tar"
    result = runner.invoke(app, ["log", "export", "--out", str(out), "--exported-by", "auditor",
                                 "--rrn", "-"], input=env.rrn + "\n")
    assert result.exit_code == 0, result.output
    assert env.rrn not in result.output
    assert parse_national_id(env.rrn).digits not in result.output
    lookups = [r for r in _records(env.settings) if r["kind"] == "customer.lookup"]
    assert lookups[-1]["status"] == 200 and lookups[-1]["by"] == "auditor"
    assert lookups[-1]["source"] == "cli" and lookups[-1]["customer"]
    verified = runner.invoke(app, ["log", "verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "customers: 1 customer key(s)" in verified.stdout


def test_export_refuses_an_rrn_on_the_command_line(env: Seeded, tmp_path: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["log", "export", "--out", str(tmp_path / "x.tar"),
                                 "--exported-by", "auditor", "--rrn", env.rrn])
    assert result.exit_code == 2
    assert "standard input" in result.stderr and env.rrn not in result.output


def test_an_unknown_number_exports_nothing_but_is_recorded(env: Seeded, tmp_path: Path) -> None:  # noqa: F811
    nobody = generate_rrn(random.Random(secrets.randbits(32)), birth=date(1966, 6, 6), sex=2)
    result = runner.invoke(app, ["log", "export", "--out", str(tmp_path / "x.tar"),
                                 "--exported-by", "auditor", "--rrn", "-"], input=nobody + "\n")
    assert result.exit_code == 1
    assert not (tmp_path / "x.tar").exists() and nobody not in result.output
    assert _records(env.settings)[-1]["status"] == 404


def test_garbage_on_stdin_is_refused_without_echo(env: Seeded, tmp_path: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["log", "export", "--out", str(tmp_path / "x.tar"),
                                 "--exported-by", "auditor", "--rrn", "-"], input="12345-abc\n")
    assert result.exit_code == 2 and "12345-abc" not in result.output
