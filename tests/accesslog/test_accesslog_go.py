"""Go interop: golang.org/x/mod/sumdb/note and …/tlog verify our checkpoints and proofs.

Runs only where `go` and the Debian package golang-golang-x-mod-dev are installed (GOPATH
mode, offline); the checker is `tests/accesslog/go/main.go`, built once per session.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from gateway.accesslog import AccessLog, LogSigner, canonical_json, parse_checkpoint
from gateway.accesslog.export import export_archive
from gateway.accesslog.export_select import ExportFilters
from tests.accesslog.conftest import ORIGIN, LogFactory
from tests.accesslog.servers import (
    BIN,
    ClientResults,
    Server,
    auth,
    http_get,
    prepare,
    run_client,
    workload,
)
from tests.accesslog.servers import ORIGIN as SERVER_ORIGIN

GO_SOURCE = Path(__file__).parent / "go" / "main.go"
GOPATH = Path("/usr/share/gocode")  # where golang-golang-x-mod-dev puts golang.org/x/mod
X_MOD = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb"


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built once per session with Go's module machinery off (no network)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not on PATH (Debian: apt install golang-go)")
    if not (X_MOD / "note").is_dir() or not (X_MOD / "tlog").is_dir():
        pytest.skip(f"`golang.org/x/mod` is not in `{GOPATH}` (apt install golang-golang-x-mod-dev)")
    out = tmp_path_factory.mktemp("go")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GO111MODULE="off", GOPATH=str(GOPATH), GOCACHE=str(out / "cache"),
               GOFLAGS="", GOPROXY="off", CGO_ENABLED="0", HOME=str(out))
    binary = out / "tlogcheck"
    subprocess.run([go, "build", "-o", str(binary), str(GO_SOURCE)], env=env, check=True,
                   capture_output=True, timeout=240)
    return binary


def go_check(binary: Path, archive: Path, *keys: str) -> subprocess.CompletedProcess[str]:
    args = [str(binary)]
    for key in keys:
        args += ["-key", key]
    return subprocess.run([*args, str(archive)], check=False, capture_output=True, text=True,
                          timeout=60)


# --- an export archive as docs/EXPORT-FORMAT.md fixes it -----------------------------------------
def jline(obj: object) -> bytes:
    return canonical_json(obj) + b"\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Archive:
    """The members of an export archive, editable before writing (to tamper with them)."""

    checkpoint: str
    verifier_key: str
    records: list[bytes]
    proofs: list[dict[str, object]]
    consistency: dict[str, object] | None = None
    manifest: dict[str, object] = field(default_factory=dict)

    def write(self, path: Path) -> Path:
        cp = parse_checkpoint(self.checkpoint.split("\n\n")[0] + "\n")
        manifest = {"format": "affiliate-gateway-log-export/1", "origin": cp.origin,
                    "tree_size": cp.size, "records": {"count": len(self.records)},
                    **self.manifest}
        key_hash = self.verifier_key.split("+")[1]
        members = [("manifest.json", jline(manifest)),
                   ("checkpoint", self.checkpoint.encode()),
                   (f"keys/{key_hash}.vkey", self.verifier_key.encode() + b"\n")]
        if self.consistency is not None:
            members.append(("consistency.json", jline(self.consistency)))
        members.append(("records.jsonl", b"".join(r + b"\n" for r in self.records)))
        members.append(("proofs.jsonl", b"".join(jline(p) for p in self.proofs)))
        mode = "w:gz" if path.name.endswith(".gz") else "w"
        with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path


def export_from(log: AccessLog, signer: LogSigner, indexes: list[int], old_size: int | None
                ) -> Archive:
    """Checkpoint, the chosen records with inclusion proofs and a consistency proof."""
    note = log.checkpoint()
    size = parse_checkpoint(note.split("\n\n")[0] + "\n").size
    proofs = [{"index": i, "hashes": [b64(h) for h in log.inclusion_proof(i, size)]}
              for i in indexes]
    consistency = None
    if old_size is not None:
        old_note = log.checkpoint_at(old_size)
        assert old_note is not None
        consistency = {"old_checkpoint": old_note, "old_size": old_size, "new_size": size,
                       "hashes": [b64(h) for h in log.consistency_proof(old_size, size)]}
    return Archive(note, signer.verifier_key(), [log.record(i) for i in indexes], proofs,
                   consistency)


def fill(log: AccessLog, count: int, tag: str = "") -> None:
    for n in range(count):
        log.append({"kind": "query", "request_id": f"{tag}req-{n:04d}", "purpose": "credit_risk",
                    "actor": {"affiliate": "card", "system": "card-risk", "employee": "e1"}})


@pytest.fixture
def built(make_log: LogFactory, signer: LogSigner) -> tuple[AccessLog, Archive]:
    """A real log on SQLite: checkpoint at 13 leaves, 37 leaves in all; every record exported."""
    log = make_log()
    fill(log, 13)
    log.checkpoint()
    fill(log, 24, "b-")
    return log, export_from(log, signer, list(range(37)), old_size=13)


# --- the happy path ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["export.tar", "export.tar.gz"])
def test_go_verifies_note_inclusion_and_consistency(
    tlogcheck: Path, built: tuple[AccessLog, Archive], signer: LogSigner, tmp_path: Path,
    name: str,
) -> None:
    _, archive = built
    result = go_check(tlogcheck, archive.write(tmp_path / name), signer.verifier_key())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"ok: origin {ORIGIN}, tree 37, 37 records included, consistent with tree 13")


@pytest.mark.parametrize("size", [1, 2, 3, 8, 9, 64, 100])  # powers of two and their edges
def test_go_checks_every_proof_shape(tlogcheck: Path, make_log: LogFactory, signer: LogSigner,
                                     tmp_path: Path, size: int) -> None:
    log = make_log()
    fill(log, 1)
    log.checkpoint()  # a consistency proof from the 1-leaf tree to every size
    fill(log, size - 1)
    archive = export_from(log, signer, list(range(size)), old_size=1)
    result = go_check(tlogcheck, archive.write(tmp_path / "a.tar"), signer.verifier_key())
    assert result.returncode == 0, result.stderr
    assert f"tree {size}, {size} records included" in result.stdout


def test_go_accepts_a_rotated_key_note(tlogcheck: Path, built: tuple[AccessLog, Archive],
                                       tmp_path: Path) -> None:
    """After a rotation the new head is cosigned; the verifier is given the keys it trusts."""
    _, archive = built
    new_signer = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    body = archive.checkpoint.split("\n\n")[0] + "\n"
    archive.checkpoint += new_signer.sign_note(body).split("\n\n")[1]
    path = archive.write(tmp_path / "rotated.tar")
    new, old = new_signer.verifier_key(), archive.verifier_key
    assert go_check(tlogcheck, path, new, old).returncode == 0
    assert go_check(tlogcheck, path, old).returncode == 0
    # the previous checkpoint predates the new key: trusting the new key alone is not enough
    only_new = go_check(tlogcheck, path, new)
    assert only_new.returncode == 1
    assert "previous checkpoint: note has no verifiable signatures" in only_new.stderr


# --- Go notices what it should: the checks are not vacuous --------------------------------------
def _modify_record(a: Archive, signer: LogSigner) -> None:
    record = json.loads(a.records[5])
    record["purpose"] = "marketing_sms"
    a.records[5] = canonical_json(record)


def _swap_records(a: Archive, signer: LogSigner) -> None:
    a.records[3], a.records[4] = a.records[4], a.records[3]


def _alter_checkpoint_size(a: Archive, signer: LogSigner) -> None:
    a.checkpoint = a.checkpoint.replace("\n37\n", "\n36\n", 1)


def _fork_previous(a: Archive, signer: LogSigner) -> None:
    """A previous checkpoint of 13 leaves, validly signed by the log's key, of another history."""
    assert a.consistency is not None
    lines = str(a.consistency["old_checkpoint"]).split("\n")
    lines[2] = b64(bytes(32))  # a root no 13-leaf prefix of this log has
    a.consistency["old_checkpoint"] = signer.sign_note("\n".join(lines[:3]) + "\n")


TAMPERING: dict[str, tuple[Callable[[Archive, LogSigner], None], str]] = {
    "modified record": (_modify_record, "record 5 is not in the tree"),
    "reordered records": (_swap_records, "index out of order"),
    "altered checkpoint": (_alter_checkpoint_size, "invalid signature"),
    "forked previous checkpoint": (_fork_previous, "fork: tree 13 is not a prefix of tree 37"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_go_rejects_tampering(tlogcheck: Path, built: tuple[AccessLog, Archive],
                              signer: LogSigner, tmp_path: Path, case: str) -> None:
    _, archive = built
    tamper, message = TAMPERING[case]
    tamper(archive, signer)
    result = go_check(tlogcheck, archive.write(tmp_path / "bad.tar"), signer.verifier_key())
    assert result.returncode == 1
    assert message in result.stderr


def test_go_rejects_an_untrusted_key(tlogcheck: Path, built: tuple[AccessLog, Archive],
                                     tmp_path: Path) -> None:
    _, archive = built
    stranger = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)
    result = go_check(tlogcheck, archive.write(tmp_path / "a.tar"), stranger.verifier_key())
    assert result.returncode == 1
    assert "FAIL: checkpoint: note has no verifiable signatures" in result.stderr


# --- real export archives: `export_archive` and the `gateway log export` command ---------------
def test_go_verifies_a_real_filtered_export(tlogcheck: Path, make_log: LogFactory,
                                            sqlite_engine: Engine, signer: LogSigner,
                                            tmp_path: Path) -> None:
    """The exporter's own archive (card's records only, proved from a previous checkpoint)."""
    log = make_log()
    affiliates = ["card", "bank", "insurance"]
    for n in range(50):
        log.append({"kind": "query", "request_id": f"req-{n:04d}", "purpose": "credit_risk",
                    "time": f"2026-11-23T10:{n:02d}:00.000000Z", "decision": "allow",
                    "actor": {"affiliate": affiliates[n % 3], "system": "s", "employee": "e"}})
        if n == 20:
            previous = log.checkpoint()
    out = tmp_path / "export.tar.gz"
    result = export_archive(log, sqlite_engine, out, verifier_keys=[signer.verifier_key()],
                            exported_by="test", now=datetime.now(UTC),
                            filters=ExportFilters.of(affiliates=["card"]),
                            previous_checkpoint=previous)
    assert result.counts.count == 17  # n ≡ 0 (mod 3) in 0..49
    checked = go_check(tlogcheck, out, signer.verifier_key())
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == (
        f"ok: origin {ORIGIN}, tree 51, 17 records included, consistent with tree 21")
    # the export's own record (index 50) is proved with tlog too: an edit to it is caught
    with tarfile.open(out) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    edited = tmp_path / "edited.tar"
    with tarfile.open(edited, "w") as tar:
        for name, data in members:
            if name == "export-record.json":
                data = data.replace(b'"selected":17', b'"selected":16')
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    checked = go_check(tlogcheck, edited, signer.verifier_key())
    assert checked.returncode == 1
    assert "export record 50 is not in the tree" in checked.stderr


@pytest.mark.slow
def test_go_verifies_a_gateway_log_export(tlogcheck: Path, tmp_path: Path) -> None:
    """End to end: a real server answers queries; `gateway log export` writes the archive."""
    data = prepare(tmp_path / "data")
    queries = workload(data, 40)
    server = Server(data)
    try:
        server.wait_ready()
        results = ClientResults()
        run_client(data, [server.port], queries[:20], results)
        status, previous, _ = http_get(server.port, "/v1/log/checkpoint", auth(data))
        assert status == 200
        run_client(data, [server.port], queries[20:], results)
    finally:
        running = server.stop()
    assert running, server.stderr_tail()
    assert len(results.received) == 40, dict(results.failures)
    (tmp_path / "previous.note").write_bytes(previous)
    out = tmp_path / "export.tar"
    subprocess.run([str(BIN / "gateway"), "log", "export", "--out", str(out),
                    "--exported-by", "go-interop-test", "--affiliate", "card",
                    "--previous-checkpoint", str(tmp_path / "previous.note")],
                   env=data.env, check=True, capture_output=True, timeout=120)
    old_size = parse_checkpoint(previous.decode().split("\n\n")[0] + "\n").size
    checked = go_check(tlogcheck, out, data.verifier_key())
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok: origin {SERVER_ORIGIN}, tree ")
    assert "40 records included" in checked.stdout  # every query came from the card company
    assert checked.stdout.strip().endswith(f"consistent with tree {old_size}")
