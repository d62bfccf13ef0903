"""The export record: the access-log record by which every export pins what it selected.

An export is itself an access to personal data, so it is logged like one (개인정보의 안전성
확보조치 기준 제8조). The record also makes the archive checkable for completeness: it names
the filters, the tree size the selection covers, the count and a digest of the selected
leaves (docs/EXPORT-FORMAT.md, "The export record"). Once the record is in a signed
checkpoint, an archive that drops, swaps or adds a record no longer matches it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime
from typing import Any

from gateway.accesslog.export_select import ExportCounts, ExportFilters
from gateway.record import event_record

KIND = "log.export"


class SelectionDigest:
    """SHA-256(leaf hash of each selected record, in index order ‖ uint64 big-endian count).

    Leaf hashes are RFC 9162 §2.1.1 `SHA-256(0x00 ‖ leaf bytes)`; each leaf holds its own
    index, so the digest pins which records were selected, their bytes and their order.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def add(self, leaf_hash: bytes) -> None:
        self._hash.update(leaf_hash)
        self.count += 1

    def digest(self) -> bytes:
        final = self._hash.copy()
        final.update(self.count.to_bytes(8, "big"))
        return final.digest()


def export_record(*, now: datetime, exported_by: str, export_format: str,
                  filters: ExportFilters, covers_tree_size: int, counts: ExportCounts,
                  digest: bytes, previous_checkpoint_size: int | None) -> dict[str, Any]:
    """The `log.export` record (no `index`: the log assigns it); holds no personal identifier.

    Customer keys named by a customer filter are group-internal keys, never RRNs; they are
    logged because the regulator must see whose data the export was about.
    """
    return event_record(
        KIND, request_id=str(uuid.uuid4()), now=now, caller=None, source=None,
        policy_version=None, status=200,
        exported_by=exported_by,
        format=export_format,
        filters=filters.to_json(),
        covers_tree_size=covers_tree_size,
        selected=counts.count,
        counts=counts.counts_json(),
        selection_digest=base64.b64encode(digest).decode("ascii"),
        previous_checkpoint_size=previous_checkpoint_size,
    )
