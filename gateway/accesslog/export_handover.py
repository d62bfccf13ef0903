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

from sqlalchemy import Engine, select

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


def handovers(access_log: AccessLog, engine: Engine, tree_size: int) -> list[dict[str, Any]]:
    """One `handovers.jsonl` document per co-signed hand-over checkpoint of size ≤ `tree_size`."""
    cosigned = f"%\n{SIG_PREFIX}%\n{SIG_PREFIX}%"  # two or more signature lines
    with engine.connect() as conn:
        rows = conn.execute(
            select(store.checkpoints.c.size, store.checkpoints.c.note)
            .where(store.checkpoints.c.note.like(cosigned),
                   store.checkpoints.c.size <= tree_size)
            .order_by(store.checkpoints.c.size)).all()
    out = []
    for size, note in rows:
        note = str(note)
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
            "consistency": _b64(access_log.consistency_proof(int(size), tree_size)),
            "index": index,
            "proof": _b64(access_log.inclusion_proof(index, int(size))),
            "record": data.decode("utf-8"),
        })
    return out
