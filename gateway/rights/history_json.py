"""A history page as the JSON document the API returns and `gateway-verify history` reads.

Format `gateway-access-history/v1` (docs/CUSTOMER-RIGHTS.md): proofs are base64 SHA-256 hashes
as in export archives; each entry's `record` is the access record exactly as hashed (UTF-8
JSON text), so a leaf hash is SHA-256(0x00 ‖ record bytes).
"""

from __future__ import annotations

import base64
from typing import Any

from gateway.documents.kst import format_kst
from gateway.rights.history import HistoryPage

FORMAT = "gateway-access-history/v1"


def _b64(items: tuple[bytes, ...]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in items]


def page_json(page: HistoryPage, *, request_id: str, log_index: int, pseudonym: str,
              rrn_masked: str | None) -> dict[str, Any]:
    """Everything the channel shows, and everything the verifier needs, in one object."""
    return {
        "format": FORMAT,
        "request_id": request_id,
        "log_index": log_index,
        "customer": {"pseudonym": pseudonym, "rrn_masked": rrn_masked},
        "period": {"since": page.period.since.isoformat(), "until": page.period.until.isoformat(),
                   "since_kst": format_kst(page.period.since),
                   "until_kst": format_kst(page.period.until)},
        "origin": page.origin,
        "tree_size": page.tree_size,
        "checkpoint": page.checkpoint,
        "entries": [{"log_index": e.log_index, **e.fields,
                     "record": e.record.decode("utf-8"), "proof": _b64(e.proof)}
                    for e in page.entries],
        "hidden": [{"purpose": h.exemption.purpose, "count": h.count,
                    "legal_basis": h.exemption.legal_basis, "reason_ko": h.exemption.reason_ko,
                    "reason_en": h.exemption.reason_en} for h in page.hidden],
        "hidden_total": sum(h.count for h in page.hidden),
        "campaigns": [{"campaign": c.campaign, **c.fields, "closing_index": c.closing_index,
                       "closing_record": c.closing_record.decode("utf-8"),
                       "closing_proof": _b64(c.closing_proof), "leaf": c.leaf,
                       "leaf_index": c.leaf_index, "leaf_tree_size": c.leaf_tree_size,
                       "leaf_proof": list(c.leaf_proof)} for c in page.campaigns],
        "next_cursor": page.next_cursor,
    }
