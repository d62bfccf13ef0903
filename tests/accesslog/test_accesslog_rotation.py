"""Log-signing key rotation: versioned keys, a recorded and co-signed hand-over, old notes verify."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from typer.testing import CliRunner

from gateway.accesslog import (
    AccessLog,
    LogSigner,
    UnverifiedNote,
    parse_checkpoint,
    verify_consistency,
    verify_note,
)
from gateway.accesslog import keyring as kr
from gateway.accesslog.errors import MalformedNote, MalformedVerifierKey
from gateway.accesslog.keyring import LogKeyring
from gateway.accesslog.note import SIG_PREFIX, sign_note_with
from gateway.cli import app
from gateway.errors import ConfigError, KeyLoadError, LogWriteFailed
from gateway.keyrotation import rotate_log_key
from gateway.settings import get_settings

from .conftest import ORIGIN

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    kr.create_first_key(folder, ORIGIN)
    return folder


@pytest.fixture
def public(tmp_path: Path) -> Path:
    return tmp_path / "public-keys"


@pytest.fixture
def keyring(secrets: Path) -> LogKeyring:
    return LogKeyring(secrets, ORIGIN)


@pytest.fixture
def log(sqlite_engine: Engine, keyring: LogKeyring) -> Iterator[AccessLog]:
    with AccessLog(sqlite_engine, keyring, origin=ORIGIN) as access_log:
        yield access_log


def rotate(log: Any, keyring: LogKeyring, public: Path, **kwargs: Any) -> Any:
    return rotate_log_key(log, keyring, public, now=NOW, trigger="test",
                          operator="privacy-officer-7", reason="annual rotation", **kwargs)


def signature_lines(note: str) -> list[str]:
    return [line for line in note.splitlines() if line.startswith(SIG_PREFIX)]


def test_rotation_hands_over_and_old_checkpoints_still_verify(
    log: AccessLog, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    for n in range(5):
        log.append({"kind": "query", "n": n})
    before = log.checkpoint()
    old_key = keyring.verifier_key()

    done = rotate(log, keyring, public)

    assert (done.old_version, done.new_version, done.old_key) == (1, 2, old_key)
    assert keyring.version == 2 and keyring.verifier_key() == done.new_key
    # the switch is an access record naming both keys, who and why
    record = json.loads(log.record(done.log_index))
    assert record["kind"] == "key.rotation" and record["index"] == done.log_index == 5
    assert record["old_key"] == {"version": 1, "verifier_key": done.old_key}
    assert record["new_key"] == {"version": 2, "verifier_key": done.new_key}
    assert (record["operator"], record["reason"], record["trigger"]) == (
        "privacy-officer-7", "annual rotation", "test")
    # the hand-over checkpoint covers the record and carries both signatures
    assert len(signature_lines(done.checkpoint)) == 2
    assert verify_note(done.checkpoint, [done.old_key]) == verify_note(done.checkpoint,
                                                                       [done.new_key])
    handover = parse_checkpoint(verify_note(done.checkpoint, [done.old_key]))
    assert handover.size == 6 and log.checkpoint_at(6) == done.checkpoint
    # both keys keep the origin as their name; the key hash tells them apart
    old_name, new_name = (k.split("+")[0] for k in (done.old_key, done.new_key))
    assert old_name == new_name == ORIGIN and done.old_key != done.new_key
    # the checkpoint signed before the rotation still verifies with the old key alone
    assert log.checkpoint_at(5) == before
    first = parse_checkpoint(verify_note(before, [done.old_key]))
    # after the hand-over only the new key signs
    log.append({"kind": "query", "n": 99})
    after = log.checkpoint()
    assert len(signature_lines(after)) == 1
    with pytest.raises(UnverifiedNote, match="no signature by a known key"):
        verify_note(after, [done.old_key])
    last = parse_checkpoint(verify_note(after, [done.old_key, done.new_key]))  # a trusted set
    assert verify_consistency(first.size, last.size, log.consistency_proof(first.size, last.size),
                              first.root, last.root)
    # files: new key active, old retired (owner-only), nothing pending, both keys published
    assert set(kr.active_keys(secrets)) == {2} and set(kr.retired_keys(secrets)) == {1}
    assert not kr.pending_keys(secrets)
    assert os.stat(kr.retired_keys(secrets)[1]).st_mode & 0o077 == 0
    assert kr.published_verifier_keys(public) == {1: done.old_key, 2: done.new_key}
    assert (public / "log" / "log-signing-v2.vkey").read_text() == done.new_key + "\n"


def test_second_rotation_uses_a_fresh_version(
    log: AccessLog, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    first = rotate(log, keyring, public)
    second = rotate(log, keyring, public)
    assert (second.old_version, second.new_version) == (2, 3)
    assert second.old_key == first.new_key
    assert set(kr.retired_keys(secrets)) == {1, 2} and set(kr.active_keys(secrets)) == {3}
    assert list(kr.published_verifier_keys(public)) == [1, 2, 3]


def test_other_processes_keyring_follows_the_rotation(
    log: AccessLog, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    elsewhere = LogKeyring(secrets, ORIGIN)  # e.g. another gateway process on the same files
    done = rotate(log, keyring, public)
    note = elsewhere.sign_note(f"{ORIGIN}\n1\n{'A' * 43}=\n")
    assert elsewhere.version == 2
    verify_note(note, [done.new_key])


class FailingLog:
    def append(self, record: dict[str, Any], *, timeout: float | None = None) -> int:
        raise LogWriteFailed("access log write failed: `OperationalError`")

    def checkpoint(self, force: bool = False) -> str:
        raise AssertionError("no checkpoint without a durable record")


def test_unrecorded_rotation_switches_nothing_and_a_rerun_resumes(
    log: AccessLog, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    with pytest.raises(LogWriteFailed, match="access log write failed"):
        rotate(FailingLog(), keyring, public)
    assert keyring.version == 1 and set(kr.active_keys(secrets)) == {1}
    assert set(kr.pending_keys(secrets)) == {2}
    pending = LogSigner.load(kr.pending_keys(secrets)[2], ORIGIN).verifier_key()
    done = rotate(log, keyring, public)  # the rerun takes the pending key, not another one
    assert done.new_version == 2 and done.new_key == pending
    assert not kr.pending_keys(secrets)


def test_rotation_refuses_a_log_that_does_not_sign_with_the_keyring(
    sqlite_engine: Engine, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    other = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    with (AccessLog(sqlite_engine, other, origin=ORIGIN) as log,
          pytest.raises(KeyLoadError, match="not signed by both log keys")):
        rotate(log, keyring, public)
    assert keyring.version == 1  # not activated: a rerun resumes


def test_keyring_without_a_key_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="no log-signing key in"):
        LogKeyring(tmp_path, ORIGIN)


def test_first_key_is_not_remade_over_retired_ones(
    log: AccessLog, keyring: LogKeyring, secrets: Path, public: Path
) -> None:
    rotate(log, keyring, public)
    kr.active_keys(secrets)[2].unlink()  # the active key lost: must not silently start afresh
    with pytest.raises(KeyLoadError, match="pending or retired ones exist"):
        kr.create_first_key(secrets, ORIGIN)


def test_published_key_is_never_silently_replaced(keyring: LogKeyring, public: Path) -> None:
    kr.publish_verifier_key(public, 1, keyring.current)
    kr.publish_verifier_key(public, 1, keyring.current)  # the same key again: fine
    stranger = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    with pytest.raises(ConfigError, match="`log-signing-v1.vkey` differs"):
        kr.publish_verifier_key(public, 1, stranger)
    kr.publish_verifier_key(public, 1, stranger, replace=True)  # a wiped demo's first key
    assert kr.published_verifier_keys(public) == {1: stranger.verifier_key()}


def test_malformed_published_key_is_refused(public: Path) -> None:
    (public / "log").mkdir(parents=True)
    (public / "log" / "log-signing-v4.vkey").write_text("not+a+key\n")
    with pytest.raises(MalformedVerifierKey, match="verifier key `not`"):
        kr.published_verifier_keys(public)


def test_cosigning_refuses_the_same_key_twice(keyring: LogKeyring) -> None:
    body = f"{ORIGIN}\n0\n{'A' * 43}=\n"
    with pytest.raises(MalformedNote, match="differ in name or key hash"):
        sign_note_with(body, [keyring.current, keyring.current])
    with pytest.raises(MalformedNote, match="needs 1 to 100 signers"):
        sign_note_with(body, [])


# --- the command line -----------------------------------------------------------------------------
def test_cli_rotates_and_lists_keys(
    tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.db.migrate import upgrade
    from gateway.services import ensure_secrets

    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(tmp_path / "public-keys"))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        ensure_secrets(settings, create=True)
        from gateway.keys import generate_system_keys

        generate_system_keys(policy_dir, tmp_path / "public-keys", settings.secrets_path)
        upgrade(settings.gateway_url)
        runner = CliRunner()
        result = runner.invoke(app, ["keys", "rotate-log-key", "--reason", "test",
                                     "--operator", "officer"])
        assert result.exit_code == 0, result.output
        assert "version 1 -> 2 (recorded at log index 0)" in result.stdout
        listing = runner.invoke(app, ["keys", "log-keys"])
        assert listing.exit_code == 0, listing.output
        lines = listing.stdout.splitlines()
        assert lines[0].startswith("v1\tretired\t") and lines[1].startswith("v2\tsigning\t")
        assert "PRIVATE" not in result.stdout + listing.stdout  # public keys only
    finally:
        get_settings.cache_clear()
