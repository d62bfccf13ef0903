"""The log over HTTP: a client proves its own record is in the signed tree."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from gateway.accesslog import (
    leaf_hash,
    parse_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
)
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness
from tests.api.test_api_errors import assert_problem


def _checkpoint(gw: Harness) -> tuple[int, bytes]:
    note = gw.client.get("/v1/log/checkpoint", headers=gw.auth("card-risk"))
    assert note.status_code == 200, note.text
    body = verify_note(note.text, [gw.services.signer.verifier_key()])
    checkpoint = parse_checkpoint(body)
    assert checkpoint.origin == gw.settings.log_origin
    return checkpoint.size, checkpoint.root


def test_client_verifies_inclusion_of_its_record(gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    answer = gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"]).json()
    size, root = _checkpoint(gw)
    assert size > answer["log_index"]
    proof = gw.client.get(
        f"/v1/log/proofs/inclusion?index={answer['log_index']}&tree_size={size}",
        headers=gw.auth("card-risk")).json()
    record = gw.services.access_log.record(answer["log_index"])
    assert base64.b64decode(proof["leaf_hash"]) == leaf_hash(record)
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert verify_inclusion(leaf_hash(record), answer["log_index"], size, hashes, root)


def test_consistency_between_checkpoints(gw: Harness) -> None:
    gw.customer({"bank": BANK_ROW})
    first_size, first_root = _checkpoint(gw)
    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    gw.query("card-risk", customer.ref, "credit_risk", ["credit_grade"])
    second_size, second_root = _checkpoint(gw)
    assert second_size > first_size
    proof = gw.client.get(
        f"/v1/log/proofs/consistency?first={first_size}&second={second_size}",
        headers=gw.auth("card-risk")).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    assert verify_consistency(first_size, second_size, hashes, first_root, second_root)


def test_proof_parameters_outside_the_log(gw: Harness) -> None:
    response = gw.client.get("/v1/log/proofs/inclusion?index=5&tree_size=999999999",
                             headers=gw.auth("card-risk"))
    assert_problem(response, 422, "proof-range")


def test_records_need_log_read(gw: Harness) -> None:
    refused = assert_problem(gw.client.get("/v1/log/records?start=0&end=1",
                                           headers=gw.auth("card-risk")), 403, "forbidden")
    # the refusal is on record, naming who asked (`Requires` records it before the route)
    record = json.loads(gw.services.access_log.record(refused["log_index"]))
    assert (record["kind"], record["actor"]["system"]) == ("refused", "card-risk")
    response = gw.client.get("/v1/log/records?start=0&end=2", headers=gw.auth("holding-audit"))
    assert response.status_code == 200, response.text
    lines = response.content.splitlines()
    assert lines == gw.services.access_log.records(0, 2)


def test_published_verifier_keys_check_the_checkpoint(gw: Harness) -> None:
    from gateway.accesslog import parse_verifier_key, verify_note

    response = gw.client.get("/v1/log/keys", headers=gw.auth("holding-audit"))
    assert response.status_code == 200
    keys = response.text.splitlines()
    assert keys
    for key in keys:
        parse_verifier_key(key)  # raises on a malformed key
    note = gw.client.get("/v1/log/checkpoint", headers=gw.auth("holding-audit")).text
    verify_note(note, keys)  # raises unless a listed key signed it
    assert gw.client.get("/v1/log/keys").status_code == 401


def test_a_checkpoint_that_cannot_be_stored_is_a_503(gw: Harness,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(force: bool = False) -> str:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(gw.services.access_log, "checkpoint", disk_full)
    response = gw.client.get("/v1/log/checkpoint", headers=gw.auth("holding-audit"))
    problem = assert_problem(response, 503, "store-unavailable")
    assert "disk" not in problem["detail"]  # the type of the failure, not its text
