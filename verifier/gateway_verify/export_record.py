"""The export's own access record: what the log says was selected, against what the archive holds.

The exporter logs a `log.export` record before it writes the archive (docs/EXPORT-FORMAT.md,
"The export record"). Proved included in the signed checkpoint, that record — not the
manifest, which is the exporter's unsigned statement — says which filters were applied to
which tree size, how many records matched, and the digest of their leaf hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

KIND = "log.export"


def selection_digest(leaf_hashes: bytes | bytearray, count: int) -> bytes:
    """SHA-256(leaf hash of each record, in archive order ‖ uint64 big-endian count)."""
    h = hashlib.sha256(leaf_hashes)
    h.update(count.to_bytes(8, "big"))
    return h.digest()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


@dataclass(frozen=True)
class ExportRecord:
    index: int
    covers_tree_size: int
    selected: int
    digest: bytes
    fields: dict[str, Any]  # the whole record, for the fields compared with the manifest

    @classmethod
    def parse(cls, record: Any) -> ExportRecord | str:
        """The export record, or one line saying why `record` is not one."""
        if not isinstance(record, dict) or record.get("kind") != KIND:
            return f"it is not a `{KIND}` record"
        index, covers, selected = (_count(record.get(k)) for k in
                                   ("index", "covers_tree_size", "selected"))
        if index is None or covers is None or selected is None:
            return "its `index`, `covers_tree_size` or `selected` is not a count"
        encoded = record.get("selection_digest")
        try:
            digest = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (ValueError, binascii.Error):
            digest = b""
        if len(digest) != hashlib.sha256().digest_size:
            return "its `selection_digest` is not a base64 sha-256 digest"
        if covers > index:
            return f"it claims to cover tree size {covers}, beyond its own index {index}"
        return cls(index, covers, selected, digest, record)

    def manifest_mismatches(self, manifest: dict[str, Any]) -> list[str]:
        """Each field the manifest states differently from the logged record, one line each."""
        previous = manifest.get("previous_checkpoint")
        stated = {
            "filters": manifest.get("filters"),
            "covers_tree_size": manifest.get("covers_tree_size"),
            "index": manifest.get("export_record_index"),
            "exported_by": manifest.get("exported_by"),
            "time": manifest.get("exported_at"),
            "format": manifest.get("format"),
            "counts": manifest.get("counts"),
            "previous_checkpoint_size": previous.get("size") if isinstance(previous, dict)
            else None,
        }
        problems = []
        for name, value in stated.items():
            if value != self.fields.get(name):
                problems.append(f"manifest `{_manifest_name(name)}` differs from the logged "
                                f"export record's `{name}`")
        return problems


def _manifest_name(name: str) -> str:
    return {"index": "export_record_index", "time": "exported_at",
            "previous_checkpoint_size": "previous_checkpoint.size"}.get(name, name)
