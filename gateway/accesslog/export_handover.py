"""Hand-over evidence for an export: how a verifier trusting an old log key reaches the new one.

`gateway keys rotate-log-key` appends a `key.rotation` record naming the old and the new
verifier key, then signs the checkpoint covering it with both keys (gateway/keyrotation.py).
For each such co-signed checkpoint at or below the export's tree size, the archive carries
one line of `handovers.jsonl` (docs/EXPORT-FORMAT.md): the checkpoint, the rotation record
exactly as hashed with its inclusion proof in that checkpoint, and the consistency proof from
it to the export's checkpoint. A verifier that trusts the old key checks the old key's
signature, reads the new key from the record the old key signed over, checks the new key's
co-signature, and then accepts checkpoints of the same log, signed by the new key, that
extend the hand-over.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Connection, Engine, select

from gateway.accesslog import store
from gateway.accesslog.checkpoint import parse_checkpoint
from gateway.accesslog.log import AccessLog
from gateway.accesslog.note import SIG_PREFIX

SEARCH_BACK = 1024  # the rotation record precedes its hand-over checkpoint by a few appends


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


def _is_log_key_rotation(record: Any) -> bool:
    new = record.get("new_key") if isinstance(record, dict) else None
    return (record.get("kind") == "key.rotation" and isinstance(new, dict)
            and isinstance(new.get("verifier_key"), str))


def _signers(note: str) -> frozenset[bytes]:
    """Key hashes of a note's signature lines (4 bytes each; the note was stored verified)."""
    block = note[note.rindex("\n\n") + 2 :]
    return frozenset(base64.b64decode(line.rpartition(" ")[2])[:4]
                     for line in block.splitlines() if line.startswith(SIG_PREFIX))


def _cosigned(conn: Connection, tree_size: int) -> list[tuple[int, str]]:
    """The stored checkpoints of size ≤ `tree_size` signed by two keys or more, by size.

    Not a scan of every checkpoint (one a second while records arrive): a retired key never
    signs again, so between two checkpoints signed by the same single key there is no
    hand-over. Bisecting where the signers change costs O(rotations × log n) look-ups.
    """
    cps = store.checkpoints

    def first(where: Any) -> tuple[int, str] | None:
        row = conn.execute(select(cps.c.size, cps.c.note).where(where)
                           .order_by(cps.c.size).limit(1)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def last(where: Any) -> tuple[int, str] | None:
        row = conn.execute(select(cps.c.size, cps.c.note).where(where)
                           .order_by(cps.c.size.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    lo, hi = first(cps.c.size <= tree_size), last(cps.c.size <= tree_size)
    if lo is None or hi is None:
        return []
    found = {cp[0]: cp[1] for cp in (lo, hi) if len(_signers(cp[1])) > 1}
    todo = [(lo, hi)]
    while todo:
        a, b = todo.pop()
        sa, sb = _signers(a[1]), _signers(b[1])
        if b[0] <= a[0] or (sa == sb and len(sa) == 1):
            continue
        mid = (a[0] + b[0]) // 2
        m = first((cps.c.size > a[0]) & (cps.c.size >= mid) & (cps.c.size < b[0])) or \
            last((cps.c.size > a[0]) & (cps.c.size < b[0]))
        if m is None:
            continue  # a and b are neighbours: both already looked at
        if len(_signers(m[1])) > 1:
            found[m[0]] = m[1]
        todo += [(a, m), (m, b)]
    return sorted(found.items())


def handovers(access_log: AccessLog, engine: Engine, tree_size: int) -> list[dict[str, Any]]:
    """One `handovers.jsonl` document per co-signed hand-over checkpoint of size ≤ `tree_size`."""
    with engine.connect() as conn:
        rows = _cosigned(conn, tree_size)
    out = []
    for size, note in rows:
        checkpoint = parse_checkpoint(note[: note.rindex("\n\n") + 1])
        found = None
        start = max(0, checkpoint.size - SEARCH_BACK)
        for index, data in enumerate(access_log.iter_records(start, checkpoint.size), start):
            if _is_log_key_rotation(json.loads(data)):
                found = index, data
        if found is None:
            continue  # co-signed, but not by a log-key rotation (e.g. a witness)
        index, data = found
        out.append({
            "checkpoint": note,
            "consistency": _b64(access_log.consistency_proof(size, tree_size)),
            "index": index,
            "proof": _b64(access_log.inclusion_proof(index, size)),
            "record": data.decode("utf-8"),
        })
    return out
