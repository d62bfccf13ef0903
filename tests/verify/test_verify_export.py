"""Happy paths on SQLite: exports of every shape verify, the summary says what they hold."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.accesslog import export_proofs, leaf_hash, verify_inclusion
from gateway.accesslog.export import ExportFailed, PreviousCheckpointInvalid
from gateway.accesslog.export_select import ExportFilterInvalid, ExportFilters
from gateway_verify.cli import main as verify_main
from tests.verify.conftest import T0, Gateway, make_record, read_archive

ROOT = Path(__file__).resolve().parents[2]
RUN_COPY = ("import sys; sys.path.insert(0, sys.argv[1]); import runpy; "
            "sys.argv = ['gateway-verify', *sys.argv[2:]]; "
            "runpy.run_module('gateway_verify', run_name='__main__')")


def verify(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = verify_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_full_export_verifies_and_prints_a_summary(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(100)
    archive = gw.export()
    code, out, err = verify(capsys, archive, "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert "OK: every check holds" in out
    assert "records: 100 (log index 0 to 99)" in out
    assert "per affiliate: bank 25, card 25, insurance 25, securities 25" in out
    assert "per purpose: credit_risk 34, customer_service 33, marketing_sms 33" in out
    assert "denials: 20" in out  # decision cycles allow, partial, deny, allow, partial
    assert "period of the records: 2026-10-01T00:00:00.000000Z to 2026-10-05T03:00" in out


def test_archive_members_follow_the_documented_format(
    make_gateway: Callable[..., Gateway]
) -> None:
    gw = make_gateway(10)
    members = read_archive(gw.export())
    names = [n for n, _ in members]
    key_hash = gw.signer.key_hash.hex()
    assert names == ["manifest.json", "checkpoint", f"keys/{key_hash}.vkey",
                     "export-record.json", "export-proof.json", "records.jsonl", "proofs.jsonl"]
    content = dict(members)
    assert content["records.jsonl"].split(b"\n")[:-1] == gw.log.records(0, 10)
    proof = json.loads(content["proofs.jsonl"].split(b"\n")[3])
    assert proof["index"] == 3 and len(proof["hashes"]) == 4  # a tree of 11 leaves
    manifest = json.loads(content["manifest.json"])
    assert manifest["exported_by"] == "auditor@fsc.example"
    # the export logged itself at index 10, after the 10 leaves it covers; the checkpoint has it
    assert (manifest["covers_tree_size"], manifest["export_record_index"]) == (10, 10)
    assert manifest["tree_size"] == 11 and gw.log.size() == 11
    assert content["export-record.json"] == gw.log.record(10) + b"\n"
    logged = json.loads(content["export-record.json"])
    assert logged["kind"] == "log.export" and logged["selected"] == 10
    assert logged["filters"] == manifest["filters"] and logged["actor"] is None
    digest = hashlib.sha256(b"".join(leaf_hash(r) for r in gw.log.records(0, 10))
                            + (10).to_bytes(8, "big")).digest()
    assert base64.b64decode(logged["selection_digest"]) == digest
    assert json.loads(content["export-proof.json"]) == {"index": 10, "hashes": [
        base64.b64encode(h).decode() for h in gw.log.inclusion_proof(10, 11)]}
    assert content["checkpoint"].decode() == gw.log.checkpoint()
    # every proof line is the gateway's own proof, and checks with the gateway's own code
    root = gw.log.root(11)
    for n, line in enumerate(content["proofs.jsonl"].split(b"\n")[:-1]):
        hashes = [base64.b64decode(h) for h in json.loads(line)["hashes"]]
        assert hashes == gw.log.inclusion_proof(n, 11)
        assert verify_inclusion(leaf_hash(gw.log.record(n)), n, 11, hashes, root)


@pytest.mark.parametrize(("size", "chunk_bits"), [
    (1, 3), (2, 3), (7, 3), (8, 3),  # one chunk, partial or exactly full
    (9, 3), (31, 3), (64, 3), (100, 3),  # several chunks, the last one partial or full
    (16_385, 14),  # the real chunk size, one leaf over
])
def test_trees_of_awkward_sizes_verify(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, size: int, chunk_bits: int
) -> None:
    monkeypatch.setattr(export_proofs, "CHUNK_BITS", chunk_bits)
    gw = make_gateway(size)
    code, _, err = verify(capsys, gw.export(), "--key", gw.signer.verifier_key(), "--quiet")
    assert (code, err) == (0, "")


def test_filtered_gzip_export_verifies(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(200)
    # a date alone is midnight KST: 2026-10-06 ends the period at 2026-10-05T15:00Z
    filters = ExportFilters.of(since="2026-10-02T00:00:00Z", until="2026-10-06T09:00:00+09:00",
                               affiliates=["card", "bank"], purposes=["credit_risk"])
    archive = gw.export("export.tar.gz", filters=filters)
    assert archive.read_bytes()[:2] == b"\x1f\x8b"
    code, out, err = verify(capsys, archive, "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert "records: 16 (log index 24 to 117)" in out
    assert "filter affiliates: bank, card" in out


def test_customer_filter_and_an_empty_selection_verify(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gw = make_gateway(50)
    one = gw.export("one.tar", filters=ExportFilters.of(customers=[f"{3:032x}"]))
    none = gw.export("none.tar", filters=ExportFilters.of(purposes=["marketing_phone"]))
    code, out, _ = verify(capsys, one, "--key", gw.signer.verifier_key())
    assert code == 0 and "records: 10" in out and "customers: 1 customer key(s)" in out
    assert f"{3:032x}" not in out  # customer keys stay out of the printed summary
    code, out, _ = verify(capsys, none, "--key", gw.signer.verifier_key())
    assert code == 0 and "records: 0" in out


def test_previous_checkpoint_gives_a_consistency_proof(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gw = make_gateway(37)
    previous = gw.log.checkpoint()
    (tmp_path / "previous").write_text(previous)
    gw.add(37, 60)
    archive = gw.export(previous_checkpoint=previous)
    assert "consistency.json" in dict(read_archive(archive))
    code, out, err = verify(capsys, archive, "--key", gw.signer.verifier_key(),
                            "--previous-checkpoint", tmp_path / "previous")
    assert (code, err) == (0, "")
    assert "previous checkpoint: tree size 37" in out


def test_export_refuses_bad_input(make_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    gw = make_gateway(5)
    gw.export()
    with pytest.raises(ExportFailed, match="already exists"):
        gw.export()
    with pytest.raises(ExportFilterInvalid, match="`since` must be before `until`"):
        ExportFilters.of(since="2026-10-02", until="2026-10-01")
    with pytest.raises(ExportFilterInvalid, match="`until` needs a time zone offset"):
        ExportFilters.of(until="2026-10-01T00:00:00")
    assert gw.log.size() == 6  # the 5 records and the export's own record
    with pytest.raises(PreviousCheckpointInvalid, match="does not verify"):
        gw.export("x.tar", previous_checkpoint=gw.log.checkpoint().replace("\n6\n", "\n4\n"))
    assert not (tmp_path / "x.tar").exists()
    assert gw.log.size() == 6  # an export refused before it ran is not logged


def test_export_refuses_a_previous_checkpoint_from_a_fork(
    make_gateway: Callable[..., Gateway]
) -> None:
    ours, fork = make_gateway(10), make_gateway(0)
    fork.add(0, 5)
    fork.log.append({"kind": "forged"})
    previous = fork.log.checkpoint()
    with pytest.raises(PreviousCheckpointInvalid, match="not a prefix of this log: fork"):
        ours.export(previous_checkpoint=previous)


def test_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    allowed = set(sys.stdlib_module_names) | {"cryptography", "gateway_verify"}
    for path in (ROOT / "verifier" / "gateway_verify").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_python_dash_m_runs_standalone(
    make_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gw = make_gateway(20)
    archive = gw.export()
    keys = tmp_path / "trusted.keys"
    keys.write_text(f"# the log key\n{gw.signer.verifier_key()}\n")
    # a copy of gateway_verify alone, run from outside the checkout
    (tmp_path / "only").mkdir()
    subprocess.run(["cp", "-r", str(ROOT / "verifier" / "gateway_verify"), str(tmp_path / "only")],
                   check=True)
    done = subprocess.run(
        [sys.executable, "-c", RUN_COPY, str(tmp_path / "only"), str(archive),
         "--key-file", str(keys)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK: every check holds" in done.stdout


def test_period_export_starts_near_the_period_and_misses_nothing(
    make_gateway: Callable[..., Gateway], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Records committed long before `since` are not read; the selection is still complete."""
    from gateway.accesslog import export as export_module
    from gateway.accesslog import store as store_module
    from gateway.accesslog.bulk import bulk_append

    gateway = make_gateway(records=0)
    chunk = 1 << export_proofs.CHUNK_BITS
    day = timedelta(days=1)
    written: list[dict[str, Any]] = []
    for batch in range(3):  # three batches committed 30 days apart; each record's time
        commit = T0 + 30 * batch * day  # precedes its commit by up to 2 hours
        records = [make_record(n) | {"time": (commit - timedelta(seconds=n % 7200))
                                     .strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                   for n in range(batch * chunk, (batch + 1) * chunk)]
        monkeypatch.setattr(store_module, "now", lambda commit=commit: commit)
        bulk_append(gateway.engine, records)
        written += records
    monkeypatch.undo()
    starts: list[int] = []
    original = export_module._chunk

    def counting(conn: Any, start: int, end: int, **kwargs: Any) -> Any:
        starts.append(start)
        return original(conn, start, end, **kwargs)

    monkeypatch.setattr(export_module, "_chunk", counting)
    since = T0 + 59 * day
    archive = gateway.export("period.tar", filters=ExportFilters.of(since=since.isoformat()))
    assert min(starts) == 2 * chunk  # the first two batches were never read
    members = dict(read_archive(archive))
    got = [json.loads(line)["request_id"] for line in members["records.jsonl"].splitlines()]
    assert got == [r["request_id"] for r in written
                   if datetime.fromisoformat(r["time"]) >= since]
    assert got  # the period is not empty
    code, _, err = verify(capsys, archive, "--key", gateway.signer.verifier_key())
    assert (code, err) == (0, "")


def test_a_date_alone_means_midnight_in_korea() -> None:
    filters = ExportFilters.of(since="2026-10-02", until="2026-10-06")
    assert filters.since == datetime(2026, 10, 1, 15, tzinfo=UTC)
    assert filters.until == datetime(2026, 10, 5, 15, tzinfo=UTC)
