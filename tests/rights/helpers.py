"""Helpers of the history tests: ask for a history, read what the log holds."""

from __future__ import annotations

import json
from typing import Any

from gateway_verify.note import VerifierKey, parse_key
from tests.api.conftest import Harness

HISTORY = "/v1/customers/access-history"


def history(gw: Harness, ref: dict[str, str], *, system: str = "bank-callcenter",
            **body: Any) -> Any:
    return gw.client.post(HISTORY, headers=gw.auth(system), json={"customer": ref, **body})


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def log_records(gw: Harness, customer_key: str, below: int) -> list[tuple[int, bytes]]:
    """Every record of the log below `below` that names the customer, newest first: the
    definition the history must equal (a full scan, no index)."""
    found = []
    for data in gw.services.access_log.iter_records(0, below):
        record = json.loads(data)
        if record.get("customer") == customer_key:
            found.append((record["index"], data))
    return found[::-1]


def trusted(gw: Harness) -> list[VerifierKey]:
    return [parse_key(gw.services.signer.verifier_key())]  # the log's current key
