"""C2SP tlog-checkpoint bodies: origin, tree size and root hash, one per line.

Format per https://c2sp.org/tlog-checkpoint: `<origin>\\n<size in decimal>\\n<base64 root>\\n`
followed by optional extension lines (we write none; a parser must accept them). The time
of a checkpoint is kept in the database, not in the body, so standard tools read it as is.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple

from gateway.accesslog.errors import MalformedCheckpoint
from gateway.accesslog.merkle import HASH_SIZE

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")  # decimal, no sign, no leading zeros


class Checkpoint(NamedTuple):
    origin: str
    size: int
    root: bytes


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    if not origin or "\n" in origin:
        raise MalformedCheckpoint("checkpoint origin must be one non-empty line")
    if size < 0 or len(root) != HASH_SIZE:
        raise MalformedCheckpoint("checkpoint needs a size ≥ 0 and a 32-byte root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a verified note's text into (origin, size, root); extension lines are ignored."""
    if not body.endswith("\n"):
        raise MalformedCheckpoint("checkpoint must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpoint("checkpoint needs origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise MalformedCheckpoint("checkpoint origin is empty")
    if not _SIZE.fullmatch(size_text) or int(size_text) >= 2**63:
        raise MalformedCheckpoint("checkpoint size is not a decimal 64-bit count")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedCheckpoint("checkpoint root is not valid base64") from exc
    if len(root) != HASH_SIZE:
        raise MalformedCheckpoint("checkpoint root is not a 32-byte hash")
    if any(not line for line in lines[3:]):
        raise MalformedCheckpoint("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size_text), root)
