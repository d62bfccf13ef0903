"""No raw RRN anywhere; fail closed when the log cannot be written; offline at run time."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import LogWriteFailed
from pseudonymizer.rrn import is_valid_rrn_like
from tests.api.conftest import BANK_ROW, CARD_ROW, Harness, build_settings, start_harness
from tests.api.test_api_errors import assert_problem

RRN_LIKE = re.compile(rb"(?<![0-9])([0-9]{6})[-\s]?([0-9]{7})(?![0-9])")


HEX = frozenset(b"0123456789abcdef")


def _inside_hex_id(data: bytes, start: int, end: int) -> bool:
    """True when the match lies inside a run of 32 or more hex digits: an id (customer key,
    token id, request id) or a SHA-256 (the policy version every record names, leaf hashes).

    Such runs are random: about 1 in 5,000 ids holds a 13-digit run that happens to read as a
    post-2020 RRN (any serial is valid there), and a 64-digit hash more often (one such hash
    named in every record matches once per record: a run once found 12 matches and passed
    on every rerun). That made this scan flaky without a leak; the exact test customers'
    numbers are still searched for everywhere below.
    """
    while start > 0 and data[start - 1] in HEX:
        start -= 1
    while end < len(data) and data[end] in HEX:
        end += 1
    return end - start >= 32


def rrn_like_in(data: bytes) -> list[str]:
    """Every 13-digit run (hyphenated or not) that parses as a real-looking RRN."""
    found = []
    for match in RRN_LIKE.finditer(data):
        digits = (match.group(1) + match.group(2)).decode()
        if is_valid_rrn_like(digits) and not _inside_hex_id(data, match.start(), match.end()):
            found.append(f"<{len(digits)} digits at {match.start()}>")  # never the number
    return found


def test_no_raw_rrn_in_databases_log_or_responses(
    tmp_path_factory: pytest.TempPathFactory, policy_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = build_settings(tmp_path_factory.mktemp("scan"), policy_dir)
    bodies: list[bytes] = []
    customers = []
    for gw in start_harness(settings):
        for i in range(12):
            customers.append(gw.customer({"bank": BANK_ROW, "card": CARD_ROW},
                                         foreigner=i % 4 == 3, post2020=i % 3 == 1))
        for customer in customers:
            for system, purpose, attrs in [
                ("card-risk", "credit_risk", ["deposit_balance", "credit_grade", "rrn", "name"]),
                ("card-marketing", "marketing_sms", ["mobile_phone", "rrn"]),
                ("bank-callcenter", "customer_service", ["card_products", "rrn", "name"]),
            ]:
                response = gw.query(system, customer.ref, purpose, attrs)
                assert response.status_code == 200, response.text
                bodies.append(response.content)
        for customer in customers[:4]:  # consents and contact stops named by RRN, then listed
            for path, body in [
                ("/v1/consents", {"recipient": "card", "purpose": "marketing_sms",
                                  "categories": ["contact"], "channel": "sms",
                                  "evidence_ref": "form-1", "refusal_right_notified": True}),
                ("/v1/contact-stops", {"channels": ["email"]}),
                ("/v1/contact-stops/search", {}),
            ]:
                response = gw.client.post(path, json={"customer": customer.ref, **body},
                                          headers=gw.auth("bank-app"))
                assert response.status_code in (200, 201), response.text
                bodies.append(response.content)
        # campaigns: the list (NDJSON and CSV), its status, and a reason holding an RRN (refused)
        for fmt, reason in (("ndjson", "가을 안내"), ("csv", "가을 안내"),
                            ("ndjson", f"고객 {customers[0].rrn} 요청")):
            response = gw.client.post("/v1/campaigns", headers=gw.auth("card-marketing"), json={
                "purpose": "marketing_sms", "channel": "sms", "reason": reason,
                "ticket": "MKT-1", "segment": [], "format": fmt})
            assert response.status_code in (200, 422), response.text
            bodies.append(response.content)
            if response.status_code == 200:
                status = gw.client.get(f"/v1/campaigns/{response.headers['x-campaign-id']}",
                                       headers=gw.auth("card-marketing"))
                bodies.append(status.content)
        malformed = gw.query("card-risk", {"rrn": customers[0].rrn[:-1] + "-9"}, "credit_risk",
                             ["credit_grade"])
        bodies.append(malformed.content)
        bodies.append(gw.client.get("/v1/log/records?start=0&end=50",
                                    headers=gw.auth("holding-audit")).content)
    everything = b"\n".join(bodies) + caplog.text.encode()
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    for path in files:
        content = path.read_bytes()
        assert rrn_like_in(content) == [], f"rrn-like number in {path.name}"
        everything += content
    assert rrn_like_in(b"\n".join(bodies)) == []
    for customer in customers:
        digits = customer.rrn.replace("-", "")
        for form in (digits, f"{digits[:6]}-{digits[6:]}"):
            assert form.encode() not in everything, "a test customer's rrn leaked"


def test_failing_log_write_releases_nothing(gw: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = gw.customer({"bank": BANK_ROW})

    async def broken(record: dict[str, Any]) -> int:
        raise LogWriteFailed("access record could not be made durable")

    monkeypatch.setattr(gw.services.access_log, "append_async", broken)
    response = gw.query("card-risk", customer.ref, "credit_risk", ["deposit_balance"])
    body = assert_problem(response, 503, "log-unavailable")
    assert "deposit" not in response.text and "23500000" not in response.text
    assert "log_index" not in body


def test_unexpected_log_error_also_fails_closed(gw: Harness,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    customer = gw.customer({"bank": BANK_ROW})

    async def exploding(record: dict[str, Any]) -> int:
        raise OSError("disk on fire")

    monkeypatch.setattr(gw.services.access_log, "append_async", exploding)
    response = gw.query("card-risk", customer.ref, "credit_risk", ["deposit_balance"])
    assert_problem(response, 503, "log-unavailable")
    assert "disk" not in response.text


def test_request_path_runs_with_outside_network_blocked(gw: Harness,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing downloads at run time: any socket to a non-loopback address fails the test."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (str(host).startswith("127.") or host in ("::1", "localhost")
                or self.family == socket.AF_UNIX):
            attempts.append(str(host))
            raise OSError("network access blocked by test")
        return real_connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "127.0.0.1", "localhost", "::1"):
            attempts.append(str(host))
            raise OSError("dns blocked by test")
        return real_getaddrinfo(host, *args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    # presidio belongs to the dependency set: importing it must not reach out either
    import presidio_analyzer  # noqa: F401
    import presidio_anonymizer  # noqa: F401

    customer = gw.customer({"bank": BANK_ROW, "card": CARD_ROW})
    response = gw.query("card-risk", customer.ref, "credit_risk",
                        ["deposit_balance", "credit_grade"])
    assert response.status_code == 200, response.text
    assert gw.client.get("/v1/log/checkpoint", headers=gw.auth("card-risk")).status_code == 200
    assert attempts == []


def test_the_scan_skips_random_hex_ids_but_not_numbers_in_text() -> None:
    number = "9001011234568"  # 13 digits that read as a (post-2020 form) RRN; synthetic
    assert is_valid_rrn_like(number)
    hex_id = ("ab" + number + "c" * 17).encode()  # 32 hex digits: a token id, not a leak
    assert rrn_like_in(b'{"jti":"' + hex_id + b'"}') == []
    assert rrn_like_in(f'메모 {number[:6]}-{number[6:]} 확인'.encode()) != []
    assert rrn_like_in(b'"' + number.encode() + b'"') != []
