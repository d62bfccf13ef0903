"""Following a log-signing key hand-over: from a key the regulator trusts to its successor.

`gateway keys rotate-log-key` logs a `key.rotation` record naming the old and the new
verifier key, then signs the checkpoint covering it with both keys. One line of the archive's
`handovers.jsonl` (docs/EXPORT-FORMAT.md) carries that checkpoint, the record exactly as
hashed with its RFC 9162 §2.1.3 inclusion proof, and an RFC 9162 §2.1.4 consistency proof
to the export's checkpoint. The new key is trusted only when all of this holds:

- the old key is trusted and its signature over the hand-over checkpoint verifies;
- the rotation record is in the tree that signature covers, so the old key vouches for the
  new key's name and public key — a co-signature alone would not: anyone can append a
  signature line to a note, and a signature covers the text, not the other signatures;
- the new key co-signed the same checkpoint, and both keys are named after the origin
  (c2sp.org/tlog-checkpoint);
- the export's checkpoint extends the hand-over's tree (checked by the caller).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from gateway_verify.errors import MalformedKey, MalformedNote
from gateway_verify.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from gateway_verify.note import Checkpoint, VerifierKey, check_note, parse_checkpoint, parse_key

KIND = "key.rotation"


def label(key: VerifierKey) -> str:
    """A key as people compare it: name and key hash."""
    return f"{key.name}+{key.key_hash.hex()}"


@dataclass(frozen=True)
class Handover:
    old: VerifierKey
    new: VerifierKey
    checkpoint: Checkpoint
    consistency: list[bytes]  # from the hand-over's tree to the export's checkpoint


def _hashes(value: Any) -> list[bytes] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    try:
        out = [base64.b64decode(v, validate=True) for v in value]
    except (ValueError, binascii.Error):
        return None
    return out if all(len(h) == HASH_SIZE for h in out) else None


def _key(record: dict[str, Any], name: str) -> VerifierKey | None:
    value = record.get(name)
    text = value.get("verifier_key") if isinstance(value, dict) else None
    try:
        return parse_key(text) if isinstance(text, str) else None
    except MalformedKey:
        return None


def follow(doc: Any, trusted: list[VerifierKey], line_no: int) -> Handover | str | None:
    """The hand-over `doc` proves, one line saying why it fails, or None if it is not ours
    to judge (its old key is not trusted) or not needed (its new key is trusted already)."""
    where = f"hand-over on line {line_no} of `handovers.jsonl`"
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), t) for k, t in (
            ("checkpoint", str), ("record", str), ("index", int))):
        return f"{where} is malformed: it needs `checkpoint`, `record`, `index`"
    proof, consistency = _hashes(doc.get("proof")), _hashes(doc.get("consistency"))
    if proof is None or consistency is None:
        return f"{where} is malformed: its proofs are not lists of base64 hashes"
    try:
        record = json.loads(doc["record"])
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        record = None
    old, new = (_key(record, "old_key"), _key(record, "new_key")) \
        if isinstance(record, dict) and record.get("kind") == KIND else (None, None)
    if old is None or new is None:
        return f"{where} is malformed: its record is not a log key `{KIND}` record"
    ids = {(k.name, k.key_hash) for k in trusted}
    if (new.name, new.key_hash) in ids or (old.name, old.key_hash) not in ids:
        return None
    try:
        signed_old = check_note(doc["checkpoint"], [old])
        cp = parse_checkpoint(signed_old.text)
    except MalformedNote as exc:
        return f"{where} is malformed: {exc}"
    where = f"hand-over at tree size {cp.size:,}"
    if not signed_old.ok:
        return f"{where} is not signed by the old key `{label(old)}` it names"
    if not (old.name == new.name == cp.origin):
        return (f"{where} names keys `{old.name}` and `{new.name}` for the log `{cp.origin}`: "
                "a log's keys are named after its origin")
    data = doc["record"].encode("utf-8")
    if record.get("index") != doc["index"] or not verify_inclusion(
            leaf_hash(data), doc["index"], cp.size, proof, cp.root):
        return (f"{where} is forged: its `{KIND}` record is not in the tree the old key "
                "signed")
    if not check_note(doc["checkpoint"], [new]).ok:
        return f"{where} is not co-signed by the new key `{label(new)}`"
    return Handover(old, new, cp, consistency)
