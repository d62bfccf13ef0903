"""Export of the access log for a regulator: one archive the standalone verifier checks.

The archive's bytes are fixed by docs/EXPORT-FORMAT.md: manifest, signed checkpoint, the
log's verifier keys, an optional consistency proof from the previous export's checkpoint,
the export's own access record with its proof, the selected records exactly as hashed, one
RFC 9162 inclusion proof per record.

An export runs in three steps. (1) It fixes the tree size it covers and reads the log once,
streaming the selected records into a temporary file and buffering the leaf hashes of the
chunks that hold any, while counting and digesting the selection. (2) It appends a
`log.export` record pinning the filters, covered size, count and digest, and waits until
it is durable: no record, no archive (fail closed). (3) It takes a checkpoint that includes
that record and proves every selected record and the export record against it, from the
buffered hashes. The archive is linked into place only once it is complete.
"""

from __future__ import annotations

import base64
import io
import json
import json.scanner
import os
import tarfile
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, select

from gateway.accesslog import export_handover, export_proofs, store
from gateway.accesslog.canonical import canonical_json
from gateway.accesslog.checkpoint import Checkpoint, parse_checkpoint
from gateway.accesslog.errors import LogCorrupted, NoteError
from gateway.accesslog.export_record import SelectionDigest, export_record
from gateway.accesslog.export_select import ExportCounts, ExportFilters, format_time
from gateway.accesslog.log import AccessLog
from gateway.accesslog.merkle import HASH_SIZE
from gateway.accesslog.note import parse_verifier_key, verify_note
from gateway.errors import BadRequest, GatewayError

FORMAT = "affiliate-gateway-log-export/2"
GZIP_LEVEL = 1  # proofs repeat within a few lines: level 1 already shrinks them ~5×, fast
LOG_TIMEOUT = 60.0  # seconds to wait for the export record to be durable before giving up
# A period export starts scanning at the first record committed `SCAN_MARGIN` before the
# period: a record's `time` precedes its commit, and the margin absorbs clock steps and
# batches committed out of order. Records before that point cannot fall in the period.
SCAN_MARGIN = timedelta(hours=1)

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
    tree_size: int  # of the checkpoint the archive is proved against
    covers_tree_size: int  # the records selected from: [0, covers_tree_size)
    export_index: int  # log index of the export's own record
    counts: ExportCounts
    manifest: dict[str, Any]


@dataclass
class _Selection:
    """What the one read of the log found: counts, digest, and what the proofs need."""

    counts: ExportCounts = field(default_factory=ExportCounts)
    digest: SelectionDigest = field(default_factory=SelectionDigest)
    indices: array[int] = field(default_factory=lambda: array("q"))
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (start, buffered leaves)


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
    The export appends its own `log.export` record; if that fails, no archive is written.
    """
    filters = filters or ExportFilters()
    if not exported_by.strip():
        raise ExportFailed("`exported_by` must name who exports")
    if out.exists():
        raise ExportFailed(f"export file `{out}` already exists")
    keys = sorted({parse_verifier_key(k).key_hash.hex(): k.strip() for k in verifier_keys}.items())
    if not keys:
        raise ExportFailed("an export needs at least one verifier key")
    covers = access_log.size()  # the selection is over [0, covers), fixed before reading
    old = None
    if previous_checkpoint is not None:  # checked before anything is logged or written
        old = _previous(access_log, previous_checkpoint, covers, verifier_keys)
    chunk = 1 << export_proofs.CHUNK_BITS
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        folder = Path(tmp)
        records_path, proofs_path = folder / "records.jsonl", folder / "proofs.jsonl"
        hashes_path = folder / "leaf-hashes.bin"
        with records_path.open("wb", buffering=1 << 20) as records, \
                hashes_path.open("wb", buffering=1 << 20) as hashes:
            selection = _select(engine, covers, chunk, filters, records, hashes, progress)
        counts = selection.counts
        record = export_record(
            now=now, exported_by=exported_by, export_format=FORMAT, filters=filters,
            covers_tree_size=covers, counts=counts, digest=selection.digest.digest(),
            previous_checkpoint_size=None if old is None else old.size)
        index = _log_export(access_log, record)
        note = access_log.checkpoint()
        head = _verified(note, verifier_keys, "current checkpoint", ExportFailed)
        if head.size <= index:
            raise ExportFailed(f"checkpoint of size {head.size} does not cover the export "
                               f"record at index {index}")
        with proofs_path.open("w", encoding="ascii", buffering=1 << 20) as proofs, \
                hashes_path.open("rb", buffering=1 << 20) as hashes:
            _prove(engine, head.size, chunk, selection, hashes, proofs)
        export_proof = {"hashes": [base64.b64encode(h).decode("ascii")
                                   for h in access_log.inclusion_proof(index, head.size)],
                        "index": index}
        consistency = None
        if old is not None and previous_checkpoint is not None:
            consistency = _consistency(access_log, previous_checkpoint, old, head)
        manifest = {
            "counts": counts.counts_json(),
            "covers_tree_size": covers,
            "export_record_index": index,
            "exported_at": format_time(now),
            "exported_by": exported_by,
            "filters": filters.to_json(),
            "format": FORMAT,
            "origin": head.origin,
            "previous_checkpoint": None if old is None else {
                "root": base64.b64encode(old.root).decode("ascii"), "size": old.size},
            "records": counts.records_json(),
            "tree_size": head.size,
        }
        # key hand-overs, so a verifier trusting an older log key follows to the signer's
        handovers = export_handover.handovers(access_log, engine, head.size)
        members: list[tuple[str, bytes | Path]] = [
            ("manifest.json", canonical_json(manifest) + b"\n"),
            *([("handovers.jsonl", b"".join(canonical_json(h) + b"\n" for h in handovers))]
              if handovers else []),
            ("checkpoint", note.encode("utf-8")),
            *((f"keys/{h}.vkey", (k + "\n").encode("utf-8")) for h, k in keys),
        ]
        if consistency is not None:
            members.append(("consistency.json", canonical_json(consistency) + b"\n"))
        members += [("export-record.json", access_log.record(index) + b"\n"),
                    ("export-proof.json", canonical_json(export_proof) + b"\n"),
                    ("records.jsonl", records_path), ("proofs.jsonl", proofs_path)]
        partial = folder / "archive.partial"
        _write_tar(partial, members, now, compress=out.name.endswith((".gz", ".tgz")))
        try:
            os.link(partial, out)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError as exc:
            raise ExportFailed(f"export file `{out}` already exists") from exc
    return ExportResult(out, head.size, covers, index, counts, manifest)


def _log_export(access_log: AccessLog, record: dict[str, Any]) -> int:
    """Append the export record and wait until it is durable; any failure fails the export."""
    # INVARIANT: no archive leaves the gateway unless the log durably holds its export record
    try:
        return access_log.append(record, timeout=LOG_TIMEOUT)
    except GatewayError as exc:
        raise ExportFailed(f"the export could not be recorded in the access log: "
                           f"{exc.detail}") from exc


def _verified(note: str, verifier_keys: Sequence[str], what: str,
              error: type[GatewayError]) -> Checkpoint:
    try:
        return parse_checkpoint(verify_note(note, list(verifier_keys)))
    except NoteError as exc:
        raise error(f"{what} does not verify: {exc.detail}") from exc


def _previous(access_log: AccessLog, previous: str, size: int,
              verifier_keys: Sequence[str]) -> Checkpoint:
    """The previous checkpoint, once it verifies and is a prefix of the log of `size`."""
    old = _verified(previous, verifier_keys, "previous checkpoint", PreviousCheckpointInvalid)
    if old.origin != access_log.origin:
        raise PreviousCheckpointInvalid(f"previous checkpoint is of another log `{old.origin}`")
    if old.size > size or access_log.root(old.size) != old.root:
        raise PreviousCheckpointInvalid(
            f"previous checkpoint of size {old.size} is not a prefix of this log: fork")
    return old


def _consistency(access_log: AccessLog, previous: str, old: Checkpoint,
                 head: Checkpoint) -> dict[str, Any]:
    proof = access_log.consistency_proof(old.size, head.size)
    return {"hashes": [base64.b64encode(h).decode("ascii") for h in proof],
            "new_size": head.size, "old_checkpoint": previous, "old_size": old.size}


def _select(engine: Engine, tree_size: int, chunk: int, filters: ExportFilters,
            records: IO[bytes], hashes: IO[bytes], progress: Progress | None) -> _Selection:
    """Read leaves [0, tree_size) once: write the selected records, buffer their chunks' hashes."""
    found = _Selection()
    counts, digest, indices = found.counts, found.digest, found.indices
    # json.loads minus its per-call wrappers
    scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    with engine.connect() as conn:
        first = _scan_start(conn, filters, tree_size)
        for start in range(first - first % chunk, tree_size, chunk):  # chunk-aligned
            end = min(start + chunk, tree_size)
            rows = _chunk(conn, start, end)
            buffered = False  # a chunk none of whose records is selected needs no proof
            for index, (leaf, data) in enumerate(rows, start):
                record = scan(data.decode("utf-8"), 0)[0]
                if not filters.matches(record):
                    continue
                if not buffered:
                    hashes.write(b"".join(h for h, _ in rows))
                    found.chunks.append((start, len(rows)))
                    buffered = True
                counts.add(index, record)
                digest.add(leaf)
                indices.append(index)
                records.write(data)
                records.write(b"\n")
            if progress is not None:
                progress(end, tree_size)
    return found


def _scan_start(conn: Connection, filters: ExportFilters, tree_size: int) -> int:
    """Where the selection scan may start: 0, or near `since` for a period export."""
    if filters.since is None:
        return 0
    first = store.first_index_committed_since(conn, filters.since - SCAN_MARGIN)
    return tree_size if first is None else min(first, tree_size)


def _prove(engine: Engine, tree_size: int, chunk: int, found: _Selection, hashes: IO[bytes],
           proofs: IO[str]) -> None:
    """Write the proof line of each selected record against the tree of `tree_size`."""
    indices = found.indices
    at = 0
    with engine.connect() as conn:
        prover = export_proofs.ChunkProver(conn, tree_size, chunk.bit_length() - 1)
        for start, buffered in found.chunks:
            raw = hashes.read(buffered * HASH_SIZE)
            leaves = [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
            end = min(start + chunk, tree_size)
            if start + buffered < end:  # the last chunk grew since the selection: read the rest
                leaves += [h for h, _ in _chunk(conn, start + buffered, end, hashes_only=True)]
            prover.load(start, leaves)
            while at < len(indices) and indices[at] < start + buffered:
                proofs.write(prover.line(indices[at]))
                at += 1


def _chunk(conn: Connection, start: int, end: int, *,
           hashes_only: bool = False) -> list[tuple[bytes, bytes]]:
    leaves = store.leaves
    columns = (leaves.c.idx, leaves.c.leaf_hash) if hashes_only else \
        (leaves.c.idx, leaves.c.leaf_hash, leaves.c.record)
    rows = conn.execute(
        select(*columns).where(leaves.c.idx >= start, leaves.c.idx < end).order_by(leaves.c.idx)
    ).all()
    if len(rows) != end - start or (rows and rows[-1][0] != end - 1):
        raise LogCorrupted(f"access log leaves in [{start}, {end}) are missing")
    if hashes_only:
        return [(bytes(row[1]), b"") for row in rows]
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
