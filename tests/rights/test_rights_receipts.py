"""Consent receipts: every grant, reconfirmation and withdrawal answers with a signed receipt
that round-trips through the standalone verifier; a receipt altered in any byte fails."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from gateway_verify.cli import main as verify_main
from gateway_verify.receipt import load_public_key, verify_receipt

from gateway.rights.receipt_keys import PUBLIC_FILE, PUBLIC_SUBDIR
from tests.api.marketing_helpers import grant
from tests.rights.conftest import BANK_ROW, Harness, logged


def _public_key_file(gw: Harness) -> Path:
    return Path(gw.settings.public_keys_dir) / PUBLIC_SUBDIR / PUBLIC_FILE


def _granted(gw: Harness, **kw: Any) -> dict[str, Any]:
    customer = gw.customer({"bank": BANK_ROW})
    response = grant(gw, customer.ref, **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["_customer"] = customer
    return body


def _payload(jws: str) -> dict[str, Any]:
    body = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def test_a_grant_returns_a_receipt_naming_what_the_customer_agreed_to(gw: Harness) -> None:
    body = _granted(gw, night_contact=True)
    receipt = body["receipt"]
    payload = receipt["payload"]
    assert _payload(receipt["jws"]) == payload  # the JSON shown is the JSON signed
    assert payload["record_id"] == body["consent"]["id"]
    assert payload["log_index"] == body["log_index"]
    assert payload["pii_principal_id"] == body["consent"]["pseudonym"]
    policy = gw.services.policy.current
    card = policy.affiliates["card"]  # type: ignore[index]
    assert payload["pii_controllers"] == [{"party_id": "card", "party_name": card.name_ko,
                                           "party_name_en": card.name_en,
                                           "party_role": "recipient"}]
    purpose = payload["purposes"][0]
    assert purpose["purpose_id"] == "marketing_sms"
    assert purpose["lawful_basis"] == list(
        policy.purposes["marketing_sms"].legal_bases)  # type: ignore[index]
    assert purpose["retention_period"]["days"] == policy.purposes[
        "marketing_sms"].retention_days  # type: ignore[index]
    assert purpose["contact_channels"][0]["id"] == "sms"
    assert purpose["night_time_contact"] is True
    items = {i["id"]: i for i in purpose["pii_information"]}
    assert "mobile_phone" in items and items["mobile_phone"]["name_ko"]
    assert items["mobile_phone"]["name_en"] == policy.attributes[
        "mobile_phone"].name_en  # type: ignore[index]
    # only items of the consented categories (no behavioural ones were consented to)
    assert {i["category"] for i in items.values()} <= {"identity", "contact", "financial"}
    rights = {r["right"]: r for r in payload["privacy_rights"]}
    assert "거부" in rights["refuse"]["text_ko"] and "refuse" in rights["refuse"]["text_en"]
    assert "불이익" in rights["refuse"]["text_ko"]  # what refusing means
    assert payload["event"][0]["event_type"] == "consent_given"
    assert payload["event"][0]["event_time_kst"].endswith("KST")
    assert payload["consent_status"] == "active"
    # the customer's national id is nowhere in it
    rrn = body["_customer"].rrn
    assert rrn not in receipt["jws"] and rrn.replace("-", "") not in json.dumps(payload)
    assert logged(gw, body["log_index"])["consent"] == payload["record_id"]


def test_withdrawal_and_reconfirmation_return_receipts_too(gw: Harness) -> None:
    body = _granted(gw)
    ref, consent = body["_customer"].ref, body["consent"]["id"]
    confirmed = gw.client.post(f"/v1/consents/{consent}/confirm", headers=gw.auth(
        "bank-callcenter"), json={"customer": ref, "refusal_right_notified": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["receipt"]["payload"]["event"][0]["event_type"] \
        == "consent_reconfirmed"
    withdrawn = gw.client.post(f"/v1/consents/{consent}/withdraw", headers=gw.auth(
        "bank-callcenter"), json={"customer": ref})
    assert withdrawn.status_code == 200, withdrawn.text
    payload = withdrawn.json()["receipt"]["payload"]
    assert payload["event"][0]["event_type"] == "consent_withdrawn"
    assert payload["consent_status"] == "withdrawn" and payload["withdrawn_at"] is not None
    assert payload["log_index"] == withdrawn.json()["log_index"]


def test_a_receipt_round_trips_through_the_standalone_verifier(
        gw: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    receipt = _granted(gw)["receipt"]
    path = tmp_path / "receipt.jws"
    path.write_text(receipt["jws"] + "\n", "ascii")
    key = str(_public_key_file(gw))
    assert verify_main(["receipt", str(path), "--key", key]) == 0
    assert "OK: consent" in capsys.readouterr().out
    assert verify_main(["receipt", str(path), "--key", key, "--lang", "ko"]) == 0
    assert "확인 완료" in capsys.readouterr().out


def _positions(jws: str) -> dict[str, int]:
    """One byte position of each class a tamperer might touch."""
    head, body, _sig = jws.split(".")
    first_dot, second_dot = len(head), len(head) + 1 + len(body)
    return {
        "header_first": 0,
        "header_last": first_dot - 1,  # its low bits are padding a lenient decoder ignores
        "first_dot": first_dot,
        "payload_first": first_dot + 1,
        "payload_middle": first_dot + 1 + len(body) // 2,
        "payload_last": second_dot - 1,
        "second_dot": second_dot,
        "signature_first": second_dot + 1,
        "signature_middle": second_dot + 1 + (len(jws) - second_dot) // 2,
        "signature_last": len(jws) - 1,  # 64 bytes: the last character carries 4 spare bits
    }


def _replacements(char: str) -> list[str]:
    """Characters to put in place of `char`: a neighbour in the alphabet (changes only the low
    bits), one far away, a base64 character of the other alphabet, and a non-ascii byte."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if char in alphabet:
        at = alphabet.index(char)
        near = alphabet[at ^ 1]
        far = alphabet[(at + 32) % 64]
        return [near, far, "+", "=", "."]
    return ["A", "/", ""]


@pytest.mark.parametrize("where", list(_positions("a" * 10 + "." + "b" * 20 + "." + "c" * 86)))
def test_a_receipt_altered_in_any_byte_fails(gw: Harness, where: str) -> None:
    jws = _granted(gw)["receipt"]["jws"]
    key = load_public_key(_public_key_file(gw).read_bytes())
    assert verify_receipt(jws.encode(), key).ok
    at = _positions(jws)[where]
    for replacement in _replacements(jws[at]):
        altered = jws[:at] + replacement + jws[at + 1:]
        result = verify_receipt(altered.encode(), key)
        assert not result.ok, (where, replacement)
        assert result.problem
    raw = bytearray(jws.encode())
    raw[at] = 0xEA  # a non-ascii byte
    assert not verify_receipt(bytes(raw), key).ok


def test_every_single_byte_change_of_a_receipt_fails(gw: Harness) -> None:
    """Exhaustive over positions: each byte flipped in its lowest bit."""
    jws = _granted(gw)["receipt"]["jws"].encode()
    key = load_public_key(_public_key_file(gw).read_bytes())
    for at in range(len(jws)):
        altered = bytearray(jws)
        altered[at] ^= 0x01
        assert not verify_receipt(bytes(altered), key).ok, at


def test_a_receipt_signed_by_another_key_fails(gw: Harness, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.rights.jws import sign_compact
    from gateway.rights.receipt_keys import ReceiptSigner, key_id

    payload = _granted(gw)["receipt"]["payload"]
    other = Ed25519PrivateKey.generate()
    forged = sign_compact(payload, ReceiptSigner(other, key_id(other.public_key())))
    key = load_public_key(_public_key_file(gw).read_bytes())
    assert verify_receipt(forged.encode(), key).problem == \
        "the receipt names another key than the trusted one"
    # the same forgery naming the gateway's key id: the signature is what fails
    forged = sign_compact(payload, ReceiptSigner(other, key_id(key)))
    assert "signature does not verify" in (verify_receipt(forged.encode(), key).problem or "")
    path = tmp_path / "forged.jws"
    path.write_text(forged, "ascii")
    assert verify_main(["receipt", str(path), "--key", str(_public_key_file(gw))]) == 1


def test_the_korean_rendering_checks_the_signature_first(gw: Harness) -> None:
    receipt = _granted(gw)["receipt"]
    response = gw.client.post("/v1/consents/receipts/render", headers=gw.auth("bank-callcenter"),
                              json={"jws": receipt["jws"]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "개인(신용)정보 제공 동의 확인서" in html and "KST" in html
    assert receipt["payload"]["pii_controllers"][0]["party_name"] in html
    assert "거부" in html and "<script" not in html
    rendered = logged(gw, int(response.headers["x-log-index"]))
    assert rendered["kind"] == "consent.receipt.render"
    assert rendered["consent"] == receipt["payload"]["record_id"]
    jws = receipt["jws"]
    tampered = jws[:-2] + ("A" if jws[-2] != "A" else "B") + jws[-1]
    refused = gw.client.post("/v1/consents/receipts/render", headers=gw.auth("bank-callcenter"),
                             json={"jws": tampered})
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/receipt-invalid")
    assert tampered not in refused.text


def test_free_text_rrn_in_the_evidence_reference_is_refused_and_no_receipt_issued(
        gw: Harness) -> None:
    customer = gw.customer({"bank": BANK_ROW})
    before = gw.services.access_log.size()
    response = grant(gw, customer.ref, evidence_ref="동의서 900101-1234567")
    assert response.status_code == 422
    assert "receipt" not in response.json() and "900101" not in response.text
    for index in range(before, gw.services.access_log.size()):
        assert b"900101" not in gw.services.access_log.record(index)


def test_keys_receipt_key_prints_the_published_key_and_its_kid(
        gw: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    jws = _granted(gw)["receipt"]["jws"]
    head = jws.split(".")[0]
    kid = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(gw.settings.data_dir))
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(gw.settings.policy_dir))
    monkeypatch.setenv("GATEWAY_PUBLIC_KEYS_DIR", str(gw.settings.public_keys_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["keys", "receipt-key"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"receipt key id (kid): {kid}" in result.stdout
    assert str(_public_key_file(gw)) in result.stdout
