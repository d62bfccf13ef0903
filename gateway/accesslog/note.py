"""C2SP signed notes with Ed25519 keys: signing, verifier keys and verification.

Format per https://c2sp.org/signed-note (as implemented by golang.org/x/mod/sumdb/note):
the text (UTF-8, no control characters but newline, ending in a newline), a blank line,
then one line per signature: `— <key name> <base64(key hash ‖ signature)>`. The key hash
is the first 4 bytes of SHA-256(key name ‖ "\\n" ‖ 0x01 ‖ public key), 0x01 naming Ed25519.
A verifier key is published as `<name>+<key hash, 8 hex digits>+<base64(0x01 ‖ public key)>`.

A note may carry several signatures (`sign_note_with`): a log's old and new key during a key
rotation, or witnesses. Keys are told apart by name *and* key hash, so a new key may keep
the old name — tlog-checkpoint says the log's key name SHOULD match the origin line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.accesslog.errors import (
    InvalidNoteSignature,
    MalformedNote,
    MalformedVerifierKey,
    UnverifiedNote,
)
from gateway.errors import KeyLoadError

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash and a space
MAX_SIGNATURES = 100  # the reference implementation refuses more


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no `+` (signed-note, "Signatures")."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, public_key: bytes) -> bytes:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)
    return digest.digest()[:4]


def _check_text(text: str, what: str, error: type[Exception]) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise error(f"{what} holds a control character")


class NoteSigner(Protocol):
    """What the access log needs to sign checkpoints: one key, or a keyring that rotates."""

    @property
    def name(self) -> str: ...

    def sign_note(self, body: str) -> str: ...

    def verifier_key(self) -> str: ...


class LogSigner:
    """Signs checkpoint bodies as the log's key `name` (C2SP signed-note, Ed25519)."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        if not valid_key_name(name):
            raise KeyLoadError(f"key name `{name}` must be non-empty, without spaces or `+`")
        self._key = private_key
        self.name = name
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_hash = key_hash(name, self.public_key)

    def __repr__(self) -> str:  # never show key material
        return f"LogSigner(name={self.name!r}, key_hash={self.key_hash.hex()})"

    def verifier_key(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    def sign_note(self, body: str) -> str:
        """Return `body` signed: body, blank line, one signature line."""
        return sign_note_with(body, [self])

    def signature_line(self, body: str) -> str:
        """One `— <name> <base64(key hash ‖ signature)>` line (with its newline) over `body`."""
        _check_body(body)
        signature = self._key.sign(body.encode("utf-8"))
        encoded = base64.b64encode(self.key_hash + signature).decode("ascii")
        return f"{SIG_PREFIX}{self.name} {encoded}\n"

    # --- key files: PEM PKCS#8, owner-only --------------------------------------------------
    @classmethod
    def generate(cls, path: Path, name: str) -> LogSigner:
        """Create a new key at `path` (refuses to overwrite) readable by the owner only."""
        key = Ed25519PrivateKey.generate()
        signer = cls(key, name)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise KeyLoadError(f"log key file `{path}` already exists") from exc
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return signer

    @classmethod
    def load(cls, path: Path, name: str) -> LogSigner:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read log key file `{path}`: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyLoadError(f"log key file `{path}` is not an unencrypted pem key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyLoadError(f"log key file `{path}` does not hold an ed25519 key")
        return cls(key, name)

    @classmethod
    def load_or_generate(cls, path: Path, name: str) -> LogSigner:
        return cls.load(path, name) if path.exists() else cls.generate(path, name)


def sign_note_with(body: str, signers: Sequence[LogSigner]) -> str:
    """Return `body` signed by every signer in turn: body, blank line, one line per signer.

    Like the reference implementation's `note.Sign`, refuses two signers with the same name
    and key hash: a verifier could not tell their signatures apart.
    """
    _check_body(body)
    if not signers or len(signers) > MAX_SIGNATURES:
        raise MalformedNote(f"a note needs 1 to {MAX_SIGNATURES} signers")
    ids = {(s.name, s.key_hash) for s in signers}
    if len(ids) != len(signers):
        raise MalformedNote("note signers must differ in name or key hash")
    return body + "\n" + "".join(s.signature_line(body) for s in signers)


def _check_body(body: str) -> None:
    if not body.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    _check_text(body, "note text", MalformedNote)


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse `<name>+<hash hex>+<base64(0x01 ‖ key)>` and check the hash matches the key."""
    parts = text.strip().split("+", 2)  # base64 may itself contain `+`
    if len(parts) != 3:
        raise MalformedVerifierKey("verifier key must be `name+hash+key`")
    name, hash_hex, key_b64 = parts
    if not valid_key_name(name) or len(hash_hex) != 8:
        raise MalformedVerifierKey(f"verifier key `{name}` has a bad name or key hash")
    try:
        want_hash = bytes.fromhex(hash_hex)
        raw = base64.b64decode(key_b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise MalformedVerifierKey(f"verifier key `{name}` is not valid hex/base64") from exc
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise MalformedVerifierKey(f"verifier key `{name}` is not an ed25519 key")
    if key_hash(name, raw[1:]) != want_hash:
        raise MalformedVerifierKey(f"verifier key `{name}` hash does not match its key")
    return NoteVerifier(name, want_hash, Ed25519PublicKey.from_public_bytes(raw[1:]))


def verify_note(note_text: str, verifier_keys: list[str]) -> str:
    """Return the note's text if a signature by one of `verifier_keys` verifies.

    Like the reference implementation: signatures by unknown keys are ignored, any
    signature claiming a known key must verify, and at least one known key must have signed.
    """
    verifiers = {(v.name, v.key_hash): v for v in map(parse_verifier_key, verifier_keys)}
    _check_text(note_text, "note", MalformedNote)
    split = note_text.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, sig_block = note_text[: split + 1], note_text[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        raise MalformedNote("note signature block is empty or lacks its final newline")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"note has more than {MAX_SIGNATURES} signatures")
    verified = 0
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote("note signature line does not start with an em dash")
        name, _, encoded = line[len(SIG_PREFIX) :].rpartition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise MalformedNote(f"signature by `{name}` is not valid base64") from exc
        if not valid_key_name(name) or len(blob) < 5:
            raise MalformedNote("note signature line has a bad key name or is too short")
        verifier = verifiers.get((name, blob[:4]))
        if verifier is None:
            continue  # a cosigner or an old key we were not asked to trust
        try:
            verifier.public_key.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature as exc:
            raise InvalidNoteSignature(f"signature by `{name}` does not verify") from exc
        verified += 1
    if not verified:
        raise UnverifiedNote("note has no signature by a known key")
    return text
