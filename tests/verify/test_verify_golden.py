"""The committed golden export archive still verifies, and today's export still has its format.

tests/verify/golden/ holds an archive the gateway exported (18 synthetic records, a key
rotation with its co-signed hand-over, a consistency proof from the previous export's
checkpoint), the v1 verifier key a regulator was given, and that previous checkpoint. A
verifier change that stops accepting it, or an export change that alters the format without
moving `FORMAT` on, fails here.

Regenerate it — only when the format changes on purpose, together with `FORMAT` and
docs/EXPORT-FORMAT.md — with

    .venv/bin/python -m tests.verify.golden_archive

which writes public material only (the signing keys stay in a deleted temporary folder).
"""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.accesslog import LogSigner
from gateway_verify import FORMAT
from gateway_verify.cli import main as verify_main
from tests.verify.conftest import ORIGIN
from tests.verify.golden_archive import ARCHIVE, GOLDEN, PREVIOUS, TRUSTED_KEY, build

JSON_MEMBERS = ("manifest.json", "consistency.json", "export-record.json", "export-proof.json")
JSONL_MEMBERS = ("handovers.jsonl", "records.jsonl", "proofs.jsonl")


def members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as tar:
        out = []
        for info in tar.getmembers():
            assert info.isfile(), info.name
            stream = tar.extractfile(info)
            assert stream is not None
            out.append((info.name, stream.read()))
        return out


def shape(value: Any) -> Any:
    """The structure of a json value: object keys and value types, not the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return ["list", sorted({json.dumps(shape(item), sort_keys=True) for item in value})]
    return type(value).__name__


def archive_shape(path: Path) -> dict[str, Any]:
    """Member order (key files by pattern), each json member's shape, the notes' line layout."""
    found: dict[str, Any] = {"gzip": path.read_bytes()[:2] == b"\x1f\x8b", "order": []}
    for name, data in members(path):
        kind = "keys/<hash>.vkey" if name.startswith("keys/") else name
        if not found["order"] or found["order"][-1] != kind:
            found["order"].append(kind)
        if name in JSON_MEMBERS:
            assert data.endswith(b"\n"), name
            found[name] = shape(json.loads(data))
        elif name in JSONL_MEMBERS:
            rows = [json.loads(line) for line in data.decode().splitlines()]
            # records differ by kind (query, key.rotation): one shape per kind
            found[name] = sorted({json.dumps(shape(row), sort_keys=True) for row in rows})
        elif name == "checkpoint":
            text, _, signatures = data.decode().partition("\n\n")
            found[name] = (len(text.split("\n")), signatures.count("\n"))
        else:
            found.setdefault("key lines", set()).add(data.decode().count("\n"))
    return found


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("golden")).archive


def test_golden_holds_only_public_material() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted([ARCHIVE, PREVIOUS, TRUSTED_KEY])
    for path in GOLDEN.iterdir():
        data = gzip.decompress(path.read_bytes()) if path.name == ARCHIVE else path.read_bytes()
        assert b"PRIVATE KEY" not in data and b"PRIVATE+KEY" not in data


@pytest.mark.parametrize(("lang", "verdict"), [("en", "OK: every check holds"),
                                               ("ko", "확인 완료: 모든 검사를 통과했습니다")])
def test_golden_archive_verifies(lang: str, verdict: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = verify_main([str(GOLDEN / ARCHIVE), "--key-file", str(GOLDEN / TRUSTED_KEY),
                        "--previous-checkpoint", str(GOLDEN / PREVIOUS), "--lang", lang])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.rstrip().endswith(verdict)
    assert ("co-signed" if lang == "en" else "두 키가 공동 서명함") in out  # the hand-over
    assert "tree size 12" in out or "트리 크기 12" in out  # the previous checkpoint


def test_golden_archive_names_the_current_format() -> None:
    manifest = json.loads(dict(members(GOLDEN / ARCHIVE))["manifest.json"])
    assert manifest["format"] == FORMAT


def test_golden_archive_fails_under_another_key(capsys: pytest.CaptureFixture[str]) -> None:
    impostor = LogSigner(Ed25519PrivateKey.generate(), ORIGIN).verifier_key()
    code = verify_main([str(GOLDEN / ARCHIVE), "--key", impostor])
    _, err = capsys.readouterr()
    assert code == 1
    assert "checkpoint signed by the wrong key" in err


def test_todays_export_has_the_golden_format(regenerated: Path) -> None:
    """A format change shows here as the member, key or type that moved."""
    golden, today = archive_shape(GOLDEN / ARCHIVE), archive_shape(regenerated)
    assert today.keys() == golden.keys()
    for name in golden:
        assert today[name] == golden[name], f"the format of `{name}` changed"


def test_regenerated_archive_verifies(regenerated: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = regenerated.parent
    code = verify_main([str(regenerated), "--key-file", str(folder / TRUSTED_KEY),
                        "--previous-checkpoint", str(folder / PREVIOUS), "--quiet"])
    assert code == 0, capsys.readouterr().err
