"""C2SP signed notes and tlog checkpoints: verifier keys, signature checks, checkpoint bodies.

An independent implementation of https://c2sp.org/signed-note (Ed25519 only) and
https://c2sp.org/tlog-checkpoint, as `golang.org/x/mod/sumdb/note` reads them. A verifier
key is `<name>+<key hash, 8 hex>+<base64(0x01 ‖ public key)>`; the key hash is the first 4
bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key). A signature line is
`— <name> <base64(key hash ‖ signature)>`.

The outcome of checking a note is a value (`NoteCheck`), not an exception, so the verifier
can say exactly why a checkpoint is refused: signed only by untrusted keys, signed by a
different key under a trusted key's name, or a trusted key's signature that does not verify
(the text or the signature was altered).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway_verify.errors import MalformedKey, MalformedNote
from gateway_verify.merkle import HASH_SIZE

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_hash: bytes
    public_key: bytes
    text: str

    def __str__(self) -> str:
        return self.text


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def parse_key(text: str) -> VerifierKey:
    text = text.strip()
    parts = text.split("+", 2)
    if len(parts) != 3 or not _valid_name(parts[0]) or len(parts[1]) != 8:
        raise MalformedKey("verifier key must be `name+hash+key`")
    name, hash_hex, encoded = parts
    try:
        want = bytes.fromhex(hash_hex)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedKey(f"verifier key `{name}` is not valid hex and base64") from exc
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise MalformedKey(f"verifier key `{name}` is not an ed25519 key")
    if key_hash(name, raw[1:]) != want:
        raise MalformedKey(f"verifier key `{name}` has a key hash that does not match its key")
    return VerifierKey(name, want, raw[1:], text)


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass
class NoteCheck:
    """What checking a note against the trusted keys found."""

    text: str
    signatures: list[Signature]
    verified_by: list[str] = field(default_factory=list)  # trusted key names that verified
    failed: list[str] = field(default_factory=list)  # trusted (name, hash) whose sig failed
    impostors: list[str] = field(default_factory=list)  # trusted name, other key hash
    untrusted: list[str] = field(default_factory=list)  # names of keys we do not trust

    @property
    def ok(self) -> bool:
        return bool(self.verified_by) and not self.failed

    def problem(self, what: str) -> str | None:
        """One line saying why `what` (e.g. "checkpoint") is refused, or None if it is good."""
        if self.failed:
            return (f"{what} altered: signature by trusted key `{self.failed[0]}` does not "
                    "verify over its text")
        if self.verified_by:
            return None
        if self.impostors:
            return (f"{what} signed by the wrong key: `{self.impostors[0]}` is not the "
                    "trusted key of that name")
        names = ", ".join(f"`{n}`" for n in self.untrusted) or "nobody"
        return f"{what} signed by an untrusted key: signed by {names}, none of them trusted"

    def origin_problem(self, origin: str, what: str) -> str | None:
        """One line if no trusted key that verified is named `origin`, else None.

        c2sp.org/tlog-checkpoint: the log's key name is its origin. A trusted key signing a
        body with another origin line is vouching for some other log (or a body re-signed
        under another origin), so its signature does not make this a checkpoint of the log.
        """
        if not self.verified_by or origin in self.verified_by:
            return None
        names = ", ".join(f"`{n}`" for n in dict.fromkeys(self.verified_by))
        return (f"{what} origin `{origin}` is not the name of the trusted key that signed it: "
                f"signed as {names}")


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text (ending in a newline) and its signature lines."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise MalformedNote("note holds a control character")
    at = note.rfind("\n\n")
    if at < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, block = note[: at + 1], note[at + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("note signature block is empty or lacks its final newline")
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote("note signature line does not start with an em dash")
        name, _, encoded = line[len(SIG_PREFIX):].rpartition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise MalformedNote("note signature is not valid base64") from exc
        if not _valid_name(name) or len(blob) < 5:
            raise MalformedNote("note signature line has a bad key name or is too short")
        signatures.append(Signature(name, blob[:4], blob[4:]))
    return text, signatures


def check_note(note: str, trusted: list[VerifierKey]) -> NoteCheck:
    text, signatures = split_note(note)
    result = NoteCheck(text, signatures)
    by_id = {(k.name, k.key_hash): k for k in trusted}
    names = {k.name for k in trusted}
    for sig in signatures:
        key = by_id.get((sig.name, sig.key_hash))
        if key is None:
            label = f"{sig.name}+{sig.key_hash.hex()}"
            (result.impostors if sig.name in names else result.untrusted).append(label)
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                sig.signature, text.encode("utf-8"))
        except InvalidSignature:
            result.failed.append(f"{key.name}+{key.key_hash.hex()}")
        else:
            result.verified_by.append(key.name)
    return result


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def parse_checkpoint(text: str) -> Checkpoint:
    """C2SP tlog-checkpoint: origin, decimal size, base64 root; extension lines ignored."""
    if not text.endswith("\n"):
        raise MalformedNote("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0]:
        raise MalformedNote("checkpoint needs origin, size and root lines")
    if not _SIZE.fullmatch(lines[1]):
        raise MalformedNote("checkpoint size is not a decimal count")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedNote("checkpoint root is not valid base64") from exc
    if len(root) != HASH_SIZE or any(not line for line in lines[3:]):
        raise MalformedNote("checkpoint root is not a 32-byte hash or has an empty line")
    return Checkpoint(lines[0], int(lines[1]), root)
