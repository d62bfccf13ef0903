"""`gateway log export` and `gateway log verify` on a real gateway data folder; key rotation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine
from typer.testing import CliRunner

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog.bulk import bulk_append
from gateway.cli import app
from gateway.settings import Settings, get_settings
from gateway_verify.cli import main as verify_main
from tests.verify.conftest import ORIGIN, Gateway, make_record


@pytest.fixture
def gateway_settings(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    from gateway.db.migrate import upgrade
    from gateway.services import ensure_secrets

    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(tmp_path / "public-keys"))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        ensure_secrets(settings, create=True)
        upgrade(settings.gateway_url)
        engine = create_engine(settings.gateway_url)
        bulk_append(engine, (make_record(n) for n in range(40)), create_tables=False)
        engine.dispose()
        yield settings
    finally:
        get_settings.cache_clear()


def test_cli_exports_and_verifies_with_the_published_keys(
    gateway_settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "card.tar.gz"
    result = runner.invoke(app, ["log", "export", "--out", str(out), "--exported-by", "officer",
                                 "--affiliate", "card", "--since", "2026-10-01T05:00:00+09:00"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 10 records of a log of 40" in result.stdout
    assert "scanned 40/40 log records" in result.stderr
    verified = runner.invoke(app, ["log", "verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "per affiliate: card 10" in verified.stdout
    again = runner.invoke(app, ["log", "export", "--out", str(out), "--exported-by", "officer"])
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_cli_refuses_a_bad_period(gateway_settings: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["log", "export", "--out", str(tmp_path / "x.tar"),
                                      "--exported-by", "officer", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "error: `since` is not an rfc 3339 time" in result.stderr
    assert not (tmp_path / "x.tar").exists()


def test_rotated_keys_verify_as_a_trusted_set(
    make_gateway: Callable[..., Gateway], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(30)
    previous = gw.log.checkpoint()  # signed by the old key
    gw.add(30, 5)
    new_key = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)  # a new key keeps the log's name
    rotated = AccessLog(gw.engine, new_key, origin=ORIGIN)
    try:
        out = tmp_path / "rotated.tar"
        from datetime import UTC, datetime

        from gateway.accesslog.export import export_archive

        export_archive(rotated, gw.engine, out, exported_by="officer", now=datetime.now(UTC),
                       verifier_keys=[gw.signer.verifier_key(), new_key.verifier_key()],
                       previous_checkpoint=previous)
    finally:
        rotated.close()
    keys = tmp_path / "trusted"
    keys.write_text(f"{gw.signer.verifier_key()}\n{new_key.verifier_key()}\n")
    assert verify_main([str(out), "--key-file", str(keys)]) == 0
    assert f"signed by {ORIGIN}" in capsys.readouterr().out
    assert verify_main([str(out), "--key", new_key.verifier_key()]) == 1
    assert ("previous checkpoint in `consistency.json` signed by the wrong key"
            in capsys.readouterr().err)
