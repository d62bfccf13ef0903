"""A regulator who trusts only the old log key follows a key rotation's co-signed hand-over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

from gateway.accesslog import AccessLog, LogSigner
from gateway.accesslog import keyring as kr
from gateway.accesslog.bulk import bulk_append
from gateway.accesslog.export import export_archive
from gateway.accesslog.keyring import LogKeyring
from gateway.accesslog.note import SIG_PREFIX
from gateway.keyrotation import Rotation, rotate_log_key
from gateway_verify.cli import main as verify_main
from tests.verify.test_verify_korean import assert_korean_too
from tests.verify.conftest import ORIGIN, make_record, read_archive, tampered

Members = dict[str, bytes]
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@dataclass
class Rotated:
    archive: Path
    rotation: Rotation
    log: AccessLog


@pytest.fixture
def rotated(tmp_path: Path) -> Iterator[Rotated]:
    """30 records under key v1, a rotation, 10 more under v2, an export signed by v2 alone."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    kr.create_first_key(secrets, ORIGIN)
    keyring = LogKeyring(secrets, ORIGIN)
    engine = create_engine(f"sqlite:///{tmp_path / 'rotated.db'}")
    with AccessLog(engine, keyring, origin=ORIGIN) as log:
        bulk_append(engine, (make_record(n) for n in range(30)))
        log.checkpoint()
        rotation = rotate_log_key(log, keyring, tmp_path / "public", now=NOW, trigger="test",
                                  operator="officer", reason="annual rotation")
        bulk_append(engine, (make_record(n) for n in range(30, 40)))
        out = tmp_path / "rotated.tar"
        export_archive(log, engine, out, verifier_keys=[rotation.old_key, rotation.new_key],
                       exported_by="auditor@fsc.example", now=NOW)
        yield Rotated(out, rotation, log)
    engine.dispose()


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = verify_main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert_korean_too(capsys, code, args)
    return code, out, err


def handover_doc(m: Members) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(m["handovers.jsonl"])
    return doc


def put_doc(m: Members, doc: dict[str, Any]) -> None:
    m["handovers.jsonl"] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def sig_lines(note: str) -> list[str]:
    return [line + "\n" for line in note.splitlines() if line.startswith(SIG_PREFIX)]


def test_export_carries_the_handover(rotated: Rotated) -> None:
    members = dict(read_archive(rotated.archive))
    assert [n for n, _ in read_archive(rotated.archive)][:3] == [
        "manifest.json", "handovers.jsonl", "checkpoint"]
    doc = handover_doc(members)
    assert doc["checkpoint"] == rotated.rotation.checkpoint
    assert doc["index"] == rotated.rotation.log_index == 30
    assert json.loads(doc["record"])["new_key"]["verifier_key"] == rotated.rotation.new_key
    assert len(sig_lines(members["checkpoint"].decode())) == 1  # the export: new key alone


def test_old_key_alone_follows_the_handover(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, rotated.archive, "--key", rotated.rotation.old_key)
    assert (code, err) == (0, "")
    old, new = ("+".join(k.split("+", 2)[:2])  # name+hash, without the public key
                for k in (rotated.rotation.old_key, rotated.rotation.new_key))
    assert f"key handed over from `{old}` to `{new}` at tree size 31, co-signed" in out
    assert "OK: every check holds" in out


def test_new_key_alone_needs_no_handover(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, rotated.archive, "--key", rotated.rotation.new_key)
    assert (code, err) == (0, "")
    assert "handed over" not in out


def test_handover_signed_by_the_old_key_only(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        doc = handover_doc(m)
        note = doc["checkpoint"]
        doc["checkpoint"] = note.replace(sig_lines(note)[1], "")  # drop the new key's line
        put_doc(m, doc)

    code, _, err = run(capsys, tampered(rotated.archive, change),
                       "--key", rotated.rotation.old_key)
    assert code == 1
    new = "+".join(rotated.rotation.new_key.split("+", 2)[:2])
    assert f"FAILED: hand-over at tree size 31 is not co-signed by the new key `{new}`" in err
    assert "FAILED: checkpoint signed by the wrong key" in err


def test_handover_signed_by_the_new_key_only(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        doc = handover_doc(m)
        note = doc["checkpoint"]
        doc["checkpoint"] = note.replace(sig_lines(note)[0], "")  # drop the old key's line
        put_doc(m, doc)

    code, _, err = run(capsys, tampered(rotated.archive, change),
                       "--key", rotated.rotation.old_key)
    assert code == 1
    old = "+".join(rotated.rotation.old_key.split("+", 2)[:2])
    assert f"FAILED: hand-over at tree size 31 is not signed by the old key `{old}`" in err


def test_handover_to_a_key_the_old_key_never_named(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attacker co-signs the hand-over with its own key and names it in the record."""
    attacker = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)

    def change(m: Members) -> None:
        doc = handover_doc(m)
        note = doc["checkpoint"]
        body = note[: note.index("\n\n") + 1]
        doc["checkpoint"] = note.replace(sig_lines(note)[1], attacker.signature_line(body))
        record = json.loads(doc["record"])
        record["new_key"]["verifier_key"] = attacker.verifier_key()
        doc["record"] = json.dumps(record, sort_keys=True, separators=(",", ":"))
        put_doc(m, doc)
        cp = m["checkpoint"].decode()
        m["checkpoint"] = attacker.sign_note(cp[: cp.index("\n\n") + 1]).encode()

    code, _, err = run(capsys, tampered(rotated.archive, change),
                       "--key", rotated.rotation.old_key)
    assert code == 1
    assert ("FAILED: hand-over at tree size 31 is forged: its `key.rotation` record is not in "
            "the tree the old key signed") in err
    assert "FAILED: checkpoint signed by the wrong key" in err


def test_checkpoint_signed_by_a_key_not_handed_over(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hand-over is genuine, but the export is signed by a third key nobody co-signed."""
    stranger = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)

    def change(m: Members) -> None:
        cp = m["checkpoint"].decode()
        m["checkpoint"] = stranger.sign_note(cp[: cp.index("\n\n") + 1]).encode()

    code, out, err = run(capsys, tampered(rotated.archive, change),
                         "--key", rotated.rotation.old_key)
    assert code == 1
    assert f"FAILED: checkpoint signed by the wrong key: `{ORIGIN}+" in err


def test_handover_that_the_checkpoint_does_not_extend(
    rotated: Rotated, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        doc = handover_doc(m)
        doc["consistency"] = doc["consistency"][::-1]
        put_doc(m, doc)

    code, _, err = run(capsys, tampered(rotated.archive, change),
                       "--key", rotated.rotation.old_key)
    assert code == 1
    assert "FAILED: hand-over at tree size 31 does not lead to the checkpoint: fork" in err


def test_two_rotations_among_many_checkpoints_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exporter finds both hand-overs among 120 checkpoints; v1 alone reaches v3."""
    from gateway.accesslog.export_handover import _cosigned

    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    kr.create_first_key(secrets, ORIGIN)
    keyring = LogKeyring(secrets, ORIGIN)
    engine = create_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    rotations = []
    with AccessLog(engine, keyring, origin=ORIGIN) as log:
        for n in range(120):
            bulk_append(engine, [make_record(n)])
            log.checkpoint()
            if n in (40, 90):
                rotations.append(rotate_log_key(log, keyring, tmp_path / "public", now=NOW,
                                                trigger="test"))
        with engine.connect() as conn:
            assert [size for size, _ in _cosigned(conn, log.size())] == [42, 93]
        out = tmp_path / "twice.tar.gz"
        export_archive(log, engine, out, exported_by="auditor@fsc.example", now=NOW,
                       verifier_keys=[rotations[0].old_key, *(r.new_key for r in rotations)])
    engine.dispose()
    code, text, err = run(capsys, out, "--key", rotations[0].old_key)
    assert (code, err) == (0, "")
    assert text.count("key handed over from") == 2
    assert "at tree size 42, co-signed" in text and "at tree size 93, co-signed" in text
