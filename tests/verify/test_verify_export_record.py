"""The export's own `log.export` record pins the selection: what the manifest alone could not."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.accesslog import export_proofs
from gateway.accesslog.export import ExportFailed
from gateway.accesslog.export_select import ExportFilters
from gateway_verify.checks import parse_line
from gateway_verify.cli import main as verify_main
from gateway_verify.summary import Tally
from tests.verify.conftest import Gateway, make_record, read_archive, tampered
from tests.verify.test_verify_tampering import Members, edit_json, lines, put

SELECTION = "selection does not match the logged export record"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = verify_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def drop_and_fix_manifest(m: Members, line: int) -> None:
    """Remove a record and its proof, and make the manifest agree with what is left."""
    for name in ("records.jsonl", "proofs.jsonl"):
        rows = lines(m, name)
        del rows[line]
        put(m, name, rows)
    tally = Tally()
    for row in lines(m, "records.jsonl"):
        record = parse_line(row)
        tally.add(record["index"], record)
    edit_json(m, "manifest.json", lambda d: d.update(records=tally.records(),
                                                     counts=tally.counts()))


@pytest.fixture
def gw(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(100)


def test_the_export_is_logged_and_the_summary_names_its_record(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    first = gw.export("first.tar", filters=ExportFilters.of(affiliates=["card"]))
    logged = json.loads(gw.log.record(100))
    assert (logged["kind"], logged["selected"], logged["covers_tree_size"]) == (
        "log.export", 25, 100)
    assert logged["filters"]["affiliates"] == ["card"]
    code, out, err = run(capsys, first, "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert "export record: log index 100, covers tree size 100, 25 records selected" in out
    # a later export of everything shows the earlier export among the records
    code, out, err = run(capsys, gw.export("second.tar"), "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert "per kind: log.export 1, query 100" in out


def test_removed_record_with_its_proof_and_a_fixed_manifest_is_detected(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = gw.export(filters=ExportFilters.of(purposes=["credit_risk"]))  # 34 records
    code, _, err = run(capsys, tampered(archive, lambda m: drop_and_fix_manifest(m, 5)),
                       "--key", gw.signer.verifier_key())
    assert code == 1
    assert f"{SELECTION}: 34 records expected, 33 present" in err
    assert "record removed" not in err  # records, proofs and manifest agree with one another


def test_edited_export_record_is_detected(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = gw.export()

    def change(m: Members) -> None:  # drop a record and make the logged count say so too
        drop_and_fix_manifest(m, 50)
        m["export-record.json"] = m["export-record.json"].replace(
            b'"selected":100', b'"selected":99')

    code, _, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert ("export record at index 100 was modified: it is not the record the checkpoint's "
            "tree holds at that index") in err
    assert "selection cannot be checked: the archive has no valid export record" in err


def test_export_record_that_is_not_one_is_detected(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = gw.export()

    def change(m: Members) -> None:
        m["export-record.json"] = m["export-record.json"].replace(b'"log.export"', b'"query"')

    code, _, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "export record was modified: it is not a `log.export` record" in err


def test_manifest_filters_other_than_the_logged_ones_are_detected(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = gw.export(filters=ExportFilters.of(affiliates=["card"]))

    def change(m: Members) -> None:  # every record still fits, but the export was not this
        edit_json(m, "manifest.json", lambda d: d["filters"].update(affiliates=["bank", "card"]))

    code, _, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "manifest `filters` differs from the logged export record's `filters`" in err
    assert SELECTION not in err  # the records themselves are the logged selection


def test_record_beyond_the_covered_tree_size_is_rejected(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = gw.export()

    def change(m: Members) -> None:  # the export record is in the checkpoint, not the selection
        put(m, "records.jsonl", [*lines(m, "records.jsonl"), m["export-record.json"][:-1]])
        put(m, "proofs.jsonl", [*lines(m, "proofs.jsonl"), m["export-proof.json"][:-1]])

    code, _, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert ("record added that the export does not cover: index 100 is not below the covered "
            "tree size 100 of the export record") in err
    assert f"{SELECTION}: 100 records expected, 101 present" in err


def test_archive_without_its_export_record_is_refused(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        del m["export-record.json"], m["export-proof.json"]

    code, _, err = run(capsys, tampered(gw.export(), change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "archive unreadable: archive lacks `export-record.json`" in err


def test_unknown_format_version_is_named(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        edit_json(m, "manifest.json", lambda d: d.update(format="affiliate-gateway-log-export/1"))

    code, _, err = run(capsys, tampered(gw.export(), change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert ("archive format `affiliate-gateway-log-export/1` is not supported: this verifier "
            "reads `affiliate-gateway-log-export/2`") in err


def test_export_fails_closed_when_its_record_cannot_be_logged(
    gw: Gateway, tmp_path: Path
) -> None:
    gw.log.close()  # appends now fail, as they would on a broken database
    with pytest.raises(ExportFailed, match="export could not be recorded in the access log: "
                                           "access log is closed"):
        gw.export("never.tar")
    assert not (tmp_path / "never.tar").exists()
    assert not list(tmp_path.glob(".export-*"))  # no partial archive or temporary file left
    assert gw.log.size() == 100


def test_records_appended_during_the_export_are_proved_but_not_selected(
    gw: Gateway, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_proofs, "CHUNK_BITS", 3)  # the last chunk [96, 100) grows
    appended: list[int] = []

    def progress(done: int, total: int) -> None:  # another request lands mid-export
        if not appended:
            appended.append(gw.log.append(make_record(100)))

    archive = gw.export(progress=progress)
    assert appended == [100]
    manifest = json.loads(dict(read_archive(archive))["manifest.json"])
    assert (manifest["covers_tree_size"], manifest["export_record_index"],
            manifest["tree_size"]) == (100, 101, 102)
    code, out, err = run(capsys, archive, "--key", gw.signer.verifier_key())
    assert (code, err) == (0, "")
    assert "records: 100 (log index 0 to 99)" in out
    proof = json.loads(dict(read_archive(archive))["export-proof.json"])
    assert proof["hashes"] == [base64.b64encode(h).decode()
                               for h in gw.log.inclusion_proof(101, 102)]
