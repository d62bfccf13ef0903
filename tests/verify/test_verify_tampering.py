"""Each way of tampering with an export is caught, with its own message, and exit code 1."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.accesslog import LogSigner
from gateway_verify.cli import main as verify_main
from tests.verify.test_verify_korean import assert_korean_too
from tests.verify.conftest import ORIGIN, Gateway, tampered

Members = dict[str, bytes]


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = verify_main([str(a) for a in args])
    err = capsys.readouterr().err
    assert_korean_too(capsys, code, args)
    return code, err


def lines(members: Members, name: str) -> list[bytes]:
    return members[name].split(b"\n")[:-1]


def put(members: Members, name: str, rows: list[bytes]) -> None:
    members[name] = b"".join(row + b"\n" for row in rows)


def edit_json(members: Members, name: str, change: Callable[[dict], None]) -> None:
    doc = json.loads(members[name])
    change(doc)
    members[name] = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def resign(members: Members, signer: LogSigner, body: str | None = None) -> None:
    old = members["checkpoint"].decode()
    text = body if body is not None else old[: old.index("\n\n") + 1]
    members["checkpoint"] = signer.sign_note(text).encode()


@pytest.fixture
def gw(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway(100)


@pytest.fixture
def archive(gw: Gateway) -> Path:
    return gw.export()


def test_modified_record_is_named_by_its_index(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        rows = lines(m, "records.jsonl")
        rows[41] = rows[41].replace(b'"employee":"E6"', b'"employee":"E0"')
        put(m, "records.jsonl", rows)

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "record at index 41 was modified" in err
    assert "selection does not match the logged export record: the records are not" in err
    assert err.count("FAILED:") == 3  # the record, the selection it changes, and the verdict


def test_record_that_is_no_longer_json_is_named_by_its_proofs_index(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        rows = lines(m, "records.jsonl")
        rows[7] = rows[7][:-5]
        put(m, "records.jsonl", rows)

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "record on line 8 of `records.jsonl` was modified" in err
    assert "record at index 7 was modified" in err


def test_removed_record_and_proof_contradict_the_manifest(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        for name in ("records.jsonl", "proofs.jsonl"):
            rows = lines(m, name)
            del rows[50]
            put(m, name, rows)

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "record removed: the manifest declares 100 records, the archive holds 99" in err


def test_removed_record_line_leaves_its_proof_without_a_record(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        rows = lines(m, "records.jsonl")
        del rows[50]
        put(m, "records.jsonl", rows)

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "record removed: the proof for index 50 has no record" in err


def test_reordered_records(gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(m: Members) -> None:
        for name in ("records.jsonl", "proofs.jsonl"):
            rows = lines(m, name)
            rows[10], rows[11] = rows[11], rows[10]
            put(m, name, rows)

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "records reordered: index 10 follows index 11 (line 12 of `records.jsonl`)" in err
    assert "was modified" not in err  # each record is still in the log, only out of order


def test_added_record_not_covered_by_the_checkpoint(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw.add(101, 1)  # the log grew after the export (its record is 100): real, but not covered
    extra = gw.log.record(101)
    proof = {"hashes": [base64.b64encode(h).decode() for h in gw.log.inclusion_proof(101, 102)],
             "index": 101}

    def change(m: Members) -> None:
        put(m, "records.jsonl", [*lines(m, "records.jsonl"), extra])
        put(m, "proofs.jsonl", [*lines(m, "proofs.jsonl"),
                                json.dumps(proof, separators=(",", ":")).encode()])

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert ("record added that the checkpoint does not cover: index 101 is beyond tree size "
            "101") in err


def test_checkpoint_signed_by_an_untrusted_key(
    gw: Gateway, archive: Path, other_signer: LogSigner, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, tampered(archive, lambda m: resign(m, other_signer)),
                    "--key", gw.signer.verifier_key())
    assert code == 1
    assert "checkpoint signed by an untrusted key: signed by `attacker.example/log+" in err


def test_regulator_given_the_wrong_key(
    archive: Path, other_signer: LogSigner, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, archive, "--key", other_signer.verifier_key())
    assert code == 1
    assert "checkpoint signed by an untrusted key" in err


def test_checkpoint_signed_by_a_wrong_key_of_the_trusted_name(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    impostor = LogSigner(Ed25519PrivateKey.generate(), ORIGIN)  # same name, other key
    code, err = run(capsys, tampered(archive, lambda m: resign(m, impostor)),
                    "--key", gw.signer.verifier_key())
    assert code == 1
    assert f"checkpoint signed by the wrong key: `{ORIGIN}+" in err


OTHER_LOG = "card.example-holdings.co.kr/access-log"  # another log the regulator also trusts


def test_checkpoint_resigned_under_another_origin(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trusted key (named after our origin) signs a body naming another log."""
    def change(m: Members) -> None:
        old = m["checkpoint"].decode()
        body = old[: old.index("\n\n") + 1].replace(ORIGIN, OTHER_LOG, 1)
        resign(m, gw.signer, body)
        edit_json(m, "manifest.json", lambda d: d.update(origin=OTHER_LOG))

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert (f"FAILED: checkpoint origin `{OTHER_LOG}` is not the name of the trusted key that "
            f"signed it: signed as `{ORIGIN}`") in err


def test_checkpoint_signed_by_another_trusted_log(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our origin line, re-signed by the key of another log the regulator trusts too."""
    other = LogSigner(Ed25519PrivateKey.generate(), OTHER_LOG)
    code, err = run(capsys, tampered(archive, lambda m: resign(m, other)),
                    "--key", gw.signer.verifier_key(), "--key", other.verifier_key())
    assert code == 1
    assert (f"FAILED: checkpoint origin `{ORIGIN}` is not the name of the trusted key that "
            f"signed it: signed as `{OTHER_LOG}`") in err


def test_consistency_command_checks_the_origin_too(
    gw: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = gw.log.checkpoint()
    body = old[: old.index("\n\n") + 1].replace(ORIGIN, OTHER_LOG, 1)
    (tmp_path / "old").write_text(gw.signer.sign_note(body))
    (tmp_path / "new").write_text(gw.signer.sign_note(body))
    code, err = run(capsys, "consistency", tmp_path / "old", tmp_path / "new",
                    "--key", gw.signer.verifier_key())
    assert code == 1
    assert f"old checkpoint origin `{OTHER_LOG}` is not the name of the trusted key" in err


def test_altered_checkpoint_body(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:
        m["checkpoint"] = m["checkpoint"].replace(b"\n101\n", b"\n99\n", 1)
        edit_json(m, "manifest.json", lambda d: d.update(tree_size=99))

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "checkpoint altered: signature by trusted key" in err


def test_manifest_counts_wrong(gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(m: Members) -> None:
        edit_json(m, "manifest.json", lambda d: d["counts"]["by_purpose"].update(credit_risk=1))

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert "manifest count wrong: `counts.by_purpose` is" in err


def test_record_outside_the_declared_filters(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def change(m: Members) -> None:  # claim the export was of one affiliate only
        edit_json(m, "manifest.json", lambda d: d["filters"].update(affiliates=["card"]))

    code, err = run(capsys, tampered(archive, change), "--key", gw.signer.verifier_key())
    assert code == 1
    assert ("record at index 0 is outside the declared filters: affiliate `bank` is not among "
            "`affiliates`") in err


def test_fork_in_the_archives_consistency_proof(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = make_gateway(30), make_gateway(20)
    theirs.log.append({"kind": "forged"})  # same key, same first 20 records, then different
    forked = theirs.log.checkpoint()
    previous = ours.log.checkpoint()
    ours.add(30, 10)
    archive = ours.export(previous_checkpoint=previous)

    def change(m: Members) -> None:  # pass their checkpoint off as our previous one
        edit_json(m, "consistency.json", lambda d: d.update(old_checkpoint=forked, old_size=21))
        edit_json(m, "manifest.json", lambda d: d.update(previous_checkpoint={
            "root": forked.split("\n")[2], "size": 21}))

    code, err = run(capsys, tampered(archive, change), "--key", ours.signer.verifier_key())
    assert code == 1
    assert "fork: the tree of size 21 is not a prefix of the tree of size 41" in err


def test_fork_against_the_regulators_previous_checkpoint(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ours, theirs = make_gateway(30), make_gateway(29)
    theirs.log.append({"kind": "forged"})
    previous = tmp_path / "previous"
    previous.write_text(theirs.log.checkpoint())  # what a regulator was shown earlier: size 30
    archive = ours.export(previous_checkpoint=ours.log.checkpoint())  # ours, also of size 30
    code, err = run(capsys, archive, "--key", ours.signer.verifier_key(),
                    "--previous-checkpoint", previous)
    assert code == 1
    assert ("fork: the given previous checkpoint and the archive's disagree on the tree of "
            "size 30") in err


def test_previous_checkpoint_without_a_consistency_proof(
    gw: Gateway, archive: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    previous = tmp_path / "previous"
    previous.write_text(gw.log.checkpoint())  # of the first export: 100 records and its own
    gw.add(101, 5)
    code, err = run(capsys, gw.export("later.tar"), "--key", gw.signer.verifier_key(),
                    "--previous-checkpoint", previous)
    assert code == 1
    assert "no consistency proof from the previous checkpoint (size 101)" in err


def test_consistency_command_says_fork_or_ok(
    make_gateway: Callable[..., Gateway], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ours, theirs = make_gateway(30), make_gateway(20)
    theirs.log.append({"kind": "forged"})
    old_ours, old_theirs = tmp_path / "ours-30", tmp_path / "theirs-21"
    old_ours.write_text(ours.log.checkpoint())
    old_theirs.write_text(theirs.log.checkpoint())
    ours.add(30, 10)
    new = tmp_path / "ours-40"
    new.write_text(ours.log.checkpoint())
    for size in (21, 30):
        (tmp_path / f"proof-{size}").write_text(
            "".join(base64.b64encode(h).decode() + "\n" for h in ours.log.consistency_proof(size, 40)))
    key = ours.signer.verifier_key()
    code = verify_main(["consistency", str(old_ours), str(new), str(tmp_path / "proof-30"),
                        "--key", key])
    assert code == 0
    assert "OK: tree size 40 extends tree size 30" in capsys.readouterr().out
    code, err = run(capsys, "consistency", old_theirs, new, tmp_path / "proof-21", "--key", key)
    assert code == 1
    assert "fork: the tree of size 21 is not a prefix of the tree of size 40" in err


def test_usage_errors_exit_2(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, archive)
    assert code == 2
    assert err.strip() == "gateway-verify: no trusted key given: use --key or --key-file"
    code, err = run(capsys, archive, "--key", "not-a-key")
    assert code == 2 and "verifier key must be `name+hash+key`" in err


def test_not_an_archive(gw: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file at all")
    code, err = run(capsys, junk, "--key", gw.signer.verifier_key())
    assert code == 1 and "archive unreadable: " in err
