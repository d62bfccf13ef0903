"""Export of the access log for a regulator: one archive the standalone verifier checks.

The archive's bytes are fixed by docs/EXPORT-FORMAT.md: manifest, signed checkpoint, the
log's verifier keys, an optional consistency proof from the previous export's checkpoint,
the selected records exactly as hashed, one RFC 9162 inclusion proof per record. Records are
streamed from the database in chunks into temporary files beside the output, so memory does
not grow with the log; the archive is renamed into place only once it is complete.
"""

from __future__ import annotations

import base64
import io
import json
import json.scanner
import os
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, select

from gateway.accesslog import export_proofs, store
from gateway.accesslog.canonical import canonical_json
from gateway.accesslog.checkpoint import Checkpoint, parse_checkpoint
from gateway.accesslog.errors import LogCorrupted, NoteError
from gateway.accesslog.export_select import ExportCounts, ExportFilters, format_time
from gateway.accesslog.log import AccessLog
from gateway.accesslog.note import parse_verifier_key, verify_note
from gateway.errors import BadRequest, GatewayError

FORMAT = "affiliate-gateway-log-export/1"
GZIP_LEVEL = 1  # proofs repeat within a few lines: level 1 already shrinks them ~5×, fast

Progress = Callable[[int, int], None]
"""Called with (leaves scanned, leaves to scan) after each chunk."""


class ExportFailed(GatewayError):
    type_slug = "log-export"
    title = "access log export failed"


class PreviousCheckpointInvalid(BadRequest):
    """The previous checkpoint does not verify, is of another log, or is not a prefix (fork)."""

    type_slug = "log-export-previous-checkpoint"
    title = "previous checkpoint is not a prefix of this log"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    tree_size: int
    counts: ExportCounts
    manifest: dict[str, Any]


def export_archive(
    access_log: AccessLog,
    engine: Engine,
    out: Path,
    *,
    verifier_keys: Sequence[str],
    exported_by: str,
    now: datetime,
    filters: ExportFilters | None = None,
    previous_checkpoint: str | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the archive of the records matching `filters` to `out` (refuses to overwrite).

    `verifier_keys` are the log's keys (note format) shipped in the archive; the checkpoint
    must verify with one of them. `previous_checkpoint` is the signed note of the last
    export: it must verify, be of this log and be a prefix of it, else nothing is written.
    """
    filters = filters or ExportFilters()
    if not exported_by.strip():
        raise ExportFailed("`exported_by` must name who exports")
    if out.exists():
        raise ExportFailed(f"export file `{out}` already exists")
    keys = sorted({parse_verifier_key(k).key_hash.hex(): k.strip() for k in verifier_keys}.items())
    if not keys:
        raise ExportFailed("an export needs at least one verifier key")
    note = access_log.checkpoint()
    head = _verified(note, verifier_keys, "current checkpoint", ExportFailed)
    consistency = None
    if previous_checkpoint is not None:
        consistency = _consistency(access_log, previous_checkpoint, head, verifier_keys)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        folder = Path(tmp)
        records_path, proofs_path = folder / "records.jsonl", folder / "proofs.jsonl"
        with records_path.open("wb", buffering=1 << 20) as records, \
                proofs_path.open("w", encoding="ascii", buffering=1 << 20) as proofs:
            counts = _select(engine, head.size, filters, records, proofs, progress)
        manifest = {
            "counts": counts.counts_json(),
            "exported_at": format_time(now),
            "exported_by": exported_by,
            "filters": filters.to_json(),
            "format": FORMAT,
            "origin": head.origin,
            "previous_checkpoint": None if consistency is None else {
                "root": base64.b64encode(consistency[1].root).decode("ascii"),
                "size": consistency[1].size},
            "records": counts.records_json(),
            "tree_size": head.size,
        }
        members: list[tuple[str, bytes | Path]] = [
            ("manifest.json", canonical_json(manifest) + b"\n"),
            ("checkpoint", note.encode("utf-8")),
            *((f"keys/{h}.vkey", (k + "\n").encode("utf-8")) for h, k in keys),
        ]
        if consistency is not None:
            members.append(("consistency.json", canonical_json(consistency[0]) + b"\n"))
        members += [("records.jsonl", records_path), ("proofs.jsonl", proofs_path)]
        partial = folder / "archive.partial"
        _write_tar(partial, members, now, compress=out.name.endswith((".gz", ".tgz")))
        try:
            os.link(partial, out)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError as exc:
            raise ExportFailed(f"export file `{out}` already exists") from exc
    return ExportResult(out, head.size, counts, manifest)


def _verified(note: str, verifier_keys: Sequence[str], what: str,
              error: type[GatewayError]) -> Checkpoint:
    try:
        return parse_checkpoint(verify_note(note, list(verifier_keys)))
    except NoteError as exc:
        raise error(f"{what} does not verify: {exc.detail}") from exc


def _consistency(access_log: AccessLog, previous: str, head: Checkpoint,
                 verifier_keys: Sequence[str]) -> tuple[dict[str, Any], Checkpoint]:
    old = _verified(previous, verifier_keys, "previous checkpoint", PreviousCheckpointInvalid)
    if old.origin != head.origin:
        raise PreviousCheckpointInvalid(f"previous checkpoint is of another log `{old.origin}`")
    if old.size > head.size or access_log.root(old.size) != old.root:
        raise PreviousCheckpointInvalid(
            f"previous checkpoint of size {old.size} is not a prefix of this log: fork")
    proof = access_log.consistency_proof(old.size, head.size)
    doc = {"hashes": [base64.b64encode(h).decode("ascii") for h in proof],
           "new_size": head.size, "old_checkpoint": previous, "old_size": old.size}
    return doc, old


def _select(engine: Engine, tree_size: int, filters: ExportFilters, records: IO[bytes],
            proofs: IO[str], progress: Progress | None) -> ExportCounts:
    """Scan leaves [0, tree_size) chunk by chunk; write each selected record and its proof."""
    counts = ExportCounts()
    # json.loads minus its per-call wrappers
    scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    with engine.connect() as conn:
        prover = export_proofs.ChunkProver(conn, tree_size, export_proofs.CHUNK_BITS)
        for start in range(0, tree_size, prover.chunk):
            end = min(start + prover.chunk, tree_size)
            rows = _chunk(conn, start, end)
            loaded = False  # a chunk none of whose records is selected needs no hashing
            for index, (_, data) in enumerate(rows, start):
                record = scan(data.decode("utf-8"), 0)[0]
                if not filters.matches(record):
                    continue
                if not loaded:
                    prover.load(start, [h for h, _ in rows])
                    loaded = True
                counts.add(index, record)
                records.write(data)
                records.write(b"\n")
                proofs.write(prover.line(index))
            if progress is not None:
                progress(end, tree_size)
    return counts


def _chunk(conn: Connection, start: int, end: int) -> list[tuple[bytes, bytes]]:
    leaves = store.leaves
    rows = conn.execute(
        select(leaves.c.idx, leaves.c.leaf_hash, leaves.c.record)
        .where(leaves.c.idx >= start, leaves.c.idx < end)
        .order_by(leaves.c.idx)
    ).all()
    if len(rows) != end - start or (rows and rows[-1][0] != end - 1):
        raise LogCorrupted(f"access log leaves in [{start}, {end}) are missing")
    return [(bytes(h), bytes(r)) for _, h, r in rows]


def _write_tar(path: Path, members: list[tuple[str, bytes | Path]], now: datetime,
               *, compress: bool) -> None:
    """A deterministic tar: fixed owner, mode and time, members in the documented order."""
    mode = "w:gz" if compress else "w"
    kwargs: dict[str, Any] = {"compresslevel": GZIP_LEVEL} if compress else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **kwargs) as tar:  # type: ignore[call-overload]
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = 0o644, int(now.timestamp())
            if isinstance(content, Path):
                info.size = content.stat().st_size
                with content.open("rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
