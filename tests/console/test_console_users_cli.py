"""`gateway users add`: Argon2id hash stored, TOTP secret printed once, the addition recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.console.models import ConsoleUser
from gateway.settings import get_settings
from tests.console.conftest import ConsoleHarness


@pytest.fixture
def runner(console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    settings = console.gw.settings
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(settings.public_keys_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _row(console: ConsoleHarness, username: str) -> ConsoleUser | None:
    with console.gw.services.gateway_engine.connect() as conn:
        return conn.execute(select(ConsoleUser.__table__).where(  # type: ignore[return-value]
            ConsoleUser.username == username)).first()


def test_officer_gets_a_totp_secret_printed_once(console: ConsoleHarness,
                                                 runner: CliRunner) -> None:
    result = runner.invoke(app, ["users", "add", "jung.officer", "--role", "privacy_officer",
                                 "--name", "정하은", "--password", "a long enough secret"])
    assert result.exit_code == 0, result.output
    row = _row(console, "jung.officer")
    assert row is not None and row.password_hash.startswith("$argon2id$")
    assert "a long enough secret" not in row.password_hash
    assert f"secret: {row.totp_secret}" in result.output
    assert "otpauth://totp/" in result.output
    assert pyotp.TOTP(row.totp_secret).now().isdigit()
    added = console.records("console.user.add")[-1]
    assert added["user"] == "jung.officer" and added["role"] == "privacy_officer"


def test_agent_gets_no_second_factor(console: ConsoleHarness, runner: CliRunner) -> None:
    result = runner.invoke(app, ["users", "add", "han.agent", "--role", "call_centre_agent",
                                 "--name", "한지우", "--affiliate", "bank",
                                 "--password", "another long secret"])
    assert result.exit_code == 0, result.output
    row = _row(console, "han.agent")
    assert row is not None and row.totp_secret is None and "secret:" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["bad name", "--role", "auditor", "--name", "x", "--password", "long enough pw"],
     "`username` must be"),
    (["short.pw", "--role", "auditor", "--name", "x", "--password", "short"],
     "at least 12 characters"),
    (["no.role", "--role", "superuser", "--name", "x", "--password", "long enough pw"],
     "unknown console role `superuser`"),
    # an RRN in the display name is refused and never echoed
    (["rrn.name", "--role", "auditor", "--name", "880314-1234567", "--password",
      "long enough pw"], "national id"),
])
def test_refusals(console: ConsoleHarness, runner: CliRunner, args: list[str],
                  message: str) -> None:
    result = runner.invoke(app, ["users", "add", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "1234567" not in result.output


def test_existing_user_is_refused(console: ConsoleHarness, runner: CliRunner) -> None:
    args = ["users", "add", "dup.user", "--role", "inspector", "--name", "중복",
            "--password", "long enough pw"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists already" in again.output
