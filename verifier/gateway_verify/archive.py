"""Reading an export archive as a stream: members in the order docs/EXPORT-FORMAT.md fixes.

The archive is a POSIX tar, optionally gzip-compressed; it is read once, front to back, so a
million records never sit in memory and a compressed archive is never decompressed twice.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gateway_verify.errors import MalformedArchive

MAX_SMALL_MEMBER = 16 * 1024 * 1024  # manifest, checkpoint, keys, consistency: never larger
KEY_MEMBER = re.compile(r"keys/[0-9a-f]{8}\.vkey")
# member name → its position in the order; keys share one position and may repeat
ORDER = {"manifest.json": 0, "handovers.jsonl": 1, "checkpoint": 2, "keys": 3,
         "consistency.json": 4, "export-record.json": 5, "export-proof.json": 6,
         "records.jsonl": 7, "proofs.jsonl": 8}
REQUIRED = ("manifest.json", "checkpoint", "keys", "export-record.json", "export-proof.json",
            "records.jsonl", "proofs.jsonl")


@dataclass
class Member:
    name: str
    kind: str  # a key of ORDER
    stream: IO[bytes]

    # A member is read while the archive is streamed: a truncated or corrupt archive fails here,
    # in the reader's hands, not while `read_members` looks for the next header.
    def read_small(self) -> bytes:
        try:
            data = self.stream.read(MAX_SMALL_MEMBER + 1)
        except READ_ERRORS as exc:
            raise corrupt(exc) from exc
        if len(data) > MAX_SMALL_MEMBER:
            raise MalformedArchive(f"archive member `{self.name}` is too large")
        return data

    def lines(self) -> Iterator[bytes]:
        """Lines without their final `\\n`; a last line lacking it is refused."""
        lines = iter(self.stream)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except READ_ERRORS as exc:
                raise corrupt(exc) from exc
            if not line.endswith(b"\n"):
                raise MalformedArchive(f"`{self.name}` does not end with a newline")
            yield line[:-1]


# What `tarfile` raises on a damaged archive: its own errors and the decompressors' (wrapped
# as `ReadError`), and on corrupted headers plain ValueError (UnicodeDecodeError, a bad
# number), TypeError (an empty pax field) or IndexError, which it does not wrap.
READ_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError, TypeError, IndexError,
               OverflowError)


def corrupt(exc: BaseException) -> MalformedArchive:
    return MalformedArchive(f"archive is truncated or corrupt: {exc}")


def kind_of(name: str) -> str:
    if name in ORDER:
        return name
    if KEY_MEMBER.fullmatch(name):
        return "keys"
    raise MalformedArchive(f"archive holds an unknown member `{name}`")


def read_members(path: Path) -> Iterator[Member]:
    """Yield the members in order; refuse links, directories, unknown names, wrong order."""
    try:
        tar = tarfile.open(path, mode="r|*")  # noqa: SIM115 - closed by `with tar` below
    except READ_ERRORS as exc:  # TypeError: a gzip header cut short (`ord()` of nothing)
        raise MalformedArchive(f"`{path}` is not a readable tar archive: {exc}") from exc
    seen: set[str] = set()
    kinds: set[str] = set()
    last = -1
    with tar:
        try:
            for info in tar:
                if not info.isfile():
                    raise MalformedArchive(f"archive member `{info.name}` is not a regular file")
                kind = kind_of(info.name)
                if info.name in seen:
                    raise MalformedArchive(f"archive holds `{info.name}` twice")
                position = ORDER[kind]
                if position < last or (position == last and kind != "keys"):
                    raise MalformedArchive(f"archive member `{info.name}` is out of order")
                seen.add(info.name)
                kinds.add(kind)
                last = position
                stream = tar.extractfile(info)
                assert stream is not None  # a regular file always has one
                yield Member(info.name, kind, stream)
        except READ_ERRORS as exc:
            raise corrupt(exc) from exc
    missing = [k for k in REQUIRED if k not in kinds]
    if missing:
        raise MalformedArchive(f"archive lacks `{missing[0]}`")
